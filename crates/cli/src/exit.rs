//! Exit codes, documented in `webqx-sec --help` and docs/operator-guide.md.

use std::fmt;

/// Why the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// A check failed (audit chain broken, signature not valid).
    CheckFailed = 1,
    /// Wrong usage (also clap's code for bad arguments).
    Usage = 2,
    /// The server could not be reached (connection or TLS).
    Connect = 3,
    /// The server refused the request (4xx).
    Refused = 4,
    /// The server failed or is unavailable, sealed included (5xx).
    Server = 5,
    /// A local problem: configuration, files, the data folder.
    Local = 6,
}

/// A failure with its message and exit code.
#[derive(Debug)]
pub struct Failure {
    /// Exit code.
    pub exit: Exit,
    /// Message for the operator.
    pub message: String,
    /// The server's problem document, for `--json`.
    pub problem: Option<serde_json::Value>,
}

impl Failure {
    /// A failure.
    pub fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure {
            exit,
            message: message.into(),
            problem: None,
        }
    }

    /// Wrong usage.
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::new(Exit::Usage, message)
    }

    /// A local failure.
    pub fn local(message: impl Into<String>) -> Failure {
        Failure::new(Exit::Local, message)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::local(e.to_string())
    }
}
