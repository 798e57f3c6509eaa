//! `webqx-sec scan tls`: scan a TLS endpoint locally (no server needed).
//!
//! Exit codes: 0 the verdict passed, 1 it failed (a finding of medium severity or worse),
//! 2 usage, 3 the target could not be reached, 6 a local problem (trust bundle).

use crate::exit::{Exit, Failure};
use crate::output::print_json;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;
use webqx_pki::scan::{self, Guidelines, ScanError, ScanOptions, ScanReport};

/// Scanners.
#[derive(Subcommand, Debug)]
pub enum ScanCommand {
    /// Scan a TLS endpoint: protocols, cipher suites, groups, certificate chain, OCSP
    /// stapling, HSTS, and a verdict against a Mozilla server-side TLS profile. Exit 0
    /// when the verdict passes, 1 when it fails.
    Tls(TlsArgs),
}

/// Mozilla guidelines edition.
#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum GuidelinesArg {
    /// Version 5.8 (modern, intermediate, old).
    #[value(name = "5.8")]
    V5_8,
    /// Version 6.0 (modern, intermediate).
    #[value(name = "6.0")]
    V6_0,
}

/// `scan tls` arguments.
#[derive(Args, Debug)]
pub struct TlsArgs {
    /// Target, HOST:PORT.
    pub target: String,
    /// Profile: modern, intermediate or old.
    #[arg(long, default_value = "intermediate")]
    pub profile: String,
    /// Mozilla guidelines edition.
    #[arg(long, value_enum, default_value = "5.8")]
    pub guidelines: GuidelinesArg,
    /// Name for SNI and the hostname check (default: the target's host).
    #[arg(long)]
    pub sni: Option<String>,
    /// Trust bundle, PEM (default: /etc/ssl/certs/ca-certificates.crt).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// SARIF 2.1.0 output (one result per finding); wins over --json.
    #[arg(long)]
    pub sarif: bool,
    /// Timeout of each connection: seconds (`2.5`) or a duration (`5s`, `1500ms`, `1m`).
    #[arg(long, default_value = "5s", value_name = "DURATION")]
    pub timeout: String,
    /// Most connections in flight at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Do not send an HTTP request for HSTS (for non-HTTP services).
    #[arg(long)]
    pub no_http: bool,
}

/// Run a scan command; the exit code follows the verdict.
pub async fn run(json_out: bool, cmd: ScanCommand) -> Result<i32, Failure> {
    let ScanCommand::Tls(args) = cmd;
    let timeout = match args.timeout.trim().parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 && secs <= 600.0 => {
            Duration::from_secs_f64(secs)
        }
        Ok(_) => Duration::ZERO,
        Err(_) => webqx_store::time::parse_duration(&args.timeout)
            .map_err(|e| Failure::usage(format!("--timeout: {e}")))?,
    };
    if timeout.is_zero() || timeout > Duration::from_secs(600) {
        return Err(Failure::usage(
            "--timeout must be more than 0 and at most 600 seconds (10m)",
        ));
    }
    if !(1..=1024).contains(&args.concurrency) {
        return Err(Failure::usage("--concurrency must be between 1 and 1024"));
    }
    let options = ScanOptions {
        sni: args.sni.clone(),
        ca_file: args.ca_file.clone(),
        profile: args.profile.clone(),
        guidelines: match args.guidelines {
            GuidelinesArg::V5_8 => Guidelines::V5_8,
            GuidelinesArg::V6_0 => Guidelines::V6_0,
        },
        timeout,
        concurrency: args.concurrency,
        http: !args.no_http,
    };
    let report = scan::scan_tls(&args.target, &options)
        .await
        .map_err(failure)?;
    if args.sarif {
        print_json(&sarif(&report));
    } else if json_out {
        print_json(&serde_json::to_value(&report).unwrap_or(Value::Null));
    } else {
        print_table(&report);
    }
    Ok(if report.passed() {
        0
    } else {
        Exit::CheckFailed as i32
    })
}

fn failure(e: ScanError) -> Failure {
    let exit = match &e {
        ScanError::Target(_) | ScanError::Profile(_) => Exit::Usage,
        ScanError::Connect(..) | ScanError::Protocol(_) | ScanError::NotTls(..) => Exit::Connect,
        _ => Exit::Local,
    };
    Failure::new(exit, e.to_string())
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn print_table(r: &ScanReport) {
    println!(
        "target       {} ({}), name {}",
        r.target, r.address, r.server_name
    );
    for p in &r.protocols {
        println!(
            "{:<12} {}",
            p.version.name(),
            if p.offered { "offered" } else { "-" }
        );
        for s in &p.cipher_suites {
            println!("             {s}");
        }
    }
    println!("groups       {}", r.groups.join(", "));
    if let Some(c) = &r.certificate {
        for (i, cert) in c.chain.iter().enumerate() {
            println!(
                "cert {i}       {} | issuer {} | {} {} bits | {} | until {} ({} days)",
                cert.subject,
                cert.issuer,
                cert.key_curve.as_deref().unwrap_or(&cert.key_type),
                cert.key_bits,
                cert.signature_algorithm,
                cert.not_after,
                cert.expires_in_days
            );
        }
        println!("hostname     {}", yes(c.hostname_match));
        let why = c
            .trust_error
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        println!(
            "trusted      {}{why} against {}",
            yes(c.trusted),
            c.trust_store
        );
        println!(
            "chain order  {}",
            if c.chain_in_order { "ok" } else { "wrong" }
        );
    }
    if let Some(e) = &r.handshake_error {
        println!("handshake    {e}");
    }
    println!("ocsp staple  {}", r.ocsp_stapling.map_or("-", yes));
    let hsts = r.hsts.as_ref().map_or("- (not HTTP)".to_string(), |h| {
        h.header.clone().unwrap_or_else(|| "none".into())
    });
    println!("hsts         {hsts}");
    println!();
    println!("{:<9} {:<30} MESSAGE", "SEVERITY", "RULE");
    for f in &r.findings {
        println!("{:<9} {:<30} {}", f.severity.as_str(), f.rule, f.message);
    }
    let g = serde_json::to_value(r.guidelines).unwrap_or(Value::Null);
    println!(
        "\nverdict: {} (Mozilla {} {}; {} ms)",
        r.verdict.to_uppercase(),
        g.as_str().unwrap_or(""),
        r.profile,
        r.duration_ms
    );
}

/// SARIF 2.1.0: one result per finding, one rule per rule id.
pub fn sarif(r: &ScanReport) -> Value {
    let mut rules: Vec<&str> = r.findings.iter().map(|f| f.rule.as_str()).collect();
    rules.sort_unstable();
    rules.dedup();
    let level = |s: scan::Severity| match s {
        scan::Severity::Info | scan::Severity::Low => "note",
        scan::Severity::Medium => "warning",
        _ => "error",
    };
    let results: Vec<Value> = r
        .findings
        .iter()
        .map(|f| {
            json!({
                "ruleId": f.rule,
                "level": level(f.severity),
                "message": {"text": f.message},
                "properties": {"severity": f.severity.as_str(), "profile": r.profile},
                "locations": [{"physicalLocation": {"artifactLocation": {
                    "uri": format!("tls://{}", r.target)}}}],
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "webqx-sec scan tls",
                "informationUri": "https://github.com/webqx/webqx-security",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules.iter().map(|id| json!({"id": id})).collect::<Vec<_>>(),
            }},
            "results": results,
            "properties": {"verdict": r.verdict, "target": r.target},
        }],
    })
}
