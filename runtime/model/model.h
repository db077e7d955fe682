/* SPDX-License-Identifier: MIT */
/*
 * runtime/model/model.h — the loaded model and its per-sequence context.
 *
 * An architecture (llama, and those built on it) turns GGUF metadata into
 * hyperparameters, registers its tensors with the weight store, and runs a
 * forward pass through backend ops.  It never touches files or I/O.
 */
#ifndef SLUICE_MODEL_H
#define SLUICE_MODEL_H

#include "backend/backend.h"
#include "cache/weights.h"
#include "gguf.h"
#include "sluice.h"
#include "sys/storage.h"
#include "token/vocab.h"

#include <pthread.h>
#include <stdatomic.h>

struct sl_hparams {
	uint32_t n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx_train, n_rot, head_dim;
	float rope_freq_base, rms_eps;
	bool rope_neox;      /* rotate halves (qwen2) rather than adjacent pairs (llama) */
	bool has_qkv_bias;   /* qwen2 */
	/* What a context holds, per architecture (set by its load): floats per token per layer of the
	 * K and V caches (kv_v_row 0: no V cache, as MLA's latent cache), and the widths of the q, the
	 * attention output (xb2) and the FFN (hb, hb2) activation rows; n_expert > 0 adds the routed
	 * experts' gather/scatter rows (xe, ye). */
	uint32_t kv_k_row, kv_v_row, q_dim, att_dim, ff_dim, n_expert;
};

struct sl_tensor_ref {
	int id;                 /* weight store id */
	uint32_t type;
	int64_t cols, rows;
	const char *name;       /* the GGUF tensor's name (the matmul observer reports it); NULL if unset */
};

struct sl_layer {
	struct sl_tensor_ref attn_norm, wq, wk, wv, wo, bq, bk, bv;
	struct sl_tensor_ref ffn_norm, w_gate, w_up, w_down;
};

struct sluice_model;
struct sluice_ctx;
struct sl_seg;
struct sl_pipe;
struct sl_pipe_ctx;

/* An architecture: its loader (hyperparameters, tensors, m->order) and forward pass.  free_priv
 * frees what load put in m->arch_priv (may be NULL). */
struct sl_arch {
	const char *name;
	int (*load)(struct sluice_model *m, struct sl_err *err);
	int (*forward)(struct sluice_ctx *c, const int32_t *tokens, int n, const struct sl_seg *segs, int n_segs);
	void (*free_priv)(struct sluice_model *m);
	/* The first optional backend op the architecture needs and o lacks, or NULL (may be NULL). */
	const char *(*missing_op)(const struct sl_backend_ops *o);
};
/* The architecture of that name (general.architecture), NULL if unsupported; names lists them. */
const struct sl_arch *sl_arch_find(const char *name);
extern const char sl_arch_names[];

struct sluice_model {
	const struct sl_arch *ops;
	void *arch_priv;        /* the architecture's own (deepseek2: its layers, routing buffers) */
	struct gguf_file *gguf;
	struct sl_vocab *vocab;
	struct sl_backend *be;
	struct sl_weights *weights;
	struct sl_hparams hp;
	char arch[32];
	char name[64];
	struct sl_tensor_ref tok_embd, output_norm, output;
	struct sl_tensor_ref rope_freqs; /* Llama-3.1's per-pair rope frequency factors; id -1 if none */
	struct sl_layer *layers;
	/* Execution order of the per-layer units, twice over (so the future seen from any layer is one
	 * contiguous run that wraps into the next token): layer l's units start at order[layer_start[l]]. */
	int *order, n_order, *layer_start;
	struct sl_pipe *pipe;         /* several devices (pipeline.h); NULL for one */
	struct sl_pressure *pressure; /* memory-pressure monitor, while streaming */
	struct sl_storage storage;    /* the drive the model file is on (the trace names it) */
	uint64_t load_ns;
	uint64_t n_params;
	int pregate;                  /* sluice_model_params.pregate, as given (0 = default, -1 = off) */
	/* The weight store, the backend (its scratch, its allocator, its queue) and the I/O engine are
	 * single-threaded: `lock` is held by everything that reaches them on behalf of a context
	 * (sluice_decode, sluice_ctx_new, sluice_ctx_free, sluice_ctx_get_stats).  It also guards
	 * n_ctxs and freed: sluice_model_free with live contexts only marks the model freed, and the
	 * last sluice_ctx_free frees it. */
	pthread_mutex_t lock;
	uint32_t n_ctxs;
	bool freed;
};

/* Rows of one forward chunk at most (the activation buffers' height). */
#define SL_N_BATCH 64

struct sluice_ctx {
	struct sluice_model *m;
	uint32_t n_ctx;         /* tokens per sequence */
	uint32_t n_seq;         /* sequences the context holds (sluice_decode uses sequence 0) */
	uint32_t *seq_len;      /* [n_seq]: tokens in each sequence's KV cache (its next position) */
	uint32_t n_batch;       /* tokens per forward chunk, <= SL_N_BATCH */
	/* device memory */
	float **k_cache, **v_cache; /* per layer [n_seq][n_ctx][kv_k_row] and [..][kv_v_row] (none if 0) */
	size_t kv_bytes, v_bytes; /* per layer, of k_cache and of v_cache (all sequences) */
	uint64_t moe_tok;       /* tokens run so far (the routing trace's token index) */
	/* k_tmp, v_tmp: a chunk of several sequences computes K and V here, then each sequence's rows
	 * are copied into its own cache (a chunk of one sequence writes its cache directly) */
	float *x, *xb, *xb2, *q, *hb, *hb2, *logits_dev, *k_tmp, *v_tmp, *xe, *ye;
	size_t act_bytes[11];
	float *logits;          /* host copy, [n_seq][n_vocab]: each sequence's last decoded token */
	struct sluice_stats st;
	struct sl_observer *obs; /* sluice_ctx_set_matmul_observer's observer; NULL = none (observe.h) */
	struct sl_pipe_ctx *pipe; /* several devices: each stage's activation buffers (pipeline.h); NULL for one */
	struct sl_err err;
	atomic_int busy;        /* a call on this context is running (one context, one thread at a time) */
};

/* The context's busy flag (engine.c): -EBUSY when another thread is inside a call on c. */
int sl_ctx_enter(struct sluice_ctx *c, const char *fn);
void sl_ctx_leave(struct sluice_ctx *c);

/* Read hyperparameters and register tensors (llama-family). */
int sl_llama_load(struct sluice_model *m, struct sl_err *err);
/*
 * One forward chunk holds n tokens (n <= SL_N_BATCH) of one or more sequences: segment i is rows
 * [row0, row0 + n) of the chunk, tokens of sequence seq at positions pos0.. (its cache holds
 * [0, pos0) already).  Matmuls run over all n rows at once (each weight is acquired and multiplied
 * once per chunk); rope and attention run per segment on its sequence's KV cache.  A segment with
 * logits != NULL gets its last row's n_vocab logits there (host memory).
 */
struct sl_seg {
	uint32_t seq, pos0;
	int row0, n;
	float *logits;
};
int sl_llama_forward(struct sluice_ctx *ctx, const int32_t *tokens, int n, const struct sl_seg *segs, int n_segs);
/* Sequence s's K (or V) cache of layer l. */
static inline float *sl_kv_seq(const struct sluice_ctx *c, float *layer_cache, uint32_t s)
{
	return layer_cache + (size_t)s * c->n_ctx * c->m->hp.kv_k_row;
}

/* How a forward pass lends its weights to shared code (output.c), so that its prefetch order stays
 * its own: pass is the forward pass's state and *rc its error (0, or -errno with the context's err
 * set).  acquire gives the weight's data, or NULL with *rc set (at once when *rc is set already);
 * release sets *rc when it fails and *rc is 0.  Shared code sets *rc on its own failures too. */
struct sl_weight_use {
	const void *(*acquire)(void *pass, const struct sl_tensor_ref *r);
	void (*release)(void *pass, const struct sl_tensor_ref *r);
	void *pass;
	int *rc;
	bool trace_all; /* trace the norm and the sync too, as llama traces every op (deepseek2: matmuls) */
};
/* output.c: the output head after the last layer (final norm, classifier, download of each logits
 * segment, sync, non-finite check) on c->x's rows.  0 or -errno with c->err set. */
int sl_model_output(struct sluice_ctx *c, const struct sl_seg *segs, int n_segs, const struct sl_weight_use *use);

/* deepseek2 (MLA, routed experts): deepseek2.c */
int sl_deepseek2_load(struct sluice_model *m, struct sl_err *err);
int sl_deepseek2_forward(struct sluice_ctx *c, const int32_t *tokens, int n, const struct sl_seg *segs, int n_segs);
void sl_deepseek2_free(struct sluice_model *m);
const char *sl_deepseek2_missing_op(const struct sl_backend_ops *o);

#endif
