//! Secrets that logs carry, taken out of an event before it leaves the engine.
//!
//! Rules need the request as it was read: an injection hides in a cookie or in a query
//! parameter as easily as anywhere. What is *kept or sent* (an alert's triggering
//! events, the SIEM copy, `hunt` output) must not carry session cookies, bearer tokens
//! or passwords, so the engine calls [`redact_event`] on each event it keeps:
//!
//! - cookie fields (`http.request.cookies`, `http.request.headers.cookie`) keep each
//!   cookie's name and lose its value: `sid=[redacted]; theme=[redacted]`;
//! - text fields (`event.original`, `message`, URL parts, referrer, body and header
//!   text, the user agent, a command line, error and break-the-glass text) go through
//!   [`redact_text`]: the values of secret-named parameters, as in
//!   `/cb?code=1&access_token=[redacted]` or `password: [redacted]`, the password of a
//!   URL's user information (`postgres://app:[redacted]@db`), a bearer token, and
//!   secrets given on a command line (`curl -u admin:[redacted]`,
//!   `mysql -p[redacted]`, `--token [redacted]`);
//! - text that is JSON (a JSON line kept in `event.original`, a JSON request body, a
//!   ModSecurity record) is read and written back with the same rules applied to its
//!   members (a member given twice keeps only the value the event was read with); an
//!   object cut short, which cannot be read back, is dropped to `[redacted]`, while text
//!   opening with `[` that does not read as JSON (an Apache error line) is searched as
//!   text;
//! - in a ModSecurity record, `Cookie`/`Set-Cookie` headers lose their values,
//!   credential headers ([`CREDENTIAL_HEADERS`]) and rule messages' `Matched Data` are
//!   redacted whole;
//! - members named like a secret (`password`, `client_secret`, `privateKey`,
//!   `new_password`, `api_token`, …: see [`is_secret_name`]) hold `[redacted]` whatever
//!   their value (string, number, array, object), at any depth, inside arrays of arrays
//!   too.
//!
//! Names compare case-insensitively with `_`, `-`, `.` and spaces ignored; a name made
//! of parts (`db.password`, `user[password]`) is a secret when any part is.

use std::borrow::Cow;
use std::ops::Range;

use serde_json::{Map, Value};

/// What a redacted value reads as.
pub const REDACTED: &str = "[redacted]";

/// Parameter, member and header names whose values are secrets, as compared: lower
/// case without `_`, `-`, `.` or spaces. Sources: OAuth 2.0 (RFC 6749 §4, RFC 7521 §4.2),
/// OpenID Connect, AWS SigV4 presigned URLs, HashiCorp Vault and Google API headers,
/// and the session cookie names of common servers. (`code` is left out: FHIR resources
/// are full of `code` members.)
pub const SECRET_NAMES: &[&str] = &[
    "accesstoken",
    "refreshtoken",
    "idtoken",
    "token",
    "authtoken",
    "bearer",
    "clientsecret",
    "clientassertion",
    "assertion",
    "password",
    "passwd",
    "pwd",
    "pass",
    "secret",
    "secretkey",
    "awssecretaccesskey",
    "apikey",
    "privatekey",
    "authorization",
    "proxyauthorization",
    "xapikey",
    "xauthtoken",
    "xaccesstoken",
    "xvaulttoken",
    "xgoogapikey",
    "xsessiontoken",
    "xcsrftoken",
    "xxsrftoken",
    "xamzsignature",
    "xamzsecuritytoken",
    "xamzcredential",
    "samlresponse",
    "sessionid",
    "jsessionid",
    "phpsessid",
    "aspnetsessionid",
    "sid",
];

/// Request headers that carry credentials: never copied into event fields, and
/// redacted whole in a kept ModSecurity record (compared as [`SECRET_NAMES`] are).
pub const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "x-auth-token",
    "x-access-token",
    "x-amz-security-token",
    "x-csrf-token",
    "x-xsrf-token",
    "x-vault-token",
    "x-goog-api-key",
    "x-session-token",
];

/// Fields searched for secrets in text ([`redact_text`]; JSON text among them is read
/// as JSON).
const TEXT_FIELDS: &[&[&str]] = &[
    &["message"],
    &["user_agent", "original"],
    &["process", "command_line"],
    &["error", "message"],
    &["event", "reason"],
    &["ehr", "break_glass_reason"],
    &["ehr", "query"],
    &["url", "original"],
    &["url", "full"],
    &["url", "path"],
    &["url", "query"],
    &["url", "fragment"],
    &["url", "decoded"],
    &["http", "request", "referrer"],
    &["http", "request", "body", "content"],
    &["http", "request", "other_headers"],
];

/// Deepest JSON nesting walked; deeper members are dropped to [`REDACTED`].
const MAX_DEPTH: usize = 64;

/// Removes secrets from `event` in place (see the module documentation). Returns
/// whether anything changed.
pub fn redact_event(event: &mut Value) -> bool {
    let Some(root) = event.as_object_mut() else {
        return false;
    };
    let modsec = root
        .get("event")
        .and_then(|e| e.get("dataset"))
        .and_then(Value::as_str)
        == Some(super::modsec::DATASET);
    let mut changed = false;
    if let Some(original) = root.get_mut("event").and_then(|e| e.get_mut("original")) {
        changed |= redact_text_value(original, modsec);
    }
    for path in TEXT_FIELDS {
        if let Some(value) = at_path(root, path) {
            changed |= redact_text_value(value, false);
        }
    }
    if let Some(request) = root
        .get_mut("http")
        .and_then(|h| h.get_mut("request"))
        .and_then(Value::as_object_mut)
    {
        if let Some(cookies) = request.get_mut("cookies") {
            changed |= redact_cookie_value(cookies);
        }
        if let Some(headers) = request.get_mut("headers").and_then(Value::as_object_mut) {
            changed |= redact_headers(headers);
        }
    }
    changed |= redact_members(root, 0);
    changed
}

/// Secrets in free text replaced by [`REDACTED`]; text without any is borrowed back.
///
/// - Parameters named like a secret ([`is_secret_name`]): `name=value` after `?`, `&`,
///   `;`, `#`, `|`, `:`, a quote, a bracket or a space, with the name or the `=`
///   percent-encoded, spaces around the `=` or not; `name: value` (a space after the
///   colon, or the name quoted as in `"password":"…"`). A value that opens with a quote
///   loses what lies between its quotes, which are kept; any other ends at the next
///   `&`, `;`, `,`, `?`, `#`, quote, `<`, `>` or whitespace. `Authorization: Bearer X`
///   keeps its scheme. A `PWD`-like name (ending in `pwd`) whose value starts with `/`
///   is a working directory (sudo's `PWD=/home/bob`) and is kept.
/// - The password of a URL's user information: `scheme://user:[redacted]@host`.
/// - A token after the word `Bearer` (eight characters or more, holding a digit or a
///   symbol, or twenty characters or more).
/// - Command-line secrets: the value after `--NAME` where NAME is a secret name, the
///   password of `-u`/`--user USER:PASSWORD`, and `-pPASSWORD` once a `mysql`,
///   `mariadb` (or their tools') command has been named.
///
/// Redacting the result again changes nothing.
pub fn redact_text(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    for pass in [
        redact_pairs,
        redact_userinfo,
        redact_bearer,
        redact_command_args,
    ] {
        let next = match pass(&out) {
            Cow::Owned(new) => Some(new),
            Cow::Borrowed(_) => None,
        };
        if let Some(new) = next {
            out = Cow::Owned(new);
        }
    }
    out
}

/// Text with some spans replaced by [`REDACTED`], built as the spans are found.
struct Rewrite<'a> {
    text: &'a str,
    out: String,
    copied: usize,
}

impl<'a> Rewrite<'a> {
    fn new(text: &'a str) -> Self {
        Rewrite {
            text,
            out: String::new(),
            copied: 0,
        }
    }

    /// `span` replaced, unless it is empty or already reads [`REDACTED`]. Spans come in
    /// order and do not overlap.
    fn redact(&mut self, span: Range<usize>) {
        if span.is_empty() || span.start < self.copied || self.text[span.clone()] == *REDACTED {
            return;
        }
        self.out.push_str(&self.text[self.copied..span.start]);
        self.out.push_str(REDACTED);
        self.copied = span.end;
    }

    fn finish(mut self) -> Cow<'a, str> {
        if self.copied == 0 {
            return Cow::Borrowed(self.text);
        }
        self.out.push_str(&self.text[self.copied..]);
        Cow::Owned(self.out)
    }
}

/// `name=value` and `name: value` pairs with a secret name (see [`redact_text`]).
fn redact_pairs(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    if !bytes.iter().any(|b| matches!(b, b'=' | b':')) && !text.contains("%3") {
        return Cow::Borrowed(text);
    }
    let mut rewrite = Rewrite::new(text);
    let mut i = 0;
    while i < bytes.len() {
        // `=`, `%3D` (an encoded `=`) or `:`.
        let (sep_len, colon) = match bytes[i] {
            b'=' => (1, false),
            b':' => (1, true),
            b'%' if bytes.get(i + 1) == Some(&b'3')
                && matches!(bytes.get(i + 2), Some(b'd' | b'D')) =>
            {
                (3, false)
            }
            _ => {
                i += 1;
                continue;
            }
        };
        let sep = i;
        i += sep_len;
        // The name: spaces before the separator skipped, a closing quote too.
        let mut name_end = sep;
        while name_end > 0 && matches!(bytes[name_end - 1], b' ' | b'\t') {
            name_end -= 1;
        }
        let spaced = name_end < sep;
        let quote = match name_end.checked_sub(1).map(|p| bytes[p]) {
            Some(q @ (b'"' | b'\'')) if !spaced => {
                name_end -= 1;
                Some(q)
            }
            _ => None,
        };
        // After a colon, brackets and `%` end a name: `passwd[12]: …` is a program.
        let in_name = |b: u8| {
            if colon {
                b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
            } else {
                is_name_byte(b)
            }
        };
        let mut start = bytes[..name_end]
            .iter()
            .rposition(|b| !in_name(*b))
            .map_or(0, |p| p + 1);
        // A value already redacted is never part of a name: what a first pass wrote
        // must not name a secret to the second.
        let mut after_redacted = false;
        if let Some(p) = text[start..name_end].rfind(REDACTED) {
            start += p + REDACTED.len();
            after_redacted = true;
        }
        let boundary = match quote {
            Some(q) => start > 0 && bytes[start - 1] == q,
            None => start == 0 || after_redacted || is_boundary(bytes[start - 1]),
        };
        if start == name_end || !boundary {
            continue;
        }
        // A colon separates only before a space, or after a quoted name (`"token":"…"`):
        // `pam_unix(passwd:chauthtok)` and `https://` are not pairs.
        let spaced_after = matches!(bytes.get(i), Some(b' ' | b'\t'));
        if colon && !spaced_after && quote.is_none() {
            continue;
        }
        let name = percent_decoded(&text[start..name_end]);
        if !is_secret_name(&name) {
            continue;
        }
        let mut from = i;
        if colon || spaced || quote.is_some() {
            while matches!(bytes.get(from), Some(b' ' | b'\t')) {
                from += 1;
            }
        }
        if is_authorization(&name) {
            from = after_auth_scheme(bytes, from);
        }
        let (inner, end) = value_span(bytes, from);
        let directory =
            bytes.get(inner.start) == Some(&b'/') && with_folded(&name, |f| f.ends_with("pwd"));
        if !directory {
            rewrite.redact(inner);
        }
        i = end.max(i);
    }
    rewrite.finish()
}

/// `Authorization` or `Proxy-Authorization`, any spelling.
fn is_authorization(name: &str) -> bool {
    name.len() <= 24
        && with_folded(name, |f| {
            matches!(f, "authorization" | "proxyauthorization")
        })
}

/// Past an authorization scheme (`Bearer `, `Basic `, `AWS4-HMAC-SHA256 `) that opens
/// a value at `from`, so that the scheme is kept and the credential goes.
fn after_auth_scheme(bytes: &[u8], from: usize) -> usize {
    let word = bytes[from..]
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || *b == b'-'))
        .map_or(bytes.len(), |p| from + p);
    if word == from || !matches!(bytes.get(word), Some(b' ')) {
        return from;
    }
    let mut next = word;
    while bytes.get(next) == Some(&b' ') {
        next += 1;
    }
    if next < bytes.len() && !is_value_end(bytes[next]) {
        next
    } else {
        from
    }
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
        let at_word = bytes[i..i + WORD.len()].eq_ignore_ascii_case(WORD)
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

/// Programs whose `-pPASSWORD` is a password (MySQL's and MariaDB's clients).
fn takes_attached_password(program: &str) -> bool {
    let base = program.rsplit(['/', '=']).next().unwrap_or(program);
    base.starts_with("mysql") || base.starts_with("mariadb")
}

/// Secrets passed as command-line arguments (see [`redact_text`]).
fn redact_command_args(text: &str) -> Cow<'_, str> {
    if !text.contains(" -") {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut rewrite = Rewrite::new(text);
    let mut attached_password = false;
    // What the previous word asks of this one.
    #[derive(Clone, Copy, PartialEq)]
    enum Wants {
        Nothing,
        Secret,
        UserPassword,
    }
    let mut wants = Wants::Nothing;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let end = bytes[i..]
            .iter()
            .position(u8::is_ascii_whitespace)
            .map_or(bytes.len(), |p| i + p);
        i = end;
        let word = &text[start..end];
        // Quotes around a value stay outside what is redacted.
        let unquoted = {
            let lead = usize::from(word.starts_with(['"', '\'']));
            let trail = usize::from(word.len() > lead && word.ends_with(['"', '\'']));
            start + lead..end - trail
        };
        match std::mem::replace(&mut wants, Wants::Nothing) {
            Wants::Secret if !word.starts_with('-') => {
                rewrite.redact(unquoted);
                continue;
            }
            Wants::UserPassword if !word.starts_with('-') => {
                if let Some(colon) = text[unquoted.clone()].find(':') {
                    rewrite.redact(unquoted.start + colon + 1..unquoted.end);
                }
                continue;
            }
            _ => {}
        }
        if let Some(long) = word.strip_prefix("--") {
            if long == "user" {
                wants = Wants::UserPassword;
            } else if let Some(value) = long.strip_prefix("user=") {
                if let Some(colon) = value.find(':') {
                    rewrite.redact(start + 7 + colon + 1..unquoted.end.max(start + 7 + colon + 1));
                }
            } else if !long.contains('=') && is_secret_name(long) {
                wants = Wants::Secret;
            }
        } else if word == "-u" {
            wants = Wants::UserPassword;
        } else if let Some(password) = word.strip_prefix("-p") {
            if attached_password && !password.is_empty() {
                rewrite.redact(start + 2..unquoted.end.max(start + 2));
            }
        } else if takes_attached_password(word) {
            attached_password = true;
        }
    }
    rewrite.finish()
}

/// A `Cookie` header's pairs with their values replaced (names kept); a part without
/// `=` is a value on its own and is replaced whole.
pub fn redact_cookies(text: &str) -> Cow<'_, str> {
    if text.trim().is_empty() {
        return Cow::Borrowed(text);
    }
    let parts: Vec<String> = text
        .split(';')
        .map(|part| match part.split_once('=') {
            Some((name, _)) => format!("{}={REDACTED}", name.trim()),
            None if part.trim().is_empty() => String::new(),
            None => REDACTED.to_owned(),
        })
        .filter(|p| !p.is_empty())
        .collect();
    let joined = parts.join("; ");
    if joined == text {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(joined)
    }
}

/// A parameter's value that starts at `from`: the bytes it holds and where it ends.
/// A value that opens with a quote (`"`, `'`, or `%22`/`%27`) holds what lies between
/// its quotes, which are kept (`password="[redacted]"`, so that what follows the closing
/// quote never joins the value); an unclosed quote runs to the end. Any other value
/// ends at the next `&`, `;`, `,`, `?`, `#`, quote, `<`, `>` or whitespace.
fn value_span(bytes: &[u8], from: usize) -> (Range<usize>, usize) {
    let rest = &bytes[from..];
    let quote: Option<&[u8]> = match rest {
        [b'"', ..] => Some(b"\""),
        [b'\'', ..] => Some(b"'"),
        [b'%', b'2', b'2', ..] => Some(b"%22"),
        [b'%', b'2', b'7', ..] => Some(b"%27"),
        _ => None,
    };
    if let Some(quote) = quote {
        let body = from + quote.len();
        return match bytes[body..]
            .windows(quote.len())
            .position(|w| w.eq_ignore_ascii_case(quote))
        {
            Some(p) => (body..body + p, body + p + quote.len()),
            None => (body..bytes.len(), bytes.len()),
        };
    }
    let end = rest
        .iter()
        .position(|b| is_value_end(*b))
        .map_or(bytes.len(), |p| from + p);
    (from..end, end)
}

/// A text value (or a list of them) redacted in place: JSON text as JSON, other text
/// by [`redact_text`]. `drop_unreadable`: JSON-looking text that does not parse (cut
/// short) becomes [`REDACTED`]; otherwise only an object does, and text opening with
/// `[` is searched as text.
fn redact_text_value(value: &mut Value, drop_unreadable: bool) -> bool {
    match value {
        Value::String(text) => {
            let trimmed = text.trim_start();
            if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
                return apply(text, redact_text);
            }
            match serde_json::from_str::<Value>(text) {
                Ok(mut doc) => {
                    // A member given twice (`"password":"S","password":null`) is read
                    // with its last value: when the text shows a secret that the value
                    // read does not, the text is written again from what was read.
                    let changed = redact_json(&mut doc, 0);
                    if !changed && matches!(redact_text(text), Cow::Borrowed(_)) {
                        return false;
                    }
                    let written = doc.to_string();
                    if written == *text {
                        return false;
                    }
                    *text = written;
                    true
                }
                Err(_) if drop_unreadable || trimmed.starts_with('{') => {
                    // JSON cut short (a 16 KiB `event.original`): its members cannot be
                    // told apart, so none is kept.
                    let changed = text != REDACTED;
                    *text = REDACTED.to_owned();
                    changed
                }
                Err(_) => apply(text, redact_text),
            }
        }
        Value::Array(items) => items.iter_mut().fold(false, |c, item| {
            redact_text_value(item, drop_unreadable) | c
        }),
        _ => false,
    }
}

/// Walks a JSON document: members by name (secrets whole, cookies by pair, header maps
/// by header), rule messages' matched data whole, every other string by parameter.
fn redact_json(value: &mut Value, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return set_redacted(value);
    }
    match value {
        Value::Object(map) => {
            let mut changed = false;
            for (key, item) in map.iter_mut() {
                changed |= if is_secret_name(key) {
                    set_redacted(item)
                } else if is_cookie_name(key) {
                    redact_cookie_value(item)
                } else if key.eq_ignore_ascii_case("headers") && item.is_object() {
                    item.as_object_mut().is_some_and(redact_headers)
                } else {
                    redact_json(item, depth + 1)
                };
            }
            changed
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |c, item| redact_json(item, depth + 1) | c),
        Value::String(text) => {
            let matched = apply(text, redact_matched_data);
            matched | redact_text_value(value, false)
        }
        _ => false,
    }
}

/// ModSecurity's `Matched Data: … found within ARGS:password: …` quotes the request;
/// everything from `Matched Data:` to the next ` [` (v2's `[file …]`) or the end goes.
fn redact_matched_data(text: &str) -> Cow<'_, str> {
    const MARK: &str = "Matched Data:";
    let Some(at) = text.find(MARK) else {
        return Cow::Borrowed(text);
    };
    let from = at + MARK.len();
    if text[from..].trim_start().starts_with(REDACTED) {
        return Cow::Borrowed(text);
    }
    let end = text[from..].find(" [").map_or(text.len(), |p| from + p);
    Cow::Owned(format!("{} {REDACTED}{}", &text[..from], &text[end..]))
}

/// Header maps: cookies by pair, credentials whole, the rest by parameter.
fn redact_headers(headers: &mut Map<String, Value>) -> bool {
    let mut changed = false;
    for (name, value) in headers.iter_mut() {
        changed |= if is_cookie_name(name) {
            redact_cookie_value(value)
        } else if is_secret_name(name) {
            set_redacted(value)
        } else {
            redact_text_value(value, false)
        };
    }
    changed
}

/// A cookie list (a string or an array of strings) with its values replaced; anything
/// else in a cookie member is replaced whole.
fn redact_cookie_value(value: &mut Value) -> bool {
    match value {
        Value::String(text) => apply(text, redact_cookies),
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |c, item| redact_cookie_value(item) | c),
        Value::Null => false,
        other => set_redacted(other),
    }
}

/// Members named like a secret hold [`REDACTED`] instead of their value; cookie
/// members keep their cookie names.
fn redact_members(map: &mut Map<String, Value>, depth: usize) -> bool {
    let mut changed = false;
    for (key, value) in map.iter_mut() {
        let (cookie, secret) = with_folded(key, |f| {
            (key.len() <= 16 && is_cookie_folded(f), is_secret_folded(f))
        });
        changed |= if cookie {
            redact_cookie_value(value)
        } else if secret || is_secret_by_parts(key) {
            set_redacted(value)
        } else {
            redact_member_value(value, depth + 1)
        };
    }
    changed
}

/// The members of objects in `value`, through arrays of any depth; what lies deeper
/// than [`MAX_DEPTH`] is dropped to [`REDACTED`].
fn redact_member_value(value: &mut Value, depth: usize) -> bool {
    match value {
        Value::Object(_) | Value::Array(_) if depth > MAX_DEPTH => set_redacted(value),
        Value::Object(inner) => redact_members(inner, depth),
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |c, item| redact_member_value(item, depth + 1) | c),
        _ => false,
    }
}

/// `value` replaced by [`REDACTED`] (null stays null); whether it changed.
fn set_redacted(value: &mut Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(text) if text == REDACTED => false,
        other => {
            *other = Value::String(REDACTED.to_owned());
            true
        }
    }
}

fn at_path<'a>(root: &'a mut Map<String, Value>, path: &[&str]) -> Option<&'a mut Value> {
    let (first, rest) = path.split_first()?;
    let mut value = root.get_mut(*first)?;
    for key in rest {
        value = value.get_mut(*key)?;
    }
    Some(value)
}

/// `text` rewritten by `redact` when that changes it; whether it did.
fn apply(text: &mut String, redact: fn(&str) -> Cow<'_, str>) -> bool {
    let new = match redact(text) {
        Cow::Borrowed(_) => return false,
        Cow::Owned(new) => new,
    };
    *text = new;
    true
}

/// A name as compared: lower case, without `_`, `-`, `.` and whitespace.
fn folded(name: &str) -> String {
    if name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return name.to_owned();
    }
    name.chars()
        .filter(|c| !matches!(c, '_' | '-' | '.') && !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// `f(folded(name))`, folded on the stack when `name` is short ASCII (every member
/// name of every kept event is folded: a copy each, and a search of every secret name,
/// was most of what keeping an event cost).
fn with_folded<T>(name: &str, f: impl FnOnce(&str) -> T) -> T {
    const ROOM: usize = 48;
    if name.len() > ROOM || !name.is_ascii() {
        return f(&folded(name));
    }
    let mut buf = [0u8; ROOM];
    let mut len = 0;
    for b in name.bytes() {
        // The ASCII characters `folded` drops: separators and `char::is_whitespace`.
        if matches!(
            b,
            b'_' | b'-' | b'.' | b' ' | b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r'
        ) {
            continue;
        }
        buf[len] = b.to_ascii_lowercase();
        len += 1;
    }
    f(std::str::from_utf8(&buf[..len]).unwrap_or_default())
}

/// `cookie`, `cookies`, `set-cookie`, `cookie2` (any case and separators): cookie lists.
fn is_cookie_name(name: &str) -> bool {
    name.len() <= 16 && with_folded(name, is_cookie_folded)
}

fn is_cookie_folded(folded: &str) -> bool {
    matches!(folded, "cookie" | "cookies" | "setcookie" | "cookie2")
}

/// Whether a member, parameter or header name names a secret. Names compare without
/// case, `_`, `-`, `.` or spaces. A secret name is
///
/// - one of [`SECRET_NAMES`] or [`CREDENTIAL_HEADERS`];
/// - a name holding `password`, `passwd`, `passphrase`, `secret`, `credential`,
///   `privatekey` or `apikey` (`new_password`, `userPassword`, `PGPASSWORD`,
///   `db_secret`, `credentials`), except a fact about a password (`password_last_set`,
///   `password_expires`, `password_policy`, … [`PASSWORD_FACTS`]) and `secretary`;
/// - a name ending in `token`, `tokens`, `pwd`, `sessionid`, `sessionkey`,
///   `assertion` or `accesskey` (`api_token`, `aws_session_token`, `MYSQL_PWD`), so
///   that `token_type` and `token_endpoint` are not;
/// - a name of parts (`db.password`, `user[password]`) with a secret part.
///
/// `code` is not a secret name: FHIR resources are full of `code` members.
pub fn is_secret_name(name: &str) -> bool {
    with_folded(name, is_secret_folded) || is_secret_by_parts(name)
}

/// What follows `password` (or `passwd`, `passphrase`) in the folded names of facts
/// about a password, which are kept.
pub const PASSWORD_FACTS: &[&str] = &[
    "lastset",
    "lastchanged",
    "changed",
    "changedat",
    "expires",
    "expiresat",
    "expired",
    "expiry",
    "expiration",
    "age",
    "policy",
    "length",
    "strength",
    "authentication",
];

/// A name of parts (`a.b`, `a[b]`) with a secret part.
fn is_secret_by_parts(name: &str) -> bool {
    name.contains(['.', '[', ']'])
        && name
            .split(['.', '[', ']'])
            .any(|part| !part.is_empty() && with_folded(part, is_secret_folded))
}

/// Whether a folded name is a secret (see [`is_secret_name`]).
fn is_secret_folded(folded_name: &str) -> bool {
    is_listed_secret(folded_name) || is_secret_family(folded_name)
}

/// Names built on a secret word (see [`is_secret_name`]).
fn is_secret_family(f: &str) -> bool {
    const ENDINGS: &[&str] = &[
        "token",
        "tokens",
        "pwd",
        "sessionid",
        "sessionkey",
        "assertion",
        "accesskey",
    ];
    // Bytes, not `str`: a folded name may hold other letters than ASCII.
    let bytes = f.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        let rest = &bytes[i..];
        let word: &[u8] = match b {
            b'p' if rest.starts_with(b"password") => b"password",
            b'p' if rest.starts_with(b"passwd") => b"passwd",
            b'p' if rest.starts_with(b"passphrase") => b"passphrase",
            b'p' if rest.starts_with(b"privatekey") => return true,
            b's' if rest.starts_with(b"secret") => {
                if rest.starts_with(b"secretar") {
                    continue;
                }
                return true;
            }
            b'c' if rest.starts_with(b"credential") => return true,
            b'a' if rest.starts_with(b"apikey") => return true,
            _ => continue,
        };
        let after = &rest[word.len()..];
        if !PASSWORD_FACTS.iter().any(|fact| fact.as_bytes() == after) {
            return true;
        }
    }
    ENDINGS.iter().any(|e| f.ends_with(e))
}

/// Whether a folded name is one of [`SECRET_NAMES`] or [`CREDENTIAL_HEADERS`].
fn is_listed_secret(folded_name: &str) -> bool {
    // Folded and sorted once: folding every header name on every call was a tenth of
    // `hunt`.
    static NAMES: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
        let mut names: Vec<String> = SECRET_NAMES
            .iter()
            .map(|n| (*n).to_owned())
            .chain(CREDENTIAL_HEADERS.iter().map(|h| folded(h)))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    });
    NAMES
        .binary_search_by(|n| n.as_str().cmp(folded_name))
        .is_ok()
}

/// `%XX` escapes in a parameter name decoded (others kept as they are).
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
            b'?' | b'&' | b';' | b'#' | b'"' | b'\'' | b'{' | b',' | b'(' | b'/' | b'|' | b':'
        )
}

fn is_value_end(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b'&' | b';' | b',' | b'"' | b'\'' | b'#' | b'<' | b'>' | b'?'
        )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    proptest::proptest! {
        /// Redacting what was redacted changes nothing.
        #[test]
        fn text_redaction_is_stable(
            parts in proptest::collection::vec(proptest::prop_oneof![
                proptest::strategy::Just("password"), proptest::strategy::Just("token"),
                proptest::strategy::Just("Authorization"), proptest::strategy::Just("pwd"),
                proptest::strategy::Just("="), proptest::strategy::Just(":"),
                proptest::strategy::Just(" "), proptest::strategy::Just("\""),
                proptest::strategy::Just("'"), proptest::strategy::Just("%3D"),
                proptest::strategy::Just("["), proptest::strategy::Just("]"),
                proptest::strategy::Just("-p"), proptest::strategy::Just("-u"),
                proptest::strategy::Just("--token"), proptest::strategy::Just("mysql"),
                proptest::strategy::Just("://"), proptest::strategy::Just("@"),
                proptest::strategy::Just("Bearer"), proptest::strategy::Just("/"),
                proptest::strategy::Just("&"), proptest::strategy::Just("x1"),
                proptest::strategy::Just("é"), proptest::strategy::Just(REDACTED),
            ], 0..24),
        ) {
            // Whatever the text, redacting what was redacted changes nothing.
            let text = parts.concat();
            let once = redact_text(&text).into_owned();
            proptest::prop_assert_eq!(redact_text(&once), once.as_str());
        }

        /// Folding on the stack gives what `folded` gives, for any name.
        #[test]
        fn names_fold_on_the_stack_as_they_do_on_the_heap(
            name in "[-_. \t\x0B\x0C\r\nA-Za-z0-9éİ]{0,60}",
        ) {
            proptest::prop_assert_eq!(with_folded(&name, str::to_owned), folded(&name));
        }
    }

    #[test]
    fn secret_and_cookie_names_in_any_spelling() {
        for name in [
            "Access_Token",
            "X-API-Key",
            "client-secret",
            "PASSWORD",
            "Authorization",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["Cookie", "set-cookie", "COOKIE2"] {
            assert!(is_cookie_name(name), "{name}");
        }
        for name in [
            "token_type",
            "token_endpoint",
            "user",
            "cookies-policy",
            "password_last_set",
            "PasswordExpires",
            "passwordPolicy",
            "secretary",
            "code",
            "bypass",
            "keyword",
        ] {
            assert!(!is_secret_name(name) && !is_cookie_name(name), "{name}");
        }
    }

    /// The hostile review's names (stop 20): secrets by family, not only by the list.
    #[test]
    fn names_built_on_a_secret_word_are_secrets() {
        for name in [
            "new_password",
            "old_password",
            "current_password",
            "password_confirmation",
            "passphrase",
            "db_password",
            "userPassword",
            "proxy_password",
            "PGPASSWORD",
            "MYSQL_PWD",
            "api_token",
            "session_token",
            "bearer_token",
            "aws_session_token",
            "private_key_jwt",
            "credentials",
            "webhook_secret",
            "Stripe-Api-Key",
            "dotted.password",
            "db.pass",
            "user[password]",
            "a.b.sid",
            "passwords_page_title_x",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn secret_parameters_lose_their_values_and_nothing_else_does() {
        assert_eq!(
            redact_text("GET /cb?code=x&access_token=eyJ.abc&state=1 HTTP/1.1"),
            "GET /cb?code=x&access_token=[redacted]&state=1 HTTP/1.1"
        );
        assert_eq!(
            redact_text("/login;jsessionid=ABC123?Password=hunter2"),
            "/login;jsessionid=[redacted]?Password=[redacted]"
        );
        assert_eq!(
            redact_text("a=1&passwords=2&mysid=3&token_type=bearer"),
            "a=1&passwords=[redacted]&mysid=3&token_type=bearer"
        );
        assert_eq!(redact_text("X-Api-Key=k"), "X-Api-Key=[redacted]");
        assert_eq!(redact_text("api-key=k"), "api-key=[redacted]");
        assert_eq!(redact_text("sid="), "sid=", "an empty value is left");
        assert_eq!(redact_text("no secrets here"), "no secrets here");
        let once = redact_text("token=1&pwd=2").into_owned();
        assert_eq!(redact_text(&once), once, "redacting twice changes nothing");
    }

    /// The hostile review's cases: quoted values, fragments, encoded names and `=`.
    #[test]
    fn quoted_fragment_and_encoded_secrets_are_found() {
        for (text, want) in [
            (
                r#"/cb?q=1&password="S 1"&x=2"#,
                r#"/cb?q=1&password="[redacted]"&x=2"#,
            ),
            ("password='S2' rest", "password='[redacted]' rest"),
            (
                "client_secret=%22S3%22&a=1",
                "client_secret=%22[redacted]%22&a=1",
            ),
            // The fuzzer's case: what follows a closing quote stays apart from the value.
            (r#"B"token="S12"=x"#, r#"B"token="[redacted]"=x"#),
            (r#"token="S13"#, r#"token="[redacted]"#),
            (
                "/cb#access_token=S4&token_type=bearer",
                "/cb#access_token=[redacted]&token_type=bearer",
            ),
            (
                "https://idp/cb#id_token=S5",
                "https://idp/cb#id_token=[redacted]",
            ),
            (
                "/a?access%5Ftoken=S6&b=1",
                "/a?access%5Ftoken=[redacted]&b=1",
            ),
            ("/a?%61ccess_token=S7", "/a?%61ccess_token=[redacted]"),
            ("/a?x=1&password%3DS8", "/a?x=1&password%3D[redacted]"),
            // A value runs on through `/` (base64 tokens hold it): over-redacts a path.
            ("/a;jsessionid=S9/b", "/a;jsessionid=[redacted]"),
            (
                "?token=S10&privateKey=S11",
                "?token=[redacted]&privateKey=[redacted]",
            ),
        ] {
            assert_eq!(redact_text(text), want, "{text}");
            assert_eq!(redact_text(want), want, "idempotent: {want}");
        }
    }

    /// The hostile review's free-text secrets (stop 20), and what must stay.
    #[test]
    fn free_text_secrets_are_found() {
        for (text, want) in [
            ("login password: S1 ok", "login password: [redacted] ok"),
            ("password = S2", "password = [redacted]"),
            (
                "db_password=S3 port=5432",
                "db_password=[redacted] port=5432",
            ),
            (
                "Authorization: Bearer S4.abc",
                "Authorization: Bearer [redacted]",
            ),
            (
                "authorization: Basic dXNlcjpTNQ==",
                "authorization: Basic [redacted]",
            ),
            (
                "sent with bearer eyJhbGciOiJIUzI1NiJ9.S6",
                "sent with bearer [redacted]",
            ),
            (
                "fetch https://user:S7@host/x failed",
                "fetch https://user:[redacted]@host/x failed",
            ),
            (
                "connect postgres://app:S8@db:5432/ehr",
                "connect postgres://app:[redacted]@db:5432/ehr",
            ),
            (
                "curl -s -u admin:S9 https://h/",
                "curl -s -u admin:[redacted] https://h/",
            ),
            (
                "curl --user 'admin:S10' x",
                "curl --user 'admin:[redacted]' x",
            ),
            // `|` does not end a value (a password may hold one): the rest goes too.
            ("a|password=S11|b", "a|password=[redacted]"),
            ("a:password=S12", "a:password=[redacted]"),
            (
                "COMMAND=/usr/bin/mysql -u root -pS13 ehr",
                "COMMAND=/usr/bin/mysql -u root -p[redacted] ehr",
            ),
            (
                "/usr/bin/tool --password=S14 --token S15 -v",
                "/usr/bin/tool --password=[redacted] --token [redacted] -v",
            ),
            (
                "/login?user[password]=S16&user[name]=bob",
                "/login?user[password]=[redacted]&user[name]=bob",
            ),
            (
                "/login?user%5Bpassword%5D=S17",
                "/login?user%5Bpassword%5D=[redacted]",
            ),
            (
                r#"{"a":1,"password":"S18""#,
                r#"{"a":1,"password":"[redacted]""#,
            ),
            ("PGPASSWORD=S19 psql", "PGPASSWORD=[redacted] psql"),
        ] {
            assert_eq!(redact_text(text), want, "{text}");
            assert_eq!(redact_text(want), want, "idempotent: {want}");
        }
        for kept in [
            "bob : TTY=pts/0 ; PWD=/home/bob ; USER=root ; COMMAND=/bin/ls",
            "passwd[4242]: pam_unix(passwd:chauthtok): password changed for bob",
            "Failed password for invalid user admin from 10.0.0.1 port 22 ssh2",
            "missing bearer token",
            "mkdir -p /tmp/x && ssh -p 2222 host",
            "sudo -u root /bin/ls",
            "see https://example.org/a@b and mailto:x@y",
            "token_type=bearer&expires_in=3600",
            "at 12:00:00 token_count=3",
        ] {
            assert_eq!(redact_text(kept), kept);
        }
    }

    /// Secrets nested in arrays of arrays, dotted top-level names, user agents and
    /// command lines, and a JSON line that names a secret twice (stop 20's review).
    #[test]
    fn nested_dotted_and_repeated_secrets_are_redacted() {
        let line =
            r#"{"x":[[{"password":"R1"}]],"dotted.password":"R2","password":"R3","password":null}"#;
        let mut event = json!({
            "event": {"dataset": "json", "original": line},
            "x": [[{"password": "R1"}], [[{"api_token": "R4"}]]],
            "dotted": {"password": "R2"},
            "user_agent": {"original": "bot token=R5"},
            "process": {"command_line": "/usr/bin/mysql -pR6 --password=R7"},
            "error": {"message": "connect postgres://u:R8@db failed"},
        });
        assert!(redact_event(&mut event));
        let text = event.to_string();
        for n in 1..=8 {
            assert!(!text.contains(&format!("R{n}")), "R{n} left in {text}");
        }
        let again = event.clone();
        assert!(!redact_event(&mut event), "{again} became {event}");
        // Text opening with `[` that is not JSON (an Apache error line) is searched as
        // text, not dropped.
        let mut apache = json!({"message": "[error] [client 10.0.0.1] password=R9 bad"});
        assert!(redact_event(&mut apache));
        assert_eq!(
            apache["message"],
            "[error] [client 10.0.0.1] password=[redacted] bad"
        );
    }

    #[test]
    fn json_text_members_and_modsecurity_messages_are_redacted() {
        let line = json!({"url": {"original": "/x"}, "password": "J1",
            "deep": {"a": [{"client_secret": 12345}]}, "Password ": ["J2"],
            "aws_secret_access_key": {"k": "J3"}, "X-Vault-Token": "hvs.J4"});
        let body = json!({"username": "bob", "password": "J5"});
        let modsec = json!({"transaction": {"request": {"body": body.to_string(),
            "headers": {"Authorization ": "Bearer J6", "Cookie2": "a=J7",
                        "X-Goog-Api-Key": "J8"}},
            "messages": [{"details": {"data":
                "Matched Data: J9 found within REQUEST_COOKIES:sid: J9"}}]},
            "audit_data": {"messages": ["Warning. Matched Data: J10 found within \
                ARGS:password: J10 [file \"x.conf\"] [id \"942100\"]"]}});
        let mut event = json!({
            "event": {"dataset": "json", "original": line.to_string()},
            "http": {"request": {"body": {"content": body.to_string()},
                                 "cookies": ["sid=J11"]}},
            "log": {"syslog": {"structured_data": {"meta": {"api_key": ["J12", "J13"]}}}},
        });
        assert!(redact_event(&mut event));
        let mut record = json!({"event": {"dataset": "modsecurity.audit",
                                          "original": modsec.to_string()}});
        assert!(redact_event(&mut record));
        let text = format!("{event} {record}");
        for n in 1..=13 {
            assert!(
                !text.contains(&format!("J{n}\"")) && !text.contains(&format!("J{n} ")),
                "J{n} left in {text}"
            );
        }
        assert!(text.contains("bob"), "{text}");
        assert!(text.contains("942100"), "the rule id stays: {text}");
        let (again_event, again_record) = (event.clone(), record.clone());
        assert!(!redact_event(&mut event), "{again_event} became {event}");
        assert!(!redact_event(&mut record), "{again_record} became {record}");
    }

    #[test]
    fn cookies_keep_names_only() {
        assert_eq!(
            redact_cookies("sid=abc; pref=%3Cscript%3E;orphan"),
            "sid=[redacted]; pref=[redacted]; [redacted]"
        );
        assert_eq!(redact_cookies("a=[redacted]"), "a=[redacted]");
    }

    #[test]
    fn an_event_keeps_no_cookie_token_or_password() {
        let record = json!({"transaction": {"request": {"uri": "/a?access_token=T0K",
            "headers": {"Cookie": "sid=S3SS", "Authorization": "Bearer B34R",
                        "Host": "h"}}}});
        let mut event = json!({
            "event": {"dataset": "modsecurity.audit", "original": record.to_string()},
            "url": {"original": "/a?access_token=T0K", "query": "access_token=T0K"},
            "http": {"request": {"cookies": "sid=S3SS",
                                 "headers": {"cookie": "sid=S3SS", "host": "h"}}},
            "user": {"name": "alice", "password": "P4SS"},
            "items": [{"client_secret": "C5", "Cookie": "k=C6"}],
        });
        assert!(redact_event(&mut event));
        let text = event.to_string();
        for secret in ["T0K", "S3SS", "B34R", "P4SS", "C5", "C6"] {
            assert!(!text.contains(secret), "{secret} left in {text}");
        }
        assert_eq!(event["user"]["name"], "alice");
        assert_eq!(event["http"]["request"]["headers"]["host"], "h");
        assert_eq!(
            event["http"]["request"]["headers"]["cookie"],
            "sid=[redacted]"
        );
        assert_eq!(event["items"][0]["Cookie"], "k=[redacted]");
        assert!(!redact_event(&mut event), "a redacted event stays as it is");

        let mut cut = json!({"event": {"dataset": "modsecurity.audit",
                                       "original": "{\"transaction\":{\"request\":{\"headers\":{\"Cookie\":\"sid=S3"}});
        assert!(redact_event(&mut cut));
        assert_eq!(cut["event"]["original"], REDACTED);
    }
}
