//! The parsed message: what a syslog sender said, field by field.

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone};

use super::error::{Field, SyslogError};

/// Facility names as rsyslog prints them (`%syslogfacility-text%`), by number.
const FACILITY_NAMES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
    "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

/// Severity names as rsyslog prints them (`%syslogseverity-text%`), by number.
const SEVERITY_NAMES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// Which syslog format a message was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// RFC 5424 (`<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG`).
    Rfc5424,
    /// RFC 3164, the BSD format (`<PRI>Mmm dd hh:mm:ss HOSTNAME TAG MSG`), as real
    /// senders write it.
    Rfc3164,
}

impl Protocol {
    /// The RFC's number: 5424 or 3164.
    pub fn number(self) -> u16 {
        match self {
            Protocol::Rfc5424 => 5424,
            Protocol::Rfc3164 => 3164,
        }
    }
}

/// One structured-data element (RFC 5424 §6.3): `[id name="value" ...]`, with the
/// values unescaped (§6.3.3). Names keep their case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdElement {
    /// SD-ID (`name@PEN`, or a name registered with IANA such as `timeQuality`).
    pub id: String,
    /// Parameters in the order received.
    pub params: Vec<(String, String)>,
}

impl SdElement {
    /// The value of the first parameter called `name` (exact case).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An RFC 3164 (BSD) timestamp: `Mmm dd hh:mm:ss`, local time of the sender with no
/// zone and, usually, no year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BsdTime {
    /// The year, when the sender wrote one (`Mmm dd yyyy hh:mm:ss`, as some devices do).
    pub year: Option<i32>,
    /// Month, 1–12.
    pub month: u32,
    /// Day of the month, 1–31.
    pub day: u32,
    /// Hour, 0–23.
    pub hour: u32,
    /// Minute, 0–59.
    pub minute: u32,
    /// Second, 0–60.
    pub second: u32,
}

impl BsdTime {
    /// The instant this names, given the year to assume when the message has none
    /// and the sender's UTC offset (which the message never says). `None` when the date
    /// does not exist (30 February, a leap second).
    pub fn resolve(&self, default_year: i32, offset: FixedOffset) -> Option<DateTime<FixedOffset>> {
        let date =
            NaiveDate::from_ymd_opt(self.year.unwrap_or(default_year), self.month, self.day)?;
        let naive = date.and_hms_opt(self.hour, self.minute, self.second)?;
        offset.from_local_datetime(&naive).single()
    }
}

/// A parsed syslog message.
///
/// Header fields that the message leaves out (RFC 5424's NILVALUE `-`, or parts a
/// BSD message lacks) are `None`. Header text is printable US-ASCII; only the MSG can
/// hold other bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogMessage {
    pub(super) pri: u8,
    pub(super) pri_received: bool,
    pub(super) protocol: Protocol,
    pub(super) timestamp: Option<String>,
    pub(super) datetime: Option<DateTime<FixedOffset>>,
    pub(super) bsd_time: Option<BsdTime>,
    pub(super) hostname: Option<String>,
    pub(super) app_name: Option<String>,
    pub(super) procid: Option<String>,
    pub(super) msgid: Option<String>,
    pub(super) tag: Option<String>,
    pub(super) structured_data: Vec<SdElement>,
    pub(super) msg: Vec<u8>,
}

impl SyslogMessage {
    /// The priority value, `facility * 8 + severity` (0–191). 13 (user.notice) when
    /// the message had no `<PRI>`, as rsyslog assumes.
    pub fn pri(&self) -> u8 {
        self.pri
    }

    /// Whether the message carried a `<PRI>` (`false`: [`pri`](Self::pri) is the
    /// default 13).
    pub fn pri_received(&self) -> bool {
        self.pri_received
    }

    /// Facility number, 0–23.
    pub fn facility(&self) -> u8 {
        self.pri / 8
    }

    /// Severity number, 0 (emergency) to 7 (debug).
    pub fn severity(&self) -> u8 {
        self.pri % 8
    }

    /// Facility name as rsyslog prints it: `kern`, `user`, … `authpriv`, `ftp`, `ntp`,
    /// `audit`, `alert`, `clock`, `local0`–`local7`.
    pub fn facility_name(&self) -> &'static str {
        FACILITY_NAMES
            .get(usize::from(self.facility()))
            .copied()
            .unwrap_or("invld")
    }

    /// Severity name as rsyslog prints it: `emerg`, `alert`, `crit`, `err`,
    /// `warning`, `notice`, `info`, `debug`.
    pub fn severity_name(&self) -> &'static str {
        SEVERITY_NAMES
            .get(usize::from(self.severity()))
            .copied()
            .unwrap_or("invld")
    }

    /// The format the message was written in.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The timestamp exactly as received, when there was one.
    pub fn timestamp(&self) -> Option<&str> {
        self.timestamp.as_deref()
    }

    /// The timestamp as an instant, when the message says one completely: every RFC
    /// 5424 timestamp, and RFC 3339 timestamps in BSD messages. BSD timestamps have no
    /// zone; see [`bsd_time`](Self::bsd_time).
    pub fn datetime(&self) -> Option<DateTime<FixedOffset>> {
        self.datetime
    }

    /// The BSD timestamp (`Mmm dd hh:mm:ss`) of an RFC 3164 message, when it had one.
    pub fn bsd_time(&self) -> Option<BsdTime> {
        self.bsd_time
    }

    /// HOSTNAME, as the sender names itself.
    pub fn hostname(&self) -> Option<&str> {
        self.hostname.as_deref()
    }

    /// APP-NAME (RFC 5424), or the program name taken from the TAG of a BSD message
    /// (`sshd` from `sshd[42]:`), as rsyslog's `programname`.
    pub fn app_name(&self) -> Option<&str> {
        self.app_name.as_deref()
    }

    /// PROCID (RFC 5424), or the process id in brackets in a BSD TAG.
    pub fn procid(&self) -> Option<&str> {
        self.procid.as_deref()
    }

    /// MSGID (RFC 5424 only); IHE ATNA messages carry `IHE+RFC-3881`.
    pub fn msgid(&self) -> Option<&str> {
        self.msgid.as_deref()
    }

    /// The TAG of a BSD message exactly as received, colon included (`sshd[42]:`), as
    /// rsyslog's `syslogtag`. `None` for RFC 5424 messages, which have no TAG.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// Structured data (RFC 5424 only), elements in the order received.
    pub fn structured_data(&self) -> &[SdElement] {
        &self.structured_data
    }

    /// The first structured-data element with this SD-ID.
    pub fn sd_element(&self, id: &str) -> Option<&SdElement> {
        self.structured_data.iter().find(|e| e.id == id)
    }

    /// The MSG as received, without RFC 5424's UTF-8 byte order mark. For a BSD
    /// message this is everything after the TAG, leading space included, as rsyslog's
    /// `msg`.
    pub fn msg_bytes(&self) -> &[u8] {
        &self.msg
    }

    /// The MSG as text.
    ///
    /// # Errors
    /// [`SyslogError::NotUtf8`] when it is not UTF-8 (legacy senders write Latin-1 and
    /// worse); use [`msg_bytes`](Self::msg_bytes) then.
    pub fn msg(&self) -> Result<&str, SyslogError> {
        std::str::from_utf8(&self.msg).map_err(|e| SyslogError::NotUtf8 {
            field: Field::Msg,
            valid_up_to: e.valid_up_to(),
        })
    }
}
