#!/usr/bin/env bash
# The whole tests/gpu/device-check.sh flow on the stand-in driver with a tiny generated model, so
# the script is known to work before scarce GPU minutes are spent on it: the table is produced and
# has every row, each with a result.  Whether the kernels are right is test_backend_ops_fake's
# question (a FAIL row here is reported, not failed on twice); the performance numbers mean nothing.
# sluice-timeout: 600
set -u
. "$(dirname "$0")/gpu_lib.sh"
need_fake
out=$(fake_env "$SLUICE_BUILD/sluice" run -m "$SLUICE_MODELS/stories260K.gguf" -p x -n 1 --temp 0 --backend cuda 2>&1)
skip_without_firmware "$out"
export OUT=$SLUICE_TMP/device-check-out
mkdir -p "$OUT"
bash "$(dirname "$0")/device-check.sh" --fake --build "$SLUICE_BUILD" --models "$SLUICE_MODELS" \
    --cache "$SLUICE_TMP/device-check-cache"
rc=$?
t=$OUT/device-check.txt
[ -s "$t" ] || { echo "FAIL: no table in $t (exit $rc)"; exit 1; }
fail=0
for r in "op matmul/q4_K" "op get_rows/q6_K" "op attention" "op rope/neox" "op add" "logits stories260K resident" \
         "logits stories260K streamed" "h2d pinned 1 MiB" "h2d pageable 4 MiB" "d2d copy" "decode resident" \
         "overlap streamed"; do
    grep -q "^$r " "$t" || { echo "FAIL: no row '$r' in the table"; fail=1; }
done
grep -q "STAND-IN DRIVER" "$t" || { echo "FAIL: the table does not say it ran on the stand-in driver"; fail=1; }
cat "$t"
# 0: every correctness row passed, 1: one failed; anything else is the script itself going wrong
[ $rc -le 1 ] || { echo "FAIL: device-check.sh exited $rc"; fail=1; }
grep -q "^op .* FAIL" "$t" && echo "note: kernel rows FAIL above: see test_backend_ops_fake"
exit $fail
