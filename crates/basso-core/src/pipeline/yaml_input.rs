//! The input type that the YAML loader gives saphyr-parser: its
//! [`StrInput`] with a smaller buffer length.
//!
//! saphyr-parser 0.3.4 starts each plain scalar's text with room for 32
//! bytes and, after its first character, reserves room for as many more
//! bytes as the input's [`Input::bufmaxlen`]. `StrInput` reports 128, so
//! every plain scalar, a key or a short value included, is reallocated to
//! 129 bytes. With 31, a scalar of up to 32 bytes that starts with an ASCII
//! character keeps its first allocation, and a longer one grows as a
//! `String` does.
//!
//! The buffer length changes no result for text input. `StrInput` reads
//! from the whole text in memory, so its `lookahead` loads nothing. The
//! buffer length then only sets how many characters the scanner reads
//! between two `lookahead` calls, and which of two loops skips a block
//! scalar's indentation, both of which stop at the same character for this
//! input. Every method other than `bufmaxlen` calls `StrInput`'s.

use saphyr_parser::StrInput;
use saphyr_parser::input::{Input, SkipTabs};

/// The buffer length reported to saphyr-parser: one less than the 32 bytes
/// a plain scalar starts with, because the first character is already
/// stored when the scanner reserves room for this many more.
const BUFFER_LENGTH: usize = 31;

/// saphyr-parser's [`StrInput`] with a buffer length of 31 characters.
#[derive(Clone, Copy)]
pub(crate) struct SourceInput<'a>(StrInput<'a>);

impl<'a> SourceInput<'a> {
    pub(crate) fn new(source: &'a str) -> Self {
        SourceInput(StrInput::new(source))
    }
}

impl Input for SourceInput<'_> {
    #[inline]
    fn bufmaxlen(&self) -> usize {
        BUFFER_LENGTH
    }

    #[inline]
    fn lookahead(&mut self, count: usize) {
        self.0.lookahead(count)
    }

    #[inline]
    fn buflen(&self) -> usize {
        self.0.buflen()
    }

    #[inline]
    fn buf_is_empty(&self) -> bool {
        self.0.buf_is_empty()
    }

    #[inline]
    fn raw_read_ch(&mut self) -> char {
        self.0.raw_read_ch()
    }

    #[inline]
    fn raw_read_non_breakz_ch(&mut self) -> Option<char> {
        self.0.raw_read_non_breakz_ch()
    }

    #[inline]
    fn skip(&mut self) {
        self.0.skip()
    }

    #[inline]
    fn skip_n(&mut self, count: usize) {
        self.0.skip_n(count)
    }

    #[inline]
    fn peek(&self) -> char {
        self.0.peek()
    }

    #[inline]
    fn peek_nth(&self, n: usize) -> char {
        self.0.peek_nth(n)
    }

    #[inline]
    fn peek_opt(&self) -> Option<char> {
        self.0.peek_opt()
    }

    #[inline]
    fn look_ch(&mut self) -> char {
        self.0.look_ch()
    }

    #[inline]
    fn next_char_is(&self, c: char) -> bool {
        self.0.next_char_is(c)
    }

    #[inline]
    fn nth_char_is(&self, n: usize, c: char) -> bool {
        self.0.nth_char_is(n, c)
    }

    #[inline]
    fn next_2_are(&self, c1: char, c2: char) -> bool {
        self.0.next_2_are(c1, c2)
    }

    #[inline]
    fn next_3_are(&self, c1: char, c2: char, c3: char) -> bool {
        self.0.next_3_are(c1, c2, c3)
    }

    #[inline]
    fn next_is_document_indicator(&self) -> bool {
        self.0.next_is_document_indicator()
    }

    #[inline]
    fn next_is_document_start(&self) -> bool {
        self.0.next_is_document_start()
    }

    #[inline]
    fn next_is_document_end(&self) -> bool {
        self.0.next_is_document_end()
    }

    #[inline]
    fn skip_ws_to_eol(&mut self, skip_tabs: SkipTabs) -> (usize, Result<SkipTabs, &'static str>) {
        self.0.skip_ws_to_eol(skip_tabs)
    }

    #[inline]
    fn next_can_be_plain_scalar(&self, in_flow: bool) -> bool {
        self.0.next_can_be_plain_scalar(in_flow)
    }

    #[inline]
    fn next_is_blank_or_break(&self) -> bool {
        self.0.next_is_blank_or_break()
    }

    #[inline]
    fn next_is_blank_or_breakz(&self) -> bool {
        self.0.next_is_blank_or_breakz()
    }

    #[inline]
    fn next_is_blank(&self) -> bool {
        self.0.next_is_blank()
    }

    #[inline]
    fn next_is_break(&self) -> bool {
        self.0.next_is_break()
    }

    #[inline]
    fn next_is_breakz(&self) -> bool {
        self.0.next_is_breakz()
    }

    #[inline]
    fn next_is_z(&self) -> bool {
        self.0.next_is_z()
    }

    #[inline]
    fn next_is_flow(&self) -> bool {
        self.0.next_is_flow()
    }

    #[inline]
    fn next_is_digit(&self) -> bool {
        self.0.next_is_digit()
    }

    #[inline]
    fn next_is_alpha(&self) -> bool {
        self.0.next_is_alpha()
    }

    #[inline]
    fn skip_while_non_breakz(&mut self) -> usize {
        self.0.skip_while_non_breakz()
    }

    #[inline]
    fn skip_while_blank(&mut self) -> usize {
        self.0.skip_while_blank()
    }

    #[inline]
    fn fetch_while_is_alpha(&mut self, out: &mut String) -> usize {
        self.0.fetch_while_is_alpha(out)
    }

    #[inline]
    fn fetch_while_is_yaml_non_space(&mut self, out: &mut String) -> usize {
        self.0.fetch_while_is_yaml_non_space(out)
    }
}

#[cfg(test)]
mod tests {
    use saphyr_parser::{Parser, StrInput};

    use super::SourceInput;

    /// Returns every event and span that `parser` produces, or its first
    /// error, as text.
    fn events<T: saphyr_parser::input::Input>(mut parser: Parser<'_, T>) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(result) = parser.next_event() {
            match result {
                Ok((event, span)) => out.push(format!("{event:?} {span:?}")),
                Err(error) => {
                    out.push(format!("{error:?}"));
                    break;
                }
            }
        }
        out
    }

    #[test]
    fn events_match_str_input() {
        let long = "x".repeat(300);
        let deep = " ".repeat(40);
        let texts = [
            "a: b\nc: [1, 2]\n".to_string(),
            format!("key: {long}\nnext: {long} {long}\n"),
            format!("multi: first line\n  second {long}\n\n  third\n"),
            format!("block: |\n{deep}text\n{deep}  more\n\n{deep}end\n"),
            format!("folded: >-\n{deep}one\n{deep}two\n"),
            "é: ünïcode value that is longer than thirty-two bytes\n".to_string(),
            "list:\n  - plain # comment\n  - 'quoted'\n  - \"double\"\n".to_string(),
            "bad: [unclosed\n".to_string(),
            "key: value\n  bad indent: x\n".to_string(),
            format!("crlf: {long}\r\n  next line\r\nflow: {{a: {long}, b: [c, d]}}\r\n"),
            format!("first: {long}\n...\n---\nsecond: document\n"),
        ];
        for text in &texts {
            let expected = events(Parser::new(StrInput::new(text)));
            let actual = events(Parser::new(SourceInput::new(text)));
            assert_eq!(actual, expected, "{text}");
        }
    }

    // The test reads the repository's fixture files; the library itself
    // does no I/O.
    #[allow(clippy::disallowed_methods)]
    #[test]
    fn fixture_events_match_str_input() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
        let mut folders = vec![root];
        let mut files = 0;
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    folders.push(path);
                    continue;
                }
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                let expected = events(Parser::new(StrInput::new(&text)));
                let actual = events(Parser::new(SourceInput::new(&text)));
                assert_eq!(actual, expected, "{}", path.display());
                files += 1;
            }
        }
        assert!(files > 100, "read {files} fixture files");
    }
}
