//! The real FHIR data in `../shared/data/fhir/` (Synthea bundles, HL7 R4 examples, a
//! bulk-export NDJSON set) through the running binary: protect every resource, check
//! that no value the policy covers is left in the output, unprotect to identical JSON,
//! rotate both keys, rewrap, unprotect again, and verify the audit chain.
//!
//! "Values the policy covers" are found here independently of the server's walker: the
//! test removes the policy's elements from a copy of each resource (its own small
//! implementation of the paths) and keeps what it removed. A value that also appears in
//! what remains (a birth date that is also an encounter date, a city that is also an
//! organisation's) is not expected to vanish. Two further exclusions, both deliberate:
//! values under code-like keys (`use`, `system`, `url`, ...) which are not identifying,
//! and values equal to a resource's logical id: Synthea reuses the Patient id as its
//! MRN, and ids and references stay in clear so that the FHIR server can route and
//! resolve them (docs/threat-model.md says so).

use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use webqx_kms::fhir::Policy;
use webqx_testkit::server::{Server, stderr};
use webqx_testkit::shared_data;

const BIN: &str = env!("CARGO_BIN_EXE_webqx-sec");
const NOT_IDENTIFYING: [&str; 9] = [
    "use",
    "system",
    "url",
    "status",
    "code",
    "contentType",
    "language",
    "rank",
    "gender",
];

fn leaves(v: &Value, key: &str, out: &mut Vec<String>) {
    match v {
        Value::String(s) if !NOT_IDENTIFYING.contains(&key) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(a) => a.iter().for_each(|x| leaves(x, key, out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| leaves(x, k, out)),
        _ => {}
    }
}

/// Removes what `path` selects from `obj`, pushing its values to `taken`.
fn take(obj: &mut Map<String, Value>, path: &[&str], taken: &mut Vec<String>) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if let Some(url) = first
        .strip_prefix("extension(")
        .and_then(|r| r.strip_suffix(')'))
    {
        for ext in obj
            .get_mut("extension")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(e) = ext
                .as_object_mut()
                .filter(|e| e.get("url").and_then(Value::as_str) == Some(url))
            {
                take(e, rest, taken);
            }
        }
        return;
    }
    let keys: Vec<String> = obj
        .keys()
        .filter(|k| match first.strip_suffix("[x]") {
            Some(prefix) => k.starts_with(prefix) && k.len() > prefix.len(),
            None => k.as_str() == *first,
        })
        .cloned()
        .collect();
    for k in keys {
        if rest.is_empty() {
            if let Some(v) = obj.remove(&k) {
                leaves(&v, &k, taken);
            }
            obj.remove(&format!("_{k}"));
        } else {
            match obj.get_mut(&k) {
                Some(Value::Object(o)) => take(o, rest, taken),
                Some(Value::Array(a)) => a
                    .iter_mut()
                    .filter_map(Value::as_object_mut)
                    .for_each(|o| take(o, rest, taken)),
                _ => {}
            }
        }
    }
}

/// Splits a resource into the values the policy protects and everything else.
fn split(resource: &Value, policy: &Policy) -> (Vec<String>, Vec<String>, BTreeSet<String>) {
    let mut copy = resource.clone();
    let (mut phi, mut ids) = (Vec::new(), BTreeSet::new());
    strip(&mut copy, policy, &mut phi, &mut ids, true);
    let mut public = Vec::new();
    leaves(&copy, "", &mut public);
    (phi, public, ids)
}

fn strip(
    v: &mut Value,
    policy: &Policy,
    phi: &mut Vec<String>,
    ids: &mut BTreeSet<String>,
    root: bool,
) {
    match v {
        Value::Array(a) => a.iter_mut().for_each(|x| strip(x, policy, phi, ids, false)),
        Value::Object(o) => {
            if let Some(rt) = o
                .get("resourceType")
                .and_then(Value::as_str)
                .map(str::to_owned)
            {
                if let Some(id) = o.get("id").and_then(Value::as_str) {
                    ids.insert(id.to_owned());
                }
                for rule in ["*", rt.as_str()]
                    .iter()
                    .filter_map(|t| policy.resources.get(*t))
                {
                    for path in &rule.protect {
                        take(o, &split_path(path), phi);
                    }
                    for path in &rule.search {
                        let mut p = split_path(path);
                        p.push("value");
                        take(o, &p, phi);
                    }
                }
            } else if !root
                && o.contains_key("reference")
                && o.get("display").is_some_and(Value::is_string)
            {
                let d = o.remove("display").unwrap();
                leaves(&d, "display", phi);
            }
            for (_, x) in o.iter_mut() {
                strip(x, policy, phi, ids, false);
            }
        }
        _ => {}
    }
}

fn split_path(path: &str) -> Vec<&str> {
    // Extension URLs hold dots: split only outside parentheses.
    let mut out = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in path.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            '.' if depth == 0 => {
                out.push(&path[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&path[start..]);
    out
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext) && !p.ends_with("log.ndjson"))
        .collect();
    v.sort();
    v
}

fn resources_of(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    if path.extension().is_some_and(|e| e == "ndjson") {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    } else {
        vec![serde_json::from_str(&text).unwrap()]
    }
}

/// What the service must give back: the same JSON value, serialized compactly, key order
/// and number lexemes kept.
fn canonical(path: &Path) -> String {
    let mut out = String::new();
    for r in resources_of(path) {
        out.push_str(&serde_json::to_string(&r).unwrap());
        if path.extension().is_some_and(|e| e == "ndjson") {
            out.push('\n');
        }
    }
    out
}

fn run(server: &Server, args: &[&str]) {
    let o = server.cli(args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
}

#[test]
fn every_shared_resource_round_trips_with_no_phi_left() {
    let Some(root) = shared_data("fhir") else {
        return;
    };
    let mut inputs = files(&root.join("synthea"), "json");
    inputs.extend(files(&root.join("hl7-r4-examples"), "json"));
    inputs.extend(files(&root.join("bulk-ndjson-10-patients"), "ndjson"));
    assert!(
        inputs.len() >= 20,
        "expected the shared FHIR set, found {}",
        inputs.len()
    );

    let server = Server::start(BIN, &[]);
    let work = tempfile::tempdir().unwrap();
    let policy = Policy::default();
    let mut protected_files = Vec::new();
    let mut checked = 0usize;

    for (i, input) in inputs.iter().enumerate() {
        let ext = input.extension().unwrap().to_str().unwrap();
        let prot = work.path().join(format!("{i}.protected.{ext}"));
        let back = work.path().join(format!("{i}.restored.{ext}"));
        run(
            &server,
            &[
                "fhir",
                "protect",
                input.to_str().unwrap(),
                "-o",
                prot.to_str().unwrap(),
            ],
        );
        let output = std::fs::read_to_string(&prot).unwrap();

        let (mut phi, mut public, mut ids) = (Vec::new(), Vec::new(), BTreeSet::new());
        for r in resources_of(input) {
            let (p, q, i) = split(&r, &policy);
            phi.extend(p);
            public.extend(q);
            ids.extend(i);
        }
        let public_text = public.join("\u{0}");
        for v in phi
            .iter()
            .filter(|v| v.len() >= 4 && !ids.contains(*v) && !public_text.contains(v.as_str()))
        {
            assert!(
                !output.contains(v.as_str()),
                "{}: PHI value {v:?} is still in the protected output",
                input.display()
            );
            checked += 1;
        }

        run(
            &server,
            &[
                "fhir",
                "unprotect",
                prot.to_str().unwrap(),
                "-o",
                back.to_str().unwrap(),
            ],
        );
        assert_eq!(
            std::fs::read_to_string(&back).unwrap(),
            canonical(input),
            "{}: not identical",
            input.display()
        );
        protected_files.push((input.clone(), prot, ext.to_owned()));
    }
    assert!(
        checked > 1000,
        "the check looked at {checked} PHI values; the data should hold far more"
    );

    // Rotate both keys, rewrap everything, and unprotect again.
    run(&server, &["key", "rotate", "fhir-phi"]);
    run(&server, &["key", "rotate", "fhir-search"]);
    for (i, (input, prot, ext)) in protected_files.iter().enumerate() {
        let rewrapped = work.path().join(format!("{i}.rewrapped.{ext}"));
        let back = work.path().join(format!("{i}.restored2.{ext}"));
        run(
            &server,
            &[
                "fhir",
                "rewrap",
                prot.to_str().unwrap(),
                "-o",
                rewrapped.to_str().unwrap(),
            ],
        );
        let before = std::fs::read_to_string(prot).unwrap();
        let after = std::fs::read_to_string(&rewrapped).unwrap();
        if before.contains("wqx1:") {
            assert_ne!(before, after, "{}: rewrap changed nothing", input.display());
        }
        run(
            &server,
            &[
                "fhir",
                "unprotect",
                rewrapped.to_str().unwrap(),
                "-o",
                back.to_str().unwrap(),
            ],
        );
        assert_eq!(
            std::fs::read_to_string(&back).unwrap(),
            canonical(input),
            "{}: not identical after rewrap",
            input.display()
        );
    }
    let verify = server.cli(&["audit", "verify", "--remote"]);
    assert!(verify.status.success(), "{}", stderr(&verify));
}
