#!/usr/bin/env bash
# Builds the npm package in pkg/: a size-tuned wasm32 build of basso-wasm,
# JavaScript glue and TypeScript declarations from wasm-bindgen, then
# wasm-opt. Installs the tools it needs from the package registries.
#
#   scripts/build-pkg.sh                    release package into pkg/web/
#   scripts/build-pkg.sh --fault-injection  debug build with `injectFault`
#                                           into target/pkg-fault-injection/
#   scripts/build-pkg.sh --install-tools    only install the tools
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf 'build-pkg: %s\n' "$*" >&2; }

mode=release
case "${1:-}" in
  "") ;;
  --fault-injection) mode=fault-injection ;;
  --install-tools) mode=install-tools ;;
  *) log "unknown option \`$1\`; expected --fault-injection or --install-tools"; exit 2 ;;
esac

# The CLI must be the exact version of the wasm-bindgen crate in Cargo.lock,
# or the generated glue does not match the module.
install_wasm_bindgen_cli() {
  local version
  version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print }' Cargo.lock)
  if [[ -z "$version" ]]; then
    log "Cargo.lock has no wasm-bindgen entry; run \`cargo generate-lockfile\`"
    exit 2
  fi
  if [[ "$(wasm-bindgen --version 2>/dev/null)" == "wasm-bindgen $version" ]]; then
    return
  fi
  log "installing wasm-bindgen-cli $version (takes 3 to 5 minutes)"
  # No --locked: the CLI's own lockfile pins crate versions (webpki-roots
  # 1.0.11 for 0.2.130) that the registry reachable here does not serve.
  cargo install wasm-bindgen-cli --version "$version" --force
}

# wasm-opt comes from the npm package `binaryen` (a devDependency of pkg/).
# Debian 12's binaryen 108 rewrites the exported externref table of
# wasm-bindgen 0.2.130 output into a funcref table, and the module then
# fails to load, so /usr/bin/wasm-opt is never used.
install_binaryen() {
  if [[ ! -x pkg/node_modules/.bin/wasm-opt ]]; then
    log "installing the npm devDependencies of pkg/"
    npm ci --prefix pkg --no-audit --no-fund
  fi
}

rustup target add wasm32-unknown-unknown >/dev/null 2>&1
install_wasm_bindgen_cli
install_binaryen
if [[ "$mode" == install-tools ]]; then
  exit 0
fi

# Cargo's output folder: CARGO_TARGET_DIR, build.target-dir in a Cargo
# config, or target/ in the workspace, as `cargo metadata` resolves them.
target_dir=$(cargo metadata --format-version 1 --no-deps --locked | jq -r .target_directory)

if [[ "$mode" == fault-injection ]]; then
  cargo build --locked -p basso-wasm --target wasm32-unknown-unknown --features fault-injection
  module="$target_dir/wasm32-unknown-unknown/debug/basso_wasm.wasm"
  wasm-bindgen --target web --out-name basso --out-dir target/pkg-fault-injection \
    --experimental-reset-state-function "$module"
  log "target/pkg-fault-injection/ from $module"
  exit 0
fi

cargo build --locked -p basso-wasm --target wasm32-unknown-unknown --profile wasm-release
# pkg/basso.js calls the generated `__wbg_reset_state` to replace the
# instance after an internal fault.
module="$target_dir/wasm32-unknown-unknown/wasm-release/basso_wasm.wasm"
wasm-bindgen --target web --out-name basso --out-dir pkg/web \
  --experimental-reset-state-function --remove-name-section --remove-producers-section \
  "$module"
# --converge repeats the passes until the module stops shrinking. That is
# 3.7 KB less gzipped than one -O3 round. wasm-opt then takes about twice
# as long: 97 s against 45 s on 2 loaded cores (docs/benchmarks.md).
pkg/node_modules/.bin/wasm-opt -O3 --converge pkg/web/basso_bg.wasm -o pkg/web/basso_bg.wasm

# The glue is an ES module; say so for tools that do not read the
# package's own "type".
printf '{ "type": "module" }\n' >pkg/web/package.json
cp LICENSE pkg/LICENSE

raw=$(wc -c <pkg/web/basso_bg.wasm)
gzipped=$(gzip -9 <pkg/web/basso_bg.wasm | wc -c)
log "pkg/web/basso_bg.wasm from $module: $raw bytes, $gzipped bytes gzipped (gzip -9)"
