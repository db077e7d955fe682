/* SPDX-License-Identifier: MIT */
/*
 * runtime/pipeline.c — several devices as a pipeline (pipeline.h): the stages' backends, the
 * crossing of the hidden state from one device to the next, and the context's per-stage buffers.
 */
#include "pipeline.h"
#include "trace.h"

#include <stdlib.h>
#include <string.h>

int sl_pipe_check_params(const struct sluice_model_params *p, struct sl_err *err)
{
	if (p->reserved2)
		return sl_errf(err, EINVAL, "sluice_model_params: reserved2 must be 0 (it is %#x)", p->reserved2);
	if (!p->n_devices) {
		if (p->devices || p->vram_budgets)
			return sl_errf(err, EINVAL, "sluice_model_params: devices or vram_budgets given with n_devices 0");
		return 0;
	}
	if (p->n_devices > SLUICE_MAX_DEVICES)
		return sl_errf(err, EINVAL, "sluice_model_params: n_devices %u out of range (at most %d)", p->n_devices,
			       SLUICE_MAX_DEVICES);
	if (!p->devices)
		return sl_errf(err, EINVAL, "sluice_model_params: n_devices is %u but devices is NULL", p->n_devices);
	const char *be = p->backend ? p->backend : "cpu";
	if (!strcmp(be, "auto") || strchr(be, ':'))
		return sl_errf(err, EINVAL, "sluice_model_params: a device list needs a backend by name (\"cuda\"), not '%s'",
			       be);
	for (uint32_t i = 0; i < p->n_devices; i++) {
		if (p->devices[i] < 0 || p->devices[i] > 1023)
			return sl_errf(err, EINVAL, "sluice_model_params: device %d is not a device number", p->devices[i]);
		for (uint32_t j = 0; j < i; j++)
			if (p->devices[j] == p->devices[i])
				return sl_errf(err, EINVAL,
					       "device %d is listed twice: each pipeline stage needs a device of its own",
					       p->devices[i]);
	}
	return 0;
}

int sl_pipe_new(struct sluice_model *m, const struct sluice_model_params *p, const struct sl_backend_config *bc,
		struct sl_err *err)
{
	struct sl_pipe *pp = calloc(1, sizeof(*pp));
	if (!pp)
		return sl_errf(err, ENOMEM, "out of memory");
	m->pipe = pp;
	for (uint32_t s = 0; s < p->n_devices; s++) {
		struct sl_backend_config c = *bc;
		c.device = p->devices[s];
		int rc = sl_backend_new(p->backend, &c, &pp->be[s], err);
		if (rc)
			return rc; /* sl_pipe_free frees the ones made */
		pp->device[s] = p->devices[s];
		pp->n = (int)s + 1;
	}
	m->be = pp->be[0];
	return 0;
}

int sl_pipe_commit(struct sluice_model *m, struct sl_err *err)
{
	struct sl_pipe *pp = m->pipe;
	if (!pp)
		return 0;
	const uint32_t *first = sl_weights_stage_layers(m->weights);
	if (!first || sl_weights_n_stages(m->weights) != pp->n)
		return sl_errf(err, EINVAL, "pipeline: the weight store has no stages");
	memcpy(pp->first, first, ((size_t)pp->n + 1) * sizeof(*first));
	/*
	 * The hidden state crosses devices through host memory: device -> pinned host -> device.  A
	 * peer-to-peer copy would skip the host, but needs peer access the devices may not have (and
	 * neither the backend seam nor the stand-in driver has it); the rows are small (a chunk's
	 * rows of n_embd floats: 2 MiB at most for n_embd 8192) next to a stage's work, and a
	 * token goes through the stages one after the other anyway.  Pinned, so both copies are DMA.
	 */
	pp->bounce_len = SL_ALIGN_UP((size_t)SL_N_BATCH * m->hp.n_embd * sizeof(float), 4096);
	pp->bounce = sl_aligned_alloc(4096, pp->bounce_len);
	if (!pp->bounce)
		return sl_errf(err, ENOMEM, "out of memory for the pipeline's %zu-byte bounce buffer", pp->bounce_len);
	int rc = pp->be[0]->ops->register_host(pp->be[0], pp->bounce, pp->bounce_len);
	if (rc)
		return sl_errf(err, -rc, "pinning the pipeline's bounce buffer: %s", pp->be[0]->err.msg);
	pp->bounce_pinned = true;
	char line[512];
	int k = 0;
	for (int s = 0; s < pp->n && k >= 0 && (size_t)k < sizeof(line); s++)
		k += snprintf(line + k, sizeof(line) - (size_t)k, "%s%s:%d layers %u-%u", s ? ", " : "",
			      pp->be[s]->ops->name, pp->device[s], pp->first[s], pp->first[s + 1] - 1);
	sl_info("pipeline: %d devices: %s", pp->n, line);
	if (sl_log_level >= SL_LOG_INFO)
		sl_pipe_report_io(m);
	return 0;
}

void sl_pipe_free(struct sluice_model *m)
{
	struct sl_pipe *pp = m->pipe;
	if (!pp)
		return;
	if (pp->bounce_pinned)
		pp->be[0]->ops->unregister_host(pp->be[0], pp->bounce, pp->bounce_len);
	free(pp->bounce);
	/* be[0] is (or becomes) m->be, which the model frees; a load that failed before setting m->be
	 * leaves it here */
	for (int s = 1; s < pp->n; s++)
		sl_backend_free(pp->be[s]);
	m->be = pp->be[0];
	free(pp);
	m->pipe = NULL;
}

int sl_pipe_stages(const struct sluice_model *m)
{
	return m->pipe ? m->pipe->n : 1;
}

int sl_pipe_stage(const struct sluice_model *m, uint32_t layer)
{
	const struct sl_pipe *pp = m->pipe;
	int s = 0;
	while (pp && s + 1 < pp->n && layer >= pp->first[s + 1])
		s++;
	return s;
}

struct sl_backend *sl_pipe_backend(const struct sluice_model *m, int stage)
{
	return m->pipe ? m->pipe->be[stage] : m->be;
}

void sl_pipe_act_slots(struct sluice_ctx *c, float **slots[SL_N_ACT])
{
	float **s[SL_N_ACT] = { &c->x, &c->xb, &c->xb2, &c->q, &c->hb, &c->hb2, &c->logits_dev, &c->k_tmp, &c->v_tmp,
				&c->xe, &c->ye };
	memcpy(slots, s, sizeof(s));
}

void sl_pipe_ctx_show(struct sluice_ctx *c, int s)
{
	float **slots[SL_N_ACT];
	sl_pipe_act_slots(c, slots);
	for (int i = 0; i < SL_N_ACT; i++)
		*slots[i] = c->pipe->act[s][i];
	c->pipe->cur = s;
}

static void to_stage0(struct sluice_ctx *c)
{
	sl_pipe_ctx_show(c, 0);
	c->m->be = c->m->pipe->be[0];
	sl_weights_set_stage(c->m->weights, 0);
}

int sl_pipe_cross(struct sluice_ctx *c, uint32_t l, int n)
{
	struct sluice_model *m = c->m;
	struct sl_pipe *pp = m->pipe;
	const int from = c->pipe->cur, to = sl_pipe_stage(m, l);
	struct sl_backend *a = pp->be[from], *b = pp->be[to];
	const size_t bytes = (size_t)n * m->hp.n_embd * sizeof(float);
	sl_fence f = 0;
	int rc;
	if (n <= 0 || bytes > pp->bounce_len)
		return sl_errf(&c->err, EINVAL, "pipeline: %d rows do not fit the bounce buffer", n);
	SL_TRACE_B("compute", "pipeline crossing", "layer,from,to,bytes", l, pp->device[from], pp->device[to], bytes);
	/* the download queues behind the last kernel that wrote x (one compute queue, in order) */
	if ((rc = a->ops->download(a, pp->bounce, c->x, bytes)) || (rc = a->ops->fence(a, SL_Q_COMPUTE, &f)) ||
	    (rc = a->ops->fence_sync(a, f))) {
		SL_TRACE_E();
		return sl_errf(&c->err, -rc, "pipeline: moving the hidden state off %s device %d before layer %u: %s",
			       a->ops->name, pp->device[from], l, a->err.msg);
	}
	sl_pipe_ctx_show(c, to);
	m->be = b;
	sl_weights_set_stage(m->weights, to);
	/* The upload is waited for on the host too: the bounce buffer is reused at the next crossing,
	 * which a later stage's copy queue might otherwise not have read yet. */
	if ((rc = b->ops->upload(b, c->x, pp->bounce, bytes)) || (rc = b->ops->fence(b, SL_Q_COPY, &f)) ||
	    (rc = b->ops->wait(b, SL_Q_COMPUTE, f)) || (rc = b->ops->fence_sync(b, f))) {
		SL_TRACE_E();
		return sl_errf(&c->err, -rc, "pipeline: moving the hidden state onto %s device %d at layer %u: %s",
			       b->ops->name, pp->device[to], l, b->err.msg);
	}
	SL_TRACE_E();
	return 0;
}

int sl_pipe_forward(struct sluice_ctx *c, const int32_t *tokens, int n, const struct sl_seg *segs, int n_segs)
{
	if (!c->pipe)
		return c->m->ops->forward(c, tokens, n, segs, n_segs);
	to_stage0(c);
	int rc = c->m->ops->forward(c, tokens, n, segs, n_segs);
	to_stage0(c);
	return rc;
}
