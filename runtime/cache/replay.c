/* SPDX-License-Identifier: MIT */
/* runtime/cache/replay.c — routing-trace parser and the offline expert-cache simulator (replay.h). */
#include "cache/replay.h"
#include "cache/lru.h"
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- parser ---- */

#define MAX_FIELDS 1100 /* header fields, or 2 + k record fields (k <= 1024) */

struct field {
	const char *s;
	size_t n;
};

/* Split [s, e) into whitespace-separated fields, '#' to the end of the line being a comment. */
static int split(const char *s, const char *e, struct field *f, int max)
{
	int n = 0;
	while (s < e) {
		while (s < e && (*s == ' ' || *s == '\t' || *s == '\r'))
			s++;
		if (s == e || *s == '#')
			break;
		const char *b = s;
		while (s < e && *s != ' ' && *s != '\t' && *s != '\r' && *s != '#')
			s++;
		if (n < max)
			f[n] = (struct field){ b, (size_t)(s - b) };
		n++;
	}
	return n;
}

static bool is(const struct field *f, const char *word)
{
	return f->n == strlen(word) && !memcmp(f->s, word, f->n);
}

/* A decimal unsigned integer <= max: digits only (no sign, no spaces). */
static bool num(const struct field *f, uint64_t max, uint64_t *out)
{
	if (!f->n || f->n > 20)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < f->n; i++) {
		if (!isdigit((unsigned char)f->s[i]) || sl_mul_overflow_u64(v, 10, &v) ||
		    sl_add_overflow_u64(v, (uint64_t)(f->s[i] - '0'), &v))
			return false;
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

static int grow(struct sl_trace *t, int64_t *cap)
{
	int64_t c = *cap ? *cap * 2 : 4096;
	int32_t *l = realloc(t->layer, (size_t)c * sizeof(*l));
	if (l)
		t->layer = l;
	uint64_t *tk = realloc(t->token, (size_t)c * sizeof(*tk));
	if (tk)
		t->token = tk;
	int32_t *e = realloc(t->experts, (size_t)c * (size_t)t->k * sizeof(*e));
	if (e)
		t->experts = e;
	if (!l || !tk || !e)
		return -ENOMEM;
	*cap = c;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

int sl_trace_parse(const char *text, size_t len, const char *name, struct sl_trace *out, struct sl_err *err)
{
	memset(out, 0, sizeof(*out));
	struct field *f = malloc(MAX_FIELDS * sizeof(*f));
	if (!f)
		return sl_errf(err, ENOMEM, "%s: out of memory", name);
	int stage = 0; /* 0: want the magic line, 1: want the model line, 2: records */
	int64_t cap = 0;
	uint64_t line = 0;
	int rc = 0;
	const char *p = text, *end = text + len;
	bool *seen = NULL;
	while (p < end && !rc) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		line++;
		if (memchr(p, '\0', (size_t)(e - p))) {
			rc = sl_errf(err, EINVAL, "%s:%llu: a NUL byte (not a text trace)", name, (unsigned long long)line);
			break;
		}
		int n = split(p, e, f, MAX_FIELDS);
		p = nl ? nl + 1 : end;
		if (n == 0)
			continue;
		if (stage == 0) {
			uint64_t v;
			if (n != 2 || !is(&f[0], "sluice-expert-trace") || !num(&f[1], UINT32_MAX, &v))
				rc = sl_errf(err, EINVAL, "%s:%llu: not a routing trace (expected 'sluice-expert-trace 1')",
					     name, (unsigned long long)line);
			else if (v != 1)
				rc = sl_errf(err, EINVAL, "%s:%llu: routing trace version %llu is not supported (1)", name,
					     (unsigned long long)line, (unsigned long long)v);
			stage = 1;
			continue;
		}
		if (stage == 1) {
			/* model NAME... layers N experts N used K first_moe L0 expert_bytes B (NAME may have spaces) */
			static const char *const keys[] = { "layers", "experts", "used", "first_moe", "expert_bytes" };
			uint64_t v[5];
			bool ok = n >= 12 && n <= MAX_FIELDS && is(&f[0], "model");
			for (int i = 0; ok && i < 5; i++) {
				ok = is(&f[n - 10 + 2 * i], keys[i]) &&
				     num(&f[n - 9 + 2 * i], i == 4 ? UINT64_MAX : (i == 2 ? 1024 : INT32_MAX), &v[i]);
			}
			if (!ok) {
				rc = sl_errf(err, EINVAL,
					     "%s:%llu: expected 'model NAME layers N experts N used K first_moe L0 "
					     "expert_bytes B'",
					     name, (unsigned long long)line);
				break;
			}
			size_t nl_len = (size_t)(f[n - 11].s + f[n - 11].n - f[1].s);
			snprintf(out->model, sizeof out->model, "%.*s", (int)SL_MIN(nl_len, sizeof out->model - 1),
				 f[1].s);
			out->n_layer = (int)v[0];
			out->n_expert = (int)v[1];
			out->k = (int)v[2];
			out->first_moe = (int)v[3];
			out->expert_bytes = v[4];
			if (!out->n_layer || !out->n_expert || !out->k || out->k > out->n_expert ||
			    out->first_moe >= out->n_layer ||
			    (uint64_t)out->n_layer * (uint64_t)out->n_expert > (uint64_t)INT32_MAX) {
				rc = sl_errf(err, EINVAL,
					     "%s:%llu: impossible shape: %d layers (first MoE layer %d), %d experts, %d used",
					     name, (unsigned long long)line, out->n_layer, out->first_moe, out->n_expert,
					     out->k);
				break;
			}
			if (!(seen = calloc((size_t)out->n_expert, 1))) {
				rc = sl_errf(err, ENOMEM, "%s: out of memory", name);
				break;
			}
			stage = 2;
			continue;
		}
		if (n != 2 + out->k) {
			rc = sl_errf(err, EINVAL, "%s:%llu: %d fields, expected %d (layer, token and %d experts)", name,
				     (unsigned long long)line, n, 2 + out->k, out->k);
			break;
		}
		uint64_t layer, tok;
		if (!num(&f[0], INT32_MAX, &layer) || (int64_t)layer < out->first_moe || (int64_t)layer >= out->n_layer) {
			rc = sl_errf(err, EINVAL, "%s:%llu: '%.*s' is not a MoE layer (%d..%d)", name,
				     (unsigned long long)line, (int)SL_MIN(f[0].n, 32u), f[0].s, out->first_moe,
				     out->n_layer - 1);
			break;
		}
		if (!num(&f[1], UINT64_MAX, &tok)) {
			rc = sl_errf(err, EINVAL, "%s:%llu: '%.*s' is not a token index", name, (unsigned long long)line,
				     (int)SL_MIN(f[1].n, 32u), f[1].s);
			break;
		}
		if (out->n_rec == cap && grow(out, &cap)) {
			rc = sl_errf(err, ENOMEM, "%s: out of memory at line %llu", name, (unsigned long long)line);
			break;
		}
		int32_t *ex = out->experts + out->n_rec * out->k;
		int n_ok = 0;
		for (int i = 0; i < out->k && !rc; i++) {
			uint64_t e;
			if (!num(&f[2 + i], (uint64_t)out->n_expert - 1, &e))
				rc = sl_errf(err, EINVAL, "%s:%llu: '%.*s' is not an expert id (0..%d)", name,
					     (unsigned long long)line, (int)SL_MIN(f[2 + i].n, 32u), f[2 + i].s,
					     out->n_expert - 1);
			else if (seen[e])
				rc = sl_errf(err, EINVAL, "%s:%llu: expert %llu is listed twice", name,
					     (unsigned long long)line, (unsigned long long)e);
			else {
				seen[e] = true;
				ex[n_ok++] = (int32_t)e;
			}
		}
		for (int i = 0; i < n_ok; i++)
			seen[ex[i]] = false;
		if (rc)
			break;
		out->layer[out->n_rec] = (int32_t)layer;
		out->token[out->n_rec] = tok;
		out->n_rec++;
	}
	free(seen);
	free(f);
	if (!rc && stage < 2)
		rc = sl_errf(err, EINVAL, "%s: %s", name,
			     stage == 0 ? "empty: not a routing trace (expected 'sluice-expert-trace 1')"
					: "ends before its 'model ...' line");
	if (!rc && out->n_rec) {
		uint64_t *s = malloc((size_t)out->n_rec * sizeof(*s));
		if (!s)
			rc = sl_errf(err, ENOMEM, "%s: out of memory", name);
		else {
			memcpy(s, out->token, (size_t)out->n_rec * sizeof(*s));
			qsort(s, (size_t)out->n_rec, sizeof(*s), cmp_u64);
			for (int64_t i = 0; i < out->n_rec; i++)
				out->n_tokens += !i || s[i] != s[i - 1];
			free(s);
		}
	}
	if (rc)
		sl_trace_free(out);
	return rc;
}

int sl_trace_load(const char *path, struct sl_trace *out, struct sl_err *err)
{
	memset(out, 0, sizeof(*out));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sl_errf(err, errno, "%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return sl_errf(err, EINVAL, "%s: not a regular file", path);
	}
	size_t len = (size_t)st.st_size, got = 0;
	char *buf = malloc(len ? len : 1);
	if (!buf) {
		close(fd);
		return sl_errf(err, ENOMEM, "%s: out of memory for %zu bytes", path, len);
	}
	while (got < len) {
		ssize_t k = read(fd, buf + got, len - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			int e = k < 0 ? errno : EIO;
			free(buf);
			close(fd);
			return sl_errf(err, e, "%s: read failed: %s", path, k < 0 ? strerror(e) : "file shrank");
		}
		got += (size_t)k;
	}
	close(fd);
	int rc = sl_trace_parse(buf, len, path, out, err);
	free(buf);
	return rc;
}

void sl_trace_free(struct sl_trace *t)
{
	if (!t)
		return;
	free(t->layer);
	free(t->token);
	free(t->experts);
	t->layer = NULL;
	t->token = NULL;
	t->experts = NULL;
	t->n_rec = 0;
}

/* ---- simulator ---- */

/* Belady's heap: max-heap of (next use, id); stale entries (cur[id] != key or not cached) are skipped. */
struct hent {
	int64_t key;
	int32_t id;
};

struct heap {
	struct hent *a;
	size_t n, cap;
};

static int heap_push(struct heap *h, int64_t key, int32_t id)
{
	if (h->n == h->cap) {
		size_t c = h->cap ? h->cap * 2 : 1024;
		struct hent *a = realloc(h->a, c * sizeof(*a));
		if (!a)
			return -ENOMEM;
		h->a = a;
		h->cap = c;
	}
	size_t i = h->n++;
	while (i && h->a[(i - 1) / 2].key < key) {
		h->a[i] = h->a[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h->a[i] = (struct hent){ key, id };
	return 0;
}

static void heap_pop(struct heap *h)
{
	struct hent last = h->a[--h->n];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->a[c + 1].key > h->a[c].key)
			c++;
		if (h->a[c].key <= last.key)
			break;
		h->a[i] = h->a[c];
		i = c;
	}
	if (h->n)
		h->a[i] = last;
}

#define NEVER INT64_MAX

struct sim {
	const struct sl_trace *t;
	uint64_t cap, used;
	bool *cached, *cur; /* per entry id */
	struct sl_policy pol;
	bool belady;
	/* belady */
	int64_t *next;    /* per access (n_rec * k): record index of the id's next use, NEVER if none */
	int64_t *key;     /* per entry id: its current next use */
	struct heap heap;
};

static int entry(const struct sl_trace *t, int64_t r, int i)
{
	return t->layer[r] * t->n_expert + t->experts[r * t->k + i];
}

static int belady_prepare(struct sim *s)
{
	const struct sl_trace *t = s->t;
	const size_t n_ids = (size_t)t->n_layer * (size_t)t->n_expert;
	int64_t *last = malloc(n_ids * sizeof(*last));
	s->next = malloc((size_t)(t->n_rec ? t->n_rec : 1) * (size_t)t->k * sizeof(*s->next));
	s->key = malloc(n_ids * sizeof(*s->key));
	if (!last || !s->next || !s->key) {
		free(last);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n_ids; i++)
		last[i] = NEVER;
	for (int64_t r = t->n_rec - 1; r >= 0; r--) {
		for (int i = 0; i < t->k; i++) {
			int id = entry(t, r, i);
			s->next[r * t->k + i] = last[id];
			last[id] = r;
		}
	}
	free(last);
	return 0;
}

/* Belady: the cached entry (not in the batch) whose next use is farthest; -1 if none. *key_out = its next use. */
static int belady_victim(struct sim *s, int64_t *key_out)
{
	while (s->heap.n) {
		struct hent top = s->heap.a[0];
		if (!s->cached[top.id] || s->key[top.id] != top.key) {
			heap_pop(&s->heap); /* stale */
			continue;
		}
		if (s->cur[top.id])
			return -1; /* the batch's entries carry the current record as key: nothing later is cached */
		*key_out = top.key;
		return top.id;
	}
	return -1;
}

static int online_victim(struct sim *s)
{
	for (int v = s->pol.ops->next_victim(&s->pol, -1); v >= 0; v = s->pol.ops->next_victim(&s->pol, v))
		if (!s->cur[v])
			return v;
	return -1;
}

/* One miss of entry id at record r (access index a): cache it if there is room or a victim. */
static int miss(struct sim *s, int id, int64_t r, int64_t a)
{
	if (s->cap == 0)
		return 0;
	if (s->belady) {
		if (s->used == s->cap) {
			int64_t vkey;
			int v = belady_victim(s, &vkey);
			/* bypass: keeping the victim is at least as good when the newcomer is needed no sooner */
			if (v < 0 || s->next[a] >= vkey)
				return 0;
			s->cached[v] = false;
			s->used--;
		}
		s->cached[id] = true;
		s->used++;
		s->key[id] = r; /* the current record until the batch is done (never the farthest) */
		return heap_push(&s->heap, r, id);
	}
	if (s->used == s->cap) {
		int v = online_victim(s);
		if (v < 0)
			return 0;
		s->pol.ops->remove(&s->pol, v);
		s->cached[v] = false;
		s->used--;
	}
	s->pol.ops->insert(&s->pol, id);
	s->cached[id] = true;
	s->used++;
	return 0;
}

int sl_replay(const struct sl_trace *t, const char *policy, uint64_t capacity, const bool *pinned,
	      struct sl_replay_result *out, struct sl_err *err)
{
	memset(out, 0, sizeof(*out));
	if (!t || !policy || t->n_layer <= 0 || t->n_expert <= 0 || t->k <= 0)
		return sl_errf(err, EINVAL, "replay: no trace or no policy");
	const size_t n_ids = (size_t)t->n_layer * (size_t)t->n_expert;
	struct sim s = { .t = t, .cap = SL_MIN(capacity, (uint64_t)n_ids), .belady = !strcmp(policy, "belady") };
	int rc = 0;
	if (!s.belady) {
		rc = sl_policy_init(&s.pol, policy, (int)n_ids);
		if (rc == -ENOENT)
			return sl_errf(err, ENOENT, "replay: '%s' is not a cache policy (belady, or one the store has: lru, ...)",
				       policy);
		if (rc)
			return sl_errf(err, -rc, "replay: policy '%s' cannot start: %s", policy, strerror(-rc));
	}
	s.cached = calloc(n_ids, 1);
	s.cur = calloc(n_ids, 1);
	out->layer_accesses = calloc((size_t)t->n_layer, sizeof(uint64_t));
	out->layer_hits = calloc((size_t)t->n_layer, sizeof(uint64_t));
	bool *hit = malloc((size_t)t->k), *pin = malloc((size_t)t->k);
	if (!s.cached || !s.cur || !out->layer_accesses || !out->layer_hits || !hit || !pin ||
	    (s.belady && belady_prepare(&s))) {
		rc = sl_errf(err, ENOMEM, "replay: out of memory");
		goto out;
	}
	for (int64_t r = 0; r < t->n_rec && !rc; r++) {
		const int L = t->layer[r];
		for (int i = 0; i < t->k; i++) {
			int id = entry(t, r, i);
			s.cur[id] = true;
			pin[i] = pinned && pinned[id];
			hit[i] = pin[i] || s.cached[id];
			out->accesses++;
			out->layer_accesses[L]++;
			if (hit[i]) {
				out->hits++;
				out->layer_hits[L]++;
			}
		}
		/* The batch: hits are used (touched) first, then the misses come in. */
		for (int i = 0; i < t->k; i++) {
			if (!hit[i] || pin[i])
				continue;
			/* (belady: a hit's key is already r, its next use was this record) */
			if (!s.belady)
				s.pol.ops->touch(&s.pol, entry(t, r, i));
		}
		for (int i = 0; i < t->k && !rc; i++)
			if (!hit[i])
				rc = miss(&s, entry(t, r, i), r, r * t->k + i);
		for (int i = 0; i < t->k && !rc; i++) {
			int id = entry(t, r, i);
			s.cur[id] = false;
			if (s.belady && s.cached[id]) {
				s.key[id] = s.next[r * t->k + i];
				rc = heap_push(&s.heap, s.key[id], id);
			}
		}
	}
	if (rc) {
		rc = sl_errf(err, ENOMEM, "replay: out of memory");
		goto out;
	}
	out->misses = out->accesses - out->hits;
	out->tokens = t->n_tokens;
	out->hit_rate = out->accesses ? (double)out->hits / (double)out->accesses : 0.0;
	out->misses_per_token = out->tokens ? (double)out->misses / (double)out->tokens : 0.0;
	out->bytes_per_token = out->misses_per_token * (double)t->expert_bytes;
out:
	free(hit);
	free(pin);
	free(s.cached);
	free(s.cur);
	free(s.next);
	free(s.key);
	free(s.heap.a);
	if (!s.belady)
		sl_policy_destroy(&s.pol);
	if (rc)
		sl_replay_result_free(out);
	return rc;
}

void sl_replay_result_free(struct sl_replay_result *r)
{
	if (!r)
		return;
	free(r->layer_accesses);
	free(r->layer_hits);
	r->layer_accesses = r->layer_hits = NULL;
}
