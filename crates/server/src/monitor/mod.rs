//! Security monitoring: inputs feed one bounded queue; a worker on a blocking thread
//! runs the [`Detector`] over each event; a writer turns findings into alerts in the
//! store (grouped, de-duplicated, suppressed) and wakes the live alert streams.
//!
//! ```text
//! POST /v1/events ─┐
//! syslog (udp/tcp/tls) ─┤  try_send   ┌────────┐  findings  ┌────────┐
//! files (tail) ────┼──────────▶│ worker │───────────▶│ writer │──▶ alerts, tail_positions,
//! audit trail ─────┘  (bounded) └────────┘  (bounded) └────────┘    alert.raised records
//! ```
//!
//! Nothing is lost silently: an input that finds the queue full either drops the event
//! and counts it (syslog: `webqx_monitor_dropped_total{input}`, shown in
//! `/v1/sys/health`), or hands it back to its sender to send again (HTTP:
//! `webqx_monitor_refused_total{input}`), or, for files and the audit trail, which keep
//! their data, leaves its read position where it was and reads the data again later
//! (`webqx_monitor_deferred_total{input}`).
//! Positions of files and of the audit trail commit in the same transaction as the
//! alerts their events raised, so a crash neither loses nor repeats an event.
//!
//! Detection itself (Sigma rules, correlation, the built-in pack) lives in the detect
//! crate; this module sees it only through [`Detector`].

pub mod alerts;
pub mod body;
pub mod double;
pub mod event;
pub mod follow;
pub mod sigma;
pub mod tail;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use webqx_audit::AuditLog;
use webqx_store::Store;

pub use webqx_detect::EventText;

/// How serious a finding is (Sigma's levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Severity {
    /// Worth knowing.
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

impl Severity {
    /// Every level, lowest first.
    pub const ALL: [Severity; 5] = [
        Severity::Informational,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "informational",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Rank, 0 (informational) to 4 (critical), stored for `severity >=` filters.
    pub fn rank(self) -> i64 {
        match self {
            Severity::Informational => 0,
            Severity::Low => 1,
            Severity::Medium => 2,
            Severity::High => 3,
            Severity::Critical => 4,
        }
    }
}

/// What a detector reports: one rule matched (an event, or a correlation of several).
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The rule's id.
    pub rule_id: String,
    /// The rule's title.
    pub title: String,
    /// The rule's level.
    pub level: Severity,
    /// Sigma tags: `attack.*` (MITRE ATT&CK), `hipaa.*` (HIPAA Security Rule), others.
    pub tags: Vec<String>,
    /// What groups findings into one alert (a source address, a user); may be empty.
    pub group_key: String,
    /// When it happened (the newest triggering event), ms since the epoch.
    pub timestamp_ms: i64,
    /// The triggering events, in the event schema, as JSON text (redacted by the
    /// engine for detections).
    pub events: Vec<EventText>,
}

/// Detection as the pipeline sees it. Runs on one blocking thread, one event at a time.
pub trait Detector: Send {
    /// Looks at one event (and may enrich it: detection adds the `ehr.*` context fields)
    /// and returns what matched.
    fn process(&mut self, event: &mut Value) -> Vec<Finding>;

    /// New monitoring context (`users`, `patients` or `care`) was stored.
    fn set_context(&mut self, _kind: &str, _document: &Value) {}

    /// Learned state worth keeping across restarts (the EHR volume baseline), when it
    /// changed since the last call.
    fn take_state(&mut self) -> Option<Value> {
        None
    }

    /// State [`Detector::take_state`] gave before a restart.
    fn restore_state(&mut self, _state: &Value) {}

    /// The rules it can report (listed by `GET /v1/alerts/rules`, and what a
    /// suppression's rule is looked up in).
    fn catalog(&self) -> Vec<webqx_detect::RuleInfo> {
        Vec::new()
    }
}

/// The alerts raised outside detection (docs/alerts.md): listed beside the detector's
/// rules, and suppressible by the same lookup.
pub fn component_rules() -> Vec<webqx_detect::RuleInfo> {
    use webqx_detect::Level;
    [
        (
            "vuln-new-finding",
            "New vulnerabilities in a scan target",
            Level::Medium,
            "vuln",
        ),
        (
            "tls-scan-regression",
            "TLS scan got worse or endpoint unreachable",
            Level::Medium,
            "tls-scan",
        ),
        (
            "oauth-auth-failures",
            "Repeated failed OAuth client authentications",
            Level::High,
            "oauth",
        ),
        (
            "cert-expiring",
            "Certificate expiring",
            Level::Medium,
            "pki",
        ),
        (
            "cert-watch-unreadable",
            "Watched certificate cannot be read",
            Level::Medium,
            "pki",
        ),
    ]
    .into_iter()
    .map(|(id, title, level, origin)| webqx_detect::RuleInfo {
        id: id.into(),
        name: None,
        title: title.into(),
        level,
        kind: "component",
        alerts: true,
        origin: format!("component:{origin}"),
    })
    .collect()
}

/// A detector that finds nothing (`[monitor] detector = "none"`).
pub struct NoDetector;

impl Detector for NoDetector {
    fn process(&mut self, _event: &mut Value) -> Vec<Finding> {
        Vec::new()
    }
}

/// A followed source's read position, committed with the alerts its events raised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// The file path, or `audit-trail`.
    pub path: String,
    /// Device of the file (0 for the trail).
    pub dev: i64,
    /// Inode of the file (0 for the trail).
    pub inode: i64,
    /// Offset after this item (bytes; for the trail, the sequence number).
    pub offset: i64,
}

/// One unit of work: an event, or only a position to commit (lines that produced no
/// event, such as blank lines or uninteresting audit records).
#[derive(Debug)]
pub struct Item {
    /// The event, in the schema.
    pub event: Option<Value>,
    /// The position after it, for followed sources.
    pub mark: Option<Mark>,
}

/// What the worker hands the writer for one item.
#[derive(Debug)]
pub struct Processed {
    /// Findings.
    pub findings: Vec<Finding>,
    /// Position to commit.
    pub mark: Option<Mark>,
    /// An EHR access explained by a care relationship: (user, patient).
    pub explained: Option<(String, String)>,
}

/// Why an item was not queued.
#[derive(Debug)]
#[non_exhaustive]
pub enum Refused {
    /// The queue is full; the item comes back for inputs that retry.
    Full(Item),
    /// Monitoring is off or stopping.
    Closed,
}

#[derive(Default)]
struct Counts {
    accepted: BTreeMap<String, u64>,
    dropped: BTreeMap<String, u64>,
    refused: BTreeMap<String, u64>,
    deferred: BTreeMap<String, u64>,
}

struct Inner {
    tx: mpsc::Sender<Item>,
    capacity: usize,
    counts: Mutex<Counts>,
    changed: Notify,
    contexts: std::sync::mpsc::Sender<(String, Value)>,
    rules: Vec<webqx_detect::RuleInfo>,
}

/// The pipeline's entry point, shared by every input. Cheap to clone.
#[derive(Clone)]
pub struct Monitor {
    inner: Arc<Inner>,
}

/// The metric label of an input: `file:/var/log/x` counts as `file`.
fn input_name(input: &str) -> String {
    input.split(':').next().unwrap_or(input).to_owned()
}

/// What became of an item that found the queue full.
#[derive(Clone, Copy)]
enum Full {
    /// Lost: the input cannot hand it back (syslog).
    Dropped,
    /// Handed back to a sender told to send it again (HTTP).
    Refused,
    /// Left where it was, to be read again (files, the audit trail).
    Deferred,
}

fn bump(map: &mut BTreeMap<String, u64>, input: &str) {
    *map.entry(input_name(input)).or_insert(0) += 1;
}

impl Monitor {
    /// Queues an item from `input`; when the queue is full the item is dropped and
    /// counted (inputs that can read again use [`Monitor::offer_or_keep`]).
    ///
    /// # Errors
    /// [`Refused::Full`] (counted as dropped) or [`Refused::Closed`].
    pub fn offer(&self, input: &str, item: Item) -> Result<(), Refused> {
        self.queue_or_count(input, item, Full::Dropped)
    }

    /// Queues an item whose sender is told to send it again when the queue is full
    /// (HTTP's `"retry": true`): counted as refused, not dropped, since the sender still
    /// holds it.
    ///
    /// # Errors
    /// As for [`Monitor::offer`].
    pub fn offer_or_refuse(&self, input: &str, item: Item) -> Result<(), Refused> {
        self.queue_or_count(input, item, Full::Refused)
    }

    /// Queues an item; when full, gives it back (counted as deferred, not dropped) so
    /// that the input can offer it again later.
    ///
    /// # Errors
    /// As for [`Monitor::offer`].
    pub fn offer_or_keep(&self, input: &str, item: Item) -> Result<(), Refused> {
        self.queue_or_count(input, item, Full::Deferred)
    }

    /// Queues an item; when the queue is full, counts it as `full` says, in health and
    /// in its metric.
    fn queue_or_count(&self, input: &str, item: Item, full: Full) -> Result<(), Refused> {
        let result = self.try_queue(input, item);
        if matches!(result, Err(Refused::Full(_))) {
            let label = input_name(input);
            match full {
                Full::Dropped => {
                    self.count(input, |c| &mut c.dropped);
                    metrics::counter!("webqx_monitor_dropped_total", "input" => label)
                }
                Full::Refused => {
                    self.count(input, |c| &mut c.refused);
                    metrics::counter!("webqx_monitor_refused_total", "input" => label)
                }
                Full::Deferred => {
                    self.count(input, |c| &mut c.deferred);
                    metrics::counter!("webqx_monitor_deferred_total", "input" => label)
                }
            }
            .increment(1);
        }
        result
    }

    fn try_queue(&self, input: &str, item: Item) -> Result<(), Refused> {
        use mpsc::error::TrySendError;
        let has_event = item.event.is_some();
        match self.inner.tx.try_send(item) {
            Ok(()) => {
                if has_event {
                    self.count(input, |c| &mut c.accepted);
                    metrics::counter!("webqx_monitor_events_total", "input" => input_name(input))
                        .increment(1);
                }
                Ok(())
            }
            Err(TrySendError::Full(item)) => Err(Refused::Full(item)),
            Err(TrySendError::Closed(_)) => Err(Refused::Closed),
        }
    }

    fn count(&self, input: &str, which: impl Fn(&mut Counts) -> &mut BTreeMap<String, u64>) {
        if let Ok(mut c) = self.inner.counts.lock() {
            bump(which(&mut c), input);
        }
    }

    /// Events queued now, the capacity, and per input what was accepted, dropped,
    /// refused (to be sent again) and deferred since start (for `/v1/sys/health` and
    /// `/v1/sys/ready`).
    pub fn status(&self) -> Value {
        let queued = self.inner.capacity - self.inner.tx.capacity();
        let mut status = json!({
            "queued": queued,
            "capacity": self.inner.capacity,
        });
        // Counters stay readable after a panic elsewhere held the lock.
        let c = self
            .inner
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        status["accepted"] = json!(c.accepted);
        status["dropped"] = json!(c.dropped);
        status["refused"] = json!(c.refused);
        status["deferred"] = json!(c.deferred);
        status
    }

    /// Total dropped events since start.
    pub fn dropped_total(&self) -> u64 {
        self.inner
            .counts
            .lock()
            .map(|c| c.dropped.values().sum())
            .unwrap_or(0)
    }

    /// The detector's rules (see [`Detector::catalog`]).
    pub fn rules(&self) -> &[webqx_detect::RuleInfo] {
        &self.inner.rules
    }

    /// Woken whenever alerts change (for the live stream).
    pub fn changed(&self) -> &Notify {
        &self.inner.changed
    }

    /// Hands stored context to the detector (applied between two events).
    pub fn set_context(&self, kind: &str, document: Value) {
        let _ = self.inner.contexts.send((kind.to_owned(), document));
    }
}

/// Settings of the pipeline.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Queue capacity.
    pub capacity: usize,
    /// Grouping window.
    pub group_window_ms: i64,
    /// Write `access.explained` records.
    pub record_explained: bool,
    /// How often the detector's learned state is saved.
    pub state_every: Duration,
}

/// The `monitor_context` kind under which the detector's learned state (the EHR volume
/// baseline) is kept: written by the pipeline, never through the API, and handed back
/// to the detector at start.
pub const STATE_KIND: &str = "detector-state";

/// Starts the worker and the writer; the returned [`Monitor`] feeds them. They stop
/// when every clone of the monitor is dropped.
pub fn start(
    settings: &Settings,
    detector: Box<dyn Detector>,
    store: Store,
    audit: Arc<AuditLog>,
) -> Monitor {
    let (tx, rx) = mpsc::channel(settings.capacity.max(1));
    let (done_tx, done_rx) = mpsc::channel(1024);
    let (ctx_tx, ctx_rx) = std::sync::mpsc::channel();
    let monitor = Monitor {
        inner: Arc::new(Inner {
            tx,
            capacity: settings.capacity.max(1),
            counts: Mutex::default(),
            changed: Notify::new(),
            contexts: ctx_tx,
            rules: detector.catalog(),
        }),
    };
    let (state_tx, state_rx) = mpsc::channel(2);
    let every = settings.state_every;
    tokio::task::spawn_blocking(move || work(detector, rx, ctx_rx, done_tx, (state_tx, every)));
    tokio::spawn(alerts::save_states(store.clone(), state_rx));
    let writer = alerts::Writer {
        store,
        audit,
        window_ms: settings.group_window_ms,
        record_explained: settings.record_explained,
        monitor: Arc::downgrade(&monitor.inner),
    };
    tokio::spawn(writer.run(done_rx));
    monitor
}

impl Monitor {
    fn from_weak(weak: &std::sync::Weak<Inner>) -> Option<Monitor> {
        weak.upgrade().map(|inner| Monitor { inner })
    }
}

/// The worker: one event at a time through the detector, on a blocking thread. Every
/// `state.1` it hands the detector's changed state to the saver (`state.0`), and once
/// more when the queue closes.
fn work(
    mut detector: Box<dyn Detector>,
    mut rx: mpsc::Receiver<Item>,
    contexts: std::sync::mpsc::Receiver<(String, Value)>,
    done: mpsc::Sender<Processed>,
    state: (mpsc::Sender<Value>, Duration),
) {
    let (saver, every) = state;
    let mut saved_at = std::time::Instant::now();
    let save = |detector: &mut Box<dyn Detector>| {
        if let Some(doc) = detector.take_state() {
            // The saver keeps the newest; one still waiting is replaced next time.
            let _ = saver.try_send(doc);
        }
    };
    loop {
        let Some(item) = rx.blocking_recv() else {
            save(&mut detector);
            return;
        };
        while let Ok((kind, doc)) = contexts.try_recv() {
            if kind == STATE_KIND {
                detector.restore_state(&doc);
            } else {
                detector.set_context(&kind, &doc);
            }
        }
        if saved_at.elapsed() >= every {
            save(&mut detector);
            saved_at = std::time::Instant::now();
        }
        let (findings, explained) = match item.event {
            Some(mut event) => {
                let findings = detector.process(&mut event);
                (findings, explained(&event))
            }
            None => (Vec::new(), None),
        };
        if !findings.is_empty() {
            metrics::counter!("webqx_monitor_findings_total").increment(findings.len() as u64);
        }
        let out = Processed {
            findings,
            mark: item.mark,
            explained,
        };
        if done.blocking_send(out).is_err() {
            return;
        }
    }
}

/// An access that detection marked as explained by a care relationship.
fn explained(event: &Value) -> Option<(String, String)> {
    if event.pointer("/ehr/access/explained") != Some(&Value::Bool(true)) {
        return None;
    }
    metrics::counter!("webqx_monitor_explained_total").increment(1);
    let user = event
        .pointer("/user/id")
        .or_else(|| event.pointer("/user/name"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let patient = event
        .pointer("/ehr/patient/id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Some((user.to_owned(), patient.to_owned()))
}

/// The detector `[monitor]` configures: `sigma` (the rules `builtin_rules`,
/// `rules_dir` and `filters_dir` name), `test-double`, or `none`.
///
/// # Errors
/// A rule file that does not load or compile, named with the reason.
pub fn detector(m: &crate::config_monitor::MonitorSection) -> Result<Box<dyn Detector>, String> {
    match m.detector.as_str() {
        "test-double" => Ok(Box::new(double::OutcomeFailure)),
        "none" => Ok(Box::new(NoDetector)),
        _ => {
            let engine = sigma::load(&m.rule_source())?;
            Ok(Box::new(sigma::SigmaDetector::new(engine)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explained_accesses_name_user_and_patient() {
        let e = json!({"ehr": {"access": {"explained": true}, "patient": {"id": "p1"}},
                       "user": {"name": "dr.a"}});
        assert_eq!(explained(&e), Some(("dr.a".into(), "p1".into())));
        let not = json!({"ehr": {"access": {"explained": "true"}}});
        assert_eq!(explained(&not), None);
    }

    #[test]
    fn severities_order_and_round_trip() {
        for s in Severity::ALL {
            assert_eq!(Severity::parse(s.as_str()), Some(s));
        }
        assert!(Severity::Critical > Severity::High);
        assert_eq!(Severity::parse("severe"), None);
    }

    #[test]
    fn the_test_double_flags_failures_only() {
        let mut m = crate::config_monitor::MonitorSection {
            detector: "test-double".into(),
            ..Default::default()
        };
        let mut d = detector(&m).unwrap();
        let mut fail = json!({"event": {"outcome": "failure"}, "source": {"ip": "10.0.0.1"},
                              "@timestamp": "2026-12-05T10:00:00Z"});
        let f = d.process(&mut fail);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].group_key, "10.0.0.1");
        assert_eq!(f[0].timestamp_ms, 1_796_464_800_000);
        assert!(
            d.process(&mut json!({"event": {"outcome": "success"}}))
                .is_empty()
        );
        m.detector = "none".into();
        assert!(detector(&m).unwrap().process(&mut fail).is_empty());
    }
}
