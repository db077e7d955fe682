/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/iq_simd.h — AVX2-level helpers shared by the i-quant dot files of both x86
 * families (iq_avx2*.c and iq_avx512*.c): the per-block scale and delta set-up of iq1_s and iq1_m,
 * which is the same whichever instruction then multiplies.  Only AVX2/FMA/F16C intrinsics here:
 * the AVX2 files are compiled without AVX-512 flags, so an AVX-512 helper belongs in an
 * AVX-512-only file.  Outside files compiled with those flags it defines nothing.
 */
#ifndef SLUICE_IQ_SIMD_H
#define SLUICE_IQ_SIMD_H

#include "quant/iq_blocks.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#include <string.h>

/* Sum of the 8 floats of x. */
static inline float hsum_ps8(__m256 x)
{
	__m128 r = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
	r = _mm_add_ps(r, _mm_movehl_ps(r, r));
	r = _mm_add_ss(r, _mm_movehdup_ps(r));
	return _mm_cvtss_f32(r);
}

/*
 * iq1_s block set-up: returns the scales 2 * ls + 1 as words (byte 2ib is sub-block ib's), in
 * both lanes, and sets *delta to the int32 delta sums: each sub-block's scale, negated where its
 * qh bit 15 is set, times its two bsums (one madd for the block, no dot needed).
 */
static inline __m256i iq1s_scales_delta(const struct block_iq1_s *x, const struct block_q8_K *y, __m256i *delta)
{
	const __m128i qh = _mm_loadu_si128((const __m128i *)x->qh);
	__m128i lsw = _mm_and_si128(_mm_srli_epi16(qh, 12), _mm_set1_epi16(7));
	lsw = _mm_add_epi16(_mm_add_epi16(lsw, lsw), _mm_set1_epi16(1));
	const __m128i w = _mm_sign_epi16(lsw, _mm_or_si128(qh, _mm_set1_epi16(1)));
	const __m256i w16 = _mm256_set_m128i(_mm_unpackhi_epi16(w, w), _mm_unpacklo_epi16(w, w));
	*delta = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y->bsums), w16);
	return _mm256_broadcastsi128_si256(lsw);
}

/*
 * The eight sub-blocks of an iq1_s block, sub(acc, x, q8, ls8, ib) each, alternating between two
 * accumulators so consecutive sub-blocks do not wait on each other.  Written out rather than looped,
 * so the schedule the kernels were measured with does not depend on the compiler's unrolling.
 */
#define IQ1S_SUBS8(sub, a0, a1, x, q8, ls8) \
	do {                                  \
		sub(&(a0), x, q8, ls8, 0);    \
		sub(&(a1), x, q8, ls8, 1);    \
		sub(&(a0), x, q8, ls8, 2);    \
		sub(&(a1), x, q8, ls8, 3);    \
		sub(&(a0), x, q8, ls8, 4);    \
		sub(&(a1), x, q8, ls8, 5);    \
		sub(&(a0), x, q8, ls8, 6);    \
		sub(&(a1), x, q8, ls8, 7);    \
	} while (0)

/*
 * iq1_m scales 2 * s + 1 as int16 words; low lane: the first scales of sub-blocks 0 2 4 6 1 3 5 7,
 * high lane: the second.
 */
static inline __m256i iq1m_scales(const struct block_iq1_m *x)
{
	uint64_t sc64;
	memcpy(&sc64, x->scales, sizeof sc64);
	__m256i sc = _mm256_srlv_epi64(_mm256_set1_epi64x((long long)sc64), _mm256_setr_epi64x(0, 6, 3, 9));
	sc = _mm256_and_si256(sc, _mm256_set1_epi16(7));
	return _mm256_add_epi16(_mm256_add_epi16(sc, sc), _mm256_set1_epi16(1));
}

/*
 * iq1_m delta signs: the qh bytes with the low nibble's delta bit moved to bit 7 (b) and as they
 * are (a), | 1; *dq0 = b[0..7] a[0..7] in both lanes (sub-blocks 0-3), *dq1 = b[8..15] a[8..15]
 * (sub-blocks 4-7).
 */
static inline void iq1m_delta_signs(const struct block_iq1_m *x, __m256i *dq0, __m256i *dq1)
{
	const __m128i qh = _mm_loadu_si128((const __m128i *)x->qh);
	const __m128i qa = _mm_or_si128(qh, _mm_set1_epi8(1));
	const __m128i qb = _mm_or_si128(_mm_slli_epi16(qh, 4), _mm_set1_epi8(1));
	*dq0 = _mm256_broadcastsi128_si256(_mm_unpacklo_epi64(qb, qa));
	*dq1 = _mm256_broadcastsi128_si256(_mm_unpackhi_epi64(qb, qa));
}
#endif

#endif
