//! Rough engine throughput on sshd events: `cargo run --release -p webqx-detect
//! --example sshd_throughput -- FILE [REPEAT]`. Lines are turned into schema events by
//! a crude stand-in for the events crate's OpenSSH parser (failed password, invalid
//! user, accepted), then run through the whole built-in pack. Prints events per
//! second and the alerts per rule and group. Not the benchmark (that one goes
//! through the real parsers); a check that the engine itself is not the bottleneck.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{Value, json};
use webqx_detect::{Context, Engine, Options, RuleSet};

fn event(line: &str, n: usize) -> Option<Value> {
    let msg = line.split_once("]: ").map(|(_, m)| m)?;
    let (action, outcome, rest) = if let Some(r) = msg.strip_prefix("Failed password for ") {
        ("ssh_failed_password", "failure", r)
    } else if let Some(r) = msg.strip_prefix("Invalid user ") {
        ("ssh_invalid_user", "failure", r)
    } else if let Some(r) = msg.strip_prefix("Accepted password for ") {
        ("ssh_login", "success", r)
    } else {
        ("ssh_other", "unknown", msg)
    };
    let rest = rest.strip_prefix("invalid user ").unwrap_or(rest);
    let user = rest.split(' ').next().unwrap_or("");
    let ip = rest
        .split(" from ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or("");
    // loghub times are "Dec 10 06:55:46"; spread repeats a day apart.
    let mut parts = line.split_whitespace();
    let (_, day, time) = (parts.next()?, parts.next()?, parts.next()?);
    let day: u32 = day.parse().ok()?;
    let stamp = format!("2026-12-{:02}T{time}Z", (day + n as u32) % 28 + 1);
    Some(json!({"@timestamp": stamp,
        "event": {"dataset": "sshd", "action": action, "outcome": outcome},
        "source": {"ip": ip}, "user": {"name": user}, "message": msg}))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: sshd_throughput FILE [REPEAT]")?;
    let repeat: usize = args.next().map_or(Ok(1), |r| r.parse())?;
    let text = std::fs::read_to_string(path)?;
    let mut events = Vec::new();
    for n in 0..repeat {
        events.extend(text.lines().filter_map(|l| event(l, n)));
    }
    let mut engine = Engine::new(RuleSet::builtin()?, Context::new(), Options::default())?;
    let mut alerts: BTreeMap<(String, String), usize> = BTreeMap::new();
    let start = Instant::now();
    let total = events.len();
    for mut e in events {
        for d in engine.process(&mut e).detections {
            *alerts.entry((d.title, d.group_key)).or_default() += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{total} events in {secs:.3} s = {:.0} events/s",
        total as f64 / secs
    );
    for ((title, group), count) in alerts {
        println!("{count:6}  {title}  [{group}]");
    }
    Ok(())
}
