#!/usr/bin/env bash
# Installs what the tests need (scripts/setup.sh), then runs every test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

cargo test --workspace --locked
