/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/simd_x86.h — small AVX2 helpers shared by the x86 kernel files
 * (quant_avx2.c, quant_avx512.c).  Only meaningful in files compiled with
 * -mavx2 -mfma -mf16c; elsewhere it defines nothing.
 */
#ifndef SLUICE_SIMD_X86_H
#define SLUICE_SIMD_X86_H

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

#define H2F(h) _cvtsh_ss(h)

/* Sum of the 8 floats of x. */
static inline float hsum8(__m256 x)
{
	__m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
	r = _mm_add_ps(r, _mm_movehl_ps(r, r));
	r = _mm_add_ss(r, _mm_movehdup_ps(r));
	return _mm_cvtss_f32(r);
}
#endif

#endif
