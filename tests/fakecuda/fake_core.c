/* SPDX-License-Identifier: MIT */
/*
 * tests/fakecuda/fake_core.c — initialization, the environment, devices, primary contexts, error
 * names and cuGetProcAddress.
 *
 * Environment (read once, by cuInit; the fake is a test tool and may read it, libsluice may not):
 *   FAKECUDA_DEVICES=N    devices (default 1; 0: cuInit succeeds and cuDeviceGetCount says 0)
 *   FAKECUDA_MEM=BYTES[,BYTES...]   memory of each device, K/M/G suffixes allowed (default 8G); a
 *                         list gives device 0, 1, ... their own sizes, the last repeating
 *   FAKECUDA_FAIL=what:N[,what:N...]   the Nth call of a kind fails:
 *       alloc     cuMemAlloc returns CUDA_ERROR_OUT_OF_MEMORY
 *       alloc@D   the Nth cuMemAlloc on device D (counted apart) returns CUDA_ERROR_OUT_OF_MEMORY
 *       launch    the launch fails when it runs: CUDA_ERROR_LAUNCH_FAILED, sticky for the context
 *       copy      the copy faults when it runs: CUDA_ERROR_ILLEGAL_ADDRESS, sticky (a DMA fault)
 *       register  cuMemHostRegister returns CUDA_ERROR_OUT_OF_MEMORY
 *   FAKECUDA_PCI=BDF[,BDF...]   each device's PCI address (default 0000:NN:00.0, NN = ordinal),
 *                         so a test can place the devices in a fake sysfs tree (`sluice topo`)
 *   FAKECUDA_NO_INIT=1    cuInit returns CUDA_ERROR_NO_DEVICE (a driver without a usable GPU)
 *   FAKECUDA_LOG=PATH     one line per executed operation, appended (fake_sched.c)
 *
 * Several devices behave as GPUs without peer access under unified addressing: copies may name
 * any device's memory (the driver routes them, as cuMemcpy* do), but a kernel on device D given a
 * pointer into another device's memory fails (fake_module.c), so a pipeline that hands one
 * device's activations to another device's kernels shows up as an error, never as silent success.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fakecuda.h"

struct fk_state fk = { .lock = PTHREAD_MUTEX_INITIALIZER };
_Thread_local struct fk_ctx *fk_current;

uint64_t fk_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static size_t parse_size(const char *s, size_t dflt)
{
	if (!s || !*s)
		return dflt;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s)
		return dflt;
	switch (*end) {
	case 'k': case 'K': v <<= 10; break;
	case 'm': case 'M': v <<= 20; break;
	case 'g': case 'G': v <<= 30; break;
	default: break;
	}
	return (size_t)v;
}

static void parse_fail(const char *s)
{
	while (s && *s) {
		const char *colon = strchr(s, ':');
		if (!colon)
			break;
		long n = strtol(colon + 1, NULL, 10);
		size_t k = (size_t)(colon - s);
		if (k == 5 && !strncmp(s, "alloc", 5))
			fk.fail_alloc = n;
		else if (k > 6 && !strncmp(s, "alloc@", 6) && atoi(s + 6) >= 0 && atoi(s + 6) < FK_MAX_DEVICES)
			fk.dev[atoi(s + 6)].fail_alloc = n;
		else if (k == 6 && !strncmp(s, "launch", 6))
			fk.fail_launch = n;
		else if (k == 4 && !strncmp(s, "copy", 4))
			fk.fail_copy = n;
		else if (k == 8 && !strncmp(s, "register", 8))
			fk.fail_register = n;
		else
			fprintf(stderr, "fakecuda: FAKECUDA_FAIL: unknown kind '%.*s'\n", (int)k, s);
		s = strchr(colon, ',');
		if (s)
			s++;
	}
}

FK_API CUresult cuInit(unsigned flags)
{
	if (flags)
		return CUDA_ERROR_INVALID_VALUE;
	const char *no = getenv("FAKECUDA_NO_INIT");
	if (no && *no && strcmp(no, "0"))
		return CUDA_ERROR_NO_DEVICE;
	pthread_mutex_lock(&fk.lock);
	CUresult r = CUDA_SUCCESS;
	if (!fk.initialized) {
		const char *nd = getenv("FAKECUDA_DEVICES");
		fk.n_dev = nd && *nd ? atoi(nd) : 1;
		if (fk.n_dev < 0)
			fk.n_dev = 0;
		if (fk.n_dev > FK_MAX_DEVICES)
			fk.n_dev = FK_MAX_DEVICES;
		const char *mem = getenv("FAKECUDA_MEM");
		fk.mem = parse_size(mem, (size_t)8 << 30);
		parse_fail(getenv("FAKECUDA_FAIL"));
		const char *log = getenv("FAKECUDA_LOG");
		if (log && *log) {
			fk.log = fopen(log, "a");
			if (fk.log)
				setvbuf(fk.log, NULL, _IOLBF, 0);
		}
		size_t dev_mem = fk.mem;
		const char *pci = getenv("FAKECUDA_PCI");
		for (int i = 0; i < fk.n_dev && !r; i++) {
			fk.dev[i].ctx.dev = i;
			size_t len = pci ? strcspn(pci, ",") : 0;
			if (len && len < sizeof fk.dev[i].pci)
				snprintf(fk.dev[i].pci, sizeof fk.dev[i].pci, "%.*s", (int)len, pci);
			else
				snprintf(fk.dev[i].pci, sizeof fk.dev[i].pci, "0000:%02X:00.0", (unsigned)i & 0xffu);
			pci = pci && pci[len] ? pci + len + 1 : NULL;
			dev_mem = parse_size(mem, dev_mem); /* this device's entry of the list, else the last */
			mem = mem ? strchr(mem, ',') : NULL;
			mem = mem ? mem + 1 : NULL;
			r = fk_dev_init(&fk.dev[i], dev_mem);
		}
		fk.initialized = r == CUDA_SUCCESS;
	}
	pthread_mutex_unlock(&fk.lock);
	return r;
}

FK_API CUresult cuDriverGetVersion(int *version)
{
	if (!version)
		return CUDA_ERROR_INVALID_VALUE;
	*version = 12080;
	return CUDA_SUCCESS;
}

/* The driver's own names and texts. */
static const struct {
	CUresult code;
	const char *name, *text;
} errors[] = {
	{ CUDA_SUCCESS, "CUDA_SUCCESS", "no error" },
	{ CUDA_ERROR_INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE", "invalid argument" },
	{ CUDA_ERROR_OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory" },
	{ CUDA_ERROR_NOT_INITIALIZED, "CUDA_ERROR_NOT_INITIALIZED", "initialization error" },
	{ CUDA_ERROR_DEINITIALIZED, "CUDA_ERROR_DEINITIALIZED", "driver shutting down" },
	{ CUDA_ERROR_NO_DEVICE, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected" },
	{ CUDA_ERROR_INVALID_DEVICE, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal" },
	{ CUDA_ERROR_INVALID_IMAGE, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid" },
	{ CUDA_ERROR_INVALID_CONTEXT, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context" },
	{ CUDA_ERROR_NO_BINARY_FOR_GPU, "CUDA_ERROR_NO_BINARY_FOR_GPU",
	  "no kernel image is available for execution on the device" },
	{ CUDA_ERROR_INVALID_PTX, "CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed" },
	{ CUDA_ERROR_UNSUPPORTED_PTX_VERSION, "CUDA_ERROR_UNSUPPORTED_PTX_VERSION",
	  "the provided PTX was compiled with an unsupported toolchain." },
	{ CUDA_ERROR_INVALID_HANDLE, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle" },
	{ CUDA_ERROR_NOT_FOUND, "CUDA_ERROR_NOT_FOUND", "named symbol not found" },
	{ CUDA_ERROR_NOT_READY, "CUDA_ERROR_NOT_READY", "device not ready" },
	{ CUDA_ERROR_ILLEGAL_ADDRESS, "CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered" },
	{ CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES",
	  "too many resources requested for launch" },
	{ CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED, "CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED",
	  "part or all of the requested memory range is already mapped" },
	{ CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED, "CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED",
	  "pointer does not correspond to a registered memory region" },
	{ CUDA_ERROR_LAUNCH_FAILED, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure" },
	{ CUDA_ERROR_NOT_SUPPORTED, "CUDA_ERROR_NOT_SUPPORTED", "operation not supported" },
	{ CUDA_ERROR_UNKNOWN, "CUDA_ERROR_UNKNOWN", "unknown error" },
};

static CUresult error_lookup(CUresult e, const char **s, bool name)
{
	if (!s)
		return CUDA_ERROR_INVALID_VALUE;
	for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++)
		if (errors[i].code == e) {
			*s = name ? errors[i].name : errors[i].text;
			return CUDA_SUCCESS;
		}
	*s = NULL;
	return CUDA_ERROR_INVALID_VALUE;
}

FK_API CUresult cuGetErrorName(CUresult e, const char **s) { return error_lookup(e, s, true); }
FK_API CUresult cuGetErrorString(CUresult e, const char **s) { return error_lookup(e, s, false); }

static CUresult need_init(void) { return fk.initialized ? CUDA_SUCCESS : CUDA_ERROR_NOT_INITIALIZED; }

static CUresult dev_ok(CUdevice d)
{
	CUresult r = need_init();
	if (r)
		return r;
	return d >= 0 && d < fk.n_dev ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE;
}

FK_API CUresult cuDeviceGetCount(int *n)
{
	if (!n)
		return CUDA_ERROR_INVALID_VALUE;
	CUresult r = need_init();
	if (!r)
		*n = fk.n_dev;
	return r;
}

FK_API CUresult cuDeviceGet(CUdevice *d, int ordinal)
{
	if (!d)
		return CUDA_ERROR_INVALID_VALUE;
	CUresult r = dev_ok(ordinal);
	if (!r)
		*d = ordinal;
	return r;
}

FK_API CUresult cuDeviceGetName(char *name, int len, CUdevice d)
{
	CUresult r = dev_ok(d);
	if (r)
		return r;
	if (!name || len <= 0)
		return CUDA_ERROR_INVALID_VALUE;
	snprintf(name, (size_t)len, "sluice fakecuda %d", d);
	return CUDA_SUCCESS;
}

FK_API CUresult cuDeviceGetAttribute(int *v, int attr, CUdevice d)
{
	CUresult r = dev_ok(d);
	if (r)
		return r;
	if (!v)
		return CUDA_ERROR_INVALID_VALUE;
	switch (attr) { /* an H200's, with the fake's own PCI address */
	case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *v = 132; break;
	case CU_DEVICE_ATTRIBUTE_PCI_BUS_ID: *v = (int)strtol(fk.dev[d].pci + 5, NULL, 16); break;
	case CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID: *v = 0; break;
	case CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID: *v = 0; break;
	case CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE: *v = 2619000; break; /* kHz */
	case CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH: *v = 6144; break;
	case CU_DEVICE_ATTRIBUTE_ASYNC_ENGINE_COUNT: *v = 2; break;
	case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *v = 9; break;
	case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *v = 0; break;
	default: return CUDA_ERROR_INVALID_VALUE;
	}
	return CUDA_SUCCESS;
}

FK_API CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice d)
{
	CUresult r = dev_ok(d);
	if (r)
		return r;
	if (!bytes)
		return CUDA_ERROR_INVALID_VALUE;
	*bytes = fk.dev[d].total;
	return CUDA_SUCCESS;
}
FK_ALIAS(cuDeviceTotalMem, cuDeviceTotalMem_v2);

FK_API CUresult cuDeviceGetPCIBusId(char *id, int len, CUdevice d)
{
	CUresult r = dev_ok(d);
	if (r)
		return r;
	if (!id || len <= 0)
		return CUDA_ERROR_INVALID_VALUE;
	snprintf(id, (size_t)len, "%s", fk.dev[d].pci);
	return CUDA_SUCCESS;
}

FK_API CUresult cuDevicePrimaryCtxRetain(CUcontext *ctx, CUdevice d)
{
	CUresult r = dev_ok(d);
	if (r)
		return r;
	if (!ctx)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&fk.lock);
	fk.dev[d].ctx.refs++;
	*ctx = (CUcontext)&fk.dev[d].ctx;
	pthread_mutex_unlock(&fk.lock);
	return CUDA_SUCCESS;
}

FK_API CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d)
{
	CUresult r = dev_ok(d);
	if (r)
		return r;
	pthread_mutex_lock(&fk.lock);
	struct fk_ctx *c = &fk.dev[d].ctx;
	if (c->refs <= 0) {
		r = CUDA_ERROR_INVALID_CONTEXT;
	} else if (--c->refs == 0) {
		/* The last release destroys the context and everything in it, memory included. */
		fk_ctx_teardown(c);
		fk_dev_free_all(&fk.dev[d]);
		c->sticky = CUDA_SUCCESS;
	}
	pthread_mutex_unlock(&fk.lock);
	return r;
}
FK_ALIAS(cuDevicePrimaryCtxRelease, cuDevicePrimaryCtxRelease_v2);

static struct fk_ctx *ctx_of(CUcontext h)
{
	for (int i = 0; i < fk.n_dev; i++)
		if ((CUcontext)&fk.dev[i].ctx == h)
			return &fk.dev[i].ctx;
	return NULL;
}

FK_API CUresult cuCtxSetCurrent(CUcontext h)
{
	CUresult r = need_init();
	if (r)
		return r;
	if (!h) {
		fk_current = NULL;
		return CUDA_SUCCESS;
	}
	struct fk_ctx *c = ctx_of(h);
	if (!c || c->refs <= 0)
		return CUDA_ERROR_INVALID_CONTEXT;
	fk_current = c;
	return CUDA_SUCCESS;
}

CUresult fk_ctx_ok(struct fk_ctx *c)
{
	if (!fk.initialized)
		return CUDA_ERROR_NOT_INITIALIZED;
	if (!c || c->refs <= 0)
		return CUDA_ERROR_INVALID_CONTEXT;
	return c->sticky;
}

struct fk_ctx *fk_cur(CUresult *r)
{
	*r = fk_ctx_ok(fk_current);
	return *r ? NULL : fk_current;
}

FK_API CUresult cuCtxSynchronize(void)
{
	pthread_mutex_lock(&fk.lock);
	CUresult r;
	struct fk_ctx *c = fk_cur(&r);
	if (c)
		r = fk_run_ctx(c);
	pthread_mutex_unlock(&fk.lock);
	return r;
}

/* ---- cuGetProcAddress: every function by its base name, in its newest ABI ---- */

CUresult cuMemGetInfo_v2(size_t *, size_t *);
CUresult cuMemAlloc_v2(CUdeviceptr *, size_t);
CUresult cuMemFree_v2(CUdeviceptr);
CUresult cuMemAllocHost_v2(void **, size_t);
CUresult cuMemFreeHost(void *);
CUresult cuMemHostRegister_v2(void *, size_t, unsigned);
CUresult cuMemHostUnregister(void *);
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr, const void *, size_t, CUstream);
CUresult cuMemcpyDtoHAsync_v2(void *, CUdeviceptr, size_t, CUstream);
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr, CUdeviceptr, size_t, CUstream);
CUresult cuMemsetD32Async(CUdeviceptr, unsigned, size_t, CUstream);
CUresult cuStreamCreate(CUstream *, unsigned);
CUresult cuStreamDestroy_v2(CUstream);
CUresult cuStreamSynchronize(CUstream);
CUresult cuStreamQuery(CUstream);
CUresult cuStreamWaitEvent(CUstream, CUevent, unsigned);
CUresult cuEventCreate(CUevent *, unsigned);
CUresult cuEventDestroy_v2(CUevent);
CUresult cuEventRecord(CUevent, CUstream);
CUresult cuEventQuery(CUevent);
CUresult cuEventSynchronize(CUevent);
CUresult cuEventElapsedTime_v2(float *, CUevent, CUevent);
CUresult cuModuleLoadData(CUmodule *, const void *);
CUresult cuModuleLoadDataEx(CUmodule *, const void *, unsigned, int *, void **);
CUresult cuModuleUnload(CUmodule);
CUresult cuModuleGetFunction(CUfunction *, CUmodule, const char *);
CUresult cuFuncGetAttribute(int *, int, CUfunction);
CUresult cuLaunchKernel(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
			CUstream, void **, void **);
CUresult cuGetProcAddress_v2(const char *, void **, int, cuuint64_t, CUdriverProcAddressQueryResult *);

#define P(name, fn) { name, (void *)fn }
static const struct {
	const char *name;
	void *fn;
} procs[] = {
	P("cuGetProcAddress", cuGetProcAddress_v2),
	P("cuInit", cuInit),
	P("cuDriverGetVersion", cuDriverGetVersion),
	P("cuGetErrorName", cuGetErrorName),
	P("cuGetErrorString", cuGetErrorString),
	P("cuDeviceGetCount", cuDeviceGetCount),
	P("cuDeviceGet", cuDeviceGet),
	P("cuDeviceGetName", cuDeviceGetName),
	P("cuDeviceGetAttribute", cuDeviceGetAttribute),
	P("cuDeviceTotalMem", cuDeviceTotalMem_v2),
	P("cuDeviceGetPCIBusId", cuDeviceGetPCIBusId),
	P("cuDevicePrimaryCtxRetain", cuDevicePrimaryCtxRetain),
	P("cuDevicePrimaryCtxRelease", cuDevicePrimaryCtxRelease_v2),
	P("cuCtxSetCurrent", cuCtxSetCurrent),
	P("cuCtxSynchronize", cuCtxSynchronize),
	P("cuMemGetInfo", cuMemGetInfo_v2),
	P("cuMemAlloc", cuMemAlloc_v2),
	P("cuMemFree", cuMemFree_v2),
	P("cuMemAllocHost", cuMemAllocHost_v2),
	P("cuMemFreeHost", cuMemFreeHost),
	P("cuMemHostRegister", cuMemHostRegister_v2),
	P("cuMemHostUnregister", cuMemHostUnregister),
	P("cuMemcpyHtoDAsync", cuMemcpyHtoDAsync_v2),
	P("cuMemcpyDtoHAsync", cuMemcpyDtoHAsync_v2),
	P("cuMemcpyDtoDAsync", cuMemcpyDtoDAsync_v2),
	P("cuMemsetD32Async", cuMemsetD32Async),
	P("cuStreamCreate", cuStreamCreate),
	P("cuStreamDestroy", cuStreamDestroy_v2),
	P("cuStreamSynchronize", cuStreamSynchronize),
	P("cuStreamQuery", cuStreamQuery),
	P("cuStreamWaitEvent", cuStreamWaitEvent),
	P("cuEventCreate", cuEventCreate),
	P("cuEventDestroy", cuEventDestroy_v2),
	P("cuEventRecord", cuEventRecord),
	P("cuEventQuery", cuEventQuery),
	P("cuEventSynchronize", cuEventSynchronize),
	P("cuEventElapsedTime", cuEventElapsedTime_v2),
	P("cuModuleLoadData", cuModuleLoadData),
	P("cuModuleLoadDataEx", cuModuleLoadDataEx),
	P("cuModuleUnload", cuModuleUnload),
	P("cuModuleGetFunction", cuModuleGetFunction),
	P("cuFuncGetAttribute", cuFuncGetAttribute),
	P("cuLaunchKernel", cuLaunchKernel),
};
#undef P

/* As the driver: base names only ("cuMemAlloc", never "cuMemAlloc_v2"), any version from 12000 up
 * gets the ABI cuda_abi.h declares; older versions are not offered. */
FK_API CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags,
				    CUdriverProcAddressQueryResult *status)
{
	if (!symbol || !pfn)
		return CUDA_ERROR_INVALID_VALUE;
	*pfn = NULL;
	for (size_t i = 0; i < sizeof procs / sizeof procs[0]; i++) {
		if (strcmp(procs[i].name, symbol))
			continue;
		if (cudaVersion < 12000) {
			if (status)
				*status = CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT;
			return CUDA_ERROR_NOT_FOUND;
		}
		*pfn = procs[i].fn;
		if (status)
			*status = CU_GET_PROC_ADDRESS_SUCCESS;
		return CUDA_SUCCESS;
	}
	if (status)
		*status = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
	return CUDA_ERROR_NOT_FOUND;
}

FK_API CUresult cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags)
{
	return cuGetProcAddress_v2(symbol, pfn, cudaVersion, flags, NULL);
}
