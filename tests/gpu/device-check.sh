#!/usr/bin/env bash
# tests/gpu/device-check.sh — every real-GPU check of issue 10 in one call, one summary table.
#
#   tests/gpu/device-check.sh [--build DIR] [--fake] [--models DIR] [--layers N] [--dim N] [--ff N]
#                             [--cache DIR] [--skip-gen]
#
#   --build DIR   a build made elsewhere, or a folder made from one by tests/gpu/pack.sh (the lead builds on a machine with liburing/pcre2 and carries
#                 it; carried shared libraries are found through LD_LIBRARY_PATH as usual).  It is
#                 used as it is when it has sluice, test_backend_ops, bw_probe and logits_diff;
#                 otherwise this script runs `make -j16 BUILD=DIR` first.
#   --fake        run the whole flow on the tests' stand-in driver (DIR/fakecuda/libcuda.so.1) with
#                 a tiny model, fewer op cases and steps, small copies: checks the script, not the GPU
#                 (numbers meaningless)
#   --models DIR  where stories260K.gguf is (default: $SLUICE_MODELS, ./shared/models,
#                 ../shared/models, DIR/models, /work/shared/models)
#   --layers N    layers of the generated 8B-shaped model (default 8 of llama-8B's 32: generating
#                 all 32 takes minutes; decode per layer is the same, and the roofline below is
#                 computed from the bytes of the model actually run, so the ratio carries over)
#   --cache DIR   where the generated model is kept between runs (default /var/tmp/sluice-device-check)
#   --backend B   the backend checked against cpu (default cuda; cpu-async tries the script's own
#                 flow with no firmware at all)
#
# Rows of the table (what each measures, and how):
#   op <name>            tests/unit/test_backend_ops cuda: every backend op and weight type against
#                        the cpu backend on random inputs, NaN-poisoned outputs; max error over its
#                        stated bound (see that file)
#   logits ...           tests/gpu/logits_diff: stories260K on cuda vs cpu, prompt batch + 24 decode
#                        steps: max |logit difference| and whether every greedy token agrees;
#                        once resident, once streamed (--vram below the model)
#   h2d <mode> <MiB>     tests/gpu/bw_probe: host-to-device GB/s from malloc'd memory registered with
#                        cuMemHostRegister (how sluice pins its staging slabs) and from pageable
#                        memory, each over the best host-to-device rate of the same run (which
#                        includes cuMemAllocHost memory); target: registered >= 0.9x the best
#   d2d copy             device-to-device cuMemcpyDtoDAsync, bytes copied per second; the HBM traffic
#                        of a copy is twice that (each byte read once and written once)
#   decode resident      `sluice run --backend cuda` on the generated 8B-shaped model (dim 4096, ff
#                        14336, 1024-wide K/V like llama-3-8B; all matrices q4_K — gen-model writes one
#                        type, so not the q4_K_M mix; head size 64), whole model in VRAM, greedy,
#                        tok/s of the decode phase against the HBM roofline:
#                          roofline tok/s = (2 x d2d copy GB/s) / (weight bytes read per token)
#                        weight bytes per token = all tensor bytes but token_embd (one row of it is
#                        read); 2x because the copy's rate counts each byte once but moves it twice.
#                        Target >= 0.5x.
#   overlap streamed     the same model with --vram = half its weights, so about half is copied
#                        host-to-device every token.  Efficiency = (streamed token time) /
#                        max(compute alone, feed alone), where compute alone = the resident token
#                        time (same kernels, nothing to copy) and feed alone = the larger of
#                          copy: (weight bytes - vram) / registered h2d GB/s at 64 MiB — a lower
#                                bound on the bytes streamed, so this errs towards a worse ratio;
#                          read: the I/O engine's busy time per token (sluice run --stats).
#                        1.00 is perfect overlap, 2.00 none.  Target <= 1.15.
# Correctness rows say pass/FAIL; performance rows give the number, the target and whether it is
# met.  The table goes to stdout and, when $OUT is set, to $OUT/device-check.txt (logs of every step
# to $OUT/device-check-logs/).  Exit: 0 when every correctness check passed, 1 when one failed or a
# step could not run, 77 when there is no GPU (without --fake).
set -u
cd "$(dirname "$0")/../.."
T_START=$SECONDS
BUILD=build
FAKE=0
MODELS=
LAYERS=
DIM=4096
FF=14336
CACHE=/var/tmp/sluice-device-check
BACKEND=cuda
while [ $# -gt 0 ]; do
    case "$1" in
        --build) BUILD=$2; shift 2 ;;
        --fake) FAKE=1; shift ;;
        --models) MODELS=$2; shift 2 ;;
        --layers) LAYERS=$2; shift 2 ;;
        --dim) DIM=$2; shift 2 ;;
        --ff) FF=$2; shift 2 ;;
        --cache) CACHE=$2; shift 2 ;;
        --backend) BACKEND=$2; shift 2 ;;
        -h|--help) sed -n '2,60p' "$0"; exit 0 ;;
        *) echo "device-check: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
if [ $FAKE -eq 1 ]; then
    # a tiny model of the same structure: the stand-in driver runs kernels on the CPU, slowly
    LAYERS=${LAYERS:-4}; [ "$DIM" = 4096 ] && DIM=256; [ "$FF" = 14336 ] && FF=768
    BW_ARGS=(--sizes 1,4 --min-mib 4 --d2d-mib 4)
    NPRED=4 STEPS=4 OPS_ARGS=(--quick)
else
    LAYERS=${LAYERS:-8}
    BW_ARGS=(--sizes 1,4,16,64 --min-mib 512 --d2d-mib 1024)
    NPRED=128 STEPS=24 OPS_ARGS=()
fi

need=(sluice tests/unit/test_backend_ops tests/gpu/bw_probe tests/gpu/logits_diff)
missing=0
for f in "${need[@]}"; do [ -x "$BUILD/$f" ] || missing=1; done
if [ $missing -eq 1 ]; then
    echo "device-check: building in $BUILD (make -j16)" >&2
    make -j16 BUILD="$BUILD" all >&2 || { echo "device-check: the build failed" >&2; exit 1; }
fi
BUILD=$(cd "$BUILD" && pwd)
# a folder made by tests/gpu/pack.sh carries the shared libraries the programs need in lib/
[ -d "$BUILD/lib" ] && export LD_LIBRARY_PATH=$BUILD/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
if [ $FAKE -eq 1 ]; then
    [ -e "$BUILD/fakecuda/libcuda.so.1" ] || { echo "device-check: --fake: $BUILD/fakecuda/libcuda.so.1 is not built" >&2; exit 1; }
    export LD_LIBRARY_PATH=$BUILD/fakecuda${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
else
    reason=$("$BUILD/tests/gpu/bw_probe" --detect) || { echo "device-check: $reason"; exit 77; }
fi

LOGS=${OUT:+$OUT/device-check-logs}
LOGS=${LOGS:-$(mktemp -d /var/tmp/device-check-logs.XXXXXX)}
mkdir -p "$LOGS" "$CACHE"
if [ -z "$MODELS" ]; then
    for d in "${SLUICE_MODELS:-}" shared/models ../shared/models "$BUILD/models" /work/shared/models; do
        [ -n "$d" ] && [ -f "$d/stories260K.gguf" ] && { MODELS=$d; break; }
    done
fi
STORIES=${MODELS:+$MODELS/stories260K.gguf}

ROWS=()
FAILED=0
row() { ROWS+=("$(printf '%-28s %-7s %s' "$1" "$2" "$3")"); }   # row CHECK RESULT DETAIL
fail_row() { row "$1" FAIL "$2"; FAILED=1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
meets() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { if (v == "n/a") print "n/a"; else if ((op == ">=" && v + 0 >= t) || (op == "<=" && v + 0 <= t)) print "met"; else print "MISSED" }'; }

# --- the 8B-shaped model: generated in the background while the other checks run (cached) ---
GEN_MODEL=$CACHE/llama8b-shape-q4_K-d$DIM-f$FF-l$LAYERS.gguf
GEN_PID=
if [ ! -s "$GEN_MODEL" ]; then
    timeout 240 "$BUILD/sluice" gen-model --type q4_K --dim "$DIM" --ff "$FF" --layers "$LAYERS" -q \
        -o "$GEN_MODEL" >"$LOGS/gen-model.log" 2>&1 &
    GEN_PID=$!
fi

# --- every op against the CPU ---
t0=$SECONDS
timeout 150 "$BUILD/tests/unit/test_backend_ops" "${OPS_ARGS[@]}" "$BACKEND" >"$LOGS/backend_ops.log" 2>&1
rc=$?
nops=0
while read -r _ name _ cases _ err _ bound status; do
    nops=$((nops + 1))
    if [ "$status" = ok ]; then row "op $name" pass "max err $err (bound $bound), $cases cases"
    else fail_row "op $name" "max err $err (bound $bound), $cases cases"; fi
done < <(grep '^op ' "$LOGS/backend_ops.log")
if [ $rc -ne 0 ] && [ $nops -eq 0 ]; then
    fail_row "ops vs cpu" "test_backend_ops exited $rc: $(grep -m1 -i 'fail\|error\|cannot' "$LOGS/backend_ops.log" | cut -c1-90)"
elif [ $rc -ne 0 ]; then
    grep -q FAIL "$LOGS/backend_ops.log" || fail_row "ops vs cpu" "test_backend_ops exited $rc (see backend_ops.log)"
fi
echo "device-check: ops vs cpu: $((SECONDS - t0)) s" >&2

# --- whole-model logits on stories260K ---
if [ -z "$STORIES" ]; then
    fail_row "logits stories260K" "stories260K.gguf not found (use --models DIR)"
else
    size=$(stat -c %s "$STORIES")
    for mode in resident streamed; do
        args=()
        [ $mode = streamed ] && args=(--vram $((size * 6 / 10)))
        timeout 120 "$BUILD/tests/gpu/logits_diff" "$STORIES" "$BACKEND" -n $STEPS "${args[@]}" >"$LOGS/logits-$mode.log" 2>&1
        rc=$?
        line=$(grep -m1 '^logits ' "$LOGS/logits-$mode.log")
        if [ -n "$line" ]; then
            set -- $line
            detail="max |diff| $5 (rel $7), greedy equal $9"
            [ $rc -eq 0 ] && row "logits stories260K $mode" pass "$detail" || fail_row "logits stories260K $mode" "$detail"
        else
            fail_row "logits stories260K $mode" "$(tail -n1 "$LOGS/logits-$mode.log" | cut -c1-100)"
        fi
    done
fi

# --- copy bandwidths ---
timeout 120 "$BUILD/tests/gpu/bw_probe" "${BW_ARGS[@]}" >"$LOGS/bw_probe.log" 2>&1
rc=$?
BEST=$(awk '$1 == "best_h2d" { print $2 }' "$LOGS/bw_probe.log")
D2D=$(awk '$1 == "d2d" { print $4 }' "$LOGS/bw_probe.log")
PIN64=
if [ $rc -ne 0 ] || [ -z "$BEST" ]; then
    fail_row "bandwidth" "bw_probe exited $rc: $(tail -n1 "$LOGS/bw_probe.log" | cut -c1-100)"
else
    while read -r _ mode mib gbps; do
        [ "$mode" = hostalloc ] && continue
        r=$(ratio "$gbps" "$BEST")
        if [ "$mode" = registered ]; then
            PIN64=$gbps
            row "h2d pinned $mib MiB" "$(meets "$r" 0.9 '>=')" "$gbps GB/s = ${r}x best h2d $BEST GB/s (target >= 0.9)"
        else
            row "h2d pageable $mib MiB" info "$gbps GB/s = ${r}x best h2d"
        fi
    done < <(grep '^h2d ' "$LOGS/bw_probe.log")
    row "d2d copy" info "$D2D GB/s copied (HBM traffic $(awk -v d="$D2D" 'BEGIN { printf "%.1f", 2 * d }') GB/s)"
fi

# --- decode on the 8B-shaped model: resident, then streamed ---
# sluice run's "generated G tok, R tok/s" is G tokens over G-1 decodes (the first comes from the
# prompt's logits): the decode rate is R * (G-1) / G.  A random model may stop early at its EOS token;
# the token count is in the row.
run_decode() {  # run_decode LOG [sluice run args...]: prints "TOKPS GEN IOBUSY_S OWN_OVERLAP"
    local log=$1; shift
    timeout 150 "$BUILD/sluice" run -m "$GEN_MODEL" --backend "$BACKEND" -p "the quick brown fox" -n $NPRED --temp 0 \
        --no-echo --stats "$@" >"$log" 2>&1 || return 1
    awk '/generated [0-9]+ tok/ { for (i = 1; i <= NF; i++) if ($i == "generated") { g = $(i + 1); t = $(i + 3) } }
         /decode:.*io busy/ { for (i = 1; i <= NF; i++) { if ($i == "busy") b = $(i + 1); if ($i == "efficiency") e = $(i + 1) } }
         END { if (g == "" || g < 2) exit 1; printf "%.2f %s %s %s\n", t * (g - 1) / g, g, b == "" ? 0 : b, e == "" ? "n/a" : e }' "$log"
}
if [ -n "$GEN_PID" ]; then
    wait "$GEN_PID" || { echo "device-check: gen-model failed: $(tail -n1 "$LOGS/gen-model.log")" >&2; rm -f "$GEN_MODEL"; }
fi
echo "device-check: model ready at $((SECONDS - T_START)) s" >&2
if [ ! -s "$GEN_MODEL" ]; then
    fail_row "decode 8B-shaped" "gen-model failed: $(tail -n1 "$LOGS/gen-model.log" | cut -c1-90)"
else
    TB=$("$BUILD/sluice" info "$GEN_MODEL" --json | awk -F'[:,]' '/"tensor_bytes"/ { gsub(/ /, "", $2); print $2 }')
    EMB=$("$BUILD/sluice" info "$GEN_MODEL" --tensors | awk '$1 == "token_embd.weight" { for (i = 1; i <= NF; i++) if ($i == "bytes") print $(i - 1) }')
    WB=$((TB - ${EMB:-0}))
    shape="d$DIM ff$FF, $LAYERS of 32 layers, $(awk -v b="$WB" 'BEGIN { printf "%.1f", b / 1e6 }') MB/token"
    if res=$(run_decode "$LOGS/decode-resident.log"); then
        set -- $res
        TOKPS=$1
        if [ -n "$D2D" ]; then
            ROOF=$(awk -v d="$D2D" -v b="$WB" 'BEGIN { printf "%.1f", 2 * d * 1e9 / b }')
            r=$(ratio "$TOKPS" "$ROOF")
            row "decode resident" "$(meets "$r" 0.5 '>=')" "$TOKPS tok/s = ${r}x HBM roofline $ROOF tok/s ($2 tokens; $shape; target >= 0.5)"
        else
            row "decode resident" info "$TOKPS tok/s ($shape; no d2d rate for the roofline)"
        fi
        VRAM=$((WB / 2))
        if st=$(run_decode "$LOGS/decode-streamed.log" --vram "$VRAM"); then
            set -- $st
            SPS=$1 SGEN=$2 SBUSY=$3 SOWN=$4
            eff=$(awk -v s="$SPS" -v r="$TOKPS" -v wb="$WB" -v v="$VRAM" -v pin="${PIN64:-0}" -v busy="$SBUSY" -v g="$SGEN" '
                BEGIN {
                    ts = 1 / s; tc = 1 / r; feed = 0
                    if (pin > 0) feed = (wb - v) / (pin * 1e9)
                    if (g > 0 && busy / g > feed) feed = busy / g
                    m = tc > feed ? tc : feed
                    printf "%.2f %.2f %.2f %.2f", ts / m, ts * 1e3, tc * 1e3, feed * 1e3 }')
            set -- $eff
            row "overlap streamed" "$(meets "$1" 1.15 '<=')" "$1 = token $2 ms / max(compute $3 ms, feed $4 ms), $SPS tok/s at --vram 50%; sluice --stats says $SOWN (target <= 1.15)"
        else
            fail_row "overlap streamed" "sluice run failed: $(grep -m1 'error\|sluice run' "$LOGS/decode-streamed.log" | cut -c1-90)"
        fi
    else
        fail_row "decode resident" "sluice run failed: $(grep -m1 'error\|sluice run' "$LOGS/decode-resident.log" | cut -c1-90)"
    fi
fi

# --- the table ---
dev=$(awk '$1 == "device" { print $3 " (cc " $5 ", " $7 " SMs)" }' "$LOGS/bw_probe.log" 2>/dev/null)
{
    echo "sluice device check ($BACKEND): ${dev:-unknown device}$([ $FAKE -eq 1 ] && echo ', STAND-IN DRIVER (numbers meaningless)'), $(date -u '+%Y-%m-%d %H:%M UTC'), $((SECONDS - T_START)) s"
    printf '%-28s %-7s %s\n' check result detail
    printf '%s\n' "${ROWS[@]}"
} | tee ${OUT:+"$OUT/device-check.txt"}
echo "device-check: logs in $LOGS" >&2
exit $FAILED
