//! Whole Harness v0 pipeline files: YAML with positions, the model,
//! validation, resolution and the runtime-input listing.

pub mod duration;
pub mod image;
pub mod quantity;
pub mod resolved;
pub mod yaml;

pub use resolved::*;
