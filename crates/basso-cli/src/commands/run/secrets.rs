//! Secret values for `basso run`: `--secrets-file`, `--secret ID=VALUE` and
//! `BASSO_SECRET_<ID>` environment variables, in rising priority from the
//! environment to the command line.

use std::path::Path;

use basso_runner::Secrets;

use crate::resolution_args::read_text_bounded;

/// Loads the values of `needed` secrets. A secret without a value is not
/// an error here; the preflight check reports it with the step that uses it.
pub fn load(needed: &[String], file: Option<&Path>, flags: &[String]) -> Result<Secrets, String> {
    let mut secrets = Secrets::new();
    if let Some(path) = file {
        let text = read_text_bounded(path)
            .map_err(|error| format!("cannot read `{}`: {error}", path.display()))?;
        secrets
            .load_json(&text)
            .map_err(|error| format!("`{}`: {error}", path.display()))?;
    }

    let mut seen_ids: Vec<&str> = Vec::new();
    for flag in flags {
        // An argument without `=` may be a value whose `ID=` was forgotten,
        // so the message does not repeat it.
        let (id, value) = flag.split_once('=').ok_or_else(|| {
            "invalid --secret: the argument has no `=`; help: write --secret ID=VALUE".to_string()
        })?;
        if id.is_empty() {
            return Err("invalid --secret with an empty id; help: write --secret ID=VALUE".into());
        }
        if seen_ids.contains(&id) {
            tracing::warn!(
                "`--secret {id}` is given more than once; the last value is used; help: give each secret once"
            );
        } else {
            seen_ids.push(id);
        }
        secrets.insert(id, value);
    }

    secrets.load_env(needed, |name| std::env::var(name).ok())?;
    Ok(secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_without_id_is_not_echoed() {
        let flags = vec!["hunter2pass".to_string()];
        let error = load(&[], None, &flags).expect_err("an error");
        assert!(!error.contains("hunter2pass"), "{error}");
        assert!(error.contains("ID=VALUE"), "{error}");
    }
}
