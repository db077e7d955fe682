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
 * next queued record; a record leaves the queue only once it reached the
 * reader's buffer whole, so a fault in read() loses none either.
 *
 * The shrinker walks every open descriptor under one spinlock, so the number
 * of descriptors is bounded: max_open for all openers together (-ENFILE), and
 * max_open_per_user for each user without CAP_SYS_RESOURCE (-EMFILE).  Each
 * descriptor's ~3 KB is charged to the opener's memory cgroup.
 *
 * Openers without CAP_SYS_RESOURCE (checked on the opener's credentials, as
 * PSI does for its triggers) get at most one event per 2 s: the same
 * resolution unprivileged PSI triggers have.  See Documentation/driver.md.
 */
#include <linux/atomic.h>
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/hashtable.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/user_namespace.h>
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

/* Limits on open descriptors (module parameters, root may change them at run time). */
static unsigned int max_open = 1024;
module_param(max_open, uint, 0644);
MODULE_PARM_DESC(max_open, "descriptors open at once, all users together; beyond it open() fails with ENFILE (default 1024)");
static unsigned int max_open_per_user = 64;
module_param(max_open_per_user, uint, 0644);
MODULE_PARM_DESC(max_open_per_user,
		 "descriptors open at once per user without CAP_SYS_RESOURCE; beyond it open() fails with EMFILE; 0: only privileged openers (default 64)");

/**
 * struct sluice_user - descriptors one unprivileged user holds open
 * @node: entry in sluice_users, hashed by uid
 * @uid: the opener's real uid
 * @files: descriptors open; the entry is freed when it drops to 0
 */
struct sluice_user {
	struct hlist_node node;
	kuid_t uid;
	unsigned int files;
};

/* Both only touched at open and release (process context), under sluice_users_lock. */
static DEFINE_HASHTABLE(sluice_users, 6);
static DEFINE_MUTEX(sluice_users_lock);
static unsigned int sluice_nr_files;

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

/* Count one more descriptor against the limits; *userp is what to uncharge later. */
static int sluice_charge(kuid_t uid, bool privileged, struct sluice_user **userp)
{
	struct sluice_user *u = NULL, *fresh = NULL;
	int ret = 0;

	*userp = NULL;
	if (!privileged) {
		fresh = kzalloc(sizeof(*fresh), GFP_KERNEL_ACCOUNT);
		if (!fresh)
			return -ENOMEM;
	}
	mutex_lock(&sluice_users_lock);
	if (sluice_nr_files >= READ_ONCE(max_open)) {
		ret = -ENFILE;
		goto out;
	}
	if (!privileged) {
		hash_for_each_possible(sluice_users, u, node, __kuid_val(uid))
			if (uid_eq(u->uid, uid))
				break;
		if (u ? u->files >= READ_ONCE(max_open_per_user) : !READ_ONCE(max_open_per_user)) {
			ret = -EMFILE;
			goto out;
		}
		if (!u) {
			u = fresh;
			fresh = NULL;
			u->uid = uid;
			hash_add(sluice_users, &u->node, __kuid_val(uid));
		}
		u->files++;
		*userp = u;
	}
	sluice_nr_files++;
out:
	mutex_unlock(&sluice_users_lock);
	kfree(fresh);
	return ret;
}

static void sluice_uncharge(struct sluice_user *u)
{
	mutex_lock(&sluice_users_lock);
	sluice_nr_files--;
	if (u && !--u->files) {
		hash_del(&u->node);
		kfree(u);
	}
	mutex_unlock(&sluice_users_lock);
}

/*
 * Per-descriptor state for a new open file.  The privilege is the opener's
 * (file->f_cred), not that of whoever later calls read() or ioctl() on a
 * passed descriptor.
 */
struct sluice_file *sluice_file_alloc(struct file *file)
{
	bool privileged = file_ns_capable(file, &init_user_ns, CAP_SYS_RESOURCE);
	struct sluice_file *sf;
	int ret;

	/* About 3 KB of queue: charged to the opener's memory cgroup. */
	sf = kzalloc(sizeof(*sf), GFP_KERNEL_ACCOUNT);
	if (!sf)
		return ERR_PTR(-ENOMEM);
	ret = sluice_charge(file->f_cred->uid, privileged, &sf->user);
	if (ret) {
		kfree(sf);
		return ERR_PTR(ret);
	}
	sf->privileged = privileged;
	mutex_init(&sf->read_lock);
	spin_lock_init(&sf->lock);
	init_waitqueue_head(&sf->wait);
	sf->thresh.min_level = SLUICE_LEVEL_LOW;
	sf->thresh.min_interval_ns = privileged ? SLUICE_DEFAULT_INTERVAL_NS :
						  SLUICE_UNPRIV_MIN_INTERVAL_NS;

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
	sluice_uncharge(sf->user);
	mutex_destroy(&sf->read_lock);
	kfree(sf);
}

static bool sluice_has_events(struct sluice_file *sf)
{
	return READ_ONCE(sf->len) != 0;
}

/*
 * Copy as many whole records as fit; block (unless nonblock) until there is
 * one.  Records are copied out first and dequeued after, and only those that
 * reached the buffer whole: when copy_to_user() faults part-way, the rest stay
 * queued for the next read().  read_lock keeps two readers of one descriptor
 * from copying the same records; the shrinker only ever appends behind them.
 */
ssize_t sluice_events_read(struct sluice_file *sf, char __user *buf, size_t count,
			   bool nonblock)
{
	struct sluice_event batch[8];
	size_t want, n, i, done = 0;
	unsigned long left = 0;
	int ret;

	if (count < sizeof(struct sluice_event))
		return -EINVAL;
	want = count / sizeof(struct sluice_event);

	for (;;) {
		if (!sluice_has_events(sf)) {
			if (nonblock)
				return -EAGAIN;
			ret = wait_event_interruptible(sf->wait, sluice_has_events(sf));
			if (ret)
				return ret;
		}
		if (mutex_lock_interruptible(&sf->read_lock))
			return -ERESTARTSYS;
		if (sluice_has_events(sf))
			break;
		/* Another reader of this descriptor emptied the queue first. */
		mutex_unlock(&sf->read_lock);
	}

	while (done < want && !left) {
		spin_lock(&sf->lock);
		for (n = 0; n < ARRAY_SIZE(batch) && done + n < want && n < sf->len; n++)
			batch[n] = sf->ring[(sf->head + n) % SLUICE_QUEUE_LEN];
		spin_unlock(&sf->lock);
		if (!n)
			break;
		left = copy_to_user(buf + done * sizeof(batch[0]), batch, n * sizeof(batch[0]));
		i = (n * sizeof(batch[0]) - left) / sizeof(batch[0]);
		spin_lock(&sf->lock);
		sf->head = (sf->head + i) % SLUICE_QUEUE_LEN;
		sf->len -= i;
		spin_unlock(&sf->lock);
		done += i;
	}
	mutex_unlock(&sf->read_lock);
	/* read(2): a fault before the first whole record is -EFAULT, after it a short count. */
	return done ? done * sizeof(struct sluice_event) : -EFAULT;
}

__poll_t sluice_events_poll(struct sluice_file *sf, struct file *file,
			    struct poll_table_struct *pt)
{
	poll_wait(file, &sf->wait, pt);
	return sluice_has_events(sf) ? EPOLLIN | EPOLLRDNORM : 0;
}

int sluice_set_thresholds(struct sluice_file *sf, struct sluice_thresholds *t)
{
	/* An unprivileged descriptor gets PSI's unprivileged resolution: one event per 2 s. */
	u64 floor = sf->privileged ? SLUICE_MIN_INTERVAL_NS : SLUICE_UNPRIV_MIN_INTERVAL_NS;
	u64 dflt = max_t(u64, SLUICE_DEFAULT_INTERVAL_NS, floor);

	if (t->flags & ~SLUICE_THRESH_FLAGS_MASK)
		return -EINVAL;
	if (!(t->flags & SLUICE_THRESH_QUERY)) {
		if (t->min_level > SLUICE_LEVEL_CRITICAL)
			return -EINVAL;
		if (t->min_interval_ns && t->min_interval_ns < SLUICE_MIN_INTERVAL_NS)
			return -EINVAL;
		if (t->min_interval_ns && t->min_interval_ns < floor)
			return -EPERM;
		spin_lock(&sf->lock);
		sf->thresh.min_level = t->min_level ?: SLUICE_LEVEL_LOW;
		sf->thresh.available_pages = t->available_pages;
		sf->thresh.min_interval_ns = t->min_interval_ns ?: dflt;
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
