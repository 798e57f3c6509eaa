//! CVSS base scores from vector strings, and the qualitative severity rating.
//!
//! - CVSS v3.0 and v3.1 (FIRST, "CVSS v3.1 Specification Document", §7): the base
//!   equations with the weights of §7.4; v3.1 rounds with the floating-point-safe
//!   `Roundup` of Appendix A, v3.0 with a plain ceiling to one decimal.
//! - CVSS v4.0 (FIRST, "CVSS v4.0 Specification Document", §8): the vector is mapped to
//!   its macro vector (six equivalence classes EQ1–EQ6), whose score comes from the
//!   lookup table FIRST publishes with the specification and its reference calculator;
//!   the score is then lowered by the mean proportional severity distance of the vector
//!   from the highest-severity vectors of its macro vector. Threat (`E`) and
//!   environmental metrics are honoured when present (`E:X` as `E:A`, `CR/IR/AR:X` as
//!   `H`, modified metrics override base ones); supplemental metrics are read and
//!   ignored.
//!
//! Severity ratings (both versions): None 0.0, Low 0.1–3.9, Medium 4.0–6.9,
//! High 7.0–8.9, Critical 9.0–10.0.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The qualitative severity rating of a score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rating {
    /// 0.0
    None,
    /// 0.1–3.9
    Low,
    /// 4.0–6.9
    Medium,
    /// 7.0–8.9
    High,
    /// 9.0–10.0
    Critical,
}

impl Rating {
    /// The rating of a score (0.0 to 10.0).
    pub fn of(score: f64) -> Rating {
        if score >= 9.0 {
            Rating::Critical
        } else if score >= 7.0 {
            Rating::High
        } else if score >= 4.0 {
            Rating::Medium
        } else if score > 0.0 {
            Rating::Low
        } else {
            Rating::None
        }
    }

    /// Reads `none`, `low`, `medium` (or `moderate`), `high`, `critical`, in any case.
    pub fn parse(s: &str) -> Option<Rating> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Some(Rating::None),
            "low" => Some(Rating::Low),
            "medium" | "moderate" => Some(Rating::Medium),
            "high" => Some(Rating::High),
            "critical" => Some(Rating::Critical),
            _ => None,
        }
    }

    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Rating::None => "none",
            Rating::Low => "low",
            Rating::Medium => "medium",
            Rating::High => "high",
            Rating::Critical => "critical",
        }
    }
}

impl fmt::Display for Rating {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A vector that could not be scored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CvssError {
    /// Not `CVSS:3.0/`, `CVSS:3.1/` or `CVSS:4.0/`, or longer than 512 bytes.
    Version,
    /// A metric that is unknown, repeated, has an invalid value, or a required metric
    /// that is missing (named).
    Metric(String),
}

impl fmt::Display for CvssError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CvssError::Version => f.write_str(
                "not a CVSS v3.0, v3.1 or v4.0 vector; it must start with CVSS:3.0/, \
                 CVSS:3.1/ or CVSS:4.0/",
            ),
            CvssError::Metric(m) => write!(
                f,
                "CVSS metric {m} is unknown, repeated, missing or has an invalid value; \
                 check the vector against the specification"
            ),
        }
    }
}

impl std::error::Error for CvssError {}

/// A scored vector.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// The base score, 0.0 to 10.0, one decimal.
    pub score: f64,
    /// Its rating.
    pub rating: Rating,
}

/// Scores a CVSS v3.0, v3.1 or v4.0 vector.
///
/// # Errors
/// [`CvssError`] when the vector is not one of those versions or is malformed.
pub fn score(vector: &str) -> Result<Score, CvssError> {
    let vector = vector.trim();
    if vector.len() > 512 {
        return Err(CvssError::Version);
    }
    let score = if let Some(rest) = vector.strip_prefix("CVSS:3.1/") {
        v3(rest, true)?
    } else if let Some(rest) = vector.strip_prefix("CVSS:3.0/") {
        v3(rest, false)?
    } else if let Some(rest) = vector.strip_prefix("CVSS:4.0/") {
        v4(rest)?
    } else {
        return Err(CvssError::Version);
    };
    Ok(Score {
        score,
        rating: Rating::of(score),
    })
}

/// Splits `AV:N/AC:L/…` into metric → value, checking names and values against
/// `allowed` and rejecting repeats.
fn metrics<'a>(
    rest: &'a str,
    allowed: &[(&str, &[&str])],
) -> Result<BTreeMap<&'a str, &'a str>, CvssError> {
    let mut out = BTreeMap::new();
    for part in rest.split('/') {
        let bad = || CvssError::Metric(part.chars().take(16).collect());
        let (name, value) = part.split_once(':').ok_or_else(bad)?;
        let (_, values) = allowed.iter().find(|(n, _)| *n == name).ok_or_else(bad)?;
        if !values.contains(&value) || out.insert(name, value).is_some() {
            return Err(bad());
        }
    }
    Ok(out)
}

fn required<'a>(m: &BTreeMap<&str, &'a str>, name: &str) -> Result<&'a str, CvssError> {
    m.get(name)
        .copied()
        .ok_or_else(|| CvssError::Metric(name.to_owned()))
}

// ---------------------------------------------------------------------------------
// CVSS v3

const V3_METRICS: &[(&str, &[&str])] = &[
    ("AV", &["N", "A", "L", "P"]),
    ("AC", &["L", "H"]),
    ("PR", &["N", "L", "H"]),
    ("UI", &["N", "R"]),
    ("S", &["U", "C"]),
    ("C", &["H", "L", "N"]),
    ("I", &["H", "L", "N"]),
    ("A", &["H", "L", "N"]),
    // Temporal and environmental metrics are accepted and do not change the base score.
    ("E", &["X", "U", "P", "F", "H"]),
    ("RL", &["X", "O", "T", "W", "U"]),
    ("RC", &["X", "U", "R", "C"]),
    ("CR", &["X", "L", "M", "H"]),
    ("IR", &["X", "L", "M", "H"]),
    ("AR", &["X", "L", "M", "H"]),
    ("MAV", &["X", "N", "A", "L", "P"]),
    ("MAC", &["X", "L", "H"]),
    ("MPR", &["X", "N", "L", "H"]),
    ("MUI", &["X", "N", "R"]),
    ("MS", &["X", "U", "C"]),
    ("MC", &["X", "N", "L", "H"]),
    ("MI", &["X", "N", "L", "H"]),
    ("MA", &["X", "N", "L", "H"]),
];

/// v3.1 Appendix A: round up to one decimal, working in integers to avoid
/// floating-point artefacts (`Roundup(4.000000001)` is 4.1, `Roundup(4.02)` is 4.1).
fn roundup_31(x: f64) -> f64 {
    let int_input = (x * 100_000.0).round() as i64;
    if int_input % 10_000 == 0 {
        int_input as f64 / 100_000.0
    } else {
        ((int_input / 10_000) + 1) as f64 / 10.0
    }
}

fn roundup_30(x: f64) -> f64 {
    (x * 10.0).ceil() / 10.0
}

fn v3(rest: &str, v31: bool) -> Result<f64, CvssError> {
    let m = metrics(rest, V3_METRICS)?;
    let changed = required(&m, "S")? == "C";
    let av = match required(&m, "AV")? {
        "N" => 0.85,
        "A" => 0.62,
        "L" => 0.55,
        _ => 0.2,
    };
    let ac = if required(&m, "AC")? == "L" {
        0.77
    } else {
        0.44
    };
    let pr = match (required(&m, "PR")?, changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        (_, false) => 0.27,
        (_, true) => 0.5,
    };
    let ui = if required(&m, "UI")? == "N" {
        0.85
    } else {
        0.62
    };
    let cia = |name| -> Result<f64, CvssError> {
        Ok(match required(&m, name)? {
            "H" => 0.56,
            "L" => 0.22,
            _ => 0.0,
        })
    };
    let iss = 1.0 - (1.0 - cia("C")?) * (1.0 - cia("I")?) * (1.0 - cia("A")?);
    let impact = if changed {
        7.52 * (iss - 0.029) - 3.25 * (iss - 0.02).powi(15)
    } else {
        6.42 * iss
    };
    let exploitability = 8.22 * av * ac * pr * ui;
    if impact <= 0.0 {
        return Ok(0.0);
    }
    let raw = if changed {
        (1.08 * (impact + exploitability)).min(10.0)
    } else {
        (impact + exploitability).min(10.0)
    };
    Ok(if v31 {
        roundup_31(raw)
    } else {
        roundup_30(raw)
    })
}

// ---------------------------------------------------------------------------------
// CVSS v4.0

const V4_METRICS: &[(&str, &[&str])] = &[
    ("AV", &["N", "A", "L", "P"]),
    ("AC", &["L", "H"]),
    ("AT", &["N", "P"]),
    ("PR", &["N", "L", "H"]),
    ("UI", &["N", "P", "A"]),
    ("VC", &["H", "L", "N"]),
    ("VI", &["H", "L", "N"]),
    ("VA", &["H", "L", "N"]),
    ("SC", &["H", "L", "N"]),
    ("SI", &["H", "L", "N"]),
    ("SA", &["H", "L", "N"]),
    ("E", &["X", "A", "P", "U"]),
    ("CR", &["X", "H", "M", "L"]),
    ("IR", &["X", "H", "M", "L"]),
    ("AR", &["X", "H", "M", "L"]),
    ("MAV", &["X", "N", "A", "L", "P"]),
    ("MAC", &["X", "L", "H"]),
    ("MAT", &["X", "N", "P"]),
    ("MPR", &["X", "N", "L", "H"]),
    ("MUI", &["X", "N", "P", "A"]),
    ("MVC", &["X", "H", "L", "N"]),
    ("MVI", &["X", "H", "L", "N"]),
    ("MVA", &["X", "H", "L", "N"]),
    ("MSC", &["X", "H", "L", "N"]),
    ("MSI", &["X", "S", "H", "L", "N"]),
    ("MSA", &["X", "S", "H", "L", "N"]),
    ("S", &["X", "N", "P"]),
    ("AU", &["X", "N", "Y"]),
    ("R", &["X", "A", "U", "I"]),
    ("V", &["X", "D", "C"]),
    ("RE", &["X", "L", "M", "H"]),
    ("U", &["X", "Clear", "Green", "Amber", "Red"]),
];

const V4_BASE: [&str; 11] = [
    "AV", "AC", "AT", "PR", "UI", "VC", "VI", "VA", "SC", "SI", "SA",
];

/// The effective value of a metric: the modified metric when set, the defaults of
/// the specification for unset threat and requirement metrics.
fn eff<'a>(m: &BTreeMap<&str, &'a str>, name: &str) -> &'a str {
    let modified = match name {
        "AV" => "MAV",
        "AC" => "MAC",
        "AT" => "MAT",
        "PR" => "MPR",
        "UI" => "MUI",
        "VC" => "MVC",
        "VI" => "MVI",
        "VA" => "MVA",
        "SC" => "MSC",
        "SI" => "MSI",
        "SA" => "MSA",
        _ => "",
    };
    if let Some(v) = m.get(modified).filter(|v| **v != "X") {
        return v;
    }
    match (name, m.get(name).copied().unwrap_or("X")) {
        ("E", "X") => "A",
        ("CR" | "IR" | "AR", "X") => "H",
        (_, v) => v,
    }
}

/// The macro vector: EQ1..EQ6 as digits.
fn macro_vector(m: &BTreeMap<&str, &str>) -> [u8; 6] {
    let e = |n| eff(m, n);
    let eq1 = if e("AV") == "N" && e("PR") == "N" && e("UI") == "N" {
        0
    } else if (e("AV") == "N" || e("PR") == "N" || e("UI") == "N") && e("AV") != "P" {
        1
    } else {
        2
    };
    let eq2 = if e("AC") == "L" && e("AT") == "N" {
        0
    } else {
        1
    };
    let eq3 = if e("VC") == "H" && e("VI") == "H" {
        0
    } else if e("VC") == "H" || e("VI") == "H" || e("VA") == "H" {
        1
    } else {
        2
    };
    let eq4 = if e("MSI") == "S" || e("MSA") == "S" {
        0
    } else if e("SC") == "H" || e("SI") == "H" || e("SA") == "H" {
        1
    } else {
        2
    };
    let eq5 = match e("E") {
        "A" => 0,
        "P" => 1,
        _ => 2,
    };
    let eq6 = if (e("CR") == "H" && e("VC") == "H")
        || (e("IR") == "H" && e("VI") == "H")
        || (e("AR") == "H" && e("VA") == "H")
    {
        0
    } else {
        1
    };
    [eq1, eq2, eq3, eq4, eq5, eq6]
}

fn lookup(mv: [u8; 6]) -> Option<f64> {
    let key: String = mv.iter().map(|d| char::from(b'0' + d)).collect();
    V4_LOOKUP.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// The "severity level" of a metric value used for distances (tenths, as FIRST's
/// reference calculator defines them).
fn level(name: &str, value: &str) -> f64 {
    match (name, value) {
        ("AV", "N") | ("PR", "N") | ("UI", "N") | ("AC", "L") | ("AT", "N") => 0.0,
        ("AV", "A") | ("PR", "L") | ("UI", "P") | ("AC", "H") | ("AT", "P") => 0.1,
        ("AV", "L") | ("PR", "H") | ("UI", "A") => 0.2,
        ("AV", "P") => 0.3,
        ("VC" | "VI" | "VA", "H") => 0.0,
        ("VC" | "VI" | "VA", "L") => 0.1,
        ("VC" | "VI" | "VA", "N") => 0.2,
        ("SC", "H") => 0.1,
        ("SC", "L") => 0.2,
        ("SC", "N") => 0.3,
        ("SI" | "SA", "S") => 0.0,
        ("SI" | "SA", "H") => 0.1,
        ("SI" | "SA", "L") => 0.2,
        ("SI" | "SA", "N") => 0.3,
        ("CR" | "IR" | "AR", "H") => 0.0,
        ("CR" | "IR" | "AR", "M") => 0.1,
        ("CR" | "IR" | "AR", "L") => 0.2,
        _ => 0.0,
    }
}

/// The highest-severity vectors of each EQ level (FIRST's reference calculator,
/// `max_composed`); EQ3 and EQ6 are joint.
fn max_vectors(mv: [u8; 6]) -> Vec<String> {
    let [eq1, eq2, eq3, eq4, eq5, eq6] = mv;
    let eq1s: &[&str] = match eq1 {
        0 => &["AV:N/PR:N/UI:N/"],
        1 => &["AV:A/PR:N/UI:N/", "AV:N/PR:L/UI:N/", "AV:N/PR:N/UI:P/"],
        _ => &["AV:P/PR:N/UI:N/", "AV:A/PR:L/UI:P/"],
    };
    let eq2s: &[&str] = match eq2 {
        0 => &["AC:L/AT:N/"],
        _ => &["AC:H/AT:N/", "AC:L/AT:P/"],
    };
    let eq36s: &[&str] = match (eq3, eq6) {
        (0, 0) => &["VC:H/VI:H/VA:H/CR:H/IR:H/AR:H/"],
        (0, _) => &[
            "VC:H/VI:H/VA:L/CR:M/IR:M/AR:H/",
            "VC:H/VI:H/VA:H/CR:M/IR:M/AR:M/",
        ],
        (1, 0) => &[
            "VC:L/VI:H/VA:H/CR:H/IR:H/AR:H/",
            "VC:H/VI:L/VA:H/CR:H/IR:H/AR:H/",
        ],
        (1, _) => &[
            "VC:L/VI:H/VA:L/CR:H/IR:M/AR:H/",
            "VC:L/VI:H/VA:H/CR:H/IR:M/AR:M/",
            "VC:H/VI:L/VA:H/CR:M/IR:H/AR:M/",
            "VC:H/VI:L/VA:L/CR:M/IR:H/AR:H/",
            "VC:L/VI:L/VA:H/CR:H/IR:H/AR:M/",
        ],
        _ => &["VC:L/VI:L/VA:L/CR:H/IR:H/AR:H/"],
    };
    let eq4s: &[&str] = match eq4 {
        0 => &["SC:H/SI:S/SA:S/"],
        1 => &["SC:H/SI:H/SA:H/"],
        _ => &["SC:L/SI:L/SA:L/"],
    };
    let eq5s: &[&str] = match eq5 {
        0 => &["E:A/"],
        1 => &["E:P/"],
        _ => &["E:U/"],
    };
    let mut out = Vec::new();
    for a in eq1s {
        for b in eq2s {
            for c in eq36s {
                for d in eq4s {
                    for e in eq5s {
                        out.push(format!("{a}{b}{c}{d}{e}"));
                    }
                }
            }
        }
    }
    out
}

/// The depth of each macro vector level, in steps of 0.1 (FIRST's `max_severity`).
fn max_severity(mv: [u8; 6]) -> [f64; 4] {
    let [eq1, eq2, eq3, eq4, _, eq6] = mv;
    let d1: f64 = match eq1 {
        0 => 1.0,
        1 => 4.0,
        _ => 5.0,
    };
    let d2: f64 = if eq2 == 0 { 1.0 } else { 2.0 };
    let d36: f64 = match (eq3, eq6) {
        (0, 0) => 7.0,
        (0, _) => 6.0,
        (1, _) => 8.0,
        _ => 10.0,
    };
    let d4: f64 = match eq4 {
        0 => 6.0,
        1 => 5.0,
        _ => 4.0,
    };
    [d1 * 0.1, d2 * 0.1, d36 * 0.1, d4 * 0.1]
}

const DISTANCE_METRICS: [&str; 14] = [
    "AV", "PR", "UI", "AC", "AT", "VC", "VI", "VA", "SC", "SI", "SA", "CR", "IR", "AR",
];

fn v4(rest: &str) -> Result<f64, CvssError> {
    let m = metrics(rest, V4_METRICS)?;
    for name in V4_BASE {
        required(&m, name)?;
    }
    if ["VC", "VI", "VA", "SC", "SI", "SA"]
        .iter()
        .all(|n| eff(&m, n) == "N")
    {
        return Ok(0.0);
    }
    let mv = macro_vector(&m);
    let value = lookup(mv).ok_or_else(|| CvssError::Metric("macro vector".into()))?;
    let [eq1, eq2, eq3, eq4, eq5, eq6] = mv;

    // 1a. The score of the next lower macro vector of each EQ, when there is one.
    let lower = |d: [u8; 6]| lookup(d);
    let l1 = lower([eq1 + 1, eq2, eq3, eq4, eq5, eq6]);
    let l2 = lower([eq1, eq2 + 1, eq3, eq4, eq5, eq6]);
    let l36 = match (eq3, eq6) {
        (1, 1) | (0, 1) => lower([eq1, eq2, eq3 + 1, eq4, eq5, eq6]),
        (1, 0) => lower([eq1, eq2, eq3, eq4, eq5, eq6 + 1]),
        (0, 0) => {
            let left = lower([eq1, eq2, eq3, eq4, eq5, eq6 + 1]);
            let right = lower([eq1, eq2, eq3 + 1, eq4, eq5, eq6]);
            match (left, right) {
                (Some(l), Some(r)) if l > r => Some(l),
                _ => right,
            }
        }
        _ => lower([eq1, eq2, eq3 + 1, eq4, eq5, eq6 + 1]),
    };
    let l4 = lower([eq1, eq2, eq3, eq4 + 1, eq5, eq6]);
    let l5 = lower([eq1, eq2, eq3, eq4, eq5 + 1, eq6]);

    // 1b. Severity distance from the first highest-severity vector that is not below
    // the scored vector in any metric (or from the last one, if none).
    let mut dist = [0.0f64; 14];
    for max in max_vectors(mv) {
        for (i, name) in DISTANCE_METRICS.iter().enumerate() {
            let max_value = max
                .split('/')
                .find_map(|p| p.strip_prefix(name).and_then(|v| v.strip_prefix(':')))
                .unwrap_or("");
            if let Some(slot) = dist.get_mut(i) {
                *slot = level(name, eff(&m, name)) - level(name, max_value);
            }
        }
        if dist.iter().all(|d| *d >= 0.0) {
            break;
        }
    }
    let [av, pr, ui, ac, at, vc, vi, va, sc, si, sa, cr, ir, ar] = dist;
    let current = [
        av + pr + ui,
        ac + at,
        vc + vi + va + cr + ir + ar,
        sc + si + sa,
    ];

    // 1c/1d. Proportion of each distance to the macro vector's depth, times the
    // score gap to the next lower macro vector; 2. their mean; 3. subtracted.
    let depth = max_severity(mv);
    let mut n = 0u32;
    let mut sum = 0.0;
    for (i, lower) in [l1, l2, l36, l4].into_iter().enumerate() {
        if let (Some(lower), Some(cur), Some(depth)) = (lower, current.get(i), depth.get(i)) {
            n += 1;
            sum += (value - lower) * (cur / depth);
        }
    }
    if l5.is_some() {
        // EQ5's proportion is always 0.
        n += 1;
    }
    let mean = if n == 0 { 0.0 } else { sum / f64::from(n) };
    let score = (value - mean).clamp(0.0, 10.0);
    // Round half up to one decimal, with the reference calculator's 1e-6 guard.
    Ok(((score + 1e-6) * 10.0).round() / 10.0)
}

/// Macro vector scores (EQ1..EQ6 → score): the lookup table published by FIRST with
/// the CVSS v4.0 specification (FIRST CVSS SIG, "CVSS v4.0 Specification Document",
/// §8.2, and its reference calculator `cvss_lookup.js`), transcribed as facts.
const V4_LOOKUP: [(&str, f64); 270] = [
    ("000000", 10.0),
    ("000001", 9.9),
    ("000010", 9.8),
    ("000011", 9.5),
    ("000020", 9.5),
    ("000021", 9.2),
    ("000100", 10.0),
    ("000101", 9.6),
    ("000110", 9.3),
    ("000111", 8.7),
    ("000120", 9.1),
    ("000121", 8.1),
    ("000200", 9.3),
    ("000201", 9.0),
    ("000210", 8.9),
    ("000211", 8.0),
    ("000220", 8.1),
    ("000221", 6.8),
    ("001000", 9.8),
    ("001001", 9.5),
    ("001010", 9.5),
    ("001011", 9.2),
    ("001020", 9.0),
    ("001021", 8.4),
    ("001100", 9.3),
    ("001101", 9.2),
    ("001110", 8.9),
    ("001111", 8.1),
    ("001120", 8.1),
    ("001121", 6.5),
    ("001200", 8.8),
    ("001201", 8.0),
    ("001210", 7.8),
    ("001211", 7.0),
    ("001220", 6.9),
    ("001221", 4.8),
    ("002001", 9.2),
    ("002011", 8.2),
    ("002021", 7.2),
    ("002101", 7.9),
    ("002111", 6.9),
    ("002121", 5.0),
    ("002201", 6.9),
    ("002211", 5.5),
    ("002221", 2.7),
    ("010000", 9.9),
    ("010001", 9.7),
    ("010010", 9.5),
    ("010011", 9.2),
    ("010020", 9.2),
    ("010021", 8.5),
    ("010100", 9.5),
    ("010101", 9.1),
    ("010110", 9.0),
    ("010111", 8.3),
    ("010120", 8.4),
    ("010121", 7.1),
    ("010200", 9.2),
    ("010201", 8.1),
    ("010210", 8.2),
    ("010211", 7.1),
    ("010220", 7.2),
    ("010221", 5.3),
    ("011000", 9.5),
    ("011001", 9.3),
    ("011010", 9.2),
    ("011011", 8.5),
    ("011020", 8.5),
    ("011021", 7.3),
    ("011100", 9.2),
    ("011101", 8.2),
    ("011110", 8.0),
    ("011111", 7.2),
    ("011120", 7.0),
    ("011121", 5.9),
    ("011200", 8.4),
    ("011201", 7.0),
    ("011210", 7.1),
    ("011211", 5.2),
    ("011220", 5.0),
    ("011221", 3.0),
    ("012001", 8.6),
    ("012011", 7.5),
    ("012021", 5.2),
    ("012101", 7.1),
    ("012111", 5.2),
    ("012121", 2.9),
    ("012201", 6.3),
    ("012211", 2.9),
    ("012221", 1.7),
    ("100000", 9.8),
    ("100001", 9.5),
    ("100010", 9.4),
    ("100011", 8.7),
    ("100020", 9.1),
    ("100021", 8.1),
    ("100100", 9.4),
    ("100101", 8.9),
    ("100110", 8.6),
    ("100111", 7.4),
    ("100120", 7.7),
    ("100121", 6.4),
    ("100200", 8.7),
    ("100201", 7.5),
    ("100210", 7.4),
    ("100211", 6.3),
    ("100220", 6.3),
    ("100221", 4.9),
    ("101000", 9.4),
    ("101001", 8.9),
    ("101010", 8.8),
    ("101011", 7.7),
    ("101020", 7.6),
    ("101021", 6.7),
    ("101100", 8.6),
    ("101101", 7.6),
    ("101110", 7.4),
    ("101111", 5.8),
    ("101120", 5.9),
    ("101121", 5.0),
    ("101200", 7.2),
    ("101201", 5.7),
    ("101210", 5.7),
    ("101211", 5.2),
    ("101220", 5.2),
    ("101221", 2.5),
    ("102001", 8.3),
    ("102011", 7.0),
    ("102021", 5.4),
    ("102101", 6.5),
    ("102111", 5.8),
    ("102121", 2.6),
    ("102201", 5.3),
    ("102211", 2.1),
    ("102221", 1.3),
    ("110000", 9.5),
    ("110001", 9.0),
    ("110010", 8.8),
    ("110011", 7.6),
    ("110020", 7.6),
    ("110021", 7.0),
    ("110100", 9.0),
    ("110101", 7.7),
    ("110110", 7.5),
    ("110111", 6.2),
    ("110120", 6.1),
    ("110121", 5.3),
    ("110200", 7.7),
    ("110201", 6.6),
    ("110210", 6.8),
    ("110211", 5.9),
    ("110220", 5.2),
    ("110221", 3.0),
    ("111000", 8.9),
    ("111001", 7.8),
    ("111010", 7.6),
    ("111011", 6.7),
    ("111020", 6.2),
    ("111021", 5.8),
    ("111100", 7.4),
    ("111101", 5.9),
    ("111110", 5.7),
    ("111111", 5.7),
    ("111120", 4.7),
    ("111121", 2.3),
    ("111200", 6.1),
    ("111201", 5.2),
    ("111210", 5.7),
    ("111211", 2.9),
    ("111220", 2.4),
    ("111221", 1.6),
    ("112001", 7.1),
    ("112011", 5.9),
    ("112021", 3.0),
    ("112101", 5.8),
    ("112111", 2.6),
    ("112121", 1.5),
    ("112201", 2.3),
    ("112211", 1.3),
    ("112221", 0.6),
    ("200000", 9.3),
    ("200001", 8.7),
    ("200010", 8.6),
    ("200011", 7.2),
    ("200020", 7.5),
    ("200021", 5.8),
    ("200100", 8.6),
    ("200101", 7.4),
    ("200110", 7.4),
    ("200111", 6.1),
    ("200120", 5.6),
    ("200121", 3.4),
    ("200200", 7.0),
    ("200201", 5.4),
    ("200210", 5.2),
    ("200211", 4.0),
    ("200220", 4.0),
    ("200221", 2.2),
    ("201000", 8.5),
    ("201001", 7.5),
    ("201010", 7.4),
    ("201011", 5.5),
    ("201020", 6.2),
    ("201021", 5.1),
    ("201100", 7.2),
    ("201101", 5.7),
    ("201110", 5.5),
    ("201111", 4.1),
    ("201120", 4.6),
    ("201121", 1.9),
    ("201200", 5.3),
    ("201201", 3.6),
    ("201210", 3.4),
    ("201211", 1.9),
    ("201220", 1.9),
    ("201221", 0.8),
    ("202001", 6.4),
    ("202011", 5.1),
    ("202021", 2.0),
    ("202101", 4.7),
    ("202111", 2.1),
    ("202121", 1.1),
    ("202201", 2.4),
    ("202211", 0.9),
    ("202221", 0.4),
    ("210000", 8.8),
    ("210001", 7.5),
    ("210010", 7.3),
    ("210011", 5.3),
    ("210020", 6.0),
    ("210021", 5.0),
    ("210100", 7.3),
    ("210101", 5.5),
    ("210110", 5.9),
    ("210111", 4.0),
    ("210120", 4.1),
    ("210121", 2.0),
    ("210200", 5.4),
    ("210201", 4.3),
    ("210210", 4.5),
    ("210211", 2.2),
    ("210220", 2.0),
    ("210221", 1.1),
    ("211000", 7.5),
    ("211001", 5.5),
    ("211010", 5.8),
    ("211011", 4.5),
    ("211020", 4.0),
    ("211021", 2.1),
    ("211100", 6.1),
    ("211101", 5.1),
    ("211110", 4.8),
    ("211111", 1.8),
    ("211120", 2.0),
    ("211121", 0.9),
    ("211200", 4.6),
    ("211201", 1.8),
    ("211210", 1.7),
    ("211211", 0.7),
    ("211220", 0.8),
    ("211221", 0.2),
    ("212001", 5.3),
    ("212011", 2.4),
    ("212021", 1.4),
    ("212101", 2.4),
    ("212111", 1.2),
    ("212121", 0.5),
    ("212201", 1.0),
    ("212211", 0.3),
    ("212221", 0.1),
];

#[cfg(test)]
mod tests;
