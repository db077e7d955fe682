/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/iq_grid.c — the search tables of the grid i-quants and the steps their quantizers
 * share (iq_grid.h).
 *
 * Grid types: iq2_xxs (256 patterns of 8, levels 0x08/0x19/0x2b -> 0..2), iq2_xs (512), iq2_s
 * (1024), iq1_s and iq1_m (2048 ternary patterns, -1/0/+1 -> 0..2), iq3_xxs (256 patterns of 4 on
 * the lattice 1..15, 3-bit keys), iq3_s (512 of 4).  Neighbour lists hold the three smallest
 * distances for iq1_s/iq1_m and iq3_s, one for iq2_s, two for the others (ggml's nwant).  The patterns come from the
 * committed grids (iq_tables.c).  Each key's neighbour list is every pattern within the nwant
 * smallest squared distances, in order of (distance, index): what ggml gets by sorting all
 * patterns, found here with a histogram of the (small integer) distances.  Building takes up to a
 * second (43692 keys against up to 2048 patterns); each type's tables are built once per process,
 * on first use, under pthread_once (`sluice quantize` quantizes rows on several threads), and kept
 * for the life of the process.
 */
#include "quant/iq_grid.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#define KMAP2 43692 /* 2-bit keys of 8 elements up to 0xaaaa: every element at level <= 2 */
#define KMAP3 4096  /* 3-bit keys of 4 elements */
#define MAX_D2 (4 * 196) /* 4 lattice points 1..15 against grid points 1..15 (8 x 1..7 vs 1..5: less) */

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

static int iq2s_level(int j, int k)
{
	const uint8_t b = (uint8_t)(sl_iq2s_grid[j] >> 8 * k);
	return b == 0x08 ? 0 : b == 0x19 ? 1 : 2;
}

static int iq3s_level(int j, int k)
{
	return ((uint8_t)(sl_iq3s_grid[j] >> 8 * k) - 1) / 2; /* 1, 3, ..., 15 */
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

static struct grid_tables g_iq2xxs, g_iq2xs, g_iq2s, g_iq1s, g_iq3xxs, g_iq3s;
static pthread_once_t g_iq2xxs_once = PTHREAD_ONCE_INIT, g_iq2xs_once = PTHREAD_ONCE_INIT,
		      g_iq2s_once = PTHREAD_ONCE_INIT, g_iq1s_once = PTHREAD_ONCE_INIT,
		      g_iq3xxs_once = PTHREAD_ONCE_INIT, g_iq3s_once = PTHREAD_ONCE_INIT;

static void build_iq2xxs(void)
{
	build_tables(&g_iq2xxs, 256, 8, 2, 2, iq2xxs_level);
}

static void build_iq2xs(void)
{
	build_tables(&g_iq2xs, 512, 8, 2, 2, iq2xs_level);
}

/* iq2_s lists only the nearest distance (ggml's nwant 1): its 1024 patterns are dense enough. */
static void build_iq2s(void)
{
	build_tables(&g_iq2s, 1024, 8, 2, 1, iq2s_level);
}

static void build_iq1s(void)
{
	build_tables(&g_iq1s, 2048, 8, 2, 3, iq1s_level);
}

static void build_iq3xxs(void)
{
	build_tables(&g_iq3xxs, 256, 4, 3, 2, iq3xxs_level);
}

/* iq3_s lists three distances (ggml's iq3xs_init_impl(512): nwant 3). */
static void build_iq3s(void)
{
	build_tables(&g_iq3s, 512, 4, 3, 3, iq3s_level);
}

const struct grid_tables *sl_iq_grid_tables(uint32_t type)
{
	switch (type) {
	case SL_TYPE_IQ2_XXS: pthread_once(&g_iq2xxs_once, build_iq2xxs); return g_iq2xxs.ok ? &g_iq2xxs : NULL;
	case SL_TYPE_IQ2_XS: pthread_once(&g_iq2xs_once, build_iq2xs); return g_iq2xs.ok ? &g_iq2xs : NULL;
	case SL_TYPE_IQ2_S: pthread_once(&g_iq2s_once, build_iq2s); return g_iq2s.ok ? &g_iq2s : NULL;
	case SL_TYPE_IQ3_S: pthread_once(&g_iq3s_once, build_iq3s); return g_iq3s.ok ? &g_iq3s : NULL;
	case SL_TYPE_IQ1_S:
	case SL_TYPE_IQ1_M: pthread_once(&g_iq1s_once, build_iq1s); return g_iq1s.ok ? &g_iq1s : NULL;
	case SL_TYPE_IQ3_XXS: pthread_once(&g_iq3xxs_once, build_iq3xxs); return g_iq3xxs.ok ? &g_iq3xxs : NULL;
	default: return NULL;
	}
}

/* The grid index for the levels L[0..width) (2 or 3 bits each): exact when on the grid, else the
 * listed neighbour with the least weighted error at this scale, whose levels are then written to L. */
int sl_iq_grid_index(const struct grid_tables *t, int8_t *L, const float *xval, const float *w, float scale)
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

float sl_iq_sigma2(const float *x, int n, float mult)
{
	float sumx2 = 0;
	for (int i = 0; i < n; i++)
		sumx2 += x[i] * x[i];
	return mult * sumx2 / n;
}

float sl_iq_weights(const float *x, const float *qw, float sigma2, float wfloor, int n, float *weight, float *waux)
{
	float sum = 0;
	for (int i = 0; i < n; i++) {
		weight[i] = qw ? qw[i] * sqrtf(sigma2 + x[i] * x[i]) : wfloor + x[i] * x[i];
		sum += weight[i];
		if (waux)
			waux[i] = sqrtf(weight[i]);
	}
	return sum;
}

float sl_iq_sub_setup(struct iq_sub *s, const float *xb, const float *qw, float sigma2, float wfloor, int n,
		      bool even_parity)
{
	sl_iq_weights(xb, qw, sigma2, wfloor, n, s->weight, s->waux);
	if (even_parity) {
		sl_iq_take_signs(xb, s->weight, n / 8, s->xval, s->signs);
	} else {
		for (int k = 0; k < n / 8; k++) {
			uint8_t sg = 0;
			for (int i = 0; i < 8; i++) {
				const float v = xb[8 * k + i];
				s->xval[8 * k + i] = v >= 0 ? v : -v;
				sg |= (uint8_t)((v < 0) << i);
			}
			s->signs[k] = sg;
		}
	}
	float max = s->xval[0];
	for (int i = 1; i < n; i++)
		max = s->xval[i] > max ? s->xval[i] : max;
	return max;
}

/* The magnitudes of ngroups groups of 8 into xval and their 7 stored sign bits into signs; a group
 * with an odd count of negatives keeps the sign of its least important element (weight * x^2),
 * whose magnitude goes in negated: the stored 8th sign restores even parity. */
void sl_iq_take_signs(const float *xb, const float *weight, int ngroups, float *xval, uint8_t *signs)
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
void sl_iq_lattice_levels(const float *xval, float id, int kmax, int8_t *L, int n)
{
	for (int i = 0; i < n; i++) {
		int l = sl_nearest_int(0.5f * (id * xval[i] - 1));
		L[i] = (int8_t)(l < 0 ? 0 : l > kmax - 1 ? kmax - 1 : l);
	}
}

/* The weighted fit of 2-level groups: sum w x q and sum w q^2 over n elements, q = 2L+1. */
void sl_iq_fit_odd(const int8_t *L, const float *xval, const float *weight, int n, float *sumqx, float *sumq2)
{
	*sumqx = *sumq2 = 0;
	for (int i = 0; i < n; i++) {
		const float q = 2 * L[i] + 1;
		*sumqx += weight[i] * xval[i] * q;
		*sumq2 += weight[i] * q * q;
	}
}
