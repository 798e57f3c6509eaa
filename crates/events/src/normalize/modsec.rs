//! ModSecurity JSON audit logs: a WAF's record of a whole request, headers and cookies
//! included, which an access log never shows.
//!
//! Two layouts, one record per line (`SecAuditLogFormat JSON`, `SecAuditLogType
//! Serial`):
//!
//! - libmodsecurity 3 (the nginx and Apache v3 connectors): `{"transaction":
//!   {"client_ip", "client_port", "host_ip", "host_port", "time_stamp", "unique_id",
//!   "request": {"method", "http_version", "uri", "headers", "body"}, "response":
//!   {"http_code", …}, "messages": [{"details": {"ruleId", …}}]}}`;
//! - ModSecurity 2.9 for Apache: `{"transaction": {"time", "transaction_id",
//!   "remote_address", "remote_port", "local_address", "local_port"}, "request":
//!   {"request_line", "headers", "body"}, "response": {"status", …}, "audit_data":
//!   {"messages": ["… [id \"942100\"] …"]}}`.
//!
//! Headers become `http.request.headers.NAME` (name lower-cased), cookies and the
//! headers no other field covers are joined and percent-decoded into
//! `http.request.cookies` and `http.request.other_headers` for rules to search.
//! Credential headers (`Authorization`, `X-Api-Key`, … see
//! [`CREDENTIAL_HEADERS`](super::CREDENTIAL_HEADERS)) are never copied into fields;
//! cookies are, for rules to search, and are redacted from whatever is kept or sent
//! ([`redact_event`](super::redact_event)).

use serde_json::{Map, Value};

use super::Options;
use super::access::{access_time, decode_form, url_fields};
use super::event::Event;
use super::redact::CREDENTIAL_HEADERS;
use super::sshd::mark;
use super::text::{ctime, parse_u64, set_source};

/// The `event.dataset` of ModSecurity audit records.
pub(crate) const DATASET: &str = "modsecurity.audit";

/// Headers with a field of their own, or set by browsers in a fixed format: left out of
/// `http.request.other_headers`.
const ORDINARY: &[&str] = &[
    "host",
    "user-agent",
    "referer",
    "cookie",
    "content-type",
    "content-length",
    "content-encoding",
    "connection",
    "keep-alive",
    "cache-control",
    "pragma",
    "proxy-connection",
    "upgrade-insecure-requests",
    "dnt",
    "te",
    "upgrade",
    "if-modified-since",
    "if-none-match",
    "if-match",
    "if-unmodified-since",
    "if-range",
    "range",
];

/// Header name prefixes of the same kind as [`ORDINARY`].
const ORDINARY_PREFIXES: &[&str] = &["accept", "sec-fetch-", "sec-ch-"];

/// The parts of a record, whichever layout it has.
struct Record<'a> {
    transaction: &'a Map<String, Value>,
    request: &'a Map<String, Value>,
    response: Option<&'a Map<String, Value>>,
    /// ModSecurity 2.9 layout (request and response beside the transaction).
    v2: bool,
}

fn record(object: &Map<String, Value>) -> Option<Record<'_>> {
    let transaction = object.get("transaction")?.as_object()?;
    if let Some(request) = transaction.get("request").and_then(Value::as_object) {
        return Some(Record {
            transaction,
            request,
            response: transaction.get("response").and_then(Value::as_object),
            v2: false,
        });
    }
    let request = object.get("request")?.as_object()?;
    request.contains_key("request_line").then_some(Record {
        transaction,
        request,
        response: object.get("response").and_then(Value::as_object),
        v2: true,
    })
}

/// Fills `event` from a ModSecurity audit record; `false` (event untouched) when
/// `object` is not one.
pub(crate) fn parse(object: &Map<String, Value>, options: &Options, event: &mut Event) -> bool {
    let Some(record) = record(object) else {
        return false;
    };
    event.set("event.dataset", DATASET);
    connection(&record, options, event);
    request_line(&record, event);
    headers(record.request, event);
    if let Some(body) = body(record.request) {
        event.set("http.request.body.content", decode_form(&body));
    }
    let status = record
        .response
        .and_then(|r| r.get(if record.v2 { "status" } else { "http_code" }))
        .and_then(number);
    if let Some(status) = status {
        event.set("http.response.status_code", status);
    }
    let rule_ids = rule_ids(object, &record);
    if !rule_ids.is_empty() {
        event.set("modsecurity.rule_ids", rule_ids);
    }
    let failed = status.is_some_and(|s| s >= 400);
    let outcome = if failed { "failure" } else { "success" };
    mark(event, "http_request", "web", "access", outcome);
    true
}

/// Client and server addresses, the transaction id and the time.
fn connection(record: &Record<'_>, options: &Options, event: &mut Event) {
    let tx = record.transaction;
    let key = |v3: &'static str, v2: &'static str| if record.v2 { v2 } else { v3 };
    if let Some(client) = tx
        .get(key("client_ip", "remote_address"))
        .and_then(Value::as_str)
    {
        set_source(event, client);
    }
    if let Some(port) = tx.get(key("client_port", "remote_port")).and_then(number) {
        event.set("source.port", port);
    }
    if let Some(host) = tx
        .get(key("host_ip", "local_address"))
        .and_then(Value::as_str)
    {
        event.set_nonempty("destination.ip", host);
    }
    if let Some(port) = tx.get(key("host_port", "local_port")).and_then(number) {
        event.set("destination.port", port);
    }
    if let Some(id) = tx
        .get(key("unique_id", "transaction_id"))
        .and_then(Value::as_str)
    {
        event.set_nonempty("http.request.id", id);
    }
    let time = if record.v2 {
        tx.get("time").and_then(Value::as_str).and_then(access_time)
    } else {
        tx.get("time_stamp")
            .and_then(Value::as_str)
            .and_then(|t| ctime(t, options.utc_offset()))
    };
    if let Some(time) = time {
        event.set("@timestamp", time);
    }
}

/// Method, target and version: separate members (v3) or one request line (v2).
fn request_line(record: &Record<'_>, event: &mut Event) {
    let text = |key: &str| record.request.get(key).and_then(Value::as_str);
    let (method, target, version) = if record.v2 {
        let line = text("request_line").unwrap_or_default();
        let mut parts = line.splitn(3, ' ');
        let (method, target) = (parts.next(), parts.next());
        let version = parts.next().map(|p| p.strip_prefix("HTTP/").unwrap_or(p));
        (method, target, version.map(str::to_owned))
    } else {
        let version = match record.request.get("http_version") {
            Some(Value::String(v)) => Some(v.strip_prefix("HTTP/").unwrap_or(v).to_owned()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        (text("method"), text("uri"), version)
    };
    if let Some(method) = method.filter(|m| !m.is_empty()) {
        event.set("http.request.method", method);
    }
    if let Some(version) = version.filter(|v| !v.is_empty()) {
        event.set("http.version", version);
    }
    if let Some(target) = target.filter(|t| !t.is_empty()) {
        url_fields(target, event);
    }
}

/// A header's value: a string, or an array of strings (joined with `sep`).
fn header_value(value: &Value, sep: &str) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => {
            let parts: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            (!parts.is_empty()).then(|| parts.join(sep))
        }
        _ => None,
    }
}

/// A header name usable as a field name: an HTTP token without dots, lower-cased.
fn field_name(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-^_`|~".contains(&b));
    ok.then(|| name.to_ascii_lowercase())
}

/// `http.request.headers.*`, `user_agent.original`, `http.request.referrer`,
/// `url.domain`, `http.request.cookies`, `http.request.other_headers`.
fn headers(request: &Map<String, Value>, event: &mut Event) {
    let Some(headers) = request.get("headers").and_then(Value::as_object) else {
        return;
    };
    let mut merged: Vec<(String, String)> = Vec::new();
    for (name, value) in headers {
        let Some(name) = field_name(name) else {
            continue;
        };
        let sep = if name == "cookie" { "; " } else { ", " };
        let Some(value) = header_value(value, sep) else {
            continue;
        };
        match merged.iter_mut().find(|(n, _)| *n == name) {
            Some((_, old)) => {
                old.push_str(sep);
                old.push_str(&value);
            }
            None => merged.push((name, value)),
        }
    }
    let mut others = Vec::new();
    for (name, value) in &merged {
        if CREDENTIAL_HEADERS.contains(&name.as_str()) {
            continue;
        }
        event.set(&format!("http.request.headers.{name}"), value.as_str());
        match name.as_str() {
            "user-agent" => event.set_nonempty("user_agent.original", value),
            "referer" => event.set_nonempty("http.request.referrer", value),
            "host" => event.set_nonempty("url.domain", host_name(value)),
            "cookie" => event.set_nonempty("http.request.cookies", &decode_form(value)),
            _ => {}
        }
        let ordinary = ORDINARY.contains(&name.as_str())
            || ORDINARY_PREFIXES.iter().any(|p| name.starts_with(p));
        if !ordinary {
            others.push(format!("{name}: {}", decode_form(value)));
        }
    }
    if !others.is_empty() {
        event.set("http.request.other_headers", others.join("\n"));
    }
}

/// The host of a `Host` header (port and IPv6 brackets removed).
fn host_name(value: &str) -> &str {
    let value = value.trim();
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split_once(']').map_or(rest, |(host, _)| host);
    }
    match value.rsplit_once(':') {
        Some((host, port)) if parse_u64(port).is_some() => host,
        _ => value,
    }
}

/// The request body: a string (v3), or an array of strings (v2's part C).
fn body(request: &Map<String, Value>) -> Option<String> {
    header_value(request.get("body")?, "").filter(|b| !b.is_empty())
}

/// A number written as a JSON number or a decimal string.
fn number(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => parse_u64(s),
        _ => None,
    }
}

/// The CRS rule ids ModSecurity matched: v3 `messages[].details.ruleId`, v2 the
/// `[id "…"]` tags of `audit_data.messages`.
fn rule_ids(object: &Map<String, Value>, record: &Record<'_>) -> Vec<String> {
    let mut ids = Vec::new();
    if record.v2 {
        let messages = object
            .get("audit_data")
            .and_then(|a| a.get("messages"))
            .and_then(Value::as_array);
        for message in messages.into_iter().flatten().filter_map(Value::as_str) {
            let mut rest = message;
            while let Some((_, after)) = rest.split_once("[id \"") {
                let Some((id, tail)) = after.split_once('"') else {
                    break;
                };
                ids.push(id.to_owned());
                rest = tail;
            }
        }
    } else {
        let messages = record.transaction.get("messages").and_then(Value::as_array);
        for message in messages.into_iter().flatten() {
            let id = message.get("details").and_then(|d| d.get("ruleId"));
            if let Some(id) = id.and_then(Value::as_str).filter(|s| !s.is_empty()) {
                ids.push(id.to_owned());
            }
        }
    }
    ids.truncate(64);
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        assert_eq!(host_name("example.org:8443"), "example.org");
        assert_eq!(host_name("[2001:db8::1]:443"), "2001:db8::1");
        assert_eq!(host_name("example.org"), "example.org");
    }
}
