#!/usr/bin/env bash
# Stops a test run at its start when the disk under Cargo's output folder
# has less room than a full run writes there. Without this check, the
# linker fails later with a bus error that does not name the full disk.
set -euo pipefail
cd "$(dirname "$0")/.."

# What a full run of scripts/test.sh leaves in Cargo's output folder on a
# clean clone, with some room to spare ("Disk a test run takes" in
# docs/benchmarks.md).
need_mib=3200

target_dir=$(cargo metadata --format-version 1 --no-deps --locked | jq -r .target_directory)
mkdir -p "$target_dir"
free_mib=$(df --output=avail -m "$target_dir" | tail -n 1 | tr -d ' ')
# A later build reuses or replaces the files of an earlier one, so their
# size counts as room.
built_mib=$(du -sm "$target_dir" | cut -f 1)
if ((free_mib + built_mib < need_mib)); then
  echo "disk-check: not enough disk: $free_mib MiB free under $target_dir, and a full test run writes about $need_mib MiB there" >&2
  echo "disk-check: free at least $((need_mib - built_mib - free_mib)) MiB on that disk, or point CARGO_TARGET_DIR at a larger one" >&2
  exit 1
fi
echo "disk-check: $free_mib MiB free under $target_dir; a full test run writes about $need_mib MiB there" >&2
