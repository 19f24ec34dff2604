//! Field values as Harness classifies them: a fixed value, a runtime input
//! (text starting with `<+input>`) or an expression (text containing a
//! `<+...>` block), and which of these each field accepts.

use crate::pipeline::yaml::{Node, NodeValue};
use crate::template::has_block_start;

/// How a field's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Fixed,
    /// The trimmed text starts with `<+input>` (with or without modifiers).
    RuntimeInput,
    /// The text contains a `<+` block that is not a runtime input.
    Expression,
}

/// Classifies a scalar's text the way Harness's field deserializer does:
/// only text that starts with `<+input>` is a runtime input.
pub fn classify(text: &str) -> ValueKind {
    // Runtime inputs and expressions both contain `<+`, and trimming
    // whitespace never removes one, so most fixed values skip the trim.
    if !has_block_start(text) {
        ValueKind::Fixed
    } else if text.trim_start().starts_with("<+input>") {
        // Trimming the end as well could not change the result, because
        // `<+input>` ends in a character that is not whitespace.
        ValueKind::RuntimeInput
    } else {
        ValueKind::Expression
    }
}

/// Classifies a node: collections are fixed values.
pub fn classify_node(node: &Node) -> ValueKind {
    match &node.value {
        NodeValue::Scalar(scalar) => classify(&scalar.text),
        _ => ValueKind::Fixed,
    }
}

/// What a field accepts besides a fixed value, following the patterns in
/// Harness's v0 JSON schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Any expression or runtime input (`image`, `command`, `connectorRef`,
    /// `envVariables` values, and enum fields such as `shell`).
    Any,
    /// Only a runtime input, with modifiers (`privileged`, `reports`,
    /// `outputVariables`, `cloneCodebase`, `codebase.build`).
    RuntimeInputOnly,
    /// Only a bare `<+input>` with no modifiers (`when`, `failureStrategies`,
    /// `strategy`).
    BareInputOnly,
}

impl Capability {
    /// Returns the reason a value is not accepted, or `None` when it is.
    pub fn reject(self, text: &str) -> Option<&'static str> {
        let kind = classify(text);
        match (self, kind) {
            (_, ValueKind::Fixed) | (Capability::Any, _) => None,
            (Capability::RuntimeInputOnly, ValueKind::RuntimeInput) => None,
            (Capability::RuntimeInputOnly, ValueKind::Expression) => {
                Some("takes a fixed value or a runtime input (`<+input>`), not an expression")
            }
            (Capability::BareInputOnly, ValueKind::RuntimeInput) if text.trim() == "<+input>" => {
                None
            }
            (Capability::BareInputOnly, ValueKind::RuntimeInput) => Some(
                "takes only a bare `<+input>`, without `.default`, `.allowedValues` or other modifiers",
            ),
            (Capability::BareInputOnly, ValueKind::Expression) => {
                Some("takes a fixed value or a bare `<+input>`, not an expression")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_follows_prefix_rule() {
        assert_eq!(classify("<+input>"), ValueKind::RuntimeInput);
        assert_eq!(classify("  <+input>.default(a)"), ValueKind::RuntimeInput);
        assert_eq!(classify("abc <+input>"), ValueKind::Expression);
        assert_eq!(classify("<+pipeline.name>"), ValueKind::Expression);
        assert_eq!(classify("plain"), ValueKind::Fixed);
        assert_eq!(classify("\n <+input>  \n"), ValueKind::RuntimeInput);
        assert_eq!(classify("<+input\u{2003}>"), ValueKind::Expression);
    }

    #[test]
    fn capability_classes() {
        assert_eq!(Capability::Any.reject("<+a>"), None);
        assert!(
            Capability::RuntimeInputOnly
                .reject("<+pipeline.variables.p>")
                .is_some()
        );
        assert_eq!(
            Capability::RuntimeInputOnly.reject("<+input>.allowedValues(true,false)"),
            None
        );
        assert_eq!(Capability::BareInputOnly.reject("<+input>"), None);
        assert!(
            Capability::BareInputOnly
                .reject("<+input>.default(x)")
                .is_some()
        );
    }
}
