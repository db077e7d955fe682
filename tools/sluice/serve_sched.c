/* SPDX-License-Identifier: MIT */
/*
 * tools/sluice/serve_sched.c — continuous batching: one thread owns the context and, each step,
 * runs one sluice_decode_batch over every active request (a newcomer's whole prompt, one token for
 * each of the others), so each weight is read once per step for all of them.  New requests take a
 * free sequence at the next step; a finished or cancelled one gives its sequence back
 * (sluice_seq_remove).  Up to --parallel requests decode together; the rest wait in a queue of
 * --queue (beyond it, 503).
 */
#include "model/model.h"
#include "serve.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Prompt tokens one step takes (beyond them a prompt goes on at the next step): a few forward
 * chunks, so the other sequences' next tokens wait a few chunks, not a whole long prompt. */
#define PROMPT_ROWS_PER_STEP 256

const double srv_ttft_bounds[10] = { 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };

/* Under r->mu. */
static void finish_locked(struct srv_req *r, const char *finish, int status, const char *msg)
{
	r->done = true;
	r->finish = finish;
	if (status) {
		r->err_status = status;
		snprintf(r->err_msg, sizeof(r->err_msg), "%s", msg);
	}
	pthread_cond_broadcast(&r->cv);
}

static void req_put(struct srv_req *r)
{
	pthread_mutex_lock(&r->mu);
	bool last = --r->refs == 0;
	pthread_mutex_unlock(&r->mu);
	if (last)
		srv_req_free(r);
}

void srv_req_put(struct srv_req *r)
{
	atomic_store(&r->cancel, true); /* the connection is gone or answered: nothing more to produce */
	req_put(r);
}

int srv_submit(struct srv *s, struct srv_req *r)
{
	pthread_mutex_lock(&s->mu);
	int rc = 0;
	if (s->stopping)
		rc = -ESHUTDOWN;
	else if (s->q_len >= s->queue_max + (s->parallel - s->n_active)) /* free sequences take some at once */
		rc = -EAGAIN;
	if (!rc) {
		if (s->q_tail)
			s->q_tail->next = r;
		else
			s->q_head = r;
		s->q_tail = r;
		s->q_len++;
		pthread_cond_signal(&s->cv);
	} else if (rc == -EAGAIN) {
		s->met.rejected_busy++;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* Text for the client: held back while it could be the start of a stop string; cut at one. */
static bool emit(struct srv_req *r, const char *piece, size_t n, bool final)
{
	size_t need = r->pend_len + n + 1;
	if (need > r->pend_cap) {
		char *p = realloc(r->pend, need * 2);
		if (!p)
			return false;
		r->pend = p;
		r->pend_cap = need * 2;
	}
	memcpy(r->pend + r->pend_len, piece, n);
	r->pend_len += n;
	size_t out = r->pend_len;
	bool stop = false;
	for (int i = 0; i < r->n_stop; i++) {
		const char *hit = memmem(r->pend, r->pend_len, r->stop[i], r->stop_len[i]);
		if (hit && (size_t)(hit - r->pend) <= out) {
			out = (size_t)(hit - r->pend);
			stop = true;
		}
	}
	if (!stop && !final) /* keep the longest tail that a stop string starts with */
		for (int i = 0; i < r->n_stop; i++)
			for (size_t k = SL_MIN(r->stop_len[i] - 1, r->pend_len); k > 0; k--)
				if (!memcmp(r->pend + r->pend_len - k, r->stop[i], k)) {
					out = SL_MIN(out, r->pend_len - k);
					break;
				}
	pthread_mutex_lock(&r->mu);
	srv_append_utf8(&r->text, &r->text_len, &r->text_cap, r->pend, out);
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	memmove(r->pend, r->pend + out, r->pend_len - out);
	r->pend_len -= out;
	return stop;
}

/* Done: the sequence goes back and the scheduler lets go of the request. */
static void retire(struct srv *s, struct srv_req *r, const char *finish, int status, const char *msg)
{
	if (r->slot >= 0) {
		sluice_seq_remove(s->ctx, r->slot);
		r->slot = -1;
	}
	pthread_mutex_lock(&r->mu);
	finish_locked(r, finish, status, msg);
	pthread_mutex_unlock(&r->mu);
	pthread_mutex_lock(&s->mu);
	s->n_active--;
	pthread_mutex_unlock(&s->mu);
	req_put(r);
}

/* One generated token of r: record it, stop at the end of a turn, a stop string or max_tokens.
 * true when r was retired (it may be freed). */
static bool on_token(struct srv *s, struct srv_req *r, int32_t tok)
{
	const uint64_t now = srv_now_ns();
	bool first = r->n_gen == 0;
	r->n_gen++;
	r->last = tok;
	pthread_mutex_lock(&r->mu);
	if (r->n_toks == r->toks_cap) {
		size_t nc = r->toks_cap ? r->toks_cap * 2 : 64;
		int32_t *p = realloc(r->toks, nc * sizeof(*p));
		if (p) {
			r->toks = p;
			r->toks_cap = nc;
		}
	}
	if (r->n_toks < r->toks_cap)
		r->toks[r->n_toks++] = tok;
	if (first)
		r->t_first_ns = now;
	pthread_mutex_unlock(&r->mu);
	pthread_mutex_lock(&s->mu);
	s->met.gen_tokens++;
	if (first) {
		double t = (double)(now - r->t_arrive_ns) / 1e9;
		s->met.ttft_count++;
		s->met.ttft_sum += t;
		for (int i = 0; i < 10; i++)
			if (t <= srv_ttft_bounds[i])
				s->met.ttft_bucket[i]++;
	} else {
		s->met.itl_count++;
		s->met.itl_sum += (double)(now - r->t_last_ns) / 1e9;
	}
	pthread_mutex_unlock(&s->mu);
	r->t_last_ns = now;

	bool eog = sl_vocab_is_eog(s->m->vocab, tok);
	for (int i = 0; i < r->n_eot; i++)
		eog |= tok == r->eot[i];
	char piece[256], tail[8];
	size_t pn = 0, tn = 0;
	if (eog) {
		sl_detok_stream_flush(&r->ds, tail, sizeof(tail), &tn);
		emit(r, tail, tn, true);
		retire(s, r, "stop", 0, NULL);
		return true;
	}
	if (sl_detok_stream_push(s->m->vocab, &r->ds, tok, piece, sizeof(piece), &pn))
		pn = 0;
	if (emit(r, piece, pn, false)) {
		retire(s, r, "stop", 0, NULL);
		return true;
	}
	if (r->n_gen >= r->max_tokens) {
		sl_detok_stream_flush(&r->ds, tail, sizeof(tail), &tn);
		bool stop = emit(r, tail, tn, true);
		retire(s, r, stop ? "stop" : "length", 0, NULL);
		return true;
	}
	return false;
}

static void *sched_main(void *arg)
{
	struct srv *s = arg;
	struct srv_req **slots = calloc((size_t)s->parallel, sizeof(*slots));
	size_t cap = 256;
	struct sluice_batch_token *b = malloc(cap * sizeof(*b));
	if (!slots || !b)
		abort(); /* a few KiB at start-up */
	for (;;) {
		pthread_mutex_lock(&s->mu);
		while (!s->q_head && s->n_active == 0 && !(s->stopping && s->q_len == 0))
			pthread_cond_wait(&s->cv, &s->mu);
		if (!s->q_head && s->n_active == 0 && s->stopping) {
			pthread_mutex_unlock(&s->mu);
			break;
		}
		/* Newcomers join at this step, as many as there are free sequences; one whose client
		 * left while it waited goes at once. */
		struct srv_req *gone = NULL;
		for (int i = 0; i < s->parallel && s->q_head; i++) {
			if (slots[i])
				continue;
			struct srv_req *r = s->q_head;
			s->q_head = r->next;
			if (!s->q_head)
				s->q_tail = NULL;
			s->q_len--;
			if (atomic_load(&r->cancel)) {
				s->met.cancelled++;
				r->next = gone;
				gone = r;
				i--;
				continue;
			}
			r->next = NULL;
			r->slot = i;
			slots[i] = r;
			s->n_active++;
		}
		pthread_mutex_unlock(&s->mu);
		while (gone) {
			struct srv_req *r = gone;
			gone = r->next;
			pthread_mutex_lock(&r->mu);
			finish_locked(r, NULL, 499, "cancelled: the client went away");
			pthread_mutex_unlock(&r->mu);
			req_put(r);
		}

		size_t n = 0, prompt_room = PROMPT_ROWS_PER_STEP;
		for (int i = 0; i < s->parallel; i++) {
			struct srv_req *r = slots[i];
			if (!r)
				continue;
			r->step_k = 0;
			if (atomic_load(&r->cancel)) {
				pthread_mutex_lock(&s->mu);
				s->met.cancelled++;
				pthread_mutex_unlock(&s->mu);
				slots[i] = NULL;
				retire(s, r, NULL, 499, "cancelled: the client went away");
				continue;
			}
			/* A prompt goes in pieces of what is left of this step's prompt rows (the earlier
			 * newcomers first), so a long prompt does not stall the others' tokens for long. */
			const bool prompt = r->n_fed < r->n_prompt;
			size_t k = prompt ? SL_MIN(r->n_prompt - r->n_fed, prompt_room) : 1;
			if (k == 0)
				continue;
			size_t need = n + k;
			if (need > cap) {
				size_t nc = need * 2;
				struct sluice_batch_token *p = realloc(b, nc * sizeof(*b));
				if (!p) {
					slots[i] = NULL;
					retire(s, r, NULL, 500, "out of memory");
					continue;
				}
				b = p;
				cap = nc;
			}
			r->step_k = k;
			if (prompt) {
				prompt_room -= k;
				for (size_t j = r->n_fed; j < r->n_fed + k; j++)
					b[n++] = (struct sluice_batch_token){ i, r->prompt[j], (uint32_t)j, 0 };
			} else {
				uint32_t len = 0;
				sluice_seq_len(s->ctx, i, &len);
				b[n++] = (struct sluice_batch_token){ i, r->last, len, 0 };
			}
		}
		if (n == 0)
			continue;
		uint64_t t0 = srv_now_ns();
		int rc = sluice_decode_batch(s->ctx, b, n);
		uint64_t dt = srv_now_ns() - t0;
		struct sluice_stats st;
		bool have_st = sluice_ctx_get_stats(s->ctx, &st) == 0;
		pthread_mutex_lock(&s->mu);
		s->met.steps++;
		s->met.step_rows += n;
		s->met.decode_ns += dt;
		if (have_st)
			s->lib_stats = st;
		pthread_mutex_unlock(&s->mu);
		for (int i = 0; i < s->parallel; i++) {
			struct srv_req *r = slots[i];
			if (!r || !r->step_k)
				continue;
			if (rc) {
				char m[256];
				snprintf(m, sizeof(m), "decode failed: %s", sluice_ctx_error(s->ctx));
				slots[i] = NULL;
				retire(s, r, NULL, 500, m);
				continue;
			}
			if (r->n_fed < r->n_prompt) {
				r->n_fed += r->step_k;
				pthread_mutex_lock(&s->mu);
				s->met.prompt_tokens += r->step_k;
				pthread_mutex_unlock(&s->mu);
				if (r->n_fed < r->n_prompt)
					continue; /* more of its prompt next step */
			}
			const float *lg = NULL;
			int32_t tok = 0;
			if (sluice_seq_logits(s->ctx, i, &lg) || sluice_sample(r->smp, lg, s->m->hp.n_vocab, &tok)) {
				slots[i] = NULL;
				retire(s, r, NULL, 500, "sampling failed");
				continue;
			}
			if (on_token(s, r, tok))
				slots[i] = NULL;
		}
	}
	free(slots);
	free(b);
	return NULL;
}

int srv_sched_start(struct srv *s)
{
	int rc = pthread_create(&s->sched, NULL, sched_main, s);
	if (!rc)
		s->sched_running = true;
	return -rc;
}

void srv_sched_stop(struct srv *s)
{
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (s->sched_running)
		pthread_join(s->sched, NULL);
	s->sched_running = false;
}
