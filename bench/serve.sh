#!/usr/bin/env bash
# bench/serve.sh — `sluice serve` throughput with continuous batching.
#
#   bench/serve.sh [--size 2G] [--parallel "1 4 16"] [--seconds 60] [--tokens 64]
#                  [--vram 256M] [--host-cache 512M] [--model FILE] [--dir DIR] [--threads N]
#                  [--io ENGINE]
#
# A generated model (cached in DIR, default /var/tmp/sluice-bench) is served streamed under
# --vram/--host-cache (for the issue's set-up: a model larger than the memory cgroup, e.g. under
# `systemd-run --user --scope -p MemoryMax=1G bench/serve.sh`).  For each --parallel P, P clients
# stream greedy completions of --tokens tokens back to back for --seconds; reported: aggregate
# generated tokens/s, p50/p99 time to first token and p50/p99 inter-token latency (client side),
# the server's mean batch (decode rows per step, prompt rows included) and the weight bytes it
# read per generated token (its /metrics counters: prompt tokens' reads included, so a fair
# per-point figure, not a per-decode-step one).  Expect tokens/s at 16 well above 1: the weights
# are read once per step for all sequences.  Run it on an otherwise idle machine.
set -eu
cd "$(dirname "$0")/.."
SIZE=2G; PARS="1 4 16"; SECS=60; TOK=64; VRAM=256M; HC=512M; MODEL=; DIR=/var/tmp/sluice-bench; THREADS=0; IO=auto
while [ $# -gt 0 ]; do
    case "$1" in
        --size) SIZE=$2; shift 2 ;;
        --parallel) PARS=$2; shift 2 ;;
        --seconds) SECS=$2; shift 2 ;;
        --tokens) TOK=$2; shift 2 ;;
        --vram) VRAM=$2; shift 2 ;;
        --host-cache) HC=$2; shift 2 ;;
        --model) MODEL=$2; shift 2 ;;
        --dir) DIR=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --io) IO=$2; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
make -s cli >/dev/null
BIN=build/sluice
if [ -z "$MODEL" ]; then
    mkdir -p "$DIR"
    MODEL=$DIR/serve-$SIZE.gguf
    [ -f "$MODEL" ] || "$BIN" gen-model --size "$SIZE" --seed 7 -q -o "$MODEL"
fi
echo "# $(date -u +%F) $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); $MODEL ($(du -h "$MODEL" | cut -f1)), --vram $VRAM --host-cache $HC --io $IO, $TOK tokens per request, $SECS s per point"
printf '%-9s %10s %10s %10s %10s %10s %9s %12s\n' parallel "tok/s" "ttft p50" "ttft p99" "itl p50" "itl p99" "batch" "MiB read/tok"
for P in $PARS; do
    LOG=$(mktemp)
    tflag=(); [ "$THREADS" != 0 ] && tflag=(-t "$THREADS")
    "$BIN" serve --port 0 -m "$MODEL" --parallel "$P" --ctx $((TOK + 64)) --vram "$VRAM" --host-cache "$HC" --io "$IO" "${tflag[@]}" >"$LOG" 2>&1 &
    PID=$!
    PORT=
    for _ in $(seq 6000); do
        [ -z "$PORT" ] && PORT=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$LOG")
        [ -n "$PORT" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health")" = 200 ] && break
        kill -0 $PID 2>/dev/null || { cat "$LOG"; exit 1; }
        sleep 0.1
    done
    python3 - "$PORT" "$P" "$SECS" "$TOK" <<'PY'
import http.client, json, sys, threading, time
port, P, secs, tok = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
ttft, itl, ntok = [], [], [0]
lock = threading.Lock()
end = time.time() + secs
def client(k):
    while time.time() < end:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        t0 = time.time()
        c.request("POST", "/v1/completions", json.dumps({"prompt": "Once upon a time %d" % k, "max_tokens": tok,
                  "temperature": 0, "stream": True, "return_token_ids": True}), {"Content-Type": "application/json"})
        r = c.getresponse()
        last, mine, n = None, [], 0
        for line in r:
            if not line.startswith(b"data: {"):
                continue
            ids = json.loads(line[6:])["choices"][0].get("token_ids", []) if b'"choices":[{' in line else []
            if not ids:
                continue
            now = time.time()
            if last is None:
                mine.append(("ttft", now - t0))
            else:
                mine.append(("itl", (now - last) / len(ids)))
            last = now
            n += len(ids)
        c.close()
        with lock:
            for k2, v in mine:
                (ttft if k2 == "ttft" else itl).append(v)
            if time.time() <= end + 1:
                ntok[0] += n
t0 = time.time()
th = [threading.Thread(target=client, args=(k,)) for k in range(P)]
for t in th: t.start()
for t in th: t.join()
dt = time.time() - t0
def pct(a, p):
    a = sorted(a)
    return a[min(len(a) - 1, int(p / 100 * len(a)))] * 1000 if a else float("nan")
print("%-9d %10.1f %8.0fms %8.0fms %8.1fms %8.1fms" % (P, ntok[0] / dt, pct(ttft, 50), pct(ttft, 99), pct(itl, 50), pct(itl, 99)), end="")
PY
    m=$(curl -s "http://127.0.0.1:$PORT/metrics")
    rows=$(echo "$m" | sed -n 's/^sluice_server_decode_rows_total \([0-9]*\)/\1/p')
    steps=$(echo "$m" | sed -n 's/^sluice_server_decode_steps_total \([0-9]*\)/\1/p')
    rd=$(echo "$m" | sed -n 's/^sluice_weight_read_bytes_total \([0-9]*\)/\1/p')
    gen=$(echo "$m" | sed -n 's/^sluice_server_generated_tokens_total \([0-9]*\)/\1/p')
    awk -v r="$rows" -v s="$steps" -v b="${rd:-0}" -v g="${gen:-0}" \
        'BEGIN { printf " %9.1f %12.1f\n", (s > 0 ? r / s : 0), (g > 0 ? b / g / 1048576 : 0) }'
    kill -TERM $PID; wait $PID || true
    rm -f "$LOG"
done
