#!/usr/bin/env bash
# Fuzzes the HTTP API with schemathesis, driven by its own /v1/openapi.json, on both
# stores: `kafka-sync local` on a fresh embedded store, then on a fresh table of
# DynamoDB Local (`--store dynamodb://TABLE`). Every phase runs, the stateful one
# chaining calls along the document's links (create → read, change, pause, delete, …);
# scripts/fuzz_hooks.py points the generated bodies at real connections and a topic.
# Passes when no answer is a 5xx and every answer has a status, content type and body
# the document allows.
# Starts the services (and stops them afterwards) unless they already run.
# Environment: FUZZ_EXAMPLES (examples per operation and phase, default 60),
# FUZZ_PORT (default 18180), FUZZ_SEED (to replay a run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cache="${KAFKA_SYNC_CACHE:-$HOME/.cache/kafka-sync}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
export PATH="$cache/venv/bin:$PATH"
examples="${FUZZ_EXAMPLES:-60}"
port="${FUZZ_PORT:-18180}"
log() { printf '[fuzz-api] %s\n' "$*" >&2; }

scripts/setup.sh
started_services=false
scripts/services.sh status >/dev/null 2>&1 || started_services=true
service=""
work="$(mktemp -d)"
cleanup() {
  if [[ -n "$service" ]]; then kill "$service" 2>/dev/null || true; fi
  rm -rf "$work"
  if $started_services; then scripts/services.sh down; fi
}
trap cleanup EXIT
scripts/services.sh up
eval "$(scripts/services.sh env)"
cargo build --locked -p kafka-sync
binary="$CARGO_TARGET_DIR/debug/kafka-sync"

export KAFKA_SYNC_TOKEN="fuzz-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# DynamoDB Local takes any credentials; the SDK only needs some, and a region.
export AWS_ACCESS_KEY_ID=ksynclocal AWS_SECRET_ACCESS_KEY=ksynclocal AWS_REGION=us-east-1
export KSYNC_FUZZ_API="http://127.0.0.1:$port"
export SCHEMATHESIS_HOOKS=fuzz_hooks PYTHONPATH="$PWD/scripts${PYTHONPATH:+:$PYTHONPATH}"

# Runs kafka-sync local on store $2 and schemathesis against it; $1 names the run.
fuzz() {
  local name="$1" store="$2" status=0
  mkdir -p "$work/$name"
  KAFKA_SYNC_HOME="$work/$name" "$binary" local --listen "127.0.0.1:$port" --store "$store" \
    >"$work/$name.log" 2>&1 &
  service=$!
  for _ in $(seq 1 100); do
    curl -fs "$KSYNC_FUZZ_API/healthz" >/dev/null && break
    sleep 0.1
  done
  log "$name store: schemathesis, $examples examples per operation ($SECONDS s)"
  # From the work directory, where schemathesis keeps its example database.
  (cd "$work" && schemathesis run "$KSYNC_FUZZ_API/v1/openapi.json" \
    --header "Authorization: Bearer $KAFKA_SYNC_TOKEN" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "$examples" --workers 1 --request-timeout 30 \
    ${FUZZ_SEED:+--seed "$FUZZ_SEED"}) || status=$?
  kill "$service"
  wait "$service" 2>/dev/null || true
  service=""
  if ((status != 0)); then
    log "$name store: failed; the service log follows"
    tail -n 50 "$work/$name.log" >&2
  fi
  return "$status"
}

status=0
fuzz embedded "$work/embedded/store.redb" || status=1
fuzz dynamodb "dynamodb://ksync-fuzz-$(date +%s)-$$" || status=1
log "done in $SECONDS s"
exit "$status"
