/* SPDX-License-Identifier: MIT */
/*
 * runtime/batch.c — batched decoding: tokens of several sequences of one context in one forward
 * pass (sluice_decode_batch), and the sequences' lengths and logits.
 *
 * The point is the weights: with streamed weights a forward pass costs one read of every weight
 * whatever the number of rows, so a server decoding 16 sequences together reads each weight once
 * per step instead of 16 times.  The batch is cut into chunks of at most n_batch rows (the
 * activation buffers' height); within a chunk, a run of entries of one sequence is a segment, with
 * its own positions and KV cache (sl_llama_forward does rope and attention per segment).
 */
#include "model/model.h"
#include "pipeline.h"
#include "trace.h"

#include <stdlib.h>
#include <string.h>

static int seq_ok(struct sluice_ctx *c, int32_t seq, const char *fn)
{
	if (seq < 0 || (uint32_t)seq >= c->n_seq)
		return sl_errf(&c->err, EINVAL, "%s: sequence id %d out of range (the context holds %u: n_seq_max)", fn,
			       seq, c->n_seq);
	return 0;
}

/* The rules of sluice_decode_batch's entries (see sluice.h); nothing is changed. */
static int check_batch(struct sluice_ctx *c, const struct sluice_batch_token *e, size_t n)
{
	if (!e)
		return sl_errf(&c->err, EINVAL, "sluice_decode_batch: entries is NULL");
	if (n == 0)
		return sl_errf(&c->err, EINVAL, "sluice_decode_batch: no entries");
	uint8_t seen[SLUICE_MAX_SEQ] = { 0 };
	for (size_t i = 0; i < n; i++) {
		int rc = seq_ok(c, e[i].seq_id, "sluice_decode_batch");
		if (rc)
			return rc;
		const uint32_t s = (uint32_t)e[i].seq_id;
		if (e[i].reserved)
			return sl_errf(&c->err, EINVAL, "sluice_decode_batch: entry %zu: reserved is %u, must be 0", i,
				       e[i].reserved);
		if (e[i].token < 0 || (uint32_t)e[i].token >= c->m->hp.n_vocab)
			return sl_errf(&c->err, EINVAL, "sluice_decode_batch: entry %zu: token %d out of range (vocabulary has %u)",
				       i, e[i].token, c->m->hp.n_vocab);
		const bool first = i == 0 || e[i - 1].seq_id != e[i].seq_id;
		if (first && seen[s])
			return sl_errf(&c->err, EINVAL,
				       "sluice_decode_batch: entry %zu: the entries of sequence %u are not consecutive", i, s);
		seen[s] = 1;
		const uint32_t want = first ? c->seq_len[s] : e[i - 1].pos + 1;
		if (e[i].pos != want)
			return sl_errf(&c->err, EINVAL,
				       "sluice_decode_batch: entry %zu: sequence %u at position %u, expected %u (%s)", i, s,
				       e[i].pos, want, first ? "the sequence's length" : "the previous entry's + 1");
		if (e[i].pos >= c->n_ctx)
			return sl_errf(&c->err, ENOSPC, "context full: sequence %u at position %u, n_ctx is %u", s,
				       e[i].pos, c->n_ctx);
	}
	return 0;
}

/* With the model locked.  Sequence lengths change only when every chunk ran. */
static int run_batch(struct sluice_ctx *c, const struct sluice_batch_token *e, size_t n)
{
	const uint32_t V = c->m->hp.n_vocab;
	struct sl_weights_stats before, after;
	sl_weights_get_stats(c->m->weights, &before);
	uint64_t t0 = sl_now_ns();
	bool all_single = true;
	SL_TRACE_THREAD("model");
	for (size_t a = 0; a < n;) {
		const size_t b = SL_MIN(n, a + c->n_batch);
		int32_t tokens[SL_N_BATCH];
		struct sl_seg segs[SL_N_BATCH];
		int n_segs = 0;
		for (size_t i = a; i < b; i++) {
			tokens[i - a] = e[i].token;
			if (i == a || e[i].seq_id != e[i - 1].seq_id)
				segs[n_segs++] = (struct sl_seg){ (uint32_t)e[i].seq_id, e[i].pos, (int)(i - a), 0, NULL };
			struct sl_seg *g = &segs[n_segs - 1];
			g->n++;
			/* The sequence's last entry of the whole batch: its logits are the ones wanted. */
			if (i + 1 == n || e[i + 1].seq_id != e[i].seq_id)
				g->logits = c->logits + (size_t)g->seq * V;
			else
				all_single = false;
		}
		c->err.msg[0] = 0;
		SL_TRACE_B("token", "batch", "tokens,sequences", (int)(b - a), n_segs, 0, 0);
		int rc = sl_pipe_forward(c, tokens, (int)(b - a), segs, n_segs);
		SL_TRACE_E();
		if (rc) {
			if (!c->err.msg[0])
				sl_errf(&c->err, -rc, "decode: %s", strerror(-rc));
			return rc;
		}
		a = b;
	}
	for (size_t i = 0; i < n; i++)
		c->seq_len[e[i].seq_id] = e[i].pos + 1;
	/* As sluice_decode: compute time is what was not spent waiting for weights; a batch where
	 * every sequence got one token is generation, any other carries a prompt. */
	sl_weights_get_stats(c->m->weights, &after);
	uint64_t elapsed = sl_now_ns() - t0, waited = after.io_wait_ns - before.io_wait_ns;
	c->st.compute_ns += elapsed > waited ? elapsed - waited : 0;
	if (all_single) {
		c->st.gen_tokens += n;
		c->st.gen_ns += elapsed;
	} else {
		c->st.prompt_tokens += n;
		c->st.prompt_ns += elapsed;
	}
	return 0;
}

SLUICE_API int sluice_decode_batch(struct sluice_ctx *c, const struct sluice_batch_token *e, size_t n)
{
	if (!c)
		return -EINVAL;
	int rc = sl_ctx_enter(c, "sluice_decode_batch");
	if (rc)
		return rc;
	if (!(rc = check_batch(c, e, n))) {
		/* Contexts of one model share its weight store and backend: their decodes take turns. */
		pthread_mutex_lock(&c->m->lock);
		rc = run_batch(c, e, n);
		pthread_mutex_unlock(&c->m->lock);
	}
	sl_ctx_leave(c);
	return rc;
}

SLUICE_API int sluice_seq_logits(struct sluice_ctx *c, int32_t seq, const float **logits)
{
	if (!c)
		return -EINVAL;
	int rc = sl_ctx_enter(c, "sluice_seq_logits");
	if (rc)
		return rc;
	if (!logits)
		rc = sl_errf(&c->err, EINVAL, "sluice_seq_logits: logits is NULL");
	else if (!(rc = seq_ok(c, seq, "sluice_seq_logits"))) {
		if (!c->seq_len[seq])
			rc = sl_errf(&c->err, ENOENT, "sluice_seq_logits: sequence %d is empty", seq);
		else
			*logits = c->logits + (size_t)seq * c->m->hp.n_vocab;
	}
	sl_ctx_leave(c);
	return rc;
}

SLUICE_API int sluice_seq_len(struct sluice_ctx *c, int32_t seq, uint32_t *len)
{
	if (!c)
		return -EINVAL;
	int rc = sl_ctx_enter(c, "sluice_seq_len");
	if (rc)
		return rc;
	if (!len)
		rc = sl_errf(&c->err, EINVAL, "sluice_seq_len: len is NULL");
	else if (!(rc = seq_ok(c, seq, "sluice_seq_len")))
		*len = c->seq_len[seq];
	sl_ctx_leave(c);
	return rc;
}

SLUICE_API int sluice_seq_remove(struct sluice_ctx *c, int32_t seq)
{
	if (!c)
		return -EINVAL;
	int rc = sl_ctx_enter(c, "sluice_seq_remove");
	if (rc)
		return rc;
	if (!(rc = seq_ok(c, seq, "sluice_seq_remove")))
		c->seq_len[seq] = 0; /* its cache rows are rewritten before they are read again */
	sl_ctx_leave(c);
	return rc;
}
