/* SPDX-License-Identifier: MIT */
/* runtime/token/merge_heap.c — the binary heap of candidate merges (see merge_heap.h). */
#include "token/merge_heap.h"

#include <stdlib.h>

static bool first(const struct sl_bigram *x, const struct sl_bigram *y)
{
	return x->key < y->key || (x->key == y->key && x->left < y->left);
}

int sl_bigram_push(struct sl_bigram_heap *h, struct sl_bigram b)
{
	if (h->n == h->cap) { /* grows as needed: most pairs of a text are no token */
		size_t cap = h->cap ? 2 * h->cap : 256;
		struct sl_bigram *a = realloc(h->a, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		h->a = a;
		h->cap = cap;
	}
	size_t i = h->n++;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!first(&b, &h->a[p]))
			break;
		h->a[i] = h->a[p];
		i = p;
	}
	h->a[i] = b;
	return 0;
}

struct sl_bigram sl_bigram_pop(struct sl_bigram_heap *h)
{
	struct sl_bigram top = h->a[0], last = h->a[--h->n];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && first(&h->a[c + 1], &h->a[c]))
			c++;
		if (!first(&h->a[c], &last))
			break;
		h->a[i] = h->a[c];
		i = c;
	}
	if (h->n)
		h->a[i] = last;
	return top;
}
