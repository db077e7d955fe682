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
#include "quant/iq_simd.h"

#include <immintrin.h>

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

/* The block scale by F16C, inline: FP16() is an out-of-line call, and a call inside the block
 * loop spills the vector registers (grid-type dots below). */
static inline float grid_fp16(uint16_t h)
{
	return _cvtsh_ss(h);
}

/* Four uint64 grid entries from the four byte indices of a (byte 0 first): the indices are split
 * in registers, one load for four (four byte loads compete with the grid's for the load ports). */
static inline __m256i grid4_u64(const uint64_t *g, uint32_t a)
{
	return _mm256_set_epi64x((long long)g[a >> 24], (long long)g[(a >> 16) & 0xff], (long long)g[(a >> 8) & 0xff],
				 (long long)g[a & 0xff]);
}

/* Eight uint32 grid entries from eight byte indices, read from memory one by one (splitting them in
 * registers measured slower here: eight indices at a time run out of registers). */
static inline __m256i grid8_u32(const uint32_t *g, const uint8_t *ix)
{
	return _mm256_set_epi32((int)g[ix[7]], (int)g[ix[6]], (int)g[ix[5]], (int)g[ix[4]], (int)g[ix[3]], (int)g[ix[2]],
				(int)g[ix[1]], (int)g[ix[0]]);
}

/*
 * The 8 sign|scale words of a block (dword k: sub-block k, 4 groups of 7 sign bits) as 32 sign
 * bytes, byte 4k + g for group g of sub-block k, the 8th bit the group's parity: shifts put each
 * group in its byte, a pshufb table of the xor of each byte's nibbles gives the parity.  One pass
 * for the block instead of 32 keven_signs lookups.
 */
static inline __m256i sign_bytes8(__m256i w)
{
	const __m256i odd = _mm256_set_epi64x((long long)0x0080800080000080ull, (long long)0x8000008000808000ull,
					      (long long)0x0080800080000080ull, (long long)0x8000008000808000ull);
	const __m256i g = _mm256_or_si256(
		_mm256_or_si256(_mm256_and_si256(w, _mm256_set1_epi32(0x7f)), _mm256_and_si256(_mm256_slli_epi32(w, 1), _mm256_set1_epi32(0x7f00))),
		_mm256_or_si256(_mm256_and_si256(_mm256_slli_epi32(w, 2), _mm256_set1_epi32(0x7f0000)),
				_mm256_and_si256(_mm256_slli_epi32(w, 3), _mm256_set1_epi32(0x7f000000))));
	const __m256i nib = _mm256_and_si256(_mm256_xor_si256(g, _mm256_srli_epi16(g, 4)), _mm256_set1_epi8(0x0f));
	return _mm256_or_si256(g, _mm256_shuffle_epi8(odd, nib));
}

/* +1 / -1 bytes of sub-block k from sign_bytes8(): its 4 bytes broadcast, each spread over its 8
 * elements and tested bit by bit. */
static inline __m256i signs_of(__m256i sb, int k)
{
	const __m256i spread = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
	const __m256i bit_sel = _mm256_set1_epi64x((long long)0x8040201008040201ull);
	const __m256i b = _mm256_shuffle_epi8(_mm256_permutevar8x32_epi32(sb, _mm256_set1_epi32(k)), spread);
	return _mm256_or_si256(_mm256_cmpeq_epi8(_mm256_and_si256(b, bit_sel), bit_sel), _mm256_set1_epi8(1));
}

/* Two sub-blocks per step, each into its own accumulator (as ggml's), indices split in registers. */
static void iq2_xxs_dot_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq2_xxs *x = vx;
	const struct block_q8_K *y = vy;
	__m256 acc = _mm256_setzero_ps();
	for (int64_t i = 0; i < n / QK_K; ++i) {
		const uint8_t *q2 = (const uint8_t *)x[i].qs;
		const int8_t *q8 = y[i].qs;
		/* the sign words are the odd dwords: [0 1 4 5 | 2 3 6 7] by shufps, then qwords in order */
		const __m256 lo = _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)q2));
		const __m256 hi = _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)(q2 + 32)));
		const __m256i sw = _mm256_permute4x64_epi64(_mm256_castps_si256(_mm256_shuffle_ps(lo, hi, 0xdd)), 0xd8);
		const __m256i sb = sign_bytes8(sw);
		__m256i sumi1 = _mm256_setzero_si256(), sumi2 = _mm256_setzero_si256();
		for (int ib32 = 0; ib32 < QK_K / 32; ib32 += 2, q2 += 16, q8 += 64) {
			uint32_t aux[4]; /* grid indices, signs | scale of sub-block ib32, then of ib32 + 1 */
			memcpy(aux, q2, sizeof aux);
			const __m256i q8s1 = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)q8), signs_of(sb, ib32));
			const __m256i q8s2 = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(q8 + 32)), signs_of(sb, ib32 + 1));
			const __m256i dot1 = _mm256_maddubs_epi16(grid4_u64(sl_iq2xxs_grid, aux[0]), q8s1);
			const __m256i dot2 = _mm256_maddubs_epi16(grid4_u64(sl_iq2xxs_grid, aux[2]), q8s2);
			sumi1 = _mm256_add_epi32(sumi1, _mm256_madd_epi16(dot1, _mm256_set1_epi16((short)(2 * (aux[1] >> 28) + 1))));
			sumi2 = _mm256_add_epi32(sumi2, _mm256_madd_epi16(dot2, _mm256_set1_epi16((short)(2 * (aux[3] >> 28) + 1))));
		}
		acc = _mm256_fmadd_ps(_mm256_set1_ps(grid_fp16(x[i].d) * y[i].d), _mm256_cvtepi32_ps(_mm256_add_epi32(sumi1, sumi2)),
				      acc);
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
		const __m256i sb = sign_bytes8(_mm256_loadu_si256((const __m256i *)gas));
		__m256i sumi1 = _mm256_setzero_si256(), sumi2 = _mm256_setzero_si256();
		for (int ib32 = 0; ib32 < QK_K / 32; ib32 += 2, q3 += 16, gas += 8, q8 += 64) {
			uint32_t aux[2];
			memcpy(aux, gas, sizeof aux);
			const __m256i q8s1 = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)q8), signs_of(sb, ib32));
			const __m256i q8s2 = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(q8 + 32)), signs_of(sb, ib32 + 1));
			const __m256i dot1 = _mm256_maddubs_epi16(grid8_u32(sl_iq3xxs_grid, q3), q8s1);
			const __m256i dot2 = _mm256_maddubs_epi16(grid8_u32(sl_iq3xxs_grid, q3 + 8), q8s2);
			sumi1 = _mm256_add_epi32(sumi1, _mm256_madd_epi16(dot1, _mm256_set1_epi16((short)(2 * (aux[0] >> 28) + 1))));
			sumi2 = _mm256_add_epi32(sumi2, _mm256_madd_epi16(dot2, _mm256_set1_epi16((short)(2 * (aux[1] >> 28) + 1))));
		}
		acc = _mm256_fmadd_ps(_mm256_set1_ps(grid_fp16(x[i].d) * y[i].d), _mm256_cvtepi32_ps(_mm256_add_epi32(sumi1, sumi2)),
				      acc);
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

/* The 16 4-bit scales of iq2_xs / iq2_s (byte k: sub-block k, low nibble first) as 2 ls + 1 in
 * bytes 0-15, byte h for elements 16h..16h+15. */
static inline __m128i scales16_bytes(const uint8_t *sc)
{
	const __m128i b = _mm_loadl_epi64((const __m128i *)sc), m4 = _mm_set1_epi8(0xf);
	const __m128i nib = _mm_unpacklo_epi8(_mm_and_si128(b, m4), _mm_and_si128(_mm_srli_epi16(b, 4), m4));
	return _mm_add_epi8(_mm_add_epi8(nib, nib), _mm_set1_epi8(1));
}

/* A sub-block's two scales as int16, elements 0-15 in the low lane, 16-31 in the high one: bytes
 * 2 ib (x8) and 2 ib + 1 (x8) of scales16_bytes() picked by *pick, which then moves to the next
 * sub-block's. */
static inline __m256i scale_pair(__m128i ls, __m128i *pick)
{
	const __m256i sc = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(ls, *pick));
	*pick = _mm_add_epi8(*pick, _mm_set1_epi8(2));
	return sc;
}

/* scale_pair's first pick: sub-block 0. */
static inline __m128i scale_pick0(void)
{
	return _mm_set_epi64x(0x0101010101010101, 0);
}

/* Four uint64 grid entries from four 9- or 10-bit indices in the 16-bit fields of a. */
static inline __m256i grid4_u16(const uint64_t *g, uint64_t a, unsigned mask)
{
	return _mm256_set_epi64x((long long)g[(a >> 48) & mask], (long long)g[(a >> 32) & mask], (long long)g[(a >> 16) & mask],
				 (long long)g[a & mask]);
}

/* One sub-block of iq2_xs: its sign bytes spread over their elements (sg), grid indices in a. */
static inline __m256i iq2xs_step(__m256i sg, const int8_t *q8, uint64_t a, __m256i scale)
{
	const __m256i bit_sel = _mm256_set1_epi64x((long long)0x8040201008040201ull);
	const __m256i neg = _mm256_cmpeq_epi8(_mm256_and_si256(sg, bit_sel), bit_sel);
	const __m256i q8s = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)q8), _mm256_or_si256(neg, _mm256_set1_epi8(1)));
	return _mm256_madd_epi16(_mm256_maddubs_epi16(grid4_u16(sl_iq2xs_grid, a, 511), q8s), scale);
}

/*
 * iq2_xs: 16-bit fields of a 9-bit grid index and 7 sign bits.  Signs as ggml makes them, in
 * vectors for four sub-blocks at a time: the 8th (parity) bit from a 16-entry pshufb table of the
 * xor of the field's nibbles, then each sign byte spread over its 8 elements and tested bit by
 * bit.  Grid indices are split in registers, one uint64 load per four.
 */
static void iq2_xs_dot_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq2_xs *x = vx;
	const struct block_q8_K *y = vy;
	/* sign bytes 0, 2 (low lane) and 4, 6 (high lane) of a 128-bit half, each to 8 bytes; +8 for 8..14 */
	const __m256i spread1 = _mm256_set_epi64x(0x0606060606060606, 0x0404040404040404, 0x0202020202020202, 0);
	const __m256i spread2 = _mm256_add_epi8(spread1, _mm256_set1_epi8(8));
	/* 0x80 where a nibble has odd parity */
	const __m256i odd = _mm256_set_epi64x((long long)0x0080800080000080ull, (long long)0x8000008000808000ull,
					      (long long)0x0080800080000080ull, (long long)0x8000008000808000ull);
	const __m256i m4 = _mm256_set1_epi16(0xf);
	__m256 acc = _mm256_setzero_ps();
	for (int64_t i = 0; i < n / QK_K; ++i) {
		const uint16_t *q2 = x[i].qs;
		const int8_t *q8 = y[i].qs;
		const __m128i ls = scales16_bytes(x[i].scales);
		__m128i pick = scale_pick0();
		__m256i sumi1 = _mm256_setzero_si256(), sumi2 = _mm256_setzero_si256();
		for (int ib32 = 0; ib32 < QK_K / 32; ib32 += 4, q2 += 16, q8 += 128) {
			const __m256i q2v = _mm256_loadu_si256((const __m256i *)q2);
			const __m256i part = _mm256_srli_epi16(q2v, 9);
			const __m256i par = _mm256_shuffle_epi8(odd, _mm256_and_si256(_mm256_xor_si256(part, _mm256_srli_epi16(q2v, 13)), m4));
			const __m256i full = _mm256_or_si256(part, par);
			const __m256i f1 = _mm256_permute2x128_si256(full, full, 0x00), f2 = _mm256_permute2x128_si256(full, full, 0x11);
			uint64_t a0, a1, a2, a3;
			memcpy(&a0, q2, 8);
			memcpy(&a1, q2 + 4, 8);
			memcpy(&a2, q2 + 8, 8);
			memcpy(&a3, q2 + 12, 8);
			sumi1 = _mm256_add_epi32(sumi1, iq2xs_step(_mm256_shuffle_epi8(f1, spread1), q8, a0, scale_pair(ls, &pick)));
			sumi2 = _mm256_add_epi32(sumi2, iq2xs_step(_mm256_shuffle_epi8(f1, spread2), q8 + 32, a1, scale_pair(ls, &pick)));
			sumi1 = _mm256_add_epi32(sumi1, iq2xs_step(_mm256_shuffle_epi8(f2, spread1), q8 + 64, a2, scale_pair(ls, &pick)));
			sumi2 = _mm256_add_epi32(sumi2, iq2xs_step(_mm256_shuffle_epi8(f2, spread2), q8 + 96, a3, scale_pair(ls, &pick)));
		}
		acc = _mm256_fmadd_ps(_mm256_set1_ps(grid_fp16(x[i].d) * y[i].d), _mm256_cvtepi32_ps(_mm256_add_epi32(sumi1, sumi2)),
				      acc);
	}
	*s = 0.125f * hsum_ps8(acc);
}

/*
 * iq2_s: 10-bit indices (low 8 in qs, 2 high bits each in qh: bits 2k, 2k+1 of 4 qh bytes as a
 * uint32 belong to index k of those 16), explicit sign bytes, two sub-blocks per step.  Indices
 * are made in vectors GRID_CHUNK blocks ahead of their use (see iq3_s below): put together in registers
 * they measured 15% slower.
 */
#define GRID_CHUNK 8
static void iq2_s_dot_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq2_s *x = vx;
	const struct block_q8_K *y = vy;
	/* word k: bit 2 (k % 8) (sel_a) and the one above it (sel_b) of qh's 16-bit half k / 8 */
	const __m256i sel_a = _mm256_broadcastsi128_si256(_mm_setr_epi16(1, 4, 16, 64, 256, 1024, 4096, 16384));
	const __m256i sel_b = _mm256_add_epi16(sel_a, sel_a);
	const __m256i b8 = _mm256_set1_epi16(0x100), b9 = _mm256_set1_epi16(0x200);
	uint16_t gi[GRID_CHUNK][QK_K / 8];
	const int64_t nb = n / QK_K;
	__m256 acc = _mm256_setzero_ps();
	for (int64_t i0 = 0; i0 < nb; i0 += GRID_CHUNK) {
		const int64_t i1 = i0 + GRID_CHUNK < nb ? i0 + GRID_CHUNK : nb;
		for (int64_t i = i0; i < i1; ++i)
			for (int h = 0; h < 2; ++h) { /* indices 16h..16h+15 */
				uint16_t q16[2];
				memcpy(q16, x[i].qh + 4 * h, 4);
				const __m256i v = _mm256_set_m128i(_mm_set1_epi16((short)q16[1]), _mm_set1_epi16((short)q16[0]));
				const __m256i hb = _mm256_or_si256(
					_mm256_and_si256(_mm256_cmpeq_epi16(_mm256_and_si256(v, sel_a), sel_a), b8),
					_mm256_and_si256(_mm256_cmpeq_epi16(_mm256_and_si256(v, sel_b), sel_b), b9));
				const __m256i lo = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(x[i].qs + 16 * h)));
				_mm256_storeu_si256((__m256i *)(gi[i - i0] + 16 * h), _mm256_or_si256(lo, hb));
			}
		for (int64_t i = i0; i < i1; ++i) {
			const uint16_t *ix = gi[i - i0];
			const uint8_t *signs = x[i].qs + QK_K / 8;
			const int8_t *q8 = y[i].qs;
			const __m128i ls = scales16_bytes(x[i].scales);
			__m128i pick = scale_pick0();
			__m256i sumi1 = _mm256_setzero_si256(), sumi2 = _mm256_setzero_si256();
			for (int ib32 = 0; ib32 < QK_K / 32; ib32 += 2, ix += 8, signs += 8, q8 += 64) {
				const __m256i grid1 = _mm256_set_epi64x((long long)sl_iq2s_grid[ix[3]], (long long)sl_iq2s_grid[ix[2]],
									(long long)sl_iq2s_grid[ix[1]], (long long)sl_iq2s_grid[ix[0]]);
				const __m256i grid2 = _mm256_set_epi64x((long long)sl_iq2s_grid[ix[7]], (long long)sl_iq2s_grid[ix[6]],
									(long long)sl_iq2s_grid[ix[5]], (long long)sl_iq2s_grid[ix[4]]);
				const __m256i q8s1 = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)q8), signs_from_bits(signs));
				const __m256i q8s2 = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(q8 + 32)), signs_from_bits(signs + 4));
				sumi1 = _mm256_add_epi32(sumi1, _mm256_madd_epi16(_mm256_maddubs_epi16(grid1, q8s1), scale_pair(ls, &pick)));
				sumi2 = _mm256_add_epi32(sumi2, _mm256_madd_epi16(_mm256_maddubs_epi16(grid2, q8s2), scale_pair(ls, &pick)));
			}
			acc = _mm256_fmadd_ps(_mm256_set1_ps(grid_fp16(x[i].d) * y[i].d),
					      _mm256_cvtepi32_ps(_mm256_add_epi32(sumi1, sumi2)), acc);
		}
	}
	*s = 0.125f * hsum_ps8(acc);
}

/*
 * iq3_s: 9-bit indices (low 8 in qs, the 9th in qh: bit k of the block's qh is index k's).  The
 * indices of GRID_CHUNK blocks are put together in vectors and stored first, then read back one
 * by one: by then the stores have retired, so the narrow loads do not wait on forwarding from a
 * wide store (putting them together in registers, as before, was 25% slower).
 */
static void iq3_s_dot_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq3_s *x = vx;
	const struct block_q8_K *y = vy;
	const __m256i bitsel = _mm256_setr_epi16(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, -32768);
	const __m256i bit8 = _mm256_set1_epi16(0x100);
	const uint32_t *g = sl_iq3s_grid;
	uint16_t gi[GRID_CHUNK][QK_K / 4];
	const int64_t nb = n / QK_K;
	__m256 acc = _mm256_setzero_ps();
	for (int64_t i0 = 0; i0 < nb; i0 += GRID_CHUNK) {
		const int64_t i1 = i0 + GRID_CHUNK < nb ? i0 + GRID_CHUNK : nb;
		for (int64_t i = i0; i < i1; ++i)
			for (int h = 0; h < 4; ++h) { /* indices 16h..16h+15 */
				uint16_t q16;
				memcpy(&q16, x[i].qh + 2 * h, 2);
				const __m256i lo = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(x[i].qs + 16 * h)));
				const __m256i b = _mm256_and_si256(_mm256_set1_epi16((short)q16), bitsel);
				const __m256i hi = _mm256_and_si256(_mm256_cmpeq_epi16(b, bitsel), bit8);
				_mm256_storeu_si256((__m256i *)(gi[i - i0] + 16 * h), _mm256_or_si256(lo, hi));
			}
		for (int64_t i = i0; i < i1; ++i) {
			const uint16_t *ix = gi[i - i0];
			const uint8_t *signs = x[i].signs;
			const int8_t *q8 = y[i].qs;
			__m256i sumi1 = _mm256_setzero_si256(), sumi2 = _mm256_setzero_si256();
			for (int ib32 = 0; ib32 < QK_K / 32; ib32 += 2, ix += 16, signs += 8, q8 += 64) {
				const __m256i grid1 = _mm256_set_epi32((int)g[ix[7]], (int)g[ix[6]], (int)g[ix[5]], (int)g[ix[4]],
								       (int)g[ix[3]], (int)g[ix[2]], (int)g[ix[1]], (int)g[ix[0]]);
				const __m256i grid2 = _mm256_set_epi32((int)g[ix[15]], (int)g[ix[14]], (int)g[ix[13]], (int)g[ix[12]],
								       (int)g[ix[11]], (int)g[ix[10]], (int)g[ix[9]], (int)g[ix[8]]);
				const __m256i q8s1 = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)q8), signs_from_bits(signs));
				const __m256i q8s2 = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(q8 + 32)), signs_from_bits(signs + 4));
				const uint8_t sc = x[i].scales[ib32 / 2];
				const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(grid1, q8s1), _mm256_set1_epi16((short)(2 * (sc & 0xf) + 1)));
				const __m256i p2 = _mm256_madd_epi16(_mm256_maddubs_epi16(grid2, q8s2), _mm256_set1_epi16((short)(2 * (sc >> 4) + 1)));
				sumi1 = _mm256_add_epi32(sumi1, p1);
				sumi2 = _mm256_add_epi32(sumi2, p2);
			}
			acc = _mm256_fmadd_ps(_mm256_set1_ps(grid_fp16(x[i].d) * y[i].d),
					      _mm256_cvtepi32_ps(_mm256_add_epi32(sumi1, sumi2)), acc);
		}
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
		__m256i delta;
		const __m256i ls8 = iq1s_scales_delta(&x[i], &y[i], &delta);
		const int8_t *q8 = y[i].qs;
		__m256i g0 = _mm256_setzero_si256(), g1 = g0;
		IQ1S_SUBS8(iq1s_sub, g0, g1, &x[i], q8, ls8);
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
