/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/quant_imatrix.c — quantizing with an importance matrix (`sluice quantize --imatrix`).
 *
 * An importance matrix gives each input column of a weight the mean square of the activations it
 * is multiplied by; errors in heavily used columns cost more, so each type's quantizer minimises
 * an error weighted by it, as ggml's quantize_* do when given quant_weights.  The types whose
 * ggml quantizer ignores quant_weights (the legacy q4_0..q8_0, the ternary ones) keep their
 * reference quantizer.
 */
#include "quant/blocks.h"
#include "quant/iq_blocks.h"

sl_from_float_w_fn sl_quant_weighted(uint32_t type)
{
	sl_from_float_w_fn f = sl_quant_k_weighted(type);
	return f ? f : sl_iq_from_float_w(type);
}

bool sl_quant_needs_imatrix(uint32_t type)
{
	return type == SL_TYPE_IQ1_S || type == SL_TYPE_IQ1_M || type == SL_TYPE_IQ2_XXS || type == SL_TYPE_IQ2_XS;
}

size_t sl_quantize_rows_w(uint32_t type, const float *src, void *dst, int64_t nrows, int64_t n_per_row,
			  const float *qw)
{
	sl_from_float_w_fn f = qw ? sl_quant_weighted(type) : NULL;
	if (!f)
		return sl_quantize_rows(type, src, dst, nrows, n_per_row);
	const size_t rs = sl_row_size(type, n_per_row);
	if (!rs)
		return 0;
	for (int64_t r = 0; r < nrows; r++)
		f(src + r * n_per_row, (char *)dst + (size_t)r * rs, n_per_row, qw);
	return rs * (size_t)nrows;
}
