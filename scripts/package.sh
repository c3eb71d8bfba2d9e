#!/usr/bin/env bash
# Builds the .deb packages (guestwifi-controller, guestwifi-ap-agent, guestwifi-hq) into
# target/debian/: release binaries, completions and the manual page from
# the CLI, then cargo-deb. Prints each package and its size.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-deb >/dev/null || cargo install cargo-deb --locked --version 3.8.0
cargo build --release --locked -p controller -p ap-agent -p guestwifi-hq
mkdir -p target/release/assets
# Generated under the packaged name, so completions complete that command.
ln -sf ../controller target/release/assets/guestwifi-controller
./target/release/assets/guestwifi-controller completions bash > target/release/assets/guestwifi-controller.bash
./target/release/assets/guestwifi-controller completions zsh > target/release/assets/_guestwifi-controller
./target/release/assets/guestwifi-controller completions fish > target/release/assets/guestwifi-controller.fish
./target/release/assets/guestwifi-controller man > target/release/assets/guestwifi-controller.1
cargo deb --no-build -p controller
cargo deb --no-build -p ap-agent
cargo deb --no-build -p guestwifi-hq
ls -l target/debian/*.deb | awk '{print $NF, $5" bytes"}'
