/* SPDX-License-Identifier: MIT */
/*
 * tools/sluice/serve_http.c — the HTTP side of `sluice serve`, on libmicrohttpd (a thread per
 * connection, so a slow or stalled client holds only its own thread).
 *
 * Bodies are bounded (--max-body: 413, refused from Content-Length before reading when it says so)
 * and so is the time to send one (--read-timeout: the connection is closed).  A generation request is parsed here,
 * queued for the scheduler, and its connection thread waits for text: all at once (JSON) or as
 * server-sent events in OpenAI's chunk format ending with "data: [DONE]".  While waiting it watches
 * its socket: a client that hangs up cancels its sequence at the scheduler's next step.
 */
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

enum route { R_NONE, R_GEN };

struct conn {
	char *body;
	size_t len, cap;
	uint64_t t0;
	bool responded; /* a response was queued before the body (413 from Content-Length) */
	bool too_big;   /* the body passed --max-body: discarded, answered 413 at its end */
	bool inflight;  /* counted in s->inflight until the request completes */
};

static void count_status(struct srv *s, int status)
{
	pthread_mutex_lock(&s->mu);
	s->met.requests[status / 100 < 6 ? status / 100 : 0]++;
	pthread_mutex_unlock(&s->mu);
}

static enum MHD_Result send_buf(struct srv *s, struct MHD_Connection *c, int status, const char *ctype,
				const char *body, size_t len)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (status == 503)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	if (status == 401)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	count_status(s, status);
	return rc;
}

static enum MHD_Result send_json(struct srv *s, struct MHD_Connection *c, int status, json_t *j)
{
	char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!txt)
		return send_buf(s, c, 500, "application/json",
				"{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}",
				84);
	enum MHD_Result rc = send_buf(s, c, status, "application/json", txt, strlen(txt));
	free(txt);
	return rc;
}

static json_t *error_json(int status, const char *code, const char *message)
{
	const char *type = status == 401 ? "authentication_error"
			   : status == 404 ? "not_found_error"
			   : status == 429 || status == 503 ? "server_busy"
			   : status >= 500 ? "server_error" : "invalid_request_error";
	/* The message may quote what the client sent: only valid UTF-8 goes out. */
	char *m = NULL;
	size_t len = 0, cap = 0;
	srv_append_utf8(&m, &len, &cap, message, strlen(message));
	json_t *j = json_pack("{s:{s:s?,s:s,s:n,s:s?}}", "error", "message", m, "type", type, "param", "code", code);
	free(m);
	return j;
}

static enum MHD_Result send_error(struct srv *s, struct MHD_Connection *c, int status, const char *code,
				  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static enum MHD_Result send_error(struct srv *s, struct MHD_Connection *c, int status, const char *code,
				  const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return send_json(s, c, status, error_json(status, code, msg));
}

static bool client_gone(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return false;
	struct pollfd p = { ci->connect_fd, POLLRDHUP, 0 };
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static json_t *usage_json(const struct srv_req *r)
{
	return json_pack("{s:I,s:I,s:I}", "prompt_tokens", (json_int_t)r->n_prompt, "completion_tokens",
			 (json_int_t)r->n_toks, "total_tokens", (json_int_t)(r->n_prompt + r->n_toks));
}

static json_t *ids_json(const int32_t *t, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_integer(t[i]));
	return a;
}

/* The head every response and chunk shares. */
static json_t *head_json(struct srv *s, const struct srv_req *r, const char *object)
{
	return json_pack("{s:s,s:s,s:I,s:s}", "id", r->id, "object", object, "created", (json_int_t)r->created, "model",
			 s->model_id);
}

/* Under r->mu, done: the whole answer. */
static json_t *full_json(struct srv *s, struct srv_req *r)
{
	json_t *j = head_json(s, r, r->chat ? "chat.completion" : "text_completion");
	json_t *choice = r->chat ? json_pack("{s:i,s:{s:s,s:s%},s:s?,s:n}", "index", 0, "message", "role", "assistant",
					     "content", r->text ? r->text : "", r->text_len, "finish_reason", r->finish,
					     "logprobs")
				 : json_pack("{s:i,s:s%,s:s?,s:n}", "index", 0, "text", r->text ? r->text : "",
					     r->text_len, "finish_reason", r->finish, "logprobs");
	if (r->want_ids && choice)
		json_object_set_new(choice, "token_ids", ids_json(r->toks, r->n_toks));
	json_object_set_new(j, "choices", json_pack("[o]", choice));
	json_object_set_new(j, "usage", usage_json(r));
	return j;
}

/* ---- server-sent events ---- */

struct stream {
	struct srv *s;
	struct srv_req *r;
	struct MHD_Connection *c;
	char *buf;
	size_t len, off, cap;
	size_t sent_text, sent_toks;
	int phase; /* 0: nothing sent, 1: sending, 2: all written */
};

static int put(struct stream *st, const char *data, size_t n)
{
	if (st->len + n > st->cap) {
		size_t nc = (st->len + n) * 2 + 256;
		char *p = realloc(st->buf, nc);
		if (!p)
			return -1;
		st->buf = p;
		st->cap = nc;
	}
	memcpy(st->buf + st->len, data, n);
	st->len += n;
	return 0;
}

static int put_event(struct stream *st, json_t *j)
{
	char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!txt)
		return -1;
	int rc = put(st, "data: ", 6) || put(st, txt, strlen(txt)) || put(st, "\n\n", 2) ? -1 : 0;
	free(txt);
	return rc;
}

/* One chunk: a delta of text (or the role, or nothing) and maybe the finish reason. */
static json_t *chunk_json(struct stream *st, const char *text, size_t len, bool role, const char *finish)
{
	struct srv_req *r = st->r;
	json_t *j = head_json(st->s, r, r->chat ? "chat.completion.chunk" : "text_completion");
	json_t *choice;
	if (r->chat) {
		json_t *delta = json_object();
		if (role)
			json_object_set_new(delta, "role", json_string("assistant"));
		if (text)
			json_object_set_new(delta, "content", json_stringn(text, len));
		choice = json_pack("{s:i,s:o,s:s?,s:n}", "index", 0, "delta", delta, "finish_reason", finish, "logprobs");
	} else {
		choice = json_pack("{s:i,s:s%,s:s?,s:n}", "index", 0, "text", text ? text : "", text ? len : 0,
				   "finish_reason", finish, "logprobs");
	}
	if (choice && r->want_ids) {
		json_object_set_new(choice, "token_ids", ids_json(r->toks + st->sent_toks, r->n_toks - st->sent_toks));
		st->sent_toks = r->n_toks;
	}
	json_object_set_new(j, "choices", json_pack("[o]", choice));
	return j;
}

/* Under r->mu: what there is to send now into st->buf. */
static int fill(struct stream *st)
{
	struct srv_req *r = st->r;
	int rc = 0;
	if (st->phase == 0 && r->chat)
		rc |= put_event(st, chunk_json(st, "", 0, true, NULL));
	st->phase = 1;
	if (r->text_len > st->sent_text) {
		rc |= put_event(st, chunk_json(st, r->text + st->sent_text, r->text_len - st->sent_text, false, NULL));
		st->sent_text = r->text_len;
	}
	if (!r->done)
		return rc;
	if (r->err_status) {
		rc |= put_event(st, error_json(r->err_status, NULL, r->err_msg));
	} else {
		rc |= put_event(st, chunk_json(st, NULL, 0, false, r->finish));
		if (r->include_usage) {
			json_t *j = head_json(st->s, r, r->chat ? "chat.completion.chunk" : "text_completion");
			json_object_set_new(j, "choices", json_array());
			json_object_set_new(j, "usage", usage_json(r));
			rc |= put_event(st, j);
		}
	}
	rc |= put(st, "data: [DONE]\n\n", 14);
	st->phase = 2;
	return rc;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct stream *st = cls;
	struct srv_req *r = st->r;
	(void)pos;
	while (st->off == st->len) {
		if (st->phase == 2)
			return MHD_CONTENT_READER_END_OF_STREAM;
		st->len = st->off = 0;
		pthread_mutex_lock(&r->mu);
		while (st->phase != 0 && !r->done && r->text_len == st->sent_text) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 200 * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&r->cv, &r->mu, &ts);
			if (!r->done && client_gone(st->c)) {
				atomic_store(&r->cancel, true);
				pthread_mutex_unlock(&r->mu);
				return MHD_CONTENT_READER_END_WITH_ERROR;
			}
		}
		int rc = fill(st);
		pthread_mutex_unlock(&r->mu);
		if (rc)
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	size_t n = st->len - st->off < max ? st->len - st->off : max;
	memcpy(out, st->buf + st->off, n);
	st->off += n;
	return (ssize_t)n;
}

static void stream_free(void *cls)
{
	struct stream *st = cls;
	srv_req_put(st->r);
	free(st->buf);
	free(st);
}

/* ---- endpoints ---- */

static enum MHD_Result generate(struct srv *s, struct MHD_Connection *c, struct conn *k, bool chat)
{
	if (atomic_load(&s->state) != 1)
		return send_error(s, c, 503, NULL, "the model is loading");
	char msg[512];
	const char *code = NULL;
	struct srv_req *r = NULL;
	int st = srv_parse(s, chat, k->body ? k->body : "", k->len, &r, msg, sizeof(msg), &code);
	if (st)
		return send_error(s, c, st, code, "%s", msg);
	int rc = srv_submit(s, r);
	if (rc) {
		srv_req_put(r); /* the scheduler's reference */
		srv_req_put(r);
		return rc == -EAGAIN ? send_error(s, c, 503, "queue_full", "the server is busy: %d requests queued, try again",
						  s->queue_max)
				     : send_error(s, c, 503, NULL, "the server is shutting down");
	}
	k->inflight = true;
	atomic_fetch_add(&s->inflight, 1);
	if (r->stream) {
		struct stream *sm = calloc(1, sizeof(*sm));
		struct MHD_Response *resp =
			sm ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, sm, stream_free) : NULL;
		if (!resp) {
			free(sm);
			srv_req_put(r);
			return MHD_NO;
		}
		*sm = (struct stream){ .s = s, .r = r, .c = c };
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
		enum MHD_Result q = MHD_queue_response(c, 200, resp);
		MHD_destroy_response(resp);
		count_status(s, 200);
		return q;
	}
	/* The whole answer: wait for it, watching for a client that hangs up. */
	pthread_mutex_lock(&r->mu);
	while (!r->done) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&r->cv, &r->mu, &ts);
		if (!r->done && client_gone(c)) {
			pthread_mutex_unlock(&r->mu);
			srv_req_put(r);
			return MHD_NO;
		}
	}
	json_t *j = r->err_status ? NULL : full_json(s, r);
	int es = r->err_status;
	char em[256];
	snprintf(em, sizeof(em), "%s", r->err_msg);
	pthread_mutex_unlock(&r->mu);
	srv_req_put(r);
	return es ? send_error(s, c, es, NULL, "%s", em) : send_json(s, c, 200, j);
}

static enum MHD_Result metrics(struct srv *s, struct MHD_Connection *c)
{
	pthread_mutex_lock(&s->mu);
	struct srv_metrics m = s->met;
	struct sluice_stats st = s->lib_stats;
	int q = s->q_len, act = s->n_active;
	pthread_mutex_unlock(&s->mu);
	size_t need = 0, cap = 16384;
	char *buf = malloc(cap);
	if (!buf)
		return MHD_NO;
	int rc = sluice_stats_prometheus(&st, buf, cap, &need);
	if (rc == -ENOSPC) {
		char *p = realloc(buf, need + 1 + 8192);
		if (!p) {
			free(buf);
			return MHD_NO;
		}
		buf = p;
		cap = need + 1 + 8192;
		rc = sluice_stats_prometheus(&st, buf, need + 1, &need);
	}
	if (rc)
		need = 0;
	char *o = NULL;
	size_t olen = 0;
	FILE *f = open_memstream(&o, &olen);
	if (!f) {
		free(buf);
		return MHD_NO;
	}
	fwrite(buf, 1, need, f);
	free(buf);
	fprintf(f, "# HELP sluice_server_requests_total HTTP requests answered, by status class.\n"
		   "# TYPE sluice_server_requests_total counter\n");
	static const char *const cls[6] = { "other", "1xx", "2xx", "3xx", "4xx", "5xx" };
	for (int i = 0; i < 6; i++)
		if (i != 1 && i != 3)
			fprintf(f, "sluice_server_requests_total{status=\"%s\"} %llu\n", cls[i], (unsigned long long)m.requests[i]);
	fprintf(f,
		"# HELP sluice_server_rejected_total Requests refused because the queue was full.\n"
		"# TYPE sluice_server_rejected_total counter\nsluice_server_rejected_total %llu\n"
		"# HELP sluice_server_cancelled_total Requests cancelled by a client that went away.\n"
		"# TYPE sluice_server_cancelled_total counter\nsluice_server_cancelled_total %llu\n"
		"# HELP sluice_server_prompt_tokens_total Prompt tokens evaluated.\n"
		"# TYPE sluice_server_prompt_tokens_total counter\nsluice_server_prompt_tokens_total %llu\n"
		"# HELP sluice_server_generated_tokens_total Tokens generated.\n"
		"# TYPE sluice_server_generated_tokens_total counter\nsluice_server_generated_tokens_total %llu\n"
		"# HELP sluice_server_decode_steps_total Batched decode steps (one pass over the weights each).\n"
		"# TYPE sluice_server_decode_steps_total counter\nsluice_server_decode_steps_total %llu\n"
		"# HELP sluice_server_decode_rows_total Tokens carried by the decode steps (rows / steps = batch size).\n"
		"# TYPE sluice_server_decode_rows_total counter\nsluice_server_decode_rows_total %llu\n"
		"# HELP sluice_server_decode_seconds_total Time in batched decode steps.\n"
		"# TYPE sluice_server_decode_seconds_total counter\nsluice_server_decode_seconds_total %.6f\n"
		"# HELP sluice_server_tokens_per_second Generated tokens per second of decoding, since start.\n"
		"# TYPE sluice_server_tokens_per_second gauge\nsluice_server_tokens_per_second %.3f\n"
		"# HELP sluice_server_queue_depth Requests waiting for a sequence.\n"
		"# TYPE sluice_server_queue_depth gauge\nsluice_server_queue_depth %d\n"
		"# HELP sluice_server_active_sequences Requests decoding now.\n"
		"# TYPE sluice_server_active_sequences gauge\nsluice_server_active_sequences %d\n"
		"# HELP sluice_server_inter_token_seconds Time between a request's tokens.\n"
		"# TYPE sluice_server_inter_token_seconds summary\n"
		"sluice_server_inter_token_seconds_sum %.6f\nsluice_server_inter_token_seconds_count %llu\n"
		"# HELP sluice_server_time_to_first_token_seconds From a request's arrival to its first token.\n"
		"# TYPE sluice_server_time_to_first_token_seconds histogram\n",
		(unsigned long long)m.rejected_busy, (unsigned long long)m.cancelled, (unsigned long long)m.prompt_tokens,
		(unsigned long long)m.gen_tokens, (unsigned long long)m.steps, (unsigned long long)m.step_rows,
		m.decode_ns / 1e9, m.decode_ns ? m.gen_tokens / (m.decode_ns / 1e9) : 0.0, q, act, m.itl_sum,
		(unsigned long long)m.itl_count);
	for (int i = 0; i < 10; i++)
		fprintf(f, "sluice_server_time_to_first_token_seconds_bucket{le=\"%g\"} %llu\n", srv_ttft_bounds[i],
			(unsigned long long)m.ttft_bucket[i]);
	fprintf(f,
		"sluice_server_time_to_first_token_seconds_bucket{le=\"+Inf\"} %llu\n"
		"sluice_server_time_to_first_token_seconds_sum %.6f\n"
		"sluice_server_time_to_first_token_seconds_count %llu\n",
		(unsigned long long)m.ttft_count, m.ttft_sum, (unsigned long long)m.ttft_count);
	if (fclose(f)) {
		free(o);
		return MHD_NO;
	}
	enum MHD_Result r = send_buf(s, c, 200, "text/plain; version=0.0.4", o, olen);
	free(o);
	return r;
}

static bool authorized(struct srv *s, struct MHD_Connection *c)
{
	if (!s->api_key)
		return true;
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h || strncasecmp(h, "Bearer ", 7))
		return false;
	const char *k = h + 7, *want = s->api_key;
	size_t kl = strlen(k), wl = strlen(want);
	unsigned diff = kl != wl;
	for (size_t i = 0; i < wl; i++) /* time independent of where they differ */
		diff |= (unsigned)(want[i] ^ (i < kl ? k[i] : 0));
	return diff == 0;
}

static enum MHD_Result route(struct srv *s, struct MHD_Connection *c, struct conn *k, const char *url,
			     const char *method)
{
	const bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
	if (!strcmp(url, "/health")) {
		int st = atomic_load(&s->state);
		return send_buf(s, c, st == 1 ? 200 : 503, "application/json",
				st == 1 ? "{\"status\":\"ok\"}" : "{\"status\":\"loading\"}", st == 1 ? 15 : 20);
	}
	if (!strcmp(url, "/metrics"))
		return metrics(s, c);
	if (!strncmp(url, "/v1/", 4) && !authorized(s, c))
		return send_error(s, c, 401, "invalid_api_key", "missing or wrong API key (Authorization: Bearer KEY)");
	if (!strcmp(url, "/v1/models")) {
		if (!get)
			return send_error(s, c, 405, NULL, "%s /v1/models: use GET", method);
		return send_json(s, c, 200,
				 json_pack("{s:s,s:[{s:s,s:s,s:I,s:s}]}", "object", "list", "data", "id", s->model_id,
					   "object", "model", "created", (json_int_t)0, "owned_by", "sluice"));
	}
	const bool chat = !strcmp(url, "/v1/chat/completions");
	if (chat || !strcmp(url, "/v1/completions")) {
		if (!post)
			return send_error(s, c, 405, NULL, "%s %s: use POST", method, url);
		return generate(s, c, k, chat);
	}
	return send_error(s, c, 404, NULL, "no such endpoint: %s %s", method, url);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			       const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct srv *s = cls;
	struct conn *k = *con_cls;
	(void)version;
	if (!k) {
		if (!(k = calloc(1, sizeof(*k))))
			return MHD_NO;
		k->t0 = srv_now_ns();
		*con_cls = k;
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > s->max_body) {
			k->responded = true;
			return send_error(s, c, 413, NULL, "the body (%s bytes) is over the limit of %zu bytes", cl, s->max_body);
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		/* libmicrohttpd takes a response only before the body or after it: a body too slow is
		 * cut by closing the connection, one too big is read to its end and discarded, then 413. */
		if (srv_now_ns() - k->t0 > (uint64_t)s->read_timeout_s * 1000000000ull)
			return MHD_NO;
		if (k->too_big || k->len + n > s->max_body) {
			k->too_big = true;
			free(k->body);
			k->body = NULL;
			k->len = k->cap = 0;
			return MHD_YES;
		}
		if (k->len + n + 1 > k->cap) {
			size_t nc = (k->len + n + 1) * 2;
			char *p = realloc(k->body, nc);
			if (!p)
				return MHD_NO;
			k->body = p;
			k->cap = nc;
		}
		memcpy(k->body + k->len, upload_data, n);
		k->len += n;
		return MHD_YES;
	}
	if (k->responded)
		return MHD_YES;
	if (k->too_big)
		return send_error(s, c, 413, NULL, "the body is over the limit of %zu bytes", s->max_body);
	return route(s, c, k, url, method);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct srv *s = cls;
	struct conn *k = *con_cls;
	(void)c;
	(void)toe;
	if (!k)
		return;
	if (k->inflight)
		atomic_fetch_sub(&s->inflight, 1);
	free(k->body);
	free(k);
	*con_cls = NULL;
}

struct MHD_Daemon *srv_http_start(struct srv *s, const char *host, int port, char *err, size_t err_len)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		flags |= MHD_USE_IPv6;
	} else {
		snprintf(err, err_len, "--host %s: not an IPv4 or IPv6 address", host);
		return NULL;
	}
	struct MHD_Daemon *d = MHD_start_daemon(
		flags, (uint16_t)port, NULL, NULL, handler, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->read_timeout_s,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)(s->parallel + s->queue_max + 64), MHD_OPTION_END);
	if (!d)
		snprintf(err, err_len, "cannot listen on %s port %d: %s", host, port, strerror(errno));
	return d;
}
