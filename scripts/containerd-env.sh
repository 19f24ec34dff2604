#!/usr/bin/env bash
# Starts a private containerd and a private registry for the container
# tests, runs a command with their addresses in the environment, then stops
# both by PID and removes what they left.
#
#   scripts/containerd-env.sh COMMAND [ARG...]
#
# The command sees:
#   BASSO_TEST_CONTAINERD          containerd's gRPC socket (own root and state)
#   BASSO_TEST_NAMESPACE           a containerd namespace unique to this run
#   BASSO_TEST_IMAGE_ARCHIVE       busybox OCI archive, docker.io/library/basso-busybox:latest
#   BASSO_TEST_REGISTRY            127.0.0.1:PORT of docker-registry (basic auth)
#   BASSO_TEST_REGISTRY_USER       its user
#   BASSO_TEST_REGISTRY_PASSWORD   its password (random per run, never an argument)
# Nothing talks to the system containerd or to any address but 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

scratch=$(mktemp -d /tmp/basso-containerd.XXXXXX)
socket=$scratch/containerd.sock
containerd_pid=
registry_pid=

log() { printf 'containerd-env: %s\n' "$*" >&2; }

cleanup() {
  local status=$?
  if [[ -n $containerd_pid ]]; then
    # Stopping containerd leaves running shims behind, so tasks go first.
    for namespace in $(ctr --address "$socket" namespaces list -q 2>/dev/null); do
      local ctr_ns=(ctr --address "$socket" --namespace "$namespace")
      for task in $("${ctr_ns[@]}" tasks list -q 2>/dev/null); do
        "${ctr_ns[@]}" tasks kill --all --signal SIGKILL "$task" >/dev/null 2>&1 || true
      done
      sleep 0.2
      for task in $("${ctr_ns[@]}" tasks list -q 2>/dev/null); do
        "${ctr_ns[@]}" tasks delete --force "$task" >/dev/null 2>&1 || true
      done
      for container in $("${ctr_ns[@]}" containers list -q 2>/dev/null); do
        "${ctr_ns[@]}" containers delete "$container" >/dev/null 2>&1 || true
      done
      # Empty parent cgroups runc leaves per namespace.
      rmdir /sys/fs/cgroup/*/"$namespace" "/run/containerd/runc/$namespace" 2>/dev/null || true
    done
    kill -TERM "$containerd_pid" 2>/dev/null || true
    wait "$containerd_pid" 2>/dev/null || true
  fi
  if [[ -n $registry_pid ]]; then
    kill -TERM "$registry_pid" 2>/dev/null || true
    wait "$registry_pid" 2>/dev/null || true
  fi
  # Overlay mounts of a killed task would keep the root busy.
  grep -o " $scratch/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$scratch"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$scratch/root" "$scratch/state"
cat > "$scratch/config.toml" <<TOML
version = 2
root = "$scratch/root"
state = "$scratch/state"
# The CRI plugin wants a pause image from a registry; basso does not use it.
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$socket"
[ttrpc]
  address = "$socket.ttrpc"
TOML
containerd --config "$scratch/config.toml" > "$scratch/containerd.log" 2>&1 &
containerd_pid=$!
for _ in $(seq 200); do
  ctr --address "$socket" version >/dev/null 2>&1 && break
  kill -0 "$containerd_pid" 2>/dev/null || { cat "$scratch/containerd.log" >&2; exit 2; }
  sleep 0.05
done
ctr --address "$socket" version >/dev/null
log "containerd $containerd_pid ready at $socket"

scripts/make-test-image.sh "$scratch/busybox.oci.tar"

# A free port from the kernel: bind port 0, read it back, release it.
registry_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
registry_user=ci
registry_password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
# -i reads the password from stdin, so it never appears in a process list.
printf '%s\n' "$registry_password" | htpasswd -iBc "$scratch/htpasswd" "$registry_user" 2>/dev/null
cat > "$scratch/registry.yml" <<YAML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $scratch/registry
http:
  addr: 127.0.0.1:$registry_port
  secret: basso-test-$registry_port
auth:
  htpasswd:
    realm: basso-test
    path: $scratch/htpasswd
YAML
docker-registry serve "$scratch/registry.yml" > "$scratch/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$registry_port/v2/" || true)
  [[ $code == 401 ]] && break
  sleep 0.05
done
[[ $code == 401 ]] || { cat "$scratch/registry.log" >&2; exit 2; }
log "registry $registry_pid ready at 127.0.0.1:$registry_port"

export BASSO_TEST_CONTAINERD=$socket
# runc keeps state under /run/containerd/runc/NAMESPACE and cgroups under
# /sys/fs/cgroup/*/NAMESPACE, both shared by all containerd instances, so
# concurrent runs need different namespaces.
export BASSO_TEST_NAMESPACE=basso-test-${scratch##*.}
export BASSO_TEST_IMAGE_ARCHIVE=$scratch/busybox.oci.tar
export BASSO_TEST_REGISTRY=127.0.0.1:$registry_port
export BASSO_TEST_REGISTRY_USER=$registry_user
export BASSO_TEST_REGISTRY_PASSWORD=$registry_password
"$@"
