/* SPDX-License-Identifier: MIT */
/* runtime/cache/arena.c — first-fit range allocator with coalescing (see arena.h). */
#include "cache/arena.h"

#include <stdlib.h>
#include <string.h>

int sl_arena_init(struct sl_arena *a, uint64_t size, uint64_t align)
{
	memset(a, 0, sizeof(*a));
	if (!align || (align & (align - 1)))
		return -EINVAL;
	a->size = size / align * align;
	a->align = align;
	a->cap_free = 16;
	a->free = malloc((size_t)a->cap_free * sizeof(*a->free));
	if (!a->free)
		return -ENOMEM;
	if (a->size) {
		a->free[0] = (struct sl_arena_range){ 0, a->size };
		a->n_free = 1;
	}
	return 0;
}

void sl_arena_destroy(struct sl_arena *a)
{
	free(a->free);
	memset(a, 0, sizeof(*a));
}

int sl_arena_alloc(struct sl_arena *a, uint64_t len, uint64_t *off)
{
	len = SL_ALIGN_UP(SL_MAX(len, 1u), a->align);
	for (int i = 0; i < a->n_free; i++) {
		struct sl_arena_range *r = &a->free[i];
		if (r->len < len)
			continue;
		*off = r->off;
		r->off += len;
		r->len -= len;
		if (!r->len) {
			memmove(r, r + 1, (size_t)(a->n_free - i - 1) * sizeof(*r));
			a->n_free--;
		}
		a->used += len;
		return 0;
	}
	return -ENOMEM;
}

void sl_arena_free(struct sl_arena *a, uint64_t off, uint64_t len)
{
	len = SL_ALIGN_UP(SL_MAX(len, 1u), a->align);
	a->used -= len;
	int i = 0; /* first free range after off */
	while (i < a->n_free && a->free[i].off < off)
		i++;
	bool join_prev = i > 0 && a->free[i - 1].off + a->free[i - 1].len == off;
	bool join_next = i < a->n_free && off + len == a->free[i].off;
	if (join_prev && join_next) {
		a->free[i - 1].len += len + a->free[i].len;
		memmove(&a->free[i], &a->free[i + 1], (size_t)(a->n_free - i - 1) * sizeof(*a->free));
		a->n_free--;
	} else if (join_prev) {
		a->free[i - 1].len += len;
	} else if (join_next) {
		a->free[i].off = off;
		a->free[i].len += len;
	} else {
		if (a->n_free == a->cap_free) {
			struct sl_arena_range *n = realloc(a->free, (size_t)a->cap_free * 2 * sizeof(*n));
			if (!n) { /* cannot record it: the range is lost to this arena, not corrupted */
				return;
			}
			a->free = n;
			a->cap_free *= 2;
		}
		memmove(&a->free[i + 1], &a->free[i], (size_t)(a->n_free - i) * sizeof(*a->free));
		a->free[i] = (struct sl_arena_range){ off, len };
		a->n_free++;
	}
}

uint64_t sl_arena_largest_free(const struct sl_arena *a)
{
	uint64_t m = 0;
	for (int i = 0; i < a->n_free; i++)
		m = SL_MAX(m, a->free[i].len);
	return m;
}
