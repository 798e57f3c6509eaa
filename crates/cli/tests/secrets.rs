//! Secrets and PHI never reach the diagnostic log or the audit trail: a debug-level
//! server log and every audit record are searched for the token, the unseal key, the
//! plaintexts (raw and base64) and the contexts sent.

use base64::Engine as _;
use serde_json::json;
use webqx_testkit::server::Server;

const BIN: &str = env!("CARGO_BIN_EXE_webqx-sec");

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_or_phi_in_logs_or_audit_records() {
    let env = vec![("RUST_LOG".to_string(), "debug".to_string())];
    let mut server = Server::start(BIN, &env);
    let h = server.http();
    let plaintext = "Zebulon Quasimodo-Featherstonehaugh SSN 999-12-3456";
    let context = "Patient/unique-context-7731";
    let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let r = h
        .post(
            "/v1/keys/fhir-phi/encrypt",
            json!({"plaintext": b(plaintext), "context": b(context)}),
        )
        .await;
    let ct = r.json["ciphertext"].as_str().unwrap().to_owned();
    h.post(
        "/v1/keys/fhir-phi/decrypt",
        json!({"ciphertext": ct, "context": b(context)}),
    )
    .await;
    h.post(
        "/v1/keys/fhir-phi/decrypt",
        json!({"ciphertext": ct, "context": b("wrong")}),
    )
    .await;
    let fhir = json!({"resourceType": "Patient", "id": "p-7731", "name": [{"family": "Featherstonehaugh"}], "birthDate": "1911-11-11"});
    h.send(
        "POST",
        "/v1/fhir/protect",
        Some((fhir.to_string().into_bytes(), "application/fhir+json")),
    )
    .await;
    let t = h
        .post(
            "/v1/tokens",
            json!({"name": "svc", "operations": ["encrypt"], "keys": ["*"]}),
        )
        .await;
    let scoped = t.json["token"].as_str().unwrap().to_owned();
    h.with_token(Some(&scoped))
        .post("/v1/keys/fhir-phi/decrypt", json!({"ciphertext": ct}))
        .await;
    h.with_token(Some(&format!("{scoped}x")))
        .get("/v1/keys")
        .await;
    server.stop();

    let admin = server.admin_token();
    let unseal_key = std::fs::read_to_string(server.data.join("unseal.key")).unwrap();
    let secrets = [
        (
            "admin token secret",
            admin.rsplit('.').next().unwrap().to_owned(),
        ),
        (
            "scoped token secret",
            scoped.rsplit('.').next().unwrap().to_owned(),
        ),
        ("unseal key", unseal_key.trim().to_owned()),
        ("plaintext", "Quasimodo".to_owned()),
        ("plaintext base64", b(plaintext)),
        ("context", "unique-context-7731".to_owned()),
        ("FHIR name", "Featherstonehaugh".to_owned()),
        ("FHIR birth date", "1911-11-11".to_owned()),
    ];
    let log = server.log();
    assert!(log.contains("DEBUG"), "the log ran at debug level");

    let runtime_store = webqx_store::Store::open(&webqx_store::StoreConfig::sqlite(
        &server.data.join("store.db"),
    ))
    .await
    .unwrap();
    let bodies: Vec<String> = webqx_store::query("SELECT body FROM audit_log")
        .fetch_all(runtime_store.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| webqx_store::Row::try_get(r, 0).unwrap())
        .collect();
    assert!(bodies.len() > 8);
    let audit = bodies.join("\n");
    assert!(
        audit.contains("\"hmac\""),
        "sensitive values are there as HMACs"
    );
    for (what, secret) in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "{what} found in the server log"
        );
        assert!(
            !audit.contains(secret.as_str()),
            "{what} found in the audit trail"
        );
    }
}
