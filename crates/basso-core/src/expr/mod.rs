//! The owned syntax tree of one JEXL expression, and its parser.
//!
//! [`parser`] turns expression text into an [`Expr`] with the pest grammar in
//! `grammar/jexl.pest`; pest's pairs stay inside that module. Spans are byte
//! ranges in the template text the expression came from.

use std::fmt::Write as _;
use std::ops::Range;

use crate::value::Value;

mod fast_path;
pub(crate) mod parser;

/// One expression node with its byte range in the template text.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Range<usize>,
}

/// The kinds of expression nodes.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Literal(Value),
    List(Vec<Expr>),
    Map(Vec<(Expr, Expr)>),
    /// The value of the n-th inner `<+…>` block of the enclosing block.
    Slot(usize),
    Path(Path),
    /// Prefix operators, applied right to left (the last one first).
    Unary {
        ops: Vec<(UnaryOp, usize)>,
        operand: Box<Expr>,
    },
    /// Operators of one precedence level, applied left to right. Keeping a
    /// chain flat keeps the tree shallow however long the chain is.
    Binary {
        first: Box<Expr>,
        rest: Vec<(BinaryOp, Range<usize>, Expr)>,
    },
    Ternary {
        condition: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    /// `value ?: fallback`.
    Elvis {
        value: Box<Expr>,
        fallback: Box<Expr>,
    },
    /// Member access, indexing and method calls on a computed value.
    Postfix {
        base: Box<Expr>,
        ops: Vec<PostfixOp>,
    },
    /// `size(x)`.
    Size(Box<Expr>),
    /// A call to a built-in functor: `json.select(...)`, `secrets.getValue(...)`.
    Builtin {
        function: Builtin,
        args: Vec<Expr>,
    },
}

/// A prefix operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Not,
    Negate,
    Empty,
}

/// A binary operator, named after JEXL's operator names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `=~`: regex full match, or membership in a list or map.
    Match,
    /// `!~`.
    NotMatch,
    /// `=^`.
    StartsWith,
    /// `!^`.
    NotStartsWith,
    /// `=$`.
    EndsWith,
    /// `!$`.
    NotEndsWith,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

impl BinaryOp {
    /// Returns the operator's JEXL symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "||",
            BinaryOp::And => "&&",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Match => "=~",
            BinaryOp::NotMatch => "!~",
            BinaryOp::StartsWith => "=^",
            BinaryOp::NotStartsWith => "!^",
            BinaryOp::EndsWith => "=$",
            BinaryOp::NotEndsWith => "!$",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
        }
    }
}

/// A postfix operation on a computed value.
#[derive(Debug, Clone, PartialEq)]
pub enum PostfixOp {
    Member {
        name: String,
        span: Range<usize>,
    },
    Index {
        index: Expr,
        span: Range<usize>,
    },
    Method {
        name: String,
        args: Vec<Expr>,
        span: Range<usize>,
    },
}

/// The built-in functors Harness registers for CI expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    SecretsGetValue,
    JsonSelect,
    JsonList,
    JsonObject,
    JsonFormat,
    RegexExtract,
    RegexReplace,
    RegexMatch,
}

impl Builtin {
    /// Looks up `root.method`, such as `json.select`.
    pub fn from_names(root: &str, method: &str) -> Option<Builtin> {
        Some(match (root, method) {
            ("secrets", "getValue") => Builtin::SecretsGetValue,
            ("json", "select") => Builtin::JsonSelect,
            ("json", "list") => Builtin::JsonList,
            ("json", "object") => Builtin::JsonObject,
            ("json", "format") => Builtin::JsonFormat,
            ("regex", "extract") => Builtin::RegexExtract,
            ("regex", "replace") => Builtin::RegexReplace,
            ("regex", "match") => Builtin::RegexMatch,
            _ => return None,
        })
    }

    /// Returns the dotted name, such as `json.select`.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::SecretsGetValue => "secrets.getValue",
            Builtin::JsonSelect => "json.select",
            Builtin::JsonList => "json.list",
            Builtin::JsonObject => "json.object",
            Builtin::JsonFormat => "json.format",
            Builtin::RegexExtract => "regex.extract",
            Builtin::RegexReplace => "regex.replace",
            Builtin::RegexMatch => "regex.match",
        }
    }
}

/// A reference into the context: a root name followed by segments.
#[derive(Debug, Clone, PartialEq)]
pub enum Path {
    /// Every segment is known before evaluation.
    Fixed {
        segments: Vec<PathSegment>,
        /// The same path under its alias (`steps.x` for `execution.steps.x`
        /// and back, `stages.x` for `pipeline.stages.x` and back), when it
        /// has one.
        alias: Option<Vec<PathSegment>>,
    },
    /// At least one segment is an inner block's value or a computed index.
    Computed(Vec<PathPart>),
}

impl Path {
    /// Builds a path of known segments, with its alias.
    pub fn fixed(segments: Vec<PathSegment>) -> Path {
        let alias = alias_of(&segments);
        Path::Fixed { segments, alias }
    }

    /// Builds a path from its parts as written, [`Path::Fixed`] when every
    /// part is fixed and [`Path::Computed`] otherwise.
    pub fn from_parts(parts: Vec<PathPart>) -> Path {
        if !parts.iter().all(|part| matches!(part, PathPart::Fixed(_))) {
            return Path::Computed(parts);
        }
        let segments = parts
            .into_iter()
            .map(|part| match part {
                PathPart::Fixed(segment) => segment,
                PathPart::Slot(_) | PathPart::Computed(_) => unreachable!("checked above"),
            })
            .collect();
        Path::fixed(segments)
    }
}

/// One segment of a [`Path`] as written.
#[derive(Debug, Clone, PartialEq)]
pub enum PathPart {
    Fixed(PathSegment),
    /// `.<+x>`: the name is the value of an inner block.
    Slot(usize),
    /// `[expr]` with a computed key or index.
    Computed(Expr),
}

/// One step of a context lookup.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathSegment {
    /// A map key (or a list index written as a name, `list.0`).
    Key(String),
    /// A list index (or a map key written as a number, `map[0]`).
    Index(i64),
}

impl PathSegment {
    /// Returns the segment as a map key.
    pub fn as_key(&self) -> std::borrow::Cow<'_, str> {
        match self {
            PathSegment::Key(k) => std::borrow::Cow::Borrowed(k),
            PathSegment::Index(i) => std::borrow::Cow::Owned(i.to_string()),
        }
    }
}

/// Formats segments as a dotted path: names as `.name`, other keys as
/// `["key"]`, indexes as `[0]`.
pub fn dotted(segments: &[PathSegment]) -> String {
    // Plain keys and their dots fill the whole text in the common case, so
    // the string is allocated once.
    let plain_len: usize = segments
        .iter()
        .map(|segment| match segment {
            PathSegment::Key(k) => k.len() + 1,
            PathSegment::Index(_) => 4,
        })
        .sum();
    let mut out = String::with_capacity(plain_len);
    for (i, segment) in segments.iter().enumerate() {
        match segment {
            PathSegment::Key(k) if is_plain_name(k) || k == "*" => {
                if i > 0 {
                    out.push('.');
                }
                out.push_str(k);
            }
            PathSegment::Key(k) => {
                let _ = write!(out, "[{}]", serde_json::Value::String(k.clone()));
            }
            PathSegment::Index(n) => {
                let _ = write!(out, "[{n}]");
            }
        }
    }
    out
}

fn is_plain_name(text: &str) -> bool {
    // Testing bytes gives the same result as testing chars, because every
    // byte of a non-ASCII character fails both tests, and skips decoding.
    // One table look-up per byte replaces the range tests.
    let mut bytes = text.bytes();
    matches!(bytes.next(), Some(b) if !b.is_ascii_digit() && NAME_BYTES[usize::from(b)])
        && bytes.all(|b| NAME_BYTES[usize::from(b)])
}

/// A flag per byte value, set for the bytes a plain name may contain:
/// ASCII letters, digits, `_` and `$`.
pub(crate) static NAME_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric() || b == b'_' || b == b'$';
        byte += 1;
    }
    table
};

/// Returns the aliased form of a path: `steps.…` and `execution.steps.…`
/// name the same thing, as do `stages.…` and `pipeline.stages.…`.
pub fn alias_of(segments: &[PathSegment]) -> Option<Vec<PathSegment>> {
    let key = |i: usize| match segments.get(i) {
        Some(PathSegment::Key(k)) => Some(k.as_str()),
        _ => None,
    };
    let prefixed = |prefix: &str| {
        let mut out = Vec::with_capacity(segments.len() + 1);
        out.push(PathSegment::Key(prefix.to_string()));
        out.extend_from_slice(segments);
        out
    };
    match (key(0), key(1)) {
        (Some("steps"), _) => Some(prefixed("execution")),
        (Some("stages"), _) => Some(prefixed("pipeline")),
        (Some("execution"), Some("steps")) | (Some("pipeline"), Some("stages")) => {
            Some(segments[1..].to_vec())
        }
        _ => None,
    }
}

/// Returns [`canonical`] of `segments`, given `alias`, which must be
/// [`alias_of`] of `segments`, as the `alias` of a [`Path::Fixed`] is.
/// The alias of a `steps.…` or `stages.…` path is its canonical form, so it
/// is borrowed instead of built again.
pub(crate) fn canonical_with_alias<'s>(
    segments: &'s [PathSegment],
    alias: Option<&'s [PathSegment]>,
) -> std::borrow::Cow<'s, [PathSegment]> {
    match (segments.first(), alias) {
        (Some(PathSegment::Key(k)), Some(alias)) if k == "steps" || k == "stages" => {
            std::borrow::Cow::Borrowed(alias)
        }
        _ => canonical(segments),
    }
}

/// Returns `written`, a reference as a file writes it, when it is the short
/// form of the canonical path `canonical`: `steps.a.status` for
/// `execution.steps.a.status`, `stages.s.status` for `pipeline.stages.s.status`.
pub(crate) fn short_form<'w>(canonical: &str, written: &'w str) -> Option<&'w str> {
    ["execution.", "pipeline."]
        .iter()
        .any(|prefix| canonical.strip_prefix(prefix) == Some(written))
        .then_some(written)
}

/// Returns the canonical form reported by `references()`: `execution.steps.…`
/// and `pipeline.stages.…` rather than the short aliases.
pub fn canonical(segments: &[PathSegment]) -> std::borrow::Cow<'_, [PathSegment]> {
    match segments.first() {
        Some(PathSegment::Key(k)) if k == "steps" || k == "stages" => {
            std::borrow::Cow::Owned(alias_of(segments).unwrap_or_default())
        }
        _ => std::borrow::Cow::Borrowed(segments),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_name_matches_char_tests() {
        let reference = |text: &str| {
            let mut chars = text.chars();
            matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        };
        let mut texts: Vec<String> = vec![String::new(), "é".into(), "aé".into(), "a-b".into()];
        for first in (0u8..128).map(char::from) {
            texts.push(first.to_string());
            texts.push(format!("{first}a"));
            texts.push(format!("a{first}"));
        }
        for text in &texts {
            assert_eq!(is_plain_name(text), reference(text), "{text:?}");
        }
    }

    fn key(name: &str) -> PathSegment {
        PathSegment::Key(name.to_string())
    }

    #[test]
    fn path_of_fixed_parts_is_fixed() {
        let parts = vec![
            PathPart::Fixed(key("steps")),
            PathPart::Fixed(key("build")),
            PathPart::Fixed(PathSegment::Index(0)),
        ];
        let Path::Fixed { segments, alias } = Path::from_parts(parts) else {
            panic!("every part is fixed");
        };
        let index = PathSegment::Index(0);
        assert_eq!(segments, [key("steps"), key("build"), index.clone()]);
        let expected = [key("execution"), key("steps"), key("build"), index];
        assert_eq!(alias.as_deref(), Some(&expected[..]));
    }

    #[test]
    fn path_without_alias_has_none() {
        let path = Path::fixed(vec![key("pipeline"), key("variables"), key("tag")]);
        assert_eq!(
            path,
            Path::Fixed {
                segments: vec![key("pipeline"), key("variables"), key("tag")],
                alias: None,
            }
        );
    }

    #[test]
    fn path_with_slot_is_computed() {
        let parts = vec![PathPart::Fixed(key("pipeline")), PathPart::Slot(0)];
        assert_eq!(Path::from_parts(parts.clone()), Path::Computed(parts));
    }
}
