#!/usr/bin/env bash
# Runs every test: installs what they need, builds, then unit and end-to-end
# tests (the latter build network namespaces and need root).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
# A clean build gains nothing from incremental caches, which would take gigabytes of disk.
export CARGO_INCREMENTAL=0
cargo build --workspace --all-targets --locked   # one feature set: the tests reuse these binaries
# The .deb packages; tests/tests/package.rs installs them and the image test
# boots them. What those tests check (files, units, a first 302) does not
# depend on cross-crate LTO, which was two-thirds of this build's time (the
# two big binaries' thin-LTO codegen ran 20+ CPU-minutes each on two cores):
# here the release profile skips it. The shipped build (package.sh alone)
# keeps the workspace's profile.
CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 ./scripts/package.sh
if [ "$(id -u)" = 0 ]; then
  ./image/build.sh             # the appliance's disk image; tests/tests/image.rs boots it in QEMU
fi
cargo test --workspace --locked
