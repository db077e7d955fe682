/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/quant_imatrix.c — quantizing with an importance matrix (`sluice quantize --imatrix`).
 *
 * An importance matrix gives each input column of a weight the mean square of the activations it
 * is multiplied by; errors in heavily used columns cost more, so each type's quantizer minimises
 * an error weighted by it, as ggml's quantize_* do when given quant_weights.  The types whose
 * ggml quantizer ignores quant_weights (q8_0, the ternary ones) keep their reference quantizer.
 */
#include "quant/blocks.h"
#include "quant/iq_blocks.h"
#include "quant/iq_grid.h"

sl_from_float_w_fn sl_quant_weighted(uint32_t type)
{
	sl_from_float_w_fn f = sl_quant_k_weighted(type);
	if (!f)
		f = sl_quant_legacy_weighted(type);
	return f ? f : sl_iq_from_float_w(type);
}

bool sl_quant_needs_imatrix(uint32_t type)
{
	/* llama.cpp's tensor_requires_imatrix: iq3_xxs too, though ggml has a reference quantizer for it
	 * (sluice's from_float, used where no matrix can exist); iq3_s needs none */
	return type == SL_TYPE_IQ1_S || type == SL_TYPE_IQ1_M || type == SL_TYPE_IQ2_XXS || type == SL_TYPE_IQ2_XS ||
	       type == SL_TYPE_IQ2_S || type == SL_TYPE_IQ3_XXS;
}

size_t sl_quantize_rows_w(uint32_t type, const float *src, void *dst, int64_t nrows, int64_t n_per_row,
			  const float *qw)
{
	/* iq2_s without weights: ggml's reference (llama-quantize makes token_embd so), kept off the
	 * type's from_float since llama-quantize refuses the type elsewhere without an imatrix */
	sl_from_float_w_fn f = qw ? sl_quant_weighted(type) : type == SL_TYPE_IQ2_S ? sl_iq_s_from_float_w(type) : NULL;
	if (!f)
		return sl_quantize_rows(type, src, dst, nrows, n_per_row);
	const size_t rs = sl_row_size(type, n_per_row);
	if (!rs)
		return 0;
	for (int64_t r = 0; r < nrows; r++)
		f(src + r * n_per_row, (char *)dst + (size_t)r * rs, n_per_row, qw);
	return rs * (size_t)nrows;
}
