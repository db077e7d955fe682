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
 *
 * Every kernel family this CPU can run is checked (sl_type_traits_isa: AVX2,
 * and AVX-512 VNNI where present), whatever SLUICE_NO_SIMD / SLUICE_SIMD say,
 * on all lengths of 1..40 blocks plus a few long rows; and the dispatched
 * table must be the widest family unless the environment narrows it.
 */
#include "test_quant_util.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

static int checked;

static void check_dot(const char *isa, uint32_t type, int64_t n, int p)
{
	const struct sl_type_traits *t = sl_type_traits_isa(type, isa), *ts = sl_type_traits_scalar(type);
	const struct sl_type_traits *a = sl_type_traits(t->vec_dot_type);
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
	TQ_CHECK(fabs((double)s_simd - s_ref) <= tol, "%s %s n=%lld p=%d: simd %.9g scalar %.9g (tol %.3g)", isa,
		 t->name, (long long)n, p, s_simd, s_ref, tol);
	checked++;
	free(x), free(v), free(xd), free(vd), free(q), free(vq);
}

int main(void)
{
	static const char *const isas[] = { "avx2", "avx512vnni" };
	static const int64_t lens[] = { 2304, 4096, 11008 };
	const char *no_simd = getenv("SLUICE_NO_SIMD"), *cap = getenv("SLUICE_SIMD");
	const bool scalar_forced = no_simd && *no_simd && strcmp(no_simd, "0");
	const char *widest = "scalar";
	for (size_t k = 0; k < sizeof isas / sizeof isas[0]; k++)
		if (sl_type_traits_isa(SL_TYPE_Q4_K, isas[k]))
			widest = isas[k];
	if (!strcmp(widest, "scalar")) {
		printf("no SIMD kernels on this CPU\n");
		return 77;
	}
	/* Dispatch: the widest family, unless SLUICE_NO_SIMD / SLUICE_SIMD=avx2 narrow it. */
	const char *want = scalar_forced ? "scalar" : (cap && !strcasecmp(cap, "avx2")) ? "avx2" : widest;
	TQ_CHECK(!strcmp(sl_quant_isa(), want), "dispatched %s, expected %s", sl_quant_isa(), want);
	for (size_t ti = 0; ti < TQ_NW; ti++)
		TQ_CHECK(sl_type_traits(tq_wtypes[ti])->vec_dot == sl_type_traits_isa(tq_wtypes[ti], want)->vec_dot,
			 "%s: dispatched dot is not the %s one", sl_type_name(tq_wtypes[ti]), want);

	for (size_t k = 0; k < sizeof isas / sizeof isas[0]; k++) {
		const char *isa = isas[k];
		if (!sl_type_traits_isa(SL_TYPE_Q4_K, isa)) {
			printf("%s: not available on this CPU, not checked\n", isa);
			continue;
		}
		const int before = checked, fails = tq_failures;
		for (size_t ti = 0; ti < TQ_NW; ti++) {
			const uint32_t type = tq_wtypes[ti];
			const struct sl_type_traits *t = sl_type_traits_isa(type, isa), *ts = sl_type_traits_scalar(type);
			TQ_CHECK(t->to_float == ts->to_float && t->from_float == ts->from_float, "%s %s: conversions differ",
				 isa, t->name);
			for (int64_t nb = 1; nb <= 40; nb++)
				for (int p = 0; p < 3; p++)
					check_dot(isa, type, nb * t->block_size, p);
			for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
				if (lens[li] % t->block_size == 0)
					for (int p = 0; p < 3; p++)
						check_dot(isa, type, lens[li], p);
		}
		printf("scalar vs %s: %d dots checked, %d failure(s)\n", isa, checked - before, tq_failures - fails);
	}
	printf("dispatched: %s\n", sl_quant_isa());
	return tq_failures ? 1 : 0;
}
