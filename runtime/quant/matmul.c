/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/matmul.c — W x for quantized W, split by row ranges.
 *
 * Decode is memory-bound: every weight byte is read once per token, so the
 * loop is row-outer, batch-inner — a weight row is streamed from memory once
 * and reused from L1 for each of the n_batch activation rows.  The activation
 * conversion is done once per call (sl_quantize_activations), not per row.
 */
#include "quant/quant.h"

#include <stdlib.h>

size_t sl_matmul_scratch_size(uint32_t wtype, int64_t cols, int n_batch)
{
	const struct sl_type_traits *t = sl_type_traits(wtype);
	if (!t || n_batch < 1)
		return 0;
	return sl_row_size(t->vec_dot_type, cols) * (size_t)n_batch;
}

void sl_quantize_activations(uint32_t wtype, const float *x, int64_t cols, int n_batch, void *xq)
{
	const struct sl_type_traits *t = sl_type_traits(wtype);
	const struct sl_type_traits *a = t ? sl_type_traits(t->vec_dot_type) : NULL;
	if (!a || !a->from_float)
		return;
	size_t rs = sl_row_size(t->vec_dot_type, cols);
	for (int b = 0; b < n_batch; b++)
		a->from_float(x + (int64_t)b * cols, (char *)xq + (size_t)b * rs, cols);
}

void sl_matmul_rows(uint32_t wtype, const void *w, int64_t cols, int64_t r0, int64_t r1, const void *xq,
		    int n_batch, float *y, int64_t rows)
{
	const struct sl_type_traits *t = sl_type_traits(wtype);
	if (!t || !t->vec_dot)
		return;
	const sl_vec_dot_fn dot = t->vec_dot;
	const size_t wrs = sl_row_size(wtype, cols), xrs = sl_row_size(t->vec_dot_type, cols);
	for (int64_t r = r0; r < r1; r++) {
		const char *wr = (const char *)w + (size_t)r * wrs;
		for (int b = 0; b < n_batch; b++)
			dot(cols, &y[(int64_t)b * rows + r], wr, (const char *)xq + (size_t)b * xrs);
	}
}

int sl_matmul(uint32_t wtype, const void *w, int64_t rows, int64_t cols, const float *x, int n_batch, float *y)
{
	size_t sz = sl_matmul_scratch_size(wtype, cols, n_batch);
	const struct sl_type_traits *t = sl_type_traits(wtype);
	if (!sz || !t->vec_dot)
		return -1;
	void *xq = malloc(sz);
	if (!xq)
		return -1;
	sl_quantize_activations(wtype, x, cols, n_batch, xq);
	sl_matmul_rows(wtype, w, cols, 0, rows, xq, n_batch, y, rows);
	free(xq);
	return 0;
}
