/* SPDX-License-Identifier: MIT */
/*
 * runtime/model/observe.c — sluice_ctx_set_matmul_observer and the call the
 * forward pass makes before each matmul while an observer is set.
 *
 * The activations live in device memory (host memory only for the CPU
 * backends), and a queued backend may not have computed them yet: each call
 * downloads them into a host buffer of the context and syncs, so the observer
 * sees exactly what the matmul will read.  That costs a sync per matmul, which
 * is why it happens only while an observer is set.
 */
#include "model/observe.h"

#include <stdlib.h>

struct sl_observer {
	sluice_matmul_observer fn;
	void *user;
	float *buf;     /* host copy of the activations */
	size_t cap;     /* floats in buf */
};

SLUICE_API int sluice_ctx_set_matmul_observer(struct sluice_ctx *c, sluice_matmul_observer fn, void *user)
{
	if (!c)
		return -EINVAL;
	int rc = sl_ctx_enter(c, "sluice_ctx_set_matmul_observer");
	if (rc)
		return rc;
	if (!fn) {
		sl_observer_free(c);
	} else {
		if (!c->obs && !(c->obs = calloc(1, sizeof(*c->obs))))
			rc = sl_errf(&c->err, ENOMEM, "sluice_ctx_set_matmul_observer: out of memory");
		if (!rc) {
			c->obs->fn = fn;
			c->obs->user = user;
		}
	}
	sl_ctx_leave(c);
	return rc;
}

void sl_observer_free(struct sluice_ctx *c)
{
	if (!c->obs)
		return;
	free(c->obs->buf);
	free(c->obs);
	c->obs = NULL;
}

int sl_observe_matmul(struct sluice_ctx *c, const struct sl_tensor_ref *w, int expert, const float *x, int n)
{
	struct sl_observer *o = c->obs;
	struct sl_backend *be = c->m->be;
	const size_t cols = (size_t)w->cols, count = (size_t)n * cols;
	if (count > o->cap) {
		float *nb = realloc(o->buf, count * sizeof(float));
		if (!nb)
			return sl_errf(&c->err, ENOMEM, "matmul observer: out of memory for %zu activations", count);
		o->buf = nb;
		o->cap = count;
	}
	int rc = be->ops->download(be, o->buf, x, count * sizeof(float));
	if (!rc)
		rc = be->ops->sync(be);
	if (rc)
		return sl_errf(&c->err, -rc, "matmul observer: copying activations from backend %s: %s", be->ops->name,
			       be->err.msg);
	char unit[32];
	const char *name = w->name;
	if (!name) {
		snprintf(unit, sizeof unit, "unit.%d", w->id);
		name = unit;
	}
	o->fn(o->user, name, expert, o->buf, (size_t)n, cols);
	return 0;
}
