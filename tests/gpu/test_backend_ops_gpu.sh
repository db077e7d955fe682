#!/usr/bin/env bash
# On a real GPU: every backend op of the CUDA backend against the cpu backend
# (tests/unit/test_backend_ops cuda).  Skips (77) when there is no real GPU.
# sluice-timeout: 300
set -u
. "$(dirname "$0")/gpu_lib.sh"
need_real_gpu
out=$("$SLUICE_BUILD/tests/unit/test_backend_ops" cuda 2>&1)
rc=$?
echo "$out"
grep -q "^backend cuda: pass" <<<"$out" || { echo "FAIL: cuda ops differ from cpu (exit $rc)"; exit 1; }
exit $rc
