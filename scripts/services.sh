#!/usr/bin/env bash
# The real components kafka-sync is tested against, on 127.0.0.1:
#   - two single-node Apache Kafka 4.x KRaft clusters, "source" and "target";
#   - DynamoDB Local, in memory.
# The source broker refuses to auto-create topics (auto.create.topics.enable=false), so a
# test sees at once when something expects a topic nobody made. The target broker keeps
# Kafka's default, auto.create.topics.enable=true, as most users' brokers do: the tests
# then cover that the service itself never lets a target topic be auto-created with
# broker defaults (DESIGN §3, "Message data").
# Usage: scripts/services.sh up|down|status|env|kill NAME|restart NAME
#   up      fetch (once, cached), format and start what is not running; wait until each
#           answers. Harmless to run twice. A cluster that is not running starts from an
#           empty, freshly formatted log dir: tests use unique topics and need nothing
#           from a former run, and thousands of leftover topics make a broker slow to start.
#   down    stop only the processes this script started (recorded pid files).
#   status  say what runs.
#   env     print the variables the tests read, for `eval "$(scripts/services.sh env)"`.
#   kill NAME     SIGKILL the broker of cluster NAME (source|target), as a crash would:
#                 no controlled shutdown, no flush. Returns once the process is gone.
#   restart NAME  start cluster NAME's broker again ON ITS EXISTING DATA (topics, records,
#                 cluster id kept; only a log dir never formatted is formatted) and wait
#                 until it answers. For the tests of a broker crash and recovery.
# Ports (override by environment):
#   KSYNC_SOURCE_PORT (19092) KSYNC_SOURCE_CONTROLLER_PORT (19093)
#   KSYNC_SOURCE_SASL_PORT (19094: SASL_PLAINTEXT, PLAIN and SCRAM, user ksync)
#   KSYNC_TARGET_PORT (29092) KSYNC_TARGET_CONTROLLER_PORT (29093)
#   KSYNC_DYNAMODB_PORT (18000)
# Downloads go to ~/.m2 and $KAFKA_SYNC_CACHE (default ~/.cache/kafka-sync), never into
# the repository; runtime state to $KAFKA_SYNC_RUN (default $KAFKA_SYNC_CACHE/run).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${KAFKA_SYNC_CACHE:-$HOME/.cache/kafka-sync}"
run="${KAFKA_SYNC_RUN:-$cache/run}"
source_port="${KSYNC_SOURCE_PORT:-19092}"
source_controller_port="${KSYNC_SOURCE_CONTROLLER_PORT:-19093}"
source_sasl_port="${KSYNC_SOURCE_SASL_PORT:-19094}"
# The SASL user the source cluster knows, for tests of authenticated connections.
sasl_user=ksync
sasl_password=ksync-secret
target_port="${KSYNC_TARGET_PORT:-29092}"
target_controller_port="${KSYNC_TARGET_CONTROLLER_PORT:-29093}"
dynamodb_port="${KSYNC_DYNAMODB_PORT:-18000}"
# A third cluster, the source of the Lambda end-to-end test alone: its task syncs group
# offsets, which needs the all-topics range, so no other test's topics may be there.
lambda_port="${KSYNC_LAMBDA_PORT:-39092}"
lambda_controller_port="${KSYNC_LAMBDA_CONTROLLER_PORT:-39093}"
lambda_sasl_port="${KSYNC_LAMBDA_SASL_PORT:-39094}"
kafka_lib="$cache/lib/kafka"
dynamodb_lib="$cache/lib/dynamodb"

log() { printf '[services] %s\n' "$*" >&2; }

# Copies a pom's runtime dependencies into a cache folder, once per version of the pom.
fetch() {
  local pom="$1" dest="$2"
  local stamp
  stamp="$(sha256sum "$pom" | cut -d' ' -f1)"
  if [[ -f "$dest/.stamp" && "$(cat "$dest/.stamp")" == "$stamp" ]]; then
    return
  fi
  log "fetching $(basename "$(dirname "$pom")") jars with Maven into $dest"
  rm -rf "$dest.tmp"
  mvn -B -q -f "$pom" dependency:copy-dependencies \
    -DoutputDirectory="$dest.tmp" -DincludeScope=runtime >&2
  rm -rf "$dest"
  mv "$dest.tmp" "$dest"
  echo "$stamp" >"$dest/.stamp"
}

# True when the pid file names a live process of ours (its command line holds our marker).
running() {
  local pidfile="$1" marker="$2" pid
  [[ -f "$pidfile" ]] || return 1
  pid="$(cat "$pidfile")"
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker"
}

wait_for_port() {
  local name="$1" port="$2" pidfile="$3" logfile="$4"
  for _ in $(seq 1 240); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      log "$name answers on 127.0.0.1:$port"
      return 0
    fi
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      log "$name exited while starting; last lines of $logfile:"
      tail -n 40 "$logfile" >&2 || true
      return 1
    fi
    sleep 0.5
  done
  log "$name did not answer on port $port within 120 s; see $logfile"
  return 1
}

# start_kafka fresh|keep NAME PORT CONTROLLER_PORT AUTO_CREATE [SASL_PORT]: `fresh`
# formats an empty log dir; `keep` starts on the log dir there is (formatting it only when
# it never was). AUTO_CREATE is the broker's auto.create.topics.enable. A SASL_PORT adds a
# SASL_PLAINTEXT listener with PLAIN and SCRAM-SHA-256/512 for user $sasl_user.
start_kafka() {
  local mode="$1" name="$2" port="$3" controller_port="$4" auto_create="$5" sasl_port="${6:-}"
  local dir="$run/kafka-$name"
  mkdir -p "$dir"
  if running "$dir/pid" "$dir/server.properties"; then
    log "kafka $name already running (pid $(cat "$dir/pid"))"
    return
  fi
  local listeners="PLAINTEXT://127.0.0.1:$port"
  local protocols="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
  local sasl_config="" scram_args=()
  if [[ -n "$sasl_port" ]]; then
    listeners="$listeners,SASL_PLAINTEXT://127.0.0.1:$sasl_port"
    protocols="$protocols,SASL_PLAINTEXT:SASL_PLAINTEXT"
    sasl_config="sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$sasl_user=\"$sasl_password\";
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
    scram_args=(--add-scram "SCRAM-SHA-256=[name=$sasl_user,password=$sasl_password]"
      --add-scram "SCRAM-SHA-512=[name=$sasl_user,password=$sasl_password]")
  fi
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=$listeners,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols
$sasl_config
log.dirs=$dir/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=$auto_create
EOF
  cat >"$dir/log4j2.properties" <<EOF
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=file
appender.file.type=File
appender.file.name=file
appender.file.fileName=$dir/server.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
EOF
  # The format tool writes meta.properties last: a log dir that has it was formatted.
  if [[ "$mode" == keep && -f "$dir/data/meta.properties" ]]; then
    log "kafka $name starts on its existing data ($(grep '^cluster.id=' "$dir/data/meta.properties"))"
  else
    rm -rf "$dir/data"
    local cluster_id
    # `--cluster-id=ID`, not `-t ID`: an id may start with '-' (base64url), which the
    # tool's parser would take for an option.
    cluster_id="$(python3 -c 'import base64,uuid;print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')"
    log "formatting kafka $name (cluster id $cluster_id)"
    java -Dlog4j2.configurationFile="$dir/log4j2.properties" -cp "$kafka_lib/*" \
      kafka.tools.StorageTool format --cluster-id="$cluster_id" -c "$dir/server.properties" "${scram_args[@]}" >"$dir/format.log" 2>&1 \
      || { cat "$dir/format.log" >&2; return 1; }
  fi
  log "starting kafka $name on 127.0.0.1:$port"
  setsid nohup java -Xms256m -Xmx768m -XX:+UseG1GC \
    -Dlog4j2.configurationFile="$dir/log4j2.properties" \
    -cp "$kafka_lib/*" kafka.Kafka "$dir/server.properties" >"$dir/stdout.log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
}

start_dynamodb() {
  local dir="$run/dynamodb"
  mkdir -p "$dir"
  local marker="-Dksync.dynamodb=$dir"
  if running "$dir/pid" "$marker"; then
    log "dynamodb local already running (pid $(cat "$dir/pid"))"
    return
  fi
  log "starting dynamodb local on 127.0.0.1:$dynamodb_port"
  setsid nohup java -Xms128m -Xmx512m "$marker" -Djava.library.path="$dynamodb_lib" \
    -cp "$dynamodb_lib/*" software.amazon.dynamodb.services.local.main.ServerRunner \
    -inMemory -disableTelemetry -port "$dynamodb_port" >"$dir/stdout.log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
}

stop() {
  local name="$1" pidfile="$2" marker="$3"
  if ! running "$pidfile" "$marker"; then
    rm -f "$pidfile"
    return
  fi
  local pid
  pid="$(cat "$pidfile")"
  log "stopping $name (pid $pid)"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not stop within 30 s; killing it"
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

up() {
  command -v java >/dev/null || { log "java is not installed"; exit 1; }
  command -v mvn >/dev/null || { log "mvn is not installed"; exit 1; }
  fetch "$here/maven/kafka/pom.xml" "$kafka_lib"
  fetch "$here/maven/dynamodb/pom.xml" "$dynamodb_lib"
  start_kafka fresh source "$source_port" "$source_controller_port" false "$source_sasl_port"
  start_kafka fresh target "$target_port" "$target_controller_port" true
  start_kafka fresh lambda "$lambda_port" "$lambda_controller_port" true "$lambda_sasl_port"
  start_dynamodb
  wait_for_port "kafka source" "$source_port" "$run/kafka-source/pid" "$run/kafka-source/server.log"
  wait_for_port "kafka target" "$target_port" "$run/kafka-target/pid" "$run/kafka-target/server.log"
  wait_for_port "kafka lambda" "$lambda_port" "$run/kafka-lambda/pid" "$run/kafka-lambda/server.log"
  wait_for_port "dynamodb local" "$dynamodb_port" "$run/dynamodb/pid" "$run/dynamodb/stdout.log"
}

# kill_kafka NAME: SIGKILL, then wait (at most 30 s) until the process is gone, so the
# caller knows the port is closed and a restart will not meet the old process.
kill_kafka() {
  local name="$1" dir="$run/kafka-$1"
  if ! running "$dir/pid" "$dir/server.properties"; then
    log "kafka $name is not running"
    rm -f "$dir/pid"
    return
  fi
  local pid
  pid="$(cat "$dir/pid")"
  log "killing kafka $name (pid $pid) with SIGKILL"
  kill -9 "$pid"
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "kafka $name (pid $pid) is still there 30 s after SIGKILL"
    return 1
  fi
  rm -f "$dir/pid"
}

# restart_kafka NAME: the broker with the settings `up` gives it, on the data it has.
restart_kafka() {
  command -v java >/dev/null || { log "java is not installed"; exit 1; }
  case "$1" in
    source) start_kafka keep source "$source_port" "$source_controller_port" false "$source_sasl_port" ;;
    target) start_kafka keep target "$target_port" "$target_controller_port" true ;;
  esac
  local port_var="${1}_port"
  wait_for_port "kafka $1" "${!port_var}" "$run/kafka-$1/pid" "$run/kafka-$1/server.log"
}

cluster_name() {
  case "${1:-}" in
    source | target) ;;
    *)
      echo "usage: $0 kill|restart source|target" >&2
      exit 2
      ;;
  esac
}

down() {
  stop "kafka source" "$run/kafka-source/pid" "$run/kafka-source/server.properties"
  stop "kafka target" "$run/kafka-target/pid" "$run/kafka-target/server.properties"
  stop "kafka lambda" "$run/kafka-lambda/pid" "$run/kafka-lambda/server.properties"
  stop "dynamodb local" "$run/dynamodb/pid" "-Dksync.dynamodb=$run/dynamodb"
}

status() {
  local all=0
  for entry in "kafka source|$run/kafka-source/pid|$run/kafka-source/server.properties" \
    "kafka target|$run/kafka-target/pid|$run/kafka-target/server.properties" \
    "kafka lambda|$run/kafka-lambda/pid|$run/kafka-lambda/server.properties" \
    "dynamodb local|$run/dynamodb/pid|-Dksync.dynamodb=$run/dynamodb"; do
    IFS='|' read -r name pidfile marker <<<"$entry"
    if running "$pidfile" "$marker"; then
      echo "$name: running (pid $(cat "$pidfile"))"
    else
      echo "$name: stopped"
      all=1
    fi
  done
  return "$all"
}

env_vars() {
  cat <<EOF
export KSYNC_SOURCE_BOOTSTRAP=127.0.0.1:$source_port
export KSYNC_SOURCE_SASL_BOOTSTRAP=127.0.0.1:$source_sasl_port
export KSYNC_SASL_USER=$sasl_user
export KSYNC_SASL_PASSWORD=$sasl_password
export KSYNC_TARGET_BOOTSTRAP=127.0.0.1:$target_port
export KSYNC_LAMBDA_BOOTSTRAP=127.0.0.1:$lambda_port
export KSYNC_LAMBDA_SASL_BOOTSTRAP=127.0.0.1:$lambda_sasl_port
export DYNAMODB_ENDPOINT=http://127.0.0.1:$dynamodb_port
EOF
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  env) env_vars ;;
  kill)
    cluster_name "${2:-}"
    kill_kafka "$2"
    ;;
  restart)
    cluster_name "${2:-}"
    restart_kafka "$2"
    ;;
  *)
    echo "usage: $0 up|down|status|env|kill NAME|restart NAME" >&2
    exit 2
    ;;
esac
