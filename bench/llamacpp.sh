#!/usr/bin/env bash
# bench/llamacpp.sh — the llama.cpp baseline for the benchmarks (bench/stream.sh ENGINES=llamacpp):
# builds llama.cpp, outside the repository, from the copy vendored in a pinned llama-cpp-python
# sdist on PyPI, and prints the paths of its binaries, one a line (llama-completion, llama-bench).
#
#   bench/llamacpp.sh          (about 7 minutes on 2 cores the first time; then only prints)
#   env: LLAMACPP_DIR=/var/tmp/llamacpp LLAMACPP_PY_VERSION=0.3.36 JOBS=$(nproc)
#
# CPU only, Release, -DGGML_NATIVE=ON, static, no network support (LLAMA_CURL is deprecated in
# this version and replaced by LLAMA_OPENSSL; both are set off), no tests, examples or server.
# In this version llama-cli is the conversation-only CLI; llama-completion is the old one
# (`-no-cnv -n N` runs a fixed number of tokens and prints "eval time ... tokens per second").
# Idempotent: the download, the unpacking and the build are each skipped when already done.
set -euo pipefail
DIR=${LLAMACPP_DIR:-/var/tmp/llamacpp}
VERSION=${LLAMACPP_PY_VERSION:-0.3.36}
JOBS=${JOBS:-$(nproc)}
SRC=$DIR/llama_cpp_python-$VERSION/vendor/llama.cpp
BUILD=$DIR/build-$VERSION
TARGETS=(llama-completion llama-bench)

say() { echo "+ $*" >&2; }
mkdir -p "$DIR"
SDIST=$DIR/llama_cpp_python-$VERSION.tar.gz
if [ ! -s "$SDIST" ]; then
    say pip download --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$DIR"
    python3 -m pip download -q --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$DIR" >&2
fi
if [ ! -e "$SRC/CMakeLists.txt" ]; then
    say tar xzf "$SDIST" -C "$DIR"
    tar xzf "$SDIST" -C "$DIR"
fi
[ -e "$SRC/CMakeLists.txt" ] || { echo "no vendor/llama.cpp in $SDIST" >&2; exit 1; }

built=1
for t in "${TARGETS[@]}"; do [ -x "$BUILD/bin/$t" ] || built=0; done
if [ "$built" = 0 ]; then
    CONF=(cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON
          -DBUILD_SHARED_LIBS=OFF -DGGML_CUDA=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF
          -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
          -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_TOOLS=ON)
    say "${CONF[*]}"
    nice -n 10 "${CONF[@]}" >&2
    say cmake --build "$BUILD" -j "$JOBS" --target "${TARGETS[@]}"
    nice -n 10 cmake --build "$BUILD" -j "$JOBS" --target "${TARGETS[@]}" >&2
fi
for t in "${TARGETS[@]}"; do
    [ -x "$BUILD/bin/$t" ] || { echo "$BUILD/bin/$t missing after the build" >&2; exit 1; }
    echo "$BUILD/bin/$t"
done
