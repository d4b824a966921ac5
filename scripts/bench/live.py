"""Times GraphQL subscriptions (tenantChanged over graphql-transport-ws) from each change's
commit to its delivery: creates TENANTS tenants, subscribes to all of them on one websocket,
then publishes ROUNDS rounds of PER_ROUND renames a second through `tenant-catalog publish`,
and measures, for every change delivered, the time from its `changedAt` (the catalog's clock at
the refold, just before the commit) to its arrival. Prints one JSON object.

Usage: live.py BASE_URL TOKEN BIN TENANTS ROUNDS PER_ROUND WORKDIR
"""
import asyncio, json, random, subprocess, sys, time, uuid, urllib.request
from datetime import datetime, timedelta, timezone

import websockets

base, token, bin_, n, rounds, per_round, work = sys.argv[1], sys.argv[2], sys.argv[3], *map(int, sys.argv[4:7]), sys.argv[7]
ids = [str(uuid.uuid4()) for _ in range(n)]
seq = {i: 1 for i in ids}
now = datetime.now(timezone.utc)


def event(tenant, kind, data, at):
    seq[tenant] += 1
    return {"id": str(uuid.uuid4()), "type": kind, "tenant_id": tenant, "sequence": seq[tenant],
            "occurred_at": at.isoformat().replace("+00:00", "Z"), "data": data}


def publish(events, name):
    path = f"{work}/{name}.jsonl"
    with open(path, "w") as f:
        for e in events:
            f.write(json.dumps(e) + "\n")
    subprocess.run([bin_, "publish", path], check=True, capture_output=True)


def graphql(query, variables):
    body = json.dumps({"query": query, "variables": variables}).encode()
    req = urllib.request.Request(base + "/graphql", body, {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))


publish([event(t, "subscription.activated", {"site": "live-" + t[:8], "products": ["jira"], "residency": "eu",
         "plan": "standard", "cycle": "annual", "current_period_end": (now + timedelta(days=300)).isoformat()},
         now - timedelta(days=3)) for t in ids], "create")
deadline = time.time() + 60
while True:
    r = graphql("query($ids: [ID!]!) { routes(tenantIds: $ids) { tenantId } }", {"ids": ids})
    if all(x is not None for x in r.get("data", {}).get("routes", [None])):
        break
    if time.time() > deadline:
        sys.exit("the tenants were not created within 60 s")
    time.sleep(0.2)


async def main():
    delays, versions = [], set()
    url = base.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"], max_size=None) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": "Bearer " + token}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
            "query": "subscription($ids: [ID!]!) { tenantChanged(tenantIds: $ids) { tenantId version changedAt } }",
            "variables": {"ids": ids}}}))
        await asyncio.sleep(0.5)
        expected = rounds * per_round

        async def receive():
            while len(versions) < expected:
                m = json.loads(await ws.recv())
                arrived = datetime.now(timezone.utc)
                if m.get("type") != "next":
                    sys.exit(f"unexpected message: {m}")
                c = m["payload"]["data"]["tenantChanged"]
                changed = datetime.fromisoformat(c["changedAt"].replace("Z", "+00:00"))
                delays.append((arrived - changed).total_seconds() * 1000)
                versions.add((c["tenantId"], c["version"]))

        receiver = asyncio.create_task(receive())
        for r in range(rounds):
            started = time.time()
            batch = [event(t, "site.renamed", {"site": f"live-{t[:8]}-{r}"}, now - timedelta(days=1) + timedelta(seconds=r))
                     for t in random.sample(ids, per_round)]
            await asyncio.to_thread(publish, batch, f"round-{r}")
            await asyncio.sleep(max(0.0, 1.0 - (time.time() - started)))
        try:
            await asyncio.wait_for(receiver, timeout=30)
        except asyncio.TimeoutError:
            pass
    delays.sort()
    pick = lambda p: round(delays[min(len(delays) - 1, int(round((len(delays) - 1) * p)))], 1) if delays else None
    print(json.dumps({"tenants": n, "changes": rounds * per_round, "delivered": len(versions),
                      "p50_ms": pick(0.5), "p90_ms": pick(0.9), "p99_ms": pick(0.99), "max_ms": pick(1.0),
                      "within_1s_pct": round(100 * sum(d < 1000 for d in delays) / max(len(delays), 1), 2)}))

asyncio.run(main())
