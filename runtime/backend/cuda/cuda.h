/* SPDX-License-Identifier: MIT */
/*
 * runtime/backend/cuda/cuda.h — what the CUDA backend's files share.
 *
 * One backend is one device: its primary context, a copy stream and a compute stream (both
 * non-blocking, so nothing of another library's default stream orders them), the firmware module
 * and its kernels, and a ring of events that fences are made of.
 */
#ifndef SLUICE_BACKEND_CUDA_H
#define SLUICE_BACKEND_CUDA_H

#include "backend/backend.h"
#include "backend/cuda/cuda_driver.h"
#include "quant/quant.h"

#define CUDA_N_EVENTS 1024 /* fences alive at once before the oldest is waited for and reused */
#define CUDA_N_IDS 4       /* pinned bounce slots of get_rows' ids and add_rows' ids and scales */

struct cuda_event {
	CUevent ev;    /* created on first use */
	uint64_t seq;  /* the fence it marks now; 0 = never used */
	int q;
};

struct cuda_ids_slot {
	int32_t *host;   /* pinned (cuMemAllocHost) */
	CUdeviceptr dev;
	size_t cap;      /* bytes of each */
	sl_fence last;   /* the get_rows that last used the slot is done when this is */
};

struct cuda {
	const struct sl_cuda *cu;
	int ordinal;
	CUdevice dev;
	CUcontext ctx;
	int cc_major, cc_minor;
	int n_sm; /* multiprocessors (0: unknown): sl_mmv_conv_T's grid cap */
	char dev_name[96];
	CUstream s[SL_Q_COUNT];
	CUmodule mod;
	/* Kernels; a NULL mmv/get_rows entry means the firmware has no kernel for that type. */
	CUfunction conv[SL_TYPE_COUNT]; /* by vec_dot_type */
	CUfunction mmv[SL_TYPE_COUNT], get_rows[SL_TYPE_COUNT];
	/* mmv with the activation conversion folded in (sl_mmv_conv_T: one launch, not two, for small
	 * activations); NULL where the firmware has none (f32, which needs no conversion). */
	CUfunction mmv_conv[SL_TYPE_COUNT];
	CUfunction rmsnorm, rope, attention, silu_mul, add;
	CUfunction attn_split, attn_combine;       /* decode attention, split over the context */
	CUfunction mla_kv, mla_attention, add_rows; /* deepseek2 */
	CUfunction mla_q, mla_split, mla_combine;   /* deepseek2's decode, split over the context */
	/* Fences. */
	struct cuda_event events[CUDA_N_EVENTS];
	uint64_t last_fence;
	/* Converted activations of a matmul (device), grown as needed. */
	CUdeviceptr xq;
	size_t xq_cap;
	/* What xq holds: x converted to xq_vt (cols, n), valid until an op writes over x.  q, k and v
	 * (and gate and up) read the same normalised x: one conversion serves them all, which saves
	 * launches, the decode's limit on a GPU. */
	bool xq_valid;
	CUdeviceptr xq_src;
	int64_t xq_cols;
	int xq_n;
	uint32_t xq_vt;
	/* Decode attention's per-chunk partials (sl_attention_split), grown as the context grows. */
	CUdeviceptr attn_part;
	size_t attn_part_cap;
	/* MLA decode's q_lat / q_pe per head and per-chunk partials (sl_mla_q, sl_mla_split). */
	CUdeviceptr mla_part;
	size_t mla_part_cap;
	struct cuda_ids_slot ids[CUDA_N_IDS];
	unsigned ids_next;
	struct cuda_trace *trace; /* device spans while tracing (cuda_trace.c); NULL until then */
};

/* cuda_trace.c: bracket a launch or copy on queue q with timing events while tracing is on.
 * begin returns a slot (or -1: not traced); end names the span; flush, after a sync, writes the
 * finished spans to the trace. */
int sl_cuda_trace_begin(struct sl_backend *b, int q);
void sl_cuda_trace_end(struct sl_backend *b, int slot, const char *name, int64_t arg);
void sl_cuda_trace_flush(struct sl_backend *b);
void sl_cuda_trace_free(struct sl_backend *b);

/* cuda_fw.c: the firmware module and its kernels. */
int sl_cuda_fw_load(struct sl_backend *b, struct sl_err *err);
void sl_cuda_fw_unload(struct sl_backend *b);
/* The firmware's name for a weight type ("q4_K"), NULL for a type it has no kernels for. */
const char *sl_cuda_fw_type(uint32_t type);

#endif
