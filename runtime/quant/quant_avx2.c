/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/quant_avx2.c — AVX2+FMA+F16C dots (compiled with -mavx2
 * -mfma -mf16c; only called after quant.c checked CPUID).
 *
 * Integer work per block is exact, as in the scalar kernels; only the float
 * accumulation order differs.  Signed int8 x int8 products use the
 * sign-transfer trick (maddubs needs one unsigned operand): |x| * sign(y, x).
 * Unsigned weight levels (q4_1, q5_1, K-quants) go into maddubs directly; the
 * K-quants' offsets (q3_K's -4, q6_K's -32, q2/q4/q5_K's mins) are applied once
 * per block through q8_K's per-16 sums (bsums) instead of per element.
 */
#include "quant/blocks.h"
#include "quant/simd_x86.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#include <string.h>


static inline int hsum_i32_8(__m256i a)
{
	__m128i s = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
	s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
	return _mm_cvtsi128_si32(s);
}

/* 32 nibbles -> 32 bytes: low nibbles of the 16 bytes first, then high nibbles (ggml's order). */
static inline __m256i nibbles32(const uint8_t *p)
{
	const __m128i t = _mm_loadu_si128((const __m128i *)p);
	const __m256i b = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
	return _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
}

/* 32 bits -> 32 bytes, 0xFF where the bit is set. */
static inline __m256i bits32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
	__m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)v), shuf);
	b = _mm256_or_si256(b, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
	return _mm256_cmpeq_epi8(b, _mm256_set1_epi64x(-1));
}

/* Sum of pairs of unsigned(a) * signed(b) products, to 8 int32. */
static inline __m256i dot_us8(__m256i a, __m256i b)
{
	return _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1));
}

/* Signed x signed int8 dot, to 8 floats. */
static inline __m256 dot_ss8_ps(__m256i x, __m256i y)
{
	return _mm256_cvtepi32_ps(dot_us8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x)));
}

/* ---- legacy quants ---- */

/* Signed x signed int8 dot, to 8 int32 (pairwise partial sums). */
static inline __m256i dot_ss8(__m256i x, __m256i y)
{
	return dot_us8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

/* The fp16 fields of 4 consecutive blocks (stride bytes apart) as 4 floats: one conversion, not four. */
static inline __m128 h2f_x4(const uint8_t *p, size_t stride)
{
	uint16_t h[4];
	for (int k = 0; k < 4; k++)
		memcpy(&h[k], p + (size_t)k * stride, 2);
	const uint64_t v = (uint64_t)h[0] | (uint64_t)h[1] << 16 | (uint64_t)h[2] << 32 | (uint64_t)h[3] << 48;
	return _mm_cvtph_ps(_mm_cvtsi64_si128((long long)v));
}

/*
 * q8_0: 4 blocks per iteration.  Each block's int8 dot stays in int32 (8
 * partial lanes); two rounds of hadd fold the 4 blocks into one vector whose
 * lanes k and k+4 are the two halves of block k's exact integer dot, so the
 * 8 scale conversions and the float work happen once per 4 blocks.
 */
static void q8_0_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_q8_0 *x = vx, *y = vy;
	const int64_t nb = n / QK8_0;
	__m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
	int64_t i = 0;
	for (; i + 7 < nb; i += 8) {
		const __m256i p0 = dot_ss8(_mm256_loadu_si256((const __m256i *)x[i].qs), _mm256_loadu_si256((const __m256i *)y[i].qs));
		const __m256i p1 = dot_ss8(_mm256_loadu_si256((const __m256i *)x[i + 1].qs), _mm256_loadu_si256((const __m256i *)y[i + 1].qs));
		const __m256i p2 = dot_ss8(_mm256_loadu_si256((const __m256i *)x[i + 2].qs), _mm256_loadu_si256((const __m256i *)y[i + 2].qs));
		const __m256i p3 = dot_ss8(_mm256_loadu_si256((const __m256i *)x[i + 3].qs), _mm256_loadu_si256((const __m256i *)y[i + 3].qs));
		const __m256i p4 = dot_ss8(_mm256_loadu_si256((const __m256i *)x[i + 4].qs), _mm256_loadu_si256((const __m256i *)y[i + 4].qs));
		const __m256i p5 = dot_ss8(_mm256_loadu_si256((const __m256i *)x[i + 5].qs), _mm256_loadu_si256((const __m256i *)y[i + 5].qs));
		const __m256i p6 = dot_ss8(_mm256_loadu_si256((const __m256i *)x[i + 6].qs), _mm256_loadu_si256((const __m256i *)y[i + 6].qs));
		const __m256i p7 = dot_ss8(_mm256_loadu_si256((const __m256i *)x[i + 7].qs), _mm256_loadu_si256((const __m256i *)y[i + 7].qs));
		const __m256i h0 = _mm256_hadd_epi32(_mm256_hadd_epi32(p0, p1), _mm256_hadd_epi32(p2, p3));
		const __m256i h1 = _mm256_hadd_epi32(_mm256_hadd_epi32(p4, p5), _mm256_hadd_epi32(p6, p7));
		const __m128 d0 = _mm_mul_ps(h2f_x4((const uint8_t *)&x[i], sizeof *x), h2f_x4((const uint8_t *)&y[i], sizeof *y));
		const __m128 d1 = _mm_mul_ps(h2f_x4((const uint8_t *)&x[i + 4], sizeof *x), h2f_x4((const uint8_t *)&y[i + 4], sizeof *y));
		acc0 = _mm256_fmadd_ps(_mm256_set_m128(d0, d0), _mm256_cvtepi32_ps(h0), acc0);
		acc1 = _mm256_fmadd_ps(_mm256_set_m128(d1, d1), _mm256_cvtepi32_ps(h1), acc1);
	}
	for (; i < nb; i++) {
		const __m256 d = _mm256_set1_ps(H2F(x[i].d) * H2F(y[i].d));
		acc0 = _mm256_fmadd_ps(d, dot_ss8_ps(_mm256_loadu_si256((const __m256i *)x[i].qs),
						     _mm256_loadu_si256((const __m256i *)y[i].qs)), acc0);
	}
	*s = hsum8(_mm256_add_ps(acc0, acc1));
}

static void q4_0_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_q4_0 *x = vx;
	const struct block_q8_0 *y = vy;
	__m256 acc = _mm256_setzero_ps();
	const __m256i off = _mm256_set1_epi8(8);
	for (int64_t i = 0; i < n / QK4_0; i++) {
		const __m256 d = _mm256_set1_ps(H2F(x[i].d) * H2F(y[i].d));
		const __m256i qx = _mm256_sub_epi8(nibbles32(x[i].qs), off);
		acc = _mm256_fmadd_ps(d, dot_ss8_ps(qx, _mm256_loadu_si256((const __m256i *)y[i].qs)), acc);
	}
	*s = hsum8(acc);
}

static void q4_1_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_q4_1 *x = vx;
	const struct block_q8_1 *y = vy;
	__m256 acc = _mm256_setzero_ps();
	float summs = 0;
	for (int64_t i = 0; i < n / QK4_1; i++) {
		summs += H2F(x[i].m) * H2F(y[i].s);
		const __m256 d = _mm256_set1_ps(H2F(x[i].d) * H2F(y[i].d));
		const __m256i p = dot_us8(nibbles32(x[i].qs), _mm256_loadu_si256((const __m256i *)y[i].qs));
		acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
	}
	*s = hsum8(acc) + summs;
}

static void q5_0_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_q5_0 *x = vx;
	const struct block_q8_0 *y = vy;
	__m256 acc = _mm256_setzero_ps();
	for (int64_t i = 0; i < n / QK5_0; i++) {
		const __m256 d = _mm256_set1_ps(H2F(x[i].d) * H2F(y[i].d));
		/* (q | h<<4) - 16 == q | (h ? 0 : 0xF0) as int8 */
		const __m256i hi = _mm256_andnot_si256(bits32(x[i].qh), _mm256_set1_epi8((char)0xF0));
		const __m256i qx = _mm256_or_si256(nibbles32(x[i].qs), hi);
		acc = _mm256_fmadd_ps(d, dot_ss8_ps(qx, _mm256_loadu_si256((const __m256i *)y[i].qs)), acc);
	}
	*s = hsum8(acc);
}

static void q5_1_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_q5_1 *x = vx;
	const struct block_q8_1 *y = vy;
	__m256 acc = _mm256_setzero_ps();
	float summs = 0;
	for (int64_t i = 0; i < n / QK5_1; i++) {
		summs += H2F(x[i].m) * H2F(y[i].s);
		const __m256 d = _mm256_set1_ps(H2F(x[i].d) * H2F(y[i].d));
		const __m256i hi = _mm256_and_si256(bits32(x[i].qh), _mm256_set1_epi8(0x10));
		const __m256i qx = _mm256_or_si256(nibbles32(x[i].qs), hi);
		const __m256i p = dot_us8(qx, _mm256_loadu_si256((const __m256i *)y[i].qs));
		acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
	}
	*s = hsum8(acc) + summs;
}

/* ---- K-quants ---- */

/* 16 int16 lanes: the low 8 get scale a, the high 8 scale b (one 32-byte group = two 16-element sub-blocks). */
static inline __m256i scale_pair(int a, int b)
{
	return _mm256_set_m128i(_mm_set1_epi16((short)b), _mm_set1_epi16((short)a));
}

static void q2_K_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_q2_K *x = vx;
	const struct block_q8_K *y = vy;
	const __m256i m3 = _mm256_set1_epi8(3);
	__m256 acc = _mm256_setzero_ps();
	float accm = 0;
	for (int64_t i = 0; i < n / QK_K; i++) {
		const float d = y[i].d * H2F(x[i].d), dmin = y[i].d * H2F(x[i].dmin);
		const __m128i sc8 = _mm_loadu_si128((const __m128i *)x[i].scales);
		const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), _mm_set1_epi8(0xF)));
		const __m256i bs = _mm256_loadu_si256((const __m256i *)y[i].bsums);
		accm += dmin * (float)hsum_i32_8(_mm256_madd_epi16(mins, bs));
		const uint8_t *sc = x[i].scales;
		__m256i sumi = _mm256_setzero_si256();
		for (int c = 0; c < 2; c++) {
			const __m256i bits = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
			for (int g = 0; g < 4; g++) {
				const __m256i q2 = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * g), m3);
				const __m256i q8 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 128 * c + 32 * g));
				const int k = 8 * c + 2 * g;
				const __m256i p = _mm256_maddubs_epi16(q2, q8);
				sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, scale_pair(sc[k] & 0xF, sc[k + 1] & 0xF)));
			}
		}
		acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
	}
	*s = hsum8(acc) - accm;
}

static void q3_K_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_q3_K *x = vx;
	const struct block_q8_K *y = vy;
	const __m256i m3 = _mm256_set1_epi8(3), m1 = _mm256_set1_epi8(1);
	__m256 acc = _mm256_setzero_ps();
	for (int64_t i = 0; i < n / QK_K; i++) {
		const float d = y[i].d * H2F(x[i].d);
		int8_t sc[16];
		sl_q3k_scales(x[i].scales, sc);
		/* levels stored as v = q2 | h<<2 in [0,7]; value v - 4: subtract 4 * sum(sc * bsums) once */
		const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc));
		const __m256i bs = _mm256_loadu_si256((const __m256i *)y[i].bsums);
		__m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(sc16, bs), 2));
		const __m256i hm = _mm256_loadu_si256((const __m256i *)x[i].hmask);
		for (int c = 0; c < 2; c++) {
			const __m256i bits = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
			for (int g = 0; g < 4; g++) {
				const __m256i q2 = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * g), m3);
				const __m256i h = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hm, 4 * c + g), m1), 2);
				const __m256i q8 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 128 * c + 32 * g));
				const int k = 8 * c + 2 * g;
				const __m256i p = _mm256_maddubs_epi16(_mm256_or_si256(q2, h), q8);
				sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, scale_pair(sc[k], sc[k + 1])));
			}
		}
		acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
	}
	*s = hsum8(acc);
}

/* The mins term of a q4_K/q5_K block, 4 int32 lanes: m_j * (bsum[2j] + bsum[2j+1]).
 * Kept as a vector (reduced once per row, not per block). */
static inline __m128i k4_mins(const uint32_t u[4], const int16_t *bsums)
{
	const __m128i mins = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)u[3], (int)u[2]));
	const __m256i bs = _mm256_loadu_si256((const __m256i *)bsums);
	const __m128i pair = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
	return _mm_madd_epi16(mins, pair);
}

static inline float hsum4(__m128 r)
{
	r = _mm_add_ps(r, _mm_movehl_ps(r, r));
	r = _mm_add_ss(r, _mm_movehdup_ps(r));
	return _mm_cvtss_f32(r);
}

/* pshufb control that broadcasts 16-bit word m of each 128-bit lane to the whole lane. */
static inline __m256i word_bcast(int m)
{
	return _mm256_set1_epi16((short)((2 * m) | (2 * m + 1) << 8));
}

/*
 * q4_K: the 8 6-bit scales go into one vector of int16 once per block, and
 * each 32-element group's scale is a pshufb of it (not a scalar load and
 * broadcast); lo and hi nibbles accumulate into separate int32 sums.
 */
static void q4_K_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_q4_K *x = vx;
	const struct block_q8_K *y = vy;
	const __m256i m4 = _mm256_set1_epi8(0xF);
	__m256 acc = _mm256_setzero_ps();
	__m128 accm = _mm_setzero_ps();
	const __m256i k0l = word_bcast(0), k0h = word_bcast(1), k1l = word_bcast(2), k1h = word_bcast(3);
	const __m256i k2l = word_bcast(4), k2h = word_bcast(5), k3l = word_bcast(6), k3h = word_bcast(7);
	for (int64_t i = 0; i < n / QK_K; i++) {
		const float d = y[i].d * H2F(x[i].d), dmin = y[i].d * H2F(x[i].dmin);
		uint32_t u[4];
		k4_unpack(x[i].scales, u);
		accm = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(k4_mins(u, y[i].bsums)), accm);
		const __m256i sc = _mm256_broadcastsi128_si256(
			_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)((uint64_t)u[0] | (uint64_t)u[1] << 32))));
		const uint8_t *qs = x[i].qs;
		const int8_t *q8 = y[i].qs;
		__m256i sl = _mm256_setzero_si256(), sh = _mm256_setzero_si256();
#define Q4K_STEP(j)                                                                                                \
	do {                                                                                                           \
		const __m256i bits = _mm256_loadu_si256((const __m256i *)(qs + 32 * (j)));                             \
		const __m256i lo = _mm256_and_si256(bits, m4);                                                         \
		const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);                                   \
		const __m256i pl = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(q8 + 64 * (j))));     \
		const __m256i ph = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(q8 + 64 * (j) + 32))); \
		sl = _mm256_add_epi32(sl, _mm256_madd_epi16(pl, _mm256_shuffle_epi8(sc, k##j##l)));                   \
		sh = _mm256_add_epi32(sh, _mm256_madd_epi16(ph, _mm256_shuffle_epi8(sc, k##j##h)));                   \
	} while (0)
		Q4K_STEP(0);
		Q4K_STEP(1);
		Q4K_STEP(2);
		Q4K_STEP(3);
#undef Q4K_STEP
		acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_add_epi32(sl, sh)), acc);
	}
	*s = hsum8(acc) - hsum4(accm);
}

static void q5_K_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_q5_K *x = vx;
	const struct block_q8_K *y = vy;
	const __m256i m4 = _mm256_set1_epi8(0xF), m1 = _mm256_set1_epi8(1);
	__m256 acc = _mm256_setzero_ps();
	__m128 accm = _mm_setzero_ps();
	for (int64_t i = 0; i < n / QK_K; i++) {
		const float d = y[i].d * H2F(x[i].d), dmin = y[i].d * H2F(x[i].dmin);
		uint32_t u[4];
		k4_unpack(x[i].scales, u);
		accm = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(k4_mins(u, y[i].bsums)), accm);
		const uint8_t *sc = (const uint8_t *)u;
		const __m256i hb = _mm256_loadu_si256((const __m256i *)x[i].qh);
		__m256i sumi = _mm256_setzero_si256();
		for (int j = 0; j < 4; j++) {
			const __m256i bits = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * j));
			const __m256i hl = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * j), m1), 4);
			const __m256i hh = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * j + 1), m1), 4);
			const __m256i lo = _mm256_or_si256(_mm256_and_si256(bits, m4), hl);
			const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4), hh);
			const __m256i q8l = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * j));
			const __m256i q8h = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * j + 32));
			const __m256i pl = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, q8l), _mm256_set1_epi16(sc[2 * j]));
			const __m256i ph = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, q8h), _mm256_set1_epi16(sc[2 * j + 1]));
			sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
		}
		acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
	}
	*s = hsum8(acc) - hsum4(accm);
}

/* pshufb control: word 2g of a 128-bit lane to the low lane, word 2g+1 to the high lane. */
static inline __m256i pair_bcast(int g)
{
	const int lo = 4 * g, hi = 4 * g + 2;
	return _mm256_set_m128i(_mm_set1_epi16((short)(hi | (hi + 1) << 8)), _mm_set1_epi16((short)(lo | (lo + 1) << 8)));
}

/*
 * q6_K: the 16 int8 scales become one int16 vector per block; each 32-byte
 * group's scale pair (sub-blocks k, k+1) is a pshufb of the half for this
 * 128-element chunk.  High bits are placed with one shift + mask each.
 */
static void q6_K_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_q6_K *x = vx;
	const struct block_q8_K *y = vy;
	const __m256i m4 = _mm256_set1_epi8(0xF), m30 = _mm256_set1_epi8(0x30);
	__m256 acc = _mm256_setzero_ps();
	for (int64_t i = 0; i < n / QK_K; i++) {
		const float d = y[i].d * H2F(x[i].d);
		/* levels v in [0,63], value v - 32: subtract 32 * sum(sc * bsums) once per block */
		const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
		const __m256i bs = _mm256_loadu_si256((const __m256i *)y[i].bsums);
		__m256i s0 = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(sc16, bs), 5));
		__m256i s1 = _mm256_setzero_si256();
		const int8_t *q8 = y[i].qs;
		for (int c = 0; c < 2; c++) {
			const __m256i scc = c ? _mm256_permute2x128_si256(sc16, sc16, 0x11) : _mm256_permute2x128_si256(sc16, sc16, 0x00);
			const __m256i l1 = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * c));
			const __m256i l2 = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * c + 32));
			const __m256i h = _mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * c));
			const __m256i v0 = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(h, 4), m30));
			const __m256i v1 = _mm256_or_si256(_mm256_and_si256(l2, m4), _mm256_and_si256(_mm256_slli_epi16(h, 2), m30));
			const __m256i v2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), _mm256_and_si256(h, m30));
			const __m256i v3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l2, 4), m4),
							   _mm256_and_si256(_mm256_srli_epi16(h, 2), m30));
			const __m256i p0 = _mm256_maddubs_epi16(v0, _mm256_loadu_si256((const __m256i *)(q8 + 128 * c)));
			const __m256i p1 = _mm256_maddubs_epi16(v1, _mm256_loadu_si256((const __m256i *)(q8 + 128 * c + 32)));
			const __m256i p2 = _mm256_maddubs_epi16(v2, _mm256_loadu_si256((const __m256i *)(q8 + 128 * c + 64)));
			const __m256i p3 = _mm256_maddubs_epi16(v3, _mm256_loadu_si256((const __m256i *)(q8 + 128 * c + 96)));
			s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(p0, _mm256_shuffle_epi8(scc, pair_bcast(0))));
			s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(p1, _mm256_shuffle_epi8(scc, pair_bcast(1))));
			s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(p2, _mm256_shuffle_epi8(scc, pair_bcast(2))));
			s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(p3, _mm256_shuffle_epi8(scc, pair_bcast(3))));
		}
		acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), acc);
	}
	*s = hsum8(acc);
}

/* ---- plain types ---- */

static void f32_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const float *x = vx, *y = vy;
	__m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
	int64_t i = 0;
	for (; i + 32 <= n; i += 32) {
		a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
		a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
		a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), a2);
		a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), a3);
	}
	float sum = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
	for (; i < n; i++)
		sum += x[i] * y[i];
	*s = sum;
}

static inline __m256 ld_f16(const uint16_t *p)
{
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

static void f16_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const uint16_t *x = vx, *y = vy;
	__m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
	int64_t i = 0;
	for (; i + 32 <= n; i += 32) {
		a0 = _mm256_fmadd_ps(ld_f16(x + i), ld_f16(y + i), a0);
		a1 = _mm256_fmadd_ps(ld_f16(x + i + 8), ld_f16(y + i + 8), a1);
		a2 = _mm256_fmadd_ps(ld_f16(x + i + 16), ld_f16(y + i + 16), a2);
		a3 = _mm256_fmadd_ps(ld_f16(x + i + 24), ld_f16(y + i + 24), a3);
	}
	float sum = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
	for (; i < n; i++)
		sum += H2F(x[i]) * H2F(y[i]);
	*s = sum;
}

static inline __m256 ld_bf16(const uint16_t *p)
{
	const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
	return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

static void bf16_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const uint16_t *x = vx, *y = vy;
	__m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
	int64_t i = 0;
	for (; i + 16 <= n; i += 16) {
		a0 = _mm256_fmadd_ps(ld_bf16(x + i), ld_bf16(y + i), a0);
		a1 = _mm256_fmadd_ps(ld_bf16(x + i + 8), ld_bf16(y + i + 8), a1);
	}
	float sum = hsum8(_mm256_add_ps(a0, a1));
	for (; i < n; i++)
		sum += sl_bf16_to_fp32(x[i]) * sl_bf16_to_fp32(y[i]);
	*s = sum;
}

void sl_quant_avx2_kernels(uint32_t type, struct sl_kernels *k)
{
	static const sl_vec_dot_fn dots[SL_TYPE_COUNT] = {
		[SL_TYPE_F32] = f32_dot,   [SL_TYPE_F16] = f16_dot,   [SL_TYPE_BF16] = bf16_dot,
		[SL_TYPE_Q4_0] = q4_0_dot, [SL_TYPE_Q4_1] = q4_1_dot, [SL_TYPE_Q5_0] = q5_0_dot,
		[SL_TYPE_Q5_1] = q5_1_dot, [SL_TYPE_Q8_0] = q8_0_dot, [SL_TYPE_Q2_K] = q2_K_dot,
		[SL_TYPE_Q3_K] = q3_K_dot, [SL_TYPE_Q4_K] = q4_K_dot, [SL_TYPE_Q5_K] = q5_K_dot,
		[SL_TYPE_Q6_K] = q6_K_dot,
	};
	if (type < SL_TYPE_COUNT && dots[type])
		k->vec_dot = dots[type];
}

#else /* built without AVX2 flags (not x86): nothing to offer */
void sl_quant_avx2_kernels(uint32_t type, struct sl_kernels *k)
{
	(void)type;
	(void)k;
}
#endif
