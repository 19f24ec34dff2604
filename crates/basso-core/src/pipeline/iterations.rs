//! References to looped stages, step groups and steps. Each iteration of a
//! looped node gets its own identifier, the node's identifier plus a suffix
//! (`_0`, `_1`, … or `_` and the rendered `nodeName`), and the run records
//! outputs and statuses only under those identifiers.

use std::collections::HashSet;

use crate::diagnostic::{Diagnostic, Span};
use crate::pipeline::strategy;
use crate::pipeline::suggest::did_you_mean;
use crate::pipeline::yaml::Node;

/// The code of the warning for a value of a looped node read without the
/// iteration suffix.
pub const MISSING_ITERATION_SUFFIX: &str = "missing-iteration-suffix";

/// A stage, step group or step that has a `strategy`.
pub(crate) struct LoopedNode<'n> {
    /// `stage`, `step group` or `step`, for messages.
    pub kind: &'static str,
    pub identifier: &'n str,
    pub strategy: &'n Node,
}

impl<'n> LoopedNode<'n> {
    /// Returns the node at `node` with identifier `identifier` when it has a
    /// `strategy`.
    pub fn of(kind: &'static str, identifier: &'n str, node: &'n Node) -> Option<Self> {
        let strategy = node.get("strategy")?;
        Some(LoopedNode {
            kind,
            identifier,
            strategy,
        })
    }

    /// Returns the identifiers of the iterations, or `None` when they depend
    /// on values known only at run time.
    pub fn fixed_ids(&self) -> Option<Vec<String>> {
        let post_fixes = strategy::fixed_post_fixes(self.strategy)?;
        let ids = post_fixes
            .iter()
            .map(|post_fix| format!("{}{post_fix}", self.identifier))
            .collect();
        Some(ids)
    }

    fn has_node_name(&self) -> bool {
        self.strategy
            .get("matrix")
            .is_some_and(|matrix| matrix.get("nodeName").is_some())
    }

    /// Describes how the iterations are named when run-time values decide
    /// them.
    fn naming(&self) -> String {
        if self.has_node_name() {
            format!(
                "iterations of `{0}` are `{0}_` followed by the rendered `nodeName`",
                self.identifier
            )
        } else {
            format!(
                "without `nodeName`, iterations are `{0}_0`, `{0}_1` and so on",
                self.identifier
            )
        }
    }

    /// Lists the iterations, or describes how they are named.
    fn iterations_help(&self) -> String {
        match self.fixed_ids() {
            Some(ids) => format!("its iterations are {}", backticked_owned(&ids)),
            None => self.naming(),
        }
    }
}

/// Reports `target_id`, a looped node's identifier plus a suffix, when no
/// iteration of the node gets that suffix. When the iterations depend on
/// run-time values, only a suffix that is not a number, on a node without
/// `nodeName`, is reported, and as a warning. `code` is the diagnostic code
/// of an unknown node of that kind.
pub(crate) fn check_iteration_id(
    node: &LoopedNode<'_>,
    code: &str,
    target_id: &str,
) -> Option<Diagnostic> {
    let post_fix = target_id.strip_prefix(node.identifier)?;
    if post_fix.is_empty() {
        return None;
    }
    let kind = node.kind;
    let message = format!(
        "{kind} `{target_id}` does not exist: no iteration of the looped {kind} `{}` has that identifier",
        node.identifier
    );
    if let Some(ids) = node.fixed_ids() {
        if ids.iter().any(|id| id == target_id) {
            return None;
        }
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        // A short list helps more than the nearest id, which for `test_3`
        // is `test_0` as much as `test_2`.
        let help = match did_you_mean(target_id, &ids) {
            Some(nearest) if ids.len() > 10 => nearest,
            _ => format!("its iterations are {}", backticked(&ids)),
        };
        return Some(Diagnostic::error(code, message, Span::default()).with_help(help));
    }
    let numeric = post_fix[1..].bytes().all(|b| b.is_ascii_digit());
    if node.has_node_name() || numeric {
        return None;
    }
    Some(Diagnostic::warning(code, message, Span::default()).with_help(node.naming()))
}

/// Builds the warning for `reference`, which reads a run-time value (an
/// output or a status) of the looped `node` by its identifier without a
/// suffix. Harness records those values under each iteration's identifier
/// only, so the reference resolves to null.
pub(crate) fn missing_suffix(node: &LoopedNode<'_>, reference: &str) -> Diagnostic {
    let message = format!(
        "{} `{}` runs in a loop, so `<+{reference}>` resolves to null",
        node.kind, node.identifier
    );
    let help = format!(
        "read one iteration by its identifier; {}",
        node.iterations_help()
    );
    Diagnostic::warning(MISSING_ITERATION_SUFFIX, message, Span::default()).with_help(help)
}

/// Builds the warning for `reference`, which reads a value from the file
/// (a variable, `name` or a `spec` field) of the looped `node` by its
/// identifier without a suffix. Each iteration has its own values, under
/// its own identifier, and the reference reads the value as the file
/// writes it, with the loop values of the field that reads it.
pub(crate) fn unsuffixed_file_value(node: &LoopedNode<'_>, reference: &str) -> Diagnostic {
    let message = format!(
        "{} `{}` runs in a loop, so `<+{reference}>` reads the value as the file writes it, not the value of one iteration",
        node.kind, node.identifier
    );
    let help = format!(
        "read one iteration by its identifier; {}",
        node.iterations_help()
    );
    Diagnostic::warning(MISSING_ITERATION_SUFFIX, message, Span::default()).with_help(help)
}

/// The identifiers that references can use for a list of nodes: each
/// node's own identifier, or its iterations' identifiers when it loops.
#[derive(Default)]
pub(crate) struct ReferenceIds {
    pub ids: Vec<String>,
    /// The entries of `ids`, for the check for repeats: a stage may have
    /// thousands of iterations.
    seen: HashSet<String>,
    /// Descriptions of how the iterations are named, for the looped nodes
    /// whose identifiers depend on run-time values.
    pub namings: Vec<String>,
}

impl ReferenceIds {
    /// Adds the node `identifier` at `node`, of the given kind. A node
    /// already added, such as a step id used in two groups, is skipped.
    pub fn add(&mut self, kind: &'static str, identifier: &str, node: &Node) {
        let Some(looped) = LoopedNode::of(kind, identifier, node) else {
            self.push(identifier.to_string());
            return;
        };
        match looped.fixed_ids() {
            Some(ids) => ids.into_iter().for_each(|id| self.push(id)),
            None => {
                self.push(identifier.to_string());
                let naming = looped.naming();
                if !self.namings.contains(&naming) {
                    self.namings.push(naming);
                }
            }
        }
    }

    fn push(&mut self, id: String) {
        if self.seen.insert(id.clone()) {
            self.ids.push(id);
        }
    }

    /// Builds the error `{what} `name` does not exist{place}` whose help
    /// suggests the nearest identifier, or else lists them all and
    /// describes how the iterations that the list cannot expand are named.
    pub fn unknown(&self, code: &str, what: &str, name: &str, place: &str) -> Diagnostic {
        let ids: Vec<&str> = self.ids.iter().map(String::as_str).collect();
        let help = match did_you_mean(name, &ids) {
            Some(nearest) => nearest,
            None if ids.is_empty() => {
                format!("no {what} is declared here; declare `{name}` or fix the reference")
            }
            None => {
                let mut help = format!("declared {what}s: {}", backticked(&ids));
                for naming in &self.namings {
                    help.push_str("; ");
                    help.push_str(naming);
                }
                help
            }
        };
        let message = format!("{what} `{name}` does not exist{place}");
        Diagnostic::error(code, message, Span::default()).with_help(help)
    }
}

/// The maximum number of names that a help line lists; the rest are
/// counted. A file with
/// thousands of steps would otherwise repeat every identifier in the help of
/// each reference to a missing one.
pub(crate) const MAX_LISTED_NAMES: usize = 20;

/// Lists names as `` `a`, `b` ``, the first [`MAX_LISTED_NAMES`] of them,
/// followed by ` and N more` when there are others.
pub(crate) fn backticked(names: &[&str]) -> String {
    let quoted: Vec<String> = names
        .iter()
        .take(MAX_LISTED_NAMES)
        .map(|name| format!("`{name}`"))
        .collect();
    let mut text = quoted.join(", ");
    if names.len() > MAX_LISTED_NAMES {
        text.push_str(&format!(" and {} more", names.len() - MAX_LISTED_NAMES));
    }
    text
}

fn backticked_owned(names: &[String]) -> String {
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    backticked(&names)
}
