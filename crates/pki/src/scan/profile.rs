//! Mozilla server-side TLS profiles, transcribed.
//!
//! Why a transcription and not the JSON file: the scanner must give a verdict offline
//! with nothing beside the binary, so the facts it judges by live in the code. They are
//! our own transcription of Mozilla's guidelines (facts, not their file):
//! - 5.8: <https://ssl-config.mozilla.org/guidelines/5.8.json>; a unit test compares this
//!   transcription with `../shared/data/x509/mozilla_server_side_tls_guidelines_5.8.json`.
//! - 6.0: <https://ssl-config.mozilla.org/guidelines/6.0.json> (mozilla/ssl-config-generator,
//!   `src/static/guidelines/6.0.json`). Differences from 5.8: there is no `old` profile;
//!   `intermediate` drops the three `TLS_DHE_RSA_*` suites; `modern` and `intermediate`
//!   list `X25519MLKEM768` first among `tls_curves`; the oldest clients of `intermediate`
//!   changed (not a scanned point).

use super::hello::Version;

/// Which edition of Mozilla's guidelines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum Guidelines {
    /// Version 5.8 (modern, intermediate, old).
    #[serde(rename = "5.8")]
    V5_8,
    /// Version 6.0 (modern, intermediate).
    #[serde(rename = "6.0")]
    V6_0,
}

/// One profile's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// `modern`, `intermediate` or `old`.
    pub name: &'static str,
    /// Protocol versions.
    pub tls_versions: &'static [Version],
    /// TLS 1.3 suites (IANA names).
    pub ciphersuites: &'static [&'static str],
    /// TLS 1.2-and-older suites (IANA names).
    pub ciphers: &'static [&'static str],
    /// Key exchange groups (Mozilla's names).
    pub tls_curves: &'static [&'static str],
    /// Certificate key types.
    pub certificate_types: &'static [&'static str],
    /// Certificate curves.
    pub certificate_curves: &'static [&'static str],
    /// Certificate signature algorithms.
    pub certificate_signatures: &'static [&'static str],
    /// Least RSA modulus, bits.
    pub rsa_key_size: Option<usize>,
    /// Least DH group size, bits.
    pub dh_param_size: Option<usize>,
    /// Least HSTS max-age, seconds.
    pub hsts_min_age: u64,
    /// Longest certificate lifespan, days.
    pub maximum_certificate_lifespan: i64,
    /// OCSP stapling expected.
    pub ocsp_staple: bool,
}

const TLS13_SUITES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];
const ECDSA_SIGS: &[&str] = &[
    "ecdsa-with-SHA256",
    "ecdsa-with-SHA384",
    "ecdsa-with-SHA512",
];
const INTERMEDIATE_SIGS: &[&str] = &[
    "sha256WithRSAEncryption",
    "ecdsa-with-SHA256",
    "ecdsa-with-SHA384",
    "ecdsa-with-SHA512",
];
const CERT_CURVES: &[&str] = &["prime256v1", "secp384r1"];
const CURVES_5: &[&str] = &["X25519", "prime256v1", "secp384r1"];
const CURVES_6: &[&str] = &["X25519MLKEM768", "X25519", "prime256v1", "secp384r1"];
const ECDHE_AEAD: [&str; 6] = [
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
];
const INTERMEDIATE_5_CIPHERS: &[&str] = &[
    ECDHE_AEAD[0],
    ECDHE_AEAD[1],
    ECDHE_AEAD[2],
    ECDHE_AEAD[3],
    ECDHE_AEAD[4],
    ECDHE_AEAD[5],
    "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
];
const OLD_CIPHERS: &[&str] = &[
    ECDHE_AEAD[0],
    ECDHE_AEAD[1],
    ECDHE_AEAD[2],
    ECDHE_AEAD[3],
    ECDHE_AEAD[4],
    ECDHE_AEAD[5],
    "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_256_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
];
const TWO_YEARS: u64 = 63_072_000;

const fn modern(curves: &'static [&'static str]) -> Profile {
    Profile {
        name: "modern",
        tls_versions: &[Version::Tls13],
        ciphersuites: TLS13_SUITES,
        ciphers: &[],
        tls_curves: curves,
        certificate_types: &["ecdsa"],
        certificate_curves: CERT_CURVES,
        certificate_signatures: ECDSA_SIGS,
        rsa_key_size: None,
        dh_param_size: None,
        hsts_min_age: TWO_YEARS,
        maximum_certificate_lifespan: 90,
        ocsp_staple: true,
    }
}

const fn intermediate(
    ciphers: &'static [&'static str],
    curves: &'static [&'static str],
) -> Profile {
    Profile {
        name: "intermediate",
        tls_versions: &[Version::Tls12, Version::Tls13],
        ciphersuites: TLS13_SUITES,
        ciphers,
        tls_curves: curves,
        certificate_types: &["ecdsa", "rsa"],
        certificate_curves: CERT_CURVES,
        certificate_signatures: INTERMEDIATE_SIGS,
        rsa_key_size: Some(2048),
        dh_param_size: Some(2048),
        hsts_min_age: TWO_YEARS,
        maximum_certificate_lifespan: 366,
        ocsp_staple: true,
    }
}

const OLD: Profile = Profile {
    name: "old",
    tls_versions: &[
        Version::Tls10,
        Version::Tls11,
        Version::Tls12,
        Version::Tls13,
    ],
    ciphersuites: TLS13_SUITES,
    ciphers: OLD_CIPHERS,
    tls_curves: CURVES_5,
    certificate_types: &["rsa"],
    certificate_curves: CERT_CURVES,
    certificate_signatures: &["sha256WithRSAEncryption"],
    rsa_key_size: Some(2048),
    dh_param_size: Some(1024),
    hsts_min_age: TWO_YEARS,
    maximum_certificate_lifespan: 366,
    ocsp_staple: true,
};

/// The profile `name` of `guidelines`; `None` when that edition has no such profile.
pub fn profile(guidelines: Guidelines, name: &str) -> Option<Profile> {
    match (guidelines, name) {
        (Guidelines::V5_8, "modern") => Some(modern(CURVES_5)),
        (Guidelines::V5_8, "intermediate") => Some(intermediate(INTERMEDIATE_5_CIPHERS, CURVES_5)),
        (Guidelines::V5_8, "old") => Some(OLD),
        (Guidelines::V6_0, "modern") => Some(modern(CURVES_6)),
        (Guidelines::V6_0, "intermediate") => Some(intermediate(&ECDHE_AEAD, CURVES_6)),
        _ => None,
    }
}

/// Mozilla's curve name for a group name of the scanner.
pub(crate) fn mozilla_curve(group: &str) -> &str {
    match group {
        "x25519" => "X25519",
        "secp256r1" => "prime256v1",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn strings(v: &Value) -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    }

    fn sorted(v: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    }

    /// The transcription says what Mozilla's 5.8 file says, point by point.
    #[test]
    fn transcription_agrees_with_mozilla_5_8() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/x509/mozilla_server_side_tls_guidelines_5.8.json"
        );
        let Ok(text) = std::fs::read_to_string(path) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI=1 but {path} is missing"
            );
            eprintln!("skipped: {path} is missing");
            return;
        };
        let doc: Value = serde_json::from_str(&text).unwrap();
        for name in ["modern", "intermediate", "old"] {
            let c = &doc["configurations"][name];
            let p = profile(Guidelines::V5_8, name).unwrap();
            let versions: Vec<&str> = p.tls_versions.iter().map(|v| v.name()).collect();
            assert_eq!(strings(&c["tls_versions"]), versions, "{name} tls_versions");
            let mut iana = strings(&c["ciphers"]["iana"]);
            iana.sort();
            assert_eq!(iana, sorted(p.ciphers), "{name} ciphers");
            assert_eq!(
                strings(&c["ciphersuites"]),
                p.ciphersuites,
                "{name} ciphersuites"
            );
            assert_eq!(strings(&c["tls_curves"]), p.tls_curves, "{name} tls_curves");
            assert_eq!(strings(&c["certificate_types"]), p.certificate_types);
            assert_eq!(strings(&c["certificate_curves"]), p.certificate_curves);
            assert_eq!(
                strings(&c["certificate_signatures"]),
                p.certificate_signatures
            );
            assert_eq!(
                c["rsa_key_size"].as_u64().map(|v| v as usize),
                p.rsa_key_size
            );
            assert_eq!(
                c["dh_param_size"].as_u64().map(|v| v as usize),
                p.dh_param_size
            );
            assert_eq!(c["hsts_min_age"].as_u64(), Some(p.hsts_min_age));
            let life = c["maximum_certificate_lifespan"].as_i64();
            assert_eq!(life, Some(p.maximum_certificate_lifespan));
            assert_eq!(c["ocsp_staple"].as_bool(), Some(p.ocsp_staple));
        }
    }

    #[test]
    fn six_has_no_old_and_no_dhe() {
        assert!(profile(Guidelines::V6_0, "old").is_none());
        let p = profile(Guidelines::V6_0, "intermediate").unwrap();
        assert!(p.ciphers.iter().all(|c| !c.starts_with("TLS_DHE_")));
        assert_eq!(p.tls_curves[0], "X25519MLKEM768");
    }
}
