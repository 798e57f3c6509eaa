//! Syslog delivery: RFC 5424 messages over TLS (RFC 5425) or TCP (RFC 6587), both with
//! octet-counted frames, or over UDP (RFC 5426), one datagram per message.
//!
//! TCP cannot confirm that the receiver read what we wrote: bytes accepted by our
//! kernel can die with the connection. So before each batch the connection is probed
//! (end of stream, or any data from a receiver that should send none, means it was
//! closed), and after any loss the records written on that connection within
//! `resend_window` are sent again. Receivers de-duplicate on the record id.

use super::{DeliveryError, SinkConfig, SinkError, SyslogConfig, Transport};
use crate::Format;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Instant, timeout};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use webqx_audit::render::rfc5424::{self, Message, SdElement};
use webqx_audit::{Outcome, TrailRecord};

/// Longest connect, handshake or batch write: well inside the 15 s lease.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait after a TLS handshake for a receiver that refuses our certificate.
const REFUSAL_WAIT: Duration = Duration::from_millis(300);
/// Largest UDP message; longer ones are cut (and counted).
pub(crate) const MAX_DATAGRAM: usize = 65_000;

enum Conn {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

pub(crate) struct SyslogSink {
    name: String,
    format: Format,
    transport: Transport,
    host: String,
    port: u16,
    tls: Option<(TlsConnector, rustls_pki_types::ServerName<'static>)>,
    hostname: String,
    app_name: String,
    facility: u8,
    procid: String,
    resend_window: Duration,
    conn: Option<Conn>,
    udp: Option<UdpSocket>,
    /// When each batch on the current connection was written, and its first seq.
    sent: VecDeque<(Instant, i64)>,
    /// After a lost connection: re-read the trail after this seq.
    rewind: Option<i64>,
}

impl SyslogSink {
    pub(crate) fn new(sink: &SinkConfig, s: &SyslogConfig) -> Result<SyslogSink, SinkError> {
        let bad = |m: &str| SinkError::Config(format!("audit.sinks '{}': {m}", sink.name));
        let (host, port) = super::config::split_host_port(&s.address)
            .ok_or_else(|| bad("address: write host:port"))?;
        let resend_window = webqx_store::time::parse_duration(&s.resend_window)
            .map_err(|e| bad(&format!("resend_window: {e}")))?;
        let tls = match s.transport {
            Transport::Tls => {
                let client = s
                    .client_cert_file
                    .as_deref()
                    .zip(s.client_key_file.as_deref());
                let config = super::client_tls(&sink.name, s.ca_file.as_deref(), client)?;
                let name = s.server_name.clone().unwrap_or_else(|| host.to_owned());
                let server_name = rustls_pki_types::ServerName::try_from(name.clone())
                    .map_err(|_| bad(&format!("server_name: '{name}' is not a DNS name or IP")))?;
                Some((TlsConnector::from(Arc::new(config)), server_name))
            }
            Transport::Tcp | Transport::Udp => None,
        };
        Ok(SyslogSink {
            name: sink.name.clone(),
            format: sink.format,
            transport: s.transport,
            host: host.to_owned(),
            port: port.unwrap_or(s.default_port()),
            tls,
            hostname: s.hostname.clone().unwrap_or_else(super::machine_hostname),
            app_name: s.app_name.clone(),
            facility: s.facility,
            procid: std::process::id().to_string(),
            resend_window,
            conn: None,
            udp: None,
            sent: VecDeque::new(),
            rewind: None,
        })
    }

    /// The RFC 5424 message for one record.
    pub(crate) fn message(&self, rec: &TrailRecord) -> String {
        let severity = match rec.entry.outcome {
            Outcome::Success => 5,
            Outcome::Denied => 4,
            Outcome::Failure => 3,
        };
        let sd = [SdElement {
            id: rfc5424::SD_ID.to_owned(),
            params: vec![
                ("id".to_owned(), rec.entry.id.clone()),
                ("seq".to_owned(), rec.entry.seq.to_string()),
            ],
        }];
        let msg = self.format.render(rec);
        rfc5424::format(&Message {
            facility: self.facility,
            severity,
            timestamp: &rec.entry.time,
            hostname: &self.hostname,
            app_name: &self.app_name,
            procid: &self.procid,
            msgid: self.format.msgid(),
            structured_data: &sd,
            msg: &msg,
        })
    }

    /// Before a batch: notices a connection the receiver closed, and says after which
    /// seq to re-read the trail so that what the lost connection may have swallowed is
    /// sent again.
    pub(crate) async fn check(&mut self) -> Option<i64> {
        if let Some(conn) = self.conn.as_mut()
            && !alive(conn).await
        {
            tracing::debug!(sink = %self.name, "syslog receiver closed the connection");
            self.lost();
        }
        self.rewind.take()
    }

    pub(crate) async fn send(&mut self, batch: &[TrailRecord]) -> Result<(), DeliveryError> {
        let Some(first) = batch.first() else {
            return Ok(());
        };
        if self.transport == Transport::Udp {
            return self.send_udp(batch).await;
        }
        let mut buf = Vec::new();
        for rec in batch {
            buf.extend_from_slice(&rfc5424::octet_counted(&self.message(rec)));
        }
        if self.conn.is_none() {
            self.conn = Some(self.connect().await?);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(DeliveryError::retry("no connection"));
        };
        match timeout(IO_TIMEOUT, write_all(conn, &buf)).await {
            Ok(Ok(())) => {
                let now = Instant::now();
                self.sent.push_back((now, first.entry.seq));
                while let Some((at, _)) = self.sent.front() {
                    if now.duration_since(*at) <= self.resend_window {
                        break;
                    }
                    self.sent.pop_front();
                }
                Ok(())
            }
            Ok(Err(e)) => {
                self.lost();
                Err(DeliveryError::retry(format!(
                    "writing to {}:{} failed: {e}",
                    self.host, self.port
                )))
            }
            Err(_) => {
                self.lost();
                Err(DeliveryError::retry(format!(
                    "writing to {}:{} timed out after {}s",
                    self.host,
                    self.port,
                    IO_TIMEOUT.as_secs()
                )))
            }
        }
    }

    /// Forgets the connection; what it carried within the resend window is sent again.
    fn lost(&mut self) {
        self.conn = None;
        let now = Instant::now();
        let resend = self
            .sent
            .iter()
            .filter(|(at, _)| now.duration_since(*at) <= self.resend_window)
            .map(|(_, seq)| seq - 1)
            .min();
        if let Some(after) = resend {
            self.rewind = Some(self.rewind.map_or(after, |r| r.min(after)));
        }
        self.sent.clear();
    }

    async fn connect(&self) -> Result<Conn, DeliveryError> {
        let target = format!("{}:{}", self.host, self.port);
        let tcp = timeout(IO_TIMEOUT, connect_tcp(&self.host, self.port))
            .await
            .map_err(|_| DeliveryError::retry(format!("connecting to {target} timed out")))?
            .map_err(|e| DeliveryError::retry(format!("cannot connect to {target}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let Some((connector, server_name)) = &self.tls else {
            return Ok(Conn::Tcp(tcp));
        };
        let tls = timeout(IO_TIMEOUT, connector.connect(server_name.clone(), tcp))
            .await
            .map_err(|_| DeliveryError::retry(format!("TLS handshake with {target} timed out")))?
            .map_err(|e| {
                DeliveryError::config(format!("TLS handshake with {target} failed: {e}"))
            })?;
        let mut conn = Conn::Tls(Box::new(tls));
        // With TLS 1.3 the client finishes its handshake before the server has checked
        // our certificate; a receiver that refuses it closes at once. Wait briefly for
        // that, rather than write into a connection that is already gone.
        let mut buf = [0u8; 64];
        if let Conn::Tls(s) = &mut conn
            && let Ok(read) = timeout(REFUSAL_WAIT, s.read(&mut buf)).await
        {
            let why = match read {
                Ok(_) => "closed the connection".to_owned(),
                Err(e) => e.to_string(),
            };
            return Err(DeliveryError::config(format!(
                "the receiver at {target} ended the TLS session right after the handshake \
                 ({why}); it probably refuses our client certificate (client_cert_file) or \
                 requires one"
            )));
        }
        tracing::debug!(sink = %self.name, %target, "syslog TLS connection established");
        Ok(conn)
    }

    async fn send_udp(&mut self, batch: &[TrailRecord]) -> Result<(), DeliveryError> {
        let target = format!("{}:{}", self.host, self.port);
        if self.udp.is_none() {
            self.udp = Some(
                connect_udp(&self.host, self.port)
                    .await
                    .map_err(|e| DeliveryError::retry(format!("UDP to {target}: {e}")))?,
            );
        }
        let Some(socket) = self.udp.as_ref() else {
            return Err(DeliveryError::retry("no socket"));
        };
        for rec in batch {
            let msg = self.message(rec);
            let bytes = if msg.len() > MAX_DATAGRAM {
                metrics::counter!("webqx_siem_truncated_total", "sink" => self.name.clone())
                    .increment(1);
                &msg.as_bytes()[..msg.floor_char_boundary(MAX_DATAGRAM)]
            } else {
                msg.as_bytes()
            };
            if let Err(e) = socket.send(bytes).await {
                self.udp = None;
                return Err(DeliveryError::retry(format!(
                    "sending to {target} failed: {e}"
                )));
            }
        }
        Ok(())
    }

    pub(crate) async fn close(&mut self) {
        if let Some(conn) = self.conn.as_mut() {
            let _ = timeout(Duration::from_secs(2), shutdown(conn)).await;
        }
        self.conn = None;
        self.udp = None;
    }
}

async fn connect_tcp(host: &str, port: u16) -> std::io::Result<TcpStream> {
    let mut last = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("the name has no address")))
}

async fn connect_udp(host: &str, port: u16) -> std::io::Result<UdpSocket> {
    let addr = tokio::net::lookup_host((host, port))
        .await?
        .next()
        .ok_or_else(|| std::io::Error::other("the name has no address"))?;
    let local = if addr.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(addr).await?;
    Ok(socket)
}

/// True while the receiver keeps the connection open: a read that would block. End of
/// stream, an error, or data (a syslog receiver sends none) all mean it is gone.
async fn alive(conn: &mut Conn) -> bool {
    let mut buf = [0u8; 64];
    let probe = match conn {
        Conn::Tcp(s) => timeout(Duration::ZERO, s.read(&mut buf)).await,
        Conn::Tls(s) => timeout(Duration::ZERO, s.read(&mut buf)).await,
    };
    probe.is_err()
}

async fn write_all(conn: &mut Conn, buf: &[u8]) -> std::io::Result<()> {
    match conn {
        Conn::Tcp(s) => {
            s.write_all(buf).await?;
            s.flush().await
        }
        Conn::Tls(s) => {
            s.write_all(buf).await?;
            s.flush().await
        }
    }
}

async fn shutdown(conn: &mut Conn) -> std::io::Result<()> {
    match conn {
        Conn::Tcp(s) => s.shutdown().await,
        Conn::Tls(s) => s.shutdown().await,
    }
}
