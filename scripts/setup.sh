#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian 12 machine, as root and
# without prompts. Each tool is installed only when it is missing or of
# another version, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'setup: %s\n' "$*" >&2; }

apt_packages=(
  # host executor tests and examples: Bash and Python shells, git for the
  # codebase values of `cloneCodebase` stages
  bash python3 git
  # kubernetes-validate runs in a virtual environment
  python3-venv
  # benchmarks (scripts/bench.sh): the JEXL 3 harness is compiled with javac
  # at each run, and /usr/bin/time reports each pipeline run's peak memory
  openjdk-17-jdk-headless libcommons-jexl3-java libcommons-logging-java time
  # container executor: containerd 1.6 and runc, protoc for the
  # containerd-client crate's generated gRPC code, tini as PID 1 of every
  # container, ip for network namespaces, busybox-static and jq for the test
  # image, docker-registry and htpasswd (apache2-utils) for pull tests,
  # iptables and nftables to check that no firewall rule is left
  containerd runc protobuf-compiler tini iproute2 busybox-static jq curl
  docker-registry apache2-utils iptables nftables
  # browser tests of the npm package and the preview page (Playwright
  # drives Debian's Chromium)
  chromium chromium-driver
)

missing=()
for package in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' \
    || missing+=("$package")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# rust-toolchain.toml pins the toolchain and lists the wasm target; rustup
# installs both on first use, and this makes that happen here, visibly.
rustup show active-toolchain >/dev/null
rustup target add wasm32-unknown-unknown >/dev/null

# kubernetes-validate checks every exported Kubernetes manifest against the
# API schemas it bundles, offline.
kubernetes_validate_version=1.37.0
venv=.venv
if ! "$venv/bin/kubernetes-validate" --version 2>/dev/null | grep -qx "$kubernetes_validate_version"; then
  log "installing kubernetes-validate $kubernetes_validate_version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "kubernetes-validate==$kubernetes_validate_version"
fi

# npm package: wasm-bindgen-cli at the Cargo.lock version, and the test
# dependencies of pkg/ (binaryen's wasm-opt, playwright-core, typescript)
# exactly as pkg/package-lock.json lists them.
npm ci --prefix pkg --no-audit --no-fund --loglevel=error
scripts/build-pkg.sh --install-tools

# Preview page: www/'s npm packages exactly as its package-lock.json lists
# them. `basso` links to ../pkg, which scripts/build-pkg.sh fills.
npm ci --prefix www --no-audit --no-fund --loglevel=error

log "ready"
