#!/usr/bin/env bash
# sluice-timeout: 300
# tests/serve/test_serve_load.sh — 32 concurrent clients for SERVE_LOAD_SECONDS (default 15 s in
# make check; the issue's full run is 60 s) against a generated model streamed under a budget
# (--vram and --host-cache below its size), --parallel 8: requests join and leave the batch at
# every step.  Each prompt is first run alone (one request at a time, greedy); under load every
# response, streamed or not, must carry exactly those tokens (return_token_ids), with 0 errors.
# The server's RSS at the end of the second half must not have grown past the first half's
# (a small allowance for allocator noise; both printed).
set -u
. "$(dirname "$0")/serve_lib.sh"
SECS=${SERVE_LOAD_SECONDS:-15}
M=$TMP/serve-load.gguf
"$BIN" gen-model --size 12M --seed 21 -q -o "$M" 2>/dev/null || fail "gen-model"
# Under ASan freed memory sits in its quarantine (RSS grows by design): the RSS is reported, not checked.
SANITIZED=0
nm "$BIN" 2>/dev/null | grep -q '__asan_init' && SANITIZED=1
start_server "$TMP/serve-load.log" -m "$M" --parallel 8 --queue 64 -t 2 --ctx 128 --vram 3M --host-cache 6M

timeout $((SECS * 4 + 120)) python3 - "$URL" "$SRV_PID" "$SECS" "$SANITIZED" <<'PY' || fail "load"
import http.client, json, sys, threading, time
url, pid, secs, sanitized = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "1"
host, port = url[7:].split(":")
prompts = ["Once upon a time %d" % i + " there was" * (i % 4) for i in range(12)]

def request(prompt, stream):
    body = {"prompt": prompt, "max_tokens": 12, "temperature": 0, "return_token_ids": True, "stream": stream}
    c = http.client.HTTPConnection(host, int(port), timeout=120)
    c.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.status != 200:
        raise RuntimeError("status %d: %s" % (r.status, data[:200]))
    if not stream:
        j = json.loads(data)
        return j["choices"][0]["token_ids"]
    toks = []
    evs = data.decode().split("\n\n")
    assert evs[-2] == "data: [DONE]", evs[-3:]
    for e in evs[:-2]:
        j = json.loads(e[6:])
        for ch in j["choices"]:
            toks += ch.get("token_ids", [])
    return toks

def rss():
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

ref = {p: request(p, False) for p in prompts}
assert all(len(v) > 0 for v in ref.values())
stats = {"ok": 0, "err": 0, "mismatch": 0}
errors = []
lock = threading.Lock()
t_end = time.time() + secs
half = {}

def client(k):
    i = k
    while time.time() < t_end:
        p = prompts[i % len(prompts)]
        try:
            got = request(p, stream=(i % 2 == 0))
            with lock:
                if got == ref[p]:
                    stats["ok"] += 1
                else:
                    stats["mismatch"] += 1
                    errors.append("prompt %r: %s, alone %s" % (p, got, ref[p]))
        except Exception as e:
            with lock:
                stats["err"] += 1
                errors.append(repr(e))
        i += 7

def sampler():
    time.sleep(secs / 2)
    half["first"] = rss()

th = [threading.Thread(target=client, args=(k,)) for k in range(32)] + [threading.Thread(target=sampler)]
t0 = time.time()
for t in th: t.start()
for t in th: t.join()
dt = time.time() - t0
end_rss = rss()
print("load: 32 clients, %.1f s: %d responses, %d errors, %d mismatches; RSS %d KiB at half time, %d KiB at the end"
      % (dt, stats["ok"], stats["err"], stats["mismatch"], half["first"], end_rss))
for e in errors[:5]:
    print("  ", e)
assert stats["err"] == 0 and stats["mismatch"] == 0 and stats["ok"] >= 32
if sanitized:
    print("sanitizer build: its quarantine holds freed memory, RSS not checked")
else:
    assert end_rss <= half["first"] + max(8192, half["first"] // 20), "RSS grew in the second half"
PY
curl -s --max-time 10 "$URL/metrics" >"$TMP/metrics" || fail "metrics"
rows=$(sed -n 's/^sluice_server_decode_rows_total \([0-9]*\)/\1/p' "$TMP/metrics")
steps=$(sed -n 's/^sluice_server_decode_steps_total \([0-9]*\)/\1/p' "$TMP/metrics")
echo "decode steps $steps, rows $rows (mean batch $((rows / (steps > 0 ? steps : 1))))"
read_bytes=$(sed -n 's/^sluice_weight_read_bytes_total \([0-9.e+]*\)/\1/p' "$TMP/metrics")
[ -n "$read_bytes" ] || fail "no library metrics: $(head "$TMP/metrics")"
# streamed: more weight bytes were read than the file holds
python3 -c "import sys; sys.exit(0 if float('$read_bytes') > $(stat -c %s "$M") else 1)" ||
    fail "the model was not streamed (read $read_bytes bytes of a $(stat -c %s "$M")-byte file)"
stop_server
echo "PASS"
