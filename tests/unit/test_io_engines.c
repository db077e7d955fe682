/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_io_engines.c — every engine reads the right bytes: synchronous reads
 * (aligned and not, to EOF), asynchronous tensor-like requests with spans, merging of
 * adjacent requests, registered memory (and the refusal of unregistered buffers), ranges
 * past EOF, a file truncated after open, and the tmpfs / no-io_uring fallbacks of "auto".
 * The asynchronous tests run with and without the I/O thread.
 */
#include "test_io_common.h"
#include "io/io_engine.h"

#define FILE_SIZE ((8u << 20) + 1234u) /* not a multiple of any block size */

static const char *engines[] = { "uring", "pread", "mmap", "auto" };

static struct sl_io *open_or_fail(const char *engine, const char *path,
				  const struct sl_io_config *cfg)
{
	struct sl_err err = { "" };
	struct sl_io *io = NULL;
	int r = t_io_open(engine, path, cfg, &io, &err);
	CHECK_MSG(r == 0, "open %s engine on %s: %d %s", engine, path, r, err.msg);
	return r == 0 ? io : NULL;
}

static void test_sync(const char *engine, const char *path)
{
	struct sl_io_config cfg = { .queue_depth = 8, .max_request = 256 << 10 };
	struct sl_io *io = open_or_fail(engine, path, &cfg);
	if (!io)
		return;
	struct sl_err err = { "" };
	CHECK_MSG(sl_io_file_size(io) == FILE_SIZE, "%s size %llu", engine,
	      (unsigned long long)sl_io_file_size(io));
	uint32_t a = sl_io_alignment(io);
	CHECK_MSG(a >= 1 && (a & (a - 1)) == 0, "%s alignment %u", engine, a);
	if (!strcmp(engine, "uring"))
		CHECK_MSG(a >= 512, "uring with O_DIRECT should need >= 512-byte alignment, got %u", a);

	/* whole file, unaligned length (bounce path at the tail) */
	uint8_t *buf = malloc(FILE_SIZE);
	int r = sl_io_read(io, 0, FILE_SIZE, buf, &err);
	CHECK_MSG(r == 0, "%s full read: %d %s", engine, r, err.msg);
	if (r == 0)
		CHECK_MSG(t_verify(buf, 0, FILE_SIZE) < 0, "%s full read: bad byte at %lld", engine,
		      (long long)t_verify(buf, 0, FILE_SIZE));

	/* aligned fast path: registered, read in place */
	struct sl_io_mem *am;
	void *abuf = t_reg_alloc(io, 1 << 20, &am);
	r = sl_io_read(io, 1 << 20, 1 << 20, abuf, &err);
	CHECK_MSG(r == 0 && t_verify(abuf, 1 << 20, 1 << 20) < 0, "%s aligned read: %d %s", engine, r,
	      err.msg);
	/* aligned but not registered: through the bounce buffer, same bytes */
	void *ubuf = sl_aligned_alloc(4096, 1 << 20);
	r = sl_io_read(io, 2 << 20, 1 << 20, ubuf, &err);
	CHECK_MSG(r == 0 && t_verify(ubuf, 2 << 20, 1 << 20) < 0, "%s unregistered sync read: %d %s",
	      engine, r, err.msg);
	free(ubuf);

	/* odd ranges, including the last byte */
	static const uint64_t ranges[][2] = { { 1, 1 },	       { 4095, 2 },	   { 511, 513 },
					      { 12345, 777777 }, { FILE_SIZE - 1, 1 }, { FILE_SIZE - 5000, 5000 },
					      { 3 << 20, (3 << 20) + 17 } };
	for (unsigned i = 0; i < SL_ARRAY_SIZE(ranges); i++) {
		uint64_t off = ranges[i][0], len = ranges[i][1];
		memset(buf, 0xAA, len + 1);
		r = sl_io_read(io, off, len, buf + 1 - 1, &err);
		CHECK_MSG(r == 0, "%s read [%llu,+%llu): %d %s", engine, (unsigned long long)off,
		      (unsigned long long)len, r, err.msg);
		if (r == 0)
			CHECK_MSG(t_verify(buf, off, len) < 0 && buf[len] == 0xAA,
			      "%s read [%llu,+%llu) wrong data or overrun", engine,
			      (unsigned long long)off, (unsigned long long)len);
	}

	/* past EOF: a clear ENODATA naming the file, nothing zero-filled */
	r = sl_io_read(io, FILE_SIZE - 100, 200, buf, &err);
	CHECK_MSG(r == -ENODATA, "%s read past EOF: %d", engine, r);
	CHECK_MSG(strstr(err.msg, path) != NULL, "%s EOF message should name the file: %s", engine,
	      err.msg);
	r = sl_io_read(io, FILE_SIZE + 4096, 10, buf, &err);
	CHECK_MSG(r == -ENODATA, "%s read beyond EOF: %d", engine, r);

	struct sl_io_stats st;
	sl_io_get_stats(io, &st);
	CHECK_MSG(st.bytes >= FILE_SIZE && st.commands > 0 && st.lat_count == st.commands,
	      "%s stats: bytes %llu commands %llu", engine, (unsigned long long)st.bytes,
	      (unsigned long long)st.commands);
	CHECK_MSG(sl_io_stats_quantile(&st, 0.5) > 0, "%s p50 latency 0", engine);
	t_reg_free(io, abuf, am);
	free(buf);
	sl_io_close(io);
}

/* Tensor-like requests: each gets its own span buffer; then adjacent ones into one buffer. */
static void test_async(const char *engine, const char *path, bool thread)
{
	struct sl_io_config cfg = { .queue_depth = 16, .max_request = 128 << 10, .thread = thread };
	struct sl_io *io = open_or_fail(engine, path, &cfg);
	if (!io)
		return;
	struct sl_err err = { "" };
	enum { N = 40 };
	struct sl_io_req reqs[N];
	struct sl_io_req *rp[N], *done[N];
	struct sl_io_mem *mems[N];
	uint64_t off = 32;
	for (int i = 0; i < N; i++) {
		uint64_t len = 1000 + (uint64_t)i * 7919 % 300000;
		uint64_t aoff, alen, skip;
		CHECK_MSG(sl_io_span(io, off, len, &aoff, &alen, &skip) == 0, "span");
		CHECK_MSG(aoff <= off && aoff + alen >= off + len && skip == off - aoff, "span math");
		reqs[i] = (struct sl_io_req){ .offset = off, .len = len, .user = (void *)(intptr_t)i };
		reqs[i].buf = t_reg_alloc(io, alen, &mems[i]);
		rp[i] = &reqs[i];
		off += len + 32 - len % 32; /* GGUF-style 32-byte alignment between tensors */
	}
	int r = sl_io_submit(io, rp, N, &err);
	CHECK_MSG(r == 0, "%s submit: %d %s", engine, r, err.msg);
	int got = 0;
	while (got < N) {
		int n = sl_io_reap(io, 1, done, N, &err);
		CHECK_MSG(n > 0, "%s reap: %d %s", engine, n, err.msg);
		if (n <= 0)
			break;
		for (int k = 0; k < n; k++) {
			struct sl_io_req *q = done[k];
			CHECK_MSG(q->result == (int64_t)q->len, "%s req %d result %lld", engine,
			      (int)(intptr_t)q->user, (long long)q->result);
			CHECK_MSG(t_verify(q->data, q->offset, q->len) < 0, "%s req %d data", engine,
			      (int)(intptr_t)q->user);
		}
		got += n;
	}
	CHECK_MSG(sl_io_outstanding(io) == 0, "outstanding after all reaped");
	for (int i = 0; i < N; i++)
		t_reg_free(io, reqs[i].buf, mems[i]);

	/* Adjacent requests, contiguous in one buffer: whole blocks, so they merge. */
	sl_io_reset_stats(io);
	uint64_t a = SL_MAX(sl_io_alignment(io), 4096u), total = 0;
	struct sl_io_mem *sm;
	uint8_t *slab = t_reg_alloc(io, 64 * a, &sm);
	for (int i = 0; i < 16; i++) {
		uint64_t len = a * (1 + (uint64_t)i % 3);
		reqs[i] = (struct sl_io_req){ .offset = (1 << 20) + total, .len = len, .buf = slab + total };
		rp[i] = &reqs[i];
		total += len;
	}
	r = sl_io_submit(io, rp, 16, &err);
	CHECK_MSG(r == 0, "submit adjacent: %s", err.msg);
	got = 0;
	while (got < 16) {
		int n = sl_io_reap(io, 16 - got, done, N, &err);
		CHECK_MSG(n > 0, "reap adjacent: %d %s", n, err.msg);
		if (n <= 0)
			break;
		got += n;
	}
	CHECK_MSG(t_verify(slab, 1 << 20, total) < 0, "%s merged data", engine);
	struct sl_io_stats st;
	sl_io_get_stats(io, &st);
	CHECK_MSG(st.requests == 16 && st.commands < 16, "%s: 16 adjacent requests should merge, got %llu commands",
	      engine, (unsigned long long)st.commands);
	t_reg_free(io, slab, sm);
	sl_io_close(io);
}

/* Registered memory: regions resolve to an iova (the address, for kernel engines), uring
 * hands out fixed-buffer slots while they last and reads the rest with plain reads; a buffer
 * outside every region is refused with -EINVAL and a message; overlaps are refused. */
static void test_registered(const char *engine, const char *path)
{
	struct sl_io *io = open_or_fail(engine, path, NULL);
	if (!io)
		return;
	struct sl_err err = { "" };
	size_t len = 2 << 20;
	struct sl_io_mem *m;
	uint8_t *slab = t_reg_alloc(io, len, &m);
	CHECK_MSG(slab && m && m->base == slab && m->len == len, "%s: region fields", engine);
	CHECK_MSG(m->iova == (uintptr_t)slab, "%s: iova %llx for %p: a kernel engine's iova is the address",
	      engine, (unsigned long long)m->iova, (void *)slab);
	bool uring = !strcmp(sl_io_engine_name(io), "uring"); /* "auto" is uring here, usually */
	if (uring)
		CHECK_MSG(m->slot >= 0, "uring: first region should get a fixed-buffer slot");
	else
		CHECK_MSG(m->slot == -1, "%s: no fixed buffers, slot %d", engine, m->slot);

	/* async read at an offset inside the region */
	struct sl_io_req q = { .offset = 8192, .len = 65536, .buf = slab + 65536 }, *qp = &q, *d;
	CHECK_MSG(sl_io_submit(io, &qp, 1, &err) == 0, "%s submit into region: %s", engine, err.msg);
	CHECK_MSG(sl_io_reap(io, 1, &d, 1, &err) == 1 && q.result == 65536 &&
		      t_verify(q.data, 8192, 65536) < 0,
	      "%s read into region: %lld %s", engine, (long long)q.result, err.msg);

	/* not registered: refused, nothing queued */
	void *loose = sl_aligned_alloc(4096, 65536);
	q = (struct sl_io_req){ .offset = 0, .len = 4096, .buf = loose };
	int r = sl_io_submit(io, &qp, 1, &err);
	CHECK_MSG(r == -EINVAL && strstr(err.msg, "not inside memory registered"),
	      "%s: unregistered buffer: %d %s", engine, r, err.msg);
	CHECK_MSG(sl_io_outstanding(io) == 0, "%s: refused request counted", engine);
	/* straddling the end of a region: refused too */
	q = (struct sl_io_req){ .offset = 0, .len = 8192, .buf = slab + len - 4096 };
	r = sl_io_submit(io, &qp, 1, &err);
	CHECK_MSG(r == -EINVAL && strstr(err.msg, "not inside memory registered"),
	      "%s: buffer past the region end: %d %s", engine, r, err.msg);
	/* overlapping registration, empty registration */
	struct sl_io_mem *m2 = NULL;
	CHECK_MSG(sl_io_mem_register(io, slab + 4096, 4096, &m2, &err) == -EINVAL && !m2 &&
		      strstr(err.msg, "overlaps"),
	      "%s: overlapping region: %s", engine, err.msg);
	CHECK_MSG(sl_io_mem_register(io, loose, 0, &m2, &err) == -EINVAL, "%s: empty region", engine);

	/* more regions than uring's 64 fixed-buffer slots: the ones without a slot are read
	 * with plain reads, all the same */
	enum { NR = 80 };
	struct sl_io_mem *ms[NR];
	void *bufs[NR];
	struct sl_io_req rq[NR], *rps[NR], *dn[NR];
	int slots = 0;
	for (int i = 0; i < NR; i++) {
		bufs[i] = t_reg_alloc(io, 8192, &ms[i]);
		slots += ms[i] && ms[i]->slot >= 0;
		rq[i] = (struct sl_io_req){ .offset = (uint64_t)i * 8192, .len = 8192, .buf = bufs[i] };
		rps[i] = &rq[i];
	}
	if (uring)
		CHECK_MSG(slots > 0 && slots < NR, "uring: %d of %d regions got slots (64 exist)", slots, NR);
	CHECK_MSG(sl_io_submit(io, rps, NR, &err) == 0, "%s submit %d regions: %s", engine, NR, err.msg);
	int got = 0;
	while (got < NR) {
		int n = sl_io_reap(io, 1, dn, NR, &err);
		CHECK_MSG(n > 0, "%s reap: %d %s", engine, n, err.msg);
		if (n <= 0)
			break;
		got += n;
	}
	for (int i = 0; i < NR; i++) {
		CHECK_MSG(rq[i].result == 8192 && t_verify(bufs[i], (uint64_t)i * 8192, 8192) < 0,
		      "%s region %d (slot %d): %lld", engine, i, ms[i]->slot, (long long)rq[i].result);
		t_reg_free(io, bufs[i], ms[i]);
	}
	t_reg_free(io, slab, m);
	free(loose);
	sl_io_close(io);
}

/* ---- a test engine: what a VFIO engine sees ----
 * Its "device" writes to IO virtual addresses it handed out at registration (not the
 * process's addresses); it checks that every command names its region and offset, and that
 * buf agrees with them. */
struct dev_engine {
	struct sl_io_engine e;
	struct sl_io_cmdq done;
	uint64_t next_iova;
	int regs, unregs, cmds, bad;
	struct {
		uint64_t iova;
		void *host;
		size_t len;
	} map[8];
};

static void *dev_translate(struct dev_engine *d, uint64_t iova, uint64_t len)
{
	for (int i = 0; i < 8; i++)
		if (d->map[i].len && iova >= d->map[i].iova && iova + len <= d->map[i].iova + d->map[i].len)
			return (char *)d->map[i].host + (iova - d->map[i].iova);
	return NULL;
}

static int dev_register(struct sl_io_engine *e, struct sl_io_mem *m, struct sl_err *err)
{
	struct dev_engine *d = (struct dev_engine *)e;
	for (int i = 0; i < 8; i++)
		if (!d->map[i].len) {
			m->iova = d->next_iova;
			d->next_iova += SL_ALIGN_UP(m->len, 1u << 20);
			d->map[i].iova = m->iova;
			d->map[i].host = m->base;
			d->map[i].len = m->len;
			d->regs++;
			return 0;
		}
	return sl_errf(err, ENOSPC, "test engine: mapping table full");
}

static void dev_unregister(struct sl_io_engine *e, struct sl_io_mem *m)
{
	struct dev_engine *d = (struct dev_engine *)e;
	for (int i = 0; i < 8; i++)
		if (d->map[i].len && d->map[i].iova == m->iova)
			d->map[i].len = 0;
	d->unregs++;
}

static int dev_submit(struct sl_io_engine *e, struct sl_io_cmd **cmds, unsigned n)
{
	struct dev_engine *d = (struct dev_engine *)e;
	for (unsigned i = 0; i < n; i++) {
		struct sl_io_cmd *c = cmds[i];
		d->cmds++;
		void *dst = c->mem ? dev_translate(d, c->mem->iova + c->mem_off, c->len) : NULL;
		if (!dst || dst != c->buf || (char *)c->mem->base + c->mem_off != (char *)c->buf) {
			d->bad++;
			c->result = -EFAULT;
		} else {
			uint64_t k = c->offset < e->size ? SL_MIN(c->len, e->size - c->offset) : 0;
			for (uint64_t j = 0; j < k; j++)
				((uint8_t *)dst)[j] = t_byte(c->offset + j);
			c->result = (int64_t)k;
		}
		sl_io_cmdq_push(&d->done, c);
	}
	return (int)n;
}

static int dev_reap(struct sl_io_engine *e, unsigned min, struct sl_io_cmd **done, unsigned max,
		    struct sl_err *err)
{
	return (int)sl_io_cmdq_pop(&((struct dev_engine *)e)->done, done, max);
}

static int dev_stats_regs, dev_stats_unregs, dev_stats_cmds, dev_stats_bad;

static void dev_close(struct sl_io_engine *e)
{
	struct dev_engine *d = (struct dev_engine *)e;
	dev_stats_regs = d->regs;
	dev_stats_unregs = d->unregs;
	dev_stats_cmds = d->cmds;
	dev_stats_bad = d->bad;
	sl_io_engine_fini(e);
	free(d);
}

static const struct sl_io_ops dev_ops = {
	.name = "testdev",
	.submit = dev_submit,
	.reap = dev_reap,
	.mem_register = dev_register,
	.mem_unregister = dev_unregister,
	.close = dev_close,
};

static void test_iova_engine(bool thread)
{
	struct sl_err err = { "" };
	struct dev_engine *d = calloc(1, sizeof(*d));
	struct sl_io_source src = { .kind = SL_IO_SOURCE_FILE, .path = "testdev:ns1" };
	CHECK_MSG(sl_io_engine_init(&d->e, &dev_ops, &src, &err) == 0, "engine init");
	d->e.size = 4 << 20;
	d->e.align = d->e.mem_align = 512;
	d->e.qd = 8;
	d->e.sync = true;
	d->next_iova = 0x100000000ull; /* nowhere near the process's addresses */
	struct sl_io_config cfg = { .max_request = 64 << 10, .thread = thread };
	struct sl_io *io = NULL;
	int r = sl_io_open_engine(&d->e, &cfg, &io, &err);
	CHECK_MSG(r == 0, "open_engine: %d %s", r, err.msg);
	if (r)
		return;
	CHECK_MSG(!strcmp(sl_io_engine_name(io), "testdev") && sl_io_alignment(io) == 512, "geometry");
	struct sl_io_mem *m1, *m2;
	uint8_t *a = t_reg_alloc(io, 1 << 20, &m1), *b = t_reg_alloc(io, 256 << 10, &m2);
	CHECK_MSG(m1->iova == 0x100000000ull && m2->iova == 0x100100000ull,
	      "iova from the engine: %llx %llx", (unsigned long long)m1->iova,
	      (unsigned long long)m2->iova);
	/* requests at offsets inside both regions, split into 64 KiB commands */
	struct sl_io_req q[3] = {
		{ .offset = 1000, .len = 300000, .buf = a + 4096 },
		{ .offset = 777777, .len = 100000, .buf = b + 512 },
		{ .offset = 3 << 20, .len = 512, .buf = a + (512 << 10) },
	};
	struct sl_io_req *qp[3] = { &q[0], &q[1], &q[2] }, *dn[3];
	CHECK_MSG(sl_io_submit(io, qp, 3, &err) == 0, "submit: %s", err.msg);
	int got = 0;
	while (got < 3) {
		int n = sl_io_reap(io, 3 - got, dn, 3, &err);
		CHECK_MSG(n > 0, "reap: %d %s", n, err.msg);
		if (n <= 0)
			break;
		got += n;
	}
	for (int i = 0; i < 3; i++)
		CHECK_MSG(q[i].result == (int64_t)q[i].len && t_verify(q[i].data, q[i].offset, q[i].len) < 0,
		      "testdev request %d: %lld", i, (long long)q[i].result);
	/* the sync read's bounce buffer is a region too */
	uint8_t small[1000];
	CHECK_MSG(sl_io_read(io, 12345, sizeof(small), small, &err) == 0 &&
		      t_verify(small, 12345, sizeof(small)) < 0,
	      "sync read through the bounce region: %s", err.msg);
	t_reg_free(io, a, m1);
	t_reg_free(io, b, m2);
	sl_io_close(io);
	CHECK_MSG(dev_stats_bad == 0 && dev_stats_cmds > 5, "testdev: %d of %d commands with a wrong iova/buf",
	      dev_stats_bad, dev_stats_cmds);
	CHECK_MSG(dev_stats_regs == 3 && dev_stats_unregs == 3, "testdev: %d registrations, %d unregistrations",
	      dev_stats_regs, dev_stats_unregs);
}

/* Every engine, thread on and off: random ranges into random places of one registered slab,
 * submitted in batches, compared byte for byte. */
static void test_random(const char *engine, const char *path, bool thread)
{
	struct sl_io_config cfg = { .queue_depth = 8, .max_request = 64 << 10, .thread = thread };
	struct sl_io *io = open_or_fail(engine, path, &cfg);
	if (!io)
		return;
	struct sl_err err = { "" };
	enum { N = 48, SLOT = 320 << 10 };
	struct sl_io_mem *m;
	uint8_t *slab = t_reg_alloc(io, (size_t)N * SLOT, &m);
	struct sl_io_req reqs[N], *rp[N], *done[N];
	uint64_t seed = 0x12345678u + (thread ? 1 : 0);
	uint32_t ma = sl_io_mem_alignment(io);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < N; i++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			uint64_t len = 1 + (seed >> 33) % (256 << 10);
			uint64_t off = (seed >> 7) % (FILE_SIZE - len);
			uint64_t boff = SL_ALIGN_UP((seed >> 20) % 8192, (uint64_t)ma);
			reqs[i] = (struct sl_io_req){ .offset = off, .len = len,
						      .buf = slab + (size_t)i * SLOT + boff };
			rp[i] = &reqs[i];
		}
		int r = sl_io_submit(io, rp, N, &err);
		CHECK_MSG(r == 0, "%s%s random submit: %s", engine, thread ? "+thread" : "", err.msg);
		int got = 0;
		while (got < N && r == 0) {
			/* reap in uneven chunks, as a consumer interleaving compute would */
			int n = sl_io_reap(io, 1 + (unsigned)got % 5, done, N, &err);
			CHECK_MSG(n > 0, "%s random reap: %d %s", engine, n, err.msg);
			if (n <= 0)
				break;
			got += n;
		}
		for (int i = 0; i < N; i++)
			CHECK_MSG(reqs[i].result == (int64_t)reqs[i].len &&
				      t_verify(reqs[i].data, reqs[i].offset, reqs[i].len) < 0,
			      "%s%s random request %d [%llu,+%llu): %lld", engine, thread ? "+thread" : "",
			      i, (unsigned long long)reqs[i].offset, (unsigned long long)reqs[i].len,
			      (long long)reqs[i].result);
	}
	t_reg_free(io, slab, m);
	sl_io_close(io);
}

/* Close with the thread running and requests in flight or queued: no hang, no leak, and the
 * reads land before close returns (their buffers are freed right after). */
static void test_close_inflight(const char *engine, const char *path)
{
	struct sl_io_config cfg = { .queue_depth = 4, .max_request = 64 << 10, .thread = true };
	for (int k = 0; k < 3; k++) {
		struct sl_io *io = open_or_fail(engine, path, &cfg);
		if (!io)
			return;
		struct sl_err err = { "" };
		enum { N = 32 };
		struct sl_io_mem *m;
		uint8_t *slab = t_reg_alloc(io, (size_t)N << 18, &m);
		struct sl_io_req reqs[N], *rp[N], *d[N];
		for (int i = 0; i < N; i++) {
			reqs[i] = (struct sl_io_req){ .offset = (uint64_t)i << 18, .len = 1 << 18,
						      .buf = slab + ((size_t)i << 18) };
			rp[i] = &reqs[i];
		}
		CHECK_MSG(sl_io_submit(io, rp, N, &err) == 0, "%s submit: %s", engine, err.msg);
		if (k == 1)
			sl_io_reap(io, 1, d, N, &err); /* some reaped, most not */
		if (k == 2)
			usleep(1000);
		sl_io_close(io); /* the region goes with the io */
		free(slab);
	}
}

static void test_truncated_after_open(const char *engine)
{
	char path[512];
	if (t_make_file(t_dir(), "io-trunc", 1 << 20, path) < 0) {
		CHECK_MSG(0, "create file");
		return;
	}
	struct sl_io *io = open_or_fail(engine, path, NULL);
	if (!io) {
		unlink(path);
		return;
	}
	struct sl_err err = { "" };
	void *buf = sl_aligned_alloc(4096, 1 << 20);
	if (strcmp(engine, "mmap") != 0) { /* mmap: touching the lost pages is SIGBUS, documented */
		CHECK_MSG(truncate(path, 300000) == 0, "truncate");
		int r = sl_io_read(io, 0, 1 << 20, buf, &err);
		CHECK_MSG(r == -ENODATA, "%s: read of a file truncated after open: %d %s", engine, r, err.msg);
		CHECK_MSG(strstr(err.msg, "ends at 300000"), "%s: message should say where it ends: %s",
		      engine, err.msg);
		r = sl_io_read(io, 4096, 8192, buf, &err);
		CHECK_MSG(r == 0 && t_verify(buf, 4096, 8192) < 0, "%s: read before the cut: %d %s", engine,
		      r, err.msg);
	}
	free(buf);
	sl_io_close(io);
	unlink(path);
}

/* auto on tmpfs, and with O_DIRECT or io_uring refused: pread, with a notice. */
static void test_fallbacks(const char *path)
{
	struct sl_err err = { "" };
	uint8_t buf[5000];
	if (access("/dev/shm", W_OK) == 0 && t_is_tmpfs("/dev/shm")) {
		char shm[512];
		if (t_make_file("/dev/shm", "sluice-io", 1 << 20, shm) == 0) {
			struct sl_io *io = open_or_fail("auto", shm, NULL);
			if (io) {
				/* Linux >= 6.6 tmpfs accepts O_DIRECT; older ones make auto fall back */
				const char *name = sl_io_engine_name(io);
				CHECK_MSG(!strcmp(name, "uring") || (!strcmp(name, "pread") && *sl_io_notice(io)),
				      "tmpfs engine %s notice '%s'", name, sl_io_notice(io));
				int r = sl_io_read(io, 777, sizeof(buf), buf, &err);
				CHECK_MSG(r == 0 && t_verify(buf, 777, sizeof(buf)) < 0, "tmpfs read: %d %s", r,
				      err.msg);
				sl_io_close(io);
			}
			unlink(shm);
		}
	}
	static const char *specs[] = { "nodirect", "nouring" };
	for (unsigned i = 0; i < 2; i++) {
		struct sl_io_config cfg = { .fault = specs[i] };
		struct sl_io *io = open_or_fail("auto", path, &cfg);
		if (!io)
			continue;
		CHECK_MSG(!strcmp(sl_io_engine_name(io), "pread"), "%s: auto chose %s", specs[i],
		      sl_io_engine_name(io));
		CHECK_MSG(strstr(sl_io_notice(io), "using pread") != NULL, "%s: notice '%s'", specs[i],
		      sl_io_notice(io));
		int r = sl_io_read(io, 1, sizeof(buf), buf, &err);
		CHECK_MSG(r == 0 && t_verify(buf, 1, sizeof(buf)) < 0, "%s read: %d %s", specs[i], r, err.msg);
		sl_io_close(io);
		/* asked for explicitly, uring does not fall back: it says why */
		io = NULL;
		r = t_io_open("uring", path, &cfg, &io, &err);
		CHECK_MSG(r < 0 && io == NULL, "%s: explicit uring should fail, got %d", specs[i], r);
		CHECK_MSG(*err.msg, "%s: explicit uring failure without a message", specs[i]);
	}
	struct sl_io *io = NULL;
	CHECK_MSG(t_io_open("nvme", path, NULL, &io, &err) == -EINVAL, "unknown engine");
	CHECK_MSG(t_io_open("pread", "/nonexistent/x.gguf", NULL, &io, &err) == -ENOENT &&
		      strstr(err.msg, "/nonexistent/x.gguf"),
	      "missing file: %s", err.msg);
}

int main(void)
{
	char path[512];
	int r = t_make_file(t_dir(), "io-engines", FILE_SIZE, path);
	if (r < 0) {
		printf("cannot create a test file in %s: %s\n", t_dir(), strerror(-r));
		return 77;
	}
	/* Is io_uring usable here at all (seccomp, io_uring_disabled)? */
	struct sl_io *probe = NULL;
	struct sl_err err;
	bool have_uring = t_io_open("uring", path, NULL, &probe, &err) == 0;
	if (probe)
		sl_io_close(probe);
	if (!have_uring)
		fprintf(stderr, "note: uring engine unavailable (%s); testing the others\n", err.msg);

	for (unsigned i = 0; i < SL_ARRAY_SIZE(engines); i++) {
		if (!strcmp(engines[i], "uring") && !have_uring)
			continue;
		test_sync(engines[i], path);
		test_async(engines[i], path, false);
		test_async(engines[i], path, true);
		test_random(engines[i], path, false);
		test_random(engines[i], path, true);
		test_registered(engines[i], path);
		test_close_inflight(engines[i], path);
		test_truncated_after_open(engines[i]);
	}
	test_iova_engine(false);
	test_iova_engine(true);
	test_fallbacks(path);
	unlink(path);
	return t_result("test_io_engines");
}
