/* SPDX-License-Identifier: MIT */
/*
 * firmware/rope_pairs.h — deepseek2's rope on adjacent pairs (llama.cpp's NORM rope), the one source
 * of this arithmetic for the firmware (nvcc, and the host compiler under the SIMT shim) and for the
 * CPU backend (runtime/backend/cpu/cpu_ops.c), so the device and the host rotate the latent cache
 * rows and the queries with the same expression and their greedy tokens agree.
 */
#ifndef SLUICE_FIRMWARE_ROPE_PAIRS_H
#define SLUICE_FIRMWARE_ROPE_PAIRS_H

#ifdef __CUDACC__
#define SL_ROPE_FN static __device__ __forceinline__
#else
#include <math.h>
#define SL_ROPE_FN static inline
#endif

/* Rotate pair d of v (v[2d], v[2d + 1]) to position pos, the angle divided by ff[d] when ff is
 * given.  fw_mla.cu's query prep calls it for one pair per thread. */
SL_ROPE_FN void sl_rope_pair(float *v, int d, int d_rope, float pos, float freq_base, const float *ff)
{
	float theta = pos * powf(freq_base, -2.0f * (float)d / (float)d_rope);
	if (ff)
		theta /= ff[d];
	const float cs = cosf(theta), sn = sinf(theta), a = v[2 * d], b = v[2 * d + 1];
	v[2 * d] = a * cs - b * sn;
	v[2 * d + 1] = a * sn + b * cs;
}

/* Rotate adjacent pairs of v[0, d_rope) as above.  The caller's thread t0 of step takes pairs t0,
 * t0 + step, ... (the CPU passes 0, 1). */
SL_ROPE_FN void sl_rope_pairs(float *v, int d_rope, float pos, float freq_base, const float *ff, int t0, int step)
{
	for (int d = t0; d < d_rope / 2; d += step)
		sl_rope_pair(v, d, d_rope, pos, freq_base, ff);
}

#endif
