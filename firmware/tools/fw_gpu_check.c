/* SPDX-License-Identifier: MIT */
/*
 * firmware/tools/fw_gpu_check.c — the embedded firmware on a real GPU, through the Driver API
 * directly (no backend): every kernel against the CPU reference with the bounds of
 * tests/unit/test_fw_kernels.c and test_fw_mla.c, then decode-shaped timings of mmv, decode attention
 * (one block per head and split-K) and MLA against the device's own
 * device-to-device copy rate (the HBM roofline).  Built by `make fw-gpu-check` (links the toolkit's
 * libcuda stub; the driver provides libcuda.so.1 where it runs).  Prints a table; exit 0 when every
 * check passed, 1 otherwise, 77 with no device.
 */
#include <cuda.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"
#include "firmware/embed.h"
#include "firmware/kernels.h"
#include "quant/quant.h"

static int failures;
static CUmodule mod;
static struct sl_backend *be;

#define CK(call)                                                                                  \
	do {                                                                                      \
		CUresult r_ = (call);                                                             \
		if (r_ != CUDA_SUCCESS) {                                                         \
			const char *n_ = "?";                                                     \
			cuGetErrorName(r_, &n_);                                                  \
			fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, n_);        \
			exit(1);                                                                  \
		}                                                                                 \
	} while (0)

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float unif(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (float)((rng * 2685821657736338717ull) >> 40) / (float)(1 << 24);
}
static float normal(void)
{
	float u = unif() + 1e-7f, v = unif();
	return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}

static CUdeviceptr up(const void *h, size_t n)
{
	CUdeviceptr d;
	CK(cuMemAlloc(&d, n ? n : 1));
	if (n)
		CK(cuMemcpyHtoD(d, h, n));
	return d;
}
static CUdeviceptr nan_buf(size_t n)
{
	CUdeviceptr d;
	CK(cuMemAlloc(&d, n));
	CK(cuMemsetD32(d, 0x7fc00000u, n / 4));
	return d;
}
static void down(void *h, CUdeviceptr d, size_t n)
{
	CK(cuMemcpyDtoH(h, d, n));
}

static void launch(const char *name, unsigned gx, unsigned gy, unsigned bx, unsigned by, void **args)
{
	CUfunction f;
	CK(cuModuleGetFunction(&f, mod, name));
	CK(cuLaunchKernel(f, gx, gy, 1, bx, by, 1, 0, 0, args, NULL));
}

static unsigned cdiv(long long a, long long b) { return (unsigned)((a + b - 1) / b); }

static void report(const char *what, double err, double bound)
{
	const int ok = err <= bound;
	printf("%-34s %-5s max err %-9.3g bound %.3g\n", what, ok ? "ok" : "FAIL", err, bound);
	failures += !ok;
}

static const uint32_t wtypes[] = { SL_TYPE_F32, SL_TYPE_F16, SL_TYPE_BF16, SL_TYPE_Q8_0, SL_TYPE_Q4_0,
				   SL_TYPE_Q4_1, SL_TYPE_Q5_0, SL_TYPE_Q5_1, SL_TYPE_Q2_K, SL_TYPE_Q3_K,
				   SL_TYPE_Q4_K, SL_TYPE_Q5_K, SL_TYPE_Q6_K };

static const char *conv_kernel(uint32_t at)
{
	switch (at) {
	case SL_TYPE_Q8_0: return "sl_quantize_q8_0";
	case SL_TYPE_Q8_1: return "sl_quantize_q8_1";
	case SL_TYPE_Q8_K: return "sl_quantize_q8_K";
	case SL_TYPE_F16: return "sl_convert_f16";
	case SL_TYPE_BF16: return "sl_convert_bf16";
	default: return NULL;
	}
}

/* Conversion on the device (bytes vs the CPU's) then the product (vs the CPU backend). */
static void check_mmv(uint32_t type, long long rows, long long cols, int n)
{
	const struct sl_type_traits *tt = sl_type_traits(type);
	const uint32_t at = tt->vec_dot_type;
	float *wf = malloc(rows * cols * 4), *x = malloc(n * cols * 4);
	for (long long i = 0; i < rows * cols; i++)
		wf[i] = normal() * 0.05f;
	for (long long i = 0; i < n * cols; i++)
		x[i] = normal();
	const size_t wrs = sl_row_size(type, cols);
	void *w = malloc(wrs * rows);
	sl_quantize_rows(type, wf, w, rows, cols);
	float *ref = malloc(rows * n * 4), *y = malloc(rows * n * 4);
	sl_matmul(type, w, rows, cols, x, n, ref);
	CUdeviceptr dw = up(w, wrs * rows), dx = up(x, n * cols * 4), dy = nan_buf(rows * n * 4), da = dx;
	long long c = cols;
	int nn = n;
	char what[128];
	if (at != SL_TYPE_F32) {
		const size_t ars = sl_row_size(at, cols);
		da = nan_buf(ars * n + 4);
		void *args[] = { &dx, &da, &c, &nn };
		launch(conv_kernel(at), cdiv(cols, 256), n, 256, 1, args);
		unsigned char *got = malloc(ars * n), *want = malloc(ars * n);
		down(got, da, ars * n);
		for (int b = 0; b < n; b++)
			sl_type_traits(at)->from_float(x + b * cols, want + b * ars, cols);
		size_t bad = 0;
		for (size_t i = 0; i < ars * n; i++)
			bad += got[i] != want[i];
		snprintf(what, sizeof what, "%s bytes (for %s)", conv_kernel(at), tt->name);
		report(what, (double)bad, 0);
		free(got);
		free(want);
	}
	long long r = rows;
	void *args[] = { &dw, &da, &dy, &r, &c, &nn };
	char name[32];
	snprintf(name, sizeof name, "sl_mmv_%s", tt->name);
	launch(name, cdiv(rows, SL_FW_MMV_WARPS), 1, 32, SL_FW_MMV_WARPS, args);
	down(y, dy, rows * n * 4);
	double worst = 0;
	float *wd = malloc(cols * 4);
	for (long long rr = 0; rr < rows; rr++) {
		tt->to_float((char *)w + rr * wrs, wd, cols);
		for (int b = 0; b < n; b++) {
			double s = 0;
			for (long long j = 0; j < cols; j++)
				s += fabs((double)wd[j] * x[b * cols + j]);
			double e = fabs((double)y[b * rows + rr] - ref[b * rows + rr]) / (s + 1e-30);
			if (!(e <= worst))
				worst = e;
		}
	}
	snprintf(what, sizeof what, "%s %lldx%lld n=%d (err/S)", name, rows, cols, n);
	report(what, worst, 1e-5); /* activations quantized on both sides; 1e-6 on identical bytes */
	/* the conversion folded in (sl_mmv_conv_T): the same bits, with the full grid and a grid of 7
	 * (rows grid-strided) */
	if (at != SL_TYPE_F32 && sl_row_size(at, cols) * (size_t)n <= SL_FW_MMV_XS_BYTES)
		for (int g = 0; g < 2; g++) {
			CUdeviceptr dy2 = nan_buf(rows * n * 4);
			void *cargs[] = { &dw, &dx, &dy2, &r, &c, &nn };
			char cname[40];
			snprintf(cname, sizeof cname, "sl_mmv_conv_%s", tt->name);
			launch(cname, g ? 7 : cdiv(rows, SL_FW_MMV_WARPS), 1, 32, SL_FW_MMV_WARPS, cargs);
			float *y2 = malloc(rows * n * 4);
			down(y2, dy2, rows * n * 4);
			size_t bad = 0;
			for (long long i = 0; i < rows * n; i++)
				bad += memcmp(&y2[i], &y[i], 4) != 0;
			snprintf(what, sizeof what, "%s %lldx%lld n=%d grid %s (elements != sl_mmv)", cname, rows, cols, n,
				 g ? "7" : "full");
			report(what, (double)bad, 0);
			free(y2);
			cuMemFree(dy2);
		}
	cuMemFree(dw);
	cuMemFree(dx);
	cuMemFree(dy);
	if (da != dx)
		cuMemFree(da);
	free(wf);
	free(x);
	free(w);
	free(ref);
	free(y);
	free(wd);
}

static void check_get_rows(uint32_t type)
{
	const struct sl_type_traits *tt = sl_type_traits(type);
	const long long vocab = 997, cols = 512;
	float *wf = malloc(vocab * cols * 4);
	for (long long i = 0; i < vocab * cols; i++)
		wf[i] = normal();
	const size_t wrs = sl_row_size(type, cols);
	void *w = malloc(wrs * vocab);
	sl_quantize_rows(type, wf, w, vocab, cols);
	int ids[] = { 0, 996, 5, 5, 431 };
	int n = 5;
	float ref[5 * 512], y[5 * 512];
	for (int i = 0; i < n; i++)
		tt->to_float((char *)w + ids[i] * wrs, ref + i * cols, cols);
	CUdeviceptr dw = up(w, wrs * vocab), di = up(ids, sizeof ids), dy = nan_buf(sizeof y);
	long long c = cols;
	void *args[] = { &dw, &di, &dy, &c, &n };
	char name[40];
	snprintf(name, sizeof name, "sl_get_rows_%s", tt->name);
	launch(name, n, 1, 256, 1, args);
	down(y, dy, sizeof y);
	size_t bad = 0;
	for (int i = 0; i < n * 512; i++)
		bad += memcmp(&y[i], &ref[i], 4) != 0;
	snprintf(name, sizeof name, "sl_get_rows_%s (bits differing)", tt->name);
	report(name, (double)bad, 0);
	cuMemFree(dw);
	cuMemFree(di);
	cuMemFree(dy);
	free(wf);
	free(w);
}

static void check_misc(void)
{
	/* rmsnorm */
	{
		long long dim = 4096;
		int n = 3;
		float eps = 1e-5f;
		float *x = malloc(dim * n * 4), *w = malloc(dim * 4), *ref = malloc(dim * n * 4), *y = malloc(dim * n * 4);
		for (long long i = 0; i < dim * n; i++)
			x[i] = normal() * 2;
		for (long long i = 0; i < dim; i++)
			w[i] = 1 + normal() * 0.1f;
		be->ops->rmsnorm(be, ref, x, w, dim, n, eps);
		CUdeviceptr dx = up(x, dim * n * 4), dw = up(w, dim * 4), dy = nan_buf(dim * n * 4);
		void *args[] = { &dy, &dx, &dw, &dim, &n, &eps };
		launch("sl_rmsnorm", n, 1, 256, 1, args);
		down(y, dy, dim * n * 4);
		double e = 0;
		for (long long i = 0; i < dim * n; i++)
			e = fmax(e, fabs(y[i] - ref[i]) / (1 + fabs(ref[i])));
		report("sl_rmsnorm 4096 x3", e, 1e-6);
		cuMemFree(dx);
		cuMemFree(dw);
		cuMemFree(dy);
		free(x);
		free(w);
		free(ref);
		free(y);
	}
	/* rope and rope_ff, both pairings, large positions: device powf/cosf are not glibc's */
	for (int c = 0; c < 4; c++) {
		int neox = c & 1, with_ff = c >> 1;
		int nh = 32, hd = 128, nr = 128, pos0 = 4000, n = 3;
		float base = 500000.0f, ff[64];
		for (int d = 0; d < nr / 2; d++)
			ff[d] = 1.0f + 7.0f * (float)d / (float)(nr / 2);
		long long len = (long long)n * nh * hd;
		float *x = malloc(len * 4), *ref = malloc(len * 4);
		for (long long i = 0; i < len; i++)
			x[i] = ref[i] = normal();
		if (with_ff)
			be->ops->rope_ff(be, ref, nh, hd, nr, pos0, n, base, neox, ff);
		else
			be->ops->rope(be, ref, nh, hd, nr, pos0, n, base, neox);
		CUdeviceptr dx = up(x, len * 4), dff = with_ff ? up(ff, sizeof ff) : 0;
		void *args[] = { &dx, &nh, &hd, &nr, &pos0, &n, &base, &neox, &dff };
		launch("sl_rope", nh, n, 64, 1, args);
		down(x, dx, len * 4);
		double e = 0;
		for (long long i = 0; i < len; i++)
			e = fmax(e, fabs(x[i] - ref[i]) / (1 + fabs(ref[i])));
		static const char *const names[] = { "sl_rope adjacent pos 4000", "sl_rope neox pos 4000",
						     "sl_rope ff adjacent pos 4000", "sl_rope ff neox pos 4000" };
		report(names[c], e, 1e-4);
		cuMemFree(dx);
		if (dff)
			cuMemFree(dff);
		free(x);
		free(ref);
	}
	/* attention: decode and prompt, GQA */
	static const int as[][5] = { { 32, 8, 128, 299, 1 }, { 32, 8, 128, 0, 7 }, { 8, 2, 64, 1000, 3 } };
	for (int c = 0; c < 3; c++) {
		int nh = as[c][0], nkv = as[c][1], hd = as[c][2], pos0 = as[c][3], n = as[c][4];
		int ctx = pos0 + n;
		long long qn = (long long)n * nh * hd, kn = (long long)ctx * nkv * hd;
		float *q = malloc(qn * 4), *k = malloc(kn * 4), *v = malloc(kn * 4), *ref = malloc(qn * 4), *o = malloc(qn * 4);
		for (long long i = 0; i < qn; i++)
			q[i] = normal();
		for (long long i = 0; i < kn; i++) {
			k[i] = normal();
			v[i] = normal();
		}
		float scale = 1.0f / sqrtf((float)hd);
		be->ops->attention(be, ref, q, k, v, nh, nkv, hd, pos0, n, scale);
		CUdeviceptr dq = up(q, qn * 4), dk = up(k, kn * 4), dv = up(v, kn * 4), dout = nan_buf(qn * 4);
		void *args[] = { &dout, &dq, &dk, &dv, &nh, &nkv, &hd, &pos0, &n, &scale };
		launch("sl_attention", nh, n, 128, 1, args);
		down(o, dout, qn * 4);
		double e = 0;
		for (long long i = 0; i < qn; i++)
			e = fmax(e, fabs(o[i] - ref[i]));
		char what[64];
		snprintf(what, sizeof what, "sl_attention h%d/%d hd%d ctx%d n%d", nh, nkv, hd, ctx, n);
		report(what, e, 5e-5);
		cuMemFree(dq);
		cuMemFree(dk);
		cuMemFree(dv);
		cuMemFree(dout);
		free(q);
		free(k);
		free(v);
		free(ref);
		free(o);
	}
	/* silu_mul, add, softmax */
	{
		long long n = 100003, nx = 100003;
		float *g = malloc(n * 4), *u = malloc(n * 4), *ref = malloc(n * 4);
		for (long long i = 0; i < n; i++) {
			g[i] = ref[i] = normal() * 3;
			u[i] = normal();
		}
		be->ops->silu_mul(be, ref, u, n);
		CUdeviceptr dg = up(g, n * 4), du = up(u, n * 4);
		void *a1[] = { &dg, &du, &n };
		launch("sl_silu_mul", cdiv(n, 256), 1, 256, 1, a1);
		down(g, dg, n * 4);
		double e = 0;
		for (long long i = 0; i < n; i++)
			e = fmax(e, fabs(g[i] - ref[i]) / (1 + fabs(ref[i])));
		report("sl_silu_mul 100003", e, 1e-6);
		for (long long i = 0; i < n; i++)
			g[i] = ref[i] = normal();
		be->ops->add(be, ref, u, n, nx);
		CK(cuMemcpyHtoD(dg, g, n * 4));
		void *a2[] = { &dg, &du, &n, &nx };
		launch("sl_add", cdiv(n, 256), 1, 256, 1, a2);
		down(g, dg, n * 4);
		e = 0;
		for (long long i = 0; i < n; i++)
			e = fmax(e, fabs(g[i] - ref[i]));
		report("sl_add 100003", e, 0);
		long long cols = 997;
		int rows = 3;
		for (long long i = 0; i < cols * rows; i++)
			g[i] = normal() * 4;
		CK(cuMemcpyHtoD(dg, g, cols * rows * 4));
		void *a3[] = { &dg, &cols, &rows };
		launch("sl_softmax", rows, 1, 256, 1, a3);
		down(u, dg, cols * rows * 4);
		e = 0;
		for (int r = 0; r < rows; r++) {
			double mx = -INFINITY, s = 0;
			for (long long j = 0; j < cols; j++)
				mx = fmax(mx, g[r * cols + j]);
			for (long long j = 0; j < cols; j++)
				s += exp(g[r * cols + j] - mx);
			for (long long j = 0; j < cols; j++)
				e = fmax(e, fabs(u[r * cols + j] - exp(g[r * cols + j] - mx) / s));
		}
		report("sl_softmax 3x997", e, 1e-6);
		cuMemFree(dg);
		cuMemFree(du);
		free(g);
		free(u);
		free(ref);
	}
}

/* MLA decode as the backend runs it: sl_mla_q, sl_mla_split over chunks, sl_mla_combine (scratch:
 * q_lat + q_pe per head, then the partials). */
static void mla_decode(CUdeviceptr out, CUdeviceptr q, CUdeviceptr cache, CUdeviceptr wk, CUdeviceptr wv, CUdeviceptr ff,
		       int tk, int tv, int H, int Dn, int Dr, int Dv, int L, int legacy, int pos0, float base, float scale,
		       CUdeviceptr scratch)
{
	int len = pos0 + 1, gx = (int)cdiv(H, SL_FW_MLA_HEADS), chunk = sl_fw_split_chunk(len, gx);
	int nc = (len + chunk - 1) / chunk;
	CUdeviceptr qs = scratch, part = scratch + (((size_t)H * (L + Dr) * 4 + 255) & ~(size_t)255);
	void *a[] = { &qs, &q, &wk, &ff, &tk, &H, &Dn, &Dr, &Dv, &L, &legacy, &pos0, &base };
	launch("sl_mla_q", gx, 1, SL_FW_MLA_BLOCK, 1, a);
	void *b[] = { &part, &qs, &cache, &H, &Dr, &L, &len, &chunk, &scale };
	launch("sl_mla_split", gx, nc, SL_FW_MLA_BLOCK, 1, b);
	void *c[] = { &out, &part, &wv, &tv, &H, &Dn, &Dv, &L, &legacy, &nc };
	launch("sl_mla_combine", gx, 1, SL_FW_MLA_BLOCK, 1, c);
}

static size_t mla_scratch_bytes(int H, int L, int Dr, int len)
{
	int gx = (int)cdiv(H, SL_FW_MLA_HEADS), chunk = sl_fw_split_chunk(len, gx), nc = (len + chunk - 1) / chunk;
	return (((size_t)H * (L + Dr) * 4 + 255) & ~(size_t)255) + (size_t)H * nc * (L + 2) * 4;
}

/* Split-K decode attention (the backend's decode path) and deepseek2's kernels, against the CPU with
 * the bounds of tests/unit/test_fw_mla.c. */
static void check_split_mla(void)
{
	static const int sc[][3] = { { 32, 8, 128 }, { 8, 2, 64 }, { 12, 1, 64 } };
	static const int ctxs[] = { 1, 7, 300, 1003, 4096 };
	for (int c = 0; c < 3; c++)
		for (int x = 0; x < 5; x++) {
			int nh = sc[c][0], nkv = sc[c][1], hd = sc[c][2], ctx = ctxs[x];
			const int gx = nkv * ((nh / nkv + SL_FW_SPLIT_HEADS - 1) / SL_FW_SPLIT_HEADS);
			int chunk = sl_fw_split_chunk(ctx, gx), nc = (ctx + chunk - 1) / chunk;
			long long qn = (long long)nh * hd, kn = (long long)ctx * nkv * hd;
			float *q = malloc(qn * 4), *k = malloc(kn * 4), *v = malloc(kn * 4), *ref = malloc(qn * 4);
			float *o = malloc(qn * 4), vmax = 0;
			for (long long i = 0; i < qn; i++)
				q[i] = normal();
			for (long long i = 0; i < kn; i++) {
				k[i] = normal();
				v[i] = normal();
				vmax = fmaxf(vmax, fabsf(v[i]));
			}
			float scale = 1.0f / sqrtf((float)hd);
			be->ops->attention(be, ref, q, k, v, nh, nkv, hd, ctx - 1, 1, scale);
			CUdeviceptr dq = up(q, qn * 4), dk = up(k, kn * 4), dv = up(v, kn * 4), dout = nan_buf(qn * 4);
			CUdeviceptr dp = nan_buf((size_t)nh * nc * (hd + 2) * 4);
			void *args[] = { &dp, &dq, &dk, &dv, &nh, &nkv, &hd, &ctx, &chunk, &scale };
			launch("sl_attention_split", gx, nc, 128, 1, args);
			void *cargs[] = { &dout, &dp, &nh, &hd, &nc };
			launch("sl_attention_combine", nh, 1, 128, 1, cargs);
			down(o, dout, qn * 4);
			double e = 0;
			for (long long i = 0; i < qn; i++)
				e = fmax(e, fabs(o[i] - ref[i]));
			char what[64];
			snprintf(what, sizeof what, "sl_attention_split h%d/%d hd%d ctx%d", nh, nkv, hd, ctx);
			report(what, e, 5e-6 * (1 + vmax));
			cuMemFree(dq);
			cuMemFree(dk);
			cuMemFree(dv);
			cuMemFree(dout);
			cuMemFree(dp);
			free(q);
			free(k);
			free(v);
			free(ref);
			free(o);
		}
	/* mla_attention: deepseek2's head shape, both layouts, decode and a prompt */
	static const struct { int H, legacy, pos0, n; uint32_t tk, tv; } ms[] = {
		{ 16, 0, 1000, 1, SL_TYPE_Q8_0, SL_TYPE_Q4_K }, { 16, 0, 0, 7, SL_TYPE_BF16, SL_TYPE_Q6_K },
		{ 8, 1, 300, 1, SL_TYPE_Q4_K, SL_TYPE_Q4_K },
	};
	for (size_t c = 0; c < sizeof ms / sizeof ms[0]; c++) {
		int H = ms[c].H, Dn = 128, Dr = 64, Dv = 128, L = 512, n = ms[c].n, pos0 = ms[c].pos0, legacy = ms[c].legacy;
		int ctx = pos0 + n, tk = (int)ms[c].tk, tv = legacy ? tk : (int)ms[c].tv;
		long long k_rows = legacy ? (long long)H * (Dn + Dv) : (long long)H * L, k_cols = legacy ? L : Dn;
		long long v_rows = (long long)H * Dv;
		float *wkf = malloc(k_rows * k_cols * 4), *wvf = malloc(v_rows * L * 4);
		for (long long i = 0; i < k_rows * k_cols; i++)
			wkf[i] = normal() * 0.1f;
		for (long long i = 0; i < v_rows * L; i++)
			wvf[i] = normal() * 0.1f;
		size_t kb = sl_row_size(tk, k_cols) * k_rows, vb = sl_row_size(tv, L) * v_rows;
		void *wk = malloc(kb), *wv = malloc(vb);
		sl_quantize_rows(tk, wkf, wk, k_rows, k_cols);
		if (!legacy)
			sl_quantize_rows(tv, wvf, wv, v_rows, L);
		long long qn = (long long)n * H * (Dn + Dr), cn = (long long)ctx * (L + Dr), on = (long long)n * H * Dv;
		float *q = malloc(qn * 4), *qref = malloc(qn * 4), *cache = malloc(cn * 4), *ref = malloc(on * 4);
		float *o = malloc(on * 4), *ff = malloc(Dr / 2 * 4);
		for (long long i = 0; i < qn; i++)
			q[i] = qref[i] = normal();
		for (long long i = 0; i < cn; i++)
			cache[i] = normal();
		for (int d = 0; d < Dr / 2; d++)
			ff[d] = 1 + 0.1f * d;
		float base = 10000.0f, scale = 1.0f / sqrtf((float)(Dn + Dr));
		struct sl_mla_shape sh = { H, Dn, Dr, Dv, L, legacy, base, scale, ff };
		be->ops->mla_attention(be, ref, qref, cache, wk, (uint32_t)tk, legacy ? wk : wv, (uint32_t)tv, &sh, pos0, n);
		CUdeviceptr dq = up(q, qn * 4), dc = up(cache, cn * 4), dwk = up(wk, kb), dwv = legacy ? dwk : up(wv, vb);
		CUdeviceptr dff = up(ff, Dr / 2 * 4), dout = nan_buf(on * 4);
		void *args[] = { &dout, &dq, &dc, &dwk, &dwv, &dff, &tk, &tv, &H, &Dn, &Dr, &Dv, &L, &legacy, &pos0, &n, &base, &scale };
		launch("sl_mla_attention", cdiv(H, SL_FW_MLA_HEADS), n, SL_FW_MLA_BLOCK, 1, args);
		down(o, dout, on * 4);
		float omax = 0;
		double e = 0;
		for (long long i = 0; i < on; i++) {
			omax = fmaxf(omax, fabsf(ref[i]));
			e = fmax(e, fabs(o[i] - ref[i]));
		}
		char what[64];
		snprintf(what, sizeof what, "sl_mla_attention %s %s/%s h%d ctx%d n%d", legacy ? "legacy" : "split",
			 sl_type_name(tk), sl_type_name(tv), H, ctx, n);
		report(what, e, 2e-5 * (1 + omax));
		if (n == 1) { /* the decode path, from the unroped q */
			CUdeviceptr dq2 = up(q, qn * 4), dout2 = nan_buf(on * 4), scr;
			CK(cuMemAlloc(&scr, mla_scratch_bytes(H, L, Dr, ctx)));
			mla_decode(dout2, dq2, dc, dwk, dwv, dff, tk, tv, H, Dn, Dr, Dv, L, legacy, pos0, base, scale, scr);
			down(o, dout2, on * 4);
			e = 0;
			for (long long i = 0; i < on; i++)
				e = fmax(e, fabs(o[i] - ref[i]));
			snprintf(what, sizeof what, "sl_mla_q/split/combine %s h%d ctx%d", legacy ? "legacy" : "split", H, ctx);
			report(what, e, 2e-5 * (1 + omax));
			cuMemFree(dq2);
			cuMemFree(dout2);
			cuMemFree(scr);
		}
		cuMemFree(dq);
		cuMemFree(dc);
		cuMemFree(dwk);
		if (!legacy)
			cuMemFree(dwv);
		cuMemFree(dff);
		cuMemFree(dout);
		free(wkf);
		free(wvf);
		free(wk);
		free(wv);
		free(q);
		free(qref);
		free(cache);
		free(ref);
		free(o);
		free(ff);
	}
	/* mla_kv and add_rows */
	{
		int L = 512, Dr = 64, pos0 = 77, n = 5;
		long long len = (long long)n * (L + Dr);
		float *x = malloc(len * 4), *ref = malloc(len * 4), *w = malloc(L * 4), *ff = malloc(Dr / 2 * 4);
		for (long long i = 0; i < len; i++)
			x[i] = ref[i] = normal();
		for (int i = 0; i < L; i++)
			w[i] = 1 + 0.1f * normal();
		for (int d = 0; d < Dr / 2; d++)
			ff[d] = 1 + 0.2f * d;
		float eps = 1e-6f, base = 10000.0f;
		be->ops->mla_kv(be, ref, w, L, Dr, pos0, n, eps, base, ff);
		CUdeviceptr dx = up(x, len * 4), dw = up(w, L * 4), dff = up(ff, Dr / 2 * 4);
		void *args[] = { &dx, &dw, &dff, &L, &Dr, &pos0, &n, &eps, &base };
		launch("sl_mla_kv", n, 1, 256, 1, args);
		down(x, dx, len * 4);
		double e = 0;
		for (long long i = 0; i < len; i++)
			e = fmax(e, fabs(x[i] - ref[i]) / (1 + fabs(ref[i])));
		report("sl_mla_kv 512+64 pos 77", e, 1e-4);
		cuMemFree(dx);
		cuMemFree(dw);
		cuMemFree(dff);
		free(x);
		free(ref);
		free(w);
		free(ff);

		long long cols = 7168;
		int rows = 4, m = 6, ids[] = { 3, 0, 3, 2, 1, 3 };
		float scl[] = { 0.5f, -1.0f, 0.25f, 2.0f, 0.1f, 0.7f };
		float *y = malloc(rows * cols * 4), *yr = malloc(rows * cols * 4), *xs = malloc(m * cols * 4);
		for (long long i = 0; i < rows * cols; i++)
			y[i] = yr[i] = normal();
		for (long long i = 0; i < m * cols; i++)
			xs[i] = normal();
		be->ops->add_rows(be, yr, xs, ids, scl, cols, m);
		CUdeviceptr dy = up(y, rows * cols * 4), dxs = up(xs, m * cols * 4), di = up(ids, sizeof ids), ds = up(scl, sizeof scl);
		void *aargs[] = { &dy, &dxs, &di, &ds, &cols, &m };
		launch("sl_add_rows", cdiv(cols, 256), 1, 256, 1, aargs);
		down(y, dy, rows * cols * 4);
		e = 0;
		for (long long i = 0; i < rows * cols; i++)
			e = fmax(e, fabs(y[i] - yr[i]));
		report("sl_add_rows 6 rows of 7168", e, 0);
		cuMemFree(dy);
		cuMemFree(dxs);
		cuMemFree(di);
		cuMemFree(ds);
		free(y);
		free(yr);
		free(xs);
	}
}

/* Decode-shaped mmv timings against the device's copy bandwidth. */
static void perf(void)
{
	CUevent e0, e1;
	CK(cuEventCreate(&e0, 0));
	CK(cuEventCreate(&e1, 0));
	size_t big = (size_t)2 << 30;
	CUdeviceptr a, b;
	CK(cuMemAlloc(&a, big));
	CK(cuMemAlloc(&b, big));
	CK(cuMemsetD8(a, 1, big));
	float ms;
	CK(cuMemcpyDtoD(b, a, big));
	CK(cuEventRecord(e0, 0));
	for (int i = 0; i < 5; i++)
		CK(cuMemcpyDtoD(b, a, big));
	CK(cuEventRecord(e1, 0));
	CK(cuEventSynchronize(e1));
	CK(cuEventElapsedTime(&ms, e0, e1));
	const double bw = 2.0 * big * 5 / (ms * 1e-3) / 1e9; /* read + write */
	printf("\nd2d copy: %.0f GB/s (read+write): the roofline below\n", bw);
	printf("%-14s %-12s %9s %9s %8s\n", "kernel", "shape", "us", "GB/s", "roofline");
	static const uint32_t pt[] = { SL_TYPE_Q4_K, SL_TYPE_Q6_K, SL_TYPE_Q8_0, SL_TYPE_Q4_0, SL_TYPE_Q5_K,
				       SL_TYPE_Q3_K, SL_TYPE_Q2_K, SL_TYPE_F16, SL_TYPE_BF16 };
	for (size_t t = 0; t < sizeof pt / sizeof pt[0]; t++)
		for (int shape = 0; shape < 2; shape++) {
			const struct sl_type_traits *tt = sl_type_traits(pt[t]);
			long long rows = shape ? 14336 : 4096, cols = shape ? 4096 : 4096;
			int reps = 50, n = 1;
			/* 8 copies of the matrix so successive launches read from HBM, not L2 */
			const size_t wbytes = sl_row_size(pt[t], cols) * rows;
			CUdeviceptr w[8];
			for (int k = 0; k < 8; k++) {
				CK(cuMemAlloc(&w[k], wbytes));
				CK(cuMemsetD8(w[k], 0x11, wbytes));
			}
			CUdeviceptr xa, y;
			CK(cuMemAlloc(&xa, 1 << 20));
			CK(cuMemsetD8(xa, 0x01, 1 << 20));
			CK(cuMemAlloc(&y, rows * 4));
			CUfunction f;
			char name[32];
			snprintf(name, sizeof name, "sl_mmv_%s", tt->name);
			CK(cuModuleGetFunction(&f, mod, name));
			void *args[8][6];
			for (int k = 0; k < 8; k++) {
				args[k][0] = &w[k];
				args[k][1] = &xa;
				args[k][2] = &y;
				args[k][3] = &rows;
				args[k][4] = &cols;
				args[k][5] = &n;
			}
			for (int k = 0; k < 8; k++)
				CK(cuLaunchKernel(f, cdiv(rows, 4), 1, 1, 32, 4, 1, 0, 0, args[k], NULL));
			CK(cuEventRecord(e0, 0));
			for (int i = 0; i < reps; i++)
				CK(cuLaunchKernel(f, cdiv(rows, 4), 1, 1, 32, 4, 1, 0, 0, args[i % 8], NULL));
			CK(cuEventRecord(e1, 0));
			CK(cuEventSynchronize(e1));
			CK(cuEventElapsedTime(&ms, e0, e1));
			const double us = ms * 1e3 / reps, gbs = wbytes / (us * 1e-6) / 1e9;
			char shp[32];
			snprintf(shp, sizeof shp, "%lldx%lld", rows, cols);
			printf("%-14s %-12s %9.1f %9.0f %7.2fx\n", name, shp, us, gbs, gbs / bw);
			/* the same product with the conversion folded in (x as floats), at the launcher's grid */
			snprintf(name, sizeof name, "sl_mmv_conv_%s", tt->name);
			int n_sm = 0;
			CUdevice dev;
			CK(cuCtxGetDevice(&dev));
			CK(cuDeviceGetAttribute(&n_sm, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev));
			unsigned g = cdiv(rows, SL_FW_MMV_WARPS);
			if (n_sm > 0 && g > (unsigned)n_sm * SL_FW_MMV_CONV_BLOCKS_PER_SM)
				g = (unsigned)n_sm * SL_FW_MMV_CONV_BLOCKS_PER_SM;
			CUdeviceptr xf;
			CK(cuMemAlloc(&xf, cols * 4));
			CK(cuMemsetD32(xf, 0x3f800000u, cols)); /* 1.0f */
			for (int k = 0; k < 8; k++)
				args[k][1] = &xf;
			CK(cuModuleGetFunction(&f, mod, name));
			CK(cuEventRecord(e0, 0));
			for (int i = 0; i < reps; i++)
				CK(cuLaunchKernel(f, g, 1, 1, 32, 4, 1, 0, 0, args[i % 8], NULL));
			CK(cuEventRecord(e1, 0));
			CK(cuEventSynchronize(e1));
			CK(cuEventElapsedTime(&ms, e0, e1));
			const double us2 = ms * 1e3 / reps, gbs2 = wbytes / (us2 * 1e-6) / 1e9;
			printf("%-14s %-12s %9.1f %9.0f %7.2fx  (grid %u)\n", name, shp, us2, gbs2, gbs2 / bw, g);
			cuMemFree(xf);
			for (int k = 0; k < 8; k++)
				cuMemFree(w[k]);
			cuMemFree(xa);
			cuMemFree(y);
		}
	/* attention decode, ctx 4096, 32/8 heads of 128 */
	{
		int nh = 32, nkv = 8, hd = 128, pos0 = 4095, n = 1;
		float scale = 0.088f;
		size_t kvb = (size_t)(pos0 + 1) * nkv * hd * 4;
		CUdeviceptr q, k, v, o;
		CK(cuMemAlloc(&q, nh * hd * 4));
		CK(cuMemAlloc(&o, nh * hd * 4));
		CK(cuMemAlloc(&k, kvb));
		CK(cuMemAlloc(&v, kvb));
		CK(cuMemsetD32(q, 0, nh * hd));
		CK(cuMemsetD32(k, 0, kvb / 4));
		CK(cuMemsetD32(v, 0, kvb / 4));
		void *args[] = { &o, &q, &k, &v, &nh, &nkv, &hd, &pos0, &n, &scale };
		launch("sl_attention", nh, 1, 128, 1, args);
		CK(cuEventRecord(e0, 0));
		for (int i = 0; i < 20; i++)
			launch("sl_attention", nh, 1, 128, 1, args);
		CK(cuEventRecord(e1, 0));
		CK(cuEventSynchronize(e1));
		CK(cuEventElapsedTime(&ms, e0, e1));
		const double us = ms * 1e3 / 20;
		printf("%-14s %-12s %9.1f %9.0f %7.2fx  (K+V read once per query head group member: %zu MB)\n",
		       "sl_attention", "ctx4096 32/8", us, 2.0 * kvb / (us * 1e-6) / 1e9, 2.0 * kvb / (us * 1e-6) / 1e9 / bw,
		       2 * kvb >> 20);
		/* the backend's decode path: split-K over the context, each K/V row read once per group
		 * (4 query heads), then the combine; timed together, as the backend launches them */
		const int gx = nkv * ((nh / nkv + SL_FW_SPLIT_HEADS - 1) / SL_FW_SPLIT_HEADS);
		int len = pos0 + 1, chunk = sl_fw_split_chunk(len, gx), nc = (len + chunk - 1) / chunk;
		CUdeviceptr part;
		CK(cuMemAlloc(&part, (size_t)nh * nc * (hd + 2) * 4));
		void *sargs[] = { &part, &q, &k, &v, &nh, &nkv, &hd, &len, &chunk, &scale };
		void *cargs[] = { &o, &part, &nh, &hd, &nc };
		launch("sl_attention_split", gx, nc, 128, 1, sargs);
		launch("sl_attention_combine", nh, 1, 128, 1, cargs);
		CK(cuEventRecord(e0, 0));
		for (int i = 0; i < 20; i++) {
			launch("sl_attention_split", gx, nc, 128, 1, sargs);
			launch("sl_attention_combine", nh, 1, 128, 1, cargs);
		}
		CK(cuEventRecord(e1, 0));
		CK(cuEventSynchronize(e1));
		CK(cuEventElapsedTime(&ms, e0, e1));
		const double us2 = ms * 1e3 / 20;
		printf("%-14s %-12s %9.1f %9.0f %7.2fx  (split-K: %d chunks of %d, K+V read once: %zu MB)\n", "sl_attn_split",
		       "ctx4096 32/8", us2, 2.0 * kvb / (us2 * 1e-6) / 1e9, 2.0 * kvb / (us2 * 1e-6) / 1e9 / bw, nc, chunk,
		       2 * kvb >> 20);
		cuMemFree(part);
		cuMemFree(q);
		cuMemFree(o);
		cuMemFree(k);
		cuMemFree(v);
	}
	/* MLA decode, deepseek2's shape (128 heads, latent 512 + rope 64, nope/v 128), ctx 4096, q8_0
	 * attn_k_b / attn_v_b: bytes = the latent cache (read by every head: L2 serves most) + weights */
	{
		int H = 128, Dn = 128, Dr = 64, Dv = 128, L = 512, pos0 = 4095, n = 1, legacy = 0;
		int tk = SL_TYPE_Q8_0, tv = SL_TYPE_Q8_0;
		float base = 10000.0f, scale = 0.07f;
		size_t cb = (size_t)(pos0 + 1) * (L + Dr) * 4, kb = sl_row_size(tk, Dn) * H * L, vb = sl_row_size(tv, L) * H * Dv;
		CUdeviceptr q, o, c, wk, wv, ff = 0;
		CK(cuMemAlloc(&q, (size_t)H * (Dn + Dr) * 4));
		CK(cuMemAlloc(&o, (size_t)H * Dv * 4));
		CK(cuMemAlloc(&c, cb));
		CK(cuMemAlloc(&wk, kb));
		CK(cuMemAlloc(&wv, vb));
		CK(cuMemsetD32(q, 0, (size_t)H * (Dn + Dr)));
		CK(cuMemsetD32(c, 0, cb / 4));
		CK(cuMemsetD8(wk, 0, kb));
		CK(cuMemsetD8(wv, 0, vb));
		void *args[] = { &o, &q, &c, &wk, &wv, &ff, &tk, &tv, &H, &Dn, &Dr, &Dv, &L, &legacy, &pos0, &n, &base, &scale };
		launch("sl_mla_attention", cdiv(H, SL_FW_MLA_HEADS), 1, SL_FW_MLA_BLOCK, 1, args);
		CK(cuEventRecord(e0, 0));
		for (int i = 0; i < 20; i++)
			launch("sl_mla_attention", cdiv(H, SL_FW_MLA_HEADS), 1, SL_FW_MLA_BLOCK, 1, args);
		CK(cuEventRecord(e1, 0));
		CK(cuEventSynchronize(e1));
		CK(cuEventElapsedTime(&ms, e0, e1));
		const double us = ms * 1e3 / 20, bytes = (double)(cb + kb + vb);
		printf("%-14s %-12s %9.1f %9.0f %7.2fx  (latent cache %zu MB + q8_0 k_b/v_b %zu MB; 4 heads per block)\n",
		       "sl_mla_attn", "ctx4096 h128", us, bytes / (us * 1e-6) / 1e9, bytes / (us * 1e-6) / 1e9 / bw, cb >> 20,
		       (kb + vb) >> 20);
		CUdeviceptr scr;
		CK(cuMemAlloc(&scr, mla_scratch_bytes(H, L, Dr, pos0 + 1)));
		mla_decode(o, q, c, wk, wv, ff, tk, tv, H, Dn, Dr, Dv, L, legacy, pos0, base, scale, scr);
		CK(cuEventRecord(e0, 0));
		for (int i = 0; i < 20; i++)
			mla_decode(o, q, c, wk, wv, ff, tk, tv, H, Dn, Dr, Dv, L, legacy, pos0, base, scale, scr);
		CK(cuEventRecord(e1, 0));
		CK(cuEventSynchronize(e1));
		CK(cuEventElapsedTime(&ms, e0, e1));
		const double us2 = ms * 1e3 / 20;
		printf("%-14s %-12s %9.1f %9.0f %7.2fx  (the backend's decode: q, split-K, combine)\n", "sl_mla_decode",
		       "ctx4096 h128", us2, bytes / (us2 * 1e-6) / 1e9, bytes / (us2 * 1e-6) / 1e9 / bw);
		cuMemFree(scr);
		cuMemFree(q);
		cuMemFree(o);
		cuMemFree(c);
		cuMemFree(wk);
		cuMemFree(wv);
	}
}

int main(void)
{
	if (cuInit(0) != CUDA_SUCCESS) {
		printf("SKIP: no CUDA driver/device\n");
		return 77;
	}
	CUdevice dev;
	CUcontext ctx;
	int count = 0;
	if (cuDeviceGetCount(&count) != CUDA_SUCCESS || !count) {
		printf("SKIP: no CUDA device\n");
		return 77;
	}
	CK(cuDeviceGet(&dev, 0));
	char dname[128];
	CK(cuDeviceGetName(dname, sizeof dname, dev));
	int major = 0;
	CK(cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev));
	CK(cuDevicePrimaryCtxRetain(&ctx, dev));
	CK(cuCtxSetCurrent(ctx));
	const char *ptx = major >= 9 ? sl_fw_ptx_compute_90 : sl_fw_ptx_compute_80;
	if (!(major >= 9 ? sl_fw_ptx_compute_90_len : sl_fw_ptx_compute_80_len)) {
		printf("FAIL: built without nvcc: no firmware\n");
		return 1;
	}
	char log[8192] = "";
	CUjit_option opt[] = { CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES };
	void *val[] = { log, (void *)(size_t)sizeof log };
	CUresult r = cuModuleLoadDataEx(&mod, ptx, 2, opt, val);
	if (r != CUDA_SUCCESS) {
		printf("FAIL: cuModuleLoadData: %d %s\n", r, log);
		return 1;
	}
	printf("device: %s (sm_%d), PTX compute_%d\n", dname, major * 10, major >= 9 ? 90 : 80);
	struct sl_backend_config cfg = { .n_threads = 8 };
	struct sl_err err;
	if (sl_backend_new("cpu", &cfg, &be, &err))
		return 1;
	for (size_t t = 0; t < sizeof wtypes / sizeof wtypes[0]; t++) {
		check_mmv(wtypes[t], 997, 4096, 1);
		check_mmv(wtypes[t], 61, 1024, 7);
		check_get_rows(wtypes[t]);
	}
	check_misc();
	check_split_mla();
	CK(cuCtxSynchronize());
	perf();
	printf("\n%s: %d check(s) failed\n", failures ? "FAIL" : "ok", failures);
	return failures ? 1 : 0;
}
