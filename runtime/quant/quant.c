/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/quant.c — the type table and the scalar reference kernels for
 * the plain types (f32, f16, bf16) and q8_0.  Block layouts follow ggml exactly.
 */
#include "quant/quant.h"

#include <math.h>
#include <string.h>
#include <strings.h>

/* ---- fp16 / bf16 ---- */

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

/* ---- f32 ---- */

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

/* ---- f16 ---- */

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

/* ---- bf16 ---- */

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

/* ---- q8_0: 32 int8 with one fp16 scale ---- */

#define QK8_0 32
struct block_q8_0 {
	uint16_t d;
	int8_t qs[QK8_0];
};
_Static_assert(sizeof(struct block_q8_0) == 34, "q8_0 block");

static void q8_0_to_float(const void *vx, float *y, int64_t n)
{
	const struct block_q8_0 *x = vx;
	for (int64_t i = 0; i < n / QK8_0; i++) {
		const float d = sl_fp16_to_fp32(x[i].d);
		for (int j = 0; j < QK8_0; j++)
			y[i * QK8_0 + j] = x[i].qs[j] * d;
	}
}

static void q8_0_from_float(const float *x, void *vy, int64_t n)
{
	struct block_q8_0 *y = vy;
	for (int64_t i = 0; i < n / QK8_0; i++) {
		float amax = 0.0f;
		for (int j = 0; j < QK8_0; j++)
			amax = fmaxf(amax, fabsf(x[i * QK8_0 + j]));
		const float d = amax / 127.0f;
		const float id = d ? 1.0f / d : 0.0f;
		y[i].d = sl_fp32_to_fp16(d);
		for (int j = 0; j < QK8_0; j++)
			y[i].qs[j] = (int8_t)roundf(x[i * QK8_0 + j] * id);
	}
}

static void q8_0_vec_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_q8_0 *x = vx, *y = vy;
	float sum = 0;
	for (int64_t i = 0; i < n / QK8_0; i++) {
		int isum = 0;
		for (int j = 0; j < QK8_0; j++)
			isum += x[i].qs[j] * y[i].qs[j];
		sum += (float)isum * sl_fp16_to_fp32(x[i].d) * sl_fp16_to_fp32(y[i].d);
	}
	*s = sum;
}

/* ---- the table ---- */

static const struct sl_type_traits scalar_traits[SL_TYPE_COUNT] = {
	[SL_TYPE_F32] = { "f32", 1, 4, false, f32_to_float, f32_from_float, SL_TYPE_F32, f32_vec_dot },
	[SL_TYPE_F16] = { "f16", 1, 2, false, f16_to_float, f16_from_float, SL_TYPE_F16, f16_vec_dot },
	[SL_TYPE_BF16] = { "bf16", 1, 2, false, bf16_to_float, bf16_from_float, SL_TYPE_BF16, bf16_vec_dot },
	[SL_TYPE_Q8_0] = { "q8_0", QK8_0, sizeof(struct block_q8_0), true, q8_0_to_float, q8_0_from_float,
			   SL_TYPE_Q8_0, q8_0_vec_dot },
};

const struct sl_type_traits *sl_type_traits_scalar(uint32_t type)
{
	if (type >= SL_TYPE_COUNT || !scalar_traits[type].name)
		return NULL;
	return &scalar_traits[type];
}

const struct sl_type_traits *sl_type_traits(uint32_t type)
{
	return sl_type_traits_scalar(type);
}

const char *sl_type_name(uint32_t type)
{
	const struct sl_type_traits *t = sl_type_traits(type);
	return t ? t->name : "unknown";
}

int sl_type_from_name(const char *name)
{
	for (uint32_t i = 0; i < SL_TYPE_COUNT; i++)
		if (scalar_traits[i].name && !strcasecmp(scalar_traits[i].name, name))
			return (int)i;
	return -1;
}

size_t sl_row_size(uint32_t type, int64_t n)
{
	const struct sl_type_traits *t = sl_type_traits(type);
	if (!t || n < 0 || n % t->block_size)
		return 0;
	return (size_t)(n / t->block_size) * t->type_size;
}
