#!/usr/bin/env bash
# A model several times larger than the memory it may use (--vram 64M --host-cache 128M) prints exactly
# the tokens of an unconstrained run, and its peak RSS stays within vram + host-cache + KV cache + a fixed
# overhead of 96 MiB (code, activations, vocabulary, I/O state).
# sluice-timeout: 900
set -euo pipefail
M=$SLUICE_TMP/stream-2560M.gguf
"$SLUICE_BIN" gen-model --size 2560M --dim 1024 --type f16 --seed 11 -q -o "$M"
ARGS=(-m "$M" -p "Once upon a time" -n 6 --temp 0 -c 128 --stats)
"$SLUICE_BIN" run "${ARGS[@]}" >"$SLUICE_TMP/full.out" 2>"$SLUICE_TMP/full.err"
"$SLUICE_BIN" run "${ARGS[@]}" --vram 64M --host-cache 128M >"$SLUICE_TMP/stream.out" 2>"$SLUICE_TMP/stream.err"
cat "$SLUICE_TMP/stream.err"
if ! cmp "$SLUICE_TMP/full.out" "$SLUICE_TMP/stream.out"; then
    echo "FAIL: streamed output differs from the unconstrained run"; exit 1
fi
rss=$(sed -n 's/.*peak RSS \([0-9.]*\) MiB.*/\1/p' "$SLUICE_TMP/stream.err")
read_mib=$(sed -n 's/.*weights read \([0-9.]*\) MiB.*/\1/p' "$SLUICE_TMP/stream.err")
# KV cache: layers x 2 x n_ctx x kv_dim x 4 bytes (f32)
layers=$("$SLUICE_BIN" info "$M" | sed -n 's/.*llama.block_count *//p')
kv_mib=$(awk -v l="$layers" 'BEGIN{printf "%.1f", l*2*128*256*4/1048576}')
limit=$(awk -v kv="$kv_mib" 'BEGIN{printf "%.1f", 64 + 128 + kv + 96}')
echo "peak RSS ${rss} MiB, limit ${limit} MiB (64 vram + 128 host cache + ${kv_mib} KV + 96 overhead); read ${read_mib} MiB"
# (no grep -q: under pipefail its early exit would fail nm with SIGPIPE)
if nm "$SLUICE_BIN" 2>/dev/null | grep __asan_init >/dev/null; then
    echo "AddressSanitizer build: its shadow memory and quarantine inflate RSS; the RSS bound is not checked"
else
    awk -v r="$rss" -v l="$limit" 'BEGIN{exit !(r <= l)}' || { echo "FAIL: peak RSS over the limit"; exit 1; }
fi
# It really streamed: far more bytes read than the model holds.
awk -v r="$read_mib" 'BEGIN{exit !(r > 2 * 2560)}' || { echo "FAIL: only ${read_mib} MiB read"; exit 1; }
# The same under the asynchronous test backends: kernels deferred on a worker, buffers poisoned when
# released, so a weight used before its copy landed or reused before its last kernel ran would
# change the tokens.  cpu-async also takes the device path (uploads into a window, as a GPU would).
for b in cpu-async cpu-async-zc; do
    "$SLUICE_BIN" run "${ARGS[@]}" --vram 64M --host-cache 128M --backend "$b" >"$SLUICE_TMP/$b.out" 2>"$SLUICE_TMP/$b.err" ||
        { cat "$SLUICE_TMP/$b.err"; echo "FAIL: --backend $b"; exit 1; }
    grep 'decode:' "$SLUICE_TMP/$b.err" | sed "s/^/$b: /"
    cmp "$SLUICE_TMP/full.out" "$SLUICE_TMP/$b.out" || { echo "FAIL: --backend $b output differs"; exit 1; }
done
echo ok
