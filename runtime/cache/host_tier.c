/* SPDX-License-Identifier: MIT */
/*
 * runtime/cache/host_tier.c — the host cache: read buffers of streamed and pinned units.
 *
 * Memory comes from the pinned staging pool (registered with the I/O engine, and with the
 * backend for DMA), under the --host-cache budget.  Room is made by evicting the ready,
 * unused entry whose next use is farthest away (store.h); pinned entries go only under memory
 * pressure, when the budget falls below what was pinned.
 */
#include "cache/store.h"
#include "trace.h"

#include <stdlib.h>
#include <string.h>

void sl_host_publish(struct sl_weights *w)
{
	atomic_store(&w->host_used_pub, w->host_used);
	SL_TRACE_C("host cache used", w->host_used);
	atomic_store(&w->host_budget_pub, w->host_budget);
	if (w->host_used > w->st.host_peak)
		w->st.host_peak = w->host_used;
}

void sl_host_drop(struct sl_weights *w, int id)
{
	struct unit *u = &w->u[id];
	if (!u->hbuf)
		return;
	/* Nothing reads it any more (the caller checked host_done): the asynchronous test
	 * backend poisons it, so a reader we forgot about shows up as a wrong token. */
	w->be->ops->discard(w->be, u->hbuf, u->span);
	SL_TRACE_I("cache", "evict", "unit,bytes,pinned", id, u->span, u->host_pinned, 0);
	if (w->host_visible || !u->on_dev) /* the host copy was the prefetch's only result */
		sl_prefetch_wasted(w, u, id);
	sl_pool_free(w->pool, u->hbuf);
	u->hbuf = NULL;
	w->host_used -= sl_host_bytes(u);
	u->hstate = H_NONE;
	u->host_done = 0;
	if (u->host_pinned) {
		u->host_pinned = false;
		u->where = SL_PLACE_STREAM;
		w->st.host_pinned -= u->size;
	}
	sl_host_pol(w, u)->ops->remove(sl_host_pol(w, u), id);
	sl_host_publish(w);
}

/*
 * The best victim for making room for a unit of rank `rank`: ready, not in use, not pinned (unless
 * pinned_too), ranked strictly after `rank`; the farthest next use first, least recently used among
 * equals.  A host copy of a dense unit already copied to a device slot is the cheapest to lose.  Entries
 * whose last reader has not finished are skipped unless `wait` (then the caller waits for it).
 */
static int64_t host_key(struct sl_weights *w, const struct unit *u, bool wait, bool pinned_too)
{
	if (u->hstate != H_READY || u->in_use || (u->host_pinned && !pinned_too))
		return -1;
	if (!wait && !last_use_done(w, u->host_done))
		return -1;
	/* An expert's device slot is in a window two layers deep, soon reused: its host copy is the
	 * expert cache, so it goes by the expert policy like any other. */
	return u->on_dev && u->expert < 0 ? (int64_t)RANK_NONE + 1 : unit_rank(w, u);
}

static int64_t key_unpinned(struct sl_weights *w, const struct unit *u, bool wait)
{
	return host_key(w, u, wait, false);
}

static int64_t key_any(struct sl_weights *w, const struct unit *u, bool wait)
{
	return host_key(w, u, wait, true);
}

static int pick_victim(struct sl_weights *w, int32_t rank, bool pinned_too, bool wait)
{
	return sl_pick_farthest(w, &w->host_epol, &w->host_pol, rank, wait, pinned_too ? key_any : key_unpinned);
}

static bool evict_one(struct sl_weights *w, int32_t rank, bool pinned_too, bool wait)
{
	int v = pick_victim(w, rank, pinned_too, wait);
	if (v < 0)
		return false;
	if (last_use_sync(w, w->u[v].host_done))
		return false; /* the backend failed; the next op reports it */
	sl_host_drop(w, v);
	return true;
}

bool sl_host_make_room(struct sl_weights *w, uint64_t size, int32_t rank, bool wait)
{
	while (w->host_used + size > w->host_budget)
		if (!evict_one(w, rank, false, wait)) {
			/* On demand, a budget that memory pressure lowered below what was pinned gives up
			 * pinned entries too (they become streamed ones). */
			if (rank >= 0 || !evict_one(w, rank, true, wait))
				return false;
		}
	return true;
}

void sl_host_apply_pressure(struct sl_weights *w)
{
	uint64_t lim = atomic_exchange(&w->host_limit_req, 0);
	if (!lim)
		return;
	w->st.shrink_events++;
	SL_TRACE_I("pressure", "memory pressure", "limit,budget,used", lim, w->host_budget, w->host_used, 0);
	lim = SL_MAX(lim, w->host_min); /* below one layer, streaming cannot work at all */
	if (lim < w->host_budget)
		w->host_budget = lim;
	/* Streamed entries first, then pinned ones (they become streamed). */
	while (w->host_used > w->host_budget && evict_one(w, -1, false, true))
		;
	while (w->host_used > w->host_budget && evict_one(w, -1, true, true))
		;
	sl_pool_trim(w->pool); /* hand emptied slabs back to the system now */
	SL_TRACE_C("host cache budget", w->host_budget);
	sl_host_publish(w);
}

int sl_host_start_read(struct sl_weights *w, int id, int32_t rank, bool wait, struct sl_err *err)
{
	struct unit *u = &w->u[id];
	int rc;
	if (!sl_host_make_room(w, sl_host_bytes(u), rank, wait))
		return -ENOSPC;
	/* The budget has room, but the pool may be fragmented: evict until a piece fits. */
	while ((rc = sl_pool_alloc(w->pool, u->span, &u->hbuf, NULL)) == -ENOMEM)
		if (!evict_one(w, rank, false, wait))
			return -ENOSPC;
	if (rc)
		return sl_errf(err, -rc, "host cache: cannot allocate a %llu-byte read buffer",
			       (unsigned long long)u->span);
	w->host_used += sl_host_bytes(u);
	sl_host_publish(w);
	if ((rc = sl_io_done_submit(w, u, u->hbuf, err))) {
		sl_pool_free(w->pool, u->hbuf);
		u->hbuf = NULL;
		w->host_used -= sl_host_bytes(u);
		sl_host_publish(w);
		return rc;
	}
	u->hstate = H_READING;
	sl_host_pol(w, u)->ops->insert(sl_host_pol(w, u), id);
	w->st.bytes_read += u->size;
	return 0;
}
