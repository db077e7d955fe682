/* SPDX-License-Identifier: MIT */
/*
 * runtime/cache/weights.c — the weight store: unit registry, commit (placement, then loading),
 * and the hot path (prefetch, acquire, release).  See weights.h for the contract and store.h
 * for where a unit's bytes can be; the tiers live in host_tier.c and device_tier.c.
 *
 * One token's path for a streamed unit:
 *   prefetch   ranks the units the model names; reads the first ones that are not present into
 *              the host cache as far as the budget allows without evicting anything needed sooner;
 *              on a backend that cannot read host memory, also starts uploads of ready units
 *              into the device window the same way.  The I/O layer's thread keeps the drive busy.
 *   acquire    waits (io_wait) for what has not arrived, uploads if needed, and makes the compute
 *              queue wait for the upload; returns the pointer compute reads.
 *   release    records the last-use fence; the buffer is reused only after it.
 */
#include "cache/store.h"
#include "trace.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_WINDOW_STEPS 2
/* A prefetch makes room only by evicting units the list does not name (or host copies of units
 * already on the device).  Evicting a named unit for one named earlier would be Belady's choice on
 * demand, but ahead of time it only means reading the evicted unit twice in one pass. */
#define PREFETCH_RANK (RANK_NONE - 1)

int sl_weights_new(struct gguf_file *f, struct sl_backend *be, const struct sl_weights_config *cfg,
		   struct sl_weights **out, struct sl_err *err)
{
	struct sl_weights *w = calloc(1, sizeof(*w));
	if (!w)
		return sl_errf(err, ENOMEM, "out of memory");
	w->f = f;
	w->be = be;
	w->cfg = *cfg;
	w->host_visible = sl_backend_has(be, SL_BE_HOST_VISIBLE);
	w->vram_budget = cfg->vram ? cfg->vram : UINT64_MAX;
	w->host_budget = cfg->host_cache ? cfg->host_cache : UINT64_MAX;
	sl_host_publish(w);
	*out = w;
	return 0;
}

void sl_weights_free(struct sl_weights *w)
{
	if (!w)
		return;
	if (w->stages) { /* a router holds no memory of its own beyond its registry */
		sl_stages_free(w);
		free(w->u);
		free(w);
		return;
	}
	/* Drain reads still in flight and kernels still queued before their buffers go away. */
	if (w->io) {
		struct sl_io_req *done[16];
		while (sl_io_outstanding(w->io) && sl_io_reap(w->io, 1, done, 16, NULL) > 0)
			;
	}
	w->be->ops->sync(w->be);
	for (int i = 0; i < w->n; i++)
		if (w->u[i].hbuf)
			sl_pool_free(w->pool, w->u[i].hbuf);
	sl_dev_teardown(w);
	if (w->pool)
		sl_pool_detach_io(w->pool);
	sl_io_close(w->io);
	sl_pool_destroy(w->pool);
	sl_moe_free(w);
	sl_policy_destroy(&w->dev_pol);
	sl_policy_destroy(&w->host_pol);
	sl_policy_destroy(&w->dev_epol);
	sl_policy_destroy(&w->host_epol);
	sl_place_plan_free(&w->plan);
	free(w->u);
	free(w);
}

int sl_weights_add(struct sl_weights *w, const struct gguf_tensor *t, int layer, int expert, uint64_t off,
		   uint64_t size, struct sl_err *err)
{
	if (!size && off <= t->size)
		size = t->size - off;
	if (off > t->size || size > t->size - off || !size)
		return sl_errf(err, EINVAL, "tensor '%s': range [%llu, +%llu) outside its %llu bytes", t->name.s,
			       (unsigned long long)off, (unsigned long long)size, (unsigned long long)t->size);
	return sl_weights_add_range(w, t->file_offset + off, size, layer, expert, t->name.s, err);
}

int sl_weights_add_range(struct sl_weights *w, uint64_t file_offset, uint64_t size, int layer, int expert,
			 const char *name, struct sl_err *err)
{
	if (w->n == w->cap) {
		int cap = w->cap ? 2 * w->cap : 64;
		struct unit *u = realloc(w->u, (size_t)cap * sizeof(*u));
		if (!u)
			return sl_errf(err, ENOMEM, "out of memory");
		w->u = u;
		w->cap = cap;
	}
	w->u[w->n] = (struct unit){ .file_offset = file_offset, .size = size, .layer = layer, .expert = expert,
				    .name = name, .rank = RANK_NONE };
	return w->n++;
}

void sl_weights_set_experts_used(struct sl_weights *w, int k)
{
	w->cfg.experts_used = k > 0 ? k : 0;
}

/* ---- commit ---- */

static int open_io(struct sl_weights *w, bool streaming, struct sl_err *err)
{
	struct sl_io_source src = { .kind = SL_IO_SOURCE_FILE, .path = w->f->path };
	struct sl_io_config ioc = { .fault = w->cfg.io_fault };
	const char *engine = w->cfg.io_engine ? w->cfg.io_engine : "auto";
	/* While streaming, a completion thread refills the drive's queue during compute: one large
	 * layer is far more than the queue holds, and the model's thread only looks between ops. */
	ioc.thread = streaming;
	int rc = sl_io_open(engine, &src, &ioc, &w->io, err);
	if (rc)
		return rc;
	w->zero_copy_map = sl_io_maps(w->io);
	return 0;
}

static int plan(struct sl_weights *w, int n_layers, struct sl_err *err)
{
	struct sl_place_unit *pu = malloc((size_t)(w->n ? w->n : 1) * sizeof(*pu));
	if (!pu)
		return sl_errf(err, ENOMEM, "out of memory");
	for (int i = 0; i < w->n; i++) {
		struct unit *u = &w->u[i];
		uint64_t a_off, skip;
		u->span = u->size;
		if (sl_io_span(w->io, u->file_offset, u->size, &a_off, &u->span, &skip)) {
			free(pu);
			return sl_errf(err, EOVERFLOW, "'%s': bad file range", u->name);
		}
		int layer = u->layer >= 0 && u->layer < n_layers ? u->layer : -1;
		/* the host tier counts pages (sl_host_bytes): so does the plan */
		pu[i] = (struct sl_place_unit){ .size = u->size, .span = sl_host_bytes(u), .layer = layer, .expert = u->expert };
	}
	struct sl_place_input in = {
		.units = pu, .n_units = w->n, .n_layers = n_layers,
		.vram = w->vram_budget, .host = w->host_budget,
		.host_visible = w->host_visible, .host_tier = !w->zero_copy_map,
		.experts_used = w->cfg.experts_used,
		.window_steps = w->cfg.lookahead > 0 ? w->cfg.lookahead : DEFAULT_WINDOW_STEPS,
	};
	int rc = sl_place(&in, &w->plan, err);
	free(pu);
	if (rc)
		return rc;
	for (int i = 0; i < w->n; i++)
		w->u[i].where = w->plan.where[i];
	w->streaming = w->plan.streaming;
	w->host_min = w->plan.min_host;
	return 0;
}

/* The pool's slabs are pinned for the device too (a GPU's cuMemHostRegister), so uploads from
 * them are true DMA that overlaps compute; a backend that cannot pin leaves them pageable. */
static int pin_slab(void *ctx, void *base, size_t len)
{
	struct sl_backend *be = ctx;
	return be->ops->register_host(be, base, len);
}

static void unpin_slab(void *ctx, void *base, size_t len)
{
	struct sl_backend *be = ctx;
	be->ops->unregister_host(be, base, len);
}

void sl_weights_cap_vram(struct sl_weights *w, uint64_t cap)
{
	w->vram_budget = SL_MIN(w->vram_budget, cap);
	for (int s = 0; w->stages && s < w->stages->n; s++)
		sl_weights_cap_vram(w->stages->st[s], cap);
}

/* The pinned staging pool: read buffers of the host tier, registered with the I/O engine. */
static int make_pool(struct sl_weights *w, struct sl_err *err)
{
	uint64_t budget = w->host_budget;
	bool unlimited = budget == UINT64_MAX;
	if (unlimited) { /* everything not on the device fits: the pool holds that, and slack */
		uint64_t largest = 0;
		budget = 0;
		for (int i = 0; i < w->n; i++)
			if (w->u[i].where != SL_PLACE_DEVICE) {
				budget += sl_host_bytes(&w->u[i]);
				largest = SL_MAX(largest, sl_host_bytes(&w->u[i]));
			}
		/* Units are packed first-fit into slabs (budget / 64, at least 64 MiB): each slab's
		 * tail can be too short for the next unit, so allow one largest unit per slab. */
		uint64_t slab = SL_MAX(budget / 64, (uint64_t)64 << 20);
		budget += (budget / slab + 2) * largest;
		budget = SL_MAX(budget, (uint64_t)1 << 20);
	}
	/* An unlimited cache would lock the whole model in memory: leave that to the kernel. */
	struct sl_pool_config pc = { .budget = budget, .no_lock = unlimited };
	if (!w->host_visible)
		pc.hooks = (struct sl_pool_hooks){ .ctx = w->be, .register_slab = pin_slab, .unregister_slab = unpin_slab };
	int rc;
	if ((rc = sl_pool_create(&pc, &w->pool, err)) || (rc = sl_pool_attach_io(w->pool, w->io, err)))
		return rc;
	if (sl_pool_notice(w->pool)[0])
		sl_warn("%s", sl_pool_notice(w->pool));
	return 0;
}

/* Read the units the plan pins in the host cache.  The plan counts bytes; the pool hands out
 * pages inside slabs, so the last units can fail to find a contiguous piece although the bytes
 * add up (each slab's tail is too short for the next unit).  Such a unit is not pinned: it streams
 * through the window like any other, which costs reads, not correctness. */
static int pin_host(struct sl_weights *w, struct sl_err *err)
{
	int rc = 0;
	uint64_t demoted = 0, largest = 0;
	for (int i = 0; i < w->n; i++)
		if (w->u[i].where != SL_PLACE_DEVICE)
			largest = SL_MAX(largest, sl_host_bytes(&w->u[i]));
	/* What streaming needs free at all times: the plan's window, plus one unit of slack for the
	 * slabs' tails (a budgeted cache only; an unlimited one was sized with slack). */
	uint64_t keep = w->host_budget == UINT64_MAX ? 0 : w->plan.host_window + largest;
	for (int i = 0; i < w->n && !rc; i++) {
		if (w->u[i].where != SL_PLACE_HOST)
			continue;
		bool room = w->host_budget == UINT64_MAX ||
			    w->host_used + sl_host_bytes(&w->u[i]) + keep <= w->host_budget;
		if (!room || (rc = sl_host_start_read(w, i, -1, true, err)) == -ENOSPC) {
			w->u[i].where = SL_PLACE_STREAM;
			demoted += w->u[i].size;
			rc = 0;
			continue;
		}
		if (!rc) {
			w->u[i].host_pinned = true;
			w->st.host_pinned += w->u[i].size;
		}
	}
	if (demoted)
		sl_info("host placement: %.1f MiB planned for the host cache did not fit its slabs and will stream",
			sl_mib(demoted));
	while (sl_io_outstanding(w->io)) {
		int r = sl_io_done_reap(w, 1, err);
		if (r && !rc)
			rc = r;
	}
	return rc;
}

int sl_weights_commit(struct sl_weights *w, int n_layers, struct sl_err *err)
{
	int rc;
	uint64_t total = 0;
	if (w->stages)
		return sl_stages_commit(w, n_layers, err);
	for (int i = 0; i < w->n; i++)
		total += w->u[i].size;
	w->n_layers = n_layers;
	if ((rc = open_io(w, total > w->vram_budget, err)) || (rc = plan(w, n_layers, err)))
		return rc;
	if ((rc = sl_policy_init(&w->dev_pol, "lru", w->n)) || (rc = sl_policy_init(&w->host_pol, "lru", w->n)))
		return sl_errf(err, -rc, "out of memory");
	const char *ep = w->cfg.expert_policy ? w->cfg.expert_policy : "lfru";
	if ((rc = sl_policy_init(&w->dev_epol, ep, w->n)) || (rc = sl_policy_init(&w->host_epol, ep, w->n)))
		return rc == -ENOENT ? sl_errf(err, EINVAL, "expert policy '%s' is not one of lfru, lru", ep)
				     : sl_errf(err, -rc, "out of memory");
	if ((rc = sl_moe_setup(w, err)))
		return rc;
	if (w->streaming && !w->zero_copy_map && (rc = make_pool(w, err)))
		return rc;
	uint64_t res_len = 0;
	for (int i = 0; i < w->n; i++)
		if (w->u[i].where == SL_PLACE_DEVICE)
			res_len += w->host_visible ? SL_ALIGN_UP(w->u[i].span, sl_io_mem_alignment(w->io))
						   : SL_ALIGN_UP(w->u[i].size, 256);
	if ((rc = sl_dev_setup(w, res_len, w->plan.dev_window, err)) || (rc = sl_dev_load_resident(w, err)))
		return rc;
	if (!w->streaming)
		return 0;
	if ((rc = pin_host(w, err)))
		return rc;
	sl_info("host placement: %.1f MiB of layers pinned in the host cache", sl_mib(w->st.host_pinned));
	sl_info("placement: %.1f MiB resident on the device, %.1f MiB streamed through a %.1f MiB host cache "
		"(window %.1f MiB host, %.1f MiB device)",
		sl_mib(w->st.device_resident), sl_mib(total - w->st.device_resident),
		(w->host_budget == UINT64_MAX ? 0 : sl_mib(w->host_budget)), sl_mib(w->plan.host_window),
		sl_mib(w->plan.dev_window));
	return 0;
}

/* ---- the hot path ---- */

static bool streamed(const struct unit *u)
{
	return !u->resident && !u->host_pinned;
}

void sl_weights_prefetch(struct sl_weights *w, const int *ids, int n)
{
	if (w->stages) {
		sl_stages_prefetch(w, ids, n);
		return;
	}
	if (!w->streaming || w->zero_copy_map)
		return;
	struct sl_err e = { "" };
	/* Rank the list only as far as the host cache could hold it: what lies beyond is needed after
	 * everything ranked, which is what RANK_NONE says already, and a dense model's list is a whole
	 * cycle long, told again before every unit. */
	w->gen++;
	uint64_t need = 0;
	int nr = 0;
	for (; nr < n && need <= w->host_budget; nr++) {
		struct unit *u = &w->u[ids[nr]];
		if (u->rank_gen != w->gen) { /* a unit named twice keeps its first (soonest) position */
			u->rank = nr;
			u->rank_gen = w->gen;
			if (streamed(u))
				need += sl_host_bytes(u);
		}
	}
	sl_host_apply_pressure(w);
	if (sl_io_outstanding(w->io) && sl_io_done_reap(w, 0, &e))
		return; /* acquire meets the failed unit again and reports it */
	/* Host reads in order, as far as room can be made without evicting anything needed sooner. */
	for (int i = 0; i < nr; i++) {
		struct unit *u = &w->u[ids[i]];
		if (!streamed(u) || u->hstate != H_NONE || u->on_dev || u->rank != i)
			continue;
		if (sl_host_start_read(w, ids[i], PREFETCH_RANK, false, &e))
			break;
		u->prefetched = true;
		SL_TRACE_I("cache", "prefetch issued", "unit,bytes,rank", ids[i], u->size, i, 0);
	}
	/* Uploads of what has arrived, in the same order, without waiting for the device. */
	if (!w->host_visible)
		for (int i = 0; i < nr; i++) {
			struct unit *u = &w->u[ids[i]];
			if (u->resident || u->on_dev || u->rank != i)
				continue;
			if (u->hstate != H_READY || sl_dev_start_upload(w, ids[i], PREFETCH_RANK, false, &e))
				break;
		}
}

/* Make sure unit id is in the host tier, reading it now if no prefetch did. */
static int need_host(struct sl_weights *w, int id, struct sl_err *err)
{
	struct unit *u = &w->u[id];
	int rc;
	if (u->hstate == H_READY)
		return 0;
	if (u->hstate == H_NONE) {
		while ((rc = sl_host_start_read(w, id, -1, true, err)) == -ENOSPC && sl_io_outstanding(w->io))
			if ((rc = sl_io_done_reap(w, 1, err))) /* everything else is in flight: wait for some */
				return rc;
		if (rc == -ENOSPC)
			return sl_errf(err, ENOMEM, "host cache too small to read '%s' (%llu bytes, %.1f of %.1f MiB in use)",
				       u->name, (unsigned long long)u->size, sl_mib(w->host_used), sl_mib(w->host_budget));
		if (rc)
			return rc;
	}
	return sl_io_done_wait(w, id, err);
}

/* A backend that cannot read host memory: the unit's slot in the device window, copied there
 * now if no prefetch did (from u->req.data: a host-cache buffer or the mapping), and the compute
 * queue made to wait for that copy. */
static int use_on_device(struct sl_weights *w, int id, const void **ptr, struct sl_err *err)
{
	struct unit *u = &w->u[id];
	int rc;
	if (!u->on_dev) {
		u->in_use++; /* its host buffer must survive the upload's eviction pass */
		rc = sl_dev_start_upload(w, id, -1, true, err);
		u->in_use--;
		if (rc == -ENOSPC)
			return sl_errf(err, ENOMEM,
				       "device window exhausted streaming '%s' (%llu bytes; %.1f MiB window, all of it in use)",
				       u->name, (unsigned long long)u->size, sl_mib(w->win_len));
		if (rc)
			return rc;
	}
	/* compute must not start before the copy into the slot has landed */
	if ((rc = w->be->ops->wait(w->be, SL_Q_COMPUTE, u->dev_ready)))
		return sl_errf(err, -rc, "device: %s", w->be->err.msg);
	if (u->expert < 0) /* an expert's uses are counted when it is routed to (experts.c) */
		w->dev_pol.ops->touch(&w->dev_pol, id);
	*ptr = sl_dev_ptr(w, id);
	return 0;
}

int sl_weights_acquire(struct sl_weights *w, int id, const void **ptr, struct sl_err *err)
{
	struct unit *u = &w->u[id];
	int rc;
	if (w->stages)
		return sl_stages_acquire(w, id, ptr, err);
	if (u->resident) {
		*ptr = sl_dev_ptr(w, id);
		w->st.hits++;
		SL_TRACE_I("cache", "hit", "unit,resident", id, 1, 0, 0);
		return 0;
	}
	if (w->zero_copy_map) {
		/* The page cache is the host tier: a mapped pointer stands in for the read buffer. */
		const void *src;
		if (!u->on_dev) {
			if ((rc = sl_io_map(w->io, u->file_offset, u->size, &src, err)))
				return rc;
			w->st.misses++;
			w->st.bytes_read += u->size; /* the page cache decides; count it as read */
			if (u->expert >= 0)
				w->st.expert_bytes_read += u->size;
			u->req.data = (void *)src;
		} else {
			w->st.hits++;
		}
		if (w->host_visible)
			*ptr = u->req.data;
		else if ((rc = use_on_device(w, id, ptr, err)))
			return rc;
		u->in_use++;
		return 0;
	}
	if (w->io_rc) {
		*err = w->io_err;
		return w->io_rc;
	}
	sl_host_apply_pressure(w);
	bool present = w->host_visible ? u->hstate == H_READY : u->on_dev;
	if (present)
		w->st.hits++;
	else
		w->st.misses++;
	SL_TRACE_I("cache", present ? "hit" : "miss", "unit,bytes", id, u->size, 0, 0);
	if (u->prefetched) { /* whether or not it has arrived yet, the read ahead is used now */
		u->prefetched = false;
		w->st.prefetch_used++;
		SL_TRACE_I("cache", "prefetch used", "unit,bytes,arrived", id, u->size, present, 0);
	}
	if (w->host_visible || !u->on_dev)
		if ((rc = need_host(w, id, err)))
			return rc;
	if (w->host_visible) {
		if (u->expert < 0) /* an expert's uses are counted when it is routed to (experts.c) */
			w->host_pol.ops->touch(&w->host_pol, id);
		*ptr = u->req.data;
	} else if ((rc = use_on_device(w, id, ptr, err))) {
		return rc;
	}
	u->in_use++;
	/* Collect whatever else finished meanwhile, so buffers free up early. */
	if (sl_io_outstanding(w->io) && (rc = sl_io_done_reap(w, 0, err)))
		return rc;
	return 0;
}

int sl_weights_release(struct sl_weights *w, int id, struct sl_err *err)
{
	struct unit *u = &w->u[id];
	if (w->stages)
		return sl_stages_release(w, id, err);
	if (u->resident || !u->in_use)
		return 0;
	u->in_use--;
	if (!(w->be->ops->caps & SL_BE_ASYNC))
		return 0; /* synchronous: the kernels already ran */
	sl_fence f;
	int rc = w->be->ops->fence(w->be, SL_Q_COMPUTE, &f);
	if (rc)
		return sl_errf(err, -rc, "device: %s", w->be->err.msg);
	if (w->host_visible)
		u->host_done = f;
	else
		u->dev_last = f;
	return 0;
}

int sl_pick_farthest(struct sl_weights *w, struct sl_policy *epol, struct sl_policy *pol, int32_t rank, bool wait,
		     sl_victim_key_fn key)
{
	int best = -1;
	int64_t best_key = rank;
	struct sl_policy *pols[2] = { epol, pol };
	for (int i = 0; i < 2; i++) {
		struct sl_policy *p = pols[i];
		if (!p->ops)
			continue;
		for (int v = p->ops->next_victim(p, -1); v >= 0; v = p->ops->next_victim(p, v)) {
			int64_t k = key(w, &w->u[v], wait);
			if (k > best_key) {
				best = v;
				best_key = k;
			}
		}
	}
	return best;
}

/* ---- queries ---- */

void sl_weights_get_stats(const struct sl_weights *w, struct sl_weights_stats *out)
{
	if (w->stages) {
		sl_stages_get_stats(w, out);
		return;
	}
	*out = w->st;
	if (w->io) {
		struct sl_io_stats is;
		sl_io_get_stats(w->io, &is);
		out->io_busy_ns = is.busy_ns;
	}
}

/* A router's stages share what is asked of the host cache: each gives back its part. */
void sl_weights_shrink(struct sl_weights *w, uint64_t bytes)
{
	if (w->stages) {
		for (int s = 0; s < w->stages->n; s++)
			sl_weights_shrink(w->stages->st[s], bytes / (uint64_t)w->stages->n);
		return;
	}
	atomic_store(&w->host_limit_req, bytes ? bytes : 1);
}

uint64_t sl_weights_host_used(const struct sl_weights *w)
{
	uint64_t sum = 0;
	for (int s = 0; w->stages && s < w->stages->n; s++)
		sum += sl_weights_host_used(w->stages->st[s]);
	return w->stages ? sum : atomic_load(&((struct sl_weights *)w)->host_used_pub);
}

uint64_t sl_weights_host_budget(const struct sl_weights *w)
{
	uint64_t sum = 0;
	for (int s = 0; w->stages && s < w->stages->n; s++)
		sum = SL_MIN(sum + sl_weights_host_budget(w->stages->st[s]), UINT64_MAX / 2);
	return w->stages ? sum : atomic_load(&((struct sl_weights *)w)->host_budget_pub);
}

uint64_t sl_weights_host_min(const struct sl_weights *w)
{
	uint64_t sum = 0;
	for (int s = 0; w->stages && s < w->stages->n; s++)
		sum += sl_weights_host_min(w->stages->st[s]);
	return w->stages ? sum : w->host_min;
}

bool sl_weights_streaming(const struct sl_weights *w)
{
	bool any = false;
	for (int s = 0; w->stages && s < w->stages->n; s++)
		any = any || sl_weights_streaming(w->stages->st[s]);
	return w->stages ? any : w->streaming;
}

const char *sl_weights_io_notice(const struct sl_weights *w)
{
	if (w->stages)
		return sl_weights_io_notice(w->stages->st[0]);
	return w->io ? sl_io_notice(w->io) : "";
}

const char *sl_weights_io_engine(const struct sl_weights *w)
{
	if (w->stages)
		return sl_weights_io_engine(w->stages->st[0]);
	return w->io ? sl_io_engine_name(w->io) : "none";
}

void sl_weights_test_break_last_use(struct sl_weights *w, bool on)
{
	w->break_last_use = on;
	for (int s = 0; w->stages && s < w->stages->n; s++)
		sl_weights_test_break_last_use(w->stages->st[s], on);
}
