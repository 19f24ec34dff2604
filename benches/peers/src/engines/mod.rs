//! One module per engine, each building an [`Engine`](crate::run::Engine)
//! over the workload's context.

pub mod basso;
pub mod cel;
pub mod evalexpr;
pub mod minijinja;
