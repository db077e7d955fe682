#!/usr/bin/env bash
# sluice-timeout: 900  (the stand-in driver runs every kernel on CPU fibers: minutes under ASan)
# Several GPUs (--gpus 0,1: the layers split across two devices as a pipeline) on the stand-in
# driver with FAKECUDA_DEVICES=2, whose devices are separate address spaces (a copy or kernel on one
# that names the other's memory fails): the CPU backend's greedy tokens on stories260K and on a
# generated q4_k_m model, resident and streamed (--vram below each stage's share), a per-device
# --vram list, the split in the info log; bad device lists and an out-of-memory on device 1 are
# clear errors with exit 1.  The cpu-async test mode stands in for two devices without the driver.
set -uo pipefail
. "$(dirname "$0")/cuda_lib.sh"
skip_without_firmware
fail=0
S=$SLUICE_MODELS/stories260K.gguf
same() { # same NAME MODEL [ENV=VAL...] -- ARGS...: the pipeline's tokens are the CPU's
    local name=$1 model=$2; shift 2
    local envs=() cpu out rc
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    cpu=$("$SLUICE_BIN" run -m "$model" --backend cpu --temp 0 --no-echo "${RUN_ARGS[@]}" 2>/dev/null) ||
        { echo "FAIL ($name): cpu run"; fail=1; return; }
    out=$(fake_run FAKECUDA_DEVICES=2 "${envs[@]}" -- run -m "$model" --temp 0 --no-echo "${RUN_ARGS[@]}" "$@" \
          2>"$SLUICE_TMP/err"); rc=$?
    if [ $rc -ne 0 ] || [ "$cpu" != "$out" ] || [ -z "$cpu" ]; then
        echo "FAIL ($name): exit $rc"; echo "cpu:      $cpu"; echo "pipeline: $out"; cat "$SLUICE_TMP/err"; fail=1
    else
        echo "ok ($name): $out"
    fi
}

RUN_ARGS=(-p "Once upon a time" -n 16)
same stories260K "$S" -- --gpus 0,1
same stories260K-reversed "$S" -- --gpus 1,0
same stories260K-cpu-async "$S" -- --backend cpu-async --gpus 0,1
# The split is in the info log: 5 layers over two equal devices, 3 + 2.
fake_run FAKECUDA_DEVICES=2 -- run -m "$S" --temp 0 --no-echo -p hi -n 2 --gpus 0,1 -v >/dev/null 2>"$SLUICE_TMP/err"
grep -q "pipeline: 2 devices: cuda:0 layers 0-2, cuda:1 layers 3-4" "$SLUICE_TMP/err" ||
    { echo "FAIL (split log)"; cat "$SLUICE_TMP/err"; fail=1; }
# ... and where each stage reads from: the model file's drive (the stand-in devices are in no PCI tree).
grep -qE "pipeline: (the model file is on .*every stage reads it from there|the model file's drive is unknown)" "$SLUICE_TMP/err" &&
    grep -q "pipeline stage 1 (cuda:1, pci 0000:01:00.0): not in the PCI topology" "$SLUICE_TMP/err" ||
    { echo "FAIL (I/O log)"; cat "$SLUICE_TMP/err"; fail=1; }
# A prompt longer than one chunk (64 rows) crosses devices with a full chunk of rows.
RUN_ARGS=(-p "$(printf 'Once upon a time there was a little dog. %.0s' 1 2 3 4 5 6 7 8)" -n 4)
same stories260K-long-prompt "$S" -- --gpus 0,1

# A generated q4_k_m model: 1.1 MB of weights in 4 layers, ~0.28 MB a layer.
M=$SLUICE_TMP/q4km.gguf
"$SLUICE_BIN" gen-model --size 2M --type f16 --dim 256 --layers 4 --ff 512 -q -o "$SLUICE_TMP/f16.gguf" >/dev/null &&
    "$SLUICE_BIN" quantize -q "$SLUICE_TMP/f16.gguf" "$M" --type q4_k_m >/dev/null || { echo "FAIL: making the q4_k_m model"; exit 1; }
RUN_ARGS=(-p "hello world" -n 10)
same q4_k_m-resident "$M" -- --gpus 0,1
# Each stage holds 2 layers (~0.56 MB) and the globals; 600K each streams its layers.
same q4_k_m-streamed "$M" -- --gpus 0,1 --vram 600K
same q4_k_m-streamed-list "$M" -- --gpus 0,1 --vram 600K,700K
same q4_k_m-streamed-cpu-async "$M" -- --backend cpu-async --gpus 0,1 --vram 600K
out=$(fake_run FAKECUDA_DEVICES=2 -- run -m "$M" --temp 0 --no-echo -p hi -n 4 --gpus 0,1 --vram 600K --stats 2>&1)
grep -qE "misses [1-9]" <<<"$out" || { echo "FAIL: the --vram 600K pipeline did not stream: $out"; fail=1; }
# qwen2 (q/k/v biases, NeoX rope).  (Llama-3.1's rope_freqs over two devices, each stage with its
# own copy of the factors: tests/cuda/test_cuda_rope_ff.sh.)
"$SLUICE_BIN" gen-model --size 1M --type f16 --layers 3 --arch qwen2 -q -o "$SLUICE_TMP/qw.gguf" >/dev/null ||
    { echo "FAIL: making the qwen2 model"; exit 1; }
RUN_ARGS=(-p "hello world" -n 8)
same qwen2 "$SLUICE_TMP/qw.gguf" -- --gpus 1,0
# Unequal budgets move layers: a device with 4x the budget of the other gets more of them.
fake_run FAKECUDA_DEVICES=2 -- run -m "$M" --temp 0 --no-echo -p hi -n 1 --gpus 0,1 --vram 2M,600K -v \
    >/dev/null 2>"$SLUICE_TMP/err"
grep -q "pipeline: 2 devices: cuda:0 layers 0-2, cuda:1 layers 3-3" "$SLUICE_TMP/err" ||
    { echo "FAIL (split by budget)"; grep pipeline "$SLUICE_TMP/err"; fail=1; }

# Errors.
RUN=(run -m "$S" -p "Once upon a time" -n 4 --temp 0 --no-echo)
expect one-device 'no CUDA device 1 \(the driver found 1\)' fake_run -- "${RUN[@]}" --gpus 0,1
expect repeated 'device 0 is listed twice' fake_run FAKECUDA_DEVICES=2 -- "${RUN[@]}" --gpus 0,0
expect absent 'no CUDA device 5 \(the driver found 2\)' fake_run FAKECUDA_DEVICES=2 -- "${RUN[@]}" --gpus 5
for bad in "0," ",1" "0,,1" "a" "0,x" "-1" "1 ,0"; do
    expect "bad-list '$bad'" "--gpus: '$bad' is not a list" fake_run FAKECUDA_DEVICES=2 -- "${RUN[@]}" --gpus "$bad"
done
expect vram-count '--vram gives 3 sizes but --gpus 0,1 names 2 devices' \
    fake_run FAKECUDA_DEVICES=2 -- "${RUN[@]}" --gpus 0,1 --vram 1M,1M,1M
expect vram-no-gpus '--vram gives 2 sizes, one per device' fake_run -- "${RUN[@]}" --vram 1M,1M
expect vram-bad "--vram: 'x' is not a size" fake_run FAKECUDA_DEVICES=2 -- "${RUN[@]}" --gpus 0,1 --vram 1M,x
# Out of memory on device 1 only (its first allocation, then a later one): a clear error, exit 1.
expect oom-dev1-first 'CUDA_ERROR_OUT_OF_MEMORY' fake_run FAKECUDA_DEVICES=2 FAKECUDA_FAIL=alloc@1:1 -- "${RUN[@]}" --gpus 0,1
expect oom-dev1-later 'CUDA_ERROR_OUT_OF_MEMORY' fake_run FAKECUDA_DEVICES=2 FAKECUDA_FAIL=alloc@1:4 -- "${RUN[@]}" --gpus 0,1
# A stage's budget below what its layers need to stream: refused, naming the stage.
expect stage-budget 'pipeline stage 1 \(cuda device 1, layers 3-3\): --vram 0\.2 MiB is too small' \
    fake_run FAKECUDA_DEVICES=2 -- run -m "$M" -p hi -n 1 --gpus 0,1 --vram 2M,200K
# Device 1 too small for its share: refused at load, naming the device.
expect small-dev1 'cuda device 1 has [0-9.]+ MiB free' fake_run FAKECUDA_DEVICES=2 FAKECUDA_MEM=8G,64M -- "${RUN[@]}" --gpus 0,1
# A launch failure on device 1 after some tokens: a clear error, never wrong tokens.
expect launch-fail 'CUDA_ERROR_' fake_run FAKECUDA_DEVICES=2 FAKECUDA_FAIL=launch:60 -- "${RUN[@]}" --gpus 0,1
# The other commands take --gpus too: perplexity over the pipeline equals the CPU's to 3 decimals,
# and a bad list is refused by every one of them.
head -c 3000 "$(dirname "$0")/../../README.md" >"$SLUICE_TMP/text.txt"
ppl_cpu=$("$SLUICE_BIN" perplexity -m "$S" -f "$SLUICE_TMP/text.txt" -c 64 --chunks 2 2>&1 | sed -n 's/^perplexity: \([0-9.]*\) .*/\1/p')
ppl_2=$(fake_run FAKECUDA_DEVICES=2 -- perplexity -m "$S" -f "$SLUICE_TMP/text.txt" -c 64 --chunks 2 --gpus 0,1 2>&1 |
        sed -n 's/^perplexity: \([0-9.]*\) .*/\1/p')
if [ -n "$ppl_cpu" ] && awk -v a="$ppl_cpu" -v b="$ppl_2" 'BEGIN {d = a - b; exit !(b != "" && d < 0.001 && d > -0.001)}'; then
    echo "ok (perplexity --gpus 0,1): $ppl_2 (cpu $ppl_cpu)"
else
    echo "FAIL (perplexity --gpus 0,1): '$ppl_2' against the cpu's '$ppl_cpu'"; fail=1
fi
for cmd in chat serve profile "perplexity -f $SLUICE_TMP/text.txt"; do
    read -ra c <<<"$cmd"
    expect "${c[0]}-gpus-twice" 'device 1 is listed twice' fake_run FAKECUDA_DEVICES=2 -- "${c[@]}" -m "$S" --gpus 1,1
done
exit $fail
