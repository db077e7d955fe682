/* SPDX-License-Identifier: MIT */
/* runtime/model/synth.h — synthetic llama models for tests, demos and benchmarks (gen-model). */
#ifndef SLUICE_SYNTH_H
#define SLUICE_SYNTH_H

#include "internal.h"

struct sl_synth_params {
	uint64_t size_bytes;  /* target size; dimensions are chosen to approach it */
	uint32_t type;        /* enum sl_type of the matrices */
	uint64_t seed;
	const char *arch;     /* "llama" (NULL: llama) or "qwen2" (q/k/v biases, NeoX rope, BPE vocabulary) */
	bool bpe;             /* byte-level BPE vocabulary (Llama-3 style for llama; always for qwen2) */
	bool rope_freqs;      /* llama: a rope_freqs tensor and llama3 rope-scaling keys, as Llama-3.1 */
	/* 0 = choose from size_bytes */
	uint32_t n_embd, n_layer, n_ff, n_ctx;
	/* filled by sl_synth_plan */
	uint32_t n_head, n_head_kv, head_dim, n_vocab;
};

/* A byte-level BPE vocabulary (synth_bpe.c). */
struct sl_synth_vocab {
	char **toks, **merges;
	int32_t *types;
	uint32_t n, n_merges, first_special;
	int32_t bos, eos;
	bool add_bos;
	const char *pre, *chat_template;
};
/* Llama-3's special tokens, pre llama-bpe and template (llama3), or Qwen2's ChatML ones. */
int sl_synth_bpe_vocab(bool llama3, struct sl_synth_vocab *out, struct sl_err *err);
void sl_synth_vocab_free(struct sl_synth_vocab *v);

typedef void (*sl_synth_progress_fn)(void *arg, uint64_t done, uint64_t total);

/* Choose the dimensions not given. */
int sl_synth_plan(struct sl_synth_params *p, struct sl_err *err);
/* Write the model to path (removed again on failure). */
int sl_synth_write(const struct sl_synth_params *p, const char *path, sl_synth_progress_fn progress, void *arg,
		   struct sl_err *err);

#endif
