#!/usr/bin/env bash
# tests/quant/test_iq1_moe_stream.sh — an R1-like low-bit MoE model (`gen-model --arch deepseek2 --mix
# r1`, laid out as unsloth's UD-IQ1_S: routed experts iq1_s with iq2_xxs down projections, q4_K
# attention, shared experts and dense ffn, q6_K output) streamed through budgets far below its size,
# experts read one by one as the router picks them, prints exactly the tokens of its unconstrained run
# on the CPU backend and on the asynchronous test backends (the device path: weights uploaded into a
# window, buffers poisoned when released); the gguf package reads the file.
# sluice-timeout: 600
set -euo pipefail
BIN=${SLUICE_BIN:-build/sluice}
TMP=${SLUICE_TMP:-$(mktemp -d)}
. "$(dirname "$0")/stream_lib.sh"
M=$TMP/r1moe.gguf
"$BIN" gen-model --arch deepseek2 --mix r1 --size 8M --dim 256 --layers 5 --experts 8 --experts-used 2 --seed 5 \
    -q -o "$M"
has_types "$M" iq1_s iq2_xxs q4_K q6_K
if python3 -c 'import gguf' 2>/dev/null; then
    python3 - "$M" <<'PY' || { echo "FAIL: the gguf package cannot read the model"; exit 1; }
import sys, gguf
r = gguf.GGUFReader(sys.argv[1])
ex = [t for t in r.tensors if t.name.endswith("ffn_gate_exps.weight")]
assert ex and ex[0].tensor_type == gguf.GGMLQuantizationType.IQ1_S, ex[0].tensor_type
print("gguf package: %d tensors, %s is %s" % (len(r.tensors), ex[0].name, ex[0].tensor_type.name))
PY
fi
ARGS=(-m "$M" -p "Once upon a time" -n 12 --temp 0 -c 64 --stats -t 1)
same_when_streamed 900K 900K experts
echo ok
