/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/iq_tables.h — the lookup tables of the i-quants (ggml-common.h),
 * defined in iq_tables.c, which scripts/gen_iq_tables.py generates from the
 * gguf package's published grids.  Internal to runtime/quant/.
 *
 * A grid entry is a pattern of 8 (or 4) magnitudes, one byte each, byte j =
 * element j; blocks store an index into the grid plus sign bits.
 */
#ifndef SLUICE_QUANT_IQ_TABLES_H
#define SLUICE_QUANT_IQ_TABLES_H

#include <stdint.h>

/* 7 stored sign bits -> 8 signs (bit j set: element j negative); the 8th restores even parity. */
extern const uint8_t sl_ksigns_iq2xs[128];
/* The same as 8 bytes of +1 / -1 (0x01 / 0xff), element j in byte j: sign masks for SIMD. */
extern const uint64_t sl_keven_signs_q2xs[128];
/* The 16 non-uniform levels of iq4_nl / iq4_xs. */
extern const int8_t sl_kvalues_iq4nl[16];
extern const uint64_t sl_iq2xxs_grid[256];  /* bytes 0x08 0x19 0x2b */
extern const uint64_t sl_iq2xs_grid[512];
extern const uint64_t sl_iq2s_grid[1024];
extern const uint32_t sl_iq3xxs_grid[256];  /* bytes 0x04..0x3e */
extern const uint32_t sl_iq3s_grid[512];    /* bytes 0x01..0x0f */
extern const uint64_t sl_iq1s_grid[2048];   /* int8 bytes -1, 0, +1 */

#endif
