//! Web server access logs: the Common and Combined Log Formats that Apache httpd and
//! nginx write by default (`HOST IDENT USER [TIME] "REQUEST" STATUS BYTES["REFERER"
//! "AGENT"]`), with the request target split and percent-decoded for detection.

use chrono::{FixedOffset, NaiveDate, SecondsFormat, TimeZone, Utc};

use super::event::Event;
use super::sshd::mark;
use super::text::{month_number, parse_u64, set_source, two_digits};

/// Rounds of percent-decoding for `url.decoded`: enough for double and triple encoding,
/// bounded so a crafted `%252525…` costs little.
const MAX_DECODE_ROUNDS: usize = 3;

/// Fills `event` from one access-log line; `Err` says why it is not one.
pub(crate) fn parse(
    line: &str,
    dataset: &'static str,
    event: &mut Event,
) -> Result<(), &'static str> {
    let line = unwrap_quotes(line);
    let (client, rest) = line.split_once(' ').ok_or("no client address")?;
    let (_ident, rest) = rest.split_once(' ').ok_or("no identity field")?;
    let (user, rest) = rest.split_once(" [").ok_or("no [time]")?;
    let (time, rest) = rest.split_once("] ").ok_or("unterminated [time]")?;
    let rest = rest.strip_prefix('"').ok_or("no quoted request")?;
    let (request, rest) = quoted(rest).ok_or("unterminated request")?;
    let rest = rest.trim_start();
    let (status, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let status = parse_u64(status)
        .filter(|s| (100..=999).contains(s))
        .ok_or("bad status")?;
    let (bytes, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    if bytes != "-" && parse_u64(bytes).is_none() {
        return Err("bad byte count");
    }

    event.set("event.dataset", dataset);
    set_source(event, client);
    if user != "-" && !user.is_empty() {
        event.set("user.name", user);
    }
    if let Some(ts) = access_time(time) {
        event.set("@timestamp", ts);
    }
    request_fields(&unescape(request), event);
    event.set("http.response.status_code", status);
    if let Some(n) = parse_u64(bytes) {
        event.set("http.response.body.bytes", n);
    }
    let rest = rest.trim_start();
    if let Some(rest) = rest.strip_prefix('"')
        && let Some((referrer, rest)) = quoted(rest)
    {
        if referrer != "-" && !referrer.is_empty() {
            event.set("http.request.referrer", unescape(referrer));
        }
        if let Some(rest) = rest.trim_start().strip_prefix('"')
            && let Some((agent, _)) = quoted(rest)
            && agent != "-"
            && !agent.is_empty()
        {
            event.set("user_agent.original", unescape(agent));
        }
    }
    let outcome = if status >= 400 { "failure" } else { "success" };
    mark(event, "http_request", "web", "access", outcome);
    Ok(())
}

/// Some collections wrap every line in an extra pair of double quotes.
fn unwrap_quotes(line: &str) -> &str {
    match line.strip_prefix('"').and_then(|l| l.strip_suffix('"')) {
        Some(inner) if !inner.starts_with('"') => inner,
        _ => line,
    }
}

/// The text up to the closing `"` (a `\"` does not close), and what follows it.
pub(crate) fn quoted(text: &str) -> Option<(&str, &str)> {
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(offset) = bytes
        .get(at..)?
        .iter()
        .position(|b| matches!(b, b'"' | b'\\'))
    {
        at += offset;
        if bytes.get(at) == Some(&b'\\') {
            at += 2;
            continue;
        }
        return Some((text.get(..at)?, text.get(at + 1..)?));
    }
    None
}

/// Apache's escapes in logged strings (`\"`, `\\`, `\xHH`) undone; others kept.
fn unescape(text: &str) -> String {
    if !text.contains('\\') {
        return text.to_owned();
    }
    let mut out = Vec::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match (b, bytes.get(i + 1)) {
            (b'\\', Some(&c @ (b'"' | b'\\'))) => {
                out.push(c);
                i += 2;
            }
            (b'\\', Some(b'x')) => match (hex(bytes.get(i + 2)), hex(bytes.get(i + 3))) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 4;
                }
                _ => {
                    out.push(b);
                    i += 1;
                }
            },
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `METHOD TARGET PROTOCOL`; anything else is kept as the target alone.
pub(crate) fn request_fields(request: &str, event: &mut Event) {
    let mut parts = request.splitn(3, ' ');
    let (method, target, protocol) = (parts.next(), parts.next(), parts.next());
    let (Some(method), Some(target)) = (method, target) else {
        event.set_nonempty("url.original", request);
        return;
    };
    if !method.bytes().all(|b| b.is_ascii_alphabetic()) || method.is_empty() {
        event.set("url.original", request);
        return;
    }
    event.set("http.request.method", method);
    if let Some(version) = protocol.and_then(|p| p.strip_prefix("HTTP/")) {
        event.set("http.version", version);
    }
    url_fields(target, event);
}

/// `url.original`, `url.path`, `url.query`, `url.decoded`, `url.double_encoded`.
pub(crate) fn url_fields(target: &str, event: &mut Event) {
    event.set("url.original", target);
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    event.set("url.path", path);
    if let Some(query) = query {
        event.set("url.query", query);
    }
    let (decoded, rounds) = decode_url(path, query);
    event.set("url.decoded", decoded);
    event.set("url.double_encoded", rounds >= 2);
}

/// Percent-decodes path and query until neither changes, at most three rounds (`+` is
/// a space in the query). Returns the text (invalid UTF-8 replaced) and how many
/// rounds changed something.
pub fn decode_url(path: &str, query: Option<&str>) -> (String, usize) {
    let mut path = path.as_bytes().to_vec();
    let mut query = query.map(|q| q.as_bytes().to_vec());
    let mut rounds = 0;
    for _ in 0..MAX_DECODE_ROUNDS {
        let new_path = percent_decode(&path, false);
        let new_query = query.as_deref().map(|q| percent_decode(q, true));
        if new_path == path && new_query == query {
            break;
        }
        rounds += 1;
        path = new_path;
        query = new_query;
    }
    let mut out = String::from_utf8_lossy(&path).into_owned();
    if let Some(query) = query {
        out.push('?');
        out.push_str(&String::from_utf8_lossy(&query));
    }
    (out, rounds)
}

/// A form body or a header value percent-decoded like a query string (`+` is a space),
/// until stable, at most three rounds.
pub(crate) fn decode_form(text: &str) -> String {
    let (decoded, _) = decode_url("", Some(text));
    decoded
        .strip_prefix('?')
        .map(str::to_owned)
        .unwrap_or(decoded)
}

fn percent_decode(input: &[u8], plus_is_space: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        if b == b'%'
            && let (Some(h), Some(l)) = (hex(input.get(i + 1)), hex(input.get(i + 2)))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(if plus_is_space && b == b'+' { b' ' } else { b });
        i += 1;
    }
    out
}

fn hex(byte: Option<&u8>) -> Option<u8> {
    let b = *byte?;
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `17/May/2015:10:05:03 +0000` as RFC 3339 UTC.
pub(crate) fn access_time(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let day = two_digits(b, 0)?;
    let month = month_number(b.get(3..6)?)?;
    let year = b.get(7..11)?.iter().try_fold(0i32, |n, d| {
        d.is_ascii_digit().then(|| n * 10 + i32::from(d - b'0'))
    })?;
    let (hour, minute, second) = (two_digits(b, 12)?, two_digits(b, 15)?, two_digits(b, 18)?);
    let separators = [
        (2, b'/'),
        (6, b'/'),
        (11, b':'),
        (14, b':'),
        (17, b':'),
        (20, b' '),
    ];
    if separators.iter().any(|(at, c)| b.get(*at) != Some(c)) || b.len() != 26 {
        return None;
    }
    let sign = match b.get(21)? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let offset = sign * i32::try_from(two_digits(b, 22)? * 3600 + two_digits(b, 24)? * 60).ok()?;
    let local = NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(hour, minute, second)?;
    let time = FixedOffset::east_opt(offset)?
        .from_local_datetime(&local)
        .single()?;
    Some(
        time.with_timezone(&Utc)
            .to_rfc3339_opts(SecondsFormat::Secs, true),
    )
}

/// Whether `line` looks like an access-log line (for format detection).
pub(crate) fn looks_like_access(line: &str) -> bool {
    let mut scratch = Event::new();
    parse(line, "apache.access", &mut scratch).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_rounds() {
        assert_eq!(decode_url("/a%20b", None), ("/a b".to_owned(), 1));
        assert_eq!(
            decode_url("/%2527", Some("q=a+b")),
            ("/'?q=a b".to_owned(), 2)
        );
        assert_eq!(decode_url("/plain", None), ("/plain".to_owned(), 0));
        assert_eq!(decode_url("/%25252525", None).1, 3);
        assert_eq!(decode_url("/%ff%fe", None).0, "/\u{fffd}\u{fffd}");
        assert_eq!(decode_url("/%zz%", None).0, "/%zz%");
    }

    #[test]
    fn time_and_quotes() {
        assert_eq!(
            access_time("22/Dec/2016:15:19:05 +0300").as_deref(),
            Some("2016-12-22T12:19:05Z")
        );
        assert_eq!(access_time("22/Dec/2016:15:19:05"), None);
        assert_eq!(
            quoted(r#"a \"b\" c" rest"#),
            Some((r#"a \"b\" c"#, " rest"))
        );
        assert_eq!(quoted("abc\\"), None);
        assert_eq!(unescape(r#"a\"b\x41\\"#), "a\"bA\\");
    }
}
