//! Data keys for encrypted files: made and unwrapped in-process, audited, and bound to
//! the file context so they do not unwrap as anything else.

mod common;

use common::{new_key, unsealed};
use std::io::Cursor;
use webqx_crypto::stream::{self, StreamOptions};
use webqx_kms::{FILE_KEY_CONTEXT, KeyType, KmsError};
use webqx_store::{Row, query};
use webqx_testkit::test_stores;

#[tokio::test]
async fn a_file_encrypted_in_process_decrypts_with_the_key_from_its_header() {
    for t in test_stores() {
        let env = unsealed(&t.config, t.label).await;
        env.kms
            .create_key(&env.ctx, &new_key("files", KeyType::Aes256Gcm))
            .await
            .unwrap();
        let (header, key) = env.kms.file_key(&env.ctx, "files").await.unwrap();
        assert_eq!(header.key_name, "files");
        assert_eq!(header.key_version, 1);
        assert_eq!(key.len(), 32);

        let plain = b"Jane Doe, MRN 0042, discharge summary".repeat(1000);
        let mut file = Vec::new();
        let opts = StreamOptions::default();
        stream::encrypt(&header, key.expose(), &plain[..], &mut file, &opts).unwrap();

        let mut input = Cursor::new(&file);
        let parsed = stream::read_header(&mut input).unwrap();
        let opened = env.kms.open_file_key(&env.ctx, &parsed).await.unwrap();
        assert_eq!(opened, key);
        let mut out = Vec::new();
        stream::decrypt(&parsed, opened.expose(), &mut input, &mut out, &opts).unwrap();
        assert_eq!(out, plain);

        let bodies = audit_bodies(&env).await.join("\n");
        assert!(bodies.contains("key.datakey"), "{bodies}");
        assert!(bodies.contains("key.decrypt"), "{bodies}");
        assert!(
            !bodies.contains(&hex::encode(key.expose())),
            "no key in the audit trail"
        );
        env.audit_ok().await;
    }
}

#[tokio::test]
async fn a_file_key_does_not_unwrap_under_another_ring_or_as_a_plain_ciphertext() {
    for t in test_stores() {
        let env = unsealed(&t.config, t.label).await;
        for name in ["files", "other"] {
            env.kms
                .create_key(&env.ctx, &new_key(name, KeyType::Aes256Gcm))
                .await
                .unwrap();
        }
        let (header, _) = env.kms.file_key(&env.ctx, "files").await.unwrap();

        let mut moved = header.clone();
        moved.key_name = "other".into();
        let err = env.kms.open_file_key(&env.ctx, &moved).await.unwrap_err();
        assert!(matches!(err, KmsError::Decrypt), "{err}");

        let wrapped = String::from_utf8(header.wrapped_key.clone()).unwrap();
        let without_context = env.decrypt1("files", &wrapped, "").await.unwrap_err();
        assert!(
            matches!(without_context, KmsError::Decrypt),
            "{without_context}"
        );

        let mut garbage = header.clone();
        garbage.wrapped_key = vec![0xff, 0xfe];
        let err = env.kms.open_file_key(&env.ctx, &garbage).await.unwrap_err();
        assert!(matches!(err, KmsError::Decrypt), "{err}");
        assert_eq!(FILE_KEY_CONTEXT, b"webqx-file:v1");
        env.audit_ok().await;
    }
}

async fn audit_bodies(env: &common::Env) -> Vec<String> {
    let rows = query("SELECT body FROM audit_log ORDER BY seq")
        .fetch_all(env.store.pool())
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.try_get::<String, _>(0).unwrap())
        .collect()
}
