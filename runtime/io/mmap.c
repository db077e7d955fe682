/* SPDX-License-Identifier: MIT */
/*
 * runtime/io/mmap.c — the page-cache baseline: map the whole file, as llama.cpp does.
 *
 * A "read" copies out of the mapping (page faults pull the data in, readahead decides how
 * much), or sl_io_map() hands out a pointer without copying.  It exists to measure the
 * streaming engines against and as a fallback for callers that want zero-copy access to a
 * model that fits in RAM.  Reads are bounded by the size at open: touching a page past the
 * end of a file that shrank afterwards would raise SIGBUS, so that case is not protected.
 */
#include "io/io.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct mmap_state {
	void *base;
	uint64_t size;
	struct sl_io_cmdq done;
};

static int mmap_open(struct sl_io *io, const char *path, struct sl_err *err)
{
	struct mmap_state *st = calloc(1, sizeof(*st));
	if (!st)
		return sl_errf(err, ENOMEM, "out of memory");
	int r = sl_io_open_file(io, path, false, err);
	if (r < 0) {
		free(st);
		return r;
	}
	if (io->file_size) {
		st->base = mmap(NULL, io->file_size, PROT_READ, MAP_SHARED, io->fd, 0);
		if (st->base == MAP_FAILED) {
			int e = errno;
			free(st);
			return sl_errf(err, e, "%s: mmap: %s", path, strerror(e));
		}
	}
	st->size = io->file_size;
	io->priv = st;
	io->align = io->mem_align = 1;
	return 0;
}

static int mmap_submit(struct sl_io *io, struct sl_io_cmd **cmds, unsigned n)
{
	struct mmap_state *st = io->priv;
	for (unsigned i = 0; i < n; i++) {
		struct sl_io_cmd *c = cmds[i];
		uint64_t avail = c->offset < st->size ? st->size - c->offset : 0;
		uint64_t k = SL_MIN(avail, c->len);
		if (k)
			memcpy(c->buf, (const char *)st->base + c->offset, k);
		c->result = (int64_t)k;
		sl_io_cmdq_push(&st->done, c);
	}
	return (int)n;
}

static int mmap_reap(struct sl_io *io, unsigned min, struct sl_io_cmd **done, unsigned max,
		     struct sl_err *err)
{
	struct mmap_state *st = io->priv;
	return (int)sl_io_cmdq_pop(&st->done, done, max);
}

static int mmap_map(struct sl_io *io, uint64_t off, uint64_t len, const void **ptr)
{
	struct mmap_state *st = io->priv;
	if (off + len > st->size)
		return -ENODATA;
	*ptr = (const char *)st->base + off;
	return 0;
}

static void mmap_close(struct sl_io *io)
{
	struct mmap_state *st = io->priv;
	if (st && st->base)
		munmap(st->base, st->size);
	free(st);
	io->priv = NULL;
}

const struct sl_io_ops sl_io_mmap_ops = {
	.name = "mmap",
	.open = mmap_open,
	.submit = mmap_submit,
	.reap = mmap_reap,
	.map = mmap_map,
	.close = mmap_close,
};
