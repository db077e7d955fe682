#!/usr/bin/env bash
# tests/serve/test_serve_cuda_fake.sh — batched decoding on the CUDA backend: `sluice serve
# --backend cuda` on the stand-in driver (tests/fakecuda: deferred, reordered streams) answers
# concurrent requests (several sequences per step, a prompt longer than a forward chunk, the K/V
# rows copied per sequence with get_rows) with the tokens the cpu backend gives.
set -u
. "$(dirname "$0")/serve_lib.sh"
SLUICE_BUILD=${SLUICE_BUILD:-$(dirname "$BIN")}
. "$(dirname "$0")/../cuda/cuda_lib.sh"
M=${SLUICE_MODELS:-../shared/models}/stories260K.gguf
[ -f "$M" ] || { echo "SKIP: stories260K.gguf not in ${SLUICE_MODELS:-../shared/models}"; exit 77; }
skip_without_firmware
cat >"$TMP/cmp.py" <<'PY'
import json, sys, threading, urllib.request
def req(p):
    r = urllib.request.Request(sys.argv[1] + "/v1/completions", json.dumps(
        {"prompt": p, "max_tokens": 12, "temperature": 0, "return_token_ids": True}).encode())
    return json.load(urllib.request.urlopen(r, timeout=120))["choices"][0]["token_ids"]
prompts = ["Once upon a time", "Lily went to the park", "The sun was " * 30, "A dog"]
res = {}
def go(k):
    res[k] = req(prompts[k % 4])
th = [threading.Thread(target=go, args=(k,)) for k in range(8)]
[t.start() for t in th]
[t.join() for t in th]
print(json.dumps([res[k] for k in range(8)]))
PY
LD_LIBRARY_PATH="$FAKE_DIR" start_server "$TMP/serve-cuda.log" -m "$M" --parallel 4 --backend cuda
timeout 120 python3 "$TMP/cmp.py" "$URL" >"$TMP/cuda.out" || fail "requests on cuda"
stop_server
start_server "$TMP/serve-cpu.log" -m "$M" --parallel 4 --backend cpu
timeout 120 python3 "$TMP/cmp.py" "$URL" >"$TMP/cpu.out" || fail "requests on cpu"
stop_server
cmp -s "$TMP/cuda.out" "$TMP/cpu.out" || fail "cuda tokens $(cat "$TMP/cuda.out") differ from cpu $(cat "$TMP/cpu.out")"
echo "cuda (stand-in driver) and cpu: the same tokens for 8 concurrent requests"
echo "PASS"
