#!/usr/bin/env bash
# The data-path benchmark: builds its own namespaces, prints (a)-(d).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release --bins --locked
./target/release/sms-pumping-bench
echo
exec ./target/release/datapath-bench
