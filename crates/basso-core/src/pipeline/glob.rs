//! Syntax check of report-path globs, with the errors of globset 0.4.22's
//! `Glob::new` and its default options (backslash escapes, no unclosed
//! classes).
//!
//! basso only checks that a glob parses and never matches with it, so it
//! does not link globset: globset turns on regex-automata's `perf`
//! features, which would add about 55 KB to the gzipped npm module
//! (docs/benchmarks.md). A native test compares [`check`] with globset
//! on generated globs.

use std::fmt;
use std::str::Chars;

/// Deepest nesting of `{…}` groups that globset accepts.
const MAX_ALTERNATES_DEPTH: usize = 100;

/// A syntax error in a glob. Its `Display` text is that of globset's
/// `ErrorKind` for the same error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GlobError {
    UnclosedClass,
    InvalidRange(char, char),
    UnopenedAlternates,
    UnclosedAlternates,
    TooManyNestedAlternates,
    DanglingEscape,
}

impl fmt::Display for GlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GlobError::UnclosedClass => f.write_str("unclosed character class; missing ']'"),
            GlobError::InvalidRange(start, end) => write!(f, "invalid range; '{start}' > '{end}'"),
            GlobError::UnopenedAlternates => {
                f.write_str("unopened alternate group; missing '{' (maybe escape '}' with '[}]'?)")
            }
            GlobError::UnclosedAlternates => {
                f.write_str("unclosed alternate group; missing '}' (maybe escape '{' with '[{]'?)")
            }
            GlobError::TooManyNestedAlternates => f.write_str("alternate groups nested too deeply"),
            GlobError::DanglingEscape => f.write_str("dangling '\\'"),
        }
    }
}

/// Checks the syntax of a glob, returning the first error that globset's
/// parser reports for it.
pub fn check(glob: &str) -> Result<(), GlobError> {
    let mut chars = glob.chars();
    let mut depth = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '[' => check_class(&mut chars)?,
            '{' => {
                if depth >= MAX_ALTERNATES_DEPTH {
                    return Err(GlobError::TooManyNestedAlternates);
                }
                depth += 1;
            }
            '}' => depth = depth.checked_sub(1).ok_or(GlobError::UnopenedAlternates)?,
            '\\' if chars.next().is_none() => return Err(GlobError::DanglingEscape),
            // `*`, `?`, `,` and literals always parse, and a `/` after `**`
            // has no meaning of its own; the proptest against globset covers
            // these cases.
            _ => {}
        }
    }
    if depth > 0 {
        return Err(GlobError::UnclosedAlternates);
    }
    Ok(())
}

/// Checks a `[…]` class whose `[` has been consumed, and consumes it up to
/// its closing `]`. Only the start of the last range matters for errors.
fn check_class(chars: &mut Chars<'_>) -> Result<(), GlobError> {
    if matches!(chars.clone().next(), Some('!' | '^')) {
        chars.next();
    }
    let mut last_start: Option<char> = None;
    let mut first = true;
    let mut in_range = false;
    loop {
        let c = chars.next().ok_or(GlobError::UnclosedClass)?;
        match c {
            ']' if !first => return Ok(()),
            '-' if !first && in_range => {
                extend_range(last_start, '-')?;
                in_range = false;
            }
            '-' if !first => in_range = true,
            '[' if !in_range && chars.clone().next() == Some(':') => {
                last_start = Some(posix_class_start(chars).unwrap_or('['));
            }
            c if in_range => {
                extend_range(last_start, c)?;
                in_range = false;
            }
            // The first `]` or `-` of a class is literal.
            c => last_start = Some(c),
        }
        first = false;
    }
}

fn extend_range(start: Option<char>, end: char) -> Result<(), GlobError> {
    // A range is only open after at least one character of the class.
    let start = start.unwrap_or(end);
    if end < start {
        return Err(GlobError::InvalidRange(start, end));
    }
    Ok(())
}

/// Reads `:name:]` after a `[` inside a class. For a known POSIX class
/// name, returns the start of its last range. For `:name:]` with an
/// unknown name, returns `None` and leaves the text consumed, as globset
/// does. Otherwise returns `None` and leaves `chars` where it was.
fn posix_class_start(chars: &mut Chars<'_>) -> Option<char> {
    let saved = chars.clone();
    chars.next(); // the `:`
    let mut name = String::new();
    loop {
        match chars.next() {
            Some(':') if chars.clone().next() == Some(']') => {
                chars.next();
                return posix_class_last_start(&name);
            }
            Some(c) if c.is_ascii_lowercase() && name.len() < 8 => name.push(c),
            _ => {
                *chars = saved;
                return None;
            }
        }
    }
}

/// Returns the start of the last ASCII range of globset's POSIX class
/// `name`, or `None` for an unknown name.
fn posix_class_last_start(name: &str) -> Option<char> {
    Some(match name {
        "alnum" | "alpha" | "lower" | "xdigit" => 'a',
        "blank" | "space" | "print" => ' ',
        "cntrl" => '\x7f',
        "digit" => '0',
        "graph" => '!',
        "punct" => '{',
        "upper" => 'A',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globset_syntax_errors() {
        let cases = [
            ("[", GlobError::UnclosedClass),
            ("[]", GlobError::UnclosedClass),
            ("[!", GlobError::UnclosedClass),
            ("[!]", GlobError::UnclosedClass),
            ("[z-a]", GlobError::InvalidRange('z', 'a')),
            ("[z--]", GlobError::InvalidRange('z', '-')),
            ("{a,b", GlobError::UnclosedAlternates),
            ("{a,{b,c}", GlobError::UnclosedAlternates),
            ("a,b}", GlobError::UnopenedAlternates),
            ("{a,b}}", GlobError::UnopenedAlternates),
            ("a\\", GlobError::DanglingEscape),
            ("[[:punct:]-a]", GlobError::InvalidRange('{', 'a')),
        ];
        for (glob, expected) in cases {
            assert_eq!(check(glob), Err(expected), "glob `{glob}`");
        }
    }

    #[test]
    fn valid_globs() {
        for glob in [
            "reports/**/*.xml",
            "[]]",
            "[!-]",
            "[a-]",
            "[[:foo:]]",
            "[[:alpha]",
            "{a,{b,c}}",
            "a\\{",
        ] {
            assert_eq!(check(glob), Ok(()), "glob `{glob}`");
        }
    }

    #[test]
    fn alternates_depth_limit() {
        let deepest = format!("{}{}", "{".repeat(100), "}".repeat(100));
        assert_eq!(check(&deepest), Ok(()));
        let too_deep = format!("{}{}", "{".repeat(101), "}".repeat(101));
        assert_eq!(check(&too_deep), Err(GlobError::TooManyNestedAlternates));
    }
}

/// Comparison with globset itself, which is only a dev-dependency.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod globset_tests {
    use proptest::prelude::*;

    use super::check;

    fn globset_result(glob: &str) -> Result<(), String> {
        globset::Glob::new(glob)
            .map(|_| ())
            .map_err(|error| error.kind().to_string())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(10_000))]

        #[test]
        fn matches_globset(glob in "[\\[\\]{}!^:,*?/\\\\a-z0-9-]{0,16}") {
            prop_assert_eq!(check(&glob).map_err(|error| error.to_string()), globset_result(&glob));
        }

        #[test]
        fn matches_globset_on_posix_classes(
            glob in "(\\[|\\]|\\[:(alnum|alpha|blank|cntrl|digit|graph|lower|print|punct|space|upper|xdigit|foo|verylongname):\\]|-|[ a-zA-Z0-9!{}~\\\\])*"
        ) {
            prop_assert_eq!(check(&glob).map_err(|error| error.to_string()), globset_result(&glob));
        }
    }
}
