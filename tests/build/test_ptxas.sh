#!/usr/bin/env bash
# tests/build/test_ptxas.sh — the firmware's PTX (what libsluice embeds: $BUILD/gen/firmware_compute_*.ptx)
# assembles with ptxas for sm_80 (from compute_80) and sm_90 (from compute_90) without an error, and
# the hot kernels (sl_mmv_*, sl_attention, sl_attention_split, sl_mla_attention, sl_mla_split) do not spill registers.  Prints registers, stack and
# spills per kernel and architecture.  Skips (77) only when ptxas is absent.
# sluice-timeout: 300
set -u
cd "$(dirname "$0")/../.."
BUILD=${SLUICE_BUILD:-build}
TMP=${SLUICE_TMP:-$(mktemp -d)}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
PTXAS=$(command -v "$CUDA_HOME/bin/ptxas" || command -v ptxas || true)
[ -n "$PTXAS" ] || { echo "SKIP: ptxas not found (CUDA_HOME=$CUDA_HOME, PATH)"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

bad=0
table=$TMP/ptxas-table
: >"$table"
for arch in 80 90; do
    ptx=$BUILD/gen/firmware_compute_$arch.ptx
    [ -s "$ptx" ] || fail "$ptx missing or empty: the build found no nvcc, so libsluice carries no firmware"
    log=$TMP/ptxas_$arch.log
    if ! "$PTXAS" -v -arch=sm_$arch "$ptx" -o "$TMP/fw_$arch.cubin" >"$log" 2>&1; then
        grep -iE 'error|fatal' "$log" | head -20
        fail "ptxas -arch=sm_$arch rejected $ptx"
    fi
    grep -iE '(^|[^a-z])(error|warning)' "$log" | head -5 | sed 's/^/  /'
    grep -qiE '(^|[^a-z])error' "$log" && fail "ptxas reported errors for sm_$arch"
    # "Compiling entry function 'K' for 'sm_A'" ... "N bytes stack frame, S bytes spill stores, L bytes spill loads"
    # ... "Used R registers"
    awk -v arch="sm_$arch" '
        /Compiling entry function/ { match($0, /\x27[^\x27]+\x27/); k = substr($0, RSTART + 1, RLENGTH - 2) }
        /bytes stack frame/ { st = $1; ss = $5; sl = $9 }
        /Used [0-9]+ registers/ { for (i = 1; i <= NF; i++) if ($i == "Used") r = $(i + 1);
                                  if (k != "") printf "%-20s %-6s %4d %6d %6d %6d\n", k, arch, r, st, ss, sl; k = "" }
    ' "$log" >>"$table"
done
n=$(wc -l <"$table")
[ "$n" -gt 0 ] || fail "no kernel found in ptxas's output"
printf '%-20s %-6s %4s %6s %6s %6s\n' kernel arch regs stack spillS spillL
sort -k1,1 -k2,2 "$table"
while read -r k arch r st ss sl; do
    case "$k" in
        sl_mmv_*|sl_attention|sl_attention_split|sl_mla_attention|sl_mla_split)
            if [ "$ss" -ne 0 ] || [ "$sl" -ne 0 ]; then
                echo "FAIL: $k spills on $arch: $ss bytes stored, $sl loaded"
                bad=1
            fi ;;
    esac
done <"$table"
for k in sl_attention sl_attention_split sl_mla_attention sl_mmv_q4_K sl_quantize_q8_K sl_rmsnorm; do
    grep -q "^$k " "$table" || { echo "FAIL: kernel $k not in the PTX"; bad=1; }
done
[ $bad -eq 0 ] || exit 1
echo "ok: $((n / 2)) kernels assemble for sm_80 and sm_90, no spills in mmv/attention/split/mla"
