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
cargo test --workspace --locked "$@"
