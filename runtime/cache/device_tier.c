/* SPDX-License-Identifier: MIT */
/*
 * runtime/cache/device_tier.c — device memory for weights: the resident arena and the streaming
 * window.
 *
 * Both are one backend allocation each, carved here (arena.h).  Resident units are read once at
 * load: on a host-visible backend (the CPU) straight into their place, the whole set queued at
 * once so the drive sees a deep queue; elsewhere through a registered staging buffer and an
 * upload.  Streamed units of a backend that cannot read host memory get a slot in the window:
 * the upload runs on the copy queue and its fence (dev_ready) is what the compute queue waits
 * for; a slot is reused only after the last kernel reading it completed (dev_last).
 */
#include "cache/store.h"
#include "trace.h"

#include <stdlib.h>
#include <string.h>

#define DEV_ALIGN 256u                  /* GPU-friendly; every type's rows are smaller multiples */
#define STAGING_MAX ((uint64_t)64 << 20) /* resident load through a staging buffer, per batch */

static void *res_ptr(struct sl_weights *w, const struct unit *u)
{
	return (char *)w->res_base + u->dev_off + u->dev_skip;
}

static void *slot_ptr(struct sl_weights *w, const struct unit *u)
{
	return (char *)w->win_base + u->slot_off;
}

const void *sl_dev_ptr(struct sl_weights *w, int id)
{
	struct unit *u = &w->u[id];
	return u->resident ? res_ptr(w, u) : slot_ptr(w, u);
}

int sl_dev_setup(struct sl_weights *w, uint64_t resident_len, uint64_t window_len, struct sl_err *err)
{
	struct sl_backend *be = w->be;
	int rc;
	if (resident_len) {
		if ((rc = be->ops->alloc(be, resident_len, &w->res_base)))
			return sl_errf(err, -rc, "cannot allocate %.1f MiB of device memory for the resident weights: %s",
				       sl_mib(resident_len), be->err.msg);
		w->res_len = resident_len;
	}
	if (window_len) {
		if ((rc = be->ops->alloc(be, window_len, &w->win_base)))
			return sl_errf(err, -rc, "cannot allocate a %.1f MiB device window for streamed weights: %s",
				       sl_mib(window_len), be->err.msg);
		w->win_len = window_len;
	}
	if ((rc = sl_arena_init(&w->win, window_len, DEV_ALIGN)))
		return sl_errf(err, -rc, "out of memory");
	return 0;
}

void sl_dev_teardown(struct sl_weights *w)
{
	struct sl_backend *be = w->be;
	if (w->res_mem)
		sl_io_mem_unregister(w->io, w->res_mem);
	w->res_mem = NULL;
	if (w->res_base)
		be->ops->free(be, w->res_base, w->res_len);
	if (w->win_base)
		be->ops->free(be, w->win_base, w->win_len);
	w->res_base = w->win_base = NULL;
	sl_arena_destroy(&w->win);
}

void sl_dev_evict(struct sl_weights *w, int id)
{
	struct unit *u = &w->u[id];
	w->be->ops->discard(w->be, slot_ptr(w, u), u->size);
	sl_arena_free(&w->win, u->slot_off, u->size);
	SL_TRACE_I("cache", "device evict", "unit,bytes", id, u->size, 0, 0);
	sl_prefetch_wasted(w, u, id);
	SL_TRACE_C("device window used", w->win.used);
	u->on_dev = false;
	u->dev_ready = u->dev_last = 0;
	sl_dev_pol(w, u)->ops->remove(sl_dev_pol(w, u), id);
}

/* Which slot holder may go for a unit of rank `rank`: not in use, its last kernel done (or waited for). */
static int64_t slot_key(struct sl_weights *w, const struct unit *u, bool wait)
{
	if (u->in_use || (!wait && !last_use_done(w, u->dev_last)))
		return -1;
	return unit_rank(w, u);
}

static int pick_slot_victim(struct sl_weights *w, int32_t rank, bool wait)
{
	return sl_pick_farthest(w, &w->dev_epol, &w->dev_pol, rank, wait, slot_key);
}

int sl_dev_start_upload(struct sl_weights *w, int id, int32_t rank, bool wait, struct sl_err *err)
{
	struct unit *u = &w->u[id];
	struct sl_backend *be = w->be;
	int rc;
	while (sl_arena_alloc(&w->win, u->size, &u->slot_off)) {
		int v = pick_slot_victim(w, rank, wait);
		if (v < 0)
			return -ENOSPC;
		if ((rc = last_use_sync(w, w->u[v].dev_last)))
			return sl_errf(err, -rc, "waiting for the device: %s", be->err.msg);
		sl_dev_evict(w, v);
	}
	SL_TRACE_B("upload", "upload", "bytes,unit,prefetch", u->size, id, !wait, 0);
	if ((rc = be->ops->upload(be, slot_ptr(w, u), u->req.data, u->size)) ||
	    (rc = be->ops->fence(be, SL_Q_COPY, &u->dev_ready))) {
		SL_TRACE_E();
		sl_arena_free(&w->win, u->slot_off, u->size);
		return sl_errf(err, -rc, "copying '%s' (%llu bytes) to the device: %s", u->name,
			       (unsigned long long)u->size, be->err.msg);
	}
	u->host_done = u->dev_ready; /* the host buffer is free once the copy ran */
	u->on_dev = true;
	u->dev_last = 0;
	sl_dev_pol(w, u)->ops->insert(sl_dev_pol(w, u), id);
	w->st.uploads += u->size;
	SL_TRACE_C("device window used", w->win.used);
	SL_TRACE_E();
	return 0;
}

static int placed_in_place(struct sl_weights *w, struct unit *u, void *ctx, struct sl_err *err)
{
	u->dev_skip = (uint64_t)((char *)u->req.data - ((char *)w->res_base + u->dev_off));
	w->st.bytes_read += u->size;
	return 0;
}

static int staged_upload(struct sl_weights *w, struct unit *u, void *ctx, struct sl_err *err)
{
	struct sl_backend *be = w->be;
	w->st.bytes_read += u->size;
	SL_TRACE_B("upload", "upload", "bytes,unit,prefetch", u->size, u - w->u, 0, 0);
	int rc = be->ops->upload(be, res_ptr(w, u), u->req.data, u->size);
	SL_TRACE_E();
	return rc ? sl_errf(err, -rc, "copying '%s' to the device: %s", u->name, be->err.msg) : 0;
}

/* Host-visible: every resident unit read straight into its place, all queued at once. */
static int load_in_place(struct sl_weights *w, struct sl_err *err)
{
	int rc = sl_io_mem_register(w->io, w->res_base, w->res_len, &w->res_mem, err);
	if (rc)
		return rc;
	uint64_t off = 0;
	for (int i = 0; i < w->n && !rc; i++) {
		struct unit *u = &w->u[i];
		if (u->where != SL_PLACE_DEVICE)
			continue;
		u->dev_off = off;
		off += SL_ALIGN_UP(u->span, sl_io_mem_alignment(w->io));
		u->resident = true;
		rc = sl_io_done_submit(w, u, (char *)w->res_base + u->dev_off, err);
	}
	return sl_io_done_drain(w, placed_in_place, NULL, rc, err);
}

/* Elsewhere: batches of units read into a registered staging buffer, uploaded, waited for. */
static int load_staged(struct sl_weights *w, struct sl_err *err)
{
	struct sl_backend *be = w->be;
	uint64_t max_span = 0, total = 0, off = 0;
	for (int i = 0; i < w->n; i++)
		if (w->u[i].where == SL_PLACE_DEVICE) {
			max_span = SL_MAX(max_span, w->u[i].span);
			total += w->u[i].span;
			w->u[i].dev_off = off;
			w->u[i].dev_skip = 0;
			w->u[i].resident = true;
			off += SL_ALIGN_UP(w->u[i].size, DEV_ALIGN);
		}
	uint64_t len = SL_MAX(max_span, SL_MIN(total, STAGING_MAX));
	len = SL_ALIGN_UP(len, 4096);
	void *stage = sl_aligned_alloc(SL_MAX(sl_io_mem_alignment(w->io), 4096u), len);
	if (!stage)
		return sl_errf(err, ENOMEM, "out of memory for a %.1f MiB staging buffer", sl_mib(len));
	struct sl_io_mem *mem = NULL;
	int rc = sl_io_mem_register(w->io, stage, len, &mem, err);
	bool host_reg = false;
	if (!rc) {
		rc = be->ops->register_host(be, stage, len);
		host_reg = !rc;
		if (rc)
			rc = sl_errf(err, -rc, "registering the staging buffer with the device: %s", be->err.msg);
	}
	int i = 0;
	while (!rc && i < w->n) {
		/* one batch: as many units as fit in the buffer */
		uint64_t used = 0;
		for (; i < w->n; i++) {
			struct unit *u = &w->u[i];
			if (u->where != SL_PLACE_DEVICE)
				continue;
			uint64_t need = SL_ALIGN_UP(u->span, 4096);
			if (used + need > len)
				break;
			if ((rc = sl_io_done_submit(w, u, (char *)stage + used, err)))
				break;
			used += need;
		}
		rc = sl_io_done_drain(w, staged_upload, NULL, rc, err);
		sl_fence f = 0;
		int r = 0;
		if (!rc && (r = be->ops->fence(be, SL_Q_COPY, &f)) == 0)
			r = be->ops->fence_sync(be, f); /* before the staging buffer is reused */
		if (r)
			rc = sl_errf(err, -r, "loading weights to the device: %s", be->err.msg);
	}
	if (host_reg)
		be->ops->unregister_host(be, stage, len);
	if (mem)
		sl_io_mem_unregister(w->io, mem);
	free(stage);
	return rc;
}

int sl_dev_load_resident(struct sl_weights *w, struct sl_err *err)
{
	bool any = false;
	for (int i = 0; i < w->n && !any; i++)
		any = w->u[i].where == SL_PLACE_DEVICE;
	if (!any)
		return 0;
	int rc = w->host_visible ? load_in_place(w, err) : load_staged(w, err);
	for (int i = 0; i < w->n; i++)
		if (w->u[i].resident)
			w->st.device_resident += w->u[i].size;
	return rc;
}
