//! HSM root of trust through the real binary and a real SoftHSM2 (Debian `softhsm2`,
//! module `/usr/lib/softhsm/libsofthsm2.so`, made with `softhsm2-util`), each test with
//! its own `SOFTHSM2_CONF` and token folder.
//!
//! `webqx-sec init --hsm` wraps the root key in the token; `serve` unseals itself while
//! the HSM answers, stays sealed with a clear error when it does not (wrong PIN, module
//! missing, token folder removed), and unseals on the next scheduler tick when it is
//! back.

use base64::Engine;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};
use webqx_testkit::server::{Http, Server, stderr, stdout};
use webqx_testkit::softhsm::{MODULE, SoftHsm};

const BIN: &str = env!("CARGO_BIN_EXE_webqx-sec");
const TOKEN: &str = "webqx-e2e";
const PIN: &str = "1234-user-pin";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn write_pin(path: &Path, pin: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("{pin}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A server over a data folder initialized with `init --hsm`, not yet started.
fn hsm_server(hsm: &SoftHsm, dir: &Path) -> Server {
    let pin_file = dir.join("hsm.pin");
    write_pin(&pin_file, PIN);
    let mut env = hsm.env();
    env.extend([
        ("WEBQX_SEAL_MODULE".to_owned(), MODULE.to_owned()),
        ("WEBQX_SEAL_TOKEN_LABEL".to_owned(), TOKEN.to_owned()),
        (
            "WEBQX_SEAL_PIN_FILE".to_owned(),
            pin_file.display().to_string(),
        ),
    ]);
    let server = Server::over(BIN, &dir.join("data"), &env);
    let out = server.cli(&["init", "--hsm"]);
    assert!(out.status.success(), "init --hsm: {}", stderr(&out));
    assert!(stdout(&out).contains("HSM"), "{}", stdout(&out));
    server
}

async fn status(h: &Http) -> Value {
    let r = h.get("/v1/sys/seal-status").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json
}

/// Waits until the seal status satisfies `ok` (the scheduler ticks every second here).
async fn wait_for(h: &Http, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = status(h).await;
        if ok(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {s}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Sealed with an error containing `expect`, shown in seal-status and ready, logged.
async fn stays_sealed(server: &Server, expect: &str) {
    let h = server.http();
    let s = wait_for(&h, expect, |s| {
        s["last_error"].as_str().is_some_and(|e| e.contains(expect))
    })
    .await;
    assert_eq!(s["sealed"], true, "{s}");
    assert_eq!(s["seal_type"], "pkcs11", "{s}");
    let ready = h.get("/v1/sys/ready").await;
    assert_eq!(ready.status, 503, "{}", ready.text);
    assert!(
        ready.json["seal_error"]
            .as_str()
            .is_some_and(|e| e.contains(expect)),
        "{}",
        ready.text
    );
    let r = h
        .post("/v1/keys/phi/encrypt", json!({"plaintext": b64("x")}))
        .await;
    assert_eq!(r.status, 503, "a sealed server refuses crypto: {}", r.text);
    let metrics = h.get("/metrics").await;
    assert!(
        metrics
            .text
            .contains("webqx_kms_hsm_unseal_attempts_total{outcome=\"failed\"}"),
        "{}",
        metrics.text
    );
    let log = server.log();
    assert!(log.contains(expect), "the log says what to fix:\n{log}");
    assert!(!log.contains(PIN), "the PIN is never logged");
}

#[tokio::test(flavor = "multi_thread")]
async fn init_with_softhsm2_then_auto_unseal_across_restarts() {
    let Some(hsm) = SoftHsm::new() else { return };
    hsm.init_token(TOKEN, PIN, "so-pin-5678");
    let dir = tempfile::tempdir().unwrap();
    let mut server = hsm_server(&hsm, dir.path());

    // First start: unsealed by the HSM, no key file anywhere.
    server.spawn();
    let h = server.http();
    let s = status(&h).await;
    assert_eq!(s["sealed"], false, "{s}\n{}", server.log());
    assert_eq!(s["seal_type"], "pkcs11");
    assert!(!server.data.join("unseal.key").exists());
    let r = h
        .post("/v1/keys", json!({"name": "phi", "type": "aes256-gcm"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = h
        .post(
            "/v1/keys/phi/encrypt",
            json!({"plaintext": b64("MRN 12345")}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let ciphertext = r.json["ciphertext"].as_str().unwrap().to_owned();

    // Restart: unsealed again, and the key made before still decrypts.
    server.stop();
    server.spawn();
    let h = server.http();
    assert_eq!(status(&h).await["sealed"], false, "{}", server.log());
    let r = h
        .post("/v1/keys/phi/decrypt", json!({"ciphertext": ciphertext}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["plaintext"], b64("MRN 12345"));

    // An operator's seal holds across ticks; an explicit unseal retries the HSM.
    let r = h.post("/v1/sys/seal", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        status(&h).await["sealed"],
        true,
        "no automatic unseal after sys seal"
    );
    let r = h.with_token(None).post("/v1/sys/unseal", json!({})).await;
    assert_eq!(r.status, 403, "without a token the hold stays: {}", r.text);
    assert_eq!(
        r.json["type"],
        "https://webqx.health/problems/sealed-on-purpose"
    );
    assert_eq!(status(&h).await["sealed"], true);
    let out = server.cli(&["unseal"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(status(&h).await["sealed"], false);

    // Rotation of the HSM key; after a restart the new key unseals and old data opens.
    let out = server.cli(&["rewrap", "--key-label", "webqx-root-2026"]);
    assert!(out.status.success(), "{}", stderr(&out));
    server.stop();
    server.spawn();
    let h = server.http();
    assert_eq!(status(&h).await["sealed"], false, "{}", server.log());
    let r = h
        .post("/v1/keys/phi/decrypt", json!({"ciphertext": ciphertext}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // The chain holds every unseal attempt.
    let out = server.cli(&["audit", "verify"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    server.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn hsm_problems_keep_it_sealed_until_the_hsm_is_back() {
    let Some(hsm) = SoftHsm::new() else { return };
    hsm.init_token(TOKEN, PIN, "so-pin-5678");
    let dir = tempfile::tempdir().unwrap();
    let mut server = hsm_server(&hsm, dir.path());
    let pin_file = dir.path().join("hsm.pin");

    // Wrong PIN: sealed, says so; the PIN fixed, the next tick unseals.
    write_pin(&pin_file, "not-the-pin");
    server.spawn();
    stays_sealed(&server, "refused the PIN").await;
    write_pin(&pin_file, PIN);
    let h = server.http();
    let s = wait_for(&h, "unseal after fixing the PIN", |s| s["sealed"] == false).await;
    assert!(s.get("last_error").is_none(), "{s}");
    server.stop();

    // Token folder removed: sealed; back in place: unsealed without a restart.
    hsm.disconnect();
    server.spawn();
    stays_sealed(&server, "HSM").await;
    hsm.reconnect();
    wait_for(&server.http(), "unseal after the token is back", |s| {
        s["sealed"] == false
    })
    .await;
    server.stop();

    // Module missing (wrong path): sealed with the setting to fix.
    server.env.push((
        "WEBQX_SEAL_MODULE".into(),
        "/nonexistent/libvendor-pkcs11.so".into(),
    ));
    server.spawn();
    stays_sealed(&server, "seal.module").await;
    let r = server.http().post("/v1/sys/unseal", json!({})).await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(
        r.json["type"],
        "https://webqx.health/problems/hsm-unavailable"
    );
    server.stop();

    // A PIN written in the configuration is refused outright.
    let out = server.cli_with(&["config", "check"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    server.env.push(("WEBQX_SEAL_PIN".into(), "1234".into()));
    let out = server.cli(&["config", "check"]);
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("WEBQX_HSM_PIN"), "{said}");
    assert!(!said.contains("1234"), "{said}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_of_an_hsm_sealed_service_opens_with_the_hsm_alone() {
    let Some(hsm) = SoftHsm::new() else { return };
    hsm.init_token(TOKEN, PIN, "so-pin-5678");
    let dir = tempfile::tempdir().unwrap();
    let mut server = hsm_server(&hsm, dir.path());
    server.spawn();
    let h = server.http();
    let r = h
        .post("/v1/keys", json!({"name": "phi", "type": "aes256-gcm"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = h
        .post("/v1/keys/phi/encrypt", json!({"plaintext": b64("MRN 777")}))
        .await;
    let ciphertext = r.json["ciphertext"].as_str().unwrap().to_owned();
    let file = dir.path().join("hsm.wqxb");
    let file_s = file.to_str().unwrap();
    let out = server.cli(&["backup", "create", "-o", file_s]);
    assert!(out.status.success(), "{}", stderr(&out));
    server.stop();

    // The seal block names the HSM: no PIN is a usage error that says what to pass,
    // a wrong PIN is refused, the right one verifies.
    let pin_file = dir.path().join("hsm.pin");
    let pin_s = pin_file.to_str().unwrap();
    let out = server.cli(&["backup", "verify", file_s]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--hsm-pin-file"), "{}", stderr(&out));
    let wrong = dir.path().join("wrong.pin");
    write_pin(&wrong, "not-the-pin");
    let out = server.cli(&[
        "backup",
        "verify",
        file_s,
        "--hsm-pin-file",
        wrong.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!stderr(&out).contains("not-the-pin"), "{}", stderr(&out));
    let out = server.cli(&["backup", "verify", file_s, "--hsm-pin-file", pin_s]);
    assert!(out.status.success(), "{}", stderr(&out));

    // Restored on an empty folder, the service unseals itself from the same HSM.
    let mut again = Server::over(BIN, &dir.path().join("restored"), &server.env);
    let out = again.cli(&["backup", "restore", file_s, "--hsm-pin-file", pin_s]);
    assert!(out.status.success(), "{}", stderr(&out));
    again.spawn();
    let h = again.http();
    assert_eq!(status(&h).await["sealed"], false, "{}", again.log());
    let r = h
        .post("/v1/keys/phi/decrypt", json!({"ciphertext": ciphertext}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["plaintext"], b64("MRN 777"));
    let out = again.cli(&["audit", "verify"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    again.stop();
}

fn run_openssl(args: &[&str]) -> std::process::Output {
    std::process::Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs")
}

/// `openssl verify` (the real client) of `leaf` against `root` with `untrusted` between.
fn openssl_verifies(root: &Path, untrusted: Option<&Path>, leaf: &Path) {
    let (root, leaf) = (root.display().to_string(), leaf.display().to_string());
    let mut args = vec!["verify".to_owned(), "-CAfile".into(), root];
    if let Some(u) = untrusted {
        args.extend(["-untrusted".into(), u.display().to_string()]);
    }
    args.push(leaf);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_openssl(&args);
    assert!(
        out.status.success() && stdout(&out).contains(": OK"),
        "openssl verify: {}{}",
        stdout(&out),
        stderr(&out)
    );
}

fn cas(h: &Value) -> Vec<Value> {
    h["cas"].as_array().cloned().unwrap_or_default()
}

/// With `init --hsm` the root CA's key is generated in the token and never leaves it:
/// the intermediates and the root's CRL are signed there (openssl verifies them), and
/// while the token is gone the root cannot sign while everything else keeps working.
#[tokio::test(flavor = "multi_thread")]
async fn the_root_ca_key_lives_in_the_hsm_and_signs_there() {
    let Some(hsm) = SoftHsm::new() else { return };
    hsm.init_token(TOKEN, PIN, "so-pin-5678");
    let dir = tempfile::tempdir().unwrap();
    let mut server = hsm_server(&hsm, dir.path());
    server.spawn();
    let h = server.http();
    assert_eq!(status(&h).await["sealed"], false, "{}", server.log());

    // The hierarchy: the root's key is in the HSM, the issuing intermediate's is not.
    let r = h.get("/v1/pki/cas").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let list = cas(&r.json);
    let root = list.iter().find(|c| c["name"] == "root").expect("root");
    assert_eq!(root["key_storage"], "hsm", "{}", r.text);
    let issuing = list
        .iter()
        .find(|c| c["kind"] == "intermediate")
        .expect("issuing");
    assert_eq!(issuing["key_storage"], "kms", "{}", r.text);
    let root_pem = dir.path().join("root.pem");
    std::fs::write(&root_pem, root["cert_pem"].as_str().unwrap()).unwrap();
    let issuing_pem = dir.path().join("issuing.pem");
    std::fs::write(&issuing_pem, issuing["cert_pem"].as_str().unwrap()).unwrap();
    openssl_verifies(&root_pem, None, &issuing_pem);
    assert!(
        !server.log().contains(PIN),
        "the PIN is never logged:\n{}",
        server.log()
    );

    // A leaf from the intermediate chains to the HSM root.
    let r = h
        .post(
            "/v1/pki/issue",
            json!({"profile": "tls-server", "names": ["localhost"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let leaf = dir.path().join("leaf.pem");
    std::fs::write(&leaf, r.json["certificate"].as_str().unwrap()).unwrap();
    openssl_verifies(&root_pem, Some(&issuing_pem), &leaf);

    // The root's CRL is signed in the HSM: openssl checks its signature.
    let r = h.get("/v1/pki/crl.pem?issuer=root").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let crl = dir.path().join("root.crl.pem");
    std::fs::write(&crl, &r.text).unwrap();
    let out = run_openssl(&[
        "crl",
        "-in",
        &crl.display().to_string(),
        "-CAfile",
        &root_pem.display().to_string(),
        "-noout",
    ]);
    assert!(
        out.status.success() && stderr(&out).contains("verify OK"),
        "openssl crl: {}{}",
        stdout(&out),
        stderr(&out)
    );

    // Token gone: the root cannot sign a new intermediate (a clear HSM error), but the
    // intermediate still issues.
    hsm.disconnect();
    let r = h.post("/v1/pki/cas", json!({"name": "wards"})).await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert!(
        r.text.contains("HSM") || r.text.contains("token"),
        "{}",
        r.text
    );
    assert!(!r.text.contains(PIN));
    let r = h
        .post(
            "/v1/pki/issue",
            json!({"profile": "tls-server", "names": ["localhost"]}),
        )
        .await;
    assert_eq!(r.status, 201, "issuing needs no HSM: {}", r.text);

    // Token back: the intermediate is made and chains to the same root.
    hsm.reconnect();
    let r = h.post("/v1/pki/cas", json!({"name": "wards"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let wards = dir.path().join("wards.pem");
    std::fs::write(&wards, r.json["cert_pem"].as_str().unwrap()).unwrap();
    openssl_verifies(&root_pem, None, &wards);

    // Revoking that intermediate: the root's new CRL (signed in the HSM) lists it, and
    // openssl's full CRL check refuses a leaf it issued.
    let r = h
        .post(
            "/v1/pki/issue",
            json!({"profile": "tls-server", "names": ["localhost"], "issuer": "wards"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let ward_leaf = dir.path().join("ward-leaf.pem");
    std::fs::write(&ward_leaf, r.json["certificate"].as_str().unwrap()).unwrap();
    let out = server.cli(&[
        "ca",
        "intermediate",
        "revoke",
        "wards",
        "--reason",
        "keyCompromise",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("revoked"), "{}", stdout(&out));
    let mut crls = String::new();
    for issuer in ["root", "wards"] {
        let r = h.get(&format!("/v1/pki/crl.pem?issuer={issuer}")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        crls.push_str(&r.text);
    }
    let crl_file = dir.path().join("all.crl.pem");
    std::fs::write(&crl_file, crls).unwrap();
    let out = run_openssl(&[
        "verify",
        "-crl_check_all",
        "-CRLfile",
        &crl_file.display().to_string(),
        "-CAfile",
        &root_pem.display().to_string(),
        "-untrusted",
        &wards.display().to_string(),
        &ward_leaf.display().to_string(),
    ]);
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        !out.status.success() && said.contains("certificate revoked"),
        "openssl verify -crl_check_all: {said}"
    );
    let r = h
        .post(
            "/v1/pki/issue",
            json!({"profile": "tls-server", "names": ["localhost"], "issuer": "wards"}),
        )
        .await;
    assert_eq!(r.status, 422, "a revoked CA issues nothing: {}", r.text);
    let r = h
        .post(
            "/v1/pki/issue/batch",
            json!({"items": [{"profile": "tls-server", "names": ["localhost"], "issuer": "wards"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json["issued"], 0,
        "nor through the batch route: {}",
        r.text
    );

    // After a restart the CLI shows where each key is, and the trail verifies.
    server.stop();
    server.spawn();
    let out = server.cli(&["ca", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.starts_with("root") && l.contains("key in hsm")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("wards") && l.contains("REVOKED (keyCompromise)")),
        "{text}"
    );
    let out = server.cli(&["audit", "verify"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    server.stop();
}
