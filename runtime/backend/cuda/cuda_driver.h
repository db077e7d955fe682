/* SPDX-License-Identifier: MIT */
/*
 * runtime/backend/cuda/cuda_driver.h — libcuda.so.1, loaded at run time.
 *
 * The library never links against CUDA: it dlopen()s the driver the first time a CUDA backend is
 * asked for and looks every function up through cuGetProcAddress at SL_CUDA_API_VERSION (so each
 * name resolves to the ABI version cuda_abi.h declares).  A machine without the driver, or with
 * the driver but no device, gets a message saying which, and the CPU backends are untouched.
 */
#ifndef SLUICE_CUDA_DRIVER_H
#define SLUICE_CUDA_DRIVER_H

#include "internal.h"
#include "backend/cuda/cuda_abi.h"

/* One member per Driver API function sluice calls, named as the API names it. */
#define SL_CUDA_FUNCS(X) \
	X(cuInit) X(cuDriverGetVersion) X(cuGetErrorName) X(cuGetErrorString) X(cuDeviceGetCount) \
	X(cuDeviceGet) X(cuDeviceGetName) X(cuDeviceGetAttribute) X(cuDeviceTotalMem) X(cuDeviceGetPCIBusId) \
	X(cuDevicePrimaryCtxRetain) X(cuDevicePrimaryCtxRelease) X(cuCtxSetCurrent) X(cuCtxSynchronize) \
	X(cuMemGetInfo) X(cuMemAlloc) X(cuMemFree) X(cuMemAllocHost) X(cuMemFreeHost) X(cuMemHostRegister) \
	X(cuMemHostUnregister) X(cuMemcpyHtoDAsync) X(cuMemcpyDtoHAsync) X(cuMemcpyDtoDAsync) \
	X(cuMemsetD32Async) X(cuStreamCreate) X(cuStreamDestroy) X(cuStreamSynchronize) X(cuStreamQuery) \
	X(cuStreamWaitEvent) X(cuEventCreate) X(cuEventDestroy) X(cuEventRecord) X(cuEventQuery) \
	X(cuEventSynchronize) X(cuEventElapsedTime) X(cuModuleLoadData) X(cuModuleLoadDataEx) \
	X(cuModuleUnload) X(cuModuleGetFunction) X(cuFuncGetAttribute) X(cuLaunchKernel)

struct sl_cuda {
#define SL_CUDA_MEMBER(name) fn_##name name;
	SL_CUDA_FUNCS(SL_CUDA_MEMBER)
#undef SL_CUDA_MEMBER
	int n_devices;
	int version; /* cuDriverGetVersion, e.g. 12040 */
};

/*
 * The driver, loaded and initialised once per process (later calls return the same result):
 * 0 and *out, or -ENODEV with "no CUDA driver (libcuda.so.1: <dlerror>)" / "no CUDA device (...)",
 * or -ENOSYS when the driver lacks a function sluice needs.
 */
int sl_cuda_driver(const struct sl_cuda **out, struct sl_err *err);

/* Describe a failed call: "<what>: CUDA_ERROR_X: <driver's text>" into err; returns the negative
 * errno that fits (-ENOMEM for out of memory, -ENODEV for no device, else -EIO). */
int sl_cuda_fail(const struct sl_cuda *cu, CUresult r, struct sl_err *err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
