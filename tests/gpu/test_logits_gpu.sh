#!/usr/bin/env bash
# On a real GPU: stories260K's logits on the CUDA backend against the cpu backend, resident and
# streamed (--vram below the model): every greedy token equal, logits within 1e-3 of the largest
# (tests/gpu/logits_diff).  Skips (77) when there is no real GPU.
set -u
. "$(dirname "$0")/gpu_lib.sh"
need_real_gpu
m=$SLUICE_MODELS/stories260K.gguf
[ -f "$m" ] || { echo "skip: $m is not there"; exit 77; }
size=$(stat -c %s "$m")
"$SLUICE_BUILD/tests/gpu/logits_diff" "$m" cuda || exit 1
"$SLUICE_BUILD/tests/gpu/logits_diff" "$m" cuda --vram $((size * 6 / 10)) || exit 1
