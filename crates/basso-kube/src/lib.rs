//! basso-kube exports one resolved Harness CI stage as a Kubernetes
//! `batch/v1` Job whose single pod runs the stage the way Harness runs it on
//! Kubernetes infrastructure. Every step is a container, Background steps are
//! native sidecars alive for the whole stage, and all share the pod network.
//!
//! The main types are [`Stage`] and [`Step`] (the input), [`ExportOptions`],
//! and [`Export`] with its [`Manifest`] of typed `k8s-openapi` objects and
//! its [`Diagnostic`](basso_core::Diagnostic)s. [`to_yaml`] and [`to_json`]
//! print a manifest.
//!
//! ```
//! use basso_kube::{ExportOptions, Stage, Step, StepKind, export_stage, to_yaml};
//!
//! let stage = Stage {
//!     pipeline_id: "demo".into(),
//!     id: "test".into(),
//!     steps: vec![Step {
//!         id: "unit_tests".into(),
//!         kind: StepKind::Run,
//!         image: Some("alpine:3.20".into()),
//!         command: Some("echo ok".into()),
//!         ..Step::default()
//!     }],
//!     ..Stage::default()
//! };
//! let export = export_stage(&stage, &ExportOptions::default());
//! let manifest = export.manifest.expect("no errors");
//! assert!(to_yaml(&manifest).unwrap().contains("name: unit-tests"));
//! ```

mod container;
mod export;
mod failure;
mod infrastructure;
mod model;
pub mod names;
mod output;
mod resolved;
mod schedule;
pub mod secrets;

pub use export::{
    Export, ExportOptions, Manifest, SECRET_KEYS_ANNOTATION, SECRET_NAME_ANNOTATION,
    STEP_ANNOTATION_PREFIX, WORKSPACE_PATH, export_stage,
};
pub use model::{
    GroupWhen, PortBinding, Stage, StageWhen, Step, StepFailureStrategy, StepKind, When,
};
pub use output::{to_json, to_yaml};
pub use resolved::stage_from_resolved;
pub use schedule::DEFAULT_STEP_TIMEOUT;
