//! The built-in web rules on real access logs, through a crude stand-in for the events
//! crate's combined-log parser (the parser-based proof comes with the parsers):
//! `elastic_apache_logs_first8000.log` is benign traffic (alert rate must stay at or
//! below 0.1%), `ocatak_netsparker_access.log` is a Netsparker scan (must be flagged).

mod common;

use std::collections::BTreeMap;

use webqx_detect::{Context, Engine, Options, RuleSet};

/// `(method, target, status, referrer, user agent)` of a combined-format line.
fn fields(line: &str) -> Option<(String, String, i64, String, String)> {
    let line = line.trim().trim_matches('"');
    let (_, rest) = line.split_once("] \"")?;
    let (request, rest) = rest.split_once("\" ")?;
    let mut req = request.splitn(3, ' ');
    let method = req.next()?.to_owned();
    let target = req.next().unwrap_or("/").to_owned();
    let mut after = rest.splitn(3, ' ');
    let status = after.next()?.parse().ok()?;
    let quoted: Vec<&str> = after.nth(1).unwrap_or("").split('"').collect();
    let referrer = quoted.get(1).copied().unwrap_or("-").to_owned();
    let agent = quoted.get(3).copied().unwrap_or("-").to_owned();
    Some((method, target, status, referrer, agent))
}

fn run(relative: &str) -> Option<(usize, BTreeMap<String, usize>)> {
    let path = common::shared_data(relative)?;
    let text = std::fs::read_to_string(path).expect("read log");
    let rules = RuleSet::load_dir(&common::pack_dir().join("web")).expect("web rules");
    let mut engine = Engine::new(rules, Context::new(), Options::default()).expect("engine");
    let (mut lines, mut per_rule) = (0, BTreeMap::new());
    for line in text.lines() {
        let Some((method, target, status, referrer, agent)) = fields(line) else {
            continue;
        };
        lines += 1;
        let mut event = common::web_event(&method, &target, None, Some(&agent));
        event["http"]["response"]["status_code"] = status.into();
        event["http"]["request"]["referrer"] = referrer.into();
        let outcome = engine.process(&mut event);
        if let Some(d) = outcome.detections.first() {
            *per_rule.entry(d.title.clone()).or_insert(0) += 1;
            if std::env::var_os("WEB_VERBOSE").is_some() {
                eprintln!("{}: {line}", d.title);
            }
        }
    }
    Some((lines, per_rule))
}

#[test]
fn benign_apache_traffic_alerts_at_most_one_line_in_a_thousand() {
    let Some((lines, per_rule)) = run("web-logs/elastic_apache_logs_first8000.log") else {
        return;
    };
    let alerted: usize = per_rule.values().sum();
    println!(
        "elastic benign: {alerted}/{lines} lines alerted = {:.3}% {per_rule:?}",
        alerted as f64 * 100.0 / lines as f64
    );
    assert_eq!(lines, 8000);
    assert!(
        alerted * 1000 <= lines,
        "{alerted} alerts on {lines} benign lines: {per_rule:?}"
    );
}

#[test]
fn netsparker_scan_is_flagged() {
    let Some((lines, per_rule)) = run("web-logs/ocatak_netsparker_access.log") else {
        return;
    };
    let alerted: usize = per_rule.values().sum();
    println!("netsparker: {alerted}/{lines} lines alerted {per_rule:?}");
    assert!(
        per_rule.contains_key("Vulnerability Scanner User Agent"),
        "{per_rule:?}"
    );
}
