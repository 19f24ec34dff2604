//! The temporary folder of a run, and the removal of folders that killed
//! runs left behind.
//!
//! Every run gets a folder `run-<pid>-<random>` in a per-user base folder
//! (`basso-<uid>` in the system's temporary folder). The run keeps an
//! exclusive `flock` on the file `owner.lock` inside it for as long as it
//! lives. The kernel releases the lock when the process ends, even on
//! SIGKILL, so a folder whose lock can be taken belongs to a run that has
//! ended; [`remove_leftovers`] removes such folders.
//!
//! # Permissions
//!
//! Steps that set `runAsUser`, and containers whose image runs as another
//! user, must reach the workspace, their script and their output folder.
//! Other users of the host must still not list what a run contains.
//! - The base folder and the run folder are `0711`, so others can enter a
//!   path they know inside them but cannot list them.
//! - The workspace that `basso run` creates is `0700`, unless a step of the
//!   run sets `runAsUser` or names an image (see
//!   [`RunFolder::create_workspace`]).
//!   Then it is `0777` without the sticky bit, as a Kubernetes `emptyDir`
//!   is, so every step's user can create, rename and delete files in it.
//!   Each file keeps the mode the umask of its step gives it.
//! - Each step's script and output folders are `0700` and belong to the
//!   step's user (see [`crate::host`]).

use std::fs::{File, TryLockError};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The file inside a run folder that the running basso keeps locked.
const LOCK_FILE: &str = "owner.lock";

/// The prefix of run folder names; the owner's process id follows it.
const RUN_PREFIX: &str = "run-";

/// The temporary folder of one run, removed when dropped.
#[derive(Debug)]
pub struct RunFolder {
    path: PathBuf,
    /// Held open, and so locked, until the folder is removed.
    _lock: File,
}

impl RunFolder {
    /// Creates a run folder in `base`, creating `base` first when it is
    /// missing, and locks it for this process.
    pub fn create(base: &Path) -> Result<RunFolder, String> {
        ensure_base(base)?;
        let path = tempfile::Builder::new()
            .prefix(&format!("{RUN_PREFIX}{}-", std::process::id()))
            .tempdir_in(base)
            .map_err(|error| {
                format!(
                    "cannot create a run folder in `{}`: {error}",
                    base.display()
                )
            })?
            .keep();
        // Other users may pass through to a step's folders and a shared
        // workspace (see the module documentation) but not list them.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o711))
            .map_err(|error| cannot(&path, "set the permissions of", &error))?;

        match lock(&path) {
            Ok(lock) => Ok(RunFolder { path, _lock: lock }),
            Err(error) => {
                let _ = std::fs::remove_dir_all(&path);
                Err(error)
            }
        }
    }

    /// Returns the folder's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates the folder `workspace` in the run folder and returns its path.
    /// It is `0700`, or `0777` when `shared`, which a run needs when a step
    /// runs as another user than basso.
    // NOTE: every user of the host who learns the path of a shared
    // workspace can write to it, and step command lines show that path.
    pub fn create_workspace(&self, shared: bool) -> Result<PathBuf, String> {
        let path = self.path.join("workspace");
        std::fs::create_dir(&path).map_err(|error| cannot(&path, "create", &error))?;

        // Set after creation, because the umask may remove bits from a mode
        // given to `mkdir`.
        let mode = if shared { 0o777 } else { 0o700 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(|error| cannot(&path, "set the permissions of", &error))?;
        Ok(path)
    }
}

impl Drop for RunFolder {
    fn drop(&mut self) {
        if let Err(reason) = remove_run_folder(&self.path) {
            tracing::warn!("{reason}");
        }
    }
}

/// Returns the base folder for run folders: `basso-<uid>` in the system's
/// temporary folder (`TMPDIR`, else `/tmp`).
pub fn default_base() -> PathBuf {
    std::env::temp_dir().join(format!("basso-{}", nix::unistd::geteuid()))
}

/// The outcome of [`remove_leftovers`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leftovers {
    /// The folders of ended runs that were removed.
    pub removed: Vec<PathBuf>,
    /// The folders of ended runs that could not be removed, each with the
    /// reason and what to do.
    pub not_removed: Vec<(PathBuf, String)>,
}

/// Removes the run folders in `base` whose run has ended. A missing `base`
/// means there is nothing to remove.
pub fn remove_leftovers(base: &Path) -> Leftovers {
    let mut leftovers = Leftovers::default();
    let entries = match std::fs::read_dir(base) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return leftovers,
        Err(error) => {
            tracing::warn!(path = %base.display(), "cannot list run folders: {error}");
            return leftovers;
        }
    };

    for entry in entries.flatten() {
        let path = entry.path();
        let is_folder = entry.file_type().is_ok_and(|kind| kind.is_dir());
        let is_run = entry.file_name().to_string_lossy().starts_with(RUN_PREFIX);
        if !is_folder || !is_run || !has_ended(&path) {
            continue;
        }
        match remove_run_folder(&path) {
            Ok(()) => leftovers.removed.push(path),
            Err(reason) => leftovers.not_removed.push((path, reason)),
        }
    }
    leftovers
}

/// Removes `folder` and everything in it, unless a file system is mounted
/// inside it: removing would then delete the mounted files too, such as a
/// host folder that a step bind-mounted there. A folder that is already
/// gone counts as removed. The error names what to do.
fn remove_run_folder(folder: &Path) -> Result<(), String> {
    let mounts = mounts_under(folder);
    if !mounts.is_empty() {
        let listed: Vec<String> = mounts
            .iter()
            .map(|mount| format!("`{}`", mount.display()))
            .collect();
        // Deepest first, each quoted for the shell.
        let commands: Vec<String> = mounts
            .iter()
            .map(|mount| {
                let path = mount.display().to_string().replace('\'', "'\\''");
                format!("`umount '{path}'`")
            })
            .collect();
        return Err(format!(
            "cannot remove `{}`: a step left {} mounted there; help: unmount with {} and run `basso gc` again",
            folder.display(),
            listed.join(", "),
            commands.join(", then ")
        ));
    }
    match std::fs::remove_dir_all(folder) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(format!("cannot remove `{}`: {error}", folder.display())),
    }
}

/// Returns the mount points at or below `folder`, deepest first, read from
/// `/proc/self/mountinfo`.
fn mounts_under(folder: &Path) -> Vec<PathBuf> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let folder = folder
        .canonicalize()
        .unwrap_or_else(|_| folder.to_path_buf());
    let mut mounts: Vec<PathBuf> = info
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|point| PathBuf::from(unescape_mount_point(point)))
        .filter(|point| point.starts_with(&folder))
        .collect();
    mounts.sort_by_key(|point| std::cmp::Reverse(point.components().count()));
    mounts.dedup();
    mounts
}

/// Undoes the octal escapes (`\040` for a space) of a mountinfo path.
fn unescape_mount_point(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escape = bytes.get(index + 1..index + 4).filter(|digits| {
            bytes[index] == b'\\' && digits.iter().all(|digit| (b'0'..=b'7').contains(digit))
        });
        match escape {
            Some(digits) => {
                let value = digits
                    .iter()
                    .fold(0u32, |value, digit| value * 8 + u32::from(digit - b'0'));
                out.push(value as u8);
                index += 4;
            }
            None => {
                out.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Returns whether the run that owns `folder` has ended: its lock file can
/// be locked, or it has none and the process named in the folder is gone.
fn has_ended(folder: &Path) -> bool {
    match File::open(folder.join(LOCK_FILE)) {
        Ok(file) => match file.try_lock() {
            Ok(()) => true,
            Err(TryLockError::WouldBlock) => false,
            Err(TryLockError::Error(error)) => {
                tracing::warn!(path = %folder.display(), "cannot check the run folder's lock: {error}");
                false
            }
        },
        // The owner creates the lock file right after the folder, so a
        // folder without one is either being created or was left by a run
        // killed in between.
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            owner_pid(folder).is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        }
        Err(_) => false,
    }
}

/// Reads the owner's process id from a folder name `run-<pid>-<random>`.
fn owner_pid(folder: &Path) -> Option<u32> {
    let name = folder.file_name()?.to_str()?;
    let rest = name.strip_prefix(RUN_PREFIX)?;
    rest.split('-').next()?.parse().ok()
}

/// Creates `base` with mode 0711, or checks that the existing one is a
/// folder of this user that no one else can write to, so that other users
/// cannot plant folders or links in it.
fn ensure_base(base: &Path) -> Result<(), String> {
    match std::fs::DirBuilder::new().mode(0o711).create(base) {
        // The umask may have taken bits away from the mode above.
        Ok(()) => {
            return std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o711))
                .map_err(|error| cannot(base, "set the permissions of", &error));
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(cannot(base, "create", &error)),
    }

    let metadata = std::fs::symlink_metadata(base).map_err(|error| cannot(base, "read", &error))?;
    let owner_ok = metadata.uid() == nix::unistd::geteuid().as_raw();
    let private = metadata.mode() & 0o022 == 0;
    if !metadata.is_dir() || !owner_ok || !private {
        return Err(format!(
            "temporary folder `{}` is not a folder of this user that only it can write to; \
             help: remove it, or set TMPDIR to a private folder",
            base.display()
        ));
    }
    Ok(())
}

/// Creates and locks the lock file of `folder`. The file is locked under a
/// temporary name and then renamed, so that no other run finds it unlocked.
fn lock(folder: &Path) -> Result<File, String> {
    let staging = folder.join(format!("{LOCK_FILE}.new"));
    let mut file = File::create(&staging).map_err(|error| cannot(&staging, "create", &error))?;
    file.try_lock()
        .map_err(|error| format!("cannot lock `{}`: {error}", staging.display()))?;
    writeln!(file, "{}", std::process::id()).map_err(|error| cannot(&staging, "write", &error))?;

    let path = folder.join(LOCK_FILE);
    std::fs::rename(&staging, &path).map_err(|error| cannot(&path, "create", &error))?;
    Ok(file)
}

fn cannot(path: &Path, action: &str, error: &std::io::Error) -> String {
    format!("cannot {action} `{}`: {error}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_folder_kept_while_locked() {
        let base = tempfile::tempdir().unwrap();
        let folder = RunFolder::create(base.path()).unwrap();

        assert_eq!(remove_leftovers(base.path()), Leftovers::default());
        assert!(folder.path().is_dir());
        let path = folder.path().to_path_buf();
        drop(folder);
        assert!(!path.exists());
    }

    #[test]
    fn unlocked_run_folder_removed() {
        let base = tempfile::tempdir().unwrap();
        let ended = base.path().join("run-1-ended");
        std::fs::create_dir(&ended).unwrap();
        std::fs::write(ended.join(LOCK_FILE), "1\n").unwrap();
        std::fs::write(ended.join("left.txt"), "data").unwrap();
        let other = base.path().join("notes");
        std::fs::create_dir(&other).unwrap();

        assert_eq!(remove_leftovers(base.path()).removed, vec![ended.clone()]);
        assert!(!ended.exists());
        assert!(other.exists());
    }

    /// An ended run's folder that cannot be removed is listed with the
    /// reason: as root, a tmpfs mounted inside it, which the reason names and
    /// whose files stay; otherwise a read-only subfolder with a file in it.
    #[test]
    fn unremovable_folder_kept_with_reason() {
        let base = tempfile::tempdir().unwrap();
        let ended = base.path().join("run-1-ended");
        let inner = ended.join("workspace").join("mnt dir");
        std::fs::create_dir_all(&inner).unwrap();
        std::fs::write(ended.join(LOCK_FILE), "1\n").unwrap();
        let root = nix::unistd::geteuid().is_root();
        if root {
            let mounted = std::process::Command::new("mount")
                .args(["-t", "tmpfs", "tmpfs"])
                .arg(&inner)
                .status()
                .unwrap();
            assert!(mounted.success());
        } else {
            std::fs::write(inner.join("file"), "x").unwrap();
            std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o500)).unwrap();
        }

        if root {
            std::fs::write(inner.join("mounted file"), "kept").unwrap();
        }
        let leftovers = remove_leftovers(base.path());
        if root {
            // Nothing under the mount was deleted.
            assert!(inner.join("mounted file").exists());
            let unmounted = std::process::Command::new("umount")
                .arg(&inner)
                .status()
                .unwrap();
            assert!(unmounted.success());
        } else {
            std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o700)).unwrap();
        }

        assert_eq!(leftovers.removed, Vec::<PathBuf>::new());
        assert_eq!(leftovers.not_removed.len(), 1, "{leftovers:?}");
        let (path, reason) = &leftovers.not_removed[0];
        assert_eq!(path, &ended);
        assert!(reason.contains(&ended.display().to_string()), "{reason}");
        if root {
            let canonical = inner.canonicalize().unwrap();
            assert!(
                reason.contains(&format!("umount '{}'", canonical.display())),
                "{reason}"
            );
        }
        assert!(ended.exists());
    }

    #[test]
    fn folder_without_lock_judged_by_pid() {
        let base = tempfile::tempdir().unwrap();
        let mine = base.path().join(format!("run-{}-new", std::process::id()));
        std::fs::create_dir(&mine).unwrap();
        // Process ids stay below 2^22 on Linux, so this one never exists.
        let ended_run = base.path().join("run-99999999-old");
        std::fs::create_dir(&ended_run).unwrap();

        assert_eq!(
            remove_leftovers(base.path()).removed,
            vec![ended_run.clone()]
        );
        assert!(mine.exists());
    }

    #[test]
    fn base_writable_by_others_rejected() {
        let parent = tempfile::tempdir().unwrap();
        let base = parent.path().join("basso-shared");
        std::fs::create_dir(&base).unwrap();
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o777)).unwrap();

        let error = RunFolder::create(&base).unwrap_err();
        assert!(error.contains(&format!("`{}`", base.display())), "{error}");
        assert!(error.contains("help: "), "{error}");
    }

    #[test]
    fn workspace_mode_follows_sharing() {
        let base = tempfile::tempdir().unwrap();
        for (shared, expected) in [(false, 0o700), (true, 0o777)] {
            let folder = RunFolder::create(base.path()).unwrap();
            let workspace = folder.create_workspace(shared).unwrap();

            // Also checks that the sticky bit is off, as in an `emptyDir`.
            let mode = std::fs::metadata(&workspace).unwrap().mode() & 0o7777;
            assert_eq!(mode, expected, "shared: {shared}");
            let run_mode = std::fs::metadata(folder.path()).unwrap().mode() & 0o7777;
            assert_eq!(run_mode, 0o711, "shared: {shared}");
        }
    }

    #[test]
    fn base_created_private() {
        let parent = tempfile::tempdir().unwrap();
        let base = parent.path().join("basso-new");
        let folder = RunFolder::create(&base).unwrap();

        let mode = std::fs::metadata(&base).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o711);
        assert!(folder.path().join(LOCK_FILE).is_file());
    }
}
