/* SPDX-License-Identifier: MIT */
/*
 * runtime/trace.c — the trace recorder (trace.h) and its Chrome JSON writer; the public
 * sluice_trace_start / sluice_trace_stop / sluice_trace_totals.
 */
#include "trace.h"
#include "trace_internal.h"

#include "atomic_file.h"
#include "internal.h"
#include "sluice.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <x86intrin.h>
#endif

int sl_trace_on;

struct tbuf sl_trace_bufs[SL_TRACE_THREADS];
struct ev *sl_trace_pool;        /* SL_TRACE_CHUNKS chunks of SL_TRACE_CHUNK events */
static atomic_uint next_chunk;
static atomic_uint nbufs;        /* buffers claimed in this session */
static atomic_uint gen;          /* session number: a thread re-claims a buffer in a new one */
static atomic_ullong lost;       /* events of threads past the last buffer */
static _Atomic int64_t counters[SL_TC_N];
static const char *const counter_names[SL_TC_N] = { "io bytes in flight" };
uint64_t sl_trace_t0;
static bool have_file;
static struct sl_atomic_file af;
static pthread_mutex_t ctl = PTHREAD_MUTEX_INITIALIZER;

/* ---- the clock (trace_internal.h) ---- */

static bool use_tsc;                /* chosen once, at the first session */
static uint64_t ns0;                /* CLOCK_MONOTONIC at sl_trace_t0 */
static double ns_per_tick = 1.0;    /* measured at stop (and on demand while a session runs) */

static bool tsc_invariant(void)
{
#if defined(__x86_64__)
	unsigned a, b, c, d;
	if (__get_cpuid(0x80000000u, &a, &b, &c, &d) && a >= 0x80000007u &&
	    __get_cpuid(0x80000007u, &a, &b, &c, &d))
		return d & (1u << 8);
#endif
	return false;
}

uint64_t sl_trace_clock(void)
{
#if defined(__x86_64__)
	if (use_tsc)
		return __rdtsc();
#endif
	return sl_now_ns();
}

/* The rate of the clock over the session so far (1 for a clock that counts nanoseconds). */
static void measure_rate(uint64_t t_now, uint64_t ns_now)
{
	if (!use_tsc)
		ns_per_tick = 1.0;
	else if (t_now > sl_trace_t0 && ns_now > ns0)
		ns_per_tick = (double)(ns_now - ns0) / (double)(t_now - sl_trace_t0);
}

uint64_t sl_trace_rel_ns(uint64_t t)
{
	return t > sl_trace_t0 ? (uint64_t)((double)(t - sl_trace_t0) * ns_per_tick) : 0;
}

uint64_t sl_trace_span_ns(uint64_t a, uint64_t b)
{
	return b > a ? (uint64_t)((double)(b - a) * ns_per_tick) : 0;
}

static _Thread_local struct tbuf *tl_buf;
static _Thread_local unsigned tl_gen;
static _Thread_local const char *tl_name;

void sl_trace_thread(const char *name)
{
	tl_name = name;
	if (tl_buf && tl_gen == atomic_load_explicit(&gen, memory_order_acquire))
		tl_buf->name = name;
}

/* Claim the next buffer of this session for a track (a thread, or a device queue). */
static struct tbuf *claim(long tid, const char *name)
{
	unsigned i = atomic_fetch_add(&nbufs, 1);
	if (i >= SL_TRACE_THREADS)
		return NULL;
	struct tbuf *b = &sl_trace_bufs[i];
	b->drops = 0;
	b->depth = 0;
	b->skip = 0;
	b->tid = tid;
	b->name = name;
	b->cur = NULL;
	b->cur_n = 0;
	atomic_store_explicit(&b->nch, 0, memory_order_release);
	return b;
}

static struct tbuf *my_buf(void)
{
	unsigned g = atomic_load_explicit(&gen, memory_order_acquire);
	if (tl_gen == g)
		return tl_buf;
	tl_gen = g;
	tl_buf = claim((long)syscall(SYS_gettid), tl_name);
	return tl_buf;
}

static bool new_chunk(struct tbuf *t)
{
	unsigned k = atomic_load_explicit(&t->nch, memory_order_relaxed);
	if (k >= SL_TRACE_CHUNKS)
		return false;
	unsigned idx = atomic_fetch_add_explicit(&next_chunk, 1, memory_order_relaxed);
	if (idx >= SL_TRACE_CHUNKS)
		return false;
	t->ch[k].idx = idx;
	atomic_store_explicit(&t->ch[k].n, 0, memory_order_relaxed);
	atomic_store_explicit(&t->nch, k + 1, memory_order_release);
	t->cur = sl_trace_pool + (size_t)idx * SL_TRACE_CHUNK;
	t->cur_n = 0;
	return true;
}

/* Record one event into buffer t (its owner's thread, or the track's single writer). */
static void rec_into(struct tbuf *t, uint64_t ts, char ph, const char *cat, const char *name, uint64_t id,
		     const char *keys, int64_t a, int64_t b, int64_t c, int64_t d)
{
	if (ph == 'E') {
		if (t->skip) {
			t->skip--;
			return;
		}
		if (!t->depth) /* began before tracing did */
			return;
		t->depth--; /* room was kept for it in this chunk */
	} else {
		/* keep room in the chunk for the ends of the open spans (and this one's) */
		unsigned need = t->depth + (ph == 'B' ? 2 : 1);
		if (t->skip || ((!t->cur || t->cur_n + need > SL_TRACE_CHUNK) && !new_chunk(t))) {
			t->drops++;
			if (ph == 'B')
				t->skip++;
			return;
		}
		if (ph == 'B')
			t->depth++;
	}
	struct ev *e = &t->cur[t->cur_n];
	e->ts = ts ? ts : sl_trace_clock();
	e->ph = ph;
	e->cat = cat;
	e->name = name;
	e->keys = keys;
	e->id = id;
	e->v[0] = a;
	e->v[1] = b;
	e->v[2] = c;
	e->v[3] = d;
	atomic_store_explicit(&t->ch[atomic_load_explicit(&t->nch, memory_order_relaxed) - 1].n, ++t->cur_n,
			      memory_order_release);
}

void sl_trace_rec(char ph, const char *cat, const char *name, uint64_t id, const char *keys, int64_t a, int64_t b,
		  int64_t c, int64_t d)
{
	/* acquire: the session that turned the flag on (its gen, its pool) is seen whole */
	if (!__atomic_load_n(&sl_trace_on, __ATOMIC_ACQUIRE))
		return;
	struct tbuf *t = my_buf();
	if (!t) {
		atomic_fetch_add_explicit(&lost, 1, memory_order_relaxed);
		return;
	}
	rec_into(t, 0, ph, cat, name, id, keys, a, b, c, d);
}

/* ---- tracks of device queues (trace.h) ---- */

#define TRACK_TID_BASE 0x40000000L /* above any pid_max: never a real thread's id */

bool sl_trace_track_open(struct sl_trace_track *tr)
{
	if (!__atomic_load_n(&sl_trace_on, __ATOMIC_ACQUIRE))
		return false;
	unsigned g = atomic_load_explicit(&gen, memory_order_acquire);
	if (tr->gen == g)
		return tr->buf != NULL;
	static atomic_long next_tid = TRACK_TID_BASE;
	tr->gen = g;
	tr->last_end = 0;
	tr->buf = claim(atomic_fetch_add(&next_tid, 1), tr->name);
	if (!tr->buf)
		atomic_fetch_add_explicit(&lost, 1, memory_order_relaxed);
	return tr->buf != NULL;
}

void sl_trace_track_span(struct sl_trace_track *tr, uint64_t t_begin, uint64_t t_end, const char *cat,
			 const char *name, const char *keys, int64_t a, int64_t b)
{
	if (!sl_trace_track_open(tr))
		return;
	/* A queue runs one thing at a time: spans that overlap by rounding are laid end to end. */
	if (t_begin < tr->last_end)
		t_begin = tr->last_end;
	if (t_end < t_begin)
		t_end = t_begin;
	tr->last_end = t_end;
	rec_into(tr->buf, t_begin ? t_begin : 1, 'B', cat, name, 0, keys, a, b, 0, 0);
	rec_into(tr->buf, t_end ? t_end : 1, 'E', "", "", 0, "", 0, 0, 0, 0);
}

uint64_t sl_trace_clock_after(uint64_t t, uint64_t ns)
{
	/* the rate so far (a session that has run for a millisecond knows it to 1e-4) */
	if (use_tsc) {
		uint64_t now = sl_trace_clock(), ns_now = sl_now_ns();
		if (now > sl_trace_t0 && ns_now > ns0)
			return t + (uint64_t)((double)ns * (double)(now - sl_trace_t0) / (double)(ns_now - ns0));
	}
	return t + ns;
}

void sl_trace_counter_add(enum sl_trace_counter k, int64_t delta)
{
	int64_t v = atomic_fetch_add_explicit(&counters[k], delta, memory_order_relaxed) + delta;
	sl_trace_rec('C', "counter", counter_names[k], 0, "", v, 0, 0, 0);
}

static void set_err(char *err, size_t len, const char *msg)
{
	if (err && len)
		snprintf(err, len, "%s", msg);
}

SLUICE_API int sluice_trace_start(const char *path, char *err, size_t err_len)
{
	struct sl_err e = { { 0 } };
	int rc = 0;
	pthread_mutex_lock(&ctl);
	if (sl_trace_on) {
		rc = sl_errf(&e, EBUSY, "sluice_trace_start: tracing is already on");
		goto out;
	}
	if (path && !*path) {
		rc = sl_errf(&e, EINVAL, "sluice_trace_start: empty path");
		goto out;
	}
	/* Kept for the next session: a thread still inside sl_trace_rec may write to it.  Faulted in
	 * here, all of it (MAP_POPULATE), not by the recording threads: a first touch costs a page
	 * fault per 4 KiB (57 events), microseconds in a VM, which was most of tracing's cost. */
	if (!sl_trace_pool) {
		const size_t len = (size_t)SL_TRACE_CHUNKS * SL_TRACE_CHUNK * sizeof(struct ev);
		void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (p == MAP_FAILED) {
			rc = sl_errf(&e, ENOMEM, "sluice_trace_start: out of memory for the trace buffers (%zu bytes)",
				     len);
			goto out;
		}
		sl_trace_pool = p;
	}
	have_file = false;
	if (path) {
		if ((rc = sl_atomic_file_open(&af, path, NULL, &e)) < 0)
			goto out;
		have_file = true;
	}
	for (int k = 0; k < SL_TC_N; k++)
		atomic_store(&counters[k], 0);
	atomic_store(&lost, 0);
	atomic_store(&nbufs, 0);
	atomic_store(&next_chunk, 0);
	static bool clock_chosen;
	if (!clock_chosen) {
		use_tsc = tsc_invariant();
		clock_chosen = true;
	}
	ns0 = sl_now_ns();
	sl_trace_t0 = sl_trace_clock();
	ns_per_tick = 1.0;
	atomic_fetch_add_explicit(&gen, 1, memory_order_release);
	__atomic_store_n(&sl_trace_on, 1, __ATOMIC_RELEASE);
out:
	pthread_mutex_unlock(&ctl);
	if (rc)
		set_err(err, err_len, e.msg);
	return rc;
}

/* ---- the JSON writer: a buffer flushed to the temporary file ---- */

void sl_trace_jw_flush(struct jw *w)
{
	size_t off = 0;
	while (off < w->len && !w->err) {
		ssize_t k = write(w->fd, w->buf + off, w->len - off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			w->err = k < 0 ? errno : EIO;
		else
			off += (size_t)k;
	}
	w->len = 0;
}

void sl_trace_jw_put(struct jw *w, const char *s, size_t n)
{
	while (n) {
		if (w->len == sizeof(w->buf))
			sl_trace_jw_flush(w);
		size_t k = SL_MIN(n, sizeof(w->buf) - w->len);
		memcpy(w->buf + w->len, s, k);
		w->len += k;
		s += k;
		n -= k;
	}
}

static void jw_printf(struct jw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void jw_printf(struct jw *w, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		sl_trace_jw_put(w, tmp, SL_MIN((size_t)n, sizeof(tmp) - 1));
}

/* The library's one JSON string writer: quotes, escapes '"', '\\' and control bytes. */
static void jw_str(struct jw *w, const char *s, size_t n)
{
	sl_trace_jw_put(w, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\') {
			char esc[2] = { '\\', (char)ch };
			sl_trace_jw_put(w, esc, 2);
		} else if (ch < 0x20 || ch == 0x7f) {
			jw_printf(w, "\\u%04x", ch);
		} else {
			sl_trace_jw_put(w, (const char *)&ch, 1);
		}
	}
	sl_trace_jw_put(w, "\"", 1);
}

static void jw_cstr(struct jw *w, const char *s)
{
	jw_str(w, s ? s : "", s ? strlen(s) : 0);
}

static void jw_ts(struct jw *w, uint64_t t)
{
	uint64_t rel = sl_trace_rel_ns(t);
	jw_printf(w, "\"ts\":%llu.%03llu", (unsigned long long)(rel / 1000), (unsigned long long)(rel % 1000));
}

static void jw_args(struct jw *w, const struct ev *e)
{
	const char *k = e->keys;
	if (e->ph == 'C') {
		jw_printf(w, ",\"args\":{\"value\":%lld}", (long long)e->v[0]);
		return;
	}
	if (!k || !*k)
		return;
	sl_trace_jw_put(w, ",\"args\":{", 9);
	for (int i = 0; i < 4 && *k; i++) {
		const char *end = strchr(k, ',');
		size_t len = end ? (size_t)(end - k) : strlen(k);
		bool str = *k == '$';
		if (i)
			sl_trace_jw_put(w, ",", 1);
		jw_str(w, k + str, len - str);
		sl_trace_jw_put(w, ":", 1);
		if (str)
			jw_cstr(w, (const char *)(intptr_t)e->v[i]);
		else
			jw_printf(w, "%lld", (long long)e->v[i]);
		k += len + (end ? 1 : 0);
	}
	sl_trace_jw_put(w, "}", 1);
}

/* Asynchronous spans (I/O requests) still open when tracing stopped end there: sorted by
 * (cat, name, id, time), each key's begins and ends alternate, and a begin left over is open. */
struct sl_trace_aref *sl_trace_collect_async(unsigned nb, int (*cmp)(const void *, const void *), size_t *n_out)
{
	size_t n = 0, k = 0;
	*n_out = 0;
	for (unsigned i = 0; i < nb; i++)
		FOR_EACH_EV(&sl_trace_bufs[i], e)
			n += e->ph == 'b' || e->ph == 'e';
	struct sl_trace_aref *a = n ? malloc(n * sizeof(*a)) : NULL;
	if (!a)
		return NULL;
	for (unsigned i = 0; i < nb; i++)
		FOR_EACH_EV(&sl_trace_bufs[i], e)
			if ((e->ph == 'b' || e->ph == 'e') && k < n)
				a[k++] = (struct sl_trace_aref){ e, sl_trace_bufs[i].tid };
	qsort(a, k, sizeof(*a), cmp);
	*n_out = k;
	return a;
}

static int aref_cmp(const void *pa, const void *pb)
{
	const struct ev *a = ((const struct sl_trace_aref *)pa)->e, *b = ((const struct sl_trace_aref *)pb)->e;
	int c = strcmp(a->cat, b->cat);
	if (!c)
		c = strcmp(a->name, b->name);
	if (!c)
		c = a->id < b->id ? -1 : a->id > b->id;
	if (!c)
		c = a->ts < b->ts ? -1 : a->ts > b->ts;
	if (!c) /* an end and a begin at the same time: the end is of the earlier use of the id */
		c = (a->ph == 'b') - (b->ph == 'b');
	return c;
}

static void close_async(struct jw *w, unsigned nb, long pid, uint64_t t_end)
{
	size_t k;
	struct sl_trace_aref *a = sl_trace_collect_async(nb, aref_cmp, &k);
	for (size_t i = 0; i < k; i++) {
		const struct ev *e = a[i].e;
		bool last_of_key = i + 1 == k || e->id != a[i + 1].e->id || strcmp(e->cat, a[i + 1].e->cat) ||
				   strcmp(e->name, a[i + 1].e->name);
		if (e->ph != 'b' || !last_of_key)
			continue;
		jw_printf(w, ",\n{\"ph\":\"e\",\"pid\":%ld,\"tid\":%ld,", pid, a[i].tid);
		jw_ts(w, t_end);
		sl_trace_jw_put(w, ",\"name\":", 8);
		jw_cstr(w, e->name);
		sl_trace_jw_put(w, ",\"cat\":", 7);
		jw_cstr(w, e->cat);
		jw_printf(w, ",\"id\":\"0x%llx\",\"args\":{\"open_at_stop\":1}}", (unsigned long long)e->id);
	}
	free(a);
}

static void write_trace(struct jw *w, unsigned nb, uint64_t t_end)
{
	uint64_t drops = atomic_load(&lost);
	const long pid = (long)getpid();
	jw_printf(w, "{\"traceEvents\":[\n{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%ld,\"tid\":0,"
		     "\"args\":{\"name\":\"sluice\"}}", pid);
	for (unsigned i = 0; i < nb; i++) {
		struct tbuf *b = &sl_trace_bufs[i];
		drops += b->drops;
		jw_printf(w, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%ld,\"tid\":%ld,\"args\":{\"name\":", pid,
			  b->tid);
		if (b->name)
			jw_cstr(w, b->name);
		else
			jw_printf(w, "\"thread %ld\"", b->tid);
		sl_trace_jw_put(w, "}}", 2);
		unsigned depth = 0;
		FOR_EACH_EV(b, e) {
			jw_printf(w, ",\n{\"ph\":\"%c\",\"pid\":%ld,\"tid\":%ld,", e->ph, pid, b->tid);
			jw_ts(w, e->ts);
			if (e->ph == 'E') {
				depth--;
				sl_trace_jw_put(w, "}", 1);
				continue;
			}
			if (e->ph == 'B')
				depth++;
			sl_trace_jw_put(w, ",\"name\":", 8);
			jw_cstr(w, e->name);
			sl_trace_jw_put(w, ",\"cat\":", 7);
			jw_cstr(w, e->cat);
			if (e->ph == 'b' || e->ph == 'e')
				jw_printf(w, ",\"id\":\"0x%llx\"", (unsigned long long)e->id);
			if (e->ph == 'i')
				sl_trace_jw_put(w, ",\"s\":\"t\"", 8);
			jw_args(w, e);
			sl_trace_jw_put(w, "}", 1);
		}
		/* spans still open when tracing stopped end there */
		for (; depth; depth--) {
			jw_printf(w, ",\n{\"ph\":\"E\",\"pid\":%ld,\"tid\":%ld,", pid, b->tid);
			jw_ts(w, t_end);
			sl_trace_jw_put(w, "}", 1);
		}
	}
	close_async(w, nb, pid, t_end);
	jw_printf(w, "\n],\"displayTimeUnit\":\"ms\",\"otherData\":{\"dropped_events\":%llu,\"threads\":%u}}\n",
		  (unsigned long long)drops, nb);
}

bool sl_trace_path_is_perfetto(const char *path)
{
	size_t n = strlen(path);
	return (n >= 15 && !strcmp(path + n - 15, ".perfetto-trace")) || (n >= 8 && !strcmp(path + n - 8, ".pftrace"));
}

SLUICE_API int sluice_trace_stop(char *err, size_t err_len)
{
	struct sl_err e = { { 0 } };
	int rc = 0;
	pthread_mutex_lock(&ctl);
	if (!sl_trace_on) {
		rc = sl_errf(&e, EINVAL, "sluice_trace_stop: tracing is not on");
		goto out;
	}
	__atomic_store_n(&sl_trace_on, 0, __ATOMIC_RELEASE);
	uint64_t t_end = sl_trace_clock();
	measure_rate(t_end, sl_now_ns());
	if (!have_file)
		goto out;
	have_file = false;
	unsigned nb = SL_MIN(atomic_load(&nbufs), SL_TRACE_THREADS);
	struct jw *w = malloc(sizeof(*w));
	if (!w) {
		sl_atomic_file_abort(&af);
		rc = sl_errf(&e, ENOMEM, "sluice_trace_stop: out of memory");
		goto out;
	}
	w->fd = af.fd;
	w->err = 0;
	w->len = 0;
	if (sl_trace_path_is_perfetto(af.path)) {
		uint64_t drops = atomic_load(&lost);
		for (unsigned i = 0; i < nb; i++)
			drops += sl_trace_bufs[i].drops;
		sl_trace_write_perfetto(w, nb, t_end, drops);
	} else {
		write_trace(w, nb, t_end);
	}
	sl_trace_jw_flush(w);
	int werr = w->err;
	free(w);
	if (werr) {
		rc = sl_errf(&e, werr, "%s: cannot write the trace: %s", af.path, strerror(werr));
		sl_atomic_file_abort(&af);
		goto out;
	}
	rc = sl_atomic_file_commit(&af, &e);
out:
	pthread_mutex_unlock(&ctl);
	if (rc)
		set_err(err, err_len, e.msg);
	return rc;
}

/* ---- totals of the current session (sluice profile) ---- */

static struct sluice_trace_total *total_of(struct sluice_trace_total *out, size_t max, size_t *n, bool *full,
					   const char *cat, const char *name)
{
	for (size_t i = 0; i < *n; i++)
		if (out[i].name == name && out[i].cat == cat)
			return &out[i];
	if (*n >= max) {
		*full = true;
		return NULL;
	}
	struct sluice_trace_total *t = &out[(*n)++];
	memset(t, 0, sizeof(*t));
	t->cat = cat;
	t->name = name;
	return t;
}

SLUICE_API int sluice_trace_totals(struct sluice_trace_total *out, size_t max, size_t *n_out)
{
	if (!n_out || (!out && max))
		return -EINVAL;
	pthread_mutex_lock(&ctl);
	size_t n = 0;
	bool full = false;
	unsigned nb = SL_MIN(atomic_load(&nbufs), SL_TRACE_THREADS);
	if (sl_trace_on) /* a session still running: its rate so far */
		measure_rate(sl_trace_clock(), sl_now_ns());
	for (unsigned i = 0; i < nb; i++) {
		struct tbuf *b = &sl_trace_bufs[i];
		const struct ev *stack[64];
		unsigned depth = 0;
		FOR_EACH_EV(b, e) {
			if (e->ph == 'B') {
				if (depth < SL_ARRAY_SIZE(stack))
					stack[depth] = e;
				depth++;
			} else if (e->ph == 'E' && depth) {
				depth--;
				if (depth >= SL_ARRAY_SIZE(stack))
					continue;
				const struct ev *s = stack[depth];
				struct sluice_trace_total *t = total_of(out, max, &n, &full, s->cat, s->name);
				if (t) {
					t->count++;
					t->ns += sl_trace_span_ns(s->ts, e->ts);
					if (s->keys && !strncmp(s->keys, "bytes", 5))
						t->bytes += (uint64_t)s->v[0];
				}
			} else if (e->ph == 'b' || e->ph == 'i') {
				struct sluice_trace_total *t = total_of(out, max, &n, &full, e->cat, e->name);
				if (t) {
					t->count++;
					if (e->keys && !strncmp(e->keys, "bytes", 5))
						t->bytes += (uint64_t)e->v[0];
				}
			}
		}
	}
	pthread_mutex_unlock(&ctl);
	*n_out = n;
	return full ? -ENOSPC : 0;
}
