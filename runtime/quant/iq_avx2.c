/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/iq_avx2.c — AVX2 dots of iq4_nl, iq4_xs, iq2_xxs, iq2_xs,
 * iq2_s, iq3_xxs, iq3_s and iq1_s (the types R1's small files put on most of
 * their weights), after ggml's x86 kernels; iq1_m, tq1_0 and tq2_0 are in
 * iq_avx2_ternary.c.
 *
 * Grid entries are fetched by scalar index and assembled with set_epi64x /
 * set_epi32 (there is no byte gather); signs become +1/-1 byte masks
 * (sl_keven_signs_q2xs) applied to the activations with _mm256_sign_epi8, so
 * the grid bytes stay unsigned for _mm256_maddubs_epi16.  Each 16-bit pair
 * sum is at most 2 * 62 * 127 (iq3) or 2 * 127 * 127 (iq4): no saturation.
 * Block sums are exact integers as in the scalar dots; only the float
 * accumulation order differs (quant.h's accuracy contract;
 * test_quant_iq_simd checks it).
 */
#include "quant/iq_blocks.h"

#include <immintrin.h>

static inline float hsum_ps8(__m256 x)
{
	__m128 r = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
	r = _mm_add_ps(r, _mm_movehl_ps(r, r));
	r = _mm_add_ss(r, _mm_movehdup_ps(r));
	return _mm_cvtss_f32(r);
}

/* Signed x signed bytes, adjacent pairs summed to int16 (|x|, |y| <= 127). */
static inline __m256i mul_add_epi8(__m256i x, __m256i y)
{
	return _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

/* The 32 levels of one iq4_nl block's 16 bytes: low nibbles (elements 0-15) in the low lane, high
 * nibbles in the high one.  One broadcast load and one 64-bit variable shift put both nibbles in
 * place, so a single 256-bit pshufb looks them up (not two 128-bit ones and an insert). */
static inline __m256i iq4_levels(__m256i values, const uint8_t *qs)
{
	const __m256i bits = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
	const __m256i idx = _mm256_and_si256(_mm256_srlv_epi64(bits, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(0x0f));
	return _mm256_shuffle_epi8(values, idx);
}

/*
 * iq4_nl: two blocks per step into two accumulators (the float FMA chain is the
 * bottleneck at one block per step), scales converted with F16C in line (a call
 * to the scalar converter per block cost more than the dot itself).
 */
static void iq4_nl_dot_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq4_nl *x = vx;
	const struct block_q8_0 *y = vy;
	const __m256i values = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)sl_kvalues_iq4nl));
	const __m256i ones = _mm256_set1_epi16(1);
	const int64_t nb = n / QK4_NL;
	__m256 acc1 = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps();
	int64_t ib = 0;
	for (; ib + 1 < nb; ib += 2) {
		const __m256i q4a = iq4_levels(values, x[ib].qs);
		const __m256i q4b = iq4_levels(values, x[ib + 1].qs);
		const __m256i q8a = _mm256_loadu_si256((const __m256i *)y[ib].qs);
		const __m256i q8b = _mm256_loadu_si256((const __m256i *)y[ib + 1].qs);
		const __m256i pa = _mm256_madd_epi16(mul_add_epi8(q4a, q8a), ones);
		const __m256i pb = _mm256_madd_epi16(mul_add_epi8(q4b, q8b), ones);
		acc1 = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(x[ib].d) * _cvtsh_ss(y[ib].d)), _mm256_cvtepi32_ps(pa), acc1);
		acc2 = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(x[ib + 1].d) * _cvtsh_ss(y[ib + 1].d)), _mm256_cvtepi32_ps(pb),
				       acc2);
	}
	if (ib < nb) {
		const __m256i q4 = iq4_levels(values, x[ib].qs);
		const __m256i p = _mm256_madd_epi16(mul_add_epi8(q4, _mm256_loadu_si256((const __m256i *)y[ib].qs)), ones);
		acc1 = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(x[ib].d) * _cvtsh_ss(y[ib].d)), _mm256_cvtepi32_ps(p), acc1);
	}
	*s = hsum_ps8(_mm256_add_ps(acc1, acc2));
}

/*
 * iq4_xs: two sub-blocks per step from one 32-byte load (sub-block 2k in the low
 * lane, 2k+1 in the high one; low nibbles are elements 0-15, high 16-31), the
 * q8 halves loaded to match; the 8 scales (ls - 32) go into one int16 vector per
 * block and each step's pair is a pshufb of it, not scalar work.
 */
static void iq4_xs_dot_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq4_xs *x = vx;
	const struct block_q8_K *y = vy;
	const __m256i values = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)sl_kvalues_iq4nl));
	const __m256i m4 = _mm256_set1_epi8(0x0f);
	/* pshufb patterns picking int16 scale 2k (low lane) and 2k+1 (high lane) */
	__m256i kpair[4];
	for (int k = 0; k < 4; k++) {
		const int a = 4 * k, b = 4 * k + 2; /* byte offsets of scales 2k and 2k+1 */
		kpair[k] = _mm256_set_m128i(_mm_set1_epi16((short)(b | (b + 1) << 8)), _mm_set1_epi16((short)(a | (a + 1) << 8)));
	}
	const __m256i shift4 = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28), shift2 = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
	__m256 acc = _mm256_setzero_ps();
	for (int64_t i = 0; i < n / QK_K; ++i) {
		/* the 8 scales (ls - 32) unpacked with variable shifts, as int16 in both lanes (a scalar
		 * loop here cost about as much as the dots: Documentation/performance.md) */
		const uint32_t sl = (uint32_t)x[i].scales_l[0] | (uint32_t)x[i].scales_l[1] << 8 |
				    (uint32_t)x[i].scales_l[2] << 16 | (uint32_t)x[i].scales_l[3] << 24;
		const __m256i lo4 = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)sl), shift4),
						     _mm256_set1_epi32(0xf));
		const __m256i hi2 = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(x[i].scales_h), shift2),
						     _mm256_set1_epi32(3));
		const __m256i ls32 = _mm256_sub_epi32(_mm256_or_si256(lo4, _mm256_slli_epi32(hi2, 4)), _mm256_set1_epi32(32));
		/* packs gives [l0..l3 l0..l3 | l4..l7 l4..l7]; qwords 0, 2, 0, 2 put l0..l7 in each lane */
		const __m256i sc = _mm256_permute4x64_epi64(_mm256_packs_epi32(ls32, ls32), 0x88);
		const uint8_t *qs = x[i].qs;
		const int8_t *q8 = y[i].qs;
		__m256i s1 = _mm256_setzero_si256(), s2 = _mm256_setzero_si256();
		for (int k = 0; k < 4; ++k, qs += 32, q8 += 64) {
			const __m256i bits = _mm256_loadu_si256((const __m256i *)qs);
			const __m256i lo = _mm256_shuffle_epi8(values, _mm256_and_si256(bits, m4));
			const __m256i hi = _mm256_shuffle_epi8(values, _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4));
			const __m256i q8lo = _mm256_loadu2_m128i((const __m128i *)(q8 + 32), (const __m128i *)q8);
			const __m256i q8hi = _mm256_loadu2_m128i((const __m128i *)(q8 + 48), (const __m128i *)(q8 + 16));
			const __m256i scale = _mm256_shuffle_epi8(sc, kpair[k]);
			s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(mul_add_epi8(lo, q8lo), scale));
			s2 = _mm256_add_epi32(s2, _mm256_madd_epi16(mul_add_epi8(hi, q8hi), scale));
		}
		acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(x[i].d) * y[i].d), _mm256_cvtepi32_ps(_mm256_add_epi32(s1, s2)),
				      acc);
	}
	*s = hsum_ps8(acc);
}

static inline __m256i signs4(uint32_t bits)
{
	return _mm256_set_epi64x((long long)sl_keven_signs_q2xs[(bits >> 21) & 127],
				 (long long)sl_keven_signs_q2xs[(bits >> 14) & 127],
				 (long long)sl_keven_signs_q2xs[(bits >> 7) & 127],
				 (long long)sl_keven_signs_q2xs[(bits >> 0) & 127]);
}

static void iq2_xxs_dot_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq2_xxs *x = vx;
	const struct block_q8_K *y = vy;
	__m256 acc = _mm256_setzero_ps();
	for (int64_t i = 0; i < n / QK_K; ++i) {
		const uint16_t *q2 = x[i].qs;
		const int8_t *q8 = y[i].qs;
		__m256i sumi = _mm256_setzero_si256();
		for (int ib32 = 0; ib32 < QK_K / 32; ++ib32, q2 += 4, q8 += 32) {
			uint32_t aux32[2];
			memcpy(aux32, q2, sizeof aux32);
			const uint8_t *aux8 = (const uint8_t *)aux32;
			const __m256i grid = _mm256_set_epi64x((long long)sl_iq2xxs_grid[aux8[3]], (long long)sl_iq2xxs_grid[aux8[2]],
							       (long long)sl_iq2xxs_grid[aux8[1]], (long long)sl_iq2xxs_grid[aux8[0]]);
			const __m256i q8s = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)q8), signs4(aux32[1]));
			const __m256i dot = _mm256_maddubs_epi16(grid, q8s);
			const int16_t ls = (int16_t)(2 * (aux32[1] >> 28) + 1);
			sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(dot, _mm256_set1_epi16(ls)));
		}
		acc = _mm256_fmadd_ps(_mm256_set1_ps(FP16(x[i].d) * y[i].d), _mm256_cvtepi32_ps(sumi), acc);
	}
	*s = 0.125f * hsum_ps8(acc);
}

static void iq3_xxs_dot_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq3_xxs *x = vx;
	const struct block_q8_K *y = vy;
	__m256 acc = _mm256_setzero_ps();
	for (int64_t i = 0; i < n / QK_K; ++i) {
		const uint8_t *q3 = x[i].qs, *gas = x[i].qs + QK_K / 4;
		const int8_t *q8 = y[i].qs;
		__m256i sumi = _mm256_setzero_si256();
		for (int ib32 = 0; ib32 < QK_K / 32; ++ib32, q3 += 8, gas += 4, q8 += 32) {
			uint32_t aux32;
			memcpy(&aux32, gas, sizeof aux32);
			const __m256i grid = _mm256_set_epi32(
				(int)sl_iq3xxs_grid[q3[7]], (int)sl_iq3xxs_grid[q3[6]], (int)sl_iq3xxs_grid[q3[5]],
				(int)sl_iq3xxs_grid[q3[4]], (int)sl_iq3xxs_grid[q3[3]], (int)sl_iq3xxs_grid[q3[2]],
				(int)sl_iq3xxs_grid[q3[1]], (int)sl_iq3xxs_grid[q3[0]]);
			const __m256i q8s = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)q8), signs4(aux32));
			const __m256i dot = _mm256_maddubs_epi16(grid, q8s);
			const int16_t ls = (int16_t)(2 * (aux32 >> 28) + 1);
			sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(dot, _mm256_set1_epi16(ls)));
		}
		acc = _mm256_fmadd_ps(_mm256_set1_ps(FP16(x[i].d) * y[i].d), _mm256_cvtepi32_ps(sumi), acc);
	}
	*s = 0.25f * hsum_ps8(acc);
}

/* 32 explicit sign bits (4 bytes, bit j of byte l: element 8l + j) -> 32 bytes of +1 / -1. */
static inline __m256i signs_from_bits(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
	__m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)v), shuf);
	b = _mm256_or_si256(b, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
	return _mm256_or_si256(_mm256_cmpeq_epi8(b, _mm256_set1_epi64x(-1)), _mm256_set1_epi8(1));
}

/* int16 scale a for elements 0-15 (low lane), b for 16-31 (high lane). */
static inline __m256i scale_halves(int a, int b)
{
	return _mm256_set_m128i(_mm_set1_epi16((short)b), _mm_set1_epi16((short)a));
}

static void iq2_xs_dot_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq2_xs *x = vx;
	const struct block_q8_K *y = vy;
	__m256 acc = _mm256_setzero_ps();
	for (int64_t i = 0; i < n / QK_K; ++i) {
		const uint16_t *q2 = x[i].qs;
		const int8_t *q8 = y[i].qs;
		__m256i sumi = _mm256_setzero_si256();
		for (int ib32 = 0; ib32 < QK_K / 32; ++ib32, q2 += 4, q8 += 32) {
			const __m256i grid = _mm256_set_epi64x(
				(long long)sl_iq2xs_grid[q2[3] & 511], (long long)sl_iq2xs_grid[q2[2] & 511],
				(long long)sl_iq2xs_grid[q2[1] & 511], (long long)sl_iq2xs_grid[q2[0] & 511]);
			const __m256i sg = _mm256_set_epi64x(
				(long long)sl_keven_signs_q2xs[q2[3] >> 9], (long long)sl_keven_signs_q2xs[q2[2] >> 9],
				(long long)sl_keven_signs_q2xs[q2[1] >> 9], (long long)sl_keven_signs_q2xs[q2[0] >> 9]);
			const __m256i dot = _mm256_maddubs_epi16(grid, _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)q8), sg));
			const uint8_t sc = x[i].scales[ib32];
			sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(dot, scale_halves(2 * (sc & 0xf) + 1, 2 * (sc >> 4) + 1)));
		}
		acc = _mm256_fmadd_ps(_mm256_set1_ps(FP16(x[i].d) * y[i].d), _mm256_cvtepi32_ps(sumi), acc);
	}
	*s = 0.125f * hsum_ps8(acc);
}

static void iq2_s_dot_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq2_s *x = vx;
	const struct block_q8_K *y = vy;
	__m256 acc = _mm256_setzero_ps();
	for (int64_t i = 0; i < n / QK_K; ++i) {
		const uint8_t *qs = x[i].qs, *qh = x[i].qh, *signs = qs + QK_K / 8;
		const int8_t *q8 = y[i].qs;
		__m256i sumi = _mm256_setzero_si256();
		for (int ib32 = 0; ib32 < QK_K / 32; ++ib32, qs += 4, signs += 4, q8 += 32) {
			const int h = qh[ib32];
			const __m256i grid = _mm256_set_epi64x((long long)sl_iq2s_grid[qs[3] | ((h << 2) & 0x300)],
							       (long long)sl_iq2s_grid[qs[2] | ((h << 4) & 0x300)],
							       (long long)sl_iq2s_grid[qs[1] | ((h << 6) & 0x300)],
							       (long long)sl_iq2s_grid[qs[0] | ((h << 8) & 0x300)]);
			const __m256i q8s = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)q8), signs_from_bits(signs));
			const __m256i dot = _mm256_maddubs_epi16(grid, q8s);
			const uint8_t sc = x[i].scales[ib32];
			sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(dot, scale_halves(2 * (sc & 0xf) + 1, 2 * (sc >> 4) + 1)));
		}
		acc = _mm256_fmadd_ps(_mm256_set1_ps(FP16(x[i].d) * y[i].d), _mm256_cvtepi32_ps(sumi), acc);
	}
	*s = 0.125f * hsum_ps8(acc);
}

static void iq3_s_dot_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq3_s *x = vx;
	const struct block_q8_K *y = vy;
	__m256 acc = _mm256_setzero_ps();
	for (int64_t i = 0; i < n / QK_K; ++i) {
		const uint8_t *qs = x[i].qs, *qh = x[i].qh, *signs = x[i].signs;
		const int8_t *q8 = y[i].qs;
		__m256i sumi = _mm256_setzero_si256();
		for (int ib32 = 0; ib32 < QK_K / 32; ++ib32, qs += 8, signs += 4, q8 += 32) {
			const int h = qh[ib32];
			const __m256i grid = _mm256_set_epi32(
				(int)sl_iq3s_grid[qs[7] | ((h << 1) & 256)], (int)sl_iq3s_grid[qs[6] | ((h << 2) & 256)],
				(int)sl_iq3s_grid[qs[5] | ((h << 3) & 256)], (int)sl_iq3s_grid[qs[4] | ((h << 4) & 256)],
				(int)sl_iq3s_grid[qs[3] | ((h << 5) & 256)], (int)sl_iq3s_grid[qs[2] | ((h << 6) & 256)],
				(int)sl_iq3s_grid[qs[1] | ((h << 7) & 256)], (int)sl_iq3s_grid[qs[0] | ((h << 8) & 256)]);
			const __m256i q8s = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)q8), signs_from_bits(signs));
			const __m256i dot = _mm256_maddubs_epi16(grid, q8s);
			const uint8_t sc = x[i].scales[ib32 / 2];
			const int16_t ls = (int16_t)(2 * (ib32 % 2 ? sc >> 4 : sc & 0xf) + 1);
			sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(dot, _mm256_set1_epi16(ls)));
		}
		acc = _mm256_fmadd_ps(_mm256_set1_ps(FP16(x[i].d) * y[i].d), _mm256_cvtepi32_ps(sumi), acc);
	}
	*s = hsum_ps8(acc);
}

/*
 * iq1_s: grid bytes are -1/0/+1, so one sign gives grid * q8 and maddubs takes the scale bytes
 * (1..15) into int16 pairs of at most 2 * 15 * 127: eight sub-blocks of them fit, one madd per
 * block.  The delta term is the scale times the sign times the sub-block's two bsums: one madd for
 * the block.  IQ1S_DELTA = 1/8 makes the block d / 8 * (8 * grid sum + delta sum), one exact
 * integer vector FMA'd into float lanes.  Grid indices by scalar code (pdep is microcoded on some
 * AVX2 CPUs: the AVX-512 dot, iq_avx512_iq1.c, uses it).
 */
static inline void iq1s_sub(__m256i *g, const struct block_iq1_s *x, const int8_t *q8, __m256i ls8, const int ib)
{
	const uint8_t *qs = x->qs + 4 * ib;
	const uint16_t h = x->qh[ib];
	const __m256i grid = _mm256_set_epi64x((long long)sl_iq1s_grid[qs[3] | ((h >> 1) & 0x700)],
					       (long long)sl_iq1s_grid[qs[2] | ((h << 2) & 0x700)],
					       (long long)sl_iq1s_grid[qs[1] | ((h << 5) & 0x700)],
					       (long long)sl_iq1s_grid[qs[0] | ((h << 8) & 0x700)]);
	const __m256i ls = _mm256_shuffle_epi8(ls8, _mm256_set1_epi8((char)(2 * ib)));
	const __m256i y8 = _mm256_loadu_si256((const __m256i *)(q8 + 32 * ib));
	*g = _mm256_add_epi16(*g, _mm256_maddubs_epi16(ls, _mm256_sign_epi8(y8, grid)));
}

static void iq1_s_dot_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq1_s *x = vx;
	const struct block_q8_K *y = vy;
	__m256 acc = _mm256_setzero_ps();
	for (int64_t i = 0; i < n / QK_K; ++i) {
		const __m128i qh = _mm_loadu_si128((const __m128i *)x[i].qh);
		/* scales 2 * ls + 1 as words (byte 2ib is sub-block ib's), in both lanes */
		__m128i lsw = _mm_and_si128(_mm_srli_epi16(qh, 12), _mm_set1_epi16(7));
		lsw = _mm_add_epi16(_mm_add_epi16(lsw, lsw), _mm_set1_epi16(1));
		const __m256i ls8 = _mm256_broadcastsi128_si256(lsw);
		/* delta: scale, negated where qh bit 15 is set, times each of the sub-block's two bsums */
		const __m128i w = _mm_sign_epi16(lsw, _mm_or_si128(qh, _mm_set1_epi16(1)));
		const __m256i w16 = _mm256_set_m128i(_mm_unpackhi_epi16(w, w), _mm_unpacklo_epi16(w, w));
		const __m256i delta = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[i].bsums), w16);
		const int8_t *q8 = y[i].qs;
		__m256i g0 = _mm256_setzero_si256(), g1 = g0;
		iq1s_sub(&g0, &x[i], q8, ls8, 0);
		iq1s_sub(&g1, &x[i], q8, ls8, 1);
		iq1s_sub(&g0, &x[i], q8, ls8, 2);
		iq1s_sub(&g1, &x[i], q8, ls8, 3);
		iq1s_sub(&g0, &x[i], q8, ls8, 4);
		iq1s_sub(&g1, &x[i], q8, ls8, 5);
		iq1s_sub(&g0, &x[i], q8, ls8, 6);
		iq1s_sub(&g1, &x[i], q8, ls8, 7);
		const __m256i S = _mm256_add_epi32(_mm256_madd_epi16(_mm256_add_epi16(g0, g1), _mm256_set1_epi16(8)), delta);
		acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(x[i].d) * y[i].d), _mm256_cvtepi32_ps(S), acc);
	}
	*s = IQ1S_DELTA * hsum_ps8(acc);
}

void sl_quant_iq_avx2_kernels(uint32_t type, struct sl_kernels *k)
{
	switch (type) {
	case SL_TYPE_IQ4_NL: k->vec_dot = iq4_nl_dot_avx2; break;
	case SL_TYPE_IQ4_XS: k->vec_dot = iq4_xs_dot_avx2; break;
	case SL_TYPE_IQ2_XXS: k->vec_dot = iq2_xxs_dot_avx2; break;
	case SL_TYPE_IQ3_XXS: k->vec_dot = iq3_xxs_dot_avx2; break;
	case SL_TYPE_IQ1_S: k->vec_dot = iq1_s_dot_avx2; break;
	case SL_TYPE_IQ2_XS: k->vec_dot = iq2_xs_dot_avx2; break;
	case SL_TYPE_IQ2_S: k->vec_dot = iq2_s_dot_avx2; break;
	case SL_TYPE_IQ3_S: k->vec_dot = iq3_s_dot_avx2; break;
	default: sl_quant_iq_avx2_ternary_kernels(type, k); break;
	}
}
