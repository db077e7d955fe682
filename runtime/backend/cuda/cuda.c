/* SPDX-License-Identifier: MIT */
/*
 * runtime/backend/cuda/cuda.c — the CUDA backend: backend.h's ops on one device through the Driver
 * API (loaded at run time: cuda_driver.c).
 *
 * Queues are streams: uploads on the copy stream, every kernel and download on the compute stream.
 * A fence is a number; fence n is an event (slot n % CUDA_N_EVENTS of a ring) recorded on its
 * queue's stream.  Before a slot is reused its previous event is synchronised, so a fence whose
 * slot now holds a later number is known complete: old fences stay valid forever at the cost of
 * one (practically always instant) wait per CUDA_N_EVENTS fences.
 *
 * Pointers: device memory is a CUdeviceptr handed around as void * (the weight store and the
 * engine only do arithmetic on it).  Kernels are launched exactly per firmware/kernels.h: the
 * parameters an array of pointers to values of the kernel's C types, grid and block as stated.
 *
 * Errors: every failed call becomes "<call>(<sizes>): CUDA_ERROR_X: <driver text>" in b->err.
 * Errors of queued work surface from the driver at the next synchronising call (fence_sync, sync),
 * where they are reported the same way.
 */
#include "backend/cuda/cuda.h"
#include "firmware/kernels.h"
#include "trace.h"

#include <stdlib.h>
#include <string.h>

#define DP(p) ((CUdeviceptr)(uintptr_t)(p))

/* An op is about to write [p, p + bytes): the converted activations of x are stale if x is there. */
static void written(struct sl_backend *b, const void *p, uint64_t bytes)
{
	struct cuda *c = b->priv;
	if (!c->xq_valid)
		return;
	uint64_t a = DP(p), src_len = (uint64_t)c->xq_cols * (uint64_t)c->xq_n * sizeof(float);
	if (a < c->xq_src + src_len && c->xq_src < a + bytes)
		c->xq_valid = false;
}

static struct cuda *C(struct sl_backend *b)
{
	return b->priv;
}

#define FAIL(b, r, ...) sl_cuda_fail(C(b)->cu, (r), &(b)->err, __VA_ARGS__)

/* The device's context on the calling thread (ops may come from any thread the engine uses, and
 * the application may switch contexts in between: set it every time, a thread-local store). */
static int enter(struct sl_backend *b)
{
	struct cuda *c = C(b);
	CUresult r = c->cu->cuCtxSetCurrent(c->ctx);
	return r ? FAIL(b, r, "cuCtxSetCurrent(device %d)", c->ordinal) : 0;
}

/* ---- set-up ---- */

static void cuda_destroy(struct sl_backend *b)
{
	struct cuda *c = C(b);
	if (!c)
		return;
	const struct sl_cuda *cu = c->cu;
	if (c->ctx && !enter(b)) {
		for (int q = 0; q < SL_Q_COUNT; q++)
			if (c->s[q])
				cu->cuStreamSynchronize(c->s[q]);
		for (int i = 0; i < CUDA_N_EVENTS; i++)
			if (c->events[i].ev)
				cu->cuEventDestroy(c->events[i].ev);
		for (int i = 0; i < CUDA_N_IDS; i++) {
			if (c->ids[i].host)
				cu->cuMemFreeHost(c->ids[i].host);
			if (c->ids[i].dev)
				cu->cuMemFree(c->ids[i].dev);
		}
		if (c->xq)
			cu->cuMemFree(c->xq);
		if (c->attn_part)
			cu->cuMemFree(c->attn_part);
		if (c->mla_part)
			cu->cuMemFree(c->mla_part);
		sl_cuda_trace_free(b);
		sl_cuda_fw_unload(b);
		for (int q = 0; q < SL_Q_COUNT; q++)
			if (c->s[q])
				cu->cuStreamDestroy(c->s[q]);
	}
	if (c->ctx)
		cu->cuDevicePrimaryCtxRelease(c->dev);
	free(c);
	b->priv = NULL;
}

static int cuda_init(struct sl_backend *b, const struct sl_backend_config *cfg, struct sl_err *err)
{
	const struct sl_cuda *cu;
	int rc = sl_cuda_driver(&cu, err);
	if (rc)
		return rc;
	if (cfg->device < 0 || cfg->device >= cu->n_devices)
		return sl_errf(err, ENODEV, "no CUDA device %d (the driver found %d)", cfg->device, cu->n_devices);
	struct cuda *c = calloc(1, sizeof(*c));
	if (!c)
		return sl_errf(err, ENOMEM, "out of memory");
	b->priv = c;
	c->cu = cu;
	c->ordinal = cfg->device;
	CUresult r;
	if ((r = cu->cuDeviceGet(&c->dev, c->ordinal))) {
		rc = sl_cuda_fail(cu, r, err, "cuDeviceGet(%d)", c->ordinal);
		goto fail;
	}
	if (cu->cuDeviceGetName(c->dev_name, sizeof(c->dev_name), c->dev))
		snprintf(c->dev_name, sizeof(c->dev_name), "unnamed");
	c->dev_name[sizeof(c->dev_name) - 1] = 0;
	if ((r = cu->cuDeviceGetAttribute(&c->cc_major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, c->dev)) ||
	    (r = cu->cuDeviceGetAttribute(&c->cc_minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, c->dev))) {
		rc = sl_cuda_fail(cu, r, err, "cuDeviceGetAttribute(compute capability, device %d)", c->ordinal);
		goto fail;
	}
	/* Only a grid cap of the matmul with folded conversion depends on it: unknown is no error. */
	if (cu->cuDeviceGetAttribute(&c->n_sm, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, c->dev) || c->n_sm < 0)
		c->n_sm = 0;
	if ((r = cu->cuDevicePrimaryCtxRetain(&c->ctx, c->dev))) {
		c->ctx = NULL;
		rc = sl_cuda_fail(cu, r, err, "cuDevicePrimaryCtxRetain(device %d)", c->ordinal);
		goto fail;
	}
	if ((rc = enter(b))) {
		*err = b->err;
		goto fail;
	}
	for (int q = 0; q < SL_Q_COUNT; q++)
		if ((r = cu->cuStreamCreate(&c->s[q], CU_STREAM_NON_BLOCKING))) {
			c->s[q] = NULL;
			rc = sl_cuda_fail(cu, r, err, "cuStreamCreate(device %d)", c->ordinal);
			goto fail;
		}
	if ((rc = sl_cuda_fw_load(b, err)))
		goto fail;
	return 0;
fail:
	cuda_destroy(b);
	return rc;
}

/* ---- memory ---- */

static int cuda_alloc(struct sl_backend *b, size_t size, void **dev)
{
	int rc = enter(b);
	if (rc)
		return rc;
	CUdeviceptr p = 0;
	CUresult r = C(b)->cu->cuMemAlloc(&p, size ? size : 1);
	if (r)
		return FAIL(b, r, "cuMemAlloc(%zu bytes)", size);
	sl_backend_charge(b, size);
	*dev = (void *)(uintptr_t)p;
	return 0;
}

static void cuda_free(struct sl_backend *b, void *dev, size_t size)
{
	if (!dev || enter(b))
		return;
	written(b, dev, size); /* the address may come back from the next alloc */
	C(b)->cu->cuMemFree(DP(dev));
	sl_backend_uncharge(b, size);
}

static int cuda_register_host(struct sl_backend *b, void *host, size_t size)
{
	int rc = enter(b);
	if (rc || !host || !size)
		return rc;
	CUresult r = C(b)->cu->cuMemHostRegister(host, size, CU_MEMHOSTREGISTER_PORTABLE);
	if (r == CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED)
		return 0;
	return r ? FAIL(b, r, "cuMemHostRegister(%zu bytes)", size) : 0;
}

static void cuda_unregister_host(struct sl_backend *b, void *host, size_t size)
{
	if (host && size && !enter(b))
		C(b)->cu->cuMemHostUnregister(host);
}

/* Nothing to poison: a hazard on the device reads stale data, which the stand-in driver of the
 * tests turns into wrong tokens by really deferring copies. */
static void cuda_discard(struct sl_backend *b, void *p, size_t size)
{
	written(b, p, size);
}

static int cuda_mem_info(struct sl_backend *b, uint64_t *free_bytes, uint64_t *total_bytes)
{
	int rc = enter(b);
	if (rc)
		return rc;
	size_t f = 0, t = 0;
	CUresult r = C(b)->cu->cuMemGetInfo(&f, &t);
	if (r)
		return FAIL(b, r, "cuMemGetInfo(device %d)", C(b)->ordinal);
	*free_bytes = f, *total_bytes = t;
	return 0;
}

/* ---- copies ---- */

static int cuda_upload(struct sl_backend *b, void *dev, const void *host, size_t size)
{
	int rc = enter(b);
	if (rc || !size)
		return rc;
	written(b, dev, size);
	int slot = SL_TRACE_ACTIVE ? sl_cuda_trace_begin(b, SL_Q_COPY) : -1;
	CUresult r = C(b)->cu->cuMemcpyHtoDAsync(DP(dev), host, size, C(b)->s[SL_Q_COPY]);
	if (r)
		return FAIL(b, r, "cuMemcpyHtoDAsync(%zu bytes)", size);
	sl_cuda_trace_end(b, slot, "upload", (int64_t)size);
	return 0;
}

static int cuda_download(struct sl_backend *b, void *host, const void *dev, size_t size)
{
	int rc = enter(b);
	if (rc || !size)
		return rc;
	int slot = SL_TRACE_ACTIVE ? sl_cuda_trace_begin(b, SL_Q_COMPUTE) : -1;
	CUresult r = C(b)->cu->cuMemcpyDtoHAsync(host, DP(dev), size, C(b)->s[SL_Q_COMPUTE]);
	if (r)
		return FAIL(b, r, "cuMemcpyDtoHAsync(%zu bytes)", size);
	sl_cuda_trace_end(b, slot, "download", (int64_t)size);
	return 0;
}

/* ---- fences ---- */

static int cuda_fence(struct sl_backend *b, enum sl_be_queue q, sl_fence *out)
{
	struct cuda *c = C(b);
	if ((unsigned)q >= SL_Q_COUNT)
		return sl_errf(&b->err, EINVAL, "cuda backend: fence: no queue %d", (int)q);
	int rc = enter(b);
	if (rc)
		return rc;
	uint64_t seq = c->last_fence + 1;
	struct cuda_event *e = &c->events[seq % CUDA_N_EVENTS];
	CUresult r;
	if (!e->ev && (r = c->cu->cuEventCreate(&e->ev, CU_EVENT_DISABLE_TIMING))) {
		e->ev = NULL;
		return FAIL(b, r, "cuEventCreate");
	}
	/* The slot's previous fence must be complete before the slot means something else. */
	if (e->seq && (r = c->cu->cuEventSynchronize(e->ev)))
		return FAIL(b, r, "cuEventSynchronize(fence %llu)", (unsigned long long)e->seq);
	if ((r = c->cu->cuEventRecord(e->ev, c->s[q])))
		return FAIL(b, r, "cuEventRecord(fence %llu, %s stream)", (unsigned long long)seq,
			    q == SL_Q_COPY ? "copy" : "compute");
	e->seq = seq;
	e->q = q;
	c->last_fence = seq;
	*out = seq;
	return 0;
}

/* The event of fence f, NULL when f is known complete; -EINVAL for a number never handed out. */
static int event_of(struct sl_backend *b, sl_fence f, struct cuda_event **out)
{
	struct cuda *c = C(b);
	*out = NULL;
	if (f > c->last_fence)
		return sl_errf(&b->err, EINVAL, "cuda backend: %llu is not a fence of this backend",
			       (unsigned long long)f);
	if (f == 0)
		return 0;
	struct cuda_event *e = &c->events[f % CUDA_N_EVENTS];
	if (e->seq == f)
		*out = e;
	return 0;
}

static int cuda_wait(struct sl_backend *b, enum sl_be_queue q, sl_fence f)
{
	struct cuda_event *e;
	if ((unsigned)q >= SL_Q_COUNT)
		return sl_errf(&b->err, EINVAL, "cuda backend: wait: no queue %d", (int)q);
	int rc = event_of(b, f, &e);
	if (rc || !e || e->q == (int)q) /* done, or ordered by its own stream already */
		return rc;
	if ((rc = enter(b)))
		return rc;
	CUresult r = C(b)->cu->cuStreamWaitEvent(C(b)->s[q], e->ev, 0);
	return r ? FAIL(b, r, "cuStreamWaitEvent(fence %llu)", (unsigned long long)f) : 0;
}

static bool cuda_fence_done(struct sl_backend *b, sl_fence f)
{
	struct cuda_event *e;
	if (event_of(b, f, &e) || !e)
		return true;
	if (enter(b))
		return true; /* the error comes back from fence_sync/sync */
	/* An error also counts as "done": the caller's next fence_sync or sync reports it. */
	return C(b)->cu->cuEventQuery(e->ev) != CUDA_ERROR_NOT_READY;
}

static int cuda_fence_sync(struct sl_backend *b, sl_fence f)
{
	struct cuda_event *e;
	int rc = event_of(b, f, &e);
	if (rc || !e || (rc = enter(b)))
		return rc;
	CUresult r = C(b)->cu->cuEventSynchronize(e->ev);
	return r ? FAIL(b, r, "cuEventSynchronize(fence %llu): an earlier operation failed", (unsigned long long)f)
		 : 0;
}

static int cuda_sync(struct sl_backend *b)
{
	int rc = enter(b);
	if (rc)
		return rc;
	for (int q = 0; q < SL_Q_COUNT; q++) {
		CUresult r = C(b)->cu->cuStreamSynchronize(C(b)->s[q]);
		if (r)
			return FAIL(b, r, "cuStreamSynchronize(%s stream): an earlier operation failed",
				    q == SL_Q_COPY ? "copy" : "compute");
	}
	sl_cuda_trace_flush(b);
	return 0;
}

/* ---- kernels ---- */

static bool cuda_supports_op(struct sl_backend *b, enum sl_be_op op, uint32_t wtype)
{
	struct cuda *c = C(b);
	const struct sl_type_traits *t;
	switch (op) {
	case SL_OP_MATMUL:
		if (wtype >= SL_TYPE_COUNT || !c->mmv[wtype] || !(t = sl_type_traits(wtype)))
			return false;
		return t->vec_dot_type == SL_TYPE_F32 || (t->vec_dot_type < SL_TYPE_COUNT && c->conv[t->vec_dot_type]);
	case SL_OP_GET_ROWS:
		return wtype < SL_TYPE_COUNT && c->get_rows[wtype];
	case SL_OP_RMSNORM:
	case SL_OP_ROPE:
	case SL_OP_ATTENTION:
	case SL_OP_SILU_MUL:
	case SL_OP_ADD:
		return true;
	default:
		return false;
	}
}

/* name: the kernel, for messages; span: the trace's name for it (a string literal). */
static int launch_named(struct sl_backend *b, CUfunction f, const char *name, const char *span, unsigned gx, unsigned gy,
			unsigned bx, unsigned by, void **params)
{
	if (!gx || !gy)
		return 0; /* nothing to do (n = 0) */
	int rc = enter(b);
	if (rc)
		return rc;
	int slot = SL_TRACE_ACTIVE ? sl_cuda_trace_begin(b, SL_Q_COMPUTE) : -1;
	CUresult r = C(b)->cu->cuLaunchKernel(f, gx, gy, 1, bx, by, 1, 0, C(b)->s[SL_Q_COMPUTE], params, NULL);
	if (r)
		return FAIL(b, r, "cuLaunchKernel(%s, grid %ux%u, block %ux%u)", name, gx, gy, bx, by);
	sl_cuda_trace_end(b, slot, span, (int64_t)gx * gy);
	return 0;
}

/* A kernel whose name is a string literal. */
#define launch(b, f, name, gx, gy, bx, by, params) launch_named(b, f, name, name, gx, gy, bx, by, params)

static int bad(struct sl_backend *b, const char *op, const char *why)
{
	return sl_errf(&b->err, EINVAL, "cuda backend: %s: %s", op, why);
}

static unsigned div_up(int64_t a, int64_t b)
{
	return (unsigned)((a + b - 1) / b);
}

/* A device buffer of at least need bytes, grown when smaller.  The compute stream may still be
 * reading the old one: wait for it before freeing. */
static int grow(struct sl_backend *b, CUdeviceptr *p, size_t *cap, size_t need, const char *what)
{
	struct cuda *c = C(b);
	if (need <= *cap)
		return 0;
	CUresult r;
	if (*p) {
		if ((r = c->cu->cuStreamSynchronize(c->s[SL_Q_COMPUTE])))
			return FAIL(b, r, "cuStreamSynchronize(compute stream): an earlier operation failed");
		c->cu->cuMemFree(*p);
		sl_backend_uncharge(b, *cap);
		*p = 0, *cap = 0;
	}
	need = SL_ALIGN_UP(need, (size_t)1 << 16);
	if ((r = c->cu->cuMemAlloc(p, need))) {
		*p = 0;
		return FAIL(b, r, "cuMemAlloc(%zu bytes, %s)", need, what);
	}
	sl_backend_charge(b, need);
	*cap = need;
	return 0;
}

static int cuda_matmul(struct sl_backend *b, float *y, const void *w, uint32_t wtype, int64_t rows, int64_t cols,
		       const float *x, int n)
{
	struct cuda *c = C(b);
	if (!cuda_supports_op(b, SL_OP_MATMUL, wtype))
		return sl_errf(&b->err, ENOTSUP, "cuda backend: matmul: no kernel for weights of type %s (%u)",
			       sl_type_name(wtype), wtype);
	if (rows < 0 || cols <= 0 || n < 0 || n > 65535)
		return bad(b, "matmul", "bad size");
	if (!sl_row_size(wtype, cols))
		return bad(b, "matmul", "columns not a multiple of the weight type's block");
	if (!n || !rows)
		return 0;
	int rc = enter(b);
	if (rc)
		return rc;
	const uint32_t vt = sl_type_traits(wtype)->vec_dot_type;
	CUdeviceptr xa = DP(x), pw = DP(w), py = DP(y);
	long long r_ll = rows, c_ll = cols;
	char name[32];
	if (vt != SL_TYPE_F32) {
		size_t row = sl_row_size(vt, cols);
		if (!row)
			return bad(b, "matmul", "columns not a multiple of the activation type's block");
		/* Small activations (decode, short prompts): the mmv kernel converts x itself, one launch
		 * (launches, ~7 us each, bound decode: Documentation/performance.md's GPU section).  Each
		 * block converts x again, so this is for what fits its shared memory. */
		if (c->mmv_conv[wtype] && row * (size_t)n <= SL_FW_MMV_XS_BYTES) {
			written(b, y, (uint64_t)rows * (uint64_t)n * sizeof(float));
			unsigned g = div_up(rows, SL_FW_MMV_WARPS);
			if (c->n_sm > 0 && g > (unsigned)c->n_sm * SL_FW_MMV_CONV_BLOCKS_PER_SM)
				g = (unsigned)c->n_sm * SL_FW_MMV_CONV_BLOCKS_PER_SM;
			snprintf(name, sizeof(name), "sl_mmv_conv_%s", sl_cuda_fw_type(wtype));
			void *p[] = { &pw, &xa, &py, &r_ll, &c_ll, &n };
			return launch_named(b, c->mmv_conv[wtype], name, "sl_mmv", g, 1, 32, SL_FW_MMV_WARPS, p);
		}
		bool same = c->xq_valid && c->xq_src == DP(x) && c->xq_cols == cols && c->xq_n == n && c->xq_vt == vt;
		if (!same) {
			c->xq_valid = false;
			if ((rc = grow(b, &c->xq, &c->xq_cap, row * (size_t)n, "converted activations")))
				return rc;
			CUdeviceptr px = DP(x), pq = c->xq;
			void *cp[] = { &px, &pq, &c_ll, &n };
			if ((rc = launch(b, c->conv[vt], "activation conversion", div_up(cols, SL_FW_BLOCK),
					 (unsigned)n, SL_FW_BLOCK, 1, cp)))
				return rc;
			c->xq_valid = true, c->xq_src = DP(x), c->xq_cols = cols, c->xq_n = n, c->xq_vt = vt;
		}
		xa = c->xq;
	}
	written(b, y, (uint64_t)rows * (uint64_t)n * sizeof(float));
	snprintf(name, sizeof(name), "sl_mmv_%s", sl_cuda_fw_type(wtype));
	void *p[] = { &pw, &xa, &py, &r_ll, &c_ll, &n };
	return launch_named(b, c->mmv[wtype], name, "sl_mmv", div_up(rows, SL_FW_MMV_WARPS), 1, 32, SL_FW_MMV_WARPS, p);
}

/* Small host arrays an op reads on the device (get_rows' ids, add_rows' ids and scales): copied into
 * a pinned slot, so the copy is truly asynchronous and the caller may reuse its arrays at once, then
 * to the slot's device half on the compute stream: a then b, back to back.  A slot is reused once
 * the op that last used it ran: the caller takes that fence (s->last) after its launch. */
static int stage(struct sl_backend *b, const void *a, size_t na, const void *bb, size_t nb, struct cuda_ids_slot **out)
{
	struct cuda *c = C(b);
	struct cuda_ids_slot *s = &c->ids[c->ids_next++ % CUDA_N_IDS];
	int rc;
	if (s->last && (rc = cuda_fence_sync(b, s->last)))
		return rc;
	s->last = 0;
	size_t bytes = na + nb;
	CUresult r;
	if (bytes > s->cap) {
		if (s->host)
			c->cu->cuMemFreeHost(s->host);
		if (s->dev)
			c->cu->cuMemFree(s->dev);
		s->host = NULL, s->dev = 0, s->cap = 0;
		size_t cap = SL_ALIGN_UP(bytes, (size_t)4096);
		void *h = NULL;
		if ((r = c->cu->cuMemAllocHost(&h, cap)))
			return FAIL(b, r, "cuMemAllocHost(%zu bytes, op ids/scales)", cap);
		s->host = h;
		if ((r = c->cu->cuMemAlloc(&s->dev, cap))) {
			s->dev = 0;
			return FAIL(b, r, "cuMemAlloc(%zu bytes, op ids/scales)", cap);
		}
		s->cap = cap;
	}
	memcpy(s->host, a, na);
	if (nb)
		memcpy((char *)s->host + na, bb, nb);
	if ((r = c->cu->cuMemcpyHtoDAsync(s->dev, s->host, bytes, c->s[SL_Q_COMPUTE])))
		return FAIL(b, r, "cuMemcpyHtoDAsync(%zu bytes, op ids/scales)", bytes);
	*out = s;
	return 0;
}

static int cuda_get_rows(struct sl_backend *b, float *y, const void *w, uint32_t wtype, int64_t cols,
			 const int32_t *ids, int n)
{
	struct cuda *c = C(b);
	if (!cuda_supports_op(b, SL_OP_GET_ROWS, wtype))
		return sl_errf(&b->err, ENOTSUP, "cuda backend: get_rows: no kernel for type %s (%u)",
			       sl_type_name(wtype), wtype);
	if (cols <= 0 || n < 0 || !sl_row_size(wtype, cols) || (n && !ids))
		return bad(b, "get_rows", "bad size");
	for (int i = 0; i < n; i++)
		if (ids[i] < 0)
			return sl_errf(&b->err, EINVAL, "cuda backend: get_rows: negative row id %d", ids[i]);
	if (!n)
		return 0;
	int rc = enter(b);
	if (rc)
		return rc;
	written(b, y, (uint64_t)n * (uint64_t)cols * sizeof(float));
	struct cuda_ids_slot *s;
	if ((rc = stage(b, ids, (size_t)n * sizeof(int32_t), NULL, 0, &s)))
		return rc;
	CUdeviceptr pw = DP(w), pi = s->dev, py = DP(y);
	long long c_ll = cols;
	void *p[] = { &pw, &pi, &py, &c_ll, &n };
	char name[32];
	snprintf(name, sizeof(name), "sl_get_rows_%s", sl_cuda_fw_type(wtype));
	if ((rc = launch_named(b, c->get_rows[wtype], name, "sl_get_rows", (unsigned)n, 1, SL_FW_BLOCK, 1, p)))
		return rc;
	return cuda_fence(b, SL_Q_COMPUTE, &s->last);
}

static int cuda_rmsnorm(struct sl_backend *b, float *y, const float *x, const float *w, int64_t dim, int n,
			float eps)
{
	if (dim <= 0 || n < 0)
		return bad(b, "rmsnorm", "bad size");
	written(b, y, (uint64_t)n * (uint64_t)dim * sizeof(float));
	CUdeviceptr py = DP(y), px = DP(x), pw = DP(w);
	long long d = dim;
	void *p[] = { &py, &px, &pw, &d, &n, &eps };
	return launch(b, C(b)->rmsnorm, "sl_rmsnorm", (unsigned)n, 1, SL_FW_BLOCK, 1, p);
}

/* rope and rope_ff are one kernel: ff NULL leaves the angle as is (firmware/fw_norm_rope.cu). */
static int rope_launch(struct sl_backend *b, const char *op, float *x, int n_head, int head_dim, int n_rot,
		       int pos0, int n, float freq_base, bool neox, const float *ff)
{
	if (n_head < 0 || n < 0 || n_rot < 0 || n_rot % 2 || n_rot > head_dim || n > 65535)
		return bad(b, op, "bad size (n_rot must be even and at most head_dim)");
	written(b, x, (uint64_t)n * (uint64_t)n_head * (uint64_t)head_dim * sizeof(float));
	CUdeviceptr px = DP(x), pf = DP(ff);
	int nx = neox ? 1 : 0;
	void *p[] = { &px, &n_head, &head_dim, &n_rot, &pos0, &n, &freq_base, &nx, &pf };
	return launch(b, C(b)->rope, "sl_rope", (unsigned)n_head, (unsigned)n, SL_FW_ROPE_BLOCK, 1, p);
}

static int cuda_rope(struct sl_backend *b, float *x, int n_head, int head_dim, int n_rot, int pos0, int n,
		     float freq_base, bool neox)
{
	return rope_launch(b, "rope", x, n_head, head_dim, n_rot, pos0, n, freq_base, neox, NULL);
}

static int cuda_rope_ff(struct sl_backend *b, float *x, int n_head, int head_dim, int n_rot, int pos0, int n,
			float freq_base, bool neox, const float *ff)
{
	if (!ff)
		return bad(b, "rope_ff", "no frequency factors");
	return rope_launch(b, "rope_ff", x, n_head, head_dim, n_rot, pos0, n, freq_base, neox, ff);
}

/* Decode (one query token) at context len: the context cut into chunks over enough blocks to fill
 * the device (firmware/kernels.h's sl_fw_split_chunk), then the chunks combined
 * (firmware/fw_attention_split.cu). */
static int attention_split(struct sl_backend *b, CUdeviceptr po, CUdeviceptr pq, CUdeviceptr pk, CUdeviceptr pv,
			   int n_head, int n_head_kv, int head_dim, int len, float scale)
{
	struct cuda *c = C(b);
	const int per_kv = (n_head / n_head_kv + SL_FW_SPLIT_HEADS - 1) / SL_FW_SPLIT_HEADS;
	const int gx = n_head_kv * per_kv;
	int chunk = sl_fw_split_chunk(len, gx);
	int n_chunks = (len + chunk - 1) / chunk;
	size_t need = (size_t)n_head * (size_t)n_chunks * (size_t)(head_dim + 2) * sizeof(float);
	int rc = grow(b, &c->attn_part, &c->attn_part_cap, need, "attention partials");
	if (rc)
		return rc;
	CUdeviceptr pp = c->attn_part;
	void *p[] = { &pp, &pq, &pk, &pv, &n_head, &n_head_kv, &head_dim, &len, &chunk, &scale };
	if ((rc = launch(b, c->attn_split, "sl_attention_split", (unsigned)gx, (unsigned)n_chunks, SL_FW_ATTN_BLOCK, 1, p)))
		return rc;
	void *pc[] = { &po, &pp, &n_head, &head_dim, &n_chunks };
	return launch(b, c->attn_combine, "sl_attention_combine", (unsigned)n_head, 1, SL_FW_ATTN_BLOCK, 1, pc);
}

static int cuda_attention(struct sl_backend *b, float *out, const float *q, const float *kc, const float *vc,
			  int n_head, int n_head_kv, int head_dim, int pos0, int n, float scale)
{
	if (n_head_kv <= 0 || n_head % n_head_kv || head_dim <= 0 || pos0 < 0 || n < 0 || n > 65535)
		return bad(b, "attention", "bad size (n_head must be a multiple of n_head_kv)");
	if (head_dim > SL_FW_MAX_HEAD_DIM)
		return sl_errf(&b->err, ENOTSUP, "cuda backend: attention: head_dim %d is larger than the firmware's %d",
			       head_dim, SL_FW_MAX_HEAD_DIM);
	written(b, out, (uint64_t)n * (uint64_t)n_head * (uint64_t)head_dim * sizeof(float));
	CUdeviceptr po = DP(out), pq = DP(q), pk = DP(kc), pv = DP(vc);
	if (n == 1 && n_head)
		return attention_split(b, po, pq, pk, pv, n_head, n_head_kv, head_dim, pos0 + 1, scale);
	void *p[] = { &po, &pq, &pk, &pv, &n_head, &n_head_kv, &head_dim, &pos0, &n, &scale };
	return launch(b, C(b)->attention, "sl_attention", (unsigned)n_head, (unsigned)n, SL_FW_ATTN_BLOCK, 1, p);
}

static unsigned stride_grid(int64_t n)
{
	return (unsigned)SL_MIN((uint64_t)div_up(n, SL_FW_BLOCK), (uint64_t)SL_FW_GRID_CAP);
}

static int cuda_silu_mul(struct sl_backend *b, float *gate, const float *up, int64_t n)
{
	if (n < 0)
		return bad(b, "silu_mul", "bad size");
	written(b, gate, (uint64_t)n * sizeof(float));
	CUdeviceptr pg = DP(gate), pu = DP(up);
	long long nn = n;
	void *p[] = { &pg, &pu, &nn };
	return launch(b, C(b)->silu_mul, "sl_silu_mul", stride_grid(n), 1, SL_FW_BLOCK, 1, p);
}

static int cuda_add(struct sl_backend *b, float *y, const float *x, int64_t n, int64_t n_x)
{
	if (n < 0 || n_x <= 0 || n % n_x)
		return bad(b, "add", "bad size (n must be a multiple of n_x)");
	written(b, y, (uint64_t)n * sizeof(float));
	CUdeviceptr py = DP(y), px = DP(x);
	long long nn = n, nx = n_x;
	void *p[] = { &py, &px, &nn, &nx };
	return launch(b, C(b)->add, "sl_add", stride_grid(n), 1, SL_FW_BLOCK, 1, p);
}

/* ---- deepseek2 ---- */

static int cuda_mla_kv(struct sl_backend *b, float *rows, const float *w, int kv_lora, int d_rope, int pos0, int n,
		       float eps, float freq_base, const float *ff)
{
	if (kv_lora <= 0 || d_rope < 0 || d_rope % 2 || n < 0 || pos0 < 0 || n > 65535)
		return bad(b, "mla_kv", "bad size (d_rope must be even)");
	written(b, rows, (uint64_t)n * (uint64_t)(kv_lora + d_rope) * sizeof(float));
	CUdeviceptr pr = DP(rows), pw = DP(w), pf = DP(ff);
	void *p[] = { &pr, &pw, &pf, &kv_lora, &d_rope, &pos0, &n, &eps, &freq_base };
	return launch(b, C(b)->mla_kv, "sl_mla_kv", (unsigned)n, 1, SL_FW_BLOCK, 1, p);
}

/* Decode: q_lat per head (sl_mla_q), the context split in chunks over blocks of 4 heads
 * (sl_mla_split: R1's 128 heads alone make only 32 blocks), the chunks merged and projected by Wv
 * (sl_mla_combine).  Scratch: q_lat + q_pe per head, then the partials. */
static int mla_decode(struct sl_backend *b, CUdeviceptr po, CUdeviceptr pq, CUdeviceptr pc, CUdeviceptr pk,
		      CUdeviceptr pv, CUdeviceptr pf, int tk, int tv, const struct sl_mla_shape *s, int pos0)
{
	struct cuda *c = C(b);
	int nh = s->n_head, dn = s->d_nope, dr = s->d_rope, dv = s->d_v, lora = s->kv_lora, legacy = s->legacy ? 1 : 0;
	int len = pos0 + 1;
	float base = s->freq_base, scale = s->scale;
	const unsigned gx = div_up(nh, SL_FW_MLA_HEADS);
	int chunk = sl_fw_split_chunk(len, (int)gx), n_chunks = (len + chunk - 1) / chunk;
	size_t qs_bytes = SL_ALIGN_UP((size_t)nh * (size_t)(lora + dr) * sizeof(float), (size_t)256);
	size_t need = qs_bytes + (size_t)nh * (size_t)n_chunks * (size_t)(lora + 2) * sizeof(float);
	int rc = grow(b, &c->mla_part, &c->mla_part_cap, need, "MLA decode partials");
	if (rc)
		return rc;
	CUdeviceptr qs = c->mla_part, part = c->mla_part + qs_bytes;
	void *pa[] = { &qs, &pq, &pk, &pf, &tk, &nh, &dn, &dr, &dv, &lora, &legacy, &pos0, &base };
	if ((rc = launch(b, c->mla_q, "sl_mla_q", gx, 1, SL_FW_MLA_BLOCK, 1, pa)))
		return rc;
	void *pb[] = { &part, &qs, &pc, &nh, &dr, &lora, &len, &chunk, &scale };
	if ((rc = launch(b, c->mla_split, "sl_mla_split", gx, (unsigned)n_chunks, SL_FW_MLA_BLOCK, 1, pb)))
		return rc;
	void *pcb[] = { &po, &part, &pv, &tv, &nh, &dn, &dv, &lora, &legacy, &n_chunks };
	return launch(b, c->mla_combine, "sl_mla_combine", gx, 1, SL_FW_MLA_BLOCK, 1, pcb);
}

static int cuda_mla_attention(struct sl_backend *b, float *out, float *q, const float *cache, const void *wk,
			      uint32_t wk_type, const void *wv, uint32_t wv_type, const struct sl_mla_shape *s, int pos0,
			      int n)
{
	const int64_t kcols = s->legacy ? s->kv_lora : s->d_nope;
	if (s->n_head <= 0 || s->d_nope <= 0 || s->d_rope < 0 || s->d_rope % 2 || s->d_v <= 0 || s->kv_lora <= 0 ||
	    pos0 < 0 || n < 0 || n > 65535 || s->n_head > 65535)
		return bad(b, "mla_attention", "bad size");
	if (s->kv_lora > SL_FW_MLA_MAX_LORA || s->d_rope > SL_FW_MLA_MAX_ROPE)
		return sl_errf(&b->err, ENOTSUP,
			       "cuda backend: mla_attention: kv_lora %d / rope dims %d exceed the firmware's %d / %d",
			       s->kv_lora, s->d_rope, SL_FW_MLA_MAX_LORA, SL_FW_MLA_MAX_ROPE);
	if (!sl_cuda_fw_type(wk_type) || !sl_cuda_fw_type(wv_type) || !sl_row_size(wk_type, kcols) ||
	    !sl_row_size(wv_type, s->kv_lora))
		return sl_errf(&b->err, ENOTSUP, "cuda backend: mla_attention: weights of type %s / %s cannot be read",
			       sl_type_name(wk_type), sl_type_name(wv_type));
	written(b, q, (uint64_t)n * (uint64_t)s->n_head * (uint64_t)(s->d_nope + s->d_rope) * sizeof(float));
	written(b, out, (uint64_t)n * (uint64_t)s->n_head * (uint64_t)s->d_v * sizeof(float));
	CUdeviceptr po = DP(out), pq = DP(q), pc = DP(cache), pk = DP(wk), pv = DP(wv), pf = DP(s->ff);
	int tk = (int)wk_type, tv = (int)wv_type, nh = s->n_head, dn = s->d_nope, dr = s->d_rope, dv = s->d_v;
	int lora = s->kv_lora, legacy = s->legacy ? 1 : 0;
	float base = s->freq_base, scale = s->scale;
	if (n == 1)
		return mla_decode(b, po, pq, pc, pk, pv, pf, tk, tv, s, pos0);
	void *p[] = { &po, &pq, &pc, &pk, &pv, &pf, &tk, &tv, &nh, &dn, &dr, &dv, &lora, &legacy, &pos0, &n, &base, &scale };
	return launch(b, C(b)->mla_attention, "sl_mla_attention", div_up(nh, SL_FW_MLA_HEADS), (unsigned)n, SL_FW_MLA_BLOCK,
		      1, p);
}

static int cuda_add_rows(struct sl_backend *b, float *y, const float *x, const int32_t *ids, const float *scale,
			 int64_t cols, int n)
{
	if (cols <= 0 || n < 0 || (n && (!ids || !scale)))
		return bad(b, "add_rows", "bad size");
	for (int i = 0; i < n; i++)
		if (ids[i] < 0)
			return bad(b, "add_rows", "negative row id");
	if (!n)
		return 0;
	int rc = enter(b);
	if (rc)
		return rc;
	/* the rows written are scattered: everything up to the last one */
	int32_t top = 0;
	for (int i = 0; i < n; i++)
		top = ids[i] > top ? ids[i] : top;
	written(b, y, ((uint64_t)top + 1) * (uint64_t)cols * sizeof(float));
	struct cuda_ids_slot *s;
	if ((rc = stage(b, ids, (size_t)n * sizeof(int32_t), scale, (size_t)n * sizeof(float), &s)))
		return rc;
	CUdeviceptr py = DP(y), px = DP(x), pi = s->dev, ps = s->dev + (size_t)n * sizeof(int32_t);
	long long c_ll = cols;
	void *p[] = { &py, &px, &pi, &ps, &c_ll, &n };
	if ((rc = launch(b, C(b)->add_rows, "sl_add_rows", stride_grid(cols), 1, SL_FW_BLOCK, 1, p)))
		return rc;
	return cuda_fence(b, SL_Q_COMPUTE, &s->last);
}

/* Not host-visible: streamed weights are copied into device memory on the copy stream. */
const struct sl_backend_ops sl_backend_cuda_ops = {
	.name = "cuda",
	.caps = SL_BE_ASYNC,
	.init = cuda_init,
	.destroy = cuda_destroy,
	.supports_op = cuda_supports_op,
	.alloc = cuda_alloc,
	.free = cuda_free,
	.register_host = cuda_register_host,
	.unregister_host = cuda_unregister_host,
	.discard = cuda_discard,
	.mem_info = cuda_mem_info,
	.upload = cuda_upload,
	.download = cuda_download,
	.fence = cuda_fence,
	.wait = cuda_wait,
	.fence_done = cuda_fence_done,
	.fence_sync = cuda_fence_sync,
	.sync = cuda_sync,
	.matmul = cuda_matmul,
	.get_rows = cuda_get_rows,
	.rmsnorm = cuda_rmsnorm,
	.rope = cuda_rope,
	.rope_ff = cuda_rope_ff,
	.attention = cuda_attention,
	.silu_mul = cuda_silu_mul,
	.add = cuda_add,
	.mla_kv = cuda_mla_kv,
	.mla_attention = cuda_mla_attention,
	.add_rows = cuda_add_rows,
};
