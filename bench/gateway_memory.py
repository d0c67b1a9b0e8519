#!/usr/bin/env python3
"""What abandoned and stalled clients cost the gateway: its resident memory and open waits after 1,000
long-polls whose clients leave and 100 event-stream clients that never read, against a live fleet
(gpufleet up, noop model with drills). Prints a table; not a timed test.

Usage: bench/gateway_memory.py [BIN_DIR]   (default build/bin)
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import http.client

BIN = sys.argv[1] if len(sys.argv) > 1 else "build/bin"
PORT = 21000 + os.getpid() % 2000
LONG_POLLS = 1000
STALLED_STREAMS = 100


def call(method, path, body=None, timeout=30):
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=timeout)
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


def gateway_pid(parent):
    """The gpufleet-gateway process that `gpufleet up` (pid `parent`) started."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read().split(b"\0")[0]
        except OSError:
            continue
        if int(fields[1]) == parent and command.endswith(b"gpufleet-gateway"):
            return int(entry)
    return None


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def metric(name):
    text = "\n" + call("GET", "/metrics")[1].decode()
    at = text.find("\n" + name + " ")
    return float(text[at + len(name) + 2:].split()[0]) if at >= 0 else -1


def main():
    state = tempfile.mkdtemp(prefix="gpufleet-memory-")
    env = dict(os.environ, PORT=str(PORT), REDIS_PORT=str(PORT + 1), BROKER_PORT=str(PORT + 2),
               BROKER_METRICS_PORT="0", STORAGE_ROOT=os.path.join(state, "storage"), STATE_DIR=os.path.join(state, "s"),
               WORKER_MODELS="noop", NOOP_DRILLS="1", MAX_WAITS_PER_KEY="5000", LOG_LEVEL="warn")
    stack = subprocess.Popen([os.path.join(BIN, "gpufleet"), "up"], env=env, stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(state, "up.log"), "w"))
    rows = []
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if call("GET", "/health")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.3)
        pid = gateway_pid(stack.pid)
        status, body = call("POST", "/v1/jobs", {"model": "noop", "input": {"text": "slow", "sleep_ms": 120000}})
        slow = json.loads(body)["id"]
        time.sleep(1)
        rows.append(("idle, one job running", rss_kib(pid), metric("gpufleet_gateway_open_waits")))

        polls = []
        for _ in range(LONG_POLLS):
            sock = socket.create_connection(("127.0.0.1", PORT))
            sock.sendall(f"GET /v1/jobs/{slow}?wait=60 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            polls.append(sock)
        time.sleep(1)
        rows.append((f"{LONG_POLLS} long-polls held", rss_kib(pid), metric("gpufleet_gateway_open_waits")))
        for sock in polls:
            sock.close()
        time.sleep(1)
        rows.append((f"1 s after their clients left", rss_kib(pid), metric("gpufleet_gateway_open_waits")))

        stalled = []
        for _ in range(STALLED_STREAMS):
            sock = socket.create_connection(("127.0.0.1", PORT))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(b"GET /v1/events HTTP/1.1\r\nHost: x\r\n\r\n")
            stalled.append(sock)
        # Events for them to fall behind on: 3,000 no-op jobs.
        for _ in range(30):
            for _ in range(100):
                call("POST", "/v1/jobs", {"model": "noop", "input": {"text": "x"}})
        time.sleep(2)
        rows.append((f"{STALLED_STREAMS} event streams never read, 3,000 jobs", rss_kib(pid),
                     metric("gpufleet_gateway_open_waits")))
        for sock in stalled:
            sock.close()
        time.sleep(16)  # the keep-alive finds them gone
        rows.append(("16 s after those clients left", rss_kib(pid), metric("gpufleet_gateway_open_waits")))
        rows.append(("waits abandoned (counter)", "", metric("gpufleet_gateway_waits_abandoned_total")))
        call("DELETE", f"/v1/jobs/{slow}")  # else the worker's drain waits for it and `up` is killed first
    finally:
        stack.terminate()
        try:
            stack.wait(20)
        except subprocess.TimeoutExpired:
            stack.kill()
    print(f"| {'gateway after':<52} | {'RSS (KiB)':>10} | {'open waits':>10} |")
    print(f"|{'-' * 54}|{'-' * 12}|{'-' * 12}|")
    for name, rss, waits in rows:
        print(f"| {name:<52} | {rss!s:>10} | {waits!s:>10} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
