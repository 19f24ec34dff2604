//! Rules for a stage's `sharedPaths` entries: which ones name a folder that
//! can be mounted into every container of the stage, in the clean form that
//! mounts compare. `check`, `run` and `export` apply the same rules.

/// The meaning of one written `sharedPaths` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SharedPath {
    /// An empty entry, as the Harness editor leaves behind: nothing.
    Empty,
    /// A path that does not start with `/`: nothing, because a mount needs
    /// an absolute path.
    NotAbsolute,
    /// A path a folder may not cover, with the reason.
    Reserved(&'static str),
    /// The folder at this absolute path in clean form.
    Folder(String),
}

impl SharedPath {
    /// Reads one written entry. Spaces around it are ignored.
    #[must_use]
    pub fn read(written: &str) -> Self {
        let path = written.trim();
        if path.is_empty() {
            return Self::Empty;
        }
        if !path.starts_with('/') {
            return Self::NotAbsolute;
        }
        let path = clean_path(path);
        match reserved_reason(&path) {
            Some(reason) => Self::Reserved(reason),
            None => Self::Folder(path),
        }
    }

    /// Returns why an entry shares nothing, as the end of a warning that
    /// names it (`is not an absolute path and is not shared`), with the
    /// warning's help, or `None` for an empty entry or a folder.
    #[must_use]
    pub fn not_shared(&self) -> Option<(String, &'static str)> {
        match self {
            Self::NotAbsolute => Some((
                "is not an absolute path and is not shared".to_string(),
                NOT_ABSOLUTE_HELP,
            )),
            Self::Reserved(reason) => {
                Some((format!("is not shared, because {reason}"), RESERVED_HELP))
            }
            Self::Empty | Self::Folder(_) => None,
        }
    }
}

/// The help of the warning for an entry that is not shared.
pub const NOT_ABSOLUTE_HELP: &str = "write shared paths as absolute paths, such as `/var/run`";

/// The help of the warning for a reserved entry.
pub const RESERVED_HELP: &str = "share a folder of its own, such as `/shared`";

/// Returns the shortest form of absolute path `path`, as Go's `path.Clean`
/// does: no empty, `.` or trailing parts, and `..` applied. Mounts are
/// compared by path, so `/harness/` and `/harness` have to be one path.
#[must_use]
pub fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => _ = parts.pop(),
            part => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Returns why a folder mounted at `path`, an absolute path in clean form,
/// would break the container, or `None` when it would not.
fn reserved_reason(path: &str) -> Option<&'static str> {
    let at_or_under = |root: &str| path == root || path.starts_with(&format!("{root}/"));
    if path == "/" {
        Some("it would hide the image's whole file system")
    } else if ["/proc", "/sys", "/dev"].into_iter().any(at_or_under) {
        Some("the container runtime mounts that file system")
    } else if path == "/etc/hosts" {
        Some("`/etc/hosts` is the file that names the stage's services")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::{SharedPath, clean_path};

    #[test]
    fn entries_read() {
        assert_eq!(SharedPath::read("  "), SharedPath::Empty);
        assert_eq!(SharedPath::read("cache"), SharedPath::NotAbsolute);
        assert_eq!(SharedPath::read("./cache"), SharedPath::NotAbsolute);
        assert_eq!(
            SharedPath::read(" /var/run/ "),
            SharedPath::Folder("/var/run".into())
        );
        assert_eq!(
            SharedPath::read("/etc/hostsfile"),
            SharedPath::Folder("/etc/hostsfile".into())
        );
        assert_eq!(
            SharedPath::read("/procfs"),
            SharedPath::Folder("/procfs".into())
        );
    }

    #[test]
    fn reserved_entries_named() {
        for path in [
            "/",
            "//",
            "/proc",
            "/sys/fs/cgroup",
            "/dev/",
            "/etc/hosts",
            "/etc/../proc",
        ] {
            assert!(
                matches!(SharedPath::read(path), SharedPath::Reserved(_)),
                "{path}"
            );
        }
    }

    #[test]
    fn paths_cleaned() {
        assert_eq!(clean_path("/harness/"), "/harness");
        assert_eq!(clean_path("/a/./b//c/../d"), "/a/b/d");
        assert_eq!(clean_path("/../.."), "/");
    }
}
