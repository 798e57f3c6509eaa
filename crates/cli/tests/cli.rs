//! The `webqx-sec` command line against a real server: production init and unseal,
//! key lifecycle and operations, tokens from the environment, exit codes, offline
//! audit verification that catches edited, deleted and reordered rows.

use std::process::Command;
use webqx_testkit::server::{Server, stderr, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_webqx-sec");

fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn key_lifecycle_and_operations_through_the_cli() {
    let server = Server::start(BIN, &[]);
    let ok = |args: &[&str]| {
        let o = server.cli(args);
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
        stdout(&o)
    };
    ok(&[
        "key",
        "create",
        "notes",
        "--type",
        "chacha20-poly1305",
        "--auto-rotate",
        "30d",
    ]);
    assert!(ok(&["key", "show", "notes"]).contains("auto_rotate_period       30d"));
    let ct = ok(&[
        "key",
        "encrypt",
        "notes",
        "Patient said: chest pain since Tuesday",
        "--context",
        "Encounter/9",
    ]);
    assert!(ct.starts_with("wqx1:"));
    let plain = ok(&[
        "key",
        "decrypt",
        "notes",
        ct.trim(),
        "--context",
        "Encounter/9",
    ]);
    assert_eq!(plain, "Patient said: chest pain since Tuesday");
    let from_stdin = server.cli_with(&["key", "encrypt", "notes"], Some(b"binary\x00\x01data"));
    let back = server.cli_with(&["key", "decrypt", "notes"], Some(&from_stdin.stdout));
    assert_eq!(back.stdout, b"binary\x00\x01data");

    ok(&["key", "rotate", "notes"]);
    let rewrapped = ok(&[
        "key",
        "rewrap",
        "notes",
        ct.trim(),
        "--context",
        "Encounter/9",
    ]);
    assert_ne!(rewrapped.trim(), ct.trim());
    ok(&["key", "config", "notes", "--min-decryption-version", "2"]);
    let refused = server.cli(&[
        "key",
        "decrypt",
        "notes",
        ct.trim(),
        "--context",
        "Encounter/9",
    ]);
    assert_eq!(code(&refused), 4, "4xx is exit 4: {}", stderr(&refused));
    assert!(
        stderr(&refused).contains("min_decryption_version"),
        "{}",
        stderr(&refused)
    );

    ok(&["key", "create", "sig", "--type", "ecdsa-p256"]);
    let sig = ok(&["key", "sign", "sig", "release 1.2.3"]);
    assert_eq!(
        ok(&[
            "key",
            "verify",
            "sig",
            "--signature",
            sig.trim(),
            "release 1.2.3"
        ])
        .trim(),
        "valid"
    );
    let bad = server.cli(&[
        "key",
        "verify",
        "sig",
        "--signature",
        sig.trim(),
        "release 1.2.4",
    ]);
    assert_eq!(
        (code(&bad), stdout(&bad).trim()),
        (1, "NOT valid"),
        "a failed check is exit 1"
    );

    let json = ok(&["--json", "key", "list"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(v["keys"].as_array().unwrap().len() >= 4);
    let missing = server.cli(&["key", "show", "nope"]);
    assert_eq!(code(&missing), 4);
    assert!(
        stderr(&missing).contains("key create nope"),
        "says what to do: {}",
        stderr(&missing)
    );

    let too_soon = server.cli(&["key", "schedule-deletion", "notes", "--wait", "1h"]);
    assert_eq!(code(&too_soon), 4);
    assert!(
        stderr(&too_soon).contains("kms.min_deletion_wait"),
        "{}",
        stderr(&too_soon)
    );
    assert!(ok(&["key", "schedule-deletion", "notes"]).contains("pending_deletion"));
    assert!(ok(&["key", "cancel-deletion", "notes"]).contains("disabled"));
}

#[test]
fn destroyed_keys_leave_ciphertexts_undecryptable_forever() {
    let env = vec![("WEBQX_KMS_MIN_DELETION_WAIT".to_string(), "0".to_string())];
    let mut server = Server::start(BIN, &env);
    let ok = |server: &Server, args: &[&str]| {
        let o = server.cli(args);
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
        stdout(&o)
    };
    ok(&server, &["key", "create", "shred-me"]);
    let ct = ok(
        &server,
        &["key", "encrypt", "shred-me", "discharge summary"],
    );
    ok(
        &server,
        &["key", "schedule-deletion", "shred-me", "--wait", "0"],
    );
    assert!(ok(&server, &["key", "destroy", "shred-me"]).contains("destroyed"));
    // Through a restart and with the root key in hand: gone.
    server.stop();
    server.spawn();
    let o = server.cli(&["key", "decrypt", "shred-me", ct.trim()]);
    assert_eq!(code(&o), 4);
    assert!(stderr(&o).contains("destroyed"), "{}", stderr(&o));
    let recreate = server.cli(&["key", "create", "shred-me"]);
    assert!(
        stderr(&recreate).contains("already exists"),
        "{}",
        stderr(&recreate)
    );
}

#[test]
fn scoped_token_from_the_environment_and_exit_codes() {
    let server = Server::start(BIN, &[]);
    let token = stdout(&server.cli(&[
        "token", "create", "--name", "reader", "--op", "key-read", "--key", "*",
    ]));
    let out = Command::new(BIN)
        .args(["key", "list"])
        .env("WEBQX_ADDR", &server.addr)
        .env("WEBQX_TOKEN", token.trim())
        .env("WEBQX_CACERT", server.ca())
        .env("WEBQX_DATA_DIR", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("fhir-phi"));
    let denied = Command::new(BIN)
        .args(["key", "encrypt", "fhir-phi", "x"])
        .env("WEBQX_ADDR", &server.addr)
        .env("WEBQX_TOKEN", token.trim())
        .env("WEBQX_CACERT", server.ca())
        .output()
        .unwrap();
    assert_eq!(code(&denied), 4);
    assert!(
        stderr(&denied).contains("may not encrypt"),
        "{}",
        stderr(&denied)
    );

    let unreachable = Command::new(BIN)
        .args(["--addr", "https://127.0.0.1:1", "--ca-cert"])
        .arg(server.ca())
        .args(["status"])
        .output()
        .unwrap();
    assert_eq!(code(&unreachable), 3, "{}", stderr(&unreachable));
    assert!(stderr(&unreachable).contains("cannot reach the server"));
    let usage = Command::new(BIN).args(["key", "create"]).output().unwrap();
    assert_eq!(code(&usage), 2);
    let http = Command::new(BIN)
        .args(["--addr", "http://127.0.0.1:8443", "status"])
        .output()
        .unwrap();
    assert_eq!(code(&http), 2, "{}", stderr(&http));
}

#[test]
fn production_init_with_shamir_shares_starts_sealed_and_unseals() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("prod");
    let init = Command::new(BIN)
        .args([
            "--json",
            "init",
            "--shares",
            "5",
            "--threshold",
            "3",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(code(&init), 0, "{}", stderr(&init));
    let v: serde_json::Value = serde_json::from_slice(&init.stdout).unwrap();
    let shares: Vec<String> = v["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(shares.len(), 5);
    assert!(
        !data.join("unseal.key").exists(),
        "no key file in production"
    );
    let again = Command::new(BIN)
        .args(["init", "--shares", "3", "--threshold", "2", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert_ne!(code(&again), 0);
    assert!(stderr(&again).contains("already initialized"));

    let mut server = Server::over(BIN, &data, &[]);
    server.spawn();
    let status = server.cli(&["status"]);
    assert_eq!(code(&status), 5, "sealed is exit 5: {}", stdout(&status));
    assert!(stdout(&status).contains("0 of 3"));
    let sealed = server.cli(&["key", "encrypt", "fhir-phi", "x"]);
    assert_eq!(code(&sealed), 5);
    assert!(stderr(&sealed).contains("sealed"), "{}", stderr(&sealed));

    let step = server.cli_with(&["unseal"], Some(format!("{}\n", shares[3]).as_bytes()));
    assert!(
        stdout(&step).contains("1 of 3"),
        "{}{}",
        stdout(&step),
        stderr(&step)
    );
    let typo = server.cli(&["unseal", &shares[0].replace('a', "b").replace('1', "2")]);
    assert_eq!(code(&typo), 4, "{}", stderr(&typo));
    server.cli(&["unseal", &shares[0]]);
    let done = server.cli(&["unseal", &shares[2]]);
    assert!(
        stdout(&done).contains("Unsealed"),
        "{}{}",
        stdout(&done),
        stderr(&done)
    );
    assert_eq!(code(&server.cli(&["key", "encrypt", "fhir-phi", "x"])), 0);

    // A restart comes back sealed: nothing of the unseal key is kept.
    server.stop();
    server.spawn();
    assert_eq!(code(&server.cli(&["key", "encrypt", "fhir-phi", "x"])), 5);
}

#[test]
fn passphrase_init_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("pp");
    let phrase = dir.path().join("phrase");
    std::fs::write(&phrase, "violet ledger tundra harmonica\n").unwrap();
    let init = Command::new(BIN)
        .args(["init", "--passphrase-file"])
        .arg(&phrase)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(code(&init), 0, "{}", stderr(&init));
    let mut server = Server::over(BIN, &data, &[]);
    server.spawn();
    let wrong = server.cli_with(&["unseal"], Some(b"violet ledger tundra accordion\n"));
    assert_eq!(code(&wrong), 4, "{}", stderr(&wrong));
    let right = server.cli(&["unseal", "--from-file", phrase.to_str().unwrap()]);
    assert!(stdout(&right).contains("Unsealed"), "{}", stderr(&right));
}

#[test]
fn config_check_points_at_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("webqx-sec.toml");
    std::fs::write(
        &file,
        "[server]\nlisten = \"127.0.0.1:8443\"\n\n[kms]\nmin_deletion_wait = \"a while\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["config", "check"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out).contains(&format!("{}:5", file.display())),
        "{}",
        stdout(&out)
    );
    std::fs::write(&file, "[server]\nlisten = \"127.0.0.1:8443\"\n").unwrap();
    assert_eq!(
        code(
            &Command::new(BIN)
                .args(["config", "check"])
                .arg(&file)
                .output()
                .unwrap()
        ),
        0
    );
    let bash = Command::new(BIN)
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(stdout(&bash).contains("webqx-sec"));
    let man = Command::new(BIN)
        .args(["man", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(code(&man), 0);
    assert!(dir.path().join("webqx-sec.1").exists());
}

fn tamper(data: &std::path::Path, sql: &[&str]) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store =
            webqx_store::Store::open(&webqx_store::StoreConfig::sqlite(&data.join("store.db")))
                .await
                .unwrap();
        for statement in sql {
            webqx_store::query(sqlx_static(statement))
                .execute(store.pool())
                .await
                .unwrap();
        }
        store.close().await;
    });
}

/// The first audit record whose body matches the SQL LIKE `pattern`.
fn first_seq(data: &std::path::Path, pattern: &str) -> i64 {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store =
            webqx_store::Store::open(&webqx_store::StoreConfig::sqlite(&data.join("store.db")))
                .await
                .unwrap();
        let seq: i64 =
            webqx_store::query_scalar("SELECT MIN(seq) FROM audit_log WHERE body LIKE $1")
                .bind(pattern)
                .fetch_one(store.pool())
                .await
                .unwrap();
        store.close().await;
        seq
    })
}

fn sqlx_static(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

#[test]
fn audit_verify_names_the_first_broken_record() {
    let mut server = Server::start(BIN, &[]);
    for i in 0..5 {
        server.cli(&["key", "encrypt", "fhir-phi", &format!("record {i}")]);
    }
    server.stop();
    let verify = |label: &str| {
        let o = Command::new(BIN)
            .args(["audit", "verify", "--data-dir"])
            .arg(&server.data)
            .output()
            .unwrap();
        (code(&o), format!("{label}: {}{}", stdout(&o), stderr(&o)))
    };
    let (c, out) = verify("intact");
    assert_eq!(c, 0, "{out}");
    assert!(out.contains("intact"));

    let backup = std::fs::read(server.data.join("store.db")).unwrap();
    // Where the encryptions start depends on how many records start-up wrote.
    let e = first_seq(&server.data, "%key:fhir-phi%");
    let edit = format!(
        "UPDATE audit_log SET body = replace(body, 'key:fhir-phi', 'key:other') WHERE seq = {e}"
    );
    let delete = format!("DELETE FROM audit_log WHERE seq = {}", e - 2);
    let (a, b) = (e + 1, e + 2);
    let swap = [
        format!("UPDATE audit_log SET seq = -1 WHERE seq = {a}"),
        format!("UPDATE audit_log SET seq = {a} WHERE seq = {b}"),
        format!("UPDATE audit_log SET seq = {b} WHERE seq = -1"),
    ];
    let cases: [(&str, Vec<&str>, String); 3] = [
        ("edited", vec![edit.as_str()], format!("record {e}")),
        (
            "deleted",
            vec![delete.as_str()],
            format!("record {}", e - 2),
        ),
        (
            "reordered",
            swap.iter().map(String::as_str).collect(),
            format!("record {a}"),
        ),
    ];
    for (label, sql, expect) in cases {
        std::fs::write(server.data.join("store.db"), &backup).unwrap();
        tamper(&server.data, &sql);
        let (c, out) = verify(label);
        assert_eq!(c, 1, "{out}");
        assert!(out.contains(&format!("BROKEN at {expect}")), "{out}");
    }
}

#[test]
fn a_reader_that_goes_away_ends_the_program_quietly() {
    // `webqx-sec config check | head -1`: the pipe closes before the output is written.
    // The reading end is closed before the program starts (closing it after the spawn
    // raced a fast program, which then wrote into the pipe's buffer and exited 0).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("webqx-sec.toml");
    std::fs::write(&file, "").unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(BIN)
        .args(["config", "check"])
        .arg(&file)
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    assert_eq!(code(&out), 141, "{}", stderr(&out));
}
