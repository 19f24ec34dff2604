//! Substitution of the values known now into a template that is evaluated
//! again later, when the values it still lacks exist.

use std::fmt::Write;

use super::{Evaluator, Flow, Stop};
use crate::error::ExprError;
use crate::eval::Context;
use crate::options::{Options, Unresolved};
use crate::template::{Binding, Piece, Template};
use crate::value::{Value, java_double_to_string};

impl Template {
    /// Writes the text back with each block that has a value replaced by
    /// that value, so that evaluating the result later with the missing
    /// values gives what [`Template::evaluate`] gives with all of them.
    ///
    /// A block bound as an operand becomes a JEXL literal, so a string stays
    /// a string. A block spliced into the text (inside quotes, or against a
    /// word) is spliced as `evaluate` splices it. A block that reads an
    /// unresolved reference stays a block, with its own inner blocks
    /// replaced in the same way. Evaluation errors are returned.
    pub fn substitute_values(
        &self,
        ctx: &dyn Context,
        options: &Options,
    ) -> Result<String, ExprError> {
        let options = Options {
            unresolved: Unresolved::Keep,
            ..*options
        };
        let unit = self.whole_unit().as_ref().map_err(Clone::clone)?;
        let mut evaluator = Evaluator::new(ctx, &options, &self.regexes);
        let mut out = String::with_capacity(self.source.len());
        let result = evaluator.substitute_pieces(
            &self.source,
            &self.pieces,
            &unit.bindings,
            false,
            &mut out,
        );
        ctx.spent_steps(evaluator.steps);
        match result {
            Ok(()) => Ok(out),
            Err(Stop::Error(error)) => Err(error),
            Err(Stop::Keep) => Ok(self.source.clone()),
        }
    }
}

impl Evaluator<'_> {
    /// Writes `pieces`, whose blocks join their text by `bindings`, into
    /// `out`. `inside_block` is set below a kept block, where a `>` in a
    /// written value would close that block and is escaped as `\>`.
    fn substitute_pieces(
        &mut self,
        source: &str,
        pieces: &[Piece],
        bindings: &[Binding],
        inside_block: bool,
        out: &mut String,
    ) -> Flow<()> {
        let mut slot = 0;
        for piece in pieces {
            let block = match piece {
                Piece::Text(text) => {
                    // The text as written keeps its `\>` escapes.
                    out.push_str(&source[text.range.clone()]);
                    continue;
                }
                Piece::Block(block) => block,
            };
            let binding = bindings[slot];
            slot += 1;

            let value = match self.eval_block(source, block) {
                Ok(value) => value.into_owned(),
                Err(Stop::Keep) => {
                    out.push_str("<+");
                    self.substitute_pieces(source, &block.pieces, &block.unit.bindings, true, out)?;
                    out.push('>');
                    continue;
                }
                Err(error) => return Err(error),
            };
            let written = match binding {
                Binding::Value => write_jexl_literal(&value, inside_block, out),
                Binding::Name => write_property_name(&value, out),
                Binding::Splice => {
                    let text = value.render();
                    if inside_block && !matches!(value, Value::Secret(_)) {
                        out.push_str(&text.replace('>', "\\>"));
                    } else {
                        out.push_str(&text);
                    }
                    true
                }
            };
            if !written {
                // NOTE: a value without a literal form (a NaN or infinite
                // number) stays a block, which a later evaluation without
                // this context reads as null.
                out.push_str(&source[block.range.clone()]);
            }
        }
        Ok(())
    }
}

/// Writes a property name that follows a `.`: the name itself when it is
/// an identifier, or else a block holding its literal.
fn write_property_name(value: &Value, out: &mut String) -> bool {
    if let Value::String(name) = value
        && is_identifier(name)
    {
        out.push_str(name);
        return true;
    }
    let mut literal = String::new();
    if !write_jexl_literal(value, true, &mut literal) {
        return false;
    }
    out.push_str("<+");
    out.push_str(&literal);
    out.push('>');
    true
}

fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        && !matches!(
            text,
            "null"
                | "true"
                | "false"
                | "and"
                | "or"
                | "not"
                | "eq"
                | "ne"
                | "lt"
                | "le"
                | "gt"
                | "ge"
                | "div"
                | "mod"
                | "empty"
                | "size"
                | "new"
                | "var"
                | "return"
        )
}

/// Writes `value` as a JEXL expression that evaluates to it: a literal for
/// null, booleans, numbers and strings, list and map literals for
/// collections, and the `secrets.getValue` block for a secret. Negative
/// numbers are bracketed so that an operator or method call next to them
/// applies to the whole number. Returns false, writing nothing, for a NaN
/// or infinite number, which has no literal.
pub(crate) fn write_jexl_literal(value: &Value, inside_block: bool, out: &mut String) -> bool {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Int(i64::MIN) => out.push_str("(-9223372036854775807 - 1)"),
        Value::Int(number) if *number < 0 => {
            let _ = write!(out, "({number})");
        }
        Value::Int(number) => {
            let _ = write!(out, "{number}");
        }
        Value::Float(number) if !number.is_finite() => return false,
        Value::Float(number) if *number < 0.0 => {
            let _ = write!(out, "({})", java_double_to_string(*number));
        }
        Value::Float(number) => out.push_str(&java_double_to_string(*number)),
        Value::String(text) => write_string_literal(text, inside_block, out),
        Value::List(items) => {
            let mut item_text = String::new();
            let mut written = Vec::with_capacity(items.len());
            for item in items {
                item_text.clear();
                if !write_jexl_literal(item, inside_block, &mut item_text) {
                    return false;
                }
                written.push(item_text.clone());
            }
            out.push('[');
            out.push_str(&written.join(", "));
            out.push(']');
        }
        Value::Map(entries) if entries.is_empty() => out.push_str("{:}"),
        Value::Map(entries) => {
            let mut written = Vec::with_capacity(entries.len());
            for (key, item) in entries {
                let mut entry = String::new();
                write_string_literal(key, inside_block, &mut entry);
                entry.push_str(": ");
                if !write_jexl_literal(item, inside_block, &mut entry) {
                    return false;
                }
                written.push(entry);
            }
            out.push('{');
            out.push_str(&written.join(", "));
            out.push('}');
        }
        Value::Secret(handle) => out.push_str(&handle.expression_text()),
    }
    true
}

fn write_string_literal(text: &str, inside_block: bool, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '>' if inside_block => out.push_str("\\>"),
            _ => out.push(c),
        }
    }
    out.push('"');
}
