#!/usr/bin/env bash
# The docker-compose topology without containers: two portcullis instances
# on two ports against the local PostgreSQL, sharing one database.
#
#   scripts/local-cluster.sh start   # start both, print their URLs
#   scripts/local-cluster.sh stop    # stop both
#   scripts/local-cluster.sh smoke   # start, check they agree, stop
#
# Environment: PG_URL (server URL, default postgres://postgres@127.0.0.1:5432/test),
# CLUSTER_DB (database to use, default portcullis_cluster), PORT_A/PORT_B
# (default 8081/8082), PORTCULLIS_BIN (default target/debug/portcullis).
set -euo pipefail
cd "$(dirname "$0")/.."

PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
CLUSTER_DB="${CLUSTER_DB:-portcullis_cluster}"
PORT_A="${PORT_A:-8081}"
PORT_B="${PORT_B:-8082}"
BIN="${PORTCULLIS_BIN:-target/debug/portcullis}"
RUN_DIR="${RUN_DIR:-data/cluster}"
DB_URL="${PG_URL%/*}/${CLUSTER_DB}"
ISSUER="http://127.0.0.1:${PORT_A}"

ensure_binary() {
  [ -x "$BIN" ] || cargo build --quiet --bin portcullis
}

ensure_database() {
  if ! psql "$PG_URL" -Atqc "SELECT 1 FROM pg_database WHERE datname = '${CLUSTER_DB}'" | grep -q 1; then
    psql "$PG_URL" -qc "CREATE DATABASE ${CLUSTER_DB}"
  fi
}

start_one() {
  local name=$1 port=$2
  PORTCULLIS_DATABASE__URL="$DB_URL" PORTCULLIS_ISSUER="$ISSUER" \
    PORTCULLIS_SERVER__BIND="127.0.0.1:${port}" \
    "$BIN" serve >"$RUN_DIR/$name.log" 2>&1 &
  echo $! >"$RUN_DIR/$name.pid"
}

wait_ready() {
  local port=$1
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:${port}/readyz" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "instance on port ${port} did not become ready; see ${RUN_DIR}/*.log" >&2
  return 1
}

start() {
  ensure_binary
  ensure_database
  mkdir -p "$RUN_DIR"
  start_one a "$PORT_A"
  start_one b "$PORT_B"
  wait_ready "$PORT_A"
  wait_ready "$PORT_B"
  echo "instance a: http://127.0.0.1:${PORT_A}  instance b: http://127.0.0.1:${PORT_B}"
  echo "issuer: ${ISSUER}  database: ${DB_URL}"
}

stop() {
  for name in a b; do
    if [ -f "$RUN_DIR/$name.pid" ]; then
      kill -TERM "$(cat "$RUN_DIR/$name.pid")" 2>/dev/null || true
      rm -f "$RUN_DIR/$name.pid"
    fi
  done
}

smoke() {
  trap stop EXIT
  start
  local jwks_a jwks_b
  jwks_a=$(curl -fsS "http://127.0.0.1:${PORT_A}/jwks")
  jwks_b=$(curl -fsS "http://127.0.0.1:${PORT_B}/jwks")
  [ "$jwks_a" = "$jwks_b" ] || { echo "FAIL: the instances publish different keys" >&2; exit 1; }
  for port in "$PORT_A" "$PORT_B"; do
    curl -fsS "http://127.0.0.1:${port}/.well-known/openid-configuration" | grep -q "\"issuer\":\"${ISSUER}\"" \
      || { echo "FAIL: discovery on ${port}" >&2; exit 1; }
  done
  echo "smoke check passed: both instances ready, same JWKS, same issuer"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  smoke) smoke ;;
  *) echo "usage: $0 start|stop|smoke" >&2; exit 2 ;;
esac
