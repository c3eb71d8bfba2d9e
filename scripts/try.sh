#!/usr/bin/env bash
# Runs the appliance on its embedded default (SQLite) inside a lab guest
# network built from network namespaces. Ctrl-C removes everything.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cargo build --release --bin controller --bin ap-agent --bin guestwifi-lab --bin guestwifi-hq --locked
exec ./target/release/guestwifi-lab "$@"
