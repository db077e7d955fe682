/* SPDX-License-Identifier: MIT */
/*
 * tools/sluice/imatrix_file.h — importance matrices in memory and in llama.cpp's two file formats
 * (written by `sluice imatrix`, read by `sluice quantize --imatrix`).
 *
 * For each weight (by GGUF tensor name), and for each of its nmat matrices (the experts of a 3-D
 * tensor; 1 for a dense weight): the sum over every activation row x that multiplied it of x[j]^2,
 * per column j, and the number of rows.  Their ratio, the mean square of each input column, is the
 * importance weight the quantizers use.
 *
 *   GGUF (llama.cpp's imatrix.gguf): general.type "imatrix"; imatrix.datasets [str],
 *        imatrix.chunk_count u32, imatrix.chunk_size u32; per weight NAME the f32 tensors
 *        NAME.in_sum2 [cols, nmat] (the sums) and NAME.counts [1, nmat] (trailing 1-dims dropped,
 *        as ggml writes them).  Other tensors (a newer llama.cpp's NAME.in_sum) are ignored.
 *   legacy .dat: i32 n_entries; per entry i32 len, name, i32 ncall, i32 nval, f32 values[nval]
 *        where values = mean * ncall (ncall = chunks seen, rounded up); then i32 chunk_count,
 *        i32 len, dataset name.  Counts are not stored: reading gives counts = ncall, so the mean
 *        comes back.
 */
#ifndef SLUICE_IMATRIX_FILE_H
#define SLUICE_IMATRIX_FILE_H

#include "internal.h"

struct imx_entry {
	char *name;
	int64_t cols, nmat;
	double *sum2;     /* [nmat][cols] */
	double *counts;   /* [nmat] rows seen */
};

struct imx {
	struct imx_entry *e;
	size_t n, cap;
	uint32_t chunk_count, chunk_size;
	char *dataset;    /* the text it was computed from (NULL if unknown) */
};

/* The entry of name, or a new zeroed one of cols x nmat; NULL on a shape mismatch or no memory. */
struct imx_entry *imx_entry_get(struct imx *m, const char *name, int64_t cols, int64_t nmat, struct sl_err *err);
const struct imx_entry *imx_find(const struct imx *m, const char *name);
/* The importance weights of matrix `mat` of e: sum2 / count per column, all 1 for a matrix that saw no rows. */
void imx_means(const struct imx_entry *e, int64_t mat, float *out);
/* Write in the format `dat` selects, entries sorted into name order (m->e is reordered). 0 or -errno. */
int imx_write(struct imx *m, const char *path, bool dat, struct sl_err *err);
/* Read either format (GGUF by its magic, else legacy). 0 or -errno with err naming what is wrong. */
int imx_read(const char *path, struct imx *m, struct sl_err *err);
void imx_free(struct imx *m);

#endif
