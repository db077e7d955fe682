/*
 * The PSI source: where /proc/pressure/memory exists, a trigger is armed (with the
 * 2 s window when the 1 s one needs CAP_SYS_RESOURCE) and the monitor runs and
 * stops; where the kernel refuses triggers the error is -ENOTSUP and names the
 * file.  Skips only when the kernel has no PSI file at all.
 */
#include "helpers/testutil.h"
#include "sys/pressure.h"

#include <errno.h>
#include <poll.h>
#include <unistd.h>

static void on_pressure(void *arg, int level, uint64_t avail_pages)
{
	(*(int *)arg)++;
	(void)level;
	(void)avail_pages;
}

int main(void)
{
	struct sl_pressure *p = NULL;
	struct sl_err err = { { 0 } };
	int calls = 0;

	if (access("/proc/pressure/memory", F_OK))
		t_skip("no /proc/pressure/memory (kernel without CONFIG_PSI, or booted with psi=0)");

	int rc = sl_pressure_start("psi", on_pressure, &calls, &p, &err);
	if (rc) {
		/* Present but refusing (read-only /proc in a container, psi disabled at runtime). */
		CHECK_MSG(rc == -ENOTSUP && p == NULL && strstr(err.msg, "/proc/pressure/memory"), "%d %s", rc,
			  err.msg);
		fprintf(stderr, "PSI present but unusable, reported as: %s\n", err.msg);
		return t_done();
	}
	CHECK(p && !strcmp(sl_pressure_source(p), "psi"));
	/* The monitor is alive: an injection goes through the same loop as PSI's POLLPRI. */
	CHECK(sl_pressure_inject(p, SL_PRESSURE_MEDIUM) == 0);
	for (int i = 0; i < 500 && sl_pressure_delivered(p) < 1; i++)
		usleep(10000);
	CHECK(sl_pressure_delivered(p) >= 1);
	sl_pressure_stop(p);
	CHECK(calls >= 1);

	/* The raw source: armed trigger, and a read without POLLPRI is not an event. */
	struct sl_pressure_src s = { .ops = &sl_pressure_psi_ops, .fd = -1 };
	struct sl_pressure_event ev[2];
	CHECK(sl_pressure_psi_ops.open(&s, &err) == 0 && s.fd >= 0 && s.events == POLLPRI);
	int n = sl_pressure_psi_ops.read(&s, ev, 2);
	CHECK(n == 0 || (n == 1 && ev[0].level >= SL_PRESSURE_MEDIUM)); /* 1 only if the host is really stalling */
	sl_pressure_psi_ops.close(&s);
	CHECK(s.fd == -1);
	return t_done();
}
