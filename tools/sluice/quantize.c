/* SPDX-License-Identifier: MIT */
/*
 * tools/sluice/quantize.c — `sluice quantize IN.gguf OUT.gguf --type MIX`:
 * rewrite a model's weights in another type, keeping all metadata.
 *
 * The per-tensor choice follows llama.cpp's llama_tensor_get_type (the llama.cpp source vendored
 * by llama-cpp-python 0.3.36) for the llama architecture:
 *   - only 2-D+ tensors named *.weight are quantized; norms and other 1-D
 *     tensors are copied as they are (F32);
 *   - output.weight (and token_embd when there is no output.weight: tied embeddings) becomes
 *     q6_K (q8_0 kept; q5_K in the 1-3 bit i-quant mixes; q8_0 when its rows fit no block);
 *   - the _M / _S mixes give more bits to attn_v and ffn_down in the layers
 *     selected by use_more_bits (first and last eighth, every third between);
 *   - iq4_nl / iq4_xs: attn_v q5_K when n_head / n_head_kv >= 4, ffn_down
 *     q5_K in the first eighth of the layers (without an imatrix);
 *   - iq2_xxs, iq2_xs, iq1_s, iq1_m, iq2_s, iq2_m (low_bit_rule), iq3_xxs, iq3_xs, iq3_s, iq3_m
 *     (mix_rule): llama.cpp's rules for each (Documentation/quantization.md lists them);
 *   - --pure: the mix's base type on every weight; --token-embedding-type / --output-tensor-type
 *     override those two;
 *   - a row length that the chosen block size does not divide falls back
 *     (q4_K -> q5_0, q5_K -> q5_1, q6_K -> q8_0, q2_K/q3_K/iq4_xs and the 1-3 bit i-quants
 *     -> iq4_nl, then f16).
 * Known differences from that llama.cpp, kept: q2_K/q3_K fall back to iq4_nl (it: q4_0), q5_K_S's
 * early ffn_down q6_K (it has no such rule).
 * Quantizers are ports of ggml's, so a tensor comes out byte-identical to llama-quantize's
 * (bench/quantize-vs-llamacpp.sh).
 *
 * --imatrix FILE (`sluice imatrix`, or llama.cpp's imatrix.gguf / .dat): each tensor the matrix
 * names is quantized minimising an error weighted by its columns' mean square activations, as
 * llama-quantize --imatrix does (sl_quantize_rows_w; a 3-D expert tensor takes each expert's own
 * row of the matrix).  The 1-3 bit i-quants llama.cpp will not make without one are refused
 * without it, and refused for any tensor the matrix does not cover (but token_embd and output,
 * which llama.cpp makes without, where the type has a quantizer that takes no weights).  Rows are quantized by several
 * threads; tensor data is read with pread in chunks, never all at once.
 */
#include "cli.h"
#include "atomic_file.h"
#include "gguf.h"
#include "gguf_copy.h"
#include "imatrix_file.h"
#include "quant/quant.h"

#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* llama.cpp's llama_ftype numbers (general.file_type). */
struct mix {
	const char *name;
	uint32_t ftype;
	uint32_t base; /* sl_type of most weights */
};

static const struct mix mixes[] = {
	{ "f32", 0, SL_TYPE_F32 },      { "f16", 1, SL_TYPE_F16 },      { "bf16", 32, SL_TYPE_BF16 },
	{ "q4_0", 2, SL_TYPE_Q4_0 },    { "q4_1", 3, SL_TYPE_Q4_1 },    { "q8_0", 7, SL_TYPE_Q8_0 },
	{ "q5_0", 8, SL_TYPE_Q5_0 },    { "q5_1", 9, SL_TYPE_Q5_1 },    { "q2_k", 10, SL_TYPE_Q2_K },
	{ "q3_k_s", 11, SL_TYPE_Q3_K }, { "q3_k_m", 12, SL_TYPE_Q3_K }, { "q3_k_l", 13, SL_TYPE_Q3_K },
	{ "q4_k_s", 14, SL_TYPE_Q4_K }, { "q4_k_m", 15, SL_TYPE_Q4_K }, { "q5_k_s", 16, SL_TYPE_Q5_K },
	{ "q5_k_m", 17, SL_TYPE_Q5_K }, { "q6_k", 18, SL_TYPE_Q6_K },
	{ "iq4_nl", 25, SL_TYPE_IQ4_NL }, { "iq4_xs", 30, SL_TYPE_IQ4_XS }, { "iq2_xxs", 19, SL_TYPE_IQ2_XXS },
	{ "iq2_xs", 20, SL_TYPE_IQ2_XS },  { "iq1_s", 24, SL_TYPE_IQ1_S },     { "iq1_m", 31, SL_TYPE_IQ1_M },
	/* as llama.cpp names them: the iq2_s mix is mostly iq2_xs, iq2_m mostly iq2_s, iq3_xs/iq3_m iq3_s */
	{ "iq2_s", 28, SL_TYPE_IQ2_XS },   { "iq2_m", 29, SL_TYPE_IQ2_S },     { "iq3_xxs", 23, SL_TYPE_IQ3_XXS },
	{ "iq3_xs", 22, SL_TYPE_IQ3_S },   { "iq3_s", 26, SL_TYPE_IQ3_S },     { "iq3_m", 27, SL_TYPE_IQ3_S },
	/* aliases */
	{ "q4_k", 15, SL_TYPE_Q4_K },   { "q5_k", 17, SL_TYPE_Q5_K },   { "q3_k", 12, SL_TYPE_Q3_K },
};

enum { FT_Q4_0 = 2, FT_Q5_0 = 8 };
enum { FT_Q2_K = 10, FT_Q3_K_S, FT_Q3_K_M, FT_Q3_K_L, FT_Q4_K_S, FT_Q4_K_M, FT_Q5_K_S, FT_Q5_K_M };
enum {
	FT_IQ2_XXS = 19, FT_IQ2_XS = 20, FT_IQ3_XS = 22, FT_IQ3_XXS = 23, FT_IQ1_S = 24, FT_IQ4_NL = 25,
	FT_IQ3_S = 26, FT_IQ3_M = 27, FT_IQ2_S = 28, FT_IQ2_M = 29, FT_IQ4_XS = 30, FT_IQ1_M = 31,
};

/* What llama_tensor_get_type reads of the model besides the tensor itself. */
struct model_shape {
	int n_layer;   /* layers seen (blk.N.) */
	int n_gqa;     /* attention heads per KV head (1 when the file does not say) */
	int n_expert;  /* experts per layer (0 when none) */
	bool tied;     /* no output.weight: token_embd is also the output, and quantized as it */
	bool imatrix;  /* an importance matrix was given (the iq3_xxs mix uses other types without one) */
	bool pure;     /* --pure: the mix's base type everywhere (still subject to the row-length fallback) */
	int embd_type, output_type; /* --token-embedding-type / --output-tensor-type, or -1 */
};

static bool use_more_bits(int i, int n)
{
	return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static int layer_of(const char *name)
{
	int l = -1;
	if (sscanf(name, "blk.%d.", &l) != 1)
		return -1;
	return l;
}

static bool ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && !strcmp(s + a - b, suf);
}

static bool should_quantize(const struct gguf_tensor *t)
{
	return t->n_dims >= 2 && ends_with(t->name.s, "weight") && !strstr(t->name.s, "_norm") &&
	       !strstr(t->name.s, "rope_freqs") && !strstr(t->name.s, "position_embd");
}

/* The 1-2 bit i-quant mixes, which share their per-tensor rules. */
static bool low_bit_mix(uint32_t ft)
{
	return ft == FT_IQ2_XXS || ft == FT_IQ2_XS || ft == FT_IQ1_S || ft == FT_IQ1_M || ft == FT_IQ2_S || ft == FT_IQ2_M;
}

/* attn_v and the tensors llama.cpp treats as it (category_is_attn_v). */
static bool attn_v_like(const char *name)
{
	return strstr(name, "attn_v.weight") || strstr(name, "attn_qkv.weight") || strstr(name, "attn_kv_b.weight");
}

/* llama_tensor_get_type_impl's rules for the 1-2 bit i-quant mixes (the tensor is not the output). */
static uint32_t low_bit_rule(uint32_t ft, const char *name, int il, const struct model_shape *ms, uint32_t type)
{
	const bool s_or_m = ft == FT_IQ2_S || ft == FT_IQ2_M; /* these spend more bits where it matters */
	if (!strcmp(name, "token_embd.weight"))
		return s_or_m ? SL_TYPE_IQ3_S : SL_TYPE_Q2_K;
	if (attn_v_like(name))
		return ms->n_gqa >= 4 || ms->n_expert >= 4 ? SL_TYPE_Q4_K : s_or_m ? SL_TYPE_IQ3_S : SL_TYPE_Q2_K;
	if (ms->n_expert == 8 && strstr(name, "attn_k.weight"))
		return SL_TYPE_Q4_K;
	if (strstr(name, "ffn_down"))
		return il < ms->n_layer / 8 ? (s_or_m ? SL_TYPE_IQ3_S : SL_TYPE_Q2_K) : type;
	if (strstr(name, "attn_output.weight")) {
		if (ms->n_expert == 8)
			return SL_TYPE_Q5_K;
		if (ft == FT_IQ1_S || ft == FT_IQ1_M)
			return SL_TYPE_IQ2_XXS;
		if (s_or_m)
			return SL_TYPE_IQ3_S;
	}
	return type;
}

/* llama_tensor_get_type_impl's rules for the other mixes (the tensor is not the output). */
static uint32_t mix_rule(uint32_t ft, const char *name, int il, const struct model_shape *ms, uint32_t type)
{
	const int n_layer = ms->n_layer;
	if (!strcmp(name, "token_embd.weight"))
		return ft == FT_IQ3_XXS ? SL_TYPE_IQ3_S : type;
	if (attn_v_like(name)) {
		if (ft == FT_Q2_K)
			type = ms->n_gqa >= 4 ? SL_TYPE_Q4_K : SL_TYPE_Q3_K;
		else if (ft == FT_IQ3_XXS)
			type = ms->n_gqa >= 4 ? SL_TYPE_Q4_K : !ms->imatrix ? SL_TYPE_IQ3_S : SL_TYPE_IQ3_XXS;
		else if ((ft == FT_IQ3_XS || ft == FT_IQ3_S) && ms->n_gqa >= 4)
			type = SL_TYPE_Q4_K;
		else if (ft == FT_IQ3_M)
			type = SL_TYPE_Q4_K;
		else if (ft == FT_Q3_K_M)
			type = il < 2 ? SL_TYPE_Q5_K : SL_TYPE_Q4_K;
		else if (ft == FT_Q3_K_L)
			type = SL_TYPE_Q5_K;
		else if ((ft == FT_IQ4_NL || ft == FT_IQ4_XS) && ms->n_gqa >= 4)
			type = SL_TYPE_Q5_K;
		else if ((ft == FT_Q4_K_M || ft == FT_Q5_K_M) && use_more_bits(il, n_layer))
			type = SL_TYPE_Q6_K;
		else if (ft == FT_Q4_K_S && il < 4)
			type = SL_TYPE_Q5_K;
		return ms->n_expert == 8 ? SL_TYPE_Q8_0 : type;
	}
	if (strstr(name, "attn_k.weight") || strstr(name, "attn_q.weight")) {
		if (ms->n_expert == 8 && strstr(name, "attn_k.weight"))
			return SL_TYPE_Q8_0;
		return ft == FT_IQ3_XS ? SL_TYPE_IQ3_XXS : ft == FT_IQ3_XXS ? SL_TYPE_IQ2_S : type;
	}
	if (strstr(name, "ffn_down")) {
		if (ft == FT_Q2_K)
			return SL_TYPE_Q3_K;
		if (ft == FT_IQ3_XXS && !ms->imatrix)
			return il < n_layer / 8 ? SL_TYPE_Q4_K : SL_TYPE_Q3_K;
		if (ft == FT_Q3_K_M)
			return il < n_layer / 16 ? SL_TYPE_Q5_K : SL_TYPE_Q4_K;
		if (ft == FT_IQ3_M && (il < n_layer / 8 || (ms->n_expert == 8 && use_more_bits(il, n_layer))))
			return SL_TYPE_Q4_K;
		if (ft == FT_Q3_K_L)
			return SL_TYPE_Q5_K;
		if ((ft == FT_Q4_K_M || ft == FT_Q5_K_M) && use_more_bits(il, n_layer))
			return SL_TYPE_Q6_K;
		if ((ft == FT_IQ4_NL || ft == FT_IQ4_XS) && il < n_layer / 8 && !ms->imatrix)
			return SL_TYPE_Q5_K;
		if ((ft == FT_Q4_K_S || ft == FT_Q5_K_S) && il < n_layer / 8)
			return ft == FT_Q4_K_S ? SL_TYPE_Q5_K : SL_TYPE_Q6_K;
		if ((ft == FT_Q4_0 || ft == FT_Q5_0) && ms->imatrix && il < n_layer / 8) /* llama.cpp's guard */
			return ft == FT_Q4_0 ? SL_TYPE_Q4_1 : SL_TYPE_Q5_1;
		return type;
	}
	if (strstr(name, "attn_output.weight")) {
		if (ms->n_expert == 8)
			return ft == FT_Q2_K || ft == FT_IQ3_XS || ft == FT_IQ3_XXS || ft == FT_Q3_K_S || ft == FT_Q3_K_M ||
					       ft == FT_IQ4_NL || ft == FT_Q4_K_S || ft == FT_Q4_K_M || ft == FT_IQ3_S ||
					       ft == FT_IQ3_M || ft == FT_IQ4_XS
				       ? SL_TYPE_Q5_K
				       : type;
		return ft == FT_Q2_K ? SL_TYPE_Q3_K : ft == FT_IQ3_XXS ? SL_TYPE_IQ3_S : ft == FT_Q3_K_M ? SL_TYPE_Q4_K
		       : ft == FT_Q3_K_L ? SL_TYPE_Q5_K : ft == FT_IQ3_M ? SL_TYPE_Q4_K : type;
	}
	if ((strstr(name, "ffn_gate") || strstr(name, "ffn_up")) && ft == FT_IQ3_XS && il >= n_layer / 8 &&
	    il < 7 * n_layer / 8)
		return SL_TYPE_IQ3_XXS;
	return type;
}

/* A row length the chosen block size does not divide (llama.cpp's tensor_type_fallback). */
static uint32_t fallback(const struct gguf_tensor *t, uint32_t type)
{
	if (!(t->ne[0] % sl_type_traits(type)->block_size))
		return type;
	switch (type) {
	case SL_TYPE_Q2_K: case SL_TYPE_Q3_K: case SL_TYPE_IQ4_XS: case SL_TYPE_IQ2_XXS: case SL_TYPE_IQ2_XS:
	case SL_TYPE_IQ2_S: case SL_TYPE_IQ3_XXS: case SL_TYPE_IQ3_S: case SL_TYPE_IQ1_S: case SL_TYPE_IQ1_M:
		type = SL_TYPE_IQ4_NL;
		break;
	case SL_TYPE_Q4_K: type = SL_TYPE_Q5_0; break;
	case SL_TYPE_Q5_K: type = SL_TYPE_Q5_1; break;
	case SL_TYPE_Q6_K: type = SL_TYPE_Q8_0; break;
	default: break;
	}
	return t->ne[0] % sl_type_traits(type)->block_size ? SL_TYPE_F16 : type;
}

/* llama_tensor_get_type for the llama architecture. */
static uint32_t choose_type(const struct mix *m, const struct gguf_tensor *t, const struct model_shape *ms)
{
	const char *name = t->name.s;
	const uint32_t ft = m->ftype;
	uint32_t type = m->base;
	const int il = layer_of(name);
	/* llama-quantize's overrides come first (there they skip the row-length fallback and fail
	 * later; here a row the type cannot hold falls back as any other) */
	if (ms->embd_type >= 0 && !strcmp(name, "token_embd.weight"))
		return fallback(t, (uint32_t)ms->embd_type);
	if (ms->output_type >= 0 && !strcmp(name, "output.weight"))
		return fallback(t, (uint32_t)ms->output_type);
	if (ms->pure || !sl_type_traits(type)->quantized)
		return fallback(t, type);
	if (!strcmp(name, "output.weight") || (ms->tied && !strcmp(name, "token_embd.weight"))) {
		if (t->ne[0] % sl_type_traits(type)->block_size)
			type = SL_TYPE_Q8_0;
		else if (low_bit_mix(ft) || ft == FT_IQ3_XXS)
			type = SL_TYPE_Q5_K;
		else if (type != SL_TYPE_Q8_0)
			type = SL_TYPE_Q6_K;
	} else if (low_bit_mix(ft)) {
		type = low_bit_rule(ft, name, il, ms, type);
	} else {
		type = mix_rule(ft, name, il, ms, type);
	}
	return fallback(t, type);
}

/* ---- parallel row quantization ---- */

/* Importance weights of one tensor: qw[cols] for every row, or one row of cols per expert, each expert
 * being `per` consecutive rows; NULL qw = none. */
struct qweights {
	const float *qw;
	int64_t per;   /* rows per expert; 0 = one row of weights for all */
	int64_t row0;  /* the tensor row of this chunk's first row */
};

struct qjob {
	uint32_t type;
	const float *src;
	char *dst;
	int64_t cols, r0, r1;
	size_t rs;
	struct qweights w;
	bool failed;   /* a row the type could not be made of */
};

static void *qworker(void *arg)
{
	struct qjob *j = arg;
	const int64_t n = j->r1 - j->r0;
	if (!j->w.qw) { /* the _w form: iq2_s has a weightless quantizer only there (token_embd) */
		j->failed = n && sl_quantize_rows_w(j->type, j->src + j->r0 * j->cols, j->dst + (size_t)j->r0 * j->rs, n,
						     j->cols, NULL) != j->rs * (size_t)n;
		return NULL;
	}
	for (int64_t r = j->r0; r < j->r1 && !j->failed; r++) {
		const float *qw = j->w.qw + (j->w.per ? (j->w.row0 + r) / j->w.per * j->cols : 0);
		j->failed = sl_quantize_rows_w(j->type, j->src + r * j->cols, j->dst + (size_t)r * j->rs, 1, j->cols, qw) !=
			    j->rs;
	}
	return NULL;
}

/* false when the type could not be made (no quantizer for it without weights). */
static bool quantize_parallel(uint32_t type, const float *src, void *dst, int64_t rows, int64_t cols, int nth,
			      struct qweights w)
{
	pthread_t th[64];
	struct qjob jobs[64];
	size_t rs = sl_row_size(type, cols);
	if (nth > rows)
		nth = (int)rows;
	for (int i = 0; i < nth; i++) {
		jobs[i] = (struct qjob){ type, src, dst, cols, rows * i / nth, rows * (i + 1) / nth, rs, w, false };
		if (i && pthread_create(&th[i], NULL, qworker, &jobs[i]))
			qworker(&jobs[i]), th[i] = 0;
	}
	qworker(&jobs[0]);
	bool ok = !jobs[0].failed;
	for (int i = 1; i < nth; i++) {
		if (th[i])
			pthread_join(th[i], NULL);
		ok = ok && !jobs[i].failed;
	}
	return ok;
}

static int read_at(int fd, void *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t r = pread(fd, p, n, (off_t)off);
		if (r <= 0)
			return -1;
		p = (char *)p + r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/*
 * The importance weights of tensor t from the matrix: the means of its entry, cols of them for every
 * row, or cols per expert of a 3-D tensor (nmat = ne[2] in the GGUF format; the legacy format gives
 * one entry of ne[0] * ne[2] values).  *qw NULL when the matrix has no entry for t; -1 after an error
 * message when the entry does not fit the tensor.
 */
static int tensor_weights(const struct imx *m, const struct gguf_tensor *t, float **qw, int64_t *per)
{
	*qw = NULL;
	*per = 0;
	const struct imx_entry *e = m ? imx_find(m, t->name.s) : NULL;
	if (!e)
		return 0;
	const int64_t nv = e->cols * e->nmat, ne2 = t->n_dims >= 3 ? t->ne[2] : 1;
	if (nv != t->ne[0] && !(t->n_dims == 3 && nv == t->ne[0] * ne2)) {
		cli_error("quantize", "--imatrix: the entry for %s holds %lld x %lld values; the tensor has %lld columns%s",
			  t->name.s, (long long)e->cols, (long long)e->nmat, (long long)t->ne[0],
			  t->n_dims == 3 ? " per expert" : "");
		return -1;
	}
	if (!(*qw = malloc((size_t)nv * sizeof(float)))) {
		cli_error("quantize", "out of memory");
		return -1;
	}
	for (int64_t k = 0; k < e->nmat; k++)
		imx_means(e, k, *qw + k * e->cols);
	if (nv != t->ne[0])
		*per = t->ne[1];
	return 0;
}

/* llama.cpp's tensor_requires_imatrix: the type needs one, except on token_embd and output, which
 * are quantized without it when the matrix has no entry (as ggml's reference quantizers do; the
 * types with none, iq2_xxs/iq2_xs/iq1_s/iq1_m, are refused there too). */
static bool needs_imatrix(const struct gguf_tensor *t, uint32_t type)
{
	if (!sl_quant_needs_imatrix(type))
		return false;
	if (strcmp(t->name.s, "token_embd.weight") && strcmp(t->name.s, "output.weight"))
		return true;
	return !sl_type_traits(type)->from_float && type != SL_TYPE_IQ2_S;
}

static void usage(FILE *o)
{
	fprintf(o, "usage: sluice quantize IN.gguf OUT.gguf --type TYPE [--imatrix FILE] [--pure] [--threads N] [-v] [-q]\n"
		   "  TYPE: q4_k_m q4_k_s q5_k_m q5_k_s q6_k q8_0 q3_k_m q3_k_s q3_k_l q2_k\n"
		   "        q4_0 q4_1 q5_0 q5_1 iq4_nl iq4_xs f16 bf16 f32\n"
		   "        iq3_s iq3_m iq3_xs\n"
		   "        iq2_xxs iq2_xs iq2_s iq2_m iq3_xxs iq1_s iq1_m (need --imatrix)\n"
		   "        (llama.cpp's mixes: iq2_s is mostly iq2_xs, iq2_m mostly iq2_s, iq3_xs/iq3_m iq3_s;\n"
		   "        iq3_xs needs --imatrix for the iq3_xxs it puts on attn_q/attn_k)\n"
		   "  --pure        the type itself on every quantized tensor (llama-quantize --pure)\n"
		   "  --token-embedding-type T, --output-tensor-type T   that type (q8_0, f16, ...) for\n"
		   "                token_embd.weight / output.weight, as llama-quantize's options\n"
		   "  --imatrix FILE  an importance matrix (sluice imatrix; llama.cpp's .gguf or .dat): the\n"
		   "                  k-quants, q4_0..q5_1 and i-quants minimise the error it weights\n"
		   "  --threads N   quantizing threads (default: online CPUs)\n"
		   "  -v            list each tensor's type;  -q  no progress bar\n");
}

int cmd_quantize(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "type", required_argument, 0, 'T' }, { "threads", required_argument, 0, 't' },
		{ "verbose", no_argument, 0, 'v' },    { "quiet", no_argument, 0, 'q' },
		{ "imatrix", required_argument, 0, 'I' }, { "pure", no_argument, 0, 'P' },
		{ "token-embedding-type", required_argument, 0, 'E' }, { "output-tensor-type", required_argument, 0, 'O' },
		{ "help", no_argument, 0, 'h' },       { 0, 0, 0, 0 },
	};
	const struct mix *mix = NULL;
	const char *imatrix_path = NULL;
	long nth = sysconf(_SC_NPROCESSORS_ONLN);
	bool verbose = false, quiet = false, pure = false;
	int embd_type = -1, output_type = -1;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":T:t:vqh", opts, NULL)) != -1) {
		switch (c) {
		case 'T':
			for (size_t i = 0; i < sizeof mixes / sizeof mixes[0]; i++)
				if (!strcasecmp(mixes[i].name, optarg))
					mix = &mixes[i];
			if (!mix)
				return cli_error("quantize", "--type: unknown type '%s' (see --help)", optarg);
			break;
		case 't': if (!cli_int("quantize", "--threads", optarg, 1, 64, &nth)) return 1; break;
		case 'v': verbose = true; break;
		case 'q': quiet = true; break;
		case 'I': imatrix_path = optarg; break;
		case 'P': pure = true; break;
		case 'E':
		case 'O': {
			const int ty = sl_type_from_name(optarg);
			if (ty < 0 || !sl_type_traits((uint32_t)ty)->to_float)
				return cli_error("quantize", "--%s: unknown type '%s'",
						 c == 'E' ? "token-embedding-type" : "output-tensor-type", optarg);
			*(c == 'E' ? &embd_type : &output_type) = ty;
			break;
		}
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (mix && sl_quant_needs_imatrix(mix->base) && !imatrix_path)
		return cli_error("quantize", "--type %s: the 1-3 bit i-quants need an importance matrix: make one with "
			       "sluice imatrix MODEL -f TEXT, then pass it with --imatrix FILE", mix->name);
	if (argc - optind != 2 || !mix) {
		usage(stderr);
		return 1;
	}
	if (nth < 1)
		nth = 1;
	if (nth > 64)
		nth = 64;
	const char *in = argv[optind], *out = argv[optind + 1];

	struct sl_err err = { { 0 } };
	struct gguf_file *f = NULL;
	if (cli_check_input("quantize", in) || (imatrix_path && cli_check_input("quantize", imatrix_path)))
		return 1;
	struct imx imatrix = { 0 }, *im = NULL;
	if (imatrix_path) {
		if (imx_read(imatrix_path, &imatrix, &err) < 0)
			return cli_error("quantize", "--imatrix: %s", err.msg);
		im = &imatrix;
		if (!quiet) { /* the dataset name comes from the file: escaped for the terminal */
			char sp[1024], sd[1024];
			fprintf(stderr, "sluice quantize: importance matrix %s: %zu entries, %u chunks of %u tokens%s%s\n",
				cli_safe(imatrix_path, strlen(imatrix_path), sp, sizeof sp), im->n, im->chunk_count,
				im->chunk_size, im->dataset ? " from " : "",
				im->dataset ? cli_safe(im->dataset, strlen(im->dataset), sd, sizeof sd) : "");
		}
	}
	if (sl_gguf_open(in, &f, &err) < 0) {
		imx_free(&imatrix);
		return cli_error("quantize", "%s", err.msg);
	}

	struct model_shape ms = { .n_gqa = 1, .tied = true, .imatrix = im != NULL, .pure = pure,
				  .embd_type = embd_type, .output_type = output_type };
	for (uint64_t i = 0; i < f->n_tensors; i++) {
		if (layer_of(f->tensors[i].name.s) + 1 > ms.n_layer)
			ms.n_layer = layer_of(f->tensors[i].name.s) + 1;
		if (!strcmp(f->tensors[i].name.s, "output.weight"))
			ms.tied = false;
	}

	/* n_head / n_head_kv for the attn_v rules (1 when the file does not say), and the expert count. */
	const char *arch = NULL;
	if (sl_gguf_get_str(f, "general.architecture", &arch, &err) == 0) {
		char key[256];
		uint32_t nh = 0, nkv = 0, nexp = 0;
		snprintf(key, sizeof key, "%.100s.attention.head_count", arch);
		if (sl_gguf_get_u32(f, key, &nh, &err) == 0) {
			snprintf(key, sizeof key, "%.100s.attention.head_count_kv", arch);
			if (sl_gguf_get_u32(f, key, &nkv, &err) == 0 && nkv && nh % nkv == 0)
				ms.n_gqa = (int)(nh / nkv);
		}
		snprintf(key, sizeof key, "%.100s.expert_count", arch);
		if (sl_gguf_get_u32(f, key, &nexp, &err) == 0 && nexp < 1u << 16)
			ms.n_expert = (int)nexp;
	}
	err = (struct sl_err){ { 0 } };

	struct gguf_writer *w = sl_gguf_writer_new((uint32_t)f->alignment);
	int rc = 0;
	for (uint64_t i = 0; i < f->n_kv && !rc; i++) {
		const char *k = f->kv[i].key.s;
		if (!strcmp(k, "general.file_type") || !strcmp(k, "general.quantization_version"))
			continue;
		int r = sl_gguf_writer_copy_kv(w, &f->kv[i]);
		char sk[1024];
		if (r == 1)
			fprintf(stderr, "sluice quantize: note: %s widened (%s has no exact writer type)\n",
				cli_safe(k, f->kv[i].key.len, sk, sizeof sk), sl_gguf_vtype_name(f->kv[i].val.type));
		else if (r == -ENOTSUP)
			fprintf(stderr, "sluice quantize: warning: %s (array of arrays) not copied\n",
				cli_safe(k, f->kv[i].key.len, sk, sizeof sk));
		else if (r < 0)
			rc = r;
	}
	sl_gguf_writer_set_u32(w, "general.quantization_version", 2);
	sl_gguf_writer_set_u32(w, "general.file_type", mix->ftype);

	uint32_t *types = calloc(f->n_tensors ? f->n_tensors : 1, sizeof *types);
	uint64_t total_in = 0, total_out = 0, total_elems = 0, done_elems = 0;
	for (uint64_t i = 0; i < f->n_tensors && !rc; i++) {
		const struct gguf_tensor *t = &f->tensors[i];
		const struct sl_type_traits *tt = sl_type_traits(t->type);
		types[i] = should_quantize(t) ? choose_type(mix, t, &ms) : t->type;
		if (types[i] != t->type && (!tt || !tt->to_float)) {
			rc = cli_error("quantize", "%s: cannot convert from type %s", t->name.s, sl_type_name(t->type));
			break;
		}
		if (types[i] != t->type && !im && needs_imatrix(t, types[i])) {
			rc = cli_error("quantize", "--type %s: %s would be %s, which needs an importance matrix: make one "
				       "with sluice imatrix MODEL -f TEXT, then pass it with --imatrix FILE",
				       mix->name, t->name.s, sl_type_name(types[i]));
			break;
		}
		if (sl_gguf_writer_add_tensor(w, t->name.s, types[i], t->n_dims, t->ne) < 0)
			rc = -ENOMEM;
		total_elems += (uint64_t)sl_gguf_tensor_nelements(t);
	}

	/* A temporary file next to OUT, renamed over it only when complete: an error or a signal
	 * leaves OUT as it was, and OUT may never be IN by any path (runtime/atomic_file.h). */
	struct sl_atomic_file af = { .fd = -1, .slot = -1 };
	if (!rc && sl_atomic_file_open(&af, out, in, &err) < 0)
		rc = cli_error("quantize", "%s", err.msg);
	int fd = af.fd;
	if (!rc && sl_gguf_writer_write_header(w, fd, &err) < 0)
		rc = cli_error("quantize", "%s", err.msg);

	/* Chunks of at most ~16M elements: bounded memory for any tensor size. */
	const int64_t chunk_elems = 16 << 20;
	for (uint64_t i = 0; i < f->n_tensors && !rc; i++) {
		const struct gguf_tensor *t = &f->tensors[i];
		const int64_t cols = t->ne[0], rows = sl_gguf_tensor_nelements(t) / (cols ? cols : 1);
		const size_t irs = sl_row_size(t->type, cols), ors = sl_row_size(types[i], cols);
		int64_t rows_per = chunk_elems / (cols ? cols : 1);
		if (rows_per < 1)
			rows_per = 1;
		char *ibuf = malloc(irs * (size_t)rows_per), *obuf = malloc(ors * (size_t)rows_per);
		float *fbuf = types[i] == t->type ? NULL : malloc(sizeof(float) * (size_t)(rows_per * cols));
		if (!ibuf || !obuf || (types[i] != t->type && !fbuf))
			rc = cli_error("quantize", "out of memory");
		struct qweights qw = { 0 };
		float *qwbuf = NULL;
		if (!rc && types[i] != t->type && (sl_quant_weighted(types[i]) || sl_quant_needs_imatrix(types[i]))) {
			if (tensor_weights(im, t, &qwbuf, &qw.per) < 0)
				rc = 1;
			else if (!qwbuf && needs_imatrix(t, types[i]))
				rc = cli_error("quantize", "--imatrix %s has no entry for %s, which %s cannot be made without",
					       imatrix_path ? imatrix_path : "(none)", t->name.s, sl_type_name(types[i]));
			qw.qw = qwbuf;
		}
		for (int64_t r = 0; r < rows && !rc; r += rows_per) {
			int64_t nr = rows - r < rows_per ? rows - r : rows_per;
			if (read_at(f->fd, ibuf, irs * (size_t)nr, t->file_offset + (uint64_t)r * irs) < 0) {
				rc = cli_error("quantize", "%s: read error in tensor %s", in, t->name.s);
				break;
			}
			const void *data = ibuf;
			if (types[i] != t->type) {
				if (t->type == SL_TYPE_F32)
					memcpy(fbuf, ibuf, irs * (size_t)nr);
				else
					sl_type_traits(t->type)->to_float(ibuf, fbuf, nr * cols);
				qw.row0 = r;
				if (!quantize_parallel(types[i], fbuf, obuf, nr, cols, (int)nth, qw)) {
					rc = cli_error("quantize", "%s: cannot make %s here (no quantizer for it without "
						       "importance data)", t->name.s, sl_type_name(types[i]));
					break;
				}
				data = obuf;
			}
			if (sl_gguf_writer_write_data(w, fd, (int)i, (uint64_t)r * ors, data, ors * (size_t)nr, &err) < 0)
				rc = cli_error("quantize", "%s", err.msg);
			done_elems += (uint64_t)(nr * cols);
			if (!quiet)
				cli_progress("quantize", done_elems, total_elems);
		}
		free(ibuf), free(obuf), free(fbuf), free(qwbuf);
		total_in += t->size;
		total_out += ors * (uint64_t)rows;
		char sn[1024];
		if (verbose && !rc)
			printf("%-32s %-5s -> %-5s [%lld x %lld]%s\n", cli_safe(t->name.s, t->name.len, sn, sizeof sn),
			       sl_type_name(t->type), sl_type_name(types[i]), (long long)cols, (long long)rows,
			       qw.qw ? " imatrix" : "");
	}
	if (!rc && sl_gguf_writer_finish(w, fd, &err) < 0)
		rc = cli_error("quantize", "%s", err.msg);
	if (!rc && sl_atomic_file_commit(&af, &err) < 0)
		rc = cli_error("quantize", "%s", err.msg);
	if (rc)
		sl_atomic_file_abort(&af);
	if (!rc) {
		char si[1024], so[1024];
		printf("quantized %s -> %s (%s): %llu tensors, %.1f MB -> %.1f MB\n", cli_safe(in, strlen(in), si, sizeof si),
		       cli_safe(out, strlen(out), so, sizeof so), mix->name, (unsigned long long)f->n_tensors,
		       total_in / 1e6, total_out / 1e6);
	}
	free(types);
	imx_free(&imatrix);
	sl_gguf_writer_free(w);
	sl_gguf_close(f);
	return rc ? 1 : 0;
}
