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
 *     in as parameters (the sluice command maps its SLUICE_* variables to them).
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

/* The library's version, "MAJOR.MINOR.PATCH" (pkg-config --modversion sluice gives the same). */
SLUICE_API const char *sluice_version(void);

/* 0 quiet (default), 1 errors, 2 warnings, 3 info, 4 debug; messages go to stderr. */
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
	const char *backend;     /* "cpu" (default), "cpu-async", "cpu-async-zc" (test modes) */
	const char *io_engine;   /* "auto" (default), "uring", "pread", "mmap" */
	uint64_t vram_budget;    /* bytes of device memory for weights; 0 = unlimited */
	uint64_t host_cache;     /* bytes of host cache for streamed weights; 0 = unlimited */
	int lookahead;           /* layers prefetched ahead of compute; 0 = default */
	int n_threads;           /* compute threads; 0 = number of CPUs */
	const char *pressure;    /* memory-pressure source while streaming: "auto" (default: /dev/sluice,
				  * else PSI, else none), "dev", "psi", "inject" (tests), "none" */
	const char *io_fault;    /* fault injection for the I/O engine, for tests: a spec such as "eio@3";
				  * NULL (default) or "" = none.  The sluice command takes it from
				  * $SLUICE_IO_FAULT. */
	uint32_t flags;          /* reserved, 0 */
	uint32_t reserved;
};

/* Fill p with defaults. */
SLUICE_API void sluice_model_params_init(struct sluice_model_params *p);

/*
 * Open a GGUF model.  On failure returns a negative errno and, when err is not
 * NULL, writes a message naming the file and the problem into err.
 */
SLUICE_API int sluice_model_load(const char *path, const struct sluice_model_params *params,
				 struct sluice_model **out, char *err, size_t err_len);
SLUICE_API void sluice_model_free(struct sluice_model *model);
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
};
SLUICE_API int sluice_model_get_info(const struct sluice_model *model, struct sluice_model_info *out);

/* ---- tokens ---- */

/*
 * Tokenize text.  Writes at most cap tokens and sets *n_out to the number the
 * text needs; returns -ENOSPC when that is more than cap.
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
	uint32_t n_ctx;          /* 0 = min(model's training context, 4096) */
	uint32_t flags;
};
SLUICE_API void sluice_ctx_params_init(struct sluice_ctx_params *p);
SLUICE_API int sluice_ctx_new(struct sluice_model *model, const struct sluice_ctx_params *params,
			      struct sluice_ctx **out, char *err, size_t err_len);
SLUICE_API void sluice_ctx_free(struct sluice_ctx *ctx);
SLUICE_API const char *sluice_ctx_error(const struct sluice_ctx *ctx);

/*
 * Run tokens through the model at the current position, advancing it.  On
 * success *logits (may be NULL) points at n_vocab floats for the last token,
 * valid until the next call.  -ENOSPC when the context is full.
 */
SLUICE_API int sluice_decode(struct sluice_ctx *ctx, const int32_t *tokens, size_t n, const float **logits);

/* Forget the sequence (position back to 0). */
SLUICE_API void sluice_ctx_reset(struct sluice_ctx *ctx);

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
};
SLUICE_API int sluice_ctx_get_stats(const struct sluice_ctx *ctx, struct sluice_stats *out);

#ifdef __cplusplus
}
#endif
#endif
