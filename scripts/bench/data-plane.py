#!/usr/bin/env python3
"""A stand-in data plane for scripts/drain-bench.sh: carries out every running move out of one
shard, as a real data plane would once its copy and cutover steps are done (here they take no
time), until the shard's drain shows no tenant left and no move running.

Usage: data-plane.py BASE_URL SHARD LIST_TOKEN ADMIN_TOKENS_FILE [WORKERS]
LIST_TOKEN is an admin token for the reads (reads do not spend a token).
Each advance spends one admin token from the file (a token serves one write). Prints one
`RESULT` line: moves done, advance calls, seconds, calls/s, and any unexpected answer."""
import http.client
import json
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

base, shard, read_token, tokens_file = sys.argv[1:5]
workers = int(sys.argv[5]) if len(sys.argv) > 5 else 8
url = urllib.parse.urlparse(base)
tokens = iter(open(tokens_file).read().split())
tokens_lock = threading.Lock()
local = threading.local()


def connection():
    if not hasattr(local, "conn"):
        local.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    return local.conn


def call(method, path, token, body=None):
    headers = {"Authorization": f"Bearer {token}"}
    data = None
    if body is not None:
        data = json.dumps(body)
        headers["Content-Type"] = "application/json"
    for attempt in range(3):
        try:
            conn = connection()
            conn.request(method, path, body=data, headers=headers)
            r = conn.getresponse()
            return r.status, json.loads(r.read() or b"null")
        except (http.client.HTTPException, OSError):
            local.__dict__.pop("conn", None)
            if attempt == 2:
                raise


def advance(move):
    nxt = "cutover" if move["phase"] == "copying" else "done"
    with tokens_lock:
        token = next(tokens)
    status, body = call("POST", f"/admin/v1/moves/{move['id']}/advance", token, {"phase": nxt})
    return status, nxt, body


start = time.monotonic()
calls = done = 0
unexpected = []
with ThreadPoolExecutor(workers) as pool:
    while True:
        status, listed = call("GET", f"/admin/v1/moves?from_shard={shard}&running=true&limit=1000", read_token)
        if status != 200:
            sys.exit(f"listing moves answered {status}: {listed}")
        running = listed["moves"]
        for status, nxt, body in pool.map(advance, running):
            calls += 1
            if status != 200:
                unexpected.append((status, body))
            elif nxt == "done":
                done += 1
        if not running:
            status, shards = call("GET", "/admin/v1/shards", read_token)
            s = next(x for x in shards["shards"] if x["id"] == shard)
            if s.get("drain", {}).get("remaining") == 0 and s["moving_out"] == 0:
                break
            time.sleep(0.2)
secs = time.monotonic() - start
print(f"RESULT moves_done={done} advance_calls={calls} seconds={secs:.1f} "
      f"calls_per_s={calls / secs:.0f} unexpected={len(unexpected)}")
for u in unexpected[:5]:
    print("unexpected:", u, file=sys.stderr)
sys.exit(1 if unexpected else 0)
