/* SPDX-License-Identifier: MIT */
/*
 * runtime/model/synth_like.c — DeepSeek-R1's true GGUF layout as a sparse file (synth_like.h).
 *
 * Metadata and tensor names, shapes and order are those of llama.cpp's DeepSeek-R1 conversions with
 * the split MLA form (attn_k_b / attn_v_b): 61 layers, the first 3 dense, then 256 routed experts (8
 * used) and 1 shared expert per layer, sigmoid gating with exp_probs_b and group-limited routing,
 * YaRN.  Parameters: 671B.  The vocabulary has R1's 129280 entries (token_embd and output rows must
 * match it for the loader): R1's special tokens around a small real byte-level BPE vocabulary
 * (synth_bpe.c) padded with unused place-holder tokens.
 *
 * Type mixes follow the files people run:
 *   q4_K_m   llama.cpp's Q4_K_M: q4_K, with ffn_down (dense, shared and routed) q6_K in the layers
 *            llama.cpp gives more bits (the first and last eighth, every third between), output q6_K.
 *   ud-iq1_s unsloth's dynamic 1.58-bit (131 GiB): routed experts iq1_s, ffn_down_exps iq2_xxs in the
 *            first and last eighth of the layers ("a mixture of 2.06 and 1.56 bit"); attention
 *            q4_K (the small latent projections q6_K), dense layers q4_K with down q6_K, shared
 *            experts q6_K, token_embd q4_K, output q6_K.
 * A matrix whose row length a type cannot block (attn_k_b rows are 128) falls back as llama.cpp does
 * (k-quants and i-quants of 256 to q5_0 / q8_0 / iq4_nl).  1-D tensors and the router are f32.
 */
#include "model/synth_like.h"
#include "atomic_file.h"
#include "gguf.h"
#include "model/synth.h"
#include "quant/quant.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const sl_synth_like_models = "deepseek-r1";
const char *const sl_synth_like_mixes = "q4_K_m, ud-iq1_s, or one type (q4_K, iq1_s, q8_0, ...)";

enum { R1_LAYERS = 61, R1_DENSE = 3, R1_E = 7168, R1_H = 128, R1_QLORA = 1536, R1_KVLORA = 512, R1_ROPE = 64,
       R1_NOPE = 128, R1_V = 128, R1_FF = 18432, R1_FFE = 2048, R1_EXPERTS = 256, R1_USED = 8, R1_SHARED = 1,
       R1_VOCAB = 129280, R1_CTX = 163840 };

enum mix { MIX_Q4_K_M, MIX_UD_IQ1_S, MIX_ONE };

/* llama.cpp's use_more_bits: the first and last eighth of the layers, and every third between. */
static bool more_bits(int i, int n)
{
	return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static bool ends_with(const char *s, const char *sfx)
{
	size_t a = strlen(s), b = strlen(sfx);
	return a >= b && !strcmp(s + a - b, sfx);
}

/* The type of a matrix `role` (the tensor name without blk.N. and .weight) in layer l (-1 global). */
static uint32_t pick(enum mix mix, uint32_t one, const char *role, int l)
{
	const bool down = !strncmp(role, "ffn_down", 8);
	switch (mix) {
	case MIX_Q4_K_M:
		if (!strcmp(role, "output"))
			return SL_TYPE_Q6_K;
		if (down && more_bits(l, R1_LAYERS))
			return SL_TYPE_Q6_K;
		return SL_TYPE_Q4_K;
	case MIX_UD_IQ1_S:
		if (!strcmp(role, "output"))
			return SL_TYPE_Q6_K;
		if (!strcmp(role, "ffn_down_exps")) /* "a mixture of 2.06 and 1.56 bit": the ends get the bits */
			return l < R1_LAYERS / 8 || l >= 7 * R1_LAYERS / 8 ? SL_TYPE_IQ2_XXS : SL_TYPE_IQ1_S;
		if (ends_with(role, "_exps"))
			return SL_TYPE_IQ1_S;
		if (ends_with(role, "_shexp") || !strcmp(role, "attn_kv_a_mqa") || !strcmp(role, "attn_k_b") ||
		    !strcmp(role, "attn_v_b") || down)
			return SL_TYPE_Q6_K;
		return SL_TYPE_Q4_K;
	case MIX_ONE:
		break;
	}
	return one;
}

/* llama.cpp's fallback when the row length is not a multiple of the type's block. */
static uint32_t fit(uint32_t t, int64_t cols)
{
	const struct sl_type_traits *tt = sl_type_traits(t);
	if (tt && cols % tt->block_size == 0)
		return t;
	switch (t) {
	case SL_TYPE_Q4_K: return SL_TYPE_Q5_0;
	case SL_TYPE_Q5_K: return SL_TYPE_Q5_1;
	case SL_TYPE_Q6_K: return SL_TYPE_Q8_0;
	case SL_TYPE_Q2_K: case SL_TYPE_Q3_K: case SL_TYPE_IQ1_S: case SL_TYPE_IQ1_M: case SL_TYPE_IQ2_XXS:
	case SL_TYPE_IQ2_XS: case SL_TYPE_IQ2_S: case SL_TYPE_IQ3_XXS: case SL_TYPE_IQ3_S: case SL_TYPE_IQ4_XS:
		return SL_TYPE_IQ4_NL;
	default: return SL_TYPE_Q8_0;
	}
}

struct vocab {
	char **toks;
	int32_t *types;
	uint32_t n;
};

static void vocab_free(struct vocab *v)
{
	if (v->toks)
		for (uint32_t i = 0; i < v->n; i++)
			free(v->toks[i]);
	free(v->toks);
	free(v->types);
}

/* R1's specials (begin/end of sentence, pad first; the chat markers last) around the synthetic BPE
 * tokens, padded with unused place-holders to R1_VOCAB entries. */
static int r1_vocab(const struct sl_synth_vocab *sv, struct vocab *v, struct sl_err *err)
{
	static const char *const head[] = { "<\xef\xbd\x9c" "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
					    "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
					    "<\xef\xbd\x9c\xe2\x96\x81pad\xe2\x96\x81\xef\xbd\x9c>" };
	static const char *const tail[] = { "<\xef\xbd\x9cUser\xef\xbd\x9c>", ("<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>"),
					    "<think>", "</think>" };
	v->n = R1_VOCAB;
	v->toks = calloc(R1_VOCAB, sizeof(char *));
	v->types = calloc(R1_VOCAB, sizeof(int32_t));
	if (!v->toks || !v->types)
		return sl_errf(err, ENOMEM, "out of memory");
	uint32_t id = 0, n_tail = SL_ARRAY_SIZE(tail);
	for (size_t i = 0; i < SL_ARRAY_SIZE(head); i++, id++) {
		v->toks[id] = strdup(head[i]);
		v->types[id] = 3; /* control */
	}
	for (uint32_t i = 0; i < sv->first_special && id < R1_VOCAB - n_tail; i++, id++) {
		v->toks[id] = strdup(sv->toks[i]);
		v->types[id] = sv->types[i];
	}
	for (uint32_t k = 0; id < R1_VOCAB - n_tail; id++, k++) {
		char b[64];
		snprintf(b, sizeof b, "<\xef\xbd\x9cplace\xe2\x96\x81holder\xe2\x96\x81no\xe2\x96\x81%u\xef\xbd\x9c>", k);
		v->toks[id] = strdup(b);
		v->types[id] = 5; /* unused */
	}
	for (uint32_t i = 0; i < n_tail; i++, id++) {
		v->toks[id] = strdup(tail[i]);
		v->types[id] = i < 2 ? 3 : 4; /* the chat markers control, think tags user-defined */
	}
	for (uint32_t i = 0; i < R1_VOCAB; i++)
		if (!v->toks[i])
			return sl_errf(err, ENOMEM, "out of memory");
	return 0;
}

static int parse_mix(const char *mix, enum mix *m, uint32_t *one, struct sl_err *err)
{
	if (!mix || !strcasecmp(mix, "q4_k_m")) {
		*m = MIX_Q4_K_M;
		return 0;
	}
	if (!strcasecmp(mix, "ud-iq1_s") || !strcasecmp(mix, "ud_iq1_s")) {
		*m = MIX_UD_IQ1_S;
		return 0;
	}
	int t = sl_type_from_name(mix);
	const struct sl_type_traits *tt = t >= 0 ? sl_type_traits((uint32_t)t) : NULL;
	if (!tt || !tt->type_size || t == SL_TYPE_Q8_K || t == SL_TYPE_Q8_1 || (t >= SL_TYPE_I8 && t <= SL_TYPE_F64))
		return sl_errf(err, EINVAL, "'%s' is not a type mix for --like (%s)", mix, sl_synth_like_mixes);
	*m = MIX_ONE;
	*one = (uint32_t)t;
	return 0;
}

int sl_synth_like_write(const char *like, const char *mix, const char *path, struct sl_synth_like_info *info,
			struct sl_err *err)
{
	if (!like || strcasecmp(like, "deepseek-r1"))
		return sl_errf(err, EINVAL, "--like: '%s' is not a model layout sluice knows (%s)", like ? like : "",
			       sl_synth_like_models);
	enum mix m = MIX_Q4_K_M;
	uint32_t one = SL_TYPE_F16;
	int rc = parse_mix(mix, &m, &one, err);
	if (rc)
		return rc;
	struct sl_synth_vocab sv = { 0 };
	struct vocab v = { 0 };
	struct gguf_writer *w = NULL;
	struct sl_atomic_file af = { .fd = -1, .slot = -1 };
	bool opened = false;
	if ((rc = sl_synth_bpe_vocab(true, &sv, err)) || (rc = r1_vocab(&sv, &v, err)))
		goto out;
	if (!(w = sl_gguf_writer_new(32))) {
		rc = sl_errf(err, ENOMEM, "out of memory");
		goto out;
	}

	sl_gguf_writer_set_str(w, "general.architecture", "deepseek2");
	sl_gguf_writer_set_str(w, "general.name", "DeepSeek R1 (sluice sparse layout)");
	if (m != MIX_ONE)
		sl_gguf_writer_set_u32(w, "general.file_type", m == MIX_Q4_K_M ? 15 : 24); /* llama.cpp's ftype ids */
	sl_gguf_writer_set_str(w, "sluice.synthetic_like", "deepseek-r1");
	sl_gguf_writer_set_str(w, "sluice.synthetic_mix", mix ? mix : "q4_K_m");
#define K(s) "deepseek2." s
	sl_gguf_writer_set_u32(w, K("block_count"), R1_LAYERS);
	sl_gguf_writer_set_u32(w, K("context_length"), R1_CTX);
	sl_gguf_writer_set_u32(w, K("embedding_length"), R1_E);
	sl_gguf_writer_set_u32(w, K("feed_forward_length"), R1_FF);
	sl_gguf_writer_set_u32(w, K("attention.head_count"), R1_H);
	sl_gguf_writer_set_u32(w, K("attention.head_count_kv"), 1);
	sl_gguf_writer_set_f32(w, K("rope.freq_base"), 10000.0f);
	sl_gguf_writer_set_f32(w, K("attention.layer_norm_rms_epsilon"), 1e-6f);
	sl_gguf_writer_set_u32(w, K("expert_used_count"), R1_USED);
	sl_gguf_writer_set_u32(w, K("leading_dense_block_count"), R1_DENSE);
	sl_gguf_writer_set_u32(w, K("vocab_size"), R1_VOCAB);
	sl_gguf_writer_set_u32(w, K("attention.q_lora_rank"), R1_QLORA);
	sl_gguf_writer_set_u32(w, K("attention.kv_lora_rank"), R1_KVLORA);
	sl_gguf_writer_set_u32(w, K("attention.key_length"), R1_KVLORA + R1_ROPE);
	sl_gguf_writer_set_u32(w, K("attention.value_length"), R1_KVLORA);
	sl_gguf_writer_set_u32(w, K("attention.key_length_mla"), R1_NOPE + R1_ROPE);
	sl_gguf_writer_set_u32(w, K("attention.value_length_mla"), R1_V);
	sl_gguf_writer_set_u32(w, K("expert_feed_forward_length"), R1_FFE);
	sl_gguf_writer_set_u32(w, K("expert_count"), R1_EXPERTS);
	sl_gguf_writer_set_u32(w, K("expert_shared_count"), R1_SHARED);
	sl_gguf_writer_set_f32(w, K("expert_weights_scale"), 2.5f);
	sl_gguf_writer_set_bool(w, K("expert_weights_norm"), true);
	sl_gguf_writer_set_u32(w, K("expert_gating_func"), 2); /* sigmoid */
	sl_gguf_writer_set_u32(w, K("expert_group_count"), 8);
	sl_gguf_writer_set_u32(w, K("expert_group_used_count"), 4);
	sl_gguf_writer_set_u32(w, K("rope.dimension_count"), R1_ROPE);
	sl_gguf_writer_set_str(w, K("rope.scaling.type"), "yarn");
	sl_gguf_writer_set_f32(w, K("rope.scaling.factor"), 40.0f);
	sl_gguf_writer_set_u32(w, K("rope.scaling.original_context_length"), 4096);
	sl_gguf_writer_set_f32(w, K("rope.scaling.yarn_log_multiplier"), 0.1f);
#undef K
	sl_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
	sl_gguf_writer_set_str(w, "tokenizer.ggml.pre", "deepseek-v3");
	sl_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v.toks, v.n);
	sl_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, v.types, v.n);
	sl_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)sv.merges, sv.n_merges);
	sl_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 0);
	sl_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 1);
	sl_gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", 2);
	sl_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
	sl_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false);

	/* Tensors in llama.cpp's order. */
	uint64_t params = 0;
	uint32_t nt = 0;
	char name[96];
#define ADD(role, l, ty, nd, a, b, c)                                                                        \
	do {                                                                                                 \
		const int64_t ne_[3] = { (a), (b), (c) };                                                    \
		if ((l) >= 0)                                                                                \
			snprintf(name, sizeof name, "blk.%d.%s", (int)(l), role);                            \
		else                                                                                         \
			snprintf(name, sizeof name, "%s", role);                                             \
		int idx_ = sl_gguf_writer_add_tensor(w, name, fit((ty), ne_[0]), (nd), ne_);                \
		if (idx_ < 0) {                                                                              \
			rc = sl_errf(err, -idx_, "cannot add tensor '%s'", name);                             \
			goto out;                                                                            \
		}                                                                                            \
		params += (uint64_t)ne_[0] * (uint64_t)((nd) > 1 ? ne_[1] : 1) * (uint64_t)((nd) > 2 ? ne_[2] : 1); \
		nt++;                                                                                        \
	} while (0)
#define MAT(role, l, a, b) ADD(role ".weight", l, pick(m, one, role, l), 2, a, b, 1)
#define VEC(role, l, a) ADD(role, l, SL_TYPE_F32, 1, a, 1, 1)
	MAT("token_embd", -1, R1_E, R1_VOCAB);
	for (int l = 0; l < R1_LAYERS; l++) {
		VEC("attn_norm.weight", l, R1_E);
		MAT("attn_q_a", l, R1_E, R1_QLORA);
		VEC("attn_q_a_norm.weight", l, R1_QLORA);
		MAT("attn_q_b", l, R1_QLORA, R1_H * (R1_NOPE + R1_ROPE));
		MAT("attn_kv_a_mqa", l, R1_E, R1_KVLORA + R1_ROPE);
		VEC("attn_kv_a_norm.weight", l, R1_KVLORA);
		ADD("attn_k_b.weight", l, pick(m, one, "attn_k_b", l), 3, R1_NOPE, R1_KVLORA, R1_H);
		ADD("attn_v_b.weight", l, pick(m, one, "attn_v_b", l), 3, R1_KVLORA, R1_V, R1_H);
		MAT("attn_output", l, R1_H * R1_V, R1_E);
		VEC("ffn_norm.weight", l, R1_E);
		if (l < R1_DENSE) {
			MAT("ffn_gate", l, R1_E, R1_FF);
			MAT("ffn_up", l, R1_E, R1_FF);
			MAT("ffn_down", l, R1_FF, R1_E);
			continue;
		}
		ADD("ffn_gate_inp.weight", l, SL_TYPE_F32, 2, R1_E, R1_EXPERTS, 1);
		VEC("exp_probs_b.bias", l, R1_EXPERTS);
		ADD("ffn_gate_exps.weight", l, pick(m, one, "ffn_gate_exps", l), 3, R1_E, R1_FFE, R1_EXPERTS);
		ADD("ffn_up_exps.weight", l, pick(m, one, "ffn_up_exps", l), 3, R1_E, R1_FFE, R1_EXPERTS);
		ADD("ffn_down_exps.weight", l, pick(m, one, "ffn_down_exps", l), 3, R1_FFE, R1_E, R1_EXPERTS);
		MAT("ffn_gate_shexp", l, R1_E, R1_FFE * R1_SHARED);
		MAT("ffn_up_shexp", l, R1_E, R1_FFE * R1_SHARED);
		MAT("ffn_down_shexp", l, R1_FFE * R1_SHARED, R1_E);
	}
	VEC("output_norm.weight", -1, R1_E);
	MAT("output", -1, R1_E, R1_VOCAB);
#undef MAT
#undef VEC
#undef ADD

	/* The header, then the file's final size with ftruncate: every tensor is a hole. */
	int fd;
	if ((rc = sl_atomic_file_open(&af, path, NULL, err)))
		goto out;
	opened = true;
	fd = af.fd;
	if ((rc = sl_gguf_writer_write_header(w, fd, err)) || (rc = sl_gguf_writer_finish(w, fd, err)))
		goto out;
	if ((rc = sl_atomic_file_commit(&af, err)))
		goto out;
	opened = false;
	if (info) {
		uint64_t tb = 0;
		for (uint32_t i = 0; i < nt; i++)
			tb += sl_gguf_writer_tensor_size(w, (int)i);
		*info = (struct sl_synth_like_info){ .n_params = params, .tensor_bytes = tb,
						     .file_bytes = sl_gguf_writer_total_size(w), .n_tensors = nt,
						     .n_vocab = v.n };
	}
out:
	if (rc && opened)
		sl_atomic_file_abort(&af);
	sl_gguf_writer_free(w);
	vocab_free(&v);
	sl_synth_vocab_free(&sv);
	return rc;
}
