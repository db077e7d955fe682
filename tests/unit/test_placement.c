/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_placement.c — the placement plan (runtime/cache/placement.h), no I/O:
 * every budget edge (vram = total, total-1, min_vram, min_vram-1; host = min_host,
 * min_host-1, room for all, unlimited), the exact error messages, host_visible vs a
 * device window, no host tier (mmap), MoE (step = dense + experts_used x expert, dense
 * units placed before expert slices), the even spread of pinned layers, a large-layer
 * case like R1, bad input, and a randomized property test with a fixed seed.  One
 * helper checks the plan's invariants on every case.
 */
#include "cache/placement.h"
#include "helpers/testutil.h"
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MiB (1ull << 20)

struct model {
	struct sl_place_unit *u;
	int n, cap, n_layers, experts_used;
};

static int add(struct model *m, int layer, int expert, uint64_t size, uint64_t span)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 64;
		m->u = realloc(m->u, (size_t)m->cap * sizeof(*m->u));
		if (!m->u)
			abort();
	}
	m->u[m->n] = (struct sl_place_unit){ size, span, layer, expert };
	return m->n++;
}

/* span = size rounded out to 4 KiB (the I/O alignment). */
static int add_sz(struct model *m, int layer, int expert, uint64_t size)
{
	uint64_t span = SL_ALIGN_UP(size, 4096);
	return add(m, layer, expert, size, span);
}

static struct sl_place_input input(const struct model *m, uint64_t vram, uint64_t host, bool visible, bool tier)
{
	return (struct sl_place_input){ .units = m->u, .n_units = m->n, .n_layers = m->n_layers,
					.vram = vram, .host = host, .host_visible = visible, .host_tier = tier,
					.experts_used = m->experts_used };
}

/* Reference step of the whole model, computed the slow, obvious way. */
static void ref_step(const struct sl_place_input *in, uint64_t *size, uint64_t *span, uint64_t *globals)
{
	*size = *span = *globals = 0;
	for (int i = 0; i < in->n_units; i++)
		if (in->units[i].layer < 0)
			*globals += in->units[i].size;
	for (int l = 0; l < in->n_layers; l++) {
		uint64_t ds = 0, dp = 0, ms = 0, mp = 0, as = 0, ap = 0;
		for (int i = 0; i < in->n_units; i++) {
			const struct sl_place_unit *u = &in->units[i];
			if (u->layer != l)
				continue;
			if (u->expert < 0) {
				ds += u->size;
				dp += u->span;
				continue;
			}
			as += u->size;
			ap += u->span;
			bool first = true;
			for (int j = 0; j < i; j++)
				if (in->units[j].layer == l && in->units[j].expert == u->expert)
					first = false;
			if (!first)
				continue;
			uint64_t s = 0, p = 0;
			for (int j = 0; j < in->n_units; j++) {
				if (in->units[j].layer == l && in->units[j].expert == u->expert) {
					s += in->units[j].size;
					p += in->units[j].span;
				}
			}
			ms = SL_MAX(ms, s);
			mp = SL_MAX(mp, p);
		}
		uint64_t k = (uint64_t)in->experts_used;
		*size = SL_MAX(*size, ds + SL_MIN(k * ms, as));
		*span = SL_MAX(*span, dp + SL_MIN(k * mp, ap));
	}
}

/* The invariants every successful plan keeps.  Returns the number of failed checks. */
static int check_plan(const char *what, const struct sl_place_input *in, const struct sl_place_plan *p)
{
	int before = t_failures;
	CHECK_MSG(p->where != NULL, "%s: no where[]", what);
	if (!p->where)
		return t_failures - before;
	uint64_t total = 0, dev = 0, host_span = 0, host_size = 0, stream = 0, globals = 0, off_span = 0;
	int n_stream = 0, n_host = 0, n_dev = 0;
	for (int i = 0; i < in->n_units; i++) {
		const struct sl_place_unit *u = &in->units[i];
		total += u->size;
		switch (p->where[i]) {
		case SL_PLACE_DEVICE: dev += u->size; n_dev++; break;
		case SL_PLACE_HOST: host_span += u->span; host_size += u->size; n_host++; break;
		case SL_PLACE_STREAM: stream += u->size; n_stream++; break;
		default: CHECK_MSG(0, "%s: unit %d placed %d", what, i, p->where[i]);
		}
		if (p->where[i] != SL_PLACE_DEVICE)
			off_span += u->span;
		if (u->layer < 0) {
			globals += u->size;
			CHECK_MSG(p->where[i] == SL_PLACE_DEVICE, "%s: global unit %d not on the device", what, i);
		}
	}
	CHECK_MSG(p->device_bytes == dev, "%s: device_bytes %llu, units sum %llu", what,
		  (unsigned long long)p->device_bytes, (unsigned long long)dev);
	CHECK_MSG(p->host_bytes == host_span, "%s: host_bytes %llu, units sum %llu", what,
		  (unsigned long long)p->host_bytes, (unsigned long long)host_span);
	CHECK_MSG(p->stream_bytes == stream && stream == total - dev - host_size, "%s: stream_bytes %llu", what,
		  (unsigned long long)p->stream_bytes);
	CHECK_MSG(p->total_bytes == total && p->global_bytes == globals, "%s: total/global bytes", what);
	uint64_t used;
	CHECK_MSG(!sl_add_overflow_u64(p->device_bytes, p->dev_window, &used) && used <= in->vram,
		  "%s: device %llu + window %llu > vram %llu", what, (unsigned long long)p->device_bytes,
		  (unsigned long long)p->dev_window, (unsigned long long)in->vram);
	CHECK_MSG(!sl_add_overflow_u64(p->host_bytes, p->host_window, &used) && used <= in->host,
		  "%s: host %llu + window %llu > host %llu", what, (unsigned long long)p->host_bytes,
		  (unsigned long long)p->host_window, (unsigned long long)in->host);
	bool streaming = n_stream + n_host > 0;
	CHECK_MSG(p->streaming == streaming, "%s: streaming %d, %d units off the device", what, p->streaming,
		  n_stream + n_host);

	uint64_t ss, sp, g;
	ref_step(in, &ss, &sp, &g);
	CHECK_MSG(p->step_bytes == ss && p->step_span == sp, "%s: step %llu/%llu, expected %llu/%llu", what,
		  (unsigned long long)p->step_bytes, (unsigned long long)p->step_span, (unsigned long long)ss,
		  (unsigned long long)sp);
	CHECK_MSG(p->min_vram == g + (in->host_visible ? 0 : ss), "%s: min_vram %llu", what,
		  (unsigned long long)p->min_vram);
	if (!streaming) {
		CHECK_MSG(total <= in->vram && n_dev == in->n_units, "%s: all on the device only if it fits", what);
		CHECK_MSG(p->dev_window == 0 && p->host_window == 0 && p->min_host == 0, "%s: windows without streaming",
			  what);
	} else {
		CHECK_MSG(total > in->vram, "%s: streams although everything fits (%llu <= %llu)", what,
			  (unsigned long long)total, (unsigned long long)in->vram);
		CHECK_MSG(in->vram >= p->min_vram, "%s: vram below min_vram and no error", what);
		if (in->host_visible)
			CHECK_MSG(p->dev_window == 0, "%s: host_visible with a device window", what);
		else
			CHECK_MSG(p->dev_window >= ss && p->dev_window <= 2 * ss &&
					  (p->dev_window == 2 * ss || p->device_bytes == globals),
				  "%s: dev_window %llu for step %llu", what, (unsigned long long)p->dev_window,
				  (unsigned long long)ss);
	}
	if (!in->host_tier)
		CHECK_MSG(n_host == 0 && p->host_window == 0 && p->min_host == 0, "%s: host use without a host tier", what);
	if (in->host_tier && n_stream)
		CHECK_MSG(p->host_window >= sp && p->host_window <= 2 * sp && in->host >= p->min_host,
			  "%s: host_window %llu for step span %llu", what, (unsigned long long)p->host_window,
			  (unsigned long long)sp);
	if (!n_stream)
		CHECK_MSG(p->host_window == 0, "%s: host window %llu while nothing streams", what,
			  (unsigned long long)p->host_window);
	if (in->host_tier && streaming)
		CHECK_MSG(p->min_host == SL_MIN(sp, off_span) && in->host >= p->min_host, "%s: min_host %llu", what,
			  (unsigned long long)p->min_host);
	return t_failures - before;
}

static int place(const char *what, const struct sl_place_input *in, struct sl_place_plan *p, struct sl_err *err)
{
	err->msg[0] = 0;
	int rc = sl_place(in, p, err);
	if (rc == 0)
		check_plan(what, in, p);
	else
		CHECK_MSG(p->where == NULL, "%s: where[] after an error", what);
	return rc;
}

static void expect_vram_msg(const char *what, const struct sl_err *err, uint64_t vram, uint64_t globals,
			    uint64_t step)
{
	char want[SL_ERR_LEN];
	snprintf(want, sizeof(want),
		 "--vram %.1f MiB is too small: this model needs at least %.1f MiB of device memory "
		 "(%.1f MiB of always-resident tensors + %.1f MiB to stream its largest layer)",
		 (double)vram / MiB, (double)(globals + step) / MiB, (double)globals / MiB, (double)step / MiB);
	CHECK_MSG(strncmp(err->msg, want, strlen(want) - 1) == 0, "%s:\n  got  %s\n  want %s", what, err->msg, want);
}

static void expect_host_msg(const char *what, const struct sl_err *err, uint64_t host, uint64_t need)
{
	char want[SL_ERR_LEN];
	snprintf(want, sizeof(want),
		 "--host-cache %.1f MiB is too small: streaming this model needs at least %.1f MiB (its largest layer)",
		 (double)host / MiB, (double)need / MiB);
	CHECK_MSG(strcmp(err->msg, want) == 0, "%s:\n  got  %s\n  want %s", what, err->msg, want);
}

/* 8 layers x 4 dense units of odd sizes, 2 globals. */
static struct model dense_model(void)
{
	struct model m = { .n_layers = 8 };
	add_sz(&m, -1, -1, 5 * MiB + 100);
	for (int l = 0; l < 8; l++)
		for (int k = 1; k <= 4; k++)
			add_sz(&m, l, -1, (uint64_t)k * MiB + 13 * (uint64_t)(l + 1));
	add_sz(&m, -1, -1, 5 * MiB + 200);
	return m;
}

static void test_dense_budgets(void)
{
	struct model m = dense_model();
	struct sl_place_plan p;
	struct sl_err err;
	struct sl_place_input in = input(&m, UINT64_MAX, UINT64_MAX, false, true);
	CHECK(place("unlimited", &in, &p, &err) == 0);
	const uint64_t total = p.total_bytes, globals = p.global_bytes, step = p.step_bytes, span = p.step_span;
	CHECK(!p.streaming && p.device_bytes == total && p.dev_window == 0 && p.host_window == 0);
	CHECK(step == 10 * MiB + 4 * 13 * 8 && span == 10 * MiB + 4 * 4096); /* layer 7's units, rounded up */
	CHECK(p.min_vram == globals + step);
	sl_place_plan_free(&p);

	in.vram = total;
	CHECK(place("vram = total", &in, &p, &err) == 0 && !p.streaming && p.device_bytes == total);
	sl_place_plan_free(&p);

	in.vram = total - 1;
	CHECK(place("vram = total - 1", &in, &p, &err) == 0 && p.streaming);
	CHECK(p.dev_window == 2 * step && p.host_window == 0 && p.stream_bytes == 0 && p.host_bytes > 0);
	/* Whole layers from the first: layers 0..k-1 all DEVICE, then single units. */
	CHECK(p.where[1] == SL_PLACE_DEVICE && p.where[4] == SL_PLACE_DEVICE);
	sl_place_plan_free(&p);

	/* vram = min_vram: only the globals resident, the window min(2 steps, vram - globals) is one step. */
	in.vram = globals + step;
	CHECK(place("vram = min_vram", &in, &p, &err) == 0 && p.streaming);
	CHECK(p.device_bytes == globals && p.dev_window == step);
	sl_place_plan_free(&p);

	in.vram = globals + step - 1;
	CHECK(place("vram = min_vram - 1", &in, &p, &err) == -ENOMEM);
	expect_vram_msg("vram = min_vram - 1", &err, in.vram, globals, step);
	CHECK_MSG(err.msg[strlen(err.msg) - 1] == ')' && !strstr(err.msg, "host memory"), "%s", err.msg);
	CHECK(p.min_vram == globals + step);

	/* host_visible: no device window; min_vram is the globals alone. */
	in.host_visible = true;
	in.vram = globals;
	CHECK(place("visible, vram = globals", &in, &p, &err) == 0 && p.dev_window == 0 && p.min_vram == globals);
	CHECK(p.device_bytes == globals);
	sl_place_plan_free(&p);
	in.vram = globals - 1;
	CHECK(place("visible, vram = globals - 1", &in, &p, &err) == -ENOMEM);
	expect_vram_msg("visible, vram = globals - 1", &err, in.vram, globals, 0);
	CHECK_MSG(strstr(err.msg, "which compute reads from host memory)"), "%s", err.msg);
	/* Same vram, not visible: two steps of window, less resident. */
	in.vram = globals + 3 * step;
	CHECK(place("visible, 3 steps", &in, &p, &err) == 0 && p.dev_window == 0);
	uint64_t dev_visible = p.device_bytes;
	sl_place_plan_free(&p);
	in.host_visible = false;
	CHECK(place("not visible, 3 steps", &in, &p, &err) == 0 && p.dev_window == 2 * step);
	CHECK(p.device_bytes < dev_visible && p.device_bytes <= globals + step);
	sl_place_plan_free(&p);

	/* Host budgets at vram = min_vram: everything but the globals is off the device. */
	in.vram = globals + step;
	uint64_t rest_span = 0;
	for (int i = 0; i < m.n; i++)
		if (m.u[i].layer >= 0)
			rest_span += m.u[i].span;
	in.host = rest_span;
	CHECK(place("host = rest", &in, &p, &err) == 0 && p.stream_bytes == 0 && p.host_bytes == rest_span);
	CHECK(p.host_window == 0 && p.min_host == span);
	sl_place_plan_free(&p);
	in.host = rest_span - 1;
	CHECK(place("host = rest - 1", &in, &p, &err) == 0 && p.stream_bytes > 0 && p.host_window == 2 * span);
	sl_place_plan_free(&p);
	in.host = span;
	CHECK(place("host = min_host", &in, &p, &err) == 0 && p.host_window == span && p.host_bytes == 0);
	CHECK(p.stream_bytes == total - globals);
	sl_place_plan_free(&p);
	in.host = span - 1;
	CHECK(place("host = min_host - 1", &in, &p, &err) == -ENOMEM && p.min_host == span);
	expect_host_msg("host = min_host - 1", &err, in.host, span);
	in.host = 0;
	CHECK(place("host = 0", &in, &p, &err) == -ENOMEM);
	expect_host_msg("host = 0", &err, 0, span);

	/* Unlimited host, limited vram: all of the rest pinned. */
	in.host = UINT64_MAX;
	CHECK(place("unlimited host", &in, &p, &err) == 0 && p.stream_bytes == 0 && p.host_bytes == rest_span);
	sl_place_plan_free(&p);

	/* No host tier (mmap): no HOST, no host window, min_host 0, whatever host says. */
	in.host_tier = false;
	in.host = 0;
	CHECK(place("mmap", &in, &p, &err) == 0 && p.streaming && p.host_bytes == 0 && p.host_window == 0);
	CHECK(p.min_host == 0 && p.stream_bytes == total - globals);
	sl_place_plan_free(&p);
	in.vram = total;
	CHECK(place("mmap, fits", &in, &p, &err) == 0 && !p.streaming);
	sl_place_plan_free(&p);
	free(m.u);
}

/* A vram budget that leaves a partial layer: first-fit skips a unit that does not fit, takes a later smaller one. */
static void test_first_fit(void)
{
	struct model m = { .n_layers = 4 };
	add(&m, -1, -1, 1 * MiB, 1 * MiB);
	for (int l = 0; l < 4; l++) {
		add(&m, l, -1, 4 * MiB, 4 * MiB);
		add(&m, l, -1, 3 * MiB, 3 * MiB);
		add(&m, l, -1, 1 * MiB, 1 * MiB);
	}
	/* total 33; step 8, window 16; 27 = 1 + 16 + 8 (layer 0) + 2: layer 1: 4 no, 3 no, 1 yes; layer 2: 1 yes. */
	struct sl_place_input in = input(&m, 27 * MiB, UINT64_MAX, false, false);
	struct sl_place_plan p;
	struct sl_err err;
	CHECK(place("first fit", &in, &p, &err) == 0);
	static const uint8_t want[] = { 1, 1, 1, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0 };
	CHECK(memcmp(p.where, want, sizeof(want)) == 0 && p.device_bytes == 11 * MiB && p.dev_window == 16 * MiB);
	sl_place_plan_free(&p);
	free(m.u);
}

/* A layer too large for any budget given. */
static void test_no_fit(void)
{
	struct model m = { .n_layers = 3 };
	add_sz(&m, -1, -1, 10 * MiB);
	add_sz(&m, 0, -1, 50 * MiB);
	add_sz(&m, 1, -1, 1024 * MiB);
	add_sz(&m, 2, -1, 50 * MiB);
	struct sl_place_input in = input(&m, 512 * MiB, 8192 * MiB, false, true);
	struct sl_place_plan p;
	struct sl_err err;
	CHECK(place("huge layer, vram", &in, &p, &err) == -ENOMEM);
	expect_vram_msg("huge layer, vram", &err, in.vram, 10 * MiB, 1024 * MiB);
	in.host_visible = true; /* the device is fine now; the host window is not */
	in.host = 512 * MiB;
	CHECK(place("huge layer, host", &in, &p, &err) == -ENOMEM);
	expect_host_msg("huge layer, host", &err, in.host, 1024 * MiB);
	in.host_tier = false; /* mmap: the page cache does it */
	CHECK(place("huge layer, mmap", &in, &p, &err) == 0 && p.stream_bytes == 1024 * MiB);
	sl_place_plan_free(&p);
	free(m.u);
}

/* 4 layers x (3 dense units of 4 MiB + 3 tensors x 8 experts of 1 MiB), 2 experts used; 2 globals of 4 MiB. */
static struct model moe_model(void)
{
	struct model m = { .n_layers = 4, .experts_used = 2 };
	add(&m, -1, -1, 4 * MiB, 4 * MiB);
	for (int l = 0; l < 4; l++) {
		for (int t = 0; t < 3; t++) /* gate, up, down: tensor-major, as in a GGUF (and before the dense units) */
			for (int e = 0; e < 8; e++)
				add(&m, l, e, 1 * MiB, 1 * MiB);
		for (int d = 0; d < 3; d++)
			add(&m, l, -1, 4 * MiB, 4 * MiB);
	}
	add(&m, -1, -1, 4 * MiB, 4 * MiB);
	return m;
}

static void count_moe(const struct model *m, const struct sl_place_plan *p, int where, int *dense, int *expert)
{
	*dense = *expert = 0;
	for (int i = 0; i < m->n; i++) {
		if (m->u[i].layer < 0 || p->where[i] != where)
			continue;
		if (m->u[i].expert < 0)
			(*dense)++;
		else
			(*expert)++;
	}
}

static void test_moe(void)
{
	struct model m = moe_model();
	struct sl_place_plan p;
	struct sl_err err;
	int nd, ne;
	/* step = 12 + 2 x 3 = 18 MiB; window 36; total 8 + 48 + 96 = 152 MiB. */
	struct sl_place_input in = input(&m, 8 * MiB + 36 * MiB + 48 * MiB + 10 * MiB, UINT64_MAX, false, false);
	CHECK(place("moe, dense + 10", &in, &p, &err) == 0);
	CHECK(p.step_bytes == 18 * MiB && p.total_bytes == 152 * MiB && p.dev_window == 36 * MiB);
	count_moe(&m, &p, SL_PLACE_DEVICE, &nd, &ne);
	CHECK_MSG(nd == 12 && ne == 10, "dense %d, experts %d on the device", nd, ne);
	/* First-fit in (layer, expert) order: layer 0's experts 0..2 whole, then one slice of expert 3. */
	for (int i = 0; i < m.n; i++) {
		const struct sl_place_unit *u = &m.u[i];
		if (u->expert >= 0 && p.where[i] == SL_PLACE_DEVICE)
			CHECK_MSG(u->layer == 0 && u->expert <= 3, "unit %d (layer %d expert %d) on the device", i,
				  u->layer, u->expert);
		if (u->layer == 0 && u->expert >= 0 && u->expert < 3)
			CHECK_MSG(p.where[i] == SL_PLACE_DEVICE, "layer 0 expert %d slice not on the device", u->expert);
	}
	sl_place_plan_free(&p);

	/* Room for 7.5 dense units: 7 go, the 2 MiB left take 2 expert slices, never a dense unit's place. */
	in.vram = 8 * MiB + 36 * MiB + 30 * MiB;
	CHECK(place("moe, 30 MiB", &in, &p, &err) == 0);
	count_moe(&m, &p, SL_PLACE_DEVICE, &nd, &ne);
	CHECK_MSG(nd == 7 && ne == 2, "dense %d, experts %d on the device", nd, ne);
	sl_place_plan_free(&p);

	/* The host: 2 x 18 window + 20 MiB: no whole layer of rest fits (22, 24, 32, 36), so single units,
	 * non-expert first: the 5 dense units off the device take all 20 MiB; no expert slice is pinned. */
	in.host_tier = true;
	in.host = 36 * MiB + 20 * MiB;
	CHECK(place("moe, host", &in, &p, &err) == 0 && p.host_window == 36 * MiB && p.pinned_layers == 0);
	count_moe(&m, &p, SL_PLACE_HOST, &nd, &ne);
	CHECK_MSG(nd == 5 && ne == 0 && p.host_bytes == 20 * MiB, "dense %d, experts %d pinned", nd, ne);
	sl_place_plan_free(&p);

	/* Room for whole layers of rest (22 to 36 MiB each) beside the dense units: a dense model would pin
	 * layers, MoE pins the 5 dense units only and leaves the other 40 MiB to the expert policy. */
	in.host = 36 * MiB + 60 * MiB;
	CHECK(place("moe, roomy host", &in, &p, &err) == 0 && p.pinned_layers == 0);
	count_moe(&m, &p, SL_PLACE_HOST, &nd, &ne);
	CHECK_MSG(nd == 5 && ne == 0 && p.host_bytes == 20 * MiB, "dense %d, experts %d pinned", nd, ne);
	sl_place_plan_free(&p);
	/* Everything off the device fits: all of it is pinned, experts too (nothing streams). */
	in.host = UINT64_MAX;
	CHECK(place("moe, unlimited host", &in, &p, &err) == 0 && p.host_window == 0 && p.stream_bytes == 0);
	sl_place_plan_free(&p);

	/* experts_used beyond the number of experts: the step is capped at all of them. */
	in.experts_used = 12;
	in.vram = UINT64_MAX;
	CHECK(place("moe, 12 of 8 experts", &in, &p, &err) == 0 && p.step_bytes == 12 * MiB + 24 * MiB);
	sl_place_plan_free(&p);
	free(m.u);
}

/* 10 layers (two units: 6 and 4 MiB), nothing resident but the globals: pinned layers spread out. */
static void test_spread(void)
{
	struct model m = { .n_layers = 10 };
	add(&m, -1, -1, 1 * MiB, 1 * MiB);
	for (int l = 0; l < 10; l++) {
		add(&m, l, -1, 6 * MiB, 6 * MiB);
		add(&m, l, -1, 4 * MiB, 4 * MiB);
	}
	struct sl_place_plan p;
	struct sl_err err;
	static const struct {
		uint64_t host;
		int pinned[4], n;
		int single; /* unit index pinned alone, or -1 */
	} cases[] = {
		{ 20 * MiB + 25 * MiB, { 2, 7 }, 2, 2 },     /* (2k+1)*10/4: 2, 7; 5 MiB left: layer 0's 4 MiB unit */
		{ 20 * MiB + 30 * MiB, { 1, 5, 8 }, 3, -1 }, /* (2k+1)*10/6: 1, 5, 8 */
		{ 20 * MiB + 10 * MiB, { 5 }, 1, -1 },       /* 10/2 */
		{ 20 * MiB + 40 * MiB, { 1, 3, 6, 8 }, 4, -1 },
	};
	for (size_t c = 0; c < SL_ARRAY_SIZE(cases); c++) {
		struct sl_place_input in = input(&m, 21 * MiB, cases[c].host, false, true);
		char what[64];
		snprintf(what, sizeof(what), "spread %zu", c);
		CHECK(place(what, &in, &p, &err) == 0);
		CHECK_MSG(p.device_bytes == 1 * MiB && p.dev_window == 20 * MiB && p.pinned_layers == cases[c].n,
			  "%s: %d layers pinned", what, p.pinned_layers);
		for (int l = 0; l < 10; l++) {
			bool want = false;
			for (int k = 0; k < cases[c].n; k++)
				want |= cases[c].pinned[k] == l;
			bool got = p.where[1 + 2 * l] == SL_PLACE_HOST && p.where[2 + 2 * l] == SL_PLACE_HOST;
			CHECK_MSG(got == want, "%s: layer %d pinned %d, expected %d", what, l, got, want);
		}
		for (int i = 1; i < m.n; i++) {
			int l = m.u[i].layer;
			bool whole = false;
			for (int k = 0; k < cases[c].n; k++)
				whole |= cases[c].pinned[k] == l;
			if (!whole)
				CHECK_MSG((p.where[i] == SL_PLACE_HOST) == (i == cases[c].single), "%s: unit %d", what, i);
		}
		sl_place_plan_free(&p);
	}
	free(m.u);
}

/* Like DeepSeek R1 on a small card: 23 layers of 179 MiB, vram 256 MiB, host 512 MiB, host_visible. */
static void test_r1_regime(void)
{
	static const uint64_t sz[] = { 8, 2, 2, 8, 53, 53, 53 }; /* MiB; 179 a layer */
	struct model m = { .n_layers = 23 };
	add(&m, -1, -1, 38 * MiB, 38 * MiB);
	add(&m, -1, -1, 38 * MiB, 38 * MiB);
	for (int l = 0; l < 23; l++)
		for (size_t k = 0; k < SL_ARRAY_SIZE(sz); k++)
			add(&m, l, -1, sz[k] * MiB, sz[k] * MiB);
	struct sl_place_input in = input(&m, 256 * MiB, 512 * MiB, true, true);
	struct sl_place_plan p;
	struct sl_err err;
	CHECK(place("r1", &in, &p, &err) == 0);
	CHECK(p.step_bytes == 179 * MiB && p.min_vram == 76 * MiB && p.min_host == 179 * MiB);
	/* Device: globals + layer 0 (room 180 MiB, 1 left: nothing else fits). */
	CHECK(p.dev_window == 0 && p.device_bytes == 255 * MiB);
	for (int i = 0; i < 2 + 7; i++)
		CHECK(p.where[i] == SL_PLACE_DEVICE);
	/* Host: window min(512, 2 x 179) = 358, 154 left: no whole layer; first-fit: layer 1 but its last
	 * 53 (126), layer 2's 8 2 2 8 (20), layer 3's 8 (8) = 154. */
	CHECK(p.host_window == 358 * MiB && p.pinned_layers == 0 && p.host_bytes == 154 * MiB);
	for (int i = 2 + 7; i < m.n; i++) {
		int l = (i - 2) / 7, k = (i - 2) % 7;
		bool want = (l == 1 && k < 6) || (l == 2 && k < 4) || (l == 3 && k == 0);
		CHECK_MSG((p.where[i] == SL_PLACE_HOST) == want, "r1: layer %d unit %d", l, k);
	}
	CHECK(p.stream_bytes == 23 * 179 * MiB + 76 * MiB - 255 * MiB - 154 * MiB);
	sl_place_plan_free(&p);
	free(m.u);
}

static void test_bad_input(void)
{
	struct model m = dense_model();
	struct sl_place_plan p;
	struct sl_err err;
	struct sl_place_input in = input(&m, 64 * MiB, 64 * MiB, false, true);
	m.u[3].layer = 8;
	CHECK(place("layer >= n_layers", &in, &p, &err) == -EINVAL && strstr(err.msg, "layer 8"));
	m.u[3].layer = -2;
	CHECK(place("layer -2", &in, &p, &err) == -EINVAL && strstr(err.msg, "layer -2"));
	m.u[3].layer = 0;
	m.u[3].span = m.u[3].size - 1;
	CHECK(place("span < size", &in, &p, &err) == -EINVAL && strstr(err.msg, "less than its size"));
	m.u[3].span = m.u[3].size;
	in.n_layers = -1;
	CHECK(place("n_layers < 0", &in, &p, &err) == -EINVAL && strstr(err.msg, "negative"));
	in.n_layers = 8;
	in.experts_used = -1;
	CHECK(place("experts_used < 0", &in, &p, &err) == -EINVAL && strstr(err.msg, "negative"));
	in.experts_used = 0;
	m.u[3].expert = 2;
	CHECK(place("expert in a dense model", &in, &p, &err) == -EINVAL && strstr(err.msg, "dense"));
	m.u[3].expert = -3;
	in.experts_used = 1;
	CHECK(place("expert -3", &in, &p, &err) == -EINVAL && strstr(err.msg, "expert id -3"));
	m.u[3].expert = -1;
	m.u[3].size = m.u[3].span = UINT64_MAX / 2;
	m.u[4].size = m.u[4].span = UINT64_MAX / 2;
	CHECK(place("overflow", &in, &p, &err) == -EINVAL && strstr(err.msg, "overflow"));
	in.units = NULL;
	CHECK(place("no units", &in, &p, &err) == -EINVAL);
	CHECK(sl_place(NULL, &p, &err) == -EINVAL && p.where == NULL);
	CHECK(sl_place(&in, NULL, &err) == -EINVAL);
	free(m.u);

	/* Empty model: an empty plan, whatever the budgets. */
	struct model e = { .n_layers = 0 };
	in = input(&e, 0, 0, false, true);
	CHECK(place("empty", &in, &p, &err) == 0 && !p.streaming && p.device_bytes == 0 && p.min_vram == 0);
	sl_place_plan_free(&p);
	sl_place_plan_free(&p); /* twice is harmless */
	sl_place_plan_free(NULL);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}
static uint64_t rnd_in(uint64_t lo, uint64_t hi) /* inclusive */
{
	return hi <= lo ? lo : lo + rnd() % (hi - lo + 1);
}

static void test_random(void)
{
	int ok = 0, vram_err = 0, host_err = 0, streamed = 0, pinned = 0;
	for (int it = 0; it < 600; it++) {
		struct model m = { .n_layers = (int)rnd_in(0, 12) };
		bool moe = rnd() % 3 == 0;
		m.experts_used = moe ? (int)rnd_in(1, 4) : 0;
		uint64_t scale = rnd() % 2 ? MiB : 4096;
		for (int g = (int)rnd_in(0, 3); g > 0; g--) {
			uint64_t s = rnd_in(0, 8 * scale);
			add(&m, -1, -1, s, s + rnd_in(0, 8191));
		}
		int n_exp = (int)rnd_in(1, 8), n_t = (int)rnd_in(1, 3);
		for (int l = 0; l < m.n_layers; l++) {
			for (int d = (int)rnd_in(0, 5); d > 0; d--) {
				uint64_t s = rnd_in(0, 16 * scale);
				add(&m, l, -1, s, s + rnd_in(0, 8191));
			}
			for (int e = 0; moe && e < n_exp; e++)
				for (int t = 0; t < n_t; t++) {
					uint64_t s = rnd_in(0, 4 * scale);
					add(&m, l, e, s, s + rnd_in(0, 8191));
				}
		}
		/* Shuffle, so placement cannot rely on the order units come in. */
		for (int i = m.n - 1; i > 0; i--) {
			int j = (int)(rnd() % (uint64_t)(i + 1));
			struct sl_place_unit t = m.u[i];
			m.u[i] = m.u[j];
			m.u[j] = t;
		}
		struct sl_place_input in = input(&m, 0, 0, rnd() % 2, rnd() % 4 != 0);
		uint64_t ss, sp, g, total = 0, tspan = 0;
		ref_step(&in, &ss, &sp, &g);
		for (int i = 0; i < m.n; i++) {
			total += m.u[i].size;
			tspan += m.u[i].span;
		}
		uint64_t minv = g + (in.host_visible ? 0 : ss);
		switch (rnd() % 6) {
		case 0: in.vram = UINT64_MAX; break;
		case 1: in.vram = total - (rnd() % 2); break;
		case 2: in.vram = minv - (minv > 0 && rnd() % 2); break;
		default: in.vram = rnd_in(minv > 0 ? minv - 1 : 0, total + total / 8); break;
		}
		switch (rnd() % 6) {
		case 0: in.host = UINT64_MAX; break;
		case 1: in.host = sp - (sp > 0 && rnd() % 2); break;
		case 2: in.host = rnd_in(0, sp); break;
		default: in.host = rnd_in(sp > 0 ? sp - 1 : 0, tspan); break;
		}
		char what[64];
		snprintf(what, sizeof(what), "random %d", it);
		struct sl_place_plan p, q;
		struct sl_err err;
		int rc = place(what, &in, &p, &err);
		if (rc == 0) {
			ok++;
			CHECK_MSG(total <= in.vram || in.vram >= minv, "%s: ran below min_vram", what);
			bool st = false;
			for (int i = 0; i < m.n; i++)
				st |= p.where[i] == SL_PLACE_STREAM;
			streamed += st;
			pinned += p.pinned_layers > 0;
			/* MoE: no expert slice is pinned in the host cache (it is the policy's), unless
			 * everything off the device is; dense units before any of that. */
			if (moe && p.host_window > 0) {
				CHECK_MSG(p.pinned_layers == 0, "%s: MoE plan pins whole layers", what);
				for (int i = 0; i < m.n; i++)
					CHECK_MSG(m.u[i].expert < 0 || p.where[i] != SL_PLACE_HOST,
						  "%s: expert slice %d pinned in the host cache", what, i);
			}
			if (st && in.host_tier)
				CHECK_MSG(p.host_window >= p.step_span, "%s: host window %llu < step span %llu", what,
					  (unsigned long long)p.host_window, (unsigned long long)p.step_span);
			/* Deterministic. */
			CHECK(sl_place(&in, &q, &err) == 0 && memcmp(p.where, q.where, (size_t)m.n) == 0 &&
			      q.host_bytes == p.host_bytes && q.device_bytes == p.device_bytes);
			sl_place_plan_free(&q);
			sl_place_plan_free(&p);
		} else if (rc == -ENOMEM && strncmp(err.msg, "--vram", 6) == 0) {
			vram_err++;
			CHECK_MSG(total > in.vram && in.vram < minv, "%s: %s", what, err.msg);
		} else if (rc == -ENOMEM && strncmp(err.msg, "--host-cache", 12) == 0) {
			host_err++;
			CHECK_MSG(in.host_tier && in.host < sp && in.host < p.min_host, "%s: %s", what, err.msg);
		} else {
			CHECK_MSG(0, "%s: rc %d %s", what, rc, err.msg);
		}
		free(m.u);
	}
	printf("random: %d plans (%d streaming from the drive, %d with pinned layers), %d vram errors, "
	       "%d host errors\n",
	       ok, streamed, pinned, vram_err, host_err);
	CHECK(ok > 200 && vram_err > 10 && host_err > 10 && streamed > 50 && pinned > 5);
}

int main(void)
{
	test_dense_budgets();
	test_first_fit();
	test_no_fit();
	test_moe();
	test_spread();
	test_r1_regime();
	test_bad_input();
	test_random();
	return t_done();
}
