#!/usr/bin/env bash
# `sluice profile` names the bottleneck from measured numbers: disk-bound when a small host cache
# streams most weights each token (the line gives bytes/token, MB/s and the saving of a larger
# --host-cache), compute-bound when everything is resident; the breakdown lists io wait and the ops.
set -uo pipefail
M=$SLUICE_TMP/profile.gguf
"$SLUICE_BIN" gen-model --size 64M --dim 256 --type q8_0 -q -o "$M" || exit 1
fail=0
check() { # check NAME PATTERN ARGS...
    local name=$1 pat=$2; shift 2
    out=$("$SLUICE_BIN" profile -m "$M" -n 6 "$@" 2>&1); rc=$?
    if [ $rc -ne 0 ] || ! grep -qE -- "$pat" <<<"$out" || ! grep -q "io wait" <<<"$out" ||
       ! grep -q "matmul .*ops per token" <<<"$out"; then
        echo "FAIL ($name): exit $rc"; echo "$out"; fail=1
    else
        echo "ok ($name): $(grep bottleneck <<<"$out")"
    fi
}
# A sanitizer build computes several times slower, so the same set-up can truly be compute-bound
# there: it must then say so from its numbers (reads hidden behind compute), never disk-bound.
# (no grep -q on nm: under pipefail its early exit would fail nm with SIGPIPE)
if nm "$SLUICE_BIN" 2>/dev/null | grep __asan_init >/dev/null; then
    check streamed-sanitized '^bottleneck: (disk-bound: io wait is .*MiB/token read at|compute-bound: the reads \([0-9.]+ MiB/token)' \
        --vram 8M --host-cache 16M
else
    check disk-bound '^bottleneck: disk-bound: io wait is .*MiB/token read at [0-9]+ MB/s while the drive was busy, [0-9]+% of the [0-9]+ MB/s bench io measures on this file; a --host-cache larger by .* save up to' \
        --vram 8M --host-cache 16M
fi
check compute-bound '^bottleneck: compute-bound: every weight is in memory'
# --plot: the last token's timeline as a PNG, through scripts/trace_plot.py (matplotlib)
PNG=$SLUICE_TMP/profile.png
out=$("$SLUICE_BIN" profile -m "$M" -n 2 --vram 8M --host-cache 16M --backend cpu-async --plot "$PNG" 2>&1); rc=$?
if [ $rc -ne 0 ] || [ "$(head -c 8 "$PNG" 2>/dev/null | od -An -tx1 | tr -d ' \n')" != 89504e470d0a1a0a ] ||
   ! grep -q "copy queue" <<<"$out"; then
    echo "FAIL (plot): exit $rc"; echo "$out"; fail=1
else
    echo "ok (plot): $(grep -F "$PNG" <<<"$out")"
fi
# a backend that copies to the device (cuda on the tests' stand-in driver): the copies per token
# are stated, and the device, not the disk, is named as what the host waits for
if [ -e "$SLUICE_BUILD/fakecuda/libcuda.so.1" ]; then
    S=$(stat -c %s "$M")
    out=$(LD_LIBRARY_PATH=$SLUICE_BUILD/fakecuda "$SLUICE_BIN" profile -m "$M" -n 1 --backend cuda --vram $((S / 2)) --no-probe 2>&1); rc=$?
    if [ $rc -ne 0 ] || ! grep -q "copied per token .* MiB host to device" <<<"$out" ||
       ! grep -q "^bottleneck: device-bound: the host waits for the device" <<<"$out"; then
        echo "FAIL (device-bound): exit $rc"; echo "$out"; fail=1
    else
        echo "ok (device-bound): $(grep bottleneck <<<"$out" | cut -c1-120)"
    fi
fi
out=$("$SLUICE_BIN" profile 2>&1); [ $? -eq 1 ] && grep -q "no model given" <<<"$out" || { echo "FAIL: no -m: $out"; fail=1; }
exit $fail
