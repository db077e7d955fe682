#!/usr/bin/env bash
# `sluice topo` lists the CUDA devices the driver reports: on two stand-in devices placed in a fake
# sysfs tree (FAKECUDA_PCI), each with its name, memory, PCI address, NUMA node and nearest NVMe,
# in text and --json; devices not in the tree say so; with no driver, "CUDA: no CUDA driver".
set -uo pipefail
. "$(dirname "$0")/cuda_lib.sh"
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# Node 0: root port -> switch -> {nvme 43, gpu 44}; node 1: root port -> {nvme 81}, root port -> {gpu 82}.
R=$SLUICE_TMP/fakesys
. "$(dirname "$0")/../cli/fake_sysfs.sh"
dev() { FAKE_PCI_IDS="0x10de 0x2335 0x10de 0x18be" FAKE_PCI_LINK="32.0 32.0 16" fake_pci_dev "$R" "$@"; }  # dev RELPATH CLASS NODE DRIVER
dev pci0000:40/0000:40:00.0 0x060400 0 pcieport
dev pci0000:40/0000:40:00.0/0000:41:00.0 0x060400 0 pcieport
dev pci0000:40/0000:40:00.0/0000:41:00.0/0000:42:00.0 0x060400 0 pcieport
dev pci0000:40/0000:40:00.0/0000:41:00.0/0000:42:01.0 0x060400 0 pcieport
dev pci0000:40/0000:40:00.0/0000:41:00.0/0000:42:00.0/0000:43:00.0 0x010802 0 nvme
dev pci0000:40/0000:40:00.0/0000:41:00.0/0000:42:01.0/0000:44:00.0 0x030200 0 nvidia
dev pci0000:80/0000:80:00.0 0x060400 1 pcieport
dev pci0000:80/0000:80:01.0 0x060400 1 pcieport
dev pci0000:80/0000:80:00.0/0000:81:00.0 0x010802 1 nvme
dev pci0000:80/0000:80:01.0/0000:82:00.0 0x030200 1 nvidia

ENV=(FAKECUDA_DEVICES=2 FAKECUDA_MEM=8G,4G FAKECUDA_PCI=0000:44:00.0,0000:82:00.0 SLUICE_SYSFS_ROOT=$R)
out=$(fake_run "${ENV[@]}" -- topo) || bad "sluice topo exited $?"
echo "$out"
grep -q '^CUDA devices (driver 12\.8): 2$' <<<"$out" || bad "no CUDA devices line"
grep -qE '^  cuda:0  sluice fakecuda 0  8\.0 GiB  sm_90  pci 0000:44:00\.0  node 0  nearest NVMe 0000:43:00\.0 \(same-switch' <<<"$out" ||
    bad "cuda:0 line"
grep -qE '^  cuda:1  sluice fakecuda 1  4\.0 GiB  sm_90  pci 0000:82:00\.0  node 1  nearest NVMe 0000:81:00\.0 \(same-host-bridge' <<<"$out" ||
    bad "cuda:1 line"
json=$(fake_run "${ENV[@]}" -- topo --json) || bad "topo --json exited $?"
python3 - "$json" <<'PY' || bad "--json cuda section"
import json, sys
c = json.loads(sys.argv[1])["cuda"]
d = c["devices"]
assert c["driver_version"] == 12080 and len(d) == 2, c
assert d[0]["pci_bus_id"] == "0000:44:00.0" and d[0]["numa_node"] == 0 and d[0]["nearest_nvme"] == "0000:43:00.0", d[0]
assert d[1]["memory_bytes"] == 4 << 30 and d[1]["numa_node"] == 1 and d[1]["nearest_nvme"] == "0000:81:00.0", d[1]
PY
# Devices the tree does not have: said, not guessed.
out=$(fake_run FAKECUDA_DEVICES=2 SLUICE_SYSFS_ROOT=$R -- topo) || bad "topo (devices outside the tree) exited $?"
grep -q 'cuda:1 .*pci 0000:01:00\.0  (not in the PCI tree above' <<<"$out" || bad "device outside the tree: $out"
# No driver at all (only where this machine has none of its own).
if ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1'; then
    out=$("$SLUICE_BIN" topo --sysfs-root "$R") || bad "topo without a driver exited $?"
    grep -q '^CUDA: no CUDA driver' <<<"$out" || bad "no-driver line: $out"
    "$SLUICE_BIN" topo --json --sysfs-root "$R" | python3 -c 'import json,sys; assert "no CUDA driver" in json.load(sys.stdin)["cuda"]["error"]' ||
        bad "no-driver json"
fi
exit $fail
