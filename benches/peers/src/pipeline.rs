//! Generated v0 pipelines of a chosen number of steps, for timing
//! whole-pipeline resolution at sizes the corpus does not reach.

use std::fmt::Write;

/// Steps per CI stage; real stages seldom hold more than a few dozen.
const STEPS_PER_STAGE: usize = 20;

/// Returns the YAML text of a pipeline with `steps` steps, spread over CI
/// stages of at most twenty steps. Every tenth step is a Background service.
/// The others are Run steps whose image, command, environment and `when`
/// condition read pipeline variables, codebase fields and the output of the
/// previous Run step.
pub fn generate(steps: usize) -> String {
    let mut yaml = String::with_capacity(steps * 420);
    yaml.push_str(HEADER);

    let stages = steps.div_ceil(STEPS_PER_STAGE);
    for stage in 0..stages {
        let first = stage * STEPS_PER_STAGE;
        let last = (first + STEPS_PER_STAGE).min(steps);
        write_stage(&mut yaml, stage, first..last);
    }
    yaml
}

const HEADER: &str = r#"pipeline:
  name: generated
  identifier: generated
  projectIdentifier: bench
  orgIdentifier: default
  tags: {}
  properties:
    ci:
      codebase:
        connectorRef: git
        repoName: team/api
        build:
          type: branch
          spec:
            branch: main
  variables:
    - name: registry
      type: String
      value: registry.example.com
    - name: imageRepo
      type: String
      value: team/api
    - name: version
      type: String
      value: 5.6.0
    - name: goVersion
      type: String
      value: "1.22"
  stages:
"#;

fn write_stage(yaml: &mut String, stage: usize, steps: std::ops::Range<usize>) {
    let _ = write!(
        yaml,
        r#"    - stage:
        name: build {stage}
        identifier: build_{stage}
        type: CI
        spec:
          cloneCodebase: true
          platform: {{os: Linux, arch: Amd64}}
          runtime: {{type: Docker, spec: {{}}}}
          execution:
            steps:
"#
    );
    let mut previous_run = None;
    for step in steps {
        if step % 10 == 9 {
            write_background(yaml, step);
        } else {
            write_run(yaml, step, previous_run);
            previous_run = Some(step);
        }
    }
}

/// Writes a Run step. Every fifth one also sets an environment variable and
/// a `when` condition. The steps are kept short because the YAML loader
/// rejects files over 16 MiB, and the largest pipeline has 10,000 steps.
fn write_run(yaml: &mut String, step: usize, previous_run: Option<usize>) {
    let version = match previous_run {
        Some(previous) => format!("<+steps.s{previous}.output.outputVariables.V>"),
        None => "<+pipeline.variables.version>".to_string(),
    };
    let _ = write!(
        yaml,
        r#"            - step:
                type: Run
                name: s{step}
                identifier: s{step}
                spec:
                  image: <+pipeline.variables.registry>/go:1.22
                  shell: Sh
                  command: echo <+pipeline.name> <+codebase.branch> {version}
                  outputVariables: [{{name: V}}]
"#
    );
    if step % 5 == 0 {
        yaml.push_str(
            r#"                  envVariables: {TAG: '<+codebase.build.type == "tag" ? "r" : "s">'}
                when: {stageStatus: Success, condition: <+codebase.branch.startsWith("release/")>}
"#,
        );
    }
}

fn write_background(yaml: &mut String, step: usize) {
    let _ = write!(
        yaml,
        r#"            - step:
                type: Background
                name: s{step}
                identifier: s{step}
                spec:
                  image: postgres:16
                  envVariables:
                    POSTGRES_PASSWORD: <+secrets.getValue("pg")>
"#
    );
}
