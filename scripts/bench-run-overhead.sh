#!/usr/bin/env bash
# Measures `basso run`'s own cost per step: a pipeline of N Run steps that
# each run `echo step` is timed against the same N scripts run with
# `sh -c` one after another. Prints both totals, the cost per step and the
# ratio. Usage: scripts/bench-run-overhead.sh [STEPS]  (default 50)
set -euo pipefail
cd "$(dirname "$0")/.."

steps=${1:-50}
cargo build --release --quiet -p basso-cli
basso=target/release/basso
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

{
  cat <<'YAML'
pipeline:
  name: bench
  identifier: bench
  stages:
    - stage:
        name: bench
        identifier: bench
        type: CI
        spec:
          cloneCodebase: false
          platform:
            os: Linux
            arch: Amd64
          runtime:
            type: Cloud
            spec: {}
          execution:
            steps:
YAML
  for i in $(seq "$steps"); do
    cat <<YAML
              - step:
                  type: Run
                  name: s$i
                  identifier: s$i
                  spec:
                    shell: Sh
                    command: echo step
YAML
  done
} >"$dir/pipeline.yaml"

now_ns() { date +%s%N; }

start=$(now_ns)
for _ in $(seq "$steps"); do sh -c 'set -e; echo step' >/dev/null; done
sh_ns=$(($(now_ns) - start))

start=$(now_ns)
"$basso" run "$dir/pipeline.yaml" --workspace "$dir/ws" >/dev/null 2>&1
basso_ns=$(($(now_ns) - start))

awk -v n="$steps" -v sh="$sh_ns" -v b="$basso_ns" 'BEGIN {
  printf "steps: %d\n", n
  printf "sh -c:     %8.1f ms total, %6.2f ms per step\n", sh / 1e6, sh / 1e6 / n
  printf "basso run: %8.1f ms total, %6.2f ms per step\n", b / 1e6, b / 1e6 / n
  printf "basso overhead per step: %.2f ms; ratio basso/sh: %.2f\n", (b - sh) / 1e6 / n, b / sh
}'
