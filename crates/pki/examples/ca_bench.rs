//! Certificate authority benchmark (figures for docs/benchmarks.md; not a test):
//!
//! 1. certificates issued AND stored per second (ECDSA P-256 keys generated here, each
//!    certificate committed durably with its audit record): one `issue` at a time, then
//!    `issue_batch` (keys and signatures on every core, one transaction per batch);
//! 2. CRL rebuild (read, sign, store) with 100,000 revoked certificates;
//! 3. OCSP responses per second through `Authority::ocsp` (parse, look up, sign).
//!
//! cargo run --release -p webqx-pki --example ca_bench -- [BATCHED] [BATCH] [REVOKED]

use std::sync::Arc;
use std::time::{Duration, Instant};
use webqx_audit::{AuditLog, RequestContext};
use webqx_kms::{InitMethod, Kms, KmsError};
use webqx_pki::ca::{Authority, IssueRequest, KeyAlgorithm, PkiSettings, Profile};
use webqx_store::{Store, StoreConfig};

fn req(i: usize) -> IssueRequest {
    IssueRequest {
        names: vec!["localhost".into()],
        profile: Profile::TlsServer,
        key: KeyAlgorithm::EcdsaP256,
        ttl: None,
        issuer: None,
        store_key: false,
        requester: format!("bench:{i}"),
        source: "bench".into(),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let batched: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let batch: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let revoked: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = match std::env::var("WEBQX_BENCH_POSTGRES") {
        Ok(url) => StoreConfig {
            url,
            schema: Some(format!("ca_bench_{}", std::process::id())),
            max_connections: 8,
        },
        Err(_) => StoreConfig::sqlite(&dir.path().join("store.db")),
    };
    let store = Store::open(&config).await.expect("store");
    let audit = AuditLog::start(store.clone());
    let kms = Arc::new(Kms::new(store.clone(), audit.clone(), Default::default()));
    let ctx = RequestContext::internal("bench");
    kms.initialize(&ctx, InitMethod::KeyFile)
        .await
        .expect("init");
    let root = webqx_pki::new_local_ca("WebQx Security Local CA bench").expect("root");
    audit
        .transact(ctx.record("bench.setup", None), async |tx, _| {
            kms.put_secret(tx, "ca.key", &root.key_pkcs8).await?;
            Ok::<_, KmsError>(())
        })
        .await
        .expect("root key");
    let pki = Authority::new(store.clone(), kms, audit, PkiSettings::default());
    pki.adopt_root(&root.cert_pem).await.expect("adopt");
    pki.ensure_ready().await.expect("ready");
    println!(
        "store: {}",
        if config.url.starts_with("postgres") {
            "PostgreSQL"
        } else {
            "SQLite (WAL, synchronous=FULL)"
        }
    );

    // 1a. One at a time.
    let single = 500;
    let t = Instant::now();
    for i in 0..single {
        pki.issue(&ctx, req(i)).await.expect("issue");
    }
    let rate = single as f64 / t.elapsed().as_secs_f64();
    println!(
        "issue, one per call (each its own durable transaction): {single} in {:.2?}, {rate:.0}/s",
        t.elapsed()
    );

    // 1b. Batches.
    let t = Instant::now();
    let mut done = 0;
    while done < batched {
        let n = batch.min(batched - done);
        let out = pki
            .issue_batch(&ctx, (done..done + n).map(req).collect())
            .await
            .expect("batch");
        assert_eq!(out.len(), n);
        done += n;
    }
    let rate = batched as f64 / t.elapsed().as_secs_f64();
    println!(
        "issue_batch of {batch} (one durable transaction per batch): {batched} in {:.2?}, {rate:.0}/s",
        t.elapsed()
    );

    // 2. CRL with `revoked` revoked certificates: issue the rest, revoke all in bulk
    //    (one UPDATE; revoking one by one is `revoke`, audited each).
    let have = single + batched;
    let mut done = have;
    while done < revoked {
        let n = 5_000.min(revoked - done);
        pki.issue_batch(&ctx, (done..done + n).map(req).collect())
            .await
            .expect("batch");
        done += n;
    }
    let mut tx = store.write().await.expect("tx");
    webqx_store::query(
        "UPDATE pki_certs SET revoked_ms = $1, revoke_reason = 1 \
         WHERE serial IN (SELECT serial FROM pki_certs ORDER BY created_ms LIMIT $2)",
    )
    .bind(webqx_store::now_ms())
    .bind(i64::try_from(revoked).unwrap_or(i64::MAX))
    .execute(tx.conn())
    .await
    .expect("bulk revoke");
    tx.commit().await.expect("commit");
    let issuer = pki.default_issuer().expect("issuer");
    let mut best = Duration::MAX;
    let mut size = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let crl = pki.rebuild_crl(&issuer).await.expect("crl");
        best = best.min(t.elapsed());
        size = crl.der.len();
    }
    println!(
        "CRL rebuild with {revoked} revoked (read, sign, store; best of 3): {best:.2?}, {size} bytes DER"
    );

    // 3. OCSP.
    let chain = pki.issuing_chain_pem(None).expect("chain");
    let der = webqx_pki::certs_from_pem(chain.as_bytes()).expect("pem")[0]
        .as_ref()
        .to_vec();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("cert");
    let sha1 = |d: &[u8]| {
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, d)
            .as_ref()
            .to_vec()
    };
    let name_hash = sha1(cert.subject().as_raw());
    let key_hash = sha1(&cert.public_key().subject_public_key.data);
    let page = pki.list(&Default::default()).await.expect("list");
    let serial = hex::decode(&page.items[0].serial).expect("hex");
    let request = ocsp_request(&name_hash, &key_hash, &serial);
    let tasks = 4;
    let secs = 5;
    let t = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (pki, request) = (pki.clone(), request.clone());
        handles.push(tokio::spawn(async move {
            let mut n = 0u64;
            let end = Instant::now() + Duration::from_secs(secs);
            while Instant::now() < end {
                let r = pki.ocsp(&request).await;
                assert!(r.len() > 100, "a signed response");
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await.expect("task");
    }
    let rate = total as f64 / t.elapsed().as_secs_f64();
    println!(
        "OCSP responses (parse, status lookup, sign), {tasks} concurrent callers: {rate:.0}/s"
    );
    store.close().await;
}

/// A minimal OCSPRequest for one certificate, SHA-1 CertID, no nonce.
fn ocsp_request(name_hash: &[u8], key_hash: &[u8], serial: &[u8]) -> Vec<u8> {
    webqx_pki::ca::ocsp::build_request(name_hash, key_hash, serial, None)
}
