/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/quant_avx512.c — AVX-512 VNNI dots for q4_K and q6_K.
 * Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni (plus the AVX2
 * flags); only called after quant.c checked CPUID and that the OS saves
 * opmask/ZMM state (XCR0).  Every other type keeps its AVX2 dot (q8_0 too: a
 * dpbusd(|x|, y*sign(x)) version measured no faster than AVX2's on Zen 4,
 * where its L2 probe is bound by loads and scale gathering, not by the dot).
 *
 * Integer work per block is exact, as in the scalar kernels; only the float
 * accumulation order differs.
 *
 * vpdpbusd (unsigned byte x signed byte, 4 products summed into an int32
 * lane) replaces AVX2's maddubs + madd; K-quant levels are unsigned (q4_K
 * 0..15, q6_K 0..63 before its -32 offset), so they go in directly.  Each
 * dpbusd lane then fits in int16 (q4_K: 4*15*128 = 7680, q6_K: 4*63*128 =
 * 32256), so two dpbusd results are packed to int16 with packssdw (exact: no
 * value saturates) and multiplied by their sub-block scales with one vpdpwssd,
 * which also sums adjacent lanes of the same sub-block: 12 multiply-pipe
 * instructions per 256 elements where AVX2 needs 16 (maddubs + madd with the
 * scales), plus fewer adds.  The kernels use 256-bit vectors (AVX512VL): on
 * Zen 4, where 512-bit ops are split into two 256-bit halves, 512-bit
 * versions needed extra masked shifts / permutes and measured 10-15% slower.
 */
#include "quant/blocks.h"
#include "quant/simd_x86.h"

void sl_quant_avx512_kernels(uint32_t type, struct sl_kernels *k);

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512VNNI__) && \
	defined(__F16C__)
#include <immintrin.h>
#include <string.h>


/* pshufb control on 8 int16 scales (in both 128-bit lanes): words 2j x4, 2j+1 x4, per lane. */
static inline __m256i pair_idx(int j)
{
	const short a = (short)((4 * j) | (4 * j + 1) << 8), b = (short)((4 * j + 2) | (4 * j + 3) << 8);
	return _mm256_setr_epi16(a, a, a, a, b, b, b, b, a, a, a, a, b, b, b, b);
}

/*
 * q4_K: per 32 weight bytes (group j), the low nibbles dot q8[64j .. 64j+31]
 * and the high nibbles q8[64j+32 .. 64j+63], each with one 256-bit dpbusd.
 * Their lanes (4 products each, |sum| <= 7680) are packed to int16 and scaled
 * by sub-blocks 2j and 2j+1 with one vpdpwssd; the scale words come from one
 * pshufb of the 8 scales.  256-bit ops on purpose: extracting nibbles at 512
 * bits costs an extra masked shift per group, and Zen 4 runs 512-bit ops as
 * two 256-bit halves anyway (measured: 512-bit version 10% slower).
 * The mins term (m_j * (bsum[2j] + bsum[2j+1])) stays a vector, reduced once per row.
 */
static void q4_K_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_q4_K *x = vx;
	const struct block_q8_K *y = vy;
	const __m256i m4 = _mm256_set1_epi8(0xF);
	const __m256i k0 = pair_idx(0), k1 = pair_idx(1), k2 = pair_idx(2), k3 = pair_idx(3);
	__m256 acc = _mm256_setzero_ps();
	__m256 accm = _mm256_setzero_ps();
	for (int64_t i = 0; i < n / QK_K; i++) {
		uint32_t dm;
		memcpy(&dm, &x[i].d, 4); /* d, dmin: adjacent fp16 */
		const __m128 dd = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128((int)dm)), _mm_set1_ps(y[i].d));
		const __m256 d = _mm256_broadcastss_ps(dd), dmin = _mm256_broadcastss_ps(_mm_movehdup_ps(dd));
		uint32_t u[4];
		k4_unpack(x[i].scales, u);
		const __m128i mb = _mm_cvtsi64_si128((long long)((uint64_t)u[2] | (uint64_t)u[3] << 32));
		const __m256i m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mb, mb));
		const __m256i mi = _mm256_madd_epi16(m16, _mm256_loadu_si256((const __m256i *)y[i].bsums));
		accm = _mm256_fmadd_ps(dmin, _mm256_cvtepi32_ps(mi), accm);
		const __m256i sc2 = _mm256_broadcastsi128_si256(
			_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)((uint64_t)u[0] | (uint64_t)u[1] << 32))));
		const uint8_t *qs = x[i].qs;
		const int8_t *q8 = y[i].qs;
		__m256i sa = _mm256_setzero_si256(), sb = _mm256_setzero_si256();
#define Q4K_GROUP(j, acc_)                                                                                            \
	do {                                                                                                          \
		const __m256i b = _mm256_loadu_si256((const __m256i *)(qs + 32 * (j)));                               \
		const __m256i zl = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_and_si256(b, m4),               \
						       _mm256_loadu_si256((const __m256i *)(q8 + 64 * (j))));          \
		const __m256i zh = _mm256_dpbusd_epi32(_mm256_setzero_si256(),                                        \
						       _mm256_and_si256(_mm256_srli_epi16(b, 4), m4),                  \
						       _mm256_loadu_si256((const __m256i *)(q8 + 64 * (j) + 32)));     \
		acc_ = _mm256_dpwssd_epi32(acc_, _mm256_packs_epi32(zl, zh), _mm256_shuffle_epi8(sc2, k##j));       \
	} while (0)
		Q4K_GROUP(0, sa);
		Q4K_GROUP(1, sb);
		Q4K_GROUP(2, sa);
		Q4K_GROUP(3, sb);
#undef Q4K_GROUP
		const __m256i s8 = _mm256_add_epi32(sa, sb);
		acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(s8), acc);
	}
	*s = hsum8(acc) - hsum8(accm);
}

/*
 * q6_K: levels are rebuilt as in the AVX2 kernel (4 low bits from ql, 2 high
 * bits from qh at bits 4-5; ternlog merges them), each 32-level vector v_g
 * goes through one 256-bit dpbusd with q8, and two results at a time (lanes:
 * 4 products of 0..63 levels, |sum| <= 32256) are packed to int16 and scaled
 * by their signed int8 sub-block scales with one vpdpwssd (scale words placed
 * by one vpermw).  The -32 offset is 32 * sum(scale * bsum), once per block.
 */
static inline __m256i q6_scale_idx(int c, int h)
{
	const int b = 8 * c + 4 * h;
	return _mm256_setr_epi16((short)b, (short)b, (short)b, (short)b, (short)(b + 2), (short)(b + 2), (short)(b + 2),
				 (short)(b + 2), (short)(b + 1), (short)(b + 1), (short)(b + 1), (short)(b + 1), (short)(b + 3),
				 (short)(b + 3), (short)(b + 3), (short)(b + 3));
}

/* (lo & 0x0F) | (hi & 0x30) */
static inline __m256i q6_merge(__m256i lo, __m256i hi, __m256i m4, __m256i m30)
{
	return _mm256_ternarylogic_epi32(lo, m4, _mm256_and_si256(hi, m30), 0xEA);
}

static void q6_K_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_q6_K *x = vx;
	const struct block_q8_K *y = vy;
	const __m256i m4 = _mm256_set1_epi8(0xF), m30 = _mm256_set1_epi8(0x30);
	const __m256i i00 = q6_scale_idx(0, 0), i01 = q6_scale_idx(0, 1), i10 = q6_scale_idx(1, 0), i11 = q6_scale_idx(1, 1);
	__m256 acc = _mm256_setzero_ps();
	for (int64_t i = 0; i < n / QK_K; i++) {
		const float d = y[i].d * H2F(x[i].d);
		const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
		const __m256i bias = _mm256_slli_epi32(_mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)y[i].bsums)), 5);
		const int8_t *q8 = y[i].qs;
		__m256i sa = _mm256_setzero_si256(), sb = _mm256_setzero_si256();
#define Q6K_CHUNK(c)                                                                                                    \
	do {                                                                                                            \
		const __m256i l1 = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * (c)));                           \
		const __m256i l2 = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * (c) + 32));                      \
		const __m256i h = _mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * (c)));                            \
		const __m256i v0 = q6_merge(l1, _mm256_slli_epi16(h, 4), m4, m30);                                      \
		const __m256i v1 = q6_merge(l2, _mm256_slli_epi16(h, 2), m4, m30);                                      \
		const __m256i v2 = q6_merge(_mm256_srli_epi16(l1, 4), h, m4, m30);                                      \
		const __m256i v3 = q6_merge(_mm256_srli_epi16(l2, 4), _mm256_srli_epi16(h, 2), m4, m30);                \
		const __m256i z0 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), v0,                                     \
						       _mm256_loadu_si256((const __m256i *)(q8 + 128 * (c))));          \
		const __m256i z1 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), v1,                                     \
						       _mm256_loadu_si256((const __m256i *)(q8 + 128 * (c) + 32)));     \
		const __m256i z2 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), v2,                                     \
						       _mm256_loadu_si256((const __m256i *)(q8 + 128 * (c) + 64)));     \
		const __m256i z3 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), v3,                                     \
						       _mm256_loadu_si256((const __m256i *)(q8 + 128 * (c) + 96)));     \
		sa = _mm256_dpwssd_epi32(sa, _mm256_packs_epi32(z0, z1), _mm256_permutexvar_epi16(i##c##0, sc16));    \
		sb = _mm256_dpwssd_epi32(sb, _mm256_packs_epi32(z2, z3), _mm256_permutexvar_epi16(i##c##1, sc16));    \
	} while (0)
		Q6K_CHUNK(0);
		Q6K_CHUNK(1);
#undef Q6K_CHUNK
		const __m256i s8 = _mm256_sub_epi32(_mm256_add_epi32(sa, sb), bias);
		acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(s8), acc);
	}
	*s = hsum8(acc);
}

void sl_quant_avx512_kernels(uint32_t type, struct sl_kernels *k)
{
	static const sl_vec_dot_fn dots[SL_TYPE_COUNT] = {
		[SL_TYPE_Q4_K] = q4_K_dot,
		[SL_TYPE_Q6_K] = q6_K_dot,
	};
	if (type < SL_TYPE_COUNT && dots[type])
		k->vec_dot = dots[type];
	sl_quant_iq_avx512_kernels(type, k); /* iq4_xs (iq_avx512.c) */
	sl_quant_iq_avx512_grid_kernels(type, k); /* iq2_*, iq3_* (iq_avx512_grid.c) */
}

#else /* built without AVX-512 flags (not x86): nothing to offer */
void sl_quant_avx512_kernels(uint32_t type, struct sl_kernels *k)
{
	sl_quant_iq_avx512_kernels(type, k);
	sl_quant_iq_avx512_grid_kernels(type, k);
}
#endif
