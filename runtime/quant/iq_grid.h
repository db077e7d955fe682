/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/iq_grid.h — the grid search the i-quant quantizers share (iq_grid.c): search tables
 * per grid type and the small steps every lattice quantizer takes.  Internal to runtime/quant/.
 *
 * A group of 8 (or 4) magnitudes is stored as an index into a grid of patterns.  The search works
 * on the lattice of odd integers: a grid element at level l is the lattice point 2l+1, a group's
 * levels make a key (2 or 3 bits per element), and `map` sends a key to its grid index or, for a
 * key off the grid, to a list of the grid patterns nearest to it, which a quantizer scores with
 * its importance weights (ggml's iq2xs_init_impl / iq3xs_init_impl and *_find_best_neighbour).
 */
#ifndef SLUICE_QUANT_IQ_GRID_H
#define SLUICE_QUANT_IQ_GRID_H

#include "quant/iq_blocks.h"

struct grid_tables {
	int ngrid, width, bits, kmap_size;
	int8_t (*grid)[8];     /* lattice points 2l+1 (the first `width` used) */
	int32_t *map;          /* key -> grid index (>= 0), or -(offset in nbr + 1) */
	uint16_t *nbr;         /* at each offset: a count, then that many grid indices */
	bool ok;
};

/* The tables of iq2_xxs, iq2_xs, iq1_s / iq1_m (one grid) or iq3_xxs, built on first use (once per
 * process, thread-safe) and kept; NULL for another type or when building ran out of memory. */
const struct grid_tables *sl_iq_grid_tables(uint32_t type);

/* The grid index for the levels L[0..width): exact when on the grid, else the listed neighbour with
 * the least w-weighted error at this scale, whose levels are then written to L. */
int sl_iq_grid_index(const struct grid_tables *t, int8_t *L, const float *xval, const float *w, float scale);
/* Magnitudes of ngroups groups of 8 into xval, their 7 stored sign bits into signs (even parity:
 * an odd group keeps the sign of its least important element, whose magnitude goes in negated). */
void sl_iq_take_signs(const float *xb, const float *weight, int ngroups, float *xval, uint8_t *signs);
/* Levels of xval at inverse scale id: the nearest odd lattice point, clamped to 0..kmax-1. */
void sl_iq_lattice_levels(const float *xval, float id, int kmax, int8_t *L, int n);
/* The weighted fit of odd-lattice levels: sum w x q and sum w q^2 over n elements, q = 2L+1. */
void sl_iq_fit_odd(const int8_t *L, const float *xval, const float *weight, int n, float *sumqx, float *sumq2);

/* iq1_s and iq1_m with an importance matrix (iq_quantize_iq1.c); NULL for other types. */
sl_from_float_w_fn sl_iq1_from_float_w(uint32_t type);

#endif
