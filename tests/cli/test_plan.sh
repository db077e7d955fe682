#!/usr/bin/env bash
# tests/cli/test_plan.sh — `sluice replay`, `sluice plan` and `gen-model --like deepseek-r1`: the sparse
# R1 layout (671B parameters, a few MB on disk, instant), its plan at 24 GiB + 64 GiB, a plan of a small
# generated llama, a trace replayed by both, and bad input (clear errors, exit 1).
set -u
. "$(dirname "$0")/cli_lib.sh"

# --- gen-model --like: sparse, instant, true scale
R1=$TMP/r1.gguf
timeout 30 "$BIN" gen-model --like deepseek-r1 --type q4_K_m -o "$R1" 2>"$TMP/gen.err" || bad "gen-model --like exited $?: $(cat "$TMP/gen.err")"
size=$(stat -c %s "$R1" 2>/dev/null || echo 0)
alloc=$(du -B1 "$R1" 2>/dev/null | cut -f1)
[ "$size" -gt $((300 << 30)) ] || bad "R1 layout is only $size bytes"
[ "${alloc:-0}" -lt $((64 << 20)) ] || bad "R1 layout allocates $alloc bytes (not sparse)"
timeout 20 "$BIN" info "$R1" >"$TMP/info" 2>&1 || bad "info on the R1 layout exited $?"
grep -q "^parameters: *671026419200 " "$TMP/info" || bad "info: not 671B parameters: $(grep parameters "$TMP/info")"
grep -Eq "deepseek2.expert_count +256$" "$TMP/info" || bad "info: no expert_count 256"
grep -Eq "tokenizer.ggml.tokens +\[string × 129280\]" "$TMP/info" || bad "info: vocabulary is not 129280 tokens"
timeout 30 "$BIN" gen-model --like deepseek-r1 --type ud-iq1_s -o "$TMP/r1s.gguf" 2>/dev/null || bad "gen-model --like --type ud-iq1_s failed"
"$BIN" info "$TMP/r1s.gguf" 2>/dev/null | grep -q "iq1_s×" || bad "ud-iq1_s layout has no iq1_s tensors"
expect_error "not a type mix" gen-model --like deepseek-r1 --type q9_Z -o "$TMP/x.gguf"
expect_error "not a model layout" gen-model --like gpt-5 -o "$TMP/x.gguf"
expect_error "does not apply" gen-model --like deepseek-r1 --size 1G -o "$TMP/x.gguf"

# --- plan on the R1 layout: the placement table and a prediction per drive
timeout 20 "$BIN" plan "$R1" --vram 24G --host-cache 64G --disk-bw 7G,14G >"$TMP/plan" 2>"$TMP/plan.err" || bad "plan R1 exited $?: $(cat "$TMP/plan.err")"
grep -q "671.0B parameters" "$TMP/plan" || bad "plan: no 671B parameters: $(head -1 "$TMP/plan")"
grep -Eq "^  routed experts +[0-9.]+ +[0-9.]+ +[0-9.]+$" "$TMP/plan" || bad "plan: no routed-experts row"
grep -Eq "^7 GB/s .* (disk|pcie|compute) " "$TMP/plan" || bad "plan: no 7 GB/s row"
grep -Eq "^14 GB/s " "$TMP/plan" || bad "plan: no 14 GB/s row"
# the tiers add up to the file's tensor bytes (GiB to 3 decimals)
awk '/^  total /{s=$2+$3+$4} /^model /{for(i=1;i<=NF;i++) if($i=="GiB") t=$(i-1)} END{d=s-t; if(d<0)d=-d; exit !(d<0.01)}' "$TMP/plan" ||
    bad "plan: tiers do not add up to the tensor bytes: $(grep -E '^(model|  total)' "$TMP/plan")"
# more disk bandwidth never predicts less
awk '/^7 GB\/s/{a=$6} /^14 GB\/s/{b=$6} END{exit !(b>=a && a>0)}' "$TMP/plan" || bad "plan: 14 GB/s predicts less than 7 GB/s"
expect_error "--vram .* is too small" plan "$R1" --vram 1G --host-cache 64G
expect_error "--host-cache .* is too small" plan "$R1" --vram 24G --host-cache 64M
expect_error "not a bandwidth" plan "$R1" --vram 24G --disk-bw fast
expect_error "not a backend" plan "$R1" --backend tpu
expect_error "not a fraction" plan "$R1" --pregate-precision 1.5
timeout 20 "$BIN" plan "$R1" --vram 24G --host-cache 64G --pregate-precision 50% >"$TMP/pp" 2>&1 || bad "plan --pregate-precision 50%: $(cat "$TMP/pp")"
grep -q "wrong pre-gating guesses" "$TMP/pp" || bad "plan --pregate-precision: no wasted reads line"
awk '/^3 GB\/s/{a=$6} END{exit !(a>0)}' "$TMP/pp" || bad "plan --pregate-precision: no prediction"
expect_error "no model given" plan
expect_error "No such file|cannot|not" plan "$TMP/nonexistent.gguf"

# --- plan on a small generated llama (dense): cpu, resident and streamed
L=$TMP/llama.gguf
timeout 30 "$BIN" gen-model -q --size 8M --type q8_0 -o "$L" 2>/dev/null || bad "gen-model llama"
timeout 20 "$BIN" plan "$L" --backend cpu >"$TMP/p1" 2>&1 || bad "plan llama exited $?: $(cat "$TMP/p1")"
grep -Eq "^3 GB/s .* compute " "$TMP/p1" || bad "plan llama resident: not compute-bound: $(tail -1 "$TMP/p1")"
timeout 20 "$BIN" plan "$L" --backend cpu --vram 1M --host-cache 2M --disk-bw 2G --cpu-bw 20G >"$TMP/p2" 2>&1 || bad "plan llama streamed exited $?: $(cat "$TMP/p2")"
grep -Eq "^2 GB/s .* disk " "$TMP/p2" || bad "plan llama streamed: not disk-bound: $(cat "$TMP/p2")"
expect_error "dense model" plan "$L" --trace "$TMP/t1.trace"

# --- plan's units are the model's: its placement matches what run -v reports (resident MiB, host window)
check_same_placement() { # MODEL VRAM HOST
    timeout 60 "$BIN" run -m "$1" -p "hi" -n 2 --temp 0 -t 2 -v --vram "$2" --host-cache "$3" >/dev/null 2>"$TMP/pv.err" </dev/null ||
        { bad "run -v $1: exit $?: $(tail -2 "$TMP/pv.err")"; return; }
    local run_res run_win plan_res plan_win
    run_res=$(sed -n 's/.*placement: \([0-9.]*\) MiB resident on the device.*/\1/p' "$TMP/pv.err")
    run_win=$(sed -n 's/.*(window \([0-9.]*\) MiB host.*/\1/p' "$TMP/pv.err")
    timeout 20 "$BIN" plan "$1" --backend cpu --vram "$2" --host-cache "$3" >"$TMP/pv.plan" 2>&1 || { bad "plan $1: $(cat "$TMP/pv.plan")"; return; }
    plan_res=$(awk '/^  total /{ print $2 }' "$TMP/pv.plan")
    plan_win=$(sed -n 's/^windows: .* host \([0-9.]*\) MiB.*/\1/p' "$TMP/pv.plan")
    awk -v a="$run_res" -v b="$plan_res" -v c="$run_win" -v d="$plan_win" \
        'BEGIN { exit !(a != "" && c != "" && (a - b) ^ 2 < 0.0036 && (c - d) ^ 2 < 0.0036) }' ||
        bad "$(basename "$1") --vram $2 --host-cache $3: run placed $run_res MiB resident, window $run_win MiB; plan $plan_res, $plan_win"
}
check_same_placement "$L" 2M 4M
D=$TMP/ds2.gguf
if timeout 60 "$BIN" gen-model -q --arch deepseek2 --size 16M --type q8_0 -o "$D" 2>/dev/null; then
    check_same_placement "$D" 4M 4M
    # a trace of its own run, replayed by plan
    timeout 60 "$BIN" run -m "$D" -p "once upon a time" -n 8 --temp 0 -t 2 --vram 4M --host-cache 4M \
        --trace-experts "$TMP/ds2.trace" >/dev/null 2>"$TMP/ds2.err" </dev/null || bad "run --trace-experts: $(tail -2 "$TMP/ds2.err")"
    timeout 20 "$BIN" plan "$D" --backend cpu --vram 4M --host-cache 4M --trace "$TMP/ds2.trace" >"$TMP/p4" 2>&1 ||
        bad "plan --trace (deepseek2): $(cat "$TMP/p4")"
    grep -q "replayed from the trace" "$TMP/p4" || bad "plan --trace (deepseek2): no replay: $(cat "$TMP/p4")"
    timeout 20 "$BIN" replay "$TMP/ds2.trace" >"$TMP/r4" 2>&1 || bad "replay of a run's trace: $(cat "$TMP/r4")"
    grep -q "^belady " "$TMP/r4" || bad "replay of a run's trace: $(cat "$TMP/r4")"
else
    echo "note: no gen-model --arch deepseek2 in this build: deepseek2 checks skipped"
fi

# --- replay: a hand-made trace with known answers (tests/unit/test_replay.c works them out)
cat >"$TMP/t1.trace" <<'T'
sluice-expert-trace 1
model tiny layers 2 experts 4 used 2 first_moe 1 expert_bytes 1000
1 0 0 1
1 1 2 3
1 2 0 1
1 3 0 2
T
timeout 20 "$BIN" replay "$TMP/t1.trace" --cache-experts 2 --policy lru,belady >"$TMP/r" 2>&1 || bad "replay exited $?: $(cat "$TMP/r")"
grep -Eq "^lru +2 .* 12.50% +1.75 " "$TMP/r" || bad "replay lru 2: $(grep ^lru "$TMP/r")"
grep -Eq "^belady +2 .* 37.50% +1.25 +1.2 KiB" "$TMP/r" || bad "replay belady 2: $(grep ^belady "$TMP/r")"
timeout 20 "$BIN" replay "$TMP/t1.trace" --cache-bytes 4000 --per-layer >"$TMP/r2" 2>&1 || bad "replay --cache-bytes exited $?"
grep -Eq "^belady +4 .* 50.00%" "$TMP/r2" || bad "replay --cache-bytes 4000: $(cat "$TMP/r2")"
grep -q "per layer: 1:50.0%" "$TMP/r2" || bad "replay --per-layer: $(cat "$TMP/r2")"
printf 'sluice-expert-trace 1\nmodel x layers 2 experts 4 used 2 first_moe 1 expert_bytes 9\n1 0 0 1\n1 1 0 7\n' >"$TMP/bad.trace"
expect_error "bad.trace:4: '7' is not an expert id" replay "$TMP/bad.trace"
expect_error "not a cache policy" replay "$TMP/t1.trace" --policy fifo
expect_error "no trace given" replay
expect_error "is not a size" replay "$TMP/t1.trace" --cache-bytes lots
# a trace that does not match the model
expect_error "trace of 2 layers x 4 experts" plan "$R1" --vram 24G --host-cache 64G --trace "$TMP/t1.trace"

# --- plan with a trace of the R1 layout: hit rates from the replay
python3 - "$TMP/r1.trace" <<'PY' || bad "could not write an R1 trace"
import random, sys
random.seed(1)
with open(sys.argv[1], "w") as f:
    f.write("sluice-expert-trace 1\nmodel r1 layers 61 experts 256 used 8 first_moe 3 expert_bytes 28311552\n")
    for tok in range(40):
        for l in range(3, 61):
            ex = set()
            while len(ex) < 8:
                ex.add(min(int(random.paretovariate(1.2)) - 1, 255))
            f.write("%d %d %s\n" % (l, tok, " ".join(map(str, sorted(ex)))))
PY
timeout 30 "$BIN" plan "$R1" --vram 24G --host-cache 64G --disk-bw 7G --trace "$TMP/r1.trace" >"$TMP/p3" 2>&1 || bad "plan --trace exited $?: $(cat "$TMP/p3")"
grep -q "replayed from the trace with" "$TMP/p3" || bad "plan --trace: no replayed hit rate: $(cat "$TMP/p3")"

# --help on stdout, exit 0; a FIFO is refused, not waited on
for sub in plan replay "gen-model --like deepseek-r1"; do
    # shellcheck disable=SC2086
    timeout 10 "$BIN" $sub --help >"$TMP/out" 2>&1 || bad "sluice $sub --help: exit $?"
    grep -q "usage" "$TMP/out" || bad "sluice $sub --help: no usage"
done
mkfifo "$TMP/fifo"
expect_error "regular file|FIFO|not a" plan "$TMP/fifo"
expect_error "regular file|FIFO|not a" replay "$TMP/fifo"

[ $nfail -eq 0 ] && echo "PASS" || exit 1
