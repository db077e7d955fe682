/* SPDX-License-Identifier: MIT */
/*
 * runtime/io/uring.c — the streaming engine: io_uring with O_DIRECT.
 *
 * Why each piece:
 *  - O_DIRECT: weights are read once per pass and never reused from the page cache; going
 *    through it would double the memory traffic and evict what the rest of the system needs.
 *  - registered file (IOSQE_FIXED_FILE): saves an fget/fput per request.
 *  - fixed buffers (IORING_OP_READ_FIXED): the staging pool registers its slabs once; the
 *    kernel then skips pinning and unpinning user pages on every request.  The table is
 *    registered sparse at open (SL_IO_MAX_FIXED slots) and filled as slabs appear.
 *  - many requests in flight: NVMe needs queue depth to reach its bandwidth.
 * A command that is not inside a registered slab is issued as a plain IORING_OP_READ.
 */
#include "io/io.h"

#include <liburing.h>
#include <stdlib.h>
#include <string.h>

struct uring_state {
	struct io_uring ring;
	bool file_registered;
	bool fixed_table; /* sparse buffer table registered */
	struct {
		char *base;
		size_t len;
	} fixed[SL_IO_MAX_FIXED];
	unsigned nfixed; /* slots in use (for a quick skip) */
	unsigned unflushed; /* SQEs queued whose io_uring_submit failed transiently */
};

static int uring_open(struct sl_io *io, const char *path, struct sl_err *err)
{
	struct uring_state *st = calloc(1, sizeof(*st));
	if (!st)
		return sl_errf(err, ENOMEM, "out of memory");
	int r = sl_io_open_file(io, path, !io->buffered, err);
	if (r < 0)
		goto fail;
	if (io->buffered)
		io->align = io->mem_align = 1;
	else
		sl_io_probe_alignment(io);

	if (io->open_faults.no_uring) {
		r = sl_errf(err, ENOSYS, "io_uring_queue_init: %s (injected fault)", strerror(ENOSYS));
		goto fail;
	}
	unsigned entries = SL_MIN(io->qd, 4096u);
	r = io_uring_queue_init(entries, &st->ring, 0);
	if (r < 0) {
		r = sl_errf(err, -r, "io_uring_queue_init(%u): %s", entries, strerror(-r));
		goto fail;
	}
	if (io->qd > entries)
		io->qd = entries;
	/* Both registrations are optimisations: without them the engine still works. */
	st->file_registered = io_uring_register_files(&st->ring, &io->fd, 1) == 0;
	st->fixed_table = io_uring_register_buffers_sparse(&st->ring, SL_IO_MAX_FIXED) == 0;
	if (io->buffered)
		snprintf(io->name, sizeof(io->name), "uring-buffered");
	io->priv = st;
	return 0;
fail:
	free(st);
	return r;
}

static int fixed_slot(struct uring_state *st, const void *buf, uint64_t len)
{
	if (!st->nfixed)
		return -1;
	const char *p = buf;
	for (unsigned i = 0; i < SL_IO_MAX_FIXED; i++) {
		if (st->fixed[i].len && p >= st->fixed[i].base &&
		    p + len <= st->fixed[i].base + st->fixed[i].len)
			return (int)i;
	}
	return -1;
}

static int uring_submit(struct sl_io *io, struct sl_io_cmd **cmds, unsigned n)
{
	struct uring_state *st = io->priv;
	unsigned i;
	int fd = st->file_registered ? 0 : io->fd;
	for (i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&st->ring);
		if (!sqe)
			break;
		struct sl_io_cmd *c = cmds[i];
		int slot = fixed_slot(st, c->buf, c->len);
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
		st->unflushed += i;
	return (int)i;
}

static int uring_reap(struct sl_io *io, unsigned min, struct sl_io_cmd **done, unsigned max,
		      struct sl_err *err)
{
	struct uring_state *st = io->priv;
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
		if (got >= min && !st->unflushed)
			return (int)got;
		/* submit_and_wait also pushes SQEs an earlier submit could not */
		int r = io_uring_submit_and_wait(&st->ring, got >= min ? 0 : 1);
		if (r >= 0)
			st->unflushed = 0;
		else if (r != -EINTR && r != -EAGAIN && r != -EBUSY)
			return got ? (int)got : sl_errf(err, -r, "%s: io_uring_enter: %s", io->path,
							 strerror(-r));
		if (got >= min)
			return (int)got;
	}
}

static int uring_register_buffer(struct sl_io *io, unsigned slot, void *base, size_t len,
				 struct sl_err *err)
{
	struct uring_state *st = io->priv;
	if (!st->fixed_table)
		return 0; /* plain reads into it still work */
	struct iovec iov = { .iov_base = len ? base : NULL, .iov_len = len };
	__u64 tag = 0;
	int r = io_uring_register_buffers_update_tag(&st->ring, slot, &iov, &tag, 1);
	if (r < 0) {
		/* e.g. over RLIMIT_MEMLOCK for an unprivileged user: not fatal */
		sl_warn("io: registering a %zu-byte fixed buffer failed (%s); using plain reads", len,
			strerror(-r));
		st->fixed[slot].len = 0;
		return 0;
	}
	bool was = st->fixed[slot].len != 0;
	st->fixed[slot].base = base;
	st->fixed[slot].len = len;
	st->nfixed += (len != 0) - was;
	return 0;
}

static void uring_close(struct sl_io *io)
{
	struct uring_state *st = io->priv;
	if (!st)
		return;
	io_uring_queue_exit(&st->ring);
	free(st);
	io->priv = NULL;
}

const struct sl_io_ops sl_io_uring_ops = {
	.name = "uring",
	.open = uring_open,
	.submit = uring_submit,
	.reap = uring_reap,
	.register_buffer = uring_register_buffer,
	.close = uring_close,
};
