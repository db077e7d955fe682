/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_fakecuda.c — the stand-in CUDA driver (tests/fakecuda/) behaves like one.
 *
 * Each scenario runs in a child process with its own FAKECUDA_* environment, dlopens
 * $SLUICE_BUILD/fakecuda/libcuda.so.1 (or the one next to this program's build tree) and reaches
 * every function through cuGetProcAddress_v2, as the CUDA backend does.  Checked: streams really
 * reorder work (a launch that does not wait for a copy sees the old data, one that waits sees the
 * new), pinned vs pageable host memory, bounds, PTX parameter layout, every injected failure, error
 * names, two devices.  Kernels are the fake's own (fakecuda_add, fakecuda_dump_params*,
 * fakecuda_fail), so this test does not depend on the firmware.
 */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/backend/cuda/cuda_abi.h"
#include "helpers/testutil.h"

#define CU_FUNCS(X)                                                                                                 \
	X(cuInit) X(cuDriverGetVersion) X(cuGetErrorName) X(cuGetErrorString) X(cuDeviceGetCount) X(cuDeviceGet)        \
	X(cuDeviceGetName) X(cuDeviceGetAttribute) X(cuDeviceTotalMem) X(cuDeviceGetPCIBusId)                         \
	X(cuDevicePrimaryCtxRetain) X(cuDevicePrimaryCtxRelease) X(cuCtxSetCurrent) X(cuCtxSynchronize)               \
	X(cuMemGetInfo) X(cuMemAlloc) X(cuMemFree) X(cuMemAllocHost) X(cuMemFreeHost) X(cuMemHostRegister)            \
	X(cuMemHostUnregister) X(cuMemcpyHtoDAsync) X(cuMemcpyDtoHAsync) X(cuMemcpyDtoDAsync) X(cuMemsetD32Async)    \
	X(cuStreamCreate) X(cuStreamDestroy) X(cuStreamSynchronize) X(cuStreamQuery) X(cuStreamWaitEvent)             \
	X(cuEventCreate) X(cuEventDestroy) X(cuEventRecord) X(cuEventQuery) X(cuEventSynchronize)                     \
	X(cuEventElapsedTime) X(cuModuleLoadData) X(cuModuleLoadDataEx) X(cuModuleUnload) X(cuModuleGetFunction)      \
	X(cuFuncGetAttribute) X(cuLaunchKernel)

static struct {
#define X(n) fn_##n n;
	CU_FUNCS(X)
#undef X
	fn_cuGetProcAddress_v2 cuGetProcAddress_v2;
	void *dl;
} cu;

#define OK(call) CHECK_MSG((call) == CUDA_SUCCESS, "%s", #call)
#define IS(code, call)                                                                   \
	do {                                                                             \
		CUresult r_ = (call);                                                    \
		CHECK_MSG(r_ == (code), "%s gave %d, not %s (%d)", #call, r_, #code, code); \
	} while (0)

static char lib_path[PATH_MAX];

static void find_lib(void)
{
	const char *b = getenv("SLUICE_BUILD");
	if (b && *b) {
		snprintf(lib_path, sizeof lib_path, "%s/fakecuda/libcuda.so.1", b);
		return;
	}
	char exe[PATH_MAX - 64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	exe[n > 0 ? n : 0] = 0;
	char *slash = strrchr(exe, '/'); /* build/tests/unit/test_fakecuda -> build/fakecuda/ */
	if (slash)
		*slash = 0;
	snprintf(lib_path, sizeof lib_path, "%s/../../fakecuda/libcuda.so.1", exe);
}

static void load(void)
{
	cu.dl = dlopen(lib_path, RTLD_NOW | RTLD_LOCAL);
	if (!cu.dl) {
		fprintf(stderr, "dlopen %s: %s\n", lib_path, dlerror());
		exit(1);
	}
	cu.cuGetProcAddress_v2 = (fn_cuGetProcAddress_v2)dlsym(cu.dl, "cuGetProcAddress_v2");
	if (!cu.cuGetProcAddress_v2) {
		fprintf(stderr, "no cuGetProcAddress_v2\n");
		exit(1);
	}
	CUdriverProcAddressQueryResult st;
#define X(n)                                                                                          \
	CHECK_MSG(cu.cuGetProcAddress_v2(#n, (void **)&cu.n, SL_CUDA_API_VERSION, 0, &st) == 0 && cu.n && \
			  st == CU_GET_PROC_ADDRESS_SUCCESS,                                              \
		  "cuGetProcAddress_v2(%s)", #n);
	CU_FUNCS(X)
#undef X
	if (t_failures)
		exit(1);
}

/* Initialize, retain device d's primary context, make it current. */
static CUcontext setup(int d)
{
	CUcontext ctx = NULL;
	OK(cu.cuInit(0));
	OK(cu.cuDevicePrimaryCtxRetain(&ctx, d));
	OK(cu.cuCtxSetCurrent(ctx));
	return ctx;
}

/* ---- PTX the tests load ---- */

static const char ptx_toys[] = "//\n// hand-written, as nvcc would lay it out\n//\n"
			       ".version 8.0\n.target sm_90\n.address_size 64\n\n"
			       "\t// .globl\tfakecuda_add\n"
			       ".visible .entry fakecuda_add(\n"
			       "\t.param .u64 .ptr .global .align 4 fakecuda_add_param_0,\n"
			       "\t.param .u64 .ptr .global .align 4 fakecuda_add_param_1,\n"
			       "\t.param .u64 fakecuda_add_param_2,\n"
			       "\t.param .f32 fakecuda_add_param_3\n"
			       ")\n{\n\tret;\n}\n"
			       "/* .entry commented_out( .param .u32 x ) */\n"
			       ".visible .entry fakecuda_fail()\n{\n\tret;\n}\n"
			       ".visible .entry fakecuda_dump_params_mix(\n"
			       "\t.param .u64 .ptr .global .align 1 p0,\n" /* 0: 8 (pointee align ignored) */
			       "\t.param .u32 p1,\n"                       /* 8: 4 */
			       "\t.param .align 16 .b8 p2[12],\n"          /* 16: 12 */
			       "\t.param .u8 p3,\n"                        /* 28: 1 */
			       "\t.param .f64 p4,\n"                       /* 32: 8 */
			       "\t.param .s16 p5,\n"                       /* 40: 2 */
			       "\t.param .align 4 .b8 p6[6],\n"            /* 44: 6 */
			       "\t.param .s32 p7\n"                        /* 52: 4 -> 56 */
			       ")\n{\n\tret;\n}\n"
			       ".visible .entry fakecuda_dump_params_kernels_h(.param .u64 y, .param .u64 x,"
			       " .param .u64 w, .param .u64 dim, .param .u32 n, .param .f32 eps) { ret; }\n";

static CUmodule load_toys(void)
{
	CUmodule m = NULL;
	OK(cu.cuModuleLoadData(&m, ptx_toys));
	return m;
}

static CUfunction fn(CUmodule m, const char *name)
{
	CUfunction f = NULL;
	OK(cu.cuModuleGetFunction(&f, m, name));
	return f;
}

static CUresult launch_add(CUfunction f, CUdeviceptr y, CUdeviceptr x, long long n, float a, CUstream s)
{
	void *args[] = { &y, &x, &n, &a };
	return cu.cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, s, args, NULL);
}

static void fill(float *p, size_t n, float v)
{
	for (size_t i = 0; i < n; i++)
		p[i] = v;
}

static bool all_eq(const float *p, size_t n, float v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* ---- scenarios (each in its own process) ---- */

static void t_basics(void)
{
	int n;
	IS(CUDA_ERROR_NOT_INITIALIZED, cu.cuDeviceGetCount(&n));
	OK(cu.cuInit(0));
	OK(cu.cuDeviceGetCount(&n));
	CHECK(n == 1);
	char name[64], bus[32];
	OK(cu.cuDeviceGetName(name, sizeof name, 0));
	CHECK(!strcmp(name, "sluice fakecuda 0"));
	OK(cu.cuDeviceGetPCIBusId(bus, sizeof bus, 0));
	CHECK(!strcmp(bus, "0000:00:00.0"));
	int v;
	OK(cu.cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, 0));
	CHECK(v == 9);
	OK(cu.cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, 0));
	CHECK(v == 0);
	size_t total;
	OK(cu.cuDeviceTotalMem(&total, 0));
	CHECK(total == (size_t)8 << 30);
	IS(CUDA_ERROR_INVALID_DEVICE, cu.cuDeviceGetName(name, sizeof name, 1));
	CUcontext ctx;
	IS(CUDA_ERROR_INVALID_DEVICE, cu.cuDevicePrimaryCtxRetain(&ctx, 1));
	CUdeviceptr p;
	IS(CUDA_ERROR_INVALID_CONTEXT, cu.cuMemAlloc(&p, 64)); /* no current context yet */

	/* the versioned names the real driver exports, and cuGetProcAddress's base-name rule */
	static const char *const versioned[] = { "cuMemAlloc_v2", "cuMemFree_v2", "cuMemGetInfo_v2",
						 "cuDeviceTotalMem_v2", "cuMemcpyHtoDAsync_v2", "cuMemcpyDtoHAsync_v2",
						 "cuMemcpyDtoDAsync_v2", "cuStreamDestroy_v2", "cuEventDestroy_v2",
						 "cuEventElapsedTime_v2", "cuMemHostRegister_v2",
						 "cuDevicePrimaryCtxRelease_v2", "cuMemAllocHost_v2", "cuGetProcAddress",
						 "cuMemsetD32Async", "cuMemAlloc", "cuLaunchKernel" };
	for (size_t i = 0; i < sizeof versioned / sizeof versioned[0]; i++)
		CHECK_MSG(dlsym(cu.dl, versioned[i]), "%s not exported", versioned[i]);
	void *pfn = &pfn;
	CUdriverProcAddressQueryResult st;
	IS(CUDA_ERROR_NOT_FOUND, cu.cuGetProcAddress_v2("cuMemAlloc_v2", &pfn, SL_CUDA_API_VERSION, 0, &st));
	CHECK(!pfn && st == CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
	IS(CUDA_ERROR_NOT_FOUND, cu.cuGetProcAddress_v2("cuNoSuchThing", &pfn, SL_CUDA_API_VERSION, 0, &st));
	OK(cu.cuGetProcAddress_v2("cuMemAlloc", &pfn, SL_CUDA_API_VERSION, 0, &st));
	CHECK(pfn == dlsym(cu.dl, "cuMemAlloc_v2"));

	/* error names and strings: the driver's own */
	static const struct {
		CUresult c;
		const char *name, *text;
	} e[] = {
		{ CUDA_SUCCESS, "CUDA_SUCCESS", "no error" },
		{ CUDA_ERROR_INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE", "invalid argument" },
		{ CUDA_ERROR_OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory" },
		{ CUDA_ERROR_NO_DEVICE, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected" },
		{ CUDA_ERROR_INVALID_PTX, "CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed" },
		{ CUDA_ERROR_LAUNCH_FAILED, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure" },
		{ CUDA_ERROR_ILLEGAL_ADDRESS, "CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered" },
		{ CUDA_ERROR_UNKNOWN, "CUDA_ERROR_UNKNOWN", "unknown error" },
	};
	for (size_t i = 0; i < sizeof e / sizeof e[0]; i++) {
		const char *s = NULL;
		OK(cu.cuGetErrorName(e[i].c, &s));
		CHECK_MSG(s && !strcmp(s, e[i].name), "name of %d: %s", e[i].c, s ? s : "(null)");
		OK(cu.cuGetErrorString(e[i].c, &s));
		CHECK_MSG(s && !strcmp(s, e[i].text), "string of %d: %s", e[i].c, s ? s : "(null)");
	}
	static const CUresult all[] = { 3, 4, 101, 200, 201, 209, 222, 400, 500, 600, 701, 712, 713, 801 };
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
		const char *s = NULL;
		OK(cu.cuGetErrorName(all[i], &s));
		CHECK(s && !strncmp(s, "CUDA_ERROR_", 11));
	}
	const char *s = "x";
	IS(CUDA_ERROR_INVALID_VALUE, cu.cuGetErrorName(12345, &s));
	CHECK(s == NULL);
}

static void t_ordering(void)
{
	setup(0);
	CUmodule m = load_toys();
	CUfunction add = fn(m, "fakecuda_add");
	enum { N = 64 };
	CUdeviceptr x, y;
	OK(cu.cuMemAlloc(&x, N * 4));
	OK(cu.cuMemAlloc(&y, N * 4));
	CUstream a, b;
	OK(cu.cuStreamCreate(&a, CU_STREAM_NON_BLOCKING));
	OK(cu.cuStreamCreate(&b, CU_STREAM_NON_BLOCKING));
	CUevent ev;
	OK(cu.cuEventCreate(&ev, CU_EVENT_DISABLE_TIMING));
	float *pin, host[N], out[N];
	OK(cu.cuMemAllocHost((void **)&pin, N * 4));

	fill(host, N, 1);
	OK(cu.cuMemcpyHtoDAsync(x, host, sizeof host, a));
	OK(cu.cuStreamSynchronize(a));

	/* no wait: the launch on b runs before the copy on a, and sees the old x */
	fill(pin, N, 2);
	OK(cu.cuMemcpyHtoDAsync(x, pin, N * 4, a));
	OK(launch_add(add, y, x, N, 0, b));
	OK(cu.cuMemcpyDtoHAsync(out, y, sizeof out, b)); /* pageable: done on return */
	CHECK_MSG(all_eq(out, N, 1), "without a wait the kernel saw %g, not the old 1", out[0]);
	OK(cu.cuCtxSynchronize());

	/* with the wait it sees the new x */
	fill(pin, N, 3);
	OK(cu.cuMemcpyHtoDAsync(x, pin, N * 4, a));
	OK(cu.cuEventRecord(ev, a));
	OK(cu.cuStreamWaitEvent(b, ev, 0));
	OK(launch_add(add, y, x, N, 0.5f, b));
	OK(cu.cuMemcpyDtoHAsync(out, y, sizeof out, b));
	CHECK_MSG(all_eq(out, N, 3.5f), "after the wait the kernel saw %g, not 3.5", out[0] - 0.5f);
	OK(cu.cuEventQuery(ev));

	/* pinned source: read when the copy runs; pageable: read at the call */
	fill(pin, N, 4);
	OK(cu.cuMemcpyHtoDAsync(x, pin, N * 4, a));
	fill(pin, N, 5);
	OK(cu.cuStreamSynchronize(a));
	OK(cu.cuMemcpyDtoHAsync(out, x, sizeof out, a));
	CHECK_MSG(all_eq(out, N, 5), "pinned source read at %g, not when the copy ran", out[0]);
	fill(host, N, 6);
	OK(cu.cuMemcpyHtoDAsync(x, host, sizeof host, a));
	fill(host, N, 7);
	OK(cu.cuStreamSynchronize(a));
	OK(cu.cuMemcpyDtoHAsync(out, x, sizeof out, a));
	CHECK_MSG(all_eq(out, N, 6), "pageable source read as %g, not at the call", out[0]);

	/* pinned destination: written when the stream runs, not before */
	fill(pin, N, 0);
	OK(cu.cuMemcpyDtoHAsync(pin, x, N * 4, a));
	CHECK(all_eq(pin, N, 0));
	OK(cu.cuStreamSynchronize(a));
	CHECK(all_eq(pin, N, 6));

	/* a registered pageable buffer behaves as pinned */
	static float reg[N] __attribute__((aligned(4096)));
	OK(cu.cuMemHostRegister(reg, sizeof reg, 0));
	IS(CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED, cu.cuMemHostRegister(reg + 8, 16, 0));
	IS(CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED, cu.cuMemHostRegister(pin, 16, 0));
	IS(CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED, cu.cuMemHostUnregister(reg + 8));
	IS(CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED, cu.cuMemHostUnregister(host));
	fill(reg, N, 8);
	OK(cu.cuMemcpyHtoDAsync(x, reg, sizeof reg, a));
	fill(reg, N, 9);
	OK(cu.cuMemHostUnregister(reg)); /* runs what reads it first */
	OK(cu.cuMemcpyDtoHAsync(out, x, sizeof out, a));
	CHECK(all_eq(out, N, 9));

	/* the NULL stream waits for earlier work on blocking streams */
	CUstream blocking;
	OK(cu.cuStreamCreate(&blocking, CU_STREAM_DEFAULT));
	fill(pin, N, 10);
	OK(cu.cuMemcpyHtoDAsync(x, pin, N * 4, blocking));
	OK(launch_add(add, y, x, N, 0, NULL));
	OK(cu.cuMemcpyDtoHAsync(out, y, sizeof out, NULL));
	CHECK_MSG(all_eq(out, N, 10), "the NULL stream did not wait for a blocking stream (%g)", out[0]);

	/* memset, device-to-device */
	OK(cu.cuMemsetD32Async(y, 0x3f800000u, N, b)); /* 1.0f */
	OK(cu.cuMemcpyDtoDAsync(x, y, N * 4, b));
	OK(cu.cuMemcpyDtoHAsync(out, x, sizeof out, b));
	CHECK(all_eq(out, N, 1));

	/* timing events */
	CUevent t0, t1, never;
	OK(cu.cuEventCreate(&t0, 0));
	OK(cu.cuEventCreate(&t1, 0));
	OK(cu.cuEventCreate(&never, 0));
	OK(cu.cuEventRecord(t0, a));
	OK(launch_add(add, y, x, N, 0, a));
	OK(cu.cuEventRecord(t1, a));
	float ms = -1;
	IS(CUDA_ERROR_NOT_READY, cu.cuEventElapsedTime(&ms, t0, t1));
	OK(cu.cuEventSynchronize(t1));
	OK(cu.cuEventElapsedTime(&ms, t0, t1));
	CHECK(ms >= 0 && ms < 60e3f);
	printf("elapsed over one toy launch: %.4f ms\n", ms);
	IS(CUDA_ERROR_INVALID_HANDLE, cu.cuEventElapsedTime(&ms, t0, never));
	IS(CUDA_ERROR_INVALID_HANDLE, cu.cuEventElapsedTime(&ms, t0, ev)); /* ev has timing disabled */
	OK(cu.cuEventQuery(never));

	OK(cu.cuEventDestroy(t0));
	OK(cu.cuEventDestroy(t1));
	OK(cu.cuEventDestroy(never));
	OK(cu.cuEventDestroy(ev));
	IS(CUDA_ERROR_INVALID_HANDLE, cu.cuEventDestroy(ev));
	OK(cu.cuStreamDestroy(a));
	OK(cu.cuStreamDestroy(b));
	OK(cu.cuStreamDestroy(blocking));
	IS(CUDA_ERROR_INVALID_HANDLE, cu.cuStreamSynchronize(a));
	OK(cu.cuMemFreeHost(pin));
	OK(cu.cuMemFree(x));
	OK(cu.cuMemFree(y));
	OK(cu.cuModuleUnload(m));
	OK(cu.cuDevicePrimaryCtxRelease(0));
}

/* The log of the ordering scenario: the launch that did not wait ran before the copy submitted ahead
 * of it. */
static void check_log(const char *path)
{
	char *text = t_read_file(path, NULL);
	CHECK_MSG(text, "no FAKECUDA_LOG written at %s", path);
	if (!text)
		return;
	CHECK(strstr(text, "op=launch bytes=28 kernel=fakecuda_add grid=1,1,1 block=32,1,1"));
	CHECK(strstr(text, "op=htod bytes=256 host=pinned"));
	CHECK(strstr(text, "op=htod bytes=256 host=pageable"));
	CHECK(strstr(text, "op=wait"));
	unsigned long long prev = 0, seq;
	bool reordered = false;
	for (char *l = text; (l = strstr(l, "seq=")); l++) {
		seq = strtoull(l + 4, NULL, 10);
		reordered |= seq < prev;
		prev = seq;
	}
	CHECK_MSG(reordered, "the log shows every operation in submission order");
	free(text);
}

static void t_bounds(void)
{
	setup(0);
	size_t free0, total, free1;
	OK(cu.cuMemGetInfo(&free0, &total));
	CHECK(total == (size_t)64 << 20 && free0 == total);
	CUdeviceptr p, q;
	OK(cu.cuMemAlloc(&p, 1000));
	OK(cu.cuMemGetInfo(&free1, &total));
	CHECK(free0 - free1 == 4096);
	char buf[2048] = { 0 };
	OK(cu.cuMemcpyHtoDAsync(p, buf, 1000, NULL));
	OK(cu.cuMemcpyHtoDAsync(p + 999, buf, 1, NULL));
	IS(CUDA_ERROR_INVALID_VALUE, cu.cuMemcpyHtoDAsync(p, buf, 1001, NULL));
	IS(CUDA_ERROR_INVALID_VALUE, cu.cuMemcpyHtoDAsync(p + 1000, buf, 1, NULL));
	IS(CUDA_ERROR_INVALID_VALUE, cu.cuMemcpyDtoHAsync(buf, p + 500, 501, NULL));
	IS(CUDA_ERROR_INVALID_VALUE, cu.cuMemcpyHtoDAsync(p - 1, buf, 1, NULL));
	IS(CUDA_ERROR_INVALID_VALUE, cu.cuMemcpyHtoDAsync(12345, buf, 1, NULL));
	IS(CUDA_ERROR_INVALID_VALUE, cu.cuMemsetD32Async(p, 0, 251, NULL));
	OK(cu.cuMemsetD32Async(p, 0, 250, NULL));
	OK(cu.cuMemAlloc(&q, 1 << 20));
	IS(CUDA_ERROR_INVALID_VALUE, cu.cuMemcpyDtoDAsync(q, p, 1001, NULL));
	OK(cu.cuMemcpyDtoDAsync(q, p, 1000, NULL));
	IS(CUDA_ERROR_INVALID_VALUE, cu.cuMemFree(p + 8));
	OK(cu.cuMemFree(p));
	IS(CUDA_ERROR_INVALID_VALUE, cu.cuMemFree(p));
	IS(CUDA_ERROR_INVALID_VALUE, cu.cuMemcpyHtoDAsync(p, buf, 1, NULL));
	CUdeviceptr big;
	IS(CUDA_ERROR_OUT_OF_MEMORY, cu.cuMemAlloc(&big, (size_t)64 << 20));
	OK(cu.cuMemAlloc(&big, ((size_t)63 << 20) - 4096)); /* what is left after q, exactly */
	OK(cu.cuMemAlloc(&p, 1));                            /* the page p left */
	IS(CUDA_ERROR_OUT_OF_MEMORY, cu.cuMemAlloc(&p, 1));
	OK(cu.cuMemGetInfo(&free1, &total));
	CHECK(free1 == 0);
	OK(cu.cuMemFree(q));
	OK(cu.cuMemAlloc(&p, 1)); /* first fit: the hole q left */
	CHECK(p == q);
	IS(CUDA_ERROR_INVALID_VALUE, cu.cuMemAlloc(&p, 0));
	/* fresh device memory is not zero (stands in for stale contents) */
	float f;
	OK(cu.cuMemAlloc(&p, 4));
	OK(cu.cuMemcpyDtoHAsync(&f, p, 4, NULL));
	CHECK(f != f);
	OK(cu.cuDevicePrimaryCtxRelease(0));
	IS(CUDA_ERROR_INVALID_CONTEXT, cu.cuMemGetInfo(&free1, &total)); /* the context is gone */
	CUcontext ctx;
	OK(cu.cuDevicePrimaryCtxRetain(&ctx, 0));
	OK(cu.cuCtxSetCurrent(ctx));
	OK(cu.cuMemGetInfo(&free1, &total));
	CHECK(free1 == total); /* and its memory with it */
}

static void t_ptx(void)
{
	setup(0);
	CUmodule m = load_toys();
	CUfunction f;
	IS(CUDA_ERROR_NOT_FOUND, cu.cuModuleGetFunction(&f, m, "commented_out"));
	IS(CUDA_ERROR_NOT_FOUND, cu.cuModuleGetFunction(&f, m, "fakecuda_ad"));
	int regs;
	OK(cu.cuFuncGetAttribute(&regs, CU_FUNC_ATTRIBUTE_NUM_REGS, fn(m, "fakecuda_add")));

	CUdeviceptr out;
	OK(cu.cuMemAlloc(&out, 256));
	OK(cu.cuMemsetD32Async(out, 0xabababab, 64, NULL));
	unsigned p1 = 0x11223344;
	unsigned char p2[12], p3 = 0x55;
	double p4 = 3.25;
	short p5 = -2;
	unsigned char p6[6];
	int p7 = -7;
	for (int i = 0; i < 12; i++)
		p2[i] = (unsigned char)(0xc0 + i);
	for (int i = 0; i < 6; i++)
		p6[i] = (unsigned char)(0xe0 + i);
	void *args[] = { &out, &p1, p2, &p3, &p4, &p5, p6, &p7 };
	OK(cu.cuLaunchKernel(fn(m, "fakecuda_dump_params_mix"), 1, 1, 1, 1, 1, 1, 0, NULL, args, NULL));
	p1 = 0; /* the values were taken at the call */
	unsigned char got[256];
	OK(cu.cuMemcpyDtoHAsync(got, out, sizeof got, NULL));
	CHECK(!memcmp(got + 0, &out, 8));
	unsigned want1 = 0x11223344;
	CHECK(!memcmp(got + 8, &want1, 4));
	CHECK(got[12] == 0 && got[15] == 0); /* padding */
	CHECK(!memcmp(got + 16, p2, 12));
	CHECK(got[28] == 0x55);
	CHECK(!memcmp(got + 32, &p4, 8));
	CHECK(!memcmp(got + 40, &p5, 2));
	CHECK(!memcmp(got + 44, p6, 6));
	CHECK(!memcmp(got + 52, &p7, 4));
	CHECK_MSG(got[56] == 0xab, "the buffer is longer than 56 bytes");

	/* kernels.h's sl_rmsnorm signature: (ptr, ptr, ptr, long long, int, float) -> 40 bytes */
	CUdeviceptr x = 1, w = 2;
	long long dim = 288;
	int n = 3;
	float eps = 1e-5f;
	void *args2[] = { &out, &x, &w, &dim, &n, &eps };
	OK(cu.cuMemsetD32Async(out, 0xabababab, 64, NULL));
	OK(cu.cuLaunchKernel(fn(m, "fakecuda_dump_params_kernels_h"), 1, 1, 1, 256, 1, 1, 0, NULL, args2, NULL));
	OK(cu.cuMemcpyDtoHAsync(got, out, sizeof got, NULL));
	CHECK(!memcmp(got + 24, &dim, 8) && !memcmp(got + 32, &n, 4) && !memcmp(got + 36, &eps, 4));
	CHECK(got[40] == 0xab);

	/* launch shapes the hardware refuses */
	IS(CUDA_ERROR_INVALID_VALUE, cu.cuLaunchKernel(fn(m, "fakecuda_fail"), 1, 1, 1, 1025, 1, 1, 0, NULL, NULL, NULL));
	IS(CUDA_ERROR_INVALID_VALUE, cu.cuLaunchKernel(fn(m, "fakecuda_fail"), 0, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL));
	IS(CUDA_ERROR_INVALID_VALUE, cu.cuLaunchKernel(fn(m, "fakecuda_add"), 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL));

	/* images the driver refuses, with the JIT log filled */
	char log[256] = "x";
	int opts[] = { CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES };
	void *vals[] = { log, (void *)(uintptr_t)sizeof log };
	CUmodule bad;
	IS(CUDA_ERROR_INVALID_PTX, cu.cuModuleLoadDataEx(&bad, "hello", 2, opts, vals));
	CHECK(strstr(log, ".version"));
	IS(CUDA_ERROR_INVALID_PTX,
	   cu.cuModuleLoadDataEx(&bad, ".version 8.0\n.target sm_100\n.entry k() {}\n", 2, opts, vals));
	CHECK(strstr(log, "sm_100"));
	IS(CUDA_ERROR_INVALID_PTX,
	   cu.cuModuleLoadDataEx(&bad, ".version 8.0\n.target sm_90\n.entry k(.param .u32 a .param .u32 b) {}\n", 2,
				 opts, vals));
	IS(CUDA_ERROR_INVALID_PTX, cu.cuModuleLoadData(&bad, ".version 8.0\n.target sm_90\n"));
	IS(CUDA_ERROR_NO_BINARY_FOR_GPU, cu.cuModuleLoadData(&bad, "\177ELF\2\1\1"));
	OK(cu.cuModuleUnload(m));
	IS(CUDA_ERROR_INVALID_HANDLE, cu.cuModuleUnload(m));
}

static void t_fail_alloc(void)
{
	setup(0);
	CUdeviceptr p;
	OK(cu.cuMemAlloc(&p, 64));
	IS(CUDA_ERROR_OUT_OF_MEMORY, cu.cuMemAlloc(&p, 64));
	OK(cu.cuMemAlloc(&p, 64));
}

static void t_fail_launch(void)
{
	setup(0);
	CUmodule m = load_toys();
	CUdeviceptr x;
	OK(cu.cuMemAlloc(&x, 64));
	CUstream s;
	OK(cu.cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
	OK(launch_add(fn(m, "fakecuda_add"), x, x, 16, 1, s)); /* the 2nd launch is the injected one */
	OK(launch_add(fn(m, "fakecuda_add"), x, x, 16, 1, s)); /* queued: the failure comes when it runs */
	IS(CUDA_ERROR_LAUNCH_FAILED, cu.cuStreamSynchronize(s));
	IS(CUDA_ERROR_LAUNCH_FAILED, cu.cuMemAlloc(&x, 64)); /* sticky */
	IS(CUDA_ERROR_LAUNCH_FAILED, cu.cuCtxSynchronize());
	const char *name;
	OK(cu.cuGetErrorName(CUDA_ERROR_LAUNCH_FAILED, &name));
	/* releasing the context clears it */
	OK(cu.cuDevicePrimaryCtxRelease(0));
	setup(0);
	OK(cu.cuMemAlloc(&x, 64));
	/* a kernel that fails by itself does the same */
	m = load_toys();
	OK(cu.cuLaunchKernel(fn(m, "fakecuda_fail"), 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL));
	IS(CUDA_ERROR_LAUNCH_FAILED, cu.cuCtxSynchronize());
	IS(CUDA_ERROR_LAUNCH_FAILED, cu.cuMemFree(x));
}

static void t_fail_copy(void)
{
	setup(0);
	CUdeviceptr x;
	OK(cu.cuMemAlloc(&x, 64));
	char buf[64] = { 0 };
	CUstream s;
	OK(cu.cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
	OK(cu.cuMemcpyHtoDAsync(x, buf, 64, s));
	OK(cu.cuStreamSynchronize(s));
	OK(cu.cuMemcpyHtoDAsync(x, buf, 64, s)); /* the 2nd copy faults when it runs */
	IS(CUDA_ERROR_ILLEGAL_ADDRESS, cu.cuStreamSynchronize(s));
	IS(CUDA_ERROR_ILLEGAL_ADDRESS, cu.cuMemcpyDtoHAsync(buf, x, 64, s));
}

static void t_fail_register(void)
{
	setup(0);
	static char a[8192], b[8192];
	IS(CUDA_ERROR_OUT_OF_MEMORY, cu.cuMemHostRegister(a, sizeof a, 0));
	OK(cu.cuMemHostRegister(b, sizeof b, 0));
	OK(cu.cuMemHostUnregister(b));
}

static void t_no_init(void)
{
	IS(CUDA_ERROR_NO_DEVICE, cu.cuInit(0));
	int n;
	IS(CUDA_ERROR_NOT_INITIALIZED, cu.cuDeviceGetCount(&n));
}

static void t_no_devices(void)
{
	OK(cu.cuInit(0));
	int n = -1;
	OK(cu.cuDeviceGetCount(&n));
	CHECK(n == 0);
	CUdevice d;
	IS(CUDA_ERROR_INVALID_DEVICE, cu.cuDeviceGet(&d, 0));
}

static void t_two_devices(void)
{
	OK(cu.cuInit(0));
	int n;
	OK(cu.cuDeviceGetCount(&n));
	CHECK(n == 2);
	char name[64], bus[32];
	OK(cu.cuDeviceGetName(name, sizeof name, 1));
	CHECK(!strcmp(name, "sluice fakecuda 1"));
	OK(cu.cuDeviceGetPCIBusId(bus, sizeof bus, 1));
	CHECK(!strcmp(bus, "0000:01:00.0"));
	CUcontext c0, c1;
	OK(cu.cuDevicePrimaryCtxRetain(&c0, 0));
	OK(cu.cuDevicePrimaryCtxRetain(&c1, 1));
	CHECK(c0 != c1);
	enum { N = 32 };
	float v[N], out[N];
	CUdeviceptr x0, x1;
	CUstream s0, s1;
	CUevent e0;
	OK(cu.cuCtxSetCurrent(c0));
	OK(cu.cuMemAlloc(&x0, N * 4));
	OK(cu.cuStreamCreate(&s0, CU_STREAM_NON_BLOCKING));
	OK(cu.cuEventCreate(&e0, CU_EVENT_DISABLE_TIMING));
	size_t f0, f1, t;
	OK(cu.cuMemGetInfo(&f0, &t));
	OK(cu.cuCtxSetCurrent(c1));
	OK(cu.cuMemAlloc(&x1, 3 * 4096));
	OK(cu.cuStreamCreate(&s1, CU_STREAM_NON_BLOCKING));
	OK(cu.cuMemGetInfo(&f1, &t));
	/* FAKECUDA_MEM=32M,16M: device 1 has its own size; FAKECUDA_FAIL=alloc@1:2: its 2nd allocation fails */
	CHECK(t == (size_t)16 << 20 && t - f1 == 3 * 4096);
	CUdeviceptr spare;
	IS(CUDA_ERROR_OUT_OF_MEMORY, cu.cuMemAlloc(&spare, 4096));
	OK(cu.cuCtxSetCurrent(c0));
	OK(cu.cuMemGetInfo(&f0, &t));
	CHECK(t == (size_t)32 << 20 && t - f0 == 4096);
	OK(cu.cuCtxSetCurrent(c1));
	/* device 0 fills x0; device 1 copies it over once it waits for device 0's event */
	fill(v, N, 42);
	OK(cu.cuMemcpyHtoDAsync(x0, v, sizeof v, s0));
	OK(cu.cuEventRecord(e0, s0));
	OK(cu.cuStreamWaitEvent(s1, e0, 0));
	OK(cu.cuMemcpyDtoDAsync(x1, x0, sizeof v, s1));
	OK(cu.cuMemcpyDtoHAsync(out, x1, sizeof out, s1));
	CHECK(all_eq(out, N, 42));
	/* an event records on its own context's streams only; a kernel launches on its module's */
	IS(CUDA_ERROR_INVALID_HANDLE, cu.cuEventRecord(e0, s1));
	CUmodule m1 = load_toys(); /* in c1 */
	IS(CUDA_ERROR_INVALID_HANDLE, launch_add(fn(m1, "fakecuda_add"), x1, x1, N, 1, s0));
	OK(launch_add(fn(m1, "fakecuda_add"), x1, x1, N, 1, s1));
	OK(cu.cuMemcpyDtoHAsync(out, x1, sizeof out, s1));
	CHECK(all_eq(out, N, 43));
	/* copies may cross devices (the driver routes them), a kernel may not read another device's memory */
	IS(CUDA_ERROR_ILLEGAL_ADDRESS, launch_add(fn(m1, "fakecuda_add"), x1, x0, N, 1, s1));
	IS(CUDA_ERROR_ILLEGAL_ADDRESS, launch_add(fn(m1, "fakecuda_add"), x0, x1, N, 1, s1));
	OK(cu.cuDevicePrimaryCtxRelease(1));
	IS(CUDA_ERROR_INVALID_CONTEXT, cu.cuMemAlloc(&x1, 4)); /* c1 is current, and gone */
	OK(cu.cuCtxSetCurrent(c0));
	OK(cu.cuMemFree(x0));
	OK(cu.cuDevicePrimaryCtxRelease(0));
}

/* The real firmware: nvcc's PTX ($SLUICE_BUILD/gen/firmware_compute_90.ptx) loaded, sl_rmsnorm and
 * sl_add launched with kernels.h's signatures, run by the host-compiled kernels, right results.
 * Not run (the test still passes) when the build had no nvcc. */
static char *fw_ptx;

static void t_firmware(void)
{
	setup(0);
	CUmodule m = NULL;
	OK(cu.cuModuleLoadData(&m, fw_ptx));
	if (!m)
		return;
	enum { DIM = 300, ROWS = 3, N = DIM * ROWS };
	float x[N], w[DIM], y[N], out[N];
	for (int i = 0; i < N; i++)
		x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
	for (int i = 0; i < DIM; i++)
		w[i] = 0.5f + (float)(i % 7) / 8.0f;
	CUdeviceptr dx, dw, dy;
	OK(cu.cuMemAlloc(&dx, sizeof x));
	OK(cu.cuMemAlloc(&dw, sizeof w));
	OK(cu.cuMemAlloc(&dy, sizeof y));
	CUstream s;
	OK(cu.cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
	OK(cu.cuMemcpyHtoDAsync(dx, x, sizeof x, s));
	OK(cu.cuMemcpyHtoDAsync(dw, w, sizeof w, s));

	/* sl_rmsnorm(float *y, const float *x, const float *w, long long dim, int n, float eps) */
	long long dim = DIM;
	int n = ROWS;
	float eps = 1e-5f;
	void *a1[] = { &dy, &dx, &dw, &dim, &n, &eps };
	OK(cu.cuLaunchKernel(fn(m, "sl_rmsnorm"), ROWS, 1, 1, 256, 1, 1, 0, s, a1, NULL));
	OK(cu.cuMemcpyDtoHAsync(out, dy, sizeof out, s));
	for (int r = 0; r < ROWS; r++) {
		double ss = 0;
		for (int i = 0; i < DIM; i++)
			ss += (double)x[r * DIM + i] * x[r * DIM + i];
		double sc = 1.0 / sqrt(ss / DIM + eps);
		for (int i = 0; i < DIM; i++) {
			double want = x[r * DIM + i] * sc * w[i];
			if (fabs(out[r * DIM + i] - want) > 1e-5 * (1 + fabs(want))) {
				CHECK_MSG(0, "sl_rmsnorm row %d [%d]: %g, want %g", r, i, out[r * DIM + i], want);
				break;
			}
		}
	}

	/* sl_add(float *y, const float *x, long long n, long long n_x): y[i] += x[i % n_x] */
	long long nn = N, nx = DIM;
	void *a2[] = { &dy, &dw, &nn, &nx };
	OK(cu.cuLaunchKernel(fn(m, "sl_add"), (N + 255) / 256, 1, 1, 256, 1, 1, 0, s, a2, NULL));
	float out2[N];
	OK(cu.cuMemcpyDtoHAsync(out2, dy, sizeof out2, s));
	bool add_ok = true;
	for (int i = 0; i < N && add_ok; i++)
		add_ok = out2[i] == out[i] + w[i % DIM];
	CHECK_MSG(add_ok, "sl_add is not y[i] += x[i %% n_x]");

	/* a launch with the wrong number of arguments reads past them: the PTX decides the layout, so
	 * the driver cannot tell; a wrong grid the kernel does not expect still runs.  What it can tell:
	 * an unknown name. */
	CUfunction f;
	IS(CUDA_ERROR_NOT_FOUND, cu.cuModuleGetFunction(&f, m, "sl_no_such_kernel"));
	OK(cu.cuModuleUnload(m));
}

/* Several host threads on one context (the backend's I/O and compute threads): each keeps its own
 * stream and data; the fake serializes the calls. */
static CUcontext thr_ctx;
static CUfunction thr_add;

static void *thr_main(void *arg)
{
	int id = (int)(intptr_t)arg, bad = 0;
	enum { N = 256 };
	float v[N], out[N];
	CUdeviceptr d;
	CUstream s;
	if (cu.cuCtxSetCurrent(thr_ctx) || cu.cuMemAlloc(&d, sizeof v) || cu.cuStreamCreate(&s, CU_STREAM_NON_BLOCKING))
		return (void *)1;
	for (int it = 0; it < 200; it++) {
		fill(v, N, (float)(id * 1000 + it));
		bad |= cu.cuMemcpyHtoDAsync(d, v, sizeof v, s) != 0;
		bad |= launch_add(thr_add, d, d, N, 1, s) != 0;
		bad |= cu.cuMemcpyDtoHAsync(out, d, sizeof out, s) != 0;
		bad |= !all_eq(out, N, (float)(id * 1000 + it + 1));
	}
	bad |= cu.cuStreamDestroy(s) != 0 || cu.cuMemFree(d) != 0;
	return (void *)(intptr_t)bad;
}

static void t_threads(void)
{
	thr_ctx = setup(0);
	thr_add = fn(load_toys(), "fakecuda_add");
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		CHECK(pthread_create(&t[i], NULL, thr_main, (void *)(intptr_t)i) == 0);
	for (int i = 0; i < 4; i++) {
		void *bad = NULL;
		pthread_join(t[i], &bad);
		CHECK_MSG(!bad, "thread %d saw wrong data or an error", i);
	}
}

/* ---- driver ---- */

static void scenario(const char *name, void (*fn)(void), const char *const *env)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		for (; env && env[0]; env += 2)
			setenv(env[0], env[1], 1);
		load();
		fn();
		fflush(NULL);
		_exit(t_failures ? 1 : 0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
	printf("%-16s %s\n", name, ok ? "ok" : "FAILED");
	if (!ok)
		t_failures++;
}

int main(void)
{
	find_lib();
	if (access(lib_path, R_OK)) {
		fprintf(stderr, "%s is not built (make all builds it)\n", lib_path);
		return 1;
	}
	const char *log = t_tmp_path("fakecuda.log");
	unlink(log);
	scenario("basics", t_basics, NULL);
	scenario("ordering", t_ordering, (const char *const[]){ "FAKECUDA_MEM", "64M", "FAKECUDA_LOG", log, NULL });
	check_log(log);
	unlink(log);
	scenario("bounds", t_bounds, (const char *const[]){ "FAKECUDA_MEM", "64M", NULL });
	scenario("ptx", t_ptx, NULL);
	scenario("fail alloc", t_fail_alloc, (const char *const[]){ "FAKECUDA_FAIL", "alloc:2", NULL });
	scenario("fail launch", t_fail_launch, (const char *const[]){ "FAKECUDA_FAIL", "launch:2", NULL });
	scenario("fail copy", t_fail_copy, (const char *const[]){ "FAKECUDA_FAIL", "copy:2", NULL });
	scenario("fail register", t_fail_register, (const char *const[]){ "FAKECUDA_FAIL", "register:1", NULL });
	scenario("no init", t_no_init, (const char *const[]){ "FAKECUDA_NO_INIT", "1", NULL });
	scenario("no devices", t_no_devices, (const char *const[]){ "FAKECUDA_DEVICES", "0", NULL });
	scenario("two devices", t_two_devices,
		 (const char *const[]){ "FAKECUDA_DEVICES", "2", "FAKECUDA_MEM", "32M,16M", "FAKECUDA_FAIL", "alloc@1:2",
					NULL });
	scenario("threads", t_threads, NULL);
	char ptx_path[PATH_MAX];
	snprintf(ptx_path, sizeof ptx_path, "%.*s/gen/firmware_compute_90.ptx", (int)(strlen(lib_path) - 22), lib_path);
	fw_ptx = t_read_file(ptx_path, NULL);
	if (fw_ptx && fw_ptx[0])
		scenario("firmware", t_firmware, NULL);
	else
		printf("firmware         not checked: no %s (built without nvcc)\n", ptx_path);
	free(fw_ptx);
	return t_done();
}
