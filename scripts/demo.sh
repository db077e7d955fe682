#!/usr/bin/env bash
# scripts/demo.sh BUILD — the main job on defaults that need no download:
# a synthetic model (generated once, cached under BUILD/), then the real stories260K if it is there.
set -euo pipefail
BUILD=${1:-build}
SLUICE=$BUILD/sluice
MODEL=$BUILD/demo/synthetic-q8_0.gguf
if [ ! -f "$MODEL" ]; then
    mkdir -p "$BUILD/demo"
    "$SLUICE" gen-model --size 48M --type q8_0 --seed 7 -o "$MODEL"
fi
echo "== synthetic llama (random weights: the text is gibberish, the speed is real) =="
"$SLUICE" run -m "$MODEL" -p "Once upon a time" -n 48 --seed 1 --stats
STORIES=$(cd "$(dirname "$0")/.." && pwd)/../shared/models/stories260K.gguf
if [ -f "$STORIES" ]; then
    echo
    echo "== stories260K (trained llama, greedy) =="
    "$SLUICE" run -m "$STORIES" -p "Once upon a time" -n 96 --temp 0
fi
