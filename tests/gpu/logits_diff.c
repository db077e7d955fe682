/* SPDX-License-Identifier: MIT */
/*
 * tests/gpu/logits_diff.c — whole-model logits of one backend against the "cpu" backend.
 *
 *   logits_diff MODEL BACKEND [--vram BYTES] [-n STEPS] [-p PROMPT] [--bound REL]
 *
 * Loads MODEL twice (cpu, BACKEND), runs the prompt through both as one batch (the prompt path),
 * then STEPS single tokens (the decode path), feeding both the CPU's greedy token so the two stay
 * on one sequence.  At every step it compares the logits: the largest |l_be - l_cpu|, that over
 * the largest |l_cpu| (relative), and whether the greedy (argmax) tokens agree.  Prints
 *   logits steps S max_abs A max_rel R greedy_equal E/S
 * and exits 0 when every greedy token agrees and R <= REL (default 1e-3), 1 otherwise.
 */
#include "sluice.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int argmax(const float *l, uint32_t n)
{
	int best = 0;
	for (uint32_t i = 1; i < n; i++)
		if (l[i] > l[best])
			best = (int)i;
	return best;
}

static struct sluice_ctx *open_one(const char *path, const char *backend, uint64_t vram, struct sluice_model **m)
{
	struct sluice_model_params mp;
	sluice_model_params_init(&mp);
	mp.backend = backend;
	mp.vram_budget = vram;
	char err[512];
	if (sluice_model_load(path, &mp, m, err, sizeof err)) {
		fprintf(stderr, "logits_diff: %s backend: %s\n", backend, err);
		return NULL;
	}
	struct sluice_ctx_params cp;
	sluice_ctx_params_init(&cp);
	cp.n_ctx = 512;
	struct sluice_ctx *ctx = NULL;
	if (sluice_ctx_new(*m, &cp, &ctx, err, sizeof err)) {
		fprintf(stderr, "logits_diff: %s backend: %s\n", backend, err);
		return NULL;
	}
	return ctx;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: logits_diff MODEL BACKEND [--vram BYTES] [-n STEPS] [-p PROMPT] [--bound REL]\n");
		return 2;
	}
	const char *path = argv[1], *backend = argv[2], *prompt = "Once upon a time, there was a little";
	uint64_t vram = 0;
	int steps = 24;
	double bound = 1e-3;
	for (int i = 3; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--vram"))
			vram = strtoull(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "-n"))
			steps = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "-p"))
			prompt = argv[i + 1];
		else if (!strcmp(argv[i], "--bound"))
			bound = atof(argv[i + 1]);
		else {
			fprintf(stderr, "logits_diff: unknown option '%s'\n", argv[i]);
			return 2;
		}
	}
	if (steps < 0 || steps > 400) {
		fprintf(stderr, "logits_diff: -n must be 0..400\n");
		return 2;
	}
	struct sluice_model *m0 = NULL, *m1 = NULL;
	struct sluice_ctx *c0 = open_one(path, "cpu", 0, &m0), *c1 = c0 ? open_one(path, backend, vram, &m1) : NULL;
	if (!c0 || !c1)
		return 1;
	struct sluice_model_info info;
	sluice_model_get_info(m0, &info);
	int32_t toks[256];
	size_t n_tok = 0;
	if (sluice_tokenize(m0, prompt, strlen(prompt), true, toks, 256, &n_tok) || n_tok == 0) {
		fprintf(stderr, "logits_diff: cannot tokenize the prompt: %s\n", sluice_model_error(m0));
		return 1;
	}
	double max_abs = 0, max_rel = 0;
	int equal = 0, done = 0;
	const int32_t *in = toks;
	size_t n_in = n_tok;
	int32_t next;
	for (int s = 0; s <= steps; s++) {
		const float *l0, *l1;
		int r0 = sluice_decode(c0, in, n_in, &l0), r1 = r0 ? 0 : sluice_decode(c1, in, n_in, &l1);
		if (r0 || r1) {
			fprintf(stderr, "logits_diff: step %d: %s\n", s, r0 ? sluice_ctx_error(c0) : sluice_ctx_error(c1));
			return 1;
		}
		double a = 0, mx = 0;
		for (uint32_t i = 0; i < info.n_vocab; i++) {
			double d = fabs((double)l1[i] - l0[i]);
			if (isnan(d))
				d = INFINITY;
			a = fmax(a, d);
			mx = fmax(mx, fabs(l0[i]));
		}
		max_abs = fmax(max_abs, a);
		max_rel = fmax(max_rel, a / (mx + 1e-30));
		int g0 = argmax(l0, info.n_vocab), g1 = argmax(l1, info.n_vocab);
		equal += g0 == g1;
		done++;
		if (g0 != g1)
			fprintf(stderr, "logits_diff: step %d: greedy token %d (cpu) vs %d (%s)\n", s, g0, g1, backend);
		next = g0;
		in = &next;
		n_in = 1;
	}
	printf("logits steps %d max_abs %.3g max_rel %.3g greedy_equal %d/%d\n", done, max_abs, max_rel, equal, done);
	sluice_ctx_free(c0);
	sluice_ctx_free(c1);
	sluice_model_free(m0);
	sluice_model_free(m1);
	return equal == done && max_rel <= bound ? 0 : 1;
}
