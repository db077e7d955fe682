#!/bin/busybox sh
# tests/vm/nvme.sh — the userspace NVMe driver's checks, run by /init in the guest after /vmtest.
# Each check prints one "@@SLUICE PASS|FAIL|SKIP: name" line; suite_vm.sh counts the names
# listed on the "# checks:" lines below (a check that never reports is a failure).
#
# Guest devices (suite_vm.sh): controller serial sluice0 with one namespace holding an ext4
# filesystem with the model (kernel nvme driver: the io_uring side of comparisons, and the
# "mounted" refusal); serial sluice1 with namespace 1 (1 GiB, where models are staged) and
# namespace 2 (512 KiB: too small for the model; used as swap for the "swap" refusal) and
# namespace 3 (4 MiB, whose sector 4096 fails every read: a media error).
# Namespace 1 is 1 GiB (sparse on the host) so the throughput/CPU comparison reads enough.
#
# checks: nvme_setup nvme_list nvme_refuse_mounted nvme_refuse_swap nvme_refuse_open
# checks: nvme_wrong_bdf nvme_still_bound nvme_bind vfio_stage_verify vfio_info vfio_tokens_equal
# checks: vfio_tokens_streaming vfio_tokens_prp vfio_verify_prp
# checks: vfio_ns_too_small vfio_read_past_end vfio_bench nvme_unbind_usable vfio_hash_mismatch
# checks: vfio_corrupt_superblock vfio_stall_detected vfio_stall_recovers nvme_unbind_final
# checks: vfio_iommu_off vfio_media_error vfio_media_error_engine vfio_group_shared
S=/sluice
M=/models/stories260K.gguf
pass() { echo "@@SLUICE PASS: $1"; }
fail() { echo "@@SLUICE FAIL: $1: $(echo "$2" | tail -n 3 | tr '\n' ' ')"; }
# expect_fail NAME PATTERN CMD...: exit status 1 (not a crash) and PATTERN in the message
expect_fail() {
    name=$1 pat=$2; shift 2
    out=$("$@" 2>&1); rc=$?
    if [ $rc -eq 1 ] && echo "$out" | grep -q "$pat"; then pass "$name"; echo "    ($out)" | head -n 2
    else fail "$name" "rc=$rc, wanted '$pat': $out"; fi
}
driver_of() { basename "$(readlink /sys/bus/pci/devices/$1/driver 2>/dev/null)"; }
bdf_of() {
    for c in /sys/class/nvme/nvme*; do
        [ "$(tr -d ' ' < $c/serial)" = "$1" ] && basename "$(readlink -f $c/device)"
    done
}
disk_of() {  # disk_of BDF NSID: the kernel's block device name
    for d in /sys/block/nvme*n$2; do
        readlink "$d" | grep -q "/$1/" && echo "${d##*/}"
    done
    return 0
}
wait_disk() {  # the namespace's block device reappears after unbind (the kernel driver probes)
    i=0; while [ $i -lt 100 ]; do D=$(disk_of $1 1); [ -n "$D" ] && [ -b /dev/$D ] && return 0; sleep 0.1; i=$((i + 1)); done
    return 1
}
B0=$(bdf_of sluice0) B1=$(bdf_of sluice1)
echo "@@SLUICE NVME sluice0=$B0 sluice1=$B1"
if [ "${1:-}" = iommu_off ]; then  # the suite's second boot, with intel_iommu=off
    expect_fail vfio_iommu_off "the IOMMU is off" $S nvme bind $B1
    exit 0
fi
if [ "${1:-}" = group ]; then  # the third: sluice2 and sluice3 behind one PCI bridge, one group
    B2=$(bdf_of sluice2) B3=$(bdf_of sluice3)
    echo "@@SLUICE NVME sluice2=$B2 sluice3=$B3 group $(basename "$(readlink /sys/bus/pci/devices/$B2/iommu_group)")"
    expect_fail vfio_group_shared "IOMMU group of $B2 also holds.*$B3 (nvme)" $S nvme bind $B2
    [ "$(driver_of $B2)" = nvme ] || fail vfio_group_untouched "$B2 is now on $(driver_of $B2)"
    exit 0
fi
if [ -z "$B0" ] || [ -z "$B1" ] || [ ! -d /sys/bus/pci/drivers/vfio-pci ] || [ ! -c /dev/vfio/vfio ]; then
    fail nvme_setup "controllers '$B0' '$B1', vfio-pci $(ls -d /sys/bus/pci/drivers/vfio-pci 2>&1)"
    exit 0
fi
pass nvme_setup
D0=$(disk_of $B0 1) D1=$(disk_of $B1 1) D1b=$(disk_of $B1 2)
echo "@@SLUICE NVME disks $D0 $D1 $D1b; groups $(basename $(readlink /sys/bus/pci/devices/$B1/iommu_group))"

out=$($S nvme list 2>&1)
echo "$out" | sed 's/^/    /'
echo "$out" | grep -q "$B1 *nvme" && echo "$out" | grep -q "$D1" && pass nvme_list || fail nvme_list "$out"

mkdir -p /mnt
if out=$(mount -t ext4 /dev/$D0 /mnt 2>&1); then
    expect_fail nvme_refuse_mounted "is mounted on /mnt" $S nvme bind $B0
else
    fail nvme_refuse_mounted "cannot mount the ext4 namespace to test with: $out"
fi

mkswap /dev/$D1b >/dev/null 2>&1 && swapon /dev/$D1b 2>&1
expect_fail nvme_refuse_swap "swap" $S nvme bind $B1
swapoff /dev/$D1b 2>/dev/null

sleep 60 < /dev/$D1 &
P=$!
expect_fail nvme_refuse_open "is open in process" $S nvme bind $B1
kill $P; wait $P 2>/dev/null

expect_fail nvme_wrong_bdf "no PCI device" $S stage $M --nvme 0000:7f:1f.0
expect_fail nvme_still_bound "bound to nvme" $S stage $M --nvme $B1

# perf NAME FILE ENGINE: read 1000 MiB sequentially (1 MiB requests, qd 32); bench io reports
# the bandwidth and the CPU time (user + sys, all threads) of the reads alone, per GB.
# Printed as "@@SLUICE PERF" lines (suite_vm.sh collects them; performance.md has the ratios).
perf() {
    out=$($S bench io $2 --engine "$3" --size 1000M --bs 1M --qd 32 2>&1); rc=$?
    echo "$out" | sed 's/^/    /'
    mibs=$(echo "$out" | sed -n 's/^bandwidth *\([0-9.]*\) MiB.*/\1/p')
    cpu=$(echo "$out" | sed -n 's/^cpu .*, \([0-9.]*\) s per GB/\1/p')
    echo "@@SLUICE PERF $1 rc=$rc bandwidth_mib_s=$mibs cpu_s_per_GB=$cpu"
    [ $rc -eq 0 ]
}
# io_uring through the kernel driver, on the namespace that is staged later: the baseline.
perf uring /dev/$D1 uring >/tmp/perf-uring.txt 2>&1; cat /tmp/perf-uring.txt

out=$($S nvme bind $B1 2>&1)
[ $? -eq 0 ] && [ "$(driver_of $B1)" = vfio-pci ] && pass nvme_bind || fail nvme_bind "$out"

out=$($S stage $M --nvme $B1 --verify 2>&1); rc=$?
echo "$out" | sed 's/^/    /'
[ $rc -eq 0 ] && echo "$out" | grep -q "^verified:" && pass vfio_stage_verify || fail vfio_stage_verify "rc=$rc $out"

out=$($S info --nvme $B1 2>&1); rc=$?
echo "$out" | head -n 8 | sed 's/^/    /'
[ $rc -eq 0 ] && echo "$out" | grep -q "staged model:" && echo "$out" | grep -qi "llama" && pass vfio_info || fail vfio_info "rc=$rc $out"
IMG=$(echo "$out" | sed -n 's/.*image at byte \([0-9]*\), \([0-9]*\) bytes.*/\1 \2/p')

# The header the parser sees through --nvme is a memfd with holes where the weights are: the
# same tokens prove the weights came through the driver.
A=$($S run --nvme $B1 -p "Once upon a time" -n 32 --temp 0 --seed 7 --no-echo 2>/tmp/nvme.err); ra=$?
B=$($S run -m /mnt/stories260K.gguf --io uring -p "Once upon a time" -n 32 --temp 0 --seed 7 --no-echo 2>/tmp/uring.err); rb=$?
echo "    vfio:  $A"; echo "    uring: $B"
[ $ra -eq 0 ] && [ $rb -eq 0 ] && [ -n "$A" ] && [ "$A" = "$B" ] && pass vfio_tokens_equal ||
    fail vfio_tokens_equal "rc $ra/$rb: $(cat /tmp/nvme.err /tmp/uring.err)"

# The same with PRP lists instead of the SGLs QEMU's controller offers (SLUICE_NVME_PRP=1:
# the CLI's switch for tests), so both data-pointer paths read the right bytes.
echo "$out" | grep -q "SGLs" || echo "    (note: the controller offers no SGLs: both runs use PRP lists)"
P=$(SLUICE_NVME_PRP=1 $S run --nvme $B1 -p "Once upon a time" -n 32 --temp 0 --seed 7 --no-echo 2>/tmp/nvme.err); rc=$?
[ $rc -eq 0 ] && [ -n "$P" ] && [ "$P" = "$B" ] && pass vfio_tokens_prp || fail vfio_tokens_prp "rc $rc: '$P' vs '$B' $(cat /tmp/nvme.err)"
out=$(SLUICE_NVME_PRP=1 $S info --nvme $B1 --verify 2>&1); rc=$?
[ $rc -eq 0 ] && echo "$out" | grep -q "PRP lists" && echo "$out" | grep -q "^verified:" && pass vfio_verify_prp ||
    fail vfio_verify_prp "rc=$rc $out"

# Streaming (a small cache: weights are read again every token, on the I/O thread, which
# polls the completion queue while the model thread submits): still the same tokens.
C=$($S run --nvme $B1 -p "Once upon a time" -n 32 --temp 0 --seed 7 --no-echo --vram 600K --host-cache 300K --stats 2>/tmp/nvme.err); rc=$?
grep -o "weights read [^|]*" /tmp/nvme.err | sed 's/^/    /'
# It streamed: the weights were read several times over ("misses" may be 0: a read that the
# prefetch started in time is a hit, which is timing, not a proof either way).
br=$(sed -n 's/.*exact: bytes_read \([0-9]*\).*/\1/p' /tmp/nvme.err); isz=${IMG#* }
[ $rc -eq 0 ] && [ -n "$C" ] && [ "$C" = "$B" ] && [ -n "$br" ] && [ -n "$isz" ] && [ "$br" -gt $((4 * isz)) ] && pass vfio_tokens_streaming ||
    fail vfio_tokens_streaming "$(grep -v '^sluice: exact\|peak RSS\|decode:' /tmp/nvme.err | tail -n 4)
rc $rc, bytes read ${br:-?} for an image of ${isz:-?}, tokens $( [ "$C" = "$B" ] && echo equal || echo differ)
nvme: '$C' uring: '$B'"

expect_fail vfio_ns_too_small "too small" $S stage $M --nvme $B1/2
# namespace 3 fails reads of its sector 4096 (QEMU blkdebug): the NVMe status, in words
expect_fail vfio_media_error "read at byte 2084352: unrecovered read error .NVMe status type 2 code 0x81" \
    $S stage $M --nvme $B1/3 --lba 3072 --verify
# the same through the I/O engine (what the weight store sees): the status named, not just EIO
expect_fail vfio_media_error_engine "failed at offset 2097152: unrecovered read error" \
    $S bench io $M --engine "nvme:$B1/3@0" --size 4M --bs 1M --qd 4
expect_fail vfio_read_past_end "past the namespace end" $S info --nvme "$B1@99999999"

# The same reads through the userspace driver (the raw namespace from byte 0: the source is
# the engine argument; the file name only satisfies bench io's argument check).
R=$(perf vfio $M "nvme:$B1/1@0" 2>&1); rc=$?
echo "$R"
[ $rc -eq 0 ] && echo "$R" | grep -q "engine *nvme" && pass vfio_bench || fail vfio_bench "rc=$rc $R"

# A controller reset in the middle of I/O (the engine's stall=N test fault disables the
# controller behind the driver's back after the first command): nothing is answered, the
# command times out (500 ms here), the driver resets the controller; the next open works.
expect_fail vfio_stall_detected "no completion within 500 ms; controller reset, usable again" \
    $S bench io $M --engine "nvme:$B1/1@0,timeout=500,stall=1" --size 4M --bs 1M --qd 4
out=$($S info --nvme $B1 2>&1); rc=$?
[ $rc -eq 0 ] && echo "$out" | grep -q "staged model:" && pass vfio_stall_recovers || fail vfio_stall_recovers "rc=$rc $out"

# Give it back: the kernel driver must find a working controller (shutdown notification on close).
out=$($S nvme unbind $B1 2>&1)
[ $? -eq 0 ] && wait_disk $B1 && [ "$(driver_of $B1)" = nvme ] &&
    dd if=/dev/$D1 bs=4096 count=1 2>/dev/null | grep -q SLUICEW1 && pass nvme_unbind_usable ||
    fail nvme_unbind_usable "$out; driver $(driver_of $B1), disk '$(disk_of $B1 1)'"

# Damage one tensor byte through the kernel, then verify through VFIO.
IMG_OFF=${IMG% *} IMG_LEN=${IMG#* }
if [ -n "$IMG" ] && D1=$(disk_of $B1 1) && [ -n "$D1" ]; then
    printf 'ZZZZZZZZ' | dd of=/dev/$D1 bs=1 seek=$((IMG_OFF + IMG_LEN / 2)) conv=notrunc 2>/dev/null; sync
    $S nvme bind $B1 >/dev/null 2>&1
    expect_fail vfio_hash_mismatch "differs from what was staged" $S info --nvme $B1 --verify
    $S nvme unbind $B1 >/dev/null 2>&1; wait_disk $B1; D1=$(disk_of $B1 1)
    printf 'X' | dd of=/dev/$D1 bs=1 seek=20 conv=notrunc 2>/dev/null; sync
    $S nvme bind $B1 >/dev/null 2>&1
    expect_fail vfio_corrupt_superblock "superblock.*corrupt" $S info --nvme $B1
else
    fail vfio_hash_mismatch "no image offsets from sluice info (IMG '$IMG', disk '$D1')"
    fail vfio_corrupt_superblock "not run"
fi
out=$($S nvme unbind $B1 2>&1)
[ $? -eq 0 ] && wait_disk $B1 && pass nvme_unbind_final || fail nvme_unbind_final "$out"
umount /mnt 2>/dev/null
exit 0
