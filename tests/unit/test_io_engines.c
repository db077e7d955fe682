/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_io_engines.c — every engine reads the right bytes: synchronous reads
 * (aligned and not, to EOF), asynchronous tensor-like requests with spans, merging of
 * adjacent requests, fixed buffers, ranges past EOF, a file truncated after open, and the
 * tmpfs / no-io_uring fallbacks of "auto".
 */
#include "test_io_common.h"

#define FILE_SIZE ((8u << 20) + 1234u) /* not a multiple of any block size */

static const char *engines[] = { "uring", "pread", "mmap", "auto" };

static struct sl_io *open_or_fail(const char *engine, const char *path,
				  const struct sl_io_config *cfg)
{
	struct sl_err err = { "" };
	struct sl_io *io = NULL;
	struct sl_io_config c = { .no_env = true };
	if (cfg)
		c = *cfg;
	c.no_env = true;
	int r = sl_io_open(engine, path, &c, &io, &err);
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

	/* aligned fast path */
	void *abuf = sl_aligned_alloc(4096, 1 << 20);
	r = sl_io_read(io, 1 << 20, 1 << 20, abuf, &err);
	CHECK_MSG(r == 0 && t_verify(abuf, 1 << 20, 1 << 20) < 0, "%s aligned read: %d %s", engine, r,
	      err.msg);

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
	free(abuf);
	free(buf);
	sl_io_close(io);
}

/* Tensor-like requests: each gets its own span buffer; then adjacent ones into one buffer. */
static void test_async(const char *engine, const char *path)
{
	struct sl_io_config cfg = { .queue_depth = 16, .max_request = 128 << 10 };
	struct sl_io *io = open_or_fail(engine, path, &cfg);
	if (!io)
		return;
	struct sl_err err = { "" };
	enum { N = 40 };
	struct sl_io_req reqs[N];
	struct sl_io_req *rp[N], *done[N];
	uint32_t ma = SL_MAX(sl_io_mem_alignment(io), 64u);
	uint64_t off = 32;
	for (int i = 0; i < N; i++) {
		uint64_t len = 1000 + (uint64_t)i * 7919 % 300000;
		uint64_t aoff, alen, skip;
		CHECK_MSG(sl_io_span(io, off, len, &aoff, &alen, &skip) == 0, "span");
		CHECK_MSG(aoff <= off && aoff + alen >= off + len && skip == off - aoff, "span math");
		reqs[i] = (struct sl_io_req){ .offset = off, .len = len, .user = (void *)(intptr_t)i };
		reqs[i].buf = sl_aligned_alloc(ma, alen);
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
		free(reqs[i].buf);

	/* Adjacent requests, contiguous in one buffer: whole blocks, so they merge. */
	sl_io_reset_stats(io);
	uint64_t a = SL_MAX(sl_io_alignment(io), 4096u), total = 0;
	uint8_t *slab = sl_aligned_alloc(4096, 64 * a);
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
	free(slab);
	sl_io_close(io);
}

static void test_fixed_buffers(const char *path)
{
	struct sl_io *io = open_or_fail("uring", path, NULL);
	if (!io)
		return;
	struct sl_err err = { "" };
	size_t len = 2 << 20;
	void *slab = sl_aligned_alloc(4096, len);
	CHECK_MSG(sl_io_register_buffer(io, 3, slab, len, &err) == 0, "register: %s", err.msg);
	CHECK_MSG(sl_io_register_buffer(io, SL_IO_MAX_FIXED, slab, len, &err) == -EINVAL, "bad slot");
	int r = sl_io_read(io, 4096, len, slab, &err);
	CHECK_MSG(r == 0 && t_verify(slab, 4096, len) < 0, "fixed-buffer read: %d %s", r, err.msg);
	/* part of the slab, at an offset inside it */
	r = sl_io_read(io, 8192, 65536, (char *)slab + 65536, &err);
	CHECK_MSG(r == 0 && t_verify((char *)slab + 65536, 8192, 65536) < 0, "fixed-buffer partial: %d %s",
	      r, err.msg);
	CHECK_MSG(sl_io_register_buffer(io, 3, NULL, 0, &err) == 0, "unregister: %s", err.msg);
	sl_io_close(io);
	free(slab);
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
		r = sl_io_open("uring", path, &cfg, &io, &err);
		CHECK_MSG(r < 0 && io == NULL, "%s: explicit uring should fail, got %d", specs[i], r);
		CHECK_MSG(*err.msg, "%s: explicit uring failure without a message", specs[i]);
	}
	struct sl_io *io = NULL;
	CHECK_MSG(sl_io_open("nvme", path, NULL, &io, &err) == -EINVAL, "unknown engine");
	CHECK_MSG(sl_io_open("pread", "/nonexistent/x.gguf", NULL, &io, &err) == -ENOENT &&
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
	bool have_uring = sl_io_open("uring", path, &(struct sl_io_config){ .no_env = true }, &probe,
				     &err) == 0;
	if (probe)
		sl_io_close(probe);
	if (!have_uring)
		fprintf(stderr, "note: uring engine unavailable (%s); testing the others\n", err.msg);

	for (unsigned i = 0; i < SL_ARRAY_SIZE(engines); i++) {
		if (!strcmp(engines[i], "uring") && !have_uring)
			continue;
		test_sync(engines[i], path);
		test_async(engines[i], path);
		test_truncated_after_open(engines[i]);
	}
	if (have_uring)
		test_fixed_buffers(path);
	test_fallbacks(path);
	unlink(path);
	return t_result("test_io_engines");
}
