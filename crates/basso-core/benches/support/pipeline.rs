//! The generated pipelines that `benches/resolve.rs` times and
//! `examples/resolve_profile.rs` resolves under callgrind.

/// Builds a pipeline with `steps` steps in one CI stage: every tenth is a
/// Background service with port bindings, the others Run steps whose
/// commands read a pipeline variable, a stage variable, a secret and the
/// previous step's output.
pub fn pipeline(steps: usize) -> String {
    let mut text = String::from(
        "pipeline:\n  name: bench\n  identifier: bench\n  variables:\n    - name: tag\n      type: String\n      value: <+input>.default(1.2.3)\n  stages:\n    - stage:\n        name: build\n        identifier: build\n        type: CI\n        variables:\n          - name: region\n            type: String\n            value: eu-west-1\n        spec:\n          platform:\n            os: Linux\n            arch: Amd64\n          runtime:\n            type: Docker\n            spec: {}\n          execution:\n            steps:\n",
    );
    for index in 0..steps {
        if index % 10 == 0 {
            let port = 10_000 + index;
            text.push_str(&format!(
                "              - step:\n                  type: Background\n                  name: svc{index}\n                  identifier: svc{index}\n                  spec:\n                    image: postgres:15\n                    envVariables:\n                      POSTGRES_PASSWORD: <+secrets.getValue(\"pg\")>\n                    portBindings:\n                      \"{port}\": \"5432\"\n"
            ));
        } else {
            let previous = if (index - 1) % 10 == 0 {
                String::from("none")
            } else {
                format!("<+steps.step{}.output.outputVariables.OUT>", index - 1)
            };
            text.push_str(&format!(
                "              - step:\n                  type: Run\n                  name: step{index}\n                  identifier: step{index}\n                  spec:\n                    image: alpine:3.20\n                    shell: Sh\n                    command: echo <+pipeline.variables.tag> <+stage.variables.region> {previous}\n                    envVariables:\n                      TOKEN: <+secrets.getValue(\"token\")>\n                    outputVariables:\n                      - name: OUT\n                  timeout: 10m\n"
            ));
        }
    }
    text
}
