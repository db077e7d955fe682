#!/usr/bin/env bash
# sluice-timeout: 600
# tests/vm/suite_vm.sh — boot Debian's kernel in QEMU (TCG) with emulated NVMe, display
# devices, an IOMMU, two NUMA nodes and a PCIe expander, load sluice.ko there and run
# tests/vm/vmtest.c.  Prints PASS:/FAIL:/SKIP: lines for tests/run.sh.
#
# Guest PCI layout (so that every path relation occurs):
#   pcie.0 ── VGA (bochs-drm)                                       no _PXM: node unknown
#          ├─ pxb-pcie (bus 0x40, node 0) ── root port rp0 ── switch up ─┬─ down dp0 ── nvme
#          │                                                             └─ down dp1 ── bochs-display
#          └─ pxb-pcie (bus 0x80, node 1) ── root port rp1 ── nvme
# giving same-switch (nvme0/bochs-display), cross-node (node 0 vs node 1 devices) and
# same-node (VGA vs the rest: different host bridges, VGA's node unknown) pairs.
# Two sockets of one CPU each, one per NUMA node (else the scheduler warns).
#
# Missing qemu or kernel image is a FAIL, not a SKIP: scripts/deps.sh installs them.
# Environment: SLUICE_BUILD (build dir), SLUICE_TMP (scratch), SLUICE_VM_TIMEOUT (s, default 300).
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${SLUICE_BUILD:-$ROOT/build}
WORK=${SLUICE_TMP:-$(mktemp -d)}/vm
LOGDIR=$BUILD/test-logs
VM_TIMEOUT=${SLUICE_VM_TIMEOUT:-300}
mkdir -p "$WORK" "$LOGDIR"
T0=$(date +%s)

fail() { echo "FAIL: $1: $2"; }
pass() { echo "PASS: $1"; }
die() { fail "$1" "$2"; exit 0; }   # setup failure: counted as one failure, suite ends

command -v qemu-system-x86_64 >/dev/null || die setup "qemu-system-x86_64 missing (apt-get install qemu-system-x86)"
KVER=${SLUICE_VM_KVER:-$(ls /boot/vmlinuz-*-amd64 2>/dev/null | sed 's|.*/vmlinuz-||' | sort -V | tail -n 1)}
KERNEL=/boot/vmlinuz-$KVER
MODDIR=/lib/modules/$KVER
[ -n "$KVER" ] && [ -r "$KERNEL" ] || die setup "no readable /boot/vmlinuz-*-amd64 (apt-get install linux-image-amd64)"
[ -d "$MODDIR/build" ] || die setup "no headers for $KVER (apt-get install linux-headers-amd64)"
# The guest has no libc: busybox must be the static build (Debian: busybox-static).
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] && ! readelf -l "$BUSYBOX" 2>/dev/null | grep -q INTERP ||
    die setup "no static /bin/busybox (apt-get install busybox-static)"

# 1. the module, for exactly this kernel
if ! make -s module KDIR="$MODDIR/build" BUILD="$BUILD" >"$WORK/module.log" 2>&1; then
    tail -n 20 "$WORK/module.log"; die module_build "make module failed (log above)"
fi
if grep -E 'warning:|error:' "$WORK/module.log"; then
    fail module_build "compiler warnings (above)"
else
    pass module_build
fi
KO=$BUILD/module/sluice.ko

# 2. pahole: the uapi structures must have no holes and no padding pahole can see.
if command -v pahole >/dev/null; then
    bad=""
    for s in sluice_info sluice_topology sluice_pci_device sluice_pci_link sluice_event sluice_thresholds; do
        out=$(pahole -C "$s" "$KO" 2>&1)
        if [ -z "$out" ]; then bad="$bad $s:missing"; continue; fi
        echo "$out" | grep -qE 'XXX|hole|padding:' && bad="$bad $s" && echo "$out"
    done
    [ -z "$bad" ] && pass pahole_no_holes || fail pahole_no_holes "holes in:$bad"
else
    fail pahole_no_holes "pahole missing (apt-get install dwarves)"
fi

# 3. the static test program (libdrm.a is linked in: no dlopen in the guest)
# runtime/sys/ and util.c are linked in, so the guest also tests the runtime's two topology
# sources against each other and its /dev/sluice pressure source.
if ! gcc -static -O1 -g -Wall -Wextra -Werror -Wno-format-truncation -Wno-unused-parameter -std=gnu11 \
        -D_GNU_SOURCE -pthread -Iuapi -Itests/vm -Iruntime -I. \
        $(pkg-config --cflags libdrm 2>/dev/null || echo -I/usr/include/libdrm) \
        tests/vm/vmtest.c runtime/sys/*.c runtime/util.c -o "$WORK/vmtest" -ldrm -lm >"$WORK/vmtest.log" 2>&1; then
    cat "$WORK/vmtest.log"; die vmtest_build "gcc -static vmtest.c failed (libdrm-dev with libdrm.a?)"
fi

# 3b. a static sluice for the userspace NVMe driver's checks (tests/vm/nvme.sh), from the objects
# make built: the CLI without serve (its static libmicrohttpd needs GnuTLS), libsluice.a.
SLUICE_STATIC=$WORK/sluice
if gcc -static -pthread -o "$SLUICE_STATIC" $(ls "$BUILD"/tools/sluice/*.o | grep -v '/serve') tests/vm/serve_stub.c \
        "$BUILD/libsluice.a" -luring -ldrm -lpcre2-8 -lxxhash -lm -ldl >"$WORK/sluice-static.log" 2>&1; then
    pass vfio_build
else
    grep -v 'statically linked' "$WORK/sluice-static.log" | tail -n 5; fail vfio_build "static sluice did not link (log above)"
    SLUICE_STATIC=
fi
# The guest's NVMe namespaces: sluice0's holds ext4 with the model (the io_uring side);
# sluice1's are raw: 1 GiB (sparse) to stage on and read for the VFIO/io_uring comparison,
# 512 KiB too small for the model.
rm -rf "$WORK/fs0" "$WORK"/nvme*.img; mkdir -p "$WORK/fs0"
MODEL=${SLUICE_MODELS:-$ROOT/../shared/models}/stories260K.gguf
if [ ! -r "$MODEL" ]; then  # no shared model folder: a small synthetic model does as well
    MODEL=$WORK/stories260K.gguf
    "$BUILD/sluice" gen-model --size 1M --type f32 -q -o "$MODEL" >/dev/null 2>&1 || MODEL=
fi
cp "$MODEL" "$WORK/fs0/" 2>/dev/null
mkfs.ext4 -q -F -d "$WORK/fs0" "$WORK/nvme0.img" 16M >/dev/null 2>&1 || truncate -s 16M "$WORK/nvme0.img"
truncate -s 1G "$WORK/nvme1a.img"
truncate -s 512K "$WORK/nvme1b.img"
# namespace 3: reads of sector 4096 (byte 2 MiB) fail with EIO (QEMU's blkdebug): the drive
# then answers with an NVMe media error status.  Far from the sectors the kernel's partition
# scan reads (the first ones and the GPT copy at the end).
truncate -s 4M "$WORK/nvme1c.img"
printf '[inject-error]\nevent = "read_aio"\niotype = "read"\nerrno = "5"\nsector = "4096"\n' > "$WORK/blkdebug.conf"

# 4. initramfs: busybox, the module, the guest's drivers (dependencies first), /vmtest
rm -rf "$WORK/root"; mkdir -p "$WORK/root"/{bin,proc,sys,dev,lib/modules}
cp "$BUSYBOX" "$WORK/root/bin/busybox"
cp tests/vm/init.sh "$WORK/root/init"; chmod +x "$WORK/root/init"
cp "$KO" "$WORK/vmtest" "$WORK/root/"
if [ -n "$SLUICE_STATIC" ] && [ -n "$MODEL" ]; then
    mkdir -p "$WORK/root/models" "$WORK/root/tmp"
    cp "$SLUICE_STATIC" "$WORK/root/sluice"
    cp "$MODEL" "$WORK/root/models/"
    cp tests/vm/nvme.sh "$WORK/root/nvme.sh"; chmod +x "$WORK/root/nvme.sh"
fi
: > "$WORK/root/modules.order"
declare -A seen=()
add_mod() {  # add_mod relpath: dependencies (from modules.dep) first
    local rel=$1 dep
    [ -n "${seen[$rel]:-}" ] && return
    seen[$rel]=1
    for dep in $(awk -v m="$rel:" '$1 == m { $1 = ""; print }' "$MODDIR/modules.dep"); do
        add_mod "$dep"
    done
    mkdir -p "$WORK/root/lib/modules/$(dirname "$rel")"
    case "$rel" in
        *.xz)  xz -dc "$MODDIR/$rel" > "$WORK/root/lib/modules/${rel%.xz}"; rel=${rel%.xz} ;;
        *.zst) zstd -qdc "$MODDIR/$rel" > "$WORK/root/lib/modules/${rel%.zst}"; rel=${rel%.zst} ;;
        *)     cp "$MODDIR/$rel" "$WORK/root/lib/modules/$rel" ;;
    esac
    echo "$rel" >> "$WORK/root/modules.order"
}
for name in nvme bochs vfio_iommu_type1 vfio-pci crc32c_generic ext4; do
    rel=$(grep -oE "^[^:]*/$name\.ko(\.xz|\.zst)?:" "$MODDIR/modules.dep" | head -n 1 | tr -d :)
    [ -n "$rel" ] || die initramfs "module $name not in $MODDIR/modules.dep"
    add_mod "$rel"
done
(cd "$WORK/root" && find . | cpio -o -H newc --quiet | gzip -1) > "$WORK/initramfs.gz" ||
    die initramfs "cpio failed"

# 5. boot.  TCG: KVM is not usable here.  Serial console to a file, hard timeout.
SERIAL=$WORK/serial.log
QEMU=(qemu-system-x86_64 -accel tcg -machine q35,kernel-irqchip=split -cpu max -smp 2,sockets=2,cores=1,threads=1 -m 768M
    -nodefaults -display none -no-reboot -monitor none -serial "file:$SERIAL"
    -object memory-backend-ram,id=m0,size=384M -object memory-backend-ram,id=m1,size=384M
    -numa node,nodeid=0,cpus=0,memdev=m0 -numa node,nodeid=1,cpus=1,memdev=m1
    -device intel-iommu,intremap=on
    -device VGA
    -device pxb-pcie,id=pxb0,bus_nr=64,numa_node=0,bus=pcie.0
    -device pcie-root-port,id=rp0,bus=pxb0,chassis=1,slot=0
    -device x3130-upstream,id=sw0,bus=rp0
    -device xio3130-downstream,id=dp0,bus=sw0,chassis=2,slot=0
    -device xio3130-downstream,id=dp1,bus=sw0,chassis=3,slot=0
    -drive file="$WORK/nvme0.img",if=none,id=nvd0,format=raw
    -device nvme,serial=sluice0,bus=dp0,drive=nvd0
    -device bochs-display,bus=dp1
    -device pxb-pcie,id=pxb1,bus_nr=128,numa_node=1,bus=pcie.0
    -device pcie-root-port,id=rp1,bus=pxb1,chassis=4,slot=0
    -device nvme,id=nvme1,serial=sluice1,bus=rp1
    -drive file="$WORK/nvme1a.img",if=none,id=nvd1,format=raw -device nvme-ns,drive=nvd1,bus=nvme1,nsid=1
    -drive file="$WORK/nvme1b.img",if=none,id=nvd2,format=raw -device nvme-ns,drive=nvd2,bus=nvme1,nsid=2
    -drive if=none,id=nvd3,driver=raw,file.driver=blkdebug,file.config="$WORK/blkdebug.conf",file.image.filename="$WORK/nvme1c.img"
    -device nvme-ns,drive=nvd3,bus=nvme1,nsid=3
    -kernel "$KERNEL" -initrd "$WORK/initramfs.gz"
    -append "console=ttyS0 intel_iommu=on loglevel=4 panic=-1 oops=panic")
T1=$(date +%s)
timeout --kill-after=5 "$VM_TIMEOUT" "${QEMU[@]}" >"$WORK/qemu.log" 2>&1
rc=$?
cp "$SERIAL" "$LOGDIR/vm-serial.log" 2>/dev/null
touch "$SERIAL"
if grep -q '@@SLUICE BOOTED' "$SERIAL"; then
    pass boot
else
    fail boot "qemu exit $rc, no init output (log: $LOGDIR/vm-serial.log)"
    sed 's/^/    /' "$WORK/qemu.log"
fi

# 6. serial log -> PASS/FAIL/SKIP lines (the marker may follow kernel output on a line)
tr -d '\r' < "$SERIAL" | grep -oE '@@SLUICE (PASS|FAIL|SKIP): .*' | sed 's/^@@SLUICE //' | tee "$WORK/results"

# 6b. IOMMU off: a second, short boot with intel_iommu=off (Debian turns it on by default; the
# emulated one then stays off): `sluice nvme bind` must refuse.  init.sh runs only `nvme.sh iommu_off`
# when the command line has sluice_mode=iommu_off.
if [ -n "$SLUICE_STATIC" ]; then
    SERIAL2=$WORK/serial-iommu-off.log
    QEMU2=("${QEMU[@]}")
    last=$((${#QEMU2[@]} - 1))
    QEMU2[$last]="console=ttyS0 intel_iommu=off loglevel=4 panic=-1 oops=panic sluice_mode=iommu_off"
    for i in "${!QEMU2[@]}"; do [ "${QEMU2[$i]}" = "file:$SERIAL" ] && QEMU2[$i]="file:$SERIAL2"; done
    : > "$SERIAL2"
    timeout --kill-after=5 "$VM_TIMEOUT" "${QEMU2[@]}" >"$WORK/qemu2.log" 2>&1
    cp "$SERIAL2" "$LOGDIR/vm-serial-iommu-off.log" 2>/dev/null
    tr -d '\r' < "$SERIAL2" | grep -oE '@@SLUICE (PASS|FAIL|SKIP): .*' | sed 's/^@@SLUICE //' | tee -a "$WORK/results"

    # 6c. A shared IOMMU group: a third short boot with two more controllers behind a
    # conventional PCI bridge (no ACS there: one group for both).  Its own boot, so the
    # topology checks of the first keep their devices.  `bind` must refuse, naming the other.
    SERIAL3=$WORK/serial-group.log
    QEMU3=("${QEMU[@]}")
    last=$((${#QEMU3[@]} - 1))
    QEMU3[$last]="${QEMU[$last]} sluice_mode=group"
    for i in "${!QEMU3[@]}"; do [ "${QEMU3[$i]}" = "file:$SERIAL" ] && QEMU3[$i]="file:$SERIAL3"; done
    QEMU3+=(-device pcie-pci-bridge,id=pb0,bus=pcie.0
            -device nvme,serial=sluice2,bus=pb0,addr=1 -device nvme,serial=sluice3,bus=pb0,addr=2)
    : > "$SERIAL3"
    timeout --kill-after=5 "$VM_TIMEOUT" "${QEMU3[@]}" >"$WORK/qemu3.log" 2>&1
    cp "$SERIAL3" "$LOGDIR/vm-serial-group.log" 2>/dev/null
    tr -d '\r' < "$SERIAL3" | grep -oE '@@SLUICE (PASS|FAIL|SKIP): .*' | sed 's/^@@SLUICE //' | tee -a "$WORK/results"
fi
# A guest that crashes or hangs part-way must not make its remaining tests vanish from the count.
# (and the userspace NVMe driver's checks, listed on nvme.sh's "# checks:" lines)
for t in $(grep -oE 'PASS\("[a-z_0-9]+"' tests/vm/vmtest.c | sed 's/.*("//; s/"$//' | sort -u) \
         $(sed -n 's/^# checks: //p' tests/vm/nvme.sh); do
    grep -qE "^(PASS|FAIL|SKIP): $t(:|\$)" "$WORK/results" || fail "$t" "not reported by the guest"
done
if grep -q '@@SLUICE DONE' "$SERIAL"; then
    pass complete
else
    [ $rc -eq 124 ] && why="timed out after ${VM_TIMEOUT}s" || why="qemu exit $rc"
    fail complete "guest did not finish ($why); tail of $LOGDIR/vm-serial.log:"
    tr -d '\r' < "$SERIAL" | tail -n 25 | sed 's/^/    /'
fi
grep -q 'insmod .* failed' "$SERIAL" && fail guest_modules "$(grep -o 'insmod .* failed' "$SERIAL" | head -n 3 | tr '\n' ' ')"
# VFIO vs io_uring on the same emulated namespace (Documentation/performance.md): ratios only.
tr -d '\r' < "$SERIAL" | grep -oE '@@SLUICE PERF .*' | sed 's/^@@SLUICE /vm: /' | tee "$LOGDIR/vm-nvme-perf.log"
T2=$(date +%s)
echo "vm: build $((T1 - T0))s, boot+tests $((T2 - T1))s"
exit 0
