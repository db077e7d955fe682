/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/quant.h — tensor element types and their block layouts.
 *
 * Type numbers are GGUF's (ggml_type), so a type read from a file indexes this
 * table directly.  Each type knows how to turn a row into floats, how to make
 * itself from floats (reference quantizer), and how to take a dot product of
 * one of its rows with an activation row already converted to vec_dot_type
 * (Q8_0 or Q8_K for the quantized types, so the inner loop is integer).
 *
 * Kernels are chosen once, at first use, by CPUID: AVX2+FMA+F16C when the
 * processor has them, the scalar reference otherwise (SLUICE_NO_SIMD=1 forces
 * scalar, which the scalar-vs-SIMD test uses).
 */
#ifndef SLUICE_QUANT_H
#define SLUICE_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sl_type {
	SL_TYPE_F32 = 0,
	SL_TYPE_F16 = 1,
	SL_TYPE_Q4_0 = 2,
	SL_TYPE_Q4_1 = 3,
	SL_TYPE_Q5_0 = 6,
	SL_TYPE_Q5_1 = 7,
	SL_TYPE_Q8_0 = 8,
	SL_TYPE_Q8_1 = 9,
	SL_TYPE_Q2_K = 10,
	SL_TYPE_Q3_K = 11,
	SL_TYPE_Q4_K = 12,
	SL_TYPE_Q5_K = 13,
	SL_TYPE_Q6_K = 14,
	SL_TYPE_Q8_K = 15,
	SL_TYPE_I8 = 24,
	SL_TYPE_I16 = 25,
	SL_TYPE_I32 = 26,
	SL_TYPE_I64 = 27,
	SL_TYPE_F64 = 28,
	SL_TYPE_BF16 = 30,
	SL_TYPE_COUNT = 40,
};

typedef void (*sl_to_float_fn)(const void *x, float *y, int64_t n);
typedef void (*sl_from_float_fn)(const float *x, void *y, int64_t n);
typedef void (*sl_vec_dot_fn)(int64_t n, float *s, const void *x, const void *y);

struct sl_type_traits {
	const char *name;          /* "q4_K" etc., as ggml names them */
	int64_t block_size;        /* elements per block (1 for plain types) */
	size_t type_size;          /* bytes per block */
	bool quantized;
	sl_to_float_fn to_float;   /* n a multiple of block_size */
	sl_from_float_fn from_float; /* reference quantizer; NULL if not supported */
	uint32_t vec_dot_type;     /* activation type for vec_dot */
	sl_vec_dot_fn vec_dot;     /* x: a row of this type, y: a row of vec_dot_type; NULL if none */
};

/* The traits of a GGUF type number; NULL for a number this build does not know. */
const struct sl_type_traits *sl_type_traits(uint32_t type);

/* Name of a type number ("f16"), or "unknown". */
const char *sl_type_name(uint32_t type);

/* Parse a type name, case-insensitive ("q4_k", "Q8_0", "f16"); -1 if unknown. */
int sl_type_from_name(const char *name);

/* Bytes of a row of n elements; 0 if n is not a multiple of the block size or the type is unknown. */
size_t sl_row_size(uint32_t type, int64_t n);

/* Scalar reference kernels, always compiled; the table uses SIMD ones when the CPU has them. */
const struct sl_type_traits *sl_type_traits_scalar(uint32_t type);

/* fp16 / bf16 conversion (scalar, exact). */
float sl_fp16_to_fp32(uint16_t h);
uint16_t sl_fp32_to_fp16(float f);
float sl_bf16_to_fp32(uint16_t h);
uint16_t sl_fp32_to_bf16(float f);

#endif
