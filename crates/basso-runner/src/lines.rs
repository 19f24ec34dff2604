//! Splitting a task's output into lines, each at most [`LINE_LIMIT`] bytes
//! long, so that a step printing without newlines cannot exhaust memory.

/// Maximum length of an output line passed on whole, in bytes. The rest
/// of a longer line is counted and skipped, and the shown part ends with
/// [`CUT_NOTE`].
pub const LINE_LIMIT: usize = 1 << 20;

/// Starts the note that ends a cut line:
/// ` [basso: line cut, 123 more bytes not shown]`. The masker recognises it
/// and also masks a shown part that ends with the start of a secret.
pub const CUT_NOTE: &str = " [basso: line cut, ";

/// Ends the note that [`CUT_NOTE`] starts.
pub const CUT_NOTE_END: &str = " more bytes not shown]";

/// Collects bytes into lines and passes each finished line on.
#[derive(Debug, Default)]
pub struct LineSplitter {
    line: Vec<u8>,
    /// Bytes of the current line past [`LINE_LIMIT`].
    skipped: usize,
}

impl LineSplitter {
    /// Creates a splitter with no pending line.
    pub fn new() -> LineSplitter {
        LineSplitter::default()
    }

    /// Adds `bytes` and calls `emit` for each line they finish, without its
    /// line ending.
    pub fn push(&mut self, mut bytes: &[u8], emit: &mut impl FnMut(&str)) {
        while !bytes.is_empty() {
            let end = bytes.iter().position(|&b| b == b'\n');
            let segment = &bytes[..end.unwrap_or(bytes.len())];
            let room = LINE_LIMIT - self.line.len();
            if segment.len() <= room {
                self.line.extend_from_slice(segment);
            } else {
                self.line.extend_from_slice(&segment[..room]);
                self.skipped += segment.len() - room;
            }
            match end {
                Some(end) => {
                    self.emit_line(emit);
                    bytes = &bytes[end + 1..];
                }
                None => break,
            }
        }
    }

    /// Passes on the last line when the output did not end with a newline.
    pub fn finish(&mut self, emit: &mut impl FnMut(&str)) {
        if !self.line.is_empty() || self.skipped > 0 {
            self.emit_line(emit);
        }
    }

    fn emit_line(&mut self, emit: &mut impl FnMut(&str)) {
        if self.skipped == 0 {
            while self.line.last() == Some(&b'\r') {
                self.line.pop();
            }
            emit(&String::from_utf8_lossy(&self.line));
        } else {
            // A character split by the cut is skipped whole, so that the
            // shown part ends with the same characters a secret would start
            // with.
            if let Err(error) = std::str::from_utf8(&self.line)
                && error.error_len().is_none()
            {
                self.skipped += self.line.len() - error.valid_up_to();
                self.line.truncate(error.valid_up_to());
            }
            let shown = String::from_utf8_lossy(&self.line);
            emit(&format!("{shown}{CUT_NOTE}{}{CUT_NOTE_END}", self.skipped));
        }
        self.line.clear();
        self.skipped = 0;
    }
}

/// Reads `stream` until its end and passes each line to `emit`, without its
/// line ending. A read error other than an interruption ends the stream.
pub fn forward_lines(mut stream: impl std::io::Read, mut emit: impl FnMut(&str)) {
    let mut splitter = LineSplitter::new();
    let mut chunk = vec![0; 64 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(read) => splitter.push(&chunk[..read], &mut emit),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    splitter.finish(&mut emit);
}

/// Splits a line that [`LineSplitter`] cut into its shown part and its note.
pub fn split_cut_note(line: &str) -> Option<(&str, &str)> {
    if !line.ends_with(CUT_NOTE_END) {
        return None;
    }
    let at = line.rfind(CUT_NOTE)?;
    let count = &line[at + CUT_NOTE.len()..line.len() - CUT_NOTE_END.len()];
    if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(line.split_at(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> Vec<String> {
        let mut splitter = LineSplitter::new();
        let mut lines = Vec::new();
        for chunk in chunks {
            splitter.push(chunk, &mut |line| lines.push(line.to_string()));
        }
        splitter.finish(&mut |line| lines.push(line.to_string()));
        lines
    }

    #[test]
    fn lines_across_chunks() {
        let lines = split(&[b"one\ntw", b"o\r\n", b"\nthree"]);
        assert_eq!(lines, ["one", "two", "", "three"]);
    }

    #[test]
    fn long_line_is_cut_with_note() {
        let long = vec![b'a'; LINE_LIMIT + 10];
        let lines = split(&[&long[..100], &long[100..], b"\nnext\n"]);
        assert_eq!(lines.len(), 2);
        let (shown, note) = split_cut_note(&lines[0]).expect("cut note");
        assert_eq!(shown.len(), LINE_LIMIT);
        assert_eq!(note, " [basso: line cut, 10 more bytes not shown]");
        assert_eq!(lines[1], "next");
    }

    #[test]
    fn cut_skips_a_split_character() {
        let mut bytes = vec![b'a'; LINE_LIMIT - 1];
        bytes.extend_from_slice("é!".as_bytes());
        let lines = split(&[&bytes]);
        let (shown, note) = split_cut_note(&lines[0]).expect("cut note");
        assert_eq!(shown.len(), LINE_LIMIT - 1);
        assert!(shown.bytes().all(|b| b == b'a'));
        assert_eq!(note, " [basso: line cut, 3 more bytes not shown]");
    }

    #[test]
    fn note_needs_a_count() {
        assert_eq!(
            split_cut_note("text [basso: line cut,  more bytes not shown]"),
            None
        );
        assert_eq!(split_cut_note("text"), None);
        assert_eq!(
            split_cut_note("x [basso: line cut, 7 more bytes not shown]"),
            Some(("x", " [basso: line cut, 7 more bytes not shown]"))
        );
    }
}
