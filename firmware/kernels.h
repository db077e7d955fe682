/* SPDX-License-Identifier: MIT */
/*
 * firmware/kernels.h — the contract between the firmware kernels, the CUDA backend that launches
 * them, the SIMT shim that runs them on the CPU, and the stand-in driver of the tests.
 *
 * Every kernel is `extern "C" __global__`, named exactly as below, with exactly these parameters
 * (the backend passes cuLaunchKernel an array of pointers to values of these C types; on the device
 * the parameters are laid out as PTX declares them: each aligned to its own size).  Sizes that can
 * exceed 2^31 are long long; device pointers are 64-bit.  Grid and block are fixed per kernel (below)
 * so that the launcher and the kernel agree without negotiating; a kernel must be correct for any
 * shape its parameters allow (rows not a multiple of the rows per block, n up to 512, vocab 997 ...),
 * and never needs dynamic shared memory (shmem = 0).
 *
 * Layouts are the CPU backend's (runtime/backend/backend.h): a weight of `rows` rows of `cols`
 * elements in ggml's block layout (runtime/quant/blocks.h); activations are n rows of floats.
 *
 * Numerics mirror the CPU backend so greedy tokens agree: a matrix product first converts the
 * activations to the weight type's vec_dot_type (runtime/quant/quant.h: q8_0 for q4_0/q5_0/q8_0,
 * q8_1 for q4_1/q5_1, q8_K for q2_K..q6_K, f16 for f16, bf16 for bf16, nothing for f32) with the
 * same rounding as the CPU's reference quantizer, then takes per-block integer dot products and
 * accumulates the block results in float.
 *
 * The type tags below (T) are ggml's names: f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q2_K q3_K q4_K
 * q5_K q6_K (13 weight types).
 */
#ifndef SLUICE_FIRMWARE_KERNELS_H
#define SLUICE_FIRMWARE_KERNELS_H

/* Block sizes the launcher uses (threads per block). */
#define SL_FW_BLOCK 256        /* every 1-D kernel */
#define SL_FW_MMV_WARPS 4      /* sl_mmv_T: blockDim = (32, SL_FW_MMV_WARPS, 1) */
#define SL_FW_MMV_XS_BYTES 16384 /* sl_mmv_conv_T: shared memory for the converted activations */
#define SL_FW_MMV_CONV_BLOCKS_PER_SM 8 /* sl_mmv_conv_T's grid cap, per SM (untuned: no GPU yet) */
#define SL_FW_ROPE_BLOCK 64
#define SL_FW_ATTN_BLOCK 128
#define SL_FW_MAX_HEAD_DIM 256 /* attention's head_dim limit (the backend refuses larger) */
#define SL_FW_GRID_CAP 65535u  /* grid-stride kernels use at most this many blocks */
#define SL_FW_SPLIT_HEADS 4    /* sl_attention_split: query heads of one kv head per block */
#define SL_FW_MLA_BLOCK 128
#define SL_FW_MLA_HEADS 4      /* sl_mla_attention: heads per block (they share the latent cache rows) */
#define SL_FW_MLA_MAX_LORA 512 /* mla_attention's kv_lora limit (the backend refuses larger) */
#define SL_FW_MLA_MAX_ROPE 64  /* and its d_rope limit */

/*
 * Activation conversion, before a matrix product.
 *   sl_quantize_q8_0 / sl_quantize_q8_1 / sl_quantize_q8_K / sl_convert_f16 / sl_convert_bf16
 *   (const float *x, void *y, long long cols, int n)
 *   x: n rows of cols floats; y: n rows of sl_row_size(type, cols) bytes, packed.
 *   cols is a multiple of the type's block size (32, 256 for q8_K, 1 for f16/bf16).
 *   grid (ceil(cols / 256), n, 1), block (256, 1, 1).
 *
 * Matrix-vector / small-batch product, one per weight type T:
 *   sl_mmv_T(const void *w, const void *xa, float *y, long long rows, long long cols, int n)
 *   xa: the converted activations (for f32: the floats themselves), n rows;
 *   y[b * rows + r] = dot(row r of w, activation row b), b < n.
 *   grid (ceil(rows / SL_FW_MMV_WARPS), 1, 1), block (32, SL_FW_MMV_WARPS, 1): one warp per row.
 *
 * The same with the conversion folded in (one launch instead of two), one per weight type T but f32:
 *   sl_mmv_conv_T(const void *w, const float *x, float *y, long long rows, long long cols, int n)
 *   x: n rows of cols floats, converted by each block into shared memory (the bytes of the
 *   conversion kernels above), where n * sl_row_size(vec_dot_type, cols) <= SL_FW_MMV_XS_BYTES
 *   (else it writes nothing: the launcher takes the two-launch path).  y as sl_mmv_T, bit for bit.
 *   grid (any g >= 1, 1, 1): the rows grid-stride, so g = min(ceil(rows / SL_FW_MMV_WARPS),
 *   SMs * SL_FW_MMV_CONV_BLOCKS_PER_SM) converts x g times, not once per row group;
 *   block (32, SL_FW_MMV_WARPS, 1).
 *
 * Embedding rows, one per weight type T:
 *   sl_get_rows_T(const void *w, const int *ids, float *y, long long cols, int n)
 *   y[i][:] = row ids[i] of w as floats (ggml's dequantization, bit-exact); ids in device memory.
 *   grid (n, 1, 1), block (256, 1, 1).
 *
 * sl_rmsnorm(float *y, const float *x, const float *w, long long dim, int n, float eps)
 *   y[i] = x[i] / sqrt(mean(x[i]^2) + eps) * w; y may equal x.  grid (n, 1, 1), block (256, 1, 1).
 *
 * sl_rope(float *x, int n_head, int head_dim, int n_rot, int pos0, int n, float freq_base, int neox,
 *         const float *ff)
 *   as backend.h's rope (neox 0: adjacent pairs, 1: halves), or its rope_ff where ff (n_rot / 2
 *   per-pair frequency factors, device memory) is not NULL.  grid (n_head, n, 1), block (64, 1, 1).
 *
 * sl_attention(float *out, const float *q, const float *kc, const float *vc, int n_head, int n_head_kv,
 *              int head_dim, int pos0, int n, float scale)
 *   as backend.h's attention (causal, GQA: head h reads kv head h / (n_head / n_head_kv)), any
 *   context length (online softmax; no per-context shared memory), head_dim <= SL_FW_MAX_HEAD_DIM.
 *   grid (n_head, n, 1), block (128, 1, 1).
 *
 * Split-K ("flash-decoding") attention of one query token (decode) at position len - 1:
 *   sl_attention_split(float *part, const float *q, const float *kc, const float *vc, int n_head,
 *                      int n_head_kv, int head_dim, int len, int chunk, float scale)
 *   block (x, j) takes cache rows [j * chunk, min(len, (j + 1) * chunk)) for the query heads
 *   kvh * G + (x % B) * SL_FW_SPLIT_HEADS .. (+SL_FW_SPLIT_HEADS, within the group) of kv head
 *   kvh = x / B, G = n_head / n_head_kv, B = ceil(G / SL_FW_SPLIT_HEADS): each K/V row is read once
 *   per SL_FW_SPLIT_HEADS query heads.  Writes part[(h * n_chunks + j) * (head_dim + 2) + ...] =
 *   [max score m, sum of exp(s - m), sum of exp(s - m) * v (head_dim)].
 *   grid (n_head_kv * B, n_chunks = ceil(len / chunk), 1), block (128, 1, 1).
 *   sl_attention_combine(float *out, const float *part, int n_head, int head_dim, int n_chunks)
 *   merges the chunks: out[h * head_dim + d].  grid (n_head, 1, 1), block (128, 1, 1).
 *
 * sl_silu_mul(float *gate, const float *up, long long n)        gate[i] = silu(gate[i]) * up[i]
 * sl_add(float *y, const float *x, long long n, long long n_x)  y[i] += x[i % n_x]
 *   grid (min(ceil(n / 256), SL_FW_GRID_CAP), 1, 1), block (256, 1, 1), grid-stride loop.
 *
 * sl_softmax(float *x, long long cols, int rows)   each row in place.  grid (rows, 1, 1), block (256, 1, 1).
 *
 * deepseek2 (backend.h's mla_kv, mla_attention, add_rows).  Weight types are passed as ggml's type
 * numbers (enum sl_type: f32 0, f16 1, q4_0 2, q4_1 3, q5_0 6, q5_1 7, q8_0 8, q2_K..q6_K 10..14,
 * bf16 30), read with get_rows' bit-exact dequantization; ff is NULL or d_rope / 2 rope factors.
 * sl_mla_kv(float *rows, const float *w, const float *ff, int kv_lora, int d_rope, int pos0, int n,
 *           float eps, float freq_base)
 *   grid (n, 1, 1), block (256, 1, 1).
 * sl_mla_attention(float *out, float *q, const float *cache, const void *wk, const void *wv,
 *                  const float *ff, int wk_type, int wv_type, int n_head, int d_nope, int d_rope,
 *                  int d_v, int kv_lora, int legacy, int pos0, int n, float freq_base, float scale)
 *   kv_lora <= SL_FW_MLA_MAX_LORA, d_rope <= SL_FW_MLA_MAX_ROPE.  Block (x, i): heads
 *   x * SL_FW_MLA_HEADS .. (+SL_FW_MLA_HEADS, below n_head) of token i.
 *   grid (ceil(n_head / SL_FW_MLA_HEADS), n, 1), block (128, 1, 1).
 * Decode (n = 1, position pos0) split over the context, the same result as sl_mla_attention:
 *   sl_mla_q(float *qs, float *q, const void *wk, const float *ff, int wk_type, int n_head, int d_nope,
 *            int d_rope, int d_v, int kv_lora, int legacy, int pos0, float freq_base)
 *     ropes q's d_rope parts in place; qs[h] = [q_lat (kv_lora), roped q_pe (d_rope)].
 *     grid (ceil(n_head / SL_FW_MLA_HEADS), 1, 1), block (128, 1, 1).
 *   sl_mla_split(float *part, const float *qs, const float *cache, int n_head, int d_rope, int kv_lora,
 *                int len, int chunk, float scale)
 *     block (x, j): cache rows [j * chunk, min(len, (j + 1) * chunk)) for heads x * 4..;
 *     part[(h * n_chunks + j) * (kv_lora + 2) + ...] = [max score, sum of exp, unnormalized o_lat].
 *     grid (ceil(n_head / SL_FW_MLA_HEADS), n_chunks = ceil(len / chunk), 1), block (128, 1, 1).
 *   sl_mla_combine(float *out, const float *part, const void *wv, int wv_type, int n_head, int d_nope,
 *                  int d_v, int kv_lora, int legacy, int n_chunks)
 *     out[h * d_v + v] = Wv_h o_lat.  grid (ceil(n_head / SL_FW_MLA_HEADS), 1, 1), block (128, 1, 1).
 * sl_add_rows(float *y, const float *x, const int *ids, const float *scale, long long cols, int n)
 *   y[ids[i]][:] += scale[i] * x[i][:], i in order (so repeated ids add up as on the CPU); ids and
 *   scale in device memory.  grid (min(ceil(cols / 256), SL_FW_GRID_CAP), 1, 1), block (256, 1, 1).
 */

/* sl_attention_split's chunk (positions per block) for a context of len over gx blocks per chunk
 * (n_head_kv * B): enough chunks to give a large GPU about 128 blocks (an H200 has 132 SMs), at least
 * 64 positions each so a block's fixed costs (q loads, the merge, its partial) stay small, a
 * multiple of 16.  The launcher's choice (any chunk > 0 is correct); shared so that the GPU check
 * times what the backend runs. */
static inline int sl_fw_split_chunk(int len, int gx)
{
	const int want = (128 + gx - 1) / gx;
	const int chunk = (len + want - 1) / want;
	return chunk < 64 ? 64 : (chunk + 15) / 16 * 16;
}

#endif
