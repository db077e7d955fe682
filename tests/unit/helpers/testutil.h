/* SPDX-License-Identifier: MIT */
/* tests/unit/helpers/testutil.h — checks, scratch files and a raw GGUF byte builder for unit tests. */
#ifndef SLUICE_TESTUTIL_H
#define SLUICE_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int t_failures;

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
			t_failures++;                                                        \
		}                                                                            \
	} while (0)

#define CHECK_MSG(cond, ...)                                                                 \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                        \
			fputc('\n', stderr);                                                 \
			t_failures++;                                                        \
		}                                                                            \
	} while (0)

/* Exit 77 with a reason. */
_Noreturn void t_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Exit 0 if no check failed, else 1. */
int t_done(void);

/* A path for a scratch file ($SLUICE_TMP or /var/tmp), unique to this process; static buffer per call slot. */
const char *t_tmp_path(const char *name);
/* The whole file, with a NUL after it (text can be used as a string); *len (may be NULL) gets its
 * size.  NULL when it cannot be read whole. */
void *t_read_file(const char *path, size_t *len);
/* The file DIR/NAME+EXT (the reference tests' exchange with their Python halves): write n bytes
 * (0, or -1 on any error), or read it whole as t_read_file does (NULL, *n 0, when it cannot). */
int t_write_dir_file(const char *dir, const char *name, const char *ext, const void *p, size_t n);
void *t_read_dir_file(const char *dir, const char *name, const char *ext, size_t *n);
/* Load a model with 2 threads and no pressure monitor on backend, resident, or streamed (--vram 2M
 * --host-cache 6M); a failure is a failed check (NULL). */
struct sluice_model;
struct sluice_model *t_load_model(const char *path, const char *backend, bool streamed);
/* Load path with mp and make a context of n_ctx tokens: 0, or -1 after printing "FAIL: load|ctx
 * PATH: why" (nothing left open). */
struct sluice_model_params;
struct sluice_ctx;
int t_open_model(const char *path, const struct sluice_model_params *mp, uint32_t n_ctx, struct sluice_model **m,
		 struct sluice_ctx **c);
/* The folder of shared test models; NULL when absent. */
const char *t_models_dir(void);
/* A model path inside it, or t_skip() when the folder is absent. */
const char *t_model(const char *file);

/* Logits against a reference: max |a[i]|; max |a - b| / max |b| (infinite when a has a NaN or an
 * infinity); the index of the largest (the first of equals). */
double t_max_abs(const float *a, size_t n);
double t_rel_diff(const float *a, const float *b, size_t n);
int32_t t_argmax(const float *l, size_t n);
/* Before the first t_run_ref: t_skip() without python3, numpy and gguf; exit 1 when script is not
 * there (the test runs from the repository root). */
void t_need_ref(const char *script);
/* A numpy reference (a tests/ref script) on toks[0..n): runs `python3 SCRIPT OPTS 'MODEL' 'OUT' TOKENS...`
 * (OPTS from opts_fmt, quoted by the caller), echoes its output indented, and returns the n x n_vocab
 * logits it wrote to OUT (malloc'd), or NULL after saying why.  t_skip() with the script's first
 * line when it exits 77 (numpy or gguf missing). */
float *t_run_ref(const char *script, const char *model, const int32_t *toks, size_t n, size_t n_vocab,
		 const char *opts_fmt, ...) __attribute__((format(printf, 6, 7)));

/* Raw bytes, for crafting GGUF files by hand (including broken ones). */
struct t_buf {
	uint8_t *p;
	size_t len, cap;
};
void tb_bytes(struct t_buf *b, const void *d, size_t n);
void tb_u32(struct t_buf *b, uint32_t v);
void tb_u64(struct t_buf *b, uint64_t v);
void tb_str(struct t_buf *b, const char *s);
/* A key with a u32 value. */
void tb_kv_u32(struct t_buf *b, const char *key, uint32_t v);
void tb_kv_str(struct t_buf *b, const char *key, const char *v);
/* Header: magic, version, counts. */
void tb_header(struct t_buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv);
/* Tensor info with n_dims dims. */
void tb_tensor(struct t_buf *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
	       uint64_t offset);
void tb_pad(struct t_buf *b, size_t align);
/* Write to a scratch file; returns its path. */
const char *tb_write(struct t_buf *b, const char *name);
void tb_free(struct t_buf *b);

/* Open path with the GGUF reader and expect failure whose message contains every needle (NULL-terminated). */
void t_expect_gguf_error(const char *path, ...);

#endif
