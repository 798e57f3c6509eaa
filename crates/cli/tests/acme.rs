//! ACME with the real client: Debian's `certbot` (standalone http-01) obtains a
//! certificate for two names from our server on loopback, renews it with
//! `--force-renewal`, and revokes it; `openssl verify` checks the chains against our
//! root, and the CA then reports the certificate revoked. Also raw protocol checks over
//! HTTPS: nonces, problem documents and the directory.
//!
//! Under `CI=1` a missing program fails the test; otherwise the test is skipped loudly.

use std::path::Path;
use std::process::{Command, Output};
use webqx_testkit::free_port;
use webqx_testkit::server::{Server, stderr};

const BIN: &str = env!("CARGO_BIN_EXE_webqx-sec");
const NAMES: [&str; 2] = ["ehr.test", "www.ehr.test"];

fn tools() -> bool {
    let missing: Vec<&str> = ["/usr/bin/certbot", "/usr/bin/openssl"]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{missing:?} missing; .ci/run installs certbot and openssl"
    );
    eprintln!("*** SKIPPED: {missing:?} not installed (apt-get install certbot) ***");
    false
}

/// A server with ACME on, validating http-01 on `http01_port` at 127.0.0.1 for
/// [`NAMES`], and a tls-server profile that allows them. Its config file lives in `dir`.
fn server(dir: &Path, http01_port: u16, extra_env: &[(String, String)]) -> Server {
    let resolve = NAMES
        .iter()
        .map(|n| format!("\"{n}\" = \"127.0.0.1\""))
        .collect::<Vec<_>>()
        .join(", ");
    let config = dir.join("webqx-sec.toml");
    let text = format!(
        "[acme]\nenabled = true\nhttp01_port = {http01_port}\nresolve = {{ {resolve} }}\n\
         validation_timeout = \"5s\"\n\n\
         [pki.tls-server]\nallowed_domains = [\"localhost\", \"ehr.test\"]\n"
    );
    std::fs::write(&config, text).expect("config file");
    let mut env = vec![("WEBQX_CONFIG".to_string(), config.display().to_string())];
    env.extend_from_slice(extra_env);
    Server::start(BIN, &env)
}

/// certbot with its folders in `dir`, our CA trusted, and no proxies.
fn certbot(s: &Server, dir: &Path, http01_port: u16, args: &[&str]) -> Output {
    let port = s.addr.rsplit(':').next().expect("port");
    let directory = format!("https://localhost:{port}/acme/directory");
    let port = http01_port.to_string();
    let mut cmd = Command::new("certbot");
    cmd.args(args)
        .args([
            "--server",
            &directory,
            "--non-interactive",
            "--no-random-sleep-on-renew",
        ])
        .args(["--http-01-port", &port, "--http-01-address", "127.0.0.1"])
        .arg("--config-dir")
        .arg(dir.join("config"))
        .arg("--work-dir")
        .arg(dir.join("work"))
        .arg("--logs-dir")
        .arg(dir.join("logs"))
        .env("REQUESTS_CA_BUNDLE", s.ca());
    for proxy in [
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ] {
        cmd.env_remove(proxy);
    }
    cmd.output().expect("certbot runs")
}

fn ok(what: &str, out: &Output, dir: &Path) {
    let log = std::fs::read_to_string(dir.join("logs/letsencrypt.log")).unwrap_or_default();
    let tail: String = log
        .lines()
        .rev()
        .take(60)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}\n--- certbot log (tail) ---\n{tail}",
        String::from_utf8_lossy(&out.stdout),
        stderr(out)
    );
}

fn openssl(args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs")
}

/// The leaf's serial, lowercase hex without leading zeros.
fn serial_of(cert: &Path) -> String {
    let out = openssl(&[
        "x509",
        "-noout",
        "-serial",
        "-in",
        cert.to_str().expect("path"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let hex = text
        .trim()
        .trim_start_matches("serial=")
        .to_ascii_lowercase();
    hex.trim_start_matches('0').to_owned()
}

/// `openssl verify` of the leaf against our root, with certbot's chain as untrusted.
fn verify(s: &Server, live: &Path) {
    let out = openssl(&[
        "verify",
        "-CAfile",
        s.ca().to_str().expect("path"),
        "-untrusted",
        live.join("chain.pem").to_str().expect("path"),
        live.join("cert.pem").to_str().expect("path"),
    ]);
    assert!(
        out.status.success(),
        "openssl verify: {}{}",
        stderr(&out),
        String::from_utf8_lossy(&out.stdout)
    );
    let text = openssl(&[
        "x509",
        "-noout",
        "-ext",
        "subjectAltName",
        "-in",
        live.join("cert.pem").to_str().expect("path"),
    ]);
    let text = String::from_utf8_lossy(&text.stdout);
    for name in NAMES {
        assert!(
            text.contains(&format!("DNS:{name}")),
            "{name} missing from {text}"
        );
    }
}

#[test]
fn certbot_obtains_renews_and_revokes_a_certificate() {
    if tools() {
        certbot_flow(&[]);
    }
}

#[test]
fn certbot_works_the_same_over_postgresql() {
    let Some(env) = webqx_testkit::server::postgres_env() else {
        eprintln!("*** SKIPPED: WEBQX_TEST_POSTGRES is not set ***");
        return;
    };
    if tools() {
        certbot_flow(&env);
    }
}

/// certonly for two names, renew, revoke: each checked with openssl.
fn certbot_flow(extra_env: &[(String, String)]) {
    let http01 = free_port();
    let dir = tempfile::tempdir().expect("temp dir");
    let s = server(dir.path(), http01, extra_env);
    let live = dir.path().join("config/live/ehr.test");

    let started = std::time::Instant::now();
    let out = certbot(
        &s,
        dir.path(),
        http01,
        &[
            "certonly",
            "--standalone",
            "--agree-tos",
            "--register-unsafely-without-email",
            "-d",
            NAMES[0],
            "-d",
            NAMES[1],
        ],
    );
    if !out.status.success() {
        eprintln!("--- server log ---\n{}", s.log());
    }
    ok("certbot certonly", &out, dir.path());
    eprintln!("certbot certonly (2 names): {:?}", started.elapsed());
    verify(&s, &live);
    let first = serial_of(&live.join("cert.pem"));

    let started = std::time::Instant::now();
    let out = certbot(&s, dir.path(), http01, &["renew", "--force-renewal"]);
    ok("certbot renew", &out, dir.path());
    eprintln!("certbot renew --force-renewal: {:?}", started.elapsed());
    verify(&s, &live);
    let second = serial_of(&live.join("cert.pem"));
    assert_ne!(first, second, "renewal issued a new certificate");

    let cert = live.join("cert.pem");
    assert!(ocsp(&s, &live).contains(": good"), "{}", ocsp(&s, &live));
    let out = certbot(
        &s,
        dir.path(),
        http01,
        &[
            "revoke",
            "--cert-path",
            cert.to_str().expect("path"),
            "--reason",
            "superseded",
            "--no-delete-after-revoke",
        ],
    );
    ok("certbot revoke", &out, dir.path());
    let answer = ocsp(&s, &live);
    assert!(
        answer.contains(": revoked") && answer.contains("superseded"),
        "{answer}"
    );
    assert_revoked(&s, &second);
    let log = s.log();
    assert!(
        !log.contains("PRIVATE KEY"),
        "no key material in the server log"
    );
}

/// `openssl ocsp` asks our responder about certbot's current certificate.
fn ocsp(s: &Server, live: &Path) -> String {
    let path = |f: &str| live.join(f).display().to_string();
    let ca = s.ca().display().to_string();
    let url = format!("{}/v1/pki/ocsp", s.addr);
    let out = openssl(&[
        "ocsp",
        "-issuer",
        &path("chain.pem"),
        "-cert",
        &path("cert.pem"),
        "-url",
        &url,
        "-CAfile",
        &ca,
        "-verify_other",
        &path("chain.pem"),
    ]);
    format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out))
}

/// The CA recorded the revocation of `serial`, and the issuance, with the ACME account
/// as the actor.
fn assert_revoked(s: &Server, serial: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let trail = rt.block_on(s.http().get("/v1/audit/records")).text;
    let by_acme = |action: &str| {
        trail.lines().any(|l| {
            l.contains(&format!("\"{action}\""))
                && l.contains("acme:account/")
                && l.contains(serial)
        })
    };
    assert!(
        by_acme("pki.revoke"),
        "no pki.revoke of {serial} by an ACME account:\n{trail}"
    );
    assert!(
        trail
            .lines()
            .filter(|l| l.contains("\"pki.sign\"") && l.contains("acme:account/"))
            .count()
            >= 2,
        "both issuances are audited with the ACME account as the actor"
    );
}

#[tokio::test]
async fn acme_speaks_problem_json_with_nonces_and_needs_no_bearer_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = server(dir.path(), free_port(), &[]);
    let http = s.http().with_token(None);
    let nonce = |r: &webqx_testkit::server::Reply| {
        r.headers
            .get("replay-nonce")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .expect("Replay-Nonce on every ACME response")
    };

    let dir_reply = http.get("/acme/directory").await;
    assert_eq!(dir_reply.status, 200, "{}", dir_reply.text);
    let base = format!("https://{}", s.addr.trim_start_matches("https://"));
    assert_eq!(
        dir_reply.json["newAccount"],
        format!("{base}/acme/new-account")
    );
    let link = dir_reply
        .headers
        .get("link")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(link.contains("rel=\"index\""), "{link}");
    let first = nonce(&dir_reply);

    let head = http.send("HEAD", "/acme/new-nonce", None).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.headers.get("cache-control").unwrap(), "no-store");
    let get = http.send("GET", "/acme/new-nonce", None).await;
    assert_eq!(get.status, 204);
    assert_ne!(nonce(&head), nonce(&get), "nonces are fresh");
    assert_ne!(first, nonce(&get));

    let junk = http
        .send(
            "POST",
            "/acme/new-account",
            Some((b"{}".to_vec(), "application/jose+json")),
        )
        .await;
    assert_eq!(junk.status, 400);
    assert_eq!(
        junk.headers.get("content-type").unwrap(),
        "application/problem+json"
    );
    assert_eq!(junk.json["type"], "urn:ietf:params:acme:error:malformed");
    nonce(&junk);
    let wrong_type = http
        .send(
            "POST",
            "/acme/new-order",
            Some((b"{}".to_vec(), "application/json")),
        )
        .await;
    assert_eq!(
        wrong_type.json["type"],
        "urn:ietf:params:acme:error:malformed"
    );
    let gzipped = http
        .send_raw(
            "POST",
            "/acme/new-account",
            Some(b"\x1f\x8b\x08\x00".to_vec()),
            &[
                ("content-type", "application/jose+json"),
                ("content-encoding", "gzip"),
            ],
        )
        .await;
    assert_eq!(gzipped.status, 400, "{}", gzipped.text);
    assert_eq!(gzipped.json["type"], "urn:ietf:params:acme:error:malformed");
    assert!(
        gzipped.json["detail"]
            .as_str()
            .unwrap_or("")
            .contains("without Content-Encoding"),
        "{}",
        gzipped.text
    );
    let unknown = http
        .send(
            "POST",
            "/acme/nothing/here",
            Some((b"{}".to_vec(), "application/jose+json")),
        )
        .await;
    assert_eq!(unknown.status, 404);

    let metrics = s.http().get("/metrics").await.text;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("webqx_acme_requests_total")
                && l.contains("endpoint=\"new-account\"")
                && l.contains("result=\"malformed\"")),
        "ACME requests are counted by endpoint and result"
    );
    let trail = s.http().get("/v1/audit/records").await.text;
    assert!(
        trail.lines().any(|l| l.contains("POST /acme/{*rest}")),
        "ACME requests are audited"
    );
}

#[tokio::test]
async fn acme_is_off_unless_enabled() {
    let s = Server::start(BIN, &[]);
    let r = s.http().with_token(None).get("/acme/directory").await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(
        r.headers.get("content-type").unwrap(),
        "application/problem+json"
    );
    assert!(
        r.json["detail"]
            .as_str()
            .unwrap_or("")
            .contains("[acme] enabled")
    );
}
