/* SPDX-License-Identifier: MIT */
/*
 * runtime/io/file.c — for file engines: opening the model file, its size now, and its
 * O_DIRECT alignment.
 *
 * O_DIRECT wants file offsets, lengths and (usually) buffer addresses aligned to the
 * device's logical block size.  Asking is better than guessing 4096 everywhere: a 512-byte
 * device lets a tensor read start 3.5 KiB closer to its first byte.  Sources, best first:
 * BLKSSZGET for a block device, statx(STATX_DIOALIGN) (Linux 6.1+, not every filesystem
 * fills it), then probing an O_DIRECT read at 512 (EINVAL means it needs more: use 4096).
 */
#include "io/io_engine.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

int sl_io_file_open(struct sl_io_engine *e, const struct sl_io_source *src, bool direct,
		    const struct sl_io_engine_params *p, struct sl_err *err)
{
	if (src->kind != SL_IO_SOURCE_FILE)
		return sl_errf(err, ENOTSUP, "%s: engine %s reads files only", e->path, e->name);
	const char *path = src->path;
	int flags = O_RDONLY | O_CLOEXEC | (direct ? O_DIRECT : 0);
	if (direct && p->no_direct)
		return sl_errf(err, EINVAL, "%s: O_DIRECT not supported (injected fault)", path);
	int fd = open(path, flags);
	if (fd < 0) {
		int en = errno;
		if (direct && en == EINVAL)
			return sl_errf(err, en, "%s: O_DIRECT not supported by this filesystem", path);
		return sl_errf(err, en, "%s: %s", path, strerror(en));
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int en = errno;
		close(fd);
		return sl_errf(err, en, "%s: stat: %s", path, strerror(en));
	}
	uint64_t size = (uint64_t)st.st_size;
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &size) < 0) {
			int en = errno;
			close(fd);
			return sl_errf(err, en, "%s: BLKGETSIZE64: %s", path, strerror(en));
		}
	} else if (!S_ISREG(st.st_mode)) {
		close(fd);
		return sl_errf(err, EINVAL, "%s: not a regular file or block device", path);
	}
	e->fd = fd;
	e->size = size;
	return 0;
}

int sl_io_file_size_now(struct sl_io_engine *e, uint64_t *size)
{
	struct stat st;
	if (fstat(e->fd, &st) < 0)
		return -errno;
	/* a block device does not shrink under us; a regular file may be truncated */
	*size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : e->size;
	return 0;
}

/* Does an O_DIRECT read of 512 bytes at offset 512 into a 512-aligned address work? */
static bool probe_512(int fd)
{
	void *p = sl_aligned_alloc(4096, 8192);
	if (!p)
		return false;
	ssize_t r = pread(fd, (char *)p + 512, 512, 512);
	bool ok = r >= 0 || errno != EINVAL;
	free(p);
	return ok;
}

void sl_io_probe_alignment(struct sl_io_engine *e)
{
	struct stat st;
	e->align = e->mem_align = 4096;
	if (fstat(e->fd, &st) == 0 && S_ISBLK(st.st_mode)) {
		int lbs = 0;
		if (ioctl(e->fd, BLKSSZGET, &lbs) == 0 && lbs > 0) {
			e->align = e->mem_align = (uint32_t)lbs;
			return;
		}
	}
#ifdef STATX_DIOALIGN
	struct statx sx;
	if (statx(e->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 && (sx.stx_mask & STATX_DIOALIGN) &&
	    sx.stx_dio_offset_align) {
		e->align = sx.stx_dio_offset_align;
		/* buffers: never below 512 — cheap, and keeps sector-sized DMA simple */
		e->mem_align = SL_MAX(sx.stx_dio_mem_align, 512u);
		return;
	}
#endif
	if (probe_512(e->fd))
		e->align = e->mem_align = 512;
}
