#!/usr/bin/env bash
# Installs what the tests need (scripts/setup.sh), then runs every test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

# Without incremental builds: a full run builds everything once, and the
# incremental caches would only take disk.
export CARGO_INCREMENTAL=0
scripts/disk-check.sh

# Rust: unit, snapshot and conformance tests of every crate.
# The basso-kube tests save every manifest they export here, and
# kubernetes-validate then checks each one strictly against Kubernetes 1.33.
manifests=target/kube-manifests
rm -rf "$manifests"
BASSO_KUBE_MANIFEST_DIR="$PWD/$manifests" cargo test --workspace --locked

shopt -s nullglob
exported=("$manifests"/*.yaml)
if ((${#exported[@]} == 0)); then
  echo "test: no exported Kubernetes manifests in $manifests" >&2
  exit 1
fi
.venv/bin/kubernetes-validate --strict --quiet --kubernetes-version 1.33.0 "${exported[@]}"
echo "kubernetes-validate: ${#exported[@]} manifests passed" >&2

# Container executor on a private containerd and registry (needs root).
scripts/containerd-tests.sh

# Benchmarks: a few iterations of every harness, so that none of them rots.
# The smoke run checks each harness's results and that it produces every
# figure. It checks nothing about speed.
scripts/bench.sh --smoke

# npm package: the WebAssembly build (and a build with Cargo's output
# elsewhere), then the same conformance vectors and corpus pipelines in Node
# and in headless Chromium, and an install of the packed tarball into a
# scratch project
cargo build --locked -p basso-cli
# The Node tests compare the package with this binary; Cargo's output folder
# may be CARGO_TARGET_DIR or a configured one instead of target/.
target_dir=$(cargo metadata --format-version 1 --no-deps --locked | jq -r .target_directory)
export BASSO_BIN="$target_dir/debug/basso"
scripts/build-pkg.sh
scripts/build-pkg.sh --fault-injection
node --test pkg/tests/build/
node --test pkg/tests/node/
node --test pkg/tests/browser/
node --test pkg/tests/consumer/

# Preview page: static files built with the package from pkg/, then the
# end-to-end test in headless Chromium (screenshots go to test-artifacts/).
npm --prefix www run build
npm --prefix www test
