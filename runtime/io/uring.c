/* SPDX-License-Identifier: MIT */
/*
 * runtime/io/uring.c — the streaming engine: io_uring with O_DIRECT.
 *
 * Why each piece:
 *  - O_DIRECT: weights are read once per pass and never reused from the page cache; going
 *    through it would double the memory traffic and evict what the rest of the system needs.
 *  - registered file (IOSQE_FIXED_FILE): saves an fget/fput per request.
 *  - fixed buffers (IORING_OP_READ_FIXED): registered regions (the staging pool's slabs)
 *    get a slot of a sparse table registered at open, while one of FIXED_SLOTS is free and
 *    the region is at most 1 GiB (the kernel's limit for one buffer); the kernel then skips
 *    pinning and unpinning user pages on every request.  Other regions are read with plain
 *    IORING_OP_READ: registered memory all the same, just without that shortcut.
 *  - many requests in flight: NVMe needs queue depth to reach its bandwidth.
 * The iova of a region is its address (the kernel translates it).
 *
 * Threading (see io_engine.h): wait() peeks the completion queue without consuming it and
 * never touches the submission queue, so it can block on the I/O thread while the
 * consumer submits.  `unflushed` is shared with it, hence atomic.
 */
#include "io/io_engine.h"

#include <liburing.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define FIXED_SLOTS 64
#define MAX_FIXED_LEN ((size_t)1 << 30)

struct uring_engine {
	struct sl_io_engine e; /* first */
	struct io_uring ring;
	bool ring_ok;
	bool file_registered;
	bool fixed_table;            /* sparse buffer table registered */
	bool warned;                 /* a fixed-buffer registration failed once (said so) */
	bool slot_used[FIXED_SLOTS];
	_Atomic unsigned unflushed;  /* SQEs queued whose io_uring_submit failed transiently */
};

static void uring_close(struct sl_io_engine *e)
{
	struct uring_engine *st = (struct uring_engine *)e;
	if (st->ring_ok)
		io_uring_queue_exit(&st->ring);
	sl_io_engine_fini(e);
	free(st);
}

static int uring_open(const struct sl_io_source *src, const struct sl_io_engine_params *p,
		      struct sl_io_engine **out, struct sl_err *err)
{
	struct uring_engine *st = calloc(1, sizeof(*st));
	if (!st)
		return sl_errf(err, ENOMEM, "out of memory");
	struct sl_io_engine *e = &st->e;
	int r = sl_io_engine_init(e, &sl_io_uring_ops, src, err);
	if (r == 0)
		r = sl_io_file_open(e, src, !p->buffered, p, err);
	if (r < 0)
		goto fail;
	if (p->buffered) {
		e->align = e->mem_align = 1;
		snprintf(e->name, sizeof(e->name), "uring-buffered");
	} else {
		sl_io_probe_alignment(e);
	}
	if (p->no_uring) {
		r = sl_errf(err, ENOSYS, "io_uring_queue_init: %s (injected fault)", strerror(ENOSYS));
		goto fail;
	}
	unsigned entries = SL_MIN(SL_MAX(p->qd, 1u), 4096u);
	r = io_uring_queue_init(entries, &st->ring, 0);
	if (r < 0) {
		r = sl_errf(err, -r, "io_uring_queue_init(%u): %s", entries, strerror(-r));
		goto fail;
	}
	st->ring_ok = true;
	e->qd = entries;
	/* Both registrations are optimisations: without them the engine still works. */
	st->file_registered = io_uring_register_files(&st->ring, &e->fd, 1) == 0;
	st->fixed_table = io_uring_register_buffers_sparse(&st->ring, FIXED_SLOTS) == 0;
	*out = e;
	return 0;
fail:
	uring_close(e);
	return r;
}

static int uring_submit(struct sl_io_engine *e, struct sl_io_cmd **cmds, unsigned n)
{
	struct uring_engine *st = (struct uring_engine *)e;
	unsigned i;
	int fd = st->file_registered ? 0 : e->fd;
	for (i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&st->ring);
		if (!sqe)
			break;
		struct sl_io_cmd *c = cmds[i];
		int slot = c->mem->slot;
		if (slot >= 0)
			io_uring_prep_read_fixed(sqe, fd, c->buf, (unsigned)c->len, c->offset, slot);
		else
			io_uring_prep_read(sqe, fd, c->buf, (unsigned)c->len, c->offset);
		if (st->file_registered)
			sqe->flags |= IOSQE_FIXED_FILE;
		io_uring_sqe_set_data(sqe, c);
	}
	if (i == 0)
		return -EBUSY;
	int r = io_uring_submit(&st->ring);
	if (r < 0 && r != -EAGAIN && r != -EBUSY && r != -EINTR)
		return r; /* the ring itself is broken */
	/* Transient refusals leave the SQEs in the ring; reap flushes them. */
	if (r < 0)
		atomic_fetch_add(&st->unflushed, i);
	return (int)i;
}

static int uring_reap(struct sl_io_engine *e, unsigned min, struct sl_io_cmd **done, unsigned max,
		      struct sl_err *err)
{
	struct uring_engine *st = (struct uring_engine *)e;
	unsigned got = 0;
	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&st->ring, head, cqe) {
			if (got == max)
				break;
			struct sl_io_cmd *c = io_uring_cqe_get_data(cqe);
			c->result = cqe->res;
			done[got++] = c;
			seen++;
		}
		io_uring_cq_advance(&st->ring, seen);
		if (got >= min && !atomic_load(&st->unflushed))
			return (int)got;
		/* submit_and_wait also pushes SQEs an earlier submit could not */
		int r = io_uring_submit_and_wait(&st->ring, got >= min ? 0 : 1);
		if (r >= 0)
			atomic_store(&st->unflushed, 0);
		else if (r != -EINTR && r != -EAGAIN && r != -EBUSY)
			return got ? (int)got : sl_errf(err, -r, "%s: io_uring_enter: %s", e->path,
							 strerror(-r));
		if (got >= min)
			return (int)got;
	}
}

static void uring_wait(struct sl_io_engine *e)
{
	struct uring_engine *st = (struct uring_engine *)e;
	/* SQEs not yet pushed to the kernel would never complete: let reap flush them */
	if (atomic_load(&st->unflushed))
		return;
	struct io_uring_cqe *cqe;
	io_uring_wait_cqe(&st->ring, &cqe); /* peeks: the CQE stays for reap */
}

static int uring_mem_register(struct sl_io_engine *e, struct sl_io_mem *m, struct sl_err *err)
{
	struct uring_engine *st = (struct uring_engine *)e;
	if (!st->fixed_table || m->len > MAX_FIXED_LEN)
		return 0; /* plain reads into it work */
	unsigned slot;
	for (slot = 0; slot < FIXED_SLOTS && st->slot_used[slot]; slot++)
		;
	if (slot == FIXED_SLOTS)
		return 0;
	struct iovec iov = { .iov_base = m->base, .iov_len = m->len };
	__u64 tag = 0;
	int r = io_uring_register_buffers_update_tag(&st->ring, slot, &iov, &tag, 1);
	if (r < 0) {
		/* e.g. over RLIMIT_MEMLOCK for an unprivileged user: not fatal */
		if (!st->warned)
			sl_warn("io: registering a %zu-byte fixed buffer failed (%s); using plain reads",
				m->len, strerror(-r));
		st->warned = true;
		return 0;
	}
	st->slot_used[slot] = true;
	m->slot = (int)slot;
	return 0;
}

static void uring_mem_unregister(struct sl_io_engine *e, struct sl_io_mem *m)
{
	struct uring_engine *st = (struct uring_engine *)e;
	if (m->slot < 0)
		return;
	struct iovec iov = { .iov_base = NULL, .iov_len = 0 };
	__u64 tag = 0;
	io_uring_register_buffers_update_tag(&st->ring, (unsigned)m->slot, &iov, &tag, 1);
	st->slot_used[m->slot] = false;
	m->slot = -1;
}

const struct sl_io_ops sl_io_uring_ops = {
	.name = "uring",
	.open = uring_open,
	.submit = uring_submit,
	.reap = uring_reap,
	.wait = uring_wait,
	.size = sl_io_file_size_now,
	.mem_register = uring_mem_register,
	.mem_unregister = uring_mem_unregister,
	.close = uring_close,
};
