//! Rendering and evaluation of compiled templates.
//!
//! Inner blocks are evaluated first, innermost to outermost and left to
//! right, and bound to their enclosing expression by their [`Binding`]. A
//! context string that itself contains blocks is resolved again, up to
//! [`Limits::max_resolution_depth`] levels, and a path that leads back to
//! itself is a cycle error.
//!
//! Secrets reach a result only through expressions of the pipeline file.
//! Strings that the context marks as run-time data
//! ([`Context::is_run_time_value`]) are resolved again like any other, but a
//! secret that such a string requests, a secret id that such a string
//! supplies, and a block whose text is spliced from such a string are
//! [`codes::SECRET_FROM_DATA`] errors. An id counts as supplied when
//! evaluating the argument of `secrets.getValue` read run-time data, a
//! value of any type that the context marks, directly or through an inner
//! block. A read counts whatever the argument then does with the value (member,
//! index, method, function, operator), so a map, list or number from the
//! data cannot choose an id either. A secret variable whose name a path
//! segment read from run-time data counts too. Every secret the file's
//! expressions use is reported through [`Context::used_secret`].

use std::borrow::Cow;
use std::ops::Range;

use smallvec::SmallVec;

use crate::error::{ExprError, codes};
use crate::expr::parser::{ParseInput, parse};
use crate::expr::{
    Builtin, Expr, ExprKind, Path, PathPart, PathSegment, PostfixOp, alias_of,
    canonical_with_alias, dotted,
};
use crate::options::{EvalMode, Options, Unresolved};
use crate::template::{Binding, Block, Form, Piece, Template, Unit, assemble, has_block_start};
use crate::value::Value;

mod builtins;
pub mod context;
mod jsonpath;
mod methods;
mod ops;
pub(crate) mod regex;
mod substitute;

pub use context::{Context, RecordingContext};

static NULL: Value = Value::Null;

/// The deepest recursion of expression nodes, blocks and re-resolved values
/// together. It bounds stack use whatever the nesting of the input.
pub(crate) const MAX_RECURSION: usize = 200;

/// The reason evaluation stopped early.
pub(crate) enum Stop {
    Error(ExprError),
    /// A reference is unresolved and the mode is [`Unresolved::Keep`]: the
    /// enclosing top-level block keeps its original text.
    Keep,
}

impl From<ExprError> for Stop {
    fn from(error: ExprError) -> Self {
        Stop::Error(error)
    }
}

pub(crate) type Flow<T> = Result<T, Stop>;

/// Block values or call arguments. Most expressions have at most four, so
/// they stay on the stack rather than costing an allocation per evaluation.
pub(crate) type Values<'a> = SmallVec<[Cow<'a, Value>; 4]>;

/// For each slot of a unit, the path of the run-time data its block read,
/// or `None`. Empty when no block read any.
type SlotDataPaths = SmallVec<[Option<String>; 4]>;

/// Run-time data whose evaluation encloses the current node.
enum DataScope {
    /// A data string resolved again. [`relocate`] names its path in errors.
    Value,
    /// A unit whose text was spliced from the data at this path, or the
    /// value of a path that this data named a segment of.
    Chosen(String),
}

/// State for one render or evaluate call.
pub(crate) struct Evaluator<'c> {
    ctx: &'c dyn Context,
    options: Options,
    steps: u64,
    /// The steps left of the context's shared budget when the evaluation
    /// started, when that is less than `options.limits.max_steps`.
    shared_steps_left: Option<u64>,
    depth: usize,
    /// Paths whose string values are being re-resolved, outermost first.
    resolving: Vec<String>,
    /// The outermost template's compiled patterns.
    regexes: &'c regex::Cache,
    /// The run-time data that encloses the current node, innermost last.
    /// While any does, a secret is an error.
    data_scopes: Vec<DataScope>,
    /// How many lookups so far returned run-time data strings, and the path
    /// of the last one.
    data_reads: u64,
    data_path: String,
    /// The run-time data paths of the slots of the unit being evaluated, so
    /// that reading a slot counts as reading the data its block read.
    slot_data_paths: SlotDataPaths,
    /// The run-time data spliced into the text of the unit being evaluated
    /// (`"<+trigger.payload.env>" == "prod"`), whose literals then carry it.
    spliced_data: Option<String>,
    /// Maps borrowed from the context, with the path they were read at. An
    /// entry read from one of them (`<+pipeline.variables>.x`) is looked up
    /// by its full path, so a template in it resolves as on the direct path.
    /// NOTE: entries reached otherwise (`values()`, the whole map rendered)
    /// keep their unresolved text.
    context_maps: Vec<ContextMap>,
}

/// A map borrowed from the context and the path it was read at.
struct ContextMap {
    address: *const Value,
    segments: Vec<PathSegment>,
    alias: Option<Vec<PathSegment>>,
    /// The run-time data path that chose this map (`pipeline.stages.get(<+x>)`),
    /// so a secret read from it counts as chosen by that data too.
    chosen: Option<String>,
}

impl Template {
    /// Splices each block's value into the text. Collections render as
    /// compact JSON and secrets as `<+secrets.getValue("id")>`.
    pub fn render(&self, ctx: &dyn Context, options: &Options) -> Result<String, ExprError> {
        let mut evaluator = Evaluator::new(ctx, options, &self.regexes);
        let result = evaluator.render_template(self);
        ctx.spent_steps(evaluator.steps);
        match result {
            Ok(text) => Ok(text),
            Err(Stop::Error(error)) => Err(error),
            Err(Stop::Keep) => Ok(self.source.clone()),
        }
    }

    /// Reads the whole text as one JEXL expression whose operands include
    /// the blocks, and returns the typed result. With [`Unresolved::Keep`]
    /// and an unresolved reference, the result is the original text.
    pub fn evaluate(&self, ctx: &dyn Context, options: &Options) -> Result<Value, ExprError> {
        let mut evaluator = Evaluator::new(ctx, options, &self.regexes);
        let result = evaluator.evaluate_template(self);
        ctx.spent_steps(evaluator.steps);
        match result {
            Ok(value) => Ok(value),
            Err(Stop::Error(error)) => Err(error),
            Err(Stop::Keep) => Ok(Value::String(self.source.clone())),
        }
    }

    /// Renders or evaluates, as `options.mode` selects. Rendering returns a
    /// [`Value::String`].
    pub fn run(&self, ctx: &dyn Context, options: &Options) -> Result<Value, ExprError> {
        match options.mode {
            EvalMode::Render => self.render(ctx, options).map(Value::String),
            EvalMode::Evaluate => self.evaluate(ctx, options),
        }
    }
}

impl<'c> Evaluator<'c> {
    pub(crate) fn new(ctx: &'c dyn Context, options: &Options, regexes: &'c regex::Cache) -> Self {
        let shared_steps_left = ctx
            .shared_steps_left()
            .filter(|left| *left < options.limits.max_steps);
        Evaluator {
            ctx,
            options: *options,
            steps: 0,
            shared_steps_left,
            depth: 0,
            resolving: Vec::new(),
            regexes,
            data_scopes: Vec::new(),
            data_reads: 0,
            data_path: String::new(),
            slot_data_paths: SlotDataPaths::new(),
            spliced_data: None,
            context_maps: Vec::new(),
        }
    }

    fn render_template(&mut self, template: &Template) -> Flow<String> {
        let source = template.source.as_str();
        let mut out = String::with_capacity(source.len());
        for piece in &template.pieces {
            match piece {
                Piece::Text(text) => out.push_str(&text.text),
                Piece::Block(block) => match self.eval_block(source, block) {
                    Ok(value) => value.render_into(&mut out),
                    Err(Stop::Keep) => out.push_str(&source[block.range.clone()]),
                    Err(error) => return Err(error),
                },
            }
            if out.len() > self.options.limits.max_result_bytes {
                return Err(self.too_large(out.len(), source, 0..source.len()).into());
            }
        }
        Ok(out)
    }

    fn evaluate_template(&mut self, template: &Template) -> Flow<Value> {
        let source = template.source.as_str();
        let unit = template
            .whole_unit()
            .as_ref()
            .map_err(|e| Stop::Error(e.clone()))?;
        if let [Piece::Block(block)] = template.pieces.as_slice()
            && let Form::Parsed(Expr {
                kind: ExprKind::Slot(0),
                span,
            }) = &unit.form
        {
            // The text is one block: take its value without the slot vector,
            // charging the same step for the slot node as `eval` would.
            let value = self.eval_block(source, block)?;
            self.tick(1, source, span.clone())?;
            let value = value.into_owned();
            self.check_size(&value, source, 0..source.len())?;
            return Ok(value);
        }
        let mut slots = Values::new();
        let mut data_paths = SlotDataPaths::new();
        self.eval_slots(source, &template.pieces, &mut slots, &mut data_paths)?;
        let value = self.eval_unit(
            source,
            unit,
            &template.pieces,
            &slots,
            data_paths,
            0..source.len(),
        )?;
        let value = value.into_owned();
        self.check_size(&value, source, 0..source.len())?;
        Ok(value)
    }

    fn eval_block<'a>(&mut self, source: &'a str, block: &'a Block) -> Flow<Cow<'a, Value>>
    where
        'c: 'a,
    {
        self.enter(source, block.range.clone())?;
        let result = if block.unit.bindings.is_empty() {
            let no_paths = SlotDataPaths::new();
            self.eval_unit(
                source,
                &block.unit,
                &block.pieces,
                &[],
                no_paths,
                block.range.clone(),
            )
        } else {
            let mut slots = Values::new();
            let mut data_paths = SlotDataPaths::new();
            self.eval_slots(source, &block.pieces, &mut slots, &mut data_paths)
                .and_then(|()| {
                    self.eval_unit(
                        source,
                        &block.unit,
                        &block.pieces,
                        &slots,
                        data_paths,
                        block.range.clone(),
                    )
                })
        };
        self.depth -= 1;
        let value = result?;
        self.check_size(&value, source, block.range.clone())?;
        Ok(value)
    }

    /// Evaluates the blocks among `pieces`, left to right, into `slots`,
    /// and records in `data_paths` the run-time data each of them read.
    /// Filling the caller's vectors avoids moving them on return.
    fn eval_slots<'a>(
        &mut self,
        source: &'a str,
        pieces: &'a [Piece],
        slots: &mut Values<'a>,
        data_paths: &mut SlotDataPaths,
    ) -> Flow<()>
    where
        'c: 'a,
    {
        for piece in pieces {
            if let Piece::Block(block) = piece {
                let reads_before = self.data_reads;
                slots.push(self.eval_block(source, block)?);
                if self.data_reads != reads_before {
                    data_paths.resize(slots.len() - 1, None);
                    data_paths.push(Some(self.data_path.clone()));
                }
            }
        }
        Ok(())
    }

    /// Evaluates a unit whose slots are filled. `data_paths` gives the
    /// run-time data each slot read. An expression that reads such a slot
    /// reads that data, and a spliced unit built from it is evaluated as
    /// run-time data.
    fn eval_unit<'a>(
        &mut self,
        source: &'a str,
        unit: &'a Unit,
        pieces: &[Piece],
        slots: &[Cow<'a, Value>],
        data_paths: SlotDataPaths,
        span: Range<usize>,
    ) -> Flow<Cow<'a, Value>>
    where
        'c: 'a,
    {
        match &unit.form {
            Form::Empty => Ok(Cow::Borrowed(&NULL)),
            Form::Parsed(expr) => self.eval_with_slots(expr, source, slots, data_paths),
            Form::Spliced => {
                let data_path = data_paths.iter().flatten().next().cloned();
                let from_data = data_path.is_some();
                self.data_scopes
                    .extend(data_path.clone().map(DataScope::Chosen));
                let outer = match data_path {
                    Some(path) => self.spliced_data.replace(path),
                    None => self.spliced_data.clone(),
                };
                let result = self.eval_spliced(source, unit, pieces, slots, data_paths, span);
                self.spliced_data = outer;
                if from_data {
                    self.data_scopes.pop();
                }
                result.map(Cow::Owned)
            }
        }
    }

    /// Evaluates `expr`, whose slots read the run-time data in `data_paths`.
    fn eval_with_slots<'a>(
        &mut self,
        expr: &'a Expr,
        source: &'a str,
        slots: &[Cow<'a, Value>],
        data_paths: SlotDataPaths,
    ) -> Flow<Cow<'a, Value>>
    where
        'c: 'a,
    {
        // Most units read no run-time data, so they skip the swap.
        if data_paths.is_empty() && self.slot_data_paths.is_empty() {
            return self.eval(expr, source, slots);
        }
        let outer = std::mem::replace(&mut self.slot_data_paths, data_paths);
        let result = self.eval(expr, source, slots);
        self.slot_data_paths = outer;
        result
    }

    /// Returns the value of slot `index`, counting a read of the run-time
    /// data its block read.
    fn read_slot<'a>(&mut self, slots: &[Cow<'a, Value>], index: usize) -> Cow<'a, Value> {
        if let Some(Some(path)) = self.slot_data_paths.get(index) {
            self.data_reads += 1;
            self.data_path.clone_from(path);
        }
        slots[index].clone()
    }

    /// Evaluates a unit whose text includes spliced block values. When the
    /// assembled text is not an expression, or is a lone name with no value
    /// (`<+<+f>harness>`), the result is the assembled text itself.
    fn eval_spliced<'a>(
        &mut self,
        source: &'a str,
        unit: &Unit,
        pieces: &[Piece],
        slots: &[Cow<'a, Value>],
        data_paths: SlotDataPaths,
        span: Range<usize>,
    ) -> Flow<Value>
    where
        'c: 'a,
    {
        let spliced: Vec<Option<String>> = unit
            .bindings
            .iter()
            .zip(slots)
            .map(|(binding, value)| (*binding == Binding::Splice).then(|| value.render()))
            .collect();
        let (text, offsets) = assemble(pieces, &unit.bindings, &spliced);
        let plain = || {
            let rendered: Vec<Option<String>> = slots.iter().map(|v| Some(v.render())).collect();
            let all_spliced = vec![Binding::Splice; slots.len()];
            Value::String(
                assemble(pieces, &all_spliced, &rendered)
                    .0
                    .trim()
                    .to_string(),
            )
        };
        self.tick(1 + text.len() as u64 / 64, source, span.clone())?;
        if text.len() > self.options.limits.max_result_bytes {
            return Err(self.too_large(text.len(), source, span).into());
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }

        let input = ParseInput {
            text: &text,
            source,
            offsets: &offsets,
            slot_count: slots.len(),
            max_nesting: self.options.limits.max_expression_depth,
        };
        let expr = match parse(&input) {
            Ok(expr) => expr,
            Err(error) if error.code == codes::SYNTAX => return Ok(plain()),
            Err(error) => return Err(error.into()),
        };
        if let ExprKind::Path(Path::Fixed {
            segments: fixed,
            alias: None,
        }) = &expr.kind
            && fixed.len() == 1
            && self.ctx.lookup(fixed).is_none()
        {
            return Ok(plain());
        }
        let value = self.eval_with_slots(&expr, source, slots, data_paths)?;
        Ok(value.into_owned())
    }

    /// Evaluates one expression node.
    pub(crate) fn eval<'a>(
        &mut self,
        expr: &'a Expr,
        source: &'a str,
        slots: &[Cow<'a, Value>],
    ) -> Flow<Cow<'a, Value>>
    where
        'c: 'a,
    {
        self.tick(1, source, expr.span.clone())?;
        self.enter(source, expr.span.clone())?;
        let result = self.eval_node(expr, source, slots);
        self.depth -= 1;
        result
    }

    fn eval_node<'a>(
        &mut self,
        expr: &'a Expr,
        source: &'a str,
        slots: &[Cow<'a, Value>],
    ) -> Flow<Cow<'a, Value>>
    where
        'c: 'a,
    {
        let span = expr.span.clone();
        match &expr.kind {
            ExprKind::Literal(value) => Ok(Cow::Borrowed(value)),
            ExprKind::Slot(i) => Ok(self.read_slot(slots, *i)),
            ExprKind::List(items) => {
                let mut values = Vec::with_capacity(items.len());
                for item in items {
                    values.push(self.eval(item, source, slots)?.into_owned());
                }
                let value = Value::List(values);
                self.check_size(&value, source, span)?;
                Ok(Cow::Owned(value))
            }
            ExprKind::Map(entries) => {
                let mut map =
                    crate::value::Map::with_capacity_and_hasher(entries.len(), Default::default());
                for (key, value) in entries {
                    let key = self.eval(key, source, slots)?.render();
                    let value = self.eval(value, source, slots)?.into_owned();
                    map.insert(key, value);
                }
                let value = Value::Map(map);
                self.check_size(&value, source, span)?;
                Ok(Cow::Owned(value))
            }
            ExprKind::Path(path) => self.eval_path(path, source, slots, span),
            ExprKind::Unary { ops, operand } => {
                let mut value = self.eval(operand, source, slots)?;
                for (op, at) in ops.iter().rev() {
                    value = Cow::Owned(ops::unary(*op, &value, source, *at..span.end)?);
                }
                Ok(value)
            }
            ExprKind::Binary { first, rest } => self.eval_binary(first, rest, source, slots),
            ExprKind::Ternary {
                condition,
                then,
                otherwise,
            } => {
                let reads_before = self.data_reads;
                let test = self.eval(condition, source, slots)?;
                let branch = match test.as_ref() {
                    Value::Null => false,
                    value => ops::truthy(value, source, condition.span.clone())?,
                };
                let chosen = self.read_since(reads_before);
                let (taken, other) = if branch {
                    (then, otherwise)
                } else {
                    (otherwise, then)
                };
                let result = self.eval(taken, source, slots)?;
                // The data chooses a secret only when the other branch
                // would give a different one: `x != null ? <secret> : ""`
                // decides whether the step gets the file's secret, not which.
                if chosen.is_some() && Value::secret_reference(&result).is_some() {
                    let alternative = self.eval(other, source, slots).ok();
                    let other_id = alternative.as_deref().and_then(Value::secret_reference);
                    if other_id.is_some() && other_id != Value::secret_reference(&result) {
                        reject_chosen_secret(chosen, &result, source, span)?;
                    }
                }
                Ok(result)
            }
            ExprKind::Elvis { value, fallback } => {
                let reads_before = self.data_reads;
                let first = self.eval(value, source, slots)?;
                let keep = match first.as_ref() {
                    Value::Null => false,
                    other => ops::truthy(other, source, value.span.clone())?,
                };
                let chosen = self.read_since(reads_before);
                if keep {
                    return Ok(first);
                }
                let result = self.eval(fallback, source, slots)?;
                // As for a ternary: the data chooses only between two secrets.
                let first_id = Value::secret_reference(&first);
                if first_id.is_some() && first_id != Value::secret_reference(&result) {
                    reject_chosen_secret(chosen, &result, source, span)?;
                }
                Ok(result)
            }
            ExprKind::Postfix { base, ops } => {
                let reads_before = self.data_reads;
                let mut value = self.eval(base, source, slots)?;
                for op in ops {
                    value = self.apply_postfix(value, op, source, slots)?;
                }
                // Text that mixes run-time data with secret reference text
                // lets the data move which part an index or method picks
                // (`"<data>,<secret a>,<secret b>".split(",")[2]`).
                if !ops.is_empty() {
                    let chosen = self.read_since(reads_before);
                    reject_chosen_secret(chosen, &value, source, span.clone())?;
                }
                Ok(value)
            }
            ExprKind::Size(operand) => {
                let value = self.eval(operand, source, slots)?;
                Ok(Cow::Owned(ops::size(&value)))
            }
            ExprKind::Builtin { function, args } => {
                let reads_before = self.data_reads;
                let mut values = Values::with_capacity(args.len());
                for arg in args {
                    values.push(self.eval(arg, source, slots)?);
                }
                let value = self.call_builtin(*function, &values, source, span.clone())?;
                if let Value::Secret(handle) = &value {
                    if *function == Builtin::SecretsGetValue && self.data_reads != reads_before {
                        return Err(
                            secret_id_from_data(&handle.id, &self.data_path, source, span).into(),
                        );
                    }
                    self.use_secret(&handle.id, source, span.clone())?;
                } else {
                    let chosen = self.read_since(reads_before);
                    reject_chosen_secret(chosen, &value, source, span.clone())?;
                }
                self.check_size(&value, source, span)?;
                Ok(Cow::Owned(value))
            }
        }
    }

    fn eval_binary<'a>(
        &mut self,
        first: &'a Expr,
        rest: &'a [(crate::expr::BinaryOp, Range<usize>, Expr)],
        source: &'a str,
        slots: &[Cow<'a, Value>],
    ) -> Flow<Cow<'a, Value>>
    where
        'c: 'a,
    {
        use crate::expr::BinaryOp;

        let mut acc = self.eval(first, source, slots)?;
        for (op, op_span, operand) in rest {
            // `&&` and `||` skip their right operand when the left decides.
            if matches!(op, BinaryOp::And | BinaryOp::Or) {
                let left = ops::truthy(&acc, source, op_span.clone())?;
                if (*op == BinaryOp::And && !left) || (*op == BinaryOp::Or && left) {
                    acc = Cow::Owned(Value::Bool(left));
                    continue;
                }
                let right = self.eval(operand, source, slots)?;
                acc = Cow::Owned(Value::Bool(ops::truthy(
                    &right,
                    source,
                    operand.span.clone(),
                )?));
                continue;
            }

            let right = self.eval(operand, source, slots)?;
            let value = match op {
                BinaryOp::Match | BinaryOp::NotMatch => {
                    let matched = self.match_operator(&acc, &right, source, op_span.clone())?;
                    Value::Bool(matched == (*op == BinaryOp::Match))
                }
                _ => ops::binary(*op, &acc, &right, source, op_span.clone())?,
            };
            self.check_size(&value, source, op_span.clone())?;
            acc = Cow::Owned(value);
        }
        Ok(acc)
    }

    /// `=~`: membership when the right operand is a list or map, otherwise a
    /// whole-string regex match.
    fn match_operator(
        &mut self,
        left: &Value,
        right: &Value,
        source: &str,
        span: Range<usize>,
    ) -> Flow<bool> {
        match (left, right) {
            (Value::Secret(_), _) | (_, Value::Secret(_)) => {
                Err(ops::secret_error(source, span).into())
            }
            (_, Value::List(items)) => Ok(items.iter().any(|item| ops::strict_equals(left, item))),
            (_, Value::Map(entries)) => {
                Ok(matches!(left, Value::String(k) if entries.contains_key(k)))
            }
            (Value::Null, _) | (_, Value::Null) => Ok(false),
            (_, Value::String(pattern)) => {
                let regex = self.regex_anchored(pattern, source, span.clone())?;
                let text = left.render_text();
                regex::full_match(&regex, &text, source, span).map_err(Stop::Error)
            }
            _ => Err(ExprError::new(
                codes::TYPE_MISMATCH,
                format!(
                    "`=~` needs a regex string, a list or a map on the right, not {}",
                    right.type_with_article()
                ),
                "write `value =~ \"pattern\"` or `value =~ [\"a\", \"b\"]`",
                source,
                span,
            )
            .into()),
        }
    }

    fn apply_postfix<'a>(
        &mut self,
        value: Cow<'a, Value>,
        op: &'a PostfixOp,
        source: &'a str,
        slots: &[Cow<'a, Value>],
    ) -> Flow<Cow<'a, Value>>
    where
        'c: 'a,
    {
        match op {
            PostfixOp::Member { name, span } => {
                if let Some(found) = self.context_entry(&value, name, source, span.clone()) {
                    return found;
                }
                ops::access(value, ops::Key::Name(name), source, span.clone()).map_err(Stop::Error)
            }
            PostfixOp::Index { index, span } => {
                let reads_before = self.data_reads;
                let key = self.eval(index, source, slots)?;
                let chosen = self.read_since(reads_before);
                if let Value::String(name) = key.as_ref()
                    && let Some(found) = self.with_chosen(chosen.clone(), |this| {
                        this.context_entry(&value, name, source, span.clone())
                    })
                {
                    return found;
                }
                let rendered;
                let key = match key.as_ref() {
                    Value::Int(i) => ops::Key::Index(*i),
                    Value::String(name) => ops::Key::Name(name),
                    other => {
                        rendered = other.render();
                        ops::Key::Name(&rendered)
                    }
                };
                let result = ops::access(value, key, source, span.clone()).map_err(Stop::Error)?;
                reject_chosen_secret(chosen, &result, source, span.clone())?;
                Ok(result)
            }
            PostfixOp::Method { name, args, span } => {
                let reads_before = self.data_reads;
                let mut values = Values::with_capacity(args.len());
                for arg in args {
                    values.push(self.eval(arg, source, slots)?);
                }
                let chosen = self.read_since(reads_before);
                if name == "get"
                    && let [key] = values.as_slice()
                    && let Value::String(key) = key.as_ref()
                    && let Some(found) = self.with_chosen(chosen.clone(), |this| {
                        this.context_entry(&value, key, source, span.clone())
                    })
                {
                    return found;
                }
                let cost = 1 + value.approximate_size() as u64 / 64;
                self.tick(cost, source, span.clone())?;
                let result = self.call_method(&value, name, &values, source, span.clone())?;
                self.check_size(&result, source, span.clone())?;
                reject_chosen_secret(chosen, &result, source, span.clone())?;
                Ok(Cow::Owned(result))
            }
        }
    }

    fn eval_path<'a>(
        &mut self,
        path: &'a Path,
        source: &'a str,
        slots: &[Cow<'a, Value>],
        span: Range<usize>,
    ) -> Flow<Cow<'a, Value>>
    where
        'c: 'a,
    {
        let reads_before = self.data_reads;
        let (segments, alias) = match path {
            Path::Fixed { segments, alias } => (
                Cow::Borrowed(segments.as_slice()),
                alias.as_deref().map(Cow::Borrowed),
            ),
            Path::Computed(parts) => {
                let mut built = Vec::with_capacity(parts.len());
                for part in parts {
                    built.push(match part {
                        PathPart::Fixed(segment) => segment.clone(),
                        PathPart::Slot(i) => segment_of(&self.read_slot(slots, *i)),
                        PathPart::Computed(expr) => {
                            segment_of(self.eval(expr, source, slots)?.as_ref())
                        }
                    });
                }
                let alias = alias_of(&built).map(Cow::Owned);
                (Cow::Owned(built), alias)
            }
        };
        // Run-time data that names a segment (`pipeline.variables.<+x>`)
        // chooses which secret variable the path reads.
        let data_chose_path = self.data_reads != reads_before;
        if data_chose_path {
            self.data_scopes
                .push(DataScope::Chosen(self.data_path.clone()));
        }
        let result = self.look_up(&segments, alias.as_deref(), source, span);
        if data_chose_path {
            self.data_scopes.pop();
        }
        result
    }

    /// Returns the value at `segments` (or at its `alias`), resolving a
    /// string that contains blocks again.
    fn look_up<'a>(
        &mut self,
        segments: &[PathSegment],
        alias: Option<&[PathSegment]>,
        source: &str,
        span: Range<usize>,
    ) -> Flow<Cow<'a, Value>>
    where
        'c: 'a,
    {
        if matches!(segments.first(), Some(PathSegment::Key(root)) if root == "secrets") {
            return Err(secrets_read_as_data(segments, source, span).into());
        }
        let ctx = self.ctx;
        let found = ctx
            .lookup(segments)
            .or_else(|| alias.and_then(|a| ctx.lookup(a)));
        let from_data = found.as_deref().is_some_and(|value| {
            ctx.is_run_time_value(segments, value)
                || alias.is_some_and(|alias| ctx.is_loop_data(alias))
        });
        if from_data {
            self.data_reads += 1;
            self.data_path = dotted(&canonical_with_alias(segments, alias));
        }
        match found {
            Some(Cow::Borrowed(Value::String(text))) if has_block_start(text) => {
                let name = dotted(&canonical_with_alias(segments, alias));
                self.reresolve(name, text, from_data, source, span)
                    .map(Cow::Owned)
            }
            Some(Cow::Owned(Value::String(text))) if has_block_start(&text) => {
                let name = dotted(&canonical_with_alias(segments, alias));
                self.reresolve(name, &text, from_data, source, span)
                    .map(Cow::Owned)
            }
            Some(value) => {
                if let Value::Secret(handle) = value.as_ref() {
                    self.use_secret(&handle.id, source, span)?;
                }
                if let Cow::Borrowed(map @ Value::Map(_)) = value {
                    let chosen = self.chosen_path();
                    match self
                        .context_maps
                        .iter_mut()
                        .find(|m| std::ptr::eq(m.address, map))
                    {
                        Some(known) => {
                            if known.chosen.is_none() {
                                known.chosen = chosen;
                            }
                        }
                        None => self.context_maps.push(ContextMap {
                            address: map,
                            segments: segments.to_vec(),
                            alias: alias.map(<[PathSegment]>::to_vec),
                            chosen,
                        }),
                    }
                }
                Ok(value)
            }
            None => {
                let name = dotted(&canonical_with_alias(segments, alias));
                // A payload key that this run lacks decides a condition
                // as much as its value would on another run.
                if ctx.is_absent_run_time_data(segments) {
                    self.data_reads += 1;
                    self.data_path.clone_from(&name);
                }
                self.unresolved(&name, source, span)
            }
        }
    }

    /// Looks up entry `key` of `map` by its full path when `map` was borrowed
    /// from the context, so that a template in the entry resolves as it does
    /// on the direct path. Returns `None` for any other value or a missing key.
    fn context_entry<'a>(
        &mut self,
        map: &Cow<'a, Value>,
        key: &str,
        source: &str,
        span: Range<usize>,
    ) -> Option<Flow<Cow<'a, Value>>>
    where
        'c: 'a,
    {
        let Cow::Borrowed(Value::Map(entries)) = map else {
            return None;
        };
        if !entries.contains_key(key) {
            return None;
        }
        let address: *const Value = map.as_ref();
        let known = self
            .context_maps
            .iter()
            .find(|m| std::ptr::eq(m.address, address))?;
        let with_key = |path: &[PathSegment]| {
            let mut path = path.to_vec();
            path.push(PathSegment::Key(key.to_string()));
            path
        };
        let segments = with_key(&known.segments);
        let alias = known.alias.as_deref().map(with_key);
        let chosen = known.chosen.clone();
        Some(self.with_chosen(chosen, |this| {
            this.look_up(&segments, alias.as_deref(), source, span)
        }))
    }

    /// Returns the run-time data path that chose the node being evaluated,
    /// if any.
    fn chosen_path(&self) -> Option<String> {
        match self.data_scopes.last() {
            Some(DataScope::Chosen(path)) => Some(path.clone()),
            _ => None,
        }
    }

    /// Runs `f` with the node counted as chosen by the run-time data at
    /// `chosen`, when given, so that a secret it reads is an error.
    fn with_chosen<T>(&mut self, chosen: Option<String>, f: impl FnOnce(&mut Self) -> T) -> T {
        let Some(path) = chosen else {
            return f(self);
        };
        self.data_scopes.push(DataScope::Chosen(path));
        let result = f(self);
        self.data_scopes.pop();
        result
    }

    /// Returns the path of the run-time data read since `reads_before`, if
    /// any: a key or argument computed from it chooses what is read. In a
    /// unit whose text has run-time data spliced in, any literal may be that
    /// data, so every choice counts as made by it.
    fn read_since(&self, reads_before: u64) -> Option<String> {
        if self.data_reads != reads_before {
            Some(self.data_path.clone())
        } else {
            self.spliced_data.clone()
        }
    }

    fn unresolved<'a>(
        &mut self,
        name: &str,
        source: &str,
        span: Range<usize>,
    ) -> Flow<Cow<'a, Value>> {
        self.ctx.missed(name);
        match self.options.unresolved {
            Unresolved::Null => Ok(Cow::Borrowed(&NULL)),
            Unresolved::Keep => Err(Stop::Keep),
            Unresolved::Error => Err(ExprError::new(
                codes::UNRESOLVED,
                format!("unresolved expression `{name}`"),
                format!("give `{name}` a value in the context, or check the path for typos"),
                source,
                span,
            )
            .into()),
        }
    }

    /// Resolves a context string that contains blocks: as an expression when
    /// the whole text is one, otherwise by rendering it. With `from_data`,
    /// the string is run-time data and may use no secret.
    fn reresolve(
        &mut self,
        name: String,
        text: &str,
        from_data: bool,
        source: &str,
        span: Range<usize>,
    ) -> Flow<Value> {
        if let Some(first) = self.resolving.iter().position(|p| *p == name) {
            let mut chain: Vec<String> = self.resolving[first..]
                .iter()
                .map(|p| format!("`{p}`"))
                .collect();
            chain.push(format!("`{name}`"));
            return Err(ExprError::new(
                codes::CYCLE,
                format!("expression cycle: {}", chain.join(" → ")),
                "change one of these values so it no longer refers back to itself",
                source,
                span,
            )
            .into());
        }
        if self.resolving.len() >= self.options.limits.max_resolution_depth {
            return Err(ExprError::new(
                codes::RECURSION_LIMIT,
                format!(
                    "values refer to values more than {} levels deep at `{name}`",
                    self.options.limits.max_resolution_depth
                ),
                "shorten the chain of variables that refer to other variables",
                source,
                span,
            )
            .into());
        }

        let limits = self.options.limits;
        let template = Template::parse_with_limits(text, self.options.scan, limits)
            .map_err(|e| relocate(e, &name, source, span.clone()))?;
        if !template.has_blocks() {
            return Ok(Value::String(text.to_string()));
        }

        self.resolving.push(name.clone());
        if from_data {
            self.data_scopes.push(DataScope::Value);
        }
        let result = match template.whole_unit() {
            _ if template.joins_as_text() => self.render_template(&template).map(Value::String),
            Ok(_) => self.evaluate_template(&template),
            Err(error) if error.code == codes::SYNTAX => {
                self.render_template(&template).map(Value::String)
            }
            Err(error) => Err(Stop::Error(error.clone())),
        };
        if from_data {
            self.data_scopes.pop();
        }
        self.resolving.pop();
        match result {
            Ok(value) => Ok(value),
            Err(Stop::Keep) => Ok(Value::String(text.to_string())),
            Err(Stop::Error(error)) => Err(relocate(error, &name, source, span).into()),
        }
    }

    /// Reports secret `id` as used by the pipeline file, or fails when the
    /// current node is evaluated as run-time data.
    fn use_secret(&mut self, id: &str, source: &str, span: Range<usize>) -> Flow<()> {
        if let Some(DataScope::Chosen(path)) = self.data_scopes.last() {
            return Err(secret_id_from_data(id, path, source, span).into());
        }
        if !self.data_scopes.is_empty() {
            return Err(ExprError::new(
                codes::SECRET_FROM_DATA,
                format!(
                    "run-time data requests secret `{id}`, which only the pipeline file may request"
                ),
                "remove the secret reference from the trigger, codebase or step output value, \
                 or reference the secret in the pipeline file",
                source,
                span,
            )
            .into());
        }
        self.ctx.used_secret(id);
        Ok(())
    }

    fn enter(&mut self, source: &str, span: Range<usize>) -> Flow<()> {
        self.depth += 1;
        if self.depth > MAX_RECURSION {
            self.depth -= 1;
            return Err(ExprError::new(
                codes::NESTING_LIMIT,
                format!("evaluation nests deeper than {MAX_RECURSION} levels"),
                "split the expression into variables",
                source,
                span,
            )
            .into());
        }
        Ok(())
    }

    /// Returns a compiled search pattern and charges the budget for one
    /// regex operation.
    pub(crate) fn regex(
        &mut self,
        pattern: &str,
        source: &str,
        span: Range<usize>,
    ) -> Flow<std::sync::Arc<fancy_regex::Regex>> {
        self.tick(regex::STEPS_PER_OPERATION, source, span.clone())?;
        self.regexes.compile(pattern, source, span)
    }

    /// Returns a compiled whole-string pattern and charges the budget for one
    /// regex operation.
    pub(crate) fn regex_anchored(
        &mut self,
        pattern: &str,
        source: &str,
        span: Range<usize>,
    ) -> Flow<std::sync::Arc<fancy_regex::Regex>> {
        self.tick(regex::STEPS_PER_OPERATION, source, span.clone())?;
        self.regexes.compile_anchored(pattern, source, span)
    }

    pub(crate) fn tick(&mut self, cost: u64, source: &str, span: Range<usize>) -> Flow<()> {
        self.steps += cost;
        if let Some(left) = self.shared_steps_left
            && self.steps > left
        {
            return Err(ExprError::new(
                codes::SHARED_BUDGET_EXCEEDED,
                "the expressions evaluated before this one took the whole evaluation budget they share",
                "simplify the expressions, such as variables that read other variables many times over; the shared budget bounds the time of a whole resolution",
                source,
                span,
            )
            .into());
        }
        if self.steps > self.options.limits.max_steps {
            return Err(ExprError::new(
                codes::BUDGET_EXCEEDED,
                format!(
                    "evaluation took more than {} steps",
                    self.options.limits.max_steps
                ),
                "simplify the expression; the step budget bounds evaluation time",
                source,
                span,
            )
            .into());
        }
        Ok(())
    }

    pub(crate) fn check_size(&self, value: &Value, source: &str, span: Range<usize>) -> Flow<()> {
        let size = value.approximate_size();
        if size > self.options.limits.max_result_bytes {
            return Err(self.too_large(size, source, span).into());
        }
        Ok(())
    }

    fn too_large(&self, size: usize, source: &str, span: Range<usize>) -> ExprError {
        result_too_large(
            &format!("about {size}"),
            self.options.limits.max_result_bytes,
            source,
            span,
        )
    }
}

/// Fails when `value`, which run-time data at the path `chosen` selected
/// (an index, a method argument, a ternary's condition), contains a
/// secret, because the data would choose which of the file's secrets a
/// step gets.
fn reject_chosen_secret(
    chosen: Option<String>,
    value: &Value,
    source: &str,
    span: Range<usize>,
) -> Flow<()> {
    if let Some(data_path) = chosen
        && let Some(id) = Value::secret_reference(value)
    {
        return Err(ExprError::new(
            codes::SECRET_FROM_DATA,
            format!("run-time data (`{data_path}`) picks secret `{id}` among the file's secrets"),
            "let a runtime input or a pipeline variable make the choice, or use two steps with `when` conditions",
            source,
            span,
        )
        .into());
    }
    Ok(())
}

/// Builds the error for secret `id`, which run-time data at `data_path`
/// chose.
fn secret_id_from_data(id: &str, data_path: &str, source: &str, span: Range<usize>) -> ExprError {
    ExprError::new(
        codes::SECRET_FROM_DATA,
        format!("the id of secret `{id}` comes from run-time data (`{data_path}`)"),
        "write the secret id in the pipeline file; run-time data cannot choose the secret a step gets",
        source,
        span,
    )
}

/// Builds the error for a path under `secrets` read as data
/// (`<+secrets.tok>`, `<+secrets>`): only `secrets.getValue("ID")` reads a
/// secret, and then as a secret, never as a value from the context.
fn secrets_read_as_data(segments: &[PathSegment], source: &str, span: Range<usize>) -> ExprError {
    let help = match segments {
        [_, PathSegment::Key(id)] if id != "getValue" => {
            format!("read the secret with `<+secrets.getValue(\"{id}\")>`")
        }
        _ => "read a secret with `<+secrets.getValue(\"ID\")>`".to_string(),
    };
    ExprError::new(
        codes::SECRET_OPAQUE,
        format!(
            "`{}` reads the secret store as data, which no expression may do",
            dotted(segments)
        ),
        help,
        source,
        span,
    )
}

/// Builds the `result-too-large` error. `size` describes the result's size
/// in bytes, such as `about 300000` or `at least 300000`.
pub(crate) fn result_too_large(
    size: &str,
    max_bytes: usize,
    source: &str,
    span: Range<usize>,
) -> ExprError {
    // The default limit is Harness's own; a caller's other limit is not.
    let help = if max_bytes == crate::options::Limits::default().max_result_bytes {
        "Harness caps evaluated values at 256 KiB; produce a smaller value"
    } else {
        "produce a smaller value, or raise the result limit"
    };
    ExprError::new(
        codes::RESULT_TOO_LARGE,
        format!("result is {size} bytes, larger than the limit of {max_bytes} bytes"),
        help,
        source,
        span,
    )
}

/// Turns a computed key into a path segment: integers index, everything
/// else is rendered as a map key.
fn segment_of(value: &Value) -> PathSegment {
    match value {
        Value::Int(i) => PathSegment::Index(*i),
        other => PathSegment::Key(other.render()),
    }
}

/// Moves an error found in a context value to the reference that used it.
fn relocate(error: ExprError, name: &str, source: &str, span: Range<usize>) -> ExprError {
    let message = if error.code == codes::CYCLE
        || error.code == codes::RECURSION_LIMIT
        || error.message.contains("(in the value of")
    {
        error.message
    } else {
        format!("{} (in the value of `{name}`)", error.message)
    };
    ExprError::new(error.code, message, error.help, source, span)
}
