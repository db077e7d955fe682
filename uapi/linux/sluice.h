/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * sluice.h - ioctl ABI of /dev/sluice (sluice.ko)
 *
 * /dev/sluice tells the sluice runtime two things the kernel knows best:
 *
 *  - PCI topology: which GPUs, NVMe controllers and accelerators exist, their
 *    links, NUMA nodes and IOMMU groups, and how far apart each pair sits in
 *    the PCIe hierarchy (so a GPU can be paired with its nearest NVMe);
 *  - memory pressure: fixed-size &struct sluice_event records, read() from
 *    the file descriptor and signalled by poll(), queued when the kernel
 *    starts reclaiming memory.
 *
 * Rules every structure here follows, so that one header serves 32- and
 * 64-bit userspace, C and C++, and can grow without breaking old binaries:
 *
 *  - only __u8/__u16/__u32/__u64, explicit padding, sizes multiples of 8;
 *  - user pointers travel as __u64;
 *  - each structure starts with a @flags word; unknown flags and nonzero
 *    padding are rejected with -EINVAL, so they can be given meaning later;
 *  - variable-length lists are (__u64 ptr, __u32 count, __u32 elem_size):
 *    pass ptr = 0 to learn count and elem_size, then call again with a
 *    buffer.  The kernel copies min(count, available) elements and always
 *    returns the number available in count.
 *
 * Errors: -ENOTTY for a command this driver does not know, -EINVAL for a
 * known command with the wrong argument size, unknown flags, nonzero
 * padding or a wrong elem_size, -EFAULT for an unreadable/unwritable
 * pointer.
 */
#ifndef _UAPI_LINUX_SLUICE_H
#define _UAPI_LINUX_SLUICE_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define SLUICE_DEVICE_PATH	"/dev/sluice"

/* Bumped on incompatible changes (major) and on additions (minor). */
#define SLUICE_API_MAJOR	1
#define SLUICE_API_MINOR	0

#define SLUICE_IOCTL_BASE	0xB5

/* Feature bits reported in &sluice_info.features. */
#define SLUICE_FEATURE_TOPOLOGY		(1ULL << 0)	/* SLUICE_IOC_GET_TOPOLOGY */
#define SLUICE_FEATURE_PRESSURE		(1ULL << 1)	/* read()/poll() events */
#define SLUICE_FEATURE_THRESHOLDS	(1ULL << 2)	/* SLUICE_IOC_SET_THRESHOLDS */

/**
 * struct sluice_info - argument of %SLUICE_IOC_GET_INFO
 * @flags: In: must be 0.
 * @pad: In: must be 0.
 * @api_major: Out: %SLUICE_API_MAJOR of the running module.
 * @api_minor: Out: %SLUICE_API_MINOR of the running module.
 * @event_size: Out: sizeof(struct sluice_event) as the module knows it;
 *	read() returns whole records of this size.
 * @features: Out: %SLUICE_FEATURE_* bits.
 * @total_pages: Out: total RAM in pages (the scale of
 *	&sluice_event.available_pages).
 * @page_size: Out: page size in bytes.
 * @queue_len: Out: events each file descriptor can hold before further
 *	ones are dropped (and counted in &sluice_event.dropped).
 */
struct sluice_info {
	__u32 flags;
	__u32 pad;
	__u16 api_major;
	__u16 api_minor;
	__u32 event_size;
	__u64 features;
	__u64 total_pages;
	__u32 page_size;
	__u32 queue_len;
};

/* Flags of &sluice_topology (In). */
#define SLUICE_TOPO_ALL_DEVICES		(1U << 0)	/* every PCI function, not only the three classes */
#define SLUICE_TOPO_FLAGS_MASK		(SLUICE_TOPO_ALL_DEVICES)

/**
 * struct sluice_topology - argument of %SLUICE_IOC_GET_TOPOLOGY
 * @flags: In: %SLUICE_TOPO_* flags.
 * @pad: In: must be 0.
 * @devices_ptr: In: user address of an array of &struct sluice_pci_device,
 *	or 0 to query the count only.
 * @devices_count: In: capacity of @devices_ptr in elements.  Out: number of
 *	devices found (may exceed the capacity; then only the first
 *	capacity ones were written).
 * @device_size: In: sizeof(struct sluice_pci_device) as the caller knows it,
 *	or 0 when @devices_ptr is 0.  Out: the module's element size.
 * @links_ptr: In: user address of an array of &struct sluice_pci_link, or 0.
 * @links_count: In: capacity of @links_ptr.  Out: number of links, which is
 *	n * (n - 1) / 2 for n devices: one per unordered pair.
 * @link_size: In: sizeof(struct sluice_pci_link) or 0.  Out: module's size.
 *
 * Devices and links of one call come from one snapshot, so the indices in
 * &sluice_pci_link refer to the device array filled by the same call.
 */
struct sluice_topology {
	__u32 flags;
	__u32 pad;
	__u64 devices_ptr;
	__u32 devices_count;
	__u32 device_size;
	__u64 links_ptr;
	__u32 links_count;
	__u32 link_size;
};

/* &sluice_pci_device.kind */
#define SLUICE_KIND_OTHER	0	/* only with SLUICE_TOPO_ALL_DEVICES */
#define SLUICE_KIND_GPU		1	/* class 0x03xxxx: display / 3D controller */
#define SLUICE_KIND_NVME	2	/* class 0x010802: NVM Express */
#define SLUICE_KIND_ACCEL	3	/* class 0x12xxxx: processing accelerator */

/* &sluice_pci_device.flags (Out): which optional fields are valid. */
#define SLUICE_DEV_PCIE		(1U << 0)	/* has a PCIe capability; link fields valid */
#define SLUICE_DEV_NUMA		(1U << 1)	/* numa_node is a real node */
#define SLUICE_DEV_IOMMU	(1U << 2)	/* iommu_group is valid */
#define SLUICE_DEV_DRIVER	(1U << 3)	/* a driver is bound; driver[] holds its name */

#define SLUICE_NO_NODE		0xffffffffU	/* numa_node without SLUICE_DEV_NUMA */
#define SLUICE_NO_IOMMU_GROUP	0xffffffffU	/* iommu_group without SLUICE_DEV_IOMMU */
#define SLUICE_NUM_BARS		6
#define SLUICE_DRIVER_NAME_LEN	32

/**
 * struct sluice_pci_device - one PCI function (Out, filled by the module)
 * @flags: Out: %SLUICE_DEV_* bits.
 * @domain: Out: PCI segment (domain) number.
 * @bus: Out: bus number.
 * @dev: Out: device (slot) number, 0..31.
 * @func: Out: function number, 0..7.
 * @kind: Out: %SLUICE_KIND_*.
 * @vendor: Out: PCI vendor ID.
 * @device: Out: PCI device ID.
 * @subsystem_vendor: Out: subsystem vendor ID.
 * @subsystem_device: Out: subsystem device ID.
 * @class_code: Out: 24-bit class code (base << 16 | sub << 8 | prog-if).
 * @numa_node: Out: NUMA node of the device, or %SLUICE_NO_NODE.
 * @iommu_group: Out: IOMMU group number (/sys/kernel/iommu_groups/N), or
 *	%SLUICE_NO_IOMMU_GROUP.
 * @cur_link_speed: Out: negotiated link speed as PCIe generation
 *	(1 = 2.5 GT/s, 2 = 5, 3 = 8, 4 = 16, 5 = 32, 6 = 64), 0 if unknown.
 * @cur_link_width: Out: negotiated link width in lanes, 0 if unknown.
 * @max_link_speed: Out: highest supported speed (generation), 0 if unknown.
 * @max_link_width: Out: maximum link width in lanes, 0 if unknown.
 * @pad: Out: 0.
 * @bar_size: Out: size in bytes of each standard BAR, 0 when unused (the
 *	upper half of a 64-bit BAR reads 0).
 * @driver: Out: NUL-terminated name of the bound driver, or empty.
 */
struct sluice_pci_device {
	__u32 flags;
	__u32 domain;
	__u8 bus;
	__u8 dev;
	__u8 func;
	__u8 kind;
	__u16 vendor;
	__u16 device;
	__u16 subsystem_vendor;
	__u16 subsystem_device;
	__u32 class_code;
	__u32 numa_node;
	__u32 iommu_group;
	__u8 cur_link_speed;
	__u8 cur_link_width;
	__u8 max_link_speed;
	__u8 max_link_width;
	__u32 pad;
	__u64 bar_size[SLUICE_NUM_BARS];
	__u8 driver[SLUICE_DRIVER_NAME_LEN];
};

/*
 * &sluice_pci_link.relation: where the paths of two devices meet.  Lower is
 * closer; peer-to-peer DMA is best below one switch and worst across sockets.
 */
#define SLUICE_PATH_SAME_SWITCH		1	/* lowest common bridge is a switch (or PCI bridge) */
#define SLUICE_PATH_SAME_ROOT_PORT	2	/* they meet at a root port */
#define SLUICE_PATH_SAME_HOST_BRIDGE	3	/* they meet only in the root complex */
#define SLUICE_PATH_SAME_NODE		4	/* different host bridges, same (or unknown) NUMA node */
#define SLUICE_PATH_CROSS_NODE		5	/* different NUMA nodes: traffic crosses sockets */

/**
 * struct sluice_pci_link - the PCIe path relation of one pair of devices
 * @flags: Out: 0 (reserved).
 * @a: Out: index of the first device in the array of the same call.
 * @b: Out: index of the second device (a < b).
 * @relation: Out: %SLUICE_PATH_*.
 * @hops: Out: number of PCI bridges on the path from @a to @b (the common
 *	bridge counted once).
 * @pad: Out: 0.
 */
struct sluice_pci_link {
	__u32 flags;
	__u32 a;
	__u32 b;
	__u32 relation;
	__u32 hops;
	__u32 pad;
};

/* &sluice_event.type */
#define SLUICE_EVENT_RECLAIM	1	/* the kernel is reclaiming memory (shrinker callback ran) */

/* &sluice_event.level; also &sluice_thresholds.min_level */
#define SLUICE_LEVEL_LOW	1	/* background reclaim (kswapd) */
#define SLUICE_LEVEL_MEDIUM	2	/* direct reclaim: an allocation had to wait */
#define SLUICE_LEVEL_CRITICAL	3	/* available memory below 1/32 of RAM */

/* &sluice_event.flags (Out) */
#define SLUICE_EVENT_KSWAPD	(1U << 0)	/* observed in kswapd (else in the allocating task) */

/**
 * struct sluice_event - one memory-pressure record, returned by read()
 * @type: Out: %SLUICE_EVENT_*.
 * @level: Out: %SLUICE_LEVEL_*.
 * @seq: Out: per-descriptor sequence number, starting at 1.  Dropped events
 *	consume numbers too, so a gap equals the preceding @dropped.
 * @timestamp_ns: Out: CLOCK_MONOTONIC time of the event, in ns.
 * @available_pages: Out: estimate of available memory (MemAvailable) in
 *	pages, at the time of the event.
 * @dropped: Out: events lost because this descriptor's queue was full, since
 *	the previous record (saturates at 0xffffffff).
 * @flags: Out: %SLUICE_EVENT_* flags.
 * @coalesced: Out: events folded into this one by the rate limit
 *	(&sluice_thresholds.min_interval_ns) since the previous record.
 * @pad: Out: 0.
 */
struct sluice_event {
	__u32 type;
	__u32 level;
	__u64 seq;
	__u64 timestamp_ns;
	__u64 available_pages;
	__u32 dropped;
	__u32 flags;
	__u32 coalesced;
	__u32 pad;
};

/* &sluice_thresholds.flags (In) */
#define SLUICE_THRESH_QUERY	(1U << 0)	/* change nothing, only return the current values */
#define SLUICE_THRESH_FLAGS_MASK	(SLUICE_THRESH_QUERY)

#define SLUICE_MIN_INTERVAL_NS		1000000ULL	/* 1 ms: floor of min_interval_ns */
#define SLUICE_DEFAULT_INTERVAL_NS	100000000ULL	/* 100 ms */
/*
 * Floor and default of min_interval_ns for a descriptor whose opener lacked
 * CAP_SYS_RESOURCE (the resolution unprivileged PSI triggers get); smaller
 * values are refused with -EPERM.
 */
#define SLUICE_UNPRIV_MIN_INTERVAL_NS	2000000000ULL	/* 2 s */

/**
 * struct sluice_thresholds - argument of %SLUICE_IOC_SET_THRESHOLDS
 * @flags: In: %SLUICE_THRESH_* flags.
 * @min_level: In/Out: deliver only events of at least this %SLUICE_LEVEL_*;
 *	0 selects %SLUICE_LEVEL_LOW.
 * @available_pages: In/Out: if nonzero, deliver only events seen while
 *	available memory is below this many pages.
 * @min_interval_ns: In/Out: rate limit: at most one event per this many ns
 *	for this descriptor; 0 selects %SLUICE_DEFAULT_INTERVAL_NS, other
 *	values below %SLUICE_MIN_INTERVAL_NS are rejected (-EINVAL).  If the
 *	descriptor was opened without CAP_SYS_RESOURCE, 0 selects
 *	%SLUICE_UNPRIV_MIN_INTERVAL_NS and smaller values get -EPERM.
 *
 * The thresholds belong to the file descriptor.  On return the structure
 * holds the values in effect.
 */
struct sluice_thresholds {
	__u32 flags;
	__u32 min_level;
	__u64 available_pages;
	__u64 min_interval_ns;
};

#define SLUICE_IOC_GET_INFO		_IOWR(SLUICE_IOCTL_BASE, 0x00, struct sluice_info)
#define SLUICE_IOC_GET_TOPOLOGY		_IOWR(SLUICE_IOCTL_BASE, 0x01, struct sluice_topology)
#define SLUICE_IOC_SET_THRESHOLDS	_IOWR(SLUICE_IOCTL_BASE, 0x02, struct sluice_thresholds)

/* The sizes are ABI: a change here is a new structure or a new command. */
#if defined(__cplusplus) && __cplusplus >= 201103L
#define __SLUICE_SIZE_CHECK(t, n) static_assert(sizeof(struct t) == (n), #t " size is ABI")
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define __SLUICE_SIZE_CHECK(t, n) _Static_assert(sizeof(struct t) == (n), #t " size is ABI")
#else
#define __SLUICE_SIZE_CHECK(t, n) \
	typedef char __sluice_size_check_##t[(sizeof(struct t) == (n)) ? 1 : -1]
#endif
__SLUICE_SIZE_CHECK(sluice_info, 40);
__SLUICE_SIZE_CHECK(sluice_topology, 40);
__SLUICE_SIZE_CHECK(sluice_pci_device, 120);
__SLUICE_SIZE_CHECK(sluice_pci_link, 24);
__SLUICE_SIZE_CHECK(sluice_event, 48);
__SLUICE_SIZE_CHECK(sluice_thresholds, 24);
#undef __SLUICE_SIZE_CHECK

#endif /* _UAPI_LINUX_SLUICE_H */
