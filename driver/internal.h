/* SPDX-License-Identifier: GPL-2.0 */
/*
 * internal.h - shared declarations of the sluice module's parts
 *
 * main.c   misc device, file operations, module init/exit
 * ioctl.c  command dispatch and argument validation
 * topo.c   PCI topology snapshot (SLUICE_IOC_GET_TOPOLOGY)
 * events.c memory-pressure events: shrinker, per-fd queues, read/poll
 */
#ifndef SLUICE_INTERNAL_H
#define SLUICE_INTERNAL_H

#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/sluice.h>

struct file;
struct poll_table_struct;
struct sluice_user;

/* Events each open file can queue; a reader that falls further behind loses events (counted). */
#define SLUICE_QUEUE_LEN	64

/**
 * struct sluice_file - state of one open file descriptor of /dev/sluice
 * @node: entry in the global list the shrinker walks (under sluice_files_lock)
 * @user: the opener's per-user count (NULL for a privileged opener, who is
 *	not counted per user); see sluice_file_alloc()
 * @privileged: the opener had CAP_SYS_RESOURCE: the 1 ms rate-limit floor
 *	applies instead of the 2 s one (SLUICE_UNPRIV_MIN_INTERVAL_NS)
 * @read_lock: serialises readers, so a record leaves the queue only after
 *	it reached the reader's buffer whole (a fault loses nothing)
 * @lock: protects everything below; taken from reclaim context, so never
 *	held across anything that may allocate or sleep
 * @wait: readers and pollers sleep here
 * @head: index of the oldest queued record
 * @len: number of queued records
 * @seq: sequence number of the last event generated for this descriptor
 * @dropped: events lost to a full queue since the last queued record
 * @coalesced: events swallowed by the rate limit since the last queued record
 * @last_ns: time of the last queued record (rate limit)
 * @thresh: this descriptor's thresholds (flags field unused)
 * @ring: SLUICE_QUEUE_LEN records, allocated with the file at open (charged
 *	to the opener's memory cgroup) so reclaim never allocates
 */
struct sluice_file {
	struct list_head node;
	struct sluice_user *user;
	bool privileged;
	struct mutex read_lock;
	spinlock_t lock;
	wait_queue_head_t wait;
	u32 head;
	u32 len;
	u64 seq;
	u32 dropped;
	u32 coalesced;
	u64 last_ns;
	struct sluice_thresholds thresh;
	struct sluice_event ring[SLUICE_QUEUE_LEN];
};

/* events.c */
int sluice_events_init(void);
void sluice_events_exit(void);
struct sluice_file *sluice_file_alloc(struct file *file);
void sluice_file_free(struct sluice_file *sf);
ssize_t sluice_events_read(struct sluice_file *sf, char __user *buf, size_t count,
			   bool nonblock);
__poll_t sluice_events_poll(struct sluice_file *sf, struct file *file,
			    struct poll_table_struct *pt);
int sluice_set_thresholds(struct sluice_file *sf, struct sluice_thresholds *t);

/* topo.c */
int sluice_get_topology(struct sluice_topology *t);

/* ioctl.c */
long sluice_ioctl(struct file *file, unsigned int cmd, unsigned long arg);

#endif /* SLUICE_INTERNAL_H */
