//! Secret references in resolved text, and Kubernetes' `$(VAR)` expansion.
//!
//! basso-core renders a secret as the literal text
//! `<+secrets.getValue("ID")>`. The kubelet expands `$(VAR)` in a
//! container's `command`, `args` and `env` values from the variables declared
//! before it, and turns `$$` into `$`. The export relies on both: a secret
//! becomes an environment variable read from a Secret, the text refers to it
//! as `$(VAR)`, and every other `$` is doubled so the shell receives the text
//! as written.

use std::ops::Range;

use basso_core::SecretHandle;

const OPEN: &str = "<+secrets.getValue(";
const CLOSE: &str = ")>";

/// One `<+secrets.getValue("ID")>` in a resolved string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    /// Byte range of the whole reference in the string.
    pub byte_range: Range<usize>,
    /// The secret identifier, such as `docker_token` or `account.npm_token`.
    pub id: String,
}

/// Finds every secret reference in `text`, in order. The id may be quoted
/// with `"` or `'`; anything else between the parentheses is not a resolved
/// secret reference and is left alone.
pub fn find_secret_refs(text: &str) -> Vec<SecretRef> {
    let mut refs = Vec::new();
    let mut from = 0;
    while let Some(found) = text[from..].find(OPEN) {
        let start = from + found;
        let inner_start = start + OPEN.len();
        from = inner_start;

        let Some(close) = text[inner_start..].find(CLOSE) else {
            break;
        };
        let inner = &text[inner_start..inner_start + close];
        let Some(id) = unquote(inner) else { continue };
        let end = inner_start + close + CLOSE.len();
        refs.push(SecretRef {
            byte_range: start..end,
            id: id.to_string(),
        });
        from = end;
    }
    refs
}

fn unquote(text: &str) -> Option<&str> {
    let quote = text.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let id = text.strip_prefix(quote)?.strip_suffix(quote)?;
    (!id.is_empty() && !id.contains(quote)).then_some(id)
}

/// Returns whether `id` can be a key of a Kubernetes Secret.
pub fn is_secret_key(id: &str) -> bool {
    secret_key_problem(id).is_none()
}

/// Returns why the API server rejects `id` as a Secret key, or `None` when it
/// accepts it. The rules are those of `IsConfigMapKey` in k8s.io/apimachinery
/// `pkg/util/validation/validation.go`: 1 to 253 bytes, each a letter,
/// digit, `-`, `_` or `.`, and not `.`, `..` or any key starting with `..`.
pub fn secret_key_problem(id: &str) -> Option<&'static str> {
    if id.is_empty() || id.len() > 253 {
        return Some("a Secret key has 1 to 253 characters");
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    {
        return Some("a Secret key contains only letters, digits, `-`, `_` and `.`");
    }
    if id == "." || id.starts_with("..") {
        return Some("a Secret key is not `.` or `..` and does not start with `..`");
    }
    None
}

/// Returns the environment variable that carries secret `id` into a
/// container ([`SecretHandle::env_var`]).
pub fn secret_env_var(id: &str) -> String {
    SecretHandle::new(id).env_var()
}

/// Doubles every `$` so the kubelet's expansion gives back `text` unchanged.
pub fn escape_dollars(text: &str) -> String {
    text.replace('$', "$$")
}

/// Rewrites `text` for a `command`, `args` or `env` value: each secret
/// reference becomes `$(VAR)` with `var_for(id)`, and every other `$` is
/// doubled.
pub fn substitute_secrets(text: &str, mut var_for: impl FnMut(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for secret in find_secret_refs(text) {
        out.push_str(&escape_dollars(&text[last..secret.byte_range.start]));
        out.push_str(&format!("$({})", var_for(&secret.id)));
        last = secret.byte_range.end;
    }
    out.push_str(&escape_dollars(&text[last..]));
    out
}

/// Returns the secret id when `text` is exactly one secret reference.
pub fn whole_secret_ref(text: &str) -> Option<String> {
    let refs = find_secret_refs(text);
    match refs.as_slice() {
        [only] if only.byte_range == (0..text.len()) => Some(only.id.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_double_and_single_quoted_ids() {
        let text = r#"a <+secrets.getValue("x_1")> b <+secrets.getValue('org.y')>"#;
        let ids: Vec<String> = find_secret_refs(text).into_iter().map(|r| r.id).collect();
        assert_eq!(ids, ["x_1", "org.y"]);
    }

    #[test]
    fn ignores_unresolved_expression_argument() {
        let text = r#"<+secrets.getValue(<+pipeline.variables.name>)>"#;
        assert!(find_secret_refs(text).is_empty());
    }

    #[test]
    fn substitution_escapes_other_dollars() {
        let text = r#"echo $HOME $(date) <+secrets.getValue("tok")>"#;
        let out = substitute_secrets(text, secret_env_var);
        assert_eq!(out, "echo $$HOME $$(date) $(BASSO_SECRET_TOK)");
    }

    #[test]
    fn secret_key_rejects_dot_names() {
        for id in [".", "..", "..x", "...", "../a"] {
            assert!(!is_secret_key(id), "{id}");
        }
    }

    #[test]
    fn secret_key_accepts_inner_dots() {
        for id in [".x", "a..b", "x.", "account.npm_token", "a-b_c"] {
            assert!(is_secret_key(id), "{id}");
        }
    }

    #[test]
    fn env_var_name_from_scoped_id() {
        assert_eq!(
            secret_env_var("account.npm-token"),
            "BASSO_SECRET_ACCOUNT_NPM_TOKEN"
        );
    }

    #[test]
    fn whole_reference_detected() {
        assert_eq!(
            whole_secret_ref(r#"<+secrets.getValue("a")>"#).as_deref(),
            Some("a")
        );
        assert_eq!(whole_secret_ref(r#"x<+secrets.getValue("a")>"#), None);
    }
}
