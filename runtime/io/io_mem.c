/* SPDX-License-Identifier: MIT */
/*
 * runtime/io/io_mem.c — registered memory: the only places reads may land.
 *
 * Why registration is mandatory: a userspace NVMe engine (VFIO) can only DMA into memory
 * it mapped into the IOMMU beforehand, and io_uring reads fixed buffers without pinning
 * pages per request.  A "read anywhere, fall back when unregistered" promise cannot be kept
 * by the first and wastes the second, so sl_io_submit refuses buffers outside a region.
 *
 * Regions are few (staging slabs, a bounce buffer, the resident tensors at load) and live
 * long; they are kept in an array sorted by address, so finding the region of a buffer on
 * submit is a binary search with no allocation.  The array belongs to the consumer thread
 * (the I/O thread never looks up regions: requests carry theirs).
 */
#include "io/io_priv.h"

#include <stdlib.h>
#include <string.h>

/* Index of the first region whose base is above p. */
static unsigned upper(const struct sl_io *io, const void *p)
{
	unsigned lo = 0, hi = io->nmems;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if ((const char *)io->mems[mid]->base <= (const char *)p)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct sl_io_mem *sl_io_mem_find(const struct sl_io *io, const void *p, uint64_t len)
{
	unsigned i = upper(io, p);
	if (!i)
		return NULL;
	struct sl_io_mem *m = io->mems[i - 1];
	uint64_t off = (uint64_t)((const char *)p - (const char *)m->base);
	return off <= m->len && len <= m->len - off ? m : NULL;
}

int sl_io_mem_register(struct sl_io *io, void *base, size_t len, struct sl_io_mem **out,
		       struct sl_err *err)
{
	struct sl_io_engine *e = io->eng;
	*out = NULL;
	uint64_t end;
	if (!base || !len || sl_add_overflow_u64((uintptr_t)base, len, &end))
		return sl_errf(err, EINVAL, "%s: registering an empty or wrapping region %p+%zu",
			       e->path, base, len);
	unsigned i = upper(io, base);
	const struct sl_io_mem *prev = i ? io->mems[i - 1] : NULL, *next = i < io->nmems ? io->mems[i] : NULL;
	if ((prev && (char *)prev->base + prev->len > (char *)base) ||
	    (next && (uintptr_t)next->base < end))
		return sl_errf(err, EINVAL, "%s: region %p+%zu overlaps registered memory at %p", e->path,
			       base, len, prev && (char *)prev->base + prev->len > (char *)base ? prev->base : next->base);
	if (io->nmems == io->capmems) {
		unsigned cap = io->capmems ? io->capmems * 2 : 16;
		struct sl_io_mem **v = realloc(io->mems, cap * sizeof(*v));
		if (!v)
			return sl_errf(err, ENOMEM, "out of memory");
		io->mems = v;
		io->capmems = cap;
	}
	struct sl_io_mem *m = calloc(1, sizeof(*m));
	if (!m)
		return sl_errf(err, ENOMEM, "out of memory");
	m->base = base;
	m->len = len;
	m->iova = (uintptr_t)base; /* kernel engines: the device address is the address */
	m->slot = -1;
	if (e->ops->mem_register) {
		int r = e->ops->mem_register(e, m, err);
		if (r < 0) {
			free(m);
			return r;
		}
	}
	memmove(&io->mems[i + 1], &io->mems[i], (io->nmems - i) * sizeof(*io->mems));
	io->mems[i] = m;
	io->nmems++;
	*out = m;
	return 0;
}

static void mem_drop(struct sl_io *io, unsigned i)
{
	struct sl_io_mem *m = io->mems[i];
	if (io->eng->ops->mem_unregister)
		io->eng->ops->mem_unregister(io->eng, m);
	memmove(&io->mems[i], &io->mems[i + 1], (io->nmems - i - 1) * sizeof(*io->mems));
	io->nmems--;
	free(m);
}

void sl_io_mem_unregister(struct sl_io *io, struct sl_io_mem *m)
{
	if (!m)
		return;
	unsigned i = upper(io, m->base);
	if (!i || io->mems[i - 1] != m) {
		sl_warn("io: unregistering a region that is not registered (%p)", m->base);
		return;
	}
	pthread_mutex_lock(&io->mu);
	unsigned busy = m->reqs;
	pthread_mutex_unlock(&io->mu);
	if (busy) /* a caller bug: the reads would land in memory the engine no longer knows */
		sl_warn("io: %s: unregistering %p+%zu with %u reads into it outstanding",
			io->eng->path, m->base, m->len, busy);
	if (m == io->bounce_mem)
		io->bounce_mem = NULL;
	mem_drop(io, i - 1);
}

void sl_io_mem_free_all(struct sl_io *io)
{
	while (io->nmems)
		mem_drop(io, io->nmems - 1);
	free(io->mems);
	io->mems = NULL;
	io->capmems = 0;
	io->bounce_mem = NULL;
	free(io->bounce);
	io->bounce = NULL;
}
