/* SPDX-License-Identifier: MIT */
/*
 * runtime/cache/weights.h — the weight store: the only way model code reaches
 * tensor data.
 *
 * Model code registers each unit it needs — a tensor, or a byte range of one
 * (one expert's slice of a 3-D expert tensor) — with the layer and expert it
 * belongs to.  During a forward pass it
 *   - tells the store what it will need next, in the order it will need it:
 *     sl_weights_prefetch(ids, n) — the units of the coming layers for a dense
 *     model, the routed experts once the router has run for MoE.  The order is
 *     the future: the store reads ahead as far as its budgets allow, and evicts
 *     the unit whose next use is farthest away (never one the list needs sooner
 *     than what it is making room for);
 *   - brackets every use with acquire/release.  acquire returns a pointer the
 *     backend's compute ops may read and, on an asynchronous backend, makes the
 *     compute queue wait for the unit's copy; release records the unit's "last
 *     use" marker, and the unit's buffer is reused only once that marker is
 *     complete.
 *
 * Nothing here knows about transformers; nothing in model/ knows about files.
 */
#ifndef SLUICE_WEIGHTS_H
#define SLUICE_WEIGHTS_H

#include "backend/backend.h"
#include "gguf.h"

struct sl_weights;

struct sl_weights_config {
	const char *io_engine;   /* "auto", "uring", "pread", "mmap" */
	const char *io_fault;    /* fault-injection spec for the I/O engine (tests); NULL = none */
	uint64_t host_cache;     /* bytes; 0 = unlimited */
	int lookahead;           /* layers of streaming window (host and device); 0 = default (2) */
	uint64_t vram;           /* device bytes for weights (resident + streamed); 0 = unlimited */
	int experts_used;        /* MoE: routed experts per token per layer; 0 = dense */
	const char *expert_policy; /* MoE: "lfru" (NULL: lfru) or "lru": which unneeded expert goes first */
	const char *trace_experts; /* MoE: routing trace file (NULL: none); see sl_weights_routed */
};

struct sl_weights_stats {
	uint64_t bytes_read;
	uint64_t io_wait_ns;
	uint64_t io_busy_ns;
	uint64_t hits, misses;
	uint64_t host_peak;
	uint64_t device_resident; /* bytes placed permanently in device memory */
	uint64_t host_pinned;     /* bytes placed permanently in the host cache */
	uint64_t uploads;         /* bytes copied host -> device while streaming */
	uint64_t shrink_events;
	uint64_t prefetch_used;    /* units a prefetch read that were then used */
	uint64_t prefetch_wasted;  /* units a prefetch read that were evicted before their use */
	/* MoE: as struct sluice_stats */
	uint64_t experts_routed, expert_hits, expert_bytes_read, expert_bytes_active;
	uint64_t pregate_guesses, pregate_correct, pregate_routed, moe_layer_passes, pregate_reads;
};

int sl_weights_new(struct gguf_file *f, struct sl_backend *be, const struct sl_weights_config *cfg,
		   struct sl_weights **out, struct sl_err *err);
void sl_weights_free(struct sl_weights *w);

/* Register a tensor, or the byte range [off, off+size) of one (size 0 = to the end).  layer -1 =
 * global (always resident); expert -1 = not an expert slice.  Returns an id >= 0 or -errno. */
int sl_weights_add(struct sl_weights *w, const struct gguf_tensor *t, int layer, int expert, uint64_t off,
		   uint64_t size, struct sl_err *err);
/* All units registered: plan placement, load what stays resident, pin what stays in the host cache. */
int sl_weights_commit(struct sl_weights *w, int n_layers, struct sl_err *err);
/* MoE: routed experts per token per layer (cfg.experts_used), set by the architecture's loader
 * (before commit): the store is made before the model's metadata is read. */
void sl_weights_set_experts_used(struct sl_weights *w, int k);
/* Lower the device budget for weights to at most cap (before commit): the engine's bound from the
 * device's own free memory. */
void sl_weights_cap_vram(struct sl_weights *w, uint64_t cap);

/* The units the model will use next, soonest first (see above).  Never fails: what cannot be
 * started now is read on demand by acquire. */
void sl_weights_prefetch(struct sl_weights *w, const int *ids, int n);
/* A pointer compute may read (device memory, or host memory on a HOST_VISIBLE backend). */
int sl_weights_acquire(struct sl_weights *w, int id, const void **ptr, struct sl_err *err);
/* The kernels that read the unit are queued: record its last use. */
int sl_weights_release(struct sl_weights *w, int id, struct sl_err *err);

/*
 * Mixture of experts.  The model registers each expert slice with its (layer, expert) and, for each
 * MoE layer of a forward chunk:
 *   1. runs the router, then reports its choice: choice[n_tok][k] expert ids (token t of the chunk
 *      is the run's token first_tok + t).  The store counts hits (the expert's units all in memory
 *      now), bytes, pre-gating precision/recall against the last guess for this layer, feeds the
 *      expert policy (frequency), and appends to the routing trace;
 *   2. prefetches the chosen experts' units as one batch (sl_weights_prefetch, chosen experts
 *      first), then acquires/releases them as it computes;
 *   3. pre-gating: runs the next MoE layer's router on the current hidden state and reports its
 *      guess (distinct experts, best first) with sl_weights_guessed, and lists their units in its
 *      prefetch lists at that layer's place.
 * Units not named by the current prefetch list are evicted by the policy: dense units by recency,
 * expert units by cfg.expert_policy.
 */
int sl_weights_routed(struct sl_weights *w, int layer, const int32_t *choice, int n_tok, int k, uint64_t first_tok,
		      struct sl_err *err);
void sl_weights_guessed(struct sl_weights *w, int layer, const int32_t *experts, int n);
/* The same with each guess's rank (0 = the router's best; for a chunk, the best over its tokens);
 * sl_weights_guessed ranks by position.  Then sl_weights_guess_admitted says which guesses to read
 * ahead: those already in memory (listing them keeps them), and those of a rank whose guesses that
 * needed a read were chosen at least half the time so far (a wrong guess costs the drive its bytes;
 * a right one only hides a wait). */
void sl_weights_guessed_ranked(struct sl_weights *w, int layer, const int32_t *experts, const int32_t *rank, int n);
bool sl_weights_guess_admitted(const struct sl_weights *w, int layer, int expert);
/* The unit ids of expert `expert` of `layer`, in registration order, into ids[0..max); returns the count
 * (0 when there is no such expert). */
int sl_weights_expert_units(const struct sl_weights *w, int layer, int expert, int *ids, int max);

void sl_weights_get_stats(const struct sl_weights *w, struct sl_weights_stats *out);
/* Lower the host-cache budget to at most `bytes` (memory-pressure response).  Safe from any thread:
 * it takes effect at the next acquire or prefetch on the model's thread. */
void sl_weights_shrink(struct sl_weights *w, uint64_t bytes);
/* Safe from any thread (the pressure monitor reads them). */
uint64_t sl_weights_host_used(const struct sl_weights *w);
uint64_t sl_weights_host_budget(const struct sl_weights *w);
/* The least host cache streaming can work with (one layer's reads). */
uint64_t sl_weights_host_min(const struct sl_weights *w);
/* True when some weights are not resident on the device (so they stream). */
bool sl_weights_streaming(const struct sl_weights *w);
/* The I/O engine in use ("uring", "pread", "mmap") and why "auto" fell back, if it did ("" if not). */
const char *sl_weights_io_engine(const struct sl_weights *w);
const char *sl_weights_io_notice(const struct sl_weights *w);

/*
 * Several devices (a pipeline of stages, one per device; runtime/pipeline.h).  Right after
 * sl_weights_new, sl_weights_stages makes w a router over one ordinary store per backend in bes
 * (bes[0] is w's own), each with its own device budget vram[s] (0 = unlimited), a 1/n share of the
 * host cache, and its own I/O engine on the same file.  Units are registered with w as usual; at
 * commit the layers are split into contiguous ranges whose shares of the layer bytes follow the
 * stages' device budgets (even when equal), each layer's units go to its stage's store and each
 * global unit (layer -1) to every store.  The model's ids stay w's: prefetch tells every stage the
 * part of the list it holds, acquire/release go to the unit's stage, and a global unit to the
 * stage set by sl_weights_set_stage (the one computing).  Dense models only: commit refuses MoE.
 */
int sl_weights_stages(struct sl_weights *w, struct sl_backend *const *bes, const uint64_t *vram, int n,
		      struct sl_err *err);
/* Stages of w (1 without sl_weights_stages); after commit, stage s holds layers
 * [first[s], first[s + 1]) (first has n + 1 entries; NULL without stages). */
int sl_weights_n_stages(const struct sl_weights *w);
const uint32_t *sl_weights_stage_layers(const struct sl_weights *w);
/* Lower stage s's device budget to at most cap (before commit; sl_weights_cap_vram lowers all). */
void sl_weights_cap_stage_vram(struct sl_weights *w, int stage, uint64_t cap);
/* The stage whose device computes now: global units are acquired there. */
void sl_weights_set_stage(struct sl_weights *w, int stage);

/* Test hook: skip waiting for last-use markers before reusing a buffer (a deliberately broken
 * schedule, which the asynchronous test backend must turn into wrong output). */
void sl_weights_test_break_last_use(struct sl_weights *w, bool on);

#endif
