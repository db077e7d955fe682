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

/*
 * The importance-weight preamble every imatrix quantizer shares (the i-quants here, q2_K..q6_K in
 * quant_k.c), as ggml writes it: sigma2 = mult * (sum of x^2) / n over a super-block (mult 1 or 2
 * by type), then each element weighs qw * sqrt(sigma2 + x^2).  With qw NULL an element weighs
 * wfloor + x^2 (ggml's no-imatrix fallbacks: wfloor 0, or 0.25 sigma2 for iq2_s).  Returns the sum
 * of the weights; waux (may be NULL) gets their square roots, what the grid searches weigh by.
 */
float sl_iq_sigma2(const float *x, int n, float mult);
float sl_iq_weights(const float *x, const float *qw, float sigma2, float wfloor, int n, float *weight, float *waux);

/* The set-up of one sub-block's grid search (at most 32 elements, n a multiple of 8): weights as
 * above, magnitudes and sign bytes (with even_parity the 7-bit form of sl_iq_take_signs, else all
 * 8 signs kept, as iq2_s/iq3_s store them).  Returns the largest magnitude. */
struct iq_sub {
	float weight[32], waux[32], xval[32];
	uint8_t signs[4];
};
float sl_iq_sub_setup(struct iq_sub *s, const float *xb, const float *qw, float sigma2, float wfloor, int n,
		      bool even_parity);

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
/* iq2_s and iq3_s (iq_quantize_s.c), qw NULL meaning no importance matrix; NULL for other types. */
sl_from_float_w_fn sl_iq_s_from_float_w(uint32_t type);

#endif
