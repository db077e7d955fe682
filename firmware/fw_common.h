/* SPDX-License-Identifier: MIT */
/*
 * firmware/fw_common.h — what every firmware source shares, for both compilers: nvcc (CUDA C++, to
 * PTX) and the host C compiler against the SIMT shim (firmware/simt/simt_device.h).
 *
 * The firmware is written in the subset of CUDA C that is also C11: no templates, classes, overloads
 * or references; per-type variants are made with macros.  Quantized blocks are read as bytes at
 * offsets (ggml's layouts, runtime/quant/blocks.h), never through structs, because most block sizes
 * (18, 22, 34, 110, 210 bytes) leave the fields only 2-byte aligned.
 */
#ifndef SLUICE_FW_COMMON_H
#define SLUICE_FW_COMMON_H

#include "firmware/kernels.h"

#ifdef __CUDACC__
#define FW_KERNEL extern "C" __global__ void
#define FW_FN static __device__ __forceinline__
#define FW_UNROLL _Pragma("unroll")
#define FW_UNROLL_N(k) _Pragma(FW_STR_(unroll k))
#define FW_STR_(x) #x
#define FW_RESTRICT __restrict__

typedef unsigned char fw_u8;
typedef signed char fw_i8;
typedef unsigned short fw_u16;

FW_FN float fw_h2f(fw_u16 h)
{
	float f;
	asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
	return f;
}
FW_FN fw_u16 fw_f2h(float f)
{
	fw_u16 h;
	asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
	return h;
}
FW_FN unsigned fw_f2u(float f) { return __float_as_uint(f); }
FW_FN float fw_u2f(unsigned u) { return __uint_as_float(u); }
#else
#include "firmware/simt/simt_device.h"
#define FW_KERNEL void
#define FW_FN static inline
#define FW_UNROLL
#define FW_UNROLL_N(k)
#define FW_RESTRICT restrict

typedef unsigned char fw_u8;
typedef signed char fw_i8;
typedef unsigned short fw_u16;

FW_FN float fw_h2f(fw_u16 h) { return simt_half_to_float(h); }
FW_FN fw_u16 fw_f2h(float f) { return simt_float_to_half(f); }
FW_FN unsigned fw_f2u(float f) { unsigned u; memcpy(&u, &f, 4); return u; }
FW_FN float fw_u2f(unsigned u) { float f; memcpy(&f, &u, 4); return f; }

/* Prototypes of every kernel, so a definition that disagrees with fw_kernels.inc does not compile. */
#include "firmware/fw_kernels.inc"
#define FW_APPLY_(m, ...) m(__VA_ARGS__)
#define FW_DROP1_(x, ...) __VA_ARGS__
#define FW_PARAM_(t, n) , t n
#define FW_PROTO_(name, SIG) void name(FW_APPLY_(FW_DROP1_, 0 FW_SIG_##SIG(FW_PARAM_)));
FW_KERNEL_LIST(FW_PROTO_)
#endif

/* bf16: the top half of a float; rounding to nearest even, NaN kept quiet (runtime/quant/fp16.c). */
FW_FN float fw_bf2f(fw_u16 h) { return fw_u2f((unsigned)h << 16); }
FW_FN fw_u16 fw_f2bf(float f)
{
	unsigned u = fw_f2u(f);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (fw_u16)((u >> 16) | 64);
	return (fw_u16)((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}

/* Little-endian loads from a byte address: 2-byte aligned for the 16/32-bit loads marked _a2.  Only
 * for memory no thread of the kernel writes (weights, converted activations): on the device they go
 * through the read-only data path (ld.global.nc). */
FW_FN fw_u16 fw_ld16(const fw_u8 *p)
{
#ifdef __CUDACC__
	return __ldg((const fw_u16 *)p);
#else
	fw_u16 v;
	memcpy(&v, p, 2);
	return v;
#endif
}
FW_FN int fw_ld32_a2(const fw_u8 *p)
{
#ifdef __CUDACC__
	const fw_u16 *q = (const fw_u16 *)p;
	return (int)((unsigned)__ldg(q) | ((unsigned)__ldg(q + 1) << 16));
#else
	int v;
	memcpy(&v, p, 4);
	return v;
#endif
}
FW_FN int fw_ld32_a4(const fw_u8 *p)
{
#ifdef __CUDACC__
	return __ldg((const int *)p);
#else
	int v;
	memcpy(&v, p, 4);
	return v;
#endif
}
FW_FN float fw_ldf(const fw_u8 *p) { return fw_u2f((unsigned)fw_ld32_a4(p)); }
FW_FN float fw_ldh(const fw_u8 *p) { return fw_h2f(fw_ld16(p)); }

FW_FN void fw_st16(fw_u8 *p, fw_u16 v)
{
#ifdef __CUDACC__
	*(fw_u16 *)p = v;
#else
	memcpy(p, &v, 2);
#endif
}

/* Warp reductions: every lane gets the result. */
FW_FN float fw_warp_sum(float v)
{
	FW_UNROLL
	for (int m = 16; m > 0; m >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, m);
	return v;
}
FW_FN double fw_warp_sum_d(double v)
{
	FW_UNROLL
	for (int m = 16; m > 0; m >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, m);
	return v;
}
FW_FN int fw_warp_sum_i(int v)
{
	FW_UNROLL
	for (int m = 16; m > 0; m >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, m);
	return v;
}
FW_FN float fw_warp_max(float v)
{
	FW_UNROLL
	for (int m = 16; m > 0; m >>= 1)
		v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, m));
	return v;
}

/* Sum over a 256-thread block (every thread gets it); red: __shared__ float[32]. */
FW_FN float fw_block_sum(float v, float *red)
{
	const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	v = fw_warp_sum(v);
	__syncthreads(); /* red may still be read from a previous call */
	if (lane == 0)
		red[warp] = v;
	__syncthreads();
	v = lane < (int)(blockDim.x >> 5) ? red[lane] : 0.0f;
	return fw_warp_sum(v);
}
/* fw_block_sum in double, for the rmsnorms' sums of squares (red: __shared__ double[32]).  No
 * barrier before red is written: every caller reduces once per kernel, so nothing can still read it. */
FW_FN double fw_block_sum_d(double v, double *red)
{
	const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	v = fw_warp_sum_d(v);
	if (lane == 0)
		red[warp] = v;
	__syncthreads();
	v = lane < (int)(blockDim.x >> 5) ? red[lane] : 0.0;
	return fw_warp_sum_d(v);
}
FW_FN float fw_block_max(float v, float *red)
{
	const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	v = fw_warp_max(v);
	__syncthreads();
	if (lane == 0)
		red[warp] = v;
	__syncthreads();
	v = lane < (int)(blockDim.x >> 5) ? red[lane] : -fw_u2f(0x7f800000u);
	return fw_warp_max(v);
}

#endif
