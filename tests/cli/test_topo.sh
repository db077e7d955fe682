#!/usr/bin/env bash
# tests/cli/test_topo.sh — `sluice topo`: runs on any machine (this one may have no GPU
# or NVMe), --json is valid JSON, option errors fail with a message, and on a small
# fake sysfs tree the tree and the GPU's nearest NVMe come out right.
# sluice-timeout: 300
set -u
BIN=${SLUICE_BIN:-build/sluice}
TMP=${SLUICE_TMP:-$(mktemp -d)}
[ -x "$BIN" ] || { echo "FAIL: $BIN not built"; exit 1; }
fail() { echo "FAIL: $*"; exit 1; }

# The real machine, whatever it has.
out=$("$BIN" topo) || fail "sluice topo exited $?"
echo "$out" | grep -q '^source: ' || fail "no source line: $out"
"$BIN" topo --json | python3 -m json.tool >/dev/null || fail "--json is not JSON"
"$BIN" topo --json --all | python3 -m json.tool >/dev/null || fail "--json --all is not JSON"
"$BIN" topo --source sysfs >/dev/null || fail "--source sysfs"
"$BIN" topo --help | grep -q -- '--source' || fail "--help does not mention --source"

# Usage errors: non-zero, and a message that names the problem.
err=$("$BIN" topo --bogus 2>&1) && fail "unknown option accepted"
echo "$err" | grep -q "unknown option '--bogus'" || fail "unknown option message: $err"
err=$("$BIN" topo --source floppy 2>&1) && fail "bad --source accepted"
echo "$err" | grep -q "floppy" || fail "bad --source message: $err"
err=$("$BIN" topo --source 2>&1) && fail "--source without value accepted"
echo "$err" | grep -q "needs a value" || fail "missing value message: $err"
err=$("$BIN" topo extra 2>&1) && fail "stray argument accepted"
if [ ! -e /dev/sluice ]; then
    err=$("$BIN" topo --source dev 2>&1) && fail "--source dev without the module succeeded"
    echo "$err" | grep -q "sluice.ko" || fail "--source dev message does not mention sluice.ko: $err"
fi

# No PCI bus: a sentence, exit 0.
mkdir -p "$TMP/nopci"
out=$("$BIN" topo --sysfs-root "$TMP/nopci") || fail "empty sysfs root exited $?"
echo "$out" | grep -q "no GPU" || fail "empty tree output: $out"
"$BIN" topo --sysfs-root "$TMP/missing" 2>/dev/null && fail "missing sysfs root accepted"

# A fake tree: root port -> switch -> {nvme, gpu}; a second nvme on node 1.
R=$TMP/fakesys
. "$(dirname "$0")/fake_sysfs.sh"
dev() { fake_pci_dev "$R" "$@"; }  # dev RELPATH CLASS NODE DRIVER
dev pci0000:40/0000:40:00.0 0x060400 0 pcieport
dev pci0000:40/0000:40:00.0/0000:41:00.0 0x060400 0 pcieport
dev pci0000:40/0000:40:00.0/0000:41:00.0/0000:42:00.0 0x060400 0 pcieport
dev pci0000:40/0000:40:00.0/0000:41:00.0/0000:42:01.0 0x060400 0 pcieport
dev pci0000:40/0000:40:00.0/0000:41:00.0/0000:42:00.0/0000:43:00.0 0x010802 0 nvme
dev pci0000:40/0000:40:00.0/0000:41:00.0/0000:42:01.0/0000:44:00.0 0x030200 0 ""
dev pci0000:80/0000:80:00.0 0x060400 1 pcieport
dev pci0000:80/0000:80:00.0/0000:81:00.0 0x010802 1 nvme
out=$(SLUICE_SYSFS_ROOT=$R "$BIN" topo) || fail "fake tree exited $?"
echo "$out"
echo "$out" | grep -q '^source: sysfs .* 3 devices' || fail "device count"
echo "$out" | grep -q '^node 1$' || fail "no node 1"
echo "$out" | grep -q '^    root port 0000:40:00.0$' || fail "root port line"
echo "$out" | grep -q '^      switch port 0000:41:00.0$' || fail "switch line"
echo "$out" | grep -q '^          0000:43:00.0  nvme .*8.0 GT/s x4 (max 16.0 GT/s x4)  driver nvme' || fail "nvme line"
echo "$out" | grep -q 'gpu 0000:44:00.0 -> nvme 0000:43:00.0 (same-switch, 3 bridges)' || fail "nearest NVMe"
json=$("$BIN" topo --json --sysfs-root "$R") || fail "fake tree --json"
echo "$json" | python3 -c '
import json, sys
t = json.load(sys.stdin)
d = {x["bdf"]: x for x in t["devices"]}
assert t["source"] == "sysfs", t["source"]
assert len(t["devices"]) == 3 and len(t["links"]) == 3, (len(t["devices"]), len(t["links"]))
g = d["0000:44:00.0"]
assert g["class"] == "gpu" and g["nearest_nvme"] == "0000:43:00.0" and g["driver"] is None, g
assert d["0000:81:00.0"]["numa_node"] == 1
assert d["0000:43:00.0"]["path"] == ["0000:40:00.0", "0000:41:00.0", "0000:42:00.0"]
assert d["0000:43:00.0"]["bar_sizes"][0] == 16384
rel = {(l["a"], l["b"]): (l["relation"], l["hops"]) for l in t["links"]}
assert rel[("0000:43:00.0", "0000:44:00.0")] == ("same-switch", 3), rel
assert rel[("0000:43:00.0", "0000:81:00.0")] == ("cross-node", 4), rel
' || fail "fake tree JSON content"
echo "PASS"
