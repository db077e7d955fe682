/* SPDX-License-Identifier: MIT */
/* runtime/backend/cuda/cuda_devices.h — the driver's list of devices (cuda_devices.c). */
#ifndef SLUICE_CUDA_DEVICES_H
#define SLUICE_CUDA_DEVICES_H

#include "backend/cuda/cuda_driver.h"

struct sl_cuda_dev_info {
	int ordinal;
	char name[96];
	uint64_t total;      /* bytes of device memory */
	int cc_major, cc_minor;
	char pci[16];        /* "0000:43:00.0", as sysfs spells it (runtime/sys/topo.h's bdf) */
};

/* Up to max devices into out, *n of them; the driver's version (e.g. 12080) into *driver_version
 * when not NULL.  -ENODEV ("no CUDA driver ..." / "no CUDA device ...") as sl_cuda_driver. */
int sl_cuda_list_devices(struct sl_cuda_dev_info *out, int max, int *n, int *driver_version, struct sl_err *err);

#endif
