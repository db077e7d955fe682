/* SPDX-License-Identifier: MIT */
/*
 * runtime/cache/stages.c — the weight store of a pipeline over several devices: a router in front
 * of one ordinary store per stage (weights.h, sl_weights_stages).
 *
 * Why a router rather than a store that knows several devices: every tier (host cache, device
 * arenas, the window, the I/O engine) is per device already, so one whole store per stage reuses
 * all of it unchanged, budgets and placement included; the model keeps one set of ids and one
 * prefetch list.  What a stage store never sees is another stage's units, so nothing of device 0
 * can be handed to a kernel on device 1 (the fake driver fails a test that tries).
 *
 * The cost: every global unit (embeddings, output head, rope factors) is loaded on every device,
 * since any stage may be the one computing when it is acquired (the output head on the last,
 * the embeddings on the first, rope factors on all); and each stage opens the model file itself.
 */
#include "cache/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sl_weights_stages(struct sl_weights *w, struct sl_backend *const *bes, const uint64_t *vram, int n,
		      struct sl_err *err)
{
	if (n < 2 || n > SL_MAX_STAGES)
		return sl_errf(err, EINVAL, "a pipeline has 2 to %d stages, not %d", SL_MAX_STAGES, n);
	if (w->stages || w->n)
		return sl_errf(err, EINVAL, "sl_weights_stages: call it right after sl_weights_new");
	struct sl_stages *ss = calloc(1, sizeof(*ss));
	if (!ss)
		return sl_errf(err, ENOMEM, "out of memory");
	w->stages = ss;
	ss->n = n;
	for (int s = 0; s < n; s++) {
		struct sl_weights_config c = w->cfg;
		c.vram = vram ? vram[s] : w->cfg.vram;
		/* The host cache is one budget of the machine's memory: the stages share it. */
		c.host_cache = w->cfg.host_cache ? SL_MAX(w->cfg.host_cache / (uint64_t)n, 1) : 0;
		int rc = sl_weights_new(w->f, bes[s], &c, &ss->st[s], err);
		if (rc)
			return rc; /* sl_weights_free(w) frees the stages made so far */
	}
	return 0;
}

void sl_stages_free(struct sl_weights *w)
{
	struct sl_stages *ss = w->stages;
	for (int s = 0; s < ss->n; s++)
		sl_weights_free(ss->st[s]);
	free(ss->id);
	free(ss->scratch);
	free(ss);
	w->stages = NULL;
}

int sl_weights_n_stages(const struct sl_weights *w)
{
	return w->stages ? w->stages->n : 1;
}

const uint32_t *sl_weights_stage_layers(const struct sl_weights *w)
{
	return w->stages ? w->stages->first : NULL;
}

void sl_weights_cap_stage_vram(struct sl_weights *w, int stage, uint64_t cap)
{
	if (w->stages && stage >= 0 && stage < w->stages->n)
		sl_weights_cap_vram(w->stages->st[stage], cap);
	else if (!w->stages && stage == 0)
		sl_weights_cap_vram(w, cap);
}

void sl_weights_set_stage(struct sl_weights *w, int stage)
{
	if (w->stages && stage >= 0 && stage < w->stages->n)
		w->stages->cur = stage;
}

static int unit_layer(const struct sl_weights *w, const struct unit *u)
{
	return u->layer >= 0 && u->layer < w->n_layers ? u->layer : -1;
}

/*
 * Contiguous layer ranges whose shares of the layer bytes follow the stages' device budgets:
 * stage s's range ends at the layer boundary nearest to total * (budgets of stages 0..s) / (all
 * budgets), each stage getting at least one layer.  A budget is counted as at most the total (an
 * unlimited device can hold everything and no more), so equal or unlimited budgets split evenly.
 */
static int split_layers(struct sl_weights *w, struct sl_err *err)
{
	struct sl_stages *ss = w->stages;
	const int n = ss->n, L = w->n_layers;
	if (L < n)
		return sl_errf(err, EINVAL, "the model has %d layer%s: it cannot be split across %d devices", L,
			       L == 1 ? "" : "s", n);
	uint64_t *lb = calloc((size_t)L, sizeof(*lb)), total = 0;
	if (!lb)
		return sl_errf(err, ENOMEM, "out of memory");
	for (int i = 0; i < w->n; i++) {
		int l = unit_layer(w, &w->u[i]);
		if (l >= 0) {
			lb[l] += w->u[i].size;
			total += w->u[i].size;
		}
	}
	double share[SL_MAX_STAGES], sum = 0;
	for (int s = 0; s < n; s++)
		sum += share[s] = (double)SL_MIN(ss->st[s]->vram_budget, SL_MAX(total, 1));
	double acc = 0, target = 0;
	ss->first[0] = 0;
	int end = 0;
	for (int s = 0; s < n - 1; s++) {
		target += (double)total * share[s] / sum;
		const int min_end = (int)ss->first[s] + 1, max_end = L - (n - 1 - s);
		/* take the next layer while that brings the range's end closer to its target */
		while (end < max_end && (end < min_end || acc + (double)lb[end] / 2 <= target))
			acc += (double)lb[end++];
		ss->first[s + 1] = (uint32_t)end;
	}
	ss->first[n] = (uint32_t)L;
	free(lb);
	return 0;
}

int sl_stages_commit(struct sl_weights *w, int n_layers, struct sl_err *err)
{
	struct sl_stages *ss = w->stages;
	const int n = ss->n;
	int rc;
	if (w->cfg.experts_used)
		return sl_errf(err, ENOTSUP, "a mixture-of-experts model cannot be split across several devices yet "
					     "(give one device)");
	w->n_layers = n_layers;
	if ((rc = split_layers(w, err)))
		return rc;
	ss->id = malloc((size_t)(w->n ? w->n : 1) * (size_t)n * sizeof(int));
	ss->scratch = malloc((size_t)(2 * w->n + 1) * sizeof(int));
	if (!ss->id || !ss->scratch)
		return sl_errf(err, ENOMEM, "out of memory");
	ss->scratch_cap = 2 * w->n + 1;
	for (int i = 0; i < w->n; i++) {
		const struct unit *u = &w->u[i];
		const int l = unit_layer(w, u);
		for (int s = 0; s < n; s++) {
			const bool here = l < 0 || ((uint32_t)l >= ss->first[s] && (uint32_t)l < ss->first[s + 1]);
			ss->id[(size_t)i * n + s] = -1;
			if (!here)
				continue;
			rc = sl_weights_add_range(ss->st[s], u->file_offset, u->size, u->layer, u->expert, u->name, err);
			if (rc < 0)
				return rc;
			ss->id[(size_t)i * n + s] = rc;
		}
	}
	for (int s = 0; s < n; s++) {
		sl_info("pipeline stage %d (%s device %d): layers %u-%u, device budget %s%.1f MiB", s,
			ss->st[s]->be->ops->name, ss->st[s]->be->cfg.device, ss->first[s], ss->first[s + 1] - 1,
			ss->st[s]->vram_budget == UINT64_MAX ? "unlimited, " : "",
			ss->st[s]->vram_budget == UINT64_MAX ? 0.0 : sl_mib(ss->st[s]->vram_budget));
		if ((rc = sl_weights_commit(ss->st[s], n_layers, err))) {
			char why[sizeof(err->msg)];
			snprintf(why, sizeof(why), "%s", err->msg);
			return sl_errf(err, -rc, "pipeline stage %d (%s device %d, layers %u-%u): %s", s, ss->st[s]->be->ops->name,
				       ss->st[s]->be->cfg.device, ss->first[s], ss->first[s + 1] - 1, why);
		}
	}
	return 0;
}

/* The stage a unit is used on: its layer's, or for a global unit the stage computing now. */
static int stage_of(const struct sl_weights *w, int id)
{
	const struct sl_stages *ss = w->stages;
	const int l = unit_layer(w, &w->u[id]);
	if (l < 0)
		return ss->cur;
	int s = 0;
	while (s + 1 < ss->n && (uint32_t)l >= ss->first[s + 1])
		s++;
	return s;
}

/* Every stage is told its part of the future, in the same order: a later stage reads ahead while
 * an earlier one computes. */
void sl_stages_prefetch(struct sl_weights *w, const int *ids, int n)
{
	struct sl_stages *ss = w->stages;
	for (int s = 0; s < ss->n; s++) {
		int k = 0;
		for (int i = 0; i < n && k < ss->scratch_cap; i++) {
			if (ids[i] < 0 || ids[i] >= w->n || unit_layer(w, &w->u[ids[i]]) < 0)
				continue; /* global units are resident on every stage */
			int lid = ss->id[(size_t)ids[i] * ss->n + s];
			if (lid >= 0)
				ss->scratch[k++] = lid;
		}
		if (k)
			sl_weights_prefetch(ss->st[s], ss->scratch, k);
	}
}

int sl_stages_acquire(struct sl_weights *w, int id, const void **ptr, struct sl_err *err)
{
	const int s = stage_of(w, id), lid = w->stages->id[(size_t)id * w->stages->n + s];
	if (lid < 0)
		return sl_errf(err, EINVAL, "'%s' is not held by pipeline stage %d", w->u[id].name, s);
	return sl_weights_acquire(w->stages->st[s], lid, ptr, err);
}

int sl_stages_release(struct sl_weights *w, int id, struct sl_err *err)
{
	const int s = stage_of(w, id), lid = w->stages->id[(size_t)id * w->stages->n + s];
	return lid < 0 ? 0 : sl_weights_release(w->stages->st[s], lid, err);
}

/* The stages' statistics added up: every field is a count or a sum of bytes or nanoseconds. */
void sl_stages_get_stats(const struct sl_weights *w, struct sl_weights_stats *out)
{
	_Static_assert(sizeof(*out) % sizeof(uint64_t) == 0, "sl_weights_stats holds only uint64_t fields");
	memset(out, 0, sizeof(*out));
	for (int s = 0; s < w->stages->n; s++) {
		struct sl_weights_stats one;
		uint64_t a[sizeof(one) / sizeof(uint64_t)], b[sizeof(one) / sizeof(uint64_t)];
		sl_weights_get_stats(w->stages->st[s], &one);
		memcpy(a, out, sizeof(a));
		memcpy(b, &one, sizeof(b));
		for (size_t i = 0; i < SL_ARRAY_SIZE(a); i++)
			a[i] += b[i];
		memcpy(out, a, sizeof(a));
	}
}
