//! Normalization: log lines and documents of every input turned into [`Event`]s in the
//! one event schema that detection reads (`docs/event-schema.md`).
//!
//! - [`normalize_line`] reads one line in a given [`Format`] (or [`Format::Auto`]):
//!   syslog-file lines (BSD, RFC 3164 with PRI, RFC 5424, RFC 3339 timestamps) with the
//!   message parsed for `sshd`, PAM, `sudo`, `su` and `login`; Apache/nginx access-log
//!   lines; JSON lines (FHIR AuditEvents, our trail entries, ModSecurity audit records,
//!   other objects).
//! - [`normalize_document`] reads a whole JSON document (an AuditEvent, a Bundle, an
//!   array of objects).
//! - [`from_audit_record`] and [`from_audit_entry`] turn our own audit records into
//!   events without a trip through text.
//! - [`Format::detect`] sniffs a file's first lines.
//! - [`SshSessions`] links the lines of one sshd connection (by host and pid) so that a
//!   line without an address gets the connection's.
//!
//! A line that is understood by no parser becomes a `raw` event (message kept, and
//! `error.message` saying why): nothing is dropped. Only hostile input is refused, as a
//! typed [`Rejected`] the caller counts: lines over [`Options::max_line_len`], binary
//! data, JSON nested deeper than [`Options::max_json_depth`]. Invalid UTF-8 is read
//! lossily. Parsers never panic and keep no message content in errors.
//!
//! Not here: where lines come from (files, listeners, HTTP), enrichment and rules.

mod access;
mod audit;
mod auth;
mod errorlog;
mod event;
mod fhir;
mod header;
mod json;
mod json_text;
mod modsec;
mod redact;
mod session;
mod sshd;
mod text;
mod years;

use chrono::{Datelike, FixedOffset, Offset, Utc};
use serde_json::Value;

pub use access::decode_url;
pub use audit::{from_audit_entry, from_audit_record};
pub use event::{Event, Lookup, first_step, lookup_in};
pub use json_text::write_value as write_json;
pub use redact::{
    CREDENTIAL_HEADERS, REDACTED, SECRET_ENDINGS, SECRET_NAMES, is_secret_name, redact_cookies,
    redact_event, redact_text,
};
pub use session::SshSessions;
pub use sshd::counts_as_ssh_failure;
pub use years::Years;

/// Default [`Options::max_line_len`]: 64 KiB.
pub const DEFAULT_MAX_LINE_LEN: usize = 64 * 1024;
/// Default [`Options::max_json_depth`].
pub const DEFAULT_MAX_JSON_DEPTH: usize = 32;
/// Default [`Options::max_original_len`]: 16 KiB.
pub const DEFAULT_MAX_ORIGINAL_LEN: usize = 16 * 1024;
/// Largest document [`normalize_document`] reads: 64 MiB.
pub const MAX_DOCUMENT_LEN: usize = 64 * 1024 * 1024;

/// What the parsers assume where the input says nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The year of BSD syslog timestamps, which have none (default: this year).
    pub year: i32,
    /// The UTC offset of timestamps that have no zone (BSD syslog), seconds east of UTC
    /// (default 0: senders log in UTC).
    pub utc_offset_seconds: i32,
    /// Lines longer than this are rejected ([`Rejected::TooLong`]).
    pub max_line_len: usize,
    /// JSON nested deeper than this is rejected ([`Rejected::TooDeep`]).
    pub max_json_depth: usize,
    /// `event.original` is cut to this many bytes.
    pub max_original_len: usize,
    /// `event.dataset` of access-log lines: `apache.access` (default) or
    /// `nginx.access` (the formats are the same; the caller knows which server wrote it).
    pub access_dataset: AccessDataset,
    /// `labels.input`, when set: which input the line arrived on (`syslog-udp`,
    /// `file:/var/log/auth.log`, …).
    pub input: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            year: Utc::now().year(),
            utc_offset_seconds: 0,
            max_line_len: DEFAULT_MAX_LINE_LEN,
            max_json_depth: DEFAULT_MAX_JSON_DEPTH,
            max_original_len: DEFAULT_MAX_ORIGINAL_LEN,
            access_dataset: AccessDataset::Apache,
            input: None,
        }
    }
}

impl Options {
    /// The offset as a [`FixedOffset`] (UTC when out of range).
    pub fn utc_offset(&self) -> FixedOffset {
        FixedOffset::east_opt(self.utc_offset_seconds).unwrap_or_else(|| Utc.fix())
    }
}

/// Which web server wrote an access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AccessDataset {
    /// Apache httpd: `apache.access`.
    #[default]
    Apache,
    /// nginx: `nginx.access`.
    Nginx,
}

impl AccessDataset {
    fn name(self) -> &'static str {
        match self {
            AccessDataset::Apache => "apache.access",
            AccessDataset::Nginx => "nginx.access",
        }
    }
}

/// The format of a line or file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// Decide per line (JSON, access log, syslog, else raw).
    Auto,
    /// Syslog-file lines (`/var/log/auth.log`, rsyslog and journald exports).
    Syslog,
    /// Apache/nginx Common or Combined Log Format.
    AccessLog,
    /// Apache httpd or nginx error log.
    ErrorLog,
    /// One JSON object per line: AuditEvents, trail entries, or other objects.
    Ndjson,
    /// A whole JSON document holding FHIR AuditEvents (one, or a Bundle); see
    /// [`normalize_document`]. Per line, read as [`Format::Ndjson`].
    FhirJson,
    /// A whole JSON document (an object or an array of objects); see
    /// [`normalize_document`]. Per line, read as [`Format::Ndjson`].
    Json,
    /// Lines kept as they are (`raw` events).
    Raw,
}

impl Format {
    /// The format's name as the CLI and configuration write it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Syslog => "syslog",
            Format::AccessLog => "access_log",
            Format::ErrorLog => "error_log",
            Format::Ndjson => "ndjson",
            Format::FhirJson => "fhir_json",
            Format::Json => "json",
            Format::Raw => "raw",
        }
    }

    /// The format named `name` (see [`name`](Self::name)).
    pub fn from_name(name: &str) -> Option<Format> {
        [
            Format::Auto,
            Format::Syslog,
            Format::AccessLog,
            Format::ErrorLog,
            Format::Ndjson,
            Format::FhirJson,
            Format::Json,
            Format::Raw,
        ]
        .into_iter()
        .find(|f| f.name() == name)
    }

    /// Sniffs the format of a file from its beginning (the first 64 KiB and 20 lines
    /// are enough), by a majority of the sampled lines so that no single line steers
    /// it: JSON lines when at least half the lines are JSON objects; else the access-log,
    /// syslog or error-log format most lines parse as when that is at least half of
    /// them ([`Format::Auto`], line by line, when other lines parse as another known
    /// format); else a whole JSON document when the file opens with `{` or `[`; else
    /// [`Format::Raw`]. Blank lines, `#` comment lines (as fail2ban's sample logs have)
    /// and a line cut off by the 64 KiB limit do not vote.
    pub fn detect(head: &[u8]) -> Format {
        let cut = head.len() > 64 * 1024;
        let head = head.get(..64 * 1024).unwrap_or(head);
        let text = String::from_utf8_lossy(head);
        let mut lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .take(21)
            .collect();
        let partial_last = (cut || head.len() == 64 * 1024) && !text.ends_with('\n');
        if lines.len() > 20 || (partial_last && lines.len() > 1) {
            // Twenty lines vote; a line the limit cut off does not.
            lines.pop();
        }
        let Some(first) = lines.first() else {
            return Format::Raw;
        };
        let options = Options::default();
        let needed = lines.len().div_ceil(2);
        let objects = lines.iter().filter(|l| is_json_object(l)).count();
        if objects >= needed {
            return detect_json(&text, lines.len());
        }
        let syslog = lines
            .iter()
            .filter(|l| header::parse_header(l, &options).is_some())
            .count();
        let access = lines
            .iter()
            .filter(|l| access::looks_like_access(l))
            .count();
        let errors = lines
            .iter()
            .filter(|l| errorlog::looks_like_error_log(l))
            .count();
        let known = objects + syslog + access + errors;
        let (best, count) = [
            (Format::AccessLog, access),
            (Format::Syslog, syslog),
            (Format::ErrorLog, errors),
        ]
        .into_iter()
        .fold(
            (Format::Raw, 0),
            |best, (f, n)| if n > best.1 { (f, n) } else { best },
        );
        if count >= needed {
            // Lines of several known kinds (an access log with error-log lines among
            // them): each line is read in its own format.
            if known > count { Format::Auto } else { best }
        } else if first.starts_with('{') || first.starts_with('[') {
            document_kind(&text)
        } else {
            Format::Raw
        }
    }
}

/// Whether a line is meant as JSON: it opens with `{` or `[`, except that `[` and a
/// letter (an Apache error line's `[Thu Dec 05 …]`) counts only when the line parses
/// (`[true]`). Broken or too deep JSON still counts, to be refused as such.
pub fn is_json_text(line: &[u8]) -> bool {
    let line = line.trim_ascii_start();
    match line.split_first() {
        Some((b'{', _)) => true,
        Some((b'[', rest)) => match rest.trim_ascii_start().first() {
            Some(c) if c.is_ascii_alphabetic() => {
                serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok()
            }
            _ => true,
        },
        _ => false,
    }
}

/// Whether `line` is one whole JSON object within the nesting limit.
fn is_json_object(line: &str) -> bool {
    line.starts_with('{')
        && json::nesting_depth(line.as_bytes(), DEFAULT_MAX_JSON_DEPTH) <= DEFAULT_MAX_JSON_DEPTH
        && serde_json::from_str::<serde_json::Map<String, Value>>(line).is_ok()
}

/// Mostly JSON objects, one a line: JSON lines, unless the file is a single FHIR
/// AuditEvent or Bundle (a document).
fn detect_json(text: &str, lines: usize) -> Format {
    if lines == 1 && document_kind(text) == Format::FhirJson {
        Format::FhirJson
    } else {
        Format::Ndjson
    }
}

/// A whole JSON document: FHIR (AuditEvent, Bundle) or any other.
fn document_kind(text: &str) -> Format {
    let fhir = text.contains("\"resourceType\"")
        && (text.contains("\"AuditEvent\"") || text.contains("\"Bundle\""));
    if fhir { Format::FhirJson } else { Format::Json }
}

/// Why a line was refused rather than normalized. Refusals are for hostile or broken
/// input only; the caller counts them (by [`reason`](Self::reason)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejected {
    /// The line is empty or blank.
    Empty,
    /// The line is longer than the limit.
    TooLong {
        /// Its length, bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The line is binary data (NUL bytes or mostly control characters).
    Binary,
    /// JSON nested deeper than the limit.
    TooDeep {
        /// The limit.
        max: usize,
    },
}

impl Rejected {
    /// A stable name for metrics labels: `empty`, `too_long`, `binary`, `too_deep`.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejected::Empty => "empty",
            Rejected::TooLong { .. } => "too_long",
            Rejected::Binary => "binary",
            Rejected::TooDeep { .. } => "too_deep",
        }
    }
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejected::Empty => f.write_str("the line is empty; nothing to normalize"),
            Rejected::TooLong { len, max } => write!(
                f,
                "the line is {len} bytes, over the {max}-byte limit for one event; split it, or \
                 check that the input is a log with one event per line"
            ),
            Rejected::Binary => {
                f.write_str("the line is binary data, not text; check that the input is a log file")
            }
            Rejected::TooDeep { max } => {
                write!(f, "the JSON nests deeper than {max} levels; flatten it")
            }
        }
    }
}

impl std::error::Error for Rejected {}

/// Counts of refused lines by reason, for the caller's metrics and reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RejectCounts {
    /// [`Rejected::Empty`].
    pub empty: u64,
    /// [`Rejected::TooLong`].
    pub too_long: u64,
    /// [`Rejected::Binary`].
    pub binary: u64,
    /// [`Rejected::TooDeep`].
    pub too_deep: u64,
}

impl RejectCounts {
    /// Counts one refusal.
    pub fn add(&mut self, rejected: &Rejected) {
        match rejected {
            Rejected::Empty => self.empty += 1,
            Rejected::TooLong { .. } => self.too_long += 1,
            Rejected::Binary => self.binary += 1,
            Rejected::TooDeep { .. } => self.too_deep += 1,
        }
    }

    /// All refusals.
    pub fn total(&self) -> u64 {
        self.empty + self.too_long + self.binary + self.too_deep
    }
}

/// Normalizes one line (a trailing `\n` or `\r\n` is ignored).
///
/// # Errors
/// [`Rejected`] for empty, over-long, binary or too deeply nested input. Anything else
/// gives an event; lines no parser understands give a `raw` event with
/// `error.message`.
pub fn normalize_line(line: &[u8], format: Format, options: &Options) -> Result<Event, Rejected> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() > options.max_line_len {
        return Err(Rejected::TooLong {
            len: line.len(),
            max: options.max_line_len,
        });
    }
    if line.iter().all(u8::is_ascii_whitespace) {
        return Err(Rejected::Empty);
    }
    if is_binary(line) {
        return Err(Rejected::Binary);
    }
    let text = text::utf8_lossy(line);
    let format = match format {
        Format::Auto => sniff_line(&text, options),
        // JSON lines with plain log lines among them (a collector that wraps some
        // sources and not others, or a file whose first lines steered detection):
        // those lines are read in their own format, not kept as raw "not JSON".
        Format::Ndjson if !is_json_text(text.as_bytes()) => sniff_line(&text, options),
        other => other,
    };
    let mut event = Event::new();
    match format {
        Format::Syslog => syslog_line(&text, options, &mut event),
        Format::AccessLog => access_line(&text, options, &mut event),
        Format::ErrorLog => error_line(&text, options, &mut event),
        Format::Ndjson | Format::FhirJson | Format::Json => {
            json_line(line, &text, options, &mut event)?;
        }
        Format::Raw | Format::Auto => raw(&text, "read as raw text", &mut event),
    }
    finish(&mut event, &text, options);
    Ok(event)
}

/// Normalizes a whole JSON document: one object (an AuditEvent, a Bundle of them, or
/// any object) or an array of objects. Items that are not objects become `raw` events.
///
/// # Errors
/// [`Rejected`] when the document is empty, over [`MAX_DOCUMENT_LEN`], or nests too
/// deeply. A document that is not JSON gives one `raw` event.
pub fn normalize_document(document: &[u8], options: &Options) -> Result<Vec<Event>, Rejected> {
    if document.len() > MAX_DOCUMENT_LEN {
        return Err(Rejected::TooLong {
            len: document.len(),
            max: MAX_DOCUMENT_LEN,
        });
    }
    if document.iter().all(u8::is_ascii_whitespace) {
        return Err(Rejected::Empty);
    }
    if json::nesting_depth(document, options.max_json_depth) > options.max_json_depth {
        return Err(Rejected::TooDeep {
            max: options.max_json_depth,
        });
    }
    let text = text::utf8_lossy(document);
    let value: Value = match serde_json::from_str(&text) {
        Ok(value) => value,
        Err(e) => {
            let mut event = Event::new();
            raw(&text, &json_error(&e), &mut event);
            finish(&mut event, &text, options);
            return Ok(vec![event]);
        }
    };
    let items = match value {
        Value::Array(items) => items,
        Value::Object(object)
            if object.get("resourceType").and_then(Value::as_str) == Some("Bundle") =>
        {
            bundle_resources(object)
        }
        other => vec![other],
    };
    Ok(items
        .into_iter()
        .map(|item| {
            let text = item.to_string();
            let mut event = Event::new();
            match item {
                Value::Object(object) => json::from_object(object, options, &mut event),
                _ => raw(&text, "the JSON item is not an object", &mut event),
            }
            finish(&mut event, &text, options);
            event
        })
        .collect())
}

/// Normalizes a ModSecurity JSON audit record (libmodsecurity 3 or ModSecurity 2.9
/// layout) already parsed, as `POST /v1/events` receives it; `None` when `object` is
/// not one. Lines of a ModSecurity audit log need no call: [`normalize_line`] and
/// [`normalize_document`] recognize them.
pub fn from_modsecurity(
    object: &serde_json::Map<String, Value>,
    options: &Options,
) -> Option<Event> {
    let mut event = Event::new();
    if !modsec::parse(object, options, &mut event) {
        return None;
    }
    let text = serde_json::to_string(object).unwrap_or_default();
    finish(&mut event, &text, options);
    Some(event)
}

fn bundle_resources(mut bundle: serde_json::Map<String, Value>) -> Vec<Value> {
    let Some(Value::Array(entries)) = bundle.remove("entry") else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter_map(|mut entry| entry.get_mut("resource").map(Value::take))
        .collect()
}

/// NUL bytes, or more than a quarter control characters (tabs aside).
fn is_binary(line: &[u8]) -> bool {
    if line.contains(&0) {
        return true;
    }
    let control = line
        .iter()
        .filter(|b| (b.is_ascii_control() && **b != b'\t') || **b == 0x7f)
        .count();
    control * 4 > line.len()
}

/// The format of one line on its own. Whether a syslog header is there does not depend
/// on the year or offset in `options` (only the time it names does).
fn sniff_line(text: &str, options: &Options) -> Format {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        Format::Ndjson
    } else if header::parse_header(text, options).is_some() {
        Format::Syslog
    } else if access::looks_like_access(text) {
        Format::AccessLog
    } else if errorlog::looks_like_error_log(text) {
        Format::ErrorLog
    } else {
        Format::Raw
    }
}

fn syslog_line(text: &str, options: &Options, event: &mut Event) {
    let Some(header) = header::parse_header(text, options) else {
        raw(text, "not a syslog line: no timestamp at the start", event);
        return;
    };
    if let Some(ts) = header.timestamp {
        event.set("@timestamp", ts);
    }
    if let Some(host) = &header.host {
        event.set("host.name", host.as_ref());
    }
    if let Some(priority) = header.priority {
        event.set("log.syslog.priority", priority);
    }
    if let Some(pid) = header.pid {
        event.set("process.pid", pid);
    }
    let msg: &str = &header.msg;
    event.set("message", msg);
    let program = header.program.as_deref().unwrap_or_default();
    if !program.is_empty() {
        event.set("process.name", program);
    }
    dispatch(program, msg, event);
}

/// The message parser for a program.
fn dispatch(program: &str, msg: &str, event: &mut Event) {
    match program {
        "sshd" | "sshd-session" | "sshd-auth" => sshd::parse(msg, event),
        "sudo" => auth::sudo(msg, event),
        "su" => auth::su(msg, event),
        "login" => auth::login(msg, event),
        _ => {
            let trimmed = msg.trim_start();
            if !(trimmed.starts_with("pam_") && auth::pam_module(trimmed, event)) {
                event.set("event.dataset", "syslog");
            }
        }
    }
}

fn access_line(text: &str, options: &Options, event: &mut Event) {
    if let Err(why) = access::parse(text, options.access_dataset.name(), event) {
        *event = Event::new();
        raw(text, &format!("not an access-log line: {why}"), event);
    }
}

fn error_line(text: &str, options: &Options, event: &mut Event) {
    if !errorlog::parse(text, options.utc_offset(), event) {
        raw(text, "not an Apache or nginx error-log line", event);
    }
}

fn json_line(
    bytes: &[u8],
    text: &str,
    options: &Options,
    event: &mut Event,
) -> Result<(), Rejected> {
    if json::nesting_depth(bytes, options.max_json_depth) > options.max_json_depth {
        return Err(Rejected::TooDeep {
            max: options.max_json_depth,
        });
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => json::from_object(object, options, event),
        Ok(_) => raw(text, "the JSON value is not an object", event),
        Err(e) => raw(text, &json_error(&e), event),
    }
    Ok(())
}

/// A JSON error without the input it quotes.
fn json_error(e: &serde_json::Error) -> String {
    format!(
        "not JSON: {:?} error at line {} column {}",
        e.classify(),
        e.line(),
        e.column()
    )
}

/// A `raw` event: the text as message, and why it was not understood.
fn raw(text: &str, why: &str, event: &mut Event) {
    event.set("event.dataset", "raw");
    event.set("message", text::truncate(text, DEFAULT_MAX_ORIGINAL_LEN));
    event.set("error.message", why);
}

/// Fields every event gets: `event.original`, `event.kind`, `labels.input`.
fn finish(event: &mut Event, text: &str, options: &Options) {
    event.set(
        "event.original",
        text::truncate(text, options.max_original_len),
    );
    if !event.has("event.kind") {
        event.set("event.kind", "event");
    }
    if let Some(input) = &options.input {
        event.set("labels.input", input.as_str());
    }
}
