#!/usr/bin/env python3
"""Sends, in a loop for DURATION seconds from THREADS threads, every abuse of the hardening
issue's list to one serve, checks that each is refused the documented way, and prints one JSON
object: per case, how many were sent, how many were not refused as expected, and the refusal
latency (p50, p99, max in ms).

Usage: attacker.py BASE_URL READ_TOKEN DURATION [THREADS]
"""
import base64, http.client, json, sys, threading, time, urllib.parse, uuid

base, token, duration = sys.argv[1], sys.argv[2], float(sys.argv[3])
threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
u = urllib.parse.urlsplit(base)
bearer = "Bearer " + token


def gql(query, variables=None):
    return json.dumps({"query": query, "variables": variables or {}})


def b64(v):
    return base64.urlsafe_b64encode(json.dumps(v).encode()).rstrip(b"=").decode()


bomb = "query { ...f0 }" + "".join(
    f" fragment f{i} on Query {{ ...f{i + 1} ...f{i + 1} }}" for i in range(30)
) + " fragment f30 on Query { __typename }"
ids = [str(uuid.uuid4()) for _ in range(100)]
forged_kid = "Bearer %s.%s.c2ln" % (
    b64({"alg": "EdDSA", "kid": "tenant-catalog/dev\nFORGED"}), b64({"sub": "x"}))

# name: (method, path, body, headers, expected status, expected extensions.code or None)
CASES = {
    "fragment bomb": ("POST", "/graphql", gql(bomb), {}, 200, "QUERY_TOO_LARGE"),
    "1,000 route aliases": ("POST", "/graphql", gql(
        "{" + "".join(f' r{i}: route(host: "s{i:03}.example.net") {{ shard }}' for i in range(1000)) + " }"),
        {}, 200, "QUERY_TOO_LARGE"),
    "routes x 1,000 aliases x 100 ids": ("POST", "/graphql", gql(
        "query($ids: [ID!]!) {" + "".join(f" a{i}: routes(tenantIds: $ids) {{ shard }}" for i in range(1000)) + " }",
        {"ids": ids}), {}, 200, "QUERY_TOO_LARGE"),
    "routes x 5 aliases x 100 ids": ("POST", "/graphql", gql(
        "query($ids: [ID!]!) {" + "".join(f" a{i}: routes(tenantIds: $ids) {{ shard }}" for i in range(5)) + " }",
        {"ids": ids}), {}, 200, "TOO_MANY_IDS"),
    "1,500 tenants(first: 100) aliases": ("POST", "/graphql", gql(
        "{" + "".join(f"t{i}:tenants(first:100){{__typename}}" for i in range(1500)) + "}"),
        {}, 200, "QUERY_TOO_LARGE"),
    "a page of 100 histories": ("POST", "/graphql", gql(
        "{ tenants(first: 100) { edges { node { history { eventId } } } } }"), {}, 200, "QUERY_TOO_COSTLY"),
    "a 60 KB host": ("POST", "/graphql", gql(
        "query($h: String!) { route(host: $h) { shard } }", {"h": "a" * 60000 + ".example.net"}),
        {}, 200, "BAD_USER_INPUT"),
    "admin, unknown path, no token": ("GET", "/admin/v1/no-such-thing", None, {"Authorization": None}, 401, None),
    "admin, wrong method, forged kid": ("DELETE", "/admin/v1/shards", None, {"Authorization": forged_kid}, 401, None),
    "two Authorization headers": ("POST", "/graphql", gql("{ shards { id } }"),
                                  {"Authorization": [bearer, "Bearer other"]}, 400, None),
}

stats = {name: {"sent": 0, "unexpected": 0, "ms": []} for name in CASES}
lock = threading.Lock()
stop = time.monotonic() + duration


def work():
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    while time.monotonic() < stop:
        for name, (method, path, body, headers, want_status, want_code) in CASES.items():
            c.putrequest(method, path)
            auth = headers.get("Authorization", bearer)
            for value in ([] if auth is None else auth if isinstance(auth, list) else [auth]):
                c.putheader("Authorization", value)
            data = body.encode() if body else b""
            c.putheader("Content-Type", "application/json")
            c.putheader("Content-Length", str(len(data)))
            t0 = time.perf_counter()
            c.endheaders(data)
            r = c.getresponse()
            raw = r.read()
            ms = (time.perf_counter() - t0) * 1000
            ok = r.status == want_status
            if ok and want_code:
                try:
                    ok = json.loads(raw)["errors"][0]["extensions"]["code"] == want_code
                except (ValueError, KeyError, IndexError, TypeError):
                    ok = False
            if r.getheader("connection", "").lower() == "close":
                c.close()
                c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
            with lock:
                s = stats[name]
                s["sent"] += 1
                s["unexpected"] += 0 if ok else 1
                s["ms"].append(ms)


ts = [threading.Thread(target=work) for _ in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()


def pct(xs, p):
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(len(xs) * p))], 2) if xs else None


every = [m for s in stats.values() for m in s["ms"]]
print(json.dumps({
    "cases": {n: {"sent": s["sent"], "unexpected": s["unexpected"], "p50_ms": pct(s["ms"], 0.5),
                  "p99_ms": pct(s["ms"], 0.99), "max_ms": round(max(s["ms"]), 2) if s["ms"] else None}
              for n, s in stats.items()},
    "sent": len(every), "unexpected": sum(s["unexpected"] for s in stats.values()),
    "p50_ms": pct(every, 0.5), "p99_ms": pct(every, 0.99),
}))
