/* SPDX-License-Identifier: MIT */
/*
 * sluice.h — the public interface of libsluice.
 *
 * libsluice runs large language models stored as GGUF files, streaming weights
 * from storage through a host cache into device memory when the model does not
 * fit.  Conventions:
 *   - handles are opaque (struct sluice_model, struct sluice_ctx);
 *   - functions return 0 or a negative errno, and give results through
 *     out-parameters;
 *   - when a call on a handle fails, sluice_model_error()/sluice_ctx_error()/
 *     sluice_sampler_error() say why; a call that creates a handle takes an
 *     error buffer instead.  Every error comes with a message, except -EINVAL
 *     for a NULL handle (there is nowhere to put it);
 *   - the library never exits the process and never prints unless asked
 *     (sluice_set_log_level);
 *   - the library never reads environment variables: all configuration comes
 *     in as parameters (the sluice command maps its SLUICE_* variables to them);
 *   - every function checks its arguments: a NULL handle, a NULL out-pointer,
 *     a value out of range or a reserved field that is not 0 gives -EINVAL
 *     (with a message where there is somewhere to put it) and changes nothing.
 *     The *_params_init and *_free functions do nothing when given NULL.
 *
 * Ownership and order:
 *   - sluice_model_load gives a model, sluice_ctx_new a context on a model,
 *     sluice_sampler_new a sampler; each is freed with its own *_free, once.
 *     Strings the library returns (sluice_version, the *_error messages) are
 *     its own; the params structs and every buffer passed in stay the
 *     caller's and are not kept after the call returns.
 *   - Free the contexts of a model before the model.  A model freed while it
 *     still has contexts is not freed at once: it goes with its last context
 *     (sluice_ctx_free), so those contexts keep working until then; the model
 *     handle itself must not be used after sluice_model_free, and no new
 *     context can be made on it.
 *   - The logits pointer sluice_decode gives belongs to the context and is
 *     valid until its next sluice_decode or sluice_ctx_free.
 *
 * Threads:
 *   - a model may be shared by contexts used on different threads at once:
 *     sluice_ctx_new, sluice_ctx_free, sluice_decode and sluice_ctx_get_stats
 *     on contexts of one model take a lock of the model, so their decodes
 *     take turns (one model has one weight stream and one compute backend);
 *     sluice_tokenize, sluice_token_to_piece and sluice_model_get_info only
 *     read the model and run in parallel with anything but sluice_model_free;
 *   - a context is used by one thread at a time (it may move between threads
 *     between calls).  A call on a context that another thread is inside
 *     returns -EBUSY (sluice_ctx_free and sluice_ctx_reset, which return
 *     nothing, then do nothing and log an error), and sluice_ctx_error gives
 *     the refused thread that message;
 *   - sluice_model_error gives the message of the calling thread's last failed
 *     call on the model, so threads sharing a model do not see each other's;
 *   - a sampler is used by one thread at a time (not checked);
 *   - sluice_set_log_level and sluice_set_cpu_features are process-wide:
 *     call them before loading models, not while other threads use the library.
 *
 * Memory: vram_budget bounds the weights only.  Each context also has a KV
 * cache of 2 * n_layer * n_ctx * n_head_kv * head_dim floats and activation
 * buffers (both in device memory, which for the CPU backends is host memory);
 * sluice_ctx_new refuses a context the machine cannot hold (more than its
 * MemAvailable) and says how much it needs.
 */
#ifndef SLUICE_H
#define SLUICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define SLUICE_API __attribute__((visibility("default")))
#else
#define SLUICE_API
#endif

struct sluice_model;
struct sluice_ctx;

/* Limits of struct sluice_model_params (beyond them sluice_model_load returns -EINVAL). */
#define SLUICE_MAX_THREADS 1024
#define SLUICE_MAX_LOOKAHEAD 64
#define SLUICE_MAX_PREGATE 256
/* Limit of struct sluice_model_params.n_devices. */
#define SLUICE_MAX_DEVICES 16
/* Limit of struct sluice_ctx_params.n_seq_max. */
#define SLUICE_MAX_SEQ 256

/* The library's version, "MAJOR.MINOR.PATCH" (pkg-config --modversion sluice gives the same). */
SLUICE_API const char *sluice_version(void);

/* 0 quiet (default), 1 errors, 2 warnings, 3 info, 4 debug; messages go to stderr.  Process-wide. */
SLUICE_API void sluice_set_log_level(int level);

/*
 * The widest CPU kernels (SIMD instruction set) the library may use, for the
 * whole process: "auto" (default: the widest this CPU and OS support),
 * "avx512" (AVX-512 VNNI where present, else as auto), "avx2" (at most AVX2),
 * "scalar" (the portable reference kernels).  NULL means "auto".  A level
 * above what the CPU has falls back to what it has.  Models loaded afterwards
 * use it; call it before loading.  Returns 0, or -EINVAL for any other name.
 * (The sluice command sets it from $SLUICE_SIMD, or "scalar" when
 * $SLUICE_NO_SIMD is set to a non-zero value.)
 */
SLUICE_API int sluice_set_cpu_features(const char *level);

/* ---- loading a model ---- */

struct sluice_model_params {
	const char *backend;     /* "cpu" (default), "cuda" (device 0; "cuda:N": device N), "auto" (cuda
				  * when it initialises, else cpu), "cpu-async", "cpu-async-zc" (test modes) */
	const char *io_engine;   /* "auto" (default), "uring", "pread", "mmap"; "nvme:BDF/NSID@OFF+LEN": the
				  * userspace NVMe driver reads the weights from that namespace range
				  * (a staged model: Documentation/nvme-vfio.md) */
	uint64_t vram_budget;    /* bytes of device memory for weights; 0 = unlimited.  The KV cache and
				  * activations are not in it: they are sized by each context's n_ctx. */
	uint64_t host_cache;     /* bytes of host cache for streamed weights; 0 = unlimited */
	int lookahead;           /* layers prefetched ahead of compute; 0 = default, 1..SLUICE_MAX_LOOKAHEAD */
	int n_threads;           /* compute threads; 0 = number of CPUs, 1..SLUICE_MAX_THREADS */
	const char *pressure;    /* memory-pressure source while streaming: "auto" (default: /dev/sluice,
				  * else PSI, else none), "dev", "psi", "inject" (tests), "none" */
	const char *io_fault;    /* fault injection for the I/O engine, for tests: a spec such as "eio@3";
				  * NULL (default) or "" = none.  The sluice command takes it from
				  * $SLUICE_IO_FAULT. */
	/* Mixture-of-experts models (deepseek2): */
	const char *expert_policy; /* which cached experts make room for others: "lfru" (default: frequency
				    * with recency decay, a hot set that follows routing drift), "lru" */
	int pregate;             /* experts of the next MoE layer guessed and prefetched per token by running
				  * that layer's router on the current hidden state: 0 = default (experts used
				  * per token), -1 = off, 1..SLUICE_MAX_PREGATE */
	const char *trace_experts; /* write the routing trace (layer, token, experts) here; NULL = none.
				    * The format: Documentation/moe.md; `sluice replay` reads it. */
	uint32_t flags;          /* reserved, must be 0 */
	uint32_t reserved;       /* must be 0 */
	/* Added after 0.1.0 (at the end, so the fields above keep their offsets; a caller built
	 * against the older header must be rebuilt, as sluice_model_params_init zeroes these).
	 * Several devices, as a pipeline: the layers are split into n_devices contiguous ranges, one
	 * per device in the order given (each range's share of the weights follows the devices'
	 * budgets: even when they are equal); each device holds its own layers' weights (within its
	 * own budget), their KV cache and a copy of the global tensors; the hidden state crosses to
	 * the next device at each range's end; the output head runs on the last device.  Only the
	 * llama family (llama, qwen2) is split; Documentation/architecture.md, "Several GPUs". */
	const int32_t *devices;  /* n_devices distinct device ordinals of `backend` ("cuda"; the test
				  * mode "cpu-async" takes any numbers and stands in for several devices) */
	uint32_t n_devices;      /* 0 (default): one device, as `backend` says; 1: that one device;
				  * 2..SLUICE_MAX_DEVICES: a pipeline.  Not with "auto" or "NAME:N". */
	uint32_t reserved2;      /* must be 0 */
	const uint64_t *vram_budgets; /* NULL: vram_budget for every device; else n_devices budgets,
				       * device i's weights get vram_budgets[i] bytes (0 = unlimited) */
};

/* Fill p with defaults. */
SLUICE_API void sluice_model_params_init(struct sluice_model_params *p);

/*
 * Open a GGUF model (params NULL: defaults).  On failure returns a negative
 * errno and, when err is not NULL, writes a message naming the file and the
 * problem into err: -EINVAL for a NULL path or out, flags or reserved not 0,
 * lookahead or n_threads out of range, and for a file that does not describe a
 * model this library can run exactly (a tensor of the wrong shape or number of
 * dimensions, layers beyond block_count, context_length 0, ...).
 */
SLUICE_API int sluice_model_load(const char *path, const struct sluice_model_params *params,
				 struct sluice_model **out, char *err, size_t err_len);
/* See "Ownership and order" above: with live contexts the model goes with the last of them. */
SLUICE_API void sluice_model_free(struct sluice_model *model);
/* The message of the calling thread's last failed call on model ("" if none). */
SLUICE_API const char *sluice_model_error(const struct sluice_model *model);

struct sluice_model_info {
	char arch[32];           /* "llama" */
	char name[64];           /* general.name, or "" */
	uint32_t n_vocab;
	uint32_t n_embd;
	uint32_t n_layer;
	uint32_t n_head;
	uint32_t n_head_kv;
	uint32_t n_ff;
	uint32_t n_ctx_train;
	uint32_t n_rot;
	float rope_freq_base;
	float rms_eps;
	uint64_t n_params;
	uint64_t weight_bytes;   /* bytes of tensor data in the file */
	int32_t bos;             /* -1 if none */
	int32_t eos;             /* -1 if none */
	char backend[32];        /* the compute backend in use: "cpu", "cuda", ... (what "auto" chose) */
};
SLUICE_API int sluice_model_get_info(const struct sluice_model *model, struct sluice_model_info *out);

/* ---- tokens ---- */

/*
 * Tokenize text.  Writes at most cap tokens and sets *n_out to the number the
 * text needs; returns -ENOSPC when that is more than cap.  tokens may be NULL
 * only with cap 0 (to ask for the count), text only with len 0.
 */
SLUICE_API int sluice_tokenize(const struct sluice_model *model, const char *text, size_t len,
			       bool add_bos, int32_t *tokens, size_t cap, size_t *n_out);

/*
 * The bytes a token stands for (byte-fallback tokens give their byte, the
 * leading-space marker becomes a space).  Sets *n_out; -ENOSPC if cap is too small.
 */
SLUICE_API int sluice_token_to_piece(const struct sluice_model *model, int32_t token, char *buf,
				     size_t cap, size_t *n_out);

/* ---- a context: KV cache and the position in the sequence ---- */

struct sluice_ctx_params {
	uint32_t n_ctx;          /* tokens per sequence; 0 = min(model's training context, 4096) */
	uint32_t flags;          /* reserved, must be 0 */
	uint32_t n_seq_max;      /* sequences the context holds (ids 0 .. n_seq_max-1), each with its own
				  * KV cache of n_ctx tokens; 0 = 1, at most SLUICE_MAX_SEQ */
};
SLUICE_API void sluice_ctx_params_init(struct sluice_ctx_params *p);
/*
 * A context on model (params NULL: defaults).  -EINVAL for a NULL model or
 * out, flags not 0, or a model already freed; -ENOMEM when the KV cache and
 * activations need more memory than the machine has available (the message
 * gives the size and the largest n_ctx that would fit) or cannot be
 * allocated.  A message goes into err when it is not NULL.
 */
SLUICE_API int sluice_ctx_new(struct sluice_model *model, const struct sluice_ctx_params *params,
			      struct sluice_ctx **out, char *err, size_t err_len);
/* Frees the context (and its model, when the model was freed already and this was its last). */
SLUICE_API void sluice_ctx_free(struct sluice_ctx *ctx);
SLUICE_API const char *sluice_ctx_error(const struct sluice_ctx *ctx);

/*
 * Run tokens through the model at the current position, advancing it.  On
 * success *logits (may be NULL) points at n_vocab floats for the last token,
 * valid until the next call.  -ENOSPC when the context is full, -EINVAL for
 * NULL tokens, n == 0 or a token out of range, -EBUSY when another thread is
 * using the context, -ERANGE when the logits are not finite (NaN or Inf: the
 * weights or activations overflow).  On failure the position is unchanged.
 */
SLUICE_API int sluice_decode(struct sluice_ctx *ctx, const int32_t *tokens, size_t n, const float **logits);

/* Forget every sequence (positions back to 0). */
SLUICE_API void sluice_ctx_reset(struct sluice_ctx *ctx);

/* ---- batched decoding: several sequences in one forward pass ---- */

/*
 * A context made with n_seq_max > 1 holds that many sequences, each with its own KV cache and
 * position; sluice_decode works on sequence 0.  sluice_decode_batch runs tokens of several
 * sequences in one forward pass: each weight is read and multiplied once for all of them (with
 * streamed weights a step of 16 sequences costs little more than a step of one).  Each sequence's
 * results are exactly those of running its tokens alone.
 */
struct sluice_batch_token {
	int32_t seq_id;          /* 0 .. n_seq_max-1 */
	int32_t token;
	uint32_t pos;            /* its position in the sequence (see below) */
	uint32_t reserved;       /* must be 0 */
};

/*
 * Run n entries.  The entries of one sequence are consecutive in the array with consecutive
 * positions, the first at the sequence's current length (sluice_seq_len): a batch appends to each
 * of its sequences (a prompt as several entries, a generated token as one).  On success each
 * sequence of the batch has advanced by its entries, and sluice_seq_logits gives the logits of its
 * last one.  -EINVAL for NULL entries, n == 0, a seq_id or token out of range, a sequence's entries
 * split or out of position order, reserved not 0; -ENOSPC when a sequence would pass n_ctx; -EBUSY
 * and -ERANGE as sluice_decode.  All or nothing: on failure no sequence changes.
 */
SLUICE_API int sluice_decode_batch(struct sluice_ctx *ctx, const struct sluice_batch_token *entries, size_t n);

/*
 * The n_vocab logits of sequence seq_id's last token decoded (by sluice_decode_batch, or
 * sluice_decode for sequence 0), valid until the next decode call or sluice_ctx_free.
 * -EINVAL (NULL, seq_id out of range), -ENOENT (the sequence is empty).
 */
SLUICE_API int sluice_seq_logits(struct sluice_ctx *ctx, int32_t seq_id, const float **logits);

/* Tokens in sequence seq_id (its next position).  -EINVAL for NULL or seq_id out of range. */
SLUICE_API int sluice_seq_len(struct sluice_ctx *ctx, int32_t seq_id, uint32_t *len);

/*
 * Forget sequence seq_id (its length back to 0; the id is free for a new sequence).  Other
 * sequences are untouched.  -EINVAL for NULL or seq_id out of range, -EBUSY.
 */
SLUICE_API int sluice_seq_remove(struct sluice_ctx *ctx, int32_t seq_id);

/* ---- observing activations ---- */

/*
 * An observer of the inputs of every matrix multiplication by a weight (what an importance matrix
 * is computed from: `sluice imatrix`).  When set, each forward pass calls fn before each such
 * product with the weight's GGUF tensor name, the expert index within that tensor (-1 for a dense
 * weight), and the activations it multiplies: n rows of cols floats, x[r * cols + j], in host
 * memory and valid during the call only.  fn runs on the thread inside the decode call and must
 * not call the library on this context.  To hand fn host memory the library copies the
 * activations and waits for the device first, so an observed decode is slower; with fn NULL (the
 * default, and what clears it) the forward pass does nothing extra.  Returns 0, -EINVAL for a NULL
 * ctx, -EBUSY when another thread is using the context.
 */
typedef void (*sluice_matmul_observer)(void *user, const char *weight, int32_t expert, const float *x, size_t n,
				       size_t cols);
SLUICE_API int sluice_ctx_set_matmul_observer(struct sluice_ctx *ctx, sluice_matmul_observer fn, void *user);

/* ---- sampling ---- */

struct sluice_sampler_params {
	float temperature;       /* 0 = greedy */
	int top_k;               /* 0 = off */
	float top_p;             /* 1 = off */
	uint64_t seed;
};
SLUICE_API void sluice_sampler_params_init(struct sluice_sampler_params *p);

struct sluice_sampler;
/*
 * A sampler (p NULL: defaults).  -EINVAL for parameters out of range
 * (temperature < 0 or not finite, top_k < 0, top_p outside (0, 1]), -ENOMEM;
 * either way a message goes into err when it is not NULL.
 */
SLUICE_API int sluice_sampler_new(const struct sluice_sampler_params *p, struct sluice_sampler **out,
				  char *err, size_t err_len);
SLUICE_API void sluice_sampler_free(struct sluice_sampler *s);
SLUICE_API const char *sluice_sampler_error(const struct sluice_sampler *s);
/*
 * Pick a token from n logits (only read) into *token.  Returns 0, or -EINVAL
 * (NULL logits or token, n == 0 or n > INT32_MAX), -ENOMEM; the message is in
 * sluice_sampler_error(s).
 */
SLUICE_API int sluice_sample(struct sluice_sampler *s, const float *logits, size_t n, int32_t *token);

/* ---- statistics ---- */

struct sluice_stats {
	uint64_t load_ns;
	/* sluice_decode calls of several tokens count as prompt, of one token as generation */
	uint64_t prompt_tokens;
	uint64_t prompt_ns;
	uint64_t gen_tokens;
	uint64_t gen_ns;
	uint64_t bytes_read;       /* weight bytes read from storage since load */
	uint64_t io_wait_ns;       /* time compute waited for weights */
	uint64_t io_busy_ns;       /* time the I/O engine had reads in flight */
	uint64_t compute_ns;       /* time spent computing */
	uint64_t cache_hits;       /* weight ranges found in memory */
	uint64_t cache_misses;     /* weight ranges read from storage */
	uint64_t host_cache_peak;  /* bytes */
	uint64_t device_peak;      /* bytes */
	uint64_t shrink_events;    /* memory-pressure events acted on */
	uint64_t prefetch_used;    /* weight units read ahead and then used */
	uint64_t prefetch_wasted;  /* weight units read ahead and evicted before their use */
	/* Mixture-of-experts models (all 0 for a dense model).  An "expert" is one routed expert of one
	 * layer: its gate, up and down slices. */
	uint64_t experts_routed;   /* experts the routers chose (distinct per layer per forward chunk) */
	uint64_t expert_hits;      /* ... of which were in memory (device or host cache) when chosen */
	uint64_t expert_bytes_read;   /* bytes of expert slices read from storage */
	uint64_t expert_bytes_active; /* bytes of the experts chosen: the least a run could have used */
	uint64_t pregate_guesses;  /* experts guessed ahead by pre-gating */
	uint64_t pregate_correct;  /* ... that the router then chose (precision = correct / guesses;
				    * recall = correct / experts_routed of the layers guessed for) */
	uint64_t pregate_routed;   /* experts_routed of the layers that had a guess (recall's denominator) */
	uint64_t pregate_reads;    /* guesses read ahead: not in memory, and of a guess rank whose guesses
				    * that needed a read were chosen at least half the time */
	uint64_t moe_layer_passes; /* MoE layers run (per forward chunk): experts read per layer =
				    * expert misses / moe_layer_passes */
};
/* -EINVAL for NULL ctx or out, -EBUSY when another thread is using the context. */
SLUICE_API int sluice_ctx_get_stats(const struct sluice_ctx *ctx, struct sluice_stats *out);
/*
 * The stats as Prometheus text (exposition format 0.0.4): counters named sluice_*_total, times in
 * seconds, sizes in bytes, each with # HELP and # TYPE lines.  A server sums the stats of its
 * contexts and appends its own request metrics.  *out_len: the text's length (without the NUL).
 * 0; -ENOSPC when len <= *out_len (the text is cut; call again with *out_len + 1); -EINVAL.
 */
SLUICE_API int sluice_stats_prometheus(const struct sluice_stats *st, char *buf, size_t len, size_t *out_len);

/* ---- tracing (process-wide) ---- */

/*
 * Record a trace of every model in the process: I/O requests (submit to completion, bytes,
 * offset), host-to-device uploads, each compute op of each layer (name, layer, shape, weight
 * type), cache hits, misses, evictions and prefetches, memory-pressure events, token boundaries
 * and counters (host cache used, I/O bytes in flight), one track per thread ("model", "io", ...).
 * path: the trace sluice_trace_stop writes, replaced atomically: Perfetto's protobuf format for a
 * path ending in .perfetto-trace or .pftrace (ui.perfetto.dev; each thread a track, I/O requests on
 * lanes, counters), else Chrome JSON (ui.perfetto.dev and chrome://tracing); NULL: record only (for sluice_trace_totals).
 * Buffers of fixed size are allocated here; when one fills, later events of its thread are
 * dropped and counted (otherData.dropped_events).  Returns 0, -EBUSY (already on), -EINVAL,
 * -ENOMEM, or the file's error; the message goes to err.
 */
SLUICE_API int sluice_trace_start(const char *path, char *err, size_t err_len);
/* Stop recording and write the file given to sluice_trace_start.  0, -EINVAL (not on) or -errno. */
SLUICE_API int sluice_trace_stop(char *err, size_t err_len);

struct sluice_trace_total {
	const char *cat;   /* "io", "upload", "compute", "cache", "token", ... (the library's strings) */
	const char *name;  /* the span or event: "read", "matmul", "io wait", "hit", ... */
	uint64_t count;    /* spans ended or events recorded */
	uint64_t ns;       /* total time of the spans on one thread (0 for events and I/O requests) */
	uint64_t bytes;    /* total of the "bytes" argument, where there is one */
};
/*
 * The totals of the last (or current) trace session by (cat, name), into out[0..max).  *n: the
 * entries written.  0, -EINVAL (n NULL, out NULL with max > 0) or -ENOSPC (max too small; the
 * first max are written).
 */
SLUICE_API int sluice_trace_totals(struct sluice_trace_total *out, size_t max, size_t *n);

/* ---- chat ---- */

struct sluice_chat_message {
	const char *role;        /* "system" (first only), "user" or "assistant" */
	const char *content;
};
/*
 * The name of the chat template the model's tokenizer.chat_template is recognised as:
 * "chatml" (Qwen2), "qwq", "llama3", "deepseek3", "deepseek-r1", or "plain" (none or unknown).
 * NULL for a NULL model.
 */
SLUICE_API const char *sluice_chat_template(const struct sluice_model *model);
/*
 * Render msgs[0..n) as the prompt text of a chat template (tmpl: one of the names above, NULL =
 * the model's), followed by the start of an assistant reply when add_assistant.  The text holds
 * special tokens as text ("<|im_start|>") and BOS where the template writes it: tokenize it with
 * sluice_tokenize_special.  Writes the text and a NUL into buf when cap > its length; *n_out =
 * its length.  -ENOSPC when cap is too small, -EINVAL for a NULL model or n_out, an unknown tmpl,
 * a role other than system/user/assistant or a system message not first, -ENOMEM; the message
 * goes to err when it is not NULL.
 */
SLUICE_API int sluice_chat_render(const struct sluice_model *model, const char *tmpl,
				  const struct sluice_chat_message *msgs, size_t n, bool add_assistant, char *buf,
				  size_t cap, size_t *n_out, char *err, size_t err_len);
/*
 * As sluice_tokenize without BOS, and with the vocabulary's special tokens written as text
 * ("<|im_end|>") becoming those tokens: for rendered chat text.  Errors as sluice_tokenize.
 */
SLUICE_API int sluice_tokenize_special(const struct sluice_model *model, const char *text, size_t len,
				       int32_t *tokens, size_t cap, size_t *n_out, char *err, size_t err_len);
/*
 * Does token end a reply: the vocabulary's end of generation (eos, eot, eom) or an end-of-turn
 * token of the model's chat template (tmpl as for sluice_chat_render)?  false for NULL model.
 */
SLUICE_API bool sluice_token_is_eot(const struct sluice_model *model, const char *tmpl, int32_t token);

#ifdef __cplusplus
}
#endif
#endif
