//! The view of a schema event that the Sigma evaluator sees.
//!
//! Fielded lookups go straight to the nested JSON (`url.decoded` walks
//! `{"url":{"decoded":…}}`). Unfielded keyword searches look only at the dataset's
//! keyword fields (see [`crate::mapping::DATASETS`]), never at every string in the
//! event: `event.original` repeats the whole line and would make every keyword rule
//! match twice as much text, and `user.name` must not satisfy a `rm -rf` keyword.

use std::borrow::Cow;
use std::cell::OnceCell;

use rsigma_eval::event::{Event, EventValue, JsonEvent};
use serde_json::{Map, Value};

/// Look a dotted path up in a nested JSON object (also accepts a flat dotted key).
pub fn lookup<'a>(event: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(v) = event.get(path) {
        return Some(v);
    }
    let mut current = event;
    for part in path.split('.') {
        current = current.get(part)?;
    }
    Some(current)
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
        if path.contains(['[', '\\']) {
            return self.json.get_field(path);
        }
        let Value::Object(root) = self.value else {
            return self.json.get_field(path);
        };
        if let Some(v) = root.get(path) {
            return Some(EventValue::from(v));
        }
        let mut current = self.value;
        for step in path.split('.') {
            current = match current {
                Value::Object(map) => map.get(step)?,
                Value::Array(_) => return self.json.get_field(path),
                _ => return None,
            };
        }
        Some(EventValue::from(current))
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
    text: OnceCell<String>,
}

/// The field of [`WindowedEvent::to_json`] that rsigma reads as the reference id.
pub(crate) const REF_TEXT_FIELD: &str = "id";

impl<'v, 'a> WindowedEvent<'v, 'a> {
    pub(crate) fn new(view: &'v SchemaEvent<'a>) -> Self {
        Self {
            view,
            text: OnceCell::new(),
        }
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
        // serde_json::to_string writes straight into a buffer; Display goes through
        // the formatter, a few percent slower over a whole hunt.
        let text = self
            .text
            .get_or_init(|| serde_json::to_string(self.view.value).unwrap_or_default());
        let mut carrier = Map::with_capacity(1);
        carrier.insert(REF_TEXT_FIELD.to_owned(), Value::String(text.clone()));
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
