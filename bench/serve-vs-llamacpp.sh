#!/usr/bin/env bash
# bench/serve-vs-llamacpp.sh — `sluice serve` against llama.cpp's llama-server on the same model,
# the same clients and the same memory limit, 1 and many requests.
#
#   bench/serve-vs-llamacpp.sh --model FILE [--parallel "1 8"] [--seconds 60] [--tokens 24]
#       [--vram 128M] [--host-cache 512M] [--threads N] [--cgroup DIR]
#   LLAMACPP_BIN=DIR (default /var/tmp/llamacpp/build-0.3.36/bin): a llama.cpp build with
#   llama-server (cmake -DLLAMA_BUILD_SERVER=ON, target llama-server)
#
# For each P both servers run in turn with P slots; P clients send greedy non-streamed completions
# of --tokens tokens (ignore_eos) back to back for --seconds, and the figure is the completion
# tokens the servers report (usage.completion_tokens) of requests finished in the window, per
# second.  llama.cpp runs at its best out of core: mmap, --no-repack, P slots of the same context.
# sluice streams under --vram/--host-cache (--vram none: no budgets, the model resident, for the
# regime where it fits).  With --cgroup (a cgroup v1 memory group, as root) both
# run inside it, the page cache dropped before each server starts.  Run on an otherwise idle
# machine; the ratio sluice ÷ llama.cpp within a run is the figure.
set -eu
cd "$(dirname "$0")/.."
PARS="1 8"; SECS=60; TOK=24; VRAM=128M; HC=512M; MODEL=; THREADS=$(nproc); CG=
LBIN=${LLAMACPP_BIN:-/var/tmp/llamacpp/build-0.3.36/bin}
while [ $# -gt 0 ]; do
    case "$1" in
        --model) MODEL=$2; shift 2 ;;
        --parallel) PARS=$2; shift 2 ;;
        --seconds) SECS=$2; shift 2 ;;
        --tokens) TOK=$2; shift 2 ;;
        --vram) VRAM=$2; shift 2 ;;
        --host-cache) HC=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --cgroup) CG=$2; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
[ -n "$MODEL" ] && [ -f "$MODEL" ] || { echo "serve-vs-llamacpp: --model FILE is required (a GGUF both engines read)" >&2; exit 2; }
[ -x "$LBIN/llama-server" ] || { echo "serve-vs-llamacpp: no llama-server in $LBIN (set LLAMACPP_BIN)" >&2; exit 2; }
make -s cli >/dev/null
if [ -n "$CG" ]; then
    [ -w "$CG/tasks" ] || { echo "serve-vs-llamacpp: cannot join cgroup $CG (root, cgroup v1 memory)" >&2; exit 2; }
    echo $$ >"$CG/tasks"
fi
CTX=$((TOK + 64))
budget=(--vram "$VRAM" --host-cache "$HC")
[ "$VRAM" = none ] && budget=()

# start_wait LOG PID: the port once /health answers 200 (the server prints its port in LOG).
start_wait() {
    local log=$1 pid=$2 port=
    for _ in $(seq 6000); do
        [ -z "$port" ] && port=$(grep -o 'http://[0-9.]*:[0-9]*' "$log" | head -1 | sed 's/.*://')
        [ -n "$port" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")" = 200 ] &&
            { echo "$port"; return 0; }
        kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; return 1; }
        sleep 0.1
    done
    return 1
}

# load PORT P: tokens per second of P clients for SECS.
load() {
    python3 - "$1" "$2" "$SECS" "$TOK" <<'PY'
import http.client, json, sys, threading, time
port, P, secs, tok = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
n, lock, end = [0, 0], threading.Lock(), time.time() + secs
def client(k):
    r = 0
    while time.time() < end:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
        c.request("POST", "/v1/completions", json.dumps({"prompt": "Once upon a time %d %d" % (k, r), "max_tokens": tok,
                  "temperature": 0, "ignore_eos": True}), {"Content-Type": "application/json"})
        j = json.loads(c.getresponse().read())
        c.close()
        r += 1
        with lock:
            if time.time() <= end:
                n[0] += j["usage"]["completion_tokens"]
                n[1] += 1
t0 = time.time()
th = [threading.Thread(target=client, args=(k,)) for k in range(P)]
for t in th: t.start()
for t in th: t.join()
print("%.2f %d" % (n[0] / secs, n[1]))
PY
}

drop() { if [ -n "$CG" ]; then sync; echo 3 >/proc/sys/vm/drop_caches; fi; }

echo "# $(date -u '+%F %T') $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); $MODEL ($(du -h "$MODEL" | cut -f1)); ${CG:+cgroup $CG ($(($(cat "$CG/memory.limit_in_bytes") >> 20)) MiB), }$TOK tokens per request, $SECS s per point, $THREADS threads"
echo "# sluice serve ${budget[*]:-(resident)}; llama-server --no-repack (mmap)"
printf '%-9s %14s %9s %14s %9s %9s\n' parallel "sluice tok/s" "requests" "llama.cpp" "requests" "ratio"
for P in $PARS; do
    LOG=$(mktemp)
    drop
    build/sluice serve --port 0 -m "$MODEL" --parallel "$P" --ctx "$CTX" "${budget[@]}" -t "$THREADS" >"$LOG" 2>&1 &
    PID=$!
    PORT=$(start_wait "$LOG" $PID) || exit 1
    read -r S SR < <(load "$PORT" "$P")
    kill -TERM $PID; wait $PID || true
    drop
    "$LBIN/llama-server" -m "$MODEL" --port 0 -np "$P" -c $((CTX * P)) -t "$THREADS" --no-repack >"$LOG" 2>&1 &
    PID=$!
    PORT=$(start_wait "$LOG" $PID) || exit 1
    read -r L LR < <(load "$PORT" "$P")
    kill -TERM $PID; wait $PID || true
    rm -f "$LOG"
    awk -v p="$P" -v s="$S" -v sr="$SR" -v l="$L" -v lr="$LR" \
        'BEGIN { printf "%-9d %14.2f %9d %14.2f %9d %9s\n", p, s, sr, l, lr, (l > 0 ? sprintf("%.2f", s / l) : "inf") }'
done
