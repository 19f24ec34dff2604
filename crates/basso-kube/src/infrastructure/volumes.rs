//! The infrastructure's `volumes`, each with the mount every container gets.

use basso_core::Diagnostic;
use basso_core::pipeline::quantity::{QuantityError, parse_memory};
use k8s_openapi::api::core::v1::{
    EmptyDirVolumeSource, HostPathVolumeSource, PersistentVolumeClaimVolumeSource, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde_json::Value as Json;

use super::{ListEntry, boolean, mapping, read_entries, text};
use crate::model::Stage;

/// Reads `volumes`, warning about each entry the pod cannot mount. Volume
/// names are `volume-<index>` after the entry's place in the list.
pub(super) fn volumes(
    stage: &Stage,
    value: &Json,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<(Volume, VolumeMount)> {
    let entry = ListEntry {
        key: "volumes",
        noun: "volume",
        outcome: "mounted",
    };
    read_entries(stage, value, &entry, diagnostics, |index, item| {
        volume(&format!("volume-{index}"), item)
    })
}

/// `type` values of a HostPath volume that the API server accepts. The empty
/// one skips the check on the node.
const HOST_PATH_TYPES: [&str; 8] = [
    "",
    "DirectoryOrCreate",
    "Directory",
    "FileOrCreate",
    "File",
    "Socket",
    "CharDevice",
    "BlockDevice",
];

/// Reads one entry of `volumes`, or returns the rule of Kubernetes' pod
/// validation that it breaks.
fn volume(name: &str, item: &Json) -> Result<(Volume, VolumeMount), String> {
    let item = mapping(item)?;
    let mount_path = item
        .get("mountPath")
        .map(text)
        .transpose()?
        .filter(|path| path.starts_with('/'))
        .ok_or("`mountPath` is not an absolute path")?;
    let spec = item.get("spec").filter(|v| !v.is_null());
    // An empty text counts as missing, as it does for the API server.
    let field = |key: &str| -> Result<Option<String>, String> {
        let value = spec.and_then(|s| s.get(key)).filter(|v| !v.is_null());
        Ok(value.map(text).transpose()?.filter(|text| !text.is_empty()))
    };

    let mut volume = Volume {
        name: name.to_string(),
        ..Volume::default()
    };
    let volume_type = item.get("type").map(text).transpose()?.unwrap_or_default();
    match volume_type.as_str() {
        "EmptyDir" => {
            let size = field("size")?;
            if let Some(size) = &size
                && let Err(QuantityError(reason)) = parse_memory(size)
            {
                return Err(format!(
                    "EmptyDir `spec.size` `{size}` is not a Kubernetes quantity such as `1Gi`: {reason}"
                ));
            }
            volume.empty_dir = Some(EmptyDirVolumeSource {
                medium: field("medium")?,
                size_limit: size.map(Quantity),
            });
        }
        "HostPath" => {
            let path = field("path")?.ok_or("a HostPath volume has no `spec.path`")?;
            if path.split('/').any(|part| part == "..") {
                return Err(format!("HostPath `spec.path` `{path}` contains `..`"));
            }
            let host_path_type = field("type")?;
            if let Some(unknown) = host_path_type
                .as_deref()
                .filter(|t| !HOST_PATH_TYPES.contains(t))
            {
                return Err(format!(
                    "unknown HostPath `type` `{unknown}`, expected one of {}",
                    HOST_PATH_TYPES[1..]
                        .iter()
                        .map(|t| format!("`{t}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            volume.host_path = Some(HostPathVolumeSource {
                path,
                type_: host_path_type,
            });
        }
        "PersistentVolumeClaim" => {
            let read_only = match spec
                .and_then(|s| s.get("readOnly"))
                .filter(|v| !v.is_null())
            {
                Some(flag) => Some(boolean(flag)?),
                None => None,
            };
            volume.persistent_volume_claim = Some(PersistentVolumeClaimVolumeSource {
                claim_name: field("claimName")?
                    .ok_or("a PersistentVolumeClaim volume has no `spec.claimName`")?,
                read_only,
            });
        }
        other => {
            return Err(format!(
                "unknown volume type `{other}`, expected `EmptyDir`, `HostPath` or `PersistentVolumeClaim`"
            ));
        }
    }
    let mount = VolumeMount {
        name: name.to_string(),
        mount_path,
        ..VolumeMount::default()
    };
    Ok((volume, mount))
}
