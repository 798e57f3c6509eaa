//! Regressions between two scans of the same target: what a scheduled scan alerts on.

use super::ScanReport;
use super::verdict::{Finding, Severity};
use serde::Serialize;

/// Days before expiry from which a certificate counts as expiring.
pub const EXPIRY_ALERT_DAYS: i64 = 30;

/// What got worse since the previous scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Regression {
    /// The verdict went from pass to fail.
    pub verdict_failed: bool,
    /// Findings absent from the previous scan.
    pub new_findings: Vec<Finding>,
    /// The leaf certificate entered the expiry window (or expired) since the previous scan.
    pub certificate_expiring: bool,
    /// Worst severity among the above.
    pub severity: Severity,
}

/// A finding's identity across scans: its rule and message, except for the expiry
/// rules, whose message counts days down and so changes every day.
fn key(f: &Finding) -> (&str, &str) {
    match f.rule.as_str() {
        "certificate-expiring" | "certificate-expired" => (f.rule.as_str(), ""),
        _ => (f.rule.as_str(), f.message.as_str()),
    }
}

fn leaf_days(r: &ScanReport) -> Option<i64> {
    r.certificate
        .as_ref()?
        .chain
        .first()
        .map(|c| c.expires_in_days)
}

/// Compare `next` with `previous`; `None` when nothing got worse.
pub fn regression(previous: &ScanReport, next: &ScanReport) -> Option<Regression> {
    let before: Vec<_> = previous.findings.iter().map(key).collect();
    let new_findings: Vec<Finding> = next
        .findings
        .iter()
        .filter(|f| !before.contains(&key(f)))
        .cloned()
        .collect();
    let verdict_failed = previous.passed() && !next.passed();
    let was = leaf_days(previous).unwrap_or(i64::MAX);
    let now = leaf_days(next).unwrap_or(i64::MAX);
    let certificate_expiring = now < EXPIRY_ALERT_DAYS && was >= EXPIRY_ALERT_DAYS;
    if !verdict_failed && new_findings.is_empty() && !certificate_expiring {
        return None;
    }
    let mut severity = new_findings
        .iter()
        .map(|f| f.severity)
        .max()
        .unwrap_or(Severity::Medium);
    if verdict_failed || certificate_expiring {
        severity = severity.max(Severity::High);
    }
    Some(Regression {
        verdict_failed,
        new_findings,
        certificate_expiring,
        severity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::{CertificateInfo, ChainReport, Guidelines};

    fn report(verdict: &str, findings: &[(&str, Severity, &str)], days: i64) -> ScanReport {
        let leaf = CertificateInfo {
            subject: "CN=ehr.test".into(),
            issuer: "CN=ca".into(),
            not_before: String::new(),
            not_after: String::new(),
            expires_in_days: days,
            lifespan_days: 90,
            key_type: "ecdsa".into(),
            key_bits: 256,
            key_curve: None,
            signature_algorithm: "ecdsa-with-SHA256".into(),
            sha256: String::new(),
        };
        ScanReport {
            target: "ehr.test:443".into(),
            address: "127.0.0.1:443".into(),
            server_name: "ehr.test".into(),
            started: String::new(),
            duration_ms: 1,
            protocols: Vec::new(),
            groups: Vec::new(),
            dh_param_bits: None,
            certificate: Some(ChainReport {
                chain: vec![leaf],
                chain_in_order: true,
                hostname_match: true,
                trusted: true,
                trust_error: None,
                trust_store: String::new(),
            }),
            handshake_error: None,
            ocsp_stapling: Some(true),
            hsts: None,
            guidelines: Guidelines::V5_8,
            profile: "intermediate".into(),
            verdict: verdict.into(),
            findings: findings
                .iter()
                .map(|(r, s, m)| Finding {
                    rule: (*r).into(),
                    severity: *s,
                    message: (*m).into(),
                })
                .collect(),
        }
    }

    #[test]
    fn same_scan_is_no_regression() {
        let a = report("pass", &[("ocsp-stapling-missing", Severity::Low, "x")], 80);
        assert_eq!(regression(&a, &a.clone()), None);
    }

    #[test]
    fn new_protocol_fails_the_verdict() {
        let a = report("pass", &[], 80);
        let b = report(
            "fail",
            &[("protocol-not-in-profile", Severity::High, "TLSv1")],
            80,
        );
        let r = regression(&a, &b).unwrap();
        assert!(r.verdict_failed && !r.certificate_expiring);
        assert_eq!(r.new_findings.len(), 1);
        assert_eq!(r.severity, Severity::High);
    }

    #[test]
    fn expiry_alerts_once_when_entering_the_window() {
        let a = report("pass", &[], 31);
        let b = report(
            "fail",
            &[("certificate-expiring", Severity::Medium, "29 days")],
            29,
        );
        assert!(regression(&a, &b).unwrap().certificate_expiring);
        let c = report(
            "fail",
            &[("certificate-expiring", Severity::Medium, "28 days")],
            28,
        );
        assert_eq!(
            regression(&b, &c),
            None,
            "counting down is not a new finding"
        );
    }
}
