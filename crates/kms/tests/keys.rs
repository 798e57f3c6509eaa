//! Key ring lifecycle and operations, on every configured store.

mod common;

use common::{new_key, plain, unsealed};
use webqx_kms::{CreateKey, KeyConfig, KeyState, KeyType, KmsError, SignatureFormat, VerifyItem};
use webqx_store::{Backend, Row, query};
use webqx_testkit::test_stores;

#[tokio::test]
async fn every_encryption_type_round_trips_and_binds_context() {
    for t in test_stores() {
        let env = unsealed(&t.config, t.label).await;
        for key_type in [
            KeyType::Aes256Gcm,
            KeyType::ChaCha20Poly1305,
            KeyType::Aes256Siv,
        ] {
            let name = format!("k-{key_type}");
            env.kms
                .create_key(&env.ctx, &new_key(&name, key_type))
                .await
                .unwrap();
            let ct = env.encrypt1(&name, "Jane Q. Doe", "Patient/123").await;
            assert!(ct.starts_with("wqx1:"));
            assert!(!ct.contains("Jane"));
            assert_eq!(
                env.decrypt1(&name, &ct, "Patient/123").await.unwrap(),
                "Jane Q. Doe"
            );
            let wrong = env.decrypt1(&name, &ct, "Patient/124").await.unwrap_err();
            assert!(matches!(wrong, KmsError::Decrypt), "{}: {wrong}", t.label);
            let again = env.encrypt1(&name, "Jane Q. Doe", "Patient/123").await;
            assert_eq!(
                again == ct,
                key_type == KeyType::Aes256Siv,
                "only SIV is deterministic"
            );
        }
        env.audit_ok().await;
    }
}

#[tokio::test]
async fn tampered_truncated_garbage_and_foreign_ciphertexts_get_one_opaque_error() {
    for t in test_stores() {
        let env = unsealed(&t.config, t.label).await;
        env.kms
            .create_key(&env.ctx, &new_key("a", KeyType::Aes256Gcm))
            .await
            .unwrap();
        env.kms
            .create_key(&env.ctx, &new_key("b", KeyType::Aes256Gcm))
            .await
            .unwrap();
        let ct = env.encrypt1("a", "secret", "").await;
        let mut flipped: Vec<char> = ct.chars().collect();
        let last = flipped.len() - 3;
        flipped[last] = if flipped[last] == 'A' { 'B' } else { 'A' };
        let flipped: String = flipped.into_iter().collect();
        let cases = [
            flipped,
            ct[..ct.len() - 8].to_owned(),
            "wqx1:!!!!".to_owned(),
            "vault:v1:abcd".to_owned(),
            String::new(),
            "wqx1:".to_owned() + &"A".repeat(400),
        ];
        for bad in &cases {
            let err = env.decrypt1("a", bad, "").await.unwrap_err();
            assert!(
                matches!(err, KmsError::Decrypt),
                "{}: {bad}: {err}",
                t.label
            );
        }
        let err = env.decrypt1("b", &ct, "").await.unwrap_err();
        assert!(
            matches!(err, KmsError::Decrypt),
            "ciphertext of key a under key b: {err}"
        );
    }
}

#[tokio::test]
async fn rotation_keeps_old_ciphertexts_and_min_versions_are_enforced() {
    for t in test_stores() {
        let env = unsealed(&t.config, t.label).await;
        env.kms
            .create_key(&env.ctx, &new_key("phi", KeyType::Aes256Gcm))
            .await
            .unwrap();
        let v1 = env.encrypt1("phi", "v1 data", "").await;
        let info = env.kms.rotate_key(&env.ctx, "phi").await.unwrap();
        assert_eq!(info.latest_version, 2);
        let v2 = env.encrypt1("phi", "v2 data", "").await;
        assert_eq!(env.decrypt1("phi", &v1, "").await.unwrap(), "v1 data");

        let rewrapped = env
            .kms
            .rewrap(&env.ctx, "phi", &[(v1.clone(), vec![])])
            .await
            .unwrap();
        let rewrapped = rewrapped.into_iter().next().unwrap().unwrap();
        assert_eq!(rewrapped.key_version, 2);
        assert_eq!(
            env.decrypt1("phi", &rewrapped.ciphertext, "")
                .await
                .unwrap(),
            "v1 data"
        );

        let cfg = KeyConfig {
            min_decryption_version: Some(2),
            ..KeyConfig::default()
        };
        env.kms.configure_key(&env.ctx, "phi", &cfg).await.unwrap();
        let old = env.decrypt1("phi", &v1, "").await.unwrap_err();
        assert!(matches!(old, KmsError::KeyVersion(_)), "{old}");
        assert_eq!(env.decrypt1("phi", &v2, "").await.unwrap(), "v2 data");

        let bad = KeyConfig {
            min_decryption_version: Some(3),
            ..KeyConfig::default()
        };
        assert!(matches!(
            env.kms.configure_key(&env.ctx, "phi", &bad).await,
            Err(KmsError::KeyVersion(_))
        ));
        let bad = KeyConfig {
            min_encryption_version: Some(1),
            ..KeyConfig::default()
        };
        assert!(matches!(
            env.kms.configure_key(&env.ctx, "phi", &bad).await,
            Err(KmsError::KeyVersion(_))
        ));
        let pick_old = env
            .kms
            .encrypt(&env.ctx, "phi", &[plain("x", "")], Some(1))
            .await
            .unwrap_err();
        assert!(matches!(pick_old, KmsError::KeyVersion(_)), "{pick_old}");
        env.audit_ok().await;
    }
}

#[tokio::test]
async fn lifecycle_states_refuse_use_with_clear_errors() {
    for t in test_stores() {
        let env = unsealed(&t.config, t.label).await;
        let create = CreateKey {
            auto_rotate_period: Some("30d".into()),
            ..new_key("k", KeyType::Aes256Gcm)
        };
        let info = env.kms.create_key(&env.ctx, &create).await.unwrap();
        assert_eq!(info.auto_rotate_period.as_deref(), Some("30d"));
        assert!(matches!(
            env.kms.create_key(&env.ctx, &create).await,
            Err(KmsError::KeyExists(_))
        ));
        let too_short = CreateKey {
            auto_rotate_period: Some("5m".into()),
            ..new_key("k2", KeyType::Hmac)
        };
        assert!(matches!(
            env.kms.create_key(&env.ctx, &too_short).await,
            Err(KmsError::Invalid(_))
        ));
        let bad_name = new_key("../etc/passwd", KeyType::Hmac);
        assert!(matches!(
            env.kms.create_key(&env.ctx, &bad_name).await,
            Err(KmsError::Invalid(_))
        ));
        assert!(matches!(
            env.kms.key_info(&env.ctx, "nope").await,
            Err(KmsError::KeyNotFound(_))
        ));

        env.kms.disable_key(&env.ctx, "k").await.unwrap();
        let err = env
            .kms
            .encrypt(&env.ctx, "k", &[plain("x", "")], None)
            .await
            .unwrap_err();
        assert!(matches!(err, KmsError::KeyDisabled(_)), "{err}");
        assert!(
            err.to_string().contains("key enable k"),
            "says how to fix: {err}"
        );
        env.kms.enable_key(&env.ctx, "k").await.unwrap();
        env.encrypt1("k", "ok again", "").await;

        let sign = env
            .kms
            .sign(
                &env.ctx,
                "k",
                &[(b"x".to_vec(), vec![])],
                SignatureFormat::Der,
            )
            .await
            .unwrap_err();
        assert!(matches!(sign, KmsError::WrongKeyType { .. }), "{sign}");

        let (keys, next) = env.kms.list_keys(&env.ctx, None, 10).await.unwrap();
        assert_eq!((keys.len(), next), (1, None));
        env.audit_ok().await;
    }
}

#[tokio::test]
async fn destroy_shreds_material_for_good() {
    for t in test_stores() {
        let env = unsealed(&t.config, t.label).await;
        env.kms
            .create_key(&env.ctx, &new_key("doomed", KeyType::Aes256Gcm))
            .await
            .unwrap();
        env.kms.rotate_key(&env.ctx, "doomed").await.unwrap();
        let ct = env.encrypt1("doomed", "record of a patient", "").await;
        let wrapped: Vec<Vec<u8>> = query("SELECT v.wrapped FROM key_versions v JOIN keys k ON k.id = v.key_id WHERE k.name = 'doomed'")
            .fetch_all(env.store.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get(0).unwrap())
            .collect();
        assert_eq!(wrapped.len(), 2);

        let early = env.kms.destroy_key(&env.ctx, "doomed").await.unwrap_err();
        assert!(early.to_string().contains("schedule"), "{early}");
        let info = env
            .kms
            .schedule_deletion(&env.ctx, "doomed", Some("1h"))
            .await
            .unwrap();
        assert_eq!(info.state, KeyState::PendingDeletion);
        let pending = env.decrypt1("doomed", &ct, "").await.unwrap_err();
        assert!(
            matches!(pending, KmsError::KeyPendingDeletion(_)),
            "{pending}"
        );
        let not_due = env.kms.destroy_key(&env.ctx, "doomed").await.unwrap_err();
        assert!(
            not_due.to_string().contains("may be destroyed from"),
            "{not_due}"
        );
        env.kms.cancel_deletion(&env.ctx, "doomed").await.unwrap();
        env.kms
            .schedule_deletion(&env.ctx, "doomed", Some("0"))
            .await
            .unwrap();
        let info = env.kms.destroy_key(&env.ctx, "doomed").await.unwrap();
        assert_eq!(info.state, KeyState::Destroyed);
        assert!(info.versions.is_empty());

        let gone = env.decrypt1("doomed", &ct, "").await.unwrap_err();
        assert!(matches!(gone, KmsError::KeyDestroyed(_)), "{gone}");
        assert!(matches!(
            env.kms.enable_key(&env.ctx, "doomed").await,
            Err(KmsError::KeyDestroyed(_))
        ));
        assert!(matches!(
            env.kms.rotate_key(&env.ctx, "doomed").await,
            Err(KmsError::KeyDestroyed(_))
        ));
        let left: i64 = query("SELECT COUNT(*) FROM key_versions v JOIN keys k ON k.id = v.key_id WHERE k.name = 'doomed' AND v.wrapped IS NOT NULL")
            .fetch_one(env.store.pool())
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        assert_eq!(left, 0);

        if env.store.backend() == Backend::Postgres {
            // The table's file on disk, as a file-level backup would copy it. Other
            // transactions open in the database (other tests) can keep old row versions
            // alive for a moment; the service purges again on its scheduler ticks.
            let mut clean = false;
            for _ in 0..50 {
                query("CHECKPOINT").execute(env.store.pool()).await.unwrap();
                let file: Vec<u8> =
                    query("SELECT pg_read_binary_file(pg_relation_filepath('key_versions'))")
                        .fetch_one(env.store.pool())
                        .await
                        .unwrap()
                        .try_get(0)
                        .unwrap();
                clean = wrapped
                    .iter()
                    .all(|w| !file.windows(w.len()).any(|win| win == w.as_slice()));
                if clean {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                env.kms.run_due_work(&env.ctx).await.unwrap();
            }
            assert!(clean, "wrapped material still in the table file");
        }
        if env.store.backend() == Backend::Sqlite {
            // Not in the database file nor its write-ahead log: the bytes are overwritten.
            let db = std::path::PathBuf::from(&t.config.url);
            let mut bytes = std::fs::read(&db).unwrap();
            bytes.extend(std::fs::read(db.with_extension("db-wal")).unwrap_or_default());
            for w in &wrapped {
                assert!(
                    !bytes.windows(w.len()).any(|win| win == w.as_slice()),
                    "wrapped material still on disk"
                );
            }
        }
        env.audit_ok().await;
    }
}

#[tokio::test]
async fn signatures_hmacs_datakeys_and_export() {
    for t in test_stores() {
        let env = unsealed(&t.config, t.label).await;
        for (name, key_type, format) in [
            ("ed", KeyType::Ed25519, SignatureFormat::Der),
            ("ec", KeyType::EcdsaP256, SignatureFormat::Der),
            ("ec", KeyType::EcdsaP256, SignatureFormat::P1363),
        ] {
            if env.kms.key_info(&env.ctx, name).await.is_err() {
                env.kms
                    .create_key(&env.ctx, &new_key(name, key_type))
                    .await
                    .unwrap();
            }
            let signed = env
                .kms
                .sign(
                    &env.ctx,
                    name,
                    &[(b"order".to_vec(), b"ctx".to_vec())],
                    format,
                )
                .await
                .unwrap();
            let signed = signed.into_iter().next().unwrap().unwrap();
            let item = |input: &[u8], context: &[u8]| VerifyItem {
                input: input.to_vec(),
                context: context.to_vec(),
                signature: signed.signature.clone(),
            };
            let results = env
                .kms
                .verify(
                    &env.ctx,
                    name,
                    &[
                        item(b"order", b"ctx"),
                        item(b"order!", b"ctx"),
                        item(b"order", b""),
                    ],
                )
                .await
                .unwrap();
            let verdicts: Vec<bool> = results.into_iter().map(|r| r.unwrap()).collect();
            assert_eq!(verdicts, vec![true, false, false], "{name} {format:?}");
        }
        let info = env.kms.key_info(&env.ctx, "ed").await.unwrap();
        assert!(
            info.versions[0]
                .public_key_pem
                .as_deref()
                .unwrap()
                .starts_with("-----BEGIN PUBLIC KEY-----")
        );

        env.kms
            .create_key(&env.ctx, &new_key("mac", KeyType::Hmac))
            .await
            .unwrap();
        let tag = env
            .kms
            .hmac(&env.ctx, "mac", &[(b"msg".to_vec(), vec![])], false)
            .await
            .unwrap()
            .remove(0)
            .unwrap();
        let ok = env
            .kms
            .verify(
                &env.ctx,
                "mac",
                &[VerifyItem {
                    input: b"msg".to_vec(),
                    context: vec![],
                    signature: tag.ciphertext.clone(),
                }],
            )
            .await
            .unwrap();
        assert!(matches!(ok[0], Ok(true)));

        // A context-bound HMAC only verifies with its context, and a signature made
        // without a context over a crafted message never passes for a context-bound one.
        let bound = env
            .kms
            .hmac(
                &env.ctx,
                "mac",
                &[(b"m".to_vec(), b"ctx-a".to_vec())],
                false,
            )
            .await
            .unwrap()
            .remove(0)
            .unwrap();
        let check = |ctx: &[u8]| VerifyItem {
            input: b"m".to_vec(),
            context: ctx.to_vec(),
            signature: bound.ciphertext.clone(),
        };
        let verdicts: Vec<bool> = env
            .kms
            .verify(
                &env.ctx,
                "mac",
                &[check(b"ctx-a"), check(b"ctx-b"), check(b"")],
            )
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(verdicts, vec![true, false, false]);
        let mut crafted = b"webqx-sign-ctx-v1\0".to_vec();
        crafted.extend_from_slice(&3u32.to_be_bytes());
        crafted.extend_from_slice(b"ctx");
        crafted.extend_from_slice(b"order");
        let forged = env
            .kms
            .sign(&env.ctx, "ed", &[(crafted, vec![])], SignatureFormat::Der)
            .await
            .unwrap()
            .remove(0)
            .unwrap();
        let attempt = VerifyItem {
            input: b"order".to_vec(),
            context: b"ctx".to_vec(),
            signature: forged.signature,
        };
        assert!(matches!(
            env.kms.verify(&env.ctx, "ed", &[attempt]).await.unwrap()[0],
            Ok(false)
        ));
        assert!(matches!(
            env.kms
                .sign(
                    &env.ctx,
                    "ed",
                    &[(b"x".to_vec(), vec![])],
                    SignatureFormat::P1363
                )
                .await,
            Err(KmsError::Invalid(_))
        ));

        env.kms
            .create_key(&env.ctx, &new_key("dk", KeyType::Aes256Gcm))
            .await
            .unwrap();
        let dk = env
            .kms
            .datakey(&env.ctx, "dk", 256, b"file-1", true)
            .await
            .unwrap();
        let plain_key = dk.plaintext.unwrap();
        assert_eq!(plain_key.len(), 32);
        let back = env
            .kms
            .decrypt(&env.ctx, "dk", &[(dk.ciphertext, b"file-1".to_vec())])
            .await
            .unwrap()
            .remove(0)
            .unwrap();
        assert_eq!(back.plaintext, plain_key);
        assert!(
            env.kms
                .datakey(&env.ctx, "dk", 100, b"", false)
                .await
                .is_err()
        );

        let refused = env.kms.export(&env.ctx, "dk", None).await.unwrap_err();
        assert!(matches!(refused, KmsError::NotExportable(_)), "{refused}");
        let exportable = CreateKey {
            exportable: true,
            ..new_key("ex", KeyType::Aes256Gcm)
        };
        env.kms.create_key(&env.ctx, &exportable).await.unwrap();
        let material = env.kms.export(&env.ctx, "ex", None).await.unwrap();
        assert_eq!(material.len(), 1);
        assert_eq!(material[0].1.len(), 32);
        env.audit_ok().await;
    }
}

#[tokio::test]
async fn batches_answer_per_item() {
    for t in test_stores() {
        let env = unsealed(&t.config, t.label).await;
        env.kms
            .create_key(&env.ctx, &new_key("b", KeyType::ChaCha20Poly1305))
            .await
            .unwrap();
        let good = env.encrypt1("b", "one", "c1").await;
        let items = vec![
            (good.clone(), b"c1".to_vec()),
            ("garbage".to_owned(), vec![]),
            (good, b"c2".to_vec()),
        ];
        let out = env.kms.decrypt(&env.ctx, "b", &items).await.unwrap();
        assert!(out[0].is_ok());
        assert!(matches!(out[1], Err(KmsError::Decrypt)));
        assert!(matches!(out[2], Err(KmsError::Decrypt)));
        assert!(matches!(
            env.kms.decrypt(&env.ctx, "b", &[]).await,
            Err(KmsError::Invalid(_))
        ));
    }
}

#[tokio::test]
async fn automatic_rotation_and_scheduled_destruction_run_when_due() {
    for t in test_stores() {
        let env = unsealed(&t.config, t.label).await;
        let create = CreateKey {
            auto_rotate_period: Some("1h".into()),
            ..new_key("auto", KeyType::Aes256Gcm)
        };
        env.kms.create_key(&env.ctx, &create).await.unwrap();
        env.kms
            .create_key(&env.ctx, &new_key("gone", KeyType::Aes256Gcm))
            .await
            .unwrap();
        env.kms
            .schedule_deletion(&env.ctx, "gone", Some("0"))
            .await
            .unwrap();
        assert_eq!(env.kms.run_due_work(&env.ctx).await.unwrap(), (0, 1));
        // Pretend the last rotation was two hours ago.
        query("UPDATE keys SET rotated_ms = rotated_ms - 7200000 WHERE name = 'auto'")
            .execute(env.store.pool())
            .await
            .unwrap();
        assert_eq!(env.kms.run_due_work(&env.ctx).await.unwrap(), (1, 0));
        assert_eq!(
            env.kms
                .key_info(&env.ctx, "auto")
                .await
                .unwrap()
                .latest_version,
            2
        );
        assert_eq!(env.kms.run_due_work(&env.ctx).await.unwrap(), (0, 0));
        env.audit_ok().await;
    }
}
