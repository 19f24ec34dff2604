//! Runtime inputs: finding every `<+input>` field with its input path,
//! applying input sets and `--input` values in order, and listing the
//! inputs for `basso inputs`.

use std::collections::HashSet;

use indexmap::IndexMap;
use serde::Serialize;

use crate::diagnostic::{Diagnostic, Span};
use crate::input::{RuntimeInput, codes as input_codes};
use crate::pipeline::field::{ValueKind, classify};
use crate::pipeline::model::{DocumentKind, Report};
use crate::pipeline::paths::{FieldType, Visit, field_type, is_text_map_entry, walk};
use crate::pipeline::suggest::closest;
use crate::pipeline::validate::{INVALID_ENV_NAME_HELP, is_invalid_env_name};
use crate::pipeline::yaml::{Limits, Node, NodeValue, Style, scalar_to_json};
use crate::value::Value;

/// One runtime-input field of a pipeline.
#[derive(Debug, Clone)]
pub struct InputField<'a> {
    /// Input path, such as `pipeline.stages.build.spec.execution.steps.pg.spec.image`.
    pub path: String,
    pub node: &'a Node,
    pub input: RuntimeInput,
    /// The type `--input` values and defaults are read as: the field's
    /// type, or `Number` for a variable of `type: Number`.
    pub value_type: FieldType,
}

/// Collects every runtime-input field under the pipeline node. Malformed
/// modifiers are reported and the field is skipped.
pub fn collect<'a>(
    report: &mut Report,
    pipeline: &'a Node,
    source: &str,
) -> IndexMap<String, InputField<'a>> {
    let mut fields: IndexMap<String, InputField<'a>> = IndexMap::new();
    // A node's `variables` are visited after the node, so the paths of its
    // Number variables are known when their values are reached.
    let mut number_variables = HashSet::new();
    walk(pipeline, "pipeline", &mut |path, node| {
        record_number_variables(path, node, &mut number_variables);
        let Some(text) = node.as_str() else {
            return Visit::Descend;
        };
        let kind = classify(text);
        if kind != ValueKind::RuntimeInput {
            if kind == ValueKind::Expression && text.contains(RUNTIME_INPUT) {
                report.push(input_not_first(path, node, source));
            }
            return Visit::Descend;
        }
        match RuntimeInput::parse(text) {
            Ok(input) => {
                let value_type = value_type_at(path, &number_variables);
                // A key with dots (`a.b`) and nested keys (`a: {b: …}`)
                // give the same path, which one value would then fill.
                if let Some(first) = fields.get(path) {
                    report.push(
                        Diagnostic::error(
                            "duplicate-input-path",
                            format!("two runtime inputs have the input path `{path}`, so one value would fill both"),
                            node.span,
                        )
                        .with_help("rename the key that contains dots, or nest it as the other one is")
                        .with_label(first.node.span, "the other runtime input with this path"),
                    );
                    return Visit::Descend;
                }
                fields.insert(
                    path.to_string(),
                    InputField {
                        path: path.to_string(),
                        node,
                        input,
                        value_type,
                    },
                );
            }
            Err(error) => {
                let mut diagnostic = expr_diagnostic(&error, source, node);
                diagnostic.help = Some(error.help.clone());
                report.push(diagnostic);
            }
        }
        Visit::Descend
    });
    fields
}

const RUNTIME_INPUT: &str = "<+input>";

/// Returns the warning for a field whose text has `<+input>` after other
/// text. Only a value that starts with `<+input>` is a runtime input, so
/// nothing requests this one and the block renders as null.
fn input_not_first(path: &str, node: &Node, source: &str) -> Diagnostic {
    let slice = source
        .get(node.span.byte_start..node.span.byte_end)
        .unwrap_or_default();
    // The text's offset differs from the source's in a quoted or block
    // scalar, so the block is found again in the source.
    let span = match slice.find(RUNTIME_INPUT) {
        Some(found) => Span::from_byte_range_within(
            source,
            node.span,
            node.span.byte_start + found,
            node.span.byte_start + found + RUNTIME_INPUT.len(),
        ),
        None => node.span,
    };
    Diagnostic::warning(
        "runtime-input-not-first",
        format!(
            "`{path}` has `<+input>` after other text, so it is not a runtime input: nothing asks for its value and it renders as null"
        ),
        span,
    )
    .with_help("start the value with `<+input>`, or give the input its own variable and write `<+pipeline.variables.NAME>` where the text needs it")
}

/// Adds the paths of the `type: Number` variables of `node`, whose path is
/// `path`, to `paths`.
fn record_number_variables(path: &str, node: &Node, paths: &mut HashSet<String>) {
    let Some(variables) = node.get("variables").and_then(Node::as_sequence) else {
        return;
    };
    for variable in variables {
        if variable.get("type").and_then(Node::as_str) == Some("Number")
            && let Some(name) = variable.get("name").and_then(Node::as_str)
        {
            paths.insert(format!("{path}.variables.{name}"));
        }
    }
}

/// Reports each runtime input that `inputs` and `resolve` reject: modifiers
/// that do not parse, a `.regex(...)` pattern that does not compile, and a
/// `.default(...)` that fails its own `.allowedValues(...)` or `.regex(...)`.
/// A default must also be of the field's type (a number for a `type: Number`
/// variable). Defaults that contain an expression are skipped because their
/// value is known only at resolution.
pub fn check_defaults(report: &mut Report, pipeline: &Node, source: &str) {
    let mut number_variables = HashSet::new();
    walk(pipeline, "pipeline", &mut |path, node| {
        record_number_variables(path, node, &mut number_variables);
        let Some(text) = node.as_str() else {
            return Visit::Descend;
        };
        let kind = classify(text);
        if kind != ValueKind::RuntimeInput {
            if kind == ValueKind::Expression && text.contains(RUNTIME_INPUT) {
                report.push(input_not_first(path, node, source));
            }
            return Visit::Descend;
        }
        let input = match RuntimeInput::parse(text) {
            Ok(input) => input,
            Err(error) => {
                report.push(expr_diagnostic(&error, source, node));
                return Visit::Descend;
            }
        };
        check_plain_quotes(report, path, node, &input);
        check_repeated_modifiers(report, path, node, source, &input);
        if let Err(error) = input.check_regex() {
            report.push(expr_diagnostic(&error, source, node));
            return Visit::Descend;
        }
        if input
            .default
            .as_ref()
            .is_some_and(|default| default.render().contains("<+"))
        {
            return Visit::Descend;
        }
        if let Err(error) = input.validate_default()
            && matches!(
                error.code,
                input_codes::VALUE_NOT_ALLOWED | input_codes::VALUE_MISMATCHES_REGEX
            )
        {
            report.error(
                error.code,
                format!("`{path}`: {}", error.message),
                node.span,
                error.help,
            );
        }
        let value_type = value_type_at(path, &number_variables);
        if let Some(Value::String(default)) = &input.default
            && is_scalar_type(value_type)
        {
            typed_default(report, path, node, default, value_type);
        }
        Visit::Descend
    });
}

/// Warns about choices that start or end with a plain `"` or `'`. Harness
/// groups a choice only with `\"…\"` or `\'…\'`, so `allowedValues(a,"b,c")`
/// gives the choices `a`, `"b` and `c"`, and the quotes become part of them.
fn check_plain_quotes(report: &mut Report, path: &str, node: &Node, input: &RuntimeInput) {
    let Some(choices) = input.choices() else {
        return;
    };
    let is_plain_quote = |c: char| c == '"' || c == '\'';
    let quoted = choices
        .iter()
        .any(|choice| choice.starts_with(is_plain_quote) || choice.ends_with(is_plain_quote));
    if !quoted {
        return;
    }
    let listed: Vec<String> = choices.iter().map(|choice| format!("`{choice}`")).collect();
    report.warning(
        "plain-quotes-in-choices",
        format!(
            "`{path}`: plain quotes do not group choices, so the allowed values are {}",
            listed.join(", ")
        ),
        node.span,
        "write `\\\"…\\\"` (a backslash before each quote) to keep a comma inside one value, \
         or remove the quotes",
    );
}

/// Warns about a modifier written more than once, such as
/// `.default(a).default(b)`. basso applies the last one, and Harness does
/// not document which one it reads.
fn check_repeated_modifiers(
    report: &mut Report,
    path: &str,
    node: &Node,
    source: &str,
    input: &RuntimeInput,
) {
    let repeated = input.repeated_modifiers();
    for (index, (name, range)) in repeated.iter().enumerate() {
        // One warning per modifier, at its last use.
        if repeated[index + 1..].iter().any(|(later, _)| later == name) {
            continue;
        }
        let written = node.as_str().and_then(|text| text.get(range.clone()));
        let last = written.unwrap_or(name);
        report.push(
            Diagnostic::warning(
                "repeated-modifier",
                format!("`{path}`: `.{name}(…)` is given more than once, and only the last one, `{last}`, applies"),
                text_span(source, node, range.clone()),
            )
            .with_help(format!("keep one `.{name}(…)`, because Harness does not document which one it reads")),
        );
    }
}

/// Returns the type runtime-input values at `path` are read as.
fn value_type_at(path: &str, number_variables: &HashSet<String>) -> FieldType {
    if number_variables.contains(path) {
        FieldType::Number
    } else {
        field_type(path)
    }
}

/// Converts an engine error in a scalar's text into a diagnostic in the
/// file. Offsets are exact for plain scalars; for quoted and block scalars
/// the diagnostic points at the whole value.
pub fn expr_diagnostic(error: &crate::error::ExprError, source: &str, node: &Node) -> Diagnostic {
    let span = text_span(source, node, error.byte_range.clone());
    Diagnostic::error(error.code, error.message.clone(), span).with_help(error.help.clone())
}

/// Returns the span in the file of the bytes `range` of the scalar `node`'s
/// text, or the whole value when the written bytes cannot be paired with
/// the text.
pub(crate) fn text_span(source: &str, node: &Node, range: std::ops::Range<usize>) -> Span {
    let written = source.get(node.span.byte_start..node.span.byte_end);
    let range = node.scalar().zip(written).and_then(|(scalar, written)| {
        crate::pipeline::offsets::written_range(written, scalar.style, &scalar.text, range)
    });
    match range {
        Some(range) => Span::from_byte_range_within(
            source,
            node.span,
            node.span.byte_start + range.start,
            node.span.byte_start + range.end,
        ),
        None => node.span,
    }
}

/// Returns the error of the first block of the supplied value `text` that
/// does not compile, or `None` when every block compiles or it has none.
pub(crate) fn expression_error(text: &str) -> Option<crate::error::ExprError> {
    if !crate::template::has_block_start(text) {
        return None;
    }
    crate::template::Template::parse(text, crate::options::ScanMode::Harness).err()
}

/// Where a supplied input value came from.
#[derive(Debug, Clone)]
pub enum Origin {
    /// An input set file: its name and the value's span there.
    InputSet { file: String, span: Span },
    /// A `--input PATH=VALUE` argument.
    Argument(String),
}

impl Origin {
    /// Describes the origin for an error message, such as
    /// `` `--input PATH=VALUE` `` or `sets/dev.yaml:4:12`.
    pub fn describe(&self) -> String {
        match self {
            Origin::InputSet { file, span } => format!("{file}:{}:{}", span.line, span.column),
            Origin::Argument(argument) => format!("`--input {argument}`"),
        }
    }
}

/// A supplied input value.
#[derive(Debug, Clone)]
pub struct Supplied {
    pub value: Value,
    pub origin: Origin,
    /// The value was not of the field's type and was reported; the field
    /// resolves to null without a second diagnostic.
    pub rejected: bool,
}

/// Reads an input value written as text (`--input` values and input-set
/// scalars) as the field's type: strings stay verbatim, so `[1,2]` and
/// `2002-12-14` stay text; booleans and integers are read as YAML scalars;
/// lists and maps as YAML flow collections.
pub fn read_value(text: &str, field: FieldType) -> Result<Value, String> {
    let parsed = || {
        crate::pipeline::yaml::load(text, Limits::default())
            .map_err(|d| d.message)
            .map(|node| node.map(|n| n.to_json()).unwrap_or(serde_json::Value::Null))
    };
    match field {
        FieldType::String => {
            let unquoted = match parsed() {
                Ok(serde_json::Value::String(s)) if text.trim_start().starts_with(['"', '\'']) => s,
                _ => text.to_string(),
            };
            Ok(Value::String(unquoted))
        }
        FieldType::Boolean => match parsed()? {
            serde_json::Value::Bool(b) => Ok(Value::Bool(b)),
            _ if text.contains("<+") => Ok(Value::String(text.to_string())),
            _ => Err(format!("`{text}` is not `true` or `false`")),
        },
        FieldType::Integer => match parsed()? {
            serde_json::Value::Number(n) if n.is_i64() => {
                Ok(Value::from_json(serde_json::Value::Number(n)))
            }
            _ if text.contains("<+") => Ok(Value::String(text.to_string())),
            _ => Err(format!("`{text}` is not a whole number")),
        },
        FieldType::Number => match parsed()? {
            serde_json::Value::Number(n) => Ok(Value::from_json(serde_json::Value::Number(n))),
            _ if text.contains("<+") => Ok(Value::String(text.to_string())),
            _ => Err(format!("`{text}` is not a number")),
        },
        FieldType::List => match parsed()? {
            json @ serde_json::Value::Array(_) => Ok(Value::from_json(json)),
            serde_json::Value::String(s) => Ok(Value::String(s)),
            _ => Err(format!("`{text}` is not a list such as `[a, b]`")),
        },
        FieldType::Map => match parsed()? {
            json @ serde_json::Value::Object(_) => Ok(Value::from_json(json)),
            // An expression may resolve to a mapping, but other text such
            // as `A=1` never does.
            serde_json::Value::String(s) if s.contains("<+") => Ok(Value::String(s)),
            _ => Err(format!("`{text}` is not a mapping such as `{{a: b}}`")),
        },
    }
}

/// Converts an input-set node to a value of the field's type.
/// Rejects a list or map supplied for a variable (`pipeline.variables.NAME`,
/// and the variables of stages and step groups), whose value is text or a
/// number: Harness has no variable of those types.
fn variable_text(path: &str, node: &Node) -> Result<(), String> {
    let is_variable = path
        .rsplit_once('.')
        .is_some_and(|(head, _)| head.ends_with(".variables"));
    match &node.value {
        NodeValue::Sequence(_) | NodeValue::Mapping(_) if is_variable => Err(format!(
            "a variable takes text or a number, found {}; quote the value to pass it as text",
            node.kind_name()
        )),
        _ => Ok(()),
    }
}

fn node_value(node: &Node, field: FieldType) -> Result<Value, String> {
    match &node.value {
        NodeValue::Scalar(scalar) if scalar.style != Style::Plain && field != FieldType::Map => {
            Ok(Value::String(scalar.text.clone()))
        }
        NodeValue::Scalar(scalar) => match field {
            FieldType::String => Ok(Value::String(scalar.text.clone())),
            _ => read_value(&scalar.text, field),
        },
        _ => Ok(Value::from_json(node.to_json())),
    }
}

/// The map fields whose values the runner reads as text.
const TEXT_MAPS: [&str; 2] = ["envVariables", "portBindings"];

/// Returns whether `path` ends at a map whose values the runner reads as
/// text.
pub(crate) fn is_text_map(path: &str) -> bool {
    let (_, last) = path.rsplit_once('.').unwrap_or(("", path));
    TEXT_MAPS.contains(&last)
}

/// The list fields whose items the runner reads as text.
const TEXT_LISTS: [&str; 3] = ["entrypoint", "sharedPaths", "paths"];

/// Returns whether `path` ends at a list whose items the runner reads as
/// text.
pub(crate) fn is_text_list(path: &str) -> bool {
    let (_, last) = path.rsplit_once('.').unwrap_or(("", path));
    TEXT_LISTS.contains(&last)
}

/// A supplied value that a map of text values cannot take.
struct NotText {
    /// The entry's key, or `None` when the whole value is not a map.
    key: Option<String>,
    code: &'static str,
    reason: String,
    help: &'static str,
}

impl NotText {
    /// Returns an `invalid-input` error for a value that is not text.
    fn invalid_input(key: Option<String>, reason: String) -> Self {
        NotText {
            key,
            code: "invalid-input",
            reason,
            help: NOT_TEXT_HELP,
        }
    }
}

/// Checks a value supplied for a map of text values (`envVariables`,
/// `portBindings`) or for one entry of such a map. Harness takes no nested
/// objects as runtime-input values, and the runner passes each entry on as
/// text, so an entry that is a list or a map is rejected. A supplied
/// `envVariables` map also gets the name check that `check` applies to
/// names written in the file.
fn check_text_map(path: &str, value: &Value) -> Result<(), NotText> {
    let (_, last) = path.rsplit_once('.').unwrap_or(("", path));
    if let Some(map) = TEXT_MAPS.iter().find(|map| **map == last) {
        let entries = match value {
            Value::Map(entries) => entries,
            Value::List(_) => {
                return Err(NotText::invalid_input(
                    None,
                    format!("`{map}` takes a map, found a list"),
                ));
            }
            _ => return Ok(()),
        };
        if *map == "envVariables"
            && let Some(key) = entries.keys().find(|key| is_invalid_env_name(key))
        {
            return Err(NotText {
                key: Some(key.clone()),
                code: "invalid-env-name",
                reason: format!("invalid environment variable name `{key}`"),
                help: INVALID_ENV_NAME_HELP,
            });
        }
        let nested = entries
            .iter()
            .find(|(_, entry)| matches!(entry, Value::List(_) | Value::Map(_)));
        return match nested {
            Some((key, entry)) => Err(NotText::invalid_input(
                Some(key.clone()),
                format!(
                    "`{key}` is {}, but `{map}` values must be text",
                    entry.type_with_article()
                ),
            )),
            None => Ok(()),
        };
    }
    if !matches!(value, Value::List(_) | Value::Map(_)) {
        return Ok(());
    }
    // Map keys may contain dots, so the entry's key is all that follows
    // the map's segment.
    let entry = TEXT_MAPS.iter().find_map(|map| {
        let (_, key) = path.rsplit_once(&format!(".{map}."))?;
        Some((map, key))
    });
    match entry {
        Some((map, key)) => Err(NotText::invalid_input(
            None,
            format!(
                "`{key}` is {}, but `{map}` values must be text",
                value.type_with_article()
            ),
        )),
        None => Ok(()),
    }
}

/// The help line of a [`NotText`] error.
const NOT_TEXT_HELP: &str =
    "give each entry a text value; quote a value such as `\"[1, 2]\"` to pass that text";

/// Keys that an input set repeats to say where its values go. An entry of
/// `envVariables` or `portBindings` is a value, whatever its key.
fn is_structural(path: &str) -> bool {
    if is_text_map_entry(path) {
        return false;
    }
    let last = path.rsplit('.').next().unwrap_or_default();
    matches!(
        last,
        "identifier" | "type" | "name" | "orgIdentifier" | "projectIdentifier" | "description"
    )
}

/// Applies an input-set file to `supplied`; later calls overwrite earlier
/// values. Values for fields that are not runtime inputs are errors.
pub fn apply_input_set(
    report: &mut Report,
    fields: &IndexMap<String, InputField<'_>>,
    file: &str,
    source: &str,
    pipeline_id: &str,
    supplied: &mut IndexMap<String, Supplied>,
) {
    let source = crate::pipeline::without_bom(source);
    let mut local = Report::default();
    let Some(root) = crate::pipeline::load_document(source, &mut local) else {
        report
            .diagnostics
            .extend(local.diagnostics.into_iter().map(|d| d.with_file(file)));
        return;
    };
    let overlay = match crate::pipeline::model::document_kind(&mut local, &root) {
        Some(DocumentKind::InputSet) => root.get("inputSet").and_then(|set| set.get("pipeline")),
        Some(DocumentKind::Pipeline) => root.get("pipeline"),
        _ => None,
    };
    let Some(overlay) = overlay else {
        if local.diagnostics.is_empty() {
            local.error(
                "missing-field",
                "the input set has no `pipeline`",
                root.span,
                "an input set is `inputSet:` with `pipeline:` holding the values",
            );
        }
        report
            .diagnostics
            .extend(local.diagnostics.into_iter().map(|d| d.with_file(file)));
        return;
    };
    if let Some(id_node) = overlay.get("identifier")
        && let Some(id) = id_node.as_str()
        && !pipeline_id.is_empty()
        && id != pipeline_id
    {
        local.warning(
            "input-set-pipeline",
            format!("the input set is for pipeline `{id}`, not `{pipeline_id}`"),
            id_node.span,
            "pass the input set that belongs to this pipeline",
        );
    }
    walk(overlay, "pipeline", &mut |path, node| {
        if let Some(field) = fields.get(path) {
            // An input set leaves a field it does not fill as `<+input>`, so
            // the pipeline's default or a later value still applies.
            if node
                .scalar()
                .is_some_and(|s| classify(&s.text) == ValueKind::RuntimeInput)
            {
                return Visit::Skip;
            }
            let checked = variable_text(path, node)
                .and_then(|()| node_value(node, field.value_type))
                .map_err(|reason| {
                    let help = "supply a value of the field's type";
                    ("invalid-input", reason, node.span, help)
                })
                .and_then(|value| match check_text_map(path, &value) {
                    Ok(()) => Ok(value),
                    Err(not_text) => {
                        // Point at the offending entry when the input set
                        // writes the map out.
                        let entry = not_text.key.as_deref().and_then(|key| node.get(key));
                        let span = entry.map_or(node.span, |entry| entry.span);
                        Err((not_text.code, not_text.reason, span, not_text.help))
                    }
                });
            // A value with an expression that does not compile is reported
            // where the set writes it, used or not.
            let broken = node
                .scalar()
                .and_then(|scalar| expression_error(&scalar.text))
                .filter(|_| checked.is_ok());
            if let Some(error) = broken {
                local.push(expr_diagnostic(&error, source, node));
                supplied.insert(
                    path.to_string(),
                    Supplied {
                        value: Value::Null,
                        origin: Origin::InputSet {
                            file: file.to_string(),
                            span: node.span,
                        },
                        rejected: true,
                    },
                );
                return Visit::Skip;
            }
            match checked {
                Ok(value) => {
                    supplied.insert(
                        path.to_string(),
                        Supplied {
                            value,
                            origin: Origin::InputSet {
                                file: file.to_string(),
                                span: node.span,
                            },
                            rejected: false,
                        },
                    );
                }
                Err((code, reason, span, help)) => {
                    local.error(
                        code,
                        format!("invalid value for `{path}`: {reason}"),
                        span,
                        help,
                    );
                    supplied.insert(
                        path.to_string(),
                        Supplied {
                            value: Value::Null,
                            origin: Origin::InputSet {
                                file: file.to_string(),
                                span: node.span,
                            },
                            rejected: true,
                        },
                    );
                }
            }
            return Visit::Skip;
        }
        if node.scalar().is_some() && !is_structural(path) && path != "pipeline" {
            local.push(not_an_input(path, fields, node.span));
        }
        Visit::Descend
    });
    report
        .diagnostics
        .extend(local.diagnostics.into_iter().map(|d| d.with_file(file)));
}

fn not_an_input(path: &str, fields: &IndexMap<String, InputField<'_>>, span: Span) -> Diagnostic {
    let candidates: Vec<&str> = fields.keys().map(String::as_str).collect();
    let help = match closest(path, &candidates) {
        Some(candidate) => format!("did you mean `{candidate}`?"),
        None if candidates.is_empty() => {
            "the pipeline has no runtime inputs; change the value in the pipeline file".to_string()
        }
        None => "only fields written as `<+input>` take values; `basso inputs FILE` lists them"
            .to_string(),
    };
    Diagnostic::error(
        "not-a-runtime-input",
        format!("`{path}` is not a runtime input"),
        span,
    )
    .with_help(help)
}

/// The file name diagnostics about the `index`-th (0-based) `--input`
/// argument carry: `--input#1` for the first; their spans index the
/// `PATH=VALUE` text.
pub fn argument_file(index: usize) -> String {
    format!("--input#{}", index + 1)
}

/// Applies `--input PATH=VALUE` arguments after the input sets.
pub fn apply_arguments(
    report: &mut Report,
    fields: &IndexMap<String, InputField<'_>>,
    arguments: &[(String, String)],
    supplied: &mut IndexMap<String, Supplied>,
) {
    for (index, (path, text)) in arguments.iter().enumerate() {
        let file = argument_file(index);
        let argument = format!("{path}={text}");
        let span = Span::from_byte_range(&argument, 0, path.len());
        if let Some(first) = arguments[..index]
            .iter()
            .position(|(earlier, _)| earlier == path)
        {
            report.push(
                Diagnostic::warning(
                    "repeated-input",
                    format!(
                        "`--input {path}` is given more than once; this value replaces the one of `--input` number {}",
                        first + 1
                    ),
                    span,
                )
                .with_help("give each input path once")
                .with_file(file.as_str()),
            );
        }
        let Some(field) = fields.get(path) else {
            report.push(not_an_input(path, fields, span).with_file(file.as_str()));
            continue;
        };
        // `<+input>` supplies nothing, as in an input set.
        if classify(text) == ValueKind::RuntimeInput {
            let value_span = Span::from_byte_range(&argument, path.len() + 1, argument.len());
            report.push(
                Diagnostic::warning(
                    "input-left-open",
                    format!("`--input {argument}` supplies no value: a runtime input leaves the field open"),
                    value_span,
                )
                .with_help(format!("give the value itself, as in `--input {path}=VALUE`"))
                .with_file(file.as_str()),
            );
            continue;
        }
        let checked = read_value(text, field.value_type)
            .map_err(|reason| {
                let help = "supply a value of the field's type";
                ("invalid-input", reason, help)
            })
            .and_then(|value| match check_text_map(path, &value) {
                Ok(()) => Ok(value),
                Err(not_text) => Err((not_text.code, not_text.reason, not_text.help)),
            });
        if let (Ok(_), Some(error)) = (&checked, expression_error(text)) {
            let start = path.len() + 1;
            let span = Span::from_byte_range(
                &argument,
                start + error.byte_range.start,
                start + error.byte_range.end,
            );
            report.push(
                Diagnostic::error(error.code, error.message.clone(), span)
                    .with_help(error.help.clone())
                    .with_file(file.as_str()),
            );
            supplied.insert(
                path.clone(),
                Supplied {
                    value: Value::Null,
                    origin: Origin::Argument(argument),
                    rejected: true,
                },
            );
            continue;
        }
        match checked {
            Ok(value) => {
                supplied.insert(
                    path.clone(),
                    Supplied {
                        value,
                        origin: Origin::Argument(argument),
                        rejected: false,
                    },
                );
            }
            Err((code, reason, help)) => {
                supplied.insert(
                    path.clone(),
                    Supplied {
                        value: Value::Null,
                        origin: Origin::Argument(argument.clone()),
                        rejected: true,
                    },
                );
                let value_span = Span::from_byte_range(&argument, path.len() + 1, argument.len());
                report.push(
                    Diagnostic::error(
                        code,
                        format!("invalid value for `{path}`: {reason}"),
                        value_span,
                    )
                    .with_help(help)
                    .with_file(file.as_str()),
                );
            }
        }
    }
}

/// Produces the final value of every runtime input: the supplied value,
/// else the default. Reports missing values and validator failures at the
/// field. Execution-time inputs without a value stay null with a warning.
/// A supplied value that is an expression is checked by the resolver once
/// it is evaluated (see [`RuntimeInput::resolve`]).
pub fn finalize(
    report: &mut Report,
    fields: &IndexMap<String, InputField<'_>>,
    supplied: &IndexMap<String, Supplied>,
) -> IndexMap<String, Value> {
    let mut values = IndexMap::new();
    for (path, field) in fields {
        let given = supplied.get(path);
        if given.is_some_and(|g| g.rejected) {
            values.insert(path.clone(), Value::Null);
            continue;
        }
        if given.is_none() && field.input.default.is_none() {
            if field.input.execution_input {
                report.warning(
                    "execution-input",
                    format!("`{path}` is asked when the step runs; it resolves to null until then"),
                    field.node.span,
                    format!("pass `--input {path}=VALUE` to preview it"),
                );
            } else {
                report.error("missing-input", format!("runtime input `{path}` has no value"), field.node.span, format!("pass `--input {path}=VALUE`, add it to an input set, or give it `.default(...)`"));
            }
            values.insert(path.clone(), Value::Null);
            continue;
        }
        match field.input.resolve(given.map(|g| &g.value)) {
            Ok(Value::String(text)) if given.is_none() && is_scalar_type(field.value_type) => {
                let value = typed_default(report, path, field.node, &text, field.value_type);
                values.insert(path.clone(), value);
            }
            Ok(value) => {
                values.insert(path.clone(), value);
            }
            Err(error) => {
                // Without a supplied value, the validator's message already
                // starts with "default".
                let from = given.map_or_else(String::new, |given| {
                    format!(" (from {})", given.origin.describe())
                });
                report.error(
                    error.code,
                    format!("`{path}`: {}{from}", error.message),
                    field.node.span,
                    error.help.clone(),
                );
                values.insert(path.clone(), Value::Null);
            }
        }
    }
    values
}

/// Reads a default written as text as a value of `value_type`. Reports an
/// `invalid-default` error at `node` and returns null when it is not one.
fn typed_default(
    report: &mut Report,
    path: &str,
    node: &Node,
    text: &str,
    value_type: FieldType,
) -> Value {
    match read_value(text, value_type) {
        Ok(value) => value,
        Err(reason) => {
            report.error(
                input_codes::INVALID_DEFAULT,
                format!("`{path}`: invalid default: {reason}"),
                node.span,
                format!("change `.default(...)` to {}", type_example(value_type)),
            );
            Value::Null
        }
    }
}

fn is_scalar_type(field: FieldType) -> bool {
    matches!(
        field,
        FieldType::Boolean | FieldType::Integer | FieldType::Number
    )
}

fn type_example(field: FieldType) -> &'static str {
    match field {
        FieldType::Boolean => "`true` or `false`",
        FieldType::Integer => "a whole number such as `3`",
        _ => "a number such as `3` or `2.5`",
    }
}

/// One entry of `basso inputs`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct InputListing {
    pub path: String,
    pub line: usize,
    pub column: usize,
    /// The field's value type: `string`, `boolean`, `integer`, `number`, `list` or `map`.
    #[serde(rename = "type")]
    #[cfg_attr(
        feature = "ts",
        ts(type = "\"string\" | \"boolean\" | \"integer\" | \"number\" | \"list\" | \"map\"")
    )]
    pub value_type: &'static str,
    pub default: Option<serde_json::Value>,
    pub allowed_values: Option<Vec<String>>,
    /// True when a value may hold several of `allowedValues`, comma-joined
    /// (`.selectManyFrom(...)`).
    pub multiple: bool,
    pub regex: Option<String>,
    /// True when the value is asked for when the step is about to run.
    pub execution_input: bool,
    pub required: bool,
    /// The field text as written, such as `<+input>.default(15)`.
    pub text: String,
}

/// Lists every runtime input of a pipeline file, in source order.
pub fn list(fields: &IndexMap<String, InputField<'_>>) -> Vec<InputListing> {
    fields
        .values()
        .map(|field| InputListing {
            path: field.path.clone(),
            line: field.node.span.line,
            column: field.node.span.column,
            value_type: match field.value_type {
                FieldType::String => "string",
                FieldType::Boolean => "boolean",
                FieldType::Integer => "integer",
                FieldType::Number => "number",
                FieldType::List => "list",
                FieldType::Map => "map",
            },
            default: field.input.default.as_ref().map(Value::to_json),
            allowed_values: field.input.choices().map(<[String]>::to_vec),
            multiple: field.input.takes_many(),
            regex: field.input.regex.clone(),
            execution_input: field.input.execution_input,
            required: field.input.default.is_none() && !field.input.execution_input,
            text: field.node.as_str().unwrap_or_default().to_string(),
        })
        .collect()
}

/// Returns the scalar's value typed as the YAML 1.2 core schema does.
pub fn typed_scalar(node: &Node) -> Value {
    match node.scalar() {
        Some(scalar) => Value::from_json(scalar_to_json(scalar)),
        None => Value::from_json(node.to_json()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_value_keeps_strings_verbatim() {
        assert_eq!(
            read_value("[1,2]", FieldType::String),
            Ok(Value::String("[1,2]".into()))
        );
        assert_eq!(
            read_value("2002-12-14", FieldType::String),
            Ok(Value::String("2002-12-14".into()))
        );
        assert_eq!(
            read_value("\"quoted\"", FieldType::String),
            Ok(Value::String("quoted".into()))
        );
        assert_eq!(
            read_value("true", FieldType::Boolean),
            Ok(Value::Bool(true))
        );
        assert!(read_value("yes", FieldType::Boolean).is_err());
        assert_eq!(read_value("1000", FieldType::Integer), Ok(Value::Int(1000)));
        assert_eq!(
            read_value("[sh, -c]", FieldType::List),
            Ok(Value::List(vec![
                Value::String("sh".into()),
                Value::String("-c".into())
            ]))
        );
    }
}
