//! `webqx-sec cert issue --batch FILE`: many certificates in one request to
//! `POST /v1/pki/issue/batch`, one JSON result per line on standard output.
//!
//! The file holds request objects as `POST /v1/pki/issue` takes them, as a JSON array
//! or one per line (NDJSON). `--profile`, `--key`, `--ttl`, `--issuer` and
//! `--store-key` fill the fields a request leaves out. Keys are printed in their result
//! line, as the single command prints its key, unless `--out-dir` names a folder for the
//! files. Exit code 4 when the server refused any request (its line has `error`).

use crate::Global;
use crate::exit::{Exit, Failure};
use crate::pki::{IssueArgs, connect};
use reqwest::Method;
use serde_json::{Map, Value, json};
use std::path::Path;

/// Runs the batch form of `cert issue`; returns the exit code.
///
/// # Errors
/// An unreadable file, a refused or failed request as a whole, a file not written.
pub async fn run(g: &Global, a: IssueArgs) -> Result<i32, Failure> {
    let Some(file) = &a.batch else {
        return Err(Failure::usage("--batch FILE is required"));
    };
    let mut items = parse(&read(file)?)?;
    for item in &mut items {
        fill_defaults(item, &a);
    }
    if let Some(dir) = &a.out_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::local(format!("cannot create {}: {e}", dir.display())))?;
        probe(dir)?;
    }

    let client = connect(g)?;
    let answer = client
        .call(
            Method::POST,
            "/v1/pki/issue/batch",
            Some(&json!({"items": items})),
        )
        .await?;
    let root = answer["root"].as_str().unwrap_or_default();
    let mut unwritten = 0;
    if let Some(dir) = &a.out_dir
        && let Err(e) = replace_file(&dir.join("root.pem"), root.as_bytes())
    {
        eprintln!("{e}");
        unwritten += 1;
    }
    for result in answer["results"].as_array().into_iter().flatten() {
        let line = match &a.out_dir {
            Some(dir) => to_files(dir, result).unwrap_or_else(|e| {
                // The certificate exists now: its key goes to standard output rather
                // than being lost.
                eprintln!("{e}; the key is in this result line instead");
                unwritten += 1;
                result.clone()
            }),
            None => result.clone(),
        };
        println!("{line}");
    }

    let refused = answer["refused"].as_u64().unwrap_or(0);
    let issued = answer["issued"].as_u64().unwrap_or(0);
    eprintln!("issued {issued}, refused {refused}");
    Ok(if unwritten > 0 {
        Exit::Local as i32
    } else if refused == 0 {
        0
    } else {
        Exit::Refused as i32
    })
}

/// Checks that files can be made in `dir` before anything is issued.
fn probe(dir: &Path) -> Result<(), Failure> {
    let path = dir.join(format!(".webqx-probe-{}", std::process::id()));
    new_file(&path, b"", false)?;
    let _ = std::fs::remove_file(&path);
    Ok(())
}

/// Creates `path`, which must not exist (no following a planted symlink, no overwriting
/// another file).
fn new_file(path: &Path, data: &[u8], private: bool) -> Result<(), Failure> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    options
        .open(path)
        .and_then(|mut f| f.write_all(data))
        .map_err(|e| Failure::local(format!("cannot write {}: {e}", path.display())))
}

/// Writes `path` through a new file renamed over it: a symlink planted at `path` is
/// replaced, not followed.
fn replace_file(path: &Path, data: &[u8]) -> Result<(), Failure> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    new_file(&tmp, data, false)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Failure::local(format!("cannot write {}: {e}", path.display()))
    })
}

fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    if path.as_os_str() == "-" {
        webqx_pki::read_capped(std::io::stdin())
            .map_err(|e| Failure::local(format!("cannot read standard input: {e}")))
    } else {
        webqx_pki::read_file_capped(path)
            .map_err(|e| Failure::local(format!("cannot read {}: {e}", path.display())))
    }
}

/// Request objects from a JSON array or from one object per line.
fn parse(bytes: &[u8]) -> Result<Vec<Value>, Failure> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Failure::usage("the batch file must be UTF-8 JSON"))?;
    if text.trim_start().starts_with('[') {
        let items: Vec<Value> = serde_json::from_str(text).map_err(|e| {
            Failure::usage(format!(
                "the batch file is not a JSON array of requests: {e}"
            ))
        })?;
        return check_objects(items, |i| format!("item {i}"));
    }
    let mut items = Vec::new();
    let mut lines = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let item = serde_json::from_str(line)
            .map_err(|e| Failure::usage(format!("line {}: not a JSON request: {e}", n + 1)))?;
        items.push(item);
        lines.push(n + 1);
    }
    check_objects(items, |i| {
        format!("line {}", lines.get(i).copied().unwrap_or(0))
    })
}

fn check_objects(items: Vec<Value>, at: impl Fn(usize) -> String) -> Result<Vec<Value>, Failure> {
    if let Some(i) = items.iter().position(|v| !v.is_object()) {
        return Err(Failure::usage(format!(
            "{}: each request is an object such as {{\"names\": [\"www.example.org\"]}}",
            at(i)
        )));
    }
    Ok(items)
}

/// The command-line options fill what a request leaves out.
fn fill_defaults(item: &mut Value, a: &IssueArgs) {
    let Some(o) = item.as_object_mut() else {
        return;
    };
    let mut put = |k: &str, v: Value| {
        o.entry(k).or_insert(v);
    };
    put("profile", json!(a.profile));
    put("key", json!(a.key));
    if let Some(ttl) = &a.ttl {
        put("ttl", json!(ttl));
    }
    if let Some(issuer) = &a.issuer {
        put("issuer", json!(issuer));
    }
    if a.store_key {
        put("store_key", json!(true));
    }
}

/// Writes an issued result's chain and key into `dir`; the line names the files
/// instead of holding the key. A refused result passes through.
fn to_files(dir: &Path, result: &Value) -> Result<Value, Failure> {
    let Some(serial) = result["serial"].as_str() else {
        return Ok(result.clone());
    };
    if serial.is_empty() || !serial.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Failure::new(
            Exit::Server,
            "the server's answer has a serial number that is not hex",
        ));
    }
    let chain = dir.join(format!("{serial}.chain.pem"));
    let key = dir.join(format!("{serial}.key"));
    new_file(
        &chain,
        result["chain"].as_str().unwrap_or_default().as_bytes(),
        false,
    )?;
    new_file(
        &key,
        result["private_key"]
            .as_str()
            .unwrap_or_default()
            .as_bytes(),
        true,
    )?;
    let mut line: Map<String, Value> = result.as_object().cloned().unwrap_or_default();
    line.remove("private_key");
    line.insert("chain_file".into(), json!(chain.display().to_string()));
    line.insert("key_file".into(), json!(key.display().to_string()));
    Ok(Value::Object(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_array_and_ndjson_give_the_same_requests() {
        let array = parse(br#"[{"names":["a.example"]}, {"names":["b.example"]}]"#).unwrap();
        let lines = parse(b"{\"names\":[\"a.example\"]}\n\n{\"names\":[\"b.example\"]}\n").unwrap();
        assert_eq!(array, lines);
        assert_eq!(array.len(), 2);
    }

    #[test]
    fn a_line_that_is_not_a_request_is_named() {
        let e = parse(b"{\"names\":[\"a.example\"]}\n[\"b.example\"]\n").unwrap_err();
        assert_eq!(e.exit, Exit::Usage);
        assert!(e.message.starts_with("line 2:"), "{}", e.message);
        let e = parse(b"{\"names\":[\"a.example\"]}\n{oops\n").unwrap_err();
        assert!(
            e.message.starts_with("line 2: not a JSON request"),
            "{}",
            e.message
        );
        let e = parse(b"[1]").unwrap_err();
        assert!(e.message.starts_with("item 0:"), "{}", e.message);
    }
}
