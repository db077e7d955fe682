/* SPDX-License-Identifier: MIT */
/*
 * runtime/token/merge_heap.h — what the SentencePiece and BPE tokenizers share: the priority
 * queue of candidate merges (adjacent symbol pairs) and the token output with its count.
 *
 * A pair pops in order of its key, lowest first, ties to the leftmost pair: SPM keys a pair by
 * the merged token's score, negated (best score first); BPE by the merge's rank (lowest first).
 * A double holds either exactly.  size is the merged length when pushed: a pair popped after one
 * of its sides changed is stale and skipped by the caller.
 */
#ifndef SLUICE_MERGE_HEAP_H
#define SLUICE_MERGE_HEAP_H

#include "internal.h"

struct sl_bigram {
	int32_t left, right;
	double key;
	uint32_t size;
};

struct sl_bigram_heap {
	struct sl_bigram *a;
	size_t n, cap;
};

/* 0, or -ENOMEM (the heap is unchanged). */
int sl_bigram_push(struct sl_bigram_heap *h, struct sl_bigram b);
/* The first pair; h->n > 0. */
struct sl_bigram sl_bigram_pop(struct sl_bigram_heap *h);

/* Token output: every token is counted, those past cap are not stored (the caller then says
 * -ENOSPC with the count needed). */
struct sl_tok_out {
	int32_t *out;
	size_t cap, n;
};

static inline void sl_tok_emit(struct sl_tok_out *e, int32_t tok)
{
	if (e->n < e->cap)
		e->out[e->n] = tok;
	e->n++;
}

#endif
