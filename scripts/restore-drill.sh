#!/usr/bin/env bash
# Restore drill (docs/operations.md): fill a catalog through the service, back it up with
# pg_dump, destroy it, restore it into a new database, and prove the restored catalog is whole:
# `tenant-catalog verify` (every tenant equals the refold of its history) and `tenant-catalog-load check` (every
# event sent is there, every tenant is what the lifecycle engine makes of its events). Prints
# the recovery time and the data lost.
# Usage: scripts/restore-drill.sh   Environment: TENANTS (default 5000), BIN, LOAD_BIN.
# Runs on its own databases (tc_drill, tc_drill_restored) and vhost, and removes them afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
tenants=${TENANTS:-5000}
name=tc_drill
restored=tc_drill_restored
pg="psql -h 127.0.0.1 -U postgres"
source scripts/bench/env.sh
now() { date +%s.%N; }
since() { python3 -c "print(f'{$(now) - $1:.1f}')"; }

bench_env "$name" "$restored"

# 1. A catalog filled the way production fills it: events through the service.
$bin migrate >/dev/null
port=$(free_port)
HTTP_ADDR=127.0.0.1:$port $bin serve 2>"$work/serve.log" & serve_pid=$!
$load generate --tenants "$tenants" --seed 2026 --events-out "$work/events.jsonl" >/dev/null
$load check --events "$work/events.jsonl" --wait 300 >/dev/null
# Quiesce: the backup is then the whole catalog (in production, WAL archiving covers what
# happens after a backup; see docs/operations.md).
kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true; serve_pid=
counts() { $pg -d "$1" -tAc "select (select count(*) from tenants) || ' tenants, ' || (select count(*) from tenant_events) || ' events, ' || (select count(*) from admin_audit) || ' audit rows, ' || (select coalesce(sum(tenant_count), 0) from shards) || ' placed'"; }
before=$(counts $name)
echo "catalog: $before"

# 2. Back up.
t0=$(now)
pg_dump -h 127.0.0.1 -U postgres -Fc -f "$work/catalog.dump" "$name"
backup_s=$(since "$t0")
size=$(du -h "$work/catalog.dump" | cut -f1)
echo "backup: pg_dump -Fc in $backup_s s, $size"

# 3. Destroy.
$pg -d postgres -qc "drop database $name with (force)"
echo "destroyed: database $name dropped"

# 4. Restore into a new database, then check it before anything serves from it.
t0=$(now)
$pg -d postgres -qc "create database $restored"
pg_restore -h 127.0.0.1 -U postgres -j 2 -d "$restored" "$work/catalog.dump"
restore_s=$(since "$t0")
echo "restore: pg_restore -j 2 in $restore_s s"
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$restored
t1=$(now)
$bin verify | tail -1
verify_s=$(since "$t1")
check=$($load check --events "$work/events.jsonl" --wait 0)
after=$(counts $restored)
recovery_s=$(python3 -c "print(f'{$restore_s + $verify_s:.1f}')")
python3 - "$before" "$after" "$check" <<PY
import json, sys
before, after, check = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
print(f"restored: {after}")
print(f"verify: every tenant equals the refold of its history ({$verify_s} s)")
print(f"load check: {check['distinct_events']} events sent, {check['lost']} lost, {check['mismatched']} tenants differing")
print()
print("| backup | size | restore | verify | recovery time (restore + verify) | data lost |")
print("|---:|---:|---:|---:|---:|---|")
lost = "none" if before == after and check["lost"] == 0 and check["mismatched"] == 0 else f"DIFFERS: {before} / {after}"
print(f"| {$backup_s} s | $size | {$restore_s} s | {$verify_s} s | {$recovery_s} s | {lost} |")
sys.exit(0 if lost == "none" else 1)
PY
