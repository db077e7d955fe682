// SPDX-License-Identifier: GPL-2.0
/*
 * main.c - /dev/sluice: misc device registration and file operations
 *
 * All state lives in the open file (struct sluice_file), so two processes
 * (or two descriptors in one) see independent event queues and thresholds.
 * .owner pins the module while any descriptor is open: rmmod then fails
 * with -EBUSY/-EWOULDBLOCK instead of pulling code from under a reader.
 */
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/poll.h>

#include "internal.h"

static int sluice_open(struct inode *inode, struct file *file)
{
	struct sluice_file *sf = sluice_file_alloc(file);

	if (IS_ERR(sf))
		return PTR_ERR(sf);
	/* misc_open() stored the miscdevice here; we need the per-fd state instead. */
	file->private_data = sf;
	return stream_open(inode, file);
}

static int sluice_release(struct inode *inode, struct file *file)
{
	sluice_file_free(file->private_data);
	return 0;
}

static ssize_t sluice_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	return sluice_events_read(file->private_data, buf, count,
				  file->f_flags & O_NONBLOCK);
}

static __poll_t sluice_poll(struct file *file, struct poll_table_struct *pt)
{
	return sluice_events_poll(file->private_data, file, pt);
}

static const struct file_operations sluice_fops = {
	.owner		= THIS_MODULE,
	.open		= sluice_open,
	.release	= sluice_release,
	.read		= sluice_read,
	.poll		= sluice_poll,
	.unlocked_ioctl	= sluice_ioctl,
	/* Every argument is laid out identically for 32- and 64-bit callers. */
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= no_llseek,
};

static struct miscdevice sluice_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "sluice",
	.fops	= &sluice_fops,
	/*
	 * Anyone may open: topology and pressure are no secrets (sysfs and PSI
	 * show as much).  What PSI restricts for unprivileged users is the
	 * resolution, and so does events.c (2 s without CAP_SYS_RESOURCE), and
	 * the opens each user may hold (max_open_per_user).
	 */
	.mode	= 0444,
};

static int __init sluice_init(void)
{
	int ret;

	ret = sluice_events_init();
	if (ret)
		return ret;
	ret = misc_register(&sluice_misc);
	if (ret) {
		sluice_events_exit();
		return ret;
	}
	pr_info("sluice: /dev/sluice ready (API %u.%u)\n", SLUICE_API_MAJOR, SLUICE_API_MINOR);
	return 0;
}

static void __exit sluice_exit(void)
{
	/* No descriptor can be open here (fops.owner), so no queue is left. */
	misc_deregister(&sluice_misc);
	sluice_events_exit();
}

module_init(sluice_init);
module_exit(sluice_exit);

MODULE_DESCRIPTION("sluice: PCI topology and memory-pressure events for the sluice LLM runtime");
MODULE_AUTHOR("sluice developers");
MODULE_LICENSE("GPL");
