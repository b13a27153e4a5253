#!/usr/bin/env bash
# Regenerates bench/REPORT.md and bench/report.png from scratch: installs what is
# missing, starts the two local Kafka clusters afresh (stopping any running ones, and
# stopping them again at the end), then measures, one after the other on identical data, the pipe limit,
# kafka-sync (`kafka-sync local` on its embedded store, then on DynamoDB Local) and MirrorMaker 2 (dedicated mode,
# IdentityReplicationPolicy). Figures go to bench/results.json first.
# Environment: BENCH_SCALE (multiplies every record count, default 1), BENCH_ONLY
# (comma-separated workload ids: 1k, 100b, 20x4, offsets, latency, new-topic).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cache="${KAFKA_SYNC_CACHE:-$HOME/.cache/kafka-sync}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
scripts/setup.sh
python="$cache/venv/bin/python"
"$python" -c 'import matplotlib' 2>/dev/null \
  || "$cache/venv/bin/pip" install -q --disable-pip-version-check matplotlib

# Fresh clusters: the offsets workload copies every source topic, and figures should not
# depend on what earlier runs left behind.
scripts/services.sh down
trap 'scripts/services.sh down' EXIT
scripts/services.sh up
eval "$(scripts/services.sh env)"

BENCH_OUT="$PWD/bench/results.json" cargo bench --locked -p kafka-sync-tests --bench compare
"$python" bench/report.py bench/results.json bench
echo "bench/REPORT.md and bench/report.png regenerated"
