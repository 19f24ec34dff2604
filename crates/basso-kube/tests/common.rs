//! Helpers shared by the export tests: building stages, reading manifests
//! back through the k8s-openapi types, and saving them for
//! `kubernetes-validate`.

#![allow(dead_code)]

use basso_kube::{Export, ExportOptions, Manifest, Stage, Step, StepKind, to_yaml};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Container, PodSpec, Secret};
use serde::Deserialize;

/// One object of an exported YAML stream.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Object {
    Job(Box<Job>),
    Secret(Box<Secret>),
}

/// Resolves a pipeline file with no inputs and no context.
pub fn resolve(source: &str, file_name: &str) -> basso_core::pipeline::Resolution {
    basso_core::pipeline::resolve(source, file_name, &[], &[], &serde_json::json!({}))
}

pub fn run(id: &str, image: &str, command: &str) -> Step {
    Step {
        id: id.into(),
        name: id.into(),
        kind: StepKind::Run,
        image: Some(image.into()),
        command: Some(command.into()),
        ..Step::default()
    }
}

pub fn background(id: &str, image: &str, container_port: &str) -> Step {
    Step {
        id: id.into(),
        name: id.into(),
        kind: StepKind::Background,
        image: Some(image.into()),
        port_bindings: vec![basso_kube::PortBinding {
            host_port: container_port.into(),
            container_port: container_port.into(),
        }],
        ..Step::default()
    }
}

pub fn stage(steps: Vec<Step>) -> Stage {
    Stage {
        pipeline_id: "demo_pipeline".into(),
        id: "integration".into(),
        name: "integration".into(),
        file: Some("pipeline.yaml".into()),
        steps,
        ..Stage::default()
    }
}

pub fn export(stage: &Stage) -> Export {
    basso_kube::export_stage(stage, &ExportOptions::default())
}

/// Exports `stage` and returns the manifest, failing on any error.
pub fn manifest(stage: &Stage, options: &ExportOptions) -> Manifest {
    let export = basso_kube::export_stage(stage, options);
    let errors: Vec<_> = export.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "unexpected errors: {errors:#?}");
    export
        .manifest
        .expect("a manifest when there are no errors")
}

pub fn pod(manifest: &Manifest) -> &PodSpec {
    let spec = manifest.job.spec.as_ref().expect("job spec");
    spec.template.spec.as_ref().expect("pod spec")
}

pub fn init_containers(manifest: &Manifest) -> &[Container] {
    pod(manifest).init_containers.as_deref().unwrap_or(&[])
}

pub fn container<'a>(manifest: &'a Manifest, name: &str) -> &'a Container {
    let pod = pod(manifest);
    pod.init_containers
        .iter()
        .flatten()
        .chain(&pod.containers)
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no container `{name}`"))
}

pub fn codes(export: &Export) -> Vec<&str> {
    export.diagnostics.iter().map(|d| d.code.as_str()).collect()
}

/// Prints `manifest` as YAML, reads it back through the k8s-openapi types,
/// checks the objects are unchanged, and saves the YAML for
/// `kubernetes-validate` when `BASSO_KUBE_MANIFEST_DIR` is set.
pub fn yaml_round_trip(manifest: &Manifest, file_stem: &str) -> String {
    let yaml = to_yaml(manifest).expect("manifest serialises");
    let objects: Vec<Object> =
        serde_saphyr::from_str_multiple(&yaml).expect("YAML reads back as Kubernetes objects");

    let mut objects = objects.into_iter();
    match objects.next() {
        Some(Object::Job(job)) => assert_eq!(*job, manifest.job, "Job changed through YAML"),
        other => panic!("first document is not a Job: {other:?}"),
    }
    match (objects.next(), &manifest.secret_template) {
        (Some(Object::Secret(secret)), Some(expected)) => assert_eq!(&*secret, expected),
        (None, None) => {}
        (got, expected) => panic!("Secret document mismatch: {got:?} vs {expected:?}"),
    }

    save_for_validation(&yaml, file_stem);
    yaml
}

fn save_for_validation(yaml: &str, file_stem: &str) {
    let Some(dir) = std::env::var_os("BASSO_KUBE_MANIFEST_DIR") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("create manifest folder");
    std::fs::write(dir.join(format!("{file_stem}.yaml")), yaml).expect("write manifest");
}
