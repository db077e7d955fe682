/* SPDX-License-Identifier: MIT */
/* runtime/cache/lru.c — least-recently-used policy: an intrusive doubly linked list over entry ids
 * (id_list.h), most recently used at the tail. */
#include "cache/id_list.h"
#include "cache/lru.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>

struct lru {
	struct sl_id_list list; /* head = least recently used */
};

static int lru_init(struct sl_policy *p, int n)
{
	struct lru *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	if (sl_id_list_init(&l->list, (size_t)(n ? n : 1))) {
		sl_id_list_free(&l->list);
		free(l);
		return -ENOMEM;
	}
	p->priv = l;
	return 0;
}

static void lru_destroy(struct sl_policy *p)
{
	struct lru *l = p->priv;
	if (!l)
		return;
	sl_id_list_free(&l->list);
	free(l);
}

static void lru_insert(struct sl_policy *p, int id)
{
	struct lru *l = p->priv;
	if (l->list.in[id])
		sl_id_list_unlink(&l->list, id);
	sl_id_list_push_tail(&l->list, id);
}

static void lru_remove(struct sl_policy *p, int id)
{
	struct lru *l = p->priv;
	if (l->list.in[id])
		sl_id_list_unlink(&l->list, id);
}

static int lru_next_victim(struct sl_policy *p, int prev)
{
	struct lru *l = p->priv;
	return sl_id_list_next(&l->list, prev);
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
