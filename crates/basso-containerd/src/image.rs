//! Images: name normalisation, pull policies, pulls from registries into
//! containerd's content store, unpacking into snapshots, and archive import.
//!
//! containerd 1.6 has no transfer service, so a pull is done here: the
//! registry client `oci-client` fetches manifest, config and layers, which are
//! written to the content store with the garbage-collection labels containerd
//! expects, then every layer is applied to a snapshot (diff service) and
//! committed under its chain id. Requests to the registry have the time
//! limits of [`crate::registry`].

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

use basso_runner::StartDeadline;
use containerd_client::services::v1::snapshots::{
    CommitSnapshotRequest, PrepareSnapshotRequest, RemoveSnapshotRequest, StatSnapshotRequest,
    ViewSnapshotRequest,
};
use containerd_client::services::v1::{
    ApplyRequest, CreateImageRequest, CreateRequest as CreateLeaseRequest,
    DeleteRequest as DeleteLeaseRequest, GetImageRequest, Image, Info, InfoRequest,
    ReadContentRequest, UpdateImageRequest, UpdateRequest as UpdateContentRequest, WriteAction,
    WriteContentRequest,
};
use containerd_client::types::Descriptor;
use oci_client::Reference;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tonic::Code;

use crate::client::Containerd;
use crate::connectors::Connector;
use crate::error::{Error, Result};
use crate::registry::{Registry, connector_phrase};

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// The image label that stores the registry's digest for the tag at pull
/// time; `Always` compares it with the registry's current digest.
const SOURCE_DIGEST_LABEL: &str = "io.basso.source-digest";

/// `imagePullPolicy`, with Kubernetes' meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullPolicy {
    /// Ask the registry for the tag's digest on every run and pull when it
    /// differs from the local image.
    Always,
    /// Pull only when the image is not present.
    IfNotPresent,
    /// Never pull; a missing image is an error.
    Never,
}

impl PullPolicy {
    /// Parses an `imagePullPolicy` value. Without one, Kubernetes' default
    /// applies: `Always` for `:latest` or untagged images, else `IfNotPresent`.
    pub fn parse(value: Option<&str>, reference: &Reference) -> Result<PullPolicy> {
        match value {
            Some("Always") => Ok(PullPolicy::Always),
            Some("IfNotPresent") => Ok(PullPolicy::IfNotPresent),
            Some("Never") => Ok(PullPolicy::Never),
            Some(other) => Err(Error::new(format!(
                "invalid imagePullPolicy `{other}`\nhelp: use `Always`, `IfNotPresent` or `Never`"
            ))),
            None if reference.digest().is_none()
                && matches!(reference.tag(), None | Some("latest")) =>
            {
                Ok(PullPolicy::Always)
            }
            None => Ok(PullPolicy::IfNotPresent),
        }
    }
}

/// The parts of an image config a container needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// The full image name in containerd.
    pub name: String,
    /// `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `Cmd`.
    pub cmd: Vec<String>,
    /// `Env`, as `NAME=value`.
    pub env: Vec<String>,
    /// `WorkingDir`; empty means `/`.
    pub working_dir: String,
    /// `User`, as written in the image (`uid`, `uid:gid` or a name).
    pub user: String,
    /// The chain id of the top layer: the name of the committed snapshot the
    /// container's snapshot is prepared from.
    pub chain_id: String,
}

/// Normalises an image name as Docker does (`busybox` is
/// `docker.io/library/busybox:latest`). A name without a registry host takes
/// the connector's registry, so `connectorRef` plus `library/tomcat` works
/// for Docker Hub and `app:1` for a private registry; GCR and ECR names are
/// fully qualified already.
pub fn normalize_image(image: &str, connector: Option<&Connector>) -> Result<Reference> {
    let first = image.split('/').next().unwrap_or_default();
    let has_host =
        image.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let qualified = match connector {
        Some(connector) if !has_host && connector.registry_host() != "docker.io" => {
            format!("{}/{image}", connector.registry_host())
        }
        _ => image.to_string(),
    };
    let mut reference = Reference::from_str(&qualified).map_err(|error| {
        Error::new(format!(
            "invalid image `{image}`: {error}\n\
             help: write `name:tag`, `registry.example.com/path/name:tag` or `name@sha256:…`"
        ))
    })?;
    if reference.tag().is_none() && reference.digest().is_none() {
        reference = Reference::with_tag(
            reference.registry().to_string(),
            reference.repository().to_string(),
            "latest".to_string(),
        );
    }
    Ok(reference)
}

/// Computes the chain id of a list of layer diff ids (OCI image spec,
/// "ChainID"): the first diff id, then `sha256(chain + " " + diff_id)`.
pub fn chain_id(diff_ids: &[String]) -> String {
    let mut chain = diff_ids.first().cloned().unwrap_or_default();
    for diff_id in diff_ids.iter().skip(1) {
        chain = sha256_digest(format!("{chain} {diff_id}").as_bytes());
    }
    chain
}

fn sha256_digest(data: &[u8]) -> String {
    let hash = Sha256::digest(data);
    let hex: String = hash.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sha256:{hex}")
}

/// Credentials for a pull: the connector and, when it names one, the
/// password read from the run's secrets.
pub struct PullAuth<'a> {
    /// The connector of the step, if any.
    pub connector: Option<&'a Connector>,
    /// The resolved `passwordRef` secret.
    pub password: Option<String>,
}

/// Image operations in one containerd namespace.
pub struct Images<'a> {
    containerd: &'a Containerd,
    snapshotter: &'a str,
}

impl<'a> Images<'a> {
    /// Image operations on `containerd` that unpack into `snapshotter`.
    pub fn new(containerd: &'a Containerd, snapshotter: &'a str) -> Images<'a> {
        Images {
            containerd,
            snapshotter,
        }
    }

    /// Makes sure `reference` is present and unpacked as `policy` asks, and
    /// returns its config. Requests to the registry fail once `deadline`
    /// passes.
    pub async fn ensure(
        &self,
        reference: &Reference,
        policy: PullPolicy,
        auth: &PullAuth<'_>,
        deadline: &StartDeadline,
    ) -> Result<ImageConfig> {
        let name = reference.whole();
        let local = self.local_image(&name).await?;
        match (policy, local) {
            (PullPolicy::Never, None) => Err(Error::new(format!(
                "image `{name}` is not present and imagePullPolicy is `Never`{}\n\
                 help: import it with `basso image import ARCHIVE` or set imagePullPolicy \
                 to `IfNotPresent`",
                connector_phrase(auth.connector)
            ))),
            (PullPolicy::Never | PullPolicy::IfNotPresent, Some(image)) => {
                self.config(&image).await
            }
            (PullPolicy::IfNotPresent, None) => self.pull(reference, auth, deadline).await,
            (PullPolicy::Always, local) => {
                let registry = Registry::new(reference, auth, deadline);
                let request = registry
                    .client
                    .fetch_manifest_digest(reference, &registry.credentials);
                let remote_digest = registry.send(request).await?;
                if let Some(image) = local
                    && (image.labels.get(SOURCE_DIGEST_LABEL) == Some(&remote_digest)
                        || image.target.as_ref().map(|t| &t.digest) == Some(&remote_digest))
                {
                    return self.config(&image).await;
                }
                self.pull(reference, auth, deadline).await
            }
        }
    }

    /// Returns the image record, or `None` when containerd has no such image.
    pub async fn local_image(&self, name: &str) -> Result<Option<Image>> {
        let request = self.containerd.request(GetImageRequest {
            name: name.to_string(),
        });
        match self.containerd.client().images().get(request).await {
            Ok(response) => Ok(response.into_inner().image),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(Error::api("image lookup", name, status)),
        }
    }

    /// Reads the config of a local image, unpacking it first if its
    /// snapshots are missing.
    pub async fn config(&self, image: &Image) -> Result<ImageConfig> {
        let target = image
            .target
            .clone()
            .ok_or_else(|| Error::new(format!("image `{}` has no target", image.name)))?;
        let manifest_descriptor = self.platform_manifest(target).await?;
        let manifest: Value = self.read_json(&manifest_descriptor.digest).await?;
        let config_digest = manifest["config"]["digest"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let config: Value = self.read_json(&config_digest).await?;
        let diff_ids = diff_ids(&config);
        let chain = chain_id(&diff_ids);
        if !self.snapshot_exists(&chain).await? {
            let layers = layer_descriptors(&manifest);
            let lease = self.create_lease().await?;
            let unpacked = self
                .unpack(&lease, &layers, &diff_ids, &config_digest)
                .await;
            self.delete_lease(&lease).await;
            unpacked?;
        }
        Ok(image_config(&image.name, &config, chain))
    }

    /// Imports an OCI or Docker image archive with `ctr images import`, since
    /// containerd 1.6 has no import call in its API. Returns the image names.
    pub fn import_archive(&self, archive: &Path) -> Result<Vec<String>> {
        let output = std::process::Command::new("ctr")
            .arg("--address")
            .arg(self.containerd.address())
            .args([
                "--namespace",
                self.containerd.namespace(),
                "images",
                "import",
            ])
            .args(["--snapshotter", self.snapshotter])
            .arg(archive)
            .output()
            .map_err(|error| Error::io("running", "ctr images import", error))?;
        if !output.status.success() {
            return Err(Error::new(format!(
                "importing image archive `{}` failed: {}\n\
                 help: pass an OCI layout or `docker save` archive (tar)",
                archive.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        // ctr prints "unpacking NAME (sha256:…)...done" per image.
        let names = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.strip_prefix("unpacking "))
            .filter_map(|rest| rest.split(" (").next())
            .map(str::to_string)
            .collect();
        Ok(names)
    }

    /// Pulls `reference` into the content store and unpacks it. Requests to
    /// the registry fail once `deadline` passes, and the lease that protects
    /// the pulled blobs is deleted in either case.
    pub async fn pull(
        &self,
        reference: &Reference,
        auth: &PullAuth<'_>,
        deadline: &StartDeadline,
    ) -> Result<ImageConfig> {
        let name = reference.whole();
        tracing::info!(image = %name, "pulling image");
        let started = std::time::Instant::now();
        let lease = self.create_lease().await?;
        let registry = Registry::new(reference, auth, deadline);
        let result = self.pull_leased(reference, &registry, &lease).await;
        self.delete_lease(&lease).await;
        if result.is_ok() {
            tracing::info!(image = %name, "pulled image in {:.1}s", started.elapsed().as_secs_f64());
        }
        result
    }

    async fn pull_leased(
        &self,
        reference: &Reference,
        registry: &Registry<'_>,
        lease: &str,
    ) -> Result<ImageConfig> {
        let (client, credentials) = (&registry.client, &registry.credentials);
        let source_digest = registry
            .send(client.fetch_manifest_digest(reference, credentials))
            .await?;
        // The platform manifest's digest, then its exact bytes by digest, so
        // the stored blob matches the digest the registry signed off.
        let (_, manifest_digest) = registry
            .send(client.pull_image_manifest(reference, credentials))
            .await?;
        let by_digest = Reference::with_digest(
            reference.registry().to_string(),
            reference.repository().to_string(),
            manifest_digest.clone(),
        );
        let (manifest_bytes, _) = registry
            .send(client.pull_manifest_raw(
                &by_digest,
                credentials,
                &[OCI_MANIFEST, DOCKER_MANIFEST],
            ))
            .await?;
        let manifest: Value = serde_json::from_slice(&manifest_bytes)
            .map_err(|error| Error::new(format!("invalid manifest of `{reference}`: {error}")))?;
        let manifest_media_type = manifest["mediaType"]
            .as_str()
            .unwrap_or(OCI_MANIFEST)
            .to_string();
        let layers = layer_descriptors(&manifest);
        let config_digest = manifest["config"]["digest"]
            .as_str()
            .unwrap_or_default()
            .to_string();

        let mut config_bytes = Vec::new();
        let config_writer = registry.blob_writer(&mut config_bytes);
        registry
            .send(client.pull_blob(&by_digest, config_digest.as_str(), config_writer))
            .await?;
        self.write_blob(lease, &config_digest, &config_bytes, HashMap::new())
            .await?;
        for layer in &layers {
            if self.content_exists(&layer.digest).await? {
                continue;
            }
            let mut data = Vec::new();
            let writer = registry.blob_writer(&mut data);
            registry
                .send(client.pull_blob(&by_digest, layer.digest.as_str(), writer))
                .await?;
            self.write_blob(lease, &layer.digest, &data, HashMap::new())
                .await?;
        }
        // These labels tell containerd's garbage collector that the manifest
        // keeps its config and layers alive.
        let mut manifest_labels = HashMap::from([(
            "containerd.io/gc.ref.content.config".to_string(),
            config_digest.clone(),
        )]);
        for (index, layer) in layers.iter().enumerate() {
            manifest_labels.insert(
                format!("containerd.io/gc.ref.content.l.{index}"),
                layer.digest.clone(),
            );
        }
        self.write_blob(lease, &manifest_digest, &manifest_bytes, manifest_labels)
            .await?;

        let config: Value = serde_json::from_slice(&config_bytes).map_err(|error| {
            Error::new(format!("invalid image config of `{reference}`: {error}"))
        })?;
        let diff_ids = diff_ids(&config);
        self.unpack(lease, &layers, &diff_ids, &config_digest)
            .await?;

        let image = Image {
            name: reference.whole(),
            labels: HashMap::from([(SOURCE_DIGEST_LABEL.to_string(), source_digest)]),
            target: Some(Descriptor {
                media_type: manifest_media_type,
                digest: manifest_digest,
                size: manifest_bytes.len() as i64,
                annotations: HashMap::new(),
            }),
            ..Image::default()
        };
        self.store_image(lease, image).await?;
        Ok(image_config(
            &reference.whole(),
            &config,
            chain_id(&diff_ids),
        ))
    }

    async fn store_image(&self, lease: &str, image: Image) -> Result<()> {
        let name = image.name.clone();
        let mut images = self.containerd.client().images();
        let create = self.containerd.leased_request(
            CreateImageRequest {
                image: Some(image.clone()),
                source_date_epoch: None,
            },
            lease,
        );
        match images.create(create).await {
            Ok(_) => Ok(()),
            Err(status) if status.code() == Code::AlreadyExists => {
                let update = self.containerd.leased_request(
                    UpdateImageRequest {
                        image: Some(image),
                        update_mask: None,
                        source_date_epoch: None,
                    },
                    lease,
                );
                images
                    .update(update)
                    .await
                    .map(|_| ())
                    .map_err(|status| Error::api("image update", &name, status))
            }
            Err(status) => Err(Error::api("image create", &name, status)),
        }
    }

    /// Applies each layer onto its parent snapshot and commits it under its
    /// chain id; layers already unpacked are skipped.
    async fn unpack(
        &self,
        lease: &str,
        layers: &[Descriptor],
        diff_ids: &[String],
        config_digest: &str,
    ) -> Result<()> {
        if layers.len() != diff_ids.len() {
            return Err(Error::new(format!(
                "image config `{config_digest}` lists {} layers but the manifest {}",
                diff_ids.len(),
                layers.len()
            )));
        }
        let mut parent = String::new();
        for (index, layer) in layers.iter().enumerate() {
            let chain = chain_id(&diff_ids[..=index]);
            if !self.snapshot_exists(&chain).await? {
                self.apply_layer(lease, layer, &parent, &chain).await?;
            }
            parent = chain;
        }
        // The config keeps the unpacked snapshot alive for the collector.
        let label = format!("containerd.io/gc.ref.snapshot.{}", self.snapshotter);
        let info = Info {
            digest: config_digest.to_string(),
            labels: HashMap::from([(label.clone(), parent)]),
            ..Info::default()
        };
        let request = self.containerd.leased_request(
            UpdateContentRequest {
                info: Some(info),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec![format!("labels.{label}")],
                }),
            },
            lease,
        );
        self.containerd
            .client()
            .content()
            .update(request)
            .await
            .map_err(|status| Error::api("content label update", config_digest, status))?;
        Ok(())
    }

    async fn apply_layer(
        &self,
        lease: &str,
        layer: &Descriptor,
        parent: &str,
        chain: &str,
    ) -> Result<()> {
        let key = format!(
            "basso-extract-{}-{}",
            std::process::id(),
            &layer.digest[7..19]
        );
        let mut snapshots = self.containerd.client().snapshots();
        let prepare = self.containerd.leased_request(
            PrepareSnapshotRequest {
                snapshotter: self.snapshotter.to_string(),
                key: key.clone(),
                parent: parent.to_string(),
                labels: HashMap::new(),
            },
            lease,
        );
        let mounts = snapshots
            .prepare(prepare)
            .await
            .map_err(|status| Error::api("snapshot prepare", &key, status))?
            .into_inner()
            .mounts;
        let apply = self.containerd.leased_request(
            ApplyRequest {
                diff: Some(layer.clone()),
                mounts,
                ..ApplyRequest::default()
            },
            lease,
        );
        let applied = self.containerd.client().diff().apply(apply).await;
        if let Err(status) = applied {
            let remove = self.containerd.request(RemoveSnapshotRequest {
                snapshotter: self.snapshotter.to_string(),
                key: key.clone(),
            });
            let _ = snapshots.remove(remove).await;
            return Err(Error::api("layer apply", &layer.digest, status));
        }
        let commit = self.containerd.leased_request(
            CommitSnapshotRequest {
                snapshotter: self.snapshotter.to_string(),
                name: chain.to_string(),
                key: key.clone(),
                labels: HashMap::new(),
            },
            lease,
        );
        snapshots
            .commit(commit)
            .await
            .map_err(|status| Error::api("snapshot commit", chain, status))?;
        Ok(())
    }

    /// Returns the uid and gid of the image's `User` when it names a user or
    /// group, from the image's `/etc/passwd` and `/etc/group`. The files are
    /// read through a read-only view of the image's snapshot, which is
    /// removed again.
    pub async fn user_ids(&self, image: &ImageConfig) -> Result<(u32, u32)> {
        let lease = self.create_lease().await?;
        let key = format!("basso-user-{}", crate::client::new_run_id());
        let view = self.containerd.leased_request(
            ViewSnapshotRequest {
                snapshotter: self.snapshotter.to_string(),
                key: key.clone(),
                parent: image.chain_id.clone(),
                labels: HashMap::new(),
            },
            &lease,
        );
        let mut snapshots = self.containerd.client().snapshots();
        let result = match snapshots.view(view).await {
            Ok(response) => {
                let dirs = crate::user::layer_dirs(&response.into_inner().mounts);
                let found = crate::user::resolve(&image.user, &dirs).map_err(|reason| {
                    Error::new(format!(
                        "image `{}` sets user `{}`, which basso cannot find: {reason}\n\
                         help: set runAsUser to a numeric user id",
                        image.name, image.user
                    ))
                });
                let remove = self.containerd.request(RemoveSnapshotRequest {
                    snapshotter: self.snapshotter.to_string(),
                    key: key.clone(),
                });
                if let Err(status) = snapshots.remove(remove).await {
                    tracing::warn!(snapshot = %key, error = status.message(), "snapshot remove failed");
                }
                found
            }
            Err(status) => Err(Error::api("snapshot view", &key, status)),
        };
        self.delete_lease(&lease).await;
        result
    }

    /// Returns whether a snapshot (such as an unpacked layer chain) exists.
    pub async fn snapshot_exists(&self, key: &str) -> Result<bool> {
        let request = self.containerd.request(StatSnapshotRequest {
            snapshotter: self.snapshotter.to_string(),
            key: key.to_string(),
        });
        match self.containerd.client().snapshots().stat(request).await {
            Ok(_) => Ok(true),
            Err(status) if status.code() == Code::NotFound => Ok(false),
            Err(status) => Err(Error::api("snapshot lookup", key, status)),
        }
    }

    async fn content_exists(&self, digest: &str) -> Result<bool> {
        let request = self.containerd.request(InfoRequest {
            digest: digest.to_string(),
        });
        match self.containerd.client().content().info(request).await {
            Ok(_) => Ok(true),
            Err(status) if status.code() == Code::NotFound => Ok(false),
            Err(status) => Err(Error::api("content lookup", digest, status)),
        }
    }

    /// Writes one blob to the content store, checked against `digest`.
    async fn write_blob(
        &self,
        lease: &str,
        digest: &str,
        data: &[u8],
        labels: HashMap<String, String>,
    ) -> Result<()> {
        const CHUNK_BYTES: usize = 1 << 20;
        let write_ref = format!("basso-{digest}");
        let total = data.len() as i64;
        let mut requests = Vec::new();
        let mut offset = 0;
        for chunk in data.chunks(CHUNK_BYTES) {
            requests.push(WriteContentRequest {
                action: WriteAction::Write as i32,
                r#ref: write_ref.clone(),
                total,
                expected: digest.to_string(),
                offset: offset as i64,
                data: chunk.to_vec(),
                labels: HashMap::new(),
            });
            offset += chunk.len();
        }
        requests.push(WriteContentRequest {
            action: WriteAction::Commit as i32,
            r#ref: write_ref,
            total,
            expected: digest.to_string(),
            offset: offset as i64,
            data: Vec::new(),
            labels,
        });
        let request = self
            .containerd
            .leased_request(tokio_stream::iter(requests), lease);
        let result = self.containerd.client().content().write(request).await;
        let mut responses = match result {
            Ok(response) => response.into_inner(),
            Err(status) if status.code() == Code::AlreadyExists => return Ok(()),
            Err(status) => return Err(Error::api("content write", digest, status)),
        };
        loop {
            match responses.message().await {
                Ok(Some(_)) => continue,
                Ok(None) => return Ok(()),
                Err(status) if status.code() == Code::AlreadyExists => return Ok(()),
                Err(status) => return Err(Error::api("content write", digest, status)),
            }
        }
    }

    /// Follows an index to the manifest for this machine's platform.
    async fn platform_manifest(&self, target: Descriptor) -> Result<Descriptor> {
        if target.media_type != OCI_INDEX && target.media_type != DOCKER_LIST {
            return Ok(target);
        }
        let index: Value = self.read_json(&target.digest).await?;
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
        let chosen = manifests
            .iter()
            .find(|entry| {
                entry["platform"]["os"] == "linux"
                    && entry["platform"]["architecture"] == architecture
            })
            .or_else(|| manifests.iter().find(|entry| entry["platform"].is_null()))
            .ok_or_else(|| {
                Error::new(format!(
                    "image index `{}` has no manifest for linux/{architecture}",
                    target.digest
                ))
            })?;
        Ok(descriptor(chosen))
    }

    async fn read_json(&self, digest: &str) -> Result<Value> {
        let request = self.containerd.request(ReadContentRequest {
            digest: digest.to_string(),
            offset: 0,
            size: 0,
        });
        let mut stream = self
            .containerd
            .client()
            .content()
            .read(request)
            .await
            .map_err(|status| Error::api("content read", digest, status))?
            .into_inner();
        let mut bytes = Vec::new();
        while let Some(chunk) = stream
            .message()
            .await
            .map_err(|status| Error::api("content read", digest, status))?
        {
            bytes.extend_from_slice(&chunk.data);
        }
        serde_json::from_slice(&bytes)
            .map_err(|error| Error::new(format!("invalid JSON in blob `{digest}`: {error}")))
    }

    async fn create_lease(&self) -> Result<String> {
        let id = format!("basso-pull-{}", crate::client::new_run_id());
        // The expiry lets containerd drop the lease if basso dies mid-pull.
        let expire = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
        let labels = HashMap::from([("containerd.io/gc.expire".to_string(), rfc3339(expire))]);
        let request = self.containerd.request(CreateLeaseRequest {
            id: id.clone(),
            labels,
        });
        self.containerd
            .client()
            .leases()
            .create(request)
            .await
            .map_err(|status| Error::api("lease create", &id, status))?;
        Ok(id)
    }

    async fn delete_lease(&self, id: &str) {
        let request = self.containerd.request(DeleteLeaseRequest {
            id: id.to_string(),
            sync: false,
        });
        if let Err(status) = self.containerd.client().leases().delete(request).await {
            tracing::warn!(lease = id, error = status.message(), "lease delete failed");
        }
    }
}

fn descriptor(value: &Value) -> Descriptor {
    Descriptor {
        media_type: value["mediaType"].as_str().unwrap_or_default().to_string(),
        digest: value["digest"].as_str().unwrap_or_default().to_string(),
        size: value["size"].as_i64().unwrap_or_default(),
        annotations: HashMap::new(),
    }
}

fn layer_descriptors(manifest: &Value) -> Vec<Descriptor> {
    manifest["layers"]
        .as_array()
        .map(|layers| layers.iter().map(descriptor).collect())
        .unwrap_or_default()
}

fn diff_ids(config: &Value) -> Vec<String> {
    config["rootfs"]["diff_ids"]
        .as_array()
        .map(|ids| {
            ids.iter()
                .filter_map(|id| id.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn image_config(name: &str, config: &Value, chain_id: String) -> ImageConfig {
    let settings = &config["config"];
    ImageConfig {
        name: name.to_string(),
        entrypoint: strings(&settings["Entrypoint"]),
        cmd: strings(&settings["Cmd"]),
        env: strings(&settings["Env"]),
        working_dir: settings["WorkingDir"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        user: settings["User"].as_str().unwrap_or_default().to_string(),
        chain_id,
    }
}

/// Formats a time as RFC 3339 in UTC, as containerd's lease expiry expects.
fn rfc3339(time: std::time::SystemTime) -> String {
    let seconds = time
        .duration_since(std::time::UNIX_EPOCH)
        .map(|duration| duration.as_secs())
        .unwrap_or(0);
    let days = seconds / 86_400;
    let rest = seconds % 86_400;
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Converts days since 1970-01-01 to a (year, month, day) date
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connector(url: &str) -> Connector {
        Connector {
            identifier: "reg".into(),
            url: url.into(),
            username: None,
            password_ref: None,
        }
    }

    #[test]
    fn docker_hub_names_normalise() {
        assert_eq!(
            normalize_image("busybox", None).unwrap().whole(),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            normalize_image(
                "library/tomcat",
                Some(&connector("https://index.docker.io/v1/"))
            )
            .unwrap()
            .whole(),
            "docker.io/library/tomcat:latest"
        );
    }

    #[test]
    fn gcr_and_ecr_names_stay_qualified() {
        let gcr =
            normalize_image("us.gcr.io/playground-123/quickstart-image:latest", None).unwrap();
        assert_eq!(gcr.registry(), "us.gcr.io");
        assert_eq!(gcr.repository(), "playground-123/quickstart-image");
        let ecr = normalize_image(
            "40000005317.dkr.ecr.us-east-1.amazonaws.com/todolist:0.2",
            None,
        )
        .unwrap();
        assert_eq!(
            ecr.registry(),
            "40000005317.dkr.ecr.us-east-1.amazonaws.com"
        );
        assert_eq!(ecr.tag(), Some("0.2"));
    }

    #[test]
    fn short_name_takes_connector_registry() {
        let reference =
            normalize_image("app:1", Some(&connector("http://127.0.0.1:5000"))).unwrap();
        assert_eq!(reference.whole(), "127.0.0.1:5000/app:1");
    }

    #[test]
    fn default_pull_policy_follows_kubernetes() {
        let latest = normalize_image("busybox", None).unwrap();
        let pinned = normalize_image("busybox:1.36", None).unwrap();
        assert_eq!(
            PullPolicy::parse(None, &latest).unwrap(),
            PullPolicy::Always
        );
        assert_eq!(
            PullPolicy::parse(None, &pinned).unwrap(),
            PullPolicy::IfNotPresent
        );
        assert!(PullPolicy::parse(Some("Sometimes"), &pinned).is_err());
    }

    #[test]
    fn chain_id_of_two_layers() {
        let one = "sha256:aa".to_string();
        let two = "sha256:bb".to_string();
        assert_eq!(chain_id(std::slice::from_ref(&one)), one);
        assert_eq!(
            chain_id(&[one.clone(), two.clone()]),
            sha256_digest(b"sha256:aa sha256:bb")
        );
    }

    #[test]
    fn rfc3339_formats_epoch_days() {
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_400_000);
        assert_eq!(rfc3339(time), "2026-12-04T16:00:00Z");
    }
}
