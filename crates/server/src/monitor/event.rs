//! Turning what the inputs receive into events of the schema (docs/event-schema.md).
//!
//! Parsing is the events crate's `normalize` module; this module decides which of its
//! readers each input uses, stamps the input (`labels.input`), fills `@timestamp` when
//! the source gave none, and keeps what no parser understands as a `raw` event (never
//! dropped). Lines the normalizer refuses as hostile (over its length limit, binary
//! data, JSON nested too deep) are counted (`webqx_monitor_rejected_total{input,reason}`)
//! and produce no event.
//!
//! - Log lines (followed files, syslog messages): a [`LineReader`] per input reads them
//!   in order, detecting the format per line (syslog with sshd/PAM/sudo/su/login
//!   messages, Apache/nginx access logs, JSON lines: FHIR AuditEvents, trail entries or
//!   other objects) and linking the lines of one sshd connection ([`SshSessions`]), so
//!   that a line without an address gets its connection's.
//! - `POST /v1/events`: JSON objects as given ([`from_object`]), except ModSecurity
//!   audit records, which are normalized like lines of their log.
//! - The audit trail ([`from_trail`]): the EHR's FHIR AuditEvents as `fhir.auditevent`
//!   events, our own records of interest as `webqx.audit` events.

use serde_json::{Map, Value, json};
use webqx_audit::Entry;
use webqx_events::normalize::{self, Format, Options, Rejected, SshSessions, Years};

/// Longest `event.original` kept, in bytes.
pub const MAX_ORIGINAL: usize = 8 * 1024;

/// Longest line a [`LineReader`] reads, in bytes (longer ones are refused and counted).
pub const MAX_LINE: usize = normalize::DEFAULT_MAX_LINE_LEN;

fn now() -> String {
    webqx_store::time::rfc3339(webqx_store::now_ms())
}

fn object_at<'a>(map: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    let slot = map.entry(key.to_owned()).or_insert_with(|| json!({}));
    if !slot.is_object() {
        // A scalar where the schema has an object: keep it under `original_value`.
        let old = std::mem::take(slot);
        *slot = json!({ "original_value": old });
    }
    slot.as_object_mut()
}

/// A JSON object sent to `POST /v1/events`, as given, stamped with its input; a
/// ModSecurity JSON audit record is normalized first (`modsecurity.audit`).
pub fn from_object(mut event: Map<String, Value>, input: &str) -> Value {
    if let Some(normalized) = normalize::from_modsecurity(&event, &Options::default()) {
        return stamped(normalized, input);
    }
    if !event.get("@timestamp").is_some_and(Value::is_string) {
        event.insert("@timestamp".into(), Value::String(now()));
    }
    if let Some(e) = object_at(&mut event, "event") {
        e.entry("dataset").or_insert_with(|| json!("json"));
        e.entry("kind").or_insert_with(|| json!("event"));
    }
    if let Some(labels) = object_at(&mut event, "labels") {
        labels.insert("input".into(), json!(input));
    }
    Value::Object(event)
}

/// Stamps a normalized event: `labels.input`, and `@timestamp` when missing.
fn stamped(event: normalize::Event, input: &str) -> Value {
    let mut map = event.into_map();
    if !map.get("@timestamp").is_some_and(Value::is_string) {
        map.insert("@timestamp".into(), Value::String(now()));
    }
    if let Some(labels) = object_at(&mut map, "labels") {
        labels.insert("input".into(), json!(input));
    }
    Value::Object(map)
}

/// A syslog header field usable in a line: present, not the nil value, one word.
fn clean(field: Option<&str>) -> Option<&str> {
    field.filter(|s| !s.is_empty() && *s != "-" && !s.contains(char::is_whitespace))
}

fn count_rejected(input: &str, rejected: &Rejected) {
    if matches!(rejected, Rejected::Empty) {
        return;
    }
    metrics::counter!("webqx_monitor_rejected_total",
        "input" => super::input_name(input), "reason" => rejected.reason())
    .increment(1);
}

/// Reads the lines of one input, in the order they arrived (one per followed file and
/// per syslog transport): the sshd connection tracking needs to see them in order.
pub struct LineReader {
    input: String,
    options: Options,
    sessions: SshSessions,
    /// The year of BSD timestamps, from the clock (they carry none).
    years: Years,
}

impl LineReader {
    /// A reader for `input` (`file:/var/log/auth.log`, `syslog-tcp`, …).
    pub fn new(input: &str) -> LineReader {
        LineReader {
            input: input.to_owned(),
            options: Options {
                max_line_len: MAX_LINE,
                max_original_len: MAX_ORIGINAL,
                input: Some(input.to_owned()),
                ..Options::default()
            },
            sessions: SshSessions::new(),
            years: Years::live(),
        }
    }

    /// The input this reader stamps.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// One line (without or with its newline) as an event; `None` for a blank line or
    /// a line refused as hostile (counted).
    pub fn line(&mut self, line: &[u8]) -> Option<Value> {
        self.years.follow(line, &mut self.options);
        match normalize::normalize_line(line, Format::Auto, &self.options) {
            Ok(mut event) => {
                self.sessions.observe(&mut event);
                Some(stamped(event, &self.input))
            }
            Err(rejected) => {
                count_rejected(&self.input, &rejected);
                None
            }
        }
    }

    /// A syslog message received by a listener, as the syslog-file line it would be in
    /// `/var/log` (`<time> <host> <app>[<pid>]: <text>`), so that one parser reads both.
    /// A message whose text is a JSON object is that event, as given, with the
    /// sender's `host.name` and `process.name` when it has none.
    pub fn syslog_message(
        &mut self,
        timestamp: Option<&str>,
        host: Option<&str>,
        app: Option<&str>,
        pid: Option<&str>,
        text: &str,
    ) -> Option<Value> {
        if text.trim_start().starts_with('{') {
            // A JSON event sent over syslog: the event as given, with the sender.
            let mut event = self.line(text.as_bytes())?;
            for (field, value) in [("host", host), ("process", app)] {
                if let Some(v) = value.filter(|v| !v.is_empty() && *v != "-")
                    && event.get(field).and_then(|f| f.get("name")).is_none()
                    && let Some(map) = event.as_object_mut()
                    && let Some(slot) = object_at(map, field)
                {
                    slot.insert("name".into(), json!(v));
                }
            }
            return Some(event);
        }
        let time = timestamp
            .filter(|t| !t.is_empty() && *t != "-")
            .map_or_else(now, str::to_owned);
        let mut line = format!("{time} {}", clean(host).unwrap_or("localhost"));
        match (clean(app), clean(pid)) {
            (Some(app), Some(pid)) => line.push_str(&format!(" {app}[{pid}]:")),
            (Some(app), None) => line.push_str(&format!(" {app}:")),
            _ => {}
        }
        line.push(' ');
        line.push_str(text.trim_start());
        self.line(line.as_bytes())
    }
}

/// Adds what an RFC 5424/3164 message carries beyond its text (ECS `log.syslog.*`):
/// facility and severity (code and name), the RFC 5424 `msgid` and structured data as
/// `{SD-ID: {param: value}}` (a repeated parameter keeps its values in an array). An
/// event that is not an object, or already has `log.syslog.structured_data`, is left.
pub fn add_syslog_fields(event: &mut Value, msg: &webqx_events::syslog::SyslogMessage) {
    let Some(root) = event.as_object_mut() else {
        return;
    };
    let Some(log) = object_at(root, "log") else {
        return;
    };
    let Some(syslog) = object_at(log, "syslog") else {
        return;
    };
    if syslog.contains_key("structured_data") {
        return;
    }
    if msg.pri_received() {
        syslog.insert(
            "facility".into(),
            json!({"code": msg.facility(), "name": msg.facility_name()}),
        );
        syslog.insert(
            "severity".into(),
            json!({"code": msg.severity(), "name": msg.severity_name()}),
        );
    }
    if let Some(id) = msg.msgid().filter(|m| !m.is_empty() && *m != "-") {
        syslog.insert("msgid".into(), json!(id));
    }
    let mut data = Map::new();
    for element in msg.structured_data() {
        let Some(params) = object_at(&mut data, &element.id) else {
            continue;
        };
        for (name, value) in &element.params {
            match params.get_mut(name) {
                None => {
                    params.insert(name.clone(), json!(value));
                }
                Some(Value::Array(values)) => values.push(json!(value)),
                Some(first) => *first = json!([first.take(), value]),
            }
        }
    }
    if !data.is_empty() {
        syslog.insert("structured_data".into(), Value::Object(data));
    }
}

/// An audit trail record: the EHR's FHIR AuditEvent as a `fhir.auditevent` event, or
/// our own record (of an action in `actions`) as a `webqx.audit` event. `None` for
/// records of no interest.
pub fn from_trail(entry: &Entry, actions: &[String]) -> Option<Value> {
    if let Some(fhir) = &entry.event {
        let options = Options {
            max_original_len: MAX_ORIGINAL,
            input: Some("audit".into()),
            ..Options::default()
        };
        let text = fhir.to_string();
        let mut event = match normalize::normalize_document(text.as_bytes(), &options) {
            Ok(events) => events.into_iter().next()?,
            Err(rejected) => {
                count_rejected("audit", &rejected);
                return None;
            }
        };
        if !event.has("@timestamp") {
            event.set("@timestamp", entry.time.as_str());
        }
        event.set("webqx.audit_seq", entry.seq);
        return Some(stamped(event, "audit"));
    }
    if entry.action == "alert.raised" || !actions.iter().any(|a| a == &entry.action) {
        return None;
    }
    let mut event = normalize::from_audit_entry(entry);
    event.set("webqx.audit_seq", entry.seq);
    let long = event
        .get("event.original")
        .and_then(Value::as_str)
        .is_some_and(|o| o.len() > MAX_ORIGINAL);
    if long {
        event.remove("event.original");
    }
    Some(stamped(event, "audit"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_normalized_per_line_and_stamped() {
        let mut r = LineReader::new("file:/x");
        let e = r
            .line(br#"{"event":{"outcome":"failure"},"user":{"name":"a"}}"#)
            .unwrap();
        assert_eq!(e["event"]["outcome"], "failure");
        assert_eq!(e["event"]["dataset"], "json");
        assert_eq!(e["labels"]["input"], "file:/x");
        assert!(e["@timestamp"].is_string());
        let ssh = r
            .line(b"Dec 10 10:54:29 LabSZ sshd[24868]: Failed password for invalid user zhangyan from 183.62.140.253 port 33521 ssh2\n")
            .unwrap();
        assert_eq!(ssh["event"]["action"], "ssh_failed_password");
        assert_eq!(ssh["source"]["ip"], "183.62.140.253");
        assert_eq!(ssh["labels"]["input"], "file:/x");
        let web = r
            .line(br#"10.0.0.9 - - [10/Dec/2026:10:00:00 +0000] "GET /a?x=1 HTTP/1.1" 200 12 "-" "curl/8""#)
            .unwrap();
        assert_eq!(web["event"]["dataset"], "apache.access");
        let raw = r.line(b"hello there").unwrap();
        assert_eq!(raw["event"]["dataset"], "raw");
        assert!(r.line(b"   \r\n").is_none());
        assert!(r.line(b"\0\0\0binary").is_none());
        assert!(r.line("x".repeat(MAX_LINE + 1).as_bytes()).is_none());
    }

    #[test]
    fn sshd_lines_of_one_connection_share_its_address() {
        let mut r = LineReader::new("syslog-tcp");
        r.syslog_message(
            Some("Dec 10 10:54:27"),
            Some("LabSZ"),
            Some("sshd"),
            Some("24868"),
            " Invalid user zhangyan from 183.62.140.253",
        )
        .unwrap();
        let pam = r
            .syslog_message(
                Some("Dec 10 10:54:27"),
                Some("LabSZ"),
                Some("sshd"),
                Some("24868"),
                " pam_unix(sshd:auth): check pass; user unknown",
            )
            .unwrap();
        assert_eq!(pam["source"]["ip"], "183.62.140.253", "{pam:#}");
        assert_eq!(pam["host"]["name"], "LabSZ");
        assert_eq!(pam["labels"]["input"], "syslog-tcp");
    }

    /// RFC 5424 structured data, msgid, facility and severity reach `log.syslog.*`
    /// (they were dropped).
    #[test]
    fn structured_data_and_priority_are_kept() {
        let text = "<86>1 2026-12-05T10:00:00Z gw sshd 77 AUTH01 [origin ip=\"192.0.2.1\" \
                    ip=\"192.0.2.2\"][meta@32473 sequenceId=\"5\"] Failed password for root \
                    from 203.0.113.5 port 22 ssh2";
        let msg = webqx_events::syslog::parse(text.as_bytes()).expect("a 5424 message");
        let mut r = LineReader::new("syslog-tcp");
        let body = String::from_utf8_lossy(msg.msg_bytes()).into_owned();
        let mut e = r
            .syslog_message(
                msg.timestamp(),
                msg.hostname(),
                msg.app_name(),
                msg.procid(),
                &body,
            )
            .unwrap();
        add_syslog_fields(&mut e, &msg);
        assert_eq!(e["source"]["ip"], "203.0.113.5", "{e:#}");
        let syslog = &e["log"]["syslog"];
        assert_eq!(syslog["facility"], json!({"code": 10, "name": "authpriv"}));
        assert_eq!(syslog["severity"], json!({"code": 6, "name": "info"}));
        assert_eq!(syslog["msgid"], "AUTH01");
        assert_eq!(
            syslog["structured_data"],
            json!({"origin": {"ip": ["192.0.2.1", "192.0.2.2"]},
                   "meta@32473": {"sequenceId": "5"}})
        );
    }

    #[test]
    fn a_modsecurity_audit_record_is_normalized() {
        let record = r#"{"transaction":{"client_ip":"198.51.100.23","time_stamp":"Mon Mar  2 09:41:59 2026","client_port":50463,"request":{"method":"GET","http_version":1.1,"uri":"/?q=%3Cscript%3E","headers":{"Host":"ehr.example.org","Cookie":"a=%27%20or%201=1"}},"response":{"http_code":200}}}"#;
        let e = from_object(serde_json::from_str(record).unwrap(), "http");
        assert_eq!(e["event"]["dataset"], "modsecurity.audit");
        assert_eq!(e["source"]["ip"], "198.51.100.23");
        assert_eq!(e["url"]["decoded"], "/?q=<script>");
        assert_eq!(e["http"]["request"]["cookies"], "a=' or 1=1");
        assert_eq!(e["@timestamp"], "2026-03-02T09:41:59Z");
        assert_eq!(e["labels"]["input"], "http");
    }

    #[test]
    fn a_scalar_where_an_object_belongs_is_kept() {
        let e = from_object(
            serde_json::from_str(r#"{"event":"x","labels":3}"#).unwrap(),
            "http",
        );
        assert_eq!(e["event"]["original_value"], "x");
        assert_eq!(e["labels"]["input"], "http");
    }
}
