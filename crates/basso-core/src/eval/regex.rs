//! Java regular expressions on top of fancy-regex.
//!
//! fancy-regex adds lookaround, backreferences and atomic groups to the
//! `regex` crate. Java syntax is translated where the two differ in meaning.
//! Java's `\d \w \s` and POSIX `\p{Name}` classes are ASCII-only, `\Q…\E`
//! quotes, and `\Z` allows a final line break. Java's `(?U)` flag (Unicode
//! classes) is dropped, because in fancy-regex `U` swaps greediness.
//! Patterns fancy-regex rejects are errors, never silent mismatches.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use fancy_regex::{Regex, RegexBuilder};

use super::{Flow, Stop};
use crate::error::{ExprError, codes};

/// Backtracking steps one match may take before it fails with
/// `regex-backtrack-limit` (fancy-regex's default is 1,000,000).
const BACKTRACK_LIMIT: usize = 100_000;

/// Evaluation steps charged per regex operation, so the step budget also
/// bounds the number of matches: the default budget allows 1,000.
///
/// NOTE: neither this charge nor [`BACKTRACK_LIMIT`] bounds the time of one
/// match. fancy-regex runs a lookaround's inner pattern without counting
/// backtracks, so lookarounds nested inside a repetition, such as
/// `(?:a(?=(?:a(?=a*$))*$))*`, take time that grows with the cube of the
/// subject's length: about 20 s for 4,000 characters.
pub(crate) const STEPS_PER_OPERATION: u64 = 100;

/// Most patterns one template keeps compiled.
const CACHE_ENTRIES: usize = 32;

/// Compiled patterns of one template, kept across evaluations because
/// compiling costs far more than matching.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    entries: Mutex<Vec<(String, bool, Arc<Regex>)>>,
}

impl Cache {
    /// Compiles a Java pattern for searching.
    pub(crate) fn compile(
        &self,
        pattern: &str,
        source: &str,
        span: Range<usize>,
    ) -> Flow<Arc<Regex>> {
        self.get(pattern, false, source, span)
    }

    /// Compiles a Java pattern anchored at both ends, for `matches`.
    pub(crate) fn compile_anchored(
        &self,
        pattern: &str,
        source: &str,
        span: Range<usize>,
    ) -> Flow<Arc<Regex>> {
        self.get(pattern, true, source, span)
    }

    fn get(
        &self,
        pattern: &str,
        anchored: bool,
        source: &str,
        span: Range<usize>,
    ) -> Flow<Arc<Regex>> {
        // A poisoned lock only means another thread panicked mid-push; the
        // entries are still valid.
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, _, regex)) = entries
            .iter()
            .find(|(p, a, _)| p == pattern && *a == anchored)
        {
            return Ok(regex.clone());
        }
        let regex = Arc::new(compile_java(pattern, anchored, source, span).map_err(Stop::Error)?);
        if entries.len() < CACHE_ENTRIES {
            entries.push((pattern.to_string(), anchored, regex.clone()));
        }
        Ok(regex)
    }
}

/// Compiles a Java regular expression.
pub(crate) fn compile_java(
    pattern: &str,
    anchored: bool,
    source: &str,
    span: Range<usize>,
) -> Result<Regex, ExprError> {
    let translated = translate(pattern).map_err(|construct| {
        ExprError::new(
            codes::UNSUPPORTED_REGEX,
            format!("regex `{pattern}` uses {construct}, which basso does not support"),
            "rewrite the pattern without it; lookaround, backreferences and atomic groups are supported",
            source,
            span.clone(),
        )
    })?;
    let full = if anchored {
        Cow::Owned(format!(r"\A(?:{translated})\z"))
    } else {
        Cow::Borrowed(&translated)
    };
    RegexBuilder::new(&full)
        .backtrack_limit(BACKTRACK_LIMIT)
        .build()
        .map_err(|error| {
            if let Some(limit) = size_limit(&error) {
                return ExprError::new(
                    codes::INVALID_REGEX,
                    format!(
                        "regex `{pattern}` compiles to more than the regex engine's limit of {} MiB",
                        limit / (1024 * 1024)
                    ),
                    "use smaller repetition counts: `{500}` after a group copies the group 500 times",
                    source,
                    span,
                );
            }
            let reason = compile_error_reason(pattern, &translated, anchored, &error);
            ExprError::new(
                codes::INVALID_REGEX,
                format!("invalid regex `{pattern}`: {reason}"),
                "fix the pattern; it uses Java regex syntax",
                source,
                span,
            )
        })
}

/// Returns the size limit in bytes that compiling a pattern exceeded, when
/// that is why it failed.
fn size_limit(error: &fancy_regex::Error) -> Option<usize> {
    match error {
        fancy_regex::Error::CompileError(compile) => match compile.as_ref() {
            fancy_regex::CompileError::InnerError(inner) => inner.size_limit(),
            _ => None,
        },
        _ => None,
    }
}

/// Describes why `pattern` does not compile. A parse error's position is
/// given as a character index in `pattern`, counted from 0 as Java's
/// `PatternSyntaxException` counts it. The position is left out when the
/// translation changed the pattern, because it would count characters of
/// the translated text.
fn compile_error_reason(
    pattern: &str,
    translated: &str,
    anchored: bool,
    error: &fancy_regex::Error,
) -> String {
    let fancy_regex::Error::ParseError(_, kind) = error else {
        return error.to_string();
    };
    if translated != pattern {
        return kind.to_string();
    }
    // The anchors wrap the pattern in a group, which moves every position
    // and can move the error itself, because in `a)` the stray `)` closes
    // the group. The pattern alone gives the error where it was written.
    let unwrapped = if anchored {
        RegexBuilder::new(pattern).build().err()
    } else {
        Some(error.clone())
    };
    match unwrapped {
        Some(fancy_regex::Error::ParseError(position, kind)) => {
            let before = pattern
                .get(..position.min(pattern.len()))
                .unwrap_or(pattern);
            format!("{kind} near index {}", before.chars().count())
        }
        Some(other) => other.to_string(),
        None => kind.to_string(),
    }
}

/// Returns true when the whole of `text` matches an anchored regex.
pub(crate) fn full_match(
    regex: &Regex,
    text: &str,
    source: &str,
    span: Range<usize>,
) -> Result<bool, ExprError> {
    regex
        .is_match(text)
        .map_err(|error| runtime_error(&error, source, span))
}

pub(crate) fn runtime_error(
    error: &fancy_regex::Error,
    source: &str,
    span: Range<usize>,
) -> ExprError {
    ExprError::new(
        codes::REGEX_LIMIT,
        format!("regex matching failed: {error}"),
        "simplify the pattern; nested repetition can backtrack without end",
        source,
        span,
    )
}

/// Rewrites Java-only syntax; returns the name of a construct that has no
/// translation.
fn translate(pattern: &str) -> Result<String, &'static str> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut class_depth = 0usize;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' if i + 1 < chars.len() => {
                i += 1;
                i = translate_escape(&chars, i, class_depth > 0, &mut out)?;
                continue;
            }
            '[' => {
                class_depth += 1;
                out.push('[');
                // A `]` or `^]` right after the opening bracket is literal in Java.
                if chars.get(i + 1) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                if chars.get(i + 1) == Some(&']') {
                    out.push_str(r"\]");
                    i += 1;
                }
            }
            ']' if class_depth > 0 => {
                class_depth -= 1;
                out.push(']');
            }
            '(' if class_depth == 0 && chars.get(i + 1) == Some(&'?') => {
                i = translate_group_flags(&chars, i, &mut out);
                continue;
            }
            _ => out.push(c),
        }
        i += 1;
    }
    Ok(out)
}

/// Copies `(?flags)` or `(?flags:` without Java's `d` and `U` flags.
fn translate_group_flags(chars: &[char], start: usize, out: &mut String) -> usize {
    let mut j = start + 2;
    let mut flags = String::new();
    while let Some(&c) = chars.get(j) {
        if c.is_ascii_alphabetic() || c == '-' {
            flags.push(c);
            j += 1;
        } else {
            break;
        }
    }
    let end = chars.get(j).copied();
    if flags.is_empty() || !matches!(end, Some(')') | Some(':')) {
        out.push_str("(?");
        return start + 2;
    }
    let kept: String = flags.chars().filter(|c| *c != 'd' && *c != 'U').collect();
    let kept = kept.trim_end_matches('-');
    match end {
        Some(')') if kept.is_empty() => {}
        Some(')') => {
            out.push_str("(?");
            out.push_str(kept);
            out.push(')');
        }
        _ => {
            out.push_str("(?");
            out.push_str(kept);
            out.push(':');
        }
    }
    j + 1
}

/// Translates the escape whose letter is at `chars[i]`; returns the index
/// after it.
fn translate_escape(
    chars: &[char],
    i: usize,
    in_class: bool,
    out: &mut String,
) -> Result<usize, &'static str> {
    let c = chars[i];
    let class = |out: &mut String, posix: &str| {
        if in_class {
            out.push_str(&format!("[:{posix}:]"));
        } else {
            out.push_str(&format!("[[:{posix}:]]"));
        }
    };
    match c {
        'd' => class(out, "digit"),
        'D' => class(out, "^digit"),
        'w' => class(out, "word"),
        'W' => class(out, "^word"),
        's' => class(out, "space"),
        'S' => class(out, "^space"),
        'h' if !in_class => {
            out.push_str(r"[ \t\xA0\x{1680}\x{180e}\x{2000}-\x{200a}\x{202f}\x{205f}\x{3000}]")
        }
        'R' if !in_class => out.push_str(r"(?:\r\n|[\n\x0B\x0C\r\x{85}\x{2028}\x{2029}])"),
        'Z' if !in_class => out.push_str(r"(?=\n?\z)"),
        'e' => out.push_str(r"\x1B"),
        'G' => return Err("`\\G`"),
        'X' => return Err("`\\X`"),
        'Q' => {
            let mut j = i + 1;
            while j < chars.len() && !(chars[j] == '\\' && chars.get(j + 1) == Some(&'E')) {
                push_literal(out, chars[j]);
                j += 1;
            }
            return Ok(if j < chars.len() { j + 2 } else { j });
        }
        'u' => {
            let hex: String = chars.iter().skip(i + 1).take(4).collect();
            if hex.len() == 4 && hex.chars().all(|h| h.is_ascii_hexdigit()) {
                out.push_str(&format!(r"\x{{{hex}}}"));
                return Ok(i + 5);
            }
            return Err("a malformed `\\u` escape");
        }
        '0' => {
            let digits: String = chars
                .iter()
                .skip(i + 1)
                .take_while(|d| ('0'..='7').contains(*d))
                .take(3)
                .collect();
            let value = u32::from_str_radix(&digits, 8).map_err(|_| "a malformed octal escape")?;
            out.push_str(&format!(r"\x{{{value:x}}}"));
            return Ok(i + 1 + digits.len());
        }
        'p' | 'P' => return translate_property(chars, i, in_class, out),
        _ => {
            out.push('\\');
            out.push(c);
        }
    }
    Ok(i + 1)
}

fn push_literal(out: &mut String, c: char) {
    if "\\.+*?()|[]{}^$#&-~ ".contains(c) {
        out.push('\\');
    }
    out.push(c);
}

/// Translates `\p{Name}` and `\P{Name}`.
fn translate_property(
    chars: &[char],
    i: usize,
    in_class: bool,
    out: &mut String,
) -> Result<usize, &'static str> {
    let negated = chars[i] == 'P';
    let (name, next): (String, usize) = if chars.get(i + 1) == Some(&'{') {
        let name: String = chars
            .iter()
            .skip(i + 2)
            .take_while(|c| **c != '}')
            .collect();
        (name.clone(), i + 3 + name.chars().count())
    } else {
        (
            chars.get(i + 1).map(|c| c.to_string()).unwrap_or_default(),
            i + 2,
        )
    };
    let posix = match name.as_str() {
        "Lower" => Some("lower"),
        "Upper" => Some("upper"),
        "ASCII" => Some("ascii"),
        "Alpha" => Some("alpha"),
        "Digit" => Some("digit"),
        "Alnum" => Some("alnum"),
        "Punct" => Some("punct"),
        "Graph" => Some("graph"),
        "Print" => Some("print"),
        "Blank" => Some("blank"),
        "Cntrl" => Some("cntrl"),
        "XDigit" => Some("xdigit"),
        "Space" => Some("space"),
        _ => None,
    };
    if let Some(posix) = posix {
        let caret = if negated { "^" } else { "" };
        if in_class {
            out.push_str(&format!("[:{caret}{posix}:]"));
        } else {
            out.push_str(&format!("[[:{caret}{posix}:]]"));
        }
        return Ok(next);
    }
    // Java (OpenJDK 17) reads `\p{name=value}` only for these properties.
    // regex-syntax also reads `Age` and the break properties, whose tables
    // the npm package's module leaves out, so rejecting the rest here keeps
    // the native and wasm results equal.
    if let Some(separator) = name.find(['=', ':']) {
        let property = name[..separator].to_ascii_lowercase();
        if !matches!(
            property.as_str(),
            "script" | "sc" | "block" | "blk" | "general_category" | "gc"
        ) {
            return Err(
                "a `\\p{name=value}` property other than script, block or general category",
            );
        }
    }
    let unicode = match name.as_str() {
        "javaLowerCase" => "Lowercase",
        "javaUpperCase" => "Uppercase",
        "javaWhitespace" => "White_Space",
        "javaDigit" => "Nd",
        "javaLetter" => "L",
        "IsAlphabetic" => "Alphabetic",
        "IsLetter" => "L",
        "IsDigit" => "Nd",
        "IsUppercase" => "Uppercase",
        "IsLowercase" => "Lowercase",
        "IsWhite_Space" | "IsWhiteSpace" => "White_Space",
        other if other.starts_with("In") => return Err("a Unicode block class (`\\p{In…}`)"),
        other if other.starts_with("java") => return Err("a `\\p{java…}` class"),
        other => other.strip_prefix("Is").unwrap_or(other),
    };
    out.push_str(if negated { r"\P{" } else { r"\p{" });
    out.push_str(unicode);
    out.push('}');
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile_error(pattern: &str, anchored: bool) -> String {
        compile_java(pattern, anchored, pattern, 0..0)
            .expect_err("invalid pattern")
            .message
    }

    #[test]
    fn parse_error_position_counts_written_pattern() {
        let message = compile_error("(unclosed", true);
        assert!(message.ends_with("parenthesis near index 9"), "{message}");
        let message = compile_error("é*+(", false);
        assert!(message.ends_with("near index 4"), "{message}");
        let message = compile_error("*a", true);
        assert!(message.ends_with("near index 0"), "{message}");
        let message = compile_error("a)", true);
        assert!(message.ends_with("near index 1"), "{message}");
    }

    #[test]
    fn parse_error_of_translated_pattern_has_no_position() {
        let message = compile_error(r"\Q.\E(", true);
        assert!(!message.contains("index"), "{message}");
        assert!(!message.contains("position"), "{message}");
    }

    fn matches(pattern: &str, text: &str) -> bool {
        let regex = compile_java(pattern, true, pattern, 0..0).expect("pattern compiles");
        full_match(&regex, text, "", 0..0).expect("match runs")
    }

    #[test]
    fn digit_class_is_ascii_only() {
        assert!(matches(r"\d+", "123"));
        assert!(!matches(r"\d+", "١٢٣"));
        assert!(matches(r"[\d.]+", "1.2.3"));
    }

    #[test]
    fn quoting_and_lookaround() {
        assert!(matches(r"\Qa.b\E", "a.b"));
        assert!(!matches(r"\Qa.b\E", "axb"));
        assert!(matches(r"(?=.*\d)\w+", "abc1"));
        assert!(matches(r"(a)\1", "aa"));
    }

    #[test]
    fn java_unicode_flag_is_dropped() {
        assert!(matches(r"(?U)a+", "aaa"));
        assert!(matches(r"(?i)ABC", "abc"));
    }

    #[test]
    fn property_values_java_rejects() {
        let patterns = [
            r"\p{Age=3.0}",
            r"\p{IsAge=3.0}",
            r"\p{age:3.0}",
            r"\p{gcb=Extend}",
            r"\p{Word_Break=ALetter}",
            r"\p{sb=Upper}",
            r"\p{scx=Latin}",
        ];
        for pattern in patterns {
            let error = compile_java(pattern, true, pattern, 0..0).expect_err(pattern);
            assert_eq!(error.code, codes::UNSUPPORTED_REGEX, "pattern `{pattern}`");
        }
    }

    #[test]
    fn property_values_java_accepts() {
        assert!(matches(r"\p{script=Latin}+", "abc"));
        assert!(matches(r"\p{sc=Greek}", "α"));
        assert!(matches(r"\p{general_category=Lu}", "A"));
        assert!(matches(r"\p{gc=Nd}", "٣"));
    }

    #[test]
    fn posix_classes() {
        assert!(matches(r"\p{Lower}+", "abc"));
        assert!(matches(r"\P{Digit}+", "abc"));
        assert!(matches(r"[\p{Upper}\d]+", "A1"));
    }
}
