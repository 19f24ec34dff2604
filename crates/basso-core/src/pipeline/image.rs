//! Container image references: `postgres:15`, `library/tomcat`,
//! `us.gcr.io/project/image:tag`, `1234.dkr.ecr.us-east-1.amazonaws.com/app:0.2`,
//! `name@sha256:<64 hex>`. Follows the Docker distribution reference grammar.

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry host (with port), or `None` for Docker Hub.
    pub registry: Option<String>,
    /// Repository path without the registry (`library/tomcat`).
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    /// Returns the reference with the `latest` tag added when it has neither
    /// a tag nor a digest.
    pub fn with_default_tag(text: &str) -> String {
        match parse_image(text) {
            Ok(image) if image.tag.is_none() && image.digest.is_none() => format!("{text}:latest"),
            _ => text.to_string(),
        }
    }
}

fn is_path_component(component: &str) -> bool {
    // Lowercase letters and digits, separated by `.`, `_`, `__` or runs of `-`.
    let bytes = component.as_bytes();
    if bytes.is_empty()
        || !bytes[0].is_ascii_alphanumeric()
        || !bytes[bytes.len() - 1].is_ascii_alphanumeric()
    {
        return false;
    }
    component
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

fn is_registry(component: &str) -> bool {
    component.contains('.') || component.contains(':') || component == "localhost"
}

fn is_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    first_ok
        && tag.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn is_digest(digest: &str) -> bool {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return false;
    };
    let algorithm_ok = !algorithm.is_empty()
        && algorithm
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+.-_".contains(c));
    algorithm_ok && hex.len() >= 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

/// Parses an image reference, returning why it is invalid on failure.
pub fn parse_image(text: &str) -> Result<ImageRef, String> {
    if text.is_empty() {
        return Err("the image is empty".into());
    }
    if let Some(c) = text.chars().find(|c| matches!(c, '*' | '?' | '[' | ']')) {
        return Err(format!("wildcards such as `{c}` are not supported"));
    }
    if text.chars().any(char::is_whitespace) {
        return Err("an image reference has no spaces".into());
    }
    let (name_and_tag, digest) = match text.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (text, None),
    };
    if let Some(digest) = digest.filter(|digest| !is_digest(digest)) {
        return Err(format!(
            "`{digest}` is not a digest such as `sha256:` followed by hex digits"
        ));
    }
    let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_and_tag[last_slash..].split_once(':') {
        Some((_, tag)) => (
            &name_and_tag[..name_and_tag.len() - tag.len() - 1],
            Some(tag),
        ),
        None => (name_and_tag, None),
    };
    if let Some(tag) = tag.filter(|tag| !is_tag(tag)) {
        return Err(format!(
            "`{tag}` is not a valid tag (letters, digits, `_`, `.` and `-`, at most 128)"
        ));
    }
    let mut components: Vec<&str> = name.split('/').collect();
    let registry = if components.len() > 1 && is_registry(components[0]) {
        Some(components.remove(0).to_string())
    } else {
        None
    };
    if let Some(bad) = components
        .iter()
        .find(|component| !is_path_component(component))
    {
        let hint = if bad.chars().any(|c| c.is_ascii_uppercase()) {
            " (repository names are lowercase)"
        } else {
            ""
        };
        return Err(format!(
            "`{bad}` is not a valid repository name component{hint}"
        ));
    }
    Ok(ImageRef {
        registry,
        repository: components.join("/"),
        tag: tag.map(str::to_string),
        digest: digest.map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_forms_accepted() {
        for text in [
            "library/tomcat",
            "postgres:15",
            "postgres:15-alpine",
            "us.gcr.io/playground-123/quickstart-image:latest",
            "40000005317.dkr.ecr.us-east-1.amazonaws.com/todolist:0.2",
            "localhost:5000/app",
            "redis@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "docker:dind",
        ] {
            assert!(parse_image(text).is_ok(), "{text}");
        }
    }

    #[test]
    fn image_forms_rejected() {
        assert!(parse_image("library/*").unwrap_err().contains("wildcards"));
        assert!(
            parse_image("Postgres:15")
                .unwrap_err()
                .contains("lowercase")
        );
        assert!(parse_image("postgres:15 alpine").is_err());
        assert!(parse_image("postgres:").is_err());
        assert!(parse_image("redis@sha256:xyz").is_err());
    }

    #[test]
    fn image_default_tag() {
        assert_eq!(ImageRef::with_default_tag("postgres"), "postgres:latest");
        assert_eq!(ImageRef::with_default_tag("postgres:15"), "postgres:15");
        assert_eq!(
            ImageRef::with_default_tag("localhost:5000/app"),
            "localhost:5000/app:latest"
        );
    }
}
