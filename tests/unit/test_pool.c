/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_pool.c — the staging pool: alignment, the budget (-ENOMEM past it),
 * reuse after free, peak/in-use stats, slab hooks, reads into pool buffers through an
 * attached io (slabs registered as regions; uring fixed buffers), and the mlock-refused notice (in a child that
 * drops CAP_IPC_LOCK and lowers RLIMIT_MEMLOCK).
 */
#include "mem/pool.h"
#include "test_io_common.h"

#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

struct hook_log {
	int reg, unreg;
	uint64_t bytes;
};

static int on_reg(void *ctx, void *base, size_t len)
{
	struct hook_log *h = ctx;
	h->reg++;
	h->bytes += len;
	CHECK_MSG((uintptr_t)base % (2u << 20) == 0, "slab %p not 2 MiB aligned", base);
	return 0;
}

static void on_unreg(void *ctx, void *base, size_t len)
{
	struct hook_log *h = ctx;
	h->unreg++;
	h->bytes -= len;
}

static void test_budget(void)
{
	struct hook_log log = { 0 };
	struct sl_pool_config cfg = { .budget = 8 << 20, .slab_size = 2 << 20,
				      .hooks = { on_reg, on_unreg, &log } };
	struct sl_pool *p;
	struct sl_err err = { "" };
	CHECK_MSG(sl_pool_create(&cfg, &p, &err) == 0, "create: %s", err.msg);
	void *b[8];
	for (int i = 0; i < 8; i++) {
		int r = sl_pool_alloc(p, 1 << 20, &b[i], &err);
		CHECK_MSG(r == 0 && (uintptr_t)b[i] % 4096 == 0, "alloc %d: %d %s", i, r, err.msg);
		memset(b[i], i, 1 << 20); /* writable, and no overlap (checked below) */
	}
	for (int i = 0; i < 8; i++)
		CHECK_MSG(((uint8_t *)b[i])[(1 << 20) - 1] == i, "buffer %d overwritten", i);
	void *x;
	int r = sl_pool_alloc(p, 1, &x, &err);
	CHECK_MSG(r == -ENOMEM && strstr(err.msg, "budget"), "past the budget: %d %s", r, err.msg);
	struct sl_pool_stats st;
	sl_pool_get_stats(p, &st);
	CHECK_MSG(st.in_use == 8 << 20 && st.peak == 8 << 20 && st.failures == 1, "stats in_use %llu",
	      (unsigned long long)st.in_use);
	CHECK_MSG(log.reg == 4 && st.slabs == 4, "hooks: %d registrations, %u slabs", log.reg, st.slabs);
	sl_pool_free(p, b[2]);
	sl_pool_free(p, b[3]);
	r = sl_pool_alloc(p, 2 << 20, &x, &err); /* b[2], b[3] shared a slab: their holes coalesce */
	CHECK_MSG(r == 0, "realloc after free: %d %s", r, err.msg);
	sl_pool_free(p, x);
	/* one larger than a slab: gets its own once the empty ones make room */
	for (int i = 0; i < 8; i++)
		if (i != 2 && i != 3)
			sl_pool_free(p, b[i]);
	r = sl_pool_alloc(p, 6 << 20, &x, &err);
	CHECK_MSG(r == 0, "big alloc: %d %s", r, err.msg);
	sl_pool_get_stats(p, &st);
	CHECK_MSG(st.in_use == 6 << 20 && st.peak == 8 << 20 && st.reserved <= 8 << 20,
	      "stats after big alloc: in_use %llu reserved %llu", (unsigned long long)st.in_use,
	      (unsigned long long)st.reserved);
	sl_pool_free(p, x);
	sl_pool_destroy(p);
	CHECK_MSG(log.reg == log.unreg && log.bytes == 0, "hooks unbalanced: %d/%d", log.reg, log.unreg);
	struct sl_pool_config bad = { 0 };
	CHECK_MSG(sl_pool_create(&bad, &p, &err) == -EINVAL, "no budget");
}

/* Reads through uring straight into pool buffers (registered slabs → READ_FIXED). */
static void test_with_io(void)
{
	char path[512];
	if (t_make_file(t_dir(), "pool-io", 4 << 20, path) < 0) {
		CHECK_MSG(0, "create file");
		return;
	}
	struct sl_err err = { "" };
	struct sl_io *io = NULL;
	struct sl_io_config icfg = { .max_request = 256 << 10 };
	if (t_io_open("auto", path, &icfg, &io, &err) < 0) {
		CHECK_MSG(0, "open: %s", err.msg);
		unlink(path);
		return;
	}
	struct sl_pool_config cfg = { .budget = 16 << 20, .slab_size = 4 << 20 };
	struct sl_pool *p;
	CHECK_MSG(sl_pool_create(&cfg, &p, &err) == 0, "create");
	void *pre;
	CHECK_MSG(sl_pool_alloc(p, 1 << 20, &pre, &err) == 0, "alloc before attach");
	CHECK_MSG(sl_pool_attach_io(p, io, &err) == 0, "attach: %s", err.msg);
	void *post;
	CHECK_MSG(sl_pool_alloc(p, 3 << 20, &post, &err) == 0, "alloc after attach");
	int r = sl_io_read(io, 0, 1 << 20, pre, &err);
	CHECK_MSG(r == 0 && t_verify(pre, 0, 1 << 20) < 0, "read into pool buffer: %d %s", r, err.msg);
	uint64_t aoff, alen, skip;
	sl_io_span(io, 12345, 2 << 20, &aoff, &alen, &skip);
	CHECK_MSG(alen <= 3 << 20, "span");
	struct sl_io_req q = { .offset = 12345, .len = 2 << 20, .buf = post }, *qp = &q, *d;
	CHECK_MSG(sl_io_submit(io, &qp, 1, &err) == 0, "submit");
	CHECK_MSG(sl_io_reap(io, 1, &d, 1, &err) == 1 && q.result == 2 << 20, "reap: %s", err.msg);
	CHECK_MSG(t_verify(q.data, 12345, 2 << 20) < 0, "async read into pool buffer");
	/* after detach the slabs are no longer registered: reads into them are refused */
	sl_pool_detach_io(p);
	CHECK_MSG(sl_io_submit(io, &qp, 1, &err) == -EINVAL, "submit into a detached pool: %s", err.msg);
	CHECK_MSG(sl_pool_attach_io(p, io, &err) == 0, "re-attach: %s", err.msg);
	CHECK_MSG(sl_io_submit(io, &qp, 1, &err) == 0, "submit after re-attach: %s", err.msg);
	CHECK_MSG(sl_io_reap(io, 1, &d, 1, &err) == 1 && q.result == 2 << 20, "reap: %s", err.msg);
	sl_pool_free(p, pre);
	sl_pool_free(p, post);
	sl_pool_detach_io(p);
	sl_io_close(io);
	sl_pool_destroy(p);
	unlink(path);
}

/* In a child: no CAP_IPC_LOCK, RLIMIT_MEMLOCK 64 KiB → the pool warns once and works. */
static int child_unlocked(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) == 0) {
		d[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
		syscall(SYS_capset, &h, d);
	}
	struct rlimit rl = { 65536, 65536 };
	setrlimit(RLIMIT_MEMLOCK, &rl);
	struct sl_pool_config cfg = { .budget = 4 << 20, .slab_size = 2 << 20 };
	struct sl_pool *p;
	struct sl_err err;
	void *b;
	if (sl_pool_create(&cfg, &p, &err) || sl_pool_alloc(p, 1 << 20, &b, &err))
		return 2;
	memset(b, 1, 1 << 20);
	struct sl_pool_stats st;
	sl_pool_get_stats(p, &st);
	int ret = (!st.locked && strstr(sl_pool_notice(p), "RLIMIT_MEMLOCK")) ? 0 : 3;
	if (ret)
		fprintf(stderr, "locked=%d notice='%s'\n", st.locked, sl_pool_notice(p));
	sl_pool_destroy(p);
	return ret;
}

/* The sanitizers' runtimes intercept mlock and make it a no-op that succeeds (ASan, and TSan too:
 * `make tsan`), so the refusal cannot be seen under them. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif

static void test_unlocked(void)
{
#ifdef UNDER_SANITIZER
	fprintf(stderr, "note: the sanitizer makes mlock a no-op; mlock-refused case not run\n");
	return;
#endif
	pid_t pid = fork();
	if (pid == 0)
		_exit(child_unlocked());
	int status = 0;
	waitpid(pid, &status, 0);
	CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "mlock-refused child: status %d",
	      status);
}

int main(void)
{
	test_budget();
	test_with_io();
	test_unlocked();
	return t_result("test_pool");
}
