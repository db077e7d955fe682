/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_tokenizer_ref.c — runtime/token/spm.c against an independent
 * encoder, tests/ref/spm_ref.py (a naive rescan-per-merge SPM in Python that
 * reads the vocabulary with the PyPI `gguf` package), on a few hundred inputs:
 * fixed phrases plus pseudo-random mixes of words, spaces, newlines, CJK,
 * emoji, control bytes, U+2581 and invalid UTF-8.  Run from the repository
 * root (tests/run.sh does).  Skips when the models folder, python3 or its
 * `gguf` package is absent.
 */
#include "gguf.h"
#include "token/vocab.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SCRIPT "tests/ref/spm_ref.py"
#define N_RANDOM 300

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t n)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (uint32_t)((rng * 0x2545f4914f6cdd1dull) >> 33) % n;
}

/* One random input of up to ~160 bytes. */
static size_t random_text(char *buf)
{
	static const char *const parts[] = {
		"the", "The", " quick", "brown", "fox", "jumps", "over", "lazy", "dog", "Hello", "world", "ing", "tion",
		"Once", "upon", "a", "time", "Lily", "1234", "3.14", "'s", "n't", ",", ".", "!", "?", "(", ")", "\"",
		" ", "  ", "   ", "\n", "\n\n", "\t", "\r\n",
		"\xe4\xbd\xa0\xe5\xa5\xbd", "\xe4\xb8\x96\xe7\x95\x8c", "\xe6\x97\xa5\xe6\x9c\xac",  /* CJK */
		"\xf0\x9f\x98\x80", "\xf0\x9f\xa6\x80", "\xe2\x9c\x93", "caf\xc3\xa9", "\xc3\xbc", /* emoji, accents */
		"\x01", "\x1b[0m", "\x7f", "\xe2\x96\x81", "\xe2\x96\x81\xe2\x96\x81",            /* control, U+2581 */
		"\xff", "\xc3", "\xe2\x82", "\x80\x80", "\xf0\x9f",                                /* invalid UTF-8 */
		"<s>", "</s>", "<0x0A>",
	};
	size_t len = 0, k = 1 + rnd(24);
	for (size_t i = 0; i < k; i++) {
		const char *p = parts[rnd(SL_ARRAY_SIZE(parts))];
		size_t n = strlen(p);
		memcpy(buf + len, p, n);
		len += n;
		if (rnd(3) == 0)
			buf[len++] = ' ';
	}
	return len;
}

static int run_model(const char *models, const char *name)
{
	char path[4096], cmd[8400], inpath[4096];
	snprintf(path, sizeof(path), "%s/%s", models, name);
	struct sl_err err = { { 0 } };
	struct gguf_file *f;
	struct sl_vocab *v;
	if (sl_gguf_open(path, &f, &err) || sl_vocab_load(f, &v, &err)) {
		fprintf(stderr, "FAIL: %s: %s\n", path, err.msg);
		return 1;
	}
	sl_gguf_close(f);

	static const char *const fixed[] = {
		"", "Hello world", "Once upon a time", " ", "  ", "\n", "a", "  hi  there ", "\xe2\x96\x81",
		"The quick brown fox jumps over the lazy dog.", "I'm fine, thanks!",
		"Lily and Ben went to the park. They saw a big dog.",
	};
	const char *tmp = getenv("SLUICE_TMP");
	snprintf(inpath, sizeof(inpath), "%s/spm-ref-%d.txt", tmp && *tmp ? tmp : "/tmp", (int)getpid());
	FILE *in = fopen(inpath, "w");
	size_t n_in = SL_ARRAY_SIZE(fixed) + N_RANDOM;
	char (*texts)[512] = calloc(n_in, sizeof(*texts));
	size_t *lens = calloc(n_in, sizeof(*lens));
	for (size_t i = 0; i < n_in; i++) {
		if (i < SL_ARRAY_SIZE(fixed)) {
			lens[i] = strlen(fixed[i]);
			memcpy(texts[i], fixed[i], lens[i]);
		} else {
			lens[i] = random_text(texts[i]);
		}
		for (size_t j = 0; j < lens[i]; j++)
			fprintf(in, "%02x", (uint8_t)texts[i][j]);
		fputc('\n', in);
	}
	fclose(in);

	snprintf(cmd, sizeof(cmd), "python3 %s '%s' < '%s'", SCRIPT, path, inpath);
	FILE *p = popen(cmd, "r");
	int bad = 0;
	size_t done = 0;
	char *line = NULL;
	size_t cap = 0;
	for (; done < n_in && getline(&line, &cap, p) > 0; done++) {
		int32_t want[1024], got[1024];
		size_t nw = 0, ng;
		for (char *s = line, *e; nw < 1024; s = e) {
			long t = strtol(s, &e, 10);
			if (e == s)
				break;
			want[nw++] = (int32_t)t;
		}
		int rc = sl_tokenize(v, texts[done], lens[done], false, got, 1024, &ng);
		if (rc || ng != nw || memcmp(got, want, nw * sizeof(*got))) {
			if (bad++ < 5) {
				fprintf(stderr, "FAIL: %s: input %zu (%zu bytes) \"%.*s\": rc %d\n  ours:", name, done,
					lens[done], (int)lens[done], texts[done], rc);
				for (size_t j = 0; j < SL_MIN(ng, (size_t)1024); j++)
					fprintf(stderr, " %d", got[j]);
				fprintf(stderr, "\n  ref: %s", line);
			}
		}
	}
	free(line);
	int st = pclose(p);
	unlink(inpath);
	free(texts);
	free(lens);
	sl_vocab_free(v);
	if (done != n_in) {
		fprintf(stderr, "FAIL: %s: the reference answered %zu of %zu inputs (exit status %d)\n", name, done, n_in, st);
		return 1;
	}
	printf("%s: %zu inputs, %d differ from the reference\n", name, n_in, bad);
	return bad != 0;
}

int main(void)
{
	const char *models = getenv("SLUICE_MODELS");
	if (!models || !*models)
		models = "../shared/models";
	struct stat st;
	if (stat(models, &st) != 0) {
		printf("models folder %s is absent\n", models);
		return 77;
	}
	if (access(SCRIPT, R_OK) != 0) {
		fprintf(stderr, "FAIL: %s not found (run from the repository root)\n", SCRIPT);
		return 1;
	}
	if (system("python3 -c 'import gguf' >/dev/null 2>&1") != 0) {
		printf("python3 with the gguf package is not available\n");
		return 77;
	}
	int rc = run_model(models, "stories260K.gguf");
	rc |= run_model(models, "llama-2-tiny-random.gguf");
	return rc ? 1 : 0;
}
