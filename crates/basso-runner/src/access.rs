//! Permission checks for steps that set `runAsUser`: which folder on the
//! way to a path the step's user cannot enter, so that a step fails with
//! that folder named instead of a bare "Permission denied".

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Read permission, in the bit position of "others" in a file mode.
pub const READ: u32 = 0o4;
/// Write permission, in the bit position of "others" in a file mode.
pub const WRITE: u32 = 0o2;
/// Execute permission, which on a folder is the permission to enter it.
pub const SEARCH: u32 = 0o1;

/// The identity a step process gets from `runAsUser`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepUser {
    /// The user id.
    pub uid: u32,
    /// The primary group id.
    pub gid: u32,
}

impl StepUser {
    /// Looks up the primary group of `uid` in the user database. A user id
    /// without an entry gets the group id of the same number.
    pub fn of(uid: u32) -> StepUser {
        let gid = nix::unistd::User::from_uid(uid.into())
            .ok()
            .flatten()
            .map(|user| user.gid.as_raw())
            .unwrap_or(uid);
        StepUser { uid, gid }
    }

    /// Returns the permission bits (`READ`, `WRITE`, `SEARCH`) this user
    /// has on a file with `metadata`, from its owner, group and mode.
    // NOTE: ACLs are not read, and Rust's `Command` drops the supplementary
    // groups when it switches users, so only the primary group counts.
    fn permissions(&self, metadata: &std::fs::Metadata) -> u32 {
        let mode = metadata.mode();
        if self.uid == 0 {
            return READ | WRITE | SEARCH;
        }
        if metadata.uid() == self.uid {
            (mode >> 6) & 0o7
        } else if metadata.gid() == self.gid {
            (mode >> 3) & 0o7
        } else {
            mode & 0o7
        }
    }
}

/// A path a user lacks a permission on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denied {
    /// The path, with symbolic links resolved.
    pub path: PathBuf,
    /// The permission bits the user lacks.
    pub missing: u32,
    /// The owner's user id.
    pub owner: u32,
    /// The group id.
    pub group: u32,
    /// The permission bits of the mode, `0o7777` at most.
    pub mode: u32,
}

impl Denied {
    /// Returns the lacking permissions as `chmod` letters (`rwx`).
    pub fn letters(&self) -> String {
        [(READ, 'r'), (WRITE, 'w'), (SEARCH, 'x')]
            .into_iter()
            .filter(|(bit, _)| self.missing & bit != 0)
            .map(|(_, letter)| letter)
            .collect()
    }
}

/// Returns the first path from `/` down to `path` that `user` cannot use:
/// every folder above `path` needs `SEARCH`, and `path` itself `needed`.
/// Returns `None` when the user has every permission, and also when a
/// path on the way cannot be read, because then the start of the process
/// reports the real error.
pub fn first_denied(path: &Path, user: StepUser, needed: u32) -> Option<Denied> {
    let path = std::fs::canonicalize(path).ok()?;
    let mut ancestors: Vec<&Path> = path.ancestors().collect();
    ancestors.reverse();

    let last = ancestors.len() - 1;
    for (index, folder) in ancestors.into_iter().enumerate() {
        let required = if index == last { needed } else { SEARCH };
        let metadata = std::fs::metadata(folder).ok()?;
        let missing = required & !user.permissions(&metadata);
        if missing != 0 {
            return Some(Denied {
                path: folder.to_path_buf(),
                missing,
                owner: metadata.uid(),
                group: metadata.gid(),
                mode: metadata.mode() & 0o7777,
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    const OTHER: StepUser = StepUser {
        uid: 4_000_001,
        gid: 4_000_001,
    };

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn closed_parent_reported_before_child() {
        let root = tempfile::tempdir().unwrap();
        set_mode(root.path(), 0o711);
        let parent = root.path().join("parent");
        let child = parent.join("child");
        std::fs::create_dir_all(&child).unwrap();
        set_mode(&parent, 0o700);
        set_mode(&child, 0o700);

        let denied = first_denied(&child, OTHER, SEARCH).unwrap();
        assert_eq!(denied.path, parent.canonicalize().unwrap());
        assert_eq!(denied.missing, SEARCH);
        assert_eq!(denied.mode, 0o700);
        assert_eq!(denied.letters(), "x");
    }

    #[test]
    fn last_folder_needs_all_bits() {
        let root = tempfile::tempdir().unwrap();
        set_mode(root.path(), 0o711);
        let folder = root.path().join("workspace");
        std::fs::create_dir(&folder).unwrap();
        set_mode(&folder, 0o755);

        assert_eq!(first_denied(&folder, OTHER, SEARCH), None);
        let denied = first_denied(&folder, OTHER, READ | WRITE | SEARCH).unwrap();
        assert_eq!(denied.missing, WRITE);
        assert_eq!(denied.letters(), "w");

        set_mode(&folder, 0o777);
        assert_eq!(first_denied(&folder, OTHER, READ | WRITE | SEARCH), None);
    }

    #[test]
    fn owner_and_group_bits_apply() {
        let root = tempfile::tempdir().unwrap();
        set_mode(root.path(), 0o711);
        let folder = root.path().join("owned");
        std::fs::create_dir(&folder).unwrap();
        let metadata = std::fs::metadata(&folder).unwrap();
        set_mode(&folder, 0o070);

        let owner = StepUser {
            uid: metadata.uid(),
            gid: 4_000_002,
        };
        let group_member = StepUser {
            uid: 4_000_003,
            gid: metadata.gid(),
        };
        // uid 0 passes every check, as the kernel lets root pass.
        if owner.uid != 0 {
            assert!(first_denied(&folder, owner, SEARCH).is_some());
        }
        assert_eq!(first_denied(&folder, group_member, SEARCH), None);
        assert!(first_denied(&folder, OTHER, SEARCH).is_some());
    }
}
