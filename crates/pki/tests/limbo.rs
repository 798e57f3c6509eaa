//! Path validation agrees with the expected results of the real chains of x509-limbo's
//! `online` set (`../shared/data/x509/limbo-online/*.limbo.json`, schema beside it):
//! each chain validates for its expected peer name at its `validation_time`, and fails
//! for another name, at a time after it expired, and without its trust anchor.

use rustls_pki_types::{CertificateDer, UnixTime};
use serde_json::Value;
use std::path::PathBuf;
use webqx_pki::scan::{matches_name, pem_certificates, validate_path};

fn limbo_dir() -> Option<PathBuf> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/x509/limbo-online");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI=1 but {} is missing",
        dir.display()
    );
    eprintln!("skipped: {} is missing", dir.display());
    None
}

fn pems(v: &Value) -> Vec<CertificateDer<'static>> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str())
        .flat_map(|p| pem_certificates(p.as_bytes()).expect("limbo PEM"))
        .collect()
}

fn at(rfc3339: &str, plus_days: i64) -> UnixTime {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339).expect("validation_time");
    let secs = t.timestamp() + plus_days * 86_400;
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs as u64))
}

#[test]
fn online_chains_validate_as_expected() {
    let Some(dir) = limbo_dir() else {
        return;
    };
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".limbo.json") {
            continue;
        }
        let case: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let id = case["id"].as_str().unwrap_or("?").to_string();
        assert_eq!(case["validation_kind"], "SERVER", "{id}");
        let anchors = pems(&case["trusted_certs"]);
        let leaf = pem_certificates(case["peer_certificate"].as_str().unwrap().as_bytes()).unwrap();
        let mut chain = leaf.clone();
        chain.extend(pems(&case["untrusted_intermediates"]));
        let when = case["validation_time"].as_str().unwrap();
        let name = case["expected_peer_name"]["value"].as_str().unwrap();
        let expected_ok = case["expected_result"] == "SUCCESS";

        let result = validate_path(&chain, &anchors, at(when, 0));
        assert_eq!(result.is_ok(), expected_ok, "{id}: {result:?}");
        assert_eq!(
            matches_name(&leaf[0], name),
            expected_ok,
            "{id}: name {name}"
        );
        assert!(
            !matches_name(&leaf[0], "not-this-host.webqx.invalid"),
            "{id}: other name"
        );
        let later = validate_path(&chain, &anchors, at(when, 3 * 366));
        assert!(later.is_err(), "{id}: still valid three years later");
        assert!(
            validate_path(&chain, &[], at(when, 0)).is_err(),
            "{id}: no anchor"
        );
        seen += 1;
    }
    assert!(seen >= 8, "expected the 8 online chains, found {seen}");
}
