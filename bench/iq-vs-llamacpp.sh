#!/usr/bin/env bash
# bench/iq-vs-llamacpp.sh — each i-quant / ternary / k-quant dot kernel of sluice against llama.cpp's
# on the same bytes (bench/iq_vs_ggml.c): one thread, an L2-resident 256 x 2048 matrix, alternating
# rounds in one process.  Prints, per type: bits per weight, sluice and llama.cpp GB/s of weights
# consumed (medians), the ratio sluice / llama.cpp (median [min, max] of the per-round ratios) and
# sluice's kernel family.
#
#   bench/iq-vs-llamacpp.sh [TYPE ...]      (default: every type both have a dot for, below)
#   env: LLAMACPP_SRC (llama.cpp source: ggml/include), LLAMACPP_BUILD (its build: bin/libggml-cpu.so)
#        ROUNDS=15 REPS=50 SLUICE_SIMD=auto|avx2|scalar
#
# The llama.cpp build is bench/llamacpp.sh's (pinned llama-cpp-python sdist, -DGGML_NATIVE=ON), with
# shared libraries: it needs libggml-cpu.so and libggml-base.so.  Never run by `make check`.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${LLAMACPP_DIR:-/var/tmp/llamacpp}
VERSION=${LLAMACPP_PY_VERSION:-0.3.36}
SRC=${LLAMACPP_SRC:-$DIR/llama_cpp_python-$VERSION/vendor/llama.cpp}
BUILD=${LLAMACPP_BUILD:-$DIR/build-$VERSION-shared}
ROUNDS=${ROUNDS:-15}
REPS=${REPS:-50}
if [ ! -e "$BUILD/bin/libggml-cpu.so" ]; then
    [ -e "$SRC/CMakeLists.txt" ] || { echo "no llama.cpp source at $SRC (run bench/llamacpp.sh first)" >&2; exit 1; }
    echo "+ building ggml (shared) in $BUILD" >&2
    nice -n 10 cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DBUILD_SHARED_LIBS=ON \
        -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
        -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TOOLS=OFF >&2
    nice -n 10 cmake --build "$BUILD" -j "$(nproc)" --target ggml-cpu >&2
fi
make -s -j"$(nproc)" build/libsluice.a
mkdir -p build/bench
cc -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -pthread -Iruntime/include -Iruntime \
    -I"$SRC/ggml/include" -o build/bench/iq_vs_ggml bench/iq_vs_ggml.c build/libsluice.a \
    -L"$BUILD/bin" -lggml-cpu -lggml-base -Wl,-rpath,"$BUILD/bin" -lm -lpthread -ldl
TYPES=("$@")
[ ${#TYPES[@]} -gt 0 ] || TYPES=(q4_K q6_K iq4_nl iq4_xs iq3_s iq3_xxs iq2_s iq2_xs iq2_xxs iq1_m iq1_s tq2_0 tq1_0)
echo "# $(date -u '+%F %H:%M UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), llama.cpp $(git -C "$SRC" describe --always 2>/dev/null || echo "$VERSION")"
echo "# type     bpw  sluice  llama.cpp  ratio [min, max]  sluice-isa"
for t in "${TYPES[@]}"; do build/bench/iq_vs_ggml "$t" "$ROUNDS" "$REPS"; done
