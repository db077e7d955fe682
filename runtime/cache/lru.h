/* SPDX-License-Identifier: MIT */
/*
 * runtime/cache/lru.h — eviction policy for one cache tier.
 *
 * A policy orders the entries of a tier and names a victim.  Entries are small
 * integers (weight ids).  The tier asks for victims in order and skips the ones
 * it cannot evict right now (pinned, being read, needed by the current layer),
 * so a policy never needs to know about pins.
 */
#ifndef SLUICE_LRU_H
#define SLUICE_LRU_H

#include <stdbool.h>
#include <stdint.h>

struct sl_policy;

struct sl_policy_ops {
	const char *name;
	int (*init)(struct sl_policy *p, int n_entries);
	void (*destroy)(struct sl_policy *p);
	void (*insert)(struct sl_policy *p, int id);  /* entry now cached (because it is used now) */
	void (*touch)(struct sl_policy *p, int id);   /* entry used (while cached) */
	void (*remove)(struct sl_policy *p, int id);  /* entry evicted */
	/* Victims in eviction order: first call with prev = -1, then with the last answer; -1 at the end. */
	int (*next_victim)(struct sl_policy *p, int prev);
};

struct sl_policy {
	const struct sl_policy_ops *ops;
	void *priv;
};

extern const struct sl_policy_ops sl_policy_lru;
/* lfru.c: frequency with a decay (half-life in uses), least recent first among equal scores; the
 * expert policy of MoE models.  insert and touch both count one use; remove keeps the score. */
extern const struct sl_policy_ops sl_policy_lfru;
double sl_lfru_default_half_life(int n_entries);
/* Right after init (a later change would reorder nothing already ranked): the half-life in uses. */
void sl_lfru_set_half_life(struct sl_policy *p, double uses);
/* The entry's decayed score now (0: never used), for tests and tools. */
double sl_lfru_score(const struct sl_policy *p, int id);

/* name: "lru" (NULL: lru) or "lfru".  -ENOENT for another name, -ENOMEM. */
int sl_policy_init(struct sl_policy *p, const char *name, int n_entries);
void sl_policy_destroy(struct sl_policy *p);

#endif
