//! Backups through the library, on every configured store (SQLite always; PostgreSQL
//! when `WEBQX_TEST_POSTGRES` is set, which CI requires): create while writes go on,
//! verify, refuse tampering, truncation and wrong credentials, restore and find the same
//! keys and audit trail.

use std::path::Path;
use std::sync::Arc;
use webqx_audit::{AuditLog, RequestContext};
use webqx_backup::{BackupError, Credentials, RestoreTarget};
use webqx_crypto::SecretBytes;
use webqx_kms::{CreateKey, InitMethod, KeyType, Kms, KmsSettings, Plain};
use webqx_store::{Backend, Store, StoreConfig, query_scalar};
use webqx_testkit::test_stores;

struct Env {
    store: Store,
    audit: Arc<AuditLog>,
    kms: Arc<Kms>,
    ctx: RequestContext,
    key_file: SecretBytes,
}

async fn env(config: &StoreConfig) -> Env {
    let store = Store::open(config).await.expect("store opens");
    let audit = AuditLog::start(store.clone());
    let kms = Arc::new(Kms::new(
        store.clone(),
        audit.clone(),
        KmsSettings::default(),
    ));
    let ctx = RequestContext::internal("test");
    let out = kms
        .initialize(&ctx, InitMethod::KeyFile)
        .await
        .expect("init");
    Env {
        store,
        audit,
        kms,
        ctx,
        key_file: out.key_file.expect("key file"),
    }
}

async fn encrypt(kms: &Kms, ctx: &RequestContext, key: &str, text: &str) -> String {
    let plain = Plain {
        plaintext: SecretBytes::from_slice(text.as_bytes()),
        context: vec![],
    };
    let out = kms
        .encrypt(ctx, key, &[plain], None)
        .await
        .expect("encrypt");
    out.into_iter().next().unwrap().expect("item").ciphertext
}

async fn create_key(kms: &Kms, ctx: &RequestContext, name: &str) {
    let req = CreateKey {
        name: name.into(),
        key_type: KeyType::Aes256Gcm,
        ..CreateKey::default()
    };
    kms.create_key(ctx, &req).await.expect("create key");
}

async fn backup_to(e: &Env, data: &Path, out: &Path) -> webqx_backup::Created {
    let file = std::fs::File::create(out).unwrap();
    webqx_backup::create(&e.store, &e.kms, &e.audit, &e.ctx, data, file)
        .await
        .expect("backup")
}

fn creds(e: &Env) -> Arc<Credentials> {
    Arc::new(Credentials::KeyFile(e.key_file.clone()))
}

async fn audit_rows(store: &Store) -> i64 {
    query_scalar("SELECT COUNT(*) FROM audit_log")
        .fetch_one(store.pool())
        .await
        .unwrap()
}

/// A target store for the restore: a new SQLite file in the folder, or a new schema.
fn restore_target(original: &StoreConfig, dir: &Path) -> (RestoreTarget, StoreConfig) {
    let data_dir = dir.join("restored");
    if original.url.starts_with("postgres") {
        let pg = StoreConfig {
            url: original.url.clone(),
            schema: Some(format!("webqx_r_{}", uuid_like())),
            max_connections: 4,
        };
        let target = RestoreTarget {
            data_dir,
            postgres: Some(pg.clone()),
            force: false,
        };
        (target, pg)
    } else {
        let config = StoreConfig::sqlite(&data_dir.join("store.db"));
        let target = RestoreTarget {
            data_dir,
            postgres: None,
            force: false,
        };
        (target, config)
    }
}

fn uuid_like() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_taken_under_writes_restores_keys_files_and_a_verifiable_trail() {
    for t in test_stores() {
        let e = env(&t.config).await;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(data.join("tls")).unwrap();
        std::fs::write(data.join("admin.token"), b"wqxt_admin").unwrap();
        std::fs::write(data.join("tls/ca.pem"), b"-----BEGIN CERTIFICATE-----").unwrap();
        std::fs::write(data.join("unseal.key"), e.key_file.expose()).unwrap();
        create_key(&e.kms, &e.ctx, "phi").await;
        let old = encrypt(&e.kms, &e.ctx, "phi", "Jane Q. Doe").await;

        // Writes keep going while the snapshot is taken.
        let writer = {
            let (kms, ctx) = (e.kms.clone(), e.ctx.clone());
            tokio::spawn(async move {
                for i in 0..150 {
                    create_key(&kms, &ctx, &format!("busy-{i}")).await;
                }
            })
        };
        let file = dir.path().join("b.wqxb");
        let created = backup_to(&e, &data, &file).await;
        writer.await.unwrap();
        assert!(
            created.files.contains(&"admin.token".to_string()),
            "{}",
            t.label
        );
        assert!(
            !created.files.iter().any(|f| f.contains("unseal")),
            "{}",
            t.label
        );

        let verified = webqx_backup::verify(&file, creds(&e))
            .await
            .expect("verify");
        let keys_in_backup = verified
            .summary
            .tables
            .iter()
            .find(|(n, _)| n == "keys")
            .map(|(_, n)| *n)
            .unwrap();
        let audit_in_backup = verified
            .summary
            .tables
            .iter()
            .find(|(n, _)| n == "audit_log")
            .map(|(_, n)| *n)
            .unwrap();

        let (target, restored_config) = restore_target(&t.config, dir.path());
        let report = webqx_backup::restore(&file, creds(&e), &target)
            .await
            .expect("restore");
        assert!(report.files.contains(&"tls/ca.pem".to_string()));
        assert_eq!(
            std::fs::read(target.data_dir.join("admin.token")).unwrap(),
            b"wqxt_admin"
        );
        assert!(!target.data_dir.join("unseal.key").exists());

        let store = Store::open(&restored_config).await.unwrap();
        // Consistent: the key rings and the audit trail are from one instant, and the
        // chain verifies from its start to the snapshot's head.
        let report = webqx_audit::verify(&store).await.unwrap();
        assert!(report.ok(), "{}: restored trail verifies", t.label);
        // The restore appends its own record to the restored trail.
        assert_eq!(
            audit_rows(&store).await as u64,
            audit_in_backup + 1,
            "{}",
            t.label
        );
        let keys: i64 = query_scalar("SELECT COUNT(*) FROM keys")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(keys as u64, keys_in_backup, "{}", t.label);
        // Each busy key's creation committed with its audit record: both or neither.
        let created_records: i64 =
            query_scalar("SELECT COUNT(*) FROM audit_log WHERE body LIKE '%\"key.create\"%'")
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!(
            created_records, keys,
            "{}: keys and their records agree",
            t.label
        );

        let audit = AuditLog::start(store.clone());
        let kms = Kms::new(store.clone(), audit, KmsSettings::default());
        kms.unseal_with_key(&e.ctx, &e.key_file)
            .await
            .expect("unseal restored");
        let opened = kms
            .decrypt(&e.ctx, "phi", &[(old.clone(), vec![])])
            .await
            .unwrap()
            .into_iter()
            .next()
            .unwrap()
            .expect("old ciphertext opens");
        assert_eq!(opened.plaintext.expose(), b"Jane Q. Doe");
        if store.backend() == Backend::Postgres {
            drop_schema(&restored_config).await;
        }
        store.close().await;
    }
}

async fn drop_schema(config: &StoreConfig) {
    let Some(schema) = &config.schema else { return };
    // A plain connection: opening a Store without a schema would migrate `public`, which
    // other runs (with other migrations) share.
    let pool = sqlx::PgPool::connect(&config.url).await.unwrap();
    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&pool)
        .await;
    pool.close().await;
}

#[tokio::test]
async fn tampered_truncated_and_appended_backups_and_wrong_credentials_are_refused() {
    let t = &test_stores()[0];
    let e = env(&t.config).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.wqxb");
    backup_to(&e, dir.path(), &file).await;
    let good = std::fs::read(&file).unwrap();

    let damaged = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x01;
    let cases = [
        ("flipped", damaged("flipped", &flipped)),
        ("truncated", damaged("truncated", &good[..good.len() - 17])),
        (
            "appended",
            damaged("appended", &[good.as_slice(), b"junk"].concat()),
        ),
    ];
    for (what, path) in cases {
        let err = webqx_backup::verify(&path, creds(&e)).await.unwrap_err();
        assert!(matches!(err, BackupError::Stream(_)), "{what}: {err}");
        let target = RestoreTarget {
            data_dir: dir.path().join(format!("r-{what}")),
            postgres: None,
            force: false,
        };
        let err = webqx_backup::restore(&path, creds(&e), &target)
            .await
            .unwrap_err();
        assert!(matches!(err, BackupError::Stream(_)), "{what}: {err}");
        assert!(!target.data_dir.exists(), "{what}: nothing left behind");
    }

    let wrong = Arc::new(Credentials::KeyFile(SecretBytes::from_slice(
        hex_of(&[3u8; 32]).as_bytes(),
    )));
    let err = webqx_backup::verify(&file, wrong).await.unwrap_err();
    assert!(err.to_string().contains("do not open"), "{err}");
    let kind = Arc::new(Credentials::Passphrase(SecretBytes::from_slice(
        b"a passphrase here",
    )));
    let err = webqx_backup::verify(&file, kind).await.unwrap_err();
    assert!(err.to_string().contains("key file"), "{err}");
}

#[tokio::test]
async fn restore_refuses_a_non_empty_folder_without_force() {
    let t = &test_stores()[0];
    let e = env(&t.config).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.wqxb");
    backup_to(&e, dir.path(), &file).await;
    let data_dir = dir.path().join("busy");
    std::fs::create_dir_all(&data_dir).unwrap();
    std::fs::write(data_dir.join("store.db"), b"precious").unwrap();
    let mut target = RestoreTarget {
        data_dir: data_dir.clone(),
        postgres: None,
        force: false,
    };
    let err = webqx_backup::restore(&file, creds(&e), &target)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(
        std::fs::read(data_dir.join("store.db")).unwrap(),
        b"precious"
    );
    target.force = true;
    let report = webqx_backup::restore(&file, creds(&e), &target)
        .await
        .unwrap();
    let aside = report.moved_aside.expect("old folder moved aside");
    assert_eq!(std::fs::read(aside.join("store.db")).unwrap(), b"precious");
    assert!(data_dir.join("store.db").exists());
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn a_sqlite_backup_restores_into_postgresql() {
    let Some(url) = webqx_testkit::postgres_url() else {
        eprintln!("WEBQX_TEST_POSTGRES unset: cross-backend restore not tried");
        return;
    };
    let t = &test_stores()[0];
    let e = env(&t.config).await;
    create_key(&e.kms, &e.ctx, "phi").await;
    let old = encrypt(&e.kms, &e.ctx, "phi", "across").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.wqxb");
    backup_to(&e, dir.path(), &file).await;
    let pg = StoreConfig {
        url,
        schema: Some(format!("webqx_x_{}", uuid_like())),
        max_connections: 4,
    };
    let target = RestoreTarget {
        data_dir: dir.path().join("pgdata"),
        postgres: Some(pg.clone()),
        force: false,
    };
    webqx_backup::restore(&file, creds(&e), &target)
        .await
        .expect("restore into postgres");
    let store = Store::open(&pg).await.unwrap();
    assert!(webqx_audit::verify(&store).await.unwrap().ok());
    let kms = Kms::new(
        store.clone(),
        AuditLog::start(store.clone()),
        KmsSettings::default(),
    );
    kms.unseal_with_key(&e.ctx, &e.key_file).await.unwrap();
    let opened = kms.decrypt(&e.ctx, "phi", &[(old, vec![])]).await.unwrap();
    assert_eq!(opened[0].as_ref().unwrap().plaintext.expose(), b"across");
    // Restoring again into the same schema is refused without force.
    let err = webqx_backup::restore(
        &file,
        creds(&e),
        &RestoreTarget {
            data_dir: dir.path().join("pgdata2"),
            ..target.clone()
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("--force"), "{err}");
    store.close().await;
    drop_schema(&pg).await;
}
