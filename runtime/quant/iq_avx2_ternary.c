/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/iq_avx2_ternary.c — AVX2 dots of the lowest-bit types: iq1_m and the ternary
 * tq1_0 / tq2_0 (iq_avx2.c has the others).
 *
 * Each block's integer sums are exact and reduced to one int32 before the block's float scale is
 * applied with the scalar dot's own expression, so these dots equal the scalar ones bit for bit
 * (test_quant_iq_simd checks them against scalar all the same, within quant.h's bound).
 *
 * The ternary values -1/0/+1 are handled as unsigned 0/1/2 (what the blocks store, q + 1) for
 * _mm256_maddubs_epi16, and the q8 block sum taken off once: sum((q-1)*y) = sum(q*y) - sum(y).
 * tq1_0's trits come from tq1_simd.h (shared with iq_avx512.c's dot).
 */
#include "quant/iq_blocks.h"
#include "quant/simd_x86.h"
#include "quant/tq1_simd.h"

#include <immintrin.h>

static inline int32_t hsum_epi32(__m256i v)
{
	__m128i r = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
	r = _mm_add_epi32(r, _mm_unpackhi_epi64(r, r));
	r = _mm_add_epi32(r, _mm_shuffle_epi32(r, 1));
	return _mm_cvtsi128_si32(r);
}

/* Signed x signed bytes, adjacent pairs summed to int16 (|x|, |y| <= 127). */
static inline __m256i mul_add_epi8(__m256i x, __m256i y)
{
	return _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

/*
 * tq2_0: four 2-bit fields per byte, 128 elements per 32 bytes.  The maddubs pairs stay int16 across
 * the block (each pair is at most 2 * 3 * 128 = 768 in magnitude even for the unused code 3, so 4 of
 * them and a q8 block sum of 16 stay far inside int16), the q8 sums come off as one vector of the 16
 * bsums, and one madd widens to int32 before the block's reduction.
 */
static void tq2_0_dot_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_tq2_0 *x = vx;
	const struct block_q8_K *y = vy;
	const __m256i m3 = _mm256_set1_epi8(3);
	float sumf = 0.f;
	for (int64_t i = 0; i < n / QK_K; ++i) {
		const int8_t *q8 = y[i].qs;
		__m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
		for (size_t j = 0; j < sizeof x->qs; j += 32, q8 += 128) {
			const __m256i qx = _mm256_loadu_si256((const __m256i *)(x[i].qs + j));
			const __m256i p0 = _mm256_maddubs_epi16(_mm256_and_si256(qx, m3), _mm256_loadu_si256((const __m256i *)q8));
			const __m256i p1 = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(qx, 2), m3),
								_mm256_loadu_si256((const __m256i *)(q8 + 32)));
			const __m256i p2 = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(qx, 4), m3),
								_mm256_loadu_si256((const __m256i *)(q8 + 64)));
			const __m256i p3 = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(qx, 6), m3),
								_mm256_loadu_si256((const __m256i *)(q8 + 96)));
			s0 = _mm256_add_epi16(s0, _mm256_add_epi16(p0, p1));
			s1 = _mm256_add_epi16(s1, _mm256_add_epi16(p2, p3));
		}
		const __m256i s16 = _mm256_sub_epi16(_mm256_add_epi16(s0, s1), _mm256_loadu_si256((const __m256i *)y[i].bsums));
		const int32_t sum = hsum_epi32(_mm256_madd_epi16(s16, _mm256_set1_epi16(1)));
		sumf += (float)sum * (_cvtsh_ss(x[i].d) * y[i].d);
	}
	*s = sumf;
}

/*
 * tq1_0: the block's trits from tq1_simd.h; the maddubs pairs stay int16 across the block (each
 * at most 2 * 2 * 128 = 512, three per lane plus a q8 block sum of 16), the q8 sums come off as
 * the vector of the 16 bsums, and one madd widens to int32 before the block's reduction.
 */
static void tq1_0_dot_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_tq1_0 *x = vx;
	const struct block_q8_K *y = vy;
	float sumf = 0.f;
	for (int64_t i = 0; i < n / QK_K; ++i) {
		__m256i t[8];
		tq1_0_trits(&x[i], t);
		const __m256i *q8 = (const __m256i *)y[i].qs;
		__m256i s0 = _mm256_sub_epi16(_mm256_maddubs_epi16(t[0], _mm256_loadu_si256(q8)),
					      _mm256_loadu_si256((const __m256i *)y[i].bsums));
		__m256i s1 = _mm256_maddubs_epi16(t[1], _mm256_loadu_si256(q8 + 1));
		s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(t[2], _mm256_loadu_si256(q8 + 2)));
		s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(t[3], _mm256_loadu_si256(q8 + 3)));
		s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(t[4], _mm256_loadu_si256(q8 + 4)));
		s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(t[5], _mm256_loadu_si256(q8 + 5)));
		s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(t[6], _mm256_loadu_si256(q8 + 6)));
		s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(t[7], _mm256_loadu_si256(q8 + 7)));
		const int32_t sum = hsum_epi32(_mm256_madd_epi16(_mm256_add_epi16(s0, s1), _mm256_set1_epi16(1)));
		sumf += (float)sum * (_cvtsh_ss(x[i].d) * y[i].d);
	}
	*s = sumf;
}

/*
 * iq1_m: per 32, four 8-element grid entries (11-bit indices), a 3-bit scale per 16 and a delta
 * sign per 8.  The grid bytes are -1/0/+1; the delta term is the q8 sum of each group of 8 times
 * its sign, taken with a +-1 byte vector.
 */
static void iq1_m_dot_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq1_m *x = vx;
	const struct block_q8_K *y = vy;
	const long long plus = 0x0101010101010101LL, minus = -1LL;
	float sumf = 0.f;
	for (int64_t i = 0; i < n / QK_K; ++i) {
		uint16_t sc[4];
		memcpy(sc, x[i].scales, sizeof sc);
		const int8_t *q8 = y[i].qs;
		const uint8_t *qs = x[i].qs, *qh = x[i].qh;
		__m256i acc1 = _mm256_setzero_si256(), acc2 = _mm256_setzero_si256();
		for (int ib = 0; ib < QK_K / 32; ++ib, qs += 4, qh += 2, q8 += 32) {
			const int16_t ls0 = (int16_t)(2 * ((sc[ib / 2] >> (6 * (ib % 2) + 0)) & 0x7) + 1);
			const int16_t ls1 = (int16_t)(2 * ((sc[ib / 2] >> (6 * (ib % 2) + 3)) & 0x7) + 1);
			const __m256i ls = _mm256_set_m128i(_mm_set1_epi16(ls1), _mm_set1_epi16(ls0));
			const uint8_t h0 = qh[0], h1 = qh[0] >> 4, h2 = qh[1], h3 = qh[1] >> 4;
			const __m256i grid = _mm256_set_epi64x((long long)sl_iq1s_grid[qs[3] | ((h3 & 7) << 8)],
							       (long long)sl_iq1s_grid[qs[2] | ((h2 & 7) << 8)],
							       (long long)sl_iq1s_grid[qs[1] | ((h1 & 7) << 8)],
							       (long long)sl_iq1s_grid[qs[0] | ((h0 & 7) << 8)]);
			const __m256i delta = _mm256_set_epi64x(h3 & 8 ? minus : plus, h2 & 8 ? minus : plus,
								h1 & 8 ? minus : plus, h0 & 8 ? minus : plus);
			const __m256i y8 = _mm256_loadu_si256((const __m256i *)q8);
			acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(mul_add_epi8(grid, y8), ls));
			acc2 = _mm256_add_epi32(acc2, _mm256_madd_epi16(mul_add_epi8(delta, y8), ls));
		}
		const int32_t sumi1 = hsum_epi32(acc1), sumi2 = hsum_epi32(acc2);
		sumf += FP16(sl_iq1m_d(&x[i])) * y[i].d * (sumi1 + IQ1M_DELTA * sumi2);
	}
	*s = sumf;
}

void sl_quant_iq_avx2_ternary_kernels(uint32_t type, struct sl_kernels *k)
{
	switch (type) {
	case SL_TYPE_IQ1_M: k->vec_dot = iq1_m_dot_avx2; break;
	case SL_TYPE_TQ1_0: k->vec_dot = tq1_0_dot_avx2; break;
	case SL_TYPE_TQ2_0: k->vec_dot = tq2_0_dot_avx2; break;
	default: break;
	}
}
