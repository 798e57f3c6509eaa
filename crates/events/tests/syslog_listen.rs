//! The syslog listeners end to end on 127.0.0.1, with real clients where there is one:
//! util-linux `logger` for UDP and TCP, `openssl s_client` and a tokio-rustls client
//! for TLS. Each test opens its own ports (port 0).

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use metrics::{Counter, CounterFn, Gauge, Histogram, Key, KeyName, Metadata, SharedString, Unit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use webqx_events::syslog::{
    self, FrameError, Framing, ListenerConfig, Protocol, ReceiveError, Received, Shutdown,
    SyslogError, Transport,
};

const WAIT: Duration = Duration::from_secs(10);

// ------------------------------------------------------------------ metrics

/// Counts every counter by `name{label="value",...}` (labels sorted).
#[derive(Default)]
struct TestRecorder {
    counters: Mutex<HashMap<String, Arc<TestCounter>>>,
}

#[derive(Default)]
struct TestCounter(AtomicU64);

impl CounterFn for TestCounter {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }
    fn absolute(&self, value: u64) {
        self.0.fetch_max(value, Ordering::Relaxed);
    }
}

fn key_string(name: &str, labels: &[(&str, &str)]) -> String {
    let mut labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    labels.sort();
    format!("{name}{{{}}}", labels.join(","))
}

impl TestRecorder {
    fn counter(&self, key: String) -> Arc<TestCounter> {
        let mut counters = self.counters.lock().expect("lock");
        counters.entry(key).or_default().clone()
    }
}

impl metrics::Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let labels: Vec<(&str, &str)> = key.labels().map(|l| (l.key(), l.value())).collect();
        Counter::from_arc(self.counter(key_string(key.name(), &labels)))
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

fn recorder() -> &'static TestRecorder {
    static RECORDER: OnceLock<&'static TestRecorder> = OnceLock::new();
    RECORDER.get_or_init(|| {
        let recorder: &'static TestRecorder = Box::leak(Box::default());
        metrics::set_global_recorder(recorder).expect("the only recorder in this test binary");
        recorder
    })
}

/// Current value of a counter. Tests running in parallel share it, so each test
/// checks a reason (or transport) no other test produces, or compares before/after.
fn counter(name: &str, labels: &[(&str, &str)]) -> u64 {
    recorder()
        .counter(key_string(name, labels))
        .0
        .load(Ordering::Relaxed)
}

fn rejected(transport: &str, reason: &str) -> u64 {
    counter(
        syslog::METRIC_REJECTED,
        &[("transport", transport), ("reason", reason)],
    )
}

// ------------------------------------------------------------------ harness

/// A running listener and what it handed over.
struct Harness {
    addr: SocketAddr,
    received: mpsc::UnboundedReceiver<Received>,
    shutdown: Shutdown,
    task: JoinHandle<std::io::Result<()>>,
}

impl Harness {
    async fn next(&mut self) -> Received {
        tokio::time::timeout(WAIT, self.received.recv())
            .await
            .expect("a message within the wait")
            .expect("listener alive")
    }

    async fn next_ok(&mut self) -> syslog::SyslogMessage {
        let r = self.next().await;
        r.result
            .unwrap_or_else(|e| panic!("expected a message, got: {e}"))
    }

    async fn stop(self) {
        self.shutdown.trigger();
        let result = tokio::time::timeout(WAIT, self.task).await;
        result
            .expect("stops promptly")
            .expect("task")
            .expect("no I/O error");
    }
}

fn collector() -> (
    Arc<impl syslog::SyslogHandler>,
    mpsc::UnboundedReceiver<Received>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handler = move |r: Received| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(r);
        }
    };
    (Arc::new(handler), rx)
}

enum Kind {
    Udp,
    Tcp,
    Tls(Arc<rustls::ServerConfig>),
}

async fn start(kind: Kind, config: ListenerConfig) -> Harness {
    recorder();
    let (handler, received) = collector();
    let (shutdown, signal) = syslog::shutdown_channel();
    let (addr, task) = match kind {
        Kind::Udp => {
            let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
            let addr = socket.local_addr().expect("addr");
            (
                addr,
                tokio::spawn(syslog::serve_udp(socket, config, handler, signal)),
            )
        }
        Kind::Tcp => {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("addr");
            (
                addr,
                tokio::spawn(syslog::serve_tcp(listener, config, handler, signal)),
            )
        }
        Kind::Tls(tls) => {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("addr");
            (
                addr,
                tokio::spawn(syslog::serve_tls(listener, tls, config, handler, signal)),
            )
        }
    };
    Harness {
        addr,
        received,
        shutdown,
        task,
    }
}

/// Runs a client command to completion off the runtime.
async fn run(mut command: Command, stdin: Option<Vec<u8>>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        command.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .expect("client installed (see DEPENDENCIES.md)");
        if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(&bytes).expect("write to client");
        }
        child.wait_with_output().expect("client ran")
    })
    .await
    .expect("blocking task")
}

fn logger(addr: SocketAddr, transport_args: &[&str], message_args: &[&str]) -> Command {
    let mut command = Command::new("logger");
    command.args(["-n", "127.0.0.1", "-P", &addr.port().to_string()]);
    command.args(transport_args).args(message_args);
    command
}

struct TlsFixture {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

fn tls_fixture() -> TlsFixture {
    let ca = webqx_pki::new_local_ca("WebQx syslog test CA").expect("CA");
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let leaf = webqx_pki::issue_server(&ca, &names, 2).expect("leaf");
    let chain = format!("{}{}", leaf.cert_pem, ca.cert_pem);
    let server = webqx_pki::server_config(
        chain.as_bytes(),
        leaf.key_pem.expose(),
        webqx_pki::TlsVersions::Tls13,
    )
    .expect("server config");
    TlsFixture {
        ca_pem: ca.cert_pem,
        server,
    }
}

fn short_limits() -> ListenerConfig {
    ListenerConfig {
        max_frame_len: 1024,
        ..ListenerConfig::default()
    }
}

// ------------------------------------------------------------------ real clients

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logger_rfc5424_tcp_octet_count_delivers_an_atna_style_message() {
    let mut h = start(Kind::Tcp, ListenerConfig::default()).await;
    let output = run(
        logger(
            h.addr,
            &["--rfc5424", "--tcp", "--octet-count"],
            &[
                "-p",
                "authpriv.notice",
                "-t",
                "webqx-test",
                "--msgid",
                "IHE+RFC-3881",
                "--sd-id",
                "webqx@32473",
                "--sd-param",
                r#"k="v\"q\]""#,
                "hello ATNA",
            ],
        ),
        None,
    )
    .await;
    assert!(
        output.status.success(),
        "logger: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    let received = h.next().await;
    assert_eq!(received.transport, Transport::Tcp);
    assert!(received.peer.ip().is_loopback());
    let m = received.result.expect("accepted");
    assert_eq!(m.protocol(), Protocol::Rfc5424);
    assert_eq!(
        (m.facility_name(), m.severity_name()),
        ("authpriv", "notice")
    );
    assert_eq!(
        (m.app_name(), m.msgid()),
        (Some("webqx-test"), Some("IHE+RFC-3881"))
    );
    assert!(m.datetime().is_some(), "logger sends an RFC 3339 timestamp");
    assert!(
        m.sd_element("timeQuality").is_some(),
        "logger adds timeQuality"
    );
    let sd = m.sd_element("webqx@32473").expect("our element");
    assert_eq!(sd.param("k"), Some("v\"q]"), "unescaped");
    assert_eq!(m.msg(), Ok("hello ATNA"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logger_rfc3164_tcp_newline_framing_is_received() {
    let mut h = start(Kind::Tcp, ListenerConfig::default()).await;
    let args = [
        "-p",
        "auth.warning",
        "-t",
        "sshd",
        "Failed password for root",
    ];
    let output = run(logger(h.addr, &["--rfc3164", "--tcp"], &args), None).await;
    assert!(
        output.status.success(),
        "logger: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    let m = h.next_ok().await;
    assert_eq!(m.protocol(), Protocol::Rfc3164);
    assert_eq!((m.facility_name(), m.severity_name()), ("auth", "warning"));
    assert!(m.bsd_time().is_some() && m.hostname().is_some());
    assert_eq!((m.tag(), m.app_name()), (Some("sshd:"), Some("sshd")));
    assert_eq!(m.msg(), Ok(" Failed password for root"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logger_rfc5424_udp_is_received_and_counted() {
    let before = counter(syslog::METRIC_RECEIVED, &[("transport", "udp")]);
    let mut h = start(Kind::Udp, ListenerConfig::default()).await;
    let output = run(
        logger(
            h.addr,
            &["--rfc5424", "--udp"],
            &["-t", "udp-test", "over UDP"],
        ),
        None,
    )
    .await;
    assert!(
        output.status.success(),
        "logger: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    let received = h.next().await;
    assert_eq!(received.transport, Transport::Udp);
    let m = received.result.expect("accepted");
    assert_eq!((m.app_name(), m.msg()), (Some("udp-test"), Ok("over UDP")));
    assert!(counter(syslog::METRIC_RECEIVED, &[("transport", "udp")]) > before);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_s_client_tls_octet_counted_frames_are_received() {
    let tls = tls_fixture();
    let mut h = start(Kind::Tls(tls.server.clone()), ListenerConfig::default()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &tls.ca_pem).expect("write CA");

    let first = "<85>1 2026-01-02T03:04:05Z ehr app 1 IHE+RFC-3881 - <AuditMessage/>";
    let second = "<86>1 - - - - - [x@32473 a=\"1\"] second";
    let mut stdin = Vec::new();
    for m in [first, second] {
        stdin.extend_from_slice(format!("{} {m}", m.len()).as_bytes());
    }
    let mut command = Command::new("openssl");
    command.args([
        "s_client",
        "-connect",
        &h.addr.to_string(),
        "-servername",
        "localhost",
    ]);
    command.args([
        "-verify_return_error",
        "-verify_hostname",
        "localhost",
        "-CAfile",
    ]);
    command.arg(&ca_file).args(["-quiet", "-no_ign_eof"]);
    let output = run(command, Some(stdin)).await;
    assert!(
        output.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    let m = h.next_ok().await;
    assert_eq!(
        (m.msgid(), m.msg()),
        (Some("IHE+RFC-3881"), Ok("<AuditMessage/>"))
    );
    let m = h.next_ok().await;
    assert_eq!(
        m.sd_element("x@32473").and_then(|e| e.param("a")),
        Some("1")
    );
    h.stop().await;
}

// ------------------------------------------------------------------ rejects and limits

async fn tls_client(addr: SocketAddr, ca_pem: &str) -> tokio_rustls::client::TlsStream<TcpStream> {
    let config = webqx_pki::client_config(ca_pem.as_bytes()).expect("client config");
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    connector.connect(name, tcp).await.expect("handshake")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_rustls_client_bad_messages_are_reported_and_a_cut_frame_on_close() {
    let tls = tls_fixture();
    let mut h = start(Kind::Tls(tls.server.clone()), short_limits()).await;
    let mut stream = tls_client(h.addr, &tls.ca_pem).await;
    stream
        .write_all(b"22 <13>1 - - - - - [x a] <13>Oct 11 22:14:15 host ok: fine\n20 <13>1")
        .await
        .expect("write");
    stream.shutdown().await.expect("close_notify");

    let bad = h.next().await;
    assert!(matches!(
        bad.result,
        Err(ReceiveError::Parse(SyslogError::StructuredData { .. }))
    ));
    assert_eq!(bad.transport, Transport::Tls);
    assert_eq!(h.next_ok().await.msg(), Ok(" fine"));
    let cut = h.next().await.result.expect_err("truncated");
    assert_eq!(
        cut,
        ReceiveError::Frame(FrameError::Truncated {
            framing: Framing::OctetCounting,
            received: 8
        })
    );
    assert!(rejected("tls", "structured_data") >= 1);
    assert!(rejected("tls", "truncated") >= 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_client_on_tls_port_is_counted_as_a_failed_handshake() {
    let tls = tls_fixture();
    let h = start(Kind::Tls(tls.server), short_limits()).await;
    let before = rejected("tls", "handshake");
    let mut stream = TcpStream::connect(h.addr).await.expect("connect");
    stream
        .write_all(b"<13>1 - - - - - - not TLS\n")
        .await
        .expect("write");
    let mut buf = [0u8; 64];
    let _ = tokio::time::timeout(WAIT, stream.read(&mut buf))
        .await
        .expect("server closes");
    for _ in 0..100 {
        if rejected("tls", "handshake") > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(rejected("tls", "handshake") > before);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_oversize_octet_count_is_reported_and_the_connection_closed() {
    let mut h = start(Kind::Tcp, short_limits()).await;
    let mut stream = TcpStream::connect(h.addr).await.expect("connect");
    stream
        .write_all(b"5000 <13>1 - - - - - - ")
        .await
        .expect("write");

    let e = h.next().await.result.expect_err("oversize");
    let ReceiveError::Frame(e) = e else {
        panic!("frame error expected: {e}")
    };
    assert_eq!(
        e,
        FrameError::Oversize {
            framing: Framing::OctetCounting,
            max: 1024
        }
    );
    assert!(e.to_string().contains("close the connection"));
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(WAIT, stream.read(&mut buf))
        .await
        .expect("closed");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "server closed the connection"
    );
    assert!(rejected("tcp", "oversize") >= 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_oversize_datagram_is_reported() {
    let mut h = start(Kind::Udp, short_limits()).await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let mut datagram = b"<13>1 - - - - - - ".to_vec();
    datagram.resize(1500, b'a');
    socket.send_to(&datagram, h.addr).await.expect("send");
    let e = h.next().await.result.expect_err("oversize");
    assert_eq!(
        e,
        ReceiveError::Frame(FrameError::Oversize {
            framing: Framing::Datagram,
            max: 1024
        })
    );
    assert!(rejected("udp", "oversize") >= 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connections_over_the_limit_are_closed_and_counted() {
    let config = ListenerConfig {
        max_connections: 1,
        ..short_limits()
    };
    let mut h = start(Kind::Tcp, config).await;
    let mut first = TcpStream::connect(h.addr).await.expect("connect");
    first.write_all(b"<13>first\n").await.expect("write");
    h.next_ok().await; // The first connection is being served.

    let before = rejected("tcp", "connection_limit");
    let mut second = TcpStream::connect(h.addr).await.expect("connect");
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(WAIT, second.read(&mut buf))
        .await
        .expect("closed");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "second connection closed at once"
    );
    assert!(rejected("tcp", "connection_limit") > before);

    // The first one still works.
    first.write_all(b"<13>still here\n").await.expect("write");
    assert_eq!(h.next_ok().await.tag(), Some("still"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_idle_connection_is_closed() {
    let config = ListenerConfig {
        idle_timeout: Duration::from_millis(200),
        ..short_limits()
    };
    let h = start(Kind::Tcp, config).await;
    let mut stream = TcpStream::connect(h.addr).await.expect("connect");
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(WAIT, stream.read(&mut buf))
        .await
        .expect("closed in time");
    assert!(matches!(read, Ok(0) | Err(_)));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_the_listener_and_its_connections() {
    let mut h = start(Kind::Tcp, short_limits()).await;
    let mut stream = TcpStream::connect(h.addr).await.expect("connect");
    stream
        .write_all(b"<13>complete\n<13>half a fr")
        .await
        .expect("write");
    assert_eq!(h.next_ok().await.tag(), Some("complete"));

    h.shutdown.trigger();
    let cut = h
        .next()
        .await
        .result
        .expect_err("the unfinished frame is reported");
    assert!(matches!(
        cut,
        ReceiveError::Frame(FrameError::Truncated { .. })
    ));
    let result = tokio::time::timeout(WAIT, h.task)
        .await
        .expect("serve_tcp returns");
    // The task owned the listening socket: its return means the socket is closed. (A
    // connect to the old port proved nothing: under parallel tests another listener can
    // be given the freed port at once, which made this test flaky.)
    result.expect("task").expect("no I/O error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_frame_trickled_slower_than_the_frame_timeout_is_cut_off() {
    let config = ListenerConfig {
        idle_timeout: Duration::from_secs(60),
        frame_timeout: Duration::from_millis(300),
        ..short_limits()
    };
    let mut h = start(Kind::Tcp, config).await;
    let mut stream = TcpStream::connect(h.addr).await.expect("connect");
    // A byte every 100 ms keeps the connection from ever being idle; the frame
    // deadline still closes it.
    let started = std::time::Instant::now();
    let mut closed = false;
    for b in b"<13>never finished ".iter().cycle().take(100) {
        if stream.write_all(&[*b]).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if started.elapsed() > Duration::from_secs(5) {
            break;
        }
    }
    let cut = h
        .next()
        .await
        .result
        .expect_err("the unfinished frame is reported");
    assert!(matches!(
        cut,
        ReceiveError::Frame(FrameError::Truncated { .. })
    ));
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(WAIT, stream.read(&mut buf)).await;
    assert!(closed || matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    h.stop().await;
}
