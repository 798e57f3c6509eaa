//! Vulnerability scan targets and results in the store, on SQLite and (when
//! `WEBQX_TEST_POSTGRES` is set) PostgreSQL: create, the name kept unique, a due target
//! claimed by exactly one of several nodes, results stored with their findings and
//! paged newest first, delete removing the history.

use std::path::Path;
use std::sync::Arc;
use webqx_audit::{AuditLog, RequestContext};
use webqx_server::config::Config;
use webqx_server::vulnscans::{self, NewTarget, VulnError};
use webqx_store::{Store, query};
use webqx_testkit::test_stores;

const LOCK: &str = "osv/lockfiles/rustsec_cargo-audit_multi_vulns_Cargo.lock";
const ADVISORY: &str = "osv/rustsec-osv/crates/RUSTSEC-2017-0004.json";

fn config(root: &Path) -> Config {
    let mut c = Config::default();
    c.server.data_dir = root.join("data");
    c.vuln.allowed_roots = vec![root.to_path_buf()];
    c
}

async fn make_due(store: &Store) {
    query("UPDATE vuln_targets SET next_ms = 0")
        .execute(store.pool())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn targets_and_results_on_every_store() {
    let (Some(lock), Some(advisory)) = (
        webqx_testkit::shared_data(LOCK),
        webqx_testkit::shared_data(ADVISORY),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::copy(&lock, root.join("Cargo.lock")).unwrap();
    let config = Arc::new(config(&root));
    let mut db = webqx_vuln::db::Db::empty(&vulnscans::db_dir(&config));
    db.import_paths(&[advisory]).unwrap();

    for ts in test_stores() {
        let store = Store::open(&ts.config).await.unwrap();
        let audit = AuditLog::start(store.clone());
        one_store(&config, &store, &audit, &root, ts.label).await;
    }
}

async fn one_store(
    config: &Arc<Config>,
    store: &Store,
    audit: &Arc<AuditLog>,
    root: &Path,
    label: &str,
) {
    let ctx = RequestContext::internal("test");
    let t = NewTarget {
        name: "app".into(),
        paths: vec![root.join("Cargo.lock").display().to_string()],
        schedule: Some("0 3 * * *".into()),
        every: None,
    };
    let id = vulnscans::create(audit, &config.vuln, &ctx, &t)
        .await
        .unwrap();
    let again = vulnscans::create(audit, &config.vuln, &ctx, &t).await;
    assert!(
        matches!(again, Err(VulnError::Exists(_))),
        "{label}: {again:?}"
    );
    let got = vulnscans::get(store, "app").await.unwrap();
    assert_eq!(
        (got.id.as_str(), got.schedule.as_deref()),
        (id.as_str(), Some("0 3 * * *")),
        "{label}"
    );
    assert_eq!(
        vulnscans::run_due(config, store, audit).await.unwrap(),
        0,
        "{label}: not due"
    );

    // Three nodes race for each due run: exactly one wins it.
    for round in 1..=3 {
        make_due(store).await;
        let nodes: Vec<_> = (0..3)
            .map(|_| {
                let (c, s, a) = (config.clone(), store.clone(), audit.clone());
                tokio::spawn(async move { vulnscans::run_due(&c, &s, &a).await.unwrap() })
            })
            .collect();
        let mut ran = 0;
        for n in nodes {
            ran += n.await.unwrap();
        }
        assert_eq!(ran, 1, "{label}: round {round}");
        let next = vulnscans::get(store, &id).await.unwrap().next_run;
        assert!(next.ends_with("T03:00:00.000Z"), "{label}: next run {next}");
    }

    let (page, cursor) = vulnscans::history(store, &id, None, 2).await.unwrap();
    assert_eq!(page.len(), 2, "{label}");
    assert!(page[0].id > page[1].id, "{label}: newest first");
    assert_eq!((page[1].new, page[0].new), (0, 0), "{label}");
    let (rest, end) = vulnscans::history(store, &id, cursor.as_deref(), 2)
        .await
        .unwrap();
    assert_eq!((rest.len(), end), (1, None), "{label}");
    assert_eq!(
        (rest[0].new, rest[0].total),
        (1, 1),
        "{label}: first run {:?}",
        rest[0].error
    );
    assert_eq!(rest[0].findings[0].id, "RUSTSEC-2017-0004", "{label}");
    assert_eq!(rest[0].findings[0].package, "base64", "{label}");

    let current = vulnscans::current(store).await.unwrap();
    assert_eq!(current.len(), 1, "{label}");
    vulnscans::delete(audit, &ctx, &id).await.unwrap();
    let (gone, _) = vulnscans::history(store, &id, None, 10).await.unwrap();
    assert!(gone.is_empty(), "{label}");
    assert!(matches!(
        vulnscans::delete(audit, &ctx, &id).await,
        Err(VulnError::NotFound(_))
    ));
}
