/* SPDX-License-Identifier: MIT */
/*
 * runtime/model/synth_deepseek2.c — synthetic deepseek2 models (gen-model --arch deepseek2): the keys
 * and tensor names llama.cpp reads (MLA with q LoRA, split attn_k_b / attn_v_b or legacy attn_kv_b,
 * YaRN, leading dense layers, routed experts as 3-D tensors, a shared expert, grouped sigmoid
 * routing with exp_probs_b or softmax routing), random weights, a byte-level BPE vocabulary.
 *
 * Skewed routing (expert_skew S > 0): expert popularity is Zipf(S)-like and drifts over a sequence.
 *   - exp_probs_b (the selection bias) of the expert of popularity rank r (a per-layer random
 *     permutation) is -S * b * ln(1 + r): a Gumbel-like race between router noise and the bias
 *     picks rank r about (1 + r)^-S as often (b is about the spread of the router's selection
 *     score: 0.25 for sigmoid scores, 2 / n_expert for softmax probabilities; measured on a 16-expert
 *     model with S = 1: the most chosen expert about 15 times as often as the least);
 *   - each router row also has a component k (cos a_e · d1 + sin a_e · d2), a_e = 2 pi e / n_expert,
 *     along two fixed directions: the hidden state's projection on (d1, d2) favours a band of
 *     experts around an angle.  What moves that projection slowly is attention head 0 of every
 *     layer: its query rows are zero, so it attends evenly to the whole context and its output is
 *     the running mean of its values, a vector that turns a little with each token (fast at first,
 *     then more slowly: each token moves it by 1/t); attn_output writes that head into the
 *     (d1, d2) plane.  Measured (16 experts, 4 used, 300 random tokens): the top experts of a layer
 *     change from one window of 50 tokens to the next, most in the first windows.
 * Router logits stay O(1) (rows ~ 1.5 / sqrt(n_embd)), so the sigmoid / softmax never saturate to
 * inf or nan and the outputs stay finite.
 */
#include "model/synth.h"
#include "atomic_file.h"
#include "gguf.h"
#include "quant/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t mix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static float urand(uint64_t *s) /* [-1, 1) */
{
	return (float)((int64_t)mix64(s) >> 11) * 0x1.0p-52f;
}

static uint32_t round_up(uint32_t v, uint32_t q)
{
	return (v + q - 1) / q * q;
}

/* The type of a matrix with `cols` columns: the model's, or f16 (f32 for an f32 model) where the
 * columns are not whole blocks of it — as llama.cpp's quantizer falls back for small tensors. */
static uint32_t fit(uint32_t type, int64_t cols)
{
	if (sl_row_size(type, cols))
		return type;
	return type == SL_TYPE_F32 ? SL_TYPE_F32 : SL_TYPE_F16;
}

static void dims(struct sl_synth_params *p, uint32_t E, uint32_t blk)
{
	p->n_embd = E;
	p->n_head = E >= 128 ? E / 64 : 2;
	p->d_nope = p->d_v = E >= 512 ? 64 : E >= 128 ? 32 : 16;
	p->d_rope = p->d_nope / 2;
	p->q_lora = p->no_q_lora ? 0 : round_up(SL_MAX(32u, E / 4), 32);
	p->kv_lora = round_up(SL_MAX(32u, E / 8), 32);
	const uint32_t q = SL_MAX(blk, 32u);
	if (!p->n_ff_exp)
		p->n_ff_exp = round_up(SL_MAX(32u, E / 2), q);
	p->head_dim = p->d_nope + p->d_rope;
	p->n_head_kv = p->mla_legacy ? p->n_head : 1;
}

static double layer_bytes(const struct sl_synth_params *p, bool moe, double bpp)
{
	const double E = p->n_embd, H = p->n_head;
	double attn = (p->q_lora ? E * p->q_lora + (double)p->q_lora * H * p->head_dim : E * H * p->head_dim) +
		      E * (p->kv_lora + p->d_rope) + (double)p->kv_lora * H * (p->d_nope + p->d_v) + H * p->d_v * E;
	if (!moe)
		return (attn + 3.0 * E * p->n_ff) * bpp;
	return (attn + 3.0 * E * p->n_ff_exp * (p->n_expert + 1)) * bpp + 4.0 * E * p->n_expert;
}

int sl_synth_ds2_plan(struct sl_synth_params *p, struct sl_err *err)
{
	const struct sl_type_traits *tt = sl_type_traits(p->type);
	if (!tt || !sl_synth_type_writable(p->type))
		return sl_errf(err, EINVAL, "type %s cannot be written", sl_type_name(p->type));
	if (p->rope_freqs)
		return sl_errf(err, EINVAL, "deepseek2: --rope-freqs is for llama models");
	if (p->mix && (p->mix != SL_SYNTH_MIX_R1 || p->type != SL_TYPE_IQ1_S))
		return sl_errf(err, EINVAL, "deepseek2: the r1 mix is sized as iq1_s, not %s", sl_type_name(p->type));
	const uint32_t blk = (uint32_t)tt->block_size;
	struct sl_synth_vocab sv;
	int rc = sl_synth_bpe_vocab(true, &sv, err);
	if (rc)
		return rc;
	p->n_vocab = sv.n;
	sl_synth_vocab_free(&sv);
	p->n_expert = p->n_expert ? p->n_expert : 16;
	p->n_expert_used = p->n_expert_used ? p->n_expert_used : SL_MIN(4u, p->n_expert);
	if (p->n_expert < 2 || p->n_expert > 4096 || p->n_expert_used > p->n_expert || p->n_expert_used > 64)
		return sl_errf(err, EINVAL, "deepseek2: %u experts with %u used (2 to 4096 experts, 1 to 64 used, at most "
			       "the experts)", p->n_expert, p->n_expert_used);
	if (!(p->expert_skew >= 0 && p->expert_skew <= 8))
		return sl_errf(err, EINVAL, "deepseek2: expert skew %g out of range (0 to 8)", (double)p->expert_skew);
	const uint32_t n_dense = p->n_dense < 0 ? 0 : p->n_dense ? (uint32_t)p->n_dense : 1;
	const double bpp = (double)tt->type_size / (double)tt->block_size;
	double fixed = 2.0 * p->n_vocab * (p->n_embd ? p->n_embd : 64) * bpp;
	if (!p->n_embd) {
		static const uint32_t ds[] = { 64, 128, 256, 512, 768, 1024, 1536, 2048, 2560, 3072, 4096 };
		for (size_t i = 0; i < SL_ARRAY_SIZE(ds); i++) {
			if (ds[i] % blk)
				continue;
			struct sl_synth_params t = *p;
			t.n_ff_exp = p->n_ff_exp;
			dims(&t, ds[i], blk);
			t.n_ff = t.n_ff ? t.n_ff : round_up(ds[i] * 8 / 3, SL_MAX(blk, 32u));
			fixed = 2.0 * p->n_vocab * ds[i] * bpp;
			double per = layer_bytes(&t, true, bpp);
			if (((double)p->size_bytes - fixed) / per >= 8 + n_dense || !p->n_embd)
				p->n_embd = ds[i];
		}
	}
	if (!p->n_embd || p->n_embd % blk || p->n_embd < 32)
		return sl_errf(err, EINVAL, "no model width fits %s blocks of %u", tt->name, blk);
	dims(p, p->n_embd, blk);
	if (!p->n_ff)
		p->n_ff = round_up(p->n_embd * 8 / 3, SL_MAX(blk, 32u));
	if (p->n_ff % blk || p->n_ff_exp % blk)
		return sl_errf(err, EINVAL, "the ff sizes %u and %u (experts) must be multiples of the %s block size %u",
			       p->n_ff, p->n_ff_exp, tt->name, blk);
	fixed = 2.0 * p->n_vocab * p->n_embd * bpp;
	if (!p->n_layer) {
		double rest = (double)p->size_bytes - fixed - n_dense * layer_bytes(p, false, bpp);
		double l = rest / layer_bytes(p, true, bpp);
		p->n_layer = n_dense + (l < 1 ? 1 : (uint32_t)llround(l));
	}
	if (n_dense > p->n_layer)
		return sl_errf(err, EINVAL, "deepseek2: %u dense layers of %u", n_dense, p->n_layer);
	p->n_ctx = p->n_ctx ? p->n_ctx : 2048;
	return 0;
}

struct ds_spec {
	char name[64];
	uint32_t type, n_dims;
	int64_t ne[3];
	float scale, offset;
	int kind; /* 0 random, 1 router, 2 probs bias, 3 q with head 0 zero, 4 attn_output with the drift head */
	uint32_t layer;
};

/* The two directions (unit length) the routers' drift component reads: the same in every layer. */
static void drift_dirs(const struct sl_synth_params *p, float *d1, float *d2)
{
	uint64_t s = p->seed * 7919 + 17;
	const float unit = sqrtf(3.0f / (float)p->n_embd);
	for (uint32_t i = 0; i < p->n_embd; i++) {
		d1[i] = urand(&s) * unit;
		d2[i] = urand(&s) * unit;
	}
}

/*
 * attn_output of a skewed model: head 0 (whose queries are zero, so it attends uniformly to the
 * whole context: its output is the running mean of its values, a slowly turning vector) is
 * written into the plane of the drift directions, G (a . o, b . o) for random a, b; the other
 * heads' columns are random as usual.
 */
static int write_attn_output(struct gguf_writer *w, int fd, int idx, const struct ds_spec *t,
			     const struct sl_synth_params *p, uint64_t seed, struct sl_err *err)
{
	const int64_t cols = t->ne[0], rows = t->ne[1], Dv = p->d_v;
	const size_t rb = sl_row_size(t->type, cols);
	float *f = malloc((size_t)cols * sizeof(float)), *d1 = malloc(p->n_embd * sizeof(float));
	float *d2 = malloc(p->n_embd * sizeof(float)), *ab = malloc(2 * (size_t)Dv * sizeof(float));
	uint8_t *buf = malloc(rb);
	int rc = 0;
	if (!f || !d1 || !d2 || !ab || !buf) {
		rc = sl_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	drift_dirs(p, d1, d2);
	uint64_t s = seed;
	for (int64_t j = 0; j < 2 * Dv; j++)
		ab[j] = urand(&s) * sqrtf(3.0f / (float)Dv);
	const float G = 8.0f;
	for (int64_t r = 0; r < rows && !rc; r++) {
		for (int64_t c = 0; c < cols; c++)
			f[c] = t->scale * urand(&s);
		for (int64_t j = 0; j < Dv; j++)
			f[j] = G * (d1[r] * ab[j] + d2[r] * ab[Dv + j]);
		sl_synth_quantize_row(t->type, f, buf, cols);
		rc = sl_gguf_writer_write_data(w, fd, idx, (uint64_t)r * rb, buf, rb, err);
	}
out:
	free(f);
	free(d1);
	free(d2);
	free(ab);
	free(buf);
	return rc;
}

static int write_router(struct gguf_writer *w, int fd, int idx, const struct sl_synth_params *p, uint32_t layer,
			struct sl_err *err)
{
	const uint32_t E = p->n_embd, NE = p->n_expert;
	float *row = malloc(E * sizeof(float)), *d1 = malloc(E * sizeof(float)), *d2 = malloc(E * sizeof(float));
	int rc = 0;
	if (!row || !d1 || !d2) {
		rc = sl_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	drift_dirs(p, d1, d2);
	const float unit = sqrtf(3.0f / (float)E);
	uint64_t s = p->seed * 104729 + layer * 31 + 5;
	const float g = 1.5f * unit, k = p->expert_skew > 0 ? 1.0f : 0.0f;
	for (uint32_t e = 0; e < NE && !rc; e++) {
		const float a = 2.0f * (float)M_PI * (float)e / (float)NE, c = k * cosf(a), sn = k * sinf(a);
		for (uint32_t i = 0; i < E; i++)
			row[i] = g * urand(&s) + c * d1[i] + sn * d2[i];
		rc = sl_gguf_writer_write_data(w, fd, idx, (uint64_t)e * E * sizeof(float), row, E * sizeof(float), err);
	}
out:
	free(row);
	free(d1);
	free(d2);
	return rc;
}

static int write_bias(struct gguf_writer *w, int fd, int idx, const struct sl_synth_params *p, uint32_t layer,
		      struct sl_err *err)
{
	const uint32_t NE = p->n_expert;
	float *b = malloc(NE * sizeof(float));
	uint32_t *rank = malloc(NE * sizeof(uint32_t));
	int rc;
	if (!b || !rank) {
		free(b);
		free(rank);
		return sl_errf(err, ENOMEM, "out of memory");
	}
	uint64_t s = p->seed * 1000003 + layer * 977 + 3;
	for (uint32_t e = 0; e < NE; e++)
		rank[e] = e;
	for (uint32_t e = NE - 1; e > 0; e--) { /* Fisher-Yates: which expert is how popular, per layer */
		uint32_t j = (uint32_t)(mix64(&s) % (e + 1)), t = rank[e];
		rank[e] = rank[j];
		rank[j] = t;
	}
	const float scale = p->softmax_gating ? 2.0f / (float)NE : 0.25f;
	for (uint32_t e = 0; e < NE; e++)
		b[e] = -p->expert_skew * scale * logf(1.0f + (float)rank[e]);
	rc = sl_gguf_writer_write_data(w, fd, idx, 0, b, NE * sizeof(float), err);
	free(b);
	free(rank);
	return rc;
}

int sl_synth_ds2_write(const struct sl_synth_params *p, const char *path, sl_synth_progress_fn progress, void *parg,
		       struct sl_err *err)
{
	const uint32_t E = p->n_embd, H = p->n_head, V = p->n_vocab, NE = p->n_expert, Fe = p->n_ff_exp;
	const uint32_t Dn = p->d_nope, Dr = p->d_rope, Dv = p->d_v, KL = p->kv_lora, QL = p->q_lora;
	const uint32_t n_dense = p->n_dense < 0 ? 0 : p->n_dense ? (uint32_t)p->n_dense : 1;
	const bool bias = !p->softmax_gating || p->expert_skew > 0;
	const bool drift = p->expert_skew > 0 && p->n_head > 1;
	const bool r1 = p->mix == SL_SYNTH_MIX_R1;
	struct gguf_writer *w = sl_gguf_writer_new(32);
	struct sl_atomic_file af = { .fd = -1, .slot = -1 };
	struct sl_synth_vocab sv = { 0 };
	struct ds_spec *ts = NULL;
	int rc = 0, fd = -1;
	if (!w)
		return sl_errf(err, ENOMEM, "out of memory");
	if ((rc = sl_synth_bpe_vocab(true, &sv, err)))
		goto out;
	if (sv.n != V) {
		rc = sl_errf(err, EINVAL, "vocabulary of %u tokens, planned %u", sv.n, V);
		goto out;
	}
#define K(sfx) "deepseek2." sfx
	sl_gguf_writer_set_str(w, "general.architecture", "deepseek2");
	sl_gguf_writer_set_str(w, "general.name", "sluice synthetic deepseek2");
	sl_gguf_writer_set_u32(w, "general.file_type", p->type == SL_TYPE_F32 ? 0 : p->type == SL_TYPE_F16 ? 1 : r1 ? 24 : 7);
	sl_gguf_writer_set_u64(w, "sluice.synthetic_seed", p->seed);
	sl_gguf_writer_set_u32(w, K("block_count"), p->n_layer);
	sl_gguf_writer_set_u32(w, K("context_length"), p->n_ctx);
	sl_gguf_writer_set_u32(w, K("embedding_length"), E);
	sl_gguf_writer_set_u32(w, K("feed_forward_length"), p->n_ff);
	sl_gguf_writer_set_u32(w, K("attention.head_count"), H);
	sl_gguf_writer_set_f32(w, K("rope.freq_base"), 10000.0f);
	sl_gguf_writer_set_f32(w, K("attention.layer_norm_rms_epsilon"), 1e-6f);
	sl_gguf_writer_set_u32(w, K("leading_dense_block_count"), n_dense);
	if (QL)
		sl_gguf_writer_set_u32(w, K("attention.q_lora_rank"), QL);
	sl_gguf_writer_set_u32(w, K("attention.kv_lora_rank"), KL);
	if (p->mla_legacy) {
		sl_gguf_writer_set_u32(w, K("attention.head_count_kv"), H);
		sl_gguf_writer_set_u32(w, K("attention.key_length"), Dn + Dr);
		sl_gguf_writer_set_u32(w, K("attention.value_length"), Dv);
	} else { /* MLA files: the cache row, and the per-head dims in the _mla keys */
		sl_gguf_writer_set_u32(w, K("attention.head_count_kv"), 1);
		sl_gguf_writer_set_u32(w, K("attention.key_length"), KL + Dr);
		sl_gguf_writer_set_u32(w, K("attention.value_length"), KL);
		sl_gguf_writer_set_u32(w, K("attention.key_length_mla"), Dn + Dr);
		sl_gguf_writer_set_u32(w, K("attention.value_length_mla"), Dv);
	}
	sl_gguf_writer_set_u32(w, K("rope.dimension_count"), Dr);
	sl_gguf_writer_set_u32(w, K("expert_feed_forward_length"), Fe);
	sl_gguf_writer_set_u32(w, K("expert_count"), NE);
	sl_gguf_writer_set_u32(w, K("expert_used_count"), p->n_expert_used);
	sl_gguf_writer_set_u32(w, K("expert_shared_count"), 1);
	sl_gguf_writer_set_f32(w, K("expert_weights_scale"), p->softmax_gating ? 1.0f : 2.5f);
	sl_gguf_writer_set_bool(w, K("expert_weights_norm"), !p->softmax_gating);
	sl_gguf_writer_set_u32(w, K("expert_gating_func"), p->softmax_gating ? 1 : 2);
	const uint32_t groups = NE % 4 == 0 && (NE / 4) * 2 >= p->n_expert_used && NE / 4 >= 2 ? 4 : 1;
	sl_gguf_writer_set_u32(w, K("expert_group_count"), groups);
	sl_gguf_writer_set_u32(w, K("expert_group_used_count"), groups > 1 ? 2 : 1);
	sl_gguf_writer_set_str(w, K("rope.scaling.type"), "yarn");
	sl_gguf_writer_set_f32(w, K("rope.scaling.factor"), 4.0f);
	sl_gguf_writer_set_u32(w, K("rope.scaling.original_context_length"), SL_MAX(16u, p->n_ctx / 4));
	sl_gguf_writer_set_f32(w, K("rope.scaling.yarn_log_multiplier"), 0.1f);
#undef K
	sl_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
	sl_gguf_writer_set_str(w, "tokenizer.ggml.pre", "deepseek-v3");
	sl_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)sv.toks, sv.n);
	sl_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, sv.types, sv.n);
	sl_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)sv.merges, sv.n_merges);
	sl_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)sv.bos);
	sl_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)sv.eos);
	sl_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", sv.add_bos);
	sl_gguf_writer_set_str(w, "tokenizer.chat_template", sv.chat_template);

	size_t nt = 3 + (size_t)p->n_layer * 20, k = 0;
	if (!(ts = calloc(nt, sizeof(*ts)))) {
		rc = sl_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	/* The r1 mix (UD-IQ1_S-like): routed experts iq1_s / iq2_xxs (down), q6_K output, q4_K the rest. */
	const uint32_t T = r1 ? SL_TYPE_Q4_K : p->type, T_exp = p->type, T_down = r1 ? SL_TYPE_IQ2_XXS : p->type,
		       T_out = r1 ? SL_TYPE_Q6_K : p->type;
#define ADD(nm, ty, nd, c, r, e3, sc, off, kd)                                                                 \
	do {                                                                                                    \
		snprintf(ts[k].name, sizeof(ts[k].name), "%s", nm);                                             \
		ts[k].type = (ty), ts[k].n_dims = (nd), ts[k].ne[0] = (c), ts[k].ne[1] = (r), ts[k].ne[2] = (e3); \
		ts[k].scale = (sc), ts[k].offset = (off), ts[k].kind = (kd), k++;                               \
	} while (0)
#define LIN(sfx, c, r) do { snprintf(n, sizeof n, "blk.%u.%s", l, sfx); ADD(n, fit(T, c), 2, c, r, 1, 1.0f / sqrtf((float)(c)), 0.0f, 0); } while (0)
#define NRM(sfx, c) do { snprintf(n, sizeof n, "blk.%u.%s", l, sfx); ADD(n, SL_TYPE_F32, 1, c, 1, 1, 0.1f, 1.0f, 0); } while (0)
#define EXP(sfx, ty, c, r) do { snprintf(n, sizeof n, "blk.%u.%s", l, sfx); ADD(n, fit(ty, c), 3, c, r, NE, 1.0f / sqrtf((float)(c)), 0.0f, 0); } while (0)
	ADD("token_embd.weight", fit(T, E), 2, E, V, 1, 1.0f, 0.0f, 0);
	for (uint32_t l = 0; l < p->n_layer; l++) {
		char n[64];
		NRM("attn_norm.weight", E);
		if (QL) {
			LIN("attn_q_a.weight", E, QL);
			NRM("attn_q_a_norm.weight", QL);
			LIN("attn_q_b.weight", QL, H * (Dn + Dr));
		} else {
			LIN("attn_q.weight", E, H * (Dn + Dr));
		}
		if (drift)
			ts[k - 1].kind = 3;
		LIN("attn_kv_a_mqa.weight", E, KL + Dr);
		NRM("attn_kv_a_norm.weight", KL);
		if (p->mla_legacy) {
			LIN("attn_kv_b.weight", KL, H * (Dn + Dv));
		} else {
			snprintf(n, sizeof n, "blk.%u.attn_k_b.weight", l);
			ADD(n, fit(T, Dn), 3, Dn, KL, H, 1.0f / sqrtf((float)Dn), 0.0f, 0);
			snprintf(n, sizeof n, "blk.%u.attn_v_b.weight", l);
			ADD(n, fit(T, KL), 3, KL, Dv, H, 1.0f / sqrtf((float)KL), 0.0f, 0);
		}
		LIN("attn_output.weight", H * Dv, E);
		if (drift)
			ts[k - 1].kind = 4;
		NRM("ffn_norm.weight", E);
		if (l < n_dense) {
			LIN("ffn_gate.weight", E, p->n_ff);
			LIN("ffn_up.weight", E, p->n_ff);
			LIN("ffn_down.weight", p->n_ff, E);
			continue;
		}
		snprintf(n, sizeof n, "blk.%u.ffn_gate_inp.weight", l);
		ADD(n, SL_TYPE_F32, 2, E, NE, 1, 0, 0, 1);
		ts[k - 1].layer = l;
		if (bias) {
			snprintf(n, sizeof n, "blk.%u.exp_probs_b.bias", l);
			ADD(n, SL_TYPE_F32, 1, NE, 1, 1, 0, 0, 2);
			ts[k - 1].layer = l;
		}
		EXP("ffn_gate_exps.weight", T_exp, E, Fe);
		EXP("ffn_up_exps.weight", T_exp, E, Fe);
		EXP("ffn_down_exps.weight", T_down, Fe, E);
		LIN("ffn_gate_shexp.weight", E, Fe);
		LIN("ffn_up_shexp.weight", E, Fe);
		LIN("ffn_down_shexp.weight", Fe, E);
	}
	ADD("output_norm.weight", SL_TYPE_F32, 1, E, 1, 1, 0.1f, 1.0f, 0);
	ADD("output.weight", fit(T_out, E), 2, E, V, 1, 4.0f / sqrtf((float)E), 0.0f, 0);
#undef ADD
#undef LIN
#undef NRM
#undef EXP
	nt = k;
	uint64_t total = 0;
	for (size_t i = 0; i < nt; i++) {
		int idx = sl_gguf_writer_add_tensor(w, ts[i].name, ts[i].type, ts[i].n_dims, ts[i].ne);
		if (idx < 0) {
			rc = sl_errf(err, -idx, "cannot add tensor '%s' (%s, row of %lld)", ts[i].name,
				     sl_type_name(ts[i].type), (long long)ts[i].ne[0]);
			goto out;
		}
		total += sl_gguf_writer_tensor_size(w, idx);
	}
	if ((rc = sl_atomic_file_open(&af, path, NULL, err)))
		goto out;
	fd = af.fd;
	if ((rc = sl_gguf_writer_write_header(w, fd, err)))
		goto out;
	uint64_t done = 0;
	/* No end-of-turn boost (the llama synth's, for chat replies that end by themselves): these models
	 * are for benchmarks of generation, which must run to -n rather than stop after a few tokens. */
	const int64_t eot_row = -1;
	for (size_t i = 0; i < nt && !rc; i++) {
		uint64_t seed = p->seed * 0x100000001b3ull + i * 0x9e3779b97f4a7c15ull + 1;
		const bool out = i == nt - 1;
		if (ts[i].kind == 1 || ts[i].kind == 2 || ts[i].kind == 4) /* written whole below */
			done += sl_gguf_writer_tensor_size(w, (int)i);
		if (ts[i].kind == 1) {
			rc = write_router(w, fd, (int)i, p, ts[i].layer, err);
		} else if (ts[i].kind == 2) {
			rc = write_bias(w, fd, (int)i, p, ts[i].layer, err);
		} else if (ts[i].kind == 4) {
			rc = write_attn_output(w, fd, (int)i, &ts[i], p, seed, err);
		} else {
			/* kind 3: head 0's query rows are zero (it attends to the whole context evenly) */
			rc = sl_synth_write_tensor(w, fd, (int)i, ts[i].type, ts[i].ne[0], ts[i].ne[1] * ts[i].ne[2], seed,
						   ts[i].scale, ts[i].offset, 0,
						   out ? 256 : ts[i].kind == 3 ? (int64_t)(Dn + Dr) : 0, out ? eot_row : -1, &done,
						   total, progress, parg, err);
		}
	}
	if (!rc)
		rc = sl_gguf_writer_finish(w, fd, err);
	if (!rc)
		rc = sl_atomic_file_commit(&af, err);
out:
	if (rc && fd >= 0)
		sl_atomic_file_abort(&af);
	free(ts);
	sl_synth_vocab_free(&sv);
	sl_gguf_writer_free(w);
	return rc;
}
