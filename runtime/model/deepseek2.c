/* SPDX-License-Identifier: MIT */
/*
 * runtime/model/deepseek2.c — the deepseek2 architecture (DeepSeek-V2/V3/R1) as llama.cpp reads it:
 * multi-head latent attention (MLA) over a compressed KV cache, YaRN rope, dense leading layers,
 * then mixture-of-experts layers (routed experts + shared experts).
 *
 * Per layer:  x += Wo · MLA(n(x))
 *             x += FFN(n(x)),  FFN = dense SwiGLU (layer < leading_dense_block_count) or
 *                              shared-expert SwiGLU + sum_i w_i expert_i(n(x)) (routed, top-k)
 * MLA: q = Wq_b n(Wq_a h) (q LoRA) or Wq h, per head [d_nope | d_rope];
 *      c = n(Wkv_a h)[0, kv_lora), k_pe = rope(Wkv_a h)[kv_lora, +d_rope): the cache holds exactly
 *      [c, k_pe] per token per layer.  Attention runs absorbed (backend op mla_attention):
 *      q_lat = Wk_h q_nope, score = q_lat·c + q_pe·k_pe, o_lat = softmax·c, out_h = Wv_h o_lat,
 *      Wk/Wv from the split attn_k_b / attn_v_b or the legacy attn_kv_b (same op, other layout).
 *
 * Expert streaming follows the store's MoE contract (cache/weights.h): each expert's slice of a
 * 3-D expert tensor is its own unit; after the router of a layer runs on a chunk, the choice is
 * reported (sl_weights_routed) and the distinct chosen experts' units are prefetched as one batch,
 * ahead of the rest of the dense future, and kept at the head of every later prefetch list of
 * the layer until they are used.  Pre-gating (m->pregate != -1): after layer l, when layer l+1 is
 * an MoE layer, its router runs on the current hidden state x (the input of layer l+1, normalized
 * with layer l+1's ffn_norm: the attention of l+1 has not run yet, so this is an approximation of
 * what that router will see) and the union of each token's top-W experts is reported
 * (sl_weights_guessed) and listed in the prefetch lists at layer l+1's FFN, after its attention's
 * units, until layer l+1's router has run.
 */
#include "model/model.h"
#include "model/observe.h"
#include "trace.h"
#include "quant/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_USED 64

struct ds2_layer {
	struct sl_tensor_ref attn_norm, wq_a, q_a_norm, wq_b, wq, wkv_a, kv_a_norm, wk_b, wv_b, wkv_b, wo, ffn_norm;
	struct sl_tensor_ref w_gate, w_up, w_down;                    /* dense layers */
	struct sl_tensor_ref router, probs_b, sh_gate, sh_up, sh_down; /* MoE layers */
	struct sl_tensor_ref exp[3];  /* gate, up, down of one expert: type and shape (id unused) */
	int *exp_units;               /* [n_expert][3] unit ids: gate, up, down */
	bool moe;
	int ffn_pos;                  /* m->order index of this layer's ffn_norm */
};

struct ds2 {
	uint32_t q_lora, kv_lora, d_nope, d_rope, d_v, n_ff_exp, n_expert, n_used, n_shared, n_group, n_group_used;
	uint32_t n_dense;
	uint32_t gating; /* 1 softmax, 2 sigmoid */
	bool norm_w, legacy;
	float w_scale, kq_scale;
	float *ff_host, *ff_dev; /* YaRN per-pair factors; NULL without YaRN */
	size_t ff_bytes;
	struct ds2_layer *L;
	/* forward scratch (host) */
	float *logits_h, *bias_h, *probs, *sel, *cw;
	int32_t *choice, *rows, *distinct, *guess, *grank; /* grank: each guess's best rank */
	float *scales;
	int *plist, plist_cap;
	int *head, n_head, head_pos;   /* chosen experts' units, in order of use; [head_pos, n_head) unused */
	int *guess_units, n_guess_units, guess_layer;
};

static struct ds2 *D(const struct sluice_model *m)
{
	return m->arch_priv;
}

/* ---- load ---- */

static int get_u32(struct sluice_model *m, const char *suffix, uint32_t *out, bool required, struct sl_err *err)
{
	char key[128];
	snprintf(key, sizeof(key), "deepseek2.%s", suffix);
	int rc = sl_gguf_get_u32(m->gguf, key, out, err);
	if (rc == -ENOENT && required)
		return sl_errf(err, EINVAL, "%s: missing metadata '%s'", m->gguf->path, key);
	return rc == -ENOENT ? 0 : rc;
}

static int get_f32(struct sluice_model *m, const char *suffix, float *out, struct sl_err *err)
{
	char key[128];
	snprintf(key, sizeof(key), "deepseek2.%s", suffix);
	int rc = sl_gguf_get_f32(m->gguf, key, out, err);
	return rc == -ENOENT ? 0 : rc;
}

static int get_bool(struct sluice_model *m, const char *suffix, bool *out, struct sl_err *err)
{
	char key[128];
	snprintf(key, sizeof(key), "deepseek2.%s", suffix);
	int rc = sl_gguf_get_bool(m->gguf, key, out, err);
	return rc == -ENOENT ? 0 : rc;
}

static int shape_err(struct sluice_model *m, const struct gguf_tensor *t, int64_t c, int64_t r, int64_t e,
		     struct sl_err *err)
{
	return sl_errf(err, EINVAL, "%s: tensor '%s' has shape [%lld, %lld, %lld] (%u-D), expected [%lld%s%lld%s%lld]",
		       m->gguf->path, t->name.s, (long long)t->ne[0], (long long)(t->n_dims > 1 ? t->ne[1] : 1),
		       (long long)(t->n_dims > 2 ? t->ne[2] : 1), t->n_dims, (long long)c, r ? ", " : "",
		       (long long)(r ? r : 0), e ? ", " : "", (long long)(e ? e : 0));
}

/* Find a 1-D (rows 0) or 2-D tensor, check its shape, register it whole. */
static int bind(struct sluice_model *m, struct sl_tensor_ref *ref, int layer, const char *sfx, int64_t cols,
		int64_t rows, bool required, struct sl_err *err)
{
	char name[96];
	if (layer >= 0)
		snprintf(name, sizeof name, "blk.%d.%s", layer, sfx);
	else
		snprintf(name, sizeof name, "%s", sfx);
	const struct gguf_tensor *t = sl_gguf_find_tensor(m->gguf, name);
	ref->id = -1;
	if (!t)
		return required ? sl_errf(err, EINVAL, "%s: missing tensor '%s'", m->gguf->path, name) : 0;
	if (t->n_dims != (rows ? 2u : 1u) || t->ne[0] != cols || (rows && t->ne[1] != rows))
		return shape_err(m, t, cols, rows, 0, err);
	if (!rows && t->type != SL_TYPE_F32)
		return sl_errf(err, EINVAL, "%s: tensor '%s' is %s; 1-D tensors must be f32", m->gguf->path, name,
			       sl_type_name(t->type));
	int id = sl_weights_add(m->weights, t, layer, -1, 0, 0, err);
	if (id < 0)
		return id;
	*ref = (struct sl_tensor_ref){ id, t->type, cols, rows ? rows : 1, t->name.s };
	m->n_params += (uint64_t)sl_gguf_tensor_nelements(t);
	return 0;
}

/* A 3-D tensor [cols, rows, n3] registered as n3 slices of rows x cols: one unit each.  per_expert:
 * the slices are experts (unit ids into units[e*3 + which]); otherwise heads (one unit, whole). */
static int bind3(struct sluice_model *m, struct sl_tensor_ref *ref, int layer, const char *sfx, int64_t cols,
		 int64_t rows, int64_t n3, int *units, int which, struct sl_err *err)
{
	char name[96];
	snprintf(name, sizeof name, "blk.%d.%s", layer, sfx);
	const struct gguf_tensor *t = sl_gguf_find_tensor(m->gguf, name);
	ref->id = -1;
	if (!t)
		return sl_errf(err, EINVAL, "%s: missing tensor '%s'", m->gguf->path, name);
	if (t->n_dims != 3 || t->ne[0] != cols || t->ne[1] != rows || t->ne[2] != n3)
		return shape_err(m, t, cols, rows, n3, err);
	const size_t rb = sl_row_size(t->type, cols);
	if (!rb)
		return sl_errf(err, EINVAL, "%s: tensor '%s': %lld columns are not a whole number of %s blocks",
			       m->gguf->path, name, (long long)cols, sl_type_name(t->type));
	const uint64_t slice = (uint64_t)rb * (uint64_t)rows;
	if (slice * (uint64_t)n3 != t->size)
		return sl_errf(err, EINVAL, "%s: tensor '%s': %llu bytes, expected %lld slices of %llu", m->gguf->path,
			       name, (unsigned long long)t->size, (long long)n3, (unsigned long long)slice);
	*ref = (struct sl_tensor_ref){ -1, t->type, cols, rows, t->name.s };
	m->n_params += (uint64_t)sl_gguf_tensor_nelements(t);
	if (!units) { /* attn_k_b / attn_v_b: one dense unit */
		int id = sl_weights_add(m->weights, t, layer, -1, 0, 0, err);
		if (id < 0)
			return id;
		ref->id = id;
		return 0;
	}
	for (int64_t e = 0; e < n3; e++) {
		int id = sl_weights_add(m->weights, t, layer, (int)e, (uint64_t)e * slice, slice, err);
		if (id < 0)
			return id;
		units[e * 3 + which] = id;
	}
	return 0;
}

/* YaRN as ggml computes it (ggml_rope_yarn_corr_dims, rope_yarn_ramp), folded into per-pair
 * factors for rope_ff: theta_d = theta_extrap_d * (fs * (1 - mix_d) + mix_d), so ff[d] = 1 / that. */
static float yarn_corr_dim(int n_dims, int n_ctx_orig, float n_rot, float base)
{
	return (float)n_dims * logf((float)n_ctx_orig / (n_rot * 2 * (float)M_PI)) / (2 * logf(base));
}

static void yarn_factors(int n_dims, int n_ctx_orig, float base, float freq_scale, float *ff)
{
	float lo = floorf(yarn_corr_dim(n_dims, n_ctx_orig, 32.0f, base));
	float hi = ceilf(yarn_corr_dim(n_dims, n_ctx_orig, 1.0f, base));
	lo = lo > 0 ? lo : 0;
	hi = hi < (float)(n_dims - 1) ? hi : (float)(n_dims - 1);
	for (int d = 0; d < n_dims / 2; d++) {
		float y = ((float)d - lo) / (hi - lo > 0.001f ? hi - lo : 0.001f);
		float mix = 1 - (y < 0 ? 0 : y > 1 ? 1 : y); /* ext_factor 1 */
		ff[d] = 1.0f / (freq_scale * (1 - mix) + mix);
	}
}

static int rope_yarn(struct sluice_model *m, struct ds2 *d, struct sl_err *err)
{
	const char *type = NULL;
	const char *key = "deepseek2.rope.scaling.type";
	if (sl_gguf_find_kv(m->gguf, key) && sl_gguf_get_str(m->gguf, key, &type, err))
		return -EINVAL;
	const float kq_base = 1.0f / sqrtf((float)(d->d_nope + d->d_rope));
	d->kq_scale = kq_base;
	if (!type || !strcmp(type, "none"))
		return 0;
	if (strcmp(type, "yarn"))
		return sl_errf(err, ENOTSUP, "%s: rope scaling '%s' (%s) is not supported for deepseek2 (none, yarn)",
			       m->gguf->path, type, key);
	float factor = 0, log_mul = 0;
	uint32_t orig = 0;
	int rc;
	if ((rc = get_f32(m, "rope.scaling.factor", &factor, err)) ||
	    (rc = get_u32(m, "rope.scaling.original_context_length", &orig, true, err)) ||
	    (rc = get_f32(m, "rope.scaling.yarn_log_multiplier", &log_mul, err)))
		return rc;
	if (!(factor >= 1.0f) || !orig)
		return sl_errf(err, EINVAL, "%s: yarn needs rope.scaling.factor >= 1 and original_context_length (%g, %u)",
			       m->gguf->path, (double)factor, orig);
	const float mscale = 1.0f + log_mul * logf(factor);
	d->kq_scale = mscale * mscale * kq_base;
	d->ff_bytes = d->d_rope / 2 * sizeof(float);
	if (!(d->ff_host = malloc(d->ff_bytes)))
		return sl_errf(err, ENOMEM, "out of memory");
	yarn_factors((int)d->d_rope, (int)orig, m->hp.rope_freq_base, 1.0f / factor, d->ff_host);
	struct sl_backend *be = m->be;
	if ((rc = be->ops->alloc(be, d->ff_bytes, (void **)&d->ff_dev))) {
		d->ff_dev = NULL;
		return sl_errf(err, ENOMEM, "cannot allocate the rope factors on the %s backend: %s", be->ops->name,
			       be->err.msg);
	}
	if ((rc = be->ops->upload(be, d->ff_dev, d->ff_host, d->ff_bytes)) || (rc = be->ops->sync(be)))
		return sl_errf(err, -rc, "uploading the rope factors: %s", be->err.msg);
	return 0;
}

static int hparams(struct sluice_model *m, struct ds2 *d, struct sl_err *err)
{
	struct sl_hparams *hp = &m->hp;
	int rc;
	uint32_t key_len = 0, val_len = 0, key_mla = 0, val_mla = 0;
	hp->n_ctx_train = 4096;
	hp->rope_freq_base = 10000.0f;
	hp->rms_eps = 1e-6f;
	d->gating = 1;
	d->n_group = d->n_group_used = 1;
	if ((rc = get_u32(m, "embedding_length", &hp->n_embd, true, err)) ||
	    (rc = get_u32(m, "block_count", &hp->n_layer, true, err)) ||
	    (rc = get_u32(m, "feed_forward_length", &hp->n_ff, true, err)) ||
	    (rc = get_u32(m, "attention.head_count", &hp->n_head, true, err)) ||
	    (rc = get_u32(m, "context_length", &hp->n_ctx_train, false, err)) ||
	    (rc = get_f32(m, "rope.freq_base", &hp->rope_freq_base, err)) ||
	    (rc = get_f32(m, "attention.layer_norm_rms_epsilon", &hp->rms_eps, err)) ||
	    (rc = get_u32(m, "rope.dimension_count", &d->d_rope, true, err)) ||
	    (rc = get_u32(m, "leading_dense_block_count", &d->n_dense, false, err)) ||
	    (rc = get_u32(m, "attention.q_lora_rank", &d->q_lora, false, err)) ||
	    (rc = get_u32(m, "attention.kv_lora_rank", &d->kv_lora, true, err)) ||
	    (rc = get_u32(m, "attention.key_length", &key_len, true, err)) ||
	    (rc = get_u32(m, "attention.value_length", &val_len, true, err)) ||
	    (rc = get_u32(m, "attention.key_length_mla", &key_mla, false, err)) ||
	    (rc = get_u32(m, "attention.value_length_mla", &val_mla, false, err)) ||
	    (rc = get_u32(m, "expert_feed_forward_length", &d->n_ff_exp, false, err)) ||
	    (rc = get_u32(m, "expert_count", &d->n_expert, false, err)) ||
	    (rc = get_u32(m, "expert_used_count", &d->n_used, false, err)) ||
	    (rc = get_u32(m, "expert_shared_count", &d->n_shared, false, err)) ||
	    (rc = get_f32(m, "expert_weights_scale", &d->w_scale, err)) ||
	    (rc = get_bool(m, "expert_weights_norm", &d->norm_w, err)) ||
	    (rc = get_u32(m, "expert_gating_func", &d->gating, false, err)) ||
	    (rc = get_u32(m, "expert_group_count", &d->n_group, false, err)) ||
	    (rc = get_u32(m, "expert_group_used_count", &d->n_group_used, false, err)))
		return rc;
	/* MLA files state the per-head dims in the _mla keys (key_length is then the cache row) */
	const uint32_t qk = key_mla ? key_mla : key_len, dv = val_mla ? val_mla : val_len;
	d->d_v = dv;
	if (!hp->n_embd || !hp->n_layer || !hp->n_head || !hp->n_ff || !d->kv_lora || hp->n_layer > 4096 ||
	    qk <= d->d_rope || d->d_rope % 2 || !dv || hp->n_head > 4096 || d->kv_lora > 65536 || qk > 65536 ||
	    dv > 65536 || d->q_lora > 1u << 20)
		return sl_errf(err, EINVAL, "%s: inconsistent deepseek2 hyperparameters (n_embd %u, n_layer %u, n_head %u, "
			       "n_ff %u, kv_lora %u, key_length %u, value_length %u, rope dims %u)",
			       m->gguf->path, hp->n_embd, hp->n_layer, hp->n_head, hp->n_ff, d->kv_lora, qk, dv, d->d_rope);
	d->d_nope = qk - d->d_rope;
	if (d->n_dense > hp->n_layer)
		d->n_dense = hp->n_layer;
	if (d->n_dense < hp->n_layer) {
		if (!d->n_expert || !d->n_used || d->n_used > d->n_expert || d->n_used > MAX_USED || !d->n_ff_exp ||
		    d->n_expert > 65536)
			return sl_errf(err, EINVAL, "%s: MoE layers need expert_count, expert_used_count (1 to %d, at most "
				       "expert_count) and expert_feed_forward_length (%u, %u, %u)",
				       m->gguf->path, MAX_USED, d->n_expert, d->n_used, d->n_ff_exp);
		if (!d->n_shared)
			return sl_errf(err, ENOTSUP, "%s: deepseek2 MoE layers without a shared expert are not supported",
				       m->gguf->path);
		if (d->gating != 1 && d->gating != 2)
			return sl_errf(err, EINVAL, "%s: expert_gating_func %u is not 1 (softmax) or 2 (sigmoid)",
				       m->gguf->path, d->gating);
		if (!d->n_group)
			d->n_group = 1;
		if (d->n_expert % d->n_group || (d->n_group > 1 && d->n_expert / d->n_group < 2) ||
		    !d->n_group_used || d->n_group_used > d->n_group ||
		    (d->n_group > 1 && d->n_group_used * (d->n_expert / d->n_group) < d->n_used))
			return sl_errf(err, EINVAL, "%s: expert groups %u (used %u) do not fit %u experts, %u used",
				       m->gguf->path, d->n_group, d->n_group_used, d->n_expert, d->n_used);
	}
	if (!(hp->rope_freq_base > 0) || !(hp->rms_eps >= 0))
		return sl_errf(err, EINVAL, "%s: bad rope.freq_base or rms epsilon", m->gguf->path);
	hp->n_head_kv = hp->n_head;
	hp->head_dim = qk;
	hp->n_rot = d->d_rope;
	hp->kv_k_row = d->kv_lora + d->d_rope;
	hp->kv_v_row = 0;
	hp->q_dim = hp->n_head * qk;
	hp->att_dim = SL_MAX(hp->n_embd, hp->n_head * dv);
	uint32_t ff = SL_MAX(hp->n_ff, d->q_lora);
	if (d->n_dense < hp->n_layer) {
		ff = SL_MAX(ff, d->n_ff_exp * d->n_shared);
		ff = SL_MAX(ff, d->n_expert);
		hp->n_expert = d->n_expert;
	}
	hp->ff_dim = ff;
	return 0;
}

static int layer_units(const struct ds2_layer *L, int *ids, int *ffn_at)
{
	const struct sl_tensor_ref *seq[] = {
		&L->attn_norm, &L->wq_a, &L->q_a_norm, &L->wq_b, &L->wq, &L->wkv_a, &L->kv_a_norm, &L->wk_b, &L->wv_b,
		&L->wkv_b, &L->wo, &L->ffn_norm, &L->w_gate, &L->w_up, &L->w_down, &L->router, &L->probs_b,
		&L->sh_gate, &L->sh_up, &L->sh_down,
	};
	int n = 0;
	for (size_t i = 0; i < SL_ARRAY_SIZE(seq); i++) {
		if (seq[i] == &L->ffn_norm)
			*ffn_at = n;
		if (seq[i]->id >= 0)
			ids[n++] = seq[i]->id;
	}
	return n;
}

static int build_order(struct sluice_model *m, struct ds2 *d, struct sl_err *err)
{
	const uint32_t L = m->hp.n_layer;
	m->order = malloc(2 * (size_t)L * 20 * sizeof(int));
	m->layer_start = malloc(((size_t)L + 1) * sizeof(int));
	if (!m->order || !m->layer_start)
		return sl_errf(err, ENOMEM, "out of memory");
	int n = 0;
	for (uint32_t l = 0; l < L; l++) {
		int at = 0;
		m->layer_start[l] = n;
		n += layer_units(&d->L[l], m->order + n, &at);
		d->L[l].ffn_pos = m->layer_start[l] + at;
	}
	m->layer_start[L] = n;
	memcpy(m->order + n, m->order, (size_t)n * sizeof(int));
	m->n_order = n;
	return 0;
}

static int bind_layer(struct sluice_model *m, struct ds2 *d, uint32_t l, struct sl_err *err)
{
	struct ds2_layer *L = &d->L[l];
	const int il = (int)l;
	const int64_t E = m->hp.n_embd, H = m->hp.n_head, Dn = d->d_nope, Dr = d->d_rope, Dv = d->d_v;
	const int64_t KL = d->kv_lora;
	int rc;
	struct sl_tensor_ref *all[] = { &L->attn_norm, &L->wq_a, &L->q_a_norm, &L->wq_b, &L->wq, &L->wkv_a,
					&L->kv_a_norm, &L->wk_b, &L->wv_b, &L->wkv_b, &L->wo, &L->ffn_norm,
					&L->w_gate, &L->w_up, &L->w_down, &L->router, &L->probs_b, &L->sh_gate,
					&L->sh_up, &L->sh_down };
	for (size_t i = 0; i < SL_ARRAY_SIZE(all); i++)
		all[i]->id = -1;
	if ((rc = bind(m, &L->attn_norm, il, "attn_norm.weight", E, 0, true, err)))
		return rc;
	if (d->q_lora) {
		if ((rc = bind(m, &L->wq_a, il, "attn_q_a.weight", E, d->q_lora, true, err)) ||
		    (rc = bind(m, &L->q_a_norm, il, "attn_q_a_norm.weight", d->q_lora, 0, true, err)) ||
		    (rc = bind(m, &L->wq_b, il, "attn_q_b.weight", d->q_lora, H * (Dn + Dr), true, err)))
			return rc;
	} else if ((rc = bind(m, &L->wq, il, "attn_q.weight", E, H * (Dn + Dr), true, err))) {
		return rc;
	}
	if ((rc = bind(m, &L->wkv_a, il, "attn_kv_a_mqa.weight", E, KL + Dr, true, err)) ||
	    (rc = bind(m, &L->kv_a_norm, il, "attn_kv_a_norm.weight", KL, 0, true, err)))
		return rc;
	if (d->legacy) {
		if ((rc = bind(m, &L->wkv_b, il, "attn_kv_b.weight", KL, H * (Dn + Dv), true, err)))
			return rc;
	} else if ((rc = bind3(m, &L->wk_b, il, "attn_k_b.weight", Dn, KL, H, NULL, 0, err)) ||
		   (rc = bind3(m, &L->wv_b, il, "attn_v_b.weight", KL, Dv, H, NULL, 0, err))) {
		return rc;
	}
	if ((rc = bind(m, &L->wo, il, "attn_output.weight", H * Dv, E, true, err)) ||
	    (rc = bind(m, &L->ffn_norm, il, "ffn_norm.weight", E, 0, true, err)))
		return rc;
	L->moe = l >= d->n_dense;
	if (!L->moe)
		return (rc = bind(m, &L->w_gate, il, "ffn_gate.weight", E, m->hp.n_ff, true, err)) ||
				       (rc = bind(m, &L->w_up, il, "ffn_up.weight", E, m->hp.n_ff, true, err)) ||
				       (rc = bind(m, &L->w_down, il, "ffn_down.weight", m->hp.n_ff, E, true, err))
			       ? rc
			       : 0;
	const int64_t NE = d->n_expert, Fe = d->n_ff_exp, Fs = (int64_t)d->n_ff_exp * d->n_shared;
	if (!(L->exp_units = malloc((size_t)NE * 3 * sizeof(int))))
		return sl_errf(err, ENOMEM, "out of memory");
	/* the router is read on the host side of routing too: any type the backend multiplies */
	if ((rc = bind(m, &L->router, il, "ffn_gate_inp.weight", E, NE, true, err)) ||
	    (rc = bind(m, &L->probs_b, il, "exp_probs_b.bias", NE, 0, false, err)) ||
	    (rc = bind(m, &L->sh_gate, il, "ffn_gate_shexp.weight", E, Fs, true, err)) ||
	    (rc = bind(m, &L->sh_up, il, "ffn_up_shexp.weight", E, Fs, true, err)) ||
	    (rc = bind(m, &L->sh_down, il, "ffn_down_shexp.weight", Fs, E, true, err)) ||
	    (rc = bind3(m, &L->exp[0], il, "ffn_gate_exps.weight", E, Fe, NE, L->exp_units, 0, err)) ||
	    (rc = bind3(m, &L->exp[1], il, "ffn_up_exps.weight", E, Fe, NE, L->exp_units, 1, err)) ||
	    (rc = bind3(m, &L->exp[2], il, "ffn_down_exps.weight", Fe, E, NE, L->exp_units, 2, err)))
		return rc;
	return 0;
}

void sl_deepseek2_free(struct sluice_model *m)
{
	struct ds2 *d = D(m);
	if (!d)
		return;
	if (d->ff_dev)
		m->be->ops->free(m->be, d->ff_dev, d->ff_bytes);
	for (uint32_t l = 0; d->L && l < m->hp.n_layer; l++)
		free(d->L[l].exp_units);
	free(d->L);
	free(d->ff_host);
	free(d->logits_h);
	free(d->bias_h);
	free(d->probs);
	free(d->sel);
	free(d->cw);
	free(d->choice);
	free(d->rows);
	free(d->distinct);
	free(d->guess);
	free(d->grank);
	free(d->scales);
	free(d->plist);
	free(d->head);
	free(d->guess_units);
	free(d);
	m->arch_priv = NULL;
}

const char *sl_deepseek2_missing_op(const struct sl_backend_ops *o)
{
	return !o->mla_kv ? "mla_kv" : !o->mla_attention ? "mla_attention" : !o->add_rows ? "add_rows" : NULL;
}

int sl_deepseek2_load(struct sluice_model *m, struct sl_err *err)
{
	struct ds2 *d = calloc(1, sizeof(*d));
	if (!d)
		return sl_errf(err, ENOMEM, "out of memory");
	m->arch_priv = d;
	d->guess_layer = -1;
	const char *missing = sl_deepseek2_missing_op(m->be->ops);
	if (missing)
		return sl_errf(err, ENOTSUP, "%s: deepseek2 needs the backend op %s, which the %s backend lacks (use --backend cpu)",
			       m->gguf->path, missing, m->be->ops->name);
	int rc = hparams(m, d, err);
	if (rc)
		return rc;
	struct sl_hparams *hp = &m->hp;
	d->legacy = sl_gguf_find_tensor(m->gguf, "blk.0.attn_kv_b.weight") != NULL;
	/* Layers the metadata does not count would be skipped without a word: refuse them. */
	for (uint64_t i = 0; i < m->gguf->n_tensors; i++) {
		const char *tn = m->gguf->tensors[i].name.s, *p = tn + 4;
		uint64_t blk = 0;
		if (strncmp(tn, "blk.", 4) || *p < '0' || *p > '9')
			continue;
		for (; *p >= '0' && *p <= '9'; p++)
			blk = blk > UINT32_MAX ? blk : blk * 10 + (uint64_t)(*p - '0');
		if (*p == '.' && blk >= hp->n_layer)
			return sl_errf(err, EINVAL, "%s: tensor '%s' belongs to layer %llu but deepseek2.block_count is %u",
				       m->gguf->path, tn, (unsigned long long)blk, hp->n_layer);
	}

	const struct gguf_tensor *te = sl_gguf_find_tensor(m->gguf, "token_embd.weight");
	if (!te || te->n_dims != 2)
		return sl_errf(err, EINVAL, "%s: missing or not 2-D tensor 'token_embd.weight'", m->gguf->path);
	hp->n_vocab = (uint32_t)te->ne[1];
	if (hp->n_vocab != sl_vocab_size(m->vocab))
		return sl_errf(err, EINVAL, "%s: token_embd has %u rows but the vocabulary has %u tokens", m->gguf->path,
			       hp->n_vocab, sl_vocab_size(m->vocab));
	const int64_t E = hp->n_embd, V = hp->n_vocab;
	if ((rc = bind(m, &m->tok_embd, -1, "token_embd.weight", E, V, true, err)) ||
	    (rc = bind(m, &m->output_norm, -1, "output_norm.weight", E, 0, true, err)) ||
	    (rc = bind(m, &m->output, -1, "output.weight", E, V, false, err)))
		return rc;
	if (m->output.id < 0)
		m->output = m->tok_embd;
	m->rope_freqs.id = -1;
	if ((rc = rope_yarn(m, d, err)))
		return rc;
	if (!(d->L = calloc(hp->n_layer, sizeof(*d->L))))
		return sl_errf(err, ENOMEM, "out of memory");
	for (uint32_t l = 0; l < hp->n_layer; l++)
		if ((rc = bind_layer(m, d, l, err)))
			return rc;
	if ((rc = build_order(m, d, err)))
		return rc;
	if (d->n_dense < hp->n_layer)
		sl_weights_set_experts_used(m->weights, (int)d->n_used);

	const size_t B = SL_N_BATCH, NE = d->n_expert ? d->n_expert : 1;
	d->plist_cap = m->n_order + 6 * (int)NE + 16;
	d->logits_h = malloc(B * NE * sizeof(float));
	d->bias_h = malloc(NE * sizeof(float));
	d->probs = malloc(NE * sizeof(float));
	d->sel = malloc(NE * sizeof(float));
	d->cw = malloc(B * (MAX_USED + SLUICE_MAX_PREGATE) * sizeof(float));
	d->choice = malloc(B * (MAX_USED + SLUICE_MAX_PREGATE) * sizeof(int32_t));
	d->rows = malloc(B * sizeof(int32_t));
	d->scales = malloc(B * sizeof(float));
	d->distinct = malloc(NE * sizeof(int32_t));
	d->guess = malloc(NE * sizeof(int32_t));
	d->grank = malloc(NE * sizeof(int32_t));
	d->plist = malloc((size_t)d->plist_cap * sizeof(int));
	d->head = malloc(NE * 3 * sizeof(int));
	d->guess_units = malloc(NE * 3 * sizeof(int));
	if (!d->logits_h || !d->bias_h || !d->probs || !d->sel || !d->cw || !d->choice || !d->rows || !d->scales ||
	    !d->distinct || !d->guess || !d->grank || !d->plist || !d->head || !d->guess_units)
		return sl_errf(err, ENOMEM, "out of memory");
	return 0;
}

/* ---- routing (host) ---- */

/*
 * llama.cpp's build_moe_ffn: probs = softmax or sigmoid(logits); sel = probs + bias; with groups,
 * a group scores the sum of its top two sel and only the top n_group_used groups stay; top-k of
 * sel (ties: lower index); weights = probs of the chosen (no bias), normalized, scaled.
 * Returns the number chosen (< k only when the groups leave fewer experts).
 */
static int route(const struct ds2 *d, const float *logits, const float *bias, int k, int32_t *out, float *w)
{
	const int NE = (int)d->n_expert;
	float *p = d->probs, *sel = d->sel;
	if (d->gating == 2) {
		for (int e = 0; e < NE; e++)
			p[e] = 1.0f / (1.0f + expf(-logits[e]));
	} else {
		float mx = -INFINITY, sum = 0;
		for (int e = 0; e < NE; e++)
			mx = logits[e] > mx ? logits[e] : mx;
		for (int e = 0; e < NE; e++)
			sum += p[e] = expf(logits[e] - mx);
		for (int e = 0; e < NE; e++)
			p[e] /= sum;
	}
	for (int e = 0; e < NE; e++)
		sel[e] = p[e] + (bias ? bias[e] : 0.0f);
	if (d->n_group > 1 && d->n_group_used < d->n_group) {
		const int G = (int)d->n_group, gs = NE / G;
		float gscore[256 + 1];
		bool keep[256 + 1];
		float *gsc = G <= 256 ? gscore : NULL;
		if (gsc) {
			for (int g = 0; g < G; g++) {
				float a = -INFINITY, b = -INFINITY;
				for (int e = g * gs; e < (g + 1) * gs; e++) {
					if (sel[e] > a) {
						b = a;
						a = sel[e];
					} else if (sel[e] > b) {
						b = sel[e];
					}
				}
				gsc[g] = a + b;
				keep[g] = false;
			}
			for (uint32_t i = 0; i < d->n_group_used; i++) {
				int best = -1;
				for (int g = 0; g < G; g++)
					if (!keep[g] && (best < 0 || gsc[g] > gsc[best]))
						best = g;
				keep[best] = true;
			}
			for (int e = 0; e < NE; e++)
				if (!keep[e / gs])
					sel[e] = -INFINITY;
		}
	}
	int n = 0;
	float sum = 0;
	for (; n < k && n < NE; n++) {
		int best = -1;
		for (int e = 0; e < NE; e++)
			if (sel[e] > -INFINITY && (best < 0 || sel[e] > sel[best]))
				best = e;
		if (best < 0)
			break;
		out[n] = best;
		w[n] = p[best];
		sum += p[best];
		sel[best] = -INFINITY;
	}
	for (int i = 0; i < n; i++) {
		if (d->norm_w)
			w[i] /= sum > 6.103515625e-5f ? sum : 6.103515625e-5f;
		if (d->w_scale != 0)
			w[i] *= d->w_scale;
	}
	return n;
}

/* ---- forward ---- */

struct fwd {
	struct sluice_ctx *c;
	struct sluice_model *m;
	struct sl_backend *be;
	struct ds2 *d;
	int rc;
	int cursor;
	int layer;
};

/* The future as the store is told it: the chosen experts not yet used, then the dense units from
 * the cursor on, with the pre-gating guess at its layer's FFN. */
static void prefetch(struct fwd *f)
{
	struct ds2 *d = f->d;
	const struct sluice_model *m = f->m;
	int n = 0;
	for (int i = d->head_pos; i < d->n_head; i++)
		d->plist[n++] = d->head[i];
	int ins = d->guess_layer >= 0 ? d->L[d->guess_layer].ffn_pos - f->cursor : -1;
	if (ins >= 0 && ins < m->n_order && d->n_guess_units == 0)
		ins = -1;
	for (int i = 0; i < m->n_order && n < d->plist_cap; i++) {
		if (i == ins)
			for (int g = 0; g < d->n_guess_units && n < d->plist_cap; g++)
				d->plist[n++] = d->guess_units[g];
		d->plist[n++] = m->order[f->cursor + i];
	}
	sl_weights_prefetch(m->weights, d->plist, n);
}

static const void *acq(struct fwd *f, const struct sl_tensor_ref *r)
{
	const void *p = NULL;
	if (f->rc)
		return NULL;
	if (f->cursor < f->m->n_order && r->id == f->m->order[f->cursor]) {
		prefetch(f);
		f->cursor++;
	}
	f->rc = sl_weights_acquire(f->m->weights, r->id, &p, &f->c->err);
	return f->rc ? NULL : p;
}

static void rel(struct fwd *f, const struct sl_tensor_ref *r)
{
	int rc = sl_weights_release(f->m->weights, r->id, &f->c->err);
	if (rc && !f->rc)
		f->rc = rc;
}

static void op(struct fwd *f, int rc, const char *what)
{
	if (rc && !f->rc)
		f->rc = sl_errf(&f->c->err, -rc, "%s on backend %s: %s", what, f->be->ops->name, f->be->err.msg);
}

/* y = W x over n rows; expert: the routed expert W is a slice of (the matmul observer's), else -1. */
static void mm_e(struct fwd *f, float *y, const struct sl_tensor_ref *w, int expert, const float *x, int n)
{
	if (f->c->obs && !f->rc)
		f->rc = sl_observe_matmul(f->c, w, expert, x, n);
	const void *p = acq(f, w);
	if (!p)
		return;
	SL_TRACE_B("compute", "matmul", "layer,rows,cols,$type", f->layer, w->rows, w->cols, sl_type_name(w->type));
	op(f, f->be->ops->matmul(f->be, y, p, w->type, w->rows, w->cols, x, n), "matmul");
	SL_TRACE_E();
	rel(f, w);
}

static void mm(struct fwd *f, float *y, const struct sl_tensor_ref *w, const float *x, int n)
{
	mm_e(f, y, w, -1, x, n);
}

static void norm(struct fwd *f, float *y, const float *x, const struct sl_tensor_ref *w, int n)
{
	const void *p = acq(f, w);
	if (!p)
		return;
	op(f, f->be->ops->rmsnorm(f->be, y, x, p, w->cols, n, f->m->hp.rms_eps), "rmsnorm");
	rel(f, w);
}

static void add(struct fwd *f, float *y, const float *x, int64_t n)
{
	if (!f->rc)
		op(f, f->be->ops->add(f->be, y, x, n, n), "add");
}

/* Wait for what the compute queue has so far (the router's downloads), not for the copies queued
 * after it: the reads of the weights ahead go on meanwhile. */
static void compute_sync(struct fwd *f)
{
	sl_fence fc = 0;
	if (f->rc)
		return;
	op(f, f->be->ops->fence(f->be, SL_Q_COMPUTE, &fc), "fence");
	if (!f->rc)
		op(f, f->be->ops->fence_sync(f->be, fc), "sync");
}

/* The router of layer l on xb rows [0, n): logits (and the bias) on the host. */
static void router(struct fwd *f, const struct ds2_layer *L, const float *xb, int n, bool *has_bias)
{
	struct ds2 *d = f->d;
	struct sl_backend *be = f->be;
	float *lg = f->c->hb;
	mm(f, lg, &L->router, xb, n);
	op(f, f->rc ? 0 : be->ops->download(be, d->logits_h, lg, (size_t)n * d->n_expert * sizeof(float)), "download");
	*has_bias = L->probs_b.id >= 0;
	if (*has_bias) {
		const void *p = acq(f, &L->probs_b);
		if (!p)
			return;
		op(f, be->ops->download(be, d->bias_h, p, d->n_expert * sizeof(float)), "download");
		compute_sync(f); /* before the release: the download reads it */
		rel(f, &L->probs_b);
	} else {
		compute_sync(f);
	}
}

static void pregate(struct fwd *f, uint32_t l_next, int n)
{
	struct ds2 *d = f->d;
	struct sluice_ctx *c = f->c;
	const struct ds2_layer *L = &d->L[l_next];
	const int W = SL_MIN((int)d->n_expert, f->m->pregate > 0 ? f->m->pregate : (int)d->n_used);
	bool has_bias;
	norm(f, c->xb, c->x, &L->ffn_norm, n);
	router(f, L, c->xb, n, &has_bias);
	if (f->rc)
		return;
	int ng = 0;
	for (int t = 0; t < n; t++) {
		int k = route(d, d->logits_h + (size_t)t * d->n_expert, has_bias ? d->bias_h : NULL, W, d->choice, d->cw);
		for (int i = 0; i < k; i++) { /* the union; each guess's rank is its best over the tokens */
			int j = 0;
			while (j < ng && d->guess[j] != d->choice[i])
				j++;
			if (j == ng) {
				d->guess[ng] = d->choice[i];
				d->grank[ng++] = i;
			} else if (i < d->grank[j]) {
				d->grank[j] = i;
			}
		}
	}
	/* the store learns from every guess; only the admitted ones are read ahead */
	sl_weights_guessed_ranked(f->m->weights, (int)l_next, d->guess, d->grank, ng);
	d->guess_layer = (int)l_next;
	d->n_guess_units = 0;
	for (int j = 0; j < ng; j++)
		if (sl_weights_guess_admitted(f->m->weights, (int)l_next, d->guess[j]))
			for (int u = 0; u < 3; u++)
				d->guess_units[d->n_guess_units++] = L->exp_units[d->guess[j] * 3 + u];
	prefetch(f);
}

static void moe(struct fwd *f, uint32_t l, int n)
{
	struct ds2 *d = f->d;
	struct sluice_ctx *c = f->c;
	struct sl_backend *be = f->be;
	const struct ds2_layer *L = &d->L[l];
	const int E = (int)f->m->hp.n_embd, K = (int)d->n_used;
	const int64_t Fs = (int64_t)d->n_ff_exp * d->n_shared, Fe = d->n_ff_exp;
	bool has_bias;
	router(f, L, c->xb, n, &has_bias);
	if (f->rc)
		return;
	for (int t = 0; t < n; t++) {
		int k = route(d, d->logits_h + (size_t)t * d->n_expert, has_bias ? d->bias_h : NULL, K,
			      d->choice + (size_t)t * K, d->cw + (size_t)t * K);
		for (int i = k; i < K; i++) { /* groups left fewer than k: cannot happen with the load's checks */
			d->choice[(size_t)t * K + i] = d->choice[(size_t)t * K];
			d->cw[(size_t)t * K + i] = 0;
		}
	}
	if ((f->rc = sl_weights_routed(f->m->weights, (int)l, d->choice, n, K, c->moe_tok, &c->err)))
		return;
	if (d->guess_layer == (int)l) {
		d->guess_layer = -1;
		d->n_guess_units = 0;
	}
	/* the distinct experts, in order of first use; their units lead the prefetch list */
	int nd = 0;
	for (int i = 0; i < n * K; i++) {
		bool seen = false;
		for (int j = 0; j < nd && !seen; j++)
			seen = d->distinct[j] == d->choice[i];
		if (!seen)
			d->distinct[nd++] = d->choice[i];
	}
	d->n_head = d->head_pos = 0;
	for (int j = 0; j < nd; j++)
		for (int u = 0; u < 3; u++)
			d->head[d->n_head++] = L->exp_units[d->distinct[j] * 3 + u];
	prefetch(f);

	/* shared expert, into xb2 (the accumulator) while the routed experts are read */
	mm(f, c->hb, &L->sh_gate, c->xb, n);
	mm(f, c->hb2, &L->sh_up, c->xb, n);
	op(f, f->rc ? 0 : be->ops->silu_mul(be, c->hb, c->hb2, (int64_t)n * Fs), "silu_mul");
	mm(f, c->xb2, &L->sh_down, c->hb, n);

	for (int j = 0; j < nd && !f->rc; j++) {
		const int e = d->distinct[j];
		int m = 0;
		for (int t = 0; t < n; t++)
			for (int i = 0; i < K; i++)
				if (d->choice[(size_t)t * K + i] == e && d->cw[(size_t)t * K + i] != 0) {
					d->rows[m] = t;
					d->scales[m++] = d->cw[(size_t)t * K + i];
				}
		struct sl_tensor_ref r[3];
		for (int u = 0; u < 3; u++) {
			r[u] = L->exp[u];
			r[u].id = L->exp_units[e * 3 + u];
		}
		if (m) {
			op(f, be->ops->get_rows(be, c->xe, c->xb, SL_TYPE_F32, E, d->rows, m), "expert gather");
			mm_e(f, c->hb, &r[0], e, c->xe, m);
			mm_e(f, c->hb2, &r[1], e, c->xe, m);
			op(f, f->rc ? 0 : be->ops->silu_mul(be, c->hb, c->hb2, (int64_t)m * Fe), "silu_mul");
			mm_e(f, c->ye, &r[2], e, c->hb, m);
			op(f, f->rc ? 0 : be->ops->add_rows(be, c->xb2, c->ye, d->rows, d->scales, E, m), "expert sum");
		}
		d->head_pos += 3;
	}
	add(f, c->x, c->xb2, (int64_t)n * E);
	d->n_head = d->head_pos = 0;
}

static void attention(struct fwd *f, uint32_t l, int n, const struct sl_seg *segs, int n_segs)
{
	struct ds2 *d = f->d;
	struct sluice_ctx *c = f->c;
	struct sl_backend *be = f->be;
	const struct sl_hparams *hp = &f->m->hp;
	const struct ds2_layer *L = &d->L[l];
	const int KR = (int)hp->kv_k_row, QD = (int)hp->q_dim, OD = (int)(hp->n_head * d->d_v);
	const bool direct = n_segs == 1;
	int32_t rows[SL_N_BATCH];
	for (int i = 0; i < n; i++)
		rows[i] = i;
	norm(f, c->xb, c->x, &L->attn_norm, n);
	if (d->q_lora) {
		mm(f, c->hb2, &L->wq_a, c->xb, n);
		norm(f, c->hb2, c->hb2, &L->q_a_norm, n);
		mm(f, c->q, &L->wq_b, c->hb2, n);
	} else {
		mm(f, c->q, &L->wq, c->xb, n);
	}
	float *kv_new = direct ? sl_kv_seq(c, c->k_cache[l], segs[0].seq) + (size_t)segs[0].pos0 * KR : c->k_tmp;
	mm(f, kv_new, &L->wkv_a, c->xb, n);
	const struct sl_tensor_ref *rk = d->legacy ? &L->wkv_b : &L->wk_b, *rv = d->legacy ? &L->wkv_b : &L->wv_b;
	const float *pn = acq(f, &L->kv_a_norm);
	const void *pk = pn ? acq(f, rk) : NULL;
	const void *pv = pk ? (d->legacy ? pk : acq(f, rv)) : NULL;
	const struct sl_mla_shape s = { (int)hp->n_head, (int)d->d_nope, (int)d->d_rope, (int)d->d_v, (int)d->kv_lora,
					d->legacy, hp->rope_freq_base, d->kq_scale, d->ff_dev };
	for (int i = 0; i < n_segs && pv && !f->rc; i++) {
		const struct sl_seg *g = &segs[i];
		float *cache = sl_kv_seq(c, c->k_cache[l], g->seq), *at = cache + (size_t)g->pos0 * KR;
		if (!direct)
			op(f, be->ops->get_rows(be, at, c->k_tmp, SL_TYPE_F32, KR, rows + g->row0, g->n), "kv copy");
		op(f, be->ops->mla_kv(be, at, pn, (int)d->kv_lora, (int)d->d_rope, (int)g->pos0, g->n, hp->rms_eps,
				      hp->rope_freq_base, d->ff_dev), "mla_kv");
		SL_TRACE_B("compute", "attention", "layer,heads,kv_len,tokens", l, hp->n_head, g->pos0 + g->n, g->n);
		op(f, be->ops->mla_attention(be, c->xb2 + (size_t)g->row0 * OD, c->q + (size_t)g->row0 * QD, cache, pk,
					     rk->type, pv, rv->type, &s, (int)g->pos0, g->n), "mla_attention");
		SL_TRACE_E();
	}
	if (pv && !d->legacy)
		rel(f, rv);
	if (pk)
		rel(f, rk);
	if (pn)
		rel(f, &L->kv_a_norm);
	mm(f, c->xb, &L->wo, c->xb2, n);
	add(f, c->x, c->xb, (int64_t)n * hp->n_embd);
}

/* The output head's (output.c) way to this pass's weights. */
static const void *use_acq(void *f, const struct sl_tensor_ref *r)
{
	return acq(f, r);
}

static void use_rel(void *f, const struct sl_tensor_ref *r)
{
	rel(f, r);
}

int sl_deepseek2_forward(struct sluice_ctx *c, const int32_t *tokens, int n, const struct sl_seg *segs, int n_segs)
{
	struct sluice_model *m = c->m;
	const struct sl_hparams *hp = &m->hp;
	struct sl_backend *be = m->be;
	struct ds2 *d = D(m);
	struct fwd f = { c, m, be, d, 0, 0, -1 };
	const int E = (int)hp->n_embd, F = (int)hp->n_ff;
	if (n <= 0 || n > SL_N_BATCH || n_segs <= 0 || n_segs > n)
		return sl_errf(&c->err, EINVAL, "forward: bad chunk (%d tokens in %d segments)", n, n_segs);
	d->n_head = d->head_pos = 0;
	d->guess_layer = -1;
	d->n_guess_units = 0;

	const void *emb = acq(&f, &m->tok_embd);
	if (!emb)
		return f.rc;
	op(&f, be->ops->get_rows(be, c->x, emb, m->tok_embd.type, E, tokens, n), "get_rows");
	rel(&f, &m->tok_embd);

	for (uint32_t l = 0; l < hp->n_layer && !f.rc; l++) {
		const struct ds2_layer *L = &d->L[l];
		f.cursor = m->layer_start[l];
		f.layer = (int)l;
		attention(&f, l, n, segs, n_segs);
		norm(&f, c->xb, c->x, &L->ffn_norm, n);
		if (L->moe) {
			moe(&f, l, n);
		} else {
			mm(&f, c->hb, &L->w_gate, c->xb, n);
			mm(&f, c->hb2, &L->w_up, c->xb, n);
			op(&f, f.rc ? 0 : be->ops->silu_mul(be, c->hb, c->hb2, (int64_t)n * F), "silu_mul");
			mm(&f, c->xb, &L->w_down, c->hb, n);
			add(&f, c->x, c->xb, (int64_t)n * E);
		}
		if (m->pregate != -1 && l + 1 < hp->n_layer && d->L[l + 1].moe && !f.rc)
			pregate(&f, l + 1, n);
	}
	d->guess_layer = -1;
	d->n_guess_units = 0;
	if (f.rc)
		return f.rc;
	c->moe_tok += (uint64_t)n;

	f.layer = -1;
	struct sl_weight_use use = { use_acq, use_rel, &f, &f.rc, false };
	return sl_model_output(c, segs, n_segs, &use);
}
