//! The engine: one Sigma evaluator per dataset, EHR enrichment, suppressions.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rsigma_eval::{
    CorrelationConfig, CorrelationEngine, CorrelationEventMode, EvaluationResult, ResultBody,
    TimestampFallback, parse_pipeline,
};
use rsigma_parser::{FilterRuleTarget, SigmaCollection};
use serde_json::{Map, Value};
use webqx_events::normalize::redact_event;

use crate::catalog::RuleInfo;
use crate::context::{Baseline, Context};
use crate::error::LoadError;
use crate::event::{REF_TEXT_FIELD, Record, SchemaEvent, WindowedEvent};
use crate::mapping::{DATASETS, DatasetSpec, dataset, pipeline_yaml};
use crate::rules::RuleSet;
use crate::value_count::{self, ValueCounts};
use crate::{Detection, EventText, Explained, Level, Outcome, Suppression};

/// Tag that marks an EHR privacy rule whose hits are explained by a care relationship.
pub const EXPLAINABLE_TAG: &str = "webqx.explainable";

/// Hard ceiling on triggering events kept per detection.
pub const MAX_TRIGGER_EVENTS: usize = 20;

/// Limits and tuning. The defaults suit one server node.
#[derive(Debug, Clone)]
pub struct Options {
    /// Correlation state entries (groups × correlations) per dataset, shared between
    /// rsigma's windows and the engine's own `value_count` windows in proportion to
    /// the correlations each holds; beyond it expired windows are evicted first, then
    /// the oldest.
    pub max_groups: usize,
    /// Entries kept inside one group's window (oldest dropped first).
    pub max_group_entries: usize,
    /// Triggering events kept per detection (at most [`MAX_TRIGGER_EVENTS`]). With 0,
    /// detections carry none and correlation windows keep no copy of their events
    /// (see [`Engine::set_trigger_events`]).
    pub max_trigger_events: usize,
    /// Users tracked by the volume baseline.
    pub max_baseline_users: usize,
    /// Lowest baseline in accesses per day (see the baseline method in the docs).
    pub baseline_floor: f64,
    /// After a correlation fires for a group, further firings for the same group are
    /// held back for this many seconds (`None`: every event past the threshold
    /// alerts again). The alert store groups what remains.
    pub realert_secs: Option<u64>,
    /// Treat the input as one stream whose clock may restart: when an event is older
    /// than the newest seen by more than the longest correlation timespan, every
    /// correlation window of its dataset is dropped first. Right for `hunt` reading
    /// files one after another (a rotated log, or the same log twice); wrong for a
    /// server that mixes sources, where an old file must not wipe live windows.
    /// Without it, entries from the "future" stay in sliding windows (which evict only
    /// from the front) and keep counting.
    pub reset_on_rewind: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_groups: 100_000,
            max_group_entries: 10_000,
            max_trigger_events: MAX_TRIGGER_EVENTS,
            max_baseline_users: 100_000,
            baseline_floor: 20.0,
            realert_secs: Some(600),
            reset_on_rewind: false,
        }
    }
}

/// Counters for metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// Events processed.
    pub events: u64,
    /// Events whose dataset no rule serves.
    pub unrouted: u64,
    /// Detections dropped by an active suppression.
    pub suppressed: u64,
    /// EHR rule hits explained by a care relationship.
    pub explained: u64,
}

/// The detection engine. `Send`: the server runs it on a blocking thread.
pub struct Engine {
    buckets: Vec<Option<Bucket>>,
    context: Context,
    baseline: Baseline,
    suppressions: Vec<Suppression>,
    options: Options,
    stats: Stats,
    catalog: Vec<RuleInfo>,
    recent: Recent,
}

/// Triggering events lately turned back from their window text, redacted and written
/// again. A correlation that fires on every event of a burst (a spray, where the server
/// reports every firing) lists nearly the same twenty events each time, and several
/// correlations list the same events: each is redacted once, and the detections share
/// its text.
#[derive(Default)]
struct Recent {
    events: HashMap<Arc<str>, EventText>,
    order: VecDeque<Arc<str>>,
}

impl Recent {
    /// Texts remembered (a few windows' worth of events).
    const CAPACITY: usize = 128;

    /// The event written as `text`, redacted; `None` when it is not JSON.
    fn event(&mut self, text: &str) -> Option<EventText> {
        if let Some(known) = self.events.get(text) {
            return Some(known.clone());
        }
        let mut event: Value = serde_json::from_str(text).ok()?;
        // Compact JSON read and written again is the same text: an event with nothing
        // to redact (most) keeps the text it came as.
        let event = if redact_event(&mut event) {
            EventText::from_value(&event)
        } else {
            EventText::from_redacted_text(text)
        };
        if self.order.len() >= Self::CAPACITY
            && let Some(oldest) = self.order.pop_front()
        {
            self.events.remove(&oldest);
        }
        let key: Arc<str> = Arc::from(text);
        self.order.push_back(Arc::clone(&key));
        self.events.insert(key, event.clone());
        Some(event)
    }
}

/// One dataset's evaluator and the ids of its building-block rules.
struct Bucket {
    engine: CorrelationEngine,
    /// The sliding `value_count` correlations, counted outside rsigma.
    value_counts: ValueCounts,
    /// Rules (by id and name) that only feed correlations: a correlation references
    /// them and does not say `generate: true`. Their matches are not alerts.
    ///
    /// rsigma's own `emit_detections: false` compares a correlation's references with
    /// the matched rule's *id* only, so references by `name` (as our pack writes
    /// them) slipped through; the engine filters here instead.
    building_blocks: HashSet<String>,
    /// Longest correlation timespan (or session gap) in this dataset, in seconds.
    longest_span: i64,
    /// Newest event time seen (Unix seconds), for [`Options::reset_on_rewind`].
    newest: Option<i64>,
    /// A new input began ([`Engine::restart_clock`]): the next event that is older
    /// than the newest at all restarts the windows.
    fresh_input: bool,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Compile `rules` into one evaluator per dataset.
    ///
    /// # Errors
    /// [`LoadError::Compile`] when a rule cannot be compiled or a correlation names a
    /// rule that does not exist for its dataset; [`LoadError::Unusable`] when two rules
    /// share an id or a correlation could never fire.
    pub fn new(rules: RuleSet, context: Context, options: Options) -> Result<Self, LoadError> {
        Self::build(rules, context, options, true)
    }

    /// [`Engine::new`], with sliding `value_count` correlations counted by our own
    /// windows (`native_value_count`) or left to rsigma (to compare the two).
    pub(crate) fn build(
        rules: RuleSet,
        context: Context,
        options: Options,
        native_value_count: bool,
    ) -> Result<Self, LoadError> {
        let catalog = rules.catalog();
        crate::catalog::check_unique_ids(&catalog).map_err(LoadError::Unusable)?;
        let mut buckets = Vec::with_capacity(DATASETS.len());
        let mut placed: HashSet<String> = HashSet::new();
        for spec in DATASETS {
            let bucket = build_bucket(&rules.collection, spec, &options, native_value_count)?;
            if let Some((_, correlations)) = &bucket {
                placed.extend(correlations.iter().cloned());
            }
            buckets.push(bucket.map(|(b, _)| b));
        }
        unplaced_correlation(&rules.collection, &placed)?;
        Ok(Self {
            buckets,
            baseline: Baseline::new(options.max_baseline_users, options.baseline_floor),
            context,
            suppressions: Vec::new(),
            options,
            stats: Stats::default(),
            catalog,
            recent: Recent::default(),
        })
    }

    /// Triggering events kept per detection from now on (at most
    /// [`MAX_TRIGGER_EVENTS`]). 0 is for a caller that can keep no more (`hunt` once its
    /// event budget is spent): detections then carry no events, and events entering a
    /// correlation window are no longer written out as text for it, which is most of
    /// what a window costs.
    pub fn set_trigger_events(&mut self, n: usize) {
        self.options.max_trigger_events = n.min(MAX_TRIGGER_EVENTS);
    }

    /// Every loaded detection and correlation rule (see [`crate::catalog`]).
    pub fn catalog(&self) -> &[RuleInfo] {
        &self.catalog
    }

    /// A new input begins (`hunt`: the next file). With [`Options::reset_on_rewind`],
    /// the first event of each dataset that is older than the newest seen drops that
    /// dataset's windows, by however little: a short file read twice starts afresh.
    pub fn restart_clock(&mut self) {
        for bucket in self.buckets.iter_mut().flatten() {
            bucket.fresh_input = true;
        }
    }

    /// Replace the suppressions (the server stores and audits them).
    pub fn set_suppressions(&mut self, suppressions: Vec<Suppression>) {
        self.suppressions = suppressions;
    }

    /// Replace the EHR context (the baseline history is kept).
    pub fn set_context(&mut self, context: Context) {
        self.context = context;
    }

    /// Counters since start.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Number of rules compiled for `dataset` (0 when none serve it).
    pub fn rule_count(&self, dataset_name: &str) -> usize {
        dataset(dataset_name)
            .and_then(|(i, _)| self.buckets.get(i))
            .and_then(Option::as_ref)
            .map_or(0, |b| {
                b.engine.detection_rule_count()
                    + b.engine.correlation_rule_count()
                    + b.value_counts.len()
            })
    }

    /// Correlation state entries held now (bounded by [`Options::max_groups`] per dataset).
    pub fn state_count(&self) -> usize {
        self.buckets
            .iter()
            .flatten()
            .map(|b| b.engine.state_count() + b.value_counts.state_count())
            .sum()
    }

    /// Users tracked by the volume baseline.
    pub fn baseline_users(&self) -> usize {
        self.baseline.len()
    }

    /// The volume baseline's counts as a document to keep across restarts, when any
    /// changed since the last call (format in docs/detection.md).
    pub fn take_baseline_state(&mut self) -> Option<Value> {
        self.baseline.take_state()
    }

    /// Counts kept by [`Engine::take_baseline_state`] before a restart, merged over
    /// what is known; returns how many users were taken (0 for a document of another
    /// format).
    pub fn restore_baseline(&mut self, state: &Value) -> usize {
        self.baseline.restore(state)
    }

    /// Enrich and evaluate one event; suppressions are judged against the clock now.
    pub fn process<R: Record + ?Sized>(&mut self, event: &mut R) -> Outcome {
        self.process_at(event, Utc::now())
    }

    /// Like [`Engine::process`] with an explicit "now" for suppression expiry.
    pub fn process_at<R: Record + ?Sized>(&mut self, event: &mut R, now: DateTime<Utc>) -> Outcome {
        self.stats.events += 1;
        let mut outcome = Outcome::default();
        let named = event.field("event.dataset");
        let Some(name) = named.as_deref().and_then(Value::as_str) else {
            self.stats.unrouted += 1;
            return outcome;
        };
        let Some((index, spec)) = dataset(name) else {
            self.stats.unrouted += 1;
            return outcome;
        };
        let at = event_time(event).unwrap_or(now);
        if spec.dataset == "fhir.auditevent" {
            self.enrich_ehr(event, at);
        }
        let Some(Some(bucket)) = self.buckets.get_mut(index) else {
            self.stats.unrouted += 1;
            return outcome;
        };
        let ts = at.timestamp();
        if self.options.reset_on_rewind {
            bucket.rewind_check(ts);
        }
        let view = SchemaEvent::new(event, spec.keyword_fields);
        let matched = bucket.engine.evaluate(&view);
        let windowed = WindowedEvent::new(&view, self.options.max_trigger_events > 0);
        let counted = bucket
            .value_counts
            .process(&windowed, &|| windowed.text(), &matched, ts);
        let mut results = bucket
            .engine
            .process_with_detections(&windowed, matched, ts);
        results.extend(counted);
        if self.stats.events.is_multiple_of(4096) {
            bucket.engine.evict_expired(ts);
            bucket.value_counts.evict_expired(ts);
        }
        let blocks = &bucket.building_blocks;
        let results: Vec<EvaluationResult> = results
            .into_iter()
            .filter(|r| {
                !(r.header
                    .rule_id
                    .as_ref()
                    .is_some_and(|id| blocks.contains(id))
                    || blocks.contains(&r.header.rule_title))
            })
            .collect();
        let explained = event
            .field("ehr.access.explained")
            .as_deref()
            .and_then(Value::as_bool)
            == Some(true);
        for result in results {
            let detection = to_detection(
                result,
                event,
                at,
                self.options.max_trigger_events,
                &mut self.recent,
            );
            if explained && detection.tags.iter().any(|t| t == EXPLAINABLE_TAG) {
                self.stats.explained += 1;
                outcome.explained.push(Explained {
                    rule_id: detection.rule_id,
                    title: detection.title,
                    user_id: user_of(event),
                    patient_id: event
                        .field("ehr.patient.id")
                        .as_deref()
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    timestamp: at,
                });
                continue;
            }
            if self.is_suppressed(&detection, event, now) {
                self.stats.suppressed += 1;
                outcome.suppressed += 1;
                continue;
            }
            outcome.detections.push(detection);
        }
        outcome
    }

    fn enrich_ehr<R: Record + ?Sized>(&mut self, event: &mut R, at: DateTime<Utc>) {
        let user = user_of(event);
        let patient = event
            .field("ehr.patient.id")
            .as_deref()
            .and_then(Value::as_str)
            .map(str::to_owned);
        let seeded = user
            .as_deref()
            .and_then(|u| self.context.user(u))
            .and_then(|u| u.baseline_daily);
        let ratio = user.as_deref().map(|u| self.baseline.record(u, seeded, at));
        let Some(ehr) = event.object_mut("ehr") else {
            return;
        };
        self.context
            .enrich(ehr, user.as_deref(), patient.as_deref(), at);
        if let Some(ratio) = ratio.and_then(serde_json::Number::from_f64) {
            let user_entry = ehr
                .entry("user")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(map) = user_entry.as_object_mut() {
                map.insert("volume_ratio".into(), Value::Number(ratio));
            }
        }
    }

    fn is_suppressed<R: Record + ?Sized>(
        &self,
        detection: &Detection,
        event: &R,
        now: DateTime<Utc>,
    ) -> bool {
        self.suppressions.iter().any(|s| {
            s.expires_at > now
                && (s.rule_id == "*" || s.rule_id == detection.rule_id)
                && (detection
                    .group_fields
                    .iter()
                    .any(|(k, v)| *k == s.field && *v == s.value)
                    || event
                        .field(&s.field)
                        .is_some_and(|v| value_text(&v) == s.value))
        })
    }
}

impl Bucket {
    /// Drops every window when `ts` is further behind the newest event than any window
    /// reaches (see [`Options::reset_on_rewind`]).
    fn rewind_check(&mut self, ts: i64) {
        let reach = if std::mem::take(&mut self.fresh_input) {
            0
        } else {
            self.longest_span
        };
        match self.newest {
            Some(newest) if ts < newest.saturating_sub(reach) => {
                // A "now" past every window and re-alert hold empties them all.
                self.engine.evict_expired(i64::MAX / 4);
                self.value_counts.evict_expired(i64::MAX / 4);
                self.newest = Some(ts);
            }
            Some(newest) if ts <= newest => {}
            _ => self.newest = Some(ts),
        }
    }
}

#[cfg(test)]
impl Engine {
    /// Correlations of `dataset` that our own `value_count` windows evaluate.
    pub(crate) fn counted_here(&self, dataset_name: &str) -> usize {
        dataset(dataset_name)
            .and_then(|(i, _)| self.buckets.get(i))
            .and_then(Option::as_ref)
            .map_or(0, |b| b.value_counts.len())
    }
}

/// A correlation no dataset took would load and never fire: refused, saying why (a
/// reference to no loaded rule, or rules of several datasets).
fn unplaced_correlation(all: &SigmaCollection, placed: &HashSet<String>) -> Result<(), LoadError> {
    let Some(c) = all
        .correlations
        .iter()
        .find(|c| !placed.contains(correlation_key(c)))
    else {
        return Ok(());
    };
    let named = |id: &Option<String>, name: &Option<String>, r: &str| {
        id.as_deref() == Some(r) || name.as_deref() == Some(r)
    };
    let rule = |r: &str| all.rules.iter().find(|x| named(&x.id, &x.name, r));
    let known =
        |r: &str| rule(r).is_some() || all.correlations.iter().any(|x| named(&x.id, &x.name, r));
    if let Some(missing) = c.rules.iter().find(|r| !known(r)) {
        return Err(LoadError::Unusable(format!(
            "correlation '{}' counts '{missing}', which no loaded rule has as its id or \
             name; fix the reference",
            c.title
        )));
    }
    let datasets: std::collections::BTreeSet<&str> = c
        .rules
        .iter()
        .filter_map(|r| rule(r))
        .filter_map(|x| DATASETS.iter().find(|d| d.accepts(&x.logsource)))
        .map(|d| d.dataset)
        .collect();
    let counted = if datasets.is_empty() {
        "no dataset the engine serves".to_owned()
    } else {
        format!(
            "several datasets ({})",
            datasets.into_iter().collect::<Vec<_>>().join(", ")
        )
    };
    Err(LoadError::Unusable(format!(
        "correlation '{}' counts rules of {counted}; a correlation counts the rules of one \
         dataset (log source): give them one log source or split the correlation",
        c.title
    )))
}

/// What identifies a correlation among those placed in buckets.
fn correlation_key(c: &rsigma_parser::CorrelationRule) -> &str {
    c.id.as_deref().unwrap_or(&c.title)
}

/// One dataset's evaluator, and the correlations it took (by [`correlation_key`]).
fn build_bucket(
    all: &SigmaCollection,
    spec: &DatasetSpec,
    options: &Options,
    native_value_count: bool,
) -> Result<Option<(Bucket, Vec<String>)>, LoadError> {
    let compile = |reason: String| LoadError::Compile {
        dataset: spec.dataset.to_owned(),
        reason,
    };
    let mut sub = SigmaCollection::new();
    sub.rules = all
        .rules
        .iter()
        .filter(|r| spec.accepts(&r.logsource))
        .cloned()
        .collect();
    if sub.rules.is_empty() {
        return Ok(None);
    }
    let mut known: HashSet<&str> = HashSet::new();
    for rule in &sub.rules {
        known.extend(rule.id.as_deref());
        known.extend(rule.name.as_deref());
    }
    // Correlations join the dataset when every rule they count is there (chained
    // correlations are included once the correlation they build on is).
    let mut pending: Vec<_> = all.correlations.iter().collect();
    loop {
        let before = pending.len();
        pending.retain(|c| {
            if c.rules.iter().all(|r| known.contains(r.as_str())) {
                known.extend(c.id.as_deref());
                known.extend(c.name.as_deref());
                sub.correlations.push((*c).clone());
                false
            } else {
                true
            }
        });
        if pending.len() == before {
            break;
        }
    }
    sub.filters = all
        .filters
        .iter()
        .filter(|f| match &f.rules {
            FilterRuleTarget::Any => f.logsource.as_ref().is_none_or(|ls| spec.accepts(ls)),
            FilterRuleTarget::Specific(refs) => refs.iter().any(|r| {
                sub.rules
                    .iter()
                    .any(|rule| rule.id.as_deref() == Some(r) || rule.title == *r)
            }),
        })
        .cloned()
        .collect();

    let pipeline = parse_pipeline(&pipeline_yaml()).map_err(|e| compile(e.to_string()))?;
    // Sliding value_count correlations are counted by our own windows (see
    // `value_count`); rsigma evaluates everything else.
    let taken: Vec<_> = sub
        .correlations
        .iter()
        .filter(|c| native_value_count && value_count::takes(&sub, c))
        .cloned()
        .collect();
    let mut for_rsigma = sub.clone();
    for_rsigma.correlations.retain(|c| {
        !taken
            .iter()
            .any(|t| correlation_key(t) == correlation_key(c))
    });
    // One budget of windows per dataset, shared in proportion to the correlations each
    // evaluator holds, so that `max_groups` still bounds the dataset's state.
    let budget = options.max_groups.max(1);
    let our_share = if taken.is_empty() {
        0
    } else {
        (budget.saturating_mul(taken.len()) / sub.correlations.len()).max(1)
    };
    let config = CorrelationConfig {
        timestamp_fallback: TimestampFallback::Skip,
        max_state_entries: budget.saturating_sub(our_share).max(1),
        max_group_entries: Some(options.max_group_entries.max(1)),
        emit_detections: false,
        suppress: options.realert_secs,
        correlation_event_mode: CorrelationEventMode::Refs,
        max_correlation_events: options.max_trigger_events.clamp(1, MAX_TRIGGER_EVENTS),
        ..CorrelationConfig::default()
    };
    let limits = value_count::Limits {
        max_windows: our_share.max(1),
        max_entries: config.max_group_entries,
        max_events: config.max_correlation_events,
        suppress: config.suppress,
    };
    let value_counts =
        ValueCounts::new(&sub, &taken, std::slice::from_ref(&pipeline), limits).map_err(compile)?;
    let mut engine = CorrelationEngine::new(config);
    engine.add_pipeline(pipeline);
    engine
        .add_collection(&for_rsigma)
        .map_err(|e| compile(e.to_string()))?;
    let longest_span = sub
        .correlations
        .iter()
        .map(|c| {
            c.timespan
                .seconds
                .max(c.gap.as_ref().map_or(0, |g| g.seconds))
        })
        .max()
        .unwrap_or(0);
    let placed = sub
        .correlations
        .iter()
        .map(|c| correlation_key(c).to_owned())
        .collect();
    Ok(Some((
        Bucket {
            building_blocks: building_blocks(&sub),
            engine,
            value_counts,
            longest_span: i64::try_from(longest_span).unwrap_or(i64::MAX),
            newest: None,
            fresh_input: false,
        },
        placed,
    )))
}

/// Ids, names and titles of everything a non-generating correlation references.
pub(crate) fn building_blocks(sub: &SigmaCollection) -> HashSet<String> {
    let refs: HashSet<&str> = sub
        .correlations
        .iter()
        .filter(|c| !c.generate)
        .flat_map(|c| c.rules.iter().map(String::as_str))
        .collect();
    let mut out = HashSet::new();
    let rules = sub.rules.iter().map(|r| (&r.id, &r.name, &r.title));
    let correlations = sub.correlations.iter().map(|c| (&c.id, &c.name, &c.title));
    for (id, name, title) in rules.chain(correlations) {
        let named = [id.as_deref(), name.as_deref()].into_iter().flatten();
        if named.clone().any(|n| refs.contains(n)) {
            out.extend(named.map(str::to_owned));
            out.insert(title.clone());
        }
    }
    out
}

fn to_detection<R: Record + ?Sized>(
    result: EvaluationResult,
    event: &R,
    at: DateTime<Utc>,
    keep: usize,
    recent: &mut Recent,
) -> Detection {
    let header = result.header;
    let level = header.level.map_or(Level::Medium, Level::from);
    // Rules saw the request whole; what an alert keeps and sends goes without session
    // cookies, tokens and passwords.
    let (group_fields, events): (_, Vec<EventText>) = match result.body {
        ResultBody::Correlation(body) => {
            // References carry the event's JSON text (see `WindowedEvent`); a rule
            // that asks rsigma for whole events gets the same text inside its copy.
            let texts: Vec<String> = match (body.event_refs, body.events) {
                (Some(refs), _) => refs.into_iter().filter_map(|r| r.id).collect(),
                (None, Some(copies)) => copies.into_iter().filter_map(ref_text).collect(),
                (None, None) => Vec::new(),
            };
            let excess = texts.len().saturating_sub(keep);
            let events = texts
                .iter()
                .skip(excess)
                .filter_map(|t| recent.event(t))
                .collect();
            (body.group_key, events)
        }
        ResultBody::Detection(_) if keep > 0 => {
            let mut copy = event.to_json();
            redact_event(&mut copy);
            (Vec::new(), vec![EventText::from_value(&copy)])
        }
        ResultBody::Detection(_) => (Vec::new(), Vec::new()),
    };
    let group_key = if group_fields.is_empty() {
        default_group(event)
    } else {
        group_fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let pick = |prefix: &str| -> Vec<String> {
        header
            .tags
            .iter()
            .filter(|t| t.starts_with(prefix))
            .cloned()
            .collect()
    };
    Detection {
        rule_id: header
            .rule_id
            .clone()
            .unwrap_or_else(|| header.rule_title.clone()),
        title: header.rule_title.clone(),
        level,
        mitre: pick("attack."),
        hipaa: pick("hipaa."),
        tags: header.tags.clone(),
        group_key,
        group_fields,
        timestamp: at,
        events,
    }
}

/// The event text inside a whole-event copy of a [`WindowedEvent`].
fn ref_text(copy: Value) -> Option<String> {
    match copy {
        Value::Object(mut map) => match map.remove(REF_TEXT_FIELD) {
            Some(Value::String(text)) => Some(text),
            _ => None,
        },
        _ => None,
    }
}

fn default_group<R: Record + ?Sized>(event: &R) -> String {
    for field in ["source.ip", "user.id", "user.name"] {
        if let Some(v) = event.field(field) {
            return format!("{field}={}", value_text(&v));
        }
    }
    String::new()
}

fn user_of<R: Record + ?Sized>(event: &R) -> Option<String> {
    event
        .field("user.id")
        .or_else(|| event.field("user.name"))
        .as_deref()
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn event_time<R: Record + ?Sized>(event: &R) -> Option<DateTime<Utc>> {
    let time = event.field("@timestamp")?;
    let text = time.as_str()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<Engine>();
    }
}
