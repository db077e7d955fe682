/* SPDX-License-Identifier: MIT */
/*
 * runtime/backend/cuda/cuda_devices.c — what the driver says about each device, without making a
 * backend (no context is created): for `sluice topo` and messages about device lists.
 */
#include "backend/cuda/cuda_devices.h"

#include <ctype.h>
#include <string.h>

int sl_cuda_list_devices(struct sl_cuda_dev_info *out, int max, int *n, int *driver_version, struct sl_err *err)
{
	const struct sl_cuda *cu;
	int rc = sl_cuda_driver(&cu, err);
	*n = 0;
	if (rc)
		return rc;
	if (driver_version)
		*driver_version = cu->version;
	for (int i = 0; i < cu->n_devices && i < max; i++) {
		struct sl_cuda_dev_info *d = &out[i];
		CUdevice dev;
		size_t total = 0;
		CUresult r;
		memset(d, 0, sizeof(*d));
		d->ordinal = i;
		if ((r = cu->cuDeviceGet(&dev, i)))
			return sl_cuda_fail(cu, r, err, "cuDeviceGet(%d)", i);
		if ((r = cu->cuDeviceGetName(d->name, (int)sizeof(d->name), dev)))
			return sl_cuda_fail(cu, r, err, "cuDeviceGetName(device %d)", i);
		if ((r = cu->cuDeviceTotalMem(&total, dev)))
			return sl_cuda_fail(cu, r, err, "cuDeviceTotalMem(device %d)", i);
		d->total = total;
		if ((r = cu->cuDeviceGetAttribute(&d->cc_major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev)) ||
		    (r = cu->cuDeviceGetAttribute(&d->cc_minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev)))
			return sl_cuda_fail(cu, r, err, "cuDeviceGetAttribute(compute capability, device %d)", i);
		if ((r = cu->cuDeviceGetPCIBusId(d->pci, (int)sizeof(d->pci), dev)))
			return sl_cuda_fail(cu, r, err, "cuDeviceGetPCIBusId(device %d)", i);
		/* the driver writes hex digits in capitals; sysfs (runtime/sys/topo.h) in small letters */
		for (char *p = d->pci; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		*n = i + 1;
	}
	return 0;
}
