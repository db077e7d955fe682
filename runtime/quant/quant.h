/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/quant.h — tensor element types and their block layouts.
 *
 * Type numbers are GGUF's (ggml_type), so a type read from a file indexes this
 * table directly.  Each type knows how to turn a row into floats (bit-exact
 * with ggml's dequantize_row_*), how to make itself from floats (ggml's
 * reference quantizer, quantize_row_*_ref, as llama-quantize uses without an
 * importance matrix), and how to take a dot product of one of its rows with an
 * activation row already converted to vec_dot_type:
 *
 *   weight type                     vec_dot_type   why
 *   q4_0 q5_0 q8_0                  q8_0           symmetric: one int dot per 32
 *   q4_1 q5_1                       q8_1           q8_1 carries d*sum(q) for the offset term
 *   q2_K q3_K q4_K q5_K q6_K        q8_K           per-16 sums (bsums) give the min term cheaply
 *   iq1..iq3, iq4_xs, tq1_0 tq2_0   q8_K           as ggml (iq1's delta uses the bsums)
 *   iq4_nl                          q8_0           blocks of 32, like q4_0
 *   f16 / bf16 / f32                same type      as ggml; f16 halves activation traffic
 *   q8_1 q8_K                       (activation-only types: no vec_dot)
 *
 * Kernels are chosen once, at first use, by CPUID: AVX-512 F/BW/VL/VNNI dots
 * for q4_K and q6_K (AVX2 for the rest) when the processor has them and
 * the OS saves ZMM state, AVX2+FMA+F16C when it has those, the scalar
 * reference otherwise.  sluice_set_cpu_features("scalar") forces scalar, "avx2"
 * caps the choice at AVX2 (the CLI maps SLUICE_NO_SIMD=1 / SLUICE_SIMD=avx2 to
 * it).  sl_type_traits_scalar() always gives the scalar ones,
 * sl_type_traits_isa() any family the CPU can run (for tests and benches).
 *
 * Accuracy contract: to_float and from_float are bit-identical between scalar
 * and SIMD (SIMD only replaces vec_dot).  vec_dot sums per-block integer dots
 * exactly; SIMD differs from scalar only in the order of the float
 * accumulation across blocks, so |simd - scalar| <= ~n_blocks * 2^-23 * sum|terms|.
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
	SL_TYPE_IQ2_XXS = 16,
	SL_TYPE_IQ2_XS = 17,
	SL_TYPE_IQ3_XXS = 18,
	SL_TYPE_IQ1_S = 19,
	SL_TYPE_IQ4_NL = 20,
	SL_TYPE_IQ3_S = 21,
	SL_TYPE_IQ2_S = 22,
	SL_TYPE_IQ4_XS = 23,
	SL_TYPE_I8 = 24,
	SL_TYPE_I16 = 25,
	SL_TYPE_I32 = 26,
	SL_TYPE_I64 = 27,
	SL_TYPE_F64 = 28,
	SL_TYPE_IQ1_M = 29,
	SL_TYPE_BF16 = 30,
	SL_TYPE_TQ1_0 = 34,
	SL_TYPE_TQ2_0 = 35,
	SL_TYPE_COUNT = 40,
};

typedef void (*sl_to_float_fn)(const void *x, float *y, int64_t n);
typedef void (*sl_from_float_fn)(const float *x, void *y, int64_t n);
typedef void (*sl_vec_dot_fn)(int64_t n, float *s, const void *x, const void *y);
/* A quantizer that minimises an error weighted by an importance matrix: x is one row of n floats and
 * qw its n per-column weights (the mean square of each input column, `sluice imatrix`). */
typedef void (*sl_from_float_w_fn)(const float *x, void *y, int64_t n, const float *qw);

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

/* The kernel family in use: "avx512vnni", "avx2" or "scalar". */
const char *sl_quant_isa(void);

/* The traits of one kernel family ("scalar", "avx2", "avx512vnni"), whatever
 * sluice_set_cpu_features says; NULL if this CPU (or build) cannot run
 * that family or the type is unknown.  For tests that check every family. */
const struct sl_type_traits *sl_type_traits_isa(uint32_t type, const char *isa);

/* Quantize nrows rows of n_per_row floats into dst with the reference
 * quantizer; returns bytes written, 0 if the type cannot be quantized to or
 * n_per_row is not a multiple of its block size. */
size_t sl_quantize_rows(uint32_t type, const float *src, void *dst, int64_t nrows, int64_t n_per_row);

/*
 * The same with an importance matrix: qw holds n_per_row weights, one per column, shared by every row
 * (ggml's quantize_* with quant_weights).  qw NULL is sl_quantize_rows, but for iq2_s, which has no
 * from_float yet is made without weights by ggml's reference (llama.cpp's token_embd).  Returns 0 where the type
 * has no weighted quantizer (sl_quant_weighted(type) NULL and no reference one either).
 * sl_quant_weighted: the weighted quantizer of a type (q2_K..q6_K, iq4_nl, iq4_xs, and the 1-3 bit
 * i-quants that exist only with an importance matrix), NULL for the others, whose quantizers take
 * no weights.  sl_quant_needs_imatrix: the types llama.cpp refuses to make without one.
 */
size_t sl_quantize_rows_w(uint32_t type, const float *src, void *dst, int64_t nrows, int64_t n_per_row,
			  const float *qw);
sl_from_float_w_fn sl_quant_weighted(uint32_t type);
bool sl_quant_needs_imatrix(uint32_t type);

/*
 * Matrix x (small batch of) vector(s) on weights of any type with a vec_dot
 * (runtime/quant/matmul.c).  W is rows x cols, row-major, rows packed at
 * sl_row_size(wtype, cols) bytes each; x is n_batch rows of cols floats.
 *
 * Threading contract: call sl_quantize_activations once per product (it
 * converts x to the weight type's vec_dot_type into xq, a caller-owned buffer
 * of sl_matmul_scratch_size bytes), then sl_matmul_rows from any number of
 * threads on disjoint row ranges [r0, r1); they only read w and xq and write
 * y[b*rows + r] for r in their own range.  Row ranges need no alignment.
 * Returns/does nothing useful for a type without vec_dot (check
 * sl_type_traits(wtype)->vec_dot first).
 */
size_t sl_matmul_scratch_size(uint32_t wtype, int64_t cols, int n_batch);
void sl_quantize_activations(uint32_t wtype, const float *x, int64_t cols, int n_batch, void *xq);
void sl_matmul_rows(uint32_t wtype, const void *w, int64_t cols, int64_t r0, int64_t r1, const void *xq,
		    int n_batch, float *y, int64_t rows);

/* Whole product, single thread: y = W x (allocates scratch; for tests and tools). */
int sl_matmul(uint32_t wtype, const void *w, int64_t rows, int64_t cols, const float *x, int n_batch, float *y);

#endif
