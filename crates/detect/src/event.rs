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
use webqx_events::normalize::first_step;

/// Look a dotted path up in a nested JSON object (also accepts a flat dotted key).
pub fn lookup<'a>(event: &'a Value, path: &str) -> Option<&'a Value> {
    match walk(event, path) {
        Walk::Found(v) => Some(v),
        Walk::Missing | Walk::Array => flat(event, path),
    }
}

/// Where a walk down a dotted path ended.
enum Walk<'a> {
    Found(&'a Value),
    Missing,
    /// A step on the way holds an array (rsigma's walker knows what to do there).
    Array,
}

/// The nested walk, tried first: the schema nests every field, so this is the lookup
/// that finds it, with one hash per step.
fn walk<'a>(event: &'a Value, path: &str) -> Walk<'a> {
    let mut current = event;
    let mut rest = Some(path);
    while let Some((step, tail)) = rest.map(first_step) {
        current = match current {
            Value::Object(map) => match map.get(step) {
                Some(v) => v,
                None => return Walk::Missing,
            },
            Value::Array(_) => return Walk::Array,
            _ => return Walk::Missing,
        };
        rest = tail;
    }
    Walk::Found(current)
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

/// A borrowed schema event plus the fields keyword searches may read.
pub(crate) struct SchemaEvent<'a> {
    json: JsonEvent<'a>,
    value: &'a Value,
    keyword_fields: &'static [&'static str],
}

impl<'a> SchemaEvent<'a> {
    pub(crate) fn new(value: &'a Value, keyword_fields: &'static [&'static str]) -> Self {
        Self {
            json: JsonEvent::borrow(value),
            value,
            keyword_fields,
        }
    }

    fn keyword_values(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.keyword_fields
            .iter()
            .filter_map(|f| lookup(self.value, f))
            .filter_map(Value::as_str)
    }
}

impl Event for SchemaEvent<'_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        // Plain dotted paths through objects are walked here without parsing the path
        // into steps; indexes, escapes and arrays on the way go to rsigma's walker,
        // which gives the same answer for the plain case.
        if path.bytes().any(|b| b == b'[' || b == b'\\') || !self.value.is_object() {
            return self.json.get_field(path);
        }
        match walk(self.value, path) {
            Walk::Found(v) => Some(EventValue::from(v)),
            Walk::Array => self.json.get_field(path),
            Walk::Missing => flat(self.value, path).map(EventValue::from),
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
        self.value.clone()
    }

    fn top_level_keys(&self) -> Option<Vec<Cow<'_, str>>> {
        self.json.top_level_keys()
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
pub(crate) struct WindowedEvent<'v, 'a> {
    view: &'v SchemaEvent<'a>,
    text: OnceCell<Arc<str>>,
    /// Whether windows keep the event (its text); without, a reference has no id.
    keep: bool,
}

/// The field of [`WindowedEvent::to_json`] that rsigma reads as the reference id.
pub(crate) const REF_TEXT_FIELD: &str = "id";

impl<'v, 'a> WindowedEvent<'v, 'a> {
    pub(crate) fn new(view: &'v SchemaEvent<'a>, keep: bool) -> Self {
        Self {
            view,
            text: OnceCell::new(),
            keep,
        }
    }
}

impl WindowedEvent<'_, '_> {
    /// The event's JSON text, written once however many windows keep it; `None` when
    /// windows keep no events.
    pub(crate) fn text(&self) -> Option<Arc<str>> {
        if !self.keep {
            return None;
        }
        // serde_json::to_string writes straight into a buffer; Display goes through
        // the formatter, a few percent slower over a whole hunt.
        let text = self
            .text
            .get_or_init(|| Arc::from(serde_json::to_string(self.view.value).unwrap_or_default()));
        Some(Arc::clone(text))
    }
}

impl Event for WindowedEvent<'_, '_> {
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
        let theirs = |path: &str| view.json.get_field(path).map(|v| format!("{v:?}"));
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
}
