//! The server's own certificate renews itself inside `[tls] renew_before` and is
//! hot-reloaded without dropping established connections. Proven with the real binary:
//! a keep-alive HTTP/1.1 connection opened before the renewal keeps working after it,
//! while new connections, read by the real `openssl s_client`, see a new serial.
//!
//! The certificate is made to enter the window while the server runs: it lives one day
//! (`cert_days = 1`) and is renewed when less than `86390s` is left, i.e. about ten
//! seconds after it was issued.
//!
//! Under `CI=1` a missing `openssl` fails the test; otherwise the test is skipped loudly.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use webqx_testkit::server::Server;

const BIN: &str = env!("CARGO_BIN_EXE_webqx-sec");

fn have_openssl() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "openssl missing; .ci/run installs it"
        );
        eprintln!("*** SKIPPED: openssl not installed ***");
    }
    ok
}

/// The serial of the certificate a new connection gets, read by `openssl s_client`.
fn served_serial(hostport: &str) -> String {
    let script = format!(
        "openssl s_client -connect {hostport} -servername localhost </dev/null 2>/dev/null \
         | openssl x509 -noout -serial"
    );
    let out = Command::new("sh")
        .args(["-c", &script])
        .stderr(Stdio::inherit())
        .output()
        .expect("openssl runs");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let serial = text
        .strip_prefix("serial=")
        .unwrap_or("")
        .to_ascii_lowercase();
    assert!(
        !serial.is_empty(),
        "openssl s_client read no certificate: {text}"
    );
    serial.trim_start_matches('0').to_owned()
}

fn serial_of(der: &[u8]) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-inform", "DER", "-noout", "-serial"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(der)?;
            c.wait_with_output()
        })
        .expect("openssl x509 runs");
    let text = String::from_utf8_lossy(&out.stdout)
        .trim()
        .to_ascii_lowercase();
    text.trim_start_matches("serial=")
        .trim_start_matches('0')
        .to_owned()
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A TLS connection (HTTP/1.1, no ALPN) trusting the server's CA.
fn connect(server: &Server, hostport: &str) -> Tls {
    let ca = std::fs::read(server.ca()).unwrap();
    let config = webqx_pki::client_config(&ca).unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(hostport).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

/// One keep-alive GET on `tls`; the status code.
fn get(tls: &mut Tls, path: &str) -> u16 {
    write!(tls, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    tls.flush().unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tls.read_exact(&mut byte)
            .expect("the connection is still open");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(!head.contains("connection: close"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap())
        .expect("content-length");
    let mut body = vec![0u8; length];
    tls.read_exact(&mut body).unwrap();
    head[9..12].parse().unwrap()
}

#[test]
fn a_certificate_inside_the_window_renews_and_reloads_without_dropping_connections() {
    if !have_openssl() {
        return;
    }
    let env = vec![
        ("WEBQX_TLS_CERT_DAYS".to_string(), "1".to_string()),
        ("WEBQX_TLS_RENEW_BEFORE".to_string(), "86390s".to_string()),
    ];
    let server = Server::start(BIN, &env);
    let hostport = server.addr.trim_start_matches("https://").to_owned();

    let mut held = connect(&server, &hostport);
    assert_eq!(get(&mut held, "/v1/sys/health"), 200);
    let held_serial = serial_of(held.conn.peer_certificates().unwrap()[0].as_ref());
    assert_eq!(
        served_serial(&hostport),
        held_serial,
        "openssl and rustls agree"
    );

    let deadline = Instant::now() + Duration::from_secs(60);
    let renewed = loop {
        let now = served_serial(&hostport);
        if now != held_serial {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "no renewal; log:\n{}",
            server.log()
        );
        assert_eq!(
            get(&mut held, "/v1/sys/health"),
            200,
            "keep-alive while waiting"
        );
        std::thread::sleep(Duration::from_millis(700));
    };

    // The connection opened before the reload still serves requests, on its old cert.
    assert_eq!(get(&mut held, "/v1/sys/health"), 200);
    let still = serial_of(held.conn.peer_certificates().unwrap()[0].as_ref());
    assert_eq!(still, held_serial);
    // New connections get the renewed certificate, which a trusting client accepts.
    let mut fresh = connect(&server, &hostport);
    assert_eq!(get(&mut fresh, "/v1/sys/health"), 200);
    let fresh_serial = serial_of(fresh.conn.peer_certificates().unwrap()[0].as_ref());
    assert_ne!(fresh_serial, held_serial);
    assert!(!renewed.is_empty());
    assert!(
        server
            .log()
            .contains("server certificate renewed and reloaded")
    );
    let out = server.cli(&["audit", "export", "--format", "jsonl"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\"tls.renew\""),
        "the renewal is audited: {text}"
    );
}

/// Revoking the certificate the server presents (an operator's `cert revoke`) replaces
/// it at the next scheduler tick, instead of serving a revoked certificate until expiry.
#[test]
fn a_revoked_server_certificate_is_replaced() {
    if !have_openssl() {
        return;
    }
    let server = Server::start(BIN, &[]);
    let hostport = server.addr.trim_start_matches("https://").to_owned();
    // The first start may still move the certificate onto the intermediate: wait until
    // the one served is stable, then revoke it.
    let mut served = served_serial(&hostport);
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(600));
        let again = served_serial(&hostport);
        if again == served {
            break;
        }
        served = again;
    }
    let out = server.cli(&["cert", "revoke", &served, "--reason", "keyCompromise"]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while served_serial(&hostport) == served {
        assert!(
            Instant::now() < deadline,
            "still serving the revoked certificate; log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(server.log().contains("server certificate was revoked"));
}
