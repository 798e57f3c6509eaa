//! Syslog-file lines: the header (`Dec 10 06:55:46 LabSZ sshd[24200]: `, an RFC 3339
//! timestamp instead of the BSD one, an optional `<PRI>`, or a whole RFC 5424 header)
//! cut off the message, with no copy of the message for BSD lines.

use std::borrow::Cow;
use std::cell::RefCell;

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, TimeZone, Timelike, Utc};

use super::Options;
use super::text::{month_number, parse_u64, two_digits};
use crate::syslog;

/// The header of one syslog line and the message after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header<'a> {
    /// RFC 3339 UTC time, when the line had a timestamp that names a real instant.
    pub timestamp: Option<String>,
    /// The sender's host name.
    pub host: Option<Cow<'a, str>>,
    /// The program (TAG without pid, or RFC 5424 APP-NAME).
    pub program: Option<Cow<'a, str>>,
    /// The process id, when numeric.
    pub pid: Option<u64>,
    /// The priority value, when the line had `<PRI>`.
    pub priority: Option<u8>,
    /// The message after the header.
    pub msg: Cow<'a, str>,
}

/// Reads the header of a syslog-file line; `None` when the line does not start like
/// one (no timestamp after an optional `<PRI>`).
pub(crate) fn parse_header<'a>(line: &'a str, options: &Options) -> Option<Header<'a>> {
    let (priority, rest) = split_pri(line);
    if priority.is_some() && rest.starts_with("1 ") {
        return rfc5424(line, options);
    }
    let rest = rest.trim_start_matches(' ');
    let (timestamp, rest) = timestamp(rest, options)?;
    let rest = rest.trim_start_matches(' ');
    let (host, rest) = host(rest);
    let (program, pid, msg) = tag(rest);
    Some(Header {
        timestamp,
        host: host.map(Cow::Borrowed),
        program: program.map(Cow::Borrowed),
        pid,
        priority,
        msg: Cow::Borrowed(msg),
    })
}

/// `<PRI>` (1–3 digits, at most 191) and the rest; no PRI when it does not parse.
fn split_pri(line: &str) -> (Option<u8>, &str) {
    let Some(after) = line.strip_prefix('<') else {
        return (None, line);
    };
    let Some((digits, rest)) = after.split_once('>') else {
        return (None, line);
    };
    match parse_u64(digits) {
        Some(pri) if digits.len() <= 3 && pri <= 191 => (u8::try_from(pri).ok(), rest),
        _ => (None, line),
    }
}

/// The month and day a syslog-file line's BSD timestamp names (after an optional
/// `<PRI>`), without reading the rest of the line; `None` for any other line. What
/// [`super::Years`] follows from line to line.
pub(crate) fn bsd_month_day(line: &[u8]) -> Option<(u32, u32)> {
    let mut rest = line;
    if rest.first() == Some(&b'<') {
        // `<PRI>` as `split_pri` takes it: one to three digits.
        let close = rest.iter().take(5).position(|b| *b == b'>')?;
        if close < 2 || !rest[1..close].iter().all(u8::is_ascii_digit) {
            return None;
        }
        rest = &rest[close + 1..];
    }
    let start = rest.iter().position(|b| *b != b' ')?;
    month_day(&rest[start..]).map(|(month, day, _)| (month, day))
}

/// `Mmm dd ` or `Mmm  d ` at the start of `bytes`: month, day and where the space
/// after the day is.
fn month_day(bytes: &[u8]) -> Option<(u32, u32, usize)> {
    let month = month_number(bytes.get(..3)?)?;
    if bytes.get(3) != Some(&b' ') {
        return None;
    }
    let mut at = 4;
    if bytes.get(at) == Some(&b' ') {
        at += 1;
    }
    let day_len = bytes
        .get(at..)?
        .iter()
        .take(3)
        .take_while(|b| b.is_ascii_digit())
        .count();
    let day = match day_len {
        1 => u32::from(bytes.get(at)? - b'0'),
        2 => two_digits(bytes, at)?,
        _ => return None,
    };
    at += day_len;
    if bytes.get(at) != Some(&b' ') {
        return None;
    }
    Some((month, day, at))
}

/// The timestamp (BSD `Mmm dd hh:mm:ss`, or RFC 3339) and the rest of the line.
/// A BSD time that names no real date (30 February) gives `None` as the time but
/// still counts as a header.
fn timestamp<'a>(text: &'a str, options: &Options) -> Option<(Option<String>, &'a str)> {
    let bytes = text.as_bytes();
    if bytes.first().is_some_and(u8::is_ascii_digit) {
        let (word, rest) = text.split_once(' ').unwrap_or((text, ""));
        let time = DateTime::parse_from_rfc3339(word).ok()?;
        let utc = time.with_timezone(&Utc);
        return Some((Some(utc.to_rfc3339_opts(SecondsFormat::AutoSi, true)), rest));
    }
    let (month, day, at) = month_day(bytes)?;
    let hms = at + 1;
    let (hour, minute, second) = (
        two_digits(bytes, hms)?,
        two_digits(bytes, hms + 3)?,
        two_digits(bytes, hms + 6)?,
    );
    if bytes.get(hms + 2) != Some(&b':') || bytes.get(hms + 5) != Some(&b':') {
        return None;
    }
    let end = hms + 8;
    let rest = match bytes.get(end) {
        None => "",
        Some(b' ') => text.get(end + 1..)?,
        Some(_) => return None,
    };
    let when = bsd_instant(options, month, day, (hour, minute, second));
    Some((when, rest))
}

/// A BSD time as [`bsd_instant`] reads it: reference year, offset, month, day, time.
type BsdTime = (i32, i32, u32, u32, (u32, u32, u32));

thread_local! {
    /// The last BSD time converted on this thread and its text: a log's lines come
    /// many to a second, and the conversion and formatting were a few percent of a hunt.
    static LAST_BSD: RefCell<Option<(BsdTime, Option<String>)>> = const { RefCell::new(None) };
}

/// The RFC 3339 UTC text for a BSD time in the reference year and offset.
fn bsd_instant(options: &Options, month: u32, day: u32, hms: (u32, u32, u32)) -> Option<String> {
    let key = (options.year, options.utc_offset_seconds, month, day, hms);
    LAST_BSD.with_borrow_mut(|last| match last {
        Some((seen, text)) if *seen == key => text.clone(),
        _ => {
            let text = convert_bsd(options, month, day, hms);
            *last = Some((key, text.clone()));
            text
        }
    })
}

fn convert_bsd(options: &Options, month: u32, day: u32, hms: (u32, u32, u32)) -> Option<String> {
    let date = NaiveDate::from_ymd_opt(options.year, month, day)?;
    let local = date.and_hms_opt(hms.0, hms.1, hms.2)?;
    let utc = options
        .utc_offset()
        .from_local_datetime(&local)
        .single()?
        .with_timezone(&Utc);
    let year = utc.year();
    let Ok(year @ 0..=9999) = u32::try_from(year) else {
        return Some(format!(
            "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            utc.month(),
            utc.day(),
            utc.hour(),
            utc.minute(),
            utc.second()
        ));
    };
    // By hand: `format!` with six padded numbers was most of a line's header.
    let mut text = String::with_capacity(20);
    push_digits(&mut text, year, 4);
    for (separator, n) in [
        ('-', utc.month()),
        ('-', utc.day()),
        ('T', utc.hour()),
        (':', utc.minute()),
        (':', utc.second()),
    ] {
        text.push(separator);
        push_digits(&mut text, n, 2);
    }
    text.push('Z');
    Some(text)
}

/// The last `width` decimal digits of `n`, zero-padded.
fn push_digits(text: &mut String, n: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = n / 10u32.pow(place) % 10;
        text.push(char::from(b'0' + u8::try_from(digit).unwrap_or(0)));
    }
}

/// The host name, unless the next word is already the TAG (`sshd[1]:`, `[sshd]`,
/// `sshd:`), as when the sender leaves its name out.
fn host(text: &str) -> (Option<&str>, &str) {
    let (word, rest) = text.split_once(' ').unwrap_or((text, ""));
    let is_tag = word.ends_with(':') || word.starts_with('[') || word.ends_with(']');
    if word.is_empty() || is_tag || rest.is_empty() {
        return (None, text);
    }
    (Some(word), rest.trim_start_matches(' '))
}

/// The TAG (`prog[pid]:`, `prog:`, `[prog]:`, `[prog]`) and the message after it.
/// A first word that is none of these is left in the message.
fn tag(text: &str) -> (Option<&str>, Option<u64>, &str) {
    let (word, rest) = text.split_once(' ').unwrap_or((text, ""));
    let (word, had_colon) = match word.strip_suffix(':') {
        Some(w) => (w, true),
        None => (word, false),
    };
    if let Some(inner) = word.strip_prefix('[').and_then(|w| w.strip_suffix(']'))
        && !inner.is_empty()
        && !inner.contains(['[', ']'])
    {
        return (Some(inner), None, rest);
    }
    if !had_colon || word.is_empty() || word.len() > 64 {
        return (None, None, text);
    }
    match word.split_once('[') {
        Some((program, pid)) => {
            let pid = pid.strip_suffix(']').and_then(parse_u64);
            if program.is_empty() {
                return (None, None, text);
            }
            (Some(program), pid, rest)
        }
        None => (Some(word), None, rest),
    }
}

/// An RFC 5424 line through the strict parser in [`crate::syslog`].
fn rfc5424<'a>(line: &'a str, options: &Options) -> Option<Header<'a>> {
    let _ = options;
    let message = syslog::parse(line.as_bytes()).ok()?;
    let timestamp = message.datetime().map(|t| {
        t.with_timezone(&Utc)
            .to_rfc3339_opts(SecondsFormat::AutoSi, true)
    });
    let msg = super::text::utf8_lossy(message.msg_bytes()).into_owned();
    Some(Header {
        timestamp,
        host: message.hostname().map(|h| Cow::Owned(h.to_owned())),
        program: message.app_name().map(|p| Cow::Owned(p.to_owned())),
        pid: message.procid().and_then(parse_u64),
        priority: Some(message.pri()),
        msg: Cow::Owned(msg),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> Options {
        Options {
            year: 2026,
            ..Options::default()
        }
    }

    /// The hand-written text is chrono's RFC 3339 text, across offsets that move the
    /// day, month and year; years past 9999 keep the padded form.
    #[test]
    fn bsd_times_are_written_as_chrono_writes_them() {
        for (year, offset) in [(2026, 0), (2026, 14 * 3600), (1, -12 * 3600), (9999, 0)] {
            let options = Options {
                year,
                utc_offset_seconds: offset,
                ..Options::default()
            };
            for (month, day, hms) in [
                (1, 1, (0, 0, 0)),
                (12, 31, (23, 59, 59)),
                (2, 28, (9, 5, 7)),
            ] {
                let local = NaiveDate::from_ymd_opt(year, month, day)
                    .and_then(|d| d.and_hms_opt(hms.0, hms.1, hms.2))
                    .expect("a valid time");
                let expected = options
                    .utc_offset()
                    .from_local_datetime(&local)
                    .single()
                    .map(|t| {
                        t.with_timezone(&Utc)
                            .to_rfc3339_opts(SecondsFormat::Secs, true)
                    });
                assert_eq!(
                    convert_bsd(&options, month, day, hms),
                    expected,
                    "{year} {offset}"
                );
            }
        }
        let far = Options {
            year: 12026,
            ..Options::default()
        };
        assert_eq!(
            convert_bsd(&far, 3, 4, (5, 6, 7)).as_deref(),
            Some("12026-03-04T05:06:07Z")
        );
    }

    /// The one-entry cache gives what the conversion gives, whatever came before it.
    #[test]
    fn repeated_bsd_times_read_alike() {
        let lines = [
            (
                "Dec 10 06:55:46 h p: x",
                2026,
                0,
                Some("2026-12-10T06:55:46Z"),
            ),
            (
                "Dec 10 06:55:46 h p: y",
                2026,
                0,
                Some("2026-12-10T06:55:46Z"),
            ),
            (
                "Dec 10 06:55:46 h p: y",
                2025,
                0,
                Some("2025-12-10T06:55:46Z"),
            ),
            (
                "Dec 10 06:55:46 h p: y",
                2025,
                3600,
                Some("2025-12-10T05:55:46Z"),
            ),
            ("Feb 29 00:00:00 h p: y", 2025, 3600, None),
            (
                "Feb 29 00:00:00 h p: y",
                2024,
                3600,
                Some("2024-02-28T23:00:00Z"),
            ),
            (
                "Dec 10 06:55:47 h p: z",
                2026,
                0,
                Some("2026-12-10T06:55:47Z"),
            ),
        ];
        for (line, year, utc_offset_seconds, want) in lines {
            let options = Options {
                year,
                utc_offset_seconds,
                ..Options::default()
            };
            let h = parse_header(line, &options).expect("header");
            assert_eq!(
                h.timestamp.as_deref(),
                want,
                "{line} in {year} at {utc_offset_seconds}"
            );
        }
    }

    #[test]
    fn bsd_line() {
        let h = parse_header("Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user x", &opts());
        let h = h.expect("header");
        assert_eq!(h.timestamp.as_deref(), Some("2026-12-10T06:55:46Z"));
        assert_eq!(h.host.as_deref(), Some("LabSZ"));
        assert_eq!(h.program.as_deref(), Some("sshd"));
        assert_eq!(h.pid, Some(24200));
        assert_eq!(h.msg, "Invalid user x");
    }

    #[test]
    fn missing_host_and_bracket_tags() {
        let h = parse_header("Nov 23 21:50:19 sshd[8148]: Disconnecting", &opts()).expect("h");
        assert_eq!((h.host, h.program.as_deref()), (None, Some("sshd")));
        let h = parse_header("Mar  3 00:17:22 [sshd]: User root", &opts()).expect("h");
        assert_eq!((h.program.as_deref(), &*h.msg), (Some("sshd"), "User root"));
        let h = parse_header("Jun 25 23:53:34 [sshd] User root", &opts()).expect("h");
        assert_eq!((h.program.as_deref(), &*h.msg), (Some("sshd"), "User root"));
        let h = parse_header("Feb 7 16:01:07 linux sshd[5106]: x", &opts()).expect("h");
        assert_eq!(h.timestamp.as_deref(), Some("2026-02-07T16:01:07Z"));
    }

    #[test]
    fn iso_and_pri_and_5424() {
        let h = parse_header(
            "2015-04-16T18:02:50.321974+02:00 host sshd[2716]: pam_unix(sshd:auth): x",
            &opts(),
        )
        .expect("h");
        assert_eq!(h.timestamp.as_deref(), Some("2015-04-16T16:02:50.321974Z"));
        let h = parse_header("<38>Feb  5 01:02:03 h su: y", &opts()).expect("h");
        assert_eq!((h.priority, h.program.as_deref()), (Some(38), Some("su")));
        let h = parse_header(
            "<38>1 2019-07-08T17:40:16.954167-04:00 host.example sshd 57915 - - Failed x",
            &opts(),
        )
        .expect("h");
        assert_eq!(h.timestamp.as_deref(), Some("2019-07-08T21:40:16.954167Z"));
        assert_eq!((h.pid, &*h.msg), (Some(57915), "Failed x"));
        assert!(parse_header("hello world", &opts()).is_none());
        assert_eq!(
            parse_header("Feb 30 01:02:03 h p: m", &opts()).and_then(|h| h.timestamp),
            None
        );
    }
}
