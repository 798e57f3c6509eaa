//! The audit chain: appends, group commit, and detection of every kind of tampering,
//! on SQLite and (when configured) PostgreSQL.

use std::sync::Arc;
use webqx_audit::{
    AuditLog, Outcome, RequestContext, VerifyOptions, VerifyReport, verify, verify_with,
};
use webqx_store::{Store, query};
use webqx_testkit::test_stores;

async fn log_with(store: &Store, n: usize) -> Arc<AuditLog> {
    let log = AuditLog::start(store.clone());
    let ctx = RequestContext::internal("test");
    for i in 0..n {
        let mut rec = ctx.record("key.encrypt", Some(format!("key:k{i}")));
        rec.detail("i", i as i64);
        log.record(rec).await.unwrap();
    }
    log
}

/// Verifies in one walk and in parallel chunks of 2 records (stitched together): both
/// must find the same thing.
async fn checked(store: &Store) -> VerifyReport {
    let whole = verify(store).await.unwrap();
    for chunk in [2, 3] {
        let opts = VerifyOptions {
            chunk_records: Some(chunk),
            ..VerifyOptions::default()
        };
        let chunked = verify_with(store, &opts).await.unwrap();
        assert_eq!(whole, chunked, "chunks of {chunk} disagree with one walk");
    }
    whole
}

async fn exec(store: &Store, sql: &'static str) {
    query(sql).execute(store.pool()).await.unwrap();
}

async fn fresh(config: &webqx_store::StoreConfig, n: usize) -> (Store, Arc<AuditLog>) {
    let store = Store::open(config).await.unwrap();
    let log = log_with(&store, n).await;
    (store, log)
}

#[tokio::test]
async fn intact_chain_verifies_and_group_commit_keeps_order() {
    for t in test_stores() {
        let store = Store::open(&t.config).await.unwrap();
        let log = AuditLog::start(store.clone());
        let ctx = RequestContext::internal("test");
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let log = log.clone();
                let rec = ctx.record("key.decrypt", None);
                tokio::spawn(async move { log.record(rec).await.unwrap() })
            })
            .collect();
        let mut seqs = Vec::new();
        for task in tasks {
            seqs.push(task.await.unwrap());
        }
        seqs.sort();
        assert_eq!(seqs, (1..=200).collect::<Vec<i64>>(), "{}", t.label);
        let report = checked(&store).await;
        assert!(report.ok(), "{}: {report:?}", t.label);
        assert_eq!(report.records, 200);
    }
}

#[tokio::test]
async fn append_commits_with_the_change_or_not_at_all() {
    for t in test_stores() {
        let (store, log) = fresh(&t.config, 1).await;
        let ctx = RequestContext::internal("test");
        let mut tx = store.write().await.unwrap();
        let mut rec = ctx.record("key.create", Some("key:x".into()));
        rec.fail(Outcome::Failure, "test");
        log.append(&mut tx, &rec).await.unwrap();
        tx.rollback().await.unwrap();
        let report = checked(&store).await;
        assert!(report.ok(), "{}", t.label);
        assert_eq!(
            (report.records, report.head_seq),
            (1, 1),
            "{}: rollback left nothing",
            t.label
        );
    }
}

#[tokio::test]
async fn edited_record_is_caught() {
    for t in test_stores() {
        let (store, _log) = fresh(&t.config, 5).await;
        exec(
            &store,
            "UPDATE audit_log SET body = replace(body, 'key:k2', 'key:zz') WHERE seq = 3",
        )
        .await;
        let b = checked(&store).await.first_break.expect("caught");
        assert_eq!(b.seq, 3, "{}", t.label);
        assert!(b.problem.contains("edited"), "{}", b.problem);
    }
}

#[tokio::test]
async fn deleted_record_is_caught() {
    for t in test_stores() {
        let (store, _log) = fresh(&t.config, 5).await;
        exec(&store, "DELETE FROM audit_log WHERE seq = 2").await;
        let b = checked(&store).await.first_break.expect("caught");
        assert_eq!(b.seq, 2, "{}", t.label);
        assert!(b.problem.contains("missing"), "{}", b.problem);
    }
}

#[tokio::test]
async fn reordered_records_are_caught() {
    for t in test_stores() {
        let (store, _log) = fresh(&t.config, 5).await;
        // Swap the contents of records 2 and 3 but keep their sequence numbers.
        exec(&store, "UPDATE audit_log SET seq = -2 WHERE seq = 2").await;
        exec(&store, "UPDATE audit_log SET seq = 2 WHERE seq = 3").await;
        exec(&store, "UPDATE audit_log SET seq = 3 WHERE seq = -2").await;
        let b = checked(&store).await.first_break.expect("caught");
        assert_eq!(b.seq, 2, "{}", t.label);
        assert!(b.problem.contains("reordered"), "{}", b.problem);
    }
}

#[tokio::test]
async fn inserted_record_is_caught() {
    for t in test_stores() {
        let (store, _log) = fresh(&t.config, 3).await;
        // Forge a record between 1 and 2 by renumbering the later ones.
        exec(&store, "UPDATE audit_log SET seq = seq + 10 WHERE seq >= 2").await;
        exec(&store, "UPDATE audit_log SET seq = seq - 9 WHERE seq >= 12").await;
        exec(
            &store,
            "INSERT INTO audit_log (seq, time_ms, body, prev_hash, hash) \
             SELECT 2, time_ms, body, prev_hash, hash FROM audit_log WHERE seq = 1",
        )
        .await;
        let b = checked(&store).await.first_break.expect("caught");
        assert_eq!(b.seq, 2, "{}", t.label);
    }
}

#[tokio::test]
async fn truncated_tail_is_caught() {
    for t in test_stores() {
        let (store, _log) = fresh(&t.config, 6).await;
        exec(&store, "DELETE FROM audit_log WHERE seq >= 5").await;
        let report = checked(&store).await;
        let b = report.first_break.expect("caught");
        assert_eq!(b.seq, 5, "{}", t.label);
        assert!(b.problem.contains("newest"), "{}", b.problem);
    }
}

#[tokio::test]
async fn hmac_hides_values_and_is_null_while_sealed() {
    for t in test_stores() {
        let (_store, log) = fresh(&t.config, 0).await;
        assert_eq!(log.hmac(b"patient/123"), serde_json::Value::Null);
        log.set_hmac_key(Some(webqx_crypto::SecretBytes::from_slice(&[1u8; 32])));
        let h = log.hmac(b"patient/123");
        let text = h.as_str().unwrap();
        assert_eq!(text.len(), 64);
        assert!(!text.contains("patient"));
        assert_eq!(h, log.hmac(b"patient/123"));
    }
}

#[tokio::test]
async fn edited_index_time_is_caught() {
    for t in test_stores() {
        let (store, _log) = fresh(&t.config, 6).await;
        exec(&store, "UPDATE audit_log SET time_ms = 0 WHERE seq = 4").await;
        let b = checked(&store).await.first_break.expect("caught");
        assert_eq!(b.seq, 4, "{}", t.label);
        assert!(b.problem.contains("indexed time"), "{}", b.problem);
    }
}
