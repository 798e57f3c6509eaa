//! SIEM sinks, against receivers started here on 127.0.0.1: every record delivered,
//! nothing lost when a receiver is down or drops the connection, the spool bound, file
//! rotation and replacement, and the lease shared by several nodes. On SQLite and (when
//! configured) PostgreSQL.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::time::{Instant, sleep};
use webqx_audit::{AuditError, AuditLog, RequestContext, TrailQuery, trail};
use webqx_siem::Format;
use webqx_siem::sink::{
    FileConfig, HecConfig, OnFull, SinkConfig, SinkKind, SinkState, SinkStatus, Sinks,
    SyslogConfig, Transport, WebhookConfig, validate,
};
use webqx_store::{Row, Store, query};
use webqx_testkit::test_stores;

/// Polls `$cond` every 50 ms for up to 90 s (generous: the machine may be loaded).
macro_rules! eventually {
    ($what:expr, $cond:expr) => {{
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if $cond {
                break;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {}", $what);
            sleep(Duration::from_millis(50)).await;
        }
    }};
}

async fn open(config: &webqx_store::StoreConfig) -> (Store, Arc<AuditLog>) {
    let store = Store::open(config).await.unwrap();
    let audit = AuditLog::start(store.clone());
    (store, audit)
}

async fn write_records(audit: &Arc<AuditLog>, n: usize) {
    let ctx = RequestContext::internal("test");
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let audit = audit.clone();
            let mut rec = ctx.record("key.encrypt", Some(format!("key:k{i}")));
            rec.detail("i", i as i64);
            tokio::spawn(async move { audit.record(rec).await.unwrap() })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

async fn head(store: &Store) -> i64 {
    trail::head(store).await.unwrap().0
}

async fn status(sinks: &Sinks, name: &str) -> SinkStatus {
    sinks
        .status()
        .await
        .into_iter()
        .find(|s| s.name == name)
        .expect("sink in status")
}

fn sink(name: &str, kind: SinkKind) -> SinkConfig {
    let mut config = SinkConfig::new(name, kind);
    config.format = Format::Jsonl;
    config.retry_initial = "100ms".into();
    config.retry_max = "500ms".into();
    config
}

fn syslog(name: &str, transport: Transport, addr: SocketAddr) -> SinkConfig {
    let mut s = SyslogConfig::new(transport, &addr.to_string());
    s.hostname = Some("test-host".into());
    sink(name, SinkKind::Syslog(s))
}

/// Messages received, in arrival order.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<String>>>);

impl Received {
    fn push(&self, m: String) {
        self.0.lock().unwrap().push(m);
    }
    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    /// Distinct seqs, checking that each seq always came with the same id.
    fn seqs(&self) -> BTreeSet<i64> {
        let mut ids: BTreeMap<i64, String> = BTreeMap::new();
        for m in self.all() {
            let (id, seq) = syslog_ids(&m);
            let known = ids.entry(seq).or_insert_with(|| id.clone());
            assert_eq!(*known, id, "seq {seq} came with two ids");
        }
        ids.into_keys().collect()
    }
}

/// `id` and `seq` from the `[webqx@32473 id=".." seq=".."]` element.
fn syslog_ids(m: &str) -> (String, i64) {
    let sd = &m[m.find("[webqx@32473 ").expect("structured data")..];
    let id = sd.split("id=\"").nth(1).unwrap().split('"').next().unwrap();
    let seq = sd
        .split("seq=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    (id.to_owned(), seq.parse().unwrap())
}

fn upto(n: i64) -> BTreeSet<i64> {
    (1..=n).collect()
}

/// Reads octet-counted frames until the peer closes, or until `close_after` frames.
async fn read_frames(mut r: impl AsyncRead + Unpin, out: Received, close_after: Option<usize>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let mut count = 0;
    loop {
        while let Some(sp) = buf.iter().position(|b| *b == b' ') {
            let len: usize = std::str::from_utf8(&buf[..sp]).unwrap().parse().unwrap();
            if buf.len() < sp + 1 + len {
                break;
            }
            let msg = String::from_utf8(buf[sp + 1..sp + 1 + len].to_vec()).unwrap();
            buf.drain(..sp + 1 + len);
            out.push(msg);
            count += 1;
            if close_after.is_some_and(|k| count >= k) {
                return;
            }
        }
        match r.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A syslog receiver on `listener`; the first connection is closed after
/// `close_first_after` frames, when given.
fn serve_tcp(listener: TcpListener, out: Received, close_first_after: Option<usize>) {
    tokio::spawn(async move {
        let mut first = true;
        while let Ok((stream, _)) = listener.accept().await {
            let limit = if first { close_first_after } else { None };
            first = false;
            tokio::spawn(read_frames(stream, out.clone(), limit));
        }
    });
}

async fn tcp_receiver() -> (SocketAddr, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let out = Received::default();
    serve_tcp(listener, out.clone(), None);
    (addr, out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_tcp_delivers_every_record_once() {
    for t in test_stores() {
        let (store, audit) = open(&t.config).await;
        write_records(&audit, 150).await;
        let (addr, received) = tcp_receiver().await;
        let mut config = syslog("tcp", Transport::Tcp, addr);
        config.batch_size = 64;
        let sinks = Sinks::start(store.clone(), audit.clone(), vec![config], "node-a".into())
            .await
            .unwrap();
        write_records(&audit, 150).await;

        eventually!("300 records", received.len() >= 300);
        assert_eq!(received.seqs(), upto(300), "{}", t.label);
        assert_eq!(received.len(), 300, "{}: nothing twice", t.label);
        let ids: BTreeSet<String> = received.all().iter().map(|m| syslog_ids(m).0).collect();
        assert_eq!(ids.len(), 300, "{}: ids unique", t.label);

        let first = &received.all()[0];
        assert!(first.starts_with("<85>1 "), "{first}");
        assert!(first.contains(" test-host webqx-sec "), "{first}");
        assert!(first.contains(" webqx-audit [webqx@32473 id=\""), "{first}");
        let json: Value = serde_json::from_str(first.split("\"] ").nth(1).unwrap()).unwrap();
        assert!(json["hash"].is_string() && json["seq"].is_i64(), "{json}");

        eventually!("cursor at head", status(&sinks, "tcp").await.spooled == 0);
        let s = status(&sinks, "tcp").await;
        assert_eq!(s.delivered_seq, head(&store).await);
        assert_eq!(s.owner.as_deref(), Some("node-a"));
        assert_eq!(s.kind, "syslog");
        assert_eq!(s.lag_seconds, 0.0);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["type"], "syslog");
        assert_eq!(json["format"], "jsonl");
        sinks.shutdown(Duration::from_secs(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_udp_one_datagram_per_record() {
    for t in test_stores() {
        let (store, audit) = open(&t.config).await;
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let received = Received::default();
        let out = received.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 70_000];
            while let Ok(n) = socket.recv(&mut buf).await {
                out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        });
        let mut config = syslog("udp", Transport::Udp, addr);
        config.batch_size = 5;
        let sinks = Sinks::start(store, audit.clone(), vec![config], "n".into())
            .await
            .unwrap();
        write_records(&audit, 20).await;
        eventually!("20 datagrams", received.len() >= 20);
        assert_eq!(received.seqs(), upto(20), "{}", t.label);

        // A message above 65,000 bytes is cut to fit one datagram.
        let mut big = RequestContext::internal("test").record("key.encrypt", None);
        big.detail("blob", "x".repeat(70_000));
        audit.record(big).await.unwrap();
        eventually!("the long one", received.len() >= 21);
        let long = received.all().pop().unwrap();
        assert_eq!(long.len(), 65_000, "{}", t.label);
        assert_eq!(syslog_ids(&long).1, 21);
        sinks.shutdown(Duration::from_secs(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_receiver_down_then_up_loses_nothing() {
    for t in test_stores() {
        let (store, audit) = open(&t.config).await;
        // Reserve a port, then leave it closed: the receiver is down.
        let addr = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let sinks = Sinks::start(
            store.clone(),
            audit.clone(),
            vec![syslog("down", Transport::Tcp, addr)],
            "n".into(),
        )
        .await
        .unwrap();
        write_records(&audit, 40).await;
        eventually!("retrying", {
            let s = status(&sinks, "down").await;
            s.state == SinkState::Retrying && s.last_error.is_some()
        });
        let s = status(&sinks, "down").await;
        assert_eq!((s.delivered_seq, s.spooled), (0, 40), "{}", t.label);
        assert!(s.last_error.unwrap().contains("cannot connect"));

        let listener = TcpListener::bind(addr).await.unwrap();
        let received = Received::default();
        serve_tcp(listener, received.clone(), None);
        write_records(&audit, 10).await;
        eventually!("50 records", received.seqs().len() >= 50);
        assert_eq!(received.seqs(), upto(50), "{}", t.label);
        eventually!(
            "idle",
            status(&sinks, "down").await.state == SinkState::Idle
        );
        assert_eq!(status(&sinks, "down").await.last_error, None);
        sinks.shutdown(Duration::from_secs(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_connection_closed_by_receiver_is_resent() {
    for t in test_stores() {
        let (store, audit) = open(&t.config).await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Received::default();
        // The first connection is dropped after 10 frames, whatever we wrote after them.
        serve_tcp(listener, received.clone(), Some(10));
        let mut config = syslog("drop", Transport::Tcp, addr);
        config.batch_size = 10;
        let sinks = Sinks::start(store, audit.clone(), vec![config], "n".into())
            .await
            .unwrap();
        for _ in 0..10 {
            write_records(&audit, 10).await;
        }
        eventually!("100 distinct records", received.seqs().len() >= 100);
        assert_eq!(received.seqs(), upto(100), "{}", t.label);
        sinks.shutdown(Duration::from_secs(5)).await;
    }
}

/// A CA for receivers (from webqx-pki) and a separate CA for our client certificate.
struct Pki {
    dir: tempfile::TempDir,
    server: Arc<rustls::ServerConfig>,
}

fn pki(require_client_cert: bool) -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let ca = webqx_pki::new_local_ca("sinks test CA").unwrap();
    let leaf = webqx_pki::issue_server(&ca, &["127.0.0.1".into(), "localhost".into()], 2).unwrap();
    std::fs::write(dir.path().join("ca.pem"), &ca.cert_pem).unwrap();

    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let client_ca_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "client CA");
    let client_ca = params.self_signed(&client_ca_key).unwrap();
    let issuer = rcgen::Issuer::new(params, client_ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf_params = CertificateParams::new(vec!["webqx-node".to_string()]).unwrap();
    leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client = leaf_params.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.path().join("client.pem"), client.pem()).unwrap();
    std::fs::write(dir.path().join("client.key"), key.serialize_pem()).unwrap();

    let provider = webqx_pki::provider();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if require_client_cert {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(client_ca.der().clone()).unwrap();
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let chain = webqx_pki::certs_from_pem(leaf.cert_pem.as_bytes()).unwrap();
    use rustls_pki_types::pem::PemObject;
    let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(leaf.key_pem.expose()).unwrap();
    let server = Arc::new(builder.with_single_cert(chain, key).unwrap());
    Pki { dir, server }
}

impl Pki {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

async fn tls_receiver(server: Arc<rustls::ServerConfig>) -> (SocketAddr, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let out = Received::default();
    let received = out.clone();
    let acceptor = tokio_rustls::TlsAcceptor::from(server);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let out = out.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(stream).await {
                    read_frames(tls, out, None).await;
                }
            });
        }
    });
    (addr, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_tls_with_client_certificate() {
    let pki = pki(true);
    for t in test_stores() {
        let (store, audit) = open(&t.config).await;
        let (addr, received) = tls_receiver(pki.server.clone()).await;
        let mut with_cert = SyslogConfig::new(Transport::Tls, &addr.to_string());
        with_cert.ca_file = Some(pki.path("ca.pem"));
        with_cert.client_cert_file = Some(pki.path("client.pem"));
        with_cert.client_key_file = Some(pki.path("client.key"));
        let mut without_cert = with_cert.clone();
        without_cert.client_cert_file = None;
        without_cert.client_key_file = None;
        let configs = vec![
            sink("mtls", SinkKind::Syslog(with_cert)),
            sink("anon", SinkKind::Syslog(without_cert)),
        ];
        let sinks = Sinks::start(store, audit.clone(), configs, "n".into())
            .await
            .unwrap();
        write_records(&audit, 120).await;
        eventually!("120 records over mutual TLS", received.seqs().len() >= 120);
        assert_eq!(received.seqs(), upto(120), "{}", t.label);
        assert_eq!(received.len(), 120, "{}: nothing twice", t.label);

        eventually!("the sink without a certificate fails", {
            let s = status(&sinks, "anon").await;
            s.last_error.is_some() && s.delivered_seq == 0
        });
        let error = status(&sinks, "anon").await.last_error.unwrap();
        assert!(error.contains("certificate"), "{error}");
        sinks.shutdown(Duration::from_secs(5)).await;
    }
}

/// One HTTP request as the mock server saw it.
#[derive(Debug, Clone)]
struct Request {
    headers: http::HeaderMap,
    body: Bytes,
}

type Decide = dyn Fn(&Request) -> (u16, String) + Send + Sync;

/// A minimal HTTP/1.1 server (HTTPS when `tls` is given): records each request and
/// answers what `decide` says.
async fn http_server(
    tls: Option<Arc<rustls::ServerConfig>>,
    decide: Arc<Decide>,
) -> (SocketAddr, Arc<Mutex<Vec<(Request, u16)>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let decide = decide.clone();
            let log = log.clone();
            let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let decide = decide.clone();
                let log = log.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    let body = body
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let request = Request {
                        headers: parts.headers,
                        body,
                    };
                    let (code, text) = decide(&request);
                    log.lock().unwrap().push((request, code));
                    let response = http::Response::builder()
                        .status(code)
                        .body(Full::new(Bytes::from(text)))
                        .unwrap();
                    Ok::<_, std::convert::Infallible>(response)
                }
            });
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let http = hyper::server::conn::http1::Builder::new();
                match acceptor {
                    Some(a) => {
                        if let Ok(tls) = a.accept(stream).await {
                            let _ = http.serve_connection(TokioIo::new(tls), service).await;
                        }
                    }
                    None => {
                        let _ = http.serve_connection(TokioIo::new(stream), service).await;
                    }
                }
            });
        }
    });
    (addr, seen)
}

const TOKEN: &str = "hec-token-5f1c2a9e";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splunk_hec_with_retries_and_a_refused_token() {
    let pki = pki(false);
    std::fs::write(pki.path("token"), format!("{TOKEN}\n")).unwrap();
    std::fs::write(pki.path("wrong"), "not-the-token").unwrap();
    for t in test_stores() {
        let (store, audit) = open(&t.config).await;
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let decide: Arc<Decide> = Arc::new(move |r: &Request| {
            let auth = r.headers.get("authorization").and_then(|v| v.to_str().ok());
            if auth != Some(&format!("Splunk {TOKEN}")) {
                return (401, r#"{"text":"Invalid token","code":4}"#.into());
            }
            if counter.fetch_add(1, Ordering::SeqCst) < 2 {
                return (503, r#"{"text":"Server is busy","code":9}"#.into());
            }
            (200, r#"{"text":"Success","code":0}"#.into())
        });
        let (addr, seen) = http_server(Some(pki.server.clone()), decide).await;
        let url = format!("https://127.0.0.1:{}/services/collector/event", addr.port());
        let mut good = HecConfig::new(&url, pki.path("token"));
        good.ca_file = Some(pki.path("ca.pem"));
        good.index = Some("security".into());
        let mut bad = good.clone();
        bad.token_file = Some(pki.path("wrong"));
        let mut good = sink("hec", SinkKind::SplunkHec(good));
        good.batch_size = 40;
        let configs = vec![good, sink("hec-bad", SinkKind::SplunkHec(bad))];
        let sinks = Sinks::start(store, audit.clone(), configs, "n".into())
            .await
            .unwrap();
        write_records(&audit, 100).await;

        let accepted = || -> Vec<Value> {
            let seen = seen.lock().unwrap();
            seen.iter()
                .filter(|(_, code)| *code == 200)
                .flat_map(|(r, _)| {
                    serde_json::Deserializer::from_slice(&r.body)
                        .into_iter::<Value>()
                        .map(Result::unwrap)
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        eventually!("100 HEC events", accepted().len() >= 100);
        let events = accepted();
        assert_eq!(events.len(), 100, "{}: nothing twice", t.label);
        let seqs: BTreeSet<i64> = events
            .iter()
            .map(|e| e["fields"]["webqx_seq"].as_i64().unwrap())
            .collect();
        assert_eq!(seqs, upto(100));
        let e = &events[0];
        assert_eq!(e["sourcetype"], "webqx:audit");
        assert_eq!(e["source"], "webqx-sec");
        assert_eq!(e["index"], "security");
        assert!(e["time"].as_f64().unwrap() > 1.7e9, "{e}");
        assert_eq!(e["event"]["id"], e["fields"]["webqx_id"]);
        assert!(e["event"]["hash"].is_string());
        assert!(calls.load(Ordering::SeqCst) >= 3, "the 503s were retried");

        eventually!("the wrong token is reported", {
            status(&sinks, "hec-bad").await.last_error.is_some()
        });
        let s = status(&sinks, "hec-bad").await;
        let error = s.last_error.unwrap();
        assert!(error.contains("401") && error.contains("token"), "{error}");
        assert!(!error.contains(TOKEN) && !error.contains("not-the-token"));
        assert_eq!(s.state, SinkState::Retrying);
        assert_eq!(s.delivered_seq, 0);
        sinks.shutdown(Duration::from_secs(5)).await;
    }
}

/// A webhook receiver on http://127.0.0.1 that verifies signatures and answers 503
/// while `up` is false. Returns the verified events.
async fn webhook_receiver(
    secret: &'static [u8],
    up: Arc<AtomicBool>,
) -> (SocketAddr, Arc<Mutex<Vec<(Request, u16)>>>) {
    let decide: Arc<Decide> = Arc::new(move |r: &Request| {
        let ts = r.headers["x-webqx-timestamp"].to_str().unwrap();
        let sig = r.headers["x-webqx-signature"].to_str().unwrap();
        let mut signed = ts.as_bytes().to_vec();
        signed.push(b'.');
        signed.extend_from_slice(&r.body);
        let tag = hex::decode(sig.strip_prefix("v1=").unwrap()).unwrap();
        if !webqx_crypto::mac::verify(webqx_crypto::mac::Algorithm::Sha256, secret, &signed, &tag) {
            return (401, String::new());
        }
        let age = webqx_store::now_ms() / 1000 - ts.parse::<i64>().unwrap();
        assert!(age.abs() < 300, "timestamp within five minutes");
        if up.load(Ordering::SeqCst) {
            (204, String::new())
        } else {
            (503, String::new())
        }
    });
    http_server(None, decide).await
}

fn accepted_events(seen: &Mutex<Vec<(Request, u16)>>) -> Vec<Value> {
    let seen = seen.lock().unwrap();
    let mut out = Vec::new();
    for (r, code) in seen.iter() {
        if *code != 204 {
            continue;
        }
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        let events = body["events"].as_array().unwrap();
        let key = r.headers["idempotency-key"].to_str().unwrap();
        let first = events.first().unwrap()["id"].as_str().unwrap();
        let last = events.last().unwrap()["id"].as_str().unwrap();
        assert_eq!(key, format!("{first}..{last}"));
        out.extend(events.iter().cloned());
    }
    out
}

fn webhook(name: &str, addr: SocketAddr, secret_file: &Path) -> SinkConfig {
    let w = WebhookConfig {
        url: format!("http://127.0.0.1:{}/siem", addr.port()),
        secret_file: Some(secret_file.to_owned()),
        secret_env: None,
        ca_file: None,
    };
    sink(name, SinkKind::Webhook(w))
}

fn seqs_of(events: &[Value]) -> BTreeSet<i64> {
    events.iter().map(|e| e["seq"].as_i64().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_batches_are_signed() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, "webhook-secret\n").unwrap();
    for t in test_stores() {
        let (store, audit) = open(&t.config).await;
        let (addr, seen) =
            webhook_receiver(b"webhook-secret", Arc::new(AtomicBool::new(true))).await;
        let mut config = webhook("hook", addr, &secret_file);
        config.batch_size = 30;
        let sinks = Sinks::start(store, audit.clone(), vec![config], "n".into())
            .await
            .unwrap();
        write_records(&audit, 70).await;
        eventually!("70 events", accepted_events(&seen).len() >= 70);
        let events = accepted_events(&seen);
        assert_eq!(events.len(), 70, "{}", t.label);
        assert_eq!(seqs_of(&events), upto(70));
        assert!(seen.lock().unwrap().iter().all(|(_, code)| *code == 204));
        sinks.shutdown(Duration::from_secs(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_spool_refuses_state_changes_until_drained() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, "s3cret").unwrap();
    for t in test_stores() {
        let (store, audit) = open(&t.config).await;
        let up = Arc::new(AtomicBool::new(false));
        let (addr, seen) = webhook_receiver(b"s3cret", up.clone()).await;
        let mut config = webhook("bounded", addr, &secret_file);
        config.max_spool_records = 5;
        assert_eq!(config.on_full, OnFull::Refuse);
        let sinks = Sinks::start(store.clone(), audit.clone(), vec![config], "n".into())
            .await
            .unwrap();
        write_records(&audit, 5).await;
        eventually!(
            "full",
            status(&sinks, "bounded").await.state == SinkState::Full
        );
        assert!(audit.refusal().is_some());

        let ctx = RequestContext::internal("test");
        let mut tx = store.write().await.unwrap();
        let refused = audit.append(&mut tx, &ctx.record("key.create", None)).await;
        tx.rollback().await.unwrap();
        match refused {
            Err(AuditError::SpoolFull(m)) => {
                assert!(
                    m.contains("'bounded'") && m.contains("max_spool_records"),
                    "{m}"
                )
            }
            other => panic!("{}: expected SpoolFull, got {other:?}", t.label),
        }
        // Requests that change nothing are still audited.
        write_records(&audit, 2).await;

        up.store(true, Ordering::SeqCst);
        eventually!("drained", audit.refusal().is_none());
        eventually!("7 events", seqs_of(&accepted_events(&seen)) == upto(7));
        let mut tx = store.write().await.unwrap();
        audit
            .append(&mut tx, &ctx.record("key.create", None))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        eventually!("8 events", seqs_of(&accepted_events(&seen)) == upto(8));
        sinks.shutdown(Duration::from_secs(5)).await;
    }
}

async fn trail_actions(store: &Store) -> Vec<(i64, String, Value)> {
    let q = TrailQuery {
        limit: 10_000,
        ..TrailQuery::default()
    };
    trail::read(store, &q)
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            let details = serde_json::to_value(&r.entry.details).unwrap();
            (r.entry.seq, r.entry.action, details)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_oldest_counts_and_audits_what_it_drops() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, "s3cret").unwrap();
    for t in test_stores() {
        let (store, audit) = open(&t.config).await;
        let up = Arc::new(AtomicBool::new(false));
        let (addr, seen) = webhook_receiver(b"s3cret", up.clone()).await;
        let mut config = webhook("lossy", addr, &secret_file);
        config.max_spool_records = 5;
        config.on_full = OnFull::DropOldest;
        let sinks = Sinks::start(store.clone(), audit.clone(), vec![config], "n".into())
            .await
            .unwrap();
        write_records(&audit, 20).await;
        eventually!("15 dropped", status(&sinks, "lossy").await.dropped >= 15);
        assert!(audit.refusal().is_none(), "drop_oldest never refuses");

        // Every drop is audited, and the audited counts add up to the stored one.
        eventually!("audited drops add up", {
            let actions = trail_actions(&store).await;
            let audited: i64 = actions
                .iter()
                .filter(|(_, action, _)| action == "siem.sink.dropped")
                .map(|(_, _, d)| d["count"].as_i64().unwrap())
                .sum();
            let row = query("SELECT dropped FROM audit_sinks WHERE name = 'lossy'")
                .fetch_one(store.pool())
                .await
                .unwrap();
            let stored: i64 = row.try_get(0).unwrap();
            let s = status(&sinks, "lossy").await;
            audited == stored && s.dropped == stored && s.spooled <= 5
        });
        let state = status(&sinks, "lossy").await.state;
        assert!(
            matches!(state, SinkState::Full | SinkState::Retrying),
            "{state:?}"
        );

        up.store(true, Ordering::SeqCst);
        let head_now = head(&store).await;
        eventually!(
            "caught up",
            status(&sinks, "lossy").await.delivered_seq >= head_now
        );
        let events = accepted_events(&seen);
        assert!(events.iter().any(|e| e["action"] == "siem.sink.dropped"));
        let seqs = seqs_of(&events);
        assert_eq!(*seqs.last().unwrap(), head_now);
        assert!(!seqs.contains(&1), "{}: the oldest were dropped", t.label);
        sinks.shutdown(Duration::from_secs(5)).await;
    }
}

fn file_seqs(path: &Path) -> Vec<i64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_i64()
                .unwrap()
        })
        .collect()
}

fn rotated(path: &Path, i: u32) -> PathBuf {
    PathBuf::from(format!("{}.{i}", path.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_rotates_by_size_and_keeps_private_files() {
    use std::os::unix::fs::PermissionsExt;
    for t in test_stores() {
        let (store, audit) = open(&t.config).await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut f = FileConfig::new(path.clone());
        f.max_bytes = 4096;
        f.keep = 2;
        let mut config = sink("file", SinkKind::File(f));
        config.batch_size = 7;
        let sinks = Sinks::start(store.clone(), audit.clone(), vec![config], "n".into())
            .await
            .unwrap();
        write_records(&audit, 60).await;
        eventually!(
            "60 delivered",
            status(&sinks, "file").await.delivered_seq >= 60
        );

        assert!(
            !rotated(&path, 3).exists(),
            "{}: only `keep` rotated files",
            t.label
        );
        let mut all = Vec::new();
        for p in [rotated(&path, 2), rotated(&path, 1), path.clone()] {
            let meta = std::fs::metadata(&p).unwrap();
            assert!(
                meta.len() <= 4096,
                "{}: {} is {} bytes",
                t.label,
                p.display(),
                meta.len()
            );
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
            all.extend(file_seqs(&p));
        }
        let expected: Vec<i64> = (all[0]..=60).collect();
        assert_eq!(all, expected, "{}: a contiguous, ordered suffix", t.label);
        assert!(all[0] > 1, "older files were rotated away");
        sinks.shutdown(Duration::from_secs(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_file_is_written_again() {
    for t in test_stores() {
        let (store, audit) = open(&t.config).await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let config = sink("file", SinkKind::File(FileConfig::new(path.clone())));
        let sinks = Sinks::start(store.clone(), audit.clone(), vec![config], "n".into())
            .await
            .unwrap();
        write_records(&audit, 10).await;
        eventually!("10 in the file", file_seqs(&path).len() >= 10);

        std::fs::remove_file(&path).unwrap();
        write_records(&audit, 5).await;
        eventually!("the file rewritten", {
            let seqs: BTreeSet<i64> = file_seqs(&path).into_iter().collect();
            seqs.is_superset(&upto(15))
        });
        let actions = trail_actions(&store).await;
        let replaced = actions
            .iter()
            .find(|(_, action, _)| action == "siem.sink.file_replaced")
            .expect("the replacement is audited");
        assert_eq!(replaced.2["rewritten_from_seq"], 1, "{}", t.label);
        eventually!("the audit record reaches the file", {
            file_seqs(&path).contains(&replaced.0)
        });
        sinks.shutdown(Duration::from_secs(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_a_sink_through_the_lease() {
    for t in test_stores() {
        let (store, audit) = open(&t.config).await;
        let (addr, received) = tcp_receiver().await;
        let config = syslog("shared", Transport::Tcp, addr);
        let a = Sinks::start(
            store.clone(),
            audit.clone(),
            vec![config.clone()],
            "node-a".into(),
        )
        .await
        .unwrap();
        let b = Sinks::start(store.clone(), audit.clone(), vec![config], "node-b".into())
            .await
            .unwrap();
        write_records(&audit, 200).await;
        eventually!("200 records", received.seqs().len() >= 200);
        assert_eq!(received.seqs(), upto(200), "{}", t.label);

        let (sa, sb) = (status(&a, "shared").await, status(&b, "shared").await);
        let owner = sa.owner.clone().expect("an owner");
        assert_eq!(
            sb.owner.as_deref(),
            Some(owner.as_str()),
            "one owner, seen by both"
        );
        let (owner_sinks, other, other_name) = if owner == "node-a" {
            (a, b, "node-b")
        } else {
            (b, a, "node-a")
        };
        eventually!("the other node stands by", {
            status(&other, "shared").await.state == SinkState::Standby
        });

        // The owner stops; the other node takes over and the cursor keeps going.
        owner_sinks.shutdown(Duration::from_secs(5)).await;
        write_records(&audit, 50).await;
        eventually!("250 records", received.seqs().len() >= 250);
        assert_eq!(received.seqs(), upto(250), "{}", t.label);
        eventually!(
            "the cursor at the head",
            status(&other, "shared").await.spooled == 0
        );
        let s = status(&other, "shared").await;
        assert_eq!(s.owner.as_deref(), Some(other_name));
        assert_eq!(s.delivered_seq, head(&store).await);
        other.shutdown(Duration::from_secs(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_delivers_what_is_spooled_within_grace() {
    for t in test_stores() {
        let (store, audit) = open(&t.config).await;
        let (addr, received) = tcp_receiver().await;
        let sinks = Sinks::start(
            store.clone(),
            audit.clone(),
            vec![syslog("grace", Transport::Tcp, addr)],
            "n".into(),
        )
        .await
        .unwrap();
        write_records(&audit, 30).await;
        sinks.shutdown(Duration::from_secs(30)).await;
        eventually!("30 received", received.seqs().len() >= 30);
        let row = query("SELECT delivered_seq, owner FROM audit_sinks WHERE name = 'grace'")
            .fetch_one(store.pool())
            .await
            .unwrap();
        let delivered: i64 = row.try_get(0).unwrap();
        let owner: Option<String> = row.try_get(1).unwrap();
        assert_eq!(
            (delivered, owner),
            (30, None),
            "{}: lease released",
            t.label
        );
    }
}

#[tokio::test]
async fn start_fails_clearly_on_unreadable_secrets_and_certificates() {
    let t = test_stores().remove(0);
    let (store, audit) = open(&t.config).await;
    let hec = HecConfig::new(
        "https://splunk.example:8088/services/collector/event",
        "/nonexistent/token".into(),
    );
    let err = Sinks::start(
        store.clone(),
        audit.clone(),
        vec![sink("h", SinkKind::SplunkHec(hec))],
        "n".into(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("'h'") && err.contains("token") && err.contains("/nonexistent/token"),
        "{err}"
    );

    let mut hec = HecConfig::new("https://splunk.example/e", "x".into());
    hec.token_file = None;
    hec.token_env = Some("WEBQX_TEST_SURELY_UNSET_TOKEN".into());
    let err = Sinks::start(
        store.clone(),
        audit.clone(),
        vec![sink("h", SinkKind::SplunkHec(hec))],
        "n".into(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("WEBQX_TEST_SURELY_UNSET_TOKEN"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), "not a certificate").unwrap();
    let mut s = SyslogConfig::new(Transport::Tls, "siem.example");
    s.ca_file = Some(dir.path().join("ca.pem"));
    let err = Sinks::start(
        store,
        audit,
        vec![sink("s", SinkKind::Syslog(s))],
        "n".into(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("'s'") && err.contains("ca_file"), "{err}");
}

#[derive(serde::Deserialize)]
struct Audit {
    sinks: Vec<SinkConfig>,
}

fn parse(text: &str) -> Result<Vec<SinkConfig>, String> {
    toml::from_str::<Audit>(text)
        .map(|a| a.sinks)
        .map_err(|e| e.to_string())
}

#[test]
fn config_parses_with_defaults_and_refuses_unknown_keys() {
    let sinks = parse(
        r#"
        [[sinks]]
        name = "siem"
        type = "syslog"
        transport = "tls"
        address = "siem.example:6514"
        ca_file = "/etc/webqx/siem-ca.pem"

        [[sinks]]
        name = "splunk"
        type = "splunk_hec"
        url = "https://splunk.example:8088/services/collector/event"
        token_env = "SPLUNK_HEC_TOKEN"
        on_full = "drop_oldest"
        format = "jsonl"
        "#,
    )
    .unwrap();
    validate(&sinks).unwrap();
    let s = &sinks[0];
    assert_eq!(s.format, Format::Jsonl);
    assert_eq!((s.max_spool_records, s.batch_size), (1_000_000, 500));
    assert_eq!(
        (s.retry_initial.as_str(), s.retry_max.as_str()),
        ("1s", "60s")
    );
    assert_eq!(s.on_full, OnFull::Refuse);
    let SinkKind::Syslog(sys) = &s.kind else {
        panic!("syslog")
    };
    assert_eq!((sys.facility, sys.app_name.as_str()), (10, "webqx-sec"));
    assert_eq!(sys.resend_window, "5s");
    assert_eq!(sinks[1].on_full, OnFull::DropOldest);

    let err =
        parse("[[sinks]]\nname = \"x\"\ntype = \"file\"\npath = \"/tmp/x\"\nurl = \"https://a\"\n")
            .unwrap_err();
    assert!(err.contains("url"), "{err}");
    let err = parse("[[sinks]]\nname = \"x\"\ntype = \"kafka\"\n").unwrap_err();
    assert!(err.contains("kafka"), "{err}");
    let err = parse(
        "[[sinks]]\nname = \"x\"\ntype = \"splunk_hec\"\nurl = \"https://a\"\ntoken = \"inline\"\n",
    )
    .unwrap_err();
    assert!(
        err.contains("token"),
        "inline secrets are unknown keys: {err}"
    );
}

#[test]
fn validation_names_the_sink_and_the_key() {
    let base = |kind| sink("s1", kind);
    let tls = SinkKind::Syslog(SyslogConfig::new(Transport::Tls, "siem:6514"));
    let cases: Vec<(Vec<SinkConfig>, &str)> = vec![
        (vec![base(tls.clone())], "ca_file"),
        (
            vec![
                base(SinkKind::File(FileConfig::new("/a".into()))),
                base(SinkKind::File(FileConfig::new("/b".into()))),
            ],
            "used twice",
        ),
        (
            vec![
                sink("one", SinkKind::File(FileConfig::new("/a".into()))),
                sink("two", SinkKind::File(FileConfig::new("/a".into()))),
            ],
            "already the file of another sink",
        ),
        (
            vec![base(SinkKind::SplunkHec(HecConfig {
                token_env: Some("T".into()),
                ..HecConfig::new("https://s/e", "/t".into())
            }))],
            "not both",
        ),
        (
            vec![base(SinkKind::SplunkHec(HecConfig {
                token_file: None,
                ..HecConfig::new("https://s/e", "/t".into())
            }))],
            "token_env",
        ),
        (
            vec![base(SinkKind::SplunkHec(HecConfig::new(
                "http://splunk.example/e",
                "/t".into(),
            )))],
            "https",
        ),
        (
            vec![SinkConfig {
                retry_initial: "soon".into(),
                ..base(SinkKind::File(FileConfig::new("/a".into())))
            }],
            "retry_initial",
        ),
        (
            vec![SinkConfig {
                retry_max: "50ms".into(),
                ..base(SinkKind::File(FileConfig::new("/a".into())))
            }],
            "retry_max",
        ),
        (
            vec![base(SinkKind::Syslog(SyslogConfig {
                facility: 24,
                ..SyslogConfig::new(Transport::Udp, "siem")
            }))],
            "facility",
        ),
        (
            vec![base(SinkKind::Syslog(SyslogConfig::new(
                Transport::Tcp,
                "[::1",
            )))],
            "address",
        ),
        (
            vec![sink(
                "bad name",
                SinkKind::File(FileConfig::new("/a".into())),
            )],
            "name",
        ),
    ];
    for (sinks, key) in cases {
        let err = validate(&sinks).unwrap_err();
        assert!(err.contains(key), "expected '{key}' in: {err}");
    }
    // Plain HTTP only to loopback, for labs.
    let lab = HecConfig::new(
        "http://127.0.0.1:8088/services/collector/event",
        "/t".into(),
    );
    validate(&[base(SinkKind::SplunkHec(lab))]).unwrap();
    let lab = HecConfig::new("http://localhost:8088/e", "/t".into());
    validate(&[base(SinkKind::SplunkHec(lab))]).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bound_holds_during_a_long_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, "s3cret").unwrap();
    for t in test_stores() {
        let (store, audit) = open(&t.config).await;
        let (addr, _) = webhook_receiver(b"s3cret", Arc::new(AtomicBool::new(false))).await;
        let mut config = webhook("slow", addr, &secret_file);
        config.max_spool_records = 5;
        config.retry_initial = "10m".into();
        config.retry_max = "10m".into();
        let sinks = Sinks::start(store, audit.clone(), vec![config], "n".into())
            .await
            .unwrap();
        write_records(&audit, 4).await;
        eventually!(
            "backing off",
            status(&sinks, "slow").await.state == SinkState::Retrying
        );
        assert!(audit.refusal().is_none());
        write_records(&audit, 1).await;
        eventually!(
            "refused without waiting for the retry",
            audit.refusal().is_some()
        );
        assert_eq!(
            status(&sinks, "slow").await.state,
            SinkState::Full,
            "{}",
            t.label
        );
        let started = Instant::now();
        sinks.shutdown(Duration::ZERO).await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "shutdown ends the backoff"
        );
        assert!(
            audit.refusal().is_none(),
            "{}: shutdown lifts the refusal",
            t.label
        );
    }
}
