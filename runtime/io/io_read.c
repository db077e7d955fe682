/* SPDX-License-Identifier: MIT */
/*
 * runtime/io/io_read.c — synchronous reads into any buffer (headers, resident tensors at
 * load, tests).
 *
 * Reads land only in registered memory, so a buffer that is not registered, or a range the
 * engine cannot read in place (unaligned offset, length or address), goes through a bounce
 * buffer.  The bounce buffer is allocated and registered once, on first need, and kept
 * until close: registering costs a syscall and page pinning (io_uring) or an IOMMU mapping
 * (VFIO), too much to repeat per read.  It is sized to keep the engine queue full.
 */
#include "io/io_priv.h"

#include <stdlib.h>
#include <string.h>

static int read_one(struct sl_io *io, struct sl_io_req *r, struct sl_err *err)
{
	struct sl_io_req *rp = r, *done;
	int n = sl_io_submit(io, &rp, 1, err);
	if (n < 0)
		return n;
	n = sl_io_reap(io, 1, &done, 1, err);
	if (n < 0)
		return n;
	if (n != 1)
		return sl_errf(err, EIO, "%s: read did not complete", io->eng->path);
	return r->result < 0 ? (int)r->result : 0;
}

static int bounce_get(struct sl_io *io, struct sl_err *err)
{
	if (io->bounce_mem)
		return 0;
	uint64_t window = SL_MIN((uint64_t)io->qd * io->max_request, (uint64_t)64 << 20);
	window = SL_MAX(window, (uint64_t)io->align * 2);
	window = SL_ALIGN_UP(window, (uint64_t)4096);
	if (!io->bounce) {
		io->bounce = sl_aligned_alloc(SL_MAX(io->mem_align, 4096u), window);
		if (!io->bounce)
			return sl_errf(err, ENOMEM, "out of memory for a %llu-byte bounce buffer",
				       (unsigned long long)window);
		io->bounce_len = window;
	}
	return sl_io_mem_register(io, io->bounce, io->bounce_len, &io->bounce_mem, err);
}

int sl_io_read(struct sl_io *io, uint64_t off, uint64_t len, void *buf, struct sl_err *err)
{
	if (io->outstanding)
		return sl_errf(err, EBUSY, "%s: sl_io_read with asynchronous requests outstanding",
			       io->eng->path);
	if (len == 0)
		return 0;
	if (off % io->align == 0 && len % io->align == 0 && (uintptr_t)buf % io->mem_align == 0 &&
	    sl_io_mem_find(io, buf, len)) {
		struct sl_io_req r = { .offset = off, .len = len, .buf = buf };
		return read_one(io, &r, err);
	}
	int ret = bounce_get(io, err);
	if (ret < 0)
		return ret;
	uint64_t a_off, a_len, skip;
	if (sl_io_span(io, off, len, &a_off, &a_len, &skip) < 0)
		return sl_errf(err, EOVERFLOW, "%s: read range overflows", io->eng->path);
	/* a piece runs from pos to at most a + window (a: pos rounded down), so its aligned
	 * span always fits the window, which is a whole number of blocks */
	uint64_t window = io->bounce_len / io->align * io->align;
	uint64_t pos = off, end = off + len;
	while (pos < end) {
		uint64_t a = pos / io->align * io->align;
		uint64_t piece_end = SL_MIN(end, a + window);
		struct sl_io_req r = { .offset = pos, .len = piece_end - pos, .buf = io->bounce };
		if ((ret = read_one(io, &r, err)) < 0)
			return ret;
		memcpy((char *)buf + (pos - off), r.data, r.len);
		pos = piece_end;
	}
	return 0;
}
