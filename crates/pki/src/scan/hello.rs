//! ClientHello builder and server-flight parser for the probes.
//!
//! rustls offers neither old protocol versions nor weak suites, so the scanner writes its
//! own first flight and reads the server's answer up to `ServerHelloDone` (TLS 1.2 and
//! older) or the `ServerHello`/`HelloRetryRequest` (TLS 1.3). No cryptography happens
//! here: this is record and handshake framing (RFC 8446 sections 4 and 5, RFC 5246
//! section 7.4). Every length is checked before it is used; bad input is a
//! [`HelloError`], never a panic.

use std::fmt;

/// Protocol versions the scanner probes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[non_exhaustive]
pub enum Version {
    /// SSL 3.0 (RFC 6101).
    #[serde(rename = "SSLv3")]
    Ssl3,
    /// TLS 1.0.
    #[serde(rename = "TLSv1")]
    Tls10,
    /// TLS 1.1.
    #[serde(rename = "TLSv1.1")]
    Tls11,
    /// TLS 1.2.
    #[serde(rename = "TLSv1.2")]
    Tls12,
    /// TLS 1.3.
    #[serde(rename = "TLSv1.3")]
    Tls13,
}

impl Version {
    /// Every version, oldest first.
    pub const ALL: [Version; 5] = [
        Version::Ssl3,
        Version::Tls10,
        Version::Tls11,
        Version::Tls12,
        Version::Tls13,
    ];

    /// The wire value.
    pub fn wire(self) -> u16 {
        match self {
            Version::Ssl3 => 0x0300,
            Version::Tls10 => 0x0301,
            Version::Tls11 => 0x0302,
            Version::Tls12 => 0x0303,
            Version::Tls13 => 0x0304,
        }
    }

    /// The version with this wire value.
    pub fn from_wire(v: u16) -> Option<Version> {
        Version::ALL.into_iter().find(|x| x.wire() == v)
    }

    /// Name as Mozilla's guidelines and OpenSSL write it (`TLSv1.2`).
    pub fn name(self) -> &'static str {
        match self {
            Version::Ssl3 => "SSLv3",
            Version::Tls10 => "TLSv1",
            Version::Tls11 => "TLSv1.1",
            Version::Tls12 => "TLSv1.2",
            Version::Tls13 => "TLSv1.3",
        }
    }
}

/// What a probe offers.
#[derive(Debug, Clone)]
pub struct ClientHello<'a> {
    /// The version offered (TLS 1.3 through `supported_versions`).
    pub version: Version,
    /// Cipher suites, by code point.
    pub suites: &'a [u16],
    /// Named groups for `supported_groups` (and, in TLS 1.3, the empty `key_share`).
    pub groups: &'a [u16],
    /// Server name for SNI (a DNS name; omitted when `None`).
    pub sni: Option<&'a str>,
}

// Signature schemes offered (RFC 8446 section 4.2.3): ECDSA, RSA-PSS, EdDSA, PKCS#1, SHA-1.
const SIGNATURE_SCHEMES: &[u16] = &[
    0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0807, 0x0808, 0x0401, 0x0501, 0x0601, 0x0203,
    0x0201,
];

/// `Random` of a HelloRetryRequest: SHA-256 of "HelloRetryRequest" (RFC 8446 4.1.3).
const HRR_RANDOM: [u8; 32] = [
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
];

const EXT_SERVER_NAME: u16 = 0;
const EXT_STATUS_REQUEST: u16 = 5;
const EXT_SUPPORTED_GROUPS: u16 = 10;
const EXT_EC_POINT_FORMATS: u16 = 11;
const EXT_SIGNATURE_ALGORITHMS: u16 = 13;
const EXT_SUPPORTED_VERSIONS: u16 = 43;
const EXT_KEY_SHARE: u16 = 51;
const EXT_RENEGOTIATION_INFO: u16 = 0xFF01;

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u24(out: &mut Vec<u8>, v: usize) {
    let b = (v as u32).to_be_bytes();
    out.extend_from_slice(&b[1..]);
}

fn put_ext(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
    put_u16(out, kind);
    put_u16(out, body.len() as u16);
    out.extend_from_slice(body);
}

fn u16_list(items: &[u16]) -> Vec<u8> {
    let mut v = Vec::with_capacity(2 + items.len() * 2);
    put_u16(&mut v, (items.len() * 2) as u16);
    for i in items {
        put_u16(&mut v, *i);
    }
    v
}

fn extensions(hello: &ClientHello<'_>) -> Vec<u8> {
    let mut ext = Vec::with_capacity(256);
    if let Some(name) = hello.sni.filter(|n| !n.is_empty() && n.len() < 256) {
        let mut body = Vec::with_capacity(name.len() + 5);
        put_u16(&mut body, (name.len() + 3) as u16);
        body.push(0);
        put_u16(&mut body, name.len() as u16);
        body.extend_from_slice(name.as_bytes());
        put_ext(&mut ext, EXT_SERVER_NAME, &body);
    }
    put_ext(&mut ext, EXT_STATUS_REQUEST, &[1, 0, 0, 0, 0]);
    put_ext(&mut ext, EXT_SUPPORTED_GROUPS, &u16_list(hello.groups));
    put_ext(&mut ext, EXT_EC_POINT_FORMATS, &[1, 0]);
    put_ext(
        &mut ext,
        EXT_SIGNATURE_ALGORITHMS,
        &u16_list(SIGNATURE_SCHEMES),
    );
    put_ext(&mut ext, EXT_RENEGOTIATION_INFO, &[0]);
    if hello.version == Version::Tls13 {
        put_ext(&mut ext, EXT_SUPPORTED_VERSIONS, &[2, 0x03, 0x04]);
        // An empty client_shares asks the server to choose a group in a
        // HelloRetryRequest (RFC 8446 4.2.8), which is all a probe needs to learn.
        put_ext(&mut ext, EXT_KEY_SHARE, &[0, 0]);
    }
    ext
}

/// The ClientHello record for a probe.
pub fn client_hello(hello: &ClientHello<'_>, random: [u8; 32]) -> Vec<u8> {
    let legacy = hello.version.wire().min(0x0303);
    let mut body = Vec::with_capacity(512);
    put_u16(&mut body, legacy);
    body.extend_from_slice(&random);
    body.push(0); // no session id
    let suites = u16_list(hello.suites);
    body.extend_from_slice(&suites);
    body.extend_from_slice(&[1, 0]); // compression: null only
    if hello.version != Version::Ssl3 {
        let ext = extensions(hello);
        put_u16(&mut body, ext.len() as u16);
        body.extend_from_slice(&ext);
    }

    let mut hs = Vec::with_capacity(body.len() + 4);
    hs.push(1);
    put_u24(&mut hs, body.len());
    hs.extend_from_slice(&body);

    let mut record = Vec::with_capacity(hs.len() + 5);
    record.push(22);
    put_u16(
        &mut record,
        if hello.version == Version::Ssl3 {
            0x0300
        } else {
            0x0301
        },
    );
    put_u16(&mut record, hs.len() as u16);
    record.extend_from_slice(&hs);
    record
}

/// Why a server's answer could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HelloError {
    /// A record longer than TLS allows (2^14 + 2048 bytes).
    RecordTooLong(usize),
    /// The answer grew past the scanner's limit before the flight ended.
    FlightTooLarge,
    /// A record type that cannot come before the handshake completes.
    UnexpectedRecord(u8),
    /// A handshake message that does not belong in the server's first flight.
    UnexpectedHandshake(u8),
    /// A message shorter than its own lengths say, or with inconsistent lengths.
    Malformed(&'static str),
    /// The server spoke something else than TLS (HTTP, SSH, SSL 2.0...).
    NotTls,
}

impl fmt::Display for HelloError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HelloError::RecordTooLong(n) => write!(
                f,
                "server sent a {n}-byte TLS record, longer than TLS allows; is this a TLS port?"
            ),
            HelloError::FlightTooLarge => f.write_str(
                "server's first flight exceeds the scanner's limit; the chain is unusually large",
            ),
            HelloError::UnexpectedRecord(t) => {
                write!(f, "server sent record type {t} before the handshake ended")
            }
            HelloError::UnexpectedHandshake(t) => {
                write!(f, "server sent handshake message {t} out of place")
            }
            HelloError::Malformed(what) => write!(f, "malformed server answer: {what}"),
            HelloError::NotTls => {
                f.write_str("the server does not speak TLS on this port; check HOST:PORT")
            }
        }
    }
}

impl std::error::Error for HelloError {}

/// An alert the server sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alert {
    /// 1 warning, 2 fatal.
    pub level: u8,
    /// The alert description (40 handshake_failure, 70 protocol_version...).
    pub description: u8,
}

/// The parts of a ServerHello (or HelloRetryRequest) the scanner uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    /// The version the server negotiated (`supported_versions` when present).
    pub version: u16,
    /// The suite chosen.
    pub cipher_suite: u16,
    /// True for a HelloRetryRequest.
    pub retry_request: bool,
    /// The group of `key_share` (TLS 1.3).
    pub group: Option<u16>,
    /// The server acknowledged `status_request` (TLS 1.2 stapling).
    pub status_request: bool,
}

/// The server's first flight, as far as the scanner reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerFlight {
    /// A fatal or warning alert, when the server sent one.
    pub alert: Option<Alert>,
    /// The ServerHello.
    pub hello: Option<ServerHello>,
    /// DER certificates of a TLS 1.2-or-older Certificate message, leaf first.
    pub certificates: Vec<Vec<u8>>,
    /// Body of the ServerKeyExchange.
    pub server_key_exchange: Option<Vec<u8>>,
    /// A CertificateStatus (stapled OCSP) message, DER OCSP response.
    pub ocsp_response: Option<Vec<u8>>,
}

/// Outcome of parsing what has arrived so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The flight is incomplete: read more.
    NeedMore,
    /// The flight is complete (or ended by an alert).
    Done(ServerFlight),
}

/// Most a first flight may take: a long chain with a stapled response fits easily.
pub const MAX_FLIGHT: usize = 256 * 1024;
const MAX_RECORD: usize = 16384 + 2048;

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn left(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], HelloError> {
        if self.left() < n {
            return Err(HelloError::Malformed(what));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, HelloError> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, HelloError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u24(&mut self, what: &'static str) -> Result<usize, HelloError> {
        let b = self.take(3, what)?;
        Ok(((b[0] as usize) << 16) | ((b[1] as usize) << 8) | b[2] as usize)
    }
}

/// Parse the server's answer received so far (`stop_after_hello`: TLS 1.2 probes that
/// need only the ServerHello stop there).
///
/// # Errors
/// [`HelloError`] when the bytes cannot be a TLS server's first flight.
pub fn parse_server_flight(buf: &[u8], stop_after_hello: bool) -> Result<Progress, HelloError> {
    if buf.len() > MAX_FLIGHT {
        return Err(HelloError::FlightTooLarge);
    }
    let mut flight = ServerFlight::default();
    let mut handshake = Vec::new();
    let mut r = Reader::new(buf);
    while r.left() >= 5 {
        let kind = r.u8("record type")?;
        let version = r.u16("record version")?;
        let len = r.u16("record length")? as usize;
        if !(20..=24).contains(&kind) || version >> 8 != 3 {
            return Err(HelloError::NotTls);
        }
        if len > MAX_RECORD {
            return Err(HelloError::RecordTooLong(len));
        }
        if r.left() < len {
            break;
        }
        let body = r.take(len, "record body")?;
        match kind {
            21 => {
                let mut a = Reader::new(body);
                let level = a.u8("alert level")?;
                let description = a.u8("alert description")?;
                flight.alert = Some(Alert { level, description });
                return Ok(Progress::Done(flight));
            }
            22 => {
                handshake.extend_from_slice(body);
                if handshake_messages(&handshake, &mut flight, stop_after_hello)? {
                    return Ok(Progress::Done(flight));
                }
            }
            // ChangeCipherSpec for middlebox compatibility (RFC 8446 D.4): skip it.
            20 => {}
            // Encrypted records follow a TLS 1.3 ServerHello, which ends the flight above.
            _ => return Err(HelloError::UnexpectedRecord(kind)),
        }
    }
    Ok(Progress::NeedMore)
}

/// Read complete handshake messages; true once the flight is complete.
fn handshake_messages(
    buf: &[u8],
    flight: &mut ServerFlight,
    stop_after_hello: bool,
) -> Result<bool, HelloError> {
    *flight = ServerFlight {
        alert: flight.alert,
        ..ServerFlight::default()
    };
    let mut r = Reader::new(buf);
    while r.left() >= 4 {
        let kind = r.u8("handshake type")?;
        let len = r.u24("handshake length")?;
        if len > MAX_FLIGHT {
            return Err(HelloError::FlightTooLarge);
        }
        if r.left() < len {
            return Ok(false);
        }
        let body = r.take(len, "handshake body")?;
        if flight.hello.is_none() && kind != 2 {
            return Err(HelloError::UnexpectedHandshake(kind));
        }
        match kind {
            2 => {
                if flight.hello.is_some() {
                    return Err(HelloError::UnexpectedHandshake(kind));
                }
                let hello = server_hello(body)?;
                let done = hello.retry_request || hello.version == 0x0304 || stop_after_hello;
                flight.hello = Some(hello);
                if done {
                    return Ok(true);
                }
            }
            11 => flight.certificates = certificate_list(body)?,
            12 => flight.server_key_exchange = Some(body.to_vec()),
            13 => {}
            22 => flight.ocsp_response = Some(certificate_status(body)?),
            14 => return Ok(true),
            other => return Err(HelloError::UnexpectedHandshake(other)),
        }
    }
    Ok(false)
}

fn server_hello(body: &[u8]) -> Result<ServerHello, HelloError> {
    let mut r = Reader::new(body);
    let legacy = r.u16("server version")?;
    let random = r.take(32, "server random")?;
    let sid_len = r.u8("session id length")? as usize;
    if sid_len > 32 {
        return Err(HelloError::Malformed("session id longer than 32 bytes"));
    }
    r.take(sid_len, "session id")?;
    let cipher_suite = r.u16("cipher suite")?;
    r.u8("compression method")?;
    let mut hello = ServerHello {
        version: legacy,
        cipher_suite,
        retry_request: random == HRR_RANDOM,
        group: None,
        status_request: false,
    };
    if r.left() == 0 {
        return Ok(hello);
    }
    let ext_len = r.u16("extensions length")? as usize;
    if ext_len != r.left() {
        return Err(HelloError::Malformed(
            "extensions length disagrees with the message",
        ));
    }
    while r.left() > 0 {
        let kind = r.u16("extension type")?;
        let len = r.u16("extension length")? as usize;
        let data = r.take(len, "extension body")?;
        server_extension(kind, data, &mut hello)?;
    }
    Ok(hello)
}

fn server_extension(kind: u16, data: &[u8], hello: &mut ServerHello) -> Result<(), HelloError> {
    let mut e = Reader::new(data);
    match kind {
        EXT_SUPPORTED_VERSIONS => hello.version = e.u16("supported_versions")?,
        EXT_KEY_SHARE => hello.group = Some(e.u16("key_share group")?),
        EXT_STATUS_REQUEST => hello.status_request = true,
        _ => {}
    }
    Ok(())
}

fn certificate_list(body: &[u8]) -> Result<Vec<Vec<u8>>, HelloError> {
    let mut r = Reader::new(body);
    let total = r.u24("certificate list length")?;
    if total != r.left() {
        return Err(HelloError::Malformed(
            "certificate list length disagrees with the message",
        ));
    }
    let mut certs = Vec::new();
    while r.left() > 0 {
        let len = r.u24("certificate length")?;
        certs.push(r.take(len, "certificate")?.to_vec());
    }
    Ok(certs)
}

fn certificate_status(body: &[u8]) -> Result<Vec<u8>, HelloError> {
    let mut r = Reader::new(body);
    if r.u8("status type")? != 1 {
        return Err(HelloError::Malformed("certificate status type is not OCSP"));
    }
    let len = r.u24("OCSP response length")?;
    Ok(r.take(len, "OCSP response")?.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![kind, 3, 3];
        v.extend_from_slice(&(body.len() as u16).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    fn hs(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![kind];
        put_u24(&mut v, body.len());
        v.extend_from_slice(body);
        v
    }

    fn hello_body(random: [u8; 32], suite: u16, exts: &[u8]) -> Vec<u8> {
        let mut b = vec![3, 3];
        b.extend_from_slice(&random);
        b.push(0);
        b.extend_from_slice(&suite.to_be_bytes());
        b.push(0);
        put_u16(&mut b, exts.len() as u16);
        b.extend_from_slice(exts);
        b
    }

    #[test]
    fn client_hello_lengths_agree() {
        let h = ClientHello {
            version: Version::Tls13,
            suites: &[0x1301, 0x1302],
            groups: &[0x001D],
            sni: Some("ehr.test"),
        };
        let rec = client_hello(&h, [7; 32]);
        assert_eq!(rec[0], 22);
        assert_eq!(u16::from_be_bytes([rec[3], rec[4]]) as usize, rec.len() - 5);
        assert_eq!(rec[5], 1);
        let hs_len = ((rec[6] as usize) << 16) | ((rec[7] as usize) << 8) | rec[8] as usize;
        assert_eq!(hs_len, rec.len() - 9);
    }

    #[test]
    fn retry_request_gives_group() {
        let mut ext = Vec::new();
        put_ext(&mut ext, EXT_SUPPORTED_VERSIONS, &[3, 4]);
        put_ext(&mut ext, EXT_KEY_SHARE, &[0, 0x1D]);
        let msg = record(22, &hs(2, &hello_body(HRR_RANDOM, 0x1301, &ext)));
        let Progress::Done(f) = parse_server_flight(&msg, false).unwrap() else {
            panic!("flight should be complete");
        };
        let h = f.hello.unwrap();
        assert!(h.retry_request);
        assert_eq!(
            (h.version, h.group, h.cipher_suite),
            (0x0304, Some(0x1D), 0x1301)
        );
    }

    #[test]
    fn tls12_flight_reads_to_hello_done_across_records() {
        let mut flight = hs(2, &hello_body([1; 32], 0xC02F, &[]));
        let mut certs = Vec::new();
        put_u24(&mut certs, 3 + 2);
        put_u24(&mut certs, 2);
        certs.extend_from_slice(&[0x30, 0x00]);
        flight.extend(hs(11, &certs));
        flight.extend(hs(14, &[]));
        let (a, b) = flight.split_at(20);
        let mut wire = record(22, a);
        assert_eq!(
            parse_server_flight(&wire, false).unwrap(),
            Progress::NeedMore
        );
        wire.extend(record(22, b));
        let Progress::Done(f) = parse_server_flight(&wire, false).unwrap() else {
            panic!("flight should be complete");
        };
        assert_eq!(f.certificates, vec![vec![0x30, 0x00]]);
        assert_eq!(f.hello.unwrap().cipher_suite, 0xC02F);
    }

    #[test]
    fn alert_and_garbage() {
        let Progress::Done(f) = parse_server_flight(&record(21, &[2, 40]), false).unwrap() else {
            panic!("alert ends the flight");
        };
        assert_eq!(
            f.alert,
            Some(Alert {
                level: 2,
                description: 40
            })
        );
        assert_eq!(
            parse_server_flight(b"HTTP/1.1 400 Bad Request\r\n", false),
            Err(HelloError::NotTls)
        );
        let bad = record(22, &hs(2, &[3, 3, 1]));
        assert!(matches!(
            parse_server_flight(&bad, false),
            Err(HelloError::Malformed(_))
        ));
    }
}
