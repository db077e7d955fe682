#!/usr/bin/env bash
# tests/cuda/gpu_smoke.sh — the cuda backend on a real GPU, in one short run (not part of make check:
# run it by hand where there is a device):  bash tests/cuda/gpu_smoke.sh [BUILD]  (default build/)
#   - every op against the cpu backend through the real driver (test_cuda_ops without the stand-in);
#   - greedy tokens of stories260K and of a generated q4_k_m model, resident and streamed
#     (--vram 8M), equal to the CPU's;
#   - what --backend auto picks, and the decode speed of a 1 GB f16 model, resident.
set -uo pipefail
B=$(cd "${1:-build}" && pwd)
S=$B/sluice
M=${SLUICE_MODELS:-$(cd "$(dirname "$0")/../../.." && pwd)/shared/models}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
P=(--temp 0 --no-echo)
fail=0
nvidia-smi -L 2>&1 | head -2
echo "== ops against the cpu backend (real driver)"
SLUICE_TEST_FAKECUDA=1 timeout 120 "$B/tests/unit/test_cuda_ops" || fail=1
same() { # same NAME MODEL ARGS...
    local name=$1 model=$2; shift 2
    "$S" run -m "$model" --backend cpu "${P[@]}" "$@" >"$T/cpu" 2>/dev/null
    timeout 120 "$S" run -m "$model" --backend cuda "${P[@]}" "$@" --stats >"$T/gpu" 2>"$T/err"; local rc=$?
    grep -E "tok/s|rror" "$T/err" | head -2 | cut -c1-200
    if [ $rc -eq 0 ] && cmp -s "$T/cpu" "$T/gpu"; then echo "ok ($name)"; else
        echo "FAIL ($name): exit $rc"; cat "$T/cpu" "$T/gpu"; fail=1; fi
}
[ -f "$M/stories260K.gguf" ] && same stories260K "$M/stories260K.gguf" -p "Once upon a time" -n 64
"$S" gen-model --size 64M --type f16 -q -o "$T/f16.gguf" && "$S" quantize -q "$T/f16.gguf" "$T/q4.gguf" --type q4_k_m
same q4_k_m-resident "$T/q4.gguf" -p "hello world" -n 32
same q4_k_m-streamed "$T/q4.gguf" -p "hello world" -n 32 --vram 8M
echo "== --backend auto"; "$S" run -m "$T/q4.gguf" "${P[@]}" -p hi -n 2 -v 2>&1 | grep -E "cuda|backend" | head -2
echo "== 1 GB f16, resident"
"$S" gen-model --size 1G --type f16 -q -o "$T/big.gguf" &&
    timeout 120 "$S" run -m "$T/big.gguf" --backend cuda "${P[@]}" -p hello -n 64 --stats 2>&1 | grep -E "tok/s|rror" | cut -c1-200
exit $fail
