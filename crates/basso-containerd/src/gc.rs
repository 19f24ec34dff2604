//! Removes what a killed runner left behind: tasks, containers and
//! snapshots labelled `io.basso.run`, and the network namespaces basso
//! recorded creating, whose run's process is gone.

use std::collections::BTreeSet;

use containerd_client::services::v1::snapshots::{ListSnapshotsRequest, RemoveSnapshotRequest};
use containerd_client::services::v1::{
    DeleteContainerRequest, DeleteTaskRequest, KillRequest, ListContainersRequest, WaitRequest,
};
use tonic::Code;

use crate::client::{Containerd, RUN_LABEL, run_pid};
use crate::error::{Error, Result};
use crate::network::{delete_netns, netns_path, netns_run_id, recorded_netns};

/// What a collection removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Run ids whose objects were removed.
    pub runs: BTreeSet<String>,
    /// Containers deleted (with their tasks).
    pub containers: usize,
    /// Snapshots removed.
    pub snapshots: usize,
    /// Network namespaces deleted.
    pub network_namespaces: usize,
}

/// Returns whether the run's process is gone, or `all` was asked for.
fn abandoned(run_id: &str, all: bool) -> bool {
    if all {
        return true;
    }
    match run_pid(run_id) {
        Some(pid) => !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        None => true,
    }
}

/// Removes the objects of abandoned runs, or of every run when `all` is set.
/// Network namespaces of live runs stay even with `all`.
pub async fn collect(containerd: &Containerd, snapshotter: &str, all: bool) -> Result<GcReport> {
    let mut report = GcReport::default();
    let client = containerd.client();
    let filter = format!("labels.\"{RUN_LABEL}\"");

    let containers = client
        .containers()
        .list(containerd.request(ListContainersRequest {
            filters: vec![filter.clone()],
        }))
        .await
        .map_err(|status| Error::api("container list", containerd.namespace(), status))?
        .into_inner()
        .containers;
    for container in containers {
        let Some(run_id) = container.labels.get(RUN_LABEL) else {
            continue;
        };
        if !abandoned(run_id, all) {
            continue;
        }
        remove_container(containerd, &container.id).await?;
        report.runs.insert(run_id.clone());
        report.containers += 1;
    }

    let snapshots = list_snapshots(containerd, snapshotter, &filter).await?;
    for (key, run_id) in snapshots {
        if !abandoned(&run_id, all) {
            continue;
        }
        let removed = client
            .snapshots()
            .remove(containerd.request(RemoveSnapshotRequest {
                snapshotter: snapshotter.to_string(),
                key: key.clone(),
            }))
            .await;
        match removed {
            Ok(_) => report.snapshots += 1,
            Err(status) if status.code() == Code::NotFound => {}
            Err(status) => return Err(Error::api("snapshot remove", &key, status)),
        }
        report.runs.insert(run_id);
    }

    for name in recorded_netns() {
        let Some(run_id) = netns_run_id(&name).map(str::to_string) else {
            continue;
        };
        // Namespaces are shared by every containerd on the host, so those of
        // a live run stay even with `all`: the run may use another
        // containerd, and it deletes them itself when its stage ends.
        if !abandoned(&run_id, false) {
            continue;
        }
        let existed = netns_path(&name).exists();
        delete_netns(&name)?;
        if existed {
            report.network_namespaces += 1;
        }
        report.runs.insert(run_id);
    }
    remove_empty_parents(containerd.namespace());
    Ok(report)
}

async fn list_snapshots(
    containerd: &Containerd,
    snapshotter: &str,
    filter: &str,
) -> Result<Vec<(String, String)>> {
    let mut stream = containerd
        .client()
        .snapshots()
        .list(containerd.request(ListSnapshotsRequest {
            snapshotter: snapshotter.to_string(),
            filters: vec![filter.to_string()],
        }))
        .await
        .map_err(|status| Error::api("snapshot list", snapshotter, status))?
        .into_inner();
    let mut found = Vec::new();
    while let Some(page) = stream
        .message()
        .await
        .map_err(|status| Error::api("snapshot list", snapshotter, status))?
    {
        for info in page.info {
            if let Some(run_id) = info.labels.get(RUN_LABEL) {
                found.push((info.name, run_id.clone()));
            }
        }
    }
    Ok(found)
}

/// Kills the container's task, deletes it and the container. The snapshot
/// is removed by the snapshot pass.
async fn remove_container(containerd: &Containerd, id: &str) -> Result<()> {
    let client = containerd.client();
    let killed = client
        .tasks()
        .kill(containerd.request(KillRequest {
            container_id: id.to_string(),
            exec_id: String::new(),
            signal: 9,
            all: true,
        }))
        .await;
    if killed.is_ok() {
        let mut tasks = client.tasks();
        let wait = tasks.wait(containerd.request(WaitRequest {
            container_id: id.to_string(),
            exec_id: String::new(),
        }));
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), wait).await;
    }
    let deleted = client
        .tasks()
        .delete(containerd.request(DeleteTaskRequest {
            container_id: id.to_string(),
        }))
        .await;
    if let Some(status) = deleted
        .as_ref()
        .err()
        .filter(|s| s.code() != Code::NotFound)
    {
        return Err(Error::api("task delete", id, status.clone()));
    }
    let deleted = client
        .containers()
        .delete(containerd.request(DeleteContainerRequest { id: id.to_string() }))
        .await;
    match deleted {
        Ok(_) => Ok(()),
        Err(status) if status.code() == Code::NotFound => Ok(()),
        Err(status) => Err(Error::api("container delete", id, status)),
    }
}

/// Removes the per-namespace folders runc leaves once the namespace's last
/// container is gone: its state root under /run/containerd/runc and the
/// parent cgroup in each v1 controller. A folder still in use stays, since
/// `rmdir` fails on it.
fn remove_empty_parents(namespace: &str) {
    let _ = std::fs::remove_dir(format!("/run/containerd/runc/{namespace}"));
    let Ok(controllers) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    for controller in controllers.flatten() {
        let _ = std::fs::remove_dir(controller.path().join(namespace));
    }
}
