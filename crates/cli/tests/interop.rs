//! Interoperability with real clients from Debian: curl (HTTP/1.1 and HTTP/2 over TLS
//! 1.3, chunked uploads) and OpenSSL (TLS versions offered, certificate chain,
//! verification of our Ed25519 and ECDSA signatures with the public keys we publish).

use std::process::Command;
use webqx_testkit::server::Server;

const BIN: &str = env!("CARGO_BIN_EXE_webqx-sec");

fn tool(name: &str) -> bool {
    let present = Command::new(name).arg("--version").output().is_ok()
        || Command::new(name).arg("version").output().is_ok();
    if !present && std::env::var_os("CI").is_some() {
        panic!("{name} is missing; .ci/run installs it");
    }
    present
}

fn curl(server: &Server, args: &[&str]) -> (String, String, i32) {
    let o = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(server.ca())
        .args([
            "-H",
            &format!("Authorization: Bearer {}", server.admin_token()),
        ])
        .args(args)
        .output()
        .expect("curl runs");
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        o.status.code().unwrap_or(-1),
    )
}

#[test]
fn curl_encrypts_and_decrypts_over_tls13_with_http1_and_http2() {
    if !tool("curl") {
        return;
    }
    let server = Server::start(BIN, &[]);
    let url = |p: &str| format!("{}{p}", server.addr);
    for http in ["--http1.1", "--http2"] {
        let (out, err, code) = curl(
            &server,
            &[
                http,
                "-w",
                "\n%{http_version} %{http_code}",
                "-H",
                "content-type: application/json",
                "-d",
                "{\"plaintext\":\"SmFuZSBEb2U=\",\"context\":\"UGF0aWVudC8x\"}",
                &url("/v1/keys/fhir-phi/encrypt"),
            ],
        );
        assert_eq!(code, 0, "{err}");
        let (body, meta) = out.rsplit_once('\n').unwrap();
        let expected_version = if http == "--http2" {
            "2 200"
        } else {
            "1.1 200"
        };
        assert_eq!(meta, expected_version);
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        let dec = format!(
            "{{\"ciphertext\":\"{}\",\"context\":\"UGF0aWVudC8x\"}}",
            v["ciphertext"].as_str().unwrap()
        );
        let (out, err, _) = curl(
            &server,
            &[http, "-d", &dec, &url("/v1/keys/fhir-phi/decrypt")],
        );
        assert!(out.contains("\"plaintext\":\"SmFuZSBEb2U=\""), "{out}{err}");
    }
    // TLS 1.2 only: the server refuses the handshake.
    let (_, err, code) = curl(&server, &["--tls-max", "1.2", &url("/v1/sys/health")]);
    assert_ne!(code, 0, "TLS 1.2 must be refused by default: {err}");
}

#[test]
fn curl_chunked_upload_over_the_limit_gets_413() {
    if !tool("curl") {
        return;
    }
    let env = vec![(
        "WEBQX_SERVER_MAX_BODY_BYTES".to_string(),
        "2048".to_string(),
    )];
    let server = Server::start(BIN, &env);
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.json");
    std::fs::write(&big, format!("{{\"plaintext\":\"{}\"}}", "A".repeat(4000))).unwrap();
    let (out, err, _) = curl(
        &server,
        &[
            "--http1.1",
            "-H",
            "Transfer-Encoding: chunked",
            "-H",
            "content-type: application/json",
            "--data-binary",
            &format!("@{}", big.display()),
            "-w",
            "\n%{http_code}",
            &format!("{}/v1/keys/fhir-phi/encrypt", server.addr),
        ],
    );
    assert!(out.ends_with("413"), "{out}{err}");
    assert!(out.contains("2048"), "names the limit: {out}");
}

#[test]
fn openssl_sees_tls13_only_and_a_chain_to_our_ca() {
    if !tool("openssl") {
        return;
    }
    let server = Server::start(BIN, &[]);
    let hostport = server.addr.trim_start_matches("https://").to_owned();
    let s_client = |version: &str| {
        let o = Command::new("openssl")
            .args(["s_client", "-connect", &hostport, version, "-CAfile"])
            .arg(server.ca())
            .args(["-verify_return_error", "-servername", "localhost"])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let tls13 = s_client("-tls1_3");
    assert!(
        tls13.contains("TLSv1.3") && tls13.contains("Verify return code: 0 (ok)"),
        "{tls13}"
    );
    let tls12 = s_client("-tls1_2");
    assert!(
        tls12.contains("alert protocol version") || tls12.contains("no protocols available"),
        "{tls12}"
    );
    let verify = Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(server.ca())
        .arg("-untrusted")
        .arg(server.data.join("tls/server.pem"))
        .arg(server.data.join("tls/server.pem"))
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}

#[test]
fn openssl_verifies_our_signatures_with_the_published_public_keys() {
    if !tool("openssl") {
        return;
    }
    let server = Server::start(BIN, &[]);
    let dir = tempfile::tempdir().unwrap();
    let msg = dir.path().join("msg");
    std::fs::write(&msg, b"lab result 42 for encounter 9").unwrap();
    for key_type in ["ed25519", "ecdsa-p256"] {
        let name = format!("sig-{key_type}");
        assert!(
            server
                .cli(&["key", "create", &name, "--type", key_type])
                .status
                .success()
        );
        let signed = server.cli(&[
            "--json",
            "key",
            "sign",
            &name,
            "--in",
            msg.to_str().unwrap(),
        ]);
        let v: serde_json::Value = serde_json::from_slice(&signed.stdout).unwrap();
        let raw = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            v["raw_signature"].as_str().unwrap(),
        )
        .unwrap();
        let sig = dir.path().join(format!("{name}.sig"));
        std::fs::write(&sig, raw).unwrap();
        let shown = server.cli(&["--json", "key", "show", &name]);
        let info: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
        let pem = dir.path().join(format!("{name}.pem"));
        std::fs::write(
            &pem,
            info["versions"][0]["public_key_pem"].as_str().unwrap(),
        )
        .unwrap();
        let o = if key_type == "ed25519" {
            Command::new("openssl")
                .args(["pkeyutl", "-verify", "-pubin", "-rawin", "-inkey"])
                .arg(&pem)
                .arg("-in")
                .arg(&msg)
                .arg("-sigfile")
                .arg(&sig)
                .output()
                .unwrap()
        } else {
            Command::new("openssl")
                .args(["dgst", "-sha256", "-verify"])
                .arg(&pem)
                .arg("-signature")
                .arg(&sig)
                .arg(&msg)
                .output()
                .unwrap()
        };
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success() && text.contains("Verif"),
            "{key_type}: {text}{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
