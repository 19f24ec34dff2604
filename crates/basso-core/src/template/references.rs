//! The static list of context paths and secret ids a template uses.

use std::ops::Range;

use super::{Form, Piece, literal_secret_id, reference_text, walk_expr};
use crate::expr::ExprKind;

/// The paths and secret ids a template refers to, in order of first
/// appearance, without duplicates.
///
/// Paths are dotted and in canonical alias form (`execution.steps.x` for
/// `steps.x`, `pipeline.stages.s` for `stages.s`); a segment computed at
/// evaluation time (`.<+x>`, `[i]`) appears as `*`. Blocks whose text is
/// assembled from spliced values are not known until evaluation, so only
/// their inner blocks contribute.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct References {
    /// Context paths, such as `pipeline.variables.tag`.
    pub paths: Vec<String>,
    /// Ids of `secrets.getValue("id")` calls whose id is a literal.
    pub secret_ids: Vec<String>,
    /// How many secret lookups have an id computed at evaluation time.
    pub dynamic_secrets: usize,
}

impl References {
    pub(crate) fn collect_pieces(&mut self, pieces: &[Piece]) {
        for piece in pieces {
            let Piece::Block(block) = piece else { continue };
            self.collect_pieces(&block.pieces);
            match &block.unit.form {
                Form::Parsed(expr) => walk_expr(expr, &mut |node| self.collect_node(node)),
                Form::Spliced => {
                    if block_mentions_secrets(&block.pieces) {
                        self.dynamic_secrets += 1;
                    }
                }
                Form::Empty => {}
            }
        }
    }

    fn collect_node(&mut self, node: &crate::expr::Expr) {
        if let ExprKind::Path(path) = &node.kind {
            let text = reference_text(path);
            if !self.paths.contains(&text) {
                self.paths.push(text);
            }
            return;
        }
        match literal_secret_id(node) {
            Some(Some(id)) if !self.secret_ids.iter().any(|known| known == id) => {
                self.secret_ids.push(id.to_string());
            }
            Some(Some(_)) => {}
            Some(None) => self.dynamic_secrets += 1,
            None => {}
        }
    }
}

/// Returns the byte range in the template text of the first path, by
/// position, whose text as [`References::paths`] lists it is `reference`.
pub(crate) fn reference_range(pieces: &[Piece], reference: &str) -> Option<Range<usize>> {
    let mut first: Option<Range<usize>> = None;
    for piece in pieces {
        let Piece::Block(block) = piece else { continue };
        let inner = reference_range(&block.pieces, reference);
        let mut found = inner.into_iter().collect::<Vec<_>>();
        if let Form::Parsed(expr) = &block.unit.form {
            walk_expr(expr, &mut |node| {
                if let ExprKind::Path(path) = &node.kind
                    && reference_text(path) == reference
                {
                    found.push(node.span.clone());
                }
            });
        }
        if let Some(earliest) = found.into_iter().min_by_key(|range| range.start)
            && first
                .as_ref()
                .is_none_or(|known| earliest.start < known.start)
        {
            first = Some(earliest);
        }
    }
    first
}

fn block_mentions_secrets(pieces: &[Piece]) -> bool {
    pieces
        .iter()
        .any(|piece| matches!(piece, Piece::Text(t) if t.text.contains("secrets.getValue")))
}

impl super::Template {
    /// Returns the names that the text outside the blocks uses as whole
    /// references (`prod` in `<+x> == prod`), in order of first appearance.
    /// JEXL reads a name that the context lacks as null. The names are
    /// known only when the whole text parses before evaluation, so a text
    /// with a block spliced into it (`<+a>harness`) gives none.
    pub(crate) fn bare_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        let Ok(unit) = self.whole_unit() else {
            return names;
        };
        let Form::Parsed(expr) = &unit.form else {
            return names;
        };
        walk_expr(expr, &mut |node| {
            if let ExprKind::Path(path) = &node.kind
                && let crate::expr::Path::Fixed { segments, .. } = path
                && let [crate::expr::PathSegment::Key(name)] = segments.as_slice()
                && !names.contains(name)
            {
                names.push(name.clone());
            }
        });
        names
    }
}
