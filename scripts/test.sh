#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs the tools, starts the two Kafka
# clusters and DynamoDB Local (and stops them afterwards if this script started them),
# then runs every unit and integration test of the workspace.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
if scripts/services.sh status >/dev/null 2>&1; then
  started_here=false
else
  started_here=true
  trap 'scripts/services.sh down' EXIT
fi
scripts/services.sh up
eval "$(scripts/services.sh env)"
summary="${KAFKA_SYNC_TEST_SUMMARY:-$(mktemp)}"
set +e
cargo test --workspace --locked "$@" 2>&1 | tee "$summary.log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole suite (cargo prints one per test binary).
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' \
  "$summary.log" | tee "$summary"
rm -f "$summary.log"
exit "$status"
