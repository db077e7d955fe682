/* SPDX-License-Identifier: MIT */
/*
 * firmware/fw_mmv.cu — y[b][r] = dot(row r of W, activation row b): one warp per weight row, the
 * model being llama.cpp's mmvq.  A quantized row is a run of blocks; the warp walks it 32 / PARTS
 * blocks at a time, each lane taking one PARTS-th of a block: it loads its few 32-bit words of
 * quants (neighbouring lanes read neighbouring words, so a warp's loads are one contiguous stretch)
 * and takes the integer dot with the activation's int8s by __dp4a, exactly as the CPU's per-block
 * integer dot (runtime/quant/quant_legacy.c, quant_kdot.c).  Offsets such as q4_0's "-8" are
 * applied as 8 * sum(activations), an exact integer identity.  The lane's partial block result is
 * scaled in float and the lanes are summed by shuffles at the end.  Activation rows are taken
 * FW_MMV_NB at a time so one load of weights serves several tokens of a prompt.
 *
 * grid (ceil(rows / 4)), block (32, 4).
 */
#include "firmware/fw_common.h"

#define FW_MMV_NB 4
#define FW_ONES 0x01010101

/* ---- 32-element blocks against q8_0 (34 bytes: d, qs[32]) or q8_1 (36: d, s, qs[32]) ---- */

/* q8_0 weights (34 bytes), PARTS 4: lane part p takes elements 8p..8p+7. */
FW_FN float fw_vdot_q8_0(const fw_u8 *w, const fw_u8 *a, int p)
{
	int s = __dp4a(fw_ld32_a2(w + 2 + 8 * p), fw_ld32_a2(a + 2 + 8 * p), 0);
	s = __dp4a(fw_ld32_a2(w + 6 + 8 * p), fw_ld32_a2(a + 6 + 8 * p), s);
	return (float)s * (fw_ldh(w) * fw_ldh(a));
}

/* q4_0 (18: d, qs[16]): byte j holds element j (low nibble) and j + 16 (high); part p: word p. */
FW_FN float fw_vdot_q4_0(const fw_u8 *w, const fw_u8 *a, int p)
{
	const int q = fw_ld32_a2(w + 2 + 4 * p);
	const int u0 = fw_ld32_a2(a + 2 + 4 * p), u1 = fw_ld32_a2(a + 18 + 4 * p);
	int s = __dp4a(q & 0x0F0F0F0F, u0, 0);
	s = __dp4a((q >> 4) & 0x0F0F0F0F, u1, s);
	s -= 8 * __dp4a(FW_ONES, u0, __dp4a(FW_ONES, u1, 0));
	return (float)s * (fw_ldh(w) * fw_ldh(a));
}

/* q4_1 (20: d, m, qs[16]) against q8_1: the offset term m * s once per block (part 0). */
FW_FN float fw_vdot_q4_1(const fw_u8 *w, const fw_u8 *a, int p)
{
	const int q = fw_ld32_a4(w + 4 + 4 * p);
	int s = __dp4a(q & 0x0F0F0F0F, fw_ld32_a4(a + 4 + 4 * p), 0);
	s = __dp4a((q >> 4) & 0x0F0F0F0F, fw_ld32_a4(a + 20 + 4 * p), s);
	float r = (float)s * (fw_ldh(w) * fw_ldh(a));
	if (p == 0)
		r += fw_ldh(w + 2) * fw_ldh(a + 2);
	return r;
}

/* Four bits of a q5 high mask, to bit 4 of each of four bytes. */
FW_FN int fw_spread4(unsigned b)
{
	return (int)(((b & 1u) << 4) | ((b & 2u) << 11) | ((b & 4u) << 18) | ((b & 8u) << 25));
}

/* q5_0 (22: d, qh[4], qs[16]): element e's fifth bit is bit e of qh. */
FW_FN float fw_vdot_q5_0(const fw_u8 *w, const fw_u8 *a, int p)
{
	const unsigned qh = (unsigned)fw_ld32_a2(w + 2);
	const int q = fw_ld32_a2(w + 6 + 4 * p);
	const int u0 = fw_ld32_a2(a + 2 + 4 * p), u1 = fw_ld32_a2(a + 18 + 4 * p);
	int s = __dp4a((q & 0x0F0F0F0F) | fw_spread4(qh >> (4 * p)), u0, 0);
	s = __dp4a(((q >> 4) & 0x0F0F0F0F) | fw_spread4(qh >> (4 * p + 16)), u1, s);
	s -= 16 * __dp4a(FW_ONES, u0, __dp4a(FW_ONES, u1, 0));
	return (float)s * (fw_ldh(w) * fw_ldh(a));
}

/* q5_1 (24: d, m, qh[4], qs[16]) against q8_1. */
FW_FN float fw_vdot_q5_1(const fw_u8 *w, const fw_u8 *a, int p)
{
	const unsigned qh = (unsigned)fw_ld32_a4(w + 4);
	const int q = fw_ld32_a4(w + 8 + 4 * p);
	int s = __dp4a((q & 0x0F0F0F0F) | fw_spread4(qh >> (4 * p)), fw_ld32_a4(a + 4 + 4 * p), 0);
	s = __dp4a(((q >> 4) & 0x0F0F0F0F) | fw_spread4(qh >> (4 * p + 16)), fw_ld32_a4(a + 20 + 4 * p), s);
	float r = (float)s * (fw_ldh(w) * fw_ldh(a));
	if (p == 0)
		r += fw_ldh(w + 2) * fw_ldh(a + 2);
	return r;
}

/* ---- K-quants (256-element blocks) against q8_K (292 bytes: float d, qs[256], bsums[16]) ----
 * Partial result per lane: dy * d * isum - dy * dmin * msum over the lane's elements, the CPU's
 * formula (runtime/quant/quant_kdot.c) split by parts; the min term's activation sums are taken
 * from the lane's own int8s (equal to the bsums the CPU uses). */

/* q2_K (84: scales[16], qs[64], d, dmin), PARTS 16: part p = (c = p / 8, l0 = 4 * (p % 8)): for
 * each shift s, the elements c*128 + 32 s + l0 .. +3 of sub-block 8c + 2s + (l0 >= 16). */
FW_FN float fw_vdot_q2_K(const fw_u8 *w, const fw_u8 *a, int p)
{
	const int c = p >> 3, l0 = 4 * (p & 7);
	const int q = fw_ld32_a4(w + 16 + 32 * c + l0);
	int isum = 0, msum = 0;
	FW_UNROLL
	for (int s = 0; s < 4; s++) {
		const int u = fw_ld32_a4(a + 4 + c * 128 + 32 * s + l0);
		const int sc = w[8 * c + 2 * s + (l0 >> 4)];
		isum += (sc & 0xF) * __dp4a((q >> (2 * s)) & 0x03030303, u, 0);
		msum += (sc >> 4) * __dp4a(FW_ONES, u, 0);
	}
	const float dy = fw_ldf(a);
	return dy * fw_ldh(w + 80) * (float)isum - dy * fw_ldh(w + 82) * (float)msum;
}

/* The j-th signed 6-bit scale of q3_K (sl_q3k_scales). */
FW_FN int fw_q3k_scale(const fw_u8 *sc, int j)
{
	const int lo = j < 8 ? sc[j] & 0xF : sc[j - 8] >> 4;
	const int hi = (sc[8 + (j & 3)] >> (2 * (j >> 2))) & 3;
	return (lo | (hi << 4)) - 32;
}

/* q3_K (110: hmask[32], qs[64], scales[12], d), PARTS 16, the layout of q2_K; level =
 * low 2 bits + 4 * high bit - 4. */
FW_FN float fw_vdot_q3_K(const fw_u8 *w, const fw_u8 *a, int p)
{
	const int c = p >> 3, l0 = 4 * (p & 7);
	const int q = fw_ld32_a2(w + 32 + 32 * c + l0);
	const int hm = fw_ld32_a2(w + l0);
	int isum = 0;
	FW_UNROLL
	for (int s = 0; s < 4; s++) {
		const int u = fw_ld32_a4(a + 4 + c * 128 + 32 * s + l0);
		const int v = ((q >> (2 * s)) & 0x03030303) | ((((unsigned)hm >> (4 * c + s)) & 0x01010101u) << 2);
		const int sc = fw_q3k_scale(w + 96, 8 * c + 2 * s + (l0 >> 4));
		isum += sc * (__dp4a(v, u, 0) - 4 * __dp4a(FW_ONES, u, 0));
	}
	return fw_ldf(a) * fw_ldh(w + 108) * (float)isum;
}

/* q4_K/q5_K's j-th 6-bit scale and min (sl_get_scale_min_k4). */
FW_FN void fw_k4_scale_min(const fw_u8 *q, int j, int *d, int *m)
{
	if (j < 4) {
		*d = q[j] & 63;
		*m = q[j + 4] & 63;
	} else {
		*d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
		*m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
	}
}

/* q4_K (144: d, dmin, scales[12], qs[128]), PARTS 16: part p = (j = p / 4, l0 = 8 (p % 4)) takes
 * bytes qs[32j + l0 .. +7]: low nibbles are elements 64j + l0.. (sub-block 2j), high nibbles
 * 64j + 32 + l0.. (sub-block 2j + 1).  hi: q5_K's high-bit words for those bytes (0 for q4_K). */
FW_FN float fw_vdot_k4(const fw_u8 *w, const fw_u8 *a, int p, const fw_u8 *qs, const fw_u8 *qh)
{
	const int j = p >> 2, l0 = 8 * (p & 3);
	int sc0, m0, sc1, m1;
	fw_k4_scale_min(w + 4, 2 * j, &sc0, &m0);
	fw_k4_scale_min(w + 4, 2 * j + 1, &sc1, &m1);
	int dlo = 0, dhi = 0, slo = 0, shi = 0;
	FW_UNROLL
	for (int k = 0; k < 2; k++) {
		const int q = fw_ld32_a4(qs + 32 * j + l0 + 4 * k);
		int vlo = q & 0x0F0F0F0F, vhi = (q >> 4) & 0x0F0F0F0F;
		if (qh) {
			const unsigned h = (unsigned)fw_ld32_a4(qh + l0 + 4 * k);
			vlo |= (int)(((h >> (2 * j)) & 0x01010101u) << 4);
			vhi |= (int)(((h >> (2 * j + 1)) & 0x01010101u) << 4);
		}
		const int ulo = fw_ld32_a4(a + 4 + 64 * j + l0 + 4 * k);
		const int uhi = fw_ld32_a4(a + 4 + 64 * j + 32 + l0 + 4 * k);
		dlo = __dp4a(vlo, ulo, dlo);
		dhi = __dp4a(vhi, uhi, dhi);
		slo = __dp4a(FW_ONES, ulo, slo);
		shi = __dp4a(FW_ONES, uhi, shi);
	}
	const int isum = sc0 * dlo + sc1 * dhi, msum = m0 * slo + m1 * shi;
	const float dy = fw_ldf(a);
	return dy * fw_ldh(w) * (float)isum - dy * fw_ldh(w + 2) * (float)msum;
}

FW_FN float fw_vdot_q4_K(const fw_u8 *w, const fw_u8 *a, int p)
{
	return fw_vdot_k4(w, a, p, w + 16, (const fw_u8 *)0);
}

/* q5_K (176: d, dmin, scales[12], qh[32], qs[128]): element 64j + 32h + l's fifth bit is bit
 * 2j + h of qh[l]. */
FW_FN float fw_vdot_q5_K(const fw_u8 *w, const fw_u8 *a, int p)
{
	return fw_vdot_k4(w, a, p, w + 48, w + 16);
}

/* q6_K (210: ql[128], qh[64], scales[16] int8, d), PARTS 16: part p = (c = p / 8, l0 = 4 (p % 8));
 * for each group g the elements c*128 + 32g + l0 .. +3: low 4 bits from ql[64c + l0 + 32 (g & 1)]
 * (nibble g >> 1), high 2 bits from qh[32c + l0] (bits 2g), level - 32, scale 8c + 2g + (l0 >= 16). */
FW_FN float fw_vdot_q6_K(const fw_u8 *w, const fw_u8 *a, int p)
{
	const int c = p >> 3, l0 = 4 * (p & 7);
	const int ql0 = fw_ld32_a2(w + 64 * c + l0), ql1 = fw_ld32_a2(w + 64 * c + 32 + l0);
	const int qh = fw_ld32_a2(w + 128 + 32 * c + l0);
	int isum = 0;
	FW_UNROLL
	for (int g = 0; g < 4; g++) {
		const int ql = (g & 1) ? ql1 : ql0;
		const int lo = (ql >> (4 * (g >> 1))) & 0x0F0F0F0F;
		const int hi = (int)((((unsigned)qh >> (2 * g)) & 0x03030303u) << 4);
		const int u = fw_ld32_a4(a + 4 + c * 128 + 32 * g + l0);
		const int sc = (fw_i8)w[192 + 8 * c + 2 * g + (l0 >> 4)];
		isum += sc * (__dp4a(lo | hi, u, 0) - 32 * __dp4a(FW_ONES, u, 0));
	}
	return fw_ldf(a) * fw_ldh(w + 208) * (float)isum;
}

/*
 * The kernels of one quantized type: QK elements in WB weight bytes per block, AB activation bytes
 * per block, PARTS lanes per block.  fw_mmv_row_T is one warp's work, weight row r against the n
 * activation rows at xb; sl_mmv_T reads converted activations (xa), sl_mmv_conv_T converts its own
 * into shared memory first (FW_MMV_CONV below).
 */
#define FW_MMV_Q(T, QK, WB, AB, PARTS)                                                                        \
	FW_FN void fw_mmv_row_##T(const void *w, const fw_u8 *FW_RESTRICT xb, float *y, long long r,           \
				  long long rows, long long cols, int n)                                      \
	{                                                                                                     \
		const long long nb = cols / (QK);                                                             \
		const fw_u8 *FW_RESTRICT wr = (const fw_u8 *)w + r * nb * (WB);                               \
		const int lane = threadIdx.x, part = lane % (PARTS);                                          \
		if (n == 1) {                                                                                 \
			/* decode: unrolled so several blocks' loads are in flight per lane (HBM latency) */   \
			float acc = 0.0f;                                                                     \
			FW_UNROLL_N(4)                                                                        \
			for (long long ib = lane / (PARTS); ib < nb; ib += 32 / (PARTS))                      \
				acc += fw_vdot_##T(wr + ib * (WB), xb + ib * (AB), part);                     \
			acc = fw_warp_sum(acc);                                                               \
			if (lane == 0)                                                                        \
				y[r] = acc;                                                                   \
			return;                                                                               \
		}                                                                                             \
		for (int b0 = 0; b0 < n; b0 += FW_MMV_NB) {                                                   \
			float acc[FW_MMV_NB];                                                                 \
			FW_UNROLL                                                                             \
			for (int j = 0; j < FW_MMV_NB; j++)                                                   \
				acc[j] = 0.0f;                                                                \
			for (long long ib = lane / (PARTS); ib < nb; ib += 32 / (PARTS)) {                    \
				const fw_u8 *wb = wr + ib * (WB);                                             \
				FW_UNROLL                                                                     \
				for (int j = 0; j < FW_MMV_NB; j++)                                           \
					if (b0 + j < n)                                                       \
						acc[j] += fw_vdot_##T(wb, xb + ((b0 + j) * nb + ib) * (AB), part); \
			}                                                                                     \
			FW_UNROLL                                                                             \
			for (int j = 0; j < FW_MMV_NB; j++) {                                                 \
				const float s = fw_warp_sum(acc[j]);                                          \
				if (lane == 0 && b0 + j < n)                                                  \
					y[(long long)(b0 + j) * rows + r] = s;                                \
			}                                                                                     \
		}                                                                                             \
	}                                                                                                     \
	FW_KERNEL sl_mmv_##T(const void *w, const void *xa, float *y, long long rows, long long cols, int n)  \
	{                                                                                                     \
		const long long r = (long long)blockIdx.x * blockDim.y + threadIdx.y;                         \
		if (r >= rows)                                                                                \
			return; /* the whole warp: no collective is left waiting */                           \
		fw_mmv_row_##T(w, (const fw_u8 *)xa, y, r, rows, cols, n);                                    \
	}

FW_MMV_Q(q8_0, 32, 34, 34, 4)
FW_MMV_Q(q4_0, 32, 18, 34, 4)
FW_MMV_Q(q4_1, 32, 20, 36, 4)
FW_MMV_Q(q5_0, 32, 22, 34, 4)
FW_MMV_Q(q5_1, 32, 24, 36, 4)
FW_MMV_Q(q2_K, 256, 84, 292, 16)
FW_MMV_Q(q3_K, 256, 110, 292, 16)
FW_MMV_Q(q4_K, 256, 144, 292, 16)
FW_MMV_Q(q5_K, 256, 176, 292, 16)
FW_MMV_Q(q6_K, 256, 210, 292, 16)

/*
 * Plain types: the activation is the same type as the weight (f32 for f32).  Lanes take consecutive
 * elements (coalesced), for decode consecutive 4-byte words (two f16/bf16) when the row allows; the
 * dot accumulates in float per lane (the CPU's is in double: the difference is bounded by the float
 * rounding of cols terms).
 */
#define FW_MMV_PLAIN(T, ETYPE, LOAD, DOT4)                                                                    \
	FW_FN void fw_mmv_row_##T(const void *w, const fw_u8 *xa, float *y, long long r, long long rows,       \
				  long long cols, int n)                                                      \
	{                                                                                                     \
		const ETYPE *wr = (const ETYPE *)w + r * cols;                                                \
		const ETYPE *xb = (const ETYPE *)xa;                                                          \
		const int lane = threadIdx.x;                                                                 \
		if (n == 1 && (sizeof(ETYPE) == 4 || (cols & 1) == 0)) {                                      \
			/* decode: 4-byte loads (two elements of a 16-bit type), unrolled */                  \
			const fw_u8 *wp = (const fw_u8 *)wr, *xp = (const fw_u8 *)xb;                         \
			float acc = 0.0f;                                                                     \
			FW_UNROLL_N(4)                                                                        \
			for (long long i = lane; i < cols * (long long)sizeof(ETYPE) / 4; i += 32)            \
				acc += DOT4(fw_ld32_a4(wp + 4 * i), fw_ld32_a4(xp + 4 * i));                  \
			acc = fw_warp_sum(acc);                                                               \
			if (lane == 0)                                                                        \
				y[r] = acc;                                                                   \
			return;                                                                               \
		}                                                                                             \
		for (int b0 = 0; b0 < n; b0 += FW_MMV_NB) {                                                   \
			float acc[FW_MMV_NB];                                                                 \
			FW_UNROLL                                                                             \
			for (int j = 0; j < FW_MMV_NB; j++)                                                   \
				acc[j] = 0.0f;                                                                \
			for (long long i = lane; i < cols; i += 32) {                                         \
				const float wv = LOAD(wr[i]);                                                 \
				FW_UNROLL                                                                     \
				for (int j = 0; j < FW_MMV_NB; j++)                                           \
					if (b0 + j < n)                                                       \
						acc[j] += wv * LOAD(xb[(long long)(b0 + j) * cols + i]);      \
			}                                                                                     \
			FW_UNROLL                                                                             \
			for (int j = 0; j < FW_MMV_NB; j++) {                                                 \
				const float s = fw_warp_sum(acc[j]);                                          \
				if (lane == 0 && b0 + j < n)                                                  \
					y[(long long)(b0 + j) * rows + r] = s;                                \
			}                                                                                     \
		}                                                                                             \
	}                                                                                                     \
	FW_KERNEL sl_mmv_##T(const void *w, const void *xa, float *y, long long rows, long long cols, int n)  \
	{                                                                                                     \
		const long long r = (long long)blockIdx.x * blockDim.y + threadIdx.y;                         \
		if (r >= rows)                                                                                \
			return;                                                                               \
		fw_mmv_row_##T(w, (const fw_u8 *)xa, y, r, rows, cols, n);                                    \
	}

#define FW_LOAD_F32(v) (v)
#define FW_LOAD_F16(v) fw_h2f(v)
#define FW_LOAD_BF16(v) fw_bf2f(v)
/* The dot of the elements in two 4-byte words. */
#define FW_DOT4_F32(a, b) (fw_u2f((unsigned)(a)) * fw_u2f((unsigned)(b)))
#define FW_DOT4_F16(a, b)                                                                     \
	(fw_h2f((fw_u16)(a)) * fw_h2f((fw_u16)(b)) +                                          \
	 fw_h2f((fw_u16)((unsigned)(a) >> 16)) * fw_h2f((fw_u16)((unsigned)(b) >> 16)))
#define FW_DOT4_BF16(a, b)                                                                    \
	(fw_u2f((unsigned)(a) << 16) * fw_u2f((unsigned)(b) << 16) +                          \
	 fw_u2f((unsigned)(a) & 0xffff0000u) * fw_u2f((unsigned)(b) & 0xffff0000u))
FW_MMV_PLAIN(f32, float, FW_LOAD_F32, FW_DOT4_F32)
FW_MMV_PLAIN(f16, fw_u16, FW_LOAD_F16, FW_DOT4_F16)
FW_MMV_PLAIN(bf16, fw_u16, FW_LOAD_BF16, FW_DOT4_BF16)

/*
 * One launch per matrix product where the activations are small (decode, short prompts): each
 * block converts all n rows of x into shared memory itself (fw_convert.cu's warp converters, the
 * same bytes as the conversion kernels) and then takes its rows, grid-stride, so the conversion is
 * paid once per block, not once per row.  Valid where n * sl_row_size(vec_dot_type, cols) <=
 * SL_FW_MMV_XS_BYTES; larger activations take the two-launch path (the launcher checks; the kernel
 * writes nothing rather than overrun).  f32 weights read x as it is: one launch already.
 *   CONV: the converter call, given x, the shared bytes and the element count.  AB / QK: bytes per
 *   QK activation elements.
 */
#define FW_MMV_CONV(T, QK, AB, CONV)                                                                          \
	FW_KERNEL_MMV_CONV sl_mmv_conv_##T(const void *w, const float *x, float *y, long long rows, long long cols, int n) \
	{                                                                                                     \
		__shared__ unsigned xs_words[SL_FW_MMV_XS_BYTES / 4];                                         \
		fw_u8 *xs = (fw_u8 *)xs_words;                                                                \
		if ((long long)n * (cols / (QK)) * (AB) > SL_FW_MMV_XS_BYTES)                                 \
			return;                                                                               \
		const int lane = threadIdx.x, warp = threadIdx.y, nw = blockDim.y;                            \
		const long long elems = (long long)n * cols;                                                  \
		CONV;                                                                                         \
		__syncthreads();                                                                              \
		for (long long r = (long long)blockIdx.x * nw + warp; r < rows; r += (long long)gridDim.x * nw) \
			fw_mmv_row_##T(w, xs, y, r, rows, cols, n);                                           \
	}

/* Register bound: SL_FW_MMV_CONV_BLOCKS_PER_SM blocks of 128 threads resident per SM (64 registers a
 * thread; their 16 KiB of shared memory each fit too).  Unbounded, ptxas gave the K-quant variants
 * 125-160 registers (the grid-stride loop around the row's unrolled dots), i.e. 3 blocks per SM; at
 * 64 it still spills nothing (tests/build/test_ptxas.sh). */
#ifdef __CUDACC__
#define FW_KERNEL_MMV_CONV extern "C" __global__ void __launch_bounds__(32 * SL_FW_MMV_WARPS, SL_FW_MMV_CONV_BLOCKS_PER_SM)
#else
#define FW_KERNEL_MMV_CONV FW_KERNEL
#endif
#define FW_CONV_Q8_0 fw_conv_q8_32_warps(x, xs, elems, 0, warp, nw, lane)
#define FW_CONV_Q8_1 fw_conv_q8_32_warps(x, xs, elems, 1, warp, nw, lane)
#define FW_CONV_Q8_K fw_conv_q8_K_warps(x, xs, elems, warp, nw, lane)
#define FW_CONV_F16 fw_conv_f16_threads(x, xs, elems, warp * 32 + lane, nw * 32)
#define FW_CONV_BF16 fw_conv_bf16_threads(x, xs, elems, warp * 32 + lane, nw * 32)
FW_MMV_CONV(q8_0, 32, 34, FW_CONV_Q8_0)
FW_MMV_CONV(q4_0, 32, 34, FW_CONV_Q8_0)
FW_MMV_CONV(q4_1, 32, 36, FW_CONV_Q8_1)
FW_MMV_CONV(q5_0, 32, 34, FW_CONV_Q8_0)
FW_MMV_CONV(q5_1, 32, 36, FW_CONV_Q8_1)
FW_MMV_CONV(q2_K, 256, 292, FW_CONV_Q8_K)
FW_MMV_CONV(q3_K, 256, 292, FW_CONV_Q8_K)
FW_MMV_CONV(q4_K, 256, 292, FW_CONV_Q8_K)
FW_MMV_CONV(q5_K, 256, 292, FW_CONV_Q8_K)
FW_MMV_CONV(q6_K, 256, 292, FW_CONV_Q8_K)
FW_MMV_CONV(f16, 1, 2, FW_CONV_F16)
FW_MMV_CONV(bf16, 1, 2, FW_CONV_BF16)
