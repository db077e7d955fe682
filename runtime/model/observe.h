/* SPDX-License-Identifier: MIT */
/*
 * runtime/model/observe.h — the matmul observer of a context
 * (sluice_ctx_set_matmul_observer): architectures call sl_observe_matmul before
 * each product by a weight when c->obs is set, and nothing at all otherwise.
 */
#ifndef SLUICE_OBSERVE_H
#define SLUICE_OBSERVE_H

#include "model/model.h"

/* Hand x[n][w->cols] (device memory) to the observer as host memory; expert -1 for a dense weight.
 * 0 or -errno with c->err set (a failed copy from the device). */
int sl_observe_matmul(struct sluice_ctx *c, const struct sl_tensor_ref *w, int expert, const float *x, int n);
/* Free c's observer state (sluice_ctx_free). */
void sl_observer_free(struct sluice_ctx *c);

#endif
