//! Templates: text with `<+…>` blocks, scanned once and evaluated many times.
//!
//! The scanner works on raw characters as Harness's `StringReplacer` does.
//! `<+` opens a block, and blocks nest. `>` closes the innermost open block,
//! and `\>` inside a block is a literal `>`. A `<+` that is never closed is
//! plain text from there to the end. [`ScanMode::Smart`] also ignores a `>`
//! inside quotes or brackets.
//!
//! Each block's content is then compiled once: inner blocks are classified by
//! how they join the text around them ([`Binding`]) and, unless one of them
//! is spliced as text, the content is parsed into an owned expression.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::OnceLock;

use crate::error::{ExprError, codes};
use crate::expr::parser::{OffsetMap, ParseInput, parse};
use crate::expr::{
    Builtin, Expr, ExprKind, Path, PathPart, PathSegment, PostfixOp, canonical,
    canonical_with_alias, dotted,
};
use crate::options::{Limits, ScanMode};
use crate::value::Value;

mod references;

pub use references::References;

/// The marker characters that stand for inner blocks in expression text.
pub(crate) const SLOT_OPEN: char = '\u{E000}';
pub(crate) const SLOT_CLOSE: char = '\u{E001}';

/// A scanned and compiled template. Parse once with [`Template::parse`],
/// then render or evaluate it against any number of contexts.
#[derive(Debug)]
pub struct Template {
    pub(crate) source: String,
    pub(crate) scan: ScanMode,
    pub(crate) limits: Limits,
    pub(crate) pieces: Vec<Piece>,
    /// The whole text compiled as one expression, built on first evaluation.
    pub(crate) whole: OnceLock<Result<Unit, ExprError>>,
    /// The paths and secret ids of the blocks, listed on first use.
    pub(crate) references: OnceLock<References>,
    /// Regular expressions compiled by earlier evaluations.
    pub(crate) regexes: crate::eval::regex::Cache,
}

/// Text or a block, at the top level or inside a block.
#[derive(Debug)]
pub(crate) enum Piece {
    Text(TextPiece),
    Block(Box<Block>),
}

/// Literal text; `\>` escapes inside blocks are already decoded.
#[derive(Debug)]
pub(crate) struct TextPiece {
    pub text: String,
    pub range: Range<usize>,
}

/// One `<+…>` block: its range including the delimiters, its content and
/// the compiled form of that content.
#[derive(Debug)]
pub(crate) struct Block {
    pub range: Range<usize>,
    pub pieces: Vec<Piece>,
    pub unit: Unit,
}

/// The way an inner block joins the expression around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Binding {
    /// Used as a value: its neighbours are operators, brackets, commas,
    /// `?`, `:`, `.` on the right, or the block's edges.
    Value,
    /// Right after a `.`: its value names the property.
    Name,
    /// Against other text, another block or inside quotes: its rendered
    /// value becomes part of the expression text.
    Splice,
}

/// The compiled content of a block (or of the whole text for evaluation).
#[derive(Debug)]
pub(crate) struct Unit {
    pub bindings: Vec<Binding>,
    pub form: Form,
}

#[derive(Debug)]
pub(crate) enum Form {
    /// Only blanks: the value is null.
    Empty,
    Parsed(Expr),
    /// At least one inner block is spliced as text, so the expression text
    /// is known only after the inner blocks are evaluated.
    Spliced,
}

impl Template {
    /// Scans `text` and compiles every block with the default [`Limits`].
    pub fn parse(text: &str, scan: ScanMode) -> Result<Template, ExprError> {
        Template::parse_with_limits(text, scan, Limits::default())
    }

    /// Scans `text` and compiles every block; the first syntax error stops
    /// parsing and is returned.
    pub fn parse_with_limits(
        text: &str,
        scan: ScanMode,
        limits: Limits,
    ) -> Result<Template, ExprError> {
        if text.len() > limits.max_template_bytes {
            return Err(ExprError::new(
                codes::TEMPLATE_TOO_LONG,
                format!(
                    "template is {} bytes, longer than the limit of {} bytes",
                    text.len(),
                    limits.max_template_bytes
                ),
                "move long content into a file or split it across fields",
                text,
                0..0,
            ));
        }
        let pieces = scan_pieces(text, scan, &limits)?;
        Ok(Template {
            source: text.to_string(),
            scan,
            limits,
            pieces,
            whole: OnceLock::new(),
            references: OnceLock::new(),
            regexes: Default::default(),
        })
    }

    /// Returns the template text as given.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Returns the scan mode the template was parsed with.
    pub fn scan_mode(&self) -> ScanMode {
        self.scan
    }

    /// Returns true when the text contains at least one `<+…>` block.
    pub fn has_blocks(&self) -> bool {
        self.pieces.iter().any(|p| matches!(p, Piece::Block(_)))
    }

    /// Returns the byte offset of the `<+` that is never closed, if any.
    /// Harness keeps the text from there to the end as written.
    pub fn unclosed_block_start(&self) -> Option<usize> {
        // Every other `<+` opens a block, so only the text that the scan
        // gave back for an unclosed block starts with one.
        self.pieces.iter().find_map(|piece| match piece {
            Piece::Text(text) if text.text.starts_with("<+") => Some(text.range.start),
            _ => None,
        })
    }

    /// Lists the context paths and secret ids the template's blocks use.
    pub fn references(&self) -> References {
        let mut references = References::default();
        references.collect_pieces(&self.pieces);
        references
    }

    /// Returns [`Template::references`], listed on first use and kept. A
    /// pipeline's checks read them for every field, and many fields share
    /// one compiled template.
    pub(crate) fn cached_references(&self) -> &References {
        self.references.get_or_init(|| self.references())
    }

    /// Returns the byte range in the text of the first use of the path
    /// `reference`, written as [`References::paths`] lists it.
    pub(crate) fn reference_range(&self, reference: &str) -> Option<Range<usize>> {
        references::reference_range(&self.pieces, reference)
    }

    /// Returns true when a top-level block outside quotes touches a `-`,
    /// `/` or `.` with no blank between, and the character past that
    /// separator is part of a name or another block: `<+a>-<+b>`,
    /// `stage-<+x>`, `<+major>.<+minor>` or `<+name>.tar`. Such text builds
    /// a name or a version, so a string value resolved again renders it
    /// instead of computing it. A number past `-` or `/` (`<+a>-1`), a
    /// method call (`<+a>.trim()`) and blanks (`<+a> - <+b>`) compute.
    pub(crate) fn joins_as_text(&self) -> bool {
        let mut quotes = Quotes::default();
        for (i, piece) in self.pieces.iter().enumerate() {
            match piece {
                Piece::Text(t) => quotes.feed(&t.text),
                Piece::Block(_) if !quotes.inside() => {
                    let before = i.checked_sub(1).and_then(|j| self.side(j, true));
                    let after = self.side(i + 1, false);
                    if before.is_some_and(|side| side.joins())
                        || after.is_some_and(|side| side.joins())
                    {
                        return true;
                    }
                }
                Piece::Block(_) => {}
            }
        }
        false
    }

    /// Returns the separator that the text piece at `index` puts against
    /// the block after it (`before`) or before it, with what lies past the
    /// separator.
    fn side(&self, index: usize, before: bool) -> Option<Side<'_>> {
        let Some(Piece::Text(t)) = self.pieces.get(index) else {
            return None;
        };
        let text = t.text.as_str();
        let (separator, rest) = if before {
            let separator = text.chars().next_back()?;
            (separator, &text[..text.len() - separator.len_utf8()])
        } else {
            let separator = text.chars().next()?;
            (separator, &text[separator.len_utf8()..])
        };
        // Past the separator: the rest of the text, or the neighbouring
        // block when the separator is all the text.
        let beyond_block = rest.is_empty() && {
            let next = if before {
                index.checked_sub(1)
            } else {
                Some(index + 1)
            };
            matches!(next.and_then(|n| self.pieces.get(n)), Some(Piece::Block(_)))
        };
        Some(Side {
            separator,
            rest,
            before,
            beyond_block,
        })
    }

    /// Returns true when the whole text is an expression only once an inner
    /// block's value is spliced into it as text (`<+a>.trim()`), so its
    /// syntax is known only after that block is evaluated.
    pub(crate) fn splices_blocks(&self) -> bool {
        matches!(
            self.whole_unit(),
            Ok(Unit {
                form: Form::Spliced,
                ..
            })
        )
    }

    /// Returns the byte ranges of the top-level blocks, delimiters included.
    pub(crate) fn block_ranges(&self) -> Vec<Range<usize>> {
        self.pieces
            .iter()
            .filter_map(|piece| match piece {
                Piece::Block(block) => Some(block.range.clone()),
                Piece::Text(_) => None,
            })
            .collect()
    }

    /// Returns the whole text compiled as one expression over its top-level
    /// blocks, compiling it on first use.
    pub(crate) fn whole_unit(&self) -> &Result<Unit, ExprError> {
        self.whole
            .get_or_init(|| compile_unit(&self.source, &self.pieces, &self.limits))
    }
}

/// Returns true when `text` contains `<+`, the start of a block. Fields
/// and context strings are checked on every read, and `str::contains` sets
/// up a substring searcher on each call, which costs more than the search
/// itself on short texts.
pub(crate) fn has_block_start(text: &str) -> bool {
    let bytes = text.as_bytes();
    // On short texts a plain scan takes fewer instructions than memchr's
    // vector set-up.
    if bytes.len() < 64 {
        return bytes.windows(2).any(|pair| pair == b"<+");
    }
    memchr::memchr_iter(b'<', bytes).any(|at| bytes.get(at + 1) == Some(&b'+'))
}

/// An open block (or the top level) while scanning.
struct Frame {
    start: usize,
    pieces: Vec<Piece>,
    text: String,
    text_start: usize,
    quote: Option<u8>,
    escaped: bool,
    brackets: usize,
}

impl Frame {
    /// Opens a frame with room for `pieces` pieces, so that its vector is
    /// allocated once for up to that many pieces instead of growing from
    /// empty.
    fn new(start: usize, text_start: usize, pieces: usize) -> Frame {
        Frame {
            start,
            pieces: Vec::with_capacity(pieces),
            text: String::new(),
            text_start,
            quote: None,
            escaped: false,
            brackets: 0,
        }
    }

    /// Appends `text` to the pending text. The pending text is usually
    /// empty, and then it is allocated at its final size.
    fn push_text(&mut self, text: &str) {
        if self.text.is_empty() {
            self.text = text.to_string();
        } else {
            self.text.push_str(text);
        }
    }

    fn flush(&mut self, end: usize) {
        if !self.text.is_empty() {
            let text = std::mem::take(&mut self.text);
            self.pieces.push(Piece::Text(TextPiece {
                text,
                range: self.text_start..end,
            }));
        }
    }
}

/// Scans text into pieces, compiling each block as it closes.
fn scan_pieces(source: &str, scan: ScanMode, limits: &Limits) -> Result<Vec<Piece>, ExprError> {
    let bytes = source.as_bytes();
    // Room for the top level and three nested blocks, so that the stack
    // does not grow at the first block.
    let mut stack = Vec::with_capacity(4);
    // Room for the pieces of a text with one block, text before and after
    // it included, so that the vector does not grow for such a text.
    stack.push(Frame::new(0, 0, 4));
    let mut segment_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let in_block = stack.len() > 1;
        let frame = stack
            .last_mut()
            .expect("the top-level frame is never popped");

        if bytes[i] == b'<' && bytes.get(i + 1) == Some(&b'+') {
            frame.push_text(&source[segment_start..i]);
            frame.flush(i);
            // Blocks deeper than evaluation's recursion limit could never
            // be evaluated, and compiling them would take stack for each.
            let max_depth = limits.max_block_depth.min(crate::eval::MAX_RECURSION);
            if stack.len() > max_depth {
                return Err(ExprError::new(
                    codes::NESTING_LIMIT,
                    format!("`<+…>` blocks nest deeper than {max_depth} levels"),
                    "move inner expressions into variables",
                    source,
                    i..i + 2,
                ));
            }
            // A block without inner blocks has one text piece.
            stack.push(Frame::new(i, i + 2, 1));
            i += 2;
            segment_start = i;
            continue;
        }
        // Long scripts hold few blocks, so memchr skips the bytes that
        // cannot change the scan. Outside blocks only `<+` matters, and
        // inside a block in Harness mode only `<+`, `\>` and `>` do.
        if !in_block {
            let next = memchr::memchr(b'<', &bytes[i + 1..]);
            i = next.map_or(bytes.len(), |offset| i + 1 + offset);
            continue;
        }
        if scan == ScanMode::Harness && !matches!(bytes[i], b'>' | b'\\') {
            let next = memchr::memchr3(b'<', b'>', b'\\', &bytes[i + 1..]);
            i = next.map_or(bytes.len(), |offset| i + 1 + offset);
            continue;
        }

        if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'>') && !frame.escaped {
            frame.push_text(&source[segment_start..i]);
            segment_start = i + 1;
            i += 2;
            continue;
        }

        let closes = bytes[i] == b'>'
            && match scan {
                ScanMode::Harness => true,
                ScanMode::Smart => frame.quote.is_none() && frame.brackets == 0,
            };
        if closes {
            frame.push_text(&source[segment_start..i]);
            frame.flush(i);
            let done = stack.pop().expect("inside a block");
            let range = done.start..i + 1;
            let unit = compile_unit(source, &done.pieces, limits)?;
            let parent = stack
                .last_mut()
                .expect("the top-level frame is never popped");
            parent.text_start = i + 1;
            parent.pieces.push(Piece::Block(Box::new(Block {
                range,
                pieces: done.pieces,
                unit,
            })));
            i += 1;
            segment_start = i;
            continue;
        }

        if scan == ScanMode::Smart {
            track_smart_state(frame, bytes[i]);
        }
        i += 1;
    }

    // A block that never closes is plain text from its `<+` to the end.
    let unclosed_start = stack.get(1).map(|frame| frame.start);
    stack.truncate(1);
    let mut top = stack.pop().expect("the top-level frame");
    match unclosed_start {
        Some(start) => {
            top.flush(start);
            top.pieces.push(Piece::Text(TextPiece {
                text: source[start..].to_string(),
                range: start..source.len(),
            }));
        }
        None => {
            top.push_text(&source[segment_start..]);
            top.flush(source.len());
        }
    }
    Ok(top.pieces)
}

/// Follows quotes and brackets for [`ScanMode::Smart`].
fn track_smart_state(frame: &mut Frame, byte: u8) {
    if let Some(quote) = frame.quote {
        if frame.escaped {
            frame.escaped = false;
        } else if byte == b'\\' {
            frame.escaped = true;
        } else if byte == quote {
            frame.quote = None;
        }
        return;
    }
    match byte {
        b'"' | b'\'' => frame.quote = Some(byte),
        b'(' | b'[' | b'{' => frame.brackets += 1,
        b')' | b']' | b'}' => frame.brackets = frame.brackets.saturating_sub(1),
        _ => {}
    }
}

/// Classifies the inner blocks of `pieces` and parses the content unless a
/// block is spliced as text.
pub(crate) fn compile_unit(
    source: &str,
    pieces: &[Piece],
    limits: &Limits,
) -> Result<Unit, ExprError> {
    let bindings = classify(pieces);
    if bindings.contains(&Binding::Splice) {
        return Ok(Unit {
            bindings,
            form: Form::Spliced,
        });
    }

    // A block without inner blocks is its one text piece, which is parsed
    // where it is instead of copied.
    let (text, offsets) = match pieces {
        [Piece::Text(piece)] => {
            let offsets = OffsetMap::one_run(0, piece.range.start, true);
            (Cow::Borrowed(piece.text.as_str()), offsets)
        }
        _ => {
            let (text, offsets) = assemble(pieces, &bindings, &[]);
            (Cow::Owned(text), offsets)
        }
    };
    if text.trim().is_empty() {
        return Ok(Unit {
            bindings,
            form: Form::Empty,
        });
    }
    let input = ParseInput {
        text: &text,
        source,
        offsets: &offsets,
        slot_count: bindings.len(),
        max_nesting: limits.max_expression_depth,
    };
    Ok(Unit {
        form: Form::Parsed(parse(&input)?),
        bindings,
    })
}

/// Decides each inner block's [`Binding`] from its nearest non-blank
/// neighbours. A `.` right before the block makes it a property name.
/// Another block, a quote, or a word that is not a JEXL word operator makes
/// it a text splice. Anything else (operators, brackets, commas, `?`, `:`,
/// the edges) makes it a value.
pub(crate) fn classify(pieces: &[Piece]) -> Vec<Binding> {
    // Only the text before a block can decide its binding, so the text
    // after the last block is not fed to `quotes`. Most block contents
    // (`pipeline.variables.tag`) have no inner block and skip the scan.
    let Some(last_block) = pieces
        .iter()
        .rposition(|piece| matches!(piece, Piece::Block(_)))
    else {
        return Vec::new();
    };
    let mut bindings = Vec::new();
    let mut quotes = Quotes::default();
    for (i, piece) in pieces[..=last_block].iter().enumerate() {
        let Piece::Block(_) = piece else {
            if let Piece::Text(t) = piece {
                quotes.feed(&t.text);
            }
            continue;
        };
        if quotes.inside() {
            bindings.push(Binding::Splice);
            continue;
        }

        let left = neighbour(&pieces[..i], true);
        let right = neighbour(&pieces[i + 1..], false);
        let binding = match (&left, &right) {
            (Neighbour::Dot, r) if !r.glues() => Binding::Name,
            (l, r) if l.glues() || r.glues() => Binding::Splice,
            _ => Binding::Value,
        };
        bindings.push(binding);
    }
    bindings
}

/// A separator character beside a top-level block, and what lies past it.
struct Side<'t> {
    separator: char,
    /// The text past the separator, away from the block.
    rest: &'t str,
    /// Whether the separator comes before the block.
    before: bool,
    /// Whether another block lies directly past the separator.
    beyond_block: bool,
}

impl Side<'_> {
    fn joins(&self) -> bool {
        let past = if self.before {
            self.rest.chars().next_back()
        } else {
            self.rest.chars().next()
        };
        let name_char = |c: char| c.is_alphanumeric() || c == '_';
        match self.separator {
            '.' if !self.before => {
                // `.name(` after a block is a method call on its value.
                let name: String = self.rest.chars().take_while(|c| name_char(*c)).collect();
                let call = !name.is_empty() && self.rest[name.len()..].starts_with('(');
                !call && (self.beyond_block || past.is_some_and(name_char))
            }
            '.' => self.beyond_block || past.is_some_and(name_char),
            '-' | '/' => self.beyond_block || past.is_some_and(|c| c.is_alphabetic() || c == '_'),
            _ => false,
        }
    }
}

/// Whether the text read so far leaves an open string quote, `\`
/// escaping the next character inside one.
#[derive(Default)]
struct Quotes {
    open: Option<char>,
    escaped: bool,
}

impl Quotes {
    fn feed(&mut self, text: &str) {
        for c in text.chars() {
            match self.open {
                Some(_) if self.escaped => self.escaped = false,
                Some(_) if c == '\\' => self.escaped = true,
                Some(q) if c == q => self.open = None,
                Some(_) => {}
                None if c == '"' || c == '\'' => self.open = Some(c),
                None => {}
            }
        }
    }

    fn inside(&self) -> bool {
        self.open.is_some()
    }
}

/// The nearest non-blank thing beside a block.
enum Neighbour {
    Edge,
    Block,
    /// A `.` directly against the block.
    Dot,
    /// A word (or a quote) that is not a word operator.
    Word,
    Other,
}

impl Neighbour {
    fn glues(&self) -> bool {
        matches!(self, Neighbour::Block | Neighbour::Word)
    }
}

const WORD_OPERATORS: &[&str] = &[
    "and", "or", "not", "eq", "ne", "lt", "le", "gt", "ge", "div", "mod", "empty", "size",
];

/// Finds the neighbour in `side`, the pieces before (`before`) or after
/// the block; blank text pieces are skipped.
fn neighbour(side: &[Piece], before: bool) -> Neighbour {
    let mut pieces: Box<dyn Iterator<Item = &Piece>> = if before {
        Box::new(side.iter().rev())
    } else {
        Box::new(side.iter())
    };
    let text = loop {
        match pieces.next() {
            None => return Neighbour::Edge,
            Some(Piece::Block(_)) => return Neighbour::Block,
            Some(Piece::Text(t)) if t.text.trim().is_empty() => continue,
            Some(Piece::Text(t)) => break t.text.as_str(),
        }
    };
    let is_word_char = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    if before && text.ends_with('.') {
        return Neighbour::Dot;
    }
    let trimmed = if before {
        text.trim_end()
    } else {
        text.trim_start()
    };
    let Some(c) = (if before {
        trimmed.chars().next_back()
    } else {
        trimmed.chars().next()
    }) else {
        return Neighbour::Edge;
    };
    if c == '"' || c == '\'' {
        return Neighbour::Word;
    }
    if !is_word_char(c) {
        return Neighbour::Other;
    }
    let word: String = if before {
        let rev: String = trimmed
            .chars()
            .rev()
            .take_while(|c| is_word_char(*c))
            .collect();
        rev.chars().rev().collect()
    } else {
        trimmed.chars().take_while(|c| is_word_char(*c)).collect()
    };
    let blank_between = trimmed.len() != text.len();
    if blank_between && WORD_OPERATORS.contains(&word.as_str()) {
        Neighbour::Other
    } else {
        Neighbour::Word
    }
}

/// Builds the expression text of a unit: text pieces as they are, value and
/// name blocks as slot markers, spliced blocks as their rendered values.
pub(crate) fn assemble(
    pieces: &[Piece],
    bindings: &[Binding],
    spliced: &[Option<String>],
) -> (String, OffsetMap) {
    let mut text = String::new();
    let mut offsets = OffsetMap::default();
    let mut slot = 0;
    for piece in pieces {
        match piece {
            Piece::Text(t) => {
                offsets.push(text.len(), t.range.start, true);
                text.push_str(&t.text);
            }
            Piece::Block(block) => {
                offsets.push(text.len(), block.range.start, false);
                match (bindings[slot], spliced.get(slot)) {
                    (Binding::Splice, Some(Some(value))) => text.push_str(value),
                    _ => {
                        text.push(SLOT_OPEN);
                        text.push_str(&slot.to_string());
                        text.push(SLOT_CLOSE);
                    }
                }
                slot += 1;
            }
        }
    }
    (text, offsets)
}

/// Visits every expression node below `expr`, parents first.
pub(crate) fn walk_expr<'e>(expr: &'e Expr, visit: &mut dyn FnMut(&'e Expr)) {
    visit(expr);
    match &expr.kind {
        ExprKind::Literal(_) | ExprKind::Slot(_) => {}
        ExprKind::List(items) => items.iter().for_each(|e| walk_expr(e, visit)),
        ExprKind::Map(entries) => entries.iter().for_each(|(k, v)| {
            walk_expr(k, visit);
            walk_expr(v, visit);
        }),
        ExprKind::Path(Path::Fixed { .. }) => {}
        ExprKind::Path(Path::Computed(parts)) => {
            for part in parts {
                if let PathPart::Computed(e) = part {
                    walk_expr(e, visit);
                }
            }
        }
        ExprKind::Unary { operand, .. } | ExprKind::Size(operand) => walk_expr(operand, visit),
        ExprKind::Binary { first, rest } => {
            walk_expr(first, visit);
            rest.iter().for_each(|(_, _, e)| walk_expr(e, visit));
        }
        ExprKind::Ternary {
            condition,
            then,
            otherwise,
        } => {
            walk_expr(condition, visit);
            walk_expr(then, visit);
            walk_expr(otherwise, visit);
        }
        ExprKind::Elvis { value, fallback } => {
            walk_expr(value, visit);
            walk_expr(fallback, visit);
        }
        ExprKind::Postfix { base, ops } => {
            walk_expr(base, visit);
            for op in ops {
                match op {
                    PostfixOp::Member { .. } => {}
                    PostfixOp::Index { index, .. } => walk_expr(index, visit),
                    PostfixOp::Method { args, .. } => args.iter().for_each(|e| walk_expr(e, visit)),
                }
            }
        }
        ExprKind::Builtin { args, .. } => args.iter().for_each(|e| walk_expr(e, visit)),
    }
}

/// Formats a path for `references()`: dotted, in canonical alias form, with
/// `*` for segments computed at evaluation time.
pub(crate) fn reference_text(path: &Path) -> String {
    let parts = match path {
        Path::Fixed { segments, alias } => {
            return dotted(&canonical_with_alias(segments, alias.as_deref()));
        }
        Path::Computed(parts) => parts,
    };
    let mut segments: Vec<PathSegment> = Vec::with_capacity(parts.len());
    for part in parts {
        segments.push(match part {
            PathPart::Fixed(segment) => segment.clone(),
            PathPart::Slot(_) | PathPart::Computed(_) => PathSegment::Key("*".to_string()),
        });
    }
    dotted(&canonical(&segments))
}

/// Returns the id of a `secrets.getValue("id")` call with a literal id.
pub(crate) fn literal_secret_id(expr: &Expr) -> Option<Option<&str>> {
    match &expr.kind {
        ExprKind::Builtin {
            function: Builtin::SecretsGetValue,
            args,
        } => Some(match args.first().map(|a| &a.kind) {
            Some(ExprKind::Literal(Value::String(id))) if args.len() == 1 => Some(id.as_str()),
            _ => None,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{Piece, ScanMode, Template, has_block_start};

    /// Returns the top-level block ranges, as start and end, and the text
    /// pieces of `text`.
    fn scanned(text: &str, scan: ScanMode) -> (Vec<(usize, usize)>, Vec<String>) {
        let template = Template::parse(text, scan).unwrap();
        let blocks = template
            .block_ranges()
            .into_iter()
            .map(|range| (range.start, range.end))
            .collect();
        let texts = template
            .pieces
            .iter()
            .filter_map(|piece| match piece {
                Piece::Text(piece) => Some(piece.text.clone()),
                Piece::Block(_) => None,
            })
            .collect();
        (blocks, texts)
    }

    #[test]
    fn scan_finds_blocks_between_other_bytes() {
        use ScanMode::{Harness, Smart};
        // The text, the scan mode, and the expected block ranges and text pieces.
        type Case = (
            &'static str,
            ScanMode,
            &'static [(usize, usize)],
            &'static [&'static str],
        );
        let cases: [Case; 6] = [
            ("a < b <+x> c", Harness, &[(6, 10)], &["a < b ", " c"]),
            ("<+a.<+b>>", Harness, &[(0, 9)], &[]),
            ("x <+a \\> b> y", Harness, &[(2, 11)], &["x ", " y"]),
            ("echo <+x", Harness, &[], &["echo ", "<+x"]),
            ("<+a < b> <+c>", Harness, &[(0, 8), (9, 13)], &[" "]),
            ("a<b<+\"x>\">", Smart, &[(3, 10)], &["a<b"]),
        ];
        for (text, scan, blocks, texts) in cases {
            let (found_blocks, found_texts) = scanned(text, scan);
            assert_eq!(found_blocks, blocks, "block ranges of `{text}`");
            assert_eq!(found_texts, texts, "text pieces of `{text}`");
        }
    }

    #[test]
    fn scan_decodes_escaped_close() {
        let template = Template::parse("x <+a \\> b> y", ScanMode::Harness).unwrap();
        let Some(Piece::Block(block)) = template.pieces.get(1) else {
            panic!("the second piece is the block");
        };
        let [Piece::Text(inner)] = block.pieces.as_slice() else {
            panic!("the block holds one text piece");
        };
        assert_eq!(inner.text, "a > b");
    }

    #[test]
    fn block_start_found_anywhere() {
        let long = format!("{}<+x>", "a < b ".repeat(20));
        for text in ["<+a>", "x <+a>", "a < b <+c>", "<<+", "é<+", "<+", &long] {
            assert!(has_block_start(text), "`{text}` contains `<+`");
        }
    }

    #[test]
    fn unclosed_block_start_found() {
        let cases = [
            ("abc <+", Some(4)),
            ("<+a> x <+b", Some(7)),
            ("x <+<+a> y", Some(2)),
            ("<+a> <+b>", None),
            ("no blocks", None),
        ];
        for (text, expected) in cases {
            let template = Template::parse(text, ScanMode::Harness).unwrap();
            assert_eq!(template.unclosed_block_start(), expected, "`{text}`");
        }
    }

    #[test]
    fn block_start_absent() {
        let long = "a < b + c ".repeat(20);
        for text in ["", "<", "a < b", "+<", "< +", "a <= b", "+", &long] {
            assert!(!has_block_start(text), "`{text}` contains no `<+`");
        }
    }
}
