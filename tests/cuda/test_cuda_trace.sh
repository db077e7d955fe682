#!/usr/bin/env bash
# sluice-timeout: 300
# Device spans (issue 16): a traced run on the CUDA backend (the stand-in driver) has a track per
# stream, "gpu 0 compute stream" and "gpu 0 copy stream", whose spans come from device events:
# every kernel launch of the run and every upload of a streamed one, in order, not overlapping,
# inside the run's time — in both the JSON and the Perfetto output.
set -uo pipefail
. "$(dirname "$0")/cuda_lib.sh"
skip_without_firmware
fail=0
M=$SLUICE_TMP/f16.gguf
"$SLUICE_BIN" gen-model --size 1M --type f16 --dim 128 --layers 3 --ff 256 -q -o "$M" >/dev/null ||
    { echo "FAIL: gen-model"; exit 1; }
for out in "$SLUICE_TMP/t.json" "$SLUICE_TMP/t.perfetto-trace"; do
    fake_run -- run -m "$M" --backend cuda --temp 0 -p "hello world" -n 6 --vram 600K --trace "$out" \
        >/dev/null 2>"$SLUICE_TMP/err" || { echo "FAIL: traced run ($out)"; cat "$SLUICE_TMP/err"; fail=1; }
done
python3 - "$SLUICE_TMP/t.json" <<'PY' || fail=1
import json, sys
t = json.load(open(sys.argv[1]))
ev = t["traceEvents"]
names = {e["tid"]: e["args"]["name"] for e in ev if e.get("ph") == "M" and e.get("name") == "thread_name"}
tracks = {v: k for k, v in names.items()}
bad = []
for want in ("gpu 0 compute stream", "gpu 0 copy stream"):
    if want not in tracks:
        bad.append("no track '%s' (tracks: %s)" % (want, sorted(names.values())))
if bad:
    print("FAIL:", "; ".join(bad)); sys.exit(1)
host = [e for e in ev if e.get("ph") in ("B", "E") and e["tid"] not in (tracks["gpu 0 compute stream"], tracks["gpu 0 copy stream"])]
t_lo = min(float(e["ts"]) for e in host); t_hi = max(float(e["ts"]) for e in host)
counts = {}
for name, tid in (("compute", tracks["gpu 0 compute stream"]), ("copy", tracks["gpu 0 copy stream"])):
    evs = [e for e in ev if e["tid"] == tid and e.get("ph") in ("B", "E")]
    last_end, open_ = -1.0, None
    for e in evs:
        ts = float(e["ts"])
        if e["ph"] == "B":
            if open_ is not None: print("FAIL: %s stream spans nest or overlap" % name); sys.exit(1)
            if ts < last_end: print("FAIL: %s stream span starts before the previous ended" % name); sys.exit(1)
            open_ = e
        else:
            if open_ is None: print("FAIL: %s stream: an end without a begin" % name); sys.exit(1)
            last_end, open_ = ts, None
        if not (t_lo - 1000 <= ts <= t_hi + 1000):
            print("FAIL: %s stream span at %.1f us outside the run [%.1f, %.1f]" % (name, ts, t_lo, t_hi)); sys.exit(1)
    counts[name] = sum(1 for e in evs if e["ph"] == "B")
kinds = {}
for e in ev:
    if e["tid"] == tracks["gpu 0 compute stream"] and e.get("ph") == "B":
        kinds[e["name"]] = kinds.get(e["name"], 0) + 1
# Every host-side matmul became one device mmv span (the host's spans are "matmul" on the model thread).
host_mm = sum(1 for e in host if e.get("ph") == "B" and e.get("name") == "matmul")
if kinds.get("sl_mmv", 0) != host_mm:
    print("FAIL: %d sl_mmv device spans for %d host matmuls" % (kinds.get("sl_mmv", 0), host_mm)); sys.exit(1)
if counts["copy"] == 0 or any(e.get("name") == "upload" and e["args"].get("bytes", 0) <= 0
                              for e in ev if e["tid"] == tracks["gpu 0 copy stream"] and e.get("ph") == "B"):
    print("FAIL: no uploads on the copy stream of a streamed run, or one without bytes"); sys.exit(1)
print("ok: device spans: compute %d (%s), copy %d; %d host matmuls" % (counts["compute"], ", ".join("%s %d" % kv for kv in sorted(kinds.items())), counts["copy"], host_mm))
PY
# The Perfetto file has the same two tracks (its writer is shared; the stream names are in it).
for want in "gpu 0 compute stream" "gpu 0 copy stream"; do
    grep -qa "$want" "$SLUICE_TMP/t.perfetto-trace" || { echo "FAIL: '$want' missing from the Perfetto trace"; fail=1; }
done
exit $fail
