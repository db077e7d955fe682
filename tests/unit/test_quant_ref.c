/* SPDX-License-Identifier: MIT */
/*
 * test_quant_ref — cross-check against an independent implementation, the
 * numpy code of PyPI's gguf package (tests/ref/quant_ref.py):
 *   - random blocks of every type it knows are dequantized by both; the
 *     floats must be bit-identical;
 *   - random rows are quantized by both for the types gguf can quantize
 *     (f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0); the bytes must be identical.
 * Skips (77) when python3 or the gguf package is missing.
 */
#include "test_quant_util.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NBLK 64

struct tcase {
	uint32_t type;
	int f16_off[2]; /* offsets of fp16 fields inside a block, -1 if none */
};

static const struct tcase cases[] = {
	{ SL_TYPE_F16, { -1, -1 } }, { SL_TYPE_BF16, { -1, -1 } },  { SL_TYPE_Q4_0, { 0, -1 } },
	{ SL_TYPE_Q4_1, { 0, 2 } },  { SL_TYPE_Q5_0, { 0, -1 } },    { SL_TYPE_Q5_1, { 0, 2 } },
	{ SL_TYPE_Q8_0, { 0, -1 } }, { SL_TYPE_Q2_K, { 80, 82 } },   { SL_TYPE_Q3_K, { 108, -1 } },
	{ SL_TYPE_Q4_K, { 0, 2 } },  { SL_TYPE_Q5_K, { 0, 2 } },     { SL_TYPE_Q6_K, { 208, -1 } },
};

/* A finite scale: mostly ordinary, sometimes tiny (fp16 subnormal), zero or negative. */
static float rand_scale(void)
{
	uint64_t r = tq_rand() % 16;
	if (r == 0)
		return 0.f;
	if (r == 1)
		return 3e-6f * tq_uniform();
	return tq_normal() * 0.05f;
}


int main(void)
{
	if (system("python3 -c 'import gguf.quants, numpy' >/dev/null 2>&1") != 0) {
		printf("python3 with the gguf package not available\n");
		return 77;
	}
	const char *base = getenv("SLUICE_TMP");
	char dir[512];
	snprintf(dir, sizeof dir, "%s/quant-ref.XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	const int64_t cols = 512, rows = 16;
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		const struct sl_type_traits *t = sl_type_traits(cases[c].type);
		/* Dequantization input: random bits with sane fp16 scales. */
		size_t nb = NBLK * t->type_size;
		unsigned char *blk = malloc(nb);
		for (size_t i = 0; i < nb; i++)
			blk[i] = (unsigned char)tq_rand();
		for (int b = 0; b < NBLK; b++) {
			unsigned char *p = blk + b * t->type_size;
			if (cases[c].type == SL_TYPE_F16)
				for (size_t i = 0; i < t->type_size; i += 2) {
					uint16_t h = sl_fp32_to_fp16(tq_normal() * (b % 4 == 0 ? 1e-5f : 10.f));
					memcpy(p + i, &h, 2);
				}
			if (cases[c].type == SL_TYPE_BF16) {
				uint16_t h = sl_fp32_to_bf16(tq_normal() * 1e3f);
				memcpy(p, &h, 2);
			}
			for (int k = 0; k < 2; k++)
				if (cases[c].f16_off[k] >= 0) {
					uint16_t h = sl_fp32_to_fp16(rand_scale());
					memcpy(p + cases[c].f16_off[k], &h, 2);
				}
		}
		t_write_dir_file(dir, t->name, ".blocks", blk, nb);
		/* Quantization input: rows with varied structure. */
		float *x = malloc(rows * cols * sizeof(float));
		for (int64_t i = 0; i < rows * cols; i++) {
			int64_t r = i / cols;
			x[i] = r % 4 == 0 ? tq_normal() : r % 4 == 1 ? tq_normal() * 0.01f + 0.003f
				: r % 4 == 2 ? ((i / 32) % 2 ? 0.f : tq_normal()) : (float)((int)(tq_normal() * 4)) / 4;
		}
		t_write_dir_file(dir, t->name, ".in.f32", x, rows * cols * sizeof(float));
		char colstr[32];
		snprintf(colstr, sizeof colstr, "%lld", (long long)cols);
		t_write_dir_file(dir, t->name, ".cols", colstr, strlen(colstr));
		free(blk);
		free(x);
	}

	char cmd[1200];
	snprintf(cmd, sizeof cmd, "python3 tests/ref/quant_ref.py '%s'", dir);
	if (access("tests/ref/quant_ref.py", R_OK) != 0) {
		const char *root = getenv("SLUICE_BUILD");
		(void)root;
		printf("run from the repository root (tests/ref/quant_ref.py not found)\n");
		return 77;
	}
	int rc = system(cmd);
	if (WIFEXITED(rc) && WEXITSTATUS(rc) == 77) {
		printf("gguf python package not usable\n");
		return 77;
	}
	CHECK_MSG(rc == 0, "quant_ref.py failed (%d)", rc);

	int n_deq = 0, n_q = 0;
	for (size_t c = 0; c < sizeof cases / sizeof cases[0] && rc == 0; c++) {
		const struct sl_type_traits *t = sl_type_traits(cases[c].type);
		size_t nb, npy;
		unsigned char *blk = t_read_dir_file(dir, t->name, ".blocks", &nb);
		float *py = t_read_dir_file(dir, t->name, ".py.f32", &npy);
		int64_t n = NBLK * t->block_size;
		float *mine = malloc(n * sizeof(float));
		t->to_float(blk, mine, n);
		CHECK_MSG(py && npy == (size_t)n * 4, "%s: python dequant output missing/short", t->name);
		if (py && npy == (size_t)n * 4) {
			int64_t bad = 0, first = -1;
			for (int64_t i = 0; i < n; i++)
				if (memcmp(&mine[i], &py[i], 4)) {
					if (first < 0)
						first = i;
					bad++;
				}
			CHECK_MSG(!bad, "%s dequant: %lld of %lld differ, first at %lld: %.9g vs python %.9g", t->name,
				 (long long)bad, (long long)n, (long long)first, first >= 0 ? mine[first] : 0,
				 first >= 0 ? py[first] : 0);
			n_deq++;
		}
		free(blk), free(py), free(mine);

		size_t nx, nq;
		float *x = t_read_dir_file(dir, t->name, ".in.f32", &nx);
		unsigned char *pq = t_read_dir_file(dir, t->name, ".py.q", &nq);
		if (pq) {
			size_t want = sl_row_size(cases[c].type, cols) * rows;
			unsigned char *q = malloc(want);
			sl_quantize_rows(cases[c].type, x, q, rows, cols);
			CHECK_MSG(nq == want, "%s quant: python wrote %zu bytes, want %zu", t->name, nq, want);
			if (nq == want) {
				size_t first = 0, bad = 0;
				for (size_t i = 0; i < want; i++)
					if (q[i] != pq[i] && !bad++)
						first = i;
				CHECK_MSG(!bad, "%s quant: %zu of %zu bytes differ, first at %zu (block %zu)", t->name, bad,
					 want, first, first / t->type_size);
			}
			n_q++;
			free(q);
		}
		free(x), free(pq);
	}
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	printf("gguf cross-check: %d dequant types, %d quant types, %d failure(s)\n", n_deq, n_q, t_failures);
	return t_failures ? 1 : 0;
}
