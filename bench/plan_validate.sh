#!/usr/bin/env bash
# bench/plan_validate.sh — `sluice plan`'s predictions against measured `sluice run` decode speed on
# this machine (issue 12: within ±25%).  Results go to Documentation/performance.md ("Plan
# validation") by hand, with the commands this script prints.
#
#   bench/plan_validate.sh
#   env: SLUICE=build/sluice WORK=/var/tmp/sluice-plan-validate TOKENS=32 THREADS=2 RUNS=3 KEEP=1
#        SIZES="256M 512M 1G" CALIBRATE=512M TYPE=q8_0
#        MOE=auto|0 (deepseek2 models when gen-model --arch deepseek2 works)
#
# For each generated model (llama TYPE at each of SIZES; then deepseek2 ones when the build can make
# them), for each budget:
#   resident   no budget: every weight in memory, compute-bound
#   streamed   --vram SIZE/8 --host-cache SIZE/4: most layers read from the drive each token
#              (deepseek2: experts read on demand; the run's own routing trace and pre-gating
#              precision given to plan)
# it measures, then predicts:
#   measured   decode tok/s of `sluice run --stats` (corrected by (TOKENS-1)/TOKENS: run times
#              TOKENS-1 decode calls but divides by TOKENS), the best of RUNS runs (the machine is
#              shared: the best run is the least disturbed one)
#   disk bw    `sluice bench io MODEL --pattern tensors` (O_DIRECT reads in tensor order, as dense
#              streaming); MoE: `--pattern rand --bs SLICE --qd 16` (expert-slice reads, as misses)
#   cpu bw     the calibration: active bytes per token (from plan) x tok/s of the resident run of
#              the CALIBRATE-sized model of each architecture (that row is exact by construction,
#              and is marked so); every other row is a prediction.  CALIBRATE=each: every model's
#              own resident run (the compute rate of its shape), so the streamed rows test the rest
#              of the model (placement, bytes per token, drive rate, overlap) alone
#   predicted  `sluice plan MODEL --backend cpu <budget> --disk-bw D --cpu-bw C [--trace T]`: its tok/s
#              (full overlap) and its no-overlap bound
# and prints predicted / measured for both.  Runs are short (models <= 1 GB); the machine may be shared, so
# run it once, when it is quiet.
set -euo pipefail
cd "$(dirname "$0")/.."
SLUICE=${SLUICE:-build/sluice}
WORK=${WORK:-/var/tmp/sluice-plan-validate}
TOKENS=${TOKENS:-32}
THREADS=${THREADS:-2}
SIZES=${SIZES:-256M 512M 1G}
CALIBRATE=${CALIBRATE:-512M}
RUNS=${RUNS:-3}
TYPE=${TYPE:-q8_0}
MOE=${MOE:-auto}
[ -x "$SLUICE" ] || { echo "build sluice first (make -j2)" >&2; exit 1; }
mkdir -p "$WORK"
PROMPT="once upon a time there was"

bytes() { numfmt --from=iec "$1"; }

# decode tok/s from run --stats, corrected (see above), best of RUNS; prints "tok/s"
measure() {
    local out=$WORK/run.out i best=0 t
    echo "+ $SLUICE run -m $* -p \"$PROMPT\" -n $TOKENS --temp 0 -t $THREADS --stats   (best of $RUNS)" >&2
    for i in $(seq "$RUNS"); do
        "$SLUICE" run -m "$@" -p "$PROMPT" -n "$TOKENS" --temp 0 -t "$THREADS" --stats >"$out" 2>&1 ||
            { echo "run failed: $(tail -3 "$out")" >&2; return 1; }
        t=$(sed -n 's/.*generated \([0-9]*\) tok, \([0-9.]*\) tok\/s.*/\1 \2/p' "$out" | tail -1 |
            awk '{ n = $1; printf "%.3f\n", (n > 1 ? $2 * (n - 1) / n : $2) }')
        echo "  run $i: $t tok/s" >&2
        best=$(awk -v a="$best" -v b="$t" 'BEGIN { print (b > a ? b : a) }')
    done
    echo "$best"
}

# the drive's rate for this file as streaming reads it (bytes/s): whole tensors in file order for a
# dense model; for MoE, random reads of one expert slice at the depth of a layer's batch (k experts
# x 3 slices), which is what the misses are
disk_bw() {
    local slice args=(--pattern tensors)
    slice=$("$SLUICE" info "$1" --tensors | awk '/ffn_gate_exps.weight/ && !done { gsub(/[\[\],]/, "", $0); print int($(NF-3) / $(NF-4) / 4096) * 4096; done = 1 }')
    [ -n "$slice" ] && [ "$slice" -gt 0 ] && args=(--pattern rand --bs "$slice" --qd 16)
    echo "+ $SLUICE bench io $1 ${args[*]}" >&2
    "$SLUICE" bench io "$1" "${args[@]}" 2>&1 | sed -n 's/.*(\([0-9.]*\) GB\/s).*/\1/p' | tail -1 |
        awk '{ printf "%.0f\n", $1 * 1e9 }'
}

# plan: prints "active_bytes predicted_tok_s bound no_overlap_tok_s"
predict() {
    local out=$WORK/plan.out
    echo "+ $SLUICE plan $*" >&2
    "$SLUICE" plan "$@" >"$out" 2>&1 || { echo "plan failed: $(cat "$out")" >&2; return 1; }
    local active tok bound serial
    active=$(sed -n 's/^per token: active \([0-9.]*\) \([GM]\)iB.*/\1 \2/p' "$out" |
        awk '{ printf "%.0f", $1 * ($2 == "G" ? 1073741824 : 1048576) }')
    read -r tok bound serial < <(awk '/^disk +disk ms/{ getline; print $(NF-2), $(NF-1), $NF }' "$out")
    echo "$active $tok $bound $serial"
}

ROWS=()
row() { ROWS+=("$(printf '| %-28s | %-36s | %6s | %8s | %8s | %7s | %5s | %8s | %7s |' "$@")"); }

gen() { # model-path gen-args...
    local m=$1; shift
    if [ ! -f "$m" ]; then
        echo "+ $SLUICE gen-model -q $* -o $m" >&2
        "$SLUICE" gen-model -q "$@" -o "$m" 2>"$WORK/gen.err" || { echo "gen-model $* failed: $(cat "$WORK/gen.err")" >&2; return 1; }
    fi
}

calibrate() { # arch model-path: CPU_BW[arch] from its resident run
    local arch=$1 m=$2 meas active moe_plan=() moe_run=() tr
    tr=$WORK/trace-$(basename "$m" .gguf).txt
    if [ "$arch" = deepseek2 ]; then
        moe_plan=(--trace "$tr")
        moe_run=(--trace-experts "$tr")
    fi
    meas=$(measure "$m" "${moe_run[@]}")
    read -r active _ _ < <(predict "$m" --backend cpu --cpu-bw 1G "${moe_plan[@]}")
    CPU_BW[$arch]=$(awk -v a="$active" -v t="$meas" 'BEGIN{ printf "%.0f", a * t }')
    CAL_MODEL[$arch]=$m
    CAL_MEAS[$arch]=$meas
    echo "cpu bw ($arch, calibrated on $(basename "$m"): $meas tok/s x $active bytes/token): ${CPU_BW[$arch]} bytes/s" >&2
}

validate() { # arch model-path size-label
    local arch=$1 m=$2 label=$3
    local sz; sz=$(stat -c %s "$m")
    local dbw; dbw=$(disk_bw "$m")
    local vram=$((sz / 8)) host=$((sz / 4))
    local trace
    trace=$WORK/trace-$(basename "$m" .gguf).txt
    local moe_run=() moe_plan=()
    if [ "$arch" = deepseek2 ]; then
        moe_run=(--trace-experts "$trace")
        moe_plan=(--trace "$trace")
    fi
    # resident
    local meas pred calibrated=""
    if [ "${CAL_MODEL[$arch]}" = "$m" ]; then
        meas=${CAL_MEAS[$arch]} # the calibration's own measurement: this row is exact by construction
        calibrated=" (calibration)"
    else
        meas=$(measure "$m" "${moe_run[@]}")
    fi
    local cbw=${CPU_BW[$arch]}
    read -r _ pred bound serial < <(predict "$m" --backend cpu --disk-bw "$dbw" --cpu-bw "$cbw" "${moe_plan[@]}")
    row "$arch $TYPE $label" "resident$calibrated" "$(awk -v b="$dbw" 'BEGIN{printf "%.2f", b/1e9}')" "$pred" "$meas" \
        "$(awk -v p="$pred" -v m="$meas" 'BEGIN{printf "%.2f", p/m}')" "$bound" "$serial" \
        "$(awk -v p="$serial" -v m="$meas" 'BEGIN{printf "%.2f", p/m}')"
    # streamed (deepseek2: the run's pre-gating precision, from its --stats, for the plan's wasted reads)
    meas=$(measure "$m" --vram "$vram" --host-cache "$host" "${moe_run[@]}")
    local prec
    prec=$(sed -n 's/.*pre-gating: precision \([0-9.]*\)%.*/\1/p' "$WORK/run.out" | tail -1)
    [ -n "$prec" ] && moe_plan+=(--pregate-precision "$prec%")
    read -r _ pred bound serial < <(predict "$m" --backend cpu --vram "$vram" --host-cache "$host" --disk-bw "$dbw" \
        --cpu-bw "$cbw" "${moe_plan[@]}")
    row "$arch $TYPE $label" "--vram $(numfmt --to=iec "$vram") --host-cache $(numfmt --to=iec "$host")" \
        "$(awk -v b="$dbw" 'BEGIN{printf "%.2f", b/1e9}')" "$pred" "$meas" \
        "$(awk -v p="$pred" -v m="$meas" 'BEGIN{printf "%.2f", p/m}')" "$bound" "$serial" \
        "$(awk -v p="$serial" -v m="$meas" 'BEGIN{printf "%.2f", p/m}')"
    echo "disk bw $(basename "$m"): $dbw bytes/s" >&2
}

declare -A CPU_BW CAL_MODEL CAL_MEAS
echo "# $(date -u '+%F %H:%M') UTC, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg) at the start" >&2
arches=(llama)
if [ "$MOE" != 0 ] && "$SLUICE" gen-model --arch deepseek2 --size 8M -o "$WORK/probe.gguf" -q 2>/dev/null; then
    rm -f "$WORK/probe.gguf"
    arches+=(deepseek2)
else
    echo "note: gen-model --arch deepseek2 is not available in this build: llama models only" >&2
fi
for arch in "${arches[@]}"; do
    pre=llama; extra=()
    [ "$arch" = deepseek2 ] && pre=ds2 && extra=(--arch deepseek2)
    for s in $SIZES; do
        gen "$WORK/$pre-$s-$TYPE.gguf" "${extra[@]}" --size "$s" --type "$TYPE"
    done
    if [ "$CALIBRATE" != each ]; then
        gen "$WORK/$pre-$CALIBRATE-$TYPE.gguf" "${extra[@]}" --size "$CALIBRATE" --type "$TYPE"
        calibrate "$arch" "$WORK/$pre-$CALIBRATE-$TYPE.gguf"
    fi
    for s in $SIZES; do
        [ "$CALIBRATE" = each ] && calibrate "$arch" "$WORK/$pre-$s-$TYPE.gguf"
        validate "$arch" "$WORK/$pre-$s-$TYPE.gguf" "$s"
    done
done
[ -n "${KEEP:-}" ] || rm -f "$WORK"/*.gguf
echo "# load $(cut -d' ' -f1-3 /proc/loadavg) at the end" >&2

echo
echo "| model | budget | disk GB/s | predicted tok/s | measured tok/s | pred/meas | bound | no-overlap tok/s | no-overlap/meas |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
