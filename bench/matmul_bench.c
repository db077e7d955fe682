/* SPDX-License-Identifier: MIT */
/*
 * bench/matmul_bench.c — decode-shaped microbenchmark of the quantized
 * matmul: all the weight matrices of a llama model (default: ~1.1B params,
 * TinyLlama shapes: dim 2048, ffn 5632, 22 layers, 4 kv heads of 64, vocab
 * 32000) resident in memory in one type, multiplied by one activation vector
 * per "token", through the CPU backend's matmul op with T threads — the
 * loop decode runs: activations converted once per matrix, rows split across
 * the backend's thread pool (runtime/quant/matmul.c's sl_matmul_rows).
 * Prints tokens/s and effective weight bandwidth.
 *
 *   matmul_bench TYPE [threads=1] [tokens=10] [layers=22]
 *   TYPE: f16 q8_0 q6_K q4_K q4_k_m (q4_K with attn_v/ffn_down of half the
 *   layers and the output matrix in q6_K, as llama.cpp's Q4_K_M).
 *   layers=0: compute probe instead — one 256 x 2048 matrix (q4_k_m: q4_K),
 *   small enough to stay in L2, multiplied 1000 times per "token": the
 *   kernel's own rate, with memory bandwidth out of the picture.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "backend/backend.h"
#include "quant/quant.h"
#include "sluice.h"

#define DIM 2048
#define FFN 5632
#define KV 256
#define VOCAB 32000

struct mat {
	uint32_t type;
	int64_t rows, cols;
	void *w;
	float *x;  /* the activation row for this matrix */
	float *y;
};

static struct mat *mats;
static int n_mats, n_tokens;
static struct sl_backend *be;

static int run_tokens(void)
{
	for (int tok = 0; tok < n_tokens; tok++)
		for (int m = 0; m < n_mats; m++) {
			struct mat *M = &mats[m];
			int rc = be->ops->matmul(be, M->y, M->w, M->type, M->rows, M->cols, M->x, 1);
			if (rc) {
				fprintf(stderr, "matmul: %s\n", be->err.msg);
				return rc;
			}
		}
	return be->ops->sync(be);
}

static void add(uint32_t type, int64_t rows, int64_t cols)
{
	/* Quantize 64 random rows once and tile them: realistic bits, fast setup. */
	size_t rs = sl_row_size(type, cols);
	struct mat *M = &mats[n_mats++];
	*M = (struct mat){ type, rows, cols, NULL, NULL, NULL };
	M->w = aligned_alloc(64, (rs * rows + 63) / 64 * 64);
	float *tmp = malloc(64 * cols * sizeof(float));
	for (int64_t i = 0; i < 64 * cols; i++)
		tmp[i] = ((float)rand() / (float)RAND_MAX - 0.5f) * 0.1f;
	if (!sl_quantize_rows(type, tmp, M->w, rows < 64 ? rows : 64, cols)) {
		/* No quantizer (iq1/iq2/iq3 need an importance matrix): random bits with a small
		 * fp16 0x1c00 at each block's start (where most i-quants keep d; the rest's d is
		 * random, which the kernels' speed does not depend on). */
		const struct sl_type_traits *t = sl_type_traits(type);
		for (size_t i = 0; i < rs * (size_t)(rows < 64 ? rows : 64); i++)
			((unsigned char *)M->w)[i] = (unsigned char)rand();
		for (size_t o = 0; o + t->type_size <= rs * (size_t)(rows < 64 ? rows : 64); o += t->type_size)
			memcpy((char *)M->w + o, &(uint16_t){ 0x1c00 }, 2);
	}
	for (int64_t r = 64; r < rows; r++)
		memcpy((char *)M->w + r * rs, (char *)M->w + (r % 64) * rs, rs);
	M->x = malloc(cols * sizeof(float));
	for (int64_t i = 0; i < cols; i++)
		M->x[i] = (float)rand() / (float)RAND_MAX - 0.5f;
	M->y = malloc(rows * sizeof(float));
	free(tmp);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: matmul_bench TYPE [threads] [tokens] [layers]\n");
		return 2;
	}
	/* The library reads no environment: SLUICE_NO_SIMD=1 / SLUICE_SIMD=LEVEL work here as in the CLI. */
	const char *no_simd = getenv("SLUICE_NO_SIMD"), *simd = getenv("SLUICE_SIMD");
	const char *level = no_simd && *no_simd && strcmp(no_simd, "0") ? "scalar" : simd && *simd ? simd : NULL;
	if (level && sluice_set_cpu_features(level)) {
		fprintf(stderr, "SLUICE_SIMD=%s: unknown level (auto, avx512, avx2, scalar)\n", level);
		return 2;
	}
	bool mix = !strcasecmp(argv[1], "q4_k_m");
	int type = mix ? SL_TYPE_Q4_K : sl_type_from_name(argv[1]);
	int n_threads = argc > 2 ? atoi(argv[2]) : 1;
	n_tokens = argc > 3 ? atoi(argv[3]) : 10;
	int layers = argc > 4 ? atoi(argv[4]) : 22;
	if (type < 0 || !sl_type_traits((uint32_t)type)->vec_dot || n_threads < 1 || n_threads > 64 || layers < 0) {
		fprintf(stderr, "bad type or threads\n");
		return 2;
	}
	struct sl_backend_config cfg = { .n_threads = n_threads };
	struct sl_err err = { { 0 } };
	if (sl_backend_new("cpu", &cfg, &be, &err)) {
		fprintf(stderr, "cpu backend: %s\n", err.msg);
		return 1;
	}
	mats = calloc((size_t)(layers > 0 ? layers * 7 + 1 : 1000), sizeof *mats);
	if (layers == 0) {
		/* compute probe: the same L2-resident matrix 1000 times (one allocation, 1000 entries) */
		add(type, 256, DIM);
		for (int k = 1; k < 1000; k++)
			mats[n_mats++] = mats[0];
	}
	for (int l = 0; l < layers; l++) {
		/* llama.cpp's use_more_bits: first and last eighth, and every third layer in between. */
		bool more = l < layers / 8 || l >= 7 * layers / 8 || (l - layers / 8) % 3 == 2;
		uint32_t hi = mix && more ? SL_TYPE_Q6_K : (uint32_t)type;
		add(type, DIM, DIM);   /* wq */
		add(type, KV, DIM);    /* wk */
		add(hi, KV, DIM);      /* wv */
		add(type, DIM, DIM);   /* wo */
		add(type, FFN, DIM);   /* gate */
		add(type, FFN, DIM);   /* up */
		add(hi, DIM, FFN);     /* down */
	}
	if (layers > 0)
		add(mix ? SL_TYPE_Q6_K : (uint32_t)type, VOCAB, DIM); /* output */
	double bytes = 0, params = 0;
	for (int m = 0; m < n_mats; m++) {
		bytes += (double)sl_row_size(mats[m].type, mats[m].cols) * mats[m].rows;
		params += (double)mats[m].rows * mats[m].cols;
	}
	/* one warm-up token so page faults and first touches are not timed */
	int timed = n_tokens;
	n_tokens = 1;
	for (int pass = 0; pass < 2; pass++) {
		double t0 = now();
		if (run_tokens())
			return 1;
		double dt = now() - t0;
		if (pass == 1)
			printf("matmul_bench %s (%s): %.3g params, %.1f MB weights, %d thread(s): %.2f tok/s, "
			       "%.1f ms/token, %.2f GB/s\n",
			       argv[1], sl_quant_isa(), params, bytes / 1e6, n_threads, n_tokens / dt, dt / n_tokens * 1e3,
			       bytes * n_tokens / dt / 1e9);
		n_tokens = timed;
	}
	sl_backend_free(be);
	return 0;
}
