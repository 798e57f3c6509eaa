//! Small scanning helpers shared by the parsers: addresses, numbers, timestamps.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chrono::{FixedOffset, NaiveDate, SecondsFormat, TimeZone, Utc};

use super::event::Event;

/// What an address token in a log line turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Address {
    /// An IP address, in canonical text (IPv4-mapped IPv6 written as IPv4).
    Ip(String),
    /// A host name (letters, digits, `.`, `-`, `_`).
    Domain,
    /// Something else that stands where an address should (kept only as written).
    Other,
}

/// Classifies `token` as an address.
pub(crate) fn classify_address(token: &str) -> Address {
    if token.parse::<Ipv4Addr>().is_ok() {
        // The parser takes only four decimal octets without leading zeros, which is the
        // canonical form: no need to write the address out again.
        return Address::Ip(token.to_owned());
    }
    if token.contains(':') {
        if let Ok(v6) = token.parse::<Ipv6Addr>() {
            let ip = match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(v6),
            };
            return Address::Ip(ip.to_string());
        }
        return Address::Other;
    }
    let hostname = !token.is_empty()
        && token.len() <= 253
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        && token.bytes().any(|b| b.is_ascii_alphabetic());
    if hostname {
        Address::Domain
    } else {
        Address::Other
    }
}

/// Whether `token` can stand as a remote address in an sshd line: an IP address, a
/// host name, or a dotted number (`192.030.0.6`, which sshd prints as received).
pub(crate) fn looks_like_address(token: &str) -> bool {
    match classify_address(token) {
        Address::Ip(_) | Address::Domain => true,
        Address::Other => {
            !token.is_empty()
                && token.len() <= 64
                && token
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || matches!(b, b'.' | b':'))
        }
    }
}

/// Sets `source.address` (as written), and `source.ip` or `source.domain`.
pub(crate) fn set_source(event: &mut Event, token: &str) {
    match classify_address(token) {
        Address::Ip(ip) => {
            event.set("source.ip", ip);
        }
        Address::Domain => {
            event.set("source.domain", token);
        }
        Address::Other => {}
    }
    event.set("source.address", token);
}

/// A decimal number of at most 19 digits, the whole of `text`.
pub(crate) fn parse_u64(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A month abbreviation (`Jan`…`Dec`, any case) as 1–12.
pub(crate) fn month_number(name: &[u8]) -> Option<u32> {
    let index = MONTHS
        .iter()
        .position(|m| name.eq_ignore_ascii_case(m.as_bytes()))?;
    u32::try_from(index + 1).ok()
}

/// Two ASCII digits at `bytes[at..at + 2]`.
pub(crate) fn two_digits(bytes: &[u8], at: usize) -> Option<u32> {
    let pair = bytes.get(at..at + 2)?;
    let (a, b) = (pair.first()?, pair.get(1)?);
    if a.is_ascii_digit() && b.is_ascii_digit() {
        Some(u32::from(a - b'0') * 10 + u32::from(b - b'0'))
    } else {
        None
    }
}

/// C's `ctime` form (`Tue May 10 04:52:04 2022`, the day padded with a space), as
/// libmodsecurity's `time_stamp` and Apache's error log (with microseconds:
/// `09:27:18.813902`) write it, in local time at `offset`; RFC 3339 UTC.
pub(crate) fn ctime(text: &str, offset: FixedOffset) -> Option<String> {
    let mut parts = text.split_whitespace();
    let (_weekday, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    let (clock, year) = (parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let month = month_number(month.as_bytes())?;
    let day = u32::try_from(parse_u64(day)?).ok()?;
    let year = i32::try_from(parse_u64(year)?).ok()?;
    let clock = clock.split_once('.').map_or(clock, |(whole, fraction)| {
        if fraction.bytes().all(|b| b.is_ascii_digit()) {
            whole
        } else {
            ""
        }
    });
    let mut hms = clock
        .split(':')
        .map(|p| parse_u64(p).and_then(|n| u32::try_from(n).ok()));
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if hms.next().is_some() {
        return None;
    }
    let local = NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(h, m, s)?;
    let time = offset.from_local_datetime(&local).single()?;
    Some(
        time.with_timezone(&Utc)
            .to_rfc3339_opts(SecondsFormat::Secs, true),
    )
}

/// `bytes` as text, each invalid UTF-8 sequence replaced by U+FFFD; borrowed when
/// valid. Valid input (nearly every line) is checked by `str::from_utf8`, several times
/// faster than the lossy decoder's own byte loop.
pub(crate) fn utf8_lossy(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// `text` cut to at most `max` bytes at a character boundary.
pub(crate) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_text_is_borrowed_and_invalid_bytes_are_replaced() {
        assert!(matches!(
            utf8_lossy("é ok".as_bytes()),
            std::borrow::Cow::Borrowed("é ok")
        ));
        assert_eq!(utf8_lossy(b"a\xffb\xc3"), "a\u{fffd}b\u{fffd}");
        assert_eq!(utf8_lossy(b""), "");
    }

    #[test]
    fn addresses_are_canonical() {
        assert_eq!(classify_address("1.2.3.4"), Address::Ip("1.2.3.4".into()));
        assert_eq!(
            classify_address("::ffff:1.2.3.4"),
            Address::Ip("1.2.3.4".into())
        );
        assert_eq!(
            classify_address("AAAA:bbbb:cccc:1234:0:0:1:1"),
            Address::Ip("aaaa:bbbb:cccc:1234::1:1".into())
        );
        assert_eq!(classify_address("example.com"), Address::Domain);
        assert_eq!(classify_address("192.030.0.6"), Address::Other);
        assert!(looks_like_address("192.030.0.6"));
        assert!(!looks_like_address("192.0.2.1'"));
        assert_eq!(classify_address("<x>"), Address::Other);
    }

    proptest::proptest! {
        /// An IPv4 address is kept as written only because what parses is canonical.
        #[test]
        fn ipv4_that_parses_is_canonical(token in "[0-9.]{1,16}", n: u32) {
            if let Ok(v4) = token.parse::<Ipv4Addr>() {
                proptest::prop_assert_eq!(v4.to_string(), token.clone());
                proptest::prop_assert_eq!(classify_address(&token), Address::Ip(token));
            }
            let written = Ipv4Addr::from(n).to_string();
            proptest::prop_assert_eq!(classify_address(&written), Address::Ip(written.clone()));
        }
    }

    #[test]
    fn ctime_with_padded_day_fraction_and_offset() {
        let utc = FixedOffset::east_opt(0).expect("offset");
        assert_eq!(
            ctime("Mon May  9 09:41:59 2022", utc).as_deref(),
            Some("2022-05-09T09:41:59Z")
        );
        assert_eq!(
            ctime("Thu Sep 25 09:27:18.813902 2014", utc).as_deref(),
            Some("2014-09-25T09:27:18Z")
        );
        let east = FixedOffset::east_opt(7200).expect("offset");
        assert_eq!(
            ctime("Tue May 10 04:52:04 2022", east).as_deref(),
            Some("2022-05-10T02:52:04Z")
        );
        assert_eq!(ctime("Tue May 10 04:52 2022", utc), None);
        assert_eq!(ctime("Tue Foo 10 04:52:04 2022", utc), None);
        assert_eq!(ctime("Tue May 31 04:52:04 2022 extra", utc), None);
        assert_eq!(ctime("Tue May 10 04:52:04.x1 2022", utc), None);
    }

    #[test]
    fn truncate_keeps_characters_whole() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
