/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/iq_blocks.h — block layouts of the i-quants and ternary types,
 * byte for byte as GGUF stores them (ggml-common.h).  Internal to runtime/quant/.
 *
 * All super-blocks are QK_K = 256 elements except iq4_nl (32).  "ls" below is a
 * sub-block scale; d the block's fp16 scale.  Values are reconstructed as
 * d * f(ls) * grid[index] * sign, the grid a table of 4- or 8-element patterns
 * (iq_tables.h).
 */
#ifndef SLUICE_QUANT_IQ_BLOCKS_H
#define SLUICE_QUANT_IQ_BLOCKS_H

#include "quant/blocks.h"
#include "quant/iq_tables.h"

#define QK4_NL 32
#define IQ1S_DELTA 0.125f
#define IQ1M_DELTA 0.125f

/* 2.06 bpw: per 32, 4 bytes of grid indices + 4 bytes of (4x7 sign bits | 4-bit scale). */
struct block_iq2_xxs { uint16_t d; uint16_t qs[QK_K / 8]; };
/* 2.31 bpw: per 8, a 16-bit (9-bit index | 7 sign bits); 4-bit scale per 16. */
struct block_iq2_xs { uint16_t d; uint16_t qs[QK_K / 8]; uint8_t scales[QK_K / 32]; };
/* 2.56 bpw: 10-bit indices (8 low in qs, 2 high in qh), a full sign byte per 8 (second half of qs). */
struct block_iq2_s { uint16_t d; uint8_t qs[QK_K / 4]; uint8_t qh[QK_K / 32]; uint8_t scales[QK_K / 32]; };
/* 3.06 bpw: per 32, 8 one-byte indices into a 4-wide grid, then per 32 a uint32 of signs|scale. */
struct block_iq3_xxs { uint16_t d; uint8_t qs[3 * QK_K / 8]; };
/* 3.44 bpw: 9-bit indices (high bit in qh), explicit signs, 4-bit scale per 32. */
struct block_iq3_s { uint16_t d; uint8_t qs[QK_K / 4]; uint8_t qh[QK_K / 32]; uint8_t signs[QK_K / 8]; uint8_t scales[QK_K / 64]; };
/* 1.56 bpw: 11-bit indices into a ternary grid; per 32 a uint16 of 4x3 high bits, 3-bit scale, delta sign. */
struct block_iq1_s { uint16_t d; uint8_t qs[QK_K / 8]; uint16_t qh[QK_K / 32]; };
/* 1.75 bpw: like iq1_s with a scale per 16 and a delta sign per 8; the fp16 d is split over the
 * top 4 bits of the four scale words. */
struct block_iq1_m { uint8_t qs[QK_K / 8]; uint8_t qh[QK_K / 16]; uint8_t scales[QK_K / 32]; };
/* 4.5 bpw: 32 4-bit indices into kvalues_iq4nl. */
struct block_iq4_nl { uint16_t d; uint8_t qs[QK4_NL / 2]; };
/* 4.25 bpw: iq4_nl's levels with a 6-bit scale per 32 (4 low bits in scales_l, 2 high in scales_h). */
struct block_iq4_xs { uint16_t d; uint16_t scales_h; uint8_t scales_l[QK_K / 64]; uint8_t qs[QK_K / 2]; };
/* 1.69 bpw ternary: 5 trits per byte (base 3, scaled to fill the byte), 4 per byte in qh. */
struct block_tq1_0 { uint8_t qs[(QK_K - 4 * QK_K / 64) / 5]; uint8_t qh[QK_K / 64]; uint16_t d; };
/* 2.06 bpw ternary: 2 bits per element, value = q - 1. */
struct block_tq2_0 { uint8_t qs[QK_K / 4]; uint16_t d; };

_Static_assert(sizeof(struct block_iq2_xxs) == 66, "iq2_xxs");
_Static_assert(sizeof(struct block_iq2_xs) == 74, "iq2_xs");
_Static_assert(sizeof(struct block_iq2_s) == 82, "iq2_s");
_Static_assert(sizeof(struct block_iq3_xxs) == 98, "iq3_xxs");
_Static_assert(sizeof(struct block_iq3_s) == 110, "iq3_s");
_Static_assert(sizeof(struct block_iq1_s) == 50, "iq1_s");
_Static_assert(sizeof(struct block_iq1_m) == 56, "iq1_m");
_Static_assert(sizeof(struct block_iq4_nl) == 18, "iq4_nl");
_Static_assert(sizeof(struct block_iq4_xs) == 136, "iq4_xs");
_Static_assert(sizeof(struct block_tq1_0) == 54, "tq1_0");
_Static_assert(sizeof(struct block_tq2_0) == 66, "tq2_0");

static const uint8_t sl_kmask_iq2xs[8] = { 1, 2, 4, 8, 16, 32, 64, 128 };

/* iq1_m's fp16 block scale, reassembled from the top nibbles of its four scale words. */
static inline uint16_t sl_iq1m_d(const struct block_iq1_m *x)
{
	uint16_t sc[4];
	memcpy(sc, x->scales, sizeof sc);
	return (uint16_t)((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
}

/* iq4_xs: the 6-bit scale of sub-block ib (0..7), as stored (bias 32 not removed). */
static inline int sl_iq4xs_ls(const struct block_iq4_xs *x, int ib)
{
	return ((x->scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf) | (((x->scales_h >> 2 * ib) & 3) << 4);
}

/* The iq kernels (iq_dequant.c, iq_dot.c, iq_quantize.c, iq_avx2.c). */
void sl_quant_iq_kernels(uint32_t type, struct sl_kernels *k);
void sl_quant_iq_avx2_kernels(uint32_t type, struct sl_kernels *k);
/* iq1_m, tq1_0, tq2_0 (iq_avx2_ternary.c), called by sl_quant_iq_avx2_kernels. */
void sl_quant_iq_avx2_ternary_kernels(uint32_t type, struct sl_kernels *k);
/* iq1_s, iq1_m with AVX-512 VNNI (iq_avx512_iq1.c), called by sl_quant_iq_avx512_kernels. */
void sl_quant_iq_avx512_iq1_kernels(uint32_t type, struct sl_kernels *k);
/* Parts of sl_quant_iq_kernels, one per file. */
sl_to_float_fn sl_iq_to_float(uint32_t type);
sl_vec_dot_fn sl_iq_vec_dot(uint32_t type);
sl_from_float_fn sl_iq_from_float(uint32_t type);
/* Quantizers with an importance matrix (NULL where none): iq4 in iq_quantize.c, the grid types
 * (iq2_xxs, iq2_xs, iq3_xxs in iq_quantize_lattice.c, iq1_s/iq1_m in iq_quantize_iq1.c, iq2_s/iq3_s
 * in iq_quantize_s.c). */
sl_from_float_w_fn sl_iq_from_float_w(uint32_t type);
sl_from_float_w_fn sl_iq_grid_from_float_w(uint32_t type);
/* iq3_xxs without an importance matrix (ggml's quantize_row_iq3_xxs_ref). */
void sl_iq3_xxs_from_float(const float *x, void *y, int64_t n);
/* iq3_s without one (ggml's quantize_row_iq3_s_ref; iq_quantize_s.c).  iq2_s has none, as
 * llama-quantize refuses it without an importance matrix. */
void sl_iq3_s_from_float(const float *x, void *y, int64_t n);

#endif
