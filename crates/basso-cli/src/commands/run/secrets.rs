//! Secret values for `basso run`: `--secrets-file`, `--secret ID=VALUE` and
//! `BASSO_SECRET_<ID>` environment variables, in rising priority from the
//! environment to the command line.

use std::path::Path;

use basso_runner::Secrets;

/// Loads the values of `needed` secrets. A secret without a value is not
/// an error here; the preflight check reports it with the step that uses it.
pub fn load(needed: &[String], file: Option<&Path>, flags: &[String]) -> Result<Secrets, String> {
    let mut secrets = Secrets::new();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read `{}`: {error}", path.display()))?;
        secrets
            .load_json(&text)
            .map_err(|error| format!("`{}`: {error}", path.display()))?;
    }

    for flag in flags {
        let (id, value) = flag.split_once('=').ok_or_else(|| {
            format!(
                "invalid --secret `{}`; help: write --secret ID=VALUE",
                first_part(flag)
            )
        })?;
        if id.is_empty() {
            return Err("invalid --secret with an empty id; help: write --secret ID=VALUE".into());
        }
        secrets.insert(id, value);
    }

    secrets.load_env(needed, |name| std::env::var(name).ok())?;
    Ok(secrets)
}

/// Returns the text before `=`, so that a malformed flag is shown without
/// what may be its value.
fn first_part(flag: &str) -> &str {
    flag.split('=').next().unwrap_or_default()
}
