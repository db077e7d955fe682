/* SPDX-License-Identifier: MIT */
/*
 * runtime/sys/pressure.c — the pressure monitor: pick a source, poll it together
 * with a control pipe on one thread, call the callback for each event.
 *
 * The control pipe carries injected events and wakes the thread for stop, so a
 * monitor needs no timeout and costs nothing while memory is plentiful.
 */
#include "sys/pressure.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct sl_pressure {
	struct sl_pressure_src src; /* src.ops NULL: inject-only */
	const char *name;
	sl_pressure_cb cb;
	void *arg;
	int ctl[2]; /* [0] read by the thread, [1] written by inject/stop */
	pthread_t thread;
	atomic_bool stop;
	atomic_uint_fast64_t delivered;
};

/* One message on the control pipe: an injected event (level 1..3) or a wake-up (level 0). */
struct ctl_msg {
	int level;
	uint64_t avail_pages;
};

const char *sl_pressure_level_name(int level)
{
	switch (level) {
	case SL_PRESSURE_LOW: return "low";
	case SL_PRESSURE_MEDIUM: return "medium";
	case SL_PRESSURE_CRITICAL: return "critical";
	default: return "?";
	}
}

uint64_t sl_pressure_target(int level, uint64_t cache_bytes, uint64_t min_bytes)
{
	uint64_t t;

	switch (level) {
	case SL_PRESSURE_LOW: t = cache_bytes / 4 * 3 + cache_bytes % 4 * 3 / 4; break;
	case SL_PRESSURE_MEDIUM: t = cache_bytes / 2; break;
	default: t = min_bytes; break; /* CRITICAL, and any level a newer module invents */
	}
	if (t < min_bytes)
		t = min_bytes;
	return SL_MIN(t, cache_bytes);
}

int sl_meminfo_pages(uint64_t *avail, uint64_t *total)
{
	char line[256];
	unsigned long long kb;
	long page = sysconf(_SC_PAGESIZE);
	int found = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return -errno;
	if (page <= 0)
		page = 4096;
	while (fgets(line, sizeof(line), f) && found != 3) {
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
			*avail = kb * 1024 / (uint64_t)page;
			found |= 1;
		} else if (sscanf(line, "MemTotal: %llu kB", &kb) == 1) {
			*total = kb * 1024 / (uint64_t)page;
			found |= 2;
		}
	}
	fclose(f);
	return found == 3 ? 0 : -ENODATA;
}

static void deliver(struct sl_pressure *p, int level, uint64_t avail)
{
	sl_debug("pressure: %s event (%s), %llu pages available", sl_pressure_level_name(level), p->name,
		 (unsigned long long)avail);
	p->cb(p->arg, level, avail);
	atomic_fetch_add(&p->delivered, 1);
}

static void *monitor(void *arg)
{
	struct sl_pressure *p = arg;
	struct pollfd pfd[2] = { { .fd = p->ctl[0], .events = POLLIN }, { .fd = -1 } };

	if (p->src.ops) {
		pfd[1].fd = p->src.fd;
		pfd[1].events = p->src.events;
	}
	while (!atomic_load(&p->stop)) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			sl_warn("pressure: poll: %s; monitor stops", strerror(errno));
			break;
		}
		if (atomic_load(&p->stop))
			break;
		if (pfd[0].revents & POLLIN) {
			struct ctl_msg m[16];
			ssize_t n = read(p->ctl[0], m, sizeof(m));
			for (ssize_t i = 0; i < n / (ssize_t)sizeof(m[0]); i++)
				if (m[i].level > 0)
					deliver(p, m[i].level, m[i].avail_pages);
		}
		if (pfd[1].fd >= 0 && pfd[1].revents) {
			struct sl_pressure_event ev[16];
			int n = p->src.ops->read(&p->src, ev, (int)SL_ARRAY_SIZE(ev));
			if (n < 0) {
				/* Keep serving injections; a broken source must not spin the thread. */
				sl_warn("pressure: %s source: %s; no more events from it", p->name, strerror(-n));
				pfd[1].fd = -1;
			}
			for (int i = 0; i < n; i++)
				deliver(p, ev[i].level, ev[i].avail_pages);
		}
	}
	return NULL;
}

static int open_source(struct sl_pressure *p, const char *source, struct sl_err *err)
{
	int r;

	if (!strcmp(source, "inject")) {
		p->name = "inject";
		return 0;
	}
	if (!strcmp(source, "dev") || !strcmp(source, "psi")) {
		p->src.ops = !strcmp(source, "dev") ? &sl_pressure_dev_ops : &sl_pressure_psi_ops;
		r = p->src.ops->open(&p->src, err);
		if (r < 0)
			p->src.ops = NULL;
		p->name = source[0] == 'd' ? "dev" : "psi";
		return r;
	}
	if (strcmp(source, "auto"))
		return sl_errf(err, EINVAL, "pressure source '%s': want auto, dev, psi, inject or none", source);
	/* auto: the first that opens; say why the others did not, at info level. */
	const struct sl_pressure_ops *order[] = { &sl_pressure_dev_ops, &sl_pressure_psi_ops };
	for (size_t i = 0; i < SL_ARRAY_SIZE(order); i++) {
		struct sl_err e2 = { { 0 } };
		p->src.ops = order[i];
		if (order[i]->open(&p->src, &e2) == 0) {
			p->name = order[i]->name;
			return 0;
		}
		sl_info("pressure: %s", e2.msg);
	}
	p->src.ops = NULL;
	p->name = "inject";
	sl_info("pressure: no source on this machine; the host cache will not shrink on its own");
	return 0;
}

int sl_pressure_start(const char *source, sl_pressure_cb cb, void *arg, struct sl_pressure **out,
		      struct sl_err *err)
{
	struct sl_pressure *p;
	int r;

	*out = NULL;
	if (!source || !*source)
		source = "auto";
	if (!strcmp(source, "none"))
		return 0;
	if (!cb)
		return sl_errf(err, EINVAL, "pressure: no callback");
	p = calloc(1, sizeof(*p));
	if (!p)
		return sl_errf(err, ENOMEM, "pressure: out of memory");
	p->cb = cb;
	p->arg = arg;
	p->src.fd = -1;
	if (pipe2(p->ctl, O_CLOEXEC | O_NONBLOCK) < 0) {
		r = sl_errf(err, errno, "pressure: pipe: %s", strerror(errno));
		free(p);
		return r;
	}
	r = open_source(p, source, err);
	if (r < 0)
		goto fail;
	r = pthread_create(&p->thread, NULL, monitor, p);
	if (r) {
		r = sl_errf(err, r, "pressure: thread: %s", strerror(r));
		if (p->src.ops)
			p->src.ops->close(&p->src);
		goto fail;
	}
	sl_info("pressure: monitoring (%s)", p->name);
	*out = p;
	return 0;
fail:
	close(p->ctl[0]);
	close(p->ctl[1]);
	free(p);
	return r;
}

void sl_pressure_stop(struct sl_pressure *p)
{
	struct ctl_msg wake = { 0 };

	if (!p)
		return;
	atomic_store(&p->stop, true);
	/* A full pipe already wakes the thread; the write may then fail, harmlessly. */
	if (write(p->ctl[1], &wake, sizeof(wake)) < 0 && errno != EAGAIN)
		sl_warn("pressure: wake-up write: %s", strerror(errno));
	pthread_join(p->thread, NULL);
	if (p->src.ops)
		p->src.ops->close(&p->src);
	close(p->ctl[0]);
	close(p->ctl[1]);
	free(p);
}

const char *sl_pressure_source(const struct sl_pressure *p)
{
	return p ? p->name : "none";
}

uint64_t sl_pressure_delivered(const struct sl_pressure *p)
{
	return p ? atomic_load(&p->delivered) : 0;
}

int sl_pressure_inject(struct sl_pressure *p, int level)
{
	struct ctl_msg m = { .level = level };
	uint64_t total = 0;

	if (!p || level < SL_PRESSURE_LOW || level > SL_PRESSURE_CRITICAL)
		return -EINVAL;
	if (sl_meminfo_pages(&m.avail_pages, &total) < 0)
		m.avail_pages = 0;
	/* sizeof(m) < PIPE_BUF: the write is atomic, whole or not at all. */
	if (write(p->ctl[1], &m, sizeof(m)) != (ssize_t)sizeof(m))
		return -errno;
	return 0;
}
