//! Checks of `outputVariables` entries and the names the runner masks.

use basso_core::Diagnostic;
use basso_core::pipeline;

/// Returns a pipeline with one Run step whose `outputVariables` are the
/// given YAML lines, each already indented as an item of the list.
fn pipeline_with_outputs(entries: &str) -> String {
    let entries: String = entries
        .lines()
        .map(|line| format!("                      {line}\n"))
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
                    command: export SO=x
                    outputVariables:
{entries}"
    )
}

fn with_code<'d>(diagnostics: &'d [Diagnostic], code: &str) -> Vec<&'d Diagnostic> {
    diagnostics.iter().filter(|d| d.code == code).collect()
}

#[test]
fn output_variable_types_accepted() {
    for kind in ["String", "Number", "Secret"] {
        let source = pipeline_with_outputs(&format!("- name: SO\n  type: {kind}"));
        let diagnostics = pipeline::check(&source, "p.yaml");
        assert!(diagnostics.is_empty(), "{kind}: {diagnostics:?}");
    }
}

#[test]
fn output_variable_type_case_sensitive() {
    let source = pipeline_with_outputs("- name: SO\n  type: secret");
    let diagnostics = pipeline::check(&source, "p.yaml");

    let found = with_code(&diagnostics, "unknown-variable-type");
    assert_eq!(found.len(), 1, "{diagnostics:?}");
    assert!(found[0].is_error());
    assert_eq!(found[0].message, "unknown output variable type `secret`");
    let help = found[0].help.as_deref().unwrap_or_default();
    assert!(help.contains("`Secret`"), "{help}");
    let line = source
        .lines()
        .position(|l| l.contains("type: secret"))
        .unwrap()
        + 1;
    assert_eq!(found[0].span.line, line);
}

#[test]
fn output_variable_type_not_text() {
    let source = pipeline_with_outputs("- name: SO\n  type: [Secret]");
    let diagnostics = pipeline::check(&source, "p.yaml");
    assert_eq!(
        with_code(&diagnostics, "wrong-type").len(),
        1,
        "{diagnostics:?}"
    );
}

#[test]
fn output_variable_unknown_key_warned() {
    let source = pipeline_with_outputs("- name: SO\n  typ: Secret\n  description: a token");
    let diagnostics = pipeline::check(&source, "p.yaml");

    let found = with_code(&diagnostics, "unknown-key");
    assert_eq!(found.len(), 1, "{diagnostics:?}");
    assert!(!found[0].is_error());
    assert_eq!(found[0].message, "unknown key `typ` in an output variable");
    let help = found[0].help.as_deref().unwrap_or_default();
    assert!(help.contains("`type`"), "{help}");
}

#[test]
fn secret_output_variables_listed() {
    let source = pipeline_with_outputs(
        "- name: SO\n  type: Secret\n- name: PLAIN\n  type: String\n- name: UNTYPED",
    );
    let resolution = pipeline::resolve(&source, "p.yaml", &[], &[], &serde_json::json!({}));
    assert!(
        resolution.diagnostics.is_empty(),
        "{:?}",
        resolution.diagnostics
    );

    let step = &resolution.stages[0].steps[0];
    assert_eq!(step.output_variables(), ["SO", "PLAIN", "UNTYPED"]);
    assert_eq!(step.secret_output_variables(), ["SO"]);
}

#[test]
fn output_variable_value_warned() {
    let source = pipeline_with_outputs(
        "- name: workdir\n  type: String\n  value: WORK_DIR\n- name: SAME\n  value: SAME",
    );
    let diagnostics = pipeline::check(&source, "p.yaml");

    assert!(
        with_code(&diagnostics, "unknown-key").is_empty(),
        "{diagnostics:?}"
    );
    let found = with_code(&diagnostics, "output-value-ignored");
    assert_eq!(found.len(), 1, "{diagnostics:?}");
    assert!(!found[0].is_error());
    assert!(
        found[0].message.contains("`WORK_DIR`"),
        "{}",
        found[0].message
    );
    let help = found[0].help.as_deref().unwrap_or_default();
    assert_eq!(
        help,
        "also run `export workdir=\"$WORK_DIR\"` at the end of the script"
    );
}
