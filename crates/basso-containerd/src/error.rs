//! The error type of the container executor.

use std::fmt;

/// A failure of the container executor, with the object it concerns.
#[derive(Debug)]
pub struct Error {
    message: String,
}

impl Error {
    /// Creates an error from a complete message.
    pub fn new(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
        }
    }

    /// Wraps a failed containerd call: what was done, to which object.
    pub(crate) fn api(operation: &str, object: &str, status: tonic::Status) -> Error {
        Error::new(format!(
            "containerd {operation} of `{object}` failed: {}",
            status.message()
        ))
    }

    /// Wraps a failed system call or file operation.
    pub(crate) fn io(operation: &str, object: &str, error: std::io::Error) -> Error {
        Error::new(format!("{operation} `{object}` failed: {error}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
