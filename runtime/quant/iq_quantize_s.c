/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/iq_quantize_s.c — quantizers of iq2_s and iq3_s, ports of ggml's
 * quantize_row_iq2_s_impl and quantize_row_iq3_s_impl on the tables of iq_grid.c.  Unlike the
 * xxs/xs types they keep all 8 signs of a group (no parity trick) and have a larger grid
 * (iq2_s: 1024 patterns of 8, iq3_s: 512 patterns of 4).  Each sub-block tries 19 scales, snaps
 * every group to the grid and keeps the best weighted fit; groups that trial had to move off
 * their lattice point are re-snapped at the final scale.  qw NULL means no importance matrix
 * (ggml's *_ref): each element then weighs x^2 (iq3_s) or sigma2/4 + x^2 (iq2_s; only reached
 * through sl_iq_s_from_float_w, since iq2_s is refused without an imatrix as llama-quantize does).
 *
 * One deliberate difference from ggml: iq3_s writes an all-zero sub-block's grid indices and
 * signs at that sub-block's place.  ggml's loop skips them with `continue` before advancing its
 * qs/signs pointers, so every later sub-block of that super-block lands one place early and the
 * last one's bytes stay zero — a block that does not decode to its input.
 */
#include "quant/iq_grid.h"

#include <math.h>

#define GROUP_MAX_EPS_IQ2_S 1e-8f

/* Re-snap groups of `width` in L at scale (all of them, or those not on the grid), then the
 * weighted refit of the scale; unchanged when the fit has no weight. */
static float resnap(const struct grid_tables *t, const struct iq_sub *s, int8_t *L, const bool *on_grid, int n,
		    float scale, int kmax)
{
	const int w = t->width;
	for (int k = 0; k < n / w; k++) {
		if (on_grid && on_grid[k])
			continue;
		sl_iq_lattice_levels(s->xval + w * k, 1 / scale, kmax, L + w * k, w);
		sl_iq_grid_index(t, L + w * k, s->xval + w * k, s->waux + w * k, scale);
	}
	float sumqx, sumq2;
	sl_iq_fit_odd(L, s->xval, s->weight, n, &sumqx, &sumq2);
	return sumq2 > 0 ? sumqx / sumq2 : scale;
}

/* Whether the lattice levels of one group are a grid point. */
static bool on_the_grid(const struct grid_tables *t, const int8_t *L)
{
	int key = 0;
	for (int i = 0; i < t->width; i++)
		key |= L[i] << t->bits * i;
	return t->map[key] >= 0;
}

/*
 * The trial scales of one sub-block of n (ggml's loop over is = -9..9): levels at each inverse
 * scale (base + is * step) / max, each group snapped to the grid, the best weighted fit kept in L
 * and on_grid.  scale comes in as ggml's starting value (kept when no trial fits) and goes out as
 * the best fit's.
 */
static float trials(const struct grid_tables *t, const struct iq_sub *s, int n, float max, int kmax, float step,
		    int8_t *L, bool *on_grid, float scale)
{
	const int w = t->width;
	int8_t Laux[32];
	bool aux[8];
	float best = 0, sumqx, sumq2;
	for (int is = -9; is <= 9; is++) {
		const float id = (2 * kmax - 1 + is * step) / max, this_scale = 1 / id;
		sl_iq_lattice_levels(s->xval, id, kmax, Laux, n);
		for (int k = 0; k < n / w; k++) {
			aux[k] = on_the_grid(t, Laux + w * k);
			sl_iq_grid_index(t, Laux + w * k, s->xval + w * k, s->waux + w * k, this_scale);
		}
		sl_iq_fit_odd(Laux, s->xval, s->weight, n, &sumqx, &sumq2);
		if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
			scale = sumqx / sumq2;
			best = scale * sumqx;
			memcpy(L, Laux, (size_t)n);
			memcpy(on_grid, aux, (size_t)(n / w) * sizeof(*aux));
		}
	}
	return scale;
}

/* The 4-bit sub-block scale of scale against the super-block's d = max_scale / 31 (id = 1 / d). */
static int scale_level(float id, float scale)
{
	const int l = sl_nearest_int(0.5f * (id * scale - 1));
	return l < 0 ? 0 : l > 15 ? 15 : l;
}

/* ---- iq2_s: sub-blocks of 16, two groups of 8 on the 1024-entry grid ---- */

static float iq2s_block(const struct grid_tables *t, const float *xb, const float *qw, float sigma2, uint16_t *gi,
			uint8_t *signs)
{
	enum { KMAXQ = 3 };
	struct iq_sub s;
	int8_t L[16] = { 0 }; /* no trial fitting leaves the all-zero levels: grid entry 0, as ggml */
	bool on_grid[2] = { true, true };
	const float max = sl_iq_sub_setup(&s, xb, qw, sigma2, 0.25f * sigma2, 16, false);
	gi[0] = gi[1] = 0;
	signs[0] = signs[1] = 0;
	if (max < GROUP_MAX_EPS_IQ2_S)
		return 0;
	float scale = trials(t, &s, 16, max, KMAXQ, 0.1f, L, on_grid, max / (2 * KMAXQ - 1));
	if ((!on_grid[0] || !on_grid[1]) && scale > 0)
		scale = resnap(t, &s, L, on_grid, 16, scale, KMAXQ);
	if (scale < 0) { /* cannot happen with non-negative xval; ggml guards it the same way */
		scale = -scale;
		s.signs[0] = (uint8_t)~s.signs[0];
		s.signs[1] = (uint8_t)~s.signs[1];
	}
	for (int k = 0; k < 2; k++) { /* L is on the grid now: the lookup is exact */
		gi[k] = (uint16_t)sl_iq_grid_index(t, L + 8 * k, s.xval + 8 * k, s.waux + 8 * k, scale);
		signs[k] = s.signs[k];
	}
	return scale;
}

static void iq2_s_quantize(const float *x, void *vy, int64_t n, const float *qw)
{
	struct block_iq2_s *y = vy;
	const struct grid_tables *t = sl_iq_grid_tables(SL_TYPE_IQ2_S);
	for (int64_t ibl = 0; ibl < n / QK_K; ibl++, x += QK_K, qw = qw ? qw + QK_K : NULL) {
		float scales[QK_K / 16], max_scale = 0;
		memset(&y[ibl], 0, sizeof y[ibl]);
		if (!t) /* out of memory building the tables: a zero block rather than garbage */
			continue;
		const float sigma2 = sl_iq_sigma2(x, QK_K, 2);
		for (int ib = 0; ib < QK_K / 16; ib++) {
			uint16_t gi[2];
			scales[ib] = iq2s_block(t, x + 16 * ib, qw ? qw + 16 * ib : NULL, sigma2, gi,
						y[ibl].qs + QK_K / 8 + 2 * ib);
			for (int k = 0; k < 2; k++) {
				const int i8 = 2 * ib + k;
				y[ibl].qs[i8] = (uint8_t)(gi[k] & 255);
				y[ibl].qh[i8 / 4] |= (uint8_t)((gi[k] >> 8) << 2 * (i8 % 4));
			}
			max_scale = scales[ib] > max_scale ? scales[ib] : max_scale;
		}
		if (!max_scale)
			continue;
		const float d = max_scale / 31, id = 1 / d;
		y[ibl].d = sl_fp32_to_fp16(d * 0.9875f); /* ggml's fudge factor */
		for (int ib = 0; ib < QK_K / 16; ib++)
			y[ibl].scales[ib / 2] |= (uint8_t)(scale_level(id, scales[ib]) << 4 * (ib % 2));
	}
}

/* ---- iq3_s: sub-blocks of 32, eight groups of 4 on the 512-entry grid ---- */

static float iq3s_block(const struct grid_tables *t, const float *xb, const float *qw, float sigma2, uint16_t *gi,
			uint8_t *signs)
{
	enum { KMAXQ = 8 };
	struct iq_sub s;
	int8_t L[32] = { 0 };
	bool on_grid[8] = { false }; /* no trial fitting re-snaps every group at max/15, as ggml */
	const float max = sl_iq_sub_setup(&s, xb, qw, sigma2, 0, 32, false);
	memset(gi, 0, 8 * sizeof(*gi));
	memset(signs, 0, 4);
	if (!max)
		return 0;
	float scale = trials(t, &s, 32, max, KMAXQ, 0.2f, L, on_grid, max / (2 * KMAXQ - 1));
	bool all_on_grid = true;
	for (int k = 0; k < 8; k++)
		all_on_grid = all_on_grid && on_grid[k];
	if (!all_on_grid && scale > 0) /* ggml re-snaps every group here, not only those off the grid */
		scale = resnap(t, &s, L, NULL, 32, scale, KMAXQ);
	if (scale < 0) { /* as iq2_s: cannot happen, guarded as ggml does */
		scale = -scale;
		for (int k = 0; k < 4; k++)
			s.signs[k] = (uint8_t)~s.signs[k];
	}
	for (int k = 0; k < 8; k++) /* L is on the grid now: the lookup is exact */
		gi[k] = (uint16_t)sl_iq_grid_index(t, L + 4 * k, s.xval + 4 * k, s.waux + 4 * k, scale);
	memcpy(signs, s.signs, 4);
	return scale;
}

static void iq3_s_quantize(const float *x, void *vy, int64_t n, const float *qw)
{
	struct block_iq3_s *y = vy;
	const struct grid_tables *t = sl_iq_grid_tables(SL_TYPE_IQ3_S);
	for (int64_t ibl = 0; ibl < n / QK_K; ibl++, x += QK_K, qw = qw ? qw + QK_K : NULL) {
		float scales[QK_K / 32], max_scale = 0;
		memset(&y[ibl], 0, sizeof y[ibl]);
		if (!t) /* out of memory building the tables */
			continue;
		const float sigma2 = sl_iq_sigma2(x, QK_K, 2);
		for (int ib = 0; ib < QK_K / 32; ib++) {
			uint16_t gi[8];
			scales[ib] = iq3s_block(t, x + 32 * ib, qw ? qw + 32 * ib : NULL, sigma2, gi, y[ibl].signs + 4 * ib);
			for (int k = 0; k < 8; k++) {
				y[ibl].qs[8 * ib + k] = (uint8_t)(gi[k] & 255);
				y[ibl].qh[ib] |= (uint8_t)((gi[k] >> 8) << k);
			}
			max_scale = scales[ib] > max_scale ? scales[ib] : max_scale;
		}
		if (!max_scale)
			continue;
		const float d = max_scale / 31, id = 1 / d;
		y[ibl].d = sl_fp32_to_fp16(d * 1.033f); /* ggml's fudge factor */
		for (int ib = 0; ib < QK_K / 32; ib += 2)
			y[ibl].scales[ib / 2] = (uint8_t)(scale_level(id, scales[ib]) | scale_level(id, scales[ib + 1]) << 4);
	}
}

sl_from_float_w_fn sl_iq_s_from_float_w(uint32_t type)
{
	switch (type) {
	case SL_TYPE_IQ2_S: return iq2_s_quantize;
	case SL_TYPE_IQ3_S: return iq3_s_quantize;
	default: return NULL;
	}
}

void sl_iq3_s_from_float(const float *x, void *y, int64_t n)
{
	iq3_s_quantize(x, y, n, NULL);
}
