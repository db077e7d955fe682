/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/iq_avx2.c — AVX2 dots of the i-quants (placeholder: none yet).
 */
#include "quant/iq_blocks.h"

void sl_quant_iq_avx2_kernels(uint32_t type, struct sl_kernels *k)
{
	(void)type;
	(void)k;
}
