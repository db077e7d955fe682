/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/iq_quantize_grid.c — quantizers of the grid i-quants, which exist only with an
 * importance matrix: iq2_xxs, a port of ggml's quantize_row_iq2_xxs_impl and the search tables
 * iq2xs_init_impl builds for it.
 *
 * An 8-element group is stored as an index into a grid of 256 magnitude patterns plus 7 sign bits
 * (the 8th restores even parity).  The search works on the lattice of odd integers: grid element
 * byte b (0x08, 0x19, 0x2b) is level l = 0, 1, 2 at lattice point 2l+1, a pattern of 8 levels is a
 * 16-bit key (2 bits per element).  `map` sends a key to its grid index, or, for a key off the grid,
 * to a list of the grid patterns nearest to it (every pattern at the smallest two distances), which
 * the search then scores with the importance weights.
 *
 * The tables take a second or so to build (43692 keys against 256 patterns); they are built once
 * per process, on first use, under pthread_once (`sluice quantize` runs rows on several threads),
 * and kept for the life of the process.  The other grid types (iq2_xs, iq2_s, iq3, iq1) are not
 * implemented: sl_iq_grid_from_float_w gives NULL for them and `sluice quantize` refuses them.
 */
#include "quant/iq_blocks.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#define KMAP_SIZE 43692 /* keys up to 0xaaaa: every element at level <= 2 */
#define NGRID 256
#define NWANT 2         /* neighbours: every pattern at the two smallest distances */
#define GROUP_MAX_EPS 1e-15f

struct iq2_tables {
	int8_t grid[NGRID][8]; /* lattice points 2l+1 */
	int32_t *map;          /* key -> grid index (>= 0), or -(offset in nbr + 1) */
	uint16_t *nbr;         /* at each offset: a count, then that many grid indices */
	bool ok;
};

static struct iq2_tables g_iq2xxs;
static pthread_once_t g_iq2xxs_once = PTHREAD_ONCE_INIT;

static int level_of_byte(uint8_t b)
{
	return b == 0x08 ? 0 : b == 0x19 ? 1 : 2;
}

struct dist {
	int d2, idx;
};

static int cmp_dist(const void *a, const void *b)
{
	const struct dist *x = a, *y = b;
	return x->d2 != y->d2 ? (x->d2 < y->d2 ? -1 : 1) : (x->idx < y->idx ? -1 : x->idx > y->idx);
}

/* The grid patterns nearest the lattice point of key, sorted by (distance, index); returns how many
 * lie within the NWANT smallest distances. */
static int nearest(const struct iq2_tables *t, int key, struct dist *d)
{
	int8_t pos[8];
	for (int k = 0; k < 8; k++)
		pos[k] = (int8_t)(2 * ((key >> 2 * k) & 3) + 1);
	for (int j = 0; j < NGRID; j++) {
		int d2 = 0;
		for (int k = 0; k < 8; k++)
			d2 += (t->grid[j][k] - pos[k]) * (t->grid[j][k] - pos[k]);
		d[j] = (struct dist){ d2, j };
	}
	qsort(d, NGRID, sizeof(*d), cmp_dist);
	int n = 0, have = 1, d2 = d[0].d2;
	for (int j = 0; j < NGRID; j++) {
		if (d[j].d2 > d2) {
			if (have == NWANT)
				break;
			d2 = d[j].d2;
			have++;
		}
		n++;
	}
	return n;
}

static void build_iq2xxs(void)
{
	struct iq2_tables *t = &g_iq2xxs;
	struct dist d[NGRID];
	if (!(t->map = malloc(KMAP_SIZE * sizeof(*t->map))))
		return;
	for (int i = 0; i < KMAP_SIZE; i++)
		t->map[i] = -1;
	for (int j = 0; j < NGRID; j++) {
		int key = 0;
		for (int k = 0; k < 8; k++) {
			int l = level_of_byte((uint8_t)(sl_iq2xxs_grid[j] >> 8 * k));
			t->grid[j][k] = (int8_t)(2 * l + 1);
			key |= l << 2 * k;
		}
		t->map[key] = j;
	}
	size_t total = 0;
	for (int i = 0; i < KMAP_SIZE; i++)
		if (t->map[i] < 0)
			total += 1 + (size_t)nearest(t, i, d);
	if (!(t->nbr = malloc(total * sizeof(*t->nbr)))) {
		free(t->map);
		t->map = NULL;
		return;
	}
	size_t at = 0;
	for (int i = 0; i < KMAP_SIZE; i++) {
		if (t->map[i] >= 0)
			continue;
		int n = nearest(t, i, d);
		t->map[i] = -(int32_t)(at + 1);
		t->nbr[at++] = (uint16_t)n;
		for (int j = 0; j < n; j++)
			t->nbr[at++] = (uint16_t)d[j].idx;
	}
	t->ok = true;
}

/* The grid index for the levels L[0..8) (each 0..2): exact when on the grid, else the listed
 * neighbour with the least weighted error at this scale, whose levels are then written to L. */
static int grid_index(const struct iq2_tables *t, int8_t *L, const float *xval, const float *w, float scale)
{
	int key = 0;
	for (int i = 0; i < 8; i++)
		key |= L[i] << 2 * i;
	int gi = t->map[key];
	if (gi >= 0)
		return gi;
	const uint16_t *nb = t->nbr + (-gi - 1);
	float best = FLT_MAX;
	gi = nb[1];
	for (int j = 1; j <= nb[0]; j++) {
		float d2 = 0;
		for (int i = 0; i < 8; i++) {
			float diff = scale * t->grid[nb[j]][i] - xval[i];
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
static float iq2xxs_block(const struct iq2_tables *t, const float *xb, const float *qw, float sigma2, uint32_t *q2)
{
	enum { KMAXQ = 3 };
	float weight[32], waux[32], xval[32];
	int8_t L[32], Laux[32];
	uint8_t signs[4];
	for (int i = 0; i < 32; i++) {
		weight[i] = qw[i] * sqrtf(sigma2 + xb[i] * xb[i]);
		waux[i] = sqrtf(weight[i]);
	}
	for (int k = 0; k < 4; k++) {
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
	const struct iq2_tables *t = &g_iq2xxs;
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

sl_from_float_w_fn sl_iq_grid_from_float_w(uint32_t type)
{
	switch (type) {
	case SL_TYPE_IQ2_XXS: return iq2_xxs_from_float_w;
	default: return NULL;
	}
}
