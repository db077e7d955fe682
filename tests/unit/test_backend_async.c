/* SPDX-License-Identifier: MIT */
/*
 * test_backend_async — the deferred CPU backends make scheduling hazards
 * visible, deterministically, and give the reference results when the fences
 * are right:
 *   - upload + wait + matmul (+ download + fence_sync) equals "cpu" bit for bit;
 *   - a matmul queued without waiting for its upload reads poison;
 *   - discard or free of a weight before the compute reading it ran poisons the
 *     result; with a fence_sync of the last-use fence first it does not; the
 *     same for host memory read directly by "cpu-async-zc";
 *   - a copy queue waiting on a compute fence lets a buffer be refilled safely;
 *   - every other op (get_rows with ids the caller overwrites at once, rmsnorm,
 *     rope, attention, silu_mul, a broadcast add) matches "cpu";
 *   - unsupported types and bad arguments fail at once with a message; bad
 *     fences are refused; sync() completes every fence;
 *   - every name in sl_backend_names() creates, and an unknown name lists them.
 */
#include "helpers/testutil.h"
#include "backend/backend.h"
#include "quant/quant.h"

#include <math.h>

#define ROWS 64
#define COLS 256
#define NB 3

static struct sl_backend *mk(const char *name)
{
	struct sl_backend_config cfg = { .n_threads = 2 };
	struct sl_backend *b = NULL;
	struct sl_err err = { { 0 } };
	int rc = sl_backend_new(name, &cfg, &b, &err);
	CHECK_MSG(rc == 0, "%s: %s", name, err.msg);
	if (rc)
		exit(t_done());
	return b;
}

static void *dalloc(struct sl_backend *b, size_t size)
{
	void *p = NULL;
	CHECK(b->ops->alloc(b, size, &p) == 0);
	if (!p)
		exit(t_done());
	return p;
}

static sl_fence fence(struct sl_backend *b, enum sl_be_queue q)
{
	sl_fence f = 0;
	CHECK(b->ops->fence(b, q, &f) == 0);
	return f;
}

static bool same(const float *a, const float *b, size_t n)
{
	return !memcmp(a, b, n * sizeof(float));
}

/* Test data: a q8_0 weight and a batch of activations. */
static uint8_t *w_host, *w_host2;
static float x_host[NB * COLS];
static size_t w_size;

static void make_data(void)
{
	uint64_t s = 0x1234567;
	float *wf = malloc(sizeof(float) * ROWS * COLS);
	for (int i = 0; i < ROWS * COLS; i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		wf[i] = (float)((int64_t)(s >> 33) % 1000) / 10000.0f;
	}
	for (int i = 0; i < NB * COLS; i++)
		x_host[i] = sinf((float)i * 0.37f);
	w_size = sl_row_size(SL_TYPE_Q8_0, COLS) * ROWS;
	w_host = malloc(w_size);
	w_host2 = malloc(w_size);
	CHECK(sl_quantize_rows(SL_TYPE_Q8_0, wf, w_host, ROWS, COLS) == w_size);
	for (int i = 0; i < ROWS * COLS; i++)
		wf[i] = -wf[i] * 0.5f;
	CHECK(sl_quantize_rows(SL_TYPE_Q8_0, wf, w_host2, ROWS, COLS) == w_size);
	free(wf);
}

/* The reference: the synchronous "cpu" backend. */
static void reference(const uint8_t *w, float *y)
{
	struct sl_backend *b = mk("cpu");
	CHECK(b->ops->matmul(b, y, w, SL_TYPE_Q8_0, ROWS, COLS, x_host, NB) == 0);
	sl_backend_free(b);
}

enum hazard { NONE, NO_WAIT, DISCARD_EARLY, FREE_EARLY, DISCARD_AFTER_SYNC };

/* Upload W and x, matmul, download y, on cpu-async, with one scheduling variant. */
static void run_matmul(enum hazard hz, float *out)
{
	struct sl_backend *b = mk("cpu-async");
	uint8_t *dw = dalloc(b, w_size);
	float *dx = dalloc(b, sizeof(x_host)), *dy = dalloc(b, sizeof(float) * NB * ROWS);
	CHECK(b->ops->upload(b, dw, w_host, w_size) == 0);
	CHECK(b->ops->upload(b, dx, x_host, sizeof(x_host)) == 0);
	sl_fence ready = fence(b, SL_Q_COPY);
	if (hz != NO_WAIT)
		CHECK(b->ops->wait(b, SL_Q_COMPUTE, ready) == 0);
	CHECK(b->ops->matmul(b, dy, dw, SL_TYPE_Q8_0, ROWS, COLS, dx, NB) == 0);
	sl_fence last_use = fence(b, SL_Q_COMPUTE);
	/* as late as possible: nothing has run yet */
	CHECK(!b->ops->fence_done(b, ready));
	CHECK(!b->ops->fence_done(b, last_use));
	if (hz == DISCARD_EARLY)
		b->ops->discard(b, dw, w_size);
	if (hz == FREE_EARLY)
		b->ops->free(b, dw, w_size);
	if (hz == DISCARD_AFTER_SYNC) {
		CHECK(b->ops->fence_sync(b, last_use) == 0);
		CHECK(b->ops->fence_done(b, last_use) && b->ops->fence_done(b, ready));
		b->ops->discard(b, dw, w_size);
	}
	memset(out, 0, sizeof(float) * NB * ROWS);
	CHECK(b->ops->download(b, out, dy, sizeof(float) * NB * ROWS) == 0);
	sl_fence got = fence(b, SL_Q_COMPUTE);
	if (hz != DISCARD_AFTER_SYNC) /* the download is queued, not run: out is untouched */
		CHECK(out[0] == 0 && !b->ops->fence_done(b, got));
	CHECK(b->ops->fence_sync(b, got) == 0);
	CHECK(b->ops->fence_done(b, got) && b->ops->fence_done(b, last_use));
	CHECK(b->ops->sync(b) == 0);
	CHECK(b->ops->fence_done(b, ready));
	if (hz != FREE_EARLY)
		b->ops->free(b, dw, w_size);
	b->ops->free(b, dx, sizeof(x_host));
	b->ops->free(b, dy, sizeof(float) * NB * ROWS);
	CHECK(b->mem_used == 0);
	sl_backend_free(b);
}

static void test_matmul_hazards(void)
{
	float ref[NB * ROWS], y[NB * ROWS];
	reference(w_host, ref);
	run_matmul(NONE, y);
	CHECK_MSG(same(y, ref, NB * ROWS), "upload + wait + matmul differs from cpu");
	run_matmul(NO_WAIT, y);
	CHECK_MSG(!same(y, ref, NB * ROWS) && isnan(y[0]), "matmul without waiting for its upload was not poisoned");
	run_matmul(DISCARD_EARLY, y);
	CHECK_MSG(!same(y, ref, NB * ROWS) && isnan(y[0]), "discard before the last use was not visible");
	run_matmul(FREE_EARLY, y);
	CHECK_MSG(!same(y, ref, NB * ROWS) && isnan(y[0]), "free before the last use was not visible");
	run_matmul(DISCARD_AFTER_SYNC, y);
	CHECK_MSG(same(y, ref, NB * ROWS), "discard after fence_sync(last use) changed the result");
}

/* cpu-async-zc: compute reads registered host memory; discarding it too early shows. */
static void test_zero_copy(void)
{
	float ref[NB * ROWS], y[NB * ROWS];
	reference(w_host, ref);
	for (int early = 0; early < 2; early++) {
		struct sl_backend *b = mk("cpu-async-zc");
		CHECK(sl_backend_has(b, SL_BE_HOST_VISIBLE | SL_BE_ASYNC));
		uint8_t *hw = malloc(w_size);
		memcpy(hw, w_host, w_size);
		CHECK(b->ops->register_host(b, hw, w_size) == 0);
		CHECK(b->ops->matmul(b, y, hw, SL_TYPE_Q8_0, ROWS, COLS, x_host, NB) == 0);
		sl_fence last_use = fence(b, SL_Q_COMPUTE);
		if (!early)
			CHECK(b->ops->fence_sync(b, last_use) == 0);
		b->ops->discard(b, hw, w_size);
		CHECK(b->ops->sync(b) == 0);
		if (early)
			CHECK_MSG(!same(y, ref, NB * ROWS), "zc: discard of host weights before their last use not visible");
		else
			CHECK_MSG(same(y, ref, NB * ROWS), "zc: result differs from cpu");
		b->ops->unregister_host(b, hw, w_size);
		free(hw);
		sl_backend_free(b);
	}
}

/* One device buffer, two weights: the copy queue waits for the first matmul before the refill. */
static void test_refill(void)
{
	float ref1[NB * ROWS], ref2[NB * ROWS], y[2 * NB * ROWS];
	reference(w_host, ref1);
	reference(w_host2, ref2);
	struct sl_backend *b = mk("cpu-async");
	uint8_t *dw = dalloc(b, w_size);
	float *dy = dalloc(b, sizeof(y));
	CHECK(b->ops->upload(b, dw, w_host, w_size) == 0);
	CHECK(b->ops->wait(b, SL_Q_COMPUTE, fence(b, SL_Q_COPY)) == 0);
	CHECK(b->ops->matmul(b, dy, dw, SL_TYPE_Q8_0, ROWS, COLS, x_host, NB) == 0);
	CHECK(b->ops->wait(b, SL_Q_COPY, fence(b, SL_Q_COMPUTE)) == 0);
	CHECK(b->ops->upload(b, dw, w_host2, w_size) == 0);
	sl_fence refilled = fence(b, SL_Q_COPY);
	CHECK(b->ops->wait(b, SL_Q_COMPUTE, refilled) == 0);
	CHECK(b->ops->matmul(b, dy + NB * ROWS, dw, SL_TYPE_Q8_0, ROWS, COLS, x_host, NB) == 0);
	CHECK(b->ops->download(b, y, dy, sizeof(y)) == 0);
	/* forcing the copy queue forces the compute work it waits for (the first matmul), no more */
	CHECK(b->ops->fence_sync(b, refilled) == 0);
	CHECK(!b->ops->fence_done(b, fence(b, SL_Q_COMPUTE)));
	CHECK(b->ops->sync(b) == 0);
	CHECK_MSG(same(y, ref1, NB * ROWS) && same(y + NB * ROWS, ref2, NB * ROWS), "refill after wait(copy, compute) differs");
	b->ops->free(b, dw, w_size);
	b->ops->free(b, dy, sizeof(y));
	sl_backend_free(b);
}

/* A small forward-like chain of every other op; returns the downloaded result. */
#define E 64
#define NH 4
#define NKV 2
#define HD 16
#define NT 3
static void chain(const char *name, float *out)
{
	struct sl_backend *b = mk(name);
	const size_t row = sl_row_size(SL_TYPE_Q8_0, E);
	uint8_t *emb_h = malloc(row * 10);
	float tmp[10 * E], nw[E], bias[E], k_h[NT * NKV * HD], v_h[NT * NKV * HD];
	for (int i = 0; i < 10 * E; i++)
		tmp[i] = cosf((float)i * 0.11f);
	CHECK(sl_quantize_rows(SL_TYPE_Q8_0, tmp, emb_h, 10, E) == row * 10);
	for (int i = 0; i < E; i++)
		nw[i] = 1.0f + (float)i / E, bias[i] = (float)i * 0.01f;
	for (int i = 0; i < NT * NKV * HD; i++)
		k_h[i] = sinf((float)i * 0.3f), v_h[i] = cosf((float)i * 0.7f);
	uint8_t *emb = dalloc(b, row * 10);
	float *dnw = dalloc(b, sizeof(nw)), *dbias = dalloc(b, sizeof(bias)), *kc = dalloc(b, sizeof(k_h));
	float *vc = dalloc(b, sizeof(v_h)), *x = dalloc(b, sizeof(float) * NT * E), *g = dalloc(b, sizeof(float) * NT * E);
	CHECK(b->ops->upload(b, emb, emb_h, row * 10) == 0);
	CHECK(b->ops->upload(b, dnw, nw, sizeof(nw)) == 0);
	CHECK(b->ops->upload(b, dbias, bias, sizeof(bias)) == 0);
	CHECK(b->ops->upload(b, kc, k_h, sizeof(k_h)) == 0);
	CHECK(b->ops->upload(b, vc, v_h, sizeof(v_h)) == 0);
	CHECK(b->ops->wait(b, SL_Q_COMPUTE, fence(b, SL_Q_COPY)) == 0);
	int32_t ids[NT] = { 7, 2, 9 };
	CHECK(b->ops->get_rows(b, x, emb, SL_TYPE_Q8_0, E, ids, NT) == 0);
	ids[0] = ids[1] = ids[2] = 0; /* the op copied them */
	CHECK(b->ops->rmsnorm(b, g, x, dnw, E, NT, 1e-5f) == 0);
	CHECK(b->ops->add(b, g, dbias, NT * E, E) == 0);
	CHECK(b->ops->rope(b, g, NH, HD, HD, 0, NT, 10000.0f, false) == 0);
	CHECK(b->ops->rope(b, kc, NKV, HD, HD / 2, 0, NT, 10000.0f, true) == 0);
	CHECK(b->ops->attention(b, x, g, kc, vc, NH, NKV, HD, 0, NT, 0.25f) == 0);
	CHECK(b->ops->silu_mul(b, g, x, NT * E) == 0);
	CHECK(b->ops->add(b, g, x, NT * E, NT * E) == 0);
	CHECK(b->ops->download(b, out, g, sizeof(float) * NT * E) == 0);
	CHECK(b->ops->sync(b) == 0);
	b->ops->free(b, emb, row * 10);
	b->ops->free(b, dnw, sizeof(nw));
	b->ops->free(b, dbias, sizeof(bias));
	b->ops->free(b, kc, sizeof(k_h));
	b->ops->free(b, vc, sizeof(v_h));
	b->ops->free(b, x, sizeof(float) * NT * E);
	b->ops->free(b, g, sizeof(float) * NT * E);
	free(emb_h);
	sl_backend_free(b);
}

static void test_other_ops(void)
{
	float ref[NT * E], y[NT * E];
	chain("cpu", ref);
	bool finite = true;
	for (int i = 0; i < NT * E; i++)
		finite &= isfinite(ref[i]);
	CHECK_MSG(finite, "cpu chain gave a non-finite value");
	chain("cpu-async", y);
	CHECK_MSG(same(y, ref, NT * E), "cpu-async chain differs from cpu");
	chain("cpu-async-zc", y);
	CHECK_MSG(same(y, ref, NT * E), "cpu-async-zc chain differs from cpu");
}

static void test_errors(const char *name)
{
	struct sl_backend *b = mk(name);
	float y[ROWS], x[COLS] = { 0 };
	CHECK(!b->ops->supports_op(b, SL_OP_MATMUL, SL_TYPE_Q8_1)); /* activation-only type */
	CHECK(!b->ops->supports_op(b, SL_OP_MATMUL, 99));
	CHECK(!b->ops->supports_op(b, SL_OP_GET_ROWS, 99));
	CHECK(b->ops->supports_op(b, SL_OP_MATMUL, SL_TYPE_Q4_K) && b->ops->supports_op(b, SL_OP_GET_ROWS, SL_TYPE_Q6_K));
	CHECK(b->ops->supports_op(b, SL_OP_ADD, 0) && !b->ops->supports_op(b, SL_OP_COUNT, 0));
	b->err.msg[0] = 0;
	int rc = b->ops->matmul(b, y, w_host, SL_TYPE_Q8_1, ROWS, COLS, x, 1);
	CHECK_MSG(rc == -ENOTSUP && strstr(b->err.msg, "q8_1"), "%s: matmul q8_1: %d '%s'", name, rc, b->err.msg);
	b->err.msg[0] = 0;
	int32_t id = 0;
	rc = b->ops->get_rows(b, y, w_host, 99, COLS, &id, 1);
	CHECK_MSG(rc == -ENOTSUP && b->err.msg[0], "%s: get_rows type 99: %d '%s'", name, rc, b->err.msg);
	b->err.msg[0] = 0;
	rc = b->ops->add(b, y, x, 10, 3);
	CHECK_MSG(rc == -EINVAL && b->err.msg[0], "%s: add 10 %% 3: %d '%s'", name, rc, b->err.msg);
	rc = b->ops->matmul(b, y, w_host, SL_TYPE_Q8_0, ROWS, COLS - 1, x, 1);
	CHECK_MSG(rc == -EINVAL, "%s: matmul with a partial block: %d", name, rc);
	if (sl_backend_has(b, SL_BE_ASYNC)) {
		sl_fence bogus = ((sl_fence)SL_Q_COPY << 60) | 12345;
		CHECK(b->ops->wait(b, SL_Q_COMPUTE, bogus) == -EINVAL);
		CHECK(b->ops->fence_sync(b, bogus) == -EINVAL);
	} else {
		/* synchronous: every fence is complete at once */
		sl_fence f = 1;
		CHECK(b->ops->fence(b, SL_Q_COPY, &f) == 0 && f == 0 && b->ops->fence_done(b, f));
		CHECK(b->ops->wait(b, SL_Q_COMPUTE, f) == 0 && b->ops->fence_sync(b, f) == 0);
	}
	/* failed ops queued nothing; the backend is still usable */
	CHECK(b->ops->sync(b) == 0);
	CHECK(b->ops->fence_done(b, fence(b, SL_Q_COMPUTE)) && b->ops->fence_done(b, fence(b, SL_Q_COPY)));
	sl_backend_free(b);
}

static void test_names(void)
{
	const char *names = sl_backend_names();
	const char *want[] = { "cpu", "cpu-async", "cpu-async-zc" };
	const unsigned caps[] = { SL_BE_HOST_VISIBLE, SL_BE_ASYNC, SL_BE_ASYNC | SL_BE_HOST_VISIBLE };
	for (size_t i = 0; i < 3; i++) {
		CHECK_MSG(strstr(names, want[i]), "'%s' missing from '%s'", want[i], names);
		struct sl_backend *b = mk(want[i]);
		CHECK_MSG(!strcmp(b->ops->name, want[i]) && b->ops->caps == caps[i], "%s: caps %#x", want[i], b->ops->caps);
		sl_backend_free(b);
	}
	struct sl_backend_config cfg = { 0 };
	struct sl_backend *b = NULL;
	struct sl_err err = { { 0 } };
	CHECK(sl_backend_new("nope", &cfg, &b, &err) == -ENOENT && !b);
	CHECK_MSG(strstr(err.msg, "nope") && strstr(err.msg, names), "message: '%s'", err.msg);
}

int main(void)
{
	make_data();
	test_names();
	test_matmul_hazards();
	test_zero_copy();
	test_refill();
	test_other_ops();
	test_errors("cpu");
	test_errors("cpu-async");
	free(w_host);
	free(w_host2);
	return t_done();
}
