/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/iq_quantize_grid.c — quantizers of the grid i-quants, which exist only with an
 * importance matrix (none yet: see sl_iq_grid_from_float_w).
 */
#include "quant/iq_blocks.h"

sl_from_float_w_fn sl_iq_grid_from_float_w(uint32_t type)
{
	(void)type;
	return NULL;
}
