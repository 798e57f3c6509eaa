//! Mutual TLS on the API with the real clients: `curl --cert --key` and
//! `openssl s_client -cert -key`, with and without client certificates, against the real
//! binary. Certificates come from the service's own CA (`webqx-sec cert issue`); a
//! certificate name bound to a token's policy (or an explicit one) authenticates; an
//! unbound one gets 403; a revoked one is refused at once (401); a server-profile
//! certificate is refused as a client (no clientAuth usage: the handshake fails); bearer
//! tokens keep working. Audit records name the certificate's serial and name.
//!
//! Under `CI=1` a missing `curl` or `openssl` fails the test; otherwise it is skipped.

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use webqx_testkit::server::{Server, stderr, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_webqx-sec");

fn have(tools: &[&str]) -> bool {
    let missing: Vec<&&str> = tools
        .iter()
        .filter(|t| Command::new(t).arg("--version").output().is_err())
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{missing:?} missing; .ci/run installs them"
    );
    eprintln!("*** SKIPPED: {missing:?} not installed ***");
    false
}

struct Fixture {
    server: Server,
    dir: tempfile::TempDir,
    hostport: String,
}

impl Fixture {
    fn start(extra: &[(String, String)]) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("webqx-sec.toml");
        std::fs::write(
            &config,
            "[pki.tls-client]\nallowed_domains = [\"ehr.test\"]\n\
             [pki.secure-node]\nallowed_domains = [\"ehr.test\"]\n\
             [pki.tls-server]\nallowed_domains = [\"ehr.test\", \"localhost\"]\n",
        )
        .unwrap();
        let mut env = vec![("WEBQX_CONFIG".to_string(), config.display().to_string())];
        env.extend(extra.iter().cloned());
        let server = Server::start(BIN, &env);
        let hostport = server.addr.trim_start_matches("https://").to_owned();
        Fixture {
            server,
            dir,
            hostport,
        }
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.server.cli(args);
        assert!(
            out.status.success(),
            "{args:?}: {}\nserver log:\n{}",
            stderr(&out),
            self.server.log()
        );
        stdout(&out)
    }

    /// Issues a certificate; returns (chain file, key file, serial).
    fn issue(&self, name: &str, profile: &str) -> (PathBuf, PathBuf, String) {
        let cert = self.dir.path().join(format!("{name}.pem"));
        let key = self.dir.path().join(format!("{name}.key"));
        let out = self.ok(&[
            "--json",
            "cert",
            "issue",
            name,
            "--profile",
            profile,
            "--out-cert",
            cert.to_str().unwrap(),
            "--out-key",
            key.to_str().unwrap(),
        ]);
        let v: Value = serde_json::from_str(&out).unwrap();
        (cert, key, v["serial"].as_str().unwrap().to_owned())
    }

    /// `curl` GET of `path` with an optional client certificate and token; returns the
    /// curl exit code, the HTTP status and the body.
    fn curl(
        &self,
        path: &str,
        cert: Option<(&Path, &Path)>,
        token: Option<&str>,
    ) -> (i32, u16, String) {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--cacert"])
            .arg(self.server.ca())
            .args(["-w", "\n%{http_code}"])
            .env_remove("https_proxy")
            .env_remove("HTTPS_PROXY");
        if let Some((c, k)) = cert {
            cmd.arg("--cert").arg(c).arg("--key").arg(k);
        }
        if let Some(t) = token {
            cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
        }
        let out = cmd
            .arg(format!("https://{}{path}", self.hostport))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
        let status = status.trim().parse().unwrap_or(0);
        (out.status.code().unwrap_or(-1), status, body.to_owned())
    }

    /// One request through `openssl s_client` (optionally with a client certificate).
    fn s_client(&self, path: &str, cert: Option<(&Path, &Path)>) -> Output {
        let mut cmd = Command::new("openssl");
        cmd.args([
            "s_client",
            "-quiet",
            "-connect",
            &self.hostport,
            "-servername",
            "localhost",
        ])
        .arg("-CAfile")
        .arg(self.server.ca())
        .args(["-verify_return_error"]);
        if let Some((c, k)) = cert {
            cmd.arg("-cert").arg(c).arg("-key").arg(k);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(request.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }
}

fn problem_type(body: &str) -> String {
    serde_json::from_str::<Value>(body).unwrap_or_default()["type"]
        .as_str()
        .unwrap_or("")
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_owned()
}

#[test]
fn client_certificates_authenticate_through_bindings_and_revocation_refuses_them_at_once() {
    if have(&["curl", "openssl"]) {
        scenario(&[]);
    }
}

/// The same on PostgreSQL (when `WEBQX_TEST_POSTGRES` is set; CI sets it).
#[test]
fn mutual_tls_on_postgresql() {
    if let Some(env) = webqx_testkit::server::postgres_env()
        && have(&["curl", "openssl"])
    {
        scenario(&env);
    }
}

fn scenario(env: &[(String, String)]) {
    let f = Fixture::start(env);
    let (_, _, doc) = f.curl("/v1/openapi.json", None, None);
    assert!(doc.contains("/v1/pki/mtls/bindings") && doc.contains("/v1/pki/pins/{service}"));
    f.ok(&["key", "create", "phi"]);
    let token_out = f.ok(&[
        "--json", "token", "create", "--name", "billing", "--op", "key-read", "--key", "*",
    ]);
    let token: Value = serde_json::from_str(&token_out).unwrap();
    let (token_secret, token_id) = (
        token["token"].as_str().unwrap().to_owned(),
        token["info"]["id"].as_str().unwrap().to_owned(),
    );

    let (billing, billing_key, billing_serial) = f.issue("billing.ehr.test", "tls-client");
    let (node, node_key, _) = f.issue("node1.ehr.test", "secure-node");
    let (stranger, stranger_key, _) = f.issue("stranger.ehr.test", "tls-client");
    let (server_cert, server_key, _) = f.issue("srv.ehr.test", "tls-server");
    f.ok(&["cert", "bind", "billing.ehr.test", "--policy-of", &token_id]);
    f.ok(&[
        "cert",
        "bind",
        "node1.ehr.test",
        "--operation",
        "key-read",
        "--key",
        "phi",
    ]);
    let listed = f.ok(&["cert", "bindings"]);
    assert!(
        listed.contains("billing.ehr.test") && listed.contains("node1.ehr.test"),
        "{listed}"
    );

    // A token that may issue but holds less than a binding cannot mint a client-capable
    // certificate for the bound name (it would act with the binding's policy) ...
    let issuer_out = f.ok(&[
        "--json",
        "token",
        "create",
        "--name",
        "issuer",
        "--op",
        "pki-issue",
    ]);
    let issuer: Value = serde_json::from_str(&issuer_out).unwrap();
    let issuer_token = issuer["token"].as_str().unwrap();
    for profile in ["tls-client", "secure-node"] {
        let out = f.server.cli(&[
            "--token",
            issuer_token,
            "cert",
            "issue",
            "billing.ehr.test",
            "--profile",
            profile,
        ]);
        assert!(!out.status.success(), "{profile}: {}", stdout(&out));
        assert!(stderr(&out).contains("does not hold"), "{}", stderr(&out));
    }
    // ... yet it still issues for names nobody bound, and server certificates.
    for (name, profile) in [
        ("fresh.ehr.test", "tls-client"),
        ("billing.ehr.test", "tls-server"),
    ] {
        let out = f.server.cli(&[
            "--token",
            issuer_token,
            "cert",
            "issue",
            name,
            "--profile",
            profile,
        ]);
        assert!(out.status.success(), "{name} {profile}: {}", stderr(&out));
    }

    // curl with a bound client certificate and no token: authenticated.
    let (rc, status, body) = f.curl("/v1/keys/phi", Some((&billing, &billing_key)), None);
    assert_eq!((rc, status), (0, 200), "{body}");
    // ... a secure-node certificate with an explicit policy, too.
    let (_, status, body) = f.curl("/v1/keys/phi", Some((&node, &node_key)), None);
    assert_eq!(status, 200, "{body}");
    // ... and its policy is enforced (key-read only).
    let (_, status, body) = f.curl("/v1/tokens", Some((&node, &node_key)), None);
    assert_eq!(status, 403, "{body}");
    // Without a certificate or a token: 401; with a token only: bearer tokens still work.
    let (_, status, body) = f.curl("/v1/keys/phi", None, None);
    assert_eq!(
        (status, problem_type(&body).as_str()),
        (401, "token-missing"),
        "{body}"
    );
    let (_, status, _) = f.curl("/v1/keys/phi", None, Some(&token_secret));
    assert_eq!(status, 200);
    // A valid certificate that no binding names: 403, with a clear problem type.
    let (_, status, body) = f.curl("/v1/keys/phi", Some((&stranger, &stranger_key)), None);
    assert_eq!(
        (status, problem_type(&body).as_str()),
        (403, "certificate-not-bound"),
        "{body}"
    );
    // A server-profile certificate is refused as a client: the handshake fails.
    let (rc, status, body) = f.curl("/v1/keys/phi", Some((&server_cert, &server_key)), None);
    assert!(rc != 0 && status != 200, "curl {rc} {status} {body}");

    // openssl s_client, with and without a client certificate.
    let out = f.s_client("/v1/keys/phi", Some((&billing, &billing_key)));
    let text = stdout(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}\n{}", stderr(&out));
    let out = f.s_client("/v1/keys/phi", None);
    let text = stdout(&out);
    assert!(text.starts_with("HTTP/1.1 401"), "{text}\n{}", stderr(&out));
    let out = f.s_client("/v1/keys/phi", Some((&server_cert, &server_key)));
    assert!(!stdout(&out).contains("HTTP/1.1 200"), "{}", stderr(&out));

    // Revoked: refused at once, on the next request.
    f.ok(&[
        "cert",
        "revoke",
        &billing_serial,
        "--reason",
        "keyCompromise",
    ]);
    let (_, status, body) = f.curl("/v1/keys/phi", Some((&billing, &billing_key)), None);
    assert_eq!(
        (status, problem_type(&body).as_str()),
        (401, "certificate-revoked"),
        "{body}"
    );
    assert!(body.contains(&billing_serial), "{body}");
    let out = f.s_client("/v1/keys/phi", Some((&billing, &billing_key)));
    assert!(stdout(&out).starts_with("HTTP/1.1 401"), "{}", stdout(&out));

    // Unbinding stops the node's certificate at once too.
    f.ok(&["cert", "unbind", "node1.ehr.test"]);
    let (_, status, _) = f.curl("/v1/keys/phi", Some((&node, &node_key)), None);
    assert_eq!(status, 403);

    // The audit trail names the certificate (serial and bound name) as the actor.
    let trail = f.ok(&["audit", "export", "--format", "jsonl"]);
    let actor = format!("cert:{billing_serial}:billing.ehr.test");
    assert!(
        trail.contains(&format!("\"actor\":\"{actor}\"")),
        "no record by {actor}"
    );
    assert!(trail.contains("certificate-revoked") && trail.contains("certificate-not-bound"));
    assert!(trail.contains("\"pki.mtls.bind\""));
}
