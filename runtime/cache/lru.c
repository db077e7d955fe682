/* SPDX-License-Identifier: MIT */
/* runtime/cache/lru.c — least-recently-used policy: an intrusive doubly linked list over entry ids. */
#include "cache/lru.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>

struct lru {
	int *prev, *next; /* -1 terminated; head = least recently used */
	bool *in;
	int head, tail;
};

static int lru_init(struct sl_policy *p, int n)
{
	struct lru *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->prev = malloc((size_t)(n ? n : 1) * sizeof(int));
	l->next = malloc((size_t)(n ? n : 1) * sizeof(int));
	l->in = calloc((size_t)(n ? n : 1), sizeof(bool));
	if (!l->prev || !l->next || !l->in) {
		free(l->prev);
		free(l->next);
		free(l->in);
		free(l);
		return -ENOMEM;
	}
	l->head = l->tail = -1;
	p->priv = l;
	return 0;
}

static void lru_destroy(struct sl_policy *p)
{
	struct lru *l = p->priv;
	if (!l)
		return;
	free(l->prev);
	free(l->next);
	free(l->in);
	free(l);
}

static void unlink_id(struct lru *l, int id)
{
	if (l->prev[id] >= 0)
		l->next[l->prev[id]] = l->next[id];
	else
		l->head = l->next[id];
	if (l->next[id] >= 0)
		l->prev[l->next[id]] = l->prev[id];
	else
		l->tail = l->prev[id];
	l->in[id] = false;
}

static void push_tail(struct lru *l, int id)
{
	l->prev[id] = l->tail;
	l->next[id] = -1;
	if (l->tail >= 0)
		l->next[l->tail] = id;
	else
		l->head = id;
	l->tail = id;
	l->in[id] = true;
}

static void lru_insert(struct sl_policy *p, int id)
{
	struct lru *l = p->priv;
	if (l->in[id])
		unlink_id(l, id);
	push_tail(l, id);
}

static void lru_remove(struct sl_policy *p, int id)
{
	struct lru *l = p->priv;
	if (l->in[id])
		unlink_id(l, id);
}

static int lru_next_victim(struct sl_policy *p, int prev)
{
	struct lru *l = p->priv;
	return prev < 0 ? l->head : l->next[prev];
}

const struct sl_policy_ops sl_policy_lru = {
	.name = "lru",
	.init = lru_init,
	.destroy = lru_destroy,
	.insert = lru_insert,
	.touch = lru_insert,
	.remove = lru_remove,
	.next_victim = lru_next_victim,
};

int sl_policy_init(struct sl_policy *p, const char *name, int n_entries)
{
	static const struct sl_policy_ops *const all[] = { &sl_policy_lru, &sl_policy_lfru };
	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < SL_ARRAY_SIZE(all) && !p->ops; i++)
		if (!name || !strcmp(name, all[i]->name))
			p->ops = all[i];
	if (!p->ops)
		return -ENOENT;
	return p->ops->init(p, n_entries);
}

void sl_policy_destroy(struct sl_policy *p)
{
	if (p->ops)
		p->ops->destroy(p);
}
