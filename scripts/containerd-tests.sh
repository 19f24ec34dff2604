#!/usr/bin/env bash
# Runs the container executor's integration tests on a private containerd
# and registry (scripts/containerd-env.sh). Needs root: the tests create
# network namespaces and cgroups.
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/containerd-env.sh \
  cargo test --locked -p basso-containerd --tests -- --ignored --test-threads=1 "$@"
