//! Diagnostics as data: one model, rendered by the CLI (excerpt with caret),
//! as JSON (`--format json`) and as typed objects in JavaScript.

use serde::{Deserialize, Serialize};

/// How serious a diagnostic is. Only `Error` makes a command exit with 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

/// A source range. Lines and columns are 1-based; columns count Unicode
/// scalar values (characters), not bytes. `end_line`/`end_column` point just
/// past the last character of the range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Span {
    /// Byte offset of the first character in the source text.
    pub byte_start: usize,
    /// Byte offset just past the last character.
    pub byte_end: usize,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

impl Span {
    /// Computes a span from a byte range of `source`, a YAML file, counting
    /// lines as YAML ends them and character columns. Offsets past the end
    /// are clamped.
    pub fn from_byte_range(source: &str, byte_start: usize, byte_end: usize) -> Span {
        let byte_start = floor_char_boundary(source, byte_start.min(source.len()));
        let byte_end = floor_char_boundary(source, byte_end.clamp(byte_start, source.len()));
        let (line, column) = file_line_column(source, byte_start);
        let (end_line, end_column) = file_line_column(source, byte_end);
        Span {
            byte_start,
            byte_end,
            line,
            column,
            end_line,
            end_column,
        }
    }
}

impl Span {
    /// Computes the span of a byte range inside `outer`, counting lines and
    /// columns from `outer`'s start. The cost grows with the distance from
    /// `outer`'s start, not from the start of the file, so locating many
    /// references in a large file stays linear. `outer` must be a span of
    /// `source`; offsets outside it are clamped to it.
    pub fn from_byte_range_within(
        source: &str,
        outer: Span,
        byte_start: usize,
        byte_end: usize,
    ) -> Span {
        let limit = outer.byte_end.min(source.len());
        let floor = outer.byte_start.min(limit);
        let byte_start = floor_char_boundary(source, byte_start.clamp(floor, limit));
        let byte_end = floor_char_boundary(source, byte_end.clamp(byte_start, limit));
        let (line, column) = offset_position(source, outer, byte_start);
        // A range without a line break ends on the line it starts on, so
        // its end is counted from its start, not from `outer`'s start again.
        let inside = &source[byte_start..byte_end];
        let (end_line, end_column) = if memchr::memchr2(b'\n', b'\r', inside.as_bytes()).is_none() {
            (line, column + inside.chars().count())
        } else {
            offset_position(source, outer, byte_end)
        };
        Span {
            byte_start,
            byte_end,
            line,
            column,
            end_line,
            end_column,
        }
    }
}

/// Returns the line and column of `offset`, counted from `outer`'s start.
fn offset_position(source: &str, outer: Span, offset: usize) -> (usize, usize) {
    let before = source.get(outer.byte_start..offset).unwrap_or_default();
    match line_breaks(before) {
        (_, None) => (outer.line, outer.column + before.chars().count()),
        (count, Some(line_start)) => (outer.line + count, before[line_start..].chars().count() + 1),
    }
}

/// Yields the offset where each line after the first starts, with lines
/// broken as YAML breaks them: at `\n`, at `\r\n` (one break) and at a lone
/// `\r`. Each offset is one past its break's last byte.
pub fn yaml_line_starts(text: &str) -> impl Iterator<Item = usize> + '_ {
    let bytes = text.as_bytes();
    memchr::memchr2_iter(b'\n', b'\r', bytes)
        .filter(move |&at| !(bytes[at] == b'\r' && bytes.get(at + 1) == Some(&b'\n')))
        .map(|at| at + 1)
}

/// Counts the line breaks of `text` as YAML reads them, and returns the
/// offset where its last line starts, if it has a line break.
fn line_breaks(text: &str) -> (usize, Option<usize>) {
    yaml_line_starts(text).fold((0, None), |(count, _), start| (count + 1, Some(start)))
}

fn floor_char_boundary(source: &str, mut index: usize) -> usize {
    while index > 0 && !source.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// Returns the 1-based line and character column of a byte offset in a
/// template, whose lines end at `\n`.
pub fn line_column(source: &str, byte_offset: usize) -> (usize, usize) {
    let before = &source[..byte_offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Returns the 1-based line and character column of a byte offset in a
/// YAML file, whose lines end at `\n`, `\r\n` or a lone `\r`.
fn file_line_column(source: &str, byte_offset: usize) -> (usize, usize) {
    let before = &source[..byte_offset];
    let (breaks, line_start) = line_breaks(before);
    let column = before[line_start.unwrap_or(0)..].chars().count() + 1;
    (breaks + 1, column)
}

/// A secondary range with a short label, such as the first definition of a
/// duplicated identifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

/// One problem found in a template, a pipeline file or an input set.
///
/// `code` is a stable kebab-case identifier (`unknown-shell`,
/// `expression-syntax`) that tests and tools match on; `message` is lowercase
/// with no trailing period and names the offending value in backticks;
/// `help` says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: String,
    pub message: String,
    pub help: Option<String>,
    /// The file the span points into, as the caller named it; `None` for a
    /// template evaluated on its own.
    pub file: Option<String>,
    pub span: Span,
    pub labels: Vec<Label>,
}

impl Diagnostic {
    pub fn new(severity: Severity, code: &str, message: impl Into<String>, span: Span) -> Self {
        Diagnostic {
            severity,
            code: code.to_string(),
            message: message.into(),
            help: None,
            file: None,
            span,
            labels: Vec::new(),
        }
    }

    pub fn error(code: &str, message: impl Into<String>, span: Span) -> Self {
        Self::new(Severity::Error, code, message, span)
    }

    pub fn warning(code: &str, message: impl Into<String>, span: Span) -> Self {
        Self::new(Severity::Warning, code, message, span)
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }

    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Returns the JSON shape of the command-line contract: `{"severity", "code",
    /// "message", "help", "file", "line", "column", "endLine", "endColumn"}`.
    pub fn to_json(&self) -> serde_json::Value {
        // The shape holds only strings, integers and options of them, which
        // serde_json serialises without error.
        serde_json::to_value(self.to_json_shape()).unwrap_or_default()
    }

    /// Copies the fields of the JSON contract into a [`DiagnosticJson`].
    pub fn to_json_shape(&self) -> DiagnosticJson {
        DiagnosticJson {
            severity: self.severity,
            code: self.code.clone(),
            message: self.message.clone(),
            help: self.help.clone(),
            file: self.file.clone(),
            line: self.span.line,
            column: self.span.column,
            end_line: self.span.end_line,
            end_column: self.span.end_column,
        }
    }
}

/// A diagnostic as `--format json` prints it and the npm package returns it.
/// Lines and columns are 1-based; columns count characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct DiagnosticJson {
    pub severity: Severity,
    pub code: String,
    pub message: String,
    pub help: Option<String>,
    pub file: Option<String>,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_counts_characters_not_bytes() {
        let source = "ab\nçé x";
        let start = source.find('x').unwrap();
        let span = Span::from_byte_range(source, start, start + 1);
        assert_eq!((span.line, span.column), (2, 4));
        assert_eq!((span.end_line, span.end_column), (2, 5));
    }

    #[test]
    fn lone_carriage_return_ends_a_line() {
        let source = "a: 1\rb: 2\r\nc: x";
        let start = source.find('x').unwrap();
        let span = Span::from_byte_range(source, start, start + 1);
        assert_eq!((span.line, span.column), (3, 4));

        let outer = Span::from_byte_range(source, 0, source.len());
        let within = Span::from_byte_range_within(source, outer, start, start + 1);
        assert_eq!((within.line, within.column), (3, 4));
        assert_eq!(file_line_column(source, source.find('b').unwrap()), (2, 1));
        assert_eq!(line_column(source, source.find('b').unwrap()), (1, 6));
    }

    #[test]
    fn json_shape_uses_camel_case_keys() {
        let source = "name: x";
        let diagnostic = Diagnostic::error(
            "unknown-key",
            "unknown key `name`",
            Span::from_byte_range(source, 0, 4),
        )
        .with_help("remove `name`");
        let json = diagnostic.to_json();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "severity",
                "code",
                "message",
                "help",
                "file",
                "line",
                "column",
                "endLine",
                "endColumn"
            ]
        );
        assert_eq!(json["severity"], "error");
        assert_eq!(json["file"], serde_json::Value::Null);
        assert_eq!(json["endColumn"], 5);
    }

    #[test]
    fn span_clamps_offsets_past_end() {
        let span = Span::from_byte_range("abc", 10, 20);
        assert_eq!((span.byte_start, span.byte_end), (3, 3));
        assert_eq!((span.line, span.column), (1, 4));
    }

    #[test]
    fn span_within_matches_whole_file_count() {
        let source = "a: 1\nbé: \"x <+é.y>\n  ü <+z>\"\nc: 2\n";
        let outer_start = source.find('"').unwrap();
        let outer_end = source.rfind('"').unwrap() + 1;
        let outer = Span::from_byte_range(source, outer_start, outer_end);
        for (start, end) in [
            (outer_start, outer_start + 1),
            (source.find("<+é").unwrap(), source.find(".y").unwrap()),
            (source.find("<+z").unwrap(), source.find("<+z").unwrap() + 4),
            (outer_start, outer_end),
        ] {
            let within = Span::from_byte_range_within(source, outer, start, end);
            assert_eq!(
                within,
                Span::from_byte_range(source, start, end),
                "{start}..{end}"
            );
        }
    }

    #[test]
    fn span_within_ends_as_counted_from_outer() {
        let source = "k: \"a\r\nb\rcé\n\r\nd\"\n";
        let outer = Span::from_byte_range(source, 3, source.len() - 1);
        let boundaries: Vec<usize> = (3..source.len() - 1)
            .filter(|&at| source.is_char_boundary(at))
            .collect();
        for &start in &boundaries {
            for &end in boundaries.iter().filter(|&&end| end >= start) {
                let span = Span::from_byte_range_within(source, outer, start, end);
                assert_eq!(
                    (span.end_line, span.end_column),
                    offset_position(source, outer, end),
                    "{start}..{end}"
                );
            }
        }
    }
}
