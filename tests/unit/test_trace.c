/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_trace.c — the trace recorder: start/stop errors; spans pair on every thread even
 * when a buffer fills (the drops are counted in the file); several threads at once; JSON escaping
 * of a track name; totals; and the cost of one event with tracing off and on (printed).
 */
#include "helpers/testutil.h"
#include "internal.h"
#include "sluice.h"
#include "trace.h"

#include <pthread.h>

static size_t count(const char *s, const char *pat)
{
	/* not strstr in a loop: a sanitizer's strstr measures the whole rest of a 100 MB file each call */
	size_t n = 0, len = strlen(pat);
	for (const char *p = s; *p; p++)
		if (*p == pat[0] && !strncmp(p, pat, len))
			n++, p += len - 1;
	return n;
}

static void *worker(void *arg)
{
	long k = (long)arg;
	SL_TRACE_THREAD(k == 0 ? "we\"ird\n" : "worker");
	/* thread 0 uses up the pool: 3 events a round */
	long rounds = k == 0 ? (long)(SL_TRACE_CHUNKS * SL_TRACE_CHUNK / 3) : 1000;
	for (long i = 0; i < rounds; i++) {
		SL_TRACE_B("test", "outer", "i", i, 0, 0, 0);
		SL_TRACE_I("test", "tick", "i,$s", i, "str", 0, 0);
		SL_TRACE_E();
	}
	SL_TRACE_B("test", "left open", "", 0, 0, 0, 0); /* ended by sluice_trace_stop */
	return NULL;
}

int main(void)
{
	char err[256];
	const char *path = t_tmp_path("trace.json");
	CHECK(sluice_trace_stop(err, sizeof err) == -EINVAL);
	CHECK(sluice_trace_start("", err, sizeof err) == -EINVAL);
	CHECK(sluice_trace_start("/nonexistent-dir/x/t.json", err, sizeof err) < 0 && strstr(err, "nonexistent-dir"));

	/* the cost of an event with tracing off: one branch */
	const long N = 10 * 1000 * 1000;
	uint64_t t0 = sl_now_ns();
	for (long i = 0; i < N; i++)
		SL_TRACE_I("test", "off", "i", i, 0, 0, 0);
	double off_ns = (double)(sl_now_ns() - t0) / (double)N;

	CHECK(sluice_trace_start(path, err, sizeof err) == 0);
	CHECK(sluice_trace_start(path, err, sizeof err) == -EBUSY);
	enum { T = 4 };
	pthread_t th[T];
	/* three threads at once, then thread 0 alone takes what is left of the pool */
	for (long k = 1; k < T; k++)
		CHECK(pthread_create(&th[k], NULL, worker, (void *)k) == 0);
	for (int k = 1; k < T; k++)
		pthread_join(th[k], NULL);
	CHECK(pthread_create(&th[0], NULL, worker, (void *)0) == 0);
	pthread_join(th[0], NULL);
	size_t nt = 0;
	struct sluice_trace_total tot[8];
	CHECK(sluice_trace_totals(tot, 8, &nt) == 0);
	uint64_t outer = 0;
	for (size_t i = 0; i < nt; i++)
		if (!strcmp(tot[i].name, "outer"))
			outer = tot[i].count;
	/* thread 0 fits the pool less the three chunks of the others, less room kept for ends */
	uint64_t fit = 3 * 1000 + (SL_TRACE_CHUNKS - 3) * (SL_TRACE_CHUNK / 3);
	CHECK_MSG(outer > fit - SL_TRACE_CHUNKS && outer <= fit, "%llu of %llu", (unsigned long long)outer,
		  (unsigned long long)fit);
	CHECK(sluice_trace_totals(tot, 1, &nt) == -ENOSPC && nt == 1);
	CHECK(sluice_trace_totals(NULL, 1, &nt) == -EINVAL);
	CHECK(sluice_trace_stop(err, sizeof err) == 0);

	char *s = t_read_file(path, NULL);
	CHECK(s != NULL);
	if (s) {
		CHECK(strncmp(s, "{\"traceEvents\":[", 16) == 0);
		CHECK(count(s, "\"ph\":\"B\"") == count(s, "\"ph\":\"E\""));
		CHECK(count(s, "\"name\":\"left open\"") == T - 1); /* thread 0: dropped, its buffer is full */
		CHECK(strstr(s, "\"we\\\"ird\\u000a\"") != NULL);
		CHECK(strstr(s, "\"dropped_events\":0,") == NULL);
		CHECK(strstr(s, "\"s\":\"str\"") != NULL);
		free(s);
	}

	/* the cost with tracing on (one thread, within its buffer) */
	CHECK(sluice_trace_start(NULL, err, sizeof err) == 0);
	const long M = 100000;
	t0 = sl_now_ns();
	for (long i = 0; i < M; i++)
		SL_TRACE_I("test", "on", "i", i, 0, 0, 0);
	double on_ns = (double)(sl_now_ns() - t0) / (double)M;
	CHECK(sluice_trace_stop(err, sizeof err) == 0);
	/* printed for Documentation/performance.md, never asserted (no timed assertions in tests) */
	printf("trace event cost: off %.2f ns, on %.1f ns\n", off_ns, on_ns);
	remove(path);
	return t_done();
}
