/* SPDX-License-Identifier: MIT */
/*
 * tools/sluice/perplexity.c — `sluice perplexity`: teacher-forced perplexity of
 * a model over a text file, and its divergence from a reference run.
 *
 * The text is tokenized whole and cut into chunks of the context size; each
 * chunk starts with BOS (when the vocabulary has one) and, as llama.cpp's
 * perplexity does, only the second half of each chunk is scored, so every
 * scored token has at least half a context before it.  The public API returns
 * the logits of the last token of a call, so a chunk's unscored first half goes in one call
 * and its scored half one token at a time.
 *
 * --kl-base-out FILE keeps, for every scored position, the reference's
 * log-probability of the actual next token and its top SL_KL_TOP log-probabilities;
 * --kl-base FILE reads them back and reports KL(reference || this model) per
 * position (the tokens outside the reference's top set taken together as one
 * outcome: a lower bound of the full KL, exact when the tail is small), its mean
 * and 99th percentile, how often both models' most likely token agree, and Δppl.
 */
#include "cli.h"
#include "internal.h"
#include "sluice.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KL_TOP 32
#define KL_MAGIC "SLKLBASE"

struct kl_header {
	char magic[8];
	uint32_t version, n_vocab, n_ctx, top;
	uint64_t n_pos, n_tokens;
};

/* One scored position of the reference run. */
struct kl_pos {
	int32_t next;            /* the actual next token */
	float lp_next;           /* its log-probability */
	int32_t id[KL_TOP];      /* the most likely tokens, best first */
	float lp[KL_TOP];        /* their log-probabilities */
};

static void ppl_usage(FILE *o)
{
	fprintf(o,
		"usage: sluice perplexity -m MODEL -f TEXT [-c N] [--chunks N] [--kl-base-out FILE | --kl-base FILE]\n"
		"  teacher-forced perplexity over TEXT in chunks of the context size (second half of each scored)\n"
		"  -c, --ctx N            chunk length in tokens (default 256)\n"
		"      --chunks N         score at most N chunks (default: all)\n"
		"      --kl-base-out FILE save the top-%d log-probabilities of this run (the reference)\n"
		"      --kl-base FILE     compare with a saved reference: KL divergence (mean, p99), top-1\n"
		"                         agreement, and the change of perplexity\n"
		"  -t, --threads N, --vram SIZE, --host-cache SIZE, --backend NAME, --gpus LIST   as for sluice run\n",
		KL_TOP);
}

/* log-softmax of l[0..n) into lp (double for the sums of large vocabularies). */
static void log_softmax(const float *l, size_t n, float *lp)
{
	float mx = l[0];
	for (size_t i = 1; i < n; i++)
		mx = l[i] > mx ? l[i] : mx;
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += exp((double)l[i] - mx);
	const double lz = mx + log(s);
	for (size_t i = 0; i < n; i++)
		lp[i] = (float)((double)l[i] - lz);
}

static void top_k(const float *lp, size_t n, int32_t *id, float *v)
{
	int k = 0;
	for (size_t i = 0; i < n; i++) {
		if (k == KL_TOP && lp[i] <= v[KL_TOP - 1])
			continue;
		int j = k < KL_TOP ? k++ : KL_TOP - 1;
		while (j > 0 && v[j - 1] < lp[i]) {
			v[j] = v[j - 1];
			id[j] = id[j - 1];
			j--;
		}
		v[j] = lp[i];
		id[j] = (int32_t)i;
	}
	for (; k < KL_TOP; k++)
		id[k] = -1, v[k] = -INFINITY;
}

/* KL(base || this) over the base's top set and the rest as one outcome. */
static double kl_one(const struct kl_pos *b, const float *lp)
{
	double kl = 0, pb_top = 0, pn_top = 0;
	for (int i = 0; i < KL_TOP && b->id[i] >= 0; i++) {
		double pb = exp((double)b->lp[i]), pn = exp((double)lp[b->id[i]]);
		pb_top += pb;
		pn_top += pn;
		kl += pb * ((double)b->lp[i] - (double)lp[b->id[i]]);
	}
	double tb = 1 - pb_top, tn = 1 - pn_top;
	if (tb > 1e-12)
		kl += tb * (log(tb) - log(tn > 1e-300 ? tn : 1e-300));
	return kl > 0 ? kl : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int cmd_perplexity(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "model", required_argument, 0, 'm' },     { "file", required_argument, 0, 'f' },
		{ "ctx", required_argument, 0, 'c' },       { "chunks", required_argument, 0, 'C' },
		{ "kl-base-out", required_argument, 0, 'O' }, { "kl-base", required_argument, 0, 'K' },
		{ "threads", required_argument, 0, 't' },   { "vram", required_argument, 0, 'V' }, { "gpus", required_argument, 0, 'G' },
		{ "host-cache", required_argument, 0, 'H' }, { "backend", required_argument, 0, 'B' },
		{ "help", no_argument, 0, 'h' },            { 0, 0, 0, 0 },
	};
	const char *model_path = NULL, *text_path = NULL, *kl_out = NULL, *kl_in = NULL, *backend = "cpu";
	const char *gpus = NULL;
	struct cli_devices devs = { .n_dev = 0 };
	bool backend_set = false;
	long n_ctx = 256, max_chunks = 0, threads = 0;
	uint64_t vram = 0, host_cache = 0;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:f:c:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model_path = optarg; break;
		case 'f': text_path = optarg; break;
		case 'c': if (!cli_int("perplexity", "-c", optarg, 8, 1 << 20, &n_ctx)) return 1; break;
		case 'C': if (!cli_int("perplexity", "--chunks", optarg, 1, 1 << 30, &max_chunks)) return 1; break;
		case 'O': kl_out = optarg; break;
		case 'K': kl_in = optarg; break;
		case 't': if (!cli_int("perplexity", "-t", optarg, 1, 1024, &threads)) return 1; break;
		case 'V': if (!cli_vram("perplexity", optarg, &devs, &vram)) return 1; break;
		case 'G': gpus = optarg; break;
		case 'H': if (!cli_size("perplexity", "--host-cache", optarg, &host_cache)) return 1; break;
		case 'B': backend = optarg, backend_set = true; break;
		case 'h': ppl_usage(stdout); return 0;
		case ':': return cli_error("perplexity", "option '%s' needs a value", argv[optind - 1]);
		default: return cli_error("perplexity", "unknown option '%s' (see sluice perplexity --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_error("perplexity", "unexpected argument '%s'", argv[optind]);
	if (!model_path || !text_path)
		return cli_error("perplexity", "need a model and a text: -m MODEL -f TEXT");
	if (kl_out && kl_in)
		return cli_error("perplexity", "--kl-base-out and --kl-base: one run either saves a reference or compares with one");
	if (cli_check_input("perplexity", model_path))
		return 1;

	int status = 1;
	char *text = NULL;
	int32_t *toks = NULL;
	float *lp = NULL;
	double *kls = NULL;
	struct kl_pos *base = NULL;
	FILE *kf = NULL;
	struct sluice_model *m = NULL;
	struct sluice_ctx *ctx = NULL;
	size_t text_len = 0;

	FILE *tf = fopen(text_path, "rb");
	if (!tf) {
		cli_error("perplexity", "%s: %s", text_path, strerror(errno));
		goto out;
	}
	for (size_t cap = 0, k;;) {
		if (text_len + 65536 > cap) {
			char *nt = realloc(text, cap = cap * 2 + 65536);
			if (!nt) {
				fclose(tf);
				cli_error("perplexity", "out of memory reading %s", text_path);
				goto out;
			}
			text = nt;
		}
		if ((k = fread(text + text_len, 1, cap - text_len, tf)) == 0)
			break;
		text_len += k;
	}
	int rerr = ferror(tf);
	fclose(tf);
	if (rerr) {
		cli_error("perplexity", "%s: read error", text_path);
		goto out;
	}

	struct sluice_model_params mp;
	if (gpus && !backend_set)
		backend = "auto"; /* --gpus alone: the CUDA devices it names */
	if (!(backend = cli_gpus("perplexity", gpus, backend, &devs)))
		return 1;
	cli_model_params(&mp, &(struct cli_model_opts){ .threads = threads, .vram = vram, .host_cache = host_cache,
							.backend = backend , .devs = &devs });
	sluice_set_log_level(2);
	if (cli_load_model("perplexity", model_path, &mp, &m))
		goto out;
	struct sluice_model_info info;
	sluice_model_get_info(m, &info);
	if (cli_new_ctx("perplexity", m, (uint32_t)n_ctx, &ctx))
		goto out;
	size_t n_tok = 0;
	int rc = sluice_tokenize(m, text, text_len, false, NULL, 0, &n_tok);
	if ((rc && rc != -ENOSPC) || !(toks = malloc((n_tok + 1) * sizeof(*toks))) ||
	    sluice_tokenize(m, text, text_len, false, toks, n_tok, &n_tok)) {
		cli_error("perplexity", "cannot tokenize %s: %s", text_path, sluice_model_error(m));
		goto out;
	}
	const size_t chunk = (size_t)n_ctx, first_scored = chunk / 2;
	size_t n_chunks = n_tok / chunk;
	if (max_chunks && n_chunks > (size_t)max_chunks)
		n_chunks = (size_t)max_chunks;
	if (n_chunks == 0) {
		cli_error("perplexity", "%s: %zu tokens, fewer than one chunk of %zu (a smaller -c, or a longer text)",
			  text_path, n_tok, chunk);
		goto out;
	}
	const size_t per_chunk = chunk - first_scored - 1, n_pos = n_chunks * per_chunk;
	const size_t V = info.n_vocab;
	lp = malloc(V * sizeof(float));
	kls = kl_in ? malloc(n_pos * sizeof(double)) : NULL;
	if (!lp || (kl_in && !kls)) {
		cli_error("perplexity", "out of memory");
		goto out;
	}
	struct kl_header h = { .version = 1, .n_vocab = (uint32_t)V, .n_ctx = (uint32_t)chunk, .top = KL_TOP,
			       .n_pos = n_pos, .n_tokens = n_tok };
	memcpy(h.magic, KL_MAGIC, 8);
	if (kl_in) {
		struct kl_header bh;
		if (!(kf = fopen(kl_in, "rb")) || fread(&bh, sizeof bh, 1, kf) != 1 || memcmp(bh.magic, KL_MAGIC, 8) ||
		    bh.version != 1) {
			cli_error("perplexity", "%s: %s", kl_in, kf ? "not a sluice perplexity reference (--kl-base-out)" : strerror(errno));
			goto out;
		}
		if (bh.n_vocab != h.n_vocab || bh.n_ctx != h.n_ctx || bh.top != h.top || bh.n_tokens != h.n_tokens ||
		    bh.n_pos < n_pos) {
			cli_error("perplexity", "%s: a reference of another run (vocabulary %u, -c %u, %llu tokens, %llu positions; "
				  "this run: %u, %u, %llu, %llu)", kl_in, bh.n_vocab, bh.n_ctx, (unsigned long long)bh.n_tokens,
				  (unsigned long long)bh.n_pos, h.n_vocab, h.n_ctx, (unsigned long long)h.n_tokens,
				  (unsigned long long)n_pos);
			goto out;
		}
		if (!(base = malloc(n_pos * sizeof(*base))) || fread(base, sizeof(*base), n_pos, kf) != n_pos) {
			cli_error("perplexity", "%s: truncated", kl_in);
			goto out;
		}
		fclose(kf);
		kf = NULL;
	} else if (kl_out) {
		if (!(kf = fopen(kl_out, "wb")) || fwrite(&h, sizeof h, 1, kf) != 1) {
			cli_error("perplexity", "%s: %s", kl_out, strerror(errno));
			goto out;
		}
	}

	const int32_t bos = info.bos;
	double nll = 0, nll_base = 0;
	size_t scored = 0, agree = 0;
	uint64_t t0 = sl_now_ns();
	for (size_t ch = 0; ch < n_chunks; ch++) {
		sluice_ctx_reset(ctx);
		const int32_t *ct = toks + ch * chunk;
		/* The unscored first half in one call (its logits are not needed), BOS first. */
		int32_t first = ct[0];
		if (bos >= 0)
			toks[ch * chunk] = bos;
		int drc = sluice_decode(ctx, ct, first_scored, NULL);
		toks[ch * chunk] = first;
		if (drc) {
			cli_error("perplexity", "%s", sluice_ctx_error(ctx));
			goto out;
		}
		for (size_t i = first_scored; i + 1 < chunk; i++) {
			const float *logits;
			if (sluice_decode(ctx, &ct[i], 1, &logits)) {
				cli_error("perplexity", "%s", sluice_ctx_error(ctx));
				goto out;
			}
			log_softmax(logits, V, lp);
			const int32_t next = ct[i + 1];
			nll -= lp[next];
			struct kl_pos kp = { .next = next, .lp_next = lp[next] };
			if (kl_out || kl_in)
				top_k(lp, V, kp.id, kp.lp);
			if (kl_out && fwrite(&kp, sizeof kp, 1, kf) != 1) {
				cli_error("perplexity", "%s: %s", kl_out, strerror(errno));
				goto out;
			}
			if (kl_in) {
				const struct kl_pos *b = &base[scored];
				if (b->next != next) {
					cli_error("perplexity", "%s: position %zu predicts token %d, this text has %d: another text",
						  kl_in, scored, b->next, next);
					goto out;
				}
				kls[scored] = kl_one(b, lp);
				nll_base -= b->lp_next;
				agree += b->id[0] == kp.id[0];
			}
			scored++;
		}
		cli_progress("perplexity", ch + 1, n_chunks);
		fprintf(stderr, "[%zu] %.4f\n", ch + 1, exp(nll / (double)scored));
	}
	uint64_t t1 = sl_now_ns();
	if (kf && fclose(kf)) {
		kf = NULL;
		cli_error("perplexity", "%s: %s", kl_out, strerror(errno));
		goto out;
	}
	kf = NULL;
	const double ppl = exp(nll / (double)scored);
	printf("perplexity: %.4f over %zu tokens (%zu chunks of %zu, second halves scored), %.1f tok/s\n", ppl, scored,
	       n_chunks, chunk, (double)(n_chunks * (chunk - 1)) * 1e9 / (double)(t1 - t0 ? t1 - t0 : 1));
	if (kl_in) {
		double sum = 0;
		for (size_t i = 0; i < scored; i++)
			sum += kls[i];
		qsort(kls, scored, sizeof(double), cmp_double);
		const double p99 = kls[(size_t)((double)(scored - 1) * 0.99)];
		const double ppl_base = exp(nll_base / (double)scored);
		printf("kl divergence: mean %.6f, p99 %.6f, max %.6f\n", sum / (double)scored, p99, kls[scored - 1]);
		printf("top-1 agreement: %.2f%% (%zu of %zu)\n", 100.0 * (double)agree / (double)scored, agree, scored);
		printf("reference perplexity: %.4f, change %+.4f (%+.3f%%)\n", ppl_base, ppl - ppl_base,
		       100.0 * (ppl - ppl_base) / ppl_base);
	}
	if (kl_out)
		printf("reference saved: %s (%zu positions)\n", kl_out, scored);
	status = 0;
out:
	if (kf) {
		fclose(kf);
		if (kl_out && status)
			remove(kl_out);
	}
	free(text);
	free(toks);
	free(lp);
	free(kls);
	free(base);
	sluice_ctx_free(ctx);
	sluice_model_free(m);
	return status;
}
