//! Kubernetes object names (DNS-1123) derived from Harness identifiers.

/// Maximum length of a DNS-1123 label, such as a container name.
pub const DNS1123_LABEL_MAX: usize = 63;
/// Maximum length of a DNS-1123 subdomain, such as a Secret name.
pub const DNS1123_SUBDOMAIN_MAX: usize = 253;

/// Returns whether `name` is a DNS-1123 label: 1 to 63 lower-case letters,
/// digits and `-`, starting and ending with a letter or digit.
pub fn is_dns1123_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    let edge_ok = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= DNS1123_LABEL_MAX
        && bytes.first().is_some_and(edge_ok)
        && bytes.last().is_some_and(edge_ok)
        && bytes.iter().all(|b| edge_ok(b) || *b == b'-')
}

/// Returns whether `name` is a DNS-1123 subdomain: dot-separated labels, at
/// most 253 characters in all.
pub fn is_dns1123_subdomain(name: &str) -> bool {
    name.len() <= DNS1123_SUBDOMAIN_MAX && name.split('.').all(is_dns1123_label)
}

/// Converts an identifier into a DNS-1123 label: lower case, every character
/// other than a letter or digit becomes `-`, runs of `-` collapse, and the
/// result is cut to 63 characters. Returns `None` when nothing is left.
///
/// `api_tests` becomes `api-tests` and `Build_App` becomes `build-app`.
pub fn to_dns1123_label(identifier: &str) -> Option<String> {
    let mut label = String::with_capacity(identifier.len());
    for c in identifier.chars() {
        if c.is_ascii_alphanumeric() {
            label.push(c.to_ascii_lowercase());
        } else if !label.is_empty() && !label.ends_with('-') {
            label.push('-');
        }
    }

    label.truncate(DNS1123_LABEL_MAX);
    while label.ends_with('-') {
        label.pop();
    }
    (!label.is_empty()).then_some(label)
}

/// Converts an identifier into a DNS-1123 subdomain, keeping `.` between
/// labels (`account.docker_hub` becomes `account.docker-hub`).
pub fn to_dns1123_subdomain(identifier: &str) -> Option<String> {
    let labels: Option<Vec<String>> = identifier.split('.').map(to_dns1123_label).collect();
    let name = labels?.join(".");
    (name.len() <= DNS1123_SUBDOMAIN_MAX).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_from_underscore_id() {
        assert_eq!(to_dns1123_label("api_tests").as_deref(), Some("api-tests"));
    }

    #[test]
    fn label_lowercases_and_trims() {
        assert_eq!(
            to_dns1123_label("_Build__App_").as_deref(),
            Some("build-app")
        );
    }

    #[test]
    fn label_of_only_underscores_is_none() {
        assert_eq!(to_dns1123_label("___"), None);
    }

    #[test]
    fn label_cut_to_63_characters() {
        let long = "a_".repeat(40);
        let label = to_dns1123_label(&long).unwrap();
        assert!(label.len() <= DNS1123_LABEL_MAX);
        assert!(is_dns1123_label(&label), "{label}");
    }

    #[test]
    fn label_check_rejects_bad_names() {
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"a".repeat(64)] {
            assert!(!is_dns1123_label(bad), "{bad:?} accepted");
        }
        for good in ["a", "a-b", "0", "postgres15"] {
            assert!(is_dns1123_label(good), "{good:?} rejected");
        }
    }

    #[test]
    fn subdomain_keeps_dots() {
        assert_eq!(
            to_dns1123_subdomain("account.docker_Hub").as_deref(),
            Some("account.docker-hub")
        );
        assert!(is_dns1123_subdomain("account.docker-hub"));
        assert!(!is_dns1123_subdomain("account..hub"));
    }
}
