#!/usr/bin/env bash
# sluice-timeout: 300
# tests/serve/test_serve_bad_inputs.sh — what a client may send, each answered within bounds while
# the server stays up: a body over --max-body (413, from Content-Length before it is read, and
# mid-upload when chunked), a truncated body and a client that sends a byte a second (cut off after
# --read-timeout, or the connection closed; a normal request meanwhile is served), malformed JSON,
# invalid UTF-8, wrong types (400 naming the field), unknown paths (404), wrong methods (405), a full
# queue (503), a client that hangs up mid-stream (its sequence cancelled).  Then /health is 200, a
# normal request works, and SIGTERM ends the server with 0.
set -u
. "$(dirname "$0")/serve_lib.sh"
M=$TMP/serve-bad.gguf
"$BIN" gen-model --size 12M --seed 5 -q -o "$M" 2>/dev/null || fail "gen-model"
start_server "$TMP/serve-bad.log" -m "$M" --parallel 2 --queue 1 -t 2 --ctx 512 --max-body 64K --read-timeout 3 \
    --vram 3M --host-cache 6M

timeout 150 python3 - "$URL" <<'PY' || fail "bad inputs"
import json, socket, sys, threading, time, http.client
url = sys.argv[1]
host, port = url[7:].split(":")
port = int(port)

def raw(data, wait=10.0, slow=None, half_close=False):
    """Send bytes, return (status or None, body, seconds): None when the server just closed."""
    s = socket.create_connection((host, port), timeout=wait)
    t0 = time.time()
    try:
        if slow:
            for b in data:
                s.sendall(bytes([b]))
                time.sleep(slow)
        else:
            s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
    except (BrokenPipeError, ConnectionResetError):
        pass
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
            if b"\r\n\r\n" in out:
                head, _, body = out.partition(b"\r\n\r\n")
                cl = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if cl and len(body) >= int(cl[0].split(b":")[1]):
                    break
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    dt = time.time() - t0
    if not out:
        return None, b"", dt
    return int(out.split(b" ")[1]), out.partition(b"\r\n\r\n")[2], dt

def post(path, body, ctype="application/json"):
    if isinstance(body, str):
        body = body.encode()
    head = ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
            % (path, ctype, len(body))).encode()
    return raw(head + body)

def expect(what, got, status, needle=None):
    st, body, dt = got
    assert st == status, "%s: status %s (want %s): %r" % (what, st, status, body[:300])
    if needle:
        j = json.loads(body)
        assert needle in j["error"]["message"], "%s: %r" % (what, j)
    print("  %-34s %s in %.2f s" % (what, st, dt))

C = "/v1/completions"
ok = '{"prompt":"hello","max_tokens":4,"temperature":0}'
expect("normal request", post(C, ok), 200)
# bodies over the limit
expect("Content-Length over --max-body", raw(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n" + b"x" * 1000), 413)
chunk = b"%x\r\n%s\r\n" % (40000, b"a" * 40000)
expect("chunked body over --max-body", raw(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 3 + b"0\r\n\r\n"), 413)
# malformed
expect("malformed JSON", post(C, '{"prompt": "x",'), 400, "malformed JSON")
expect("empty body", post(C, ""), 400, "malformed JSON")
expect("not an object", post(C, '[1,2]'), 400, "JSON object")
expect("invalid UTF-8", post(C, b'{"prompt":"caf\xc3\x28 \xff\xfe","max_tokens":2}'), 400, "malformed JSON")
expect("NUL in a string", post(C, '{"prompt":"a\\u0000b","max_tokens":2}'), 400, "malformed JSON")
# wrong types
for body, field in [('{"prompt":"x","max_tokens":"10"}', "max_tokens"), ('{"prompt":"x","temperature":"hot"}', "temperature"),
                    ('{"prompt":"x","stream":"yes"}', "stream"), ('{"prompt":5}', "prompt"), ('{"prompt":"x","stop":5}', "stop"),
                    ('{"prompt":"x","max_tokens":2.5}', "max_tokens"), ('{"prompt":"x","top_p":0}', "top_p"),
                    ('{"prompt":"x","seed":"s"}', "seed"), ('{"prompt":"x","stream_options":1}', "stream_options"),
                    ('{"prompt":"x","n":3}', "n")]:
    expect("wrong type: " + field, post(C, body), 400, field)
CC = "/v1/chat/completions"
for body, needle in [('{"messages":"hi"}', "messages"), ('{"messages":[]}', "messages"), ('{"messages":[{"role":"user"}]}', "content"),
                     ('{"messages":[{"role":"user","content":7}]}', "content"), ('{"messages":[{"role":1,"content":"x"}]}', "role")]:
    expect("chat: " + needle, post(CC, body), 400, needle)
expect("context overflow", post(C, '{"prompt":"x","max_tokens":100000}'), 400, "context")
expect("unknown path", raw(b"GET /v2/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), 404)
expect("GET on completions", raw(b"GET /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), 405)

# slow and truncated clients, with a normal request served meanwhile
results = {}
def slow():
    body = ok.encode()
    head = b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
    s = socket.create_connection((host, port), timeout=20)
    s.sendall(head)
    t0 = time.time()
    st = None
    try:
        for b in body:                      # a byte a second: 47 s if nothing stops it
            s.sendall(bytes([b]))
            time.sleep(1)
            if time.time() - t0 > 15:
                break
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        d = s.recv(4096)
        st = int(d.split(b" ")[1]) if d else None
    except (ConnectionResetError, socket.timeout):
        pass
    results["slow"] = (st, time.time() - t0)
th = threading.Thread(target=slow)
th.start()
time.sleep(0.5)
expect("normal request beside a slow client", post(C, ok), 200)
st, dt = None, 0
t = raw(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b'{"prompt":', wait=20)
assert t[0] in (None, 408) and t[2] < 15, ("truncated body", t)
print("  %-34s %s in %.2f s" % ("truncated body", t[0] or "closed", t[2]))
t = raw(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b'{"prompt":', wait=20, half_close=True)
assert t[0] in (None, 400, 408) and t[2] < 15, ("truncated body, half-closed", t)
th.join()
assert results["slow"][0] in (None, 408) and results["slow"][1] < 15, ("slow client", results)
print("  %-34s %s in %.2f s" % ("a byte a second", results["slow"][0] or "closed", results["slow"][1]))

# a full queue, and clients that hang up mid-stream (their sequences are cancelled)
def open_stream():
    c = http.client.HTTPConnection(host, port, timeout=60)
    c.request("POST", C, json.dumps({"prompt": "once", "max_tokens": 400, "temperature": 0, "stream": True}),
              {"Content-Type": "application/json"})
    r = c.getresponse()
    return c, r
streams = []
for i in range(3):       # 2 decoding (--parallel 2) and 1 queued (--queue 1)
    c, r = open_stream()
    assert r.status == 200, r.status
    if i < 2:
        r.fp.readline()  # its first event: it is decoding
    streams.append(c)
expect("queue full", post(C, ok), 503, "busy")
for c in streams:
    c.sock.shutdown(socket.SHUT_RDWR)
    c.close()
for _ in range(100):
    m = http.client.HTTPConnection(host, port, timeout=10)
    m.request("GET", "/metrics")
    met = m.getresponse().read().decode()
    cancelled = [l for l in met.splitlines() if l.startswith("sluice_server_cancelled_total")][0]
    active = [l for l in met.splitlines() if l.startswith("sluice_server_active_sequences")][0]
    if int(cancelled.split()[1]) >= 3 and active.split()[1] == "0":
        break
    time.sleep(0.1)
assert int(cancelled.split()[1]) >= 3 and active.split()[1] == "0", (cancelled, active)
print("  %-34s %s, %s" % ("hung-up streams cancelled", cancelled, active))
expect("normal request at the end", post(C, ok), 200)
PY
[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$URL/health")" = 200 ] || fail "the server is not healthy at the end"
stop_server
echo "PASS"
