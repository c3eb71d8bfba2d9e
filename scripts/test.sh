#!/usr/bin/env bash
# Runs every test: installs what they need, builds, then unit and end-to-end
# tests (the latter build network namespaces and need root).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cargo build --workspace --bins --locked
cargo test --workspace --locked
