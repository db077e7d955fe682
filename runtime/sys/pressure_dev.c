/* SPDX-License-Identifier: MIT */
/*
 * runtime/sys/pressure_dev.c — pressure events from /dev/sluice.
 *
 * The module queues a struct sluice_event per reclaim episode (rate-limited to one
 * per 100 ms per descriptor by default) and signals POLLIN.  We keep the module's
 * defaults: every level from LOW up, no MemAvailable filter; the policy in
 * pressure.h expects LOW events to trim gently.
 */
#include "sys/pressure.h"
#include "uapi/linux/sluice.h"

#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int dev_open(struct sl_pressure_src *s, struct sl_err *err)
{
	struct sluice_info info = { 0 };
	int fd = open(SLUICE_DEVICE_PATH, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return sl_errf(err, errno == ENOENT ? ENOTSUP : errno, "%s: %s%s", SLUICE_DEVICE_PATH,
			       strerror(errno), errno == ENOENT ? " (sluice.ko not loaded)" : "");
	if (ioctl(fd, SLUICE_IOC_GET_INFO, &info) < 0) {
		int r = sl_errf(err, errno, "%s: GET_INFO: %s", SLUICE_DEVICE_PATH, strerror(errno));
		close(fd);
		return r;
	}
	/* Records are read whole, at our size: a module with another record size is another ABI. */
	if (info.api_major != SLUICE_API_MAJOR || !(info.features & SLUICE_FEATURE_PRESSURE) ||
	    info.event_size != sizeof(struct sluice_event)) {
		close(fd);
		return sl_errf(err, ENOTSUP, "%s: API %u.%u, features %#llx, event size %u: no usable events",
			       SLUICE_DEVICE_PATH, info.api_major, info.api_minor,
			       (unsigned long long)info.features, info.event_size);
	}
	s->fd = fd;
	s->events = POLLIN;
	return 0;
}

static int dev_read(struct sl_pressure_src *s, struct sl_pressure_event *ev, int max)
{
	struct sluice_event rec[16];
	ssize_t n;
	int k = 0;

	if (max > (int)SL_ARRAY_SIZE(rec))
		max = (int)SL_ARRAY_SIZE(rec);
	n = read(s->fd, rec, (size_t)max * sizeof(rec[0]));
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	for (ssize_t i = 0; i < n / (ssize_t)sizeof(rec[0]); i++) {
		if (rec[i].type != SLUICE_EVENT_RECLAIM)
			continue; /* a type a newer module added: not ours to interpret */
		if (rec[i].dropped)
			sl_debug("pressure: %u /dev/sluice events dropped", rec[i].dropped);
		ev[k].level = (int)rec[i].level;
		ev[k].avail_pages = rec[i].available_pages;
		k++;
	}
	return k;
}

static void dev_close(struct sl_pressure_src *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

const struct sl_pressure_ops sl_pressure_dev_ops = {
	.name = "dev", .open = dev_open, .read = dev_read, .close = dev_close,
};
