#!/usr/bin/env python3
"""Drives a live fleet (gpufleet up: real Redis, broker, worker, gateway) with two API keys the way an
attacker would. Every case prints PASS|FAIL name expected got; the run ends with 'N passed, N failed' and
exits non-zero on any failure. After each group it checks /health and that no process of the stack exited.

Usage: attack.py BIN_DIR   (CTest passes build/bin)
"""
import hashlib
import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time

BIN = sys.argv[1] if len(sys.argv) > 1 else "build/bin"
PORT = 18000 + os.getpid() % 2000
results = []


def check(name, expected, got):
    ok = expected == got
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {name} expected={expected!r} got={got!r}", flush=True)


def key(name, operator=False):
    token = "gf_" + secrets.token_hex(32)
    line = f"{name} {hashlib.sha256(token.encode()).hexdigest()}" + (" operator" if operator else "")
    return token, line


def call(method, path, body=b"", token=None, headers=None, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=timeout)
    all_headers = {"Content-Type": "application/json"}
    if token:
        all_headers["Authorization"] = "Bearer " + token
    all_headers.update(headers or {})
    if isinstance(body, str):
        body = body.encode()
    conn.putrequest(method, path, skip_accept_encoding=True)
    for name, value in all_headers.items():
        conn.putheader(name, value)
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    try:
        parsed = json.loads(data) if data else None
    except ValueError:
        parsed = None
    return response.status, parsed, data


def error_code(answer):
    body = answer[1]
    return body.get("error", {}).get("code") if isinstance(body, dict) else None


def raw(data, read_for=2.0):
    """Sends raw bytes and returns what came back within read_for seconds (b'' when the server closed)."""
    with socket.create_connection(("127.0.0.1", PORT), timeout=read_for) as sock:
        try:
            sock.sendall(data)
        except OSError:
            pass
        out = b""
        try:
            while True:
                piece = sock.recv(65536)
                if not piece:
                    break
                out += piece
        except OSError:
            pass
        return out


def main():
    alice, alice_line = key("alice")
    bob, bob_line = key("bob")
    ops, ops_line = key("ops", operator=True)
    state = tempfile.mkdtemp(prefix="gpufleet-attack-")
    env = dict(os.environ, PORT=str(PORT), REDIS_PORT=str(PORT + 1), BROKER_PORT=str(PORT + 2),
               BROKER_METRICS_PORT="0", STORAGE_ROOT=os.path.join(state, "storage"), STATE_DIR=os.path.join(state, "s"),
               WORKER_MODELS="espeak,noop", API_KEYS=";".join([alice_line, bob_line, ops_line]),
               WEBHOOK_SECRET="attack-secret-0123456789", WEBHOOK_RETRY_BASE_MS="200", WEBHOOK_MAX_ATTEMPTS="2",
               LOG_LEVEL="warn")
    env.pop("NOOP_DRILLS", None)
    stack = subprocess.Popen([os.path.join(BIN, "gpufleet"), "up"], env=env, stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(state, "up.log"), "w"))
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if call("GET", "/health")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.3)
        else:
            print(open(os.path.join(state, "up.log")).read(), file=sys.stderr)

        def alive(group):
            try:
                status = call("GET", "/health")[0]
            except OSError as error:
                status = str(error)
            check(f"{group}: /health after the group", 200, status)
            check(f"{group}: no process of the stack exited", None, stack.poll())

        # --- malformed input -----------------------------------------------------------------------
        deep = '{"input":{"text":"hi","x":' + "[" * 250000 + "]" * 250000 + "}}"
        check("json nested 250000 deep is invalid_json", "invalid_json",
              error_code(call("POST", "/v1/jobs", deep, alice, timeout=30)))
        mid = '{"input":{"text":"hi","x":' + "[" * 1000 + "]" * 1000 + "}}"
        check("json nested 1000 deep is refused", 400, call("POST", "/v1/jobs", mid, alice)[0])
        check("an input field nothing reads is refused", "invalid_input",
              error_code(call("POST", "/v1/jobs", json.dumps({"input": {"text": "hi", "pad": "x" * 200000}}), alice)))
        check("a model parameter may not be a document", "invalid_input",
              error_code(call("POST", "/v1/jobs", json.dumps({"model": "noop", "input": {"text": "hi",
                                                                                    "fail": {"a": [1] * 1000}}}), alice)))
        check("non-utf8 text is invalid_json", "invalid_json",
              error_code(call("POST", "/v1/jobs", b'{"input":{"text":"\xff\xfe"}}', alice)))
        answer = raw(b"GET /v1/jobs/\xff\xfe HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + alice.encode() +
                     b"\r\nConnection: close\r\n\r\n")
        check("non-utf8 path answers 400", b"HTTP/1.1 400", answer[:12])
        answer = raw(b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;" + b"a" * (8 << 20))
        check("endless chunk-size line is closed, not buffered", True, answer == b"" or answer.startswith(b"HTTP/1.1 4"))
        answer = raw(b"HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        check("HEAD has headers only", True, answer.endswith(b"\r\n\r\n") and b"content-length" in answer.lower())
        answer = raw(b"FROB /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        metrics = call("GET", "/metrics")[2].decode()
        check("a made-up method is no metric series", False, 'method="FROB"' in metrics)
        alive("malformed input")

        # --- tenancy ---------------------------------------------------------------------------------
        status, body, _ = call("POST", "/v1/jobs", '{"input":{"text":"Alice speaks."}}', alice,
                               {"Idempotency-Key": "k1"})
        job = body["id"] if body else ""
        check("alice submits", 202, status)
        call("GET", f"/v1/jobs/{job}?wait=10", token=alice)
        unknown = "0" * 32
        for suffix in ["", "/result", "/events", "/stream"]:
            check(f"bob reads alice's job{suffix} as unknown",
                  call("GET", f"/v1/jobs/{unknown}{suffix}", token=bob)[0],
                  call("GET", f"/v1/jobs/{job}{suffix}", token=bob)[0])
        check("bob cannot cancel alice's job", 404, call("DELETE", f"/v1/jobs/{job}", token=bob)[0])
        status, body, _ = call("POST", "/v1/jobs", '{"input":{"text":"Alice speaks."}}', bob, {"Idempotency-Key": "k1"})
        check("bob's idempotency key is his own", True, status == 202 and body.get("id") != job)
        listed = call("GET", "/v1/jobs?limit=50", token=bob)[1] or {}
        check("bob's list holds no job of alice", False, any(j.get("id") == job for j in listed.get("jobs", [])))
        check("bob may not see the workers", 403, call("GET", "/v1/workers", token=bob)[0])
        check("bob may not follow the fleet's events", 403, call("GET", "/v1/events", token=bob)[0])
        check("ops sees alice's job", "alice", (call("GET", f"/v1/jobs/{job}", token=ops)[1] or {}).get("owner"))
        check("drills are off without NOOP_DRILLS", "invalid_input",
              (call("POST", "/v1/jobs", '{"model":"noop","input":{"text":"x","hang_ms":60000}}', alice)[1] or {})
              .get("id") and (call("GET", "/v1/jobs/" + json.loads(call("POST", "/v1/jobs",
                  '{"model":"noop","input":{"text":"x","fail":"model_error"}}', alice)[2])["id"] + "?wait=10",
                  token=alice)[1] or {}).get("error", {}).get("code"))
        alive("tenancy")

        # --- webhooks (SSRF) -------------------------------------------------------------------------
        for host in ["127.0.0.1:6379", "[::1]", "0x7f000001", "2130706433", "127.1", "localhost",
                     "[::ffff:127.0.0.1]", "169.254.169.254", "10.0.0.1", "192.168.1.1", "100.64.0.1"]:
            body = json.dumps({"model": "noop", "webhook": f"http://{host}/", "input": {"text": "x"}})
            check(f"webhook to {host} refused", 400, call("POST", "/v1/jobs", body, alice)[0])
        # A name that resolves to this machine is checked after resolution and never called.
        sink = socket.socket()
        sink.bind(("0.0.0.0", 0))
        sink.listen(5)
        sink.settimeout(0.2)
        name = socket.gethostname()
        try:
            address = socket.gethostbyname(name)
        except OSError:
            address = ""
        if address.startswith(("127.", "10.", "192.168.", "172.")):
            body = json.dumps({"model": "noop", "webhook": f"http://{name}:{sink.getsockname()[1]}/",
                               "input": {"text": "x"}})
            status, created, _ = call("POST", "/v1/jobs", body, alice)
            hook_id = (created or {}).get("id", "")
            called = False
            end = time.time() + 4
            while time.time() < end:
                try:
                    sink.accept()[0].close()
                    called = True
                except OSError:
                    pass
            record = call("GET", f"/v1/jobs/{hook_id}", token=alice)[1] or {}
            check(f"webhook to {name} ({address}) never connects", False, called)
            check("the record shows no connection error", None, record.get("webhook", {}).get("last_error"))
        sink.close()
        alive("webhooks")
    finally:
        stack.terminate()
        try:
            stack.wait(20)
        except subprocess.TimeoutExpired:
            stack.kill()
    passed = sum(results)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
