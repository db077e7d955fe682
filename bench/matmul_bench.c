/* SPDX-License-Identifier: MIT */
/*
 * bench/matmul_bench.c — decode-shaped microbenchmark of the quantized
 * matmul: all the weight matrices of a llama model (default: ~1.1B params,
 * TinyLlama shapes: dim 2048, ffn 5632, 22 layers, 4 kv heads of 64, vocab
 * 32000) resident in memory in one type, multiplied by one activation vector
 * per "token", rows split across T threads that sync after every matrix
 * (as the CPU backend does).  Prints tokens/s and effective weight bandwidth.
 *
 *   matmul_bench TYPE [threads=1] [tokens=10] [layers=22]
 *   TYPE: f16 q8_0 q6_K q4_K q4_k_m (q4_K with attn_v/ffn_down of half the
 *   layers and the output matrix in q6_K, as llama.cpp's Q4_K_M).
 *   layers=0: compute probe instead — one 256 x 2048 matrix (q4_k_m: q4_K),
 *   small enough to stay in L2, multiplied 1000 times per "token": the
 *   kernel's own rate, with memory bandwidth out of the picture.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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
	void *xq;  /* activations for this matrix, quantized once per token */
	float *y;
};

static struct mat *mats;
static int n_mats, n_threads, n_tokens;
static atomic_int bar_count, bar_gen;

static void barrier(void)
{
	int gen = atomic_load(&bar_gen);
	if (atomic_fetch_add(&bar_count, 1) == n_threads - 1) {
		atomic_store(&bar_count, 0);
		atomic_fetch_add(&bar_gen, 1);
	} else {
		/* spin, yielding after a while: the bench machine may be shared with other work */
		for (int spins = 0; atomic_load(&bar_gen) == gen; spins++)
			if (spins > 2000)
				sched_yield();
	}
}

static void *worker(void *arg)
{
	int id = (int)(intptr_t)arg;
	for (int tok = 0; tok < n_tokens; tok++)
		for (int m = 0; m < n_mats; m++) {
			struct mat *M = &mats[m];
			int64_t r0 = M->rows * id / n_threads, r1 = M->rows * (id + 1) / n_threads;
			sl_matmul_rows(M->type, M->w, M->cols, r0, r1, M->xq, 1, M->y, M->rows);
			barrier();
		}
	return NULL;
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
	sl_quantize_rows(type, tmp, M->w, rows < 64 ? rows : 64, cols);
	for (int64_t r = 64; r < rows; r++)
		memcpy((char *)M->w + r * rs, (char *)M->w + (r % 64) * rs, rs);
	float *x = malloc(cols * sizeof(float));
	for (int64_t i = 0; i < cols; i++)
		x[i] = (float)rand() / (float)RAND_MAX - 0.5f;
	M->xq = malloc(sl_matmul_scratch_size(type, cols, 1));
	sl_quantize_activations(type, x, cols, 1, M->xq);
	M->y = malloc(rows * sizeof(float));
	free(tmp);
	free(x);
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
	n_threads = argc > 2 ? atoi(argv[2]) : 1;
	n_tokens = argc > 3 ? atoi(argv[3]) : 10;
	int layers = argc > 4 ? atoi(argv[4]) : 22;
	if (type < 0 || !sl_type_traits((uint32_t)type)->vec_dot || n_threads < 1 || n_threads > 64 || layers < 0) {
		fprintf(stderr, "bad type or threads\n");
		return 2;
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
	pthread_t th[64];
	for (int pass = 0; pass < 2; pass++) {
		double t0 = now();
		for (int t = 1; t < n_threads; t++)
			pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t);
		worker((void *)0);
		for (int t = 1; t < n_threads; t++)
			pthread_join(th[t], NULL);
		double dt = now() - t0;
		if (pass == 1)
			printf("matmul_bench %s (%s): %.3g params, %.1f MB weights, %d thread(s): %.2f tok/s, "
			       "%.1f ms/token, %.2f GB/s\n",
			       argv[1], sl_quant_isa(), params, bytes / 1e6, n_threads, n_tokens / dt, dt / n_tokens * 1e3,
			       bytes * n_tokens / dt / 1e9);
		n_tokens = timed;
	}
	return 0;
}
