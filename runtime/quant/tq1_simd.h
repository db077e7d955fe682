/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/tq1_simd.h — the 256 trits of a tq1_0 block as eight vectors of unsigned bytes 0/1/2
 * (the stored q + 1), each lined up with 32 consecutive q8 values, for the AVX2 and AVX-512 dots
 * (iq_avx2_ternary.c, iq_avx512.c).  Only meaningful in files compiled with -mavx2.
 *
 * Digit p of byte b is ((b * 3^p mod 256) * 3) >> 8, after llama.cpp's ggml_vec_dot_tq1_0_q8_K.
 * The byte products come from shifts and adds (9b = (b << 3) + b per byte, the shift's carries
 * masked off), fewer operations than 16-bit multiplies of the two bytes of each lane apart, and
 * (q * 3) >> 8 is (q > 85) + (q > 170) (tq1_top_trit).  llama.cpp's avg(q', avg(q', 0)) >> 6 with
 * q' = q - 1 saturated is one operation more: the AVX2 dot ran at 1.02x llama.cpp's with it, 1.09x
 * with the compares.
 */
#ifndef SLUICE_QUANT_TQ1_SIMD_H
#define SLUICE_QUANT_TQ1_SIMD_H

#if defined(__AVX2__)
#include "quant/iq_blocks.h"

#include <immintrin.h>

/* 9 * q mod 256 in every byte */
static inline __m256i tq1_times9(__m256i q)
{
	return _mm256_add_epi8(_mm256_and_si256(_mm256_slli_epi16(q, 3), _mm256_set1_epi8(-8)), q);
}

/*
 * The AVX2 form compares signed bytes, so it takes the bytes biased by 128 (xor 0x80): the bias
 * survives every product here, as m * (q + 128) = m * q + 128 (mod 256) for odd m, so only the
 * loaded bytes are biased.  The AVX-512 form compares unsigned bytes, unbiased.
 */
#if defined(__AVX512BW__) && defined(__AVX512VL__)
#define TQ1_BIAS 0
#else
#define TQ1_BIAS 0x80
#endif

/* (q * 3) >> 8 in every byte: 0, 1 or 2, i.e. (q > 85) + (q > 170).  With AVX-512 (BW, VL), two
 * compares into mask registers and two masked moves (6% faster on Zen 4 than llama.cpp's average
 * trick); with AVX2, two signed compares of the biased bytes (0 or -1 each), added and negated by
 * abs: four operations, one fewer than the average trick (subs, avg, avg, shift, and). */
#if !(defined(__AVX512BW__) && defined(__AVX512VL__))
/* a > b per signed byte (-1 or 0), as one vpcmpgtb: gcc 12 rewrites the intrinsic's compare of the
 * sum below into min + compare-equal, two operations for one */
static inline __m256i tq1_cmpgt(__m256i a, __m256i b)
{
	__m256i r;
	__asm__("vpcmpgtb %2, %1, %0" : "=x"(r) : "x"(a), "x"(b));
	return r;
}
#endif

static inline __m256i tq1_top_trit(__m256i q)
{
#if defined(__AVX512BW__) && defined(__AVX512VL__)
	const __mmask32 k1 = _mm256_cmpgt_epu8_mask(q, _mm256_set1_epi8(85));
	const __mmask32 k2 = _mm256_cmpgt_epu8_mask(q, _mm256_set1_epi8((char)170));
	return _mm256_mask_mov_epi8(_mm256_maskz_mov_epi8(k1, _mm256_set1_epi8(1)), k2, _mm256_set1_epi8(2));
#else
	const __m256i c1 = tq1_cmpgt(q, _mm256_set1_epi8(85 - 128));
	const __m256i c2 = tq1_cmpgt(q, _mm256_set1_epi8(170 - 128));
	return _mm256_abs_epi8(_mm256_add_epi8(c1, c2));
#endif
}

/*
 * t[k] holds elements 32k .. 32k + 31.  Bytes 0-31: digit p of byte m is element 32p + m (t[0..4]).
 * Bytes 32-47: digit p of byte m is element 160 + 16p + m, two digits per vector, one per lane
 * (t[5], t[6], and the low lane of t[7]).  qh's 4 bytes: digit p of byte k is element 240 + 4p + k
 * (t[7]'s high lane, from 16-bit multiplies of qh repeated four times, the products' low bytes kept).
 */
static inline void tq1_0_trits(const struct block_tq1_0 *x, __m256i t[8])
{
	const __m256i bias = _mm256_set1_epi8((char)TQ1_BIAS);
	const __m256i q0 = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)x->qs), bias);
	const __m256i q1 = _mm256_add_epi8(q0, _mm256_add_epi8(q0, q0));
	const __m256i q2 = tq1_times9(q0), q3 = tq1_times9(q1), q4 = tq1_times9(q2);
	t[0] = tq1_top_trit(q0);
	t[1] = tq1_top_trit(q1);
	t[2] = tq1_top_trit(q2);
	t[3] = tq1_top_trit(q3);
	t[4] = tq1_top_trit(q4);
	/* bytes 32-47 in both lanes, times 1 in the low lane and 3 in the high one, then times 9 twice:
	 * digits (0, 1), (2, 3) and 4 */
	const __m256i r = _mm256_xor_si256(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(x->qs + 32))), bias);
	const __m256i r01 = _mm256_add_epi8(r, _mm256_blend_epi32(_mm256_setzero_si256(), _mm256_add_epi8(r, r), 0xf0));
	const __m256i r23 = tq1_times9(r01), r4 = tq1_times9(r23);
	uint32_t qh;
	memcpy(&qh, x->qh, sizeof qh);
	qh ^= TQ1_BIAS * 0x01010101u;
	__m256i h = _mm256_mullo_epi16(_mm256_cvtepu8_epi16(_mm_set1_epi32((int)qh)),
				       _mm256_setr_epi16(1, 1, 1, 1, 3, 3, 3, 3, 9, 9, 9, 9, 27, 27, 27, 27));
	h = _mm256_and_si256(h, _mm256_set1_epi16(0xff));
	const __m128i h8 = _mm_packus_epi16(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
	t[5] = tq1_top_trit(r01);
	t[6] = tq1_top_trit(r23);
	t[7] = tq1_top_trit(_mm256_inserti128_si256(r4, h8, 1));
}
#endif

#endif
