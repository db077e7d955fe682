/* SPDX-License-Identifier: MIT */
/*
 * test_cuda_ops — each op of the cuda backend, on the stand-in driver ($BUILD/fakecuda, which runs
 * the host-compiled firmware), against the cpu backend on the same inputs: matmul of every weight
 * type (one row and a batch, rows not a multiple of the block), get_rows with ids the caller
 * overwrites at once, rmsnorm, rope (both pairings), attention (GQA, decode and prompt), silu_mul,
 * a broadcast add; then fences (done, sync, an old fence whose event slot was reused), mem_info,
 * and argument errors.  Bounds are relative to the output's scale: float summation order differs.
 *
 * The test re-runs itself with LD_LIBRARY_PATH pointing at the stand-in driver (ld.so reads it at
 * start only); without the stand-in it fails: make all always builds it.  With SLUICE_TEST_FAKECUDA=1
 * already set it runs on whatever libcuda.so.1 the loader finds: a real GPU (tests/cuda/gpu_smoke.sh).
 */
#include "helpers/testutil.h"
#include "backend/backend.h"
#include "quant/quant.h"

#include <limits.h>
#include <math.h>
#include <unistd.h>

static struct sl_backend *cpu, *gpu;
static uint64_t rng = 88172645463325252ull;

static float frand(void)
{
	rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
	return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static struct sl_backend *mk(const char *name)
{
	struct sl_backend_config cfg = { .n_threads = 1 };
	struct sl_backend *b = NULL;
	struct sl_err err = { { 0 } };
	int rc = sl_backend_new(name, &cfg, &b, &err);
	CHECK_MSG(rc == 0, "%s: %s", name, err.msg);
	if (rc)
		exit(t_done());
	return b;
}

/* A device copy of host bytes, ready for compute. */
static void *put(struct sl_backend *b, const void *h, size_t n)
{
	void *d = NULL;
	CHECK(b->ops->alloc(b, n, &d) == 0);
	CHECK(b->ops->upload(b, d, h, n) == 0);
	sl_fence f = 0;
	CHECK(b->ops->fence(b, SL_Q_COPY, &f) == 0);
	CHECK(b->ops->wait(b, SL_Q_COMPUTE, f) == 0);
	return d;
}

static void get(struct sl_backend *b, float *h, const void *d, size_t n)
{
	CHECK(b->ops->download(b, h, d, n * sizeof(float)) == 0);
	int rc = b->ops->sync(b);
	CHECK_MSG(rc == 0, "%s: sync: %s", b->ops->name, b->err.msg);
}

/* Both backends' outputs: max |a - b| relative to max |a|, at most tol. */
static void compare(const char *what, const float *a, const float *b, size_t n, double tol)
{
	double md = 0, mx = 0;
	size_t at = 0;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)a[i] - b[i]);
		if (!(d <= md)) /* NaN counts */
			md = d, at = i;
		mx = fmax(mx, fabs(a[i]));
	}
	double rel = md / (mx > 0 ? mx : 1);
	CHECK_MSG(rel <= tol, "%s: max diff %g at %zu (cpu %g cuda %g), relative %g > %g", what, md, at, a[at], b[at],
		  rel, tol);
}

/* Run f on both backends with the same host inputs; compare the output of nout floats. */
struct io {
	const void *in[4];
	size_t in_len[4];
	size_t nout;
	const float *out_init; /* in-place ops start from this */
};

typedef int (*op_fn)(struct sl_backend *b, void **in, float *out);

static void both(const char *what, const struct io *io, op_fn f, double tol)
{
	float *res[2];
	struct sl_backend *bs[2] = { cpu, gpu };
	for (int k = 0; k < 2; k++) {
		struct sl_backend *b = bs[k];
		void *in[4] = { 0 };
		for (int i = 0; i < 4; i++)
			if (io->in[i])
				in[i] = put(b, io->in[i], io->in_len[i]);
		float *init = calloc(io->nout, sizeof(float));
		if (io->out_init)
			memcpy(init, io->out_init, io->nout * sizeof(float));
		float *out = put(b, init, io->nout * sizeof(float));
		int rc = f(b, in, out);
		CHECK_MSG(rc == 0, "%s on %s: %s", what, b->ops->name, b->err.msg);
		res[k] = malloc(io->nout * sizeof(float));
		get(b, res[k], out, io->nout);
		for (int i = 0; i < 4; i++)
			if (in[i])
				b->ops->free(b, in[i], io->in_len[i]);
		b->ops->free(b, out, io->nout * sizeof(float));
		free(init);
	}
	compare(what, res[0], res[1], io->nout, tol);
	free(res[0]);
	free(res[1]);
}

static float *rnd(size_t n, float scale)
{
	float *v = malloc(n * sizeof(float));
	for (size_t i = 0; i < n; i++)
		v[i] = frand() * scale;
	return v;
}

/* ---- the ops ---- */

static uint32_t g_type;
static int64_t g_rows, g_cols;
static int g_n;

static int op_matmul(struct sl_backend *b, void **in, float *out)
{
	return b->ops->matmul(b, out, in[0], g_type, g_rows, g_cols, in[1], g_n);
}

static void test_matmul(uint32_t type, int64_t rows, int64_t cols, int n)
{
	size_t rs = sl_row_size(type, cols);
	float *wf = rnd((size_t)rows * cols, 1.0f);
	uint8_t *w = malloc(rs * rows);
	for (int64_t r = 0; r < rows; r++)
		sl_type_traits(type)->from_float(wf + r * cols, w + r * rs, cols);
	float *x = rnd((size_t)n * cols, 2.0f);
	struct io io = { .in = { w, x }, .in_len = { rs * rows, (size_t)n * cols * sizeof(float) },
			 .nout = (size_t)n * rows };
	g_type = type, g_rows = rows, g_cols = cols, g_n = n;
	char what[64];
	snprintf(what, sizeof(what), "matmul %s %lldx%lld n=%d", sl_type_name(type), (long long)rows, (long long)cols,
		 n);
	CHECK_MSG(gpu->ops->supports_op(gpu, SL_OP_MATMUL, type), "cuda: no matmul for %s", sl_type_name(type));
	both(what, &io, op_matmul, 1e-4);
	free(wf), free(w), free(x);
}

static int32_t ids[5];

static int op_get_rows(struct sl_backend *b, void **in, float *out)
{
	int32_t mine[5];
	memcpy(mine, ids, sizeof(mine));
	int rc = b->ops->get_rows(b, out, in[0], g_type, g_cols, mine, 5);
	memset(mine, 0x7f, sizeof(mine)); /* the op copied them */
	return rc;
}

static void test_get_rows(uint32_t type)
{
	const int64_t rows = 37, cols = 256;
	size_t rs = sl_row_size(type, cols);
	float *wf = rnd((size_t)rows * cols, 1.0f);
	uint8_t *w = malloc(rs * rows);
	for (int64_t r = 0; r < rows; r++)
		sl_type_traits(type)->from_float(wf + r * cols, w + r * rs, cols);
	int32_t want[5] = { 3, 0, 36, 3, 17 };
	memcpy(ids, want, sizeof(ids));
	struct io io = { .in = { w }, .in_len = { rs * rows }, .nout = 5 * cols };
	g_type = type, g_cols = cols;
	char what[64];
	snprintf(what, sizeof(what), "get_rows %s", sl_type_name(type));
	both(what, &io, op_get_rows, 0);
	free(wf), free(w);
}

enum { E = 64, NH = 8, NKV = 4, HD = 8, CTX = 16 };
static int g_pos0;

static int op_rmsnorm(struct sl_backend *b, void **in, float *out)
{
	return b->ops->rmsnorm(b, out, in[0], in[1], E, g_n, 1e-5f);
}

static int op_rope(struct sl_backend *b, void **in, float *out)
{
	int rc = b->ops->rope(b, out, NH, HD, HD, g_pos0, g_n, 10000.0f, false);
	return rc ? rc : b->ops->rope(b, out, NH, HD, HD / 2, g_pos0, g_n, 500000.0f, true);
}

static int op_attention(struct sl_backend *b, void **in, float *out)
{
	return b->ops->attention(b, out, in[0], in[1], in[2], NH, NKV, HD, g_pos0, g_n, 1.0f / sqrtf(HD));
}

static int op_silu_add(struct sl_backend *b, void **in, float *out)
{
	int rc = b->ops->silu_mul(b, out, in[0], (int64_t)g_n * E);
	return rc ? rc : b->ops->add(b, out, in[1], (int64_t)g_n * E, E);
}

static void test_small_ops(int n, int pos0)
{
	g_n = n, g_pos0 = pos0;
	float *x = rnd((size_t)n * E, 3.0f), *w = rnd(E, 1.0f);
	struct io io = { .in = { x, w }, .in_len = { (size_t)n * E * 4, E * 4 }, .nout = (size_t)n * E };
	both("rmsnorm", &io, op_rmsnorm, 1e-5);
	struct io r = { .nout = (size_t)n * NH * HD, .out_init = x };
	both("rope", &r, op_rope, 1e-5);
	float *q = rnd((size_t)n * NH * HD, 1.0f), *kc = rnd((size_t)CTX * NKV * HD, 1.0f),
	      *vc = rnd((size_t)CTX * NKV * HD, 1.0f);
	struct io a = { .in = { q, kc, vc }, .in_len = { (size_t)n * NH * HD * 4, CTX * NKV * HD * 4, CTX * NKV * HD * 4 },
			.nout = (size_t)n * NH * HD };
	both("attention", &a, op_attention, 1e-5);
	float *up = rnd((size_t)n * E, 2.0f), *bias = rnd(E, 1.0f);
	struct io s = { .in = { up, bias }, .in_len = { (size_t)n * E * 4, E * 4 }, .nout = (size_t)n * E, .out_init = x };
	both("silu_mul + add", &s, op_silu_add, 1e-5);
	free(x), free(w), free(q), free(kc), free(vc), free(up), free(bias);
}

static void test_fences(void)
{
	sl_fence first = 0, f = 0;
	CHECK(gpu->ops->fence(gpu, SL_Q_COMPUTE, &first) == 0 && first);
	/* More fences than the event ring holds: the first one's slot is reused, and it still reads
	 * as complete (it was synchronised before the reuse). */
	for (int i = 0; i < 1100; i++)
		CHECK(gpu->ops->fence(gpu, i & 1 ? SL_Q_COPY : SL_Q_COMPUTE, &f) == 0);
	CHECK(f > first);
	CHECK(gpu->ops->fence_sync(gpu, f) == 0);
	CHECK(gpu->ops->fence_done(gpu, f) && gpu->ops->fence_done(gpu, first) && gpu->ops->fence_done(gpu, 0));
	CHECK(gpu->ops->wait(gpu, SL_Q_COMPUTE, first) == 0);
	CHECK(gpu->ops->fence_sync(gpu, f + 5) == -EINVAL && strstr(gpu->err.msg, "not a fence"));
	CHECK(gpu->ops->sync(gpu) == 0);
	uint64_t fr = 0, tot = 0;
	CHECK(gpu->ops->mem_info && gpu->ops->mem_info(gpu, &fr, &tot) == 0 && fr > 0 && fr <= tot);
	CHECK(!cpu->ops->mem_info);
}

static void test_errors(void)
{
	float *p = NULL;
	CHECK(gpu->ops->alloc(gpu, 4096, (void **)&p) == 0);
	CHECK(gpu->ops->matmul(gpu, p, p, SL_TYPE_I32, 4, 32, p, 1) == -ENOTSUP && strstr(gpu->err.msg, "no kernel"));
	CHECK(!gpu->ops->supports_op(gpu, SL_OP_MATMUL, SL_TYPE_Q8_K));
	CHECK(gpu->ops->attention(gpu, p, p, p, p, 2, 1, 512, 0, 1, 1.0f) == -ENOTSUP && strstr(gpu->err.msg, "head_dim"));
	int32_t bad = -1;
	CHECK(gpu->ops->get_rows(gpu, p, p, SL_TYPE_F32, 32, &bad, 1) == -EINVAL);
	void *huge = NULL;
	int rc = gpu->ops->alloc(gpu, (size_t)1 << 50, &huge);
	CHECK_MSG(rc == -ENOMEM && strstr(gpu->err.msg, "cuMemAlloc(") && strstr(gpu->err.msg, "CUDA_ERROR_OUT_OF_MEMORY"),
		  "rc %d: %s", rc, gpu->err.msg);
	gpu->ops->free(gpu, p, 4096);
}

/* Put the stand-in driver first on the loader's path and start again (ld.so reads the variable
 * once, at start). */
static void reexec(char **argv)
{
	if (getenv("SLUICE_TEST_FAKECUDA"))
		return;
	char self[PATH_MAX], dir[PATH_MAX + 32], lib[PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		fprintf(stderr, "FAIL: cannot find this program's path\n");
		exit(1);
	}
	self[n] = 0;
	char *slash = strrchr(self, '/'); /* BUILD/tests/unit/test_cuda_ops */
	*slash = 0;
	snprintf(dir, sizeof(dir), "%s/../../fakecuda", self);
	snprintf(lib, sizeof(lib), "%s/libcuda.so.1", dir);
	if (access(lib, R_OK)) {
		fprintf(stderr, "FAIL: the stand-in CUDA driver %s was not built\n", lib);
		exit(1);
	}
	const char *old = getenv("LD_LIBRARY_PATH");
	char path[2 * PATH_MAX];
	snprintf(path, sizeof(path), "%s%s%s", dir, old && *old ? ":" : "", old ? old : "");
	setenv("LD_LIBRARY_PATH", path, 1);
	setenv("SLUICE_TEST_FAKECUDA", "1", 1);
	*slash = '/';
	execv(self, argv);
	fprintf(stderr, "FAIL: re-exec %s: %s\n", self, strerror(errno));
	exit(1);
}

int main(int argc, char **argv)
{
	reexec(argv);
	cpu = mk("cpu");
	gpu = mk("cuda");
	const uint32_t types[] = { SL_TYPE_F32, SL_TYPE_F16, SL_TYPE_BF16, SL_TYPE_Q8_0, SL_TYPE_Q4_0, SL_TYPE_Q4_1, SL_TYPE_Q5_0,
				   SL_TYPE_Q5_1, SL_TYPE_Q2_K, SL_TYPE_Q3_K, SL_TYPE_Q4_K, SL_TYPE_Q5_K, SL_TYPE_Q6_K };
	for (size_t i = 0; i < SL_ARRAY_SIZE(types); i++) {
		test_matmul(types[i], 37, 256, 1);
		test_matmul(types[i], 13, 512, 3);
		test_get_rows(types[i]);
	}
	test_small_ops(1, 9);
	test_small_ops(5, 0);
	test_small_ops(3, 7);
	test_fences();
	test_errors();
	sl_backend_free(gpu);
	sl_backend_free(cpu);
	return t_done();
}
