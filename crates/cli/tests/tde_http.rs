//! The Vault-KV-compatible mount for MariaDB data-at-rest keys, at the HTTP level
//! through the real binary: every answer the endpoint gives (tune, versions, unknown
//! id, version 0, huge version, malformed id and version, bad or missing token, token
//! without `tde-read`, disabled and destroyed rings, rings made on first request,
//! sealed service), with the audit records each leaves. Runs on SQLite, and on
//! PostgreSQL too when `WEBQX_TEST_POSTGRES` is set (CI sets it). The test with the
//! real MariaDB is `mariadb_tde.rs`.

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use webqx_testkit::server::{Http, Reply, Server, postgres_env, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_webqx-sec");

fn env(extra: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut env = vec![
        (
            "WEBQX_TDE_MOUNTS".to_string(),
            r#"[{path = "mariadb"}, {path = "auto", key_prefix = "db7-", create_keys = true}]"#
                .to_string(),
        ),
        ("WEBQX_TDE_UNAVAILABLE_HOLD".to_string(), "2s".to_string()),
        ("WEBQX_KMS_MIN_DELETION_WAIT".to_string(), "0".to_string()),
    ];
    env.extend(extra);
    env
}

fn servers() -> Vec<(Server, &'static str)> {
    let mut out = vec![(Server::start(BIN, &env(Vec::new())), "sqlite")];
    if let Some(pg) = postgres_env() {
        out.push((Server::start(BIN, &env(pg)), "postgres"));
    }
    out
}

/// A token with `ops` on `keys`, made through the CLI.
fn token(server: &Server, ops: &[&str], keys: &[&str]) -> String {
    let mut args = vec!["--json", "token", "create", "--name", "tde-test"];
    for op in ops {
        args.extend(["--op", op]);
    }
    for key in keys {
        args.extend(["--key", key]);
    }
    let out = server.cli(&args);
    assert!(out.status.success(), "{}", stdout(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).expect("token JSON");
    v["token"].as_str().expect("token").to_owned()
}

async fn vault_get(h: &Http, path: &str, token: Option<&str>) -> Reply {
    let headers: Vec<(&str, &str)> = token.map(|t| ("X-Vault-Token", t)).into_iter().collect();
    h.get_with_headers(path, &headers).await
}

/// The hex key of a 200 answer, after checking the exact shape the plugin reads.
fn key_of(r: &Reply, version: u64, label: &str) -> String {
    assert_eq!(r.status, 200, "{label}: {}", r.text);
    assert_eq!(r.headers["content-type"], "application/json", "{label}");
    let data = &r.json["data"];
    assert_eq!(
        data["metadata"]["version"],
        json!(version),
        "{label}: {}",
        r.text
    );
    assert!(
        data["metadata"]["version"].is_u64(),
        "{label}: a JSON number"
    );
    let hex = data["data"]["data"].as_str().expect("hex key").to_owned();
    assert_eq!(hex.len(), 64, "{label}: 32 bytes as hex");
    assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "{label}");
    hex
}

fn assert_vault_error(r: &Reply, status: u16, label: &str) {
    assert_eq!(r.status, status, "{label}: {}", r.text);
    assert!(
        r.json["errors"].is_array(),
        "{label}: Vault's shape: {}",
        r.text
    );
    assert!(r.json.get("data").is_none(), "{label}: no key: {}", r.text);
}

/// The audit records (JSON lines) whose action is `action`.
async fn audit(h: &Http, action: &str) -> Vec<Value> {
    let r = h.get("/v1/audit/records?limit=10000").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["action"] == action)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_answer_of_the_mariadb_key_endpoint() {
    for (server, label) in servers() {
        let admin = server.http();
        for name in ["mariadb-1", "mariadb-2"] {
            let out = server.cli(&["key", "create", name, "--exportable"]);
            assert!(out.status.success());
        }
        // Ordinary rings keep their material, even under the mount's prefix.
        for name in ["other", "mariadb-3"] {
            assert!(server.cli(&["key", "create", name]).status.success());
        }
        let tde = token(&server, &["tde-read"], &["mariadb-*"]);
        let tde = Some(tde.as_str());

        // The CLI's setup verb keeps existing rings and makes a scoped token.
        let out = server.cli(&["--json", "tde", "mariadb", "--name", "db1", "--id", "1"]);
        assert!(out.status.success(), "{label}: {}", stdout(&out));
        let setup: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
        assert_eq!(
            setup["rings"],
            json!([{"name": "mariadb-1", "state": "exists"}])
        );
        assert_eq!(
            setup["token"]["info"]["policy"]["operations"],
            json!(["tde-read"])
        );
        assert_eq!(
            setup["token"]["info"]["policy"]["keys"],
            json!(["mariadb-*"])
        );
        let out = server.cli(&["tde", "mariadb", "--name", "db3", "--id", "3"]);
        assert_eq!(out.status.code(), Some(6), "{label}: {}", stdout(&out));
        assert!(
            webqx_testkit::server::stderr(&out).contains("not created exportable"),
            "{label}"
        );
        let out = server.cli(&["tde", "mariadb", "--name", "db4", "--mount", "nope"]);
        assert_eq!(out.status.code(), Some(6), "{label}");
        assert!(
            webqx_testkit::server::stderr(&out).contains("[[tde.mounts]]"),
            "{label}: {}",
            webqx_testkit::server::stderr(&out)
        );
        let r = admin.get("/v1/keys/nope-1").await;
        assert_eq!(r.status, 404, "{label}: no ring made for a missing mount");
        let weak = token(&server, &["key-read"], &["*"]);
        let out = server.cli(&["--token", &weak, "tde", "mariadb", "--name", "db2"]);
        assert_eq!(out.status.code(), Some(4), "{label}: refused, exit 4");

        // The start-up check.
        let r = vault_get(&admin, "/v1/sys/mounts/mariadb/tune", tde).await;
        assert_eq!(r.status, 200, "{label}: {}", r.text);
        assert_eq!(r.json["options"]["version"], "2", "{label}");
        let r = vault_get(&admin, "/v1/sys/mounts/nope/tune", tde).await;
        assert_vault_error(&r, 404, label);
        let r = vault_get(&admin, "/v1/sys/mounts/mariadb/tune", Some("wqxt.x.y")).await;
        assert_vault_error(&r, 403, label);

        // Versions: latest, explicit, after a rotation the old one stays.
        let v1 = key_of(
            &vault_get(&admin, "/v1/mariadb/data/1", tde).await,
            1,
            label,
        );
        let again = vault_get(&admin, "/v1/mariadb/data/1?version=1", tde).await;
        assert_eq!(key_of(&again, 1, label), v1, "{label}: stable");
        let other = key_of(
            &vault_get(&admin, "/v1/mariadb/data/2", tde).await,
            1,
            label,
        );
        assert_ne!(v1, other, "{label}: one ring per id");
        assert!(server.cli(&["key", "rotate", "mariadb-1"]).status.success());
        let r = vault_get(&admin, "/v1/mariadb/data/1", tde).await;
        let v2 = key_of(&r, 2, label);
        assert_ne!(v1, v2, "{label}: rotation gives a new key");
        let old = vault_get(&admin, "/v1/mariadb/data/1?version=1", tde).await;
        assert_eq!(key_of(&old, 1, label), v1, "{label}: old versions stay");
        let r = vault_get(&admin, "/v1/mariadb/data/1?version=2&other=x", tde).await;
        assert_eq!(
            key_of(&r, 2, label),
            v2,
            "{label}: other parameters ignored"
        );

        // Not found: unknown id, versions that do not exist.
        let r = vault_get(&admin, "/v1/mariadb/data/3", tde).await;
        assert_vault_error(&r, 404, &format!("{label}: a ring not made exportable"));
        assert!(r.text.contains("exportable"), "{label}: {}", r.text);
        for path in [
            "/v1/mariadb/data/5",
            "/v1/mariadb/data/1?version=3",
            "/v1/mariadb/data/1?version=4294967295",
            "/v1/mariadb/data/1?version=4294967296",
            "/v1/mariadb/data/1?version=99999999999999999999999999999999",
        ] {
            let r = vault_get(&admin, path, tde).await;
            assert_vault_error(&r, 404, &format!("{label} {path}"));
            assert_eq!(r.json["errors"], json!([]), "{label} {path}");
        }

        // Malformed: version 0, non-numeric id or version, id 0, too large an id.
        for path in [
            "/v1/mariadb/data/1?version=0",
            "/v1/mariadb/data/1?version=",
            "/v1/mariadb/data/1?version=two",
            "/v1/mariadb/data/1?version=-1",
            "/v1/mariadb/data/1?version=1&version=2",
            "/v1/mariadb/data/x",
            "/v1/mariadb/data/0",
            "/v1/mariadb/data/01",
            "/v1/mariadb/data/4294967296",
            "/v1/mariadb/data/%FF",
        ] {
            let r = vault_get(&admin, path, tde).await;
            assert!(
                r.status == 400 && !r.text.contains(&v1) && !r.text.contains(&v2),
                "{label} {path}: {} {}",
                r.status,
                r.text
            );
        }

        // Tokens: bad, missing, the Bearer header instead, without the operation,
        // the operation on other keys. Each refusal is audited.
        let before = audit(&admin, "auth.authenticate").await.len();
        let r = vault_get(&admin, "/v1/mariadb/data/1", Some("wqxt.00.bad")).await;
        assert_vault_error(&r, 403, label);
        assert_eq!(r.json["errors"], json!(["permission denied"]), "{label}");
        let r = vault_get(&admin, "/v1/mariadb/data/1", None).await;
        assert_vault_error(&r, 403, label);
        let r = admin.get("/v1/mariadb/data/1").await;
        assert_vault_error(&r, 403, &format!("{label}: Bearer is not X-Vault-Token"));
        let after = audit(&admin, "auth.authenticate").await;
        assert_eq!(after.len(), before + 3, "{label}: refusals audited");
        assert!(after.iter().all(|r| r["outcome"] == "denied"), "{label}");

        let reader = token(&server, &["key-read", "export"], &["mariadb-*"]);
        let r = vault_get(&admin, "/v1/mariadb/data/1", Some(&reader)).await;
        assert_vault_error(&r, 403, &format!("{label}: token without tde-read"));
        let r = vault_get(&admin, "/v1/sys/mounts/mariadb/tune", Some(&reader)).await;
        assert_vault_error(&r, 403, &format!("{label}: tune without tde-read"));
        let narrow = token(&server, &["tde-read"], &["mariadb-2"]);
        let r = vault_get(&admin, "/v1/mariadb/data/1", Some(&narrow)).await;
        assert_vault_error(&r, 403, &format!("{label}: tde-read on another ring"));
        let r = vault_get(&admin, "/v1/mariadb/data/2", Some(&narrow)).await;
        assert_eq!(key_of(&r, 1, label), other);
        let admin_token = server.admin_token();
        let r = vault_get(&admin, "/v1/mariadb/data/1", Some(&admin_token)).await;
        assert_eq!(key_of(&r, 2, label), v2, "{label}: the admin token may");

        // A key ring of another type is not served.
        assert!(
            server
                .cli(&["key", "create", "mariadb-9", "--type", "hmac"])
                .status
                .success()
        );
        let r = vault_get(&admin, "/v1/mariadb/data/9", tde).await;
        assert_vault_error(&r, 404, &format!("{label}: hmac ring"));
        assert!(r.text.contains("aes256-gcm"), "{label}: {}", r.text);

        // Disabled, then enabled again; destroyed for good.
        assert!(
            server
                .cli(&["key", "disable", "mariadb-2"])
                .status
                .success()
        );
        let r = vault_get(&admin, "/v1/mariadb/data/2", tde).await;
        assert_vault_error(&r, 404, &format!("{label}: disabled"));
        assert!(server.cli(&["key", "enable", "mariadb-2"]).status.success());
        let r = vault_get(&admin, "/v1/mariadb/data/2", tde).await;
        assert_eq!(key_of(&r, 1, label), other, "{label}: enabled again");
        let r = admin
            .post(
                "/v1/keys/mariadb-2/schedule-deletion",
                json!({"waiting_period": "0"}),
            )
            .await;
        assert_eq!(r.status, 200, "{label}: {}", r.text);
        let r = vault_get(&admin, "/v1/mariadb/data/2", tde).await;
        assert_vault_error(&r, 404, &format!("{label}: pending deletion"));
        let r = admin.post("/v1/keys/mariadb-2/destroy", json!({})).await;
        assert_eq!(r.status, 200, "{label}: {}", r.text);
        let r = vault_get(&admin, "/v1/mariadb/data/2", tde).await;
        assert_vault_error(&r, 404, &format!("{label}: destroyed"));

        // A mount that makes its rings on first request.
        let auto = token(&server, &["tde-read"], &["db7-*"]);
        let r = vault_get(&admin, "/v1/auto/data/5", Some(&auto)).await;
        let k5 = key_of(&r, 1, label);
        let r = vault_get(&admin, "/v1/auto/data/5", Some(&auto)).await;
        assert_eq!(key_of(&r, 1, label), k5, "{label}: made once");
        let created = audit(&admin, "key.create").await;
        assert!(
            created.iter().any(|r| r["target"] == "key:db7-5"),
            "{label}: creation audited"
        );
        let r = vault_get(&admin, "/v1/auto/data/6", tde).await;
        assert_vault_error(&r, 403, &format!("{label}: no tde-read on db7-6"));
        let r = vault_get(&admin, "/v1/mariadb/data/7", tde).await;
        assert_vault_error(&r, 404, &format!("{label}: mariadb mount does not create"));

        // Releases are audited with ring and version, never the key.
        let reads = audit(&admin, "tde.read").await;
        let released: Vec<&Value> = reads.iter().filter(|r| r["outcome"] == "success").collect();
        assert!(released.len() >= 8, "{label}: {reads:?}");
        assert!(
            released
                .iter()
                .any(|r| r["target"] == "key:mariadb-1" && r["details"]["key_version"] == 2),
            "{label}: {released:?}"
        );
        assert!(
            reads
                .iter()
                .any(|r| r["target"] == "key:mariadb-1" && r["outcome"] == "denied"),
            "{label}: the policy refusal is audited: {reads:?}"
        );
        let all = admin.get("/v1/audit/records?limit=10000").await.text;
        for secret in [&v1, &v2, &other, &k5] {
            assert!(
                !all.contains(secret.as_str()),
                "{label}: key in audit trail"
            );
            assert!(
                !server.log().contains(secret.as_str()),
                "{label}: key in log"
            );
        }

        // Sealed: the request is held (tde.unavailable_hold, 2 s here) so that the
        // plugin times out and keeps its cached key, then answered 503 without a key.
        assert!(server.cli(&["seal"]).status.success());
        let start = Instant::now();
        let r = vault_get(&admin, "/v1/mariadb/data/1", tde).await;
        assert!(start.elapsed() >= Duration::from_secs(2), "{label}: held");
        assert_vault_error(&r, 503, &format!("{label}: sealed"));
        let r = vault_get(&admin, "/v1/sys/mounts/mariadb/tune", tde).await;
        assert_vault_error(&r, 503, &format!("{label}: tune while sealed"));
        let r = vault_get(&admin, "/v1/mariadb/data/1", Some("wqxt.00.bad")).await;
        assert_vault_error(&r, 403, &format!("{label}: bad token, sealed: not held"));
    }
}
