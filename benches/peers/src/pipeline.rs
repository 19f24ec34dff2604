//! Generated v0 pipelines of a chosen number of steps, for timing
//! whole-pipeline resolution at sizes the corpus does not reach.

use std::fmt::Write;

/// Steps per CI stage; real stages seldom hold more than a few dozen.
const STEPS_PER_STAGE: usize = 20;

/// Returns the YAML text of a pipeline with `steps` steps, spread over CI
/// stages of at most twenty steps. Every tenth step is a Background service.
/// The others are Run steps whose image, command, environment and `when`
/// condition read pipeline variables, codebase fields and the output of the
/// previous step.
pub fn generate(steps: usize) -> String {
    let mut yaml = String::with_capacity(steps * 700);
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
          platform:
            os: Linux
            arch: Amd64
          runtime:
            type: Docker
            spec: {{}}
          execution:
            steps:
"#
    );
    let first = steps.start;
    for step in steps {
        if step % 10 == 9 {
            write_background(yaml, step);
        } else {
            write_run(yaml, step, step > first);
        }
    }
}

fn write_run(yaml: &mut String, step: usize, reads_previous: bool) {
    let previous = if reads_previous {
        format!("<+steps.step_{}.output.outputVariables.VERSION>", step - 1)
    } else {
        "<+pipeline.variables.version>".to_string()
    };
    let _ = write!(
        yaml,
        r#"              - step:
                  type: Run
                  name: step {step}
                  identifier: step_{step}
                  spec:
                    connectorRef: docker
                    image: <+pipeline.variables.registry>/golang:<+pipeline.variables.goVersion>
                    shell: Sh
                    command: |-
                      echo "building <+pipeline.name> #<+pipeline.sequenceId> on <+codebase.branch>"
                      echo "previous version {previous}"
                      export VERSION=<+pipeline.variables.version>-<+codebase.shortCommitSha>
                    envVariables:
                      IMAGE: <+pipeline.variables.registry>/<+pipeline.variables.imageRepo>:<+codebase.shortCommitSha>
                      CHANNEL: '<+codebase.build.type == "tag" ? "release" : "snapshot">'
                      STEP: step_{step}
                    outputVariables:
                      - name: VERSION
                    resources:
                      limits:
                        memory: 500Mi
                        cpu: 500m
                  timeout: 10m
                  when:
                    stageStatus: Success
                    condition: <+codebase.branch.startsWith("release/") || pipeline.sequenceId % 2 == 0>
"#
    );
}

fn write_background(yaml: &mut String, step: usize) {
    let _ = write!(
        yaml,
        r#"              - step:
                  type: Background
                  name: service {step}
                  identifier: step_{step}
                  spec:
                    connectorRef: docker
                    image: postgres:16
                    shell: Sh
                    envVariables:
                      POSTGRES_PASSWORD: <+secrets.getValue("postgres_password")>
                      POSTGRES_DB: <+pipeline.identifier>_{step}
                    portBindings:
                      "5432": "5432"
"#
    );
}
