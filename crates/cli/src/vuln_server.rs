//! `webqx-sec vuln target …` and `vuln results`: the server's scheduled vulnerability
//! scans, through its API (`vuln-read` to list, `vuln-write` to change and run).
//!
//! Exit codes are the API client's: 0 done, and the server's refusal otherwise (see
//! `webqx-sec --help`).

use crate::Global;
use crate::commands::{connect, path_segment};
use crate::exit::Failure;
use crate::output::{print_json, visible};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

/// `webqx-sec vuln target …`.
#[derive(Subcommand, Debug)]
pub enum TargetCommand {
    /// Add lockfiles or folders (on the server, under its `[vuln] allowed_roots`) to scan
    /// on a schedule.
    Add(AddArgs),
    /// List the targets.
    List,
    /// Remove a target (by id or name) and its results.
    Remove {
        /// Id or name.
        target: String,
    },
    /// Scan a target now (by id or name); the result is stored and compared like a
    /// scheduled one.
    Run {
        /// Id or name.
        target: String,
    },
}

/// `vuln target add`.
#[derive(Args, Debug)]
pub struct AddArgs {
    /// A unique name.
    #[arg(long)]
    pub name: String,
    /// Absolute path on the server (repeat).
    #[arg(long = "path", required = true)]
    pub paths: Vec<String>,
    /// Cron expression, UTC: `0 3 * * *` (5 fields) or with seconds first (6-7).
    #[arg(long, conflicts_with = "every", required_unless_present = "every")]
    pub schedule: Option<String>,
    /// Or a period: `24h`, `30m` (at least `10s`).
    #[arg(long)]
    pub every: Option<String>,
}

/// `vuln results` arguments.
#[derive(Args, Debug)]
pub struct ResultsArgs {
    /// Target id or name.
    pub target: String,
    /// Results older than this cursor (the `next_cursor` of the page before).
    #[arg(long)]
    pub cursor: Option<String>,
    /// Page size, 1-1000.
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
}

/// Runs `vuln target …`.
///
/// # Errors
/// The server's refusal, or no server.
pub async fn target(g: &Global, cmd: TargetCommand) -> Result<i32, Failure> {
    let client = connect(g)?;
    let (method, path, body) = match &cmd {
        TargetCommand::Add(a) => {
            let mut body = json!({"name": a.name, "paths": a.paths});
            if let Value::Object(m) = &mut body {
                if let Some(s) = &a.schedule {
                    m.insert("schedule".into(), json!(s));
                }
                if let Some(e) = &a.every {
                    m.insert("every".into(), json!(e));
                }
            }
            (Method::POST, "/v1/vuln/targets".to_string(), Some(body))
        }
        TargetCommand::List => (Method::GET, "/v1/vuln/targets".to_string(), None),
        TargetCommand::Remove { target } => (
            Method::DELETE,
            format!("/v1/vuln/targets/{}", path_segment(target)),
            None,
        ),
        TargetCommand::Run { target } => (
            Method::POST,
            format!("/v1/vuln/targets/{}/run", path_segment(target)),
            None,
        ),
    };
    let answer = client.call(method, &path, body.as_ref()).await?;
    if g.json {
        print_json(&answer);
        return Ok(0);
    }
    match cmd {
        TargetCommand::Add(_) => print_targets(&[answer]),
        TargetCommand::List => {
            print_targets(answer["targets"].as_array().map_or(&[], Vec::as_slice))
        }
        TargetCommand::Remove { target } => println!("Removed {}.", visible(&target)),
        TargetCommand::Run { .. } => print_result(&answer),
    }
    Ok(0)
}

/// Runs `vuln results`.
///
/// # Errors
/// The server's refusal, or no server.
pub async fn results(g: &Global, a: ResultsArgs) -> Result<i32, Failure> {
    let client = connect(g)?;
    let mut path = format!(
        "/v1/vuln/targets/{}/results?limit={}",
        path_segment(&a.target),
        a.limit
    );
    if let Some(c) = &a.cursor {
        path.push_str(&format!("&cursor={}", path_segment(c)));
    }
    let answer = client.call(Method::GET, &path, None).await?;
    if g.json {
        print_json(&answer);
        return Ok(0);
    }
    println!(
        "{:<38} {:<20} {:>8} {:>8} {:>5} {:>5}  ERROR",
        "RESULT", "FINISHED", "PACKAGES", "FINDINGS", "NEW", "FIXED"
    );
    for r in answer["results"].as_array().map_or(&[][..], Vec::as_slice) {
        println!(
            "{:<38} {:<20} {:>8} {:>8} {:>5} {:>5}  {}",
            text(&r["id"]),
            text(&r["finished"]),
            r["packages"],
            r["total"],
            r["new"],
            r["fixed"],
            visible(r["error"].as_str().unwrap_or(""))
        );
    }
    if let Some(c) = answer["next_cursor"].as_str() {
        println!("More: --cursor {}", visible(c));
    }
    Ok(0)
}

fn text(v: &Value) -> String {
    visible(v.as_str().unwrap_or("-"))
}

fn print_targets(list: &[Value]) {
    println!(
        "{:<38} {:<20} {:<16} {:<20} PATHS",
        "ID", "NAME", "SCHEDULE", "NEXT RUN"
    );
    for t in list {
        let schedule = t["schedule"]
            .as_str()
            .map(str::to_string)
            .or_else(|| t["every"].as_str().map(|e| format!("every {e}")))
            .unwrap_or_default();
        let paths: Vec<String> = t["paths"]
            .as_array()
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .map(text)
            .collect();
        println!(
            "{:<38} {:<20} {:<16} {:<20} {}",
            text(&t["id"]),
            text(&t["name"]),
            visible(&schedule),
            text(&t["next_run"]),
            paths.join(", ")
        );
    }
}

fn print_result(r: &Value) {
    if let Some(e) = r["error"].as_str() {
        println!("Scan failed: {}", visible(e));
        return;
    }
    println!(
        "{} packages, {} findings ({} new, {} fixed since the previous result).",
        r["packages"], r["total"], r["new"], r["fixed"]
    );
    for f in r["findings"].as_array().map_or(&[][..], Vec::as_slice) {
        println!(
            "  {:<20} {:<24} {:<12} {:<9} fixed in {}",
            text(&f["id"]),
            text(&f["package"]),
            text(&f["version"]),
            f["severity"].as_str().unwrap_or("-"),
            f["fixed"].as_str().map_or("-".to_string(), visible)
        );
    }
}
