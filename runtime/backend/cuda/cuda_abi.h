/* SPDX-License-Identifier: MIT */
/*
 * runtime/backend/cuda/cuda_abi.h — the slice of the CUDA Driver API ABI that sluice uses.
 *
 * Why not <cuda.h>: libsluice must build on machines with no CUDA toolkit (it loads libcuda.so.1
 * with dlopen at run time), and the stand-in driver of the tests (tests/fakecuda/) must build there
 * too.  The Driver API's ABI is stable: these types, enum values and signatures are the ones
 * cuda.h (CUDA 12/13) gives, checked against it by tests/build/test_cuda_abi.sh when the toolkit is
 * present.  Functions are looked up with cuGetProcAddress_v2(name, &pfn, SL_CUDA_API_VERSION, 0,
 * &status), which returns the newest ABI version of each name at or below that version: the
 * signatures below are those versions (cuMemAlloc = cuMemAlloc_v2 etc.).
 */
#ifndef SLUICE_CUDA_ABI_H
#define SLUICE_CUDA_ABI_H

#include <stddef.h>
#include <stdint.h>

#define SL_CUDA_API_VERSION 12000 /* the ABI asked of cuGetProcAddress: CUDA 12.0's */

typedef int CUresult;
typedef int CUdevice;
typedef uint64_t CUdeviceptr;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef struct CUevent_st *CUevent;
typedef uint64_t cuuint64_t;

enum {
	CUDA_SUCCESS = 0,
	CUDA_ERROR_INVALID_VALUE = 1,
	CUDA_ERROR_OUT_OF_MEMORY = 2,
	CUDA_ERROR_NOT_INITIALIZED = 3,
	CUDA_ERROR_DEINITIALIZED = 4,
	CUDA_ERROR_NO_DEVICE = 100,
	CUDA_ERROR_INVALID_DEVICE = 101,
	CUDA_ERROR_INVALID_IMAGE = 200,
	CUDA_ERROR_INVALID_CONTEXT = 201,
	CUDA_ERROR_NO_BINARY_FOR_GPU = 209,
	CUDA_ERROR_INVALID_PTX = 218,
	CUDA_ERROR_UNSUPPORTED_PTX_VERSION = 222,
	CUDA_ERROR_INVALID_HANDLE = 400,
	CUDA_ERROR_NOT_FOUND = 500,
	CUDA_ERROR_NOT_READY = 600,
	CUDA_ERROR_ILLEGAL_ADDRESS = 700,
	CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES = 701,
	CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED = 712,
	CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED = 713,
	CUDA_ERROR_LAUNCH_FAILED = 719,
	CUDA_ERROR_NOT_SUPPORTED = 801,
	CUDA_ERROR_UNKNOWN = 999,
};

/* cuGetProcAddress_v2 */
enum { CU_GET_PROC_ADDRESS_DEFAULT = 0 };
typedef enum {
	CU_GET_PROC_ADDRESS_SUCCESS = 0,
	CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND = 1,
	CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT = 2,
} CUdriverProcAddressQueryResult;

/* cuDeviceGetAttribute */
enum {
	CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
	CU_DEVICE_ATTRIBUTE_PCI_BUS_ID = 33,
	CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID = 34,
	CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE = 36,
	CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH = 37,
	CU_DEVICE_ATTRIBUTE_ASYNC_ENGINE_COUNT = 40,
	CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID = 50,
	CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
	CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
};

/* cuFuncGetAttribute */
enum { CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES = 3, CU_FUNC_ATTRIBUTE_NUM_REGS = 4 };

/* cuModuleLoadDataEx options */
enum { CU_JIT_ERROR_LOG_BUFFER = 5, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6 };

enum { CU_STREAM_DEFAULT = 0, CU_STREAM_NON_BLOCKING = 1 };
enum { CU_EVENT_DEFAULT = 0, CU_EVENT_BLOCKING_SYNC = 1, CU_EVENT_DISABLE_TIMING = 2 };
enum { CU_MEMHOSTREGISTER_PORTABLE = 1 };

/* The functions, as pointer types named after the API (fn_cuX). */
typedef CUresult (*fn_cuGetProcAddress_v2)(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags,
					   CUdriverProcAddressQueryResult *status);
typedef CUresult (*fn_cuGetProcAddress)(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags);
typedef CUresult (*fn_cuInit)(unsigned flags);
typedef CUresult (*fn_cuDriverGetVersion)(int *version);
typedef CUresult (*fn_cuGetErrorName)(CUresult e, const char **s);
typedef CUresult (*fn_cuGetErrorString)(CUresult e, const char **s);
typedef CUresult (*fn_cuDeviceGetCount)(int *n);
typedef CUresult (*fn_cuDeviceGet)(CUdevice *d, int ordinal);
typedef CUresult (*fn_cuDeviceGetName)(char *name, int len, CUdevice d);
typedef CUresult (*fn_cuDeviceGetAttribute)(int *v, int attr, CUdevice d);
typedef CUresult (*fn_cuDeviceTotalMem)(size_t *bytes, CUdevice d);
typedef CUresult (*fn_cuDeviceGetPCIBusId)(char *id, int len, CUdevice d);
typedef CUresult (*fn_cuDevicePrimaryCtxRetain)(CUcontext *ctx, CUdevice d);
typedef CUresult (*fn_cuDevicePrimaryCtxRelease)(CUdevice d);
typedef CUresult (*fn_cuCtxSetCurrent)(CUcontext ctx);
typedef CUresult (*fn_cuCtxSynchronize)(void);
typedef CUresult (*fn_cuMemGetInfo)(size_t *free_bytes, size_t *total_bytes);
typedef CUresult (*fn_cuMemAlloc)(CUdeviceptr *p, size_t size);
typedef CUresult (*fn_cuMemFree)(CUdeviceptr p);
typedef CUresult (*fn_cuMemAllocHost)(void **p, size_t size);
typedef CUresult (*fn_cuMemFreeHost)(void *p);
typedef CUresult (*fn_cuMemHostRegister)(void *p, size_t size, unsigned flags);
typedef CUresult (*fn_cuMemHostUnregister)(void *p);
typedef CUresult (*fn_cuMemcpyHtoDAsync)(CUdeviceptr dst, const void *src, size_t size, CUstream s);
typedef CUresult (*fn_cuMemcpyDtoHAsync)(void *dst, CUdeviceptr src, size_t size, CUstream s);
typedef CUresult (*fn_cuMemcpyDtoDAsync)(CUdeviceptr dst, CUdeviceptr src, size_t size, CUstream s);
typedef CUresult (*fn_cuMemsetD32Async)(CUdeviceptr dst, unsigned v, size_t n, CUstream s);
typedef CUresult (*fn_cuStreamCreate)(CUstream *s, unsigned flags);
typedef CUresult (*fn_cuStreamDestroy)(CUstream s);
typedef CUresult (*fn_cuStreamSynchronize)(CUstream s);
typedef CUresult (*fn_cuStreamQuery)(CUstream s);
typedef CUresult (*fn_cuStreamWaitEvent)(CUstream s, CUevent e, unsigned flags);
typedef CUresult (*fn_cuEventCreate)(CUevent *e, unsigned flags);
typedef CUresult (*fn_cuEventDestroy)(CUevent e);
typedef CUresult (*fn_cuEventRecord)(CUevent e, CUstream s);
typedef CUresult (*fn_cuEventQuery)(CUevent e);
typedef CUresult (*fn_cuEventSynchronize)(CUevent e);
typedef CUresult (*fn_cuEventElapsedTime)(float *ms, CUevent start, CUevent end);
typedef CUresult (*fn_cuModuleLoadData)(CUmodule *m, const void *image);
typedef CUresult (*fn_cuModuleLoadDataEx)(CUmodule *m, const void *image, unsigned n_opts, int *opts,
					  void **vals);
typedef CUresult (*fn_cuModuleUnload)(CUmodule m);
typedef CUresult (*fn_cuModuleGetFunction)(CUfunction *f, CUmodule m, const char *name);
typedef CUresult (*fn_cuFuncGetAttribute)(int *v, int attr, CUfunction f);
typedef CUresult (*fn_cuLaunchKernel)(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
				      unsigned bz, unsigned shmem, CUstream s, void **params, void **extra);

#endif
