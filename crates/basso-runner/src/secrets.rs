//! Secret values: where they come from, how they reach a step, and how they
//! are masked in every line basso prints.
//!
//! Resolved step fields carry secrets as the literal text
//! `<+secrets.getValue("ID")>`; [`Secrets::substitute`] replaces that text
//! with the value just before a task starts. The same text can arrive as
//! run-time data (a step output or a trigger payload), so only the ids that
//! the resolver lists for the step, from the pipeline file's own
//! expressions, are replaced.

use std::collections::BTreeMap;
use std::ops::Range;

use aho_corasick::{AhoCorasick, AhoCorasickKind};
use basso_core::SecretHandle;

use crate::lines::split_cut_note;

const SECRET_OPEN: &str = "<+secrets.getValue(";
const SECRET_CLOSE: &str = ")>";

/// Maximum bytes of masked texts for which aho-corasick may choose its DFA.
/// The DFA searches fastest but builds in time quadratic in a repeating
/// value (about 30 ms for 2 KiB, an estimate from the 13 s for 40 KB).
const MAX_DFA_PATTERN_BYTES: usize = 2048;

/// Minimum run of a secret value's characters, in characters, that
/// [`Masker::mask_message`] masks inside a quoted part of a message.
const MIN_FRAGMENT_CHARS: usize = 4;

/// Minimum run, in characters, of a value longer than [`LONG_VALUE_CHARS`]
/// that [`Masker::mask_message`] masks. A key file or kubeconfig contains
/// words such as `Success` that basso's messages quote too.
const MIN_LONG_FRAGMENT_CHARS: usize = 8;

/// The length from which a secret value counts as long for
/// [`Masker::mask_message`].
const LONG_VALUE_CHARS: usize = 32;

/// The text that replaces a secret value in printed output.
pub const MASK: &str = "***";

/// Secret values by id.
#[derive(Clone, Debug, Default)]
pub struct Secrets {
    values: BTreeMap<String, String>,
}

impl Secrets {
    /// Creates an empty store.
    pub fn new() -> Secrets {
        Secrets::default()
    }

    /// Sets the value of `id`, replacing an earlier one.
    pub fn insert(&mut self, id: impl Into<String>, value: impl Into<String>) {
        self.values.insert(id.into(), value.into());
    }

    /// Returns the value of `id`.
    pub fn get(&self, id: &str) -> Option<&str> {
        self.values.get(id).map(String::as_str)
    }

    /// Returns every secret value in the store.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.values.values().map(String::as_str)
    }

    /// Adds every secret of a secrets file: a JSON object of id to string.
    pub fn load_json(&mut self, text: &str) -> Result<(), String> {
        let object: BTreeMap<String, serde_json::Value> = serde_json::from_str(text)
            .map_err(|error| format!("invalid secrets file: {error}; help: write a JSON object such as {{\"token\": \"value\"}}"))?;
        for (id, value) in object {
            let serde_json::Value::String(value) = value else {
                return Err(format!(
                    "invalid secrets file: the value of `{id}` is not a string"
                ));
            };
            self.insert(id, value);
        }
        Ok(())
    }

    /// Fills the secrets in `needed` that have no value yet from
    /// `BASSO_SECRET_<ID>` variables read through `lookup`. Fails when two
    /// needed ids map to the same variable name.
    pub fn load_env(
        &mut self,
        needed: &[String],
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), String> {
        let mut by_name: BTreeMap<String, &str> = BTreeMap::new();
        for id in needed {
            let name = env_name(id);
            if let Some(other) = by_name.insert(name.clone(), id)
                && other != id
            {
                return Err(format!(
                    "secrets `{other}` and `{id}` both read `{name}`; \
                     help: pass one of them with --secret or --secrets-file"
                ));
            }
        }

        for (name, id) in by_name {
            if self.values.contains_key(id) {
                continue;
            }
            if let Some(value) = lookup(&name) {
                self.insert(id, value);
            }
        }
        Ok(())
    }

    /// Replaces every `<+secrets.getValue("ID")>` in `text` with the value.
    /// Fails naming the first id that is not in `requested`, the ids the
    /// pipeline file requests for the step, or that has no value.
    pub fn substitute(&self, text: &str, requested: &[String]) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some((before, id, after)) = next_reference(rest) {
            out.push_str(before);
            if !requested.contains(&id) {
                return Err(unrequested_secret(&id));
            }
            let value = self.get(&id).ok_or_else(|| missing_secret(&id))?;
            out.push_str(value);
            rest = after;
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Builds the masker for every value in the store.
    pub fn masker(&self) -> Masker {
        self.masker_with([])
    }

    /// Builds the masker for every value in the store and for `extra`, such
    /// as the values of `type: Secret` output variables.
    pub fn masker_with<'a>(&'a self, extra: impl IntoIterator<Item = &'a str>) -> Masker {
        Masker::new(self.values.values().map(String::as_str).chain(extra))
    }
}

/// Returns the environment variable that contains secret `id`
/// ([`SecretHandle::env_var`]).
pub fn env_name(id: &str) -> String {
    SecretHandle::new(id).env_var()
}

/// Returns the message for a secret without a value.
pub fn missing_secret(id: &str) -> String {
    format!(
        "secret `{id}` has no value; help: set `{}`, or pass --secret {id}=VALUE or --secrets-file FILE",
        env_name(id)
    )
}

/// Returns the message for secret reference text that neither the pipeline
/// file nor a runtime input requests for the step.
pub fn unrequested_secret(id: &str) -> String {
    format!(
        "the text `<+secrets.getValue(\"{id}\")>` reached the step as plain text, not as an \
         expression that basso evaluated from the pipeline file or a runtime input, so secret \
         `{id}` is not substituted; help: reference the secret in the step's fields in the \
         pipeline file or in a runtime input value, because run-time data (a step output, a \
         trigger or codebase value) cannot request a secret"
    )
}

/// Lists the secret ids that `text` references, in order, without repeats.
pub fn referenced_ids(text: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut rest = text;
    while let Some((_, id, after)) = next_reference(rest) {
        if !ids.contains(&id) {
            ids.push(id);
        }
        rest = after;
    }
    ids
}

/// Finds the next `<+secrets.getValue("ID")>` and splits `text` around it.
fn next_reference(text: &str) -> Option<(&str, String, &str)> {
    let mut search_from = 0;
    loop {
        let start = search_from + text[search_from..].find(SECRET_OPEN)?;
        let inner_start = start + SECRET_OPEN.len();
        let close = text[inner_start..].find(SECRET_CLOSE)?;
        let inner = text[inner_start..inner_start + close].trim();
        let quoted = inner.len() >= 2
            && ((inner.starts_with('"') && inner.ends_with('"'))
                || (inner.starts_with('\'') && inner.ends_with('\'')));
        if quoted {
            let id = inner[1..inner.len() - 1].to_string();
            let after = &text[inner_start + close + SECRET_CLOSE.len()..];
            return Some((&text[..start], id, after));
        }
        search_from = inner_start;
    }
}

/// Replaces secret values with [`MASK`] in printed text. A multi-line
/// value is also masked line by line, since output reaches the console one
/// line at a time.
///
/// Matches are found in the original text, overlapping ones included, and
/// each run of overlapping matches becomes one [`MASK`]. Replacing values one
/// after the other would print the part of a second value that overlaps a
/// first one already replaced.
/// The minimum length, in characters, of a line of a multi-line secret that
/// is masked on its own. Shorter lines, such as the `{` and `}` of a JSON
/// key file, would mask that text everywhere in the log.
pub const MIN_LINE_CHARS: usize = 4;

#[derive(Clone, Debug, Default)]
pub struct Masker {
    automaton: Option<AhoCorasick>,
    /// The values the automaton finds, for the start of a value at the end
    /// of a cut line.
    patterns: Vec<String>,
    /// The secret values, each trimmed, in which [`Masker::mask_message`]
    /// looks for runs of characters.
    whole_values: Vec<String>,
    /// Set when the automaton could not be built, so every line is masked whole.
    mask_everything: bool,
}

/// Returns the texts a [`Masker`] for `values` masks: each value as
/// written and trimmed, and each line of a multi-line value of at least
/// [`MIN_LINE_CHARS`] characters, trimmed. Empty texts are left out.
pub fn masked_pieces<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut patterns: Vec<&str> = Vec::new();
    let mut add = |piece: &'a str| {
        if !piece.trim().is_empty() && !patterns.contains(&piece) {
            patterns.push(piece);
        }
    };
    for value in values {
        let value = value.trim_end_matches('\r');
        add(value);
        add(value.trim());
        if value.contains('\n') {
            value
                .lines()
                .map(str::trim)
                .filter(|line| line.chars().count() >= MIN_LINE_CHARS)
                .for_each(&mut add);
        }
    }
    patterns
}

/// Returns the forms other than its own in which a shell's `set -x` trace
/// writes `piece` inside a quoted word. Bash writes a `'` as `'\''`, and
/// busybox `sh` (ash) as `'"'"'`. Bash writes a word with a character it
/// cannot print in its `$'...'` form, with C escapes and three-digit octal
/// for each byte of the rest. Which characters it can print depends on the
/// locale: in the C locale no byte above 127, in a UTF-8 locale every
/// character but the controls and the line and paragraph separators.
fn traced_forms(piece: &str) -> Vec<String> {
    let mut forms = Vec::new();
    if piece.contains('\'') {
        forms.push(piece.replace('\'', "'\\''"));
        forms.push(piece.replace('\'', "'\"'\"'"));
    }
    let unprintable_utf8 = |c: char| {
        (c.is_control() && c != '\t' && c != '\n') || matches!(c, '\u{2028}' | '\u{2029}')
    };
    let unprintable_c = |c: char| unprintable_utf8(c) || !c.is_ascii();
    for unprintable in [&unprintable_utf8 as &dyn Fn(char) -> bool, &unprintable_c] {
        if piece.chars().any(unprintable) {
            let quoted = ansi_c_quoted(piece, unprintable);
            if !forms.contains(&quoted) {
                forms.push(quoted);
            }
        }
    }
    forms
}

/// Writes `piece` as the inside of Bash's `$'...'` form, with each
/// character that `unprintable` selects written as escapes.
fn ansi_c_quoted(piece: &str, unprintable: &dyn Fn(char) -> bool) -> String {
    let mut quoted = String::with_capacity(piece.len() + 8);
    for c in piece.chars() {
        match c {
            '\u{7}' => quoted.push_str("\\a"),
            '\u{8}' => quoted.push_str("\\b"),
            '\u{c}' => quoted.push_str("\\f"),
            '\u{b}' => quoted.push_str("\\v"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            '\n' => quoted.push_str("\\n"),
            '\u{1b}' => quoted.push_str("\\E"),
            '\'' => quoted.push_str("\\'"),
            '\\' => quoted.push_str("\\\\"),
            c if unprintable(c) => {
                let mut bytes = [0; 4];
                for byte in c.encode_utf8(&mut bytes).bytes() {
                    quoted.push_str(&format!("\\{byte:03o}"));
                }
            }
            c => quoted.push(c),
        }
    }
    quoted
}

impl Masker {
    /// Creates a masker for `values`; empty values are ignored.
    ///
    /// Each value is masked as written and without its leading and trailing
    /// whitespace, which `echo $VAR` drops. Each line of a multi-line value
    /// is masked on its own without its indentation, when it has at least
    /// [`MIN_LINE_CHARS`] characters. A value is also masked in the forms
    /// that shells' `set -x` traces quote it in. Bash writes a `'` as
    /// `'\''`, and busybox and Alpine `sh` as `'"'"'`. Bash writes a
    /// character it cannot print in its locale in its `$'...'` form (`\E`,
    /// `\303\251`).
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Masker {
        let values: Vec<&str> = values.into_iter().collect();
        let mut patterns: Vec<String> = masked_pieces(values.iter().copied())
            .into_iter()
            .map(str::to_string)
            .collect();
        let traced: Vec<String> = patterns
            .iter()
            .flat_map(|piece| traced_forms(piece))
            .collect();
        for piece in traced {
            if !patterns.contains(&piece) {
                patterns.push(piece);
            }
        }
        if patterns.is_empty() {
            return Masker::default();
        }
        let mut whole_values: Vec<String> = Vec::new();
        for value in values.iter().map(|value| value.trim()) {
            if !value.is_empty() && !whole_values.iter().any(|known| known == value) {
                whole_values.push(value.to_string());
            }
        }

        // The DFA that aho-corasick picks for few patterns builds in time
        // quadratic in a value whose start repeats (`aaaa…`). Measured with
        // aho-corasick 1.1.5 in release builds: 13 s for 40 KB of `a`,
        // where the contiguous NFA took 45 ms for 200 KB.
        let total: usize = patterns.iter().map(|pattern| pattern.len()).sum();
        let kind = (total > MAX_DFA_PATTERN_BYTES).then_some(AhoCorasickKind::ContiguousNFA);
        match AhoCorasick::builder().kind(kind).build(&patterns) {
            Ok(automaton) => Masker {
                automaton: Some(automaton),
                patterns,
                whole_values,
                mask_everything: false,
            },
            Err(error) => {
                tracing::warn!("cannot build the secret masker, masking every line whole: {error}");
                Masker {
                    automaton: None,
                    patterns: Vec::new(),
                    whole_values: Vec::new(),
                    mask_everything: true,
                }
            }
        }
    }

    /// Returns `text` with every secret value replaced by [`MASK`]. In a
    /// line that [`LineSplitter`](crate::lines::LineSplitter) cut, a shown
    /// part that ends with the start of a value is masked as well.
    pub fn mask(&self, text: &str) -> String {
        if self.mask_everything && !text.is_empty() {
            return MASK.to_string();
        }
        let Some(automaton) = &self.automaton else {
            return text.to_string();
        };
        if let Some((shown, note)) = split_cut_note(text) {
            let mut masked = self.mask_ranges(automaton, shown, self.cut_value_start(shown));
            masked.push_str(note);
            return masked;
        }
        self.mask_ranges(automaton, text, None)
    }

    /// Returns basso's own message `text` masked as [`Masker::mask`] does,
    /// and with each run of a secret value's characters inside a
    /// `` `quoted` `` part masked too. An error about a value that an
    /// expression cut from a secret (`substring`, `split`) quotes such a
    /// part, with or without text around it. A run counts from
    /// [`MIN_FRAGMENT_CHARS`] characters, or [`MIN_LONG_FRAGMENT_CHARS`] in a
    /// value longer than [`LONG_VALUE_CHARS`], whose ordinary words would
    /// otherwise hide basso's own words.
    pub fn mask_message(&self, text: &str) -> String {
        let masked = self.mask(text);
        if self.whole_values.is_empty() || !masked.contains('`') {
            return masked;
        }
        let parts: Vec<&str> = masked.split('`').collect();
        // The parts at odd positions lie between a pair of backticks.
        let last_quoted = if parts.len().is_multiple_of(2) {
            parts.len() - 2
        } else {
            parts.len() - 1
        };
        let mut out: Vec<String> = parts.iter().map(|part| part.to_string()).collect();
        for index in (1..last_quoted).step_by(2) {
            out[index] = self.mask_runs(parts[index]);
        }
        out.join("`")
    }

    /// Returns `part` with each run of characters that a secret value
    /// contains, of the length [`Masker::mask_message`] describes, replaced
    /// by [`MASK`].
    fn mask_runs(&self, part: &str) -> String {
        let starts: Vec<usize> = part
            .char_indices()
            .map(|(at, _)| at)
            .chain(std::iter::once(part.len()))
            .collect();
        let mut runs: Vec<Range<usize>> = Vec::new();
        for pattern in &self.whole_values {
            let min = if pattern.chars().count() > LONG_VALUE_CHARS {
                MIN_LONG_FRAGMENT_CHARS
            } else {
                MIN_FRAGMENT_CHARS
            };
            let mut first = 0;
            while first + min < starts.len() {
                if !pattern.contains(&part[starts[first]..starts[first + min]]) {
                    first += 1;
                    continue;
                }
                let mut end = first + min;
                while end + 1 < starts.len()
                    && pattern.contains(&part[starts[first]..starts[end + 1]])
                {
                    end += 1;
                }
                runs.push(starts[first]..starts[end]);
                first = end;
            }
        }
        if runs.is_empty() {
            return part.to_string();
        }
        runs.sort_by_key(|run| run.start);
        let mut masked = String::with_capacity(part.len());
        let mut copied_to = 0;
        for run in runs {
            if run.start < copied_to {
                copied_to = copied_to.max(run.end);
                continue;
            }
            masked.push_str(&part[copied_to..run.start]);
            masked.push_str(MASK);
            copied_to = run.end;
        }
        masked.push_str(&part[copied_to..]);
        masked
    }

    /// Returns the range of the longest end of `shown` that is the start of
    /// a secret value but not the whole value.
    fn cut_value_start(&self, shown: &str) -> Option<Range<usize>> {
        let longest = self
            .patterns
            .iter()
            .filter_map(|pattern| {
                (1..pattern.len())
                    .rev()
                    .filter(|&length| pattern.is_char_boundary(length))
                    .find(|&length| shown.ends_with(&pattern[..length]))
            })
            .max()?;
        Some(shown.len() - longest..shown.len())
    }

    fn mask_ranges(
        &self,
        automaton: &AhoCorasick,
        text: &str,
        extra: Option<Range<usize>>,
    ) -> String {
        let mut found: Vec<Range<usize>> = automaton
            .find_overlapping_iter(text)
            .map(|found| found.range())
            .chain(extra)
            .collect();
        if found.is_empty() {
            return text.to_string();
        }
        found.sort_by_key(|range| range.start);
        let mut merged: Vec<Range<usize>> = Vec::new();
        for range in found {
            match merged.last_mut() {
                Some(last) if range.start < last.end => last.end = last.end.max(range.end),
                _ => merged.push(range),
            }
        }

        let mut masked = String::with_capacity(text.len());
        let mut copied_to = 0;
        for range in merged {
            masked.push_str(&text[copied_to..range.start]);
            masked.push_str(MASK);
            copied_to = range.end;
        }
        masked.push_str(&text[copied_to..]);
        masked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `set -x` traces of Bash, dash and busybox `sh` of a command with
    /// the secret, run for real in the C and the C.UTF-8 locale.
    #[test]
    fn shell_traces_of_quoted_secret_masked() {
        let shells: [&[&str]; 3] = [&["bash"], &["dash"], &["busybox", "sh"]];
        let secrets = [
            "it's-a-secret",
            "esc\u{1b}-secret",
            "bell\u{7}-and-'quote'-secret",
            "del\u{7f}-and-\\-secret",
            "line\none\r-secret",
            "café-secret",
            "next\u{85}line\u{2028}-é-secret",
        ];
        for shell in shells {
            for secret in secrets {
                for locale in ["C", "C.UTF-8"] {
                    let output = std::process::Command::new(shell[0])
                        .args(&shell[1..])
                        .args(["-x", "-c", "echo \"$S\" >/dev/null"])
                        .env("S", secret)
                        .env("LC_ALL", locale)
                        .output()
                        .unwrap();
                    let trace = String::from_utf8_lossy(&output.stderr).into_owned();
                    let masked = Masker::new([secret]).mask(&trace);
                    assert!(
                        !masked.contains("secret"),
                        "{shell:?} {locale} {secret:?}: {masked:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn env_name_upper_cases_and_replaces() {
        assert_eq!(env_name("db-pass.word"), "BASSO_SECRET_DB_PASS_WORD");
        assert_eq!(env_name("account.token2"), "BASSO_SECRET_ACCOUNT_TOKEN2");
    }

    #[test]
    fn env_collision_is_an_error() {
        let mut secrets = Secrets::new();
        let needed = vec!["a-b".to_string(), "a_b".to_string()];
        let error = secrets.load_env(&needed, |_| Some("x".into())).unwrap_err();
        assert!(error.contains("`a-b`"), "{error}");
        assert!(error.contains("BASSO_SECRET_A_B"), "{error}");
    }

    #[test]
    fn env_fills_only_missing_values() {
        let mut secrets = Secrets::new();
        secrets.insert("token", "from-flag");
        let needed = vec!["token".to_string(), "other".to_string()];
        secrets
            .load_env(&needed, |name| Some(format!("env:{name}")))
            .unwrap();
        assert_eq!(secrets.get("token"), Some("from-flag"));
        assert_eq!(secrets.get("other"), Some("env:BASSO_SECRET_OTHER"));
    }

    #[test]
    fn substitute_replaces_references() {
        let mut secrets = Secrets::new();
        secrets.insert("token", "s3cret");
        let text = r#"curl -H "auth: <+secrets.getValue("token")>" x"#;
        assert_eq!(
            secrets.substitute(text, &["token".to_string()]).unwrap(),
            r#"curl -H "auth: s3cret" x"#
        );
        assert_eq!(referenced_ids(text), vec!["token".to_string()]);
    }

    #[test]
    fn substitute_names_missing_secret() {
        let error = Secrets::new()
            .substitute("<+secrets.getValue('db')>", &["db".to_string()])
            .unwrap_err();
        assert!(error.contains("`db`"), "{error}");
        assert!(error.contains("BASSO_SECRET_DB"), "{error}");
    }

    #[test]
    fn substitute_rejects_unrequested_secret() {
        let mut secrets = Secrets::new();
        secrets.insert("tok", "hunter2-value");
        secrets.insert("other", "x");
        let text = r#"echo <+secrets.getValue("tok")>"#;
        let error = secrets
            .substitute(text, &["other".to_string()])
            .unwrap_err();
        assert!(error.contains("secret `tok`"), "{error}");
        assert!(error.contains("reached the step as plain text"), "{error}");
        assert!(!error.contains("comes from run-time data"), "{error}");
        assert!(!error.contains("hunter2-value"), "{error}");
        assert!(!error.contains("BASSO_SECRET_TOK"), "{error}");
    }

    #[test]
    fn masker_masks_multi_line_values() {
        let masker = Masker::new(["line one\nline two", "abc"]);
        assert_eq!(masker.mask("x line two y"), "x *** y");
        assert_eq!(masker.mask("abcabc"), "******");
        assert_eq!(masker.mask("nothing"), "nothing");
    }

    #[test]
    fn masker_masks_trimmed_values_and_lines() {
        let masker = Masker::new(["  spacey secret  ", "line-one-AAA\n  line-two-BBB\n}"]);
        assert_eq!(masker.mask("echo: spacey secret"), "echo: ***");
        assert_eq!(masker.mask("x   spacey secret   y"), "x *** y");
        assert_eq!(masker.mask("*** line-two-BBB ***"), "*** *** ***");
        assert_eq!(masker.mask("json: {\"a\": 1}"), "json: {\"a\": 1}");
    }

    #[test]
    fn masker_masks_overlapping_values() {
        let masker = Masker::new(["abcdef", "defghi"]);
        assert_eq!(masker.mask("abcdefghi"), "***");
        assert_eq!(masker.mask("x abcdefghi y defghi"), "x *** y ***");
        let repeated = Masker::new(["aa"]);
        assert_eq!(repeated.mask("aaa"), "***");
        assert_eq!(Masker::new(["tok"]).mask("tok tok"), "*** ***");
    }

    #[test]
    fn message_masks_quoted_parts_of_values() {
        let masker = Masker::new(["S3cr3tV4lue"]);
        assert_eq!(
            masker
                .mask_message("cannot evaluate `a.substring(1) * 2`: `3cr3tV4lue` is not a number"),
            "cannot evaluate `a.substring(1) * 2`: `***` is not a number"
        );
        assert_eq!(
            masker.mask_message("`S3cr` and `3c` and `other`"),
            "`***` and `3c` and `other`"
        );
        assert_eq!(masker.mask_message("odd `S3cr3t"), "odd `S3cr3t");
        assert_eq!(
            masker.mask_message("`prefix-S3cr3` and `r3tV4lue-suffix` and `S3cr-S3cr`"),
            "`prefix-***` and `***-suffix` and `***-***`"
        );
        let long = Masker::new(["apiVersion: v1\ncontexts:\n- name: Success-cluster\n"]);
        assert_eq!(long.mask_message("is `Success` but"), "is `Success` but");
        assert_eq!(long.mask_message("`x-Success-cluster`"), "`x-***`");
        assert_eq!(masker.mask("`3cr3tV4lue`"), "`3cr3tV4lue`");
    }

    #[test]
    fn masker_masks_long_repeating_values() {
        let long = "a".repeat(200_000);
        let pair = "ab".repeat(50_000);
        let masker = Masker::new([long.as_str(), pair.as_str(), "short"]);
        assert_eq!(masker.mask(&format!("x {long} y")), "x *** y");
        assert_eq!(masker.mask(&format!("{pair}!")), "***!");
        assert_eq!(masker.mask("a short b"), "a *** b");
    }

    #[test]
    fn secrets_file_rejects_non_strings() {
        let mut secrets = Secrets::new();
        assert!(secrets.load_json(r#"{"a": 1}"#).is_err());
        secrets.load_json(r#"{"a": "b\nc"}"#).unwrap();
        assert_eq!(secrets.get("a"), Some("b\nc"));
    }

    #[test]
    fn cut_line_masks_start_of_value() {
        let masker = Masker::new(["hunter2-token"]);
        let cut = "echo hunter [basso: line cut, 9 more bytes not shown]";
        assert_eq!(
            masker.mask(cut),
            "echo *** [basso: line cut, 9 more bytes not shown]"
        );

        let whole = "echo hunter2-token [basso: line cut, 9 more bytes not shown]";
        assert_eq!(
            masker.mask(whole),
            "echo *** [basso: line cut, 9 more bytes not shown]"
        );
    }

    #[test]
    fn uncut_line_keeps_start_of_value() {
        let masker = Masker::new(["hunter2-token"]);
        assert_eq!(masker.mask("echo hunter"), "echo hunter");
    }
}
