/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/fp16.c — exact scalar fp16 and bf16 conversions.  Rounding is
 * round-to-nearest-even, as ggml's GGML_FP32_TO_FP16 and numpy's astype(float16),
 * so quantized files match llama.cpp's byte for byte.
 */
#include "quant/quant.h"

#include <math.h>
#include <string.h>

float sl_fp16_to_fp32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f;
	uint32_t mant = h & 0x3ff;
	uint32_t bits;
	if (exp == 0) {
		if (mant == 0) {
			bits = sign;
		} else { /* subnormal: normalise */
			int e = -1;
			do {
				e++;
				mant <<= 1;
			} while (!(mant & 0x400));
			mant &= 0x3ff;
			bits = sign | ((uint32_t)(127 - 15 - e) << 23) | (mant << 13);
		}
	} else if (exp == 31) {
		bits = sign | 0x7f800000u | (mant << 13);
	} else {
		bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
	}
	float f;
	memcpy(&f, &bits, 4);
	return f;
}

uint16_t sl_fp32_to_fp16(float f)
{
	/* Round to nearest even, as ggml's GGML_FP32_TO_FP16 (from FP16 library). */
	const float scale_to_inf = 0x1.0p+112f;
	const float scale_to_zero = 0x1.0p-110f;
	float base = (fabsf(f) * scale_to_inf) * scale_to_zero;
	uint32_t w;
	memcpy(&w, &f, 4);
	const uint32_t shl1_w = w + w;
	const uint32_t sign = w & 0x80000000u;
	uint32_t bias = shl1_w & 0xFF000000u;
	if (bias < 0x71000000u)
		bias = 0x71000000u;
	uint32_t bb = (bias >> 1) + 0x07800000u;
	float bf;
	memcpy(&bf, &bb, 4);
	base = bf + base;
	uint32_t bits;
	memcpy(&bits, &base, 4);
	const uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
	const uint32_t mantissa_bits = bits & 0x00000FFFu;
	const uint32_t nonsign = exp_bits + mantissa_bits;
	return (uint16_t)((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

float sl_bf16_to_fp32(uint16_t h)
{
	uint32_t bits = (uint32_t)h << 16;
	float f;
	memcpy(&f, &bits, 4);
	return f;
}

uint16_t sl_fp32_to_bf16(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	if ((u & 0x7fffffff) > 0x7f800000) /* nan: keep it a quiet nan */
		return (uint16_t)((u >> 16) | 64);
	return (uint16_t)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
}

