/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/iq_avx512_grid.c — AVX-512 dots of the grid i-quants (iq2_xxs, iq2_xs, iq2_s,
 * iq3_xxs, iq3_s).  Compiled with the AVX-512 flags; the functions also use VBMI (vpermb,
 * vpermi2b, vpmultishiftqb), so they are installed only when CPUID reports it as well
 * (sl_quant_iq_avx512_grid_kernels checks; quant.c has already checked F/BW/VL/VNNI and XCR0).
 *
 * What AVX2 spends its time on in these types is not the multiplies but getting grid entries and
 * signs into registers.  Here each 512-bit step covers two sub-blocks (64 elements):
 *  - signs become a 64-bit opmask and are applied to the activations with one masked subtract.
 *    Where a format stores 7 bits per 8 (iq2_xxs, iq2_xs, iq3_xxs), the whole block's sign bytes
 *    are made at once: vpmultishiftqb (or a shift) puts each 7-bit group in a byte and one vpermi2b
 *    looks up the 128-entry ksigns table (bit 7 of an index is ignored, so no masking);
 *  - grid entries are still fetched by scalar index (on Zen 4 vpgatherdq / vpgatherdd measured
 *    10-35% slower), assembled 128 bits at a time.  Indices that need work (iq2_s, iq3_s: high
 *    bits from qh) are made in vectors GRID_CHUNK blocks ahead and read back from memory;
 *  - grid bytes are unsigned, the signed activations signed: vpmaddubsw to int16 pairs (at most
 *    2 * 62 * 127, no saturation), then vpdpwssd by the per-sub-block scale into the block's int32
 *    accumulator: the block sum is the scalar dot's exact integer, only the float accumulation
 *    order differs (quant.h's accuracy contract; test_quant_iq_simd checks it).
 */
#include "quant/iq_blocks.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512VNNI__)
#include <immintrin.h>

/* on top of the file's AVX-512 flags; sl_quant_iq_avx512_grid_kernels checks CPUID for both */
#define VBMI __attribute__((target("avx512vbmi,bmi2")))

/*
 * Blocks whose indices are made in vectors and stored before any is read back one by one: by then
 * the stores have retired, so the narrow loads do not wait on forwarding from a wide store (made
 * and read back in the same block, or moved to registers through vmovq / vpextrq: 10-25% slower).
 */
#define GRID_CHUNK 8

/* F16C inline: FP16() is a call, and a call in the loop spills every vector register. */
static inline float fp16(uint16_t h)
{
	return _cvtsh_ss(h);
}

/* 8 uint64 grid entries, 4 for each of two sub-blocks, one 512-bit vector (a gather measured
 * slower on Zen 4, as ggml notes for iq3_s). */
static inline __m512i grid8_u64(const uint64_t *g, unsigned a0, unsigned a1, unsigned a2, unsigned a3, unsigned b0,
				unsigned b1, unsigned b2, unsigned b3)
{
	const __m256i lo = _mm256_set_epi64x((long long)g[a3], (long long)g[a2], (long long)g[a1], (long long)g[a0]);
	const __m256i hi = _mm256_set_epi64x((long long)g[b3], (long long)g[b2], (long long)g[b1], (long long)g[b0]);
	return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* The same from two runs of 4 byte indices, each read as one uint32 and split in registers (8
 * byte loads measured 10% slower: they compete with the grid loads for the load ports). */
static inline __m512i grid8_bytes(const uint64_t *g, const uint8_t *pa, const uint8_t *pb)
{
	uint32_t a, b;
	memcpy(&a, pa, 4);
	memcpy(&b, pb, 4);
	return grid8_u64(g, a & 0xff, (a >> 8) & 0xff, (a >> 16) & 0xff, a >> 24, b & 0xff, (b >> 8) & 0xff,
			 (b >> 16) & 0xff, b >> 24);
}

static inline __mmask64 load_mask64(const uint8_t *p)
{
	uint64_t m;
	memcpy(&m, p, 8);
	return _cvtu64_mask64(m);
}

/* Negate the activation bytes whose opmask bit is set. */
static inline __m512i apply_signs(__m512i q8, __mmask64 neg)
{
	return _mm512_mask_sub_epi8(q8, neg, _mm512_setzero_si512(), q8);
}

/*
 * sumi + the 64-element grid x q8 dot (q8 negated where neg is set: the grid bytes stay unsigned
 * for vpmaddubsw), its int16 pairs weighted by the scale words sc.
 */
static inline __m512i signed_grid_dot(__m512i sumi, __m512i grid, const int8_t *q8, __mmask64 neg, __m512i sc)
{
	const __m512i dot = _mm512_maddubs_epi16(grid, apply_signs(_mm512_loadu_si512(q8), neg));
	return _mm512_dpwssd_epi32(sumi, dot, sc);
}

/*
 * iq2_xxs / iq3_xxs: from a block's 8 sign|scale words sw, neg[p] = the sign opmask of sub-blocks
 * 2p and 2p+1 (7-bit groups split by vpmultishiftqb, made sign bytes by vpermi2b on the ksigns
 * table ks_lo:ks_hi); returns the scales 2 * (sw >> 28) + 1 as int32 (word 2k: sub-block k's).
 */
static VBMI inline __m512i xxs_signs_scales(__m256i sw, __m512i ks_lo, __m512i ks_hi, uint64_t neg[4])
{
	/* bytes 0-3 of a qword from bits 0, 7, 14, 21 of its low dword, 4-7 likewise of its high one */
	const __m256i split7 = _mm256_set1_epi64x(0x352e2720150e0700);
	const __m512i sbytes = _mm512_permutex2var_epi8(ks_lo, _mm512_zextsi256_si512(_mm256_multishift_epi64_epi8(split7, sw)), ks_hi);
	_mm256_storeu_si256((__m256i *)neg, _mm512_castsi512_si256(sbytes));
	const __m256i ls = _mm256_srli_epi32(sw, 28);
	return _mm512_zextsi256_si512(_mm256_add_epi32(_mm256_add_epi32(ls, ls), _mm256_set1_epi32(1)));
}

/* vpermw index: words 0-15 take word a, words 16-31 word b (one scale per sub-block). */
static inline __m512i words_pair(int a, int b)
{
	return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16((short)a)), _mm256_set1_epi16((short)b), 1);
}

/*
 * iq2_xxs: per sub-block a uint32 of 4 grid indices and a uint32 of 4 x 7 sign bits | scale.  The 8
 * sign words of a block are collected (vpermd), split into 7-bit groups by vpmultishiftqb and
 * turned into sign bytes by vpermi2b on the ksigns table: qword p then holds the sign bits of
 * sub-blocks 2p and 2p+1 in element order.
 */
static VBMI void iq2_xxs_dot_avx512(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq2_xxs *x = vx;
	const struct block_q8_K *y = vy;
	const __m512i ks_lo = _mm512_loadu_si512(sl_ksigns_iq2xs), ks_hi = _mm512_loadu_si512(sl_ksigns_iq2xs + 64);
	const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 1, 3, 5, 7, 9, 11, 13, 15);
	const __m512i sc_idx[4] = { words_pair(0, 2), words_pair(4, 6), words_pair(8, 10), words_pair(12, 14) };
	__m512 acc = _mm512_setzero_ps();
	for (int64_t i = 0; i < n / QK_K; ++i) {
		const uint8_t *q2 = (const uint8_t *)x[i].qs;
		const int8_t *q8 = y[i].qs;
		const __m256i sw = _mm512_castsi512_si256(_mm512_permutexvar_epi32(odd, _mm512_loadu_si512(q2)));
		uint64_t neg[4];
		const __m512i ls2 = xxs_signs_scales(sw, ks_lo, ks_hi, neg);
		__m512i sumi = _mm512_setzero_si512();
		for (int p = 0; p < 4; ++p, q2 += 16, q8 += 64) {
			const __m512i grid = grid8_bytes(sl_iq2xxs_grid, q2, q2 + 8);
			sumi = signed_grid_dot(sumi, grid, q8, _cvtu64_mask64(neg[p]), _mm512_permutexvar_epi16(sc_idx[p], ls2));
		}
		acc = _mm512_fmadd_ps(_mm512_set1_ps(fp16(x[i].d) * y[i].d), _mm512_cvtepi32_ps(sumi), acc);
	}
	*s = 0.125f * _mm512_reduce_add_ps(acc);
}

/* 16 uint32 grid entries from 16 byte indices (two sub-blocks of iq3_xxs), one 512-bit vector;
 * indices split in registers (16 byte loads: 15% slower; a dword gather: 35% slower). */
static inline __m512i grid16_bytes(const uint32_t *g, const uint8_t *ix)
{
	uint64_t a, b;
	memcpy(&a, ix, 8);
	memcpy(&b, ix + 8, 8);
	const __m256i lo = _mm256_setr_epi32((int)g[a & 0xff], (int)g[(a >> 8) & 0xff], (int)g[(a >> 16) & 0xff],
					     (int)g[(a >> 24) & 0xff], (int)g[(a >> 32) & 0xff], (int)g[(a >> 40) & 0xff],
					     (int)g[(a >> 48) & 0xff], (int)g[a >> 56]);
	const __m256i hi = _mm256_setr_epi32((int)g[b & 0xff], (int)g[(b >> 8) & 0xff], (int)g[(b >> 16) & 0xff],
					     (int)g[(b >> 24) & 0xff], (int)g[(b >> 32) & 0xff], (int)g[(b >> 40) & 0xff],
					     (int)g[(b >> 48) & 0xff], (int)g[b >> 56]);
	return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* iq3_xxs: 8 byte indices into a 4-wide grid per sub-block, then the 8 sign|scale words of the
 * block together, split as iq2_xxs's. */
static VBMI void iq3_xxs_dot_avx512(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq3_xxs *x = vx;
	const struct block_q8_K *y = vy;
	const __m512i ks_lo = _mm512_loadu_si512(sl_ksigns_iq2xs), ks_hi = _mm512_loadu_si512(sl_ksigns_iq2xs + 64);
	const __m512i sc_idx[4] = { words_pair(0, 2), words_pair(4, 6), words_pair(8, 10), words_pair(12, 14) };
	__m512 acc = _mm512_setzero_ps();
	for (int64_t i = 0; i < n / QK_K; ++i) {
		const uint8_t *q3 = x[i].qs;
		const int8_t *q8 = y[i].qs;
		const __m256i sw = _mm256_loadu_si256((const __m256i *)(x[i].qs + QK_K / 4));
		uint64_t neg[4];
		const __m512i ls2 = xxs_signs_scales(sw, ks_lo, ks_hi, neg);
		__m512i sumi = _mm512_setzero_si512();
		for (int p = 0; p < 4; ++p, q3 += 16, q8 += 64) {
			const __m512i grid = grid16_bytes(sl_iq3xxs_grid, q3);
			sumi = signed_grid_dot(sumi, grid, q8, _cvtu64_mask64(neg[p]), _mm512_permutexvar_epi16(sc_idx[p], ls2));
		}
		acc = _mm512_fmadd_ps(_mm512_set1_ps(fp16(x[i].d) * y[i].d), _mm512_cvtepi32_ps(sumi), acc);
	}
	*s = 0.25f * _mm512_reduce_add_ps(acc);
}

/*
 * The 16 4-bit scales of iq2_xs / iq2_s (one per 16 elements, byte k: sub-block k, low nibble
 * first) as 2 ls + 1 in int16 words 0-15 of a vector, word h for elements 16h..16h+15.
 */
static inline __m512i scales16(const uint8_t *sc)
{
	const __m128i b = _mm_loadl_epi64((const __m128i *)sc), m4 = _mm_set1_epi8(0xf);
	const __m128i nib = _mm_unpacklo_epi8(_mm_and_si128(b, m4), _mm_and_si128(_mm_srli_epi16(b, 4), m4));
	const __m128i ls = _mm_add_epi8(_mm_add_epi8(nib, nib), _mm_set1_epi8(1));
	return _mm512_zextsi256_si512(_mm256_cvtepu8_epi16(ls));
}

/* vpermw index for pair p of scales16(): words 8q..8q+7 take word 4p + q. */
static inline __m512i quarters(int p)
{
	return _mm512_inserti64x4(
		_mm512_castsi256_si512(_mm256_setr_m128i(_mm_set1_epi16((short)(4 * p)), _mm_set1_epi16((short)(4 * p + 1)))),
		_mm256_setr_m128i(_mm_set1_epi16((short)(4 * p + 2)), _mm_set1_epi16((short)(4 * p + 3))), 1);
}

/*
 * iq2_xs: per 8 elements a uint16, 9-bit grid index | 7 sign bits.  The block's 32 sign fields
 * are its high bytes shifted right by one: vpermb collects them, a 16-bit shift moves them down
 * (the stray bit 7 is ignored by vpermi2b) and the ksigns lookup gives qword p = the signs of
 * sub-blocks 2p, 2p+1.  Grid indices are masked in a vector and read back from memory.
 */
static VBMI void iq2_xs_dot_avx512(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq2_xs *x = vx;
	const struct block_q8_K *y = vy;
	const __m512i ks_lo = _mm512_loadu_si512(sl_ksigns_iq2xs), ks_hi = _mm512_loadu_si512(sl_ksigns_iq2xs + 64);
	const __m512i high_bytes = _mm512_set_epi64(0, 0, 0, 0, 0x3f3d3b3937353331, 0x2f2d2b2927252321,
						    0x1f1d1b1917151311, 0x0f0d0b0907050301);
	const __m512i sc_idx[4] = { quarters(0), quarters(1), quarters(2), quarters(3) };
	__m512 acc = _mm512_setzero_ps();
	for (int64_t i = 0; i < n / QK_K; ++i) {
		const int8_t *q8 = y[i].qs;
		const __m512i q = _mm512_loadu_si512(x[i].qs);
		const __m512i sidx = _mm512_srli_epi16(_mm512_permutexvar_epi8(high_bytes, q), 1);
		uint64_t neg[8];
		_mm512_storeu_si512(neg, _mm512_permutex2var_epi8(ks_lo, sidx, ks_hi));
		const __m512i ls = scales16(x[i].scales);
		__m512i sumi = _mm512_setzero_si512();
		for (int p = 0; p < 4; ++p, q8 += 64) {
			uint64_t a, b;
			memcpy(&a, x[i].qs + 8 * p, 8);
			memcpy(&b, x[i].qs + 8 * p + 4, 8);
			const __m512i grid = grid8_u64(sl_iq2xs_grid, a & 511, (a >> 16) & 511, (a >> 32) & 511, (a >> 48) & 511,
						       b & 511, (b >> 16) & 511, (b >> 32) & 511, (b >> 48) & 511);
			sumi = signed_grid_dot(sumi, grid, q8, _cvtu64_mask64(neg[p]), _mm512_permutexvar_epi16(sc_idx[p], ls));
		}
		acc = _mm512_fmadd_ps(_mm512_set1_ps(fp16(x[i].d) * y[i].d), _mm512_cvtepi32_ps(sumi), acc);
	}
	*s = 0.125f * _mm512_reduce_add_ps(acc);
}

/*
 * iq2_s: 10-bit indices, 8 low bits in qs, 2 high in qh (bits 2k, 2k+1 of the block's qh as a
 * uint64 belong to index k: pext splits them into two 32-bit opmasks), and a sign byte per 8
 * elements: 8 bytes are the opmask of a pair of sub-blocks as they are.  Indices made GRID_CHUNK
 * blocks ahead.
 */
static VBMI void iq2_s_dot_avx512(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq2_s *x = vx;
	const struct block_q8_K *y = vy;
	const __m512i sc_idx[4] = { quarters(0), quarters(1), quarters(2), quarters(3) };
	uint16_t gi[GRID_CHUNK][QK_K / 8];
	const int64_t nb = n / QK_K;
	__m512 acc = _mm512_setzero_ps();
	for (int64_t i0 = 0; i0 < nb; i0 += GRID_CHUNK) {
		const int64_t i1 = i0 + GRID_CHUNK < nb ? i0 + GRID_CHUNK : nb;
		for (int64_t i = i0; i < i1; ++i) {
			uint64_t qh;
			memcpy(&qh, x[i].qh, 8);
			__m512i idx = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)x[i].qs));
			idx = _mm512_mask_add_epi16(idx, (__mmask32)_pext_u64(qh, 0x5555555555555555ull), idx, _mm512_set1_epi16(0x100));
			idx = _mm512_mask_add_epi16(idx, (__mmask32)_pext_u64(qh, 0xaaaaaaaaaaaaaaaaull), idx, _mm512_set1_epi16(0x200));
			_mm512_storeu_si512(gi[i - i0], idx);
		}
		for (int64_t i = i0; i < i1; ++i) {
			const int8_t *q8 = y[i].qs;
			const uint8_t *signs = x[i].qs + QK_K / 8;
			const uint16_t *ix = gi[i - i0];
			const __m512i ls = scales16(x[i].scales);
			__m512i sumi = _mm512_setzero_si512();
			for (int p = 0; p < 4; ++p, q8 += 64, signs += 8, ix += 8) {
				const __m512i grid = grid8_u64(sl_iq2s_grid, ix[0], ix[1], ix[2], ix[3], ix[4], ix[5], ix[6], ix[7]);
				sumi = signed_grid_dot(sumi, grid, q8, load_mask64(signs), _mm512_permutexvar_epi16(sc_idx[p], ls));
			}
			acc = _mm512_fmadd_ps(_mm512_set1_ps(fp16(x[i].d) * y[i].d), _mm512_cvtepi32_ps(sumi), acc);
		}
	}
	*s = 0.125f * _mm512_reduce_add_ps(acc);
}

/*
 * iq3_s: 9-bit indices into a 4-wide grid, 8 low bits in qs and the 9th in qh (bit k of the
 * block's qh as a uint64 is index k's: an opmask), explicit sign bits (an opmask as stored), a
 * 4-bit scale per 32 elements.  Indices made GRID_CHUNK blocks ahead.
 */
static VBMI void iq3_s_dot_avx512(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq3_s *x = vx;
	const struct block_q8_K *y = vy;
	const __m512i sc_idx[4] = { words_pair(0, 1), words_pair(2, 3), words_pair(4, 5), words_pair(6, 7) };
	const __m512i bit8 = _mm512_set1_epi16(0x100);
	const __m128i m4 = _mm_set1_epi8(0xf);
	__m512 acc = _mm512_setzero_ps();
	uint16_t gi[GRID_CHUNK][64];
	const int64_t nb = n / QK_K;
	for (int64_t i0 = 0; i0 < nb; i0 += GRID_CHUNK) {
		const int64_t i1 = i0 + GRID_CHUNK < nb ? i0 + GRID_CHUNK : nb;
		for (int64_t i = i0; i < i1; ++i) {
			uint64_t qh;
			memcpy(&qh, x[i].qh, 8);
			const __m512i lo_a = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)x[i].qs));
			const __m512i lo_b = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(x[i].qs + 32)));
			_mm512_storeu_si512(gi[i - i0], _mm512_mask_add_epi16(lo_a, (__mmask32)qh, lo_a, bit8));
			_mm512_storeu_si512(gi[i - i0] + 32, _mm512_mask_add_epi16(lo_b, (__mmask32)(qh >> 32), lo_b, bit8));
		}
		for (int64_t i = i0; i < i1; ++i) {
			const int8_t *q8 = y[i].qs;
			const uint8_t *signs = x[i].signs;
			const uint16_t *ix = gi[i - i0];
			uint32_t sc;
			memcpy(&sc, x[i].scales, 4);
			const __m128i b = _mm_cvtsi32_si128((int)sc);
			const __m128i nib = _mm_unpacklo_epi8(_mm_and_si128(b, m4), _mm_and_si128(_mm_srli_epi16(b, 4), m4));
			const __m512i ls = _mm512_zextsi128_si512(_mm_cvtepu8_epi16(_mm_add_epi8(_mm_add_epi8(nib, nib), _mm_set1_epi8(1))));
			__m512i sumi = _mm512_setzero_si512();
			const uint32_t *g = sl_iq3s_grid;
			for (int p = 0; p < 4; ++p, q8 += 64, signs += 8, ix += 16) {
				const __m256i lo = _mm256_setr_epi32((int)g[ix[0]], (int)g[ix[1]], (int)g[ix[2]], (int)g[ix[3]], (int)g[ix[4]],
								     (int)g[ix[5]], (int)g[ix[6]], (int)g[ix[7]]);
				const __m256i hi = _mm256_setr_epi32((int)g[ix[8]], (int)g[ix[9]], (int)g[ix[10]], (int)g[ix[11]], (int)g[ix[12]],
								     (int)g[ix[13]], (int)g[ix[14]], (int)g[ix[15]]);
				const __m512i grid = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
				sumi = signed_grid_dot(sumi, grid, q8, load_mask64(signs), _mm512_permutexvar_epi16(sc_idx[p], ls));
			}
			acc = _mm512_fmadd_ps(_mm512_set1_ps(fp16(x[i].d) * y[i].d), _mm512_cvtepi32_ps(sumi), acc);
		}
	}
	*s = _mm512_reduce_add_ps(acc);
}

static bool cpu_has_vbmi(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("bmi2");
}

void sl_quant_iq_avx512_grid_kernels(uint32_t type, struct sl_kernels *k)
{
	if (!cpu_has_vbmi())
		return;
	switch (type) {
	case SL_TYPE_IQ2_XXS: k->vec_dot = iq2_xxs_dot_avx512; break;
	case SL_TYPE_IQ3_XXS: k->vec_dot = iq3_xxs_dot_avx512; break;
	case SL_TYPE_IQ2_XS: k->vec_dot = iq2_xs_dot_avx512; break;
	case SL_TYPE_IQ2_S: k->vec_dot = iq2_s_dot_avx512; break;
	case SL_TYPE_IQ3_S: k->vec_dot = iq3_s_dot_avx512; break;
	default: break;
	}
}

#else /* built without AVX-512 flags: nothing to offer */
void sl_quant_iq_avx512_grid_kernels(uint32_t type, struct sl_kernels *k)
{
	(void)type;
	(void)k;
}
#endif
