//! basso-runner runs resolved Harness CI stages: Run steps in order,
//! `parallel` blocks at the same time, and Background steps as services that
//! live until their stage ends.
//!
//! The main types:
//! - [`StagePlan`]: the stages and steps to run.
//! - [`Executor`] and [`Task`]: start, wait for and stop a step's process.
//! - [`HostExecutor`]: runs steps with a blank image as processes on this
//!   machine.
//! - [`Runner`]: schedules the steps and returns a [`RunSummary`].
//!
//! ```no_run
//! use std::sync::{Arc, atomic::AtomicBool};
//! use basso_runner::*;
//!
//! let step = StepPlan {
//!     id: "hello".into(),
//!     name: "hello".into(),
//!     step_type: "Run".into(),
//!     spec: StepSpec { command: Some("echo hello".into()), ..StepSpec::default() },
//!     ..StepPlan::default()
//! };
//! let stage = StagePlan {
//!     id: "build".into(),
//!     nodes: vec![Node::Step(Box::new(step))],
//!     ..StagePlan::default()
//! };
//! let workspace = std::env::temp_dir().join("basso-example");
//! let executor = HostExecutor::new(&workspace.join(".scripts")).unwrap();
//! let console = Arc::new(Console::new(Box::new(std::io::stderr()), false));
//! let runner = Runner::new(
//!     &executor,
//!     &LiteralExpressions,
//!     console,
//!     Secrets::new(),
//!     RunOptions::new(workspace),
//!     Arc::new(AtomicBool::new(false)),
//! );
//! let summary = runner.run(&[stage]);
//! print!("{}", summary.to_table());
//! ```

pub mod access;
pub mod codebase;
pub mod console;
pub mod convert;
pub mod deadline;
pub mod executor;
pub mod failure;
pub mod folders;
pub mod host;
pub mod lines;
pub mod plan;
pub mod ports;
pub mod preflight;
pub mod reports;
pub mod runner;
pub mod secrets;
pub mod services;
pub mod state;
pub mod summary;

pub use codebase::Codebase;
pub use console::Console;
pub use executor::{
    ExecError, Executor, Exit, LogSink, Problem, Program, Shell, StartDeadline, StopDeadline, Task,
    TaskKind, TaskSpec,
};
pub use folders::RunFolder;
pub use host::HostExecutor;
pub use plan::{
    FailureAction, FailureStrategy, GroupPlan, Iteration, Node, PortBinding, StagePlan, StatusRule,
    StepPlan, StepSpec, When,
};
pub use preflight::{Deferred, Preflight, PreflightProblem, Tolerance};
pub use runner::{RunOptions, Runner};
pub use secrets::{Masker, Secrets};
pub use state::{Expressions, LiteralExpressions, RunState, StageState, Status, StepState};
pub use summary::{RunSummary, StageResult, StepResult};
