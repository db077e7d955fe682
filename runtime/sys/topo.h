/* SPDX-License-Identifier: MIT */
/*
 * runtime/sys/topo.h — PCI topology: GPUs, NVMe controllers, accelerators, and
 * how far apart each pair sits in the PCIe hierarchy.
 *
 * Two sources fill the same structure:
 *   "dev"    /dev/sluice (sluice.ko): one ioctl, one consistent snapshot;
 *   "sysfs"  /sys/bus/pci/devices/<bdf>/ attributes and the canonical device path.
 * Both then add the DRM nodes of each GPU (libdrm drmGetDevices2) and the PCIe
 * path of each device (the realpath of its sysfs directory: the module's ABI has
 * no parent pointers, and the tree printer needs the bridges' names).  Devices
 * are sorted by BDF, so the two sources give identical structures, link indices
 * included (tests/vm checks this on a guest with every kind of relation).
 *
 * The pair relations mirror the module's SLUICE_PATH_* values: lower is closer.
 */
#ifndef SLUICE_SYS_TOPO_H
#define SLUICE_SYS_TOPO_H

#include "internal.h"

enum sl_dev_class { SL_DEV_OTHER = 0, SL_DEV_GPU = 1, SL_DEV_NVME = 2, SL_DEV_ACCEL = 3 };

enum sl_topo_rel {
	SL_REL_NONE = 0,
	SL_REL_SAME_SWITCH = 1,      /* lowest common bridge is a switch port (or a PCI bridge) */
	SL_REL_SAME_ROOT_PORT = 2,   /* they meet at a root port */
	SL_REL_SAME_HOST_BRIDGE = 3, /* same root bus, no common bridge */
	SL_REL_SAME_NODE = 4,        /* different host bridges, same or unknown NUMA node */
	SL_REL_CROSS_NODE = 5,       /* different NUMA nodes: traffic crosses sockets */
};

#define SL_TOPO_NUM_BARS 6
#define SL_TOPO_MAX_DEPTH 16 /* bridges above a device; real machines use < 8 */
#define SL_TOPO_NAME_LEN 32

struct sl_topo_dev {
	enum sl_dev_class cls;
	uint32_t domain;
	uint8_t bus, dev, func;
	char bdf[16]; /* "0000:43:00.0" */
	uint16_t vendor, device, subsys_vendor, subsys_device;
	uint32_t class_code; /* 24 bits */
	int numa_node;       /* -1: unknown */
	int iommu_group;     /* -1: none */
	bool pcie;           /* has a PCIe capability: the link fields mean something */
	uint8_t cur_link_gen, cur_link_width; /* generation 1..6 (2.5..64 GT/s), lanes; 0 = unknown */
	uint8_t max_link_gen, max_link_width;
	uint64_t bar_size[SL_TOPO_NUM_BARS];
	char driver[SL_TOPO_NAME_LEN]; /* "" when unbound */
	/* GPUs only, "" when libdrm does not know the card (no DRM driver bound). */
	char drm_card[SL_TOPO_NAME_LEN];   /* "/dev/dri/card1" */
	char drm_render[SL_TOPO_NAME_LEN]; /* "/dev/dri/renderD128" */
	/* Position: host bridge ("0000:40") and the bridges from the root port down. */
	char host[16];
	int depth; /* number of bridges in path[] */
	char path[SL_TOPO_MAX_DEPTH][16];
};

struct sl_topo_link {
	uint32_t a, b; /* device indices, a < b */
	enum sl_topo_rel rel;
	uint32_t hops; /* PCI bridges on the path between them, the common one counted once */
};

struct sl_topo {
	char source[8]; /* "dev" or "sysfs" */
	uint32_t n_dev;
	struct sl_topo_dev *dev;
	uint32_t n_link; /* n_dev * (n_dev - 1) / 2, ordered (0,1), (0,2), ... (1,2), ... */
	struct sl_topo_link *link;
};

struct sl_topo_opts {
	const char *source;     /* "auto" (NULL): dev when /dev/sluice opens, else sysfs; "dev"; "sysfs" */
	const char *sysfs_root; /* NULL or "": "/sys" (the CLI passes $SLUICE_SYSFS_ROOT or --sysfs-root) */
	const char *dev_path;   /* NULL: /dev/sluice */
	bool all_devices;       /* every PCI function (class OTHER too), not only the three classes */
	bool no_drm;            /* skip libdrm (tests on a fake tree) */
};

/* Fill *out (free with sl_topo_free).  A machine without PCI gives 0 devices, not an error. */
int sl_topo_load(const struct sl_topo_opts *opts, struct sl_topo *out, struct sl_err *err);
void sl_topo_free(struct sl_topo *t);

/* Relation of devices i and j (any order, i != j); hops may be NULL. SL_REL_NONE if out of range. */
enum sl_topo_rel sl_topo_relation(const struct sl_topo *t, uint32_t i, uint32_t j, uint32_t *hops);
/* The NVMe with the lowest (relation, hops) to device gpu_index (ties: lowest BDF); -1 if none. */
int sl_topo_nearest_nvme(const struct sl_topo *t, uint32_t gpu_index);
/* Index of the device with this BDF ("0000:43:00.0"), or -1. */
int sl_topo_find(const struct sl_topo *t, const char *bdf);

/* Names for printing: "gpu", "same-switch", "8.0 GT/s" (gen 0: "unknown"). */
const char *sl_dev_class_name(enum sl_dev_class c);
const char *sl_topo_rel_name(enum sl_topo_rel r);
const char *sl_link_gen_name(unsigned gen);
/* First difference between two topologies, as text into why (NULL when identical). */
const char *sl_topo_diff(const struct sl_topo *a, const struct sl_topo *b, char *why, size_t len);

/* ---- for the source files (topo_*.c) ------------------------------------- */

struct sl_topo_src {
	const char *name;
	/* Devices and links, any order; *out is zeroed.  Links may be left out (n_link 0): then they
	 * are computed from the paths (the sysfs source does this). */
	int (*load)(const struct sl_topo_opts *o, const char *sysfs_root, struct sl_topo *out, struct sl_err *err);
};
extern const struct sl_topo_src sl_topo_src_dev, sl_topo_src_sysfs;

enum sl_dev_class sl_dev_class_of(uint32_t class_code);
void sl_topo_dev_set_bdf(struct sl_topo_dev *d);
/* Fill host/depth/path of d from the realpath of <root>/bus/pci/devices/<bdf>; -errno. */
int sl_topo_read_path(const char *sysfs_root, struct sl_topo_dev *d);
/* Compute every link from the paths and NUMA nodes (the kernel module's rule). */
int sl_topo_links_from_paths(struct sl_topo *t);
/* GPUs: fill drm_card/drm_render from libdrm (no-op when libdrm finds nothing). */
void sl_topo_add_drm(struct sl_topo *t);

#endif
