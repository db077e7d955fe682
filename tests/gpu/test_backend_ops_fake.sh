#!/usr/bin/env bash
# Every backend op of the CUDA backend against the cpu backend, on the stand-in driver (which runs
# the host-compiled firmware kernels): tests/unit/test_backend_ops cuda.  Fails when the cuda
# backend cannot be created there (skips only when the library has no firmware: built without nvcc).
# sluice-timeout: 300
set -u
. "$(dirname "$0")/gpu_lib.sh"
need_fake
out=$(fake_env "$SLUICE_BUILD/tests/unit/test_backend_ops" cuda 2>&1)
rc=$?
skip_without_firmware "$out"
echo "$out"
grep -q "^backend cuda: pass" <<<"$out" || { echo "FAIL: cuda on the stand-in driver (exit $rc)"; exit 1; }
exit $rc
