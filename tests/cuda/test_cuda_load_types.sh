#!/usr/bin/env bash
# sluice-timeout: 600  (the stand-in driver runs every kernel on CPU fibers: minutes under ASan)
# The load-time type check covers 3-D tensors: a deepseek2 model whose routed experts
# (ffn_*_exps, 3-D) are iq1_s, a type the cuda firmware has no kernels for (every 2-D matrix of the
# r1 mix is q4_K/q6_K/q8_0, which it has), is refused by --backend cuda at load, naming the tensor
# and its type, with exit 1 and no token printed (it used to fail at the first token's matmul);
# --backend auto says why (-v) and runs it on the CPU, with the CPU's tokens.  The MLA weights
# (attn_k_b / attn_v_b, 3-D too, read by the attention kernels) pass the check where their type is
# one the firmware reads: a q8_0 deepseek2 model loads and runs on cuda.
set -uo pipefail
. "$(dirname "$0")/cuda_lib.sh"
skip_without_firmware
fail=0
M=$SLUICE_TMP/r1.gguf
"$SLUICE_BIN" gen-model -q --arch deepseek2 --size 4M --dim 256 --layers 2 --mix r1 -o "$M" >/dev/null ||
    { echo "FAIL: making the r1-mix deepseek2 model"; exit 1; }
out=$(fake_run -- run -m "$M" --backend cuda --temp 0 --no-echo -p hi -n 2 2>"$SLUICE_TMP/err"); rc=$?
if [ $rc -ne 1 ] || [ -n "$out" ] ||
   ! grep -qE "tensor 'blk\.[0-9]+\.ffn_(gate|up|down)_exps\.weight' has type iq(1_s|2_xxs), which the cuda backend has no kernels for" "$SLUICE_TMP/err"; then
    echo "FAIL (cuda refuses the experts' type at load): exit $rc, stdout '$out'"; cat "$SLUICE_TMP/err"; fail=1
else
    echo "ok (cuda refuses at load): $(cat "$SLUICE_TMP/err")"
fi
cpu=$("$SLUICE_BIN" run -m "$M" --backend cpu --temp 0 --no-echo -p hi -n 4 2>/dev/null)
out=$(fake_run -- run -m "$M" --temp 0 --no-echo -p hi -n 4 -v 2>"$SLUICE_TMP/err"); rc=$?
if [ $rc -ne 0 ] || [ -z "$cpu" ] || [ "$out" != "$cpu" ] ||
   ! grep -q "backend auto: .*ffn_.*_exps.*; running on the CPU" "$SLUICE_TMP/err"; then
    echo "FAIL (auto falls back): exit $rc"; echo "cpu:  $cpu"; echo "auto: $out"; cat "$SLUICE_TMP/err"; fail=1
else
    echo "ok (auto falls back to the CPU): $out"
fi
Q=$SLUICE_TMP/q8.gguf
"$SLUICE_BIN" gen-model -q --arch deepseek2 --size 2M --dim 128 --layers 2 --type q8_0 -o "$Q" >/dev/null ||
    { echo "FAIL: making the q8_0 deepseek2 model"; exit 1; }
cpu=$("$SLUICE_BIN" run -m "$Q" --backend cpu --temp 0 --no-echo -p hi -n 4 2>/dev/null)
out=$(fake_run -- run -m "$Q" --backend cuda --temp 0 --no-echo -p hi -n 4 2>"$SLUICE_TMP/err"); rc=$?
if [ $rc -ne 0 ] || [ -z "$cpu" ] || [ "$out" != "$cpu" ]; then
    echo "FAIL (q8_0 deepseek2 on cuda): exit $rc"; echo "cpu:  $cpu"; echo "cuda: $out"; cat "$SLUICE_TMP/err"; fail=1
else
    echo "ok (q8_0 deepseek2 on cuda): $out"
fi
exit $fail
