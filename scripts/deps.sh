#!/usr/bin/env bash
# scripts/deps.sh — install what building and testing sluice needs, on Debian 12.
# Installs only what is missing.  Not root: prints the exact command to run instead.
#   SLUICE_DEPS_SKIP=1   skip entirely (a machine prepared another way)
set -euo pipefail
[ "${SLUICE_DEPS_SKIP:-0}" = 1 ] && exit 0

PKGS=(
    build-essential clang pkg-config make git python3 python3-pip
    liburing-dev libdrm-dev             # io_uring engine, DRM topology
    libpcre2-dev                        # BPE pre-tokenizer regexes (Unicode properties)
    libxxhash-dev                       # per-tensor hashes of models staged on raw NVMe (sluice stage)
    libmicrohttpd-dev libjansson-dev    # sluice serve (HTTP, JSON): the CLI only
    fio                                 # I/O baseline for benchmarks
    tmux                                # drives `sluice chat` in a real terminal (tests/cli/test_chat_tmux.sh)
    qemu-system-x86 linux-image-amd64 linux-headers-amd64 busybox-static cpio kmod dwarves
                                        # kernel module + VM tests
)
PIP_PKGS=(gguf numpy tokenizers jinja2 matplotlib perfetto protobuf openai) # independent references for tests (GGUF, quants, BPE, chat templates, Perfetto's trace protos, the OpenAI client); the profile plot

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "scripts/deps.sh: missing packages: ${missing[*]}" >&2
        echo "run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "scripts/deps.sh: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

PY=$(command -v python3 || true)
if [ -n "$PY" ] && ! "$PY" -c 'import gguf, numpy, tokenizers, jinja2, matplotlib, openai, perfetto.protos.perfetto.trace.perfetto_trace_pb2' 2>/dev/null; then
    echo "scripts/deps.sh: pip-installing ${PIP_PKGS[*]}" >&2
    "$PY" -m pip install -q "${PIP_PKGS[@]}" >&2 ||
        "$PY" -m pip install -q --break-system-packages "${PIP_PKGS[@]}" >&2
fi
