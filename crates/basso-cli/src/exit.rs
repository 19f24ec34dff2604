//! Exit codes shared by every subcommand.

/// Success.
pub const SUCCESS: u8 = 0;
/// Diagnostics with errors, or a failed step.
pub const FAILURE: u8 = 1;
/// A usage or I/O error.
pub const USAGE: u8 = 2;
/// Interrupted by SIGINT or SIGTERM.
pub const INTERRUPTED: u8 = 130;
