#!/usr/bin/env bash
# Measures live changes (issue 16's goal: a subscription delivers a change within 1 s of its
# commit). Starts `serve` on a database and vhost of its own, creates TENANTS tenants (default
# 50), subscribes to all of them with `tenantChanged` over one graphql-transport-ws websocket,
# publishes ROUNDS rounds (default 20) of PER_ROUND renames (default 25) a second, and times
# every change from its `changedAt` to its arrival (scripts/bench/live.py; installs the Python
# package `websockets` if it is missing). Prints a Markdown summary.
# Usage: scripts/live-bench.sh   Environment: TENANTS, ROUNDS, PER_ROUND, BIN.
# Runs on its own database and vhost (tc_bench_live) and removes them afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
tenants=${TENANTS:-50}
rounds=${ROUNDS:-20}
per_round=${PER_ROUND:-25}
name=tc_bench_live
source scripts/bench/env.sh
bench_env "$name"
python3 -c 'import websockets' 2>/dev/null || { echo "installing the Python package websockets"; python3 -m pip install -q websockets; }
echo "machine: $(nproc) CPUs; settings: TENANTS=$tenants ROUNDS=$rounds PER_ROUND=$per_round"
$bin migrate >/dev/null
start_serve
token=$($bin token --scope read --sub live-bench)
python3 scripts/bench/live.py "$base" "$token" "$bin" "$tenants" "$rounds" "$per_round" "$work" >"$work/report.json"
python3 - "$work/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"\n## Live changes: {r['changes']} renames of {r['tenants']} tenants, one subscriber\n")
print("| delivered | p50 ms | p90 ms | p99 ms | max ms | within 1 s |")
print("|---:|---:|---:|---:|---:|---:|")
print(f"| {r['delivered']} of {r['changes']} | {r['p50_ms']} | {r['p90_ms']} | {r['p99_ms']} | {r['max_ms']} | {r['within_1s_pct']}% |")
ok = r["delivered"] == r["changes"] and (r["p99_ms"] or 1e9) < 1000
print(f"\n- every change delivered, p99 under 1 s from its commit: **{'yes' if ok else 'no'}**")
PY
