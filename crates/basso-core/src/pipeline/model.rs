//! The pipeline model: typed views over the YAML node tree.
//!
//! Every model item borrows the nodes it came from, so validation and
//! resolution can point diagnostics at the exact key or value. Building the
//! model reports structural problems (missing `identifier`, a stage that is
//! not a mapping) and keeps going with what it could read.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use foldhash::fast::FixedState;

use crate::diagnostic::{Diagnostic, Severity, Span};
use crate::pipeline::field::{ValueKind, classify};
use crate::pipeline::inputs::typed_scalar;
use crate::pipeline::iterations::LoopedNode;
use crate::pipeline::paths::push_key;
use crate::pipeline::resolved::InfrastructureKind;
use crate::pipeline::yaml::Node;

/// What kind of document a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    /// `pipeline:` at the top.
    Pipeline,
    /// `template:` with `type: Pipeline`; the pipeline is `template.spec`.
    PipelineTemplate,
    /// `inputSet:` at the top.
    InputSet,
}

/// A pipeline variable (`pipeline.variables`), stage variable or step-group variable.
#[derive(Debug, Clone)]
pub struct Variable<'a> {
    pub name: String,
    pub name_node: &'a Node,
    /// `String`, `Number` or `Secret` as written (`String` when missing).
    pub var_type: String,
    pub value: Option<&'a Node>,
    pub node: &'a Node,
    /// Expression path of the value: `pipeline.variables.NAME`.
    pub path: String,
}

/// A step group (`stepGroup:`) as seen from a step inside it.
#[derive(Debug, Clone)]
pub struct Group<'a> {
    pub identifier: String,
    pub node: &'a Node,
    pub path: String,
    pub variables: Vec<Variable<'a>>,
    /// Number of the innermost `parallel` block containing the group.
    pub parallel: Option<u32>,
}

/// A step of any type.
#[derive(Debug, Clone)]
pub struct Step<'a> {
    pub node: &'a Node,
    pub identifier: String,
    pub identifier_node: Option<&'a Node>,
    pub name: String,
    pub step_type: String,
    pub type_node: Option<&'a Node>,
    pub spec: Option<&'a Node>,
    /// Enclosing step groups, outermost first.
    pub groups: Vec<Group<'a>>,
    /// Number of the innermost `parallel` block containing the step.
    pub parallel: Option<u32>,
    /// Full expression path (`pipeline.stages.S.spec.execution.steps.G.steps.ID`).
    pub path: String,
    /// Position in the stage's execution order: the step starts after every
    /// step whose `finish` is at most this step's `start`.
    pub start: usize,
    pub finish: usize,
}

impl<'a> Step<'a> {
    pub fn get(&self, key: &str) -> Option<&'a Node> {
        self.node.get(key)
    }

    pub fn spec_field(&self, key: &str) -> Option<&'a Node> {
        self.spec?.get(key)
    }

    /// Identifier of the innermost step group.
    pub fn group_id(&self) -> Option<&str> {
        self.groups.last().map(|group| group.identifier.as_str())
    }

    /// Returns true for the two step types basso validates fully.
    pub fn is_modelled(&self) -> bool {
        matches!(self.step_type.as_str(), "Background" | "Run")
    }
}

/// A stage's declared build infrastructure, before `useFromStage` is followed.
#[derive(Debug, Clone)]
pub struct InfraDecl<'a> {
    pub kind: InfrastructureKind,
    pub type_name: Option<String>,
    pub use_from_stage: Option<(String, &'a Node)>,
    /// The `infrastructure` or `runtime` node, for positions.
    pub node: Option<&'a Node>,
}

/// A stage of any type.
#[derive(Debug, Clone)]
pub struct Stage<'a> {
    pub node: &'a Node,
    pub identifier: String,
    pub identifier_node: Option<&'a Node>,
    pub name: String,
    pub stage_type: String,
    pub parallel: Option<u32>,
    pub variables: Vec<Variable<'a>>,
    pub spec: Option<&'a Node>,
    pub infra: InfraDecl<'a>,
    pub steps: Vec<Step<'a>>,
    /// Every step group of the stage, in source order.
    pub groups: Vec<Group<'a>>,
    /// `pipeline.stages.ID`.
    pub path: String,
}

impl<'a> Stage<'a> {
    pub fn get(&self, key: &str) -> Option<&'a Node> {
        self.node.get(key)
    }

    pub fn spec_field(&self, key: &str) -> Option<&'a Node> {
        self.spec?.get(key)
    }

    pub fn is_ci(&self) -> bool {
        self.stage_type == "CI"
    }
}

/// A whole v0 pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline<'a> {
    pub kind: DocumentKind,
    /// The `pipeline` mapping (or `template.spec` for pipeline templates).
    pub node: &'a Node,
    /// The mapping that carries `name` and `identifier`.
    pub header: &'a Node,
    pub identifier: String,
    pub name: String,
    pub variables: Vec<Variable<'a>>,
    pub stages: Vec<Stage<'a>>,
}

/// JEXL's keywords, which are invalid as identifiers and variable names.
const JEXL_KEYWORDS: [&str; 17] = [
    "or", "and", "eq", "ne", "lt", "gt", "le", "ge", "div", "mod", "not", "null", "true", "false",
    "new", "var", "return",
];

/// Words besides JEXL's keywords that Harness rejects as identifiers.
const RESERVED_IDENTIFIERS: [&str; 7] = [
    "step",
    "parallel",
    "stepGroup",
    "org",
    "account",
    "status",
    "liteEngineTask",
];

/// Words besides JEXL's keywords that Harness rejects as variable names.
const RESERVED_VARIABLE_NAMES: [&str; 2] = ["shellScriptProvisioner", "class"];

/// Checks an entity identifier (`^[a-zA-Z_][0-9a-zA-Z_]{0,127}$`, not a
/// reserved word); returns the reason and a fix on failure.
pub fn identifier_problem(text: &str) -> Option<(String, String)> {
    if text.is_empty() {
        return Some((
            "the identifier is empty".into(),
            "use letters, digits and `_`, starting with a letter or `_`".into(),
        ));
    }
    if text.chars().count() > 128 {
        return Some((
            "the identifier is longer than 128 characters".into(),
            "shorten it to 128 characters or fewer".into(),
        ));
    }
    let fix = || match suggested_identifier(text) {
        Some(fixed) => format!("did you mean `{fixed}`?"),
        None => IDENTIFIER_RULE.to_string(),
    };
    let first = text.chars().next().unwrap_or('0');
    if !(first.is_ascii_alphabetic() || first == '_') {
        return Some((
            format!(
                "identifier `{text}` must start with an ASCII letter (`a` to `z`, `A` to `Z`) or `_`"
            ),
            fix(),
        ));
    }
    if let Some(bad) = text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
    {
        return Some((
            format!(
                "identifier `{text}` contains {}; only ASCII letters, digits and `_` are allowed",
                shown_char(bad)
            ),
            fix(),
        ));
    }
    if JEXL_KEYWORDS.contains(&text) || RESERVED_IDENTIFIERS.contains(&text) {
        return Some((
            format!("identifier `{text}` is a reserved word"),
            format!("choose another identifier, such as `{text}_1`"),
        ));
    }
    None
}

/// Returns the help for a duplicate identifier, with an example only when the
/// example is itself a valid identifier.
fn distinct_identifier_help(what: &str, identifier: &str) -> String {
    let base = match identifier_problem(identifier) {
        None => Some(identifier.to_string()),
        Some(_) => suggested_identifier(identifier),
    };
    match base.map(|base| format!("{base}_2")) {
        Some(example) if identifier_problem(&example).is_none() => {
            format!("give each {what} its own identifier, such as `{example}`")
        }
        _ => format!("give each {what} its own identifier; {IDENTIFIER_RULE}"),
    }
}

const IDENTIFIER_RULE: &str = "use ASCII letters, digits and `_`, starting with a letter or `_`";

/// Suggests a valid identifier for `text`. Accented Latin letters lose
/// their accents (`été` gives `ete`), other invalid characters become `_`,
/// and `_` goes first when the result does not start with a letter. Returns
/// `None` when `_` would replace half of the characters or more, because
/// such a suggestion no longer resembles the name.
fn suggested_identifier(text: &str) -> Option<String> {
    let mut fixed = String::with_capacity(text.len());
    let mut replaced = 0;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            fixed.push(c);
        } else if let Some(ascii) = unaccented(c) {
            fixed.push_str(ascii);
        } else {
            fixed.push('_');
            replaced += 1;
        }
    }
    if !fixed.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        fixed.insert(0, '_');
    }
    let keeps_most = replaced * 2 < text.chars().count();
    (keeps_most && identifier_problem(&fixed).is_none()).then_some(fixed)
}

/// Returns the ASCII letters for a Latin letter with a diacritic, or a
/// ligature, from Latin-1 and the common letters of Latin Extended-A.
fn unaccented(c: char) -> Option<&'static str> {
    Some(match c {
        'à'..='å' | 'ā' | 'ă' | 'ą' => "a",
        'À'..='Å' | 'Ā' | 'Ă' | 'Ą' => "A",
        'æ' => "ae",
        'Æ' => "AE",
        'ç' | 'ć' | 'č' => "c",
        'Ç' | 'Ć' | 'Č' => "C",
        'ď' | 'đ' => "d",
        'Ď' | 'Đ' => "D",
        'è'..='ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
        'È'..='Ë' | 'Ē' | 'Ė' | 'Ę' | 'Ě' => "E",
        'ğ' => "g",
        'Ğ' => "G",
        'ì'..='ï' | 'ī' | 'į' | 'ı' => "i",
        'Ì'..='Ï' | 'Ī' | 'Į' | 'İ' => "I",
        'ł' | 'ľ' => "l",
        'Ł' | 'Ľ' => "L",
        'ñ' | 'ń' | 'ň' => "n",
        'Ñ' | 'Ń' | 'Ň' => "N",
        'ò'..='ö' | 'ø' | 'ō' | 'ő' => "o",
        'Ò'..='Ö' | 'Ø' | 'Ō' | 'Ő' => "O",
        'œ' => "oe",
        'Œ' => "OE",
        'ř' => "r",
        'Ř' => "R",
        'ś' | 'ş' | 'š' => "s",
        'Ś' | 'Ş' | 'Š' => "S",
        'ß' => "ss",
        'ţ' | 'ť' => "t",
        'Ţ' | 'Ť' => "T",
        'ù'..='ü' | 'ū' | 'ů' | 'ű' | 'ų' => "u",
        'Ù'..='Ü' | 'Ū' | 'Ů' | 'Ű' | 'Ų' => "U",
        'ý' | 'ÿ' => "y",
        'Ý' | 'Ÿ' => "Y",
        'ź' | 'ż' | 'ž' => "z",
        'Ź' | 'Ż' | 'Ž' => "Z",
        _ => return None,
    })
}

/// Checks a display name (`^[a-zA-Z_0-9-.][-0-9a-zA-Z_\s.]{0,127}$`).
pub fn name_problem(text: &str) -> Option<String> {
    if text.is_empty() {
        return Some("the name is empty".into());
    }
    if text.chars().count() > 128 {
        return Some(format!("name `{text}` is longer than 128 characters"));
    }
    let allowed =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') || c.is_whitespace();
    if text.chars().next().is_some_and(char::is_whitespace) {
        return Some(format!("name `{text}` starts with a space"));
    }
    text.chars().find(|c| !allowed(*c)).map(|bad| {
        format!(
            "name `{text}` contains {}; names use letters, digits, spaces, `_`, `-` and `.`",
            shown_char(bad)
        )
    })
}

/// Writes `c` for a message: in backticks, or by its code point when it
/// would not show, such as a zero-width space (`U+200B`).
pub(crate) fn shown_char(c: char) -> String {
    if is_invisible(c) {
        format!("U+{:04X}, an invisible character", u32::from(c))
    } else {
        format!("`{c}`")
    }
}

/// Returns whether `c` prints as nothing or as blank space other than a
/// plain space: control characters, other spaces, and the format and
/// filler characters of Unicode.
fn is_invisible(c: char) -> bool {
    c.is_control()
        || (c.is_whitespace() && c != ' ')
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFF8}'
        )
}

/// Collects diagnostics while the model is built and checked.
#[derive(Debug, Default)]
pub struct Report {
    pub diagnostics: Vec<Diagnostic>,
}

/// Maximum characters of one quoted span (text between backticks) in a
/// diagnostic's message or help. A longer span, such as a name of
/// megabytes, is cut and ends with `…`. The cap is long enough that the
/// input paths and references of the test corpus are quoted whole.
pub const MAX_QUOTED_CHARS: usize = 256;

impl Report {
    /// Adds `diagnostic`, with its quoted spans cut to [`MAX_QUOTED_CHARS`].
    pub fn push(&mut self, mut diagnostic: Diagnostic) {
        shorten_quoted(&mut diagnostic.message);
        if let Some(help) = &mut diagnostic.help {
            shorten_quoted(help);
        }
        self.diagnostics.push(diagnostic);
    }

    pub fn error(
        &mut self,
        code: &str,
        message: impl Into<String>,
        span: Span,
        help: impl Into<String>,
    ) {
        self.push(Diagnostic::error(code, message, span).with_help(help));
    }

    pub fn warning(
        &mut self,
        code: &str,
        message: impl Into<String>,
        span: Span,
        help: impl Into<String>,
    ) {
        self.push(Diagnostic::warning(code, message, span).with_help(help));
    }

    pub fn info(
        &mut self,
        code: &str,
        message: impl Into<String>,
        span: Span,
        help: impl Into<String>,
    ) {
        self.push(Diagnostic::new(Severity::Info, code, message, span).with_help(help));
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Cuts each span between backticks in `text` at its first line break, and
/// to [`MAX_QUOTED_CHARS`] characters, ending a cut span with `…`, so that
/// a message stays one line.
fn shorten_quoted(text: &mut String) {
    if text.len() <= MAX_QUOTED_CHARS && !text.contains('\n') {
        return;
    }
    let too_long = |span: &str| span.contains('\n') || span.chars().nth(MAX_QUOTED_CHARS).is_some();
    // Odd parts of the split are inside backticks.
    if !text.split('`').skip(1).step_by(2).any(too_long) {
        return;
    }
    let mut shortened = String::new();
    for (index, part) in text.split('`').enumerate() {
        if index > 0 {
            shortened.push('`');
        }
        if index % 2 == 1 && too_long(part) {
            let first_line = part.split('\n').next().unwrap_or_default();
            shortened.extend(first_line.chars().take(MAX_QUOTED_CHARS - 1));
            shortened.push('…');
        } else {
            shortened.push_str(part);
        }
    }
    *text = shortened;
}

/// Reads a required scalar field as text, reporting a missing or non-scalar value.
fn required_text<'a>(
    report: &mut Report,
    owner: &'a Node,
    key: &str,
    what: &str,
) -> (String, Option<&'a Node>) {
    match owner.get(key) {
        Some(node) if node.scalar().is_some() && !node.is_null() => {
            (node.as_str().unwrap_or_default().to_string(), Some(node))
        }
        Some(node) => {
            report.error(
                "wrong-type",
                format!("{what} `{key}` must be text, found {}", node.kind_name()),
                node.span,
                format!("write `{key}` as a single value"),
            );
            (String::new(), Some(node))
        }
        None => {
            report.error(
                "missing-field",
                format!("{what} has no `{key}`"),
                key_span(owner),
                format!("add `{key}:` to the {what}"),
            );
            (String::new(), None)
        }
    }
}

/// The span used for "missing key" errors: the mapping's first line.
pub fn key_span(owner: &Node) -> Span {
    match owner.as_mapping().and_then(|entries| entries.first()) {
        Some((key, _)) => key.span,
        None => owner.span,
    }
}

/// Returns whether a list value is empty or null (`steps: []`, `steps:`).
fn has_no_items(list: &Node) -> bool {
    list.is_null() || list.as_sequence().is_some_and(<[Node]>::is_empty)
}

/// Returns the span of `key`'s value in the mapping `owner`, or the key's
/// span when the value is null and has no text to point at.
fn value_span(owner: &Node, key: &str) -> Span {
    let entry = owner
        .as_mapping()
        .and_then(|entries| entries.iter().find(|(k, _)| k.as_str() == Some(key)));
    match entry {
        Some((key, value)) if value.is_null() => key.span,
        Some((_, value)) => value.span,
        None => owner.span,
    }
}

fn optional_text(owner: &Node, key: &str) -> Option<String> {
    owner
        .get(key)
        .filter(|node| !node.is_null())
        .and_then(Node::as_str)
        .map(str::to_string)
}

/// Reads a `variables` list.
pub fn read_variables<'a>(report: &mut Report, owner: &'a Node, prefix: &str) -> Vec<Variable<'a>> {
    let Some(list) = owner.get("variables") else {
        return Vec::new();
    };
    if list.is_null() {
        return Vec::new();
    }
    let Some(items) = list.as_sequence() else {
        report.error(
            "wrong-type",
            format!("`variables` must be a list, found {}", list.kind_name()),
            list.span,
            "write each variable as `- name: ...` with `type` and `value`",
        );
        return Vec::new();
    };
    let mut variables: Vec<Variable<'a>> = Vec::new();
    for item in items {
        if item.as_mapping().is_none() {
            report.error(
                "wrong-type",
                format!("a variable must be a mapping, found {}", item.kind_name()),
                item.span,
                "write `- name: x` with `type` and `value`",
            );
            continue;
        }
        let (name, name_node) = required_text(report, item, "name", "variable");
        let Some(name_node) = name_node else { continue };
        if name.is_empty() {
            continue;
        }
        if let Some(problem) = variable_name_problem(&name) {
            report.error("invalid-variable-name", problem, name_node.span, "variable names start with a letter or `_` and use letters, digits, `_`, `.`, `-` and `$`");
        }
        if let Some(first) = variables.iter().find(|variable| variable.name == name) {
            report.push(
                Diagnostic::error(
                    "duplicate-variable",
                    format!("variable `{name}` is defined twice"),
                    name_node.span,
                )
                .with_label(first.name_node.span, "first defined here")
                .with_help("rename or remove one of the two variables"),
            );
        }
        let var_type = optional_text(item, "type").unwrap_or_else(|| "String".to_string());
        if !matches!(var_type.as_str(), "String" | "Number" | "Secret") {
            let span = item.get("type").map_or(name_node.span, |node| node.span);
            let help =
                crate::pipeline::suggest::did_you_mean(&var_type, &["String", "Number", "Secret"])
                    .unwrap_or_else(|| "use `String`, `Number` or `Secret`".to_string());
            report.error(
                "unknown-variable-type",
                format!("unknown variable type `{var_type}`"),
                span,
                help,
            );
        }
        if var_type == "Number"
            && let Some(value) = item.get("value")
            && let Some(text) = fixed_non_number(value)
        {
            let problem = if text.trim().parse::<f64>().is_ok_and(|n| !n.is_nan()) {
                "is out of the range of a number"
            } else {
                "is not a number"
            };
            report.error(
                "invalid-variable-value",
                format!("variable `{name}` has type `Number`, but its value `{text}` {problem}"),
                value.span,
                "write a number such as `3` or `2.5`, or give the variable `type: String`",
            );
        }
        variables.push(Variable {
            path: format!("{prefix}.variables.{name}"),
            name,
            name_node,
            var_type,
            value: item.get("value"),
            node: item,
        });
    }
    variables
}

/// Returns the text of `value` when it is a fixed scalar that is not a
/// number, as a `Number` variable's value must be. Empty values, blocks and
/// runtime inputs pass: they get a value or a check of their own later.
fn fixed_non_number(value: &Node) -> Option<&str> {
    let text = value.as_str()?;
    if value.is_null() || text.trim().is_empty() || classify(text) != ValueKind::Fixed {
        return None;
    }
    match typed_scalar(value) {
        crate::value::Value::Int(_) | crate::value::Value::Float(_) => None,
        _ if text.trim().parse::<f64>().is_ok_and(f64::is_finite) => None,
        _ => Some(text),
    }
}

/// Checks a custom variable name (`^[a-zA-Z_][0-9a-zA-Z_.$-]{0,127}$`, not a JEXL keyword).
pub fn variable_name_problem(name: &str) -> Option<String> {
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let rest_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '$' | '-'));
    if !first_ok || !rest_ok || name.chars().count() > 128 {
        return Some(format!("invalid variable name `{name}`"));
    }
    if JEXL_KEYWORDS.contains(&name) || RESERVED_VARIABLE_NAMES.contains(&name) {
        return Some(format!("variable name `{name}` is a reserved word"));
    }
    None
}

/// Finds which kind of document `root` is; reports v1 files, fragments and
/// unknown documents with one error each.
pub fn document_kind(report: &mut Report, root: &Node) -> Option<DocumentKind> {
    let Some(entries) = root.as_mapping() else {
        report.error(
            "unknown-document",
            format!(
                "expected a Harness YAML document, found {}",
                root.kind_name()
            ),
            root.span,
            "a pipeline file starts with `pipeline:`",
        );
        return None;
    };
    if let Some(version) = root.get("version") {
        report.error("v1-format", "this file uses the v1 pipeline format, which basso does not support", version.span, "basso reads v0 pipelines (`pipeline:` with `stages: - stage:`); convert the file or check it with Harness");
        return None;
    }
    if let Some(pipeline) = root.get("pipeline") {
        if is_v1(pipeline) {
            report.error("v1-format", "this file uses the v1 pipeline format, which basso does not support", root.entry("pipeline").map_or(root.span, |(key, _)| key.span), "basso reads v0 pipelines (`pipeline:` with `stages: - stage:`); convert the file or check it with Harness");
            return None;
        }
        return Some(DocumentKind::Pipeline);
    }
    if root.get("inputSet").is_some() {
        return Some(DocumentKind::InputSet);
    }
    if let Some(template) = root.get("template") {
        if template.get("type").and_then(Node::as_str) == Some("Pipeline") {
            return Some(DocumentKind::PipelineTemplate);
        }
        let kind = template
            .get("type")
            .and_then(Node::as_str)
            .unwrap_or("unknown");
        report.error(
            "unsupported-template",
            format!("`{kind}` templates are not checked"),
            template.span,
            "basso checks pipelines, pipeline templates and input sets",
        );
        return None;
    }
    let first_key = entries.first().map_or(root.span, |(key, _)| key.span);
    let keys: Vec<&str> = entries.iter().filter_map(|(key, _)| key.as_str()).collect();
    let looks_like_pipeline_body = keys.iter().any(|key| {
        matches!(
            *key,
            "stages" | "properties" | "tags" | "variables" | "spec" | "identifier" | "name"
        )
    });
    if looks_like_pipeline_body {
        report.error(
            "missing-header",
            "this file is a fragment without a `pipeline:` header",
            first_key,
            "a pipeline file starts with `pipeline:` followed by `name`, `identifier` and `stages`, indented below it",
        );
    } else {
        report.error(
            "unknown-document",
            "expected a Harness pipeline or input set",
            first_key,
            "a pipeline file starts with `pipeline:`, an input set with `inputSet:`",
        );
    }
    None
}

fn is_v1(pipeline: &Node) -> bool {
    if pipeline.get("clone").is_some() || pipeline.get("inputs").is_some() {
        return true;
    }
    let Some(stages) = pipeline.get("stages").and_then(Node::as_sequence) else {
        return false;
    };
    stages.iter().any(|item| {
        item.get("stage").is_none()
            && item.get("parallel").is_none()
            && (item.get("steps").is_some() || item.get("id").is_some())
    })
}

/// Builds the pipeline model from a document root.
pub fn read_pipeline<'a>(
    report: &mut Report,
    root: &'a Node,
    kind: DocumentKind,
) -> Option<Pipeline<'a>> {
    let (header, node) = match kind {
        DocumentKind::Pipeline => {
            let node = root.get("pipeline")?;
            (node, node)
        }
        DocumentKind::PipelineTemplate => {
            let template = root.get("template")?;
            let Some(spec) = template.get("spec") else {
                report.error(
                    "missing-field",
                    "the pipeline template has no `spec`",
                    key_span(template),
                    "add `spec:` with the pipeline's `stages`",
                );
                return None;
            };
            (template, spec)
        }
        DocumentKind::InputSet => return None,
    };
    if node.as_mapping().is_none() {
        report.error(
            "wrong-type",
            format!("`pipeline` must be a mapping, found {}", node.kind_name()),
            node.span,
            "write the pipeline's fields indented below `pipeline:`",
        );
        return None;
    }
    let (identifier, identifier_node) = required_text(report, header, "identifier", "pipeline");
    if let (Some(id_node), false) = (identifier_node, identifier.is_empty())
        && let Some((message, help)) = identifier_problem(&identifier)
    {
        report.error("invalid-identifier", message, id_node.span, help);
    }
    let (name, name_node) = required_text(report, header, "name", "pipeline");
    check_name(report, &name, name_node);
    let variables = read_variables(report, node, "pipeline");
    if let Some((key, _)) = node.entry("template") {
        report.warning(
            "template-ref",
            "the pipeline comes from a template, which basso does not check",
            key.span,
            "templates live outside this file; check the template on its own",
        );
        return Some(Pipeline {
            kind,
            node,
            header,
            identifier,
            name,
            variables,
            stages: Vec::new(),
        });
    }
    let stages = read_stages(report, node);
    Some(Pipeline {
        kind,
        node,
        header,
        identifier,
        name,
        variables,
        stages,
    })
}

fn check_name(report: &mut Report, name: &str, node: Option<&Node>) {
    if let (Some(node), false) = (node, name.is_empty())
        && let Some(problem) = name_problem(name)
    {
        report.error(
            "invalid-name",
            problem,
            node.span,
            "names use letters, digits, spaces, `_`, `-` and `.`, at most 128 characters",
        );
    }
}

fn read_stages<'a>(report: &mut Report, pipeline: &'a Node) -> Vec<Stage<'a>> {
    let Some(list) = pipeline.get("stages") else {
        report.error(
            "missing-field",
            "the pipeline has no `stages`",
            key_span(pipeline),
            "add `stages:` with at least one `- stage:`",
        );
        return Vec::new();
    };
    let Some(items) = list.as_sequence() else {
        report.error(
            "wrong-type",
            format!("`stages` must be a list, found {}", list.kind_name()),
            list.span,
            "write each stage as `- stage:`",
        );
        return Vec::new();
    };
    if items.is_empty() {
        report.error(
            "empty-stages",
            "`stages` is empty, but Harness's v0 schema requires at least one stage",
            list.span,
            "add a `- stage:`",
        );
    }
    let mut stages = Vec::new();
    let mut parallel_count = 0;
    for item in items {
        if let Some(parallel) = item.get("parallel") {
            parallel_count += 1;
            for inner in parallel.as_sequence().unwrap_or_default() {
                read_stage_item(report, inner, Some(parallel_count), &mut stages);
            }
        } else {
            read_stage_item(report, item, None, &mut stages);
        }
    }
    check_unique(
        report,
        stages
            .iter()
            .map(|stage| (stage.identifier.as_str(), stage.identifier_node)),
        "stage",
        "pipeline",
    );
    stages
}

fn check_unique<'a>(
    report: &mut Report,
    items: impl Iterator<Item = (&'a str, Option<&'a Node>)>,
    what: &str,
    scope: &str,
) {
    // Every step of a stage passes through here, so the identifiers are
    // hashed once each, with foldhash as in `value::Map` instead of SipHash.
    let mut seen: HashMap<&str, Option<&Node>, FixedState> =
        HashMap::with_capacity_and_hasher(items.size_hint().0, FixedState::default());
    for (identifier, node) in items {
        if identifier.is_empty() {
            continue;
        }
        let first = match seen.entry(identifier) {
            Entry::Occupied(entry) => *entry.get(),
            Entry::Vacant(entry) => {
                entry.insert(node);
                continue;
            }
        };
        let span = node.map_or(Span::default(), |n| n.span);
        let mut diagnostic = Diagnostic::error(
            "duplicate-identifier",
            format!("{what} identifier `{identifier}` is used twice in this {scope}"),
            span,
        )
        .with_help(distinct_identifier_help(what, identifier));
        if let Some(first) = first {
            diagnostic = diagnostic.with_label(first.span, "first used here");
        }
        report.push(diagnostic);
    }
}

fn read_stage_item<'a>(
    report: &mut Report,
    item: &'a Node,
    parallel: Option<u32>,
    stages: &mut Vec<Stage<'a>>,
) {
    let Some(node) = item.get("stage") else {
        if item.get("template").is_some() || item.get("insert").is_some() {
            return;
        }
        report.error(
            "wrong-type",
            "a `stages` entry must be `stage:` or `parallel:`",
            key_span(item),
            "write `- stage:` followed by the stage's fields",
        );
        return;
    };
    if node.as_mapping().is_none() {
        report.error(
            "wrong-type",
            format!("a stage must be a mapping, found {}", node.kind_name()),
            node.span,
            "write the stage's fields indented below `stage:`",
        );
        return;
    }
    let (identifier, identifier_node) = required_text(report, node, "identifier", "stage");
    if let (Some(id_node), false) = (identifier_node, identifier.is_empty())
        && let Some((message, help)) = identifier_problem(&identifier)
    {
        report.error("invalid-identifier", message, id_node.span, help);
    }
    let (name, name_node) = if node.get("template").is_some() {
        (
            optional_text(node, "name").unwrap_or_default(),
            node.get("name"),
        )
    } else {
        required_text(report, node, "name", "stage")
    };
    check_name(report, &name, name_node);
    let stage_type = optional_text(node, "type").unwrap_or_default();
    let path = format!("pipeline.stages.{identifier}");
    let variables = read_variables(report, node, &path);
    let spec = node.get("spec").filter(|spec| spec.as_mapping().is_some());
    let infra = spec.map_or(
        InfraDecl {
            kind: InfrastructureKind::Unknown,
            type_name: None,
            use_from_stage: None,
            node: None,
        },
        read_infra,
    );
    let mut stage = Stage {
        node,
        identifier,
        identifier_node,
        name,
        stage_type,
        parallel,
        variables,
        spec,
        infra,
        steps: Vec::new(),
        groups: Vec::new(),
        path,
    };
    // Steps of other stage types are read too, so expressions can name them.
    if let Some(spec) = spec
        && (stage.is_ci() || spec.get("execution").is_some())
    {
        let mut local = Report::default();
        read_execution(&mut local, &mut stage, spec);
        if stage.is_ci() {
            report.diagnostics.extend(local.diagnostics);
        }
    }
    stages.push(stage);
}

fn read_infra(spec: &Node) -> InfraDecl<'_> {
    if let Some(infrastructure) = spec.get("infrastructure") {
        let use_from = infrastructure.get("useFromStage").or_else(|| {
            (infrastructure.get("type").and_then(Node::as_str) == Some("UseFromStage"))
                .then(|| infrastructure.get("spec").and_then(|s| s.get("stage")))
                .flatten()
        });
        if let Some(from) = use_from {
            let stage = from
                .as_str()
                .map(str::to_string)
                .or_else(|| from.get("stage").and_then(Node::as_str).map(str::to_string))
                .unwrap_or_default();
            return InfraDecl {
                kind: InfrastructureKind::Unknown,
                type_name: None,
                use_from_stage: Some((stage, from)),
                node: Some(infrastructure),
            };
        }
        let type_name = infrastructure
            .get("type")
            .and_then(Node::as_str)
            .map(str::to_string);
        let kind = match type_name.as_deref() {
            Some("KubernetesDirect") => InfrastructureKind::KubernetesDirect,
            Some("VM") => InfrastructureKind::Vm,
            _ => InfrastructureKind::Unknown,
        };
        return InfraDecl {
            kind,
            type_name,
            use_from_stage: None,
            node: Some(infrastructure),
        };
    }
    if let Some(runtime) = spec.get("runtime") {
        let type_name = runtime
            .get("type")
            .and_then(Node::as_str)
            .map(str::to_string);
        let kind = match type_name.as_deref() {
            Some("Cloud") => InfrastructureKind::Cloud,
            Some("Docker") => InfrastructureKind::Docker,
            _ => InfrastructureKind::Unknown,
        };
        return InfraDecl {
            kind,
            type_name,
            use_from_stage: None,
            node: Some(runtime),
        };
    }
    InfraDecl {
        kind: InfrastructureKind::Unknown,
        type_name: None,
        use_from_stage: None,
        node: None,
    }
}

struct ExecutionWalk<'r, 'a> {
    report: &'r mut Report,
    steps: Vec<Step<'a>>,
    groups: Vec<Group<'a>>,
    parallel_count: u32,
}

fn read_execution<'a>(report: &mut Report, stage: &mut Stage<'a>, spec: &'a Node) {
    let Some(execution) = spec.get("execution") else {
        if spec.get("template").is_none() {
            report.error(
                "missing-field",
                "the CI stage has no `execution`",
                key_span(spec),
                "add `execution:` with `steps:`",
            );
        }
        return;
    };
    let Some(list) = execution.get("steps") else {
        report.error(
            "missing-field",
            "`execution` has no `steps`",
            execution.span,
            "add `steps:` with at least one `- step:`",
        );
        return;
    };
    if has_no_items(list) {
        report.error(
            "empty-steps",
            "`execution.steps` is empty, but Harness's v0 schema requires at least one step",
            value_span(execution, "steps"),
            "add a `- step:` or remove the stage",
        );
    }
    let mut walk = ExecutionWalk {
        report,
        steps: Vec::new(),
        groups: Vec::new(),
        parallel_count: 0,
    };
    let base = format!("{}.spec.execution.steps", stage.path);
    walk.sequence(list, &base, &[], None, 0);
    let ExecutionWalk { steps, groups, .. } = walk;
    let ids = steps
        .iter()
        .map(|step| (step.identifier.as_str(), step.identifier_node))
        .chain(
            groups
                .iter()
                .map(|group| (group.identifier.as_str(), group.node.get("identifier"))),
        );
    check_unique(report, ids, "step", "stage");
    check_iteration_ids(report, &steps, &groups);
    stage.steps = steps;
    stage.groups = groups;
}

/// Reports an iteration of a looped step or step group whose identifier,
/// such as `r_1`, is also the identifier of another step or step group of
/// the stage: a reference to `r_1` would read only one of the two.
fn check_iteration_ids(report: &mut Report, steps: &[Step<'_>], groups: &[Group<'_>]) {
    let written: HashMap<&str, Option<&Node>, FixedState> = steps
        .iter()
        .map(|step| (step.identifier.as_str(), step.identifier_node))
        .chain(
            groups
                .iter()
                .map(|group| (group.identifier.as_str(), group.node.get("identifier"))),
        )
        .collect();
    let looped = steps
        .iter()
        .filter_map(|step| {
            let node = LoopedNode::of("step", &step.identifier, step.node)?;
            Some((node, step.identifier_node))
        })
        .chain(groups.iter().filter_map(|group| {
            let node = LoopedNode::of("step group", &group.identifier, group.node)?;
            Some((node, group.node.get("identifier")))
        }));
    for (node, identifier_node) in looped {
        let Some(ids) = node.fixed_ids() else {
            continue;
        };
        let Some((id, other)) = ids
            .iter()
            .find_map(|id| written.get(id.as_str()).map(|other| (id, other)))
        else {
            continue;
        };
        let mut diagnostic = Diagnostic::error(
            "duplicate-identifier",
            format!(
                "an iteration of the looped {} `{}` gets the identifier `{id}`, which another step or step group of this stage has",
                node.kind, node.identifier
            ),
            identifier_node.map_or(node.strategy.span, |identifier| identifier.span),
        )
        .with_help(format!(
            "rename `{id}`: a reference to `{id}` reads the iteration, and the other one's outputs cannot be read"
        ));
        if let Some(other) = other {
            diagnostic = diagnostic.with_label(other.span, "the other identifier");
        }
        report.push(diagnostic);
    }
}

impl<'a> ExecutionWalk<'_, 'a> {
    /// Reads a list of execution wrappers that run one after another; returns
    /// the position after the last one.
    fn sequence(
        &mut self,
        list: &'a Node,
        base: &str,
        groups: &[Group<'a>],
        parallel: Option<u32>,
        start: usize,
    ) -> usize {
        let Some(items) = list.as_sequence() else {
            if !list.is_null() {
                self.report.error(
                    "wrong-type",
                    format!("`steps` must be a list, found {}", list.kind_name()),
                    list.span,
                    "write each step as `- step:`",
                );
            }
            return start;
        };
        // Most entries are one step each, and `Step` is large enough that
        // growing the list one doubling at a time copies a lot.
        self.steps.reserve(items.len());
        let mut position = start;
        for item in items {
            position = self.wrapper(item, base, groups, parallel, position);
        }
        position
    }

    fn wrapper(
        &mut self,
        item: &'a Node,
        base: &str,
        groups: &[Group<'a>],
        parallel: Option<u32>,
        start: usize,
    ) -> usize {
        self.check_wrapper_keys(item);
        if let Some(step) = item.get("step") {
            return self.step(step, base, groups, parallel, start);
        }
        if let Some(inner) = item.get("parallel") {
            if has_no_items(inner) {
                self.report.error(
                    "empty-steps",
                    "`parallel` is empty, but Harness's v0 schema requires at least one entry",
                    value_span(item, "parallel"),
                    "list the steps that run at the same time, or remove `- parallel:`",
                );
            }
            self.parallel_count += 1;
            let number = self.parallel_count;
            let mut finish = start;
            for branch in inner.as_sequence().unwrap_or_default() {
                finish = finish.max(self.wrapper(branch, base, groups, Some(number), start));
            }
            return finish.max(start + 1);
        }
        if let Some(group_node) = item.get("stepGroup") {
            return self.group(group_node, base, groups, parallel, start);
        }
        if item.get("insert").is_some() || item.get("template").is_some() {
            return start;
        }
        self.report.error(
            "wrong-type",
            "a `steps` entry must be `step:`, `parallel:` or `stepGroup:`",
            key_span(item),
            "write `- step:` followed by the step's fields",
        );
        start
    }

    /// Warns about keys beside `step:`, `parallel:` or `stepGroup:` in an
    /// execution entry, which basso ignores. The usual cause is a step field
    /// indented one level too little, such as `failureStrategies:` written
    /// beside `step:`. `contextType`, which published Harness pipelines
    /// carry there, and `uuid` are left alone.
    fn check_wrapper_keys(&mut self, item: &Node) {
        const WRAPPERS: [&str; 3] = ["step", "parallel", "stepGroup"];
        const KEPT: [&str; 2] = ["contextType", "uuid"];
        let Some(wrapper) = WRAPPERS.into_iter().find(|key| item.get(key).is_some()) else {
            return;
        };
        for (key, _) in item.as_mapping().unwrap_or_default() {
            let Some(text) = key.as_str() else { continue };
            if text == wrapper || KEPT.contains(&text) {
                continue;
            }
            self.report.warning(
                "unknown-key",
                format!("unknown key `{text}` beside `{wrapper}:` in a `steps` entry, which basso ignores"),
                key.span,
                format!("an entry holds only `{wrapper}:`; if `{text}` belongs to the {wrapper}, indent it under `{wrapper}:`"),
            );
        }
    }

    fn group(
        &mut self,
        node: &'a Node,
        base: &str,
        groups: &[Group<'a>],
        parallel: Option<u32>,
        start: usize,
    ) -> usize {
        let (identifier, identifier_node) =
            required_text(self.report, node, "identifier", "step group");
        if let (Some(id_node), false) = (identifier_node, identifier.is_empty())
            && let Some((message, help)) = identifier_problem(&identifier)
        {
            self.report
                .error("invalid-identifier", message, id_node.span, help);
        }
        let path = format!("{base}.{identifier}");
        let variables = read_variables(self.report, node, &path);
        let group = Group {
            identifier,
            node,
            path: path.clone(),
            variables,
            parallel,
        };
        self.groups.push(group.clone());
        if node.get("template").is_some() {
            self.report.warning(
                "template-ref",
                "the step group comes from a template, which basso does not check",
                key_span(node),
                "templates live outside this file; check the template on its own",
            );
            return start + 1;
        }
        let mut chain = groups.to_vec();
        chain.push(group);
        match node.get("steps") {
            Some(list) => {
                if has_no_items(list) {
                    self.report.warning(
                        "empty-step-group",
                        "the step group has no steps, so it runs nothing",
                        value_span(node, "steps"),
                        "add a `- step:` to `steps`, or remove the step group",
                    );
                }
                self.sequence(list, &format!("{path}.steps"), &chain, parallel, start)
            }
            None => {
                self.report.error(
                    "missing-field",
                    "the step group has no `steps`",
                    key_span(node),
                    "add `steps:` with at least one `- step:`",
                );
                start
            }
        }
    }

    fn step(
        &mut self,
        node: &'a Node,
        base: &str,
        groups: &[Group<'a>],
        parallel: Option<u32>,
        start: usize,
    ) -> usize {
        if node.as_mapping().is_none() {
            self.report.error(
                "wrong-type",
                format!("a step must be a mapping, found {}", node.kind_name()),
                node.span,
                "write the step's fields indented below `step:`",
            );
            return start;
        }
        let (identifier, identifier_node) = required_text(self.report, node, "identifier", "step");
        if let (Some(id_node), false) = (identifier_node, identifier.is_empty())
            && let Some((message, help)) = identifier_problem(&identifier)
        {
            self.report
                .error("invalid-identifier", message, id_node.span, help);
        }
        let is_template = node.get("template").is_some();
        let (name, name_node) = if is_template {
            (
                optional_text(node, "name").unwrap_or_default(),
                node.get("name"),
            )
        } else {
            required_text(self.report, node, "name", "step")
        };
        check_name(self.report, &name, name_node);
        let (step_type, type_node) = if is_template {
            ("Template".to_string(), node.get("template"))
        } else {
            required_text(self.report, node, "type", "step")
        };
        // Every step comes here, and `format!` costs several times more
        // than copying the two parts.
        let mut path = String::with_capacity(base.len() + 1 + identifier.len());
        path.push_str(base);
        push_key(&mut path, &identifier);
        self.steps.push(Step {
            node,
            identifier,
            identifier_node,
            name,
            step_type,
            type_node,
            spec: node.get("spec"),
            groups: groups.to_vec(),
            parallel,
            path,
            start,
            finish: start + 1,
        });
        start + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifier_fix_drops_accents() {
        let (_, help) = identifier_problem("été").expect("invalid");
        assert_eq!(help, "did you mean `ete`?");
        let (_, help) = identifier_problem("Größe_1").expect("invalid");
        assert_eq!(help, "did you mean `Grosse_1`?");
    }

    #[test]
    fn identifier_fix_keeps_most_of_name() {
        let (_, help) = identifier_problem("build-app").expect("invalid");
        assert_eq!(help, "did you mean `build_app`?");
        let (_, help) = identifier_problem("1st").expect("invalid");
        assert_eq!(help, "did you mean `_1st`?");
    }

    #[test]
    fn duplicate_help_gives_valid_example() {
        assert_eq!(
            distinct_identifier_help("step", "build"),
            "give each step its own identifier, such as `build_2`"
        );
        assert_eq!(
            distinct_identifier_help("step", "a-b"),
            "give each step its own identifier, such as `a_b_2`"
        );
        assert_eq!(
            distinct_identifier_help("stage", "日本語"),
            format!("give each stage its own identifier; {IDENTIFIER_RULE}")
        );
    }

    #[test]
    fn invisible_characters_named_by_code_point() {
        let (message, _) = identifier_problem("ab\u{200B}c").expect("invalid");
        assert_eq!(
            message,
            "identifier `ab\u{200B}c` contains U+200B, an invisible character; only ASCII letters, digits and `_` are allowed"
        );
        let message = name_problem("a\u{FEFF}").expect("invalid");
        assert!(
            message.contains("contains U+FEFF, an invisible character"),
            "{message}"
        );
        let message = name_problem("a/b").expect("invalid");
        assert!(message.contains("contains `/`;"), "{message}");
    }

    #[test]
    fn non_ascii_first_letter_named_ascii() {
        let (message, _) = identifier_problem("çb").expect("invalid");
        assert_eq!(
            message,
            "identifier `çb` must start with an ASCII letter (`a` to `z`, `A` to `Z`) or `_`"
        );
    }

    #[test]
    fn identifier_fix_omitted_when_mostly_replaced() {
        for text in ["日本語", "a→→", "-x", "ünï→→→"] {
            let (_, help) = identifier_problem(text).expect("invalid");
            assert_eq!(help, IDENTIFIER_RULE, "`{text}`");
        }
    }

    #[test]
    fn shorten_quoted_cuts_long_spans() {
        let long = "x".repeat(MAX_QUOTED_CHARS + 100);
        let mut text = format!("name `{long}` contains `/`; short `ok`");
        shorten_quoted(&mut text);
        let cut = format!("{}…", "x".repeat(MAX_QUOTED_CHARS - 1));
        assert_eq!(text, format!("name `{cut}` contains `/`; short `ok`"));

        let mut lines = "script `echo a\necho b` fails".to_string();
        shorten_quoted(&mut lines);
        assert_eq!(lines, "script `echo a…` fails");

        let mut unchanged = format!("a `{}` b", "y".repeat(MAX_QUOTED_CHARS));
        let before = unchanged.clone();
        shorten_quoted(&mut unchanged);
        assert_eq!(unchanged, before);
    }

    #[test]
    fn long_name_message_is_short() {
        let name = format!("{}/", "n".repeat(100_000));
        let source = format!(
            "pipeline:\n  name: \"{name}\"\n  identifier: p\n  stages:\n    - stage:\n        name: s\n        identifier: s\n        type: CI\n        spec:\n          platform: {{os: Linux, arch: Amd64}}\n          runtime: {{type: Cloud, spec: {{}}}}\n          execution:\n            steps:\n              - step:\n                  type: Run\n                  name: a\n                  identifier: a\n                  spec: {{shell: Sh, command: echo}}\n"
        );
        let diagnostics = crate::pipeline::check(&source, "p.yaml");
        let invalid: Vec<&Diagnostic> = diagnostics
            .iter()
            .filter(|d| d.code == "invalid-name")
            .collect();
        assert_eq!(invalid.len(), 1, "{diagnostics:?}");
        let message = &invalid[0].message;
        assert!(message.len() < 2 * MAX_QUOTED_CHARS, "{message}");
        assert!(message.contains("…`"), "{message}");
    }
}
