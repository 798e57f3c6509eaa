//! Renderings of a scan [`Report`]: a table for people, JSON, SARIF 2.1.0 (code
//! scanning: one rule per advisory, one result per finding with the lockfile and line)
//! and CycloneDX 1.5 VEX JSON (the affected components and their vulnerabilities).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::package::{Ecosystem, Package};
use crate::scan::{Finding, Report};

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// Aligned text.
    Table,
    /// The report as JSON.
    Json,
    /// SARIF 2.1.0.
    Sarif,
    /// CycloneDX 1.5 VEX.
    CycloneDxVex,
}

impl Format {
    /// Reads `table`, `json`, `sarif`, `cyclonedx` (or `vex`).
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "table" => Some(Format::Table),
            "json" => Some(Format::Json),
            "sarif" => Some(Format::Sarif),
            "cyclonedx" | "vex" | "cyclonedx-vex" => Some(Format::CycloneDxVex),
            _ => None,
        }
    }
}

/// Renders a report. `tool_version` names the scanner's version in SARIF and
/// CycloneDX; `timestamp` (RFC 3339) dates the CycloneDX document.
pub fn render(report: &Report, format: Format, tool_version: &str, timestamp: &str) -> String {
    match format {
        Format::Table => table(report),
        Format::Json => serde_json::to_string_pretty(report).unwrap_or_default(),
        Format::Sarif => {
            serde_json::to_string_pretty(&sarif(report, tool_version)).unwrap_or_default()
        }
        Format::CycloneDxVex => {
            serde_json::to_string_pretty(&cyclonedx(report, tool_version, timestamp))
                .unwrap_or_default()
        }
    }
}

/// `text` for a terminal: control characters (escape sequences, newlines, NUL) and
/// the invisible characters that reorder or hide text (Unicode bidirectional controls,
/// as in "Trojan Source", zero-width marks, line separators) shown as escapes such as
/// `\u{1b}` and `\u{202e}`. Advisory text, package names and lockfile paths are
/// written by others: they must not drive the terminal nor make one line read as
/// another.
pub fn escape_text(text: &str) -> String {
    if !text.chars().any(needs_escape) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| {
            if needs_escape(c) {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

fn clean(s: &str) -> String {
    escape_text(s)
}

/// `raw` as a URI a report may link to: only `http` and `https` with a plain host
/// (letters, digits, `.`, `-`, a port, an IPv6 literal; no user name, which can make
/// `https://trusted@evil` read as trusted), with spaces, non-ASCII and other characters
/// a URI may not hold percent-encoded. `None` for anything else (`javascript:`,
/// `data:`, `file:`, relative references): advisory references are untrusted text.
pub fn web_uri(raw: &str) -> Option<String> {
    let (scheme, rest) = raw.trim().split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(host_end);
    let plain_host = !authority.is_empty()
        && authority
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !plain_host {
        return None;
    }
    Some(format!(
        "{scheme}://{authority}{}",
        percent_encode(tail, URI_CHARS, true)
    ))
}

/// Characters kept as they are in a URI's path, query and fragment (RFC 3986
/// unreserved, reserved, and `%` of an existing escape).
const URI_CHARS: &str = "-._~:/?#[]@!$&'()*+,;=";

/// Characters kept as they are in a file path made a URI reference.
const PATH_CHARS: &str = "-._~/";

/// `text` with every byte outside ASCII letters, digits and `keep` written `%XX`; with
/// `keep_escapes`, a `%` already followed by two hex digits is kept.
fn percent_encode(text: &str, keep: &str, keep_escapes: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    for (i, &b) in bytes.iter().enumerate() {
        let escape_kept = keep_escapes
            && b == b'%'
            && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
        if b.is_ascii_alphanumeric() || keep.as_bytes().contains(&b) || escape_kept {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A lockfile path as a SARIF `artifactLocation.uri`: a URI reference, percent-encoded.
fn path_uri(path: &std::path::Path) -> String {
    percent_encode(&path.to_string_lossy(), PATH_CHARS, false)
}

fn severity_text(f: &Finding) -> String {
    match (&f.informational, &f.severity) {
        (Some(kind), _) => kind.clone(),
        (None, Some(s)) => format!("{} {:.1}", s.score.rating, s.score.score),
        (None, None) => "unknown".into(),
    }
}

fn table(report: &Report) -> String {
    let header = [
        "PACKAGE", "VERSION", "ID", "SEVERITY", "FIXED IN", "WHERE", "SUMMARY",
    ];
    let row = |f: &Finding| -> [String; 7] {
        [
            clean(&f.package.name),
            clean(&f.package.version),
            clean(&f.id),
            severity_text(f),
            clean(f.fixed.as_deref().unwrap_or("-")),
            clean(&f.package.location.to_string()),
            clean(&f.summary.chars().take(72).collect::<String>()),
        ]
    };
    let mut out = String::new();
    for (title, list) in [
        (
            "Vulnerabilities",
            report.vulnerabilities().collect::<Vec<_>>(),
        ),
        ("Warnings (informational)", report.notices().collect()),
    ] {
        let _ = writeln!(out, "{title}: {}", list.len());
        if list.is_empty() {
            continue;
        }
        let rows: Vec<[String; 7]> = list.iter().map(|f| row(f)).collect();
        let mut widths = header.map(str::len);
        for r in &rows {
            for (w, cell) in widths.iter_mut().zip(r) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                if i + 1 == cells.len() {
                    s.push_str(cell);
                } else {
                    let _ = write!(s, "{cell:<w$}  ");
                }
            }
            s.trim_end().to_owned()
        };
        let _ = writeln!(out, "{}", line(&header.map(String::from)));
        for r in &rows {
            let _ = writeln!(out, "{}", line(r));
        }
    }
    for i in &report.ignored {
        let _ = writeln!(
            out,
            "ignored: {} in {} ({})",
            clean(&i.finding.id),
            clean(&i.finding.package.name),
            clean(&i.reason)
        );
    }
    for e in &report.expired_ignores {
        let _ = writeln!(out, "expired ignore (not honoured): {}", clean(&e.id));
    }
    for e in &report.unused_ignores {
        let _ = writeln!(out, "unused ignore: {}", clean(&e.id));
    }
    notes(&mut out, report);
    for r in report
        .remedies
        .iter()
        .filter(|r| r.remedy.version.is_some())
    {
        let _ = writeln!(
            out,
            "upgrade {} {} -> {}{}",
            clean(&r.package.name),
            clean(&r.package.version),
            clean(r.remedy.version.as_deref().unwrap_or("")),
            if r.remedy.major { " (major)" } else { "" }
        );
    }
    let _ = writeln!(out, "{} packages scanned", report.packages_scanned);
    out
}

/// Most notes the table lists; JSON lists them all.
const TABLE_NOTES: usize = 50;

/// The readers' notes: what was seen but not checked.
fn notes(out: &mut String, report: &Report) {
    if report.notes.is_empty() {
        return;
    }
    let _ = writeln!(out, "Not checked (notes): {}", report.notes.len());
    for n in report.notes.iter().take(TABLE_NOTES) {
        let _ = writeln!(
            out,
            "  {}: {}",
            clean(&n.location.to_string()),
            clean(&n.message)
        );
    }
    if report.notes.len() > TABLE_NOTES {
        let more = report.notes.len() - TABLE_NOTES;
        let _ = writeln!(
            out,
            "  ... and {more} more (--format json lists every note)"
        );
    }
}

/// The package URL (purl) of a package.
pub fn purl(p: &Package) -> String {
    let enc = |s: &str| -> String {
        s.chars()
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' | '_' | '~' | '/' => c.to_string(),
                c => {
                    let mut b = [0u8; 4];
                    c.encode_utf8(&mut b)
                        .bytes()
                        .map(|x| format!("%{x:02X}"))
                        .collect()
                }
            })
            .collect()
    };
    let (kind, name) = match p.ecosystem {
        Ecosystem::CratesIo => ("cargo", enc(&p.name)),
        Ecosystem::Npm => ("npm", enc(&p.name).replacen('@', "%40", 1)),
        Ecosystem::PyPI => ("pypi", enc(&p.name)),
        Ecosystem::Go => ("golang", enc(&p.name)),
        Ecosystem::Maven => ("maven", enc(&p.name.replacen(':', "/", 1))),
        Ecosystem::Packagist => ("composer", enc(&p.name)),
        Ecosystem::RubyGems => ("gem", enc(&p.name)),
    };
    format!("pkg:{kind}/{name}@{}", enc(&p.version).replace('/', "%2F"))
}

fn sarif_level(f: &Finding) -> &'static str {
    use crate::cvss::Rating;
    if f.informational.is_some() {
        return "note";
    }
    match f.rating() {
        Some(Rating::Critical | Rating::High) | None => "error",
        Some(Rating::Medium) => "warning",
        Some(_) => "note",
    }
}

fn sarif(report: &Report, tool_version: &str) -> Value {
    let mut rules: BTreeMap<&str, Value> = BTreeMap::new();
    for f in &report.findings {
        rules.entry(&f.id).or_insert_with(|| {
            let mut props = json!({ "tags": ["security", "vulnerability"] });
            if let Some(s) = &f.severity {
                props["security-severity"] = json!(format!("{:.1}", s.score.score));
            }
            if let Some(kind) = &f.informational {
                props["tags"] = json!(["security", kind]);
            }
            let mut rule = json!({
                "id": f.id,
                "name": f.id,
                "shortDescription": { "text": if f.summary.is_empty() { &f.id } else { &f.summary } },
                "fullDescription": { "text": format!("{} (also known as {})", f.summary, f.ids.iter().chain(&f.aliases).cloned().collect::<Vec<_>>().join(", ")) },
                "properties": props,
            });
            if let Some(url) = f.url.as_deref().and_then(web_uri) {
                rule["helpUri"] = json!(url);
            }
            rule
        });
    }
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let mut location = json!({ "artifactLocation": { "uri": path_uri(&f.package.location.file) } });
            if f.package.location.line > 0 {
                location["region"] = json!({ "startLine": f.package.location.line });
            }
            let fix = f.fixed.as_deref().map_or(String::from("no fixed version known"), |v| format!("fixed in {v}"));
            json!({
                "ruleId": f.id,
                "level": sarif_level(f),
                "message": { "text": format!("{} {} is affected by {}: {} ({fix})", f.package.name, f.package.version, f.id, f.summary) },
                "locations": [{ "physicalLocation": location }],
                "partialFingerprints": { "package/id": format!("{}/{}/{}", f.package.ecosystem, f.package.name, f.id) },
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "webqx-sec",
                "version": tool_version,
                "informationUri": "https://github.com/webqx/webqx-security",
                "rules": rules.into_values().collect::<Vec<_>>(),
            }},
            "results": results,
        }],
    })
}

fn cyclonedx(report: &Report, tool_version: &str, timestamp: &str) -> Value {
    let mut components: BTreeMap<String, Value> = BTreeMap::new();
    let mut vulns = Vec::new();
    let all = report.findings.iter().map(|f| (f, None)).chain(
        report
            .ignored
            .iter()
            .map(|i| (&i.finding, Some(i.reason.as_str()))),
    );
    for (f, ignored) in all {
        let bom_ref = purl(&f.package);
        components.entry(bom_ref.clone()).or_insert_with(|| {
            json!({
                "type": "library",
                "bom-ref": bom_ref,
                "name": f.package.name,
                "version": f.package.version,
                "purl": bom_ref,
            })
        });
        let mut v = json!({
            "id": f.id,
            "source": { "name": source_name(&f.id) },
            "description": f.summary,
            "affects": [{ "ref": bom_ref }],
            "analysis": match ignored {
                None => json!({ "state": "in_triage" }),
                Some(reason) => json!({ "state": "in_triage", "response": ["will_not_fix"], "detail": reason }),
            },
        });
        let refs: Vec<Value> = f
            .ids
            .iter()
            .chain(&f.aliases)
            .filter(|i| **i != f.id)
            .map(|i| json!({ "id": i, "source": { "name": source_name(i) } }))
            .collect();
        if !refs.is_empty() {
            v["references"] = json!(refs);
        }
        if let Some(s) = &f.severity {
            let method = if s.vector.starts_with("CVSS:4") {
                "CVSSv4"
            } else if s.vector.starts_with("CVSS:3.1") {
                "CVSSv31"
            } else {
                "CVSSv3"
            };
            v["ratings"] = json!([{ "score": s.score.score, "severity": s.score.rating.as_str(), "method": method, "vector": s.vector }]);
        }
        if let Some(fixed) = &f.fixed {
            v["recommendation"] = json!(format!("Upgrade {} to {fixed} or later", f.package.name));
        }
        if let Some(url) = f.url.as_deref().and_then(web_uri) {
            v["advisories"] = json!([{ "url": url }]);
        }
        if let Some(kind) = &f.informational {
            v["properties"] = json!([{ "name": "webqx:informational", "value": kind }]);
        }
        vulns.push(v);
    }
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {
            "timestamp": timestamp,
            "tools": { "components": [{ "type": "application", "name": "webqx-sec", "version": tool_version }] },
        },
        "components": components.into_values().collect::<Vec<_>>(),
        "vulnerabilities": vulns,
    })
}

fn source_name(id: &str) -> &'static str {
    match id.split('-').next().unwrap_or("") {
        "RUSTSEC" => "RustSec",
        "GHSA" => "GitHub",
        "GO" => "Go",
        "PYSEC" => "PyPA",
        "CVE" => "NVD",
        _ => "OSV",
    }
}
