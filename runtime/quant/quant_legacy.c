/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/quant_legacy.c — the 32-element block types q4_0, q4_1,
 * q5_0, q5_1, q8_0, q8_1: reference quantizers (ggml's quantize_row_*_ref,
 * which llama-quantize uses when there is no importance matrix), bit-exact
 * dequantizers, and scalar dots against q8_0 (symmetric weights) or q8_1
 * (weights with an offset m, whose term needs the activation block's sum).
 *
 * The float expressions are written in ggml's order on purpose: dequantized
 * values and quantized bytes must match ggml's bit for bit.
 */
#include "quant/blocks.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define MIN(a, b) ((a) < (b) ? (a) : (b))

/* ---- q4_0: d * (q - 8) ---- */

static void q4_0_from_float(const float *x, void *vy, int64_t n)
{
	struct block_q4_0 *y = vy;
	for (int64_t i = 0; i < n / QK4_0; i++, x += QK4_0) {
		float amax = 0.0f, max = 0.0f;
		for (int j = 0; j < QK4_0; j++)
			if (amax < fabsf(x[j])) {
				amax = fabsf(x[j]);
				max = x[j];
			}
		/* The extreme value maps to -8 exactly, which uses the one level +7 lacks. */
		const float d = max / -8;
		const float id = d ? 1.0f / d : 0.0f;
		y[i].d = sl_fp32_to_fp16(d);
		for (int j = 0; j < QK4_0 / 2; j++) {
			const uint8_t a = (uint8_t)MIN(15, (int8_t)(x[j] * id + 8.5f));
			const uint8_t b = (uint8_t)MIN(15, (int8_t)(x[j + QK4_0 / 2] * id + 8.5f));
			y[i].qs[j] = (uint8_t)(a | (b << 4));
		}
	}
}

static void q4_0_to_float(const void *vx, float *y, int64_t n)
{
	const struct block_q4_0 *x = vx;
	for (int64_t i = 0; i < n / QK4_0; i++, y += QK4_0) {
		const float d = FP16(x[i].d);
		for (int j = 0; j < QK4_0 / 2; j++) {
			y[j] = ((x[i].qs[j] & 0x0F) - 8) * d;
			y[j + QK4_0 / 2] = ((x[i].qs[j] >> 4) - 8) * d;
		}
	}
}

static void q4_0_vec_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_q4_0 *x = vx;
	const struct block_q8_0 *y = vy;
	float sum = 0;
	for (int64_t i = 0; i < n / QK4_0; i++) {
		int isum = 0;
		for (int j = 0; j < QK4_0 / 2; j++)
			isum += ((x[i].qs[j] & 0x0F) - 8) * y[i].qs[j] + ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
		sum += (float)isum * (FP16(x[i].d) * FP16(y[i].d));
	}
	*s = sum;
}

/* ---- q4_1: d * q + m ---- */

static void q4_1_from_float(const float *x, void *vy, int64_t n)
{
	struct block_q4_1 *y = vy;
	for (int64_t i = 0; i < n / QK4_1; i++, x += QK4_1) {
		float min = FLT_MAX, max = -FLT_MAX;
		for (int j = 0; j < QK4_1; j++) {
			if (x[j] < min)
				min = x[j];
			if (x[j] > max)
				max = x[j];
		}
		const float d = (max - min) / 15;
		const float id = d ? 1.0f / d : 0.0f;
		y[i].d = sl_fp32_to_fp16(d);
		y[i].m = sl_fp32_to_fp16(min);
		for (int j = 0; j < QK4_1 / 2; j++) {
			const uint8_t a = (uint8_t)MIN(15, (int8_t)((x[j] - min) * id + 0.5f));
			const uint8_t b = (uint8_t)MIN(15, (int8_t)((x[j + QK4_1 / 2] - min) * id + 0.5f));
			y[i].qs[j] = (uint8_t)(a | (b << 4));
		}
	}
}

static void q4_1_to_float(const void *vx, float *y, int64_t n)
{
	const struct block_q4_1 *x = vx;
	for (int64_t i = 0; i < n / QK4_1; i++, y += QK4_1) {
		const float d = FP16(x[i].d), m = FP16(x[i].m);
		for (int j = 0; j < QK4_1 / 2; j++) {
			y[j] = (x[i].qs[j] & 0x0F) * d + m;
			y[j + QK4_1 / 2] = (x[i].qs[j] >> 4) * d + m;
		}
	}
}

static void q4_1_vec_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_q4_1 *x = vx;
	const struct block_q8_1 *y = vy;
	float sum = 0;
	for (int64_t i = 0; i < n / QK4_1; i++) {
		int isum = 0;
		for (int j = 0; j < QK4_1 / 2; j++)
			isum += (x[i].qs[j] & 0x0F) * y[i].qs[j] + (x[i].qs[j] >> 4) * y[i].qs[j + 16];
		sum += (float)isum * (FP16(x[i].d) * FP16(y[i].d)) + FP16(x[i].m) * FP16(y[i].s);
	}
	*s = sum;
}

/* ---- q5_0 / q5_1: the fifth bits live in a 32-bit mask qh ---- */

static void q5_0_from_float(const float *x, void *vy, int64_t n)
{
	struct block_q5_0 *y = vy;
	for (int64_t i = 0; i < n / QK5_0; i++, x += QK5_0) {
		float amax = 0.0f, max = 0.0f;
		for (int j = 0; j < QK5_0; j++)
			if (amax < fabsf(x[j])) {
				amax = fabsf(x[j]);
				max = x[j];
			}
		const float d = max / -16;
		const float id = d ? 1.0f / d : 0.0f;
		y[i].d = sl_fp32_to_fp16(d);
		uint32_t qh = 0;
		for (int j = 0; j < QK5_0 / 2; j++) {
			const uint8_t a = (uint8_t)MIN(31, (int8_t)(x[j] * id + 16.5f));
			const uint8_t b = (uint8_t)MIN(31, (int8_t)(x[j + QK5_0 / 2] * id + 16.5f));
			y[i].qs[j] = (uint8_t)((a & 0x0F) | ((b & 0x0F) << 4));
			qh |= ((a & 0x10u) >> 4) << j;
			qh |= ((b & 0x10u) >> 4) << (j + QK5_0 / 2);
		}
		memcpy(y[i].qh, &qh, 4);
	}
}

static void q5_0_to_float(const void *vx, float *y, int64_t n)
{
	const struct block_q5_0 *x = vx;
	for (int64_t i = 0; i < n / QK5_0; i++, y += QK5_0) {
		const float d = FP16(x[i].d);
		uint32_t qh;
		memcpy(&qh, x[i].qh, 4);
		for (int j = 0; j < QK5_0 / 2; j++) {
			const int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
			y[j] = (((x[i].qs[j] & 0x0F) | h0) - 16) * d;
			y[j + QK5_0 / 2] = (((x[i].qs[j] >> 4) | h1) - 16) * d;
		}
	}
}

static void q5_0_vec_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_q5_0 *x = vx;
	const struct block_q8_0 *y = vy;
	float sum = 0;
	for (int64_t i = 0; i < n / QK5_0; i++) {
		uint32_t qh;
		memcpy(&qh, x[i].qh, 4);
		int isum = 0;
		for (int j = 0; j < QK5_0 / 2; j++) {
			const int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
			isum += (((x[i].qs[j] & 0x0F) | h0) - 16) * y[i].qs[j] +
				(((x[i].qs[j] >> 4) | h1) - 16) * y[i].qs[j + 16];
		}
		sum += (float)isum * (FP16(x[i].d) * FP16(y[i].d));
	}
	*s = sum;
}

static void q5_1_from_float(const float *x, void *vy, int64_t n)
{
	struct block_q5_1 *y = vy;
	for (int64_t i = 0; i < n / QK5_1; i++, x += QK5_1) {
		float min = FLT_MAX, max = -FLT_MAX;
		for (int j = 0; j < QK5_1; j++) {
			if (x[j] < min)
				min = x[j];
			if (x[j] > max)
				max = x[j];
		}
		const float d = (max - min) / 31;
		const float id = d ? 1.0f / d : 0.0f;
		y[i].d = sl_fp32_to_fp16(d);
		y[i].m = sl_fp32_to_fp16(min);
		uint32_t qh = 0;
		for (int j = 0; j < QK5_1 / 2; j++) {
			const uint8_t a = (uint8_t)((x[j] - min) * id + 0.5f);
			const uint8_t b = (uint8_t)((x[j + QK5_1 / 2] - min) * id + 0.5f);
			y[i].qs[j] = (uint8_t)((a & 0x0F) | ((b & 0x0F) << 4));
			qh |= ((a & 0x10u) >> 4) << j;
			qh |= ((b & 0x10u) >> 4) << (j + QK5_1 / 2);
		}
		memcpy(y[i].qh, &qh, 4);
	}
}

static void q5_1_to_float(const void *vx, float *y, int64_t n)
{
	const struct block_q5_1 *x = vx;
	for (int64_t i = 0; i < n / QK5_1; i++, y += QK5_1) {
		const float d = FP16(x[i].d), m = FP16(x[i].m);
		uint32_t qh;
		memcpy(&qh, x[i].qh, 4);
		for (int j = 0; j < QK5_1 / 2; j++) {
			const int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
			y[j] = ((x[i].qs[j] & 0x0F) | h0) * d + m;
			y[j + QK5_1 / 2] = ((x[i].qs[j] >> 4) | h1) * d + m;
		}
	}
}

static void q5_1_vec_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_q5_1 *x = vx;
	const struct block_q8_1 *y = vy;
	float sum = 0;
	for (int64_t i = 0; i < n / QK5_1; i++) {
		uint32_t qh;
		memcpy(&qh, x[i].qh, 4);
		int isum = 0;
		for (int j = 0; j < QK5_1 / 2; j++) {
			const int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
			isum += ((x[i].qs[j] & 0x0F) | h0) * y[i].qs[j] + ((x[i].qs[j] >> 4) | h1) * y[i].qs[j + 16];
		}
		sum += (float)isum * (FP16(x[i].d) * FP16(y[i].d)) + FP16(x[i].m) * FP16(y[i].s);
	}
	*s = sum;
}

/* ---- q8_0 / q8_1 ---- */

static void q8_0_from_float(const float *x, void *vy, int64_t n)
{
	struct block_q8_0 *y = vy;
	for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
		float amax = 0.0f;
		for (int j = 0; j < QK8_0; j++)
			amax = fmaxf(amax, fabsf(x[j]));
		const float d = amax / 127;
		const float id = d ? 1.0f / d : 0.0f;
		y[i].d = sl_fp32_to_fp16(d);
		for (int j = 0; j < QK8_0; j++)
			y[i].qs[j] = (int8_t)roundf(x[j] * id);
	}
}

static void q8_0_to_float(const void *vx, float *y, int64_t n)
{
	const struct block_q8_0 *x = vx;
	for (int64_t i = 0; i < n / QK8_0; i++, y += QK8_0) {
		const float d = FP16(x[i].d);
		for (int j = 0; j < QK8_0; j++)
			y[j] = x[i].qs[j] * d;
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
		sum += (float)isum * (FP16(x[i].d) * FP16(y[i].d));
	}
	*s = sum;
}

static void q8_1_from_float(const float *x, void *vy, int64_t n)
{
	struct block_q8_1 *y = vy;
	for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
		float amax = 0.0f;
		for (int j = 0; j < QK8_1; j++)
			amax = fmaxf(amax, fabsf(x[j]));
		const float d = amax / 127;
		const float id = d ? 1.0f / d : 0.0f;
		y[i].d = sl_fp32_to_fp16(d);
		int sum = 0;
		for (int j = 0; j < QK8_1; j++) {
			y[i].qs[j] = (int8_t)roundf(x[j] * id);
			sum += y[i].qs[j];
		}
		y[i].s = sl_fp32_to_fp16(sum * d);
	}
}

static void q8_1_to_float(const void *vx, float *y, int64_t n)
{
	const struct block_q8_1 *x = vx;
	for (int64_t i = 0; i < n / QK8_1; i++, y += QK8_1) {
		const float d = FP16(x[i].d);
		for (int j = 0; j < QK8_1; j++)
			y[j] = x[i].qs[j] * d;
	}
}

void sl_quant_legacy_kernels(uint32_t type, struct sl_kernels *k)
{
	switch (type) {
	case SL_TYPE_Q4_0: *k = (struct sl_kernels){ q4_0_to_float, q4_0_from_float, q4_0_vec_dot }; break;
	case SL_TYPE_Q4_1: *k = (struct sl_kernels){ q4_1_to_float, q4_1_from_float, q4_1_vec_dot }; break;
	case SL_TYPE_Q5_0: *k = (struct sl_kernels){ q5_0_to_float, q5_0_from_float, q5_0_vec_dot }; break;
	case SL_TYPE_Q5_1: *k = (struct sl_kernels){ q5_1_to_float, q5_1_from_float, q5_1_vec_dot }; break;
	case SL_TYPE_Q8_0: *k = (struct sl_kernels){ q8_0_to_float, q8_0_from_float, q8_0_vec_dot }; break;
	case SL_TYPE_Q8_1: *k = (struct sl_kernels){ q8_1_to_float, q8_1_from_float, NULL }; break;
	default: break;
	}
}
