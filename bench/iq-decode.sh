#!/usr/bin/env bash
# bench/iq-decode.sh — end-to-end decode of low-bit models, sluice against llama.cpp on the same file,
# one thread, resident (the file in the page cache: the kernels, not the disk, are measured).
#
#   bench/iq-decode.sh [TYPE ...]        (default: q4_K iq4_xs iq3_xxs iq2_xxs iq1_s)
#   env: SIZE=400M (the f32 model generated once; quantized files are ~1/8-1/20 of it)
#        DIM=1024 FF=2816 (a multiple of 256, so every matrix can take the type) TOKENS=32 RUNS=3 THREADS=1 DIR=/var/tmp/sluice-iq
#        LLAMA_BENCH=/var/tmp/llamacpp/build-0.3.36/bin/llama-bench (bench/llamacpp.sh builds it)
#
# Each TYPE file is made by `sluice quantize --type TYPE --imatrix` (llama.cpp's mix for the type:
# the same file for both engines, so both run the same tensors) from an imatrix that `sluice imatrix`
# computes on the f32 model.  Per type, RUNS alternating pairs: `sluice run -n TOKENS --temp 0 -t
# THREADS` (decode tok/s as it prints it) and `llama-bench -p 0 -n TOKENS -t THREADS -r 1 --repack 0`
# (llama.cpp without repacking: its out-of-core configuration, and no repacked layout exists for most
# i-quants anyway).  Prints the medians and the ratio sluice / llama.cpp.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-400M}; DIM=${DIM:-1024}; FF=${FF:-2816}; TOKENS=${TOKENS:-32}; RUNS=${RUNS:-3}; THREADS=${THREADS:-1}
DIR=${DIR:-/var/tmp/sluice-iq}
LLAMA_BENCH=${LLAMA_BENCH:-/var/tmp/llamacpp/build-0.3.36/bin/llama-bench}
BIN=build/sluice
[ -x "$LLAMA_BENCH" ] || { echo "no llama-bench at $LLAMA_BENCH (bench/llamacpp.sh builds it)" >&2; exit 1; }
make -s -j"$(nproc)" cli >/dev/null
TYPES=("$@")
[ ${#TYPES[@]} -gt 0 ] || TYPES=(q4_K iq4_xs iq3_xxs iq2_xxs iq1_s)
mkdir -p "$DIR"
F32=$DIR/f32-$SIZE-d$DIM-f$FF.gguf
[ -s "$F32" ] || "$BIN" gen-model --size "$SIZE" --type f32 --dim "$DIM" --ff "$FF" --seed 13 -q -o "$F32" >&2
IMX=$DIR/f32-$SIZE-d$DIM-f$FF.imatrix.gguf
if [ ! -s "$IMX" ]; then
    head -c 40000 README.md >"$DIR/text.txt"
    "$BIN" imatrix "$F32" -f "$DIR/text.txt" -o "$IMX" --chunk 128 --chunks 2 >/dev/null 2>&1
fi
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
echo "# $(date -u '+%F %H:%M UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $THREADS thread(s), $TOKENS tokens, $RUNS alternating runs each"
echo "# $("$LLAMA_BENCH" --version 2>&1 | head -1)"
printf '%-8s %7s %8s %10s %6s   (decode tok/s)\n' type MB sluice llama.cpp ratio
for t in "${TYPES[@]}"; do
    M=$DIR/$t-$SIZE-d$DIM-f$FF.gguf
    [ -s "$M" ] || "$BIN" quantize -q "$F32" "$M" --type "$t" --imatrix "$IMX" >/dev/null
    cat "$M" >/dev/null # into the page cache
    s=(); l=()
    for r in $(seq "$RUNS"); do
        s+=("$("$BIN" run -m "$M" -p "Once upon a time" -n "$TOKENS" --temp 0 -t "$THREADS" 2>&1 >/dev/null |
               sed -n 's/.*generated [0-9]* tok, \([0-9.]*\) tok\/s.*/\1/p' | tail -1)")
        l+=("$("$LLAMA_BENCH" -m "$M" -p 0 -n "$TOKENS" -t "$THREADS" -r 1 --repack 0 -o csv 2>/dev/null |
               awk -F, 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == "avg_ts") c = i} NR == 2 {gsub(/"/, "", $c); print $c}')")
    done
    ms=$(printf '%s\n' "${s[@]}" | median); ml=$(printf '%s\n' "${l[@]}" | median)
    printf '%-8s %7.1f %8.2f %10.2f %6.2f\n' "$t" "$(( $(stat -c %s "$M") ))e-6" "$ms" "$ml" \
        "$(awk -v a="$ms" -v b="$ml" 'BEGIN {print (b > 0) ? a / b : 0}')"
    echo "#   $t runs: sluice ${s[*]} | llama.cpp ${l[*]}"
done
