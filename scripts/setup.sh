#!/usr/bin/env bash
# Installs every tool kafka-sync's build, tests and deploy checks need on a fresh machine
# of this kind (Debian, root, package registries only). Harmless to run again: each step
# is skipped when its tool is already there. Caches live outside the repository.
set -euo pipefail

cache="${KAFKA_SYNC_CACHE:-$HOME/.cache/kafka-sync}"
venv="$cache/venv"
log() { printf '[setup] %s\n' "$*" >&2; }

# Debian packages: Java 17 and Maven run the brokers and DynamoDB Local; cmake, a C/C++
# toolchain and perl build librdkafka and the vendored OpenSSL; python3-venv holds the
# SAM tools; chromium runs the dashboard's browser test (tests/dashboard.rs).
need_apt=()
for tool in java:openjdk-17-jre-headless mvn:maven cmake:cmake cc:build-essential \
  c++:build-essential make:make perl:perl pkg-config:pkg-config python3:python3 \
  curl:curl sha256sum:coreutils setsid:util-linux chromium:chromium; do
  command -v "${tool%%:*}" >/dev/null || need_apt+=("${tool#*:}")
done
python3 -c 'import ensurepip, venv' 2>/dev/null || need_apt+=(python3-venv)
if ((${#need_apt[@]})); then
  log "installing Debian packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# Rust, with the components CI uses.
if ! command -v cargo >/dev/null; then
  log "cargo is missing: install Rust with rustup first"
  exit 1
fi
if command -v rustup >/dev/null; then
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
fi

# SAM CLI, cfn-lint and cargo-lambda (with zig) in a venv of their own.
if [[ ! -x "$venv/bin/sam" || ! -x "$venv/bin/cfn-lint" || ! -x "$venv/bin/cargo-lambda" ]]; then
  log "installing aws-sam-cli, cfn-lint, cargo-lambda and ziglang into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check aws-sam-cli cfn-lint cargo-lambda ziglang
fi

# schemathesis fuzzes the HTTP API (scripts/fuzz-api.sh); confluent-kafka makes its
# fixture topic.
if [[ ! -x "$venv/bin/schemathesis" ]] || ! "$venv/bin/python" -c 'import confluent_kafka' 2>/dev/null; then
  log "installing schemathesis and confluent-kafka into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check schemathesis confluent-kafka
fi

# playwright drives Debian's chromium in the dashboard's browser test; it is told where
# chromium is, so it downloads no browser of its own.
if ! "$venv/bin/python" -c 'import playwright' 2>/dev/null; then
  log "installing playwright into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check playwright
fi

# AWS's Lambda runtime interface emulator runs each function's binary in the Lambda
# harness (tests/support/lambda.rs), from the Go module proxy.
rie_version=v0.0.0-20261030222936-bef5c4ba774d
if [[ ! -x "$cache/bin/aws-lambda-rie" ]]; then
  command -v go >/dev/null || { log "go is missing: install Go first"; exit 1; }
  log "installing aws-lambda-rie $rie_version into $cache/bin"
  GOBIN="$cache/bin" go install \
    "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$rie_version"
fi

# moto's server mode is the Secrets Manager endpoint of the Lambda harness (the one AWS
# API with no local build).
if [[ ! -x "$venv/bin/moto_server" ]]; then
  log "installing moto[server] into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'moto[server]'
fi
