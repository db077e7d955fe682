/* SPDX-License-Identifier: MIT */
/*
 * runtime/cache/replay.h — routing traces and an offline expert-cache simulator.
 *
 * A routing trace (written by `sluice run --trace-experts FILE`, format in
 * Documentation/moe.md and the MoE contract) lists, per MoE layer pass and
 * token, the experts the router chose.  sl_replay runs it through an expert
 * cache of a given number of entries, one entry per (layer, expert):
 *
 *   - each record (one layer, one token) is one batch: its experts are looked
 *     up together (a hit = the expert is cached before the batch), then the
 *     hits are touched and the misses inserted;
 *   - a miss into a full cache evicts the policy's first victim that is not in
 *     the current batch (the store never evicts what the current layer needs);
 *     when every cached expert is in the batch the miss is not cached (the
 *     expert passes through the streaming window only);
 *   - "belady" is the offline optimum (Belady's MIN, with bypass): it knows the
 *     whole trace, evicts the cached expert whose next use is farthest away, and
 *     does not cache a missed expert whose own next use is farther than that.
 *     No online policy can have more hits at the same size: it is the bound
 *     policies are compared against.
 *   - any other name is a struct sl_policy_ops registered with sl_policy_init
 *     ("lru", "lfru", ...).
 *
 * Pure: no printing; the trace parser reads a file or a buffer.
 */
#ifndef SLUICE_REPLAY_H
#define SLUICE_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sl_err;

struct sl_trace {
	char model[128];
	int n_layer, n_expert, k, first_moe;
	uint64_t expert_bytes;
	int64_t n_rec;
	int32_t *layer;   /* n_rec */
	uint64_t *token;  /* n_rec */
	int32_t *experts; /* n_rec * k */
	uint64_t n_tokens; /* distinct token indices */
};

/* Parse a trace from text (len bytes, need not be NUL-terminated).  Strict: a malformed line is
 * -EINVAL with "NAME:LINE: what is wrong" (NAME names the source in messages). */
int sl_trace_parse(const char *text, size_t len, const char *name, struct sl_trace *out, struct sl_err *err);
int sl_trace_load(const char *path, struct sl_trace *out, struct sl_err *err);
void sl_trace_free(struct sl_trace *t);

struct sl_replay_result {
	uint64_t accesses, hits, misses; /* expert lookups (k per record) */
	uint64_t tokens;
	double hit_rate;         /* hits / accesses */
	double misses_per_token; /* misses / tokens */
	double bytes_per_token;  /* misses x expert_bytes / tokens */
	/* per layer (n_layer entries; layers before first_moe stay 0); free with sl_replay_result_free */
	uint64_t *layer_accesses, *layer_hits;
};

/* Simulate `policy` ("belady" or any name sl_policy_init accepts) with room for `capacity` experts.
 * pinned (NULL: none): n_layer x n_expert flags, entry layer * n_expert + expert; a pinned expert is
 * always a hit and takes no room (placed for good: resident on the device or pinned in the host
 * cache).  -ENOENT for an unknown policy name. */
int sl_replay(const struct sl_trace *t, const char *policy, uint64_t capacity, const bool *pinned,
	      struct sl_replay_result *out, struct sl_err *err);
void sl_replay_result_free(struct sl_replay_result *r);

#endif
