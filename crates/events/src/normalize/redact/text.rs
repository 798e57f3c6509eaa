//! Secrets in free text: a message, a URL, a request body, a command line.

use std::borrow::Cow;
use std::ops::Range;

use super::REDACTED;
use super::command::redact_command_args;
use super::names::{is_kept_value, is_secret_name, with_folded};

/// The longest parameter name read back from a separator: a run of name characters
/// longer than this is judged by its end (and reading a name costs no more than this,
/// however many separators a hostile line holds).
const MAX_NAME: usize = 128;

/// How a value after a secret name ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ends {
    /// At the next `&`, `;`, `,`, `?`, `#`, quote, `<`, `>` or whitespace.
    AtDelimiter,
    /// At the end of the line: text percent-decoded from a query or a form body
    /// (`url.decoded`, `http.request.body.content`), where a password's own `&`, `#`,
    /// `'` or `+` can no longer be told from a delimiter.
    AtLineEnd,
}

/// Secrets in free text replaced by [`REDACTED`]; text without any is borrowed back.
///
/// - Parameters named like a secret ([`is_secret_name`]): `name=value` after `?`, `&`,
///   `;`, `#`, `|`, `:`, `=`, a quote, a bracket or a space, with the name or the `=`
///   percent-encoded (once or more: `%253D`), spaces around the `=` or not; the name
///   quoted (`"password":"…"`, `\"password\":\"…\"`, `\x22password\x22:…`); `name: value`,
///   `name:value` after a space or `{`, `name := value`, and `name => value` (Ruby and
///   PHP dumps). A nested URL's parameter is found by its last name
///   (`next=%2Fcb%3Fsid%3D…`). A value that opens with a quote loses what lies between
///   its quotes, which are kept (an escaped or doubled quote inside does not close it);
///   one that opens with `[` or `{` loses all up to its closing bracket; any other
///   ends as [`Ends`] says. `Authorization: Bearer X` keeps its scheme. A `PWD`-like
///   name's directory, and a Windows SID or a short number under `sid`, are kept.
/// - The password of a URL's user information: `scheme://user:[redacted]@host`.
/// - A token after the word `Bearer` (eight characters or more, holding a digit or a
///   symbol, or twenty characters or more).
/// - SQL's `PASSWORD 'x'` and `IDENTIFIED BY 'x'`, and XML elements named like a
///   secret (`<wsse:Password …>x</wsse:Password>`).
/// - Command-line secrets (see [`redact_command_args`]).
///
/// Redacting the result again changes nothing.
pub fn redact_text(text: &str) -> Cow<'_, str> {
    redact_text_ending(text, Ends::AtDelimiter)
}

/// [`redact_text`] with values that end as `ends` says.
pub(super) fn redact_text_ending(text: &str, ends: Ends) -> Cow<'_, str> {
    type Pass = fn(&str) -> Cow<'_, str>;
    let pairs: Pass = match ends {
        Ends::AtDelimiter => |t| redact_pairs(t, Ends::AtDelimiter),
        Ends::AtLineEnd => |t| redact_pairs(t, Ends::AtLineEnd),
    };
    let passes: [Pass; 6] = [
        pairs,
        redact_userinfo,
        redact_bearer,
        redact_sql_literals,
        redact_xml_elements,
        redact_command_args,
    ];
    let mut out = Cow::Borrowed(text);
    for pass in passes {
        if let Some(new) = owned(pass(&out)) {
            out = Cow::Owned(new);
        }
    }
    out
}

fn owned(text: Cow<'_, str>) -> Option<String> {
    match text {
        Cow::Owned(new) => Some(new),
        Cow::Borrowed(_) => None,
    }
}

/// Text with some spans replaced by [`REDACTED`], built as the spans are found.
pub(super) struct Rewrite<'a> {
    text: &'a str,
    out: String,
    copied: usize,
}

impl<'a> Rewrite<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Rewrite {
            text,
            out: String::new(),
            copied: 0,
        }
    }

    /// `span` replaced, unless it is empty, overlaps what was replaced, or already
    /// reads [`REDACTED`]. Spans come in order.
    pub(super) fn redact(&mut self, span: Range<usize>) {
        if span.is_empty()
            || span.start < self.copied
            || span.end > self.text.len()
            || !self.text.is_char_boundary(span.start)
            || !self.text.is_char_boundary(span.end)
            || self.text[span.clone()] == *REDACTED
        {
            return;
        }
        self.out.push_str(&self.text[self.copied..span.start]);
        self.out.push_str(REDACTED);
        self.copied = span.end;
    }

    pub(super) fn finish(mut self) -> Cow<'a, str> {
        if self.copied == 0 {
            return Cow::Borrowed(self.text);
        }
        self.out.push_str(&self.text[self.copied..]);
        Cow::Owned(self.out)
    }
}

/// A separator between a name and its value, at `i`: its length and kind.
fn separator(bytes: &[u8], i: usize) -> Option<(usize, Sep)> {
    match bytes[i] {
        b'=' if bytes.get(i + 1) == Some(&b'>') => Some((2, Sep::Arrow)),
        b'=' => Some((1, Sep::Equals)),
        b':' if bytes.get(i + 1) == Some(&b'=') => Some((2, Sep::Equals)),
        b':' => Some((1, Sep::Colon)),
        b'%' => {
            // `%3D`, `%253D`, `%25253D`: an `=` encoded once or more.
            let mut j = i + 1;
            while bytes.get(j..j + 2) == Some(b"25") {
                j += 2;
            }
            match bytes.get(j..j + 2) {
                Some([b'3', b'd' | b'D']) if j - i <= 7 => Some((j + 2 - i, Sep::Equals)),
                _ => None,
            }
        }
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sep {
    Equals,
    Arrow,
    Colon,
}

/// Quotes a name or a value may stand in: plain, escaped in JSON or C text, escaped
/// as nginx writes a `"` (`\x22`), percent-encoded.
const QUOTES: &[&[u8]] = &[b"\\\"", b"\\x22", b"\\u0022", b"\"", b"'", b"%22", b"%27"];

/// The quote that ends at `end` (just before a separator), if any.
fn quote_before(bytes: &[u8], end: usize) -> Option<&'static [u8]> {
    QUOTES
        .iter()
        .copied()
        .find(|q| end >= q.len() && bytes[end - q.len()..end].eq_ignore_ascii_case(q))
}

/// The quote that opens at `from`, if any.
fn quote_at(bytes: &[u8], from: usize) -> Option<&'static [u8]> {
    QUOTES.iter().copied().find(|q| {
        bytes
            .get(from..from + q.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(q))
    })
}

/// `name=value`, `name: value` and the other pairs with a secret name (see
/// [`redact_text`]).
fn redact_pairs(text: &str, ends: Ends) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    if !bytes.iter().any(|b| matches!(b, b'=' | b':'))
        && !text.contains("%3")
        && !text.contains("%25")
    {
        return Cow::Borrowed(text);
    }
    let mut rewrite = Rewrite::new(text);
    let mut i = 0;
    while i < bytes.len() {
        let Some((sep_len, sep)) = separator(bytes, i) else {
            i += 1;
            continue;
        };
        let at = i;
        i += sep_len;
        let Some(name) = name_before(text, at, sep, bytes.get(i).copied()) else {
            continue;
        };
        if !is_secret_name(&name) {
            continue;
        }
        let mut from = i;
        while matches!(bytes.get(from), Some(b' ' | b'\t')) {
            from += 1;
        }
        if is_authorization(&name) {
            from = after_auth_scheme(bytes, from);
        }
        let (inner, end) = value_span(bytes, from, ends);
        if !is_kept_value(&name, &text[inner.clone()]) {
            rewrite.redact(inner);
        }
        i = end.max(i);
    }
    rewrite.finish()
}

/// The name before the separator at `at`, percent-decoded and cut to its last part
/// (`/cb?access_token` gives `access_token`); `None` when there is none, or when what
/// precedes is not a pair (`pam_unix(passwd:chauthtok)`, `https://`, `12:00`).
fn name_before(text: &str, at: usize, sep: Sep, after: Option<u8>) -> Option<Cow<'_, str>> {
    let bytes = text.as_bytes();
    let mut name_end = at;
    while name_end > 0 && matches!(bytes[name_end - 1], b' ' | b'\t') {
        name_end -= 1;
    }
    let mut floor = name_end.saturating_sub(MAX_NAME);
    while !text.is_char_boundary(floor) {
        floor += 1;
    }
    let (start, boundary) = match quote_before(bytes, name_end) {
        Some(quote) => {
            // A quoted name: from its opening quote, which must be there.
            let close = name_end - quote.len();
            let open = (floor..close).rev().find(|&p| {
                p + quote.len() <= close && bytes[p..p + quote.len()].eq_ignore_ascii_case(quote)
            })?;
            name_end = close;
            (open + quote.len(), true)
        }
        None => {
            // After a colon, brackets and `%` end a name: `passwd[12]: …` is a program.
            let in_name = |b: u8| match sep {
                Sep::Colon => b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'),
                _ => is_name_byte(b),
            };
            let start = bytes[floor..name_end]
                .iter()
                .rposition(|b| !in_name(*b))
                .map_or(floor, |p| floor + p + 1);
            let before = start.checked_sub(1).map(|p| bytes[p]);
            let boundary = match sep {
                // `password: x`, or `{Password:x` and ` token:x` (no space after the
                // colon) only after a space, `{`, `,`, `;`, `&`, `?` or `|`.
                Sep::Colon if matches!(after, Some(b' ' | b'\t')) => before.is_none_or(is_boundary),
                Sep::Colon => before.is_none_or(|b| {
                    b.is_ascii_whitespace() || matches!(b, b'{' | b',' | b';' | b'&' | b'?' | b'|')
                }),
                _ => before.is_none_or(is_boundary) || start == floor && floor > 0,
            };
            (start, boundary)
        }
    };
    if start >= name_end || !boundary {
        return None;
    }
    let raw = &text[start..name_end];
    // A value already redacted is never part of a name: what a first pass wrote must
    // not name a secret to the second.
    let raw = match raw.rfind(REDACTED) {
        Some(p) => &raw[p + REDACTED.len()..],
        None => raw,
    };
    if raw.is_empty() {
        return None;
    }
    let decoded = fully_decoded(raw);
    // A nested URL's parameter: the name after the last character no name holds.
    let last = match decoded
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '[' | ']' | ' ')))
    {
        Some((p, c)) => Cow::Owned(decoded[p + c.len_utf8()..].to_owned()),
        None => decoded,
    };
    (!last.trim().is_empty()).then_some(last)
}

/// `Authorization` or `Proxy-Authorization`, any spelling.
fn is_authorization(name: &str) -> bool {
    name.len() <= 24
        && with_folded(name, |f| {
            matches!(f, "authorization" | "proxyauthorization" | "xauthorization")
        })
}

/// Past an authorization scheme (`Bearer `, `Basic `, `AWS4-HMAC-SHA256 `) that opens
/// a value at `from`, so that the scheme is kept and the credential goes.
fn after_auth_scheme(bytes: &[u8], from: usize) -> usize {
    let word = bytes[from..]
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || *b == b'-'))
        .map_or(bytes.len(), |p| from + p);
    if word == from || !matches!(bytes.get(word), Some(b' ' | b'\t')) {
        return from;
    }
    let mut next = word;
    while matches!(bytes.get(next), Some(b' ' | b'\t')) {
        next += 1;
    }
    if next < bytes.len() && !is_value_end(bytes[next]) {
        next
    } else {
        from
    }
}

/// A value that starts at `from`: the bytes it holds and where it ends (see
/// [`redact_text`]).
pub(super) fn value_span(bytes: &[u8], from: usize, ends: Ends) -> (Range<usize>, usize) {
    if let Some(quote) = quote_at(bytes, from) {
        let body = from + quote.len();
        let mut p = body;
        while p < bytes.len() {
            let closes = bytes[p..].len() >= quote.len()
                && bytes[p..p + quote.len()].eq_ignore_ascii_case(quote);
            if closes {
                // An escaped quote (`\"` inside `"…"`) or a doubled one (`''` in SQL)
                // does not close the value.
                let escaped = quote.len() == 1 && p > body && bytes[p - 1] == b'\\';
                let doubled = quote == b"'" && bytes.get(p + 1) == Some(&b'\'');
                if doubled {
                    p += 2;
                    continue;
                }
                if !escaped {
                    return (body..p, p + quote.len());
                }
            }
            p += 1;
        }
        return (body..bytes.len(), bytes.len());
    }
    if let Some(open @ (b'[' | b'{')) = bytes.get(from).copied() {
        let close = if open == b'[' { b']' } else { b'}' };
        let mut depth = 0usize;
        for (p, b) in bytes[from..].iter().enumerate() {
            if *b == open {
                depth += 1;
            } else if *b == close {
                depth -= 1;
                if depth == 0 {
                    let end = from + p + 1;
                    return (from..end, end);
                }
            }
        }
        return (from..bytes.len(), bytes.len());
    }
    let end = match ends {
        Ends::AtDelimiter => bytes[from..].iter().position(|b| is_value_end(*b)),
        Ends::AtLineEnd => bytes[from..]
            .iter()
            .position(|b| matches!(b, b'\n' | b'\r')),
    }
    .map_or(bytes.len(), |p| from + p);
    (from..end, end)
}

/// `scheme://user:password@host`: the password goes, the user stays.
fn redact_userinfo(text: &str) -> Cow<'_, str> {
    if !text.contains("://") || !text.contains('@') {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut rewrite = Rewrite::new(text);
    let mut search = 0;
    while let Some(p) = text[search..].find("://") {
        let host_start = search + p + 3;
        let authority_end = bytes[host_start..]
            .iter()
            .position(|b| {
                b.is_ascii_whitespace()
                    || matches!(b, b'/' | b'?' | b'#' | b'"' | b'\'' | b'<' | b'>')
            })
            .map_or(bytes.len(), |q| host_start + q);
        let authority = &text[host_start..authority_end];
        if let Some(at) = authority.rfind('@')
            && let Some(colon) = authority[..at].find(':')
        {
            rewrite.redact(host_start + colon + 1..host_start + at);
        }
        search = authority_end.max(host_start);
    }
    rewrite.finish()
}

/// `Bearer TOKEN` in free text.
fn redact_bearer(text: &str) -> Cow<'_, str> {
    const WORD: &[u8] = b"bearer";
    let bytes = text.as_bytes();
    if bytes.len() < WORD.len() + 2 {
        return Cow::Borrowed(text);
    }
    let mut rewrite = Rewrite::new(text);
    let mut i = 0;
    while i + WORD.len() < bytes.len() {
        let at_word = bytes[i] | 0x20 == b'b'
            && bytes[i..i + WORD.len()].eq_ignore_ascii_case(WORD)
            && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
            && matches!(bytes[i + WORD.len()], b' ' | b'\t');
        if !at_word {
            i += 1;
            continue;
        }
        let mut from = i + WORD.len();
        while matches!(bytes.get(from), Some(b' ' | b'\t')) {
            from += 1;
        }
        let end = bytes[from..]
            .iter()
            .position(|b| {
                b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b',' | b';' | b'<' | b'>')
            })
            .map_or(bytes.len(), |p| from + p);
        let token = &bytes[from..end];
        let shaped = token.len() >= 20
            || (token.len() >= 8
                && token.iter().any(|b| {
                    b.is_ascii_digit()
                        || matches!(b, b'.' | b'-' | b'_' | b'~' | b'+' | b'/' | b'=')
                }));
        if shaped {
            rewrite.redact(from..end);
        }
        i = end.max(i + 1);
    }
    rewrite.finish()
}

/// SQL's `PASSWORD 'x'` (`ALTER USER … WITH PASSWORD 'x'`, `CREATE ROLE … PASSWORD`)
/// and `IDENTIFIED BY 'x'` (MySQL, MariaDB, Oracle): the quoted literal goes.
fn redact_sql_literals(text: &str) -> Cow<'_, str> {
    if !text.contains(['\'', '"']) {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut rewrite = Rewrite::new(text);
    let mut i = 0;
    while i < bytes.len() {
        let keyword = [&b"password"[..], b"identified by"].into_iter().find(|k| {
            bytes[i..].len() > k.len()
                && bytes[i..i + k.len()].eq_ignore_ascii_case(k)
                && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
                && bytes[i + k.len()].is_ascii_whitespace()
        });
        let Some(keyword) = keyword else {
            i += 1;
            continue;
        };
        let mut from = i + keyword.len();
        while bytes.get(from).is_some_and(u8::is_ascii_whitespace) {
            from += 1;
        }
        if matches!(bytes.get(from), Some(b'\'' | b'"')) {
            let (inner, end) = value_span(bytes, from, Ends::AtDelimiter);
            rewrite.redact(inner);
            i = end;
        } else {
            i = from.max(i + 1);
        }
    }
    rewrite.finish()
}

/// `<Password>x</Password>`, `<wsse:Password Type="…">x</wsse:Password>`: the text of
/// an XML element named like a secret goes.
fn redact_xml_elements(text: &str) -> Cow<'_, str> {
    if !text.contains("</") {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut rewrite = Rewrite::new(text);
    let mut i = 0;
    while let Some(p) = text[i..].find('<') {
        let open = i + p;
        i = open + 1;
        let name_end = bytes[i..]
            .iter()
            .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-' | b'.')))
            .map_or(bytes.len(), |q| i + q);
        let qualified = &text[i..name_end];
        let local = qualified.rsplit(':').next().unwrap_or(qualified);
        if local.is_empty() || !is_secret_name(local) {
            continue;
        }
        let Some(gt) = text[name_end..].find('>').map(|q| name_end + q) else {
            break;
        };
        if bytes[gt - 1] == b'/' {
            continue;
        }
        let content = gt + 1;
        let end = text[content..]
            .find('<')
            .map_or(bytes.len(), |q| content + q);
        rewrite.redact(content..end);
        i = end.max(i);
    }
    rewrite.finish()
}

/// Every `%XX` escape decoded, again while what is decoded holds escapes (at most
/// three rounds: `%25253D` is an `=` encoded three times); others kept as they are.
fn fully_decoded(name: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(name);
    for _ in 0..3 {
        if !out.contains('%') {
            break;
        }
        let next = percent_decoded(&out).into_owned();
        if next == *out {
            break;
        }
        out = Cow::Owned(next);
    }
    out
}

/// `%XX` escapes decoded once (others kept as they are).
fn percent_decoded(name: &str) -> Cow<'_, str> {
    if !name.contains('%') {
        return Cow::Borrowed(name);
    }
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
        match (bytes[i], hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// A byte of a parameter name before `=`: `user[password]=` and its encoded form are
/// one name.
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'%' | b'[' | b']')
}

fn is_boundary(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b'?' | b'&'
                | b';'
                | b'#'
                | b'"'
                | b'\''
                | b'{'
                | b','
                | b'('
                | b'/'
                | b'|'
                | b':'
                | b'='
        )
}

pub(super) fn is_value_end(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b'&' | b';' | b',' | b'"' | b'\'' | b'#' | b'<' | b'>' | b'?'
        )
}
