# Sourced by the benchmark and drill scripts: a database and a RabbitMQ vhost of their own,
# named by `bench_env NAME [MORE DATABASES...]`, removed again on exit, with `serve`'s settings
# pointing at them. Sets: bin, load, api, work, serve_pid, DATABASE_URL, AMQP_URL,
# AUTH_SIGNING_KEY.
bin=${BIN:-./target/release/tenant-catalog}
load=${LOAD_BIN:-./target/release/tenant-catalog-load}
api=http://127.0.0.1:15672/api
serve_pid=
export LOG_FORMAT=json RUST_LOG=warn

bench_cleanup() {
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null || true
  serve_pid=
  for db in "${bench_databases[@]}"; do
    psql -h 127.0.0.1 -U postgres -d postgres -qc "drop database if exists $db with (force)" >/dev/null 2>&1 || true
  done
  curl -sf -u guest:guest -X DELETE "$api/vhosts/$bench_name" >/dev/null || true
  if [ -n "${work:-}" ]; then rm -rf "$work"; fi
}

bench_env() {
  bench_name=$1
  bench_databases=("$@")
  export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$bench_name
  export AMQP_URL=amqp://guest:guest@127.0.0.1:5672/$bench_name
  trap bench_cleanup EXIT
  [ -x "$bin" ] || cargo build --release --locked
  ./scripts/services.sh
  bench_cleanup
  work=$(mktemp -d)
  # A signing key of its own, not the developer's.
  export AUTH_SIGNING_KEY=$work/signing-key.pem
  curl -sf -u guest:guest -X PUT "$api/vhosts/$bench_name" >/dev/null
  curl -sf -u guest:guest -X PUT -H 'content-type: application/json' \
    -d '{"configure":".*","write":".*","read":".*"}' "$api/permissions/$bench_name/guest" >/dev/null
}

# Installs wrk (Debian's package) when it is missing.
ensure_wrk() {
  command -v wrk >/dev/null && return
  echo "installing wrk"
  local as_root=; [ "$(id -u)" = 0 ] || as_root=sudo
  $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 || {
    $as_root apt-get update -qq && $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The value of a metric of the serve on port $1 whose line starts with $2 (a regex, `{` escaped);
# 0 until it shows. Reading the service's own counters costs the database nothing.
metric() { # PORT NAME: the value of the metric line that starts with NAME (a plain string), or 0
  curl -sf "http://127.0.0.1:$1/metrics" 2>/dev/null \
    | awk -v m="$2" 'index($0, m) == 1 {print $2; found=1} END {if (!found) print 0}'
}

# Starts `serve` on a free port and waits until it is ready (30 s at most). Sets base,
# serve_pid and HTTP_ADDR.
start_serve() {
  local port; port=$(free_port)
  export HTTP_ADDR=127.0.0.1:$port; base=http://127.0.0.1:$port
  $bin serve 2>"$work/serve.log" & serve_pid=$!
  for _ in $(seq 1 150); do
    curl -sf "$base/readyz" >/dev/null 2>&1 && return 0
    kill -0 "$serve_pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
    sleep 0.2
  done
  echo "serve is not ready after 30 s" >&2; cat "$work/serve.log" >&2; exit 1
}
