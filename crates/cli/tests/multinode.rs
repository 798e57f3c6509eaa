//! Two server nodes on one PostgreSQL database (the scale-out deployment): their audit
//! records form one verifiable chain, keys rotated on one are used on the other, and a
//! revocation or a disabled key on one node is refused on the other within the cache
//! lifetime (`server.cache_ttl`, 1 s). Runs when `WEBQX_TEST_POSTGRES` is set (CI).

use base64::Engine as _;
use serde_json::json;
use std::time::Duration;
use webqx_testkit::server::{Server, postgres_env};

const BIN: &str = env!("CARGO_BIN_EXE_webqx-sec");

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_share_keys_tokens_and_one_audit_chain() {
    let Some(env) = postgres_env() else {
        eprintln!("SKIPPED: set WEBQX_TEST_POSTGRES to run the two-node test");
        return;
    };
    let a = Server::start(BIN, &env);
    // The second node gets the first one's TLS material, token and (local-use) unseal key.
    let dir = tempfile::tempdir().unwrap();
    let data_b = dir.path().join("node-b");
    std::fs::create_dir_all(data_b.join("tls")).unwrap();
    for f in [
        "tls/ca.pem",
        "tls/server.pem",
        "tls/server.key",
        "admin.token",
        "unseal.key",
    ] {
        std::fs::copy(a.data.join(f), data_b.join(f)).unwrap();
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&data_b, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(data_b.join("tls"), std::fs::Permissions::from_mode(0o700))
            .unwrap();
    }
    let mut b = Server::over(BIN, &data_b, &env);
    b.spawn();
    let (ha, hb) = (a.http(), b.http());

    ha.post("/v1/keys", json!({"name": "shared"})).await;
    let mut tasks = Vec::new();
    for (i, h) in [ha.clone(), hb.clone(), ha.clone(), hb.clone()]
        .into_iter()
        .enumerate()
    {
        tasks.push(tokio::spawn(async move {
            for j in 0..60 {
                let r = h
                    .post(
                        "/v1/keys/shared/encrypt",
                        json!({"plaintext": b64(&format!("{i}-{j}"))}),
                    )
                    .await;
                assert_eq!(r.status, 200, "{}", r.text);
                if j % 20 == 0 {
                    assert_eq!(
                        h.post("/v1/keys/shared/rotate", json!({})).await.status,
                        200
                    );
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let ct = ha
        .post(
            "/v1/keys/shared/encrypt",
            json!({"plaintext": b64("cross")}),
        )
        .await
        .json["ciphertext"]
        .clone();
    let r = hb
        .post("/v1/keys/shared/decrypt", json!({"ciphertext": ct}))
        .await;
    assert_eq!(r.json["plaintext"], b64("cross"), "{}", r.text);
    // B has the key cached; A rotates and encrypts with the new version at once: B must
    // still decrypt (a newer version than it knows makes it read the store).
    assert_eq!(
        hb.post("/v1/keys/shared/encrypt", json!({"plaintext": b64("warm")}))
            .await
            .status,
        200
    );
    assert_eq!(
        ha.post("/v1/keys/shared/rotate", json!({})).await.status,
        200
    );
    let fresh = ha
        .post(
            "/v1/keys/shared/encrypt",
            json!({"plaintext": b64("fresh")}),
        )
        .await
        .json["ciphertext"]
        .clone();
    let r = hb
        .post("/v1/keys/shared/decrypt", json!({"ciphertext": fresh}))
        .await;
    assert_eq!(r.json["plaintext"], b64("fresh"), "{}", r.text);
    let doc = json!({"resourceType": "Patient", "birthDate": "1990-01-01"});
    let prot = ha
        .send(
            "POST",
            "/v1/fhir/protect",
            Some((doc.to_string().into_bytes(), "application/fhir+json")),
        )
        .await;
    let back = hb
        .send(
            "POST",
            "/v1/fhir/unprotect",
            Some((prot.text.into_bytes(), "application/fhir+json")),
        )
        .await;
    assert_eq!(back.json, doc, "{}", back.text);
    for h in [&ha, &hb] {
        let report = h.get("/v1/audit/verify").await;
        assert!(report.json["first_break"].is_null(), "{}", report.text);
        assert!(report.json["records"].as_u64().unwrap() > 240);
    }

    let t = ha
        .post(
            "/v1/tokens",
            json!({"name": "svc", "operations": ["encrypt"], "keys": ["*"]}),
        )
        .await;
    let (token, id) = (
        t.json["token"].as_str().unwrap().to_owned(),
        t.json["info"]["id"].as_str().unwrap().to_owned(),
    );
    let on_b = hb.with_token(Some(&token));
    assert_eq!(
        on_b.post("/v1/keys/shared/encrypt", json!({"plaintext": b64("x")}))
            .await
            .status,
        200
    );
    ha.send("DELETE", &format!("/v1/tokens/{id}"), None).await;
    ha.post("/v1/keys/shared/disable", json!({})).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(
        on_b.post("/v1/keys/shared/encrypt", json!({"plaintext": b64("x")}))
            .await
            .status,
        401
    );
    assert_eq!(
        hb.post("/v1/keys/shared/encrypt", json!({"plaintext": b64("x")}))
            .await
            .status,
        409
    );
}
