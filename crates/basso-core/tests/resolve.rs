//! Resolution of whole pipelines: inputs in order, the context, looping
//! strategies, endpoints, defaults and the typed accessors the runner uses.

// Tests read fixture files; the I/O ban covers the library only.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};

use basso_core::pipeline::{
    self, ErrorType, FailureAction, InfrastructureKind, Resolution, RetryAction, Shell,
};
use serde_json::json;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pipelines")
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixture_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn codes(resolution: &Resolution) -> Vec<&str> {
    resolution
        .diagnostics
        .iter()
        .map(|d| d.code.as_str())
        .collect()
}

/// Returns the messages of the diagnostics with `code`.
fn messages_with_code<'r>(resolution: &'r Resolution, code: &str) -> Vec<&'r str> {
    resolution
        .diagnostics
        .iter()
        .filter(|d| d.code == code)
        .map(|d| d.message.as_str())
        .collect()
}

/// Returns the messages of the errors among `diagnostics`.
fn error_messages(diagnostics: &[basso_core::Diagnostic]) -> Vec<String> {
    diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.clone())
        .collect()
}

fn resolve(
    source: &str,
    arguments: &[(&str, &str)],
    input_sets: &[(&str, &str)],
    context: serde_json::Value,
) -> Resolution {
    let arguments: Vec<(String, String)> = arguments
        .iter()
        .map(|(p, v)| (p.to_string(), v.to_string()))
        .collect();
    let input_sets: Vec<(String, String)> = input_sets
        .iter()
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect();
    pipeline::resolve(source, "p.yaml", &arguments, &input_sets, &context)
}

fn pipeline_with(steps: &str, infra: &str) -> String {
    let steps = steps
        .lines()
        .map(|l| format!("              {l}\n"))
        .collect::<String>();
    let infra = infra
        .lines()
        .map(|l| format!("          {l}\n"))
        .collect::<String>();
    format!(
        "pipeline:\n  name: p\n  identifier: p\n  variables:\n    - name: tag\n      type: String\n      value: <+input>.allowedValues(1.0,2.0)\n  stages:\n    - stage:\n        name: s\n        identifier: s\n        type: CI\n        spec:\n{infra}          execution:\n            steps:\n{steps}"
    )
}

const DOCKER: &str = "platform:\n  os: Linux\n  arch: Amd64\nruntime:\n  type: Docker\n  spec: {}";
const K8S: &str =
    "infrastructure:\n  type: KubernetesDirect\n  spec:\n    connectorRef: k8s\n    namespace: ci";
const VM: &str =
    "infrastructure:\n  type: VM\n  spec:\n    type: Pool\n    spec:\n      poolName: pool";

#[test]
fn valid_fixtures_resolve_without_errors() {
    let mut names: Vec<String> = std::fs::read_dir(fixture_dir().join("valid"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names.iter().filter(|n| !n.starts_with("input-set")) {
        let resolution = resolve(&fixture(&format!("valid/{name}")), &[], &[], json!({}));
        let errors: Vec<_> = resolution
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
        insta::assert_json_snapshot!(format!("resolve__{name}"), resolution.to_json());
    }
}

#[test]
fn inputs_apply_in_order_sets_then_arguments_then_default() {
    let source = fixture("valid/runtime-inputs.yaml");
    let image_path = "pipeline.stages.build.spec.execution.steps.db.spec.image";
    let set = |image: &str| {
        format!(
            "inputSet:\n  name: a\n  identifier: a\n  pipeline:\n    identifier: demo\n    stages:\n      - stage:\n          identifier: build\n          spec:\n            execution:\n              steps:\n                - step:\n                    identifier: db\n                    spec:\n                      image: {image}\n"
        )
    };
    let first = set("postgres:16");
    let second = set("postgres:15");

    let defaults = resolve(&source, &[], &[], json!({}));
    assert_eq!(defaults.stages[0].steps[0].spec["image"], "postgres:15");
    let one_set = resolve(&source, &[], &[("a.yaml", &first)], json!({}));
    assert_eq!(one_set.stages[0].steps[0].spec["image"], "postgres:16");
    let later_wins = resolve(
        &source,
        &[],
        &[("a.yaml", &first), ("b.yaml", &second)],
        json!({}),
    );
    assert_eq!(later_wins.stages[0].steps[0].spec["image"], "postgres:15");
    let argument_wins = resolve(
        &source,
        &[(image_path, "postgres:16")],
        &[("b.yaml", &second)],
        json!({}),
    );
    assert_eq!(
        argument_wins.stages[0].steps[0].spec["image"],
        "postgres:16"
    );
    assert!(
        !argument_wins.has_errors(),
        "{:#?}",
        argument_wins.diagnostics
    );
}

#[test]
fn input_errors_point_at_the_field() {
    let source = fixture("valid/runtime-inputs.yaml");
    let not_allowed = resolve(
        &source,
        &[(
            "pipeline.stages.build.spec.execution.steps.db.spec.image",
            "mysql:8",
        )],
        &[],
        json!({}),
    );
    let diagnostic = not_allowed
        .diagnostics
        .iter()
        .find(|d| d.code == "value-not-allowed")
        .expect("value-not-allowed");
    assert_eq!(diagnostic.span.line, 31);
    assert!(
        diagnostic.message.contains("mysql:8"),
        "{}",
        diagnostic.message
    );

    let regex = resolve(
        &source,
        &[("pipeline.variables.dbVersion", "9")],
        &[],
        json!({}),
    );
    assert!(
        codes(&regex).contains(&"value-mismatches-regex"),
        "{:?}",
        codes(&regex)
    );

    let fixed = resolve(
        &source,
        &[(
            "pipeline.stages.build.spec.execution.steps.db.spec.shell",
            "Bash",
        )],
        &[],
        json!({}),
    );
    let diagnostic = fixed
        .diagnostics
        .iter()
        .find(|d| d.code == "not-a-runtime-input")
        .expect("not-a-runtime-input");
    assert_eq!(diagnostic.file.as_deref(), Some("--input#1"));

    let set = "inputSet:\n  name: a\n  identifier: a\n  pipeline:\n    identifier: demo\n    variables:\n      - name: retries\n        type: Number\n        value: 5\n";
    let from_set = resolve(&source, &[], &[("set.yaml", set)], json!({}));
    let diagnostic = from_set
        .diagnostics
        .iter()
        .find(|d| d.code == "not-a-runtime-input")
        .expect("input set value for a fixed field");
    assert_eq!(diagnostic.file.as_deref(), Some("set.yaml"));
    assert_eq!(diagnostic.span.line, 9);
}

#[test]
fn input_placeholder_keeps_default() {
    let source = pipeline_with(
        "- step:\n    type: Run\n    name: a\n    identifier: a\n    spec:\n      image: alpine\n      command: <+input>.default(echo from default)",
        DOCKER,
    );
    let set = "inputSet:\n  name: k\n  identifier: k\n  pipeline:\n    identifier: p\n    variables:\n      - name: tag\n        type: String\n        value: <+input>\n    stages:\n      - stage:\n          identifier: s\n          spec:\n            execution:\n              steps:\n                - step:\n                    identifier: a\n                    spec:\n                      command: <+input>\n";
    let resolution = resolve(
        &source,
        &[("pipeline.variables.tag", "2.0")],
        &[("set.yaml", set)],
        json!({}),
    );

    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
    assert_eq!(
        resolution.stages[0].steps[0].spec["command"],
        "echo from default"
    );

    // Without a value anywhere, the variable is still a missing input;
    // `--input` with `<+input>` supplies nothing either.
    let missing = resolve(
        &source,
        &[("pipeline.variables.tag", "<+input>")],
        &[("set.yaml", set)],
        json!({}),
    );
    assert_eq!(
        error_messages(&missing.diagnostics),
        ["runtime input `pipeline.variables.tag` has no value"]
    );
}

/// Returns a Docker pipeline whose one Run step `a` has the step field
/// `field` and the spec fields `spec` (one per line).
fn one_step(field: &str, spec: &str) -> String {
    let spec: String = spec.lines().map(|l| format!("\n      {l}")).collect();
    pipeline_with(
        &format!(
            "- step:\n    type: Run\n    name: a\n    identifier: a\n    {field}\n    spec:\n      image: alpine{spec}"
        ),
        DOCKER,
    )
}

/// Resolves `source` with `value` for the input of step `a` at `field`
/// (such as `when` or `spec.resources`), and returns that input's path.
fn with_step_input(source: &str, field: &str, value: &str) -> (Resolution, String) {
    let path = format!("pipeline.stages.s.spec.execution.steps.a.{field}");
    let arguments = [("pipeline.variables.tag", "1.0"), (path.as_str(), value)];
    (resolve(source, &arguments, &[], json!({})), path)
}

#[test]
fn supplied_when_input_is_applied_and_checked() {
    let source = one_step("when: <+input>", "command: echo a");
    let (skipped, _) = with_step_input(
        &source,
        "when",
        r#"{"stageStatus": "Success", "condition": "false"}"#,
    );
    assert!(!skipped.has_errors(), "{:#?}", skipped.diagnostics);
    let when = skipped.stages[0].steps[0]
        .when
        .as_ref()
        .expect("the supplied when");
    assert_eq!(
        (when.stage_status.as_str(), when.condition.as_deref()),
        ("Success", Some("false"))
    );

    // A value of the wrong type is reported once, not also as missing.
    let (boolean, _) = with_step_input(&source, "when", "false");
    let errors: Vec<&str> = boolean
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.code.as_str())
        .collect();
    assert_eq!(errors, ["invalid-input"], "{:#?}", boolean.diagnostics);

    let (unknown_key, _) =
        with_step_input(&source, "when", r#"{"stageStatus": "Success", "bogus": 1}"#);
    assert!(
        codes(&unknown_key).contains(&"unknown-key"),
        "{:#?}",
        unknown_key.diagnostics
    );

    let (misspelt, path) = with_step_input(&source, "when", r#"{"stageStatus": "Sucess"}"#);
    assert_eq!(
        error_messages(&misspelt.diagnostics),
        [format!(
            r#"unknown stageStatus `Sucess` (in the value from `--input {path}={{"stageStatus": "Sucess"}}`)"#
        )]
    );
}

#[test]
fn supplied_strategy_input_expands_and_is_checked() {
    let source = one_step("strategy: <+input>", "command: echo <+matrix.v>");
    let (looped, _) = with_step_input(&source, "strategy", r#"{"matrix": {"v": [x, y]}}"#);
    assert!(!looped.has_errors(), "{:#?}", looped.diagnostics);
    let commands: Vec<(&str, &serde_json::Value)> = looped.stages[0]
        .steps
        .iter()
        .map(|step| (step.identifier.as_str(), &step.spec["command"]))
        .collect();
    assert_eq!(
        commands,
        [("a_0", &json!("echo x")), ("a_1", &json!("echo y"))]
    );

    let (garbage, path) = with_step_input(&source, "strategy", "garbage");
    assert_eq!(
        error_messages(&garbage.diagnostics),
        [format!(
            "invalid value for `{path}`: `garbage` is not a mapping such as `{{a: b}}`"
        )]
    );
}

#[test]
fn supplied_resources_input_is_applied_and_checked() {
    let source = one_step("timeout: 10m", "command: echo a\nresources: <+input>");
    let (sized, _) = with_step_input(
        &source,
        "spec.resources",
        r#"{"limits": {"memory": "1Gi"}}"#,
    );
    assert!(!sized.has_errors(), "{:#?}", sized.diagnostics);
    assert_eq!(
        sized.stages[0].steps[0].effective_json()["resources"]["limits"]["memory"],
        "1Gi"
    );

    let (spaced, _) = with_step_input(
        &source,
        "spec.resources",
        r#"{"limits": {"memory": "1 Gi"}}"#,
    );
    assert_eq!(
        error_messages(&spaced.diagnostics),
        ["invalid memory `1 Gi`: spaces are not allowed (in the value supplied for `resources`)"]
    );
}

#[test]
fn missing_input_without_default_is_an_error() {
    let source = pipeline_with(
        "- step:\n    type: Run\n    name: a\n    identifier: a\n    spec:\n      image: alpine\n      command: echo <+pipeline.variables.tag>",
        DOCKER,
    );
    let resolution = resolve(&source, &[], &[], json!({}));
    let missing = resolution
        .diagnostics
        .iter()
        .find(|d| d.code == "missing-input")
        .expect("missing-input");
    assert_eq!(missing.span.line, 7);
    assert!(resolution.has_errors());

    let supplied = resolve(
        &source,
        &[("pipeline.variables.tag", "2.0")],
        &[],
        json!({}),
    );
    assert!(!supplied.has_errors(), "{:#?}", supplied.diagnostics);
    assert_eq!(supplied.stages[0].steps[0].spec["command"], "echo 2.0");
}

#[test]
fn context_values_resolve_and_missing_ones_warn() {
    let source = pipeline_with(
        "- step:\n    type: Run\n    name: a\n    identifier: a\n    spec:\n      image: alpine\n      command: git checkout <+codebase.commitSha> && echo <+pipeline.sequenceId>",
        DOCKER,
    );
    let inputs = [("pipeline.variables.tag", "1.0")];
    let without = resolve(&source, &inputs, &[], json!({}));
    assert_eq!(
        without.stages[0].steps[0].spec["command"],
        "git checkout null && echo null"
    );
    let warnings = messages_with_code(&without, "unresolved-at-run-time");
    assert_eq!(warnings.len(), 2, "{warnings:?}");

    let with = resolve(
        &source,
        &inputs,
        &[],
        json!({"codebase": {"commitSha": "abc123"}, "pipeline": {"sequenceId": 42}}),
    );
    assert_eq!(
        with.stages[0].steps[0].spec["command"],
        "git checkout abc123 && echo 42"
    );
    assert!(!codes(&with).contains(&"unresolved-at-run-time"));
}

#[test]
fn rejected_reference_gets_no_run_time_warning() {
    let source = pipeline_with(
        "- step:\n    type: Run\n    name: a\n    identifier: a\n    spec:\n      image: alpine\n      command: echo 1\n      outputVariables:\n        - name: OUT\n- step:\n    type: Run\n    name: b\n    identifier: b\n    spec:\n      image: alpine\n      command: echo <+steps.missing.output.outputVariables.x> <+steps.a.output.outputVariables.OUT>",
        DOCKER,
    );
    let resolution = resolve(
        &source,
        &[("pipeline.variables.tag", "1.0")],
        &[],
        json!({}),
    );
    let unknown: Vec<_> = resolution
        .diagnostics
        .iter()
        .filter(|d| d.code == "unknown-step")
        .collect();
    assert_eq!(unknown.len(), 1, "{:#?}", resolution.diagnostics);
    let warnings = messages_with_code(&resolution, "unresolved-at-run-time");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("steps.a.output"), "{warnings:?}");
}

#[test]
fn runner_context_carries_step_outputs() {
    let source = pipeline_with(
        "- step:\n    type: Run\n    name: version\n    identifier: version\n    spec:\n      image: alpine\n      command: echo 1\n      outputVariables:\n        - name: VERSION\n- step:\n    type: Run\n    name: publish\n    identifier: publish\n    spec:\n      image: alpine\n      command: echo <+steps.version.output.outputVariables.VERSION> <+execution.steps.version.status>",
        DOCKER,
    );
    let inputs = [("pipeline.variables.tag", "1.0")];
    let before = resolve(&source, &inputs, &[], json!({}));
    assert_eq!(before.stages[0].steps[1].spec["command"], "echo null null");
    let context = json!({"pipeline": {"stages": {"s": {"spec": {"execution": {"steps": {"version": {
        "output": {"outputVariables": {"VERSION": "1.2.3"}}, "status": "SUCCEEDED"}}}}}}}});
    let after = resolve(&source, &inputs, &[], context);
    assert_eq!(
        after.stages[0].steps[1].spec["command"],
        "echo 1.2.3 SUCCEEDED"
    );
}

/// Returns a Docker pipeline whose step `publish` runs `command` after the
/// step `version`, which sets the output variable `VERSION`.
fn publish_after_version(command: &str) -> String {
    pipeline_with(
        &format!(
            "- step:\n    type: Run\n    name: version\n    identifier: version\n    spec:\n      image: alpine\n      command: echo 1\n      outputVariables:\n        - name: VERSION\n- step:\n    type: Run\n    name: publish\n    identifier: publish\n    timeout: <+steps.version.output.outputVariables.VERSION.trim()>\n    spec:\n      image: alpine\n      command: {command}"
        ),
        DOCKER,
    )
}

#[test]
fn method_on_step_output_waits_for_run() {
    let command = "echo <+steps.version.output.outputVariables.VERSION.length()> <+pipeline.variables.tag.toUpperCase()> <+trigger.branch>";
    let source = publish_after_version(command);
    let inputs = [("pipeline.variables.tag", "1.0")];
    let before = resolve(&source, &inputs, &[], json!({}));

    assert!(!before.has_errors(), "{:#?}", before.diagnostics);
    // The block that reads the output stays for the runner, and the blocks
    // around it resolve now, an unknown context value to null.
    assert_eq!(
        before.stages[0].steps[1].spec["command"],
        "echo <+steps.version.output.outputVariables.VERSION.length()> 1.0 null"
    );
    assert_eq!(before.stages[0].steps[1].timeout_seconds, None);
    assert!(
        codes(&before).contains(&"unresolved-at-run-time"),
        "{:#?}",
        before.diagnostics
    );

    let context = json!({"pipeline": {"stages": {"s": {"spec": {"execution": {"steps": {"version": {
        "output": {"outputVariables": {"VERSION": " 90s "}}, "status": "SUCCEEDED"}}}}}}}});
    let after = resolve(&source, &inputs, &[], context);
    assert!(!after.has_errors(), "{:#?}", after.diagnostics);
    assert_eq!(after.stages[0].steps[1].spec["command"], "echo 5 1.0 null");
    assert_eq!(after.stages[0].steps[1].timeout_seconds, Some(90));
}

#[test]
fn kept_block_and_later_missing_value_both_warn() {
    let steps = "- step:\n    type: Run\n    name: version\n    identifier: version\n    spec:\n      image: alpine\n      command: echo 1\n      outputVariables:\n        - name: VERSION\n- step:\n    type: Run\n    name: publish\n    identifier: publish\n    spec:\n      image: alpine\n      command: echo <+steps.version.output.outputVariables.VERSION.trim()> <+trigger.branch>";
    let resolution = resolve(&pipeline_with(steps, DOCKER), &[], &[], json!({}));

    assert_eq!(
        resolution.stages[0].steps[1].spec["command"],
        "echo <+steps.version.output.outputVariables.VERSION.trim()> null"
    );
    let warnings = messages_with_code(&resolution, "unresolved-at-run-time");
    assert_eq!(
        warnings,
        [
            "`<+steps.version.output.outputVariables.VERSION>` has no value until that step runs; the field keeps the block as written",
            "`<+trigger.branch>` has no value before the run starts; it resolves to null",
        ],
        "{:#?}",
        resolution.diagnostics
    );
}

#[test]
fn typed_field_waits_for_step_output() {
    let steps = "- step:\n    type: Run\n    name: version\n    identifier: version\n    spec:\n      image: alpine\n      command: echo 1\n      outputVariables:\n        - name: T\n- step:\n    type: Run\n    name: publish\n    identifier: publish\n    timeout: <+steps.version.output.outputVariables.T>\n    spec:\n      image: alpine\n      shell: <+steps.version.output.outputVariables.T>\n      command: echo 2";
    let source = pipeline_with(steps, DOCKER);
    let before = resolve(
        &source,
        &[("pipeline.variables.tag", "1.0")],
        &[],
        json!({}),
    );

    assert!(!before.has_errors(), "{:#?}", before.diagnostics);
    assert_eq!(before.stages[0].steps[1].timeout_seconds, None);

    let context = json!({"pipeline": {"stages": {"s": {"spec": {"execution": {"steps": {"version": {
        "output": {"outputVariables": {"T": "Bash"}}}}}}}}}});
    let after = resolve(&source, &[("pipeline.variables.tag", "1.0")], &[], context);
    assert_eq!(
        error_messages(&after.diagnostics),
        ["timeout resolved to `Bash`: expected a number at `Bash`"]
    );
}

#[test]
fn loop_over_step_output_explained() {
    let steps = "- step:\n    type: Run\n    name: list\n    identifier: list\n    spec:\n      image: alpine\n      command: echo 1\n      outputVariables:\n        - name: ITEMS\n- step:\n    type: Run\n    name: each\n    identifier: each\n    strategy:\n      repeat:\n        items: <+steps.list.output.outputVariables.ITEMS.split(\",\")>\n    spec:\n      image: alpine\n      command: echo <+repeat.item>";
    let resolution = resolve(
        &pipeline_with(steps, DOCKER),
        &[("pipeline.variables.tag", "1.0")],
        &[],
        json!({}),
    );

    let errors: Vec<&basso_core::Diagnostic> = resolution
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].code, "loop-over-step-output");
    let help = errors[0].help.as_deref().unwrap_or_default();
    assert!(
        help.contains("basso expands loops before the run starts"),
        "{help}"
    );

    let checked = basso_core::pipeline::check(&pipeline_with(steps, DOCKER), "p.yaml");
    let found: Vec<(&str, bool)> = checked
        .iter()
        .filter(|d| d.code != "unresolved-at-run-time")
        .map(|d| (d.code.as_str(), d.is_error()))
        .collect();
    assert_eq!(found, [("loop-over-step-output", false)], "{checked:#?}");
}

#[test]
fn loop_valid_with_null_output_rejected() {
    let list = "- step:\n    type: Run\n    name: list\n    identifier: list\n    spec:\n      image: alpine\n      command: echo 1\n      outputVariables:\n        - name: ITEMS\n        - name: N\n";
    for strategy in [
        "repeat:\n        items: '<+\"<+steps.list.output.outputVariables.ITEMS>\".split(\",\")>'",
        "repeat:\n        times: '<+<+steps.list.output.outputVariables.N> == null ? 1 : 2>'",
    ] {
        let steps = format!(
            "{list}- step:\n    type: Run\n    name: each\n    identifier: each\n    strategy:\n      {strategy}\n    spec:\n      image: alpine\n      command: echo 2"
        );
        let source = pipeline_with(&steps, DOCKER);
        let resolution = resolve(
            &source,
            &[("pipeline.variables.tag", "1.0")],
            &[],
            json!({}),
        );
        let errors: Vec<&basso_core::Diagnostic> = resolution
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .collect();
        assert_eq!(errors.len(), 1, "{strategy}: {errors:#?}");
        assert_eq!(errors[0].code, "loop-over-step-output", "{strategy}");

        let checked = basso_core::pipeline::check(&source, "p.yaml");
        assert!(
            checked.iter().all(|d| !d.is_error()),
            "{strategy}: {checked:#?}"
        );
        assert!(
            checked.iter().any(|d| d.code == "loop-over-step-output"),
            "{strategy}: {checked:#?}"
        );
    }
}

#[test]
fn run_time_value_in_two_blocks_accepted() {
    let commands = [
        r#"echo "<+pipeline.sequenceId.toString()> of <+pipeline.sequenceId.toString()>""#,
        r#"echo "<+pipeline.sequenceId.toString()> <+<+pipeline.sequenceId> + 1>""#,
        r#"echo "<+codebase.branch.length()> <+codebase.branch.length()>""#,
    ];
    for command in commands {
        let steps = format!(
            "- step:\n    type: Run\n    name: a\n    identifier: a\n    spec:\n      image: alpine\n      command: '{command}'\n"
        );
        let checked = basso_core::pipeline::check(&pipeline_with(&steps, DOCKER), "p.yaml");
        assert!(
            checked.iter().all(|d| !d.is_error()),
            "{command}: {checked:#?}"
        );
    }
    // A block that fails whatever the run supplies is still an error.
    let steps = "- step:\n    type: Run\n    name: a\n    identifier: a\n    spec:\n      image: alpine\n      command: 'echo \"<+pipeline.sequenceId.toString()> <+1/0>\"'\n";
    let checked = basso_core::pipeline::check(&pipeline_with(steps, DOCKER), "p.yaml");
    let errors: Vec<&str> = checked
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.code.as_str())
        .collect();
    assert_eq!(errors, ["division-by-zero"], "{checked:#?}");
}

#[test]
fn secret_for_validated_input_warned() {
    let source = "pipeline:\n  name: p\n  identifier: p\n  variables:\n    - name: env\n      type: String\n      value: <+input>.allowedValues(dev,prod)\n    - name: free\n      type: String\n      value: <+input>\n  stages:\n    - stage:\n        name: s\n        identifier: s\n        type: CI\n        spec:\n          platform: {os: Linux, arch: Amd64}\n          runtime: {type: Cloud, spec: {}}\n          execution:\n            steps:\n              - step:\n                  type: Run\n                  name: a\n                  identifier: a\n                  spec:\n                    command: echo <+pipeline.variables.env> <+pipeline.variables.free>\n";
    let secret = "<+secrets.getValue(\"db_pass\")>";
    let resolution = resolve(
        source,
        &[
            ("pipeline.variables.env", secret),
            ("pipeline.variables.free", secret),
        ],
        &[],
        json!({}),
    );
    let warned = messages_with_code(&resolution, "secret-not-validated");
    assert_eq!(warned.len(), 1, "{:#?}", resolution.diagnostics);
    assert!(
        warned[0].starts_with("`pipeline.variables.env`:"),
        "{}",
        warned[0]
    );
    assert!(
        resolution.diagnostics.iter().all(|d| !d.is_error()),
        "{:#?}",
        resolution.diagnostics
    );
}

#[test]
fn strategy_count_out_of_range_names_its_value() {
    let source = "pipeline:\n  name: p\n  identifier: p\n  variables:\n    - name: n\n      type: String\n      value: <+input>\n  stages:\n    - stage:\n        name: s\n        identifier: s\n        type: CI\n        strategy:\n          repeat:\n            times: <+pipeline.variables.n>\n        spec:\n          platform: {os: Linux, arch: Amd64}\n          runtime: {type: Cloud, spec: {}}\n          execution:\n            steps:\n              - step:\n                  type: Run\n                  name: a\n                  identifier: a\n                  spec:\n                    command: echo\n";
    let resolution = resolve(source, &[("pipeline.variables.n", "0")], &[], json!({}));
    let messages = messages_with_code(&resolution, "invalid-strategy");
    assert_eq!(
        messages,
        ["`repeat.times` resolved to `0`, which is not a whole number from 1 to 1024"],
        "{:#?}",
        resolution.diagnostics
    );
}

#[test]
fn dotted_nested_input_path_rejected() {
    let steps = "- step:\n    type: Run\n    name: a\n    identifier: a\n    spec:\n      image: alpine\n      command: echo 1\n      envVariables:\n        a.b: <+input>.default(dotted)\n        A: <+input>.default(plain)\n- step:\n    type: Plugin\n    name: p\n    identifier: p\n    spec:\n      image: plugins/x\n      settings:\n        a:\n          b: <+input>.default(nested)\n        a.b: <+input>.default(dotted)";
    let checked = basso_core::pipeline::check(&pipeline_with(steps, DOCKER), "p.yaml");
    let duplicates: Vec<&basso_core::Diagnostic> = checked
        .iter()
        .filter(|d| d.code == "duplicate-input-path")
        .collect();
    assert_eq!(duplicates.len(), 1, "{checked:#?}");
    assert!(
        duplicates[0].message.contains("steps.p.spec.settings.a.b`"),
        "{}",
        duplicates[0].message
    );
    assert!(duplicates[0].is_error());
}

#[test]
fn service_repeated_by_looped_outer_group_warned() {
    let steps = "- stepGroup:\n    name: outer\n    identifier: outer\n    strategy:\n      repeat:\n        items: [a, b]\n    steps:\n      - stepGroup:\n          name: mid\n          identifier: mid\n          steps:\n            - step:\n                type: Background\n                name: svc\n                identifier: svc\n                spec:\n                  image: redis\n      - step:\n          type: Background\n          name: own\n          identifier: own\n          spec:\n            image: redis\n";
    let source = pipeline_with(steps, DOCKER);
    let resolution = resolve(
        &source,
        &[("pipeline.variables.tag", "1.0")],
        &[],
        json!({}),
    );
    // `own` is directly in the looped group, so each iteration's host name
    // carries the group's suffix; `mid.svc` gets `mid_svc` in both.
    let warned = messages_with_code(&resolution, "duplicate-host-name");
    assert_eq!(warned.len(), 1, "{:#?}", resolution.diagnostics);
    assert!(
        warned[0].starts_with("service `mid.svc` runs in each iteration"),
        "{}",
        warned[0]
    );
}

#[test]
fn services_with_one_host_name_warned() {
    let group = |group: &str, step: &str| {
        format!(
            "- stepGroup:\n    name: {group}\n    identifier: {group}\n    steps:\n      - step:\n          type: Background\n          name: {step}\n          identifier: {step}\n          spec:\n            image: redis\n"
        )
    };
    let looped = "- step:\n    type: Background\n    name: many\n    identifier: many\n    strategy:\n      repeat:\n        times: 2\n    spec:\n      image: redis\n";
    let steps = format!("{}{}{looped}", group("a", "b_c"), group("a_b", "c"));
    let source = pipeline_with(&steps, DOCKER);
    let resolution = resolve(
        &source,
        &[("pipeline.variables.tag", "1.0")],
        &[],
        json!({}),
    );
    let checked = basso_core::pipeline::check(&source, "p.yaml");
    for diagnostics in [&resolution.diagnostics, &checked] {
        let warned: Vec<&str> = diagnostics
            .iter()
            .filter(|d| d.code == "duplicate-host-name")
            .map(|d| d.message.as_str())
            .collect();
        assert_eq!(warned.len(), 1, "{diagnostics:#?}");
        assert!(
            warned[0].contains("`a.b_c` and `a_b.c` both get the host name `a_b_c`"),
            "{}",
            warned[0]
        );
    }
}

#[test]
fn method_error_on_known_value_reported() {
    let command = "echo <+steps.version.output.outputVariables.VERSION.length()> <+pipeline.variables.tag.foo()>";
    let resolution = resolve(
        &publish_after_version(command),
        &[("pipeline.variables.tag", "1.0")],
        &[],
        json!({}),
    );

    assert_eq!(
        error_messages(&resolution.diagnostics),
        ["a string has no method `foo`"],
        "{:#?}",
        resolution.diagnostics
    );
}

#[test]
fn method_on_unset_context_value_reported() {
    let command = "echo <+steps.version.output.outputVariables.VERSION> <+trigger.branch.trim()>";
    let resolution = resolve(
        &publish_after_version(command),
        &[("pipeline.variables.tag", "1.0")],
        &[],
        json!({}),
    );

    let errors: Vec<&str> = resolution
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.code.as_str())
        .collect();
    assert_eq!(errors, ["null-value"], "{:#?}", resolution.diagnostics);
}

#[test]
fn matrix_and_repeat_expand_with_harness_identifiers() {
    let resolution = resolve(
        &fixture("valid/matrix-and-repeat.yaml"),
        &[],
        &[],
        json!({}),
    );
    let ids: Vec<&str> = resolution.stages[0]
        .steps
        .iter()
        .map(|s| s.identifier.as_str())
        .collect();
    // A matrix suffix gives the position on each axis, in axis order.
    assert_eq!(
        ids,
        ["test_0_0", "test_1_0", "shard_0", "shard_1", "shard_2"]
    );
    let test_1 = &resolution.stages[0].steps[1];
    assert_eq!(test_1.spec["image"], "golang:1.22");
    assert_eq!(
        test_1.spec["command"],
        "go test ./... && echo iteration 1 of 2"
    );
    assert_eq!(
        test_1.fqn,
        "pipeline.stages.build.spec.execution.steps.test_1_0"
    );
    assert_eq!(resolution.stages[0].steps[4].spec["command"], "echo c");
    assert_eq!(test_1.strategy.as_ref().unwrap().max_concurrency, Some(2));
}

#[test]
fn matrix_node_name_sets_the_suffix() {
    let source = pipeline_with(
        "- step:\n    type: Run\n    name: a\n    identifier: a\n    spec:\n      image: alpine\n      command: echo <+matrix.v>\n    strategy:\n      matrix:\n        v: [x, y]\n        nodeName: build-<+matrix.v>",
        DOCKER,
    );
    let resolution = resolve(
        &source,
        &[("pipeline.variables.tag", "1.0")],
        &[],
        json!({}),
    );
    let ids: Vec<&str> = resolution.stages[0]
        .steps
        .iter()
        .map(|s| s.identifier.as_str())
        .collect();
    assert_eq!(ids, ["a_build_x", "a_build_y"]);
}

#[test]
fn strategy_runtime_inputs_take_supplied_values() {
    // Only a matrix gives `<+matrix.v>` a value, so other loops echo the index.
    let step_with = |strategy: &str| {
        let value = if strategy.contains("matrix") {
            "<+matrix.v>"
        } else {
            "<+strategy.iteration>"
        };
        pipeline_with(
            &format!(
                "- step:\n    type: Run\n    name: a\n    identifier: a\n    spec:\n      image: alpine\n      command: echo {value}\n    strategy:\n{strategy}"
            ),
            DOCKER,
        )
    };
    let prefix = "pipeline.stages.s.spec.execution.steps.a.strategy";
    let cases = [
        ("      parallelism: <+input>", "parallelism", "3", 3),
        ("      parallelism: <+input>.default(2)", "", "", 2),
        (
            "      repeat:\n        times: <+input>",
            "repeat.times",
            "2",
            2,
        ),
        (
            "      repeat:\n        items: <+input>",
            "repeat.items",
            "[a, b, c]",
            3,
        ),
        ("      matrix:\n        v: <+input>", "matrix.v", "[1,2]", 2),
    ];
    for (strategy, field, value, expected) in cases {
        let path = format!("{prefix}.{field}");
        let mut arguments = vec![("pipeline.variables.tag", "1.0")];
        if !field.is_empty() {
            arguments.push((path.as_str(), value));
        }
        let resolution = resolve(&step_with(strategy), &arguments, &[], json!({}));
        let errors = error_messages(&resolution.diagnostics);
        assert_eq!(errors, Vec::<String>::new(), "{strategy}");
        assert_eq!(resolution.stages[0].steps.len(), expected, "{strategy}");
    }
    let from_set = "inputSet:\n  name: a\n  identifier: a\n  pipeline:\n    identifier: p\n    stages:\n      - stage:\n          identifier: s\n          spec:\n            execution:\n              steps:\n                - step:\n                    identifier: a\n                    strategy:\n                      matrix:\n                        v: [x, y]\n";
    let resolution = resolve(
        &step_with("      matrix:\n        v: <+input>"),
        &[("pipeline.variables.tag", "1.0")],
        &[("set.yaml", from_set)],
        json!({}),
    );
    assert_eq!(codes(&resolution), Vec::<&str>::new());
    assert_eq!(resolution.stages[0].steps[1].spec["command"], "echo y");
}

/// Runtime inputs written for `maxConcurrency` and for an item of a matrix
/// axis list take their supplied value or default, at the paths that
/// `inputs` lists.
#[test]
fn strategy_item_and_concurrency_inputs_applied() {
    let source = pipeline_with(
        "- step:\n    type: Run\n    name: a\n    identifier: a\n    spec:\n      image: alpine\n      command: echo <+matrix.v>\n    strategy:\n      matrix:\n        v: [x, <+input>.default(z)]\n        maxConcurrency: <+input>",
        DOCKER,
    );
    let prefix = "pipeline.stages.s.spec.execution.steps.a.strategy.matrix";
    let listed: Vec<String> = pipeline::inputs(&source, "p.yaml")
        .inputs
        .into_iter()
        .map(|field| field.path)
        .collect();
    assert!(listed.contains(&format!("{prefix}.v.1")), "{listed:?}");
    assert!(
        listed.contains(&format!("{prefix}.maxConcurrency")),
        "{listed:?}"
    );

    let concurrency = format!("{prefix}.maxConcurrency");
    let item = format!("{prefix}.v.1");
    let arguments = [
        ("pipeline.variables.tag", "1.0"),
        (concurrency.as_str(), "1"),
    ];
    let with_default = resolve(&source, &arguments, &[], json!({}));
    assert_eq!(codes(&with_default), Vec::<&str>::new());
    let steps = &with_default.stages[0].steps;
    let commands: Vec<&serde_json::Value> =
        steps.iter().map(|step| &step.spec["command"]).collect();
    assert_eq!(commands, ["echo x", "echo z"]);
    let limits: Vec<Option<u64>> = steps
        .iter()
        .map(|step| step.strategy.as_ref().and_then(|s| s.max_concurrency))
        .collect();
    assert_eq!(limits, [Some(1), Some(1)]);

    let arguments = [
        ("pipeline.variables.tag", "1.0"),
        (concurrency.as_str(), "2"),
        (item.as_str(), "y"),
    ];
    let supplied = resolve(&source, &arguments, &[], json!({}));
    assert_eq!(codes(&supplied), Vec::<&str>::new());
    assert_eq!(supplied.stages[0].steps[1].spec["command"], "echo y");

    let missing = resolve(
        &source,
        &[("pipeline.variables.tag", "1.0")],
        &[],
        json!({}),
    );
    let missing_inputs = messages_with_code(&missing, "missing-input");
    assert_eq!(missing_inputs.len(), 1, "{:#?}", missing.diagnostics);
    assert!(
        missing_inputs[0].contains(&concurrency),
        "{}",
        missing_inputs[0]
    );
}

#[test]
fn matrix_node_name_collision_is_an_error() {
    let source = pipeline_with(
        "- step:\n    type: Run\n    name: a\n    identifier: a\n    spec:\n      image: alpine\n      command: echo <+matrix.v>\n    strategy:\n      matrix:\n        v: <+input>\n        nodeName: v<+matrix.v>",
        DOCKER,
    );
    let resolution = resolve(
        &source,
        &[
            ("pipeline.variables.tag", "1.0"),
            (
                "pipeline.stages.s.spec.execution.steps.a.strategy.matrix.v",
                "[\"1.2\", \"1-2\"]",
            ),
        ],
        &[],
        json!({}),
    );
    let messages = error_messages(&resolution.diagnostics);
    assert_eq!(
        messages,
        [
            "`nodeName` gives iteration 0 (v: 1.2) and iteration 1 (v: 1-2) the same identifier `a_v1_2`"
        ]
    );
}

#[test]
fn default_outside_allowed_values_is_reported() {
    let source = fixture("invalid/value-not-allowed.yaml");
    let expected = "`pipeline.variables.region`: default value `asia` is not allowed";
    let resolution = resolve(&source, &[], &[], json!({}));
    let resolved: Vec<&str> = resolution
        .diagnostics
        .iter()
        .filter(|d| d.code == "value-not-allowed")
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(resolved, [expected]);
    let checked = pipeline::check(&source, "p.yaml");
    let checked: Vec<&str> = checked
        .iter()
        .filter(|d| d.code == "value-not-allowed")
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(checked, [expected]);
}

#[test]
fn number_variable_inputs_must_be_numbers() {
    let source = "pipeline:\n  name: p\n  identifier: p\n  variables:\n    - name: n\n      type: Number\n      value: <+input>.default(abc)\n  stages: []\n";
    // The empty `stages` is an error of its own.
    let messages = |resolution: &Resolution| {
        let about_inputs: Vec<basso_core::Diagnostic> = resolution
            .diagnostics
            .iter()
            .filter(|d| d.code != "empty-stages")
            .cloned()
            .collect();
        error_messages(&about_inputs)
    };

    let by_default = resolve(source, &[], &[], json!({}));
    assert_eq!(
        messages(&by_default),
        ["`pipeline.variables.n`: invalid default: `abc` is not a number"]
    );

    let given = resolve(
        source,
        &[("pipeline.variables.n", "notanumber")],
        &[],
        json!({}),
    );
    assert!(
        messages(&given).contains(
            &"invalid value for `pipeline.variables.n`: `notanumber` is not a number".to_string()
        ),
        "{:?}",
        messages(&given)
    );

    let valid = resolve(source, &[("pipeline.variables.n", "2.5")], &[], json!({}));
    assert_eq!(messages(&valid), Vec::<String>::new());

    let listing = pipeline::inputs(source, "p.yaml");
    assert_eq!(listing.inputs[0].value_type, "number");

    let checked = error_messages(&pipeline::check(source, "p.yaml"));
    assert_eq!(
        checked,
        [
            "`pipeline.variables.n`: invalid default: `abc` is not a number",
            "`stages` is empty, but Harness's v0 schema requires at least one stage"
        ]
    );
}

#[test]
fn string_fields_keep_scalar_text() {
    let written = ["1.10", "010", "1e3", "+1", "0x10", "True"];
    let mut variables = String::new();
    let mut env = String::new();
    for (index, text) in written.iter().enumerate() {
        variables.push_str(&format!(
            "    - name: v{index}\n      type: String\n      value: {text}\n"
        ));
        env.push_str(&format!("\n        E{index}: {text}"));
    }
    let command: Vec<String> = (0..written.len())
        .map(|index| format!("<+pipeline.variables.v{index}>"))
        .collect();
    let source = format!(
        "pipeline:\n  name: p\n  identifier: p\n  variables:\n{variables}  stages:\n    - stage:\n        name: s\n        identifier: s\n        type: CI\n        spec:\n          platform:\n            os: Linux\n            arch: Amd64\n          runtime:\n            type: Docker\n            spec: {{}}\n          execution:\n            steps:\n              - step:\n                  type: Run\n                  name: a\n                  identifier: a\n                  spec:\n                    image: alpine\n                    command: echo {}\n                    envVariables:{}\n",
        command.join(" "),
        env.replace("\n        ", "\n                      "),
    );
    let resolution = resolve(&source, &[], &[], json!({}));
    assert_eq!(codes(&resolution), Vec::<&str>::new());
    let step = &resolution.stages[0].steps[0];
    assert_eq!(step.spec["command"], format!("echo {}", written.join(" ")));
    for (index, text) in written.iter().enumerate() {
        assert_eq!(step.spec["envVariables"][format!("E{index}")], *text);
    }
}

#[test]
fn text_fields_read_as_written() {
    let source = "pipeline:
  name: \"1.10\"
  identifier: p
  tags:
    version: 1.10
    build: 007
  stages:
    - stage:
        name: s
        identifier: s
        description: 2.50
        type: CI
        spec:
          platform:
            os: Linux
            arch: Amd64
          runtime:
            type: Docker
            spec: {}
          execution:
            steps:
              - step:
                  type: Run
                  name: a
                  identifier: a
                  spec:
                    image: alpine
                    command: 0010
                    privileged: true
                    envVariables:
                      V: 3.10
              - step:
                  type: Run
                  name: b
                  identifier: b
                  spec:
                    image: alpine
                    command: echo <+pipeline.tags.version> <+pipeline.tags.build> <+stage.description> <+steps.a.spec.command> <+steps.a.spec.envVariables.V> <+pipeline.tags.version.length()> <+steps.a.spec.privileged == true>
";
    let resolution = resolve(source, &[], &[], json!({}));
    assert_eq!(codes(&resolution), Vec::<&str>::new());
    assert_eq!(
        resolution.stages[0].steps[1].spec["command"],
        "echo 1.10 007 2.50 0010 3.10 4 true"
    );
}

#[test]
fn missing_strategy_input_reported_once() {
    let source = pipeline_with(
        "- step:\n    type: Run\n    name: a\n    identifier: a\n    spec:\n      image: alpine\n      command: echo\n    strategy:\n      parallelism: <+input>",
        DOCKER,
    );
    let resolution = resolve(
        &source,
        &[("pipeline.variables.tag", "1.0")],
        &[],
        json!({}),
    );
    let errors: Vec<&str> = resolution
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.code.as_str())
        .collect();
    assert_eq!(errors, ["missing-input"]);
}

#[test]
fn background_endpoints_follow_infrastructure() {
    let docker = resolve(
        &fixture("valid/step-group-parallel.yaml"),
        &[],
        &[],
        json!({}),
    );
    let pg = &docker.stages[0].steps[0];
    let endpoints = pg.endpoints.as_ref().unwrap();
    assert_eq!(endpoints.hostname, "deps_pg");
    assert_eq!(endpoints.container, ["deps_pg:5432"]);
    assert_eq!(endpoints.host, ["localhost:5432"]);
    assert_eq!(pg.step_group.as_deref(), Some("deps"));
    assert_eq!(pg.parallel, Some(1));

    let cloud = resolve(
        &fixture("valid/background-cloud-ports.yaml"),
        &[],
        &[],
        json!({}),
    );
    let nginx = cloud.stages[0].steps[0].endpoints.clone().unwrap();
    assert_eq!(nginx.container, ["nginx:80", "nginx:9090"]);
    assert_eq!(nginx.host, ["localhost:8080", "localhost:9090"]);

    let host = resolve(
        &fixture("valid/background-vm-host.yaml"),
        &[],
        &[],
        json!({}),
    );
    let server = host.stages[0].steps[0].endpoints.clone().unwrap();
    assert!(
        server.container.is_empty(),
        "a host service has no container address"
    );
    assert_eq!(server.host, ["localhost:8000"]);
    assert_eq!(host.stages[0].infrastructure.kind, InfrastructureKind::Vm);
}

#[test]
fn effective_takes_infrastructure_run_as_user() {
    let steps = "- step:\n    type: Run\n    name: a\n    identifier: a\n    spec:\n      image: alpine\n      command: id\n- step:\n    type: Run\n    name: b\n    identifier: b\n    spec:\n      image: alpine\n      runAsUser: 0\n      command: id";
    let infra = format!("{K8S}\n    runAsUser: \"1001\"\n    nodeSelector:\n      disktype: ssd");
    let tag = [("pipeline.variables.tag", "1.0")];
    let resolution = resolve(&pipeline_with(steps, &infra), &tag, &[], json!({}));
    let errors = error_messages(&resolution.diagnostics);
    assert!(errors.is_empty(), "{errors:#?}");

    let stage = &resolution.stages[0];
    assert_eq!(stage.infrastructure.spec["runAsUser"], 1001);
    assert_eq!(stage.infrastructure.spec["nodeSelector"]["disktype"], "ssd");
    let (a, b) = (&stage.steps[0], &stage.steps[1]);
    assert_eq!(a.effective_json()["runAsUser"], 1001);
    assert_eq!(a.spec.get("runAsUser"), None);
    assert_eq!(a.run_as_user(), Some(1001));
    assert_eq!(b.run_as_user(), Some(0));
    // The infrastructure's settings stay out of the JSON output.
    let output = resolution.to_json();
    assert!(!output.to_string().contains("disktype"), "{output}");
}

#[test]
fn effective_adds_infrastructure_defaults() {
    let resolution = resolve(
        &fixture("valid/background-kubernetes.yaml"),
        &[],
        &[],
        json!({}),
    );
    let stage = &resolution.stages[0];
    assert_eq!(
        stage.infrastructure.kind,
        InfrastructureKind::KubernetesDirect
    );
    assert_eq!(stage.infrastructure.namespace.as_deref(), Some("ci"));
    let postgres = &stage.steps[0];
    assert_eq!(postgres.memory_bytes(), Some(1 << 30));
    assert_eq!(postgres.cpu_millis(), Some(1000));
    assert_eq!(postgres.secrets, ["pg_password"]);
    assert_eq!(
        postgres.env_variables()["POSTGRES_PASSWORD"],
        "<+secrets.getValue(\"pg_password\")>"
    );
    let migrate = &stage.steps[1];
    assert_eq!(migrate.memory_bytes(), Some(500 * 1024 * 1024));
    assert_eq!(migrate.cpu_millis(), Some(400));
    assert_eq!(migrate.shell(), Some(Shell::Bash));
    assert_eq!(migrate.timeout_seconds, Some(600));
    assert_eq!(
        postgres.endpoints.as_ref().unwrap().pod,
        Vec::<String>::new()
    );

    let cloud = resolve(
        &fixture("valid/background-cloud-ports.yaml"),
        &[],
        &[],
        json!({}),
    );
    let nginx = &cloud.stages[0].steps[0];
    assert_eq!(nginx.image(), Some("nginx:latest"));
    assert_eq!(nginx.spec["image"], "nginx");
    assert_eq!(nginx.port_bindings(), [(8080, 80), (9090, 9090)]);
    assert_eq!(
        nginx.memory_bytes(),
        None,
        "Cloud steps get no resource defaults"
    );
    assert_eq!(nginx.timeout_seconds, None, "an empty timeout means none");

    let windows = resolve(&fixture("valid/windows-cloud.yaml"), &[], &[], json!({}));
    assert_eq!(windows.stages[0].platform.os, "Windows");
    assert_eq!(windows.stages[0].steps[0].effective_json()["shell"], "Pwsh");
}

#[test]
fn docker_runtime_accessors() {
    let resolution = resolve(&fixture("valid/docker-runtime.yaml"), &[], &[], json!({}));
    let redis = &resolution.stages[0].steps[0];
    assert_eq!(redis.entrypoint(), ["redis-server", "--port", "6380"]);
    assert_eq!(redis.run_as_user(), Some(1000));
    assert!(!redis.privileged());
    assert_eq!(redis.endpoints.as_ref().unwrap().container, ["redis:6380"]);
    let ping = &resolution.stages[0].steps[1];
    assert_eq!(ping.report_paths(), ["reports/**/*.xml"]);
    assert_eq!(ping.output_variables(), ["PONG"]);
    assert_eq!(
        ping.image_pull_policy(),
        Some(basso_core::pipeline::ImagePullPolicy::IfNotPresent)
    );
}

#[test]
fn yaml_traps_keep_strings() {
    let source = pipeline_with(
        "- step:\n    type: Background\n    name: a\n    identifier: a\n    spec:\n      image: nginx\n      envVariables:\n        LIST: \"[1,2]\"\n        DATE: 2002-12-14\n        COUNT: 5\n      portBindings:\n        8080: 80",
        DOCKER,
    );
    let resolution = resolve(
        &source,
        &[("pipeline.variables.tag", "1.0")],
        &[],
        json!({}),
    );
    let step = &resolution.stages[0].steps[0];
    assert_eq!(
        step.spec["envVariables"],
        json!({"LIST": "[1,2]", "DATE": "2002-12-14", "COUNT": "5"})
    );
    assert_eq!(step.spec["portBindings"], json!({"8080": "80"}));
}

#[test]
fn typed_fields_are_evaluated_and_coerced() {
    let source = pipeline_with(
        "- step:\n    type: Background\n    name: a\n    identifier: a\n    spec:\n      image: docker:dind\n      privileged: <+input>.default(true)\n      runAsUser: <+input>\n      entrypoint: <+input>",
        DOCKER,
    );
    let arguments = [
        ("pipeline.variables.tag", "1.0"),
        (
            "pipeline.stages.s.spec.execution.steps.a.spec.runAsUser",
            "1000",
        ),
        (
            "pipeline.stages.s.spec.execution.steps.a.spec.entrypoint",
            "[dockerd, --debug]",
        ),
    ];
    let resolution = resolve(&source, &arguments, &[], json!({}));
    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
    let step = &resolution.stages[0].steps[0];
    assert!(step.privileged());
    assert_eq!(step.spec["runAsUser"], 1000);
    assert_eq!(step.entrypoint(), ["dockerd", "--debug"]);

    let bad = resolve(
        &source,
        &[
            ("pipeline.variables.tag", "1.0"),
            (
                "pipeline.stages.s.spec.execution.steps.a.spec.runAsUser",
                "root",
            ),
        ],
        &[],
        json!({}),
    );
    assert!(codes(&bad).contains(&"invalid-input"), "{:?}", codes(&bad));
}

#[test]
fn use_from_stage_copies_infrastructure() {
    let source = format!(
        "{}    - stage:\n        name: t\n        identifier: t\n        type: CI\n        spec:\n          infrastructure:\n            useFromStage: s\n          execution:\n            steps:\n              - step:\n                  type: Background\n                  name: b\n                  identifier: b\n                  spec:\n                    image: redis\n",
        pipeline_with(
            "- step:\n    type: Run\n    name: a\n    identifier: a\n    spec:\n      image: alpine\n      command: echo",
            K8S
        )
    );
    let resolution = resolve(
        &source,
        &[("pipeline.variables.tag", "1.0")],
        &[],
        json!({}),
    );
    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
    let second = &resolution.stages[1];
    assert_eq!(
        second.infrastructure.kind,
        InfrastructureKind::KubernetesDirect
    );
    assert_eq!(second.infrastructure.use_from_stage.as_deref(), Some("s"));
    assert_eq!(second.infrastructure.namespace.as_deref(), Some("ci"));
    assert_eq!(second.steps[0].memory_bytes(), Some(500 * 1024 * 1024));
    let _ = VM;
}

#[test]
fn fragment_and_input_set_get_one_error() {
    let fragment = resolve("  name: x\n  stages: []\n", &[], &[], json!({}));
    assert_eq!(codes(&fragment), ["missing-header"]);
    let input_set = resolve(&fixture("valid/input-set.yaml"), &[], &[], json!({}));
    assert_eq!(codes(&input_set), ["not-a-pipeline"]);
}

#[test]
fn inputs_listing_uses_input_paths() {
    let listing = pipeline::inputs(&fixture("valid/runtime-inputs.yaml"), "p.yaml");
    let paths: Vec<&str> = listing.inputs.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "pipeline.variables.dbVersion",
            "pipeline.stages.build.spec.execution.steps.db.spec.image",
            "pipeline.stages.build.spec.execution.steps.db.spec.envVariables.POSTGRES_DB",
            "pipeline.stages.build.spec.execution.steps.db.spec.privileged",
        ]
    );
    assert_eq!(
        listing.inputs[1].allowed_values.as_deref(),
        Some(&["postgres:15".to_string(), "postgres:16".to_string()][..])
    );
    assert_eq!(listing.inputs[0].regex.as_deref(), Some("1[0-9]"));
    assert_eq!((listing.inputs[0].line, listing.inputs[0].column), (7, 14));
    insta::assert_json_snapshot!(
        "inputs__runtime-inputs",
        serde_json::to_value(&listing).unwrap()
    );
}

#[test]
fn inputs_listing_marks_select_many_as_multiple() {
    let source = pipeline_with(
        "- step:\n    type: Run\n    name: test\n    identifier: test\n    spec:\n      image: alpine\n      command: echo\n      envVariables:\n        SUITES: <+input>.selectManyFrom(unit,e2e)\n        TARGET: <+input>.selectOneFrom(dev,prod)",
        DOCKER,
    );
    let listing = pipeline::inputs(&source, "p.yaml");
    let multiple: Vec<(&str, bool)> = listing
        .inputs
        .iter()
        .map(|input| (input.path.rsplit('.').next().unwrap(), input.multiple))
        .collect();
    assert_eq!(
        multiple,
        [("tag", false), ("SUITES", true), ("TARGET", false)]
    );
    assert_eq!(
        listing.inputs[1].allowed_values.as_deref(),
        Some(&["unit".to_string(), "e2e".to_string()][..])
    );
}

#[test]
fn when_condition_compares_strings_as_strings() {
    let source = pipeline_with(
        "- step:\n    type: Run\n    name: same\n    identifier: same\n    when:\n      stageStatus: Success\n      condition: <+pipeline.variables.tag> == \"1.0\"\n    spec:\n      image: alpine\n      command: echo 1\n- step:\n    type: Run\n    name: other\n    identifier: other\n    when:\n      stageStatus: Success\n      condition: <+pipeline.variables.tag> == \"2.0\"\n    spec:\n      image: alpine\n      command: echo 2\n- step:\n    type: Run\n    name: later\n    identifier: later\n    when:\n      stageStatus: All\n      condition: <+execution.steps.same.status> == \"SUCCEEDED\"\n    spec:\n      image: alpine\n      command: echo 3",
        DOCKER,
    );
    let resolution = resolve(
        &source,
        &[("pipeline.variables.tag", "1.0")],
        &[],
        json!({}),
    );
    let conditions: Vec<Option<String>> = resolution.stages[0]
        .steps
        .iter()
        .map(|step| step.when.as_ref().and_then(|when| when.condition.clone()))
        .collect();
    assert_eq!(conditions[0].as_deref(), Some("true"));
    assert_eq!(conditions[1].as_deref(), Some("false"));
    // A step status has no value before the run, so the block stays.
    assert_eq!(
        conditions[2].as_deref(),
        Some("<+execution.steps.same.status> == \"SUCCEEDED\"")
    );
}

/// Rendering stops at the first failing block, but resolution reports
/// every block of the field that fails, each at its own column.
#[test]
fn field_reports_each_failing_block() {
    let source = pipeline_with(
        "- step:\n    type: Run\n    name: b\n    identifier: b\n    spec:\n      image: alpine\n      command: export V=1\n      outputVariables:\n        - name: V\n- step:\n    type: Run\n    name: a\n    identifier: a\n    spec:\n      image: alpine\n      command: echo <+1/0> <+\"abc\".substring(9)> ok <+\"x\".foo()> <+steps.b.output.outputVariables.V.foo()>",
        DOCKER,
    );

    let resolution = resolve(
        &source,
        &[("pipeline.variables.tag", "1.0")],
        &[],
        json!({}),
    );

    let errors: Vec<(&str, usize)> = resolution
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| (d.code.as_str(), d.span.column))
        .collect();
    assert_eq!(
        errors,
        [
            ("division-by-zero", 38),
            ("index-out-of-bounds", 49),
            ("unknown-method", 72),
        ]
    );
}

/// A condition whose value is known before the run keeps Harness's
/// decision: a string is true unless it is empty or exactly `false`.
#[test]
fn when_condition_string_value_is_decided() {
    let step = |id: &str, condition: &str| {
        format!(
            "- step:\n    type: Run\n    name: {id}\n    identifier: {id}\n    when:\n      stageStatus: Success\n      condition: {condition}\n    spec:\n      image: alpine\n      command: echo {id}\n"
        )
    };
    let steps = [
        step("tag", "<+pipeline.variables.tag>"),
        step("text", "<+trigger.payload.text>"),
        step("upper", "<+trigger.payload.upper>"),
        step("lower", "<+trigger.payload.lower>"),
        step("blank", "<+trigger.payload.blank>"),
        step("zero", "<+trigger.payload.zero>"),
        step("absent", "<+trigger.payload.none>"),
    ]
    .concat();
    let source = pipeline_with(steps.trim_end(), DOCKER);
    let context = json!({"trigger": {"payload": {
        "text": "a", "upper": "False", "lower": "false", "blank": "", "zero": 0, "none": null
    }}});

    let resolution = resolve(&source, &[("pipeline.variables.tag", "1.0")], &[], context);

    let conditions: Vec<Option<String>> = resolution.stages[0]
        .steps
        .iter()
        .map(|step| step.when.as_ref().and_then(|when| when.condition.clone()))
        .collect();
    assert_eq!(conditions[0].as_deref(), Some("true"), "tag");
    assert_eq!(conditions[1].as_deref(), Some("true"), "text");
    assert_eq!(conditions[2].as_deref(), Some("true"), "upper");
    assert_eq!(conditions[3].as_deref(), Some("false"), "lower");
    assert_eq!(conditions[4].as_deref(), Some("false"), "blank");
    assert_eq!(conditions[5].as_deref(), Some("false"), "zero");
    assert_eq!(conditions[6].as_deref(), Some("false"), "absent");
}

/// Returns a one-stage pipeline on a Docker runtime with `stage_extra`
/// (already indented as stage fields) and the execution `steps`.
fn docker_stage(stage_extra: &str, steps: &str) -> String {
    let steps: String = steps
        .lines()
        .map(|line| format!("              {line}\n"))
        .collect();
    format!(
        "pipeline:
  name: p
  identifier: p
  stages:
    - stage:
        name: s
        identifier: s
        type: CI
{stage_extra}        spec:
          cloneCodebase: false
          platform:
            os: Linux
            arch: Amd64
          runtime:
            type: Docker
            spec: {{}}
          execution:
            steps:
{steps}"
    )
}

fn step_ids(stage: &pipeline::ResolvedStage) -> Vec<String> {
    stage
        .steps
        .iter()
        .map(|step| match &step.step_group {
            Some(group) => format!("{group}/{}", step.identifier),
            None => step.identifier.clone(),
        })
        .collect()
}

fn resolve_group_fixture() -> Resolution {
    resolve(
        &fixture("valid/step-group-strategies.yaml"),
        &[],
        &[],
        json!({}),
    )
}

#[test]
fn group_matrix_expands_per_iteration() {
    let resolution = resolve_group_fixture();
    assert!(
        resolution.diagnostics.is_empty(),
        "{:#?}",
        resolution.diagnostics
    );
    let stage = &resolution.stages[0];
    assert_eq!(
        step_ids(stage)[..6],
        [
            "test_0_0/cache",
            "test_0_0/unit",
            "test_0_1/cache",
            "test_0_1/unit",
            "test_1_1/cache",
            "test_1_1/unit"
        ]
    );

    let unit = &stage.steps[5];
    assert_eq!(
        unit.fqn,
        "pipeline.stages.build.spec.execution.steps.test_1_1.steps.unit"
    );
    assert_eq!(unit.step_group.as_deref(), Some("test_1_1"));
    // The exclude drops windows with 1.21, so the third iteration is
    // windows with 1.22, the second value of both axes.
    assert_eq!(unit.spec["image"], "golang:1.22");
    assert_eq!(unit.spec["command"], "GOOS=windows go test ./...");
    assert_eq!(unit.spec["envVariables"]["ITERATION"], "2 of 3");
    assert_eq!(unit.spec["envVariables"]["GROUP"], "test_1_1");
    assert_eq!(unit.spec["envVariables"]["CACHE"], "test_1_1_cache:6379");
    // The step has no strategy of its own.
    assert!(unit.strategy.is_none());

    let cache = &stage.steps[4];
    assert_eq!(cache.endpoints.as_ref().unwrap().hostname, "test_1_1_cache");
}

#[test]
fn group_repeat_and_looped_step_inside() {
    let resolution = resolve_group_fixture();
    let stage = &resolution.stages[0];
    assert_eq!(
        step_ids(stage)[6..],
        [
            "shards_0/fetch",
            "shards_0/warm",
            "shards_0/part_0",
            "shards_0/part_1",
            "shards_1/fetch",
            "shards_1/warm",
            "shards_1/part_0",
            "shards_1/part_1"
        ]
    );
    let fetch_b = &stage.steps[10];
    assert_eq!(fetch_b.spec["command"], "echo fetch b");
    assert_eq!(stage.steps[11].spec["command"], "echo warm b 1");
    // The step's own loop is the innermost, so `strategy.*` and `matrix.*`
    // are its values and the group's only show in the suffixes.
    let part = &stage.steps[13];
    assert_eq!(part.spec["command"], "echo y 1 of 2 in shards_1");
    assert_eq!(
        part.fqn,
        "pipeline.stages.build.spec.execution.steps.shards_1.steps.part_1"
    );
    assert_eq!(part.strategy.as_ref().unwrap().iteration, 1);
}

#[test]
fn group_iterations_get_own_parallel_blocks() {
    let resolution = resolve_group_fixture();
    let parallel: Vec<Option<u32>> = resolution.stages[0].steps[6..]
        .iter()
        .map(|step| step.parallel)
        .collect();
    assert_eq!(
        parallel,
        [Some(1), Some(1), None, None, Some(2), Some(2), None, None]
    );
}

#[test]
fn group_background_endpoints_use_suffix() {
    let source = docker_stage(
        "",
        "- stepGroup:
    name: g
    identifier: g
    strategy:
      parallelism: 2
    steps:
      - step:
          type: Background
          name: db
          identifier: db
          spec:
            image: postgres:16
            portBindings:
              \"5432\": \"5432\"",
    );
    let resolution = resolve(&source, &[], &[], json!({}));
    let stage = &resolution.stages[0];
    assert_eq!(step_ids(stage), ["g_0/db", "g_1/db"]);
    let endpoints = stage.steps[1].endpoints.as_ref().unwrap();
    assert_eq!(endpoints.hostname, "g_1_db");
    assert_eq!(endpoints.container, ["g_1_db:5432"]);
    assert_eq!(endpoints.host, ["localhost:5432"]);
}

#[test]
fn group_node_name_sets_the_suffix() {
    let source = docker_stage(
        "",
        "- stepGroup:
    name: g
    identifier: g
    strategy:
      matrix:
        os: [linux, mac-os]
        nodeName: on-<+matrix.os>
    steps:
      - step:
          type: Run
          name: a
          identifier: a
          spec:
            image: alpine
            command: echo <+stepGroup.identifier> <+strategy.identifierPostFix>",
    );
    let resolution = resolve(&source, &[], &[], json!({}));
    let stage = &resolution.stages[0];
    assert_eq!(step_ids(stage), ["g_on_linux/a", "g_on_mac_os/a"]);
    assert_eq!(
        stage.steps[1].spec["command"],
        "echo g_on_mac_os _on_mac_os"
    );
    assert_eq!(
        stage.steps[1].fqn,
        "pipeline.stages.s.spec.execution.steps.g_on_mac_os.steps.a"
    );
}

#[test]
fn looped_group_in_looped_stage() {
    let source = docker_stage(
        "        strategy:
          matrix:
            region: [eu, us]
",
        "- stepGroup:
    name: g
    identifier: g
    strategy:
      repeat:
        items: [x, y, z]
    steps:
      - step:
          type: Run
          name: a
          identifier: a
          spec:
            image: alpine
            command: echo <+stage.matrix.region> <+repeat.item> <+strategy.iteration>/<+strategy.iterations>",
    );
    let resolution = resolve(&source, &[], &[], json!({}));
    assert!(
        resolution.diagnostics.is_empty(),
        "{:#?}",
        resolution.diagnostics
    );
    assert_eq!(resolution.stages.len(), 2);
    let stage = &resolution.stages[1];
    assert_eq!(stage.identifier, "s_1");
    assert_eq!(step_ids(stage), ["g_0/a", "g_1/a", "g_2/a"]);
    let last = &stage.steps[2];
    assert_eq!(
        last.fqn,
        "pipeline.stages.s_1.spec.execution.steps.g_2.steps.a"
    );
    // The group's loop is inner to the stage's, so `strategy.*` counts the
    // group's iterations. `stage.matrix` still reads the stage's values.
    assert_eq!(last.spec["command"], "echo us z 2/3");
}

#[test]
fn nested_groups_inside_looped_group() {
    let source = docker_stage(
        "",
        "- stepGroup:
    name: outer
    identifier: outer
    strategy:
      repeat:
        items: [a, b]
    steps:
      - stepGroup:
          name: inner
          identifier: inner
          steps:
            - step:
                type: Run
                name: t
                identifier: t
                spec:
                  image: alpine
                  command: echo <+repeat.item> <+stepGroup.identifier>
      - stepGroup:
          name: looped
          identifier: looped
          strategy:
            parallelism: 2
          steps:
            - step:
                type: Run
                name: u
                identifier: u
                spec:
                  image: alpine
                  command: echo <+strategy.iteration>/<+strategy.iterations>",
    );
    let resolution = resolve(&source, &[], &[], json!({}));
    assert!(
        resolution.diagnostics.is_empty(),
        "{:#?}",
        resolution.diagnostics
    );

    let stage = &resolution.stages[0];
    let fqns: Vec<&str> = stage
        .steps
        .iter()
        .map(|step| {
            step.fqn
                .strip_prefix("pipeline.stages.s.spec.execution.steps.")
                .unwrap()
        })
        .collect();
    assert_eq!(
        fqns,
        [
            "outer_0.steps.inner.steps.t",
            "outer_0.steps.looped_0.steps.u",
            "outer_0.steps.looped_1.steps.u",
            "outer_1.steps.inner.steps.t",
            "outer_1.steps.looped_0.steps.u",
            "outer_1.steps.looped_1.steps.u",
        ]
    );

    // A group without a strategy keeps its identifier and reads the
    // enclosing group's loop values.
    assert_eq!(stage.steps[3].step_group.as_deref(), Some("inner"));
    assert_eq!(stage.steps[3].spec["command"], "echo b inner");
    assert_eq!(stage.steps[5].step_group.as_deref(), Some("looped_1"));
    assert_eq!(stage.steps[5].spec["command"], "echo 1/2");
}

fn failure_types(step: &pipeline::ResolvedStep) -> Vec<&'static str> {
    step.failure_strategies
        .iter()
        .map(|strategy| strategy.action.type_name())
        .collect()
}

#[test]
fn failure_strategies_inherit_innermost_first() {
    let resolution = resolve(
        &fixture("valid/failure-strategies.yaml"),
        &[],
        &[],
        json!({}),
    );
    assert!(
        resolution.diagnostics.is_empty(),
        "{:#?}",
        resolution.diagnostics
    );
    let stage = &resolution.stages[0];

    let flaky = stage.step("flaky").unwrap();
    assert_eq!(failure_types(flaky), ["Retry", "Ignore", "Abort"]);
    let expected_retry = FailureAction::Retry(RetryAction {
        retry_count: 2,
        retry_interval_seconds: vec![10, 60],
        on_retry_failure: Box::new(FailureAction::MarkAsFailure),
    });
    assert_eq!(flaky.failure_strategies[0].action, expected_retry);
    assert_eq!(flaky.failure_strategies[0].errors, [ErrorType::Unknown]);
    assert_eq!(flaky.failure_strategies[2].errors, [ErrorType::AllErrors]);

    let background = stage.step("cache").unwrap();
    assert!(background.failure_strategies.is_empty());
}

#[test]
fn looped_groups_and_steps_keep_failure_strategies() {
    let resolution = resolve(
        &fixture("valid/failure-strategies.yaml"),
        &[],
        &[],
        json!({}),
    );
    let stage = &resolution.stages[0];
    let checks: Vec<_> = stage
        .steps
        .iter()
        .filter(|step| step.identifier.starts_with("check_"))
        .collect();

    // Two iterations of `checks`, each with two iterations of `check`.
    assert_eq!(checks.len(), 4);
    for check in checks {
        assert_eq!(
            failure_types(check),
            ["MarkAsSuccess", "ManualIntervention", "Abort"],
            "{}",
            check.fqn
        );
        assert_eq!(
            check.failure_strategies[0].errors,
            [ErrorType::Timeout, ErrorType::Connectivity]
        );
    }
}

#[test]
fn looped_stage_keeps_failure_strategies() {
    let stage_extra = "        strategy:\n          parallelism: 2\n        failureStrategies:\n          - onFailure:\n              errors: [AllErrors]\n              action: {type: Ignore}\n";
    let source = docker_stage(
        stage_extra,
        "- step: {type: Run, name: a, identifier: a, spec: {image: alpine, command: exit 1}}",
    );
    let resolution = resolve(&source, &[], &[], json!({}));

    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
    assert_eq!(resolution.stages.len(), 2);
    for stage in &resolution.stages {
        assert_eq!(
            failure_types(&stage.steps[0]),
            ["Ignore"],
            "{}",
            stage.identifier
        );
    }
}

#[test]
fn failure_strategies_json_field() {
    let source = docker_stage(
        "",
        "- step:\n    type: Run\n    name: a\n    identifier: a\n    failureStrategies:\n      - onFailure:\n          errors: [AllErrors]\n          action:\n            type: Retry\n            spec: {retryCount: 1, retryIntervals: [90s]}\n    spec: {image: alpine, command: exit 1}",
    );
    let json = resolve(&source, &[], &[], json!({})).to_json();

    let expected = json!([{
        "errors": ["AllErrors"],
        "action": {
            "type": "Retry",
            "retryCount": 1,
            "retryIntervalSeconds": [90],
            "onRetryFailure": {"type": "MarkAsFailure"}
        }
    }]);
    assert_eq!(json["stages"][0]["steps"][0]["failureStrategies"], expected);
}

/// Returns a Docker stage whose step `a` has `failureStrategies: <+input>`.
fn failure_strategies_input_stage() -> String {
    docker_stage(
        "",
        "- step:\n    type: Run\n    name: a\n    identifier: a\n    failureStrategies: <+input>\n    spec: {image: alpine, command: exit 1}",
    )
}

const FAILURE_INPUT: &str = "pipeline.stages.s.spec.execution.steps.a.failureStrategies";

#[test]
fn failure_strategies_input_value_read() {
    let value = "[{onFailure: {errors: [Timeout], action: {type: Retry, spec: {retryCount: 3, retryIntervals: [5s]}}}}]";
    let resolution = resolve(
        &failure_strategies_input_stage(),
        &[(FAILURE_INPUT, value)],
        &[],
        json!({}),
    );

    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
    let step = &resolution.stages[0].steps[0];
    assert_eq!(step.failure_strategies.len(), 1);
    assert_eq!(step.failure_strategies[0].errors, [ErrorType::Timeout]);
    let FailureAction::Retry(retry) = &step.failure_strategies[0].action else {
        panic!("not a retry: {:?}", step.failure_strategies);
    };
    assert_eq!(retry.retry_count, 3);
    assert_eq!(retry.retry_interval_seconds, [5]);
}

#[test]
fn failure_strategies_input_value_validated() {
    let value = r#"[{"onFailure": {"errors": ["AllErrors"], "action": {"type": "Retry", "spec": {"retryCount": -2, "retryIntervals": ["soon"]}}}}, {"onFailure": {"errors": ["Everything"], "action": {"type": "Ignor"}}}]"#;
    let source = failure_strategies_input_stage();
    let resolution = resolve(&source, &[(FAILURE_INPUT, value)], &[], json!({}));

    let mut found = codes(&resolution);
    found.sort();
    assert_eq!(
        found,
        [
            "invalid-retry-count",
            "invalid-retry-interval",
            "unknown-error-type",
            "unknown-failure-action"
        ]
    );
    let input_line = source
        .lines()
        .position(|line| line.contains("failureStrategies: <+input>"))
        .unwrap()
        + 1;
    for diagnostic in &resolution.diagnostics {
        assert_eq!(diagnostic.span.line, input_line, "{diagnostic:?}");
        assert!(
            diagnostic
                .message
                .contains(&format!("(in the value from `--input {FAILURE_INPUT}=[{{")),
            "{diagnostic:?}"
        );
    }
    assert!(resolution.stages[0].steps[0].failure_strategies.is_empty());
}

#[test]
fn failure_strategies_input_must_be_a_list() {
    let resolution = resolve(
        &failure_strategies_input_stage(),
        &[(FAILURE_INPUT, "Ignore")],
        &[],
        json!({}),
    );

    assert_eq!(codes(&resolution), ["wrong-type"]);
    assert!(
        resolution.diagnostics[0]
            .message
            .starts_with("`failureStrategies` must be a list, found a scalar"),
        "{:?}",
        resolution.diagnostics[0]
    );
}

#[test]
fn byte_order_mark_is_not_a_column() {
    let text = "pipeline:\n  name: x\n  identifier: bad id\n  stages: []\n";
    let marked = format!("\u{feff}{text}");
    for diagnostics in [
        pipeline::check(&marked, "p.yaml"),
        resolve(&marked, &[], &[], json!({})).diagnostics,
    ] {
        let invalid = diagnostics
            .iter()
            .find(|d| d.code == "invalid-identifier")
            .unwrap_or_else(|| panic!("{diagnostics:#?}"));
        assert_eq!((invalid.span.line, invalid.span.column), (3, 15));
        // Byte offsets index the text after the mark, as the CLI shows it.
        assert_eq!(
            &text[invalid.span.byte_start..invalid.span.byte_end],
            "bad id"
        );
    }
}

/// Steps of an outer group with a `when`, an inner group without one and
/// a looped group whose condition reads a step status.
const GROUP_WHEN_STEPS: &str = "- stepGroup:
    name: outer
    identifier: outer
    when:
      stageStatus: Success
      condition: <+pipeline.variables.deploy> == \"yes\"
    steps:
      - step: {type: Run, name: a, identifier: a, spec: {image: alpine, command: echo a}}
      - stepGroup:
          name: inner
          identifier: inner
          steps:
            - step:
                type: Run
                name: b
                identifier: b
                when: {stageStatus: All}
                spec: {image: alpine, command: echo b}
- stepGroup:
    name: looped
    identifier: looped
    strategy:
      repeat: {items: [x, y]}
    when:
      stageStatus: Failure
      condition: <+steps.c.status> == \"SUCCEEDED\"
    steps:
      - step: {type: Run, name: c, identifier: c, spec: {image: alpine, command: echo c}}
- step: {type: Run, name: d, identifier: d, spec: {image: alpine, command: echo d}}";

/// Returns a Docker stage with `GROUP_WHEN_STEPS` and the pipeline
/// variable `deploy` set to `no`.
fn group_when_source() -> String {
    docker_stage("", GROUP_WHEN_STEPS).replace(
        "  stages:\n",
        "  variables:\n    - name: deploy\n      type: String\n      value: \"no\"\n  stages:\n",
    )
}

/// Returns the `groupWhen` entries of every step as
/// `group:stageStatus:condition` texts.
fn group_whens(resolution: &Resolution) -> Vec<Vec<String>> {
    resolution.stages[0]
        .steps
        .iter()
        .map(|step| {
            step.group_when
                .iter()
                .map(|when| {
                    let condition = when.condition.as_deref().unwrap_or("-");
                    format!("{}:{}:{condition}", when.step_group, when.stage_status)
                })
                .collect()
        })
        .collect()
}

#[test]
fn group_when_reaches_its_steps() {
    let resolution = resolve(&group_when_source(), &[], &[], json!({}));

    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
    let ids = step_ids(&resolution.stages[0]);
    assert_eq!(ids, ["outer/a", "inner/b", "looped_0/c", "looped_1/c", "d"]);
    let whens = group_whens(&resolution);
    assert_eq!(whens[0], ["outer:Success:false"]);
    // The inner group has no `when`, so only the outer one applies to `b`,
    // and `b` keeps its own `when`.
    assert_eq!(whens[1], ["outer:Success:false"]);
    assert_eq!(
        resolution.stages[0].steps[1]
            .when
            .as_ref()
            .map(|when| when.stage_status.as_str()),
        Some("All")
    );
    // Each iteration names its own group and keeps the step status, which
    // has no value before the run.
    assert_eq!(
        whens[2],
        ["looped_0:Failure:<+steps.c.status> == \"SUCCEEDED\""]
    );
    assert_eq!(
        whens[3],
        ["looped_1:Failure:<+steps.c.status> == \"SUCCEEDED\""]
    );
    assert!(whens[4].is_empty());
}

#[test]
fn group_when_json_field() {
    let json = resolve(&group_when_source(), &[], &[], json!({})).to_json();

    let step = &json["stages"][0]["steps"][0];
    assert_eq!(step["when"], serde_json::Value::Null);
    assert_eq!(
        step["groupWhen"],
        json!([{
            "stepGroup": "outer",
            "stageStatus": "Success",
            "condition": "false",
            "failureStrategies": []
        }])
    );
}

#[test]
fn group_when_carries_failure_strategies() {
    let stage_extra = "        failureStrategies:\n          - onFailure:\n              errors: [AllErrors]\n              action: {type: Abort}\n";
    let steps = "- stepGroup:
    name: outer
    identifier: outer
    failureStrategies:
      - onFailure: {errors: [AllErrors], action: {type: Ignore}}
    steps:
      - stepGroup:
          name: inner
          identifier: inner
          when: {stageStatus: Success, condition: <+stage.variables.go> == \"yes\"}
          failureStrategies:
            - onFailure: {errors: [Unknown], action: {type: MarkAsSuccess}}
          steps:
            - step: {type: Run, name: a, identifier: a, spec: {image: alpine, command: exit 0}}";
    let resolution = resolve(&docker_stage(stage_extra, steps), &[], &[], json!({}));

    let step = &resolution.stages[0].steps[0];
    assert_eq!(step.group_when.len(), 1, "{:#?}", resolution.diagnostics);
    let types: Vec<&str> = step.group_when[0]
        .failure_strategies
        .iter()
        .map(|strategy| strategy.action.type_name())
        .collect();
    assert_eq!(types, ["MarkAsSuccess", "Ignore", "Abort"]);
}

#[test]
fn group_when_sees_group_loop() {
    let group = |strategy: &str, condition: &str| {
        format!(
            "pipeline:\n  name: p\n  identifier: p\n  stages:\n    - stage:\n        name: s\n        identifier: s\n        type: CI\n        spec:\n          cloneCodebase: false\n          platform: {{os: Linux, arch: Amd64}}\n          runtime: {{type: Cloud, spec: {{}}}}\n          execution:\n            steps:\n              - stepGroup:\n                  name: g\n                  identifier: g\n{strategy}                  when:\n                    stageStatus: Success\n                    condition: {condition}\n                  steps:\n                    - step:\n                        type: Run\n                        name: u\n                        identifier: u\n                        spec:\n                          shell: Sh\n                          command: echo hi\n"
        )
    };
    let repeat = "                  strategy:\n                    repeat:\n                      items: [a, b]\n";
    let codes_of = |source: String| -> Vec<String> {
        pipeline::check(&source, "p.yaml")
            .into_iter()
            .map(|d| d.code)
            .collect()
    };

    let own_loop = codes_of(group(repeat, "<+repeat.item> == \"a\""));
    assert!(own_loop.is_empty(), "{own_loop:?}");
    let typo = codes_of(group(repeat, "<+repeat.itme> == \"a\""));
    assert_eq!(typo, ["unknown-loop-key"]);
    let no_loop = codes_of(group("", "<+repeat.item> == \"a\""));
    assert_eq!(no_loop, ["not-in-loop"]);
}

#[test]
fn resolve_reports_check_errors_once() {
    let source = pipeline_with(
        "- step:\n    type: Run\n    name: a\n    identifier: a\n    when:\n      stageStatus: Success\n      condition: 1 +\n    spec:\n      shell: Sh\n      command: echo <+<+secrets.getValue(\"pw\")>.toUpperCase()>\n      envVariables:\n        A: <+input>.defualt(x)\n        B: <+input>.regex((open).default(u)",
        DOCKER,
    );
    let expected = [
        "expression-syntax",
        "secret-opaque",
        "invalid-runtime-input",
        "invalid-regex",
    ];
    let checked = pipeline::check(&source, "p.yaml");
    let checked_codes: Vec<&str> = checked.iter().map(|d| d.code.as_str()).collect();
    for code in expected {
        assert_eq!(
            checked_codes.iter().filter(|c| **c == code).count(),
            1,
            "check: {code} in {checked_codes:?}"
        );
    }
    let resolution = resolve(
        &source,
        &[("pipeline.variables.tag", "1.0")],
        &[],
        json!({}),
    );
    let resolved_codes = codes(&resolution);
    for code in expected {
        assert_eq!(
            resolved_codes.iter().filter(|c| **c == code).count(),
            1,
            "resolve: {code} in {resolved_codes:?}"
        );
    }
}

/// A value for the `tag` input of `pipeline_with`.
const TAG: &[(&str, &str)] = &[("pipeline.variables.tag", "1.0")];

fn looped_service(strategy: &str) -> String {
    let step = format!(
        "- step:\n    type: Background\n    name: db\n    identifier: db\n    strategy:\n      {strategy}\n    spec:\n      image: postgres:16\n      portBindings:\n        \"5432\": \"5432\"\n- step:\n    type: Run\n    name: t\n    identifier: t\n    spec:\n      image: alpine\n      command: echo ok"
    );
    pipeline_with(&step, DOCKER)
}

#[test]
fn looped_service_host_port_is_duplicate() {
    let resolution = resolve(&looped_service("parallelism: 3"), TAG, &[], json!({}));
    let errors = error_messages(&resolution.diagnostics);

    assert_eq!(codes(&resolution), ["duplicate-host-port"]);
    assert_eq!(
        errors,
        ["host port `5432` is bound by each of the 3 iterations of step `db`"]
    );
}

#[test]
fn service_in_single_iteration_loop_passes() {
    let resolution = resolve(
        &looped_service("repeat:\n        times: 1"),
        TAG,
        &[],
        json!({}),
    );

    assert!(
        codes(&resolution).is_empty(),
        "{:?}",
        resolution.diagnostics
    );
}

/// Returns a Docker pipeline with the variable `port` set to `port` and one
/// Background step whose `portBindings` has the single entry `binding`.
fn service_with_port(port: &str, binding: &str) -> String {
    format!(
        "pipeline:\n  name: p\n  identifier: p\n  variables:\n    - name: port\n      type: String\n      value: \"{port}\"\n  stages:\n    - stage:\n        name: s\n        identifier: s\n        type: CI\n        spec:\n          platform:\n            os: Linux\n            arch: Amd64\n          runtime:\n            type: Docker\n            spec: {{}}\n          execution:\n            steps:\n              - step:\n                  type: Background\n                  name: web\n                  identifier: web\n                  spec:\n                    image: nginx:1\n                    portBindings:\n                      {binding}\n"
    )
}

#[test]
fn port_binding_key_expression_is_resolved() {
    let source = service_with_port("18123", "\"<+pipeline.variables.port>\": \"80\"");
    let resolution = resolve(&source, &[], &[], json!({}));
    let step = &resolution.stages[0].steps[0];

    assert!(
        codes(&resolution).is_empty(),
        "{:?}",
        resolution.diagnostics
    );
    assert_eq!(step.port_bindings(), [(18123, 80)]);
}

#[test]
fn resolved_invalid_ports_are_reported() {
    for (port, binding, role) in [
        ("0", "\"<+pipeline.variables.port>\": \"80\"", "host"),
        (
            "abc",
            "\"8080\": \"<+pipeline.variables.port>\"",
            "container",
        ),
    ] {
        let source = service_with_port(port, binding);
        let resolution = resolve(&source, &[], &[], json!({}));
        let errors = error_messages(&resolution.diagnostics);
        let expected = format!("{role} port resolved to `{port}`, which is not a port");

        assert_eq!(codes(&resolution), ["invalid-port"], "{binding}");
        assert_eq!(errors, [expected], "{binding}");
        let line = resolution.diagnostics[0].span.line;
        assert_eq!(line, 29, "{binding}");
    }
}

#[test]
fn service_loop_from_expression_is_duplicate() {
    let source = looped_service("repeat:\n        times: <+1 + 1>");
    let resolution = resolve(&source, TAG, &[], json!({}));
    let errors = error_messages(&resolution.diagnostics);

    assert_eq!(codes(&resolution), ["duplicate-host-port"]);
    assert_eq!(
        errors,
        ["host port `5432` is bound by both `db_0` and `db_1` in this stage"]
    );
}

#[test]
fn resolved_host_port_duplicates_written_one() {
    let source = service_with_port(
        "8080",
        "\"<+pipeline.variables.port>\": \"80\"\n                      \"8080\": \"81\"",
    );
    let resolution = resolve(&source, &[], &[], json!({}));
    let errors = error_messages(&resolution.diagnostics);

    assert_eq!(codes(&resolution), ["duplicate-host-port"]);
    assert_eq!(errors, ["host port `8080` is bound twice by step `web`"]);
}

/// Returns a pipeline with the given pipeline and stage `timeout` lines
/// (empty for none), two stages `a` and `b` and a pipeline variable `limit`.
fn timed_pipeline(pipeline_timeout: &str, stage_timeout: &str) -> String {
    let first = timed_stage("a", stage_timeout);
    let second = timed_stage("b", "");
    format!(
        "pipeline:
  name: p
  identifier: p
  {pipeline_timeout}
  variables:
    - name: limit
      type: String
      value: 90s
  stages:
{first}{second}"
    )
}

/// Returns a Docker stage `identifier` whose one step, `run_IDENTIFIER`,
/// sets the output variable `T`.
fn timed_stage(identifier: &str, timeout: &str) -> String {
    format!(
        "    - stage:
        name: {identifier}
        identifier: {identifier}
        type: CI
        {timeout}
        spec:
          platform: {{os: Linux, arch: Amd64}}
          runtime: {{type: Docker, spec: {{}}}}
          execution:
            steps:
              - step:
                  type: Run
                  name: run_{identifier}
                  identifier: run_{identifier}
                  spec:
                    image: alpine
                    command: echo 1
                    outputVariables:
                      - name: T
"
    )
}

#[test]
fn stage_and_pipeline_timeouts_resolve() {
    let source = timed_pipeline("timeout: 1h 30m", "timeout: 10m");
    let resolution = resolve(&source, &[], &[], json!({}));

    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
    assert_eq!(resolution.timeout_seconds, Some(5400));
    assert_eq!(resolution.stages[0].timeout_seconds, Some(600));
    assert_eq!(resolution.stages[1].timeout_seconds, None);
    let json = resolution.to_json();
    assert_eq!(json["timeoutSeconds"], 5400);
    assert_eq!(json["stages"][0]["timeoutSeconds"], 600);
    assert_eq!(json["stages"][1]["timeoutSeconds"], serde_json::Value::Null);
}

#[test]
fn stage_timeout_without_value_is_none() {
    let source = timed_pipeline("", "");
    let resolution = resolve(&source, &[], &[], json!({}));

    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
    assert_eq!(resolution.timeout_seconds, None);
    assert_eq!(resolution.stages[0].timeout_seconds, None);
}

#[test]
fn stage_timeout_from_input_and_expression() {
    let source = timed_pipeline("timeout: <+pipeline.variables.limit>", "timeout: <+input>");
    let inputs = [("pipeline.stages.a.timeout", "2m")];
    let resolution = resolve(&source, &inputs, &[], json!({}));

    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
    assert_eq!(resolution.timeout_seconds, Some(90));
    assert_eq!(resolution.stages[0].timeout_seconds, Some(120));
}

#[test]
fn written_stage_timeout_invalid() {
    let source = timed_pipeline("timeout: 5", "timeout: 10 minutes");
    let resolution = resolve(&source, &[], &[], json!({}));
    let errors: Vec<_> = resolution
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();

    assert_eq!(errors.len(), 2, "{:#?}", resolution.diagnostics);
    assert_eq!(errors[0].code, "invalid-timeout");
    assert_eq!(
        errors[0].message,
        "invalid timeout `5`: `5` has no unit (use s, m, h, d or w)"
    );
    assert_eq!(errors[0].file.as_deref(), Some("p.yaml"));
    assert_eq!((errors[0].span.line, errors[0].span.column), (4, 12));
    assert_eq!(errors[1].code, "invalid-timeout");
    assert_eq!(
        errors[1].message,
        "invalid timeout `10 minutes`: `10` has no unit (use s, m, h, d or w)"
    );
    assert_eq!((errors[1].span.line, errors[1].span.column), (14, 18));
    let help = errors[1].help.as_deref().unwrap_or_default();
    assert!(help.contains("`10m`"), "{help}");
    assert_eq!(resolution.timeout_seconds, None);
    assert_eq!(resolution.stages[0].timeout_seconds, None);
}

#[test]
fn supplied_stage_timeout_invalid() {
    let source = timed_pipeline("timeout: <+input>", "timeout: <+input>");
    let inputs = [
        ("pipeline.timeout", "1.5h"),
        ("pipeline.stages.a.timeout", "0s"),
    ];
    let resolution = resolve(&source, &inputs, &[], json!({}));

    assert_eq!(
        error_messages(&resolution.diagnostics),
        [
            "timeout resolved to `1.5h`: fractions such as `1.5h` are not allowed, so write `1h30m` instead (from `--input pipeline.timeout=1.5h`)",
            "timeout resolved to `0s`: the duration must be greater than 0 (from `--input pipeline.stages.a.timeout=0s`)",
        ]
    );
    let lines: Vec<usize> = resolution.diagnostics.iter().map(|d| d.span.line).collect();
    assert_eq!(lines, [4, 14]);
    assert_eq!(resolution.timeout_seconds, None);
    assert_eq!(resolution.stages[0].timeout_seconds, None);
}

#[test]
fn stage_timeout_reading_step_output_warns() {
    let stage_timeout =
        "timeout: <+pipeline.stages.a.spec.execution.steps.run_a.output.outputVariables.T.trim()>";
    let source = timed_pipeline("", stage_timeout);
    let resolution = resolve(&source, &[], &[], json!({}));

    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
    assert_eq!(resolution.stages[0].timeout_seconds, None);
    assert_eq!(
        messages_with_code(&resolution, "unresolved-timeout"),
        [
            "the stage `timeout` reads a step output or status, which has no value before the run starts, so basso runs without this timeout"
        ]
    );
}

/// Returns a pipeline with the runtime-input variable `env`, a step
/// `build` that outputs `CHANGED`, and a step `deploy` with `condition`.
fn kept_condition_source(condition: &str) -> String {
    let quoted = condition.replace('\'', "''");
    format!(
        "pipeline:
  name: p
  identifier: p
  variables:
    - name: env
      type: String
      value: <+input>
  stages:
    - stage:
        name: s
        identifier: s
        type: CI
        spec:
          cloneCodebase: false
          platform: {{os: Linux, arch: Amd64}}
          runtime: {{type: Cloud, spec: {{}}}}
          execution:
            steps:
              - step:
                  type: Run
                  name: build
                  identifier: build
                  spec:
                    shell: Sh
                    command: export CHANGED=yes
                    outputVariables:
                      - name: CHANGED
              - step:
                  type: Run
                  name: deploy
                  identifier: deploy
                  when:
                    stageStatus: Success
                    condition: '{quoted}'
                  spec:
                    shell: Sh
                    command: echo deploy
"
    )
}

/// Resolves `condition` with `env` and returns the text it keeps for the
/// runner.
fn kept_condition(condition: &str, env: &str) -> String {
    let resolution = resolve(
        &kept_condition_source(condition),
        &[("pipeline.variables.env", env)],
        &[],
        json!({}),
    );
    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
    let deploy = &resolution.stages[0].steps[1];
    deploy
        .when
        .as_ref()
        .and_then(|when| when.condition.clone())
        .expect("deploy keeps a condition")
}

/// Evaluates `text` as the runner evaluates a condition.
fn evaluate_condition(text: &str, context: serde_json::Value) -> Result<serde_json::Value, String> {
    let options = basso_core::Options {
        mode: basso_core::EvalMode::Evaluate,
        ..basso_core::Options::default()
    };
    basso_core::evaluate(text, &basso_core::Value::from_json(context), &options)
        .map(|value| value.to_json())
        .map_err(|error| error.message)
}

#[test]
fn kept_condition_quotes_resolved_string() {
    let kept = kept_condition(
        "<+pipeline.variables.env> == \"prod\" && <+steps.build.output.outputVariables.CHANGED> == \"yes\"",
        "prod",
    );

    assert_eq!(
        kept,
        "\"prod\" == \"prod\" && <+steps.build.output.outputVariables.CHANGED> == \"yes\""
    );
}

#[test]
fn kept_condition_keeps_bare_name() {
    let kept = kept_condition(
        "<+pipeline.variables.env> == prod && <+steps.build.output.outputVariables.CHANGED> == \"yes\"",
        "dev",
    );

    assert_eq!(
        kept,
        "\"dev\" == prod && <+steps.build.output.outputVariables.CHANGED> == \"yes\""
    );
}

/// A condition kept for the runner and evaluated there with the step
/// output gives what evaluating the written condition with every value
/// gives.
#[test]
fn kept_condition_evaluates_as_written() {
    let output = "<+steps.build.output.outputVariables.CHANGED>";
    let conditions = [
        format!("<+pipeline.variables.env> == \"prod\" && {output} == \"yes\""),
        format!("<+pipeline.variables.env> == prod && {output} == \"yes\""),
        format!("\"<+pipeline.variables.env>-x\" == \"prod-x\" && {output} == \"yes\""),
        format!("<+pipeline.variables.env>-x == \"prod-x\" || {output} == \"no\""),
        format!("<+<+pipeline.variables.env> == \"prod\" && {output} == \"yes\">"),
        format!("<+pipeline.variables.env>.startsWith(\"pr\") && {output} == \"yes\""),
        format!("<+pipeline.variables.env.split(\"o\")>[0] == \"pr\" && {output} == \"yes\""),
        format!("<+pipeline.variables.env.length()> > 3 && {output} == \"yes\""),
        format!("<+<+pipeline.variables.env>.length() - 5> < 0 and {output} != \"no\""),
        format!("{output} == <+pipeline.variables.env>"),
    ];
    let envs = ["prod", "dev", "yes", "we\"ird>\\x", "0"];
    let outputs = ["yes", "no"];

    for condition in &conditions {
        for env in envs {
            let kept = kept_condition(condition, env);
            assert!(
                kept.contains(output),
                "`{condition}` with env `{env}` kept `{kept}`"
            );
            for changed in outputs {
                let step = json!({"build": {"output": {"outputVariables": {"CHANGED": changed}}}});
                let run_state = json!({"steps": step});
                let everything = json!({"steps": step, "pipeline": {"variables": {"env": env}}});

                let at_run_time = evaluate_condition(&kept, run_state);
                let written = evaluate_condition(condition, everything);

                assert_eq!(
                    at_run_time, written,
                    "`{condition}` with env `{env}`, CHANGED `{changed}`: kept `{kept}`"
                );
            }
        }
    }
}

#[test]
fn kept_condition_quotes_in_stage_and_group() {
    let source = "pipeline:
  name: p
  identifier: p
  variables:
    - name: env
      type: String
      value: prod
  stages:
    - stage:
        name: one
        identifier: one
        type: CI
        spec:
          cloneCodebase: false
          platform: {os: Linux, arch: Amd64}
          runtime: {type: Cloud, spec: {}}
          execution:
            steps:
              - step:
                  type: Run
                  name: build
                  identifier: build
                  spec: {shell: Sh, command: export CHANGED=yes, outputVariables: [{name: CHANGED}]}
              - stepGroup:
                  name: g
                  identifier: g
                  when:
                    stageStatus: Success
                    condition: <+pipeline.variables.env> == \"prod\" && <+steps.build.output.outputVariables.CHANGED> == \"yes\"
                  steps:
                    - step: {type: Run, name: a, identifier: a, spec: {shell: Sh, command: echo a}}
    - stage:
        name: two
        identifier: two
        type: CI
        when:
          pipelineStatus: Success
          condition: <+pipeline.variables.env> == \"prod\" && <+pipeline.stages.one.spec.execution.steps.build.output.outputVariables.CHANGED> == \"yes\"
        spec:
          cloneCodebase: false
          platform: {os: Linux, arch: Amd64}
          runtime: {type: Cloud, spec: {}}
          execution:
            steps:
              - step: {type: Run, name: b, identifier: b, spec: {shell: Sh, command: echo b}}
";
    let resolution = resolve(source, &[], &[], json!({}));

    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
    assert_eq!(
        group_whens(&resolution)[1],
        [
            "g:Success:\"prod\" == \"prod\" && <+steps.build.output.outputVariables.CHANGED> == \"yes\""
        ]
    );
    let stage_when = resolution.stages[1]
        .when
        .as_ref()
        .expect("stage `two` has a when");
    assert_eq!(
        stage_when.condition.as_deref(),
        Some(
            "\"prod\" == \"prod\" && <+pipeline.stages.one.spec.execution.steps.build.output.outputVariables.CHANGED> == \"yes\""
        )
    );
}

#[test]
fn condition_with_only_bare_name_evaluated() {
    // `prod` is an undefined name, which JEXL reads as null.
    let condition = kept_condition("<+pipeline.variables.env> == prod", "dev");

    assert_eq!(condition, "false");
}

/// Returns the errors of `resolution` as `code: message @ line:column`.
fn located_errors(resolution: &Resolution) -> Vec<String> {
    resolution
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| {
            format!(
                "{}: {} @ {}:{}",
                d.code, d.message, d.span.line, d.span.column
            )
        })
        .collect()
}

#[test]
fn empty_repeat_items_rejected() {
    let written = one_step("strategy: {repeat: {items: []}}", "command: echo a");
    let checked = pipeline::check(&written, "p.yaml");
    let check_errors: Vec<String> = checked
        .iter()
        .filter(|d| d.is_error())
        .map(|d| {
            format!(
                "{}: {} @ {}:{}",
                d.code, d.message, d.span.line, d.span.column
            )
        })
        .collect();
    assert_eq!(
        check_errors,
        ["invalid-strategy: `repeat.items` has no values @ 26:46"]
    );
    let resolved = resolve(
        &written,
        &[("pipeline.variables.tag", "1.0")],
        &[],
        json!({}),
    );
    assert_eq!(
        located_errors(&resolved),
        ["invalid-strategy: `repeat.items` has no values @ 26:46"]
    );
}

#[test]
fn empty_repeat_items_input_rejected() {
    let items = one_step("strategy: {repeat: {items: <+input>}}", "command: echo a");
    let (resolution, _) = with_step_input(&items, "strategy.repeat.items", "[]");
    assert_eq!(
        located_errors(&resolution),
        ["invalid-strategy: `repeat.items` has no values @ 26:46"]
    );

    let whole = one_step("strategy: <+input>", "command: echo a");
    let (resolution, path) = with_step_input(&whole, "strategy", r#"{"repeat": {"items": []}}"#);
    assert_eq!(
        located_errors(&resolution),
        [format!(
            r#"invalid-strategy: `repeat.items` has no values (in the value from `--input {path}={{"repeat": {{"items": []}}}}`) @ 26:29"#
        )]
    );
}

#[test]
fn supplied_env_variables_text_rejected() {
    let source = one_step("timeout: 10m", "command: echo $A\nenvVariables: <+input>");
    let (text, path) = with_step_input(&source, "spec.envVariables", "A=1");
    assert_eq!(
        error_messages(&text.diagnostics),
        [format!(
            "invalid value for `{path}`: `A=1` is not a mapping such as `{{a: b}}`"
        )]
    );

    let (mapping, _) = with_step_input(&source, "spec.envVariables", "{A: '1'}");
    assert!(!mapping.has_errors(), "{:#?}", mapping.diagnostics);
    assert_eq!(
        mapping.stages[0].steps[0].spec["envVariables"],
        json!({"A": "1"})
    );

    // An expression may give a mapping when it resolves.
    let (expression, _) =
        with_step_input(&source, "spec.envVariables", "<+pipeline.variables.tag>");
    assert!(
        !codes(&expression).contains(&"invalid-input"),
        "{:#?}",
        expression.diagnostics
    );
}

#[test]
fn input_set_env_variables_text_rejected() {
    let source = one_step("timeout: 10m", "command: echo $A\nenvVariables: <+input>");
    let input_set = "inputSet:
  name: i
  identifier: i
  pipeline:
    identifier: p
    variables:
      - name: tag
        type: String
        value: \"1.0\"
    stages:
      - stage:
          identifier: s
          spec:
            execution:
              steps:
                - step:
                    identifier: a
                    spec:
                      envVariables: \"A=1\"
";
    let resolution = resolve(&source, &[], &[("i.yaml", input_set)], json!({}));

    let errors = error_messages(&resolution.diagnostics);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("`A=1` is not a mapping"), "{errors:?}");
}

/// Returns the `invalid-input` errors of `resolution` as (file, line,
/// message).
fn invalid_inputs(resolution: &Resolution) -> Vec<(Option<&str>, usize, &str)> {
    resolution
        .diagnostics
        .iter()
        .filter(|d| d.code == "invalid-input")
        .inspect(|d| assert!(d.is_error(), "{d:?}"))
        .map(|d| (d.file.as_deref(), d.span.line, d.message.as_str()))
        .collect()
}

const TEXT_MAPS_STEP: &str = "pipeline.stages.s.spec.execution.steps.a.spec";

/// Returns a pipeline whose Background step `a` takes `envVariables` and
/// `portBindings` as runtime inputs.
fn service_with_map_inputs() -> String {
    pipeline_with(
        "- step:\n    type: Background\n    name: a\n    identifier: a\n    spec:\n      command: sleep 5\n      envVariables: <+input>\n      portBindings: <+input>",
        "platform:\n  os: Linux\n  arch: Amd64\nruntime:\n  type: Cloud\n  spec: {}",
    )
}

#[test]
fn nested_map_input_rejected_from_arguments() {
    let source = service_with_map_inputs();
    let env = format!("{TEXT_MAPS_STEP}.envVariables");
    let ports = format!("{TEXT_MAPS_STEP}.portBindings");
    let cases = [
        (
            env.as_str(),
            "{A: {b: 1}}",
            "`A` is a map, but `envVariables` values must be text",
        ),
        (
            env.as_str(),
            "{A: x, B: [1]}",
            "`B` is a list, but `envVariables` values must be text",
        ),
        (
            env.as_str(),
            "[A, B]",
            "`[A, B]` is not a mapping such as `{a: b}`",
        ),
        (
            ports.as_str(),
            "{'8080': [80]}",
            "`8080` is a list, but `portBindings` values must be text",
        ),
    ];
    for (path, value, reason) in cases {
        let arguments = [("pipeline.variables.tag", "1.0"), (path, value)];
        let resolution = resolve(&source, &arguments, &[], json!({}));
        let message = format!("invalid value for `{path}`: {reason}");

        assert_eq!(
            invalid_inputs(&resolution),
            [(Some("--input#2"), 1, message.as_str())],
            "{value}: {:#?}",
            resolution.diagnostics
        );
        let diagnostic = resolution
            .diagnostics
            .iter()
            .find(|d| d.code == "invalid-input")
            .unwrap();
        assert_eq!(diagnostic.span.column, path.len() + 2, "{value}");
        assert!(diagnostic.help.is_some(), "{value}");
        let field = path.rsplit('.').next().unwrap();
        assert!(
            resolution.stages[0].steps[0].spec[field].is_null(),
            "{value}: {}",
            resolution.stages[0].steps[0].spec
        );
    }
}

#[test]
fn nested_map_input_rejected_from_input_set() {
    let source = service_with_map_inputs().replace(
        "portBindings: <+input>",
        "portBindings:\n                      \"8080\": <+input>",
    );
    let set = "inputSet:
  name: k
  identifier: k
  pipeline:
    identifier: p
    stages:
      - stage:
          identifier: s
          spec:
            execution:
              steps:
                - step:
                    identifier: a
                    spec:
                      envVariables:
                        A: text
                        B:
                          c: 1
                      portBindings:
                        \"8080\": [80]
";
    let resolution = resolve(
        &source,
        &[("pipeline.variables.tag", "1.0")],
        &[("set.yaml", set)],
        json!({}),
    );

    let env = format!(
        "invalid value for `{TEXT_MAPS_STEP}.envVariables`: `B` is a map, but `envVariables` values must be text"
    );
    let port = format!(
        "invalid value for `{TEXT_MAPS_STEP}.portBindings.8080`: `8080` is a list, but `portBindings` values must be text"
    );
    assert_eq!(
        invalid_inputs(&resolution),
        [
            (Some("set.yaml"), 18, env.as_str()),
            (Some("set.yaml"), 20, port.as_str()),
        ],
        "{:#?}",
        resolution.diagnostics
    );
    let spec = &resolution.stages[0].steps[0].spec;
    assert!(spec["envVariables"].is_null(), "{spec}");
    assert!(spec["portBindings"]["8080"].is_null(), "{spec}");

    let list_set = set.replace(
        "                        A: text\n                        B:\n                          c: 1\n",
        "                        - A=text\n",
    );
    let listed = resolve(
        &source,
        &[("pipeline.variables.tag", "1.0")],
        &[("list.yaml", &list_set)],
        json!({}),
    );
    let env = format!(
        "invalid value for `{TEXT_MAPS_STEP}.envVariables`: `envVariables` takes a map, found a list"
    );
    assert_eq!(
        invalid_inputs(&listed)[0],
        (Some("list.yaml"), 16, env.as_str()),
        "{list_set}\n{:#?}",
        listed.diagnostics
    );
}

/// Returns the file, line and message of each `invalid-env-name` error.
fn invalid_env_names(resolution: &Resolution) -> Vec<(Option<&str>, usize, &str)> {
    resolution
        .diagnostics
        .iter()
        .filter(|d| d.code == "invalid-env-name")
        .inspect(|d| assert!(d.is_error(), "{d:?}"))
        .map(|d| (d.file.as_deref(), d.span.line, d.message.as_str()))
        .collect()
}

#[test]
fn env_name_input_rejected_from_arguments() {
    let source = service_with_map_inputs();
    let env = format!("{TEXT_MAPS_STEP}.envVariables");
    let cases = [
        ("{'A=B': x}", "A=B"),
        ("{'': x}", ""),
        ("{'A B': x, C: y}", "A B"),
        ("{C: y, \"A\\tB\": x}", "A\tB"),
    ];
    for (value, key) in cases {
        let arguments = [("pipeline.variables.tag", "1.0"), (env.as_str(), value)];
        let resolution = resolve(&source, &arguments, &[], json!({}));
        let message =
            format!("invalid value for `{env}`: invalid environment variable name `{key}`");

        assert_eq!(
            invalid_env_names(&resolution),
            [(Some("--input#2"), 1, message.as_str())],
            "{value}: {:#?}",
            resolution.diagnostics
        );
        let spec = &resolution.stages[0].steps[0].spec;
        assert!(spec["envVariables"].is_null(), "{value}: {spec}");
    }
}

#[test]
fn env_name_input_rejected_from_input_set() {
    let source = service_with_map_inputs();
    let set = "inputSet:
  name: k
  identifier: k
  pipeline:
    identifier: p
    stages:
      - stage:
          identifier: s
          spec:
            execution:
              steps:
                - step:
                    identifier: a
                    spec:
                      envVariables:
                        A: text
                        \"PATH=/nonexistent\": x
";
    let resolution = resolve(
        &source,
        &[("pipeline.variables.tag", "1.0")],
        &[("set.yaml", set)],
        json!({}),
    );

    let message = format!(
        "invalid value for `{TEXT_MAPS_STEP}.envVariables`: invalid environment variable name `PATH=/nonexistent`"
    );
    assert_eq!(
        invalid_env_names(&resolution),
        [(Some("set.yaml"), 17, message.as_str())],
        "{:#?}",
        resolution.diagnostics
    );
    let spec = &resolution.stages[0].steps[0].spec;
    assert!(spec["envVariables"].is_null(), "{spec}");
}

#[test]
fn flat_map_input_accepted() {
    let source = service_with_map_inputs();
    let env = format!("{TEXT_MAPS_STEP}.envVariables");
    let ports = format!("{TEXT_MAPS_STEP}.portBindings");
    let arguments = [
        ("pipeline.variables.tag", "1.0"),
        (env.as_str(), "{A: '[1]', B: 2}"),
        (ports.as_str(), "{'8080': '80'}"),
    ];
    let resolution = resolve(&source, &arguments, &[], json!({}));

    assert!(
        invalid_inputs(&resolution).is_empty(),
        "{:#?}",
        resolution.diagnostics
    );
    let spec = &resolution.stages[0].steps[0].spec;
    assert_eq!(spec["envVariables"]["A"], "[1]");
    assert_eq!(spec["envVariables"]["B"], 2);
    assert_eq!(spec["portBindings"]["8080"], "80");
}

#[test]
fn supplied_map_entries_evaluated() {
    let source = one_step("", "command: echo $C\nenvVariables: <+input>");
    let path = "pipeline.stages.s.spec.execution.steps.a.spec.envVariables";
    let value =
        "{C: <+pipeline.name>, T: '<+pipeline.variables.tag>-x', privileged: '<+\"yes\">', N: 3}";
    let arguments = [("pipeline.variables.tag", "1.0"), (path, value)];
    let from_argument = resolve(&source, &arguments, &[], json!({}));
    assert!(
        !from_argument.has_errors(),
        "{:#?}",
        from_argument.diagnostics
    );
    assert_eq!(
        from_argument.stages[0].steps[0].spec["envVariables"],
        json!({"C": "p", "T": "1.0-x", "privileged": "yes", "N": 3})
    );

    let input_set = "inputSet:
  name: i
  identifier: i
  pipeline:
    identifier: p
    variables:
      - name: tag
        type: String
        value: \"2.0\"
    stages:
      - stage:
          identifier: s
          spec:
            execution:
              steps:
                - step:
                    identifier: a
                    spec:
                      envVariables:
                        T: <+pipeline.variables.tag>-y
";
    let from_set = resolve(&source, &[], &[("i.yaml", input_set)], json!({}));
    assert!(!from_set.has_errors(), "{:#?}", from_set.diagnostics);
    assert_eq!(
        from_set.stages[0].steps[0].spec["envVariables"],
        json!({"T": "2.0-y"})
    );
}

#[test]
fn supplied_list_entries_evaluated() {
    let source = pipeline_with(
        "- step:\n    type: Background\n    name: a\n    identifier: a\n    spec:\n      command: sleep 5\n      entrypoint: <+input>",
        "platform:\n  os: Linux\n  arch: Amd64\nruntime:\n  type: Cloud\n  spec: {}",
    );
    let path = format!("{TEXT_MAPS_STEP}.entrypoint");
    let value = r#"[sh, '-c', 'echo <+pipeline.name> <+secrets.getValue("tok")>', 3]"#;
    let arguments = [("pipeline.variables.tag", "1.0"), (path.as_str(), value)];
    let resolution = resolve(&source, &arguments, &[], json!({}));

    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
    let step = &resolution.stages[0].steps[0];
    assert_eq!(
        step.spec["entrypoint"],
        json!(["sh", "-c", "echo p <+secrets.getValue(\"tok\")>", 3])
    );
    assert_eq!(step.secrets, ["tok"]);
}

/// A secret named in a supplied `envVariables` map is requested for the
/// step, as one named in a supplied entry is.
#[test]
fn supplied_map_secret_requested() {
    let source = one_step("", "command: echo $ONE\nenvVariables:\n  ONE: <+input>");
    let entry = format!("{TEXT_MAPS_STEP}.envVariables.ONE");
    let from_entry = resolve(
        &source,
        &[
            ("pipeline.variables.tag", "1.0"),
            (entry.as_str(), r#"<+secrets.getValue("tok")>"#),
        ],
        &[],
        json!({}),
    );
    assert!(!from_entry.has_errors(), "{:#?}", from_entry.diagnostics);
    assert_eq!(from_entry.stages[0].steps[0].secrets, ["tok"]);

    let source = one_step("", "command: echo $ONE\nenvVariables: <+input>");
    let map = format!("{TEXT_MAPS_STEP}.envVariables");
    let from_map = resolve(
        &source,
        &[
            ("pipeline.variables.tag", "1.0"),
            (map.as_str(), r#"{ONE: '<+secrets.getValue("tok")>'}"#),
        ],
        &[],
        json!({}),
    );
    assert!(!from_map.has_errors(), "{:#?}", from_map.diagnostics);
    assert_eq!(from_map.stages[0].steps[0].secrets, ["tok"]);
    assert_eq!(
        from_map.stages[0].steps[0].spec["envVariables"],
        from_entry.stages[0].steps[0].spec["envVariables"]
    );
}

/// Environment variables named like typed fields (`retry`, `privileged`,
/// `paths`) stay text, from an expression as from a runtime input.
#[test]
fn env_names_like_typed_fields_stay_text() {
    let source = one_step(
        "",
        "command: echo $retry\nenvVariables:\n  retry: <+pipeline.variables.tag>-x\n  privileged: <+\"yes\">\n  paths: <+input>",
    );
    let path = "pipeline.stages.s.spec.execution.steps.a.spec.envVariables.paths";
    let resolution = resolve(
        &source,
        &[("pipeline.variables.tag", "1.0"), (path, "a,b")],
        &[],
        json!({}),
    );
    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
    assert_eq!(
        resolution.stages[0].steps[0].spec["envVariables"],
        json!({"retry": "1.0-x", "privileged": "yes", "paths": "a,b"})
    );
}

/// `check` and `resolve` agree on `exportedVariables`, which basso cannot
/// fill: both report it, so a green `check` never meets a failing `run`.
#[test]
fn exported_variables_rejected_by_check() {
    let source = pipeline_with(
        "- step:\n    type: Run\n    name: a\n    identifier: a\n    spec:\n      image: alpine\n      command: export U=1\n      outputVariables:\n        - name: U\n      outputAlias:\n        key: al\n        scope: Pipeline\n- step:\n    type: Run\n    name: b\n    identifier: b\n    spec:\n      image: alpine\n      command: echo <+exportedVariables.getValue(\"pipeline.al.U\")>",
        DOCKER,
    );

    let checked = pipeline::check(&source, "p.yaml");
    let unsupported: Vec<_> = checked
        .iter()
        .filter(|d| d.code == "unsupported-expression")
        .collect();
    assert_eq!(unsupported.len(), 1, "{checked:#?}");
    assert!(unsupported[0].is_error());
    assert!(
        unsupported[0].message.contains("`exportedVariables`"),
        "{}",
        unsupported[0].message
    );
    assert!(unsupported[0].message.contains("outputAlias"));
    let line = source
        .lines()
        .position(|l| l.contains("<+exportedVariables"))
        .unwrap()
        + 1;
    assert_eq!(unsupported[0].span.line, line, "{:?}", unsupported[0].span);

    let resolution = resolve(
        &source,
        &[("pipeline.variables.tag", "1.0")],
        &[],
        json!({}),
    );
    assert!(resolution.has_errors(), "{:#?}", resolution.diagnostics);
}

/// Returns a pipeline whose variable `x` and stage variable `y` are
/// templates, and whose step command is `command`.
fn map_read_pipeline(x: &str, command: &str) -> String {
    format!(
        "pipeline:
  name: p
  identifier: p
  variables:
    - name: x
      type: String
      value: {x}
    - name: loop
      type: String
      value: <+<+pipeline.variables>.loop>
  stages:
    - stage:
        name: s
        identifier: s
        type: CI
        variables:
          - name: y
            type: String
            value: <+pipeline.name>-stage
        spec:
          cloneCodebase: false
          platform: {{os: Linux, arch: Amd64}}
          runtime: {{type: Cloud, spec: {{}}}}
          execution:
            steps:
              - step:
                  type: Run
                  name: a
                  identifier: a
                  spec:
                    shell: Sh
                    command: '{command}'
"
    )
}

#[test]
fn variables_map_entries_resolve_like_paths() {
    let cases = [
        ("<+pipeline.variables.x>", "p-suffix"),
        ("<+<+pipeline.variables>.x>", "p-suffix"),
        ("<+<+pipeline.variables>[\"x\"]>", "p-suffix"),
        ("<+<+pipeline.variables>.get(\"x\")>", "p-suffix"),
        ("<+<+pipeline.variables>.x.length()>", "8"),
        ("<+<+pipeline>.variables.x>", "p-suffix"),
        ("<+<+stage.variables>.y>", "p-stage"),
        ("<+<+stage.variables>[\"y\"]>", "p-stage"),
        ("<+<+stage.variables>.get(\"y\")>", "p-stage"),
        ("<+<+pipeline.stages.s.variables>.y>", "p-stage"),
    ];
    for (command, expected) in cases {
        let source = map_read_pipeline("<+pipeline.name>-suffix", command);
        let resolution = resolve(&source, &[], &[], json!({}));
        assert_eq!(
            error_messages(&resolution.diagnostics),
            Vec::<String>::new(),
            "{command}"
        );
        assert_eq!(
            resolution.stages[0].steps[0].spec["command"], expected,
            "{command}"
        );
    }
}

#[test]
fn variables_map_entry_cycle_is_an_error() {
    let source = map_read_pipeline("x", "<+<+pipeline.variables>.loop>");
    let resolution = resolve(&source, &[], &[], json!({}));
    let cycles = messages_with_code(&resolution, "expression-cycle");
    assert_eq!(cycles.len(), 1, "{:?}", resolution.diagnostics);
    assert!(
        cycles[0].contains("`pipeline.variables.loop`"),
        "{}",
        cycles[0]
    );
}

/// A `--context` value for a declared variable, or for the pipeline's name,
/// replaces the file's value, and each such key gets a warning at the
/// file's declaration.
#[test]
fn context_override_of_file_values_warned() {
    let source = one_step("", "command: echo <+pipeline.variables.tag>");
    let context =
        json!({"pipeline": {"variables": {"tag": "2.0", "other": "x"}, "name": "renamed"}});
    let resolution = resolve(&source, &[("pipeline.variables.tag", "1.0")], &[], context);

    let warnings: Vec<(usize, &str)> = resolution
        .diagnostics
        .iter()
        .filter(|d| d.code == "context-overrides-file")
        .map(|d| (d.span.line, d.message.as_str()))
        .collect();
    assert_eq!(
        warnings,
        [
            (
                2,
                "the `--context` file sets `pipeline.name`, which the pipeline file sets; the context's value is used"
            ),
            (
                5,
                "the `--context` file sets `pipeline.variables.tag`, which the pipeline file declares; the context's value replaces the file's value and any supplied input"
            ),
        ],
        "{:#?}",
        resolution.diagnostics
    );
    assert_eq!(resolution.stages[0].steps[0].spec["command"], "echo 2.0");

    let plain = resolve(
        &source,
        &[("pipeline.variables.tag", "1.0")],
        &[],
        json!({"trigger": {}}),
    );
    assert!(
        !codes(&plain).contains(&"context-overrides-file"),
        "{:#?}",
        plain.diagnostics
    );
}

/// A `--context` value for a declared stage variable replaces the file's
/// value and gets a warning at the declaration. Context keys for the stage,
/// step or loop being resolved are never read, and get a warning too.
#[test]
fn context_stage_variable_and_unused_keys_warned() {
    let source = one_step("", "command: echo <+stage.variables.tag>").replace(
        "        type: CI\n",
        "        type: CI\n        variables:\n          - name: tag\n            type: String\n            value: \"1.0\"\n",
    );
    let context = json!({
        "pipeline": {"stages": {"s": {"variables": {"tag": "2.0"}}}},
        "stage": {"variables": {"tag": "3.0"}},
        "matrix": {"x": "y"},
    });
    let resolution = resolve(&source, &[("pipeline.variables.tag", "1.0")], &[], context);

    let overrides = messages_with_code(&resolution, "context-overrides-file");
    assert_eq!(overrides.len(), 1, "{:#?}", resolution.diagnostics);
    assert!(
        overrides[0].contains("`pipeline.stages.s.variables.tag`"),
        "{}",
        overrides[0]
    );
    let unused = messages_with_code(&resolution, "context-key-unused");
    assert_eq!(unused.len(), 2, "{:#?}", resolution.diagnostics);
    assert!(unused[0].contains("sets `stage`"), "{}", unused[0]);
    assert!(unused[1].contains("sets `matrix`"), "{}", unused[1]);
    assert_eq!(resolution.stages[0].steps[0].spec["command"], "echo 2.0");
}

#[test]
fn context_project_variables_read_without_warning() {
    let source = one_step("", "command: echo <+variable.region>");
    let context = json!({"variable": {"region": "eu"}});
    let resolution = resolve(&source, &[("pipeline.variables.tag", "1.0")], &[], context);

    let unused = messages_with_code(&resolution, "context-key-unused");
    assert!(unused.is_empty(), "{unused:#?}");
    assert_eq!(resolution.stages[0].steps[0].spec["command"], "echo eu");
}

/// A matrix over trigger values expands with a context that gives them.
/// Without one, `resolve` reports the loop but `check` does not, because
/// the values exist only at run time.
#[test]
fn matrix_over_trigger_values_checks_clean() {
    let source = one_step(
        "strategy:\n      matrix:\n        k: <+trigger.payload.ids>",
        "command: echo <+matrix.k>",
    )
    .replace("value: <+input>.allowedValues(1.0,2.0)", "value: \"1.0\"");
    let arguments = [];
    let context = json!({"trigger": {"payload": {"ids": ["x", "y"]}}});
    let resolution = resolve(&source, &arguments, &[], context);
    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
    let commands: Vec<&serde_json::Value> = resolution.stages[0]
        .steps
        .iter()
        .map(|step| &step.spec["command"])
        .collect();
    assert_eq!(commands, ["echo x", "echo y"]);

    let without_context = resolve(&source, &arguments, &[], json!({}));
    assert!(codes(&without_context).contains(&"invalid-strategy"));
    let checked = pipeline::check(&source, "p.yaml");
    assert!(!checked.iter().any(|d| d.is_error()), "{checked:#?}");
}

/// Returns a pipeline whose stage `s`, step group `g` and steps `r` and
/// `q` (in `g`) each have a `when` with `condition` written as `condition`,
/// and whose step `r` has `stageStatus` written as `status`.
fn when_pipeline(condition: &str, status: &str) -> String {
    format!(
        "pipeline:
  name: p
  identifier: p
  stages:
    - stage:
        name: s
        identifier: s
        type: CI
        when:
          pipelineStatus: Success
          condition: {condition}
        spec:
          platform:
            os: Linux
            arch: Amd64
          runtime:
            type: Cloud
            spec: {{}}
          execution:
            steps:
              - step:
                  type: Run
                  name: r
                  identifier: r
                  when:
                    stageStatus: {status}
                    condition: {condition}
                  spec:
                    command: echo r
              - stepGroup:
                  name: g
                  identifier: g
                  when:
                    stageStatus: Success
                    condition: {condition}
                  steps:
                    - step:
                        type: Run
                        name: q
                        identifier: q
                        spec:
                          command: echo q
"
    )
}

#[test]
fn when_field_inputs_applied() {
    let source = when_pipeline("<+input>", "<+input>");
    let step_path = "pipeline.stages.s.spec.execution.steps";
    let arguments = [
        (
            "pipeline.stages.s.when.condition".to_string(),
            "false".to_string(),
        ),
        (format!("{step_path}.r.when.condition"), "true".to_string()),
        (
            format!("{step_path}.r.when.stageStatus"),
            "Failure".to_string(),
        ),
        (
            format!("{step_path}.g.when.condition"),
            "<+1 == 2>".to_string(),
        ),
    ];
    let arguments: Vec<(&str, &str)> = arguments
        .iter()
        .map(|(path, value)| (path.as_str(), value.as_str()))
        .collect();
    let resolution = resolve(&source, &arguments, &[], json!({}));
    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);

    let stage = &resolution.stages[0];
    let stage_when = stage.when.as_ref().expect("the stage's when");
    assert_eq!(stage_when.condition.as_deref(), Some("false"));
    let step_when = stage.steps[0].when.as_ref().expect("the step's when");
    assert_eq!(step_when.condition.as_deref(), Some("true"));
    assert_eq!(step_when.stage_status, "Failure");
    let group_when = &stage.steps[1].group_when;
    assert_eq!(group_when.len(), 1);
    assert_eq!(group_when[0].condition.as_deref(), Some("false"));
}

#[test]
fn when_field_input_default_and_checks() {
    let source = when_pipeline("<+input>.default(false)", "<+input>");
    let status_path = "pipeline.stages.s.spec.execution.steps.r.when.stageStatus";
    let resolution = resolve(&source, &[(status_path, "Sometimes")], &[], json!({}));
    let stage_when = resolution.stages[0]
        .when
        .as_ref()
        .expect("the stage's when");
    assert_eq!(stage_when.condition.as_deref(), Some("false"));
    let unknown = messages_with_code(&resolution, "unknown-status");
    assert_eq!(unknown.len(), 1, "{:#?}", resolution.diagnostics);
    assert!(unknown[0].contains("Sometimes"), "{}", unknown[0]);
    assert!(unknown[0].contains(status_path), "{}", unknown[0]);

    let missing = resolve(&source, &[], &[], json!({}));
    let missing_inputs = messages_with_code(&missing, "missing-input");
    assert_eq!(missing_inputs.len(), 1, "{:#?}", missing.diagnostics);
    assert!(
        missing_inputs[0].contains(status_path),
        "{}",
        missing_inputs[0]
    );
}

#[test]
fn resource_limit_inputs_checked_once() {
    let source = one_step(
        "",
        "command: echo a\nresources:\n  limits:\n    cpu: <+input>\n    memory: <+input>",
    );
    let prefix = "pipeline.stages.s.spec.execution.steps.a.spec.resources.limits";
    let (cpu, memory) = (format!("{prefix}.cpu"), format!("{prefix}.memory"));

    let missing = resolve(
        &source,
        &[("pipeline.variables.tag", "1.0")],
        &[],
        json!({}),
    );
    let errors: Vec<&str> = missing
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.code.as_str())
        .collect();
    assert_eq!(
        errors,
        ["missing-input", "missing-input"],
        "{:#?}",
        missing.diagnostics
    );

    let arguments = [
        ("pipeline.variables.tag", "1.0"),
        (cpu.as_str(), "lots"),
        (memory.as_str(), "1Gi"),
    ];
    let invalid = resolve(&source, &arguments, &[], json!({}));
    let cpu_errors = messages_with_code(&invalid, "invalid-cpu");
    assert_eq!(cpu_errors.len(), 1, "{:#?}", invalid.diagnostics);
    assert!(cpu_errors[0].contains("`lots`"), "{}", cpu_errors[0]);
    assert!(messages_with_code(&invalid, "invalid-memory").is_empty());
}

/// `check` resolves a file whose input has no value yet, and reports the
/// errors of fields that do not read that input.
#[test]
fn check_resolves_beside_input_without_value() {
    let source = one_step(
        "",
        "command: echo <+1/0>\nenvVariables:\n  T: <+pipeline.variables.tag.toUpperCase()>",
    );
    let checked = pipeline::check(&source, "p.yaml");
    let errors: Vec<(&str, usize)> = checked
        .iter()
        .filter(|d| d.is_error())
        .map(|d| (d.code.as_str(), d.span.line))
        .collect();
    let command_line = source
        .lines()
        .position(|line| line.contains("<+1/0>"))
        .expect("the command line")
        + 1;
    assert_eq!(errors.len(), 1, "{checked:#?}");
    assert_eq!(errors[0].1, command_line, "{checked:#?}");
}

#[test]
fn input_reading_exported_variables_reported() {
    let source = one_step("", "command: echo <+pipeline.variables.tag>")
        .replace("value: <+input>.allowedValues(1.0,2.0)", "value: <+input>");
    let value = "<+exportedVariables.getValue(\"pipeline.alias.v\")>";
    let resolution = resolve(
        &source,
        &[("pipeline.variables.tag", value)],
        &[],
        json!({}),
    );
    let unsupported = messages_with_code(&resolution, "unsupported-expression");
    assert_eq!(unsupported.len(), 1, "{:#?}", resolution.diagnostics);
    assert!(
        unsupported[0].contains("`outputAlias`"),
        "{}",
        unsupported[0]
    );
    assert!(
        unsupported[0].contains("--input pipeline.variables.tag="),
        "{}",
        unsupported[0]
    );
    let error = resolution
        .diagnostics
        .iter()
        .find(|d| d.code == "unsupported-expression")
        .expect("the error");
    let declared = source
        .lines()
        .position(|line| line.contains("value: <+input>"))
        .expect("the variable's value")
        + 1;
    assert_eq!(error.span.line, declared);
}

/// Returns a pipeline whose step `a` loops over a matrix with the axes
/// `os` and `v` and the extra matrix lines `extra`.
fn matrix_step(os: &str, extra: &str) -> String {
    let extra: String = extra
        .lines()
        .map(|line| format!("\n        {line}"))
        .collect();
    pipeline_with(
        &format!(
            "- step:\n    type: Run\n    name: a\n    identifier: a\n    spec:\n      image: alpine\n      command: echo <+matrix.os> <+matrix.v>\n    strategy:\n      matrix:\n        os: {os}\n        v: [a, b]{extra}"
        ),
        DOCKER,
    )
    .replace("value: <+input>.allowedValues(1.0,2.0)", "value: \"1.0\"")
}

fn step_ids_of(resolution: &Resolution) -> Vec<String> {
    resolution.stages[0]
        .steps
        .iter()
        .map(|step| step.identifier.clone())
        .collect()
}

#[test]
fn matrix_exclude_and_node_name_inputs_applied() {
    let prefix = "pipeline.stages.s.spec.execution.steps.a.strategy.matrix";
    let source = matrix_step(
        "[linux, <+input>]",
        "exclude:\n  - os: <+input>\n    v: a\nnodeName: <+input>",
    );
    let (item, exclude, node_name) = (
        format!("{prefix}.os.1"),
        format!("{prefix}.exclude.0.os"),
        format!("{prefix}.nodeName"),
    );
    let arguments = [
        (item.as_str(), "mac"),
        (exclude.as_str(), "mac"),
        (node_name.as_str(), "<+matrix.os>_<+matrix.v>"),
    ];
    let resolution = resolve(&source, &arguments, &[], json!({}));
    assert_eq!(codes(&resolution), Vec::<&str>::new());
    assert_eq!(
        step_ids_of(&resolution),
        ["a_linux_a", "a_linux_b", "a_mac_b"]
    );
    let checked = pipeline::check(&source, "p.yaml");
    assert!(!checked.iter().any(|d| d.is_error()), "{checked:#?}");

    let whole = matrix_step("[linux, mac]", "exclude: <+input>");
    let whole_path = format!("{prefix}.exclude");
    let arguments = [(whole_path.as_str(), "[{os: mac, v: b}]")];
    let resolution = resolve(&whole, &arguments, &[], json!({}));
    assert_eq!(codes(&resolution), Vec::<&str>::new());
    assert_eq!(step_ids_of(&resolution), ["a_0_0", "a_0_1", "a_1_0"]);
    let checked = pipeline::check(&whole, "p.yaml");
    assert!(!checked.iter().any(|d| d.is_error()), "{checked:#?}");
}

#[test]
fn supplied_max_concurrency_out_of_range_rejected() {
    let source = matrix_step("[linux]", "maxConcurrency: <+input>");
    let path = "pipeline.stages.s.spec.execution.steps.a.strategy.matrix.maxConcurrency";
    for value in ["0", "-1"] {
        let resolution = resolve(&source, &[(path, value)], &[], json!({}));
        let errors = messages_with_code(&resolution, "invalid-strategy");
        assert_eq!(errors.len(), 1, "{value}: {:#?}", resolution.diagnostics);
        assert!(errors[0].contains(&format!("`{value}`")), "{}", errors[0]);
    }
}

#[test]
fn status_expression_rejected() {
    let written = when_pipeline("true", "<+pipeline.name>");
    let checked = pipeline::check(&written, "p.yaml");
    let errors: Vec<&str> = checked
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.code.as_str())
        .collect();
    assert_eq!(errors, ["expression-not-allowed"], "{checked:#?}");

    let supplied = when_pipeline("true", "<+input>");
    let status_path = "pipeline.stages.s.spec.execution.steps.r.when.stageStatus";
    let resolution = resolve(
        &supplied,
        &[(status_path, "<+\"Failure\">")],
        &[],
        json!({}),
    );
    let rejected = messages_with_code(&resolution, "expression-not-allowed");
    assert_eq!(rejected.len(), 1, "{:#?}", resolution.diagnostics);
}

#[test]
fn check_leaves_dotted_input_variable_unknown() {
    let source = one_step(
        "timeout: <+pipeline.variables[\"my.timeout\"]>",
        "command: echo a",
    )
    .replace(
        "    - name: tag\n      type: String\n      value: <+input>.allowedValues(1.0,2.0)",
        "    - name: my.timeout\n      type: String\n      value: <+input>",
    );
    let checked = pipeline::check(&source, "p.yaml");
    assert!(!checked.iter().any(|d| d.is_error()), "{checked:#?}");
    let resolution = resolve(
        &source,
        &[("pipeline.variables.my.timeout", "5m")],
        &[],
        json!({}),
    );
    assert_eq!(codes(&resolution), Vec::<&str>::new());
    assert_eq!(resolution.stages[0].steps[0].timeout_seconds, Some(300));
}

#[test]
fn context_replacements_and_unknown_roots_warned() {
    let source = one_step("", "command: echo <+pipeline.tags.team> <+stage.name>").replace(
        "  identifier: p\n",
        "  identifier: p\n  tags:\n    team: a\n",
    );
    let context = json!({
        "pipeline": {"tags": {"team": "b"}, "stages": {"s": {"name": "renamed"}}},
        "triger": {"payload": {}},
        "secrets": {"tok": "x"},
    });
    let resolution = resolve(&source, &[("pipeline.variables.tag", "1.0")], &[], context);
    let overrides = messages_with_code(&resolution, "context-overrides-file");
    assert_eq!(overrides.len(), 2, "{:#?}", resolution.diagnostics);
    assert!(
        overrides[0].contains("`pipeline.tags.team`"),
        "{}",
        overrides[0]
    );
    assert!(
        overrides[1].contains("`pipeline.stages.s.name`"),
        "{}",
        overrides[1]
    );
    let unused = messages_with_code(&resolution, "context-key-unused");
    assert_eq!(unused.len(), 2, "{:#?}", resolution.diagnostics);
    assert!(unused[0].contains("`secrets`"), "{}", unused[0]);
    assert!(unused[1].contains("`triger`"), "{}", unused[1]);

    let erased = resolve(
        &source,
        &[("pipeline.variables.tag", "1.0")],
        &[],
        json!({"pipeline": null}),
    );
    let overrides = messages_with_code(&erased, "context-overrides-file");
    assert_eq!(overrides.len(), 1, "{:#?}", erased.diagnostics);
    assert!(
        overrides[0].contains("sets `pipeline`,"),
        "{}",
        overrides[0]
    );
}

#[test]
fn timeout_reading_missing_input_reported_once() {
    let source = one_step("timeout: <+pipeline.variables.tag>", "command: echo a");
    let resolution = resolve(&source, &[], &[], json!({}));
    let errors: Vec<&str> = resolution
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.code.as_str())
        .collect();
    assert_eq!(errors, ["missing-input"], "{:#?}", resolution.diagnostics);
}

#[test]
fn supplied_value_references_checked() {
    let source = pipeline_with(
        "- step:\n    type: Run\n    name: b\n    identifier: b\n    spec:\n      image: alpine\n      command: export V=1\n      outputVariables:\n        - name: V\n- step:\n    type: Run\n    name: a\n    identifier: a\n    spec:\n      image: alpine\n      command: echo $X\n      envVariables:\n        X: <+input>",
        DOCKER,
    );
    let path = "pipeline.stages.s.spec.execution.steps.a.spec.envVariables.X";
    let arguments = [
        ("pipeline.variables.tag", "1.0"),
        (path, "<+steps.b.output.outputVariables.NOPE>"),
    ];
    let resolution = resolve(&source, &arguments, &[], json!({}));
    let unknown = messages_with_code(&resolution, "unknown-output-variable");
    assert_eq!(unknown.len(), 1, "{:#?}", resolution.diagnostics);
    assert!(unknown[0].contains("`NOPE`"), "{}", unknown[0]);
    assert!(
        unknown[0].contains("--input pipeline.stages.s.spec"),
        "{}",
        unknown[0]
    );

    let arguments = [
        ("pipeline.variables.tag", "1.0"),
        (path, "<+steps.b.output.outputVariables.V>"),
    ];
    let valid = resolve(&source, &arguments, &[], json!({}));
    assert!(!valid.has_errors(), "{:#?}", valid.diagnostics);
}

#[test]
fn invalid_supplied_condition_reported_once() {
    let source = when_pipeline("<+input>", "Success");
    let path = "pipeline.stages.s.spec.execution.steps.r.when.condition";
    let arguments = [
        ("pipeline.stages.s.when.condition", "true"),
        (path, "<+pipeline.name =="),
        (
            "pipeline.stages.s.spec.execution.steps.g.when.condition",
            "true",
        ),
    ];
    let resolution = resolve(&source, &arguments, &[], json!({}));
    let errors: Vec<&str> = resolution
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(errors.len(), 1, "{:#?}", resolution.diagnostics);
    assert!(errors[0].contains(path), "{}", errors[0]);
}

#[test]
fn unresolved_loop_field_names_expected_shape() {
    let axis = matrix_step("<+trigger.payload.oses>", "");
    let resolution = resolve(&axis, &[], &[], json!({}));
    let errors = messages_with_code(&resolution, "invalid-strategy");
    assert_eq!(
        errors,
        ["`matrix.os` did not resolve to a list of 1 to 1024 values"],
        "{:#?}",
        resolution.diagnostics
    );

    let count = one_step(
        "strategy:\n      parallelism: <+trigger.payload.n>",
        "command: echo a",
    );
    let resolution = resolve(&count, &[("pipeline.variables.tag", "1.0")], &[], json!({}));
    let errors = messages_with_code(&resolution, "invalid-strategy");
    assert_eq!(
        errors,
        ["`parallelism` did not resolve to a whole number from 1 to 1024"],
        "{:#?}",
        resolution.diagnostics
    );
}

#[test]
fn whole_output_map_waits_for_the_run() {
    let source = pipeline_with(
        "- step:\n    type: Run\n    name: b\n    identifier: b\n    spec:\n      image: alpine\n      command: export V=1\n      outputVariables:\n        - name: V\n- step:\n    type: Run\n    name: a\n    identifier: a\n    spec:\n      image: alpine\n      command: echo <+json.select(\"outputVariables.V\", <+steps.b.output>)>",
        DOCKER,
    );
    let resolution = resolve(
        &source,
        &[("pipeline.variables.tag", "1.0")],
        &[],
        json!({}),
    );
    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
    let command = &resolution.stages[0].steps[1].spec["command"];
    assert!(
        command
            .as_str()
            .is_some_and(|text| text.contains("<+steps.b.output>")),
        "{command}"
    );
}

#[test]
fn dotted_env_key_input_applied() {
    let source = one_step(
        "timeout: 10m",
        "command: echo a\nenvVariables:\n  my.var: <+input>.default(dotted)\n  OTHER: <+input>.default(other)",
    );
    let path = "pipeline.stages.s.spec.execution.steps.a.spec.envVariables.my.var";
    let tag = ("pipeline.variables.tag", "1.0");
    let env = |resolution: &Resolution| resolution.stages[0].steps[0].spec["envVariables"].clone();

    let defaults = resolve(&source, &[tag], &[], json!({}));
    assert_eq!(codes(&defaults), ["invalid-env-name"]);
    assert_eq!(
        env(&defaults),
        json!({"my.var": "dotted", "OTHER": "other"})
    );

    let argument = resolve(&source, &[tag, (path, "X")], &[], json!({}));
    assert_eq!(env(&argument)["my.var"], "X");

    let set = "inputSet:\n  name: k\n  identifier: k\n  pipeline:\n    identifier: p\n    stages:\n      - stage:\n          identifier: s\n          spec:\n            execution:\n              steps:\n                - step:\n                    identifier: a\n                    spec:\n                      envVariables:\n                        my.var: FROMSET\n";
    let from_set = resolve(&source, &[tag], &[("set.yaml", set)], json!({}));
    assert_eq!(env(&from_set)["my.var"], "FROMSET");

    // A path that names no input is still an error, whether it nests the
    // key or adds a segment to it.
    for wrong in [
        "envVariables.my",
        "envVariables.my.var.x",
        "envVariables.my.vat",
    ] {
        let wrong = format!("pipeline.stages.s.spec.execution.steps.a.spec.{wrong}");
        let resolution = resolve(&source, &[tag, (&wrong, "X")], &[], json!({}));
        assert_eq!(
            messages_with_code(&resolution, "not-a-runtime-input"),
            [format!("`{wrong}` is not a runtime input")]
        );
        assert_eq!(env(&resolution)["my.var"], "dotted");
    }
}

#[test]
fn input_set_env_entry_named_name_rejected() {
    let source = one_step(
        "timeout: 10m",
        "command: echo a\nenvVariables:\n  A: <+input>.default(a)",
    );
    let set = "inputSet:\n  name: k\n  identifier: k\n  pipeline:\n    identifier: p\n    stages:\n      - stage:\n          identifier: s\n          spec:\n            execution:\n              steps:\n                - step:\n                    identifier: a\n                    spec:\n                      envVariables:\n                        name: X\n";
    let resolution = resolve(
        &source,
        &[("pipeline.variables.tag", "1.0")],
        &[("set.yaml", set)],
        json!({}),
    );
    assert_eq!(
        messages_with_code(&resolution, "not-a-runtime-input"),
        [
            "`pipeline.stages.s.spec.execution.steps.a.spec.envVariables.name` is not a runtime input"
        ]
    );
}

/// Returns a pipeline with a `branch` variable limited to `main` and
/// `develop`, a stage variable and an image limited by a pattern, and a
/// step that echoes the three.
fn validated_inputs_source() -> String {
    let steps = "- step:
    type: Run
    name: r
    identifier: r
    spec:
      image: <+input>.regex(alpine:[0-9.]+)
      command: echo <+pipeline.variables.branch> <+stage.variables.mode>";
    let stage_extra = "        variables:
          - name: mode
            type: String
            value: <+input>.allowedValues(fast,full)
";
    docker_stage(stage_extra, steps).replace(
        "  stages:\n",
        "  variables:\n    - name: branch\n      type: String\n      value: <+input>.allowedValues(main,develop)\n  stages:\n",
    )
}

const IMAGE_INPUT: &str = "pipeline.stages.s.spec.execution.steps.r.spec.image";

#[test]
fn expression_input_checked_after_evaluation() {
    let arguments = [
        ("pipeline.variables.branch", "<+trigger.branch>"),
        ("pipeline.stages.s.variables.mode", "<+trigger.mode>"),
        (IMAGE_INPUT, "alpine:<+trigger.version>"),
    ];
    let context = json!({"trigger": {"branch": "main", "mode": "fast", "version": "3.20"}});
    let resolution = resolve(&validated_inputs_source(), &arguments, &[], context);

    assert!(
        resolution.diagnostics.is_empty(),
        "{:#?}",
        resolution.diagnostics
    );
    let step = &resolution.stages[0].steps[0];
    assert_eq!(step.spec["command"], "echo main fast");
    assert_eq!(step.spec["image"], "alpine:3.20");
}

#[test]
fn expression_input_value_not_allowed() {
    let arguments = [
        ("pipeline.variables.branch", "<+trigger.branch>"),
        ("pipeline.stages.s.variables.mode", "<+trigger.mode>"),
        (IMAGE_INPUT, "alpine:<+trigger.version>"),
    ];
    let context = json!({"trigger": {"branch": "feature", "mode": "slow", "version": "edge"}});
    let resolution = resolve(&validated_inputs_source(), &arguments, &[], context);

    let not_allowed = messages_with_code(&resolution, "value-not-allowed");
    assert_eq!(not_allowed.len(), 2, "{:#?}", resolution.diagnostics);
    assert!(not_allowed[0].contains("`feature`"), "{}", not_allowed[0]);
    assert!(
        not_allowed[0].contains("`<+trigger.branch>`"),
        "{}",
        not_allowed[0]
    );
    assert!(not_allowed[1].contains("`slow`"), "{}", not_allowed[1]);
    let mismatches = messages_with_code(&resolution, "value-mismatches-regex");
    assert_eq!(mismatches.len(), 1, "{:#?}", resolution.diagnostics);
    assert!(mismatches[0].contains("`alpine:edge`"), "{}", mismatches[0]);
    assert_eq!(resolution.stages[0].steps[0].spec["image"], json!(null));
}

#[test]
fn expression_input_without_value_not_checked() {
    let arguments = [("pipeline.variables.branch", "<+trigger.branch>")];
    let resolution = resolve(&validated_inputs_source(), &arguments, &[], json!({}));

    assert!(messages_with_code(&resolution, "value-not-allowed").is_empty());
}

#[test]
fn rejected_input_gives_no_follow_on_error() {
    let steps = "- step:
    type: Run
    name: r
    identifier: r
    spec:
      image: alpine
      command: echo <+<+pipeline.variables.count> * 2>";
    let source = docker_stage("", steps).replace(
        "  stages:\n",
        "  variables:\n    - name: count\n      type: Number\n      value: <+input>.default(3)\n  stages:\n",
    );

    let good = resolve(
        &source,
        &[("pipeline.variables.count", "4")],
        &[],
        json!({}),
    );
    assert_eq!(good.stages[0].steps[0].spec["command"], "echo 8.0");
    let rejected = resolve(
        &source,
        &[("pipeline.variables.count", "abc")],
        &[],
        json!({}),
    );

    assert_eq!(
        codes(&rejected),
        ["invalid-input"],
        "{:#?}",
        rejected.diagnostics
    );
}

#[test]
fn shared_paths_from_expressions_warned_once() {
    let source = fixture("invalid/invalid-shared-path.yaml");
    let resolution = resolve(&source, &[], &[], json!({}));
    let warned = messages_with_code(&resolution, "invalid-shared-path");
    assert_eq!(warned.len(), 4, "{warned:#?}");
    assert!(
        warned.contains(
            &"shared path `<+pipeline.variables.extra>` is `proc`, which is not an absolute path and is not shared"
        ),
        "{warned:#?}"
    );
    let unique: std::collections::HashSet<&&str> = warned.iter().collect();
    assert_eq!(unique.len(), warned.len(), "{warned:#?}");

    // One runtime input for the whole list: each bad path points at it,
    // and an input left open is not judged.
    let whole = source.replace(
        "          sharedPaths:\n            - /var/cache/apt/\n            - cache\n            - /proc\n            - /etc/hosts\n            - <+pipeline.variables.extra>\n",
        "          sharedPaths: <+input>\n",
    );
    assert_ne!(whole, source);
    let path = "pipeline.stages.build.spec.sharedPaths";
    for (arguments, expected) in [
        (
            vec![(path, "/a,b,/sys")],
            vec![
                "`b`, which is not an absolute path",
                "`/sys`, which is not shared",
            ],
        ),
        (vec![], vec![]),
    ] {
        let resolution = resolve(&whole, &arguments, &[], json!({}));
        let warned = messages_with_code(&resolution, "invalid-shared-path");
        assert_eq!(warned.len(), expected.len(), "{arguments:?}: {warned:#?}");
        for (message, part) in warned.iter().zip(&expected) {
            assert!(message.contains(part), "{message}");
        }
    }
}

#[test]
fn supplied_whole_settings_get_written_value_checks() {
    let source = pipeline_with(
        "- step:\n    type: Background\n    name: web\n    identifier: web\n    spec:\n      image: nginx\n      portBindings: <+input>\n      runAsUser: <+input>\n- step:\n    type: Run\n    name: a\n    identifier: a\n    spec:\n      image: alpine\n      command: echo hi\n      reports: <+input>\n      outputVariables: <+input>",
        DOCKER,
    );
    let path = |step: &str, field: &str| {
        format!("pipeline.stages.s.spec.execution.steps.{step}.spec.{field}")
    };
    let (ports, user, reports, outputs) = (
        path("web", "portBindings"),
        path("web", "runAsUser"),
        path("a", "reports"),
        path("a", "outputVariables"),
    );
    let arguments = [
        ("pipeline.variables.tag", "1.0"),
        (ports.as_str(), "{\"99999\": \"1\", \"80\": \"abc\"}"),
        (user.as_str(), "-5"),
        (reports.as_str(), "{\"type\": \"Junit\"}"),
        (outputs.as_str(), "[{\"name\": \"bad-name\"}]"),
    ];
    let resolution = resolve(&source, &arguments, &[], json!({}));
    let mut found = codes(&resolution);
    found.sort_unstable();
    assert_eq!(
        found,
        [
            "invalid-output-variable",
            "invalid-port",
            "invalid-port",
            "invalid-run-as-user",
            "missing-field",
            "unknown-report-type"
        ],
        "{:#?}",
        resolution.diagnostics
    );

    // Valid values give nothing.
    let arguments = [
        ("pipeline.variables.tag", "1.0"),
        (ports.as_str(), "{\"8080\": \"8080\"}"),
        (user.as_str(), "1000"),
        (
            reports.as_str(),
            "{\"type\": \"JUnit\", \"spec\": {\"paths\": [\"r.xml\"]}}",
        ),
        (outputs.as_str(), "[{\"name\": \"TAG\"}]"),
    ];
    let resolution = resolve(&source, &arguments, &[], json!({}));
    assert_eq!(
        codes(&resolution),
        Vec::<&str>::new(),
        "{:#?}",
        resolution.diagnostics
    );
}

#[test]
fn input_set_list_or_map_for_variable_rejected() {
    let source = pipeline_with(
        "- step:\n    type: Run\n    name: a\n    identifier: a\n    spec:\n      image: alpine\n      command: echo <+pipeline.variables.re>",
        DOCKER,
    )
    .replacen(
        "  variables:\n",
        "  variables:\n    - name: re\n      type: String\n      value: <+input>.regex(^[a-z]+$)\n",
        1,
    );
    let source = source.as_str();
    let tag = [("pipeline.variables.tag", "1.0")];
    for (value, kind) in [("[abc, def]", "a list"), ("{a: b}", "a mapping")] {
        let set = format!(
            "inputSet:\n  name: s\n  identifier: s\n  pipeline:\n    identifier: p\n    variables:\n      - name: re\n        type: String\n        value: {value}\n"
        );
        let resolution = resolve(source, &tag, &[("set.yaml", &set)], json!({}));
        let errors = messages_with_code(&resolution, "invalid-input");
        assert_eq!(errors.len(), 1, "{value}: {:#?}", resolution.diagnostics);
        assert!(
            errors[0].contains(&format!("found {kind}")),
            "{}",
            errors[0]
        );
    }
    // Quoted, the same text is a value.
    let set = "inputSet:\n  name: s\n  identifier: s\n  pipeline:\n    identifier: p\n    variables:\n      - name: re\n        type: String\n        value: \"abc\"\n";
    let resolution = resolve(source, &tag, &[("set.yaml", set)], json!({}));
    assert_eq!(
        codes(&resolution),
        Vec::<&str>::new(),
        "{:#?}",
        resolution.diagnostics
    );
}

/// Resolves one step `a` (`step_spec` is its spec's YAML lines, with one
/// field written as `<+input>` at `field`) with each of `cases`' values
/// supplied, and asserts the codes each gives.
fn assert_supplied_codes(step_type: &str, step_spec: &str, field: &str, cases: &[(&str, &[&str])]) {
    let spec: String = step_spec
        .lines()
        .map(|line| format!("\n      {line}"))
        .collect();
    let source = pipeline_with(
        &format!("- step:\n    type: {step_type}\n    name: a\n    identifier: a\n    spec:{spec}"),
        DOCKER,
    );
    let path = format!("pipeline.stages.s.spec.execution.steps.a.spec.{field}");
    for (value, expected) in cases {
        let arguments = [("pipeline.variables.tag", "1.0"), (path.as_str(), *value)];
        let resolution = resolve(&source, &arguments, &[], json!({}));
        assert_eq!(
            codes(&resolution),
            *expected,
            "{value}: {:#?}",
            resolution.diagnostics
        );
    }
}

#[test]
fn supplied_memory_gets_written_value_warnings() {
    assert_supplied_codes(
        "Run",
        "image: alpine\ncommand: echo hi\nresources:\n  limits:\n    memory: <+input>",
        "resources.limits.memory",
        &[
            ("1Ki", &["memory-too-small"]),
            ("500m", &["invalid-memory"]),
            ("64Mi", &[]),
        ],
    );
}

#[test]
fn supplied_entrypoint_overrides_command_warned() {
    assert_supplied_codes(
        "Background",
        "image: alpine\ncommand: echo ignored\nentrypoint: <+input>",
        "entrypoint",
        &[
            (
                "[\"sh\", \"-c\", \"echo hi\"]",
                &["entrypoint-overrides-command"],
            ),
            ("[]", &[]),
        ],
    );
}

#[test]
fn unresolved_value_says_why_it_has_none() {
    let source = pipeline_with(
        "- step:\n    type: Run\n    name: a\n    identifier: a\n    spec:\n      image: alpine\n      command: echo x-<+input> <+codebase.branch> <+nosuchroot.value>",
        DOCKER,
    );
    let resolution = resolve(
        &source,
        &[("pipeline.variables.tag", "1.0")],
        &[],
        json!({}),
    );
    let messages = messages_with_code(&resolution, "unresolved-at-run-time");
    assert_eq!(
        messages,
        [
            "`<+input>` names no value that a run supplies; it resolves to null",
            "`<+codebase.branch>` has no value before the run starts; it resolves to null",
            "`<+nosuchroot.value>` names no value that a run supplies; it resolves to null",
        ],
        "{:#?}",
        resolution.diagnostics
    );
}

#[test]
fn services_differing_in_case_warned() {
    let service = |id: &str| {
        format!(
            "- step:\n    type: Background\n    name: {id}\n    identifier: {id}\n    spec:\n      image: redis\n"
        )
    };
    let source = pipeline_with(&format!("{}{}", service("Db"), service("db")), DOCKER);
    let checked = basso_core::pipeline::check(&source, "p.yaml");
    let warned: Vec<&str> = checked
        .iter()
        .filter(|d| d.code == "duplicate-host-name")
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(
        warned,
        [
            "services `Db` and `db` get the host names `Db` and `db`, which name resolution does not tell apart, so other steps reach only one of them by it"
        ],
        "{checked:#?}"
    );
}

#[test]
fn supplied_command_with_untrusted_value_warned() {
    let source = pipeline_with(
        "- step:\n    type: Run\n    name: a\n    identifier: a\n    spec:\n      image: alpine\n      command: <+input>",
        DOCKER,
    )
    .replacen(
        "  variables:\n",
        "  variables:\n    - name: title\n      type: String\n      value: <+codebase.prTitle>\n",
        1,
    );
    let path = "pipeline.stages.s.spec.execution.steps.a.spec.command";
    for (command, expected) in [
        ("echo <+codebase.prTitle>", 1),
        ("echo <+pipeline.variables.title>", 1),
        ("echo <+codebase.branch>", 0),
    ] {
        let arguments = [("pipeline.variables.tag", "1.0"), (path, command)];
        let resolution = resolve(&source, &arguments, &[], json!({}));
        let warned = messages_with_code(&resolution, "untrusted-input-in-command");
        assert_eq!(
            warned.len(),
            expected,
            "{command}: {:#?}",
            resolution.diagnostics
        );
        if let Some(message) = warned.first() {
            assert!(message.contains("--input"), "{message}");
        }
    }
}

/// `effective` keeps only the settings that differ from `spec`. Its JSON
/// form, `effective_json` and `effective_value` all give `spec` with the
/// defaults merged in: a null replaced in place, a missing key after the
/// spec's keys.
#[test]
fn effective_merges_defaults_into_spec() {
    let resolution = resolve(&fixture("effective-defaults.yaml"), &[], &[], json!({}));
    let expected = [
        (
            "untagged",
            r#"{"image":"alpine:latest","imagePullPolicy":"Always","shell":"Sh","privileged":false,"runAsUser":1001,"command":"echo a","resources":{"limits":{"memory":"500Mi","cpu":"400m"}}}"#,
        ),
        (
            "latest",
            r#"{"image":"alpine:latest","command":"echo b","resources":{"requests":{"cpu":"100m"},"limits":{"memory":"500Mi","cpu":"400m"}},"imagePullPolicy":"Always","shell":"Sh","privileged":false,"runAsUser":1001}"#,
        ),
        (
            "limitsnull",
            r#"{"image":"alpine@sha256:0123456789012345678901234567890123456789012345678901234567890123","command":"echo c","resources":{"limits":null},"imagePullPolicy":"IfNotPresent","shell":"Sh","privileged":false,"runAsUser":1001}"#,
        ),
        (
            "resstr",
            r#"{"image":"Not A Valid Image!","command":"echo d","resources":"big","runAsUser":5,"imagePullPolicy":"IfNotPresent","shell":"Sh","privileged":false}"#,
        ),
        (
            "bg",
            r#"{"image":"redis:latest","resources":{"limits":{"cpu":"200m","memory":"500Mi"}},"imagePullPolicy":"Always","shell":"Sh","privileged":false,"runAsUser":1001}"#,
        ),
        (
            "other",
            r#"{"shell":"Bash","source":{"type":"Inline","spec":{"script":"echo hi"}}}"#,
        ),
        ("host", r#"{"command":"echo host","shell":"Powershell"}"#),
        (
            "emptyimage",
            r#"{"image":"","command":"echo e","shell":"Powershell"}"#,
        ),
        (
            "cont",
            r#"{"image":"nginx:latest","shell":"Pwsh","command":"echo f","imagePullPolicy":"Always","privileged":false}"#,
        ),
        (
            "d1",
            r#"{"command":"echo g","shell":"Sh","privileged":false,"resources":{"limits":{"memory":"500Mi","cpu":"400m"}}}"#,
        ),
        (
            "d2",
            r#"{"image":"busybox:1","resources":{"limits":{"memory":"500Mi","cpu":"400m"}},"command":"echo h","imagePullPolicy":"IfNotPresent","shell":"Sh","privileged":false}"#,
        ),
    ];
    let steps: Vec<_> = resolution
        .stages
        .iter()
        .flat_map(|stage| &stage.steps)
        .collect();
    assert_eq!(steps.len(), expected.len());
    for (step, (identifier, text)) in steps.into_iter().zip(expected) {
        assert_eq!(step.identifier, identifier);
        let written = serde_json::to_value(step).unwrap();
        assert_eq!(written["effective"].to_string(), text, "{identifier}");
        let whole = step.effective_json();
        assert_eq!(whole.to_string(), text, "{identifier}");
        for (key, value) in whole.as_object().unwrap() {
            assert_eq!(step.effective_value(key), Some(value), "{identifier}");
        }
        assert_eq!(step.effective_value("missing"), None);

        let back: pipeline::ResolvedStep = serde_json::from_value(written).unwrap();
        assert_eq!(back.effective_json().to_string(), text, "{identifier}");
        assert_eq!(
            serde_json::to_value(&back).unwrap()["effective"].to_string(),
            text
        );
    }
}
