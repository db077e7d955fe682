/* SPDX-License-Identifier: MIT */
/*
 * firmware/fw_elementwise.cu — SwiGLU's silu(gate) * up, the residual/bias add, and a row softmax.
 * silu_mul and add: grid (min(ceil(n / 256), 65535)), block 256, grid-stride.  softmax: a block per
 * row.  Arithmetic as runtime/backend/cpu/cpu_ops.c.
 */
#include "firmware/fw_common.h"

FW_KERNEL sl_silu_mul(float *gate, const float *up, long long n)
{
	const long long stride = (long long)gridDim.x * blockDim.x;
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
		const float g = gate[i];
		gate[i] = g / (1.0f + expf(-g)) * up[i];
	}
}

FW_KERNEL sl_add(float *y, const float *x, long long n, long long n_x)
{
	const long long stride = (long long)gridDim.x * blockDim.x;
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
		y[i] += x[i % n_x];
}

FW_KERNEL sl_softmax(float *x, long long cols, int rows)
{
	__shared__ float red[32];
	float *r = x + (long long)blockIdx.x * cols;
	float mx = -fw_u2f(0x7f800000u);
	for (long long j = threadIdx.x; j < cols; j += blockDim.x)
		mx = fmaxf(mx, r[j]);
	mx = fw_block_max(mx, red);
	float sum = 0.0f;
	for (long long j = threadIdx.x; j < cols; j += blockDim.x) {
		const float e = expf(r[j] - mx);
		r[j] = e;
		sum += e;
	}
	sum = fw_block_sum(sum, red);
	const float inv = 1.0f / sum;
	for (long long j = threadIdx.x; j < cols; j += blockDim.x)
		r[j] *= inv;
}
