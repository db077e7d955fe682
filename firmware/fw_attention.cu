/* SPDX-License-Identifier: MIT */
/*
 * firmware/fw_attention.cu — causal attention with GQA over the KV cache, decode and prompt alike.
 *
 * grid (n_head, n), block 128 (4 warps).  Query token i (position pos0 + i) of head h attends to
 * cache rows 0..pos0+i of kv head h / (n_head / n_head_kv).  Warp w takes positions 4w.., 4w+16..,
 * ..., 4 at a time (their K rows load together); the 32 lanes split the head's dims (up to 8 each,
 * head_dim <= 256), take q·k by a shuffle sum and keep an online softmax (running max m, running
 * sum l, output accumulator rescaled when m grows), so any context length runs in registers.  The 4 warps' (m, l, acc) are merged through shared
 * memory at the end.  The CPU computes the same softmax(q·k * scale)·V in another order; the
 * difference is float rounding.
 */
#include "firmware/fw_common.h"

#define FW_ATTN_WARPS (SL_FW_ATTN_BLOCK / 32)
#define FW_ATTN_PER_LANE (SL_FW_MAX_HEAD_DIM / 32)
#define FW_ATTN_CHUNK 4

FW_KERNEL sl_attention(float *out, const float *q, const float *kc, const float *vc, int n_head, int n_head_kv,
		       int head_dim, int pos0, int n, float scale)
{
	__shared__ float s_m[FW_ATTN_WARPS], s_l[FW_ATTN_WARPS];
	__shared__ float s_acc[FW_ATTN_WARPS][SL_FW_MAX_HEAD_DIM];
	const int h = blockIdx.x, i = blockIdx.y;
	const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	const int kvh = h / (n_head / n_head_kv);
	const int len = pos0 + i + 1;
	const long long q_stride = (long long)n_head * head_dim, kv_stride = (long long)n_head_kv * head_dim;
	const float *qh = q + i * q_stride + (long long)h * head_dim;

	float qv[FW_ATTN_PER_LANE], acc[FW_ATTN_PER_LANE];
	FW_UNROLL
	for (int k = 0; k < FW_ATTN_PER_LANE; k++) {
		const int d = k * 32 + lane;
		qv[k] = d < head_dim ? qh[d] : 0.0f;
		acc[k] = 0.0f;
	}
	float m = -fw_u2f(0x7f800000u), l = 0.0f;
	/* FW_ATTN_CHUNK positions at a time: their K rows are independent loads, in flight together */
	for (int p0 = warp * FW_ATTN_CHUNK; p0 < len; p0 += FW_ATTN_CHUNK * FW_ATTN_WARPS) {
		float s[FW_ATTN_CHUNK];
		FW_UNROLL
		for (int j = 0; j < FW_ATTN_CHUNK; j++) {
			s[j] = 0.0f;
			if (p0 + j < len) {
				const float *kp = kc + (p0 + j) * kv_stride + (long long)kvh * head_dim;
				FW_UNROLL
				for (int k = 0; k < FW_ATTN_PER_LANE; k++) {
					const int d = k * 32 + lane;
					if (d < head_dim)
						s[j] += qv[k] * kp[d];
				}
			}
		}
		float mn = m;
		FW_UNROLL
		for (int j = 0; j < FW_ATTN_CHUNK; j++) {
			s[j] = fw_warp_sum(s[j]) * scale; /* warp-uniform: every lane takes part */
			if (p0 + j < len)
				mn = fmaxf(mn, s[j]);
		}
		const float corr = expf(m - mn);
		l *= corr;
		FW_UNROLL
		for (int k = 0; k < FW_ATTN_PER_LANE; k++)
			acc[k] *= corr;
		FW_UNROLL
		for (int j = 0; j < FW_ATTN_CHUNK; j++) {
			if (p0 + j < len) {
				const float e = expf(s[j] - mn);
				const float *vp = vc + (p0 + j) * kv_stride + (long long)kvh * head_dim;
				l += e;
				FW_UNROLL
				for (int k = 0; k < FW_ATTN_PER_LANE; k++) {
					const int d = k * 32 + lane;
					if (d < head_dim)
						acc[k] += e * vp[d];
				}
			}
		}
		m = mn;
	}
	if (lane == 0) {
		s_m[warp] = m;
		s_l[warp] = l;
	}
	FW_UNROLL
	for (int k = 0; k < FW_ATTN_PER_LANE; k++) {
		const int d = k * 32 + lane;
		if (d < head_dim)
			s_acc[warp][d] = acc[k];
	}
	__syncthreads();
	/* merge: a warp that saw no position has m = -inf and weight 0 */
	float mx = s_m[0];
	for (int w = 1; w < FW_ATTN_WARPS; w++)
		mx = fmaxf(mx, s_m[w]);
	float wsum = 0.0f, wt[FW_ATTN_WARPS];
	FW_UNROLL
	for (int w = 0; w < FW_ATTN_WARPS; w++) {
		wt[w] = s_l[w] > 0.0f ? expf(s_m[w] - mx) : 0.0f;
		wsum += s_l[w] * wt[w];
	}
	const float inv = 1.0f / wsum;
	float *o = out + i * q_stride + (long long)h * head_dim;
	for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
		float v = 0.0f;
		FW_UNROLL
		for (int w = 0; w < FW_ATTN_WARPS; w++)
			v += s_acc[w][d] * wt[w];
		o[d] = v * inv;
	}
}
