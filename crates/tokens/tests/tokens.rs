//! Token creation, authentication, expiry and revocation on every configured store.

use std::time::Duration;
use webqx_audit::{AuditLog, RequestContext};
use webqx_store::Store;
use webqx_testkit::test_stores;
use webqx_tokens::{NewToken, Operation, TokenError, Tokens};

fn text(s: &webqx_crypto::SecretBytes) -> String {
    String::from_utf8(s.expose().to_vec()).unwrap()
}

#[tokio::test]
async fn scoped_tokens_authenticate_expire_and_revoke() {
    for t in test_stores() {
        let store = Store::open(&t.config).await.unwrap();
        let audit = AuditLog::start(store.clone());
        let tokens = Tokens::new(store.clone(), audit.clone());
        let ctx = RequestContext::internal("test");
        let mut tx = store.write().await.unwrap();
        let admin = tokens.create_admin_in(&mut tx).await.unwrap();
        tx.commit().await.unwrap();
        let who = tokens.authenticate(Some(&text(&admin))).await.unwrap();
        assert!(who.policy.admin, "{}", t.label);

        let req = NewToken {
            name: "ehr-encryptor".into(),
            operations: vec![Operation::Encrypt],
            keys: vec!["phi*".into()],
            ttl: Some("1h".into()),
        };
        let (info, secret) = tokens.create(&ctx, &req).await.unwrap();
        assert!(info.expires.is_some());
        let p = tokens.authenticate(Some(&text(&secret))).await.unwrap();
        assert_eq!(p.token_id, info.id);
        assert!(p.policy.allows(Operation::Encrypt, Some("phi")));
        assert!(!p.policy.allows(Operation::Decrypt, Some("phi")));

        // A wrong secret for a real id, garbage, and nothing.
        let forged = format!("wqxt.{}.AAAA", info.id);
        assert!(matches!(
            tokens.authenticate(Some(&forged)).await,
            Err(TokenError::Invalid401)
        ));
        assert!(matches!(
            tokens.authenticate(Some("Bearer nonsense")).await,
            Err(TokenError::Invalid401)
        ));
        assert!(matches!(
            tokens.authenticate(None).await,
            Err(TokenError::Missing)
        ));

        let listed = tokens.list(&ctx).await.unwrap();
        assert_eq!(listed.len(), 2);
        assert!(
            !serde_json::to_string(&listed)
                .unwrap()
                .contains(&text(&secret)[40..])
        );

        tokens.revoke(&ctx, &info.id).await.unwrap();
        assert!(matches!(
            tokens.authenticate(Some(&text(&secret))).await,
            Err(TokenError::Invalid401)
        ));
        assert!(matches!(
            tokens.revoke(&ctx, &info.id).await,
            Err(TokenError::NotFound(_))
        ));

        let short = NewToken {
            ttl: Some("1s".into()),
            ..req.clone()
        };
        let (_, s) = tokens.create(&ctx, &short).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let expired = tokens.authenticate(Some(&text(&s))).await.unwrap_err();
        assert!(matches!(expired, TokenError::Expired(_)), "{expired}");

        let bad_pattern = NewToken {
            keys: vec!["../*".into()],
            ..req.clone()
        };
        assert!(matches!(
            tokens.create(&ctx, &bad_pattern).await,
            Err(TokenError::Invalid(_))
        ));
        let empty = NewToken {
            operations: vec![],
            ..req
        };
        assert!(matches!(
            tokens.create(&ctx, &empty).await,
            Err(TokenError::Invalid(_))
        ));
        let report = webqx_audit::verify(&store).await.unwrap();
        assert!(report.ok());
    }
}
