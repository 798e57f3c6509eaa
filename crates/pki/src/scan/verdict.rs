//! Findings: each point where the server departs from the profile, with a severity.
//!
//! The verdict fails when any finding is `medium` or worse; `low` and `info` findings
//! (a missing OCSP staple, a long-lived certificate, an extra group) are reported but
//! do not fail it.

use super::profile::{Profile, mozilla_curve};
use super::{ScanReport, Version};
use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Departs from the profile without weakening security much.
    Low,
    /// Weakens security or compatibility; fails the verdict.
    Medium,
    /// Broken or seriously weak.
    High,
    /// Exploitable or certainly broken (expired, NULL/export/anonymous suites).
    Critical,
}

impl Severity {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// One failed point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Finding {
    /// Stable rule id (`protocol-not-in-profile`, `certificate-expired`...).
    pub rule: String,
    /// Severity.
    pub severity: Severity,
    /// What was found and what to do.
    pub message: String,
}

fn finding(rule: &str, severity: Severity, message: String) -> Finding {
    Finding {
        rule: rule.into(),
        severity,
        message,
    }
}

/// Does this set of findings fail the verdict.
pub(crate) fn fails(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.severity >= Severity::Medium)
}

/// Every finding of `report` against `profile`.
pub(crate) fn findings(report: &ScanReport, profile: &Profile) -> Vec<Finding> {
    let mut out = Vec::new();
    protocols(report, profile, &mut out);
    cipher_suites(report, profile, &mut out);
    groups(report, profile, &mut out);
    dh_size(report, profile, &mut out);
    certificate(report, profile, &mut out);
    ocsp_and_hsts(report, profile, &mut out);
    out
}

fn protocols(report: &ScanReport, profile: &Profile, out: &mut Vec<Finding>) {
    for p in report.protocols.iter().filter(|p| p.offered) {
        if profile.tls_versions.contains(&p.version) {
            continue;
        }
        let severity = match p.version {
            Version::Ssl3 => Severity::Critical,
            Version::Tls10 | Version::Tls11 => Severity::High,
            _ => Severity::Medium,
        };
        let msg = format!(
            "{} is offered; the {} profile allows {}: disable it",
            p.version.name(),
            profile.name,
            names(profile.tls_versions)
        );
        out.push(finding("protocol-not-in-profile", severity, msg));
    }
    if !profile.tls_versions.iter().any(|v| report.offers(*v)) {
        let msg = format!(
            "none of {} is offered: enable the profile's protocol versions",
            names(profile.tls_versions)
        );
        out.push(finding("protocol-missing", Severity::High, msg));
    } else if profile.tls_versions.contains(&Version::Tls13) && !report.offers(Version::Tls13) {
        let msg = "TLSv1.3 is not offered: enable it".to_string();
        out.push(finding("protocol-missing", Severity::Medium, msg));
    }
}

fn names(versions: &[Version]) -> String {
    versions
        .iter()
        .map(|v| v.name())
        .collect::<Vec<_>>()
        .join(", ")
}

fn suite_severity(name: &str) -> Severity {
    let weak = ["NULL", "anon", "EXPORT", "RC4", "_DES_", "DES40", "MD5"];
    if weak.iter().any(|w| name.contains(w)) {
        Severity::Critical
    } else if name.contains("3DES") || name.starts_with("TLS_RSA_") {
        Severity::High
    } else {
        Severity::Medium
    }
}

fn cipher_suites(report: &ScanReport, profile: &Profile, out: &mut Vec<Finding>) {
    for p in report.protocols.iter().filter(|p| p.offered) {
        let allowed = if p.version == Version::Tls13 {
            profile.ciphersuites
        } else {
            profile.ciphers
        };
        for suite in &p.cipher_suites {
            if allowed.contains(&suite.as_str()) {
                continue;
            }
            let msg = format!(
                "{suite} is accepted in {}; the {} profile does not list it: remove it",
                p.version.name(),
                profile.name
            );
            out.push(finding("cipher-not-in-profile", suite_severity(suite), msg));
        }
    }
}

fn groups(report: &ScanReport, profile: &Profile, out: &mut Vec<Finding>) {
    for g in &report.groups {
        let curve = mozilla_curve(g);
        let ffdhe_ok = g
            .strip_prefix("ffdhe")
            .and_then(|b| b.parse::<usize>().ok())
            .is_some_and(|bits| profile.dh_param_size.is_some_and(|min| bits >= min));
        if profile.tls_curves.contains(&curve) || ffdhe_ok {
            continue;
        }
        let msg = format!(
            "group {g} is accepted; the {} profile lists {}",
            profile.name,
            profile.tls_curves.join(", ")
        );
        out.push(finding("group-not-in-profile", Severity::Low, msg));
    }
}

fn dh_size(report: &ScanReport, profile: &Profile, out: &mut Vec<Finding>) {
    let (Some(bits), Some(min)) = (report.dh_param_bits, profile.dh_param_size) else {
        return;
    };
    if bits < min {
        let msg = format!(
            "a DHE suite uses a {bits}-bit DH group; the {} profile wants at least {min}: use \
             ffdhe2048 or larger, or drop DHE",
            profile.name
        );
        out.push(finding("dh-param-size", Severity::High, msg));
    }
}

fn certificate(report: &ScanReport, profile: &Profile, out: &mut Vec<Finding>) {
    let Some(chain) = &report.certificate else {
        let msg = "no certificate could be obtained from the server".to_string();
        out.push(finding("certificate-missing", Severity::High, msg));
        return;
    };
    if !chain.trusted {
        let why = chain.trust_error.as_deref().unwrap_or("unknown");
        let msg = format!(
            "the chain does not validate against {} ({why}): send the intermediates, \
             use a certificate from a trusted CA",
            chain.trust_store
        );
        out.push(finding("certificate-untrusted", Severity::High, msg));
    }
    if !chain.hostname_match {
        let msg = format!("the certificate is not valid for {}", report.server_name);
        out.push(finding(
            "certificate-hostname-mismatch",
            Severity::High,
            msg,
        ));
    }
    if !chain.chain_in_order {
        let msg = "the chain is not in order (each certificate should be issued by the next)";
        out.push(finding(
            "certificate-chain-order",
            Severity::Low,
            msg.into(),
        ));
    }
    let Some(leaf) = chain.chain.first() else {
        return;
    };
    leaf_expiry(leaf, out);
    leaf_key(leaf, profile, out);
}

fn leaf_expiry(leaf: &super::CertificateInfo, out: &mut Vec<Finding>) {
    if leaf.expires_in_days < 0 {
        let msg = format!("the certificate expired on {}: renew it", leaf.not_after);
        out.push(finding("certificate-expired", Severity::Critical, msg));
    } else if leaf.expires_in_days < 30 {
        let msg = format!(
            "the certificate expires in {} days ({}): renew it",
            leaf.expires_in_days, leaf.not_after
        );
        out.push(finding("certificate-expiring", Severity::Medium, msg));
    }
}

fn leaf_key(leaf: &super::CertificateInfo, profile: &Profile, out: &mut Vec<Finding>) {
    let name = profile.name;
    if !profile.certificate_types.contains(&leaf.key_type.as_str()) {
        let msg = format!(
            "{} certificate key; the {name} profile wants {}",
            leaf.key_type,
            profile.certificate_types.join(" or ")
        );
        out.push(finding("certificate-key-type", Severity::Medium, msg));
    }
    if let Some(curve) = &leaf.key_curve
        && !profile.certificate_curves.contains(&curve.as_str())
    {
        let msg = format!("certificate curve {curve} is not in the {name} profile");
        out.push(finding("certificate-curve", Severity::Low, msg));
    }
    if leaf.key_type == "rsa" && leaf.key_bits < profile.rsa_key_size.unwrap_or(2048) {
        let msg = format!("RSA key of {} bits: use at least 2048", leaf.key_bits);
        out.push(finding("certificate-key-size", Severity::High, msg));
    }
    if !profile
        .certificate_signatures
        .contains(&leaf.signature_algorithm.as_str())
    {
        let weak = leaf.signature_algorithm.contains("SHA1")
            || leaf.signature_algorithm.starts_with("sha1")
            || leaf.signature_algorithm.starts_with("md5");
        let severity = if weak { Severity::High } else { Severity::Low };
        let msg = format!(
            "certificate signed with {}; the {name} profile lists {}",
            leaf.signature_algorithm,
            profile.certificate_signatures.join(", ")
        );
        out.push(finding("certificate-signature", severity, msg));
    }
    if leaf.lifespan_days > profile.maximum_certificate_lifespan {
        let msg = format!(
            "certificate lifespan {} days; the {name} profile allows {}",
            leaf.lifespan_days, profile.maximum_certificate_lifespan
        );
        out.push(finding("certificate-lifespan", Severity::Low, msg));
    }
}

fn ocsp_and_hsts(report: &ScanReport, profile: &Profile, out: &mut Vec<Finding>) {
    if profile.ocsp_staple && report.ocsp_stapling == Some(false) {
        let msg = "no OCSP response is stapled: enable OCSP stapling".to_string();
        out.push(finding("ocsp-stapling-missing", Severity::Low, msg));
    }
    let Some(hsts) = &report.hsts else {
        return;
    };
    match hsts.max_age {
        None => {
            let msg = "HTTPS answers without Strict-Transport-Security: add the header";
            out.push(finding("hsts-missing", Severity::Medium, msg.into()));
        }
        Some(age) if age < profile.hsts_min_age => {
            let msg = format!(
                "HSTS max-age {age} is below {}: raise it",
                profile.hsts_min_age
            );
            out.push(finding("hsts-short", Severity::Low, msg));
        }
        Some(_) => {}
    }
}
