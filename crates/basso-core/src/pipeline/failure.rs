//! Failure strategies (`failureStrategies`) of stages, step groups and
//! steps: the model, and the reading of a written or supplied list with a
//! diagnostic for every problem.
//!
//! The error types and action types are those of Harness's v0 JSON schema
//! (`v0/pipeline/common/on-failure-config.yaml` and
//! `failure-strategy-action-config.yaml` in the harness/harness-schema
//! repository).

use serde::{Deserialize, Serialize};

use crate::pipeline::duration::parse_duration;
use crate::pipeline::field::{ValueKind, classify};
use crate::pipeline::model::{Report, key_span};
use crate::pipeline::suggest::did_you_mean;
use crate::pipeline::validate::list;
use crate::pipeline::yaml::Node;

/// Declares [`ErrorType`] with its list of variants and their YAML names.
macro_rules! error_types {
    ($($(#[$doc:meta])* $variant:ident,)+) => {
        /// An error type that `onFailure.errors` lists, spelled as in YAML.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        pub enum ErrorType {
            $($(#[$doc])* $variant,)+
        }

        impl ErrorType {
            /// Every error type, in the order of Harness's schema.
            pub const ALL: &[ErrorType] = &[$(ErrorType::$variant,)+];

            /// Returns the YAML spelling (case-sensitive).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorType::$variant => stringify!($variant),)+
                }
            }
        }
    };
}

error_types! {
    /// Matches every failure.
    AllErrors,
    /// A failure of no other type. basso run reports a non-zero exit as this.
    Unknown,
    Authentication,
    Connectivity,
    /// The step ran past its `timeout`.
    Timeout,
    Authorization,
    Verification,
    DelegateProvisioning,
    PolicyEvaluationFailure,
    InputTimeoutError,
    ApprovalRejection,
    DelegateRestart,
    UserMarkedFailure,
    InfrastructureFailure,
    PluginImageFailure,
    ResourceLimitsFailure,
    ConfigurationFailure,
    RetryableTransientFailure,
}

impl ErrorType {
    /// Parses the exact, case-sensitive spelling.
    pub fn parse(text: &str) -> Option<ErrorType> {
        ErrorType::ALL
            .iter()
            .copied()
            .find(|error| error.as_str() == text)
    }
}

/// One `failureStrategies` entry (`onFailure: {errors, action}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct FailureStrategy {
    /// `onFailure.errors`: the error types the strategy applies to.
    pub errors: Vec<ErrorType>,
    /// `onFailure.action`.
    pub action: FailureAction,
}

/// A failure strategy `action`, tagged by its `type` as written in YAML.
/// basso run performs `Ignore`, `MarkAsSuccess`, `MarkAsFailure`, `Abort`
/// and `Retry`; the other types are kept by name, and their `spec` is not
/// read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "type")]
pub enum FailureAction {
    Ignore,
    MarkAsSuccess,
    MarkAsFailure,
    Abort,
    Retry(RetryAction),
    ManualIntervention,
    StageRollback,
    StepGroupRollback,
    PipelineRollback,
    ProceedWithDefaultValues,
    RetryStepGroup,
}

/// The action types of Harness's schema, for messages and suggestions.
pub const ACTION_TYPES: &[&str] = &[
    "Ignore",
    "Retry",
    "MarkAsSuccess",
    "Abort",
    "StageRollback",
    "StepGroupRollback",
    "PipelineRollback",
    "ManualIntervention",
    "ProceedWithDefaultValues",
    "MarkAsFailure",
    "RetryStepGroup",
];

impl FailureAction {
    /// Returns the action's `type` as written in YAML.
    pub fn type_name(&self) -> &'static str {
        match self {
            FailureAction::Ignore => "Ignore",
            FailureAction::MarkAsSuccess => "MarkAsSuccess",
            FailureAction::MarkAsFailure => "MarkAsFailure",
            FailureAction::Abort => "Abort",
            FailureAction::Retry(_) => "Retry",
            FailureAction::ManualIntervention => "ManualIntervention",
            FailureAction::StageRollback => "StageRollback",
            FailureAction::StepGroupRollback => "StepGroupRollback",
            FailureAction::PipelineRollback => "PipelineRollback",
            FailureAction::ProceedWithDefaultValues => "ProceedWithDefaultValues",
            FailureAction::RetryStepGroup => "RetryStepGroup",
        }
    }

    /// Returns the action named `name` when it takes no `spec`, and `None`
    /// for `Retry` and for unknown names.
    fn without_spec(name: &str) -> Option<FailureAction> {
        let action = match name {
            "Ignore" => FailureAction::Ignore,
            "MarkAsSuccess" => FailureAction::MarkAsSuccess,
            "MarkAsFailure" => FailureAction::MarkAsFailure,
            "Abort" => FailureAction::Abort,
            "ManualIntervention" => FailureAction::ManualIntervention,
            "StageRollback" => FailureAction::StageRollback,
            "StepGroupRollback" => FailureAction::StepGroupRollback,
            "PipelineRollback" => FailureAction::PipelineRollback,
            "ProceedWithDefaultValues" => FailureAction::ProceedWithDefaultValues,
            "RetryStepGroup" => FailureAction::RetryStepGroup,
            _ => return None,
        };
        Some(action)
    }
}

/// The `spec` of a `Retry` action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct RetryAction {
    /// `retryCount`: how many times the step runs again after it fails.
    pub retry_count: u32,
    /// `retryIntervals` in whole seconds, milliseconds rounded up: the wait
    /// before retry `i` is entry `i`, and the last entry repeats. Empty when
    /// the file gives none, and then retries start at once.
    #[cfg_attr(feature = "ts", ts(type = "Array<number>"))]
    pub retry_interval_seconds: Vec<u64>,
    /// `onRetryFailure.action`, applied when the last retry fails too. It is
    /// `MarkAsFailure` when the file gives none, and never `Retry`.
    pub on_retry_failure: Box<FailureAction>,
}

/// Reads a `failureStrategies` value: a list, `null`, or a runtime input,
/// which yields nothing because resolution reads the supplied value.
/// Reports every problem. An entry whose action cannot be read is left out.
pub fn read(report: &mut Report, node: &Node) -> Vec<FailureStrategy> {
    if node.is_null() {
        return Vec::new();
    }
    let Some(entries) = node.as_sequence() else {
        let written = node.as_str().map(classify);
        if written.is_none_or(|kind| kind == ValueKind::Fixed) {
            report.error(
                "wrong-type",
                format!(
                    "`failureStrategies` must be a list, found {}",
                    node.kind_name()
                ),
                node.span,
                "write each strategy as `- onFailure:` with `errors` and `action`",
            );
        }
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| read_entry(report, entry))
        .collect()
}

fn read_entry(report: &mut Report, entry: &Node) -> Option<FailureStrategy> {
    if entry.as_mapping().is_none() {
        report.error(
            "wrong-type",
            format!(
                "a failure strategy must be a mapping, found {}",
                entry.kind_name()
            ),
            entry.span,
            "write `- onFailure: {errors: [AllErrors], action: {type: Ignore}}`",
        );
        return None;
    }
    let Some((key, on_failure)) = entry.entry("onFailure") else {
        report.error(
            "missing-field",
            "a failure strategy has no `onFailure`",
            key_span(entry),
            "write `- onFailure:` with `errors` and `action` below it",
        );
        return None;
    };
    if !is_mapping(
        report,
        on_failure,
        "onFailure",
        "`onFailure: {errors: [AllErrors], action: {type: Ignore}}`",
    ) {
        return None;
    }
    let errors = read_errors(report, on_failure, key);
    let action = read_action(report, on_failure, key, true)?;
    Some(FailureStrategy { errors, action })
}

/// Reports `node` unless it is a mapping; `example` shows the fix.
fn is_mapping(report: &mut Report, node: &Node, field: &str, example: &str) -> bool {
    if node.as_mapping().is_some() {
        return true;
    }
    report.error(
        "wrong-type",
        format!("`{field}` must be a mapping, found {}", node.kind_name()),
        node.span,
        format!("write {example}"),
    );
    false
}

/// Returns the text of a scalar that is neither null nor an expression.
/// Reports other values; `what` describes the expected value.
fn fixed_text<'n>(report: &mut Report, node: &'n Node, field: &str, what: &str) -> Option<&'n str> {
    let text = node.as_str().filter(|_| !node.is_null());
    let Some(text) = text else {
        report.error(
            "wrong-type",
            format!("`{field}` must be {what}, found {}", node.kind_name()),
            node.span,
            format!("write {what}"),
        );
        return None;
    };
    if classify(text) != ValueKind::Fixed {
        report.error(
            "expression-not-allowed",
            format!("`{field}` takes a fixed value, not `{text}`"),
            node.span,
            format!(
                "Harness reads failure strategies before the run starts; write {what}, or make the whole `failureStrategies` list `<+input>`"
            ),
        );
        return None;
    }
    Some(text)
}

/// Reads `onFailure.errors`. Unknown entries are reported and left out.
fn read_errors(report: &mut Report, on_failure: &Node, on_failure_key: &Node) -> Vec<ErrorType> {
    let Some(errors_node) = on_failure.get("errors") else {
        report.error(
            "missing-field",
            "`onFailure` has no `errors`",
            on_failure_key.span,
            "add `errors: [AllErrors]`, or list the error types the strategy handles",
        );
        return Vec::new();
    };
    let Some(items) = errors_node.as_sequence() else {
        report.error(
            "wrong-type",
            format!(
                "`errors` must be a list of error types, found {}",
                errors_node.kind_name()
            ),
            errors_node.span,
            "write `errors: [AllErrors]` or `errors: [Timeout, Unknown]`",
        );
        return Vec::new();
    };
    let names: Vec<&str> = ErrorType::ALL.iter().map(|error| error.as_str()).collect();
    let mut errors = Vec::new();
    for item in items {
        let Some(text) = fixed_text(report, item, "errors", "an error type such as `AllErrors`")
        else {
            continue;
        };
        match ErrorType::parse(text) {
            Some(error) => errors.push(error),
            None => report.error(
                "unknown-error-type",
                format!("unknown error type `{text}`"),
                item.span,
                did_you_mean(text, &names)
                    .unwrap_or_else(|| format!("use one of {}", list(&names))),
            ),
        }
    }
    errors
}

/// Reads the `action` of `owner` (`onFailure` or `onRetryFailure`, whose
/// key is `owner_key`). `retry_allowed` is false inside `onRetryFailure`.
fn read_action(
    report: &mut Report,
    owner: &Node,
    owner_key: &Node,
    retry_allowed: bool,
) -> Option<FailureAction> {
    let owner_name = owner_key.as_str().unwrap_or("onFailure");
    let Some((key, action)) = owner.entry("action") else {
        report.error(
            "missing-field",
            format!("`{owner_name}` has no `action`"),
            owner_key.span,
            "add `action: {type: Ignore}` or another action",
        );
        return None;
    };
    if !is_mapping(report, action, "action", "`action: {type: Ignore}`") {
        return None;
    }
    let Some(type_node) = action.get("type") else {
        report.error(
            "missing-field",
            "`action` has no `type`",
            key.span,
            format!("add `type:` with one of {}", list(ACTION_TYPES)),
        );
        return None;
    };
    let name = fixed_text(report, type_node, "type", "an action type such as `Ignore`")?;
    if let Some(parsed) = FailureAction::without_spec(name) {
        return Some(parsed);
    }
    if name != "Retry" {
        report.error(
            "unknown-failure-action",
            format!("unknown failure strategy action `{name}`"),
            type_node.span,
            did_you_mean(name, ACTION_TYPES)
                .unwrap_or_else(|| format!("use one of {}", list(ACTION_TYPES))),
        );
        return None;
    }
    if !retry_allowed {
        report.error(
            "nested-retry",
            "the action after the last retry cannot be `Retry`",
            type_node.span,
            "use `MarkAsFailure`, `Ignore`, `MarkAsSuccess` or `Abort`, or raise `retryCount`",
        );
        return None;
    }
    read_retry(report, action, key).map(FailureAction::Retry)
}

fn read_retry(report: &mut Report, action: &Node, action_key: &Node) -> Option<RetryAction> {
    let Some((spec_key, spec)) = action.entry("spec") else {
        report.error(
            "missing-field",
            "the `Retry` action has no `spec`",
            action_key.span,
            "add `spec: {retryCount: 2, retryIntervals: [10s]}`",
        );
        return None;
    };
    if !is_mapping(
        report,
        spec,
        "spec",
        "`spec: {retryCount: 2, retryIntervals: [10s]}`",
    ) {
        return None;
    }
    let retry_count = read_retry_count(report, spec, spec_key);
    let retry_interval_seconds = read_retry_intervals(report, spec);
    let on_retry_failure = match spec.entry("onRetryFailure") {
        None => Some(FailureAction::MarkAsFailure),
        Some((key, node))
            if is_mapping(
                report,
                node,
                "onRetryFailure",
                "`onRetryFailure: {action: {type: MarkAsFailure}}`",
            ) =>
        {
            read_action(report, node, key, false)
        }
        Some(_) => None,
    };
    Some(RetryAction {
        retry_count: retry_count?,
        retry_interval_seconds: retry_interval_seconds?,
        on_retry_failure: Box::new(on_retry_failure?),
    })
}

fn read_retry_count(report: &mut Report, spec: &Node, spec_key: &Node) -> Option<u32> {
    let Some(node) = spec.get("retryCount") else {
        report.error(
            "missing-field",
            "the `Retry` action has no `retryCount`",
            spec_key.span,
            "add `retryCount:` with the number of retries, such as `2`",
        );
        return None;
    };
    let text = fixed_text(report, node, "retryCount", "a whole number such as `2`")?;
    let help = "write the number of retries, such as `2`";
    let count = match text.trim().parse::<i64>() {
        Ok(count) => count,
        Err(_) => {
            let message = format!("`retryCount` must be a whole number, found `{text}`");
            report.error("invalid-retry-count", message, node.span, help);
            return None;
        }
    };
    if count < 0 {
        let message = format!("`retryCount` must not be negative, found `{text}`");
        report.error("invalid-retry-count", message, node.span, help);
        return None;
    }
    let Ok(count) = u32::try_from(count) else {
        let message = format!("`retryCount` `{text}` is larger than {}", u32::MAX);
        report.error("invalid-retry-count", message, node.span, help);
        return None;
    };
    if count == 0 {
        report.warning(
            "invalid-retry-count",
            "`retryCount` is `0`, so the step never runs again",
            node.span,
            "Harness's schema requires at least 1; write `1` or more, or use the `onRetryFailure` action as the strategy's action",
        );
    }
    Some(count)
}

/// Reads `retryIntervals` in whole seconds. A missing list reads as empty.
fn read_retry_intervals(report: &mut Report, spec: &Node) -> Option<Vec<u64>> {
    let Some(node) = spec.get("retryIntervals").filter(|node| !node.is_null()) else {
        return Some(Vec::new());
    };
    let Some(items) = node.as_sequence() else {
        fixed_text(report, node, "retryIntervals", "a list of durations")?;
        report.error(
            "wrong-type",
            format!(
                "`retryIntervals` must be a list of durations, found {}",
                node.kind_name()
            ),
            node.span,
            "write `retryIntervals: [10s, 30s]`",
        );
        return None;
    };
    let mut seconds = Vec::with_capacity(items.len());
    let mut valid = true;
    for item in items {
        let Some(text) = fixed_text(report, item, "retryIntervals", "a duration such as `10s`")
        else {
            valid = false;
            continue;
        };
        let reason = match parse_duration(text) {
            Ok(Some(interval)) => {
                seconds.push(interval);
                continue;
            }
            Ok(None) => "the duration is empty".to_string(),
            Err(reason) => reason,
        };
        report.error(
            "invalid-retry-interval",
            format!("invalid retry interval `{text}`: {reason}"),
            item.span,
            "write a duration such as `10s`, `1m` or `1h30m`",
        );
        valid = false;
    }
    valid.then_some(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Diagnostic;
    use crate::pipeline::yaml::{Limits, load};

    /// Reads the `failureStrategies` list written in `yaml` and returns the
    /// strategies and the diagnostics.
    fn read_yaml(yaml: &str) -> (Vec<FailureStrategy>, Vec<Diagnostic>) {
        let root = load(yaml, Limits::default()).unwrap().unwrap();
        let node = root.get("failureStrategies").unwrap();
        let mut report = Report::default();
        let strategies = read(&mut report, node);
        (strategies, report.diagnostics)
    }

    /// Returns a one-entry `failureStrategies` list with
    /// `errors: [AllErrors]` and `action`, a flow mapping.
    fn with_action(action: &str) -> String {
        format!(
            "failureStrategies:\n  - onFailure:\n      errors: [AllErrors]\n      action: {action}\n"
        )
    }

    fn only(diagnostics: &[Diagnostic]) -> &Diagnostic {
        assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
        &diagnostics[0]
    }

    #[test]
    fn retry_read_with_intervals_and_fallback() {
        let yaml = with_action(
            "{type: Retry, spec: {retryCount: 2, retryIntervals: [1s, 1500ms], onRetryFailure: {action: {type: Ignore}}}}",
        );
        let (strategies, diagnostics) = read_yaml(&yaml);

        assert!(diagnostics.is_empty(), "{diagnostics:#?}");
        let expected = FailureStrategy {
            errors: vec![ErrorType::AllErrors],
            action: FailureAction::Retry(RetryAction {
                retry_count: 2,
                retry_interval_seconds: vec![1, 2],
                on_retry_failure: Box::new(FailureAction::Ignore),
            }),
        };
        assert_eq!(strategies, vec![expected]);
    }

    #[test]
    fn retry_defaults_without_intervals_or_fallback() {
        let (strategies, diagnostics) =
            read_yaml(&with_action("{type: Retry, spec: {retryCount: 1}}"));

        assert!(diagnostics.is_empty(), "{diagnostics:#?}");
        let FailureAction::Retry(retry) = &strategies[0].action else {
            panic!("not a retry: {strategies:?}");
        };
        assert!(retry.retry_interval_seconds.is_empty());
        assert_eq!(*retry.on_retry_failure, FailureAction::MarkAsFailure);
    }

    #[test]
    fn json_shape_is_tagged_by_type() {
        let strategy = FailureStrategy {
            errors: vec![ErrorType::Timeout, ErrorType::Unknown],
            action: FailureAction::Retry(RetryAction {
                retry_count: 3,
                retry_interval_seconds: vec![10],
                on_retry_failure: Box::new(FailureAction::ManualIntervention),
            }),
        };
        let json = serde_json::to_value(&strategy).unwrap();

        let expected = serde_json::json!({
            "errors": ["Timeout", "Unknown"],
            "action": {
                "type": "Retry",
                "retryCount": 3,
                "retryIntervalSeconds": [10],
                "onRetryFailure": {"type": "ManualIntervention"}
            }
        });
        assert_eq!(json, expected);
        let back: FailureStrategy = serde_json::from_value(json).unwrap();
        assert_eq!(back, strategy);
    }

    #[test]
    fn every_action_type_read_by_name() {
        for name in ACTION_TYPES.iter().filter(|name| **name != "Retry") {
            let (strategies, diagnostics) = read_yaml(&with_action(&format!("{{type: {name}}}")));
            assert!(diagnostics.is_empty(), "{name}: {diagnostics:#?}");
            assert_eq!(strategies[0].action.type_name(), *name);
        }
    }

    #[test]
    fn every_error_type_read_by_name() {
        for error in ErrorType::ALL {
            let yaml = format!(
                "failureStrategies:\n  - onFailure:\n      errors: [{}]\n      action: {{type: Ignore}}\n",
                error.as_str()
            );
            let (strategies, diagnostics) = read_yaml(&yaml);
            assert!(diagnostics.is_empty(), "{error:?}: {diagnostics:#?}");
            assert_eq!(strategies[0].errors, vec![*error]);
        }
    }

    #[test]
    fn unsupported_action_spec_not_read() {
        let yaml = with_action(
            "{type: ManualIntervention, spec: {timeout: 1h, onTimeout: {action: {type: Ignore}}}}",
        );
        let (strategies, diagnostics) = read_yaml(&yaml);

        assert!(diagnostics.is_empty(), "{diagnostics:#?}");
        assert_eq!(strategies[0].action, FailureAction::ManualIntervention);
    }

    #[test]
    fn unknown_action_suggests_closest() {
        let (strategies, diagnostics) = read_yaml(&with_action("{type: MarkAsSucess}"));

        let diagnostic = only(&diagnostics);
        assert_eq!(diagnostic.code, "unknown-failure-action");
        assert_eq!(
            diagnostic.message,
            "unknown failure strategy action `MarkAsSucess`"
        );
        assert_eq!(
            diagnostic.help.as_deref(),
            Some("did you mean `MarkAsSuccess`?")
        );
        assert_eq!((diagnostic.span.line, diagnostic.span.column), (4, 22));
        assert!(strategies.is_empty());
    }

    #[test]
    fn unknown_error_type_suggests_closest() {
        let yaml = "failureStrategies:\n  - onFailure:\n      errors: [Timeout, allerrors]\n      action: {type: Ignore}\n";
        let (strategies, diagnostics) = read_yaml(yaml);

        let diagnostic = only(&diagnostics);
        assert_eq!(diagnostic.code, "unknown-error-type");
        assert_eq!(diagnostic.message, "unknown error type `allerrors`");
        assert_eq!(
            diagnostic.help.as_deref(),
            Some("did you mean `AllErrors`?")
        );
        assert_eq!((diagnostic.span.line, diagnostic.span.column), (3, 25));
        assert_eq!(strategies[0].errors, vec![ErrorType::Timeout]);
    }

    #[test]
    fn negative_retry_count_rejected() {
        let (strategies, diagnostics) =
            read_yaml(&with_action("{type: Retry, spec: {retryCount: -1}}"));

        let diagnostic = only(&diagnostics);
        assert_eq!(diagnostic.code, "invalid-retry-count");
        assert!(diagnostic.is_error());
        assert!(diagnostic.message.contains("`-1`"), "{diagnostic:?}");
        assert!(strategies.is_empty());
    }

    #[test]
    fn fractional_retry_count_rejected() {
        let (_, diagnostics) = read_yaml(&with_action("{type: Retry, spec: {retryCount: 1.5}}"));

        let diagnostic = only(&diagnostics);
        assert_eq!(diagnostic.code, "invalid-retry-count");
        assert!(diagnostic.message.contains("`1.5`"), "{diagnostic:?}");
    }

    #[test]
    fn zero_retry_count_warns() {
        let (strategies, diagnostics) =
            read_yaml(&with_action("{type: Retry, spec: {retryCount: 0}}"));

        let diagnostic = only(&diagnostics);
        assert_eq!(diagnostic.code, "invalid-retry-count");
        assert!(!diagnostic.is_error());
        assert_eq!(strategies.len(), 1);
    }

    #[test]
    fn retry_count_expression_rejected() {
        let yaml = with_action("{type: Retry, spec: {retryCount: <+pipeline.variables.n>}}");
        let (_, diagnostics) = read_yaml(&yaml);

        let diagnostic = only(&diagnostics);
        assert_eq!(diagnostic.code, "expression-not-allowed");
        assert!(
            diagnostic.message.contains("`<+pipeline.variables.n>`"),
            "{diagnostic:?}"
        );
    }

    #[test]
    fn bad_retry_interval_rejected() {
        let yaml = with_action("{type: Retry, spec: {retryCount: 2, retryIntervals: [10s, 10]}}");
        let (strategies, diagnostics) = read_yaml(&yaml);

        let diagnostic = only(&diagnostics);
        assert_eq!(diagnostic.code, "invalid-retry-interval");
        assert!(
            diagnostic
                .message
                .starts_with("invalid retry interval `10`"),
            "{diagnostic:?}"
        );
        assert_eq!((diagnostic.span.line, diagnostic.span.column), (4, 73));
        assert!(strategies.is_empty());
    }

    #[test]
    fn retry_after_retry_rejected() {
        let yaml = with_action(
            "{type: Retry, spec: {retryCount: 1, onRetryFailure: {action: {type: Retry}}}}",
        );
        let (strategies, diagnostics) = read_yaml(&yaml);

        let diagnostic = only(&diagnostics);
        assert_eq!(diagnostic.code, "nested-retry");
        assert_eq!((diagnostic.span.line, diagnostic.span.column), (4, 83));
        assert!(strategies.is_empty());
    }

    #[test]
    fn missing_parts_reported_at_their_owner() {
        let cases = [
            (
                "failureStrategies:\n  - {}\n",
                "a failure strategy has no `onFailure`",
            ),
            (
                "failureStrategies:\n  - onFailure: {action: {type: Ignore}}\n",
                "`onFailure` has no `errors`",
            ),
            (
                "failureStrategies:\n  - onFailure: {errors: [AllErrors]}\n",
                "`onFailure` has no `action`",
            ),
            (
                "failureStrategies:\n  - onFailure: {errors: [AllErrors], action: {}}\n",
                "`action` has no `type`",
            ),
            (
                "failureStrategies:\n  - onFailure: {errors: [AllErrors], action: {type: Retry}}\n",
                "the `Retry` action has no `spec`",
            ),
            (
                "failureStrategies:\n  - onFailure: {errors: [AllErrors], action: {type: Retry, spec: {}}}\n",
                "the `Retry` action has no `retryCount`",
            ),
        ];
        for (yaml, message) in cases {
            let (_, diagnostics) = read_yaml(yaml);
            let diagnostic = only(&diagnostics);
            assert_eq!(diagnostic.code, "missing-field", "{yaml}");
            assert_eq!(diagnostic.message, message, "{yaml}");
        }
    }

    #[test]
    fn wrong_shapes_reported() {
        let cases = [
            "failureStrategies: Ignore\n",
            "failureStrategies:\n  - Ignore\n",
            "failureStrategies:\n  - onFailure: {errors: AllErrors, action: {type: Ignore}}\n",
            "failureStrategies:\n  - onFailure: {errors: [AllErrors], action: Ignore}\n",
            "failureStrategies:\n  - onFailure: {errors: [AllErrors], action: {type: Retry, spec: {retryCount: 1, retryIntervals: 10s}}}\n",
        ];
        for yaml in cases {
            let (_, diagnostics) = read_yaml(yaml);
            let diagnostic = only(&diagnostics);
            assert_eq!(diagnostic.code, "wrong-type", "{yaml}");
        }
    }

    #[test]
    fn runtime_input_and_null_read_as_empty() {
        for yaml in [
            "failureStrategies: <+input>\n",
            "failureStrategies:\n",
            "failureStrategies: []\n",
        ] {
            let (strategies, diagnostics) = read_yaml(yaml);
            assert!(strategies.is_empty(), "{yaml}");
            assert!(diagnostics.is_empty(), "{yaml}: {diagnostics:#?}");
        }
    }

    /// Returns a Cloud pipeline with `stage_strategies` on the stage, a step
    /// group with `group_strategies`, and a Run and a Background step inside
    /// it with `step_strategies`. Each argument is the YAML after
    /// `failureStrategies:` on one line.
    fn pipeline(stage_strategies: &str, group_strategies: &str, step_strategies: &str) -> String {
        format!(
            "pipeline:
  name: p
  identifier: p
  stages:
    - stage:
        name: s
        identifier: s
        type: CI
        failureStrategies: {stage_strategies}
        spec:
          platform: {{os: Linux, arch: Amd64}}
          runtime: {{type: Cloud, spec: {{}}}}
          execution:
            steps:
              - stepGroup:
                  name: g
                  identifier: g
                  failureStrategies: {group_strategies}
                  steps:
                    - step:
                        type: Run
                        name: a
                        identifier: a
                        failureStrategies: {step_strategies}
                        spec: {{command: exit 1}}
                    - step:
                        type: Background
                        name: b
                        identifier: b
                        failureStrategies: {step_strategies}
                        spec: {{command: sleep 60}}
"
        )
    }

    fn check_codes(source: &str) -> Vec<(String, usize)> {
        crate::pipeline::check(source, "p.yaml")
            .into_iter()
            .map(|diagnostic| (diagnostic.code, diagnostic.span.line))
            .collect()
    }

    #[test]
    fn check_covers_stage_group_and_step() {
        let source = pipeline(
            "[{onFailure: {errors: [AllErrors], action: {type: Abortt}}}]",
            "[{onFailure: {errors: [Timeot], action: {type: Ignore}}}]",
            "[{onFailure: {errors: [AllErrors], action: {type: Retry, spec: {retryCount: -1}}}}]",
        );

        let found = check_codes(&source);
        let expected = [
            ("unknown-failure-action".to_string(), 9),
            ("unknown-error-type".to_string(), 18),
            ("invalid-retry-count".to_string(), 24),
            ("background-failure-strategies".to_string(), 30),
        ];
        assert_eq!(found, expected);
    }

    #[test]
    fn bare_input_accepted_at_every_level() {
        let source = pipeline("<+input>", "<+input>", "<+input>");

        assert_eq!(
            check_codes(&source),
            [("background-failure-strategies".to_string(), 30)]
        );
    }

    #[test]
    fn input_with_default_rejected_at_every_level() {
        let input = "<+input>.default([])";
        let source = pipeline(input, input, "[]");

        let found = check_codes(&source);
        let expected = [
            ("expression-not-allowed".to_string(), 9),
            ("expression-not-allowed".to_string(), 18),
        ];
        assert_eq!(found, expected);
    }

    #[test]
    fn empty_list_allowed_on_background_step() {
        let source = pipeline("[]", "[]", "[]");

        assert_eq!(check_codes(&source), []);
    }
}
