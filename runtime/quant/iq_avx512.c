/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/iq_avx512.c — AVX-512 VNNI dots of iq4_xs, iq4_nl, tq2_0 and tq1_0 (iq1_s and
 * iq1_m: iq_avx512_iq1.c).  Compiled with the AVX-512 flags; only installed after quant.c checked
 * CPUID and XCR0 (sl_quant_avx512_kernels calls sl_quant_iq_avx512_kernels).  The fp16 scales are
 * converted with F16C in line: the scalar converter is a call, and cost as much as a small block.
 *
 * iq4_xs: vpdpbusd multiplies unsigned by signed bytes, and iq4_nl's levels are signed (-127..113):
 * they go in shifted by +128 (1..241, a second pshufb table), and the shift comes off per sub-block
 * as 128 * (sum of its q8), from the q8_K block sums.  Each sub-block is one ymm: both nibbles from
 * one broadcast load and a 64-bit variable shift, one pshufb, one dpbusd from zero; the eight
 * sub-block vectors are summed lane-wise by an hadd tree into one vector of eight sub-block sums,
 * which takes the shift off and the eight scales (ls - 32, unpacked by variable shifts) in one
 * vpmulld: no per-sub-block scale work at all.  Each lane holds at most 4 * 241 * 128 = 123392
 * before the tree, 8 times that after, less the shift and times a scale of at most 32: no overflow.  Each block's
 * integer sum is exact and goes through the scalar dot's own float expression, so the result
 * equals the scalar dot's bit for bit (test_quant_iq_simd requires it).
 */
#include "quant/iq_blocks.h"
#include "quant/iq_simd.h"
#include "quant/tq1_simd.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512VNNI__)
#include <immintrin.h>

static inline int32_t hsum_epi32(__m256i v)
{
	__m128i r = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
	r = _mm_add_epi32(r, _mm_unpackhi_epi64(r, r));
	r = _mm_add_epi32(r, _mm_shuffle_epi32(r, 1));
	return _mm_cvtsi128_si32(r);
}

/* The int32 sums of a and b, reduced together (two blocks share one hadd chain). */
static inline void hsum2_epi32(__m256i a, __m256i b, int32_t *sa, int32_t *sb)
{
	const __m256i h = _mm256_hadd_epi32(a, b); /* a01 a23 b01 b23 | a45 a67 b45 b67 */
	__m128i r = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
	r = _mm_hadd_epi32(r, r); /* a b a b */
	*sa = _mm_cvtsi128_si32(r);
	*sb = _mm_extract_epi32(r, 1);
}

/* The dot of one iq4_xs sub-block (16 bytes: low nibbles elements 0-15, high 16-31) with its 32 q8,
 * levels shifted by +128: both nibbles from one broadcast load and a 64-bit variable shift. */
static inline __m256i iq4_sub_dot(__m256i values, const uint8_t *qs, const int8_t *q8)
{
	const __m256i bits = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
	const __m256i idx = _mm256_and_si256(_mm256_srlv_epi64(bits, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(0x0f));
	return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_shuffle_epi8(values, idx),
				   _mm256_loadu_si256((const __m256i *)q8));
}

/* Lane j of the result: the sum of the 8 lanes of d[j] (three levels of hadd, the lanes crossed once). */
static inline __m256i sum8x8_epi32(const __m256i d[8])
{
	const __m256i h01 = _mm256_hadd_epi32(d[0], d[1]), h23 = _mm256_hadd_epi32(d[2], d[3]);
	const __m256i h45 = _mm256_hadd_epi32(d[4], d[5]), h67 = _mm256_hadd_epi32(d[6], d[7]);
	const __m256i lo = _mm256_hadd_epi32(h01, h23), hi = _mm256_hadd_epi32(h45, h67);
	return _mm256_add_epi32(_mm256_permute2x128_si256(lo, hi, 0x20), _mm256_permute2x128_si256(lo, hi, 0x31));
}

static void iq4_xs_dot_vnni(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq4_xs *x = vx;
	const struct block_q8_K *y = vy;
	uint8_t shifted[16];
	for (int j = 0; j < 16; j++)
		shifted[j] = (uint8_t)(sl_kvalues_iq4nl[j] + 128);
	const __m256i values = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)shifted));
	const __m256i ib = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	const __m256i shift4 = _mm256_slli_epi32(ib, 2), shift2 = _mm256_slli_epi32(ib, 1);
	float sumf = 0.f;
	for (int64_t i = 0; i < n / QK_K; ++i) {
		/* the 8 scales (ls - 32) as int32 lanes */
		uint32_t sl;
		memcpy(&sl, x[i].scales_l, sizeof sl);
		const __m256i lo4 = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)sl), shift4), _mm256_set1_epi32(0xf));
		const __m256i hi2 = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(x[i].scales_h), shift2),
						     _mm256_set1_epi32(3));
		const __m256i ls = _mm256_sub_epi32(_mm256_or_si256(lo4, _mm256_slli_epi32(hi2, 4)), _mm256_set1_epi32(32));
		/* sub-block sums of q8 (bsums in pairs), times the +128 shift, to come off */
		const __m256i sb = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[i].bsums), _mm256_set1_epi16(128));
		const uint8_t *qs = x[i].qs;
		const int8_t *q8 = y[i].qs;
		/* written out: -O2 does not unroll a loop here, and d[] would live on the stack */
		const __m256i d[8] = { iq4_sub_dot(values, qs, q8),		iq4_sub_dot(values, qs + 16, q8 + 32),
				       iq4_sub_dot(values, qs + 32, q8 + 64),	iq4_sub_dot(values, qs + 48, q8 + 96),
				       iq4_sub_dot(values, qs + 64, q8 + 128),	iq4_sub_dot(values, qs + 80, q8 + 160),
				       iq4_sub_dot(values, qs + 96, q8 + 192),	iq4_sub_dot(values, qs + 112, q8 + 224) };
		const __m256i t = _mm256_mullo_epi32(_mm256_sub_epi32(sum8x8_epi32(d), sb), ls);
		sumf += _cvtsh_ss(x[i].d) * y[i].d * hsum_epi32(t);
	}
	*s = sumf;
}

/*
 * iq4_nl: as the AVX2 dot (both nibbles from one broadcast load and a 64-bit variable shift, one
 * pshufb, two blocks per step into two float accumulators), with vpdpbusd taking |levels| times
 * the sign-adjusted q8 straight to int32: one instruction where AVX2 needs maddubs and madd.
 */
static inline __m256i iq4_nl_block_dot(__m256i values, const struct block_iq4_nl *x, const struct block_q8_0 *y)
{
	const __m256i bits = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)x->qs));
	const __m256i idx = _mm256_and_si256(_mm256_srlv_epi64(bits, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(0x0f));
	const __m256i q4 = _mm256_shuffle_epi8(values, idx);
	const __m256i q8 = _mm256_loadu_si256((const __m256i *)y->qs);
	return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(q4), _mm256_sign_epi8(q8, q4));
}

static void iq4_nl_dot_vnni(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq4_nl *x = vx;
	const struct block_q8_0 *y = vy;
	const __m256i values = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)sl_kvalues_iq4nl));
	const int64_t nb = n / QK4_NL;
	__m256 acc1 = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps();
	int64_t ib = 0;
	for (; ib + 1 < nb; ib += 2) {
		const __m256i pa = iq4_nl_block_dot(values, &x[ib], &y[ib]);
		const __m256i pb = iq4_nl_block_dot(values, &x[ib + 1], &y[ib + 1]);
		acc1 = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(x[ib].d) * _cvtsh_ss(y[ib].d)), _mm256_cvtepi32_ps(pa), acc1);
		acc2 = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(x[ib + 1].d) * _cvtsh_ss(y[ib + 1].d)), _mm256_cvtepi32_ps(pb),
				       acc2);
	}
	if (ib < nb)
		acc1 = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(x[ib].d) * _cvtsh_ss(y[ib].d)),
				       _mm256_cvtepi32_ps(iq4_nl_block_dot(values, &x[ib], &y[ib])), acc1);
	*s = hsum_ps8(_mm256_add_ps(acc1, acc2));
}

/*
 * tq2_0: as the AVX2 dot (the 2-bit fields are the stored 0/1/2 = q + 1, and the q8 sums come off
 * once), with vpdpbusd taking each field times its q8 straight into int32 lanes; the accumulator
 * starts at minus the bsums (paired by one madd with -1), so the block ends in one reduction, and
 * the block's float goes through the scalar dot's own expression: bit-exact with it.  (A 512-bit
 * form, each 32 bytes of qs broadcast to both halves and shifted by vpsrlvw, measured 10% slower
 * on Zen 4, whose 512-bit ops are double-pumped.)  Blocks go in pairs, reduced by one hadd chain
 * (1% faster; tq1_0's dot, paired the same way, lost a third, so it is not).
 */
/* tq2_0: a block's integer sum, as int32 lanes. */
static inline __m256i tq2_0_block_vnni(const struct block_tq2_0 *x, const struct block_q8_K *y)
{
	const __m256i m3 = _mm256_set1_epi8(3);
	const int8_t *q8 = y->qs;
	__m256i a0 = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y->bsums), _mm256_set1_epi16(-1));
	__m256i a1 = _mm256_setzero_si256();
	for (size_t j = 0; j < sizeof x->qs; j += 32, q8 += 128) {
		const __m256i qx = _mm256_loadu_si256((const __m256i *)(x->qs + j));
		a0 = _mm256_dpbusd_epi32(a0, _mm256_and_si256(qx, m3), _mm256_loadu_si256((const __m256i *)q8));
		a1 = _mm256_dpbusd_epi32(a1, _mm256_and_si256(_mm256_srli_epi16(qx, 2), m3),
					 _mm256_loadu_si256((const __m256i *)(q8 + 32)));
		a0 = _mm256_dpbusd_epi32(a0, _mm256_and_si256(_mm256_srli_epi16(qx, 4), m3),
					 _mm256_loadu_si256((const __m256i *)(q8 + 64)));
		a1 = _mm256_dpbusd_epi32(a1, _mm256_and_si256(_mm256_srli_epi16(qx, 6), m3),
					 _mm256_loadu_si256((const __m256i *)(q8 + 96)));
	}
	return _mm256_add_epi32(a0, a1);
}

static void tq2_0_dot_vnni(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_tq2_0 *x = vx;
	const struct block_q8_K *y = vy;
	const int64_t nb = n / QK_K;
	float sumf = 0.f;
	int64_t i = 0;
	for (; i + 1 < nb; i += 2) {
		int32_t a, b;
		hsum2_epi32(tq2_0_block_vnni(&x[i], &y[i]), tq2_0_block_vnni(&x[i + 1], &y[i + 1]), &a, &b);
		sumf += (float)a * (_cvtsh_ss(x[i].d) * y[i].d);
		sumf += (float)b * (_cvtsh_ss(x[i + 1].d) * y[i + 1].d);
	}
	if (i < nb)
		sumf += (float)hsum_epi32(tq2_0_block_vnni(&x[i], &y[i])) * (_cvtsh_ss(x[i].d) * y[i].d);
	*s = sumf;
}

/*
 * tq1_0: the trits of tq1_simd.h (its AVX-512 form: compares into mask registers), vpdpbusd into
 * int32 lanes that start at minus the bsums, one reduction per block and the scalar dot's own
 * float expression: bit-exact with it.
 */
static void tq1_0_dot_vnni(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_tq1_0 *x = vx;
	const struct block_q8_K *y = vy;
	float sumf = 0.f;
	for (int64_t i = 0; i < n / QK_K; ++i) {
		__m256i t[8];
		tq1_0_trits(&x[i], t);
		const __m256i *q8 = (const __m256i *)y[i].qs;
		__m256i a0 = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[i].bsums), _mm256_set1_epi16(-1));
		__m256i a1 = _mm256_setzero_si256();
		/* written out: a loop here (-O2 does not unroll it) kept t[] on the stack */
		a0 = _mm256_dpbusd_epi32(a0, t[0], _mm256_loadu_si256(q8 + 0));
		a1 = _mm256_dpbusd_epi32(a1, t[1], _mm256_loadu_si256(q8 + 1));
		a0 = _mm256_dpbusd_epi32(a0, t[2], _mm256_loadu_si256(q8 + 2));
		a1 = _mm256_dpbusd_epi32(a1, t[3], _mm256_loadu_si256(q8 + 3));
		a0 = _mm256_dpbusd_epi32(a0, t[4], _mm256_loadu_si256(q8 + 4));
		a1 = _mm256_dpbusd_epi32(a1, t[5], _mm256_loadu_si256(q8 + 5));
		a0 = _mm256_dpbusd_epi32(a0, t[6], _mm256_loadu_si256(q8 + 6));
		a1 = _mm256_dpbusd_epi32(a1, t[7], _mm256_loadu_si256(q8 + 7));
		sumf += (float)hsum_epi32(_mm256_add_epi32(a0, a1)) * (_cvtsh_ss(x[i].d) * y[i].d);
	}
	*s = sumf;
}

void sl_quant_iq_avx512_kernels(uint32_t type, struct sl_kernels *k)
{
	switch (type) {
	case SL_TYPE_IQ4_XS: k->vec_dot = iq4_xs_dot_vnni; break;
	case SL_TYPE_IQ4_NL: k->vec_dot = iq4_nl_dot_vnni; break;
	case SL_TYPE_TQ2_0: k->vec_dot = tq2_0_dot_vnni; break;
	case SL_TYPE_TQ1_0: k->vec_dot = tq1_0_dot_vnni; break;
	default: sl_quant_iq_avx512_iq1_kernels(type, k); break;
	}
}

#else /* built without AVX-512 flags: nothing to offer */
void sl_quant_iq_avx512_kernels(uint32_t type, struct sl_kernels *k)
{
	(void)type;
	(void)k;
}
#endif
