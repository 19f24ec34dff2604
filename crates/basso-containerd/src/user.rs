//! Finds the user and group ids of an image `User` given by name (`ci`,
//! `ci:ci`, `1000:staff`) in the image's own `/etc/passwd` and
//! `/etc/group`, as container engines do before they start a container.
//!
//! The files are read from the directories of a read-only view of the
//! image's snapshot, top layer first. basso reads these files on the host,
//! so it follows no symbolic link inside them: an image could point
//! `/etc/passwd` at a host file.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use containerd_client::types::Mount;

/// The largest `/etc/passwd` or `/etc/group` basso reads, in bytes.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Returns the directories of a snapshot's `mounts`, top layer first: the
/// source of a bind mount, or an overlay's `upperdir` and `lowerdir` list.
pub fn layer_dirs(mounts: &[Mount]) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for mount in mounts {
        if mount.r#type == "bind" {
            dirs.push(PathBuf::from(&mount.source));
            continue;
        }
        let option = |name: &str| {
            mount
                .options
                .iter()
                .find_map(|option| option.strip_prefix(name))
        };
        if let Some(upper) = option("upperdir=") {
            dirs.push(PathBuf::from(upper));
        }
        if let Some(lower) = option("lowerdir=") {
            dirs.extend(lower.split(':').map(PathBuf::from));
        }
    }
    dirs
}

/// Returns the uid and gid of `user`, an image `User` (`name`, `uid`,
/// `name:group`, `uid:gid` and the mixed forms), looking names up in the
/// `etc/passwd` and `etc/group` of `dirs`, the image's layers top first.
/// Without a group, the gid is the user's primary group from `etc/passwd`,
/// found by name or by uid, as Docker and containerd find it, or 0 for a
/// numeric uid that `etc/passwd` does not list.
pub fn resolve(user: &str, dirs: &[PathBuf]) -> Result<(u32, u32), String> {
    let (name, group) = match user.split_once(':') {
        Some((name, group)) => (name, Some(group)),
        None => (user, None),
    };
    let (uid, primary_gid) = match name.parse::<u32>() {
        Ok(uid) => (uid, primary_group_of(uid, dirs)),
        Err(_) => {
            let passwd = read_layered(dirs, "passwd")?.ok_or_else(|| {
                format!("user `{name}` is not numeric and the image has no /etc/passwd")
            })?;
            find_entry(&passwd, name, 2)
                .and_then(|fields| {
                    Some((fields.first()?.parse().ok()?, fields.get(1)?.parse().ok()?))
                })
                .ok_or_else(|| format!("user `{name}` is not in the image's /etc/passwd"))?
        }
    };
    let gid = match group {
        None => primary_gid,
        Some(group) => match group.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => {
                let groups = read_layered(dirs, "group")?.ok_or_else(|| {
                    format!("group `{group}` is not numeric and the image has no /etc/group")
                })?;
                find_entry(&groups, group, 1)
                    .and_then(|fields| fields.first()?.parse().ok())
                    .ok_or_else(|| format!("group `{group}` is not in the image's /etc/group"))?
            }
        },
    };
    Ok((uid, gid))
}

/// Returns the primary gid that the image's `etc/passwd` gives `uid`, or 0
/// when the file is missing, cannot be read safely or does not list it.
fn primary_group_of(uid: u32, dirs: &[PathBuf]) -> u32 {
    let Ok(Some(passwd)) = read_layered(dirs, "passwd") else {
        return 0;
    };
    let uid = uid.to_string();
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.get(2) == Some(&uid.as_str()))
        .and_then(|fields| fields.get(3)?.parse().ok())
        .unwrap_or(0)
}

/// Returns the fields after the password of the first line of `text` whose
/// first field is `name` (`uid`, `gid`, ... of `/etc/passwd`), at least
/// `min_fields` of them.
fn find_entry<'t>(text: &'t str, name: &str, min_fields: usize) -> Option<Vec<&'t str>> {
    text.lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&name))
        .map(|fields| fields.into_iter().skip(2).collect::<Vec<_>>())
        .filter(|fields| fields.len() >= min_fields)
}

/// Reads `etc/FILE` from the top layer that has it. Returns `None` when no
/// layer has it, or when a layer above deleted it or its folder (an overlay
/// whiteout is a character device, not a file).
fn read_layered(dirs: &[PathBuf], file: &str) -> Result<Option<String>, String> {
    for dir in dirs {
        let etc = dir.join("etc");
        match entry_kind(&etc)? {
            Kind::Missing => continue,
            Kind::Directory => {}
            Kind::Symlink => return Err(symlink_error("/etc")),
            Kind::File | Kind::Other => return Ok(None),
        }
        let path = etc.join(file);
        match entry_kind(&path)? {
            Kind::Missing => continue,
            Kind::File => return read_limited(&path, file).map(Some),
            Kind::Symlink => return Err(symlink_error(&format!("/etc/{file}"))),
            Kind::Directory | Kind::Other => return Ok(None),
        }
    }
    Ok(None)
}

enum Kind {
    Missing,
    Directory,
    File,
    Symlink,
    Other,
}

fn entry_kind(path: &Path) -> Result<Kind, String> {
    match fs::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_symlink() => Ok(Kind::Symlink),
        Ok(metadata) if metadata.is_dir() => Ok(Kind::Directory),
        Ok(metadata) if metadata.is_file() => Ok(Kind::File),
        Ok(_) => Ok(Kind::Other),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Kind::Missing),
        Err(error) => Err(format!("cannot read `{}`: {error}", path.display())),
    }
}

fn read_limited(path: &Path, file: &str) -> Result<String, String> {
    let opened =
        fs::File::open(path).map_err(|error| format!("cannot read /etc/{file}: {error}"))?;
    let mut bytes = Vec::new();
    opened
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| format!("cannot read /etc/{file}: {error}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "the image's /etc/{file} is larger than {MAX_FILE_BYTES} bytes"
        ));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn symlink_error(path: &str) -> String {
    format!("the image's {path} is a symbolic link, which basso does not follow to find a user")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nci:x:1000:1001:ci:/tmp:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nci:x:1001:\nstaff:x:50:ci\n";

    /// Writes one layer folder with the given `etc` files.
    fn layer(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("etc")).unwrap();
        for (name, text) in files {
            fs::write(dir.path().join("etc").join(name), text).unwrap();
        }
        dir
    }

    fn resolve_in(user: &str, layers: &[&tempfile::TempDir]) -> Result<(u32, u32), String> {
        let dirs: Vec<PathBuf> = layers.iter().map(|dir| dir.path().to_path_buf()).collect();
        resolve(user, &dirs)
    }

    #[test]
    fn user_forms_resolved() {
        let image = layer(&[("passwd", PASSWD), ("group", GROUP)]);
        assert_eq!(resolve_in("ci", &[&image]), Ok((1000, 1001)));
        assert_eq!(resolve_in("ci:staff", &[&image]), Ok((1000, 50)));
        assert_eq!(resolve_in("ci:7", &[&image]), Ok((1000, 7)));
        assert_eq!(resolve_in("1000:staff", &[&image]), Ok((1000, 50)));
        assert_eq!(resolve_in("root", &[&image]), Ok((0, 0)));
        assert_eq!(resolve_in("1000", &[&image]), Ok((1000, 1001)));
        assert_eq!(resolve_in("4242", &[&image]), Ok((4242, 0)));
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(resolve_in("1000", &[&empty]), Ok((1000, 0)));
    }

    #[test]
    fn unknown_user_named() {
        let image = layer(&[("passwd", PASSWD), ("group", GROUP)]);
        let error = resolve_in("postgres", &[&image]).unwrap_err();
        assert_eq!(error, "user `postgres` is not in the image's /etc/passwd");
        let error = resolve_in("ci:wheel", &[&image]).unwrap_err();
        assert_eq!(error, "group `wheel` is not in the image's /etc/group");
    }

    #[test]
    fn top_layer_wins() {
        let lower = layer(&[("passwd", PASSWD)]);
        let upper = layer(&[("passwd", "ci:x:2000:2000::/:/bin/sh\n")]);
        assert_eq!(resolve_in("ci", &[&upper, &lower]), Ok((2000, 2000)));
        let without_etc = tempfile::tempdir().unwrap();
        assert_eq!(resolve_in("ci", &[&without_etc, &lower]), Ok((1000, 1001)));
    }

    #[test]
    fn missing_passwd_named() {
        let empty = tempfile::tempdir().unwrap();
        let error = resolve_in("ci", &[&empty]).unwrap_err();
        assert_eq!(
            error,
            "user `ci` is not numeric and the image has no /etc/passwd"
        );
    }

    #[test]
    fn symlinked_passwd_not_followed() {
        let host = layer(&[("passwd", PASSWD)]);
        let image = tempfile::tempdir().unwrap();
        fs::create_dir(image.path().join("etc")).unwrap();
        std::os::unix::fs::symlink(
            host.path().join("etc/passwd"),
            image.path().join("etc/passwd"),
        )
        .unwrap();
        let error = resolve_in("ci", &[&image]).unwrap_err();
        assert!(error.contains("/etc/passwd is a symbolic link"), "{error}");

        let linked_etc = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(host.path().join("etc"), linked_etc.path().join("etc")).unwrap();
        let error = resolve_in("ci", &[&linked_etc]).unwrap_err();
        assert!(error.contains("/etc is a symbolic link"), "{error}");
    }

    #[test]
    fn overlay_and_bind_dirs_listed() {
        let overlay = Mount {
            r#type: "overlay".into(),
            source: "overlay".into(),
            options: vec!["index=off".into(), "lowerdir=/l/2/fs:/l/1/fs".into()],
            ..Mount::default()
        };
        assert_eq!(
            layer_dirs(&[overlay]),
            [PathBuf::from("/l/2/fs"), PathBuf::from("/l/1/fs")]
        );
        let bind = Mount {
            r#type: "bind".into(),
            source: "/l/1/fs".into(),
            options: vec!["ro".into(), "rbind".into()],
            ..Mount::default()
        };
        assert_eq!(layer_dirs(&[bind]), [PathBuf::from("/l/1/fs")]);
    }
}
