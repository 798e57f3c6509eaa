//! Engine behaviour: dataset routing, keyword scoping, suppressions, Sigma filters,
//! correlation windows, bounded state, context loaders.

mod common;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use serde_json::json;
use webqx_detect::{Context, ContextError, Engine, Options, RuleSet, Suppression};

const BRUTE: &str = "eddab19d-5c32-4179-9a95-f66a8cb7c83e";
const SCANNER: &str = "0a0a5cf5-a571-448c-8a7a-ad0f23c1ccfd";

fn ssh_rules() -> RuleSet {
    RuleSet::load_dir(&common::pack_dir().join("ssh")).expect("ssh rules")
}

fn at(base: &str, seconds: i64) -> String {
    let t: DateTime<Utc> = base.parse().expect("time");
    (t + Duration::seconds(seconds)).to_rfc3339()
}

/// Feed `n` failures from `ip`, `gap` seconds apart; return how many brute-force alerts.
fn failures(engine: &mut Engine, ip: &str, n: i64, gap: i64) -> usize {
    failures_from(engine, "2026-03-02T10:00:00Z", ip, n, gap)
}

/// [`failures`] starting at `base`.
fn failures_from(engine: &mut Engine, base: &str, ip: &str, n: i64, gap: i64) -> usize {
    (0..n)
        .map(|i| {
            let mut e = common::ssh_event(
                &at(base, i * gap),
                "ssh_failed_password",
                ip,
                "root",
                "failure",
            );
            engine
                .process(&mut e)
                .detections
                .iter()
                .filter(|d| d.rule_id == BRUTE)
                .count()
        })
        .sum()
}

#[test]
fn brute_force_window_counts_within_ten_minutes_only() {
    let mut engine = Engine::new(ssh_rules(), Context::new(), Options::default()).expect("engine");
    assert_eq!(
        failures(&mut engine, "192.0.2.1", 9, 60),
        0,
        "9 in the window is below 10"
    );
    let mut engine = Engine::new(ssh_rules(), Context::new(), Options::default()).expect("engine");
    assert!(
        failures(&mut engine, "192.0.2.1", 10, 60) >= 1,
        "10 within 9 minutes fire"
    );
    let mut engine = Engine::new(ssh_rules(), Context::new(), Options::default()).expect("engine");
    assert_eq!(
        failures(&mut engine, "192.0.2.1", 20, 70),
        0,
        "one per 70 s never has 10 in 10 min"
    );
}

/// hunt's option: a stream whose clock goes back by more than any window (a log read
/// twice, files out of order) starts its windows afresh. Without it, the entries from
/// the "future" stay in the sliding window and keep counting.
#[test]
fn a_clock_that_goes_back_restarts_windows_only_when_asked() {
    let (today, yesterday) = ("2026-03-02T10:00:00Z", "2026-03-01T10:00:00Z");
    let run = |reset_on_rewind: bool, n: i64| {
        let options = Options {
            reset_on_rewind,
            ..Options::default()
        };
        let mut engine = Engine::new(ssh_rules(), Context::new(), options).expect("engine");
        let first = failures_from(&mut engine, today, "192.0.2.5", n, 60);
        let second = failures_from(&mut engine, yesterday, "192.0.2.5", n, 60);
        (first, second)
    };
    let (first, second) = run(false, 9);
    assert_eq!(first, 0);
    assert!(second >= 1, "without the option the future entries count");
    assert_eq!(run(true, 9), (0, 0), "nine a day apart are not ten");
    let (first, second) = run(true, 10);
    assert!(
        first >= 1 && second >= 1,
        "the same attack read twice alerts twice, not held back by the first alert"
    );
    // Going back less than the longest window is ordinary reordering: kept.
    let options = Options {
        reset_on_rewind: true,
        ..Options::default()
    };
    let mut engine = Engine::new(ssh_rules(), Context::new(), options).expect("engine");
    assert_eq!(failures_from(&mut engine, today, "192.0.2.6", 5, 1), 0);
    assert!(failures_from(&mut engine, "2026-03-02T09:59:00Z", "192.0.2.6", 5, 1) >= 1);
}

#[test]
fn correlation_detection_carries_group_tags_and_bounded_events() {
    let mut engine = Engine::new(ssh_rules(), Context::new(), Options::default()).expect("engine");
    let mut last = None;
    for i in 0..40 {
        let mut e = common::ssh_event(
            &at("2026-03-02T10:00:00Z", i),
            "ssh_failed_password",
            "192.0.2.9",
            "root",
            "failure",
        );
        if let Some(d) = engine
            .process(&mut e)
            .detections
            .into_iter()
            .find(|d| d.rule_id == BRUTE)
        {
            last = Some(d);
        }
    }
    let d = last.expect("brute force fired");
    assert_eq!(d.group_key, "source.ip=192.0.2.9");
    assert_eq!(d.level, webqx_detect::Level::High);
    assert!(d.mitre.contains(&"attack.t1110.001".to_owned()));
    assert!(d.hipaa.contains(&"hipaa.164.312.b".to_owned()));
    assert!(!d.events.is_empty() && d.events.len() <= webqx_detect::MAX_TRIGGER_EVENTS);
    assert_eq!(
        d.events.last().expect("event").to_value()["source"]["ip"],
        "192.0.2.9"
    );
}

/// The ssh pack with every correlation firing again at once (no re-alert hold-back).
fn engine_without_hold_back() -> Engine {
    let options = Options {
        realert_secs: None,
        ..Options::default()
    };
    Engine::new(ssh_rules(), Context::new(), options).expect("engine")
}

/// Feeds `n` failed passwords for root from 192.0.2.7, a second apart, each first
/// passed to `shape` (with the engine, to change it between events); returns the events
/// as fed and the brute-force detections.
fn feed_failures(
    engine: &mut Engine,
    n: i64,
    mut shape: impl FnMut(&mut Engine, i64, &mut serde_json::Value),
) -> (Vec<serde_json::Value>, Vec<webqx_detect::Detection>) {
    let mut fed = Vec::new();
    let mut fired = Vec::new();
    for i in 0..n {
        let mut e = common::ssh_event(
            &at("2026-03-02T10:00:00Z", i),
            "ssh_failed_password",
            "192.0.2.7",
            "root",
            "failure",
        );
        shape(engine, i, &mut e);
        let outcome = engine.process(&mut e);
        fed.push(e);
        fired.extend(
            outcome
                .detections
                .into_iter()
                .filter(|d| d.rule_id == BRUTE),
        );
    }
    (fed, fired)
}

/// The events a correlation carries are the window's events as they were fed (after
/// enrichment), oldest first, and at most the last 20 of them.
#[test]
fn correlation_events_are_the_window_events_in_order() {
    let mut engine = engine_without_hold_back();
    let (fed, fired) = feed_failures(&mut engine, 25, |_, i, e| {
        e["user"]["name"] = json!(format!("user{i}"));
        e["source"]["port"] = json!(40000 + i);
    });
    let first = fired.first().expect("the tenth failure fires");
    assert_eq!(
        first.events,
        fed[..10],
        "the first firing carries the ten failures"
    );
    let last = fired.last().expect("every later failure fires again");
    assert_eq!(
        fired.len(),
        16,
        "failures 10 to 25 each fire without a hold-back"
    );
    assert_eq!(
        last.events,
        fed[5..],
        "the last firing carries the last twenty"
    );
}

/// A caller that can keep no more events (hunt, its budget spent) turns them off:
/// correlations fire as before, counting every event, and detections carry no events;
/// turned on again, single-event detections carry theirs.
#[test]
fn with_trigger_events_off_correlations_fire_alike_and_carry_none() {
    let mut engine = engine_without_hold_back();
    let (fed, fired) = feed_failures(&mut engine, 30, |engine, i, _| {
        if i == 12 {
            engine.set_trigger_events(0);
        }
    });
    assert_eq!(
        fired.len(),
        21,
        "failures 10 to 30 each fire, as with events on"
    );
    assert_eq!(fired[0].events, fed[..10], "before: the window's events");
    let last = fired.last().expect("fired");
    assert_eq!(last.group_key, "source.ip=192.0.2.7");
    assert!(last.events.is_empty(), "after: none, {:?}", last.events);

    let rules = RuleSet::load_dir(&common::pack_dir().join("web")).expect("web rules");
    let mut web = Engine::new(rules, Context::new(), Options::default()).expect("engine");
    // A single-event rule carries its event, or none once events are off.
    for (keep, carried) in [(0, 0), (5, 1)] {
        web.set_trigger_events(keep);
        let mut scan = scanner_event();
        let single = web.process(&mut scan).detections;
        assert!(
            single
                .iter()
                .any(|d| d.rule_id == SCANNER && d.events.len() == carried),
            "{keep}: {single:?}"
        );
    }
}

#[test]
fn building_blocks_do_not_alert_alone() {
    let mut engine = Engine::new(ssh_rules(), Context::new(), Options::default()).expect("engine");
    let mut e = common::ssh_event(
        "2026-03-02T10:00:00Z",
        "ssh_failed_password",
        "192.0.2.2",
        "bob",
        "failure",
    );
    assert!(engine.process(&mut e).detections.is_empty());
    let mut ok = common::ssh_event(
        "2026-03-02T10:00:00Z",
        "ssh_login",
        "192.0.2.2",
        "bob",
        "success",
    );
    assert!(
        engine.process(&mut ok).detections.is_empty(),
        "a lone login is not an attack"
    );
}

#[test]
fn events_only_meet_rules_of_their_dataset() {
    let mut engine = common::builtin_engine(Context::new());
    // A web attack string inside an sshd message is not a web request.
    let mut e = common::ssh_event(
        "2026-03-02T10:00:00Z",
        "ssh_disconnect",
        "192.0.2.3",
        "x",
        "unknown",
    );
    e["message"] = "Disconnected: /etc/passwd ' UNION SELECT 1--".into();
    assert!(engine.process(&mut e).detections.is_empty());
    // Unknown or missing datasets are counted, not evaluated.
    let mut unknown = json!({"@timestamp": "2026-03-02T10:00:00Z", "event": {"dataset": "nope"}});
    engine.process(&mut unknown);
    let mut bare = json!({"message": "sqlmap"});
    engine.process(&mut bare);
    assert_eq!(engine.stats().unrouted, 2);
    assert!(engine.rule_count("nginx.access") >= 5);
    assert_eq!(engine.rule_count("json"), 0);
}

#[test]
fn keywords_search_the_keyword_fields_not_event_original() {
    let mut set = RuleSet::new();
    set.add_yaml(
        "kw",
        "title: kw\nid: 11111111-1111-4111-8111-111111111111\nlogsource: {product: linux}\n\
         detection:\n  k: ['stack smashing detected']\n  condition: k\nlevel: high\n",
    )
    .expect("rule");
    let mut engine = Engine::new(set, Context::new(), Options::default()).expect("engine");
    let mut hidden = json!({"@timestamp": "2026-03-02T10:00:00Z", "event": {"dataset": "raw",
        "original": "stack smashing detected"}, "message": "other", "user": {"name": "stack smashing detected"}});
    assert!(engine.process(&mut hidden).detections.is_empty());
    let mut shown = json!({"@timestamp": "2026-03-02T10:00:00Z", "event": {"dataset": "raw"},
        "message": "*** stack smashing detected ***: terminated"});
    assert_eq!(engine.process(&mut shown).detections.len(), 1);
}

fn scanner_event() -> serde_json::Value {
    common::web_event("GET", "/", None, Some("sqlmap/1.7"))
}

#[test]
fn suppressions_silence_matching_values_until_they_expire() {
    let rules = RuleSet::load_dir(&common::pack_dir().join("web")).expect("web rules");
    let mut engine = Engine::new(rules, Context::new(), Options::default()).expect("engine");
    let now: DateTime<Utc> = "2026-03-02T12:00:00Z".parse().expect("time");
    let suppression = |rule: &str, field: &str, value: &str, hours: i64| Suppression {
        rule_id: rule.into(),
        field: field.into(),
        value: value.into(),
        reason: "authorised scan".into(),
        expires_at: now + Duration::hours(hours),
    };
    engine.set_suppressions(vec![suppression(SCANNER, "source.ip", "203.0.113.9", 1)]);
    let outcome = engine.process_at(&mut scanner_event(), now);
    assert!(outcome.detections.iter().all(|d| d.rule_id != SCANNER));
    assert_eq!(outcome.suppressed, 1);

    // Another address is not covered.
    let mut other = scanner_event();
    other["source"]["ip"] = "203.0.113.10".into();
    assert!(
        engine
            .process_at(&mut other, now)
            .detections
            .iter()
            .any(|d| d.rule_id == SCANNER)
    );

    // "*" covers every rule; an expired suppression does nothing.
    engine.set_suppressions(vec![suppression(
        "*",
        "user_agent.original",
        "sqlmap/1.7",
        1,
    )]);
    assert!(
        engine
            .process_at(&mut scanner_event(), now)
            .detections
            .is_empty()
    );
    engine.set_suppressions(vec![suppression("*", "source.ip", "203.0.113.9", -1)]);
    assert!(
        !engine
            .process_at(&mut scanner_event(), now)
            .detections
            .is_empty()
    );
    assert_eq!(engine.stats().suppressed, 2);
}

#[test]
fn suppressions_match_correlation_group_fields() {
    let mut engine = Engine::new(ssh_rules(), Context::new(), Options::default()).expect("engine");
    engine.set_suppressions(vec![Suppression {
        rule_id: BRUTE.into(),
        field: "source.ip".into(),
        value: "192.0.2.1".into(),
        reason: "pen test".into(),
        expires_at: Utc::now() + Duration::days(1),
    }]);
    assert_eq!(failures(&mut engine, "192.0.2.1", 15, 10), 0);
    assert!(engine.stats().suppressed >= 1);
}

#[test]
fn sigma_filters_from_a_folder_remove_site_false_positives() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("our_scanner.yml"),
        format!(
            "title: Our own weekly scan\nid: 22222222-2222-4222-8222-222222222222\n\
             logsource: {{category: webserver}}\nfilter:\n  rules:\n    - {SCANNER}\n  \
             selection:\n    source.ip: 203.0.113.9\n  condition: not selection\n"
        ),
    )
    .expect("write");
    let mut rules = RuleSet::load_dir(&common::pack_dir().join("web")).expect("web rules");
    let filters = RuleSet::load_dir(dir.path()).expect("filters load");
    assert_eq!(filters.filter_count(), 1);
    rules.extend(filters);
    let mut engine = Engine::new(rules, Context::new(), Options::default()).expect("engine");
    assert!(
        engine
            .process(&mut scanner_event())
            .detections
            .iter()
            .all(|d| d.rule_id != SCANNER)
    );
    let mut other = scanner_event();
    other["source"]["ip"] = "198.51.100.1".into();
    assert!(
        engine
            .process(&mut other)
            .detections
            .iter()
            .any(|d| d.rule_id == SCANNER)
    );
}

#[test]
fn invalid_rules_are_refused_with_the_origin_named() {
    let mut set = RuleSet::new();
    let err = set
        .add_yaml("bad.yml", "title: x\ndetection: [1, 2\n")
        .expect_err("invalid");
    assert!(err.to_string().contains("bad.yml"), "{err}");
    let err = set.add_yaml(
        "huge.yml",
        &"a".repeat(webqx_detect::MAX_RULE_FILE_BYTES + 1),
    );
    assert!(err.is_err());
    let missing = RuleSet::load_dir(std::path::Path::new("/nonexistent/rules")).expect_err("io");
    assert!(missing.to_string().contains("/nonexistent/rules"));
}

/// A correlation that no dataset can take would load and never fire; it is refused,
/// saying why.
#[test]
fn a_correlation_that_could_never_fire_is_refused() {
    let rules = "\
title: Admin page
id: 7b0e8c1a-0000-4000-8000-000000000001
name: site_admin_page
logsource:
  category: webserver
detection:
  sel:
    url.path: /admin
  condition: sel
level: informational
---
title: SSH failure
id: 7b0e8c1a-0000-4000-8000-000000000002
name: site_ssh_failure
logsource:
  product: linux
  service: sshd
detection:
  sel:
    event.action: ssh_failed_password
  condition: sel
level: informational
";
    let correlation = |counts: &str| {
        format!(
            "title: Web probe then SSH guessing\nid: 7b0e8c1a-0000-4000-8000-000000000003\n\
             correlation:\n  type: temporal\n  rules:\n{counts}  group-by:\n    - source.ip\n\
             \x20 timespan: 10m\nlevel: high\n"
        )
    };
    let load = |counts: &str| {
        let mut set = RuleSet::new();
        set.add_yaml("site.yml", rules).unwrap();
        set.add_yaml("corr.yml", &correlation(counts)).unwrap();
        Engine::new(set, Context::new(), Options::default())
    };
    let spans = load("    - site_admin_page\n    - site_ssh_failure\n").unwrap_err();
    let text = spans.to_string();
    assert!(
        text.contains("Web probe then SSH guessing") && text.contains("several datasets"),
        "{text}"
    );
    let typo = load("    - site_admin_page\n    - site_ssh_failur\n").unwrap_err();
    let text = typo.to_string();
    assert!(
        text.contains("'site_ssh_failur'") && text.contains("fix the reference"),
        "{text}"
    );
    // Within one dataset it loads.
    let mut set = RuleSet::new();
    set.add_yaml("site.yml", rules).unwrap();
    let counted = "title: SSH guessing\nid: 7b0e8c1a-0000-4000-8000-000000000004\n\
                   correlation:\n  type: event_count\n  rules:\n    - site_ssh_failure\n\
                   \x20 group-by:\n    - source.ip\n  timespan: 10m\n  condition:\n    gte: 3\n\
                   level: high\n";
    set.add_yaml("corr.yml", counted).unwrap();
    assert!(Engine::new(set, Context::new(), Options::default()).is_ok());
}

#[test]
fn context_csv_and_json_agree() {
    let users = "id,name,surname,department,status,address\n\
                 u1,Ann,\"Smith, Jr\",icu,active,\"1 Elm St\"\nu2,Bo,Lee,icu,terminated,\n";
    let patients = "id,surname,address,flags,employee_user_id\np1,Lee,2 Oak,vip;employee,u2\n";
    let care = "user_id,patient_id,valid_from,valid_until\nu1,p1,2026-01-01T00:00:00Z,\n";
    let csv = Context::from_csv(users, patients, care).expect("csv");
    let json = Context::from_json(
        r#"{"users":[{"id":"u1","name":"Ann","surname":"Smith, Jr","department":"icu","address":"1 Elm St"},
                     {"id":"u2","name":"Bo","surname":"Lee","department":"icu","status":"terminated"}],
            "patients":[{"id":"p1","surname":"Lee","address":"2 Oak","flags":["vip","employee"],"employee_user_id":"u2"}],
            "care":[{"user_id":"u1","patient_id":"p1","valid_from":"2026-01-01T00:00:00Z"}]}"#,
    )
    .expect("json");
    let t: DateTime<Utc> = "2026-06-01T00:00:00Z".parse().expect("time");
    for ctx in [&csv, &json] {
        assert_eq!(
            ctx.user("u1").map(|u| u.surname.as_str()),
            Some("Smith, Jr")
        );
        assert_eq!(
            ctx.user("u2").map(|u| u.status),
            Some(webqx_detect::UserStatus::Terminated)
        );
        assert!(ctx.has_care("u1", "p1", t));
        assert!(!ctx.has_care("u1", "p1", t - Duration::days(365)));
        assert!(!ctx.has_care("u2", "p1", t));
    }
}

#[test]
fn context_errors_name_the_table_and_line() {
    let err = Context::from_csv(
        "id,name,surname,department,status,address\nu1,a,b,c,retired,x\n",
        "",
        "",
    )
    .expect_err("bad status");
    assert!(
        matches!(
            err,
            ContextError::Csv {
                table: "users",
                line: 2,
                ..
            }
        ),
        "{err}"
    );
    let err = Context::from_csv("", "id,surname,address,flags,employee_user_id\np1,x\n", "")
        .expect_err("cols");
    assert!(matches!(
        err,
        ContextError::Csv {
            table: "patients",
            line: 2,
            ..
        }
    ));
    let err = Context::from_csv("", "", "h\n\"open").expect_err("quote");
    assert!(matches!(err, ContextError::Csv { table: "care", .. }));
    assert!(Context::from_json("{\"users\": 3}").is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// However many sources and users arrive, correlation state and the baseline stay
    /// within their caps.
    #[test]
    fn state_stays_bounded(ips in proptest::collection::vec(any::<u32>(), 200..400),
                           gaps in proptest::collection::vec(0i64..120, 200..400)) {
        let options = Options { max_groups: 50, max_group_entries: 8, max_baseline_users: 20, ..Options::default() };
        let mut rules = ssh_rules();
        rules.extend(RuleSet::load_dir(&common::pack_dir().join("ehr")).expect("ehr"));
        let mut engine = Engine::new(rules, Context::new(), options).expect("engine");
        let mut t = 0i64;
        for (ip, gap) in ips.iter().zip(gaps.iter().cycle()) {
            t += gap;
            let addr = std::net::Ipv4Addr::from(*ip).to_string();
            let mut e = common::ssh_event(&at("2026-03-02T00:00:00Z", t), "ssh_failed_password", &addr, &format!("u{}", ip % 7), "failure");
            engine.process(&mut e);
            let mut access = json!({"@timestamp": at("2026-03-02T00:00:00Z", t),
                "event": {"dataset": "fhir.auditevent"}, "user": {"id": format!("user{ip}")},
                "ehr": {"patient": {"id": "p"}}});
            engine.process(&mut access);
            // Several correlations share the cap; each may hold up to max_groups.
            prop_assert!(engine.state_count() <= 50 * 6, "state {}", engine.state_count());
            prop_assert!(engine.baseline_users() <= 20);
        }
    }
}

/// A correlation's triggering events are redacted every time they are listed, also
/// when a burst fires again and again over the same events (they are parsed and
/// redacted once and remembered).
#[test]
fn correlation_events_are_redacted_at_every_firing() {
    let mut engine = engine_without_hold_back();
    let (_, fired) = feed_failures(&mut engine, 15, |_, i, e| {
        e["password"] = serde_json::json!(format!("hunter{i}"));
    });
    assert_eq!(fired.len(), 6, "the 10th to the 15th failure");
    for (d, n) in fired.iter().zip(10..) {
        assert_eq!(d.events.len(), n, "every failure so far");
        let text = serde_json::to_string(&d.events).unwrap();
        assert!(!text.contains("hunter"), "{text}");
        assert!(text.contains("[redacted]"), "{text}");
    }
}
