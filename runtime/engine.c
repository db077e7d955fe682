/* SPDX-License-Identifier: MIT */
/*
 * runtime/engine.c — the public API: load a model, make a context, decode.
 *
 * Ties together the GGUF reader, the vocabulary, the compute backend, the
 * weight store and the architecture code.  Prompts are run in chunks of
 * n_batch tokens so activation memory stays bounded whatever the prompt.
 */
#include "model/model.h"
#include "quant/quant.h"
#include "sys/pressure.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_N_BATCH 64

/* The Makefile's VERSION, the only place the version is written. */
#ifndef SLUICE_VERSION
#error "SLUICE_VERSION is not defined: build with the Makefile (it passes -DSLUICE_VERSION=\"$(VERSION)\")"
#endif

SLUICE_API const char *sluice_version(void)
{
	return SLUICE_VERSION;
}

SLUICE_API void sluice_set_log_level(int level)
{
	sl_log_level = level;
}

SLUICE_API void sluice_model_params_init(struct sluice_model_params *p)
{
	memset(p, 0, sizeof(*p));
	p->backend = "cpu";
	p->io_engine = "auto";
	p->pressure = "auto";
}

/* Memory pressure (monitor thread): lower the host-cache budget by the level's policy. */
static void on_pressure(void *arg, int level, uint64_t avail_pages)
{
	struct sluice_model *m = arg;
	uint64_t target = sl_pressure_target(level, sl_weights_host_used(m->weights), sl_weights_host_min(m->weights));
	sl_info("memory pressure %s (%llu pages available): host cache down to %llu MiB", sl_pressure_level_name(level),
		(unsigned long long)avail_pages, (unsigned long long)(target >> 20));
	sl_weights_shrink(m->weights, target);
}

static void copy_err(char *dst, size_t len, const struct sl_err *e)
{
	if (dst && len) {
		strncpy(dst, e->msg, len - 1);
		dst[len - 1] = 0;
	}
}

/* rc failed, maybe without a message (an internal function that has none): make sure there is one. */
static int ensure_msg(struct sl_err *e, int rc, const char *what)
{
	if (rc < 0 && !e->msg[0])
		sl_errf(e, -rc, "%s: %s", what, strerror(-rc));
	return rc;
}

/* The model's error buffer, written by the calls that take a const model (tokenize, token_to_piece,
 * get_info): it is the handle's one mutable part, like the error of a FILE. */
static struct sl_err *model_err(const struct sluice_model *m)
{
	return &((struct sluice_model *)m)->err;
}

SLUICE_API int sluice_model_load(const char *path, const struct sluice_model_params *params,
				 struct sluice_model **out, char *errbuf, size_t err_len)
{
	struct sluice_model_params defaults;
	struct sl_err err = { "" };
	int rc;
	uint64_t t0 = sl_now_ns();
	if (!params) {
		sluice_model_params_init(&defaults);
		params = &defaults;
	}
	if (!out || !path) {
		rc = sl_errf(&err, EINVAL, out ? "no model path given" : "sluice_model_load: out is NULL");
		copy_err(errbuf, err_len, &err);
		return rc;
	}
	*out = NULL;
	struct sluice_model *m = calloc(1, sizeof(*m));
	if (!m) {
		rc = sl_errf(&err, ENOMEM, "%s: out of memory for the model handle", path);
		copy_err(errbuf, err_len, &err);
		return rc;
	}
	if (params->flags || params->reserved) { /* room to grow the struct without breaking callers */
		rc = sl_errf(&err, EINVAL, "sluice_model_params: flags and reserved must be 0");
		goto fail;
	}
	if ((rc = sl_gguf_open(path, &m->gguf, &err)))
		goto fail;

	const char *arch = NULL;
	rc = sl_gguf_get_str(m->gguf, "general.architecture", &arch, &err);
	if (rc == -ENOENT)
		rc = sl_errf(&err, EINVAL, "%s: missing metadata 'general.architecture'", path);
	if (rc)
		goto fail;
	if (strcmp(arch, "llama") && strcmp(arch, "qwen2")) {
		rc = sl_errf(&err, ENOTSUP, "%s: architecture '%s' is not supported (supported: llama, qwen2)", path, arch);
		goto fail;
	}
	snprintf(m->arch, sizeof(m->arch), "%s", arch);
	const char *name = NULL;
	if (!sl_gguf_get_str(m->gguf, "general.name", &name, NULL))
		snprintf(m->name, sizeof(m->name), "%s", name);

	if ((rc = sl_vocab_load(m->gguf, &m->vocab, &err)))
		goto fail;
	/* --vram bounds the weights (the weight store enforces it); the KV cache and activations
	 * are sized by the context and reported separately. */
	struct sl_backend_config bc = { .n_threads = params->n_threads };
	if ((rc = sl_backend_new(params->backend, &bc, &m->be, &err)))
		goto fail;
	struct sl_weights_config wc = {
		.io_engine = params->io_engine ? params->io_engine : "auto",
		.host_cache = params->host_cache,
		.lookahead = params->lookahead,
		.vram = params->vram_budget,
		.io_fault = params->io_fault && *params->io_fault ? params->io_fault : NULL,
	};
	if ((rc = sl_weights_new(m->gguf, m->be, &wc, &m->weights, &err)))
		goto fail;
	if ((rc = sl_llama_load(m, &err)))
		goto fail;
	if ((rc = sl_weights_commit(m->weights, (int)m->hp.n_layer, &err)))
		goto fail;
	/* Only a streaming model has a host cache to give back. */
	if (sl_weights_streaming(m->weights) &&
	    (rc = sl_pressure_start(params->pressure ? params->pressure : "auto", on_pressure, m, &m->pressure, &err)))
		goto fail;
	m->load_ns = sl_now_ns() - t0;
	sl_info("CPU kernels: %s", sl_quant_isa());
	*out = m;
	return 0;
fail:
	ensure_msg(&err, rc, path);
	copy_err(errbuf, err_len, &err);
	sluice_model_free(m);
	return rc;
}

SLUICE_API void sluice_model_free(struct sluice_model *m)
{
	if (!m)
		return;
	sl_pressure_stop(m->pressure); /* no callback runs after this returns */
	sl_weights_free(m->weights);
	sl_backend_free(m->be);
	sl_vocab_free(m->vocab);
	sl_gguf_close(m->gguf);
	free(m->layers);
	free(m->order);
	free(m->layer_start);
	free(m);
}

SLUICE_API const char *sluice_model_error(const struct sluice_model *m)
{
	return m ? m->err.msg : "no model (NULL handle)";
}

SLUICE_API int sluice_model_get_info(const struct sluice_model *m, struct sluice_model_info *o)
{
	if (!m)
		return -EINVAL;
	if (!o)
		return sl_errf(model_err(m), EINVAL, "sluice_model_get_info: out is NULL");
	memset(o, 0, sizeof(*o));
	snprintf(o->arch, sizeof(o->arch), "%s", m->arch);
	snprintf(o->name, sizeof(o->name), "%s", m->name);
	o->n_vocab = m->hp.n_vocab;
	o->n_embd = m->hp.n_embd;
	o->n_layer = m->hp.n_layer;
	o->n_head = m->hp.n_head;
	o->n_head_kv = m->hp.n_head_kv;
	o->n_ff = m->hp.n_ff;
	o->n_ctx_train = m->hp.n_ctx_train;
	o->n_rot = m->hp.n_rot;
	o->rope_freq_base = m->hp.rope_freq_base;
	o->rms_eps = m->hp.rms_eps;
	o->n_params = m->n_params;
	for (uint64_t i = 0; i < m->gguf->n_tensors; i++)
		o->weight_bytes += m->gguf->tensors[i].size;
	o->bos = sl_vocab_bos(m->vocab);
	o->eos = sl_vocab_eos(m->vocab);
	return 0;
}

SLUICE_API int sluice_tokenize(const struct sluice_model *m, const char *text, size_t len, bool add_bos,
			       int32_t *tokens, size_t cap, size_t *n_out)
{
	if (!m)
		return -EINVAL;
	if ((!text && len) || !n_out)
		return sl_errf(model_err(m), EINVAL, "sluice_tokenize: %s is NULL", !n_out ? "n_out" : "text");
	int rc = sl_tokenize(m->vocab, text, len, add_bos, tokens, cap, n_out);
	if (rc == -ENOSPC)
		return sl_errf(model_err(m), ENOSPC, "tokenize: the text needs %zu tokens, the buffer holds %zu", *n_out,
			       tokens ? cap : 0);
	if (rc == -EINVAL && len > (INT32_MAX - 3) / 3)
		return sl_errf(model_err(m), EINVAL, "tokenize: the text is too long (%zu bytes)", len);
	if (rc == -EINVAL)
		return sl_errf(model_err(m), EINVAL,
			       "tokenize: the text cannot be encoded (the vocabulary has neither byte tokens nor <unk>)");
	return ensure_msg(model_err(m), rc, "tokenize");
}

SLUICE_API int sluice_token_to_piece(const struct sluice_model *m, int32_t token, char *buf, size_t cap,
				     size_t *n_out)
{
	if (!m)
		return -EINVAL;
	if (!n_out || (!buf && cap))
		return sl_errf(model_err(m), EINVAL, "sluice_token_to_piece: NULL %s", !n_out ? "n_out" : "buf");
	int rc = sl_token_to_piece(m->vocab, token, buf, cap, n_out);
	if (rc == -ENOSPC)
		return sl_errf(model_err(m), ENOSPC, "token %d: its piece needs %zu bytes, the buffer holds %zu", token,
			       *n_out, cap);
	if (rc == -EINVAL)
		return sl_errf(model_err(m), EINVAL, "token %d out of range (vocabulary has %u)", token, m->hp.n_vocab);
	return ensure_msg(model_err(m), rc, "token_to_piece");
}

SLUICE_API void sluice_ctx_params_init(struct sluice_ctx_params *p)
{
	memset(p, 0, sizeof(*p));
}

SLUICE_API void sluice_ctx_free(struct sluice_ctx *c)
{
	if (!c)
		return;
	struct sl_backend *be = c->m->be;
	be->ops->sync(be); /* nothing queued may still write the KV cache or activations */
	for (uint32_t l = 0; c->k_cache && l < c->m->hp.n_layer; l++) {
		be->ops->free(be, c->k_cache[l], c->kv_bytes);
		be->ops->free(be, c->v_cache[l], c->kv_bytes);
	}
	free(c->k_cache);
	free(c->v_cache);
	float **bufs[7] = { &c->x, &c->xb, &c->xb2, &c->q, &c->hb, &c->hb2, &c->logits_dev };
	for (int i = 0; i < 7; i++)
		be->ops->free(be, *bufs[i], c->act_bytes[i]);
	free(c->logits);
	free(c);
}

SLUICE_API int sluice_ctx_new(struct sluice_model *m, const struct sluice_ctx_params *p, struct sluice_ctx **out,
			      char *errbuf, size_t err_len)
{
	struct sl_err err = { "" };
	int rc = 0;
	if (!m || !out) {
		rc = sl_errf(&err, EINVAL, "sluice_ctx_new: %s is NULL", !m ? "model" : "out");
		copy_err(errbuf, err_len, &err);
		return rc;
	}
	const struct sl_hparams *hp = &m->hp;
	struct sl_backend *be = m->be;
	*out = NULL;
	struct sluice_ctx *c = calloc(1, sizeof(*c));
	if (!c) {
		rc = sl_errf(&err, ENOMEM, "out of memory for the context handle");
		copy_err(errbuf, err_len, &err);
		return rc;
	}
	c->m = m;
	c->n_ctx = p && p->n_ctx ? p->n_ctx : SL_MIN(hp->n_ctx_train, 4096u);
	if (c->n_ctx > hp->n_ctx_train)
		sl_warn("context %u is longer than the model was trained for (%u)", c->n_ctx, hp->n_ctx_train);
	c->n_batch = DEFAULT_N_BATCH;
	const size_t kv_dim = (size_t)hp->n_head_kv * hp->head_dim;
	c->kv_bytes = (size_t)c->n_ctx * kv_dim * sizeof(float);
	c->k_cache = calloc(hp->n_layer, sizeof(float *));
	c->v_cache = calloc(hp->n_layer, sizeof(float *));
	c->logits = malloc((size_t)hp->n_vocab * sizeof(float));
	if (!c->k_cache || !c->v_cache || !c->logits) {
		rc = sl_errf(&err, ENOMEM, "out of memory");
		goto fail;
	}
	for (uint32_t l = 0; l < hp->n_layer; l++) {
		if ((rc = be->ops->alloc(be, c->kv_bytes, (void **)&c->k_cache[l])) ||
		    (rc = be->ops->alloc(be, c->kv_bytes, (void **)&c->v_cache[l]))) {
			rc = sl_errf(&err, ENOMEM, "cannot allocate the KV cache (%u tokens, %llu MiB) in device memory",
				     c->n_ctx, (unsigned long long)(2 * c->kv_bytes * hp->n_layer >> 20));
			goto fail;
		}
	}
	const size_t B = c->n_batch;
	const size_t sizes[7] = {
		B * hp->n_embd, B * hp->n_embd, B * hp->n_embd, B * hp->n_embd, B * hp->n_ff, B * hp->n_ff,
		hp->n_vocab,
	};
	float **bufs[7] = { &c->x, &c->xb, &c->xb2, &c->q, &c->hb, &c->hb2, &c->logits_dev };
	for (int i = 0; i < 7; i++) {
		c->act_bytes[i] = sizes[i] * sizeof(float);
		if ((rc = be->ops->alloc(be, c->act_bytes[i], (void **)bufs[i]))) {
			c->act_bytes[i] = 0;
			rc = sl_errf(&err, ENOMEM, "cannot allocate activation buffers in device memory");
			goto fail;
		}
	}
	*out = c;
	return 0;
fail:
	ensure_msg(&err, rc, "sluice_ctx_new");
	copy_err(errbuf, err_len, &err);
	sluice_ctx_free(c);
	return rc;
}

SLUICE_API const char *sluice_ctx_error(const struct sluice_ctx *c)
{
	return c ? c->err.msg : "no context (NULL handle)";
}

SLUICE_API void sluice_ctx_reset(struct sluice_ctx *c)
{
	if (c)
		c->pos = 0;
}

SLUICE_API int sluice_decode(struct sluice_ctx *c, const int32_t *tokens, size_t n, const float **logits)
{
	if (!c)
		return -EINVAL;
	if (!tokens && n)
		return sl_errf(&c->err, EINVAL, "sluice_decode: tokens is NULL");
	if (n == 0)
		return sl_errf(&c->err, EINVAL, "no tokens to decode");
	if (c->pos + n > c->n_ctx)
		return sl_errf(&c->err, ENOSPC, "context full: %u + %zu tokens exceed n_ctx %u", c->pos, n, c->n_ctx);
	for (size_t i = 0; i < n; i++)
		if (tokens[i] < 0 || (uint32_t)tokens[i] >= c->m->hp.n_vocab)
			return sl_errf(&c->err, EINVAL, "token %d out of range (vocabulary has %u)", tokens[i],
				       c->m->hp.n_vocab);
	struct sl_weights_stats before, after;
	sl_weights_get_stats(c->m->weights, &before);
	uint64_t t0 = sl_now_ns();
	for (size_t done = 0; done < n;) {
		int k = (int)SL_MIN((size_t)c->n_batch, n - done);
		c->err.msg[0] = 0;
		int rc = sl_llama_forward(c, tokens + done, k);
		if (rc)
			return ensure_msg(&c->err, rc, "decode");
		c->pos += (uint32_t)k;
		done += (size_t)k;
	}
	/* Compute time is the token time the model did not spend waiting for weights. */
	sl_weights_get_stats(c->m->weights, &after);
	uint64_t elapsed = sl_now_ns() - t0, waited = after.io_wait_ns - before.io_wait_ns;
	c->st.compute_ns += elapsed > waited ? elapsed - waited : 0;
	/* A call with several tokens is prompt processing; one token at a time is generation. */
	if (n > 1) {
		c->st.prompt_tokens += n;
		c->st.prompt_ns += elapsed;
	} else {
		c->st.gen_tokens += n;
		c->st.gen_ns += elapsed;
	}
	if (logits)
		*logits = c->logits;
	return 0;
}

SLUICE_API int sluice_ctx_get_stats(const struct sluice_ctx *c, struct sluice_stats *o)
{
	struct sl_weights_stats ws;
	if (!c)
		return -EINVAL;
	if (!o)
		return sl_errf(&((struct sluice_ctx *)c)->err, EINVAL, "sluice_ctx_get_stats: out is NULL");
	*o = c->st;
	sl_weights_get_stats(c->m->weights, &ws);
	o->load_ns = c->m->load_ns;
	o->bytes_read = ws.bytes_read;
	o->io_wait_ns = ws.io_wait_ns;
	o->io_busy_ns = ws.io_busy_ns;
	o->cache_hits = ws.hits;
	o->cache_misses = ws.misses;
	o->host_cache_peak = ws.host_peak;
	o->device_peak = c->m->be->mem_peak;
	o->shrink_events = ws.shrink_events;
	return 0;
}
