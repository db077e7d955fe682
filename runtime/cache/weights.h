/* SPDX-License-Identifier: MIT */
/*
 * runtime/cache/weights.h — the weight store: the only way model code reaches
 * tensor data.
 *
 * Model code registers each tensor it needs (with the layer it belongs to),
 * then during a forward pass brackets every use with acquire/release.  acquire
 * returns a pointer in backend (device) memory and blocks until the bytes are
 * there; release says the kernel is done with them, so they may be evicted.
 * begin_layer(l) tells the store where compute is, so it can prefetch ahead.
 *
 * Nothing here knows about transformers; nothing in model/ knows about files.
 */
#ifndef SLUICE_WEIGHTS_H
#define SLUICE_WEIGHTS_H

#include "backend/backend.h"
#include "gguf.h"

struct sl_weights;

struct sl_weights_config {
	const char *io_engine;   /* "auto", "uring", "pread", "mmap" */
	const char *io_fault;    /* I/O fault spec (runtime/io/fault.c), NULL: none */
	uint64_t host_cache;     /* bytes; 0 = unlimited */
	int lookahead;           /* layers to prefetch ahead; 0 = default */
	uint64_t vram;           /* device bytes for weights (resident + streamed); 0 = unlimited */
	const char *io_fault;    /* fault-injection spec for the I/O engine (tests); NULL = none */
};

struct sl_weights_stats {
	uint64_t bytes_read;
	uint64_t io_wait_ns;
	uint64_t io_busy_ns;
	uint64_t hits, misses;
	uint64_t host_peak;
	uint64_t device_resident; /* bytes placed permanently in device memory */
	uint64_t shrink_events;
};

int sl_weights_new(struct gguf_file *f, struct sl_backend *be, const struct sl_weights_config *cfg,
		   struct sl_weights **out, struct sl_err *err);
void sl_weights_free(struct sl_weights *w);

/* Register a tensor (or a byte range of one: [off, off+size) inside it; size 0 = whole). layer -1 = global.
 * Returns an id >= 0 or -errno. */
int sl_weights_add(struct sl_weights *w, const struct gguf_tensor *t, int layer, uint64_t off, uint64_t size,
		   struct sl_err *err);
/* All tensors registered: plan placement and load what stays resident. */
int sl_weights_commit(struct sl_weights *w, int n_layers, struct sl_err *err);

int sl_weights_acquire(struct sl_weights *w, int id, const void **dev, struct sl_err *err);
void sl_weights_release(struct sl_weights *w, int id);
void sl_weights_begin_layer(struct sl_weights *w, int layer);
void sl_weights_get_stats(const struct sl_weights *w, struct sl_weights_stats *out);
/* Lower the host-cache budget to at most `bytes` (memory-pressure response). Safe from any thread:
 * it takes effect at the next acquire on the model's thread. */
void sl_weights_shrink(struct sl_weights *w, uint64_t bytes);
uint64_t sl_weights_host_used(const struct sl_weights *w);
uint64_t sl_weights_host_budget(const struct sl_weights *w);
/* The least host cache streaming can work with (one layer's reads). */
uint64_t sl_weights_host_min(const struct sl_weights *w);
/* True when some weights are not resident on the device (so they stream). */
bool sl_weights_streaming(const struct sl_weights *w);
/* The I/O engine in use ("uring", "pread", "mmap") and why "auto" fell back, if it did ("" if not). */
const char *sl_weights_io_engine(const struct sl_weights *w);
const char *sl_weights_io_notice(const struct sl_weights *w);

#endif
