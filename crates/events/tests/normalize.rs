//! Normalization on real logs (`../shared/data`): the loghub OpenSSH sample against its
//! MANIFEST counts, both web logs line by line, the HL7 AuditEvent examples, our own
//! audit records; and hostile input (over-long, binary, invalid UTF-8, deep JSON).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};
use webqx_audit::{Entry, Outcome, RequestContext};
use webqx_events::normalize::{
    Event, Format, Options, RejectCounts, Rejected, from_audit_entry, from_audit_record,
    normalize_document, normalize_line,
};

fn options() -> Options {
    Options {
        year: 2026,
        ..Options::default()
    }
}

fn shared_lines(relative: &str) -> Option<Vec<String>> {
    let path = webqx_testkit::shared_data(relative)?;
    let text = std::fs::read(path).expect("read shared data");
    Some(
        String::from_utf8_lossy(&text)
            .lines()
            .map(str::to_owned)
            .collect(),
    )
}

fn line(text: &str, format: Format) -> Event {
    normalize_line(text.as_bytes(), format, &options()).expect("normalizes")
}

fn s<'a>(event: &'a Event, path: &str) -> Option<&'a str> {
    event.get_str(path)
}

// ------------------------------------------------------------------ OpenSSH (loghub)

#[test]
fn loghub_openssh_counts_match_the_manifest() {
    let Some(lines) = shared_lines("ssh-logs/loghub_OpenSSH_2k.log") else {
        return;
    };
    assert_eq!(lines.len(), 2000);
    let events: Vec<Event> = lines.iter().map(|l| line(l, Format::Syslog)).collect();
    let action = |e: &Event| s(e, "event.action").unwrap_or_default().to_owned();
    let with = |name: &str| {
        events
            .iter()
            .filter(|e| action(e) == name)
            .collect::<Vec<_>>()
    };

    let failed = with("ssh_failed_password");
    assert_eq!(failed.len(), 520, "Failed password lines");
    let hidden: u64 = failed
        .iter()
        .filter_map(|e| e.get("event.count").and_then(Value::as_u64))
        .sum();
    assert_eq!(hidden, 10, "two 'message repeated 5 times' lines");
    let invalid = failed
        .iter()
        .filter(|e| e.get("user.valid") == Some(&json!(false)))
        .count();
    assert_eq!(invalid, 135, "failed passwords for invalid users");
    assert_eq!(with("ssh_invalid_user").len(), 113);
    assert_eq!(with("ssh_break_in_attempt").len(), 85);
    assert!(
        with("ssh_break_in_attempt")
            .iter()
            .all(|e| e.has("source.ip"))
    );

    let logins = with("ssh_login");
    assert_eq!(logins.len(), 1);
    let login = logins[0];
    assert_eq!(s(login, "user.name"), Some("fztu"));
    assert_eq!(s(login, "source.ip"), Some("119.137.62.142"));
    assert_eq!(s(login, "@timestamp"), Some("2026-12-10T09:32:20Z"));
    assert_eq!(s(login, "event.outcome"), Some("success"));

    let mut per_source: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &failed {
        *per_source
            .entry(s(e, "source.ip").expect("address"))
            .or_default() += 1;
    }
    assert_eq!(per_source.len(), 23, "distinct addresses failing passwords");
    for (ip, n) in [
        ("183.62.140.253", 286),
        ("187.141.143.180", 80),
        ("103.99.0.122", 46),
        ("112.95.230.3", 26),
    ] {
        assert_eq!(per_source.get(ip), Some(&n), "{ip}");
    }
    let all_ips: BTreeSet<&str> = events.iter().filter_map(|e| s(e, "source.ip")).collect();
    assert_eq!(
        all_ips.len(),
        30,
        "every IPv4 address in the file is a source somewhere"
    );

    assert!(events.iter().all(|e| s(e, "event.dataset") != Some("raw")));
    assert!(events.iter().all(|e| s(e, "host.name") == Some("LabSZ")));
    assert!(events.iter().all(|e| e.get("process.pid").is_some()));
}

#[test]
fn sshd_variants_by_hand() {
    let e = line(
        "Dec 10 07:13:56 LabSZ sshd[24227]: message repeated 5 times: [ Failed password for \
         root from 5.36.59.76 port 42393 ssh2]",
        Format::Syslog,
    );
    assert_eq!(e.get("event.count"), Some(&json!(5)));
    assert_eq!(s(&e, "source.ip"), Some("5.36.59.76"));
    assert_eq!(e.get("source.port"), Some(&json!(42393)));
    assert_eq!(
        s(&e, "message"),
        Some(
            "message repeated 5 times: [ Failed password for root from 5.36.59.76 port 42393 ssh2]"
        )
    );

    let e = line(
        "Feb 25 14:34:10 belka sshd[31603]: Failed password for invalid user ROOT from \
         AAAA:bbbb:cccc:1234::1:1 port 50273 ssh2",
        Format::Syslog,
    );
    assert_eq!(s(&e, "source.ip"), Some("aaaa:bbbb:cccc:1234::1:1"));
    assert_eq!(s(&e, "source.address"), Some("AAAA:bbbb:cccc:1234::1:1"));
    assert_eq!(s(&e, "user.name"), Some("ROOT"));
    assert_eq!(e.get("user.valid"), Some(&json!(false)));
    assert_eq!(s(&e, "ssh.method"), Some("password"));

    let e = line(
        "Nov 11 08:04:52 h sshd[2737]: Failed password for invalid user test from 10.10.1.2 \
         port 55555 ssh2 from 127.0.0.1 port 58946 ssh2",
        Format::Syslog,
    );
    assert_eq!(
        s(&e, "source.ip"),
        Some("127.0.0.1"),
        "no injection through the user"
    );
    assert_eq!(
        s(&e, "user.name"),
        Some("test from 10.10.1.2 port 55555 ssh2")
    );

    let e = line(
        "Jan  5 01:31:41 www sshd[1643]: ROOT LOGIN REFUSED FROM ::ffff:1.2.3.4",
        Format::Syslog,
    );
    assert_eq!(s(&e, "source.ip"), Some("1.2.3.4"));

    let e = line(
        "Dec 10 06:55:46 LabSZ sshd[24200]: pam_unix(sshd:auth): authentication failure; \
         logname= uid=0 euid=0 tty=ssh ruser= rhost=173.234.31.186  user=root",
        Format::Syslog,
    );
    assert_eq!(s(&e, "event.dataset"), Some("pam"));
    assert_eq!(s(&e, "event.action"), Some("pam_auth_failure"));
    assert_eq!(s(&e, "user.name"), Some("root"));
    assert_eq!(s(&e, "source.ip"), Some("173.234.31.186"));
    assert_eq!(s(&e, "process.name"), Some("sshd"));
}

#[test]
fn sudo_su_login_and_other_programs() {
    let e = line(
        "Dec 11 10:00:00 web sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; \
         COMMAND=/usr/bin/cat /etc/shadow ; echo",
        Format::Syslog,
    );
    assert_eq!(s(&e, "event.dataset"), Some("sudo"));
    assert_eq!(s(&e, "event.action"), Some("sudo_command"));
    assert_eq!(s(&e, "user.name"), Some("alice"));
    assert_eq!(s(&e, "user.target.name"), Some("root"));
    assert_eq!(s(&e, "process.working_directory"), Some("/home/alice"));
    assert_eq!(
        s(&e, "process.command_line"),
        Some("/usr/bin/cat /etc/shadow ; echo")
    );

    let e = line(
        "Dec 11 10:00:01 web sudo:      bob : 3 incorrect password attempts ; TTY=pts/1 ; \
         PWD=/tmp ; USER=root ; COMMAND=/bin/sh",
        Format::Syslog,
    );
    assert_eq!(s(&e, "event.action"), Some("sudo_auth_failure"));
    assert_eq!(s(&e, "event.outcome"), Some("failure"));
    assert_eq!(e.get("event.count"), Some(&json!(3)));

    let e = line(
        "Dec 11 10:00:02 web sudo:      eve : user NOT in sudoers ; TTY=pts/1 ; PWD=/tmp ; \
         USER=root ; COMMAND=/bin/id",
        Format::Syslog,
    );
    assert_eq!(s(&e, "event.action"), Some("sudo_auth_failure"));
    assert_eq!(s(&e, "event.reason"), Some("user NOT in sudoers"));

    let e = line(
        "Dec 11 10:00:03 web sudo: pam_unix(sudo:auth): authentication failure; logname=bob \
         uid=1000 euid=0 tty=/dev/pts/1 ruser=bob rhost=  user=bob",
        Format::Syslog,
    );
    assert_eq!(s(&e, "event.action"), Some("pam_auth_failure"));
    assert_eq!(s(&e, "pam.service"), Some("sudo"));
    assert_eq!(s(&e, "user.name"), Some("bob"));

    let e = line(
        "Dec 11 10:00:04 web su: FAILED SU (to root) bob on pts/1",
        Format::Syslog,
    );
    assert_eq!(s(&e, "event.action"), Some("su_auth_failure"));
    assert_eq!(
        (s(&e, "user.name"), s(&e, "user.target.name")),
        (Some("bob"), Some("root"))
    );

    let e = line(
        "Dec 11 10:00:05 web login[99]: FAILED LOGIN (1) on '/dev/tty1' FOR 'root', \
         Authentication failure",
        Format::Syslog,
    );
    assert_eq!(s(&e, "event.action"), Some("login_failure"));
    assert_eq!(s(&e, "user.name"), Some("root"));

    let e = line(
        "Dec 11 10:00:06 web CRON[5]: (root) CMD (run-parts)",
        Format::Syslog,
    );
    assert_eq!(s(&e, "event.dataset"), Some("syslog"));
    assert_eq!(s(&e, "process.name"), Some("CRON"));
    assert_eq!(s(&e, "message"), Some("(root) CMD (run-parts)"));
}

// ------------------------------------------------------------------ access logs

#[test]
fn every_web_log_line_parses() {
    for (file, count) in [
        ("web-logs/elastic_apache_logs_first8000.log", 8000),
        ("web-logs/ocatak_netsparker_access.log", 7314),
    ] {
        let Some(lines) = shared_lines(file) else {
            return;
        };
        assert_eq!(
            Format::detect(lines.join("\n").as_bytes()),
            Format::AccessLog,
            "{file}"
        );
        let mut parsed = 0;
        for l in lines.iter().filter(|l| !l.is_empty()) {
            let e = line(l, Format::AccessLog);
            assert_eq!(s(&e, "event.dataset"), Some("apache.access"), "{file}: {l}");
            assert!(
                e.has("http.response.status_code") && e.has("url.decoded"),
                "{l}"
            );
            parsed += 1;
        }
        assert_eq!(parsed, count, "{file}");
    }
}

#[test]
fn access_fields_on_chosen_lines() {
    let e = line(
        r#"83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /presentations/logstash-monitorama-2013/images/kibana-search.png HTTP/1.1" 200 203023 "http://semicomplete.com/presentations/logstash-monitorama-2013/" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36""#,
        Format::Auto,
    );
    assert_eq!(s(&e, "source.ip"), Some("83.149.9.216"));
    assert_eq!(s(&e, "@timestamp"), Some("2015-05-17T10:05:03Z"));
    assert_eq!(s(&e, "http.request.method"), Some("GET"));
    assert_eq!(s(&e, "http.version"), Some("1.1"));
    assert_eq!(e.get("http.response.status_code"), Some(&json!(200)));
    assert_eq!(e.get("http.response.body.bytes"), Some(&json!(203023)));
    assert_eq!(
        s(&e, "http.request.referrer"),
        Some("http://semicomplete.com/presentations/logstash-monitorama-2013/")
    );
    assert!(s(&e, "user_agent.original").is_some_and(|u| u.starts_with("Mozilla/5.0 (Mac")));
    assert_eq!(e.get("url.double_encoded"), Some(&json!(false)));

    // Netsparker's lines are wrapped in quotes and its probes are double-encoded.
    let e = line(
        r#""192.168.4.164 - - [22/Dec/2016:15:19:16 +0300] "GET /DVWA/%2522ns%253D%2522netsparker%25280x000014%2529 HTTP/1.1" 404 476 "-" "Mozilla/5.0 (Windows NT 6.3; WOW64)"""#,
        Format::AccessLog,
    );
    assert_eq!(s(&e, "source.ip"), Some("192.168.4.164"));
    assert_eq!(s(&e, "@timestamp"), Some("2016-12-22T12:19:16Z"));
    assert_eq!(
        s(&e, "url.path"),
        Some("/DVWA/%2522ns%253D%2522netsparker%25280x000014%2529")
    );
    assert_eq!(
        s(&e, "url.decoded"),
        Some(r#"/DVWA/"ns="netsparker(0x000014)"#)
    );
    assert_eq!(e.get("url.double_encoded"), Some(&json!(true)));
    assert_eq!(s(&e, "event.outcome"), Some("failure"));
    assert_eq!(e.get("http.request.referrer"), None);

    let e = line(
        r#"2001:db8::7 - admin [01/Jan/2026:00:00:00 -0500] "POST /login.php?user=a%27+or+1%3D1--&x=%2e%2e%2f HTTP/2.0" 302 - "-" "curl/8.0""#,
        Format::Auto,
    );
    assert_eq!(s(&e, "source.ip"), Some("2001:db8::7"));
    assert_eq!(s(&e, "user.name"), Some("admin"));
    assert_eq!(s(&e, "@timestamp"), Some("2026-01-01T05:00:00Z"));
    assert_eq!(s(&e, "url.query"), Some("user=a%27+or+1%3D1--&x=%2e%2e%2f"));
    assert_eq!(
        s(&e, "url.decoded"),
        Some("/login.php?user=a' or 1=1--&x=../")
    );
    assert_eq!(e.get("url.double_encoded"), Some(&json!(false)));
    assert_eq!(e.get("http.response.body.bytes"), None);

    let mut nginx = options();
    nginx.access_dataset = webqx_events::normalize::AccessDataset::Nginx;
    let e = normalize_line(
        br#"::ffff:10.0.0.1 - - [01/Jan/2026:00:00:00 +0000] "GET /%25%32%37%ff HTTP/1.0" 200 5"#,
        Format::AccessLog,
        &nginx,
    )
    .expect("normalizes");
    assert_eq!(s(&e, "event.dataset"), Some("nginx.access"));
    assert_eq!(s(&e, "source.ip"), Some("10.0.0.1"));
    assert_eq!(
        s(&e, "url.decoded"),
        Some("/'\u{fffd}"),
        "triple decoding, lossy"
    );
    assert_eq!(e.get("url.double_encoded"), Some(&json!(true)));

    let e = line(
        r#"1.2.3.4 - - [bad] "GET / HTTP/1.1" 200 1"#,
        Format::AccessLog,
    );
    assert_eq!(
        s(&e, "event.dataset"),
        Some("apache.access"),
        "a bad time is only left out"
    );
    let e = line("1.2.3.4 - - no brackets", Format::AccessLog);
    assert_eq!(s(&e, "event.dataset"), Some("raw"));
    assert!(s(&e, "error.message").is_some_and(|m| m.contains("[time]")));
}

// ------------------------------------------------------------------ FHIR AuditEvent

fn fhir_example(name: &str) -> Option<Event> {
    let path = webqx_testkit::shared_data(&format!("fhir-audit/{name}"))?;
    let bytes = std::fs::read(path).expect("read example");
    assert_eq!(Format::detect(&bytes), Format::FhirJson, "{name}");
    let mut events = normalize_document(&bytes, &options()).expect("normalizes");
    assert_eq!(events.len(), 1);
    events.pop()
}

#[test]
fn fhir_audit_examples() {
    let Some(login) = fhir_example("LinuxForHealth-FHIR_audit-event-example-login.json") else {
        return;
    };
    assert_eq!(s(&login, "event.dataset"), Some("fhir.auditevent"));
    assert_eq!(s(&login, "event.action"), Some("ehr_login"));
    assert_eq!(s(&login, "event.category"), Some("authentication"));
    assert_eq!(s(&login, "event.outcome"), Some("success"));
    assert_eq!(s(&login, "user.id"), Some("95"));
    assert_eq!(s(&login, "user.name"), Some("Grahame Grieve"));
    assert_eq!(s(&login, "source.ip"), Some("127.0.0.1"));
    assert_eq!(s(&login, "@timestamp"), Some("2013-06-20T23:41:23Z"));
    assert_eq!(s(&login, "ehr.action"), Some("E"));
    assert_eq!(s(&login, "ehr.subtype"), Some("110122"));
    assert_eq!(login.get("ehr.break_glass"), Some(&json!(false)));

    let search = fhir_example("LinuxForHealth-FHIR_audit-event-example-search.json")
        .expect("present when the first is");
    assert_eq!(s(&search, "event.action"), Some("ehr_search"));
    assert_eq!(s(&search, "ehr.subtype"), Some("search"));
    assert_eq!(
        s(&search, "ehr.query"),
        Some("http://fhir-dev.healthintersections.com.au/open/Encounter?participant=13")
    );
    assert_eq!(s(&search, "ehr.resource.type"), Some("Encounter"));

    let vread = fhir_example("LinuxForHealth-FHIR_audit-event-example-vread.json")
        .expect("present when the first is");
    assert_eq!(s(&vread, "event.action"), Some("ehr_read"));
    assert_eq!(s(&vread, "ehr.subtype"), Some("vread"));
    assert_eq!(s(&vread, "ehr.action"), Some("R"));
    assert_eq!(
        s(&vread, "ehr.patient.reference"),
        Some("Patient/example/_history/1")
    );
    assert_eq!(s(&vread, "ehr.patient.id"), Some("example"));
    assert_eq!(s(&vread, "ehr.resource.type"), Some("Patient"));
    assert_eq!(s(&vread, "event.outcome"), Some("success"));

    let error = fhir_example("LinuxForHealth-FHIR_auditevent-example-error.json")
        .expect("present when the first is");
    assert_eq!(s(&error, "event.action"), Some("ehr_create"));
    assert_eq!(s(&error, "event.outcome"), Some("failure"));
    assert_eq!(s(&error, "event.type"), Some("creation"));
    assert_eq!(s(&error, "ehr.action"), Some("C"));
}

#[test]
fn fhir_break_glass_on_one_line_and_in_a_bundle() {
    let audit = json!({
        "resourceType": "AuditEvent",
        "type": {"code": "rest"}, "subtype": [{"code": "read"}], "action": "R",
        "recorded": "2026-03-01T02:00:00+01:00", "outcome": "4",
        "purposeOfEvent": [{"coding": [{"code": "ETREAT"}]}],
        "agent": [{"who": {"reference": "Practitioner/7"}, "requestor": true,
                   "network": {"address": "2001:db8::1", "type": "2"}}],
        "entity": [{"what": {"reference": "Patient/42"}}],
    });
    let e = line(&audit.to_string(), Format::Auto);
    assert_eq!(s(&e, "@timestamp"), Some("2026-03-01T01:00:00Z"));
    assert_eq!(e.get("ehr.purpose"), Some(&json!(["ETREAT"])));
    assert_eq!(e.get("ehr.break_glass"), Some(&json!(true)));
    assert_eq!(s(&e, "ehr.patient.id"), Some("42"));
    assert_eq!(s(&e, "user.id"), Some("Practitioner/7"));
    assert_eq!(s(&e, "source.ip"), Some("2001:db8::1"));
    assert_eq!(s(&e, "event.outcome"), Some("failure"));

    let bundle = json!({"resourceType": "Bundle", "type": "collection",
        "entry": [{"resource": audit}, {"resource": {"resourceType": "AuditEvent", "action": "D"}}]});
    let events = normalize_document(bundle.to_string().as_bytes(), &options()).expect("ok");
    assert_eq!(events.len(), 2);
    assert_eq!(s(&events[1], "event.action"), Some("ehr_delete"));
    assert_eq!(s(&events[1], "event.outcome"), Some("unknown"));
}

#[test]
fn fhir_break_glass_reason_is_the_purpose_text() {
    let with = |purpose: Value| {
        let audit = json!({
            "resourceType": "AuditEvent", "action": "R",
            "recorded": "2026-03-01T02:00:00Z",
            "purposeOfEvent": [purpose],
            "agent": [{"who": {"reference": "Practitioner/7"}, "requestor": true,
                       "purposeOfUse": [{"coding": [{"code": "TREAT"}], "text": "routine"}]}],
            "entity": [{"what": {"reference": "Patient/42"}}],
        });
        line(&audit.to_string(), Format::Auto)
    };
    // Break-glass with a reason typed by the user: kept.
    let e = with(json!({"coding": [{"code": "BTG"}], "text": "  unconscious patient in ED  "}));
    assert_eq!(e.get("ehr.break_glass"), Some(&json!(true)));
    assert_eq!(
        s(&e, "ehr.break_glass_reason"),
        Some("unconscious patient in ED")
    );
    // Break-glass with a blank text: the agent's purposeOfUse text is the reason.
    let e = with(json!({"coding": [{"code": "ETREAT"}], "text": "   "}));
    assert_eq!(s(&e, "ehr.break_glass_reason"), Some("routine"));
    // Break-glass with no text anywhere: no reason.
    let audit = json!({"resourceType": "AuditEvent", "action": "R",
        "purposeOfEvent": [{"coding": [{"code": "BTG"}]}],
        "agent": [{"who": {"reference": "Practitioner/7"}}]});
    let e = line(&audit.to_string(), Format::Auto);
    assert_eq!(e.get("ehr.break_glass"), Some(&json!(true)));
    assert_eq!(e.get("ehr.break_glass_reason"), None);
    // Not break-glass: a purpose text is not a break-glass reason.
    let e = with(json!({"coding": [{"code": "TREAT"}], "text": "follow-up"}));
    assert_eq!(e.get("ehr.break_glass"), Some(&json!(false)));
    assert_eq!(e.get("ehr.break_glass_reason"), None);
}

// ------------------------------------------------------------------ our audit records

#[test]
fn our_audit_records_and_trail_entries() {
    let context = RequestContext {
        request_id: "req-1".into(),
        actor: "token:abc".into(),
        source: Some("::ffff:192.0.2.9".into()),
        purpose: None,
    };
    let mut record = context.record("key.decrypt", Some("key:phi".into()));
    record.detail("key", "phi").detail("version", 3);
    record.fail(Outcome::Denied, "forbidden");
    let e = from_audit_record(&record, Some("2026-12-05T10:00:00Z"));
    assert_eq!(s(&e, "event.dataset"), Some("webqx.audit"));
    assert_eq!(s(&e, "event.action"), Some("key.decrypt"));
    assert_eq!(s(&e, "event.outcome"), Some("failure"));
    assert_eq!(s(&e, "event.type"), Some("denied"));
    assert_eq!(s(&e, "user.name"), Some("token:abc"));
    assert_eq!(s(&e, "source.ip"), Some("192.0.2.9"));
    assert_eq!(s(&e, "webqx.key"), Some("phi"));
    assert_eq!(e.get("webqx.version"), Some(&json!(3)));
    assert_eq!(s(&e, "webqx.target"), Some("key:phi"));
    assert_eq!(s(&e, "webqx.reason"), Some("forbidden"));
    assert_eq!(s(&e, "@timestamp"), Some("2026-12-05T10:00:00Z"));

    let entry = Entry {
        v: 1,
        seq: 7,
        id: "0193a0b0-0000-7000-8000-000000000000".into(),
        time: "2026-12-05T10:00:01.000Z".into(),
        request_id: "req-2".into(),
        actor: "oauth:ehr-backend".into(),
        source: Some("10.1.2.3".into()),
        purpose: Some("TREAT".into()),
        action: "token.verify".into(),
        target: None,
        outcome: Outcome::Success,
        reason: None,
        details: Map::from_iter([("client_id".to_owned(), json!("ehr-backend"))]),
        hmac: Map::new(),
        event: None,
    };
    let direct = from_audit_entry(&entry);
    let text = serde_json::to_string(&entry).expect("serializes");
    let via_line = line(&text, Format::Ndjson);
    assert_eq!(s(&via_line, "event.dataset"), Some("webqx.audit"));
    assert_eq!(s(&via_line, "webqx.client_id"), Some("ehr-backend"));
    assert_eq!(via_line.get("event.sequence"), Some(&json!(7)));
    assert_eq!(s(&via_line, "event.original"), Some(text.as_str()));
    let mut without_original = via_line.clone();
    without_original.remove("event.original");
    assert_eq!(without_original.get("user"), direct.get("user"));
    assert_eq!(s(&direct, "event.category"), Some("authentication"));

    // A trail entry carrying the EHR's AuditEvent is that event, so EHR rules see it;
    // the submitting client stays under webqx.*.
    let fhir: serde_json::Value = serde_json::from_str(
        r#"{"resourceType":"AuditEvent","type":{"code":"rest"},"subtype":[{"code":"read"}],
        "action":"R","recorded":"2026-12-05T10:00:02Z","outcome":"0",
        "agent":[{"who":{"identifier":{"value":"dr-house"}},"requestor":true,
                  "network":{"address":"192.0.2.44","type":"2"}}],
        "source":{"observer":{"display":"ehr"}},
        "entity":[{"what":{"reference":"Patient/p-1"}}]}"#,
    )
    .expect("json");
    let ehr_entry = Entry {
        action: "ehr.audit".into(),
        event: Some(fhir),
        ..entry
    };
    let ehr = from_audit_entry(&ehr_entry);
    assert_eq!(s(&ehr, "event.dataset"), Some("fhir.auditevent"));
    assert_eq!(s(&ehr, "ehr.patient.id"), Some("p-1"));
    assert_eq!(s(&ehr, "webqx.actor"), Some("oauth:ehr-backend"));
    assert_eq!(s(&ehr, "webqx.action"), Some("ehr.audit"));
    assert_ne!(s(&ehr, "user.name"), Some("oauth:ehr-backend"));
}

// ------------------------------------------------------------------ JSON and raw

#[test]
fn generic_json_is_kept_and_dotted_keys_nest() {
    let e = line(
        r#"{"@timestamp":"2026-01-01T00:00:00Z","source.ip":"192.0.2.1","event":{"action":"x"},"n":1}"#,
        Format::Auto,
    );
    assert_eq!(s(&e, "event.dataset"), Some("json"));
    assert_eq!(s(&e, "source.ip"), Some("192.0.2.1"));
    assert_eq!(s(&e, "event.action"), Some("x"));
    assert_eq!(e.get("n"), Some(&json!(1)));
    let e = line(r#"{"event":{"dataset":"custom"}}"#, Format::Ndjson);
    assert_eq!(s(&e, "event.dataset"), Some("custom"));

    for (text, why) in [("[1,2]", "not an object"), ("{\"a\":", "not JSON")] {
        let e = line(text, Format::Ndjson);
        assert_eq!(s(&e, "event.dataset"), Some("raw"));
        assert!(
            s(&e, "error.message").is_some_and(|m| m.contains(why)),
            "{text}"
        );
        assert_eq!(s(&e, "event.original"), Some(text));
    }
    // A plain log line in a JSON-lines stream is read in its own format (a file whose
    // first twenty lines are JSON steered detection to ndjson; review finding).
    let e = line(
        "Mar  2 10:00:00 host sshd[1]: Failed password for root from 192.0.2.8 port 22 ssh2",
        Format::Ndjson,
    );
    assert_eq!(s(&e, "event.dataset"), Some("sshd"));
    assert_eq!(s(&e, "source.ip"), Some("192.0.2.8"));
    // `[` and a letter is JSON only when it parses: an Apache error line is not.
    let e = line(
        "[Thu Dec 05 09:03:00.000000 2026] [cgi:error] [pid 1] [client 10.5.3.1:5] AH01215: x",
        Format::Ndjson,
    );
    assert_eq!(s(&e, "event.dataset"), Some("apache.error"));
    assert!(webqx_events::normalize::is_json_text(b"[true]"));
    assert!(webqx_events::normalize::is_json_text(b"[[[["));
    assert!(!webqx_events::normalize::is_json_text(b"[Thu Dec 05]"));
    let events = normalize_document(b"[{\"a\":1}, 2]", &options()).expect("ok");
    assert_eq!(events.len(), 2);
    assert_eq!(s(&events[1], "event.dataset"), Some("raw"));
}

#[test]
fn unknown_lines_are_raw_never_dropped() {
    let e = line("something nobody wrote a parser for", Format::Auto);
    assert_eq!(s(&e, "event.dataset"), Some("raw"));
    assert_eq!(
        s(&e, "message"),
        Some("something nobody wrote a parser for")
    );
    assert!(e.has("error.message"));
    let e = line("no timestamp here", Format::Syslog);
    assert_eq!(s(&e, "event.dataset"), Some("raw"));
    let mut labelled = options();
    labelled.input = Some("file:/var/log/auth.log".into());
    let e = normalize_line(b"x", Format::Raw, &labelled).expect("raw");
    assert_eq!(s(&e, "labels.input"), Some("file:/var/log/auth.log"));
}

#[test]
fn hostile_lines_are_counted_rejections() {
    let opts = options();
    let mut counts = RejectCounts::default();
    let long = vec![b'a'; opts.max_line_len + 1];
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let deep_object = format!("{}1{}", "{\"a\":".repeat(40), "}".repeat(40));
    let cases: [(&[u8], Rejected); 5] = [
        (
            &long,
            Rejected::TooLong {
                len: long.len(),
                max: opts.max_line_len,
            },
        ),
        (b"  \r\n", Rejected::Empty),
        (b"abc\0def", Rejected::Binary),
        (b"\x01\x02\x03\x04abc", Rejected::Binary),
        (
            deep_object.as_bytes(),
            Rejected::TooDeep {
                max: opts.max_json_depth,
            },
        ),
    ];
    for (input, expected) in cases {
        let got = normalize_line(input, Format::Auto, &opts).expect_err("rejected");
        assert_eq!(got, expected);
        assert!(!got.to_string().is_empty());
        counts.add(&got);
    }
    assert_eq!(
        normalize_line(deep.as_bytes(), Format::Ndjson, &opts),
        Err(Rejected::TooDeep {
            max: opts.max_json_depth
        })
    );
    assert_eq!(counts.total(), 5);
    assert_eq!((counts.binary, counts.too_deep), (2, 1));

    // Invalid UTF-8 is read lossily, not refused.
    let e = normalize_line(
        b"Dec 10 06:55:46 h sshd[1]: Invalid user \xff\xfe from 192.0.2.1",
        Format::Syslog,
        &opts,
    )
    .expect("lossy");
    assert_eq!(s(&e, "user.name"), Some("\u{fffd}\u{fffd}"));
    assert_eq!(s(&e, "source.ip"), Some("192.0.2.1"));
}

#[test]
fn format_detection() {
    assert_eq!(
        Format::detect(b"Dec 10 06:55:46 LabSZ sshd[1]: a\nDec 10 06:55:47 LabSZ sshd[1]: b\n"),
        Format::Syslog
    );
    assert_eq!(Format::detect(b"{\"a\":1}\n{\"b\":2}\n"), Format::Ndjson);
    assert_eq!(Format::detect(b"[{\"a\":1},\n{\"b\":2}]"), Format::Json);
    assert_eq!(Format::detect(b"hello\nworld\n"), Format::Raw);
    assert_eq!(Format::detect(b""), Format::Raw);
    for f in [
        Format::Syslog,
        Format::AccessLog,
        Format::FhirJson,
        Format::Raw,
    ] {
        assert_eq!(Format::from_name(f.name()), Some(f));
    }
}
