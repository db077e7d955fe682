/* SPDX-License-Identifier: MIT */
/*
 * tests/gpu/bw_probe.c — copy bandwidths of a CUDA device, through the Driver API loaded with
 * dlopen (runtime/backend/cuda/cuda_abi.h; no toolkit headers, so it builds where CUDA is absent).
 *
 *   bw_probe --detect          exit 0 and print "gpu: NAME" when libcuda.so.1 loads from the
 *                              system (not the tests' stand-in driver) and has a device; else
 *                              exit 1 with the reason on one line
 *   bw_probe [--device N] [--sizes 1,4,16,64] [--d2d-mib 256] [--min-mib 256]
 *
 * Output, one measurement a line (device-check.sh reads it):
 *   device 0 NAME cc 9.0 sms 132 fake 0
 *   h2d registered 1 GBPS     malloc'd memory pinned with cuMemHostRegister (what the staging pool does)
 *   h2d pageable 1 GBPS       plain malloc'd memory (the driver stages it through its own buffer)
 *   h2d hostalloc 64 GBPS     cuMemAllocHost memory: the best host-to-device rate the device gives
 *   d2d copy 256 GBPS         device-to-device: bytes copied per second (HBM traffic is twice that)
 *   best_h2d GBPS             the best host-to-device rate of this run
 * GB/s are 1e9 bytes per second.  Each rate is the best of 3 timed rounds, a round being enough
 * back-to-back copies of one size to move --min-mib, timed by cuEvents on the copy's stream (the
 * host clock when the driver cannot time events), after one untimed warm-up copy.
 */
#define _GNU_SOURCE
#include "runtime/backend/cuda/cuda_abi.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct {
	fn_cuInit Init;
	fn_cuGetErrorName GetErrorName;
	fn_cuDeviceGetCount DeviceGetCount;
	fn_cuDeviceGet DeviceGet;
	fn_cuDeviceGetName DeviceGetName;
	fn_cuDeviceGetAttribute DeviceGetAttribute;
	fn_cuDevicePrimaryCtxRetain DevicePrimaryCtxRetain;
	fn_cuDevicePrimaryCtxRelease DevicePrimaryCtxRelease;
	fn_cuCtxSetCurrent CtxSetCurrent;
	fn_cuMemAlloc MemAlloc;
	fn_cuMemFree MemFree;
	fn_cuMemAllocHost MemAllocHost;
	fn_cuMemFreeHost MemFreeHost;
	fn_cuMemHostRegister MemHostRegister;
	fn_cuMemHostUnregister MemHostUnregister;
	fn_cuMemcpyHtoDAsync MemcpyHtoDAsync;
	fn_cuMemcpyDtoDAsync MemcpyDtoDAsync;
	fn_cuStreamCreate StreamCreate;
	fn_cuStreamDestroy StreamDestroy;
	fn_cuStreamSynchronize StreamSynchronize;
	fn_cuEventCreate EventCreate;
	fn_cuEventDestroy EventDestroy;
	fn_cuEventRecord EventRecord;
	fn_cuEventSynchronize EventSynchronize;
	fn_cuEventElapsedTime EventElapsedTime;
} cu;

static const char *lib_path = "?";

static const char *ename(CUresult r)
{
	const char *s = NULL;
	if (cu.GetErrorName && cu.GetErrorName(r, &s) == CUDA_SUCCESS && s)
		return s;
	return "unknown CUDA error";
}

#define CK(call)                                                                                   \
	do {                                                                                       \
		CUresult r_ = (call);                                                              \
		if (r_ != CUDA_SUCCESS) {                                                          \
			fprintf(stderr, "bw_probe: %s: %s (%d)\n", #call, ename(r_), r_);           \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

/* Load the driver; on failure print why (one line) and return false. */
static bool load(void)
{
	void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		printf("no CUDA driver: cannot load libcuda.so.1 (%s)\n", dlerror());
		return false;
	}
	fn_cuGetProcAddress_v2 gpa2 = (fn_cuGetProcAddress_v2)dlsym(h, "cuGetProcAddress_v2");
	fn_cuGetProcAddress gpa1 = (fn_cuGetProcAddress)dlsym(h, "cuGetProcAddress");
	Dl_info di;
	if (gpa2 || gpa1) {
		if (dladdr(gpa2 ? (void *)gpa2 : (void *)gpa1, &di) && di.dli_fname)
			lib_path = di.dli_fname;
	}
	if (!gpa2 && !gpa1) {
		printf("no CUDA driver: libcuda.so.1 has no cuGetProcAddress\n");
		return false;
	}
#define GET(name)                                                                                   \
	do {                                                                                        \
		void *p_ = NULL;                                                                    \
		CUdriverProcAddressQueryResult st_ = 0;                                             \
		CUresult r_ = gpa2 ? gpa2("cu" #name, &p_, SL_CUDA_API_VERSION, 0, &st_)            \
				   : gpa1("cu" #name, &p_, SL_CUDA_API_VERSION, 0);                   \
		if (r_ != CUDA_SUCCESS || !p_) {                                                    \
			printf("no CUDA driver: cuGetProcAddress(cu%s) failed (%d)\n", #name, r_);   \
			return false;                                                               \
		}                                                                                   \
		memcpy(&cu.name, &p_, sizeof p_);                                                   \
	} while (0)
	GET(GetErrorName);
	GET(Init);
	GET(DeviceGetCount);
	GET(DeviceGet);
	GET(DeviceGetName);
	GET(DeviceGetAttribute);
	GET(DevicePrimaryCtxRetain);
	GET(DevicePrimaryCtxRelease);
	GET(CtxSetCurrent);
	GET(MemAlloc);
	GET(MemFree);
	GET(MemAllocHost);
	GET(MemFreeHost);
	GET(MemHostRegister);
	GET(MemHostUnregister);
	GET(MemcpyHtoDAsync);
	GET(MemcpyDtoDAsync);
	GET(StreamCreate);
	GET(StreamDestroy);
	GET(StreamSynchronize);
	GET(EventCreate);
	GET(EventDestroy);
	GET(EventRecord);
	GET(EventSynchronize);
	GET(EventElapsedTime);
#undef GET
	return true;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static CUstream stream;
static CUevent ev0, ev1;

enum kind { H2D, D2D };

/* Best of 3 rounds of back-to-back copies of size bytes; GB/s. */
static double rate(enum kind k, CUdeviceptr dst, const void *hsrc, CUdeviceptr dsrc, size_t size, size_t min_bytes)
{
	int reps = (int)((min_bytes + size - 1) / size);
	if (reps < 4)
		reps = 4;
	if (k == H2D)
		CK(cu.MemcpyHtoDAsync(dst, hsrc, size, stream));
	else
		CK(cu.MemcpyDtoDAsync(dst, dsrc, size, stream));
	CK(cu.StreamSynchronize(stream));
	double best = 0;
	for (int round = 0; round < 3; round++) {
		double t0 = now_s();
		CK(cu.EventRecord(ev0, stream));
		for (int i = 0; i < reps; i++) {
			if (k == H2D)
				CK(cu.MemcpyHtoDAsync(dst, hsrc, size, stream));
			else
				CK(cu.MemcpyDtoDAsync(dst, dsrc, size, stream));
		}
		CK(cu.EventRecord(ev1, stream));
		CK(cu.EventSynchronize(ev1));
		double secs = now_s() - t0;
		float ms = 0;
		if (cu.EventElapsedTime(&ms, ev0, ev1) == CUDA_SUCCESS && ms > 0)
			secs = ms * 1e-3;
		double gbps = (double)size * reps / secs / 1e9;
		if (gbps > best)
			best = gbps;
	}
	return best;
}

static int detect(void)
{
	if (!load())
		return 1;
	if (strstr(lib_path, "fakecuda")) {
		printf("no real GPU: libcuda.so.1 is the tests' stand-in driver (%s)\n", lib_path);
		return 1;
	}
	CUresult r = cu.Init(0);
	if (r != CUDA_SUCCESS) {
		printf("no CUDA device: cuInit: %s (%d)\n", ename(r), r);
		return 1;
	}
	int n = 0;
	r = cu.DeviceGetCount(&n);
	if (r != CUDA_SUCCESS || n <= 0) {
		printf("no CUDA device: cuDeviceGetCount: %d devices (%s)\n", n, ename(r));
		return 1;
	}
	CUdevice d;
	char name[256] = "?";
	if (cu.DeviceGet(&d, 0) == CUDA_SUCCESS)
		cu.DeviceGetName(name, sizeof name, d);
	printf("gpu: %s (%d device%s, driver %s)\n", name, n, n > 1 ? "s" : "", lib_path);
	return 0;
}

int main(int argc, char **argv)
{
	int dev_ord = 0;
	size_t d2d_mib = 256, min_mib = 256;
	char sizes_arg[256] = "1,4,16,64";
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--detect"))
			return detect();
		else if (!strcmp(argv[i], "--device") && i + 1 < argc)
			dev_ord = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--sizes") && i + 1 < argc)
			snprintf(sizes_arg, sizeof sizes_arg, "%s", argv[++i]);
		else if (!strcmp(argv[i], "--d2d-mib") && i + 1 < argc)
			d2d_mib = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--min-mib") && i + 1 < argc)
			min_mib = strtoul(argv[++i], NULL, 10);
		else {
			fprintf(stderr, "usage: bw_probe [--detect] [--device N] [--sizes 1,4,16,64] [--d2d-mib M] [--min-mib M]\n");
			return 2;
		}
	}
	size_t sizes[16], n_sizes = 0, max_size = 0;
	for (char *tok = strtok(sizes_arg, ","); tok && n_sizes < 16; tok = strtok(NULL, ",")) {
		size_t mib = strtoul(tok, NULL, 10);
		if (!mib || mib > 4096) {
			fprintf(stderr, "bw_probe: --sizes: '%s' is not a size in MiB (1..4096)\n", tok);
			return 2;
		}
		sizes[n_sizes++] = mib << 20;
		if ((mib << 20) > max_size)
			max_size = mib << 20;
	}
	if (!n_sizes || !d2d_mib || !min_mib) {
		fprintf(stderr, "bw_probe: sizes must be positive\n");
		return 2;
	}
	if (!load())
		return 1;
	CK(cu.Init(0));
	CUdevice d;
	CUcontext ctx;
	CK(cu.DeviceGet(&d, dev_ord));
	char name[256] = "?";
	CK(cu.DeviceGetName(name, sizeof name, d));
	int maj = 0, min = 0, sms = 0;
	cu.DeviceGetAttribute(&maj, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, d);
	cu.DeviceGetAttribute(&min, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, d);
	cu.DeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, d);
	for (char *p = name; *p; p++)
		if (*p == ' ')
			*p = '_';
	printf("device %d %s cc %d.%d sms %d fake %d\n", dev_ord, name, maj, min, sms, strstr(lib_path, "fakecuda") != NULL);
	CK(cu.DevicePrimaryCtxRetain(&ctx, d));
	CK(cu.CtxSetCurrent(ctx));
	CK(cu.StreamCreate(&stream, CU_STREAM_NON_BLOCKING));
	CK(cu.EventCreate(&ev0, CU_EVENT_DEFAULT));
	CK(cu.EventCreate(&ev1, CU_EVENT_DEFAULT));
	size_t d2d = d2d_mib << 20, dsize = max_size > d2d ? max_size : d2d, min_bytes = min_mib << 20;
	CUdeviceptr dbuf, dbuf2;
	CK(cu.MemAlloc(&dbuf, dsize));
	CK(cu.MemAlloc(&dbuf2, d2d));
	/* host buffers, touched so pageable memory is really there before it is timed */
	char *pageable = malloc(max_size), *registered = aligned_alloc(4096, (max_size + 4095) & ~(size_t)4095);
	void *hostalloc = NULL;
	if (!pageable || !registered) {
		fprintf(stderr, "bw_probe: out of host memory\n");
		return 1;
	}
	memset(pageable, 1, max_size);
	memset(registered, 2, max_size);
	CK(cu.MemHostRegister(registered, (max_size + 4095) & ~(size_t)4095, CU_MEMHOSTREGISTER_PORTABLE));
	CK(cu.MemAllocHost(&hostalloc, max_size));
	memset(hostalloc, 3, max_size);
	double best = 0;
	for (size_t i = 0; i < n_sizes; i++) {
		static const char *names[3] = { "registered", "pageable", "hostalloc" };
		const void *src[3] = { registered, pageable, hostalloc };
		for (int k = 0; k < 3; k++) {
			double g = rate(H2D, dbuf, src[k], 0, sizes[i], min_bytes);
			printf("h2d %s %zu %.2f\n", names[k], sizes[i] >> 20, g);
			fflush(stdout);
			if (g > best)
				best = g;
		}
	}
	printf("d2d copy %zu %.2f\n", d2d >> 20, rate(D2D, dbuf2, NULL, dbuf, d2d, 4 * d2d));
	printf("best_h2d %.2f\n", best);
	CK(cu.MemHostUnregister(registered));
	CK(cu.MemFreeHost(hostalloc));
	CK(cu.MemFree(dbuf));
	CK(cu.MemFree(dbuf2));
	cu.EventDestroy(ev0);
	cu.EventDestroy(ev1);
	cu.StreamDestroy(stream);
	cu.DevicePrimaryCtxRelease(d);
	free(pageable);
	free(registered);
	return 0;
}
