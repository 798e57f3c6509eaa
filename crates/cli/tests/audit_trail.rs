//! The audit trail through the real binary and the real HTTP API: EHR intake of the
//! shared FHIR AuditEvent examples (single, Bundle, NDJSON, hostile items), exports in
//! every format, signed checkpoints exported and checked (also by OpenSSL, a real
//! client), investigator HMAC search, and the reserved checkpoint key.

use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;
use webqx_testkit::server::{Server, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_webqx-sec");

/// The shared examples; `None` outside CI when ../shared/data is absent (under CI,
/// `shared_data` fails loudly instead).
fn examples() -> Option<Vec<(String, Value)>> {
    let dir = webqx_testkit::shared_data("fhir-audit")?;
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .expect("fhir-audit examples")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let v = serde_json::from_slice(&std::fs::read(&p).expect("read")).expect("json");
            (p.file_name().unwrap().to_string_lossy().into_owned(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(out.len(), 4, "the four HL7 AuditEvent examples");
    Some(out)
}

fn server() -> Server {
    let env = vec![(
        "WEBQX_AUDIT_CHECKPOINT_INTERVAL".to_string(),
        "0".to_string(),
    )];
    Server::start(BIN, &env)
}

#[tokio::test]
async fn shared_audit_events_are_accepted_and_round_trip_through_the_fhir_export() {
    let s = server();
    let http = s.http();
    let Some(examples) = examples() else { return };
    for (name, event) in &examples {
        let r = http
            .send(
                "POST",
                "/v1/audit/events",
                Some((event.to_string().into_bytes(), "application/fhir+json")),
            )
            .await;
        assert_eq!(r.status, 200, "{name}: {}", r.text);
        assert_eq!(r.json["accepted"], 1, "{name}: {}", r.text);
        assert_eq!(r.json["results"][0]["status"], "accepted");
    }

    let out = s.cli(&["audit", "export", "--format", "fhir"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exported: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    for (name, original) in &examples {
        let found = exported.iter().any(|e| {
            let mut e = e.clone();
            let mut o = original.clone();
            e.as_object_mut().unwrap().remove("id");
            o.as_object_mut().unwrap().remove("id");
            e == o
        });
        assert!(
            found,
            "{name} did not come back unchanged from the FHIR export"
        );
    }
    // Our own records also export as AuditEvents.
    assert!(exported.iter().all(|e| e["resourceType"] == "AuditEvent"));
    assert!(exported.len() > examples.len());
}

#[tokio::test]
async fn bundles_and_ndjson_answer_per_item_and_bad_bodies_are_refused_whole() {
    let s = server();
    let http = s.http();
    let Some(examples) = examples() else { return };
    let bundle = json!({
        "resourceType": "Bundle",
        "type": "collection",
        "entry": examples.iter().map(|(_, e)| json!({"resource": e})).collect::<Vec<_>>(),
    });
    let r = http
        .send(
            "POST",
            "/v1/audit/events",
            Some((bundle.to_string().into_bytes(), "application/fhir+json")),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["accepted"], 4, "{}", r.text);

    let mut unknown_code = examples[0].1.clone();
    unknown_code["action"] = json!("X");
    let mut no_agent = examples[1].1.clone();
    no_agent.as_object_mut().unwrap().remove("agent");
    let ndjson = format!(
        "{}\n{{not json\n{}\n{}\n",
        examples[2].1, unknown_code, no_agent
    );
    let r = http
        .send(
            "POST",
            "/v1/audit/events",
            Some((ndjson.into_bytes(), "application/fhir+ndjson")),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["accepted"], 1, "{}", r.text);
    assert_eq!(r.json["rejected"], 3, "{}", r.text);
    let results = r.json["results"].as_array().unwrap();
    assert_eq!(results[0]["status"], "accepted");
    for (i, word) in [(1, "line 2"), (2, "action"), (3, "agent")] {
        assert_eq!(results[i]["status"], "rejected", "{}", r.text);
        let reason = results[i]["reason"].as_str().unwrap();
        assert!(reason.contains(word), "item {i}: {reason}");
    }

    let r = http
        .send(
            "POST",
            "/v1/audit/events",
            Some((b"<AuditMessage/>".to_vec(), "text/xml")),
        )
        .await;
    assert_eq!(r.status, 415, "{}", r.text);
    let r = http
        .send(
            "POST",
            "/v1/audit/events",
            Some((vec![0xff, 0xfe, b'{'], "application/fhir+json")),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let r = http
        .send(
            "POST",
            "/v1/audit/events",
            Some((
                unknown_code.to_string().into_bytes(),
                "application/fhir+json",
            )),
        )
        .await;
    assert_eq!(r.status, 422, "all items rejected: {}", r.text);

    // Only a token with audit-write may send events.
    let out = s.cli(&[
        "--json",
        "token",
        "create",
        "--name",
        "reader",
        "--op",
        "audit-read",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reader: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let r = http
        .with_token(reader["token"].as_str())
        .send(
            "POST",
            "/v1/audit/events",
            Some((
                examples[0].1.to_string().into_bytes(),
                "application/fhir+json",
            )),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
}

#[tokio::test]
async fn every_export_format_renders_every_record() {
    let s = server();
    let http = s.http();
    let Some(examples) = examples() else { return };
    for (_, event) in examples {
        http.send(
            "POST",
            "/v1/audit/events",
            Some((event.to_string().into_bytes(), "application/fhir+json")),
        )
        .await;
    }
    http.post("/v1/keys", json!({"name": "phi"})).await;
    let jsonl = s.cli(&["audit", "export"]);
    let count = stdout(&jsonl).lines().count();
    assert!(count >= 6);
    for format in ["fhir", "atna", "cef", "ecs", "ocsf"] {
        let out = s.cli(&["audit", "export", "--format", format]);
        assert!(
            out.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = stdout(&out);
        assert!(
            text.lines().count() >= count,
            "{format}: one line per record"
        );
        match format {
            "atna" => assert!(
                text.lines()
                    .all(|l| l.contains(" IHE+RFC-3881 ") && l.contains("<AuditMessage"))
            ),
            "cef" => assert!(
                text.lines()
                    .all(|l| l.starts_with("CEF:0|WebQx|WebQx Security|"))
            ),
            _ => assert!(
                text.lines()
                    .all(|l| serde_json::from_str::<Value>(l).is_ok())
            ),
        }
    }
    // Remote export pages through the API and gives the same records.
    let remote = s.cli(&["audit", "export", "--remote"]);
    assert!(
        remote.status.success(),
        "{}",
        String::from_utf8_lossy(&remote.stderr)
    );
    let local_ids: Vec<Value> = stdout(&jsonl)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].clone())
        .collect();
    let remote_ids: Vec<Value> = stdout(&remote)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].clone())
        .collect();
    assert_eq!(&remote_ids[..local_ids.len()], &local_ids[..]);

    let bad = s.cli(&["audit", "export", "--format", "xml"]);
    assert_eq!(bad.status.code(), Some(2));
    let bad = s.cli(&["audit", "export", "--since", "yesterday"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[tokio::test]
async fn checkpoints_export_and_verify_with_our_cli_and_with_openssl() {
    let s = server();
    let http = s.http();
    http.post("/v1/keys", json!({"name": "phi"})).await;
    let created = s.cli(&["--json", "audit", "checkpoint", "create"]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let file: PathBuf = dir.path().join("cp.json");
    let out = s.cli(&[
        "audit",
        "checkpoint",
        "export",
        "-o",
        file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cp: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();

    for remote in [false, true] {
        let mut args = vec!["audit", "verify", "--checkpoint", file.to_str().unwrap()];
        if remote {
            args.push("--remote");
        }
        let v = s.cli(&args);
        assert!(
            v.status.success(),
            "{}{}",
            stdout(&v),
            String::from_utf8_lossy(&v.stderr)
        );
        assert!(
            stdout(&v).contains("exported checkpoint at record"),
            "{}",
            stdout(&v)
        );
    }

    // OpenSSL checks the same signature over the documented statement.
    let statement = format!(
        "webqx-audit-checkpoint-v1\nseq={}\nhash={}\ntime={}\nkey={}\nversion={}\n",
        cp["seq"],
        cp["hash"].as_str().unwrap(),
        cp["time"].as_str().unwrap(),
        cp["key"].as_str().unwrap(),
        cp["key_version"]
    );
    std::fs::write(dir.path().join("statement.txt"), statement).unwrap();
    std::fs::write(
        dir.path().join("pub.pem"),
        cp["public_key_pem"].as_str().unwrap(),
    )
    .unwrap();
    let sig = webqx_testkit_b64(cp["signature"].as_str().unwrap());
    std::fs::write(dir.path().join("sig.bin"), sig).unwrap();
    let o = Command::new("openssl")
        .args([
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "pub.pem",
            "-rawin",
            "-in",
            "statement.txt",
            "-sigfile",
            "sig.bin",
        ])
        .current_dir(dir.path())
        .output()
        .expect("openssl runs");
    assert!(
        o.status.success(),
        "openssl: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );

    // A tampered file is refused with a clear message.
    let mut forged = cp.clone();
    forged["seq"] = json!(cp["seq"].as_i64().unwrap() + 1);
    std::fs::write(&file, forged.to_string()).unwrap();
    let v = s.cli(&["audit", "verify", "--checkpoint", file.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(1), "{}", stdout(&v));
    assert!(String::from_utf8_lossy(&v.stderr).contains("does not verify"));
}

fn webqx_testkit_b64(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64")
}

#[tokio::test]
async fn the_checkpoint_key_cannot_be_used_exported_or_destroyed_through_the_api() {
    let s = server();
    let http = s.http();
    let r = http.post("/v1/audit/checkpoints", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = http
        .post(
            "/v1/keys/webqx-audit-checkpoint/sign",
            json!({"input": "AAAA"}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(
        r.json["type"].as_str().unwrap().ends_with("reserved-key"),
        "{}",
        r.text
    );
    for path in ["disable", "destroy"] {
        let r = http
            .post(
                &format!("/v1/keys/webqx-audit-checkpoint/{path}"),
                json!({}),
            )
            .await;
        assert_eq!(r.status, 403, "{path}: {}", r.text);
    }
    let r = http.get("/v1/keys/webqx-audit-checkpoint/export").await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = http
        .post("/v1/keys/webqx-audit-checkpoint/rotate", json!({}))
        .await;
    assert_eq!(r.status, 200, "rotation is allowed: {}", r.text);
}

#[tokio::test]
async fn investigators_find_records_about_a_patient_by_hmac() {
    let s = server();
    let http = s.http();
    let Some(examples) = examples() else { return };
    let (_, vread) = examples
        .into_iter()
        .find(|(n, _)| n.contains("vread"))
        .unwrap();
    http.send(
        "POST",
        "/v1/audit/events",
        Some((vread.to_string().into_bytes(), "application/fhir+json")),
    )
    .await;
    let r = http
        .post(
            "/v1/audit/hmac",
            json!({"value": "Patient/example/_history/1", "search": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let found = r.json["records"].as_array().unwrap();
    assert_eq!(found.len(), 1, "{}", r.text);
    assert_eq!(found[0]["action"], "ehr.rest.vread");
    let seq = found[0]["seq"].as_i64().unwrap();

    let export = stdout(&s.cli(&["audit", "export"]));
    let record: Value = export
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["seq"] == seq)
        .unwrap();
    let tag = record["hmac"]["patient"].as_str().unwrap();
    let r = http
        .post(
            "/v1/audit/hmac",
            json!({"value": "Patient/example/_history/1", "hmac": tag}),
        )
        .await;
    assert_eq!(r.json["matches"], true, "{}", r.text);
    let r = http
        .post(
            "/v1/audit/hmac",
            json!({"value": "Patient/other", "hmac": tag}),
        )
        .await;
    assert_eq!(r.json["matches"], false, "{}", r.text);
    // The question itself is audited without the value.
    let after = stdout(&s.cli(&["audit", "export"]));
    assert!(!after.contains("Patient/other"));
}
