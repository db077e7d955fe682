#!/usr/bin/env bash
# Every failure of the CUDA path is a clear message and exit 1, never wrong tokens: a driver with no
# device, and the stand-in driver's injected failures (out of memory at the Nth allocation, a failing
# launch, a failing copy).  (No driver at all: test_cuda_no_driver.sh.)
set -uo pipefail
. "$(dirname "$0")/cuda_lib.sh"
M=$SLUICE_MODELS/stories260K.gguf
fail=0
RUN=(run -m "$M" -p "Once upon a time" -n 12 --temp 0 --no-echo)
expect no-device '^sluice run: no CUDA device' fake_run FAKECUDA_DEVICES=0 -- "${RUN[@]}" --backend cuda
# auto with a driver but no device: the CPU's tokens
cpu=$("$SLUICE_BIN" "${RUN[@]}" --backend cpu 2>/dev/null)
out=$(fake_run FAKECUDA_DEVICES=0 -- "${RUN[@]}" 2>/dev/null); rc=$?
[ $rc -eq 0 ] && [ "$out" = "$cpu" ] || { echo "FAIL (auto, no device): exit $rc: $out"; fail=1; }
skip_without_firmware
expect alloc-1 'cuMemAlloc\([0-9]+ bytes.*\): CUDA_ERROR_OUT_OF_MEMORY' fake_run FAKECUDA_FAIL=alloc:1 -- "${RUN[@]}" --backend cuda
expect alloc-5 'CUDA_ERROR_OUT_OF_MEMORY' fake_run FAKECUDA_FAIL=alloc:5 -- "${RUN[@]}" --backend cuda
expect launch-1 'CUDA_ERROR_' fake_run FAKECUDA_FAIL=launch:1 -- "${RUN[@]}" --backend cuda
expect launch-40 'CUDA_ERROR_' fake_run FAKECUDA_FAIL=launch:40 -- "${RUN[@]}" --backend cuda
expect copy-1 'CUDA_ERROR_' fake_run FAKECUDA_FAIL=copy:1 -- "${RUN[@]}" --backend cuda
expect copy-3 'CUDA_ERROR_' fake_run FAKECUDA_FAIL=copy:3 -- "${RUN[@]}" --backend cuda
# a device that does not exist
expect bad-gpu 'no CUDA device 3 \(the driver found 1\)' fake_run -- "${RUN[@]}" --gpus 3
# several devices with one present (the pipeline's own tests: test_cuda_multi.sh)
expect gpus-one-present 'no CUDA device 1 \(the driver found 1\)' fake_run -- "${RUN[@]}" --gpus 0,1
expect gpus-cpu '--gpus selects CUDA devices, but --backend is cpu' fake_run -- "${RUN[@]}" --backend cpu --gpus 0
expect gpus-bad "--gpus: 'x' is not a list" fake_run -- "${RUN[@]}" --gpus x
# --gpus 1 of two devices runs there, with the CPU's tokens
R4=(run -m "$M" -p "Once upon a time" -n 4 --temp 0 --no-echo)
cpu=$("$SLUICE_BIN" "${R4[@]}" --backend cpu 2>/dev/null)
out=$(fake_run FAKECUDA_DEVICES=2 -- "${R4[@]}" --gpus 1 2>/dev/null); rc=$?
[ $rc -eq 0 ] && [ -n "$cpu" ] && [ "$out" = "$cpu" ] || { echo "FAIL (--gpus 1 of 2): exit $rc: '$out' vs '$cpu'"; fail=1; }
exit $fail
