#!/usr/bin/env bash
# Measures GraphQL routing lookups of one `serve` under HTTP load from a separate process (wrk),
# on a catalog of TENANTS tenants, next to PostgreSQL's own `pgbench -S` rate on the same
# machine as the reference (issue 3's goal: `route` at no less than the `pgbench -S` rate, and
# p99 under 5 ms at half that rate).
#
# Usage: scripts/lookup-bench.sh
# Environment: TENANTS (default 1000000), DURATION seconds of each run (default 20),
#   CONNECTIONS (default 32), THREADS wrk and pgbench threads (default 2), BATCH ids per
#   `routes` request (default 50), PGBENCH_SCALE (default 10),
#   BIN (default ./target/release/tenant-catalog).
#
# Runs, in order: pgbench -S (its own database, before `serve` starts); `route` on a cold
# cache (the first pass, mostly misses); a warm-up that reads every tenant once through
# `routes` (100 ids a request) so that the cache holds the whole catalog; `route` and
# `routes(BATCH ids)` at full load; `route` paced at half the pgbench -S rate. Every answer is
# checked (status 200, no GraphQL errors, no null route). Then the attacker
# (scripts/bench/attacker.py: every abuse of the hardening issue, in a loop, each answer checked
# to be the documented refusal) runs alone, to count the database transactions and cache lookups
# it causes against a quiet window of the same length, and then beside `route` paced at half the
# pgbench -S rate, to compare that p99 with the run without it. ATTACKERS threads (default 2).
# Then the replica (docs/replica.md): `tenant-catalog replica` loads the snapshot from serve and is
# measured over HTTP with the same wrk runs, saturated, while CHANGE_RATE new tenants a second
# stream in through serve (`tenant-catalog-load stream`): the lookups it refused NOT_READY
# (goal 0), its staleness read from /readyz every 100 ms, and how late the changes arrived.
# `tenant-catalog-load replica-bench` embeds one in its own process and measures one-core
# lookups, memory, and staleness from commit to route over a steady stream of CHANGES new tenants (default 3000) at CHANGE_RATE a second (default 100), which
# the replica process measures too. LOOKUPS (default 20000000) lookups on one thread.
# Prints a Markdown summary at the end.
# Runs on its own database and vhost (tc_bench_lookup) and removes them afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
tenants=${TENANTS:-1000000}
duration=${DURATION:-20}; duration=${duration%s}
connections=${CONNECTIONS:-32}
threads=${THREADS:-2}
batch=${BATCH:-50}
attackers=${ATTACKERS:-2}
scale=${PGBENCH_SCALE:-10}
bin=${BIN:-./target/release/tenant-catalog}
name=tc_bench_lookup
pgb=tc_bench_lookup_pgbench
api=http://127.0.0.1:15672/api
lua=scripts/bench/lookup.lua
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$name
export AMQP_URL=amqp://guest:guest@127.0.0.1:5672/$name
export LOG_FORMAT=json RUST_LOG=warn
psql_() { psql -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1 "$@"; }
work=$(mktemp -d)
serve_pid=
replica_pid=
cleanup() {
  [ -n "$replica_pid" ] && kill "$replica_pid" 2>/dev/null && wait "$replica_pid" 2>/dev/null || true
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null || true
  psql_ -d postgres -qc "drop database if exists $name with (force)" >/dev/null 2>&1 || true
  psql_ -d postgres -qc "drop database if exists $pgb with (force)" >/dev/null 2>&1 || true
  curl -sf -u guest:guest -X DELETE "$api/vhosts/$name" >/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
started=$(date +%s)

[ -x "$bin" ] || cargo build --release --locked
./scripts/services.sh
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
command -v wrk >/dev/null || {
  echo "installing wrk"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 || {
    as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
}
command -v pgbench >/dev/null || { echo "pgbench is missing (package postgresql-contrib or postgresql-client)" >&2; exit 1; }
cleanup; work=$(mktemp -d)
export AUTH_SIGNING_KEY=$work/signing-key.pem   # a key of its own, not the developer's
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export HTTP_ADDR=127.0.0.1:$port
base=http://127.0.0.1:$port

echo "machine: $(nproc) CPUs, $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo); $(psql_ -d postgres -tAc 'select version()' | cut -d, -f1)"
echo "settings: TENANTS=$tenants DURATION=${duration}s CONNECTIONS=$connections THREADS=$threads BATCH=$batch PGBENCH_SCALE=$scale BIN=$bin"

# ---- CPU accounting, to tell who saturated the machine ----
machine_cpu() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9; exit}' /proc/stat; }
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# "pid ticks" of every PostgreSQL process; pg_delta A B: their CPU ticks from snapshot A to B.
pg_snapshot() { for p in $(pgrep -x postgres); do awk -v p="$p" '{print p, $14 + $15}' "/proc/$p/stat" 2>/dev/null || true; done; }
pg_delta() { awk 'NR == FNR {a[$1] = $2; next} {d += $2 - a[$1]} END {print d + 0}' <(echo "$1") <(echo "$2"); }
hz=$(getconf CLK_TCK)
busy_pct() { python3 -c "b0='$1'.split(); b1='$2'.split(); print(f'{100*(float(b1[0])-float(b0[0]))/max(float(b1[1])-float(b0[1]),1):.0f}')"; }
b0=$(machine_cpu); sleep 3; b1=$(machine_cpu); idle_busy=$(busy_pct "$b0" "$b1")
echo "background load before the runs: ${idle_busy}% of the machine busy over 3 s"
[ "$idle_busy" -le 10 ] || echo "WARNING: something else is using the CPU; the figures will be low and noisy"

# ---- 1. database, vhost, 1M tenants ----
curl -sf -u guest:guest -X PUT "$api/vhosts/$name" >/dev/null
curl -sf -u guest:guest -X PUT -H 'content-type: application/json' \
  -d '{"configure":".*","write":".*","read":".*"}' "$api/permissions/$name/guest" >/dev/null
SEED_SHARD_CAPACITY=$tenants $bin migrate >/dev/null
t0=$(date +%s.%N)
# The tenants: see scripts/bench/load-tenants.sql (ids derived from n, as in lookup.lua).
psql_ -d "$name" -q -v tenants="$tenants" -v with_events=false -f scripts/bench/load-tenants.sql
loaded=$(psql_ -d "$name" -tAc "select count(*) from tenants")
[ "$loaded" = "$tenants" ] || { echo "loaded $loaded tenants, expected $tenants" >&2; exit 1; }
echo "loaded: $loaded tenants in $(python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')") s ($(psql_ -d "$name" -tAc "select pg_size_pretty(pg_database_size('$name'))"))"

# ---- 2. the reference: pgbench -S on the same PostgreSQL, before serve runs ----
psql_ -d postgres -qc "create database $pgb"
pgbench -h 127.0.0.1 -U postgres -i -q -s "$scale" "$pgb" >"$work/pgbench-init.log" 2>&1
b0=$(machine_cpu)
TIMEFORMAT='%U %S'
{ time pgbench -h 127.0.0.1 -U postgres -S -n -c "$connections" -j "$threads" -T "$duration" "$pgb" \
    >"$work/pgbench.out" 2>&1; } 2>"$work/pgbench.time"
b1=$(machine_cpu)
pg_tps=$(awk '/^tps = /{printf "%.0f", $3; exit}' "$work/pgbench.out")
pg_lat=$(awk '/^latency average/{print $4; exit}' "$work/pgbench.out")
[ -n "$pg_tps" ] || { cat "$work/pgbench.out" >&2; exit 1; }
pg_busy=$(busy_pct "$b0" "$b1")
pg_client=$(awk -v d="$duration" '{printf "%.2f", ($1+$2)/d}' "$work/pgbench.time")
echo "pgbench -S: $pg_tps tps, latency average $pg_lat ms (scale $scale, -c $connections -j $threads, ${duration}s; machine CPU ${pg_busy}% busy, pgbench client $pg_client cores)"
psql_ -d postgres -qc "drop database $pgb with (force)"

# ---- 3. serve ----
$bin serve 2>"$work/serve.log" & serve_pid=$!
for _ in $(seq 1 300); do
  curl -sf "$base/readyz" >/dev/null 2>&1 && \
    curl -sf "$base/metrics" | grep -q '^tenant_catalog_route_cache_live 1' && break
  kill -0 "$serve_pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
  sleep 0.2
done
curl -sf "$base/metrics" | grep -q '^tenant_catalog_route_cache_live 1' \
  || { echo "serve is not ready with a live routing cache after 60 s" >&2; cat "$work/serve.log" >&2; exit 1; }
token=$($bin token --scope read --sub lookup-bench)
sample=$(curl -sf "$base/graphql" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"query":"{ route(tenantId: \"9e3779b1-0000-4000-8000-000000000001\") { host region shard endpoint state serving } }"}')
echo "tenant 1: $sample"
case $sample in *'"host":"t0000001.'*) ;; *) echo "unexpected answer for tenant 1" >&2; exit 1 ;; esac

cache() { curl -sf "$base/metrics" | awk -v r="$1" '$1 == "tenant_catalog_route_cache_lookups_total{result=\"" r "\"}" {v = $2} END {print v + 0}'; }
declare -A R
# Where wrk sends its requests, and whose CPU is counted as "serve": serve's, or the replica's.
target=$base
target_pid=
# run_wrk LABEL MODE [RATE]: one wrk run; its RESULT fields go to R[LABEL.field].
run_wrk() {
  local label=$1 mode=$2 rate=${3:-0} line kv h0 m0 h1 m1 s0 s1 b0 b1 p0 p1 pid=${target_pid:-$serve_pid}
  h0=$(cache hit); m0=$(cache miss); s0=$(proc_ticks "$pid"); p0=$(pg_snapshot); b0=$(machine_cpu)
  TIMEFORMAT='%U %S'
  { time TOKEN=$token TENANTS=$tenants MODE=$mode BATCH=$batch RATE=$rate THREADS=$threads LABEL=$label \
      wrk -t"$threads" -c"$connections" -d"${duration}s" -s "$lua" "$target/graphql" \
      >"$work/$label.out" 2>"$work/$label.err"; } 2>"$work/$label.time"
  b1=$(machine_cpu); p1=$(pg_snapshot); h1=$(cache hit); m1=$(cache miss); s1=$(proc_ticks "$pid")
  line=$(grep '^RESULT ' "$work/$label.out") || { cat "$work/$label.out" "$work/$label.err" >&2; exit 1; }
  for kv in ${line#RESULT }; do R[$label.${kv%%=*}]=${kv#*=}; done
  R[$label.hit_pct]=$(python3 -c "h=$h1-$h0; m=$m1-$m0; print(f'{100*h/max(h+m,1):.1f}')")
  R[$label.serve_cores]=$(python3 -c "print(f'{($s1-$s0)/$hz/$duration:.2f}')")
  R[$label.wrk_cores]=$(awk -v d="$duration" '{printf "%.2f", ($1+$2)/d}' "$work/$label.time")
  R[$label.busy_pct]=$(busy_pct "$b0" "$b1")
  R[$label.pg_cores]=$(python3 -c "print(f'{$(pg_delta "$p0" "$p1")/$hz/$duration:.2f}')")
  R[$label.other_cores]=$(python3 -c "print(f'{max(0, $(nproc)*${R[$label.busy_pct]}/100 - ${R[$label.serve_cores]} - ${R[$label.wrk_cores]} - ${R[$label.pg_cores]}):.2f}')")
  echo "$line"
  echo "  cache hits ${R[$label.hit_pct]}% | CPU: machine ${R[$label.busy_pct]}% busy; cores used by serve ${R[$label.serve_cores]}, PostgreSQL ${R[$label.pg_cores]}, wrk ${R[$label.wrk_cores]}, anything else (kernel included) ${R[$label.other_cores]}"
  [ -s "$work/$label.err" ] && head -n 8 "$work/$label.err"
  local bad=$(( ${R[$label.non200]} + ${R[$label.graphql_errors]} + ${R[$label.nulls]} + ${R[$label.socket_errors]} ))
  if [ "$bad" -gt 0 ]; then echo "  WARNING: $bad bad answers or socket errors in $label"; fi
}

# ---- 4. lookups ----
echo "== route, cold cache: the first pass over random tenants (mostly misses at first) =="
run_wrk route-cold route

echo "== warm-up: every tenant once through routes(100 ids), so the cache holds the whole catalog =="
t0=$(date +%s.%N)
python3 scripts/bench/warm-up.py "$base/graphql" "$token" "$tenants" $(( threads * 2 ))
echo "warm-up: $tenants tenants in $(python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')") s; cache lookups so far: $(cache hit) hits, $(cache miss) misses"
echo "serve resident memory with the whole catalog cached: $(awk '/^VmRSS/ {printf "%.0f MiB", $2 / 1024}' "/proc/$serve_pid/status")"

echo "== route, warm cache, full load =="
run_wrk route route
echo "== routes($batch random ids), warm cache, full load =="
run_wrk routes routes
half=$(( pg_tps / 2 ))
echo "== route, warm cache, paced at half the pgbench -S rate: $half requests/s =="
run_wrk route-half route "$half"

# ---- 5. replicas: over HTTP (tenant-catalog replica) and embedded, and their staleness ----
rport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
rbase=http://127.0.0.1:$rport
replica_bound_ms=${REPLICA_MAX_STALENESS_MS:-2000}
echo "== replica: snapshot of $tenants tenants from serve, then the change feed =="
t0=$(date +%s.%N)
REPLICA_ADDR=127.0.0.1:$rport REPLICA_SOURCE=$base REPLICA_PAGE_SIZE=20000 \
  REPLICA_MAX_STALENESS_MS=$replica_bound_ms $bin replica 2>"$work/replica.log" & replica_pid=$!
for _ in $(seq 1 3000); do
  curl -sf "$rbase/readyz" >/dev/null 2>&1 && break
  kill -0 "$replica_pid" 2>/dev/null || { cat "$work/replica.log" >&2; exit 1; }
  sleep 0.2
done
curl -sf "$rbase/readyz" >/dev/null || { echo "the replica is not ready after 600 s" >&2; cat "$work/replica.log" >&2; exit 1; }
replica_load_s=$(python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')")
replica_rss=$(awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$replica_pid/status")
replica_entries=$(curl -sf "$rbase/metrics" | awk '$1 == "tenant_catalog_replica_entries" {print $2}')
echo "replica: ready in $replica_load_s s with $replica_entries tenants; resident memory $replica_rss MiB"
sample=$(curl -sf "$rbase/graphql" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"query":"{ route(tenantId: \"9e3779b1-0000-4000-8000-000000000001\") { host region shard endpoint state serving } }"}')
echo "tenant 1 from the replica: $sample"
case $sample in *'"host":"t0000001.'*) ;; *) echo "unexpected answer for tenant 1 from the replica" >&2; exit 1 ;; esac
rmetric() { curl -sf "$rbase/metrics" | awk -v n="$1" '$1 == n {v = $2} END {print v + 0}'; }
# delay_buckets [NAME]: the replica's histogram NAME (default change_delay) as /metrics shows it.
delay_buckets() { curl -sf "$rbase/metrics" | awk -v n="tenant_catalog_replica_${1:-change_delay}_seconds_" 'index($0, n "bucket") == 1 || index($0, n "count") == 1'; }
# serve's own: how long its relay's heartbeats took, from reading the outbox to publishing.
beat_buckets() { curl -sf "$base/metrics" | awk -v n="tenant_catalog_relay_heartbeat_seconds_" 'index($0, n "bucket") == 1 || index($0, n "count") == 1'; }
# The replica process's own view of a stream of changes: the share that arrived within each
# bucket of its change_delay histogram between two readings.
delay_shares() {
  python3 - "$@" <<'PY'
import re, sys
def read(path):
    b, n = {}, 0
    for line in open(path):
        m = re.match(r'.*_bucket\{le="([^"]+)"\} (\S+)', line)
        if m: b[m.group(1)] = float(m.group(2))
        elif "_count" in line: n = float(line.split()[-1])
    return b, n
b0, n0 = read(sys.argv[1]); b1, n1 = read(sys.argv[2])
n = n1 - n0
out = []
for le in ["0.05", "0.1", "0.25", "0.5", "1"]:
    got = b1.get(le, 0) - b0.get(le, 0)
    out.append(f"{100 * got / max(n, 1):.1f}% within {float(le) * 1000:.0f} ms")
print(f"{n:.0f} {sys.argv[3] if len(sys.argv) > 3 else 'changes'}; " + ", ".join(out))
PY
}
# run_replica_wrk LABEL MODE: run_wrk against the replica while CHANGE_RATE new tenants a second
# stream in through the catalog, and its staleness is read from /readyz every 100 ms; adds to
# R[LABEL.*]: refused (NOT_READY answers the replica counted), sent, stale_p99_ms,
# stale_max_ms, delays (the change_delay shares).
run_replica_wrk() {
  local label=$1 mode=$2 r0 stream_pid sampler_pid
  r0=$(rmetric tenant_catalog_replica_refusals_total)
  delay_buckets >"$work/$label-delay-before.txt"
  delay_buckets heartbeat_delay >"$work/$label-beats-before.txt"
  beat_buckets >"$work/$label-rounds-before.txt"
  "$(dirname "$bin")/tenant-catalog-load" stream --rate "${CHANGE_RATE:-100}" --seconds "$duration" \
    >"$work/$label-stream.json" 2>"$work/$label-stream.log" & stream_pid=$!
  python3 - "$rbase/readyz" "$duration" >"$work/$label-staleness.txt" <<'PY' & sampler_pid=$!
import json, sys, time, urllib.request
url, secs = sys.argv[1], float(sys.argv[2])
end = time.time() + secs
while time.time() < end:
    try:
        body = urllib.request.urlopen(url, timeout=2).read()
    except urllib.error.HTTPError as e:
        body = e.read()
    except Exception:
        body = b"{}"
    d = json.loads(body).get("details", {})
    print(*(d.get(k, -1) for k in ("staleness_ms", "staleness_but_waiting_ms", "waiting")), flush=True)
    time.sleep(0.1)
PY
  run_wrk "$label" "$mode"
  wait "$stream_pid" || { cat "$work/$label-stream.log" >&2; exit 1; }
  wait "$sampler_pid" || true
  delay_buckets >"$work/$label-delay-after.txt"
  delay_buckets heartbeat_delay >"$work/$label-beats-after.txt"
  beat_buckets >"$work/$label-rounds-after.txt"
  R[$label.rounds]=$(delay_shares "$work/$label-rounds-before.txt" "$work/$label-rounds-after.txt" "heartbeats sent")
  R[$label.beats]=$(delay_shares "$work/$label-beats-before.txt" "$work/$label-beats-after.txt" heartbeats)
  R[$label.refused]=$(( $(rmetric tenant_catalog_replica_refusals_total) - r0 ))
  R[$label.sent]=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['sent'])" "$work/$label-stream.json")
  # Per column (any tenant, every tenant but the waiting ones, tenants waiting): p99 and max.
  read -r R[$label.stale_p99_ms] R[$label.stale_max_ms] R[$label.others_p99_ms] R[$label.others_max_ms] \
    R[$label.waiting_p99] R[$label.waiting_max] < <(python3 -c "
import sys
rows = [l.split() for l in open(sys.argv[1])]
rows = [[int(x) if x.lstrip('-').isdigit() else -1 for x in r] for r in rows if len(r) == 3]
out = []
for c in range(3):
    v = sorted(r[c] for r in rows)
    out += [v[min(len(v) - 1, int(len(v) * 0.99))], v[-1]] if v else [-1, -1]
print(*out)" "$work/$label-staleness.txt")
  R[$label.delays]=$(delay_shares "$work/$label-delay-before.txt" "$work/$label-delay-after.txt")
  echo "  while ${R[$label.sent]} new tenants streamed in: ${R[$label.refused]} lookups refused NOT_READY; staleness (/readyz every 100 ms) p99 ${R[$label.stale_p99_ms]} ms, max ${R[$label.stale_max_ms]} ms, of every tenant but the waiting ones p99 ${R[$label.others_p99_ms]} ms, max ${R[$label.others_max_ms]} ms, tenants waiting p99 ${R[$label.waiting_p99]}, max ${R[$label.waiting_max]}; change delay: ${R[$label.delays]}; heartbeats, watermark to arrival: ${R[$label.beats]}; serve's heartbeat rounds, reading to publishing: ${R[$label.rounds]}"
}
echo "== route from the replica over HTTP, full load, changes streaming in =="
target=$rbase; target_pid=$replica_pid
run_replica_wrk replica-route route
echo "== routes($batch random ids) from the replica over HTTP, full load, changes streaming in =="
run_replica_wrk replica-routes routes
target=$base; target_pid=
delay_buckets >"$work/delay-before.txt"
echo "== the replica embedded in a process (tenant-catalog-load replica-bench): snapshot, one-core lookups, staleness of new tenants =="
"$(dirname "$bin")/tenant-catalog-load" replica-bench --source "$base" --tenants "$tenants" \
  --lookups "${LOOKUPS:-20000000}" --changes "${CHANGES:-3000}" --rate "${CHANGE_RATE:-100}" \
  >"$work/embedded.json" 2>"$work/embedded.log" || { cat "$work/embedded.log" >&2; exit 1; }
cat "$work/embedded.json"
delay_buckets >"$work/delay-after.txt"
http_delay=$(delay_shares "$work/delay-before.txt" "$work/delay-after.txt")
echo "replica process, change delay over the same stream: $http_delay"
emb() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$work/embedded.json" "$1"; }

# ---- 6. under attack ----
xacts() { psql_ -d postgres -tAc "select xact_commit + xact_rollback from pg_stat_database where datname = '$name'"; }
lookups() { echo $(( $(cache hit) + $(cache miss) )); }
attack_secs=$(( duration / 2 > 5 ? duration / 2 : 5 ))
echo "== the attacker alone ($attackers threads, ${attack_secs}s), after a quiet window as long =="
x0=$(xacts); sleep "$attack_secs"; x1=$(xacts)
x2=$(xacts); l2=$(lookups)
python3 scripts/bench/attacker.py "$base" "$token" "$attack_secs" "$attackers" >"$work/attack-alone.json"
x3=$(xacts); l3=$(lookups)
audit_rows=$(psql_ -d "$name" -tAc "select count(*) from admin_audit")
quiet_x=$(( x1 - x0 )); attack_x=$(( x3 - x2 )); attack_l=$(( l3 - l2 ))
attack_summary() {
  python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"  {r['sent']} refusals, {r['unexpected']} not as documented; p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms")
for name, c in r["cases"].items():
    print(f"    {name}: {c['sent']} sent, {c['unexpected']} unexpected, p50 {c['p50_ms']} ms, p99 {c['p99_ms']} ms, max {c['max_ms']} ms")
PY
}
attack_summary "$work/attack-alone.json"
echo "  database transactions: $quiet_x in the quiet window, $attack_x during the attack (serve's own timers and pings in both); cache lookups during the attack: $attack_l; admin_audit rows: $audit_rows"
echo "== route, warm cache, paced at half the pgbench -S rate ($half/s), with the attacker beside it =="
python3 scripts/bench/attacker.py "$base" "$token" "$duration" "$attackers" >"$work/attack-beside.json" & attacker_pid=$!
run_wrk route-attack route "$half"
wait "$attacker_pid"
attack_summary "$work/attack-beside.json"
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

# ---- 7. summary ----
ms() { printf '%.2f' "$1"; }
ok_rate=no; ok_p99=no; held=yes
python3 -c "import sys; sys.exit(0 if ${R[route.rps]} >= $pg_tps else 1)" && ok_rate=yes
python3 -c "import sys; sys.exit(0 if ${R[route-half.p99_ms]} < 5 else 1)" && ok_p99=yes
python3 -c "import sys; sys.exit(0 if ${R[route-half.rps]} >= 0.95 * $half else 1)" || held=no
goal=no; [ $ok_rate = yes ] && [ $ok_p99 = yes ] && [ $held = yes ] && goal=yes
bad_total=0
for l in route-cold route routes route-half route-attack replica-route replica-routes; do
  bad_total=$(( bad_total + ${R[$l.non200]} + ${R[$l.graphql_errors]} + ${R[$l.nulls]} + ${R[$l.socket_errors]} ))
done
cat <<EOF

## Lookup benchmark: $tenants tenants, $(nproc) CPUs, ${duration} s a run, $connections connections, $threads wrk threads

| run | requests/s | tenants/s | p50 ms | p99 ms | cache hits | CPU busy | cores: serve | PostgreSQL | wrk | other |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
| \`pgbench -S\` (scale $scale, -c $connections -j $threads) | $pg_tps | $pg_tps | | | | ${pg_busy}% | | | $pg_client (pgbench) | |
| \`route\`, cold cache (first pass) | ${R[route-cold.rps]} | ${R[route-cold.tenants_per_s]} | $(ms "${R[route-cold.p50_ms]}") | $(ms "${R[route-cold.p99_ms]}") | ${R[route-cold.hit_pct]}% | ${R[route-cold.busy_pct]}% | ${R[route-cold.serve_cores]} | ${R[route-cold.pg_cores]} | ${R[route-cold.wrk_cores]} | ${R[route-cold.other_cores]} |
| \`route\`, warm cache | ${R[route.rps]} | ${R[route.tenants_per_s]} | $(ms "${R[route.p50_ms]}") | $(ms "${R[route.p99_ms]}") | ${R[route.hit_pct]}% | ${R[route.busy_pct]}% | ${R[route.serve_cores]} | ${R[route.pg_cores]} | ${R[route.wrk_cores]} | ${R[route.other_cores]} |
| \`routes\` ($batch ids), warm cache | ${R[routes.rps]} | ${R[routes.tenants_per_s]} | $(ms "${R[routes.p50_ms]}") | $(ms "${R[routes.p99_ms]}") | ${R[routes.hit_pct]}% | ${R[routes.busy_pct]}% | ${R[routes.serve_cores]} | ${R[routes.pg_cores]} | ${R[routes.wrk_cores]} | ${R[routes.other_cores]} |
| \`route\` at half the pgbench rate ($half/s), warm | ${R[route-half.rps]} | ${R[route-half.tenants_per_s]} | $(ms "${R[route-half.p50_ms]}") | $(ms "${R[route-half.p99_ms]}") | ${R[route-half.hit_pct]}% | ${R[route-half.busy_pct]}% | ${R[route-half.serve_cores]} | ${R[route-half.pg_cores]} | ${R[route-half.wrk_cores]} | ${R[route-half.other_cores]} |
| the same, with the attacker beside it | ${R[route-attack.rps]} | ${R[route-attack.tenants_per_s]} | $(ms "${R[route-attack.p50_ms]}") | $(ms "${R[route-attack.p99_ms]}") | ${R[route-attack.hit_pct]}% | ${R[route-attack.busy_pct]}% | ${R[route-attack.serve_cores]} | ${R[route-attack.pg_cores]} | ${R[route-attack.wrk_cores]} | ${R[route-attack.other_cores]} |
| replica over HTTP: \`route\` | ${R[replica-route.rps]} | ${R[replica-route.tenants_per_s]} | $(ms "${R[replica-route.p50_ms]}") | $(ms "${R[replica-route.p99_ms]}") | | ${R[replica-route.busy_pct]}% | ${R[replica-route.serve_cores]} (replica) | ${R[replica-route.pg_cores]} | ${R[replica-route.wrk_cores]} | ${R[replica-route.other_cores]} |
| replica over HTTP: \`routes\` ($batch ids) | ${R[replica-routes.rps]} | ${R[replica-routes.tenants_per_s]} | $(ms "${R[replica-routes.p50_ms]}") | $(ms "${R[replica-routes.p99_ms]}") | | ${R[replica-routes.busy_pct]}% | ${R[replica-routes.serve_cores]} (replica) | ${R[replica-routes.pg_cores]} | ${R[replica-routes.wrk_cores]} | ${R[replica-routes.other_cores]} |
| replica embedded: \`route\` on one thread | $(emb lookups_per_s) | $(emb lookups_per_s) | $(python3 -c "print($(emb lookup_p50_ns)/1e6)") | $(python3 -c "print($(emb lookup_p99_ns)/1e6)") | | | | | | |

Replicas:
- \`tenant-catalog replica\`: snapshot of $replica_entries tenants loaded in $replica_load_s s; resident memory $replica_rss MiB
  (the embedded replica added $(emb memory_mib) MiB to its process: $(emb memory_mib_per_million) MiB per million tenants)
- replica over HTTP while saturated, with ${CHANGE_RATE:-100} new tenants a second streaming in (goal: 0 refused):
  \`route\`: ${R[replica-route.refused]} lookups refused NOT_READY, staleness p99 ${R[replica-route.stale_p99_ms]} ms, max ${R[replica-route.stale_max_ms]} ms (bound $replica_bound_ms ms), of all but the waiting tenants p99 ${R[replica-route.others_p99_ms]} ms, max ${R[replica-route.others_max_ms]} ms, tenants waiting at most ${R[replica-route.waiting_max]}; change delay: ${R[replica-route.delays]};
  \`routes\`: ${R[replica-routes.refused]} refused, staleness p99 ${R[replica-routes.stale_p99_ms]} ms, max ${R[replica-routes.stale_max_ms]} ms, of all but the waiting tenants p99 ${R[replica-routes.others_p99_ms]} ms, max ${R[replica-routes.others_max_ms]} ms, tenants waiting at most ${R[replica-routes.waiting_max]}; change delay: ${R[replica-routes.delays]}
- replica over HTTP \`route\`: ${R[replica-route.rps]} requests/s, $(python3 -c "print(f'{${R[replica-route.rps]}/$pg_tps:.2f}')")x \`pgbench -S\` (goal 2x)
- embedded, one thread: $(emb lookups_per_s) lookups/s, single lookups p50 $(emb lookup_p50_ns) ns, p99 $(emb lookup_p99_ns) ns, p99.9 $(emb lookup_p999_ns) ns (each timed; the clock's ~20 ns included) (goal 1,000,000/s, p50 under 1 µs)
- staleness, commit to route in the embedded replica, $(emb changes_seen) of $(emb changes) new tenants at ${CHANGE_RATE:-100}/s: p50 $(emb staleness_p50_ms) ms, p99 $(emb staleness_p99_ms) ms, max $(emb staleness_max_ms) ms (goal p99 under 1 s)
- the replica process over the same stream (from \`changed_at\` to arrival): $http_delay
- serve warm \`route\`: $(python3 -c "print(f'{${R[route.rps]}/$pg_tps:.2f}')")x \`pgbench -S\` (goal 1.5x)

- \`route\` at no less than the \`pgbench -S\` rate: **$ok_rate** (${R[route.rps]} vs $pg_tps requests/s)
- p99 under 5 ms at half that rate: **$ok_p99** ($(ms "${R[route-half.p99_ms]}") ms at ${R[route-half.rps]} requests/s, target $half; rate held: $held)
- goal met: **$goal**
- under attack ($attackers attacker threads): lookups at half the pgbench rate had p99 $(ms "${R[route-attack.p99_ms]}") ms against $(ms "${R[route-half.p99_ms]}") ms without it;
  the attacker's refusals: p50 $(field "$work/attack-beside.json" p50_ms) ms, p99 $(field "$work/attack-beside.json" p99_ms) ms beside the lookups, p50 $(field "$work/attack-alone.json" p50_ms) ms, p99 $(field "$work/attack-alone.json" p99_ms) ms alone;
  not refused as documented: $(( $(field "$work/attack-alone.json" unexpected) + $(field "$work/attack-beside.json" unexpected) )); database transactions while it ran alone: $attack_x (quiet window: $quiet_x); cache lookups: $attack_l; admin_audit rows: $audit_rows
- bad answers or socket errors in all runs: $bad_total
- The warm runs follow a warm-up that read every tenant once. Latencies are wrk's, from the moment a
  request is written; the paced run does not count time a request would have waited behind a late
  one (no coordinated-omission correction, unlike wrk2).
- Whole run: $(( $(date +%s) - started )) s.
EOF
