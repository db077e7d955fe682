# tests/gpu/gpu_lib.sh — shared by tests/gpu/test_*.sh.
#   need_real_gpu: exit 77 with a one-line reason unless libcuda.so.1 loads from the system's library
#     paths (not the tests' stand-in driver) and reports at least one device (bw_probe --detect, run
#     without LD_LIBRARY_PATH so a stand-in on it cannot answer)
#   fake_env CMD...: run CMD on the stand-in driver ($SLUICE_BUILD/fakecuda)
#   skip_without_firmware OUTPUT: exit 77 when OUTPUT says the library carries no CUDA firmware
#     (built without nvcc: a missing toolchain, the one reason the CUDA path cannot run at all)
PROBE=$SLUICE_BUILD/tests/gpu/bw_probe
FAKE_DIR=$SLUICE_BUILD/fakecuda
need_real_gpu() {
    [ -x "$PROBE" ] || { echo "FAIL: $PROBE was not built"; exit 1; }
    local why
    why=$(env -u LD_LIBRARY_PATH "$PROBE" --detect) || { echo "skip: no real GPU: $why"; exit 77; }
    echo "$why"
    # the tests that follow may need carried libraries on LD_LIBRARY_PATH, never the stand-in
    LD_LIBRARY_PATH=$(tr ':' '\n' <<<"${LD_LIBRARY_PATH:-}" | grep -v fakecuda | paste -sd: -)
    export LD_LIBRARY_PATH
}
need_fake() {
    # always built by make all: its absence is a broken build, not absent hardware
    [ -e "$FAKE_DIR/libcuda.so.1" ] || { echo "FAIL: the stand-in CUDA driver $FAKE_DIR/libcuda.so.1 was not built"; exit 1; }
}
fake_env() {
    env LD_LIBRARY_PATH="$FAKE_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$@"
}
skip_without_firmware() {
    if grep -q "firmware missing" <<<"$1"; then
        echo "skip: libsluice was built without nvcc (no CUDA firmware)"
        exit 77
    fi
}
