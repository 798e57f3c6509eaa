//! Regressions of the hostile review of vulnerability scanning (issue 8), one test per
//! finding, each of which failed before its fix: coverage of the database, notes in
//! reports, PEP 440 epochs in requirements, `-c X` then `-r X`, escapes and bidi
//! controls in tables, links in SARIF and VEX, ignore-file lines, upgrade advice for
//! ignored findings, and concurrent imports.

use std::path::{Path, PathBuf};

use serde_json::Value;

use webqx_vuln::db::Db;
use webqx_vuln::lockfile::{self, Kind, NoteKind, Options};
use webqx_vuln::osv;
use webqx_vuln::report::{self, Format, web_uri};
use webqx_vuln::scan::{IgnoreFile, Scanner, check_coverage};
use webqx_vuln::{Ecosystem, Location, Package};

/// One advisory for `name` in `ecosystem`, affected below `fixed`, with `summary` and
/// a reference `url` (both JSON-escaped here).
fn advisory(
    id: &str,
    ecosystem: &str,
    name: &str,
    fixed: &str,
    summary: &str,
    url: &str,
) -> osv::Advisory {
    let text = serde_json::json!({
        "id": id,
        "modified": "2024-05-01T00:00:00Z",
        "summary": summary,
        "references": [{"type": "ADVISORY", "url": url}],
        "affected": [{
            "package": {"ecosystem": ecosystem, "name": name},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
        }],
    });
    osv::parse_json(text.to_string().as_bytes()).expect("a valid advisory")
}

fn package(ecosystem: Ecosystem, name: &str, version: &str) -> Package {
    Package {
        ecosystem,
        name: name.into(),
        version: version.into(),
        location: Location {
            file: "app/lock".into(),
            line: 3,
        },
    }
}

fn db_with(advisories: &[osv::Advisory]) -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut db = Db::empty(dir.path());
    db.import(advisories.iter());
    db.save().expect("save");
    (dir, db)
}

/// Finding 1: an empty database, or one without advisories for an ecosystem of the
/// inputs, cannot vouch for a clean result.
#[test]
fn coverage_is_checked_per_ecosystem() {
    let dir = tempfile::tempdir().expect("tempdir");
    Db::empty(dir.path()).save().expect("save");
    let empty = Db::open_for(dir.path(), &[Ecosystem::CratesIo]).expect("open");
    let cargo = [package(Ecosystem::CratesIo, "serde", "1.0.0")];
    let e = check_coverage(&empty, &cargo).expect_err("an empty database covers nothing");
    assert!(e.empty && e.to_string().contains("empty"), "{e}");
    assert!(
        check_coverage(&empty, &[]).is_err(),
        "even with no packages"
    );

    let (dir, _) = db_with(&[advisory(
        "RUSTSEC-1",
        "crates.io",
        "a",
        "1.0.0",
        "s",
        "https://x.test",
    )]);
    let mixed = [
        package(Ecosystem::CratesIo, "serde", "1.0.0"),
        package(Ecosystem::PyPI, "flask", "0.1"),
        package(Ecosystem::PyPI, "jinja2", "2.0"),
    ];
    let db = Db::open_for(dir.path(), &[Ecosystem::CratesIo, Ecosystem::PyPI]).expect("open");
    let e = check_coverage(&db, &mixed).expect_err("no PyPI advisories");
    assert_eq!(e.ecosystems, [(Ecosystem::PyPI, 2)]);
    assert!(e.to_string().contains("PyPI (2 packages)"), "{e}");
    assert!(check_coverage(&db, &mixed[..1]).is_ok());
}

/// Finding 4: what the readers could not check is in the report (JSON and table).
#[test]
fn reader_notes_reach_json_and_table() {
    let text = "flask==0.1\nrequests>=2.0\n-e ./local\n";
    let lock = lockfile::parse(
        Path::new("requirements.txt"),
        Kind::Requirements,
        text.as_bytes(),
        Options::default(),
    )
    .expect("parses");
    assert_eq!(lock.notes.len(), 2);
    let (_dir, db) = db_with(&[advisory(
        "PYSEC-1",
        "PyPI",
        "flask",
        "1.0",
        "s",
        "https://x.test",
    )]);
    let report = Scanner::new(&db).scan_files(&[lock]);
    assert_eq!(report.notes.len(), 2);
    assert_eq!(report.notes[0].kind, NoteKind::Unpinned);

    let json: Value =
        serde_json::from_str(&report::render(&report, Format::Json, "0", "t")).expect("json");
    assert_eq!(json["notes"][0]["kind"], "unpinned", "{json:#}");
    assert_eq!(json["notes"][0]["location"]["line"], 2, "{json:#}");
    let table = report::render(&report, Format::Table, "0", "t");
    assert!(table.contains("Not checked (notes): 2"), "{table}");
    assert!(
        table.contains("requirements.txt:2: requests: not pinned"),
        "{table}"
    );
}

/// Finding 5: `pkg==0!1.9` is a pin with a PEP 440 epoch, kept and matched.
#[test]
fn requirement_epochs_are_pins_and_match() {
    let text = "flask==0!0.9\ndjango==1!1.0\nrequests==2.0,!=2.1\n";
    let lock = lockfile::parse(
        Path::new("requirements.txt"),
        Kind::Requirements,
        text.as_bytes(),
        Options::default(),
    )
    .expect("parses");
    let pins: Vec<(&str, &str)> = lock
        .packages
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str()))
        .collect();
    assert_eq!(pins, [("flask", "0!0.9"), ("django", "1!1.0")]);
    assert_eq!(lock.notes.len(), 1, "the range stays unpinned");

    let (_dir, db) = db_with(&[
        advisory("PYSEC-1", "PyPI", "flask", "1.0", "s", "https://x.test"),
        advisory("PYSEC-2", "PyPI", "django", "2.0", "s", "https://x.test"),
    ]);
    let report = Scanner::new(&db).scan(&lock.packages);
    let found: Vec<&str> = report
        .findings
        .iter()
        .map(|f| f.package.name.as_str())
        .collect();
    // 0!0.9 < 1.0 is affected; 1!1.0 is above every epoch-0 version, so not.
    assert_eq!(found, ["flask"]);
}

/// Finding 6: a file given to `-c` first and to `-r` later is read as both.
#[test]
fn constraints_first_do_not_hide_requirements() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = dir.path().join("pins.txt");
    std::fs::write(&shared, "flask==0.1\n").expect("write");
    let main = dir.path().join("requirements.txt");
    std::fs::write(&main, "-c pins.txt\n-r pins.txt\n").expect("write");
    let lock = lockfile::read(&main, Options::default()).expect("reads");
    let names: Vec<&str> = lock.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["flask"], "{lock:#?}");
    // A true repeat is still read once.
    std::fs::write(&main, "-r pins.txt\n-r pins.txt\n").expect("write");
    let lock = lockfile::read(&main, Options::default()).expect("reads");
    assert_eq!(lock.packages.len(), 1);
}

/// Finding 10: terminal escapes and bidi controls from advisories and package names
/// are shown as escapes in the table.
#[test]
fn tables_escape_controls_and_bidi() {
    let summary = "evil \u{1b}]52;c;payload\u{7} \u{202e}txt.exe\u{2066}";
    let (_dir, db) = db_with(&[advisory(
        "RUSTSEC-1",
        "crates.io",
        "a\u{202e}b",
        "1.0.0",
        summary,
        "https://x.test",
    )]);
    let report = Scanner::new(&db).scan(&[package(Ecosystem::CratesIo, "a\u{202e}b", "0.1.0")]);
    assert_eq!(report.findings.len(), 1);
    let table = report::render(&report, Format::Table, "0", "t");
    for bad in ['\u{1b}', '\u{7}', '\u{202e}', '\u{2066}'] {
        assert!(!table.contains(bad), "{bad:?} in {table}");
    }
    assert!(table.contains("a\\u{202e}b"), "{table}");
    assert!(table.contains("\\u{1b}]52"), "{table}");
}

/// Finding 11: only http(s) links, percent-encoded, in SARIF and CycloneDX VEX.
#[test]
fn report_links_are_web_uris_only() {
    assert_eq!(web_uri("javascript:alert(1)"), None);
    assert_eq!(web_uri("JavaScript://%0aalert(1)"), None);
    assert_eq!(web_uri("data:text/html,x"), None);
    assert_eq!(web_uri("file:///etc/passwd"), None);
    assert_eq!(web_uri("https://trusted.test@evil.test/x"), None);
    assert_eq!(web_uri("https:///nohost"), None);
    assert_eq!(
        web_uri("HTTPS://example.test/a b/\u{e9}?q=\"x\"#f%20g%zz").as_deref(),
        Some("https://example.test/a%20b/%C3%A9?q=%22x%22#f%20g%25zz")
    );

    let (_dir, db) = db_with(&[
        advisory(
            "RUSTSEC-1",
            "crates.io",
            "a",
            "1.0.0",
            "s",
            "javascript:alert(document.domain)",
        ),
        advisory(
            "RUSTSEC-2",
            "crates.io",
            "b",
            "1.0.0",
            "s",
            "https://example.test/adv 2",
        ),
    ]);
    let mut pkgs = vec![
        package(Ecosystem::CratesIo, "a", "0.1.0"),
        package(Ecosystem::CratesIo, "b", "0.1.0"),
    ];
    pkgs[1].location.file = PathBuf::from("my app/Cargo.lock");
    let report = Scanner::new(&db).scan(&pkgs);
    let sarif: Value =
        serde_json::from_str(&report::render(&report, Format::Sarif, "0", "t")).expect("sarif");
    let rules = &sarif["runs"][0]["tool"]["driver"]["rules"];
    assert!(rules[0].get("helpUri").is_none(), "{rules:#}");
    assert_eq!(rules[1]["helpUri"], "https://example.test/adv%202");
    let uri = &sarif["runs"][0]["results"][1]["locations"][0]["physicalLocation"]["artifactLocation"]
        ["uri"];
    assert_eq!(uri, "my%20app/Cargo.lock");

    let vex: Value = serde_json::from_str(&report::render(&report, Format::CycloneDxVex, "0", "t"))
        .expect("vex");
    let vulns = vex["vulnerabilities"].as_array().expect("list");
    assert!(vulns[0].get("advisories").is_none(), "{vulns:#?}");
    assert_eq!(
        vulns[1]["advisories"][0]["url"],
        "https://example.test/adv%202"
    );
}

/// Finding 13: every ignore-file error names its line, a blank reason included.
#[test]
fn ignore_errors_name_the_line() {
    let blank =
        "[[ignore]]\nid = \"X\"\nreason = \"r\"\n\n[[ignore]]\nid = \"Y\"\nreason = \"  \"\n";
    let e = IgnoreFile::parse(blank).expect_err("blank reason");
    assert_eq!(e.line, Some(7), "{e}");
    assert!(
        e.to_string().contains("line 7") && e.to_string().contains("reason"),
        "{e}"
    );
    let e = IgnoreFile::parse("[[ignore]]\nid = \"\"\nreason = \"r\"\n").expect_err("blank id");
    assert_eq!(e.line, Some(2), "{e}");
    let e = IgnoreFile::parse("[[ignore]]\nid = \"X\"\n").expect_err("no reason");
    assert!(e.line.is_some(), "{e}");
}

/// Finding 14: no upgrade advice for a package whose every finding is ignored.
#[test]
fn upgrade_advice_leaves_out_fully_ignored_packages() {
    let (_dir, db) = db_with(&[
        advisory(
            "RUSTSEC-1",
            "crates.io",
            "a",
            "1.0.0",
            "s",
            "https://x.test",
        ),
        advisory(
            "RUSTSEC-2",
            "crates.io",
            "b",
            "2.0.0",
            "s",
            "https://x.test",
        ),
    ]);
    let ignores = IgnoreFile::parse("[[ignore]]\nid = \"RUSTSEC-1\"\nreason = \"not reachable\"\n")
        .expect("parses");
    let report = Scanner::new(&db).with_ignores(ignores).scan(&[
        package(Ecosystem::CratesIo, "a", "0.1.0"),
        package(Ecosystem::CratesIo, "b", "0.1.0"),
    ]);
    let advised: Vec<&str> = report
        .remedies
        .iter()
        .map(|r| r.package.name.as_str())
        .collect();
    assert_eq!(advised, ["b"]);
    let table = report::render(&report, Format::Table, "0", "t");
    assert!(!table.contains("upgrade a "), "{table}");
    assert!(table.contains("upgrade b 0.1.0 -> 2.0.0"), "{table}");
}

/// Finding 3 (library level; the CLI test runs two processes): imports under the lock
/// from several threads at once all land.
#[test]
fn concurrent_locked_imports_lose_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sources: Vec<PathBuf> = (0..6)
        .map(|i| {
            let src = dir.path().join(format!("src{i}"));
            std::fs::create_dir(&src).expect("mkdir");
            for j in 0..40 {
                let text = serde_json::json!({
                    "id": format!("X-{i}-{j}"), "modified": "2024-05-01T00:00:00Z",
                    "affected": [{"package": {"ecosystem": "crates.io", "name": format!("p{i}")},
                        "versions": ["1.0.0"]}],
                });
                std::fs::write(src.join(format!("{j}.json")), text.to_string()).expect("write");
            }
            src
        })
        .collect();
    let db_dir = dir.path().join("db");
    std::thread::scope(|s| {
        for src in &sources {
            let db_dir = &db_dir;
            s.spawn(move || Db::import_locked(db_dir, std::slice::from_ref(src)).expect("import"));
        }
    });
    assert_eq!(Db::open(&db_dir).expect("open").records().len(), 6 * 40);
}

/// Second review: a version that does not parse in its ecosystem was only counted in
/// JSON (`unparsed_versions`); the table read "Vulnerabilities: 0" as if it was checked.
#[test]
fn an_unparsed_version_is_a_note_in_the_table_and_json() {
    let (_dir, db) = db_with(&[advisory(
        "RUSTSEC-2017-0004",
        "crates.io",
        "base64",
        "0.5.2",
        "s",
        "https://x.test",
    )]);
    let report =
        Scanner::new(&db).scan(&[package(Ecosystem::CratesIo, "base64", "0.5.1\u{1b}[2J")]);
    assert!(report.findings.is_empty());
    assert_eq!(report.unparsed_versions, 1);
    assert_eq!(report.notes.len(), 1, "{:?}", report.notes);
    assert_eq!(report.notes[0].kind, NoteKind::Unparsed);
    assert_eq!(report.notes[0].location.line, 3);
    let table = report::render(&report, Format::Table, "0", "t");
    assert!(table.contains("Not checked (notes): 1"), "{table}");
    assert!(table.contains("app/lock:3"), "{table}");
    assert!(!table.contains('\u{1b}'), "escaped: {table}");
    let json: Value =
        serde_json::from_str(&report::render(&report, Format::Json, "0", "t")).expect("json");
    assert_eq!(json["notes"][0]["kind"], "unparsed", "{json:#}");

    // A version that parses gives no note.
    let report = Scanner::new(&db).scan(&[package(Ecosystem::CratesIo, "base64", "0.5.1")]);
    assert_eq!(report.findings.len(), 1);
    assert!(report.notes.is_empty());
}
