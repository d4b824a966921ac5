"""Reads every tenant of the benchmark catalog once through `routes` (100 ids a request), so that
serve's routing cache holds the whole catalog; every answer is checked.

Usage: warm-up.py GRAPHQL_URL TOKEN TENANTS WORKERS
Tenant ids as in lookup.lua (keep the formula in step)."""
import http.client, json, sys, threading, urllib.parse

url, token, n, workers = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
u = urllib.parse.urlsplit(url)
q = "query($ids: [ID!]!){ routes(tenantIds: $ids){ shard } }"


def tid(i):
    return "%08x-0000-4000-8000-%012x" % (i * 2654435761 % 2**32, i)


bad = []


def work(w):
    c = http.client.HTTPConnection(u.hostname, u.port)
    for start in range(1 + w * 100, n + 1, workers * 100):
        body = json.dumps({"query": q, "variables": {"ids": [tid(i) for i in range(start, min(start + 100, n + 1))]}})
        c.request("POST", u.path, body, {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        if r.status != 200 or b'"errors"' in data or b"null" in data:
            bad.append((r.status, data[:200]))


ts = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
for t in ts:
    t.start()
for t in ts:
    t.join()
if bad:
    sys.exit(f"warm-up: {len(bad)} bad answers, first: {bad[0]}")
