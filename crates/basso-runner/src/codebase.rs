//! The codebase of a stage with `cloneCodebase: true`: a local git
//! checkout, and the `<+codebase.*>` values read from it with `git`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

/// What `<+codebase.*>` expressions read, taken from a local checkout.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Codebase {
    /// The top folder of the checkout.
    #[serde(skip)]
    pub root: PathBuf,
    /// The branch checked out, absent on a detached HEAD.
    pub branch: Option<String>,
    /// The full commit hash of HEAD.
    pub commit_sha: String,
    /// The first seven characters of `commit_sha`.
    pub short_commit_sha: String,
    /// The full commit message of HEAD.
    pub commit_message: String,
    /// The URL of the `origin` remote, when there is one.
    pub repo_url: Option<String>,
    /// The author name of HEAD.
    pub git_user: String,
    /// The author email of HEAD.
    pub git_user_email: String,
    /// The tag pointing at HEAD, when there is one.
    pub tag: Option<String>,
}

impl Codebase {
    /// Reads the checkout around `dir` with `git`.
    pub fn inspect(dir: &Path) -> Result<Codebase, String> {
        if !dir.is_dir() {
            return Err(format!(
                "`{}` is not found or is not a folder; help: pass --codebase with the folder of a git checkout",
                dir.display()
            ));
        }
        let root = git(dir, &["rev-parse", "--show-toplevel"])?.ok_or_else(|| {
            format!(
                "`{}` is not inside a git checkout; help: pass --codebase DIR",
                dir.display()
            )
        })?;
        let root = PathBuf::from(root);
        let commit_sha = git(&root, &["rev-parse", "HEAD"])?
            .ok_or_else(|| format!("the checkout `{}` has no commit yet", root.display()))?;

        let branch = git(&root, &["symbolic-ref", "--quiet", "--short", "HEAD"])?;
        let commit_message = git(&root, &["log", "-1", "--format=%B"])?.unwrap_or_default();
        let repo_url = git(&root, &["config", "--get", "remote.origin.url"])?;
        let git_user = git(&root, &["log", "-1", "--format=%an"])?.unwrap_or_default();
        let git_user_email = git(&root, &["log", "-1", "--format=%ae"])?.unwrap_or_default();
        let tag = git(&root, &["describe", "--tags", "--exact-match", "HEAD"])?;

        Ok(Codebase {
            short_commit_sha: commit_sha.chars().take(7).collect(),
            root,
            branch,
            commit_sha,
            commit_message,
            repo_url,
            git_user,
            git_user_email,
            tag,
        })
    }

    /// Returns the values as the `codebase` object of an expression context.
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).expect("codebase serializes");
        let build_type = if self.tag.is_some() { "tag" } else { "branch" };
        value["build"] = serde_json::json!({ "type": build_type });
        value["sourceBranch"] = serde_json::json!(self.branch);
        value
    }
}

/// Runs `git -C dir ARGS`; returns its trimmed output, or `None` when git
/// exits with an error (no such ref, no remote).
fn git(dir: &Path, args: &[&str]) -> Result<Option<String>, String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|error| format!("cannot run `git`: {error}; help: install git"))?;
    if !output.status.success() {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_git(dir: &Path, args: &[&str]) {
        let status = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }

    #[test]
    fn inspect_reads_branch_and_commit() {
        let dir = tempfile::tempdir().unwrap();
        run_git(dir.path(), &["init", "-q", "-b", "feature"]);
        run_git(dir.path(), &["config", "user.name", "Ada"]);
        run_git(dir.path(), &["config", "user.email", "ada@example.com"]);
        run_git(
            dir.path(),
            &["remote", "add", "origin", "https://example.com/r.git"],
        );
        run_git(
            dir.path(),
            &["commit", "-q", "--allow-empty", "-m", "first commit"],
        );

        let codebase = Codebase::inspect(dir.path()).unwrap();
        assert_eq!(codebase.branch.as_deref(), Some("feature"));
        assert_eq!(codebase.commit_sha.len(), 40);
        assert_eq!(codebase.short_commit_sha, codebase.commit_sha[..7]);
        assert_eq!(codebase.commit_message, "first commit");
        assert_eq!(
            codebase.repo_url.as_deref(),
            Some("https://example.com/r.git")
        );
        assert_eq!(codebase.git_user, "Ada");
        assert_eq!(
            codebase.to_json()["shortCommitSha"],
            codebase.short_commit_sha
        );
    }

    #[test]
    fn inspect_outside_checkout_fails() {
        let dir = tempfile::tempdir().unwrap();
        let error = Codebase::inspect(dir.path()).unwrap_err();
        assert!(error.contains("not inside a git checkout"), "{error}");
    }

    #[test]
    fn inspect_missing_folder_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("absent");
        let error = Codebase::inspect(&missing).unwrap_err();
        assert!(error.contains("is not found or is not a folder"), "{error}");
    }
}
