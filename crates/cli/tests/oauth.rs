//! The OAuth 2.0 authorization server end to end through the real binary and its HTTPS
//! API (issue 6): a `client_secret_basic` client ("lab-results", allowed
//! `webqx:keys/phi-*:encrypt` and `system/Observation.rs`) and a `private_key_jwt`
//! client ("bulk-export", ES256 key registered as a JWKS) get tokens; every refusal of
//! the token endpoint; tokens work on our own API for their key scope only; revocation
//! is seen at once by introspection, `/v1/tokens/verify` and our API; rate limits answer
//! 429 with Retry-After; repeated failures raise the `oauth-auth-failures` alert; the
//! JWKS keeps a retired signing key after rotation. SQLite, and PostgreSQL when
//! `WEBQX_TEST_POSTGRES` is set.

use base64::Engine as _;
use serde_json::{Value, json};
use webqx_oauth::jwt::{new_jti, now_secs};
use webqx_oauth::{InMemorySigner, JwkSet};
use webqx_testkit::server::{Http, Server};

const BIN: &str = env!("CARGO_BIN_EXE_webqx-sec");

/// Every store the tests run on: SQLite, and PostgreSQL when configured.
fn stores() -> Vec<(&'static str, Vec<(String, String)>)> {
    let mut out = vec![("sqlite", Vec::new())];
    if let Some(env) = webqx_testkit::server::postgres_env() {
        out.push(("postgres", env));
    }
    out
}

/// A raw HTTPS client for the form endpoints (they take Basic or no authentication).
struct Form {
    client: reqwest::Client,
    addr: String,
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    json: Value,
}

impl Form {
    fn new(server: &Server) -> Form {
        let pem = std::fs::read(server.ca()).unwrap();
        let tls = webqx_pki::client_config(&pem).unwrap();
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .build()
            .unwrap();
        Form {
            client,
            addr: server.addr.clone(),
        }
    }

    async fn post(
        &self,
        path: &str,
        params: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Answer {
        let body: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        let mut req = self
            .client
            .post(format!("{}{path}", self.addr))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.join("&"));
        if let Some((id, secret)) = basic {
            let pair = format!("{}:{}", encode(id), encode(secret));
            let value = base64::engine::general_purpose::STANDARD.encode(pair);
            req = req.header("authorization", format!("Basic {value}"));
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let json = serde_json::from_str(&r.text().await.unwrap()).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            json,
        }
    }

    async fn token_basic(&self, id: &str, secret: &str, scope: Option<&str>) -> Answer {
        let mut params = vec![("grant_type", "client_credentials")];
        if let Some(scope) = scope {
            params.push(("scope", scope));
        }
        self.post("/oauth/token", &params, Some((id, secret))).await
    }

    async fn token_assertion(&self, assertion: &str) -> Answer {
        let params = [
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ];
        self.post("/oauth/token", &params, None).await
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// A client assertion with claims `claims` (merged over sane defaults).
fn assertion(signer: &InMemorySigner, client: &str, aud: &str, changes: Value) -> String {
    let now = now_secs();
    let mut claims = json!({
        "iss": client, "sub": client, "aud": aud,
        "exp": now + 240, "iat": now, "jti": new_jti().unwrap(),
    });
    for (k, v) in changes.as_object().unwrap() {
        claims[k] = v.clone();
    }
    webqx_oauth::jws::sign_compact(signer, Some("JWT"), claims.to_string().as_bytes()).unwrap()
}

async fn register(http: &Http, body: Value) -> Value {
    let r = http.post("/v1/oauth/clients", body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json
}

async fn make_keys(http: &Http) {
    for name in ["phi-notes", "billing"] {
        let r = http.post("/v1/keys", json!({"name": name})).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
}

fn as_bearer(http: &Http, token: &str) -> Http {
    http.with_token(Some(token))
}

#[tokio::test]
async fn secret_clients_get_tokens_that_work_on_our_api_until_revoked() {
    for (label, env) in stores() {
        let server = Server::start(BIN, &env);
        let http = server.http();
        let form = Form::new(&server);
        make_keys(&http).await;
        let created = register(
            &http,
            json!({"name": "lab-results", "scopes": ["webqx:keys/phi-*:encrypt", "system/Observation.rs"],
                   "audience": "webqx-sec"}),
        )
        .await;
        let id = created["client"]["id"].as_str().unwrap().to_owned();
        let secret = created["client_secret"].as_str().unwrap().to_owned();
        assert!(created["client"].get("secret_hash").is_none(), "{label}");

        // Basic and post both work; the answer is not cacheable.
        let r = form.token_basic(&id, &secret, None).await;
        assert_eq!(r.status, 200, "{label}: {}", r.json);
        assert_eq!(r.json["token_type"], "Bearer");
        assert_eq!(r.json["expires_in"], 300);
        assert_eq!(r.headers["cache-control"], "no-store");
        let token = r.json["access_token"].as_str().unwrap().to_owned();
        let post = form
            .post(
                "/oauth/token",
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &id),
                    ("client_secret", &secret),
                ],
                None,
            )
            .await;
        assert_eq!(post.status, 200, "{label}: {}", post.json);

        // Refusals.
        let wrong = form.token_basic(&id, "not-the-secret", None).await;
        assert_eq!(wrong.status, 401, "{label}");
        assert_eq!(wrong.json["error"], "invalid_client");
        assert!(wrong.headers.contains_key("www-authenticate"));
        let unknown = form.token_basic("nobody", &secret, None).await;
        assert_eq!(unknown.status, 401);
        let scope = form
            .token_basic(&id, &secret, Some("webqx:keys/billing:encrypt"))
            .await;
        assert_eq!(scope.status, 400);
        assert_eq!(scope.json["error"], "invalid_scope");
        let grant = form
            .post(
                "/oauth/token",
                &[("grant_type", "password")],
                Some((&id, &secret)),
            )
            .await;
        assert_eq!(grant.json["error"], "unsupported_grant_type");
        let narrow = form
            .token_basic(&id, &secret, Some("system/Observation.r"))
            .await;
        assert_eq!(narrow.status, 200);
        assert_eq!(narrow.json["scope"], "system/Observation.r");

        // Our own API: the key scope and nothing else.
        let bearer = as_bearer(&http, &token);
        let input = json!({"plaintext": "aGVsbG8="});
        let r = bearer
            .post("/v1/keys/phi-notes/encrypt", input.clone())
            .await;
        assert_eq!(r.status, 200, "{label}: {}", r.text);
        let r = bearer.post("/v1/keys/billing/encrypt", input.clone()).await;
        assert_eq!(r.status, 403, "{label}: {}", r.text);
        let r = bearer
            .post("/v1/keys/phi-notes/decrypt", json!({"ciphertext": "x"}))
            .await;
        assert_eq!(r.status, 403, "{label}: {}", r.text);
        let smart_only = form
            .token_basic(&id, &secret, Some("system/Observation.rs"))
            .await;
        let smart = as_bearer(&http, smart_only.json["access_token"].as_str().unwrap());
        let r = smart
            .post("/v1/keys/phi-notes/encrypt", input.clone())
            .await;
        assert_eq!(r.status, 403, "SMART scopes grant nothing here: {}", r.text);

        // Introspection (admin token has oauth-introspect) and /v1/tokens/verify.
        let admin = server.admin_token();
        let intro = introspect_with_token(&form, &admin, &token).await;
        assert_eq!(intro["active"], true, "{label}: {intro}");
        let gate = json!({"token": token, "audience": "webqx-sec", "require_active": true});
        assert_eq!(http.post("/v1/tokens/verify", gate).await.status, 200);
        assert_eq!(intro["client_id"], id.as_str());
        let v = http
            .post(
                "/v1/tokens/verify",
                json!({"token": token, "audience": "webqx-sec"}),
            )
            .await;
        assert_eq!(v.json["active"], true, "{}", v.text);
        let v = http
            .post(
                "/v1/tokens/verify",
                json!({"token": token, "audience": "other"}),
            )
            .await;
        assert_eq!(v.json["active"], false, "wrong audience: {}", v.text);

        // Revocation by the owning client: refused everywhere at once.
        let r = form
            .post("/oauth/revoke", &[("token", &token)], Some((&id, &secret)))
            .await;
        assert_eq!(r.status, 200, "{label}: {}", r.json);
        let intro = introspect_with_token(&form, &admin, &token).await;
        assert_eq!(intro, json!({"active": false}), "{label}");
        let v = http
            .post("/v1/tokens/verify", json!({"token": token}))
            .await;
        assert_eq!(v.json["active"], false);
        let gate = json!({"token": token, "audience": "webqx-sec", "require_active": true});
        let v = http.post("/v1/tokens/verify", gate).await;
        assert_eq!(v.status, 401, "for auth_request: {}", v.text);
        let r = bearer.post("/v1/keys/phi-notes/encrypt", input).await;
        assert_eq!(
            r.status, 401,
            "{label}: a revoked token is refused: {}",
            r.text
        );
        let r = form
            .post(
                "/oauth/revoke",
                &[("token", "not.a.token")],
                Some((&id, &secret)),
            )
            .await;
        assert_eq!(r.status, 200, "unknown tokens: 200");

        // Disabled clients get nothing; enabled again they do.
        let r = http
            .post(&format!("/v1/oauth/clients/{id}/disable"), json!({}))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(form.token_basic(&id, &secret, None).await.status, 401);
        http.post(&format!("/v1/oauth/clients/{id}/enable"), json!({}))
            .await;
        assert_eq!(form.token_basic(&id, &secret, None).await.status, 200);
        let r = http.get("/v1/oauth/clients").await;
        assert_eq!(r.json["clients"].as_array().unwrap().len(), 1);
        let r = http
            .send("DELETE", &format!("/v1/oauth/clients/{id}"), None)
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(form.token_basic(&id, &secret, None).await.status, 401);
    }
}

async fn introspect_with_token(form: &Form, api_token: &str, token: &str) -> Value {
    let r = form
        .client
        .post(format!("{}/oauth/introspect", form.addr))
        .bearer_auth(api_token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={}", encode(token)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn private_key_jwt_clients_and_every_assertion_refusal() {
    for (label, env) in stores() {
        let server = Server::start(BIN, &env);
        let http = server.http();
        let form = Form::new(&server);
        let key = InMemorySigner::generate_es256("bulk-1").unwrap();
        let jwks = JwkSet::from_keys(vec![key.public_jwk().unwrap()])
            .unwrap()
            .to_json();
        let created = register(
            &http,
            json!({"name": "bulk-export", "auth_method": "private_key_jwt", "jwks": jwks,
                   "scopes": ["system/*.rs"], "audience": "https://fhir.ehr.test", "token_ttl": "2m"}),
        )
        .await;
        assert!(created.get("client_secret").is_none());
        let id = created["client"]["id"].as_str().unwrap().to_owned();
        let aud = format!("{}/oauth/token", server.addr);

        let first = assertion(&key, &id, &aud, json!({}));
        let r = form.token_assertion(&first).await;
        assert_eq!(r.status, 200, "{label}: {}", r.json);
        assert_eq!(r.json["expires_in"], 120);
        let token = r.json["access_token"].as_str().unwrap();
        let meta = http.get("/.well-known/oauth-authorization-server").await;
        assert_eq!(meta.json["token_endpoint"], aud.as_str(), "{}", meta.text);
        let ours =
            JwkSet::parse_public(http.get("/.well-known/jwks.json").await.text.as_bytes()).unwrap();
        let verified = webqx_oauth::jwt::AccessTokenVerifier::new(
            &ours,
            &server.addr,
            "https://fhir.ehr.test",
        )
        .verify(token)
        .unwrap();
        assert_eq!(verified.claims.client_id, id);
        assert_eq!(verified.claims.scopes, ["system/*.rs"]);

        let replay = form.token_assertion(&first).await;
        assert_eq!(replay.status, 401, "{label}: a replayed jti is refused");
        let now = now_secs();
        let other = InMemorySigner::generate_es256("bulk-1").unwrap();
        for (what, bad) in [
            (
                "wrong aud",
                assertion(&key, &id, "https://elsewhere.test/token", json!({})),
            ),
            (
                "expired",
                assertion(&key, &id, &aud, json!({"exp": now - 120})),
            ),
            (
                "exp beyond 5 min",
                assertion(&key, &id, &aud, json!({"exp": now + 900})),
            ),
            (
                "iss != sub",
                assertion(&key, &id, &aud, json!({"sub": "someone-else"})),
            ),
            ("unregistered key", assertion(&other, &id, &aud, json!({}))),
        ] {
            let r = form.token_assertion(&bad).await;
            assert_eq!(r.status, 401, "{label}: {what}: {}", r.json);
            assert_eq!(r.json["error"], "invalid_client", "{what}");
        }
        http.post(&format!("/v1/oauth/clients/{id}/disable"), json!({}))
            .await;
        let r = form
            .token_assertion(&assertion(&key, &id, &aud, json!({})))
            .await;
        assert_eq!(r.status, 401, "{label}: disabled");
    }
}

#[tokio::test]
async fn rate_limits_answer_429_and_repeated_failures_raise_an_alert() {
    let env = vec![
        ("WEBQX_OAUTH_RATE_PER_CLIENT".to_owned(), "1".to_owned()),
        ("WEBQX_OAUTH_BURST_PER_CLIENT".to_owned(), "3".to_owned()),
        ("WEBQX_OAUTH_FAILURE_THRESHOLD".to_owned(), "3".to_owned()),
    ];
    let server = Server::start(BIN, &env);
    let http = server.http();
    let form = Form::new(&server);
    for _ in 0..3 {
        let r = form.token_basic("guessed-client", "guess", None).await;
        assert_eq!(r.status, 401);
    }
    let r = form.token_basic("guessed-client", "guess", None).await;
    assert_eq!(r.status, 429, "{}", r.json);
    let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    let records = http.get("/v1/audit/records").await.text;
    let alert = records
        .lines()
        .find(|l| l.contains("\"alert.raised\"") && l.contains("oauth-auth-failures"))
        .unwrap_or_else(|| panic!("no alert in:\n{records}"));
    assert!(alert.contains("oauth-client:guessed-client") || alert.contains("address:127.0.0.1"));
    assert!(
        !records.contains("\"guess\""),
        "the secret is never audited"
    );

    // The alert is stored too: listed with the monitor's alerts, grouped by client
    // and by address, suppressible per address like any other.
    let alerts = http
        .wait_alerts("the stored oauth-auth-failures alerts", |a| {
            a.iter()
                .filter(|a| a["rule_id"] == "oauth-auth-failures")
                .count()
                >= 2
        })
        .await;
    let keys: Vec<&str> = alerts
        .iter()
        .filter(|a| a["rule_id"] == "oauth-auth-failures")
        .filter_map(|a| a["group_key"].as_str())
        .collect();
    assert!(
        keys.contains(&"oauth.client.id=guessed-client") && keys.contains(&"source.ip=127.0.0.1"),
        "{keys:?}"
    );
    let stored = alerts
        .iter()
        .find(|a| a["group_key"] == "source.ip=127.0.0.1")
        .unwrap();
    assert_eq!(stored["severity"], "high");
    assert_eq!(stored["events"][0]["event"]["outcome"], "failure");
    assert!(!stored.to_string().contains("\"guess\""), "{stored}");
    assert!(
        alert.contains(stored["id"].as_str().unwrap())
            || records.contains(stored["id"].as_str().unwrap()),
        "the audit record names the stored alert"
    );
}

#[tokio::test]
async fn the_jwks_keeps_a_retired_signing_key_and_the_key_is_reserved() {
    let server = Server::start(BIN, &[]);
    let http = server.http();
    let form = Form::new(&server);
    let created = register(
        &http,
        json!({"name": "lab-results", "scopes": ["system/*.rs"], "audience": "webqx-sec"}),
    )
    .await;
    let (id, secret) = (
        created["client"]["id"].as_str().unwrap().to_owned(),
        created["client_secret"].as_str().unwrap().to_owned(),
    );
    let old = form.token_basic(&id, &secret, None).await.json["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = http
        .post("/v1/keys/webqx-oauth-signing/rotate", json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new = form.token_basic(&id, &secret, None).await.json["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let jwks = http.get("/.well-known/jwks.json").await;
    let kids: Vec<&str> = jwks.json["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, ["webqx-oauth-signing-v2", "webqx-oauth-signing-v1"]);
    let admin = server.admin_token();
    for token in [&old, &new] {
        assert_eq!(
            introspect_with_token(&form, &admin, token).await["active"],
            true
        );
    }
    for path in ["sign", "disable", "destroy"] {
        let r = http
            .post(
                &format!("/v1/keys/webqx-oauth-signing/{path}"),
                json!({"input": "AAAA"}),
            )
            .await;
        assert_eq!(r.status, 403, "{path}: {}", r.text);
    }
    assert_eq!(
        http.get("/v1/keys/webqx-oauth-signing/export").await.status,
        403
    );
}

#[tokio::test]
async fn the_cli_registers_clients_gets_tokens_and_verifies_them() {
    use webqx_testkit::server::stdout;
    let server = Server::start(BIN, &[]);
    let dir = tempfile::tempdir().unwrap();
    let created = server.cli(&[
        "--json",
        "oauth",
        "client",
        "create",
        "--name",
        "cli-client",
        "--scope",
        "system/*.rs",
        "--scope",
        "webqx:keys/phi-*:encrypt",
        "--audience",
        "webqx-sec",
        "--ttl",
        "2m",
    ]);
    assert!(
        created.status.success(),
        "{}",
        webqx_testkit::server::stderr(&created)
    );
    let created: Value = serde_json::from_str(&stdout(&created)).unwrap();
    let id = created["client"]["id"].as_str().unwrap();
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, created["client_secret"].as_str().unwrap()).unwrap();

    let token = server.cli(&[
        "oauth",
        "token",
        "--client-id",
        id,
        "--secret-file",
        secret_file.to_str().unwrap(),
        "--scope",
        "system/Patient.r",
    ]);
    assert!(
        token.status.success(),
        "{}",
        webqx_testkit::server::stderr(&token)
    );
    let token = stdout(&token).trim().to_owned();
    let verified = server.cli(&["oauth", "verify", &token]);
    assert!(
        verified.status.success(),
        "{} {}",
        stdout(&verified),
        webqx_testkit::server::stderr(&verified)
    );
    assert!(stdout(&verified).contains("system/Patient.r"));
    let other = server.cli(&["oauth", "verify", &token, "--audience", "elsewhere"]);
    assert_eq!(
        other.status.code(),
        Some(1),
        "inactive for another audience"
    );

    let listed = stdout(&server.cli(&["oauth", "client", "list"]));
    assert!(
        listed.contains(id) && listed.contains("cli-client"),
        "{listed}"
    );
    assert!(
        server
            .cli(&["oauth", "client", "disable", id])
            .status
            .success()
    );
    let refused = server.cli(&[
        "oauth",
        "token",
        "--client-id",
        id,
        "--secret-file",
        secret_file.to_str().unwrap(),
    ]);
    assert!(!refused.status.success());
    assert!(webqx_testkit::server::stderr(&refused).contains("client authentication failed"));
    assert!(
        server
            .cli(&["oauth", "client", "delete", id])
            .status
            .success()
    );
    let shown = server.cli(&["oauth", "client", "show", id]);
    assert!(!shown.status.success());
}

/// A plain-HTTP JWKS host for `insecure_http` clients: serves `/jwks.json` from a
/// shared body, `/big` over 64 KiB, `/redirect` as a 302; counts `/jwks.json` fetches.
struct JwksHost {
    addr: String,
    body: std::sync::Arc<std::sync::Mutex<String>>,
    fetches: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl JwksHost {
    fn start() -> JwksHost {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let body = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let fetches = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (served, count) = (body.clone(), fetches.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut request = [0u8; 4096];
                let n = stream.read(&mut request).unwrap_or(0);
                let line = String::from_utf8_lossy(&request[..n]).to_string();
                let answer = if line.starts_with("GET /jwks.json") {
                    count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let text = served.lock().unwrap().clone();
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                        text.len()
                    )
                } else if line.starts_with("GET /big") {
                    let text = format!("{{\"keys\":[],\"pad\":\"{}\"}}", "x".repeat(70_000));
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                        text.len()
                    )
                } else {
                    "HTTP/1.1 302 Found\r\nlocation: /jwks.json\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned()
                };
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        JwksHost {
            addr,
            body,
            fetches,
        }
    }

    fn serve(&self, key: &InMemorySigner) {
        let jwks = JwkSet::from_keys(vec![key.public_jwk().unwrap()])
            .unwrap()
            .to_json();
        *self.body.lock().unwrap() = jwks.to_string();
    }

    fn fetches(&self) -> usize {
        self.fetches.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[tokio::test]
async fn jwks_uri_clients_are_fetched_with_limits_cached_and_refetched_on_a_new_kid() {
    let server = Server::start(BIN, &[]);
    let http = server.http();
    let form = Form::new(&server);
    let host = JwksHost::start();
    let aud = format!("{}/oauth/token", server.addr);
    let register_at = |path: &str| {
        json!({"name": "scheduler", "auth_method": "private_key_jwt", "scopes": ["system/*.rs"],
               "audience": "https://fhir.ehr.test", "jwks_uri": format!("{}{path}", host.addr),
               "insecure_http": true})
    };
    let refused = http
        .post(
            "/v1/oauth/clients",
            json!({"name": "s", "auth_method": "private_key_jwt", "scopes": ["system/*.rs"],
                   "audience": "a", "jwks_uri": format!("{}/jwks.json", host.addr)}),
        )
        .await;
    assert_eq!(
        refused.status, 400,
        "http needs insecure_http: {}",
        refused.text
    );
    let id = register(&http, register_at("/jwks.json")).await["client"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let first = InMemorySigner::generate_es256("k1").unwrap();
    host.serve(&first);
    for _ in 0..2 {
        let r = form
            .token_assertion(&assertion(&first, &id, &aud, json!({})))
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
    }
    assert_eq!(host.fetches(), 1, "cached");

    // The client rotates its key: the unknown kid forces one refetch...
    let second = InMemorySigner::generate_es256("k2").unwrap();
    host.serve(&second);
    let r = form
        .token_assertion(&assertion(&second, &id, &aud, json!({})))
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(host.fetches(), 2);
    // ...but not a second one within the minute (forged kids cannot hammer the host).
    let third = InMemorySigner::generate_es256("k3").unwrap();
    host.serve(&third);
    let r = form
        .token_assertion(&assertion(&third, &id, &aud, json!({})))
        .await;
    assert_eq!(r.status, 401, "{}", r.json);
    assert_eq!(host.fetches(), 2);

    for path in ["/big", "/redirect"] {
        let other = register(&http, register_at(path)).await["client"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = form
            .token_assertion(&assertion(&first, &other, &aud, json!({})))
            .await;
        assert_eq!(r.status, 401, "{path}: {}", r.json);
    }
}
