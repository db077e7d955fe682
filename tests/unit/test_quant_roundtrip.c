/* SPDX-License-Identifier: MIT */
/*
 * test_quant_roundtrip — per type: quantize random rows of many lengths,
 * dequantize, and bound the error; then check vec_dot against a float64 dot
 * of the dequantized operands (which vec_dot must reproduce up to float
 * rounding) and against the exact float dot (up to quantization error).
 * Runs on the active kernels (SIMD if the CPU has it).
 */
#include "test_quant_util.h"

#include <string.h>

/* Relative RMS error bounds for N(0,1) data, a little above what ggml's
 * quantizers achieve (q4_0 ~0.097, q8_0 ~0.004, q4_K ~0.07 ...). */
static double rmse_bound(uint32_t t)
{
	switch (t) {
	case SL_TYPE_F32: return 0;
	case SL_TYPE_F16: return 3e-4;
	case SL_TYPE_BF16: return 2.5e-3;
	case SL_TYPE_Q8_0: return 8e-3;
	case SL_TYPE_Q6_K: return 2.2e-2;
	case SL_TYPE_Q5_0: case SL_TYPE_Q5_1: case SL_TYPE_Q5_K: return 5e-2;
	case SL_TYPE_Q4_0: case SL_TYPE_Q4_1: case SL_TYPE_Q4_K: return 1.1e-1;
	case SL_TYPE_Q3_K: return 2.0e-1;
	case SL_TYPE_Q2_K: return 4.0e-1;
	default: return 1;
	}
}

static void one(uint32_t type, int64_t n, int pattern)
{
	const struct sl_type_traits *t = sl_type_traits(type);
	const struct sl_type_traits *a = sl_type_traits(t->vec_dot_type);
	if (n % t->block_size)
		return;
	float *x = malloc(n * sizeof(float)), *xd = malloc(n * sizeof(float));
	float *v = malloc(n * sizeof(float)), *vd = malloc(n * sizeof(float));
	void *q = malloc(sl_row_size(type, n)), *vq = malloc(sl_row_size(t->vec_dot_type, n));
	for (int64_t i = 0; i < n; i++) {
		switch (pattern) {
		case 0: x[i] = tq_normal(); break;
		case 1: x[i] = tq_normal() * 0.02f + 0.01f; break;               /* small, offset: like weights */
		case 2: x[i] = (i % 97 == 0) ? 40.f * tq_normal() : tq_normal(); break; /* outliers */
		default: x[i] = (i / 16) % 3 == 0 ? 0.f : tq_normal(); break;     /* zero sub-blocks */
		}
		v[i] = tq_normal();
	}
	t->from_float(x, q, n);
	t->to_float(q, xd, n);
	double se = 0, sx = 0;
	for (int64_t i = 0; i < n; i++) {
		se += (double)(xd[i] - x[i]) * (xd[i] - x[i]);
		sx += (double)x[i] * x[i];
	}
	double rel = sx ? sqrt(se / sx) : 0;
	/* Outliers and zero runs make some types' error uneven; allow 2x there. */
	double bound = rmse_bound(type) * (pattern >= 2 ? 2 : 1) * (n < 128 ? 1.5 : 1); /* few blocks: noisier */
	CHECK_MSG(rel <= bound, "%s n=%lld pattern %d: relative rmse %.4g > %.4g", t->name, (long long)n, pattern, rel,
		 bound);

	a->from_float(v, vq, n);
	a->to_float(vq, vd, n);
	double ref = 0, mag = 0, exact = 0;
	for (int64_t i = 0; i < n; i++) {
		ref += (double)xd[i] * vd[i];
		mag += fabs((double)xd[i] * vd[i]);
		exact += (double)x[i] * v[i];
	}
	float s = 0;
	t->vec_dot(n, &s, q, vq);
	/* Float accumulation over n/block blocks (and fp16 d*d products): a few ulps of the magnitude. */
	double tol = 2e-6 * mag * (1 + log2((double)n)) + 1e-30;
	/* q8_1 stores s = d*sum(q) as fp16, and q4_1/q5_1 dots use m*s: add m's share of that rounding. */
	if (t->vec_dot_type == SL_TYPE_Q8_1)
		for (int64_t b = 0; b < n; b += 32) {
			double mx = 0, sv = 0;
			for (int j = 0; j < 32; j++) {
				mx = fmax(mx, fabs(xd[b + j]));
				sv += vd[b + j];
			}
			tol += mx * fabs(sv) * (1.0 / 1024);
		}
	CHECK_MSG(fabs(s - ref) <= tol, "%s n=%lld pattern %d: vec_dot %.9g vs float64 %.9g (tol %.3g)", t->name,
		 (long long)n, pattern, s, ref, tol);
	/* Against the unquantized dot: within the combined quantization error (Cauchy-Schwarz-ish bound). */
	double qtol = (rmse_bound(type) * 2 + 0.01) * sqrt(sx) * sqrt((double)n) * 1.5 + 1e-6;
	CHECK_MSG(fabs(s - exact) <= qtol, "%s n=%lld: vec_dot %.6g vs exact %.6g", t->name, (long long)n, s, exact);

	/* from_float is deterministic and to_float(from_float(to_float(q))) is a fixed point for 8-bit. */
	free(x), free(xd), free(v), free(vd), free(q), free(vq);
}

int main(void)
{
	static const int64_t lens[] = { 32, 64, 96, 256, 512, 768, 1280, 2048, 4096, 5120 };
	for (size_t ti = 0; ti < TQ_NW; ti++)
		for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
			for (int p = 0; p < 4; p++)
				one(tq_wtypes[ti], lens[li], p);

	/* All-zero input gives all-zero output and a zero dot for every type. */
	for (size_t ti = 0; ti < TQ_NW; ti++) {
		const struct sl_type_traits *t = sl_type_traits(tq_wtypes[ti]);
		float z[256] = { 0 }, o[256];
		unsigned char q[1024];
		t->from_float(z, q, 256);
		t->to_float(q, o, 256);
		for (int i = 0; i < 256; i++)
			CHECK_MSG(o[i] == 0.f, "%s: zero row dequantizes to %g", t->name, o[i]);
	}
	/* Sizes and names GGUF expects. */
	CHECK_MSG(sl_row_size(SL_TYPE_Q4_K, 4096) == 16 * 144, "q4_K row size");
	CHECK_MSG(sl_row_size(SL_TYPE_Q6_K, 256) == 210, "q6_K row size");
	CHECK_MSG(sl_row_size(SL_TYPE_Q8_K, 256) == 292, "q8_K row size");
	CHECK_MSG(sl_row_size(SL_TYPE_Q4_0, 33) == 0, "q4_0 misaligned");
	CHECK_MSG(sl_type_from_name("Q4_K") == SL_TYPE_Q4_K, "name q4_K");
	CHECK_MSG(sl_type_from_name("q5_1") == SL_TYPE_Q5_1, "name q5_1");
	printf("quant round-trip (%s kernels): %d failure(s)\n", sl_quant_isa(), t_failures);
	return t_failures ? 1 : 0;
}
