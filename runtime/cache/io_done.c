/* SPDX-License-Identifier: MIT */
/*
 * runtime/cache/io_done.c — the store's side of the I/O layer: submitting a unit's read and
 * turning completions into unit states.  The I/O layer's own thread (when the store asked for
 * one) keeps the drive's queue full while the model computes; here, on the model's thread,
 * finished reads are only collected.
 */
#include "cache/store.h"
#include "trace.h"

#include <string.h>

int sl_io_done_submit(struct sl_weights *w, struct unit *u, void *buf, struct sl_err *err)
{
	memset(&u->req, 0, sizeof(u->req));
	u->req.offset = u->file_offset;
	u->req.len = u->size;
	u->req.buf = buf;
	u->req.user = u;
	struct sl_io_req *r = &u->req;
	return sl_io_submit(w->io, &r, 1, err);
}

int sl_io_done_reap(struct sl_weights *w, unsigned min, struct sl_err *err)
{
	int rc = 0;
	if (w->io_rc) {
		*err = w->io_err;
		return w->io_rc;
	}
	do {
		struct sl_io_req *done[32];
		struct sl_err e = { "" };
		int n = sl_io_reap(w->io, min, done, 32, &e);
		if (n < 0)
			return sl_errf(err, -n, "%s", e.msg);
		for (int i = 0; i < n; i++) {
			struct unit *u = done[i]->user;
			if (done[i]->result < 0) {
				if (!rc)
					rc = sl_errf(err, (int)-done[i]->result, "%s: reading weights of '%s': %s",
						     w->f->path, u->name,
						     e.msg[0] ? e.msg : strerror((int)-done[i]->result));
				if (!w->io_rc) { /* remembered: a prefetch that meets it has no one to tell */
					w->io_rc = rc;
					w->io_err = *err;
				}
				u->hstate = H_READY; /* so the drop below is legal; the unit is gone anyway */
				sl_host_drop(w, (int)(u - w->u));
				continue;
			}
			u->hstate = H_READY;
			if (u->expert >= 0)
				w->st.expert_bytes_read += u->size;
		}
		if ((unsigned)n < 32)
			break;
		min = 0;
	} while (!rc);
	return rc;
}

int sl_io_done_drain(struct sl_weights *w, sl_read_done_fn done, void *ctx, int rc, struct sl_err *err)
{
	while (sl_io_outstanding(w->io)) {
		struct sl_io_req *reqs[64];
		struct sl_err e = { "" };
		int k = sl_io_reap(w->io, 1, reqs, 64, &e);
		if (k < 0)
			return rc ? rc : sl_errf(err, -k, "%s", e.msg);
		for (int j = 0; j < k; j++) {
			struct unit *u = reqs[j]->user;
			int r = 0;
			if (reqs[j]->result < 0 && !rc)
				r = sl_errf(err, (int)-reqs[j]->result, "%s: reading weights of '%s': %s", w->f->path,
					    u->name, e.msg);
			else if (reqs[j]->result >= 0 && !rc)
				r = done(w, u, ctx, err);
			if (reqs[j]->result >= 0 && u->expert >= 0)
				w->st.expert_bytes_read += u->size;
			if (r && !rc)
				rc = r;
		}
	}
	return rc;
}

int sl_io_done_wait(struct sl_weights *w, int id, struct sl_err *err)
{
	struct unit *u = &w->u[id];
	uint64_t t0 = sl_now_ns();
	SL_TRACE_B("cache", "io wait", "unit,bytes", id, u->size, 0, 0);
	int rc = 0;
	while (u->hstate == H_READING && !rc)
		rc = sl_io_done_reap(w, 1, err);
	SL_TRACE_E();
	w->st.io_wait_ns += sl_now_ns() - t0;
	if (!rc && u->hstate != H_READY)
		rc = sl_errf(err, EIO, "%s: reading weights of '%s' failed", w->f->path, u->name);
	return rc;
}
