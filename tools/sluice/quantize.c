/* SPDX-License-Identifier: MIT */
/*
 * tools/sluice/quantize.c — `sluice quantize IN.gguf OUT.gguf --type MIX`:
 * rewrite a model's weights in another type, keeping all metadata.
 *
 * The per-tensor choice follows llama.cpp's llama_tensor_get_type for the
 * llama architecture without an importance matrix:
 *   - only 2-D+ tensors named *.weight are quantized; norms and other 1-D
 *     tensors are copied as they are (F32);
 *   - output.weight becomes Q6_K (kept Q8_0 for q8_0, F16/BF16/F32 for those);
 *   - the _M / _S mixes give more bits to attn_v and ffn_down in the layers
 *     selected by use_more_bits (first and last eighth, every third between);
 *   - iq4_nl / iq4_xs: attn_v q5_K when n_head / n_head_kv >= 4, ffn_down
 *     q5_K in the first eighth of the layers;
 *   - iq2_xxs, iq2_xs, iq1_s, iq1_m (only with --imatrix): output q5_K, token_embd q2_K,
 *     attn_v q4_K when n_head / n_head_kv >= 4 (else q2_K), ffn_down q2_K in
 *     the first eighth of the layers; iq1_s, iq1_m: attn_output iq2_xxs;
 *   - a row length that the chosen block size does not divide falls back
 *     (q4_K -> q5_0, q5_K -> q5_1, q6_K -> q8_0, q2_K/q3_K/iq4_xs/iq2_xxs/iq2_xs/iq1_s/iq1_m -> iq4_nl,
 *     then f16).
 * Quantizers are ggml's reference ones, so a tensor comes out byte-identical
 * to llama-quantize's (without --imatrix).
 *
 * --imatrix FILE (`sluice imatrix`, or llama.cpp's imatrix.gguf / .dat): each tensor the matrix
 * names is quantized minimising an error weighted by its columns' mean square activations, as
 * llama-quantize --imatrix does (sl_quantize_rows_w; a 3-D expert tensor takes each expert's own
 * row of the matrix).  The 1-2 bit i-quants llama.cpp will not make without one are refused
 * without it, and refused for any tensor the matrix does not cover.  Rows are quantized by several
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
	/* aliases */
	{ "q4_k", 15, SL_TYPE_Q4_K },   { "q5_k", 17, SL_TYPE_Q5_K },   { "q3_k", 12, SL_TYPE_Q3_K },
};

enum { FT_Q2_K = 10, FT_Q3_K_S, FT_Q3_K_M, FT_Q3_K_L, FT_Q4_K_S, FT_Q4_K_M, FT_Q5_K_S, FT_Q5_K_M };
enum { FT_IQ2_XXS = 19, FT_IQ2_XS = 20, FT_IQ1_S = 24, FT_IQ4_NL = 25, FT_IQ4_XS = 30, FT_IQ1_M = 31 };

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

/* llama_tensor_get_type, llama architecture, no imatrix. n_layer: number of layers seen;
 * n_gqa: attention heads per KV head. */
static uint32_t choose_type(const struct mix *m, const struct gguf_tensor *t, int n_layer, int n_gqa)
{
	const char *name = t->name.s;
	const uint32_t ft = m->ftype;
	uint32_t type = m->base;
	const int il = layer_of(name);
	if (ft == FT_IQ2_XXS || ft == FT_IQ2_XS || ft == FT_IQ1_S || ft == FT_IQ1_M) {
		/* llama.cpp's 1-2 bit i-quant mixes: more bits where errors cost most */
		if (!strcmp(name, "output.weight"))
			type = SL_TYPE_Q5_K;
		else if (!strcmp(name, "token_embd.weight"))
			type = SL_TYPE_Q2_K;
		else if (strstr(name, "attn_v.weight"))
			type = n_gqa >= 4 ? SL_TYPE_Q4_K : SL_TYPE_Q2_K;
		else if (strstr(name, "ffn_down") && il < n_layer / 8)
			type = SL_TYPE_Q2_K;
		else if (strstr(name, "attn_output.weight") && (ft == FT_IQ1_S || ft == FT_IQ1_M))
			type = SL_TYPE_IQ2_XXS;
	} else if (!strcmp(name, "output.weight")) {
		if (type != SL_TYPE_Q8_0 && sl_type_traits(type)->quantized)
			type = SL_TYPE_Q6_K;
	} else if (strstr(name, "attn_v.weight")) {
		if (ft == FT_Q2_K)
			type = SL_TYPE_Q3_K;
		else if (ft == FT_Q3_K_M)
			type = il < 2 ? SL_TYPE_Q5_K : SL_TYPE_Q4_K;
		else if (ft == FT_Q3_K_L)
			type = SL_TYPE_Q5_K;
		else if ((ft == FT_Q4_K_M || ft == FT_Q5_K_M) && use_more_bits(il, n_layer))
			type = SL_TYPE_Q6_K;
		else if (ft == FT_Q4_K_S && il < 4)
			type = SL_TYPE_Q5_K;
		else if ((ft == FT_IQ4_NL || ft == FT_IQ4_XS) && n_gqa >= 4)
			type = SL_TYPE_Q5_K;
	} else if (strstr(name, "ffn_down")) {
		if (ft == FT_Q3_K_M)
			type = il < n_layer / 16 ? SL_TYPE_Q5_K : SL_TYPE_Q4_K;
		else if (ft == FT_Q3_K_L)
			type = SL_TYPE_Q5_K;
		else if ((ft == FT_Q4_K_M || ft == FT_Q5_K_M) && use_more_bits(il, n_layer))
			type = SL_TYPE_Q6_K;
		else if ((ft == FT_Q4_K_S || ft == FT_Q5_K_S) && il < n_layer / 8)
			type = ft == FT_Q4_K_S ? SL_TYPE_Q5_K : SL_TYPE_Q6_K;
		else if ((ft == FT_IQ4_NL || ft == FT_IQ4_XS) && il < n_layer / 8)
			type = SL_TYPE_Q5_K;
	} else if (strstr(name, "attn_output.weight")) {
		if (ft == FT_Q2_K)
			type = SL_TYPE_Q3_K;
		else if (ft == FT_Q3_K_M)
			type = SL_TYPE_Q4_K;
		else if (ft == FT_Q3_K_L)
			type = SL_TYPE_Q5_K;
	} else if (strstr(name, "attn_qkv.weight")) {
		if (ft == FT_Q3_K_M || ft == FT_Q3_K_L)
			type = SL_TYPE_Q4_K;
		else if (ft == FT_Q4_K_M)
			type = SL_TYPE_Q5_K;
		else if (ft == FT_Q5_K_M)
			type = SL_TYPE_Q6_K;
	}
	/* Row length must be a multiple of the block size. */
	if (t->ne[0] % sl_type_traits(type)->block_size) {
		switch (type) {
		case SL_TYPE_Q2_K: case SL_TYPE_Q3_K: case SL_TYPE_IQ4_XS:
		case SL_TYPE_IQ2_XXS: case SL_TYPE_IQ2_XS: case SL_TYPE_IQ1_S: case SL_TYPE_IQ1_M:
			type = SL_TYPE_IQ4_NL;
			break;
		case SL_TYPE_Q4_K: type = SL_TYPE_Q5_0; break;
		case SL_TYPE_Q5_K: type = SL_TYPE_Q5_1; break;
		case SL_TYPE_Q6_K: type = SL_TYPE_Q8_0; break;
		default: break;
		}
		if (t->ne[0] % sl_type_traits(type)->block_size)
			type = SL_TYPE_F16;
	}
	return type;
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
};

static void *qworker(void *arg)
{
	struct qjob *j = arg;
	if (!j->w.qw) {
		sl_quantize_rows(j->type, j->src + j->r0 * j->cols, j->dst + (size_t)j->r0 * j->rs, j->r1 - j->r0, j->cols);
		return NULL;
	}
	for (int64_t r = j->r0; r < j->r1; r++) {
		const float *qw = j->w.qw + (j->w.per ? (j->w.row0 + r) / j->w.per * j->cols : 0);
		sl_quantize_rows_w(j->type, j->src + r * j->cols, j->dst + (size_t)r * j->rs, 1, j->cols, qw);
	}
	return NULL;
}

static void quantize_parallel(uint32_t type, const float *src, void *dst, int64_t rows, int64_t cols, int nth,
			      struct qweights w)
{
	pthread_t th[64];
	struct qjob jobs[64];
	size_t rs = sl_row_size(type, cols);
	if (nth > rows)
		nth = (int)rows;
	for (int i = 0; i < nth; i++) {
		jobs[i] = (struct qjob){ type, src, dst, cols, rows * i / nth, rows * (i + 1) / nth, rs, w };
		if (i && pthread_create(&th[i], NULL, qworker, &jobs[i]))
			qworker(&jobs[i]), th[i] = 0;
	}
	qworker(&jobs[0]);
	for (int i = 1; i < nth; i++)
		if (th[i])
			pthread_join(th[i], NULL);
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

static void usage(FILE *o)
{
	fprintf(o, "usage: sluice quantize IN.gguf OUT.gguf --type TYPE [--imatrix FILE] [--threads N] [-v] [-q]\n"
		   "  TYPE: q4_k_m q4_k_s q5_k_m q5_k_s q6_k q8_0 q3_k_m q3_k_s q3_k_l q2_k\n"
		   "        q4_0 q4_1 q5_0 q5_1 iq4_nl iq4_xs f16 bf16 f32\n"
		   "        iq2_xxs iq2_xs iq1_s iq1_m (need --imatrix)\n"
		   "        (llama.cpp's mixes)\n"
		   "  --imatrix FILE  an importance matrix (sluice imatrix; llama.cpp's .gguf or .dat): the\n"
		   "                  k-quants and i-quants minimise the error it weights\n"
		   "  --threads N   quantizing threads (default: online CPUs)\n"
		   "  -v            list each tensor's type;  -q  no progress bar\n");
}

int cmd_quantize(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "type", required_argument, 0, 'T' }, { "threads", required_argument, 0, 't' },
		{ "verbose", no_argument, 0, 'v' },    { "quiet", no_argument, 0, 'q' },
		{ "imatrix", required_argument, 0, 'I' },
		{ "help", no_argument, 0, 'h' },       { 0, 0, 0, 0 },
	};
	const struct mix *mix = NULL;
	const char *imatrix_path = NULL;
	long nth = sysconf(_SC_NPROCESSORS_ONLN);
	bool verbose = false, quiet = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":T:t:vqh", opts, NULL)) != -1) {
		switch (c) {
		case 'T':
			for (size_t i = 0; i < sizeof mixes / sizeof mixes[0]; i++)
				if (!strcasecmp(mixes[i].name, optarg))
					mix = &mixes[i];
			if (!mix && (!strncasecmp(optarg, "iq1", 3) || !strncasecmp(optarg, "iq2", 3) ||
				     !strncasecmp(optarg, "iq3", 3)))
				return cli_error("quantize", "--type %s: no such mix in sluice quantize yet: the i-quant "
					       "mixes not implemented (iq2_s, iq3_xxs, iq3_s and their _m variants) put "
					       "tensors in types sluice cannot quantize yet (iq2_s, iq3_s)", optarg);
			if (!mix)
				return cli_error("quantize", "--type: unknown type '%s' (see --help)", optarg);
			break;
		case 't': if (!cli_int("quantize", "--threads", optarg, 1, 64, &nth)) return 1; break;
		case 'v': verbose = true; break;
		case 'q': quiet = true; break;
		case 'I': imatrix_path = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (mix && sl_quant_needs_imatrix(mix->base) && !imatrix_path)
		return cli_error("quantize", "--type %s: the 1-2 bit i-quants need an importance matrix: make one with "
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

	int n_layer = 0;
	for (uint64_t i = 0; i < f->n_tensors; i++)
		if (layer_of(f->tensors[i].name.s) + 1 > n_layer)
			n_layer = layer_of(f->tensors[i].name.s) + 1;

	/* n_head / n_head_kv, for the iq4 mixes' attn_v rule (1 when the file does not say). */
	int n_gqa = 1;
	const char *arch = NULL;
	if (sl_gguf_get_str(f, "general.architecture", &arch, &err) == 0) {
		char key[256];
		uint32_t nh = 0, nkv = 0;
		snprintf(key, sizeof key, "%.100s.attention.head_count", arch);
		if (sl_gguf_get_u32(f, key, &nh, &err) == 0) {
			snprintf(key, sizeof key, "%.100s.attention.head_count_kv", arch);
			if (sl_gguf_get_u32(f, key, &nkv, &err) == 0 && nkv && nh % nkv == 0)
				n_gqa = (int)(nh / nkv);
		}
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
		types[i] = should_quantize(t) ? choose_type(mix, t, n_layer, n_gqa) : t->type;
		if (types[i] != t->type && (!tt || !tt->to_float)) {
			rc = cli_error("quantize", "%s: cannot convert from type %s", t->name.s, sl_type_name(t->type));
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
			else if (!qwbuf && sl_quant_needs_imatrix(types[i]))
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
				quantize_parallel(types[i], fbuf, obuf, nr, cols, (int)nth, qw);
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
