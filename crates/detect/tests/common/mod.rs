//! Helpers shared by the detection test suites.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use webqx_detect::{Context, Detection, Engine, Options, RuleSet};

/// `../shared/data/<relative>`; `None` (with a message) outside CI when absent, a
/// panic under CI (`CI` set).
pub fn shared_data(relative: &str) -> Option<PathBuf> {
    let base = std::env::var_os("WEBQX_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let path = base.join(relative);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "shared test data {} is missing; CI must run beside ../shared/data",
        path.display()
    );
    eprintln!("skipping: {} is absent", path.display());
    None
}

/// The repository's `rules/` folder.
pub fn pack_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules")
}

/// An engine over the built-in pack and `context`.
pub fn builtin_engine(context: Context) -> Engine {
    Engine::new(
        RuleSet::builtin().expect("pack loads"),
        context,
        Options::default(),
    )
    .expect("pack compiles")
}

/// Percent-decode until stable (at most 3 rounds), `+` as space, as the schema's
/// `url.decoded` is defined.
pub fn decode(text: &str) -> String {
    let mut current = text.to_owned();
    for _ in 0..3 {
        let next = decode_once(&current);
        if next == current {
            break;
        }
        current = next;
    }
    current
}

fn decode_once(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A web access event as the parsers produce it.
pub fn web_event(method: &str, uri: &str, body: Option<&str>, user_agent: Option<&str>) -> Value {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let mut event = json!({
        "@timestamp": "2026-03-02T10:00:00Z",
        "event": {"dataset": "nginx.access", "category": "web", "action": "http_request"},
        "source": {"ip": "203.0.113.9"},
        "http": {"request": {"method": method}, "response": {"status_code": 200}},
        "url": {"original": uri, "path": path, "query": query, "decoded": decode(uri)},
    });
    if let Some(body) = body {
        event["http"]["request"]["body"] = json!({"content": decode(body)});
    }
    if let Some(ua) = user_agent {
        event["user_agent"] = json!({"original": ua});
    }
    event
}

/// An sshd event.
pub fn ssh_event(ts: &str, action: &str, ip: &str, user: &str, outcome: &str) -> Value {
    json!({
        "@timestamp": ts,
        "event": {"dataset": "sshd", "category": "authentication", "action": action, "outcome": outcome},
        "process": {"name": "sshd"},
        "source": {"ip": ip},
        "user": {"name": user},
        "message": format!("{action} for {user} from {ip}"),
    })
}

/// Rule ids of the detections.
pub fn ids(detections: &[Detection]) -> Vec<String> {
    detections.iter().map(|d| d.rule_id.clone()).collect()
}
