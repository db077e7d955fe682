/* SPDX-License-Identifier: MIT */
/*
 * runtime/sys/storage.h — which drive a file lives on: its block device, the PCI function behind
 * it (an NVMe controller, a virtio disk) and that function's NUMA node, from sysfs.
 *
 * The trace shows it at load (which drive fed the model, on which node), and a multi-GPU plan
 * compares it with each GPU's place in the topology (runtime/sys/topo.h).
 */
#ifndef SLUICE_SYS_STORAGE_H
#define SLUICE_SYS_STORAGE_H

#include "internal.h"

struct sl_storage {
	char block[32];  /* the whole disk: "nvme0n1", "vda" (a partition is resolved to its disk) */
	char bdf[16];    /* PCI function above it, "0000:00:02.0"; "" when it has none (zram, loop, ...) */
	int numa_node;   /* -1: unknown */
};

/* sysfs_root: NULL or "" for "/sys".  0; -ENODEV when the file's device is not a block device
 * sysfs knows (tmpfs, overlay); -errno from stat. */
int sl_storage_of_file(const char *path, const char *sysfs_root, struct sl_storage *out, struct sl_err *err);

#endif
