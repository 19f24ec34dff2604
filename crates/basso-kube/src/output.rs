//! Printing a manifest: multi-document YAML, or a JSON `v1` `List`.

use crate::export::Manifest;

/// Prints the Job, then the Secret template when there is one, as YAML
/// documents. A leading comment names the Secrets the cluster must hold.
pub fn to_yaml(manifest: &Manifest) -> Result<String, serde_saphyr::ser::Error> {
    let mut out = header_comment(manifest);
    out.push_str("---\n");
    out.push_str(&serde_saphyr::to_string(&manifest.job)?);
    if let Some(secret) = &manifest.secret_template {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(secret)?);
    }
    Ok(out)
}

/// Returns the objects as one `v1` `List`, which `kubectl apply -f` accepts.
pub fn to_json(manifest: &Manifest) -> Result<serde_json::Value, serde_json::Error> {
    let mut items = vec![serde_json::to_value(&manifest.job)?];
    if let Some(secret) = &manifest.secret_template {
        items.push(serde_json::to_value(secret)?);
    }
    Ok(serde_json::json!({ "apiVersion": "v1", "kind": "List", "items": items }))
}

fn header_comment(manifest: &Manifest) -> String {
    let mut lines = vec!["# Exported by `basso export kubernetes`.".to_string()];
    if !manifest.secret_keys.is_empty() {
        lines.push(format!(
            "# Secret `{}` must hold the keys: {}",
            manifest.secret_name,
            manifest.secret_keys.join(", ")
        ));
    }
    if !manifest.image_pull_secrets.is_empty() {
        lines.push(format!(
            "# Image pull Secrets the namespace must hold: {}",
            manifest.image_pull_secrets.join(", ")
        ));
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}
