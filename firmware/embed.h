/* SPDX-License-Identifier: MIT */
/*
 * firmware/embed.h — the firmware's PTX as the library carries it.
 *
 * The build compiles firmware/firmware.cu with nvcc to PTX for compute_80 and compute_90 when it finds the
 * toolkit (CUDA_HOME, default /usr/local/cuda) and embeds the text (NUL-terminated, as
 * cuModuleLoadData wants it) in libsluice.  Without nvcc both are empty (len 0) and the CUDA backend
 * says the firmware is missing.  The CUDA backend loads the newest one the device can run.
 */
#ifndef SLUICE_FIRMWARE_EMBED_H
#define SLUICE_FIRMWARE_EMBED_H

#include <stddef.h>

extern const char sl_fw_ptx_compute_80[];
extern const size_t sl_fw_ptx_compute_80_len; /* strlen, 0 when built without nvcc */
extern const char sl_fw_ptx_compute_90[];
extern const size_t sl_fw_ptx_compute_90_len;

#endif
