/*
 * The pressure monitor with injected events: every event reaches the callback,
 * in order, on the monitor thread; nothing arrives after stop; the policy helper
 * gives the documented targets; bad arguments are refused with a message.
 */
#include "helpers/testutil.h"
#include "sys/pressure.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

struct rec {
	pthread_mutex_t mu;
	int n;
	int level[16];
	uint64_t avail[16];
	pthread_t thread[16];
};

static void on_pressure(void *arg, int level, uint64_t avail_pages)
{
	struct rec *r = arg;
	pthread_mutex_lock(&r->mu);
	if (r->n < 16) {
		r->level[r->n] = level;
		r->avail[r->n] = avail_pages;
		r->thread[r->n] = pthread_self();
	}
	r->n++;
	pthread_mutex_unlock(&r->mu);
}

/* Wait (at most 5 s) until the monitor delivered n events. */
static bool wait_delivered(struct sl_pressure *p, uint64_t n)
{
	for (int i = 0; i < 500; i++) {
		if (sl_pressure_delivered(p) >= n)
			return true;
		usleep(10000);
	}
	return false;
}

static void test_inject(const char *source)
{
	struct rec r = { .mu = PTHREAD_MUTEX_INITIALIZER };
	struct sl_pressure *p = NULL;
	struct sl_err err = { { 0 } };
	uint64_t avail = 0, total = 0;

	int rc = sl_pressure_start(source, on_pressure, &r, &p, &err);
	CHECK_MSG(rc == 0 && p, "start %s: %d %s", source, rc, err.msg);
	if (rc)
		return;
	fprintf(stderr, "source %s -> %s\n", source, sl_pressure_source(p));
	CHECK(sl_pressure_inject(p, SL_PRESSURE_LOW) == 0);
	CHECK(sl_pressure_inject(p, SL_PRESSURE_MEDIUM) == 0);
	CHECK(sl_pressure_inject(p, SL_PRESSURE_CRITICAL) == 0);
	CHECK(sl_pressure_inject(p, 0) == -EINVAL);
	CHECK(sl_pressure_inject(p, 4) == -EINVAL);
	CHECK(wait_delivered(p, 3));
	CHECK(sl_meminfo_pages(&avail, &total) == 0 && avail > 0 && total >= avail);

	pthread_mutex_lock(&r.mu);
	/* A real source (psi under "auto") may add events of its own in between; the injected
	 * ones keep their order. */
	int want = SL_PRESSURE_LOW;
	for (int i = 0; i < r.n && i < 16 && want <= SL_PRESSURE_CRITICAL; i++) {
		if (r.level[i] == want)
			want++;
		CHECK(r.avail[i] > 0 && r.avail[i] <= total);
		CHECK(!pthread_equal(r.thread[i], pthread_self())); /* the monitor's thread */
	}
	CHECK_MSG(want == SL_PRESSURE_CRITICAL + 1, "injected levels out of order (%d events)", r.n);
	pthread_mutex_unlock(&r.mu);

	/* Many at once: none lost while the pipe has room. */
	for (int i = 0; i < 100; i++)
		CHECK(sl_pressure_inject(p, SL_PRESSURE_LOW) == 0);
	CHECK(wait_delivered(p, 103));
	sl_pressure_stop(p);
	pthread_mutex_lock(&r.mu);
	int after = r.n;
	pthread_mutex_unlock(&r.mu);
	usleep(50000);
	CHECK(r.n == after); /* nothing after stop */
	CHECK(after >= 103);
}

int main(void)
{
	struct sl_pressure *p = (struct sl_pressure *)1;
	struct sl_err err = { { 0 } };
	int dummy;

	test_inject("inject");
	test_inject("auto"); /* on any machine: dev, psi or inject-only, and injections still work */

	/* none: no monitor at all, and that is fine to stop. */
	CHECK(sl_pressure_start("none", on_pressure, &dummy, &p, &err) == 0 && p == NULL);
	sl_pressure_stop(NULL);
	CHECK(sl_pressure_inject(NULL, 1) == -EINVAL);
	CHECK(!strcmp(sl_pressure_source(NULL), "none"));

	CHECK(sl_pressure_start("bogus", on_pressure, &dummy, &p, &err) == -EINVAL && p == NULL);
	CHECK(strstr(err.msg, "bogus") != NULL);
	CHECK(sl_pressure_start("inject", NULL, NULL, &p, &err) == -EINVAL && p == NULL);
	if (access("/dev/sluice", F_OK)) {
		int rc = sl_pressure_start("dev", on_pressure, &dummy, &p, &err);
		CHECK_MSG(rc == -ENOTSUP && p == NULL && strstr(err.msg, "sluice.ko"), "dev: %d %s", rc, err.msg);
	}

	/* The policy: LOW 75 %, MEDIUM 50 %, CRITICAL the minimum; never below the minimum or above now. */
	const uint64_t G = 1ull << 30;
	CHECK(sl_pressure_target(SL_PRESSURE_LOW, 8 * G, G) == 6 * G);
	CHECK(sl_pressure_target(SL_PRESSURE_MEDIUM, 8 * G, G) == 4 * G);
	CHECK(sl_pressure_target(SL_PRESSURE_CRITICAL, 8 * G, G) == G);
	CHECK(sl_pressure_target(SL_PRESSURE_MEDIUM, 3 * G / 2, G) == G);
	CHECK(sl_pressure_target(SL_PRESSURE_LOW, G / 2, G) == G / 2); /* already below the minimum: stays */
	CHECK(sl_pressure_target(SL_PRESSURE_LOW, 3, 0) == 2);
	CHECK(sl_pressure_target(SL_PRESSURE_LOW, UINT64_MAX, 0) > UINT64_MAX / 4 * 3 - 4);
	CHECK(sl_pressure_target(7, 8 * G, G) == G); /* unknown (newer) levels: treated as critical */
	CHECK(!strcmp(sl_pressure_level_name(SL_PRESSURE_MEDIUM), "medium"));
	return t_done();
}
