//! Backups end to end through the real binary: `backup create` from the running server,
//! destroy the data folder (or move to a fresh PostgreSQL schema), `backup restore`,
//! start the server on the result and find the same keys, tokens and a verifiable audit
//! trail; refusals of tampered files and wrong credentials; scheduled backups with
//! retention and their failures in health and metrics. SQLite always; PostgreSQL too
//! when `WEBQX_TEST_POSTGRES` is set (CI sets it).

use base64::Engine as _;
use serde_json::json;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use webqx_testkit::server::{Server, postgres_env, stderr, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_webqx-sec");

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Runs the CLI on `data` with `env`, nothing else inherited from a server.
fn cli(data: &Path, env: &[(String, String)], args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env_remove("WEBQX_TOKEN")
        .env_remove("WEBQX_ADDR")
        .env_remove("WEBQX_CACERT")
        .output()
        .expect("cli runs")
}

fn ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what}: exit {:?}\n{}\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
}

fn stores() -> Vec<(Vec<(String, String)>, &'static str)> {
    let mut out = vec![(vec![], "sqlite")];
    if let Some(env) = postgres_env() {
        out.push((env, "postgres"));
    }
    out
}

/// The same PostgreSQL URL with another fresh schema (the "new machine").
fn fresh_schema(env: &[(String, String)]) -> Vec<(String, String)> {
    env.iter()
        .map(|(k, v)| {
            if k == "WEBQX_STORAGE_SCHEMA" {
                (k.clone(), format!("{v}_restored"))
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_destroy_restore_gives_the_same_keys_tokens_and_trail() {
    for (env, label) in stores() {
        let mut server = Server::start(BIN, &env);
        let h = server.http();
        let r = h
            .post("/v1/keys", json!({"name": "phi", "type": "aes256-gcm"}))
            .await;
        assert_eq!(r.status, 201, "{label}: {}", r.text);
        let r = h
            .post(
                "/v1/keys/phi/encrypt",
                json!({"plaintext": b64("Jane Q. Doe")}),
            )
            .await;
        let ciphertext = r.json["ciphertext"].as_str().unwrap().to_owned();
        let r = h
            .post(
                "/v1/tokens",
                json!({"name": "ehr", "operations": ["encrypt", "decrypt"], "keys": ["phi"]}),
            )
            .await;
        assert!(r.status == 200 || r.status == 201, "{label}: {}", r.text);
        let ehr_token = r.json["token"].as_str().unwrap().to_owned();

        let (records_before, head) = records(&server, None).await;
        assert!(records_before.len() > 3, "{label}");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("backup.wqxb");
        let file_s = file.to_str().unwrap();
        ok(
            &server.cli(&["backup", "create", "-o", file_s]),
            &format!("{label}: backup create"),
        );
        let key_file = dir.path().join("unseal.key");
        std::fs::copy(server.data.join("unseal.key"), &key_file).unwrap();
        let key_s = key_file.to_str().unwrap();
        let verified = cli(
            dir.path(),
            &[],
            &["backup", "verify", file_s, "--key-file", key_s],
        );
        ok(&verified, &format!("{label}: backup verify"));
        assert!(
            stdout(&verified).contains("audit_log"),
            "{}",
            stdout(&verified)
        );

        // The machine is gone: stop the server and destroy its data folder.
        server.stop();
        std::fs::remove_dir_all(&server.data).unwrap();

        let new_env = if env.is_empty() {
            env.clone()
        } else {
            fresh_schema(&env)
        };
        let restored = dir.path().join("restored");
        let restore = cli(
            &restored,
            &new_env,
            &["backup", "restore", file_s, "--key-file", key_s],
        );
        ok(&restore, &format!("{label}: backup restore"));
        // A key-file seal is for local use: the operator brings the key file back.
        std::fs::copy(&key_file, restored.join("unseal.key")).unwrap();

        let mut again = Server::over(BIN, &restored, &new_env);
        again.spawn();
        let h = again.http();
        let r = h
            .post("/v1/keys/phi/decrypt", json!({"ciphertext": ciphertext}))
            .await;
        assert_eq!(
            r.status, 200,
            "{label}: old ciphertext decrypts: {}",
            r.text
        );
        assert_eq!(r.json["plaintext"], b64("Jane Q. Doe"));
        let ehr = h.with_token(Some(&ehr_token));
        let r = ehr
            .post("/v1/keys/phi/encrypt", json!({"plaintext": b64("x")}))
            .await;
        assert_eq!(
            r.status, 200,
            "{label}: the old token still works: {}",
            r.text
        );
        // Every record up to the backup is there, byte for byte.
        let (records_after, _) = records(&again, Some(head)).await;
        assert_eq!(records_after, records_before, "{label}");
        ok(
            &cli(&restored, &new_env, &["audit", "verify"]),
            &format!("{label}: audit verify after restore"),
        );
        again.stop();
    }
}

/// The trail as JSON lines (up to `to`), and the head sequence number.
async fn records(server: &Server, to: Option<i64>) -> (Vec<String>, i64) {
    let path = match to {
        Some(to) => format!("/v1/audit/records?limit=10000&to={to}"),
        None => "/v1/audit/records?limit=10000".into(),
    };
    let r = server.http().get(&path).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let head = r.headers["x-webqx-head-seq"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let lines = r.text.lines().map(str::to_owned).collect();
    (lines, head)
}

#[tokio::test(flavor = "multi_thread")]
async fn tampered_backups_and_wrong_credentials_fail_with_exit_1() {
    let server = Server::start(BIN, &[]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.wqxb");
    ok(
        &server.cli(&["backup", "create", "-o", file.to_str().unwrap()]),
        "create",
    );
    let key = server.data.join("unseal.key");
    let key_s = key.to_str().unwrap();
    let good = std::fs::read(&file).unwrap();
    let mut flipped = good.clone();
    let at = flipped.len() - 40;
    flipped[at] ^= 0x40;
    for (name, bytes) in [
        ("flipped", flipped),
        ("truncated", good[..good.len() / 2].to_vec()),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let o = cli(
            dir.path(),
            &[],
            &["backup", "verify", p.to_str().unwrap(), "--key-file", key_s],
        );
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("use another copy"),
            "{name}: {}",
            stderr(&o)
        );
    }
    let wrong = dir.path().join("wrong.key");
    std::fs::write(&wrong, "00".repeat(32)).unwrap();
    let o = cli(
        dir.path(),
        &[],
        &[
            "backup",
            "verify",
            file.to_str().unwrap(),
            "--key-file",
            wrong.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("do not open"), "{}", stderr(&o));
    let o = cli(
        dir.path(),
        &[],
        &["backup", "verify", file.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--key-file"), "{}", stderr(&o));
    // A non-empty folder is refused without --force, and left alone.
    let o = cli(
        &server.data,
        &[],
        &[
            "backup",
            "restore",
            file.to_str().unwrap(),
            "--key-file",
            key_s,
        ],
    );
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
}

async fn wait_for(server: &Server, what: &str, done: impl Fn(&serde_json::Value) -> bool) {
    let h = server.http();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = h.get("/v1/sys/health").await;
        if done(&r.json["backup"]) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {}", r.text);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduled_backups_keep_the_newest_and_show_in_health_and_metrics() {
    let folder = tempfile::tempdir().unwrap();
    let env = vec![
        (
            "WEBQX_BACKUP_FOLDER".to_string(),
            folder.path().display().to_string(),
        ),
        ("WEBQX_BACKUP_EVERY".into(), "1s".into()),
        ("WEBQX_BACKUP_KEEP".into(), "2".into()),
    ];
    let server = Server::start(BIN, &env);
    let count = |n: u64| {
        move |b: &serde_json::Value| b["last_success"].is_string() && b["failures"] == 0 && n > 0
    };
    wait_for(&server, "first backup", count(1)).await;
    // Let a few more run, then retention must have left exactly two.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let files = webqx_backup::retention::list(folder.path()).unwrap();
        let log = server.log();
        if log.matches("scheduled backup written").count() >= 4 {
            assert_eq!(files.len(), 2, "kept the newest two: {files:?}");
            break;
        }
        assert!(Instant::now() < deadline, "backups did not run: {log}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let m = server.http().get("/metrics").await;
    assert!(
        m.text
            .contains("webqx_backup_last_success_timestamp_seconds"),
        "{}",
        m.text
    );
    assert!(m.text.contains("webqx_backup_bytes"), "{}", m.text);
    let list = server.cli(&["--json", "backup", "list"]);
    ok(&list, "backup list");
    let listed: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(listed["backups"].as_array().unwrap().len(), 2, "{listed}");
    // A scheduled backup verifies like any other.
    let newest = webqx_backup::retention::list(folder.path())
        .unwrap()
        .pop()
        .unwrap();
    let key = server.data.join("unseal.key");
    ok(
        &server.cli(&[
            "backup",
            "verify",
            newest.path.to_str().unwrap(),
            "--key-file",
            key.to_str().unwrap(),
        ]),
        "verify a scheduled backup",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_scheduled_backup_shows_in_health_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-folder");
    let env = vec![
        (
            "WEBQX_BACKUP_FOLDER".to_string(),
            missing.display().to_string(),
        ),
        ("WEBQX_BACKUP_EVERY".into(), "1s".into()),
    ];
    let server = Server::start(BIN, &env);
    wait_for(&server, "a failure", |b| {
        b["failures"].as_u64().unwrap_or(0) >= 1 && b["last_error"].is_string()
    })
    .await;
    let r = server.http().get("/v1/sys/health").await;
    assert!(
        r.json["backup"]["last_error"]
            .as_str()
            .unwrap()
            .contains("no-such-folder"),
        "{}",
        r.text
    );
    let m = server.http().get("/metrics").await;
    let failures = m
        .text
        .lines()
        .find(|l| l.starts_with("webqx_backup_failures_total"))
        .unwrap_or_else(|| panic!("{}", m.text));
    assert!(!failures.ends_with(" 0"), "{failures}");
    // Listing a missing folder is not a server error: an empty list, the status and
    // what to do.
    let r = server.http().get("/v1/sys/backups").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["backups"], json!([]), "{}", r.text);
    assert!(r.json["status"]["last_error"].is_string(), "{}", r.text);
    assert!(
        r.json["advice"]
            .as_str()
            .unwrap_or("")
            .contains("create it"),
        "{}",
        r.text
    );
    let o = server.cli(&["backup", "list"]);
    ok(&o, "backup list on a missing folder");
    assert!(stdout(&o).contains("create it"), "{}", stdout(&o));
}

fn init(data: &Path, args: &[&str]) -> Output {
    let o = Command::new(BIN)
        .arg("--json")
        .arg("init")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap();
    ok(&o, "init");
    o
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shamir_sealed_backup_restores_on_an_empty_machine_with_shares_alone() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = init(&data, &["--shares", "3", "--threshold", "2"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let shares: Vec<String> = v["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    let mut server = Server::over(BIN, &data, &[]);
    server.spawn();
    ok(&server.cli(&["unseal", &shares[0]]), "unseal 1");
    ok(&server.cli(&["unseal", &shares[2]]), "unseal 2");
    let file = dir.path().join("b.wqxb");
    let file_s = file.to_str().unwrap();
    ok(&server.cli(&["backup", "create", "-o", file_s]), "create");
    server.stop();

    // The new machine has the backup and two share holders; nothing else.
    let elsewhere = tempfile::tempdir().unwrap();
    let one = elsewhere.path().join("one-share.txt");
    std::fs::write(&one, format!("{}\n", shares[1])).unwrap();
    let o = cli(
        elsewhere.path(),
        &[],
        &[
            "backup",
            "verify",
            file_s,
            "--shares-file",
            one.to_str().unwrap(),
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "one share is not enough: {}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("needs 2 of the 3 Shamir shares"),
        "the refusal names the threshold: {}",
        stderr(&o)
    );
    let two = elsewhere.path().join("two-shares.txt");
    std::fs::write(&two, format!("{}\n\n{}\n", shares[1], shares[2])).unwrap();
    let two_s = two.to_str().unwrap();
    ok(
        &cli(
            elsewhere.path(),
            &[],
            &["backup", "verify", file_s, "--shares-file", two_s],
        ),
        "verify with two shares",
    );
    let restored = elsewhere.path().join("data");
    ok(
        &cli(
            &restored,
            &[],
            &["backup", "restore", file_s, "--shares-file", two_s],
        ),
        "restore with two shares",
    );
    let mut again = Server::over(BIN, &restored, &[]);
    again.spawn();
    ok(&again.cli(&["unseal", &shares[1]]), "unseal restored 1");
    ok(&again.cli(&["unseal", &shares[0]]), "unseal restored 2");
    let r = again.http().get("/v1/sys/ready").await;
    assert_eq!(r.status, 200, "{}", r.text);
    ok(&cli(&restored, &[], &["audit", "verify"]), "audit verify");
    again.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_passphrase_sealed_backup_opens_with_the_passphrase_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let phrase = dir.path().join("phrase");
    std::fs::write(&phrase, "violet ledger tundra harmonica\n").unwrap();
    init(&data, &["--passphrase-file", phrase.to_str().unwrap()]);
    let mut server = Server::over(BIN, &data, &[]);
    server.spawn();
    ok(
        &server.cli(&["unseal", "--from-file", phrase.to_str().unwrap()]),
        "unseal",
    );
    let file = dir.path().join("b.wqxb");
    let file_s = file.to_str().unwrap();
    ok(&server.cli(&["backup", "create", "-o", file_s]), "create");
    server.stop();
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "violet ledger tundra accordion\n").unwrap();
    let o = cli(
        dir.path(),
        &[],
        &[
            "backup",
            "verify",
            file_s,
            "--passphrase-file",
            wrong.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("do not open"), "{}", stderr(&o));
    ok(
        &cli(
            dir.path(),
            &[],
            &[
                "backup",
                "verify",
                file_s,
                "--passphrase-file",
                phrase.to_str().unwrap(),
            ],
        ),
        "verify with the passphrase",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_on_one_postgresql_take_each_scheduled_backup_once() {
    let Some(pg) = postgres_env() else {
        eprintln!("WEBQX_TEST_POSTGRES unset: the two-node lease test needs PostgreSQL");
        return;
    };
    let folder = tempfile::tempdir().unwrap();
    let mut env = pg.clone();
    env.push((
        "WEBQX_BACKUP_FOLDER".into(),
        folder.path().display().to_string(),
    ));
    env.push(("WEBQX_BACKUP_EVERY".into(), "1h".into()));
    let first = Server::start(BIN, &env);
    wait_for(&first, "first node's backup", |b| {
        b["last_success"].is_string()
    })
    .await;
    // A second node on the same database (its own data folder, same root key).
    let second = first.second_node();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let files = webqx_backup::retention::list(folder.path()).unwrap();
    assert_eq!(
        files.len(),
        1,
        "one backup per period across nodes: {files:?}"
    );
    let r = second.http().get("/v1/sys/health").await;
    assert!(
        r.json["backup"]["last_success"].is_string(),
        "every node shows it: {}",
        r.text
    );
}

/// The files in `dir` whose name ends in `.partial` (temp files left behind).
fn partials(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial"))
        .collect()
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn backup_create_refuses_planted_links_existing_files_folders_and_devices() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let mut server = Server::start(BIN, &[]);
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name);

    // A link planted at the old predictable temp name is not followed.
    std::fs::write(at("victim"), "victim").unwrap();
    std::os::unix::fs::symlink(at("victim"), at(".planted.wqxb.partial")).unwrap();
    let planted = at("planted.wqxb");
    ok(
        &server.cli(&["backup", "create", "-o", planted.to_str().unwrap()]),
        "create beside a planted link",
    );
    assert_eq!(std::fs::read(at("victim")).unwrap(), b"victim");
    let meta = std::fs::symlink_metadata(&planted).unwrap();
    assert!(meta.is_file() && meta.len() > 100);
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);

    // An existing file is kept unless --force.
    let existing = at("existing.wqxb");
    std::fs::write(&existing, "old").unwrap();
    let o = server.cli(&["backup", "create", "-o", existing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&existing).unwrap(), b"old");
    ok(
        &server.cli(&[
            "backup",
            "create",
            "--force",
            "-o",
            existing.to_str().unwrap(),
        ]),
        "create --force over an existing file",
    );
    assert!(std::fs::read(&existing).unwrap().len() > 100);

    // A folder is refused before anything is downloaded, and nothing is left behind.
    std::fs::create_dir(at("bdir")).unwrap();
    let o = server.cli(&["backup", "create", "-o", at("bdir").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("is a folder"), "{}", stderr(&o));
    assert_eq!(std::fs::read_dir(at("bdir")).unwrap().count(), 0);

    // A link (to a regular file) and a device are refused, even with --force.
    std::os::unix::fs::symlink(at("victim"), at("link.wqxb")).unwrap();
    let o = server.cli(&[
        "backup",
        "create",
        "--force",
        "-o",
        at("link.wqxb").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));
    assert_eq!(std::fs::read(at("victim")).unwrap(), b"victim");
    let mknod = Command::new("mknod")
        .arg(at("null"))
        .args(["c", "1", "3"])
        .output();
    if mknod.as_ref().is_ok_and(|o| o.status.success()) {
        let o = server.cli(&[
            "backup",
            "create",
            "--force",
            "-o",
            at("null").to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));
        let kind = std::fs::symlink_metadata(at("null")).unwrap().file_type();
        assert!(kind.is_char_device(), "the device node was replaced");
    } else {
        eprintln!("SKIPPED the device part: mknod needs root ({mknod:?})");
    }

    // A download that fails (the server is gone) leaves no temp file behind.
    server.stop();
    let o = server.cli(&[
        "backup",
        "create",
        "-o",
        at("refused.wqxb").to_str().unwrap(),
    ]);
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!at("refused.wqxb").exists());
    assert_eq!(
        partials(dir.path()),
        vec![".planted.wqxb.partial".to_string()]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_refuses_a_file_as_data_dir_and_restores_into_the_current_folder() {
    let server = Server::start(BIN, &[]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.wqxb");
    let file_s = file.to_str().unwrap();
    ok(&server.cli(&["backup", "create", "-o", file_s]), "create");
    let key = dir.path().join("unseal.key");
    std::fs::copy(server.data.join("unseal.key"), &key).unwrap();
    let key_s = key.to_str().unwrap();

    // A regular file named as the data folder: refused before any credential is read.
    let plain = dir.path().join("plain-file");
    std::fs::write(&plain, "keep me").unwrap();
    let o = cli(&plain, &[], &["backup", "restore", file_s, "--force"]);
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("is not a folder"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&plain).unwrap(), b"keep me");

    // `--data-dir .` stages beside the real folder, not inside it.
    let here = dir.path().join("here");
    std::fs::create_dir(&here).unwrap();
    let o = Command::new(BIN)
        .current_dir(&here)
        .args([
            "--data-dir",
            ".",
            "backup",
            "restore",
            file_s,
            "--key-file",
            key_s,
        ])
        .env_remove("WEBQX_TOKEN")
        .env_remove("WEBQX_ADDR")
        .output()
        .unwrap();
    ok(&o, "restore into .");
    assert!(here.join("store.db").is_file(), "{}", stdout(&o));
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".restoring-"))
        .collect();
    assert!(left.is_empty(), "staging left behind: {left:?}");

    // A failing restore (a truncated backup) leaves no staging folder with the
    // service's secrets.
    let cut = dir.path().join("cut.wqxb");
    let good = std::fs::read(&file).unwrap();
    std::fs::write(&cut, &good[..good.len() - 100]).unwrap();
    let target = dir.path().join("target");
    let o = cli(
        &target,
        &[],
        &[
            "backup",
            "restore",
            cut.to_str().unwrap(),
            "--key-file",
            key_s,
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!target.exists());
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".restoring-"))
        .collect();
    assert!(left.is_empty(), "staging left behind: {left:?}");
}
