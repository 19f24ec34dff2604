//! Text rendering of diagnostics for every command: `file:line:col`, the
//! source excerpt with a caret under the offending text, secondary labels
//! and the help line. Built on codespan-reporting.

use std::borrow::Cow;

use basso_core::diagnostic::yaml_line_starts;
use basso_core::{Diagnostic, Severity};
use codespan_reporting::diagnostic::{Diagnostic as Report, Label, Severity as ReportSeverity};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, Config};

/// Renders every diagnostic of one file as plain text, each followed by a
/// blank line.
pub fn render_text(diagnostics: &[Diagnostic], file_name: &str, source: &str) -> String {
    let prepared = Prepared::new(file_name, source);
    let mut out = String::new();
    for diagnostic in diagnostics {
        prepared.render(diagnostic, &mut out);
    }
    out
}

/// One file ready for drawing excerpts: its text with lone `\r` as line
/// breaks and its line starts, computed once for all its diagnostics.
struct Prepared<'a> {
    file: SimpleFile<&'a str, Cow<'a, str>>,
}

impl<'a> Prepared<'a> {
    fn new(file_name: &'a str, source: &'a str) -> Self {
        Prepared {
            file: SimpleFile::new(file_name, lone_carriage_returns_as_newlines(source)),
        }
    }

    /// Appends `diagnostic`, drawn against this file, and a blank line.
    fn render(&self, diagnostic: &Diagnostic, out: &mut String) {
        let source: &str = self.file.source();
        let file_name: &str = self.file.name();
        let drawn = if has_long_line(diagnostic, source) {
            None
        } else {
            term::emit_into_string(
                &Config::default(),
                &self.file,
                &to_report(diagnostic, source),
            )
            .ok()
        };
        match drawn {
            Some(text) => out.push_str(&text),
            // A span outside the source cannot be drawn, and a line of a
            // minified file would fill the screen: print the location only.
            None => {
                out.push_str(&format!(
                    "{}[{}]: {}\n  --> {}:{}:{}\n",
                    severity_word(diagnostic.severity),
                    diagnostic.code,
                    diagnostic.message,
                    file_name,
                    diagnostic.span.line,
                    diagnostic.span.column
                ));
                if let Some(help) = &diagnostic.help {
                    out.push_str(&format!("  = help: {help}\n"));
                }
            }
        }
        out.push('\n');
    }
}

/// Returns `source` with each lone `\r` replaced by `\n`. YAML ends a line
/// at either, and so do the positions of diagnostics, but the excerpts
/// split lines at `\n` only. The byte offsets stay the same.
fn lone_carriage_returns_as_newlines(source: &str) -> Cow<'_, str> {
    let bytes = source.as_bytes();
    let lone: Vec<usize> = yaml_line_starts(source)
        .map(|start| start - 1)
        .filter(|&at| bytes[at] == b'\r')
        .collect();
    if lone.is_empty() {
        return Cow::Borrowed(source);
    }
    let mut replaced = bytes.to_vec();
    for at in lone {
        replaced[at] = b'\n';
    }
    // Only ASCII bytes change, so the text stays UTF-8.
    Cow::Owned(String::from_utf8(replaced).unwrap_or_else(|_| source.to_string()))
}

/// Maximum length, in bytes, of a source line that an excerpt shows.
const EXCERPT_LINE_LIMIT: usize = 500;

/// Returns whether a line the diagnostic's primary span touches is longer
/// than [`EXCERPT_LINE_LIMIT`].
fn has_long_line(diagnostic: &Diagnostic, source: &str) -> bool {
    let span = clamp(source, diagnostic.span.byte_start, diagnostic.span.byte_end);
    let line_start = source[..span.start].rfind('\n').map_or(0, |at| at + 1);
    let line_end = source[span.end..]
        .find('\n')
        .map_or(source.len(), |at| span.end + at);
    source[line_start..line_end]
        .split('\n')
        .any(|line| line.len() > EXCERPT_LINE_LIMIT)
}

/// Renders diagnostics that point into several sources (the pipeline,
/// input sets, `--input` arguments), each against its own text.
pub fn render_files(diagnostics: &[Diagnostic], sources: &[(String, String)]) -> String {
    // Each source is prepared once, when its first diagnostic needs it, so
    // that many diagnostics do not each scan a large file again.
    let mut prepared: Vec<Option<Prepared<'_>>> = sources.iter().map(|_| None).collect();
    let mut out = String::new();
    for diagnostic in diagnostics {
        let file = diagnostic.file.as_deref().unwrap_or_default();
        let found = sources
            .iter()
            .position(|(name, text)| name == file && diagnostic.span.byte_end <= text.len());
        match found {
            Some(index) => {
                let (name, text) = &sources[index];
                prepared[index]
                    .get_or_insert_with(|| Prepared::new(name, text))
                    .render(diagnostic, &mut out);
            }
            None => Prepared::new(file, "").render(diagnostic, &mut out),
        }
    }
    out
}

/// Renders the closing count line, such as `2 errors, 1 warning`.
pub fn summary(diagnostics: &[Diagnostic]) -> String {
    let count = |severity| {
        diagnostics
            .iter()
            .filter(|d| d.severity == severity)
            .count()
    };
    let plural = |n: usize, word: &str| {
        if n == 1 {
            format!("1 {word}")
        } else {
            format!("{n} {word}s")
        }
    };
    format!(
        "{}, {}",
        plural(count(Severity::Error), "error"),
        plural(count(Severity::Warning), "warning")
    )
}

fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

fn clamp(source: &str, start: usize, end: usize) -> std::ops::Range<usize> {
    let start = start.min(source.len());
    let end = end.clamp(start, source.len());
    start..end
}

fn to_report(diagnostic: &Diagnostic, source: &str) -> Report<()> {
    let severity = match diagnostic.severity {
        Severity::Error => ReportSeverity::Error,
        Severity::Warning => ReportSeverity::Warning,
        Severity::Info => ReportSeverity::Note,
    };
    let mut labels = vec![Label::primary(
        (),
        clamp(source, diagnostic.span.byte_start, diagnostic.span.byte_end),
    )];
    for label in &diagnostic.labels {
        labels.push(
            Label::secondary(
                (),
                clamp(source, label.span.byte_start, label.span.byte_end),
            )
            .with_message(&label.message),
        );
    }
    let mut report = Report::new(severity)
        .with_code(&diagnostic.code)
        .with_message(&diagnostic.message)
        .with_labels(labels);
    if let Some(help) = &diagnostic.help {
        report = report.with_notes(vec![format!("help: {help}")]);
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use basso_core::Span;

    #[test]
    fn render_shows_location_caret_and_help() {
        let source = "spec:\n  shell: sh\n";
        let start = source.find("sh\n").unwrap();
        let diagnostic = Diagnostic::error(
            "unknown-shell",
            "unknown shell `sh`",
            Span::from_byte_range(source, start, start + 2),
        )
        .with_help("did you mean `Sh`?");
        let text = render_text(&[diagnostic], "p.yaml", source);
        assert!(text.contains("p.yaml:2:10"), "{text}");
        assert!(text.contains("^^"), "{text}");
        assert!(text.contains("help: did you mean `Sh`?"), "{text}");
        assert!(
            text.contains("error[unknown-shell]: unknown shell `sh`"),
            "{text}"
        );
    }

    #[test]
    fn lone_carriage_returns_break_excerpt_lines() {
        let source = "spec:\r  shell: sh\r";
        let start = source.find("sh\r").unwrap();
        let diagnostic = Diagnostic::error(
            "unknown-shell",
            "unknown shell `sh`",
            Span::from_byte_range(source, start, start + 2),
        );
        let text = render_text(&[diagnostic], "p.yaml", source);
        assert!(text.contains("p.yaml:2:10"), "{text}");
        assert!(text.contains("2 │   shell: sh\n"), "{text}");
        assert!(!text.contains("spec:"), "{text}");
    }

    #[test]
    fn summary_counts() {
        assert_eq!(summary(&[]), "0 errors, 0 warnings");
    }

    #[test]
    fn long_line_drawn_without_excerpt() {
        let source = format!("key: [{}]\n", "1, ".repeat(300));
        let span = Span::from_byte_range(&source, 0, 3);
        let diagnostic = Diagnostic::error("code", "message", span).with_help("fix it");
        let text = render_text(&[diagnostic], "f.yaml", &source);
        assert!(text.contains("--> f.yaml:1:1"), "{text}");
        assert!(text.contains("help: fix it"), "{text}");
        assert!(!text.contains("1, 1, 1"), "{text}");
        assert!(text.len() < 200, "{text}");
    }
}
