/* SPDX-License-Identifier: MIT */
/*
 * test_quant_iq_ref — the i-quants' and ternary types' dequantization against
 * an independent implementation, the numpy dequantizers of PyPI's gguf package
 * (through tests/ref/quant_ref.py): the floats must be bit-identical, on
 *   - random blocks (random bits with a finite fp16 scale) of every type, and
 *   - for the types we can quantize to (iq4_nl, iq4_xs, tq1_0, tq2_0), blocks
 *     made by our quantizer from random rows (real-looking blocks: scales and
 *     levels as a quantizer sets them).
 * And tq1_0 / tq2_0, which the package can also quantize: our quantizer's
 * bytes must equal its (tests/quant/quant_ref_tq.py).
 * Skips (77) when python3 or the gguf package is missing.
 */
#include "test_quant_iq_util.h"

#include <sys/stat.h>
#include <unistd.h>

#define NBLK 96


/* The blocks of one type: random, then (if it can be quantized to) NBLK/2 quantized ones, whose
 * input is left in DIR/<type>.in.f32 for tq*. */
static unsigned char *make_blocks(const char *dir, const struct iq_case *c, size_t *nbytes)
{
	const struct sl_type_traits *t = sl_type_traits(c->type);
	unsigned char *blk = malloc(2 * NBLK * t->type_size);
	iq_random_blocks(c, t->type_size, blk, NBLK);
	int nb = NBLK;
	if (t->from_float) {
		const int64_t n = (NBLK / 2) * t->block_size;
		float *x = malloc(n * sizeof(float));
		for (int64_t i = 0; i < n; i++) {
			int64_t b = i / t->block_size;
			x[i] = b % 3 == 0 ? tq_normal() : b % 3 == 1 ? tq_normal() * 0.01f + 0.003f : (i % 7 ? 0.f : tq_normal());
		}
		t->from_float(x, blk + NBLK * t->type_size, n);
		nb += NBLK / 2;
		if (t->name[0] == 't') {
			char cols[32];
			snprintf(cols, sizeof cols, "%lld", (long long)t->block_size);
			t_write_dir_file(dir, t->name, ".in.f32", x, n * sizeof(float));
			t_write_dir_file(dir, t->name, ".cols", cols, strlen(cols));
		}
		free(x);
	}
	*nbytes = nb * t->type_size;
	return blk;
}

int main(void)
{
	if (system("python3 -c 'import gguf.quants, numpy' >/dev/null 2>&1") != 0) {
		printf("python3 with the gguf package not available\n");
		return 77;
	}
	if (access("tests/ref/quant_ref.py", R_OK) != 0) {
		printf("run from the repository root (tests/ref/quant_ref.py not found)\n");
		return 77;
	}
	const char *base = getenv("SLUICE_TMP");
	char dir[512];
	snprintf(dir, sizeof dir, "%s/quant-iq-ref.XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	unsigned char *blocks[IQ_NCASES];
	size_t sizes[IQ_NCASES];
	for (size_t c = 0; c < IQ_NCASES; c++) {
		const struct sl_type_traits *t = sl_type_traits(iq_cases[c].type);
		CHECK_MSG(t && t->to_float, "type %u not registered", iq_cases[c].type);
		if (!t)
			return 1;
		blocks[c] = make_blocks(dir, &iq_cases[c], &sizes[c]);
		CHECK_MSG(!t_write_dir_file(dir, t->name, ".blocks", blocks[c], sizes[c]), "%s: write", t->name);
	}

	char cmd[1200];
	snprintf(cmd, sizeof cmd, "python3 tests/ref/quant_ref.py '%s'", dir);
	int rc = system(cmd);
	if (WIFEXITED(rc) && WEXITSTATUS(rc) == 77) {
		printf("gguf python package not usable\n");
		return 77;
	}
	CHECK_MSG(rc == 0, "quant_ref.py failed (%d)", rc);
	snprintf(cmd, sizeof cmd, "python3 tests/quant/quant_ref_tq.py '%s'", dir);
	int rc_tq = system(cmd);
	CHECK_MSG(rc_tq == 0, "quant_ref_tq.py failed (%d)", rc_tq);

	int n_deq = 0, n_q = 0;
	for (size_t c = 0; c < IQ_NCASES && rc == 0; c++) {
		const struct sl_type_traits *t = sl_type_traits(iq_cases[c].type);
		size_t npy;
		float *py = t_read_dir_file(dir, t->name, ".py.f32", &npy);
		const int64_t n = (int64_t)(sizes[c] / t->type_size) * t->block_size;
		float *mine = malloc(n * sizeof(float));
		t->to_float(blocks[c], mine, n);
		CHECK_MSG(py && npy == (size_t)n * 4, "%s: python dequant output missing/short", t->name);
		if (py && npy == (size_t)n * 4) {
			int64_t bad = 0, first = -1;
			for (int64_t i = 0; i < n; i++)
				if (memcmp(&mine[i], &py[i], 4)) {
					if (first < 0)
						first = i;
					bad++;
				}
			CHECK_MSG(!bad, "%s dequant: %lld of %lld differ, first at %lld (block %lld): %.9g vs python %.9g",
				 t->name, (long long)bad, (long long)n, (long long)first,
				 (long long)(first / t->block_size), first >= 0 ? mine[first] : 0, first >= 0 ? py[first] : 0);
			n_deq++;
		}
		size_t nq;
		unsigned char *pq = t->name[0] == 't' ? t_read_dir_file(dir, t->name, ".py.q", &nq) : NULL;
		if (pq) {
			/* our quantized blocks follow the NBLK random ones */
			const size_t want = (NBLK / 2) * t->type_size;
			CHECK_MSG(nq == want, "%s quant: python wrote %zu bytes, want %zu", t->name, nq, want);
			if (nq == want) {
				size_t bad = 0, first = 0;
				for (size_t i = 0; i < want; i++)
					if (pq[i] != blocks[c][NBLK * t->type_size + i] && !bad++)
						first = i;
				CHECK_MSG(!bad, "%s quant: %zu of %zu bytes differ from gguf's, first at %zu (block %zu)",
					 t->name, bad, want, first, first / t->type_size);
			}
			n_q++;
			free(pq);
		} else if (t->name[0] == 't') {
			CHECK_MSG(0, "%s: no python quantization", t->name);
		}
		free(py), free(mine), free(blocks[c]);
	}
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	printf("gguf cross-check: %d i-quant types dequantized identically, %d quantized identically, %d failure(s)\n",
	       n_deq, n_q, t_failures);
	return t_failures ? 1 : 0;
}
