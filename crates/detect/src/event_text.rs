//! A triggering event as detections carry it: redacted, written once as compact JSON
//! text, and shared.
//!
//! A correlation that fires on every event of a burst lists nearly the same twenty
//! events each time, and several correlations list the same events. Everything that
//! keeps or sends them (`hunt`'s alerts, the server's alert store) writes them as text,
//! so the engine hands them out as text: a firing costs twenty reference counts, not
//! twenty copies of a JSON tree, and an event listed by many alerts is held once.

use std::fmt;
use std::sync::Arc;

use serde::{Serialize, Serializer};
use serde_json::Value;

/// One event as compact JSON text, with secrets already redacted
/// ([`webqx_events::normalize::redact_event`]). Cheap to clone.
#[derive(Clone, PartialEq, Eq)]
pub struct EventText(Arc<str>);

impl EventText {
    /// `value`, written as compact JSON text. The caller redacts it first when it may
    /// carry secrets.
    pub fn from_value(value: &Value) -> Self {
        Self(Arc::from(value.to_string()))
    }

    /// `text`, which the engine knows to be one event as compact JSON with nothing
    /// left to redact. Not public: text from elsewhere goes through
    /// [`EventText::from_value`] after redaction.
    pub(crate) fn from_redacted_text(text: &str) -> Self {
        Self(Arc::from(text))
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Length of the text in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the text is empty (never, for text this crate made).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Identity of the shared text: the same for an `EventText` and its clones,
    /// different for any other text alive at the same time. Lets a caller read each
    /// of a burst's events once, however many detections list it.
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.0).cast::<u8>() as usize
    }

    /// The event read back as a JSON value (`Null` for text that is not JSON, which
    /// this crate never makes).
    pub fn to_value(&self) -> Value {
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }
}

impl From<&Value> for EventText {
    fn from(value: &Value) -> Self {
        Self::from_value(value)
    }
}

impl fmt::Debug for EventText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for EventText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Serialized as the event it holds (a JSON object), not as a string.
impl Serialize for EventText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}

impl PartialEq<Value> for EventText {
    fn eq(&self, other: &Value) -> bool {
        self.to_value() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serializes_as_the_event_and_reads_back() {
        let event = json!({"source": {"ip": "192.0.2.1"}, "n": 1.50, "ok": true});
        let text = EventText::from_value(&event);
        assert_eq!(text.to_value(), event);
        assert_eq!(serde_json::to_value(&text).unwrap(), event);
        assert_eq!(
            serde_json::to_string(&vec![text.clone()]).unwrap(),
            format!("[{text}]")
        );
        assert_eq!(text, event);
        assert_eq!(format!("{text:?}"), text.as_str());
        assert_eq!(text.len(), text.as_str().len());
        assert!(!text.is_empty());
        assert_eq!(text.clone().id(), text.id());
        assert_ne!(EventText::from_value(&event).id(), text.id());
    }
}
