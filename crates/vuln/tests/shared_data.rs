//! The real advisory databases in `../shared/data/osv/` (RustSec, Go, PyPA, and the
//! samples; see its MANIFEST.md): import counts, incremental re-import, withdrawn
//! records, and the expected advisories for the lockfiles listed there.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use webqx_vuln::cvss::Rating;
use webqx_vuln::db::{Db, ImportStats};
use webqx_vuln::osv;
use webqx_vuln::scan::{Outcome, Scanner, exit_code};
use webqx_vuln::{Ecosystem, Location, Package};

/// `../shared/data/osv`, as the testkit finds shared data (`WEBQX_SHARED_DATA`
/// overrides). Missing data skips the test, except under CI where it fails. (The
/// testkit crate itself is not a dev-dependency: it would pull the store and TLS
/// stacks into this small crate's build.)
fn osv_data() -> Option<PathBuf> {
    let base = std::env::var_os("WEBQX_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let path = base.join("osv");
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "shared test data {} is missing; CI must run beside ../shared/data",
        path.display()
    );
    eprintln!("SKIPPED: {} not found", path.display());
    None
}

const SOURCES: [&str; 3] = ["rustsec-osv", "go-vulndb-osv", "pypa-advisory-db"];

/// One database with everything imported, shared by the tests (importing takes a
/// few seconds in a debug build).
fn full_db() -> Option<&'static (tempfile::TempDir, Vec<ImportStats>)> {
    static DB: OnceLock<Option<(tempfile::TempDir, Vec<ImportStats>)>> = OnceLock::new();
    DB.get_or_init(|| {
        let data = osv_data()?;
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::empty(dir.path());
        let mut stats = Vec::new();
        for source in SOURCES.iter().chain(&["samples"]) {
            let report = db.import_paths(&[data.join(source)]).unwrap();
            assert!(
                report.errors.is_empty(),
                "{source}: {:?}",
                report.errors.first()
            );
            stats.push(report.stats);
        }
        Some((dir, stats))
    })
    .as_ref()
}

fn pkg(ecosystem: Ecosystem, name: &str, version: &str, file: &str, line: u32) -> Package {
    Package {
        ecosystem,
        name: name.into(),
        version: version.into(),
        location: Location {
            file: file.into(),
            line,
        },
    }
}

#[test]
fn import_counts_per_source_match_the_manifest() {
    let Some((dir, stats)) = full_db() else {
        return;
    };
    let added: Vec<usize> = stats.iter().map(|s| s.added).collect();
    // RustSec 1,206, Go 4,291, PyPA 2,661; the samples add the 3 GHSA records, bring
    // newer copies of the 3 Go records (the Go snapshot has no modified times), and
    // repeat 44 RustSec records unchanged.
    assert_eq!(added, [1206, 4291, 2661, 3]);
    assert_eq!(
        stats[3],
        ImportStats {
            added: 3,
            updated: 3,
            unchanged: 44,
            older: 0
        }
    );

    let db = Db::open(dir.path()).unwrap();
    let now = chrono::Utc::now();
    let status = db.status(7, now);
    assert_eq!(status.total, 1206 + 4291 + 2661 + 3);
    assert_eq!(status.withdrawn, 40);
    let per: Vec<(&str, usize)> = status
        .per_ecosystem
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    // Not withdrawn: Go 4,291 − 17; PyPI 2,661 + 2 GHSA − 10; crates.io 1,206 − 13.
    assert_eq!(
        per,
        [
            ("Go", 4274),
            ("PyPI", 2653),
            ("crates.io", 1193),
            ("npm", 1)
        ]
    );
    assert_eq!(status.informational, 466);
    assert!(status.imported_at.is_some() && status.newest_modified.is_some());
}

#[test]
fn reimport_is_incremental() {
    let Some(data) = osv_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let rust = data.join("rustsec-osv/crates");
    let mut db = Db::empty(dir.path());
    let first = db.import_paths(std::slice::from_ref(&rust)).unwrap();
    assert_eq!(first.stats.added, 1206);

    let mut db = Db::open(dir.path()).unwrap();
    let again = db.import_paths(std::slice::from_ref(&rust)).unwrap();
    assert_eq!(
        again.stats,
        ImportStats {
            unchanged: 1206,
            ..ImportStats::default()
        }
    );

    // Touch one advisory: a later `modified` makes exactly one update.
    let original = std::fs::read_to_string(rust.join("RUSTSEC-2020-0071.json")).unwrap();
    let mut adv = osv::parse_json(original.as_bytes()).unwrap();
    adv.modified = "2099-01-01T00:00:00Z".into();
    adv.summary = Some("touched".into());
    let touched = src.path().join("RUSTSEC-2020-0071.json");
    std::fs::write(&touched, serde_json::to_vec(&adv).unwrap()).unwrap();
    let mut db = Db::open(dir.path()).unwrap();
    let one = db.import_paths(&[src.path().to_path_buf()]).unwrap();
    assert_eq!(
        one.stats,
        ImportStats {
            updated: 1,
            ..ImportStats::default()
        }
    );
    assert_eq!(
        Db::open(dir.path())
            .unwrap()
            .get("RUSTSEC-2020-0071")
            .unwrap()
            .summary,
        "touched"
    );
}

#[test]
fn bad_files_are_reported_one_by_one_and_do_not_stop_the_import() {
    let Some(data) = osv_data() else { return };
    let src = tempfile::tempdir().unwrap();
    for id in ["RUSTSEC-2017-0004", "RUSTSEC-2020-0071"] {
        let from = data.join(format!("rustsec-osv/crates/{id}.json"));
        std::fs::copy(from, src.path().join(format!("{id}.json"))).unwrap();
    }
    std::fs::write(
        src.path().join("broken.json"),
        "{\n  \"id\": \"X\",\n  oops\n}",
    )
    .unwrap();
    std::fs::write(src.path().join("broken.yaml"), "id: [unclosed\n").unwrap();
    std::fs::create_dir(src.path().join("nested")).unwrap();
    std::fs::write(src.path().join("nested/not-osv.json"), "{\"hello\": 1}").unwrap();

    let loaded = osv::load_path(src.path());
    assert_eq!(loaded.advisories.len(), 2);
    let errors: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("broken.json") && e.contains("line 3")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("broken.yaml") && e.contains("line")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("not-osv.json")),
        "{errors:?}"
    );
}

#[test]
fn zip_archives_import_like_folders() {
    let Some(data) = osv_data() else { return };
    let src = tempfile::tempdir().unwrap();
    let zip_path = src.path().join("osv.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for id in [
        "RUSTSEC-2017-0004",
        "RUSTSEC-2020-0016",
        "RUSTSEC-2020-0078",
    ] {
        zip.start_file(format!("{id}.json"), opts).unwrap();
        let text = std::fs::read(data.join(format!("rustsec-osv/crates/{id}.json"))).unwrap();
        std::io::Write::write_all(&mut zip, &text).unwrap();
    }
    zip.start_file("bad.json", opts).unwrap();
    std::io::Write::write_all(&mut zip, b"[1,2").unwrap();
    zip.finish().unwrap();

    let loaded = osv::load_path(&zip_path);
    assert_eq!(loaded.advisories.len(), 3);
    assert_eq!(loaded.errors.len(), 1);
    assert!(loaded.errors[0].to_string().contains("osv.zip!bad.json"));
}

#[test]
fn lockfile_packages_give_the_manifests_advisories() {
    let Some((dir, _)) = full_db() else { return };
    let db = Db::open(dir.path()).unwrap();
    let scanner = Scanner::new(&db);
    let ids = |packages: &[Package]| -> (Vec<String>, Vec<String>) {
        let r = scanner.scan(packages);
        (
            r.vulnerabilities().map(|f| f.id.clone()).collect(),
            r.notices().map(|f| f.id.clone()).collect(),
        )
    };

    let multi = "rustsec_cargo-audit_multi_vulns_Cargo.lock";
    let packages = [
        pkg(Ecosystem::CratesIo, "base64", "0.5.1", multi, 0),
        pkg(Ecosystem::CratesIo, "time", "0.1.45", multi, 0),
        pkg(Ecosystem::CratesIo, "chrono", "0.4.24", multi, 0),
    ];
    assert_eq!(
        ids(&packages),
        (
            vec!["RUSTSEC-2017-0004".into(), "RUSTSEC-2020-0071".into()],
            vec![]
        )
    );
    let report = scanner.scan(&packages);
    assert_eq!(
        exit_code(Outcome::Scanned {
            report: &report,
            fail_on: Rating::Low
        }),
        1
    );

    let net2 = [pkg(
        Ecosystem::CratesIo,
        "net2",
        "0.2.33",
        "osvscanner_deprecated-vuln_Cargo.lock",
        18,
    )];
    let (vulns, notices) = ids(&net2);
    assert!(vulns.is_empty(), "{vulns:?}");
    assert_eq!(notices, ["RUSTSEC-2020-0016", "RUSTSEC-2020-0078"]);
    let report = scanner.scan(&net2);
    let kinds: Vec<_> = report
        .notices()
        .map(|f| f.informational.clone().unwrap())
        .collect();
    assert_eq!(kinds, ["unmaintained", "unsound"]);
    assert_eq!(
        exit_code(Outcome::Scanned {
            report: &report,
            fail_on: Rating::Low
        }),
        0
    );

    let b = [pkg(
        Ecosystem::CratesIo,
        "base64",
        "0.5.2",
        "rustsec_cargo-audit_base64_vuln_Cargo.lock",
        0,
    )];
    assert_eq!(ids(&b), (vec![], vec![]));

    let npm = [pkg(
        Ecosystem::Npm,
        "ansi-html",
        "0.0.1",
        "osvscanner_locks-many-with-insecure_package-lock.json",
        5,
    )];
    let report = scanner.scan(&npm);
    let found: Vec<_> = report
        .findings
        .iter()
        .map(|f| (f.id.as_str(), f.package.location.line))
        .collect();
    assert_eq!(found, [("GHSA-whgm-jr23-g3j9", 5)]);
    assert_eq!(report.findings[0].fixed.as_deref(), Some("0.0.9"));
    assert_eq!(report.findings[0].rating(), Some(Rating::High));
}

#[test]
fn withdrawn_advisories_are_never_matched() {
    let Some((dir, _)) = full_db() else { return };
    let db = Db::open(dir.path()).unwrap();
    assert!(db.get("RUSTSEC-2021-0135").unwrap().withdrawn.is_some());
    // tower-http 0.1.2 lies in the withdrawn advisory's range.
    let r = Scanner::new(&db).scan(&[pkg(
        Ecosystem::CratesIo,
        "tower-http",
        "0.1.2",
        "Cargo.lock",
        1,
    )]);
    assert!(
        r.findings.iter().all(|f| f.id != "RUSTSEC-2021-0135"),
        "{:?}",
        r.findings
    );
}

#[test]
fn aliases_merge_into_one_finding() {
    let Some((dir, _)) = full_db() else { return };
    let db = Db::open_for(dir.path(), &[Ecosystem::PyPI]).unwrap();
    let r = Scanner::new(&db).scan(&[pkg(
        Ecosystem::PyPI,
        "Flask",
        "2.2.4",
        "requirements.txt",
        3,
    )]);
    let f: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.aliases.iter().any(|a| a == "CVE-2023-30861"))
        .collect();
    assert_eq!(f.len(), 1, "{:?}", r.findings);
    assert_eq!(f[0].id, "PYSEC-2023-62");
    assert_eq!(f[0].ids, ["GHSA-m2qf-hxjv-5gpq", "PYSEC-2023-62"]);
    assert_eq!(f[0].fixed.as_deref(), Some("2.2.5"));
    assert_eq!(f[0].rating(), Some(Rating::High));
}

/// Run by `a_killed_import_never_breaks_the_database` in a child process: imports the
/// Go database into `VDB_CHILD_DIR`. Does nothing when run normally.
#[test]
fn child_import() {
    let (Some(dir), Some(data)) = (std::env::var_os("VDB_CHILD_DIR"), osv_data()) else {
        return;
    };
    let mut db = Db::open_or_empty(Path::new(&dir)).unwrap();
    db.import_paths(&[data.join("go-vulndb-osv")]).unwrap();
}

#[test]
fn a_killed_import_never_breaks_the_database() {
    let Some(data) = osv_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    Db::empty(dir.path())
        .import_paths(&[data.join("rustsec-osv")])
        .unwrap();
    let exe = std::env::current_exe().unwrap();
    let tmp_files = |dir: &Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".tmp")
            })
            .count()
    };
    // Kill the importing child the moment its temporary file appears: mid-save.
    let child = std::process::Command::new(&exe)
        .args(["--exact", "child_import", "--test-threads=1"])
        .env("VDB_CHILD_DIR", dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let mut child = child.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let mut caught = false;
    while std::time::Instant::now() < deadline {
        if tmp_files(dir.path()) > 0 {
            let _ = child.kill();
            caught = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        caught,
        "the child finished before its save could be interrupted"
    );
    // The database is the old one (or the new one, had the rename just happened).
    let n = Db::open(dir.path()).unwrap().records().len();
    assert!(n == 1206 || n == 1206 + 4291, "{n} records");
    // And the next import works over the leftovers.
    let mut db = Db::open(dir.path()).unwrap();
    db.import_paths(&[data.join("go-vulndb-osv")]).unwrap();
    assert_eq!(Db::open(dir.path()).unwrap().records().len(), 1206 + 4291);
}

/// End to end with the lockfile readers: every lockfile of the manifest, read from
/// disk, gives exactly the expected vulnerabilities and notices, at the right lines.
#[test]
fn lockfiles_read_from_disk_give_the_manifests_advisories() {
    use webqx_vuln::lockfile::{Kind, Options, read_as};
    let (Some((dir, _)), Some(data)) = (full_db(), osv_data()) else {
        return;
    };
    let db = Db::open(dir.path()).unwrap();
    let cases: [(&str, Kind, &[&str], &[&str]); 4] = [
        (
            "rustsec_cargo-audit_multi_vulns_Cargo.lock",
            Kind::CargoLock,
            &["RUSTSEC-2017-0004", "RUSTSEC-2020-0071"],
            &[],
        ),
        (
            "osvscanner_deprecated-vuln_Cargo.lock",
            Kind::CargoLock,
            &[],
            &["RUSTSEC-2020-0016", "RUSTSEC-2020-0078"],
        ),
        (
            "rustsec_cargo-audit_base64_vuln_Cargo.lock",
            Kind::CargoLock,
            &[],
            &[],
        ),
        (
            "osvscanner_locks-many-with-insecure_package-lock.json",
            Kind::NpmLock,
            &["GHSA-whgm-jr23-g3j9"],
            &[],
        ),
    ];
    for (file, kind, vulns, notices) in cases {
        let path = data.join("lockfiles").join(file);
        let lock = read_as(&path, kind, Options::default()).unwrap();
        let report = Scanner::new(&db).scan(&lock.packages);
        let mut got: Vec<&str> = report.vulnerabilities().map(|f| f.id.as_str()).collect();
        got.sort_unstable();
        assert_eq!(got, vulns, "{file}");
        let mut got: Vec<&str> = report.notices().map(|f| f.id.as_str()).collect();
        got.sort_unstable();
        assert_eq!(got, notices, "{file}");
        for f in &report.findings {
            assert!(
                f.package.location.line > 0,
                "{file}: {} has no line",
                f.package.name
            );
        }
    }
}
