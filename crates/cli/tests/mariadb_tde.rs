//! MariaDB data-at-rest encryption with its keys from our server: the REAL MariaDB
//! (Debian `mariadb-server` 10.11 and `mariadb-plugin-hashicorp-key-management`), a
//! private `mariadbd` (own datadir, socket and port on 127.0.0.1) whose
//! `hashicorp_key_management` plugin reads keys from our real binary over HTTPS,
//! trusting our CA.
//!
//! Proves: a wrong token keeps mariadbd from starting (and is audited); encrypted
//! tablespace files, redo log and binary log do not hold the rows' text while an unencrypted control table
//! does; a rotation in our service reaches MariaDB, which re-encrypts and still reads
//! the rows; after a restart the rows are read again; while our service is sealed
//! MariaDB keeps working from its cache (the request is held, not answered 5xx).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use webqx_testkit::free_port;
use webqx_testkit::server::{Server, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_webqx-sec");
const MARIADBD: &str = "/usr/sbin/mariadbd";
const INSTALL_DB: &str = "/usr/bin/mariadb-install-db";
const CLIENT: &str = "/usr/bin/mariadb";
const PLUGIN: &str = "/usr/lib/mysql/plugin/hashicorp_key_management.so";

const SECRET_ROWS: [&str; 2] = ["PATIENT-SECRET-ALPHA-7731", "PATIENT-SECRET-BETA-5524"];
const CONTROL_ROW: &str = "PUBLIC-CONTROL-GAMMA-1198";

/// True when every MariaDB part is installed; under CI a missing one fails the test.
fn mariadb_present() -> bool {
    let missing: Vec<&str> = [MARIADBD, INSTALL_DB, CLIENT, PLUGIN]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{missing:?} missing; .ci/run installs mariadb-server and \
         mariadb-plugin-hashicorp-key-management"
    );
    eprintln!(
        "SKIPPED: MariaDB TDE test needs {missing:?} (apt-get install mariadb-server \
         mariadb-plugin-hashicorp-key-management)"
    );
    false
}

fn user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A private mariadbd, stopped when dropped whatever happens.
struct MariaDb {
    dir: PathBuf,
    child: Option<Child>,
}

impl MariaDb {
    /// Writes `my.cnf` for our server at `addr` with `token`, and makes the datadir.
    fn install(dir: &Path, tde_lines: &str) -> MariaDb {
        std::fs::create_dir_all(dir).expect("dir");
        let db = MariaDb {
            dir: dir.into(),
            child: None,
        };
        db.write_config(tde_lines, free_port());
        let out = Command::new(INSTALL_DB)
            .arg(format!("--defaults-file={}", db.cnf().display()))
            .arg(format!("--user={}", user()))
            .output()
            .expect("mariadb-install-db runs");
        assert!(
            out.status.success(),
            "mariadb-install-db failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            db.errors()
        );
        db
    }

    fn cnf(&self) -> PathBuf {
        self.dir.join("my.cnf")
    }

    /// A private server's own lines, then the lines `webqx-sec tde mariadb` printed
    /// (those the operator guide documents), then shorter cache and timeout values so
    /// that the test sees rotations and outages quickly (later lines win).
    fn write_config(&self, tde_lines: &str, port: u16) {
        let d = self.dir.display();
        let cnf = format!(
            "[mariadbd]
datadir={d}/data
socket={d}/mysqld.sock
port={port}
bind-address=127.0.0.1
pid-file={d}/mysqld.pid
log-error={d}/error.log
skip-grant-tables
innodb_buffer_pool_size=16M
log-bin=binlog
{tde_lines}
hashicorp-key-management-timeout=2
hashicorp-key-management-max-retries=1
hashicorp-key-management-cache-timeout=1000
hashicorp-key-management-cache-version-timeout=1000
innodb_encryption_threads=2
"
        );
        std::fs::write(self.cnf(), cnf).expect("my.cnf");
    }

    fn spawn(&mut self) {
        let child = Command::new(MARIADBD)
            .arg(format!("--defaults-file={}", self.cnf().display()))
            .arg(format!("--user={}", user()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd starts");
        self.child = Some(child);
    }

    /// Starts and waits until it answers.
    fn start(&mut self) {
        self.spawn();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.answers() {
            assert!(self.alive(), "mariadbd exited at start: {}", self.errors());
            assert!(
                Instant::now() < deadline,
                "mariadbd not ready: {}",
                self.errors()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn answers(&self) -> bool {
        self.client("SELECT 1").is_ok()
    }

    fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    fn client(&self, sql: &str) -> Result<String, String> {
        let out = Command::new(CLIENT)
            .arg(format!(
                "--socket={}",
                self.dir.join("mysqld.sock").display()
            ))
            .args(["-N", "-B", "-e", sql])
            .output()
            .expect("mariadb client runs");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    fn sql(&self, sql: &str) -> String {
        self.client(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}\n{}", self.errors()))
    }

    /// SIGTERM, and SIGKILL if it has not stopped within 60 s.
    fn stop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = c.kill();
        let _ = c.wait();
    }

    fn errors(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    fn file(&self, relative: &str) -> Vec<u8> {
        std::fs::read(self.dir.join("data").join(relative)).expect("datadir file")
    }

    /// `(MIN_KEY_VERSION, CURRENT_KEY_VERSION)` of a tablespace.
    fn key_versions(&self, name: &str) -> (u32, u32) {
        let row = self.sql(&format!(
            "SELECT MIN_KEY_VERSION, CURRENT_KEY_VERSION FROM \
             information_schema.INNODB_TABLESPACES_ENCRYPTION WHERE NAME = '{name}'"
        ));
        let mut it = row.split_whitespace().map(|v| v.parse().unwrap_or(0));
        (it.next().unwrap_or(0), it.next().unwrap_or(0))
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        self.stop();
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn cli_ok(server: &Server, args: &[&str]) -> String {
    let out = server.cli(args);
    assert!(out.status.success(), "{args:?}: {}", stdout(&out));
    stdout(&out)
}

/// Audit records (JSON lines) of `action`.
async fn audit(server: &Server, action: &str) -> Vec<Value> {
    let r = server.http().get("/v1/audit/records?limit=10000").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["action"] == action)
        .collect()
}

fn rows(db: &MariaDb) -> String {
    db.sql("SELECT note FROM t.enc ORDER BY id")
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_encrypts_at_rest_with_keys_from_our_server() {
    if !mariadb_present() {
        return;
    }
    let env = vec![
        (
            "WEBQX_TDE_MOUNTS".to_string(),
            r#"[{path = "mariadb"}]"#.to_string(),
        ),
        ("WEBQX_TDE_UNAVAILABLE_HOLD".to_string(), "6s".to_string()),
    ];
    let server = Server::start(BIN, &env);
    let ca = server.ca().display().to_string();
    let setup = cli_ok(
        &server,
        &[
            "--json",
            "tde",
            "mariadb",
            "--name",
            "test",
            "--ca-path",
            &ca,
        ],
    );
    let setup: Value = serde_json::from_str(&setup).expect("tde mariadb JSON");
    assert_eq!(setup["rings"][0]["name"], "mariadb-1");
    assert_eq!(setup["rings"][1]["name"], "mariadb-2");
    assert!(
        setup["rings"]
            .as_array()
            .is_some_and(|r| r.iter().all(|r| r["state"] == "created"))
    );
    let token = setup["token"]["token"].as_str().expect("token").to_owned();
    let lines = setup["mycnf"].as_str().expect("my.cnf lines");
    assert!(
        lines.contains(&format!("vault-url = {}/v1/mariadb", server.addr)),
        "{lines}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let mut db = MariaDb::install(&dir.path().join("my"), lines);

    wrong_token_is_refused(&server, &mut db, &token).await;

    db.start();
    db.sql(&format!(
        "CREATE DATABASE t; \
         CREATE TABLE t.enc (id INT PRIMARY KEY, note VARCHAR(100)) ENCRYPTED=YES; \
         CREATE TABLE t.plain (id INT PRIMARY KEY, note VARCHAR(100)) ENCRYPTED=NO; \
         INSERT INTO t.enc VALUES (1, '{}'), (2, '{}'); \
         INSERT INTO t.plain VALUES (1, '{CONTROL_ROW}'); \
         FLUSH TABLES t.enc, t.plain FOR EXPORT; UNLOCK TABLES",
        SECRET_ROWS[0], SECRET_ROWS[1]
    ));
    let expected = SECRET_ROWS.join("\n");
    assert_eq!(rows(&db), expected);
    let enc = db.file("t/enc.ibd");
    let plain = db.file("t/plain.ibd");
    let redo = db.file("ib_logfile0");
    let binlog = db.file("binlog.000001");
    for secret in SECRET_ROWS {
        assert!(!contains(&enc, secret), "{secret} in clear in enc.ibd");
        assert!(
            !contains(&redo, secret),
            "{secret} in clear in the redo log"
        );
        assert!(
            !contains(&binlog, secret),
            "{secret} in clear in the binary log"
        );
    }
    assert!(
        contains(&plain, CONTROL_ROW),
        "control: the unencrypted table holds its text, so the search works"
    );
    assert_eq!(db.key_versions("t/enc"), (1, 1));

    // Rotation: version 3 is latest + rotate_key_age (1) beyond the pages' version 1,
    // so InnoDB re-encrypts every page with it.
    cli_ok(&server, &["key", "rotate", "mariadb-1"]);
    cli_ok(&server, &["key", "rotate", "mariadb-1"]);
    let deadline = Instant::now() + Duration::from_secs(90);
    while db.key_versions("t/enc") != (3, 3) {
        assert!(
            Instant::now() < deadline,
            "MariaDB did not re-encrypt with version 3: {:?}\n{}",
            db.key_versions("t/enc"),
            db.errors()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(rows(&db), expected, "rows read after re-encryption");
    db.sql("FLUSH TABLES t.enc FOR EXPORT; UNLOCK TABLES");
    let enc = db.file("t/enc.ibd");
    assert!(SECRET_ROWS.iter().all(|s| !contains(&enc, s)));

    let reads = audit(&server, "tde.read").await;
    let released = |v: u64| {
        reads.iter().any(|r| {
            r["outcome"] == "success"
                && r["target"] == "key:mariadb-1"
                && r["details"]["key_version"] == v
                && r["actor"].as_str().is_some_and(|a| a.starts_with("token:"))
        })
    };
    assert!(released(1) && released(3), "releases audited: {reads:?}");

    // Restart: the redo log asks for its original version; the rows are read again.
    db.stop();
    db.start();
    assert_eq!(rows(&db), expected, "rows read after a restart");
    assert_eq!(db.key_versions("t/enc").1, 3);

    survives_a_sealed_service(&server, &mut db).await;
    db.stop();

    let key = server
        .http()
        .get_with_headers("/v1/mariadb/data/1", &[("X-Vault-Token", &token)])
        .await;
    let hex = key.json["data"]["data"]["data"]
        .as_str()
        .expect("key")
        .to_owned();
    let all = server
        .http()
        .get("/v1/audit/records?limit=10000")
        .await
        .text;
    assert!(!all.contains(&hex), "no key material in the audit trail");
    assert!(
        !server.log().contains(&hex),
        "no key material in the server log"
    );
    assert!(
        !db.errors().contains(&hex),
        "no key material in MariaDB's log"
    );
}

/// mariadbd with a wrong token does not start: the plugin's start-up check gets 403,
/// and our audit trail has the refusal.
async fn wrong_token_is_refused(server: &Server, db: &mut MariaDb, token: &str) {
    let before = audit(server, "auth.authenticate").await.len();
    let config = std::fs::read_to_string(db.cnf()).expect("my.cnf");
    let bad = token.replace('.', ".x");
    std::fs::write(db.cnf(), config.replace(token, &bad)).expect("my.cnf");
    db.spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    while db.alive() {
        assert!(!db.answers(), "mariadbd started with a wrong token");
        assert!(
            Instant::now() < deadline,
            "mariadbd neither started nor exited"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    db.stop();
    let log = db.errors();
    assert!(log.contains("403"), "the plugin reports the refusal: {log}");
    assert!(
        !log.contains(token),
        "our real token is not in MariaDB's log"
    );
    let refused = audit(server, "auth.authenticate").await;
    assert!(refused.len() > before, "the refusal is audited");
    std::fs::write(db.cnf(), config).expect("my.cnf");
}

/// While our service is sealed, key requests are held past the plugin's timeout, so
/// MariaDB keeps working from its cache (an immediate 5xx stops mariadbd: see the
/// operator guide).
async fn survives_a_sealed_service(server: &Server, db: &mut MariaDb) {
    cli_ok(server, &["seal"]);
    std::thread::sleep(Duration::from_millis(1500));
    db.sql(
        "INSERT INTO t.enc VALUES (3, 'written while sealed'); \
         CREATE TABLE t.enc2 (id INT PRIMARY KEY) ENCRYPTED=YES; \
         INSERT INTO t.enc2 VALUES (1)",
    );
    std::thread::sleep(Duration::from_secs(8));
    assert!(
        db.alive(),
        "mariadbd survives a sealed key service: {}",
        db.errors()
    );
    assert_eq!(db.sql("SELECT COUNT(*) FROM t.enc"), "3");
    cli_ok(server, &["unseal"]);
    let held = audit(server, "tde.read").await;
    assert!(
        held.iter().any(|r| r["reason"] == "sealed"),
        "requests while sealed are audited: {held:?}"
    );
}
