//! Agreement with fail2ban's own sshd test log (`ssh-logs/fail2ban_sshd.log`): each log
//! line follows a `# failJSON: {...}` comment giving fail2ban's verdict (`match`), the
//! address it extracts (`host`) and the time.
//!
//! Our verdict is [`counts_as_ssh_failure`] on the event from [`normalize_line`], with
//! the lines fed in order through [`SshSessions`] (which links lines of one sshd
//! connection by host and pid, as fail2ban's multi-line matching does by pid). It is
//! compared with fail2ban's `aggressive` mode, the mode that counts the most (every
//! block of the file is tested in it): a `constraint` that excludes aggressive mode
//! (`opts.get('mode') != 'aggressive'`) takes the line out of the comparison; the
//! others (`== 'aggressive'`, `name == 'sshd'`) hold.
//!
//! Result (2026-12-05): 153 of 154 compared lines agree on match and address (99.35%);
//! the one miss is explained in `docs/event-schema.md`. Times agree on every BSD line
//! that has one (month, day and time of day; fail2ban's test times for RFC 3339 and
//! RFC 5424 lines are in its test time zone, so those are not compared).

use serde_json::Value;
use webqx_events::normalize::{
    Event, Format, Options, SshSessions, counts_as_ssh_failure, normalize_line,
};

const FILE: &str = "ssh-logs/fail2ban_sshd.log";

/// One log line with fail2ban's verdict.
struct Case {
    line_no: usize,
    line: String,
    truth: Value,
}

fn cases(text: &str) -> Vec<Case> {
    let mut out = Vec::new();
    let mut pending: Option<Value> = None;
    for (i, line) in text.lines().enumerate() {
        if let Some(json) = line.strip_prefix("# failJSON:") {
            pending = Some(serde_json::from_str(json.trim()).expect("failJSON parses"));
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if let Some(truth) = pending.take() {
            out.push(Case {
                line_no: i + 1,
                line: line.to_owned(),
                truth,
            });
        }
    }
    out
}

/// Whether the case applies in fail2ban's aggressive mode for the `sshd` filter.
fn applies(truth: &Value) -> bool {
    match truth.get("constraint").and_then(Value::as_str) {
        Some(c) => !c.contains("!= 'aggressive'"),
        None => true,
    }
}

fn address(event: &Event) -> Option<String> {
    event
        .get_str("source.ip")
        .or_else(|| event.get_str("source.address"))
        .map(str::to_owned)
}

#[test]
fn agrees_with_fail2ban_on_at_least_99_percent_of_lines() {
    let Some(path) = webqx_testkit::shared_data(FILE) else {
        return;
    };
    let text = std::fs::read_to_string(path).expect("read the fail2ban log");
    let cases = cases(&text);
    assert_eq!(cases.len(), 155, "the MANIFEST says 155 lines");
    let options = Options {
        year: 2005,
        ..Options::default()
    };

    let mut sessions = SshSessions::new();
    let (mut compared, mut agreed, mut times, mut time_misses) = (0, 0, 0, 0);
    let mut misses = Vec::new();
    for case in &cases {
        let mut event =
            normalize_line(case.line.as_bytes(), Format::Syslog, &options).expect("normalizes");
        sessions.observe(&mut event);
        if !applies(&case.truth) {
            continue;
        }
        compared += 1;
        let expected = case
            .truth
            .get("match")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let ours = counts_as_ssh_failure(&event);
        let host = case.truth.get("host").and_then(Value::as_str);
        let host_ok = !expected || host.is_none() || address(&event).as_deref() == host;
        if expected == ours && host_ok {
            agreed += 1;
        } else {
            misses.push(format!(
                "line {}: fail2ban match={expected} host={host:?}; ours match={ours} \
                 address={:?} action={:?}\n    {}",
                case.line_no,
                address(&event),
                event.get_str("event.action"),
                case.line
            ));
        }
        let bsd = case
            .line
            .as_bytes()
            .first()
            .is_some_and(u8::is_ascii_alphabetic);
        if let (true, Some(time)) = (bsd, case.truth.get("time").and_then(Value::as_str)) {
            times += 1;
            let ours = event.get_str("@timestamp").unwrap_or_default();
            if ours.get(5..19) != time.get(5..19) {
                time_misses += 1;
                misses.push(format!("line {}: time {time} vs ours {ours}", case.line_no));
            }
        }
    }

    let rate = f64::from(agreed) * 100.0 / f64::from(compared);
    println!("fail2ban sshd agreement: {agreed}/{compared} = {rate:.2}%");
    println!("times: {}/{times} agree", times - time_misses);
    for miss in &misses {
        println!("MISS {miss}");
    }
    assert!(rate >= 99.0, "agreement {rate:.2}% is under 99%");
    assert_eq!(time_misses, 0, "every BSD time agrees");
}
