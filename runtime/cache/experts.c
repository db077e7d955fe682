/* SPDX-License-Identifier: MIT */
/*
 * runtime/cache/experts.c — the weight store's mixture-of-experts side: routing reports, pre-gating
 * guesses, expert statistics and the routing trace (see weights.h).
 *
 * CONTRACT STUB: the store helper replaces this with the real accounting.
 */
#include "cache/store.h"

int sl_weights_routed(struct sl_weights *w, int layer, const int32_t *choice, int n_tok, int k, uint64_t first_tok,
		      struct sl_err *err)
{
	(void)w, (void)layer, (void)choice, (void)n_tok, (void)k, (void)first_tok, (void)err;
	return 0;
}

void sl_weights_guessed(struct sl_weights *w, int layer, const int32_t *experts, int n)
{
	(void)w, (void)layer, (void)experts, (void)n;
}

int sl_weights_expert_units(const struct sl_weights *w, int layer, int expert, int *ids, int max)
{
	int n = 0;
	for (int i = 0; i < w->n; i++)
		if (w->u[i].layer == layer && w->u[i].expert == expert && expert >= 0) {
			if (n < max)
				ids[n] = i;
			n++;
		}
	return n < max ? n : max;
}
