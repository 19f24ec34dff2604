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
    // A byte of a non-ASCII character fails this test as the character does.
    bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
}

fn is_registry(component: &str) -> bool {
    component.contains('.') || component.contains(':') || component == "localhost"
}

fn is_tag(tag: &str) -> bool {
    // A byte of a non-ASCII character fails these tests as the character does.
    let mut bytes = tag.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    first_ok
        && tag.len() <= 128
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
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

/// The parts of an image reference, borrowed from its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ImageParts<'t> {
    pub registry: Option<&'t str>,
    pub repository: &'t str,
    pub tag: Option<&'t str>,
    pub digest: Option<&'t str>,
}

/// Parses an image reference, returning why it is invalid on failure.
pub fn parse_image(text: &str) -> Result<ImageRef, String> {
    let parts = parse_image_parts(text)?;
    Ok(ImageRef {
        registry: parts.registry.map(str::to_string),
        repository: parts.repository.to_string(),
        tag: parts.tag.map(str::to_string),
        digest: parts.digest.map(str::to_string),
    })
}

/// Parses an image reference as [`parse_image`] does, without copying its
/// parts. Resolution checks the image of every step, so the `@`, `/` and
/// `:` separators are found with byte scans, and nothing is allocated
/// unless the image is invalid.
pub(crate) fn parse_image_parts(text: &str) -> Result<ImageParts<'_>, String> {
    if text.is_empty() {
        return Err("the image is empty".into());
    }
    check_characters(text)?;
    let (name_and_tag, digest) = match find_byte(text, b'@') {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    if let Some(digest) = digest.filter(|digest| !is_digest(digest)) {
        return Err(format!(
            "`{digest}` is not a digest such as `sha256:` followed by hex digits"
        ));
    }
    // The tag follows the first `:` after the last `/`, because a `:`
    // before it separates a registry's port.
    let last_slash = name_and_tag
        .bytes()
        .rposition(|byte| byte == b'/')
        .map_or(0, |i| i + 1);
    let (name, tag) = match find_byte(&name_and_tag[last_slash..], b':') {
        Some(at) => {
            let colon = last_slash + at;
            (&name_and_tag[..colon], Some(&name_and_tag[colon + 1..]))
        }
        None => (name_and_tag, None),
    };
    if let Some(tag) = tag.filter(|tag| !is_tag(tag)) {
        return Err(format!(
            "`{tag}` is not a valid tag (letters, digits, `_`, `.` and `-`, at most 128)"
        ));
    }
    // Docker's reference grammar limits the name, registry included.
    if name.len() > MAX_NAME_LENGTH {
        return Err(format!(
            "the name is {} characters long, more than the {MAX_NAME_LENGTH} that image references allow",
            name.chars().count()
        ));
    }
    // The first of several `/`-separated components is the registry when
    // it looks like a host.
    let (registry, repository) = match find_byte(name, b'/') {
        Some(slash) if is_registry(&name[..slash]) => (Some(&name[..slash]), &name[slash + 1..]),
        _ => (None, name),
    };
    if let Some(bad) = repository
        .split('/')
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
    Ok(ImageParts {
        registry,
        repository,
        tag,
        digest,
    })
}

/// Rejects wildcards and, after them, whitespace. ASCII text is checked in
/// one pass over its bytes. Other text is checked by characters, because a
/// non-ASCII character can be whitespace.
fn check_characters(text: &str) -> Result<(), String> {
    let wildcard = |c: char| format!("wildcards such as `{c}` are not supported");
    let spaces = || "an image reference has no spaces".to_string();
    if !text.is_ascii() {
        if let Some(c) = text.chars().find(|c| matches!(c, '*' | '?' | '[' | ']')) {
            return Err(wildcard(c));
        }
        if text.chars().any(char::is_whitespace) {
            return Err(spaces());
        }
        return Ok(());
    }
    let mut blank = false;
    for byte in text.bytes() {
        match byte {
            b'*' | b'?' | b'[' | b']' => return Err(wildcard(char::from(byte))),
            // The ASCII characters for which `char::is_whitespace` is true:
            // tab, line feed, vertical tab, form feed, carriage return, space.
            b'\t'..=b'\r' | b' ' => blank = true,
            _ => {}
        }
    }
    if blank { Err(spaces()) } else { Ok(()) }
}

/// The maximum length of a name, registry included, in Docker's image
/// references (`NameTotalLengthMax` in distribution/reference).
const MAX_NAME_LENGTH: usize = 255;

fn find_byte(text: &str, byte: u8) -> Option<usize> {
    text.bytes().position(|candidate| candidate == byte)
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
        let longest = "a".repeat(MAX_NAME_LENGTH);
        assert!(parse_image(&longest).is_ok());
        let too_long = format!("{longest}a:1");
        assert!(
            parse_image(&too_long)
                .unwrap_err()
                .contains("256 characters")
        );
    }

    #[test]
    fn image_parts_split_registry_and_tag() {
        let cases = [
            ("postgres", None, "postgres", None, None),
            ("library/tomcat", None, "library/tomcat", None, None),
            (
                "localhost:5000/app",
                Some("localhost:5000"),
                "app",
                None,
                None,
            ),
            (
                "us.gcr.io/project/team/image:1.2",
                Some("us.gcr.io"),
                "project/team/image",
                Some("1.2"),
                None,
            ),
            (
                "redis:7@sha256:0123456789abcdef0123456789abcdef",
                None,
                "redis",
                Some("7"),
                Some("sha256:0123456789abcdef0123456789abcdef"),
            ),
        ];
        for (text, registry, repository, tag, digest) in cases {
            let image = parse_image(text).unwrap();
            assert_eq!(image.registry.as_deref(), registry, "{text}");
            assert_eq!(image.repository, repository, "{text}");
            assert_eq!(image.tag.as_deref(), tag, "{text}");
            assert_eq!(image.digest.as_deref(), digest, "{text}");
        }
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
