/* SPDX-License-Identifier: MIT */
/*
 * runtime/cache/arena.h — a first-fit range allocator over one device allocation.
 *
 * The device tier takes its memory from the backend once (one allocation for the resident
 * weights, one for the streaming window) and carves units out of it here, rather than calling
 * the backend's allocator per unit: a GPU allocator call costs microseconds to milliseconds and
 * may synchronise the device, and per-unit frees on the CPU handed multi-MiB buffers back to the
 * kernel only to fault them in again a layer later.  The arena deals in offsets; it never
 * touches the memory, so the same code serves device and host ranges and is tested without
 * either.  Free ranges are kept sorted by offset and coalesced on free.
 */
#ifndef SLUICE_ARENA_H
#define SLUICE_ARENA_H

#include "internal.h"

struct sl_arena_range {
	uint64_t off, len;
};

struct sl_arena {
	uint64_t size, align, used;
	struct sl_arena_range *free; /* sorted by off, never adjacent (coalesced) */
	int n_free, cap_free;
};

/* An arena of size bytes; every allocation is rounded up to align (a power of two). */
int sl_arena_init(struct sl_arena *a, uint64_t size, uint64_t align);
void sl_arena_destroy(struct sl_arena *a);
/* First fit: 0 and *off, or -ENOMEM when no free range is large enough (however many bytes are free). */
int sl_arena_alloc(struct sl_arena *a, uint64_t len, uint64_t *off);
/* Give back [off, off+len) exactly as allocated (len as passed to alloc). */
void sl_arena_free(struct sl_arena *a, uint64_t off, uint64_t len);
/* The largest free range, for messages and for deciding whether evicting more can help. */
uint64_t sl_arena_largest_free(const struct sl_arena *a);

#endif
