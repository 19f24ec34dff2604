//! YAML loading into basso's own node tree, with a span on every node.
//!
//! The tree is built from saphyr-parser's event stream so that basso keeps
//! each scalar's source text and quoting style (an unquoted `8080` key stays
//! the text `8080`, `2002-12-14` stays a string, `"[1,2]"` is never a list)
//! and so that untrusted input is bounded: file size, nesting depth and the
//! number of nodes aliases may expand to.

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, ScanError};

use crate::diagnostic::{Diagnostic, Span};
use crate::pipeline::yaml_input::SourceInput;

/// Bounds on untrusted YAML input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted source, in bytes.
    pub max_bytes: usize,
    /// Deepest nesting of sequences and mappings.
    pub max_depth: usize,
    /// Most nodes the document may contain once aliases are expanded.
    pub max_nodes: usize,
}

impl Limits {
    /// The default `max_bytes`: 16 MiB.
    pub const DEFAULT_MAX_BYTES: usize = 16 * 1024 * 1024;
}

impl Default for Limits {
    fn default() -> Self {
        // A large real pipeline is about 60 KB and 5,000 nodes; these bounds
        // leave wide room and still stop an alias bomb early. 16 MiB admits
        // a generated 10,000-step pipeline (about 5.2 MB), and loading stays
        // linear in the file size.
        Limits {
            max_bytes: Self::DEFAULT_MAX_BYTES,
            max_depth: 64,
            max_nodes: 1_000_000,
        }
    }
}

/// How a scalar was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

/// A scalar's text as written (after YAML unescaping) and its style.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub text: String,
    pub style: Style,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    Scalar(Scalar),
    Sequence(Vec<Node>),
    /// Entries in source order; keys are nodes so they keep their spans.
    Mapping(Vec<(Node, Node)>),
}

/// A YAML node and the source range it covers.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: NodeValue,
    pub span: Span,
}

impl Node {
    /// Returns the scalar, if this node is one.
    pub fn scalar(&self) -> Option<&Scalar> {
        match &self.value {
            NodeValue::Scalar(scalar) => Some(scalar),
            _ => None,
        }
    }

    /// Returns the scalar text, if this node is a scalar (null included, as its text).
    pub fn as_str(&self) -> Option<&str> {
        self.scalar().map(|scalar| scalar.text.as_str())
    }

    /// Returns true for a plain `null`, `~`, empty value or `Null`/`NULL`.
    pub fn is_null(&self) -> bool {
        matches!(self.scalar(), Some(Scalar { text, style: Style::Plain }) if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    pub fn as_sequence(&self) -> Option<&[Node]> {
        match &self.value {
            NodeValue::Sequence(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_mapping(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            NodeValue::Mapping(entries) => Some(entries),
            _ => None,
        }
    }

    /// Looks up a mapping entry by key text; `None` for missing keys and non-mappings.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, value)| value)
    }

    /// Looks up a mapping entry by key text and returns the key node too.
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        self.as_mapping()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(k, v)| (k, v))
    }

    /// A short description of the node's kind for messages ("a mapping").
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            NodeValue::Scalar(_) if self.is_null() => "null",
            NodeValue::Scalar(_) => "a scalar",
            NodeValue::Sequence(_) => "a list",
            NodeValue::Mapping(_) => "a mapping",
        }
    }

    /// Converts the node to JSON with YAML 1.2 core-schema typing for plain
    /// scalars (`true`, `12`, `1.5`, `null`); quoted and block scalars stay
    /// strings. Keys are always their text.
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            NodeValue::Scalar(scalar) => scalar_to_json(scalar),
            NodeValue::Sequence(items) => {
                serde_json::Value::Array(items.iter().map(Node::to_json).collect())
            }
            NodeValue::Mapping(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|(key, value)| {
                        (
                            key.as_str().unwrap_or_default().to_string(),
                            value.to_json(),
                        )
                    })
                    .collect(),
            ),
        }
    }

    /// Builds a node tree from JSON, with `span` on every node: a value
    /// that did not come from the file (a runtime input's value) reports its
    /// problems at the field it was supplied for. Strings become quoted
    /// scalars, so the string `"null"` stays text.
    pub fn from_json(value: &serde_json::Value, span: Span) -> Node {
        use serde_json::Value;
        let scalar = |text: String, style: Style| NodeValue::Scalar(Scalar { text, style });
        let value = match value {
            Value::Null => scalar("null".to_string(), Style::Plain),
            Value::Bool(flag) => scalar(flag.to_string(), Style::Plain),
            Value::Number(number) => scalar(number.to_string(), Style::Plain),
            Value::String(text) => scalar(text.clone(), Style::DoubleQuoted),
            Value::Array(items) => NodeValue::Sequence(
                items
                    .iter()
                    .map(|item| Node::from_json(item, span))
                    .collect(),
            ),
            Value::Object(entries) => NodeValue::Mapping(
                entries
                    .iter()
                    .map(|(key, item)| {
                        let key = Node {
                            value: scalar(key.clone(), Style::Plain),
                            span,
                        };
                        (key, Node::from_json(item, span))
                    })
                    .collect(),
            ),
        };
        Node { value, span }
    }
}

/// Types a scalar as the YAML 1.2 core schema does for plain scalars.
pub fn scalar_to_json(scalar: &Scalar) -> serde_json::Value {
    use serde_json::Value;
    if scalar.style != Style::Plain {
        return Value::String(scalar.text.clone());
    }
    let text = scalar.text.as_str();
    // Text that starts with a letter other than the first letters of
    // `null`, `true` and `false` is neither null, a boolean nor a number,
    // so such text skips the comparisons and number parses below.
    if text.as_bytes().first().is_some_and(|first| {
        first.is_ascii_alphabetic() && !matches!(first, b'n' | b'N' | b't' | b'T' | b'f' | b'F')
    }) {
        return Value::String(text.to_string());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(integer) = text.parse::<i64>() {
        return Value::from(integer);
    }
    let looks_numeric = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.'))
        && text.chars().any(|c| c.is_ascii_digit())
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'));
    if looks_numeric
        && let Ok(float) = text.parse::<f64>()
        && let Some(number) = serde_json::Number::from_f64(float)
    {
        return Value::Number(number);
    }
    Value::String(text.to_string())
}

/// Maps saphyr's character offsets to byte offsets of the source.
struct Offsets {
    /// Byte offset of each character, plus the source length at the end;
    /// empty for ASCII sources, where the two are equal.
    bytes: Vec<usize>,
    len: usize,
}

impl Offsets {
    fn new(source: &str) -> Self {
        let bytes = if source.is_ascii() {
            Vec::new()
        } else {
            source
                .char_indices()
                .map(|(i, _)| i)
                .chain(std::iter::once(source.len()))
                .collect()
        };
        Offsets {
            bytes,
            len: source.len(),
        }
    }

    fn byte(&self, char_index: usize) -> usize {
        if self.bytes.is_empty() {
            char_index.min(self.len)
        } else {
            self.bytes.get(char_index).copied().unwrap_or(self.len)
        }
    }
}

/// An open collection. Its finished children wait on the builder's
/// `items` or `entries` stack from index `first` on. When the collection
/// ends, they move into a vector of their exact length, so no collection's
/// vector grows while it is read.
enum Frame {
    Sequence {
        first: usize,
        start: Marker,
        anchor: usize,
    },
    Mapping {
        first: usize,
        pending_key: Option<Node>,
        /// Entry index by key text, built once the mapping passes
        /// [`INDEXED_KEYS`] entries, so that finding duplicate keys stays
        /// linear in the mapping's size.
        index: Option<std::collections::HashMap<String, usize>>,
        start: Marker,
        anchor: usize,
    },
}

/// Number of entries up to which a mapping finds duplicate keys by
/// comparing each new key with every earlier one.
const INDEXED_KEYS: usize = 16;

/// Returns the earlier entry whose key has the text `text`.
fn find_key<'e>(
    entries: &'e [(Node, Node)],
    index: &mut Option<std::collections::HashMap<String, usize>>,
    text: &str,
) -> Option<&'e Node> {
    if entries.len() < INDEXED_KEYS {
        return entries
            .iter()
            .find(|(key, _)| key.as_str() == Some(text))
            .map(|(key, _)| key);
    }
    let index = index.get_or_insert_with(|| {
        let mut index = std::collections::HashMap::with_capacity(entries.len() * 2);
        for (position, (key, _)) in entries.iter().enumerate() {
            if let Some(key) = key.as_str() {
                index.entry(key.to_string()).or_insert(position);
            }
        }
        index
    });
    index.get(text).map(|&position| &entries[position].0)
}

struct Builder<'s> {
    source: &'s str,
    offsets: Offsets,
    limits: Limits,
    stack: Vec<Frame>,
    /// Finished items of the open sequences, innermost last.
    items: Vec<Node>,
    /// Finished entries of the open mappings, innermost last.
    entries: Vec<(Node, Node)>,
    anchors: std::collections::HashMap<usize, Node>,
    node_count: usize,
    root: Option<Node>,
    /// The first plain `<<` key, a merge key that Harness does not apply.
    merge_key: Option<Span>,
    /// An error for each of the first `MAX_DUPLICATE_KEYS` keys that repeat
    /// a key of their mapping. The entry of a repeated key is dropped.
    duplicate_keys: Vec<Diagnostic>,
    /// Number of further keys that repeated a key.
    more_duplicate_keys: usize,
}

/// Maximum number of duplicate keys that get an error of their own. A file
/// of repeated keys would otherwise build millions of errors.
pub const MAX_DUPLICATE_KEYS: usize = 100;

fn count_nodes(node: &Node) -> usize {
    match &node.value {
        NodeValue::Scalar(_) => 1,
        NodeValue::Sequence(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        NodeValue::Mapping(entries) => {
            1 + entries
                .iter()
                .map(|(key, value)| count_nodes(key) + count_nodes(value))
                .sum::<usize>()
        }
    }
}

impl Builder<'_> {
    /// Converts saphyr's markers (character index, 1-based line, 0-based
    /// column) into a span without rescanning the source, which keeps
    /// loading linear in the file size.
    fn span(&self, start: Marker, end: Marker) -> Span {
        let end = if end.index() < start.index() {
            start
        } else {
            end
        };
        Span {
            byte_start: self.offsets.byte(start.index()),
            byte_end: self.offsets.byte(end.index()),
            line: start.line(),
            column: start.col() + 1,
            end_line: end.line(),
            end_column: end.col() + 1,
        }
    }

    fn error_at(&self, char_index: usize, code: &str, message: String) -> Diagnostic {
        let start = self.offsets.byte(char_index);
        let end = self.source[start..]
            .chars()
            .next()
            .map_or(start, |c| start + c.len_utf8());
        Diagnostic::error(
            code,
            message,
            Span::from_byte_range(self.source, start, end),
        )
    }

    fn count(&mut self, added: usize, at: usize) -> Result<(), Diagnostic> {
        self.node_count += added;
        if self.node_count > self.limits.max_nodes {
            return Err(self
                .error_at(
                    at,
                    "yaml-too-large",
                    format!(
                        "the document expands to more than {} nodes",
                        self.limits.max_nodes
                    ),
                )
                .with_help(
                    "aliases (`*name`) copy their anchor's content; remove deeply repeated aliases",
                ));
        }
        Ok(())
    }

    /// Adds a finished node to the enclosing collection (or makes it the root).
    fn push(&mut self, node: Node, anchor: usize) -> Result<(), Diagnostic> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Sequence { .. }) => self.items.push(node),
            Some(Frame::Mapping {
                first,
                pending_key,
                index,
                ..
            }) => {
                match pending_key.take() {
                    None => {
                        if self.merge_key.is_none()
                            && let NodeValue::Scalar(Scalar {
                                text,
                                style: Style::Plain,
                            }) = &node.value
                            && text == "<<"
                        {
                            self.merge_key = Some(node.span);
                        }
                        *pending_key = Some(node);
                    }
                    Some(key) => {
                        let entries = &self.entries[*first..];
                        if let Some(text) = key.as_str()
                            && let Some(first) = find_key(entries, index, text)
                        {
                            // Loading goes on, so that the other rules still
                            // check the file. The first entry is kept.
                            if self.duplicate_keys.len() < MAX_DUPLICATE_KEYS {
                                let diagnostic = Diagnostic::error("duplicate-key", format!("duplicate key `{text}`"), key.span)
                                .with_label(first.span, "first defined here")
                                .with_help("remove one of the two entries; YAML keys are unique within a mapping");
                                self.duplicate_keys.push(diagnostic);
                            } else {
                                self.more_duplicate_keys += 1;
                            }
                            return Ok(());
                        }
                        if let (Some(index), Some(text)) = (index.as_mut(), key.as_str()) {
                            index.insert(text.to_string(), entries.len());
                        }
                        self.entries.push((key, node));
                    }
                }
            }
        }
        Ok(())
    }

    fn open(&mut self, frame: Frame, at: usize) -> Result<(), Diagnostic> {
        if self.stack.len() >= self.limits.max_depth {
            return Err(self
                .error_at(
                    at,
                    "yaml-too-deep",
                    format!(
                        "the document nests more than {} levels deep",
                        self.limits.max_depth
                    ),
                )
                .with_help("flatten the structure; Harness pipelines nest far less"));
        }
        self.count(1, at)?;
        self.stack.push(frame);
        Ok(())
    }

    fn handle(&mut self, event: Event<'_>, span: saphyr_parser::Span) -> Result<(), Diagnostic> {
        let start = span.start;
        let end = span.end;
        match event {
            Event::Scalar(text, style, anchor, _tag) => {
                self.count(1, start.index())?;
                let style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::SingleQuoted => Style::SingleQuoted,
                    ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                    ScalarStyle::Literal => Style::Literal,
                    ScalarStyle::Folded => Style::Folded,
                };
                let node = Node {
                    value: NodeValue::Scalar(Scalar {
                        text: text.into_owned(),
                        style,
                    }),
                    span: self.span(start, end),
                };
                self.push(node, anchor)
            }
            Event::SequenceStart(anchor, _) => self.open(
                Frame::Sequence {
                    first: self.items.len(),
                    start,
                    anchor,
                },
                start.index(),
            ),
            Event::MappingStart(anchor, _) => self.open(
                Frame::Mapping {
                    first: self.entries.len(),
                    pending_key: None,
                    index: None,
                    start,
                    anchor,
                },
                start.index(),
            ),
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return Ok(());
                };
                let (value, frame_start, anchor) = match frame {
                    Frame::Sequence {
                        first,
                        start,
                        anchor,
                    } => {
                        let items = self.items.split_off(first);
                        (NodeValue::Sequence(items), start, anchor)
                    }
                    Frame::Mapping {
                        first,
                        start,
                        anchor,
                        ..
                    } => {
                        let entries = self.entries.split_off(first);
                        (NodeValue::Mapping(entries), start, anchor)
                    }
                };
                let mut node = Node {
                    value,
                    span: self.span(frame_start, end),
                };
                // Block collections end where their last child ends.
                let last_end = match &node.value {
                    NodeValue::Sequence(items) => items.last().map(|n| n.span),
                    NodeValue::Mapping(entries) => entries.last().map(|(_, v)| v.span),
                    NodeValue::Scalar(_) => None,
                };
                if let Some(last) = last_end
                    && last.byte_end > node.span.byte_end
                {
                    node.span = Span {
                        byte_end: last.byte_end,
                        end_line: last.end_line,
                        end_column: last.end_column,
                        ..node.span
                    };
                }
                self.push(node, anchor)
            }
            Event::Alias(anchor) => {
                let Some(target) = self.anchors.get(&anchor).cloned() else {
                    return Err(self.error_at(
                        start.index(),
                        "yaml-syntax",
                        "unknown alias".to_string(),
                    ));
                };
                self.count(count_nodes(&target), start.index())?;
                let node = Node {
                    span: self.span(start, end),
                    ..target
                };
                self.push(node, 0)
            }
            Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd
            | Event::Nothing => Ok(()),
        }
    }
}

fn scan_error(source: &str, offsets: &Offsets, error: &ScanError) -> Diagnostic {
    let start = offsets.byte(error.marker().index());
    let end = source[start..]
        .chars()
        .next()
        .map_or(start, |c| start + c.len_utf8());
    let mut message = error.info().to_string();
    if let Some(first) = message.get(..1) {
        message = first.to_lowercase() + &message[1..];
    }
    // saphyr's scanner counts open flow collections (`[[[…`) itself, and
    // can fail on them before the loader's depth limit is reached.
    if error.info().contains("recursion limit") {
        return Diagnostic::error(
            "yaml-too-deep",
            format!("the document nests too deep for the YAML reader ({message})"),
            Span::from_byte_range(source, start, end),
        )
        .with_help("flatten the structure; Harness pipelines nest far less");
    }
    let mut diagnostic = Diagnostic::error(
        "yaml-syntax",
        format!("invalid YAML: {message}"),
        Span::from_byte_range(source, start, end),
    );
    if error.info().contains("alias") || error.info().contains("anchor") {
        diagnostic = diagnostic
            .with_help("a value starting with `*` or `&` is read as an alias or anchor; quote it");
    } else {
        diagnostic = diagnostic.with_help("check the indentation and quoting near this position");
    }
    diagnostic
}

/// Parses the first YAML document of `source` into a node tree. Returns
/// `Ok(None)` for a document with no content. Parsing stops at the first
/// syntax error or exceeded limit, and the first duplicate key is the error
/// too.
pub fn load(source: &str, limits: Limits) -> Result<Option<Node>, Diagnostic> {
    let mut loaded = load_first(source, limits)?;
    if !loaded.duplicate_keys.is_empty() {
        return Err(loaded.duplicate_keys.swap_remove(0));
    }
    Ok(loaded.root)
}

/// The first document of a YAML stream, and where a second one with
/// content starts.
pub struct FirstDocument {
    pub root: Option<Node>,
    /// The `---` of the second document, which the loader does not read.
    pub next_document: Option<Span>,
    /// The first `<<` merge key, which the loader keeps as a plain key.
    pub merge_key: Option<Span>,
    /// An error for each key that repeats a key of its mapping, at most
    /// [`MAX_DUPLICATE_KEYS`]. `root` keeps the first entry of each key.
    pub duplicate_keys: Vec<Diagnostic>,
    /// Number of further keys that repeated a key of their mapping.
    pub more_duplicate_keys: usize,
}

/// Parses the first YAML document of `source` like [`load`], and also
/// finds whether another document with content follows it.
pub fn load_first(source: &str, limits: Limits) -> Result<FirstDocument, Diagnostic> {
    if source.len() > limits.max_bytes {
        return Err(Diagnostic::error(
            "yaml-too-large",
            format!(
                "the file is {} bytes, more than the limit of {} bytes",
                source.len(),
                limits.max_bytes
            ),
            Span::from_byte_range(source, 0, 0),
        ));
    }
    let mut builder = Builder {
        source,
        offsets: Offsets::new(source),
        limits,
        stack: Vec::new(),
        items: Vec::new(),
        entries: Vec::new(),
        anchors: std::collections::HashMap::new(),
        node_count: 0,
        root: None,
        merge_key: None,
        duplicate_keys: Vec::new(),
        more_duplicate_keys: 0,
    };
    let mut parser = Parser::new(SourceInput::new(source));
    let mut documents = 0;
    let mut next_document = None;
    while let Some(result) = parser.next_event() {
        let (event, span) = result.map_err(|error| scan_error(source, &builder.offsets, &error))?;
        if matches!(event, Event::DocumentStart(_)) {
            documents += 1;
            if documents > 1 {
                // A second document counts only when it has content: a
                // trailing `---` or an empty document is harmless.
                let content = match parser.next_event() {
                    Some(Ok((Event::Scalar(text, style, ..), _))) => {
                        style != ScalarStyle::Plain || !text.is_empty()
                    }
                    Some(Ok((event, _))) => matches!(
                        event,
                        Event::SequenceStart(..) | Event::MappingStart(..) | Event::Alias(..)
                    ),
                    // A syntax error in the second document shows it is
                    // there as well.
                    Some(Err(_)) => true,
                    None => false,
                };
                if content {
                    next_document = Some(builder.span(span.start, span.end));
                }
                break;
            }
        }
        builder.handle(event, span)?;
    }
    Ok(FirstDocument {
        root: builder.root,
        next_document,
        merge_key: builder.merge_key,
        duplicate_keys: builder.duplicate_keys,
        more_duplicate_keys: builder.more_duplicate_keys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_ok(source: &str) -> Node {
        load(source, Limits::default()).unwrap().unwrap()
    }

    #[test]
    fn yaml_first_plain_merge_key_found() {
        let loaded = load_first(
            "a: &x {b: 1}\nc:\n  '<<': 1\nd:\n  <<: *x\ne:\n  <<: *x\n",
            Limits::default(),
        )
        .unwrap();
        let span = loaded.merge_key.expect("a merge key");
        assert_eq!((span.line, span.column), (5, 3));

        let quoted = load_first("c:\n  '<<': 1\n", Limits::default()).unwrap();
        assert_eq!(quoted.merge_key, None);
    }

    #[test]
    fn yaml_keeps_numeric_keys_as_text() {
        let root = load_ok("portBindings:\n  8080: 80\n  \"9090\": \"9090\"\n");
        let bindings = root.get("portBindings").unwrap();
        let keys: Vec<&str> = bindings
            .as_mapping()
            .unwrap()
            .iter()
            .map(|(k, _)| k.as_str().unwrap())
            .collect();
        assert_eq!(keys, ["8080", "9090"]);
    }

    #[test]
    fn yaml_quoted_list_stays_string() {
        let root = load_ok("env:\n  A: \"[1,2]\"\n  B: 2002-12-14\n");
        assert_eq!(
            root.get("env").unwrap().to_json(),
            serde_json::json!({"A": "[1,2]", "B": "2002-12-14"})
        );
    }

    #[test]
    fn yaml_spans_point_at_values() {
        let source = "a:\n  b: héllo\n";
        let root = load_ok(source);
        let b = root.get("a").unwrap().get("b").unwrap();
        assert_eq!((b.span.line, b.span.column), (2, 6));
        assert_eq!(&source[b.span.byte_start..b.span.byte_end], "héllo");
    }

    #[test]
    fn yaml_alias_bomb_rejected() {
        let mut source = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let prev = i - 1;
            source.push_str(&format!("a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"));
        }
        let error = load(&source, Limits::default()).unwrap_err();
        assert_eq!(error.code, "yaml-too-large");
    }

    #[test]
    fn yaml_depth_limited() {
        let source = "[".repeat(100) + &"]".repeat(100);
        let error = load(&source, Limits::default()).unwrap_err();
        assert_eq!(error.code, "yaml-too-deep");
    }

    #[test]
    fn yaml_deep_flow_list_reported_as_too_deep() {
        let source = "[".repeat(100_000) + &"]".repeat(100_000);
        let error = load(&source, Limits::default()).unwrap_err();
        assert_eq!(error.code, "yaml-too-deep", "{}", error.message);
    }

    #[test]
    fn yaml_size_limited() {
        let limits = Limits {
            max_bytes: 10,
            ..Limits::default()
        };
        assert_eq!(
            load("a: 12345678901", limits).unwrap_err().code,
            "yaml-too-large"
        );
    }

    #[test]
    fn yaml_unquoted_star_default_reports_alias() {
        let error = load("a: *default\n", Limits::default()).unwrap_err();
        assert_eq!(error.code, "yaml-syntax");
        assert!(error.help.unwrap().contains("quote"), "help names the fix");
    }

    #[test]
    fn yaml_duplicate_key_reported() {
        let error = load("a: 1\na: 2\n", Limits::default()).unwrap_err();
        assert_eq!(error.code, "duplicate-key");
        assert_eq!(error.span.line, 2);
    }

    #[test]
    fn yaml_every_duplicate_key_listed() {
        let loaded = load_first("a: 1\na: 2\nb:\n  c: 3\n  c: 4\n", Limits::default()).unwrap();
        let lines: Vec<usize> = loaded.duplicate_keys.iter().map(|d| d.span.line).collect();
        assert_eq!(lines, [2, 5]);
        let root = loaded.root.unwrap();
        assert_eq!(root.get("a").unwrap().as_str(), Some("1"));
        assert_eq!(root.get("b").unwrap().as_mapping().unwrap().len(), 1);
    }

    #[test]
    fn yaml_duplicate_keys_capped() {
        let source: String = std::iter::once("a: 0\n".to_string())
            .chain((0..MAX_DUPLICATE_KEYS + 5).map(|i| format!("a: {i}\n")))
            .collect();
        let loaded = load_first(&source, Limits::default()).unwrap();
        assert_eq!(loaded.duplicate_keys.len(), MAX_DUPLICATE_KEYS);
        assert_eq!(loaded.more_duplicate_keys, 5);
    }

    #[test]
    fn yaml_duplicate_key_in_large_mapping() {
        let mut source: String = (0..40).map(|i| format!("k{i}: {i}\n")).collect();
        source.push_str("k7: again\n");
        let error = load(&source, Limits::default()).unwrap_err();
        assert_eq!(error.code, "duplicate-key");
        assert_eq!(error.message, "duplicate key `k7`");
        assert_eq!(error.span.line, 41);
        assert_eq!(error.labels[0].span.line, 8);
    }

    #[test]
    fn yaml_second_document_found() {
        let loaded = load_first("a: 1\n---\nb: 2\n", Limits::default()).unwrap();
        assert_eq!(loaded.root.unwrap().get("a").unwrap().as_str(), Some("1"));
        assert_eq!(loaded.next_document.map(|span| span.line), Some(2));
    }

    #[test]
    fn yaml_empty_second_document_ignored() {
        for source in ["a: 1\n---\n", "a: 1\n---\n...\n", "a: 1\n--- # comment\n"] {
            let loaded = load_first(source, Limits::default()).unwrap();
            assert!(loaded.next_document.is_none(), "{source:?}");
        }
    }
}
