/* SPDX-License-Identifier: MIT */
/*
 * test_quant_vectors — sluice's quantizers of the grid i-quants against vectors llama.cpp made
 * (tests/data/quant-vectors/, README.md there says how): for iq2_xxs, iq2_xs, iq2_s, iq3_xxs,
 * iq3_s, iq1_s and iq1_m, six rows of 256 and one importance-matrix row go through
 * sl_quantize_rows_w (iq3_xxs and iq3_s also without weights, sl_quantize_rows), and every block
 * must come out byte for byte as ggml's ggml_quantize_chunk made it; sluice's to_float of ggml's
 * blocks must equal ggml's own dequantization bit for bit.  The one known difference (iq3_s on an
 * all-zero sub-block followed by others, where ggml misplaces the later sub-blocks: see
 * iq_quantize_s.c) is checked apart: sluice's block still decodes to its input.
 *
 * The vectors are read relative to the source tree (argv[1], else tests/data/quant-vectors from
 * the working directory, which is the tree's root under tests/run.sh).
 */
#include "test_quant_util.h"
#include "quant/iq_blocks.h"

#include <string.h>

#define ROWS 6
#define COLS 256

static const char *dir = "tests/data/quant-vectors";

/* The whole file path into buf of n bytes exactly; false (after a failed check) otherwise. */
static bool load(const char *name, void *buf, size_t n)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "rb");
	CHECK_MSG(f, "%s: cannot open (run from the source tree, or pass the vector directory)", path);
	if (!f)
		return false;
	const size_t got = fread(buf, 1, n, f);
	const int extra = fgetc(f);
	fclose(f);
	CHECK_MSG(got == n && extra == EOF, "%s: not %zu bytes", path, n);
	return got == n && extra == EOF;
}

static void check_type(uint32_t type, bool imatrix, const float *x, const float *w)
{
	const struct sl_type_traits *tt = sl_type_traits(type);
	const size_t rs = sl_row_size(type, COLS), bs = tt->type_size;
	unsigned char *want = malloc(rs * ROWS), *got = calloc(ROWS, rs);
	float *deq = malloc(sizeof(float) * ROWS * COLS), *mine = malloc(sizeof(float) * ROWS * COLS);
	char name[64];
	snprintf(name, sizeof name, "%s%s.q", tt->name, imatrix ? "" : "-noimatrix");
	bool ok = load(name, want, rs * ROWS);
	snprintf(name, sizeof name, "%s%s.deq.f32", tt->name, imatrix ? "" : "-noimatrix");
	ok = load(name, deq, sizeof(float) * ROWS * COLS) && ok;
	if (ok) {
		const size_t n = imatrix ? sl_quantize_rows_w(type, x, got, ROWS, COLS, w)
					 : sl_quantize_rows(type, x, got, ROWS, COLS);
		CHECK_MSG(n == rs * ROWS, "%s: quantized %zu bytes, want %zu", name, n, rs * ROWS);
		int same = 0, nb = (int)(rs * ROWS / bs);
		for (int b = 0; b < nb; b++) {
			const bool eq = !memcmp(want + b * bs, got + b * bs, bs);
			same += eq;
			CHECK_MSG(eq, "%s%s: block %d (row %d) differs from llama.cpp's", tt->name,
				  imatrix ? "" : " (no imatrix)", b, b / (int)(rs / bs));
		}
		tt->to_float(want, mine, ROWS * COLS);
		int bad = 0;
		for (int i = 0; i < ROWS * COLS; i++)
			bad += memcmp(&mine[i], &deq[i], sizeof(float)) != 0;
		CHECK_MSG(!bad, "%s: %d of %d values of llama.cpp's blocks dequantize otherwise than in ggml", tt->name,
			  bad, ROWS * COLS);
		printf("%-8s %-11s %d/%d blocks byte-identical, dequantization %s\n", tt->name,
		       imatrix ? "imatrix" : "no imatrix", same, nb, bad ? "DIFFERS" : "identical");
	}
	free(want), free(got), free(deq), free(mine);
}

/* iq3_s with a zero sub-block amid others: ggml's blocks are misplaced there (iq_quantize_s.c);
 * sluice's must decode to the row within the error the type has elsewhere. */
static void check_iq3s_zero_subblock(const float *x)
{
	float row[COLS], y[COLS];
	struct block_iq3_s b[1];
	memcpy(row, x, sizeof row);
	memset(row + 64, 0, 32 * sizeof(float));
	sl_quantize_rows(SL_TYPE_IQ3_S, row, b, 1, COLS);
	sl_type_traits(SL_TYPE_IQ3_S)->to_float(b, y, COLS);
	double e = 0, s = 0;
	for (int i = 0; i < COLS; i++)
		if (i < 64 || i >= 96) {
			e += (double)(y[i] - row[i]) * (y[i] - row[i]);
			s += (double)row[i] * row[i];
		}
	CHECK_MSG(sqrt(e / s) < 0.25, "iq3_s, zero sub-block 2: relative RMS error %.3f elsewhere", sqrt(e / s));
	printf("iq3_s    zero sub-block amid others: relative RMS error %.3f on the rest\n", sqrt(e / s));
}

int main(int argc, char **argv)
{
	static const uint32_t types[] = { SL_TYPE_IQ2_XXS, SL_TYPE_IQ2_XS, SL_TYPE_IQ2_S, SL_TYPE_IQ3_XXS,
					  SL_TYPE_IQ3_S,   SL_TYPE_IQ1_S,  SL_TYPE_IQ1_M };
	static float x[ROWS * COLS], w[COLS];
	if (argc > 1)
		dir = argv[1];
	if (load("input.f32", x, sizeof x) && load("weights.f32", w, sizeof w)) {
		for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
			check_type(types[i], true, x, w);
		check_type(SL_TYPE_IQ3_XXS, false, x, w);
		check_type(SL_TYPE_IQ3_S, false, x, w);
		check_iq3s_zero_subblock(x);
	}
	printf("%d failure(s)\n", t_failures);
	return t_failures ? 1 : 0;
}
