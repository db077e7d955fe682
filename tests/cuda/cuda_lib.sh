# tests/cuda/cuda_lib.sh — shared by the CUDA backend's tests: the stand-in driver (tests/fakecuda,
# built by `make all` as $SLUICE_BUILD/fakecuda/libcuda.so.1) and a runner that puts it on the path.
FAKE_DIR=$SLUICE_BUILD/fakecuda
if [ ! -e "$FAKE_DIR/libcuda.so.1" ]; then
    # Always built by make all: its absence is a broken build, not absent hardware.
    echo "FAIL: the stand-in CUDA driver $FAKE_DIR/libcuda.so.1 was not built"
    exit 1
fi
# fake_run [ENV=VAL...] -- sluice ARGS...: run the CLI on the stand-in driver.
fake_run() {
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    env LD_LIBRARY_PATH="$FAKE_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "${envs[@]}" "$SLUICE_BIN" "$@"
}
# Built without nvcc the library carries no firmware; the CUDA path cannot run at all then.
skip_without_firmware() {
    local out
    out=$(fake_run -- run -m "$SLUICE_MODELS/stories260K.gguf" -p x -n 1 --temp 0 --backend cuda 2>&1)
    if grep -q "firmware missing" <<<"$out"; then
        echo "skip: libsluice was built without nvcc (no CUDA firmware)"
        exit 77
    fi
}
# expect NAME PATTERN CMD...: CMD exits 1 with a message matching PATTERN (grep -E); else FAIL and
# fail=1 (the caller's variable).  CMD is usually fake_run ENV=VAL... -- ARGS...
expect() {
    local name=$1 pat=$2 out rc; shift 2
    out=$("$@" 2>&1); rc=$?
    if [ $rc -ne 1 ] || ! grep -qE -- "$pat" <<<"$out"; then
        echo "FAIL ($name): exit $rc, expected 1 and /$pat/"; echo "$out"; fail=1
    else
        echo "ok ($name): $(grep -E -- "$pat" <<<"$out" | head -1)"
    fi
}
