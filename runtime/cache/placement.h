/* SPDX-License-Identifier: MIT */
/*
 * runtime/cache/placement.h — where each weight unit lives: a pure function.
 *
 * No I/O and no backend: the model's shape (units with their layer, expert,
 * size and span), the budgets and two capabilities go in; a plan comes out,
 * one entry per unit:
 *   DEVICE  resident in device memory for the whole run (loaded once);
 *   HOST    pinned in our host cache (read from the drive once, at load), copied
 *           to the device (or read in place, host_visible) each time it is used;
 *   STREAM  read from the drive each time it is used, through the windows.
 *
 * The rules, and why:
 *
 * 1. total = sum of size.  If total <= vram, every unit is DEVICE: nothing
 *    streams, both windows are 0, min_host is 0.  Nothing beats never reading.
 *
 * 2. A layer's step is what must be present at once to compute it: its dense
 *    units (expert == -1) plus experts_used x the largest per-expert total in
 *    the layer (the sum of the units with that expert id) — we cannot know in
 *    advance which experts a token routes to, so room is kept for the largest.
 *    It is capped at the sum of all the layer's experts (experts_used larger
 *    than the number of experts cannot need more than all of them).  The span
 *    counterpart is computed the same way from the spans (its own maxima).
 *    step_bytes / step_span are the maxima over the layers.  experts_used = 0
 *    means a dense model; a unit with expert >= 0 is then rejected.
 *
 * 3. min_vram = globals + (host_visible ? 0 : step_bytes): globals (layer -1:
 *    embeddings, output) are used every token and always live on the device;
 *    unless compute can read host memory directly, a streamed layer needs a
 *    device window it is copied into.  vram < min_vram is -ENOMEM ("--vram
 *    ... is too small: this model needs at least ...").
 *
 * 4. Device.  Globals are DEVICE.  If not host_visible, dev_window =
 *    min(window_steps x step_bytes, vram - globals) (window_steps 2 by default), at least step_bytes: double buffering,
 *    the next layer is copied in while the current one computes.  The rest,
 *    vram - globals - dev_window, is filled greedily first-fit (a unit that does
 *    not fit is skipped; a smaller later one may still fit), never past it:
 *      dense model: units in layer order — i.e. whole layers from the first,
 *        then single units of the layer that did not fit whole and of later
 *        layers;
 *      MoE: first the non-expert units of every layer, in layer order (they
 *        are read every token, an expert slice only when routed to), then the
 *        expert units in layer order, grouped by expert (a whole expert before
 *        a part of the next).
 *
 * 5. Host, when host_tier (we own a host cache) and some unit is not DEVICE.
 *    rest = the non-DEVICE units, rest_span = the sum of their spans.
 *    - rest_span <= host: all of rest is HOST (read once, nothing is read from
 *      the drive per token), host_window = 0.
 *    - otherwise something streams through the host tier and the host window
 *      must hold a layer's step: min_host = step_span, and host < min_host is
 *      -ENOMEM ("--host-cache ... is too small: streaming this model needs at
 *      least ... (its largest layer)").  host_window = min(host, 2 x step_span)
 *      (double buffering again, at least step_span).  With host - host_window
 *      left, whole layers of rest whose spans fit are pinned HOST, spread
 *      evenly over the m layers that have rest units: the largest p for which
 *      the layers at index (2k+1)·m/(2p), k = 0..p-1, of those m fit.  Spread,
 *      because a long run of pinned layers leaves the drive idle while compute
 *      goes through them and then makes it catch up on a long run of streamed
 *      ones; interleaved, the drive keeps reading during pinned layers.  Room
 *      still left is filled first-fit with single units (by span) of the
 *      layers not pinned, non-expert units first, then expert units.
 *    MoE (experts_used > 0) instead pins no whole layers and no expert slice:
 *    the dense units of rest (attention, shared experts, router, norms: used
 *    every token) are pinned first-fit in layer order, and the host cache left
 *    after them and the window is the dynamic expert cache, run by the expert
 *    policy (which experts deserve it depends on the routing, not the layout).
 *    Everything else is STREAM.  host_bytes + host_window <= host always.
 *    min_host (reported in every plan) = min(rest_span, step_span): the
 *    smallest host cache that works at this vram.  In the rare case rest_span
 *    < step_span and host < rest_span, the error message names rest_span and
 *    ends "(what does not fit in --vram)" instead of "(its largest layer)".
 *
 * 6. host_tier false (the mmap engine: the page cache is the host tier): no
 *    HOST units, min_host = 0, host_window = 0; the non-DEVICE units STREAM.
 *
 * streaming is true when some unit is STREAM or HOST (both are copied to the
 * device window per use unless host_visible); dev_window is kept then.
 *
 * Input that makes no sense is -EINVAL with a message: n_units < 0,
 * n_layers < 0, experts_used < 0, units == NULL with n_units > 0, a layer
 * outside -1..n_layers-1, expert < -1, span < size, expert >= 0 in a dense
 * model (experts_used = 0), sums that overflow 64 bits.  n_units = 0 is an
 * empty plan.  On error out->where is NULL; min_vram / step_* (and min_host
 * for the host error) are still filled in, for the caller's message.
 */
#ifndef SLUICE_PLACEMENT_H
#define SLUICE_PLACEMENT_H

#include <stdbool.h>
#include <stdint.h>

struct sl_err;

enum sl_place_where { SL_PLACE_STREAM = 0, SL_PLACE_DEVICE = 1, SL_PLACE_HOST = 2 };

struct sl_place_unit {
	uint64_t size; /* bytes the device holds / compute reads (the tensor byte range) */
	uint64_t span; /* host bytes a read of it needs (size rounded out to the I/O alignment; >= size) */
	int layer;     /* 0..n_layers-1, or -1 for globals (embeddings, output): always on the device */
	int expert;    /* -1 dense; >= 0 a routed expert's slice (MoE) */
};

struct sl_place_input {
	const struct sl_place_unit *units;
	int n_units;
	int n_layers;
	uint64_t vram;     /* device bytes for weights; UINT64_MAX = unlimited */
	uint64_t host;     /* host cache bytes; UINT64_MAX = unlimited */
	bool host_visible; /* compute reads streamed units straight from host buffers: no device streaming window */
	bool host_tier;    /* false: no host cache of ours (mmap engine: the page cache is the host tier) */
	int experts_used;  /* routed experts used per token per MoE layer; 0 = dense model */
	int window_steps;  /* windows hold this many steps (--lookahead); 0 = 2 (double buffering) */
};

struct sl_place_plan {
	uint8_t *where;                 /* n_units entries (enum sl_place_where); free with sl_place_plan_free */
	uint64_t device_bytes;          /* sum of size of DEVICE units */
	uint64_t host_bytes;            /* sum of span of HOST units (pinned in the host cache, read once at load) */
	uint64_t stream_bytes;          /* sum of size of STREAM units (read every token for a dense model) */
	uint64_t dev_window;            /* device bytes reserved for streamed units (0 if host_visible or nothing streams) */
	uint64_t host_window;           /* host bytes reserved for streaming reads (0 if nothing streams from our host tier) */
	uint64_t step_bytes, step_span; /* the largest per-layer working set: size / span */
	uint64_t min_vram, min_host;    /* the smallest budgets with which this model could run */
	bool streaming;                 /* some unit is STREAM or HOST */
	/* Added beyond the agreed interface: */
	uint64_t total_bytes;  /* sum of size of all units */
	uint64_t global_bytes; /* sum of size of the globals (layer -1) */
	int pinned_layers;     /* layers whose every non-DEVICE unit is HOST by the spread rule (5) */
};

int sl_place(const struct sl_place_input *in, struct sl_place_plan *out, struct sl_err *err);
void sl_place_plan_free(struct sl_place_plan *p);

#endif
