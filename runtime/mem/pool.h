/* SPDX-License-Identifier: MIT */
/*
 * runtime/mem/pool.h — the pinned host staging pool.
 *
 * Weights read from storage land here before they are used (cpu) or copied to the device
 * (cuda).  The pool hands out page-aligned buffers carved from large slabs:
 *  - slabs are 2 MiB-aligned anonymous mappings (huge pages where the kernel agrees),
 *    mlock'ed so neither DMA from NVMe nor a later cuMemcpyHtoDAsync meets a swapped page.
 *    When mlock is refused (RLIMIT_MEMLOCK) the pool says so once and goes on unlocked;
 *    sl_pool_notice() and the stats record it.
 *  - the byte budget (--host-cache) caps what is handed out: an allocation beyond it fails
 *    with -ENOMEM, it never silently grows.
 *  - each slab is registered with an attached io as a region (io_uring makes it a fixed
 *    buffer: READ_FIXED skips per-request page pinning; a VFIO engine maps it for DMA) and
 *    passed to the register hook (a CUDA backend calls cuMemHostRegister there).
 * Not thread-safe: the cache that owns the pool serialises calls.
 */
#ifndef SLUICE_POOL_H
#define SLUICE_POOL_H

#include "internal.h"

struct sl_io;
struct sl_pool;

struct sl_pool_hooks {
	/* Called for each new slab / before a slab is unmapped.  A failing register is
	 * recorded in the notice and ignored (the backend copies from pageable memory). */
	int (*register_slab)(void *ctx, void *base, size_t len);
	void (*unregister_slab)(void *ctx, void *base, size_t len);
	void *ctx;
};

struct sl_pool_config {
	uint64_t budget;     /* bytes handed out at most; required (> 0) */
	uint64_t slab_size;  /* 0 → budget/64 clamped to [64 MiB, 1 GiB]; rounded to 2 MiB */
	bool no_lock;        /* do not mlock (tests, or when the caller knows it cannot) */
	bool small_pages;    /* no MADV_HUGEPAGE: 4 KiB pages (benchmark parity with fio) */
	struct sl_pool_hooks hooks;
};

struct sl_pool_stats {
	uint64_t budget;
	uint64_t in_use;     /* bytes handed out now (rounded to pages) */
	uint64_t peak;       /* most in_use ever */
	uint64_t reserved;   /* bytes of slabs mapped */
	uint64_t allocs, frees, failures;
	unsigned slabs;
	bool locked;         /* every slab is mlock'ed */
};

int sl_pool_create(const struct sl_pool_config *cfg, struct sl_pool **out, struct sl_err *err);
void sl_pool_destroy(struct sl_pool *pool);

/* A page-aligned buffer of at least size bytes; -ENOMEM beyond the budget. */
int sl_pool_alloc(struct sl_pool *pool, uint64_t size, void **out, struct sl_err *err);
void sl_pool_free(struct sl_pool *pool, void *p);
/* Unmap slabs nothing is allocated from (memory pressure: give the memory back now). */
void sl_pool_trim(struct sl_pool *pool);

/* Register every slab, now and later, as a region of io (sl_io_mem_register), so reads can
 * land in pool buffers.  One io at a time; detach (or destroy the pool) before closing it. */
int sl_pool_attach_io(struct sl_pool *pool, struct sl_io *io, struct sl_err *err);
void sl_pool_detach_io(struct sl_pool *pool);

void sl_pool_get_stats(const struct sl_pool *pool, struct sl_pool_stats *out);
/* One line on what the pool could not do (mlock, a hook), "" if nothing. */
const char *sl_pool_notice(const struct sl_pool *pool);

#endif
