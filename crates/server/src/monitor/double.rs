//! TEST DOUBLE: a stand-in detector for tests of the pipeline, the alert store and
//! the API, used until the Sigma engine (the detect crate) is wired in. It is chosen
//! only with `[monitor] detector = "test-double"` and must not run in production.
//!
//! Rule `test-outcome-failure`: every event whose `event.outcome` is `failure` is a
//! finding, grouped by `user.name` (else `source.ip`).

use super::{Detector, Finding, Severity};
use serde_json::Value;

/// See the module documentation.
pub struct OutcomeFailure;

fn time_ms(event: &Value) -> i64 {
    event
        .get("@timestamp")
        .and_then(Value::as_str)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map_or_else(webqx_store::now_ms, |t| t.timestamp_millis())
}

impl Detector for OutcomeFailure {
    fn catalog(&self) -> Vec<webqx_detect::RuleInfo> {
        vec![webqx_detect::RuleInfo {
            id: "test-outcome-failure".into(),
            name: None,
            title: "Test double: an event failed".into(),
            level: webqx_detect::Level::Medium,
            kind: "detection",
            alerts: true,
            origin: "test-double".into(),
        }]
    }

    fn process(&mut self, event: &mut Value) -> Vec<Finding> {
        if event.pointer("/event/outcome").and_then(Value::as_str) != Some("failure") {
            return Vec::new();
        }
        let key = super::alerts::field_text(event, "user.name")
            .or_else(|| super::alerts::field_text(event, "source.ip"))
            .unwrap_or_default();
        vec![Finding {
            rule_id: "test-outcome-failure".into(),
            title: "Test double: an event failed".into(),
            level: Severity::Medium,
            tags: vec!["attack.t1110".into(), "hipaa.164.312.b".into()],
            group_key: key,
            timestamp_ms: time_ms(event),
            events: vec![super::EventText::from_value(event)],
        }]
    }
}
