//! Version ordering per ecosystem.
//!
//! Each ecosystem orders its versions by its own rules, and OSV `ECOSYSTEM` ranges are
//! to be read with those rules:
//!
//! - crates.io, npm and Go: Semantic Versioning 2.0.0 (semver.org §11). Go versions
//!   carry a `v` prefix; pseudo-versions (`v0.0.0-20191109021931-daa7c04131f5`) are
//!   prereleases and order by their timestamp; `+incompatible` is build metadata and
//!   does not take part in the order.
//! - PyPI: PEP 440 (epochs, pre/post/dev releases, local versions, the normalization
//!   of spellings such as `1.0-RC1` or `1.0.post`).
//! - Maven: the POM reference's "Version Order Specification" (the rules Maven's
//!   `ComparableVersion` implements, as osv.dev evaluates Maven ranges): tokens split at
//!   `.`, `-` and digit/letter switches, null tokens trimmed at the end and before each
//!   hyphen, `alpha` < `beta` < `milestone` < `rc` = `cr` < `snapshot` < release <
//!   `sp` < other qualifiers < numbers (see `maven_key` for how the order is kept
//!   total where Maven's is not).
//! - RubyGems: `Gem::Version` (numeric and letter segments, a letter makes a
//!   prerelease, `-` means `.pre.`).
//! - Packagist: Composer's normalization (`v` prefix, up to four numbers, stability
//!   suffixes `dev` < `alpha` < `beta` < `RC` < stable < `patch`).
//!
//! [`parse`] gives a [`Version`] whose `Ord` is total: versions of one ecosystem are
//! compared by that ecosystem's rules. A string an ecosystem cannot read is a
//! [`VersionError`]; callers decide what that means (matching treats such a package
//! version as unknown rather than guessing).

use std::cmp::Ordering;
use std::fmt;

use crate::package::Ecosystem;

/// Longest version string accepted, in bytes. Real versions are far shorter.
pub const MAX_VERSION_LEN: usize = 256;

/// Most segments (numbers or words) a version may have.
const MAX_SEGMENTS: usize = 64;

/// A version that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VersionError {
    /// Empty, or longer than [`MAX_VERSION_LEN`], or with too many segments.
    Size,
    /// Not a version in the ecosystem's syntax.
    Syntax {
        /// The ecosystem whose rules were applied.
        ecosystem: Ecosystem,
    },
}

impl fmt::Display for VersionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionError::Size => write!(
                f,
                "version is empty, longer than {MAX_VERSION_LEN} bytes or has more than \
                 {MAX_SEGMENTS} segments; give the exact version from the lockfile"
            ),
            VersionError::Syntax { ecosystem } => write!(
                f,
                "not a {ecosystem} version; check the version string against the \
                 ecosystem's version syntax"
            ),
        }
    }
}

impl std::error::Error for VersionError {}

/// A parsed version of some ecosystem. Compare versions of the same ecosystem only;
/// versions of different ecosystems order by ecosystem (to keep the order total).
#[derive(Debug, Clone)]
pub struct Version {
    inner: Inner,
}

#[derive(Debug, Clone)]
enum Inner {
    Semver(Semver),
    Pep440(Pep440),
    Maven(MavenList),
    Ruby(Vec<RubySeg>),
    Composer(Composer),
}

impl Inner {
    fn rank(&self) -> u8 {
        match self {
            Inner::Semver(_) => 0,
            Inner::Pep440(_) => 1,
            Inner::Maven(_) => 2,
            Inner::Ruby(_) => 3,
            Inner::Composer(_) => 4,
        }
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        match (&self.inner, &other.inner) {
            (Inner::Semver(a), Inner::Semver(b)) => a.cmp_semver(b),
            (Inner::Pep440(a), Inner::Pep440(b)) => a.cmp_pep440(b),
            (Inner::Maven(a), Inner::Maven(b)) => maven_cmp_lists(a, b),
            (Inner::Ruby(a), Inner::Ruby(b)) => ruby_cmp(a, b),
            (Inner::Composer(a), Inner::Composer(b)) => a.cmp_composer(b),
            (a, b) => a.rank().cmp(&b.rank()),
        }
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

/// Parses `s` by the rules of `ecosystem`.
///
/// # Errors
/// [`VersionError`] when `s` is empty, too long, or not a version of that ecosystem.
pub fn parse(ecosystem: Ecosystem, s: &str) -> Result<Version, VersionError> {
    let s = s.trim();
    if s.is_empty() || s.len() > MAX_VERSION_LEN {
        return Err(VersionError::Size);
    }
    let syntax = VersionError::Syntax { ecosystem };
    let inner = match ecosystem {
        Ecosystem::CratesIo | Ecosystem::Npm | Ecosystem::Go => {
            Inner::Semver(Semver::parse(s).ok_or(syntax)?)
        }
        Ecosystem::PyPI => Inner::Pep440(Pep440::parse(s).ok_or(syntax)?),
        Ecosystem::Maven => Inner::Maven(maven_parse(s)?),
        Ecosystem::RubyGems => Inner::Ruby(ruby_parse(s).ok_or(syntax)?),
        Ecosystem::Packagist => Inner::Composer(Composer::parse(s).ok_or(syntax)?),
    };
    Ok(Version { inner })
}

/// Parses `s` as Semantic Versioning 2.0.0 (with an optional `v`), whatever the
/// ecosystem: OSV `SEMVER` ranges are read this way.
///
/// # Errors
/// [`VersionError`] when `s` is not a semantic version.
pub fn parse_semver(s: &str) -> Result<Version, VersionError> {
    let s = s.trim();
    if s.is_empty() || s.len() > MAX_VERSION_LEN {
        return Err(VersionError::Size);
    }
    let semver = Semver::parse(s).ok_or(VersionError::Syntax {
        ecosystem: Ecosystem::CratesIo,
    })?;
    Ok(Version {
        inner: Inner::Semver(semver),
    })
}

/// Compares two version strings of one ecosystem.
///
/// # Errors
/// [`VersionError`] when either does not parse.
pub fn compare(ecosystem: Ecosystem, a: &str, b: &str) -> Result<Ordering, VersionError> {
    Ok(parse(ecosystem, a)?.cmp(&parse(ecosystem, b)?))
}

/// Whether going from `from` to `to` is a major upgrade: the first non-zero component
/// of a semver version changes (semver major; for crates.io and npm a `0.x` minor or a
/// `0.0.x` patch counts as major, as Cargo's and npm's caret requirements treat them).
/// For other ecosystems, the first number changes.
pub fn is_major_upgrade(ecosystem: Ecosystem, from: &str, to: &str) -> bool {
    let (Ok(a), Ok(b)) = (parse(ecosystem, from), parse(ecosystem, to)) else {
        return true;
    };
    match (&a.inner, &b.inner) {
        (Inner::Semver(a), Inner::Semver(b)) => {
            let caret = matches!(ecosystem, Ecosystem::CratesIo | Ecosystem::Npm);
            if a.major != b.major {
                true
            } else if caret && a.major == 0 {
                a.minor != b.minor || (a.minor == 0 && a.patch != b.patch)
            } else {
                false
            }
        }
        (Inner::Pep440(a), Inner::Pep440(b)) => {
            a.epoch != b.epoch || a.release.first() != b.release.first()
        }
        (Inner::Composer(a), Inner::Composer(b)) => a.nums.first() != b.nums.first(),
        (Inner::Ruby(a), Inner::Ruby(b)) => a.first() != b.first(),
        (Inner::Maven(a), Inner::Maven(b)) => match (a.first(), b.first()) {
            (Some(x), Some(y)) => maven_cmp_token(x, y) != Ordering::Equal,
            _ => true,
        },
        _ => true,
    }
}

// ---------------------------------------------------------------------------------
// Semantic Versioning 2.0.0

#[derive(Debug, Clone)]
struct Semver {
    major: u64,
    minor: u64,
    patch: u64,
    pre: Vec<PreId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PreId {
    Num(u64),
    Alpha(String),
}

impl PreId {
    fn cmp_pre(&self, other: &PreId) -> Ordering {
        match (self, other) {
            (PreId::Num(a), PreId::Num(b)) => a.cmp(b),
            (PreId::Num(_), PreId::Alpha(_)) => Ordering::Less,
            (PreId::Alpha(_), PreId::Num(_)) => Ordering::Greater,
            (PreId::Alpha(a), PreId::Alpha(b)) => a.cmp(b),
        }
    }
}

impl Semver {
    /// `[v]MAJOR[.MINOR[.PATCH]][-PRE][+BUILD]`. Missing minor or patch read as 0 (OSV
    /// data and Go's toolchain versions such as `1.21` use the short forms).
    fn parse(s: &str) -> Option<Semver> {
        let s = s.strip_prefix('v').unwrap_or(s);
        let s = match s.split_once('+') {
            Some((core, build)) => {
                if build.is_empty() || !build.split('.').all(is_ident) {
                    return None;
                }
                core
            }
            None => s,
        };
        let (core, pre) = match s.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (s, None),
        };
        let mut nums = core.split('.');
        let major = parse_num(nums.next()?)?;
        let minor = nums.next().map_or(Some(0), parse_num)?;
        let patch = nums.next().map_or(Some(0), parse_num)?;
        if nums.next().is_some() {
            return None;
        }
        let pre = match pre {
            None => Vec::new(),
            Some(pre) => pre
                .split('.')
                .map(parse_pre_id)
                .collect::<Option<Vec<_>>>()?,
        };
        if pre.len() > MAX_SEGMENTS {
            return None;
        }
        Some(Semver {
            major,
            minor,
            patch,
            pre,
        })
    }

    fn cmp_semver(&self, other: &Semver) -> Ordering {
        let core =
            (self.major, self.minor, self.patch).cmp(&(other.major, other.minor, other.patch));
        if core != Ordering::Equal {
            return core;
        }
        match (self.pre.is_empty(), other.pre.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Greater,
            (false, true) => return Ordering::Less,
            (false, false) => {}
        }
        for (a, b) in self.pre.iter().zip(&other.pre) {
            let c = a.cmp_pre(b);
            if c != Ordering::Equal {
                return c;
            }
        }
        self.pre.len().cmp(&other.pre.len())
    }
}

fn is_ident(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A decimal number of at most 19 digits (fits u64).
fn parse_num(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_pre_id(s: &str) -> Option<PreId> {
    if !is_ident(s) {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        // Leading zeros are not allowed by semver, but real data has them; read the
        // number (semver orders numeric identifiers numerically).
        Some(parse_num(s).map_or_else(|| PreId::Alpha(s.to_owned()), PreId::Num))
    } else {
        Some(PreId::Alpha(s.to_owned()))
    }
}

// ---------------------------------------------------------------------------------
// PEP 440

#[derive(Debug, Clone)]
struct Pep440 {
    epoch: u64,
    release: Vec<u64>,
    /// (0 = a, 1 = b, 2 = rc, number)
    pre: Option<(u8, u64)>,
    post: Option<u64>,
    dev: Option<u64>,
    local: Vec<PreId>,
}

/// Sort keys as PEP 440's "Summary of permitted suffixes and relative ordering"
/// requires: `1.0.dev1 < 1.0a1.dev1 < 1.0a1 < 1.0a1.post1.dev1 < 1.0a1.post1 < 1.0 <
/// 1.0.post1.dev1 < 1.0.post1 < 1.0+local`.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Bound<T> {
    Min,
    Val(T),
    Max,
}

impl Pep440 {
    fn parse(s: &str) -> Option<Pep440> {
        let lower = s.to_ascii_lowercase();
        let mut rest = lower.as_str();
        rest = rest.strip_prefix('v').unwrap_or(rest);
        let (public, local) = match rest.split_once('+') {
            Some((p, l)) => (p, Some(l)),
            None => (rest, None),
        };
        let mut cur = Cursor { s: public };
        let epoch = match public.split_once('!') {
            Some((e, after)) => {
                let e = parse_num(e)?;
                cur = Cursor { s: after };
                e
            }
            None => 0,
        };
        let release = cur.release()?;
        let pre = cur.pre()?;
        let post = cur.post()?;
        let dev = cur.dev()?;
        if !cur.s.is_empty() {
            return None;
        }
        let local = match local {
            None => Vec::new(),
            Some(l) => {
                let segs: Vec<&str> = l.split(['.', '-', '_']).collect();
                if segs.len() > MAX_SEGMENTS {
                    return None;
                }
                segs.into_iter()
                    .map(|seg| {
                        if seg.is_empty() || !seg.bytes().all(|b| b.is_ascii_alphanumeric()) {
                            None
                        } else {
                            parse_pre_id(seg)
                        }
                    })
                    .collect::<Option<Vec<_>>>()?
            }
        };
        Some(Pep440 {
            epoch,
            release,
            pre,
            post,
            dev,
            local,
        })
    }

    fn key(&self) -> (Bound<(u8, u64)>, Bound<u64>, Bound<u64>) {
        let pre = match (self.pre, self.post, self.dev) {
            (None, None, Some(_)) => Bound::Min,
            (None, _, _) => Bound::Max,
            (Some(p), _, _) => Bound::Val(p),
        };
        let post = self.post.map_or(Bound::Min, Bound::Val);
        let dev = self.dev.map_or(Bound::Max, Bound::Val);
        (pre, post, dev)
    }

    fn cmp_pep440(&self, other: &Pep440) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| cmp_release(&self.release, &other.release))
            .then_with(|| self.key().cmp(&other.key()))
            .then_with(|| cmp_local(&self.local, &other.local))
    }
}

/// Release segments compare with trailing zeros ignored (`1.0 == 1.0.0`).
fn cmp_release(a: &[u64], b: &[u64]) -> Ordering {
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| {
            a.get(i)
                .copied()
                .unwrap_or(0)
                .cmp(&b.get(i).copied().unwrap_or(0))
        })
        .find(|c| *c != Ordering::Equal)
        .unwrap_or(Ordering::Equal)
}

/// Local labels: absent < present; segment by segment, numbers above words, words
/// lexicographically, a longer label above its prefix.
fn cmp_local(a: &[PreId], b: &[PreId]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let c = match (x, y) {
            (PreId::Num(x), PreId::Num(y)) => x.cmp(y),
            (PreId::Num(_), PreId::Alpha(_)) => Ordering::Greater,
            (PreId::Alpha(_), PreId::Num(_)) => Ordering::Less,
            (PreId::Alpha(x), PreId::Alpha(y)) => x.cmp(y),
        };
        if c != Ordering::Equal {
            return c;
        }
    }
    a.len().cmp(&b.len())
}

/// A reader over the lower-cased public part of a PEP 440 version.
struct Cursor<'a> {
    s: &'a str,
}

impl Cursor<'_> {
    fn digits(&mut self) -> Option<u64> {
        let n = self.s.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        let (d, rest) = self.s.split_at(n);
        self.s = rest;
        parse_num(d)
    }

    fn release(&mut self) -> Option<Vec<u64>> {
        let mut out = vec![self.digits()?];
        while let Some(rest) = self.s.strip_prefix('.') {
            if !rest.starts_with(|c: char| c.is_ascii_digit()) {
                break;
            }
            self.s = rest;
            out.push(self.digits()?);
            if out.len() > MAX_SEGMENTS {
                return None;
            }
        }
        Some(out)
    }

    /// Skips one optional separator (`.`, `-`, `_`) if `word` follows it; returns
    /// whether `word` was there (and consumed).
    fn word(&mut self, words: &[&str]) -> Option<usize> {
        let trimmed = self.s.strip_prefix(['.', '-', '_']).unwrap_or(self.s);
        // Longest word first, so "alpha" wins over "a" and "preview" over "pre".
        let mut best: Option<(usize, usize)> = None;
        for (i, w) in words.iter().enumerate() {
            if trimmed.starts_with(w) && best.is_none_or(|(_, l)| w.len() > l) {
                best = Some((i, w.len()));
            }
        }
        let (i, len) = best?;
        self.s = trimmed.get(len..).unwrap_or("");
        Some(i)
    }

    /// The optional number after a pre/post/dev word, with an optional separator.
    fn opt_number(&mut self) -> Option<u64> {
        let save = self.s;
        let trimmed = self.s.strip_prefix(['.', '-', '_']).unwrap_or(self.s);
        if trimmed.starts_with(|c: char| c.is_ascii_digit()) {
            self.s = trimmed;
            return self.digits();
        }
        self.s = save;
        Some(0)
    }

    fn pre(&mut self) -> Option<Option<(u8, u64)>> {
        const WORDS: [&str; 8] = ["a", "alpha", "b", "beta", "c", "rc", "pre", "preview"];
        let save = self.s;
        let Some(i) = self.word(&WORDS) else {
            self.s = save;
            return Some(None);
        };
        let kind = match i {
            0 | 1 => 0,
            2 | 3 => 1,
            _ => 2,
        };
        Some(Some((kind, self.opt_number()?)))
    }

    fn post(&mut self) -> Option<Option<u64>> {
        let save = self.s;
        // Implicit post release: `1.0-1`.
        if let Some(rest) = self.s.strip_prefix('-')
            && rest.starts_with(|c: char| c.is_ascii_digit())
        {
            self.s = rest;
            return Some(Some(self.digits()?));
        }
        if self.word(&["post", "rev", "r"]).is_some() {
            return Some(Some(self.opt_number()?));
        }
        self.s = save;
        Some(None)
    }

    fn dev(&mut self) -> Option<Option<u64>> {
        let save = self.s;
        if self.word(&["dev"]).is_some() {
            return Some(Some(self.opt_number()?));
        }
        self.s = save;
        Some(None)
    }
}

// ---------------------------------------------------------------------------------
// Maven: the POM reference's "Version Order Specification"

/// How a Maven token was separated from the one before it. A switch between digits
/// and letters counts as a hyphen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MavenSep {
    Dot,
    Hyphen,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum MavenTok {
    Num(u128),
    /// A qualifier, lower case, with the aliases resolved (`a1` → `alpha`, `cr` → `rc`,
    /// `ga`/`final`/`release` → empty).
    Qual(String),
}

type MavenToken = (MavenSep, MavenTok);
type MavenList = Vec<MavenToken>;

/// Known qualifiers in order; `""` is the release itself.
const MAVEN_QUALIFIERS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];

fn maven_is_null(tok: &MavenTok) -> bool {
    match tok {
        MavenTok::Num(n) => *n == 0,
        MavenTok::Qual(q) => q.is_empty(),
    }
}

fn maven_token(text: &str, followed_by_digit: bool) -> Result<MavenTok, VersionError> {
    if text.is_empty() {
        return Ok(MavenTok::Num(0));
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        let t = text.trim_start_matches('0');
        if t.len() > 38 {
            return Err(VersionError::Syntax {
                ecosystem: Ecosystem::Maven,
            });
        }
        return Ok(MavenTok::Num(if t.is_empty() {
            0
        } else {
            t.parse().unwrap_or(u128::MAX)
        }));
    }
    let q = match (text, followed_by_digit) {
        ("a", true) => "alpha",
        ("b", true) => "beta",
        ("m", true) => "milestone",
        ("cr", _) => "rc",
        ("ga" | "final" | "release", _) => "",
        (q, _) => q,
    };
    Ok(MavenTok::Qual(q.to_owned()))
}

/// Splits at `.`, `-` and digit/letter switches (empty tokens are 0), then trims null
/// tokens (0, release qualifiers) from the end and before each remaining hyphen.
fn maven_parse(version: &str) -> Result<MavenList, VersionError> {
    let v = version.to_ascii_lowercase();
    let mut tokens: MavenList = Vec::new();
    let mut sep = MavenSep::Dot;
    let mut start = 0usize;
    let bytes = v.as_bytes();
    for (i, &c) in bytes.iter().enumerate() {
        let piece = v.get(start..i).unwrap_or("");
        if c == b'.' || c == b'-' {
            tokens.push((sep, maven_token(piece, false)?));
            sep = if c == b'.' {
                MavenSep::Dot
            } else {
                MavenSep::Hyphen
            };
            start = i + 1;
        } else if i > start
            && bytes
                .get(i - 1)
                .is_some_and(|p| p.is_ascii_digit() != c.is_ascii_digit())
        {
            tokens.push((sep, maven_token(piece, c.is_ascii_digit())?));
            sep = MavenSep::Hyphen;
            start = i;
        }
    }
    tokens.push((sep, maven_token(v.get(start..).unwrap_or(""), false)?));
    if tokens.len() > MAX_SEGMENTS * 2 {
        return Err(VersionError::Size);
    }

    while tokens.last().is_some_and(|(_, t)| maven_is_null(t)) {
        tokens.pop();
    }
    let mut i = tokens.len();
    while i > 0 {
        i -= 1;
        if tokens.get(i).is_some_and(|(s, _)| *s == MavenSep::Hyphen) {
            while i > 0 && tokens.get(i - 1).is_some_and(|(_, t)| maven_is_null(t)) {
                tokens.remove(i - 1);
                i -= 1;
            }
        }
    }
    Ok(tokens)
}

/// The sort key of a token. The specification pads the shorter version with a null
/// whose kind depends on the other version's separator, which is not transitive (nor
/// is Maven's own `ComparableVersion`: `1` < `1.sp` < `1.0.alpha` < `1`). To keep the
/// order total, every null (0, the release qualifier, the padding) is one point:
/// qualifiers below the release < null < `sp` < other qualifiers (alphabetically) <
/// `-number` < `.number`. All the page's examples hold.
fn maven_key(tok: &MavenToken) -> (u8, u128, &str) {
    match tok {
        (_, MavenTok::Num(0)) => (1, 0, ""),
        (MavenSep::Hyphen, MavenTok::Num(n)) => (4, *n, ""),
        (MavenSep::Dot, MavenTok::Num(n)) => (5, *n, ""),
        (_, MavenTok::Qual(q)) => match MAVEN_QUALIFIERS.iter().position(|k| k == q) {
            Some(5) => (1, 0, ""),
            Some(6) => (2, 0, ""),
            Some(i) => (0, i as u128, ""),
            None => (3, 0, q.as_str()),
        },
    }
}

const MAVEN_NULL: (u8, u128, &str) = (1, 0, "");

fn maven_cmp_token(a: &MavenToken, b: &MavenToken) -> Ordering {
    maven_key(a).cmp(&maven_key(b))
}

/// Lexicographic order of the token keys, the shorter list padded with nulls.
fn maven_cmp_lists(a: &[MavenToken], b: &[MavenToken]) -> Ordering {
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).map_or(MAVEN_NULL, maven_key);
        let y = b.get(i).map_or(MAVEN_NULL, maven_key);
        let c = x.cmp(&y);
        if c != Ordering::Equal {
            return c;
        }
    }
    Ordering::Equal
}

// ---------------------------------------------------------------------------------
// RubyGems Gem::Version

#[derive(Debug, Clone, PartialEq, Eq)]
enum RubySeg {
    Num(u128),
    Str(String),
}

/// Gem versions: digits, letters, `.` and `-` (which means `.pre.`). The canonical
/// segments drop trailing zeros of the release part and of the prerelease part.
fn ruby_parse(s: &str) -> Option<Vec<RubySeg>> {
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    {
        return None;
    }
    if !s.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let s = s.replace('-', ".pre.");
    let mut segs = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let Some(&first) = bytes.get(i) else { break };
        if first == b'.' {
            i += 1;
            continue;
        }
        let digit = first.is_ascii_digit();
        while bytes
            .get(i)
            .is_some_and(|b| b.is_ascii_digit() == digit && *b != b'.')
        {
            i += 1;
        }
        let piece = s.get(start..i)?;
        segs.push(if digit {
            let t = piece.trim_start_matches('0');
            if t.len() > 38 {
                return None;
            }
            RubySeg::Num(if t.is_empty() { 0 } else { t.parse().ok()? })
        } else {
            RubySeg::Str(piece.to_owned())
        });
        if segs.len() > MAX_SEGMENTS {
            return None;
        }
    }
    let split = segs
        .iter()
        .position(|s| matches!(s, RubySeg::Str(_)))
        .unwrap_or(segs.len());
    let mut pre = segs.split_off(split);
    trim_zeros(&mut segs);
    trim_zeros(&mut pre);
    segs.extend(pre);
    Some(segs)
}

fn trim_zeros(segs: &mut Vec<RubySeg>) {
    while segs.last() == Some(&RubySeg::Num(0)) {
        segs.pop();
    }
}

fn ruby_cmp(a: &[RubySeg], b: &[RubySeg]) -> Ordering {
    let zero = RubySeg::Num(0);
    let n = a.len().max(b.len());
    for i in 0..n {
        let x = a.get(i).unwrap_or(&zero);
        let y = b.get(i).unwrap_or(&zero);
        let c = match (x, y) {
            (RubySeg::Num(x), RubySeg::Num(y)) => x.cmp(y),
            (RubySeg::Str(_), RubySeg::Num(_)) => Ordering::Less,
            (RubySeg::Num(_), RubySeg::Str(_)) => Ordering::Greater,
            (RubySeg::Str(x), RubySeg::Str(y)) => x.cmp(y),
        };
        if c != Ordering::Equal {
            return c;
        }
    }
    Ordering::Equal
}

// ---------------------------------------------------------------------------------
// Packagist (Composer)

#[derive(Debug, Clone)]
struct Composer {
    nums: Vec<u64>,
    /// 0 dev, 1 alpha, 2 beta, 3 RC, 4 stable, 5 patch.
    stability: u8,
    stability_nums: Vec<u64>,
    /// A trailing `-dev` after a pre-release (`1.0.0-beta2-dev`) sorts before it.
    dev: bool,
}

impl Composer {
    fn parse(s: &str) -> Option<Composer> {
        let lower = s.to_ascii_lowercase();
        let s = lower.strip_prefix('v').unwrap_or(&lower);
        // Build metadata is ignored by Composer.
        let s = s.split_once('+').map_or(s, |(a, _)| a);
        let numeric_len = s
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let (numeric, mut rest) = s.split_at(numeric_len);
        let numeric = numeric.strip_suffix('.').unwrap_or(numeric);
        let nums = numeric
            .split('.')
            .map(parse_num)
            .collect::<Option<Vec<_>>>()?;
        if nums.len() > 4 {
            return None;
        }
        let mut out = Composer {
            nums,
            stability: 4,
            stability_nums: Vec::new(),
            dev: false,
        };
        rest = rest.strip_prefix(['-', '_', '.']).unwrap_or(rest);
        if rest.is_empty() {
            return Some(out);
        }
        const WORDS: [(&str, u8); 11] = [
            ("stable", 4),
            ("patch", 5),
            ("alpha", 1),
            ("beta", 2),
            ("dev", 0),
            ("rc", 3),
            ("pl", 5),
            ("a", 1),
            ("b", 2),
            ("p", 5),
            ("", 4),
        ];
        let (word, rank) = WORDS.iter().find(|(w, _)| rest.starts_with(w))?;
        out.stability = *rank;
        rest = rest.get(word.len()..).unwrap_or("");
        loop {
            let trimmed = rest.strip_prefix(['.', '-']).unwrap_or(rest);
            let n = trimmed.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 {
                break;
            }
            out.stability_nums.push(parse_num(trimmed.get(..n)?)?);
            rest = trimmed.get(n..).unwrap_or("");
            if out.stability_nums.len() > MAX_SEGMENTS {
                return None;
            }
        }
        let rest = rest.strip_prefix(['.', '-', '_']).unwrap_or(rest);
        if rest == "dev" && out.stability != 0 {
            out.dev = true;
        } else if !rest.is_empty() {
            return None;
        }
        Some(out)
    }

    fn cmp_composer(&self, other: &Composer) -> Ordering {
        let n = 4.max(self.nums.len()).max(other.nums.len());
        let pad = |v: &[u64]| {
            (0..n)
                .map(|i| v.get(i).copied().unwrap_or(0))
                .collect::<Vec<_>>()
        };
        pad(&self.nums)
            .cmp(&pad(&other.nums))
            .then(self.stability.cmp(&other.stability))
            .then_with(|| cmp_release(&self.stability_nums, &other.stability_nums))
            .then(other.dev.cmp(&self.dev))
    }
}

#[cfg(test)]
mod tests;
