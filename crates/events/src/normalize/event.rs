//! The normalized event: ECS-style nested fields, read and written by dotted paths
//! (`source.ip` is `{"source":{"ip":…}}`).
//!
//! Every line of a hunt builds one event of a dozen or two fields and the rules read
//! them back, so the event is its own small tree rather than a `serde_json` object:
//! names are found by comparing them in a short list (no hashing: `serde_json`'s
//! ordered map hashed every step of every path with SipHash, a third of a hunt), and
//! known names are not copied. It serializes to the same JSON, members in the order
//! they were first set.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

/// Deepest dotted path [`Event::set`] creates; deeper paths are refused (no field of the
/// schema is deeper than four levels).
const MAX_PATH_DEPTH: usize = 16;

/// Room made at once in a new event (a parsed syslog line sets about a dozen top-level
/// fields) and in a new nested object (`source`, `user`: a few each), so that building
/// an event does not grow its lists one reallocation at a time.
const ROOT_CAPACITY: usize = 12;
const NESTED_CAPACITY: usize = 4;

/// One normalized event (see `docs/event-schema.md` for the fields).
///
/// Objects made by [`set`](Self::set) are kept as [`Fields`]; a value set whole
/// (including an object, as generic JSON input brings) is kept as a [`Value`] and
/// turned into fields only when a path is set inside it. Field names made by `set`
/// never contain dots: a dot in a path always means nesting.
#[derive(Debug, Clone)]
pub struct Event {
    root: Fields,
}

/// An object's members in the order they were first set. Names are found by
/// comparison while the object is small (an event's objects hold a few to a dozen);
/// from [`INDEX_FROM`] members on, an index finds them, so that an object of thousands
/// of members (a wide JSON line or document) is not searched member by member for
/// each one it gains.
#[derive(Debug, Clone, Default)]
struct Fields {
    list: Vec<(Name, Field)>,
    /// Boxed: most objects have none, and a small object stays small.
    index: Option<Box<Index>>,
}

/// Member names to positions.
#[derive(Debug, Clone, Default)]
struct Index(HashMap<String, usize>);

/// Members from which an object keeps an index of its names.
const INDEX_FROM: usize = 24;

/// A member name: the schema's names are not copied (see [`name`]).
type Name = Cow<'static, str>;

#[derive(Debug, Clone)]
enum Field {
    Value(Value),
    Object(Fields),
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl PartialEq for Event {
    /// Equal when their JSON is equal (member order aside, as for JSON objects).
    fn eq(&self, other: &Event) -> bool {
        self.to_value() == other.to_value()
    }
}

impl Event {
    /// An empty event.
    pub fn new() -> Event {
        Event {
            root: Fields::with_capacity(ROOT_CAPACITY),
        }
    }

    /// An event holding `map` as it is (no field is checked or renamed).
    pub fn from_map(map: Map<String, Value>) -> Event {
        Event {
            root: Fields::from_map(map),
        }
    }

    /// The event as compact JSON text: the text `serde_json::to_string` writes for it,
    /// written without serde (see [`super::write_json`]).
    pub fn to_json_text(&self) -> String {
        // An sshd or web event is 400 to 900 bytes: one allocation for most.
        let mut out = String::with_capacity(1024);
        self.root.write_json(&mut out);
        out
    }

    /// The event as a JSON object, copied.
    pub fn to_value(&self) -> Value {
        Value::Object(self.root.to_map())
    }

    /// The event as a JSON object.
    pub fn into_value(self) -> Value {
        Value::Object(self.into_map())
    }

    /// The fields as a JSON object.
    pub fn into_map(self) -> Map<String, Value> {
        self.root.into_map()
    }

    /// The value at a dotted path (`source.ip`), if every step is an object holding
    /// the next name. An object built by [`set`](Self::set) is not a value: read its
    /// fields (or [`has`](Self::has) to ask whether it is there).
    pub fn get(&self, path: &str) -> Option<&Value> {
        match self.root.find(path) {
            Found::Value(v) => Some(v),
            Found::Object(_) | Found::Missing | Found::Array => None,
        }
    }

    /// The string at a dotted path, when it is a string.
    pub fn get_str(&self, path: &str) -> Option<&str> {
        self.get(path).and_then(Value::as_str)
    }

    /// Whether the dotted path holds a value or an object.
    pub fn has(&self, path: &str) -> bool {
        matches!(self.root.find(path), Found::Value(_) | Found::Object(_))
    }

    /// Sets the value at a dotted path, creating the objects on the way. A step that
    /// holds something other than an object is replaced by an object. Returns `false`
    /// (and changes nothing) for an empty path, an empty step (`a..b`), or a path
    /// deeper than 16 steps.
    pub fn set(&mut self, path: &str, value: impl Into<Value>) -> bool {
        if !valid_path(path) {
            return false;
        }
        self.root.set(path, value.into());
        true
    }

    /// Sets a string field when `value` is not empty.
    pub fn set_nonempty(&mut self, path: &str, value: &str) {
        if !value.is_empty() {
            self.set(path, value);
        }
    }

    /// What a dotted path leads to, objects included (for rule engines, which may
    /// match an object or ask whether it exists).
    pub fn lookup(&self, path: &str) -> Lookup<'_> {
        match self.root.find(path) {
            Found::Value(v) => Lookup::Value(v),
            Found::Object(fields) => Lookup::Object(Value::Object(fields.to_map())),
            Found::Missing => Lookup::Missing,
            Found::Array => Lookup::Array,
        }
    }

    /// The top-level member named `name` exactly (dots and all: generic JSON input
    /// may send `{"source.ip": …}`), when it is a value.
    pub fn member(&self, name: &str) -> Option<&Value> {
        match self.root.get(name)? {
            Field::Value(v) => Some(v),
            Field::Object(_) => None,
        }
    }

    /// The top-level names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.root.list.iter().map(|(k, _)| k.as_ref())
    }

    /// The top-level member `name` as a JSON object to change in place (made one if
    /// it is missing or holds something else; its position is kept).
    pub fn object_mut(&mut self, name: &str) -> &mut Map<String, Value> {
        let i = match self.root.position(name) {
            Some(i) => i,
            None => self
                .root
                .push(self::name(name), Field::Value(Value::Object(Map::new()))),
        };
        let slot = &mut self.root.list[i].1;
        let map = match std::mem::replace(slot, Field::Value(Value::Null)) {
            Field::Object(inner) => inner.into_map(),
            Field::Value(Value::Object(map)) => map,
            Field::Value(_) => Map::new(),
        };
        *slot = Field::Value(Value::Object(map));
        match slot {
            Field::Value(Value::Object(map)) => map,
            _ => unreachable!("made an object just above"),
        }
    }

    /// Removes and returns the value at a dotted path (empty parents are kept).
    pub fn remove(&mut self, path: &str) -> Option<Value> {
        self.root.remove(path)
    }
}

/// What [`Event::lookup`] found at a path.
#[derive(Debug, PartialEq)]
pub enum Lookup<'a> {
    /// A value: a leaf, or an object set whole.
    Value(&'a Value),
    /// An object built by [`Event::set`], copied into a JSON object.
    Object(Value),
    Missing,
    /// A step on the way holds an array (which element is meant is the caller's
    /// question).
    Array,
}

/// A dotted path walked through a JSON value's objects, telling arrays on the way
/// apart (also the rest of a path inside a value set whole).
pub fn lookup_in<'a>(value: &'a Value, path: &str) -> Lookup<'a> {
    let mut current = value;
    let mut rest = Some(path);
    while let Some((name, tail)) = rest.map(first_step) {
        current = match current {
            Value::Object(map) => match map.get(name) {
                Some(v) => v,
                None => return Lookup::Missing,
            },
            Value::Array(_) => return Lookup::Array,
            _ => return Lookup::Missing,
        };
        rest = tail;
    }
    Lookup::Value(current)
}

/// What a path leads to, an object built by `set` as it is.
enum Found<'a> {
    Value(&'a Value),
    Object(&'a Fields),
    Missing,
    Array,
}

impl Fields {
    fn with_capacity(capacity: usize) -> Fields {
        Fields {
            list: Vec::with_capacity(capacity),
            index: None,
        }
    }

    fn from_map(map: Map<String, Value>) -> Fields {
        let mut fields = Fields {
            list: map
                .into_iter()
                .map(|(k, v)| (Cow::Owned(k), Field::Value(v)))
                .collect(),
            index: None,
        };
        fields.reindex();
        fields
    }

    /// Builds the index when the object is large enough to need one.
    #[cold]
    fn reindex(&mut self) {
        self.index = (self.list.len() >= INDEX_FROM).then(|| {
            Box::new(Index(
                self.list
                    .iter()
                    .enumerate()
                    .map(|(i, (k, _))| (k.to_string(), i))
                    .collect(),
            ))
        });
    }

    #[inline(always)]
    fn position(&self, name: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.0.get(name).copied(),
            None => self.list.iter().position(|(k, _)| k.as_ref() == name),
        }
    }

    #[inline(always)]
    fn get(&self, name: &str) -> Option<&Field> {
        self.position(name).map(|i| &self.list[i].1)
    }

    /// Appends a member (whose name is not there yet); its position.
    #[inline(always)]
    fn push(&mut self, name: Name, field: Field) -> usize {
        let i = self.list.len();
        match &mut self.index {
            Some(index) => {
                index.0.insert(name.to_string(), i);
                self.list.push((name, field));
            }
            None => {
                self.list.push((name, field));
                if self.list.len() >= INDEX_FROM {
                    self.reindex();
                }
            }
        }
        i
    }

    /// Removes the member at `i`, keeping the others' order.
    fn remove_at(&mut self, i: usize) -> Field {
        let (_, field) = self.list.remove(i);
        if self.index.is_some() {
            self.reindex();
        }
        field
    }

    /// The one walk down a dotted path: through the event's own objects, then on
    /// through a value set whole ([`lookup_in`]).
    fn find(&self, path: &str) -> Found<'_> {
        let mut fields = self;
        let mut rest = path;
        loop {
            let (name, tail) = first_step(rest);
            let Some(field) = fields.get(name) else {
                return Found::Missing;
            };
            match (field, tail) {
                (Field::Object(inner), Some(tail)) => {
                    fields = inner;
                    rest = tail;
                }
                (Field::Object(inner), None) => return Found::Object(inner),
                (Field::Value(v), None) => return Found::Value(v),
                (Field::Value(v), Some(tail)) => {
                    return match lookup_in(v, tail) {
                        Lookup::Value(v) => Found::Value(v),
                        Lookup::Array => Found::Array,
                        Lookup::Missing | Lookup::Object(_) => Found::Missing,
                    };
                }
            }
        }
    }

    /// Sets `value` at a valid dotted `path`.
    fn set(&mut self, path: &str, value: Value) {
        let mut fields = self;
        let mut rest = path;
        loop {
            match first_step(rest) {
                (name, None) => {
                    match fields.position(name) {
                        Some(i) => fields.list[i].1 = Field::Value(value),
                        None => {
                            fields.push(self::name(name), Field::Value(value));
                        }
                    }
                    return;
                }
                (name, Some(tail)) => {
                    let i = match fields.position(name) {
                        Some(i) => i,
                        None => {
                            // `event` holds twice as many fields as the others.
                            let room = if name == "event" {
                                2 * NESTED_CAPACITY
                            } else {
                                NESTED_CAPACITY
                            };
                            fields
                                .push(self::name(name), Field::Object(Fields::with_capacity(room)))
                        }
                    };
                    let slot = &mut fields.list[i].1;
                    if let Field::Value(v) = slot {
                        // An object set whole becomes fields (its order kept); any
                        // other value on the way is replaced by an object.
                        *slot = Field::Object(match v.take() {
                            Value::Object(map) => Fields::from_map(map),
                            _ => Fields::with_capacity(NESTED_CAPACITY),
                        });
                    }
                    let Field::Object(inner) = slot else {
                        unreachable!("made an object just above")
                    };
                    fields = inner;
                    rest = tail;
                }
            }
        }
    }

    fn remove(&mut self, path: &str) -> Option<Value> {
        let mut fields = self;
        let mut rest = path;
        loop {
            match first_step(rest) {
                (name, None) => {
                    let i = fields.position(name)?;
                    return Some(fields.remove_at(i).into_value());
                }
                (name, Some(tail)) => {
                    let i = fields.position(name)?;
                    match &mut fields.list[i].1 {
                        Field::Object(inner) => fields = inner,
                        Field::Value(Value::Object(map)) => return remove_in_map(map, tail),
                        Field::Value(_) => return None,
                    }
                    rest = tail;
                }
            }
        }
    }

    fn to_map(&self) -> Map<String, Value> {
        let mut map = Map::with_capacity(self.list.len());
        for (k, f) in &self.list {
            let v = match f {
                Field::Value(v) => v.clone(),
                Field::Object(inner) => Value::Object(inner.to_map()),
            };
            map.insert(k.to_string(), v);
        }
        map
    }

    fn into_map(self) -> Map<String, Value> {
        let mut map = Map::with_capacity(self.list.len());
        for (k, f) in self.list {
            map.insert(k.into_owned(), f.into_value());
        }
        map
    }
}

impl Field {
    fn into_value(self) -> Value {
        match self {
            Field::Value(v) => v,
            Field::Object(inner) => Value::Object(inner.into_map()),
        }
    }
}

fn remove_in_map(map: &mut Map<String, Value>, path: &str) -> Option<Value> {
    let mut map = map;
    let mut rest = path;
    while let (name, Some(tail)) = first_step(rest) {
        map = map.get_mut(name)?.as_object_mut()?;
        rest = tail;
    }
    map.shift_remove(rest)
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.root.serialize(serializer)
    }
}

impl Fields {
    fn write_json(&self, out: &mut String) {
        out.push('{');
        for (i, (k, f)) in self.list.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            super::json_text::write_str(k, out);
            out.push(':');
            match f {
                Field::Value(v) => super::json_text::write_value(v, out),
                Field::Object(inner) => inner.write_json(out),
            }
        }
        out.push('}');
    }
}

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.list.len()))?;
        for (k, f) in &self.list {
            match f {
                Field::Value(v) => map.serialize_entry(k.as_ref(), v)?,
                Field::Object(inner) => map.serialize_entry(k.as_ref(), inner)?,
            }
        }
        map.end()
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

/// A member name: the schema's common names are borrowed (no copy for the names every
/// event carries), others copied.
fn name(step: &str) -> Name {
    macro_rules! known {
        ($($n:literal),* $(,)?) => {
            match step {
                $($n => Cow::Borrowed($n),)*
                _ => Cow::Owned(step.to_owned()),
            }
        };
    }
    // The names the normalizers set on most lines (docs/event-schema.md).
    known!(
        "@timestamp",
        "event",
        "dataset",
        "action",
        "category",
        "type",
        "outcome",
        "original",
        "kind",
        "count",
        "message",
        "host",
        "name",
        "hostname",
        "process",
        "pid",
        "source",
        "ip",
        "address",
        "port",
        "destination",
        "user",
        "valid",
        "labels",
        "input",
        "ssh",
        "preauth",
        "method",
        "address_from_session",
        "log",
        "level",
        "http",
        "request",
        "response",
        "status_code",
        "body",
        "bytes",
        "referrer",
        "version",
        "url",
        "path",
        "query",
        "decoded",
        "user_agent",
        "ehr",
        "patient",
        "id",
        "sudo",
        "command",
        "target",
        "tty",
        "pwd",
    )
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
            e.to_value(),
            json!({"source": {"ip": "192.0.2.1", "port": 22}, "@timestamp": "2026-12-10T06:55:46Z"})
        );
        assert_eq!(e.get("source.ip.x"), None);
        assert_eq!(e.get("nope"), None);
    }

    #[test]
    fn set_replaces_a_scalar_on_the_way_and_refuses_bad_paths() {
        let mut e = Event::new();
        e.set("a", 1);
        assert!(e.set("a.b", 2));
        assert_eq!(e.to_value(), json!({"a": {"b": 2}}));
        assert!(!e.set("", 1));
        assert!(!e.set("a..b", 1));
        assert!(!e.set("x.".repeat(20).trim_end_matches('.'), 1));
        assert_eq!(e.remove("a.b"), Some(json!(2)));
        assert_eq!(e.remove("a.b"), None);
        for bad in [".a", "a.", ".", "a.b..c"] {
            assert!(!e.set(bad, 1), "{bad}");
        }
        assert!(e.set(&("x.".repeat(15) + "x"), 1), "16 steps are allowed");
        assert_eq!(e.to_value()["a"], json!({}));
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
        assert_eq!(e.get("url"), None, "an object is read through its fields");
        assert!(e.has("url"));
        assert_eq!(e.remove("labels.é.x"), Some(json!("ü")));
        assert_eq!(e.remove("url.nothing.x"), None);
    }
}
