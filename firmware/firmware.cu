/* SPDX-License-Identifier: MIT */
/*
 * firmware/firmware.cu — the one translation unit of the firmware, so that nvcc makes one PTX
 * module with every kernel (the CUDA backend loads it with cuModuleLoadData) and the host C compiler
 * makes one object for the SIMT shim.  Kernels and their launch shapes: firmware/kernels.h.
 */
#include "fw_convert.cu"
#include "fw_mmv.cu"
#include "fw_get_rows.cu"
#include "fw_norm_rope.cu"
#include "fw_attention.cu"
#include "fw_elementwise.cu"
#include "fw_attention_split.cu"
#include "fw_mla.cu" /* after fw_get_rows.cu: it reads weights with its fw_deq_* */
