#!/usr/bin/env bash
# The main job on a fresh machine: installs what is missing, starts the two local Kafka
# clusters, builds and runs `kafka-sync local` on its embedded store, and registers an
# instance-level task copying every topic of the source cluster (127.0.0.1:19092) to the
# target (127.0.0.1:29092) with metadata, messages and consumer-group offsets.
# Ctrl-C stops kafka-sync; the clusters are stopped too if this script started them.
# Environment: KAFKA_SYNC_TOKEN (API token, default "local-dev-token"), KAFKA_SYNC_LISTEN
# (default 127.0.0.1:8080), KAFKA_SYNC_HOME (store and key, default
# ~/.local/share/kafka-sync).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
if scripts/services.sh status >/dev/null 2>&1; then
  started_services=false
else
  started_services=true
fi
scripts/services.sh up
# Freshly started clusters are freshly formatted: tasks and checkpoints kept in the store
# from an earlier run would point at data that is gone, so the store starts empty too.
if $started_services; then
  rm -f "${KAFKA_SYNC_HOME:-$HOME/.local/share/kafka-sync}/store.redb"
fi
eval "$(scripts/services.sh env)"

cargo build --release --locked -p kafka-sync
export KAFKA_SYNC_TOKEN="${KAFKA_SYNC_TOKEN:-local-dev-token}"
listen="${KAFKA_SYNC_LISTEN:-127.0.0.1:8080}"
target_dir="${CARGO_TARGET_DIR:-target}"
"$target_dir/release/kafka-sync" local --listen "$listen" &
service=$!
cleanup() {
  kill "$service" 2>/dev/null || true
  wait "$service" 2>/dev/null || true
  if $started_services; then scripts/services.sh down; fi
}
trap cleanup EXIT INT TERM

api() {
  curl -sS -H "Authorization: Bearer $KAFKA_SYNC_TOKEN" -H 'Content-Type: application/json' "$@"
}
for _ in $(seq 1 100); do
  curl -fsS "http://$listen/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done

# Register the clusters and the task once; a restart finds them in the store.
connection_id() {
  api "http://$listen/v1/connections" | python3 -c \
    "import json,sys; print(next((c['id'] for c in json.load(sys.stdin)['connections'] if c['name']==sys.argv[1]), ''))" "$1"
}
for name in source target; do
  if [[ -z "$(connection_id "$name")" ]]; then
    bootstrap=$KSYNC_SOURCE_BOOTSTRAP
    [[ $name == target ]] && bootstrap=$KSYNC_TARGET_BOOTSTRAP
    api -X POST "http://$listen/v1/connections" -d "{\"name\": \"$name\", \"bootstrap\": \"$bootstrap\"}" >/dev/null
  fi
done
source_id=$(connection_id source)
target_id=$(connection_id target)
if ! api "http://$listen/v1/tasks" | grep -q '"name":"local-dr"'; then
  api -X POST "http://$listen/v1/tasks" -d "{\"name\": \"local-dr\", \"kind\": \"instance\",
    \"source\": \"$source_id\", \"target\": \"$target_id\", \"sync\": \"metadata+messages+offsets\",
    \"start_offset\": \"earliest\", \"topics\": {\"all\": true}, \"same_partition\": true}" >/dev/null
fi
task_id=$(api "http://$listen/v1/tasks" | python3 -c \
  "import json,sys; print(next(t['id'] for t in json.load(sys.stdin)['tasks'] if t['name']=='local-dr'))")

cat <<INFO
kafka-sync local is syncing $KSYNC_SOURCE_BOOTSTRAP -> $KSYNC_TARGET_BOOTSTRAP (task local-dr).
  dashboard: http://$listen/  (enter the token $KAFKA_SYNC_TOKEN)
  metrics:   http://$listen/metrics  (Prometheus; no token on loopback)
  API:      http://$listen  (Authorization: Bearer $KAFKA_SYNC_TOKEN)
  progress: curl -H 'Authorization: Bearer $KAFKA_SYNC_TOKEN' http://$listen/v1/tasks/$task_id/progress
  events:   curl -H 'Authorization: Bearer $KAFKA_SYNC_TOKEN' http://$listen/v1/tasks/$task_id/events
Ctrl-C to stop.
INFO

# One live progress line: records copied, lag, and the rate over the last interval. On a
# terminal it is rewritten in place; otherwise a line is printed every 10 s.
progress_line() {
  api "http://$listen/v1/tasks/$task_id/progress" | python3 -c '
import json, sys, time
totals = json.load(sys.stdin)["totals"]
before, at = int(sys.argv[1]), float(sys.argv[2])
now = time.time()
copied, lag = totals["messages"], totals["lag"]
rate = (copied - before) / (now - at) if before >= 0 else 0.0
print(f"{copied} {now} copied {copied:,} records, lag {lag:,}, {rate:,.0f} records/s")
' "$1" "$2"
}
before=-1
at=$(date +%s.%N)
every=2
[[ -t 1 ]] || every=10
while kill -0 "$service" 2>/dev/null; do
  if line=$(progress_line "$before" "$at" 2>/dev/null); then
    read -r before at text <<<"$line"
    if [[ -t 1 ]]; then printf '\r\033[K%s' "$text"; else printf '%s\n' "$text"; fi
  fi
  sleep "$every"
done
wait "$service"
