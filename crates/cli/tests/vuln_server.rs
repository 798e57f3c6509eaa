//! The server's scheduled vulnerability scans, through the real binary, on SQLite and
//! (when `WEBQX_TEST_POSTGRES` is set) PostgreSQL:
//! - an advisory database imported through `POST /v1/vuln/db/import` with one RustSec
//!   advisory, a target over a folder holding a shared Cargo.lock (copied into a temp
//!   folder under `[vuln] allowed_roots`), a run → a stored result and an
//!   `alert.raised` record with rule `vuln-new-finding`;
//! - a second advisory imported, a run → only the new advisory alerted;
//! - the lock moved to the fixed version → a `vuln.fixed` record and no alert;
//! - paths outside `allowed_roots` refused (targets and imports), links out of them
//!   refused alike whether their target exists, an invalid cron expression refused with
//!   the reason, a cron firing more often than every 10 s refused, a `vuln-read` token
//!   refused a change;
//! - results paged newest first with a cursor, a bad cursor a 400; the current findings;
//! - the scheduler running a due target by itself; `[vuln] max_targets` enforced (409).

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use webqx_testkit::server::{Server, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_webqx-sec");
const LOCK: &str = "osv/lockfiles/rustsec_cargo-audit_multi_vulns_Cargo.lock";
const BASE64: &str = "RUSTSEC-2017-0004";
const TIME: &str = "RUSTSEC-2020-0071";

/// Audit records (JSON lines) of `action`.
async fn audit_records(server: &Server, action: &str) -> Vec<Value> {
    let r = server.http().get("/v1/audit/records?limit=10000").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["action"] == action)
        .collect()
}

fn cli_json(server: &Server, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = server.cli(&all);
    assert!(
        out.status.success(),
        "{args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        stdout(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn advisories(v: &Value) -> Vec<String> {
    v["details"]["advisories"]
        .as_array()
        .unwrap_or_else(|| panic!("no advisories in {v:#}"))
        .iter()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect()
}

/// The temp folder the server may read: `locks/app/Cargo.lock` and one folder per
/// advisory.
struct Files {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Files {
    fn new(lock: &Path, rustsec: &Path) -> Files {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("locks/app")).unwrap();
        std::fs::copy(lock, root.join("locks/app/Cargo.lock")).unwrap();
        for id in [BASE64, TIME] {
            std::fs::create_dir_all(root.join(id)).unwrap();
            let name = format!("{id}.json");
            std::fs::copy(rustsec.join(&name), root.join(id).join(&name)).unwrap();
        }
        Files { _dir: dir, root }
    }

    fn path(&self, rel: &str) -> String {
        self.root.join(rel).display().to_string()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduled_vulnerability_scans_alert_on_new_and_report_fixed() {
    let Some(lock) = webqx_testkit::shared_data(LOCK) else {
        return;
    };
    let Some(rustsec) = webqx_testkit::shared_data("osv/rustsec-osv/crates") else {
        return;
    };
    flow(&lock, &rustsec, Vec::new(), "sqlite").await;
    match webqx_testkit::server::postgres_env() {
        Some(env) => flow(&lock, &rustsec, env, "postgres").await,
        None => eprintln!("PostgreSQL run skipped: WEBQX_TEST_POSTGRES is not set"),
    }
}

async fn flow(lock: &Path, rustsec: &Path, mut env: Vec<(String, String)>, label: &str) {
    eprintln!("vulnerability scans on {label}");
    let files = Files::new(lock, rustsec);
    let config = files.root.join("webqx-sec.toml");
    std::fs::write(
        &config,
        format!(
            "[vuln]\nallowed_roots = [\"{}\"]\nmax_targets = 2\n",
            files.root.display()
        ),
    )
    .unwrap();
    env.push(("WEBQX_CONFIG".into(), config.display().to_string()));
    let server = Server::start(BIN, &env);
    let http = server.http();

    let doc = http.get("/v1/openapi.json").await;
    for path in [
        "/v1/vuln/targets",
        "/v1/vuln/targets/{id}/run",
        "/v1/vuln/db/import",
        "/v1/vuln/scan",
    ] {
        assert!(
            doc.json["paths"][path].is_object(),
            "{path} not in the OpenAPI document"
        );
    }
    let status = http.get("/v1/vuln/db/status").await;
    assert_eq!(
        (status.status, &status.json["present"]),
        (200, &json!(false))
    );
    let r = http
        .post("/v1/vuln/db/import", json!({"paths": [files.path(BASE64)]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["added"], 1, "{}", r.text);
    refusals(&server, &files).await;
    adhoc(&server, &files).await;

    let app = cli_json(
        &server,
        &[
            "vuln",
            "target",
            "add",
            "--name",
            "app",
            "--path",
            &files.path("locks/app"),
            "--every",
            "1h",
        ],
    );
    let id = app["id"].as_str().expect("target id").to_string();
    assert_eq!(app["every"], "3600s", "{app:#}");

    // First run: everything found is new.
    let first = cli_json(&server, &["vuln", "target", "run", "app"]);
    assert_eq!(
        (&first["new"], &first["fixed"]),
        (&json!(1), &json!(0)),
        "{first:#}"
    );
    assert_eq!(first["findings"][0]["id"], BASE64, "{first:#}");
    assert_eq!(first["findings"][0]["fixed"], "0.5.2", "{first:#}");
    let alerts = audit_records(&server, "alert.raised").await;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let d = &alerts[0]["details"];
    assert_eq!(
        (
            d["rule"].as_str(),
            d["vuln_target_id"].as_str(),
            d["target"].as_str()
        ),
        (Some("vuln-new-finding"), Some(id.as_str()), Some("app"))
    );
    assert_eq!(advisories(&alerts[0]), [BASE64]);
    assert_eq!(d["severity"], "critical", "{d:#}");
    // It is a stored alert, as detection's are: one triggering event per new finding.
    let alert_id = d["alert_id"].as_str().expect("the record names its alert");
    let stored = cli_json(&server, &["alerts", "show", alert_id]);
    assert_eq!(
        (&stored["rule_id"], &stored["severity"], &stored["status"]),
        (
            &json!("vuln-new-finding"),
            &json!("critical"),
            &json!("open")
        ),
        "{stored:#}"
    );
    assert_eq!(stored["group_key"], id.as_str(), "{stored:#}");
    let event = &stored["events"][0];
    assert_eq!(
        (&event["vulnerability"]["id"], &event["package"]["name"]),
        (&json!(BASE64), &json!("base64")),
        "{stored:#}"
    );
    assert_eq!(event["vulnerability"]["fixed_in"], "0.5.2", "{stored:#}");

    // More advisories: only the new one is alerted.
    let r = http
        .post("/v1/vuln/db/import", json!({"paths": [files.path(TIME)]}))
        .await;
    assert_eq!(r.json["added"], 1, "{}", r.text);
    let second = cli_json(&server, &["vuln", "target", "run", &id]);
    assert_eq!(
        (&second["new"], &second["total"]),
        (&json!(1), &json!(2)),
        "{second:#}"
    );
    let alerts = audit_records(&server, "alert.raised").await;
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    assert_eq!(advisories(&alerts[1]), [TIME]);
    assert_eq!(alerts[1]["details"]["severity"], "medium");
    let listed = cli_json(&server, &["alerts", "list", "--rule", "vuln-new-finding"]);
    assert_eq!(
        listed["alerts"].as_array().map(Vec::len),
        Some(2),
        "each run's news is its own alert: {listed:#}"
    );

    // base64 moved to its fixed version: reported fixed, nothing alerted.
    let path = files.root.join("locks/app/Cargo.lock");
    let text = std::fs::read_to_string(&path).unwrap();
    let fixed = text.replace(
        "name = \"base64\"\nversion = \"0.5.1\"",
        "name = \"base64\"\nversion = \"0.5.2\"",
    );
    assert_ne!(text, fixed, "the shared lock no longer has base64 0.5.1");
    std::fs::write(&path, fixed).unwrap();
    let third = cli_json(&server, &["vuln", "target", "run", "app"]);
    assert_eq!(
        (&third["new"], &third["fixed"]),
        (&json!(0), &json!(1)),
        "{third:#}"
    );
    assert_eq!(audit_records(&server, "alert.raised").await.len(), 2);
    let gone = audit_records(&server, "vuln.fixed").await;
    assert_eq!(gone.len(), 1, "{gone:#?}");
    assert_eq!(advisories(&gone[0]), [BASE64]);
    assert_eq!(audit_records(&server, "vuln.scan").await.len(), 3);

    paging(&server, &id).await;
    let current = http.get("/v1/vuln/findings").await;
    let ids: Vec<&str> = current.json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert_eq!(ids, [TIME], "{}", current.text);

    let table = server.cli(&["vuln", "target", "list"]);
    assert!(stdout(&table).contains("every 3600s"), "{}", stdout(&table));
    scheduled(&server, &files).await;
    // Two targets kept, the configured most: a third is refused with a clear 409.
    let third = http
        .post(
            "/v1/vuln/targets",
            json!({"name": "third", "paths": [files.path("locks/app")], "every": "1h"}),
        )
        .await;
    assert_eq!(third.status, 409, "{}", third.text);
    assert!(
        third.json["detail"]
            .as_str()
            .unwrap()
            .contains("max_targets"),
        "{}",
        third.text
    );
    let r = server.cli(&["vuln", "target", "remove", "app"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(
        http.get(&format!("/v1/vuln/targets/{id}/results"))
            .await
            .status,
        404
    );
}

/// `vuln.target.create` records with a failed outcome.
async fn failed_creations(server: &Server) -> usize {
    audit_records(server, "vuln.target.create")
        .await
        .into_iter()
        .filter(|r| r["outcome"] != "success")
        .count()
}

/// Paths outside the roots, bad schedules, and a token without `vuln-write`.
async fn refusals(server: &Server, files: &Files) {
    let http = server.http();
    let outside = http
        .post("/v1/vuln/db/import", json!({"paths": ["/etc"]}))
        .await;
    assert_eq!(outside.status, 400, "{}", outside.text);
    assert!(
        outside.json["detail"]
            .as_str()
            .unwrap()
            .contains("outside [vuln] allowed_roots")
    );

    let failed_before = failed_creations(server).await;
    let mut refused = 0;
    for (body, want) in [
        (
            json!({"name": "x", "paths": ["/etc/hostname"], "every": "1h"}),
            "outside",
        ),
        (
            json!({"name": "x", "paths": [format!("{}/../..", files.root.display())], "every": "1h"}),
            "'..'",
        ),
        (
            json!({"name": "x", "paths": [files.path("locks/app")], "schedule": "61 * * * *"}),
            "schedule '61 * * * *'",
        ),
        (
            json!({"name": "x", "paths": [files.path("locks/app")], "schedule": "* * *"}),
            "3 fields",
        ),
        (
            json!({"name": "x", "paths": [files.path("locks/app")], "every": "1s"}),
            "10s",
        ),
        // A seconds field would run a scan every second (review): the same 10 s floor.
        (
            json!({"name": "x", "paths": [files.path("locks/app")], "schedule": "* * * * * *"}),
            "10s",
        ),
        (
            json!({"name": "x", "paths": [files.path("locks/app")], "schedule": "*/5 * * * * *"}),
            "10s",
        ),
        (
            json!({"name": "x", "paths": [files.path("locks/app")], "schedule": "0,5 * * * * *"}),
            "10s",
        ),
    ] {
        refused += 1;
        let r = http.post("/v1/vuln/targets", body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(
            r.headers["content-type"], "application/problem+json",
            "{body}"
        );
        let detail = r.json["detail"].as_str().unwrap();
        assert!(detail.contains(want), "{body}: {detail}");
    }
    // Each refusal is on the trail once.
    let failed = failed_creations(server).await;
    assert_eq!(
        failed - failed_before,
        refused,
        "refused target creations audited once each"
    );

    // Links out of the roots: one to a file that exists, one to a file that does not;
    // the answers must not tell them apart (review: an existence oracle).
    std::os::unix::fs::symlink("/etc/hostname", files.root.join("out-there")).unwrap();
    std::os::unix::fs::symlink("/etc/no-such-file-here", files.root.join("out-gone")).unwrap();
    let mut answers = Vec::new();
    for name in ["out-there", "out-gone"] {
        let r = http
            .post(
                "/v1/vuln/targets",
                json!({"name": "x", "paths": [files.path(name)], "every": "1h"}),
            )
            .await;
        let detail = r.json["detail"]
            .as_str()
            .unwrap_or("")
            .replace(name, "LINK");
        answers.push((r.status, detail));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0].0, 400, "{answers:?}");
    assert!(answers[0].1.contains("outside"), "{answers:?}");

    let r = http
        .post(
            "/v1/tokens",
            json!({"name": "vuln-reader", "operations": ["vuln-read"], "ttl": "1h"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let reader = http.with_token(r.json["token"].as_str());
    assert_eq!(reader.get("/v1/vuln/targets").await.status, 200);
    let denied = reader
        .post(
            "/v1/vuln/targets",
            json!({"name": "x", "paths": [files.path("locks")], "every": "1h"}),
        )
        .await;
    assert_eq!(denied.status, 403, "{}", denied.text);
}

/// `POST /v1/vuln/scan`: findings now, nothing stored; confined like targets; an
/// ecosystem without advisories is a 503, not a clean answer.
async fn adhoc(server: &Server, files: &Files) {
    let http = server.http();
    let r = http
        .post("/v1/vuln/scan", json!({"path": files.path("locks/app")}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["total"], 1, "{}", r.text);
    assert_eq!(r.json["findings"][0]["id"], BASE64, "{}", r.text);
    assert!(r.json["packages"].as_u64().unwrap() > 1, "{}", r.text);
    let targets = http.get("/v1/vuln/targets").await;
    assert_eq!(targets.json["targets"], json!([]), "nothing stored");
    assert_eq!(audit_records(server, "vuln.scan.adhoc").await.len(), 1);
    assert!(audit_records(server, "alert.raised").await.is_empty());

    let outside = http.post("/v1/vuln/scan", json!({"path": "/etc"})).await;
    assert_eq!(outside.status, 400, "{}", outside.text);
    assert!(
        outside.text.contains("outside [vuln] allowed_roots"),
        "{}",
        outside.text
    );

    std::fs::create_dir_all(files.root.join("py")).unwrap();
    std::fs::write(
        files.root.join("py/requirements.txt"),
        "flask==0.1
requests>=2
",
    )
    .unwrap();
    let r = http
        .post("/v1/vuln/scan", json!({"path": files.path("py")}))
        .await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert!(
        r.json["detail"].as_str().unwrap().contains("PyPI"),
        "{}",
        r.text
    );

    let r = http
        .post(
            "/v1/vuln/scan",
            json!({"path": files.path("locks/app"), "extra": 1}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
}

/// Three results, two per page, newest first.
async fn paging(server: &Server, id: &str) {
    let page = cli_json(server, &["vuln", "results", "app", "--limit", "2"]);
    let results = page["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{page:#}");
    assert_eq!(results[0]["fixed"], 1, "newest first: {page:#}");
    let cursor = page["next_cursor"].as_str().expect("a next page");
    let rest = cli_json(
        server,
        &["vuln", "results", id, "--limit", "2", "--cursor", cursor],
    );
    let older = rest["results"].as_array().unwrap();
    assert_eq!(older.len(), 1, "{rest:#}");
    assert_eq!(older[0]["total"], 1, "{rest:#}");
    assert!(rest.get("next_cursor").is_none(), "{rest:#}");
    for bad in ["not-a-cursor", "%27%20OR%201%3D1", "0"] {
        let r = server
            .http()
            .get(&format!("/v1/vuln/targets/{id}/results?cursor={bad}"))
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
        assert!(
            r.json["detail"].as_str().unwrap().contains("cursor"),
            "{bad}: {}",
            r.text
        );
    }
}

/// A target every 10 s is scanned by the scheduler (which looks every 5 s).
async fn scheduled(server: &Server, files: &Files) {
    let http = server.http();
    let r = http
        .post(
            "/v1/vuln/targets",
            json!({"name": "sched", "paths": [files.path("locks/app/Cargo.lock")], "every": "10s"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_string();
    let path = format!("/v1/vuln/targets/{id}/results");
    for _ in 0..240 {
        let r = http.get(&path).await;
        if let Some(first) = r.json["results"].as_array().and_then(|a| a.first()) {
            assert_eq!(first["total"], 1, "{first:#}");
            let scans = audit_records(server, "vuln.scan").await;
            assert!(
                scans
                    .iter()
                    .any(|s| s["actor"] == "scheduler"
                        && s["details"]["vuln_target_id"] == id.as_str()),
                "{scans:#?}"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!(
        "the scheduler did not scan the target; log:\n{}",
        server.log()
    );
}
