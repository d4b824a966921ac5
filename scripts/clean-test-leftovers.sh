#!/usr/bin/env bash
# Drops the databases and vhosts that integration tests create (named tc_test_*), in case an
# earlier run was killed before its tests could clean up after themselves.
set -euo pipefail
for db in $(psql -h 127.0.0.1 -U postgres -d postgres -tAc "select datname from pg_database where datname like 'tc\_test\_%'" </dev/null); do
  psql -h 127.0.0.1 -U postgres -d postgres -qc "drop database if exists \"$db\" with (force)" </dev/null || true
done
vhosts=$(curl -sf -u guest:guest http://127.0.0.1:15672/api/vhosts 2>/dev/null \
  | python3 -c 'import json,sys; print("\n".join(v["name"] for v in json.load(sys.stdin) if v["name"].startswith("tc_test_")))' 2>/dev/null || true)
for vhost in $vhosts; do
  curl -sf -u guest:guest -X DELETE "http://127.0.0.1:15672/api/vhosts/$vhost" >/dev/null || true
done
