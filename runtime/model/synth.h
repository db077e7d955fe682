/* SPDX-License-Identifier: MIT */
/* runtime/model/synth.h — synthetic llama models for tests, demos and benchmarks (gen-model). */
#ifndef SLUICE_SYNTH_H
#define SLUICE_SYNTH_H

#include "internal.h"

struct sl_synth_params {
	uint64_t size_bytes;  /* target size; dimensions are chosen to approach it */
	uint32_t type;        /* enum sl_type of the matrices */
	/* SL_SYNTH_MIX_R1: like DeepSeek-R1's low-bit files.  A dense llama: ffn iq4_xs (p->type
	 * must be iq4_xs, which sizes the plan), attention and token_embd q4_K, output q6_K.  deepseek2
	 * (as unsloth's UD-IQ1_S): routed experts iq1_s (gate, up) and iq2_xxs (down), attention, shared
	 * experts, dense ffn and token_embd q4_K, output q6_K (p->type must be iq1_s, which sizes it). */
	uint32_t mix;
	uint64_t seed;
	const char *arch;     /* "llama" (NULL: llama) or "qwen2" (q/k/v biases, NeoX rope, BPE vocabulary) */
	bool bpe;             /* byte-level BPE vocabulary (Llama-3 style for llama; always for qwen2) */
	bool rope_freqs;      /* llama: a rope_freqs tensor and llama3 rope-scaling keys, as Llama-3.1 */
	/* 0 = choose from size_bytes */
	uint32_t n_embd, n_layer, n_ff, n_ctx;
	/* deepseek2 (synth_deepseek2.c); 0 = default */
	uint32_t n_expert, n_expert_used; /* default 16 experts, 4 used */
	int n_dense;          /* leading dense layers: 0 = default (1), -1 = none */
	float expert_skew;    /* Zipf exponent of expert popularity (drifting over a sequence); 0 = uniform */
	bool mla_legacy;      /* attn_kv_b (older files) rather than the split attn_k_b / attn_v_b */
	bool no_q_lora;       /* a plain attn_q rather than attn_q_a / attn_q_a_norm / attn_q_b */
	bool softmax_gating;  /* expert_gating_func softmax (V2) rather than sigmoid with exp_probs_b (V3) */
	/* filled by sl_synth_plan */
	uint32_t n_head, n_head_kv, head_dim, n_vocab;
	uint32_t q_lora, kv_lora, d_nope, d_rope, d_v; /* deepseek2 */
	uint32_t n_ff_exp;    /* deepseek2: an expert's ff size (0 = n_embd / 2), given or chosen */
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
enum { SL_SYNTH_MIX_NONE = 0, SL_SYNTH_MIX_R1 = 1 };

typedef void (*sl_synth_progress_fn)(void *arg, uint64_t done, uint64_t total);

/* Choose the dimensions not given. */
int sl_synth_plan(struct sl_synth_params *p, struct sl_err *err);
/* Write the model to path (removed again on failure). */
int sl_synth_write(const struct sl_synth_params *p, const char *path, sl_synth_progress_fn progress, void *arg,
		   struct sl_err *err);

/* Shared by the synth files: one tensor of random rows (entries offset + scale * U(-1,1), rows
 * [zero_lo, zero_hi) zero, boost_row 2.5x), converted to type and written at its place. */
struct gguf_writer;
/* Can gen-model write this type (a reference quantizer, or a weighted one it feeds uniform importance)?
 * sl_synth_quantize_row: one row of cols (at most 65536) floats into it. */
bool sl_synth_type_writable(uint32_t type);
void sl_synth_quantize_row(uint32_t type, const float *f, void *dst, int64_t cols);
int sl_synth_write_tensor(struct gguf_writer *w, int fd, int idx, uint32_t type, int64_t cols, int64_t rows,
			  uint64_t seed, float scale, float offset, int64_t zero_lo, int64_t zero_hi, int64_t boost_row,
			  uint64_t *done, uint64_t total, sl_synth_progress_fn progress, void *parg, struct sl_err *err);
/* deepseek2 (synth_deepseek2.c), reached through sl_synth_plan / sl_synth_write. */
int sl_synth_ds2_plan(struct sl_synth_params *p, struct sl_err *err);
int sl_synth_ds2_write(const struct sl_synth_params *p, const char *path, sl_synth_progress_fn progress, void *arg,
		       struct sl_err *err);

#endif
