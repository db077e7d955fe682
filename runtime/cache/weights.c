/* SPDX-License-Identifier: MIT */
/*
 * runtime/cache/weights.c — the tiered weight store.
 *
 * Every registered unit (a tensor, or a byte range of one: an expert's slice)
 * lives in one of three places:
 *
 *   device-resident   read once at commit, never evicted (placement plan:
 *                     global tensors first, then whole layers while they fit)
 *   device-streamed   a copy in the device stream area, evicted by policy
 *   host cache        a copy in host memory (--host-cache), evicted by policy
 *   storage           only in the file
 *
 * acquire() walks down the tiers and back up: storage → host (an io request)
 * → device (backend upload).  begin_layer(l) queues asynchronous reads for the
 * units of layers l+1 .. l+lookahead into the host tier, so the drive works
 * while the backend computes layer l; acquire() then only waits for what has
 * not arrived yet (counted as io_wait).
 *
 * Budgets: --vram bounds resident + streamed device bytes (the store does the
 * accounting, so the CPU backend, whose device memory is host memory, obeys
 * it exactly as a GPU would); --host-cache bounds host bytes, in-flight reads
 * included.  Memory pressure lowers the host budget at the next acquire.
 *
 * Single-threaded by design: only the thread running the model calls in
 * (shrink() may come from any thread; it only stores a number).
 */
#include "cache/weights.h"
#include "cache/lru.h"
#include "io/io.h"
#include "mem/pool.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_LOOKAHEAD 2

enum host_state { H_NONE, H_READING, H_READY };

struct unit {
	uint64_t file_offset, size;
	int layer;
	const char *name;
	/* device */
	bool resident;
	void *dev;              /* resident or streamed copy; NULL when not on the device */
	void *dev_base;         /* the allocation dev lies in (dev_base + skip when read in place) */
	uint64_t dev_len;
	int pins;
	/* host */
	enum host_state hstate;
	bool host_pinned;       /* placed in the host tier for good (until memory pressure) */
	void *hbuf;             /* aligned buffer of hlen bytes */
	uint64_t hlen;
	struct sl_io_mem *hmem; /* hbuf's I/O registration when it is not from the pool */
	struct sl_io_req req;
};

/*
 * Spare device allocations: the buffers of evicted streamed units, kept for the next unit of the
 * same size instead of being freed.  Streaming evicts and re-allocates every streamed byte once
 * per token; on the CPU backend a freed multi-MiB buffer goes back to the kernel (munmap) and the
 * next one is zero-filled a 4 KiB page fault at a time during the upload memcpy — measured at
 * about half of all decode CPU time, more than the matmuls (Documentation/performance.md,
 * "Streaming decode").  Layers repeat the same tensor sizes, so an exact-size spare almost always
 * exists; a GPU backend saves its allocator calls the same way.  Spares count against --vram
 * (dev_used + spare bytes <= budget), so device memory stays bounded exactly as before.
 */
struct spare {
	void *p;
	uint64_t len;
};

struct sl_weights {
	struct gguf_file *f;
	struct sl_backend *be;
	struct sl_weights_config cfg;
	struct sl_io *io;
	struct sl_pool *pool;    /* pinned staging memory of the host tier (when --host-cache is set) */
	bool zero_copy_map;      /* mmap engine: the page cache is the host tier */
	struct unit *u;
	int n, cap;
	int n_layers;
	int *layer_first, *layer_count; /* units of each layer (registered contiguously or not: index list) */
	int *layer_units;
	uint64_t vram_budget, dev_used;
	uint64_t host_budget, host_used;
	_Atomic uint64_t host_limit_req; /* pressure: requested host budget (0 = none pending) */
	struct sl_policy dev_pol, host_pol;
	struct spare *dev_spare; /* newest last */
	int n_spare, cap_spare;
	uint64_t spare_bytes;
	int cur_layer;
	bool streaming;
	uint64_t host_min;
	struct sl_weights_stats st;
	struct sl_err err;
};

static void spare_trim(struct sl_weights *w, uint64_t keep);

static void host_free_buf(struct sl_weights *w, struct unit *u)
{
	if (w->pool) {
		sl_pool_free(w->pool, u->hbuf);
	} else {
		sl_io_mem_unregister(w->io, u->hmem);
		u->hmem = NULL;
		free(u->hbuf);
	}
	u->hbuf = NULL;
}

int sl_weights_new(struct gguf_file *f, struct sl_backend *be, const struct sl_weights_config *cfg,
		   struct sl_weights **out, struct sl_err *err)
{
	struct sl_weights *w = calloc(1, sizeof(*w));
	if (!w)
		return sl_errf(err, ENOMEM, "out of memory");
	w->f = f;
	w->be = be;
	w->cfg = *cfg;
	if (w->cfg.lookahead <= 0)
		w->cfg.lookahead = DEFAULT_LOOKAHEAD;
	w->vram_budget = cfg->vram ? cfg->vram : UINT64_MAX;
	w->host_budget = cfg->host_cache ? cfg->host_cache : UINT64_MAX;
	w->cur_layer = -1;
	*out = w;
	return 0;
}

void sl_weights_free(struct sl_weights *w)
{
	if (!w)
		return;
	/* Drain reads still in flight before their buffers go away. */
	if (w->io) {
		struct sl_io_req *done[16];
		while (sl_io_outstanding(w->io) && sl_io_reap(w->io, 1, done, 16, NULL) > 0)
			;
	}
	for (int i = 0; i < w->n; i++) {
		struct unit *u = &w->u[i];
		if (u->dev)
			w->be->ops->free(w->be, u->dev_base, u->dev_len);
		if (u->hbuf)
			host_free_buf(w, u);
	}
	spare_trim(w, 0);
	free(w->dev_spare);
	if (w->pool)
		sl_pool_detach_io(w->pool);
	sl_io_close(w->io);
	sl_pool_destroy(w->pool);
	sl_policy_destroy(&w->dev_pol);
	sl_policy_destroy(&w->host_pol);
	free(w->layer_first);
	free(w->layer_count);
	free(w->layer_units);
	free(w->u);
	free(w);
}

int sl_weights_add(struct sl_weights *w, const struct gguf_tensor *t, int layer, uint64_t off, uint64_t size,
		   struct sl_err *err)
{
	if (!size)
		size = t->size - off;
	if (off > t->size || size > t->size - off)
		return sl_errf(err, EINVAL, "tensor '%s': range [%llu, +%llu) outside its %llu bytes", t->name.s,
			       (unsigned long long)off, (unsigned long long)size, (unsigned long long)t->size);
	if (w->n == w->cap) {
		int cap = w->cap ? 2 * w->cap : 64;
		struct unit *u = realloc(w->u, (size_t)cap * sizeof(*u));
		if (!u)
			return sl_errf(err, ENOMEM, "out of memory");
		w->u = u;
		w->cap = cap;
	}
	w->u[w->n] = (struct unit){ .file_offset = t->file_offset + off, .size = size, .layer = layer,
				    .name = t->name.s };
	return w->n++;
}

static double mib(uint64_t b)
{
	return (double)b / (1024.0 * 1024.0);
}

/* ---- device tier ---- */

/* Free spares, oldest first, until at most `keep` bytes remain. */
static void spare_trim(struct sl_weights *w, uint64_t keep)
{
	int i = 0;
	while (w->spare_bytes > keep && i < w->n_spare) {
		w->be->ops->free(w->be, w->dev_spare[i].p, w->dev_spare[i].len);
		w->spare_bytes -= w->dev_spare[i].len;
		i++;
	}
	if (i) /* dev_spare is NULL while nothing was ever kept */
		memmove(w->dev_spare, w->dev_spare + i, (size_t)(w->n_spare - i) * sizeof(*w->dev_spare));
	w->n_spare -= i;
}

static void spare_put(struct sl_weights *w, void *p, uint64_t len)
{
	if (w->n_spare == w->cap_spare) {
		int cap = w->cap_spare ? 2 * w->cap_spare : 16;
		struct spare *v = realloc(w->dev_spare, (size_t)cap * sizeof(*v));
		if (!v) { /* no room to remember it: just free it */
			w->be->ops->free(w->be, p, len);
			return;
		}
		w->dev_spare = v;
		w->cap_spare = cap;
	}
	w->dev_spare[w->n_spare++] = (struct spare){ p, len };
	w->spare_bytes += len;
}

/* A spare of exactly `len` bytes, newest first (the unit evicted last is usually the same tensor
 * one layer back); NULL if none. */
static void *spare_take(struct sl_weights *w, uint64_t len)
{
	for (int i = w->n_spare - 1; i >= 0; i--)
		if (w->dev_spare[i].len == len) {
			void *p = w->dev_spare[i].p;
			w->spare_bytes -= len;
			w->dev_spare[i] = w->dev_spare[--w->n_spare];
			return p;
		}
	return NULL;
}

static void dev_evict(struct sl_weights *w, int id)
{
	struct unit *u = &w->u[id];
	spare_put(w, u->dev_base, u->dev_len);
	u->dev = u->dev_base = NULL;
	w->dev_used -= u->size;
	w->dev_pol.ops->remove(&w->dev_pol, id);
}

/* Make room for `size` streamed bytes on the device, evicting unpinned streamed units. */
static int dev_reserve(struct sl_weights *w, uint64_t size)
{
	int v = w->dev_pol.ops->next_victim(&w->dev_pol, -1);
	while (w->dev_used + size > w->vram_budget && v >= 0) {
		int next = w->dev_pol.ops->next_victim(&w->dev_pol, v);
		if (!w->u[v].pins)
			dev_evict(w, v);
		v = next;
	}
	return w->dev_used + size > w->vram_budget ? -ENOMEM : 0;
}

static int dev_alloc(struct sl_weights *w, struct unit *u, struct sl_err *err)
{
	int rc = 0;
	if (!(u->dev_base = spare_take(w, u->size))) {
		/* No spare of this size: free others first, so used + spare bytes stay within --vram. */
		uint64_t need = w->dev_used + u->size;
		spare_trim(w, w->vram_budget > need ? w->vram_budget - need : 0);
		rc = w->be->ops->alloc(w->be, u->size, &u->dev_base);
	}
	u->dev = u->dev_base;
	u->dev_len = u->size;
	if (rc)
		return sl_errf(err, -rc, "cannot allocate %llu bytes of device memory for '%s'",
			       (unsigned long long)u->size, u->name);
	w->dev_used += u->size;
	return 0;
}

/* Queue an asynchronous read of a whole unit into buf (sized by sl_io_span; data lands at +skip). */
static int submit_unit_read(struct sl_weights *w, struct unit *u, void *buf, struct sl_err *err)
{
	memset(&u->req, 0, sizeof(u->req));
	u->req.offset = u->file_offset;
	u->req.len = u->size;
	u->req.buf = buf;
	u->req.user = u;
	struct sl_io_req *r = &u->req;
	return sl_io_submit(w->io, &r, 1, err);
}

/* ---- host tier ---- */

static void host_drop(struct sl_weights *w, int id)
{
	struct unit *u = &w->u[id];
	host_free_buf(w, u);
	w->host_used -= u->hlen;
	u->hlen = 0;
	u->hstate = H_NONE;
	u->host_pinned = false;
	w->host_pol.ops->remove(&w->host_pol, id);
}

/* Is `layer` in [lo, hi]?  lo > hi is a range that wraps past the last layer into the next token. */
static bool in_range(int layer, int lo, int hi)
{
	return lo <= hi ? layer >= lo && layer <= hi : layer >= lo || layer <= hi;
}

/* Evict ready host entries (not of the layers in [keep_lo, keep_hi]) until `size` more fits the budget. */
static bool host_make_room(struct sl_weights *w, uint64_t size, int keep_lo, int keep_hi)
{
	/* Unpinned entries first; pinned ones only when that is not enough (a budget lowered by
	 * memory pressure below what was pinned). */
	for (int pass = 0; pass < 2 && w->host_used + size > w->host_budget; pass++) {
		int v = w->host_pol.ops->next_victim(&w->host_pol, -1);
		while (w->host_used + size > w->host_budget && v >= 0) {
			int next = w->host_pol.ops->next_victim(&w->host_pol, v);
			struct unit *u = &w->u[v];
			if (u->hstate == H_READY && (pass || !u->host_pinned) &&
			    !in_range(u->layer, keep_lo, keep_hi))
				host_drop(w, v);
			v = next;
		}
	}
	return w->host_used + size <= w->host_budget;
}

static void apply_pressure(struct sl_weights *w)
{
	uint64_t lim = atomic_exchange(&w->host_limit_req, 0);
	if (!lim)
		return;
	w->st.shrink_events++;
	lim = SL_MAX(lim, w->host_min); /* below one layer, streaming cannot work at all */
	if (lim < w->host_budget)
		w->host_budget = lim;
	host_make_room(w, 0, w->cur_layer, w->cur_layer);
	if (w->pool)
		sl_pool_trim(w->pool); /* hand emptied slabs back to the system now */
}

/* Start reading unit id into the host tier. -ENOSPC when the budget has no room now. */
static int host_start_read(struct sl_weights *w, int id, int keep_lo, int keep_hi, struct sl_err *err)
{
	struct unit *u = &w->u[id];
	uint64_t a_off, a_len, skip;
	int rc = sl_io_span(w->io, u->file_offset, u->size, &a_off, &a_len, &skip);
	if (rc)
		return sl_errf(err, -rc, "'%s': bad file range", u->name);
	if (!host_make_room(w, a_len, keep_lo, keep_hi))
		return -ENOSPC;
	if (w->pool) {
		/* The budget has room, but the pool may be fragmented: evict until a piece fits. */
		while ((rc = sl_pool_alloc(w->pool, a_len, &u->hbuf, NULL)) == -ENOMEM) {
			uint64_t before = w->host_used;
			uint64_t saved = w->host_budget;
			w->host_budget = w->host_used ? w->host_used - 1 : 0; /* ask for one more eviction */
			host_make_room(w, 0, keep_lo, keep_hi);
			w->host_budget = saved;
			if (w->host_used == before)
				return -ENOSPC;
		}
		if (rc)
			return sl_errf(err, -rc, "host cache: cannot allocate a %llu-byte read buffer",
				       (unsigned long long)a_len);
	} else {
		u->hbuf = sl_aligned_alloc(SL_MAX(sl_io_mem_alignment(w->io), 64u), a_len);
		if (!u->hbuf)
			return sl_errf(err, ENOMEM, "out of memory for a %llu-byte read buffer",
				       (unsigned long long)a_len);
		/* reads land only in registered memory */
		if ((rc = sl_io_mem_register(w->io, u->hbuf, a_len, &u->hmem, err))) {
			free(u->hbuf);
			u->hbuf = NULL;
			return rc;
		}
	}
	u->hlen = a_len;
	w->host_used += a_len;
	if (w->host_used > w->st.host_peak)
		w->st.host_peak = w->host_used;
	rc = submit_unit_read(w, u, u->hbuf, err);
	if (rc) {
		host_drop(w, id);
		return rc;
	}
	u->hstate = H_READING;
	w->host_pol.ops->insert(&w->host_pol, id);
	w->st.bytes_read += u->size;
	return 0;
}

/* Reap completed reads; wait for at least `min`. A failed read is fatal for the model: report it. */
static int reap(struct sl_weights *w, unsigned min, struct sl_err *err)
{
	struct sl_io_req *done[32];
	struct sl_err e = { "" };
	int n = sl_io_reap(w->io, min, done, 32, &e);
	if (n < 0)
		return sl_errf(err, -n, "%s", e.msg);
	int rc = 0;
	for (int i = 0; i < n; i++) {
		struct unit *u = done[i]->user;
		if (done[i]->result < 0) {
			if (!rc)
				rc = sl_errf(err, (int)-done[i]->result, "%s: reading weights of '%s': %s", w->f->path,
					     u->name, e.msg[0] ? e.msg : strerror((int)-done[i]->result));
			host_drop(w, (int)(u - w->u));
			continue;
		}
		u->hstate = H_READY;
	}
	return rc;
}

/*
 * Queue reads for the next `lookahead` streamed layers after l, in compute order, wrapping into
 * the next token.  Layers with nothing to read (device-resident, or pinned in the host tier) are
 * skipped and not counted.  Counting them, as a plain l+1 .. l+lookahead did, left the drive
 * idle while compute went through a run of them (the pinned layers, then the resident ones at the
 * start of the next token), and the next streamed layer was requested only when compute was
 * lookahead layers away from it.
 */
static void prefetch(struct sl_weights *w, int l)
{
	if (!w->io || w->zero_copy_map || !w->streaming || w->n_layers <= 0)
		return;
	int found = 0;
	for (int k = 1; k < w->n_layers && found < w->cfg.lookahead; k++) {
		int layer = (l + k) % w->n_layers;
		bool streamed = false;
		for (int j = 0; j < w->layer_count[layer]; j++) {
			int id = w->layer_units[w->layer_first[layer] + j];
			struct unit *u = &w->u[id];
			if (u->resident || u->host_pinned)
				continue;
			streamed = true;
			if (u->dev || u->hstate != H_NONE)
				continue;
			struct sl_err e;
			int rc = host_start_read(w, id, l, layer, &e);
			if (rc)
				return; /* no room (or an error acquire will meet again): stop prefetching */
		}
		found += streamed;
	}
}

/* ---- placement ---- */

static int build_layer_index(struct sl_weights *w, int n_layers, struct sl_err *err)
{
	w->n_layers = n_layers;
	w->layer_first = calloc((size_t)n_layers + 1, sizeof(int));
	w->layer_count = calloc((size_t)n_layers + 1, sizeof(int));
	w->layer_units = malloc((size_t)(w->n ? w->n : 1) * sizeof(int));
	if (!w->layer_first || !w->layer_count || !w->layer_units)
		return sl_errf(err, ENOMEM, "out of memory");
	for (int i = 0; i < w->n; i++)
		if (w->u[i].layer >= 0 && w->u[i].layer < n_layers)
			w->layer_count[w->u[i].layer]++;
	for (int l = 1; l <= n_layers; l++)
		w->layer_first[l] = w->layer_first[l - 1] + w->layer_count[l - 1];
	int *fill = calloc((size_t)n_layers + 1, sizeof(int));
	if (!fill)
		return sl_errf(err, ENOMEM, "out of memory");
	for (int i = 0; i < w->n; i++) {
		int l = w->u[i].layer;
		if (l >= 0 && l < n_layers)
			w->layer_units[w->layer_first[l] + fill[l]++] = i;
	}
	free(fill);
	return 0;
}

static int read_unit_now(struct sl_weights *w, struct unit *u, void *dst, struct sl_err *err)
{
	/* Registered, dst is read in place when the engine's alignment allows; else sl_io_read
	 * goes through its bounce buffer. */
	struct sl_io_mem *m = NULL;
	int rc = sl_io_mem_register(w->io, dst, u->size, &m, err);
	if (!rc)
		rc = sl_io_read(w->io, u->file_offset, u->size, dst, err);
	sl_io_mem_unregister(w->io, m);
	if (rc)
		return rc;
	w->st.bytes_read += u->size;
	return 0;
}

static int make_resident(struct sl_weights *w, int id, struct sl_err *err)
{
	struct unit *u = &w->u[id];
	int rc = dev_alloc(w, u, err);
	if (rc)
		return rc;
	u->resident = true;
	w->st.device_resident += u->size;
	/* Host-visible device memory (the CPU backends) is host memory: read straight into it. */
	if (sl_backend_has(w->be, SL_BE_HOST_VISIBLE))
		return read_unit_now(w, u, u->dev, err);
	void *tmp = malloc(u->size);
	if (!tmp)
		return sl_errf(err, ENOMEM, "out of memory");
	rc = read_unit_now(w, u, tmp, err);
	/* tmp is freed below, so the (possibly queued) upload must have run first. */
	sl_fence f = 0;
	if (!rc && ((rc = w->be->ops->upload(w->be, u->dev, tmp, u->size)) ||
		    (rc = w->be->ops->fence(w->be, SL_Q_COPY, &f)) || (rc = w->be->ops->fence_sync(w->be, f))))
		rc = sl_errf(err, -rc, "uploading '%s' to the device failed: %s", u->name, w->be->err.msg);
	free(tmp);
	return rc;
}

/*
 * CPU backend: device memory is host memory, so read every resident unit straight into its
 * device allocation (sized to the aligned span, data at +skip), all requests queued at once
 * so the drive sees a deep queue for the whole load instead of one tensor at a time.
 */
static int load_resident_in_place(struct sl_weights *w, const int *ids, int n, struct sl_err *err)
{
	int rc = 0;
	/* reads land only in registered memory: each allocation is a region while it loads */
	struct sl_io_mem **mem = calloc((size_t)(n ? n : 1), sizeof(*mem));
	if (!mem)
		return sl_errf(err, ENOMEM, "out of memory");
	for (int i = 0; i < n && !rc; i++) {
		struct unit *u = &w->u[ids[i]];
		uint64_t a_off, a_len, skip;
		if ((rc = sl_io_span(w->io, u->file_offset, u->size, &a_off, &a_len, &skip)))
			break;
		if ((rc = w->be->ops->alloc(w->be, a_len, &u->dev_base))) {
			rc = sl_errf(err, -rc, "cannot allocate %llu bytes of device memory for '%s'",
				     (unsigned long long)a_len, u->name);
			break;
		}
		u->dev_len = a_len;
		u->resident = true;
		w->dev_used += u->size;
		w->st.device_resident += u->size;
		if ((rc = sl_io_mem_register(w->io, u->dev_base, a_len, &mem[i], err)))
			break;
		if ((rc = submit_unit_read(w, u, u->dev_base, err)))
			break;
	}
	/* Reap everything queued, even after an error, so no read lands in freed memory. */
	while (sl_io_outstanding(w->io)) {
		struct sl_io_req *done[64];
		struct sl_err e;
		int k = sl_io_reap(w->io, 1, done, 64, &e);
		if (k < 0) {
			if (!rc)
				rc = sl_errf(err, -k, "%s", e.msg);
			break;
		}
		for (int j = 0; j < k; j++) {
			struct unit *u = done[j]->user;
			if (done[j]->result < 0 && !rc)
				rc = sl_errf(err, (int)-done[j]->result, "%s: reading weights of '%s': %s", w->f->path,
					     u->name, e.msg);
			u->dev = done[j]->data;
			w->st.bytes_read += u->size;
		}
	}
	for (int i = 0; i < n; i++)
		sl_io_mem_unregister(w->io, mem[i]);
	free(mem);
	return rc;
}

int sl_weights_commit(struct sl_weights *w, int n_layers, struct sl_err *err)
{
	int rc;
	struct sl_io_config ioc = { .fault = w->cfg.io_fault };
	struct sl_io_source src = { .kind = SL_IO_SOURCE_FILE, .path = w->f->path };
	if ((rc = sl_io_open(w->cfg.io_engine ? w->cfg.io_engine : "auto", &src, &ioc, &w->io, err)))
		return rc;
	w->zero_copy_map = !strcmp(sl_io_engine_name(w->io), "mmap");
	if (w->host_budget != UINT64_MAX && !w->zero_copy_map) {
		/* The host tier's memory: pinned slabs under the --host-cache budget, registered with
		 * io_uring as fixed buffers (and later with the GPU driver by its backend). */
		struct sl_pool_config pc = { .budget = w->host_budget };
		if ((rc = sl_pool_create(&pc, &w->pool, err)) || (rc = sl_pool_attach_io(w->pool, w->io, err)))
			return rc;
		if (sl_pool_notice(w->pool)[0])
			sl_warn("%s", sl_pool_notice(w->pool));
	}
	if ((rc = build_layer_index(w, n_layers, err)) || (rc = sl_policy_init(&w->dev_pol, "lru", w->n)) ||
	    (rc = sl_policy_init(&w->host_pol, "lru", w->n)))
		return rc < 0 && !err->msg[0] ? sl_errf(err, -rc, "out of memory") : rc;

	uint64_t global = 0, total = 0, max_layer = 0, max_unit = 0;
	for (int i = 0; i < w->n; i++) {
		total += w->u[i].size;
		max_unit = SL_MAX(max_unit, w->u[i].size);
		if (w->u[i].layer < 0 || w->u[i].layer >= n_layers)
			global += w->u[i].size;
	}
	uint64_t max_layer_span = 0; /* host bytes of a layer: each unit's read rounded out to the alignment */
	for (int l = 0; l < n_layers; l++) {
		uint64_t b = 0, span = 0;
		for (int j = 0; j < w->layer_count[l]; j++) {
			const struct unit *u = &w->u[w->layer_units[w->layer_first[l] + j]];
			uint64_t a_off, a_len = u->size, skip;
			sl_io_span(w->io, u->file_offset, u->size, &a_off, &a_len, &skip);
			b += u->size;
			span += a_len;
		}
		max_layer = SL_MAX(max_layer, b);
		max_layer_span = SL_MAX(max_layer_span, span);
	}
	w->streaming = total > w->vram_budget;
	w->host_min = max_layer_span;
	/* Streaming needs device room for one layer, and host room for one layer (read, then uploaded). */
	uint64_t stream_min = max_layer;
	if (total > w->vram_budget && global + stream_min > w->vram_budget)
		return sl_errf(err, ENOMEM,
			       "--vram %.1f MiB is too small: this model needs at least %.1f MiB of device memory "
			       "(%.1f MiB of always-resident tensors + %.1f MiB to stream its largest layer)",
			       mib(w->vram_budget), mib(global + stream_min),
			       mib(global), mib(stream_min));
	if (total > w->vram_budget && !w->zero_copy_map && w->host_budget < max_layer_span)
		return sl_errf(err, ENOMEM,
			       "--host-cache %.1f MiB is too small: streaming this model needs at least %.1f MiB "
			       "(its largest layer)",
			       mib(w->host_budget), mib(max_layer_span));

	/* Placement: globals, then whole layers from the first, keeping room to stream the rest
	 * (lookahead+1 layers when that fits, one layer at least). */
	int *plan = malloc((size_t)(w->n ? w->n : 1) * sizeof(int)), n_plan = 0;
	if (!plan)
		return sl_errf(err, ENOMEM, "out of memory");
	uint64_t planned = 0;
	for (int i = 0; i < w->n; i++)
		if (total <= w->vram_budget || w->u[i].layer < 0 || w->u[i].layer >= n_layers) {
			plan[n_plan++] = i;
			planned += w->u[i].size;
		}
	if (total > w->vram_budget) {
		uint64_t want_stream = max_layer * (uint64_t)(w->cfg.lookahead + 1);
		uint64_t reserve = w->vram_budget - global >= want_stream + max_layer ? want_stream : stream_min;
		for (int l = 0; l < n_layers; l++) {
			uint64_t b = 0;
			for (int j = 0; j < w->layer_count[l]; j++)
				b += w->u[w->layer_units[w->layer_first[l] + j]].size;
			if (planned + b + reserve > w->vram_budget)
				break;
			for (int j = 0; j < w->layer_count[l]; j++)
				plan[n_plan++] = w->layer_units[w->layer_first[l] + j];
			planned += b;
		}
	}
	if (sl_backend_has(w->be, SL_BE_HOST_VISIBLE) && !w->zero_copy_map) {
		rc = load_resident_in_place(w, plan, n_plan, err);
	} else {
		rc = 0;
		for (int i = 0; i < n_plan && !rc; i++)
			rc = make_resident(w, plan[i], err);
	}
	free(plan);
	if (rc || total <= w->vram_budget)
		return rc;
	/* Host placement: a cyclic pass over the layers defeats LRU (every entry is evicted just before
	 * it is needed again), so keep whole layers pinned in the host tier, leaving room for a
	 * streaming window of lookahead+1 layers; only the rest is read every token.  The pinned
	 * layers are spread evenly over the layers not on the device rather than taken as one block:
	 * the window can only hold lookahead layers of reads ahead of compute, so a long run of
	 * layers with nothing to read idles the drive once the window is full, while a pinned layer
	 * every few streamed ones is covered by the prefetch (which skips pinned layers). */
	uint64_t pinned_host = 0;
	if (w->host_budget != UINT64_MAX && !w->zero_copy_map) {
		uint64_t window = max_layer_span * (uint64_t)(w->cfg.lookahead + 1);
		uint64_t room = w->host_budget > window ? w->host_budget - window : 0;
		int *cand = malloc((size_t)n_layers * sizeof(int)), m = 0;
		if (!cand)
			return sl_errf(err, ENOMEM, "out of memory");
		for (int l = 0; l < n_layers; l++) {
			bool on_device = false;
			for (int j = 0; j < w->layer_count[l]; j++)
				on_device |= w->u[w->layer_units[w->layer_first[l] + j]].resident;
			if (!on_device)
				cand[m++] = l;
		}
		/* As many layers as surely fit (each at most max_layer_span), at evenly spaced positions. */
		int p = max_layer_span ? (int)SL_MIN(room / max_layer_span, (uint64_t)m) : 0;
		for (int i = 0; i < p; i++) {
			int l = cand[(int)(((uint64_t)(2 * i + 1) * (uint64_t)m) / (2 * (uint64_t)p))];
			uint64_t span = 0;
			for (int j = 0; j < w->layer_count[l]; j++) {
				const struct unit *u = &w->u[w->layer_units[w->layer_first[l] + j]];
				uint64_t a_off, a_len = u->size, skip;
				sl_io_span(w->io, u->file_offset, u->size, &a_off, &a_len, &skip);
				span += a_len;
			}
			for (int j = 0; j < w->layer_count[l]; j++) {
				int id = w->layer_units[w->layer_first[l] + j];
				if ((rc = host_start_read(w, id, -2, -2, err))) {
					free(cand);
					return rc == -ENOSPC ? sl_errf(err, ENOMEM, "host cache placement failed") : rc;
				}
				w->u[id].host_pinned = true;
			}
			pinned_host += span;
		}
		free(cand);
		while (sl_io_outstanding(w->io))
			if ((rc = reap(w, 1, err)))
				return rc;
	}
	sl_info("host placement: %.1f MiB of layers pinned in the host cache", mib(pinned_host));
	sl_info("placement: %.1f MiB resident on the device, %.1f MiB streamed through a %.1f MiB host cache",
		mib(w->st.device_resident), mib(total - w->st.device_resident),
		(w->host_budget == UINT64_MAX ? 0 : mib(w->host_budget)));
	return 0;
}

/* ---- the hot path ---- */

int sl_weights_acquire(struct sl_weights *w, int id, const void **dev, struct sl_err *err)
{
	struct unit *u = &w->u[id];
	int rc;
	if (u->resident) {
		*dev = u->dev;
		w->st.hits++;
		return 0;
	}
	apply_pressure(w);
	if (u->dev) {
		u->pins++;
		w->dev_pol.ops->touch(&w->dev_pol, id);
		w->st.hits++;
		*dev = u->dev;
		return 0;
	}
	const void *src;
	if (w->zero_copy_map) {
		if ((rc = sl_io_map(w->io, u->file_offset, u->size, &src, err)))
			return rc;
		w->st.misses++;
		w->st.bytes_read += u->size; /* the page cache decides; count it as read */
	} else {
		if (u->hstate == H_READY) {
			w->st.hits++;
		} else {
			w->st.misses++;
			if (u->hstate == H_NONE) {
				rc = host_start_read(w, id, u->layer, u->layer, err);
				if (rc == -ENOSPC) /* everything else in the host tier is in flight: wait for it */
					while (rc == -ENOSPC && sl_io_outstanding(w->io)) {
						if ((rc = reap(w, 1, err)))
							return rc;
						rc = host_start_read(w, id, u->layer, u->layer, err);
					}
				if (rc == -ENOSPC)
					return sl_errf(err, ENOMEM, "host cache too small to read '%s' (%llu bytes)",
						       u->name, (unsigned long long)u->size);
				if (rc)
					return rc;
			}
			uint64_t t0 = sl_now_ns();
			while (u->hstate == H_READING)
				if ((rc = reap(w, 1, err)))
					return rc;
			w->st.io_wait_ns += sl_now_ns() - t0;
			if (u->hstate != H_READY)
				return sl_errf(err, EIO, "%s: reading weights of '%s' failed", w->f->path, u->name);
		}
		w->host_pol.ops->touch(&w->host_pol, id);
		src = u->req.data;
	}
	if (dev_reserve(w, u->size))
		return sl_errf(err, ENOMEM, "device memory budget exhausted streaming '%s' (%llu bytes; %.1f of %.1f MiB in use, all pinned)",
			       u->name, (unsigned long long)u->size, mib(w->dev_used),
			       mib(w->vram_budget));
	if ((rc = dev_alloc(w, u, err)))
		return rc;
	/* This store does not track the copy's fence: wait for it here, so src may be reused
	 * (the fenced store replaces this). */
	sl_fence f = 0;
	if ((rc = w->be->ops->upload(w->be, u->dev, src, u->size)) || (rc = w->be->ops->fence(w->be, SL_Q_COPY, &f)) ||
	    (rc = w->be->ops->fence_sync(w->be, f))) {
		dev_evict(w, id);
		return sl_errf(err, -rc, "uploading '%s' to the device failed: %s", u->name, w->be->err.msg);
	}
	w->dev_pol.ops->insert(&w->dev_pol, id);
	u->pins++;
	*dev = u->dev;
	/* Reap whatever else finished meanwhile, so buffers free up early. */
	if (!w->zero_copy_map && sl_io_outstanding(w->io) && (rc = reap(w, 0, err)))
		return rc;
	return 0;
}

void sl_weights_release(struct sl_weights *w, int id)
{
	struct unit *u = &w->u[id];
	if (!u->resident && u->pins > 0)
		u->pins--;
}

void sl_weights_begin_layer(struct sl_weights *w, int layer)
{
	w->cur_layer = layer;
	prefetch(w, layer);
}

void sl_weights_get_stats(const struct sl_weights *w, struct sl_weights_stats *out)
{
	*out = w->st;
	if (w->io) {
		struct sl_io_stats is;
		sl_io_get_stats(w->io, &is);
		out->io_busy_ns = is.busy_ns;
	}
}

void sl_weights_shrink(struct sl_weights *w, uint64_t bytes)
{
	atomic_store(&w->host_limit_req, bytes ? bytes : 1);
}

uint64_t sl_weights_host_used(const struct sl_weights *w)
{
	return w->host_used;
}

uint64_t sl_weights_host_budget(const struct sl_weights *w)
{
	return w->host_budget;
}

uint64_t sl_weights_host_min(const struct sl_weights *w)
{
	return w->host_min;
}

bool sl_weights_streaming(const struct sl_weights *w)
{
	return w->streaming;
}

const char *sl_weights_io_notice(const struct sl_weights *w)
{
	return w->io ? sl_io_notice(w->io) : "";
}

const char *sl_weights_io_engine(const struct sl_weights *w)
{
	return w->io ? sl_io_engine_name(w->io) : "none";
}
