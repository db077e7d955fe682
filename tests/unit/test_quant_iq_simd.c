/* SPDX-License-Identifier: MIT */
/*
 * test_quant_iq_simd — the i-quants' SIMD dots against their scalar reference
 * dots, as test_quant_simd does for the other types: every kernel family the
 * CPU can run, 1..40 blocks and a few long rows, three activation patterns,
 * on random blocks (random bits, finite fp16 scale).  Both sides sum each
 * block exactly in integers, so they differ only in float accumulation order:
 * allowed 4e-6 * (1 + log2 n) * sum|terms| (see test_quant_simd.c).  Some
 * avx512vnni dots (iq4_xs, tq1_0, tq2_0) reduce each block to the scalar dot's
 * float expression and must equal it bit for bit; the AVX2 iq1_m, tq1_0 and
 * tq2_0 dots accumulate in float lanes across blocks, as llama.cpp's do, so
 * they are held to the tolerance alone.
 */
#include "test_quant_iq_util.h"

static int checked, replaced;

static void check_dot(const char *isa, const struct iq_case *c, int64_t nblk, int p)
{
	const struct sl_type_traits *t = sl_type_traits_isa(c->type, isa), *ts = sl_type_traits_scalar(c->type);
	const struct sl_type_traits *a = sl_type_traits(t->vec_dot_type);
	const int64_t n = nblk * t->block_size;
	unsigned char *w = malloc(nblk * t->type_size);
	void *vq = malloc(sl_row_size(t->vec_dot_type, n));
	float *v = malloc(n * 4), *wd = malloc(n * 4), *vd = malloc(n * 4);
	iq_random_blocks(c, t->type_size, w, (int)nblk);
	for (int64_t i = 0; i < n; i++)
		v[i] = p == 0 ? tq_normal() : p == 1 ? tq_normal() * 100.f : (i % 50 ? 0.1f : 30.f) * tq_normal();
	a->from_float(v, vq, n);
	a->to_float(vq, vd, n);
	t->to_float(w, wd, n);
	double mag = 0;
	for (int64_t i = 0; i < n; i++)
		mag += fabs((double)wd[i] * vd[i]);
	float s_simd = 0, s_ref = 0;
	t->vec_dot(n, &s_simd, w, vq);
	ts->vec_dot(n, &s_ref, w, vq);
	const double tol = 4e-6 * (1 + log2((double)n)) * mag + 1e-30;
	CHECK_MSG(fabs((double)s_simd - s_ref) <= tol, "%s %s n=%lld p=%d: simd %.9g scalar %.9g (tol %.3g)", isa, t->name,
		 (long long)n, p, s_simd, s_ref, tol);
	/* iq_avx512.c reduces each of these blocks to the scalar dot's integers and float expression */
	if (!strcmp(isa, "avx512vnni") && (c->type == SL_TYPE_IQ4_XS || c->type == SL_TYPE_TQ2_0 || c->type == SL_TYPE_TQ1_0))
		CHECK_MSG(s_simd == s_ref, "%s %s n=%lld p=%d: simd %.9g, scalar %.9g: not bit-exact", isa, t->name,
			  (long long)n, p, s_simd, s_ref);
	checked++;
	free(w), free(vq), free(v), free(wd), free(vd);
}

int main(void)
{
	static const char *const isas[] = { "avx2", "avx512vnni" };
	int families = 0;
	for (size_t k = 0; k < sizeof isas / sizeof isas[0]; k++) {
		const char *isa = isas[k];
		if (!sl_type_traits_isa(SL_TYPE_IQ4_XS, isa)) {
			printf("%s: not available on this CPU, not checked\n", isa);
			continue;
		}
		families++;
		for (size_t c = 0; c < IQ_NCASES; c++) {
			const struct sl_type_traits *t = sl_type_traits_isa(iq_cases[c].type, isa);
			const struct sl_type_traits *ts = sl_type_traits_scalar(iq_cases[c].type);
			CHECK_MSG(t->to_float == ts->to_float && t->from_float == ts->from_float, "%s %s: conversions differ",
				 isa, t->name);
			if (t->vec_dot == ts->vec_dot)
				continue; /* no SIMD dot for this type: the scalar one is used */
			replaced++;
			const int64_t per = t->block_size == 32 ? 8 : 1;
			for (int64_t nb = 1; nb <= 40; nb++)
				for (int p = 0; p < 3; p++)
					check_dot(isa, &iq_cases[c], nb * per, p);
			for (int p = 0; p < 3; p++) {
				check_dot(isa, &iq_cases[c], 16 * per, p);
				check_dot(isa, &iq_cases[c], 43 * per, p);
			}
		}
	}
	if (!families) {
		printf("no SIMD kernels on this CPU\n");
		return t_failures ? 1 : 77;
	}
	/* The types R1's low-bit files use most must have SIMD dots wherever AVX2 is there. */
	static const uint32_t must[] = { SL_TYPE_IQ4_XS, SL_TYPE_IQ2_XXS, SL_TYPE_IQ3_XXS, SL_TYPE_IQ1_S,
					 SL_TYPE_IQ1_M, SL_TYPE_TQ1_0, SL_TYPE_TQ2_0 };
	for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
		CHECK_MSG(sl_type_traits_isa(must[i], "avx2")->vec_dot != sl_type_traits_scalar(must[i])->vec_dot,
			 "%s: no AVX2 dot", sl_type_name(must[i]));
	/* Where AVX-512 VBMI is there too, the grid types' avx512vnni dots are iq_avx512_grid.c's, not
	 * the AVX2 ones inherited: so the checks above covered them. */
#if defined(__x86_64__) || defined(__i386__)
	__builtin_cpu_init();
	if (sl_type_traits_isa(SL_TYPE_IQ2_XXS, "avx512vnni") && __builtin_cpu_supports("avx512vbmi") &&
	    __builtin_cpu_supports("bmi2")) {
		static const uint32_t grid[] = { SL_TYPE_IQ2_XXS, SL_TYPE_IQ2_XS, SL_TYPE_IQ2_S, SL_TYPE_IQ3_XXS, SL_TYPE_IQ3_S };
		for (size_t i = 0; i < sizeof grid / sizeof grid[0]; i++)
			CHECK_MSG(sl_type_traits_isa(grid[i], "avx512vnni")->vec_dot != sl_type_traits_isa(grid[i], "avx2")->vec_dot,
				 "%s: no AVX-512 dot though the CPU has VBMI", sl_type_name(grid[i]));
	}
#endif
	printf("%d SIMD dots (%d type/family pairs) checked against scalar, %d failure(s)\n", checked, replaced, t_failures);
	return t_failures ? 1 : 0;
}
