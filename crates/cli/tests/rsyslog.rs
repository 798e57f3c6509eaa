//! SIEM delivery to a real receiver: rsyslog (Debian's `rsyslogd` with the GnuTLS
//! network driver) listening for RFC 5425 syslog over TLS on 127.0.0.1, with a
//! certificate from our CA. Every record must arrive intact; while rsyslog is stopped
//! under steady API load nothing may be lost and requests must not slow down.
//!
//! Also the other direction: IHE ATNA messages sent to our syslog listener by a real
//! client (`logger` from util-linux, RFC 5424 with octet counting).

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use webqx_testkit::free_port;
use webqx_testkit::server::{Server, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_webqx-sec");

fn tool(path: &str) -> bool {
    let present = Path::new(path).exists();
    if !present && std::env::var_os("CI").is_some() {
        panic!("{path} is missing; .ci/run installs it");
    }
    present
}

/// A private rsyslogd: TLS listener on `port`, every message's MSG to `out.log`.
struct Rsyslog {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Rsyslog {
    fn new(dir: &Path, port: u16) -> Rsyslog {
        let ca = webqx_pki::new_local_ca("rsyslog test CA").expect("ca");
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let leaf = webqx_pki::issue_server(&ca, &names, 30).expect("leaf");
        std::fs::create_dir_all(dir.join("work")).unwrap();
        std::fs::write(dir.join("ca.pem"), &ca.cert_pem).unwrap();
        std::fs::write(dir.join("cert.pem"), &leaf.cert_pem).unwrap();
        std::fs::write(dir.join("key.pem"), leaf.key_pem.expose()).unwrap();
        let d = dir.display();
        let conf = format!(
            r#"global(workDirectory="{d}/work" maxMessageSize="256k"
       DefaultNetstreamDriver="gtls"
       DefaultNetstreamDriverCAFile="{d}/ca.pem"
       DefaultNetstreamDriverCertFile="{d}/cert.pem"
       DefaultNetstreamDriverKeyFile="{d}/key.pem")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
input(type="imtcp" address="127.0.0.1" port="{port}")
template(name="line" type="string" string="%msgid%|%structured-data%|%msg%\n")
action(type="omfile" file="{d}/out.log" template="line")
"#
        );
        std::fs::write(dir.join("rsyslog.conf"), conf).unwrap();
        Rsyslog {
            dir: dir.into(),
            port,
            child: None,
        }
    }

    fn start(&mut self) {
        let child = Command::new("/usr/sbin/rsyslogd")
            .args(["-n", "-f"])
            .arg(self.dir.join("rsyslog.conf"))
            .arg("-i")
            .arg(self.dir.join("rsyslog.pid"))
            .stderr(std::fs::File::create(self.dir.join("rsyslogd.err")).unwrap())
            .spawn()
            .expect("rsyslogd starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "rsyslogd did not listen: {}",
                self.errors()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let _ = c.wait();
        }
    }

    fn errors(&self) -> String {
        std::fs::read_to_string(self.dir.join("rsyslogd.err")).unwrap_or_default()
    }

    /// The records received: id → every MSG received with it (duplicates kept).
    fn received(&self) -> BTreeMap<String, Vec<String>> {
        let text = std::fs::read_to_string(self.dir.join("out.log")).unwrap_or_default();
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in text.lines() {
            let mut parts = line.splitn(3, '|');
            let (Some(msgid), Some(sd), Some(msg)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            assert_eq!(msgid, "webqx-audit", "{line}");
            let id = sd
                .split("id=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_default()
                .to_owned();
            out.entry(id).or_default().push(msg.trim_start().to_owned());
        }
        out
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The trail as exported (jsonl), by record id.
fn trail(server: &Server) -> BTreeMap<String, String> {
    let out = server.cli(&["audit", "export"]);
    assert!(out.status.success());
    stdout(&out)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["id"].as_str().unwrap().to_owned(), l.to_owned())
        })
        .collect()
}

/// Waits until every record of the trail (as exported now) is in rsyslog's output.
fn wait_delivered(
    server: &Server,
    rsyslog: &Rsyslog,
) -> (BTreeMap<String, String>, BTreeMap<String, Vec<String>>) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let records = trail(server);
        let got = rsyslog.received();
        if records.keys().all(|id| got.contains_key(id)) {
            return (records, got);
        }
        let missing = records.keys().filter(|id| !got.contains_key(*id)).count();
        assert!(
            Instant::now() < deadline,
            "{missing} of {} records never reached rsyslog; server log:\n{}\nrsyslog:\n{}",
            records.len(),
            server.log(),
            rsyslog.errors()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Sends `n` encrypt requests from 4 concurrent clients; returns each latency.
async fn load(server: &Server, n: usize) -> Vec<Duration> {
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let http = server.http();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            for _ in 0..n / 4 {
                let started = Instant::now();
                let r = http
                    .post("/v1/keys/phi/encrypt", json!({"plaintext": "cGhp"}))
                    .await;
                assert_eq!(r.status, 200, "{}", r.text);
                lat.push(started.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    all
}

fn p99(lat: &[Duration]) -> Duration {
    lat[(lat.len() * 99 / 100).min(lat.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_over_tls_receives_every_record_intact_and_nothing_is_lost_while_it_is_down() {
    if !tool("/usr/sbin/rsyslogd") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut rsyslog = Rsyslog::new(&dir.path().join("rsyslog"), port);
    rsyslog.start();
    let config = dir.path().join("webqx-sec.toml");
    std::fs::write(
        &config,
        format!(
            r#"[[audit.sinks]]
name = "rsyslog"
type = "syslog"
transport = "tls"
address = "127.0.0.1:{port}"
server_name = "localhost"
ca_file = "{}"
retry_initial = "100ms"
retry_max = "500ms"
"#,
            dir.path().join("rsyslog/ca.pem").display()
        ),
    )
    .unwrap();
    let server = Server::start(
        BIN,
        &[("WEBQX_CONFIG".to_string(), config.display().to_string())],
    );
    let http = server.http();
    assert_eq!(
        http.post("/v1/keys", json!({"name": "phi"})).await.status,
        201
    );

    // Steady state: every record arrives, byte for byte as the jsonl export has it.
    let baseline = load(&server, 200).await;
    let (records, got) = wait_delivered(&server, &rsyslog);
    for (id, line) in &records {
        assert!(
            got[id].iter().all(|m| m == line),
            "record {id} arrived altered:\n sent {line}\n got {:?}",
            got[id]
        );
    }

    // rsyslog down under the same load: requests keep their speed, records wait.
    rsyslog.stop();
    let outage = load(&server, 200).await;
    let status = http.get("/v1/audit/sinks").await;
    let sink = &status.json["sinks"][0];
    assert!(sink["spooled"].as_u64().unwrap() > 0, "{}", status.text);
    assert_ne!(sink["state"], "full", "{}", status.text);
    eprintln!(
        "encrypt p99: {:?} with rsyslog up, {:?} with it down ({} requests each)",
        p99(&baseline),
        p99(&outage),
        outage.len()
    );
    assert!(
        p99(&outage) < Duration::from_secs(1),
        "a sink that is down slowed requests: p99 {:?} (up: {:?})",
        p99(&outage),
        p99(&baseline)
    );

    // Back up: everything written meanwhile arrives; nothing lost, nothing altered.
    rsyslog.start();
    let (records, got) = wait_delivered(&server, &rsyslog);
    let received: BTreeSet<&String> = got.keys().collect();
    let sent: BTreeSet<&String> = records.keys().collect();
    assert!(sent.is_subset(&received));
    assert!(
        received.iter().all(|id| records.contains_key(*id)),
        "rsyslog holds ids the trail lacks"
    );
    let duplicates: usize = got.values().map(|v| v.len() - 1).sum();
    eprintln!(
        "{} records delivered, {} duplicate deliveries (at-least-once; de-duplicate on id)",
        records.len(),
        duplicates
    );
    for (id, line) in &records {
        assert!(
            got[id].iter().all(|m| m == line),
            "record {id} arrived altered"
        );
    }
}

#[test]
fn atna_messages_sent_by_logger_join_the_trail_and_malformed_xml_is_refused_whole() {
    if !tool("/usr/bin/logger") {
        return;
    }
    let Some(dir) = webqx_testkit::shared_data("fhir-audit") else {
        return;
    };
    let port = free_port();
    let server = Server::start(
        BIN,
        &[(
            "WEBQX_AUDIT_SYSLOG_TCP_LISTEN".to_string(),
            format!("127.0.0.1:{port}"),
        )],
    );
    // The ATNA rendering of the shared vread example, made by a first round through
    // the API: what an ATNA repository client would send.
    let event: Value = serde_json::from_slice(
        &std::fs::read(dir.join("LinuxForHealth-FHIR_audit-event-example-vread.json")).unwrap(),
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = server.http();
    let r = rt.block_on(http.send(
        "POST",
        "/v1/audit/events",
        Some((event.to_string().into_bytes(), "application/fhir+json")),
    ));
    assert_eq!(r.status, 200, "{}", r.text);
    let atna = stdout(&server.cli(&["audit", "export", "--format", "atna"]));
    let line = atna
        .lines()
        .find(|l| l.contains("Patient/example"))
        .expect("ATNA line");
    let xml = &line[line.find("<AuditMessage").unwrap()..];

    let send = |msg: &str| {
        let o = Command::new("/usr/bin/logger")
            .args([
                "--rfc5424",
                "--tcp",
                "--octet-count",
                "--size",
                "65536",
                "-n",
                "127.0.0.1",
                "-P",
            ])
            .arg(port.to_string())
            .args(["--msgid", "IHE+RFC-3881", "-t", "ehr", "--"])
            .arg(msg)
            .output()
            .expect("logger runs");
        assert!(
            o.status.success(),
            "logger: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    send(xml);
    send("<AuditMessage><EventIdentification EventActionCode=\"R\" & broken</AuditMessage>");

    let deadline = Instant::now() + Duration::from_secs(30);
    let (accepted, rejected) = loop {
        let export = stdout(&server.cli(&["audit", "export"]));
        let records: Vec<Value> = export
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let via_syslog = |outcome: &str| {
            records
                .iter()
                .filter(|r| r["details"]["via"] == "syslog-tcp" && r["outcome"] == outcome)
                .cloned()
                .collect::<Vec<_>>()
        };
        let (a, f) = (via_syslog("success"), via_syslog("failure"));
        if !a.is_empty() && !f.is_empty() {
            break (a, f);
        }
        assert!(
            Instant::now() < deadline,
            "ATNA messages not recorded:\n{export}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0]["action"], "ehr.rest.vread");
    assert_eq!(accepted[0]["target"], "Patient/example/_history/1");
    assert!(accepted[0]["hmac"]["patient"].is_string());
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["action"], "audit.intake");
    assert!(
        rejected[0].get("event").is_none(),
        "a malformed message is never half-stored"
    );
    let problem = rejected[0]["details"]["problem"].as_str().unwrap();
    assert!(problem.to_lowercase().contains("xml"), "{problem}");
    assert!(
        !problem.contains("broken"),
        "the reason must not echo content: {problem}"
    );
}
