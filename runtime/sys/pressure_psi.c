/* SPDX-License-Identifier: MIT */
/*
 * runtime/sys/pressure_psi.c — pressure events from a PSI trigger on
 * /proc/pressure/memory (Documentation/accounting/psi.rst in the kernel).
 *
 * Writing "some <stall us> <window us>" arms a trigger on that descriptor; poll()
 * then reports POLLPRI each time tasks spent that long stalled on memory within
 * the window (at most once per window).  The kernel copies the write into a buffer
 * and overwrites its last byte with NUL, so the terminating NUL is written too.
 *
 * Windows: a 1 s window needs CAP_SYS_RESOURCE (its own polling thread in the
 * kernel); without it, kernels >= 6.5 accept only multiples of 2 s, so we retry
 * with 2 s at the same 15 % ratio.
 */
#include "sys/pressure.h"

#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#define PSI_MEMORY "/proc/pressure/memory"

static int psi_open(struct sl_pressure_src *s, struct sl_err *err)
{
	static const char *const triggers[] = { "some 150000 1000000", "some 300000 2000000" };
	int fd = -1, e = 0;

	if (access(PSI_MEMORY, F_OK) < 0)
		return sl_errf(err, ENOTSUP, "%s absent (kernel without CONFIG_PSI, or psi=0)", PSI_MEMORY);
	for (size_t i = 0; i < SL_ARRAY_SIZE(triggers); i++) {
		fd = open(PSI_MEMORY, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			return sl_errf(err, ENOTSUP, "%s not writable (%s): PSI triggers unavailable", PSI_MEMORY,
				       strerror(errno));
		if (write(fd, triggers[i], strlen(triggers[i]) + 1) >= 0) {
			sl_debug("pressure: PSI trigger '%s'", triggers[i]);
			s->fd = fd;
			s->events = POLLPRI;
			return 0;
		}
		e = errno;
		close(fd);
		if (e != EINVAL)
			break; /* EINVAL: the window; anything else (EOPNOTSUPP: psi disabled) will not change */
	}
	return sl_errf(err, ENOTSUP, "%s: the kernel refuses a trigger (%s)", PSI_MEMORY, strerror(e));
}

static int psi_read(struct sl_pressure_src *s, struct sl_pressure_event *ev, int max)
{
	struct pollfd p = { .fd = s->fd, .events = POLLPRI };
	uint64_t avail = 0, total = 0;

	/* poll() told us POLLPRI; nothing to read (the file shows averages, not events).
	 * POLLERR means the trigger is gone (cgroup removed): report it as broken. */
	if (poll(&p, 1, 0) < 0)
		return -errno;
	if (p.revents & (POLLERR | POLLNVAL))
		return -EIO;
	if (!(p.revents & POLLPRI) || max < 1)
		return 0;
	if (sl_meminfo_pages(&avail, &total) < 0)
		avail = total = 0;
	ev[0].level = total && avail < total / 32 ? SL_PRESSURE_CRITICAL : SL_PRESSURE_MEDIUM;
	ev[0].avail_pages = avail;
	return 1;
}

static void psi_close(struct sl_pressure_src *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

const struct sl_pressure_ops sl_pressure_psi_ops = {
	.name = "psi", .open = psi_open, .read = psi_read, .close = psi_close,
};
