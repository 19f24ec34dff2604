//! The OCI runtime spec of a step container, written as JSON for runc.
//!
//! The defaults follow Docker's: the same capability set for unprivileged
//! containers, the same masked and read-only paths, and all devices denied
//! except the ones runc always adds (`/dev/null`, `/dev/zero` and so on).

use std::path::PathBuf;

use serde_json::{Value, json};

/// Where tini is mounted inside every container; it runs as PID 1, passes
/// SIGTERM on to the step's process group and reaps zombies.
pub const INIT_PATH: &str = "/sbin/basso-init";

/// The CFS period used for CPU limits, in microseconds.
pub const CPU_PERIOD_MICROS: u64 = 100_000;

/// The smallest CFS quota the kernel accepts, 1 ms. A `cpu` limit below 10m
/// gets this quota, as the kubelet gives it.
pub const MIN_CPU_QUOTA_MICROS: u64 = 1_000;

/// Docker's default capabilities for unprivileged containers.
const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Linux capability names indexed by capability number (linux/capability.h).
const CAPABILITY_NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// A bind mount from the host into the container.
#[derive(Clone, Debug)]
pub struct BindMount {
    /// The host path.
    pub source: PathBuf,
    /// The path inside the container.
    pub destination: String,
    /// Whether the container may write to it.
    pub read_only: bool,
}

/// The settings of one container, already merged with the image config.
#[derive(Clone, Debug, Default)]
pub struct ContainerSettings {
    /// The full argument vector, without the init in front.
    pub args: Vec<String>,
    /// `NAME=value` pairs.
    pub env: Vec<String>,
    /// The working directory inside the container.
    pub cwd: String,
    /// The user and group id the process runs as.
    pub uid: u32,
    /// The primary group id.
    pub gid: u32,
    /// The host name inside the container (the step id).
    pub hostname: String,
    /// Docker's `--privileged`: every capability the host allows, all devices,
    /// writable `/sys`, no masked paths.
    pub privileged: bool,
    /// `resources.limits.memory` in bytes.
    pub memory_bytes: Option<i64>,
    /// `resources.limits.cpu` in thousandths of a CPU.
    pub cpu_millis: Option<u64>,
    /// The network namespace to join, as a path under `/var/run/netns`.
    pub netns_path: Option<PathBuf>,
    /// Bind mounts (workspace, `/etc/hosts`, the init binary).
    pub mounts: Vec<BindMount>,
    /// The cgroup path relative to each controller's root.
    pub cgroups_path: String,
}

/// Builds the runtime spec for `settings`, with tini from `init_binary` as
/// PID 1 when given.
pub fn runtime_spec(settings: &ContainerSettings, init_binary: Option<&PathBuf>) -> Value {
    let mut args = Vec::new();
    if init_binary.is_some() {
        // -g: signals go to the child's whole process group.
        args.extend([INIT_PATH.to_string(), "-g".to_string(), "--".to_string()]);
    }
    args.extend(settings.args.iter().cloned());

    let capabilities = if settings.privileged {
        bounding_capabilities()
    } else {
        DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect()
    };
    let mut mounts = base_mounts(settings.privileged);
    let mut binds = settings.mounts.clone();
    if let Some(init) = init_binary {
        binds.push(BindMount {
            source: init.clone(),
            destination: INIT_PATH.to_string(),
            read_only: true,
        });
    }
    for bind in &binds {
        let access = if bind.read_only { "ro" } else { "rw" };
        mounts.push(json!({
            "destination": bind.destination,
            "type": "bind",
            "source": bind.source,
            "options": ["rbind", access],
        }));
    }

    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": settings.uid, "gid": settings.gid},
            "args": args,
            "env": settings.env,
            "cwd": settings.cwd,
            "capabilities": {
                "bounding": capabilities,
                "effective": capabilities,
                "permitted": capabilities,
            },
            "noNewPrivileges": !settings.privileged,
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": settings.hostname,
        "mounts": mounts,
        "linux": linux_section(settings),
    })
}

fn linux_section(settings: &ContainerSettings) -> Value {
    let mut resources = json!({
        "devices": [{"allow": settings.privileged, "access": "rwm"}],
    });
    if let Some(limit) = settings.memory_bytes {
        resources["memory"] = json!({"limit": limit});
    }
    if let Some(millis) = settings.cpu_millis {
        let quota = (millis * CPU_PERIOD_MICROS / 1000).max(MIN_CPU_QUOTA_MICROS);
        resources["cpu"] = json!({"quota": quota, "period": CPU_PERIOD_MICROS});
    }

    let mut network = json!({"type": "network"});
    if let Some(path) = &settings.netns_path {
        network["path"] = json!(path);
    }
    let mut namespaces = json!([
        {"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, network,
    ]);
    // Under cgroup v2 the cgroup mount shows the whole hierarchy unless the
    // container has a cgroup namespace of its own, as containerd gives it.
    if host_uses_cgroup_v2()
        && let Some(list) = namespaces.as_array_mut()
    {
        list.push(json!({"type": "cgroup"}));
    }

    let mut linux = json!({
        "resources": resources,
        "cgroupsPath": settings.cgroups_path,
        "namespaces": namespaces,
    });
    if !settings.privileged {
        linux["maskedPaths"] = json!([
            "/proc/acpi",
            "/proc/asound",
            "/proc/kcore",
            "/proc/keys",
            "/proc/latency_stats",
            "/proc/timer_list",
            "/proc/timer_stats",
            "/proc/sched_debug",
            "/proc/scsi",
            "/sys/firmware",
        ]);
        linux["readonlyPaths"] = json!([
            "/proc/bus",
            "/proc/fs",
            "/proc/irq",
            "/proc/sys",
            "/proc/sysrq-trigger",
        ]);
    }
    linux
}

fn base_mounts(privileged: bool) -> Vec<Value> {
    let sys_access = if privileged { "rw" } else { "ro" };
    vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc"}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": ["nosuid", "noexec", "nodev", sys_access]}),
        // The container's own cgroup, where the JVM, Node.js and other
        // runtimes read their memory and CPU limits, as Docker mounts it.
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
               "options": ["nosuid", "noexec", "nodev", "relatime", sys_access]}),
    ]
}

/// Returns whether this host mounts the unified cgroup v2 hierarchy at
/// `/sys/fs/cgroup`.
fn host_uses_cgroup_v2() -> bool {
    std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// Returns the names of the capabilities in this process's bounding set. A
/// privileged container cannot hold more, and runc rejects a spec that asks
/// for a capability outside it.
fn bounding_capabilities() -> Vec<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mask = status
        .lines()
        .find_map(|line| line.strip_prefix("CapBnd:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0);
    capabilities_in_mask(mask)
}

fn capabilities_in_mask(mask: u64) -> Vec<String> {
    CAPABILITY_NAMES
        .iter()
        .enumerate()
        .filter(|(bit, _)| mask & (1 << bit) != 0)
        .map(|(_, name)| name.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_mask_skips_missing_bits() {
        // CAP_SYS_RESOURCE (bit 24) absent, as in some VM bounding sets.
        let names = capabilities_in_mask(0x1fffeffffff);
        assert!(names.contains(&"CAP_SYS_ADMIN".to_string()));
        assert!(!names.contains(&"CAP_SYS_RESOURCE".to_string()));
        assert_eq!(names.len(), 40);
    }

    #[test]
    fn spec_applies_limits_and_init() {
        let settings = ContainerSettings {
            args: vec!["sh".into(), "-c".into(), "true".into()],
            memory_bytes: Some(64 << 20),
            cpu_millis: Some(500),
            cgroups_path: "/basso/x".into(),
            ..ContainerSettings::default()
        };
        let spec = runtime_spec(&settings, Some(&PathBuf::from("/usr/bin/tini-static")));
        assert_eq!(spec["process"]["args"][0], INIT_PATH);
        assert_eq!(spec["process"]["args"][3], "sh");
        assert_eq!(spec["linux"]["resources"]["memory"]["limit"], 64 << 20);
        assert_eq!(spec["linux"]["resources"]["cpu"]["quota"], 50_000);
        assert_eq!(spec["linux"]["cgroupsPath"], "/basso/x");
    }

    #[test]
    fn cpu_quota_at_least_one_millisecond() {
        let settings = ContainerSettings {
            cpu_millis: Some(1),
            ..ContainerSettings::default()
        };
        let spec = runtime_spec(&settings, None);
        assert_eq!(
            spec["linux"]["resources"]["cpu"]["quota"],
            MIN_CPU_QUOTA_MICROS
        );
    }

    #[test]
    fn cgroup_mounted_read_only() {
        let spec = runtime_spec(&ContainerSettings::default(), None);
        let mounts = spec["mounts"].as_array().unwrap();
        let cgroup = mounts
            .iter()
            .find(|mount| mount["destination"] == "/sys/fs/cgroup")
            .unwrap();
        assert_eq!(cgroup["type"], "cgroup");
        assert!(cgroup["options"].as_array().unwrap().contains(&json!("ro")));
    }

    #[test]
    fn unprivileged_spec_has_docker_capabilities() {
        let spec = runtime_spec(&ContainerSettings::default(), None);
        let caps = spec["process"]["capabilities"]["effective"]
            .as_array()
            .unwrap();
        assert_eq!(caps.len(), 14);
        assert!(!caps.contains(&json!("CAP_SYS_ADMIN")));
        assert_eq!(spec["mounts"][5]["options"][3], "ro");
    }
}
