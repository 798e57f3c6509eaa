//! Building RFC 5424 syslog messages and their RFC 5425/6587 octet-counted frames.

/// Facility `authpriv` (10): security/authorization messages, as IHE ATNA uses.
pub const FACILITY_AUTHPRIV: u8 = 10;
/// Private enterprise number used in structured-data ids (`webqx@32473` uses the
/// documentation PEN from RFC 5612 until WebQx has its own).
pub const SD_ID: &str = "webqx@32473";

/// One structured-data element: `[id name="value" ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdElement {
    /// SD-ID (`name@pen` or an IANA-registered name).
    pub id: String,
    /// Parameters in order.
    pub params: Vec<(String, String)>,
}

/// The parts of a message. Empty header fields become the NILVALUE `-`.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    /// Facility 0–23.
    pub facility: u8,
    /// Severity 0–7.
    pub severity: u8,
    /// RFC 3339 timestamp (empty for none).
    pub timestamp: &'a str,
    /// Sending host.
    pub hostname: &'a str,
    /// APP-NAME.
    pub app_name: &'a str,
    /// PROCID.
    pub procid: &'a str,
    /// MSGID.
    pub msgid: &'a str,
    /// Structured data.
    pub structured_data: &'a [SdElement],
    /// Free-form message (UTF-8).
    pub msg: &'a str,
}

/// Renders the message. Header fields are limited to printable US-ASCII without spaces
/// and cut to RFC 5424's lengths (other characters become `_`); parameter values are
/// escaped (`\`, `"`, `]`).
pub fn format(m: &Message<'_>) -> String {
    let pri = u32::from(m.facility.min(23)) * 8 + u32::from(m.severity.min(7));
    let mut out = format!(
        "<{pri}>1 {} {} {} {} {} ",
        header_field(m.timestamp, 64),
        header_field(m.hostname, 255),
        header_field(m.app_name, 48),
        header_field(m.procid, 128),
        header_field(m.msgid, 32),
    );
    if m.structured_data.is_empty() {
        out.push('-');
    }
    for element in m.structured_data {
        out.push('[');
        out.push_str(&sd_name(&element.id));
        for (name, value) in &element.params {
            out.push(' ');
            out.push_str(&sd_name(name));
            out.push_str("=\"");
            out.push_str(&escape_param_value(value));
            out.push('"');
        }
        out.push(']');
    }
    if !m.msg.is_empty() {
        out.push(' ');
        out.push_str(m.msg);
    }
    out
}

/// Escapes a structured-data parameter value (RFC 5424 §6.3.3): `"`, `\` and `]` get a
/// backslash.
pub fn escape_param_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// An octet-counted frame (RFC 5425 §4.3, RFC 6587 §3.4.1): `LEN SP MSG`, where LEN
/// counts bytes.
pub fn octet_counted(msg: &str) -> Vec<u8> {
    let mut frame = format!("{} ", msg.len()).into_bytes();
    frame.extend_from_slice(msg.as_bytes());
    frame
}

fn header_field(value: &str, max: usize) -> String {
    if value.is_empty() {
        return "-".into();
    }
    value
        .chars()
        .take(max)
        .map(|c| if ('!'..='~').contains(&c) { c } else { '_' })
        .collect()
}

fn sd_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .filter(|c| ('!'..='~').contains(c) && !matches!(c, '=' | ']' | '"'))
        .take(32)
        .collect();
    if cleaned.is_empty() {
        "_".into()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc5424_example_shape() {
        let sd = [SdElement {
            id: "exampleSDID@32473".into(),
            params: vec![
                ("iut".into(), "3".into()),
                ("eventSource".into(), "Application".into()),
            ],
        }];
        let m = Message {
            facility: 20,
            severity: 5,
            timestamp: "2003-10-11T22:14:15.003Z",
            hostname: "mymachine.example.com",
            app_name: "evntslog",
            procid: "",
            msgid: "ID47",
            structured_data: &sd,
            msg: "An application event log entry",
        };
        // RFC 5424 §6.5, example 3 (without the BOM).
        assert_eq!(
            format(&m),
            "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 \
             [exampleSDID@32473 iut=\"3\" eventSource=\"Application\"] \
             An application event log entry"
        );
    }

    #[test]
    fn escapes_values_and_cleans_header_fields() {
        assert_eq!(escape_param_value(r#"a"b\c]d"#), r#"a\"b\\c\]d"#);
        let m = Message {
            facility: 10,
            severity: 5,
            timestamp: "",
            hostname: "host name",
            app_name: "app",
            procid: "",
            msgid: "",
            structured_data: &[],
            msg: "",
        };
        assert_eq!(format(&m), "<85>1 - host_name app - - -");
        assert_eq!(octet_counted("ab\u{e9}"), b"4 ab\xc3\xa9".to_vec());
    }
}
