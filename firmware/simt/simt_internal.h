/* SPDX-License-Identifier: MIT */
/* firmware/simt/simt_internal.h — between the launcher (simt_registry.c) and the fibers (simt_fiber.c). */
#ifndef SLUICE_SIMT_INTERNAL_H
#define SLUICE_SIMT_INTERNAL_H

#include "simt.h"
#include "simt_device.h"

struct simt_kernel_desc {
	const char *name;
	size_t (*params_size)(void);       /* the device's parameter buffer */
	size_t args_size;                  /* the unpacked argument struct */
	void (*unpack)(const unsigned char *params, void *args);
	void (*invoke)(const void *args);  /* run the kernel body as the current fiber */
};

/* Run every block of the launch; 0 or -errno with err filled. */
int simt_run(const struct simt_kernel_desc *k, const void *args, struct simt_dim3 grid, struct simt_dim3 block,
	     char *err, size_t err_len);

#endif
