/* SPDX-License-Identifier: MIT */
/*
 * runtime/token/spm.c — SentencePiece-style tokenization, token for token
 * what llama.cpp's llm_tokenizer_spm gives:
 *
 *   1. special-token partition: texts of user-defined tokens (and, when asked,
 *      control/unknown tokens), longest first, are cut out of the input and
 *      become those tokens;
 *   2. every remaining fragment gets a dummy-prefix space when it starts the
 *      input or follows a special token (add_space_prefix), and its spaces
 *      become U+2581 "▁";
 *   3. the fragment is split into UTF-8 characters (by the lead byte only, as
 *      llama.cpp; invalid UTF-8 just makes odd "characters");
 *   4. adjacent pairs whose concatenation is a token go into a max-heap by
 *      that token's score, ties to the leftmost pair; the best pair is merged
 *      and its new neighbours pushed, until the heap is empty;
 *   5. each final symbol is its token, or (never merged, not in the vocab) one
 *      byte token per byte: "<0xXX>", else the one-byte text, else unk.
 *
 * llama.cpp's resegment() also looks symbols up in a map of merges, but a
 * merged symbol's text is by construction a token, so that path never runs
 * and is left out here.
 */
#include "token/merge_heap.h"
#include "token/vocab_impl.h"

#include <stdlib.h>
#include <string.h>

#define SPACE_ESC "\xe2\x96\x81" /* U+2581 */

struct sym {
	const char *text;
	uint32_t n;     /* bytes; 0 once merged into its left neighbour */
	int32_t prev, next;
};

/* ---- one raw-text fragment ---- */

struct work {
	char *esc;          /* the escaped fragment */
	struct sym *syms;
	struct sl_bigram_heap heap;
	bool oom;           /* a push failed: the fragment's result is -ENOMEM */
};

static void try_add_bigram(const struct sl_vocab *v, struct work *w, int32_t left, int32_t right)
{
	if (left < 0 || right < 0)
		return;
	/* Neighbouring symbols are adjacent bytes of esc, so the pair is one span. */
	uint32_t size = w->syms[left].n + w->syms[right].n;
	int32_t id = sl_vocab_find(v, w->syms[left].text, size);
	if (id < 0)
		return;
	/* best score first: the key is its negation */
	if (sl_bigram_push(&w->heap, (struct sl_bigram){ left, right, -(double)v->toks[id].score, size }))
		w->oom = true;
}

static int spm_fragment(const struct sl_vocab *v, struct work *w, const char *text, size_t len, bool prefix,
			struct sl_tok_out *e)
{
	/* Escape: optional dummy prefix, then ' ' -> U+2581. */
	size_t m = 0;
	if (prefix) {
		memcpy(w->esc, SPACE_ESC, 3);
		m = 3;
	}
	for (size_t i = 0; i < len; i++) {
		if (text[i] == ' ') {
			memcpy(w->esc + m, SPACE_ESC, 3);
			m += 3;
		} else {
			w->esc[m++] = text[i];
		}
	}
	if (m == 0)
		return 0;

	/* Split into UTF-8 characters by the lead byte's high nibble (as llama.cpp's
	 * unicode_len_utf8: continuation bytes count as one-byte characters). */
	static const uint8_t utf8_len[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4 };
	int32_t ns = 0;
	for (size_t off = 0; off < m;) {
		size_t n = SL_MIN((size_t)utf8_len[(uint8_t)w->esc[off] >> 4], m - off);
		w->syms[ns] = (struct sym){ w->esc + off, (uint32_t)n, ns - 1, off + n == m ? -1 : ns + 1 };
		off += n;
		ns++;
	}

	w->heap.n = 0;
	for (int32_t i = 1; i < ns; i++)
		try_add_bigram(v, w, i - 1, i);
	while (w->heap.n) {
		struct sl_bigram b = sl_bigram_pop(&w->heap);
		struct sym *l = &w->syms[b.left], *r = &w->syms[b.right];
		/* Stale: one side was merged away or grew since the pair was pushed. */
		if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
			continue;
		l->n += r->n;
		r->n = 0;
		l->next = r->next;
		if (r->next >= 0)
			w->syms[r->next].prev = b.left;
		try_add_bigram(v, w, l->prev, b.left);
		try_add_bigram(v, w, b.left, l->next);
	}
	if (w->oom)
		return -ENOMEM;

	for (int32_t i = 0; i != -1; i = w->syms[i].next) {
		const struct sym *s = &w->syms[i];
		int32_t id = sl_vocab_find(v, s->text, s->n);
		if (id >= 0) {
			sl_tok_emit(e, id);
			continue;
		}
		for (uint32_t j = 0; j < s->n; j++) {
			int32_t bt = v->byte_tok[(uint8_t)s->text[j]];
			if (bt < 0)
				return -EINVAL; /* no byte tokens and no unk: the text cannot be encoded */
			sl_tok_emit(e, bt);
		}
	}
	return 0;
}

/* ---- special-token partition ---- */

static int frags_add(struct frags *f, size_t off, size_t len, int32_t tok)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 16;
		struct frag *a = realloc(f->a, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		f->a = a;
		f->cap = cap;
	}
	f->a[f->n++] = (struct frag){ off, len, tok };
	return 0;
}

/*
 * Cut every occurrence of each special token out of the raw fragments, one
 * token at a time in v->special's order (longest first), left to right: the
 * same fragments llama.cpp's tokenizer_st_partition makes.
 */
int sl_vocab_partition(const struct sl_vocab *v, const char *text, size_t len, bool parse_special, struct frags *out)
{
	struct frags cur = { 0 }, next = { 0 };
	int rc = frags_add(&cur, 0, len, -1);
	for (uint32_t k = 0; !rc && k < v->n_special; k++) {
		int32_t id = v->special[k];
		if (!parse_special && v->toks[id].type != SL_TOK_USER_DEFINED)
			continue;
		const char *pat = v->text + v->toks[id].off;
		size_t plen = v->toks[id].len;
		next.n = 0;
		for (size_t i = 0; !rc && i < cur.n; i++) {
			struct frag f = cur.a[i];
			if (f.tok >= 0) {
				rc = frags_add(&next, f.off, f.len, f.tok);
				continue;
			}
			size_t at = f.off, end = f.off + f.len;
			while (!rc && at < end) {
				const char *hit = memmem(text + at, end - at, pat, plen);
				if (!hit) {
					rc = frags_add(&next, at, end - at, -1);
					break;
				}
				size_t h = (size_t)(hit - text);
				if (h > at)
					rc = frags_add(&next, at, h - at, -1);
				if (!rc)
					rc = frags_add(&next, h, plen, id);
				at = h + plen;
			}
		}
		struct frags t = cur;
		cur = next;
		next = t;
	}
	free(next.a);
	if (rc) {
		free(cur.a);
		return rc;
	}
	*out = cur;
	return 0;
}

int sl_tokenize_ex(const struct sl_vocab *v, const char *text, size_t len, unsigned flags, int32_t *out,
		   size_t cap, size_t *n_out)
{
	if (v->bpe)
		return sl_bpe_tokenize(v, text, len, flags, out, cap, n_out);
	*n_out = 0;
	if ((!text && len) || len > (INT32_MAX - 3) / 3)
		return -EINVAL;
	struct sl_tok_out e = { out, out ? cap : 0, 0 };
	struct frags fr = { 0 };
	struct work w = { 0 };
	int rc = 0;

	if ((flags & SL_TOKENIZE_ADD_BOS) && v->bos >= 0)
		sl_tok_emit(&e, v->bos);
	if (len) {
		/* The escaped text: every space becomes 3 bytes, plus a prefix. */
		size_t m = len + 3;
		for (const char *p = text; (p = memchr(p, ' ', (size_t)(text + len - p))); p++)
			m += 2;
		w.esc = malloc(m);
		w.syms = malloc(m * sizeof(*w.syms));
		if (!w.esc || !w.syms) {
			rc = -ENOMEM;
			goto out;
		}
		if ((rc = sl_vocab_partition(v, text, len, flags & SL_TOKENIZE_PARSE_SPECIAL, &fr)))
			goto out;
		bool prev_special = true; /* the input's start counts as after a special token */
		for (size_t i = 0; i < fr.n; i++) {
			if (fr.a[i].tok >= 0) {
				sl_tok_emit(&e, fr.a[i].tok);
				prev_special = true;
				continue;
			}
			rc = spm_fragment(v, &w, text + fr.a[i].off, fr.a[i].len, v->add_space_prefix && prev_special, &e);
			if (rc)
				goto out;
			prev_special = false;
		}
	}
	if ((flags & SL_TOKENIZE_ADD_EOS) && v->eos >= 0)
		sl_tok_emit(&e, v->eos);
	*n_out = e.n;
	rc = e.n > e.cap ? -ENOSPC : 0;
out:
	free(fr.a);
	free(w.esc);
	free(w.syms);
	free(w.heap.a);
	return rc;
}

int sl_tokenize(const struct sl_vocab *v, const char *text, size_t len, bool add_bos, int32_t *out, size_t cap,
		size_t *n_out)
{
	return sl_tokenize_ex(v, text, len, add_bos ? SL_TOKENIZE_ADD_BOS : 0, out, cap, n_out);
}
