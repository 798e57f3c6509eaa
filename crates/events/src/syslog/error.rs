//! What can be wrong with a syslog message or a syslog stream.

use std::fmt;

/// A part of a syslog message, named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// `<PRI>`.
    Pri,
    /// TIMESTAMP.
    Timestamp,
    /// HOSTNAME.
    Hostname,
    /// APP-NAME.
    AppName,
    /// PROCID.
    ProcId,
    /// MSGID.
    MsgId,
    /// STRUCTURED-DATA.
    StructuredData,
    /// MSG.
    Msg,
}

impl Field {
    /// The field's name as RFC 5424 spells it.
    pub fn name(self) -> &'static str {
        match self {
            Field::Pri => "PRI",
            Field::Timestamp => "TIMESTAMP",
            Field::Hostname => "HOSTNAME",
            Field::AppName => "APP-NAME",
            Field::ProcId => "PROCID",
            Field::MsgId => "MSGID",
            Field::StructuredData => "STRUCTURED-DATA",
            Field::Msg => "MSG",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What is wrong with the structured data of an RFC 5424 message (§6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SdProblem {
    /// Neither the NILVALUE `-` nor an element `[` where structured data begins.
    ExpectedElement,
    /// An SD-ID or PARAM-NAME is empty.
    EmptyName,
    /// An SD-ID or PARAM-NAME is longer than 32 characters.
    NameTooLong,
    /// An SD-ID or PARAM-NAME holds a character other than printable US-ASCII without
    /// `=`, space, `]` and `"`.
    InvalidNameChar,
    /// A PARAM-NAME is not followed by `=`.
    MissingEquals,
    /// A PARAM-VALUE does not start with `"`.
    MissingQuote,
    /// The message ends inside a PARAM-VALUE (no closing `"`).
    UnterminatedValue,
    /// The message ends inside an element (no closing `]`).
    UnterminatedElement,
    /// A PARAM-VALUE is not UTF-8.
    ValueNotUtf8,
    /// Something other than a space follows the structured data.
    MissingSpaceBeforeMsg,
}

impl SdProblem {
    fn describe(self) -> &'static str {
        match self {
            SdProblem::ExpectedElement => "expected '-' or '['",
            SdProblem::EmptyName => "empty SD-ID or parameter name",
            SdProblem::NameTooLong => "SD-ID or parameter name longer than 32 characters",
            SdProblem::InvalidNameChar => "character not allowed in an SD-ID or parameter name",
            SdProblem::MissingEquals => "parameter name not followed by '='",
            SdProblem::MissingQuote => "parameter value does not start with '\"'",
            SdProblem::UnterminatedValue => "message ends inside a parameter value",
            SdProblem::UnterminatedElement => "message ends inside an element (no ']')",
            SdProblem::ValueNotUtf8 => "parameter value is not UTF-8",
            SdProblem::MissingSpaceBeforeMsg => "no space between structured data and MSG",
        }
    }
}

/// Why a syslog message was not accepted.
///
/// Positions are byte offsets from the start of the message (for
/// [`SyslogError::NotUtf8`], from the start of the field). The message content itself
/// is never part of an error: it may hold PHI.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyslogError {
    /// The message is empty.
    Empty,
    /// The message is longer than the parser accepts.
    TooLong {
        /// Length received, bytes.
        len: usize,
        /// Largest accepted, bytes.
        max: usize,
    },
    /// The message starts with `<` but not with a valid `<PRI>` (1 to 3 digits, at most
    /// 191, then `>`).
    InvalidPri,
    /// An RFC 5424 header ends before this field.
    MissingField {
        /// The field that is missing.
        field: Field,
        /// Where it was expected.
        offset: usize,
    },
    /// An RFC 5424 header field is empty or holds a byte other than printable
    /// US-ASCII.
    InvalidField {
        /// The field.
        field: Field,
        /// Where the field starts.
        offset: usize,
    },
    /// An RFC 5424 header field is longer than RFC 5424 allows.
    FieldTooLong {
        /// The field.
        field: Field,
        /// Its maximum length, bytes.
        max: usize,
    },
    /// The RFC 5424 TIMESTAMP is not an RFC 3339 date-time as §6.2.3 restricts it.
    InvalidTimestamp {
        /// Where the timestamp starts.
        offset: usize,
    },
    /// The RFC 5424 structured data is malformed.
    StructuredData {
        /// Where the problem was found.
        offset: usize,
        /// What the problem is.
        problem: SdProblem,
    },
    /// A field that must be text is not UTF-8.
    NotUtf8 {
        /// The field.
        field: Field,
        /// Length of its valid UTF-8 prefix, bytes.
        valid_up_to: usize,
    },
}

impl SyslogError {
    /// A short, stable label for metrics (`reason`).
    pub fn reason(&self) -> &'static str {
        match self {
            SyslogError::Empty => "empty",
            SyslogError::TooLong { .. } => "too_long",
            SyslogError::InvalidPri => "pri",
            SyslogError::MissingField { .. }
            | SyslogError::InvalidField { .. }
            | SyslogError::FieldTooLong { .. } => "header",
            SyslogError::InvalidTimestamp { .. } => "timestamp",
            SyslogError::StructuredData { .. } => "structured_data",
            SyslogError::NotUtf8 { .. } => "utf8",
        }
    }
}

impl fmt::Display for SyslogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyslogError::Empty => f.write_str("empty syslog message"),
            SyslogError::TooLong { len, max } => write!(
                f,
                "syslog message of {len} bytes is longer than the {max} accepted; \
                 the sender must split it"
            ),
            SyslogError::InvalidPri => f.write_str(
                "syslog message starts with '<' but has no valid PRI \
                 (1 to 3 digits, at most 191, then '>')",
            ),
            SyslogError::MissingField { field, offset } => write!(
                f,
                "RFC 5424 header ends at byte {offset} before {field}; \
                 every header field must be present (use '-' for none)"
            ),
            SyslogError::InvalidField { field, offset } => write!(
                f,
                "RFC 5424 {field} at byte {offset} is empty or holds a character other \
                 than printable US-ASCII"
            ),
            SyslogError::FieldTooLong { field, max } => {
                write!(f, "RFC 5424 {field} is longer than {max} characters")
            }
            SyslogError::InvalidTimestamp { offset } => write!(
                f,
                "RFC 5424 TIMESTAMP at byte {offset} is not an RFC 3339 date-time \
                 (YYYY-MM-DDThh:mm:ss[.s{{1,6}}] with Z or +hh:mm)"
            ),
            SyslogError::StructuredData { offset, problem } => write!(
                f,
                "RFC 5424 STRUCTURED-DATA malformed at byte {offset}: {}",
                problem.describe()
            ),
            SyslogError::NotUtf8 { field, valid_up_to } => write!(
                f,
                "{field} is not UTF-8 after its first {valid_up_to} bytes; \
                 read it as bytes instead"
            ),
        }
    }
}

impl std::error::Error for SyslogError {}
