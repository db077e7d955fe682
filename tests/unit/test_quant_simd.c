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
 * and AVX-512 VNNI where present), whatever the dispatch level, on all
 * lengths of 1..40 blocks plus a few long rows.  The dispatched table must be
 * the widest family by default whatever the environment says (the library
 * reads none), and each level of sluice_set_cpu_features must select what it
 * names; then SLUICE_NO_SIMD / SLUICE_SIMD, mapped by this test as the CLI
 * maps them, must narrow it.
 */
#include "test_quant_util.h"
#include "sluice.h"

#include <errno.h>
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
	CHECK_MSG(fabs((double)s_simd - s_ref) <= tol, "%s %s n=%lld p=%d: simd %.9g scalar %.9g (tol %.3g)", isa,
		 t->name, (long long)n, p, s_simd, s_ref, tol);
	checked++;
	free(x), free(v), free(xd), free(vd), free(q), free(vq);
}

/* The dispatched table is family `want`, all of it. */
static void check_dispatch(const char *what, const char *want)
{
	CHECK_MSG(!strcmp(sl_quant_isa(), want), "%s: dispatched %s, expected %s", what, sl_quant_isa(), want);
	for (size_t ti = 0; ti < TQ_NW; ti++)
		CHECK_MSG(sl_type_traits(tq_wtypes[ti])->vec_dot == sl_type_traits_isa(tq_wtypes[ti], want)->vec_dot,
			 "%s: %s: dispatched dot is not the %s one", what, sl_type_name(tq_wtypes[ti]), want);
}

int main(void)
{
	static const char *const isas[] = { "avx2", "avx512vnni" };
	static const int64_t lens[] = { 2304, 4096, 11008 };
	const char *widest = "scalar";
	for (size_t k = 0; k < sizeof isas / sizeof isas[0]; k++)
		if (sl_type_traits_isa(SL_TYPE_Q4_K, isas[k]))
			widest = isas[k];
	const char *avx2 = sl_type_traits_isa(SL_TYPE_Q4_K, "avx2") ? "avx2" : "scalar";

	/* Dispatch: the widest family by default, environment or not; each level selects what it names,
	 * capped by what the CPU has; an unknown level changes nothing. */
	check_dispatch("default", widest);
	static const struct {
		const char *level;
		bool widest; /* else at most avx2, or scalar */
		bool scalar;
	} levels[] = {
		{ "scalar", false, true }, { "avx2", false, false }, { "avx512", true, false }, { "auto", true, false },
		{ "SCALAR", false, true }, { "AVX2", false, false }, { NULL, true, false },
	};
	for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
		const char *want = levels[i].scalar ? "scalar" : levels[i].widest ? widest : avx2;
		CHECK_MSG(sluice_set_cpu_features(levels[i].level) == 0, "level %s refused", levels[i].level);
		check_dispatch(levels[i].level ? levels[i].level : "NULL", want);
	}
	CHECK_MSG(sluice_set_cpu_features("scalar") == 0, "scalar");
	CHECK_MSG(sluice_set_cpu_features("avx9000") == -EINVAL && sluice_set_cpu_features("") == -EINVAL,
		 "unknown level accepted");
	check_dispatch("after an unknown level", "scalar");

	/* The environment, mapped here as the CLI maps it: SLUICE_NO_SIMD=1 -> scalar, SLUICE_SIMD=LEVEL. */
	const char *no_simd = getenv("SLUICE_NO_SIMD"), *cap = getenv("SLUICE_SIMD");
	const bool scalar_forced = no_simd && *no_simd && strcmp(no_simd, "0");
	const char *level = scalar_forced ? "scalar" : cap && *cap ? cap : "auto";
	CHECK_MSG(sluice_set_cpu_features(level) == 0, "SLUICE_SIMD=%s: unknown level", level);
	const char *want = scalar_forced ? "scalar" : !strcasecmp(level, "avx2") ? avx2
						     : !strcasecmp(level, "scalar") ? "scalar" : widest;
	check_dispatch("from the environment", want);

	if (!strcmp(widest, "scalar")) {
		printf("no SIMD kernels on this CPU\n");
		return t_failures ? 1 : 77;
	}

	for (size_t k = 0; k < sizeof isas / sizeof isas[0]; k++) {
		const char *isa = isas[k];
		if (!sl_type_traits_isa(SL_TYPE_Q4_K, isa)) {
			printf("%s: not available on this CPU, not checked\n", isa);
			continue;
		}
		const int before = checked, fails = t_failures;
		for (size_t ti = 0; ti < TQ_NW; ti++) {
			const uint32_t type = tq_wtypes[ti];
			const struct sl_type_traits *t = sl_type_traits_isa(type, isa), *ts = sl_type_traits_scalar(type);
			CHECK_MSG(t->to_float == ts->to_float && t->from_float == ts->from_float, "%s %s: conversions differ",
				 isa, t->name);
			for (int64_t nb = 1; nb <= 40; nb++)
				for (int p = 0; p < 3; p++)
					check_dot(isa, type, nb * t->block_size, p);
			for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
				if (lens[li] % t->block_size == 0)
					for (int p = 0; p < 3; p++)
						check_dot(isa, type, lens[li], p);
		}
		printf("scalar vs %s: %d dots checked, %d failure(s)\n", isa, checked - before, t_failures - fails);
	}
	printf("dispatched: %s\n", sl_quant_isa());
	return t_failures ? 1 : 0;
}
