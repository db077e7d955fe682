/* SPDX-License-Identifier: MIT */
/*
 * runtime/cache/lfru.c — "lfru": least frequently used, with the frequencies decaying so that the
 * hot set follows a drift.
 *
 * Why not LRU for experts: a routed expert is used by a few tokens in a row and then not for a
 * while, and with 256 experts per layer most entries are "recent" by chance; LRU keeps those and
 * drops the few experts every token keeps returning to (published studies: 8–18% hits on
 * fine-grained MoE).  Counting uses keeps the popular ones; decaying the counts lets a new
 * favourite overtake an old one when the routing drifts.
 *
 * Each use (touch, or insert: an entry is cached because it is being used) adds 1 to the entry's
 * score, and every score halves after `half_life` uses of the policy (a logical clock: one tick
 * per touch or insert, so the decay follows the work done, not wall time).  Victims come in
 * order of lowest score, the least recently used first among equal scores.
 *
 * The order never changes between touches: with clock c and half-life H, an entry's score is
 * s·2^(−(c−t)/H) for its score s at its last use t, so comparing scores at any c is comparing
 * key = log2(s) + t/H, which is fixed until the entry's next use.  Entries are kept in a list
 * sorted by key; a touch moves its entry towards the tail, where the walk to its place starts.
 *
 * Scores outlive membership: an evicted entry that comes back keeps its history (a frequently
 * used expert read again after an eviction is recognised at once).  Pure: no I/O, no clock; the
 * store and `sluice replay` run the same code.
 */
#include "cache/id_list.h"
#include "cache/lru.h"
#include "internal.h"

#include <math.h>
#include <stdlib.h>

struct lfru {
	double *key;      /* log2 of the decayed score, in the frame of clock 0; -inf = never used */
	uint64_t *last;   /* clock of the last use (ties: least recent first) */
	struct sl_id_list list; /* sorted by (key, last) ascending; head = first victim */
	int n;
	uint64_t clock;
	double inv_h;     /* 1 / half-life in uses */
};

double sl_lfru_default_half_life(int n_entries)
{
	/* One use per entry on average per half-life: for the store (entries = units) and for replay
	 * (entries = experts) alike that is n_expert / experts_used tokens, ~32 for R1. */
	return n_entries > 16 ? (double)n_entries : 16.0;
}

static int lfru_init(struct sl_policy *p, int n)
{
	struct lfru *l = calloc(1, sizeof(*l));
	size_t m = (size_t)(n > 0 ? n : 1);
	if (!l)
		return -ENOMEM;
	l->key = malloc(m * sizeof(double));
	l->last = calloc(m, sizeof(uint64_t));
	if (sl_id_list_init(&l->list, m) || !l->key || !l->last) {
		free(l->key);
		free(l->last);
		sl_id_list_free(&l->list);
		free(l);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m; i++)
		l->key[i] = -INFINITY;
	l->n = n;
	l->inv_h = 1.0 / sl_lfru_default_half_life(n);
	p->priv = l;
	return 0;
}

static void lfru_destroy(struct sl_policy *p)
{
	struct lfru *l = p->priv;
	if (!l)
		return;
	free(l->key);
	free(l->last);
	sl_id_list_free(&l->list);
	free(l);
}

static bool before(const struct lfru *l, int a, int b)
{
	return l->key[a] < l->key[b] || (l->key[a] == l->key[b] && l->last[a] < l->last[b]);
}

/* Link id at its place, walking from the tail (a just-used entry belongs near it). */
static void link_sorted(struct lfru *l, int id)
{
	int after = l->list.tail;
	while (after >= 0 && before(l, id, after))
		after = l->list.prev[after];
	sl_id_list_link_after(&l->list, after, id);
}

/* One use: score(now) = score(now) + 1, in the log frame (log1p keeps small old scores exact). */
static void use(struct lfru *l, int id)
{
	l->clock++;
	double t = (double)l->clock * l->inv_h;
	double old = l->key[id] - t; /* log2 of the old score, decayed to now; -inf if never used */
	l->key[id] = t + (old == -INFINITY ? 0.0 : log1p(exp2(old)) / M_LN2);
	l->last[id] = l->clock;
}

static void lfru_touch(struct sl_policy *p, int id)
{
	struct lfru *l = p->priv;
	if (id < 0 || id >= l->n)
		return;
	if (l->list.in[id])
		sl_id_list_unlink(&l->list, id);
	use(l, id);
	link_sorted(l, id);
}

static void lfru_remove(struct sl_policy *p, int id)
{
	struct lfru *l = p->priv;
	if (id >= 0 && id < l->n && l->list.in[id])
		sl_id_list_unlink(&l->list, id); /* the score stays: history for when it comes back */
}

static int lfru_next_victim(struct sl_policy *p, int prev)
{
	struct lfru *l = p->priv;
	return sl_id_list_next(&l->list, prev);
}

const struct sl_policy_ops sl_policy_lfru = {
	.name = "lfru",
	.init = lfru_init,
	.destroy = lfru_destroy,
	.insert = lfru_touch, /* cached because it is used now: one use */
	.touch = lfru_touch,
	.remove = lfru_remove,
	.next_victim = lfru_next_victim,
};

void sl_lfru_set_half_life(struct sl_policy *p, double uses)
{
	struct lfru *l = p->priv;
	if (p->ops == &sl_policy_lfru && l && uses > 0)
		l->inv_h = 1.0 / uses; /* before the first use: keys already set keep the old frame */
}

double sl_lfru_score(const struct sl_policy *p, int id)
{
	const struct lfru *l = p->priv;
	if (p->ops != &sl_policy_lfru || !l || id < 0 || id >= l->n || l->key[id] == -INFINITY)
		return 0.0;
	return exp2(l->key[id] - (double)l->clock * l->inv_h);
}
