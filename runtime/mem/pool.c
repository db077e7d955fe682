/* SPDX-License-Identifier: MIT */
/*
 * runtime/mem/pool.c — pinned staging pool: slabs, a first-fit page allocator inside them,
 * the budget, mlock, and the I/O / backend registration of each slab.
 *
 * Why slabs and not one mapping per buffer: registered I/O memory (io_uring fixed buffers,
 * a VFIO engine's IOMMU mappings) and cuMemHostRegister both cost a registration each and
 * have table limits; a few large slabs keep both cheap (one registration per slab, reads
 * into any buffer inside it use it).
 * The allocator is deliberately simple (sorted free extents per slab, first fit, coalesce
 * on free; live allocations in a flat array): the cache allocates per tensor, thousands of
 * buffers, not millions.
 */
#include "mem/pool.h"
#include "io/io.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#define PAGE 4096ull
#define SLAB_ALIGN (2ull << 20)
#define MAX_FIXED_LEN (1ull << 30) /* io_uring's limit for one fixed buffer */
/* Default slab size: the budget in this many slabs (io_uring has 64 fixed-buffer slots). */
#define TARGET_SLABS 64

struct extent {
	uint64_t off, len;
};

struct slab {
	char *base;
	uint64_t len;
	uint64_t used;
	struct extent *free;
	unsigned nfree, capfree;
	struct sl_io_mem *mem; /* its region in the attached io, NULL if none */
	bool registered; /* the hook accepted it */
};

struct alloc {
	char *p;
	uint64_t len;
	struct slab *slab;
};

struct sl_pool {
	struct sl_pool_config cfg;
	struct slab **slabs;
	unsigned nslabs, capslabs;
	struct alloc *allocs;
	size_t nallocs, capallocs;
	struct sl_pool_stats st;
	struct sl_io *io;
	char notice[256];
};

static void note(struct sl_pool *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct sl_pool *p, const char *fmt, ...)
{
	if (p->notice[0])
		return; /* one line: the first thing that went wrong */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->notice, sizeof(p->notice), fmt, ap);
	va_end(ap);
	sl_warn("%s", p->notice);
}

int sl_pool_create(const struct sl_pool_config *cfg, struct sl_pool **out, struct sl_err *err)
{
	if (!cfg || !cfg->budget)
		return sl_errf(err, EINVAL, "pool: a byte budget is required");
	struct sl_pool *p = calloc(1, sizeof(*p));
	if (!p)
		return sl_errf(err, ENOMEM, "out of memory");
	p->cfg = *cfg;
	uint64_t slab = cfg->slab_size;
	if (!slab)
		slab = SL_MIN(SL_MAX(cfg->budget / TARGET_SLABS, 64ull << 20), MAX_FIXED_LEN);
	p->cfg.slab_size = SL_ALIGN_UP(slab, SLAB_ALIGN);
	p->st.budget = cfg->budget;
	p->st.locked = !cfg->no_lock;
	*out = p;
	return 0;
}

/* Make the slab a target for reads of the attached io (reads land only in registered
 * memory, so a slab that cannot be registered is an error, not a notice). */
static int slab_register_io(struct sl_pool *p, struct slab *s, struct sl_err *err)
{
	if (!p->io || s->mem)
		return 0;
	return sl_io_mem_register(p->io, s->base, s->len, &s->mem, err);
}

static void slab_unregister_io(struct sl_pool *p, struct slab *s)
{
	if (s->mem && p->io)
		sl_io_mem_unregister(p->io, s->mem);
	s->mem = NULL;
}

static void slab_unmap(struct sl_pool *p, struct slab *s)
{
	slab_unregister_io(p, s);
	if (s->registered && p->cfg.hooks.unregister_slab)
		p->cfg.hooks.unregister_slab(p->cfg.hooks.ctx, s->base, s->len);
	munmap(s->base, s->len);
	p->st.reserved -= s->len;
	p->st.slabs--;
	free(s->free);
	free(s);
}

static struct slab *slab_new(struct sl_pool *p, uint64_t len, struct sl_err *err)
{
	struct slab *s = calloc(1, sizeof(*s));
	struct extent *ex = malloc(4 * sizeof(*ex));
	if (!s || !ex) {
		free(s);
		free(ex);
		sl_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	if (p->nslabs == p->capslabs) {
		unsigned cap = p->capslabs ? p->capslabs * 2 : 8;
		struct slab **n = realloc(p->slabs, cap * sizeof(*n));
		if (!n) {
			free(s);
			free(ex);
			sl_errf(err, ENOMEM, "out of memory");
			return NULL;
		}
		p->slabs = n;
		p->capslabs = cap;
	}
	/* over-map, then trim to a 2 MiB boundary so THP can back it */
	size_t map_len = len + SLAB_ALIGN;
	char *m = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		int e = errno;
		free(s);
		free(ex);
		sl_errf(err, e, "pool: mapping a %llu-byte slab: %s", (unsigned long long)len,
			strerror(e));
		return NULL;
	}
	char *base = (char *)SL_ALIGN_UP((uintptr_t)m, SLAB_ALIGN);
	if (base > m)
		munmap(m, (size_t)(base - m));
	if (base + len < m + map_len)
		munmap(base + len, (size_t)(m + map_len - (base + len)));
	/* Huge pages also make a 1 MiB read one physically contiguous DMA segment; with 4 KiB
	 * pages it is 256, more than some queues take (virtio-blk: 254), so it gets split. */
	if (!p->cfg.small_pages)
		madvise(base, len, MADV_HUGEPAGE);
	if (!p->cfg.no_lock && mlock(base, len) < 0) {
		int e = errno;
		struct rlimit rl = { 0, 0 };
		getrlimit(RLIMIT_MEMLOCK, &rl);
		note(p, "pool: mlock of staging buffers failed (%s; RLIMIT_MEMLOCK %llu bytes); continuing unlocked",
		     strerror(e), (unsigned long long)rl.rlim_cur);
		p->st.locked = false;
	}
	s->base = base;
	s->len = len;
	s->free = ex;
	s->capfree = 4;
	s->nfree = 1;
	ex[0] = (struct extent){ 0, len };
	if (p->cfg.hooks.register_slab) {
		int r = p->cfg.hooks.register_slab(p->cfg.hooks.ctx, base, len);
		if (r < 0)
			note(p, "pool: registering a slab with the backend failed (%s); it copies from pageable memory",
			     strerror(-r));
		s->registered = r >= 0;
	}
	p->slabs[p->nslabs++] = s;
	p->st.reserved += len;
	p->st.slabs++;
	if (slab_register_io(p, s, err) < 0) {
		slab_unmap(p, s);
		p->nslabs--;
		return NULL;
	}
	return s;
}

/* First fit inside one slab; returns the offset or UINT64_MAX. */
static uint64_t slab_take(struct slab *s, uint64_t len)
{
	for (unsigned i = 0; i < s->nfree; i++) {
		struct extent *e = &s->free[i];
		if (e->len < len)
			continue;
		uint64_t off = e->off;
		e->off += len;
		e->len -= len;
		if (!e->len) {
			memmove(e, e + 1, (s->nfree - i - 1) * sizeof(*e));
			s->nfree--;
		}
		s->used += len;
		return off;
	}
	return UINT64_MAX;
}

static int slab_give(struct slab *s, uint64_t off, uint64_t len)
{
	unsigned i = 0;
	while (i < s->nfree && s->free[i].off < off)
		i++;
	bool left = i > 0 && s->free[i - 1].off + s->free[i - 1].len == off;
	bool right = i < s->nfree && off + len == s->free[i].off;
	if (left && right) {
		s->free[i - 1].len += len + s->free[i].len;
		memmove(&s->free[i], &s->free[i + 1], (s->nfree - i - 1) * sizeof(*s->free));
		s->nfree--;
	} else if (left) {
		s->free[i - 1].len += len;
	} else if (right) {
		s->free[i].off = off;
		s->free[i].len += len;
	} else {
		if (s->nfree == s->capfree) {
			struct extent *n = realloc(s->free, s->capfree * 2 * sizeof(*n));
			if (!n)
				return -ENOMEM;
			s->free = n;
			s->capfree *= 2;
		}
		memmove(&s->free[i + 1], &s->free[i], (s->nfree - i) * sizeof(*s->free));
		s->free[i] = (struct extent){ off, len };
		s->nfree++;
	}
	s->used -= len;
	return 0;
}

/* Unmap slabs nothing is allocated from, to make room under the budget for a new one. */
static void release_empty(struct sl_pool *p)
{
	for (unsigned i = 0; i < p->nslabs;) {
		if (p->slabs[i]->used == 0) {
			slab_unmap(p, p->slabs[i]);
			p->slabs[i] = p->slabs[--p->nslabs];
		} else {
			i++;
		}
	}
}

void sl_pool_trim(struct sl_pool *p)
{
	release_empty(p);
}

int sl_pool_alloc(struct sl_pool *p, uint64_t size, void **out, struct sl_err *err)
{
	uint64_t len = SL_ALIGN_UP(SL_MAX(size, 1ull), PAGE);
	*out = NULL;
	if (size > p->cfg.budget || p->st.in_use + len > p->cfg.budget) {
		p->st.failures++;
		return sl_errf(err, ENOMEM,
			       "pool: %llu bytes more would pass the host cache budget of %llu (%llu in use)",
			       (unsigned long long)len, (unsigned long long)p->cfg.budget,
			       (unsigned long long)p->st.in_use);
	}
	if (p->nallocs == p->capallocs) {
		size_t cap = p->capallocs ? p->capallocs * 2 : 64;
		struct alloc *n = realloc(p->allocs, cap * sizeof(*n));
		if (!n)
			return sl_errf(err, ENOMEM, "out of memory");
		p->allocs = n;
		p->capallocs = cap;
	}
	struct slab *s = NULL;
	uint64_t off = UINT64_MAX;
	for (unsigned i = 0; i < p->nslabs && off == UINT64_MAX; i++) {
		off = slab_take(p->slabs[i], len);
		s = p->slabs[i];
	}
	if (off == UINT64_MAX) {
		/* slabs reserve at most the budget (rounded to 2 MiB) */
		uint64_t cap = SL_ALIGN_UP(p->cfg.budget, SLAB_ALIGN);
		uint64_t want = SL_MAX(p->cfg.slab_size, SL_ALIGN_UP(len, SLAB_ALIGN));
		if (p->st.reserved + want > cap)
			release_empty(p);
		if (p->st.reserved + want > cap)
			want = cap - p->st.reserved;
		if (want < len) {
			p->st.failures++;
			return sl_errf(err, ENOMEM,
				       "pool: no room for %llu bytes: %llu of the %llu-byte budget in use, the rest fragmented",
				       (unsigned long long)len, (unsigned long long)p->st.in_use,
				       (unsigned long long)p->cfg.budget);
		}
		s = slab_new(p, want, err);
		if (!s) {
			p->st.failures++;
			return -ENOMEM;
		}
		off = slab_take(s, len);
	}
	p->allocs[p->nallocs++] = (struct alloc){ s->base + off, len, s };
	p->st.in_use += len;
	p->st.peak = SL_MAX(p->st.peak, p->st.in_use);
	p->st.allocs++;
	*out = s->base + off;
	return 0;
}

void sl_pool_free(struct sl_pool *p, void *ptr)
{
	if (!ptr)
		return;
	for (size_t i = p->nallocs; i-- > 0;) {
		struct alloc *a = &p->allocs[i];
		if (a->p != ptr)
			continue;
		if (slab_give(a->slab, (uint64_t)(a->p - a->slab->base), a->len) < 0) {
			/* no memory to record the hole: leak it inside the slab rather than corrupt */
			note(p, "pool: out of memory while freeing; %llu bytes stay reserved",
			     (unsigned long long)a->len);
		}
		p->st.in_use -= a->len;
		p->st.frees++;
		*a = p->allocs[--p->nallocs];
		return;
	}
	sl_warn("pool: free of %p, which the pool did not hand out", ptr);
}

int sl_pool_attach_io(struct sl_pool *p, struct sl_io *io, struct sl_err *err)
{
	sl_pool_detach_io(p);
	p->io = io;
	for (unsigned i = 0; i < p->nslabs; i++) {
		int r = slab_register_io(p, p->slabs[i], err);
		if (r < 0) {
			sl_pool_detach_io(p);
			return r;
		}
	}
	return 0;
}

void sl_pool_detach_io(struct sl_pool *p)
{
	if (!p->io)
		return;
	for (unsigned i = 0; i < p->nslabs; i++)
		slab_unregister_io(p, p->slabs[i]);
	p->io = NULL;
}

void sl_pool_destroy(struct sl_pool *p)
{
	if (!p)
		return;
	sl_pool_detach_io(p);
	for (unsigned i = 0; i < p->nslabs; i++)
		slab_unmap(p, p->slabs[i]);
	free(p->slabs);
	free(p->allocs);
	free(p);
}

void sl_pool_get_stats(const struct sl_pool *p, struct sl_pool_stats *out)
{
	*out = p->st;
}

const char *sl_pool_notice(const struct sl_pool *p)
{
	return p->notice;
}
