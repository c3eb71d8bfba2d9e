#!/usr/bin/env bash
# Runs every test: installs what they need, builds, then unit and end-to-end
# tests (the latter build network namespaces and need root).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
# A clean build gains nothing from incremental caches, which would take gigabytes of disk.
export CARGO_INCREMENTAL=0
cargo build --workspace --all-targets --locked   # one feature set: the tests reuse these binaries
./scripts/package.sh           # the .deb packages; tests/tests/package.rs installs them
if [ "$(id -u)" = 0 ]; then
  ./image/build.sh             # the appliance's disk image; tests/tests/image.rs boots it in QEMU
fi
cargo test --workspace --locked
