/* SPDX-License-Identifier: MIT */
/*
 * bench/iq_vs_ggml.c — one quantized dot kernel of sluice against llama.cpp's
 * (ggml's) on the same bytes, in the same process, in alternating rounds.
 *
 *   iq_vs_ggml TYPE [rounds=7] [reps=200]
 *
 * Built and run by bench/iq-vs-llamacpp.sh against a llama.cpp build outside
 * the repository (never by `make`: the repository does not vendor ggml).  The
 * block layouts are bit-exact between the two, so one 256 x 2048 weight matrix
 * (L2-resident: the kernel's own rate, memory out of the picture — the compute
 * probe of bench/matmul_bench.c) serves both, and so does one activation row
 * quantized by each engine's own activation quantizer (q8_K or q8_0).  Each
 * round times `reps` passes over the 256 rows with sluice's dot, then with
 * ggml's; the machine is shared, so the ratio of the two medians (and the
 * spread of the per-round ratios) is the figure, not the absolute GB/s.
 * Before timing, both dots of every row are compared: the same bytes must give
 * the same sums (to float rounding), or the comparison is of different work.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ggml-cpu.h"
#include "ggml.h"
#include "quant/quant.h"
#include "sluice.h"

#define ROWS 256
#define COLS 2048

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static float frand(void)
{
	return (float)rand() / (float)RAND_MAX - 0.5f;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: iq_vs_ggml TYPE [rounds] [reps]\n");
		return 2;
	}
	const char *simd = getenv("SLUICE_SIMD");
	if (simd && *simd && sluice_set_cpu_features(simd)) {
		fprintf(stderr, "SLUICE_SIMD=%s: unknown level\n", simd);
		return 2;
	}
	int type = sl_type_from_name(argv[1]);
	int rounds = argc > 2 ? atoi(argv[2]) : 7, reps = argc > 3 ? atoi(argv[3]) : 200;
	const struct sl_type_traits *st = type >= 0 ? sl_type_traits((uint32_t)type) : NULL;
	if (!st || !st->vec_dot || rounds < 1 || reps < 1) {
		fprintf(stderr, "%s: not a type with a sluice dot kernel\n", argv[1]);
		return 2;
	}
	ggml_cpu_init();
	const struct ggml_type_traits_cpu *gt = ggml_get_type_traits_cpu((enum ggml_type)type);
	if (!gt || !gt->vec_dot || (uint32_t)gt->vec_dot_type != st->vec_dot_type) {
		fprintf(stderr, "%s: ggml has no dot kernel for it, or dots it against another activation type\n",
			argv[1]);
		return 2;
	}
	const struct ggml_type_traits_cpu *gy = ggml_get_type_traits_cpu(gt->vec_dot_type);
	const struct sl_type_traits *sy = sl_type_traits(st->vec_dot_type);

	size_t rs = sl_row_size((uint32_t)type, COLS), ys = sl_row_size(st->vec_dot_type, COLS);
	if (rs != ggml_row_size((enum ggml_type)type, COLS)) {
		fprintf(stderr, "%s: row sizes differ (sluice %zu, ggml %zu)\n", argv[1], rs,
			ggml_row_size((enum ggml_type)type, COLS));
		return 1;
	}
	srand(1);
	unsigned char *w = aligned_alloc(64, (rs * ROWS + 63) / 64 * 64);
	float *tmp = malloc(sizeof(float) * COLS * ROWS), *x = malloc(sizeof(float) * COLS);
	for (size_t i = 0; i < (size_t)COLS * ROWS; i++)
		tmp[i] = frand() * 0.1f;
	for (int i = 0; i < COLS; i++)
		x[i] = frand();
	if (!sl_quantize_rows((uint32_t)type, tmp, w, ROWS, COLS)) {
		/* No quantizer without an importance matrix: random bits with a small fp16 d (0x1c00)
		 * at each block's start, where these types keep it.  Speed does not depend on values. */
		for (size_t i = 0; i < rs * ROWS; i++)
			w[i] = (unsigned char)rand();
		for (size_t o = 0; o + st->type_size <= rs * ROWS; o += st->type_size)
			memcpy(w + o, &(uint16_t){ 0x1c00 }, 2);
	}
	void *y_sl = aligned_alloc(64, (ys + 63) / 64 * 64), *y_gg = aligned_alloc(64, (ys + 63) / 64 * 64);
	sy->from_float(x, y_sl, COLS);
	gy->from_float(x, y_gg, COLS);

	/* Same bytes, same sums: check every row before timing anything. */
	double worst = 0;
	for (int r = 0; r < ROWS; r++) {
		float a = 0, b = 0;
		st->vec_dot(COLS, &a, w + (size_t)r * rs, y_sl);
		gt->vec_dot(COLS, &b, 0, w + (size_t)r * rs, 0, y_gg, 0, 1);
		double d = fabs((double)a - b) / (fabs((double)b) + 1e-3);
		if (!(d <= worst))
			worst = d;
	}
	if (!(worst < 1e-3)) {
		fprintf(stderr, "%s: sluice and ggml disagree on the same bytes (worst relative difference %.3g)\n",
			argv[1], worst);
		return 1;
	}

	double *gs = malloc(sizeof(double) * rounds), *gg = malloc(sizeof(double) * rounds),
	       *ratio = malloc(sizeof(double) * rounds);
	volatile float sink = 0;
	double bytes = (double)rs * ROWS * reps;
	for (int k = 0; k < rounds; k++) {
		float s = 0;
		double t0 = now();
		for (int rep = 0; rep < reps; rep++)
			for (int r = 0; r < ROWS; r++) {
				st->vec_dot(COLS, &s, w + (size_t)r * rs, y_sl);
				sink += s;
			}
		double t1 = now();
		for (int rep = 0; rep < reps; rep++)
			for (int r = 0; r < ROWS; r++) {
				gt->vec_dot(COLS, &s, 0, w + (size_t)r * rs, 0, y_gg, 0, 1);
				sink += s;
			}
		double t2 = now();
		gs[k] = bytes / (t1 - t0) / 1e9;
		gg[k] = bytes / (t2 - t1) / 1e9;
		ratio[k] = gs[k] / gg[k];
	}
	qsort(gs, rounds, sizeof *gs, cmp_double);
	qsort(gg, rounds, sizeof *gg, cmp_double);
	qsort(ratio, rounds, sizeof *ratio, cmp_double);
	/* type, bpw, sluice GB/s, llama.cpp GB/s (medians), ratio median [min, max], sluice kernel family */
	printf("%-8s %5.2f %8.2f %8.2f %6.2f [%.2f, %.2f] %s agree %.1e\n", argv[1], 8.0 * rs / COLS,
	       gs[rounds / 2], gg[rounds / 2], ratio[rounds / 2], ratio[0], ratio[rounds - 1], sl_quant_isa(), worst);
	free(gs);
	free(gg);
	free(ratio);
	free(w);
	free(tmp);
	free(x);
	free(y_sl);
	free(y_gg);
	return 0;
}
