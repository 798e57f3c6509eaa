//! Behaviour of the lockfile and SBOM readers: hand-written fixtures of every format
//! with their exact packages and lines, the real lockfiles in `../shared/data/osv/lockfiles`,
//! malformed input, hostile bytes, and folder discovery.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use webqx_vuln::Ecosystem::{self, CratesIo, Go, Maven, Npm, Packagist, PyPI, RubyGems};
use webqx_vuln::lockfile::NoteKind::{self, NotMatchable, Skipped, Unpinned, Unresolved};
use webqx_vuln::lockfile::{self, Kind, LockfileError, Options, Purl};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lockfiles")
}

/// `../shared/data/<relative>` (or under `WEBQX_SHARED_DATA`); `None` outside CI when it
/// is missing, a failure under CI. (webqx-testkit does the same, but would pull the
/// store and PKI crates into this small crate's test build.)
fn shared_data(relative: &str) -> Option<PathBuf> {
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
    eprintln!("skipping: {} is missing", path.display());
    None
}

type Expected = (Ecosystem, &'static str, &'static str, u32);

/// Every package of every fixture, in file order, with the line of its entry.
const PACKAGES: &[(&str, &[Expected])] = &[
    ("cargo-v1/Cargo.lock", &[(CratesIo, "smallvec", "0.6.9", 8)]),
    ("cargo-v2/Cargo.lock", &[(CratesIo, "hyper", "0.14.9", 16)]),
    ("cargo-v3/Cargo.lock", &[(CratesIo, "regex", "1.5.4", 17)]),
    ("cargo-v4/Cargo.lock", &[(CratesIo, "tokio", "1.18.4", 12)]),
    (
        "composer/composer.lock",
        &[
            (Packagist, "guzzlehttp/guzzle", "7.4.0", 7),
            (Packagist, "monolog/monolog", "v2.3.5", 16),
            (Packagist, "phpunit/phpunit", "9.5.10", 26),
        ],
    ),
    (
        "gemfile/Gemfile.lock",
        &[
            (RubyGems, "actionpack", "6.1.4", 10),
            (RubyGems, "nokogiri", "1.13.10", 12),
            (RubyGems, "racc", "1.6.0", 14),
            (RubyGems, "rack", "2.2.3", 15),
        ],
    ),
    (
        "gomod/go.mod",
        &[
            (Go, "stdlib", "v1.22.1", 5),
            (Go, "github.com/gin-gonic/gin", "v1.6.2", 8),
            (
                Go,
                "golang.org/x/net",
                "v0.0.0-20220722155237-a158d28d115b",
                9,
            ),
            (Go, "github.com/new/dep", "v1.1.0", 10),
            (Go, "github.com/quoted/mod", "v0.3.0", 11),
        ],
    ),
    (
        "npm-v1/package-lock.json",
        &[
            (Npm, "lodash", "4.17.20", 7),
            (Npm, "minimist", "1.2.0", 12),
            (Npm, "lodash", "4.17.4", 18),
            (Npm, "strip-ansi", "6.0.0", 23),
        ],
    ),
    (
        "npm-v2/package-lock.json",
        &[
            (Npm, "@babel/traverse", "7.20.0", 15),
            (Npm, "lodash", "4.17.20", 19),
            (Npm, "debug", "4.3.1", 22),
        ],
    ),
    (
        "npm-v3/package-lock.json",
        &[
            (Npm, "strip-ansi", "6.0.0", 14),
            (Npm, "semver", "7.3.7", 18),
        ],
    ),
    (
        "pipfile/Pipfile.lock",
        &[
            (PyPI, "requests", "2.25.0", 12),
            (PyPI, "pillow", "8.1.0", 19),
            (PyPI, "pytest", "6.2.1", 24),
        ],
    ),
    (
        "pnpm-v5/pnpm-lock.yaml",
        &[
            (Npm, "@babel/core", "7.12.0", 13),
            (Npm, "react-dom", "17.0.2", 17),
        ],
    ),
    (
        "pnpm-v6/pnpm-lock.yaml",
        &[
            (Npm, "@tanstack/react-query", "4.24.4", 14),
            (Npm, "react", "18.2.0", 20),
        ],
    ),
    (
        "pnpm-v9/pnpm-lock.yaml",
        &[
            (Npm, "@esbuild/linux-x64", "0.18.20", 17),
            (Npm, "express", "4.17.1", 23),
        ],
    ),
    (
        "poetry/poetry.lock",
        &[
            (PyPI, "jinja2", "2.11.2", 3),
            (PyPI, "markupsafe", "2.0.1", 16),
        ],
    ),
    (
        "pom/pom.xml",
        &[
            (
                Maven,
                "org.springframework.boot:spring-boot-starter-parent",
                "2.5.12",
                6,
            ),
            (Maven, "org.apache.logging.log4j:log4j-core", "2.14.1", 29),
            (
                Maven,
                "com.fasterxml.jackson.core:jackson-databind",
                "2.12.1",
                34,
            ),
            (Maven, "com.google.guava:guava", "29.0-jre", 39),
            (Maven, "org.example:ehr-common", "1.4.0", 43),
        ],
    ),
    (
        "requirements/constraints.txt",
        &[(PyPI, "jinja2", "2.11.2", 1), (PyPI, "numpy", "1.21.0", 2)],
    ),
    (
        "requirements/requirements.txt",
        &[
            (PyPI, "pyyaml", "5.3.1", 1),
            (PyPI, "django", "3.2.4", 6),
            (PyPI, "requests", "2.25.0", 7),
            (PyPI, "flask-sqlalchemy", "2.4.4", 8),
            (PyPI, "jinja2", "2.11.2", 1),
        ],
    ),
    (
        "sbom/app.spdx.json",
        &[
            (Npm, "lodash", "4.17.20", 7),
            (CratesIo, "time", "0.1.45", 19),
        ],
    ),
    (
        "sbom/bom.cdx.json",
        &[
            (Npm, "@babel/core", "7.20.0", 9),
            (Npm, "json5", "2.2.1", 15),
            (PyPI, "django", "3.2.4", 22),
            (Maven, "org.apache.logging.log4j:log4j-core", "2.14.1", 27),
            (Go, "golang.org/x/net", "v0.7.0", 32),
            (CratesIo, "smallvec", "1.6.0", 37),
            (Packagist, "guzzlehttp/guzzle", "7.4.0", 42),
            (RubyGems, "rack", "2.2.3", 47),
        ],
    ),
    (
        "shrinkwrap/npm-shrinkwrap.json",
        &[(Npm, "minimist", "1.2.5", 6)],
    ),
    (
        "uv/uv.lock",
        &[
            (PyPI, "urllib3", "2.2.1", 12),
            (PyPI, "zope-interface", "6.2", 18),
        ],
    ),
    (
        "yarn-berry/yarn.lock",
        &[
            (Npm, "@types/node", "18.11.9", 8),
            (Npm, "minimist", "1.2.5", 21),
        ],
    ),
    (
        "yarn-classic/yarn.lock",
        &[
            (Npm, "@babel/code-frame", "7.12.13", 5),
            (Npm, "lodash", "4.17.15", 12),
            (Npm, "strip-ansi", "6.0.0", 16),
        ],
    ),
];

/// Every note of every fixture: its kind and line.
const NOTES: &[(&str, &[(NoteKind, u32)])] = &[
    ("cargo-v1/Cargo.lock", &[(NotMatchable, 1)]),
    (
        "cargo-v2/Cargo.lock",
        &[(NotMatchable, 3), (NotMatchable, 11)],
    ),
    (
        "cargo-v3/Cargo.lock",
        &[(NotMatchable, 5), (NotMatchable, 12)],
    ),
    ("cargo-v4/Cargo.lock", &[(NotMatchable, 5)]),
    ("composer/composer.lock", &[(NotMatchable, 20)]),
    ("gemfile/Gemfile.lock", &[(NotMatchable, 5)]),
    ("gomod/go.mod", &[(NotMatchable, 14), (Skipped, 16)]),
    (
        "npm-v1/package-lock.json",
        &[(NotMatchable, 26), (Skipped, 29)],
    ),
    ("npm-v2/package-lock.json", &[]),
    (
        "npm-v3/package-lock.json",
        &[(NotMatchable, 10), (NotMatchable, 22), (NotMatchable, 26)],
    ),
    ("pipfile/Pipfile.lock", &[(NotMatchable, 27)]),
    ("pnpm-v5/pnpm-lock.yaml", &[]),
    ("pnpm-v6/pnpm-lock.yaml", &[]),
    ("pnpm-v9/pnpm-lock.yaml", &[]),
    ("poetry/poetry.lock", &[(NotMatchable, 23)]),
    (
        "pom/pom.xml",
        &[(Unresolved, 48), (Unresolved, 52), (Unpinned, 57)],
    ),
    ("requirements/constraints.txt", &[]),
    (
        "requirements/requirements.txt",
        &[
            (Skipped, 2),
            (Unpinned, 11),
            (NotMatchable, 13),
            (NotMatchable, 14),
        ],
    ),
    ("sbom/app.spdx.json", &[(NotMatchable, 31)]),
    ("sbom/bom.cdx.json", &[(Skipped, 52), (NotMatchable, 57)]),
    ("shrinkwrap/npm-shrinkwrap.json", &[]),
    ("uv/uv.lock", &[(NotMatchable, 4)]),
    ("yarn-berry/yarn.lock", &[(NotMatchable, 15)]),
    ("yarn-classic/yarn.lock", &[(NotMatchable, 19)]),
];

fn read_fixture(relative: &str) -> lockfile::Lockfile {
    let path = fixtures().join(relative);
    lockfile::read(&path, Options::default().with_go_stdlib(true))
        .unwrap_or_else(|e| panic!("{relative}: {e}"))
}

#[test]
fn fixtures_give_exact_packages_and_lines() {
    for (relative, expected) in PACKAGES {
        let found = read_fixture(relative);
        let got: Vec<(Ecosystem, &str, &str, u32)> = found
            .packages
            .iter()
            .map(|p| {
                (
                    p.ecosystem,
                    p.name.as_str(),
                    p.version.as_str(),
                    p.location.line,
                )
            })
            .collect();
        assert_eq!(got, expected.to_vec(), "{relative}");
    }
}

#[test]
fn fixtures_give_expected_notes() {
    for (relative, expected) in NOTES {
        let found = read_fixture(relative);
        let got: Vec<(NoteKind, u32)> = found
            .notes
            .iter()
            .map(|n| (n.kind, n.location.line))
            .collect();
        assert_eq!(&got, expected, "{relative}");
    }
}

#[test]
fn every_fixture_is_covered_and_discovered() {
    let found = lockfile::discover(&fixtures());
    let names: Vec<String> = found
        .iter()
        .map(|p| {
            p.strip_prefix(fixtures())
                .unwrap_or(p)
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    for (relative, _) in PACKAGES {
        assert!(
            names.iter().any(|n| n == relative),
            "{relative} not discovered in {names:?}"
        );
    }
    assert_eq!(
        names.len(),
        PACKAGES.len() + 1,
        "one extra: the included base-requirements.txt"
    );
}

#[test]
fn packages_record_the_file_they_came_from() {
    let found = read_fixture("requirements/requirements.txt");
    let file_of = |name: &str| {
        let p = found
            .packages
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("{name} missing"));
        p.location
            .file
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
    };
    assert_eq!(file_of("pyyaml").as_deref(), Some("base-requirements.txt"));
    assert_eq!(file_of("django").as_deref(), Some("requirements.txt"));
    assert_eq!(
        file_of("jinja2").as_deref(),
        Some("constraints.txt"),
        "pinned by the constraint file"
    );
    assert!(
        found.packages.iter().all(|p| p.name != "numpy"),
        "a constraint alone installs nothing"
    );
}

/// The fuzzer's case: a v1 entry (or a v2 install path) with an empty name is noted, not
/// a package without a name.
#[test]
fn npm_entries_without_a_name_are_noted() {
    for text in [
        r#"{"lockfileVersion": 1, "dependencies": {"": {"version": "1.0.0"},
            "a": {"version": "2.0.0"}}}"#,
        r#"{"lockfileVersion": 3, "packages": {"": {"name": "app"},
            "node_modules/": {"version": "1.0.0"}, "node_modules/a": {"version": "2.0.0"}}}"#,
    ] {
        let found = lockfile::parse(
            Path::new("package-lock.json"),
            Kind::NpmLock,
            text.as_bytes(),
            Options::default(),
        )
        .unwrap();
        let names: Vec<&str> = found.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a"], "{text}");
        assert!(
            found
                .notes
                .iter()
                .any(|n| n.kind == NotMatchable && n.message.contains("without a package name")),
            "{:?}",
            found.notes
        );
    }
}

#[test]
fn notes_and_errors_never_quote_urls_from_the_file() {
    let found = read_fixture("requirements/requirements.txt");
    for note in &found.notes {
        assert!(
            !note.message.contains("secret") && !note.message.contains("://"),
            "{}",
            note.message
        );
    }
    let err = parse_err(
        "requirements.txt",
        "--index-url https://user:secret@x.invalid/\n!!bad\n",
    );
    assert!(!err.to_string().contains("secret"), "{err}");
}

#[test]
fn go_stdlib_is_reported_only_when_asked() {
    let path = fixtures().join("gomod/go.mod");
    let plain = lockfile::read(&path, Options::default()).expect("go.mod");
    assert!(plain.packages.iter().all(|p| p.name != "stdlib"));
    let with = lockfile::read(&path, Options::default().with_go_stdlib(true)).expect("go.mod");
    let stdlib = with
        .packages
        .iter()
        .find(|p| p.name == "stdlib")
        .expect("stdlib");
    assert_eq!(
        (stdlib.version.as_str(), stdlib.location.line),
        ("v1.22.1", 5),
        "the toolchain line wins"
    );
}

#[test]
fn read_file_gives_the_packages() {
    let packages =
        lockfile::read_file(&fixtures().join("cargo-v4/Cargo.lock")).expect("Cargo.lock");
    assert_eq!(packages.len(), 1);
    let err = lockfile::read_file(&fixtures().join("nope/Cargo.lock")).expect_err("missing file");
    assert!(
        matches!(err, LockfileError::Io { .. }) && err.to_string().contains("nope/Cargo.lock"),
        "{err}"
    );
    let err = lockfile::read_file(Path::new("notes.md")).expect_err("unknown name");
    assert!(matches!(err, LockfileError::UnknownKind { .. }), "{err}");
}

// --- The real lockfiles (MANIFEST.md, osv/lockfiles) ---------------------------------

fn shared_lock(name: &str) -> Option<lockfile::Lockfile> {
    let path = shared_data(&format!("osv/lockfiles/{name}"))?;
    Some(lockfile::read(&path, Options::default()).unwrap_or_else(|e| panic!("{e}")))
}

fn line_of(found: &lockfile::Lockfile, name: &str, version: &str) -> u32 {
    found
        .packages
        .iter()
        .find(|p| p.name == name && p.version == version)
        .unwrap_or_else(|| panic!("{name} {version} not found"))
        .location
        .line
}

#[test]
fn shared_cargo_audit_multi_vulns_lock() {
    let Some(found) = shared_lock("rustsec_cargo-audit_multi_vulns_Cargo.lock") else {
        return;
    };
    // 41 [[package]] tables; one is the root crate (no source), a note.
    assert_eq!(found.packages.len(), 40);
    assert_eq!(found.notes.len(), 1);
    assert_eq!(line_of(&found, "base64", "0.5.1"), 20);
    assert_eq!(line_of(&found, "chrono", "0.4.24"), 53);
    assert_eq!(line_of(&found, "time", "0.1.45"), 183);
    assert!(found.packages.iter().all(|p| p.ecosystem == CratesIo));
}

#[test]
fn shared_osvscanner_deprecated_vuln_lock() {
    let Some(found) = shared_lock("osvscanner_deprecated-vuln_Cargo.lock") else {
        return;
    };
    assert_eq!(found.packages.len(), 6);
    assert_eq!(line_of(&found, "net2", "0.2.33"), 17);
}

#[test]
fn shared_cargo_audit_base64_lock() {
    let Some(found) = shared_lock("rustsec_cargo-audit_base64_vuln_Cargo.lock") else {
        return;
    };
    assert_eq!(found.packages.len(), 2);
    assert_eq!(line_of(&found, "base64", "0.5.2"), 5);
}

#[test]
fn shared_npm_v1_lock() {
    let Some(found) = shared_lock("osvscanner_locks-many-with-insecure_package-lock.json") else {
        return;
    };
    assert_eq!(found.packages.len(), 1);
    assert_eq!(found.packages.first().map(|p| p.ecosystem), Some(Npm));
    assert_eq!(line_of(&found, "ansi-html", "0.0.1"), 5);
}

// --- Malformed input -----------------------------------------------------------------

fn parse_err(file_name: &str, text: &str) -> LockfileError {
    let path = Path::new("bad").join(file_name);
    let kind = Kind::from_path(&path).expect("known name");
    match lockfile::parse(&path, kind, text.as_bytes(), Options::default()) {
        Ok(found) => panic!("{file_name}: accepted {found:?}"),
        Err(e) => e,
    }
}

/// (file name, content, the line the error must name).
const MALFORMED: &[(&str, &str, u32)] = &[
    (
        "Cargo.lock",
        "version = 3\n\n[[package]]\nname = \"a\"\nversion = \n",
        5,
    ),
    ("Cargo.lock", "[[package]]\nname = \"a\"\n", 1),
    (
        "package-lock.json",
        "{\n  \"lockfileVersion\": 2,\n  \"packages\": {\n    \"node_modules/a\": {\n  }\n",
        6,
    ),
    (
        "package-lock.json",
        "{\n  \"lockfileVersion\": 1,\n  \"dependencies\": [1]\n}\n",
        3,
    ),
    ("npm-shrinkwrap.json", "[]\n", 1),
    (
        "yarn.lock",
        "# yarn lockfile v1\n\nlodash@^4.17.15:\n  resolved \"x\"\n",
        3,
    ),
    (
        "yarn.lock",
        "# yarn lockfile v1\n\n  version \"1.0.0\"\n",
        3,
    ),
    (
        "yarn.lock",
        "__metadata:\n  version: 6\n\n\"a@npm:1\":\n  version: 1.0.0\n",
        4,
    ),
    (
        "yarn.lock",
        "__metadata:\n  version: 6\n\"a@npm:1\": [\n",
        4,
    ),
    (
        "pnpm-lock.yaml",
        "lockfileVersion: '9.0'\npackages:\n  a@1.0.0: {\n",
        4,
    ),
    ("pnpm-lock.yaml", "packages: {}\n", 1),
    (
        "requirements.txt",
        "django==3.2\n\n!!not a requirement\n",
        3,
    ),
    ("requirements.txt", "flask==2.0\n-r\n", 2),
    (
        "poetry.lock",
        "[[package]]\nname = \"a\"\nversion = \"1\"\n[[package]\n",
        4,
    ),
    (
        "Pipfile.lock",
        "{\n  \"default\": {\n    \"a\": {\"version\": \"==1\"},\n  }\n}\n",
        4,
    ),
    ("uv.lock", "version = 1\n[[package]]\nversion = \"1\"\n", 2),
    (
        "go.mod",
        "module x\n\nrequire (\n  github.com/a/b v1.0.0\n",
        3,
    ),
    ("go.mod", "module x\nrequire github.com/a/b\n", 2),
    ("go.mod", "module x\nfrobnicate y\n", 2),
    (
        "composer.lock",
        "{\n  \"packages\": [\n    {\"name\": \"a/b\"}\n  ]\n}\n",
        3,
    ),
    (
        "Gemfile.lock",
        "GEM\n  remote: https://rubygems.org/\n  specs:\n    rack 2.2.3\n",
        4,
    ),
    (
        "pom.xml",
        "<project>\n  <dependencies>\n    <dependency>\n  </dependencies>\n</project>\n",
        4,
    ),
    ("pom.xml", "<?xml version=\"1.0\"?>\n<notaproject/>\n", 1),
    (
        "bom.cdx.json",
        "{\n  \"bomFormat\": \"CycloneDX\",\n  \"components\": {}\n}\n",
        3,
    ),
    (
        "app.spdx.json",
        "{\"spdxVersion\": \"SPDX-2.3\",\n \"packages\": [\n {\"name\": 1,}]}\n",
        3,
    ),
    ("sbom.json", "{\"hello\": 1}\n", 1),
];

#[test]
fn malformed_input_names_file_and_line() {
    let mut wrong = Vec::new();
    for (file_name, text, line) in MALFORMED {
        let err = parse_err(file_name, text);
        let shown = err.to_string();
        let right = err.file() == Path::new("bad").join(file_name)
            && err.line().unwrap_or(0) == *line
            && shown.starts_with(&format!("bad/{file_name}"))
            && (shown.contains("expected") || shown.contains("not valid"));
        if !right {
            wrong.push(format!("want line {line}: {shown}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "errors without the right file, line or expectation:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn invalid_utf8_is_an_error_with_a_position() {
    let path = Path::new("go.mod");
    let err = lockfile::parse(
        path,
        Kind::GoMod,
        b"module x\n\ngo 1.2\xff\n",
        Options::default(),
    )
    .expect_err("utf-8");
    assert_eq!(err.line(), Some(3), "{err}");
}

#[test]
fn too_large_files_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("Cargo.lock");
    let file = std::fs::File::create(&path).expect("create");
    file.set_len(lockfile::MAX_FILE_BYTES + 1)
        .expect("sparse file");
    let err = lockfile::read_file(&path).expect_err("too large");
    assert!(matches!(err, LockfileError::TooLarge { .. }), "{err}");
}

#[test]
fn requirement_include_cycles_and_missing_includes() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("requirements.txt"),
        "-r requirements.txt\nsix==1.16.0\n",
    )
    .expect("write");
    let found = lockfile::read(&dir.path().join("requirements.txt"), Options::default())
        .expect("self include");
    assert_eq!(found.packages.len(), 1);
    std::fs::write(dir.path().join("requirements-dev.txt"), "-r missing.txt\n").expect("write");
    let err =
        lockfile::read_file(&dir.path().join("requirements-dev.txt")).expect_err("missing include");
    assert!(err.to_string().contains("missing.txt"), "{err}");
}

// --- Names, purls, discovery -------------------------------------------------------------

#[test]
fn kinds_by_file_name() {
    let cases = [
        ("Cargo.lock", Some(Kind::CargoLock)),
        (
            "rustsec_cargo-audit_multi_vulns_Cargo.lock",
            Some(Kind::CargoLock),
        ),
        ("MyCargo.lock", None),
        ("npm-shrinkwrap.json", Some(Kind::NpmLock)),
        ("requirements-dev.txt", Some(Kind::Requirements)),
        ("dev-requirements.txt", Some(Kind::Requirements)),
        ("gems.locked", Some(Kind::GemfileLock)),
        ("x.cdx.json", Some(Kind::SbomJson)),
        ("x.spdx.json", Some(Kind::SbomJson)),
        ("package.json", None),
        ("go.sum", None),
    ];
    for (name, kind) in cases {
        assert_eq!(Kind::from_path(Path::new(name)), kind, "{name}");
    }
}

#[test]
fn purls() {
    let cases = [
        (
            "pkg:npm/%40angular/core@12.0.0",
            Some((Npm, "@angular/core", "12.0.0")),
        ),
        (
            "pkg:maven/org.apache.commons/commons-text@1.9?type=jar#x",
            Some((Maven, "org.apache.commons:commons-text", "1.9")),
        ),
        (
            "pkg:pypi/Flask_Login@0.5.0",
            Some((PyPI, "flask-login", "0.5.0")),
        ),
        (
            "pkg:golang/github.com/gin-gonic/gin@v1.6.2",
            Some((Go, "github.com/gin-gonic/gin", "v1.6.2")),
        ),
        (
            "pkg:composer/laravel/framework@v8.0.0",
            Some((Packagist, "laravel/framework", "v8.0.0")),
        ),
        ("pkg:gem/rails@6.1.4", Some((RubyGems, "rails", "6.1.4"))),
        ("pkg:cargo/rand@0.8.5", Some((CratesIo, "rand", "0.8.5"))),
        ("PKG:cargo/rand@0.8.5", Some((CratesIo, "rand", "0.8.5"))),
        ("pkg:cargo/rand", None),
        ("pkg:deb/debian/curl@7.0", None),
        ("pkg:npm/%zz@1", None),
        ("npm/lodash@1", None),
        ("pkg:", None),
    ];
    for (purl, expected) in cases {
        let got = lockfile::purl_to_package(purl, Path::new("x"), 0);
        let got = got
            .as_ref()
            .map(|p| (p.ecosystem, p.name.as_str(), p.version.as_str()));
        assert_eq!(got, expected, "{purl}");
    }
    let parsed = Purl::parse("pkg:npm/%40scope/name@1.0.0").expect("purl");
    assert_eq!(parsed.namespace.as_deref(), Some("@scope"));
}

#[cfg(unix)]
#[test]
fn discover_skips_folders_and_survives_link_loops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    for sub in [
        "app/node_modules/dep",
        "app/target",
        "app/.git",
        "app/vendor/x",
        "svc/.venv",
        "svc/api",
    ] {
        std::fs::create_dir_all(root.join(sub)).expect("mkdir");
    }
    for file in [
        "app/package-lock.json",
        "app/node_modules/dep/package-lock.json",
        "app/target/Cargo.lock",
        "app/.git/Cargo.lock",
        "app/vendor/x/composer.lock",
        "svc/.venv/requirements.txt",
        "svc/api/go.mod",
        "svc/api/README.md",
    ] {
        std::fs::write(root.join(file), "").expect("write");
    }
    std::os::unix::fs::symlink(root, root.join("svc/api/loop")).expect("symlink");
    let found = lockfile::discover(root);
    assert_eq!(
        found,
        vec![
            root.join("app/package-lock.json"),
            root.join("svc/api/go.mod")
        ]
    );
    assert_eq!(
        lockfile::discover(&root.join("svc/api/go.mod")),
        vec![root.join("svc/api/go.mod")]
    );
}

// --- Hostile bytes ---------------------------------------------------------------------

/// One file name per kind.
const NAMES: [&str; 13] = [
    "Cargo.lock",
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "requirements.txt",
    "poetry.lock",
    "Pipfile.lock",
    "uv.lock",
    "go.mod",
    "composer.lock",
    "Gemfile.lock",
    "pom.xml",
    "bom.cdx.json",
];

fn never_panics(bytes: &[u8]) {
    for name in NAMES {
        let path = Path::new(name);
        let kind = Kind::from_path(path).expect("known");
        let _ = lockfile::parse(path, kind, bytes, Options::default().with_go_stdlib(true));
    }
    let _ = lockfile::purl_to_package(&String::from_utf8_lossy(bytes), Path::new("x"), 1);
}

#[test]
fn name_table_covers_every_kind() {
    let kinds: Vec<Kind> = NAMES
        .iter()
        .filter_map(|n| Kind::from_path(Path::new(n)))
        .collect();
    assert_eq!(kinds, Kind::ALL.to_vec());
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        never_panics(&bytes);
    }

    #[test]
    fn fixture_mutations_never_panic(index in 0usize..64, cut in 0usize..4096, insert in "[\\[\\]{}\"'@:,\\n ()=<>#/\\\\-]{0,8}") {
        let files = lockfile::discover(&fixtures());
        let Some(path) = files.get(index % files.len().max(1)) else { return Ok(()) };
        let mut text = std::fs::read(path).expect("fixture");
        let at = cut % (text.len() + 1);
        text.splice(at..at, insert.bytes());
        never_panics(&text);
    }
}

/// Deep nesting and alias bombs: an error or a bounded result in bounded time, never a
/// stack overflow.
#[test]
fn hostile_nesting_and_aliases_are_bounded() {
    let deep = 100_000;
    let cases: Vec<(&str, String)> = vec![
        ("Cargo.lock", format!("a = {}{}", "[".repeat(deep), "]".repeat(deep))),
        ("Cargo.lock", format!("a = {}{}", "{b=".repeat(deep), "}".repeat(deep))),
        ("package-lock.json", format!("{}{}", "[".repeat(deep), "]".repeat(deep))),
        ("pnpm-lock.yaml", format!("packages: {}{}", "[".repeat(deep), "]".repeat(deep))),
        ("yarn.lock", format!("__metadata:\n  v: 1\nx: {}\n", "[".repeat(deep))),
        ("pom.xml", format!("<project>{}{}</project>", "<a>".repeat(deep), "</a>".repeat(deep))),
        ("pnpm-lock.yaml", format!("lockfileVersion: 5\npackages:\n  x: {}1\n", "- ".repeat(deep))),
        ("yarn.lock", format!("__metadata:\n  v: 1\n{}", (0..2000).map(|i| format!("{}a{i}:\n", " ".repeat(i))).collect::<String>())),
        ("yarn.lock", format!("__metadata:\n  v: 1\nx: {}1\n", "? ".repeat(deep))),
        ("pnpm-lock.yaml", format!("lockfileVersion: 5\npackages:\n  - {}1\n", "- ".repeat(deep))),
        (
            "yarn.lock",
            "__metadata: {}\na: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
             c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n\
             e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n\
             g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
                .to_string(),
        ),
        (
            "pnpm-lock.yaml",
            "lockfileVersion: 5\na: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
             c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n\
             e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n\
             g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n\
             packages: {i: *h}\n"
                .to_string(),
        ),
        (
            "pom.xml",
            "<!DOCTYPE p [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]>\
             <project><version>&b;</version></project>"
                .to_string(),
        ),
    ];
    for (name, text) in cases {
        let path = Path::new(name);
        let kind = Kind::from_path(path).expect("known");
        let started = std::time::Instant::now();
        let _ = lockfile::parse(path, kind, text.as_bytes(), Options::default());
        // Before the flow-depth guard, 100,000 `[` in pnpm-lock.yaml took over six minutes.
        let took = started.elapsed();
        assert!(
            took < std::time::Duration::from_secs(10),
            "{name}: {took:?}"
        );
    }
}

/// A service reading only some folders: includes outside them are refused alike whether
/// they exist or not (review: `-r /etc/shadow` was read and an existence oracle), links
/// out are refused once resolved, and a FIFO is never opened (it blocked a scan thread).
#[test]
fn confined_reads_keep_includes_inside_and_never_open_fifos() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&root).expect("mkdir");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::fs::write(outside.join("secret.txt"), "flask==0.1\n").expect("write");
    std::fs::write(root.join("inner.txt"), "requests==2.0.0\n").expect("write");
    std::os::unix::fs::symlink(outside.join("secret.txt"), root.join("link.txt")).expect("ln");
    std::os::unix::fs::symlink(outside.join("none.txt"), root.join("dangling.txt")).expect("ln");
    let roots = [root.clone()];

    let run = |includes: &str| {
        let req = root.join("requirements.txt");
        std::fs::write(&req, includes).expect("write");
        lockfile::read_confined(&req, Options::default(), &roots)
    };
    let ok = run("-r inner.txt\n").expect("an include inside the root is read");
    assert_eq!(ok.packages.len(), 1);
    let message = |r: Result<lockfile::Lockfile, LockfileError>| match r {
        Err(e) => e
            .to_string()
            .replace(&dir.path().display().to_string(), "D"),
        Ok(l) => panic!("read {} packages", l.packages.len()),
    };
    let existing = message(run("-r ../outside/secret.txt\n"));
    let missing = message(run("-r ../outside/none.txt\n"));
    assert!(existing.contains("outside the folders"), "{existing}");
    assert_eq!(
        existing.replace("secret", "X"),
        missing.replace("none", "X"),
        "the refusal must not tell whether the file exists"
    );
    assert!(message(run("-r /etc/passwd\n")).contains("outside the folders"));
    assert!(message(run("-r link.txt\n")).contains("outside the folders"));
    // A link out whose target is missing says the same (review: it said "not found",
    // an existence oracle through links).
    assert_eq!(
        message(run("-r link.txt\n")).replace("link", "X"),
        message(run("-r dangling.txt\n")).replace("dangling", "X")
    );

    let status = std::process::Command::new("mkfifo")
        .arg(root.join("pipe.txt"))
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
    let started = std::time::Instant::now();
    assert!(message(run("-r pipe.txt\n")).contains("not a regular file"));
    let fifo_lock = root.join("fifo").join("Cargo.lock");
    std::fs::create_dir_all(fifo_lock.parent().expect("parent")).expect("mkdir");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo_lock)
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
    assert!(lockfile::read_file(&fifo_lock).is_err());
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// Found by the fuzz smoke run: an entry whose `version:` is empty gave a package with
/// an empty version. It is refused as an entry without a version.
#[test]
fn an_empty_yarn_version_is_no_version() {
    let text = "\n\"@s/node@npm:^18.0.0\":\n  version:\n  resolution: \"@s/node@npm:18.0.0\"\n";
    for kind in [Kind::YarnLock] {
        match lockfile::parse(
            Path::new("yarn.lock"),
            kind,
            text.as_bytes(),
            Options::default(),
        ) {
            Ok(found) => assert!(found.packages.iter().all(|p| !p.version.is_empty())),
            Err(e) => assert!(e.to_string().contains("version"), "{e}"),
        }
    }
    let berry = "__metadata:\n  version: 6\n\n\"a@npm:^1\":\n  version: \"\"\n  resolution: \"a@npm:1.0.0\"\n";
    match lockfile::parse(
        Path::new("yarn.lock"),
        Kind::YarnLock,
        berry.as_bytes(),
        Options::default(),
    ) {
        Ok(found) => assert!(found.packages.iter().all(|p| !p.version.is_empty())),
        Err(e) => assert!(e.to_string().contains("version"), "{e}"),
    }
}
