/* SPDX-License-Identifier: MIT */
/*
 * runtime/model/llama.c — the llama architecture (and qwen2, which differs only
 * in q/k/v biases and NeoX-style RoPE): hyperparameters, tensor registration,
 * and the forward pass.
 *
 * Per layer:  x += Wo · attn(rope(Wq·n(x)), rope(Wk·n(x)), Wv·n(x))
 *             x += Wdown · (silu(Wgate·n(x)) * Wup·n(x))        n = RMSNorm
 */
#include "model/model.h"
#include "model/observe.h"
#include "pipeline.h"
#include "trace.h"
#include "quant/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int get_hp_u32(struct sluice_model *m, const char *suffix, uint32_t *out, bool required, struct sl_err *err)
{
	char key[128];
	snprintf(key, sizeof(key), "%s.%s", m->arch, suffix);
	int rc = sl_gguf_get_u32(m->gguf, key, out, err);
	if (rc == -ENOENT && required)
		return sl_errf(err, EINVAL, "%s: missing metadata '%s'", m->gguf->path, key);
	if (rc == -ENOENT)
		return 0;
	return rc;
}

static int get_hp_f32(struct sluice_model *m, const char *suffix, float *out, struct sl_err *err)
{
	char key[128];
	snprintf(key, sizeof(key), "%s.%s", m->arch, suffix);
	int rc = sl_gguf_get_f32(m->gguf, key, out, err);
	return rc == -ENOENT ? 0 : rc;
}

/* Find a tensor, check its shape, register it with the weight store. */
static int bind(struct sluice_model *m, struct sl_tensor_ref *ref, const char *name, int layer, int64_t cols,
		int64_t rows, bool required, struct sl_err *err)
{
	const struct gguf_tensor *t = sl_gguf_find_tensor(m->gguf, name);
	ref->id = -1;
	if (!t) {
		if (required)
			return sl_errf(err, EINVAL, "%s: missing tensor '%s'", m->gguf->path, name);
		return 0;
	}
	int64_t want_rows = rows ? rows : 1;
	/* Exact shapes: a matrix is 2-D and a vector 1-D, whatever the element count. */
	const uint32_t want_dims = rows ? 2 : 1;
	if (t->n_dims != want_dims || t->ne[0] != cols || t->ne[1] != want_rows) {
		char got[96];
		int k = snprintf(got, sizeof(got), "[%lld", (long long)t->ne[0]);
		for (uint32_t d = 1; d < t->n_dims && d < GGUF_MAX_DIMS && k > 0 && (size_t)k < sizeof(got); d++)
			k += snprintf(got + k, sizeof(got) - (size_t)k, ", %lld", (long long)t->ne[d]);
		if (k > 0 && (size_t)k < sizeof(got))
			snprintf(got + k, sizeof(got) - (size_t)k, "]");
		if (rows)
			return sl_errf(err, EINVAL, "%s: tensor '%s' has shape %s (%u-D), expected [%lld, %lld] (2-D)",
				       m->gguf->path, name, got, t->n_dims, (long long)cols, (long long)want_rows);
		return sl_errf(err, EINVAL, "%s: tensor '%s' has shape %s (%u-D), expected [%lld] (1-D)", m->gguf->path,
			       name, got, t->n_dims, (long long)cols);
	}
	/* Vectors (norms, biases) are used as float arrays directly. */
	if (rows == 0 && t->type != SL_TYPE_F32)
		return sl_errf(err, EINVAL, "%s: tensor '%s' is %s; 1-D tensors must be f32", m->gguf->path, name,
			       sl_type_name(t->type));
	int id = sl_weights_add(m->weights, t, layer, -1, 0, 0, err);
	if (id < 0)
		return id;
	ref->id = id;
	ref->type = t->type;
	ref->cols = cols;
	ref->rows = want_rows;
	ref->name = t->name.s;
	m->n_params += (uint64_t)sl_gguf_tensor_nelements(t);
	return 0;
}

/* The order the forward pass uses a layer's units in (what prefetch is told). */
static int layer_units(const struct sl_layer *L, int *ids)
{
	const struct sl_tensor_ref *seq[] = {
		&L->attn_norm, &L->wq, &L->wk, &L->wv, &L->bq, &L->bk, &L->bv, &L->wo,
		&L->ffn_norm, &L->w_gate, &L->w_up, &L->w_down,
	};
	int n = 0;
	for (size_t i = 0; i < SL_ARRAY_SIZE(seq); i++)
		if (seq[i]->id >= 0)
			ids[n++] = seq[i]->id;
	return n;
}

static int build_order(struct sluice_model *m, struct sl_err *err)
{
	const uint32_t L = m->hp.n_layer;
	m->order = malloc(2 * (size_t)L * 12 * sizeof(int));
	m->layer_start = malloc(((size_t)L + 1) * sizeof(int));
	if (!m->order || !m->layer_start)
		return sl_errf(err, ENOMEM, "out of memory");
	int n = 0;
	for (uint32_t l = 0; l < L; l++) {
		m->layer_start[l] = n;
		n += layer_units(&m->layers[l], m->order + n);
	}
	m->layer_start[L] = n;
	memcpy(m->order + n, m->order, (size_t)n * sizeof(int));
	m->n_order = n;
	return 0;
}

/*
 * Rope scaling, as llama.cpp reads it: a rope_freqs tensor [n_rot/2] (Llama-3.1's "llama3"
 * scaling, which the converter turns into these factors) divides each pair's angle by its
 * factor.  rope.scaling.type "none" (or absent) needs nothing more; "llama3" needs the tensor;
 * the others (linear, yarn, longrope) change the angles in ways not implemented here and are
 * refused rather than run wrong.
 */
static int rope_scaling(struct sluice_model *m, struct sl_err *err)
{
	char key[96];
	const char *type = NULL;
	snprintf(key, sizeof key, "%s.rope.scaling.type", m->arch);
	if (sl_gguf_find_kv(m->gguf, key) && sl_gguf_get_str(m->gguf, key, &type, err))
		return -EINVAL;
	int rc = bind(m, &m->rope_freqs, "rope_freqs.weight", -1, m->hp.n_rot / 2, 0, false, err);
	if (rc)
		return rc;
	if (type && strcmp(type, "none") && strcmp(type, "llama3"))
		return sl_errf(err, ENOTSUP, "%s: rope scaling '%s' (%s) is not supported (none, llama3)", m->gguf->path,
			       type, key);
	if (type && !strcmp(type, "llama3") && m->rope_freqs.id < 0)
		return sl_errf(err, EINVAL, "%s: %s is llama3 but the file has no rope_freqs tensor", m->gguf->path, key);
	if (m->rope_freqs.id >= 0 && !m->be->ops->rope_ff)
		return sl_errf(err, ENOTSUP, "%s: the %s backend cannot apply rope_freqs", m->gguf->path, m->be->ops->name);
	return 0;
}

const char sl_arch_names[] = "llama, qwen2, deepseek2";

const struct sl_arch *sl_arch_find(const char *name)
{
	static const struct sl_arch arches[] = {
		{ "llama", sl_llama_load, sl_llama_forward, NULL, NULL },
		{ "qwen2", sl_llama_load, sl_llama_forward, NULL, NULL },
		{ "deepseek2", sl_deepseek2_load, sl_deepseek2_forward, sl_deepseek2_free, sl_deepseek2_missing_op },
	};
	for (size_t i = 0; name && i < SL_ARRAY_SIZE(arches); i++)
		if (!strcmp(arches[i].name, name))
			return &arches[i];
	return NULL;
}

int sl_llama_load(struct sluice_model *m, struct sl_err *err)
{
	struct sl_hparams *hp = &m->hp;
	int rc;
	if (!strcmp(m->arch, "qwen2")) {
		hp->rope_neox = true;
		hp->has_qkv_bias = true;
	}
	if ((rc = get_hp_u32(m, "embedding_length", &hp->n_embd, true, err)) ||
	    (rc = get_hp_u32(m, "block_count", &hp->n_layer, true, err)) ||
	    (rc = get_hp_u32(m, "feed_forward_length", &hp->n_ff, true, err)) ||
	    (rc = get_hp_u32(m, "attention.head_count", &hp->n_head, true, err)))
		return rc;
	hp->n_head_kv = hp->n_head;
	hp->n_ctx_train = 2048;
	hp->rope_freq_base = 10000.0f;
	hp->rms_eps = 1e-5f;
	if ((rc = get_hp_u32(m, "attention.head_count_kv", &hp->n_head_kv, false, err)) ||
	    (rc = get_hp_u32(m, "context_length", &hp->n_ctx_train, false, err)) ||
	    (rc = get_hp_f32(m, "rope.freq_base", &hp->rope_freq_base, err)) ||
	    (rc = get_hp_f32(m, "attention.layer_norm_rms_epsilon", &hp->rms_eps, err)))
		return rc;
	if (!hp->n_embd || !hp->n_layer || !hp->n_head || !hp->n_ff || !hp->n_head_kv || hp->n_embd % hp->n_head ||
	    hp->n_head % hp->n_head_kv || hp->n_layer > 4096)
		return sl_errf(err, EINVAL, "%s: inconsistent hyperparameters (n_embd %u, n_head %u, n_head_kv %u, n_ff %u, n_layer %u)",
			       m->gguf->path, hp->n_embd, hp->n_head, hp->n_head_kv, hp->n_ff, hp->n_layer);
	hp->head_dim = hp->n_embd / hp->n_head;
	hp->n_rot = hp->head_dim;
	hp->kv_k_row = hp->kv_v_row = hp->n_head_kv * hp->head_dim;
	hp->q_dim = hp->att_dim = hp->n_embd;
	hp->ff_dim = hp->n_ff;
	if ((rc = get_hp_u32(m, "rope.dimension_count", &hp->n_rot, false, err)))
		return rc;
	if (hp->n_rot > hp->head_dim || hp->n_rot % 2)
		return sl_errf(err, EINVAL, "%s: rope.dimension_count %u does not fit head size %u", m->gguf->path,
			       hp->n_rot, hp->head_dim);
	if (!(hp->rope_freq_base > 0) || !(hp->rms_eps >= 0))
		return sl_errf(err, EINVAL, "%s: bad rope.freq_base or rms epsilon", m->gguf->path);
	if (hp->n_ctx_train == 0)
		return sl_errf(err, EINVAL, "%s: %s.context_length is 0 (the model must say how long a context it takes)",
			       m->gguf->path, m->arch);
	/* Layers the metadata does not count would be skipped without a word: refuse them. */
	for (uint64_t i = 0; i < m->gguf->n_tensors; i++) {
		const char *tn = m->gguf->tensors[i].name.s, *d = tn + 4;
		uint64_t blk = 0;
		if (strncmp(tn, "blk.", 4) || *d < '0' || *d > '9')
			continue;
		for (; *d >= '0' && *d <= '9'; d++) /* saturating: any huge number is past block_count */
			blk = blk > UINT32_MAX ? blk : blk * 10 + (uint64_t)(*d - '0');
		if (*d == '.' && blk >= hp->n_layer)
			return sl_errf(err, EINVAL, "%s: tensor '%s' belongs to layer %llu but %s.block_count is %u",
				       m->gguf->path, tn, (unsigned long long)blk, m->arch, hp->n_layer);
	}

	const struct gguf_tensor *te = sl_gguf_find_tensor(m->gguf, "token_embd.weight");
	if (!te)
		return sl_errf(err, EINVAL, "%s: missing tensor 'token_embd.weight'", m->gguf->path);
	if (te->n_dims != 2)
		return sl_errf(err, EINVAL, "%s: tensor 'token_embd.weight' is %u-D, expected 2-D [n_embd, n_vocab]",
			       m->gguf->path, te->n_dims);
	hp->n_vocab = (uint32_t)te->ne[1];
	if (hp->n_vocab != sl_vocab_size(m->vocab))
		return sl_errf(err, EINVAL, "%s: token_embd has %u rows but the vocabulary has %u tokens", m->gguf->path,
			       hp->n_vocab, sl_vocab_size(m->vocab));

	const int64_t E = hp->n_embd, KV = (int64_t)hp->n_head_kv * hp->head_dim, F = hp->n_ff, V = hp->n_vocab;
	if ((rc = bind(m, &m->tok_embd, "token_embd.weight", -1, E, V, true, err)) ||
	    (rc = bind(m, &m->output_norm, "output_norm.weight", -1, E, 0, true, err)) ||
	    (rc = bind(m, &m->output, "output.weight", -1, E, V, false, err)))
		return rc;
	if (m->output.id < 0) /* tied classifier */
		m->output = m->tok_embd;
	if ((rc = rope_scaling(m, err)))
		return rc;

	m->layers = calloc(hp->n_layer, sizeof(*m->layers));
	if (!m->layers)
		return sl_errf(err, ENOMEM, "out of memory");
	for (uint32_t l = 0; l < hp->n_layer; l++) {
		struct sl_layer *L = &m->layers[l];
		char n[12][96];
		static const char *const sfx[12] = {
			"attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight",
			"ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight",
			"attn_q.bias", "attn_k.bias", "attn_v.bias",
		};
		for (int i = 0; i < 12; i++)
			snprintf(n[i], sizeof(n[i]), "blk.%u.%s", l, sfx[i]);
		const int il = (int)l;
		if ((rc = bind(m, &L->attn_norm, n[0], il, E, 0, true, err)) ||
		    (rc = bind(m, &L->wq, n[1], il, E, E, true, err)) ||
		    (rc = bind(m, &L->wk, n[2], il, E, KV, true, err)) ||
		    (rc = bind(m, &L->wv, n[3], il, E, KV, true, err)) ||
		    (rc = bind(m, &L->wo, n[4], il, E, E, true, err)) ||
		    (rc = bind(m, &L->ffn_norm, n[5], il, E, 0, true, err)) ||
		    (rc = bind(m, &L->w_gate, n[6], il, E, F, true, err)) ||
		    (rc = bind(m, &L->w_up, n[7], il, E, F, true, err)) ||
		    (rc = bind(m, &L->w_down, n[8], il, F, E, true, err)) ||
		    (rc = bind(m, &L->bq, n[9], il, E, 0, hp->has_qkv_bias, err)) ||
		    (rc = bind(m, &L->bk, n[10], il, KV, 0, hp->has_qkv_bias, err)) ||
		    (rc = bind(m, &L->bv, n[11], il, KV, 0, hp->has_qkv_bias, err)))
			return rc;
	}
	return build_order(m, err);
}

/* ---- forward ---- */

struct fwd {
	struct sluice_ctx *c;
	struct sluice_model *m;
	struct sl_backend *be;
	int rc;
	int cursor; /* position in m->order of the next per-layer unit the pass uses */
	int layer;  /* for the trace: -1 outside the layers */
};

static const void *acq(struct fwd *f, const struct sl_tensor_ref *r)
{
	const void *p = NULL;
	if (f->rc)
		return NULL;
	if (r->id == f->m->order[f->cursor]) {
		/* The future from this unit on: the rest of this layer, every later one, and, wrapping
		 * into the next token, the units already used.  The store reads ahead as far as its
		 * budget allows and evicts what is needed farthest away. */
		sl_weights_prefetch(f->m->weights, f->m->order + f->cursor, f->m->n_order);
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

/* A backend op failed: its message is in be->err. */
static void op(struct fwd *f, int rc, const char *what)
{
	if (rc && !f->rc)
		f->rc = sl_errf(&f->c->err, -rc, "%s on backend %s: %s", what, f->be->ops->name, f->be->err.msg);
}

static void mm(struct fwd *f, float *y, const struct sl_tensor_ref *w, const float *x, int n)
{
	if (f->c->obs && !f->rc)
		f->rc = sl_observe_matmul(f->c, w, -1, x, n);
	const void *p = acq(f, w);
	if (!p)
		return;
	SL_TRACE_B("compute", "matmul", "layer,rows,cols,$type", f->layer, w->rows, w->cols, sl_type_name(w->type));
	op(f, f->be->ops->matmul(f->be, y, p, w->type, w->rows, w->cols, x, n), "matmul");
	SL_TRACE_E();
	rel(f, w);
}

static void norm(struct fwd *f, float *y, const float *x, const struct sl_tensor_ref *w, int n)
{
	const void *p = acq(f, w);
	if (!p)
		return;
	SL_TRACE_B("compute", "rmsnorm", "layer,cols,tokens,$type", f->layer, w->cols, n, sl_type_name(w->type));
	op(f, f->be->ops->rmsnorm(f->be, y, x, p, w->cols, n, f->m->hp.rms_eps), "rmsnorm");
	SL_TRACE_E();
	rel(f, w);
}

static void bias(struct fwd *f, float *y, const struct sl_tensor_ref *b, int n)
{
	if (b->id < 0)
		return;
	const float *p = acq(f, b);
	if (!p)
		return;
	SL_TRACE_B("compute", "bias add", "layer,cols,tokens,$type", f->layer, b->cols, n, sl_type_name(b->type));
	op(f, f->be->ops->add(f->be, y, p, (int64_t)n * b->cols, b->cols), "bias add");
	SL_TRACE_E();
	rel(f, b);
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

int sl_llama_forward(struct sluice_ctx *c, const int32_t *tokens, int n, const struct sl_seg *segs, int n_segs)
{
	struct sluice_model *m = c->m;
	const struct sl_hparams *hp = &m->hp;
	struct sl_backend *be = m->be;
	struct fwd f = { c, m, be, 0, 0, -1 };
	const int E = (int)hp->n_embd, KV = (int)(hp->n_head_kv * hp->head_dim), F = (int)hp->n_ff;
	const float scale = 1.0f / sqrtf((float)hp->head_dim);
	if (n <= 0 || n > SL_N_BATCH || n_segs <= 0 || n_segs > n)
		return sl_errf(&c->err, EINVAL, "forward: bad chunk (%d tokens in %d segments)", n, n_segs);
	/* One sequence writes K and V straight into its cache; several go through k_tmp and v_tmp,
	 * and each segment's rows are copied into its own sequence's cache (get_rows of f32 rows is
	 * the backend's device-to-device row copy). */
	const bool direct = n_segs == 1;
	int32_t rows[SL_N_BATCH];
	for (int i = 0; i < n; i++)
		rows[i] = i;

	const void *emb = acq(&f, &m->tok_embd);
	if (!emb)
		return f.rc;
	SL_TRACE_B("compute", "get_rows", "layer,cols,tokens,$type", -1, E, n, sl_type_name(m->tok_embd.type));
	op(&f, be->ops->get_rows(be, c->x, emb, m->tok_embd.type, E, tokens, n), "get_rows");
	SL_TRACE_E();
	rel(&f, &m->tok_embd);
	/* The rope factors are a small resident weight, held for the whole pass. */
	const float *ff = m->rope_freqs.id >= 0 ? acq(&f, &m->rope_freqs) : NULL;

	for (uint32_t l = 0; l < hp->n_layer && !f.rc; l++) {
		const struct sl_layer *L = &m->layers[l];
		/* Several devices: layer l may begin the next pipeline stage, whose device, buffers and
		 * weights are used from here on (the rope factors are that device's copy). */
		if (sl_pipe_starts(m, l)) {
			const bool had_ff = ff;
			if (ff)
				rel(&f, &m->rope_freqs);
			ff = NULL;
			if (f.rc || (f.rc = sl_pipe_cross(c, l, n)))
				break;
			be = f.be = m->be;
			if (had_ff && !(ff = acq(&f, &m->rope_freqs)))
				break;
		}
		float *k_new = c->k_tmp, *v_new = c->v_tmp;
		if (direct) {
			k_new = sl_kv_seq(c, c->k_cache[l], segs[0].seq) + (size_t)segs[0].pos0 * KV;
			v_new = sl_kv_seq(c, c->v_cache[l], segs[0].seq) + (size_t)segs[0].pos0 * KV;
		}
		f.cursor = m->layer_start[l];
		f.layer = (int)l;

		norm(&f, c->xb, c->x, &L->attn_norm, n);
		mm(&f, c->q, &L->wq, c->xb, n);
		mm(&f, k_new, &L->wk, c->xb, n);
		mm(&f, v_new, &L->wv, c->xb, n);
		bias(&f, c->q, &L->bq, n);
		bias(&f, k_new, &L->bk, n);
		bias(&f, v_new, &L->bv, n);
		if (f.rc)
			break;
		for (int s = 0; s < n_segs; s++) {
			const struct sl_seg *g = &segs[s];
			float *kc = sl_kv_seq(c, c->k_cache[l], g->seq), *vc = sl_kv_seq(c, c->v_cache[l], g->seq);
			float *qs = c->q + (size_t)g->row0 * E, *ks = k_new + (size_t)g->row0 * KV;
			const int pos0 = (int)g->pos0;
			SL_TRACE_B("compute", "rope", "layer,heads,head_dim,tokens", l, hp->n_head + hp->n_head_kv,
				   hp->head_dim, g->n);
			if (ff) {
				op(&f, be->ops->rope_ff(be, qs, (int)hp->n_head, (int)hp->head_dim, (int)hp->n_rot, pos0,
							g->n, hp->rope_freq_base, hp->rope_neox, ff), "rope");
				op(&f, be->ops->rope_ff(be, ks, (int)hp->n_head_kv, (int)hp->head_dim, (int)hp->n_rot,
							pos0, g->n, hp->rope_freq_base, hp->rope_neox, ff), "rope");
			} else {
				op(&f, be->ops->rope(be, qs, (int)hp->n_head, (int)hp->head_dim, (int)hp->n_rot, pos0,
						     g->n, hp->rope_freq_base, hp->rope_neox), "rope");
				op(&f, be->ops->rope(be, ks, (int)hp->n_head_kv, (int)hp->head_dim, (int)hp->n_rot, pos0,
						     g->n, hp->rope_freq_base, hp->rope_neox), "rope");
			}
			SL_TRACE_E();
			if (!direct) {
				op(&f, be->ops->get_rows(be, kc + (size_t)pos0 * KV, c->k_tmp, SL_TYPE_F32, KV,
							 rows + g->row0, g->n), "kv copy");
				op(&f, be->ops->get_rows(be, vc + (size_t)pos0 * KV, c->v_tmp, SL_TYPE_F32, KV,
							 rows + g->row0, g->n), "kv copy");
			}
			SL_TRACE_B("compute", "attention", "layer,heads,kv_len,tokens", l, hp->n_head, pos0 + g->n, g->n);
			op(&f, be->ops->attention(be, c->xb2 + (size_t)g->row0 * E, qs, kc, vc, (int)hp->n_head,
						  (int)hp->n_head_kv, (int)hp->head_dim, pos0, g->n, scale), "attention");
			SL_TRACE_E();
		}
		mm(&f, c->xb, &L->wo, c->xb2, n);
		SL_TRACE_B("compute", "add", "layer,cols,tokens", l, E, n, 0);
		op(&f, be->ops->add(be, c->x, c->xb, (int64_t)n * E, (int64_t)n * E), "add");
		SL_TRACE_E();

		norm(&f, c->xb, c->x, &L->ffn_norm, n);
		mm(&f, c->hb, &L->w_gate, c->xb, n);
		mm(&f, c->hb2, &L->w_up, c->xb, n);
		SL_TRACE_B("compute", "silu_mul", "layer,cols,tokens", l, F, n, 0);
		op(&f, be->ops->silu_mul(be, c->hb, c->hb2, (int64_t)n * F), "silu_mul");
		SL_TRACE_E();
		mm(&f, c->xb, &L->w_down, c->hb, n);
		SL_TRACE_B("compute", "add", "layer,cols,tokens", l, E, n, 0);
		op(&f, be->ops->add(be, c->x, c->xb, (int64_t)n * E, (int64_t)n * E), "add");
		SL_TRACE_E();
	}
	if (ff)
		rel(&f, &m->rope_freqs);
	if (f.rc)
		return f.rc;

	f.layer = -1;
	struct sl_weight_use use = { use_acq, use_rel, &f, &f.rc, true };
	return sl_model_output(c, segs, n_segs, &use);
}
