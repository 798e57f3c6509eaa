//! Audit trail benchmark (figures for docs/benchmarks.md; not a test):
//!
//! 1. durable appends per second through the group-commit writer with concurrent
//!    writers, beside raw SQLite inserts of rows of the same size in the same database
//!    settings (WAL, `synchronous=FULL`), each insert its own durable transaction, with
//!    the same number of concurrent writers — and, for scale, the same rows inserted in
//!    one transaction (not durable per row);
//! 2. `verify` records per second over the trail just written;
//! 3. SIEM delivery rate to a real rsyslogd (RFC 5425, GnuTLS driver) on 127.0.0.1.
//!
//! cargo run --release -p webqx-siem --example audit_bench -- [RECORDS] [WRITERS]

use std::sync::Arc;
use std::time::{Duration, Instant};
use webqx_audit::{AuditLog, RequestContext};
use webqx_siem::sink::{SinkConfig, SinkKind, Sinks, SyslogConfig, Transport};
use webqx_store::{Store, StoreConfig, query};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let records: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let writers: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(64);
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&StoreConfig::sqlite(&dir.path().join("store.db")))
        .await
        .expect("store");
    let log = AuditLog::start(store.clone());

    let sample = sample_body_len(&log, &store).await;
    let ours = appends(&log, records, writers).await;
    let raw = raw_inserts(&store, records, writers, sample).await;
    let one_tx = raw_one_transaction(&store, records, sample).await;
    println!(
        "appends: {records} records of ~{sample} B, {writers} writers: {ours:.0} records/s \
         (group commit) vs {raw:.0}/s raw SQLite autocommit inserts ({:.2}x); one-transaction \
         raw inserts {one_tx:.0}/s",
        ours / raw
    );

    let started = Instant::now();
    let report = webqx_audit::verify(&store).await.expect("verify");
    let secs = started.elapsed().as_secs_f64();
    assert!(report.ok(), "{report:?}");
    println!(
        "verify: {} records in {secs:.3} s = {:.0} records/s",
        report.records,
        report.records as f64 / secs
    );

    let started = Instant::now();
    let mut after = 0i64;
    let mut rows_read = 0usize;
    loop {
        let rows = query(
            "SELECT seq, body, prev_hash, hash FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT 5000",
        )
        .bind(after)
        .fetch_all(store.pool())
        .await
        .expect("read");
        let Some(last) = rows.last() else { break };
        after = webqx_store::Row::try_get(last, 0).expect("seq");
        rows_read += rows.len();
    }
    println!(
        "reading the same rows without checking them: {:.0} rows/s (the database's share)",
        rows_read as f64 / started.elapsed().as_secs_f64()
    );

    match rsyslog_delivery(&store, &log, dir.path()).await {
        Some((n, secs)) => println!(
            "delivery to rsyslog over TLS: {n} records in {secs:.2} s = {:.0} records/s",
            n as f64 / secs
        ),
        None => println!("delivery to rsyslog: skipped (/usr/sbin/rsyslogd not installed)"),
    }
}

/// A typical record: an encrypt request with a context HMAC.
fn record(ctx: &RequestContext, i: usize) -> webqx_audit::AuditRecord {
    let mut rec = ctx.record("key.encrypt", Some("key:phi".into()));
    rec.detail("key_version", 3)
        .detail("items", 1)
        .detail("i", i);
    rec.hmac.insert(
        "context".into(),
        "3f1a9c0d5e7b2a4c6d8e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e".into(),
    );
    rec
}

async fn sample_body_len(log: &AuditLog, store: &Store) -> usize {
    let ctx = RequestContext::internal("bench");
    let seq = log.record(record(&ctx, 0)).await.expect("append");
    let row = query("SELECT length(body) FROM audit_log WHERE seq = $1")
        .bind(seq)
        .fetch_one(store.pool())
        .await
        .expect("row");
    let len: i64 = webqx_store::Row::try_get(&row, 0).expect("len");
    len as usize + 64 + 16
}

async fn appends(log: &Arc<AuditLog>, records: usize, writers: usize) -> f64 {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let log = log.clone();
        let n = records / writers;
        tasks.push(tokio::spawn(async move {
            let ctx = RequestContext::internal("bench");
            for i in 0..n {
                log.record(record(&ctx, w * n + i)).await.expect("append");
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    (records / writers * writers) as f64 / started.elapsed().as_secs_f64()
}

async fn raw_inserts(store: &Store, records: usize, writers: usize, size: usize) -> f64 {
    query("CREATE TABLE bench_raw (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        .execute(store.pool())
        .await
        .expect("table");
    let body = vec![b'x'; size];
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let store = store.clone();
        let body = body.clone();
        let n = records / writers;
        tasks.push(tokio::spawn(async move {
            for _ in 0..n {
                query("INSERT INTO bench_raw (body) VALUES ($1)")
                    .bind(&body)
                    .execute(store.pool())
                    .await
                    .expect("insert");
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    (records / writers * writers) as f64 / started.elapsed().as_secs_f64()
}

async fn raw_one_transaction(store: &Store, records: usize, size: usize) -> f64 {
    let body = vec![b'y'; size];
    let started = Instant::now();
    let mut tx = store.pool().begin().await.expect("begin");
    for _ in 0..records {
        query("INSERT INTO bench_raw (body) VALUES ($1)")
            .bind(&body)
            .execute(&mut *tx)
            .await
            .expect("insert");
    }
    tx.commit().await.expect("commit");
    records as f64 / started.elapsed().as_secs_f64()
}

/// Starts rsyslogd with a TLS listener and a sink from the trail's start; returns the
/// records delivered and the seconds until the sink's cursor reached the head.
async fn rsyslog_delivery(
    store: &Store,
    log: &Arc<AuditLog>,
    dir: &std::path::Path,
) -> Option<(i64, f64)> {
    if !std::path::Path::new("/usr/sbin/rsyslogd").exists() {
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let r = dir.join("rsyslog");
    std::fs::create_dir_all(r.join("work")).ok()?;
    let ca = webqx_pki::new_local_ca("bench CA").ok()?;
    let leaf = webqx_pki::issue_server(&ca, &["localhost".to_string()], 2).ok()?;
    std::fs::write(r.join("ca.pem"), &ca.cert_pem).ok()?;
    std::fs::write(r.join("cert.pem"), &leaf.cert_pem).ok()?;
    std::fs::write(r.join("key.pem"), leaf.key_pem.expose()).ok()?;
    let d = r.display();
    std::fs::write(
        r.join("rsyslog.conf"),
        format!(
            r#"global(workDirectory="{d}/work" maxMessageSize="256k" DefaultNetstreamDriver="gtls"
  DefaultNetstreamDriverCAFile="{d}/ca.pem" DefaultNetstreamDriverCertFile="{d}/cert.pem"
  DefaultNetstreamDriverKeyFile="{d}/key.pem")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
input(type="imtcp" address="127.0.0.1" port="{port}")
action(type="omfile" file="{d}/out.log")
"#
        ),
    )
    .ok()?;
    let mut child = std::process::Command::new("/usr/sbin/rsyslogd")
        .args(["-n", "-f"])
        .arg(r.join("rsyslog.conf"))
        .arg("-i")
        .arg(r.join("pid"))
        .spawn()
        .ok()?;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut syslog = SyslogConfig::new(Transport::Tls, &format!("127.0.0.1:{port}"));
    syslog.ca_file = Some(r.join("ca.pem"));
    syslog.server_name = Some("localhost".into());
    let mut config = SinkConfig::new("bench", SinkKind::Syslog(syslog));
    config.batch_size = 2000;
    let (head, _) = webqx_audit::trail::head(store).await.ok()?;
    let started = Instant::now();
    let sinks = Sinks::start(store.clone(), log.clone(), vec![config], "bench".into())
        .await
        .ok()?;
    loop {
        let status = sinks.status().await;
        if status.first().is_some_and(|s| s.delivered_seq >= head) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    sinks.shutdown(Duration::from_secs(1)).await;
    let _ = child.kill();
    let _ = child.wait();
    Some((head, secs))
}
