#!/usr/bin/env python3
"""Check a .perfetto-trace that sluice wrote, with Perfetto's own protobuf bindings (PyPI perfetto).

usage: trace_check_perfetto.py TRACE.perfetto-trace BYTES_READ TOKENS_DECODED [uploads]

The file is decoded by perfetto.protos...perfetto_trace_pb2.Trace (the generated bindings of
protos/perfetto/trace, not our writer's view of them) and must be: one trusted sequence whose first
packet clears incremental state; every event on a described track; slices that pair and nest on
every track (threads and I/O lanes); I/O read slices whose bytes sum to the run's bytes_read; token
slices covering the tokens decoded; the system view present; no dropped events.  (Perfetto's trace
processor binary is fetched from the network by that package, which the test machines cannot reach.)
"""
import collections
import sys

from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb

TE = pb.TrackEvent


def ann(te):
    out = {}
    for a in te.debug_annotations:
        out[a.name] = a.string_value if a.HasField("string_value") else a.int_value
    return out


def main():
    path, bytes_read, tokens = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    t = pb.Trace()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    assert len(t.packet) > 0, "no packets"
    assert t.packet[0].sequence_flags & 1, "the first packet must clear incremental state"
    tracks, thread_names, open_slices = {}, {}, collections.defaultdict(list)
    slices, instants, counters = collections.Counter(), {}, collections.Counter()
    io_reads = io_bytes = tok = 0
    for pk in t.packet:
        assert pk.trusted_packet_sequence_id == 1, pk
        if pk.HasField("track_descriptor"):
            td = pk.track_descriptor
            assert td.uuid not in tracks, "track %d described twice" % td.uuid
            assert not td.parent_uuid or td.parent_uuid in tracks, "track %d: unknown parent" % td.uuid
            tracks[td.uuid] = td
            if td.HasField("thread"):
                thread_names[td.uuid] = td.thread.thread_name
            continue
        assert pk.HasField("track_event"), pk
        te = pk.track_event
        assert te.track_uuid in tracks, "event on undescribed track %d" % te.track_uuid
        assert pk.timestamp > 0, pk
        st = open_slices[te.track_uuid]
        if te.type == TE.TYPE_SLICE_BEGIN:
            st.append((pk.timestamp, te.name, te.categories[0] if te.categories else "", ann(te)))
        elif te.type == TE.TYPE_SLICE_END:
            assert st, "slice end without a begin on track %d" % te.track_uuid
            t0, name, cat, args = st.pop()
            assert pk.timestamp >= t0, "slice %s ends before it begins" % name
            slices[name] += 1
            if cat == "io" and name == "read":
                io_reads += 1
                io_bytes += args["bytes"]
            if cat == "token":
                tok += args["tokens"]
        elif te.type == TE.TYPE_INSTANT:
            instants[te.name] = ann(te)
        elif te.type == TE.TYPE_COUNTER:
            assert tracks[te.track_uuid].HasField("counter"), "counter value on a non-counter track"
            counters[tracks[te.track_uuid].name] += 1
    for uuid, st in open_slices.items():
        assert not st, "track %d: %d slices never end" % (uuid, len(st))
    assert "model" in thread_names.values(), thread_names
    assert io_reads > 0 and io_bytes == bytes_read, "I/O slices: %d, %d bytes; stats: %d bytes read" % (
        io_reads, io_bytes, bytes_read)
    assert tok == tokens, "token slices cover %d tokens, %d decoded" % (tok, tokens)
    assert slices["matmul"] > 0 and slices["rmsnorm"] > 0, slices
    assert instants.get("model storage", {}).get("drive"), instants.keys()
    assert instants.get("compute backend", {}).get("backend"), instants.keys()
    assert instants["trace stats"]["dropped_events"] == 0, instants["trace stats"]
    assert counters["host cache used"] > 0, counters
    if sys.argv[4:] == ["uploads"]:
        assert slices["upload"] > 0, slices
    lanes = [td for td in tracks.values() if td.name == "io read"]
    print("ok: %d packets, %d tracks (%d threads: %s; %d I/O lanes; %d counters), %d I/O requests = %d bytes, "
          "%d tokens" % (len(t.packet), len(tracks), len(thread_names), ", ".join(sorted(set(thread_names.values()))),
                         len(lanes), len(counters), io_reads, io_bytes, tok))


if __name__ == "__main__":
    main()
