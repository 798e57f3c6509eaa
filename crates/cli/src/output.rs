//! Human output: short tables and key facts. `--json` prints the server's JSON as is.

use serde_json::Value;

/// Pretty JSON on standard output.
pub fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// One key ring.
pub fn print_key(v: &Value) {
    for field in [
        "name",
        "type",
        "state",
        "exportable",
        "latest_version",
        "min_decryption_version",
        "min_encryption_version",
        "auto_rotate_period",
        "deletion_date",
        "created",
        "last_rotated",
        "destroyed",
    ] {
        if !v[field].is_null() {
            println!("{field:<24} {}", s(&v[field]));
        }
    }
    if let Some(versions) = v["versions"].as_array() {
        for ver in versions {
            println!(
                "version {:<16} created {}",
                s(&ver["version"]),
                s(&ver["created"])
            );
            if let Some(pem) = ver["public_key_pem"].as_str() {
                print!("{pem}");
            }
        }
    }
}

/// A page of keys.
pub fn print_keys(v: &Value) {
    println!(
        "{:<32} {:<18} {:<17} {:>7}  LAST ROTATED",
        "NAME", "TYPE", "STATE", "VERSION"
    );
    for k in v["keys"].as_array().into_iter().flatten() {
        println!(
            "{:<32} {:<18} {:<17} {:>7}  {}",
            s(&k["name"]),
            s(&k["type"]),
            s(&k["state"]),
            s(&k["latest_version"]),
            s(&k["last_rotated"])
        );
    }
    if let Some(next) = v["next_cursor"].as_str() {
        println!("(more: --cursor {next})");
    }
}

/// Tokens.
pub fn print_tokens(v: &Value) {
    println!(
        "{:<34} {:<24} {:<26} {:<26} STATE",
        "ID", "NAME", "CREATED", "EXPIRES"
    );
    for t in v["tokens"].as_array().into_iter().flatten() {
        let state = if t["revoked"].is_null() {
            "active"
        } else {
            "revoked"
        };
        println!(
            "{:<34} {:<24} {:<26} {:<26} {state}",
            s(&t["id"]),
            s(&t["name"]),
            s(&t["created"]),
            s(&t["expires"])
        );
    }
}

/// One per-item error of a problem document.
pub fn item_line(e: &Value) -> String {
    let place = match (e.get("item"), e.get("line"), e.get("location")) {
        (Some(i), _, Some(l)) => format!("item {i}, {}: ", s(l)),
        (_, Some(line), _) => format!("line {line}: "),
        (_, _, Some(l)) => format!("{}: ", s(l)),
        _ => String::new(),
    };
    format!("{place}{}", s(&e["detail"]))
}

/// `text` with control characters (newlines, escape sequences, NUL…) and the invisible
/// characters that reorder text (Unicode bidirectional controls, zero-width marks) shown
/// as escapes: names and subjects come from certificates, CSRs and advisories that
/// others wrote, and must not forge output lines, drive the terminal or read reordered.
/// The same escaping as the vulnerability reports ([`webqx_vuln::report::escape_text`]).
pub fn visible(text: &str) -> String {
    webqx_vuln::report::escape_text(text)
}

/// `value` with [`visible`] applied to every string in it, for human output.
pub fn visible_value(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(visible(s)),
        Value::Array(items) => Value::Array(items.iter().map(visible_value).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (visible(k), visible_value(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_for_the_terminal() {
        assert_eq!(visible("ehr.test"), "ehr.test");
        assert_eq!(
            visible("a\nFAKE LINE\u{1b}[31m\0"),
            "a\\nFAKE LINE\\u{1b}[31m\\u{0}"
        );
        let v = serde_json::json!({"names": ["x\ny"], "n": 1});
        assert_eq!(visible_value(&v)["names"][0], "x\\ny");
    }

    #[test]
    fn bidirectional_controls_are_escaped_too() {
        // "Trojan Source": U+202E makes `exe.txt` read as `txt.exe`.
        assert_eq!(visible("a\u{202e}txt.exe"), "a\\u{202e}txt.exe");
        assert_eq!(
            visible("\u{2066}x\u{2069}\u{200b}"),
            "\\u{2066}x\\u{2069}\\u{200b}"
        );
        assert_eq!(
            visible("caf\u{e9} \u{5d0}"),
            "caf\u{e9} \u{5d0}",
            "letters stay"
        );
    }
}
