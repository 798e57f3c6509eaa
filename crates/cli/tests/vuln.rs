//! `webqx-sec vuln …` through the real binary: import of the shared OSV data, scans of
//! the shared lockfiles with the findings MANIFEST.md expects, the documented exit codes,
//! SARIF and VEX shapes, and agreement with cargo-audit's recorded results on every
//! Cargo.lock (the shared ones, and real projects' locks from `$WEBQX_AGREEMENT_LOCKS`,
//! downloaded by `.ci/agreement-locks.sh`).

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const BIN: &str = env!("CARGO_BIN_EXE_webqx-sec");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("WEBQX_VULN_DB")
        .output()
        .expect("run webqx-sec")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

/// A database with the RustSec OSV export and the GitHub samples, imported once per test
/// process through `vuln db import`; `None` when the shared data is absent (outside CI).
fn shared_db() -> Option<&'static Path> {
    static DB: OnceLock<Option<(tempfile::TempDir, PathBuf)>> = OnceLock::new();
    DB.get_or_init(|| {
        let rustsec = webqx_testkit::shared_data("osv/rustsec-osv/crates")?;
        let ghsa = webqx_testkit::shared_data("osv/samples/ghsa")?;
        let tmp = tempfile::tempdir().expect("tempdir");
        let db = tmp.path().join("db");
        let out = run(&[
            "vuln",
            "db",
            "import",
            "--db",
            db.to_str()?,
            rustsec.to_str()?,
            ghsa.to_str()?,
            "--json",
        ]);
        assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).expect("import json");
        assert_eq!(v["added"], 1206 + 3, "{v}");
        assert_eq!(v["errors"].as_array().map(Vec::len), Some(0), "{v}");
        Some((tmp, db))
    })
    .as_ref()
    .map(|(_, db)| db.as_path())
}

fn lockfile(name: &str) -> Option<PathBuf> {
    webqx_testkit::shared_data(&format!("osv/lockfiles/{name}"))
}

fn scan_json(db: &Path, lock: &Path) -> (i32, Value) {
    let out = run(&[
        "vuln",
        "scan",
        lock.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (code(&out), v)
}

/// (id, package, version) of the findings; `informational` selects notices or
/// vulnerabilities. With aliases, the RustSec id is the one compared.
fn ids(report: &Value, informational: bool) -> BTreeSet<(String, String, String)> {
    let mut set = BTreeSet::new();
    for f in report["findings"].as_array().expect("findings") {
        if f["informational"].is_string() != informational {
            continue;
        }
        let all: Vec<&str> = f["ids"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let id = all
            .iter()
            .find(|i| i.starts_with("RUSTSEC-"))
            .copied()
            .unwrap_or(f["id"].as_str().unwrap());
        set.insert((
            id.to_string(),
            f["package"]["name"].as_str().unwrap().to_string(),
            f["package"]["version"].as_str().unwrap().to_string(),
        ));
    }
    set
}

fn vulns(report: &Value) -> Vec<String> {
    ids(report, false)
        .into_iter()
        .map(|(id, p, v)| format!("{p} {v} {id}"))
        .collect()
}

#[test]
fn shared_lockfiles_give_the_manifest_findings_and_exit_codes() {
    let Some(db) = shared_db() else { return };
    let cases: [(&str, i32, &[&str]); 4] = [
        (
            "rustsec_cargo-audit_multi_vulns_Cargo.lock",
            1,
            &[
                "base64 0.5.1 RUSTSEC-2017-0004",
                "time 0.1.45 RUSTSEC-2020-0071",
            ],
        ),
        ("osvscanner_deprecated-vuln_Cargo.lock", 0, &[]),
        ("rustsec_cargo-audit_base64_vuln_Cargo.lock", 0, &[]),
        (
            "osvscanner_locks-many-with-insecure_package-lock.json",
            1,
            &["ansi-html 0.0.1 GHSA-whgm-jr23-g3j9"],
        ),
    ];
    for (name, want_code, want) in cases {
        let Some(lock) = lockfile(name) else { return };
        let (c, report) = scan_json(db, &lock);
        assert_eq!(vulns(&report), want, "{name}");
        assert_eq!(c, want_code, "{name}");
    }

    // net2: both informational notices, reported apart, and exit 0.
    let lock = lockfile("osvscanner_deprecated-vuln_Cargo.lock").unwrap();
    let (_, report) = scan_json(db, &lock);
    let notices: Vec<String> = ids(&report, true).into_iter().map(|t| t.0).collect();
    assert_eq!(notices, ["RUSTSEC-2020-0016", "RUSTSEC-2020-0078"]);
}

#[test]
fn folders_are_searched_and_fail_on_sets_the_threshold() {
    let Some(db) = shared_db() else { return };
    let Some(dir) = webqx_testkit::shared_data("osv/lockfiles") else {
        return;
    };
    let db = db.to_str().unwrap();
    let dir = dir.to_str().unwrap();
    let out = run(&["vuln", "scan", dir, "--db", db, "--format", "json"]);
    assert_eq!(code(&out), 1);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(vulns(&report).len(), 3, "two crates and one npm package");

    // base64's advisory is critical, time's medium, ansi-html's high: at critical, base64
    // alone still fails; an ignore of it leaves nothing at critical.
    let out = run(&["vuln", "scan", dir, "--db", db, "--fail-on", "critical"]);
    assert_eq!(code(&out), 1);
    // `none` reports only (second review: it failed on everything).
    let out = run(&["vuln", "scan", dir, "--db", db, "--fail-on", "none"]);
    assert_eq!(code(&out), 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("RUSTSEC-2017-0004"));
    let tmp = tempfile::tempdir().unwrap();
    let ignore = tmp.path().join("ignore.toml");
    std::fs::write(
        &ignore,
        "[[ignore]]\nid = \"RUSTSEC-2017-0004\"\nreason = \"test\"\n",
    )
    .unwrap();
    let out = run(&[
        "vuln",
        "scan",
        dir,
        "--db",
        db,
        "--fail-on",
        "critical",
        "--ignore",
        ignore.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn sarif_and_vex_have_their_shapes() {
    let Some(db) = shared_db() else { return };
    let Some(lock) = lockfile("rustsec_cargo-audit_multi_vulns_Cargo.lock") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out_file = tmp.path().join("r.sarif");
    let out = run(&[
        "vuln",
        "scan",
        lock.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
        "--format",
        "sarif",
        "--output",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 1);
    assert!(out.stdout.is_empty(), "--output leaves stdout empty");
    let sarif: Value = serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let rules: BTreeSet<&str> = results
        .iter()
        .filter_map(|r| r["ruleId"].as_str())
        .collect();
    assert_eq!(
        rules,
        BTreeSet::from(["RUSTSEC-2017-0004", "RUSTSEC-2020-0071"])
    );
    let base64 = results
        .iter()
        .find(|r| r["ruleId"] == "RUSTSEC-2017-0004")
        .unwrap();
    assert_eq!(base64["level"], "error", "critical is an error");
    let loc = &base64["locations"][0]["physicalLocation"];
    assert!(
        loc["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("multi_vulns_Cargo.lock")
    );
    assert_eq!(loc["region"]["startLine"], 20, "base64's [[package]] line");
    assert!(
        sarif["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .len()
            >= 2
    );

    let out = run(&[
        "vuln",
        "scan",
        lock.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
        "--format",
        "vex",
    ]);
    assert_eq!(code(&out), 1);
    let vex: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(vex["bomFormat"], "CycloneDX");
    assert_eq!(vex["specVersion"], "1.5");
    let vulns = vex["vulnerabilities"].as_array().unwrap();
    assert_eq!(vulns.len(), 2);
    for v in vulns {
        assert_eq!(v["analysis"]["state"], "in_triage");
        assert!(
            v["affects"][0]["ref"]
                .as_str()
                .unwrap()
                .starts_with("pkg:cargo/")
        );
    }
}

#[test]
fn errors_have_their_documented_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let lock = tmp.path().join("Cargo.lock");
    std::fs::write(
        &lock,
        "version = 3\n\n[[package]]\nname = \"x\"\nversion = \n",
    )
    .unwrap();
    let empty_db = tmp.path().join("no-db");
    let (lock_s, db_s) = (lock.to_str().unwrap(), empty_db.to_str().unwrap());

    // A malformed lockfile: exit 4, with file:line.
    let out = run(&["vuln", "scan", lock_s, "--db", db_s]);
    assert_eq!(code(&out), 4);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{lock_s}:5")), "{err}");

    // A missing database: exit 3, for scan and status.
    std::fs::write(
        &lock,
        "version = 3\n\n[[package]]\nname = \"x\"\nversion = \"1.0.0\"\n",
    )
    .unwrap();
    let out = run(&["vuln", "scan", lock_s, "--db", db_s]);
    assert_eq!(code(&out), 3, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(code(&run(&["vuln", "db", "status", "--db", db_s])), 3);

    // Usage: exit 2.
    assert_eq!(
        code(&run(&[
            "vuln", "scan", lock_s, "--db", db_s, "--format", "xml"
        ])),
        2
    );
    assert_eq!(
        code(&run(&[
            "vuln",
            "scan",
            lock_s,
            "--db",
            db_s,
            "--fail-on",
            "bad"
        ])),
        2
    );
    assert_eq!(code(&run(&["vuln", "scan"])), 2);

    // A missing input: exit 4.
    let gone = tmp.path().join("gone.lock");
    assert_eq!(
        code(&run(&[
            "vuln",
            "scan",
            gone.to_str().unwrap(),
            "--db",
            db_s
        ])),
        4
    );
}

#[test]
fn status_reports_counts_and_staleness() {
    let Some(db) = shared_db() else { return };
    let db = db.to_str().unwrap();
    let out = run(&["vuln", "db", "status", "--db", db, "--json"]);
    assert_eq!(code(&out), 0);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"]["total"], 1209);
    // The snapshot's newest advisory is from 2026; a one-day limit makes it stale.
    assert_eq!(
        code(&run(&[
            "vuln",
            "db",
            "status",
            "--db",
            db,
            "--max-age",
            "1d"
        ])),
        3
    );
    assert_eq!(
        code(&run(&[
            "vuln",
            "db",
            "status",
            "--db",
            db,
            "--max-age",
            "100000d"
        ])),
        0
    );
}

// ---------------------------------------------------------------------------------
// Agreement with cargo-audit

/// The recorded cargo-audit result for a lock (`tests/agreement/<name>.json`).
fn recorded(lock: &Path) -> Value {
    let name = lock.file_name().unwrap().to_str().unwrap();
    let stem = name.strip_suffix(".lock").unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/agreement/{stem}.json"));
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap()
}

fn recorded_set(v: &Value, key: &str) -> BTreeSet<(String, String, String)> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap().to_string();
            (s("id"), s("package"), s("version"))
        })
        .collect()
}

/// Differences between ours and cargo-audit's, as text (empty when they agree).
fn compare(lock: &Path, report: &Value) -> Vec<String> {
    let theirs = recorded(lock);
    let mut problems = Vec::new();
    for (key, informational) in [("vulnerabilities", false), ("warnings", true)] {
        let ours = ids(report, informational);
        let want = recorded_set(&theirs, key);
        if ours != want {
            problems.push(format!(
                "{}: {key} differ\n  ours:        {ours:?}\n  cargo-audit: {want:?}\n  only ours: {:?}\n  only theirs: {:?}",
                lock.display(),
                ours.difference(&want).collect::<Vec<_>>(),
                want.difference(&ours).collect::<Vec<_>>(),
            ));
        }
    }
    problems
}

/// The downloaded locks, from `$WEBQX_AGREEMENT_LOCKS` (fails under CI when missing).
fn agreement_locks() -> Vec<PathBuf> {
    let Some(dir) = std::env::var_os("WEBQX_AGREEMENT_LOCKS") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but WEBQX_AGREEMENT_LOCKS is not: run .ci/agreement-locks.sh DIR and set it"
        );
        eprintln!("note: WEBQX_AGREEMENT_LOCKS unset; only the shared lockfiles are compared");
        return Vec::new();
    };
    let mut locks: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("WEBQX_AGREEMENT_LOCKS={}: {e}", Path::new(&dir).display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".Cargo.lock"))
        .collect();
    locks.sort();
    assert_eq!(
        locks.len(),
        6,
        "the six crates of .ci/agreement-locks.sh in {locks:?}"
    );
    locks
}

#[test]
fn agrees_with_cargo_audit_on_every_lock() {
    let Some(db) = shared_db() else { return };
    let Some(shared) = webqx_testkit::shared_data("osv/lockfiles") else {
        return;
    };
    let mut locks: Vec<PathBuf> = std::fs::read_dir(&shared)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with("Cargo.lock"))
        .collect();
    assert_eq!(locks.len(), 3);
    locks.extend(agreement_locks());

    let mut problems = Vec::new();
    let mut compared = 0;
    for lock in &locks {
        let (_, report) = scan_json(db, lock);
        problems.extend(compare(lock, &report));
        compared += 1;
    }
    eprintln!("compared {compared} locks with cargo-audit's recorded results");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------------
// Regressions of the hostile review (issue 8)

/// Writes one OSV advisory for `name` in `ecosystem` (affected below `fixed`) to `dir`.
fn write_advisory(dir: &Path, id: &str, ecosystem: &str, name: &str, fixed: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let text = serde_json::json!({
        "id": id, "modified": "2026-01-01T00:00:00Z", "summary": format!("{id} summary"),
        "affected": [{"package": {"ecosystem": ecosystem, "name": name},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}],
    });
    std::fs::write(dir.join(format!("{id}.json")), text.to_string()).unwrap();
}

/// Runs the binary, killed (and the test failed) after `secs` seconds: for inputs that
/// used to hang.
fn run_within(args: &[&str], secs: u64) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("WEBQX_VULN_DB")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run webqx-sec");
    let started = std::time::Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > std::time::Duration::from_secs(secs) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} still running after {secs}s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Review 1: an empty database, or one without advisories for an ecosystem of the
/// inputs, is exit 3 with the reason, never a clean exit 0.
#[test]
fn scans_without_advisories_for_an_ecosystem_are_not_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let (db, db_s) = (
        tmp.path().join("db"),
        tmp.path().join("db").display().to_string(),
    );
    let empty_src = tmp.path().join("empty");
    std::fs::create_dir(&empty_src).unwrap();
    let out = run(&[
        "vuln",
        "db",
        "import",
        "--db",
        &db_s,
        empty_src.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let lock = tmp.path().join("Cargo.lock");
    std::fs::write(
        &lock,
        "version = 3\n\n[[package]]\nname = \"x\"\nversion = \"1.0.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n",
    )
    .unwrap();
    let req = tmp.path().join("requirements.txt");
    std::fs::write(&req, "flask==0.1\n").unwrap();
    let (lock_s, req_s) = (lock.to_str().unwrap(), req.to_str().unwrap());

    let out = run(&["vuln", "scan", lock_s, "--db", &db_s]);
    assert_eq!(code(&out), 3, "empty database: {}", stderr(&out));
    assert!(stderr(&out).contains("empty"), "{}", stderr(&out));

    write_advisory(
        &tmp.path().join("adv"),
        "RUSTSEC-2099-0001",
        "crates.io",
        "y",
        "1.0.0",
    );
    let adv = tmp.path().join("adv").display().to_string();
    assert_eq!(
        code(&run(&["vuln", "db", "import", "--db", &db_s, &adv])),
        0
    );
    let out = run(&["vuln", "scan", lock_s, "--db", &db_s]);
    assert_eq!(code(&out), 0, "crates.io is covered: {}", stderr(&out));
    let out = run(&["vuln", "scan", lock_s, req_s, "--db", &db_s, "--json"]);
    assert_eq!(code(&out), 3, "PyPI is not covered: {}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("PyPI (1 package)") && !err.contains("crates.io ("),
        "{err}"
    );
    assert!(db.join("vuln.db").is_file());
}

/// Review 2: sources that do not exist fail the import, each named; the rest is
/// imported.
#[test]
fn importing_missing_sources_fails_naming_each() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db").display().to_string();
    let (a, b) = (tmp.path().join("no-such-a"), tmp.path().join("no-such-b"));
    let out = run(&[
        "vuln",
        "db",
        "import",
        "--db",
        &db,
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("no-such-a") && err.contains("no-such-b"),
        "{err}"
    );
    assert!(err.contains("no such file or folder"), "{err}");

    let src = tmp.path().join("adv");
    write_advisory(&src, "RUSTSEC-2099-0001", "crates.io", "y", "1.0.0");
    let out = run(&[
        "vuln",
        "db",
        "import",
        "--db",
        &db,
        src.to_str().unwrap(),
        a.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["added"], 1, "{v}");
    assert_eq!(v["failed_sources"].as_array().map(Vec::len), Some(1), "{v}");

    // Second review: a source whose every record is refused imported nothing (exit 4).
    let junk = tmp.path().join("junk");
    std::fs::create_dir_all(&junk).unwrap();
    std::fs::write(junk.join("a.json"), "{}").unwrap();
    let out = run(&["vuln", "db", "import", "--db", &db, junk.to_str().unwrap()]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("none of the 1 records read could be imported"),
        "{}",
        stderr(&out)
    );

    // Second review: a lock with no registry packages read no section of the database,
    // which is no reason to call the database empty.
    let lock = tmp.path().join("Cargo.lock");
    std::fs::write(
        &lock,
        "version = 3\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    let out = run(&["vuln", "scan", "--db", &db, lock.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!stderr(&out).contains("empty"), "{}", stderr(&out));
}

/// Review 3: two `vuln db import` processes on one database at once both land.
#[test]
fn concurrent_imports_in_two_processes_lose_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let per_source = 3000;
    let sources: Vec<PathBuf> = ["one", "two"]
        .iter()
        .map(|name| {
            let dir = tmp.path().join(name);
            std::fs::create_dir(&dir).unwrap();
            for i in 0..per_source {
                let text = serde_json::json!({
                    "id": format!("{name}-{i}"), "modified": "2026-01-01T00:00:00Z",
                    "affected": [{"package": {"ecosystem": "crates.io", "name": format!("{name}{i}")},
                        "versions": ["1.0.0"]}],
                });
                std::fs::write(dir.join(format!("{i}.json")), text.to_string()).unwrap();
            }
            dir
        })
        .collect();
    let db = tmp.path().join("db").display().to_string();
    let children: Vec<_> = sources
        .iter()
        .map(|src| {
            Command::new(BIN)
                .args([
                    "vuln",
                    "db",
                    "import",
                    "--db",
                    &db,
                    src.to_str().unwrap(),
                    "--json",
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn an import")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["added"], per_source, "{v}");
    }
    let out = run(&["vuln", "db", "status", "--db", &db, "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["status"]["total"],
        2 * per_source,
        "one import's records were lost: {v}"
    );
}

/// Review 4: the readers' notes (unpinned requirements, editable installs) are shown in
/// the table and listed in JSON.
#[test]
fn reader_notes_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db").display().to_string();
    let src = tmp.path().join("adv");
    write_advisory(&src, "PYSEC-2099-1", "PyPI", "flask", "1.0");
    assert_eq!(
        code(&run(&[
            "vuln",
            "db",
            "import",
            "--db",
            &db,
            src.to_str().unwrap()
        ])),
        0
    );
    let req = tmp.path().join("requirements.txt");
    std::fs::write(&req, "flask==0.1\nrequests>=2\n").unwrap();
    let out = run(&["vuln", "scan", req.to_str().unwrap(), "--db", &db]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("Not checked (notes): 1"), "{table}");
    assert!(
        table.contains("requirements.txt:2: requests: not pinned"),
        "{table}"
    );
    let (_, report) = scan_json(Path::new(&db), &req);
    assert_eq!(report["notes"][0]["kind"], "unpinned", "{report:#}");
}

/// Review 9: a device as ignore file, a FIFO as advisory source or ignore file: refused
/// at once with a clear error (they read forever or hung).
#[test]
fn devices_and_fifos_are_refused_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db").display().to_string();
    let src = tmp.path().join("adv");
    write_advisory(&src, "RUSTSEC-2099-0001", "crates.io", "y", "1.0.0");
    assert_eq!(
        code(&run(&[
            "vuln",
            "db",
            "import",
            "--db",
            &db,
            src.to_str().unwrap()
        ])),
        0
    );
    let lock = tmp.path().join("Cargo.lock");
    std::fs::write(&lock, "version = 3\n").unwrap();
    let fifo = tmp.path().join("pipe.json");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let fifo_s = fifo.to_str().unwrap();

    for ignore in ["/dev/zero", fifo_s] {
        let out = run_within(
            &[
                "vuln",
                "scan",
                lock.to_str().unwrap(),
                "--db",
                &db,
                "--ignore",
                ignore,
            ],
            20,
        );
        assert_eq!(code(&out), 2, "{ignore}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("not a regular file"),
            "{}",
            stderr(&out)
        );
    }
    let out = run_within(&["vuln", "db", "import", "--db", &db, fifo_s], 20);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a regular file"),
        "{}",
        stderr(&out)
    );
    let out = run_within(&["vuln", "scan", fifo_s, "--db", &db], 20);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
}

/// Review 13: ignore-file errors name the file and the line, a blank reason included.
#[test]
fn ignore_file_errors_name_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db").display().to_string();
    let src = tmp.path().join("adv");
    write_advisory(&src, "RUSTSEC-2099-0001", "crates.io", "y", "1.0.0");
    assert_eq!(
        code(&run(&[
            "vuln",
            "db",
            "import",
            "--db",
            &db,
            src.to_str().unwrap()
        ])),
        0
    );
    let lock = tmp.path().join("Cargo.lock");
    std::fs::write(&lock, "version = 3\n").unwrap();
    let ignore = tmp.path().join("ignore.toml");
    std::fs::write(
        &ignore,
        "[[ignore]]\nid = \"RUSTSEC-2099-0001\"\nreason = \"\"\n",
    )
    .unwrap();
    let out = run(&[
        "vuln",
        "scan",
        lock.to_str().unwrap(),
        "--db",
        &db,
        "--ignore",
        ignore.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let want = format!("{}:3:", ignore.display());
    assert!(stderr(&out).contains(&want), "{want} in {}", stderr(&out));
}
