/* SPDX-License-Identifier: MIT */
/*
 * test_quant_imatrix — the importance-weighted quantizers (runtime/quant/quant_imatrix.c and the
 * per-type ports), below `sluice quantize --imatrix`:
 *   - sl_quantize_rows_w with no weights is sl_quantize_rows, byte for byte;
 *   - for every type with a weighted quantizer, on Gaussian rows with a strongly uneven importance
 *     (log-normal per column, as real activations are), the error weighted by it is lower than
 *     with flat weights (all 1); with flat weights the type dequantizes within a bound of the
 *     source set by its bit rate (no garbage blocks), and with the uneven ones within 1.4x that;
 *   - the types llama.cpp will not make without a matrix have no plain quantizer, and have a
 *     weighted one; iq3_xxs has both (ggml has its reference, llama-quantize wants a matrix),
 *     iq3_s has both and needs none;
 *   - all-zero rows and a zero-weight matrix give finite, zero blocks, never NaN.
 */
#include "test_quant_util.h"
#include <string.h>

#define ROWS 16
#define COLS 512

static const struct {
	uint32_t type;
	double max_rel; /* relative RMS error bound of the flat-weight quantization on Gaussian rows */
} cases[] = {
	{ SL_TYPE_Q2_K, 0.45 },   { SL_TYPE_Q3_K, 0.25 },   { SL_TYPE_Q4_K, 0.12 },   { SL_TYPE_Q5_K, 0.06 },
	{ SL_TYPE_Q6_K, 0.03 },   { SL_TYPE_IQ4_NL, 0.12 }, { SL_TYPE_IQ4_XS, 0.12 }, { SL_TYPE_IQ2_XXS, 0.42 },
	{ SL_TYPE_IQ2_XS, 0.37 }, { SL_TYPE_IQ1_S, 0.55 },  { SL_TYPE_IQ1_M, 0.52 },  { SL_TYPE_IQ3_XXS, 0.25 },
	{ SL_TYPE_IQ2_S, 0.33 },  { SL_TYPE_IQ3_S, 0.22 },  { SL_TYPE_Q4_0, 0.12 },   { SL_TYPE_Q4_1, 0.10 },
	{ SL_TYPE_Q5_0, 0.06 },   { SL_TYPE_Q5_1, 0.05 },
};

static double weighted_err(const float *x, const float *y, const float *qw, double *plain)
{
	double e = 0, p = 0;
	for (int r = 0; r < ROWS; r++)
		for (int j = 0; j < COLS; j++) {
			const double d = (double)x[r * COLS + j] - y[r * COLS + j];
			e += qw[j] * d * d;
			p += d * d;
		}
	*plain = p;
	return e;
}

int main(void)
{
	float *x = malloc(sizeof(float) * ROWS * COLS), *y = malloc(sizeof(float) * ROWS * COLS);
	float qw[COLS], flat[COLS], zero[COLS];
	unsigned char *a = malloc(ROWS * COLS * 4), *b = malloc(ROWS * COLS * 4);
	double sx2 = 0;
	for (int i = 0; i < ROWS * COLS; i++) {
		x[i] = tq_normal();
		sx2 += (double)x[i] * x[i];
	}
	for (int j = 0; j < COLS; j++) {
		qw[j] = expf(2.0f * tq_normal()); /* a spread of e^±4 across columns */
		flat[j] = 1.0f;
		zero[j] = 0.0f;
	}

	/* no weights: the reference quantizer exactly */
	for (uint32_t t = 0; t < SL_TYPE_COUNT; t++) {
		const struct sl_type_traits *tt = sl_type_traits(t);
		if (!tt || !tt->from_float || !sl_row_size(t, COLS))
			continue;
		const size_t n1 = sl_quantize_rows(t, x, a, ROWS, COLS), n2 = sl_quantize_rows_w(t, x, b, ROWS, COLS, NULL);
		CHECK_MSG(n1 && n1 == n2 && !memcmp(a, b, n1), "%s: sl_quantize_rows_w(NULL) differs", tt->name);
	}

	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		const uint32_t t = cases[c].type;
		const struct sl_type_traits *tt = sl_type_traits(t);
		CHECK_MSG(sl_quant_weighted(t) != NULL, "%s: no weighted quantizer", tt->name);
		const size_t rs = sl_row_size(t, COLS);
		CHECK(sl_quantize_rows_w(t, x, a, ROWS, COLS, qw) == rs * ROWS);
		CHECK(sl_quantize_rows_w(t, x, b, ROWS, COLS, flat) == rs * ROWS);
		double pw, pf;
		tt->to_float(a, y, (int64_t)ROWS * COLS);
		const double ew = weighted_err(x, y, qw, &pw);
		tt->to_float(b, y, (int64_t)ROWS * COLS);
		const double ef = weighted_err(x, y, qw, &pf);
		const double rel = sqrt(pf / sx2), rel_w = sqrt(pw / sx2);
		printf("%-8s weighted error %.4e with the matrix, %.4e flat (%+.1f%%); relative RMS %.3f flat, %.3f weighted\n",
		       tt->name, ew, ef, 100.0 * (ew / ef - 1), rel, rel_w);
		CHECK_MSG(ew < ef, "%s: weighted error %.6g with the importance weights, %.6g with flat ones", tt->name, ew,
			  ef);
		CHECK_MSG(rel < cases[c].max_rel, "%s: relative RMS error %.3f (bound %.2f)", tt->name, rel,
			  cases[c].max_rel);
		CHECK_MSG(rel_w < 1.4 * cases[c].max_rel, "%s: relative RMS error %.3f with uneven weights (bound %.2f)",
			  tt->name, rel_w, 1.4 * cases[c].max_rel);

		/* degenerate input: zero rows, zero weights -> finite output, zero for zero rows */
		memset(y, 0, sizeof(float) * COLS);
		CHECK(sl_quantize_rows_w(t, y, a, 1, COLS, qw) == rs);
		tt->to_float(a, y, COLS);
		int bad = 0;
		for (int j = 0; j < COLS; j++)
			bad += y[j] != 0.0f;
		CHECK_MSG(!bad, "%s: an all-zero row dequantizes to %d non-zero values", tt->name, bad);
		CHECK(sl_quantize_rows_w(t, x, a, 1, COLS, zero) == rs);
		tt->to_float(a, y, COLS);
		for (int j = 0; j < COLS; j++)
			bad += !isfinite(y[j]);
		CHECK_MSG(!bad, "%s: zero importance gives %d non-finite values", tt->name, bad);
	}

	static const uint32_t need[] = { SL_TYPE_IQ1_S, SL_TYPE_IQ1_M, SL_TYPE_IQ2_XXS, SL_TYPE_IQ2_XS, SL_TYPE_IQ2_S };
	for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
		CHECK_MSG(sl_quant_needs_imatrix(need[i]) && !sl_type_traits(need[i])->from_float,
			  "%s: should need an importance matrix and have no plain quantizer", sl_type_name(need[i]));
	/* llama-quantize refuses iq3_xxs without one, yet ggml has its reference quantizer; iq3_s needs none */
	CHECK(sl_quant_needs_imatrix(SL_TYPE_IQ3_XXS) && sl_type_traits(SL_TYPE_IQ3_XXS)->from_float);
	CHECK(!sl_quant_needs_imatrix(SL_TYPE_IQ3_S) && sl_type_traits(SL_TYPE_IQ3_S)->from_float);
	CHECK(!sl_quant_needs_imatrix(SL_TYPE_Q4_K) && !sl_quant_weighted(SL_TYPE_Q8_0));

	free(x), free(y), free(a), free(b);
	printf("%d failure(s)\n", t_failures);
	return t_failures ? 1 : 0;
}
