/* SPDX-License-Identifier: MIT */
/*
 * runtime/backend/cpu/cpu.c — the CPU backends: the reference every other
 * backend is checked against ("cpu"), and the asynchronous test modes
 * ("cpu-async", "cpu-async-zc") that run the same kernels deferred on a
 * worker thread, so a scheduling mistake above shows up on any machine.
 *
 * "Device memory" is host memory, but allocations are charged against the
 * same budget a GPU's would be, so placement and streaming decisions made
 * above are exercised on a machine without a GPU.
 *
 * Each entry point below describes its op as a job, checks it, and runs it
 * at once ("cpu") or queues it (async modes; see cpu_async.c).
 */
#include "backend/cpu/cpu.h"
#include "backend/cpu/threadpool.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The byte every poisoned float is made of: 0xFFFFFFFF is a NaN, and so is an fp16 0xFFFF
 * block scale, so a kernel reading poison produces NaNs, not plausible numbers. */
#define POISON 0xFF

static int cpu_init_common(struct sl_backend *b, const struct sl_backend_config *cfg, struct sl_err *err)
{
	struct cpu *c = calloc(1, sizeof(*c));
	if (!c)
		return sl_errf(err, ENOMEM, "out of memory");
	int n = cfg->n_threads;
	if (n <= 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		n = cpus > 0 ? (int)cpus : 1;
	}
	int rc = sl_threadpool_new(n, &c->pool);
	if (rc) {
		free(c);
		return sl_errf(err, -rc, "cannot start %d compute threads", n);
	}
	b->cfg.n_threads = n;
	b->priv = c;
	return 0;
}

static int cpu_init(struct sl_backend *b, const struct sl_backend_config *cfg, struct sl_err *err)
{
	return cpu_init_common(b, cfg, err);
}

static int cpu_async_init(struct sl_backend *b, const struct sl_backend_config *cfg, struct sl_err *err)
{
	int rc = cpu_init_common(b, cfg, err);
	if (!rc && (rc = sl_cpu_async_start(b, err))) {
		struct cpu *c = b->priv;
		sl_threadpool_free(c->pool);
		free(c);
		b->priv = NULL;
	}
	return rc;
}

static void cpu_destroy(struct sl_backend *b)
{
	struct cpu *c = b->priv;
	if (c->async)
		sl_cpu_async_stop(b);
	sl_threadpool_free(c->pool);
	free(c->xq);
	free(c->scores);
	free(c->mla);
	free(c);
}

/* ---- memory ---- */

static int cpu_alloc(struct sl_backend *b, size_t size, void **dev)
{
	sl_backend_charge(b, size);
	/* Page-aligned, so the weight store can read into it with O_DIRECT. */
	*dev = sl_aligned_alloc(4096, size);
	if (!*dev) {
		sl_backend_uncharge(b, size);
		return sl_errf(&b->err, ENOMEM, "%s backend: out of memory allocating %zu bytes", b->ops->name,
			       size);
	}
	/* Deferred mode: fresh device memory reads as poison, so a kernel that runs before the
	 * upload that should have filled it sees NaNs, whatever malloc handed back. */
	if (((struct cpu *)b->priv)->async)
		memset(*dev, POISON, size);
	return 0;
}

static void cpu_free(struct sl_backend *b, void *dev, size_t size)
{
	if (!dev)
		return;
	sl_backend_uncharge(b, size);
	if (((struct cpu *)b->priv)->async)
		sl_cpu_async_free(b, dev, size);
	else
		free(dev);
}

/* Host memory is what the CPU computes on: nothing to pin. */
static int cpu_register_host(struct sl_backend *b, void *host, size_t size)
{
	return 0;
}

static void cpu_unregister_host(struct sl_backend *b, void *host, size_t size)
{
}

static void cpu_discard(struct sl_backend *b, void *p, size_t size)
{
	if (p && size && ((struct cpu *)b->priv)->async)
		sl_cpu_async_poison(b, p, size);
}

/* ---- queues: "cpu" runs every op when it is called, so every fence is complete ---- */

static int cpu_fence(struct sl_backend *b, enum sl_be_queue q, sl_fence *out)
{
	*out = 0;
	return 0;
}

static int cpu_wait(struct sl_backend *b, enum sl_be_queue q, sl_fence f)
{
	return 0;
}

static bool cpu_fence_done(struct sl_backend *b, sl_fence f)
{
	return true;
}

static int cpu_fence_sync(struct sl_backend *b, sl_fence f)
{
	return 0;
}

static int cpu_sync(struct sl_backend *b)
{
	return 0;
}

/* ---- ops ---- */

static int submit(struct sl_backend *b, const struct cpu_job *j)
{
	struct cpu *c = b->priv;
	int rc = sl_cpu_job_check(b, j);
	if (rc)
		return rc;
	if (c->async)
		return sl_cpu_async_queue(b, j);
	return sl_cpu_job_run(c, j, &b->err);
}

static int cpu_upload(struct sl_backend *b, void *dev, const void *host, size_t size)
{
	struct cpu_job j = { .kind = CPU_JOB_UPLOAD, .copy = { dev, host, size } };
	return submit(b, &j);
}

static int cpu_download(struct sl_backend *b, void *host, const void *dev, size_t size)
{
	struct cpu_job j = { .kind = CPU_JOB_DOWNLOAD, .copy = { host, dev, size } };
	return submit(b, &j);
}

static int cpu_matmul(struct sl_backend *b, float *y, const void *w, uint32_t wtype, int64_t rows, int64_t cols,
		      const float *x, int n)
{
	struct cpu_job j = { .kind = CPU_JOB_MATMUL, .matmul = { y, w, wtype, rows, cols, x, n } };
	return submit(b, &j);
}

static int cpu_get_rows(struct sl_backend *b, float *y, const void *w, uint32_t wtype, int64_t cols,
			const int32_t *ids, int n)
{
	struct cpu_job j = { .kind = CPU_JOB_GET_ROWS, .get_rows = { y, w, wtype, cols, ids, n } };
	return submit(b, &j);
}

static int cpu_rmsnorm(struct sl_backend *b, float *y, const float *x, const float *w, int64_t dim, int n,
		       float eps)
{
	struct cpu_job j = { .kind = CPU_JOB_RMSNORM, .rmsnorm = { y, x, w, dim, n, eps } };
	return submit(b, &j);
}

static int cpu_rope(struct sl_backend *b, float *x, int n_head, int head_dim, int n_rot, int pos0, int n,
		    float freq_base, bool neox)
{
	struct cpu_job j = { .kind = CPU_JOB_ROPE, .rope = { x, n_head, head_dim, n_rot, pos0, n, freq_base, neox, NULL } };
	return submit(b, &j);
}

static int cpu_rope_ff(struct sl_backend *b, float *x, int n_head, int head_dim, int n_rot, int pos0, int n,
		       float freq_base, bool neox, const float *ff)
{
	struct cpu_job j = { .kind = CPU_JOB_ROPE, .rope = { x, n_head, head_dim, n_rot, pos0, n, freq_base, neox, ff } };
	return submit(b, &j);
}

static int cpu_attention(struct sl_backend *b, float *out, const float *q, const float *kc, const float *vc,
			 int n_head, int n_head_kv, int head_dim, int pos0, int n, float scale)
{
	struct cpu_job j = { .kind = CPU_JOB_ATTENTION,
			     .attn = { out, q, kc, vc, n_head, n_head_kv, head_dim, pos0, n, scale } };
	return submit(b, &j);
}

static int cpu_silu_mul(struct sl_backend *b, float *gate, const float *up, int64_t n)
{
	struct cpu_job j = { .kind = CPU_JOB_SILU_MUL, .silu_mul = { gate, up, n } };
	return submit(b, &j);
}

static int cpu_add(struct sl_backend *b, float *y, const float *x, int64_t n, int64_t n_x)
{
	struct cpu_job j = { .kind = CPU_JOB_ADD, .add = { y, x, n, n_x } };
	return submit(b, &j);
}

static int cpu_mla_kv(struct sl_backend *b, float *rows, const float *w, int kv_lora, int d_rope, int pos0, int n,
		      float eps, float freq_base, const float *ff)
{
	struct cpu_job j = { .kind = CPU_JOB_MLA_KV, .mla_kv = { rows, w, kv_lora, d_rope, pos0, n, eps, freq_base, ff } };
	return submit(b, &j);
}

static int cpu_mla_attention(struct sl_backend *b, float *out, float *q, const float *cache, const void *wk,
			     uint32_t wk_type, const void *wv, uint32_t wv_type, const struct sl_mla_shape *s, int pos0,
			     int n)
{
	struct cpu_job j = { .kind = CPU_JOB_MLA_ATTN,
			     .mla = { out, q, cache, wk, wv, wk_type, wv_type, *s, pos0, n } };
	return submit(b, &j);
}

static int cpu_add_rows(struct sl_backend *b, float *y, const float *x, const int32_t *ids, const float *scale,
			int64_t cols, int n)
{
	struct cpu_job j = { .kind = CPU_JOB_ADD_ROWS, .add_rows = { y, x, ids, scale, cols, n } };
	return submit(b, &j);
}

#define CPU_COMMON_OPS \
	.destroy = cpu_destroy, .supports_op = sl_cpu_supports_op, .alloc = cpu_alloc, .free = cpu_free, \
	.register_host = cpu_register_host, .unregister_host = cpu_unregister_host, .discard = cpu_discard, \
	.upload = cpu_upload, .download = cpu_download, .matmul = cpu_matmul, .get_rows = cpu_get_rows, \
	.rmsnorm = cpu_rmsnorm, .rope = cpu_rope, .rope_ff = cpu_rope_ff, .attention = cpu_attention, .silu_mul = cpu_silu_mul, \
	.add = cpu_add, .mla_kv = cpu_mla_kv, .mla_attention = cpu_mla_attention, .add_rows = cpu_add_rows

#define CPU_ASYNC_QUEUE_OPS \
	.init = cpu_async_init, .fence = sl_cpu_async_fence, .wait = sl_cpu_async_wait, \
	.fence_done = sl_cpu_async_fence_done, .fence_sync = sl_cpu_async_fence_sync, .sync = sl_cpu_async_sync

const struct sl_backend_ops sl_backend_cpu_ops = {
	.name = "cpu",
	.caps = SL_BE_HOST_VISIBLE,
	.init = cpu_init,
	.fence = cpu_fence,
	.wait = cpu_wait,
	.fence_done = cpu_fence_done,
	.fence_sync = cpu_fence_sync,
	.sync = cpu_sync,
	CPU_COMMON_OPS,
};

/* Not host-visible: the weight store copies streamed weights into device memory, as on a GPU. */
const struct sl_backend_ops sl_backend_cpu_async_ops = {
	.name = "cpu-async",
	.caps = SL_BE_ASYNC,
	CPU_ASYNC_QUEUE_OPS,
	CPU_COMMON_OPS,
};

/* Host-visible: compute reads registered host memory directly (zero copy), deferred. */
const struct sl_backend_ops sl_backend_cpu_async_zc_ops = {
	.name = "cpu-async-zc",
	.caps = SL_BE_ASYNC | SL_BE_HOST_VISIBLE,
	CPU_ASYNC_QUEUE_OPS,
	CPU_COMMON_OPS,
};
