//! Request-level web inputs and format detection: ModSecurity JSON audit records
//! (libmodsecurity 3 and ModSecurity 2.9 layouts), Apache and nginx error logs
//! (fail2ban's shellshock and botsearch samples from `../shared/data`), and
//! `Format::detect` voting by majority so that no single line steers a file.

use serde_json::{Value, json};
use webqx_events::normalize::{
    Event, Format, Options, Rejected, from_modsecurity, normalize_document, normalize_line,
};

fn options() -> Options {
    Options {
        year: 2026,
        ..Options::default()
    }
}

fn auto(text: &str) -> Event {
    normalize_line(text.as_bytes(), Format::Auto, &options()).expect("normalizes")
}

fn s<'a>(event: &'a Event, path: &str) -> Option<&'a str> {
    event.get_str(path)
}

/// A libmodsecurity 3 record, shaped as the nginx connector writes it: `http_version`
/// a number, the day of `time_stamp` padded with a space, a header name repeated.
const MODSEC_V3: &str = r#"{"transaction":{"client_ip":"198.51.100.23","time_stamp":"Mon Mar  2 09:41:59 2026","server_id":"5b1d0c2e","client_port":50463,"host_ip":"10.0.1.175","host_port":443,"unique_id":"177244451921.140928","request":{"method":"POST","http_version":1.1,"uri":"/portal/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E","headers":{"Host":"ehr.example.org:443","User-Agent":"Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0","Cookie":"sid=abc123; theme=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E","Authorization":"Bearer not-for-fields","X-Forwarded-For":"203.0.113.50","Referer":"https://ehr.example.org/portal","Content-Type":"application/x-www-form-urlencoded","Accept-Language":"en-US,en;q=0.9","referer":"https://ehr.example.org/other"},"body":"name=Jane+Doe&note=a%27b"},"response":{"body":"","http_code":403,"headers":{"Set-Cookie":"a=1","Set-Cookie":"b=2"}},"producer":{"modsecurity":"ModSecurity v3.0.12 (Linux)","connector":"ModSecurity-nginx v1.0.3","secrules_engine":"Enabled","components":["OWASP_CRS/4.3.0"]},"messages":[{"message":"XSS Attack Detected via libinjection","details":{"match":"detected XSS using libinjection.","reference":"v27,30t:utf8toUnicode","ruleId":"941100","file":"REQUEST-941-APPLICATION-ATTACK-XSS.conf","lineNumber":"55","data":"","severity":"2","ver":"OWASP_CRS/4.3.0","rev":"","tags":["attack-xss"],"maturity":"0","accuracy":"0"}},{"message":"Inbound Anomaly Score Exceeded","details":{"ruleId":"949110"}}]}}"#;

/// A ModSecurity 2.9 (Apache) record: request line, `time` in access-log form,
/// verdicts as text in `audit_data.messages`.
const MODSEC_V2: &str = r#"{"transaction":{"time":"02/Mar/2026:10:15:35 +0100","transaction_id":"Yj2WRzj5DcQDZ5V47KL4JQAAAAE","remote_address":"2001:db8::17","remote_port":47461,"local_address":"192.0.2.10","local_port":443},"request":{"request_line":"GET /?id=3%20or%20%27a%27=%27a%27 HTTP/2.0","headers":{"Host":"ehr.example.org","User-Agent":"curl/8.5.0","Cookie":"lang=en"},"body":["a=1","&b=2"]},"response":{"protocol":"HTTP/1.1","status":403,"headers":{}},"audit_data":{"messages":["Warning. detected SQLi using libinjection [file \"REQUEST-942-APPLICATION-ATTACK-SQLI.conf\"] [line \"65\"] [id \"942100\"] [msg \"SQL Injection Attack Detected via libinjection\"]","Access denied with code 403 (phase 2). [id \"949110\"] [msg \"Inbound Anomaly Score Exceeded\"]"],"producer":["ModSecurity for Apache/2.9.7 (http://www.modsecurity.org/)","OWASP_CRS/3.3.5"]}}"#;

#[test]
fn modsecurity_v3_record_carries_headers_cookies_and_body() {
    let e = auto(MODSEC_V3);
    assert_eq!(s(&e, "event.dataset"), Some("modsecurity.audit"));
    assert_eq!(s(&e, "event.action"), Some("http_request"));
    assert_eq!(s(&e, "event.outcome"), Some("failure"));
    assert_eq!(s(&e, "@timestamp"), Some("2026-03-02T09:41:59Z"));
    assert_eq!(s(&e, "source.ip"), Some("198.51.100.23"));
    assert_eq!(e.get("source.port"), Some(&json!(50463)));
    assert_eq!(s(&e, "destination.ip"), Some("10.0.1.175"));
    assert_eq!(s(&e, "http.request.id"), Some("177244451921.140928"));
    assert_eq!(s(&e, "http.request.method"), Some("POST"));
    assert_eq!(s(&e, "http.version"), Some("1.1"));
    assert_eq!(e.get("http.response.status_code"), Some(&json!(403)));
    assert_eq!(
        s(&e, "url.decoded"),
        Some("/portal/search?q=<script>alert(1)</script>")
    );
    assert_eq!(s(&e, "url.domain"), Some("ehr.example.org"));
    assert_eq!(
        s(&e, "user_agent.original"),
        Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")
    );
    // The two spellings of Referer are one header, values joined.
    assert_eq!(
        s(&e, "http.request.referrer"),
        Some("https://ehr.example.org/portal, https://ehr.example.org/other")
    );
    assert_eq!(
        s(&e, "http.request.headers.x-forwarded-for"),
        Some("203.0.113.50")
    );
    assert_eq!(
        s(&e, "http.request.headers.cookie"),
        Some("sid=abc123; theme=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E")
    );
    assert_eq!(
        s(&e, "http.request.cookies"),
        Some("sid=abc123; theme=<img src=x onerror=alert(1)>")
    );
    assert_eq!(
        s(&e, "http.request.other_headers"),
        Some("x-forwarded-for: 203.0.113.50")
    );
    assert_eq!(
        s(&e, "http.request.body.content"),
        Some("name=Jane Doe&note=a'b")
    );
    assert_eq!(
        e.get("modsecurity.rule_ids"),
        Some(&json!(["941100", "949110"]))
    );
    // Credentials never become fields.
    assert!(!e.has("http.request.headers.authorization"));
    let fields = serde_json::to_string(&without_original(&e)).expect("json");
    assert!(!fields.contains("not-for-fields"), "{fields}");
}

fn without_original(e: &Event) -> Value {
    let mut v = e.to_value();
    if let Some(event) = v.get_mut("event").and_then(Value::as_object_mut) {
        event.remove("original");
    }
    v
}

#[test]
fn modsecurity_v2_record_from_apache() {
    let e = auto(MODSEC_V2);
    assert_eq!(s(&e, "event.dataset"), Some("modsecurity.audit"));
    assert_eq!(s(&e, "@timestamp"), Some("2026-03-02T09:15:35Z"));
    assert_eq!(s(&e, "source.ip"), Some("2001:db8::17"));
    assert_eq!(s(&e, "http.request.method"), Some("GET"));
    assert_eq!(s(&e, "http.version"), Some("2.0"));
    assert_eq!(s(&e, "url.decoded"), Some("/?id=3 or 'a'='a'"));
    assert_eq!(e.get("http.response.status_code"), Some(&json!(403)));
    assert_eq!(s(&e, "http.request.body.content"), Some("a=1&b=2"));
    assert_eq!(s(&e, "http.request.cookies"), Some("lang=en"));
    assert!(!e.has("http.request.other_headers"));
    assert_eq!(
        e.get("modsecurity.rule_ids"),
        Some(&json!(["942100", "949110"]))
    );
}

#[test]
fn modsecurity_files_documents_and_api_objects() {
    let file = format!("{MODSEC_V3}\n{MODSEC_V2}\n");
    assert_eq!(Format::detect(file.as_bytes()), Format::Ndjson);
    let events = normalize_document(format!("[{MODSEC_V3},{MODSEC_V2}]").as_bytes(), &options())
        .expect("document");
    assert!(
        events
            .iter()
            .all(|e| s(e, "event.dataset") == Some("modsecurity.audit"))
    );
    let object: serde_json::Map<String, Value> = serde_json::from_str(MODSEC_V3).expect("object");
    let e = from_modsecurity(&object, &options()).expect("a ModSecurity record");
    assert_eq!(s(&e, "source.ip"), Some("198.51.100.23"));
    assert!(e.has("event.original"));
    let other: serde_json::Map<String, Value> =
        serde_json::from_str(r#"{"transaction":{"id":7},"amount":3}"#).expect("object");
    assert!(from_modsecurity(&other, &options()).is_none());
    // Not a ModSecurity record: kept as generic JSON.
    let e = auto(r#"{"transaction":{"id":7},"amount":3}"#);
    assert_eq!(s(&e, "event.dataset"), Some("json"));
}

#[test]
fn modsecurity_odd_shapes_never_panic() {
    for text in [
        r#"{"transaction":{"request":{}}}"#,
        r#"{"transaction":{"request":{"headers":[1,2],"uri":5,"body":{"a":1}}}}"#,
        r#"{"transaction":{"request":{"headers":{"":"x","a.b":"y","bad name":"z","X":null,"Y":["1",2,"3"]}}}}"#,
        r#"{"transaction":{"client_ip":"::ffff:192.0.2.1","time_stamp":"Mon Feb 30 25:00:00 2026","request":{"method":"GET","uri":"/"},"response":{"http_code":"abc"}}}"#,
        r#"{"transaction":{},"request":{"request_line":""}}"#,
        r#"{"transaction":{"time":"garbage"},"request":{"request_line":"GET"},"audit_data":{"messages":["[id \"unterminated"]}}"#,
    ] {
        let e = auto(text);
        assert_eq!(s(&e, "event.dataset"), Some("modsecurity.audit"), "{text}");
    }
    let e = auto(r#"{"transaction":{"request":{"headers":{"Y":["1",2,"3"]}}}}"#);
    assert_eq!(s(&e, "http.request.headers.y"), Some("1, 3"));
    let e = auto(r#"{"transaction":{"client_ip":"::ffff:192.0.2.1","request":{}}}"#);
    assert_eq!(s(&e, "source.ip"), Some("192.0.2.1"));
}

#[test]
fn error_logs_of_the_fail2ban_samples() {
    let shellshock = "[Thu Sep 25 09:27:18.813902 2014] [cgi:error] [pid 16860] [client \
                      89.207.132.76:59635] AH01215: /bin/bash: warning: HTTP_TEST: ignoring \
                      function definition attempt";
    let e = auto(shellshock);
    assert_eq!(s(&e, "event.dataset"), Some("apache.error"));
    assert_eq!(s(&e, "source.ip"), Some("89.207.132.76"));
    assert_eq!(s(&e, "event.category"), Some("web"));
    let nginx = "2015/01/21 15:02:27 [error] 2833#0: *16813 \"/var/www/site/roundcube/\" is \
                 not found (2: No such file or directory), client: 5.7.9.2, server: localhost, \
                 request: \"GET /roundcube/ HTTP/1.1\", host: \"1.2.3.4\"";
    let e = auto(nginx);
    assert_eq!(s(&e, "event.dataset"), Some("nginx.error"));
    assert_eq!(s(&e, "url.path"), Some("/roundcube/"));
    assert_eq!(
        normalize_line(shellshock.as_bytes(), Format::ErrorLog, &options())
            .expect("line")
            .get_str("event.dataset"),
        Some("apache.error")
    );
    let e = normalize_line(b"not an error log", Format::ErrorLog, &options()).expect("raw");
    assert_eq!(s(&e, "event.dataset"), Some("raw"));
    assert_eq!(Format::from_name("error_log"), Some(Format::ErrorLog));

    let Some(path) = webqx_testkit::shared_data("web-logs/fail2ban_apache-shellshock.log") else {
        return;
    };
    let text = std::fs::read(&path).expect("read");
    assert_eq!(Format::detect(&text), Format::ErrorLog);
    let lines: Vec<&[u8]> = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty() && !l.starts_with(b"#"))
        .collect();
    assert_eq!(lines.len(), 2);
    for l in lines {
        let e = normalize_line(l, Format::ErrorLog, &options()).expect("line");
        assert_eq!(s(&e, "event.dataset"), Some("apache.error"));
        assert!(e.has("source.ip") && e.has("message") && e.has("@timestamp"));
    }
}

#[test]
fn botsearch_sample_reads_line_by_line_despite_comments() {
    let Some(path) = webqx_testkit::shared_data("web-logs/fail2ban_nginx-botsearch.log") else {
        return;
    };
    let text = std::fs::read(&path).expect("read");
    // Access-log lines are most, error-log lines are there too: each line on its own.
    assert_eq!(Format::detect(&text), Format::Auto);
    let mut datasets = std::collections::BTreeMap::new();
    let mut hosts = Vec::new();
    for l in text.split(|b| *b == b'\n') {
        if l.is_empty() || l.starts_with(b"#") {
            continue;
        }
        let e = normalize_line(l, Format::Auto, &options()).expect("line");
        *datasets
            .entry(s(&e, "event.dataset").unwrap_or_default().to_owned())
            .or_insert(0) += 1;
        hosts.push(s(&e, "source.ip").unwrap_or_default().to_owned());
    }
    assert_eq!(
        datasets,
        [
            ("nginx.error".to_owned(), 6),
            ("apache.access".to_owned(), 8)
        ]
        .into_iter()
        .collect()
    );
    // Every line's address agrees with fail2ban's verdict comments.
    let expected: Vec<String> = String::from_utf8_lossy(&text)
        .lines()
        .filter_map(|l| l.split("\"host\": \"").nth(1))
        .filter_map(|h| h.split('"').next())
        .map(str::to_owned)
        .collect();
    assert_eq!(hosts, expected);
}

#[test]
fn detection_votes_by_majority() {
    let syslog = "Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186";
    let access = "192.0.2.1 - - [17/May/2015:10:05:03 +0000] \"GET / HTTP/1.1\" 200 7 \"-\" \"x\"";
    let object = r#"{"event":{"dataset":"json"},"n":1}"#;
    let deep = format!(
        "{}{}",
        "{\"a\":".repeat(40),
        "1".to_owned() + &"}".repeat(40)
    );
    let lines = |first: &str, rest: &str, n: usize| {
        let mut text = format!("{first}\n");
        for _ in 0..n {
            text.push_str(rest);
            text.push('\n');
        }
        text
    };
    // One deep JSON line first no longer makes JSON lines one rejected document.
    let ndjson = lines(&deep, object, 19);
    assert_eq!(Format::detect(ndjson.as_bytes()), Format::Ndjson);
    let refused = normalize_line(deep.as_bytes(), Format::Ndjson, &options());
    assert!(matches!(refused, Err(Rejected::TooDeep { .. })));
    // Nor a syslog file, nor an access log.
    assert_eq!(
        Format::detect(lines(&deep, syslog, 19).as_bytes()),
        Format::Syslog
    );
    // A JSON object among syslog lines: each line is read in its own format.
    assert_eq!(
        Format::detect(lines(object, syslog, 19).as_bytes()),
        Format::Auto
    );
    assert_eq!(
        Format::detect(lines("{not json at all", access, 19).as_bytes()),
        Format::AccessLog
    );
    assert_eq!(
        Format::detect(lines("garbage", syslog, 10).as_bytes()),
        Format::Syslog
    );
    // Comment lines do not vote.
    assert_eq!(
        Format::detect(lines("# a comment", access, 3).as_bytes()),
        Format::AccessLog
    );
    let commented = format!("# one\n{access}\n# two\n{access}\n# three\n");
    assert_eq!(Format::detect(commented.as_bytes()), Format::AccessLog);
    // Documents are still documents.
    assert_eq!(
        Format::detect(b"{\n  \"resourceType\": \"Bundle\",\n  \"entry\": []\n}\n"),
        Format::FhirJson
    );
    assert_eq!(
        Format::detect(b"[\n{\"a\":1},\n{\"b\":2}\n]\n"),
        Format::Json
    );
    assert_eq!(
        Format::detect(br#"{"resourceType":"AuditEvent","type":{}}"#),
        Format::FhirJson
    );
    assert_eq!(Format::detect(object.as_bytes()), Format::Ndjson);
    // A line cut off by the 64 KiB sample does not vote.
    let mut big = lines(syslog, syslog, 2);
    big.push_str(&"x".repeat(70 * 1024));
    assert_eq!(Format::detect(big.as_bytes()), Format::Syslog);
}
