/* SPDX-License-Identifier: MIT */
/* sluice-timeout: 900 (ThreadSanitizer follows every SIMT fiber switch and access: minutes there) */
/*
 * test_fw_kernels — every firmware kernel (firmware/), compiled for the CPU against the SIMT
 * shim and launched through simt_launch with the device's parameter layout and the launch shapes of
 * firmware/kernels.h, against the CPU's reference: the quant traits (runtime/quant) and the cpu
 * backend's ops.  Outputs are poisoned with NaN first, so an element a kernel forgets shows.
 *
 * Bounds, per kernel:
 *   activation conversion (q8_0 q8_1 q8_K f16 bf16)  bit-exact bytes with the reference quantizer
 *   get_rows (13 types)                               bit-exact with to_float
 *   mmv (13 types), on the same activation bytes     |y - y_cpu| <= 1e-6 * S + 1e-30, S = sum |w_j x_j|
 *        (the per-block integer dots are exact; only the float accumulation order differs)
 *   rmsnorm, rope, silu_mul, add                      |y - y_cpu| <= 1e-6 * (1 + |y_cpu|)
 *   attention (online softmax vs the CPU's two-pass)  |o - o_cpu| <= 5e-6 * (1 + max|v|)
 *   softmax                                           |y - y_ref| <= 1e-6 (y_ref in double)
 * Shapes: rows not a multiple of the 4 rows per block (1, 5, 997), n = 1, 3, 7, head_dim 64 and 128,
 * GQA 8:2, context lengths 1..300, vocab 997.
 */
#include "test_quant_util.h"
#include "backend/backend.h"
#include "firmware/kernels.h"
#include "firmware/simt/simt.h"
#include "helpers/fw_testutil.h"
#include "firmware/simt/simt_internal.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

static struct sl_backend *be;

static unsigned cdiv(long long a, long long b) { return (unsigned)((a + b - 1) / b); }

/* The parameters of every sl_mmv_* and sl_mmv_conv_* kernel: y[n][rows] = w[rows][cols] . x[n][cols]. */
static struct pk mmv_params(const void *w, const void *x, void *y, long long rows, long long cols, int n)
{
	struct pk p = { .o = 0 };
	pk_ptr(&p, w);
	pk_ptr(&p, x);
	pk_ptr(&p, y);
	pk_ll(&p, rows);
	pk_ll(&p, cols);
	pk_int(&p, n);
	return p;
}

/* ---- the shim itself ---- */

static void test_registry(void)
{
	int n = 0;
	size_t sz;
	const char *name;
	while ((name = simt_kernel(n, &sz))) {
		for (int j = 0; j < n; j++)
			CHECK_MSG(strcmp(simt_kernel(j, NULL), name), "%s listed twice", name);
		n++;
	}
	CHECK_MSG(n == 57, "%d kernels", n);
	for (int i = 0; (name = simt_kernel(i, &sz)); i++) {
		if (!strcmp(name, "sl_mmv_q4_K"))
			CHECK_MSG(sz == 44, "mmv params %zu", sz); /* 3 pointers, 2 long long, int */
		if (!strcmp(name, "sl_attention"))
			CHECK_MSG(sz == 56, "attention params %zu", sz); /* 4 pointers, 5 int, float */
		if (!strcmp(name, "sl_rmsnorm"))
			CHECK_MSG(sz == 40, "rmsnorm params %zu", sz); /* 3 pointers, long long, int, float */
	}
	char err[200];
	unsigned char buf[64] = { 0 };
	struct simt_dim3 one = { 1, 1, 1 }, big = { 1025, 1, 1 }, zero = { 0, 1, 1 };
	CHECK(simt_launch("sl_nope", one, one, 0, buf, 8, err, sizeof err) == -ENOENT && strstr(err, "sl_nope"));
	CHECK(simt_launch("sl_add", one, one, 0, buf, 31, err, sizeof err) == -EINVAL && strstr(err, "32"));
	CHECK(simt_launch("sl_add", one, big, 0, buf, 32, err, sizeof err) == -EINVAL && strstr(err, "1024"));
	CHECK(simt_launch("sl_add", zero, one, 0, buf, 32, err, sizeof err) == -EINVAL);
}

/* Grid-stride with fewer blocks than the data, a broadcast add, and a block reduction (barriers
 * and shuffles) in softmax. */
static void test_elementwise(void)
{
	const long long n = 3 * 997 + 5, nx = 997 * 0 + 3 * 997 + 5;
	float *g = malloc(n * 4), *u = malloc(n * 4), *ref = malloc(n * 4), *x = malloc(n * 4);
	for (long long i = 0; i < n; i++) {
		g[i] = tq_normal() * 3;
		u[i] = tq_normal();
		x[i] = tq_normal();
	}
	/* silu_mul */
	memcpy(ref, g, n * 4);
	CHECK(be->ops->silu_mul(be, ref, u, n) == 0);
	struct pk p = { .o = 0 };
	pk_ptr(&p, g);
	pk_ptr(&p, u);
	pk_ll(&p, n);
	fw_launch("sl_silu_mul", 3, 1, SL_FW_BLOCK, 1, &p); /* 3 blocks: each thread loops */
	for (long long i = 0; i < n; i++)
		CHECK_MSG(fabsf(g[i] - ref[i]) <= 1e-6f * (1 + fabsf(ref[i])), "silu_mul[%lld] %g vs %g", i, g[i], ref[i]);

	/* add: plain and a bias row of 997 broadcast over 3 rows */
	const long long shapes[2][2] = { { n, nx }, { 3 * 997, 997 } };
	for (int s = 0; s < 2; s++) {
		long long m = shapes[s][0], mx = shapes[s][1];
		for (long long i = 0; i < m; i++)
			g[i] = ref[i] = tq_normal();
		CHECK(be->ops->add(be, ref, x, m, mx) == 0);
		p.o = 0;
		pk_ptr(&p, g);
		pk_ptr(&p, x);
		pk_ll(&p, m);
		pk_ll(&p, mx);
		fw_launch("sl_add", cdiv(m, SL_FW_BLOCK) < SL_FW_GRID_CAP ? cdiv(m, SL_FW_BLOCK) : SL_FW_GRID_CAP, 1,
		       SL_FW_BLOCK, 1, &p);
		for (long long i = 0; i < m; i++)
			CHECK_MSG(g[i] == ref[i], "add %lld/%lld [%lld] %g vs %g", m, mx, i, g[i], ref[i]);
	}

	/* softmax: rows of 997 and of 1 and of 300 */
	const long long cols_l[] = { 997, 1, 300 };
	for (int c = 0; c < 3; c++) {
		long long cols = cols_l[c];
		int rows = 3;
		for (long long i = 0; i < cols * rows; i++)
			x[i] = tq_normal() * 4;
		float *y = malloc(cols * rows * 4);
		memcpy(y, x, cols * rows * 4);
		p.o = 0;
		pk_ptr(&p, y);
		pk_ll(&p, cols);
		pk_int(&p, rows);
		fw_launch("sl_softmax", rows, 1, SL_FW_BLOCK, 1, &p);
		for (int r = 0; r < rows; r++) {
			double mx = -INFINITY, sum = 0;
			for (long long j = 0; j < cols; j++)
				mx = fmax(mx, x[r * cols + j]);
			for (long long j = 0; j < cols; j++)
				sum += exp(x[r * cols + j] - mx);
			for (long long j = 0; j < cols; j++) {
				double want = exp(x[r * cols + j] - mx) / sum;
				CHECK_MSG(fabs(y[r * cols + j] - want) <= 1e-6, "softmax %lld [%d][%lld] %g vs %g", cols, r, j,
					  y[r * cols + j], want);
			}
		}
		free(y);
	}
	free(g);
	free(u);
	free(ref);
	free(x);
}



/* ---- the shim's built-ins, on kernels of the test's own (simt_run, the launcher's engine) ---- */

static int vote_out[96][6];

static void k_votes(const void *a)
{
	(void)a;
	const int t = threadIdx.x, lane = t & 31;
	vote_out[t][0] = (int)__ballot_sync(0xffffffffu, lane & 1);
	vote_out[t][1] = __any_sync(0xffffffffu, lane == 7);
	vote_out[t][2] = __all_sync(0xffffffffu, lane < 40);
	vote_out[t][3] = __all_sync(0xffffffffu, lane != 3);
	vote_out[t][4] = __shfl_down_sync(0xffffffffu, t, 4); /* past the warp's end: own value */
	vote_out[t][5] = __shfl_sync(0xffffffffu, t * 10, 5);
}

/* lane 0 of each warp waits at the block barrier while its warp waits for it at a shuffle */
static void k_deadlock(const void *a)
{
	(void)a;
	if ((threadIdx.x & 31) == 0)
		__syncthreads();
	else
		(void)__shfl_xor_sync(0xffffffffu, 1, 1);
}

static void test_shim(void)
{
	char err[256] = "";
	struct simt_dim3 g = { 1, 1, 1 }, b = { 96, 1, 1 };
	struct simt_kernel_desc kv = { "k_votes", NULL, 0, NULL, k_votes };
	CHECK(simt_run(&kv, NULL, g, b, err, sizeof err) == 0);
	for (int t = 0; t < 96; t++) {
		CHECK_MSG(vote_out[t][0] == (int)0xaaaaaaaau, "ballot %d: %x", t, vote_out[t][0]);
		CHECK(vote_out[t][1] == 1 && vote_out[t][2] == 1 && vote_out[t][3] == 0);
		CHECK_MSG(vote_out[t][4] == ((t & 31) + 4 < 32 ? t + 4 : t), "shfl_down %d: %d", t, vote_out[t][4]);
		CHECK_MSG(vote_out[t][5] == ((t & ~31) + 5) * 10, "shfl %d: %d", t, vote_out[t][5]);
	}
	struct simt_kernel_desc kd = { "k_deadlock", NULL, 0, NULL, k_deadlock };
	struct simt_dim3 b2 = { 64, 1, 1 };
	CHECK_MSG(simt_run(&kd, NULL, g, b2, err, sizeof err) == -EDEADLK && strstr(err, "deadlock"), "%s", err);

	/* __dp4a and the half conversions against plain arithmetic and runtime/quant's */
	for (int i = 0; i < 100000; i++) {
		const int x = (int)tq_rand(), y = (int)tq_rand(), c = (int)(tq_rand() >> 40);
		int want = c;
		for (int k = 0; k < 4; k++)
			want += (int8_t)(x >> (8 * k)) * (int8_t)(y >> (8 * k));
		CHECK(__dp4a(x, y, c) == want);
		uint32_t bits = (uint32_t)tq_rand();
		float f;
		memcpy(&f, &bits, 4);
		if (f == f) {
			CHECK_MSG(simt_float_to_half(f) == sl_fp32_to_fp16(f), "f2h %a", f);
			const uint16_t h = (uint16_t)bits;
			const float a = simt_half_to_float(h), r = sl_fp16_to_fp32(h);
			CHECK(!memcmp(&a, &r, 4) || (a != a && r != r));
		}
	}
}

/* Launches from several threads at once (the stand-in driver runs streams on threads): each has
 * its own fibers and its own __shared__ storage, so results equal the single-threaded ones. */
struct th_job {
	const void *w, *xa;
	float *y;
	int rc;
};

static void *th_mmv(void *arg)
{
	struct th_job *j = arg;
	for (int rep = 0; rep < 3 && !j->rc; rep++) {
		struct pk p = { .o = 0 };
		pk_ptr(&p, j->w);
		pk_ptr(&p, j->xa);
		pk_ptr(&p, j->y);
		pk_ll(&p, 61);
		pk_ll(&p, 512);
		pk_int(&p, 2);
		char err[128];
		struct simt_dim3 g = { 16, 1, 1 }, b = { 32, SL_FW_MMV_WARPS, 1 };
		j->rc = simt_launch("sl_mmv_q4_K", g, b, 0, p.b, p.o, err, sizeof err);
	}
	return NULL;
}

static void test_threads(void)
{
	const long long rows = 61, cols = 512;
	float *wf = malloc(rows * cols * 4), *x = malloc(2 * cols * 4);
	for (long long i = 0; i < rows * cols; i++)
		wf[i] = tq_normal();
	for (long long i = 0; i < 2 * cols; i++)
		x[i] = tq_normal();
	void *w = malloc(sl_row_size(SL_TYPE_Q4_K, cols) * rows), *xa = malloc(sl_row_size(SL_TYPE_Q8_K, cols) * 2);
	sl_quantize_rows(SL_TYPE_Q4_K, wf, w, rows, cols);
	sl_quantize_rows(SL_TYPE_Q8_K, x, xa, 2, cols);
	struct th_job jobs[3];
	pthread_t th[3];
	for (int i = 0; i < 3; i++) {
		jobs[i] = (struct th_job){ w, xa, poisoned(rows * 2 * 4), 0 };
		pthread_create(&th[i], NULL, th_mmv, &jobs[i]);
	}
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 3; i++) {
		CHECK(jobs[i].rc == 0);
		CHECK_MSG(!memcmp(jobs[i].y, jobs[0].y, rows * 2 * 4), "thread %d differs", i);
		CHECK(jobs[i].y[0] == jobs[i].y[0]);
	}
	for (int i = 0; i < 3; i++)
		free(jobs[i].y);
	free(wf);
	free(x);
	free(w);
	free(xa);
}

/* ---- activation conversion: bit-exact bytes ---- */

static void test_convert(void)
{
	static const struct { const char *k; uint32_t type; } cv[] = {
		{ "sl_quantize_q8_0", SL_TYPE_Q8_0 }, { "sl_quantize_q8_1", SL_TYPE_Q8_1 },
		{ "sl_quantize_q8_K", SL_TYPE_Q8_K }, { "sl_convert_f16", SL_TYPE_F16 },
		{ "sl_convert_bf16", SL_TYPE_BF16 },
	};
	const long long cols_l[] = { 256, 768, 4096 };
	for (size_t c = 0; c < sizeof cv / sizeof cv[0]; c++)
		for (int ci = 0; ci < 3; ci++) {
			const long long cols = cols_l[ci];
			const int n = 4;
			float *x = malloc(cols * n * 4);
			for (long long i = 0; i < cols * n; i++)
				x[i] = tq_normal() * (i % 7 + 1);
			/* row 1: a zero block then a tie of +a / -a for the largest magnitude (the first wins) */
			memset(x + cols, 0, 256 * 4);
			x[cols + 300 % cols] = 5.0f;
			x[cols + 301 % cols] = -5.0f;
			const size_t rs = sl_row_size(cv[c].type, cols);
			unsigned char *ref = malloc(rs * n), *y = poisoned(rs * n);
			for (int r = 0; r < n; r++)
				sl_type_traits(cv[c].type)->from_float(x + r * cols, ref + r * rs, cols);
			struct pk p = { .o = 0 };
			pk_ptr(&p, x);
			pk_ptr(&p, y);
			pk_ll(&p, cols);
			pk_int(&p, n);
			fw_launch(cv[c].k, cdiv(cols, 256), n, 256, 1, &p);
			size_t bad = 0;
			for (size_t i = 0; i < rs * n; i++)
				bad += y[i] != ref[i];
			CHECK_MSG(!bad, "%s cols %lld: %zu of %zu bytes differ", cv[c].k, cols, bad, rs * n);
			free(x);
			free(ref);
			free(y);
		}
}

/* ---- matrix-vector products, every weight type ---- */

static void test_mmv(void)
{
	const long long rows_l[] = { 1, 5, 997 };
	const int n_l[] = { 1, 3, 7 };
	double worst_all = 0;
	for (size_t t = 0; t < TQ_NW; t++) {
		const uint32_t type = tq_wtypes[t];
		const struct sl_type_traits *tt = sl_type_traits(type);
		const uint32_t at = tt->vec_dot_type;
		double worst = 0;
		for (int ri = 0; ri < 3; ri++)
			for (int ni = 0; ni < 3; ni++) {
				/* plain types: even and odd cols (the decode path reads 4-byte words when it can) */
				const long long odd = tt->block_size == 1 && ((ri + ni) & 1) ? 3 : 0;
				const long long rows = rows_l[ri], cols = (ri == 2 ? 512 : 768) + odd;
				const int n = n_l[ni];
				if (ri == 2 && ni != 1)
					continue; /* the big matrix once, with n = 3 */
				float *wf = malloc(rows * cols * 4), *x = malloc(n * cols * 4), *wd = malloc(cols * 4);
				float *xd = malloc(cols * 4);
				for (long long i = 0; i < rows * cols; i++)
					wf[i] = tq_normal() * 0.05f;
				for (long long i = 0; i < n * cols; i++)
					x[i] = tq_normal();
				const size_t wrs = sl_row_size(type, cols);
				void *w = malloc(wrs * rows);
				sl_quantize_rows(type, wf, w, rows, cols);
				/* the activations the CPU gives the product (the conversion kernels are checked
				 * bit-exact above, so this isolates the product) */
				const size_t ars = at == SL_TYPE_F32 ? (size_t)cols * 4 : sl_row_size(at, cols);
				void *xa = malloc(ars * n);
				if (at == SL_TYPE_F32)
					memcpy(xa, x, cols * n * 4);
				else
					for (int b = 0; b < n; b++)
						sl_type_traits(at)->from_float(x + b * cols, (char *)xa + b * ars, cols);
				float *ref = malloc(rows * n * 4), *y = poisoned(rows * n * 4);
				CHECK(be->ops->matmul(be, ref, w, type, rows, cols, x, n) == 0);
				struct pk p = mmv_params(w, xa, y, rows, cols, n);
				char name[32];
				snprintf(name, sizeof name, "sl_mmv_%s", tt->name);
				fw_launch(name, cdiv(rows, SL_FW_MMV_WARPS), 1, 32, SL_FW_MMV_WARPS, &p);
				for (int b = 0; b < n; b++) {
					if (at == SL_TYPE_F32)
						memcpy(xd, x + b * cols, cols * 4);
					else
						sl_type_traits(at)->to_float((char *)xa + b * ars, xd, cols);
					for (long long r = 0; r < rows; r++) {
						tt->to_float((char *)w + r * wrs, wd, cols);
						double s = 0;
						for (long long j = 0; j < cols; j++)
							s += fabs((double)wd[j] * xd[j]);
						const float got = y[b * rows + r], want = ref[b * rows + r];
						const double e = fabs((double)got - want);
						CHECK_MSG(e <= 1e-6 * s + 1e-30, "%s %lldx%lld n=%d y[%d][%lld] = %g, cpu %g (S %g)",
							  name, rows, cols, n, b, r, got, want, s);
						if (s > 0 && e / s > worst)
							worst = e / s;
					}
				}
				free(wf);
				free(x);
				free(wd);
				free(xd);
				free(w);
				free(xa);
				free(ref);
				free(y);
			}
		printf("mmv %-5s max |y - cpu| / S = %.2g (bound 1e-6)\n", tt->name, worst);
		if (worst > worst_all)
			worst_all = worst;
	}
}

/* sl_mmv_conv_T (the conversion folded into the product, one launch): bit for bit sl_mmv_T's result
 * on the reference-converted activations (which the two checks above tie to the CPU), for n = 1, 3
 * and 7, odd row counts, the full grid and a grid of 3 blocks (rows grid-strided), and x as large as
 * the shared memory takes; one block more and the kernel writes nothing (the launcher's two-launch
 * case). */
static void test_mmv_conv(void)
{
	for (size_t t = 0; t < TQ_NW; t++) {
		const uint32_t type = tq_wtypes[t];
		const struct sl_type_traits *tt = sl_type_traits(type);
		const uint32_t at = tt->vec_dot_type;
		if (at == SL_TYPE_F32)
			continue; /* f32 reads x as it is: no conv variant */
		/* the widest row of x (a multiple of the weight's block) that fits SL_FW_MMV_XS_BYTES */
		long long wide = tt->block_size;
		while (sl_row_size(at, wide + tt->block_size) <= SL_FW_MMV_XS_BYTES)
			wide += tt->block_size;
		const struct { long long rows, cols; int n; } cs[] = {
			{ 5, 768 + (tt->block_size == 1 ? 3 : 0), 1 }, { 997, 512, 3 }, { 37, 256, 7 },
			{ 9, wide, 1 }, { 3, wide + tt->block_size, 1 },
		};
		for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++)
			for (int small_grid = 0; small_grid < 2; small_grid++) {
				const long long rows = cs[c].rows, cols = cs[c].cols;
				const int n = cs[c].n;
				const bool fits = sl_row_size(at, cols) * (size_t)n <= SL_FW_MMV_XS_BYTES;
				float *wf = malloc(rows * cols * 4), *x = malloc(n * cols * 4);
				for (long long i = 0; i < rows * cols; i++)
					wf[i] = tq_normal() * 0.05f;
				for (long long i = 0; i < n * cols; i++)
					x[i] = tq_normal() * (i % 97 == 0 ? 8 : 1);
				if (n == 7) {
					/* an all-zero row (zero scales), and a row whose largest magnitude is a tie of
					 * opposite signs (the first wins, as on the CPU; the other would flip d and every q alike) */
					memset(x + cols, 0, cols * 4);
					x[2 * cols + 5] = 50.0f;
					x[2 * cols + 200] = -50.0f;
					/* exact halves after scaling (127 leads every 32: scale 1), where q8_0's roundf
					 * and q8_K's round-half-to-even part */
					for (long long i = 0; i < cols; i++)
						x[3 * cols + i] = i % 32 ? (float)(i % 41) - 20.5f : 127.0f;
				}
				const size_t wrs = sl_row_size(type, cols), ars = sl_row_size(at, cols);
				void *w = malloc(wrs * rows), *xa = malloc(ars * n);
				sl_quantize_rows(type, wf, w, rows, cols);
				for (int b = 0; b < n; b++)
					sl_type_traits(at)->from_float(x + b * cols, (char *)xa + b * ars, cols);
				float *ref = poisoned(rows * n * 4), *y = poisoned(rows * n * 4);
				char name[40];
				struct pk p = mmv_params(w, xa, ref, rows, cols, n);
				snprintf(name, sizeof name, "sl_mmv_%s", tt->name);
				fw_launch(name, cdiv(rows, SL_FW_MMV_WARPS), 1, 32, SL_FW_MMV_WARPS, &p);
				struct pk q = mmv_params(w, x, y, rows, cols, n);
				snprintf(name, sizeof name, "sl_mmv_conv_%s", tt->name);
				fw_launch(name, small_grid ? 3 : cdiv(rows, SL_FW_MMV_WARPS), 1, 32, SL_FW_MMV_WARPS, &q);
				if (fits) {
					CHECK_MSG(!memcmp(y, ref, rows * n * 4), "%s %lldx%lld n=%d grid %s: not sl_mmv_%s's bits",
						  name, rows, cols, n, small_grid ? "3" : "full", tt->name);
				} else {
					bool untouched = true;
					for (long long i = 0; i < rows * n; i++)
						untouched &= isnan(y[i]);
					CHECK_MSG(untouched, "%s %lldx%lld n=%d: wrote past its shared memory's limit", name, rows,
						  cols, n);
				}
				free(wf);
				free(x);
				free(w);
				free(xa);
				free(ref);
				free(y);
			}
		printf("mmv_conv %-5s bit-exact with sl_mmv_%s (widest x %lld)\n", tt->name, tt->name, wide);
	}
}

/* ---- embedding rows: bit-exact dequantization ---- */

static void test_get_rows(void)
{
	for (size_t t = 0; t < TQ_NW; t++) {
		const uint32_t type = tq_wtypes[t];
		const struct sl_type_traits *tt = sl_type_traits(type);
		const long long vocab = 997, cols = 512 + (tt->block_size == 1 ? 7 : 0);
		float *wf = malloc(vocab * cols * 4);
		for (long long i = 0; i < vocab * cols; i++)
			wf[i] = tq_normal();
		const size_t wrs = sl_row_size(type, cols);
		void *w = malloc(wrs * vocab);
		sl_quantize_rows(type, wf, w, vocab, cols);
		const int ids[] = { 0, 996, 5, 5, 431 };
		const int n = 5;
		float *ref = malloc(n * cols * 4), *y = poisoned(n * cols * 4);
		CHECK(be->ops->get_rows(be, ref, w, type, cols, ids, n) == 0);
		struct pk p = { .o = 0 };
		pk_ptr(&p, w);
		pk_ptr(&p, ids);
		pk_ptr(&p, y);
		pk_ll(&p, cols);
		pk_int(&p, n);
		char name[32];
		snprintf(name, sizeof name, "sl_get_rows_%s", tt->name);
		fw_launch(name, n, 1, SL_FW_BLOCK, 1, &p);
		CHECK_MSG(!memcmp(y, ref, n * cols * 4), "%s: not bit-exact", name);
		free(wf);
		free(w);
		free(ref);
		free(y);
	}
}

/* ---- rmsnorm, rope ---- */

static void test_norm_rope(void)
{
	const long long dims[] = { 1, 260, 4096 };
	for (int d = 0; d < 3; d++)
		for (int inplace = 0; inplace < 2; inplace++) {
			const long long dim = dims[d];
			const int n = 3;
			float *x = malloc(dim * n * 4), *w = malloc(dim * 4), *ref = malloc(dim * n * 4);
			for (long long i = 0; i < dim * n; i++)
				x[i] = tq_normal() * 2;
			for (long long i = 0; i < dim; i++)
				w[i] = 1 + tq_normal() * 0.1f;
			CHECK(be->ops->rmsnorm(be, ref, x, w, dim, n, 1e-5f) == 0);
			float *y = inplace ? x : poisoned(dim * n * 4);
			struct pk p = { .o = 0 };
			pk_ptr(&p, y);
			pk_ptr(&p, x);
			pk_ptr(&p, w);
			pk_ll(&p, dim);
			pk_int(&p, n);
			pk_f(&p, 1e-5f);
			fw_launch("sl_rmsnorm", n, 1, SL_FW_BLOCK, 1, &p);
			for (long long i = 0; i < dim * n; i++)
				CHECK_MSG(fabsf(y[i] - ref[i]) <= 1e-6f * (1 + fabsf(ref[i])), "rmsnorm %lld [%lld] %g vs %g",
					  dim, i, y[i], ref[i]);
			if (!inplace)
				free(y);
			free(x);
			free(w);
			free(ref);
		}

	/* rope and rope_ff (one kernel, ff NULL or not): odd head counts, partial rotation, both pairings. */
	static const struct { int n_head, hd, n_rot, pos0, n; } rs[] = {
		{ 8, 64, 64, 0, 3 }, { 4, 128, 128, 299, 1 }, { 2, 128, 64, 17, 7 }, { 3, 256, 256, 4000, 2 },
		{ 5, 64, 32, 1000, 3 }, { 1, 8, 8, 131071, 1 }, { 7, 96, 96, 12, 5 },
	};
	for (size_t c = 0; c < sizeof rs / sizeof rs[0]; c++)
		for (int neox = 0; neox < 2; neox++)
			for (int with_ff = 0; with_ff < 2; with_ff++) {
				const long long len = (long long)rs[c].n * rs[c].n_head * rs[c].hd;
				float *x = malloc(len * 4), *ref = malloc(len * 4), *ff = NULL;
				/* the rest of each row (past n_rot) must stay as it was: poison is no use in an in-place op */
				for (long long i = 0; i < len; i++)
					x[i] = ref[i] = tq_normal();
				if (with_ff) {
					/* Llama-3.1's factors are 1 for high frequencies and up to 8 for low ones */
					ff = malloc(rs[c].n_rot / 2 * sizeof *ff);
					for (int d = 0; d < rs[c].n_rot / 2; d++)
						ff[d] = 1.0f + 7.0f * (float)d / (float)(rs[c].n_rot / 2) + tq_normal() * 0.1f;
					CHECK(be->ops->rope_ff(be, ref, rs[c].n_head, rs[c].hd, rs[c].n_rot, rs[c].pos0, rs[c].n,
							       500000.0f, neox, ff) == 0);
				} else {
					CHECK(be->ops->rope(be, ref, rs[c].n_head, rs[c].hd, rs[c].n_rot, rs[c].pos0, rs[c].n,
							    10000.0f, neox) == 0);
				}
				struct pk p = { .o = 0 };
				pk_ptr(&p, x);
				pk_int(&p, rs[c].n_head);
				pk_int(&p, rs[c].hd);
				pk_int(&p, rs[c].n_rot);
				pk_int(&p, rs[c].pos0);
				pk_int(&p, rs[c].n);
				pk_f(&p, with_ff ? 500000.0f : 10000.0f);
				pk_int(&p, neox);
				pk_ptr(&p, ff);
				fw_launch("sl_rope", rs[c].n_head, rs[c].n, SL_FW_ROPE_BLOCK, 1, &p);
				for (long long i = 0; i < len; i++)
					CHECK_MSG(fabsf(x[i] - ref[i]) <= 1e-6f * (1 + fabsf(ref[i])),
						  "rope case %zu neox %d ff %d [%lld] %g vs %g", c, neox, with_ff, i, x[i], ref[i]);
				free(x);
				free(ref);
				free(ff);
			}
}

/* ---- attention ---- */

static void test_attention(void)
{
	static const struct { int n_head, n_kv, hd, pos0, n; } as[] = {
		{ 8, 2, 64, 0, 1 },   { 8, 2, 64, 0, 7 },   { 4, 4, 128, 299, 1 }, { 8, 2, 128, 150, 3 },
		{ 2, 1, 64, 37, 1 },  { 4, 1, 256, 5, 2 },  { 6, 3, 96, 0, 13 },
	};
	const size_t n_cases = sizeof as / sizeof as[0];
	/* then decode at every 7th context length up to 300 (2 heads on 1 kv head, head_dim 64) */
	for (size_t c = 0; c < n_cases + 43; c++) {
		const int sweep = c >= n_cases, pos = sweep ? (int)(c - n_cases) * 7 : 0;
		const int nh = sweep ? 2 : as[c].n_head, nkv = sweep ? 1 : as[c].n_kv, hd = sweep ? 64 : as[c].hd;
		const int pos0 = sweep ? pos : as[c].pos0, n = sweep ? 1 : as[c].n;
		const int ctx = pos0 + n;
		const long long qn = (long long)n * nh * hd, kn = (long long)ctx * nkv * hd;
		float *q = malloc(qn * 4), *k = malloc(kn * 4), *v = malloc(kn * 4), *ref = malloc(qn * 4);
		float *o = poisoned(qn * 4);
		float vmax = 0;
		for (long long i = 0; i < qn; i++)
			q[i] = tq_normal();
		for (long long i = 0; i < kn; i++) {
			k[i] = tq_normal();
			v[i] = tq_normal();
			vmax = fmaxf(vmax, fabsf(v[i]));
		}
		const float scale = 1.0f / sqrtf((float)hd);
		CHECK(be->ops->attention(be, ref, q, k, v, nh, nkv, hd, pos0, n, scale) == 0);
		struct pk p = { .o = 0 };
		pk_ptr(&p, o);
		pk_ptr(&p, q);
		pk_ptr(&p, k);
		pk_ptr(&p, v);
		pk_int(&p, nh);
		pk_int(&p, nkv);
		pk_int(&p, hd);
		pk_int(&p, pos0);
		pk_int(&p, n);
		pk_f(&p, scale);
		fw_launch("sl_attention", nh, n, SL_FW_ATTN_BLOCK, 1, &p);
		double worst = 0;
		for (long long i = 0; i < qn; i++) {
			const double e = fabs((double)o[i] - ref[i]);
			CHECK_MSG(e <= 5e-6 * (1 + vmax), "attention case %zu (heads %d/%d hd %d ctx %d n %d) [%lld] %g vs %g",
				  c, nh, nkv, hd, ctx, n, i, o[i], ref[i]);
			if (!(e <= worst))
				worst = e;
		}
		if (!sweep || pos0 == 294)
			printf("attention heads %d/%d hd %3d ctx %3d n %2d: max |o - cpu| = %.2g (bound %.2g)\n", nh, nkv, hd,
			       ctx, n, worst, 5e-6 * (1 + vmax));
		free(q);
		free(k);
		free(v);
		free(ref);
		free(o);
	}
}

int main(void)
{
	be = fw_cpu_backend();
	if (!be)
		return 1;
	test_registry();
	test_shim();
	test_threads();
	test_elementwise();
	test_convert();
	test_get_rows();
	test_mmv_conv();
	test_norm_rope();
	test_attention();
	test_mmv();
	sl_backend_free(be);
	return t_done();
}
