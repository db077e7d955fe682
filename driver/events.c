// SPDX-License-Identifier: GPL-2.0
/*
 * events.c - memory-pressure events
 *
 * Source: a shrinker.  The kernel calls every shrinker's count_objects()
 * whenever it reclaims (kswapd in the background, or the allocating task in
 * direct reclaim), so a shrinker that owns no objects is a cheap, exported,
 * version-stable probe for "memory is being reclaimed now".  vmpressure and
 * PSI triggers would say more but are not reachable from a module on 6.1
 * (vmpressure is tied to cgroup-v1 eventfds, psi_trigger_create() is not
 * exported), so the level is derived here: LOW in kswapd, MEDIUM in direct
 * reclaim, CRITICAL when MemAvailable falls below 1/32 of RAM.
 *
 * Reclaim context rules shape the code: nothing here may allocate or sleep,
 * so each descriptor's queue is allocated at open() and the lists are
 * protected by spinlocks.  A global 1 ms limit keeps the cost per reclaim
 * pass to one atomic read; per-descriptor limits sit on top of it.
 *
 * Nothing is lost silently: a full queue increments @dropped (and @seq), a
 * rate-limited event increments @coalesced, and both are reported in the
 * next queued record.
 */
#include <linux/atomic.h>
#include <linux/mm.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/shrinker.h>
#include <linux/slab.h>
#include <linux/swap.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>

#include "internal.h"

/* Floor shared by all descriptors: at most one event per millisecond. */
#define SLUICE_GLOBAL_INTERVAL_NS	SLUICE_MIN_INTERVAL_NS

static LIST_HEAD(sluice_files);
static DEFINE_SPINLOCK(sluice_files_lock);
static atomic64_t sluice_last_event_ns = ATOMIC64_INIT(0);

static inline u32 sat_inc(u32 v)
{
	return v == U32_MAX ? v : v + 1;
}

/* Queue one event on one descriptor, honouring its thresholds. */
static void sluice_deliver(struct sluice_file *sf, u32 level, u32 flags, u64 now,
			   u64 avail)
{
	struct sluice_event *ev;
	bool wake = false;

	spin_lock(&sf->lock);
	if (level < sf->thresh.min_level)
		goto out;
	if (sf->thresh.available_pages && avail >= sf->thresh.available_pages)
		goto out;
	if (sf->last_ns && now - sf->last_ns < sf->thresh.min_interval_ns) {
		sf->coalesced = sat_inc(sf->coalesced);
		goto out;
	}
	sf->seq++;
	if (sf->len == SLUICE_QUEUE_LEN) {
		sf->dropped = sat_inc(sf->dropped);
		goto out;
	}
	ev = &sf->ring[(sf->head + sf->len) % SLUICE_QUEUE_LEN];
	ev->type = SLUICE_EVENT_RECLAIM;
	ev->level = level;
	ev->seq = sf->seq;
	ev->timestamp_ns = now;
	ev->available_pages = avail;
	ev->dropped = sf->dropped;
	ev->flags = flags;
	ev->coalesced = sf->coalesced;
	ev->pad = 0;
	sf->dropped = 0;
	sf->coalesced = 0;
	sf->last_ns = now;
	sf->len++;
	wake = true;
out:
	spin_unlock(&sf->lock);
	if (wake)
		wake_up_interruptible_poll(&sf->wait, EPOLLIN | EPOLLRDNORM);
}

static unsigned long sluice_count_objects(struct shrinker *s, struct shrink_control *sc)
{
	u64 now = ktime_get_ns();
	s64 last = atomic64_read(&sluice_last_event_ns);
	struct sluice_file *sf;
	u32 level, flags = 0;
	u64 avail;

	if (last && now - last < SLUICE_GLOBAL_INTERVAL_NS)
		return 0;
	/* Several CPUs may reclaim at once; one of them reports. */
	if (atomic64_cmpxchg(&sluice_last_event_ns, last, now) != last)
		return 0;

	avail = max_t(long, si_mem_available(), 0);
	if (current_is_kswapd()) {
		level = SLUICE_LEVEL_LOW;
		flags |= SLUICE_EVENT_KSWAPD;
	} else {
		level = SLUICE_LEVEL_MEDIUM;
	}
	if (avail < totalram_pages() / 32)
		level = SLUICE_LEVEL_CRITICAL;

	spin_lock(&sluice_files_lock);
	list_for_each_entry(sf, &sluice_files, node)
		sluice_deliver(sf, level, flags, now, avail);
	spin_unlock(&sluice_files_lock);

	/* We own nothing to free: reclaim must not call scan_objects for us. */
	return 0;
}

static unsigned long sluice_scan_objects(struct shrinker *s, struct shrink_control *sc)
{
	return SHRINK_STOP;
}

static struct shrinker sluice_shrinker = {
	.count_objects	= sluice_count_objects,
	.scan_objects	= sluice_scan_objects,
	.seeks		= DEFAULT_SEEKS,
};

struct sluice_file *sluice_file_alloc(void)
{
	struct sluice_file *sf = kzalloc(sizeof(*sf), GFP_KERNEL);

	if (!sf)
		return NULL;
	sf->ring = kcalloc(SLUICE_QUEUE_LEN, sizeof(*sf->ring), GFP_KERNEL);
	if (!sf->ring) {
		kfree(sf);
		return NULL;
	}
	spin_lock_init(&sf->lock);
	init_waitqueue_head(&sf->wait);
	sf->thresh.min_level = SLUICE_LEVEL_LOW;
	sf->thresh.min_interval_ns = SLUICE_DEFAULT_INTERVAL_NS;

	spin_lock(&sluice_files_lock);
	list_add_tail(&sf->node, &sluice_files);
	spin_unlock(&sluice_files_lock);
	return sf;
}

void sluice_file_free(struct sluice_file *sf)
{
	/* After this the shrinker cannot reach sf: it walks the list under the same lock. */
	spin_lock(&sluice_files_lock);
	list_del(&sf->node);
	spin_unlock(&sluice_files_lock);
	kfree(sf->ring);
	kfree(sf);
}

static bool sluice_has_events(struct sluice_file *sf)
{
	return READ_ONCE(sf->len) != 0;
}

/* Copy as many whole records as fit; block (unless nonblock) until there is one. */
ssize_t sluice_events_read(struct sluice_file *sf, char __user *buf, size_t count,
			   bool nonblock)
{
	struct sluice_event batch[8];
	size_t want, n, done = 0;
	int ret;

	if (count < sizeof(struct sluice_event))
		return -EINVAL;
	want = count / sizeof(struct sluice_event);

again:
	while (!sluice_has_events(sf)) {
		if (nonblock)
			return -EAGAIN;
		ret = wait_event_interruptible(sf->wait, sluice_has_events(sf));
		if (ret)
			return ret;
	}

	while (done < want) {
		spin_lock(&sf->lock);
		for (n = 0; n < ARRAY_SIZE(batch) && done + n < want && sf->len; n++) {
			batch[n] = sf->ring[sf->head];
			sf->head = (sf->head + 1) % SLUICE_QUEUE_LEN;
			sf->len--;
		}
		spin_unlock(&sf->lock);
		if (!n) {
			/* Another reader of this descriptor emptied the queue first. */
			if (!done)
				goto again;
			break;
		}
		/*
		 * A fault here loses the records just dequeued; the caller gets
		 * -EFAULT if nothing was copied, as read(2) promises.
		 */
		if (copy_to_user(buf + done * sizeof(batch[0]), batch, n * sizeof(batch[0])))
			return done ? done * sizeof(batch[0]) : -EFAULT;
		done += n;
	}
	return done * sizeof(struct sluice_event);
}

__poll_t sluice_events_poll(struct sluice_file *sf, struct file *file,
			    struct poll_table_struct *pt)
{
	poll_wait(file, &sf->wait, pt);
	return sluice_has_events(sf) ? EPOLLIN | EPOLLRDNORM : 0;
}

int sluice_set_thresholds(struct sluice_file *sf, struct sluice_thresholds *t)
{
	if (t->flags & ~SLUICE_THRESH_FLAGS_MASK)
		return -EINVAL;
	if (!(t->flags & SLUICE_THRESH_QUERY)) {
		if (t->min_level > SLUICE_LEVEL_CRITICAL)
			return -EINVAL;
		if (t->min_interval_ns && t->min_interval_ns < SLUICE_MIN_INTERVAL_NS)
			return -EINVAL;
		spin_lock(&sf->lock);
		sf->thresh.min_level = t->min_level ?: SLUICE_LEVEL_LOW;
		sf->thresh.available_pages = t->available_pages;
		sf->thresh.min_interval_ns = t->min_interval_ns ?: SLUICE_DEFAULT_INTERVAL_NS;
		spin_unlock(&sf->lock);
	}
	spin_lock(&sf->lock);
	t->min_level = sf->thresh.min_level;
	t->available_pages = sf->thresh.available_pages;
	t->min_interval_ns = sf->thresh.min_interval_ns;
	spin_unlock(&sf->lock);
	return 0;
}

int sluice_events_init(void)
{
	return register_shrinker(&sluice_shrinker, "sluice-pressure");
}

void sluice_events_exit(void)
{
	unregister_shrinker(&sluice_shrinker);
}
