#!/usr/bin/env bash
# Measures lookups of the past (issue 16's goal: an as-of lookup on a tenant with 1,000 events
# in under 10 ms). Starts `serve` on a database and vhost of its own, publishes one tenant with
# EVENTS events (default 1000: a trial, its conversion, then hourly renewals) as commerce does,
# waits until the catalog holds them all, then times LOOKUPS (default 300) single requests of
# each kind, one after another: `tenant(id, asOf)` without and with its history, `route(tenantId,
# asOf)`, and `tenant(id)` now for comparison (`tenant-catalog-load history-bench`). Prints a
# Markdown summary.
# Usage: scripts/history-bench.sh   Environment: EVENTS, LOOKUPS, BIN, LOAD_BIN.
# Runs on its own database and vhost (tc_bench_history) and removes them afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${EVENTS:-1000}
lookups=${LOOKUPS:-300}
name=tc_bench_history
source scripts/bench/env.sh
bench_env "$name"
echo "machine: $(nproc) CPUs; settings: EVENTS=$events LOOKUPS=$lookups"
$bin migrate >/dev/null
start_serve
"$load" history-bench --source "$base" --events "$events" --lookups "$lookups" >"$work/report.json"
python3 - "$work/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"\n## History benchmark: one tenant with {r['events']} events, {r['lookups']} single requests of each kind\n")
print(f"The catalog held every event {r['ingest_seconds']:.1f} s after the first was published.\n")
print("| request | p50 ms | p90 ms | p99 ms | max ms |")
print("|---|---:|---:|---:|---:|")
for key, label in [("tenant_as_of", "`tenant(id, asOf)` (state, serving, currentPeriodEnd, version)"),
                   ("tenant_as_of_with_history", "`tenant(id, asOf)` with `history { type outcome }`"),
                   ("route_as_of", "`route(tenantId, asOf)`"),
                   ("tenant_now", "`tenant(id)` now (no refold)")]:
    t = r[key]
    print(f"| {label} | {t['p50_ms']:.2f} | {t['p90_ms']:.2f} | {t['p99_ms']:.2f} | {t['max_ms']:.2f} |")
ok = r["tenant_as_of"]["p99_ms"] < 10 and r["route_as_of"]["p99_ms"] < 10
print(f"\n- as-of lookups under 10 ms at p99: **{'yes' if ok else 'no'}**")
PY
