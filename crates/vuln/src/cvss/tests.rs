//! Published example vectors, and a cross-check against an independent implementation.

use super::*;

fn s(v: &str) -> f64 {
    score(v).unwrap_or_else(|e| panic!("{v}: {e}")).score
}

/// FIRST, "CVSS v3.1 Examples" and NVD: CVE-2014-0160 (Heartbleed) 7.5, CVE-2014-6271
/// (Shellshock) 9.8, CVE-2013-1937 (phpMyAdmin reflected XSS) 6.1, the OSV schema's
/// GHSA-r9p9-mrjm-926w example (elliptic, CVE-2020-28498) 6.8.
#[test]
fn v3_published_examples() {
    assert_eq!(s("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"), 7.5);
    assert_eq!(s("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"), 9.8);
    assert_eq!(s("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"), 6.1);
    assert_eq!(s("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C/C:H/I:N/A:N"), 6.8);
    assert_eq!(s("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"), 10.0);
    assert_eq!(s("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"), 7.8);
    assert_eq!(s("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N"), 0.0);
}

/// CVSS v3.1 Appendix A: Roundup avoids floating-point artefacts.
#[test]
fn v31_roundup() {
    assert_eq!(roundup_31(4.000_000_000_1), 4.0);
    assert_eq!(roundup_31(4.02), 4.1);
    assert_eq!(roundup_31(4.0), 4.0);
    assert_eq!(roundup_30(4.02), 4.1);
}

/// FIRST CVSS v4.0 specification and NVD: the all-high vector is 10.0, the common
/// network RCE vector 9.3, and the OSV schema's own example.
#[test]
fn v4_published_examples() {
    assert_eq!(
        s("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H"),
        10.0
    );
    assert_eq!(
        s("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"),
        9.3
    );
    assert_eq!(
        s("CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"),
        8.5
    );
    assert_eq!(
        s("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:N/SI:N/SA:N"),
        6.9
    );
    assert_eq!(
        s("CVSS:4.0/AV:N/AC:L/AT:N/PR:H/UI:N/VC:L/VI:L/VA:N/SC:N/SI:N/SA:N"),
        5.1
    );
    assert_eq!(
        s("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N"),
        0.0
    );
}

/// 700 random vectors scored by Red Hat's `cvss` Python library 3.6 (file header says
/// how they were made): every score must agree.
#[test]
fn agrees_with_an_independent_implementation() {
    let text = include_str!("../../tests/data/cvss_oracle.txt");
    let mut n = 0;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (vector, expected) = line.rsplit_once(' ').unwrap();
        let expected: f64 = expected.parse().unwrap();
        assert_eq!(s(vector), expected, "{vector}");
        n += 1;
    }
    assert_eq!(n, 700);
}

#[test]
fn ratings() {
    assert_eq!(Rating::of(0.0), Rating::None);
    assert_eq!(Rating::of(0.1), Rating::Low);
    assert_eq!(Rating::of(3.9), Rating::Low);
    assert_eq!(Rating::of(4.0), Rating::Medium);
    assert_eq!(Rating::of(6.9), Rating::Medium);
    assert_eq!(Rating::of(7.0), Rating::High);
    assert_eq!(Rating::of(8.9), Rating::High);
    assert_eq!(Rating::of(9.0), Rating::Critical);
    assert_eq!(Rating::parse("Moderate"), Some(Rating::Medium));
}

#[test]
fn malformed_vectors_are_errors() {
    for v in [
        "",
        "CVSS:2.0/AV:N",
        "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",
        "CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:3.1/AV:Q/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H",
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/XX:1",
    ] {
        assert!(score(v).is_err(), "{v}");
    }
}
