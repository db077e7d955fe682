/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/iq_quantize_grid.c — quantizers of the grid i-quants, which exist only with an
 * importance matrix: iq2_xxs, iq2_xs, iq1_s and iq1_m, ports of ggml's quantize_row_*_impl
 * and of the search tables iq2xs_init_impl builds for them; and iq3_xxs, which ggml also makes
 * without one (each element weighted by x^2), with iq3xs_init_impl's tables.
 *
 * An 8-element group is stored as an index into a grid of 256 magnitude patterns plus 7 sign bits
 * (the 8th restores even parity).  The search works on the lattice of odd integers: grid element
 * byte b (0x08, 0x19, 0x2b) is level l = 0, 1, 2 at lattice point 2l+1, a pattern of 8 levels is a
 * 16-bit key (2 bits per element).  `map` sends a key to its grid index, or, for a key off the grid,
 * to a list of the grid patterns nearest to it (every pattern at the smallest two distances), which
 * the search then scores with the importance weights.
 *
 * iq2_xs uses the same lattice with a 512-entry grid and a scale per 16.  iq1_s works the same way
 * on its 2048-entry ternary grid (element -1/0/+1 is level 0/1/2), its
 * lists holding the three smallest distances; iq1_m shares that grid.  iq3_xxs groups 4
 * elements on the odd lattice 1..15 (3-bit keys, 4096 of them) against a 256-entry grid.
 *
 * The tables take up to a second or so to build (43692 keys against 256 or 2048 entries); they
 * are built once per process per type, on first use, under pthread_once (`sluice quantize` runs
 * rows on several threads), and kept for the life of the process.  The other grid types (iq2_s,
 * iq3_s) are not implemented: sl_iq_grid_from_float_w gives NULL for them and
 * `sluice quantize` refuses them.
 */
#include "quant/iq_blocks.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#define KMAP2 43692 /* 2-bit keys of 8 elements up to 0xaaaa: every element at level <= 2 */
#define KMAP3 4096  /* 3-bit keys of 4 elements */
#define GROUP_MAX_EPS 1e-15f
#define GROUP_MAX_EPS_IQ1_S 1e-12f
#define GROUP_MAX_EPS_IQ1_M 1e-7f
#define GROUP_MAX_EPS_IQ3_XXS 1e-8f
#define MAX_D2 (4 * 196) /* 4 lattice points 1..15 against grid points 1..15 (8 x 1..7 vs 1..5: less) */

/* The search tables of one grid type: groups of `width` elements, keys of `bits` per element. */
struct grid_tables {
	int ngrid, width, bits, kmap_size;
	int8_t (*grid)[8];     /* lattice points 2l+1 (the first `width` used) */
	int32_t *map;          /* key -> grid index (>= 0), or -(offset in nbr + 1) */
	uint16_t *nbr;         /* at each offset: a count, then that many grid indices */
	bool ok;
};

/* The levels (0..2) of element k of grid entry j. */
typedef int (*grid_level_fn)(int j, int k);

static int iq2xxs_level(int j, int k)
{
	const uint8_t b = (uint8_t)(sl_iq2xxs_grid[j] >> 8 * k);
	return b == 0x08 ? 0 : b == 0x19 ? 1 : 2;
}

static int iq2xs_level(int j, int k)
{
	const uint8_t b = (uint8_t)(sl_iq2xs_grid[j] >> 8 * k);
	return b == 0x08 ? 0 : b == 0x19 ? 1 : 2;
}

static int iq1s_level(int j, int k)
{
	return (int8_t)(uint8_t)(sl_iq1s_grid[j] >> 8 * k) + 1; /* -1, 0, +1 */
}

static int iq3xxs_level(int j, int k)
{
	const uint8_t b = (uint8_t)(sl_iq3xxs_grid[j] >> 8 * k); /* 4, 12, ..., 52, 62 */
	return b == 62 ? 7 : (b - 4) / 8;
}

/*
 * The grid entries nearest the lattice point of key: every entry within the nwant smallest
 * distinct squared distances, in order of (distance, index) — what ggml gets by sorting all
 * of them; distances are small integers, so a histogram finds the cut in one pass.
 */
static int nearest(const struct grid_tables *t, int key, int nwant, uint16_t *out, int16_t *d2)
{
	int8_t pos[8];
	int count[MAX_D2 + 1] = { 0 };
	const int mask = (1 << t->bits) - 1;
	for (int k = 0; k < t->width; k++)
		pos[k] = (int8_t)(2 * ((key >> t->bits * k) & mask) + 1);
	for (int j = 0; j < t->ngrid; j++) {
		int d = 0;
		for (int k = 0; k < t->width; k++)
			d += (t->grid[j][k] - pos[k]) * (t->grid[j][k] - pos[k]);
		d2[j] = (int16_t)d;
		count[d]++;
	}
	int cut = 0, have = 0;
	for (; cut <= MAX_D2; cut++)
		if (count[cut] && ++have == nwant)
			break;
	int n = 0;
	for (int d = 0; d <= cut && d <= MAX_D2; d++) {
		if (!count[d])
			continue;
		for (int j = 0; j < t->ngrid; j++)
			if (d2[j] == d) {
				if (out)
					out[n] = (uint16_t)j;
				n++;
			}
	}
	return n;
}

static void build_tables(struct grid_tables *t, int ngrid, int width, int bits, int nwant, grid_level_fn level)
{
	int16_t *d2 = malloc((size_t)ngrid * sizeof(*d2));
	t->ngrid = ngrid;
	t->width = width;
	t->bits = bits;
	t->kmap_size = bits == 2 ? KMAP2 : KMAP3;
	t->grid = calloc((size_t)ngrid, sizeof(*t->grid));
	t->map = malloc((size_t)t->kmap_size * sizeof(*t->map));
	if (!d2 || !t->grid || !t->map)
		goto fail;
	for (int i = 0; i < t->kmap_size; i++)
		t->map[i] = -1;
	for (int j = 0; j < ngrid; j++) {
		int key = 0;
		for (int k = 0; k < width; k++) {
			const int l = level(j, k);
			t->grid[j][k] = (int8_t)(2 * l + 1);
			key |= l << bits * k;
		}
		t->map[key] = j;
	}
	size_t total = 0;
	for (int i = 0; i < t->kmap_size; i++)
		if (t->map[i] < 0)
			total += 1 + (size_t)nearest(t, i, nwant, NULL, d2);
	if (!(t->nbr = malloc(total * sizeof(*t->nbr))))
		goto fail;
	size_t at = 0;
	for (int i = 0; i < t->kmap_size; i++) {
		if (t->map[i] >= 0)
			continue;
		const int n = nearest(t, i, nwant, t->nbr + at + 1, d2);
		t->map[i] = -(int32_t)(at + 1);
		t->nbr[at] = (uint16_t)n;
		at += 1 + (size_t)n;
	}
	free(d2);
	t->ok = true;
	return;
fail:
	free(d2);
	free(t->grid);
	free(t->map);
	t->grid = NULL;
	t->map = NULL;
}

static struct grid_tables g_iq2xxs, g_iq2xs, g_iq1s, g_iq3xxs;
static pthread_once_t g_iq2xxs_once = PTHREAD_ONCE_INIT, g_iq2xs_once = PTHREAD_ONCE_INIT,
		      g_iq1s_once = PTHREAD_ONCE_INIT, g_iq3xxs_once = PTHREAD_ONCE_INIT;

static void build_iq2xxs(void)
{
	build_tables(&g_iq2xxs, 256, 8, 2, 2, iq2xxs_level);
}

static void build_iq2xs(void)
{
	build_tables(&g_iq2xs, 512, 8, 2, 2, iq2xs_level);
}

static void build_iq1s(void)
{
	build_tables(&g_iq1s, 2048, 8, 2, 3, iq1s_level);
}

static void build_iq3xxs(void)
{
	build_tables(&g_iq3xxs, 256, 4, 3, 2, iq3xxs_level);
}

/* The grid index for the levels L[0..width) (2 or 3 bits each): exact when on the grid, else the
 * listed neighbour with the least weighted error at this scale, whose levels are then written to L. */
static int grid_index(const struct grid_tables *t, int8_t *L, const float *xval, const float *w, float scale)
{
	int key = 0;
	for (int i = 0; i < t->width; i++)
		key |= L[i] << t->bits * i;
	int gi = t->map[key];
	if (gi >= 0)
		return gi;
	const uint16_t *nb = t->nbr + (-gi - 1);
	float best = FLT_MAX;
	gi = nb[1];
	for (int j = 1; j <= nb[0]; j++) {
		float d2 = 0;
		for (int i = 0; i < t->width; i++) {
			float diff = scale * t->grid[nb[j]][i] - xval[i];
			d2 += w[i] * diff * diff;
		}
		if (d2 < best) {
			best = d2;
			gi = nb[j];
		}
	}
	for (int i = 0; i < t->width; i++)
		L[i] = (int8_t)((t->grid[gi][i] - 1) / 2);
	return gi;
}

/* The magnitudes of ngroups groups of 8 into xval and their 7 stored sign bits into signs; a group
 * with an odd count of negatives keeps the sign of its least important element (weight * x^2),
 * whose magnitude goes in negated: the stored 8th sign restores even parity. */
static void take_signs(const float *xb, const float *weight, int ngroups, float *xval, uint8_t *signs)
{
	for (int k = 0; k < ngroups; k++) {
		int nflip = 0;
		uint8_t s = 0;
		for (int i = 0; i < 8; i++) {
			const float v = xb[8 * k + i];
			xval[8 * k + i] = v >= 0 ? v : -v;
			if (v < 0) {
				nflip++;
				s |= (uint8_t)(1 << i);
			}
		}
		if (nflip % 2) {
			int imin = 0;
			float min = weight[8 * k] * xb[8 * k] * xb[8 * k];
			for (int i = 1; i < 8; i++) {
				float ax = weight[8 * k + i] * xb[8 * k + i] * xb[8 * k + i];
				if (ax < min) {
					min = ax;
					imin = i;
				}
			}
			xval[8 * k + imin] = -xval[8 * k + imin];
			s ^= (uint8_t)(1 << imin);
		}
		signs[k] = s & 127;
	}
}

/* Levels of xval at inverse scale id: the nearest odd lattice point, clamped to 0..kmax-1. */
static void lattice_levels(const float *xval, float id, int kmax, int8_t *L, int n)
{
	for (int i = 0; i < n; i++) {
		int l = sl_nearest_int(0.5f * (id * xval[i] - 1));
		L[i] = (int8_t)(l < 0 ? 0 : l > kmax - 1 ? kmax - 1 : l);
	}
}

/*
 * One block of 32: magnitudes with signs taken out (the group's least important element gives up
 * its sign when the count of negatives is odd), a first scale by make_qp_quants, 13 trial scales
 * around it each snapped to the grid, then the best refined once more.  Returns the scale (>= 0);
 * grid indices and sign bits go to q2[0..1].
 */
static float iq2xxs_block(const struct grid_tables *t, const float *xb, const float *qw, float sigma2, uint32_t *q2)
{
	enum { KMAXQ = 3 };
	float weight[32], waux[32], xval[32];
	int8_t L[32], Laux[32];
	uint8_t signs[4];
	for (int i = 0; i < 32; i++) {
		weight[i] = qw[i] * sqrtf(sigma2 + xb[i] * xb[i]);
		waux[i] = sqrtf(weight[i]);
	}
	take_signs(xb, weight, 4, xval, signs);
	float max = xval[0];
	for (int i = 1; i < 32; i++)
		max = xval[i] > max ? xval[i] : max;
	if (max < GROUP_MAX_EPS)
		return 0;

	float scale = sl_make_qp_quants(32, KMAXQ + 1, xval, (uint8_t *)L, weight);
	const float eff_max = scale * KMAXQ;
	float best = 0;
	for (int is = -6; is <= 6; is++) {
		const float id = (2 * KMAXQ - 1 + is * 0.1f) / eff_max, this_scale = 1 / id;
		lattice_levels(xval, id, KMAXQ, Laux, 32);
		for (int k = 0; k < 4; k++)
			grid_index(t, Laux + 8 * k, xval + 8 * k, waux + 8 * k, this_scale);
		float sumqx = 0, sumq2 = 0;
		for (int i = 0; i < 32; i++) {
			const float q = 2 * Laux[i] + 1;
			sumqx += weight[i] * xval[i] * q;
			sumq2 += weight[i] * q * q;
		}
		if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
			scale = sumqx / sumq2;
			best = scale * sumqx;
			memcpy(L, Laux, 32);
		}
	}
	if (scale > 0) {
		lattice_levels(xval, 1 / scale, KMAXQ, L, 32);
		for (int k = 0; k < 4; k++)
			grid_index(t, L + 8 * k, xval + 8 * k, waux + 8 * k, scale);
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
		const int gi = grid_index(t, L + 8 * k, xval + 8 * k, waux + 8 * k, scale);
		q2[0] |= (uint32_t)gi << 8 * k;
		q2[1] |= (uint32_t)signs[k] << 7 * k;
	}
	return scale;
}

static void iq2_xxs_from_float_w(const float *x, void *vy, int64_t n, const float *qw)
{
	pthread_once(&g_iq2xxs_once, build_iq2xxs);
	struct block_iq2_xxs *y = vy;
	const struct grid_tables *t = &g_iq2xxs;
	for (int64_t ibl = 0; ibl < n / QK_K; ibl++, x += QK_K, qw += QK_K) {
		uint32_t q2[2 * (QK_K / 32)] = { 0 };
		float scales[QK_K / 32], max_scale = 0;
		y[ibl].d = sl_fp32_to_fp16(0.f);
		memset(y[ibl].qs, 0, sizeof y[ibl].qs);
		if (!t->ok) /* out of memory building the tables: a zero block rather than garbage */
			continue;
		float sumx2 = 0;
		for (int i = 0; i < QK_K; i++)
			sumx2 += x[i] * x[i];
		const float sigma2 = sumx2 / QK_K;
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

/* ---- iq2_xs ---- */

/* The weighted fit of 2-level groups: sum w x q and sum w q^2 over n elements, q = 2L+1. */
static void fit_odd(const int8_t *L, const float *xval, const float *weight, int n, float *sumqx, float *sumq2)
{
	*sumqx = *sumq2 = 0;
	for (int i = 0; i < n; i++) {
		const float q = 2 * L[i] + 1;
		*sumqx += weight[i] * xval[i] * q;
		*sumq2 += weight[i] * q * q;
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
	float weight[16], waux[16], xval[16], sumqx, sumq2;
	int8_t L[16] = { 0 }, Laux[16];
	uint8_t signs[2];
	bool on_grid[2] = { true, true }, on_grid_aux[2];
	for (int i = 0; i < 16; i++) {
		weight[i] = qw[i] * sqrtf(sigma2 + xb[i] * xb[i]);
		waux[i] = sqrtf(weight[i]);
	}
	take_signs(xb, weight, 2, xval, signs);
	float max = xval[0];
	for (int i = 1; i < 16; i++)
		max = xval[i] > max ? xval[i] : max;
	if (max < GROUP_MAX_EPS)
		return 0;
	float best = 0, scale = max / (2 * KMAXQ - 1);
	for (int is = -9; is <= 9; is++) {
		const float id = (2 * KMAXQ - 1 + is * 0.1f) / max, this_scale = 1 / id;
		lattice_levels(xval, id, KMAXQ, Laux, 16);
		for (int k = 0; k < 2; k++) {
			int key = 0;
			for (int i = 0; i < 8; i++)
				key |= Laux[8 * k + i] << 2 * i;
			on_grid_aux[k] = t->map[key] >= 0;
			grid_index(t, Laux + 8 * k, xval + 8 * k, waux + 8 * k, this_scale);
		}
		fit_odd(Laux, xval, weight, 16, &sumqx, &sumq2);
		if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
			scale = sumqx / sumq2;
			best = scale * sumqx;
			memcpy(L, Laux, 16);
			on_grid[0] = on_grid_aux[0];
			on_grid[1] = on_grid_aux[1];
		}
	}
	if ((!on_grid[0] || !on_grid[1]) && scale > 0) {
		for (int k = 0; k < 2; k++) {
			if (on_grid[k])
				continue;
			lattice_levels(xval + 8 * k, 1 / scale, KMAXQ, L + 8 * k, 8);
			grid_index(t, L + 8 * k, xval + 8 * k, waux + 8 * k, scale);
		}
		fit_odd(L, xval, weight, 16, &sumqx, &sumq2);
		if (sumq2 > 0)
			scale = sumqx / sumq2;
	}
	if (scale < 0) { /* as iq2_xxs: cannot happen, guarded as ggml does */
		scale = -scale;
		for (int k = 0; k < 2; k++)
			signs[k] = (uint8_t)(~signs[k] & 127);
	}
	for (int k = 0; k < 2; k++) /* L is on the grid now: the lookup is exact */
		q2[k] = (uint16_t)(grid_index(t, L + 8 * k, xval + 8 * k, waux + 8 * k, scale) | (signs[k] << 9));
	return scale;
}

static void iq2_xs_from_float_w(const float *x, void *vy, int64_t n, const float *qw)
{
	pthread_once(&g_iq2xs_once, build_iq2xs);
	struct block_iq2_xs *y = vy;
	const struct grid_tables *t = &g_iq2xs;
	for (int64_t ibl = 0; ibl < n / QK_K; ibl++, x += QK_K, qw += QK_K) {
		uint16_t q2[2 * (QK_K / 16)] = { 0 };
		float scales[QK_K / 16], max_scale = 0;
		y[ibl].d = sl_fp32_to_fp16(0.f);
		memset(y[ibl].qs, 0, sizeof y[ibl].qs);
		memset(y[ibl].scales, 0, sizeof y[ibl].scales);
		if (!t->ok)
			continue;
		float sumx2 = 0;
		for (int i = 0; i < QK_K; i++)
			sumx2 += x[i] * x[i];
		const float sigma2 = sumx2 / QK_K;
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
	float weight[32], waux[32], xval[32], sumqx, sumq2;
	int8_t L[32] = { 0 }, Laux[32];
	uint8_t signs[4];
	bool on_grid[8], on_grid_aux[8];
	for (int i = 0; i < 32; i++) {
		weight[i] = qw ? qw[i] * sqrtf(sigma2 + xb[i] * xb[i]) : xb[i] * xb[i];
		waux[i] = sqrtf(weight[i]);
	}
	take_signs(xb, weight, 4, xval, signs);
	*signs_word = 0;
	float max = xval[0];
	for (int i = 1; i < 32; i++)
		max = xval[i] > max ? xval[i] : max;
	if (max < GROUP_MAX_EPS_IQ3_XXS)
		return 0;
	float best = 0, scale = max / (2 * KMAXQ - 1);
	for (int k = 0; k < 8; k++)
		on_grid[k] = true;
	for (int is = -15; is <= 15; is++) {
		const float id = (2 * KMAXQ - 1 + is * 0.2f) / max, this_scale = 1 / id;
		lattice_levels(xval, id, KMAXQ, Laux, 32);
		for (int k = 0; k < 8; k++) {
			int key = 0;
			for (int i = 0; i < 4; i++)
				key |= Laux[4 * k + i] << 3 * i;
			on_grid_aux[k] = t->map[key] >= 0;
			grid_index(t, Laux + 4 * k, xval + 4 * k, waux + 4 * k, this_scale);
		}
		fit_odd(Laux, xval, weight, 32, &sumqx, &sumq2);
		if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
			scale = sumqx / sumq2;
			best = scale * sumqx;
			memcpy(L, Laux, 32);
			memcpy(on_grid, on_grid_aux, sizeof on_grid);
		}
	}
	bool all_on_grid = true;
	for (int k = 0; k < 8; k++)
		all_on_grid = all_on_grid && on_grid[k];
	if (!all_on_grid && scale > 0) {
		for (int k = 0; k < 8; k++) {
			if (on_grid[k])
				continue;
			lattice_levels(xval + 4 * k, 1 / scale, KMAXQ, L + 4 * k, 4);
			grid_index(t, L + 4 * k, xval + 4 * k, waux + 4 * k, scale);
		}
		fit_odd(L, xval, weight, 32, &sumqx, &sumq2);
		if (sumq2 > 0)
			scale = sumqx / sumq2;
	}
	if (scale < 0) { /* as iq2_xxs: cannot happen, guarded as ggml does */
		scale = -scale;
		for (int k = 0; k < 4; k++)
			signs[k] = (uint8_t)(~signs[k] & 127);
	}
	for (int k = 0; k < 8; k++) /* L is on the grid now: the lookup is exact */
		q3[k] = (uint8_t)grid_index(t, L + 4 * k, xval + 4 * k, waux + 4 * k, scale);
	*signs_word = signs[0] | (uint32_t)signs[1] << 7 | (uint32_t)signs[2] << 14 | (uint32_t)signs[3] << 21;
	return scale;
}

static void iq3_xxs_quantize(const float *x, void *vy, int64_t n, const float *qw)
{
	pthread_once(&g_iq3xxs_once, build_iq3xxs);
	struct block_iq3_xxs *y = vy;
	const struct grid_tables *t = &g_iq3xxs;
	for (int64_t ibl = 0; ibl < n / QK_K; ibl++, x += QK_K, qw = qw ? qw + QK_K : NULL) {
		uint8_t q3[QK_K / 4];
		uint32_t sas[QK_K / 32];
		float scales[QK_K / 32], max_scale = 0;
		y[ibl].d = sl_fp32_to_fp16(0.f);
		memset(y[ibl].qs, 0, sizeof y[ibl].qs);
		if (!t->ok)
			continue;
		float sumx2 = 0;
		for (int i = 0; i < QK_K; i++)
			sumx2 += x[i] * x[i];
		const float sigma2 = 2 * sumx2 / QK_K;
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

/* ---- iq1_s ---- */

struct xi {
	float x;
	int i;
};

static int cmp_xi(const void *a, const void *b)
{
	const struct xi *p = a, *q = b;
	return p->x < q->x ? -1 : p->x > q->x ? 1 : p->i - q->i;
}

/* The grid entry (of the listed neighbours) nearest xval at this scale, the levels meaning the
 * values xx[0..2]; its levels go to L. */
static int iq1_neighbour(const struct grid_tables *t, const uint16_t *nb, const float *xval, const float *w,
			 float scale, const float *xx, int8_t *L)
{
	float best = FLT_MAX;
	int gi = nb[1];
	for (int j = 1; j <= nb[0]; j++) {
		float d2 = 0;
		for (int i = 0; i < 8; i++) {
			const float diff = scale * xx[(t->grid[nb[j]][i] - 1) / 2] - xval[i];
			d2 += w[i] * diff * diff;
		}
		if (d2 < best) {
			best = d2;
			gi = nb[j];
		}
	}
	for (int i = 0; i < 8; i++)
		L[i] = (int8_t)((t->grid[gi][i] - 1) / 2);
	return gi;
}

/*
 * One block of 32 (ggml's quantize_row_iq1_s_impl): the values are -1, 0, +1 plus a shared
 * delta of +-1/8, so the weighted least-squares fit is solved exactly by trying every split of
 * the sorted values into three runs (with prefix sums of w*x and w), for both signs of the delta;
 * then each group of 8 is put on the 2048-entry grid (nearest listed neighbour when off it) and
 * the scale refitted.  Returns the scale; grid indices to qs[0..3], their high bits to *qh.
 */
static float iq1s_block(const struct grid_tables *t, const float *xb, const float *qw, float sigma2, uint8_t *qs,
			uint16_t *qh, int *shift)
{
	enum { BS = 32 };
	static const float x_p[3] = { -1 + IQ1S_DELTA, IQ1S_DELTA, 1 + IQ1S_DELTA };
	static const float x_m[3] = { -1 - IQ1S_DELTA, -IQ1S_DELTA, 1 - IQ1S_DELTA };
	float weight[BS], sumx[BS + 1], sumw[BS + 1];
	struct xi sorted[BS];
	int8_t L[BS];
	uint16_t index[BS / 8];
	*shift = 1;
	float max = 0;
	for (int i = 0; i < BS; i++) {
		weight[i] = qw[i] * sqrtf(sigma2 + xb[i] * xb[i]);
		max = fabsf(xb[i]) > max ? fabsf(xb[i]) : max;
	}
	if (max < GROUP_MAX_EPS_IQ1_S)
		return 0;
	for (int j = 0; j < BS; j++)
		sorted[j] = (struct xi){ xb[j], j };
	qsort(sorted, BS, sizeof(*sorted), cmp_xi);
	sumx[0] = sumw[0] = 0;
	for (int j = 0; j < BS; j++) {
		const int i = sorted[j].i;
		sumx[j + 1] = sumx[j] + weight[i] * xb[i];
		sumw[j + 1] = sumw[j] + weight[i];
	}
	float best = -FLT_MAX, scale = max;
	int besti1 = -1, besti2 = -1, best_shift = 0;
	for (int i1 = 0; i1 <= BS; i1++)
		for (int i2 = i1; i2 <= BS; i2++)
			for (int sgn = 1; sgn >= -1; sgn -= 2) {
				const float *xv = sgn > 0 ? x_p : x_m;
				const float sumqx = (sumx[i1] - sumx[0]) * xv[0] + (sumx[i2] - sumx[i1]) * xv[1] +
						    (sumx[BS] - sumx[i2]) * xv[2];
				const float sumq2 = (sumw[i1] - sumw[0]) * xv[0] * xv[0] +
						    (sumw[i2] - sumw[i1]) * xv[1] * xv[1] + (sumw[BS] - sumw[i2]) * xv[2] * xv[2];
				if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
					scale = sumqx / sumq2;
					best = scale * sumqx;
					besti1 = i1;
					besti2 = i2;
					best_shift = sgn;
				}
			}
	if (besti1 < 0 || besti2 < 0 || best_shift == 0)
		return 0;
	for (int j = 0; j < BS; j++)
		L[sorted[j].i] = (int8_t)(j < besti1 ? 0 : j < besti2 ? 1 : 2);
	if (scale < 0) {
		for (int j = 0; j < BS; j++)
			L[j] = (int8_t)(2 - L[j]);
		scale = -scale;
		best_shift = -best_shift;
	}
	const float *xx = best_shift == 1 ? x_p : x_m;
	bool all_on_grid = true;
	for (int k = 0; k < BS / 8; k++) {
		int key = 0;
		for (int j = 0; j < 8; j++)
			key |= L[8 * k + j] << 2 * j;
		int gi = t->map[key];
		if (gi < 0) {
			all_on_grid = false;
			gi = iq1_neighbour(t, t->nbr + (-gi - 1), xb + 8 * k, weight + 8 * k, scale, xx, L + 8 * k);
		}
		index[k] = (uint16_t)gi;
	}
	if (!all_on_grid) {
		float sumqx = 0, sumq2 = 0;
		for (int k = 0; k < BS / 8; k++)
			for (int j = 0; j < 8; j++) {
				const float w = weight[8 * k + j], q = xx[(t->grid[index[k]][j] - 1) / 2];
				sumqx += w * q * xb[8 * k + j];
				sumq2 += w * q * q;
			}
		if (sumqx > 0 && sumq2 > 0)
			scale = sumqx / sumq2;
	}
	uint16_t h = 0;
	for (int k = 0; k < BS / 8; k++) {
		qs[k] = (uint8_t)(index[k] & 255);
		h |= (uint16_t)((index[k] >> 8) << 3 * k);
	}
	*qh = h;
	*shift = best_shift;
	return scale;
}

static void iq1_s_from_float_w(const float *x, void *vy, int64_t n, const float *qw)
{
	pthread_once(&g_iq1s_once, build_iq1s);
	struct block_iq1_s *y = vy;
	const struct grid_tables *t = &g_iq1s;
	for (int64_t ibl = 0; ibl < n / QK_K; ibl++, x += QK_K, qw += QK_K) {
		float scales[QK_K / 32], max_scale = 0;
		int shifts[QK_K / 32];
		y[ibl].d = sl_fp32_to_fp16(0.f);
		memset(y[ibl].qs, 0, sizeof y[ibl].qs);
		memset(y[ibl].qh, 0, sizeof y[ibl].qh);
		if (!t->ok)
			continue;
		float sumx2 = 0;
		for (int i = 0; i < QK_K; i++)
			sumx2 += x[i] * x[i];
		const float sigma2 = 2 * sumx2 / QK_K;
		for (int ib = 0; ib < QK_K / 32; ib++) {
			scales[ib] = iq1s_block(t, x + 32 * ib, qw + 32 * ib, sigma2, y[ibl].qs + 4 * ib, &y[ibl].qh[ib],
						&shifts[ib]);
			max_scale = scales[ib] > max_scale ? scales[ib] : max_scale;
		}
		if (!max_scale)
			continue;
		const float d = max_scale / 15, id = 1 / d;
		y[ibl].d = sl_fp32_to_fp16(d * 1.125f); /* ggml's fudge factor: the stored scales round down on average */
		for (int ib = 0; ib < QK_K / 32; ib++) {
			int l = sl_nearest_int(0.5f * (id * scales[ib] - 1));
			l = l < 0 ? 0 : l > 7 ? 7 : l;
			if (shifts[ib] == -1)
				l |= 8;
			y[ibl].qh[ib] |= (uint16_t)(l << 12);
		}
	}
}

/* ---- iq1_m ---- */

/* The delta values of iq1_m's group g (0, 1) under sign combination k: 0 (+,+), 1 (+,-), 2 (-,+), 3 (-,-). */
static const float *iq1m_values(int k, int g)
{
	static const float x_p[3] = { -1 + IQ1M_DELTA, IQ1M_DELTA, 1 + IQ1M_DELTA };
	static const float x_m[3] = { -1 - IQ1M_DELTA, -IQ1M_DELTA, 1 - IQ1M_DELTA };
	return (g == 0 ? k < 2 : k % 2 == 0) ? x_p : x_m;
}

/*
 * One block of 16 (ggml's quantize_row_iq1_m_impl): as iq1_s, the exact three-run split of the
 * sorted values, but each group of 8 has its own delta sign, so the four sign combinations are
 * scored for every split.  Returns the scale; grid indices to qs[0..1], their high bits to *qh,
 * the combination to *shift.
 */
static float iq1m_block(const struct grid_tables *t, const float *xb, const float *weight, uint8_t *qs, uint8_t *qh,
			int *shift)
{
	enum { BS = 16 };
	struct xi sorted[BS];
	int8_t L[BS];
	uint16_t index[BS / 8];
	*shift = 0;
	float max = 0;
	for (int i = 0; i < BS; i++)
		max = fabsf(xb[i]) > max ? fabsf(xb[i]) : max;
	if (max < GROUP_MAX_EPS_IQ1_M)
		return 0;
	for (int j = 0; j < BS; j++)
		sorted[j] = (struct xi){ xb[j], j };
	qsort(sorted, BS, sizeof(*sorted), cmp_xi);
	float best = -FLT_MAX, scale = max;
	int besti1 = -1, besti2 = -1, best_k = -1;
	for (int i1 = 0; i1 <= BS; i1++)
		for (int i2 = i1; i2 <= BS; i2++) {
			float sumqx[4] = { 0 }, sumq2[4] = { 0 };
			for (int j = 0; j < BS; j++) {
				const int i = sorted[j].i, v = j < i1 ? 0 : j < i2 ? 1 : 2;
				for (int k = 0; k < 4; k++) {
					const float q = iq1m_values(k, i >= BS / 2)[v];
					sumqx[k] += weight[i] * q * xb[i];
					sumq2[k] += weight[i] * q * q;
				}
			}
			for (int k = 0; k < 4; k++)
				if (sumq2[k] > 0 && sumqx[k] * sumqx[k] > best * sumq2[k]) {
					scale = sumqx[k] / sumq2[k];
					best = scale * sumqx[k];
					besti1 = i1;
					besti2 = i2;
					best_k = k;
				}
		}
	if (besti1 < 0 || besti2 < 0 || best_k < 0)
		return 0;
	for (int j = 0; j < BS; j++)
		L[sorted[j].i] = (int8_t)(j < besti1 ? 0 : j < besti2 ? 1 : 2);
	if (scale < 0) {
		for (int j = 0; j < BS; j++)
			L[j] = (int8_t)(2 - L[j]);
		scale = -scale;
		best_k = 3 - best_k; /* both signs flip: 0 <-> 3, 1 <-> 2 */
	}
	bool all_on_grid = true;
	for (int k = 0; k < BS / 8; k++) {
		int key = 0;
		for (int j = 0; j < 8; j++)
			key |= L[8 * k + j] << 2 * j;
		int gi = t->map[key];
		if (gi < 0) {
			all_on_grid = false;
			gi = iq1_neighbour(t, t->nbr + (-gi - 1), xb + 8 * k, weight + 8 * k, scale, iq1m_values(best_k, k),
					   L + 8 * k);
		}
		index[k] = (uint16_t)gi;
	}
	if (!all_on_grid) {
		float sumqx = 0, sumq2 = 0;
		for (int k = 0; k < BS / 8; k++) {
			const float *xx = iq1m_values(best_k, k);
			for (int j = 0; j < 8; j++) {
				const float w = weight[8 * k + j], q = xx[(t->grid[index[k]][j] - 1) / 2];
				sumqx += w * q * xb[8 * k + j];
				sumq2 += w * q * q;
			}
		}
		if (sumqx > 0 && sumq2 > 0)
			scale = sumqx / sumq2;
	}
	qs[0] = (uint8_t)(index[0] & 255);
	qs[1] = (uint8_t)(index[1] & 255);
	*qh = (uint8_t)((index[0] >> 8) | ((index[1] >> 8) << 4));
	*shift = best_k;
	return scale;
}

static void iq1_m_from_float_w(const float *x, void *vy, int64_t n, const float *qw)
{
	static const uint8_t masks[4] = { 0x00, 0x80, 0x08, 0x88 }; /* delta sign bits of the two groups */
	pthread_once(&g_iq1s_once, build_iq1s); /* iq1_m shares iq1_s's grid and tables */
	struct block_iq1_m *y = vy;
	const struct grid_tables *t = &g_iq1s;
	for (int64_t ibl = 0; ibl < n / QK_K; ibl++, x += QK_K, qw += QK_K) {
		float scales[QK_K / 16], weight[QK_K], max_scale = 0;
		int shifts[QK_K / 16];
		uint16_t sc[4] = { 0 };
		memset(y[ibl].qs, 0, sizeof y[ibl].qs);
		memset(y[ibl].qh, 0, sizeof y[ibl].qh);
		memset(y[ibl].scales, 0, sizeof y[ibl].scales);
		if (!t->ok)
			continue;
		float sumx2 = 0;
		for (int i = 0; i < QK_K; i++)
			sumx2 += x[i] * x[i];
		const float sigma2 = 2 * sumx2 / QK_K;
		for (int i = 0; i < QK_K; i++)
			weight[i] = qw[i] * sqrtf(sigma2 + x[i] * x[i]);
		for (int ib = 0; ib < QK_K / 16; ib++) {
			scales[ib] = iq1m_block(t, x + 16 * ib, weight + 16 * ib, y[ibl].qs + 2 * ib, &y[ibl].qh[ib],
						&shifts[ib]);
			max_scale = scales[ib] > max_scale ? scales[ib] : max_scale;
		}
		if (!max_scale)
			continue;
		/* 3-bit sub-block scales against d = max/15, then d refitted to the levels as stored */
		float d = max_scale / 15, sumqx = 0, sumq2 = 0;
		const float id = 1 / d;
		for (int ib = 0; ib < QK_K / 16; ib++) {
			int l = sl_nearest_int(0.5f * (id * scales[ib] - 1));
			l = l < 0 ? 0 : l > 7 ? 7 : l;
			sc[ib / 4] |= (uint16_t)(l << 3 * (ib % 4));
			y[ibl].qh[ib] |= masks[shifts[ib]];
			for (int k = 0; k < 2; k++) {
				const float *xx = iq1m_values(shifts[ib], k);
				const int gi = y[ibl].qs[2 * ib + k] | ((y[ibl].qh[ib] << (8 - 4 * k)) & 0x700);
				for (int j = 0; j < 8; j++) {
					const float w = weight[16 * ib + 8 * k + j], q = xx[(t->grid[gi][j] - 1) / 2] * (2 * l + 1);
					sumqx += w * q * x[16 * ib + 8 * k + j];
					sumq2 += w * q * q;
				}
			}
		}
		if (sumq2 > 0)
			d = sumqx / sumq2;
		const uint16_t h = sl_fp32_to_fp16(d * 1.1125f); /* ggml's fudge factor */
		sc[0] |= (uint16_t)((h & 0x000f) << 12);
		sc[1] |= (uint16_t)((h & 0x00f0) << 8);
		sc[2] |= (uint16_t)((h & 0x0f00) << 4);
		sc[3] |= (uint16_t)(h & 0xf000);
		memcpy(y[ibl].scales, sc, sizeof sc);
	}
}

sl_from_float_w_fn sl_iq_grid_from_float_w(uint32_t type)
{
	switch (type) {
	case SL_TYPE_IQ2_XXS: return iq2_xxs_from_float_w;
	case SL_TYPE_IQ2_XS: return iq2_xs_from_float_w;
	case SL_TYPE_IQ1_S: return iq1_s_from_float_w;
	case SL_TYPE_IQ1_M: return iq1_m_from_float_w;
	case SL_TYPE_IQ3_XXS: return iq3_xxs_from_float_w;
	default: return NULL;
	}
}
