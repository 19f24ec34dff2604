//! Caller-chosen modes and limits for scanning and evaluation.

/// How the scanner decides where a `<+…>` block ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum ScanMode {
    /// Harness's Java engine: any `>` at nesting depth 0 closes the block,
    /// even inside quotes or parentheses. `\>` is an escaped `>`.
    #[default]
    Harness,
    /// Harness's newer Go engine: a `>` inside quotes, parentheses, brackets
    /// or braces does not close the block, so `<+(1 > 0)>` works.
    Smart,
}

/// The operation [`crate::Template::run`] performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum EvalMode {
    /// Splice each block's value into the surrounding text.
    #[default]
    Render,
    /// Read the whole text as one JEXL expression whose operands include the
    /// blocks, and return its typed value.
    Evaluate,
}

/// The result of a reference with no value in the context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Unresolved {
    /// Null; rendered as the text `null` (Harness's `RETURN_NULL_IF_UNRESOLVED`).
    #[default]
    Null,
    /// The block's original text is kept (`RETURN_ORIGINAL_EXPRESSION_IF_UNRESOLVED`).
    Keep,
    /// An `unresolved-expression` error naming the path (`THROW_EXCEPTION_IF_UNRESOLVED`).
    Error,
}

/// Bounds that keep every input from hanging or exhausting memory or stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Maximum template text length, in bytes.
    pub max_template_bytes: usize,
    /// Maximum nesting of `<+…>` blocks inside one another. A value above
    /// 200, the deepest nesting that evaluation allows, is read as 200.
    pub max_block_depth: usize,
    /// Maximum nesting of brackets and ternaries within one expression. Pest
    /// recurses about 32 KiB of stack per level in debug builds.
    pub max_expression_depth: usize,
    /// Maximum evaluation steps (nodes, method calls, lookups) per call.
    pub max_steps: u64,
    /// Maximum size of any value and of the rendered text, in bytes. Harness
    /// caps evaluated values at 256 KiB.
    pub max_result_bytes: usize,
    /// Maximum re-resolution depth of string values that contain blocks.
    /// Harness uses 15.
    pub max_resolution_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_template_bytes: 256 * 1024,
            max_block_depth: 16,
            max_expression_depth: 24,
            max_steps: 100_000,
            max_result_bytes: 256 * 1024,
            max_resolution_depth: 15,
        }
    }
}

/// Everything a caller chooses for one render or evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Options {
    pub scan: ScanMode,
    pub mode: EvalMode,
    pub unresolved: Unresolved,
    pub limits: Limits,
}

impl Options {
    /// Options with the given unresolved mode and the other defaults.
    pub fn with_unresolved(unresolved: Unresolved) -> Self {
        Options {
            unresolved,
            ..Options::default()
        }
    }
}
