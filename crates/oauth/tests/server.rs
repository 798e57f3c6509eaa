//! The authorization server's decisions over a real store (SQLite, and PostgreSQL when
//! `WEBQX_TEST_POSTGRES` is set), without HTTP: registration, secret and assertion
//! authentication with replay refusal, scope grants, issuance, revocation seen by the
//! next check, purging, and the failure alert.

use std::sync::Arc;
use std::time::Duration;
use webqx_audit::{AuditLog, RequestContext};
use webqx_oauth::jwt::{new_jti, now_secs};
use webqx_oauth::registry::{AuthMethod, Lifetimes, NewClient};
use webqx_oauth::remote::JwksFetcher;
use webqx_oauth::server::{AccessRefusal, AuthorizationServer, Credentials, Settings};
use webqx_oauth::{Algorithm, InMemorySigner, JwkSet, OAuthError};
use webqx_store::{Store, query};
use webqx_testkit::test_stores;

const ISSUER: &str = "https://sec.test";

fn settings() -> Settings {
    Settings {
        issuer: ISSUER.into(),
        token_endpoint: format!("{ISSUER}/oauth/token"),
        algorithm: Algorithm::EdDSA,
        leeway: Duration::from_secs(60),
        max_assertion_lifetime: Duration::from_secs(300),
        lifetimes: Lifetimes {
            default: Duration::from_secs(300),
            max: Duration::from_secs(3600),
        },
        rate_per_client: (100, 100),
        rate_per_address: (100, 100),
        failure_threshold: 3,
        failure_window: Duration::from_secs(60),
    }
}

struct Env {
    store: Store,
    server: AuthorizationServer,
    signer: InMemorySigner,
    ours: JwkSet,
    ctx: RequestContext,
}

async fn env(config: &webqx_store::StoreConfig) -> Env {
    let store = Store::open(config).await.unwrap();
    let audit = AuditLog::start(store.clone());
    let fetcher = JwksFetcher::new(None).unwrap();
    let server = AuthorizationServer::new(store.clone(), Arc::clone(&audit), fetcher, settings());
    let signer = InMemorySigner::generate_ed25519("webqx-oauth-signing-v1").unwrap();
    let ours = JwkSet::from_keys(vec![signer.public_jwk().unwrap()]).unwrap();
    Env {
        store,
        server,
        signer,
        ours,
        ctx: RequestContext::internal("test"),
    }
}

fn new_client(method: AuthMethod, jwks: Option<serde_json::Value>) -> NewClient {
    NewClient {
        name: "lab".into(),
        auth_method: method,
        scopes: vec!["system/*.rs".into(), "webqx:keys/phi-*:encrypt".into()],
        audience: "webqx-sec".into(),
        token_ttl: None,
        jwks,
        jwks_uri: None,
        insecure_http: false,
    }
}

#[tokio::test]
async fn a_secret_client_gets_a_token_that_stops_at_revocation() {
    for t in test_stores() {
        let e = env(&t.config).await;
        let (info, secret) = e
            .server
            .registry()
            .create(&e.ctx, &new_client(AuthMethod::ClientSecretBasic, None))
            .await
            .unwrap();
        let secret = secret.unwrap();
        let creds = Credentials::Secret {
            client_id: &info.id,
            secret: secret.expose(),
            method: AuthMethod::ClientSecretBasic,
        };
        let client = e.server.authenticate(&creds).await.unwrap();
        let wrong = Credentials::Secret {
            client_id: &info.id,
            secret: b"guess",
            method: AuthMethod::ClientSecretPost,
        };
        assert!(matches!(
            e.server.authenticate(&wrong).await,
            Err(OAuthError::InvalidClient("wrong_secret"))
        ));

        let issued = e
            .server
            .issue(&e.ctx, &client, Some("system/Patient.r"), &e.signer)
            .await
            .unwrap();
        assert_eq!(issued.scope, "system/Patient.r");
        let refused = e
            .server
            .issue(&e.ctx, &client, Some("system/Patient.c"), &e.signer)
            .await;
        assert!(
            matches!(refused, Err(OAuthError::InvalidScope(_))),
            "{}",
            t.label
        );

        let checked = e
            .server
            .check(&issued.access_token, &e.ours, Some("webqx-sec"))
            .await
            .unwrap();
        assert_eq!(checked.claims.client_id, info.id);
        e.server
            .revoke(&e.ctx, &client, &issued.access_token, &e.ours)
            .await
            .unwrap();
        assert!(matches!(
            e.server.check(&issued.access_token, &e.ours, None).await,
            Err(AccessRefusal::Revoked)
        ));
        let intro = e
            .server
            .introspect(&issued.access_token, &e.ours)
            .await
            .unwrap();
        assert!(!intro.active);

        // Revocations are kept until the token expires, then purged.
        query("UPDATE oauth_revoked SET exp_ms = 1")
            .execute(e.store.pool())
            .await
            .unwrap();
        assert_eq!(e.server.purge_expired().await.unwrap(), 1, "{}", t.label);
    }
}

#[tokio::test]
async fn assertions_are_refused_when_replayed_and_for_another_client() {
    for t in test_stores() {
        let e = env(&t.config).await;
        let key = InMemorySigner::generate_es256("k1").unwrap();
        let jwks = JwkSet::from_keys(vec![key.public_jwk().unwrap()])
            .unwrap()
            .to_json();
        let (info, secret) = e
            .server
            .registry()
            .create(&e.ctx, &new_client(AuthMethod::PrivateKeyJwt, Some(jwks)))
            .await
            .unwrap();
        assert!(secret.is_none());
        let now = now_secs();
        let claims = serde_json::json!({
            "iss": info.id, "sub": info.id, "aud": format!("{ISSUER}/oauth/token"),
            "iat": now, "exp": now + 120, "jti": new_jti().unwrap(),
        });
        let assertion =
            webqx_oauth::jws::sign_compact(&key, None, claims.to_string().as_bytes()).unwrap();
        let creds = Credentials::Assertion {
            client_id: None,
            assertion: &assertion,
        };
        e.server.authenticate(&creds).await.unwrap();
        assert!(matches!(
            e.server.authenticate(&creds).await,
            Err(OAuthError::InvalidClient("assertion_replayed"))
        ));
        let mismatched = Credentials::Assertion {
            client_id: Some("someone-else"),
            assertion: &assertion,
        };
        assert!(
            matches!(
                e.server.authenticate(&mismatched).await,
                Err(OAuthError::InvalidClient("client_id_mismatch"))
            ),
            "{}",
            t.label
        );
    }
}

#[tokio::test]
async fn registrations_are_checked() {
    for t in test_stores() {
        let e = env(&t.config).await;
        let registry = e.server.registry();
        let mut bad_scope = new_client(AuthMethod::ClientSecretBasic, None);
        bad_scope.scopes = vec!["webqx:keys/x:sys".into()];
        let mut secret_with_keys = new_client(AuthMethod::ClientSecretBasic, None);
        secret_with_keys.jwks_uri = Some("https://x.test/jwks".into());
        let jwt_without_keys = new_client(AuthMethod::PrivateKeyJwt, None);
        let mut long = new_client(AuthMethod::ClientSecretBasic, None);
        long.token_ttl = Some("2h".into());
        let mut http_uri = new_client(AuthMethod::PrivateKeyJwt, None);
        http_uri.jwks_uri = Some("http://x.test/jwks".into());
        for (what, req) in [
            ("admin operation scope", bad_scope),
            ("keys on a secret client", secret_with_keys),
            ("no keys", jwt_without_keys),
            ("lifetime over the maximum", long),
            ("http jwks_uri without insecure_http", http_uri),
        ] {
            assert!(
                matches!(
                    registry.create(&e.ctx, &req).await,
                    Err(OAuthError::Invalid(_))
                ),
                "{}: {what}",
                t.label
            );
        }
        assert!(registry.list(&e.ctx).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn repeated_failures_raise_one_alert_per_window() {
    for t in test_stores() {
        let e = env(&t.config).await;
        for _ in 0..5 {
            e.server
                .note_failure(&e.ctx, Some("c1"), None)
                .await
                .unwrap();
        }
        let alerts: i64 = webqx_store::query_scalar(
            "SELECT COUNT(*) FROM audit_log WHERE body LIKE '%oauth-auth-failures%'",
        )
        .fetch_one(e.store.pool())
        .await
        .unwrap();
        assert_eq!(alerts, 1, "{}", t.label);
    }
}
