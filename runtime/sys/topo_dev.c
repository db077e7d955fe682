/* SPDX-License-Identifier: MIT */
/*
 * runtime/sys/topo_dev.c — the topology from /dev/sluice (SLUICE_IOC_GET_TOPOLOGY).
 *
 * The list protocol (Documentation/driver.md): ask with null pointers for the
 * counts, allocate, fetch; if a count grew in between (hotplug), ask again.
 * Devices and links of one call share one snapshot, so the link indices are valid
 * for the device array of the same call.
 */
#include "sys/topo.h"
#include "uapi/linux/sluice.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int fetch(int fd, uint32_t flags, struct sluice_pci_device **devp, uint32_t *nd,
		 struct sluice_pci_link **linkp, uint32_t *nl)
{
	struct sluice_pci_device *dev = NULL;
	struct sluice_pci_link *link = NULL;

	for (int tries = 0; tries < 8; tries++) {
		struct sluice_topology t = { .flags = flags };
		uint32_t cd, cl;

		if (ioctl(fd, SLUICE_IOC_GET_TOPOLOGY, &t) < 0)
			goto fail_errno;
		cd = t.devices_count;
		cl = t.links_count;
		free(dev);
		free(link);
		dev = calloc(cd ? cd : 1, sizeof(*dev));
		link = calloc(cl ? cl : 1, sizeof(*link));
		if (!dev || !link) {
			errno = ENOMEM;
			goto fail_errno;
		}
		memset(&t, 0, sizeof(t));
		t.flags = flags;
		t.devices_ptr = (uintptr_t)dev;
		t.devices_count = cd;
		t.device_size = sizeof(*dev);
		t.links_ptr = (uintptr_t)link;
		t.links_count = cl;
		t.link_size = sizeof(*link);
		if (ioctl(fd, SLUICE_IOC_GET_TOPOLOGY, &t) < 0)
			goto fail_errno;
		if (t.devices_count <= cd && t.links_count <= cl) {
			*devp = dev;
			*nd = t.devices_count;
			*linkp = link;
			*nl = t.links_count;
			return 0;
		}
	}
	free(dev);
	free(link);
	return -EAGAIN;
fail_errno:;
	int e = errno;
	free(dev);
	free(link);
	return -e;
}

static void convert_device(const struct sluice_pci_device *s, struct sl_topo_dev *d)
{
	memset(d, 0, sizeof(*d));
	d->domain = s->domain;
	d->bus = s->bus;
	d->dev = s->dev;
	d->func = s->func;
	d->vendor = s->vendor;
	d->device = s->device;
	d->subsys_vendor = s->subsystem_vendor;
	d->subsys_device = s->subsystem_device;
	d->class_code = s->class_code & 0xffffffu;
	d->numa_node = (s->flags & SLUICE_DEV_NUMA) ? (int)s->numa_node : -1;
	d->iommu_group = (s->flags & SLUICE_DEV_IOMMU) ? (int)s->iommu_group : -1;
	d->pcie = s->flags & SLUICE_DEV_PCIE;
	d->cur_link_gen = s->cur_link_speed;
	d->cur_link_width = s->cur_link_width;
	d->max_link_gen = s->max_link_speed;
	d->max_link_width = s->max_link_width;
	for (int i = 0; i < SL_TOPO_NUM_BARS; i++)
		d->bar_size[i] = s->bar_size[i];
	if (s->flags & SLUICE_DEV_DRIVER) {
		/* The module NUL-terminates; bound the copy anyway, it is memory we did not write. */
		size_t n = strnlen((const char *)s->driver, SL_MIN(sizeof(s->driver), sizeof(d->driver) - 1));
		memcpy(d->driver, s->driver, n);
		d->driver[n] = 0;
	}
}

static int dev_load(const struct sl_topo_opts *o, const char *root, struct sl_topo *out, struct sl_err *err)
{
	struct sluice_info info = { 0 };
	struct sluice_pci_device *dev = NULL;
	struct sluice_pci_link *link = NULL;
	uint32_t nd = 0, nl = 0;
	int fd, r;

	fd = open(o->dev_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sl_errf(err, errno, "topology: %s: %s%s", o->dev_path, strerror(errno),
			       errno == ENOENT ? " (sluice.ko not loaded; try --source sysfs)" : "");
	if (ioctl(fd, SLUICE_IOC_GET_INFO, &info) < 0) {
		r = sl_errf(err, errno, "topology: %s: GET_INFO: %s", o->dev_path, strerror(errno));
		close(fd);
		return r;
	}
	if (info.api_major != SLUICE_API_MAJOR || !(info.features & SLUICE_FEATURE_TOPOLOGY)) {
		close(fd);
		return sl_errf(err, ENOTSUP, "topology: %s speaks API %u.%u (features %#llx); this runtime wants %u.x",
			       o->dev_path, info.api_major, info.api_minor, (unsigned long long)info.features,
			       SLUICE_API_MAJOR);
	}
	r = fetch(fd, o->all_devices ? SLUICE_TOPO_ALL_DEVICES : 0, &dev, &nd, &link, &nl);
	close(fd);
	if (r < 0)
		return sl_errf(err, -r, "topology: %s: GET_TOPOLOGY: %s", o->dev_path, strerror(-r));

	if (nd) {
		out->dev = calloc(nd, sizeof(*out->dev));
		out->link = calloc(nl ? nl : 1, sizeof(*out->link));
		if (!out->dev || !out->link) {
			free(dev);
			free(link);
			return sl_errf(err, ENOMEM, "topology: out of memory");
		}
	}
	for (uint32_t i = 0; i < nd; i++)
		convert_device(&dev[i], &out->dev[i]);
	out->n_dev = nd;
	for (uint32_t k = 0; k < nl && nd; k++) {
		out->link[k].a = link[k].a;
		out->link[k].b = link[k].b;
		out->link[k].rel = (enum sl_topo_rel)link[k].relation;
		out->link[k].hops = link[k].hops;
	}
	out->n_link = nd ? nl : 0;
	free(dev);
	free(link);
	return 0;
}

const struct sl_topo_src sl_topo_src_dev = { .name = "dev", .load = dev_load };
