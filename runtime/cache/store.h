/* SPDX-License-Identifier: MIT */
/*
 * runtime/cache/store.h — the weight store's private state, shared by its files:
 *
 *   weights.c      registry, commit (placement → load), the hot path (prefetch/acquire/release)
 *   host_tier.c    host-cache buffers: allocation, eviction by next use, memory pressure
 *   device_tier.c  device arenas: resident units, streamed units' slots, copies and fences
 *   io_done.c      turning I/O completions into unit states
 *   placement.c    the pure placement function (what goes where)
 *   experts.c      mixture of experts: the (layer, expert) index, routing reports, pre-gating,
 *                  expert statistics, the routing trace
 *
 * Where a unit's bytes are (at most one of each):
 *   resident       on the device for good (dev_off in the resident arena)
 *   host pinned    in the host cache for good (until memory pressure takes it back)
 *   host           in the host cache while streaming: H_READING, then H_READY
 *   device slot    a streamed copy in the device window (non-host-visible backends)
 *
 * Next use.  Each prefetch call ranks the units it names by position (0 = needed first); a unit
 * it does not name has rank RANK_NONE (needed after everything named).  Eviction takes the
 * evictable unit with the largest rank — Belady's farthest-next-use, exact for a dense model
 * whose list covers a whole cycle — and never a unit ranked at or before the one it makes room for.
 *
 * Eviction order among units ranked alike (RANK_NONE above all: not named by the current list):
 * expert units first, in the order of the expert policy (cfg.expert_policy: lfru or lru, fed by
 * the routing reports: one use per routed expert), then dense units least recently used first.
 * A dense unit is used every token, an expert only when routed to.
 *
 * Markers.  host_done: the fence after which nothing reads the host buffer (the upload of it, or,
 * on a host-visible backend, the last kernel that read it).  dev_ready: the upload into the slot.
 * dev_last: the last kernel that read the slot.  Buffers are reused only when these are complete.
 *
 * Single-threaded: only the model's thread calls in.  host_limit_req, host_used_pub and
 * host_budget_pub are the exceptions (atomics, for the pressure monitor's thread).
 */
#ifndef SLUICE_STORE_H
#define SLUICE_STORE_H

#include "cache/arena.h"
#include "cache/lru.h"
#include "cache/placement.h"
#include "cache/weights.h"
#include "io/io.h"
#include "mem/pool.h"
#include "trace.h"

#include <stdatomic.h>
#include <stdio.h>

#define RANK_NONE INT32_MAX

enum host_state { H_NONE, H_READING, H_READY };

struct unit {
	uint64_t file_offset, size, span; /* span: host bytes of an aligned read */
	int layer, expert;
	const char *name;
	uint8_t where;           /* enum sl_place_where (the plan) */
	/* next use */
	int32_t rank;
	uint32_t rank_gen;
	/* resident: in w->res_base at dev_off; data at dev_off + dev_skip */
	bool resident;
	uint64_t dev_off, dev_skip;
	/* device slot (streamed, non-host-visible) */
	bool on_dev;
	uint64_t slot_off;
	sl_fence dev_ready, dev_last;
	/* host */
	enum host_state hstate;
	bool host_pinned;
	void *hbuf;              /* aligned read buffer of span bytes; data at req.data */
	sl_fence host_done;
	struct sl_io_req req;
	int in_use;              /* acquired and not yet released */
	bool prefetched;         /* read ahead by a prefetch and not yet used (stats: used / wasted) */
};

/* Mixture of experts (experts.c); all zero for a dense model. */
#define SL_PREGATE_RANKS 16 /* ranks counted apart (later ones share the last) */

struct sl_moe {
	int n_expert;            /* largest expert id + 1 */
	int first_moe;           /* first layer with expert units (-1: none) */
	int *start;              /* [layer * n_expert + expert] .. [+1]: that expert's range of ids */
	int *ids;                /* unit ids grouped by (layer, expert), in registration order */
	uint64_t *bytes;         /* [layer * n_expert + expert]: the expert's bytes (its units' sizes) */
	uint64_t expert_bytes;   /* the largest of them */
	uint8_t *guess;          /* [layer * n_expert + expert]: guessed for the layer's next routing */
	/* Admission of guesses (experts.c): a guess that needs a read costs the drive its bytes, so a
	 * guess rank is read ahead only while guesses of that rank which needed a read were then chosen
	 * at least half the time (decayed counts, measured whether or not they were read). */
	uint8_t *gread;          /* [slot]: 1 + the guess's rank when it needed a read, else 0 */
	uint8_t *gadmit;         /* [slot]: the guess is admitted (read ahead) */
	float rk_used[SL_PREGATE_RANKS], rk_all[SL_PREGATE_RANKS];
	bool *has_guess;         /* [layer]: a guess is waiting for the layer's routing */
	uint32_t *seen;          /* [layer * n_expert + expert]: stamp of the report that counted it */
	uint32_t stamp;
	FILE *trace;             /* cfg.trace_experts, opened at commit */
	int trace_rc;            /* a trace write failed (sticky) */
	struct sl_err trace_err;
};

/* Several devices (stages.c): the store the model sees routes to one store per device. */
#define SL_MAX_STAGES 16

struct sl_stages {
	int n;                          /* stages (devices), >= 2 */
	int cur;                        /* the stage computing now: where global units are acquired */
	struct sl_weights *st[SL_MAX_STAGES]; /* one ordinary store per stage, its own backend and budgets */
	uint32_t first[SL_MAX_STAGES + 1]; /* stage s holds layers [first[s], first[s+1]) (set at commit) */
	int *id;                        /* [unit * n + s]: the unit's id in stage s's store, -1 if not there */
	int *scratch;                   /* a prefetch list translated for one stage */
	int scratch_cap;
};

struct sl_weights {
	struct sl_stages *stages; /* non-NULL: a router (stages.c), whose units live in the stage stores */
	struct gguf_file *f;
	struct sl_backend *be;
	struct sl_weights_config cfg;
	bool host_visible;       /* compute reads host buffers: no device slots for streamed units */
	struct sl_io *io;
	bool zero_copy_map;      /* mmap engine: the page cache is the host tier */
	struct sl_pool *pool;    /* pinned staging memory of the host tier (when --host-cache is set) */
	struct unit *u;
	int n, cap;
	int n_layers;
	struct sl_place_plan plan;
	bool streaming;

	/* device tier */
	uint64_t vram_budget;
	void *res_base;          /* resident arena (one backend allocation) */
	uint64_t res_len;
	struct sl_io_mem *res_mem; /* registered with the I/O engine (host-visible: read in place) */
	void *win_base;          /* streaming window (one backend allocation) */
	uint64_t win_len;
	struct sl_arena win;
	struct sl_policy dev_pol; /* dense slot holders, least recently used first */
	struct sl_policy dev_epol; /* expert slot holders, by cfg.expert_policy */

	/* host tier */
	uint64_t host_budget, host_used, host_min;
	_Atomic uint64_t host_limit_req; /* pressure: requested host budget (0 = none pending) */
	_Atomic uint64_t host_used_pub, host_budget_pub;
	struct sl_policy host_pol; /* dense host holders, least recently used first */
	struct sl_policy host_epol; /* expert host holders, by cfg.expert_policy */

	int io_rc;               /* a read failed: the model cannot go on (sticky) */
	struct sl_err io_err;
	uint32_t gen;            /* prefetch generation (ranks) */
	bool break_last_use;     /* test hook */
	struct sl_weights_stats st;
	struct sl_moe moe;
};

/* The policy of the tier that orders unit u: experts by the expert policy, the rest by recency. */
static inline struct sl_policy *sl_host_pol(struct sl_weights *w, const struct unit *u)
{
	return u->expert >= 0 ? &w->host_epol : &w->host_pol;
}

static inline struct sl_policy *sl_dev_pol(struct sl_weights *w, const struct unit *u)
{
	return u->expert >= 0 ? &w->dev_epol : &w->dev_pol;
}

/* Host-cache bytes a unit takes: the pool hands out whole pages, so the budget counts those (a
 * 512-byte-aligned read span of a small tensor still occupies a 4 KiB page of a slab). */
#define SL_HOST_PAGE 4096u
static inline uint64_t sl_host_bytes(const struct unit *u)
{
	return SL_ALIGN_UP(u->span, SL_HOST_PAGE);
}

/* A prefetched unit leaves the tier it was prefetched into before its use: the read was wasted. */
static inline void sl_prefetch_wasted(struct sl_weights *w, struct unit *u, int id)
{
	if (!u->prefetched)
		return;
	u->prefetched = false;
	w->st.prefetch_wasted++;
	SL_TRACE_I("cache", "prefetch wasted", "unit,bytes", id, u->size, 0, 0);
}

static inline double sl_mib(uint64_t b)
{
	return (double)b / (1024.0 * 1024.0);
}

static inline int32_t unit_rank(const struct sl_weights *w, const struct unit *u)
{
	return u->rank_gen == w->gen ? u->rank : RANK_NONE;
}

/* weights.c: register a unit by its file range (sl_weights_add's core; the router re-registers
 * its units in the stage stores with it). */
int sl_weights_add_range(struct sl_weights *w, uint64_t file_offset, uint64_t size, int layer, int expert,
			 const char *name, struct sl_err *err);

/* stages.c: the router's side of the public functions (weights.c calls them when w->stages). */
int sl_stages_commit(struct sl_weights *w, int n_layers, struct sl_err *err);
void sl_stages_free(struct sl_weights *w);
void sl_stages_prefetch(struct sl_weights *w, const int *ids, int n);
int sl_stages_acquire(struct sl_weights *w, int id, const void **ptr, struct sl_err *err);
int sl_stages_release(struct sl_weights *w, int id, struct sl_err *err);
void sl_stages_get_stats(const struct sl_weights *w, struct sl_weights_stats *out);

/* host_tier.c */
void sl_host_drop(struct sl_weights *w, int id);
/* Evict host entries ranked after `rank` until size more bytes fit; false if they cannot. */
bool sl_host_make_room(struct sl_weights *w, uint64_t size, int32_t rank, bool wait);
/* Start reading unit id into the host tier.  -ENOSPC when no room can be made now. */
int sl_host_start_read(struct sl_weights *w, int id, int32_t rank, bool wait, struct sl_err *err);
void sl_host_apply_pressure(struct sl_weights *w);
void sl_host_publish(struct sl_weights *w);

/* device_tier.c */
int sl_dev_setup(struct sl_weights *w, uint64_t resident_len, uint64_t window_len, struct sl_err *err);
void sl_dev_teardown(struct sl_weights *w);
/* Copy a host-ready unit into a device slot (evicting slots ranked after rank; waiting for
 * their last use only when wait).  -ENOSPC: no room now. */
int sl_dev_start_upload(struct sl_weights *w, int id, int32_t rank, bool wait, struct sl_err *err);
void sl_dev_evict(struct sl_weights *w, int id);
/* Where compute reads a unit on the device: its resident place or its window slot. */
const void *sl_dev_ptr(struct sl_weights *w, int id);
/* Resident loading: every DEVICE unit of the plan, read (in place or staged) and uploaded. */
int sl_dev_load_resident(struct sl_weights *w, struct sl_err *err);

/* weights.c: the entry of epol or pol whose next use is farthest and strictly after `rank`; among
 * equals the first in epol's order (experts), then in pol's (dense, least recently used first).
 * key() gives an entry's next-use key, or -1 when it cannot go now. */
typedef int64_t (*sl_victim_key_fn)(struct sl_weights *w, const struct unit *u, bool wait);
int sl_pick_farthest(struct sl_weights *w, struct sl_policy *epol, struct sl_policy *pol, int32_t rank, bool wait,
		     sl_victim_key_fn key);

/* experts.c */
/* At commit: the (layer, expert) index and the routing trace's header. */
int sl_moe_setup(struct sl_weights *w, struct sl_err *err);
void sl_moe_free(struct sl_weights *w);

/* io_done.c */
/* Reap completed reads (wait for at least min).  A failed read is fatal for the model. */
int sl_io_done_reap(struct sl_weights *w, unsigned min, struct sl_err *err);
/* Wait for unit id's read; counts the wait as io_wait. */
int sl_io_done_wait(struct sl_weights *w, int id, struct sl_err *err);
int sl_io_done_submit(struct sl_weights *w, struct unit *u, void *buf, struct sl_err *err);
/* Reap every outstanding read (even after a failure, so none lands in memory about to be freed),
 * calling done() for each that succeeded; 0 or the first error. */
typedef int (*sl_read_done_fn)(struct sl_weights *w, struct unit *u, void *ctx, struct sl_err *err);
int sl_io_done_drain(struct sl_weights *w, sl_read_done_fn done, void *ctx, int rc, struct sl_err *err);

/* Has nothing read the buffer since fence f?  The test hook answers yes without asking. */
static inline bool last_use_done(struct sl_weights *w, sl_fence f)
{
	return !f || w->break_last_use || w->be->ops->fence_done(w->be, f);
}

/* Block until fence f (a last use) is complete. */
static inline int last_use_sync(struct sl_weights *w, sl_fence f)
{
	if (!f || w->break_last_use)
		return 0;
	return w->be->ops->fence_sync(w->be, f);
}

#endif
