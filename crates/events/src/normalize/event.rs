//! The normalized event: a JSON object with ECS-style nested fields, read and written by
//! dotted paths (`source.ip` is `{"source":{"ip":…}}`).

use serde_json::{Map, Value};

/// Deepest dotted path [`Event::set`] creates; deeper paths are refused (no field of the
/// schema is deeper than four levels).
const MAX_PATH_DEPTH: usize = 16;

/// Room made at once in a new event (a parsed syslog line sets about a dozen top-level
/// fields) and in a new nested object (`source`, `user`: a few each), so that building
/// an event does not grow its maps one reallocation at a time (measured: a tenth of a
/// hunt went to those reallocations).
const ROOT_CAPACITY: usize = 12;
const NESTED_CAPACITY: usize = 4;

/// One normalized event (see `docs/event-schema.md` for the fields).
///
/// A thin wrapper over a JSON object. It is stored as a [`Value`] that is always an
/// object, so that [`as_value`](Self::as_value) can lend it to rule engines without a
/// copy. Field names never contain dots: a dot in a path always means nesting.
#[derive(Debug, Clone, PartialEq)]
pub struct Event(Value);

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl Event {
    /// An empty event.
    pub fn new() -> Event {
        Event(Value::Object(Map::with_capacity(ROOT_CAPACITY)))
    }

    /// An event holding `map` as it is (no field is checked or renamed).
    pub fn from_map(map: Map<String, Value>) -> Event {
        Event(Value::Object(map))
    }

    /// The fields as a JSON object.
    pub fn as_map(&self) -> &Map<String, Value> {
        match &self.0 {
            Value::Object(map) => map,
            _ => unreachable_empty(),
        }
    }

    fn as_map_mut(&mut self) -> &mut Map<String, Value> {
        if !self.0.is_object() {
            self.0 = Value::Object(Map::new());
        }
        match &mut self.0 {
            Value::Object(map) => map,
            _ => unreachable!("just made an object"),
        }
    }

    /// The event as a JSON value (always an object).
    pub fn as_value(&self) -> &Value {
        &self.0
    }

    /// The event as a JSON value (always an object).
    pub fn into_value(self) -> Value {
        self.0
    }

    /// The fields as a JSON object.
    pub fn into_map(self) -> Map<String, Value> {
        match self.0 {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    /// The value at a dotted path (`source.ip`), if every step is an object holding
    /// the next name.
    pub fn get(&self, path: &str) -> Option<&Value> {
        let mut map = self.as_map();
        let mut rest = path;
        while let (name, Some(tail)) = first_step(rest) {
            map = map.get(name)?.as_object()?;
            rest = tail;
        }
        map.get(rest)
    }

    /// The string at a dotted path, when it is a string.
    pub fn get_str(&self, path: &str) -> Option<&str> {
        self.get(path).and_then(Value::as_str)
    }

    /// Whether the dotted path holds a value.
    pub fn has(&self, path: &str) -> bool {
        self.get(path).is_some()
    }

    /// Sets the value at a dotted path, creating the objects on the way. A step that
    /// holds something other than an object is replaced by an object. Returns `false`
    /// (and changes nothing) for an empty path, an empty step (`a..b`), or a path
    /// deeper than 16 steps.
    pub fn set(&mut self, path: &str, value: impl Into<Value>) -> bool {
        if !valid_path(path) {
            return false;
        }
        set_in(self.as_map_mut(), path, value.into());
        true
    }

    /// Sets a string field when `value` is not empty.
    pub fn set_nonempty(&mut self, path: &str, value: &str) {
        if !value.is_empty() {
            self.set(path, value);
        }
    }

    /// Removes and returns the value at a dotted path (empty parents are kept).
    pub fn remove(&mut self, path: &str) -> Option<Value> {
        let mut map = self.as_map_mut();
        let mut rest = path;
        while let (name, Some(tail)) = first_step(rest) {
            map = map.get_mut(name)?.as_object_mut()?;
            rest = tail;
        }
        map.shift_remove(rest)
    }
}

/// A dotted path's first step and what follows its dot (`None` for the last step).
///
/// By bytes: `str::split('.')` compares every dot it finds through a `memcmp` call,
/// which was a tenth of `hunt` (every field of every event is set by path).
pub fn first_step(path: &str) -> (&str, Option<&str>) {
    match path.bytes().position(|b| b == b'.') {
        Some(dot) => (&path[..dot], Some(&path[dot + 1..])),
        None => (path, None),
    }
}

/// Sets `value` at a valid dotted `path` inside `map`. An existing step is found with
/// one lookup (every field of every event is set by path, and hashing names was a tenth
/// of a hunt); a missing one is built and inserted, its name copied only then.
fn set_in(map: &mut Map<String, Value>, path: &str, value: Value) {
    match first_step(path) {
        (name, None) => {
            map.insert(name.to_owned(), value);
        }
        (name, Some(tail)) => {
            if let Some(Value::Object(inner)) = map.get_mut(name) {
                return set_in(inner, tail, value);
            }
            let mut inner = Map::with_capacity(NESTED_CAPACITY);
            set_in(&mut inner, tail, value);
            map.insert(name.to_owned(), Value::Object(inner));
        }
    }
}

/// No empty step and at most [`MAX_PATH_DEPTH`] steps, in one pass over the bytes.
fn valid_path(path: &str) -> bool {
    let mut steps = 1;
    let mut step_len = 0;
    for b in path.bytes() {
        if b != b'.' {
            step_len += 1;
        } else if step_len == 0 {
            return false;
        } else {
            steps += 1;
            step_len = 0;
        }
    }
    step_len > 0 && steps <= MAX_PATH_DEPTH
}

fn unreachable_empty() -> &'static Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Map::new)
}

impl From<Event> for Value {
    fn from(event: Event) -> Value {
        event.into_value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_and_get_nest() {
        let mut e = Event::new();
        assert!(e.set("source.ip", "192.0.2.1"));
        assert!(e.set("source.port", 22));
        assert!(e.set("@timestamp", "2026-12-10T06:55:46Z"));
        assert_eq!(e.get_str("source.ip"), Some("192.0.2.1"));
        assert_eq!(
            e.as_value(),
            &json!({"source": {"ip": "192.0.2.1", "port": 22}, "@timestamp": "2026-12-10T06:55:46Z"})
        );
        assert_eq!(e.get("source.ip.x"), None);
        assert_eq!(e.get("nope"), None);
    }

    #[test]
    fn set_replaces_a_scalar_on_the_way_and_refuses_bad_paths() {
        let mut e = Event::new();
        e.set("a", 1);
        assert!(e.set("a.b", 2));
        assert_eq!(e.as_value(), &json!({"a": {"b": 2}}));
        assert!(!e.set("", 1));
        assert!(!e.set("a..b", 1));
        assert!(!e.set("x.".repeat(20).trim_end_matches('.'), 1));
        assert_eq!(e.remove("a.b"), Some(json!(2)));
        assert_eq!(e.remove("a.b"), None);
        for bad in [".a", "a.", ".", "a.b..c"] {
            assert!(!e.set(bad, 1), "{bad}");
        }
        assert!(e.set(&("x.".repeat(15) + "x"), 1), "16 steps are allowed");
        assert_eq!(e.as_value()["a"], json!({}));
    }

    #[test]
    fn paths_are_read_step_by_step() {
        assert_eq!(first_step("source.ip"), ("source", Some("ip")));
        assert_eq!(first_step("a.b.c"), ("a", Some("b.c")));
        assert_eq!(first_step("message"), ("message", None));
        assert_eq!(first_step(""), ("", None));
        let mut e = Event::new();
        e.set("url.query", "a.b");
        e.set("labels.é.x", "ü");
        assert_eq!(e.get_str("labels.é.x"), Some("ü"));
        assert_eq!(e.get("url.query.a"), None);
        assert_eq!(e.get("url"), Some(&json!({"query": "a.b"})));
        assert_eq!(e.remove("labels.é.x"), Some(json!("ü")));
        assert_eq!(e.remove("url.nothing.x"), None);
    }
}
