/* SPDX-License-Identifier: MIT */
/* tools/sluice/cli.c — option parsing and messages shared by the subcommands. */
#include "cli.h"
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int cli_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "sluice %s: ", cmd);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return 1;
}

bool cli_int(const char *cmd, const char *opt, const char *val, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(val, &end, 10);
	if (errno || end == val || *end || v < min || v > max) {
		cli_error(cmd, "%s: '%s' is not a whole number from %ld to %ld", opt, val, min, max);
		return false;
	}
	*out = v;
	return true;
}

bool cli_u64(const char *cmd, const char *opt, const char *val, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(val, &end, 10);
	if (errno || end == val || *end || val[0] == '-') {
		cli_error(cmd, "%s: '%s' is not a non-negative whole number", opt, val);
		return false;
	}
	*out = v;
	return true;
}

bool cli_float(const char *cmd, const char *opt, const char *val, double min, double max, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(val, &end);
	if (errno || end == val || *end || !isfinite(v) || v < min || v > max) {
		cli_error(cmd, "%s: '%s' is not a number from %g to %g", opt, val, min, max);
		return false;
	}
	*out = v;
	return true;
}

bool cli_size(const char *cmd, const char *opt, const char *val, uint64_t *out)
{
	if (sl_parse_size(val, out)) {
		cli_error(cmd, "%s: '%s' is not a size (examples: 512M, 8G, 1.5G, 4096)", opt, val);
		return false;
	}
	return true;
}

void cli_progress(const char *label, uint64_t done, uint64_t total)
{
	static int last = -1;
	if (!isatty(2) || !total)
		return;
	int pct = (int)(done * 100 / total);
	if (pct == last && done != total)
		return;
	last = pct;
	int bars = pct / 4;
	fprintf(stderr, "\r%-12s [%.*s%*s] %3d%%", label, bars, "#########################", 25 - bars, "", pct);
	if (done >= total) {
		fputc('\n', stderr);
		last = -1;
	}
	fflush(stderr);
}
