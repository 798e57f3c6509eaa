//! The certificate lifecycle watch with the real binary and real `openssl`: a
//! certificate made by `openssl ca` (valid from 60 days ago until 10 days from now) is
//! watched as a file (`[[pki.watch]]`) and as a live endpoint served by
//! `openssl s_server` (`cert watch add`); `cert inventory` lists them and a certificate
//! our CA issued, with days left; the expiry alert for the 14-day threshold is raised
//! once per certificate and source, as an audit record `alert.raised`.
//!
//! Under `CI=1` a missing `openssl` fails the test; otherwise it is skipped loudly.

use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use webqx_testkit::free_port;
use webqx_testkit::server::{Server, stderr, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_webqx-sec");

fn have_openssl() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "openssl missing; .ci/run installs it"
        );
        eprintln!("*** SKIPPED: openssl not installed ***");
    }
    ok
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A certificate valid from 60 days ago to 10 days ahead, signed by a throwaway CA
/// with `openssl ca` (the only openssl 3.0 tool that sets a past start date).
fn expiring_cert(dir: &Path) -> String {
    let cnf = format!(
        "[ca]\ndefault_ca = d\n[d]\ndatabase = {d}/index.txt\nnew_certs_dir = {d}\n\
         serial = {d}/serial\ncertificate = {d}/ca.pem\nprivate_key = {d}/ca.key\n\
         default_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n",
        d = dir.display()
    );
    std::fs::write(dir.join("ca.cnf"), cnf).unwrap();
    std::fs::write(dir.join("index.txt"), "").unwrap();
    std::fs::write(dir.join("serial"), "5a17\n").unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-subj",
        "/CN=Partner CA",
        "-days",
        "365",
    ]);
    openssl(dir, &ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=lab.partner.test",
    ]);
    openssl(dir, &csr);
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y%m%d%H%M%SZ").to_string();
    let now = chrono::Utc::now();
    let start = fmt(now - chrono::Duration::days(60));
    let end = fmt(now + chrono::Duration::days(10) + chrono::Duration::hours(1));
    openssl(
        dir,
        &[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-in",
            "leaf.csr",
            "-out",
            "leaf.pem",
            "-startdate",
            &start,
            "-enddate",
            &end,
            "-notext",
        ],
    );
    "5a17".into()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn alerts(server: &Server) -> Vec<Value> {
    let out = server.cli(&["audit", "export", "--format", "jsonl"]);
    stdout(&out)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["action"] == "alert.raised")
        .collect()
}

#[test]
fn watched_and_issued_certificates_are_inventoried_and_alerted_once_per_threshold() {
    if have_openssl() {
        scenario(&[]);
    }
}

/// The same on PostgreSQL (when `WEBQX_TEST_POSTGRES` is set; CI sets it).
#[test]
fn lifecycle_on_postgresql() {
    if let Some(env) = webqx_testkit::server::postgres_env()
        && have_openssl()
    {
        scenario(&env);
    }
}

fn scenario(extra: &[(String, String)]) {
    let dir = tempfile::tempdir().unwrap();
    let serial = expiring_cert(dir.path());
    let leaf = dir.path().join("leaf.pem");
    let config = dir.path().join("webqx-sec.toml");
    std::fs::write(
        &config,
        format!(
            "[pki]\nwatch_every = \"1s\"\nexpiry_alert_days = [30, 14, 7]\n\
             [[pki.watch]]\nfile = \"{}\"\n",
            leaf.display()
        ),
    )
    .unwrap();
    let mut env = vec![("WEBQX_CONFIG".to_string(), config.display().to_string())];
    env.extend(extra.iter().cloned());
    let server = Server::start(BIN, &env);

    // The same certificate served by a real TLS server, watched through the API.
    let port = free_port();
    let _s_server = Killed(
        Command::new("openssl")
            .current_dir(dir.path())
            .args([
                "s_server", "-cert", "leaf.pem", "-key", "leaf.key", "-accept",
            ])
            .arg(port.to_string())
            .args(["-www", "-quiet"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let endpoint = format!("127.0.0.1:{port}");
    let out = server.cli(&["cert", "watch", "add", "endpoint", &endpoint]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = server.cli(&["cert", "issue", "svc.localhost", "--ttl", "15d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Renewed: the later certificate for the same names supersedes the first.
    let out = server.cli(&["cert", "issue", "svc.localhost", "--ttl", "20d"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // Both sources alert once, at the 14-day threshold (30 is crossed too: one alert).
    let deadline = Instant::now() + Duration::from_secs(30);
    let raised = loop {
        let a = alerts(&server);
        if a.len() >= 2 {
            break a;
        }
        assert!(
            Instant::now() < deadline,
            "alerts so far {a:?}; log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    for a in &raised {
        let d = &a["details"];
        assert_eq!(d["rule"], "cert-expiring", "{a}");
        assert_eq!(d["serial"], serial.as_str(), "{a}");
        assert_eq!(d["threshold_days"], 14, "{a}");
        assert_eq!(d["severity"], "medium", "{a}");
        assert!(
            d["subject"].as_str().unwrap().contains("lab.partner.test"),
            "{a}"
        );
        assert!(matches!(d["days_left"].as_i64(), Some(9 | 10)), "{a}");
    }
    let sources: Vec<&str> = raised
        .iter()
        .filter_map(|a| a["details"]["source"].as_str())
        .collect();
    assert!(
        sources.contains(&format!("file:{}", leaf.display()).as_str()),
        "{sources:?}"
    );
    assert!(
        sources.contains(&format!("endpoint:{endpoint}").as_str()),
        "{sources:?}"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        alerts(&server).len(),
        2,
        "each threshold is alerted once per certificate"
    );

    // Both are stored alerts too, carrying their audit records' ids: listed like a
    // detection, one per certificate source (the same serial groups them into one),
    // with the certificate and where it was seen as event fields.
    let out = server.cli(&["--json", "alerts", "list", "--rule", "cert-expiring"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let stored = listed["alerts"].as_array().unwrap();
    let ids: Vec<&str> = raised
        .iter()
        .filter_map(|a| a["details"]["alert_id"].as_str())
        .collect();
    assert_eq!(ids.len(), 2, "the records name their alerts: {raised:?}");
    assert!(
        stored
            .iter()
            .all(|a| ids.contains(&a["id"].as_str().unwrap_or(""))),
        "{listed:#}"
    );
    let alert = &stored[0];
    assert_eq!(alert["severity"], "medium", "{alert:#}");
    assert_eq!(alert["group_key"], format!("x509.serial_number={serial}"));
    assert!(
        alert["tags"].to_string().contains("hipaa.164.312.e.1"),
        "{alert:#}"
    );
    let events = alert["events"].as_array().unwrap();
    let event = &events[events.len() - 1];
    assert_eq!(event["x509"]["serial_number"], serial.as_str(), "{alert:#}");
    assert_eq!(event["event"]["dataset"], "webqx.pki");
    let seen_at: Vec<String> = stored
        .iter()
        .flat_map(|a| a["events"].as_array().cloned().unwrap_or_default())
        .map(|e| format!("{}{}", e["file"]["path"], e["server"]["address"]))
        .collect();
    assert!(
        seen_at
            .iter()
            .any(|s| s.contains(&leaf.display().to_string()))
            && seen_at.iter().any(|s| s.contains(&endpoint)),
        "{seen_at:?}"
    );

    // The inventory: issued (20 days, no alert) and the watched certificate, days left.
    let out = server.cli(&["--json", "cert", "inventory"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let inv: Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = inv["certificates"].as_array().unwrap();
    let issued: Vec<&Value> = items
        .iter()
        .filter(|c| {
            c["subject"]
                .as_str()
                .unwrap_or("")
                .contains("svc.localhost")
        })
        .collect();
    assert_eq!(
        issued.len(),
        1,
        "the superseded certificate is left out: {issued:?}"
    );
    let issued = issued[0];
    assert_eq!(issued["source"], "issued");
    assert!(
        matches!(issued["days_left"].as_i64(), Some(19 | 20)),
        "{issued}"
    );
    assert!(
        items
            .iter()
            .any(|c| c["source"] == format!("endpoint:{endpoint}").as_str())
    );
    let table = stdout(&server.cli(&["cert", "inventory"]));
    assert!(
        table.contains("DAYS LEFT") && table.contains("lab.partner.test"),
        "{table}"
    );
    let watches = stdout(&server.cli(&["cert", "watch", "list"]));
    assert!(
        watches.contains("(config)") && watches.contains("(api)"),
        "{watches}"
    );
}
