#!/usr/bin/env bash
# Measures the container executor against bare `ctr run` on a private
# containerd; results go to docs/benchmarks.md by hand, with the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked --release -p basso-containerd --example bench
exec scripts/containerd-env.sh target/release/examples/bench
