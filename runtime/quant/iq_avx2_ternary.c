/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/iq_avx2_ternary.c — AVX2 dots of the lowest-bit types: iq1_m and the ternary
 * tq1_0 / tq2_0 (iq_avx2.c has the others).
 *
 * Each block's integer sums are exact int32 lanes; they are converted to float and FMA'd, times the
 * block's scale, into float lanes that are summed once per row, as llama.cpp does: a horizontal
 * reduction and the scalar dot's float expression per block cost iq1_m and tq1_0 a tenth of their
 * speed.  So the float accumulation order differs from the scalar dots' (quant.h's contract;
 * test_quant_iq_simd checks the bound).
 *
 * The ternary values -1/0/+1 are handled as unsigned 0/1/2 (what the blocks store, q + 1) for
 * _mm256_maddubs_epi16, and the q8 block sum taken off once: sum((q-1)*y) = sum(q*y) - sum(y).
 * tq1_0's trits come from tq1_simd.h (shared with iq_avx512.c's dot).
 */
#include "quant/iq_blocks.h"
#include "quant/iq_simd.h"
#include "quant/simd_x86.h"
#include "quant/tq1_simd.h"

#include <immintrin.h>

/*
 * tq2_0: four 2-bit fields per byte, 128 elements per 32 bytes.  The maddubs pairs stay int16 across
 * the block (each pair is at most 2 * 3 * 128 = 768 in magnitude even for the unused code 3, so 4 of
 * them and a q8 block sum of 16 stay far inside int16), the q8 sums come off as one vector of the 16
 * bsums, and one madd widens to int32.
 */
/* tq2_0: a block's integer sum, as int32 lanes. */
static inline __m256i tq2_0_block(const struct block_tq2_0 *x, const struct block_q8_K *y)
{
	const __m256i m3 = _mm256_set1_epi8(3);
	const int8_t *q8 = y->qs;
	__m256i s0 = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_loadu_si256((const __m256i *)y->bsums));
	__m256i s1 = _mm256_setzero_si256();
	for (size_t j = 0; j < sizeof x->qs; j += 32, q8 += 128) {
		const __m256i qx = _mm256_loadu_si256((const __m256i *)(x->qs + j));
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
	return _mm256_madd_epi16(_mm256_add_epi16(s0, s1), _mm256_set1_epi16(1));
}

static void tq2_0_dot_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_tq2_0 *x = vx;
	const struct block_q8_K *y = vy;
	__m256 acc = _mm256_setzero_ps();
	for (int64_t i = 0; i < n / QK_K; ++i)
		acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(x[i].d) * y[i].d), _mm256_cvtepi32_ps(tq2_0_block(&x[i], &y[i])), acc);
	*s = hsum8(acc);
}

/*
 * tq1_0: the block's trits from tq1_simd.h; the maddubs pairs stay int16 across the block (each
 * at most 2 * 2 * 128 = 512, three per lane plus a q8 block sum of 16), the q8 sums come off as
 * the vector of the 16 bsums, and one madd widens to int32.
 */
static void tq1_0_dot_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_tq1_0 *x = vx;
	const struct block_q8_K *y = vy;
	__m256 acc = _mm256_setzero_ps();
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
		const __m256i sum = _mm256_madd_epi16(_mm256_add_epi16(s0, s1), _mm256_set1_epi16(1));
		acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(x[i].d) * y[i].d), _mm256_cvtepi32_ps(sum), acc);
	}
	*s = hsum8(acc);
}

/*
 * iq1_m: per 32, four 8-element grid entries (11-bit indices), a 3-bit scale per 16 and a delta
 * sign per 8.  The 32 indices of a block are built in SIMD (qs bytes interleaved with the qh
 * nibbles & 7) and stored to a small buffer one block ahead of their use, then read back as 16-bit
 * loads to address the grid: a fifth of the scalar work of building each index apart (llama.cpp
 * uses pdep, microcoded on Zen 1/2, so not here).  One block ahead matters: read back in the same
 * block, the loads wait on the stores and the dot ran at 0.92-0.96x llama.cpp's, against 1.03-1.05x.  The grid bytes are -1/0/+1, so one sign gives grid * q8, and maddubs multiplies it
 * by the scale bytes (unsigned, 1..15) into int16 pairs of at most 2 * 15 * 128 = 3840: eight
 * sub-blocks of them still fit in int16, so one madd per block widens them.  The same for the
 * delta signs.  The 16 scales are unpacked at once (llama.cpp's 64-bit variable shifts: the low
 * lane gets each sub-block's first scale, the high lane its second) and picked by pshufb; the delta
 * sign bytes: qh bytes with bit 3 moved to bit 7 and as they are (| 1: never zero for the sign),
 * eight of each in a lane, one pshufb per sub-block.  With IQ1M_DELTA = 1/8 the block's
 * sumi1 + sumi2 / 8 is (8 * sumi1 + sumi2) / 8: one exact int32 vector per block, and the 1/8 is
 * applied once, to the row's sum.
 */
/* The block's 32 11-bit grid indices: qs byte j, and 3 bits of qh nibble j (low nibble first). */
static inline void iq1m_indices(const struct block_iq1_m *x, uint16_t idx[32])
{
	const __m128i qh = _mm_loadu_si128((const __m128i *)x->qh), m7 = _mm_set1_epi8(7);
	const __m128i lo = _mm_and_si128(qh, m7), hi = _mm_and_si128(_mm_srli_epi16(qh, 4), m7);
	const __m128i na = _mm_unpacklo_epi8(lo, hi), nb = _mm_unpackhi_epi8(lo, hi);
	const __m128i qa = _mm_loadu_si128((const __m128i *)x->qs), qb = _mm_loadu_si128((const __m128i *)(x->qs + 16));
	_mm_storeu_si128((__m128i *)idx, _mm_unpacklo_epi8(qa, na));
	_mm_storeu_si128((__m128i *)(idx + 8), _mm_unpackhi_epi8(qa, na));
	_mm_storeu_si128((__m128i *)(idx + 16), _mm_unpacklo_epi8(qb, nb));
	_mm_storeu_si128((__m128i *)(idx + 24), _mm_unpackhi_epi8(qb, nb));
}

static inline __m256i iq1m_grid(const uint16_t *idx)
{
	return _mm256_set_epi64x((long long)sl_iq1s_grid[idx[3]], (long long)sl_iq1s_grid[idx[2]],
				 (long long)sl_iq1s_grid[idx[1]], (long long)sl_iq1s_grid[idx[0]]);
}

/* Sub-blocks 2k and 2k+1 of a block (k a constant: called written out, so the pshufb patterns fold):
 * scale words k and 4 + k; delta bytes of qh 4k .. 4k+3 at 4k mod 8 in dq. */
static inline void iq1m_pair(__m256i *g, __m256i *d, __m256i sc, __m256i dq, const uint16_t *idx, const int8_t *q8,
			     const int k)
{
	const char o = (char)(4 * (k & 1));
	const __m256i sel0 = _mm256_setr_epi8(o, o, o, o, o, o, o, o, o + 8, o + 8, o + 8, o + 8, o + 8, o + 8, o + 8, o + 8,
					     o + 1, o + 1, o + 1, o + 1, o + 1, o + 1, o + 1, o + 1, o + 9, o + 9, o + 9, o + 9,
					     o + 9, o + 9, o + 9, o + 9);
	const __m256i sel1 = _mm256_add_epi8(sel0, _mm256_set1_epi8(2));
	const __m256i ls0 = _mm256_shuffle_epi8(sc, _mm256_set1_epi8((char)(2 * k)));
	const __m256i ls1 = _mm256_shuffle_epi8(sc, _mm256_set1_epi8((char)(8 + 2 * k)));
	const __m256i y0 = _mm256_loadu_si256((const __m256i *)(q8 + 64 * k));
	const __m256i y1 = _mm256_loadu_si256((const __m256i *)(q8 + 64 * k + 32));
	const __m256i g0 = _mm256_maddubs_epi16(ls0, _mm256_sign_epi8(y0, iq1m_grid(idx + 8 * k)));
	const __m256i g1 = _mm256_maddubs_epi16(ls1, _mm256_sign_epi8(y1, iq1m_grid(idx + 8 * k + 4)));
	const __m256i d0 = _mm256_maddubs_epi16(ls0, _mm256_sign_epi8(y0, _mm256_shuffle_epi8(dq, sel0)));
	const __m256i d1 = _mm256_maddubs_epi16(ls1, _mm256_sign_epi8(y1, _mm256_shuffle_epi8(dq, sel1)));
	*g = _mm256_add_epi16(*g, _mm256_add_epi16(g0, g1));
	*d = _mm256_add_epi16(*d, _mm256_add_epi16(d0, d1));
}

static void iq1_m_dot_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq1_m *x = vx;
	const struct block_q8_K *y = vy;
	const int64_t nb = n / QK_K;
	__m256 acc = _mm256_setzero_ps();
	uint16_t idx[2][32];
	if (nb > 0)
		iq1m_indices(&x[0], idx[0]);
	for (int64_t i = 0; i < nb; ++i) {
		const uint16_t *ix = idx[i & 1];
		if (i + 1 < nb)
			iq1m_indices(&x[i + 1], idx[(i + 1) & 1]);
		const __m256i sc = iq1m_scales(&x[i]);
		__m256i dq0, dq1;
		iq1m_delta_signs(&x[i], &dq0, &dq1);
		__m256i g = _mm256_setzero_si256(), d = g;
		iq1m_pair(&g, &d, sc, dq0, ix, y[i].qs, 0);
		iq1m_pair(&g, &d, sc, dq0, ix, y[i].qs, 1);
		iq1m_pair(&g, &d, sc, dq1, ix, y[i].qs, 2);
		iq1m_pair(&g, &d, sc, dq1, ix, y[i].qs, 3);
		const __m256i S = _mm256_add_epi32(_mm256_madd_epi16(g, _mm256_set1_epi16(8)), _mm256_madd_epi16(d, _mm256_set1_epi16(1)));
		acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(sl_iq1m_d(&x[i])) * y[i].d), _mm256_cvtepi32_ps(S), acc);
	}
	*s = IQ1M_DELTA * hsum8(acc);
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
