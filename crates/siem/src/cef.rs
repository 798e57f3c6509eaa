//! ArcSight Common Event Format (CEF) rendering.
//!
//! One record is one line, `CEF:0|WebQx|WebQx Security|<version>|<action>|<action>
//! <outcome>|<severity>|<extension>`, following "Implementing ArcSight Common Event Format
//! (CEF)" (the Character Encoding section for escaping, the extension dictionary for
//! keys). Version 0 of the format: IPv4 addresses go in `src`, IPv6 ones in `c6a2`.
//!
//! | key | value |
//! | --- | --- |
//! | `rt` | record time, ms since the epoch |
//! | `externalId` | record id (UUIDv7; SIEMs de-duplicate on it) |
//! | `cat` | the OCSF class name ([`crate::ocsf::Class`]) |
//! | `act` | action |
//! | `outcome` | `success` or `failure` (denials are failures; the name says `denied`) |
//! | `reason` | stable error type of a denial or failure |
//! | `suser` | actor |
//! | `src`/`c6a2`, `spt`, `shost` | source: IPv4, IPv6, port, anything else |
//! | `requestMethod` | the HTTP method of an `http.request` record |
//! | `cn1` | sequence number in the chain |
//! | `cs1`–`cs6` | purpose, target, request id, chain hash, details (JSON), HMACs (JSON) |

use crate::ocsf::{Class, Severity};
use crate::reading::{self, Source};
use serde_json::{Map, Value};
use std::net::IpAddr;
use webqx_audit::render::{PRODUCT, VENDOR, VERSION};
use webqx_audit::{Outcome, TrailRecord};

/// The seven header fields, unescaped.
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    /// Version of the CEF format (0).
    pub version: u8,
    /// Device vendor.
    pub vendor: &'a str,
    /// Device product.
    pub product: &'a str,
    /// Device version.
    pub device_version: &'a str,
    /// Signature id: the event type.
    pub signature_id: &'a str,
    /// Name: the event, for people.
    pub name: &'a str,
    /// Severity, 0–10 (more is cut to 10).
    pub severity: u8,
}

/// The header with its separators, `CEF:0|…|<severity>|`, ready for the extension.
///
/// Fields are escaped with [`escape_header`]. The specification allows no line break
/// in the header (only extension values may span lines), so control characters in a
/// field are first replaced by spaces: the line stays one line whatever the input.
pub fn header(h: &Header<'_>) -> String {
    let mut out = format!("CEF:{}|", h.version);
    for field in [
        h.vendor,
        h.product,
        h.device_version,
        h.signature_id,
        h.name,
    ] {
        let one_line: String = field
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        out.push_str(&escape_header(&one_line));
        out.push('|');
    }
    out.push_str(&h.severity.min(10).to_string());
    out.push('|');
    out
}

/// Escapes a header field: `\` becomes `\\` and `|` becomes `\|`, nothing else (CEF,
/// Character Encoding).
pub fn escape_header(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes an extension value: `\` becomes `\\`, `=` becomes `\=`, a line feed `\n` and
/// a carriage return `\r` (CEF, Character Encoding). `|` needs no escape there.
pub fn escape_extension(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '=' => out.push_str("\\="),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// The record as one CEF line.
pub fn render(rec: &TrailRecord) -> String {
    let entry = &rec.entry;
    let name = format!("{} {}", entry.action, reading::outcome_word(entry.outcome));
    let mut line = header(&Header {
        version: 0,
        vendor: VENDOR,
        product: PRODUCT,
        device_version: VERSION,
        signature_id: &entry.action,
        name: &name,
        severity: Severity::of(entry).cef(),
    });
    line.push_str(&extension(rec));
    line
}

fn extension(rec: &TrailRecord) -> String {
    let entry = &rec.entry;
    let mut ext = Extension::default();
    if let Some(ms) = reading::time_ms(entry) {
        ext.add("rt", ms.to_string());
    }
    ext.add("externalId", &entry.id);
    ext.add("cat", Class::of(entry).name());
    ext.add("act", &entry.action);
    let outcome = if entry.outcome == Outcome::Success {
        "success"
    } else {
        "failure"
    };
    ext.add("outcome", outcome);
    ext.opt("reason", entry.reason.as_deref());
    ext.add("suser", &entry.actor);
    source(entry, &mut ext);
    ext.opt(
        "requestMethod",
        reading::http_request(entry).map(|(method, _)| method),
    );

    ext.add("cn1", entry.seq.to_string());
    ext.add("cn1Label", "Sequence");
    ext.custom(1, "Purpose of use", entry.purpose.as_deref());
    ext.custom(2, "Target", entry.target.as_deref());
    ext.custom(3, "Request id", Some(&entry.request_id));
    ext.custom(4, "Chain hash", Some(&rec.hash));
    let json = |map: &Map<String, Value>| {
        (!map.is_empty()).then(|| Value::Object(map.clone()).to_string())
    };
    ext.custom(5, "Details", json(&entry.details).as_deref());
    ext.custom(6, "HMAC", json(&entry.hmac).as_deref());
    ext.text
}

fn source(entry: &webqx_audit::Entry, ext: &mut Extension) {
    let port = match reading::source(entry) {
        None => return,
        Some(Source::Ip(IpAddr::V4(ip), port)) => {
            ext.add("src", ip.to_string());
            port
        }
        Some(Source::Ip(IpAddr::V6(ip), port)) => {
            ext.add("c6a2", ip.to_string());
            ext.add("c6a2Label", "Source IPv6 Address");
            port
        }
        Some(Source::Host(host, port)) => {
            ext.add("shost", host);
            port
        }
    };
    ext.opt("spt", port.map(|p| p.to_string()));
}

/// `key=value` pairs separated by spaces, values escaped.
#[derive(Default)]
struct Extension {
    text: String,
}

impl Extension {
    fn add(&mut self, key: &str, value: impl AsRef<str>) {
        if !self.text.is_empty() {
            self.text.push(' ');
        }
        self.text.push_str(key);
        self.text.push('=');
        self.text.push_str(&escape_extension(value.as_ref()));
    }

    fn opt(&mut self, key: &str, value: Option<impl AsRef<str>>) {
        if let Some(value) = value {
            self.add(key, value);
        }
    }

    /// `csN` with its label, when there is a value.
    fn custom(&mut self, n: u8, label: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.add(&format!("cs{n}"), value);
            self.add(&format!("cs{n}Label"), label);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_as_the_specification_says() {
        assert_eq!(escape_header(r"a|b\c=d%e#f"), r"a\|b\\c=d%e#f");
        assert_eq!(escape_extension("a|b\\c=d\r\ne"), r"a|b\\c\=d\r\ne");
    }

    #[test]
    fn header_keeps_to_one_line_and_caps_severity() {
        let h = Header {
            version: 0,
            vendor: "V",
            product: "P\nQ",
            device_version: "1",
            signature_id: "a|b",
            name: "n",
            severity: 42,
        };
        assert_eq!(header(&h), r"CEF:0|V|P Q|1|a\|b|n|10|");
    }
}
