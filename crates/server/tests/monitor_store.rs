//! The alert store on SQLite and PostgreSQL: grouping within the window, new alerts
//! after it or after closing, suppressions, followed positions, and the change order
//! the live stream resumes from.

use serde_json::json;
use webqx_audit::{AuditLog, RequestContext, TrailQuery};
use webqx_server::monitor::alerts::{self, Applied, ListQuery, NewSuppression};
use webqx_server::monitor::{EventText, Finding, Mark, Severity};
use webqx_store::Store;

const MIN: i64 = 60_000;
const WINDOW: i64 = 15 * MIN;

fn finding(rule: &str, key: &str, at: i64, ip: &str) -> Finding {
    Finding {
        rule_id: rule.into(),
        title: format!("title of {rule}"),
        level: Severity::High,
        tags: vec!["attack.t1110".into()],
        group_key: key.into(),
        timestamp_ms: at,
        // Real events differ at least in their time.
        events: vec![EventText::from_value(
            &json!({"@timestamp": at, "source": {"ip": ip}, "event": {"outcome": "failure"}}),
        )],
    }
}

async fn raised_records(store: &Store) -> Vec<webqx_audit::TrailRecord> {
    let all = webqx_audit::trail::read(store, &TrailQuery::default())
        .await
        .unwrap();
    all.into_iter()
        .filter(|r| r.entry.action == "alert.raised")
        .collect()
}

#[tokio::test]
async fn grouping_suppression_positions_on_every_backend() {
    for t in webqx_testkit::test_stores() {
        let store = Store::open(&t.config).await.unwrap();
        let audit = AuditLog::start(store.clone());
        let label = t.label;
        let t0 = 1_800_000_000_000;

        // Two findings of one rule and key within the window: one alert, count 2.
        let a = alerts::apply(
            &store,
            &audit,
            WINDOW,
            &[finding("r1", "10.0.0.1", t0, "10.0.0.1")],
            &[],
            &[],
        )
        .await
        .unwrap();
        let Applied::Raised(id) = a[0].clone() else {
            panic!("{label}: {a:?}")
        };
        let b = alerts::apply(
            &store,
            &audit,
            WINDOW,
            &[
                finding("r1", "10.0.0.1", t0 + 5 * MIN, "10.0.0.1"),
                finding("r1", "10.0.0.2", t0, "10.0.0.2"),
            ],
            &[],
            &[],
        )
        .await
        .unwrap();
        assert_eq!(b[0], Applied::Grouped(id.clone()), "{label}");
        assert!(
            matches!(b[1], Applied::Raised(_)),
            "{label}: another key, another alert"
        );
        let alert = alerts::get(&store, &id).await.unwrap();
        assert_eq!(alert["count"], 2, "{label}");
        assert_eq!(alert["events"].as_array().unwrap().len(), 2, "{label}");
        assert_eq!(alert["status"], "open", "{label}");
        assert_eq!(alert["severity"], "high", "{label}");

        // Past the window after the last finding: a new alert.
        let c = alerts::apply(
            &store,
            &audit,
            WINDOW,
            &[finding("r1", "10.0.0.1", t0 + 21 * MIN, "10.0.0.1")],
            &[],
            &[],
        )
        .await
        .unwrap();
        let Applied::Raised(late) = c[0].clone() else {
            panic!("{label}: {c:?}")
        };
        assert_ne!(late, id);

        // Raised alerts are audited (3 so far); groupings are not.
        let raised = raised_records(&store).await;
        assert_eq!(raised.len(), 3, "{label}");
        assert_eq!(raised[0].entry.details["rule"], "r1");
        assert_eq!(raised[0].entry.details["alert_id"], json!(id));
        assert!(
            !raised[0].body.contains("10.0.0.1"),
            "{label}: no event content in the record"
        );

        // Acknowledged alerts still group; closed ones do not, and stay closed.
        let ctx = RequestContext::internal("tester");
        alerts::transition(&audit, &ctx, &late, false, Some("looking"))
            .await
            .unwrap();
        let d = alerts::apply(
            &store,
            &audit,
            WINDOW,
            &[finding("r1", "10.0.0.1", t0 + 22 * MIN, "10.0.0.1")],
            &[],
            &[],
        )
        .await
        .unwrap();
        assert_eq!(d[0], Applied::Grouped(late.clone()), "{label}");
        alerts::transition(&audit, &ctx, &late, true, Some("blocked at the firewall"))
            .await
            .unwrap();
        let closed = alerts::get(&store, &late).await.unwrap();
        assert_eq!(closed["status"], "closed");
        assert_eq!(closed["note"], "blocked at the firewall");
        assert_eq!(closed["acked_by"], "tester", "{label}");
        let again = alerts::transition(&audit, &ctx, &late, true, None).await;
        assert!(
            matches!(again, Err(alerts::AlertError::Closed(_))),
            "{label}"
        );
        let e = alerts::apply(
            &store,
            &audit,
            WINDOW,
            &[finding("r1", "10.0.0.1", t0 + 23 * MIN, "10.0.0.1")],
            &[],
            &[],
        )
        .await
        .unwrap();
        assert!(
            matches!(e[0], Applied::Raised(_)),
            "{label}: closed alerts do not absorb"
        );

        // A suppression for one address and rule; others still alert.
        let s = NewSuppression {
            rule_id: "r1".into(),
            field: "source.ip".into(),
            value: "10.9.9.9".into(),
            reason: "our scanner".into(),
            expires_at: "2099-01-01T00:00:00Z".into(),
        };
        assert!(
            alerts::add_suppression(&audit, &ctx, &s).await.is_err(),
            "{label}: more than a year ahead"
        );
        let s = NewSuppression {
            expires_at: webqx_store::time::rfc3339(webqx_store::now_ms() + 86_400_000),
            ..s
        };
        let made = alerts::add_suppression(&audit, &ctx, &s).await.unwrap();
        let f = alerts::apply(
            &store,
            &audit,
            WINDOW,
            &[
                finding("r1", "x", t0, "10.9.9.9"),
                finding("r2", "x", t0, "10.9.9.9"),
                finding("r1", "y", t0, "10.1.1.1"),
                finding("r1", "x", t0 + 1, "10.9.9.9"),
            ],
            &[],
            &[],
        )
        .await
        .unwrap();
        assert_eq!(f[0], Applied::Suppressed, "{label}");
        assert!(matches!(f[1], Applied::Raised(_)), "{label}: another rule");
        assert!(
            matches!(f[2], Applied::Raised(_)),
            "{label}: another address"
        );
        assert_eq!(f[3], Applied::Suppressed, "{label}: again");
        assert_eq!(alerts::suppressions(&store).await.unwrap().len(), 1);
        alerts::remove_suppression(&audit, &ctx, made["id"].as_str().unwrap())
            .await
            .unwrap();
        assert!(alerts::suppressions(&store).await.unwrap().is_empty());
        assert!(matches!(
            alerts::remove_suppression(&audit, &ctx, "nope").await,
            Err(alerts::AlertError::NotFound(_))
        ));

        // Listing: filters and the cursor.
        let (all, next) = alerts::list(
            &store,
            &ListQuery {
                limit: 2,
                ..ListQuery::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(all.len(), 2);
        let (rest, end) = alerts::list(
            &store,
            &ListQuery {
                limit: 100,
                after: next,
                ..ListQuery::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(rest.len(), 4, "{label}: 6 alerts in all");
        assert!(end.is_none());
        let (open_r2, _) = alerts::list(
            &store,
            &ListQuery {
                limit: 100,
                rule: Some("r2".into()),
                status: Some("open".into()),
                ..ListQuery::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(open_r2.len(), 1);
        let (crit, _) = alerts::list(
            &store,
            &ListQuery {
                limit: 100,
                min_severity: Some(Severity::Critical),
                ..ListQuery::default()
            },
        )
        .await
        .unwrap();
        assert!(crit.is_empty());

        // Every change has a larger change number: the stream resumes after one.
        let last = alerts::last_change(&store).await.unwrap();
        let after = alerts::changes_after(&store, last - 2, 100).await.unwrap();
        assert_eq!(after.len(), 2, "{label}");
        assert!(after[0]["change"].as_i64() < after[1]["change"].as_i64());

        // Positions commit with the batch, and are replaced.
        let m = |offset| Mark {
            path: "/var/log/x".into(),
            dev: 1,
            inode: 2,
            offset,
        };
        alerts::apply(&store, &audit, WINDOW, &[], &[m(10)], &[])
            .await
            .unwrap();
        alerts::apply(&store, &audit, WINDOW, &[], &[m(25)], &[])
            .await
            .unwrap();
        assert_eq!(
            alerts::position(&store, "/var/log/x").await.unwrap(),
            Some(m(25))
        );
        assert_eq!(alerts::position(&store, "/other").await.unwrap(), None);

        // Context documents.
        alerts::put_context(&audit, &ctx, "users", &json!({"u1": {"status": "active"}}))
            .await
            .unwrap();
        alerts::put_context(
            &audit,
            &ctx,
            "users",
            &json!({"u1": {"status": "terminated"}}),
        )
        .await
        .unwrap();
        let doc = alerts::get_context(&store, "users").await.unwrap().unwrap();
        assert_eq!(doc["document"]["u1"]["status"], "terminated");
        assert!(
            alerts::put_context(&audit, &ctx, "nope", &json!({}))
                .await
                .is_err()
        );

        assert!(
            webqx_audit::verify(&store).await.unwrap().ok(),
            "{label}: the trail verifies"
        );
        store.close().await;
    }
}

/// Alerts raised outside detection (vulnerability and TLS scans) through `raise_in`, in
/// the caller's transaction: never grouped, their record keeping the caller's details,
/// suppressed like detection's, and gone with a rolled-back transaction.
#[tokio::test]
async fn alerts_raised_in_a_callers_transaction() {
    for t in webqx_testkit::test_stores() {
        let store = Store::open(&t.config).await.unwrap();
        let audit = AuditLog::start(store.clone());
        let label = t.label;
        let ctx = RequestContext::internal("scanner");
        let t0 = webqx_store::now_ms();
        let record = || {
            let mut rec = ctx.record("alert.raised", Some("vuln:target-1".into()));
            rec.detail("rule", "vuln-new-finding")
                .detail("advisories", json!(["RUSTSEC-2020-0071"]));
            rec
        };
        let news = |ip: &str| finding("vuln-new-finding", "target-1", t0, ip);

        let mut ids = Vec::new();
        for _ in 0..2 {
            let mut tx = store.write().await.unwrap();
            let id = alerts::raise_in(&mut tx, &audit, &news("10.0.0.1"), record())
                .await
                .unwrap()
                .expect("raised");
            tx.commit().await.unwrap();
            ids.push(id);
        }
        assert_ne!(ids[0], ids[1], "{label}: each scan's news is its own alert");
        let stored = alerts::get(&store, &ids[1]).await.unwrap();
        assert_eq!(
            (&stored["rule_id"], &stored["status"], &stored["count"]),
            (&json!("vuln-new-finding"), &json!("open"), &json!(1)),
            "{label}"
        );
        let raised = raised_records(&store).await;
        assert_eq!(raised.len(), 2, "{label}");
        let details = &raised[1].entry.details;
        assert_eq!(details["alert_id"], json!(ids[1]), "{label}");
        assert_eq!(
            details["advisories"],
            json!(["RUSTSEC-2020-0071"]),
            "{label}"
        );
        assert_eq!(details["title"], "title of vuln-new-finding", "{label}");

        // Rolled back with the caller's work: no alert, no record.
        let mut tx = store.write().await.unwrap();
        let gone = alerts::raise_in(&mut tx, &audit, &news("10.0.0.1"), record())
            .await
            .unwrap()
            .expect("raised");
        tx.rollback().await.unwrap();
        assert_no_alert(&store, &gone, label).await;
        assert_eq!(raised_records(&store).await.len(), 2, "{label}");

        // A suppression for the rule and a field of its events: nothing stored.
        let s = NewSuppression {
            rule_id: "vuln-new-finding".into(),
            field: "source.ip".into(),
            value: "10.9.9.9".into(),
            reason: "accepted risk until the vendor ships a fix".into(),
            expires_at: webqx_store::time::rfc3339(t0 + 86_400_000),
        };
        alerts::add_suppression(&audit, &ctx, &s).await.unwrap();
        let mut tx = store.write().await.unwrap();
        let none = alerts::raise_in(&mut tx, &audit, &news("10.9.9.9"), record())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(none, None, "{label}");
        assert_eq!(raised_records(&store).await.len(), 2, "{label}");
    }
}

/// Alerts other components raise through the audit trail (`AuditLog::raise_alert`, as
/// the OAuth server and the certificate lifecycle do): with the server's alert store
/// installed they are stored alerts whose record names them, suppressions apply; without
/// it only the record is written.
#[tokio::test]
async fn alerts_raised_through_the_audit_trail() {
    for t in webqx_testkit::test_stores() {
        let store = Store::open(&t.config).await.unwrap();
        let audit = AuditLog::start(store.clone());
        let label = t.label;
        let ctx = RequestContext::internal("oauth");
        let t0 = webqx_store::now_ms();
        let raised = |ip: &str| webqx_audit::RaisedAlert {
            rule_id: "oauth-auth-failures".into(),
            title: format!("10 failed OAuth client authentications by {ip}"),
            severity: "high",
            tags: vec!["attack.t1110".into()],
            group_key: format!("source.ip={ip}"),
            timestamp_ms: t0,
            events: vec![json!({"source": {"ip": ip}, "event": {"outcome": "failure"}})],
        };
        let record = || {
            let mut rec = ctx.record("alert.raised", Some("address:10.0.0.1".into()));
            rec.detail("rule", "oauth-auth-failures")
                .detail("failures", 10);
            rec
        };

        // No alert store installed: the record alone.
        let none = audit.raise_alert(&raised("10.0.0.1"), record()).await;
        assert_eq!(none.unwrap(), None, "{label}");
        assert_eq!(raised_records(&store).await.len(), 1, "{label}");

        audit.set_alert_sink(std::sync::Arc::new(alerts::StoredAlerts));
        let id = audit
            .raise_alert(&raised("10.0.0.1"), record())
            .await
            .unwrap()
            .expect("stored");
        let stored = alerts::get(&store, &id).await.unwrap();
        assert_eq!(
            (
                &stored["rule_id"],
                &stored["severity"],
                &stored["group_key"]
            ),
            (
                &json!("oauth-auth-failures"),
                &json!("high"),
                &json!("source.ip=10.0.0.1")
            ),
            "{label}"
        );
        assert_eq!(stored["events"][0]["source"]["ip"], "10.0.0.1", "{label}");
        let records = raised_records(&store).await;
        assert_eq!(records.len(), 2, "{label}");
        assert_eq!(records[1].entry.details["alert_id"], json!(id), "{label}");
        assert_eq!(records[1].entry.details["failures"], json!(10), "{label}");

        // Inside a caller's transaction: rolled back, nothing is left.
        let mut tx = store.write().await.unwrap();
        let gone = audit
            .raise_alert_in(&mut tx, &raised("10.0.0.2"), record())
            .await
            .unwrap()
            .expect("stored");
        tx.rollback().await.unwrap();
        assert_no_alert(&store, &gone, label).await;

        // Suppressed per address: neither alert nor record.
        let s = NewSuppression {
            rule_id: "oauth-auth-failures".into(),
            field: "source.ip".into(),
            value: "10.9.9.9".into(),
            reason: "the partner's NAT retries a stale secret until Friday".into(),
            expires_at: webqx_store::time::rfc3339(t0 + 86_400_000),
        };
        alerts::add_suppression(&audit, &ctx, &s).await.unwrap();
        let held = audit.raise_alert(&raised("10.9.9.9"), record()).await;
        assert_eq!(held.unwrap(), None, "{label}");
        assert_eq!(raised_records(&store).await.len(), 2, "{label}");
        assert!(webqx_audit::verify(&store).await.unwrap().ok(), "{label}");
        store.close().await;
    }
}

/// The alert `id` is not in the store (its transaction rolled back).
async fn assert_no_alert(store: &Store, id: &str, label: &str) {
    assert!(
        matches!(
            alerts::get(store, id).await,
            Err(alerts::AlertError::NotFound(_))
        ),
        "{label}: alert {id} is stored"
    );
}

/// The alerts as a comparable summary: rule, key, count, first and last seen, events
/// (ids and change numbers differ between stores).
async fn summary(store: &Store) -> Vec<serde_json::Value> {
    let (all, _) = alerts::list(
        store,
        &ListQuery {
            limit: 1000,
            ..ListQuery::default()
        },
    )
    .await
    .unwrap();
    let mut out: Vec<serde_json::Value> = all
        .into_iter()
        .map(|a| {
            json!([
                a["rule_id"],
                a["group_key"],
                a["count"],
                a["first_seen"],
                a["last_seen"],
                a["events"]
            ])
        })
        .collect();
    out.sort_by_key(|v| v.to_string());
    out
}

/// A spray fires the same correlations on every event: a batch of hundreds of findings
/// of one rule and group is applied as a run (one lookup, one write), and the alerts
/// are exactly those that applying the findings one at a time gives.
#[tokio::test]
async fn a_batch_of_one_groups_findings_is_applied_as_one_by_one() {
    let t0 = 1_800_000_000_000;
    let mut batch = Vec::new();
    for i in 0..300i64 {
        let key = if i % 3 == 0 { "10.0.0.2" } else { "10.0.0.1" };
        let rule = if i % 7 == 0 { "r2" } else { "r1" };
        // Every 100 findings the clock jumps past the window: a new alert each time.
        let at = t0 + (i / 100) * 3 * WINDOW + i * 1000;
        batch.push(finding(rule, key, at, &format!("192.0.2.{}", i % 250)));
    }
    // An older finding joins the newest open alert of its group.
    batch.push(finding("r1", "10.0.0.1", t0 + 2 * WINDOW, "192.0.2.9"));
    for t in webqx_testkit::test_stores() {
        let label = t.label;
        let one_by_one = Store::open(&t.config).await.unwrap();
        let audit = AuditLog::start(one_by_one.clone());
        let mut raised_alone = 0;
        for f in &batch {
            let a = alerts::apply(
                &one_by_one,
                &audit,
                WINDOW,
                std::slice::from_ref(f),
                &[],
                &[],
            )
            .await
            .unwrap();
            raised_alone += usize::from(matches!(a[0], Applied::Raised(_)));
        }
        let t2 = webqx_testkit::test_stores()
            .into_iter()
            .find(|x| x.label == label)
            .unwrap();
        let at_once = Store::open(&t2.config).await.unwrap();
        let audit2 = AuditLog::start(at_once.clone());
        let applied = alerts::apply(&at_once, &audit2, WINDOW, &batch, &[], &[])
            .await
            .unwrap();
        assert_eq!(
            applied.len(),
            batch.len(),
            "{label}: one answer per finding"
        );
        let raised = applied
            .iter()
            .filter(|a| matches!(a, Applied::Raised(_)))
            .count();
        assert_eq!(raised, raised_alone, "{label}");
        assert_eq!(raised_records(&at_once).await.len(), raised, "{label}");
        let (alone, together) = (summary(&one_by_one).await, summary(&at_once).await);
        assert!(alone.len() > 6, "{label}: {alone:?}");
        assert_eq!(together, alone, "{label}");
    }
}

/// A correlation's successive firings list overlapping windows (the same shared
/// events): the alert keeps each event once, within a batch and across batches.
#[tokio::test]
async fn overlapping_firings_keep_each_event_once() {
    for t in webqx_testkit::test_stores() {
        let store = Store::open(&t.config).await.unwrap();
        let audit = AuditLog::start(store.clone());
        let label = t.label;
        let t0 = 1_800_000_000_000;
        let e: Vec<EventText> = (0..6)
            .map(|n| EventText::from_value(&json!({"source": {"ip": "10.0.0.9"}, "n": n})))
            .collect();
        let firing = |at: i64, events: &[usize]| Finding {
            events: events.iter().map(|&i| e[i].clone()).collect(),
            ..finding("burst", "10.0.0.9", at, "10.0.0.9")
        };
        let batch = [
            firing(t0, &[0, 1]),
            firing(t0 + 1, &[0, 1, 2]),
            firing(t0 + 2, &[1, 2, 3]),
        ];
        alerts::apply(&store, &audit, WINDOW, &batch, &[], &[])
            .await
            .unwrap();
        // A later batch, and a copy of an event made apart from the shared one.
        let copy = EventText::from_value(&e[3].to_value());
        let later = Finding {
            events: vec![e[2].clone(), copy, e[4].clone(), e[5].clone()],
            ..finding("burst", "10.0.0.9", t0 + 3, "10.0.0.9")
        };
        alerts::apply(&store, &audit, WINDOW, &[later], &[], &[])
            .await
            .unwrap();
        let (all, _) = alerts::list(
            &store,
            &ListQuery {
                limit: 10,
                rule: Some("burst".into()),
                ..ListQuery::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(all.len(), 1, "{label}: one alert");
        assert_eq!(all[0]["count"], 4, "{label}");
        let numbers: Vec<i64> = all[0]["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter_map(|v| v["n"].as_i64())
            .collect();
        assert_eq!(
            numbers,
            [0, 1, 2, 3, 4, 5],
            "{label}: each event once, in order"
        );
    }
}
