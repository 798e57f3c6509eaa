//! Times what a scan costs: reading lockfiles, opening the database (only the
//! sections the packages need) and matching. For the benchmark against cargo-audit on
//! the same Cargo.lock files.
//!
//! ```text
//! vuln_bench DB_DIR [--import PATH]… [--lock LOCKFILE]… [< packages.txt]
//! ```
//! `--import` paths are imported into DB_DIR first (timed). Packages come from the
//! `--lock` files, or else from `ECOSYSTEM NAME VERSION` lines on standard input.

use std::io::Read;
use std::path::PathBuf;
use std::time::Instant;

use webqx_vuln::db::Db;
use webqx_vuln::scan::Scanner;
use webqx_vuln::{Ecosystem, Location, Package};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: vuln_bench DB_DIR [--import P]… [--lock F]…")?,
    );
    let (mut imports, mut locks) = (Vec::new(), Vec::new());
    while let Some(flag) = args.next() {
        let value = PathBuf::from(args.next().ok_or("a flag needs a value")?);
        match flag.to_str() {
            Some("--import") => imports.push(value),
            Some("--lock") => locks.push(value),
            _ => return Err("flags are --import PATH and --lock FILE".into()),
        }
    }
    if !imports.is_empty() {
        let t = Instant::now();
        let mut db = Db::open_or_empty(&dir)?;
        let report = db.import_paths(&imports)?;
        eprintln!(
            "import: {:?} errors={} in {:?}",
            report.stats,
            report.errors.len(),
            t.elapsed()
        );
    }

    let t = Instant::now();
    let packages = if locks.is_empty() {
        packages_from_stdin()?
    } else {
        packages_from_locks(&locks)?
    };
    let read = t.elapsed();
    let mut ecosystems: Vec<Ecosystem> = packages.iter().map(|p| p.ecosystem).collect();
    ecosystems.sort();
    ecosystems.dedup();

    let t = Instant::now();
    let db = Db::open_for(&dir, &ecosystems)?;
    let load = t.elapsed();
    let t = Instant::now();
    let report = Scanner::new(&db).scan(&packages);
    let scan = t.elapsed();
    println!(
        "records={} packages={} vulnerabilities={} notices={} read={read:?} load={load:?} scan={scan:?}",
        db.records().len(),
        packages.len(),
        report.vulnerabilities().count(),
        report.notices().count(),
    );
    Ok(())
}

fn packages_from_locks(paths: &[PathBuf]) -> Result<Vec<Package>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    for path in paths {
        out.extend(webqx_vuln::lockfile::read_file(path)?);
    }
    Ok(out)
}

fn packages_from_stdin() -> Result<Vec<Package>, Box<dyn std::error::Error>> {
    let mut input = String::new();
    std::io::stdin()
        .take(64 * 1024 * 1024)
        .read_to_string(&mut input)?;
    Ok(input
        .lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let mut parts = line.split_whitespace();
            let ecosystem = Ecosystem::from_osv_name(parts.next()?)?;
            Some(Package {
                ecosystem,
                name: parts.next()?.to_owned(),
                version: parts.next()?.to_owned(),
                location: Location {
                    file: "stdin".into(),
                    line: u32::try_from(i + 1).unwrap_or(0),
                },
            })
        })
        .collect())
}
