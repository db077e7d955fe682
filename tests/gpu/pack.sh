#!/usr/bin/env bash
# tests/gpu/pack.sh — gather what tests/gpu/device-check.sh needs from a build into one small folder
# to carry to a GPU machine that cannot build (no network, maybe no liburing/pcre2):
#
#   bash tests/gpu/pack.sh [BUILD] [DEST]      (defaults: build, build-gpu)
#
# DEST gets the four programs in the build's layout (sluice, tests/unit/test_backend_ops,
# tests/gpu/bw_probe, tests/gpu/logits_diff; the firmware PTX is inside them), lib/ with the shared
# libraries they need that are not glibc's (device-check.sh puts DEST/lib on LD_LIBRARY_PATH), and
# models/stories260K.gguf.  Then, on the GPU machine:  bash tests/gpu/device-check.sh --build DEST
set -eu
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
DEST=${2:-build-gpu}
MODELS=${SLUICE_MODELS:-$(cd .. && pwd)/shared/models}
progs=(sluice tests/unit/test_backend_ops tests/gpu/bw_probe tests/gpu/logits_diff)
for p in "${progs[@]}"; do
    [ -x "$BUILD/$p" ] || { echo "pack: $BUILD/$p is not built (make -j2 first)" >&2; exit 1; }
done
rm -rf "$DEST"
mkdir -p "$DEST/lib" "$DEST/models" "$DEST/tests/unit" "$DEST/tests/gpu"
for p in "${progs[@]}"; do cp "$BUILD/$p" "$DEST/$p"; done
# every library they link but glibc's own (libc, libm, libdl, libpthread, the loader, the vDSO)
ldd "${progs[@]/#/$BUILD/}" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u |
    grep -Ev '/(libc|libm|libdl|libpthread|librt|ld-linux[^/]*)\.so' | while read -r lib; do
        cp -L "$lib" "$DEST/lib/"
    done
if [ -f "$MODELS/stories260K.gguf" ]; then
    cp "$MODELS/stories260K.gguf" "$DEST/models/"
else
    echo "pack: warning: $MODELS/stories260K.gguf not found; the logits rows will fail" >&2
fi
strip --strip-debug "$DEST/sluice" "$DEST"/tests/*/* 2>/dev/null || true
du -sh "$DEST"
ls -R "$DEST"
