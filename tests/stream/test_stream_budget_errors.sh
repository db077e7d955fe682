#!/usr/bin/env bash
# Budgets too small for even one layer are clear errors that say how much is needed; bad sizes are refused.
set -uo pipefail
M=$SLUICE_TMP/budget.gguf
"$SLUICE_BIN" gen-model --size 24M --dim 256 --type f16 --seed 2 -q -o "$M" || exit 1
fail=0
expect() { # expect PATTERN CMD...
    local pat=$1; shift
    out=$("$@" 2>&1 >/dev/null); rc=$?
    if [ $rc -ne 1 ] || ! grep -q -- "$pat" <<<"$out"; then
        echo "FAIL: '$*' exit $rc, message: $out"; fail=1
    else
        echo "ok: $out"
    fi
}
expect "vram .* is too small: this model needs at least" "$SLUICE_BIN" run -m "$M" -n 2 --vram 64K
expect "host-cache .* is too small: streaming this model needs at least" "$SLUICE_BIN" run -m "$M" -n 2 --vram 2M --host-cache 16K
expect "not a size" "$SLUICE_BIN" run -m "$M" -n 2 --vram 12Q
expect "not a size" "$SLUICE_BIN" run -m "$M" -n 2 --host-cache -5M
expect "unknown engine" "$SLUICE_BIN" run -m "$M" -n 2 --io floppy
expect "unknown source" "$SLUICE_BIN" run -m "$M" -n 2 --pressure sometimes
[ -e /dev/sluice ] || expect "sluice.ko not loaded" "$SLUICE_BIN" run -m "$M" -n 2 --vram 2M --pressure dev
exit $fail
