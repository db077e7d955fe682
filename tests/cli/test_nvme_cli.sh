#!/usr/bin/env bash
# tests/cli/test_nvme_cli.sh — the userspace NVMe driver's commands on a machine without the
# device (the VM suite, tests/vm/nvme.sh, drives a real emulated controller): every bad
# address, missing device and conflicting option is a clear error with exit status 1.
set -u
. "$(dirname "$0")/cli_lib.sh"
cli_model "$TMP"
NODEV=0000:ff:1f.7   # a PCI address no machine has

timeout 20 "$BIN" nvme list >"$TMP/out" 2>"$TMP/err" || bad "nvme list: exit $? ($(cat "$TMP/err"))"
grep -q "BDF" "$TMP/out" || bad "nvme list: no header: $(cat "$TMP/out")"
expect_error "usage: sluice nvme" nvme
expect_error "usage: sluice nvme" nvme frobnicate
expect_error "not a PCI address" nvme bind zz
expect_error "no PCI device $NODEV" nvme bind $NODEV
expect_error "no PCI device $NODEV" nvme unbind $NODEV
# A PCI device that is not an NVMe controller (a host bridge, where there is one)
other=$(for d in /sys/bus/pci/devices/*; do
    [ "$(cat "$d/class" 2>/dev/null)" != 0x010802 ] && basename "$d" && break; done)
[ -n "$other" ] && expect_error "not an NVMe controller" nvme bind "$other"

expect_error "usage: sluice stage" stage "$M"
expect_error "usage: sluice stage" stage --nvme $NODEV
expect_error "no PCI device $NODEV" stage "$M" --nvme $NODEV
expect_error "no PCI device $NODEV" stage "$M" --nvme $NODEV/1 --lba 8 --verify
expect_error "bad namespace id" stage "$M" --nvme $NODEV/x
expect_error "--lba" stage "$M" --nvme $NODEV --lba minus-one
expect_error "no PCI device $NODEV" run --nvme $NODEV -n 1
expect_error "no -m or --io" run --nvme $NODEV -m "$M"
expect_error "no -m or --io" run --nvme $NODEV --io pread
expect_error "not a PCI address" info --nvme 12345
expect_error "no MODEL.gguf with it" info --nvme $NODEV "$M"
expect_error "no PCI device $NODEV" info --nvme $NODEV@16 --verify
# the engine by name (bench io takes any engine name)
expect_error "is not BDF" bench io "$M" --engine nvme:
expect_error "is not BDF" bench io "$M" --engine "nvme:$NODEV/1@0,stall=x"
expect_error "no PCI device $NODEV" bench io "$M" --engine "nvme:$NODEV/1@4096+8192,timeout=100"

[ $nfail -eq 0 ] || { echo "$nfail problem(s)"; exit 1; }
echo "nvme cli: ok"
