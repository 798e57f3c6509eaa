//! Initialization, sealing and unsealing, on every configured store.

mod common;

use common::{new_key, plain, settings};
use std::sync::Arc;
use webqx_audit::{AuditLog, RequestContext};
use webqx_kms::{InitMethod, KeyType, Kms, KmsError};
use webqx_store::Store;
use webqx_testkit::test_stores;

async fn fresh(config: &webqx_store::StoreConfig) -> (Store, Arc<AuditLog>, Kms) {
    let store = Store::open(config).await.unwrap();
    let audit = AuditLog::start(store.clone());
    let kms = Kms::new(store.clone(), audit.clone(), settings());
    (store, audit, kms)
}

fn text(s: &webqx_crypto::SecretBytes) -> String {
    String::from_utf8(s.expose().to_vec()).unwrap()
}

#[tokio::test]
async fn sealed_service_refuses_every_operation_with_a_clear_error() {
    for t in test_stores() {
        let (store, audit, kms) = fresh(&t.config).await;
        let ctx = RequestContext::internal("test");
        assert!(matches!(
            kms.encrypt(&ctx, "k", &[plain("x", "")], None).await,
            Err(KmsError::NotInitialized) | Err(KmsError::Sealed)
        ));
        let out = kms.initialize(&ctx, InitMethod::KeyFile).await.unwrap();
        kms.create_key(&ctx, &new_key("k", KeyType::Aes256Gcm))
            .await
            .unwrap();
        kms.seal(&ctx).await.unwrap();

        let err = kms
            .encrypt(&ctx, "k", &[plain("x", "")], None)
            .await
            .unwrap_err();
        assert!(matches!(err, KmsError::Sealed), "{}: {err}", t.label);
        assert!(err.to_string().contains("unseal"), "says what to do: {err}");
        assert!(matches!(
            kms.create_key(&ctx, &new_key("k2", KeyType::Hmac)).await,
            Err(KmsError::Sealed)
        ));

        // A restart: a new service over the same store starts sealed and opens with the key file.
        let kms2 = Kms::new(store.clone(), audit.clone(), settings());
        assert!(kms2.is_sealed());
        kms2.unseal_with_key(&ctx, out.key_file.as_ref().unwrap())
            .await
            .unwrap();
        assert!(!kms2.is_sealed());
        let wrong = webqx_crypto::SecretBytes::from_slice(hex_key_of(0x11).as_bytes());
        let kms3 = Kms::new(store.clone(), audit, settings());
        assert!(matches!(
            kms3.unseal_with_key(&ctx, &wrong).await,
            Err(KmsError::UnsealFailed(_))
        ));
        let report = webqx_audit::verify(&store).await.unwrap();
        assert!(report.ok(), "{report:?}");
    }
}

fn hex_key_of(byte: u8) -> String {
    hex::encode([byte; 32])
}

#[tokio::test]
async fn shamir_shares_unseal_at_threshold_and_bad_sets_reset() {
    for t in test_stores() {
        let (store, audit, kms) = fresh(&t.config).await;
        let ctx = RequestContext::internal("test");
        let out = kms
            .initialize(
                &ctx,
                InitMethod::Shamir {
                    shares: 5,
                    threshold: 3,
                },
            )
            .await
            .unwrap();
        assert_eq!(out.shares.len(), 5);
        assert!(
            kms.initialize(&ctx, InitMethod::KeyFile).await.is_err(),
            "second init refused"
        );

        let kms = Kms::new(store.clone(), audit.clone(), settings());
        let status = kms.submit_share(&ctx, &text(&out.shares[4])).await.unwrap();
        assert_eq!(
            (status.sealed, status.progress, status.threshold),
            (true, 1, Some(3))
        );
        let again = kms
            .submit_share(&ctx, &text(&out.shares[4]))
            .await
            .unwrap_err();
        assert!(again.to_string().contains("already given"), "{again}");
        kms.submit_share(&ctx, &text(&out.shares[1])).await.unwrap();
        let status = kms.submit_share(&ctx, &text(&out.shares[2])).await.unwrap();
        assert!(!status.sealed, "{}: three shares unseal", t.label);

        // Shares from another initialization are refused as such.
        let other_stores = test_stores();
        let (_s2, _a2, other) = fresh(&other_stores[0].config).await;
        let foreign = other
            .initialize(
                &ctx,
                InitMethod::Shamir {
                    shares: 3,
                    threshold: 2,
                },
            )
            .await
            .unwrap();
        let kms = Kms::new(store.clone(), audit.clone(), settings());
        kms.submit_share(&ctx, &text(&out.shares[0])).await.unwrap();
        let err = kms
            .submit_share(&ctx, &text(&foreign.shares[1]))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("another initialization"), "{err}");
        assert_eq!(
            kms.seal_status().await.unwrap().progress,
            1,
            "a foreign share does not count"
        );
        kms.reset_unseal(&ctx).await.unwrap();
        assert_eq!(kms.seal_status().await.unwrap().progress, 0);
        assert!(kms.is_sealed());
        let before = webqx_audit::verify(&store).await.unwrap().records;
        let _ = kms.submit_share(&ctx, "wqxs1-garbage").await;
        let _ = kms
            .unseal_with_passphrase(&ctx, &webqx_crypto::SecretBytes::from_slice(b"x"))
            .await;
        let after = webqx_audit::verify(&store).await.unwrap().records;
        assert_eq!(after, before + 2, "every unseal attempt is audited");

        let wrong_method = kms.unseal_with_key(&ctx, &out.shares[0]).await.unwrap_err();
        assert!(
            matches!(wrong_method, KmsError::WrongUnsealMethod(_)),
            "{wrong_method}"
        );
    }
}

#[tokio::test]
async fn passphrase_seal() {
    for t in test_stores() {
        let (store, audit, kms) = fresh(&t.config).await;
        let ctx = RequestContext::internal("test");
        let short = webqx_crypto::SecretBytes::from_slice(b"short");
        assert!(matches!(
            kms.initialize(&ctx, InitMethod::Passphrase(short)).await,
            Err(KmsError::Invalid(_))
        ));
        let phrase = webqx_crypto::SecretBytes::from_slice(b"correct horse battery staple");
        kms.initialize(&ctx, InitMethod::Passphrase(phrase.clone()))
            .await
            .unwrap();
        let kms = Kms::new(store.clone(), audit, settings());
        let bad = webqx_crypto::SecretBytes::from_slice(b"incorrect horse battery staple");
        assert!(matches!(
            kms.unseal_with_passphrase(&ctx, &bad).await,
            Err(KmsError::UnsealFailed(_))
        ));
        kms.unseal_with_passphrase(&ctx, &phrase).await.unwrap();
        assert!(!kms.is_sealed(), "{}", t.label);
    }
}
