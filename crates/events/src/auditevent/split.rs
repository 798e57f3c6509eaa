//! Request bodies split into items: one AuditEvent, a Bundle of them, or NDJSON.

use super::{BodyError, Invalid};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::collections::HashSet;

/// Most items accepted in one request body.
pub const MAX_ITEMS: usize = 10_000;

const ACCEPTED: &str = "application/fhir+json or application/json (one AuditEvent or a \
                        Bundle), or application/fhir+ndjson, application/x-ndjson or \
                        application/ndjson (one AuditEvent per line)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Json,
    Ndjson,
}

/// Splits a request body into items by content type: `application/fhir+json` or
/// `application/json` (one AuditEvent, or a Bundle of them), `application/fhir+ndjson`,
/// `application/x-ndjson` or `application/ndjson` (one per line). Each item is the
/// parsed JSON, or why that item could not be read (a bad NDJSON line, a Bundle entry
/// without a resource). Media types are case-insensitive; a `charset` parameter must
/// be UTF-8. Objects that repeat a key are refused (FHIR allows each key once, and a
/// parser would silently keep one value).
///
/// # Errors
/// [`BodyError`] for an unsupported content type, invalid UTF-8, JSON that is not an
/// object (or, for a single document, not JSON or with a repeated key), a body with no
/// item, or more than [`MAX_ITEMS`] items.
pub fn split(content_type: &str, body: &[u8]) -> Result<Vec<Result<Value, Invalid>>, BodyError> {
    let framing = framing(content_type)?;
    let text = std::str::from_utf8(body).map_err(|e| BodyError {
        message: format!(
            "the body is not valid UTF-8 (first bad byte at offset {}); send UTF-8 JSON",
            e.valid_up_to()
        ),
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(body_error("the body holds no AuditEvent"));
    }
    let items = match framing {
        Framing::Json => json_items(text)?,
        Framing::Ndjson => ndjson_items(text)?,
    };
    if items.is_empty() {
        return Err(body_error("the body holds no AuditEvent"));
    }
    Ok(items)
}

fn body_error(message: impl Into<String>) -> BodyError {
    BodyError {
        message: message.into(),
    }
}

fn framing(content_type: &str) -> Result<Framing, BodyError> {
    let mut parts = content_type.split(';');
    let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let framing = match media.as_str() {
        "application/fhir+json" | "application/json" => Framing::Json,
        "application/fhir+ndjson" | "application/x-ndjson" | "application/ndjson" => {
            Framing::Ndjson
        }
        _ => {
            return Err(body_error(format!(
                "unsupported content type; send {ACCEPTED}"
            )));
        }
    };
    for param in parts {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        let value = value.trim().trim_matches('"');
        if name.trim().eq_ignore_ascii_case("charset")
            && !value.eq_ignore_ascii_case("utf-8")
            && !value.eq_ignore_ascii_case("utf8")
        {
            return Err(body_error(
                "unsupported charset; send UTF-8 (charset=utf-8)",
            ));
        }
    }
    Ok(framing)
}

/// One JSON document: an AuditEvent (one item) or a Bundle (an item per entry).
fn json_items(text: &str) -> Result<Vec<Result<Value, Invalid>>, BodyError> {
    let mut map = parse_object(text).map_err(|e| body_error(format!("the body {e}")))?;
    if map.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Ok(vec![Ok(Value::Object(map))]);
    }
    let entries = match map.remove("entry") {
        None => Vec::new(),
        Some(Value::Array(entries)) => entries,
        Some(_) => return Err(body_error("Bundle.entry must be a JSON array")),
    };
    if entries.len() > MAX_ITEMS {
        return Err(too_many());
    }
    Ok(entries.into_iter().enumerate().map(entry_item).collect())
}

fn entry_item((i, entry): (usize, Value)) -> Result<Value, Invalid> {
    let problem = match entry {
        Value::Object(mut entry) => match entry.remove("resource") {
            Some(resource @ Value::Object(_)) => return Ok(resource),
            Some(_) => format!("entry[{i}].resource must be a JSON object"),
            None => format!("entry[{i}] has no resource"),
        },
        _ => format!("entry[{i}] must be a JSON object"),
    };
    Err(Invalid {
        problems: vec![problem],
    })
}

fn too_many() -> BodyError {
    body_error(format!(
        "the body holds more than {MAX_ITEMS} items; send at most {MAX_ITEMS} per request"
    ))
}

/// NDJSON: each non-blank line one item; a bad line is that item's error.
fn ndjson_items(text: &str) -> Result<Vec<Result<Value, Invalid>>, BodyError> {
    let mut items = Vec::new();
    for (n, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        if items.len() == MAX_ITEMS {
            return Err(too_many());
        }
        let item = parse_object(line).map(Value::Object).map_err(|e| Invalid {
            problems: vec![format!("line {}: {e}", n + 1)],
        });
        items.push(item);
    }
    Ok(items)
}

/// Parses one JSON object, refusing repeated keys. The error says what is wrong and
/// where, never what the text holds.
fn parse_object(text: &str) -> Result<Map<String, Value>, String> {
    if let Err(e) = serde_json::from_str::<UniqueKeys>(text) {
        let place = format!("line {}, column {}", e.line(), e.column());
        return Err(match e.classify() {
            serde_json::error::Category::Data => {
                format!("repeats a key in one object ({place}): FHIR JSON allows each key once")
            }
            serde_json::error::Category::Eof => {
                format!("is not valid JSON: it ends early ({place})")
            }
            _ => format!("is not valid JSON (syntax error at {place})"),
        });
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("is not a JSON object: send an AuditEvent or a Bundle".to_owned()),
        Err(e) => Err(format!(
            "is not valid JSON (at line {}, column {})",
            e.line(),
            e.column()
        )),
    }
}

/// Deserializes any JSON, failing on an object that repeats a key.
struct UniqueKeys;

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueKeysVisitor)
    }
}

struct UniqueKeysVisitor;

impl<'de> Visitor<'de> for UniqueKeysVisitor {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key) {
                return Err(de::Error::custom("repeated key"));
            }
            map.next_value::<UniqueKeys>()?;
        }
        Ok(UniqueKeys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_keys_sees_escaped_duplicates_and_numbers() {
        assert!(parse_object(r#"{"a":1.5e300,"b":{"a":2},"c":[{"a":1},{"a":2}]}"#).is_ok());
        let e = parse_object(r#"{"x":{"k":"v","k":"w"}}"#).unwrap_err();
        assert!(
            e.starts_with("repeats a key in one object (line 1, column"),
            "{e}"
        );
        assert!(
            !e.contains('k'.to_string().as_str()) || !e.contains("\"k\""),
            "{e}"
        );
        assert!(parse_object(r#"{"a\u0062":1,"ab":2}"#).is_err());
        assert!(parse_object(r#"{"k":"v,\"k\":1"}"#).is_ok());
    }

    #[test]
    fn content_types() {
        assert_eq!(framing("application/fhir+json").unwrap(), Framing::Json);
        assert_eq!(
            framing("Application/JSON; charset=UTF-8").unwrap(),
            Framing::Json
        );
        assert_eq!(
            framing("application/fhir+json; fhirVersion=4.0; charset=\"utf-8\"").unwrap(),
            Framing::Json
        );
        assert_eq!(framing("application/x-ndjson").unwrap(), Framing::Ndjson);
        assert_eq!(framing("application/ndjson").unwrap(), Framing::Ndjson);
        assert_eq!(framing("application/FHIR+NDJSON").unwrap(), Framing::Ndjson);
        let e = framing("text/plain").unwrap_err();
        assert!(e.message.contains("application/fhir+json"), "{e}");
        assert!(framing("application/json; charset=latin1").is_err());
    }
}
