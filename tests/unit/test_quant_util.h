/* SPDX-License-Identifier: MIT */
/* tests/unit/test_quant_util.h — shared bits of the test_quant_* programs (header only).
 * Checks are CHECK / CHECK_MSG of helpers/testutil.h, the one set of check macros. */
#ifndef TEST_QUANT_UTIL_H
#define TEST_QUANT_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "helpers/testutil.h"
#include "quant/quant.h"

/* xorshift64*: deterministic, seedable */
static uint64_t tq_state = 0x9E3779B97F4A7C15ull;
static inline uint64_t tq_rand(void)
{
	tq_state ^= tq_state >> 12;
	tq_state ^= tq_state << 25;
	tq_state ^= tq_state >> 27;
	return tq_state * 2685821657736338717ull;
}
static inline float tq_uniform(void) /* [0, 1) */
{
	return (float)(tq_rand() >> 40) / (float)(1 << 24);
}
static inline float tq_normal(void)
{
	float u = tq_uniform() + 1e-7f, v = tq_uniform();
	return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}

/* The weight types under test. */
static const uint32_t tq_wtypes[] = {
	SL_TYPE_F32, SL_TYPE_F16, SL_TYPE_BF16, SL_TYPE_Q4_0, SL_TYPE_Q4_1, SL_TYPE_Q5_0, SL_TYPE_Q5_1,
	SL_TYPE_Q8_0, SL_TYPE_Q2_K, SL_TYPE_Q3_K, SL_TYPE_Q4_K, SL_TYPE_Q5_K, SL_TYPE_Q6_K,
};
#define TQ_NW (sizeof tq_wtypes / sizeof tq_wtypes[0])

#endif
