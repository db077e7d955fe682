/* SPDX-License-Identifier: MIT */
/*
 * runtime/trace_perfetto.c — the trace in Perfetto's own format (a `Trace` protobuf: a stream of
 * TracePacket messages), for a path ending in .perfetto-trace or .pftrace.
 *
 * Why a second format: the Chrome JSON is simple but large and slow to load for long runs, and it
 * cannot say that I/O requests overlap without nesting.  Here:
 *   - the process and each recording thread get a track (TrackDescriptor with Process/Thread
 *     descriptors), and their B/E spans become SLICE_BEGIN/SLICE_END on it, instants INSTANT;
 *   - asynchronous spans (I/O requests: submit on one thread, completion on another, many in
 *     flight) go to "lanes": child tracks of the process named after the span ("io read"), a
 *     request taking the lowest lane free at its start, so slices on a track always nest;
 *   - each counter name gets a counter track.
 * Arguments become debug annotations (integers, or strings for '$' keys).  Everything is written
 * on one trusted packet sequence whose first packet clears incremental state; nothing is
 * interned.  The field numbers are those of the .proto files under protos/perfetto/trace/ (stable: protobuf).
 */
#include "trace_internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
	/* Trace */
	F_TRACE_PACKET = 1,
	/* TracePacket */
	F_PKT_TIMESTAMP = 8, F_PKT_SEQ_ID = 10, F_PKT_TRACK_EVENT = 11, F_PKT_SEQ_FLAGS = 13,
	F_PKT_TRACK_DESCRIPTOR = 60,
	/* TrackDescriptor */
	F_TD_UUID = 1, F_TD_NAME = 2, F_TD_PROCESS = 3, F_TD_THREAD = 4, F_TD_PARENT = 5, F_TD_COUNTER = 8,
	/* ProcessDescriptor / ThreadDescriptor */
	F_PD_PID = 1, F_PD_NAME = 6, F_THD_PID = 1, F_THD_TID = 2, F_THD_NAME = 5,
	/* TrackEvent */
	F_TE_ANNOTATION = 4, F_TE_TYPE = 9, F_TE_TRACK = 11, F_TE_CATEGORY = 22, F_TE_NAME = 23, F_TE_COUNTER = 30,
	/* DebugAnnotation */
	F_DA_INT = 4, F_DA_STRING = 6, F_DA_NAME = 10,
};
enum { TE_SLICE_BEGIN = 1, TE_SLICE_END = 2, TE_INSTANT = 3, TE_COUNTER = 4 };
enum { SEQ_INCREMENTAL_STATE_CLEARED = 1 };
enum { WIRE_VARINT = 0, WIRE_LEN = 2 };

#define SEQ_ID 1
#define UUID_PROCESS 1ull
#define UUID_THREAD(i) (0x1000ull + (i))
#define UUID_LANE(i) (0x100000ull + (i))
#define UUID_COUNTER(i) (0x200000ull + (i))
#define MAX_LANES 1024
#define MAX_COUNTERS 64

/* A message under construction: small (one packet), so nested lengths are known when closed. */
struct msg {
	uint8_t b[2048];
	size_t n;
	bool overflow;
};

static void put_bytes(struct msg *m, const void *p, size_t n)
{
	if (m->n + n > sizeof(m->b)) {
		m->overflow = true;
		return;
	}
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void put_varint(struct msg *m, uint64_t v)
{
	uint8_t t[10];
	size_t k = 0;
	do {
		t[k++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	put_bytes(m, t, k);
}

static void field_varint(struct msg *m, unsigned field, uint64_t v)
{
	put_varint(m, (uint64_t)field << 3 | WIRE_VARINT);
	put_varint(m, v);
}

static void field_bytes(struct msg *m, unsigned field, const void *p, size_t n)
{
	put_varint(m, (uint64_t)field << 3 | WIRE_LEN);
	put_varint(m, n);
	put_bytes(m, p, n);
}

static void field_str(struct msg *m, unsigned field, const char *s)
{
	field_bytes(m, field, s ? s : "", s ? strlen(s) : 0);
}

static void field_msg(struct msg *m, unsigned field, const struct msg *sub)
{
	if (sub->overflow)
		m->overflow = true;
	field_bytes(m, field, sub->b, sub->n);
}

/* One TracePacket, with the sequence fields every packet carries, as Trace.packet. */
static void emit(struct jw *w, struct msg *pkt, uint64_t ts, bool first)
{
	struct msg out = { .n = 0 };
	if (ts)
		field_varint(pkt, F_PKT_TIMESTAMP, ts);
	field_varint(pkt, F_PKT_SEQ_ID, SEQ_ID);
	if (first)
		field_varint(pkt, F_PKT_SEQ_FLAGS, SEQ_INCREMENTAL_STATE_CLEARED);
	if (pkt->overflow)
		return; /* cannot happen with the library's short names and 4 arguments; never write half */
	field_msg(&out, F_TRACE_PACKET, pkt);
	sl_trace_jw_put(w, (const char *)out.b, out.n);
}

static uint64_t rel_ts(uint64_t t)
{
	/* +1: a timestamp of 0 would read as "none"; keep every event strictly after the origin */
	return sl_trace_rel_ns(t) + 1;
}

static void track(struct jw *w, uint64_t uuid, uint64_t parent, const char *name, const struct msg *thread,
		  const struct msg *process, bool counter, bool first)
{
	struct msg td = { .n = 0 }, pkt = { .n = 0 };
	field_varint(&td, F_TD_UUID, uuid);
	if (parent)
		field_varint(&td, F_TD_PARENT, parent);
	if (name)
		field_str(&td, F_TD_NAME, name);
	if (process)
		field_msg(&td, F_TD_PROCESS, process);
	if (thread)
		field_msg(&td, F_TD_THREAD, thread);
	if (counter) {
		struct msg cd = { .n = 0 };
		field_msg(&td, F_TD_COUNTER, &cd);
	}
	field_msg(&pkt, F_PKT_TRACK_DESCRIPTOR, &td);
	emit(w, &pkt, 0, first);
}

static void annotations(struct msg *te, const struct ev *e)
{
	const char *k = e->keys;
	for (int i = 0; i < 4 && k && *k; i++) {
		const char *end = strchr(k, ',');
		size_t len = end ? (size_t)(end - k) : strlen(k);
		bool str = *k == '$';
		struct msg da = { .n = 0 };
		field_bytes(&da, F_DA_NAME, k + str, len - str);
		if (str)
			field_str(&da, F_DA_STRING, (const char *)(intptr_t)e->v[i]);
		else
			field_varint(&da, F_DA_INT, (uint64_t)e->v[i]); /* int64 as a varint: two's complement */
		field_msg(te, F_TE_ANNOTATION, &da);
		k += len + (end ? 1 : 0);
	}
}

static void event(struct jw *w, uint64_t track_uuid, int type, const struct ev *e, uint64_t ts)
{
	struct msg te = { .n = 0 }, pkt = { .n = 0 };
	field_varint(&te, F_TE_TYPE, (uint64_t)type);
	field_varint(&te, F_TE_TRACK, track_uuid);
	if (e && type != TE_SLICE_END) {
		if (type == TE_COUNTER) {
			put_varint(&te, (uint64_t)F_TE_COUNTER << 3 | WIRE_VARINT);
			put_varint(&te, (uint64_t)e->v[0]);
		} else {
			field_str(&te, F_TE_CATEGORY, e->cat);
			field_str(&te, F_TE_NAME, e->name);
			annotations(&te, e);
		}
	}
	field_msg(&pkt, F_PKT_TRACK_EVENT, &te);
	emit(w, &pkt, ts, false);
}

/* ---- asynchronous spans on lanes ---- */

static int aev_cmp(const void *pa, const void *pb)
{
	const struct ev *a = ((const struct sl_trace_aref *)pa)->e, *b = ((const struct sl_trace_aref *)pb)->e;
	if (a->ts != b->ts)
		return a->ts < b->ts ? -1 : 1;
	return (a->ph == 'b') - (b->ph == 'b'); /* at one instant, ends free lanes before begins take them */
}

struct lane {
	const struct ev *open; /* the begin of the span on it, NULL when free */
	bool described;
};

static void async_lanes(struct jw *w, unsigned nb, uint64_t t_end)
{
	size_t k;
	struct sl_trace_aref *a = sl_trace_collect_async(nb, aev_cmp, &k);
	struct lane *lanes = calloc(MAX_LANES, sizeof(*lanes));
	if (!a || !lanes) {
		free(a);
		free(lanes);
		return;
	}
	for (size_t i = 0; i < k; i++) {
		const struct ev *e = a[i].e;
		if (e->ph == 'b') {
			unsigned l = 0;
			while (l < MAX_LANES && lanes[l].open)
				l++;
			if (l == MAX_LANES)
				continue; /* more than MAX_LANES in flight: not drawn (never so deep in practice) */
			if (!lanes[l].described) {
				char name[64];
				snprintf(name, sizeof(name), "%s %s", e->cat, e->name);
				track(w, UUID_LANE(l), UUID_PROCESS, name, NULL, NULL, false, false);
				lanes[l].described = true;
			}
			lanes[l].open = e;
			event(w, UUID_LANE(l), TE_SLICE_BEGIN, e, rel_ts(e->ts));
		} else {
			for (unsigned l = 0; l < MAX_LANES; l++) {
				const struct ev *b = lanes[l].open;
				if (b && b->id == e->id && !strcmp(b->cat, e->cat) && !strcmp(b->name, e->name)) {
					event(w, UUID_LANE(l), TE_SLICE_END, NULL, rel_ts(e->ts));
					lanes[l].open = NULL;
					break;
				}
			}
		}
	}
	for (unsigned l = 0; l < MAX_LANES; l++) /* requests still in flight when tracing stopped */
		if (lanes[l].open)
			event(w, UUID_LANE(l), TE_SLICE_END, NULL, rel_ts(t_end));
	free(a);
	free(lanes);
}

void sl_trace_write_perfetto(struct jw *w, unsigned nb, uint64_t t_end, uint64_t dropped)
{
	const long pid = (long)getpid();
	struct msg pd = { .n = 0 };
	field_varint(&pd, F_PD_PID, (uint64_t)pid);
	field_str(&pd, F_PD_NAME, "sluice");
	track(w, UUID_PROCESS, 0, NULL, NULL, &pd, false, true);

	const char *counter_names[MAX_COUNTERS];
	unsigned n_counters = 0;
	for (unsigned i = 0; i < nb; i++) {
		struct tbuf *b = &sl_trace_bufs[i];
		struct msg thd = { .n = 0 };
		char fallback[32];
		snprintf(fallback, sizeof(fallback), "thread %ld", b->tid);
		field_varint(&thd, F_THD_PID, (uint64_t)pid);
		field_varint(&thd, F_THD_TID, (uint64_t)b->tid);
		field_str(&thd, F_THD_NAME, b->name ? b->name : fallback);
		track(w, UUID_THREAD(i), UUID_PROCESS, NULL, &thd, NULL, false, false);
		unsigned depth = 0;
		FOR_EACH_EV(b, e) {
			switch (e->ph) {
			case 'B':
				depth++;
				event(w, UUID_THREAD(i), TE_SLICE_BEGIN, e, rel_ts(e->ts));
				break;
			case 'E':
				depth--;
				event(w, UUID_THREAD(i), TE_SLICE_END, NULL, rel_ts(e->ts));
				break;
			case 'i':
				event(w, UUID_THREAD(i), TE_INSTANT, e, rel_ts(e->ts));
				break;
			case 'C': {
				unsigned c = 0;
				while (c < n_counters && strcmp(counter_names[c], e->name))
					c++;
				if (c == n_counters) {
					if (n_counters == MAX_COUNTERS)
						break;
					counter_names[n_counters++] = e->name;
					track(w, UUID_COUNTER(c), UUID_PROCESS, e->name, NULL, NULL, true, false);
				}
				event(w, UUID_COUNTER(c), TE_COUNTER, e, rel_ts(e->ts));
				break;
			}
			default: /* 'b' / 'e': on lanes, below */
				break;
			}
		}
		for (; depth; depth--) /* spans still open when tracing stopped end there */
			event(w, UUID_THREAD(i), TE_SLICE_END, NULL, rel_ts(t_end));
	}
	async_lanes(w, nb, t_end);
	/* what the JSON keeps in otherData: an instant on the process track at the end */
	struct ev st = { .cat = "trace", .name = "trace stats", .keys = "dropped_events,threads",
			 .v = { (int64_t)dropped, (int64_t)nb }, .ph = 'i' };
	event(w, UUID_PROCESS, TE_INSTANT, &st, rel_ts(t_end));
}
