#!/usr/bin/env bash
# sluice-timeout: 600  (the stand-in driver runs every kernel on CPU fibers: minutes under ASan)
# deepseek2 on --backend cuda (the stand-in driver): the firmware's MLA kernels (mla_kv,
# mla_attention), add_rows and split-K decode attention give exactly the CPU backend's greedy
# tokens, for the split attn_k_b/attn_v_b form (q8_0) and the legacy attn_kv_b form (f16, no q
# LoRA, softmax gating), resident and streamed: --vram far below the model, the routed experts
# uploaded as the router picks them, and a host cache small enough that the weights are read from
# the file again and again (bytes read above the model's size: a count, not timing).  --backend
# auto takes the cuda backend for deepseek2 now, with the same tokens.  Injected driver failures
# give a clear error and exit 1.
set -uo pipefail
. "$(dirname "$0")/cuda_lib.sh"
skip_without_firmware
fail=0
# same NAME MODEL ARGS...: cpu and cuda print the same tokens; the cuda run's stderr stays in $SLUICE_TMP/err
same() {
    local name=$1 model=$2; shift 2
    local cpu gpu rc
    cpu=$("$SLUICE_BIN" run -m "$model" --backend cpu --temp 0 --no-echo "$@" 2>"$SLUICE_TMP/cpu.err") ||
        { echo "FAIL ($name): cpu run: $(cat "$SLUICE_TMP/cpu.err")"; fail=1; return 1; }
    gpu=$(fake_run -- run -m "$model" --backend cuda --temp 0 --no-echo "$@" 2>"$SLUICE_TMP/err"); rc=$?
    if [ $rc -ne 0 ] || [ "$cpu" != "$gpu" ] || [ -z "$cpu" ]; then
        echo "FAIL ($name): exit $rc"; echo "cpu:  $cpu"; echo "cuda: $gpu"; grep -v '^sluice: exact' "$SLUICE_TMP/err" | tail -n 5
        fail=1; return 1
    fi
    echo "ok ($name): $(head -c 48 <<<"$gpu" | tr -c '[:print:]' '?')"
}
# streamed NAME MODEL ARGS...: same, and the weights were read from the file more than once over
streamed() {
    local name=$1 model=$2; shift 2
    same "$name" "$model" "$@" --stats || return
    local br msz
    br=$(sed -n 's/.*exact: bytes_read \([0-9]*\).*/\1/p' "$SLUICE_TMP/err"); msz=$(stat -c %s "$model")
    if [ -z "$br" ] || [ "$br" -le "$msz" ]; then
        echo "FAIL ($name): did not stream: bytes read ${br:-?} for a model of $msz"; fail=1
    else
        echo "   streamed: $br bytes read for a model of $msz"
    fi
}
gen() { "$SLUICE_BIN" gen-model -q --arch deepseek2 --size 2M --dim 128 --layers 3 "$@" >/dev/null 2>"$SLUICE_TMP/gen.err" ||
    { echo "FAIL: gen-model $*: $(cat "$SLUICE_TMP/gen.err")"; exit 1; }; }

S=$SLUICE_TMP/ds-split.gguf L=$SLUICE_TMP/ds-legacy.gguf
gen --type q8_0 --seed 5 -o "$S"
gen --type f16 --seed 3 --mla-legacy --no-q-lora --gating softmax -o "$L"
P="Once upon a time"
same split-resident "$S" -p "$P" -n 10
streamed split-streamed "$S" -p "$P" -n 10 --vram 600K --host-cache 300K
same legacy-resident "$L" -p "$P" -n 10
streamed legacy-streamed "$L" -p "$P" -n 10 --vram 900K --host-cache 500K
# auto: cuda has the ops now, so it runs deepseek2 there (-v states the cuda device's budget), with the same tokens
cpu=$("$SLUICE_BIN" run -m "$S" --backend cpu --temp 0 --no-echo -p "$P" -n 4 2>/dev/null)
gpu=$(fake_run -- run -m "$S" --backend auto --temp 0 --no-echo -p "$P" -n 4 -v 2>"$SLUICE_TMP/err"); rc=$?
if [ $rc -ne 0 ] || [ -z "$cpu" ] || [ "$cpu" != "$gpu" ] || ! grep -qE "cuda device( [0-9]+)?: .* weights get at most" "$SLUICE_TMP/err"; then
    echo "FAIL (auto): exit $rc, tokens $([ "$cpu" = "$gpu" ] && echo equal || echo differ)"; tail -n 5 "$SLUICE_TMP/err"; fail=1
else
    echo "ok (auto): on cuda"
fi
# injected driver failures in the middle of deepseek2's ops (an allocation of add_rows' / get_rows'
# bounce slot, a launch, a copy): a clear CUDA error and exit 1, never a crash or a hang
for f in alloc:20 launch:30 launch:100 copy:50; do
    out=$(fake_run FAKECUDA_FAIL=$f -- run -m "$S" --backend cuda --temp 0 --no-echo -p "$P" -n 3 --vram 600K 2>&1); rc=$?
    if [ $rc -ne 1 ] || ! grep -q "CUDA_ERROR_" <<<"$out"; then
        echo "FAIL (FAKECUDA_FAIL=$f): exit $rc: $(tail -n 3 <<<"$out")"; fail=1
    else
        echo "ok (FAKECUDA_FAIL=$f): $(grep -o 'sluice run: .*' <<<"$out" | head -n 1 | cut -c1-110)"
    fi
done
exit $fail
