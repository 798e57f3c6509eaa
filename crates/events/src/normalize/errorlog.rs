//! Web server error logs: Apache httpd's `ErrorLog` and nginx's `error_log`, read far
//! enough to carry the client, the time, the severity, the message and (nginx) the
//! request, so that rules on requests and on server complaints can use them.
//!
//! - Apache 2.4: `[Thu Sep 25 09:27:18.813902 2014] [cgi:error] [pid 16860] [client
//!   89.207.132.76:59635] AH01215: message`; Apache 2.2: `[Thu Sep 25 09:27:18 2014]
//!   [error] [client 1.2.3.4] message`.
//! - nginx: `2015/01/21 10:56:10 [error] 2833#0: *16336 message, client: 5.7.9.2,
//!   server: localhost, request: "GET /x HTTP/1.1", host: "example.org"`, also behind a
//!   journal export's `host nginx[2833]: ` prefix.

use chrono::{FixedOffset, NaiveDate, Offset, SecondsFormat, TimeZone, Utc};

use super::access::{quoted, request_fields};
use super::event::Event;
use super::sshd::mark;
use super::text::{Address, classify_address, ctime, parse_u64, set_source, two_digits};

/// Fills `event` from an Apache or nginx error-log line; `false` (event untouched)
/// when `line` is neither.
pub(crate) fn parse(line: &str, offset: FixedOffset, event: &mut Event) -> bool {
    if line.starts_with('[') {
        apache(line, offset, event)
    } else {
        nginx(line, offset, event)
    }
}

/// Whether `line` is an error-log line (for format detection).
pub(crate) fn looks_like_error_log(line: &str) -> bool {
    let mut scratch = Event::new();
    parse(line, Utc.fix(), &mut scratch)
}

fn apache(line: &str, offset: FixedOffset, event: &mut Event) -> bool {
    let Some((time, mut rest)) = line.strip_prefix('[').and_then(|l| l.split_once("] ")) else {
        return false;
    };
    let Some(timestamp) = ctime(time, offset) else {
        return false;
    };
    let mut level = None;
    let mut pid = None;
    let mut client = None;
    while let Some(inner) = rest.strip_prefix('[') {
        let Some((field, after)) = inner.split_once(']') else {
            break;
        };
        if let Some(p) = field.strip_prefix("pid ") {
            pid = parse_u64(p.split(':').next().unwrap_or_default());
        } else if let Some(c) = field.strip_prefix("client ") {
            client = Some(c);
        } else if field.starts_with("remote ") {
            // The peer when a proxy stands between; the client is what rules want.
        } else if level.is_none() && !field.contains(' ') {
            level = Some(field.rsplit(':').next().unwrap_or(field));
        } else {
            break;
        }
        rest = after.trim_start();
    }
    let Some(level) = level else {
        return false;
    };
    event.set("event.dataset", "apache.error");
    event.set("@timestamp", timestamp);
    event.set("log.level", level);
    if let Some(pid) = pid {
        event.set("process.pid", pid);
    }
    if let Some(client) = client {
        set_client(event, client);
    }
    event.set("message", rest);
    mark(event, "web_server_error", "web", "error", "unknown");
    true
}

/// `ADDR:PORT` (IPv4, bracketed or bare IPv6) or a bare address.
fn set_client(event: &mut Event, client: &str) {
    let client = client.trim();
    if let Some((addr, port)) = client.rsplit_once(':') {
        let addr = addr.trim_start_matches('[').trim_end_matches(']');
        if let (Address::Ip(_), Some(port)) = (classify_address(addr), parse_u64(port)) {
            set_source(event, addr);
            event.set("source.port", port);
            return;
        }
    }
    set_source(event, client);
}

fn nginx(line: &str, offset: FixedOffset, event: &mut Event) -> bool {
    let line = strip_journal_prefix(line);
    let Some(timestamp) = nginx_time(line, offset) else {
        return false;
    };
    let Some((level, rest)) = line
        .get(20..)
        .and_then(|r| r.strip_prefix('['))
        .and_then(|r| r.split_once("] "))
    else {
        return false;
    };
    let Some((pid, rest)) = rest.split_once('#') else {
        return false;
    };
    let Some(pid) = parse_u64(pid) else {
        return false;
    };
    let rest = rest.split_once(": ").map_or("", |(_, r)| r);
    let rest = match rest.strip_prefix('*') {
        Some(r) => r.split_once(' ').map_or("", |(_, r)| r),
        None => rest,
    };
    event.set("event.dataset", "nginx.error");
    event.set("@timestamp", timestamp);
    event.set("log.level", level);
    event.set("process.pid", pid);
    let (message, context) = match rest.find(", client: ") {
        Some(at) => (
            rest.get(..at).unwrap_or(rest),
            rest.get(at + 2..).unwrap_or(""),
        ),
        None => (rest, ""),
    };
    event.set("message", message);
    nginx_context(context, event);
    mark(event, "web_server_error", "web", "error", "unknown");
    true
}

/// A journal export's `HOST nginx[PID]: ` before the nginx line.
fn strip_journal_prefix(line: &str) -> &str {
    let mut words = line.splitn(3, ' ');
    match (words.next(), words.next(), words.next()) {
        (Some(_host), Some(tag), Some(rest)) if tag.ends_with("]:") && tag.contains('[') => rest,
        _ => line,
    }
}

/// `2015/01/21 10:56:10` in local time at `offset`.
fn nginx_time(line: &str, offset: FixedOffset) -> Option<String> {
    let b = line.as_bytes();
    let year = i32::try_from(parse_u64(line.get(..4)?)?).ok()?;
    let (month, day) = (two_digits(b, 5)?, two_digits(b, 8)?);
    let (hour, minute, second) = (two_digits(b, 11)?, two_digits(b, 14)?, two_digits(b, 17)?);
    let separators = [
        (4, b'/'),
        (7, b'/'),
        (10, b' '),
        (13, b':'),
        (16, b':'),
        (19, b' '),
    ];
    if separators.iter().any(|(at, c)| b.get(*at) != Some(c)) {
        return None;
    }
    let local = NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(hour, minute, second)?;
    let time = offset.from_local_datetime(&local).single()?;
    Some(
        time.with_timezone(&Utc)
            .to_rfc3339_opts(SecondsFormat::Secs, true),
    )
}

/// `client: A, server: S, request: "…", upstream: "…", host: "…", referrer: "…"`.
fn nginx_context(mut context: &str, event: &mut Event) {
    while let Some((name, rest)) = context.split_once(": ") {
        let (value, rest) = match rest.strip_prefix('"') {
            Some(text) => match quoted(text) {
                Some((value, rest)) => (value, rest),
                None => return,
            },
            None => rest.split_once(", ").map_or((rest, ""), |(v, r)| (v, r)),
        };
        match name {
            "client" => set_source(event, value),
            "server" => event.set_nonempty("server.domain", value),
            "request" => request_fields(value, event),
            "host" => event.set_nonempty("url.domain", value),
            "referrer" => event.set_nonempty("http.request.referrer", value),
            _ => {}
        }
        context = rest.trim_start_matches(',').trim_start();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> FixedOffset {
        FixedOffset::east_opt(0).expect("offset")
    }

    #[test]
    fn apache_24_line() {
        let mut e = Event::new();
        let line = "[Thu Sep 25 09:27:18.813902 2014] [cgi:error] [pid 16860] [client \
                    89.207.132.76:59635] AH01215: /bin/bash: warning: HTTP_TEST: ignoring \
                    function definition attempt";
        assert!(parse(line, utc(), &mut e));
        assert_eq!(e.get_str("event.dataset"), Some("apache.error"));
        assert_eq!(e.get_str("source.ip"), Some("89.207.132.76"));
        assert_eq!(e.get("source.port"), Some(&59635.into()));
        assert_eq!(e.get_str("log.level"), Some("error"));
        assert_eq!(e.get_str("@timestamp"), Some("2014-09-25T09:27:18Z"));
        assert!(
            e.get_str("message")
                .is_some_and(|m| m.starts_with("AH01215: /bin/bash"))
        );
    }

    #[test]
    fn apache_22_line_and_ipv6_client() {
        let mut e = Event::new();
        let line = "[Wed Oct 11 14:32:52 2000] [error] [client 2001:db8::7] File does not \
                    exist: /var/www/wp-login.php";
        assert!(parse(line, utc(), &mut e));
        assert_eq!(e.get_str("source.ip"), Some("2001:db8::7"));
        assert_eq!(
            e.get_str("message"),
            Some("File does not exist: /var/www/wp-login.php")
        );
    }

    #[test]
    fn nginx_line_with_request_and_journal_prefix() {
        for line in [
            "2015/01/21 10:56:10 [error] 2833#0: *16336 open() \"/var/www/cgi-bin/php4\" \
             failed (2: No such file or directory), client: 5.7.9.2, server: localhost, \
             request: \"GET /cgi-bin/php4?a=1 HTTP/1.1\", host: \"1.2.3.4\"",
            "web1 nginx[2833]: 2015/01/21 10:56:10 [error] 2833#0: *16336 open() \
             \"/var/www/cgi-bin/php4\" failed (2: No such file or directory), client: \
             5.7.9.2, server: localhost, request: \"GET /cgi-bin/php4?a=1 HTTP/1.1\", \
             host: \"1.2.3.4\"",
        ] {
            let mut e = Event::new();
            assert!(parse(line, utc(), &mut e), "{line}");
            assert_eq!(e.get_str("event.dataset"), Some("nginx.error"));
            assert_eq!(e.get_str("source.ip"), Some("5.7.9.2"));
            assert_eq!(e.get_str("url.path"), Some("/cgi-bin/php4"));
            assert_eq!(e.get_str("url.decoded"), Some("/cgi-bin/php4?a=1"));
            assert_eq!(e.get_str("http.request.method"), Some("GET"));
            assert_eq!(e.get_str("url.domain"), Some("1.2.3.4"));
            assert_eq!(e.get_str("@timestamp"), Some("2015-01-21T10:56:10Z"));
            assert_eq!(
                e.get_str("message"),
                Some("open() \"/var/www/cgi-bin/php4\" failed (2: No such file or directory)")
            );
        }
    }

    #[test]
    fn other_lines_are_not_error_logs() {
        for line in [
            "[not a time] [error] x",
            "[Thu Sep 25 09:27:18 2014] no level",
            "2015/01/21 10:56:10 error 2833#0: x",
            "2015/13/21 10:56:10 [error] 2833#0: x",
            "Jan 21 10:56:10 host sshd[1]: Accepted",
            "",
        ] {
            assert!(!looks_like_error_log(line), "{line}");
        }
    }
}
