//! The pest parser for block expressions. Pest's pairs never leave this
//! module: [`parse`] returns an owned [`Expr`] or an [`ExprError`].

use std::ops::Range;

use pest::Parser as _;
use pest::iterators::Pair;

use super::{BinaryOp, Builtin, Expr, ExprKind, Path, PathPart, PathSegment, PostfixOp, UnaryOp};
use crate::error::{ExprError, codes};
use crate::value::Value;

#[derive(pest_derive::Parser)]
#[grammar = "../../../grammar/jexl.pest"]
struct JexlParser;

/// Maps byte offsets in synthesized expression text back to the template.
///
/// The expression text of a block is its content with inner blocks replaced
/// by slot markers or spliced values, so offsets shift. Each entry starts a
/// run: `exact` runs map byte for byte, other runs map to their start.
#[derive(Debug, Default, Clone)]
pub(crate) struct OffsetMap {
    runs: Vec<(usize, usize, bool)>,
}

impl OffsetMap {
    /// Returns a map of one run, allocated at its final size.
    pub(crate) fn one_run(text_offset: usize, source_offset: usize, exact: bool) -> Self {
        OffsetMap {
            runs: vec![(text_offset, source_offset, exact)],
        }
    }

    pub(crate) fn push(&mut self, text_offset: usize, source_offset: usize, exact: bool) {
        self.runs.push((text_offset, source_offset, exact));
    }

    pub(crate) fn source_offset(&self, text_offset: usize) -> usize {
        let index = self.runs.partition_point(|run| run.0 <= text_offset);
        match index.checked_sub(1).and_then(|i| self.runs.get(i)) {
            Some(&(start, source, true)) => source + (text_offset - start),
            Some(&(_, source, false)) => source,
            None => 0,
        }
    }

    pub(crate) fn source_range(&self, range: Range<usize>) -> Range<usize> {
        let start = self.source_offset(range.start);
        let end = self.source_offset(range.end).max(start);
        start..end
    }
}

/// The parser's input: expression text and what errors need.
pub(crate) struct ParseInput<'s> {
    /// The expression text, slot markers included.
    pub text: &'s str,
    /// The template text errors point into.
    pub source: &'s str,
    pub offsets: &'s OffsetMap,
    /// How many inner blocks the expression may refer to.
    pub slot_count: usize,
    /// The deepest bracket and ternary nesting accepted.
    pub max_nesting: usize,
}

/// Parses one expression: plain paths and one-string built-in calls
/// without pest (see [`super::fast_path`]), everything else with pest.
pub(crate) fn parse(input: &ParseInput<'_>) -> Result<Expr, ExprError> {
    // A dotted path has no brackets, quotes or `?`, so the nesting check
    // cannot reject it and is skipped. A built-in call nests one level, so
    // it takes the check whenever no level at all is allowed.
    if let Some(expr) = super::fast_path::parse_simple(input)
        && (input.max_nesting > 0 || matches!(expr.kind, ExprKind::Path(_)))
    {
        return Ok(expr);
    }
    check_nesting(input)?;
    parse_with_pest(input)
}

/// Parses one expression with the pest grammar, after the nesting check.
pub(super) fn parse_with_pest(input: &ParseInput<'_>) -> Result<Expr, ExprError> {
    let mut pairs = JexlParser::parse(Rule::expression, input.text)
        .map_err(|error| syntax_error(input, &error))?;
    let expression = pairs.next().expect("the expression rule yields one pair");
    let ternary = expression
        .into_inner()
        .next()
        .expect("expression contains a ternary");
    Builder { input }.ternary(ternary)
}

/// Rejects nesting deeper than the limit before pest recurses into it, so no
/// input can overflow the stack. An open bracket adds a level, and so does
/// each `?` of a ternary until the `,` or closing bracket that ends it:
/// ternaries side by side in a list or in brackets do not nest, while
/// `a ? b ? c : d : e` and `a ? b : c ? d : e` do.
fn check_nesting(input: &ParseInput<'_>) -> Result<(), ExprError> {
    let mut depth = 0usize;
    let mut ternaries = 0usize;
    // The ternaries open at each bracket level, the outermost first.
    let mut open_ternaries: Vec<usize> = vec![0];
    let mut quote: Option<u8> = None;
    let mut escaped = false;
    for (i, byte) in input.text.bytes().enumerate() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == q {
                quote = None;
            }
            continue;
        }
        match byte {
            b'"' | b'\'' => quote = Some(byte),
            b'(' | b'[' | b'{' => {
                depth += 1;
                open_ternaries.push(0);
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                if open_ternaries.len() > 1 {
                    ternaries -= open_ternaries.pop().unwrap_or(0);
                }
            }
            b',' => {
                if let Some(open) = open_ternaries.last_mut() {
                    ternaries -= *open;
                    *open = 0;
                }
            }
            b'?' => {
                ternaries += 1;
                if let Some(open) = open_ternaries.last_mut() {
                    *open += 1;
                }
            }
            _ => continue,
        }
        if depth + ternaries > input.max_nesting {
            let at = input.offsets.source_offset(i);
            return Err(ExprError::new(
                codes::NESTING_LIMIT,
                format!("expression nests deeper than {} levels", input.max_nesting),
                "split the expression into variables",
                input.source,
                at..at + 1,
            ));
        }
    }
    Ok(())
}

fn syntax_error(input: &ParseInput<'_>, error: &pest::error::Error<Rule>) -> ExprError {
    let position = match error.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((p, _)) => p,
    };
    let rest = &input.text[position.min(input.text.len())..];
    let found = describe_token(rest);
    let expected = match &error.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => describe_expected(positives),
        pest::error::ErrorVariant::CustomError { .. } => "an expression",
    };

    let source_at = input.offsets.source_offset(position);
    let token_len = if rest.is_empty() {
        0
    } else {
        rest.chars().next().map_or(1, char::len_utf8)
    };
    let span = source_at..source_at + token_len;
    if let Some(error) = unclosed_string_error(input, position) {
        return error;
    }
    if let Some(error) = missing_colon_error(input, position, &found, expected, &span) {
        return error;
    }
    let help = if let Some(suggestion) = hyphenated_key(input.text, position) {
        format!("`-` between names subtracts; read a key that contains `-` with `<+{suggestion}>`")
    } else if found.contains("end of") {
        format!("complete the expression: {expected} is missing")
    } else {
        format!("remove or fix {found}; {expected} belongs here")
    };
    ExprError::new(
        codes::SYNTAX,
        format!("unexpected {found}, expected {expected}"),
        help,
        input.source,
        span,
    )
}

/// Builds the error for a string literal at `position` that no quote
/// closes, pointing at its opening quote.
fn unclosed_string_error(input: &ParseInput<'_>, position: usize) -> Option<ExprError> {
    let rest = &input.text[position.min(input.text.len())..];
    let token = rest.trim_start();
    let quote = unclosed_quote(token)?;
    let at = input
        .offsets
        .source_offset(position + (rest.len() - token.len()));
    // A `>` ends the block even between quotes, so `<+"a>b">` ends after
    // `"a`. The string's closing quote then follows that `>`.
    let block_end = input.offsets.source_offset(input.text.len());
    let cut_at_angle = input.source.get(block_end..).is_some_and(|after| {
        after.starts_with('>') && after[1..].lines().next().unwrap_or("").contains(quote)
    });
    let help = if cut_at_angle {
        "the first `>` ends the block, also inside a string: write a `>` inside the string as `\\>`"
            .to_string()
    } else {
        format!("end the string with `{quote}`, and write a `{quote}` inside it as `\\{quote}`")
    };
    Some(ExprError::new(
        codes::SYNTAX,
        format!("unterminated string: the `{quote}` that starts it has no closing `{quote}`"),
        help,
        input.source,
        at..at + 1,
    ))
}

/// Builds the error for a ternary `c ? a` whose `: b` is missing, where
/// pest expected only an operator.
fn missing_colon_error(
    input: &ParseInput<'_>,
    position: usize,
    found: &str,
    expected: &str,
    span: &Range<usize>,
) -> Option<ExprError> {
    let before = &input.text[..position.min(input.text.len())];
    if expected != "an operator" || !has_open_ternary(before) {
        return None;
    }
    Some(ExprError::new(
        codes::SYNTAX,
        format!(
            "unexpected {found}, expected `:` and the value for a false condition in `c ? a : b`"
        ),
        "add `: value` after the value for a true condition, or write `a ?: b` for a default",
        input.source,
        span.clone(),
    ))
}

/// Returns the quote that starts `rest` when no unescaped quote of the same
/// kind closes it.
fn unclosed_quote(rest: &str) -> Option<char> {
    let quote = rest.chars().next().filter(|c| matches!(c, '"' | '\''))?;
    let mut escaped = false;
    for c in rest[1..].chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == quote {
            return None;
        }
    }
    Some(quote)
}

/// Returns whether `before`, the text up to a syntax error, has a ternary
/// `?` whose `:` is missing. Quoted text and map literals (`{k: v}`) are
/// skipped, and `?:` (elvis) needs no `:`.
fn has_open_ternary(before: &str) -> bool {
    let mut open = 0usize;
    let mut braces = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut chars = before.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '{' => braces += 1,
            '}' => braces = braces.saturating_sub(1),
            '?' if chars.peek() == Some(&':') => {
                chars.next();
            }
            '?' => open += 1,
            ':' if braces == 0 => open = open.saturating_sub(1),
            _ => {}
        }
    }
    open > 0
}

/// Returns `path.get("key-name")` when the error at `position` follows a
/// dotted path and a `-` with no blank, as in `pipeline.variables.my-var`,
/// where the author meant a key that contains `-`.
fn hyphenated_key(text: &str, position: usize) -> Option<String> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$';
    let before = text.get(..position)?.strip_suffix('-')?;
    let rest = text.get(position..)?;
    let path_start = before
        .char_indices()
        .rfind(|&(_, c)| !(is_name(c) || c == '.' || c == '-'))
        .map_or(0, |(at, c)| at + c.len_utf8());
    let path = &before[path_start..];
    let (parent, last) = path.rsplit_once('.')?;
    let parent_ok = parent.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && parent.split('.').all(|s| !s.is_empty() && !s.contains('-'));
    if !parent_ok || last.is_empty() || !rest.starts_with(is_name) {
        return None;
    }
    let tail_len = rest
        .find(|c: char| !(is_name(c) || c == '-'))
        .unwrap_or(rest.len());
    let tail = rest[..tail_len].trim_end_matches('-');
    Some(format!("{parent}.get(\"{last}-{tail}\")"))
}

/// Names the token at the start of `rest` for a syntax error message.
fn describe_token(rest: &str) -> String {
    let rest = rest.trim_start();
    let Some(first) = rest.chars().next() else {
        return "end of expression".to_string();
    };
    if first == '\u{E000}' {
        return "`<+…>` block".to_string();
    }
    let word: String = if first.is_ascii_alphanumeric() || first == '_' || first == '$' {
        rest.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '$')
            .take(20)
            .collect()
    } else {
        let two: String = rest.chars().take(2).collect();
        let operators = [
            "==", "!=", "<=", ">=", "&&", "||", "=~", "!~", "=^", "!^", "=$", "!$", "?:",
        ];
        if operators.contains(&two.as_str()) {
            two
        } else {
            first.to_string()
        }
    };
    format!("`{word}`")
}

/// Summarises what the grammar expected at an error position.
fn describe_expected(positives: &[Rule]) -> &'static str {
    let operand = positives.iter().any(|rule| {
        matches!(
            rule,
            Rule::ternary
                | Rule::or_expr
                | Rule::and_expr
                | Rule::eq_expr
                | Rule::rel_expr
                | Rule::add_expr
                | Rule::mul_expr
                | Rule::unary
                | Rule::postfix
                | Rule::prefix_op
                | Rule::identifier
                | Rule::string
                | Rule::integer
                | Rule::float
                | Rule::hex
                | Rule::slot
                | Rule::list
                | Rule::map
                | Rule::paren
                | Rule::kw_null
                | Rule::kw_true
                | Rule::kw_false
                | Rule::size_call
                | Rule::map_entry
                | Rule::arguments
        )
    });
    let name = positives.iter().any(|rule| matches!(rule, Rule::name));
    if operand {
        "an expression"
    } else if name {
        "a property or method name"
    } else if positives.contains(&Rule::EOI) {
        "an operator or the end of the expression"
    } else {
        "an operator"
    }
}

struct Builder<'i, 's> {
    input: &'i ParseInput<'s>,
}

impl Builder<'_, '_> {
    fn span(&self, pair: &Pair<'_, Rule>) -> Range<usize> {
        let span = pair.as_span();
        self.input.offsets.source_range(span.start()..span.end())
    }

    fn error(
        &self,
        code: &'static str,
        message: String,
        help: &str,
        span: Range<usize>,
    ) -> ExprError {
        ExprError::new(code, message, help, self.input.source, span)
    }

    fn ternary(&self, pair: Pair<'_, Rule>) -> Result<Expr, ExprError> {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let condition = self.binary(inner.next().expect("ternary starts with or_expr"))?;
        let Some(tail) = inner.next() else {
            return Ok(condition);
        };

        let kind = match tail.as_rule() {
            Rule::elvis_tail => {
                let fallback = self.ternary(tail.into_inner().next().expect("elvis operand"))?;
                ExprKind::Elvis {
                    value: Box::new(condition),
                    fallback: Box::new(fallback),
                }
            }
            _ => {
                let mut branches = tail.into_inner();
                let then = self.ternary(branches.next().expect("then branch"))?;
                let otherwise = self.ternary(branches.next().expect("else branch"))?;
                ExprKind::Ternary {
                    condition: Box::new(condition),
                    then: Box::new(then),
                    otherwise: Box::new(otherwise),
                }
            }
        };
        Ok(Expr { kind, span })
    }

    /// Builds any of the left-associative operator levels as one flat chain.
    fn binary(&self, pair: Pair<'_, Rule>) -> Result<Expr, ExprError> {
        if pair.as_rule() == Rule::unary {
            return self.unary(pair);
        }
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let first = self.binary(inner.next().expect("operator level has an operand"))?;

        let mut rest = Vec::new();
        while let Some(op_pair) = inner.next() {
            let op_span = self.span(&op_pair);
            let op = binary_op(op_pair.as_str());
            let operand = self.binary(inner.next().expect("operator is followed by an operand"))?;
            rest.push((op, op_span, operand));
        }
        if rest.is_empty() {
            return Ok(first);
        }
        Ok(Expr {
            kind: ExprKind::Binary {
                first: Box::new(first),
                rest,
            },
            span,
        })
    }

    fn unary(&self, pair: Pair<'_, Rule>) -> Result<Expr, ExprError> {
        let span = self.span(&pair);
        let mut ops = Vec::new();
        let mut operand = None;
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::prefix_op => {
                    let op = match part.as_str() {
                        "!" | "not" => UnaryOp::Not,
                        "-" => UnaryOp::Negate,
                        _ => UnaryOp::Empty,
                    };
                    ops.push((op, self.span(&part).start));
                }
                _ => operand = Some(self.postfix(part)?),
            }
        }
        let operand = operand.expect("unary ends with a postfix expression");
        if ops.is_empty() {
            return Ok(operand);
        }

        // `-5` is the literal -5, as in JEXL, so `-9223372036854775808` fits.
        if let ([(UnaryOp::Negate, _)], ExprKind::Literal(Value::Int(n))) =
            (ops.as_slice(), &operand.kind)
        {
            return Ok(Expr {
                kind: ExprKind::Literal(Value::Int(n.wrapping_neg())),
                span,
            });
        }
        Ok(Expr {
            kind: ExprKind::Unary {
                ops,
                operand: Box::new(operand),
            },
            span,
        })
    }

    fn postfix(&self, pair: Pair<'_, Rule>) -> Result<Expr, ExprError> {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let primary = inner.next().expect("postfix starts with a primary");

        let mut ops = Vec::new();
        for op in inner {
            ops.push(self.postfix_op(op)?);
        }

        if primary.as_rule() == Rule::identifier {
            let root_span = self.span(&primary);
            return self.path_or_builtin(primary.as_str(), root_span, ops, span);
        }
        let base = self.primary(primary)?;
        if ops.is_empty() {
            return Ok(base);
        }
        Ok(Expr {
            kind: ExprKind::Postfix {
                base: Box::new(base),
                ops,
            },
            span,
        })
    }

    fn postfix_op(&self, pair: Pair<'_, Rule>) -> Result<PostfixOp, ExprError> {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::method_call => {
                let mut inner = pair.into_inner();
                let name = inner.next().expect("method name").as_str().to_string();
                let args = match inner.next() {
                    Some(arguments) => arguments
                        .into_inner()
                        .map(|a| self.ternary(a))
                        .collect::<Result<_, _>>()?,
                    None => Vec::new(),
                };
                Ok(PostfixOp::Method { name, args, span })
            }
            Rule::member => {
                let target = pair.into_inner().next().expect("member name");
                match target.as_rule() {
                    Rule::slot => {
                        let slot = self.slot_index(&target)?;
                        let index = Expr {
                            kind: ExprKind::Slot(slot),
                            span: self.span(&target),
                        };
                        Ok(PostfixOp::Index { index, span })
                    }
                    Rule::string => Ok(PostfixOp::Member {
                        name: decode_string(target.as_str()),
                        span,
                    }),
                    _ => Ok(PostfixOp::Member {
                        name: target.as_str().to_string(),
                        span,
                    }),
                }
            }
            _ => {
                let index = self.ternary(pair.into_inner().next().expect("index expression"))?;
                Ok(PostfixOp::Index { index, span })
            }
        }
    }

    /// Turns `root.a["b"][0].get("c")` into a [`Path`], followed by the
    /// operations that act on the looked-up value, or into a built-in call.
    fn path_or_builtin(
        &self,
        root: &str,
        root_span: Range<usize>,
        ops: Vec<PostfixOp>,
        span: Range<usize>,
    ) -> Result<Expr, ExprError> {
        if let Some(PostfixOp::Method { name, .. }) = ops.first()
            && let Some(function) = Builtin::from_names(root, name)
        {
            let mut ops = ops.into_iter();
            let Some(PostfixOp::Method {
                args,
                span: call_span,
                ..
            }) = ops.next()
            else {
                unreachable!()
            };
            let call = Expr {
                kind: ExprKind::Builtin { function, args },
                span: root_span.start..call_span.end,
            };
            return Ok(wrap_postfix(call, ops.collect(), span));
        }

        let mut segments = vec![PathPart::Fixed(PathSegment::Key(root.to_string()))];
        let mut path_end = root_span.end;
        let mut ops = ops.into_iter().peekable();
        while let Some(op) = ops.peek() {
            let part = match op {
                PostfixOp::Member { name, .. } => PathPart::Fixed(member_segment(name)),
                PostfixOp::Index { index, .. } => match &index.kind {
                    ExprKind::Literal(Value::String(key)) => {
                        PathPart::Fixed(PathSegment::Key(key.clone()))
                    }
                    ExprKind::Literal(Value::Int(i)) => PathPart::Fixed(PathSegment::Index(*i)),
                    ExprKind::Slot(slot) => PathPart::Slot(*slot),
                    _ => PathPart::Computed(index.clone()),
                },
                PostfixOp::Method { name, args, .. } if name == "get" && args.len() == 1 => {
                    match &args[0].kind {
                        ExprKind::Literal(Value::String(key)) => {
                            PathPart::Fixed(PathSegment::Key(key.clone()))
                        }
                        ExprKind::Literal(Value::Int(i)) => PathPart::Fixed(PathSegment::Index(*i)),
                        _ => break,
                    }
                }
                PostfixOp::Method { .. } => break,
            };
            path_end = match op {
                PostfixOp::Member { span, .. }
                | PostfixOp::Index { span, .. }
                | PostfixOp::Method { span, .. } => span.end,
            };
            segments.push(part);
            ops.next();
        }

        let path = Expr {
            kind: ExprKind::Path(Path::from_parts(segments)),
            span: root_span.start..path_end,
        };
        Ok(wrap_postfix(path, ops.collect(), span))
    }

    fn primary(&self, pair: Pair<'_, Rule>) -> Result<Expr, ExprError> {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::kw_null => ExprKind::Literal(Value::Null),
            Rule::kw_true => ExprKind::Literal(Value::Bool(true)),
            Rule::kw_false => ExprKind::Literal(Value::Bool(false)),
            Rule::integer | Rule::hex => {
                ExprKind::Literal(self.integer(pair.as_str(), span.clone())?)
            }
            Rule::float => {
                ExprKind::Literal(Value::Float(pair.as_str().parse().unwrap_or(f64::NAN)))
            }
            Rule::string => ExprKind::Literal(Value::String(decode_string(pair.as_str()))),
            Rule::slot => ExprKind::Slot(self.slot_index(&pair)?),
            Rule::paren => {
                return self.ternary(pair.into_inner().next().expect("parenthesised expression"));
            }
            Rule::size_call => {
                let operand = pair.into_inner().nth(1).expect("size argument");
                ExprKind::Size(Box::new(self.ternary(operand)?))
            }
            Rule::list => ExprKind::List(
                pair.into_inner()
                    .map(|item| self.ternary(item))
                    .collect::<Result<_, _>>()?,
            ),
            Rule::map => {
                let mut entries = Vec::new();
                for entry in pair.into_inner() {
                    let mut kv = entry.into_inner();
                    let key = self.binary(kv.next().expect("map key"))?;
                    let value = self.ternary(kv.next().expect("map value"))?;
                    entries.push((key, value));
                }
                ExprKind::Map(entries)
            }
            rule => unreachable!("primary rule {rule:?}"),
        };
        Ok(Expr { kind, span })
    }

    fn integer(&self, text: &str, span: Range<usize>) -> Result<Value, ExprError> {
        let parsed = if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X"))
        {
            i64::from_str_radix(hex, 16)
        } else if text.len() > 1 && text.starts_with('0') {
            i64::from_str_radix(&text[1..], 8)
        } else {
            text.parse::<i64>()
        };
        parsed.map(Value::Int).map_err(|_| {
            self.error(
                codes::INTEGER_OVERFLOW,
                format!("integer literal `{text}` does not fit in 64 bits"),
                "use a decimal literal such as `1.0e19`, or a smaller number",
                span,
            )
        })
    }

    fn slot_index(&self, pair: &Pair<'_, Rule>) -> Result<usize, ExprError> {
        let digits = pair
            .as_str()
            .trim_matches(|c| c == '\u{E000}' || c == '\u{E001}');
        match digits.parse::<usize>() {
            Ok(slot) if slot < self.input.slot_count => Ok(slot),
            _ => Err(self.error(
                codes::SYNTAX,
                "unexpected private-use character U+E000 in expression".to_string(),
                "remove the character; basso reserves it for inner blocks",
                self.span(pair),
            )),
        }
    }
}

fn wrap_postfix(base: Expr, ops: Vec<PostfixOp>, span: Range<usize>) -> Expr {
    if ops.is_empty() {
        return base;
    }
    Expr {
        kind: ExprKind::Postfix {
            base: Box::new(base),
            ops,
        },
        span,
    }
}

pub(super) fn member_segment(name: &str) -> PathSegment {
    match name.parse::<i64>() {
        Ok(i) if name.bytes().all(|b| b.is_ascii_digit()) => PathSegment::Index(i),
        _ => PathSegment::Key(name.to_string()),
    }
}

fn binary_op(text: &str) -> BinaryOp {
    match text {
        "||" | "or" => BinaryOp::Or,
        "&&" | "and" => BinaryOp::And,
        "==" | "eq" => BinaryOp::Eq,
        "!=" | "ne" => BinaryOp::Ne,
        "<" | "lt" => BinaryOp::Lt,
        "<=" | "le" => BinaryOp::Le,
        ">" | "gt" => BinaryOp::Gt,
        ">=" | "ge" => BinaryOp::Ge,
        "=~" => BinaryOp::Match,
        "!~" => BinaryOp::NotMatch,
        "=^" => BinaryOp::StartsWith,
        "!^" => BinaryOp::NotStartsWith,
        "=$" => BinaryOp::EndsWith,
        "!$" => BinaryOp::NotEndsWith,
        "+" => BinaryOp::Add,
        "-" => BinaryOp::Sub,
        "*" => BinaryOp::Mul,
        "/" | "div" => BinaryOp::Div,
        _ => BinaryOp::Mod,
    }
}

/// Decodes a quoted JEXL 3.1 string literal. Only `\\`, an escaped quote
/// character and `\uXXXX` are escapes. Any other backslash stays in the
/// text, so `"a\nb"` keeps its backslash, as in JEXL 3.1.
pub(crate) fn decode_string(quoted: &str) -> String {
    let quote = quoted.chars().next().unwrap_or('"');
    let body = &quoted[1..quoted.len() - 1];
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.peek().copied() {
            Some(next) if next == '\\' || next == quote => {
                out.push(next);
                chars.next();
            }
            Some('u') => {
                let hex: String = chars.clone().skip(1).take(4).collect();
                match u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 4)
                    .and_then(char::from_u32)
                {
                    Some(decoded) => {
                        out.push(decoded);
                        for _ in 0..5 {
                            chars.next();
                        }
                    }
                    None => out.push('\\'),
                }
            }
            _ => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::options::ScanMode;
    use crate::template::Template;

    fn help_of(template: &str) -> String {
        Template::parse(template, ScanMode::Harness)
            .expect_err("a syntax error")
            .help
    }

    #[test]
    fn hyphenated_key_suggests_get() {
        let help = help_of("<+pipeline.variables.my-var>");
        assert!(
            help.contains(r#"<+pipeline.variables.get("my-var")>"#),
            "{help}"
        );
        let help = help_of("<+stage.variables.a-b-var>");
        assert!(
            help.contains(r#"<+stage.variables.get("a-b-var")>"#),
            "{help}"
        );
    }

    #[test]
    fn subtraction_with_blank_keeps_plain_help() {
        let help = help_of("<+pipeline.variables.my - var>");
        assert!(!help.contains(".get("), "{help}");
        assert!(help.contains("remove or fix `var`"), "{help}");
    }
}
