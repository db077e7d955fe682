/* SPDX-License-Identifier: MIT */
/*
 * tools/sluice/imatrix.c — `sluice imatrix`: an importance matrix of a model over a text, as
 * llama.cpp's llama-imatrix computes it, for `sluice quantize --imatrix`.
 *
 * The text is tokenized whole and cut into chunks of --chunk tokens, each starting with BOS (when
 * the vocabulary has one), each run from an empty context.  A matmul observer
 * (sluice_ctx_set_matmul_observer) adds, for every weight named blk.* (and output.weight with
 * --process-output, as llama.cpp), the squares of its input activations per column and counts the
 * rows.  Unlike llama.cpp, which skips products of fewer than 16 rows, every row is counted: a
 * chunk runs in forward passes of up to 64 tokens, so its last pass may be short, and every token
 * of the text should weigh the same.
 */
#include "cli.h"
#include "gguf.h"
#include "imatrix_file.h"
#include "sluice.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

struct collector {
	struct imx m;
	struct gguf_file *g;    /* the model's metadata: the shape of an expert tensor */
	bool process_output;
	size_t last;            /* the entry hit last (the order repeats every pass) */
	int rc;
	struct sl_err err;
};

static bool wanted(const struct collector *c, const char *name)
{
	return !strncmp(name, "blk.", 4) || (c->process_output && !strcmp(name, "output.weight"));
}

static void observe(void *user, const char *name, int32_t expert, const float *x, size_t n, size_t cols)
{
	struct collector *c = user;
	if (c->rc || !wanted(c, name))
		return;
	struct imx_entry *e = NULL;
	size_t next = c->last + 1 < c->m.n ? c->last + 1 : 0;
	if (next < c->m.n && !strcmp(c->m.e[next].name, name))
		e = &c->m.e[next];
	if (!e) {
		int64_t nmat = 1;
		if (expert >= 0) {
			const struct gguf_tensor *t = sl_gguf_find_tensor(c->g, name);
			nmat = t && t->n_dims >= 3 ? t->ne[2] : expert + 1;
		}
		if (!(e = imx_entry_get(&c->m, name, (int64_t)cols, nmat, &c->err))) {
			c->rc = -EINVAL;
			return;
		}
	}
	c->last = (size_t)(e - c->m.e);
	const int64_t mat = expert >= 0 ? expert : 0;
	if (mat >= e->nmat) {
		c->rc = sl_errf(&c->err, EINVAL, "%s: expert %d of %lld", name, expert, (long long)e->nmat);
		return;
	}
	double *s = e->sum2 + mat * e->cols;
	for (size_t r = 0; r < n; r++) {
		const float *xr = x + r * cols;
		for (size_t j = 0; j < cols; j++)
			s[j] += (double)xr[j] * xr[j];
	}
	e->counts[mat] += (double)n;
}

static void imx_usage(FILE *o)
{
	fprintf(o,
		"usage: sluice imatrix [-m] MODEL -f TEXT [-o FILE] [--chunk N] [--chunks N] [--process-output]\n"
		"  the mean square of every weight's input activations over TEXT (llama.cpp's importance matrix),\n"
		"  for sluice quantize --imatrix\n"
		"  -o, --output FILE      where to write it (default imatrix.gguf); llama.cpp's imatrix GGUF format,\n"
		"                         or its legacy binary format when FILE ends in .dat\n"
		"      --output-format F  gguf or dat, whatever FILE's name\n"
		"  -c, --chunk N          tokens per chunk, each from an empty context with BOS first (default 512)\n"
		"      --chunks N         use at most N chunks (default: all the text holds)\n"
		"      --process-output   include output.weight (llama.cpp leaves it out by default); every\n"
		"                         token then runs as its own forward pass (slower)\n"
		"      --tokens-out FILE  also write the tokens of the chunks used (int32, BOS in place), for a\n"
		"                         reference to recompute the statistic from\n"
		"  -t, --threads N, --vram SIZE, --host-cache SIZE, --backend NAME   as for sluice run\n");
}

static bool ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && !strcmp(s + a - b, suf);
}

static char *read_text(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		cli_error("imatrix", "%s: %s", path, strerror(errno));
		return NULL;
	}
	char *t = NULL;
	size_t cap = 0, n = 0, k;
	for (;;) {
		if (n + 65536 > cap) {
			char *nt = realloc(t, cap = cap * 2 + 65536);
			if (!nt) {
				cli_error("imatrix", "out of memory reading %s", path);
				free(t);
				fclose(f);
				return NULL;
			}
			t = nt;
		}
		if ((k = fread(t + n, 1, cap - n, f)) == 0)
			break;
		n += k;
	}
	bool bad = ferror(f);
	fclose(f);
	if (bad) {
		cli_error("imatrix", "%s: read error", path);
		free(t);
		return NULL;
	}
	*len = n;
	return t;
}

int cmd_imatrix(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "model", required_argument, 0, 'm' },        { "file", required_argument, 0, 'f' },
		{ "output", required_argument, 0, 'o' },       { "output-format", required_argument, 0, 'F' },
		{ "chunk", required_argument, 0, 'c' },        { "ctx", required_argument, 0, 'c' },
		{ "chunks", required_argument, 0, 'C' },       { "process-output", no_argument, 0, 'P' },
		{ "threads", required_argument, 0, 't' },      { "vram", required_argument, 0, 'V' },
		{ "host-cache", required_argument, 0, 'H' },   { "backend", required_argument, 0, 'B' },
		{ "tokens-out", required_argument, 0, 'T' },   { "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *model_path = NULL, *text_path = NULL, *out_path = "imatrix.gguf", *format = NULL, *backend = "cpu";
	const char *tokens_out = NULL;
	long chunk = 512, max_chunks = 0, threads = 0;
	uint64_t vram = 0, host_cache = 0;
	struct collector col = { 0 };
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:f:o:c:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model_path = optarg; break;
		case 'f': text_path = optarg; break;
		case 'o': out_path = optarg; break;
		case 'F': format = optarg; break;
		case 'c': if (!cli_int("imatrix", "--chunk", optarg, 8, 1 << 20, &chunk)) return 1; break;
		case 'C': if (!cli_int("imatrix", "--chunks", optarg, 1, 1 << 30, &max_chunks)) return 1; break;
		case 'P': col.process_output = true; break;
		case 't': if (!cli_int("imatrix", "-t", optarg, 1, 1024, &threads)) return 1; break;
		case 'V': if (!cli_size("imatrix", "--vram", optarg, &vram)) return 1; break;
		case 'H': if (!cli_size("imatrix", "--host-cache", optarg, &host_cache)) return 1; break;
		case 'B': backend = optarg; break;
		case 'T': tokens_out = optarg; break;
		case 'h': imx_usage(stdout); return 0;
		case ':': return cli_error("imatrix", "option '%s' needs a value", argv[optind - 1]);
		default: return cli_error("imatrix", "unknown option '%s' (see sluice imatrix --help)", argv[optind - 1]);
		}
	}
	if (optind < argc && !model_path)
		model_path = argv[optind++];
	if (optind < argc)
		return cli_error("imatrix", "unexpected argument '%s'", argv[optind]);
	if (!model_path || !text_path)
		return cli_error("imatrix", "need a model and a text: sluice imatrix MODEL -f TEXT");
	if (format && strcmp(format, "gguf") && strcmp(format, "dat"))
		return cli_error("imatrix", "--output-format '%s': gguf or dat", format);
	const bool dat = format ? !strcmp(format, "dat") : ends_with(out_path, ".dat");
	if (cli_check_input("imatrix", model_path) || cli_check_input("imatrix", text_path))
		return 1;

	int status = 1;
	size_t text_len = 0;
	int32_t *toks = NULL;
	struct sluice_model *m = NULL;
	struct sluice_ctx *ctx = NULL;
	char *text = read_text(text_path, &text_len);
	if (!text)
		goto out;
	if (sl_gguf_open(model_path, &col.g, &col.err)) {
		cli_error("imatrix", "%s", col.err.msg);
		goto out;
	}
	struct sluice_model_params mp;
	cli_model_params(&mp, &(struct cli_model_opts){ .threads = threads, .vram = vram, .host_cache = host_cache,
							.backend = backend });
	sluice_set_log_level(2);
	if (cli_load_model("imatrix", model_path, &mp, &m))
		goto out;
	struct sluice_model_info info;
	sluice_model_get_info(m, &info);
	if (cli_new_ctx("imatrix", m, (uint32_t)chunk, &ctx))
		goto out;
	size_t n_tok = 0;
	int rc = sluice_tokenize(m, text, text_len, false, NULL, 0, &n_tok);
	if ((rc && rc != -ENOSPC) || !(toks = malloc((n_tok + 1) * sizeof(*toks))) ||
	    sluice_tokenize(m, text, text_len, false, toks, n_tok, &n_tok)) {
		cli_error("imatrix", "cannot tokenize %s: %s", text_path, sluice_model_error(m));
		goto out;
	}
	size_t n_chunks = n_tok / (size_t)chunk;
	if (max_chunks && n_chunks > (size_t)max_chunks)
		n_chunks = (size_t)max_chunks;
	if (n_chunks == 0) {
		cli_error("imatrix", "%s: %zu tokens, fewer than one chunk of %ld (a smaller --chunk, or a longer text)",
			  text_path, n_tok, chunk);
		goto out;
	}
	if (sluice_ctx_set_matmul_observer(ctx, observe, &col)) {
		cli_error("imatrix", "%s", sluice_ctx_error(ctx));
		goto out;
	}
	uint64_t t0 = sl_now_ns();
	for (size_t ch = 0; ch < n_chunks; ch++) {
		int32_t *ct = toks + ch * (size_t)chunk;
		if (info.bos >= 0)
			ct[0] = info.bos;
		sluice_ctx_reset(ctx);
		/* The classifier runs only for the rows whose logits a pass returns (the last one): to
		 * count every token in output.weight, as llama.cpp does, the chunk goes one token per pass. */
		const size_t step = col.process_output ? 1 : (size_t)chunk;
		for (size_t i = 0; i < (size_t)chunk; i += step)
			if (sluice_decode(ctx, ct + i, step, NULL)) {
				cli_error("imatrix", "%s", sluice_ctx_error(ctx));
				goto out;
			}
		if (col.rc) {
			cli_error("imatrix", "%s", col.err.msg);
			goto out;
		}
		cli_progress("imatrix", ch + 1, n_chunks);
	}
	uint64_t t1 = sl_now_ns();
	if (tokens_out) {
		FILE *tf = fopen(tokens_out, "wb");
		size_t nt = n_chunks * (size_t)chunk;
		if (!tf || fwrite(toks, sizeof(*toks), nt, tf) != nt || fclose(tf)) {
			cli_error("imatrix", "%s: %s", tokens_out, strerror(errno));
			goto out;
		}
	}
	col.m.chunk_count = (uint32_t)n_chunks;
	col.m.chunk_size = (uint32_t)chunk;
	col.m.dataset = strdup(text_path);
	if (!col.m.dataset || imx_write(&col.m, out_path, dat, &col.err)) {
		cli_error("imatrix", "%s", col.m.dataset ? col.err.msg : "out of memory");
		goto out;
	}
	printf("imatrix: %zu weights over %zu chunks of %ld tokens (%.1f tok/s), written to %s (%s)\n", col.m.n,
	       n_chunks, chunk, (double)(n_chunks * (size_t)chunk) * 1e9 / (double)(t1 - t0 ? t1 - t0 : 1), out_path,
	       dat ? "legacy .dat" : "GGUF");
	status = 0;
out:
	free(text);
	free(toks);
	sluice_ctx_free(ctx);
	sluice_model_free(m);
	if (col.g)
		sl_gguf_close(col.g);
	imx_free(&col.m);
	return status;
}
