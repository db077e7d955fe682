// SPDX-License-Identifier: GPL-2.0
/*
 * ioctl.c - command dispatch and argument validation for /dev/sluice
 *
 * Validation is strict on purpose: every reserved bit and padding byte that
 * is rejected today can be given a meaning tomorrow without old binaries
 * (which pass zeros) changing behaviour.
 *
 *   unknown type or number            -ENOTTY
 *   known number, other size/dir      -EINVAL  (caller built with another header)
 *   unknown flag, nonzero pad         -EINVAL
 *   unreadable/unwritable argument    -EFAULT
 */
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/uaccess.h>

#include "internal.h"

static int sluice_get_info(struct sluice_info *info)
{
	if (info->flags || info->pad)
		return -EINVAL;
	info->api_major = SLUICE_API_MAJOR;
	info->api_minor = SLUICE_API_MINOR;
	info->event_size = sizeof(struct sluice_event);
	info->features = SLUICE_FEATURE_TOPOLOGY | SLUICE_FEATURE_PRESSURE |
			 SLUICE_FEATURE_THRESHOLDS;
	info->total_pages = totalram_pages();
	info->page_size = PAGE_SIZE;
	info->queue_len = SLUICE_QUEUE_LEN;
	return 0;
}

/* Largest argument; commands copy in and out through one stack buffer. */
union sluice_ioctl_arg {
	struct sluice_info info;
	struct sluice_topology topo;
	struct sluice_thresholds thresh;
};

long sluice_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;
	union sluice_ioctl_arg a;
	unsigned int expected;
	int ret;

	if (_IOC_TYPE(cmd) != SLUICE_IOCTL_BASE)
		return -ENOTTY;
	switch (_IOC_NR(cmd)) {
	case _IOC_NR(SLUICE_IOC_GET_INFO):
		expected = SLUICE_IOC_GET_INFO;
		break;
	case _IOC_NR(SLUICE_IOC_GET_TOPOLOGY):
		expected = SLUICE_IOC_GET_TOPOLOGY;
		break;
	case _IOC_NR(SLUICE_IOC_SET_THRESHOLDS):
		expected = SLUICE_IOC_SET_THRESHOLDS;
		break;
	default:
		return -ENOTTY;
	}
	if (cmd != expected)
		return -EINVAL;

	/* All commands are _IOWR and the size is checked above. */
	if (copy_from_user(&a, uarg, _IOC_SIZE(cmd)))
		return -EFAULT;

	switch (cmd) {
	case SLUICE_IOC_GET_INFO:
		ret = sluice_get_info(&a.info);
		break;
	case SLUICE_IOC_GET_TOPOLOGY:
		ret = sluice_get_topology(&a.topo);
		break;
	case SLUICE_IOC_SET_THRESHOLDS:
		ret = sluice_set_thresholds(file->private_data, &a.thresh);
		break;
	default:
		return -ENOTTY;
	}
	if (ret)
		return ret;
	if (copy_to_user(uarg, &a, _IOC_SIZE(cmd)))
		return -EFAULT;
	return 0;
}
