// SPDX-License-Identifier: GPL-2.0
/*
 * topo.c - PCI topology snapshot for SLUICE_IOC_GET_TOPOLOGY
 *
 * The runtime wants to pair each GPU with the NVMe it can reach most
 * cheaply.  sysfs has every fact needed, but spread over hundreds of files
 * and symlinks whose shape varies; here one ioctl returns the devices of
 * interest plus, for each pair, where their upstream paths meet.
 *
 * One call works on one snapshot: references to the matching pci_devs are
 * taken up front, so devices and link indices agree even if hotplug races.
 * Memory a call allocates is charged to the caller's memory cgroup.
 */
#include <linux/device.h>
#include <linux/iommu.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "internal.h"

/* Not in 6.1's pci_ids.h / pci_regs.h yet. */
#ifndef PCI_BASE_CLASS_ACCELERATOR
#define PCI_BASE_CLASS_ACCELERATOR	0x12
#endif
#ifndef PCI_EXP_LNKCAP2_SLS
#define PCI_EXP_LNKCAP2_SLS		0x000000fe	/* Supported Link Speeds Vector */
#endif

/* Upper bound on functions one snapshot takes; far above any real machine. */
#define SLUICE_MAX_DEVICES	4096

static u8 sluice_kind(const struct pci_dev *pdev)
{
	if ((pdev->class >> 16) == PCI_BASE_CLASS_DISPLAY)
		return SLUICE_KIND_GPU;
	if (pdev->class == PCI_CLASS_STORAGE_EXPRESS)
		return SLUICE_KIND_NVME;
	if ((pdev->class >> 16) == PCI_BASE_CLASS_ACCELERATOR)
		return SLUICE_KIND_ACCEL;
	return SLUICE_KIND_OTHER;
}

static bool sluice_wanted(const struct pci_dev *pdev, u32 flags)
{
	return (flags & SLUICE_TOPO_ALL_DEVICES) || sluice_kind(pdev) != SLUICE_KIND_OTHER;
}

static void sluice_snapshot_put(struct pci_dev **devs, u32 n)
{
	while (n)
		pci_dev_put(devs[--n]);
	kvfree(devs);
}

/*
 * Collect referenced pci_devs in one pass, growing the array as needed.
 *
 * for_each_pci_dev(pdev) is pci_get_device(..., pdev): it drops the reference
 * on the device it stands on and takes one on the next, so after a break the
 * cursor is a pointer we hold no reference to, and passing it to another walk
 * puts a reference someone else owns.  An earlier version counted in one
 * walk, filled in a second, and retried both when devices appeared in
 * between (SR-IOV VFs being enabled): its retry reused the stale cursor, an
 * underflow of the device's refcount that also made the retry start
 * mid-list.  So: one walk, the cursor never reused, and the one break drops
 * the cursor's reference itself.  (No VM test can make devices appear in that
 * window on demand; the growth path below runs in every SLUICE_TOPO_ALL_DEVICES
 * call of the VM tests, which have more functions than SLUICE_SNAPSHOT_FIRST.)
 */
#define SLUICE_SNAPSHOT_FIRST	8

static struct pci_dev **sluice_snapshot(u32 flags, u32 *np)
{
	struct pci_dev *pdev = NULL, **devs, **bigger;
	u32 n = 0, cap = SLUICE_SNAPSHOT_FIRST;

	devs = kvcalloc(cap, sizeof(*devs), GFP_KERNEL_ACCOUNT);
	if (!devs)
		return ERR_PTR(-ENOMEM);
	for_each_pci_dev(pdev) {
		if (!sluice_wanted(pdev, flags))
			continue;
		if (n == cap) {
			if (cap == SLUICE_MAX_DEVICES) {
				pci_dev_put(pdev);	/* the cursor's reference */
				break;
			}
			cap = min_t(u32, cap * 2, SLUICE_MAX_DEVICES);
			bigger = kvcalloc(cap, sizeof(*devs), GFP_KERNEL_ACCOUNT);
			if (!bigger) {
				pci_dev_put(pdev);
				sluice_snapshot_put(devs, n);
				return ERR_PTR(-ENOMEM);
			}
			memcpy(bigger, devs, n * sizeof(*devs));
			kvfree(devs);
			devs = bigger;
		}
		devs[n++] = pci_dev_get(pdev);
	}
	*np = n;
	return devs;
}

/* Highest supported speed as a PCIe generation, the way pcie_get_speed_cap() finds it. */
static u8 sluice_max_speed(struct pci_dev *pdev)
{
	u32 lnkcap2 = 0, lnkcap = 0;

	pcie_capability_read_dword(pdev, PCI_EXP_LNKCAP2, &lnkcap2);
	if (lnkcap2 & PCI_EXP_LNKCAP2_SLS)
		return fls(lnkcap2 & PCI_EXP_LNKCAP2_SLS) - 1;
	pcie_capability_read_dword(pdev, PCI_EXP_LNKCAP, &lnkcap);
	return lnkcap & PCI_EXP_LNKCAP_SLS;
}

static void sluice_fill_device(struct pci_dev *pdev, struct sluice_pci_device *d)
{
	struct iommu_group *group;
	u16 lnksta = 0;
	u32 lnkcap = 0;
	int node, i;

	memset(d, 0, sizeof(*d));
	d->domain = pci_domain_nr(pdev->bus);
	d->bus = pdev->bus->number;
	d->dev = PCI_SLOT(pdev->devfn);
	d->func = PCI_FUNC(pdev->devfn);
	d->kind = sluice_kind(pdev);
	d->vendor = pdev->vendor;
	d->device = pdev->device;
	d->subsystem_vendor = pdev->subsystem_vendor;
	d->subsystem_device = pdev->subsystem_device;
	d->class_code = pdev->class;

	node = dev_to_node(&pdev->dev);
	if (node != NUMA_NO_NODE) {
		d->numa_node = node;
		d->flags |= SLUICE_DEV_NUMA;
	} else {
		d->numa_node = SLUICE_NO_NODE;
	}

	d->iommu_group = SLUICE_NO_IOMMU_GROUP;
	group = iommu_group_get(&pdev->dev);
	if (group) {
		d->iommu_group = iommu_group_id(group);
		d->flags |= SLUICE_DEV_IOMMU;
		iommu_group_put(group);
	}

	if (pci_is_pcie(pdev)) {
		d->flags |= SLUICE_DEV_PCIE;
		/* Reads of link registers a port type lacks return 0 (= unknown). */
		pcie_capability_read_word(pdev, PCI_EXP_LNKSTA, &lnksta);
		pcie_capability_read_dword(pdev, PCI_EXP_LNKCAP, &lnkcap);
		d->cur_link_speed = lnksta & PCI_EXP_LNKSTA_CLS;
		d->cur_link_width = (lnksta & PCI_EXP_LNKSTA_NLW) >> PCI_EXP_LNKSTA_NLW_SHIFT;
		d->max_link_speed = sluice_max_speed(pdev);
		d->max_link_width = (lnkcap & PCI_EXP_LNKCAP_MLW) >> 4;
	}

	for (i = 0; i < SLUICE_NUM_BARS; i++)
		d->bar_size[i] = pci_resource_len(pdev, i);

	/* The device lock keeps the driver (and its name) from going away under us. */
	device_lock(&pdev->dev);
	if (pdev->dev.driver) {
		strscpy((char *)d->driver, pdev->dev.driver->name, sizeof(d->driver));
		d->flags |= SLUICE_DEV_DRIVER;
	}
	device_unlock(&pdev->dev);
}

static unsigned int sluice_depth(struct pci_dev *pdev)
{
	unsigned int depth = 0;

	while ((pdev = pci_upstream_bridge(pdev)))
		depth++;
	return depth;
}

/* Relation and bridge count of the path between two devices. */
static void sluice_fill_link(struct pci_dev *a, struct pci_dev *b, struct sluice_pci_link *l)
{
	struct pci_dev *x, *y;
	unsigned int da = 0, db;
	int na, nb;

	for (x = pci_upstream_bridge(a); x; x = pci_upstream_bridge(x), da++) {
		db = 0;
		for (y = pci_upstream_bridge(b); y; y = pci_upstream_bridge(y), db++) {
			if (x != y)
				continue;
			/* x is the lowest common bridge, da/db bridges below it. */
			l->hops = da + db + 1;
			if (pci_is_pcie(x) && pci_pcie_type(x) == PCI_EXP_TYPE_ROOT_PORT)
				l->relation = SLUICE_PATH_SAME_ROOT_PORT;
			else
				l->relation = SLUICE_PATH_SAME_SWITCH;
			return;
		}
	}

	l->hops = sluice_depth(a) + sluice_depth(b);
	if (pci_find_host_bridge(a->bus) == pci_find_host_bridge(b->bus)) {
		l->relation = SLUICE_PATH_SAME_HOST_BRIDGE;
		return;
	}
	na = dev_to_node(&a->dev);
	nb = dev_to_node(&b->dev);
	if (na != NUMA_NO_NODE && nb != NUMA_NO_NODE && na != nb)
		l->relation = SLUICE_PATH_CROSS_NODE;
	else
		l->relation = SLUICE_PATH_SAME_NODE;
}

static int sluice_copy_devices(struct sluice_topology *t, struct pci_dev **devs, u32 n)
{
	struct sluice_pci_device __user *out = u64_to_user_ptr(t->devices_ptr);
	struct sluice_pci_device d;
	u32 i, cap = t->devices_count;

	t->devices_count = n;
	t->device_size = sizeof(d);
	if (!out)
		return 0;
	for (i = 0; i < n && i < cap; i++) {
		sluice_fill_device(devs[i], &d);
		if (copy_to_user(&out[i], &d, sizeof(d)))
			return -EFAULT;
	}
	return 0;
}

/* Links are computed while copying: n^2/2 of them need no kernel buffer. */
static int sluice_copy_links(struct sluice_topology *t, struct pci_dev **devs, u32 n)
{
	struct sluice_pci_link __user *out = u64_to_user_ptr(t->links_ptr);
	struct sluice_pci_link l;
	u64 total = n ? (u64)n * (n - 1) / 2 : 0;
	u32 a, b, cap = t->links_count, k = 0;

	t->links_count = min_t(u64, total, U32_MAX);
	t->link_size = sizeof(l);
	if (!out)
		return 0;
	for (a = 0; a < n; a++) {
		for (b = a + 1; b < n; b++) {
			if (k == cap)
				return 0;
			memset(&l, 0, sizeof(l));
			l.a = a;
			l.b = b;
			sluice_fill_link(devs[a], devs[b], &l);
			if (copy_to_user(&out[k], &l, sizeof(l)))
				return -EFAULT;
			k++;
		}
		cond_resched();
	}
	return 0;
}

int sluice_get_topology(struct sluice_topology *t)
{
	struct pci_dev **devs;
	u32 n;
	int ret;

	if ((t->flags & ~SLUICE_TOPO_FLAGS_MASK) || t->pad)
		return -EINVAL;
	/* A buffer of another element size means another ABI version: refuse, don't guess. */
	if (t->devices_ptr && t->device_size != sizeof(struct sluice_pci_device))
		return -EINVAL;
	if (t->links_ptr && t->link_size != sizeof(struct sluice_pci_link))
		return -EINVAL;
	if (!t->devices_ptr && t->device_size && t->device_size != sizeof(struct sluice_pci_device))
		return -EINVAL;
	if (!t->links_ptr && t->link_size && t->link_size != sizeof(struct sluice_pci_link))
		return -EINVAL;

	devs = sluice_snapshot(t->flags, &n);
	if (IS_ERR(devs))
		return PTR_ERR(devs);
	ret = sluice_copy_devices(t, devs, n);
	if (!ret)
		ret = sluice_copy_links(t, devs, n);
	sluice_snapshot_put(devs, n);
	return ret;
}
