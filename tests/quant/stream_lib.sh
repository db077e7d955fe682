# tests/quant/stream_lib.sh — sourced by the mixed-type streaming tests (not a test itself).
#
#   same_when_streamed VRAM HOST_CACHE [experts]
# Runs `$BIN run "${ARGS[@]}"` unconstrained, then under --vram VRAM --host-cache HOST_CACHE on the
# CPU backend and on the asynchronous test backends (the device path: weights uploaded into a
# window, buffers poisoned when released); each must print exactly the unconstrained output and
# read more than twice the model's $model_mib MiB (it really streamed).  "experts": the runs must
# also report expert statistics (an MoE model).  Exits 1 naming the backend that failed.
same_when_streamed() {
    local vram=$1 hc=$2 b read_mib experts
    "$BIN" run "${ARGS[@]}" >"$TMP/full.out" 2>"$TMP/full.err" || { cat "$TMP/full.err"; echo "FAIL: unconstrained run"; exit 1; }
    for b in cpu cpu-async cpu-async-zc; do
        "$BIN" run "${ARGS[@]}" --vram "$vram" --host-cache "$hc" --backend "$b" >"$TMP/$b.out" 2>"$TMP/$b.err" ||
            { cat "$TMP/$b.err"; echo "FAIL: --backend $b under budgets"; exit 1; }
        cmp "$TMP/full.out" "$TMP/$b.out" || { echo "FAIL: --backend $b: streamed output differs"; exit 1; }
        read_mib=$(sed -n 's/.*weights read \([0-9.]*\) MiB.*/\1/p' "$TMP/$b.err")
        experts=$(grep -o 'experts: [0-9]* routed' "$TMP/$b.err" || true)
        echo "$b: weights read ${read_mib} MiB${experts:+, $experts}"
        if [ "${3:-}" = experts ] && [ -z "$experts" ]; then cat "$TMP/$b.err"; echo "FAIL: $b: no expert statistics"; exit 1; fi
        awk -v r="$read_mib" -v m="$model_mib" 'BEGIN{exit !(r > 2 * m)}' ||
            { echo "FAIL: $b: only ${read_mib} MiB read for a ${model_mib} MiB model"; exit 1; }
    done
}

#   has_types MODEL TYPE...
# Sets model_mib (the model's tensor bytes in MiB) and checks that MODEL has tensors of every TYPE.
has_types() {
    local m=$1 types t; shift
    types=$("$BIN" info "$m" | sed -n 's/^types: *//p')
    model_mib=$("$BIN" info "$m" | awk '/^tensor bytes:/ {printf "%.2f", $3 / 1048576}')
    echo "types: $types ($model_mib MiB)"
    for t in "$@"; do
        case "$types" in *"$t"*) ;; *) echo "FAIL: no $t tensors in $m"; exit 1 ;; esac
    done
}
