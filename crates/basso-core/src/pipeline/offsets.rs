//! Maps byte offsets in a scalar's text back to the bytes the scalar is
//! written with. YAML unescapes and folds the text, so an error found at a
//! column of the text needs this map to be drawn at its character in the file.
//!
//! The walk pairs each character of the text with the first character of
//! the written form that produces it, skipping what produces nothing:
//! quotes, indentation, block headers and escaped line breaks. A folded line
//! break produces the space it turns into.

use std::ops::Range;

use crate::pipeline::yaml::Style;

/// Returns the byte range in `written` that produces the bytes `range` of
/// `text`, or `None` when the walk cannot pair them.
pub(crate) fn written_range(
    written: &str,
    style: Style,
    text: &str,
    range: Range<usize>,
) -> Option<Range<usize>> {
    if style == Style::Plain && written.get(..text.len()) == Some(text) {
        return Some(range);
    }
    let mut at = body_start(written, style);
    let mut begin = None;
    for (offset, expected) in text.char_indices() {
        if offset == range.end && range.end > range.start {
            return Some(begin?..at);
        }
        let (from, to) = produce(written, style, at, expected)?;
        if offset == range.start {
            if range.is_empty() {
                return Some(from..from);
            }
            begin = Some(from);
        }
        at = to;
    }
    if range.start == text.len() {
        return Some(at..at);
    }
    Some(begin?..at)
}

/// Returns where the scalar's content starts: after an opening quote, or
/// after the header line of a block scalar.
fn body_start(written: &str, style: Style) -> usize {
    match style {
        Style::DoubleQuoted if written.starts_with('"') => 1,
        Style::SingleQuoted if written.starts_with('\'') => 1,
        Style::Literal | Style::Folded if written.starts_with(['|', '>']) => {
            match written.find(['\n', '\r']) {
                Some(at) if written[at..].starts_with("\r\n") => at + 2,
                Some(at) => at + 1,
                None => written.len(),
            }
        }
        _ => 0,
    }
}

/// Finds the written bytes, at or after `at`, that produce `expected`, and
/// returns their range.
fn produce(written: &str, style: Style, mut at: usize, expected: char) -> Option<(usize, usize)> {
    while let Some(mut found) = written.get(at..)?.chars().next() {
        let next = at + found.len_utf8();
        // The parser reads a lone `\r` as a line break, as it reads `\n`.
        if found == '\r' && !written[next..].starts_with('\n') {
            found = '\n';
        }
        if style == Style::DoubleQuoted && found == '\\' {
            let (produced, end) = escape(written, next);
            if produced == Some(expected) {
                return Some((at, end));
            }
            at = end;
            continue;
        }
        if style == Style::SingleQuoted
            && found == '\''
            && expected == '\''
            && written[next..].starts_with('\'')
        {
            return Some((at, next + 1));
        }
        if found == expected || (expected == ' ' && found == '\n' && style != Style::Literal) {
            return Some((at, next));
        }
        at = next;
    }
    None
}

/// Reads the escape whose letter starts at `at` (just after a backslash)
/// and returns the character it produces (none for an escaped line break)
/// and the offset after it.
fn escape(written: &str, at: usize) -> (Option<char>, usize) {
    let Some(letter) = written.get(at..).and_then(|rest| rest.chars().next()) else {
        return (None, at);
    };
    let after = at + letter.len_utf8();
    let hex = |digits: usize| {
        let code = written.get(after..after + digits)?;
        let value = u32::from_str_radix(code, 16).ok()?;
        Some((char::from_u32(value)?, after + digits))
    };
    let simple = |c: char| (Some(c), after);
    match letter {
        'n' => simple('\n'),
        't' | '\t' => simple('\t'),
        'r' => simple('\r'),
        '0' => simple('\0'),
        'a' => simple('\u{7}'),
        'b' => simple('\u{8}'),
        'e' => simple('\u{1b}'),
        'f' => simple('\u{c}'),
        'v' => simple('\u{b}'),
        'N' => simple('\u{85}'),
        '_' => simple('\u{a0}'),
        'L' => simple('\u{2028}'),
        'P' => simple('\u{2029}'),
        'x' | 'u' | 'U' => {
            let digits = match letter {
                'x' => 2,
                'u' => 4,
                _ => 8,
            };
            match hex(digits) {
                Some((c, end)) => (Some(c), end),
                None => (None, after),
            }
        }
        '\n' => (None, after),
        other => simple(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::yaml::{Limits, load};

    /// Loads `yaml` (one mapping entry `k: VALUE`) and returns the value's
    /// written form, style and text.
    fn scalar(yaml: &str) -> (String, Style, String) {
        let root = load(yaml, Limits::default()).unwrap().unwrap();
        let node = root.get("k").unwrap();
        let scalar = node.scalar().unwrap();
        let written = yaml[node.span.byte_start..node.span.byte_end].to_string();
        (written, scalar.style, scalar.text.clone())
    }

    /// Returns the written text that produces the first occurrence of
    /// `needle` in the scalar's text.
    fn written_of(yaml: &str, needle: &str) -> String {
        let (written, style, text) = scalar(yaml);
        let start = text.find(needle).unwrap();
        let range = written_range(&written, style, &text, start..start + needle.len()).unwrap();
        written[range].to_string()
    }

    #[test]
    fn plain_maps_one_to_one() {
        assert_eq!(written_of("k: echo <+a + >\n", "<+a + >"), "<+a + >");
    }

    #[test]
    fn double_quoted_skips_escapes() {
        assert_eq!(
            written_of("k: \"say \\\"hi\\\" <+x.y>\"\n", "<+x.y>"),
            "<+x.y>"
        );
        assert_eq!(written_of("k: \"a\\tb <+x>\"\n", "\tb"), "\\tb");
        assert_eq!(written_of("k: \"\\u00e9 <+x>\"\n", "<+x>"), "<+x>");
    }

    #[test]
    fn single_quoted_reads_doubled_quotes() {
        assert_eq!(written_of("k: 'it''s <+x>'\n", "'s <+x>"), "''s <+x>");
    }

    #[test]
    fn literal_block_skips_indentation() {
        let yaml = "k: |\n  echo one\n  echo <+pipeline.name + >\n";
        let (written, style, text) = scalar(yaml);
        let start = text.find("<+").unwrap();
        let range = written_range(&written, style, &text, start..start + 2).unwrap();
        let (node_start, _) = yaml.split_at(yaml.find("k: ").unwrap() + 3);
        let absolute = node_start.len() + range.start;
        let line = yaml[..absolute].matches('\n').count() + 1;
        assert_eq!(line, 3);
        assert_eq!(&written[range], "<+");
    }

    #[test]
    fn blocks_with_lone_carriage_returns_map_each_line() {
        let literal = "k: |\r  echo one\r  echo <+x>\r";
        let (written, style, text) = scalar(literal);
        let start = text.find("<+").unwrap();
        let range = written_range(&written, style, &text, start..start + 4).unwrap();
        assert_eq!(&written[range.clone()], "<+x>");
        assert_eq!(written[..range.start].matches('\r').count(), 1);

        assert_eq!(
            written_of("k: >\r  echo\r  <+x>\r", "echo <+x>"),
            "echo\r  <+x>"
        );
        assert_eq!(written_of("k: |\r\n  a\r\n  <+x>\r\n", "<+x>"), "<+x>");
    }

    #[test]
    fn folded_block_turns_line_breaks_into_spaces() {
        assert_eq!(
            written_of("k: >\n  echo\n  <+x>\n", "echo <+x>"),
            "echo\n  <+x>"
        );
    }

    #[test]
    fn end_of_text_maps_to_end_of_body() {
        let (written, style, text) = scalar("k: \"ab\"\n");
        assert_eq!(written_range(&written, style, &text, 2..2), Some(3..3));
    }
}
