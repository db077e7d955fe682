#!/usr/bin/env python3
"""Check a Chrome JSON trace written by `sluice run --trace` (tests/stream/test_trace.sh).

usage: trace_check.py TRACE.json BYTES_READ TOKENS_DECODED [uploads]

Strict JSON (no NaN/Infinity, no duplicate keys); every B has its E on the same thread and
spans nest with non-decreasing times; every asynchronous I/O span (b) has exactly one end (e)
with the same id, after it; the I/O request bytes add up to BYTES_READ; the token spans cover
TOKENS_DECODED tokens; tracks are named; compute ops carry layer and weight type.
"""
import collections
import json
import sys


def no_dups(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key in %r" % keys)
    return dict(pairs)


def bad_constant(c):
    raise ValueError("non-JSON constant %s" % c)


def main():
    path, bytes_read, tokens = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    with open(path, "rb") as f:
        doc = json.loads(f.read().decode("utf-8"), object_pairs_hook=no_dups, parse_constant=bad_constant)
    evs = doc["traceEvents"]
    assert isinstance(evs, list) and evs, "no events"
    names = {}
    stacks = collections.defaultdict(list)
    last_ts = {}
    spans = collections.Counter()
    open_async = {}
    io_reads = io_bytes = tok = 0
    ops = collections.Counter()
    asyncs = []
    for e in evs:
        ph = e["ph"]
        assert isinstance(e["pid"], int) and isinstance(e["tid"], int), e
        if ph == "M":
            if e["name"] == "thread_name":
                names[e["tid"]] = e["args"]["name"]
            continue
        ts = e["ts"]
        assert isinstance(ts, (int, float)) and ts >= 0, e
        tid = e["tid"]
        assert ts >= last_ts.get(tid, 0), "time goes back on thread %d: %r" % (tid, e)
        last_ts[tid] = ts
        if ph == "B":
            stacks[tid].append(e)
            if e["cat"] == "token":
                tok += e["args"]["tokens"]
            if e["cat"] == "compute" and e["name"] in ("matmul", "rmsnorm"):
                assert "layer" in e["args"] and isinstance(e["args"]["type"], str), e
                ops[e["name"]] += 1
        elif ph == "E":
            assert stacks[tid], "E without B on thread %d at %s" % (tid, ts)
            b = stacks[tid].pop()
            assert ts >= b["ts"], (b, e)
            spans[b["cat"]] += 1
        elif ph in ("b", "e"):
            asyncs.append(e)
            if ph == "b" and e["cat"] == "io" and e["name"] == "read":
                io_reads += 1
                io_bytes += e["args"]["bytes"]
        elif ph in ("i", "C"):
            assert e["name"], e
        else:
            raise AssertionError("unknown phase %r" % ph)
    # Asynchronous spans begin on one thread and may end on another (the I/O thread); an id (the
    # request's address) is reused only after its span ended: match them in time order.
    for e in sorted(asyncs, key=lambda e: (e["ts"], e["ph"] == "b")):
        key = (e["cat"], e["name"], e["id"])
        if e["ph"] == "b":
            assert key not in open_async, "async id reused while open: %r" % (key,)
            open_async[key] = e
        else:
            assert key in open_async, "async end without begin: %r" % (e,)
            del open_async[key]
    for tid, st in stacks.items():
        assert not st, "thread %d: %d spans never end" % (tid, len(st))
    assert not open_async, "%d I/O spans never end" % len(open_async)
    assert doc["otherData"]["dropped_events"] == 0, doc["otherData"]
    assert "model" in names.values(), names
    for tid in last_ts:
        assert tid in names, "thread %d has no name" % tid
    assert io_reads > 0 and io_bytes == bytes_read, "I/O spans: %d, %d bytes; stats: %d bytes read" % (
        io_reads, io_bytes, bytes_read)
    assert tok == tokens, "token spans cover %d tokens, %d decoded" % (tok, tokens)
    assert ops["matmul"] > 0 and ops["rmsnorm"] > 0, ops
    # the system view: which drive fed the model (and its PCI function / NUMA node), which backend
    system = {e["name"]: e.get("args", {}) for e in evs if e.get("cat") == "system"}
    assert "model storage" in system and system["model storage"].get("drive"), system
    assert "numa_node" in system["model storage"], system
    assert system.get("compute backend", {}).get("backend"), system
    if sys.argv[4:] == ["uploads"]:  # a backend that cannot read host memory copies to the device
        assert spans["upload"] > 0, spans
    print("ok: %d events, %d threads (%s), %d I/O requests = %d bytes, %d tokens, spans %s" % (
        len(evs), len(names), ", ".join(sorted(set(names.values()))), io_reads, io_bytes, tok, dict(spans)))


if __name__ == "__main__":
    main()
