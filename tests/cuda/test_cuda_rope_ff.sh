#!/usr/bin/env bash
# sluice-timeout: 900  (the stand-in driver runs every kernel on CPU fibers: minutes under ASan)
# Llama-3.1/3.2-style models (a rope_freqs tensor: rope with per-pair frequency factors, the
# backend's rope_ff op) on --backend cuda under the stand-in driver print the CPU backend's greedy
# tokens: resident, streamed (--vram below the model), and split over two stand-in devices
# (--gpus 0,1, FAKECUDA_DEVICES=2: each stage needs the factors in its own address space).
# --backend auto takes the GPU for them now, rather than falling back to the CPU.
set -uo pipefail
. "$(dirname "$0")/cuda_lib.sh"
skip_without_firmware
fail=0
same() { # same NAME MODEL [ENV=VAL...] -- ARGS...: the cuda run's tokens are the CPU's
    local name=$1 model=$2; shift 2
    local envs=() cpu out rc
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    cpu=$("$SLUICE_BIN" run -m "$model" --backend cpu --temp 0 --no-echo -p "hello world" -n 10 2>/dev/null) ||
        { echo "FAIL ($name): cpu run"; fail=1; return; }
    out=$(fake_run "${envs[@]}" -- run -m "$model" --temp 0 --no-echo -p "hello world" -n 10 "$@" \
          2>"$SLUICE_TMP/err"); rc=$?
    if [ $rc -ne 0 ] || [ "$cpu" != "$out" ] || [ -z "$cpu" ]; then
        echo "FAIL ($name): exit $rc"; echo "cpu:  $cpu"; echo "cuda: $out"; cat "$SLUICE_TMP/err"; fail=1
    else
        echo "ok ($name): $out"
    fi
}
# Llama-3.1-like: byte-level BPE, rope base 500000, rope_freqs; q4_k_m, ~0.3 MB a layer.
M=$SLUICE_TMP/l31.gguf
"$SLUICE_BIN" gen-model --size 2M --type f16 --dim 256 --layers 4 --ff 512 --vocab bpe --rope-freqs -q \
    -o "$SLUICE_TMP/f16.gguf" >/dev/null &&
    "$SLUICE_BIN" quantize -q "$SLUICE_TMP/f16.gguf" "$M" --type q4_k_m >/dev/null ||
    { echo "FAIL: making the Llama-3.1-like model"; exit 1; }
same f16-resident "$SLUICE_TMP/f16.gguf" -- --backend cuda
same q4_k_m-resident "$M" -- --backend cuda
same q4_k_m-streamed "$M" -- --backend cuda --vram 700K
same q4_k_m-gpus "$M" FAKECUDA_DEVICES=2 -- --gpus 0,1
same q4_k_m-gpus-streamed "$M" FAKECUDA_DEVICES=2 -- --gpus 1,0 --vram 800K
# The streamed run really streamed: with a host cache below the model (1.6 MB) too, the weights are
# read from the file about twice over in 6 tokens.
msz=$(stat -c %s "$M")
out=$(fake_run -- run -m "$M" --backend cuda --temp 0 --no-echo -p hi -n 6 --vram 700K --host-cache 500K --stats \
      2>"$SLUICE_TMP/err"); rc=$?
br=$(sed -n 's/.*exact: bytes_read \([0-9]*\).*/\1/p' "$SLUICE_TMP/err")
if [ $rc -ne 0 ] || [ -z "$br" ] || [ "$br" -le $((3 * msz / 2)) ]; then
    echo "FAIL (streamed): rc $rc, bytes read ${br:-?} for a model of $msz"; tail -n 4 "$SLUICE_TMP/err"; fail=1
else
    echo "ok (streamed): $br bytes read for a model of $msz"
fi
# auto picks the GPU for such a model (it used to fall back to the CPU for want of rope_ff).
fake_run -- run -m "$M" --temp 0 --no-echo -p hi -n 1 -v >/dev/null 2>"$SLUICE_TMP/err"
if grep -qi "rope_ff" "$SLUICE_TMP/err" || ! grep -qi "cuda" "$SLUICE_TMP/err"; then
    echo "FAIL (auto): not on cuda"; cat "$SLUICE_TMP/err"; fail=1
else
    echo "ok (auto): $(grep -i -m1 "cuda" "$SLUICE_TMP/err")"
fi
exit $fail
