//! The view of a schema event that the Sigma evaluator sees.
//!
//! Fielded lookups go straight to the nested JSON (`url.decoded` walks
//! `{"url":{"decoded":…}}`). Unfielded keyword searches look only at the dataset's
//! keyword fields (see [`crate::mapping::DATASETS`]), never at every string in the
//! event: `event.original` repeats the whole line and would make every keyword rule
//! match twice as much text, and `user.name` must not satisfy a `rm -rf` keyword.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::sync::Arc;

use rsigma_eval::event::{Event, EventValue, JsonEvent};
use serde_json::{Map, Value};
use webqx_events::normalize::{self, Lookup, lookup_in};

/// Look a dotted path up in a nested JSON object (also accepts a flat dotted key).
pub fn lookup<'a>(event: &'a Value, path: &str) -> Option<&'a Value> {
    // The nested walk first: the schema nests every field, so it finds them, with one
    // hash per step.
    match lookup_in(event, path) {
        Lookup::Value(v) => Some(v),
        _ => flat(event, path),
    }
}

/// A flat dotted key (`{"source.ip": …}`), as generic JSON input may send it. Only
/// looked for when the nested walk missed, and only for dotted paths (an undotted path
/// was the walk's first step).
fn flat<'a>(event: &'a Value, path: &str) -> Option<&'a Value> {
    if path.contains('.') {
        event.get(path)
    } else {
        None
    }
}

/// An event the engine evaluates: a JSON object (the server's events, tests) or a
/// normalized [`normalize::Event`] (`hunt`, which never turns its events into
/// `serde_json` objects: building those was a third of a hunt).
pub trait Record {
    /// The value at a dotted path: nested, then a flat dotted member (an object built
    /// by `Event::set` comes copied).
    fn field(&self, path: &str) -> Option<Cow<'_, Value>>;

    /// A field as rsigma sees it, objects included. `None` leaves the question to
    /// rsigma's own walker over [`Record::to_json`] (arrays on the way).
    fn sigma_field(&self, path: &str) -> Option<Option<EventValue<'_>>>;

    /// Visits the top-level names; `false` when the event is not an object.
    fn visit_names(&self, visit: &mut dyn FnMut(&str)) -> bool;

    /// The event as a JSON value, copied.
    fn to_json(&self) -> Value;

    /// The event as JSON text.
    fn to_text(&self) -> String;

    /// The event itself when it is JSON already (no copy for rsigma's walker).
    fn as_json(&self) -> Option<&Value>;

    /// The top-level object `name`, made an object if needed, for enrichment.
    fn object_mut(&mut self, name: &str) -> Option<&mut Map<String, Value>>;
}

impl Record for Value {
    fn field(&self, path: &str) -> Option<Cow<'_, Value>> {
        lookup(self, path).map(Cow::Borrowed)
    }

    fn sigma_field(&self, path: &str) -> Option<Option<EventValue<'_>>> {
        if !self.is_object() {
            return None;
        }
        match lookup_in(self, path) {
            Lookup::Value(v) => Some(Some(EventValue::from(v))),
            // rsigma's walker knows what to do with an array on the way.
            Lookup::Array => None,
            Lookup::Missing | Lookup::Object(_) => Some(flat(self, path).map(EventValue::from)),
        }
    }

    fn visit_names(&self, visit: &mut dyn FnMut(&str)) -> bool {
        match self {
            Value::Object(map) => {
                map.keys().for_each(|k| visit(k));
                true
            }
            _ => false,
        }
    }

    fn to_json(&self) -> Value {
        self.clone()
    }

    fn to_text(&self) -> String {
        let mut out = String::with_capacity(1024);
        webqx_events::normalize::write_json(self, &mut out);
        out
    }

    fn as_json(&self) -> Option<&Value> {
        Some(self)
    }

    fn object_mut(&mut self, name: &str) -> Option<&mut Map<String, Value>> {
        let root = self.as_object_mut()?;
        let member = root
            .entry(name)
            .or_insert_with(|| Value::Object(Map::new()));
        if !member.is_object() {
            *member = Value::Object(Map::new());
        }
        member.as_object_mut()
    }
}

impl Record for normalize::Event {
    fn field(&self, path: &str) -> Option<Cow<'_, Value>> {
        // As `lookup` reads a JSON value: the nested walk (objects included), then,
        // when it finds nothing or meets an array, a flat dotted member.
        match self.lookup(path) {
            Lookup::Value(v) => Some(Cow::Borrowed(v)),
            Lookup::Object(v) => Some(Cow::Owned(v)),
            Lookup::Missing | Lookup::Array if path.contains('.') => {
                self.member(path).map(Cow::Borrowed)
            }
            Lookup::Missing | Lookup::Array => None,
        }
    }

    fn sigma_field(&self, path: &str) -> Option<Option<EventValue<'_>>> {
        match self.lookup(path) {
            Lookup::Value(v) => Some(Some(EventValue::from(v))),
            Lookup::Object(v) => Some(Some(owned(v))),
            Lookup::Array => None,
            Lookup::Missing if path.contains('.') => Some(self.member(path).map(EventValue::from)),
            Lookup::Missing => Some(None),
        }
    }

    fn visit_names(&self, visit: &mut dyn FnMut(&str)) -> bool {
        self.names().for_each(visit);
        true
    }

    fn to_json(&self) -> Value {
        self.to_value()
    }

    fn to_text(&self) -> String {
        self.to_json_text()
    }

    fn as_json(&self) -> Option<&Value> {
        None
    }

    fn object_mut(&mut self, name: &str) -> Option<&mut Map<String, Value>> {
        Some(normalize::Event::object_mut(self, name))
    }
}

/// A copied JSON value as rsigma's value.
fn owned(value: Value) -> EventValue<'static> {
    match value {
        Value::String(s) => EventValue::Str(Cow::Owned(s)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => EventValue::Int(i),
            None => EventValue::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::Bool(b) => EventValue::Bool(b),
        Value::Null => EventValue::Null,
        Value::Array(items) => EventValue::Array(items.into_iter().map(owned).collect()),
        Value::Object(map) => EventValue::Map(
            map.into_iter()
                .map(|(k, v)| (Cow::Owned(k), owned(v)))
                .collect(),
        ),
    }
}

/// A borrowed schema event plus the fields keyword searches may read.
pub(crate) struct SchemaEvent<'a, R: Record + ?Sized> {
    record: &'a R,
    /// rsigma's own walker over the event's JSON (borrowed when the event is JSON,
    /// else a copy), made when a path needs it.
    json: OnceCell<JsonEvent<'a>>,
    keyword_fields: &'static [&'static str],
}

impl<'a, R: Record + ?Sized> SchemaEvent<'a, R> {
    pub(crate) fn new(record: &'a R, keyword_fields: &'static [&'static str]) -> Self {
        Self {
            record,
            json: OnceCell::new(),
            keyword_fields,
        }
    }

    fn keyword_values(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.keyword_fields
            .iter()
            .filter_map(|f| match self.record.field(f)? {
                Cow::Borrowed(v) => v.as_str(),
                // An object is no keyword text.
                Cow::Owned(_) => None,
            })
    }

    /// rsigma's walker over the event's JSON.
    fn json(&self) -> &JsonEvent<'a> {
        let record = self.record;
        self.json.get_or_init(|| match record.as_json() {
            Some(v) => JsonEvent::borrow(v),
            None => JsonEvent::owned(record.to_json()),
        })
    }
}

impl<R: Record + ?Sized> Event for SchemaEvent<'_, R> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        // Plain dotted paths through objects are walked here without parsing the path
        // into steps; indexes, escapes and arrays on the way go to rsigma's walker,
        // which gives the same answer for the plain case.
        if path.bytes().any(|b| b == b'[' || b == b'\\') {
            return self.json().get_field(path);
        }
        match self.record.sigma_field(path) {
            Some(found) => found,
            None => self.json().get_field(path),
        }
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        self.keyword_values().any(pred)
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        self.keyword_values().map(Cow::Borrowed).collect()
    }

    fn visit_string_values(&self, visit: &mut dyn FnMut(&str)) {
        self.keyword_values().for_each(visit);
    }

    fn to_json(&self) -> Value {
        self.record.to_json()
    }

    fn top_level_keys(&self) -> Option<Vec<Cow<'_, str>>> {
        let mut keys = Vec::new();
        self.record
            .visit_names(&mut |k| keys.push(Cow::Owned(k.to_owned())))
            .then_some(keys)
    }

    fn visit_top_level_keys(&self, visit: &mut dyn FnMut(&str)) -> bool {
        self.record.visit_names(visit)
    }
}

/// The event as a correlation window keeps it: rsigma's reference to the event, whose
/// `id` here is the event's JSON text.
///
/// rsigma can keep a correlation's triggering events whole (`Full`: every event is
/// copied, serialized and deflate-compressed with a new encoder, once per correlation
/// it feeds, which cost more than parsing and evaluating the line) or as references
/// (`Refs`: the event's `id` and time). With the JSON text as the `id`, the references
/// are the events: the same ones, evicted and capped as the `Full` buffers would be,
/// for one serialization per event and no compression. The engine turns the texts
/// back into events when a correlation fires. Every other question goes to the
/// schema view.
pub(crate) struct WindowedEvent<'v, 'a, R: Record + ?Sized> {
    view: &'v SchemaEvent<'a, R>,
    text: OnceCell<Arc<str>>,
    /// Whether windows keep the event (its text); without, a reference has no id.
    keep: bool,
}

/// The field of [`WindowedEvent::to_json`] that rsigma reads as the reference id.
pub(crate) const REF_TEXT_FIELD: &str = "id";

impl<'v, 'a, R: Record + ?Sized> WindowedEvent<'v, 'a, R> {
    pub(crate) fn new(view: &'v SchemaEvent<'a, R>, keep: bool) -> Self {
        Self {
            view,
            text: OnceCell::new(),
            keep,
        }
    }
}

impl<R: Record + ?Sized> WindowedEvent<'_, '_, R> {
    /// The event's JSON text, written once however many windows keep it; `None` when
    /// windows keep no events.
    pub(crate) fn text(&self) -> Option<Arc<str>> {
        if !self.keep {
            return None;
        }
        let text = self
            .text
            .get_or_init(|| Arc::from(self.view.record.to_text()));
        Some(Arc::clone(text))
    }
}

impl<R: Record + ?Sized> Event for WindowedEvent<'_, '_, R> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        self.view.get_field(path)
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        self.view.any_string_value(pred)
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        self.view.all_string_values()
    }

    fn visit_string_values(&self, visit: &mut dyn FnMut(&str)) {
        self.view.visit_string_values(visit);
    }

    fn to_json(&self) -> Value {
        // Without text rsigma finds no id in it: the reference holds the time alone.
        let Some(text) = self.text() else {
            return Value::Null;
        };
        let mut carrier = Map::with_capacity(1);
        carrier.insert(REF_TEXT_FIELD.to_owned(), Value::String(text.to_string()));
        Value::Object(carrier)
    }

    fn field_keys(&self) -> Vec<Cow<'_, str>> {
        self.view.field_keys()
    }

    fn top_level_keys(&self) -> Option<Vec<Cow<'_, str>>> {
        self.view.top_level_keys()
    }

    fn visit_top_level_keys(&self, visit: &mut dyn FnMut(&str)) -> bool {
        self.view.visit_top_level_keys(visit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lookup_walks_nested_fields_then_flat_dotted_keys() {
        let event = json!({
            "source": {"ip": "192.0.2.1", "geo": {"country": "NL"}},
            "user.name": "flat",
            "tags": ["a", "b"],
            "message": "m",
        });
        assert_eq!(lookup(&event, "source.ip"), Some(&json!("192.0.2.1")));
        assert_eq!(lookup(&event, "source.geo.country"), Some(&json!("NL")));
        assert_eq!(lookup(&event, "message"), Some(&json!("m")));
        assert_eq!(lookup(&event, "user.name"), Some(&json!("flat")));
        assert_eq!(lookup(&event, "source.port"), None);
        assert_eq!(lookup(&event, "message.x"), None);
        assert_eq!(lookup(&event, "tags.x"), None);
        assert_eq!(lookup(&event, ""), None);
        assert_eq!(lookup(&json!("not an object"), "a.b"), None);
    }

    #[test]
    fn the_schema_view_answers_as_rsigmas_own_walker_does() {
        let event = json!({
            "source": {"ip": "192.0.2.1"},
            "user.name": "flat",
            "items": [{"id": "x"}, {"id": "y"}],
            "n": 7,
        });
        let view = SchemaEvent::new(&event, &[]);
        let ours = |path: &str| view.get_field(path).map(|v| format!("{v:?}"));
        let theirs = |path: &str| view.json().get_field(path).map(|v| format!("{v:?}"));
        for path in [
            "source.ip",
            "user.name",
            "n",
            "items",
            "items[1].id",
            "source.port",
            "n.x",
            "nothing",
        ] {
            assert_eq!(ours(path), theirs(path), "{path}");
        }
        assert!(ours("source.ip").is_some());
        assert!(ours("user.name").is_some());
        assert!(ours("items[1].id").is_some());
    }

    #[test]
    fn a_normalized_event_answers_as_its_json_does() {
        let json = json!({
            "source": {"ip": "192.0.2.1", "geo": {"country": "NL"}},
            "user.name": "flat",
            "items": [{"id": "x"}, {"id": "y"}],
            "n": 7,
            "nothing": null,
        });
        let Value::Object(map) = json.clone() else {
            unreachable!()
        };
        let mut event = normalize::Event::from_map(map);
        // Fields set by path become objects of the event's own (not JSON values).
        event.set("host.name", "h");
        event.set("host.os.family", "linux");
        let json = event.to_value();
        let as_event = SchemaEvent::new(&event, &["host.name", "user.name"]);
        let as_json = SchemaEvent::new(&json, &["host.name", "user.name"]);
        for path in [
            "source.ip",
            "source",
            "source.geo.country",
            "user.name",
            "n",
            "nothing",
            "items",
            "items[1].id",
            "items.id",
            "host",
            "host.os",
            "host.name",
            "source.port",
            "n.x",
            "absent",
        ] {
            assert_eq!(
                as_event.get_field(path).map(|v| v.to_json()),
                as_json.get_field(path).map(|v| v.to_json()),
                "{path}"
            );
        }
        assert!(
            as_event.get_field("user.name").is_some(),
            "flat dotted member"
        );
        assert!(
            as_event.get_field("host.os").is_some(),
            "an object built by set"
        );
        assert_eq!(as_event.all_string_values(), as_json.all_string_values());
        let names = |view: &dyn Event| {
            let mut names = Vec::new();
            view.visit_top_level_keys(&mut |k| names.push(k.to_owned()));
            names
        };
        assert_eq!(names(&as_event), names(&as_json));
        assert_eq!(Record::to_text(&event), Record::to_text(&json));
    }
}
