//! References to the iterations of looped stages, step groups and steps,
//! and to looped nodes without an iteration suffix.

use basso_core::Diagnostic;
use basso_core::pipeline;

/// Returns a pipeline whose stage `s` runs the steps in `steps` (YAML
/// indented as items of `execution.steps`), then a step `after` that
/// echoes `command`. `stage_strategy` is the stage's `strategy` as flow
/// YAML, or empty.
fn pipeline_with(stage_strategy: &str, steps: &str, command: &str) -> String {
    let strategy = if stage_strategy.is_empty() {
        String::new()
    } else {
        format!("        strategy: {stage_strategy}\n")
    };
    format!(
        "pipeline:
  name: p
  identifier: p
  stages:
    - stage:
        name: s
        identifier: s
        type: CI
{strategy}        spec:
          cloneCodebase: false
          platform: {{os: Linux, arch: Amd64}}
          runtime: {{type: Cloud, spec: {{}}}}
          execution:
            steps:
{steps}              - step:
                  type: Run
                  name: after
                  identifier: after
                  spec:
                    shell: Sh
                    command: echo \"{command}\"
"
    )
}

/// A step group `g` over `v: [x, y]` and a group `h` over the same values
/// with `nodeName: n<+matrix.v>`, each with a step that sets output `O`,
/// then a step `q` with the matrix of `h`.
const LOOPED_GROUPS: &str = "              - stepGroup:
                  name: g
                  identifier: g
                  strategy: {matrix: {v: [x, y]}}
                  steps:
                    - step: {type: Run, name: p1, identifier: p1, spec: {shell: Sh, command: export O=1, outputVariables: [{name: O}]}}
              - stepGroup:
                  name: h
                  identifier: h
                  strategy: {matrix: {v: [x, y], nodeName: n<+matrix.v>}}
                  steps:
                    - step: {type: Run, name: p2, identifier: p2, spec: {shell: Sh, command: export O=1, outputVariables: [{name: O}]}}
              - step:
                  type: Run
                  name: q
                  identifier: q
                  strategy: {matrix: {v: [x, y], nodeName: n<+matrix.v>}}
                  spec: {shell: Sh, command: export O=1, outputVariables: [{name: O}]}
";

/// A group `outer` around a group `g` that repeats over `[a, b]`, which
/// contains a step `p` and a step `q` with a matrix over `[x, y]` named by
/// `nodeName`.
const NESTED_GROUPS: &str = "              - stepGroup:
                  name: outer
                  identifier: outer
                  steps:
                    - stepGroup:
                        name: g
                        identifier: g
                        strategy: {repeat: {items: [a, b]}}
                        steps:
                          - step: {type: Run, name: p, identifier: p, spec: {shell: Sh, command: export O=1, outputVariables: [{name: O}]}}
                          - step:
                              type: Run
                              name: q
                              identifier: q
                              strategy: {matrix: {v: [x, y], nodeName: <+matrix.v>}}
                              spec: {shell: Sh, command: export O=1, outputVariables: [{name: O}]}
";

/// A group `g` whose iterations depend on a runtime input.
const RUN_TIME_GROUP: &str = "              - stepGroup:
                  name: g
                  identifier: g
                  strategy: {parallelism: <+input>.default(2)}
                  steps:
                    - step: {type: Run, name: p1, identifier: p1, spec: {shell: Sh, command: export O=1, outputVariables: [{name: O}]}}
";

fn with_code<'d>(diagnostics: &'d [Diagnostic], code: &str) -> Vec<&'d Diagnostic> {
    diagnostics.iter().filter(|d| d.code == code).collect()
}

/// Returns the diagnostics of `check` other than `unresolved-at-run-time`.
fn check(source: &str) -> Vec<Diagnostic> {
    let diagnostics = pipeline::check(source, "p.yaml");
    diagnostics
        .into_iter()
        .filter(|d| d.code != "unresolved-at-run-time")
        .collect()
}

#[test]
fn group_iterations_pass_check() {
    let references = [
        "<+execution.steps.g_0.steps.p1.output.outputVariables.O>",
        "<+steps.g_1.steps.p1.output.outputVariables.O>",
        "<+pipeline.stages.s.spec.execution.steps.g_0.steps.p1.output.outputVariables.O>",
        "<+steps.g_0.status>",
        "<+execution.steps.h_ny.steps.p2.output.outputVariables.O>",
        "<+steps.q_nx.output.outputVariables.O>",
    ];
    for reference in references {
        let source = pipeline_with("", LOOPED_GROUPS, reference);
        assert_eq!(check(&source), [], "{reference}");
    }
}

#[test]
fn nested_group_iterations_pass_check() {
    let references = [
        "<+steps.outer.steps.g_0.steps.p.output.outputVariables.O>",
        "<+execution.steps.outer.steps.g_1.steps.q_x.output.outputVariables.O>",
        "<+pipeline.stages.s.spec.execution.steps.outer.steps.g_1.steps.q_y.status>",
        "<+steps.outer.steps.g_0.status>",
    ];
    for reference in references {
        let source = pipeline_with("", NESTED_GROUPS, reference);
        assert_eq!(check(&source), [], "{reference}");
    }
}

#[test]
fn matrix_group_node_names_pass_check() {
    let group = "              - stepGroup:
                  name: g
                  identifier: g
                  strategy:
                    matrix:
                      os: [linux, \"mac os\"]
                      v: [1, 2]
                      exclude: [{os: linux, v: 2}]
                      nodeName: <+matrix.os>-<+matrix.v>
                  steps:
                    - step: {type: Run, name: p1, identifier: p1, spec: {shell: Sh, command: export O=1, outputVariables: [{name: O}]}}
";
    let reference = "<+steps.g_linux_1.steps.p1.output.outputVariables.O> \
                     <+execution.steps.g_mac_os_2.steps.p1.output.outputVariables.O>";
    assert_eq!(check(&pipeline_with("", group, reference)), []);

    let wrong = "<+steps.g_linux_2.steps.p1.output.outputVariables.O>";
    let diagnostics = check(&pipeline_with("", group, wrong));
    let unknown = with_code(&diagnostics, "unknown-step");
    assert_eq!(unknown.len(), 1, "{diagnostics:?}");
    assert_eq!(
        unknown[0].help.as_deref(),
        Some("its iterations are `g_linux_1`, `g_mac_os_1`, `g_mac_os_2`")
    );
}

#[test]
fn unknown_group_iteration_lists_iterations() {
    let cases = [
        (
            LOOPED_GROUPS,
            "<+steps.g_2.steps.p1.output.outputVariables.O>",
            "step group `g_2` does not exist: no iteration of the looped step group `g` has that identifier",
            "its iterations are `g_0`, `g_1`",
        ),
        (
            NESTED_GROUPS,
            "<+steps.outer.steps.g_x.steps.p.status>",
            "step group `g_x` does not exist: no iteration of the looped step group `g` has that identifier",
            "its iterations are `g_0`, `g_1`",
        ),
        (
            NESTED_GROUPS,
            "<+steps.outer.steps.g_0.steps.q_z.status>",
            "step `q_z` does not exist: no iteration of the looped step `q` has that identifier",
            "its iterations are `q_x`, `q_y`",
        ),
    ];
    for (steps, reference, message, help) in cases {
        let diagnostics = check(&pipeline_with("", steps, reference));
        let unknown = with_code(&diagnostics, "unknown-step");
        assert_eq!(unknown.len(), 1, "{reference}: {diagnostics:?}");
        assert!(unknown[0].is_error(), "{reference}");
        assert_eq!(unknown[0].message, message);
        assert_eq!(unknown[0].help.as_deref(), Some(help));
    }
}

#[test]
fn step_in_looped_group_has_no_suffix() {
    let reference = "<+steps.p1_0.output.outputVariables.O>";
    let diagnostics = check(&pipeline_with("", LOOPED_GROUPS, reference));
    let unknown = with_code(&diagnostics, "unknown-step");
    assert_eq!(unknown.len(), 1, "{diagnostics:?}");
    assert_eq!(
        unknown[0].message,
        "step `p1_0` does not exist in stage `s`"
    );
}

#[test]
fn unknown_step_help_lists_iterations() {
    let reference = "<+steps.zzzzzz.status>";
    let diagnostics = check(&pipeline_with("", LOOPED_GROUPS, reference));
    let unknown = with_code(&diagnostics, "unknown-step");
    assert_eq!(unknown.len(), 1, "{diagnostics:?}");
    assert_eq!(
        unknown[0].help.as_deref(),
        Some("declared steps: `p1`, `p2`, `q_nx`, `q_ny`, `after`, `g_0`, `g_1`, `h_nx`, `h_ny`")
    );

    let diagnostics = check(&pipeline_with("", RUN_TIME_GROUP, reference));
    let unknown = with_code(&diagnostics, "unknown-step");
    assert_eq!(unknown.len(), 1, "{diagnostics:?}");
    assert_eq!(
        unknown[0].help.as_deref(),
        Some(
            "declared steps: `p1`, `after`, `g`; \
             without `nodeName`, iterations are `g_0`, `g_1` and so on"
        )
    );
}

#[test]
fn unsuffixed_looped_nodes_warn() {
    let cases = [
        (
            "",
            LOOPED_GROUPS,
            "<+steps.g.steps.p1.output.outputVariables.O>",
            "step group `g` runs in a loop, so `<+steps.g.steps.p1.output.outputVariables.O>` resolves to null",
            "read one iteration by its identifier; its iterations are `g_0`, `g_1`",
        ),
        (
            "",
            LOOPED_GROUPS,
            "<+steps.h.status>",
            "step group `h` runs in a loop, so `<+steps.h.status>` resolves to null",
            "read one iteration by its identifier; its iterations are `h_nx`, `h_ny`",
        ),
        (
            "",
            LOOPED_GROUPS,
            "<+steps.q.output.outputVariables.O>",
            "step `q` runs in a loop, so `<+steps.q.output.outputVariables.O>` resolves to null",
            "read one iteration by its identifier; its iterations are `q_nx`, `q_ny`",
        ),
        (
            "",
            NESTED_GROUPS,
            "<+steps.outer.steps.g.steps.q_x.output.outputVariables.O>",
            "step group `g` runs in a loop, so `<+steps.outer.steps.g.steps.q_x.output.outputVariables.O>` resolves to null",
            "read one iteration by its identifier; its iterations are `g_0`, `g_1`",
        ),
        (
            "",
            RUN_TIME_GROUP,
            "<+steps.g.steps.p1.status>",
            "step group `g` runs in a loop, so `<+steps.g.steps.p1.status>` resolves to null",
            "read one iteration by its identifier; without `nodeName`, iterations are `g_0`, `g_1` and so on",
        ),
        (
            "{repeat: {times: 2}}",
            "",
            "<+pipeline.stages.s.status>",
            "stage `s` runs in a loop, so `<+pipeline.stages.s.status>` resolves to null",
            "read one iteration by its identifier; its iterations are `s_0`, `s_1`",
        ),
    ];
    for (stage_strategy, steps, reference, message, help) in cases {
        let diagnostics = check(&pipeline_with(stage_strategy, steps, reference));
        let warnings = with_code(&diagnostics, "missing-iteration-suffix");
        assert_eq!(warnings.len(), 1, "{reference}: {diagnostics:?}");
        assert!(!warnings[0].is_error(), "{reference}");
        assert_eq!(warnings[0].message, message);
        assert_eq!(warnings[0].help.as_deref(), Some(help));
        assert_eq!(diagnostics.len(), 1, "{reference}: {diagnostics:?}");
    }
}

#[test]
fn unsuffixed_file_values_warn() {
    let cases = [
        ("<+steps.g.name>", "step group `g`", "`g_0`, `g_1`"),
        (
            "<+steps.g.steps.p1.spec.shell>",
            "step group `g`",
            "`g_0`, `g_1`",
        ),
        ("<+steps.q.spec.shell>", "step `q`", "`q_nx`, `q_ny`"),
    ];
    for (reference, node, iterations) in cases {
        let source = pipeline_with("", LOOPED_GROUPS, reference);
        let diagnostics = check(&source);
        assert_eq!(diagnostics.len(), 1, "{reference}: {diagnostics:?}");
        let warning = &diagnostics[0];
        assert_eq!(warning.code, "missing-iteration-suffix", "{reference}");
        assert!(!warning.is_error(), "{reference}");
        assert_eq!(
            warning.message,
            format!(
                "{node} runs in a loop, so `{reference}` reads the value as the file writes it, not the value of one iteration"
            )
        );
        assert_eq!(
            warning.help.as_deref(),
            Some(
                format!("read one iteration by its identifier; its iterations are {iterations}")
                    .as_str()
            )
        );
    }
}

#[test]
fn node_itself_unsuffixed_no_warning() {
    let source = pipeline_with("", LOOPED_GROUPS, "<+steps.q>");
    assert_eq!(check(&source), []);
}

/// Returns a pipeline with a stage `s` over `os: [linux, mac]`, whose
/// variable `osv` and step `a` read the matrix, then a stage `later` whose
/// step `r` echoes `command`.
fn looped_stage_then(command: &str) -> String {
    format!(
        "pipeline:
  name: p
  identifier: p
  stages:
    - stage:
        name: s
        identifier: s
        type: CI
        strategy: {{matrix: {{os: [linux, mac]}}}}
        variables:
          - {{name: osv, type: String, value: os-<+matrix.os>}}
        spec:
          cloneCodebase: false
          platform: {{os: Linux, arch: Amd64}}
          runtime: {{type: Cloud, spec: {{}}}}
          execution:
            steps:
              - step: {{type: Run, name: a, identifier: a, spec: {{shell: Sh, command: echo <+matrix.os>}}}}
    - stage:
        name: later
        identifier: later
        type: CI
        spec:
          cloneCodebase: false
          platform: {{os: Linux, arch: Amd64}}
          runtime: {{type: Cloud, spec: {{}}}}
          execution:
            steps:
              - step:
                  type: Run
                  name: r
                  identifier: r
                  spec:
                    shell: Sh
                    command: echo {command}
"
    )
}

/// Resolves `source` without context and returns the resolved `command`
/// of the step `id` of the stage `stage`, with the diagnostics.
fn resolved_command(source: &str, stage: &str, id: &str) -> (String, Vec<Diagnostic>) {
    let resolution = pipeline::resolve(source, "p.yaml", &[], &[], &serde_json::json!({}));
    let step = resolution
        .stage(stage)
        .unwrap()
        .steps
        .iter()
        .find(|step| step.identifier == id)
        .unwrap();
    let command = step.spec["command"].as_str().unwrap().to_string();
    (command, resolution.diagnostics)
}

#[test]
fn stage_iteration_values_by_suffix() {
    let source = looped_stage_then(
        "<+pipeline.stages.s_0.variables.osv> <+stages.s_1.variables.osv> \
         <+pipeline.stages.s_1.identifier> <+pipeline.stages.s_0.name> \
         <+pipeline.stages.s_1.spec.execution.steps.a.spec.command>",
    );
    let (command, diagnostics) = resolved_command(&source, "later", "r");
    assert_eq!(diagnostics, []);
    assert_eq!(command, "echo os-linux os-mac s_1 s echo mac");
}

#[test]
fn unsuffixed_stage_variable_warns() {
    let source = looped_stage_then("<+pipeline.stages.s.variables.osv>");
    let (_, diagnostics) = resolved_command(&source, "later", "r");
    let warnings = with_code(&diagnostics, "missing-iteration-suffix");
    assert_eq!(warnings.len(), 1, "{diagnostics:?}");
    assert_eq!(
        warnings[0].message,
        "stage `s` runs in a loop, so `<+pipeline.stages.s.variables.osv>` reads the value as the file writes it, not the value of one iteration"
    );
}

#[test]
fn later_iteration_read_is_null() {
    // `s_0` is resolved before `s_1`, so its step reads no value of `s_1`.
    let source = looped_stage_then("x").replace(
        "command: echo <+matrix.os>",
        "command: echo <+pipeline.stages.s_1.variables.osv>",
    );
    let (command, diagnostics) = resolved_command(&source, "s_0", "a");
    assert_eq!(command, "echo null");
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    assert_eq!(diagnostics[0].code, "unresolved-at-run-time");
    assert_eq!(
        diagnostics[0].message,
        "`<+pipeline.stages.s_1.variables.osv>` reads an iteration of a looped node that is resolved after this field; it resolves to null"
    );
    let help = diagnostics[0].help.as_deref().unwrap();
    assert!(!help.contains("runner supplies"), "{help}");
    // `s_1` records its variables before its steps are resolved.
    let (command, _) = resolved_command(&source, "s_1", "a");
    assert_eq!(command, "echo os-mac");
}

#[test]
fn step_and_group_iteration_values_by_suffix() {
    let steps = "              - step:
                  type: Run
                  name: a
                  identifier: a
                  strategy: {matrix: {v: [x, y]}}
                  spec: {shell: Sh, command: echo <+matrix.v>}
              - stepGroup:
                  name: g
                  identifier: g
                  strategy: {repeat: {items: [p, q]}}
                  steps:
                    - step: {type: Run, name: in, identifier: in, spec: {shell: Bash, command: echo <+repeat.item>}}
";
    let command = [
        "<+steps.a_1.spec.command>",
        "<+steps.a_0.identifier>",
        "<+execution.steps.a_0.spec.shell>",
        "<+steps.g_1.identifier>",
        "<+steps.g_0.name>",
        "<+steps.g_1.steps.in.spec.command>",
        "<+pipeline.stages.s.spec.execution.steps.a_0.spec.command>",
    ]
    .join(" ");
    let source = pipeline_with("", steps, &command);
    let (command, diagnostics) = resolved_command(&source, "s", "after");
    assert_eq!(diagnostics, []);
    assert_eq!(command, "echo \"echo y a_0 Sh g_1 g echo q echo x\"");
}

#[test]
fn unsuffixed_stage_in_other_stage_warns() {
    let source = pipeline_with("{repeat: {times: 2}}", "", "")
        + "    - stage:
        name: t
        identifier: t
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
                  spec:
                    shell: Sh
                    command: echo <+stages.s.spec.execution.steps.after.status> <+pipeline.stages.s_1.status> <+pipeline.stages.s_2.status>
";
    let diagnostics = check(&source);
    let warnings = with_code(&diagnostics, "missing-iteration-suffix");
    assert_eq!(warnings.len(), 1, "{diagnostics:?}");
    let unknown = with_code(&diagnostics, "unknown-stage");
    assert_eq!(unknown.len(), 1, "{diagnostics:?}");
    assert_eq!(
        unknown[0].message,
        "stage `s_2` does not exist: no iteration of the looped stage `s` has that identifier"
    );
    assert_eq!(
        unknown[0].help.as_deref(),
        Some("its iterations are `s_0`, `s_1`")
    );
}

#[test]
fn resolve_warns_once_for_unsuffixed_group() {
    let reference = "<+steps.g.steps.p1.output.outputVariables.O>";
    let source = pipeline_with("", LOOPED_GROUPS, reference);
    let resolution = pipeline::resolve(&source, "p.yaml", &[], &[], &serde_json::json!({}));
    let codes: Vec<&str> = resolution
        .diagnostics
        .iter()
        .map(|d| d.code.as_str())
        .collect();
    assert_eq!(codes, ["missing-iteration-suffix"]);
}

#[test]
fn resolve_reads_group_iteration_outputs() {
    let reference = "<+steps.g_1.steps.p1.output.outputVariables.O> \
                     <+pipeline.stages.s.spec.execution.steps.g_0.steps.p1.output.outputVariables.O>";
    let source = pipeline_with("", LOOPED_GROUPS, reference);
    let step = |group: &str, value: &str| serde_json::json!({ group: { "steps": { "p1": { "output": { "outputVariables": { "O": value } } } } } });
    let mut steps = step("g_0", "zero");
    steps["g_1"] = step("g_1", "one")["g_1"].clone();
    let context = serde_json::json!({
        "pipeline": { "stages": { "s": { "spec": { "execution": { "steps": steps.clone() } } } } },
        "steps": steps.clone(),
        "execution": { "steps": steps },
    });
    let resolution = pipeline::resolve(&source, "p.yaml", &[], &[], &context);
    let errors: Vec<_> = resolution
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert_eq!(errors, Vec::<&Diagnostic>::new());
    let after = resolution.stages[0]
        .steps
        .iter()
        .find(|step| step.identifier == "after")
        .unwrap();
    assert_eq!(after.spec["command"], "echo \"one zero\"");
}

#[test]
fn iteration_value_from_data_requests_no_secret() {
    let source = looped_stage_then(
        "<+secrets.getValue(<+pipeline.stages.s_0.variables.id>)> \
         <+secrets.getValue(<+pipeline.stages.s_1.spec.execution.steps.a.spec.command>)>",
    )
    .replace(
        "value: os-<+matrix.os>}",
        "value: os-<+matrix.os>}\n          - {name: id, type: String, value: <+trigger.branch>}",
    )
    .replace("command: echo <+matrix.os>", "command: <+trigger.branch>");
    let context = serde_json::json!({ "trigger": { "branch": "tok" } });
    let resolution = pipeline::resolve(&source, "p.yaml", &[], &[], &context);
    let errors = with_code(&resolution.diagnostics, "secret-from-run-time-data");
    assert_eq!(errors.len(), 2, "{:?}", resolution.diagnostics);
    assert!(
        errors[0]
            .message
            .contains("(`pipeline.stages.s_0.variables.id`)"),
        "{}",
        errors[0].message
    );
    assert!(
        errors[1]
            .message
            .contains("(`pipeline.stages.s_1.spec.execution.steps.a.spec.command`)"),
        "{}",
        errors[1].message
    );
}

#[test]
fn iteration_secret_variable_readable() {
    let source = looped_stage_then("<+pipeline.stages.s_0.variables.tok>").replace(
        "value: os-<+matrix.os>}",
        "value: os-<+matrix.os>}\n          - {name: tok, type: Secret, value: tok}",
    );
    let resolution = pipeline::resolve(&source, "p.yaml", &[], &[], &serde_json::json!({}));
    assert_eq!(resolution.diagnostics, []);
    let step = &resolution.stage("later").unwrap().steps[0];
    assert_eq!(step.secrets, ["tok"]);
}

#[test]
fn unrecorded_iteration_field_named() {
    let source = looped_stage_then("<+pipeline.stages.s_0.description>");
    let (command, diagnostics) = resolved_command(&source, "later", "r");
    assert_eq!(command, "echo null");
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    assert_eq!(
        diagnostics[0].message,
        "`<+pipeline.stages.s_0.description>` reads a value that basso does not record for an iteration of a looped node; it resolves to null"
    );
}

#[test]
fn group_sibling_output_in_looped_stage() {
    // The run records the outputs of the first iteration of stage `s`
    // under `s_0`, and a step of group `g` reads its sibling by its
    // identifier alone.
    let steps = "              - stepGroup:
                  name: g
                  identifier: g
                  steps:
                    - step: {type: Run, name: build, identifier: build, spec: {shell: Sh, command: export R=ok, outputVariables: [{name: R}]}}
                    - step: {type: Run, name: deploy, identifier: deploy, spec: {shell: Sh, command: echo <+steps.build.output.outputVariables.R> <+steps.build.status> <+execution.steps.build.spec.command>}}
";
    let source = pipeline_with("{matrix: {os: [linux]}}", steps, "");
    let group = serde_json::json!({ "g": { "steps": { "build": {
        "status": "SUCCEEDED",
        "output": { "outputVariables": { "R": "ok" } },
    } } } });
    let context = serde_json::json!({
        "pipeline": { "stages": { "s_0": { "spec": { "execution": { "steps": group.clone() } } } } },
        "steps": group.clone(),
        "execution": { "steps": group },
    });
    let resolution = pipeline::resolve(&source, "p.yaml", &[], &[], &context);
    let errors: Vec<_> = resolution
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert_eq!(errors, Vec::<&Diagnostic>::new());
    let deploy = resolution
        .stage("s_0")
        .unwrap()
        .steps
        .iter()
        .find(|step| step.identifier == "deploy")
        .unwrap();
    assert_eq!(deploy.spec["command"], "echo ok SUCCEEDED export R=ok");
}
