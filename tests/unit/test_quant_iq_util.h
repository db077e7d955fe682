/* SPDX-License-Identifier: MIT */
/* tests/unit/test_quant_iq_util.h — the i-quant types under test and random blocks of them
 * (header only; shared by the test_quant_iq* programs). */
#ifndef TEST_QUANT_IQ_UTIL_H
#define TEST_QUANT_IQ_UTIL_H

#include "test_quant_util.h"

#include <string.h>

struct iq_case {
	uint32_t type;
	int f16_off; /* offset of the fp16 block scale; -1: iq1_m's split scale */
};

static const struct iq_case iq_cases[] = {
	{ SL_TYPE_IQ2_XXS, 0 }, { SL_TYPE_IQ2_XS, 0 }, { SL_TYPE_IQ2_S, 0 }, { SL_TYPE_IQ3_XXS, 0 },
	{ SL_TYPE_IQ3_S, 0 },   { SL_TYPE_IQ1_S, 0 },  { SL_TYPE_IQ1_M, -1 }, { SL_TYPE_IQ4_NL, 0 },
	{ SL_TYPE_IQ4_XS, 0 },  { SL_TYPE_TQ1_0, 52 }, { SL_TYPE_TQ2_0, 64 },
};
#define IQ_NCASES (sizeof iq_cases / sizeof iq_cases[0])

/* A finite block scale: mostly ordinary, sometimes tiny (fp16 subnormal), zero or negative. */
static inline float iq_rand_scale(void)
{
	uint64_t r = tq_rand() % 16;
	if (r == 0)
		return 0.f;
	if (r == 1)
		return 3e-6f * tq_uniform();
	return tq_normal() * 0.05f;
}

/* nblk random blocks of c's type: random bits (every bit pattern is a valid block apart
 * from the fp16 scale), with a finite scale put in. */
static inline void iq_random_blocks(const struct iq_case *c, size_t type_size, unsigned char *p, int nblk)
{
	for (size_t i = 0; i < (size_t)nblk * type_size; i++)
		p[i] = (unsigned char)tq_rand();
	for (int b = 0; b < nblk; b++, p += type_size) {
		uint16_t h = sl_fp32_to_fp16(iq_rand_scale());
		if (c->f16_off >= 0) {
			memcpy(p + c->f16_off, &h, 2);
			continue;
		}
		/* iq1_m: d's four nibbles are the top nibbles of the four scale words (bytes 48..55) */
		for (int k = 0; k < 4; k++) {
			uint16_t w;
			memcpy(&w, p + 48 + 2 * k, 2);
			w = (uint16_t)((w & 0x0fff) | (((h >> (4 * k)) & 0xf) << 12));
			memcpy(p + 48 + 2 * k, &w, 2);
		}
	}
}

#endif
