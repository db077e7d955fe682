/* SPDX-License-Identifier: MIT */
/*
 * runtime/sys/pressure.h — memory-pressure events, from whichever source the
 * machine has, delivered to one callback on a monitor thread.
 *
 * Sources (an ops table each, runtime/sys/pressure_*.c):
 *   "dev"     /dev/sluice: struct sluice_event records (read()/poll POLLIN), pushed
 *             by the module's shrinker probe while the kernel reclaims.  Levels as sent.
 *   "psi"     /proc/pressure/memory trigger "some 150000 1000000" (tasks stalled on
 *             memory >= 150 ms within 1 s), poll POLLPRI.  Without CAP_SYS_RESOURCE the
 *             kernel (>= 6.5) takes only windows that are multiples of 2 s, so the
 *             source then falls back to "some 300000 2000000" (the same 15 %).  An event
 *             is MEDIUM (tasks did wait), CRITICAL when MemAvailable < MemTotal/32 (the
 *             module's rule).  No PSI file, or a kernel refusing both triggers: -ENOTSUP.
 *   "inject"  nothing from the system; only sl_pressure_inject() (tests).
 *   "auto"    dev when /dev/sluice opens, else psi, else inject-only (with an sl_info).
 *   "none"    no monitor: *out = NULL, success.
 * Every monitor (except "none") also accepts sl_pressure_inject(), so a test can drive
 * an engine that runs with "auto".
 *
 * Levels are the module's: 1 LOW (background reclaim, kswapd), 2 MEDIUM (an allocation
 * had to wait: direct reclaim / PSI stall), 3 CRITICAL (MemAvailable below 1/32 of RAM).
 *
 * Recommended policy for the host weight cache (sl_pressure_target() computes it; the
 * engine applies it with sl_weights_shrink()):
 *   LOW       shrink to 75 % of what the cache holds now,
 *   MEDIUM    shrink to 50 %,
 *   CRITICAL  shrink to the minimum working set (the layers in flight plus lookahead).
 * Never below the minimum working set: below it every token re-reads the same bytes and
 * pressure only gets worse.  Repeated events compound (75 % of 75 % ...), which is what
 * we want while reclaim persists; the module rate-limits to one event per 100 ms and PSI
 * to one per window, so this converges in a few steps.  Let the cache grow back slowly
 * (e.g. its configured size only after 30 s without events), or it oscillates.
 *
 * Threading: the callback runs on the monitor's own thread, never concurrently with
 * itself, and never after sl_pressure_stop() returns.  It must not call
 * sl_pressure_stop() itself.  sl_weights_shrink() must therefore be safe against the
 * decode thread (the weight store locks).
 */
#ifndef SLUICE_SYS_PRESSURE_H
#define SLUICE_SYS_PRESSURE_H

#include "internal.h"

enum { SL_PRESSURE_LOW = 1, SL_PRESSURE_MEDIUM = 2, SL_PRESSURE_CRITICAL = 3 };

typedef void (*sl_pressure_cb)(void *arg, int level, uint64_t avail_pages);

struct sl_pressure;

/* source: "auto" (or NULL), "dev", "psi", "inject", "none".  Starts the monitor thread. */
int sl_pressure_start(const char *source, sl_pressure_cb cb, void *arg, struct sl_pressure **out,
		      struct sl_err *err);
/* Stop the thread and free; NULL is fine.  No callback runs after this returns. */
void sl_pressure_stop(struct sl_pressure *p);
/* The source in use: "dev", "psi" or "inject". */
const char *sl_pressure_source(const struct sl_pressure *p);
/* Queue an event of this level (1..3) as if the system had sent it; available pages are
 * read from /proc/meminfo.  Delivered asynchronously on the monitor thread.  0 or -errno. */
int sl_pressure_inject(struct sl_pressure *p, int level);
/* Events delivered to the callback so far (tests wait on this). */
uint64_t sl_pressure_delivered(const struct sl_pressure *p);

/* The policy above: the host-cache size to shrink to after an event at `level`, given
 * what the cache holds now and its minimum working set.  Never above cache_bytes. */
uint64_t sl_pressure_target(int level, uint64_t cache_bytes, uint64_t min_bytes);
const char *sl_pressure_level_name(int level);

/* MemAvailable and MemTotal in pages, from /proc/meminfo; 0 or -errno. */
int sl_meminfo_pages(uint64_t *avail, uint64_t *total);

/* ---- for the source files (pressure_*.c) --------------------------------- */

struct sl_pressure_event {
	int level;
	uint64_t avail_pages;
};

struct sl_pressure_src {
	const struct sl_pressure_ops *ops;
	int fd;       /* polled by the monitor thread */
	short events; /* POLLIN or POLLPRI */
	void *priv;
};

struct sl_pressure_ops {
	const char *name;
	/* Open the source: set fd and events.  -ENOTSUP (with a message) when the machine lacks it. */
	int (*open)(struct sl_pressure_src *s, struct sl_err *err);
	/* fd is ready: fill at most max events, return how many (0: spurious) or -errno (source broken). */
	int (*read)(struct sl_pressure_src *s, struct sl_pressure_event *ev, int max);
	void (*close)(struct sl_pressure_src *s);
};
extern const struct sl_pressure_ops sl_pressure_dev_ops, sl_pressure_psi_ops;

#endif
