//! A secret given to a field that takes a duration, port, user id, report
//! path or name from a fixed list is an error in both `check` and `resolve`.

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
    // (a text on the field's line, the field's value, its role)
    let fields = [
        (
            "pipeline_timeout",
            r#"<+secrets.getValue("pipeline_timeout")>"#,
            "a timeout",
        ),
        (
            "stage_timeout",
            r#"<+secrets.getValue("stage_timeout")>"#,
            "a timeout",
        ),
        ("\"shell\"", r#"<+secrets.getValue("shell")>"#, "a shell"),
        ("'host'", "<+secrets.getValue('host')>", "a port"),
        ("'container'", "<+secrets.getValue('container')>", "a port"),
        (
            "timeout: <+secrets.getValue(\"one\")>",
            r#"<+secrets.getValue("one")>"#,
            "a timeout",
        ),
        (
            "\"policy\"",
            r#"<+secrets.getValue("policy")>"#,
            "an image pull policy",
        ),
        ("\"uid\"", r#"<+secrets.getValue("uid")>"#, "a user id"),
    ];
    let mut expected: Vec<(usize, String)> = fields
        .into_iter()
        .map(|(needle, value, role)| {
            let message = format!("`{value}` requests a secret, but a secret cannot be {role}");
            (line_of(needle), message)
        })
        .collect();
    expected.sort();
    expected
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

/// A pipeline whose typed fields read secrets through variables and
/// runtime inputs, never by a reference written in the field itself.
const INDIRECT: &str = r#"pipeline:
  name: p
  identifier: p
  variables:
    - name: text
      type: String
      value: <+secrets.getValue("from_text")>
    - name: handle
      type: Secret
      value: from_handle
  stages:
    - stage:
        name: s
        identifier: s
        type: CI
        timeout: <+pipeline.variables.text>
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
                    command: sleep 5
                    portBindings:
                      "<+pipeline.variables.text>": <+pipeline.variables.handle>
              - step:
                  type: Run
                  name: a
                  identifier: a
                  timeout: <+pipeline.variables.handle>
                  spec:
                    shell: <+pipeline.variables.text>
                    command: echo <+pipeline.variables.handle>
                    imagePullPolicy: <+pipeline.variables.handle>
                    runAsUser: <+pipeline.variables.text>
                    envVariables:
                      TOKEN: <+pipeline.variables.handle>
                      timeout: <+pipeline.variables.text>
              - step:
                  type: Run
                  name: b
                  identifier: b
                  timeout: <+input>
                  spec:
                    command: echo b
                    privileged: <+input>
                    runAsUser: <+input>
"#;

const STEP_B: &str = "pipeline.stages.s.spec.execution.steps.b";

/// Returns the 1-based line of the first line of `INDIRECT` that contains
/// `needle` after the line that contains `after`.
fn indirect_line(after: &str, needle: &str) -> usize {
    let start = INDIRECT
        .lines()
        .position(|line| line.contains(after))
        .unwrap_or_else(|| panic!("`{after}` not in the pipeline"));
    INDIRECT
        .lines()
        .enumerate()
        .skip(start)
        .find(|(_, line)| line.contains(needle))
        .unwrap_or_else(|| panic!("`{needle}` not after `{after}`"))
        .0
        + 1
}

#[test]
fn resolve_rejects_secret_from_variables() {
    let resolution = pipeline::resolve(INDIRECT, "p.yaml", &[], &[], &serde_json::json!({}));
    let arguments: Vec<(String, String)> = [
        ("timeout", "10m"),
        ("spec.privileged", "true"),
        ("spec.runAsUser", "1000"),
    ]
    .iter()
    .map(|(field, value)| (format!("{STEP_B}.{field}"), value.to_string()))
    .collect();
    let resolution_with_inputs =
        pipeline::resolve(INDIRECT, "p.yaml", &arguments, &[], &serde_json::json!({}));
    for diagnostics in [&resolution.diagnostics, &resolution_with_inputs.diagnostics] {
        let found = secret_errors(diagnostics);
        let text = "through `<+pipeline.variables.text>`";
        let handle = "through `<+pipeline.variables.handle>`";
        let expected = vec![
            (
                indirect_line("type: CI", "timeout:"),
                format!(
                    "`timeout` resolves to secret `from_text` {text}, but a secret cannot be a timeout"
                ),
            ),
            (
                indirect_line("portBindings", "<+pipeline"),
                format!(
                    "`portBindings` resolves to secret `from_text` {text}, but a secret cannot be a port"
                ),
            ),
            (
                indirect_line("portBindings", "<+pipeline"),
                format!(
                    "`portBindings` resolves to secret `from_handle` {handle}, but a secret cannot be a port"
                ),
            ),
            (
                indirect_line("identifier: a", "timeout:"),
                format!(
                    "`timeout` resolves to secret `from_handle` {handle}, but a secret cannot be a timeout"
                ),
            ),
            (
                indirect_line("identifier: a", "shell:"),
                format!(
                    "`shell` resolves to secret `from_text` {text}, but a secret cannot be a shell"
                ),
            ),
            (
                indirect_line("identifier: a", "imagePullPolicy:"),
                format!(
                    "`imagePullPolicy` resolves to secret `from_handle` {handle}, but a secret cannot be an image pull policy"
                ),
            ),
            (
                indirect_line("identifier: a", "runAsUser:"),
                format!(
                    "`runAsUser` resolves to secret `from_text` {text}, but a secret cannot be a user id"
                ),
            ),
        ];
        let mut expected = expected;
        expected.sort();
        assert_eq!(found, expected, "{diagnostics:#?}");
    }
}

#[test]
fn resolve_rejects_secret_from_runtime_inputs() {
    let reference = r#"<+secrets.getValue("supplied")>"#;
    let arguments: Vec<(String, String)> = ["timeout", "spec.privileged", "spec.runAsUser"]
        .iter()
        .map(|field| (format!("{STEP_B}.{field}"), reference.to_string()))
        .collect();
    let resolution = pipeline::resolve(INDIRECT, "p.yaml", &arguments, &[], &serde_json::json!({}));
    let found: Vec<_> = secret_errors(&resolution.diagnostics)
        .into_iter()
        .filter(|(line, _)| *line > indirect_line("identifier: b", "identifier: b"))
        .collect();
    let through = format!("secret `supplied` through `{reference}`");
    let expected = vec![
        (
            indirect_line("identifier: b", "timeout:"),
            format!("`timeout` resolves to {through}, but a secret cannot be a timeout"),
        ),
        (
            indirect_line("identifier: b", "privileged:"),
            format!("`privileged` resolves to {through}, but a secret cannot be a boolean"),
        ),
        (
            indirect_line("identifier: b", "runAsUser:"),
            format!("`runAsUser` resolves to {through}, but a secret cannot be a user id"),
        ),
    ];
    assert_eq!(found, expected, "{:#?}", resolution.diagnostics);
    for diagnostic in &resolution.diagnostics {
        if diagnostic.code == "secret-not-allowed" {
            assert!(diagnostic.help.is_some(), "{diagnostic:?}");
        }
    }
}

#[test]
fn secret_in_text_field_resolves() {
    let resolution = pipeline::resolve(INDIRECT, "p.yaml", &[], &[], &serde_json::json!({}));
    let step = resolution.stages[0]
        .steps
        .iter()
        .find(|step| step.identifier == "a")
        .expect("step `a`");
    assert_eq!(
        step.spec["command"],
        r#"echo <+secrets.getValue("from_handle")>"#
    );
    assert_eq!(
        step.spec["envVariables"]["TOKEN"],
        r#"<+secrets.getValue("from_handle")>"#
    );
    assert_eq!(
        step.spec["envVariables"]["timeout"],
        r#"<+secrets.getValue("from_text")>"#
    );
    assert_eq!(step.spec["runAsUser"], serde_json::Value::Null);
}

#[test]
fn secret_rejection_adds_no_other_errors() {
    let resolution = pipeline::resolve(INDIRECT, "p.yaml", &[], &[], &serde_json::json!({}));
    let step_b = indirect_line("identifier: b", "identifier: b");
    let others: Vec<_> = resolution
        .diagnostics
        .iter()
        .filter(|d| d.is_error() && d.code != "secret-not-allowed" && d.span.line < step_b)
        .collect();
    assert!(others.is_empty(), "{others:#?}");
}

/// A file-defined stage variable that contains a secret, read by a loop, a
/// condition and resource limits. The loop comes first, because its
/// evaluated values once marked the variable's text as run-time data.
const STAGE_SECRET: &str = r#"pipeline:
  name: p
  identifier: p
  stages:
    - stage:
        name: s
        identifier: s
        type: CI
        variables:
          - name: pr
            type: String
            value: <+secrets.getValue("flag")>
        spec:
          cloneCodebase: false
          platform: {os: Linux, arch: Amd64}
          runtime: {type: Cloud, spec: {}}
          execution:
            steps:
              - step:
                  type: Run
                  name: d
                  identifier: d
                  strategy:
                    parallelism: <+stage.variables.pr>
                  spec:
                    shell: Sh
                    command: echo d
              - step:
                  type: Run
                  name: e
                  identifier: e
                  when:
                    stageStatus: Success
                    condition: <+stage.variables.pr>
                  spec:
                    shell: Sh
                    command: echo e
              - step:
                  type: Run
                  name: f
                  identifier: f
                  spec:
                    shell: Sh
                    command: echo <+stage.variables.pr>
                    resources:
                      limits:
                        cpu: <+stage.variables.pr>
                        memory: <+stage.variables.pr>
"#;

#[test]
fn stage_variable_secret_in_condition_and_limits() {
    let line = |needle: &str| {
        STAGE_SECRET
            .lines()
            .position(|l| l.contains(needle))
            .unwrap()
            + 1
    };
    let through = "resolves to secret `flag` through `<+stage.variables.pr>`";
    let mut expected = vec![
        (
            line("parallelism:"),
            format!("`parallelism` {through}, but a secret cannot be a loop value"),
        ),
        (
            line("condition:"),
            format!("`condition` {through}, but a secret cannot be a condition"),
        ),
        (
            line("cpu:"),
            format!("`cpu` {through}, but a secret cannot be a cpu quantity"),
        ),
        (
            line("memory:"),
            format!("`memory` {through}, but a secret cannot be a memory quantity"),
        ),
    ];
    expected.sort();

    let checked = pipeline::check(STAGE_SECRET, "p.yaml");
    let resolution = pipeline::resolve(STAGE_SECRET, "p.yaml", &[], &[], &serde_json::json!({}));
    for diagnostics in [&checked, &resolution.diagnostics] {
        assert_eq!(secret_errors(diagnostics), expected, "{diagnostics:#?}");
        let others: Vec<_> = diagnostics
            .iter()
            .filter(|d| d.is_error() && d.code != "secret-not-allowed")
            .collect();
        assert!(others.is_empty(), "{others:#?}");
    }
    // The text field still gets the secret.
    let step_f = resolution.stages[0]
        .steps
        .iter()
        .find(|s| s.identifier == "f")
        .unwrap();
    assert_eq!(step_f.secrets, ["flag"]);
}

/// Conditions that compare or measure a Secret variable, which the runner
/// cannot do, each on its own step.
const SECRET_CONDITIONS: &str = r#"pipeline:
  name: p
  identifier: p
  variables:
    - name: sv
      type: Secret
      value: flag
  stages:
    - stage:
        name: s
        identifier: s
        type: CI
        variables:
          - name: ss
            type: Secret
            value: stage_flag
        spec:
          cloneCodebase: false
          platform: {os: Linux, arch: Amd64}
          runtime: {type: Cloud, spec: {}}
          execution:
            steps:
              - step:
                  type: Run
                  name: a
                  identifier: a
                  when:
                    stageStatus: Success
                    condition: <+pipeline.variables.sv> == "yes"
                  spec:
                    command: echo a
                    outputVariables:
                      - name: o
              - step:
                  type: Run
                  name: b
                  identifier: b
                  when:
                    stageStatus: Success
                    condition: <+pipeline.variables.sv.length() > 3>
                  spec:
                    command: echo b
              - step:
                  type: Run
                  name: c
                  identifier: c
                  when:
                    stageStatus: Success
                    condition: <+pipeline.variables.sv>.length() > 3
                  spec:
                    command: echo c
              - step:
                  type: Run
                  name: d
                  identifier: d
                  when:
                    stageStatus: Success
                    condition: <+stage.variables.ss> != "no"
                  spec:
                    command: echo d
              - step:
                  type: Run
                  name: e
                  identifier: e
                  when:
                    stageStatus: Success
                    condition: <+steps.a.output.outputVariables.o> == "x" && <+pipeline.variables.sv> == "yes"
                  spec:
                    command: echo e
              - step:
                  type: Run
                  name: f
                  identifier: f
                  when:
                    stageStatus: Success
                    condition: <+secrets.getValue("flag")> == "yes"
                  spec:
                    command: echo f
"#;

#[test]
fn secret_read_by_condition_rejected() {
    let lines: Vec<&str> = SECRET_CONDITIONS.lines().collect();
    let condition_lines: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains("condition:"))
        .map(|i| i + 1)
        .collect();
    let read = |source: &str, line: usize| {
        let text = lines[line - 1].split_once("condition: ").unwrap().1;
        format!(
            "`condition` reads {source} in `{text}`, but a secret cannot be used in a condition"
        )
    };
    let variable = "a secret through `pipeline.variables.sv`";
    let expected = vec![
        (condition_lines[0], read(variable, condition_lines[0])),
        (condition_lines[1], read(variable, condition_lines[1])),
        (condition_lines[2], read(variable, condition_lines[2])),
        (
            condition_lines[3],
            read("a secret through `stage.variables.ss`", condition_lines[3]),
        ),
        (condition_lines[4], read(variable, condition_lines[4])),
        (
            condition_lines[5],
            read("secret `flag`", condition_lines[5]),
        ),
    ];

    let checked = pipeline::check(SECRET_CONDITIONS, "p.yaml");
    let resolution = pipeline::resolve(
        SECRET_CONDITIONS,
        "p.yaml",
        &[],
        &[],
        &serde_json::json!({}),
    );
    for diagnostics in [&checked, &resolution.diagnostics] {
        assert_eq!(secret_errors(diagnostics), expected, "{diagnostics:#?}");
        let help = diagnostics
            .iter()
            .filter(|d| d.code == "secret-not-allowed")
            .filter_map(|d| d.help.as_deref());
        for help in help {
            assert!(
                help.starts_with("compare a value that is not a secret"),
                "{help}"
            );
        }
    }
}

/// A Run step whose JUnit report paths request secrets: one written in the
/// path, one through a variable and one through a runtime input, and a
/// second step whose whole `paths` list is a runtime input.
const REPORTS: &str = r#"pipeline:
  name: p
  identifier: p
  variables:
    - name: text
      type: String
      value: <+secrets.getValue("from_text")>
  stages:
    - stage:
        name: s
        identifier: s
        type: CI
        spec:
          cloneCodebase: false
          platform: {os: Linux, arch: Amd64}
          runtime: {type: Cloud, spec: {}}
          execution:
            steps:
              - step:
                  type: Run
                  name: a
                  identifier: a
                  spec:
                    command: echo a
                    reports:
                      type: JUnit
                      spec:
                        paths:
                          - out/*.xml
                          - rep-<+secrets.getValue("long")>.xml
                          - <+pipeline.variables.text>
                          - <+input>.default(out/b.xml)
              - step:
                  type: Run
                  name: b
                  identifier: b
                  spec:
                    command: echo b
                    reports:
                      type: JUnit
                      spec:
                        paths: <+input>
"#;

/// Returns the `secret-not-allowed` errors as (line, column, message).
fn secret_errors_at(diagnostics: &[Diagnostic]) -> Vec<(usize, usize, String)> {
    let mut found: Vec<_> = diagnostics
        .iter()
        .filter(|d| d.code == "secret-not-allowed")
        .inspect(|d| assert!(d.help.is_some(), "{d:?}"))
        .map(|d| (d.span.line, d.span.column, d.message.clone()))
        .collect();
    found.sort();
    found
}

#[test]
fn report_path_secret_rejected() {
    let written = (
        30,
        29,
        r#"`rep-<+secrets.getValue("long")>.xml` requests a secret, but a secret cannot be a report path"#.to_string(),
    );
    let variable = (
        31,
        29,
        "`paths` resolves to secret `from_text` through `<+pipeline.variables.text>`, but a secret cannot be a report path".to_string(),
    );
    let checked = pipeline::check(REPORTS, "p.yaml");
    assert_eq!(
        secret_errors_at(&checked),
        [written.clone(), variable.clone()]
    );

    let supplied = r#"rep-<+secrets.getValue("supplied")>.xml"#;
    let steps = "pipeline.stages.s.spec.execution.steps";
    let arguments = [
        (
            format!("{steps}.a.spec.reports.spec.paths.3"),
            supplied.to_string(),
        ),
        (
            format!("{steps}.b.spec.reports.spec.paths"),
            format!("[out/d.xml, '{supplied}']"),
        ),
    ];
    let resolution = pipeline::resolve(REPORTS, "p.yaml", &arguments, &[], &serde_json::json!({}));
    // The message quotes only the block of a field with one block.
    let block = r#"<+secrets.getValue("supplied")>"#;
    let through = format!(
        "resolves to secret `supplied` through `{block}`, but a secret cannot be a report path"
    );
    assert_eq!(
        secret_errors_at(&resolution.diagnostics),
        [
            written,
            variable,
            (32, 29, format!("`paths` {through}")),
            (42, 32, format!("`paths` {through}")),
        ]
    );
}

#[test]
fn secret_matrix_axis_reported_once() {
    let source = r#"pipeline:
  name: p
  identifier: p
  stages:
    - stage:
        name: s
        identifier: s
        type: CI
        spec:
          cloneCodebase: false
          platform: {os: Linux, arch: Amd64}
          runtime: {type: Cloud, spec: {}}
          execution:
            steps:
              - step:
                  type: Run
                  name: b
                  identifier: b
                  strategy:
                    matrix:
                      k: [<+secrets.getValue("a")>, b]
                  spec:
                    shell: Sh
                    command: echo <+matrix.k>
"#;
    let checked = pipeline::check(source, "p.yaml");
    let resolution = pipeline::resolve(source, "p.yaml", &[], &[], &serde_json::json!({}));
    for diagnostics in [&checked, &resolution.diagnostics] {
        let errors: Vec<&str> = diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.code.as_str())
            .collect();
        assert_eq!(errors, ["secret-not-allowed"], "{diagnostics:#?}");
    }
}

#[test]
fn secret_in_entrypoint_warned() {
    let source = |entrypoint: &str| {
        format!(
            r#"pipeline:
  name: p
  identifier: p
  variables:
    - name: pw
      type: Secret
      value: pw
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
                  name: b
                  identifier: b
                  spec:
                    image: alpine
                    entrypoint: {entrypoint}
                    command: echo <+secrets.getValue("in_command")>
"#
        )
    };
    let warned = |text: &str| {
        let checked = pipeline::check(text, "p.yaml");
        let resolved = pipeline::resolve(text, "p.yaml", &[], &[], &serde_json::json!({}));
        [checked, resolved.diagnostics].map(|diagnostics| {
            diagnostics
                .iter()
                .filter(|d| d.code == "secret-in-arguments")
                .map(|d| (d.span.line, d.is_error()))
                .collect::<Vec<_>>()
        })
    };
    for entrypoint in [
        r#"["sh", "-c", "echo <+secrets.getValue(\"x\")>"]"#,
        r#"["sh", "-c", "echo <+pipeline.variables.pw>"]"#,
    ] {
        let text = source(entrypoint);
        let line = text
            .lines()
            .position(|l| l.contains("entrypoint:"))
            .unwrap()
            + 1;
        let found = warned(&text);
        assert_eq!(
            found,
            [vec![(line, false)], vec![(line, false)]],
            "{entrypoint}"
        );
    }
    let plain = warned(&source(r#"["sh", "-c"]"#));
    assert_eq!(plain, [vec![], vec![]]);
}
