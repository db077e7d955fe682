/* SPDX-License-Identifier: MIT */
/* runtime/model/synth.h — synthetic llama models for tests, demos and benchmarks (gen-model). */
#ifndef SLUICE_SYNTH_H
#define SLUICE_SYNTH_H

#include "internal.h"

struct sl_synth_params {
	uint64_t size_bytes;  /* target size; dimensions are chosen to approach it */
	uint32_t type;        /* enum sl_type of the matrices */
	/* SL_SYNTH_MIX_R1: like DeepSeek-R1's low-bit files, for a dense llama: ffn iq4_xs (p->type
	 * must be iq4_xs, which sizes the plan), attention and token_embd q4_K, output q6_K. */
	uint32_t mix;
	uint64_t seed;
	/* 0 = choose from size_bytes */
	uint32_t n_embd, n_layer, n_ff, n_ctx;
	/* filled by sl_synth_plan */
	uint32_t n_head, n_head_kv, head_dim, n_vocab;
};

enum { SL_SYNTH_MIX_NONE = 0, SL_SYNTH_MIX_R1 = 1 };

typedef void (*sl_synth_progress_fn)(void *arg, uint64_t done, uint64_t total);

/* Choose the dimensions not given. */
int sl_synth_plan(struct sl_synth_params *p, struct sl_err *err);
/* Write the model to path (removed again on failure). */
int sl_synth_write(const struct sl_synth_params *p, const char *path, sl_synth_progress_fn progress, void *arg,
		   struct sl_err *err);

#endif
