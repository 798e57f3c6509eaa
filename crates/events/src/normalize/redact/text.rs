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
    // Each pass needs some byte in the text: most strings of an event (times, names,
    // addresses) have none and cost one look at each byte. Redacting only writes
    // `[redacted]`, which holds none of them, so what one pass writes never calls
    // for a pass skipped here.
    let shape = Shape::of(text);
    let passes: [(bool, Pass); 6] = [
        (shape.separator, pairs),
        (shape.separator && shape.at, redact_userinfo),
        (shape.b, redact_bearer),
        (shape.quote || shape.b, redact_sql_literals),
        (shape.angle, redact_xml_elements),
        (
            shape.dash || shape.separator || shape.at || shape.slash,
            redact_command_args,
        ),
    ];
    // What one pass redacts can uncover a secret for another (a token after a
    // `Bearer` that a command-line value had held), so the passes run again on what
    // changed, until nothing does: redacting the result again then changes nothing.
    // A text with no secret costs one round, real ones two. A text made to need more
    // than `ROUNDS` (brackets in brackets, each redaction uncovering the next) is
    // replaced whole: nothing of it is known to be free of secrets.
    const ROUNDS: usize = 8;
    let mut out = Cow::Borrowed(text);
    for _ in 0..ROUNDS {
        let mut changed = false;
        for (needed, pass) in passes {
            if needed && let Some(new) = owned(pass(&out)) {
                out = Cow::Owned(new);
                changed = true;
            }
        }
        if !changed {
            return out;
        }
    }
    Cow::Owned(REDACTED.to_owned())
}

/// Which of the bytes the passes of [`redact_text`] look for a text holds.
#[derive(Debug, Default)]
struct Shape {
    /// `=`, `:` or `%`.
    separator: bool,
    at: bool,
    b: bool,
    quote: bool,
    angle: bool,
    dash: bool,
    /// `/` or a backslash.
    slash: bool,
}

impl Shape {
    fn of(text: &str) -> Shape {
        let mut shape = Shape::default();
        for b in text.bytes() {
            match b {
                b'=' | b':' | b'%' => shape.separator = true,
                b'@' => shape.at = true,
                b'b' | b'B' => shape.b = true,
                b'"' | b'\'' => shape.quote = true,
                b'<' => shape.angle = true,
                b'-' => shape.dash = true,
                b'/' | b'\\' => shape.slash = true,
                _ => {}
            }
        }
        shape
    }
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

    /// `span` replaced by `with` (a part of the text redacted on its own), under the
    /// same conditions as [`redact`](Self::redact).
    pub(super) fn replace(&mut self, span: Range<usize>, with: &str) {
        if span.start < self.copied
            || span.end > self.text.len()
            || !self.text.is_char_boundary(span.start)
            || !self.text.is_char_boundary(span.end)
        {
            return;
        }
        self.out.push_str(&self.text[self.copied..span.start]);
        self.out.push_str(with);
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
    // Called only for text holding `=`, `:` or `%` (see `Shape`).
    let bytes = text.as_bytes();
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
            // A quoted name: from its opening quote, or judged by its last
            // `MAX_NAME` bytes when it is longer.
            let close = name_end - quote.len();
            let open = (floor..close).rev().find(|&p| {
                p + quote.len() <= close && bytes[p..p + quote.len()].eq_ignore_ascii_case(quote)
            });
            name_end = close;
            (open.map_or(floor, |open| open + quote.len()), true)
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
        .find(|(_, c)| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '[' | ']')))
    {
        Some((p, c)) => Cow::Owned(decoded[p + c.len_utf8()..].to_owned()),
        None => decoded,
    };
    (!last.trim().is_empty()).then_some(last)
}

/// A header name ending in `Authorization` (`Proxy-Authorization`,
/// `X-Forwarded-Authorization`), any spelling.
fn is_authorization(name: &str) -> bool {
    name.len() <= 40 && with_folded(name, |f| f.ends_with("authorization"))
}

/// HTTP authentication schemes (IANA's registry, and common private ones), in lower
/// case.
const AUTH_SCHEMES: &[&str] = &[
    "basic",
    "bearer",
    "digest",
    "dpop",
    "gnap",
    "hoba",
    "mutual",
    "negotiate",
    "ntlm",
    "oauth",
    "privatetoken",
    "scram-sha-1",
    "scram-sha-256",
    "vapid",
    "concealed",
    "token",
    "apikey",
    "sharedkey",
    "sso-key",
    "aws4-hmac-sha256",
    "mac",
];

/// Past an authorization scheme (`Bearer `, `Basic `, `AWS4-HMAC-SHA256 `) that opens
/// a value at `from`, so that the scheme is kept and the credential goes; a value that
/// opens with no known scheme is the credential itself.
fn after_auth_scheme(bytes: &[u8], from: usize) -> usize {
    let word = bytes[from..]
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || *b == b'-'))
        .map_or(bytes.len(), |p| from + p);
    let scheme = &bytes[from..word];
    let known = AUTH_SCHEMES
        .iter()
        .any(|s| s.as_bytes().eq_ignore_ascii_case(scheme));
    if !known || !matches!(bytes.get(word), Some(b' ' | b'\t')) {
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
        if let Some(close) = closing_quote(bytes, body, quote) {
            return (body..close, close + quote.len());
        }
        // No closing quote on the line: the value is read as an unquoted one after
        // the quote, so that a stray quote does not take the rest of the text (and
        // the evidence in it) with it.
        let end = plain_end(bytes, body, ends);
        return (body..end, end);
    }
    if let Some(open @ (b'[' | b'{')) = bytes.get(from).copied() {
        let close = if open == b'[' { b']' } else { b'}' };
        let mut depth = 0usize;
        for (p, b) in bytes[from..].iter().take(MAX_QUOTED).enumerate() {
            if matches!(b, b'\n' | b'\r') {
                break;
            }
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
    }
    let end = plain_end(bytes, from, ends);
    (from..end, end)
}

/// The longest quoted or bracketed value: a quote not closed within this many bytes
/// (or on its line) opens no value.
const MAX_QUOTED: usize = 4096;

/// Where the quoted value whose text starts at `body` closes: the next `quote` on the
/// line and within [`MAX_QUOTED`] bytes that is not escaped by an odd number of
/// backslashes (`\"` inside `"…"`) nor doubled (`''` in SQL).
fn closing_quote(bytes: &[u8], body: usize, quote: &[u8]) -> Option<usize> {
    let limit = bytes.len().min(body.saturating_add(MAX_QUOTED));
    let mut p = body;
    while p < limit {
        if matches!(bytes[p], b'\n' | b'\r') {
            return None;
        }
        let closes = bytes[p..].len() >= quote.len()
            && bytes[p..p + quote.len()].eq_ignore_ascii_case(quote);
        if closes {
            if quote == b"'" && bytes.get(p + 1) == Some(&b'\'') {
                p += 2;
                continue;
            }
            let backslashes = bytes[body..p]
                .iter()
                .rev()
                .take_while(|b| **b == b'\\')
                .count();
            if quote.len() > 1 || backslashes % 2 == 0 {
                return Some(p);
            }
        }
        p += 1;
    }
    None
}

/// Where an unquoted value that starts at `from` ends (see [`Ends`]). Backslashes
/// that end it stay out of it: one may escape the quote that follows, and redacting
/// it would change where that quote's string ends when the text is read again.
fn plain_end(bytes: &[u8], from: usize, ends: Ends) -> usize {
    let mut end = plain_end_with_escapes(bytes, from, ends);
    while end > from && bytes[end - 1] == b'\\' {
        end -= 1;
    }
    end
}

fn plain_end_with_escapes(bytes: &[u8], from: usize, ends: Ends) -> usize {
    match ends {
        // The first byte is the value's own even when it would end another (a
        // password may open with `<`), unless it is whitespace or `&`.
        Ends::AtDelimiter => bytes[from..].iter().enumerate().position(|(k, b)| {
            is_value_end(*b) && (k > 0 || b.is_ascii_whitespace() || *b == b'&')
        }),
        Ends::AtLineEnd => bytes[from..]
            .iter()
            .position(|b| matches!(b, b'\n' | b'\r')),
    }
    .map_or(bytes.len(), |p| from + p)
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
            i = end.max(i + 1);
        } else {
            // Not a token: a `Bearer` inside it is still looked at.
            i += 1;
        }
    }
    rewrite.finish()
}

/// SQL's passwords: `PASSWORD 'x'` (PostgreSQL's `ALTER USER … WITH PASSWORD`),
/// `PASSWORD = N'x'` (SQL Server's `ALTER LOGIN`), `SET PASSWORD FOR u = 'x'` and
/// `= PASSWORD('x')` (MySQL), `IDENTIFIED BY 'x'`, `IDENTIFIED WITH plugin BY 'x'`
/// and Oracle's unquoted `IDENTIFIED BY x`: the literal goes.
fn redact_sql_literals(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut rewrite = Rewrite::new(text);
    let mut i = 0;
    while i < bytes.len() {
        // A quoted `"password"` is a name (`"password": "…"`, read as a pair).
        let quoted = i > 0 && matches!(bytes[i - 1], b'"' | b'\'');
        let next = if quoted {
            None
        } else if bytes[i] | 0x20 == b'p' && word_at(bytes, i, b"password") {
            password_literal(bytes, i + 8)
        } else if bytes[i] | 0x20 == b'i' && word_at(bytes, i, b"identified") {
            identified_literal(bytes, i + 10)
        } else {
            None
        };
        match next {
            Some((value, end)) => {
                rewrite.redact(value);
                i = end.max(i + 1);
            }
            None => i += 1,
        }
    }
    rewrite.finish()
}

/// Whether the word `word` (any case) stands at `i`, alone.
fn word_at(bytes: &[u8], i: usize, word: &[u8]) -> bool {
    bytes.len() >= i + word.len()
        && bytes[i..i + word.len()].eq_ignore_ascii_case(word)
        && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric() && bytes[i - 1] != b'_')
        && bytes
            .get(i + word.len())
            .is_none_or(|b| !b.is_ascii_alphanumeric() && *b != b'_')
}

fn skip_blanks(bytes: &[u8], mut j: usize) -> usize {
    while matches!(bytes.get(j), Some(b' ' | b'\t')) {
        j += 1;
    }
    j
}

/// After `PASSWORD`: the quoted literal it sets, and where it ends.
fn password_literal(bytes: &[u8], after: usize) -> Option<(Range<usize>, usize)> {
    let mut j = skip_blanks(bytes, after);
    if word_at(bytes, j, b"for") {
        // `SET PASSWORD FOR 'u'@'h' = …`: on to the `=`.
        let limit = bytes.len().min(j + 160);
        j = (j..limit).find(|&p| bytes[p] == b'=')?;
    }
    if bytes.get(j) == Some(&b'=') {
        j = skip_blanks(bytes, j + 1);
    }
    if word_at(bytes, j, b"password") {
        j = skip_blanks(bytes, j + 8);
    }
    if bytes.get(j) == Some(&b'(') {
        j = skip_blanks(bytes, j + 1);
    }
    if matches!(bytes.get(j), Some(b'N' | b'n')) && matches!(bytes.get(j + 1), Some(b'\'')) {
        j += 1;
    }
    // Something stands between the word and its literal (`PASSWORD 'x'`,
    // `PASSWORD=N'x'`, `PASSWORD('x')`).
    if j == after || !matches!(bytes.get(j), Some(b'\'' | b'"')) {
        return None;
    }
    Some(value_span(bytes, j, Ends::AtDelimiter))
}

/// After `IDENTIFIED`: the literal after its `BY`, quoted or not.
fn identified_literal(bytes: &[u8], after: usize) -> Option<(Range<usize>, usize)> {
    let limit = bytes.len().min(after + 96);
    let by = (after..limit).find(|&p| word_at(bytes, p, b"by"))?;
    let mut j = skip_blanks(bytes, by + 2);
    if matches!(bytes.get(j), Some(b'N' | b'n')) && matches!(bytes.get(j + 1), Some(b'\'')) {
        j += 1;
    }
    if matches!(bytes.get(j), Some(b'\'' | b'"')) {
        return Some(value_span(bytes, j, Ends::AtDelimiter));
    }
    let end = bytes[j..]
        .iter()
        .position(|b| b.is_ascii_whitespace() || *b == b';')
        .map_or(bytes.len(), |p| j + p);
    Some((j..end, end))
}

/// `<Password>x</Password>`, `<wsse:Password Type="…">x</wsse:Password>`,
/// `<Password><![CDATA[x]]></Password>`: the text of an XML element named like a
/// secret goes. Linear: each `<` is looked at once, and a tag's end is looked for
/// only up to the next `<`.
fn redact_xml_elements(text: &str) -> Cow<'_, str> {
    const CDATA: &str = "<![CDATA[";
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
        let Some(q) = bytes[name_end..]
            .iter()
            .position(|b| matches!(b, b'<' | b'>'))
        else {
            break;
        };
        let gt = name_end + q;
        if bytes[gt] == b'<' {
            i = gt;
            continue;
        }
        if bytes[gt - 1] == b'/' {
            i = gt + 1;
            continue;
        }
        let mut content = gt + 1;
        let end = if text[content..].starts_with(CDATA) {
            content += CDATA.len();
            text[content..]
                .find("]]>")
                .map_or(bytes.len(), |q| content + q)
        } else {
            text[content..]
                .find('<')
                .map_or(bytes.len(), |q| content + q)
        };
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

/// What may stand before a parameter name: ASCII punctuation of the kinds listed,
/// whitespace, or any byte of a non-ASCII character (a no-break space, `“`, `«`, `…`,
/// an ideographic space, a word of another script).
fn is_boundary(b: u8) -> bool {
    b.is_ascii_whitespace()
        || !b.is_ascii()
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

/// The end of an unquoted value: whitespace, `&`, `;`, `"`, `<` or `>`. Not `,`,
/// `#`, `?` or `'`, which password rules ask for (`--password=Abc#1`): a URL's
/// fragment after a secret goes with it.
pub(super) fn is_value_end(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, b'&' | b';' | b'"' | b'<' | b'>')
}
