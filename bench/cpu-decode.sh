#!/usr/bin/env bash
# bench/cpu-decode.sh — CPU decode throughput vs memory bandwidth.
#
#   bench/cpu-decode.sh [--threads "1 2"] [--tokens N] [--no-run] [--dir DIR]
#
# 1. bench/membw: read bandwidth of this machine (1 GiB buffer, best of 5).
# 2. bench/matmul_bench: all weight matrices of a 1.03B-param llama (TinyLlama
#    shapes: dim 2048, ff 5632, 22 layers, GQA 4 kv heads, vocab 32000) in
#    f16, q8_0, q6_K, q4_K_M, iq4_xs, iq2_xxs and iq1_s, one activation vector
#    per token; then the compute probe (layers 0) of q4_K and the i-quants.
# 3. unless --no-run: a real `sluice run` decode on a generated ~1B model
#    (gen-model --dim 2048 --layers 22 --ff 5632, f16, then sluice quantize),
#    cached in DIR (default /var/tmp/sluice-bench, ~5 GB).
# Decode is bandwidth-bound: effective GB/s = weight bytes per token / time
# per token; the target is >= 80% of membw for q8_0 and q4_K_M at 2 threads.
# Run it on an otherwise idle machine: other load halves the numbers.
set -eu
cd "$(dirname "$0")/.."
THREADS="1 2"; TOKENS=10; RUN=1; DIR=/var/tmp/sluice-bench
while [ $# -gt 0 ]; do
    case "$1" in
        --threads) THREADS=$2; shift 2 ;;
        --tokens) TOKENS=$2; shift 2 ;;
        --no-run) RUN=0; shift ;;
        --dir) DIR=$2; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
make -s bench >/dev/null
echo "# $(date -u +%F) $(uname -m) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
for t in $THREADS; do build/bench/membw 1024 "$t" 5; done
for type in f16 q8_0 q6_K q4_k_m iq4_xs iq2_xxs iq1_s; do
    for t in $THREADS; do build/bench/matmul_bench "$type" "$t" "$TOKENS"; done
done
# Compute probe (one L2-resident matrix, 1000 times): in the low-bit i-quants the CPU, not memory,
# is the limit, so GB/s per core here is what their kernels are judged by.
for type in q4_K iq4_xs iq2_xxs iq1_s; do build/bench/matmul_bench "$type" 1 "$TOKENS" 0; done
[ "$RUN" = 1 ] || exit 0

BIN=build/sluice
if ! "$BIN" run --help >/dev/null 2>&1; then echo "sluice run not available: skipping end-to-end decode"; exit 0; fi
mkdir -p "$DIR"
[ -f "$DIR/llama-1b-f16.gguf" ] || "$BIN" gen-model --dim 2048 --layers 22 --ff 5632 --type f16 --seed 1 -q \
    -o "$DIR/llama-1b-f16.gguf" >/dev/null
for mix in q8_0 q6_k q4_k_m; do
    [ -f "$DIR/llama-1b-$mix.gguf" ] || "$BIN" quantize -q "$DIR/llama-1b-f16.gguf" "$DIR/llama-1b-$mix.gguf" --type $mix >/dev/null
done
for mix in f16 q8_0 q6_k q4_k_m; do
    m="$DIR/llama-1b-$mix.gguf"
    bytes=$("$BIN" info "$m" | awk '/^tensor bytes:/ {print $3}')
    for t in $THREADS; do
        line=$("$BIN" run -m "$m" -p "Once upon a time" -n 64 --temp 0 -t "$t" --no-echo 2>&1 >/dev/null | grep 'generated' || true)
        tps=$(echo "$line" | sed -n 's/.*generated [0-9]* tok, \([0-9.]*\) tok\/s.*/\1/p')
        gbs=$(awk -v b="$bytes" -v r="${tps:-0}" 'BEGIN { printf "%.2f", b * r / 1e9 }')
        echo "sluice run $mix: $t thread(s): ${tps:-?} tok/s, $(awk -v b="$bytes" 'BEGIN{printf "%.1f", b/1e6}') MB weights, ${gbs} GB/s"
    done
done
