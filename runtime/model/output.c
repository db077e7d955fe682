/* SPDX-License-Identifier: MIT */
/*
 * runtime/model/output.c — the output head every architecture ends its forward pass with: the
 * final RMSNorm and the classifier on the last row of each segment that asks for logits, their
 * download to the host, and the check that the logits are finite.
 *
 * The weights are acquired and released through the pass's own functions (struct sl_weight_use),
 * so that each architecture's prefetch order (its cursor in m->order) stays its own; errors go to
 * the pass's rc, as the pass's own ops do.
 */
#include "model/model.h"
#include "model/observe.h"
#include "trace.h"
#include "quant/quant.h"

#include <math.h>

/* A backend op failed: its message is in be->err. */
static void op(struct sluice_ctx *c, int *frc, int rc, const char *what)
{
	struct sl_backend *be = c->m->be;
	if (rc && !*frc)
		*frc = sl_errf(&c->err, -rc, "%s on backend %s: %s", what, be->ops->name, be->err.msg);
}

int sl_model_output(struct sluice_ctx *c, const struct sl_seg *segs, int n_segs, const struct sl_weight_use *use)
{
	struct sluice_model *m = c->m;
	const struct sl_hparams *hp = &m->hp;
	struct sl_backend *be = m->be;
	int *rc = use->rc;
	const int E = (int)hp->n_embd;

	/* Only the last token of each segment that asks for logits needs them: its rows are gathered
	 * (one matmul of the classifier for all of them), then downloaded to each segment's buffer. */
	int32_t last[SL_N_BATCH];
	int nl = 0;
	for (int s = 0; s < n_segs; s++)
		if (segs[s].logits)
			last[nl++] = segs[s].row0 + segs[s].n - 1;
	/* The final norm's input: the one row in place, or several gathered into xb2. */
	const float *rows = c->x;
	if (nl == 1) {
		rows = c->x + (size_t)last[0] * E;
	} else if (nl > 1) {
		op(c, rc, be->ops->get_rows(be, c->xb2, c->x, SL_TYPE_F32, E, last, nl), "gather");
		rows = c->xb2;
	}
	if (nl > 0) {
		const struct sl_tensor_ref *w = &m->output_norm;
		const void *p = use->acquire(use->pass, w);
		if (p) {
			if (use->trace_all)
				SL_TRACE_B("compute", "rmsnorm", "layer,cols,tokens,$type", -1, w->cols, nl,
					   sl_type_name(w->type));
			op(c, rc, be->ops->rmsnorm(be, c->xb, rows, p, w->cols, nl, hp->rms_eps), "rmsnorm");
			if (use->trace_all)
				SL_TRACE_E();
			use->release(use->pass, w);
		}
		w = &m->output;
		if (c->obs && !*rc)
			*rc = sl_observe_matmul(c, w, -1, c->xb, nl);
		p = use->acquire(use->pass, w);
		if (p) {
			SL_TRACE_B("compute", "matmul", "layer,rows,cols,$type", -1, w->rows, w->cols,
				   sl_type_name(w->type));
			op(c, rc, be->ops->matmul(be, c->logits_dev, p, w->type, w->rows, w->cols, c->xb, nl),
			   "matmul");
			SL_TRACE_E();
			use->release(use->pass, w);
		}
	}
	for (int s = 0, i = 0; s < n_segs && !*rc; s++)
		if (segs[s].logits)
			op(c, rc, be->ops->download(be, segs[s].logits, c->logits_dev + (size_t)(i++) * hp->n_vocab,
						    (size_t)hp->n_vocab * sizeof(float)), "download");
	/* The sampler reads the logits on the host: everything queued must have run. */
	if (use->trace_all)
		SL_TRACE_B("compute", "sync", "", 0, 0, 0, 0);
	op(c, rc, be->ops->sync(be), "sync");
	if (use->trace_all)
		SL_TRACE_E();
	if (*rc)
		return *rc;
	/* NaN or Inf here would sample as token 0 forever: say so instead (n_vocab floats, cheap). */
	for (int s = 0; s < n_segs; s++) {
		const float *lg = segs[s].logits;
		for (uint32_t i = 0; lg && i < hp->n_vocab; i++)
			if (!isfinite(lg[i]))
				return sl_errf(&c->err, ERANGE,
					       "non-finite logits at position %u (logit %u is %g): the model's weights or "
					       "activations overflow",
					       segs[s].pos0 + (uint32_t)segs[s].n - 1, i, (double)lg[i]);
	}
	return 0;
}
