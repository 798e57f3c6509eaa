//! The HTTP API through the real binary: every kind of bad input gets a clear
//! problem+json error with the right status, and nothing panics. Runs on SQLite, and on
//! PostgreSQL too when `WEBQX_TEST_POSTGRES` is set (CI sets it).

use base64::Engine as _;
use serde_json::{Value, json};
use webqx_testkit::server::{Http, Server, postgres_env};

const BIN: &str = env!("CARGO_BIN_EXE_webqx-sec");

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn servers() -> Vec<(Server, &'static str)> {
    let mut out = vec![(Server::start(BIN, &[]), "sqlite")];
    if let Some(env) = postgres_env() {
        out.push((Server::start(BIN, &env), "postgres"));
    }
    out
}

fn assert_problem(r: &webqx_testkit::server::Reply, status: u16, kind: &str, label: &str) {
    assert_eq!(r.status, status, "{label}: {}", r.text);
    assert_eq!(
        r.headers["content-type"], "application/problem+json",
        "{label}"
    );
    assert_eq!(
        r.json["type"],
        format!("https://webqx.health/problems/{kind}"),
        "{label}: {}",
        r.text
    );
    assert_eq!(r.json["status"], status, "{label}");
    assert!(
        r.json["detail"].as_str().is_some_and(|d| d.len() > 20),
        "{label}: a detail that helps: {}",
        r.text
    );
    assert!(r.headers.contains_key("x-request-id"), "{label}");
}

async fn encrypt(h: &Http, key: &str, text: &str, ctx: Option<&str>) -> String {
    let mut body = json!({"plaintext": b64(text)});
    if let Some(c) = ctx {
        body["context"] = b64(c).into();
    }
    let r = h.post(&format!("/v1/keys/{key}/encrypt"), body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["ciphertext"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_inputs_get_clear_errors() {
    for (server, label) in servers() {
        let h = server.http();
        let r = h
            .post("/v1/keys", json!({"name": "phi", "type": "aes256-gcm"}))
            .await;
        assert_eq!(r.status, 201, "{label}: {}", r.text);
        h.post("/v1/keys", json!({"name": "signer", "type": "ed25519"}))
            .await;

        // Malformed JSON, with where.
        let r = h
            .send(
                "POST",
                "/v1/keys/phi/encrypt",
                Some((b"{\"plaintext\": ".to_vec(), "application/json")),
            )
            .await;
        assert_problem(&r, 400, "malformed-json", label);
        assert!(
            r.json["detail"].as_str().unwrap().contains("line 1"),
            "{}",
            r.text
        );
        let r = h
            .post("/v1/keys/phi/encrypt", json!({"plaintxt": b64("x")}))
            .await;
        assert_problem(&r, 400, "malformed-json", label);
        assert!(
            r.text.contains("plaintxt"),
            "names the unknown field: {}",
            r.text
        );

        // Invalid base64, naming the field.
        let r = h
            .post("/v1/keys/phi/encrypt", json!({"plaintext": "not base64!"}))
            .await;
        assert_problem(&r, 400, "invalid-base64", label);
        assert!(r.text.contains("plaintext"), "{}", r.text);
        let r = h
            .post(
                "/v1/keys/phi/encrypt",
                json!({"plaintext": b64("x"), "context": "%%"}),
            )
            .await;
        assert_problem(&r, 400, "invalid-base64", label);

        // Unknown key; wrong type for the operation.
        let r = h
            .post("/v1/keys/nope/encrypt", json!({"plaintext": b64("x")}))
            .await;
        assert_problem(&r, 404, "key-not-found", label);
        let r = h
            .post("/v1/keys/signer/encrypt", json!({"plaintext": b64("x")}))
            .await;
        assert_problem(&r, 400, "wrong-key-type", label);
        let r = h
            .post("/v1/keys/phi/sign", json!({"input": b64("x")}))
            .await;
        assert_problem(&r, 400, "wrong-key-type", label);

        // Tampered, truncated, garbage ciphertexts and the wrong context: one opaque error.
        let ct = encrypt(&h, "phi", "Jane Doe, MRN 12345", Some("Patient/1")).await;
        let mut tampered = ct.clone().into_bytes();
        let i = tampered.len() - 6;
        tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
        let cases = [
            (String::from_utf8(tampered).unwrap(), "Patient/1"),
            (ct[..ct.len() - 10].to_owned(), "Patient/1"),
            ("wqx1:garbage".to_owned(), "Patient/1"),
            ("hello".to_owned(), "Patient/1"),
            (ct.clone(), "Patient/2"),
        ];
        let mut details = Vec::new();
        for (bad, ctx) in cases {
            let r = h
                .post(
                    "/v1/keys/phi/decrypt",
                    json!({"ciphertext": bad, "context": b64(ctx)}),
                )
                .await;
            assert_problem(&r, 400, "decryption-failed", label);
            details.push(r.json["detail"].clone());
        }
        details.dedup();
        assert_eq!(details.len(), 1, "{label}: one opaque message");

        // Disabled key, then destroyed key.
        h.post("/v1/keys/phi/disable", json!({})).await;
        let r = h
            .post("/v1/keys/phi/decrypt", json!({"ciphertext": ct}))
            .await;
        assert_problem(&r, 409, "key-disabled", label);
        h.post("/v1/keys/phi/enable", json!({})).await;

        // Unknown route and method.
        assert_problem(&h.get("/v1/nothing").await, 404, "not-found", label);
        assert_problem(
            &h.send("DELETE", "/v1/keys/phi/encrypt", None).await,
            405,
            "method-not-allowed",
            label,
        );

        // Empty batch; both single and batch.
        let r = h
            .post("/v1/keys/phi/encrypt", json!({"batch_input": []}))
            .await;
        assert_problem(&r, 400, "invalid-request", label);
        let r = h
            .post(
                "/v1/keys/phi/encrypt",
                json!({"plaintext": b64("a"), "batch_input": [{"plaintext": b64("b")}]}),
            )
            .await;
        assert_problem(&r, 400, "invalid-request", label);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_401_and_403_are_distinct() {
    for (server, label) in servers() {
        let admin = server.http();
        admin.post("/v1/keys", json!({"name": "phi-notes"})).await;
        admin.post("/v1/keys", json!({"name": "billing"})).await;

        let none = admin.with_token(None);
        let r = none
            .post("/v1/keys/phi-notes/encrypt", json!({"plaintext": b64("x")}))
            .await;
        assert_problem(&r, 401, "token-missing", label);
        assert_eq!(r.headers["www-authenticate"], "Bearer realm=\"webqx\"");
        let wrong = admin.with_token(Some(
            "wqxt.0123456789abcdef0123456789abcdef.nottherightsecret",
        ));
        assert_problem(&wrong.get("/v1/keys").await, 401, "token-invalid", label);
        let garbage = admin.with_token(Some(&"x".repeat(5000)));
        assert_problem(&garbage.get("/v1/keys").await, 401, "token-invalid", label);

        let r = admin
            .post("/v1/tokens", json!({"name": "notes-writer", "operations": ["encrypt"], "keys": ["phi-*"], "ttl": "1h"}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let token = r.json["token"].as_str().unwrap().to_owned();
        let id = r.json["info"]["id"].as_str().unwrap().to_owned();
        let scoped = admin.with_token(Some(&token));
        assert_eq!(
            scoped
                .post("/v1/keys/phi-notes/encrypt", json!({"plaintext": b64("x")}))
                .await
                .status,
            200
        );
        let r = scoped
            .post("/v1/keys/billing/encrypt", json!({"plaintext": b64("x")}))
            .await;
        assert_problem(&r, 403, "forbidden", label);
        assert!(
            r.text.contains("notes-writer") && r.text.contains("billing"),
            "{}",
            r.text
        );
        assert_problem(
            &scoped
                .post("/v1/keys/phi-notes/decrypt", json!({"ciphertext": "x"}))
                .await,
            403,
            "forbidden",
            label,
        );
        assert_problem(
            &scoped.post("/v1/keys", json!({"name": "phi-x"})).await,
            403,
            "forbidden",
            label,
        );

        // Revocation is immediate; expired tokens say so.
        assert_eq!(
            admin
                .send("DELETE", &format!("/v1/tokens/{id}"), None)
                .await
                .status,
            200
        );
        assert_problem(
            &scoped
                .post("/v1/keys/phi-notes/encrypt", json!({"plaintext": b64("x")}))
                .await,
            401,
            "token-invalid",
            label,
        );
        let r = admin
            .post(
                "/v1/tokens",
                json!({"name": "short", "operations": ["key-read"], "ttl": "1s"}),
            )
            .await;
        let short = admin.with_token(r.json["token"].as_str());
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        assert_problem(&short.get("/v1/keys").await, 401, "token-expired", label);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sealed_server_answers_503_sealed_and_unseals() {
    for (server, label) in servers() {
        let h = server.http();
        let ct = encrypt(&h, "fhir-phi", "x", None).await;
        assert_eq!(h.post("/v1/sys/seal", json!({})).await.status, 200);
        let r = h
            .post("/v1/keys/fhir-phi/decrypt", json!({"ciphertext": ct}))
            .await;
        assert_problem(&r, 503, "sealed", label);
        assert!(r.json["detail"].as_str().unwrap().contains("unseal"));
        assert_problem(
            &h.post("/v1/fhir/protect", json!({"resourceType": "Patient"}))
                .await,
            503,
            "sealed",
            label,
        );
        let ready = h.with_token(None).get("/v1/sys/ready").await;
        assert_eq!(
            (ready.status, ready.json["status"].clone()),
            (503, json!("sealed"))
        );
        let health = h.with_token(None).get("/v1/sys/health").await;
        assert_eq!(
            (health.status, health.json["sealed"].clone()),
            (200, json!(true))
        );

        let bad = h
            .with_token(None)
            .post("/v1/sys/unseal", json!({"key": "00".repeat(32)}))
            .await;
        assert_problem(&bad, 400, "unseal-failed", label);
        let key = std::fs::read_to_string(server.data.join("unseal.key")).unwrap();
        let r = h
            .with_token(None)
            .post("/v1/sys/unseal", json!({"key": key.trim()}))
            .await;
        assert_eq!(
            (r.status, r.json["sealed"].clone()),
            (200, json!(false)),
            "{}",
            r.text
        );
        assert_eq!(
            h.post("/v1/keys/fhir-phi/decrypt", json!({"ciphertext": ct}))
                .await
                .status,
            200
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn operations_batches_and_rotation() {
    for (server, label) in servers() {
        let h = server.http();
        h.post("/v1/keys", json!({"name": "k"})).await;
        let r = h
            .post("/v1/keys/k/encrypt", json!({"batch_input": [{"plaintext": b64("a")}, {"plaintext": b64("b"), "context": b64("c")}]}))
            .await;
        assert_eq!(r.status, 200, "{label}: {}", r.text);
        let results = r.json["batch_results"].as_array().unwrap().clone();
        let items: Vec<Value> = vec![
            json!({"ciphertext": results[0]["ciphertext"]}),
            json!({"ciphertext": "wqx1:broken"}),
            json!({"ciphertext": results[1]["ciphertext"], "context": b64("c")}),
        ];
        let r = h
            .post("/v1/keys/k/decrypt", json!({"batch_input": items}))
            .await;
        let out = r.json["batch_results"].as_array().unwrap();
        assert_eq!(out[0]["plaintext"], b64("a"));
        assert_eq!(
            out[1]["error"]["type"],
            "https://webqx.health/problems/decryption-failed"
        );
        assert_eq!(out[2]["plaintext"], b64("b"));

        let rotated = h.post("/v1/keys/k/rotate", json!({})).await;
        assert_eq!(rotated.json["latest_version"], 2);
        let r = h
            .post(
                "/v1/keys/k/rewrap",
                json!({"ciphertext": results[0]["ciphertext"]}),
            )
            .await;
        assert_eq!(r.json["key_version"], 2, "{}", r.text);
        let r = h
            .post(
                "/v1/keys/k/decrypt",
                json!({"ciphertext": r.json["ciphertext"]}),
            )
            .await;
        assert_eq!(r.json["plaintext"], b64("a"));

        let dk = h
            .post("/v1/keys/k/datakey", json!({"type": "wrapped"}))
            .await;
        assert!(
            dk.json.get("plaintext").is_none() && dk.json["ciphertext"].is_string(),
            "{}",
            dk.text
        );
        let dk = h.post("/v1/keys/k/datakey", json!({"bits": 512})).await;
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(dk.json["plaintext"].as_str().unwrap())
                .unwrap()
                .len(),
            64
        );

        h.post("/v1/keys", json!({"name": "mac", "type": "hmac"}))
            .await;
        let tag = h
            .post(
                "/v1/keys/mac/hmac",
                json!({"input": b64("m"), "algorithm": "sha512"}),
            )
            .await;
        let ok = h
            .post(
                "/v1/keys/mac/verify",
                json!({"input": b64("m"), "hmac": tag.json["hmac"]}),
            )
            .await;
        assert_eq!(ok.json["valid"], true, "{}", ok.text);
        let no = h
            .post(
                "/v1/keys/mac/verify",
                json!({"input": b64("n"), "hmac": tag.json["hmac"]}),
            )
            .await;
        assert_eq!(no.json["valid"], false);

        let exported = h.get("/v1/keys/k/export").await;
        assert_eq!(exported.status, 403, "not exportable: {}", exported.text);
        let listed = h.get("/v1/keys?limit=1").await;
        assert_eq!(listed.json["keys"].as_array().unwrap().len(), 1);
        assert!(listed.json["next_cursor"].is_string());
        let shown = h.get("/v1/keys/k").await;
        assert!(
            !shown.text.contains("material")
                && shown.json["versions"].as_array().unwrap().len() == 2
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn discovery_endpoints_and_request_ids() {
    let server = Server::start(BIN, &[]);
    let h = server.http();
    let doc = h.with_token(None).get("/v1/openapi.json").await;
    assert_eq!(doc.status, 200);
    assert!(
        doc.json["paths"]["/v1/keys/{name}/encrypt"]["post"].is_object(),
        "generated from the handlers"
    );
    assert!(doc.json["paths"]["/v1/fhir/protect"]["post"].is_object());
    let r = h.send("GET", "/v1/keys", None).await;
    assert!(r.headers["x-request-id"].to_str().unwrap().len() >= 32);
    let metrics = h.get("/metrics").await;
    assert!(
        metrics.text.contains("webqx_server_requests_total"),
        "{}",
        metrics.text
    );
    assert_eq!(h.with_token(None).get("/metrics").await.status, 401);
    let report = h.get("/v1/audit/verify").await;
    assert_eq!(report.json["first_break"], Value::Null, "{}", report.text);
    assert!(
        report.json["records"].as_u64().unwrap() >= 3,
        "{}",
        report.text
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn oversize_bodies_get_413_naming_the_limit() {
    let env = vec![(
        "WEBQX_SERVER_MAX_BODY_BYTES".to_string(),
        "4096".to_string(),
    )];
    let server = Server::start(BIN, &env);
    let h = server.http();
    let big = format!("{{\"plaintext\": \"{}\"}}", "A".repeat(8000)).into_bytes();
    let r = h
        .send(
            "POST",
            "/v1/keys/fhir-phi/encrypt",
            Some((big, "application/json")),
        )
        .await;
    assert_problem(&r, 413, "body-too-large", "content-length");
    assert_eq!(
        r.json["limit"], 4096,
        "a client can split to fit: {}",
        r.text
    );
    assert!(
        r.text.contains("4096") && r.text.contains("server.max_body_bytes"),
        "names the limit: {}",
        r.text
    );
    let r = h
        .send(
            "POST",
            "/v1/fhir/protect",
            Some((vec![b' '; 5000], "application/fhir+json")),
        )
        .await;
    assert_problem(&r, 413, "body-too-large", "fhir");

    // A gzip body is undone on every endpoint, and held to the same limit once
    // decompressed (a small bomb of 100,000 spaces is 413, not 100 kB buffered).
    let gz = |bytes: &[u8]| {
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut z, bytes).unwrap();
        z.finish().unwrap()
    };
    let encrypt = |body: Vec<u8>, coding: &'static str| {
        let h = h.clone();
        async move {
            h.send_raw(
                "POST",
                "/v1/keys/fhir-phi/encrypt",
                Some(body),
                &[
                    ("content-type", "application/json"),
                    ("content-encoding", coding),
                ],
            )
            .await
        }
    };
    let small = format!("{{\"plaintext\": \"{}\"}}", b64("gzip me"));
    let r = encrypt(gz(small.as_bytes()), "gzip").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json["ciphertext"].is_string(), "{}", r.text);
    let mut bomb = small.clone().into_bytes();
    bomb.extend(std::iter::repeat_n(b' ', 100_000));
    let r = encrypt(gz(&bomb), "gzip").await;
    assert_problem(&r, 413, "body-too-large", "gzip bomb");
    assert_eq!(r.json["limit"], 4096, "{}", r.text);
    assert!(
        r.text.contains("decompresses to more than 4096"),
        "{}",
        r.text
    );
    let r = encrypt(small.clone().into_bytes(), "gzip").await;
    assert_problem(&r, 400, "invalid-content-encoding", "not gzip");
    // Another coding: 415 naming what is accepted (RFC 7694 Accept-Encoding).
    let r = encrypt(gz(small.as_bytes()), "br").await;
    assert_problem(&r, 415, "unsupported-content-encoding", "br");
    assert_eq!(
        r.headers["accept-encoding"], "gzip, identity",
        "{:?}",
        r.headers
    );
    let r = encrypt(small.into_bytes(), "identity").await;
    assert_eq!(r.status, 200, "{}", r.text);

    // OCSP reads its request as sent: a coded one is a malformedRequest (RFC 6960
    // OCSPResponse with status 1, DER 30 03 0a 01 01), never misread.
    let r = h
        .with_token(None)
        .send_raw(
            "POST",
            "/v1/pki/ocsp",
            Some(gz(b"0\x00")),
            &[
                ("content-type", "application/ocsp-request"),
                ("content-encoding", "gzip"),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "application/ocsp-response");
    assert_eq!(
        r.text.as_bytes(),
        [0x30, 0x03, 0x0a, 0x01, 0x01],
        "{:?}",
        r.text
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn when_the_audit_trail_cannot_be_written_requests_fail_and_change_nothing() {
    let server = Server::start(BIN, &[]);
    let h = server.http();
    let store = webqx_store::Store::open(&webqx_store::StoreConfig::sqlite(
        &server.data.join("store.db"),
    ))
    .await
    .unwrap();
    let block = "CREATE TRIGGER block_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(FAIL, 'audit blocked by test'); END";
    webqx_store::query(block)
        .execute(store.pool())
        .await
        .unwrap();

    let r = h
        .post("/v1/keys/fhir-phi/encrypt", json!({"plaintext": b64("x")}))
        .await;
    assert_problem(&r, 503, "audit-unavailable", "encrypt");
    assert!(
        r.json.get("ciphertext").is_none(),
        "no result without its audit record"
    );
    let r = h.post("/v1/keys", json!({"name": "unaudited"})).await;
    assert_problem(&r, 503, "audit-unavailable", "create");
    let r = h
        .post("/v1/keys/fhir-phi/encrypt", json!({"plaintxt": "x"}))
        .await;
    assert_eq!(
        r.status, 503,
        "even a bad request is refused when it cannot be audited: {}",
        r.text
    );

    webqx_store::query("DROP TRIGGER block_audit")
        .execute(store.pool())
        .await
        .unwrap();
    store.close().await;
    assert_eq!(
        h.get("/v1/keys/unaudited").await.status,
        404,
        "the key was not created"
    );
    assert_eq!(
        h.post("/v1/keys/fhir-phi/encrypt", json!({"plaintext": b64("x")}))
            .await
            .status,
        200
    );
    let report = h.get("/v1/audit/verify").await;
    assert!(report.json["first_break"].is_null(), "{}", report.text);
}

#[tokio::test(flavor = "multi_thread")]
async fn review_findings_stay_fixed() {
    let server = Server::start(BIN, &[]);
    let admin = server.http();
    admin.post("/v1/keys", json!({"name": "billing-a"})).await;
    admin.post("/v1/keys", json!({"name": "psych-notes"})).await;

    // A sys token cannot mint wider tokens nor revoke the admin token.
    let r = admin
        .post(
            "/v1/tokens",
            json!({"name": "ops", "operations": ["sys", "key-read"], "keys": ["billing-*"]}),
        )
        .await;
    let ops = admin.with_token(r.json["token"].as_str());
    let r = ops
        .post(
            "/v1/tokens",
            json!({"name": "evil", "operations": ["decrypt"], "keys": ["*"]}),
        )
        .await;
    assert_problem(&r, 403, "forbidden", "escalation");
    let list = admin.get("/v1/tokens").await;
    let admin_id = list.json["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "admin")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_problem(
        &ops.send("DELETE", &format!("/v1/tokens/{admin_id}"), None)
            .await,
        403,
        "forbidden",
        "revoke admin",
    );
    assert_problem(
        &admin
            .send("DELETE", &format!("/v1/tokens/{admin_id}"), None)
            .await,
        403,
        "forbidden",
        "admin self-revoke",
    );

    // A key-read token scoped to billing-* lists only those keys.
    let listed = ops.get("/v1/keys").await;
    let names: Vec<&str> = listed.json["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["billing-a"]);

    // Malformed query strings and paths get problem documents.
    assert_problem(
        &admin.get("/v1/keys?limit=-1").await,
        400,
        "invalid-request",
        "query",
    );
    assert_problem(
        &admin.get("/v1/keys/%ff%fe").await,
        400,
        "invalid-request",
        "path",
    );

    // Duplicate keys in FHIR JSON are refused, not silently collapsed.
    let dup =
        br#"{"resourceType":"Patient","birthDate":"1970-01-01","birthDate":"1980-02-02"}"#.to_vec();
    let r = admin
        .send(
            "POST",
            "/v1/fhir/protect",
            Some((dup, "application/fhir+json")),
        )
        .await;
    assert_problem(&r, 400, "malformed-json", "duplicate");
    assert!(r.text.contains("birthDate"), "{}", r.text);

    // Unseal takes small bodies only; a sealed server refuses everything but unsealing.
    let big = format!("{{\"share\": \"{}\"}}", "a".repeat(100_000)).into_bytes();
    let r = admin
        .with_token(None)
        .send("POST", "/v1/sys/unseal", Some((big, "application/json")))
        .await;
    assert_problem(&r, 413, "body-too-large", "unseal body");
    admin.post("/v1/sys/seal", json!({})).await;
    assert_problem(
        &admin.post("/v1/keys/billing-a/disable", json!({})).await,
        503,
        "sealed",
        "disable while sealed",
    );
    assert_problem(
        &admin
            .post(
                "/v1/tokens",
                json!({"name": "x", "operations": ["encrypt"]}),
            )
            .await,
        503,
        "sealed",
        "token while sealed",
    );
    assert_eq!(
        admin.get("/metrics").await.status,
        200,
        "monitoring still works"
    );
}
