/* SPDX-License-Identifier: MIT */
/*
 * runtime/io/pread.c — the portable engine: plain pread(2) through the page cache.
 *
 * It is what "auto" falls back to when io_uring or O_DIRECT is refused (seccomp, tmpfs on
 * old kernels, filesystems without direct I/O), and the twin the tests run everywhere.
 * Commands run synchronously inside submit (e->sync: with the I/O thread on, that thread
 * does the reading); the results still go through reap so the consumer code is the same.
 * No alignment requirement (align = mem_align = 1).  Registered memory needs nothing here:
 * the iova is the address, and pread takes any address.
 */
#include "io/io_engine.h"

#include <stdlib.h>
#include <unistd.h>

struct pread_engine {
	struct sl_io_engine e; /* first */
	struct sl_io_cmdq done; /* completed, not yet reaped */
};

static void pread_close(struct sl_io_engine *e)
{
	sl_io_engine_fini(e);
	free(e);
}

static int pread_open(const struct sl_io_source *src, const struct sl_io_engine_params *p,
		      struct sl_io_engine **out, struct sl_err *err)
{
	struct pread_engine *st = calloc(1, sizeof(*st));
	if (!st)
		return sl_errf(err, ENOMEM, "out of memory");
	int r = sl_io_engine_init(&st->e, &sl_io_pread_ops, src, err);
	if (r == 0)
		r = sl_io_file_open(&st->e, src, false, p, err);
	if (r < 0) {
		pread_close(&st->e);
		return r;
	}
	st->e.qd = p->qd;
	st->e.sync = true;
	*out = &st->e;
	return 0;
}

/* Read all of it unless EOF or an error: a regular file's pread is short only at EOF or on a
 * signal, and the caller judges what a short total means. */
static int64_t read_full(int fd, void *buf, uint64_t len, uint64_t off)
{
	uint64_t got = 0;
	while (got < len) {
		ssize_t r = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		got += (uint64_t)r;
	}
	return (int64_t)got;
}

static int pread_submit(struct sl_io_engine *e, struct sl_io_cmd **cmds, unsigned n)
{
	struct pread_engine *st = (struct pread_engine *)e;
	for (unsigned i = 0; i < n; i++) {
		struct sl_io_cmd *c = cmds[i];
		c->result = read_full(e->fd, c->buf, c->len, c->offset);
		sl_io_cmdq_push(&st->done, c);
	}
	return (int)n;
}

static int pread_reap(struct sl_io_engine *e, unsigned min, struct sl_io_cmd **done, unsigned max,
		      struct sl_err *err)
{
	struct pread_engine *st = (struct pread_engine *)e;
	return (int)sl_io_cmdq_pop(&st->done, done, max);
}

const struct sl_io_ops sl_io_pread_ops = {
	.name = "pread",
	.open = pread_open,
	.submit = pread_submit,
	.reap = pread_reap,
	.size = sl_io_file_size_now,
	.close = pread_close,
};
