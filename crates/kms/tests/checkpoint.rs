//! Signed checkpoints over the audit chain: what each kind of tampering looks like to
//! `verify`, with and without a checkpoint exported off the box, on SQLite and (under
//! CI) PostgreSQL.

mod common;

use common::{Env, unsealed};
use webqx_audit::checkpoint::CHECKPOINT_KEY;
use webqx_audit::{Checkpoint, VerifyOptions, VerifyReport, verify, verify_with};
use webqx_store::{Row, query};
use webqx_testkit::test_stores;

/// Writes `n` records (encrypt requests) and signs the head.
async fn records_and_checkpoint(env: &Env, n: usize) -> Checkpoint {
    env.kms
        .create_key(&env.ctx, &common::new_key("phi", Default::default()))
        .await
        .unwrap();
    for i in 0..n {
        env.encrypt1("phi", &format!("value {i}"), "").await;
    }
    env.kms.checkpoint_audit(&env.ctx).await.unwrap().unwrap();
    webqx_kms::export_latest_checkpoint(&env.store)
        .await
        .unwrap()
        .unwrap()
}

async fn exec(env: &Env, sql: &str) {
    query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(env.store.pool())
        .await
        .unwrap();
}

/// Recomputes every chain hash from `from` on and moves the head: what someone with
/// write access to the database, but not the checkpoint key, can do.
async fn rebuild_chain(env: &Env, from: i64) {
    let rows = query("SELECT seq, body FROM audit_log WHERE seq >= $1 ORDER BY seq")
        .bind(from)
        .fetch_all(env.store.pool())
        .await
        .unwrap();
    let prev_row = query("SELECT hash FROM audit_log WHERE seq = $1")
        .bind(from - 1)
        .fetch_optional(env.store.pool())
        .await
        .unwrap();
    let mut prev: Vec<u8> = match prev_row {
        Some(r) => r.try_get(0).unwrap(),
        None => vec![0; 32],
    };
    let mut last = from - 1;
    for row in &rows {
        let seq: i64 = row.try_get(0).unwrap();
        let body: String = row.try_get(1).unwrap();
        let mut input = b"webqx-audit-v1\n".to_vec();
        input.extend_from_slice(&prev);
        input.extend_from_slice(body.as_bytes());
        let hash = webqx_crypto::sha256(&input).to_vec();
        query("UPDATE audit_log SET prev_hash = $1, hash = $2 WHERE seq = $3")
            .bind(&prev)
            .bind(&hash)
            .bind(seq)
            .execute(env.store.pool())
            .await
            .unwrap();
        prev = hash;
        last = seq;
    }
    query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(last)
        .bind(&prev)
        .execute(env.store.pool())
        .await
        .unwrap();
}

fn broken_at(report: &VerifyReport, label: &str) -> (i64, String) {
    let b = report
        .first_break
        .clone()
        .unwrap_or_else(|| panic!("{label}: tampering not detected: {report:?}"));
    (b.seq, b.problem)
}

#[tokio::test]
async fn checkpoints_are_signed_only_when_the_head_moves_and_verify() {
    for t in test_stores() {
        let env = unsealed(&t.config, t.label).await;
        let cp = records_and_checkpoint(&env, 5).await;
        assert_eq!(cp.key, CHECKPOINT_KEY);
        assert_eq!(cp.key_version, 1);
        let key = cp.public_key().unwrap();
        cp.check_signature(&key).unwrap();
        assert!(
            env.kms.checkpoint_audit(&env.ctx).await.unwrap().is_none(),
            "{}: nothing new to sign",
            t.label
        );
        env.encrypt1("phi", "more", "").await;
        let next = env.kms.checkpoint_audit(&env.ctx).await.unwrap().unwrap();
        assert!(next.seq > cp.seq);

        let report = verify(&env.store).await.unwrap();
        assert!(report.ok(), "{}: {report:?}", t.label);
        assert_eq!(report.checkpoints_checked, 2, "{}", t.label);
        let anchored = verify_with(
            &env.store,
            &VerifyOptions {
                anchor: Some(cp.clone()),
                ..VerifyOptions::default()
            },
        )
        .await
        .unwrap();
        assert!(anchored.ok(), "{}: {anchored:?}", t.label);
        assert_eq!(anchored.anchor_seq, Some(cp.seq));

        // The statement is what any Ed25519 tool verifies.
        assert!(
            cp.statement()
                .starts_with("webqx-audit-checkpoint-v1\nseq=")
        );
    }
}

#[tokio::test]
async fn rotated_checkpoint_key_keeps_old_checkpoints_verifiable() {
    for t in test_stores() {
        let env = unsealed(&t.config, t.label).await;
        records_and_checkpoint(&env, 2).await;
        env.kms.rotate_key(&env.ctx, CHECKPOINT_KEY).await.unwrap();
        env.encrypt1("phi", "after rotation", "").await;
        let cp = env.kms.checkpoint_audit(&env.ctx).await.unwrap().unwrap();
        assert_eq!(cp.key_version, 2, "{}", t.label);
        let report = verify(&env.store).await.unwrap();
        assert!(report.ok(), "{}: {report:?}", t.label);
        assert_eq!(report.checkpoints_checked, 2);
    }
}

#[tokio::test]
async fn a_rebuilt_chain_no_longer_matches_the_signed_checkpoint() {
    for t in test_stores() {
        let env = unsealed(&t.config, t.label).await;
        let cp = records_and_checkpoint(&env, 6).await;
        exec(
            &env,
            "UPDATE audit_log SET body = replace(body, 'key.encrypt', 'key.encrypX') WHERE seq = 4",
        )
        .await;
        rebuild_chain(&env, 4).await;
        let (seq, problem) = broken_at(&verify(&env.store).await.unwrap(), t.label);
        assert_eq!(seq, cp.seq, "{}: {problem}", t.label);
        assert!(problem.contains("rewritten"), "{}: {problem}", t.label);
    }
}

#[tokio::test]
async fn tail_truncation_is_caught_by_stored_checkpoints_and_by_an_exported_one() {
    for t in test_stores() {
        let env = unsealed(&t.config, t.label).await;
        let cp = records_and_checkpoint(&env, 6).await;
        let cut = cp.seq - 3;
        exec(&env, &format!("DELETE FROM audit_log WHERE seq > {cut}")).await;
        rebuild_chain(&env, cut + 1).await;
        // The head was rewound with the records: only checkpoints can tell.
        let (seq, problem) = broken_at(&verify(&env.store).await.unwrap(), t.label);
        assert_eq!(seq, cut + 1, "{}: {problem}", t.label);
        assert!(problem.contains("newest records were removed"), "{problem}");

        // Delete the stored checkpoints too: the exported one still sees it.
        exec(&env, "DELETE FROM audit_checkpoints").await;
        assert!(verify(&env.store).await.unwrap().ok(), "{}", t.label);
        let anchored = verify_with(
            &env.store,
            &VerifyOptions {
                anchor: Some(cp.clone()),
                ..VerifyOptions::default()
            },
        )
        .await
        .unwrap();
        let (seq, problem) = broken_at(&anchored, t.label);
        assert_eq!(seq, cut + 1, "{}: {problem}", t.label);
        assert!(
            problem.contains(&format!("covers record {}", cp.seq)),
            "{problem}"
        );
    }
}

#[tokio::test]
async fn forged_checkpoints_and_a_replaced_public_key_are_caught() {
    for t in test_stores() {
        let env = unsealed(&t.config, t.label).await;
        let cp = records_and_checkpoint(&env, 3).await;

        // A checkpoint whose signature was altered.
        let mut sig: Vec<u8> = query("SELECT signature FROM audit_checkpoints WHERE seq = $1")
            .bind(cp.seq)
            .fetch_one(env.store.pool())
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        sig[0] ^= 1;
        query("UPDATE audit_checkpoints SET signature = $1 WHERE seq = $2")
            .bind(&sig)
            .bind(cp.seq)
            .execute(env.store.pool())
            .await
            .unwrap();
        let (seq, problem) = broken_at(&verify(&env.store).await.unwrap(), t.label);
        assert_eq!(seq, cp.seq);
        assert!(problem.contains("does not verify"), "{problem}");

        // An attacker's own key in the database, and checkpoints re-signed with it:
        // the database alone is fooled, the exported checkpoint is not.
        let attacker =
            webqx_crypto::sign::generate(webqx_crypto::sign::Algorithm::Ed25519).unwrap();
        let spki = webqx_crypto::sign::public_key_spki(
            webqx_crypto::sign::Algorithm::Ed25519,
            attacker.expose(),
        )
        .unwrap();
        query("UPDATE key_versions SET public_key = $1 WHERE public_key IS NOT NULL AND key_id = (SELECT id FROM keys WHERE name = $2)")
            .bind(&spki)
            .bind(CHECKPOINT_KEY)
            .execute(env.store.pool())
            .await
            .unwrap();
        let forged = webqx_crypto::sign::sign(
            webqx_crypto::sign::Algorithm::Ed25519,
            attacker.expose(),
            cp.statement().as_bytes(),
            webqx_crypto::sign::SignatureFormat::Der,
        )
        .unwrap();
        query("UPDATE audit_checkpoints SET signature = $1 WHERE seq = $2")
            .bind(&forged)
            .bind(cp.seq)
            .execute(env.store.pool())
            .await
            .unwrap();
        assert!(verify(&env.store).await.unwrap().ok(), "{}", t.label);
        let anchored = verify_with(
            &env.store,
            &VerifyOptions {
                anchor: Some(cp.clone()),
                ..VerifyOptions::default()
            },
        )
        .await
        .unwrap();
        let (seq, problem) = broken_at(&anchored, t.label);
        assert_eq!(seq, cp.seq, "{problem}");
        assert!(
            anchored
                .warnings
                .iter()
                .any(|w| w.contains("different public key")),
            "{anchored:?}"
        );
    }
}

#[tokio::test]
async fn an_exported_checkpoint_with_a_bad_signature_is_refused() {
    for t in test_stores() {
        let env = unsealed(&t.config, t.label).await;
        let mut cp = records_and_checkpoint(&env, 2).await;
        cp.seq += 1;
        let err = verify_with(
            &env.store,
            &VerifyOptions {
                anchor: Some(cp),
                ..VerifyOptions::default()
            },
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("does not verify"), "{err}");
    }
}

#[tokio::test]
async fn sealed_service_signs_nothing() {
    for t in test_stores() {
        let env = unsealed(&t.config, t.label).await;
        records_and_checkpoint(&env, 1).await;
        env.kms.seal(&env.ctx).await.unwrap();
        let err = env.kms.checkpoint_audit(&env.ctx).await.unwrap_err();
        assert!(matches!(err, webqx_kms::KmsError::Sealed), "{err}");
    }
}

#[tokio::test]
async fn checkpoints_whose_public_key_was_removed_fail_verification() {
    for t in test_stores() {
        let env = unsealed(&t.config, t.label).await;
        let cp = records_and_checkpoint(&env, 4).await;
        exec(
            &env,
            "UPDATE audit_log SET body = replace(body, 'key.encrypt', 'key.encrypX') WHERE seq = 3",
        )
        .await;
        rebuild_chain(&env, 3).await;
        exec(
            &env,
            "UPDATE key_versions SET public_key = NULL WHERE key_id = \
             (SELECT id FROM keys WHERE name = 'webqx-audit-checkpoint')",
        )
        .await;
        let (seq, problem) = broken_at(&verify(&env.store).await.unwrap(), t.label);
        assert_eq!(seq, cp.seq, "{}: {problem}", t.label);
        assert!(problem.contains("no public key"), "{problem}");
    }
}
