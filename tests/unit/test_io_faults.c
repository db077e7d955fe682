/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_io_faults.c — every fault kind on every engine gives a clear error (or,
 * for a transiently full queue, correct data): EIO, short reads, a full queue, a file that
 * ends early; each with and without the I/O thread.  The spec comes only from the config
 * (the library reads no environment; a bad spec is refused at open).
 */
#include "test_io_common.h"

#define FILE_SIZE (2u << 20)

static const char *engines[] = { "uring", "pread", "mmap" };

static bool thread; /* the current pass runs with the I/O thread */

static struct sl_io *open_fault(const char *engine, const char *path, const char *spec)
{
	struct sl_io_config cfg = { .queue_depth = 8, .max_request = 64 << 10, .fault = spec,
				    .thread = thread };
	struct sl_io *io = NULL;
	struct sl_err err = { "" };
	int r = t_io_open(engine, path, &cfg, &io, &err);
	CHECK_MSG(r == 0, "open %s with '%s' (thread %d): %d %s", engine, spec, thread, r, err.msg);
	return io;
}

/* Sync read of [off, +len) under spec: expect result want, and a message containing needle. */
static void expect(const char *engine, const char *path, const char *spec, uint64_t off,
		   uint64_t len, int want, const char *needle)
{
	struct sl_io *io = open_fault(engine, path, spec);
	if (!io)
		return;
	struct sl_err err = { "" };
	struct sl_io_mem *m;
	uint8_t *buf = t_reg_alloc(io, len + 8192, &m);
	memset(buf, 0, len);
	int r = sl_io_read(io, off, len, buf, &err);
	CHECK_MSG(r == want, "%s '%s' (thread %d): read [%llu,+%llu) gave %d (%s), want %d", engine, spec,
	      thread, (unsigned long long)off, (unsigned long long)len, r, err.msg, want);
	if (want == 0 && r == 0)
		CHECK_MSG(t_verify(buf, off, len) < 0, "%s '%s': wrong data", engine, spec);
	if (want < 0) {
		CHECK_MSG(strstr(err.msg, path) != NULL, "%s '%s': message lacks the path: %s", engine,
		      spec, err.msg);
		if (needle)
			CHECK_MSG(strstr(err.msg, needle) != NULL, "%s '%s': message lacks '%s': %s",
			      engine, spec, needle, err.msg);
	}
	CHECK_MSG(strncmp(sl_io_engine_name(io), "fault(", 6) == 0, "engine name %s",
	      sl_io_engine_name(io));
	struct sl_io_stats st;
	sl_io_get_stats(io, &st);
	if (!strncmp(spec, "busy@1,", 7) || !strncmp(spec, "again@", 6))
		CHECK_MSG(st.busy_retries >= 1, "%s '%s': no busy retry recorded", engine, spec);
	t_reg_free(io, buf, m);
	sl_io_close(io);
}

/* Async: many requests, the 3rd command fails: exactly the request it served fails. */
static void async_eio(const char *engine, const char *path)
{
	struct sl_io *io = open_fault(engine, path, "eio@3");
	if (!io)
		return;
	struct sl_err err = { "" };
	enum { N = 12 };
	struct sl_io_req reqs[N], *rp[N], *done[N];
	struct sl_io_mem *mems[N];
	/* separate regions: no merging, one command per 64 KiB request */
	for (int i = 0; i < N; i++) {
		reqs[i] = (struct sl_io_req){ .offset = (uint64_t)i * 65536, .len = 65536 };
		reqs[i].buf = t_reg_alloc(io, 65536, &mems[i]);
		rp[i] = &reqs[i];
	}
	CHECK_MSG(sl_io_submit(io, rp, N, &err) == 0, "submit: %s", err.msg);
	int got = 0, failed = 0;
	while (got < N) {
		int n = sl_io_reap(io, 1, done, N, &err);
		CHECK_MSG(n > 0, "%s reap: %d %s", engine, n, err.msg);
		if (n <= 0)
			break;
		for (int k = 0; k < n; k++) {
			if (done[k]->result < 0) {
				failed++;
				CHECK_MSG(done[k] == &reqs[2] && done[k]->result == -EIO,
				      "%s: request at %llu failed with %lld", engine,
				      (unsigned long long)done[k]->offset, (long long)done[k]->result);
				CHECK_MSG(strstr(err.msg, "Input/output error"), "%s: message %s", engine,
				      err.msg);
			} else {
				CHECK_MSG(t_verify(done[k]->data, done[k]->offset, done[k]->len) < 0,
				      "%s: data of an unaffected request", engine);
			}
		}
		got += n;
	}
	CHECK_MSG(failed == 1, "%s: %d requests failed, want 1", engine, failed);
	struct sl_io_stats st;
	sl_io_get_stats(io, &st);
	CHECK_MSG(st.errors == 1 && st.requests == N, "%s stats errors %llu", engine,
	      (unsigned long long)st.errors);
	for (int i = 0; i < N; i++)
		t_reg_free(io, reqs[i].buf, mems[i]);
	sl_io_close(io);
}

/* Everything fails while many requests are in flight: no hang, all reaped, close is safe. */
static void async_all_fail(const char *engine, const char *path)
{
	struct sl_io *io = open_fault(engine, path, "eio@1+");
	if (!io)
		return;
	struct sl_err err = { "" };
	struct sl_io_mem *m;
	uint8_t *buf = t_reg_alloc(io, FILE_SIZE, &m);
	struct sl_io_req reqs[4], *rp[4], *done[4];
	for (int i = 0; i < 4; i++) {
		/* buffers adjacent too: merged commands fail every request they serve */
		reqs[i] = (struct sl_io_req){ .offset = (uint64_t)i * (512 << 10), .len = 512 << 10,
					      .buf = buf + (size_t)i * (512 << 10) };
		rp[i] = &reqs[i];
	}
	CHECK_MSG(sl_io_submit(io, rp, 4, &err) == 0, "submit");
	int n = sl_io_reap(io, 4, done, 4, &err);
	CHECK_MSG(n == 4, "%s: reaped %d of 4", engine, n);
	for (int i = 0; i < n; i++)
		CHECK_MSG(done[i]->result == -EIO, "%s: result %lld", engine, (long long)done[i]->result);
	/* a request left in flight at close */
	struct sl_io_req late = { .offset = 0, .len = 4096, .buf = buf }, *lp = &late;
	sl_io_submit(io, &lp, 1, &err);
	sl_io_close(io); /* also drops the region */
	free(buf);
}

/* Bad specs are refused at open, naming the item; the environment is not read. */
static void config_spec(const char *path)
{
	struct sl_err err = { "" };
	struct sl_io *io = NULL;
	uint8_t buf[8192];
	struct sl_io_config cfg = { .fault = "eio@x" };
	int r = t_io_open("pread", path, &cfg, &io, &err);
	CHECK_MSG(r == -EINVAL && strstr(err.msg, "eio@x") && !io, "bad spec: %d %s", r, err.msg);
	cfg.fault = "explode@1";
	r = t_io_open("pread", path, &cfg, &io, &err);
	CHECK_MSG(r == -EINVAL && strstr(err.msg, "explode"), "unknown kind: %d %s", r, err.msg);
	/* $SLUICE_IO_FAULT is the CLI's business: the library ignores it */
	setenv("SLUICE_IO_FAULT", "eio@1+", 1);
	io = NULL;
	CHECK_MSG(t_io_open("pread", path, NULL, &io, &err) == 0, "open: %s", err.msg);
	if (io) {
		CHECK_MSG(sl_io_read(io, 0, sizeof(buf), buf, &err) == 0 && t_verify(buf, 0, sizeof(buf)) < 0,
		      "the library must not read $SLUICE_IO_FAULT: %s", err.msg);
		CHECK_MSG(strcmp(sl_io_engine_name(io), "pread") == 0, "engine %s", sl_io_engine_name(io));
		sl_io_close(io);
	}
	unsetenv("SLUICE_IO_FAULT");
}

int main(void)
{
	char path[512];
	int r = t_make_file(t_dir(), "io-faults", FILE_SIZE, path);
	if (r < 0) {
		printf("cannot create a test file in %s: %s\n", t_dir(), strerror(-r));
		return 77;
	}
	struct sl_io *probe = NULL;
	struct sl_err err;
	bool have_uring = t_io_open("uring", path, NULL, &probe, &err) == 0;
	if (probe)
		sl_io_close(probe);

	for (unsigned i = 0; i < 2 * SL_ARRAY_SIZE(engines); i++) {
		const char *e = engines[i % SL_ARRAY_SIZE(engines)];
		thread = i >= SL_ARRAY_SIZE(engines);
		if (!strcmp(e, "uring") && !have_uring) {
			fprintf(stderr, "note: uring unavailable (%s)\n", err.msg);
			continue;
		}
		/* EIO on the 2nd of 16 commands */
		expect(e, path, "eio@2", 0, 1 << 20, -EIO, "Input/output error");
		/* short read: the layer must not hand back half-filled buffers */
		expect(e, path, "short@1", 0, 1 << 20, -EIO, "short read");
		expect(e, path, "short@4", 8192, 300000, -EIO, "short read");
		/* a transiently full queue is retried: the data arrives */
		expect(e, path, "busy@1,busy@2", 4096, 1 << 20, 0, NULL);
		expect(e, path, "again@2", 0, 1 << 20, 0, NULL);
		/* a queue that never drains is an error, not a hang */
		expect(e, path, "busy@1+", 0, 65536, -EBUSY, "stays full");
		expect(e, path, "again@1+", 0, 65536, -EBUSY, "stays full");
		/* the file ends before the range does */
		expect(e, path, "trunc@300000", 0, 1 << 20, -ENODATA, "ends at 300000");
		expect(e, path, "trunc@300000", 200000, 100000, 0, NULL);
		expect(e, path, "trunc@300000", 200000, 100001, -ENODATA, "ends at 300000");
		expect(e, path, "trunc@1M", (1 << 20) - 4096, 8192, -ENODATA, "ends at 1048576");
		async_eio(e, path);
		async_all_fail(e, path);
	}
	config_spec(path);
	unlink(path);
	return t_result("test_io_faults");
}
