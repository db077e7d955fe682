/* SPDX-License-Identifier: MIT */
/*
 * tools/sluice/serve_req.c — an OpenAI request body (JSON, parsed by jansson) into a struct
 * srv_req: the prompt as tokens (a chat through the model's chat template), the sampler, max_tokens,
 * stop strings.  Every field is checked for its type; a wrong one is a 400 naming it.  A prompt
 * that cannot fit in a sequence's context with its max_tokens is a 400 context_length_exceeded,
 * decided here so the scheduler never runs out of context.
 */
#include "chat/chat.h"
#include "model/model.h"
#include "serve.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BAD(...) (snprintf(msg, msg_len, __VA_ARGS__), 400)

uint64_t srv_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 when the byte there starts none
 * (overlong forms, surrogates and code points past U+10FFFF are invalid, as JSON wants). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	if (s[0] < 0x80)
		return 1;
	size_t k = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
	if (!k || s[0] > 0xF4 || k > n)
		return 0;
	for (size_t i = 1; i < k; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	if (k == 3 && ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0)))
		return 0;
	if (k == 4 && ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90)))
		return 0;
	return k;
}

int srv_append_utf8(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + 3 * n + 1 > *cap) {
		size_t nc = (*cap ? *cap * 2 : 256) + 3 * n + 1;
		char *p = realloc(*buf, nc);
		if (!p)
			return -ENOMEM;
		*buf = p;
		*cap = nc;
	}
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq((const unsigned char *)s + i, n - i);
		if (k) {
			memcpy(*buf + *len, s + i, k);
			*len += k;
			i += k;
		} else {
			memcpy(*buf + *len, "\xEF\xBF\xBD", 3);
			*len += 3;
			i++;
		}
	}
	(*buf)[*len] = 0;
	return 0;
}

/* A message's content: a string, or OpenAI's array of parts of which the "text" ones count. */
static int content_text(json_t *c, char **out, char *msg, size_t msg_len, size_t i)
{
	if (json_is_string(c)) {
		*out = strdup(json_string_value(c));
		return *out ? 0 : 500;
	}
	if (!json_is_array(c))
		return BAD("messages[%zu].content must be a string or an array of text parts", i);
	size_t len = 0, cap = 0, k;
	char *t = NULL;
	json_t *part;
	json_array_foreach (c, k, part) {
		json_t *ty = json_object_get(part, "type"), *tx = json_object_get(part, "text");
		if (!json_is_object(part) || !json_is_string(ty) || strcmp(json_string_value(ty), "text") ||
		    !json_is_string(tx)) {
			free(t);
			return BAD("messages[%zu].content[%zu] must be {\"type\": \"text\", \"text\": string}", i, k);
		}
		if (srv_append_utf8(&t, &len, &cap, json_string_value(tx), json_string_length(tx))) {
			free(t);
			return 500;
		}
	}
	*out = t ? t : strdup("");
	return *out ? 0 : 500;
}

/* The conversation through the model's chat template, tokenized with its special tokens. */
static int chat_prompt(struct srv *s, json_t *msgs, struct srv_req *r, char *msg, size_t msg_len)
{
	if (!json_is_array(msgs) || json_array_size(msgs) == 0)
		return BAD("'messages' must be a non-empty array");
	size_t n = json_array_size(msgs), i;
	if (n > 4096)
		return BAD("too many messages (%zu, at most 4096)", n);
	struct sl_chat_msg *cm = calloc(n, sizeof(*cm));
	char **texts = calloc(n, sizeof(*texts));
	int st = cm && texts ? 0 : 500;
	json_t *mm;
	json_array_foreach (msgs, i, mm) {
		if (st)
			break;
		json_t *role = json_object_get(mm, "role");
		if (!json_is_object(mm) || !json_is_string(role)) {
			st = BAD("messages[%zu] must be an object with a string 'role'", i);
			break;
		}
		const char *rs = json_string_value(role);
		if (!strcmp(rs, "developer"))
			rs = "system";
		if (strcmp(rs, "system") && strcmp(rs, "user") && strcmp(rs, "assistant")) {
			st = BAD("messages[%zu].role '%.40s' is not one of system, developer, user, assistant", i, rs);
			break;
		}
		json_t *c = json_object_get(mm, "content");
		if (!c) {
			st = BAD("messages[%zu] has no 'content'", i);
			break;
		}
		st = content_text(c, &texts[i], msg, msg_len, i);
		cm[i] = (struct sl_chat_msg){ rs, texts[i] };
	}
	char *text = NULL;
	size_t len = 0;
	if (!st) {
		struct sl_err err = { "" };
		int rc = sl_chat_render((enum sl_chat_template)s->chat_tmpl, cm, n, true, s->bos_text, &text, &len, &err);
		if (rc)
			st = rc == -ENOMEM ? 500 : BAD("messages: %s", err.msg);
	}
	if (!st) {
		const struct sl_vocab *v = s->m->vocab;
		size_t nt = 0;
		int rc = sl_tokenize_ex(v, text, len, SL_TOKENIZE_PARSE_SPECIAL, NULL, 0, &nt);
		if ((rc && rc != -ENOSPC) || !(r->prompt = malloc((nt ? nt : 1) * sizeof(int32_t))) ||
		    sl_tokenize_ex(v, text, len, SL_TOKENIZE_PARSE_SPECIAL, r->prompt, nt, &nt))
			st = rc == -ENOMEM || !r->prompt ? 500 : BAD("the conversation cannot be tokenized");
		r->n_prompt = nt;
	}
	for (size_t k = 0; texts && k < n; k++)
		free(texts[k]);
	free(texts);
	free(cm);
	free(text);
	return st;
}

static int completion_prompt(struct srv *s, json_t *p, struct srv_req *r, char *msg, size_t msg_len)
{
	if (json_is_array(p) && json_array_size(p) == 1 && json_is_string(json_array_get(p, 0)))
		p = json_array_get(p, 0);
	if (!json_is_string(p))
		return BAD("'prompt' must be a string (or an array of one string)");
	const char *t = json_string_value(p);
	size_t len = json_string_length(p), n = 0;
	int rc = sluice_tokenize(s->m, t, len, true, NULL, 0, &n);
	if (rc && rc != -ENOSPC)
		return BAD("the prompt cannot be tokenized: %s", sluice_model_error(s->m));
	r->prompt = malloc((n ? n : 1) * sizeof(int32_t));
	if (!r->prompt)
		return 500;
	if (sluice_tokenize(s->m, t, len, true, r->prompt, n, &n))
		return BAD("the prompt cannot be tokenized: %s", sluice_model_error(s->m));
	r->n_prompt = n;
	return 0;
}

static int stops(json_t *st, struct srv_req *r, char *msg, size_t msg_len)
{
	size_t n = 1;
	if (!st || json_is_null(st))
		return 0;
	if (json_is_array(st)) {
		n = json_array_size(st);
		if (n > SRV_MAX_STOP)
			return BAD("'stop' has %zu strings, at most %d", n, SRV_MAX_STOP);
	} else if (!json_is_string(st)) {
		return BAD("'stop' must be a string or an array of strings");
	}
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_is_array(st) ? json_array_get(st, i) : st;
		if (!json_is_string(e))
			return BAD("'stop' must be a string or an array of strings");
		if (json_string_length(e) == 0)
			continue;
		r->stop_len[r->n_stop] = json_string_length(e);
		if (!(r->stop[r->n_stop++] = strndup(json_string_value(e), json_string_length(e))))
			return 500;
	}
	return 0;
}

/* A number field: absent or null leaves *v; else it must be a number within [lo, hi]. */
static int num_field(json_t *o, const char *key, double lo, double hi, double *v, char *msg, size_t msg_len)
{
	json_t *x = json_object_get(o, key);
	if (!x || json_is_null(x))
		return 0;
	if (!json_is_number(x))
		return BAD("'%s' must be a number", key);
	double d = json_number_value(x);
	if (!(d >= lo && d <= hi))
		return BAD("'%s' is %g, must be within [%g, %g]", key, d, lo, hi);
	*v = d;
	return 0;
}

static int bool_field(json_t *o, const char *key, bool *v, char *msg, size_t msg_len)
{
	json_t *x = json_object_get(o, key);
	if (!x || json_is_null(x))
		return 0;
	if (!json_is_boolean(x))
		return BAD("'%s' must be a boolean", key);
	*v = json_is_true(x);
	return 0;
}

void srv_req_free(struct srv_req *r)
{
	if (!r)
		return;
	free(r->prompt);
	for (int i = 0; i < r->n_stop; i++)
		free(r->stop[i]);
	sluice_sampler_free(r->smp);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r->text);
	free(r->toks);
	free(r->pend);
	free(r);
}

int srv_parse(struct srv *s, bool chat, const char *body, size_t len, struct srv_req **out, char *msg,
	      size_t msg_len, const char **code)
{
	json_error_t je;
	*out = NULL;
	*code = NULL;
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return BAD("malformed JSON: %s (line %d, column %d)", je.text, je.line, je.column);
	struct srv_req *r = calloc(1, sizeof(*r));
	int st = r ? 0 : 500;
	if (r) {
		pthread_mutex_init(&r->mu, NULL);
		pthread_cond_init(&r->cv, NULL);
		r->slot = -1;
		r->refs = 2;
		r->chat = chat;
		atomic_init(&r->cancel, false);
	}
	if (!st && !json_is_object(root))
		st = BAD("the body must be a JSON object");
	json_t *model = st ? NULL : json_object_get(root, "model");
	if (!st && model && !json_is_string(model) && !json_is_null(model))
		st = BAD("'model' must be a string");
	double temp = 1.0, top_p = 1.0, max_tokens = -1, n = 1;
	uint64_t seed = 0;
	bool has_seed = false;
	bool include_usage = false;
	if (!st)
		st = num_field(root, "temperature", 0, 2, &temp, msg, msg_len);
	if (!st)
		st = num_field(root, "top_p", 1e-9, 1, &top_p, msg, msg_len);
	if (!st)
		st = num_field(root, "max_tokens", 1, 1e9, &max_tokens, msg, msg_len);
	if (!st)
		st = num_field(root, "max_completion_tokens", 1, 1e9, &max_tokens, msg, msg_len);
	if (!st)
		st = num_field(root, "n", 1, 1, &n, msg, msg_len);
	if (!st) {
		json_t *sd = json_object_get(root, "seed");
		if (sd && !json_is_null(sd) && !json_is_integer(sd))
			st = BAD("'seed' must be an integer");
		else if (sd && json_is_integer(sd))
			seed = (uint64_t)json_integer_value(sd), has_seed = true;
	}
	if (!st && json_is_real(json_object_get(root, "max_tokens")) &&
	    json_real_value(json_object_get(root, "max_tokens")) != floor(max_tokens))
		st = BAD("'max_tokens' must be an integer");
	if (!st)
		st = bool_field(root, "stream", &r->stream, msg, msg_len);
	if (!st)
		st = bool_field(root, "return_token_ids", &r->want_ids, msg, msg_len);
	if (!st) {
		json_t *so = json_object_get(root, "stream_options");
		if (so && !json_is_null(so) && !json_is_object(so))
			st = BAD("'stream_options' must be an object");
		else if (so && json_is_object(so))
			st = bool_field(so, "include_usage", &include_usage, msg, msg_len);
		r->include_usage = include_usage;
	}
	if (!st)
		st = stops(json_object_get(root, "stop"), r, msg, msg_len);
	if (!st) {
		json_t *p = json_object_get(root, chat ? "messages" : "prompt");
		if (!p)
			st = BAD("'%s' is required", chat ? "messages" : "prompt");
		else
			st = chat ? chat_prompt(s, p, r, msg, msg_len) : completion_prompt(s, p, r, msg, msg_len);
	}
	if (!st && r->n_prompt == 0)
		st = BAD("the prompt is empty (no tokens)");
	if (!st) {
		const uint64_t room = s->n_ctx > r->n_prompt ? s->n_ctx - r->n_prompt : 0;
		if (max_tokens < 0)
			max_tokens = (double)room;
		if (room == 0 || (uint64_t)max_tokens > room) {
			*code = "context_length_exceeded";
			st = BAD("this model's context is %u tokens per request; the prompt has %zu and max_tokens asks for "
				 "%.0f more",
				 s->n_ctx, r->n_prompt, max_tokens < 0 ? 0 : max_tokens);
		}
		r->max_tokens = (uint32_t)max_tokens;
	}
	if (!st) {
		struct sluice_sampler_params sp;
		sluice_sampler_params_init(&sp);
		sp.temperature = (float)temp;
		sp.top_p = (float)top_p;
		sp.top_k = 0;
		sp.seed = has_seed ? seed : srv_now_ns();
		char err[256];
		if (sluice_sampler_new(&sp, &r->smp, err, sizeof(err)))
			st = BAD("sampling parameters: %s", err);
	}
	json_decref(root);
	if (st) {
		srv_req_free(r);
		if (st == 500)
			snprintf(msg, msg_len, "out of memory");
		return st;
	}
	if (chat) {
		memcpy(r->eot, s->eot, sizeof(r->eot));
		r->n_eot = s->n_eot;
	}
	r->created = (long long)time(NULL);
	static atomic_ullong counter;
	snprintf(r->id, sizeof(r->id), "%s-%llx%llx", chat ? "chatcmpl" : "cmpl", (unsigned long long)time(NULL),
		 (unsigned long long)atomic_fetch_add(&counter, 1));
	sl_detok_stream_init(&r->ds);
	r->t_arrive_ns = srv_now_ns();
	*out = r;
	return 0;
}
