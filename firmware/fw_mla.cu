/* SPDX-License-Identifier: MIT */
/*
 * firmware/fw_mla.cu — deepseek2's ops: the latent cache rows (mla_kv), absorbed multi-head latent
 * attention (mla_attention) and the weighted sum of routed experts (add_rows), with the CPU
 * backend's arithmetic (runtime/backend/cpu/cpu_ops.c).
 *
 * Weights are read element by element with get_rows' dequantization (fw_deq_*, bit-exact with
 * to_float), as the CPU converts them to floats before its dots: the same numbers go into the
 * products, only the order of the float sums differs.  The type is a parameter (ggml's number),
 * not a kernel per type: the weight reads here are a small part of a deepseek2 layer (the experts'
 * matmuls are the bulk), and 13 x 13 kernels for every (wk, wv) pair would buy little.
 *
 * Included by firmware.cu after fw_get_rows.cu, whose fw_deq_* it uses.
 */
#include "firmware/fw_common.h"
#include "firmware/rope_pairs.h"

#define FW_MLA_WARPS (SL_FW_MLA_BLOCK / 32)
#define FW_MLA_PL (SL_FW_MLA_MAX_LORA / 32) /* latent dims per lane */
#define FW_MLA_PR (SL_FW_MLA_MAX_ROPE / 32) /* rope dims per lane */
#define FW_MLA_CHUNK 4

/* A weight type's block: QK elements in BYTES bytes.  X(number, tag, QK, BYTES). */
#define FW_MLA_TYPES(X)                                                                      \
	X(0, f32, 1, 4) X(1, f16, 1, 2) X(2, q4_0, 32, 18) X(3, q4_1, 32, 20) X(6, q5_0, 32, 22) \
	X(7, q5_1, 32, 24) X(8, q8_0, 32, 34) X(10, q2_K, 256, 84) X(11, q3_K, 256, 110)       \
	X(12, q4_K, 256, 144) X(13, q5_K, 256, 176) X(14, q6_K, 256, 210) X(30, bf16, 1, 2)

/* Element e of a row of type `type` (e < the row's columns). */
FW_FN float fw_deq_elem(int type, const fw_u8 *row, int e)
{
	switch (type) {
#define FW_DEQ_CASE(num, T, QK, BYTES) \
	case num:                      \
		return fw_deq_##T(row + (e / (QK)) * (BYTES), e % (QK));
		FW_MLA_TYPES(FW_DEQ_CASE)
#undef FW_DEQ_CASE
	}
	return 0.0f; /* the backend refuses other types before launching */
}

FW_FN long long fw_row_bytes(int type, long long cols)
{
	switch (type) {
#define FW_RB_CASE(num, T, QK, BYTES) \
	case num:                     \
		return cols / (QK) * (BYTES);
		FW_MLA_TYPES(FW_RB_CASE)
#undef FW_RB_CASE
	}
	return 0;
}

/* grid (n), block 256: row i's latent part RMS-normalized (sum of squares in double, as the CPU),
 * its rope part rotated to position pos0 + i. */
FW_KERNEL sl_mla_kv(float *rows, const float *w, const float *ff, int kv_lora, int d_rope, int pos0, int n,
		    float eps, float freq_base)
{
	__shared__ double red[32];
	const int i = blockIdx.x, t = threadIdx.x;
	float *r = rows + (long long)i * (kv_lora + d_rope);
	double ss = 0;
	for (int j = t; j < kv_lora; j += blockDim.x)
		ss += (double)r[j] * r[j];
	ss = fw_block_sum_d(ss, red);
	const float scale = 1.0f / sqrtf((float)(ss / kv_lora) + eps);
	for (int j = t; j < kv_lora; j += blockDim.x)
		r[j] = r[j] * scale * w[j];
	sl_rope_pairs(r + kv_lora, d_rope, (float)(pos0 + i), freq_base, ff, t, blockDim.x);
}

/*
 * Absorbed MLA, 4 heads per block (SL_FW_MLA_HEADS): every head reads the same latent cache rows (MLA
 * is MQA over the latent), so a block loads each row once for four heads.  The steps, shared by the
 * kernels below:
 *   prep: rope the heads' d_rope parts of q in place (the block's own slice of q) into shared
 *      memory, and q_lat = Wk_h q_nope (split: a warp per latent row; legacy: Wk_h is d_nope rows of
 *      kv_lora, a thread per latent column, the rows summed in the CPU's order);
 *   walk: the context walk of sl_attention over cache rows [p_lo, p_hi): warp w takes positions
 *      p_lo + 4w.., 4 at a time; lanes split the latent (16 dims each at most) and rope dims of a row
 *      and take its dot with the 4 heads' q, online softmax per head, o_lat in registers, left per
 *      warp (max, sum, o_lat) in shared memory;
 *   out: out_h = Wv_h o_lat, a warp per output row.
 * sl_mla_attention does all of it for any n (a block per 4 heads of a token, the whole context);
 * decode (n = 1) is split over the context as sl_attention_split: sl_mla_q (prep, once per head),
 * sl_mla_split (a block per 4 heads and chunk: (max, sum, o_lat) per head and chunk), and
 * sl_mla_combine (the chunks merged, then out).
 */
#define FW_MLA_H SL_FW_MLA_HEADS
#define FW_MLA_LS SL_FW_MLA_MAX_LORA /* row stride of the shared q_lat / o_lat arrays */
#define FW_MLA_RS SL_FW_MLA_MAX_ROPE

/* prep.  qb: head h0's q row (the next heads follow at Dn + Dr floats); s_q [4][LS], s_r [4][RS]:
 * heads past nh are 0. */
FW_FN void fw_mla_prep(float *s_q, float *s_r, float *qb, const void *wk, const float *ff, int wk_type, int h0, int nh,
		       int Dn, int Dr, int Dv, int L, int legacy, float pos, float freq_base)
{
	const int t = threadIdx.x, lane = t & 31, warp = t >> 5, half = Dr / 2;
	for (int e = t; e < nh * half; e += blockDim.x)
		sl_rope_pair(qb + (e / half) * (Dn + Dr) + Dn, e % half, Dr, pos, freq_base, ff);
	for (int e = t; e < FW_MLA_H * L; e += blockDim.x)
		s_q[(e / L) * FW_MLA_LS + e % L] = 0.0f;
	__syncthreads(); /* the roped q_pe, written to global memory, is read by other threads below */
	for (int e = t; e < FW_MLA_H * Dr; e += blockDim.x)
		s_r[(e / Dr) * FW_MLA_RS + e % Dr] = e / Dr < nh ? qb[(e / Dr) * (Dn + Dr) + Dn + e % Dr] : 0.0f;
	if (!legacy) {
		const long long rb = fw_row_bytes(wk_type, Dn);
		for (int rc = warp; rc < nh * L; rc += FW_MLA_WARPS) {
			const int hh = rc / L, c = rc % L;
			const fw_u8 *row = (const fw_u8 *)wk + ((long long)(h0 + hh) * L + c) * rb;
			const float *qh = qb + hh * (Dn + Dr);
			float a = 0.0f;
			for (int d = lane; d < Dn; d += 32)
				a += fw_deq_elem(wk_type, row, d) * qh[d];
			a = fw_warp_sum(a);
			if (lane == 0)
				s_q[hh * FW_MLA_LS + c] = a;
		}
	} else {
		const long long rb = fw_row_bytes(wk_type, L);
		for (int e = t; e < nh * L; e += blockDim.x) {
			const int hh = e / L, c = e % L;
			const fw_u8 *base = (const fw_u8 *)wk + (long long)(h0 + hh) * (Dn + Dv) * rb;
			const float *qh = qb + hh * (Dn + Dr);
			float a = 0.0f;
			for (int d = 0; d < Dn; d++)
				a += fw_deq_elem(wk_type, base + d * rb, c) * qh[d];
			s_q[hh * FW_MLA_LS + c] = a;
		}
	}
	__syncthreads();
}

/* walk over [p_lo, p_hi); per warp w: s_m[w * 4 + hh], s_l[...], s_acc[(w * 4 + hh) * LS + c]
 * (a warp that saw no position has l = 0).  Ends with a barrier. */
FW_FN void fw_mla_walk(const float *s_q, const float *s_r, const float *cache, int L, int Dr, int p_lo, int p_hi,
		       float scale, float *s_acc, float *s_m, float *s_l)
{
	const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	const long long crow = (long long)L + Dr;
	float acc[FW_MLA_H][FW_MLA_PL], m[FW_MLA_H], l[FW_MLA_H];
	FW_UNROLL
	for (int hh = 0; hh < FW_MLA_H; hh++) {
		m[hh] = -fw_u2f(0x7f800000u);
		l[hh] = 0.0f;
		FW_UNROLL
		for (int k = 0; k < FW_MLA_PL; k++)
			acc[hh][k] = 0.0f;
	}
	for (int p0 = p_lo + warp * FW_MLA_CHUNK; p0 < p_hi; p0 += FW_MLA_CHUNK * FW_MLA_WARPS) {
		float s[FW_MLA_CHUNK][FW_MLA_H];
		FW_UNROLL
		for (int j = 0; j < FW_MLA_CHUNK; j++) {
			FW_UNROLL
			for (int hh = 0; hh < FW_MLA_H; hh++)
				s[j][hh] = 0.0f;
			if (p0 + j < p_hi) {
				const float *cr = cache + (p0 + j) * crow;
				FW_UNROLL
				for (int k = 0; k < FW_MLA_PL; k++) {
					const int c = k * 32 + lane;
					if (c < L) {
						const float cv = cr[c];
						FW_UNROLL
						for (int hh = 0; hh < FW_MLA_H; hh++)
							s[j][hh] += s_q[hh * FW_MLA_LS + c] * cv;
					}
				}
				FW_UNROLL
				for (int k = 0; k < FW_MLA_PR; k++) {
					const int d = k * 32 + lane;
					if (d < Dr) {
						const float kv = cr[L + d];
						FW_UNROLL
						for (int hh = 0; hh < FW_MLA_H; hh++)
							s[j][hh] += s_r[hh * FW_MLA_RS + d] * kv;
					}
				}
			}
		}
		FW_UNROLL
		for (int hh = 0; hh < FW_MLA_H; hh++) {
			float mn = m[hh];
			FW_UNROLL
			for (int j = 0; j < FW_MLA_CHUNK; j++) {
				s[j][hh] = fw_warp_sum(s[j][hh]) * scale; /* warp-uniform */
				if (p0 + j < p_hi)
					mn = fmaxf(mn, s[j][hh]);
			}
			const float corr = expf(m[hh] - mn);
			l[hh] *= corr;
			FW_UNROLL
			for (int k = 0; k < FW_MLA_PL; k++)
				acc[hh][k] *= corr;
			FW_UNROLL
			for (int j = 0; j < FW_MLA_CHUNK; j++) {
				s[j][hh] = p0 + j < p_hi ? expf(s[j][hh] - mn) : 0.0f; /* the weight */
				l[hh] += s[j][hh];
			}
			m[hh] = mn;
		}
		FW_UNROLL
		for (int j = 0; j < FW_MLA_CHUNK; j++) {
			if (p0 + j < p_hi) {
				const float *cr = cache + (p0 + j) * crow;
				FW_UNROLL
				for (int k = 0; k < FW_MLA_PL; k++) {
					const int c = k * 32 + lane;
					if (c < L) {
						const float cv = cr[c];
						FW_UNROLL
						for (int hh = 0; hh < FW_MLA_H; hh++)
							acc[hh][k] += s[j][hh] * cv;
					}
				}
			}
		}
	}
	FW_UNROLL
	for (int hh = 0; hh < FW_MLA_H; hh++) {
		if (lane == 0) {
			s_m[warp * FW_MLA_H + hh] = m[hh];
			s_l[warp * FW_MLA_H + hh] = l[hh];
		}
		FW_UNROLL
		for (int k = 0; k < FW_MLA_PL; k++) {
			const int c = k * 32 + lane;
			if (c < L)
				s_acc[(warp * FW_MLA_H + hh) * FW_MLA_LS + c] = acc[hh][k];
		}
	}
	__syncthreads();
}

/* out: head h0 + hh's out_h = Wv_h s_o[hh], into o (the token's out row). */
FW_FN void fw_mla_out(float *o, const float *s_o, const void *wv, int wv_type, int h0, int nh, int Dn, int Dv, int L,
		      int legacy)
{
	const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	const long long rb = fw_row_bytes(wv_type, L);
	for (int rv = warp; rv < nh * Dv; rv += FW_MLA_WARPS) {
		const int hh = rv / Dv, v = rv % Dv;
		const long long row = legacy ? (long long)(h0 + hh) * (Dn + Dv) + Dn + v : (long long)(h0 + hh) * Dv + v;
		const fw_u8 *wr = (const fw_u8 *)wv + row * rb;
		float a = 0.0f;
		for (int c = lane; c < L; c += 32)
			a += fw_deq_elem(wv_type, wr, c) * s_o[hh * FW_MLA_LS + c];
		a = fw_warp_sum(a);
		if (lane == 0)
			o[(long long)(h0 + hh) * Dv + v] = a;
	}
}

#define FW_MLA_SHARED                                                                            \
	__shared__ float s_q[FW_MLA_H * FW_MLA_LS]; /* q_lat, then o_lat */                      \
	__shared__ float s_r[FW_MLA_H * FW_MLA_RS]; /* roped q_pe */                             \
	__shared__ float s_acc[FW_MLA_WARPS * FW_MLA_H * FW_MLA_LS];                             \
	__shared__ float s_m[FW_MLA_WARPS * FW_MLA_H], s_l[FW_MLA_WARPS * FW_MLA_H]

/* grid (ceil(n_head / 4), n): heads h0.. of token blockIdx.y over its whole causal context. */
FW_KERNEL sl_mla_attention(float *out, float *q, const float *cache, const void *wk, const void *wv, const float *ff,
			   int wk_type, int wv_type, int n_head, int d_nope, int d_rope, int d_v, int kv_lora, int legacy,
			   int pos0, int n, float freq_base, float scale)
{
	FW_MLA_SHARED;
	const int i = blockIdx.y, h0 = blockIdx.x * FW_MLA_H;
	const int nh = n_head - h0 < FW_MLA_H ? n_head - h0 : FW_MLA_H, L = kv_lora;
	float *qb = q + (long long)i * n_head * (d_nope + d_rope) + (long long)h0 * (d_nope + d_rope);
	fw_mla_prep(s_q, s_r, qb, wk, ff, wk_type, h0, nh, d_nope, d_rope, d_v, L, legacy, (float)(pos0 + i), freq_base);
	fw_mla_walk(s_q, s_r, cache, L, d_rope, 0, pos0 + i + 1, scale, s_acc, s_m, s_l);
	/* merge the warps into o_lat, over q_lat (every warp is past its walk) */
	for (int e = threadIdx.x; e < nh * L; e += blockDim.x) {
		const int hh = e / L, c = e % L;
		float mx = s_m[hh];
		for (int w = 1; w < FW_MLA_WARPS; w++)
			mx = fmaxf(mx, s_m[w * FW_MLA_H + hh]);
		float v = 0.0f, wsum = 0.0f;
		for (int w = 0; w < FW_MLA_WARPS; w++) {
			const float wt = s_l[w * FW_MLA_H + hh] > 0.0f ? expf(s_m[w * FW_MLA_H + hh] - mx) : 0.0f;
			wsum += s_l[w * FW_MLA_H + hh] * wt;
			v += s_acc[(w * FW_MLA_H + hh) * FW_MLA_LS + c] * wt;
		}
		s_q[hh * FW_MLA_LS + c] = v / wsum;
	}
	__syncthreads();
	fw_mla_out(out + (long long)i * n_head * d_v, s_q, wv, wv_type, h0, nh, d_nope, d_v, L, legacy);
}

/* Decode, step 1.  grid (ceil(n_head / 4)): qs[h] = [q_lat (kv_lora), roped q_pe (d_rope)]. */
FW_KERNEL sl_mla_q(float *qs, float *q, const void *wk, const float *ff, int wk_type, int n_head, int d_nope, int d_rope,
		   int d_v, int kv_lora, int legacy, int pos0, float freq_base)
{
	__shared__ float s_q[FW_MLA_H * FW_MLA_LS];
	__shared__ float s_r[FW_MLA_H * FW_MLA_RS];
	const int h0 = blockIdx.x * FW_MLA_H, nh = n_head - h0 < FW_MLA_H ? n_head - h0 : FW_MLA_H, L = kv_lora;
	fw_mla_prep(s_q, s_r, q + (long long)h0 * (d_nope + d_rope), wk, ff, wk_type, h0, nh, d_nope, d_rope, d_v, L, legacy,
		    (float)pos0, freq_base);
	const int row = L + d_rope;
	for (int e = threadIdx.x; e < nh * row; e += blockDim.x) {
		const int hh = e / row, c = e % row;
		qs[(long long)(h0 + hh) * row + c] = c < L ? s_q[hh * FW_MLA_LS + c] : s_r[hh * FW_MLA_RS + c - L];
	}
}

/* Decode, step 2.  grid (ceil(n_head / 4), n_chunks): cache rows [j * chunk, min(len, (j + 1) *
 * chunk)) for heads h0..; part[(h * n_chunks + j) * (kv_lora + 2) + ...] = [max, sum, o_lat]. */
FW_KERNEL sl_mla_split(float *part, const float *qs, const float *cache, int n_head, int d_rope, int kv_lora, int len,
		       int chunk, float scale)
{
	FW_MLA_SHARED;
	const int h0 = blockIdx.x * FW_MLA_H, nh = n_head - h0 < FW_MLA_H ? n_head - h0 : FW_MLA_H, L = kv_lora;
	const int j = blockIdx.y, n_chunks = gridDim.y, row = L + d_rope;
	const int p_lo = j * chunk, p_hi = len < p_lo + chunk ? len : p_lo + chunk;
	for (int e = threadIdx.x; e < FW_MLA_H * row; e += blockDim.x) {
		const int hh = e / row, c = e % row;
		const float v = hh < nh ? qs[(long long)(h0 + hh) * row + c] : 0.0f;
		if (c < L)
			s_q[hh * FW_MLA_LS + c] = v;
		else
			s_r[hh * FW_MLA_RS + c - L] = v;
	}
	__syncthreads();
	fw_mla_walk(s_q, s_r, cache, L, d_rope, p_lo, p_hi, scale, s_acc, s_m, s_l);
	const int stride = L + 2;
	for (int e = threadIdx.x; e < nh * stride; e += blockDim.x) {
		const int hh = e / stride, d = e % stride;
		float mx = s_m[hh];
		for (int w = 1; w < FW_MLA_WARPS; w++)
			mx = fmaxf(mx, s_m[w * FW_MLA_H + hh]);
		float v = 0.0f;
		for (int w = 0; w < FW_MLA_WARPS; w++) {
			const float wt = s_l[w * FW_MLA_H + hh] > 0.0f ? expf(s_m[w * FW_MLA_H + hh] - mx) : 0.0f;
			v += (d == 0 ? 0.0f : d == 1 ? s_l[w * FW_MLA_H + hh] : s_acc[(w * FW_MLA_H + hh) * FW_MLA_LS + d - 2]) * wt;
		}
		part[((long long)(h0 + hh) * n_chunks + j) * stride + d] = d == 0 ? mx : v;
	}
}

/* Decode, step 3.  grid (ceil(n_head / 4)): the chunks merged into o_lat, then out_h = Wv_h o_lat. */
FW_KERNEL sl_mla_combine(float *out, const float *part, const void *wv, int wv_type, int n_head, int d_nope, int d_v,
			 int kv_lora, int legacy, int n_chunks)
{
	__shared__ float s_o[FW_MLA_H * FW_MLA_LS];
	const int h0 = blockIdx.x * FW_MLA_H, nh = n_head - h0 < FW_MLA_H ? n_head - h0 : FW_MLA_H, L = kv_lora;
	const int stride = L + 2;
	for (int e = threadIdx.x; e < nh * L; e += blockDim.x) {
		const int hh = e / L, c = e % L;
		const float *ph = part + (long long)(h0 + hh) * n_chunks * stride;
		float mx = ph[0];
		for (int j = 1; j < n_chunks; j++)
			mx = fmaxf(mx, ph[(long long)j * stride]);
		float den = 0.0f, v = 0.0f;
		for (int j = 0; j < n_chunks; j++) {
			const float wt = expf(ph[(long long)j * stride] - mx);
			den += ph[(long long)j * stride + 1] * wt;
			v += ph[(long long)j * stride + 2 + c] * wt;
		}
		s_o[hh * FW_MLA_LS + c] = v / den;
	}
	__syncthreads();
	fw_mla_out(out, s_o, wv, wv_type, h0, nh, d_nope, d_v, L, legacy);
}

/* Column-parallel, rows in order: each y element gets its terms in the CPU's order, so the sum is
 * the CPU's bits (no fused multiply-add: nvcc runs with --fmad=false). */
FW_KERNEL sl_add_rows(float *y, const float *x, const int *ids, const float *scale, long long cols, int n)
{
	const long long stride = (long long)gridDim.x * blockDim.x;
	for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < cols; k += stride)
		for (int i = 0; i < n; i++)
			y[(long long)ids[i] * cols + k] += scale[i] * x[(long long)i * cols + k];
}
