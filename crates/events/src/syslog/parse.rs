//! Parsing one message: RFC 5424 or RFC 3164, told apart by what follows the PRI.

use std::ops::Range;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone};

use super::error::{Field, SdProblem, SyslogError};
use super::message::{BsdTime, Protocol, SdElement, SyslogMessage};

/// The longest message [`parse`] accepts, bytes. IHE ATNA messages (DICOM audit XML)
/// run to a few tens of kilobytes; this leaves room and bounds the work per message.
pub const MAX_MESSAGE_LEN: usize = 256 * 1024;

/// PRI assumed when a message has none: user.notice, as rsyslog does.
const DEFAULT_PRI: u8 = 13;
/// The UTF-8 byte order mark that RFC 5424 §6.4 puts before a UTF-8 MSG.
const BOM: &[u8] = b"\xEF\xBB\xBF";
/// Longest BSD TAG taken as a tag; a longer first word is left in the MSG.
const MAX_TAG_LEN: usize = 256;
/// RFC 5424 §6: HOSTNAME is at most 255 characters (also applied to BSD hostnames).
const MAX_HOSTNAME_LEN: usize = 255;
/// RFC 5424 §6.3: SD-NAME is at most 32 characters.
const MAX_SD_NAME_LEN: usize = 32;
const MONTHS: [&[u8; 3]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

/// Parses one syslog message, RFC 5424 or RFC 3164.
///
/// The format is detected as rsyslog does: `<PRI>1 ` starts RFC 5424, anything else is
/// read as RFC 3164, with PRI 13 when the message has no `<PRI>`. One trailing line
/// feed (or CR LF) is dropped, as rsyslog does by default.
///
/// RFC 5424 messages are checked strictly (header characters and lengths, timestamp,
/// structured data), with one leniency rsyslog also has: spaces between `=` and the
/// opening quote of a parameter value. Unlike rsyslog, a message that starts as RFC
/// 5424 and is malformed is rejected rather than re-read as RFC 3164. RFC 3164 has no
/// grammar to violate: what does not fit is left in the MSG, so only the PRI can fail.
///
/// # Errors
/// A [`SyslogError`] saying what is wrong and where; it never holds message content.
pub fn parse(raw: &[u8]) -> Result<SyslogMessage, SyslogError> {
    if raw.len() > MAX_MESSAGE_LEN {
        return Err(SyslogError::TooLong {
            len: raw.len(),
            max: MAX_MESSAGE_LEN,
        });
    }
    let raw = strip_trailing_lf(raw);
    if raw.is_empty() {
        return Err(SyslogError::Empty);
    }

    let (pri, pri_received, body) = match raw.first() {
        Some(b'<') => {
            let (pri, end) = parse_pri(raw)?;
            (pri, true, end)
        }
        _ => (DEFAULT_PRI, false, 0),
    };
    let mut c = Cursor {
        buf: raw,
        pos: body,
    };
    if pri_received && raw.get(body..body + 2) == Some(b"1 ".as_slice()) {
        c.pos += 2;
        rfc5424(c, pri)
    } else {
        Ok(rfc3164(c, pri, pri_received))
    }
}

fn strip_trailing_lf(raw: &[u8]) -> &[u8] {
    match raw.strip_suffix(b"\n") {
        Some(line) => line.strip_suffix(b"\r").unwrap_or(line),
        None => raw,
    }
}

/// `<` 1*3DIGIT `>`, at most 191; returns the value and where the body starts.
fn parse_pri(raw: &[u8]) -> Result<(u8, usize), SyslogError> {
    let digits = raw
        .iter()
        .skip(1)
        .take(4)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if !(1..=3).contains(&digits) || raw.get(1 + digits) != Some(&b'>') {
        return Err(SyslogError::InvalidPri);
    }
    let value = number(raw, 1..1 + digits).ok_or(SyslogError::InvalidPri)?;
    let pri = u8::try_from(value)
        .ok()
        .filter(|p| *p <= 191)
        .ok_or(SyslogError::InvalidPri)?;
    Ok((pri, 2 + digits))
}

/// A position in the message.
#[derive(Clone, Copy)]
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        if found {
            self.pos += 1;
        }
        found
    }

    fn skip_spaces(&mut self) {
        while self.eat(b' ') {}
    }

    /// The bytes up to the next space (or the end), consumed.
    fn word(&mut self) -> &'a [u8] {
        let rest = self.rest();
        let len = rest.iter().position(|b| *b == b' ').unwrap_or(rest.len());
        self.pos += len;
        rest.get(..len).unwrap_or_default()
    }

    /// `min..=max` ASCII digits, consumed.
    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let len = self
            .rest()
            .iter()
            .take(max)
            .take_while(|b| b.is_ascii_digit())
            .count();
        if len < min {
            return None;
        }
        let value = number(self.buf, self.pos..self.pos + len)?;
        self.pos += len;
        Some(value)
    }
}

/// The decimal number in `bytes[range]`, which must be all digits (at most 9).
fn number(bytes: &[u8], range: Range<usize>) -> Option<u32> {
    let digits = bytes.get(range)?;
    if digits.is_empty() || digits.len() > 9 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
}

fn is_print_ascii(byte: &u8) -> bool {
    (33..=126).contains(byte)
}

fn ascii_string(bytes: &[u8]) -> Option<String> {
    std::str::from_utf8(bytes).ok().map(str::to_owned)
}

// ---------------------------------------------------------------- RFC 5424

fn rfc5424(mut c: Cursor<'_>, pri: u8) -> Result<SyslogMessage, SyslogError> {
    let ts_offset = c.pos;
    let timestamp = header_field(&mut c, Field::Timestamp, 32, Field::Hostname)?;
    let datetime = match &timestamp {
        Some(text) => Some(
            parse_rfc3339(text.as_bytes())
                .ok_or(SyslogError::InvalidTimestamp { offset: ts_offset })?,
        ),
        None => None,
    };
    let hostname = header_field(&mut c, Field::Hostname, MAX_HOSTNAME_LEN, Field::AppName)?;
    let app_name = header_field(&mut c, Field::AppName, 48, Field::ProcId)?;
    let procid = header_field(&mut c, Field::ProcId, 128, Field::MsgId)?;
    let msgid = header_field(&mut c, Field::MsgId, 32, Field::StructuredData)?;
    let structured_data = structured_data(&mut c)?;

    let msg = match c.peek() {
        None => Vec::new(),
        Some(b' ') => {
            let rest = c.rest().get(1..).unwrap_or_default();
            rest.strip_prefix(BOM).unwrap_or(rest).to_vec()
        }
        Some(_) => return Err(sd_error(&c, SdProblem::MissingSpaceBeforeMsg)),
    };
    Ok(SyslogMessage {
        pri,
        pri_received: true,
        protocol: Protocol::Rfc5424,
        timestamp,
        datetime,
        bsd_time: None,
        hostname,
        app_name,
        procid,
        msgid,
        tag: None,
        structured_data,
        msg,
    })
}

/// One header field (1*`max` PRINTUSASCII, `-` for none) and the space after it.
fn header_field(
    c: &mut Cursor<'_>,
    field: Field,
    max: usize,
    next: Field,
) -> Result<Option<String>, SyslogError> {
    let offset = c.pos;
    if c.peek().is_none() {
        return Err(SyslogError::MissingField { field, offset });
    }
    let word = c.word();
    if word.is_empty() || !word.iter().all(is_print_ascii) {
        return Err(SyslogError::InvalidField { field, offset });
    }
    if word.len() > max {
        return Err(SyslogError::FieldTooLong { field, max });
    }
    if !c.eat(b' ') {
        return Err(SyslogError::MissingField {
            field: next,
            offset: c.pos,
        });
    }
    if word == b"-" {
        return Ok(None);
    }
    ascii_string(word)
        .map(Some)
        .ok_or(SyslogError::InvalidField { field, offset })
}

fn sd_error(c: &Cursor<'_>, problem: SdProblem) -> SyslogError {
    SyslogError::StructuredData {
        offset: c.pos,
        problem,
    }
}

/// STRUCTURED-DATA = NILVALUE / 1*SD-ELEMENT (RFC 5424 §6.3).
fn structured_data(c: &mut Cursor<'_>) -> Result<Vec<SdElement>, SyslogError> {
    match c.peek() {
        None => {
            return Err(SyslogError::MissingField {
                field: Field::StructuredData,
                offset: c.pos,
            });
        }
        Some(b'-') => {
            c.pos += 1;
            return Ok(Vec::new());
        }
        Some(b'[') => {}
        Some(_) => return Err(sd_error(c, SdProblem::ExpectedElement)),
    }
    let mut elements = Vec::new();
    while c.eat(b'[') {
        elements.push(sd_element(c)?);
    }
    Ok(elements)
}

/// SD-ELEMENT after its `[`: SD-ID *(SP SD-PARAM) `]`.
fn sd_element(c: &mut Cursor<'_>) -> Result<SdElement, SyslogError> {
    let id = sd_name(c)?;
    let mut params = Vec::new();
    loop {
        match c.peek() {
            None => return Err(sd_error(c, SdProblem::UnterminatedElement)),
            Some(b']') => {
                c.pos += 1;
                return Ok(SdElement { id, params });
            }
            Some(b' ') => {
                c.skip_spaces();
                params.push(sd_param(c)?);
            }
            Some(_) => return Err(sd_error(c, SdProblem::InvalidNameChar)),
        }
    }
}

fn is_sd_name_char(byte: &u8) -> bool {
    is_print_ascii(byte) && !matches!(byte, b'=' | b']' | b'"')
}

/// SD-NAME = 1*32PRINTUSASCII except `=`, SP, `]`, `"`.
fn sd_name(c: &mut Cursor<'_>) -> Result<String, SyslogError> {
    let rest = c.rest();
    let len = rest
        .iter()
        .position(|b| !is_sd_name_char(b))
        .unwrap_or(rest.len());
    if len == rest.len() {
        c.pos += len;
        return Err(sd_error(c, SdProblem::UnterminatedElement));
    }
    if len == 0 {
        let problem = match c.peek() {
            Some(b' ' | b'=' | b']' | b'"') => SdProblem::EmptyName,
            _ => SdProblem::InvalidNameChar,
        };
        return Err(sd_error(c, problem));
    }
    if len > MAX_SD_NAME_LEN {
        return Err(sd_error(c, SdProblem::NameTooLong));
    }
    let name = ascii_string(rest.get(..len).unwrap_or_default())
        .ok_or_else(|| sd_error(c, SdProblem::InvalidNameChar))?;
    c.pos += len;
    Ok(name)
}

/// SD-PARAM = PARAM-NAME `=` `"` PARAM-VALUE `"`, the value unescaped (§6.3.3).
fn sd_param(c: &mut Cursor<'_>) -> Result<(String, String), SyslogError> {
    let name = sd_name(c)?;
    match c.peek() {
        Some(b'=') => c.pos += 1,
        Some(b' ' | b']' | b'"') => return Err(sd_error(c, SdProblem::MissingEquals)),
        None => return Err(sd_error(c, SdProblem::UnterminatedElement)),
        Some(_) => return Err(sd_error(c, SdProblem::InvalidNameChar)),
    }
    // Not in RFC 5424's grammar, but rsyslog accepts `name= "value"` (its test
    // parsertest-parse1 has one) and nothing else can be meant.
    c.skip_spaces();
    match c.peek() {
        Some(b'"') => c.pos += 1,
        None => return Err(sd_error(c, SdProblem::UnterminatedElement)),
        Some(_) => return Err(sd_error(c, SdProblem::MissingQuote)),
    }

    let value_start = *c;
    let mut value = Vec::new();
    loop {
        match c.peek() {
            None => return Err(sd_error(c, SdProblem::UnterminatedValue)),
            Some(b'"') => break,
            Some(b'\\') => {
                c.pos += 1;
                // §6.3.3: `\"`, `\\`, `\]` are escapes; a backslash before anything
                // else is an ordinary backslash, and the next byte is read as usual.
                match c.peek() {
                    Some(escaped @ (b'"' | b'\\' | b']')) => {
                        value.push(escaped);
                        c.pos += 1;
                    }
                    _ => value.push(b'\\'),
                }
            }
            Some(byte) => {
                value.push(byte);
                c.pos += 1;
            }
        }
    }
    c.pos += 1;
    let value =
        String::from_utf8(value).map_err(|_| sd_error(&value_start, SdProblem::ValueNotUtf8))?;
    Ok((name, value))
}

/// An RFC 3339 date-time as RFC 5424 §6.2.3 restricts it: upper-case `T` and `Z`, at
/// most six fraction digits, no leap second.
fn parse_rfc3339(s: &[u8]) -> Option<DateTime<FixedOffset>> {
    let sep = |i: usize, b: u8| (s.get(i) == Some(&b)).then_some(());
    let year = number(s, 0..4)?;
    sep(4, b'-')?;
    let month = number(s, 5..7)?;
    sep(7, b'-')?;
    let day = number(s, 8..10)?;
    sep(10, b'T')?;
    let hour = number(s, 11..13)?;
    sep(13, b':')?;
    let minute = number(s, 14..16)?;
    sep(16, b':')?;
    let second = number(s, 17..19)?;

    let mut c = Cursor { buf: s, pos: 19 };
    let mut nanos = 0;
    if c.eat(b'.') {
        let start = c.pos;
        let fraction = c.digits(1, 6)?;
        let scale = 10u32.pow(u32::try_from(9 - (c.pos - start)).ok()?);
        nanos = fraction * scale;
    }
    let offset_seconds = match c.peek()? {
        b'Z' => {
            c.pos += 1;
            0
        }
        sign @ (b'+' | b'-') => {
            let (h, m) = (
                number(s, c.pos + 1..c.pos + 3)?,
                number(s, c.pos + 4..c.pos + 6)?,
            );
            sep(c.pos + 3, b':')?;
            if h > 23 || m > 59 {
                return None;
            }
            c.pos += 6;
            let seconds = i32::try_from(h * 3600 + m * 60).ok()?;
            if sign == b'-' { -seconds } else { seconds }
        }
        _ => return None,
    };
    if c.pos != s.len() {
        return None;
    }

    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    let offset = FixedOffset::east_opt(offset_seconds)?;
    offset.from_local_datetime(&date.and_time(time)).single()
}

// ---------------------------------------------------------------- RFC 3164

fn rfc3164(mut c: Cursor<'_>, pri: u8, pri_received: bool) -> SyslogMessage {
    let mut message = SyslogMessage {
        pri,
        pri_received,
        protocol: Protocol::Rfc3164,
        timestamp: None,
        datetime: None,
        bsd_time: None,
        hostname: None,
        app_name: None,
        procid: None,
        msgid: None,
        tag: None,
        structured_data: Vec::new(),
        msg: Vec::new(),
    };

    // rsyslog accepts spaces between the PRI and the timestamp.
    let mut t = c;
    t.skip_spaces();
    if let Some((text, bsd_time, datetime)) = read_timestamp(&mut t) {
        (message.timestamp, message.bsd_time, message.datetime) = (Some(text), bsd_time, datetime);
        c = t;
        c.eat(b' ');
        // RFC 3164 §4.3.2: without a timestamp the whole is CONTENT, so a hostname is
        // only looked for after one.
        let mut h = c;
        let word = h.word();
        if is_hostname(word) {
            message.hostname = ascii_string(word);
            c = h;
            c.eat(b' ');
        }
    }

    let rest = c.rest();
    let end = rest
        .iter()
        .position(|b| matches!(b, b' ' | b':'))
        .unwrap_or(rest.len());
    let tag_len = if rest.get(end) == Some(&b':') {
        end + 1
    } else {
        end
    };
    let tag = rest.get(..tag_len).unwrap_or_default();
    if tag_len == 0 || tag_len > MAX_TAG_LEN || !tag.iter().all(is_print_ascii) {
        message.msg = rest.to_vec();
        return message;
    }
    let tag = ascii_string(tag).unwrap_or_default();
    (message.app_name, message.procid) = split_tag(&tag);
    message.tag = Some(tag);
    message.msg = rest.get(tag_len..).unwrap_or_default().to_vec();
    message
}

/// A BSD or RFC 3339 timestamp: its text, and what it says.
type Timestamp = (String, Option<BsdTime>, Option<DateTime<FixedOffset>>);

/// Reads a BSD or RFC 3339 timestamp, which must be followed by a space or the end.
fn read_timestamp(c: &mut Cursor<'_>) -> Option<Timestamp> {
    let start = c.pos;
    let mut t = *c;
    let (bsd, datetime) = match bsd_time(&mut t) {
        Some(bsd) => (Some(bsd), None),
        None => {
            t = *c;
            (None, Some(parse_rfc3339(t.word())?))
        }
    };
    let text = ascii_string(c.buf.get(start..t.pos)?)?;
    // Some senders (Cisco) end the timestamp with a colon.
    t.eat(b':');
    matches!(t.peek(), None | Some(b' ')).then_some(())?;
    *c = t;
    Some((text, bsd, datetime))
}

/// `Mmm dd hh:mm:ss`, also `Mmm d`, upper-case months and a year before the time
/// (`Mmm dd yyyy hh:mm:ss`), as rsyslog accepts.
fn bsd_time(c: &mut Cursor<'_>) -> Option<BsdTime> {
    let name = c.rest().get(..3)?;
    let month = MONTHS
        .iter()
        .position(|m| name.eq_ignore_ascii_case(m.as_slice()))?;
    c.pos += 3;
    if !c.eat(b' ') {
        return None;
    }
    c.skip_spaces();
    let day = c.digits(1, 2)?;
    if !c.eat(b' ') {
        return None;
    }
    let mut year = None;
    if c.rest().get(4) == Some(&b' ') {
        year = Some(i32::try_from(c.digits(4, 4)?).ok()?);
        c.pos += 1;
    }
    let hour = c.digits(2, 2)?;
    c.eat(b':').then_some(())?;
    let minute = c.digits(2, 2)?;
    c.eat(b':').then_some(())?;
    let second = c.digits(2, 2)?;

    let valid = (1..=31).contains(&day) && hour < 24 && minute < 60 && second <= 60;
    valid.then_some(BsdTime {
        year,
        month: u32::try_from(month).ok()? + 1,
        day,
        hour,
        minute,
        second,
    })
}

/// A BSD HOSTNAME: a name or an address. A word ending in `:` or holding `[` is a TAG.
fn is_hostname(word: &[u8]) -> bool {
    !word.is_empty()
        && word.len() <= MAX_HOSTNAME_LEN
        && word.last() != Some(&b':')
        && word
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
}

/// `name[pid]:` into its program name and process id, as rsyslog's `programname`.
fn split_tag(tag: &str) -> (Option<String>, Option<String>) {
    let name_end = tag.find(['[', ':']).unwrap_or(tag.len());
    let name = tag
        .get(..name_end)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    let procid = tag
        .get(name_end..)
        .and_then(|r| r.strip_prefix('['))
        .and_then(|r| r.split_once(']'))
        .filter(|(pid, after)| !pid.is_empty() && matches!(*after, "" | ":"))
        .map(|(pid, _)| pid.to_owned());
    (name, procid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOM_STR: &str = "\u{feff}";

    fn ok(raw: &str) -> SyslogMessage {
        parse(raw.as_bytes()).unwrap_or_else(|e| panic!("{raw:?}: {e}"))
    }

    fn err(raw: &[u8]) -> SyslogError {
        match parse(raw) {
            Ok(m) => panic!("{:?} parsed: {m:?}", String::from_utf8_lossy(raw)),
            Err(e) => e,
        }
    }

    // RFC 5424 §6.5, example 1 (with a real BOM before the MSG).
    #[test]
    fn rfc5424_example_1_no_structured_data() {
        let m = ok(&format!(
            "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \
             {BOM_STR}'su root' failed for lonvick on /dev/pts/8"
        ));
        assert_eq!(m.protocol(), Protocol::Rfc5424);
        assert_eq!((m.pri(), m.facility(), m.severity()), (34, 4, 2));
        assert_eq!((m.facility_name(), m.severity_name()), ("auth", "crit"));
        assert_eq!(m.timestamp(), Some("2003-10-11T22:14:15.003Z"));
        let expected = DateTime::parse_from_rfc3339("2003-10-11T22:14:15.003Z").ok();
        assert_eq!(m.datetime(), expected);
        assert_eq!(m.hostname(), Some("mymachine.example.com"));
        assert_eq!(m.app_name(), Some("su"));
        assert_eq!(m.procid(), None);
        assert_eq!(m.msgid(), Some("ID47"));
        assert!(m.structured_data().is_empty());
        assert_eq!(
            m.msg(),
            Ok("'su root' failed for lonvick on /dev/pts/8"),
            "BOM stripped"
        );
    }

    // RFC 5424 §6.5, example 2.
    #[test]
    fn rfc5424_example_2_microseconds_and_offset() {
        let m = ok(
            "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - \
                    %% It's time to make the do-nuts.",
        );
        let dt = m.datetime().expect("timestamp");
        assert_eq!(dt.to_rfc3339(), "2003-08-24T05:14:15.000003-07:00");
        assert_eq!((m.facility_name(), m.severity_name()), ("local4", "notice"));
        assert_eq!(m.procid(), Some("8710"));
        assert_eq!(m.msgid(), None);
        assert_eq!(m.msg(), Ok("%% It's time to make the do-nuts."));
    }

    // RFC 5424 §6.5, examples 3 and 4.
    #[test]
    fn rfc5424_examples_3_and_4_structured_data() {
        let m = ok(&format!(
            "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 \
             [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] \
             {BOM_STR}An application event log entry..."
        ));
        let sd = m.sd_element("exampleSDID@32473").expect("element");
        assert_eq!(sd.param("iut"), Some("3"));
        assert_eq!(sd.param("eventSource"), Some("Application"));
        assert_eq!(sd.param("eventID"), Some("1011"));
        assert_eq!(m.msg(), Ok("An application event log entry..."));

        let m = ok(
            "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 \
                    [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]\
                    [examplePriority@32473 class=\"high\"]",
        );
        assert_eq!(m.structured_data().len(), 2);
        assert_eq!(m.structured_data()[1].param("class"), Some("high"));
        assert_eq!(m.msg_bytes(), b"");
    }

    // RFC 5424 §6.2.3.1: the timestamp examples, valid and invalid.
    #[test]
    fn rfc5424_timestamp_examples() {
        for valid in [
            "1985-04-12T23:20:50.52Z",
            "1985-04-12T19:20:50.52-04:00",
            "2003-10-11T22:14:15.003Z",
            "2003-08-24T05:14:15.000003-07:00",
        ] {
            assert!(parse_rfc3339(valid.as_bytes()).is_some(), "{valid}");
        }
        // Invalid per §6.2.3.1 example 5: more than six fraction digits.
        assert_eq!(parse_rfc3339(b"2003-08-24T05:14:15.000000003-07:00"), None);
        // §6.2.3: upper-case T and Z, no leap second, an offset is required.
        for invalid in [
            "2003-10-11t22:14:15Z",
            "2003-10-11T22:14:15z",
            "2003-10-11T22:14:15",
            "2016-12-31T23:59:60Z",
            "2003-02-30T22:14:15Z",
            "2003-10-11T22:14:15+24:00",
            "2003-10-11T22:14:15.Z",
        ] {
            assert_eq!(parse_rfc3339(invalid.as_bytes()), None, "{invalid}");
        }
        let raw = b"<34>1 2003-10-11T22:14:15 host app - - - x";
        assert_eq!(err(raw), SyslogError::InvalidTimestamp { offset: 6 });
    }

    // RFC 5424 §6.3.3: `\"`, `\\`, `\]` are escapes; other backslashes stay.
    #[test]
    fn sd_values_are_unescaped() {
        let m = ok(r#"<13>1 - - - - - [x@32473 a="q\"b\\s\]e" b="C:\dir"]"#);
        let sd = m.sd_element("x@32473").expect("element");
        assert_eq!(sd.param("a"), Some(r#"q"b\s]e"#));
        assert_eq!(sd.param("b"), Some(r"C:\dir"));
    }

    #[test]
    fn malformed_structured_data_is_a_structured_data_error() {
        let cases: [(&str, SdProblem); 10] = [
            ("x", SdProblem::ExpectedElement),
            ("[]", SdProblem::EmptyName),
            ("[id a]", SdProblem::MissingEquals),
            ("[id a=]", SdProblem::MissingQuote),
            ("[id a=\"x", SdProblem::UnterminatedValue),
            ("[id a=\"x\"", SdProblem::UnterminatedElement),
            ("[id a=\"x\"]x", SdProblem::MissingSpaceBeforeMsg),
            ("[id a\u{e9}=\"x\"]", SdProblem::InvalidNameChar),
            (
                "[abcdefghijabcdefghijabcdefghijabc]",
                SdProblem::NameTooLong,
            ),
            ("[id a=\"\u{0}\"][", SdProblem::UnterminatedElement),
        ];
        for (sd, problem) in cases {
            let raw = format!("<13>1 - - - - - {sd}");
            match err(raw.as_bytes()) {
                SyslogError::StructuredData { problem: got, .. } => {
                    assert_eq!(got, problem, "{sd:?}")
                }
                other => panic!("{sd:?}: {other}"),
            }
        }
        let e = err(b"<13>1 - - - - - [id a=\"\xff\"]");
        assert!(matches!(
            e,
            SyslogError::StructuredData {
                problem: SdProblem::ValueNotUtf8,
                ..
            }
        ));
    }

    #[test]
    fn rfc5424_header_errors_name_the_field() {
        assert_eq!(
            err(b"<13>1 - host"),
            SyslogError::MissingField {
                field: Field::AppName,
                offset: 12
            }
        );
        assert_eq!(
            err(b"<13>1 - ho\x01st app - - -"),
            SyslogError::InvalidField {
                field: Field::Hostname,
                offset: 8
            }
        );
        let long_app = format!("<13>1 - h {} - - -", "a".repeat(49));
        assert_eq!(
            err(long_app.as_bytes()),
            SyslogError::FieldTooLong {
                field: Field::AppName,
                max: 48
            }
        );
        assert_eq!(
            err(b"<13>1 - - - - -"),
            SyslogError::MissingField {
                field: Field::StructuredData,
                offset: 15
            }
        );
    }

    #[test]
    fn pri_is_checked_or_defaulted() {
        assert_eq!(err(b"<192>1 - - - - - -"), SyslogError::InvalidPri);
        assert_eq!(err(b"<>x"), SyslogError::InvalidPri);
        assert_eq!(err(b"<1234>x"), SyslogError::InvalidPri);
        assert_eq!(err(b"<13"), SyslogError::InvalidPri);
        assert_eq!(err(b""), SyslogError::Empty);
        assert_eq!(err(b"\r\n"), SyslogError::Empty);
        let m = ok("<191>x");
        assert_eq!((m.facility_name(), m.severity_name()), ("local7", "debug"));
        let m = ok("no pri at all");
        assert_eq!((m.pri(), m.pri_received()), (13, false));
        assert_eq!((m.facility_name(), m.severity_name()), ("user", "notice"));
    }

    #[test]
    fn msg_may_be_bytes_and_says_so_when_asked_for_text() {
        let m = parse(b"<13>1 - - - - - - caf\xe9").expect("parses");
        assert_eq!(m.msg_bytes(), b"caf\xe9");
        assert_eq!(
            m.msg(),
            Err(SyslogError::NotUtf8 {
                field: Field::Msg,
                valid_up_to: 3
            })
        );
        let text = m.msg().unwrap_err().to_string();
        assert!(!text.contains("caf"), "errors never echo content: {text}");
    }

    #[test]
    fn one_trailing_newline_is_dropped() {
        assert_eq!(ok("<13>1 - - - - - - hi\r\n").msg(), Ok("hi"));
        assert_eq!(
            ok("<13>Oct 11 22:14:15 host app: hi\n\n").msg(),
            Ok(" hi\n")
        );
    }

    #[test]
    fn too_long_is_refused_before_reading() {
        let raw = vec![b'a'; MAX_MESSAGE_LEN + 1];
        assert_eq!(
            err(&raw),
            SyslogError::TooLong {
                len: MAX_MESSAGE_LEN + 1,
                max: MAX_MESSAGE_LEN
            }
        );
    }

    // RFC 3164 §5.4, example 1 (also in rsyslog's tests).
    #[test]
    fn rfc3164_example_1() {
        let m = ok("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8");
        assert_eq!(m.protocol(), Protocol::Rfc3164);
        assert_eq!(m.timestamp(), Some("Oct 11 22:14:15"));
        let bsd = m.bsd_time().expect("BSD time");
        assert_eq!((bsd.year, bsd.month, bsd.day), (None, 10, 11));
        let offset = FixedOffset::east_opt(0).expect("UTC");
        let resolved = bsd.resolve(2003, offset).map(|t| t.to_rfc3339());
        assert_eq!(resolved.as_deref(), Some("2003-10-11T22:14:15+00:00"));
        assert_eq!(m.datetime(), None, "a BSD timestamp has no zone");
        assert_eq!(m.hostname(), Some("mymachine"));
        assert_eq!(
            (m.tag(), m.app_name(), m.procid()),
            (Some("su:"), Some("su"), None)
        );
        assert_eq!(m.msg(), Ok(" 'su root' failed for lonvick on /dev/pts/8"));
    }

    #[test]
    fn rfc3164_tag_with_pid_and_missing_hostname() {
        let m = ok("<38>Feb  8 04:02:01 sshd[4242]: Failed password for root");
        assert_eq!(m.hostname(), None, "a word ending in ':' is a TAG");
        assert_eq!(m.tag(), Some("sshd[4242]:"));
        assert_eq!((m.app_name(), m.procid()), (Some("sshd"), Some("4242")));
        let m = ok("<13>no timestamp here");
        assert_eq!(
            (m.timestamp(), m.hostname(), m.tag()),
            (None, None, Some("no"))
        );
        assert_eq!(m.msg(), Ok(" timestamp here"));
    }
}
