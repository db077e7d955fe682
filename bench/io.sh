#!/usr/bin/env bash
# bench/io.sh — benchmark 7a: `sluice bench io` against fio on the same file, same block size
# and queue depth, as a ratio (target >= 0.95).  Results go to Documentation/performance.md
# ("I/O engine"), by hand, with the commands this script prints.
#
#   bench/io.sh [FILE]       FILE defaults to /var/tmp/sluice-bench-4g.bin (created: 4 GiB)
#   env: SIZE=4G RUNS=3 BS=1M QD=32 SLUICE=build/sluice ENGINE=uring
#
# Cases: seq (bs reads in order) and tensors (the streaming engine's request stream: every
# tensor of a GGUF file, or a synthetic llama-7B Q4_0 layout on a plain file; sluice writes
# the commands it issues as a fio iolog and fio replays exactly those).
# Runs alternate sluice / fio RUNS times; the medians are compared.  The page cache is
# dropped before each run when we are root (both sides use O_DIRECT anyway).
# fio gets fixed buffers (and registered files where its iolog replay allows), as sluice uses.
set -euo pipefail
cd "$(dirname "$0")/.."
FILE=${1:-/var/tmp/sluice-bench-4g.bin}
SIZE=${SIZE:-4G}
RUNS=${RUNS:-3}
BS=${BS:-1M}
QD=${QD:-32}
ENGINE=${ENGINE:-uring}
SLUICE=${SLUICE:-build/sluice}
command -v fio >/dev/null || { echo "fio not installed"; exit 77; }
[ -x "$SLUICE" ] || { echo "$SLUICE missing: make cli"; exit 1; }
if [ ! -e "$FILE" ]; then
    echo "creating $FILE ($SIZE of random data)" >&2
    head -c "$SIZE" /dev/urandom > "$FILE"
fi
TMP=$(mktemp -d /var/tmp/sluice-bench-io.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

drop() { [ "$(id -u)" = 0 ] && sync && echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }

FIO_COMMON=(--ioengine=io_uring --direct=1 --iodepth="$QD" --fixedbufs=1
            --output-format=json --filename="$FILE")

run_case() {  # run_case NAME SLUICE_ARGS... -- FIO_ARGS...
    local name=$1; shift
    local sargs=() fargs=()
    while [ "$1" != -- ]; do sargs+=("$1"); shift; done; shift
    fargs=("$@")
    : > "$TMP/$name.s"; : > "$TMP/$name.f"
    for i in $(seq "$RUNS"); do
        drop
        "$SLUICE" bench io "$FILE" --engine "$ENGINE" --bs "$BS" --qd "$QD" --json "${sargs[@]}" > "$TMP/s.json"
        json 'd["mib_per_s"]' < "$TMP/s.json" >> "$TMP/$name.s"
        cp "$TMP/s.json" "$TMP/$name.s.last"
        drop
        fio --name="$name" "${FIO_COMMON[@]}" "${fargs[@]}" > "$TMP/f.json"
        json 'd["jobs"][0]["read"]["bw"]/1024' < "$TMP/f.json" >> "$TMP/$name.f"
        cp "$TMP/f.json" "$TMP/$name.f.last"
    done
    local s f
    s=$(median < "$TMP/$name.s"); f=$(median < "$TMP/$name.f")
    local sl fl
    sl=$(json '"p50 %.0f / p99 %.0f us" % (d["lat_us"]["p50"], d["lat_us"]["p99"])' < "$TMP/$name.s.last")
    fl=$(json '"p50 %.0f / p99 %.0f us" % (d["jobs"][0]["read"]["clat_ns"]["percentile"]["50.000000"]/1e3, d["jobs"][0]["read"]["clat_ns"]["percentile"]["99.000000"]/1e3)' < "$TMP/$name.f.last")
    printf '| %s | %.0f | %.0f | %.2f | %s | %s | %s | %s |\n' "$name" "$s" "$f" \
        "$(awk -v a="$s" -v b="$f" 'BEGIN{print a/b}')" "$sl" "$fl" \
        "$(tr '\n' ' ' < "$TMP/$name.s")" "$(tr '\n' ' ' < "$TMP/$name.f")"
}

echo "# $(date -u +%F) $(uname -r), $(nproc) CPUs, file $FILE ($(stat -c %s "$FILE") bytes) on $(findmnt -no SOURCE,FSTYPE -T "$FILE" | tr -s ' ')"
echo "# sluice: $SLUICE bench io $FILE --engine $ENGINE --bs $BS --qd $QD --json [--pattern tensors --iolog LOG]"
echo "# fio:    fio --name=N ${FIO_COMMON[*]} [--rw=read --registerfiles=1 --bs=$BS | --read_iolog=LOG --replay_no_stall=1 --bs=$BS]"
echo "| case | sluice MiB/s (median) | fio MiB/s (median) | ratio | sluice latency | fio latency | sluice runs | fio runs |"
echo "|---|---|---|---|---|---|---|---|"
run_case seq-$BS-qd$QD -- --rw=read --registerfiles=1 --bs="$BS" --size="$(stat -c %s "$FILE")"
# The same with sluice's staging on 4 KiB pages, like fio's malloc'ed buffers: the engine alone.
run_case seq-$BS-qd$QD-4k-pages --small-pages -- --rw=read --registerfiles=1 --bs="$BS" --size="$(stat -c %s "$FILE")"
# The tensors stream: record the commands once, then replay them with fio every run.
"$SLUICE" bench io "$FILE" --engine "$ENGINE" --bs "$BS" --qd "$QD" --pattern tensors \
    --iolog "$TMP/tensors.iolog" > /dev/null
run_case tensors-$BS-qd$QD --pattern tensors -- --read_iolog="$TMP/tensors.iolog" \
    --replay_no_stall=1 --bs="$BS"
