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
        let (info, secret) = tokens.create(&ctx, &who, &req).await.unwrap();
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

        let listed = tokens.list(&ctx, &who).await.unwrap();
        assert_eq!(listed.len(), 2);
        assert!(
            !serde_json::to_string(&listed)
                .unwrap()
                .contains(&text(&secret)[40..])
        );

        tokens.revoke(&ctx, &who, &info.id).await.unwrap();
        assert!(matches!(
            tokens.authenticate(Some(&text(&secret))).await,
            Err(TokenError::Invalid401)
        ));
        assert!(matches!(
            tokens.revoke(&ctx, &who, &info.id).await,
            Err(TokenError::NotFound(_))
        ));

        let short = NewToken {
            ttl: Some("1s".into()),
            ..req.clone()
        };
        let (_, s) = tokens.create(&ctx, &who, &short).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let expired = tokens.authenticate(Some(&text(&s))).await.unwrap_err();
        assert!(matches!(expired, TokenError::Expired(_)), "{expired}");

        // A scoped token can hand on only what it has, and cannot touch the admin token.
        let narrow = tokens
            .authenticate(Some(&text(
                &tokens
                    .create(
                        &ctx,
                        &who,
                        &NewToken {
                            name: "ops".into(),
                            operations: vec![Operation::Sys, Operation::Encrypt],
                            keys: vec!["phi-*".into()],
                            ttl: None,
                        },
                    )
                    .await
                    .unwrap()
                    .1,
            )))
            .await
            .unwrap();
        let wider = NewToken {
            name: "x".into(),
            operations: vec![Operation::Decrypt],
            keys: vec!["phi-*".into()],
            ttl: None,
        };
        assert!(matches!(
            tokens.create(&ctx, &narrow, &wider).await,
            Err(TokenError::Forbidden(_))
        ));
        let other_keys = NewToken {
            name: "x".into(),
            operations: vec![Operation::Encrypt],
            keys: vec!["*".into()],
            ttl: None,
        };
        assert!(matches!(
            tokens.create(&ctx, &narrow, &other_keys).await,
            Err(TokenError::Forbidden(_))
        ));
        let within = NewToken {
            name: "x".into(),
            operations: vec![Operation::Encrypt],
            keys: vec!["phi-notes".into()],
            ttl: None,
        };
        let (child, _) = tokens.create(&ctx, &narrow, &within).await.unwrap();
        assert!(matches!(
            tokens.revoke(&ctx, &narrow, &who.token_id).await,
            Err(TokenError::Forbidden(_))
        ));
        assert!(matches!(
            tokens.revoke(&ctx, &who, &who.token_id).await,
            Err(TokenError::Forbidden(_))
        ));
        assert_eq!(
            tokens.list(&ctx, &narrow).await.unwrap().len(),
            2,
            "itself and its child"
        );
        tokens.revoke(&ctx, &narrow, &child.id).await.unwrap();
        let fresh = tokens.reset_admin(&ctx).await.unwrap();
        assert!(
            tokens.authenticate(Some(&text(&admin))).await.is_err(),
            "old admin token revoked"
        );
        assert!(
            tokens
                .authenticate(Some(&text(&fresh)))
                .await
                .unwrap()
                .policy
                .admin
        );

        let bad_pattern = NewToken {
            keys: vec!["../*".into()],
            ..req.clone()
        };
        assert!(matches!(
            tokens.create(&ctx, &who, &bad_pattern).await,
            Err(TokenError::Invalid(_))
        ));
        let empty = NewToken {
            operations: vec![],
            ..req
        };
        assert!(matches!(
            tokens.create(&ctx, &who, &empty).await,
            Err(TokenError::Invalid(_))
        ));
        let report = webqx_audit::verify(&store).await.unwrap();
        assert!(report.ok());
    }
}
