//! Secrets and run-time data. Strings of the context (trigger and codebase
//! values, step outputs) may not request a secret, choose a secret's id or
//! build secret reference text. The pipeline file's own secrets and the
//! re-evaluation of blocks in data keep working.

use basso_core::pipeline::{self, Resolution};
use serde_json::{Value as Json, json};

const SECRET_FROM_DATA: &str = "secret-from-run-time-data";

/// Returns a pipeline with one pipeline variable line (or none) and one Run
/// step `r` whose env variable `X` is `value`.
fn pipeline_with(variables: &str, value: &str) -> String {
    format!(
        "pipeline:
  name: t
  identifier: t
{variables}  stages:
    - stage:
        name: s
        identifier: s
        type: CI
        spec:
          cloneCodebase: false
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
                  spec:
                    shell: Sh
                    envVariables:
                      X: {value}
                    command: echo \"$X\"
"
    )
}

/// Returns the pipeline of [`pipeline_with`] whose step `r` loops over the
/// matrix axis `axis` (`name: values`).
fn matrix_pipeline(axis: &str, value: &str) -> String {
    pipeline_with("", value).replace(
        "                  spec:\n                    shell: Sh",
        &format!("                  strategy:\n                    matrix:\n                      {axis}\n                  spec:\n                    shell: Sh"),
    )
}

fn resolve(source: &str, context: Json) -> Resolution {
    pipeline::resolve(source, "p.yaml", &[], &[], &context)
}

/// Returns the message of the only `secret-from-run-time-data` error.
fn data_error(resolution: &Resolution) -> String {
    let errors: Vec<_> = resolution
        .diagnostics
        .iter()
        .filter(|d| d.code == SECRET_FROM_DATA)
        .collect();
    assert_eq!(errors.len(), 1, "{:#?}", resolution.diagnostics);
    errors[0].message.clone()
}

fn env_x(resolution: &Resolution) -> Json {
    resolution.stages[0].steps[0].spec["envVariables"]["X"].clone()
}

#[test]
fn trigger_payload_requesting_secret_rejected() {
    let source = pipeline_with("", "<+trigger.payload.x>");
    let context = json!({"trigger": {"payload": {"x": "<+secrets.getValue(\"tok\")>"}}});
    let resolution = resolve(&source, context);

    let message = data_error(&resolution);
    assert!(message.contains("step `r`"), "{message}");
    assert!(message.contains("secret `tok`"), "{message}");
    assert!(message.contains("`trigger.payload.x`"), "{message}");
    let step = &resolution.stages[0].steps[0];
    assert!(step.secrets.is_empty(), "{:?}", step.secrets);
    assert!(!env_x(&resolution).to_string().contains("secrets.getValue"));
}

#[test]
fn codebase_field_requesting_secret_rejected() {
    let source = pipeline_with("", "<+codebase.commitMessage>");
    let context = json!({"codebase": {"commitMessage": "fix <+secrets.getValue('tok')> now"}});
    let resolution = resolve(&source, context);

    let message = data_error(&resolution);
    assert!(message.contains("secret `tok`"), "{message}");
    assert!(message.contains("`codebase.commitMessage`"), "{message}");
    assert!(resolution.stages[0].steps[0].secrets.is_empty());
}

#[test]
fn step_output_requesting_secret_rejected() {
    let source = pipeline_with("", "<+steps.a.output.outputVariables.V>");
    let context = json!({"steps": {"a": {"output": {"outputVariables": {
        "V": "<+secrets.getValue(\"tok\")>"
    }}}}});
    let message = data_error(&resolve(&source, context));
    assert!(message.contains("secret `tok`"), "{message}");
    assert!(message.contains("outputVariables.V"), "{message}");
}

#[test]
fn data_reading_secret_variable_rejected() {
    let variables = "  variables:\n    - name: token\n      type: Secret\n      value: tok\n";
    let source = pipeline_with(variables, "<+trigger.payload.x>");
    let context = json!({"trigger": {"payload": {"x": "<+pipeline.variables.token>"}}});
    let message = data_error(&resolve(&source, context));
    assert!(message.contains("secret `tok`"), "{message}");
}

#[test]
fn data_choosing_secret_id_rejected() {
    let source = pipeline_with("", "<+secrets.getValue(trigger.payload.id)>");
    let message = data_error(&resolve(
        &source,
        json!({"trigger": {"payload": {"id": "tok"}}}),
    ));
    assert!(message.contains("secret `tok`"), "{message}");
    assert!(message.contains("`trigger.payload.id`"), "{message}");
}

#[test]
fn data_joined_into_reference_text_rejected() {
    let source = pipeline_with("", "<+trigger.payload.a + trigger.payload.b>");
    let context = json!({"trigger": {"payload": {"a": "<+secrets.getVal", "b": "ue(\"tok\")>"}}});
    let resolution = resolve(&source, context);

    let message = data_error(&resolution);
    assert!(message.contains("step `r`"), "{message}");
    assert!(message.contains("secret `tok`"), "{message}");
    assert!(resolution.stages[0].steps[0].secrets.is_empty());
}

#[test]
fn matrix_values_from_data_rejected() {
    let source = matrix_pipeline("x: <+trigger.payload.list>", "<+matrix.x>");
    let context = json!({"trigger": {"payload": {"list": "a,<+secrets.getValue(\"tok\")>"}}});
    let resolution = resolve(&source, context);
    let errors: Vec<_> = resolution
        .diagnostics
        .iter()
        .filter(|d| d.code == SECRET_FROM_DATA)
        .collect();
    assert!(!errors.is_empty(), "{:#?}", resolution.diagnostics);
    for step in &resolution.stages[0].steps {
        assert!(
            step.secrets.is_empty(),
            "{}: {:?}",
            step.identifier,
            step.secrets
        );
    }
}

#[test]
fn file_secret_listed_for_step() {
    let source = pipeline_with("", "<+secrets.getValue(\"tok\")>");
    let resolution = resolve(&source, json!({"trigger": {"payload": {"x": "1"}}}));
    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
    assert_eq!(resolution.stages[0].steps[0].secrets, ["tok"]);
    assert_eq!(env_x(&resolution), json!("<+secrets.getValue(\"tok\")>"));
}

#[test]
fn file_secret_variable_listed_for_step() {
    let variables = "  variables:\n    - name: token\n      type: Secret\n      value: tok\n";
    let source = pipeline_with(variables, "<+pipeline.variables.token>");
    let resolution = resolve(&source, json!({}));
    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
    assert_eq!(resolution.stages[0].steps[0].secrets, ["tok"]);
}

#[test]
fn file_secret_id_from_file_variable_allowed() {
    let variables = "  variables:\n    - name: id\n      type: String\n      value: tok\n";
    let source = pipeline_with(variables, "<+secrets.getValue(pipeline.variables.id)>");
    let resolution = resolve(&source, json!({}));
    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
    assert_eq!(resolution.stages[0].steps[0].secrets, ["tok"]);
}

#[test]
fn blocks_in_data_still_evaluated() {
    let source = pipeline_with("", "<+trigger.payload.x>");
    let context = json!({"trigger": {"payload": {"x": "<+1+1> <+pipeline.name>"}}});
    let resolution = resolve(&source, context);
    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
    assert_eq!(env_x(&resolution), json!("2 t"));
}

#[test]
fn file_variable_evaluated_again() {
    let variables = "  variables:\n    - name: a\n      type: Number\n      value: 5\n    - name: b\n      type: Number\n      value: 12\n    - name: c\n      type: String\n      value: <+pipeline.variables.a> + 2 * <+pipeline.variables.b>\n";
    let source = pipeline_with(variables, "<+pipeline.variables.c>");
    let resolution = resolve(&source, json!({}));
    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
    assert_eq!(env_x(&resolution), json!("29.0"));
}

/// Blocks inside `secrets.getValue(...)` whose value comes from run-time
/// data, with the data path each must name. The ternaries are quoted for
/// YAML, where `: ` would start a mapping.
const DATA_CHOSEN_IDS: &[(&str, &str)] = &[
    (
        "<+secrets.getValue(<+trigger.payload.sid>)>",
        "trigger.payload.sid",
    ),
    ("<+secrets.getValue(<+codebase.branch>)>", "codebase.branch"),
    (
        "<+secrets.getValue(<+steps.a.output.outputVariables.ID>)>",
        "execution.steps.a.output.outputVariables.ID",
    ),
    (
        "<+secrets.getValue(<+trigger.payload.sid> + \"_india_\" + <+pipeline.variables.g>)>",
        "trigger.payload.sid",
    ),
    (
        "<+secrets.getValue(<+pipeline.variables.g> + <+trigger.payload.sid>)>",
        "trigger.payload.sid",
    ),
    (
        "<+secrets.getValue(<+trigger.payload.sid>.concat(\"_x\"))>",
        "trigger.payload.sid",
    ),
    (
        "<+secrets.getValue(\"k_\".concat(<+trigger.payload.sid>))>",
        "trigger.payload.sid",
    ),
    (
        "'<+secrets.getValue(<+trigger.payload.flag> == \"a\" ? \"tok\" : \"other\")>'",
        "trigger.payload.flag",
    ),
    (
        "'<+secrets.getValue(true ? <+trigger.payload.sid> : \"tok\")>'",
        "trigger.payload.sid",
    ),
    (
        "<+secrets.getValue(<+<+trigger.payload.sid>.trim()>)>",
        "trigger.payload.sid",
    ),
    (
        "<+secrets.getValue(\"<+trigger.payload.sid>\")>",
        "trigger.payload.sid",
    ),
    (
        "<+secrets.getValue(\"k_<+codebase.branch>\")>",
        "codebase.branch",
    ),
];

/// Returns the run-time data that [`DATA_CHOSEN_IDS`] reads.
fn id_data() -> Json {
    json!({
        "trigger": {"payload": {"sid": "deploy_key", "flag": "a"}},
        "codebase": {"branch": "deploy_key"},
        "steps": {"a": {"output": {"outputVariables": {"ID": "deploy_key"}}}},
    })
}

#[test]
fn inner_block_choosing_secret_id_rejected() {
    let variables = "  variables:\n    - name: g\n      type: String\n      value: key\n";
    for (value, data_path) in DATA_CHOSEN_IDS {
        let source = pipeline_with(variables, value);
        let resolution = resolve(&source, id_data());

        let message = data_error(&resolution);
        assert!(message.contains("step `r`"), "{value}: {message}");
        assert!(message.contains("secret `"), "{value}: {message}");
        assert!(
            message.contains(&format!("`{data_path}`")),
            "{value}: {message}"
        );
        let step = &resolution.stages[0].steps[0];
        assert!(step.secrets.is_empty(), "{value}: {:?}", step.secrets);
        assert_eq!(env_x(&resolution), Json::Null, "{value}");
    }
}

#[test]
fn inner_block_error_names_secret_id() {
    let source = pipeline_with("", "<+secrets.getValue(<+trigger.payload.sid>)>");
    let message = data_error(&resolve(&source, id_data()));
    assert!(message.contains("secret `deploy_key`"), "{message}");
}

#[test]
fn data_chosen_id_leaves_file_secrets_listed() {
    let source = pipeline_with("", "<+secrets.getValue(<+trigger.payload.sid>)>").replace(
        "                    command:",
        "                      Y: <+secrets.getValue(\"tok\")>\n                    command:",
    );
    let resolution = resolve(&source, id_data());

    data_error(&resolution);
    assert_eq!(resolution.stages[0].steps[0].secrets, ["tok"]);
}

#[test]
fn data_chosen_secret_variable_rejected() {
    let variables = "  variables:\n    - name: token\n      type: Secret\n      value: tok\n    - name: wrapped\n      type: String\n      value: <+secrets.getValue(\"tok\")>\n";
    for value in [
        "<+pipeline.variables.<+trigger.payload.name>>",
        "<+pipeline.variables[<+trigger.payload.name>]>",
        "<+pipeline.variables[trigger.payload.name]>",
        "<+pipeline.variables.<+trigger.payload.wrapper>>",
    ] {
        let source = pipeline_with(variables, value);
        let context = json!({"trigger": {"payload": {"name": "token", "wrapper": "wrapped"}}});
        let resolution = resolve(&source, context);

        let message = data_error(&resolution);
        assert!(message.contains("secret `tok`"), "{value}: {message}");
        assert!(message.contains("`trigger.payload."), "{value}: {message}");
        let step = &resolution.stages[0].steps[0];
        assert!(step.secrets.is_empty(), "{value}: {:?}", step.secrets);
    }
}

#[test]
fn file_inner_block_choosing_secret_id_allowed() {
    let variables = "  variables:\n    - name: id\n      type: String\n      value: tok\n    - name: g\n      type: String\n      value: ok\n";
    for value in [
        "<+secrets.getValue(<+pipeline.variables.id>)>",
        "<+secrets.getValue(<+pipeline.variables.id>.concat(\"\"))>",
        "'<+secrets.getValue(<+pipeline.variables.g> == \"ok\" ? \"tok\" : \"other\")>'",
        "<+secrets.getValue(\"<+pipeline.variables.id>\")>",
        "<+pipeline.variables.<+pipeline.variables.name>>",
    ] {
        let variables = format!(
            "{variables}    - name: name\n      type: String\n      value: token\n    - name: token\n      type: Secret\n      value: tok\n"
        );
        let source = pipeline_with(&variables, value);
        let resolution = resolve(&source, json!({"trigger": {"payload": {"x": "1"}}}));
        assert!(
            !resolution.has_errors(),
            "{value}: {:#?}",
            resolution.diagnostics
        );
        assert_eq!(resolution.stages[0].steps[0].secrets, ["tok"], "{value}");
    }
}

#[test]
fn runtime_input_choosing_secret_id_allowed() {
    let variables = "  variables:\n    - name: id\n      type: String\n      value: <+input>\n";
    let source = pipeline_with(variables, "<+secrets.getValue(<+pipeline.variables.id>)>");
    let arguments = [("pipeline.variables.id".to_string(), "tok".to_string())];
    let resolution = pipeline::resolve(&source, "p.yaml", &arguments, &[], &json!({}));
    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
    assert_eq!(resolution.stages[0].steps[0].secrets, ["tok"]);
}

/// Returns run-time data whose map, list and number values choose an id.
fn whole_value_data() -> Json {
    json!({
        "trigger": {"payload": {"sid": "deploy_key", "list": ["deploy_key"], "idx": 1}},
        "codebase": {"branch": "deploy_key"},
    })
}

/// Asserts that `value` is rejected because run-time data at `data_path`
/// chose its secret id, and that the step lists no secret.
fn assert_id_from_data(value: &str, data_path: &str) {
    let source = pipeline_with("", value);
    let resolution = resolve(&source, whole_value_data());

    let message = data_error(&resolution);
    assert!(message.contains("secret `"), "{value}: {message}");
    assert!(
        message.contains(&format!("`{data_path}")),
        "{value}: {message}"
    );
    let step = &resolution.stages[0].steps[0];
    assert!(step.secrets.is_empty(), "{value}: {:?}", step.secrets);
    assert_eq!(env_x(&resolution), Json::Null, "{value}");
}

#[test]
fn payload_map_get_choosing_id_rejected() {
    assert_id_from_data(
        "<+secrets.getValue(<+trigger.payload>.get(\"sid\"))>",
        "trigger.payload",
    );
}

#[test]
fn payload_map_index_choosing_id_rejected() {
    assert_id_from_data(
        "<+secrets.getValue(<+trigger.payload>[\"sid\"])>",
        "trigger.payload",
    );
}

#[test]
fn trigger_member_choosing_id_rejected() {
    assert_id_from_data("<+secrets.getValue(<+trigger>.payload.sid)>", "trigger");
}

#[test]
fn codebase_member_choosing_id_rejected() {
    assert_id_from_data("<+secrets.getValue(<+codebase>.branch)>", "codebase");
}

#[test]
fn payload_list_item_choosing_id_rejected() {
    assert_id_from_data(
        "<+secrets.getValue(<+trigger.payload.list>[0])>",
        "trigger.payload.list",
    );
}

#[test]
fn json_select_over_payload_rejected() {
    assert_id_from_data(
        "<+secrets.getValue(<+json.select(\"sid\", <+trigger.payload>)>)>",
        "trigger.payload",
    );
}

#[test]
fn json_object_over_payload_rejected() {
    assert_id_from_data(
        "<+secrets.getValue(<+json.object(<+trigger.payload>).sid>)>",
        "trigger.payload",
    );
}

#[test]
fn payload_number_as_list_index_rejected() {
    assert_id_from_data(
        "<+secrets.getValue([\"x\",\"tok\"][<+trigger.payload.idx>])>",
        "trigger.payload.idx",
    );
}

#[test]
fn payload_number_as_get_argument_rejected() {
    assert_id_from_data(
        "<+secrets.getValue([\"x\",\"tok\"].get(<+trigger.payload.idx>))>",
        "trigger.payload.idx",
    );
}

#[test]
fn payload_number_as_split_index_rejected() {
    assert_id_from_data(
        "<+secrets.getValue(\"x,tok\".split(\",\")[<+trigger.payload.idx>])>",
        "trigger.payload.idx",
    );
}

#[test]
fn payload_number_as_substring_argument_rejected() {
    assert_id_from_data(
        "<+secrets.getValue(\"tokx\".substring(0, <+trigger.payload.idx> + 2))>",
        "trigger.payload.idx",
    );
}

#[test]
fn file_variable_as_map_key_allowed() {
    let variables = "  variables:\n    - name: k\n      type: String\n      value: b\n";
    // Quoted for YAML, where `: ` would start a mapping.
    let value = "'<+secrets.getValue({\"a\": \"x\", \"b\": \"tok\"}[<+pipeline.variables.k>])>'";
    let source = pipeline_with(variables, value);
    let resolution = resolve(&source, whole_value_data());
    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
    assert_eq!(resolution.stages[0].steps[0].secrets, ["tok"]);
}

#[test]
fn map_read_variable_choosing_secret_id_rejected() {
    let variables =
        "  variables:\n    - name: pv\n      type: String\n      value: <+trigger.payload.sid>\n";
    for value in [
        "<+secrets.getValue(<+pipeline.variables>.pv)>",
        "<+secrets.getValue(<+pipeline.variables>[\"pv\"])>",
        "<+secrets.getValue(<+pipeline.variables>.get(\"pv\"))>",
    ] {
        let source = pipeline_with(variables, &format!("'{value}'"));
        let resolution = resolve(&source, id_data());

        let message = data_error(&resolution);
        assert!(
            message.contains("secret `deploy_key`"),
            "{value}: {message}"
        );
        assert!(
            message.contains("`trigger.payload.sid`"),
            "{value}: {message}"
        );
        let step = &resolution.stages[0].steps[0];
        assert!(step.secrets.is_empty(), "{value}: {:?}", step.secrets);
    }
}

/// Returns run-time data whose strings equal the secret ids `tok` and
/// `other` that the pipeline file writes.
fn payload_with_ids() -> Json {
    json!({"trigger": {"payload": {"a": "tok", "b": "other", "ids": ["tok"]}}})
}

#[test]
fn payload_string_equal_to_file_id_allowed() {
    let variables = "  variables:\n    - name: id\n      type: String\n      value: tok\n    - name: asked\n      type: String\n      value: <+input>\n";
    let arguments = [("pipeline.variables.asked".to_string(), "other".to_string())];
    for (value, secret) in [
        ("<+secrets.getValue(<+pipeline.variables.id>)>", "tok"),
        ("<+secrets.getValue(\"tok\")>", "tok"),
        ("<+secrets.getValue(<+pipeline.variables.asked>)>", "other"),
    ] {
        let source = pipeline_with(variables, value);
        let resolution = pipeline::resolve(&source, "p.yaml", &arguments, &[], &payload_with_ids());
        assert!(
            !resolution.has_errors(),
            "{value}: {:#?}",
            resolution.diagnostics
        );
        assert_eq!(resolution.stages[0].steps[0].secrets, [secret], "{value}");
    }
}

#[test]
fn payload_string_equal_to_file_matrix_id_allowed() {
    let source = matrix_pipeline("k: [tok, other]", "<+secrets.getValue(<+matrix.k>)>");
    let resolution = resolve(&source, payload_with_ids());
    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
    let secrets: Vec<_> = resolution.stages[0]
        .steps
        .iter()
        .map(|step| step.secrets.clone())
        .collect();
    assert_eq!(secrets, [["tok"], ["other"]]);
}

#[test]
fn matrix_from_payload_choosing_id_rejected() {
    let source = matrix_pipeline(
        "k: <+trigger.payload.ids>",
        "<+secrets.getValue(<+matrix.k>)>",
    );
    let resolution = resolve(&source, payload_with_ids());
    let message = data_error(&resolution);
    assert!(message.contains("secret `tok`"), "{message}");
    assert!(
        resolution.stages[0]
            .steps
            .iter()
            .all(|step| step.secrets.is_empty())
    );
}

/// Returns a pipeline whose stage `s` declares the String variable `sid`
/// (`tok`) and whose step `r` reads it in env variable `X` as `value`.
fn stage_variable_pipeline(value: &str) -> String {
    pipeline_with("", value).replace(
        "        type: CI\n",
        "        type: CI\n        variables:\n          - name: sid\n            type: String\n            value: tok\n",
    )
}

#[test]
fn context_stage_variable_choosing_id_rejected() {
    let context = json!({"pipeline": {"stages": {"s": {"variables": {"sid": "other"}}}}});
    for value in [
        "<+secrets.getValue(<+stage.variables.sid>)>",
        "<+secrets.getValue(<+pipeline.stages.s.variables.sid>)>",
    ] {
        let resolution = resolve(&stage_variable_pipeline(value), context.clone());
        let message = data_error(&resolution);
        assert!(message.contains("secret `other`"), "{value}: {message}");
        assert!(resolution.stages[0].steps[0].secrets.is_empty(), "{value}");
    }
}

#[test]
fn unread_context_key_leaves_file_id() {
    let context = json!({"stage": {"variables": {"sid": "other"}}});
    let source = stage_variable_pipeline("<+secrets.getValue(<+stage.variables.sid>)>");
    let resolution = resolve(&source, context);
    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
    assert_eq!(resolution.stages[0].steps[0].secrets, ["tok"]);
}

#[test]
fn data_key_of_variables_get_rejected() {
    let variables = "  variables:\n    - name: secvar\n      type: Secret\n      value: tok\n";
    let context =
        json!({"trigger": {"payload": {"name": "secvar", "suffix": "var", "stage": "s"}}});
    for value in [
        "<+pipeline.variables.get(<+trigger.payload.name>)>",
        "<+pipeline.variables.get(\"sec\" + <+trigger.payload.suffix>)>",
        "<+pipeline.get(\"variables\").get(<+trigger.payload.name>)>",
        "<+<+pipeline.variables>[<+trigger.payload.name>]>",
    ] {
        let resolution = resolve(&pipeline_with(variables, value), context.clone());
        let message = data_error(&resolution);
        assert!(message.contains("secret `tok`"), "{value}: {message}");
        assert!(resolution.stages[0].steps[0].secrets.is_empty(), "{value}");
    }

    let file_key = pipeline_with(variables, "<+pipeline.variables.get(\"secvar\")>");
    let resolution = resolve(&file_key, context);
    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
    assert_eq!(resolution.stages[0].steps[0].secrets, ["tok"]);
}

#[test]
fn map_chosen_by_data_rejects_its_secrets() {
    let source =
        stage_variable_pipeline("<+pipeline.stages.get(<+trigger.payload.stage>).variables.sid>")
            .replace(
                "            type: String\n            value: tok",
                "            type: Secret\n            value: tok",
            );
    let resolution = resolve(&source, json!({"trigger": {"payload": {"stage": "s"}}}));
    let message = data_error(&resolution);
    assert!(message.contains("secret `tok`"), "{message}");
}

#[test]
fn loop_identity_from_data_rejected() {
    let context = json!({"trigger": {"payload": {"sid": "tok", "two": 2}}});
    let named = matrix_pipeline(
        "k: [a]\n                      nodeName: <+trigger.payload.sid>",
        "<+secrets.getValue(<+strategy.identifierPostFix>.substring(1))>",
    );
    let message = data_error(&resolve(&named, context.clone()));
    assert!(message.contains("secret `tok`"), "{message}");

    let counted = pipeline_with("", "<+secrets.getValue([\"x\", \"tok\"][<+strategy.iterations> - 1])>")
        .replace(
            "                  spec:\n                    shell: Sh",
            "                  strategy:\n                    repeat:\n                      times: <+trigger.payload.two>\n                  spec:\n                    shell: Sh",
        );
    let resolution = resolve(&counted, context);
    assert!(
        resolution
            .diagnostics
            .iter()
            .any(|d| d.code == SECRET_FROM_DATA),
        "{:#?}",
        resolution.diagnostics
    );
    assert!(
        resolution.stages[0]
            .steps
            .iter()
            .all(|step| step.secrets.is_empty())
    );
}

#[test]
fn loop_identity_from_file_allowed() {
    let named = matrix_pipeline(
        "k: [a]\n                      nodeName: tok",
        "<+secrets.getValue(<+strategy.identifierPostFix>.substring(1))>",
    );
    let resolution = resolve(&named, json!({"trigger": {"payload": {"sid": "tok"}}}));
    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
    assert_eq!(resolution.stages[0].steps[0].secrets, ["tok"]);
}

#[test]
fn secret_variable_expression_gives_secret_id() {
    let variables = "  variables:\n    - name: env\n      type: String\n      value: dev\n    - name: pass\n      type: Secret\n      value: <+pipeline.variables.env>_pass\n    - name: payload\n      type: Secret\n      value: <+trigger.payload.sid>\n";
    let context = json!({"trigger": {"payload": {"sid": "tok"}}});

    let file = resolve(
        &pipeline_with(variables, "<+pipeline.variables.pass>"),
        context.clone(),
    );
    assert!(!file.has_errors(), "{:#?}", file.diagnostics);
    assert_eq!(file.stages[0].steps[0].secrets, ["dev_pass"]);
    assert_eq!(env_x(&file), json!("<+secrets.getValue(\"dev_pass\")>"));

    let data = resolve(
        &pipeline_with(variables, "<+pipeline.variables.payload>"),
        context,
    );
    let message = data_error(&data);
    assert!(message.contains("secret `tok`"), "{message}");
    assert!(data.stages[0].steps[0].secrets.is_empty());
}

#[test]
fn data_choosing_between_file_secrets_rejected() {
    let variables = "  variables:\n    - name: v1\n      type: Secret\n      value: s1\n    - name: v2\n      type: Secret\n      value: s2\n    - name: both\n      type: String\n      value: <+secrets.getValue(\"s1\")>,<+secrets.getValue(\"s2\")>\n";
    let context = json!({"trigger": {"payload": {"i": 1, "k": "b", "flag": "1", "n": 5}}});
    for value in [
        "<+[<+pipeline.variables.v1>, <+pipeline.variables.v2>][<+trigger.payload.i>]>",
        "'<+{\"a\": <+secrets.getValue(\"s1\")>, \"b\": <+secrets.getValue(\"s2\")>}.get(<+trigger.payload.k>)>'",
        "<+pipeline.variables.both.split(\",\")[<+trigger.payload.i>]>",
        "<+pipeline.variables.both.substring(<+trigger.payload.n>)>",
        "'<+<+trigger.payload.flag> == \"1\" ? <+secrets.getValue(\"s2\")> : <+secrets.getValue(\"s1\")>>'",
        "'<+trigger.payload.flag == \"1\" ? secrets.getValue(\"s2\") : secrets.getValue(\"s1\")>'",
    ] {
        let resolution = resolve(&pipeline_with(variables, value), context.clone());
        let errors: Vec<&str> = resolution
            .diagnostics
            .iter()
            .filter(|d| d.code == SECRET_FROM_DATA)
            .map(|d| d.message.as_str())
            .collect();
        assert_eq!(errors.len(), 1, "{value}: {:#?}", resolution.diagnostics);
        assert!(
            errors[0].contains("trigger.payload"),
            "{value}: {}",
            errors[0]
        );
        assert!(
            errors[0].contains("among the file's secrets"),
            "{value}: {}",
            errors[0]
        );
    }

    let file_choice = "<+[<+pipeline.variables.v1>, <+pipeline.variables.v2>][1]>";
    let resolution = resolve(&pipeline_with(variables, file_choice), context);
    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
}

#[test]
fn secret_variable_expression_with_quotes_and_alias() {
    let variables = "  variables:\n    - name: env\n      type: String\n      value: dev\n    - name: v1\n      type: Secret\n      value: s1\n    - name: concat\n      type: Secret\n      value: <+pipeline.variables.env + \"_pass\">\n    - name: mixed\n      type: Secret\n      value: <+pipeline.variables.env>_<+pipeline.variables.get(\"env\")>\n    - name: alias\n      type: Secret\n      value: <+pipeline.variables.v1>\n";
    for (value, id) in [
        ("<+pipeline.variables.concat>", "dev_pass"),
        ("<+pipeline.variables.mixed>", "dev_dev"),
        ("<+pipeline.variables.alias>", "s1"),
    ] {
        let resolution = resolve(&pipeline_with(variables, value), json!({}));
        assert!(
            !resolution.has_errors(),
            "{value}: {:#?}",
            resolution.diagnostics
        );
        assert_eq!(resolution.stages[0].steps[0].secrets, [id], "{value}");
    }
}

#[test]
fn file_axis_beside_data_axis_allowed() {
    let context = json!({"trigger": {"payload": {"list": ["other"]}}});
    let axes = "d: <+trigger.payload.list>\n                      k: [tok]";
    let file_axis = matrix_pipeline(axes, "<+secrets.getValue(<+matrix.k>)>");
    let resolution = resolve(&file_axis, context.clone());
    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
    assert_eq!(resolution.stages[0].steps[0].secrets, ["tok"]);

    for value in [
        "<+secrets.getValue(<+matrix.d>)>",
        "<+secrets.getValue([\"other\"][<+strategy.iteration>])>",
    ] {
        let resolution = resolve(&matrix_pipeline(axes, value), context.clone());
        let message = data_error(&resolution);
        assert!(message.contains("secret `other`"), "{value}: {message}");
    }
}

#[test]
fn whole_map_with_secret_reported_without_data() {
    let variables = "  variables:\n    - name: token\n      type: Secret\n      value: tok\n";
    let resolution = resolve(
        &pipeline_with(variables, "<+pipeline.variables>"),
        json!({}),
    );
    let errors: Vec<(&str, &str)> = resolution
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| (d.code.as_str(), d.message.as_str()))
        .collect();
    assert_eq!(errors.len(), 1, "{:#?}", resolution.diagnostics);
    assert_eq!(errors[0].0, "secret-opaque");
    assert!(
        errors[0].1.contains("the reference text of secret `tok`"),
        "{}",
        errors[0].1
    );
}

#[test]
fn unclosed_secret_call_reported_without_id() {
    let variables = "  variables:\n    - name: token\n      type: Secret\n      value: tok\n";
    let value = "'<+secrets.getValue( and <+pipeline.variables.token>'";
    let resolution = resolve(&pipeline_with(variables, value), json!({}));
    let errors: Vec<&basso_core::Diagnostic> = resolution
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert_eq!(errors.len(), 1, "{:#?}", resolution.diagnostics);
    assert_eq!(errors[0].code, "secret-opaque");
    assert!(
        errors[0]
            .message
            .contains("renders secret reference text (`<+secrets.getValue(`)"),
        "{}",
        errors[0].message
    );
    let help = errors[0].help.as_deref().unwrap_or_default();
    assert!(help.contains("unclosed `<+secrets.getValue(`"), "{help}");
}

#[test]
fn secret_variable_id_from_step_output_checked() {
    let variables = "  variables:
    - name: plain
      type: String
      value: <+pipeline.stages.s.spec.execution.steps.r.output.outputVariables.ID>
    - name: direct
      type: Secret
      value: <+pipeline.stages.s.spec.execution.steps.r.output.outputVariables.ID>
    - name: indirect
      type: Secret
      value: <+pipeline.variables.plain>
    - name: fixed
      type: Secret
      value: deploy_key
";
    let source = pipeline_with(variables, "plain");
    let diagnostics = basso_core::pipeline::check(&source, "p.yaml");
    let rejected: Vec<&str> = diagnostics
        .iter()
        .filter(|d| d.code == "secret-from-run-time-data")
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(rejected.len(), 2, "{diagnostics:#?}");
    assert!(
        rejected[0].contains("`Secret` variable `direct`"),
        "{}",
        rejected[0]
    );
    assert!(
        rejected[1].contains("`Secret` variable `indirect`"),
        "{}",
        rejected[1]
    );
}

#[test]
fn data_shifting_secret_text_rejected() {
    let variables = "  variables:\n    - name: mixed\n      type: String\n      value: '<+trigger.payload.user>,<+secrets.getValue(\"s1\")>,<+secrets.getValue(\"s2\")>'\n";
    let context = json!({"trigger": {"payload": {"user": "a,b"}}});
    for value in [
        "'<+pipeline.variables.mixed.split(\",\")[2]>'",
        "<+pipeline.variables.mixed.substring(4)>",
    ] {
        let resolution = resolve(&pipeline_with(variables, value), context.clone());
        let message = data_error(&resolution);
        assert!(
            message.contains("trigger.payload.user"),
            "{value}: {message}"
        );
    }
    let whole = resolve(
        &pipeline_with(variables, "<+pipeline.variables.mixed>"),
        context,
    );
    assert!(!whole.has_errors(), "{:#?}", whole.diagnostics);
}

#[test]
fn data_deciding_whether_not_which_secret_allowed() {
    let context = json!({"trigger": {"payload": {"pull_request": {"number": 5}, "x": "1"}}});
    for value in [
        "'<+<+trigger.payload.pull_request> != null ? <+secrets.getValue(\"tok\")> : \"\">'",
        "'<+<+trigger.payload.x> == \"1\" ? <+secrets.getValue(\"tok\")> : <+secrets.getValue(\"tok\")>>'",
    ] {
        let resolution = resolve(&pipeline_with("", value), context.clone());
        assert!(
            !resolution.has_errors(),
            "{value}: {:#?}",
            resolution.diagnostics
        );
        assert_eq!(resolution.stages[0].steps[0].secrets, ["tok"], "{value}");
    }
}

#[test]
fn absent_data_choosing_secret_rejected() {
    let choice = "'<+<+codebase.prNumber> == null ? <+secrets.getValue(\"a\")> : <+secrets.getValue(\"b\")>>'";
    let pull_request = json!({"codebase": {"prNumber": 7}});
    let push = json!({"codebase": {"branch": "main"}});
    for context in [pull_request, push, json!({})] {
        let resolution = resolve(&pipeline_with("", choice), context.clone());
        let message = data_error(&resolution);
        assert!(
            message.contains("codebase.prNumber"),
            "{context}: {message}"
        );
    }

    let whether = "'<+<+codebase.prNumber> == null ? \"\" : <+secrets.getValue(\"a\")>>'";
    let resolution = resolve(&pipeline_with("", whether), json!({}));
    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
}

#[test]
fn absent_data_beside_step_output_rejected() {
    let choice = "'<+steps.a.output.outputVariables.v.length()>-<+<+codebase.prNumber> == null ? <+secrets.getValue(\"a\")> : <+secrets.getValue(\"b\")>>'";
    let source = pipeline_with("", choice).replace(
        "            steps:\n",
        "            steps:\n              - step:\n                  type: Run\n                  name: a\n                  identifier: a\n                  spec:\n                    shell: Sh\n                    command: export v=1\n                    outputVariables:\n                      - name: v\n",
    );
    let resolution = resolve(&source, json!({}));
    let message = data_error(&resolution);
    assert!(message.contains("codebase.prNumber"), "{message}");
}

#[test]
fn secret_opaque_message_quotes_the_block() {
    let variables = "  variables:\n    - name: token\n      type: Secret\n      value: tok\n";
    let source = pipeline_with(variables, "x").replace(
        "command: echo \"$X\"",
        "command: |\n                      echo start\n                      export O1='<+pipeline.variables>'\n                      echo end",
    );
    let resolution = resolve(&source, json!({}));
    let opaque: Vec<&str> = resolution
        .diagnostics
        .iter()
        .filter(|d| d.code == "secret-opaque")
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(opaque.len(), 1, "{:#?}", resolution.diagnostics);
    assert!(
        opaque[0].starts_with("`<+pipeline.variables>` renders"),
        "{}",
        opaque[0]
    );
    assert!(!opaque[0].contains('\n'), "{}", opaque[0]);
}

#[test]
fn context_secret_variable_rejected() {
    let variables = "  variables:\n    - name: tok\n      type: Secret\n      value: db_password\n    - name: plain\n      type: String\n      value: a\n";
    let source = pipeline_with(variables, "<+pipeline.variables.tok>");
    let context = json!({"pipeline": {"variables": {"tok": "hunter2-plain-value", "plain": "b"}}});
    let resolution = resolve(&source, context);
    let message = data_error(&resolution);
    assert!(message.contains("`pipeline.variables.tok`"), "{message}");
    assert!(message.contains("`Secret` variable"), "{message}");
    let plain_overrides = resolution
        .diagnostics
        .iter()
        .filter(|d| {
            d.code == "context-overrides-file" && d.message.contains("`pipeline.variables.plain`")
        })
        .count();
    assert_eq!(plain_overrides, 1, "{:#?}", resolution.diagnostics);
    let printed = serde_json::to_string(&resolution.to_json()).unwrap();
    assert!(!printed.contains("hunter2-plain-value"), "{printed}");

    // A variable name may contain `.`, which is one key of the context.
    let dotted =
        "  variables:\n    - name: db.pass\n      type: Secret\n      value: db_password\n";
    let source = pipeline_with(dotted, "<+pipeline.variables.get(\"db.pass\")>");
    let context = json!({"pipeline": {"variables": {"db.pass": "hunter2-plain-value"}}});
    let resolution = resolve(&source, context);
    let message = data_error(&resolution);
    assert!(
        message.contains("`pipeline.variables.db.pass`"),
        "{message}"
    );
    let printed = serde_json::to_string(&resolution.to_json()).unwrap();
    assert!(!printed.contains("hunter2-plain-value"), "{printed}");
}

#[test]
fn spliced_data_choosing_secret_rejected() {
    let variables = "  variables:\n    - name: sa\n      type: Secret\n      value: a\n    - name: sb\n      type: Secret\n      value: b\n";
    let context = json!({"trigger": {"payload": {"env": "prod", "i": "ab"}}});
    for value in [
        "'<+\"<+trigger.payload.env>\" == \"prod\" ? <+secrets.getValue(\"a\")> : <+secrets.getValue(\"b\")>>'",
        "'<+\"<+trigger.payload.env>\".equals(\"prod\") ? <+pipeline.variables.sa> : <+pipeline.variables.sb>>'",
        "'<+[<+secrets.getValue(\"a\")>, <+secrets.getValue(\"b\")>][\"<+trigger.payload.i>\".length() - 1]>'",
        "'<+\"<+codebase.prNumber>\" == \"null\" ? <+secrets.getValue(\"a\")> : <+secrets.getValue(\"b\")>>'",
    ] {
        let resolution = resolve(&pipeline_with(variables, value), context.clone());
        let message = data_error(&resolution);
        assert!(
            message.contains("among the file's secrets"),
            "{value}: {message}"
        );
    }

    let whether = "'<+\"<+trigger.payload.env>\" == \"prod\" ? <+secrets.getValue(\"a\")> : \"\">'";
    let resolution = resolve(&pipeline_with(variables, whether), context);
    assert!(!resolution.has_errors(), "{:#?}", resolution.diagnostics);
}

#[test]
fn context_group_secret_variable_rejected() {
    let step = pipeline_with("", "<+stepGroup.variables.gtok>");
    let (head, step_lines) = step.split_at(step.find("              - step:\n").unwrap());
    let nested: String = step_lines
        .lines()
        .map(|line| format!("    {line}\n"))
        .collect();
    let source = format!(
        "{head}              - stepGroup:\n                  name: g\n                  identifier: g\n                  variables:\n                    - name: gtok\n                      type: Secret\n                      value: real_tok\n                  steps:\n{nested}"
    );
    let plain = resolve(&source, json!({}));
    assert!(!plain.has_errors(), "{:#?}", plain.diagnostics);

    let context = json!({"pipeline": {"stages": {"s": {"spec": {"execution": {"steps": {"g": {"variables": {"gtok": "LEAK"}}}}}}}}});
    let resolution = resolve(&source, context);
    let message = data_error(&resolution);
    assert!(message.contains("variables.gtok`"), "{message}");
}
