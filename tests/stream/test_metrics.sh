#!/usr/bin/env bash
# `sluice run --metrics FILE`: the run's statistics as Prometheus text.  The file parses as the
# exposition format (each sample after its # HELP and # TYPE, names sluice_*, numeric values), its
# numbers equal the --stats line of the same run, and the prefetch accounting holds up against the
# trace of that run: used + wasted <= prefetches issued, and a streamed run uses its prefetches.
set -uo pipefail
M=$SLUICE_TMP/metrics.gguf
P=$SLUICE_TMP/metrics.prom
T=$SLUICE_TMP/metrics.json
"$SLUICE_BIN" gen-model --size 40M --dim 256 --type q8_0 --seed 3 -q -o "$M" || exit 1
fail=0
for backend in cpu cpu-async; do
    rm -f "$P" "$T"
    err=$("$SLUICE_BIN" run -m "$M" --vram 4M --host-cache 8M --backend $backend -n 6 --temp 0 -p hello \
          --stats --metrics "$P" --trace "$T" 2>&1 >/dev/null) || { echo "FAIL: run ($backend): $err"; fail=1; continue; }
    if out=$(python3 - "$P" "$T" "$err" <<'PY' 2>&1
import json, re, sys
prom, trace, stats = sys.argv[1], sys.argv[2], sys.argv[3]
typed, helped, vals = set(), set(), {}
for line in open(prom):
    line = line.rstrip("\n")
    if line.startswith("# HELP "):
        helped.add(line.split()[2]); continue
    if line.startswith("# TYPE "):
        name, kind = line.split()[2:4]
        assert kind in ("counter", "gauge"), line
        assert (not name.endswith("_total")) or kind == "counter", line
        typed.add(name); continue
    m = re.fullmatch(r'(sluice_[a-z_]+)(\{[a-z]+="[a-z]+"\})? ([-+0-9.eE]+)', line)
    assert m, "bad sample line: %r" % line
    assert m.group(1) in typed and m.group(1) in helped, "sample before its HELP/TYPE: " + line
    vals[m.group(1) + (m.group(2) or "")] = float(m.group(3))
def stat(key):
    return int(re.search(key + r" (\d+)", stats).group(1))
assert vals["sluice_cache_hits_total"] == stat("cache hits"), (vals["sluice_cache_hits_total"], stats)
assert vals["sluice_cache_misses_total"] == stat("misses"), stats
assert vals["sluice_weight_read_bytes_total"] == stat("bytes_read"), stats
assert vals['sluice_tokens_total{phase="generation"}'] == stat("gen_tokens"), stats
assert vals["sluice_prefetch_used_total"] == stat("prefetch used"), stats
assert vals["sluice_prefetch_wasted_total"] == stat("wasted"), stats
issued = sum(1 for e in json.load(open(trace))["traceEvents"] if e.get("name") == "prefetch issued")
used, wasted = vals["sluice_prefetch_used_total"], vals["sluice_prefetch_wasted_total"]
assert used + wasted <= issued, (used, wasted, issued)
assert used > 0, "a streamed run used none of its %d prefetches" % issued
print("%d samples; prefetch issued %d, used %d, wasted %d" % (len(vals), issued, used, wasted))
PY
    ); then echo "$backend: $out"; else echo "FAIL ($backend): $out"; fail=1; fi
done
# '-' writes to stdout; a path that cannot be written is an error naming it, with exit 1
"$SLUICE_BIN" run -m "$M" -n 2 --temp 0 -p hi --metrics - 2>/dev/null | grep -q '^sluice_cache_hits_total ' ||
    { echo "FAIL: --metrics - printed no samples"; fail=1; }
out=$("$SLUICE_BIN" run -m "$M" -n 2 --temp 0 -p hi --metrics "$SLUICE_TMP/no/such/dir/m.prom" 2>&1 >/dev/null); rc=$?
if [ $rc -ne 1 ] || ! grep -q "no/such/dir" <<<"$out"; then
    echo "FAIL: unwritable --metrics: rc $rc: $out"; fail=1
fi
exit $fail
