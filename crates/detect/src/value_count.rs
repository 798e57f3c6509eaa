//! `value_count` correlations, with the distinct count kept as the window changes.
//!
//! rsigma keeps a `value_count` window as the list of `(time, value)` entries and, for
//! every event that enters it, builds a set of the whole list to count the distinct
//! values. A window holds up to [`crate::Options::max_group_entries`] entries (10,000 by
//! default), so a password spray from one address, whose failures all land in one
//! window, cost ten thousand hash insertions per line: detection fell forty-fold, and
//! the server's monitor with it.
//!
//! Here the window keeps the same entries, in the same order, evicted and capped the
//! same way, beside a count of each value's entries: the distinct count is the number
//! of values with a count, and each event costs one insertion and whatever it evicts.
//! Everything else is rsigma's: the correlation is compiled by rsigma (field mapping,
//! group-by aliases, condition), the group key comes from rsigma's extractor, and the
//! firing is handed back as rsigma's result, so the engine treats it like any other.
//!
//! The engine takes a `value_count` correlation here only when its behaviour is all of
//! what this module reproduces (see [`takes`]); anything else stays with rsigma. Two
//! things differ by design: the dataset's window budget (`max_groups`) is shared
//! between rsigma and this module in proportion to their correlations, and within one
//! event these firings come after rsigma's.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use rsigma_eval::correlation::{CompiledCorrelation, EventRef, GroupKey, compile_correlation};
use rsigma_eval::event::{Event, EventValue};
use rsigma_eval::pipeline::{Pipeline, apply_pipelines_to_correlation};
use rsigma_eval::result::{CorrelationBody, RuleHeader};
use rsigma_eval::{CorrelationAction, EvaluationResult, ResultBody};
use rsigma_parser::{CorrelationRule, CorrelationType, SigmaCollection, WindowMode};

/// The `value_count` correlations of one dataset, and their windows.
pub(crate) struct ValueCounts {
    correlations: Vec<Counted>,
    /// Detection rule id → the correlations its matches feed.
    feeds: HashMap<String, Feed>,
    windows: Windows,
}

/// The engine-wide settings a correlation falls back to (rsigma's configuration).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Windows held before expired ones, then the stalest, are dropped.
    pub(crate) max_windows: usize,
    /// Entries one window keeps (oldest dropped first).
    pub(crate) max_entries: Option<usize>,
    /// References to triggering events one window keeps (newest; at least 1).
    pub(crate) max_events: usize,
    /// Re-alert hold-back in seconds.
    pub(crate) suppress: Option<u64>,
}

struct Feed {
    /// The rule's id and, when it has one, its name: what a correlation may reference
    /// it by, and what group-by aliases are looked up with.
    id: String,
    name: Option<String>,
    correlations: Vec<usize>,
}

struct Counted {
    compiled: CompiledCorrelation,
    /// The counted fields (after the field mapping); without, nothing is counted.
    fields: Option<Vec<String>>,
    timespan: i64,
}

/// A window's newest triggering events: time, and the event's text when kept.
type Kept = VecDeque<(i64, Option<Arc<str>>)>;

/// Every group's window, its triggering events, and when each last fired. Kept in
/// three maps as rsigma keeps them: a window with no entries left goes at the next
/// sweep while its events may stay, and only windows count against the cap.
struct Windows {
    open: HashMap<(usize, GroupKey), Window>,
    events: HashMap<(usize, GroupKey), Kept>,
    /// Time of the last firing per window, for the re-alert hold-back.
    last_alert: HashMap<(usize, GroupKey), i64>,
    limits: Limits,
}

/// One group's window: rsigma's entry list plus the count of each value in it.
#[derive(Default)]
struct Window {
    entries: VecDeque<(i64, Arc<str>)>,
    counts: HashMap<Arc<str>, usize>,
}

impl Window {
    fn push(&mut self, ts: i64, value: &str) {
        let value: Arc<str> = match self.counts.get_key_value(value) {
            Some((known, _)) => Arc::clone(known),
            None => Arc::from(value),
        };
        *self.counts.entry(Arc::clone(&value)).or_insert(0) += 1;
        self.entries.push_back((ts, value));
    }

    fn pop_front(&mut self) {
        let Some((_, value)) = self.entries.pop_front() else {
            return;
        };
        if let Some(n) = self.counts.get_mut(&value) {
            *n -= 1;
            if *n == 0 {
                self.counts.remove(&value);
            }
        }
    }

    /// Drops entries older than `cutoff`, from the front only (entries are kept in
    /// arrival order, as rsigma keeps them).
    fn evict(&mut self, cutoff: i64) {
        while self.entries.front().is_some_and(|(t, _)| *t < cutoff) {
            self.pop_front();
        }
    }

    fn truncate(&mut self, cap: usize) {
        while self.entries.len() > cap.max(1) {
            self.pop_front();
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.counts.clear();
    }

    fn distinct(&self) -> usize {
        self.counts.len()
    }
}

/// Drops events older than `cutoff` from the front, as rsigma's reference buffer does.
fn evict_events(events: &mut Kept, cutoff: i64) {
    while events.front().is_some_and(|(t, _)| *t < cutoff) {
        events.pop_front();
    }
}

/// Whether this module evaluates `corr` of `sub` exactly as rsigma would: a sliding
/// `value_count` over detection rules that all have an id (and no correlation's id or
/// name), that no other correlation builds on, in a collection that sets no behaviour
/// through `rsigma.*` attributes.
pub(crate) fn takes(sub: &SigmaCollection, corr: &CorrelationRule) -> bool {
    let attributes_set = sub
        .rules
        .iter()
        .flat_map(|r| r.custom_attributes.keys())
        .chain(
            sub.correlations
                .iter()
                .flat_map(|c| c.custom_attributes.keys()),
        )
        .any(|k| k.starts_with("rsigma."));
    let names = |c: &CorrelationRule| -> Vec<String> {
        c.id.iter().chain(c.name.iter()).cloned().collect()
    };
    let own = names(corr);
    let built_on = sub
        .correlations
        .iter()
        .any(|other| other.rules.iter().any(|r| own.contains(r)));
    // A reference that is also a correlation's id or name would be fed that
    // correlation's firings too (rsigma chains by name).
    let counts_a_correlation = corr
        .rules
        .iter()
        .any(|r| sub.correlations.iter().any(|c| names(c).contains(r)));
    let counts_rules_with_ids = !corr.rules.is_empty()
        && corr.rules.iter().all(|r| {
            sub.rules.iter().any(|x| {
                x.id.is_some() && (x.id.as_deref() == Some(r) || x.name.as_deref() == Some(r))
            })
        });
    corr.correlation_type == CorrelationType::ValueCount
        && corr.window == WindowMode::Sliding
        && !attributes_set
        && !built_on
        && !counts_a_correlation
        && counts_rules_with_ids
}

impl ValueCounts {
    /// Compiles `taken` (each accepted by [`takes`]) with the dataset's pipelines.
    ///
    /// # Errors
    /// rsigma's message when the field mapping or the compilation fails.
    pub(crate) fn new(
        sub: &SigmaCollection,
        taken: &[CorrelationRule],
        pipelines: &[Pipeline],
        limits: Limits,
    ) -> Result<Self, String> {
        let mut correlations = Vec::with_capacity(taken.len());
        let mut feeds: HashMap<String, Feed> = HashMap::new();
        for corr in taken {
            let mut mapped = corr.clone();
            apply_pipelines_to_correlation(pipelines, &mut mapped).map_err(|e| e.to_string())?;
            let compiled = compile_correlation(&mapped).map_err(|e| e.to_string())?;
            let index = correlations.len();
            for rule in &sub.rules {
                let Some(id) = &rule.id else { continue };
                let referenced = compiled
                    .rule_refs
                    .iter()
                    .any(|r| r == id || rule.name.as_ref() == Some(r));
                if referenced {
                    let feed = feeds.entry(id.clone()).or_insert_with(|| Feed {
                        id: id.clone(),
                        name: rule.name.clone(),
                        correlations: Vec::new(),
                    });
                    feed.correlations.push(index);
                }
            }
            correlations.push(Counted {
                fields: compiled.condition.field.clone(),
                // As rsigma reads it (`as i64`): an absurd span past i64::MAX wraps.
                timespan: compiled.timespan_secs.cast_signed(),
                compiled,
            });
        }
        Ok(Self {
            correlations,
            feeds,
            windows: Windows {
                open: HashMap::new(),
                events: HashMap::new(),
                last_alert: HashMap::new(),
                limits,
            },
        })
    }

    /// Correlations evaluated here.
    pub(crate) fn len(&self) -> usize {
        self.correlations.len()
    }

    /// Windows held now.
    pub(crate) fn state_count(&self) -> usize {
        self.windows.open.len()
    }

    /// Feeds `event`, which the detection rules in `matched` matched at `ts`, to the
    /// correlations that count them, in rsigma's order (by match, then correlation);
    /// returns the firings. `text` gives the event as a window keeps it (`None`: its
    /// time alone), asked only when a window takes the event.
    pub(crate) fn process(
        &mut self,
        event: &impl Event,
        text: &dyn Fn() -> Option<Arc<str>>,
        matched: &[EvaluationResult],
        ts: i64,
    ) -> Vec<EvaluationResult> {
        let mut out = Vec::new();
        if self.correlations.is_empty() {
            return out;
        }
        let ts = ts.clamp(0, i64::MAX / 2);
        if self.windows.open.len() >= self.windows.limits.max_windows {
            self.evict_expired(ts);
        }
        for detection in matched {
            let Some(feed) = detection
                .header
                .rule_id
                .as_deref()
                .and_then(|id| self.feeds.get(id))
            else {
                continue;
            };
            let both = [feed.id.as_str(), feed.name.as_deref().unwrap_or_default()];
            let refs = if feed.name.is_some() {
                &both[..]
            } else {
                &both[..1]
            };
            for &index in &feed.correlations {
                let counted = &self.correlations[index];
                let fired = self.windows.update(index, counted, event, text(), refs, ts);
                out.extend(fired);
            }
        }
        out
    }

    /// Drops what has left every window by `now`, and windows left empty; when more
    /// windows than allowed remain, the stalest go (with their events) until a tenth of
    /// the room is free. Re-alert times whose hold-back has passed go too.
    pub(crate) fn evict_expired(&mut self, now: i64) {
        let correlations = &self.correlations;
        let windows = &mut self.windows;
        let cutoff = |index: usize| now.wrapping_sub(correlations[index].timespan);
        windows.open.retain(|(index, _), window| {
            window.evict(cutoff(*index));
            !window.entries.is_empty()
        });
        windows.events.retain(|(index, _), events| {
            evict_events(events, cutoff(*index));
            !events.is_empty()
        });
        let max = windows.limits.max_windows;
        if windows.open.len() >= max {
            let excess = windows.open.len() - max * 9 / 10;
            let mut by_age: Vec<((usize, GroupKey), i64)> = windows
                .open
                .iter()
                .map(|(k, w)| (k.clone(), w.entries.back().map_or(i64::MIN, |(t, _)| *t)))
                .collect();
            by_age.sort_unstable_by_key(|(_, t)| *t);
            for (key, _) in by_age.into_iter().take(excess) {
                windows.open.remove(&key);
                windows.events.remove(&key);
                windows.last_alert.remove(&key);
            }
        }
        let fallback = windows.limits.suppress;
        windows.last_alert.retain(|(index, _), at| {
            let hold = correlations[*index].compiled.suppress_secs.or(fallback);
            now.wrapping_sub(*at) < hold.unwrap_or(0).cast_signed()
        });
    }
}

impl Windows {
    /// rsigma's steps for one event and one sliding correlation: evict, count, cap,
    /// keep the event, check, hold back, fire.
    fn update(
        &mut self,
        index: usize,
        counted: &Counted,
        event: &impl Event,
        text: Option<Arc<str>>,
        refs: &[&str],
        ts: i64,
    ) -> Option<EvaluationResult> {
        let corr = &counted.compiled;
        let key = (index, GroupKey::extract(event, &corr.group_by, refs));
        let cutoff = ts.wrapping_sub(counted.timespan);
        let window = self.open.entry(key.clone()).or_default();
        window.evict(cutoff);
        let value = counted
            .fields
            .as_deref()
            .and_then(|f| distinct_key(event, f));
        if let Some(value) = value {
            window.push(ts, &value);
        }
        if let Some(cap) = corr.max_group_entries.or(self.limits.max_entries) {
            window.truncate(cap);
        }
        let distinct = window.distinct() as f64;
        let events = self.events.entry(key.clone()).or_default();
        evict_events(events, cutoff);
        if events.len() >= corr.max_events.unwrap_or(self.limits.max_events) {
            events.pop_front();
        }
        events.push_back((ts, text));
        if !corr.condition.check(distinct) {
            return None;
        }
        // As rsigma compares (`as i64`): a hold-back past i64::MAX wraps negative and
        // holds nothing back.
        let hold = corr.suppress_secs.or(self.limits.suppress);
        let held_back = hold.is_some_and(|s| {
            self.last_alert
                .get(&key)
                .is_some_and(|last| ts.wrapping_sub(*last) < s.cast_signed())
        });
        if held_back {
            return None;
        }
        let event_refs = events
            .iter()
            .map(|(t, text)| EventRef {
                timestamp: *t,
                id: text.as_deref().map(str::to_owned),
            })
            .collect();
        if corr.action == Some(CorrelationAction::Reset) {
            events.clear();
            if let Some(window) = self.open.get_mut(&key) {
                window.clear();
            }
        }
        let fired = EvaluationResult {
            header: RuleHeader {
                rule_title: corr.title.clone(),
                rule_id: corr.id.clone(),
                level: corr.level,
                tags: corr.tags.clone(),
                custom_attributes: Arc::clone(&corr.custom_attributes),
                enrichments: None,
            },
            body: ResultBody::Correlation(CorrelationBody {
                correlation_type: CorrelationType::ValueCount,
                group_key: key.1.to_pairs(&corr.group_by),
                aggregated_value: distinct,
                timespan_secs: corr.timespan_secs,
                events: None,
                event_refs: Some(event_refs),
            }),
        };
        self.last_alert.insert(key, ts);
        Some(fired)
    }
}

/// The value counted for an event: each field rendered as rsigma renders it for a
/// distinct count, joined by the unit separator; `None` (not counted) when a field
/// is missing or holds a list or an object.
fn distinct_key(event: &impl Event, fields: &[String]) -> Option<String> {
    let mut parts = Vec::with_capacity(fields.len());
    for field in fields {
        let rendered = match event.get_field(field)? {
            EventValue::Str(s) => s.into_owned(),
            EventValue::Int(n) => n.to_string(),
            EventValue::Float(f) => f.to_string(),
            EventValue::Bool(b) => b.to_string(),
            EventValue::Null => "null".to_owned(),
            EventValue::Array(_) | EventValue::Map(_) => return None,
        };
        parts.push(rendered);
    }
    Some(parts.join("\u{1f}"))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use crate::engine::Engine;
    use crate::{Context, Options, RuleSet};

    /// value_count correlations beside the pack's: several fields, two group-by fields,
    /// none, upper bounds, equality, a re-alert hold-back and a reset of their own.
    const EXTRA: &str = r#"
title: Users Per Address And Port
id: 7d0c6a52-0001-4c8e-9a55-1f2f0b7a0001
correlation:
  type: value_count
  rules: [webqx_ssh_failed_password]
  group-by: [source.ip, source.port]
  timespan: 2m
  condition: {field: [user.name, source.port], gte: 3}
level: low
---
title: Addresses Per User Within Bounds
id: 7d0c6a52-0001-4c8e-9a55-1f2f0b7a0002
correlation:
  type: value_count
  rules: [webqx_ssh_failed_password, 37704a84-6c6e-4b16-a062-c2e1b6cd11c3]
  group-by: [user.name]
  timespan: 90s
  condition: {field: source.ip, gt: 1, lte: 3}
level: low
---
title: Exactly Two Users Anywhere
id: 7d0c6a52-0001-4c8e-9a55-1f2f0b7a0003
correlation:
  type: value_count
  rules: [webqx_ssh_invalid_user]
  timespan: 1m
  condition: {field: user.name, eq: 2}
level: low
"#;

    fn engine(native: bool, options: Options) -> Engine {
        let mut rules = RuleSet::builtin().expect("pack");
        rules.add_yaml("extra.yml", EXTRA).expect("extra rules");
        Engine::build(rules, Context::new(), options, native).expect("engine")
    }

    /// One detection rule and one value_count over it: the dataset's whole window
    /// budget is the value_count's, in either evaluator.
    const ALONE: &str = r#"
title: Failed
id: 7d0c6a52-0003-4c8e-9a55-1f2f0b7a0001
name: failed
logsource: {product: linux, service: sshd}
detection:
  selection: {event.action: ssh_failed_password}
  condition: selection
level: informational
---
title: Users Per Address
id: 7d0c6a52-0003-4c8e-9a55-1f2f0b7a0002
correlation:
  type: value_count
  rules: [failed]
  group-by: [source.ip]
  timespan: 10m
  condition: {field: user.name, gte: 3}
level: low
"#;

    fn alone(native: bool, options: Options) -> Engine {
        let mut rules = RuleSet::new();
        rules.add_yaml("alone.yml", ALONE).expect("rules");
        Engine::build(rules, Context::new(), options, native).expect("engine")
    }

    fn event(step: &Step, at: i64) -> Value {
        let (kind, ip, user, port) = *step;
        let action = ["ssh_failed_password", "ssh_invalid_user", "ssh_login"][kind as usize % 3];
        let outcome = if kind % 3 == 2 { "success" } else { "failure" };
        let mut e = json!({
            "@timestamp": (chrono::DateTime::UNIX_EPOCH + chrono::Duration::seconds(at)).to_rfc3339(),
            "event": {"dataset": "sshd", "action": action, "outcome": outcome},
            "source": {"port": port % 3},
            "user": {},
        });
        if let Some(ip) = ip {
            e["source"]["ip"] = json!(format!("192.0.2.{}", ip % 4));
        }
        if let Some(user) = user {
            e["user"]["name"] = json!(["root", "admin", "oracle", "test", "pi"][user as usize % 5]);
        }
        e
    }

    /// What a detection says, in an order that does not depend on which evaluator
    /// produced it first.
    fn said(engine: &mut Engine, mut e: Value) -> Vec<String> {
        let mut out: Vec<String> = engine
            .process(&mut e)
            .detections
            .into_iter()
            .map(|d| {
                format!(
                    "{} {} {} {:?}",
                    d.rule_id, d.group_key, d.timestamp, d.events
                )
            })
            .collect();
        out.sort();
        out
    }

    /// One event of a random stream: kind (failure, invalid user, login), address,
    /// user, port.
    type Step = (u8, Option<u8>, Option<u8>, u8);

    /// Random streams of up to 250 events of the first `kinds` kinds.
    fn steps(kinds: u8) -> impl Strategy<Value = Vec<Step>> {
        proptest::collection::vec(
            (
                0u8..kinds,
                proptest::option::weighted(0.9, 0u8..4),
                proptest::option::weighted(0.9, 0u8..5),
                0u8..3,
            ),
            1..250,
        )
    }

    /// Feeds the stream to both engines (`gaps` seconds apart, repeated); each event
    /// must say the same in both, and with `states` leave as many windows.
    fn replay(
        ours: &mut Engine,
        theirs: &mut Engine,
        steps: &[Step],
        gaps: &[i64],
        states: bool,
    ) -> Result<(), TestCaseError> {
        let mut at = 1_800_000_000i64;
        for (step, gap) in steps.iter().zip(gaps.iter().cycle()) {
            at += gap;
            let e = event(step, at);
            prop_assert_eq!(said(ours, e.clone()), said(theirs, e));
            if states {
                prop_assert_eq!(ours.state_count(), theirs.state_count());
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Our windows fire exactly when rsigma's do, with the same groups and events,
        /// whatever the caps, the hold-back and the clock (which may step back).
        #[test]
        fn counted_windows_fire_as_rsigmas_do(
            steps in steps(3),
            gaps in proptest::collection::vec(-60i64..45, 1..250),
            entries in 1usize..40,
            trigger in 0usize..6,
            realert in proptest::option::of(prop_oneof![0u64..200, Just(u64::MAX)]),
            rewind in any::<bool>(),
        ) {
            let options = Options {
                max_group_entries: entries,
                max_trigger_events: trigger,
                realert_secs: realert,
                reset_on_rewind: rewind,
                ..Options::default()
            };
            let mut ours = engine(true, options.clone());
            let mut theirs = engine(false, options);
            replay(&mut ours, &mut theirs, &steps, &gaps, false)?;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// With few windows allowed, the same windows go when the cap is reached (time
        /// only moves on here: rsigma breaks ties between equally old windows in hash
        /// order), and the same alerts follow.
        #[test]
        fn at_the_window_cap_the_same_windows_go(
            steps in steps(2),
            gaps in proptest::collection::vec(1i64..120, 1..250),
            max_groups in 1usize..6,
            realert in proptest::option::of(0u64..200),
        ) {
            let options = Options { max_groups, realert_secs: realert, ..Options::default() };
            let mut ours = alone(true, options.clone());
            let mut theirs = alone(false, options);
            replay(&mut ours, &mut theirs, &steps, &gaps, true)?;
        }
    }

    /// Past 4096 events the engine sweeps expired windows; a long stream of many
    /// addresses, with re-alerts held back by more than any i64 holds, agrees too.
    #[test]
    fn a_long_stream_with_sweeps_agrees() {
        let options = Options {
            max_groups: 40,
            realert_secs: Some(u64::MAX),
            ..Options::default()
        };
        let mut ours = alone(true, options.clone());
        let mut theirs = alone(false, options);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut at = 1_800_000_000i64;
        let mut fired = 0;
        for _ in 0..9000 {
            let r = next();
            at += i64::try_from(r % 7).unwrap_or(0) + 1;
            let mut e = event(&(0, None, Some((r >> 8) as u8 % 5), 0), at);
            e["source"]["ip"] = json!(format!("198.51.100.{}", (r >> 16) % 60));
            let (a, b) = (said(&mut ours, e.clone()), said(&mut theirs, e));
            fired += a.len();
            assert_eq!(a, b);
        }
        assert!(fired > 100, "the stream fires ({fired})");
    }

    #[test]
    fn the_packs_value_counts_are_counted_here() {
        let rsigma_only = engine(false, Options::default());
        let ours = engine(true, Options::default());
        let rules = RuleSet::builtin().expect("pack");
        assert!(rules.collection().correlations.len() > 5);
        assert_eq!(ours.rule_count("sshd"), rsigma_only.rule_count("sshd"));
        assert_eq!(
            ours.counted_here("sshd"),
            5,
            "two in the pack and three extra"
        );
        assert_eq!(rsigma_only.counted_here("sshd"), 0);
    }

    /// What this module does not reproduce stays with rsigma: other window modes,
    /// `rsigma.*` attributes, and a value_count another correlation builds on.
    #[test]
    fn other_value_counts_stay_with_rsigma() {
        let count = |extra: &str| {
            let mut rules = RuleSet::builtin().expect("pack");
            rules.add_yaml("extra.yml", extra).expect("extra rules");
            let engine = Engine::new(rules, Context::new(), Options::default()).expect("engine");
            engine.counted_here("sshd")
        };
        let correlation = |more: &str| {
            format!(
                "title: Users\nid: 7d0c6a52-0002-4c8e-9a55-1f2f0b7a0001\nname: users\n\
                 correlation:\n  type: value_count\n  rules: [webqx_ssh_failed_password]\n  \
                 group-by: [source.ip]\n  timespan: 5m\n  condition: {{field: user.name, gte: 2}}\n{more}"
            )
        };
        assert_eq!(count(&correlation("")), 3);
        assert_eq!(count(&correlation("  window: tumbling\n")), 2);
        assert_eq!(count(&correlation("rsigma.suppress: 5m\n")), 0);
        let chained = format!(
            "{}---\ntitle: Users Often\nid: 7d0c6a52-0002-4c8e-9a55-1f2f0b7a0002\n\
             correlation:\n  type: event_count\n  rules: [users]\n  group-by: [source.ip]\n  \
             timespan: 1h\n  condition: {{gte: 2}}\n",
            correlation("")
        );
        assert_eq!(count(&chained), 2);
        let name_clash = format!(
            "{}---\ntitle: Clash\nid: 7d0c6a52-0002-4c8e-9a55-1f2f0b7a0003\n\
             name: webqx_ssh_failed_password\ncorrelation:\n  type: event_count\n  \
             rules: [37704a84-6c6e-4b16-a062-c2e1b6cd11c3]\n  group-by: [source.ip]\n  \
             timespan: 1h\n  condition: {{gte: 2}}\n",
            correlation("")
        );
        assert_eq!(
            count(&name_clash),
            1,
            "a reference that also names a correlation is fed its firings: rsigma's"
        );
    }
}
