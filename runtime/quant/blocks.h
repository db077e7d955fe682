/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/blocks.h — block layouts of the quantized types, byte for byte
 * as GGUF files store them (ggml-common.h).  Internal to runtime/quant/.
 *
 * fp16 fields are kept as uint16_t bit patterns; every struct is packed by
 * construction (only uint8/int8/uint16/int16/float members, in an order with
 * no padding), and the static asserts pin the sizes GGUF expects.
 */
#ifndef SLUICE_QUANT_BLOCKS_H
#define SLUICE_QUANT_BLOCKS_H

#include <stdint.h>
#include <string.h>

#include "quant/quant.h"

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK_K 256
#define K_SCALE_SIZE 12

struct block_q4_0 { uint16_t d; uint8_t qs[QK4_0 / 2]; };
struct block_q4_1 { uint16_t d, m; uint8_t qs[QK4_1 / 2]; };
struct block_q5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; };
struct block_q5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; };
struct block_q8_0 { uint16_t d; int8_t qs[QK8_0]; };
/* s = d * sum(qs): lets q4_1/q5_1 dots apply their offset m with one multiply. */
struct block_q8_1 { uint16_t d, s; int8_t qs[QK8_1]; };

/* 16 sub-blocks of 16: 4-bit scale | 4-bit min per sub-block, 2-bit quants. */
struct block_q2_K { uint8_t scales[QK_K / 16]; uint8_t qs[QK_K / 4]; uint16_t d, dmin; };
/* 16 sub-blocks of 16: 6-bit signed scales packed in 12 bytes, 2 low bits + 1 high bit. */
struct block_q3_K { uint8_t hmask[QK_K / 8]; uint8_t qs[QK_K / 4]; uint8_t scales[12]; uint16_t d; };
/* 8 sub-blocks of 32: 6-bit scale and min each, packed in 12 bytes; 4-bit quants. */
struct block_q4_K { uint16_t d, dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qs[QK_K / 2]; };
struct block_q5_K { uint16_t d, dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; };
/* 16 sub-blocks of 16: int8 scales, 4 low bits + 2 high bits. */
struct block_q6_K { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; uint16_t d; };
/* Activations for K-quant dots: float scale, and per-16 sums so mins cost one dot of 16 shorts. */
struct block_q8_K { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; };

_Static_assert(sizeof(struct block_q4_0) == 18, "q4_0");
_Static_assert(sizeof(struct block_q4_1) == 20, "q4_1");
_Static_assert(sizeof(struct block_q5_0) == 22, "q5_0");
_Static_assert(sizeof(struct block_q5_1) == 24, "q5_1");
_Static_assert(sizeof(struct block_q8_0) == 34, "q8_0");
_Static_assert(sizeof(struct block_q8_1) == 36, "q8_1");
_Static_assert(sizeof(struct block_q2_K) == 84, "q2_K");
_Static_assert(sizeof(struct block_q3_K) == 110, "q3_K");
_Static_assert(sizeof(struct block_q4_K) == 144, "q4_K");
_Static_assert(sizeof(struct block_q5_K) == 176, "q5_K");
_Static_assert(sizeof(struct block_q6_K) == 210, "q6_K");
_Static_assert(sizeof(struct block_q8_K) == 292, "q8_K");

#define FP16(h) sl_fp16_to_fp32(h)

/* Unpack the j-th 6-bit (scale, min) pair of a q4_K/q5_K block. */
static inline void sl_get_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
	if (j < 4) {
		*d = q[j] & 63;
		*m = q[j + 4] & 63;
	} else {
		*d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
		*m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
	}
}

/* The 16 signed 6-bit scales of a q3_K block, unpacked (value - 32). */
static inline void sl_q3k_scales(const uint8_t *packed, int8_t out[16])
{
	for (int j = 0; j < 16; j++) {
		int lo = j < 8 ? packed[j] & 0xF : packed[j - 8] >> 4;
		int hi = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
		out[j] = (int8_t)((lo | (hi << 4)) - 32);
	}
}

/* Per-kind kernel sets, filled by the files that define them (see quant.c). */
struct sl_kernels {
	sl_to_float_fn to_float;
	sl_from_float_fn from_float;
	sl_vec_dot_fn vec_dot;
};
void sl_quant_legacy_kernels(uint32_t type, struct sl_kernels *k);
void sl_quant_k_kernels(uint32_t type, struct sl_kernels *k);
/* The K-quants' quantizers with an importance matrix (quant_k.c); NULL for other types. */
sl_from_float_w_fn sl_quant_k_weighted(uint32_t type);
/* ggml's make_qp_quants (quant_k.c): levels in [0, nmax] for the non-negative x[0..n) minimising the
 * qw-weighted squared error; returns the scale.  The k-quants fit their sub-block scales with it,
 * the grid i-quants their first guess. */
float sl_make_qp_quants(int n, int nmax, const float *x, uint8_t *L, const float *qw);
/* ggml's make_qx_quants (symmetric levels + nmax in [0, 2 nmax), weighted by qw) and
 * make_qkx3_quants (levels in [0, nmax] with a min, weighted; *the_min gets -min), exported from
 * quant_k.c for the weighted legacy quantizers (quant_legacy_w.c). */
float sl_make_qx_quants(int n, int nmax, const float *x, int8_t *L, int rmse_type, const float *qw);
float sl_make_qkx3_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *the_min,
			  uint8_t *Laux, float rmin, float rdelta, int nstep);
/* q4_0, q4_1, q5_0, q5_1 with an importance matrix (quant_legacy_w.c); NULL for other types. */
sl_from_float_w_fn sl_quant_legacy_weighted(uint32_t type);

/* Round to nearest, ties to even, for |f| < 2^22 (ggml's nearest_int). */
static inline int sl_nearest_int(float f)
{
	float v = f + 12582912.f;
	int i;
	memcpy(&i, &v, sizeof(int));
	return (i & 0x007fffff) - 0x00400000;
}
void sl_quant_kdot_kernels(uint32_t type, struct sl_kernels *k);
void sl_quant_plain_kernels(uint32_t type, struct sl_kernels *k);
/* AVX2 replacements; leaves fields untouched where it has none.  Only call when the CPU has AVX2+FMA+F16C. */
void sl_quant_avx2_kernels(uint32_t type, struct sl_kernels *k);
/* AVX-512 VNNI i-quant dots (iq_avx512.c), called by sl_quant_avx512_kernels. */
void sl_quant_iq_avx512_kernels(uint32_t type, struct sl_kernels *k);
/* AVX-512 (VBMI) dots of the grid i-quants (iq_avx512_grid.c), called by sl_quant_avx512_kernels. */
void sl_quant_iq_avx512_grid_kernels(uint32_t type, struct sl_kernels *k);

/* Shared by the SIMD kernels: */
/* q4_K/q5_K: unpack the 12 scale bytes into 8 scales (bytes 0-7) and 8 mins (bytes 8-15). */
static inline void k4_unpack(const uint8_t *packed, uint32_t u[4])
{
	const uint32_t m1 = 0x3f3f3f3f, m2 = 0x0f0f0f0f, m3 = 0x03030303;
	memcpy(u, packed, 12);
	u[3] = ((u[2] >> 4) & m2) | (((u[1] >> 6) & m3) << 4);
	const uint32_t lowmins = u[1] & m1;
	u[1] = (u[2] & m2) | (((u[0] >> 6) & m3) << 4);
	u[2] = lowmins;
	u[0] &= m1;
}

#endif
