/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * sluice_dev.h - tiny header-only client of /dev/sluice, used by the VM tests.
 *
 * It shows the intended userspace pattern (and can seed runtime/sys/topo.c):
 * query sizes with ptr = 0, allocate, fetch; retry if the count grew.
 */
#ifndef SLUICE_DEV_H
#define SLUICE_DEV_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/sluice.h>

struct sluice_topo_snapshot {
	struct sluice_pci_device *dev;
	uint32_t ndev;
	struct sluice_pci_link *link;
	uint32_t nlink;
};

/* Fetch devices and links of one snapshot; returns 0 or -errno. */
static inline int sluice_topo_get(int fd, uint32_t flags, struct sluice_topo_snapshot *s)
{
	int tries;

	memset(s, 0, sizeof(*s));
	for (tries = 0; tries < 8; tries++) {
		struct sluice_topology t;
		uint32_t nd, nl;

		memset(&t, 0, sizeof(t));
		t.flags = flags;
		if (ioctl(fd, SLUICE_IOC_GET_TOPOLOGY, &t) < 0)
			return -errno;
		nd = t.devices_count;
		nl = t.links_count;
		free(s->dev);
		free(s->link);
		s->dev = (struct sluice_pci_device *)calloc(nd ? nd : 1, sizeof(*s->dev));
		s->link = (struct sluice_pci_link *)calloc(nl ? nl : 1, sizeof(*s->link));
		if (!s->dev || !s->link)
			return -ENOMEM;
		memset(&t, 0, sizeof(t));
		t.flags = flags;
		t.devices_ptr = (uintptr_t)s->dev;
		t.devices_count = nd;
		t.device_size = sizeof(*s->dev);
		t.links_ptr = (uintptr_t)s->link;
		t.links_count = nl;
		t.link_size = sizeof(*s->link);
		if (ioctl(fd, SLUICE_IOC_GET_TOPOLOGY, &t) < 0)
			return -errno;
		if (t.devices_count <= nd && t.links_count <= nl) {
			s->ndev = t.devices_count;
			s->nlink = t.links_count;
			return 0;
		}
		/* Hotplug between the two calls: ask again. */
	}
	return -EAGAIN;
}

static inline void sluice_topo_free(struct sluice_topo_snapshot *s)
{
	free(s->dev);
	free(s->link);
	memset(s, 0, sizeof(*s));
}

/* Relation of devices i and j (any order), 0 if not found. */
static inline uint32_t sluice_topo_relation(const struct sluice_topo_snapshot *s, uint32_t i,
					    uint32_t j, uint32_t *hops)
{
	uint32_t k, a = i < j ? i : j, b = i < j ? j : i;

	for (k = 0; k < s->nlink; k++)
		if (s->link[k].a == a && s->link[k].b == b) {
			if (hops)
				*hops = s->link[k].hops;
			return s->link[k].relation;
		}
	return 0;
}

#endif /* SLUICE_DEV_H */
