/* SPDX-License-Identifier: MIT */
/*
 * tools/sluice/serve.h — what the parts of `sluice serve` share.
 *
 *   serve.c        options, loading, the HTTP daemon's life, SIGTERM drain
 *   serve_http.c   libmicrohttpd handler: routes, auth, body limits, JSON and SSE responses
 *   serve_req.c    request JSON (jansson) -> struct srv_req (prompt tokens, sampling, stop)
 *   serve_sched.c  the scheduler thread: owns the context, continuous batching with
 *                  sluice_decode_batch, sampling, stop strings, cancellation
 *
 * A request is shared by its HTTP connection thread (which waits for text) and the scheduler
 * (which writes it): the shared part is under req->mu, and the request is freed by whichever
 * side lets go of it last (refs).
 */
#ifndef SLUICE_SERVE_H
#define SLUICE_SERVE_H

#include "sluice.h"
#include "token/vocab.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define SRV_MAX_STOP 4
#define SRV_MAX_EOT 8

struct srv_req {
	/* Fixed once parsed. */
	bool chat, stream, include_usage, want_ids;
	int32_t *prompt;
	size_t n_prompt;
	uint32_t max_tokens;
	struct sluice_sampler *smp;
	char *stop[SRV_MAX_STOP];
	size_t stop_len[SRV_MAX_STOP];
	int n_stop;
	int32_t eot[SRV_MAX_EOT]; /* a chat template's end-of-turn tokens (besides the vocabulary's EOG) */
	int n_eot;
	char id[48];
	long long created;

	/* Shared between the connection and the scheduler, under mu. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *text;               /* the reply so far: valid UTF-8, stop strings cut */
	size_t text_len, text_cap;
	int32_t *toks;            /* generated token ids */
	size_t n_toks, toks_cap;
	bool done;
	const char *finish;       /* "stop", "length"; NULL with an error */
	int err_status;           /* != 0: the request failed with this HTTP status */
	char err_msg[256];
	int refs;                 /* 2 while both sides hold it */
	uint64_t t_arrive_ns, t_first_ns;
	atomic_bool cancel;       /* the client went away */

	/* The scheduler's own. */
	int slot;                 /* sequence id, -1 when none */
	size_t n_fed;             /* prompt tokens in the cache */
	size_t step_k;            /* tokens it has in this step's batch (0: none) */
	int32_t last;             /* the token to feed next */
	uint32_t n_gen;
	uint64_t t_last_ns;       /* the last token's time (inter-token latency) */
	struct sl_detok_stream ds;
	char *pend;               /* text held back: it may be the start of a stop string */
	size_t pend_len, pend_cap;
	struct srv_req *next;
};

struct srv_metrics {
	uint64_t requests[6];      /* by status class: [0] other, [2] 2xx, [4] 4xx, [5] 5xx */
	uint64_t rejected_busy;    /* 503 for a full queue */
	uint64_t cancelled;        /* client disconnects */
	uint64_t prompt_tokens, gen_tokens;
	uint64_t steps, step_rows; /* decode steps and the rows they carried */
	uint64_t decode_ns;        /* time inside sluice_decode_batch */
	uint64_t ttft_count;
	double ttft_sum;           /* seconds */
	uint64_t ttft_bucket[10];  /* cumulative counts for srv_ttft_bounds */
	uint64_t itl_count;        /* inter-token latencies */
	double itl_sum;
};
extern const double srv_ttft_bounds[10];

struct srv {
	/* options */
	const char *model_path, *model_id, *api_key, *chat_template;
	int parallel, queue_max;
	uint32_t n_ctx;            /* per sequence */
	size_t max_body;
	unsigned read_timeout_s;
	struct sluice_model_params mp;

	/* loading: 0 loading, 1 ready, -1 failed */
	atomic_int state;
	char load_err[512];
	struct sluice_model *m;
	struct sluice_ctx *ctx;
	int chat_tmpl;             /* enum sl_chat_template */
	const char *bos_text;
	int32_t eot[SRV_MAX_EOT];
	int n_eot;

	/* the queue and the scheduler, under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct srv_req *q_head, *q_tail;
	int q_len, n_active;
	bool stopping;             /* SIGTERM: no new requests; drain */
	bool sched_running;
	pthread_t sched;
	atomic_int inflight;       /* generation requests not yet answered */
	struct srv_metrics met;
	struct sluice_stats lib_stats; /* the context's, copied by the scheduler after each step */
};

/* serve_sched.c */
int srv_sched_start(struct srv *s);
void srv_sched_stop(struct srv *s);  /* after the queue drained */
/* Queue a parsed request: 0, or -EAGAIN when the queue is full, -ESHUTDOWN when stopping. */
int srv_submit(struct srv *s, struct srv_req *r);
/* Let go of the connection's reference (the scheduler frees it when it lets go last). */
void srv_req_put(struct srv_req *r);

/* serve_req.c: a body into a request.  0, or an HTTP status with a message in msg
 * (code: an OpenAI error code or NULL). */
int srv_parse(struct srv *s, bool chat, const char *body, size_t len, struct srv_req **out, char *msg,
	      size_t msg_len, const char **code);

void srv_req_free(struct srv_req *r);

/* serve_http.c */
struct MHD_Daemon;
struct MHD_Daemon *srv_http_start(struct srv *s, const char *host, int port, char *err, size_t err_len);

/* Valid UTF-8 of s[0..len) appended to a growing buffer, each invalid byte as U+FFFD. */
int srv_append_utf8(char **buf, size_t *len, size_t *cap, const char *s, size_t n);
uint64_t srv_now_ns(void);

#endif
