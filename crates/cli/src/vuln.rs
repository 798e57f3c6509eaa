//! `webqx-sec vuln …`: the offline advisory database and lockfile scans (no server
//! needed), and the server's scheduled scans (`vuln target`, `vuln results`, in
//! [`crate::vuln_server`]).
//!
//! Exit codes (docs/vuln.md): 0 nothing at or above `--fail-on`, 1 a vulnerability at or
//! above it, 2 usage (arguments, ignore file), 3 the advisory database is missing,
//! unreadable, empty, without advisories for an ecosystem of the inputs, or (with
//! `--max-age` on `status`) stale, 4 an input file or advisory source could not be read,
//! 6 the report could not be written.
//!
//! Every file read here must be a regular file and is read with a size bound: a FIFO
//! would block and a device (`/dev/zero`) never end.

use crate::exit::Failure;
use crate::output::print_json;
use clap::{Args, Subcommand};
use serde_json::json;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use webqx_vuln::cvss::Rating;
use webqx_vuln::db::{self, Db, DbError};
use webqx_vuln::lockfile::{self, Options};
use webqx_vuln::report::{self, Format, escape_text};
use webqx_vuln::scan::{self, IgnoreFile, Outcome, Scanner};
use webqx_vuln::{Ecosystem, Package};

/// Vulnerability scanning.
#[derive(Subcommand, Debug)]
pub enum VulnCommand {
    /// The advisory database: import, status.
    #[command(subcommand)]
    Db(DbCommand),
    /// Scan lockfiles and SBOMs (files, or folders searched for them) against the
    /// database. Exit 1 when a vulnerability at or above --fail-on is found.
    Scan(ScanArgs),
    /// The server's scheduled scan targets: add, list, remove, run (through the API).
    #[command(subcommand)]
    Target(crate::vuln_server::TargetCommand),
    /// A server scan target's results, newest first (through the API).
    Results(crate::vuln_server::ResultsArgs),
}

/// `vuln db …`.
#[derive(Subcommand, Debug)]
pub enum DbCommand {
    /// Import OSV advisories (JSON/YAML files, folders, zip archives), incrementally.
    Import {
        /// Advisory sources.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Database directory (default: $WEBQX_VULN_DB, then the user's data folder).
        #[arg(long, value_name = "DIR")]
        db: Option<PathBuf>,
    },
    /// Counts per ecosystem and the age of the data. Exit 3 when the data is older
    /// than --max-age.
    Status {
        /// Database directory.
        #[arg(long, value_name = "DIR")]
        db: Option<PathBuf>,
        /// Largest acceptable age of the newest advisory (`7d`, `36h`).
        #[arg(long, value_name = "DURATION")]
        max_age: Option<String>,
    },
}

/// `vuln scan` arguments.
#[derive(Args, Debug)]
pub struct ScanArgs {
    /// Lockfiles, SBOMs, or folders to search for them.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Database directory.
    #[arg(long, value_name = "DIR")]
    pub db: Option<PathBuf>,
    /// table, json, sarif, or vex (CycloneDX 1.5 VEX). --json means json.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Ignore file (TOML, `[[ignore]]` with id, reason, expires).
    #[arg(long, value_name = "FILE")]
    pub ignore: Option<PathBuf>,
    /// Lowest severity that fails: low, medium, high, critical; none never fails
    /// (report only).
    #[arg(long, default_value = "low", value_name = "SEVERITY")]
    pub fail_on: String,
    /// Write the report to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Run a vuln command; the exit code follows the module's table.
pub async fn run(g: &crate::Global, cmd: VulnCommand) -> Result<i32, Failure> {
    let json_out = g.json;
    let outcome = match cmd {
        VulnCommand::Target(t) => return crate::vuln_server::target(g, t).await,
        VulnCommand::Results(a) => return crate::vuln_server::results(g, a).await,
        VulnCommand::Db(DbCommand::Import { paths, db }) => import(json_out, &paths, db),
        VulnCommand::Db(DbCommand::Status { db, max_age }) => status(json_out, db, max_age),
        VulnCommand::Scan(args) => scan_cmd(json_out, args),
    };
    match outcome {
        Ok(code) => Ok(code),
        Err(VulnFailure::Usage(m)) => Err(Failure::usage(escape_text(&m))),
        Err(VulnFailure::Local(m)) => Err(Failure::local(escape_text(&m))),
        Err(VulnFailure::Coded(code, message)) => {
            if json_out {
                print_json(&json!({"detail": message}));
            }
            eprintln!("error: {}", escape_text(&message));
            Ok(i32::from(code))
        }
    }
}

/// A failure with a vuln-specific exit code (3 database, 4 input).
enum VulnFailure {
    Usage(String),
    Local(String),
    Coded(u8, String),
}

fn db_failure(e: &DbError) -> VulnFailure {
    VulnFailure::Coded(scan::exit_code(Outcome::Database), e.to_string())
}

fn db_dir(given: Option<PathBuf>) -> Result<PathBuf, VulnFailure> {
    match given {
        Some(d) => Ok(d),
        None => db::default_dir().map_err(|e| db_failure(&e)),
    }
}

fn spinner(message: &str) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message(message.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(bar)
}

fn import(json_out: bool, paths: &[PathBuf], db: Option<PathBuf>) -> Result<i32, VulnFailure> {
    let dir = db_dir(db)?;
    let bar = spinner("importing advisories");
    let report = Db::import_locked(&dir, paths);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let report = report.map_err(|e| db_failure(&e))?;
    let errors: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
    let failed: Vec<String> = report
        .failed_sources
        .iter()
        .map(ToString::to_string)
        .collect();
    let s = &report.stats;
    if json_out {
        print_json(&json!({
            "db": dir.display().to_string(),
            "added": s.added, "updated": s.updated, "unchanged": s.unchanged, "older": s.older,
            "errors": errors, "failed_sources": failed,
        }));
    } else {
        println!(
            "Imported into {}: {} added, {} updated, {} unchanged, {} older kept.",
            escape_text(&dir.display().to_string()),
            s.added,
            s.updated,
            s.unchanged,
            s.older
        );
        for e in errors.iter().take(50) {
            eprintln!("  skipped: {}", escape_text(e));
        }
        if errors.len() > 50 {
            eprintln!("  … and {} more", errors.len() - 50);
        }
    }
    // A source that could not be read at all is a failure, named one by one; the
    // sources that could be read were imported.
    for f in &failed {
        eprintln!("error: source {}", escape_text(f));
    }
    // Sources whose every record was refused imported nothing: a failure too.
    let kept = s.added + s.updated + s.unchanged + s.older;
    if kept == 0 && !errors.is_empty() {
        eprintln!(
            "error: none of the {} records read could be imported (see above)",
            errors.len()
        );
    }
    if failed.is_empty() && (kept > 0 || errors.is_empty()) {
        Ok(0)
    } else {
        Ok(i32::from(scan::exit_code(Outcome::Input)))
    }
}

fn status(
    json_out: bool,
    db: Option<PathBuf>,
    max_age: Option<String>,
) -> Result<i32, VulnFailure> {
    let max_days = match &max_age {
        Some(text) => {
            let d = webqx_store::time::parse_duration(text)
                .map_err(|e| VulnFailure::Usage(format!("--max-age: {e}")))?;
            i64::try_from(d.as_secs() / 86_400).unwrap_or(i64::MAX)
        }
        None => db::DEFAULT_MAX_AGE_DAYS,
    };
    let dir = db_dir(db)?;
    let database = Db::open(&dir).map_err(|e| db_failure(&e))?;
    let st = database.status(max_days, chrono::Utc::now());
    if json_out {
        print_json(
            &json!({"db": dir.display().to_string(), "max_age_days": max_days, "status": st}),
        );
    } else {
        println!("Database {}", escape_text(&dir.display().to_string()));
        for (eco, n) in &st.per_ecosystem {
            println!("  {eco:<12} {n}");
        }
        println!(
            "  total {}, withdrawn {}, informational {}",
            st.total, st.withdrawn, st.informational
        );
        println!(
            "  newest advisory {}, imported {}",
            st.newest_modified.as_deref().unwrap_or("-"),
            st.imported_at.as_deref().unwrap_or("-")
        );
    }
    if let Some(w) = st.warning() {
        eprintln!("warning: {w}");
        if max_age.is_some() {
            return Ok(i32::from(scan::exit_code(Outcome::Database)));
        }
    }
    Ok(0)
}

/// The files to read: each path, or the lockfiles found under a folder.
fn inputs(paths: &[PathBuf]) -> Result<Vec<PathBuf>, VulnFailure> {
    let input = |m: String| VulnFailure::Coded(scan::exit_code(Outcome::Input), m);
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let found = lockfile::discover(p);
            if found.is_empty() {
                return Err(input(format!(
                    "{}: no lockfile or SBOM found in this folder",
                    p.display()
                )));
            }
            files.extend(found);
        } else if p.is_file() {
            files.push(p.clone());
        } else if p.exists() {
            return Err(input(format!(
                "{}: not a regular file or folder (a FIFO or device is never read)",
                p.display()
            )));
        } else {
            return Err(input(format!("{}: no such file or folder", p.display())));
        }
    }
    Ok(files)
}

/// Reads every input; the first unreadable one stops the scan (exit 4, file:line).
pub(crate) fn read_inputs(files: &[PathBuf]) -> Result<Vec<lockfile::Lockfile>, String> {
    files
        .iter()
        // The error's text names the file and, for syntax errors, `:line:column`.
        .map(|f| lockfile::read(f, Options::default()).map_err(|e| e.to_string()))
        .collect()
}

fn ecosystems(packages: &[Package]) -> Vec<Ecosystem> {
    let mut list: Vec<Ecosystem> = Vec::new();
    for p in packages {
        if !list.contains(&p.ecosystem) {
            list.push(p.ecosystem);
        }
    }
    list
}

/// A small file read whole: a regular file (never a FIFO or device) of at most `limit`
/// bytes, counted while reading (a file may grow after its size was looked at).
fn read_small_file(path: &Path, limit: usize) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file (a FIFO or device is never read)".into());
    }
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() > limit {
        return Err(format!("larger than {limit} bytes"));
    }
    Ok(bytes)
}

fn read_ignores(path: &Path) -> Result<IgnoreFile, VulnFailure> {
    let shown = path.display();
    let bytes = read_small_file(path, scan::MAX_IGNORE_BYTES)
        .map_err(|e| VulnFailure::Usage(format!("--ignore {shown}: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| VulnFailure::Usage(format!("--ignore {shown}: not UTF-8 text")))?;
    IgnoreFile::parse(&text).map_err(|e| {
        let place = e.line.map_or(shown.to_string(), |l| format!("{shown}:{l}"));
        VulnFailure::Usage(format!("{place}: {}", e.message))
    })
}

fn scan_cmd(json_out: bool, args: ScanArgs) -> Result<i32, VulnFailure> {
    let format_name = args
        .format
        .clone()
        .unwrap_or_else(|| if json_out { "json" } else { "table" }.to_string());
    let format = Format::parse(&format_name).ok_or_else(|| {
        VulnFailure::Usage(format!(
            "--format '{format_name}' is not table, json, sarif or vex"
        ))
    })?;
    let fail_on = Rating::parse(&args.fail_on).ok_or_else(|| {
        VulnFailure::Usage(format!(
            "--fail-on '{}' is not none, low, medium, high or critical",
            args.fail_on
        ))
    })?;
    let ignores = match &args.ignore {
        Some(p) => read_ignores(p)?,
        None => IgnoreFile::default(),
    };

    let files = inputs(&args.paths)?;
    let read =
        read_inputs(&files).map_err(|m| VulnFailure::Coded(scan::exit_code(Outcome::Input), m))?;
    let packages: Vec<Package> = read.iter().flat_map(|l| l.packages.clone()).collect();
    let dir = db_dir(args.db)?;
    let database = Db::open_for(&dir, &ecosystems(&packages)).map_err(|e| db_failure(&e))?;
    // No advisories for an ecosystem means its packages were not checked: never clean.
    scan::check_coverage(&database, &packages).map_err(|e| {
        VulnFailure::Coded(
            scan::exit_code(Outcome::Database),
            format!("{} ({})", e, dir.display()),
        )
    })?;
    // The age of the sections read; with no packages none were read.
    if let Some(w) = database
        .status(db::DEFAULT_MAX_AGE_DAYS, chrono::Utc::now())
        .warning()
        .filter(|_| !packages.is_empty())
    {
        eprintln!("warning: {w}");
    }

    let report = Scanner::new(&database)
        .with_ignores(ignores)
        .scan_files(&read);
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let text = report::render(&report, format, env!("CARGO_PKG_VERSION"), &now);
    match &args.output {
        Some(path) => std::fs::write(path, text.as_bytes()).map_err(|e| {
            VulnFailure::Local(format!("--output {}: cannot write: {e}", path.display()))
        })?,
        None => println!("{text}"),
    }
    // `none` reports only, as `hunt --fail-on none` does: no finding fails the scan.
    if args.fail_on.eq_ignore_ascii_case("none") {
        return Ok(0);
    }
    Ok(i32::from(scan::exit_code(Outcome::Scanned {
        report: &report,
        fail_on,
    })))
}
