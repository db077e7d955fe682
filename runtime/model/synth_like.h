/* SPDX-License-Identifier: MIT */
/*
 * runtime/model/synth_like.h — the layout of a real model at full scale, as a sparse file
 * (gen-model --like): true metadata and tensor table, tensor data never written (holes), so a
 * 400 GB model costs a few MB of disk.  For planning (sluice plan) and scheduler tests at true
 * scale; not for bandwidth (its holes read as zeros at memory speed).
 */
#ifndef SLUICE_SYNTH_LIKE_H
#define SLUICE_SYNTH_LIKE_H

#include "internal.h"

/* The models: "deepseek-r1" (DeepSeek-R1 / V3, 671B, deepseek2 with the split attn_k_b/attn_v_b form). */
extern const char *const sl_synth_like_models;
/* The type mixes: "q4_K_m" (as llama.cpp's Q4_K_M), "ud-iq1_s" (as unsloth's UD-IQ1_S), or any one type
 * name (every matrix that type; a matrix whose rows it cannot block falls back to q8_0). */
extern const char *const sl_synth_like_mixes;

struct sl_synth_like_info {
	uint64_t n_params, tensor_bytes, file_bytes;
	uint32_t n_tensors, n_vocab;
};

/* Write the sparse model to path (a temporary file renamed over it when complete).  mix NULL = q4_K_m. */
int sl_synth_like_write(const char *like, const char *mix, const char *path, struct sl_synth_like_info *info,
			struct sl_err *err);

#endif
