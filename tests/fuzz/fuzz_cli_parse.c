/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz_cli_parse.c — libFuzzer harness: option values of the sluice CLI.
 *
 * The input (up to its first NUL) is one option value, given to sl_parse_size and to
 * each helper of tools/sluice/cli.c: cli_size, cli_int (two ranges), cli_u64 and
 * cli_float.  Checked for every input:
 *   - cli_size accepts exactly what sl_parse_size accepts, with the same value;
 *   - a size of plain decimal digits (up to 15: exact in a double) is that number, and
 *     a K/M/G/T suffix multiplies a whole number by the power of 1024 it names;
 *   - cli_int's and cli_float's results lie in the range asked for (cli_float's finite);
 *   - cli_u64 accepts no value whose number is negative (no wrap-around to 2^64 - n).
 *     Found here and fixed: cli_u64 looked for '-' only in the first byte while strtoull
 *     skips leading white space, so " -1" was accepted as 2^64 - 1.
 * The helpers print their complaints to stderr, which goes to /dev/null here.
 */
#include "internal.h"
#include "tools/sluice/cli.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* Only stdio's stderr: libFuzzer and the sanitizers keep writing to fd 2. */
	stderr = fopen("/dev/null", "w");
	return stderr ? 0 : -1;
}

/* Whole decimal number of at most 15 digits followed by an optional K/M/G/T: its value. */
static bool plain_size(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;
	while (isdigit((unsigned char)s[i]) && i < 16)
		v = v * 10 + (uint64_t)(s[i++] - '0');
	if (i == 0 || i > 15)
		return false;
	static const char units[] = "KMGT";
	const char *u = s[i] ? strchr(units, toupper((unsigned char)s[i])) : NULL;
	if (s[i] && (!u || s[i + 1]))
		return false;
	for (int k = u ? (int)(u - units) + 1 : 0; k > 0; k--) {
		if (v > (UINT64_MAX >> 10))
			return false;
		v <<= 10;
	}
	*out = v;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	uint64_t a = 0, b = 0, want, u;
	long l;
	double d;

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = 0;

	int ra = sl_parse_size(s, &a);
	bool rb = cli_size("fuzz", "--size", s, &b);
	if ((ra == 0) != rb || (rb && a != b))
		abort();
	if (plain_size(s, &want) && want < (1ull << 53) && (ra || a != want)) {
		fprintf(stdout, "size '%s': %d %llu, want %llu\n", s, ra, (unsigned long long)a,
			(unsigned long long)want);
		abort();
	}
	if (cli_int("fuzz", "--n", s, -1000, 1000, &l) && (l < -1000 || l > 1000))
		abort();
	if (cli_int("fuzz", "--n", s, LONG_MIN, LONG_MAX, &l)) {
		/* strtol's own reading: the same number */
		if (strtol(s, NULL, 10) != l)
			abort();
	}
	if (cli_float("fuzz", "--t", s, 0.0, 2.0, &d) && !(isfinite(d) && d >= 0.0 && d <= 2.0))
		abort();
	if (cli_u64("fuzz", "--seed", s, &u)) {
		const char *p = s;
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '-' && u != 0) {
			fprintf(stdout, "cli_u64 accepted the negative '%s' as %llu\n", s, (unsigned long long)u);
			abort();
		}
	}
	free(s);
	return 0;
}
