#!/usr/bin/env bash
# Writes a one-layer OCI image archive built from Debian's busybox-static, so
# the container tests need no registry and no network.
#
#   scripts/make-test-image.sh OUT.tar [REFERENCE]
#
# REFERENCE defaults to docker.io/library/basso-busybox:latest and is stored
# in the `io.containerd.image.name` annotation, which `ctr images import`
# uses as the image name. Same input, same digests: tar and gzip run with
# fixed owners, order and times.
set -euo pipefail

out=$1
reference=${2:-docker.io/library/basso-busybox:latest}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Root filesystem: busybox and one symlink per applet, a user `ci` (1000)
# for run-as-user tests and a page for `httpd -h /www`.
rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,etc,tmp,proc,sys,dev,root,www,harness}
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $("$rootfs/bin/busybox" --list); do
  [[ $applet == busybox ]] || ln -s busybox "$rootfs/bin/$applet"
done
cat > "$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
ci:x:1000:1000:ci:/tmp:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/sh
PASSWD
printf 'root:x:0:\nci:x:1000:\nnogroup:x:65534:\n' > "$rootfs/etc/group"
echo 'hello from basso-busybox' > "$rootfs/www/index.html"
chmod 1777 "$rootfs/tmp"

# blob FILE: moves FILE into blobs/sha256/ and prints "DIGEST SIZE".
layout=$work/layout
mkdir -p "$layout/blobs/sha256"
blob() {
  local digest size
  digest=$(sha256sum "$1" | cut -d' ' -f1)
  size=$(stat -c %s "$1")
  mv "$1" "$layout/blobs/sha256/$digest"
  echo "$digest $size"
}

tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 \
  -C "$rootfs" -cf "$work/layer.tar" .
# The config lists the digest of the uncompressed layer (its diff id); the
# manifest lists the digest of the compressed blob.
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
gzip -n -c "$work/layer.tar" > "$work/layer.tar.gz"
read -r layer_digest layer_size < <(blob "$work/layer.tar.gz")

jq -cn --arg diff "sha256:$diff_id" '{
  architecture: "amd64", os: "linux",
  config: {
    Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    Entrypoint: ["/bin/sh", "-c"], Cmd: ["echo image default command in $(pwd)"],
    WorkingDir: "/"
  },
  rootfs: {type: "layers", diff_ids: [$diff]}
}' > "$work/config.json"
read -r config_digest config_size < <(blob "$work/config.json")

jq -cn --arg c "sha256:$config_digest" --argjson cs "$config_size" \
  --arg l "sha256:$layer_digest" --argjson ls "$layer_size" '{
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $c, size: $cs},
  layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $l, size: $ls}]
}' > "$work/manifest.json"
read -r manifest_digest manifest_size < <(blob "$work/manifest.json")

jq -cn --arg m "sha256:$manifest_digest" --argjson ms "$manifest_size" \
  --arg ref "$reference" '{
  schemaVersion: 2,
  manifests: [{
    mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $m, size: $ms,
    annotations: {"io.containerd.image.name": $ref, "org.opencontainers.image.ref.name": ($ref | sub(".*:"; ""))}
  }]
}' > "$layout/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"
tar -C "$layout" -cf "$out" oci-layout index.json blobs
