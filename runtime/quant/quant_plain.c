/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/quant_plain.c — scalar kernels of the unquantized types
 * (f32, f16, bf16).  Their dots pair a row with a row of the same type and
 * accumulate in double: the reference against which SIMD is checked.
 */
#include "quant/blocks.h"

#include <string.h>

static void f32_to_float(const void *x, float *y, int64_t n)
{
	memcpy(y, x, (size_t)n * sizeof(float));
}

static void f32_from_float(const float *x, void *y, int64_t n)
{
	memcpy(y, x, (size_t)n * sizeof(float));
}

static void f32_vec_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const float *x = vx, *y = vy;
	double sum = 0;
	for (int64_t i = 0; i < n; i++)
		sum += (double)x[i] * y[i];
	*s = (float)sum;
}

static void f16_to_float(const void *vx, float *y, int64_t n)
{
	const uint16_t *x = vx;
	for (int64_t i = 0; i < n; i++)
		y[i] = sl_fp16_to_fp32(x[i]);
}

static void f16_from_float(const float *x, void *vy, int64_t n)
{
	uint16_t *y = vy;
	for (int64_t i = 0; i < n; i++)
		y[i] = sl_fp32_to_fp16(x[i]);
}

static void f16_vec_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const uint16_t *x = vx, *y = vy;
	double sum = 0;
	for (int64_t i = 0; i < n; i++)
		sum += (double)sl_fp16_to_fp32(x[i]) * sl_fp16_to_fp32(y[i]);
	*s = (float)sum;
}

static void bf16_to_float(const void *vx, float *y, int64_t n)
{
	const uint16_t *x = vx;
	for (int64_t i = 0; i < n; i++)
		y[i] = sl_bf16_to_fp32(x[i]);
}

static void bf16_from_float(const float *x, void *vy, int64_t n)
{
	uint16_t *y = vy;
	for (int64_t i = 0; i < n; i++)
		y[i] = sl_fp32_to_bf16(x[i]);
}

static void bf16_vec_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const uint16_t *x = vx, *y = vy;
	double sum = 0;
	for (int64_t i = 0; i < n; i++)
		sum += (double)sl_bf16_to_fp32(x[i]) * sl_bf16_to_fp32(y[i]);
	*s = (float)sum;
}

void sl_quant_plain_kernels(uint32_t type, struct sl_kernels *k)
{
	switch (type) {
	case SL_TYPE_F32: *k = (struct sl_kernels){ f32_to_float, f32_from_float, f32_vec_dot }; break;
	case SL_TYPE_F16: *k = (struct sl_kernels){ f16_to_float, f16_from_float, f16_vec_dot }; break;
	case SL_TYPE_BF16: *k = (struct sl_kernels){ bf16_to_float, bf16_from_float, bf16_vec_dot }; break;
	default: break;
	}
}
