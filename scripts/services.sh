#!/usr/bin/env bash
# Makes sure PostgreSQL and RabbitMQ run on this machine, as `make run` and `make test` need:
# installs them from Debian's packages when missing, starts them when stopped, lets the local
# `postgres` user in over TCP without a password (the development default), and enables
# RabbitMQ's management API (the tests create a vhost each through it).
set -euo pipefail

log() { printf 'services: %s\n' "$*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  local port=$1 what=$2
  for _ in $(seq 1 120); do port_open "$port" && return 0; sleep 0.5; done
  log "$what did not open port $port within 60 s"; exit 1
}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v pg_ctlcluster >/dev/null 2>&1 || missing+=(postgresql postgresql-client)
command -v rabbitmq-server >/dev/null 2>&1 || missing+=(rabbitmq-server)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  as_root apt-get update -qq
  # Package scripts may try to start the services; without an init system that can fail
  # harmlessly, and they are started below either way.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null || true
  command -v pg_ctlcluster >/dev/null 2>&1 && command -v rabbitmq-server >/dev/null 2>&1 \
    || { log "installing ${missing[*]} failed"; exit 1; }
fi

if ! port_open 5432; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  log "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_port 5432 PostgreSQL
fi
if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1 </dev/null; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  log "allowing local TCP connections without a password in $hba"
  as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  sleep 1
  psql -h 127.0.0.1 -U postgres -d postgres -tAc 'select 1' >/dev/null </dev/null \
    || { log "PostgreSQL refuses user postgres on 127.0.0.1"; exit 1; }
fi

if ! port_open 5672; then
  log "starting RabbitMQ"
  as_root rabbitmq-server -detached >/dev/null 2>&1 || true
  wait_port 5672 RabbitMQ
fi
if ! port_open 15672; then
  log "enabling the RabbitMQ management API"
  as_root rabbitmq-plugins enable --quiet rabbitmq_management >/dev/null
  wait_port 15672 "RabbitMQ management"
fi
