/* SPDX-License-Identifier: MIT */
/*
 * firmware/simt/simt_device.h — what a kernel sees when the host C compiler builds the firmware .cu files:
 * the CUDA built-ins the firmware uses, implemented on the fibers of firmware/simt/simt_fiber.c.
 *
 * threadIdx/blockIdx/blockDim/gridDim read the running fiber's state; __shared__ is static storage
 * per OS thread (a launch runs all of a block's fibers on one OS thread, blocks one after another,
 * so that is exactly "shared by the block"); barriers and warp collectives switch fibers.  Warp
 * collectives assume every live lane of the warp takes part (the firmware only uses full-warp
 * collectives, mask 0xffffffff); a lane that has returned no longer counts.
 */
#ifndef SLUICE_SIMT_DEVICE_H
#define SLUICE_SIMT_DEVICE_H

#include <math.h>
#include <stdint.h>
#include <string.h>

struct simt_uint3 {
	unsigned x, y, z;
};

/* The state of the running fiber and its block (simt_fiber.c). */
struct simt_thread_view {
	struct simt_uint3 tid, bid, bdim, gdim;
};
extern _Thread_local const struct simt_thread_view *simt_view;

#define threadIdx (simt_view->tid)
#define blockIdx (simt_view->bid)
#define blockDim (simt_view->bdim)
#define gridDim (simt_view->gdim)
#define warpSize 32

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ restrict
#define __launch_bounds__(...)
#define __shared__ static _Thread_local

void simt_syncthreads(void);
/* Every live lane of the warp deposits v; returns the value lane src deposited (v itself when src
 * is outside the warp or has returned). */
uint64_t simt_warp_exchange(uint64_t v, int src);
/* This fiber's lane in its warp. */
int simt_lane(void);
/* Every live lane deposits pred; returns the ballot of the warp. */
unsigned simt_warp_ballot(int pred);
/* The lanes that took part in this lane's last collective. */
unsigned simt_warp_live_mask(void);

#define __syncthreads() simt_syncthreads()
#define __syncwarp(...) ((void)simt_warp_ballot(0))

static inline uint64_t simt_bits_f(float v) { uint32_t u; memcpy(&u, &v, 4); return u; }
static inline float simt_f_bits(uint64_t b) { uint32_t u = (uint32_t)b; float v; memcpy(&v, &u, 4); return v; }
static inline uint64_t simt_bits_d(double v) { uint64_t u; memcpy(&u, &v, 8); return u; }
static inline double simt_d_bits(uint64_t b) { double v; memcpy(&v, &b, 8); return v; }

#define SIMT_SHFL_DEFS(suffix, T)                                                                          \
	static inline T simt_shfl_xor_##suffix(unsigned m, T v, int x) { (void)m; SIMT_XCHG(T, v, simt_lane() ^ x); } \
	static inline T simt_shfl_down_##suffix(unsigned m, T v, int d) { (void)m; SIMT_XCHG(T, v, simt_lane() + d); } \
	static inline T simt_shfl_up_##suffix(unsigned m, T v, int d) { (void)m; SIMT_XCHG(T, v, simt_lane() - d); } \
	static inline T simt_shfl_idx_##suffix(unsigned m, T v, int l) { (void)m; SIMT_XCHG(T, v, l & 31); }

#define SIMT_XCHG(T, v, src)                                                                              \
	do {                                                                                                   \
		uint64_t b_ = 0;                                                                               \
		memcpy(&b_, &(v), sizeof(T));                                                                  \
		b_ = simt_warp_exchange(b_, (src));                                                            \
		T r_;                                                                                          \
		memcpy(&r_, &b_, sizeof(T));                                                                   \
		return r_;                                                                                     \
	} while (0)

SIMT_SHFL_DEFS(f, float)
SIMT_SHFL_DEFS(d, double)
SIMT_SHFL_DEFS(i, int)
SIMT_SHFL_DEFS(u, unsigned)
SIMT_SHFL_DEFS(ll, long long)

/* CUDA overloads these on the value's type; C11 picks by _Generic. */
#define SIMT_PICK(op, v)                                                                                  \
	_Generic((v), float: simt_shfl_##op##_f, double: simt_shfl_##op##_d, int: simt_shfl_##op##_i,          \
		 unsigned: simt_shfl_##op##_u, long long: simt_shfl_##op##_ll)
#define __shfl_xor_sync(m, v, x) SIMT_PICK(xor, v)(m, v, x)
#define __shfl_down_sync(m, v, d) SIMT_PICK(down, v)(m, v, d)
#define __shfl_up_sync(m, v, d) SIMT_PICK(up, v)(m, v, d)
#define __shfl_sync(m, v, l) SIMT_PICK(idx, v)(m, v, l)
#define __ballot_sync(m, p) simt_warp_ballot(!!(p))
#define __any_sync(m, p) (simt_warp_ballot(!!(p)) != 0u)
static inline int simt_warp_all(int pred)
{
	const unsigned b = simt_warp_ballot(pred);
	return b == simt_warp_live_mask(); /* the lanes of that same ballot */
}
#define __all_sync(m, p) simt_warp_all(!!(p))

/* Signed byte-wise dot product plus accumulator, as the hardware's dp4a. */
static inline int __dp4a(int a, int b, int c)
{
	for (int i = 0; i < 4; i++)
		c += (int)(int8_t)(uint8_t)((unsigned)a >> (8 * i)) * (int)(int8_t)(uint8_t)((unsigned)b >> (8 * i));
	return c;
}

/* IEEE half <-> float, round to nearest even (what the device's cvt.rn does). */
static inline float simt_half_to_float(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
	if (exp == 0) {
		if (mant == 0) {
			bits = sign;
		} else {
			int e = -1;
			do {
				e++;
				mant <<= 1;
			} while (!(mant & 0x400));
			bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
		}
	} else if (exp == 31) {
		bits = sign | 0x7f800000u | (mant << 13);
	} else {
		bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
	}
	float f;
	memcpy(&f, &bits, 4);
	return f;
}

static inline uint16_t simt_float_to_half(float f)
{
	const float scale_to_inf = 0x1.0p+112f, scale_to_zero = 0x1.0p-110f;
	float base = (fabsf(f) * scale_to_inf) * scale_to_zero;
	uint32_t w;
	memcpy(&w, &f, 4);
	const uint32_t shl1_w = w + w, sign = w & 0x80000000u;
	uint32_t bias = shl1_w & 0xFF000000u;
	if (bias < 0x71000000u)
		bias = 0x71000000u;
	uint32_t bb = (bias >> 1) + 0x07800000u;
	float bf;
	memcpy(&bf, &bb, 4);
	base = bf + base;
	uint32_t bits;
	memcpy(&bits, &base, 4);
	const uint32_t nonsign = ((bits >> 13) & 0x00007C00u) + (bits & 0x00000FFFu);
	return (uint16_t)((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

#endif
