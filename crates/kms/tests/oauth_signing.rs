//! The OAuth signing key: made on first use (not exportable, rotating), signs access
//! tokens that verify against the JWKS, ES256 in the JWS (P1363) form, and after a
//! rotation the JWKS keeps the retired version only as long as tokens may live.

mod common;

use common::unsealed;
use std::time::Duration;
use webqx_kms::{KeyType, OAUTH_SIGNING_KEY};
use webqx_oauth::jwt::{AccessTokenClaims, AccessTokenVerifier, now_secs};
use webqx_oauth::{Algorithm, JwsSigner};
use webqx_store::query;
use webqx_testkit::test_stores;

const DAY: Duration = Duration::from_secs(86_400);

fn claims() -> AccessTokenClaims {
    let now = now_secs();
    AccessTokenClaims {
        issuer: "https://sec.test".into(),
        subject: "c1".into(),
        audience: vec!["webqx-sec".into()],
        client_id: "c1".into(),
        scopes: vec!["system/*.rs".into()],
        issued_at: now,
        expires_at: now + 300,
        jti: "j1".into(),
    }
}

#[tokio::test]
async fn the_signing_key_is_made_on_first_use_and_signs_verifiable_tokens() {
    for t in test_stores() {
        let env = unsealed(&t.config, t.label).await;
        let empty = env.kms.oauth_jwks(DAY).await.unwrap();
        assert!(
            empty.keys().is_empty(),
            "{}: no key before first use",
            t.label
        );
        for (key_type, alg) in [(KeyType::Ed25519, Algorithm::EdDSA)] {
            let signer = env
                .kms
                .oauth_signer(&env.ctx, key_type, 30 * DAY)
                .await
                .unwrap();
            assert_eq!(signer.algorithm(), alg);
            assert_eq!(signer.kid(), "webqx-oauth-signing-v1");
            let token = claims().issue(&signer).unwrap();
            let keys = env.kms.oauth_jwks(DAY).await.unwrap();
            let verified = AccessTokenVerifier::new(&keys, "https://sec.test", "webqx-sec")
                .verify(&token)
                .unwrap();
            assert_eq!(verified.kid.as_deref(), Some("webqx-oauth-signing-v1"));
        }
        let info = env.kms.key_info(&env.ctx, OAUTH_SIGNING_KEY).await.unwrap();
        assert!(!info.exportable, "{}", t.label);
        assert_eq!(info.auto_rotate_period.as_deref(), Some("30d"));
        // A changed [oauth] rotate_every reaches the key at the next token.
        env.kms
            .oauth_signer(&env.ctx, KeyType::Ed25519, 7 * DAY)
            .await
            .unwrap();
        let info = env.kms.key_info(&env.ctx, OAUTH_SIGNING_KEY).await.unwrap();
        assert_eq!(
            info.auto_rotate_period.as_deref(),
            Some("7d"),
            "{}",
            t.label
        );
    }
}

#[tokio::test]
async fn es256_tokens_use_the_jws_signature_form() {
    for t in test_stores() {
        let env = unsealed(&t.config, t.label).await;
        let signer = env
            .kms
            .oauth_signer(&env.ctx, KeyType::EcdsaP256, DAY)
            .await
            .unwrap();
        assert_eq!(signer.algorithm(), Algorithm::ES256);
        let token = claims().issue(&signer).unwrap();
        let signature = token.rsplit('.').next().unwrap();
        assert_eq!(signature.len(), 86, "64 bytes r || s, not DER");
        let keys = env.kms.oauth_jwks(DAY).await.unwrap();
        AccessTokenVerifier::new(&keys, "https://sec.test", "webqx-sec")
            .verify(&token)
            .unwrap();
    }
}

#[tokio::test]
async fn a_retired_version_stays_in_the_jwks_while_its_tokens_may_live() {
    for t in test_stores() {
        let env = unsealed(&t.config, t.label).await;
        let old = env
            .kms
            .oauth_signer(&env.ctx, KeyType::Ed25519, DAY)
            .await
            .unwrap();
        let old_token = claims().issue(&old).unwrap();
        env.kms
            .rotate_key(&env.ctx, OAUTH_SIGNING_KEY)
            .await
            .unwrap();
        let new = env
            .kms
            .oauth_signer(&env.ctx, KeyType::Ed25519, DAY)
            .await
            .unwrap();
        assert_eq!(new.kid(), "webqx-oauth-signing-v2");
        let keys = env.kms.oauth_jwks(Duration::from_secs(3660)).await.unwrap();
        let kids: Vec<_> = keys.keys().iter().filter_map(|k| k.kid()).collect();
        assert_eq!(kids, ["webqx-oauth-signing-v2", "webqx-oauth-signing-v1"]);
        AccessTokenVerifier::new(&keys, "https://sec.test", "webqx-sec")
            .verify(&old_token)
            .unwrap();
        // Retired two hours ago: past the longest lifetime plus leeway.
        query(
            "UPDATE key_versions SET created_ms = created_ms - 7200000 WHERE version = 2 \
             AND key_id = (SELECT id FROM keys WHERE name = 'webqx-oauth-signing')",
        )
        .execute(env.store.pool())
        .await
        .unwrap();
        let keys = env.kms.oauth_jwks(Duration::from_secs(3660)).await.unwrap();
        let kids: Vec<_> = keys.keys().iter().filter_map(|k| k.kid()).collect();
        assert_eq!(kids, ["webqx-oauth-signing-v2"], "{}", t.label);
    }
}
