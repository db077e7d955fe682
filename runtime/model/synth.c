/* SPDX-License-Identifier: MIT */
/*
 * runtime/model/synth.c — synthetic llama models: real GGUF tensor names and
 * metadata, random weights (every byte written: no sparse holes, so reading
 * the file costs what reading a real model costs), a small SentencePiece-style
 * vocabulary of byte tokens plus common English words, deterministic for a seed.
 *
 * Weights are scaled so activations stay in a sane range through many layers
 * (entries ~ U(-1,1)/sqrt(cols)); the output is gibberish, but stable.
 */
#include "model/synth.h"
#include "atomic_file.h"
#include "gguf.h"
#include "quant/quant.h"

#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const words[] = {
	"the", "and", "a", "to", "was", "he", "she", "it", "of", "in", "they", "her", "his", "you", "said",
	"that", "with", "on", "for", "day", "one", "big", "little", "happy", "play", "saw", "very", "friend",
	"time", "upon", "once", "there", "girl", "boy", "dog", "cat", "ball", "tree", "park", "sun", "red",
	"blue", "went", "had", "were", "not", "but", "so", "we", "all", "mom", "dad", "toy", "run", "fun",
	"home", "good", "like", "wanted", "loved", "named", "bird", "water", "sky", "car", "book", "help",
	"out", "up", "down", "what", "when", "how", "can", "could", "would", "is", "are", "be", "do",
};
static const char *const puncts[] = { ".", ",", "!", "?", "\"", "'" };

#define MAX_PREFIXES 256

/* The proper prefixes ("▁t", "▁th") of the words: SentencePiece merges grow a word one
 * symbol at a time, so each must be a piece for the whole word to be reachable. */
static int word_prefixes(char (*out)[32])
{
	int n = 0;
	for (size_t i = 0; i < SL_ARRAY_SIZE(words); i++) {
		for (size_t k = 1; k < strlen(words[i]); k++) {
			char piece[32];
			snprintf(piece, sizeof(piece), "\xe2\x96\x81%.*s", (int)k, words[i]);
			bool dup = false;
			for (int j = 0; j < n && !dup; j++)
				dup = !strcmp(out[j], piece);
			for (size_t j = 0; j < SL_ARRAY_SIZE(words) && !dup; j++)
				dup = !strcmp(piece + 3, words[j]);
			if (!dup && n < MAX_PREFIXES)
				snprintf(out[n++], 32, "%s", piece);
		}
	}
	return n;
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static inline float rnd(uint64_t *s)
{
	return (float)((int64_t)splitmix64(s) >> 11) * 0x1.0p-52f;
}

static bool is_qwen2(const struct sl_synth_params *p)
{
	return p->arch && !strcmp(p->arch, "qwen2");
}

static bool uses_bpe(const struct sl_synth_params *p)
{
	return p->bpe || is_qwen2(p);
}

/* Llama-3.1's rope frequency factors, as llama.cpp's converter computes them from the
 * "llama3" rope_scaling (factor 8, low/high frequency factors 1 and 4, original context
 * 8192): long wavelengths slowed by 8, short ones kept, a smooth blend between. */
static void llama3_rope_factors(float base, uint32_t n_rot, float *out)
{
	const double factor = 8, low = 1, high = 4, old_ctx = 8192;
	const double low_wl = old_ctx / low, high_wl = old_ctx / high;
	for (uint32_t i = 0; i < n_rot / 2; i++) {
		double freq = 1.0 / pow(base, 2.0 * i / n_rot), wl = 2 * M_PI / freq;
		if (wl < high_wl)
			out[i] = 1.0f;
		else if (wl > low_wl)
			out[i] = (float)factor;
		else {
			double smooth = (old_ctx / wl - low) / (high - low);
			out[i] = (float)(1.0 / ((1 - smooth) / factor + smooth));
		}
	}
}

int sl_synth_plan(struct sl_synth_params *p, struct sl_err *err)
{
	if (p->arch && !strcmp(p->arch, "deepseek2"))
		return sl_synth_ds2_plan(p, err);
	const struct sl_type_traits *tt = sl_type_traits(p->type);
	if (!tt || !tt->from_float)
		return sl_errf(err, EINVAL, "type %s cannot be written", sl_type_name(p->type));
	const int64_t blk = tt->block_size;
	if (p->arch && strcmp(p->arch, "llama") && strcmp(p->arch, "qwen2"))
		return sl_errf(err, EINVAL, "architecture '%s' cannot be generated (llama, qwen2, deepseek2)", p->arch);
	if (p->rope_freqs && is_qwen2(p))
		return sl_errf(err, EINVAL, "rope_freqs is a llama (Llama-3.1) tensor, not qwen2's");
	if (uses_bpe(p)) {
		struct sl_synth_vocab sv;
		int rc = sl_synth_bpe_vocab(!is_qwen2(p), &sv, err);
		if (rc)
			return rc;
		p->n_vocab = sv.n;
		sl_synth_vocab_free(&sv);
	} else {
		char prefixes[MAX_PREFIXES][32];
		p->n_vocab = 3 + 256 + (uint32_t)word_prefixes(prefixes) + (uint32_t)SL_ARRAY_SIZE(words) +
			     (uint32_t)SL_ARRAY_SIZE(puncts);
	}
	if (!p->n_embd) {
		/* Pick the widest model that still has at least 16 layers in the size asked for. */
		static const uint32_t dims[] = { 64, 128, 256, 512, 768, 1024, 1536, 2048, 2560, 3072, 4096, 5120, 8192 };
		double bytes_per_param = (double)tt->type_size / (double)tt->block_size;
		double params = (double)p->size_bytes / bytes_per_param;
		p->n_embd = 0;
		for (size_t i = 0; i < SL_ARRAY_SIZE(dims); i++) {
			double d = dims[i];
			if (dims[i] % blk)
				continue;
			if (params / (12.0 * d * d) >= 16 || !p->n_embd)
				p->n_embd = dims[i];
		}
	}
	if (!p->n_embd || p->n_embd % blk)
		return sl_errf(err, EINVAL, "no model width fits %s blocks of %lld", tt->name, (long long)blk);
	p->head_dim = p->n_embd >= 256 ? 64 : 16;
	p->n_head = p->n_embd / p->head_dim;
	p->n_head_kv = p->n_head % 4 == 0 ? p->n_head / 4 : p->n_head;
	if (!p->n_ff) {
		uint32_t ff = p->n_embd * 8 / 3;
		uint32_t q = (uint32_t)SL_MAX(blk, 32);
		p->n_ff = (ff + q - 1) / q * q;
	}
	double per_layer = (2.0 * p->n_embd * p->n_embd + 2.0 * p->n_embd * p->n_head_kv * p->head_dim +
			    3.0 * p->n_embd * p->n_ff) * (double)tt->type_size / (double)tt->block_size;
	double fixed = 2.0 * p->n_vocab * p->n_embd * (double)tt->type_size / (double)tt->block_size;
	if (!p->n_layer) {
		double l = ((double)p->size_bytes - fixed) / per_layer;
		p->n_layer = l < 1 ? 1 : (uint32_t)llround(l);
	}
	p->n_ctx = p->n_ctx ? p->n_ctx : 2048;
	return 0;
}

/* Uniform importance for the types that have only a weighted quantizer (iq1_s, iq1_m, iq2_xxs, iq2_xs:
 * llama.cpp refuses them without an importance matrix; random weights have no preferred columns, so
 * all-ones is the importance matrix of these models).  Enough for the widest row gen-model writes. */
#define SYNTH_MAX_COLS 65536
static float ones[SYNTH_MAX_COLS];
static pthread_once_t ones_once = PTHREAD_ONCE_INIT;

static void fill_ones(void)
{
	for (int i = 0; i < SYNTH_MAX_COLS; i++)
		ones[i] = 1.0f;
}

bool sl_synth_type_writable(uint32_t type)
{
	const struct sl_type_traits *tt = sl_type_traits(type);
	return tt && (tt->from_float || sl_quant_weighted(type));
}

void sl_synth_quantize_row(uint32_t type, const float *f, void *dst, int64_t cols)
{
	const struct sl_type_traits *tt = sl_type_traits(type);
	if (tt->from_float) {
		tt->from_float(f, dst, cols);
		return;
	}
	pthread_once(&ones_once, fill_ones);
	sl_quant_weighted(type)(f, dst, cols, ones);
}

/* Fill one tensor: rows of random values, converted to the tensor's type and written in chunks. */
int sl_synth_write_tensor(struct gguf_writer *w, int fd, int idx, uint32_t type, int64_t cols, int64_t rows,
			uint64_t seed, float scale, float offset, int64_t zero_lo, int64_t zero_hi, int64_t boost_row,
			uint64_t *done, uint64_t total,
			sl_synth_progress_fn progress, void *parg, struct sl_err *err)
{
	size_t row_bytes = sl_row_size(type, cols);
	int64_t chunk_rows = SL_MAX((int64_t)1, (int64_t)((8u << 20) / row_bytes));
	float *f = malloc((size_t)cols * sizeof(float));
	uint8_t *buf = malloc(row_bytes * (size_t)chunk_rows);
	int rc = 0;
	if (!f || !buf) {
		rc = sl_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	uint64_t s = seed;
	for (int64_t r0 = 0; r0 < rows && !rc; r0 += chunk_rows) {
		int64_t nr = SL_MIN(chunk_rows, rows - r0);
		for (int64_t r = 0; r < nr; r++) {
			const bool zero = r0 + r >= zero_lo && r0 + r < zero_hi;
			for (int64_t c = 0; c < cols; c++)
				f[c] = zero ? 0.0f : offset + (r0 + r == boost_row ? 2.5f * scale : scale) * rnd(&s);
			sl_synth_quantize_row(type, f, buf + (size_t)r * row_bytes, cols);
		}
		rc = sl_gguf_writer_write_data(w, fd, idx, (uint64_t)r0 * row_bytes, buf, (uint64_t)nr * row_bytes, err);
		*done += (uint64_t)nr * row_bytes;
		if (progress)
			progress(parg, *done, total);
	}
out:
	free(f);
	free(buf);
	return rc;
}

int sl_synth_write(const struct sl_synth_params *p, const char *path, sl_synth_progress_fn progress, void *parg,
		   struct sl_err *err)
{
	if (p->arch && !strcmp(p->arch, "deepseek2"))
		return sl_synth_ds2_write(p, path, progress, parg, err);
	const uint32_t E = p->n_embd, KV = p->n_head_kv * p->head_dim, F = p->n_ff, V = p->n_vocab;
	struct gguf_writer *w = sl_gguf_writer_new(32);
	if (!w)
		return sl_errf(err, ENOMEM, "out of memory");
	int rc = 0;
	int fd = -1;
	struct sl_atomic_file af = { .fd = -1, .slot = -1 };

	const bool qwen2 = is_qwen2(p), bpe = uses_bpe(p);
	const char *arch = qwen2 ? "qwen2" : "llama";
	char key[96];
#define AKEY(sfx) (snprintf(key, sizeof key, "%s.%s", arch, sfx), key)
	sl_gguf_writer_set_str(w, "general.architecture", arch);
	sl_gguf_writer_set_str(w, "general.name", qwen2 ? "sluice synthetic qwen2" : bpe ? "sluice synthetic llama-3"
									      : "sluice synthetic llama");
	sl_gguf_writer_set_u32(w, "general.file_type", p->type == SL_TYPE_F32 ? 0 : p->type == SL_TYPE_F16 ? 1 : 7);
	sl_gguf_writer_set_u64(w, "sluice.synthetic_seed", p->seed);
	sl_gguf_writer_set_u32(w, AKEY("context_length"), p->n_ctx);
	sl_gguf_writer_set_u32(w, AKEY("embedding_length"), E);
	sl_gguf_writer_set_u32(w, AKEY("block_count"), p->n_layer);
	sl_gguf_writer_set_u32(w, AKEY("feed_forward_length"), F);
	sl_gguf_writer_set_u32(w, AKEY("attention.head_count"), p->n_head);
	sl_gguf_writer_set_u32(w, AKEY("attention.head_count_kv"), p->n_head_kv);
	sl_gguf_writer_set_u32(w, AKEY("rope.dimension_count"), p->head_dim);
	/* The families' own rope bases and epsilons: Qwen2 1e6 and 1e-6, Llama-3 500000 and 1e-5. */
	const float rope_base = qwen2 ? 1000000.0f : bpe ? 500000.0f : 10000.0f;
	sl_gguf_writer_set_f32(w, AKEY("rope.freq_base"), rope_base);
	sl_gguf_writer_set_f32(w, AKEY("attention.layer_norm_rms_epsilon"), qwen2 ? 1e-6f : 1e-5f);
	float *rope_factors = NULL;
	if (p->rope_freqs) {
		/* The factors are what llama.cpp runs; the keys state the scaling they come from (Meta's
		 * rope_scaling), so the loader's check of them (llama3 needs rope_freqs) is exercised. */
		sl_gguf_writer_set_str(w, AKEY("rope.scaling.type"), "llama3");
		sl_gguf_writer_set_f32(w, AKEY("rope.scaling.factor"), 8.0f);
		sl_gguf_writer_set_u32(w, AKEY("rope.scaling.original_context_length"), 8192);
		if (!(rope_factors = malloc(p->head_dim / 2 * sizeof(float)))) {
			sl_gguf_writer_free(w);
			return sl_errf(err, ENOMEM, "out of memory");
		}
		llama3_rope_factors(rope_base, p->head_dim, rope_factors);
	}
#undef AKEY

	const char **toks = NULL;
	float *scores = NULL;
	int32_t *types = NULL;
	char (*bytes)[8] = NULL, (*wbuf)[32] = NULL, (*pbuf)[32] = NULL;
	struct sl_synth_vocab sv = { 0 };
	uint32_t first_word = 0; /* output rows [3, first_word) are zero */
	/* The output row of the chat template's end of turn has 2.5 times the spread of the others,
	 * so that it wins now and then and chat replies end by themselves (-1: none). */
	int64_t eot_row = -1;
	if (bpe) {
		if ((rc = sl_synth_bpe_vocab(!qwen2, &sv, err)))
			goto out;
		if (sv.n != V) {
			rc = sl_errf(err, EINVAL, "vocabulary of %u tokens, planned %u", sv.n, V);
			goto out;
		}
		sl_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
		sl_gguf_writer_set_str(w, "tokenizer.ggml.pre", sv.pre);
		sl_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)sv.toks, sv.n);
		sl_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, sv.types, sv.n);
		sl_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)sv.merges, sv.n_merges);
		sl_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)sv.bos);
		sl_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)sv.eos);
		sl_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", sv.add_bos);
		sl_gguf_writer_set_str(w, "tokenizer.chat_template", sv.chat_template);
		first_word = 256; /* the byte tokens' output rows are zero, as the SPM ones */
		eot_row = sv.first_special + (qwen2 ? 2 : 4); /* <|im_end|>, <|eot_id|> */
		goto tensors;
	}

	/* Vocabulary: <unk> <s> </s>, 256 byte tokens, then words with a leading-space marker and punctuation. */
	toks = calloc(V, sizeof(char *));
	scores = calloc(V, sizeof(float));
	types = calloc(V, sizeof(int32_t));
	bytes = calloc(256, 8);
	wbuf = calloc(SL_ARRAY_SIZE(words), 32);
	pbuf = calloc(MAX_PREFIXES, 32);
	if (!toks || !scores || !types || !bytes || !wbuf || !pbuf) {
		rc = sl_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	toks[0] = "<unk>"; types[0] = 2;
	toks[1] = "<s>"; types[1] = 3;
	toks[2] = "</s>"; types[2] = 3;
	for (int b = 0; b < 256; b++) {
		snprintf(bytes[b], 8, "<0x%02X>", b);
		toks[3 + b] = bytes[b];
		types[3 + b] = 6;
	}
	uint32_t id = 259;
	const int n_prefixes = word_prefixes(pbuf);
	for (int i = 0; i < n_prefixes; i++, id++) {
		toks[id] = pbuf[i];
		types[id] = 1;
		scores[id] = -1000.0f - (float)i;
	}
	first_word = id;
	for (size_t i = 0; i < SL_ARRAY_SIZE(words); i++, id++) {
		snprintf(wbuf[i], 32, "\xe2\x96\x81%s", words[i]);
		toks[id] = wbuf[i];
		types[id] = 1;
		scores[id] = -(float)i;
	}
	for (size_t i = 0; i < SL_ARRAY_SIZE(puncts); i++, id++) {
		toks[id] = puncts[i];
		types[id] = 1;
		scores[id] = -100.0f - (float)i;
	}
	sl_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
	sl_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, V);
	sl_gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, V);
	sl_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, V);
	sl_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
	sl_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
	sl_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);

tensors:;
	/* Tensors in llama.cpp's order; 1-D tensors are always f32, as in real files. */
	struct spec { char name[64]; uint32_t type; int64_t cols, rows; float scale, offset; } *ts;
	size_t nt = 3 + (size_t)p->n_layer * (qwen2 ? 12 : 9) + (rope_factors ? 1 : 0), k = 0;
	ts = calloc(nt, sizeof(*ts));
	if (!ts) {
		rc = sl_errf(err, ENOMEM, "out of memory");
		goto out;
	}
#define ADD(nm, ty, c, r, sc, off)                                                            \
	do {                                                                                  \
		snprintf(ts[k].name, sizeof(ts[k].name), "%s", nm);                           \
		ts[k].type = (ty); ts[k].cols = (c); ts[k].rows = (r);                        \
		ts[k].scale = (sc); ts[k].offset = (off); k++;                                \
	} while (0)
	const float se = 1.0f / sqrtf((float)E), sf = 1.0f / sqrtf((float)F);
	const bool r1 = p->mix == SL_SYNTH_MIX_R1;
	const uint32_t t_attn = r1 ? SL_TYPE_Q4_K : p->type, t_ffn = p->type, t_out = r1 ? SL_TYPE_Q6_K : p->type;
	ADD("token_embd.weight", t_attn, E, V, 1.0f, 0.0f);
	const size_t rope_idx = k;
	if (rope_factors)
		ADD("rope_freqs.weight", SL_TYPE_F32, p->head_dim / 2, 0, 0.0f, 0.0f);
	for (uint32_t l = 0; l < p->n_layer; l++) {
		char n[64];
#define LADD(sfx, ty, c, r, sc, off) do { snprintf(n, sizeof(n), "blk.%u.%s", l, sfx); ADD(n, ty, c, r, sc, off); } while (0)
		LADD("attn_norm.weight", SL_TYPE_F32, E, 0, 0.1f, 1.0f);
		LADD("attn_q.weight", t_attn, E, E, se, 0.0f);
		if (qwen2)
			LADD("attn_q.bias", SL_TYPE_F32, E, 0, 0.5f, 0.0f);
		LADD("attn_k.weight", t_attn, E, KV, se, 0.0f);
		if (qwen2)
			LADD("attn_k.bias", SL_TYPE_F32, KV, 0, 0.5f, 0.0f);
		LADD("attn_v.weight", t_attn, E, KV, se, 0.0f);
		if (qwen2)
			LADD("attn_v.bias", SL_TYPE_F32, KV, 0, 0.5f, 0.0f);
		LADD("attn_output.weight", t_attn, E, E, se, 0.0f);
		LADD("ffn_norm.weight", SL_TYPE_F32, E, 0, 0.1f, 1.0f);
		LADD("ffn_gate.weight", t_ffn, E, F, se, 0.0f);
		LADD("ffn_up.weight", t_ffn, E, F, se, 0.0f);
		LADD("ffn_down.weight", t_ffn, F, E, sf, 0.0f);
#undef LADD
	}
	ADD("output_norm.weight", SL_TYPE_F32, E, 0, 0.1f, 1.0f);
	ADD("output.weight", t_out, E, V, se * 4, 0.0f);
#undef ADD
	uint64_t total = 0;
	for (size_t i = 0; i < nt; i++) {
		int64_t ne[2] = { ts[i].cols, ts[i].rows };
		int idx = sl_gguf_writer_add_tensor(w, ts[i].name, ts[i].type, ts[i].rows ? 2 : 1, ne);
		if (idx < 0) {
			rc = sl_errf(err, -idx, "cannot add tensor '%s' (%s, row of %lld)", ts[i].name,
				     sl_type_name(ts[i].type), (long long)ts[i].cols);
			goto out_ts;
		}
		total += sl_gguf_writer_tensor_size(w, idx);
	}
	/* A temporary file renamed over path at the end: an error or a signal never leaves a
	 * half-written model, nor destroys the file that was there (runtime/atomic_file.h). */
	if ((rc = sl_atomic_file_open(&af, path, NULL, err)))
		goto out_ts;
	fd = af.fd;
	if ((rc = sl_gguf_writer_write_header(w, fd, err)))
		goto out_ts;
	uint64_t done = 0;
	for (size_t i = 0; i < nt && !rc; i++) {
		uint64_t seed = p->seed * 0x100000001b3ull + i * 0x9e3779b97f4a7c15ull + 1;
		/* Output rows of the byte and prefix tokens are zero, so generated text is mostly whole
		 * words rather than stray bytes (the weights are random either way). */
		bool out = i == nt - 1;
		if (rope_factors && i == rope_idx) {
			rc = sl_gguf_writer_write_data(w, fd, (int)i, 0, rope_factors, p->head_dim / 2 * sizeof(float), err);
			continue;
		}
		rc = sl_synth_write_tensor(w, fd, (int)i, ts[i].type, ts[i].cols, ts[i].rows ? ts[i].rows : 1, seed,
				  ts[i].scale, ts[i].offset, out ? (bpe ? 0 : 3) : 0, out ? (int64_t)first_word : 0,
				  out ? eot_row : -1, &done, total,
				  progress, parg, err);
	}
	if (!rc)
		rc = sl_gguf_writer_finish(w, fd, err);
	if (!rc)
		rc = sl_atomic_file_commit(&af, err); /* fsync, close, rename */
out_ts:
	free(ts);
out:
	if (rc && fd >= 0)
		sl_atomic_file_abort(&af); /* never leave a half-written model behind */
	free(rope_factors);
	sl_synth_vocab_free(&sv);
	free(toks);
	free(scores);
	free(types);
	free(bytes);
	free(wbuf);
	free(pbuf);
	sl_gguf_writer_free(w);
	return rc;
}
