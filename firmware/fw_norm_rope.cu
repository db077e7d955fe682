/* SPDX-License-Identifier: MIT */
/*
 * firmware/fw_norm_rope.cu — RMSNorm and RoPE, with the CPU backend's arithmetic
 * (runtime/backend/cpu/cpu_ops.c): the sum of squares in double, the rotation angle
 * pos * powf(base, -2d / n_rot).
 */
#include "firmware/fw_common.h"

/* grid (n), block 256: one row per block.  y may equal x (each element is read before written by
 * the same thread, after the reduction). */
FW_KERNEL sl_rmsnorm(float *y, const float *x, const float *w, long long dim, int n, float eps)
{
	__shared__ double red[32];
	const long long i = blockIdx.x;
	const float *xi = x + i * dim;
	float *yi = y + i * dim;
	const int t = threadIdx.x;
	double ss = 0;
	for (long long j = t; j < dim; j += blockDim.x)
		ss += (double)xi[j] * xi[j];
	ss = fw_block_sum_d(ss, red);
	const float scale = 1.0f / sqrtf((float)(ss / dim) + eps);
	for (long long j = t; j < dim; j += blockDim.x)
		yi[j] = xi[j] * scale * w[j];
}

/* grid (n_head, n), block 64: head blockIdx.x of token blockIdx.y; a thread per rotated pair.  ff is
 * NULL or n_rot / 2 per-pair frequency factors (Llama-3.1's rope_freqs): the angle is divided by
 * ff[d] after it is formed, as the CPU does, so both round alike. */
FW_KERNEL sl_rope(float *x, int n_head, int head_dim, int n_rot, int pos0, int n, float freq_base, int neox,
		  const float *ff)
{
	const int h = blockIdx.x, i = blockIdx.y;
	const float pos = (float)(pos0 + i);
	float *v = x + ((long long)i * n_head + h) * head_dim;
	for (int d = threadIdx.x; d < n_rot / 2; d += blockDim.x) {
		float theta = pos * powf(freq_base, -2.0f * (float)d / (float)n_rot);
		if (ff)
			theta /= ff[d];
		const float cs = cosf(theta), sn = sinf(theta);
		const int i0 = neox ? d : 2 * d;
		const int i1 = neox ? d + n_rot / 2 : 2 * d + 1;
		const float a = v[i0], c = v[i1];
		v[i0] = a * cs - c * sn;
		v[i1] = a * sn + c * cs;
	}
}
