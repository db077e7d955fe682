/* SPDX-License-Identifier: MIT */
/*
 * runtime/io/nvme/stage.c — writing a model to a raw namespace behind a superblock, reading
 * and checking the superblock, verifying every tensor's hash, and handing the GGUF header to
 * the parser (see stage.h for the layout).
 *
 * All transfers go through one DMA-mapped bounce window (sl_nvme_rw): staging is a one-off
 * and its speed is the drive's write speed, so no pipelining.
 */
#include "io/nvme/stage.h"
#include "gguf.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define WINDOW (4u << 20)
#define PAGE 4096u

static uint64_t sb_hash(const struct sl_stage_sb *sb)
{
	struct sl_stage_sb c = *sb;
	c.sb_hash = 0;
	return XXH64(&c, sizeof(c), 0);
}

static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	size_t got = 0;
	while (got < len) {
		ssize_t r = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -ENODATA;
		got += (size_t)r;
	}
	return 0;
}

/* xxh64 of [off, off+len) of the file: streamed. */
static int hash_file_range(int fd, uint64_t off, uint64_t len, void *buf, uint64_t *out)
{
	XXH64_state_t *s = XXH64_createState();
	if (!s)
		return -ENOMEM;
	XXH64_reset(s, 0);
	int r = 0;
	for (uint64_t done = 0; done < len && !r;) {
		size_t k = (size_t)SL_MIN((uint64_t)WINDOW, len - done);
		if (!(r = pread_all(fd, buf, k, off + done)))
			XXH64_update(s, buf, k);
		done += k;
	}
	*out = XXH64_digest(s);
	XXH64_freeState(s);
	return r;
}

int sl_stage_write(struct sl_nvme *n, uint64_t lba, const char *path, sl_stage_progress_fn fn, void *ctx,
		   struct sl_err *err)
{
	struct gguf_file *f = NULL;
	struct sl_dma win = { 0 };
	uint64_t *tab = NULL;
	int r = sl_gguf_open(path, &f, err);
	if (r)
		return r;
	if ((r = sl_dma_alloc(&n->v, WINDOW, &win, err)))
		goto out;
	struct sl_stage_sb sb = { .version = SL_STAGE_VERSION, .block_size = n->lba_size };
	memcpy(sb.magic, SL_STAGE_MAGIC, 8);
	sb.image_bytes = f->file_size;
	sb.header_bytes = f->data_offset;
	sb.n_tensors = f->n_tensors;
	sb.staged_unix = (uint64_t)time(NULL);
	const char *name = NULL;
	struct sl_err ign;
	if (sl_gguf_get_str(f, "general.name", &name, &ign) || !name)
		name = "";
	snprintf(sb.model_name, sizeof(sb.model_name), "%s", name);
	snprintf(sb.source, sizeof(sb.source), "%s", path);
	uint64_t align = SL_MAX((uint64_t)PAGE, (uint64_t)n->lba_size);
	sb.image_off = SL_ALIGN_UP(sizeof(sb) + 8 * sb.n_tensors, align);
	uint64_t start = lba * n->lba_size, ns = n->nlba * n->lba_size;
	uint64_t need = sb.image_off + SL_ALIGN_UP(sb.image_bytes, n->lba_size);
	if (lba >= n->nlba || need > ns - start) {
		r = sl_errf(err, ENOSPC, "%s: namespace %u too small: the model needs %llu bytes from LBA %llu, the namespace has %llu",
			    n->v.bdf, n->nsid, (unsigned long long)need, (unsigned long long)lba,
			    (unsigned long long)(lba < n->nlba ? ns - start : 0));
		goto out;
	}
	if (sb.image_off > WINDOW) {
		r = sl_errf(err, E2BIG, "%s: %llu tensors: the hash table does not fit the staging window", path,
			    (unsigned long long)sb.n_tensors);
		goto out;
	}
	if (!(tab = calloc(sb.n_tensors ? sb.n_tensors : 1, 8))) {
		r = sl_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	for (uint64_t i = 0; i < sb.n_tensors; i++)
		if ((r = hash_file_range(f->fd, f->tensors[i].file_offset, f->tensors[i].size, win.va, &tab[i]))) {
			r = sl_errf(err, -r, "%s: reading tensor '%s': %s", path, f->tensors[i].name.s, strerror(-r));
			goto out;
		}
	if ((r = hash_file_range(f->fd, 0, sb.header_bytes, win.va, &sb.header_hash))) {
		r = sl_errf(err, -r, "%s: reading the header: %s", path, strerror(-r));
		goto out;
	}
	sb.table_hash = XXH64(tab, 8 * sb.n_tensors, 0);
	sb.sb_hash = sb_hash(&sb);
	/* The image first, the superblock last: an interrupted stage leaves no valid superblock
	 * over a half-written image (the old one is invalidated first). */
	memset(win.va, 0, n->lba_size);
	if ((r = sl_nvme_rw(n, true, start, n->lba_size, win.iova, err)))
		goto out;
	for (uint64_t done = 0; done < sb.image_bytes;) {
		size_t k = (size_t)SL_MIN((uint64_t)WINDOW, sb.image_bytes - done);
		if ((r = pread_all(f->fd, win.va, k, done))) {
			r = sl_errf(err, -r, "%s: read at %llu: %s", path, (unsigned long long)done, strerror(-r));
			goto out;
		}
		size_t kb = SL_ALIGN_UP(k, n->lba_size);
		memset((char *)win.va + k, 0, kb - k);
		if ((r = sl_nvme_rw(n, true, start + sb.image_off + done, kb, win.iova, err)))
			goto out;
		done += k;
		if (fn)
			fn(ctx, done, sb.image_bytes);
	}
	memset(win.va, 0, sb.image_off);
	memcpy(win.va, &sb, sizeof(sb));
	memcpy((char *)win.va + sizeof(sb), tab, 8 * sb.n_tensors);
	r = sl_nvme_rw(n, true, start, sb.image_off, win.iova, err);
out:
	free(tab);
	sl_dma_free(&n->v, &win);
	sl_gguf_close(f);
	return r;
}

int sl_stage_read(struct sl_nvme *n, uint64_t lba, struct sl_stage *st, struct sl_err *err)
{
	memset(st, 0, sizeof(*st));
	struct sl_dma win = { 0 };
	uint64_t start = lba * n->lba_size, ns = n->nlba * n->lba_size;
	if (lba >= n->nlba)
		return sl_errf(err, EINVAL, "%s: LBA %llu is past the namespace end (%llu blocks)", n->v.bdf,
			       (unsigned long long)lba, (unsigned long long)n->nlba);
	int r = sl_dma_alloc(&n->v, WINDOW, &win, err);
	if (r)
		return r;
	uint64_t first = SL_ALIGN_UP(sizeof(st->sb), n->lba_size);
	if ((r = sl_nvme_rw(n, false, start, SL_MIN(first, ns - start), win.iova, err)))
		goto out;
	memcpy(&st->sb, win.va, sizeof(st->sb));
	struct sl_stage_sb *sb = &st->sb;
	if (memcmp(sb->magic, SL_STAGE_MAGIC, 8)) {
		r = sl_errf(err, ENOENT, "%s: no staged model at LBA %llu (no sluice superblock: run `sluice stage MODEL --nvme %s`)",
			    n->v.bdf, (unsigned long long)lba, n->v.bdf);
		goto out;
	}
	if (sb_hash(sb) != sb->sb_hash) {
		r = sl_errf(err, EBADMSG, "%s: the superblock at LBA %llu is corrupt (checksum mismatch): stage the model again",
			    n->v.bdf, (unsigned long long)lba);
		goto out;
	}
	if (sb->version != SL_STAGE_VERSION) {
		r = sl_errf(err, ENOTSUP, "%s: superblock version %u (this sluice reads %u)", n->v.bdf, sb->version,
			    SL_STAGE_VERSION);
		goto out;
	}
	if (sb->image_off > WINDOW || sb->image_off % n->lba_size || sb->image_off < sizeof(*sb) + 8 * sb->n_tensors ||
	    sb->header_bytes > sb->image_bytes || sb->image_off + sb->image_bytes > ns - start) {
		r = sl_errf(err, EBADMSG, "%s: the superblock at LBA %llu describes an image that does not fit the namespace "
			    "(%llu + %llu bytes of %llu)", n->v.bdf, (unsigned long long)lba,
			    (unsigned long long)sb->image_off, (unsigned long long)sb->image_bytes, (unsigned long long)(ns - start));
		goto out;
	}
	if ((r = sl_nvme_rw(n, false, start, sb->image_off, win.iova, err)))
		goto out;
	if (!(st->hashes = malloc(8 * (sb->n_tensors ? sb->n_tensors : 1)))) {
		r = sl_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	memcpy(st->hashes, (char *)win.va + sizeof(*sb), 8 * sb->n_tensors);
	if (XXH64(st->hashes, 8 * sb->n_tensors, 0) != sb->table_hash) {
		r = sl_errf(err, EBADMSG, "%s: the tensor hash table at LBA %llu is corrupt", n->v.bdf, (unsigned long long)lba);
		goto out;
	}
	st->lba = lba;
	st->image_byte = start + sb->image_off;
out:
	sl_dma_free(&n->v, &win);
	if (r)
		sl_stage_free(st);
	return r;
}

void sl_stage_free(struct sl_stage *st)
{
	free(st->hashes);
	st->hashes = NULL;
}

/* Read [off, off+len) of the image into buf through the driver (any alignment). */
static int image_read(struct sl_nvme *n, const struct sl_stage *st, struct sl_dma *win, uint64_t off, uint64_t len,
		      XXH64_state_t *h, void *copy_to, struct sl_err *err)
{
	uint64_t bs = n->lba_size;
	for (uint64_t done = 0; done < len;) {
		uint64_t at = st->image_byte + off + done, a0 = at / bs * bs, skip = at - a0;
		uint64_t k = SL_MIN((uint64_t)WINDOW - skip, len - done);
		int r = sl_nvme_rw(n, false, a0, SL_ALIGN_UP(skip + k, bs), win->iova, err);
		if (r)
			return r;
		if (h)
			XXH64_update(h, (char *)win->va + skip, k);
		if (copy_to)
			memcpy((char *)copy_to + done, (char *)win->va + skip, k);
		done += k;
	}
	return 0;
}

int sl_stage_header_memfd(struct sl_nvme *n, const struct sl_stage *st, int *fdp, struct sl_err *err)
{
	struct sl_dma win = { 0 };
	void *hdr = malloc(st->sb.header_bytes ? st->sb.header_bytes : 1);
	int fd = -1, r;
	if (!hdr)
		return sl_errf(err, ENOMEM, "out of memory");
	if ((r = sl_dma_alloc(&n->v, WINDOW, &win, err)) ||
	    (r = image_read(n, st, &win, 0, st->sb.header_bytes, NULL, hdr, err)))
		goto out;
	if (XXH64(hdr, st->sb.header_bytes, 0) != st->sb.header_hash) {
		r = sl_errf(err, EBADMSG, "%s: the staged GGUF header is corrupt (hash mismatch)", n->v.bdf);
		goto out;
	}
	if ((fd = memfd_create("sluice-nvme-header", MFD_CLOEXEC)) < 0 ||
	    ftruncate(fd, (off_t)st->sb.image_bytes) < 0 ||
	    pwrite(fd, hdr, st->sb.header_bytes, 0) != (ssize_t)st->sb.header_bytes) {
		r = sl_errf(err, errno, "memfd for the GGUF header: %s", strerror(errno));
		goto out;
	}
	*fdp = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	free(hdr);
	sl_dma_free(&n->v, &win);
	return r;
}

int sl_stage_verify(struct sl_nvme *n, const struct sl_stage *st, sl_stage_progress_fn fn, void *ctx,
		    struct sl_err *err)
{
	int fd = -1;
	struct gguf_file *f = NULL;
	struct sl_dma win = { 0 };
	int r = sl_stage_header_memfd(n, st, &fd, err);
	if (r)
		return r;
	char name[64];
	snprintf(name, sizeof(name), "%s (staged)", n->v.bdf);
	if ((r = sl_gguf_open_fd(fd, name, &f, err)) || (r = sl_dma_alloc(&n->v, WINDOW, &win, err)))
		goto out;
	if (f->n_tensors != st->sb.n_tensors) {
		r = sl_errf(err, EBADMSG, "%s: the staged header lists %llu tensors, the superblock %llu", n->v.bdf,
			    (unsigned long long)f->n_tensors, (unsigned long long)st->sb.n_tensors);
		goto out;
	}
	XXH64_state_t *h = XXH64_createState();
	if (!h) {
		r = sl_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	uint64_t total = 0, done = 0;
	for (uint64_t i = 0; i < f->n_tensors; i++)
		total += f->tensors[i].size;
	for (uint64_t i = 0; i < f->n_tensors && !r; i++) {
		const struct gguf_tensor *t = &f->tensors[i];
		XXH64_reset(h, 0);
		if ((r = image_read(n, st, &win, t->file_offset, t->size, h, NULL, err)))
			break;
		uint64_t got = XXH64_digest(h);
		if (got != st->hashes[i])
			r = sl_errf(err, EBADMSG, "%s: tensor '%s' read back differs from what was staged (xxh64 %016llx, expected %016llx)",
				    n->v.bdf, t->name.s, (unsigned long long)got, (unsigned long long)st->hashes[i]);
		done += t->size;
		if (fn)
			fn(ctx, done, total);
	}
	XXH64_freeState(h);
out:
	sl_dma_free(&n->v, &win);
	sl_gguf_close(f);
	close(fd);
	return r;
}
