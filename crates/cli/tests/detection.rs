//! Real detection through the real binary: the default `[monitor] detector = "sigma"`
//! with the built-in rule pack, fed by syslog over TCP, a followed file, the EHR's FHIR
//! AuditEvents and our own audit records.
//!
//! - Real sshd logs (loghub OpenSSH 2k) over syslog TCP and then as a followed file:
//!   one SSH brute-force alert for 183.62.140.253 whose count grows, tagged
//!   `attack.t1110`, listed and announced on the live stream.
//! - A FHIR AuditEvent reading a VIP patient's record: a privacy alert; the same access
//!   once a care relationship is stored: no alert, recorded as explained.
//! - A suppression for a source address: its brute force raises nothing and is counted.
//! - Refused bearer tokens (401 from the API) reach the token-abuse rule.

use serde_json::{Value, json};
use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use webqx_testkit::free_port;
use webqx_testkit::server::{Http, Server, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_webqx-sec");
/// rules/ssh/ssh_brute_force.yml, "SSH Brute Force From One Source".
const BRUTE_FORCE: &str = "eddab19d-5c32-4179-9a95-f66a8cb7c83e";
/// rules/ehr/ehr_flagged_record_access.yml.
const FLAGGED: &str = "58b8624d-6156-4442-b91c-1a95d97d3976";
/// rules/webqx/webqx_invalid_token_burst.yml, the correlation.
const TOKEN_BURST: &str = "947c9c83-11c7-4aae-8ece-6f0010f85657";
const ATTACKER: &str = "183.62.140.253";
/// rules/web/web_xss.yml
const XSS: &str = "0a7339c1-61f1-4326-b130-55a77264d9be";

fn of(alerts: &[Value], rule: &str, key: &str) -> Vec<Value> {
    alerts
        .iter()
        .filter(|a| a["rule_id"] == rule && a["group_key"] == key)
        .cloned()
        .collect()
}

/// Sends syslog-file lines as RFC 3164 messages over one TCP connection (octet counting).
fn send_syslog(port: u16, lines: &[String]) {
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut out = Vec::new();
    for line in lines {
        let msg = format!("<38>{}", line.trim_end());
        out.extend_from_slice(format!("{} {msg}", msg.len()).as_bytes());
    }
    tcp.write_all(&out).unwrap();
}

fn loghub() -> Option<Vec<String>> {
    let path = webqx_testkit::shared_data("ssh-logs/loghub_OpenSSH_2k.log")?;
    let text = std::fs::read_to_string(path).unwrap();
    Some(text.lines().map(str::to_owned).collect())
}

fn audit_event(id: &str, time: &str) -> Value {
    json!({
        "resourceType": "AuditEvent", "id": id,
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": "read"}],
        "action": "R", "recorded": time, "outcome": "0",
        "agent": [{"who": {"reference": "Practitioner/7"}, "requestor": true}],
        "source": {"observer": {"display": "ehr"}},
        "entity": [{"what": {"reference": "Patient/42"}}],
    })
}

async fn metric(http: &Http, name: &str) -> f64 {
    let text = http.get("/metrics").await.text;
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigma_detection_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let syslog_port = free_port();
    let followed = dir.path().join("auth.log");
    let config = dir.path().join("webqx-sec.toml");
    std::fs::write(
        &config,
        format!(
            "[monitor]\npoll_interval = \"100ms\"\nrecord_explained = true\n\
             syslog_tcp_listen = \"127.0.0.1:{syslog_port}\"\nfiles = [\"{}\"]\n",
            followed.display()
        ),
    )
    .unwrap();
    let server = Server::start(
        BIN,
        &[("WEBQX_CONFIG".to_string(), config.display().to_string())],
    );
    let http = server.http();

    // The live stream, through the CLI.
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

    // Real sshd logs over syslog TCP, then the same lines as a followed file.
    if let Some(lines) = loghub() {
        send_syslog(syslog_port, &lines);
        let alerts = http
            .wait_alerts("the brute force alert", |a| {
                !of(a, BRUTE_FORCE, ATTACKER).is_empty()
            })
            .await;
        let found = of(&alerts, BRUTE_FORCE, ATTACKER);
        assert_eq!(found.len(), 1, "one alert: {found:#?}");
        let alert = &found[0];
        assert_eq!(alert["severity"], "high");
        let tags: Vec<&str> = alert["tags"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(tags.contains(&"attack.t1110"), "{tags:?}");
        assert!(tags.contains(&"hipaa.164.308.a.5.ii.c"), "{tags:?}");
        assert_eq!(alert["events"][0]["source"]["ip"], ATTACKER);
        assert_eq!(alert["events"][0]["labels"]["input"], "syslog-tcp");
        assert_eq!(alert["events"][0]["event"]["action"], "ssh_failed_password");
        assert!(
            alert["first_seen"]
                .as_str()
                .unwrap()
                .contains("-12-10T10:5"),
            "event time, not arrival time: {alert}"
        );
        let id = alert["id"].as_str().unwrap().to_owned();

        // The stream announced it.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match lines_rx.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    let v: Value = serde_json::from_str(&line).unwrap();
                    if v["alert"]["id"] == json!(id) {
                        assert_eq!(v["alert"]["rule_id"], BRUTE_FORCE);
                        break;
                    }
                }
                Err(_) => assert!(Instant::now() < deadline, "the stream saw no brute force"),
            }
        }

        // Let the syslog burst settle, then feed the file: the same alert grows.
        let settle = Instant::now() + Duration::from_secs(60);
        let mut count = 0;
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = of(&http.alerts().await, BRUTE_FORCE, ATTACKER)[0]["count"]
                .as_u64()
                .unwrap();
            if now == count || Instant::now() > settle {
                break;
            }
            count = now;
        }
        assert!(count > 1, "the count grows with each firing: {count}");
        std::fs::write(&followed, lines.join("\n") + "\n").unwrap();
        let alerts = http
            .wait_alerts("the brute force alert growing from the file", |a| {
                of(a, BRUTE_FORCE, ATTACKER)
                    .first()
                    .is_some_and(|x| x["count"].as_u64().unwrap() > count)
            })
            .await;
        let found = of(&alerts, BRUTE_FORCE, ATTACKER);
        assert_eq!(found.len(), 1, "still one alert: {found:#?}");
        assert_eq!(found[0]["id"], json!(id));
        let full = http.get(&format!("/v1/alerts/{id}")).await.json;
        let inputs: Vec<&str> = full["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["labels"]["input"].as_str())
            .collect();
        assert!(inputs.contains(&"syslog-tcp"), "{inputs:?}");
    }
    let _ = watch.kill();
    let _ = watch.wait();

    // A suppression for one address: its brute force raises nothing, and is counted.
    let out = server.cli(&[
        "alerts",
        "suppress",
        "add",
        "--rule",
        "*",
        "--field",
        "source.ip",
        "--value",
        "203.0.113.9",
        "--reason",
        "our own penetration test",
        "--expires",
        &webqx_store::time::rfc3339(webqx_store::now_ms() + 3_600_000),
    ]);
    assert!(out.status.success(), "{out:?}");
    let suppressed_before = metric(&http, "webqx_monitor_suppressed_total").await;
    let burst = |ip: &str, pid: u32| -> Vec<String> {
        (0..12)
            .map(|i| {
                format!(
                    "Dec 11 09:00:{i:02} gw sshd[{pid}]: Failed password for root from {ip} port {} ssh2",
                    40000 + i
                )
            })
            .collect()
    };
    send_syslog(syslog_port, &burst("203.0.113.9", 900));
    send_syslog(syslog_port, &burst("203.0.113.10", 901));
    let alerts = http
        .wait_alerts("the unsuppressed brute force", |a| {
            !of(a, BRUTE_FORCE, "203.0.113.10").is_empty()
        })
        .await;
    assert!(
        of(&alerts, BRUTE_FORCE, "203.0.113.9").is_empty(),
        "suppressed"
    );
    assert!(
        metric(&http, "webqx_monitor_suppressed_total").await > suppressed_before,
        "suppressed findings are counted"
    );

    // Rules are listed and a suppression names its rule as people do: by title, or by
    // an alert it should have silenced (rule and value taken from the alert).
    let table = stdout(&server.cli(&["alerts", "rules"]));
    assert!(
        table.contains(BRUTE_FORCE) && table.contains("SSH Brute Force From One Source"),
        "{table}"
    );
    let listed: Value =
        serde_json::from_slice(&server.cli(&["--json", "alerts", "rules"]).stdout).unwrap();
    let rules = listed["rules"].as_array().unwrap();
    assert!(
        rules
            .iter()
            .any(|r| r["id"] == "oauth-auth-failures" && r["kind"] == "component")
    );
    assert!(
        rules
            .iter()
            .any(|r| r["name"] == "webqx_ssh_failed_password" && r["alerts"] == false)
    );
    let add = |which: &[&str], value: Option<&str>, expires: &str| {
        let mut args = vec!["--json", "alerts", "suppress", "add"];
        args.extend_from_slice(which);
        args.extend(["--field", "source.ip", "--reason", "partner jump host"]);
        if let Some(v) = value {
            args.extend(["--value", v]);
        }
        args.extend(["--expires", expires]);
        server.cli(&args)
    };
    let out = add(&["--rule", "no such rule"], Some("203.0.113.11"), "1d");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("alerts rules"),
        "the error says where to look: {err}"
    );
    let out = add(
        &["--rule", "ssh brute force FROM one source"],
        Some("203.0.113.11"),
        "1d",
    );
    assert!(out.status.success(), "{out:?}");
    let made: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(made["rule_id"], BRUTE_FORCE, "stored by id: {made}");
    assert_eq!(made["rule_title"], "SSH Brute Force From One Source");
    let alert = &of(&alerts, BRUTE_FORCE, "203.0.113.10")[0];
    let out = add(&["--alert", alert["id"].as_str().unwrap()], None, "2h");
    assert!(out.status.success(), "{out:?}");
    let made: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&made["rule_id"], &made["value"]),
        (&json!(BRUTE_FORCE), &json!("203.0.113.10")),
        "{made}"
    );
    let expires = chrono::DateTime::parse_from_rfc3339(made["expires_at"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    let ahead = expires - webqx_store::now_ms();
    assert!(
        (7_000_000..=7_200_000).contains(&ahead),
        "2h from now: {made}"
    );
    let out = add(&["--rule", BRUTE_FORCE], None, "2h");
    assert!(!out.status.success(), "--value is required with --rule");
    let out = add(&["--rule", BRUTE_FORCE], Some("203.0.113.12"), "soon");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("30d"), "{err}");

    // EHR privacy: a VIP patient's record read without a care relationship.
    let put = |kind: &str, doc: Value| {
        let http = http.clone();
        let kind = kind.to_owned();
        async move {
            http.send(
                "PUT",
                &format!("/v1/monitor/context/{kind}"),
                Some((doc.to_string().into_bytes(), "application/json")),
            )
            .await
        }
    };
    let r = put("patients", json!([{"id": "42", "flags": ["famous"]}])).await;
    assert_eq!(r.status, 400, "an unknown flag is refused: {}", r.text);
    assert!(!r.text.contains("famous"), "{}", r.text);
    let r = put("patients", json!([{"id": "42", "flags": ["vip"]}])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = put(
        "users",
        json!({"Practitioner/7": {"name": "Ann", "department": "cardiology"}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let post_audit = |event: Value| {
        let http = http.clone();
        async move {
            let r = http
                .send(
                    "POST",
                    "/v1/audit/events",
                    Some((event.to_string().into_bytes(), "application/fhir+json")),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
        }
    };
    // Monday 10:00 UTC: inside working hours.
    post_audit(audit_event("a1", "2026-12-07T10:00:00Z")).await;
    let alerts = http
        .wait_alerts("the VIP access alert", |a| {
            a.iter().any(|x| x["rule_id"] == FLAGGED)
        })
        .await;
    let vip: Vec<&Value> = alerts.iter().filter(|x| x["rule_id"] == FLAGGED).collect();
    assert_eq!(vip.len(), 1);
    assert_eq!(vip[0]["count"], 1);
    assert_eq!(vip[0]["events"][0]["ehr"]["patient"]["id"], "42");
    assert_eq!(vip[0]["events"][0]["labels"]["input"], "audit");
    let vip_id = vip[0]["id"].clone();

    // The same access with a care relationship: explained, no alert.
    let r = put(
        "care",
        json!([{"user_id": "Practitioner/7", "patient_id": "42"}]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    post_audit(audit_event("a2", "2026-12-07T10:05:00Z")).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let export = stdout(&server.cli(&["audit", "export"]));
        if export.contains("access.explained") {
            break;
        }
        assert!(Instant::now() < deadline, "no access.explained record");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(metric(&http, "webqx_monitor_explained_total").await >= 1.0);
    let alerts = http.alerts().await;
    let vip: Vec<&Value> = alerts.iter().filter(|x| x["rule_id"] == FLAGGED).collect();
    assert_eq!(vip.len(), 1, "no new alert");
    assert_eq!(vip[0]["id"], vip_id);
    assert_eq!(vip[0]["count"], 1, "the explained access did not add to it");

    // Refused bearer tokens: our own auth.authenticate failures reach the token-abuse
    // correlation (20 within 5 minutes from one address).
    let wrong = http.with_token(Some("wqx_not_a_token"));
    for _ in 0..25 {
        assert_eq!(wrong.get("/v1/keys").await.status, 401);
    }
    let alerts = http
        .wait_alerts("the invalid token burst", |a| {
            a.iter().any(|x| x["rule_id"] == TOKEN_BURST)
        })
        .await;
    let burst = alerts.iter().find(|x| x["rule_id"] == TOKEN_BURST).unwrap();
    assert_eq!(burst["group_key"], "127.0.0.1");
    assert_eq!(burst["events"][0]["event"]["dataset"], "webqx.audit");
    assert_eq!(burst["events"][0]["event"]["action"], "auth.authenticate");
    assert_eq!(burst["events"][0]["event"]["outcome"], "failure");

    // A WAF record with a script in a cookie: the XSS rule sees the cookie, the stored
    // alert keeps neither the session cookie's value nor the bearer token.
    let record = json!({"transaction": {
        "client_ip": "198.51.100.61", "client_port": 40061, "host_ip": "192.0.2.1",
        "host_port": 443, "time_stamp": "Mon Dec  7 10:30:00 2026", "unique_id": "u61",
        "request": {"method": "GET", "http_version": 1.1, "uri": "/portal?access_token=T0K3N",
            "headers": {"Host": "ehr.example.org", "Authorization": "Bearer B34R3R",
                "Cookie": "sid=S3SS10N; pref=%3Cscript%3Ealert(1)%3C%2Fscript%3E"}},
        "response": {"http_code": 200}, "messages": []}});
    let r = http.post("/v1/events", record).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let alerts = http
        .wait_alerts("the XSS alert from the WAF record", |a| {
            !of(a, XSS, "198.51.100.61").is_empty()
        })
        .await;
    let id = of(&alerts, XSS, "198.51.100.61")[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let full = http.get(&format!("/v1/alerts/{id}")).await.text;
    for secret in ["S3SS10N", "B34R3R", "T0K3N", "<script>"] {
        assert!(!full.contains(secret), "{secret} kept in the alert: {full}");
    }
    assert!(full.contains("sid=[redacted]"), "{full}");
}

#[test]
fn a_bad_site_rule_refuses_start_up_and_config_check_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("broken.yml"), "title: [unclosed\n").unwrap();
    let config = dir.path().join("webqx-sec.toml");
    std::fs::write(
        &config,
        format!("[monitor]\nrules_dir = \"{}\"\n", rules.display()),
    )
    .unwrap();
    let (ok, text) = config_check(&config);
    assert!(!ok, "{text}");
    assert!(text.contains("broken.yml"), "{text}");
    assert!(
        text.contains("webqx-sec.toml:2:"),
        "the rules_dir line: {text}"
    );
    assert!(text.contains("not a valid Sigma rule"), "{text}");
    // The server refuses to start with it.
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("broken.yml")
            || String::from_utf8_lossy(&out.stdout).contains("broken.yml"),
        "{out:?}"
    );

    // A site rule that takes a built-in rule's id, or a component alert's, is refused:
    // its alerts and suppressions would be taken for the other rule's.
    for taken in [BRUTE_FORCE, "oauth-auth-failures"] {
        std::fs::write(
            rules.join("broken.yml"),
            format!(
                "title: Shadow\nid: {taken}\nlogsource:\n  product: linux\n  service: sshd\n\
                 detection:\n  sel:\n    message: shadow\n  condition: sel\n"
            ),
        )
        .unwrap();
        let (ok, text) = config_check(&config);
        assert!(!ok, "{taken}: {text}");
        assert!(
            text.contains("two rules have the id")
                && text.contains(taken)
                && text.contains("Shadow"),
            "{text}"
        );
    }
}

/// rules/ehr/ehr_volume_above_baseline.yml.
const VOLUME: &str = "8b5ab3a4-49c8-4951-a03b-1690173d3c3f";

/// The EHR volume baseline is saved (`state_save_interval`) and survives `kill -9`: after
/// a restart, a user with 40 accesses a day on three days is alerted at the 200th access
/// of the fourth (5x their own 40), not at the 100th (5x the floor of 20, which is all a
/// forgotten baseline would leave).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ehr_volume_baseline_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("webqx-sec.toml");
    std::fs::write(
        &config,
        "[monitor]\npoll_interval = \"100ms\"\nstate_save_interval = \"1s\"\n",
    )
    .unwrap();
    let mut server = Server::start(
        BIN,
        &[("WEBQX_CONFIG".to_string(), config.display().to_string())],
    );
    let post = |http: Http, id: String, time: String| async move {
        let event = audit_event(&id, &time);
        let r = http
            .send(
                "POST",
                "/v1/audit/events",
                Some((event.to_string().into_bytes(), "application/fhir+json")),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    };
    // Monday to Wednesday, 40 reads a day in working hours.
    let http = server.http();
    for day in ["2026-11-30", "2026-12-01", "2026-12-02"] {
        for i in 0..40 {
            post(
                http.clone(),
                format!("{day}-{i}"),
                format!("{day}T10:{i:02}:00Z"),
            )
            .await;
        }
    }
    // Saved on the first event after `state_save_interval`: wait for a save after it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let saves = metric(&http, "webqx_monitor_state_saves_total").await;
    post(http.clone(), "late".into(), "2026-12-02T11:00:00Z".into()).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while metric(&http, "webqx_monitor_state_saves_total").await <= saves {
        assert!(Instant::now() < deadline, "the baseline was never saved");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.kill9();
    server.spawn();

    // Thursday: 210 reads, one a second from 10:00:00.
    let http = server.http();
    for i in 0..210 {
        let time = format!("2026-12-03T10:{:02}:{:02}Z", i / 60, i % 60);
        post(http.clone(), format!("thu-{i}"), time).await;
    }
    let alerts = http
        .wait_alerts("the volume alert", |a| {
            a.iter().any(|x| x["rule_id"] == VOLUME)
        })
        .await;
    let volume = alerts.iter().find(|x| x["rule_id"] == VOLUME).unwrap();
    let first = &volume["events"][0];
    assert!(
        first["@timestamp"]
            .as_str()
            .unwrap_or_default()
            .starts_with("2026-12-03T10:03:19"),
        "raised at the 200th access (10:03:19), not the 100th (10:01:39): {first:#}"
    );
    assert_eq!(first["ehr"]["user"]["volume_ratio"], 5.0, "{first:#}");
}

/// `webqx-sec config check CONFIG`: whether it passed, and what it printed.
fn config_check(config: &std::path::Path) -> (bool, String) {
    let out = Command::new(BIN)
        .args(["config", "check"])
        .arg(config)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}
