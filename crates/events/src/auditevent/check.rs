//! FHIR R4 datatype checks that collect problems by element path.

use super::vocab::{CodeList, Element, list_for};
use base64::Engine as _;
use serde_json::{Map, Value};
use std::fmt::Display;

/// Longest string element accepted, in bytes.
pub const MAX_STRING_BYTES: usize = 64 * 1024;
/// Longest base64Binary element accepted (`entity.query`, detail values), in bytes.
pub const MAX_BINARY_BYTES: usize = 1024 * 1024;
/// Longest code, id-like or uri element accepted, in bytes.
pub const MAX_CODE_BYTES: usize = 1024;
/// Most items in one repeating element.
pub const MAX_REPEATS: usize = 1000;
/// Deepest nesting of objects and arrays accepted in one resource.
pub const MAX_DEPTH: usize = 64;
/// Most problems listed for one item; more are counted.
const MAX_PROBLEMS: usize = 50;

/// Collects problems, each starting with the element path.
#[derive(Default)]
pub struct Checker {
    problems: Vec<String>,
    more: usize,
}

/// `path.key`, or `key` at the root.
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// `path[i]`.
pub fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// An element name as it may appear in a message: only when it has the shape of a
/// FHIR element name (so a crafted key cannot carry PHI into errors and the trail).
fn shown(key: &str) -> String {
    let element_like = key.len() <= 64
        && key.starts_with(|c: char| c.is_ascii_alphabetic())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if element_like {
        format!("{key:?}")
    } else {
        "(a name that is not an element name)".into()
    }
}

impl Checker {
    /// Records "`path` `what`".
    pub fn report(&mut self, path: &str, what: impl Display) {
        if self.problems.len() < MAX_PROBLEMS {
            let path = if path.is_empty() { "AuditEvent" } else { path };
            self.problems.push(format!("{path} {what}"));
        } else {
            self.more += 1;
        }
    }

    /// Whether nothing was found wrong.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// The problems, with a last line counting those left out.
    pub fn into_problems(mut self) -> Vec<String> {
        if self.more > 0 {
            self.problems
                .push(format!("... and {} more problems", self.more));
        }
        self.problems
    }

    /// `value` as an object whose keys are all in `known` (or `id`, `extension`, or
    /// `_name` for a known `name`); `modifierExtension` is refused, since we
    /// understand none.
    pub fn object<'a>(
        &mut self,
        value: &'a Value,
        path: &str,
        known: &[&str],
    ) -> Option<&'a Map<String, Value>> {
        let Value::Object(map) = value else {
            self.report(path, "must be a JSON object");
            return None;
        };
        for (key, item) in map {
            let base = key.strip_prefix('_').unwrap_or(key);
            if key == "extension" {
                self.extensions(item, &join(path, key));
            } else if key == "modifierExtension" {
                self.report(
                    &join(path, key),
                    "is not accepted: no modifier extension is understood here",
                );
            } else if key == "id" {
                self.string(item, &join(path, key));
            } else if !known.contains(&base) {
                self.report(path, format_args!("has an unknown element {}", shown(key)));
            }
        }
        Some(map)
    }

    fn extensions(&mut self, value: &Value, path: &str) {
        for (i, ext) in self.array(value, path).iter().enumerate() {
            let path = index(path, i);
            if let Some(map) = ext.as_object() {
                match map.get("url") {
                    Some(url) => {
                        self.uri(url, &join(&path, "url"));
                    }
                    None => self.report(&join(&path, "url"), "is required"),
                }
            } else {
                self.report(&path, "must be a JSON object");
            }
        }
    }

    /// The element `key` of `map`, reporting it when absent or null.
    pub fn required<'a>(
        &mut self,
        map: &'a Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Option<&'a Value> {
        match map.get(key) {
            None | Some(Value::Null) => {
                self.report(&join(path, key), "is required");
                None
            }
            Some(value) => Some(value),
        }
    }

    /// The element `key` of `map` when present, reporting a null.
    pub fn optional<'a>(
        &mut self,
        map: &'a Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Option<&'a Value> {
        match map.get(key) {
            Some(Value::Null) => {
                self.report(&join(path, key), "must not be null (leave it out)");
                None
            }
            other => other,
        }
    }

    /// A repeating element: a non-empty array of at most [`MAX_REPEATS`] items.
    pub fn array<'a>(&mut self, value: &'a Value, path: &str) -> &'a [Value] {
        match value {
            Value::Array(items) if items.is_empty() => {
                self.report(path, "must not be an empty array (leave it out)");
                &[]
            }
            Value::Array(items) if items.len() > MAX_REPEATS => {
                self.report(path, format_args!("has more than {MAX_REPEATS} items"));
                &[]
            }
            Value::Array(items) => items,
            _ => {
                self.report(path, "must be a JSON array");
                &[]
            }
        }
    }

    /// A FHIR string: non-empty, at most [`MAX_STRING_BYTES`], no control characters
    /// other than tab, line feed and carriage return.
    pub fn string<'a>(&mut self, value: &'a Value, path: &str) -> Option<&'a str> {
        self.text(value, path, MAX_STRING_BYTES)
    }

    fn text<'a>(&mut self, value: &'a Value, path: &str, max: usize) -> Option<&'a str> {
        let Value::String(s) = value else {
            self.report(path, "must be a JSON string");
            return None;
        };
        if s.is_empty() {
            self.report(path, "must not be empty (leave it out)");
            None
        } else if s.len() > max {
            self.report(path, format_args!("is longer than {max} bytes"));
            None
        } else if s
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        {
            self.report(path, "holds control characters");
            None
        } else {
            Some(s)
        }
    }

    /// A FHIR code: words separated by single spaces.
    pub fn code<'a>(&mut self, value: &'a Value, path: &str) -> Option<&'a str> {
        let s = self.text(value, path, MAX_CODE_BYTES)?;
        if s.split(' ')
            .any(|w| w.is_empty() || w.contains(char::is_whitespace))
        {
            self.report(
                path,
                "is not a valid code (no leading, trailing or repeated whitespace)",
            );
            return None;
        }
        Some(s)
    }

    /// A code from a closed list.
    pub fn code_in<'a>(
        &mut self,
        value: &'a Value,
        path: &str,
        list: &CodeList,
    ) -> Option<&'a str> {
        let code = self.code(value, path)?;
        if list.contains(code) {
            Some(code)
        } else {
            self.report(
                path,
                format_args!(
                    "is not one of the {} codes ({}); the value is not repeated here",
                    list.name,
                    list.listing()
                ),
            );
            None
        }
    }

    /// A FHIR uri: no whitespace.
    pub fn uri<'a>(&mut self, value: &'a Value, path: &str) -> Option<&'a str> {
        let s = self.text(value, path, MAX_CODE_BYTES)?;
        if s.contains(char::is_whitespace) {
            self.report(path, "is not a valid uri (it contains whitespace)");
            return None;
        }
        Some(s)
    }

    /// A uri with a scheme (`http:`, `urn:`), as code and identifier systems must be.
    pub fn absolute_uri<'a>(&mut self, value: &'a Value, path: &str) -> Option<&'a str> {
        let s = self.uri(value, path)?;
        if !s.contains(':') {
            self.report(
                path,
                "is not an absolute uri (give its scheme, such as http: or urn:)",
            );
            return None;
        }
        Some(s)
    }

    /// A JSON boolean.
    pub fn boolean(&mut self, value: &Value, path: &str) -> Option<bool> {
        let b = value.as_bool();
        if b.is_none() {
            self.report(path, "must be a JSON boolean (true or false)");
        }
        b
    }

    /// A FHIR instant: date, time with seconds, and time zone.
    pub fn instant<'a>(&mut self, value: &'a Value, path: &str) -> Option<&'a str> {
        let s = self.text(value, path, MAX_CODE_BYTES)?;
        if !is_instant(s) {
            self.report(
                path,
                "is not a FHIR instant: give date, time with seconds, and time zone \
                 (2024-05-01T12:30:00Z)",
            );
            return None;
        }
        Some(s)
    }

    /// A FHIR dateTime (year, year-month, date, or instant).
    pub fn date_time(&mut self, value: &Value, path: &str) {
        if let Some(s) = self.text(value, path, MAX_CODE_BYTES)
            && !is_date_time(s)
        {
            self.report(
                path,
                "is not a FHIR dateTime (YYYY, YYYY-MM, YYYY-MM-DD, or a full time with zone)",
            );
        }
    }

    /// A FHIR base64Binary, at most [`MAX_BINARY_BYTES`].
    pub fn base64(&mut self, value: &Value, path: &str) {
        let Some(s) = self.text(value, path, MAX_BINARY_BYTES) else {
            return;
        };
        let compact: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        if base64::engine::general_purpose::STANDARD
            .decode(&compact)
            .is_err()
        {
            self.report(path, "is not valid base64");
        }
    }

    /// A Coding; a code from a list when `element`'s system is one we know. Returns the
    /// code.
    pub fn coding<'a>(
        &mut self,
        value: &'a Value,
        path: &str,
        element: Element,
    ) -> Option<&'a str> {
        let map = self.object(
            value,
            path,
            &["system", "version", "code", "display", "userSelected"],
        )?;
        let system = map
            .get("system")
            .and_then(|s| self.absolute_uri(s, &join(path, "system")));
        if let Some(v) = self.optional(map, "version", path) {
            self.string(v, &join(path, "version"));
        }
        if let Some(v) = self.optional(map, "display", path) {
            self.string(v, &join(path, "display"));
        }
        if let Some(v) = self.optional(map, "userSelected", path) {
            self.boolean(v, &join(path, "userSelected"));
        }
        let code = self.optional(map, "code", path)?;
        let path = join(path, "code");
        match system.and_then(|s| list_for(element, s)) {
            Some(list) => self.code_in(code, &path, &list),
            None => self.code(code, &path),
        }
    }

    /// A CodeableConcept. Returns the first coding's code.
    pub fn concept<'a>(&mut self, value: &'a Value, path: &str) -> Option<&'a str> {
        let map = self.object(value, path, &["coding", "text"])?;
        if let Some(v) = self.optional(map, "text", path) {
            self.string(v, &join(path, "text"));
        }
        let mut first = None;
        if let Some(codings) = self.optional(map, "coding", path) {
            let path = join(path, "coding");
            for (i, coding) in self.array(codings, &path).iter().enumerate() {
                let code = self.coding(coding, &index(&path, i), Element::Other);
                first = first.or(code);
            }
        }
        first
    }

    /// A Reference; it must name something (reference, identifier value or display).
    pub fn reference<'a>(
        &mut self,
        value: &'a Value,
        path: &str,
    ) -> Option<&'a Map<String, Value>> {
        let map = self.object(value, path, &["reference", "type", "identifier", "display"])?;
        if let Some(v) = self.optional(map, "reference", path) {
            self.string(v, &join(path, "reference"));
        }
        if let Some(v) = self.optional(map, "type", path) {
            self.uri(v, &join(path, "type"));
        }
        if let Some(v) = self.optional(map, "display", path) {
            self.string(v, &join(path, "display"));
        }
        if let Some(v) = self.optional(map, "identifier", path) {
            self.identifier(v, &join(path, "identifier"));
        }
        let names = map.contains_key("reference")
            || map.contains_key("display")
            || map
                .get("identifier")
                .is_some_and(|i| i.get("value").is_some());
        if !names {
            self.report(
                path,
                "must have a reference, an identifier with a value, or a display",
            );
        }
        Some(map)
    }

    /// An Identifier.
    pub fn identifier(&mut self, value: &Value, path: &str) {
        let known = ["use", "type", "system", "value", "period", "assigner"];
        let Some(map) = self.object(value, path, &known) else {
            return;
        };
        if let Some(v) = self.optional(map, "use", path) {
            self.code(v, &join(path, "use"));
        }
        if let Some(v) = self.optional(map, "type", path) {
            self.concept(v, &join(path, "type"));
        }
        if let Some(v) = self.optional(map, "system", path) {
            self.absolute_uri(v, &join(path, "system"));
        }
        if let Some(v) = self.optional(map, "value", path) {
            self.string(v, &join(path, "value"));
        }
        if let Some(v) = self.optional(map, "period", path) {
            self.period(v, &join(path, "period"));
        }
        if let Some(v) = self.optional(map, "assigner", path) {
            // Recursion is bounded: validation refuses deep nesting before it starts.
            self.reference(v, &join(path, "assigner"));
        }
    }

    /// A Period.
    pub fn period(&mut self, value: &Value, path: &str) {
        let Some(map) = self.object(value, path, &["start", "end"]) else {
            return;
        };
        for key in ["start", "end"] {
            if let Some(v) = self.optional(map, key, path) {
                self.date_time(v, &join(path, key));
            }
        }
    }
}

/// Whether `s` is a FHIR instant: `YYYY-MM-DDThh:mm:ss[.fraction](Z|+hh:mm|-hh:mm)`,
/// and a real point in time.
pub fn is_instant(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 20 {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let shape = digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !shape {
        return false;
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start || i - start > 9 {
            return false;
        }
    }
    let zone = &b[i..];
    let zone_ok = zone == b"Z"
        || (zone.len() == 6
            && matches!(zone[0], b'+' | b'-')
            && digits(i + 1..i + 3)
            && zone[3] == b':'
            && digits(i + 4..i + 6));
    zone_ok && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

/// Whether `s` is a FHIR dateTime: a year, a year and month, a date, or an instant.
pub fn is_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    let year = b.len() >= 4 && b[..4].iter().all(u8::is_ascii_digit);
    match b.len() {
        4 => year,
        7 => {
            year && b[4] == b'-'
                && chrono::NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d").is_ok()
        }
        10 => year && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
        _ => is_instant(s),
    }
}

/// Whether objects and arrays in `value` nest deeper than `limit` (without recursion).
pub fn nests_deeper_than(value: &Value, limit: usize) -> bool {
    let mut stack = vec![(value, 0usize)];
    while let Some((v, depth)) = stack.pop() {
        if depth > limit {
            return true;
        }
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|i| (i, depth + 1))),
            Value::Object(map) => stack.extend(map.values().map(|i| (i, depth + 1))),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants() {
        for ok in [
            "2013-06-20T23:41:23Z",
            "2013-06-20T23:41:23.123+02:00",
            "2024-02-29T00:00:00-05:30",
        ] {
            assert!(is_instant(ok), "{ok}");
        }
        for bad in [
            "2013-06-20",
            "2013-06-20T23:41Z",
            "2013-06-20T23:41:23",
            "2013-06-20 23:41:23Z",
            "2013-02-30T23:41:23Z",
            "2013-06-20T23:41:23.Z",
            "2013-06-20T23:41:23+0200",
            "2013-06-20T25:41:23Z",
            "2013-06-20T23:41:23z",
        ] {
            assert!(!is_instant(bad), "{bad}");
        }
    }

    #[test]
    fn date_times() {
        assert!(is_date_time("2013"));
        assert!(is_date_time("2013-06"));
        assert!(is_date_time("2013-06-20"));
        assert!(!is_date_time("2013-13"));
        assert!(!is_date_time("2013-06-20T10:00"));
    }

    #[test]
    fn nesting() {
        let mut v = Value::Null;
        for _ in 0..10 {
            v = Value::Array(vec![v]);
        }
        assert!(nests_deeper_than(&v, 9));
        assert!(!nests_deeper_than(&v, 10));
    }
}
