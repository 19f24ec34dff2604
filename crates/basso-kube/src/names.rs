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

/// Returns whether `key` is a valid label or annotation key: a name of 1 to
/// 63 letters, digits, `-`, `_` and `.`, starting and ending with a letter
/// or digit, after an optional DNS-1123 subdomain prefix and `/`.
pub fn is_qualified_name(key: &str) -> bool {
    match key.split_once('/') {
        Some((prefix, name)) => is_dns1123_subdomain(prefix) && is_label_name(name),
        None => is_label_name(key),
    }
}

/// Returns whether `value` is a valid label value: empty, or a name as in
/// [`is_qualified_name`] without a prefix.
pub fn is_label_value(value: &str) -> bool {
    value.is_empty() || is_label_name(value)
}

fn is_label_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let edge_ok = |b: &u8| b.is_ascii_alphanumeric();
    !bytes.is_empty()
        && bytes.len() <= DNS1123_LABEL_MAX
        && bytes.first().is_some_and(edge_ok)
        && bytes.last().is_some_and(edge_ok)
        && bytes.iter().all(|b| edge_ok(b) || b"-_.".contains(b))
}

/// Converts an identifier into a DNS-1123 label: lower case, every character
/// other than a letter or digit becomes `-`, runs of `-` collapse, and the
/// result is cut to 63 characters. Returns `None` when nothing is left.
///
/// `api_tests` becomes `api-tests` and `Build_App` becomes `build-app`.
pub fn to_dns1123_label(identifier: &str) -> Option<String> {
    let mut label = label_text(identifier);
    cut_label(&mut label, DNS1123_LABEL_MAX);
    (!label.is_empty()).then_some(label)
}

/// Converts an identifier as [`to_dns1123_label`] does, without the cut.
fn label_text(identifier: &str) -> String {
    let mut label = String::with_capacity(identifier.len());
    for c in identifier.chars() {
        if c.is_ascii_alphanumeric() {
            label.push(c.to_ascii_lowercase());
        } else if !label.is_empty() && !label.ends_with('-') {
            label.push('-');
        }
    }
    label
}

/// Cuts an ASCII label to `max` characters and drops the `-` it then ends
/// with.
fn cut_label(label: &mut String, max: usize) {
    label.truncate(max);
    while label.ends_with('-') {
        label.pop();
    }
}

/// Returns whether every Kubernetes API server accepts `name` as a container
/// environment variable name. Without relaxed validation (the
/// `RelaxedEnvironmentVariableValidation` feature of KEP-4369, beta in 1.32
/// and GA in 1.34), a name must match `[-._a-zA-Z][-._a-zA-Z0-9]*`.
pub fn is_env_var_name(name: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
    name.chars()
        .next()
        .is_some_and(|c| allowed(c) && !c.is_ascii_digit())
        && name.chars().all(allowed)
}

/// Turns `name` into a name [`is_env_var_name`] accepts: every other
/// character becomes `_`, and `_` goes first when the name starts with a
/// digit (`1ABC` becomes `_1ABC`).
pub fn to_env_var_name(name: &str) -> String {
    let mut fixed: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !fixed.starts_with(|c: char| !c.is_ascii_digit()) {
        fixed.insert(0, '_');
    }
    fixed
}

/// Hex digits of the hash that [`to_joined_dns1123_label`] appends.
const HASH_LEN: usize = 8;
/// Characters of the prefix that a long suffix leaves in a joined label.
const MIN_PREFIX_LEN: usize = 8;

/// Joins two identifiers into one DNS-1123 label, `<prefix>-<suffix>`,
/// such as a Job name from the pipeline and stage identifiers.
///
/// A join of at most 63 characters is the same as
/// `to_dns1123_label("<prefix>-<suffix>")`. A longer one keeps the suffix,
/// shortens the prefix first, and ends with `-` and 8 hex digits of a hash
/// of both identifiers as written. So two suffixes that differ give two
/// labels that differ, even when a cut shortens both. Returns `None` when
/// no letter or digit is left.
pub fn to_joined_dns1123_label(prefix: &str, suffix: &str) -> Option<String> {
    let joined = label_text(&format!("{prefix}-{suffix}"));
    let joined = joined.trim_end_matches('-');
    if joined.len() <= DNS1123_LABEL_MAX {
        return (!joined.is_empty()).then(|| joined.to_string());
    }

    let hash = format!("{:016x}", fnv1a_64(&format!("{prefix}\n{suffix}")));
    let hash = &hash[..HASH_LEN];
    // The room for `<prefix>-<suffix>` before `-<hash>`.
    let room = DNS1123_LABEL_MAX - 1 - HASH_LEN;
    let mut suffix = label_text(suffix);
    cut_label(&mut suffix, room - 1 - MIN_PREFIX_LEN);
    let mut prefix = label_text(prefix);
    cut_label(&mut prefix, room.saturating_sub(suffix.len() + 1));

    let parts: Vec<&str> = [prefix.as_str(), suffix.as_str(), hash]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect();
    Some(parts.join("-"))
}

/// Computes the 64-bit FNV-1a hash, which stays the same across Rust
/// versions and platforms, unlike the standard library's `DefaultHasher`.
fn fnv1a_64(text: &str) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    text.bytes().fold(OFFSET_BASIS, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
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
    fn qualified_names() {
        for key in ["team", "x/y", "example.com/Team_A", "a.b-c"] {
            assert!(is_qualified_name(key), "{key}");
        }
        for key in ["", "-a", "a/", "/a", "Bad_Prefix/a", "a b", "a/b/c"] {
            assert!(!is_qualified_name(key), "{key}");
        }
    }

    #[test]
    fn label_values() {
        for value in ["", "ssd", "A.b_c-1"] {
            assert!(is_label_value(value), "{value}");
        }
        for value in ["-x", "x-", "a b", &"a".repeat(64)] {
            assert!(!is_label_value(value), "{value}");
        }
    }

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
    fn joined_label_that_fits_is_unchanged() {
        assert_eq!(
            to_joined_dns1123_label("shop_api", "integration").as_deref(),
            Some("shop-api-integration")
        );
        let prefix = "p".repeat(50);
        let suffix = "s".repeat(12);
        let fits = to_joined_dns1123_label(&prefix, &suffix).unwrap();
        assert_eq!(fits, format!("{prefix}-{suffix}"));
        assert_eq!(fits.len(), DNS1123_LABEL_MAX);
    }

    #[test]
    fn joined_label_keeps_suffix_when_cut() {
        let pipeline = "A_very_long_pipeline_identifier_that_goes_on_and_on_and_on_and_on_forever";
        let unit = to_joined_dns1123_label(pipeline, "unit_tests").unwrap();
        let deploy = to_joined_dns1123_label(pipeline, "deploy").unwrap();

        assert_ne!(unit, deploy);
        for label in [&unit, &deploy] {
            assert!(is_dns1123_label(label), "{label}");
            assert!(label.starts_with("a-very-long-pipeline"), "{label}");
        }
        assert!(unit.contains("-unit-tests-"), "{unit}");
        assert!(deploy.contains("-deploy-"), "{deploy}");
        assert_eq!(unit.len(), DNS1123_LABEL_MAX, "{unit}");
    }

    #[test]
    fn joined_label_hash_is_stable() {
        let prefix = "p".repeat(60);
        let label = to_joined_dns1123_label(&prefix, "stage").unwrap();
        let expected = format!("{:016x}", fnv1a_64(&format!("{prefix}\nstage")));
        assert!(label.ends_with(&expected[..HASH_LEN]), "{label}");
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a_64(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64("a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn joined_label_cuts_long_suffix_too() {
        let suffix = "stage_".repeat(20);
        let label = to_joined_dns1123_label("pipeline_id", &suffix).unwrap();
        assert!(is_dns1123_label(&label), "{label}");
        assert!(label.starts_with("pipeline-stage-stage"), "{label}");

        let other = to_joined_dns1123_label("pipeline_id", &format!("{suffix}x")).unwrap();
        assert_ne!(label, other);
    }

    #[test]
    fn joined_label_without_prefix_letters() {
        let label = to_joined_dns1123_label("___", &"s".repeat(70)).unwrap();
        assert!(is_dns1123_label(&label), "{label}");
        assert_eq!(to_joined_dns1123_label("_", "_"), None);
    }

    #[test]
    fn env_var_name_check() {
        for good in ["PATH", "_1", "a.b", "-x", "Go_Proxy-2"] {
            assert!(is_env_var_name(good), "{good:?} rejected");
        }
        for bad in ["", "1ABC", "ÜBER", "A B", "A=B", "a$b", "名前"] {
            assert!(!is_env_var_name(bad), "{bad:?} accepted");
        }
    }

    #[test]
    fn env_var_name_suggestion_is_valid() {
        assert_eq!(to_env_var_name("1ABC"), "_1ABC");
        assert_eq!(to_env_var_name("ÜBER"), "_BER");
        assert_eq!(to_env_var_name(""), "_");
        for name in ["1ABC", "ÜBER", "A B", "", "9"] {
            let fixed = to_env_var_name(name);
            assert!(is_env_var_name(&fixed), "{name:?} gave {fixed:?}");
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
