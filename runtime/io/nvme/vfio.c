/* SPDX-License-Identifier: MIT */
/*
 * runtime/io/nvme/vfio.c — VFIO plumbing: container, group, device, BAR0, DMA mappings.
 *
 * The legacy container/group interface (type1 IOMMU) is used because it is what every
 * kernel with VFIO has (Debian 12's 6.1 has no iommufd cdev for vfio-pci devices).
 * IO virtual addresses come from a bump allocator starting at 4 GiB: above the 32-bit
 * MSI window the IOMMU reserves, and far below the smallest address width (39 bits).
 */
#include "io/nvme/vfio.h"

#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define IOVA_BASE (1ull << 32)
#define PAGE 4096ull

int sl_pci_bdf_parse(const char *s, char out[16], struct sl_err *err)
{
	unsigned dom = 0, bus, dev, fn;
	char tail;
	/* hex digits and separators only: sscanf's %x would also take "0x" and signs */
	if (s[strspn(s, "0123456789abcdefABCDEF:.")] == 0 &&
	    (sscanf(s, "%x:%x:%x.%x%c", &dom, &bus, &dev, &fn, &tail) == 4 ||
	    (dom = 0, sscanf(s, "%x:%x.%x%c", &bus, &dev, &fn, &tail) == 3))) {
		if (dom <= 0xffff && bus <= 0xff && dev <= 0x1f && fn <= 7) {
			snprintf(out, 16, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
			return 0;
		}
	}
	return sl_errf(err, EINVAL, "'%s' is not a PCI address (DDDD:BB:DD.F)", s);
}

static int sysfs_link_base(const char *bdf, const char *what, char *out, size_t n)
{
	char p[PATH_MAX], t[PATH_MAX];
	snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/%s", bdf, what);
	ssize_t r = readlink(p, t, sizeof(t) - 1);
	if (r < 0)
		return -errno;
	t[r] = 0;
	const char *b = strrchr(t, '/');
	b = b ? b + 1 : t;
	if (strlen(b) >= n)
		return -ENAMETOOLONG;
	memcpy(out, b, strlen(b) + 1);
	return 0;
}

int sl_vfio_open(struct sl_vfio *v, const char *bdf_in, struct sl_err *err)
{
	memset(v, 0, sizeof(*v));
	v->container = v->group = v->device = -1;
	v->iova_next = IOVA_BASE;
	int r = sl_pci_bdf_parse(bdf_in, v->bdf, err);
	if (r)
		return r;
	const char *bdf = v->bdf;
	char path[PATH_MAX], drv[64] = "", grp[32];
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", bdf);
	if (access(path, F_OK))
		return sl_errf(err, ENODEV, "no PCI device %s", bdf);
	if (sysfs_link_base(bdf, "driver", drv, sizeof(drv)) < 0)
		drv[0] = 0;
	if (strcmp(drv, "vfio-pci"))
		return sl_errf(err, EBUSY, "%s is %s%s, not vfio-pci: run `sluice nvme bind %s` first", bdf,
			       drv[0] ? "bound to " : "bound to no driver", drv, bdf);
	if (sysfs_link_base(bdf, "iommu_group", grp, sizeof(grp)) < 0)
		return sl_errf(err, ENODEV, "%s has no IOMMU group: the IOMMU is off (boot with intel_iommu=on or amd_iommu=on)", bdf);

	if ((v->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC)) < 0) {
		r = sl_errf(err, errno, "/dev/vfio/vfio: %s (is the vfio module loaded?)", strerror(errno));
		goto fail;
	}
	if (ioctl(v->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION ||
	    !ioctl(v->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU)) {
		r = sl_errf(err, ENOTSUP, "VFIO has no type1 IOMMU support (modprobe vfio_iommu_type1)");
		goto fail;
	}
	snprintf(path, sizeof(path), "/dev/vfio/%s", grp);
	if ((v->group = open(path, O_RDWR | O_CLOEXEC)) < 0) {
		r = sl_errf(err, errno, "%s (IOMMU group of %s): %s%s", path, bdf, strerror(errno),
			    errno == EBUSY ? " (another process has the device open)" :
			    errno == EACCES ? " (give this user the group file: see Documentation/nvme-vfio.md)" : "");
		goto fail;
	}
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	if (ioctl(v->group, VFIO_GROUP_GET_STATUS, &gs) < 0 || !(gs.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		r = sl_errf(err, EBUSY, "IOMMU group %s of %s is not viable: every device in it must be bound to vfio-pci", grp, bdf);
		goto fail;
	}
	if (ioctl(v->group, VFIO_GROUP_SET_CONTAINER, &v->container) < 0) {
		r = sl_errf(err, errno, "VFIO_GROUP_SET_CONTAINER: %s", strerror(errno));
		goto fail;
	}
	int type = ioctl(v->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) ? VFIO_TYPE1v2_IOMMU : VFIO_TYPE1_IOMMU;
	if (ioctl(v->container, VFIO_SET_IOMMU, type) < 0) {
		r = sl_errf(err, errno, "VFIO_SET_IOMMU: %s", strerror(errno));
		goto fail;
	}
	if ((v->device = ioctl(v->group, VFIO_GROUP_GET_DEVICE_FD, bdf)) < 0) {
		r = sl_errf(err, errno, "VFIO_GROUP_GET_DEVICE_FD %s: %s", bdf, strerror(errno));
		goto fail;
	}
	struct vfio_region_info ri = { .argsz = sizeof(ri), .index = VFIO_PCI_BAR0_REGION_INDEX };
	if (ioctl(v->device, VFIO_DEVICE_GET_REGION_INFO, &ri) < 0 || !(ri.flags & VFIO_REGION_INFO_FLAG_MMAP) ||
	    ri.size < 0x2000) {
		r = sl_errf(err, ENODEV, "%s: BAR0 cannot be mapped (not an NVMe controller?)", bdf);
		goto fail;
	}
	void *bar = mmap(NULL, ri.size, PROT_READ | PROT_WRITE, MAP_SHARED, v->device, (off_t)ri.offset);
	if (bar == MAP_FAILED) {
		r = sl_errf(err, errno, "%s: mmap BAR0: %s", bdf, strerror(errno));
		goto fail;
	}
	v->bar0 = bar;
	v->bar0_len = ri.size;
	/* Memory space + bus master: the controller must fetch commands and DMA data. */
	struct vfio_region_info ci = { .argsz = sizeof(ci), .index = VFIO_PCI_CONFIG_REGION_INDEX };
	uint16_t cmd;
	if (ioctl(v->device, VFIO_DEVICE_GET_REGION_INFO, &ci) < 0 ||
	    pread(v->device, &cmd, 2, (off_t)ci.offset + PCI_COMMAND) != 2) {
		r = sl_errf(err, EIO, "%s: cannot read PCI config space", bdf);
		goto fail;
	}
	cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	if (pwrite(v->device, &cmd, 2, (off_t)ci.offset + PCI_COMMAND) != 2) {
		r = sl_errf(err, EIO, "%s: cannot enable bus mastering", bdf);
		goto fail;
	}
	return 0;
fail:
	sl_vfio_close(v);
	return r;
}

void sl_vfio_close(struct sl_vfio *v)
{
	if (v->bar0)
		munmap((void *)v->bar0, v->bar0_len);
	v->bar0 = NULL;
	if (v->device >= 0)
		close(v->device);
	if (v->group >= 0)
		close(v->group);
	if (v->container >= 0)
		close(v->container);
	v->device = v->group = v->container = -1;
}

int sl_vfio_dma_map(struct sl_vfio *v, void *vaddr, size_t len, uint64_t *iova, struct sl_err *err)
{
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m), .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uint64_t)(uintptr_t)vaddr, .iova = v->iova_next, .size = len,
	};
	if (ioctl(v->container, VFIO_IOMMU_MAP_DMA, &m) < 0)
		return sl_errf(err, errno, "VFIO_IOMMU_MAP_DMA of %zu bytes: %s%s", len, strerror(errno),
			       errno == ENOMEM ? " (RLIMIT_MEMLOCK too low? see Documentation/nvme-vfio.md)" : "");
	*iova = v->iova_next;
	/* A guard page between mappings: a device overrun faults instead of corrupting. */
	v->iova_next += SL_ALIGN_UP(len, PAGE) + PAGE;
	return 0;
}

void sl_vfio_dma_unmap(struct sl_vfio *v, uint64_t iova, size_t len)
{
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = iova, .size = len };
	ioctl(v->container, VFIO_IOMMU_UNMAP_DMA, &u);
}

int sl_dma_alloc(struct sl_vfio *v, size_t len, struct sl_dma *d, struct sl_err *err)
{
	len = SL_ALIGN_UP(len, PAGE);
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return sl_errf(err, ENOMEM, "out of memory (%zu bytes of DMA memory)", len);
	int r = sl_vfio_dma_map(v, p, len, &d->iova, err);
	if (r) {
		munmap(p, len);
		return r;
	}
	d->va = p;
	d->len = len;
	return 0;
}

void sl_dma_free(struct sl_vfio *v, struct sl_dma *d)
{
	if (!d->va)
		return;
	sl_vfio_dma_unmap(v, d->iova, d->len);
	munmap(d->va, d->len);
	d->va = NULL;
}
