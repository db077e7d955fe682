/* SPDX-License-Identifier: MIT */
/*
 * runtime/engine.c — the public API: load a model, make a context, decode.
 *
 * Ties together the GGUF reader, the vocabulary, the compute backend, the
 * weight store and the architecture code.  Prompts are run in chunks of
 * n_batch tokens so activation memory stays bounded whatever the prompt.
 */
#include "model/model.h"
#include "model/observe.h"
#include "pipeline.h"
#include "trace.h"
#include "quant/quant.h"
#include "sys/pressure.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#define DEFAULT_N_BATCH SL_N_BATCH

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
	if (!p)
		return;
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
	SL_TRACE_I("pressure", "pressure event", "$source,$level,avail_pages,target", sl_pressure_source(m->pressure),
		   sl_pressure_level_name(level), avail_pages, target);
	sl_weights_shrink(m->weights, target);
}

/* The system as the trace shows it: which drive feeds the model and on which NUMA node, the
 * backend that computes, and where memory-pressure events come from (the kernel module's
 * /dev/sluice, or PSI).  The strings live as long as the model, past sluice_trace_stop. */
static void trace_system_view(struct sluice_model *m, const char *path)
{
	if (!SL_TRACE_ACTIVE)
		return;
	struct sl_err e = { "" };
	if (sl_storage_of_file(path, NULL, &m->storage, &e))
		snprintf(m->storage.block, sizeof(m->storage.block), "unknown");
	SL_TRACE_I("system", "model storage", "$drive,$pci,numa_node", m->storage.block, m->storage.bdf,
		   m->storage.numa_node, 0);
	SL_TRACE_I("system", "compute backend", "$backend,host_visible", m->be->ops->name,
		   sl_backend_has(m->be, SL_BE_HOST_VISIBLE), 0, 0);
	if (m->pressure)
		SL_TRACE_I("system", "pressure source", "$source", sl_pressure_source(m->pressure), 0, 0, 0);
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

/*
 * Errors of the calls that take a const model (tokenize, token_to_piece, get_info), which may run on
 * several threads at once: each thread keeps the message of its own last failed call, and
 * sluice_model_error(m) gives it back to that thread.  One buffer per thread, not per model: a
 * thread's failed call on another model replaces it (then sluice_model_error(m) says so).
 */
static _Thread_local struct {
	const struct sluice_model *m;
	struct sl_err err;
} tl_model;

static struct sl_err *model_err(const struct sluice_model *m)
{
	tl_model.m = m;
	return &tl_model.err;
}

/*
 * One context, one thread at a time: every call on a context takes its busy flag, and a second
 * thread that finds it taken gets -EBUSY.  Its message cannot go into the context's buffer (the
 * thread that holds the context owns that), so it goes into a per-thread slot that
 * sluice_ctx_error(c) shows to the refused thread.
 */
static _Thread_local struct {
	const struct sluice_ctx *c;
	char msg[160];
} tl_busy;

static int ctx_enter(struct sluice_ctx *c, const char *fn)
{
	int idle = 0;
	if (!atomic_compare_exchange_strong_explicit(&c->busy, &idle, 1, memory_order_acquire, memory_order_relaxed)) {
		tl_busy.c = c;
		snprintf(tl_busy.msg, sizeof(tl_busy.msg),
			 "%s: the context is in use by another thread (a context must be used by one thread at a time)",
			 fn);
		sl_log(SL_LOG_ERROR, "%s", tl_busy.msg);
		return -EBUSY;
	}
	if (tl_busy.c == c)
		tl_busy.c = NULL;
	return 0;
}

static void ctx_leave(struct sluice_ctx *c)
{
	atomic_store_explicit(&c->busy, 0, memory_order_release);
}

/* For the context calls outside this file (batch.c). */
int sl_ctx_enter(struct sluice_ctx *c, const char *fn)
{
	return ctx_enter(c, fn);
}

void sl_ctx_leave(struct sluice_ctx *c)
{
	ctx_leave(c);
}

static double mib(uint64_t b)
{
	return (double)b / 1048576.0;
}

/* The device memory a context of n_ctx tokens takes outside the weights: KV cache and activations. */
static bool ctx_bytes(const struct sl_hparams *hp, uint64_t n_ctx, uint64_t *kv_layer, uint64_t *kv_total,
		      uint64_t *act)
{
	const uint64_t B = DEFAULT_N_BATCH, kv_dim = (uint64_t)hp->kv_k_row + hp->kv_v_row;
	*act = (2 * B * hp->n_embd + B * hp->att_dim + B * hp->q_dim + 2 * B * hp->ff_dim + 2ull * hp->n_vocab +
		(hp->n_expert ? 2 * B * hp->n_embd : 0)) * sizeof(float);
	/* kv_layer: K and V of one layer */
	return sl_mul_overflow_u64(n_ctx, kv_dim * sizeof(float), kv_layer) ||
	       sl_mul_overflow_u64(*kv_layer, hp->n_layer, kv_total);
}

/* The MLA attention weights (deepseek2's attn_k_b / attn_v_b, or the legacy attn_kv_b) are no matmul
 * operands: the backend's mla_attention reads their rows inside the attention kernels, dequantized as
 * get_rows does, so get_rows is the question to ask of their types. */
static bool is_mla_weight(const char *name)
{
	static const char *const roles[] = { ".attn_k_b.weight", ".attn_v_b.weight", ".attn_kv_b.weight" };
	const size_t n = strlen(name);
	for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
		const size_t r = strlen(roles[i]);
		if (n > r && !strcmp(name + n - r, roles[i]))
			return true;
	}
	return false;
}

/* Every matrix must have kernels on this backend: a GPU's firmware may lack a type the CPU reads.
 * Refused at load, by tensor and type, rather than failing at the first token.  3-D tensors are
 * matrices too: stacked experts (ffn_*_exps, one matmul per expert slice) and the MLA weights above.
 * (The CPU backends — no device memory of their own, no mem_info — keep their own checks, where the
 * types are read.) */
static int check_backend_types(struct sluice_model *m, const char *path, struct sl_err *err)
{
	struct sl_backend *be = m->be;
	if (!be->ops->mem_info)
		return 0;
	for (uint64_t i = 0; i < m->gguf->n_tensors; i++) {
		const struct gguf_tensor *t = &m->gguf->tensors[i];
		if (t->n_dims < 2)
			continue; /* vectors (norms, biases) are f32 and read by every backend */
		const bool rows = !strcmp(t->name.s, "token_embd.weight") || is_mla_weight(t->name.s);
		if ((rows && !be->ops->supports_op(be, SL_OP_GET_ROWS, t->type)) ||
		    (!rows && !be->ops->supports_op(be, SL_OP_MATMUL, t->type)))
			return sl_errf(err, ENOTSUP,
				       "%s: tensor '%s' has type %s, which the %s backend has no kernels for (use --backend "
				       "cpu, or a model of another type)",
				       path, t->name.s, sl_type_name(t->type), be->ops->name);
	}
	return 0;
}

/* Bytes of device memory kept free for the driver and other users: 256 MiB + 2% of the device. */
static uint64_t device_reserve(uint64_t total)
{
	return (256ull << 20) + total / 50;
}

/*
 * A backend with memory of its own (a GPU): the weights get at most
 *   free - KV cache - activations - reserve
 * where free is what the driver reports now, the KV cache and activations are those of a context of
 * the default size (min(training context, 4096) tokens), and the reserve is device_reserve().  --vram
 * lowers it further, never raises it.  The CPU backends (no mem_info) keep --vram alone.
 */
static int bound_by_device(struct sluice_model *m, struct sl_err *err)
{
	const int n_st = sl_pipe_stages(m);
	for (int s = 0; s < n_st; s++) {
		struct sl_backend *be = sl_pipe_backend(m, s);
		uint64_t free_b, total_b, kv_layer, kv, act;
		if (!be->ops->mem_info)
			return 0;
		int rc = be->ops->mem_info(be, &free_b, &total_b);
		if (rc)
			return sl_errf(err, -rc, "%s", be->err.msg);
		const uint32_t n_ctx = SL_MIN(m->hp.n_ctx_train, 4096u);
		if (ctx_bytes(&m->hp, n_ctx, &kv_layer, &kv, &act))
			kv = UINT64_MAX / 2;
		else if (n_st > 1) /* a stage holds the KV cache of its layers: about 1/n of them (the split comes later) */
			kv = kv_layer * ((m->hp.n_layer + (uint32_t)n_st - 1) / (uint32_t)n_st);
		const uint64_t keep = kv + act + device_reserve(total_b);
		if (free_b <= keep)
			return sl_errf(err, ENOMEM,
				       "the %s device %d has %.1f MiB free, but a %u-token context needs %.1f MiB (KV cache "
				       "%.1f MiB, activations %.1f MiB) and %.1f MiB is kept in reserve: no room for weights",
				       be->ops->name, be->cfg.device, mib(free_b), n_ctx, mib(kv + act), mib(kv), mib(act),
				       mib(device_reserve(total_b)));
		sl_info("%s device %d: %.1f MiB free of %.1f MiB; weights get at most %.1f MiB (KV cache %.1f MiB, "
			"activations %.1f MiB, reserve %.1f MiB)",
			be->ops->name, be->cfg.device, mib(free_b), mib(total_b), mib(free_b - keep), mib(kv), mib(act),
			mib(device_reserve(total_b)));
		sl_weights_cap_stage_vram(m->weights, s, free_b - keep);
	}
	return 0;
}

SLUICE_API int sluice_model_load(const char *path, const struct sluice_model_params *params,
				 struct sluice_model **out, char *errbuf, size_t err_len)
{
	struct sluice_model_params defaults;
	struct sl_err err = { "" };
	int rc = 0;
	uint64_t t0 = sl_now_ns();
	if (!params) {
		sluice_model_params_init(&defaults);
		params = &defaults;
	}
	if (out)
		*out = NULL;
	if (!out || !path) {
		rc = sl_errf(&err, EINVAL, out ? "sluice_model_load: path is NULL" : "sluice_model_load: out is NULL");
		copy_err(errbuf, err_len, &err);
		return rc;
	}
	if (params->flags || params->reserved) /* room to grow the struct without breaking callers */
		rc = sl_errf(&err, EINVAL, "sluice_model_params: flags and reserved must be 0 (flags %#x, reserved %#x)",
			     params->flags, params->reserved);
	else if (params->lookahead < 0 || params->lookahead > SLUICE_MAX_LOOKAHEAD)
		rc = sl_errf(&err, EINVAL, "sluice_model_params: lookahead %d out of range (0 = default, 1 to %d)",
			     params->lookahead, SLUICE_MAX_LOOKAHEAD);
	else if (params->pregate < -1 || params->pregate > SLUICE_MAX_PREGATE)
		rc = sl_errf(&err, EINVAL, "sluice_model_params: pregate %d out of range (-1 = off, 0 = default, 1 to %d)",
			     params->pregate, SLUICE_MAX_PREGATE);
	else if (params->expert_policy && strcmp(params->expert_policy, "lfru") && strcmp(params->expert_policy, "lru"))
		rc = sl_errf(&err, EINVAL, "sluice_model_params: expert_policy '%s' is not one of lfru, lru",
			     params->expert_policy);
	else if (params->n_threads < 0 || params->n_threads > SLUICE_MAX_THREADS)
		rc = sl_errf(&err, EINVAL, "sluice_model_params: n_threads %d out of range (0 = all CPUs, 1 to %d)",
			     params->n_threads, SLUICE_MAX_THREADS);
	else
		rc = sl_pipe_check_params(params, &err);
	if (rc) {
		copy_err(errbuf, err_len, &err);
		return rc;
	}
	struct sluice_model *m = calloc(1, sizeof(*m));
	if (!m) {
		rc = sl_errf(&err, ENOMEM, "%s: out of memory for the model handle", path);
		copy_err(errbuf, err_len, &err);
		return rc;
	}
	if ((rc = pthread_mutex_init(&m->lock, NULL))) {
		free(m);
		rc = sl_errf(&err, rc, "%s: cannot create the model's lock: %s", path, strerror(rc));
		copy_err(errbuf, err_len, &err);
		return rc;
	}
	m->pregate = params->pregate;
	if ((rc = sl_gguf_open(path, &m->gguf, &err)))
		goto fail;

	const char *arch = NULL;
	rc = sl_gguf_get_str(m->gguf, "general.architecture", &arch, &err);
	if (rc == -ENOENT)
		rc = sl_errf(&err, EINVAL, "%s: missing metadata 'general.architecture'", path);
	if (rc)
		goto fail;
	if (!(m->ops = sl_arch_find(arch))) {
		rc = sl_errf(&err, ENOTSUP, "%s: architecture '%s' is not supported (supported: %s)", path, arch,
			     sl_arch_names);
		goto fail;
	}
	snprintf(m->arch, sizeof(m->arch), "%s", arch);
	if (params->n_devices > 1 && m->ops->forward != sl_llama_forward) {
		rc = sl_errf(&err, ENOTSUP, "%s: splitting a %s model across several devices is not implemented (llama and "
					    "qwen2 are): give one device", path, arch);
		goto fail;
	}
	const char *name = NULL;
	if (!sl_gguf_get_str(m->gguf, "general.name", &name, NULL))
		snprintf(m->name, sizeof(m->name), "%s", name);

	if ((rc = sl_vocab_load(m->gguf, &m->vocab, &err)))
		goto fail;
	/* --vram bounds the weights (the weight store enforces it); the KV cache and activations
	 * are sized by the context and reported separately. */
	struct sl_backend_config bc = { .n_threads = params->n_threads };
	if (params->n_devices == 1)
		bc.device = params->devices[0];
	if (params->n_devices > 1)
		rc = sl_pipe_new(m, params, &bc, &err);
	else
		rc = sl_backend_new(params->backend, &bc, &m->be, &err);
	if (rc)
		goto fail;
	const bool is_auto = params->backend && !strcmp(params->backend, "auto");
	/* an optional op the architecture needs (its load refuses a backend without it) */
	const char *missing = m->ops->missing_op ? m->ops->missing_op(m->be->ops) : NULL;
	if (missing && is_auto)
		rc = sl_errf(&err, ENOTSUP, "%s: the %s backend has no %s op, which %s needs", path, m->be->ops->name,
			     missing, m->arch);
	else
		rc = check_backend_types(m, path, &err);
	if (rc && is_auto) {
		/* auto: a GPU whose firmware lacks one of the model's types is no GPU for this model */
		sl_info("backend auto: %s; running on the CPU", err.msg);
		sl_backend_free(m->be);
		m->be = NULL;
		err.msg[0] = 0;
		rc = sl_backend_new("cpu", &bc, &m->be, &err);
	}
	if (rc)
		goto fail;
	struct sl_weights_config wc = {
		.io_engine = params->io_engine ? params->io_engine : "auto",
		.host_cache = params->host_cache,
		.lookahead = params->lookahead,
		.vram = params->vram_budget,
		.io_fault = params->io_fault && *params->io_fault ? params->io_fault : NULL,
		.expert_policy = params->expert_policy,
		.trace_experts = params->trace_experts,
	};
	if ((rc = sl_weights_new(m->gguf, m->be, &wc, &m->weights, &err)))
		goto fail;
	if (m->pipe && (rc = sl_weights_stages(m->weights, m->pipe->be, params->vram_budgets, m->pipe->n, &err)))
		goto fail;
	if ((rc = m->ops->load(m, &err)) || (rc = bound_by_device(m, &err)))
		goto fail;
	if ((rc = sl_weights_commit(m->weights, (int)m->hp.n_layer, &err)) || (rc = sl_pipe_commit(m, &err)))
		goto fail;
	/* Only a streaming model has a host cache to give back. */
	if (sl_weights_streaming(m->weights) &&
	    (rc = sl_pressure_start(params->pressure ? params->pressure : "auto", on_pressure, m, &m->pressure, &err)))
		goto fail;
	m->load_ns = sl_now_ns() - t0;
	sl_info("CPU kernels: %s", sl_quant_isa());
	trace_system_view(m, path);
	*out = m;
	return 0;
fail:
	ensure_msg(&err, rc, path);
	copy_err(errbuf, err_len, &err);
	sluice_model_free(m);
	return rc;
}

/* Free the model itself: no context is left and the caller has let go of it. */
static void model_destroy(struct sluice_model *m)
{
	sl_pressure_stop(m->pressure); /* no callback runs after this returns */
	if (m->ops && m->ops->free_priv)
		m->ops->free_priv(m); /* may free device memory: before the backend goes */
	sl_weights_free(m->weights);
	sl_pipe_free(m); /* the stages' backends but the first, which is m->be */
	sl_backend_free(m->be);
	sl_vocab_free(m->vocab);
	sl_gguf_close(m->gguf);
	free(m->layers);
	free(m->order);
	free(m->layer_start);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/*
 * With live contexts the model cannot go yet (they use its weights and backend): it is marked
 * freed, and the last sluice_ctx_free frees it.  Nothing is freed twice and nothing leaks.
 */
SLUICE_API void sluice_model_free(struct sluice_model *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	if (m->freed) {
		pthread_mutex_unlock(&m->lock);
		sl_log(SL_LOG_ERROR, "sluice_model_free: the model was already freed (ignored)");
		return;
	}
	m->freed = true;
	uint32_t live = m->n_ctxs;
	pthread_mutex_unlock(&m->lock);
	if (live) {
		sl_log(SL_LOG_WARN, "sluice_model_free: %u context%s still use%s the model; it is freed with the last of them",
		       live, live == 1 ? "" : "s", live == 1 ? "s" : "");
		return;
	}
	model_destroy(m);
}

SLUICE_API const char *sluice_model_error(const struct sluice_model *m)
{
	if (!m)
		return "no model (NULL handle)";
	if (tl_model.m != m)
		return tl_model.m ? "(this thread's last failed call was on another model)" : "";
	return tl_model.err.msg;
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
	snprintf(o->backend, sizeof(o->backend), "%s", m->be->ops->name);
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
	if ((!text && len) || !n_out || (!tokens && cap))
		return sl_errf(model_err(m), EINVAL, "sluice_tokenize: %s is NULL",
			       !n_out ? "n_out" : !text && len ? "text" : "tokens (with cap > 0)");
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
	if (p)
		memset(p, 0, sizeof(*p));
}

/* The context's device memory, with the model locked. */
static void ctx_release(struct sluice_ctx *c)
{
	struct sluice_model *m = c->m;
	const int n_st = sl_pipe_stages(m);
	for (int s = 0; s < n_st; s++) /* nothing queued may still write the KV cache or activations */
		sl_pipe_backend(m, s)->ops->sync(sl_pipe_backend(m, s));
	for (uint32_t l = 0; c->k_cache && l < m->hp.n_layer; l++) {
		struct sl_backend *be = sl_pipe_backend(m, sl_pipe_stage(m, l));
		if (c->k_cache[l])
			be->ops->free(be, c->k_cache[l], c->kv_bytes);
		if (c->v_cache && c->v_cache[l])
			be->ops->free(be, c->v_cache[l], c->v_bytes);
	}
	free(c->k_cache);
	free(c->v_cache);
	float **bufs[SL_N_ACT];
	sl_pipe_act_slots(c, bufs);
	for (int s = 0; s < n_st; s++) {
		struct sl_backend *be = sl_pipe_backend(m, s);
		for (int i = 0; i < SL_N_ACT; i++) {
			float *p = c->pipe ? c->pipe->act[s][i] : *bufs[i];
			if (p)
				be->ops->free(be, p, c->act_bytes[i]);
		}
	}
	free(c->pipe);
	free(c->logits);
	free(c->seq_len);
	sl_observer_free(c);
}

SLUICE_API void sluice_ctx_free(struct sluice_ctx *c)
{
	if (!c)
		return;
	/* Freeing a context another thread is using would pull memory from under it: refuse (it leaks). */
	if (ctx_enter(c, "sluice_ctx_free"))
		return;
	struct sluice_model *m = c->m;
	pthread_mutex_lock(&m->lock);
	ctx_release(c);
	bool last = --m->n_ctxs == 0 && m->freed;
	pthread_mutex_unlock(&m->lock);
	if (tl_busy.c == c)
		tl_busy.c = NULL;
	free(c);
	if (last)
		model_destroy(m);
}

/* MemAvailable in bytes (sysinfo's free + buffers where /proc is missing); 0 when unknown. */
static uint64_t mem_available(void)
{
	uint64_t avail, total;
	long page = sysconf(_SC_PAGESIZE);
	if (!sl_meminfo_pages(&avail, &total))
		return avail * (uint64_t)(page > 0 ? page : 4096);
	struct sysinfo si;
	if (!sysinfo(&si))
		return ((uint64_t)si.freeram + si.bufferram) * si.mem_unit;
	return 0;
}

SLUICE_API int sluice_ctx_new(struct sluice_model *m, const struct sluice_ctx_params *p, struct sluice_ctx **out,
			      char *errbuf, size_t err_len)
{
	struct sl_err err = { "" };
	int rc = 0;
	if (out)
		*out = NULL;
	if (!m || !out) {
		rc = sl_errf(&err, EINVAL, "sluice_ctx_new: %s is NULL", !m ? "model" : "out");
		copy_err(errbuf, err_len, &err);
		return rc;
	}
	if (p && p->flags) {
		rc = sl_errf(&err, EINVAL, "sluice_ctx_params: flags %#x: reserved, must be 0", p->flags);
		copy_err(errbuf, err_len, &err);
		return rc;
	}
	if (p && p->n_seq_max > SLUICE_MAX_SEQ) {
		rc = sl_errf(&err, EINVAL, "sluice_ctx_params: n_seq_max %u out of range (0 = 1, at most %d)",
			     p->n_seq_max, SLUICE_MAX_SEQ);
		copy_err(errbuf, err_len, &err);
		return rc;
	}
	const struct sl_hparams *hp = &m->hp;
	struct sl_backend *be = m->be;
	const uint32_t n_ctx = p && p->n_ctx ? p->n_ctx : SL_MIN(hp->n_ctx_train, 4096u);
	const uint32_t n_seq = p && p->n_seq_max ? p->n_seq_max : 1;
	const size_t B = DEFAULT_N_BATCH;
	/* Several sequences: K and V of a chunk go through k_tmp/v_tmp, and the classifier runs on up
	 * to one last row per sequence at once. */
	const uint64_t kv_rows = n_seq > 1 ? B * (uint64_t)hp->kv_k_row : 0, v_rows = n_seq > 1 ? B * hp->kv_v_row : 0;
	const uint64_t moe_rows = hp->n_expert ? B * hp->n_embd : 0;
	const uint64_t sizes[11] = {
		B * hp->n_embd, B * hp->n_embd, B * hp->att_dim, B * hp->q_dim, B * hp->ff_dim, B * hp->ff_dim,
		(uint64_t)SL_MIN((size_t)n_seq, B) * hp->n_vocab, kv_rows, v_rows, moe_rows, moe_rows,
	};

	/* The KV cache is sized by n_ctx alone, outside the weights' --vram budget: refuse up front what
	 * the machine cannot hold rather than letting it fail (or swap) halfway through a sequence. */
	const uint64_t kv_dim = (uint64_t)hp->kv_k_row + hp->kv_v_row;
	uint64_t kv_layer = 0, kv_total = 0, act = 0, need = 0;
	bool ovf = ctx_bytes(hp, (uint64_t)n_ctx * n_seq, &kv_layer, &kv_total, &act);
	/* Several sequences add the K/V staging rows, a classifier row per sequence (up to a chunk's
	 * height) and each sequence's host logits. */
	act += (kv_rows + v_rows + ((uint64_t)SL_MIN((size_t)n_seq, B) - 1 + (n_seq - 1)) * hp->n_vocab) * sizeof(float);
	ovf = ovf || sl_add_overflow_u64(kv_total, act, &need) || kv_layer > SIZE_MAX;
	/* A device with memory of its own holds them there; otherwise they are host memory. */
	uint64_t avail = 0, dev_total = 0;
	const bool on_device = be->ops->mem_info && !be->ops->mem_info(be, &avail, &dev_total);
	if (!on_device)
		avail = mem_available();
	if (m->pipe && on_device && !ovf) {
		/* Several devices: each holds its own layers' KV cache and a set of activations; the
		 * fullest stage against the device with least free memory (a bound, not exact). */
		uint32_t most = 0;
		for (int s = 0; s < m->pipe->n; s++) {
			uint64_t a = 0, t = 0;
			struct sl_backend *sb = m->pipe->be[s];
			most = SL_MAX(most, m->pipe->first[s + 1] - m->pipe->first[s]);
			if (!sb->ops->mem_info(sb, &a, &t))
				avail = SL_MIN(avail, a);
		}
		need = need - kv_total + kv_layer * most;
	}
	if (ovf || (avail && need > avail)) {
		uint64_t per_tok = (uint64_t)hp->n_layer * kv_dim * sizeof(float) * n_seq;
		uint64_t fit = avail > act ? (avail - act) / per_tok : 0;
		rc = sl_errf(&err, ENOMEM,
			     "a context of %u tokens x %u sequences needs %.1f GiB of memory (KV cache %.1f GiB, %llu bytes "
			     "per token, + %.1f MiB of activations) but only %.1f GiB is available (%s): use a smaller "
			     "context (at most about %llu tokens here)",
			     n_ctx, n_seq, ovf ? INFINITY : need / 1073741824.0, ovf ? INFINITY : kv_total / 1073741824.0,
			     (unsigned long long)per_tok, act / 1048576.0, avail / 1073741824.0,
			     on_device ? "free device memory" : "MemAvailable",
			     (unsigned long long)SL_MIN(fit, (uint64_t)UINT32_MAX));
		copy_err(errbuf, err_len, &err);
		return rc;
	}
	if (n_ctx > hp->n_ctx_train)
		sl_warn("context %u is longer than the model was trained for (%u)", n_ctx, hp->n_ctx_train);

	struct sluice_ctx *c = calloc(1, sizeof(*c));
	if (!c) {
		rc = sl_errf(&err, ENOMEM, "out of memory for the context handle");
		copy_err(errbuf, err_len, &err);
		return rc;
	}
	c->m = m;
	c->n_ctx = n_ctx;
	c->n_seq = n_seq;
	c->n_batch = DEFAULT_N_BATCH;
	c->kv_bytes = (size_t)((uint64_t)n_ctx * n_seq * hp->kv_k_row * sizeof(float));
	c->v_bytes = (size_t)((uint64_t)n_ctx * n_seq * hp->kv_v_row * sizeof(float));
	atomic_init(&c->busy, 0);

	pthread_mutex_lock(&m->lock);
	if (m->freed) {
		pthread_mutex_unlock(&m->lock);
		free(c);
		rc = sl_errf(&err, EINVAL, "sluice_ctx_new: the model was freed (sluice_model_free)");
		copy_err(errbuf, err_len, &err);
		return rc;
	}
	m->n_ctxs++;
	c->k_cache = calloc(hp->n_layer, sizeof(float *));
	c->v_cache = calloc(hp->n_layer, sizeof(float *));
	if (m->pipe && !(c->pipe = calloc(1, sizeof(*c->pipe)))) {
		rc = sl_errf(&err, ENOMEM, "out of memory");
		goto fail;
	}
	c->logits = malloc((size_t)hp->n_vocab * n_seq * sizeof(float));
	c->seq_len = calloc(n_seq, sizeof(uint32_t));
	if (!c->k_cache || !c->v_cache || !c->logits || !c->seq_len) {
		rc = sl_errf(&err, ENOMEM, "out of memory");
		goto fail;
	}
	for (uint32_t l = 0; l < hp->n_layer; l++) {
		be = sl_pipe_backend(m, sl_pipe_stage(m, l)); /* a layer's KV cache is on its stage's device */
		if ((rc = be->ops->alloc(be, c->kv_bytes, (void **)&c->k_cache[l])) ||
		    (c->v_bytes && (rc = be->ops->alloc(be, c->v_bytes, (void **)&c->v_cache[l])))) {
			rc = sl_errf(&err, ENOMEM, "cannot allocate the KV cache (%u tokens, %llu MiB) in device memory: %s",
				     c->n_ctx, (unsigned long long)(kv_total >> 20), be->err.msg);
			goto fail;
		}
	}
	float **bufs[SL_N_ACT];
	sl_pipe_act_slots(c, bufs);
	for (int s = 0; s < sl_pipe_stages(m); s++) {
		be = sl_pipe_backend(m, s); /* several devices: a full set on each stage's device */
		for (int i = 0; i < SL_N_ACT; i++) {
			if (!sizes[i])
				continue;
			c->act_bytes[i] = sizes[i] * sizeof(float);
			float **slot = c->pipe ? &c->pipe->act[s][i] : bufs[i];
			if ((rc = be->ops->alloc(be, c->act_bytes[i], (void **)slot))) {
				*slot = NULL;
				rc = sl_errf(&err, ENOMEM, "cannot allocate activation buffers in device memory%s: %s",
					     c->pipe ? " (a pipeline stage's)" : "", be->err.msg);
				goto fail;
			}
		}
	}
	if (c->pipe)
		sl_pipe_ctx_show(c, 0);
	pthread_mutex_unlock(&m->lock);
	*out = c;
	return 0;
fail:
	ensure_msg(&err, rc, "sluice_ctx_new");
	copy_err(errbuf, err_len, &err);
	ctx_release(c);
	m->n_ctxs--;
	pthread_mutex_unlock(&m->lock);
	free(c);
	return rc;
}

SLUICE_API const char *sluice_ctx_error(const struct sluice_ctx *c)
{
	if (!c)
		return "no context (NULL handle)";
	if (tl_busy.c == c)
		return tl_busy.msg;
	return c->err.msg;
}

SLUICE_API void sluice_ctx_reset(struct sluice_ctx *c)
{
	if (!c || ctx_enter(c, "sluice_ctx_reset"))
		return;
	memset(c->seq_len, 0, c->n_seq * sizeof(*c->seq_len));
	ctx_leave(c);
}

static int decode_locked(struct sluice_ctx *c, const int32_t *tokens, size_t n)
{
	struct sl_weights_stats before, after;
	sl_weights_get_stats(c->m->weights, &before);
	uint64_t t0 = sl_now_ns();
	uint32_t *pos = &c->seq_len[0]; /* sluice_decode runs sequence 0 */
	const uint32_t pos0 = *pos;
	SL_TRACE_THREAD("model");
	for (size_t done = 0; done < n;) {
		int k = (int)SL_MIN((size_t)c->n_batch, n - done);
		c->err.msg[0] = 0;
		SL_TRACE_B("token", n > 1 ? "prompt batch" : "token", "tokens,pos", k, *pos, 0, 0);
		struct sl_seg seg = { 0, *pos, 0, k, c->logits };
		int rc = sl_pipe_forward(c, tokens + done, k, &seg, 1);
		SL_TRACE_E();
		if (rc) {
			*pos = pos0; /* all or nothing: the call's tokens are not in the sequence */
			return ensure_msg(&c->err, rc, "decode");
		}
		*pos += (uint32_t)k;
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
	return 0;
}

static int decode_checked(struct sluice_ctx *c, const int32_t *tokens, size_t n)
{
	if (!tokens && n)
		return sl_errf(&c->err, EINVAL, "sluice_decode: tokens is NULL");
	if (n == 0)
		return sl_errf(&c->err, EINVAL, "no tokens to decode");
	if (n > c->n_ctx - c->seq_len[0])
		return sl_errf(&c->err, ENOSPC, "context full: %u + %zu tokens exceed n_ctx %u", c->seq_len[0], n,
			       c->n_ctx);
	for (size_t i = 0; i < n; i++)
		if (tokens[i] < 0 || (uint32_t)tokens[i] >= c->m->hp.n_vocab)
			return sl_errf(&c->err, EINVAL, "token %d out of range (vocabulary has %u)", tokens[i],
				       c->m->hp.n_vocab);
	/* Contexts of one model share its weight store and backend: their decodes take turns. */
	pthread_mutex_lock(&c->m->lock);
	int rc = decode_locked(c, tokens, n);
	pthread_mutex_unlock(&c->m->lock);
	return rc;
}

SLUICE_API int sluice_decode(struct sluice_ctx *c, const int32_t *tokens, size_t n, const float **logits)
{
	if (!c)
		return -EINVAL;
	int rc = ctx_enter(c, "sluice_decode");
	if (rc)
		return rc;
	rc = decode_checked(c, tokens, n);
	if (!rc && logits)
		*logits = c->logits;
	ctx_leave(c);
	return rc;
}

SLUICE_API int sluice_ctx_get_stats(const struct sluice_ctx *cc, struct sluice_stats *o)
{
	struct sluice_ctx *c = (struct sluice_ctx *)cc; /* the busy flag and the error buffer are mutable */
	struct sl_weights_stats ws;
	if (!c)
		return -EINVAL;
	int rc = ctx_enter(c, "sluice_ctx_get_stats");
	if (rc)
		return rc;
	if (!o) {
		rc = sl_errf(&c->err, EINVAL, "sluice_ctx_get_stats: out is NULL");
		ctx_leave(c);
		return rc;
	}
	*o = c->st;
	struct sluice_model *m = c->m;
	pthread_mutex_lock(&m->lock);
	sl_weights_get_stats(m->weights, &ws);
	o->device_peak = 0;
	for (int s = 0; s < sl_pipe_stages(m); s++) /* several devices: their peaks added up */
		o->device_peak += sl_pipe_backend(m, s)->mem_peak;
	pthread_mutex_unlock(&m->lock);
	ctx_leave(c);
	o->load_ns = m->load_ns;
	o->bytes_read = ws.bytes_read;
	o->io_wait_ns = ws.io_wait_ns;
	o->io_busy_ns = ws.io_busy_ns;
	o->cache_hits = ws.hits;
	o->cache_misses = ws.misses;
	o->host_cache_peak = ws.host_peak;
	o->shrink_events = ws.shrink_events;
	o->prefetch_used = ws.prefetch_used;
	o->prefetch_wasted = ws.prefetch_wasted;
	o->experts_routed = ws.experts_routed;
	o->expert_hits = ws.expert_hits;
	o->expert_bytes_read = ws.expert_bytes_read;
	o->expert_bytes_active = ws.expert_bytes_active;
	o->pregate_guesses = ws.pregate_guesses;
	o->pregate_reads = ws.pregate_reads;
	o->pregate_correct = ws.pregate_correct;
	o->pregate_routed = ws.pregate_routed;
	o->moe_layer_passes = ws.moe_layer_passes;
	return 0;
}
