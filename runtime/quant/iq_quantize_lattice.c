/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/iq_quantize_lattice.c — quantizers of the i-quants that put magnitudes on the odd
 * lattice with signs apart: iq2_xxs and iq2_xs (only with an importance matrix, as llama.cpp) and
 * iq3_xxs (with or without one, as ggml), ports of ggml's quantize_row_iq2_xxs_impl,
 * quantize_row_iq2_xs_impl and quantize_row_iq3_xxs_impl on the tables of iq_grid.c.  Each block
 * tries a range of scales, snaps every group to its grid and keeps the best weighted fit.
 */
#include "quant/iq_grid.h"

#define GROUP_MAX_EPS 1e-15f
#define GROUP_MAX_EPS_IQ3_XXS 1e-8f

/*
 * One block of 32: magnitudes with signs taken out (the group's least important element gives up
 * its sign when the count of negatives is odd), a first scale by make_qp_quants, 13 trial scales
 * around it each snapped to the grid, then the best refined once more.  Returns the scale (>= 0);
 * grid indices and sign bits go to q2[0..1].
 */
static float iq2xxs_block(const struct grid_tables *t, const float *xb, const float *qw, float sigma2, uint32_t *q2)
{
	enum { KMAXQ = 3 };
	struct iq_sub s;
	float *weight = s.weight, *waux = s.waux, *xval = s.xval;
	uint8_t *signs = s.signs;
	int8_t L[32], Laux[32];
	const float max = sl_iq_sub_setup(&s, xb, qw, sigma2, 0, 32, true);
	if (max < GROUP_MAX_EPS)
		return 0;

	float scale = sl_make_qp_quants(32, KMAXQ + 1, xval, (uint8_t *)L, weight);
	const float eff_max = scale * KMAXQ;
	float best = 0;
	bool found = false;
	for (int is = -6; is <= 6; is++) {
		const float id = (2 * KMAXQ - 1 + is * 0.1f) / eff_max, this_scale = 1 / id;
		sl_iq_lattice_levels(xval, id, KMAXQ, Laux, 32);
		for (int k = 0; k < 4; k++)
			sl_iq_grid_index(t, Laux + 8 * k, xval + 8 * k, waux + 8 * k, this_scale);
		float sumqx = 0, sumq2 = 0;
		for (int i = 0; i < 32; i++) {
			const float q = 2 * Laux[i] + 1;
			sumqx += weight[i] * xval[i] * q;
			sumq2 += weight[i] * q * q;
		}
		if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
			found = true;
			scale = sumqx / sumq2;
			best = scale * sumqx;
			memcpy(L, Laux, 32);
		}
	}
	/* No trial fitted (every importance weight 0, say): the levels are not on the grid, so a zero
	 * block rather than ggml's garbage indices. */
	if (!found)
		return 0;
	if (scale > 0) {
		sl_iq_lattice_levels(xval, 1 / scale, KMAXQ, L, 32);
		for (int k = 0; k < 4; k++)
			sl_iq_grid_index(t, L + 8 * k, xval + 8 * k, waux + 8 * k, scale);
		float sumqx = 0, sumq2 = 0;
		for (int i = 0; i < 32; i++) {
			const float q = 2 * L[i] + 1;
			sumqx += weight[i] * xval[i] * q;
			sumq2 += weight[i] * q * q;
		}
		if (sumq2 > 0)
			scale = sumqx / sumq2;
	}
	if (scale < 0) { /* cannot happen with non-negative xval; ggml guards it the same way */
		scale = -scale;
		for (int k = 0; k < 4; k++)
			signs[k] = (uint8_t)(~signs[k] & 127);
	}
	for (int k = 0; k < 4; k++) {
		/* L is on the grid now: the lookup is exact */
		const int gi = sl_iq_grid_index(t, L + 8 * k, xval + 8 * k, waux + 8 * k, scale);
		q2[0] |= (uint32_t)gi << 8 * k;
		q2[1] |= (uint32_t)signs[k] << 7 * k;
	}
	return scale;
}

static void iq2_xxs_from_float_w(const float *x, void *vy, int64_t n, const float *qw)
{
	struct block_iq2_xxs *y = vy;
	const struct grid_tables *t = sl_iq_grid_tables(SL_TYPE_IQ2_XXS);
	for (int64_t ibl = 0; ibl < n / QK_K; ibl++, x += QK_K, qw += QK_K) {
		uint32_t q2[2 * (QK_K / 32)] = { 0 };
		float scales[QK_K / 32], max_scale = 0;
		y[ibl].d = sl_fp32_to_fp16(0.f);
		memset(y[ibl].qs, 0, sizeof y[ibl].qs);
		if (!t) /* out of memory building the tables: a zero block rather than garbage */
			continue;
		const float sigma2 = sl_iq_sigma2(x, QK_K, 1);
		for (int ib = 0; ib < QK_K / 32; ib++) {
			scales[ib] = iq2xxs_block(t, x + 32 * ib, qw + 32 * ib, sigma2, q2 + 2 * ib);
			max_scale = scales[ib] > max_scale ? scales[ib] : max_scale;
		}
		if (!max_scale)
			continue;
		const float d = max_scale / 31, id = 1 / d;
		y[ibl].d = sl_fp32_to_fp16(d);
		for (int ib = 0; ib < QK_K / 32; ib++) {
			int l = sl_nearest_int(0.5f * (id * scales[ib] - 1));
			l = l < 0 ? 0 : l > 15 ? 15 : l;
			q2[2 * ib + 1] |= (uint32_t)l << 28;
		}
		memcpy(y[ibl].qs, q2, sizeof q2);
	}
}

/*
 * One block of 16 (ggml's quantize_row_iq2_xs_impl): signs as iq2_xxs, 19 trial scales around
 * max/5, each group snapped to the 512-entry grid; groups the best trial had to move off their
 * nearest lattice point are re-snapped at the final scale, which is then refitted.  Returns the
 * scale; the two (9-bit index | 7 sign bits) words go to q2[0..1].
 */
static float iq2xs_block(const struct grid_tables *t, const float *xb, const float *qw, float sigma2, uint16_t *q2)
{
	enum { KMAXQ = 3 };
	struct iq_sub s;
	float *weight = s.weight, *waux = s.waux, *xval = s.xval, sumqx, sumq2;
	uint8_t *signs = s.signs;
	int8_t L[16] = { 0 }, Laux[16];
	bool on_grid[2] = { true, true }, on_grid_aux[2];
	const float max = sl_iq_sub_setup(&s, xb, qw, sigma2, 0, 16, true);
	if (max < GROUP_MAX_EPS)
		return 0;
	float best = 0, scale = max / (2 * KMAXQ - 1);
	bool found = false;
	for (int is = -9; is <= 9; is++) {
		const float id = (2 * KMAXQ - 1 + is * 0.1f) / max, this_scale = 1 / id;
		sl_iq_lattice_levels(xval, id, KMAXQ, Laux, 16);
		for (int k = 0; k < 2; k++) {
			int key = 0;
			for (int i = 0; i < 8; i++)
				key |= Laux[8 * k + i] << 2 * i;
			on_grid_aux[k] = t->map[key] >= 0;
			sl_iq_grid_index(t, Laux + 8 * k, xval + 8 * k, waux + 8 * k, this_scale);
		}
		sl_iq_fit_odd(Laux, xval, weight, 16, &sumqx, &sumq2);
		if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
			found = true;
			scale = sumqx / sumq2;
			best = scale * sumqx;
			memcpy(L, Laux, 16);
			on_grid[0] = on_grid_aux[0];
			on_grid[1] = on_grid_aux[1];
		}
	}
	/* No trial fitted (every importance weight 0, say): the levels are not on the grid, so a zero
	 * block rather than ggml's garbage indices. */
	if (!found)
		return 0;
	if ((!on_grid[0] || !on_grid[1]) && scale > 0) {
		for (int k = 0; k < 2; k++) {
			if (on_grid[k])
				continue;
			sl_iq_lattice_levels(xval + 8 * k, 1 / scale, KMAXQ, L + 8 * k, 8);
			sl_iq_grid_index(t, L + 8 * k, xval + 8 * k, waux + 8 * k, scale);
		}
		sl_iq_fit_odd(L, xval, weight, 16, &sumqx, &sumq2);
		if (sumq2 > 0)
			scale = sumqx / sumq2;
	}
	if (scale < 0) { /* as iq2_xxs: cannot happen, guarded as ggml does */
		scale = -scale;
		for (int k = 0; k < 2; k++)
			signs[k] = (uint8_t)(~signs[k] & 127);
	}
	for (int k = 0; k < 2; k++) /* L is on the grid now: the lookup is exact */
		q2[k] = (uint16_t)(sl_iq_grid_index(t, L + 8 * k, xval + 8 * k, waux + 8 * k, scale) | (signs[k] << 9));
	return scale;
}

static void iq2_xs_from_float_w(const float *x, void *vy, int64_t n, const float *qw)
{
	struct block_iq2_xs *y = vy;
	const struct grid_tables *t = sl_iq_grid_tables(SL_TYPE_IQ2_XS);
	for (int64_t ibl = 0; ibl < n / QK_K; ibl++, x += QK_K, qw += QK_K) {
		uint16_t q2[2 * (QK_K / 16)] = { 0 };
		float scales[QK_K / 16], max_scale = 0;
		y[ibl].d = sl_fp32_to_fp16(0.f);
		memset(y[ibl].qs, 0, sizeof y[ibl].qs);
		memset(y[ibl].scales, 0, sizeof y[ibl].scales);
		if (!t) /* out of memory building the tables */
			continue;
		const float sigma2 = sl_iq_sigma2(x, QK_K, 1);
		for (int ib = 0; ib < QK_K / 16; ib++) {
			scales[ib] = iq2xs_block(t, x + 16 * ib, qw + 16 * ib, sigma2, q2 + 2 * ib);
			max_scale = scales[ib] > max_scale ? scales[ib] : max_scale;
		}
		if (!max_scale)
			continue;
		const float d = max_scale / 31, id = 1 / d;
		y[ibl].d = sl_fp32_to_fp16(d);
		for (int ib = 0; ib < QK_K / 16; ib++) {
			int l = sl_nearest_int(0.5f * (id * scales[ib] - 1));
			l = l < 0 ? 0 : l > 15 ? 15 : l;
			y[ibl].scales[ib / 2] |= (uint8_t)(ib % 2 ? l << 4 : l);
		}
		memcpy(y[ibl].qs, q2, sizeof q2);
	}
}

/* ---- iq3_xxs ---- */

/*
 * One block of 32 (ggml's quantize_row_iq3_xxs_impl): signs per 8 as iq2_xxs, magnitudes on the
 * lattice of odd integers 1..15 in groups of 4 (the 256-entry grid, 3-bit keys), 31 trial scales
 * around max/15; groups the best trial moved off their lattice point are re-snapped at the final
 * scale, which is then refitted.  weight NULL: each element weighs x^2 (ggml's reference, no
 * importance matrix).  Returns the scale; grid indices to q3[0..7], signs to *signs_word.
 */
static float iq3xxs_block(const struct grid_tables *t, const float *xb, const float *qw, float sigma2, uint8_t *q3,
			  uint32_t *signs_word)
{
	enum { KMAXQ = 8 };
	struct iq_sub s;
	float *weight = s.weight, *waux = s.waux, *xval = s.xval, sumqx, sumq2;
	uint8_t *signs = s.signs;
	int8_t L[32] = { 0 }, Laux[32];
	bool on_grid[8], on_grid_aux[8];
	const float max = sl_iq_sub_setup(&s, xb, qw, sigma2, 0, 32, true);
	*signs_word = 0;
	if (max < GROUP_MAX_EPS_IQ3_XXS)
		return 0;
	float best = 0, scale = max / (2 * KMAXQ - 1);
	bool found = false;
	for (int k = 0; k < 8; k++)
		on_grid[k] = true;
	for (int is = -15; is <= 15; is++) {
		const float id = (2 * KMAXQ - 1 + is * 0.2f) / max, this_scale = 1 / id;
		sl_iq_lattice_levels(xval, id, KMAXQ, Laux, 32);
		for (int k = 0; k < 8; k++) {
			int key = 0;
			for (int i = 0; i < 4; i++)
				key |= Laux[4 * k + i] << 3 * i;
			on_grid_aux[k] = t->map[key] >= 0;
			sl_iq_grid_index(t, Laux + 4 * k, xval + 4 * k, waux + 4 * k, this_scale);
		}
		sl_iq_fit_odd(Laux, xval, weight, 32, &sumqx, &sumq2);
		if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
			found = true;
			scale = sumqx / sumq2;
			best = scale * sumqx;
			memcpy(L, Laux, 32);
			memcpy(on_grid, on_grid_aux, sizeof on_grid);
		}
	}
	/* No trial fitted (every importance weight 0, say): the levels are not on the grid, so a zero
	 * block rather than ggml's garbage indices. */
	if (!found)
		return 0;
	bool all_on_grid = true;
	for (int k = 0; k < 8; k++)
		all_on_grid = all_on_grid && on_grid[k];
	if (!all_on_grid && scale > 0) {
		for (int k = 0; k < 8; k++) {
			if (on_grid[k])
				continue;
			sl_iq_lattice_levels(xval + 4 * k, 1 / scale, KMAXQ, L + 4 * k, 4);
			sl_iq_grid_index(t, L + 4 * k, xval + 4 * k, waux + 4 * k, scale);
		}
		sl_iq_fit_odd(L, xval, weight, 32, &sumqx, &sumq2);
		if (sumq2 > 0)
			scale = sumqx / sumq2;
	}
	if (scale < 0) { /* as iq2_xxs: cannot happen, guarded as ggml does */
		scale = -scale;
		for (int k = 0; k < 4; k++)
			signs[k] = (uint8_t)(~signs[k] & 127);
	}
	for (int k = 0; k < 8; k++) /* L is on the grid now: the lookup is exact */
		q3[k] = (uint8_t)sl_iq_grid_index(t, L + 4 * k, xval + 4 * k, waux + 4 * k, scale);
	*signs_word = signs[0] | (uint32_t)signs[1] << 7 | (uint32_t)signs[2] << 14 | (uint32_t)signs[3] << 21;
	return scale;
}

static void iq3_xxs_quantize(const float *x, void *vy, int64_t n, const float *qw)
{
	struct block_iq3_xxs *y = vy;
	const struct grid_tables *t = sl_iq_grid_tables(SL_TYPE_IQ3_XXS);
	for (int64_t ibl = 0; ibl < n / QK_K; ibl++, x += QK_K, qw = qw ? qw + QK_K : NULL) {
		/* zeroed: an all-zero sub-block keeps grid index 0, as ggml's memset leaves it */
		uint8_t q3[QK_K / 4] = { 0 };
		uint32_t sas[QK_K / 32];
		float scales[QK_K / 32], max_scale = 0;
		y[ibl].d = sl_fp32_to_fp16(0.f);
		memset(y[ibl].qs, 0, sizeof y[ibl].qs);
		if (!t) /* out of memory building the tables */
			continue;
		const float sigma2 = sl_iq_sigma2(x, QK_K, 2);
		for (int ib = 0; ib < QK_K / 32; ib++) {
			scales[ib] = iq3xxs_block(t, x + 32 * ib, qw ? qw + 32 * ib : NULL, sigma2, q3 + 8 * ib, &sas[ib]);
			max_scale = scales[ib] > max_scale ? scales[ib] : max_scale;
		}
		if (!max_scale)
			continue;
		const float d = max_scale / 31, id = 1 / d;
		y[ibl].d = sl_fp32_to_fp16(d * 1.0125f); /* ggml's fudge factor */
		for (int ib = 0; ib < QK_K / 32; ib++) {
			int l = sl_nearest_int(0.5f * (id * scales[ib] - 1));
			l = l < 0 ? 0 : l > 15 ? 15 : l;
			sas[ib] |= (uint32_t)l << 28;
		}
		memcpy(y[ibl].qs, q3, sizeof q3);
		memcpy(y[ibl].qs + sizeof q3, sas, sizeof sas);
	}
}

static void iq3_xxs_from_float_w(const float *x, void *vy, int64_t n, const float *qw)
{
	iq3_xxs_quantize(x, vy, n, qw);
}

void sl_iq3_xxs_from_float(const float *x, void *vy, int64_t n)
{
	iq3_xxs_quantize(x, vy, n, NULL);
}

sl_from_float_w_fn sl_iq_grid_from_float_w(uint32_t type)
{
	switch (type) {
	case SL_TYPE_IQ2_XXS: return iq2_xxs_from_float_w;
	case SL_TYPE_IQ2_XS: return iq2_xs_from_float_w;
	case SL_TYPE_IQ3_XXS: return iq3_xxs_from_float_w;
	case SL_TYPE_IQ2_S:
	case SL_TYPE_IQ3_S: return sl_iq_s_from_float_w(type);
	default: return sl_iq1_from_float_w(type);
	}
}
