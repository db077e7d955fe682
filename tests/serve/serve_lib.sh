# tests/serve/serve_lib.sh — sourced by the serve tests: start `sluice serve` on a free port (--port 0,
# the port read back from its log), wait for /health, stop it with SIGTERM; a trap kills a server
# that is still up when the test ends, whatever way it ends.
BIN=${SLUICE_BIN:-build/sluice}
TMP=${SLUICE_TMP:-$(mktemp -d)}
[ -x "$BIN" ] || { echo "FAIL: $BIN not built"; exit 1; }
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
fail() { echo "FAIL: $*"; [ -n "${SRV_LOG:-}" ] && [ -f "$SRV_LOG" ] && tail -20 "$SRV_LOG"; exit 1; }
SRV_PID=
cleanup_server() { [ -n "$SRV_PID" ] && kill -9 "$SRV_PID" 2>/dev/null; SRV_PID=; }
trap cleanup_server EXIT

# start_server LOG [serve options...]: sets SRV_PID, PORT, URL; fails the test if it does not come up in 60 s.
start_server() {
    SRV_LOG=$1; shift
    "$BIN" serve --port 0 "$@" >"$SRV_LOG" 2>&1 &
    SRV_PID=$!
    PORT=
    for _ in $(seq 600); do
        kill -0 "$SRV_PID" 2>/dev/null || fail "the server exited: $(cat "$SRV_LOG")"
        [ -z "$PORT" ] && PORT=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$SRV_LOG")
        if [ -n "$PORT" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$PORT/health")" = 200 ]; then
            URL=http://127.0.0.1:$PORT
            return 0
        fi
        sleep 0.1
    done
    fail "the server did not come up in 60 s"
}

# stop_server: SIGTERM, wait (30 s at most); the server's exit status must be 0.
stop_server() {
    kill -TERM "$SRV_PID"
    for _ in $(seq 300); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$SRV_PID" 2>/dev/null && fail "the server did not stop within 30 s of SIGTERM"
    wait "$SRV_PID"; local rc=$?
    SRV_PID=
    [ $rc = 0 ] || fail "the server exited with $rc after SIGTERM"
}
