/* SPDX-License-Identifier: MIT */
/*
 * firmware/simt/simt.h — run the firmware's kernels on the CPU.
 *
 * The same firmware source (firmware/firmware.cu) that nvcc compiles to PTX is compiled by the host
 * C compiler against this shim (firmware/simt/simt_device.h supplies threadIdx, blockIdx,
 * __shared__, __syncthreads, warp shuffles and votes).  Each block's threads run as cooperative
 * fibers that switch at every barrier and warp collective; blocks run one after another.  The result is a host library
 * (libsluice_fw_host.a) with a registry of every kernel by name, used by the kernel tests and by the
 * stand-in driver (tests/fakecuda/).
 */
#ifndef SLUICE_SIMT_H
#define SLUICE_SIMT_H

#include <stddef.h>

struct simt_dim3 {
	unsigned x, y, z;
};

/*
 * Run kernel `name` over grid x block.  `params` holds its parameter buffer exactly as the device
 * reads it: each parameter, in declaration order, at the next offset aligned to its own size;
 * params_size must equal the kernel's.  Pointers in it are host addresses.
 * Returns 0; -ENOENT for an unknown kernel; -EINVAL for a wrong params_size, a block of more than
 * 1024 threads or a zero dimension; -ENOMEM when fibers cannot be made.  err gets the detail.
 */
int simt_launch(const char *name, struct simt_dim3 grid, struct simt_dim3 block, size_t shmem, const void *params,
		size_t params_size, char *err, size_t err_len);

/* The i-th kernel's name and parameter-buffer size; NULL past the end. */
const char *simt_kernel(int i, size_t *params_size);

#endif
