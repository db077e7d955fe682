/* SPDX-License-Identifier: MIT */
/*
 * runtime/cache/plan_model.h — what `sluice plan` computes, without I/O beyond the GGUF header:
 *
 *   sl_model_units   the weight units of a model the way the model code registers them with the
 *                    weight store: a tensor named blk.N.* belongs to layer N, every other tensor is
 *                    global (layer -1); a 3-D *_exps tensor is one unit per expert (its contiguous
 *                    slice ne[0] x ne[1]), everything else one unit.  Spans are the byte ranges
 *                    rounded out to `align` (the I/O alignment) and to the host cache's 4 KiB pages,
 *                    as the store counts them.  Each unit also gets a class (globals, attention,
 *                    dense FFN, shared expert, router, routed expert) for the report.
 *
 *   sl_plan_cost     the cost model of Documentation/plan.md: bytes per token from each tier, and a
 *                    predicted time per token from the bandwidths, for a placement from sl_place.
 *
 * Pure: no printing, no environment.
 */
#ifndef SLUICE_PLAN_MODEL_H
#define SLUICE_PLAN_MODEL_H

#include "cache/placement.h"

#include <stdbool.h>
#include <stdint.h>

struct gguf_file;
struct sl_err;

enum sl_unit_class {
	SL_CLASS_GLOBAL = 0, /* token_embd, output, output_norm, rope_freqs */
	SL_CLASS_ATTN,       /* attn_* (norms included) */
	SL_CLASS_DENSE_FFN,  /* ffn_gate/up/down of dense layers, ffn_norm */
	SL_CLASS_SHARED,     /* *_shexp */
	SL_CLASS_ROUTER,     /* ffn_gate_inp, exp_probs_b */
	SL_CLASS_EXPERT,     /* one expert's slice of a *_exps tensor */
	SL_CLASS_COUNT
};
extern const char *const sl_unit_class_names[SL_CLASS_COUNT];

struct sl_model_units {
	struct sl_place_unit *u; /* n */
	uint8_t *cls;            /* n, enum sl_unit_class */
	uint64_t *use;           /* n: bytes compute reads per use (size; one row of an embedding table) */
	int n;
	int n_layers;
	int n_expert, experts_used, first_moe; /* 0, 0, n_layers for a dense model */
	uint64_t *expert_bytes;  /* n_layers: bytes of one expert (its slices summed; 0 in dense layers) */
	uint64_t expert_bytes_max;
	uint64_t n_params, tensor_bytes;
	char arch[32];
};

/* align: the I/O alignment for spans (0 = 4096). */
int sl_model_units(const struct gguf_file *f, uint32_t align, struct sl_model_units *out, struct sl_err *err);
void sl_model_units_free(struct sl_model_units *m);

struct sl_plan_bw {
	double disk, pcie, compute; /* bytes per second (compute: weight bytes the kernels consume) */
};

struct sl_plan_cost_in {
	const struct sl_model_units *m;
	const struct sl_place_plan *plan;
	struct sl_plan_bw bw;
	bool device_copy; /* a discrete device (cuda): what is not DEVICE crosses PCIe each use */
	/* Per layer (n_layers), the fraction of routed-expert uses that need no read from the drive
	 * (the expert is DEVICE, HOST, or in the dynamic cache), and the fraction that are DEVICE
	 * (from a trace replay).  NULL: the uniform estimate: an expert is routed to as often as any
	 * other, so hit = placed + (1 - placed) x min(1, dyn_cache_experts / streamed experts), placed =
	 * the layer's fraction of expert bytes that are DEVICE or HOST. */
	const double *hit, *dev_hit;
	uint64_t dyn_cache_experts; /* room in the dynamic expert cache, in experts (uniform estimate) */
	/* The baseline without expert-granular streaming: a streamed MoE layer is read whole (every
	 * STREAM expert unit each token; every expert not on the device crosses PCIe).  Compute still
	 * reads k experts. */
	bool whole_layers;
	/* Pre-gating's wrong guesses: per MoE layer and token, pregate x (1 - precision) experts are read
	 * and not used (a wrong guess is rarely a cached expert: the cache holds the popular ones).
	 * pregate 0 = off (or no waste). */
	int pregate;
	double pregate_precision;
	/* The share of the expert reads' drive time that overlaps nothing (0..1; 0 = full overlap, as
	 * dense streaming): a layer's routed experts are known only when its router (or the previous
	 * layer's pre-gating) runs, and its expert compute waits for the last of them.  `sluice plan`
	 * uses 0.5, measured on generated deepseek2 models (Documentation/plan.md). */
	double expert_serial;
};

struct sl_plan_cost {
	/* bytes per token */
	double active;        /* what compute reads: dense units (one row of an embedding) + k experts per MoE layer */
	double active_min;    /* the drive's minimum with no expert cached: STREAM dense units + k experts per layer */
	double disk;          /* read from the drive: STREAM dense units + expert misses */
	double disk_dense, disk_experts;
	double disk_pregate;  /* of disk: wrong pre-gating guesses */
	double pcie;          /* copied to the device (device_copy only) */
	double from_device, from_host; /* active bytes compute finds on the device / in host memory */
	/* seconds per token */
	double t_disk, t_pcie, t_compute;
	double t_token;       /* max(t_disk - t_serial_exp, t_pcie, t_compute) + t_serial_exp (plan.md) */
	double t_serial_exp;  /* expert_serial x the expert reads' drive time */
	double t_serial;      /* t_disk + t_pcie + t_compute: no overlap at all (a lower bound on tok/s) */
	double tok_s, tok_s_serial;
	double expert_hit;    /* the hit rate used (routed-expert uses), 1 for a dense model */
	const char *bound;    /* "disk", "pcie" or "compute" */
};

int sl_plan_cost(const struct sl_plan_cost_in *in, struct sl_plan_cost *out, struct sl_err *err);

#endif
