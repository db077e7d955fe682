/* SPDX-License-Identifier: MIT */
/*
 * runtime/io/mmap.c — the page-cache baseline: map the whole file, as llama.cpp does.
 *
 * A "read" copies out of the mapping (page faults pull the data in, readahead decides how
 * much), or sl_io_map() hands out a pointer without copying.  It exists to measure the
 * streaming engines against and as a fallback for callers that want zero-copy access to a
 * model that fits in RAM.  Reads are bounded by the size at open: touching a page past the
 * end of a file that shrank afterwards would raise SIGBUS, so that case is not protected.
 * Commands complete inside submit (e->sync).
 */
#include "io/io_engine.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct mmap_engine {
	struct sl_io_engine e; /* first */
	void *base;
	uint64_t size;
	struct sl_io_cmdq done;
};

static void mmap_close(struct sl_io_engine *e)
{
	struct mmap_engine *st = (struct mmap_engine *)e;
	if (st->base)
		munmap(st->base, st->size);
	sl_io_engine_fini(e);
	free(st);
}

static int mmap_open(const struct sl_io_source *src, const struct sl_io_engine_params *p,
		     struct sl_io_engine **out, struct sl_err *err)
{
	struct mmap_engine *st = calloc(1, sizeof(*st));
	if (!st)
		return sl_errf(err, ENOMEM, "out of memory");
	int r = sl_io_engine_init(&st->e, &sl_io_mmap_ops, src, err);
	if (r == 0)
		r = sl_io_file_open(&st->e, src, false, p, err);
	if (r == 0 && st->e.size) {
		void *m = mmap(NULL, st->e.size, PROT_READ, MAP_SHARED, st->e.fd, 0);
		if (m == MAP_FAILED) {
			int en = errno;
			r = sl_errf(err, en, "%s: mmap: %s", src->path, strerror(en));
		} else {
			st->base = m;
			st->size = st->e.size;
		}
	}
	if (r < 0) {
		mmap_close(&st->e);
		return r;
	}
	st->e.qd = p->qd;
	st->e.sync = true;
	st->e.maps = true;
	*out = &st->e;
	return 0;
}

static int mmap_submit(struct sl_io_engine *e, struct sl_io_cmd **cmds, unsigned n)
{
	struct mmap_engine *st = (struct mmap_engine *)e;
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

static int mmap_reap(struct sl_io_engine *e, unsigned min, struct sl_io_cmd **done, unsigned max,
		     struct sl_err *err)
{
	struct mmap_engine *st = (struct mmap_engine *)e;
	return (int)sl_io_cmdq_pop(&st->done, done, max);
}

static int mmap_map(struct sl_io_engine *e, uint64_t off, uint64_t len, const void **ptr)
{
	struct mmap_engine *st = (struct mmap_engine *)e;
	if (off + len > st->size)
		return -ENODATA;
	*ptr = (const char *)st->base + off;
	return 0;
}

const struct sl_io_ops sl_io_mmap_ops = {
	.name = "mmap",
	.open = mmap_open,
	.submit = mmap_submit,
	.reap = mmap_reap,
	.size = sl_io_file_size_now,
	.map = mmap_map,
	.close = mmap_close,
};
