/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/iq_avx512_iq1.c — AVX-512 VNNI dots of the 1-bit grid types iq1_s and iq1_m
 * (iq_avx512.c has the others; sl_quant_iq_avx512_kernels calls sl_quant_iq_avx512_iq1_kernels).
 * Compiled with the AVX-512 flags; only installed after quant.c checked CPUID and XCR0.
 *
 * The grid bytes are -1/0/+1, so _mm256_sign_epi8(q8, grid) is already grid * q8: one sign, and
 * vpdpbusd multiplies it by the sub-block scale given as unsigned bytes (1..15) straight into
 * int32 lanes (AVX2 needs two signs, maddubs and madd).  Grid entries are fetched by scalar index
 * and assembled with set_epi64x; the four 11-bit indices of a sub-block come packed in one 64-bit
 * word from two BMI2 pdep (llama.cpp's way).  Measured on Zen 4: indices computed for the whole
 * block in SIMD and read back through memory ran at two thirds of the speed (the 16-bit loads
 * wait on the vector store), gcc's vpextrw extraction slower still, a 64-bit gather 10% slower.
 * IQ1S_DELTA = IQ1M_DELTA = 1/8 makes each block d / 8 * (8 * grid sum + delta sum): one exact
 * integer vector, FMA'd into float lanes, no reduction per block (one cost 5%).  The float
 * accumulation order differs from the scalar dot's (quant.h's contract; test_quant_iq_simd checks
 * the bound).  BMI2 is checked at run time with the rest (sl_quant_iq_avx512_iq1_kernels).
 */
#include "quant/iq_blocks.h"
#include "quant/iq_simd.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512VNNI__)
#include <immintrin.h>

/* The four grid entries whose 11-bit indices are the 16-bit fields of p. */
static inline __m256i iq1_grid_packed(uint64_t p)
{
	return _mm256_set_epi64x((long long)sl_iq1s_grid[p >> 48], (long long)sl_iq1s_grid[(p >> 32) & 0xffff],
				 (long long)sl_iq1s_grid[(p >> 16) & 0xffff], (long long)sl_iq1s_grid[p & 0xffff]);
}

/*
 * iq1_m: per 32, four grid entries (11-bit indices: qs byte, 3 bits of a qh nibble), a 3-bit scale
 * per 16 and a delta sign per 8 (bit 3 of the qh nibble).  The 16 scales are unpacked at once
 * (llama.cpp's 64-bit variable shifts: the low lane gets each sub-block's first scale, the high
 * lane its second), and each sub-block's pair is a pshufb of them.  The delta signs: qh bytes with
 * bit 3 moved to bit 7 and as they are (| 1, never zero for _mm256_sign_epi8), eight of each in a
 * lane, so one pshufb per sub-block gives each 8-byte group copies of its sign byte.
 */
/* One sub-block: grid and delta dots, each times the scale bytes ls, into their accumulators. */
static inline void iq1m_sub(__m256i *acc1, __m256i *acc2, __m256i y8, __m256i grid, __m256i delta, __m256i ls)
{
	*acc1 = _mm256_dpbusd_epi32(*acc1, ls, _mm256_sign_epi8(y8, grid));
	*acc2 = _mm256_dpbusd_epi32(*acc2, ls, _mm256_sign_epi8(y8, delta));
}

/* The per-block state of iq1_m_dot_vnni. */
struct iq1m_acc {
	__m256i g0, g1, d0, d1; /* grid and delta sums of even and odd sub-blocks */
	__m256i sc, dq0, dq1;   /* scale words; delta-sign bytes of sub-blocks 0-3 and 4-7 */
	const uint8_t *qs, *qh;
	const __m256i *q8;
};

/* Sub-blocks 2k and 2k+1 (k a constant: called written out, as -O2 does not unroll the loop and the
 * pshufb patterns would be built at run time): scale words k and 4 + k; delta bytes of qh 4k .. 4k+3
 * at 4k mod 8 in dq0 (k < 2) or dq1, groups 0, 1 from the b and a bytes of qh 2ib, 2, 3 of qh 2ib+1. */
__attribute__((target("bmi2"))) static inline void iq1m_pair(struct iq1m_acc *a, const int k)
{
	const __m256i dq = k < 2 ? a->dq0 : a->dq1;
	const char o = (char)(4 * (k & 1));
	const __m256i sel0 = _mm256_setr_epi8(o, o, o, o, o, o, o, o, o + 8, o + 8, o + 8, o + 8, o + 8, o + 8, o + 8, o + 8,
					     o + 1, o + 1, o + 1, o + 1, o + 1, o + 1, o + 1, o + 1, o + 9, o + 9, o + 9, o + 9,
					     o + 9, o + 9, o + 9, o + 9);
	const __m256i sel1 = _mm256_add_epi8(sel0, _mm256_set1_epi8(2));
	uint32_t q4[2], h4;
	memcpy(q4, a->qs + 8 * k, sizeof q4);
	memcpy(&h4, a->qh + 4 * k, sizeof h4);
	const uint64_t p0 = _pdep_u64(q4[0], 0x00ff00ff00ff00ffULL) | _pdep_u64(h4 & 0x7777, 0x0f000f000f000f00ULL);
	const uint64_t p1 = _pdep_u64(q4[1], 0x00ff00ff00ff00ffULL) | _pdep_u64((h4 >> 16) & 0x7777, 0x0f000f000f000f00ULL);
	iq1m_sub(&a->g0, &a->d0, _mm256_loadu_si256(a->q8 + 2 * k), iq1_grid_packed(p0), _mm256_shuffle_epi8(dq, sel0),
		 _mm256_shuffle_epi8(a->sc, _mm256_set1_epi8((char)(2 * k))));
	iq1m_sub(&a->g1, &a->d1, _mm256_loadu_si256(a->q8 + 2 * k + 1), iq1_grid_packed(p1),
		 _mm256_shuffle_epi8(dq, sel1), _mm256_shuffle_epi8(a->sc, _mm256_set1_epi8((char)(8 + 2 * k))));
}

__attribute__((target("bmi2"))) static void iq1_m_dot_vnni(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq1_m *x = vx;
	const struct block_q8_K *y = vy;
	__m256 accf = _mm256_setzero_ps();
	for (int64_t i = 0; i < n / QK_K; ++i) {
		struct iq1m_acc a = { .sc = iq1m_scales(&x[i]), .q8 = (const __m256i *)y[i].qs };
		iq1m_delta_signs(&x[i], &a.dq0, &a.dq1);
		a.g0 = a.g1 = a.d0 = a.d1 = _mm256_setzero_si256();
		a.qs = x[i].qs;
		a.qh = x[i].qh;
		/* two accumulators each for grid and delta: four dpbusd in a chain per block, not eight */
		iq1m_pair(&a, 0);
		iq1m_pair(&a, 1);
		iq1m_pair(&a, 2);
		iq1m_pair(&a, 3);
		const __m256i S = _mm256_add_epi32(_mm256_slli_epi32(_mm256_add_epi32(a.g0, a.g1), 3), _mm256_add_epi32(a.d0, a.d1));
		accf = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(sl_iq1m_d(&x[i])) * y[i].d), _mm256_cvtepi32_ps(S), accf);
	}
	*s = IQ1M_DELTA * hsum_ps8(accf);
}

/*
 * iq1_s: per 32, four grid entries (qs byte | 3 bits of the sub-block's qh word), one 3-bit scale
 * and one delta sign (qh bits 12-14, 15).  The delta term needs no dot: it is the scale times the
 * sign times the sub-block's two bsums, one madd for the block.
 */
__attribute__((target("bmi2"))) static inline void iq1s_sub(__m256i *acc, const struct block_iq1_s *x, const int8_t *q8,
							      __m256i ls8, int ib)
{
	const __m256i ls = _mm256_shuffle_epi8(ls8, _mm256_set1_epi8((char)(2 * ib)));
	const __m256i y8 = _mm256_loadu_si256((const __m256i *)(q8 + 32 * ib));
	uint32_t q4;
	memcpy(&q4, x->qs + 4 * ib, 4);
	const uint64_t p = _pdep_u64(q4, 0x00ff00ff00ff00ffULL) | _pdep_u64(x->qh[ib], 0x0700070007000700ULL);
	*acc = _mm256_dpbusd_epi32(*acc, ls, _mm256_sign_epi8(y8, iq1_grid_packed(p)));
}

__attribute__((target("bmi2"))) static void iq1_s_dot_vnni(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq1_s *x = vx;
	const struct block_q8_K *y = vy;
	__m256 accf = _mm256_setzero_ps();
	for (int64_t i = 0; i < n / QK_K; ++i) {
		__m256i delta;
		const __m256i ls8 = iq1s_scales_delta(&x[i], &y[i], &delta);
		const int8_t *q8 = y[i].qs;
		__m256i a0 = _mm256_setzero_si256(), a1 = a0;
		IQ1S_SUBS8(iq1s_sub, a0, a1, &x[i], q8, ls8);
		const __m256i S = _mm256_add_epi32(_mm256_slli_epi32(_mm256_add_epi32(a0, a1), 3), delta);
		accf = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(x[i].d) * y[i].d), _mm256_cvtepi32_ps(S), accf);
	}
	*s = IQ1S_DELTA * hsum_ps8(accf);
}

void sl_quant_iq_avx512_iq1_kernels(uint32_t type, struct sl_kernels *k)
{
	/* every AVX-512 CPU has BMI2, but quant.c checks only the AVX-512 features: without it the
	 * AVX2 dots stay */
	if (!__builtin_cpu_supports("bmi2"))
		return;
	switch (type) {
	case SL_TYPE_IQ1_M: k->vec_dot = iq1_m_dot_vnni; break;
	case SL_TYPE_IQ1_S: k->vec_dot = iq1_s_dot_vnni; break;
	default: break;
	}
}

#else /* built without AVX-512 flags: nothing to offer */
void sl_quant_iq_avx512_iq1_kernels(uint32_t type, struct sl_kernels *k)
{
	(void)type;
	(void)k;
}
#endif
