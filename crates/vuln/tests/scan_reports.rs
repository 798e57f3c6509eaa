//! Scanning a small hand-made database: ignore file semantics, exit codes, and the
//! shape of each report format.

use chrono::NaiveDate;
use serde_json::Value;

use webqx_vuln::cvss::Rating;
use webqx_vuln::db::Db;
use webqx_vuln::osv;
use webqx_vuln::report::{self, Format, purl};
use webqx_vuln::scan::{IgnoreFile, Outcome, Report, Scanner, exit_code};
use webqx_vuln::{Ecosystem, Location, Package};

fn advisory(
    id: &str,
    aliases: &[&str],
    name: &str,
    fixed: &str,
    cvss: Option<&str>,
    info: Option<&str>,
) -> osv::Advisory {
    let severity = cvss.map_or(String::new(), |v| {
        format!(r#","severity":[{{"type":"CVSS_V3","score":"{v}"}}]"#)
    });
    let dbs = info.map_or(String::new(), |k| {
        format!(r#","database_specific":{{"informational":"{k}"}}"#)
    });
    let text = format!(
        r#"{{"id":"{id}","modified":"2024-05-01T00:00:00Z","aliases":{aliases},
        "summary":"{id} \u001b[31msummary","references":[{{"type":"ADVISORY","url":"https://example.test/{id}"}}]
        {severity},"affected":[{{"package":{{"ecosystem":"crates.io","name":"{name}"}}{dbs},
        "ranges":[{{"type":"SEMVER","events":[{{"introduced":"0"}},{{"fixed":"{fixed}"}}]}}]}}]}}"#,
        aliases = serde_json::to_string(aliases).unwrap(),
    );
    osv::parse_json(text.as_bytes()).unwrap()
}

fn db() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Db::empty(dir.path());
    let high = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"; // 7.5
    let low = "CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"; // 1.6
    let advisories = [
        advisory(
            "RUSTSEC-2099-0001",
            &["CVE-2099-1"],
            "alpha",
            "1.2.0",
            Some(high),
            None,
        ),
        advisory(
            "GHSA-aaaa-bbbb-cccc",
            &["CVE-2099-1"],
            "alpha",
            "1.3.0",
            None,
            None,
        ),
        advisory("RUSTSEC-2099-0002", &[], "beta", "2.0.0", Some(low), None),
        advisory(
            "RUSTSEC-2099-0003",
            &[],
            "gamma",
            "0.3.0",
            None,
            Some("unmaintained"),
        ),
    ];
    db.import(advisories.iter());
    db.save().unwrap();
    (dir, db)
}

fn packages() -> Vec<Package> {
    let p = |name: &str, version: &str, line| Package {
        ecosystem: Ecosystem::CratesIo,
        name: name.into(),
        version: version.into(),
        location: Location {
            file: "app/Cargo.lock".into(),
            line,
        },
    };
    vec![
        p("alpha", "1.0.0", 10),
        p("beta", "1.5.0", 20),
        p("gamma", "0.2.0", 30),
        p("delta", "1.0.0", 40),
    ]
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 1).unwrap()
}

#[test]
fn findings_merge_aliases_and_pick_the_fix_for_all() {
    let (_dir, db) = db();
    let r = Scanner::new(&db).scan(&packages());
    assert_eq!(r.packages_scanned, 4);
    let alpha: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.package.name == "alpha")
        .collect();
    assert_eq!(alpha.len(), 1);
    assert_eq!(alpha[0].id, "RUSTSEC-2099-0001");
    assert_eq!(alpha[0].ids, ["GHSA-aaaa-bbbb-cccc", "RUSTSEC-2099-0001"]);
    assert_eq!(alpha[0].aliases, ["CVE-2099-1"]);
    // 1.2.0 fixes the RustSec advisory but lies in the GHSA one's range.
    assert_eq!(alpha[0].fixed.as_deref(), Some("1.3.0"));
    assert_eq!(alpha[0].rating(), Some(Rating::High));
    let remedy = r
        .remedies
        .iter()
        .find(|x| x.package.name == "beta")
        .unwrap();
    assert_eq!(remedy.remedy.version.as_deref(), Some("2.0.0"));
    assert!(remedy.remedy.major);
    assert_eq!(r.notices().count(), 1);
}

#[test]
fn exit_codes_follow_the_policy() {
    let (_dir, db) = db();
    let r = Scanner::new(&db).scan(&packages());
    let code = |report: &Report, fail_on| exit_code(Outcome::Scanned { report, fail_on });
    assert_eq!(code(&r, Rating::High), 1);
    assert_eq!(code(&r, Rating::Critical), 0);
    let only_beta = Scanner::new(&db).scan(&packages()[1..2]);
    assert_eq!(code(&only_beta, Rating::Low), 1);
    assert_eq!(code(&only_beta, Rating::Medium), 0);
    // Informational notices never fail a scan.
    let only_gamma = Scanner::new(&db).scan(&packages()[2..3]);
    assert_eq!(code(&only_gamma, Rating::None), 0);
    assert_eq!(exit_code(Outcome::Usage), 2);
    assert_eq!(exit_code(Outcome::Database), 3);
    assert_eq!(exit_code(Outcome::Input), 4);
}

#[test]
fn ignore_file_silences_by_id_or_alias_and_reports_expired_and_unused() {
    let (_dir, db) = db();
    let ignores = IgnoreFile::parse(
        r#"
[[ignore]]
id = "CVE-2099-1"
reason = "only reachable with a feature we do not enable"
expires = "2026-12-31"

[[ignore]]
id = "RUSTSEC-2099-0002"
reason = "expired waiver"
expires = "2026-01-01"

[[ignore]]
id = "RUSTSEC-1999-0000"
reason = "stale entry"
"#,
    )
    .unwrap();
    let r = Scanner::new(&db)
        .with_ignores(ignores)
        .with_today(today())
        .scan(&packages());
    assert_eq!(r.ignored.len(), 1);
    assert_eq!(r.ignored[0].finding.id, "RUSTSEC-2099-0001");
    let ids: Vec<_> = r.findings.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["RUSTSEC-2099-0002", "RUSTSEC-2099-0003"]);
    let expired: Vec<_> = r.expired_ignores.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(expired, ["RUSTSEC-2099-0002"]);
    let unused: Vec<_> = r.unused_ignores.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(unused, ["RUSTSEC-1999-0000"]);
}

#[test]
fn bad_ignore_files_are_errors_with_lines() {
    let e = IgnoreFile::parse("[[ignore]]\nid = \"X\"\nreason = \"r\"\nexpires = \"soon\"\n")
        .unwrap_err();
    assert_eq!(e.line, Some(4), "{e}");
    assert!(IgnoreFile::parse("[[ignore]]\nid = \"X\"\n").is_err());
    assert!(IgnoreFile::parse("[[ignore]]\nid = \"X\"\nreason = \" \"\n").is_err());
    assert!(IgnoreFile::parse("[[ignore]]\nid = \"X\"\nreason = \"r\"\nwhy = 1\n").is_err());
}

fn rendered(format: Format) -> String {
    let (_dir, db) = db();
    let ignores =
        IgnoreFile::parse("[[ignore]]\nid = \"RUSTSEC-2099-0002\"\nreason = \"waived\"\n").unwrap();
    let r = Scanner::new(&db).with_ignores(ignores).scan(&packages());
    report::render(&r, format, "0.1.0", "2026-06-01T00:00:00Z")
}

#[test]
fn sarif_has_rules_per_advisory_and_results_with_file_and_line() {
    let sarif: Value = serde_json::from_str(&rendered(Format::Sarif)).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["RUSTSEC-2099-0001", "RUSTSEC-2099-0003"]);
    assert_eq!(
        run["tool"]["driver"]["rules"][0]["properties"]["security-severity"],
        "7.5"
    );
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    let loc = &results[0]["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "app/Cargo.lock");
    assert_eq!(loc["region"]["startLine"], 10);
    assert_eq!(results[0]["level"], "error");
    assert_eq!(results[1]["level"], "note");
}

#[test]
fn cyclonedx_vex_lists_components_and_vulnerabilities() {
    let bom: Value = serde_json::from_str(&rendered(Format::CycloneDxVex)).unwrap();
    assert_eq!(bom["bomFormat"], "CycloneDX");
    assert_eq!(bom["specVersion"], "1.5");
    let vulns = bom["vulnerabilities"].as_array().unwrap();
    assert_eq!(vulns.len(), 3);
    let alpha = vulns
        .iter()
        .find(|v| v["id"] == "RUSTSEC-2099-0001")
        .unwrap();
    assert_eq!(alpha["affects"][0]["ref"], "pkg:cargo/alpha@1.0.0");
    assert_eq!(alpha["ratings"][0]["method"], "CVSSv31");
    assert_eq!(alpha["ratings"][0]["score"], 7.5);
    let refs: Vec<_> = alpha["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(refs, ["GHSA-aaaa-bbbb-cccc", "CVE-2099-1"]);
    let waived = vulns
        .iter()
        .find(|v| v["id"] == "RUSTSEC-2099-0002")
        .unwrap();
    assert_eq!(waived["analysis"]["detail"], "waived");
    let components: Vec<_> = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["purl"].as_str().unwrap())
        .collect();
    assert_eq!(
        components,
        [
            "pkg:cargo/alpha@1.0.0",
            "pkg:cargo/beta@1.5.0",
            "pkg:cargo/gamma@0.2.0"
        ]
    );
}

#[test]
fn table_and_json_renderings() {
    let table = rendered(Format::Table);
    assert!(table.contains("Vulnerabilities: 1"), "{table}");
    assert!(table.contains("Warnings (informational): 1"), "{table}");
    assert!(
        table.contains("RUSTSEC-2099-0001") && table.contains("app/Cargo.lock:10"),
        "{table}"
    );
    assert!(
        table.contains("ignored: RUSTSEC-2099-0002 in beta (waived)"),
        "{table}"
    );
    // Escape sequences from advisory text never reach a terminal.
    assert!(!table.contains('\u{1b}'), "{table}");
    let json: Value = serde_json::from_str(&rendered(Format::Json)).unwrap();
    assert_eq!(json["findings"].as_array().unwrap().len(), 2);
    assert_eq!(json["packages_scanned"], 4);
}

#[test]
fn purls() {
    let p = |ecosystem, name: &str, version: &str| Package {
        ecosystem,
        name: name.into(),
        version: version.into(),
        location: Location {
            file: "x".into(),
            line: 0,
        },
    };
    assert_eq!(
        purl(&p(Ecosystem::Npm, "@babel/core", "7.0.0")),
        "pkg:npm/%40babel/core@7.0.0"
    );
    assert_eq!(
        purl(&p(Ecosystem::Maven, "org.apache:commons", "1.0")),
        "pkg:maven/org.apache/commons@1.0"
    );
    assert_eq!(
        purl(&p(Ecosystem::Go, "golang.org/x/net", "v0.1.0")),
        "pkg:golang/golang.org/x/net@v0.1.0"
    );
    assert_eq!(
        purl(&p(Ecosystem::PyPI, "flask", "2.2.4")),
        "pkg:pypi/flask@2.2.4"
    );
}

proptest::proptest! {
    /// Any package name and version scans and renders without panicking.
    #[test]
    fn any_package_scans_and_renders(name in "\\PC{0,20}", version in "\\PC{0,20}", eco in 0usize..7) {
        let (_dir, db) = db();
        let ecosystem = Ecosystem::ALL[eco];
        let p = Package { ecosystem, name, version, location: Location { file: "f".into(), line: 1 } };
        let r = Scanner::new(&db).scan(&[p]);
        for format in [Format::Table, Format::Json, Format::Sarif, Format::CycloneDxVex] {
            let _ = report::render(&r, format, "0", "2026-01-01T00:00:00Z");
        }
    }
}
