/* SPDX-License-Identifier: MIT */
/*
 * runtime/cache/id_list.h — an intrusive doubly linked list over small integer ids (0..n-1), the
 * order the eviction policies keep (lru.c: by recency, lfru.c: by decayed score).  Links are
 * arrays indexed by id, so linking, unlinking and membership are O(1) with no allocation after
 * init; head is the first victim.
 */
#ifndef SLUICE_ID_LIST_H
#define SLUICE_ID_LIST_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

struct sl_id_list {
	int *prev, *next; /* -1 terminated */
	bool *in;         /* id is linked */
	int head, tail;
};

/* Room for n ids (n >= 1), none linked.  -ENOMEM; sl_id_list_free frees a part-made list too. */
static inline int sl_id_list_init(struct sl_id_list *l, size_t n)
{
	l->prev = malloc(n * sizeof(int));
	l->next = malloc(n * sizeof(int));
	l->in = calloc(n, sizeof(bool));
	l->head = l->tail = -1;
	return l->prev && l->next && l->in ? 0 : -ENOMEM;
}

static inline void sl_id_list_free(struct sl_id_list *l)
{
	free(l->prev);
	free(l->next);
	free(l->in);
}

static inline void sl_id_list_unlink(struct sl_id_list *l, int id)
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

/* Link id (not linked) right after `after`, or at the head for after -1. */
static inline void sl_id_list_link_after(struct sl_id_list *l, int after, int id)
{
	l->prev[id] = after;
	l->next[id] = after >= 0 ? l->next[after] : l->head;
	if (after >= 0)
		l->next[after] = id;
	else
		l->head = id;
	if (l->next[id] >= 0)
		l->prev[l->next[id]] = id;
	else
		l->tail = id;
	l->in[id] = true;
}

static inline void sl_id_list_push_tail(struct sl_id_list *l, int id)
{
	sl_id_list_link_after(l, l->tail, id);
}

/* The walk from the head: prev -1 gives the head, then each id the next; -1 at the end. */
static inline int sl_id_list_next(const struct sl_id_list *l, int prev)
{
	return prev < 0 ? l->head : l->next[prev];
}

#endif
