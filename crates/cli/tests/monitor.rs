//! Security monitoring through the real binary: events in over HTTP, syslog TCP, files
//! and the audit trail; alerts listed, acknowledged, closed, followed live with
//! `alerts watch`, and delivered to a SIEM file sink; a full queue counting its drops;
//! a followed file surviving rotation and kill -9 with no line lost or repeated.
//!
//! Detection here is the pipeline's labelled test double (`[monitor] detector =
//! "test-double"`): every event with `event.outcome = failure` raises rule
//! `test-outcome-failure`, grouped by `user.name`.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use webqx_testkit::free_port;
use webqx_testkit::server::{Http, Reply, Server, stderr, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_webqx-sec");
const RULE: &str = "test-outcome-failure";

fn start(dir: &Path, config: &str) -> Server {
    let path = dir.join("webqx-sec.toml");
    std::fs::write(&path, config).unwrap();
    Server::start(
        BIN,
        &[("WEBQX_CONFIG".to_string(), path.display().to_string())],
    )
}

fn by_key(alerts: &[Value], key: &str) -> Option<Value> {
    alerts.iter().find(|a| a["group_key"] == key).cloned()
}

fn failure(user: &str) -> Value {
    json!({"event": {"outcome": "failure", "action": "ssh_failed_password"}, "user": {"name": user}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_become_alerts_that_are_watched_worked_and_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let syslog_port = free_port();
    let udp_port = free_port();
    let tls_port = free_port();
    let sink = dir.path().join("siem.jsonl");
    let server = start(
        dir.path(),
        &format!(
            r#"[monitor]
detector = "test-double"
poll_interval = "100ms"
max_items = 50
syslog_tcp_listen = "127.0.0.1:{syslog_port}"
syslog_udp_listen = "127.0.0.1:{udp_port}"
syslog_tls_listen = "127.0.0.1:{tls_port}"

[[audit.sinks]]
name = "archive"
type = "file"
path = "{}"
"#,
            sink.display()
        ),
    );
    let http = server.http();

    // Live view first, through the CLI: one JSON line per stream event.
    let mut watch = Command::new(BIN)
        .arg("--data-dir")
        .arg(&server.data)
        .args(["alerts", "watch", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let out = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;

    // NDJSON with per-item results: a failure, a success, a line that is not JSON.
    let body = format!(
        "{}\n{}\nnot json\n",
        failure("alice"),
        json!({"event": {"outcome": "success"}})
    );
    let r = http
        .send(
            "POST",
            "/v1/events",
            Some((body.into_bytes(), "application/x-ndjson")),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json["accepted"], 2, "{}", r.text);
    assert_eq!(r.json["results"][2]["status"], "rejected");
    assert!(
        r.json["results"][2]["reason"]
            .as_str()
            .unwrap()
            .contains("not JSON")
    );

    let alerts = http
        .wait_alerts("alice's alert", |a| by_key(a, "alice").is_some())
        .await;
    let alice = by_key(&alerts, "alice").unwrap();
    assert_eq!(alice["rule_id"], RULE);
    assert_eq!(alice["status"], "open");
    assert_eq!(alice["count"], 1);
    assert_eq!(alice["events"][0]["user"]["name"], "alice");
    assert_eq!(alice["events"][0]["labels"]["input"], "http");
    let id = alice["id"].as_str().unwrap().to_owned();

    // The stream announced it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let seen = loop {
        match lines_rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                let v: Value = serde_json::from_str(&line).unwrap();
                if v["alert"]["id"] == json!(id) {
                    break v;
                }
            }
            Err(_) => assert!(Instant::now() < deadline, "alerts watch saw nothing"),
        }
    };
    assert_eq!(seen["event"], "alert.new");
    assert!(seen["id"].as_str().unwrap().parse::<u64>().is_ok());

    // A second failure within the window groups into the same alert.
    let r = http.post("/v1/events", failure("alice")).await;
    assert_eq!(r.status, 202, "{}", r.text);
    http.wait_alerts("alice's count 2", |a| {
        by_key(a, "alice").is_some_and(|x| x["count"] == 2)
    })
    .await;

    // Acknowledge and close through the CLI; a closed alert refuses changes (409).
    let out = server.cli(&["--json", "alerts", "ack", &id, "--note", "on it"]);
    assert!(out.status.success(), "{:?}", out);
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&out)).unwrap()["status"],
        "acknowledged"
    );
    let out = server.cli(&["alerts", "close", &id, "--note", "password reset"]);
    assert!(out.status.success(), "{:?}", out);
    let shown = http.get(&format!("/v1/alerts/{id}")).await;
    assert_eq!(shown.json["status"], "closed");
    assert_eq!(shown.json["note"], "password reset");
    assert_eq!(
        http.post(&format!("/v1/alerts/{id}/ack"), json!({}))
            .await
            .status,
        409
    );
    let table = stdout(&server.cli(&["alerts", "list", "--status", "closed"]));
    assert!(table.contains(&id), "{table}");

    // Resuming the stream replays from the store: after change 0, alice's alert comes
    // first, once, in its current (closed) state.
    let mut resumed = Command::new(BIN)
        .arg("--data-dir")
        .arg(&server.data)
        .args(["alerts", "watch", "--json", "--after", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(resumed.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let _ = resumed.kill();
    let _ = resumed.wait();
    let first: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(first["alert"]["id"], json!(id), "{first}");
    assert_eq!(first["alert"]["status"], "closed");
    assert_eq!(first["event"], "alert.updated");

    // Syslog over TCP (octet counting): the message's JSON text is the event.
    let msg = format!(
        "<38>1 2026-12-05T10:00:00Z host1 app - - - {}",
        failure("bob")
    );
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", syslog_port)).unwrap();
    tcp.write_all(format!("{} {msg}", msg.len()).as_bytes())
        .unwrap();
    drop(tcp);
    let alerts = http
        .wait_alerts("bob's alert", |a| by_key(a, "bob").is_some())
        .await;
    let bob = by_key(&alerts, "bob").unwrap();
    assert_eq!(bob["events"][0]["labels"]["input"], "syslog-tcp");
    assert_eq!(bob["events"][0]["host"]["name"], "host1");

    // Syslog over UDP (RFC 3164) and over TLS (octet counting) from a real client,
    // openssl s_client, trusting our CA.
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dgram = format!("<38>Dec  5 10:00:00 host2 app[7]: {}", failure("frank"));
    udp.send_to(dgram.as_bytes(), ("127.0.0.1", udp_port))
        .unwrap();
    let alerts = http
        .wait_alerts("frank's alert", |a| by_key(a, "frank").is_some())
        .await;
    assert_eq!(
        by_key(&alerts, "frank").unwrap()["events"][0]["labels"]["input"],
        "syslog-udp"
    );
    if Path::new("/usr/bin/openssl").exists() {
        let msg = format!(
            "<38>1 2026-12-05T10:00:00Z host3 app - - - {}",
            failure("gina")
        );
        let mut client = Command::new("/usr/bin/openssl")
            .args([
                "s_client",
                "-quiet",
                "-connect",
                &format!("127.0.0.1:{tls_port}"),
                "-CAfile",
            ])
            .arg(server.ca())
            .args(["-verify_return_error", "-servername", "localhost"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = client.stdin.take().unwrap();
        stdin
            .write_all(format!("{} {msg}", msg.len()).as_bytes())
            .unwrap();
        let alerts = http
            .wait_alerts("gina's alert (TLS)", |a| by_key(a, "gina").is_some())
            .await;
        assert_eq!(
            by_key(&alerts, "gina").unwrap()["events"][0]["labels"]["input"],
            "syslog-tls"
        );
        drop(stdin);
        let _ = client.kill();
        let _ = client.wait();
    } else if std::env::var_os("CI").is_some() {
        panic!("/usr/bin/openssl is missing; .ci/run installs it");
    }

    // Our own audit records: a refused token is an auth.authenticate failure.
    let r = http.with_token(Some("wrong")).get("/v1/keys").await;
    assert_eq!(r.status, 401);
    let alerts = http
        .wait_alerts("the refused token's alert", |a| {
            a.iter()
                .any(|x| x["events"][0]["event"]["dataset"] == "webqx.audit")
        })
        .await;
    let own = alerts
        .iter()
        .find(|x| x["events"][0]["event"]["dataset"] == "webqx.audit")
        .unwrap();
    assert_eq!(own["events"][0]["event"]["action"], "auth.authenticate");

    // The EHR's AuditEvents reach the pipeline once stored in the trail.
    if let Some(dir) = webqx_testkit::shared_data("fhir-audit") {
        let before = http.get("/v1/sys/health").await.json["monitor"]["accepted"]["audit"]
            .as_u64()
            .unwrap_or(0);
        let mut sent = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "json") {
                let r = http
                    .send(
                        "POST",
                        "/v1/audit/events",
                        Some((std::fs::read(&p).unwrap(), "application/fhir+json")),
                    )
                    .await;
                assert_eq!(r.status, 200, "{}", r.text);
                sent += 1;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let h = http.get("/v1/sys/health").await;
            let now = h.json["monitor"]["accepted"]["audit"].as_u64().unwrap_or(0);
            if now >= before + sent {
                break;
            }
            assert!(Instant::now() < deadline, "AuditEvents not fed: {}", h.text);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // Per-item and whole-body refusals.
    let too_many = Value::Array((0..51).map(|_| json!({})).collect());
    let r = http.post("/v1/events", too_many).await;
    assert_eq!(r.status, 413, "{}", r.text);
    assert_eq!(r.headers["content-type"], "application/problem+json");
    let r = http
        .send("POST", "/v1/events", Some((b"<xml/>".to_vec(), "text/xml")))
        .await;
    assert_eq!(r.status, 415, "{}", r.text);
    let r = http
        .send(
            "POST",
            "/v1/events",
            Some((b"[1,".to_vec(), "application/json")),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);

    // `events send` from a file; exit 1 when an item is rejected.
    let file = dir.path().join("batch.ndjson");
    std::fs::write(&file, format!("{}\n[]\n", failure("carol"))).unwrap();
    let out = server.cli(&["events", "send", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{:?}", out);
    assert!(
        stdout(&out).contains("1 accepted, 1 rejected"),
        "{}",
        stdout(&out)
    );
    http.wait_alerts("carol's alert", |a| by_key(a, "carol").is_some())
        .await;

    // Suppressions: carol's failures stop alerting for this rule.
    let out = server.cli(&[
        "alerts",
        "suppress",
        "add",
        "--rule",
        RULE,
        "--field",
        "user.name",
        "--value",
        "dave",
        "--reason",
        "load test account",
        "--expires",
        &webqx_store::time::rfc3339(webqx_store::now_ms() + 3_600_000),
    ]);
    assert!(out.status.success(), "{:?}", out);
    let sid = stdout(&out).trim().to_owned();
    assert!(http.post("/v1/events", failure("dave")).await.status == 202);
    assert!(http.post("/v1/events", failure("erin")).await.status == 202);
    let alerts = http
        .wait_alerts("erin's alert", |a| by_key(a, "erin").is_some())
        .await;
    assert!(by_key(&alerts, "dave").is_none(), "suppressed");
    let r = http.post("/v1/alerts/suppressions", json!({"rule_id": RULE, "field": "user.name", "value": "x", "reason": "", "expires_at": "2027-01-01T00:00:00Z"})).await;
    assert_eq!(r.status, 400, "a reason is required: {}", r.text);
    let listed = stdout(&server.cli(&["alerts", "suppress", "list"]));
    assert!(listed.contains(&sid), "{listed}");
    assert!(
        server
            .cli(&["alerts", "suppress", "remove", &sid])
            .status
            .success()
    );

    // Every new alert reached the SIEM file sink as an alert.raised record.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(&sink).unwrap_or_default();
        let raised: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|r| r["action"] == "alert.raised")
            .collect();
        if raised.iter().any(|r| r["details"]["alert_id"] == json!(id)) {
            assert!(raised.iter().all(|r| r["details"]["rule"] == RULE));
            assert!(
                !text.contains("\"alice\""),
                "no event content in SIEM alert records"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "alert.raised not delivered: {text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Operations: a sender may send but not read alerts; a reader may not close them.
    let r = http
        .post(
            "/v1/tokens",
            json!({"name": "log-shipper", "operations": ["events-write"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let shipper = http.with_token(r.json["token"].as_str());
    assert_eq!(
        shipper.post("/v1/events", failure("hank")).await.status,
        202
    );
    assert_eq!(shipper.get("/v1/alerts").await.status, 403);
    let r = http
        .post(
            "/v1/tokens",
            json!({"name": "soc-viewer", "operations": ["alerts-read"]}),
        )
        .await;
    let viewer = http.with_token(r.json["token"].as_str());
    assert_eq!(viewer.get("/v1/alerts").await.status, 200);
    assert_eq!(
        viewer
            .post(&format!("/v1/alerts/{id}/close"), json!({}))
            .await
            .status,
        403
    );
    assert_eq!(viewer.post("/v1/events", failure("ivan")).await.status, 403);

    // The OpenAPI document describes the routes.
    let doc = http.with_token(None).get("/v1/openapi.json").await.json;
    for path in [
        "/v1/events",
        "/v1/alerts",
        "/v1/alerts/{id}/ack",
        "/v1/alerts/stream",
        "/v1/alerts/suppressions",
        "/v1/monitor/context/{kind}",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }

    // Context documents round-trip.
    let users =
        json!({"u1": {"name": "Ann Smith", "department": "cardiology", "status": "active"}});
    let r = http
        .send(
            "PUT",
            "/v1/monitor/context/users",
            Some((users.to_string().into_bytes(), "application/json")),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        http.get("/v1/monitor/context/users").await.json["document"],
        users
    );
    assert_eq!(http.get("/v1/monitor/context/care").await.status, 404);
    assert_eq!(http.get("/v1/monitor/context/other").await.status, 400);

    // Audited: listing, acknowledging, closing.
    let out = server.cli(&["audit", "export"]);
    let export = stdout(&out);
    for action in [
        "alert.list",
        "alert.acknowledge",
        "alert.close",
        "alert.suppression.create",
        "events.submit",
    ] {
        assert!(
            export.contains(&format!("\"action\":\"{action}\"")),
            "{action} not audited"
        );
    }
    let _ = watch.kill();
    let _ = watch.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_drops_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        dir.path(),
        "[monitor]\ndetector = \"test-double\"\nqueue_capacity = 1\nfollow_audit = false\n",
    );
    let http = server.http();
    let batch = Value::Array((0..5000).map(|i| failure(&format!("u{i}"))).collect());
    let r = http.post("/v1/events", batch).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let rejected = r.json["rejected"].as_u64().unwrap();
    assert!(
        rejected > 0,
        "a one-slot queue cannot take 5000 events at once"
    );
    let full = r.json["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["status"] == "rejected")
        .unwrap();
    assert!(full["reason"].as_str().unwrap().contains("queue is full"));
    assert_eq!(full["retry"], true, "the item may be sent again: {full}");
    let health = http.get("/v1/sys/health").await;
    assert_eq!(
        health.json["monitor"]["refused"]["http"].as_u64(),
        Some(rejected),
        "{}",
        health.text
    );
    assert_eq!(
        health.json["monitor"]["dropped"].get("http"),
        None,
        "the sender still holds a refused item: nothing was dropped: {}",
        health.text
    );
    assert_eq!(health.json["monitor"]["capacity"], 1);
    let metrics = http.get("/metrics").await.text;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("webqx_monitor_refused_total{input=\"http\"}")),
        "{metrics}"
    );
}

/// A server whose monitor queue holds 20 events, and a file of `n` failures for it.
fn small_queue(dir: &Path, n: usize) -> (Server, std::path::PathBuf) {
    let server = start(
        dir,
        "[monitor]\ndetector = \"test-double\"\nqueue_capacity = 20\nfollow_audit = false\n",
    );
    let path = dir.join("events.ndjson");
    let lines: Vec<String> = (0..n)
        .map(|i| failure(&format!("u{i}")).to_string())
        .collect();
    std::fs::write(&path, lines.join("\n")).unwrap();
    (server, path)
}

/// `events send` sends again what a full queue refused for now (`"retry": true`), round
/// after round, until everything is taken: nothing is lost to a busy server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_send_resends_what_a_full_queue_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (server, path) = small_queue(dir.path(), 1000);
    let out = server.cli(&["events", "send", "--batch", "1000", path.to_str().unwrap()]);
    let (printed, said) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "{printed}\n{said}");
    assert!(printed.contains("1000 accepted, 0 rejected"), "{printed}");
    let health = server.http().get("/v1/sys/health").await;
    let refused = health.json["monitor"]["refused"]["http"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        refused > 0 && said.contains("sending them again"),
        "a 20-slot queue cannot take 1000 events at once, so some were sent again \
         ({refused} refused): {said}"
    );
    assert_eq!(
        health.json["monitor"]["accepted"]["http"], 1000,
        "{}",
        health.text
    );
}

/// A file of many batches into a 20-slot queue: batches shrink to what the queue takes
/// and grow back, and every line is taken once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_send_fits_its_batches_to_a_small_queue() {
    let dir = tempfile::tempdir().unwrap();
    let (server, path) = small_queue(dir.path(), 5000);
    let out = server.cli(&["--json", "events", "send", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["accepted"], 5000, "{}", stderr(&out));
    assert_eq!(report["rejected"], 0);
    let health = server.http().get("/v1/sys/health").await;
    assert_eq!(
        health.json["monitor"]["accepted"]["http"], 5000,
        "{}",
        health.text
    );
}

fn append(path: &Path, from: usize, to: usize) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for i in from..to {
        writeln!(f, "{}", failure(&format!("line{i}"))).unwrap();
    }
    f.sync_all().unwrap();
}

/// Every line's alert exists exactly once, with count 1: nothing lost, nothing repeated.
fn exactly_once(alerts: &[Value], n: usize) {
    let mut seen: BTreeMap<String, i64> = BTreeMap::new();
    for a in alerts {
        *seen
            .entry(a["group_key"].as_str().unwrap().to_owned())
            .or_default() += a["count"].as_i64().unwrap();
    }
    for i in 0..n {
        assert_eq!(seen.get(&format!("line{i}")), Some(&1), "line{i}: {seen:?}");
    }
    assert_eq!(seen.len(), n, "no other alerts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followed_file_survives_rotation_and_kill_9_without_loss_or_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let log = logs.join("app.log");
    append(&log, 0, 50);
    let mut server = start(
        dir.path(),
        &format!(
            "[monitor]\ndetector = \"test-double\"\npoll_interval = \"100ms\"\nfollow_audit = false\nfiles = [\"{}\"]\n",
            log.display()
        ),
    );
    let http = server.http();
    let alerts = http
        .wait_alerts("the first 50 lines", |a| a.len() >= 50)
        .await;
    exactly_once(&alerts, 50);
    assert!(
        alerts[0]["events"][0]["labels"]["input"]
            .as_str()
            .unwrap()
            .starts_with("file:")
    );

    // Rotation by rename: lines written to the old file after the rename are read,
    // then the new file from its start.
    // The old file's last line has no newline: it still counts once the file is left.
    let old = logs.join("app.log.1");
    std::fs::rename(&log, &old).unwrap();
    append(&old, 50, 59);
    {
        let mut f = std::fs::OpenOptions::new().append(true).open(&old).unwrap();
        write!(f, "{}", failure("line59")).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    append(&log, 60, 80);
    let alerts = http
        .wait_alerts("80 lines across the rotation", |a| a.len() >= 80)
        .await;
    exactly_once(&alerts, 80);

    // Truncation: read again from the start.
    std::fs::write(&log, "").unwrap();
    append(&log, 80, 90);
    let alerts = http
        .wait_alerts("90 lines after truncation", |a| a.len() >= 90)
        .await;
    exactly_once(&alerts, 90);

    // kill -9 while lines are being read: 20,000 lines over 50 group keys, so the sum of
    // the counts says how many lines were fed (a repeat adds, a loss subtracts).
    let bulk_total = |alerts: &[Value]| -> i64 {
        alerts
            .iter()
            .filter(|a| a["group_key"].as_str().unwrap().starts_with("bulk"))
            .map(|a| a["count"].as_i64().unwrap())
            .sum()
    };
    {
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        let mut text = String::new();
        for i in 0..20_000 {
            text.push_str(&failure(&format!("bulk{}", i % 50)).to_string());
            text.push('\n');
        }
        f.write_all(text.as_bytes()).unwrap();
        f.sync_all().unwrap();
    }
    let before = http
        .wait_alerts("some of the bulk lines", |a| bulk_total(a) > 0)
        .await;
    server.kill9();
    eprintln!(
        "killed with {} of 20000 bulk lines fed",
        bulk_total(&before)
    );
    // While it is down: more lines, then two rotations (the file in between, app.log.3,
    // is read whole after the rest of the first), and a compressed old file beside them,
    // which is not read.
    append(&log, 90, 110);
    std::fs::rename(&log, logs.join("app.log.2")).unwrap();
    append(&log, 110, 130);
    std::fs::rename(&log, logs.join("app.log.3")).unwrap();
    append(&log, 130, 140);
    std::fs::write(logs.join("app.log.4.gz"), gzip(b"not a log line\n")).unwrap();

    server.spawn();
    let http = server.http();
    let alerts = http
        .wait_alerts("every line after the restart", |a| {
            bulk_total(a) >= 20_000 && a.len() >= 140 + 50
        })
        .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let after = http.alerts().await;
    assert_eq!(after.len(), alerts.len(), "nothing more arrived");
    assert_eq!(bulk_total(&after), 20_000, "no bulk line lost or repeated");
    let unique: Vec<Value> = after
        .into_iter()
        .filter(|a| a["group_key"].as_str().unwrap().starts_with("line"))
        .collect();
    exactly_once(&unique, 140);

    // Two rotations between two looks while running: the file in between is read too.
    let old = logs.join("app.log.5");
    std::fs::rename(&log, &old).unwrap();
    append(&old, 140, 150);
    append(&log, 150, 160);
    std::fs::rename(&log, logs.join("app.log.6")).unwrap();
    append(&log, 160, 170);
    let alerts = http
        .wait_alerts("the lines of both rotations", |a| a.len() >= 170 + 50)
        .await;
    let unique: Vec<Value> = alerts
        .into_iter()
        .filter(|a| a["group_key"].as_str().unwrap().starts_with("line"))
        .collect();
    exactly_once(&unique, 170);
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(bytes).unwrap();
    z.finish().unwrap()
}

fn is_problem(r: &Reply, status: u16, kind: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.headers["content-type"], "application/problem+json");
    assert_eq!(
        r.json["type"],
        format!("https://webqx.health/problems/{kind}"),
        "{}",
        r.text
    );
}

/// A server with small limits: 64 KiB bodies, 5 items a body.
fn small_server(dir: &Path) -> Server {
    start(
        dir,
        "[server]\nmax_body_bytes = 65536\n\n[monitor]\ndetector = \"test-double\"\n\
         max_items = 5\nfollow_audit = false\n",
    )
}

async fn post_events(http: &Http, body: &[u8], headers: &[(&str, &str)]) -> Reply {
    http.send_raw("POST", "/v1/events", Some(body.to_vec()), headers)
        .await
}

/// Review of the events intake (issue 7): only JSON and NDJSON types, gzip bodies
/// decoded within the body limit and bogus ones refused, NDJSON indexes that are lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_intake_reads_only_what_it_documents() {
    let dir = tempfile::tempdir().unwrap();
    let server = small_server(dir.path());
    let http = server.http();
    let ndjson = format!("{}\n{}\n", failure("zed"), failure("yan"));

    // Content types: JSON and NDJSON only (charset UTF-8 or none); 415 names them.
    for ct in [
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "application/fhir+json",
    ] {
        let r = post_events(&http, ndjson.as_bytes(), &[("content-type", ct)]).await;
        is_problem(&r, 415, "unsupported-media-type");
        let detail = r.json["detail"].as_str().unwrap();
        assert!(
            detail.contains("application/json") && detail.contains("application/x-ndjson"),
            "{detail}"
        );
    }
    let r = post_events(&http, ndjson.as_bytes(), &[]).await;
    is_problem(&r, 415, "unsupported-media-type");
    assert!(
        r.json["detail"]
            .as_str()
            .unwrap()
            .contains("no Content-Type")
    );
    let latin1 = [("content-type", "application/json; charset=iso-8859-1")];
    let r = post_events(&http, ndjson.as_bytes(), &latin1).await;
    is_problem(&r, 415, "unsupported-media-type");
    assert!(r.json["detail"].as_str().unwrap().contains("utf-8"));
    // Two Content-Type headers: refused, not the first taken silently (review).
    let two = [
        ("content-type", "application/json"),
        ("content-type", "text/plain"),
    ];
    let r = post_events(&http, ndjson.as_bytes(), &two).await;
    is_problem(&r, 415, "unsupported-media-type");
    assert!(
        r.json["detail"]
            .as_str()
            .unwrap()
            .contains("more than one Content-Type"),
        "{}",
        r.text
    );
    for ct in ["application/json; charset=UTF-8", "application/jsonl"] {
        let r = post_events(&http, ndjson.as_bytes(), &[("content-type", ct)]).await;
        assert_eq!(r.status, 202, "{ct}: {}", r.text);
        assert_eq!(r.json["accepted"], 2);
    }

    // Content codings: gzip works; a body that is not gzip, or another coding, does not.
    let nd = ("content-type", "application/x-ndjson");
    let gz = [nd, ("content-encoding", "gzip")];
    let r = post_events(&http, &gzip(ndjson.as_bytes()), &gz).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json["accepted"], 2, "{}", r.text);
    let r = post_events(&http, ndjson.as_bytes(), &gz).await;
    is_problem(&r, 400, "invalid-content-encoding");
    assert!(
        r.json["detail"]
            .as_str()
            .unwrap()
            .contains("not valid gzip")
    );
    let mut cut = gzip(ndjson.as_bytes());
    cut.truncate(cut.len() - 6);
    is_problem(
        &post_events(&http, &cut, &gz).await,
        400,
        "invalid-content-encoding",
    );
    let br = [nd, ("content-encoding", "br")];
    let r = post_events(&http, &gzip(ndjson.as_bytes()), &br).await;
    is_problem(&r, 415, "unsupported-content-encoding");
    assert_eq!(r.headers["accept-encoding"], "gzip, identity");
    // Decompressed, it is held to server.max_body_bytes like any body.
    let mut bomb = ndjson.clone().into_bytes();
    bomb.extend(std::iter::repeat_n(b'\n', 70_000));
    let r = post_events(&http, &gzip(&bomb), &gz).await;
    is_problem(&r, 413, "body-too-large");
    assert_eq!(r.json["limit"], 65536, "{}", r.text);

    // NDJSON: `index` is the 0-based line, blank lines included.
    let body = format!("\n{}\n\nnot json\n{}\n", failure("zed"), failure("yan"));
    let r = post_events(&http, body.as_bytes(), &[nd]).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let results = r.json["results"].as_array().unwrap();
    let indexes: Vec<u64> = results
        .iter()
        .map(|x| x["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, [1, 3, 4], "{}", r.text);
    assert_eq!(results[1]["status"], "rejected");
    // Too many items: 413 naming the limit.
    let six = ndjson.repeat(3);
    let r = post_events(&http, six.as_bytes(), &[nd]).await;
    is_problem(&r, 413, "too-many-items");
    assert_eq!(r.json["limit"], 5);
}

/// Review of the alerts API (issue 7): a page limit outside 1..=1000 or a cursor we
/// never gave is 400, not clamped or ignored; the stream refuses a Last-Event-ID it
/// never sent rather than starting "from now".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_paging_and_stream_resume_take_only_what_the_server_gave() {
    let dir = tempfile::tempdir().unwrap();
    let server = small_server(dir.path());
    let http = server.http();
    for user in ["zed", "yan"] {
        assert_eq!(http.post("/v1/events", failure(user)).await.status, 202);
    }
    http.wait_alerts("two alerts", |a| a.len() >= 2).await;

    for q in [
        "limit=0",
        "limit=-1",
        "limit=1001",
        "limit=abc",
        "limit=99999999999999999999",
    ] {
        let r = http.get(&format!("/v1/alerts?{q}")).await;
        is_problem(&r, 400, "invalid-request");
        let detail = r.json["detail"].as_str().unwrap();
        assert!(detail.contains("from 1 to 1000"), "{q}: {detail}");
    }
    let r = http.get("/v1/alerts?cursor=zzz").await;
    is_problem(&r, 400, "invalid-request");
    let page = http.get("/v1/alerts?limit=1").await;
    assert_eq!(page.status, 200, "{}", page.text);
    let next = page.json["next"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let r = http.get(&format!("/v1/alerts?limit=1&cursor={next}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_ne!(r.json["alerts"][0]["id"], page.json["alerts"][0]["id"]);
    // The CLI: its own range check (usage, 2), the server's message for a bad cursor (4).
    let out = server.cli(&["alerts", "list", "--limit", "0"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = server.cli(&["alerts", "list", "--cursor", "zzz"]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert!(stderr(&out).contains("`next` value"), "{out:?}");

    for id in ["abc", "-1", "99999"] {
        let r = http
            .send_raw("GET", "/v1/alerts/stream", None, &[("last-event-id", id)])
            .await;
        is_problem(&r, 400, "invalid-request");
        assert!(r.json["detail"].as_str().unwrap().contains("Last-Event-ID"));
    }
    let out = server.cli(&["alerts", "watch", "--after", "99999"]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert!(stderr(&out).contains("after the newest change"), "{out:?}");
}

/// Review of `events send` (issue 7): more items than `[monitor] max_items` and more
/// bytes than `server.max_body_bytes` go in batches; results name the file's lines;
/// syslog lines are normalized into events first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_send_batches_to_the_servers_limits_and_names_lines() {
    let dir = tempfile::tempdir().unwrap();
    let server = small_server(dir.path());
    let http = server.http();
    let pad = "p".repeat(8000);
    let mut file = String::new();
    for i in 0..12 {
        let mut e = failure(&format!("batch{i}"));
        e["pad"] = json!(pad);
        file.push_str(&format!("{e}\n"));
        if i == 3 {
            file.push('\n');
        }
    }
    file.push_str("[]\n");
    file.push_str(
        "Dec 10 10:00:00 gw sshd[7]: Failed password for root from 203.0.113.5 port 4022 ssh2\n",
    );
    file.push_str("bin\u{0}\u{1}\u{2}\u{3}\u{4}\u{5}\u{6}\u{7}\u{8}ary\n");
    // One item over the body limit by itself: no batch can hold it.
    let mut huge = failure("huge");
    huge["pad"] = json!("h".repeat(70_000));
    file.push_str(&format!("{huge}\n"));
    let path = dir.path().join("mixed.log");
    std::fs::write(&path, &file).unwrap();

    let out = server.cli(&["events", "send", path.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text.contains("13 accepted, 3 rejected"), "{text}");
    assert!(text.contains("  line 14: not a JSON object"), "{text}");
    assert!(text.contains("  line 16: the line is binary"), "{text}");
    assert!(
        text.contains("  line 17: this item alone is ")
            && text.contains("over the server's limit of 65536 bytes"),
        "{text}"
    );
    let alerts = http
        .wait_alerts("every batched line's alert", |a| {
            (0..12).all(|i| by_key(a, &format!("batch{i}")).is_some())
                && by_key(a, "root").is_some()
        })
        .await;
    let root = by_key(&alerts, "root").unwrap();
    assert_eq!(root["events"][0]["source"]["ip"], "203.0.113.5");
    assert_eq!(root["events"][0]["event"]["action"], "ssh_failed_password");

    let out = server.cli(&["--json", "events", "send", path.to_str().unwrap()]);
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["accepted"], 13, "{report}");
    assert_eq!(report["results"][4]["line"], 6, "{report}");
    assert_eq!(report["results"][12]["status"], "rejected");
    assert_eq!(report["results"][12]["line"], 14);

    // A batch refused as a whole stops the send and says where to resume.
    let out = server.cli(&[
        "--token",
        "wqx_wrong",
        "events",
        "send",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert!(
        stderr(&out).contains("nothing from line 1 on was sent"),
        "{out:?}"
    );
}
