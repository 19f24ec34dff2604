//! A secret given to a field that takes a duration, port, user id or name
//! from a fixed list is an error in both `check` and `resolve`.

use basso_core::Diagnostic;
use basso_core::pipeline;

const PIPELINE: &str = r#"pipeline:
  name: p
  identifier: p
  timeout: <+secrets.getValue("pipeline_timeout")>
  stages:
    - stage:
        name: s
        identifier: s
        type: CI
        timeout: <+secrets.getValue("stage_timeout")>
        spec:
          cloneCodebase: false
          platform: {os: Linux, arch: Amd64}
          runtime: {type: Cloud, spec: {}}
          execution:
            steps:
              - step:
                  type: Background
                  name: svc
                  identifier: svc
                  spec:
                    shell: <+secrets.getValue("shell")>
                    command: sleep 5
                    portBindings:
                      "<+secrets.getValue('host')>": "<+secrets.getValue('container')>"
              - step:
                  type: Run
                  name: a
                  identifier: a
                  timeout: <+secrets.getValue("one")>
                  spec:
                    shell: Sh
                    command: echo <+secrets.getValue("one")>
                    imagePullPolicy: <+secrets.getValue("policy")>
                    runAsUser: <+secrets.getValue("uid")>
                    envVariables:
                      TOKEN: <+secrets.getValue("one")>
"#;

/// Returns the `secret-not-allowed` errors as (line, message), sorted by line.
fn secret_errors(diagnostics: &[Diagnostic]) -> Vec<(usize, String)> {
    let mut found: Vec<(usize, String)> = diagnostics
        .iter()
        .filter(|d| d.code == "secret-not-allowed")
        .inspect(|d| assert!(d.is_error(), "{d:?}"))
        .map(|d| (d.span.line, d.message.clone()))
        .collect();
    found.sort();
    found
}

/// Returns the 1-based line of the first line of `PIPELINE` that contains
/// `needle`.
fn line_of(needle: &str) -> usize {
    PIPELINE
        .lines()
        .position(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("`{needle}` not in the pipeline"))
        + 1
}

fn expected() -> Vec<(usize, String)> {
    let mut expected = vec![
        (line_of("pipeline_timeout"), "a secret cannot be a timeout"),
        (line_of("stage_timeout"), "a secret cannot be a timeout"),
        (line_of("\"shell\""), "a secret cannot be a shell"),
        (line_of("'host'"), "a secret cannot be a port"),
        (line_of("'container'"), "a secret cannot be a port"),
        (
            line_of("timeout: <+secrets.getValue(\"one\")>"),
            "a secret cannot be a timeout",
        ),
        (
            line_of("\"policy\""),
            "a secret cannot be an image pull policy",
        ),
        (line_of("\"uid\""), "a secret cannot be a user id"),
    ];
    expected.sort();
    expected
        .into_iter()
        .map(|(line, message)| (line, message.to_string()))
        .collect()
}

#[test]
fn check_rejects_secret_in_typed_fields() {
    let diagnostics = pipeline::check(PIPELINE, "p.yaml");
    assert_eq!(secret_errors(&diagnostics), expected(), "{diagnostics:?}");
}

#[test]
fn resolve_rejects_secret_in_typed_fields() {
    let resolution = pipeline::resolve(PIPELINE, "p.yaml", &[], &[], &serde_json::json!({}));
    assert_eq!(
        secret_errors(&resolution.diagnostics),
        expected(),
        "{:?}",
        resolution.diagnostics
    );
}

#[test]
fn secret_allowed_in_text_fields() {
    let source = PIPELINE
        .lines()
        .filter(|line| {
            !line.contains("getValue") || line.contains("TOKEN") || line.contains("command")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let diagnostics = pipeline::check(&source, "p.yaml");
    assert!(secret_errors(&diagnostics).is_empty(), "{diagnostics:?}");
}
