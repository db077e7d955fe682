/* SPDX-License-Identifier: MIT */
/*
 * firmware/fw_attention_split.cu — decode attention for long contexts, split-K ("flash-decoding").
 *
 * sl_attention runs one block per query head and walks the whole context in it: at decode that is
 * n_head blocks on a GPU of 132 SMs, each reading its kv head's rows again for every query head of
 * the group.  Here the context is cut into chunks across blocks (grid.y), and a block takes up to
 * SL_FW_SPLIT_HEADS query heads of one kv head, so each K/V row it loads serves all of them.  Each
 * block leaves a partial (max score m, sum l of exp(s - m), sum of exp(s - m) v) per head and chunk;
 * sl_attention_combine merges the chunks by rescaling them to the largest m.
 *
 * Inside a block the walk is sl_attention's: warp w takes positions 4w.., 4 at a time, lanes split
 * the head's dims (up to 8 each), online softmax in registers, the 4 warps merged in shared memory.
 */
#include "firmware/fw_common.h"

#define FW_SPLIT_WARPS 4
#define FW_SPLIT_PL (SL_FW_MAX_HEAD_DIM / 32)
#define FW_SPLIT_CH 4
#define FW_SPLIT_H SL_FW_SPLIT_HEADS

FW_KERNEL sl_attention_split(float *part, const float *q, const float *kc, const float *vc, int n_head, int n_head_kv,
			     int head_dim, int len, int chunk, float scale)
{
	__shared__ float s_m[FW_SPLIT_WARPS][FW_SPLIT_H], s_l[FW_SPLIT_WARPS][FW_SPLIT_H];
	__shared__ float s_acc[FW_SPLIT_WARPS][FW_SPLIT_H][SL_FW_MAX_HEAD_DIM];
	const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	const int G = n_head / n_head_kv, B = (G + FW_SPLIT_H - 1) / FW_SPLIT_H;
	const int kvh = blockIdx.x / B, h0 = kvh * G + (int)(blockIdx.x % B) * FW_SPLIT_H;
	const int nh = kvh * G + G - h0 < FW_SPLIT_H ? kvh * G + G - h0 : FW_SPLIT_H;
	const int j = blockIdx.y, n_chunks = gridDim.y;
	const int p_lo = j * chunk, p_hi = len < p_lo + chunk ? len : p_lo + chunk;
	const long long kv_stride = (long long)n_head_kv * head_dim;

	float qv[FW_SPLIT_H][FW_SPLIT_PL], acc[FW_SPLIT_H][FW_SPLIT_PL], m[FW_SPLIT_H], l[FW_SPLIT_H];
	FW_UNROLL
	for (int hh = 0; hh < FW_SPLIT_H; hh++) {
		m[hh] = -fw_u2f(0x7f800000u);
		l[hh] = 0.0f;
		FW_UNROLL
		for (int k = 0; k < FW_SPLIT_PL; k++) {
			const int d = k * 32 + lane;
			qv[hh][k] = hh < nh && d < head_dim ? q[(long long)(h0 + hh) * head_dim + d] : 0.0f;
			acc[hh][k] = 0.0f;
		}
	}
	for (int p0 = p_lo + warp * FW_SPLIT_CH; p0 < p_hi; p0 += FW_SPLIT_CH * FW_SPLIT_WARPS) {
		float s[FW_SPLIT_CH][FW_SPLIT_H];
		FW_UNROLL
		for (int c = 0; c < FW_SPLIT_CH; c++) {
			FW_UNROLL
			for (int hh = 0; hh < FW_SPLIT_H; hh++)
				s[c][hh] = 0.0f;
			if (p0 + c < p_hi) {
				const float *kp = kc + (p0 + c) * kv_stride + (long long)kvh * head_dim;
				FW_UNROLL
				for (int k = 0; k < FW_SPLIT_PL; k++) {
					const int d = k * 32 + lane;
					if (d < head_dim) {
						const float kd = kp[d];
						FW_UNROLL
						for (int hh = 0; hh < FW_SPLIT_H; hh++)
							s[c][hh] += qv[hh][k] * kd;
					}
				}
			}
		}
		FW_UNROLL
		for (int hh = 0; hh < FW_SPLIT_H; hh++) {
			float mn = m[hh];
			FW_UNROLL
			for (int c = 0; c < FW_SPLIT_CH; c++) {
				s[c][hh] = fw_warp_sum(s[c][hh]) * scale; /* warp-uniform */
				if (p0 + c < p_hi)
					mn = fmaxf(mn, s[c][hh]);
			}
			const float corr = expf(m[hh] - mn);
			l[hh] *= corr;
			FW_UNROLL
			for (int k = 0; k < FW_SPLIT_PL; k++)
				acc[hh][k] *= corr;
			FW_UNROLL
			for (int c = 0; c < FW_SPLIT_CH; c++) {
				/* the weight, 0 for a position past the chunk */
				s[c][hh] = p0 + c < p_hi ? expf(s[c][hh] - mn) : 0.0f;
				l[hh] += s[c][hh];
			}
			m[hh] = mn;
		}
		FW_UNROLL
		for (int c = 0; c < FW_SPLIT_CH; c++) {
			if (p0 + c < p_hi) {
				const float *vp = vc + (p0 + c) * kv_stride + (long long)kvh * head_dim;
				FW_UNROLL
				for (int k = 0; k < FW_SPLIT_PL; k++) {
					const int d = k * 32 + lane;
					if (d < head_dim) {
						const float vd = vp[d];
						FW_UNROLL
						for (int hh = 0; hh < FW_SPLIT_H; hh++)
							acc[hh][k] += s[c][hh] * vd;
					}
				}
			}
		}
	}
	FW_UNROLL
	for (int hh = 0; hh < FW_SPLIT_H; hh++) {
		if (lane == 0) {
			s_m[warp][hh] = m[hh];
			s_l[warp][hh] = l[hh];
		}
		FW_UNROLL
		for (int k = 0; k < FW_SPLIT_PL; k++) {
			const int d = k * 32 + lane;
			if (d < head_dim)
				s_acc[warp][hh][d] = acc[hh][k];
		}
	}
	__syncthreads();
	/* merge the warps: one (m, l, acc) per head of this chunk; a warp that saw no position has
	 * l = 0 and weight 0 */
	const int stride = head_dim + 2;
	for (int e = threadIdx.x; e < nh * stride; e += blockDim.x) {
		const int hh = e / stride, d = e % stride;
		float mx = s_m[0][hh];
		for (int w = 1; w < FW_SPLIT_WARPS; w++)
			mx = fmaxf(mx, s_m[w][hh]);
		float v = 0.0f;
		for (int w = 0; w < FW_SPLIT_WARPS; w++) {
			const float wt = s_l[w][hh] > 0.0f ? expf(s_m[w][hh] - mx) : 0.0f;
			v += (d == 0 ? 0.0f : d == 1 ? s_l[w][hh] : s_acc[w][hh][d - 2]) * wt;
		}
		part[((long long)(h0 + hh) * n_chunks + j) * stride + d] = d == 0 ? mx : v;
	}
}

/* grid (n_head), block 128: out_h = sum_j w_j acc_j / sum_j w_j l_j, w_j = exp(m_j - max m).  A
 * chunk is never empty (n_chunks = ceil(len / chunk)), so every l_j > 0. */
FW_KERNEL sl_attention_combine(float *out, const float *part, int n_head, int head_dim, int n_chunks)
{
	const int h = blockIdx.x, stride = head_dim + 2;
	const float *ph = part + (long long)h * n_chunks * stride;
	float mx = ph[0];
	for (int j = 1; j < n_chunks; j++)
		mx = fmaxf(mx, ph[(long long)j * stride]);
	float den = 0.0f;
	for (int j = 0; j < n_chunks; j++)
		den += ph[(long long)j * stride + 1] * expf(ph[(long long)j * stride] - mx);
	const float inv = 1.0f / den;
	for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
		float v = 0.0f;
		for (int j = 0; j < n_chunks; j++)
			v += ph[(long long)j * stride + 2 + d] * expf(ph[(long long)j * stride] - mx);
		out[(long long)h * head_dim + d] = v * inv;
	}
	(void)n_head;
}
