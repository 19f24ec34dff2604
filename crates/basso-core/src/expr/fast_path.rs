//! A parser without pest for the block contents most pipelines are made
//! of: a dotted path such as `pipeline.variables.tag` and a built-in call
//! with one plain string argument such as `secrets.getValue("token")`.
//!
//! pest spends tens of thousands of instructions on such a path, because
//! every operand descends through each precedence level of the grammar.
//! [`parse_simple`] recognises a strict subset of `grammar/jexl.pest`
//! and builds the same [`Expr`] as pest and the builder in `parser.rs`,
//! spans included. For any other text it returns `None` and pest parses
//! it, so the grammar stays the definition. The tests below compare both
//! on generated inputs.

use std::ops::Range;

use super::parser::{ParseInput, member_segment};
use super::{Builtin, Expr, ExprKind, Path, PathSegment};
use crate::value::Value;

/// The grammar's `keyword` alternatives in grammar order. The order
/// matters because a PEG choice commits to its first matching alternative:
/// `new` starts with `ne`, whose `word_end` then fails, so `new` is no
/// keyword.
#[cfg(test)]
const KEYWORDS: [&str; 28] = [
    "or", "and", "eq", "ne", "lt", "gt", "le", "ge", "div", "mod", "not", "null", "true", "false",
    "empty", "size", "new", "var", "function", "return", "if", "else", "for", "while", "do",
    "continue", "break", "in",
];

/// Returns true when the grammar's `keyword` rule matches `name`, a whole
/// name with no name character after it: every word of [`KEYWORDS`] except
/// `new`, which `ne` shadows. A `match` compares lengths first, so most
/// names cost one comparison instead of one prefix test per keyword.
fn is_keyword(name: &str) -> bool {
    matches!(
        name,
        "or" | "and"
            | "eq"
            | "ne"
            | "lt"
            | "gt"
            | "le"
            | "ge"
            | "div"
            | "mod"
            | "not"
            | "null"
            | "true"
            | "false"
            | "empty"
            | "size"
            | "var"
            | "function"
            | "return"
            | "if"
            | "else"
            | "for"
            | "while"
            | "do"
            | "continue"
            | "break"
            | "in"
    )
}

/// Returns true for the bytes of the grammar's `WHITESPACE` rule.
fn is_blank(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_name_start(byte: u8) -> bool {
    byte.is_ascii_alphabetic() || byte == b'_' || byte == b'$'
}

fn is_name_char(byte: u8) -> bool {
    // ASCII letters, digits, `_` and `$`, looked up in one table.
    super::NAME_BYTES[usize::from(byte)]
}

/// A cursor over the expression text.
struct Cursor<'t> {
    bytes: &'t [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn take_while(&mut self, accept: fn(u8) -> bool) -> Range<usize> {
        let start = self.at;
        while self.peek().is_some_and(accept) {
            self.at += 1;
        }
        start..self.at
    }
}

/// Parses `input` when it is a dotted path or a one-string built-in call;
/// see the module documentation.
pub(crate) fn parse_simple(input: &ParseInput<'_>) -> Option<Expr> {
    let text = input.text;
    let end = text.len() - text.bytes().rev().take_while(|b| is_blank(*b)).count();
    let mut cursor = Cursor {
        bytes: &text.as_bytes()[..end],
        at: 0,
    };
    cursor.take_while(is_blank);

    if !cursor.peek().is_some_and(is_name_start) {
        return None;
    }
    let root = cursor.take_while(is_name_char);
    if is_keyword(&text[root.clone()]) {
        return None;
    }
    let root_span = input.offsets.source_range(root.clone());

    // Each `.` starts at most one more segment.
    let dots = cursor.bytes[cursor.at..]
        .iter()
        .filter(|&&byte| byte == b'.')
        .count();
    let mut segments = Vec::with_capacity(dots + 1);
    segments.push(PathSegment::Key(text[root].to_string()));
    let mut path_end = root_span.end;
    // Only the last operation's end is the path's end, so its source range
    // is mapped once, after the loop.
    let mut last_operation = None;
    while cursor.peek().is_some() {
        let dot = cursor.at;
        if cursor.peek() != Some(b'.') {
            return None;
        }
        cursor.at += 1;
        let (name, digits) = match cursor.peek() {
            Some(byte) if is_name_start(byte) => (cursor.take_while(is_name_char), false),
            Some(byte) if byte.is_ascii_digit() => {
                (cursor.take_while(|b| b.is_ascii_digit()), true)
            }
            _ => return None,
        };
        if cursor.peek() == Some(b'(') {
            // A call is simple only as the first operation, so that the
            // root and the method name a built-in.
            if segments.len() != 1 {
                return None;
            }
            let root = match &segments[0] {
                PathSegment::Key(root) => root.as_str(),
                _ => unreachable!("the root is a key"),
            };
            return builtin_call(input, &mut cursor, root, root_span, dot, name);
        }
        last_operation = Some(dot..name.end);
        // Only digits can make an index, so a name is a key without the
        // number parse that `member_segment` tries first.
        let segment = if digits {
            member_segment(&text[name])
        } else {
            PathSegment::Key(text[name].to_string())
        };
        segments.push(segment);
    }
    if let Some(operation) = last_operation {
        path_end = input.offsets.source_range(operation).end;
    }

    Some(Expr {
        kind: ExprKind::Path(Path::fixed(segments)),
        span: root_span.start..path_end,
    })
}

/// Parses `("text")` or `('text')` after a built-in's name, up to the end
/// of the expression. A string with a backslash is left to pest, whose
/// builder decodes escapes.
fn builtin_call(
    input: &ParseInput<'_>,
    cursor: &mut Cursor<'_>,
    root: &str,
    root_span: Range<usize>,
    dot: usize,
    method: Range<usize>,
) -> Option<Expr> {
    let text = input.text;
    let function = Builtin::from_names(root, &text[method])?;

    cursor.at += 1;
    let quote = cursor.peek().filter(|q| *q == b'"' || *q == b'\'')?;
    let string_start = cursor.at;
    cursor.at += 1;
    let body = cursor.at;
    while cursor.peek()? != quote {
        if cursor.peek() == Some(b'\\') {
            return None;
        }
        cursor.at += 1;
    }
    let body = body..cursor.at;
    cursor.at += 1;
    if cursor.peek() != Some(b')') {
        return None;
    }
    cursor.at += 1;
    if cursor.peek().is_some() {
        return None;
    }

    let argument = Expr {
        kind: ExprKind::Literal(Value::String(text[body].to_string())),
        span: input.offsets.source_range(string_start..cursor.at - 1),
    };
    let call_span = input.offsets.source_range(dot..cursor.at);
    Some(Expr {
        kind: ExprKind::Builtin {
            function,
            args: vec![argument],
        },
        span: root_span.start..call_span.end,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{KEYWORDS, is_keyword, is_name_char, parse_simple};
    use crate::expr::parser::{OffsetMap, ParseInput, parse, parse_with_pest};

    #[test]
    fn name_char_table_matches_tests() {
        for byte in 0..=u8::MAX {
            let expected = byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'$';
            assert_eq!(is_name_char(byte), expected, "byte {byte}");
        }
    }

    /// Parses `text` as the content of a block that starts at byte 7 of its
    /// template, with the fast path and with pest alone.
    fn both(
        text: &str,
    ) -> (
        bool,
        Result<crate::expr::Expr, crate::error::ExprError>,
        Result<crate::expr::Expr, crate::error::ExprError>,
    ) {
        let source = format!("echo x <+{text}>");
        let mut offsets = OffsetMap::default();
        offsets.push(0, 9, true);
        let input = ParseInput {
            text,
            source: &source,
            offsets: &offsets,
            slot_count: 0,
            max_nesting: 64,
        };
        (
            parse_simple(&input).is_some(),
            parse(&input),
            parse_with_pest(&input),
        )
    }

    /// The grammar's rule: the first word of `KEYWORDS` that starts `name`
    /// must be all of it.
    fn is_keyword_in_grammar_order(name: &str) -> bool {
        KEYWORDS
            .iter()
            .find(|keyword| name.starts_with(*keyword))
            .is_some_and(|keyword| keyword.len() == name.len())
    }

    #[test]
    fn keywords_follow_grammar_order() {
        let names = KEYWORDS.iter().copied().chain(WORDS).chain([
            "nex", "ifs", "do_", "i", "n", "", "forx", "nulls", "Null", "IN",
        ]);
        for name in names {
            assert_eq!(
                is_keyword(name),
                is_keyword_in_grammar_order(name),
                "`{name}`"
            );
        }
    }

    #[test]
    fn fast_path_takes_common_blocks() {
        for text in [
            "pipeline.variables.tag",
            " stage.variables.region ",
            "steps.step3.output.outputVariables.OUT",
            "secrets.getValue(\"token\")",
            "secrets.getValue('token')",
            "pipeline.stages.build.spec.execution.steps.a.status",
            "list.0",
            "new.x",
        ] {
            let (fast, with_fast_path, with_pest) = both(text);
            assert!(fast, "`{text}` takes the fast path");
            assert_eq!(with_fast_path, with_pest, "`{text}`");
        }
    }

    #[test]
    fn fast_path_leaves_other_blocks_to_pest() {
        for text in [
            "a + b",
            "a .b",
            "size.x",
            "true.x",
            "a[0]",
            "a.b.get(\"c\")",
            "secrets.getValue(\"a\\\"b\")",
            "secrets.getValue(\"a\", 1)",
            "pipeline.name.toLowerCase()",
            "a.\"b\"",
            "",
        ] {
            let (fast, with_fast_path, with_pest) = both(text);
            assert!(!fast, "`{text}` is left to pest");
            assert_eq!(with_fast_path, with_pest, "`{text}`");
        }
    }

    /// Words that are names, keywords and names that start with a keyword.
    const WORDS: [&str; 20] = [
        "pipeline",
        "stage",
        "steps",
        "stages",
        "execution",
        "secrets",
        "json",
        "regex",
        "a",
        "_x",
        "$v",
        "new",
        "null",
        "nullable",
        "size",
        "in",
        "inx",
        "not",
        "done",
        "getValue",
    ];

    /// Tokens that build dotted paths, calls, near misses and syntax errors.
    const TOKENS: [&str; 24] = [
        ".",
        "..",
        "(",
        ")",
        "\"id\"",
        "'id'",
        "\"a\\\"b\"",
        "\"\"",
        ",",
        " ",
        "\t",
        "\n",
        "0",
        "12",
        "99999999999999999999",
        "[0]",
        "+",
        "?",
        ":",
        "select",
        "extract",
        "getValue",
        "é",
        "\u{E000}0\u{E001}",
    ];

    fn token() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => proptest::sample::select(&WORDS[..]).prop_map(str::to_string),
            2 => proptest::sample::select(&TOKENS[..]).prop_map(str::to_string),
        ]
    }

    /// Dotted paths, with an optional call at the end.
    fn path() -> impl Strategy<Value = String> {
        (
            proptest::sample::select(&WORDS[..]),
            proptest::collection::vec(
                prop_oneof![
                    proptest::sample::select(&WORDS[..]).prop_map(str::to_string),
                    "[0-9]{1,21}",
                ],
                0..6,
            ),
            proptest::option::of(("[\"']", "[a-z\\-_.]{0,6}")),
        )
            .prop_map(|(root, members, call)| {
                let mut text = root.to_string();
                for member in members {
                    text.push('.');
                    text.push_str(&member);
                }
                if let Some((quote, argument)) = call {
                    text.push_str(&format!("({quote}{argument}{quote})"));
                }
                text
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

        #[test]
        fn fast_path_agrees_with_pest_on_paths(text in path(), lead in "[ \t\n]{0,2}", trail in "[ \t\r\n]{0,2}") {
            let text = format!("{lead}{text}{trail}");
            let (_, with_fast_path, with_pest) = both(&text);
            prop_assert_eq!(with_fast_path, with_pest, "`{}`", text);
        }

        #[test]
        fn fast_path_agrees_with_pest_on_token_soup(tokens in proptest::collection::vec(token(), 1..10)) {
            let text = tokens.concat();
            let (_, with_fast_path, with_pest) = both(&text);
            prop_assert_eq!(with_fast_path, with_pest, "`{}`", text);
        }
    }
}
