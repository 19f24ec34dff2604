#!/usr/bin/env bash
# Runs the container executor's integration tests on a private containerd
# and registry (scripts/containerd-env.sh). Needs root: the tests create
# network namespaces and cgroups. Arguments go to the test binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
# The gc tests run the `basso` binary itself, from Cargo's output folder
# (CARGO_TARGET_DIR, a Cargo config's build.target-dir, or target/).
cargo build --locked -p basso-cli
target_dir=$(cargo metadata --format-version 1 --no-deps --locked | jq -r .target_directory)
export BASSO_TEST_BASSO_BIN=$target_dir/debug/basso
exec scripts/containerd-env.sh \
  cargo test --locked -p basso-containerd --tests -- --ignored --test-threads=1 "$@"
