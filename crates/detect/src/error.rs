//! Errors of the detection crate. Messages name the file or rule, never event content.

use std::fmt;

/// Why rules, filters or the engine could not be loaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoadError {
    /// A rule file could not be read.
    Io {
        /// The file or folder.
        path: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A rule document is not valid Sigma.
    Parse {
        /// Where it came from (file name or `builtin:<name>`).
        origin: String,
        /// The parser's reason.
        reason: String,
    },
    /// A rule is valid Sigma but could not be compiled or linked (for example a
    /// correlation that names a rule that does not exist).
    Compile {
        /// The dataset whose engine was being built.
        dataset: String,
        /// The compiler's reason.
        reason: String,
    },
    /// Rules that would load and then misbehave: two with one id, or a correlation no
    /// dataset can count (the text names them and says what to do).
    Unusable(String),
    /// Input larger than the loader accepts.
    TooLarge {
        /// Where it came from.
        origin: String,
        /// The limit in bytes.
        limit: usize,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => {
                write!(
                    f,
                    "cannot read rules from {path}: {source}; check the path and permissions"
                )
            }
            Self::Parse { origin, reason } => {
                write!(
                    f,
                    "{origin} is not a valid Sigma rule: {reason}; fix or remove the rule"
                )
            }
            Self::Compile { dataset, reason } => write!(
                f,
                "rules for dataset {dataset} do not compile: {reason}; check rule references"
            ),
            Self::Unusable(reason) => f.write_str(reason),
            Self::TooLarge { origin, limit } => {
                write!(
                    f,
                    "{origin} is larger than {limit} bytes; split it into several files"
                )
            }
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Why an EHR context file could not be loaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum ContextError {
    /// The file could not be read.
    Io {
        /// The file.
        path: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The JSON document does not have the documented shape.
    Json {
        /// The parser's reason (position and expectation, no values).
        reason: String,
    },
    /// A CSV row is malformed.
    Csv {
        /// Which table (`users`, `patients`, `care`).
        table: &'static str,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// Input larger than the loader accepts.
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
}

impl fmt::Display for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => {
                write!(
                    f,
                    "cannot read context file {path}: {source}; check the path"
                )
            }
            Self::Json { reason } => write!(
                f,
                "context JSON does not match the documented format ({reason}); see docs/detection.md"
            ),
            Self::Csv {
                table,
                line,
                reason,
            } => write!(
                f,
                "{table} CSV line {line}: {reason}; see docs/detection.md for the columns"
            ),
            Self::TooLarge { limit } => {
                write!(
                    f,
                    "context input is larger than {limit} bytes; split or trim it"
                )
            }
        }
    }
}

impl std::error::Error for ContextError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
