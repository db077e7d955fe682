/* SPDX-License-Identifier: MIT */
/* runtime/cache/placement.c — the placement plan (rules in placement.h). */
#include "cache/placement.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define MIB(x) ((double)(x) / 1048576.0)

/* A unit's sort key: by layer, then expert (-1, the dense units, first), then index. */
struct key {
	int layer, expert, idx;
};

static int key_cmp(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	if (x->layer != y->layer)
		return x->layer < y->layer ? -1 : 1;
	if (x->expert != y->expert)
		return x->expert < y->expert ? -1 : 1;
	return (x->idx > y->idx) - (x->idx < y->idx);
}

/* min(steps x step, cap) without overflow, steps >= 1 (0 means the default, 2); the caller ensures
 * cap >= step. */
static uint64_t window(uint64_t step, uint64_t cap, int steps)
{
	uint64_t w = step;
	for (int i = 1; i < (steps > 0 ? steps : 2) && w < cap; i++)
		w += SL_MIN(step, cap - w);
	return w;
}

static int validate(const struct sl_place_input *in, struct sl_err *err)
{
	if (in->n_units < 0 || in->n_layers < 0 || in->experts_used < 0)
		return sl_errf(err, EINVAL, "placement: negative count (%d units, %d layers, %d experts used)",
			       in->n_units, in->n_layers, in->experts_used);
	if (in->n_units > 0 && !in->units)
		return sl_errf(err, EINVAL, "placement: %d units but no unit array", in->n_units);
	uint64_t span_sum = 0;
	for (int i = 0; i < in->n_units; i++) {
		const struct sl_place_unit *u = &in->units[i];
		if (u->layer < -1 || u->layer >= in->n_layers)
			return sl_errf(err, EINVAL, "placement: unit %d is in layer %d of a model with %d layers", i,
				       u->layer, in->n_layers);
		if (u->expert < -1)
			return sl_errf(err, EINVAL, "placement: unit %d has expert id %d", i, u->expert);
		if (u->expert >= 0 && in->experts_used == 0)
			return sl_errf(err, EINVAL,
				       "placement: unit %d is a slice of expert %d, but the model is dense "
				       "(0 experts used per token)",
				       i, u->expert);
		if (u->span < u->size)
			return sl_errf(err, EINVAL, "placement: unit %d spans %llu bytes, less than its size %llu", i,
				       (unsigned long long)u->span, (unsigned long long)u->size);
		if (sl_add_overflow_u64(span_sum, u->span, &span_sum))
			return sl_errf(err, EINVAL, "placement: unit sizes overflow 64 bits");
	}
	return 0;
}

/* Step (size, span) of every layer; see rule 2.  keys sorted, globals first. */
static void layer_steps(const struct sl_place_input *in, const struct key *keys, int n, uint64_t *step_size,
			uint64_t *step_span)
{
	int i = 0;
	while (i < n && keys[i].layer < 0)
		i++;
	while (i < n) {
		int l = keys[i].layer;
		uint64_t d_size = 0, d_span = 0, e_max_size = 0, e_max_span = 0, e_all_size = 0, e_all_span = 0;
		while (i < n && keys[i].layer == l && keys[i].expert < 0) {
			d_size += in->units[keys[i].idx].size;
			d_span += in->units[keys[i].idx].span;
			i++;
		}
		while (i < n && keys[i].layer == l) {
			int e = keys[i].expert;
			uint64_t s = 0, p = 0;
			for (; i < n && keys[i].layer == l && keys[i].expert == e; i++) {
				s += in->units[keys[i].idx].size;
				p += in->units[keys[i].idx].span;
			}
			e_max_size = SL_MAX(e_max_size, s);
			e_max_span = SL_MAX(e_max_span, p);
			e_all_size += s;
			e_all_span += p;
		}
		/* No overflow: every sum is bounded by the total span, checked in validate(). */
		uint64_t k = (uint64_t)in->experts_used, es, ep;
		if (sl_mul_overflow_u64(k, e_max_size, &es) || es > e_all_size)
			es = e_all_size;
		if (sl_mul_overflow_u64(k, e_max_span, &ep) || ep > e_all_span)
			ep = e_all_span;
		step_size[l] = d_size + es;
		step_span[l] = d_span + ep;
	}
}

/* First-fit into *room over the keys of one class (experts: false = dense units, true = expert units),
 * skipping units already placed and (when skip_layer) layers marked in it. */
static void first_fit(const struct sl_place_input *in, const struct key *keys, int n, bool experts, bool by_span,
		      uint8_t *where, const bool *placed_mask, const bool *skip_layer, uint8_t to, uint64_t *room)
{
	for (int i = 0; i < n; i++) {
		const struct key *k = &keys[i];
		if (k->layer < 0 || (k->expert >= 0) != experts || placed_mask[k->idx])
			continue;
		if (skip_layer && skip_layer[k->layer])
			continue;
		uint64_t b = by_span ? in->units[k->idx].span : in->units[k->idx].size;
		if (b <= *room) {
			*room -= b;
			where[k->idx] = to;
		}
	}
}

int sl_place(const struct sl_place_input *in, struct sl_place_plan *out, struct sl_err *err)
{
	if (!out)
		return sl_errf(err, EINVAL, "placement: no plan to fill");
	memset(out, 0, sizeof(*out));
	if (!in)
		return sl_errf(err, EINVAL, "placement: no input");
	int rc = validate(in, err);
	if (rc)
		return rc;

	const int n = in->n_units, L = in->n_layers;
	struct key *keys = malloc((size_t)(n ? n : 1) * sizeof(*keys));
	uint64_t *step_size = calloc((size_t)(L ? L : 1), sizeof(uint64_t));
	uint64_t *step_span = calloc((size_t)(L ? L : 1), sizeof(uint64_t));
	uint64_t *rest_span = calloc((size_t)(L ? L : 1), sizeof(uint64_t));
	int *rest_n = calloc((size_t)(L ? L : 1), sizeof(int));
	int *cand = malloc((size_t)(L ? L : 1) * sizeof(int));
	bool *pinned = calloc((size_t)(L ? L : 1), sizeof(bool));
	bool *done = calloc((size_t)(n ? n : 1), sizeof(bool));
	uint8_t *where = calloc((size_t)(n ? n : 1), 1);
	if (!keys || !step_size || !step_span || !rest_span || !rest_n || !cand || !pinned || !done || !where) {
		rc = sl_errf(err, ENOMEM, "placement: out of memory for %d units", n);
		goto out;
	}

	uint64_t total = 0, globals = 0;
	for (int i = 0; i < n; i++) {
		const struct sl_place_unit *u = &in->units[i];
		keys[i] = (struct key){ u->layer, u->layer < 0 ? -1 : u->expert, i };
		total += u->size;
		if (u->layer < 0)
			globals += u->size;
	}
	qsort(keys, (size_t)n, sizeof(*keys), key_cmp);
	layer_steps(in, keys, n, step_size, step_span);
	for (int l = 0; l < L; l++) {
		out->step_bytes = SL_MAX(out->step_bytes, step_size[l]);
		out->step_span = SL_MAX(out->step_span, step_span[l]);
	}
	out->total_bytes = total;
	out->global_bytes = globals;
	const uint64_t stream_need = in->host_visible ? 0 : out->step_bytes;
	out->min_vram = globals + stream_need; /* <= total: a step is at most its layer */

	/* Rule 1: everything fits. */
	if (total <= in->vram) {
		for (int i = 0; i < n; i++)
			where[i] = SL_PLACE_DEVICE;
		out->device_bytes = total;
		goto done;
	}

	/* Rule 3. */
	if (in->vram < out->min_vram) {
		if (in->host_visible)
			rc = sl_errf(err, ENOMEM,
				     "--vram %.1f MiB is too small: this model needs at least %.1f MiB of device memory "
				     "(%.1f MiB of always-resident tensors + %.1f MiB to stream its largest layer, "
				     "which compute reads from host memory)",
				     MIB(in->vram), MIB(out->min_vram), MIB(globals), MIB(stream_need));
		else
			rc = sl_errf(err, ENOMEM,
				     "--vram %.1f MiB is too small: this model needs at least %.1f MiB of device memory "
				     "(%.1f MiB of always-resident tensors + %.1f MiB to stream its largest layer)",
				     MIB(in->vram), MIB(out->min_vram), MIB(globals), MIB(stream_need));
		goto out;
	}

	/* Rule 4: the device. */
	for (int i = 0; i < n; i++) {
		if (in->units[i].layer < 0) {
			where[i] = SL_PLACE_DEVICE;
			done[i] = true;
		}
	}
	uint64_t room = in->vram - globals;
	if (!in->host_visible) {
		out->dev_window = window(out->step_bytes, room, in->window_steps);
		room -= out->dev_window;
	}
	first_fit(in, keys, n, false, false, where, done, NULL, SL_PLACE_DEVICE, &room);
	first_fit(in, keys, n, true, false, where, done, NULL, SL_PLACE_DEVICE, &room);
	uint64_t rest_total = 0;
	for (int i = 0; i < n; i++) {
		done[i] = where[i] == SL_PLACE_DEVICE;
		if (done[i])
			out->device_bytes += in->units[i].size;
		else {
			rest_span[in->units[i].layer] += in->units[i].span;
			rest_n[in->units[i].layer]++;
			rest_total += in->units[i].span;
		}
	}
	/* total > vram: some unit is not DEVICE. */
	out->streaming = true;

	/* Rules 5 and 6: the host. */
	if (in->host_tier) {
		out->min_host = SL_MIN(rest_total, out->step_span);
		if (rest_total <= in->host) {
			for (int i = 0; i < n; i++)
				if (!done[i])
					where[i] = SL_PLACE_HOST;
			goto done;
		}
		if (in->host < out->step_span) {
			rc = sl_errf(err, ENOMEM,
				     "--host-cache %.1f MiB is too small: streaming this model needs at least %.1f MiB (%s)",
				     MIB(in->host), MIB(out->min_host),
				     out->min_host == out->step_span ? "its largest layer" : "what does not fit in --vram");
			goto out;
		}
		out->host_window = window(out->step_span, in->host, in->window_steps);
		uint64_t hroom = in->host - out->host_window;

		if (in->experts_used > 0) {
			/* MoE: the dense units of the layers, first-fit in layer order, and no expert slice:
			 * which experts deserve the room depends on the routing, so what is left is the
			 * expert cache the expert policy runs while streaming (the hot set). */
			first_fit(in, keys, n, false, true, where, done, NULL, SL_PLACE_HOST, &hroom);
			goto done;
		}
		/* Whole layers, spread: the largest p whose layers fit. */
		int m = 0;
		uint64_t least = UINT64_MAX;
		for (int l = 0; l < L; l++) {
			if (rest_n[l]) {
				cand[m++] = l;
				least = SL_MIN(least, rest_span[l]);
			}
		}
		/* No more than hroom / least layers can fit: start there (keeps this linear for even layers). */
		int best = 0, p0 = m;
		if (least > 0 && hroom / least < (uint64_t)m)
			p0 = (int)(hroom / least);
		for (int p = p0; p >= 1 && !best; p--) {
			uint64_t sum = 0;
			bool fits = true;
			for (int k = 0; k < p && fits; k++) {
				int l = cand[(int)((2 * (int64_t)k + 1) * m / (2 * (int64_t)p))];
				fits = !sl_add_overflow_u64(sum, rest_span[l], &sum) && sum <= hroom;
			}
			if (fits)
				best = p;
		}
		for (int k = 0; k < best; k++) {
			int l = cand[(int)((2 * (int64_t)k + 1) * m / (2 * (int64_t)best))];
			pinned[l] = true;
			hroom -= rest_span[l];
		}
		out->pinned_layers = best;
		for (int i = 0; i < n; i++) {
			int l = in->units[i].layer;
			if (!done[i] && l >= 0 && pinned[l]) {
				where[i] = SL_PLACE_HOST;
				done[i] = true;
			}
		}
		first_fit(in, keys, n, false, true, where, done, pinned, SL_PLACE_HOST, &hroom);
		first_fit(in, keys, n, true, true, where, done, pinned, SL_PLACE_HOST, &hroom);
	}

done:
	for (int i = 0; i < n; i++) {
		if (where[i] == SL_PLACE_HOST)
			out->host_bytes += in->units[i].span;
		else if (where[i] == SL_PLACE_STREAM)
			out->stream_bytes += in->units[i].size;
	}
	out->where = where;
	where = NULL;
	rc = 0;
out:
	free(keys);
	free(step_size);
	free(step_span);
	free(rest_span);
	free(rest_n);
	free(cand);
	free(pinned);
	free(done);
	free(where);
	return rc;
}

void sl_place_plan_free(struct sl_place_plan *p)
{
	if (!p)
		return;
	free(p->where);
	memset(p, 0, sizeof(*p));
}
