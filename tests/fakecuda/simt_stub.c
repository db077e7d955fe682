/* SPDX-License-Identifier: MIT */
/*
 * tests/fakecuda/simt_stub.c — an empty firmware registry, linked into the stand-in driver when the
 * tree has no host-compiled firmware (firmware/simt/simt.c): every firmware launch then fails with
 * "no host kernel", and only the fake's own kernels (fake_toy.c) run.
 */
#include <errno.h>
#include <stdio.h>

#include "firmware/simt/simt.h"

int simt_launch(const char *name, struct simt_dim3 grid, struct simt_dim3 block, size_t shmem, const void *params,
		size_t params_size, char *err, size_t err_len)
{
	snprintf(err, err_len, "no host kernel %s (fakecuda built without the firmware)", name);
	return -ENOENT;
}

const char *simt_kernel(int i, size_t *params_size) { return NULL; }
