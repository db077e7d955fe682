/* SPDX-License-Identifier: MIT */
/*
 * test_quant_simd — the SIMD dots against the scalar reference dots, every
 * weight type, many lengths and value patterns.
 *
 * Why a bound and not bit-equality: both compute each block's integer dot
 * exactly, but SIMD keeps 8 float partial sums per block (and 8 accumulator
 * lanes across blocks) where the scalar code keeps one, so the same exact
 * terms are rounded in a different order.  Reassociating m float additions
 * changes the result by at most ~m * 2^-24 * sum|terms|; we allow
 * 4e-6 * (1 + log2 n) * sum|terms| (sum|terms| from the dequantized operands),
 * far below any real kernel bug (a wrong scale, nibble or sign is O(1)).
 * f16/bf16/f32 scalar dots accumulate in double, SIMD in float: same bound.
 * Conversions (to_float, from_float) are shared, so they are equal by construction.
 */
#include "test_quant_util.h"

#include <string.h>

int main(void)
{
	if (strcmp(sl_quant_isa(), "scalar") == 0) {
		printf("no SIMD kernels active on this CPU (or SLUICE_NO_SIMD set)\n");
		return 77;
	}
	static const int64_t lens[] = { 32, 256, 512, 1024, 2304, 4096, 11008 };
	int checked = 0;
	for (size_t ti = 0; ti < TQ_NW; ti++) {
		const uint32_t type = tq_wtypes[ti];
		const struct sl_type_traits *t = sl_type_traits(type), *ts = sl_type_traits_scalar(type);
		const struct sl_type_traits *a = sl_type_traits(t->vec_dot_type);
		TQ_CHECK(t->to_float == ts->to_float && t->from_float == ts->from_float, "%s: conversions differ", t->name);
		for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
			const int64_t n = lens[li];
			if (n % t->block_size)
				continue;
			for (int p = 0; p < 3; p++) {
				float *x = malloc(n * 4), *v = malloc(n * 4), *xd = malloc(n * 4), *vd = malloc(n * 4);
				void *q = malloc(sl_row_size(type, n)), *vq = malloc(sl_row_size(t->vec_dot_type, n));
				for (int64_t i = 0; i < n; i++) {
					x[i] = p == 0 ? tq_normal() : p == 1 ? tq_normal() * 1e-3f + 5e-4f : (i % 50 ? 0.1f : 30.f) * tq_normal();
					v[i] = p == 2 ? tq_normal() * 100.f : tq_normal();
				}
				t->from_float(x, q, n);
				a->from_float(v, vq, n);
				t->to_float(q, xd, n);
				a->to_float(vq, vd, n);
				double mag = 0;
				for (int64_t i = 0; i < n; i++)
					mag += fabs((double)xd[i] * vd[i]);
				float s_simd = 0, s_ref = 0;
				t->vec_dot(n, &s_simd, q, vq);
				ts->vec_dot(n, &s_ref, q, vq);
				double tol = 4e-6 * (1 + log2((double)n)) * mag + 1e-30;
				/* q4_1/q5_1: the m*s term is a float product either way; same bound applies. */
				TQ_CHECK(fabs((double)s_simd - s_ref) <= tol, "%s n=%lld p=%d: simd %.9g scalar %.9g (tol %.3g)",
					 t->name, (long long)n, p, s_simd, s_ref, tol);
				checked++;
				free(x), free(v), free(xd), free(vd), free(q), free(vq);
			}
		}
	}
	printf("scalar vs %s: %d dots checked, %d failure(s)\n", sl_quant_isa(), checked, tq_failures);
	return tq_failures ? 1 : 0;
}
