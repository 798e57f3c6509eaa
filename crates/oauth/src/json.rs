//! Strict JSON for JOSE headers, claims and JWKs: the text must be one JSON object, and
//! no object at any depth may repeat a member name (RFC 7515 §5.2 lets a parser take the
//! last one; RFC 8725 §3.1 and we refuse instead, so two parsers cannot disagree).

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::fmt;

/// Why a JSON text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonRefusal {
    /// Not JSON, or nested too deeply for the parser.
    Syntax,
    /// A member name appears twice in one object.
    DuplicateMember,
    /// Valid JSON, but not an object.
    NotObject,
}

/// Parses `bytes` as one JSON object with no duplicate member names at any depth.
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JsonRefusal> {
    if let Err(err) = serde_json::from_slice::<NoDuplicates>(bytes) {
        return Err(if err.to_string().contains(DUPLICATE) {
            JsonRefusal::DuplicateMember
        } else {
            JsonRefusal::Syntax
        });
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(JsonRefusal::NotObject),
        Err(_) => Err(JsonRefusal::Syntax),
    }
}

const DUPLICATE: &str = "duplicate JSON member name";

/// Walks any JSON value and fails on the first object that repeats a member name.
struct NoDuplicates;

impl<'de> Deserialize<'de> for NoDuplicates {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NoDuplicatesVisitor)
    }
}

struct NoDuplicatesVisitor;

impl<'de> Visitor<'de> for NoDuplicatesVisitor {
    type Value = NoDuplicates;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NoDuplicates, A::Error> {
        let mut seen = HashSet::new();
        while let Some(name) = map.next_key::<String>()? {
            if !seen.insert(name) {
                return Err(serde::de::Error::custom(DUPLICATE));
            }
            map.next_value::<NoDuplicates>()?;
        }
        Ok(NoDuplicates)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NoDuplicates, A::Error> {
        while seq.next_element::<NoDuplicates>()?.is_some() {}
        Ok(NoDuplicates)
    }

    fn visit_bool<E>(self, _: bool) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_i64<E>(self, _: i64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_u64<E>(self, _: u64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_f64<E>(self, _: f64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_str<E>(self, _: &str) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_unit<E>(self) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_objects_and_numbers() {
        let map = parse_object(br#"{"a":1,"b":{"c":[1.5,{"d":null}]}}"#).unwrap();
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn refuses_duplicates_at_any_depth() {
        let top = parse_object(br#"{"alg":"HS256","alg":"none"}"#);
        assert_eq!(top, Err(JsonRefusal::DuplicateMember));
        let nested = parse_object(br#"{"a":[{"x":1,"x":2}]}"#);
        assert_eq!(nested, Err(JsonRefusal::DuplicateMember));
    }

    #[test]
    fn refuses_non_objects_and_garbage() {
        assert_eq!(parse_object(b"[1]"), Err(JsonRefusal::NotObject));
        assert_eq!(parse_object(b"{"), Err(JsonRefusal::Syntax));
        assert_eq!(parse_object(br#"{"a":1} x"#), Err(JsonRefusal::Syntax));
    }
}
