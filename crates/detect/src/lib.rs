//! Detection: Sigma rules and correlation over schema events, the built-in rule pack,
//! and the EHR privacy context (user directory, patient flags, care relationships).
//!
//! This crate owns the pure engine. It does no HTTP and no storage: the server feeds
//! it events, stores the [`Detection`]s as alerts, and stores suppressions.
//!
//! ```no_run
//! use webqx_detect::{Context, Engine, Options, RuleSet};
//! let mut engine = Engine::new(RuleSet::builtin()?, Context::new(), Options::default())?;
//! let mut event = serde_json::json!({"@timestamp": "2026-01-01T00:00:00Z",
//!     "event": {"dataset": "sshd"}, "message": "Failed password for root from 10.0.0.1"});
//! let outcome = engine.process(&mut event);
//! for d in outcome.detections { println!("{} {}", d.rule_id, d.title); }
//! # Ok::<(), webqx_detect::LoadError>(())
//! ```
//!
//! How rules meet events: [`mapping`]. The Sigma evaluator is `rsigma-eval`; this crate
//! adds dataset routing, field mapping, keyword scoping, enrichment and suppressions.

#![forbid(unsafe_code)]

pub mod catalog;
pub mod context;
mod engine;
pub mod error;
pub mod event;
mod event_text;
pub mod mapping;
mod rules;
mod value_count;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use catalog::{RuleInfo, check_unique_ids, resolve};
pub use context::{
    CareRelationship, Context, Patient, PatientFlag, User, UserStatus, WorkingHours,
};
pub use engine::{EXPLAINABLE_TAG, Engine, MAX_TRIGGER_EVENTS, Options, Stats};
pub use error::{ContextError, LoadError};
pub use event_text::EventText;
pub use rules::{MAX_RULE_FILE_BYTES, RuleSet};

/// Severity, as Sigma's `level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Level {
    /// Informational.
    Informational,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl From<rsigma_parser::Level> for Level {
    fn from(level: rsigma_parser::Level) -> Self {
        match level {
            rsigma_parser::Level::Informational => Self::Informational,
            rsigma_parser::Level::Low => Self::Low,
            rsigma_parser::Level::Medium => Self::Medium,
            rsigma_parser::Level::High => Self::High,
            rsigma_parser::Level::Critical => Self::Critical,
        }
    }
}

/// A rule (or correlation) that fired.
#[derive(Debug, Clone, Serialize)]
pub struct Detection {
    /// The rule's `id` (its title when it has none).
    pub rule_id: String,
    /// The rule's title.
    pub title: String,
    /// Severity.
    pub level: Level,
    /// MITRE ATT&CK tags (`attack.t1110`, `attack.credential-access`).
    pub mitre: Vec<String>,
    /// HIPAA tags (`hipaa.164.312.b`).
    pub hipaa: Vec<String>,
    /// All tags as written in the rule.
    pub tags: Vec<String>,
    /// What the alert is about: `field=value` pairs of the correlation's group-by, or
    /// the event's source address or user for single-event rules.
    pub group_key: String,
    /// The group-by fields and values of a correlation (empty for single events).
    pub group_fields: Vec<(String, String)>,
    /// Event time of the (last) triggering event.
    pub timestamp: DateTime<Utc>,
    /// The triggering events, redacted, as JSON text; for correlations the last ones
    /// (at most 20).
    pub events: Vec<EventText>,
}

impl Detection {
    /// The group as the alert store keys it (docs/alerts.md `group_key`): the grouped
    /// values joined with `,`, without field names (`183.62.140.253`).
    pub fn group_values(&self) -> String {
        if !self.group_fields.is_empty() {
            return self
                .group_fields
                .iter()
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
                .join(",");
        }
        match self.group_key.split_once('=') {
            Some((_, value)) => value.to_owned(),
            None => self.group_key.clone(),
        }
    }
}

/// An EHR access that a privacy rule would have alerted, explained by a care
/// relationship. Recorded, not alerted.
#[derive(Debug, Clone, Serialize)]
pub struct Explained {
    /// The rule that matched.
    pub rule_id: String,
    /// Its title.
    pub title: String,
    /// The practitioner.
    pub user_id: Option<String>,
    /// The patient.
    pub patient_id: Option<String>,
    /// Event time.
    pub timestamp: DateTime<Utc>,
}

/// What processing one event produced.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    /// Detections to alert on.
    pub detections: Vec<Detection>,
    /// Privacy-rule hits explained by a care relationship.
    pub explained: Vec<Explained>,
    /// Detections dropped by active suppressions.
    pub suppressed: usize,
}

/// Silence a rule (or every rule, `"*"`) for events whose `field` equals `value`,
/// until `expires_at`. Expired suppressions do nothing.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Suppression {
    /// Rule id, or `*` for all rules.
    pub rule_id: String,
    /// Schema field (`source.ip`, `user.name`, …) or a correlation group-by field.
    pub field: String,
    /// The value to silence.
    pub value: String,
    /// Why (kept by the server's audit trail).
    pub reason: String,
    /// When it stops applying.
    pub expires_at: DateTime<Utc>,
}
