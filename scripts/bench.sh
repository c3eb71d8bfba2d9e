#!/usr/bin/env bash
# The benchmarks: SMS pumping, the member feed (a throwaway PostgreSQL),
# headquarters (1,000 sites, two replicas, a 10-minute outage), chain statistics
# (a year of 100 sites' figures, 1,000 sites feeding the roller), chain vouchers
# (a card's key, a batch, a site's store taking batches and uses, logins), footfall (a busy
# site's day rolled up, a year read), the data path
# (its own namespaces), each printing its figures.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
# The same features as package.sh and try.sh (the e2e crate, left out, would turn on syn's `fold` and
# rebuild every proc macro and the controller after it): switching scripts relinks nothing.
cargo build --release --workspace --exclude e2e --bins --locked
./target/release/sms-pumping-bench
echo
./target/release/member-feed-bench
echo
./target/release/hq-bench
echo
./target/release/hq-stats-bench
echo
./target/release/chain-vouchers-bench
echo
./target/release/footfall-bench
echo
exec ./target/release/datapath-bench
