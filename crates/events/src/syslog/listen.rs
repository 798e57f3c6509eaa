//! Syslog servers on tokio: UDP (RFC 5426), TCP (RFC 6587) and TLS (RFC 5425).

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::error::SyslogError;
use super::frame::{DEFAULT_MAX_FRAME_LEN, Deframer, FrameError, Framing};
use super::message::SyslogMessage;
use super::parse::parse;

/// Counter of messages received (accepted or not), label `transport`.
pub const METRIC_RECEIVED: &str = "webqx_events_syslog_received_total";
/// Counter of rejected messages and connections, labels `transport` and `reason`
/// ([`ReceiveError::reason`], `connection_limit`, `handshake`).
pub const METRIC_REJECTED: &str = "webqx_events_syslog_rejected_total";

/// Read buffer per connection, bytes.
const READ_CHUNK: usize = 16 * 1024;
/// Largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;
/// Pause after a failed `accept` (out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The transport a message arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// UDP, one message per datagram.
    Udp,
    /// Plain TCP.
    Tcp,
    /// TLS over TCP (RFC 5425).
    Tls,
}

impl Transport {
    /// The `transport` label: `udp`, `tcp` or `tls`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }
}

/// Limits of a listener.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// Open TCP/TLS connections at most; more are closed at once (and counted).
    pub max_connections: usize,
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    /// Largest frame (message), bytes; at most [`super::MAX_MESSAGE_LEN`] is useful.
    pub max_frame_len: usize,
    /// Time allowed for a TLS handshake.
    pub handshake_timeout: Duration,
    /// Time allowed from the first byte of a frame to its last: a sender trickling a
    /// frame a byte at a time cannot hold a connection slot for long.
    pub frame_timeout: Duration,
}

impl Default for ListenerConfig {
    /// 256 connections, 5 minutes idle, 64 KiB frames, 10 s handshakes, 30 s frames.
    fn default() -> Self {
        ListenerConfig {
            max_connections: 256,
            idle_timeout: Duration::from_secs(300),
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            handshake_timeout: Duration::from_secs(10),
            frame_timeout: Duration::from_secs(30),
        }
    }
}

/// Why a received frame gave no message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReceiveError {
    /// The stream could not be cut into frames.
    Frame(FrameError),
    /// The frame is not a valid syslog message.
    Parse(SyslogError),
}

impl ReceiveError {
    /// A short, stable label for metrics (`reason`).
    pub fn reason(&self) -> &'static str {
        match self {
            ReceiveError::Frame(e) => e.reason(),
            ReceiveError::Parse(e) => e.reason(),
        }
    }
}

impl fmt::Display for ReceiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReceiveError::Frame(e) => e.fmt(f),
            ReceiveError::Parse(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ReceiveError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReceiveError::Frame(e) => Some(e),
            ReceiveError::Parse(e) => Some(e),
        }
    }
}

/// One message (or one rejected frame) as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Who sent it (the TCP peer or the datagram's source; not authenticated for UDP).
    pub peer: SocketAddr,
    /// How it arrived.
    pub transport: Transport,
    /// The message, or why there is none.
    pub result: Result<SyslogMessage, ReceiveError>,
}

/// What a listener calls for each received message. Implemented by any
/// `Fn(Received) -> impl Future<Output = ()>` closure.
///
/// A connection reads its next frame only after the handler returns, so a slow
/// handler slows the TCP senders down rather than losing messages (UDP senders are
/// not slowed: the kernel drops datagrams).
pub trait SyslogHandler: Send + Sync + 'static {
    /// Handles one message or rejected frame.
    fn handle(&self, received: Received) -> impl Future<Output = ()> + Send;
}

impl<F, Fut> SyslogHandler for F
where
    F: Fn(Received) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    fn handle(&self, received: Received) -> impl Future<Output = ()> + Send {
        self(received)
    }
}

/// Asks listeners to stop (see [`shutdown_channel`]). Dropping it asks too.
#[derive(Debug)]
pub struct Shutdown {
    tx: watch::Sender<bool>,
}

impl Shutdown {
    /// Asks every listener holding a matching [`ShutdownSignal`] to stop: they stop
    /// accepting, finish the frames already read and return.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }
}

/// The listeners' side of [`Shutdown`]; cheap to clone.
#[derive(Debug, Clone)]
pub struct ShutdownSignal {
    rx: watch::Receiver<bool>,
}

impl ShutdownSignal {
    /// Whether shutdown was asked for.
    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow() || self.rx.has_changed().is_err()
    }

    /// Completes when shutdown is asked for (or the [`Shutdown`] is dropped).
    pub async fn triggered(&self) {
        let mut rx = self.rx.clone();
        // An error means the sender is gone: nobody can keep us running, so stop.
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

/// A new shutdown trigger and the signal to hand to listeners.
pub fn shutdown_channel() -> (Shutdown, ShutdownSignal) {
    let (tx, rx) = watch::channel(false);
    (Shutdown { tx }, ShutdownSignal { rx })
}

fn count_received(transport: Transport) {
    metrics::counter!(METRIC_RECEIVED, "transport" => transport.as_str()).increment(1);
}

fn count_rejected(transport: Transport, reason: &'static str) {
    metrics::counter!(METRIC_REJECTED, "transport" => transport.as_str(), "reason" => reason)
        .increment(1);
}

/// Counts and hands over one frame's result.
async fn deliver<H: SyslogHandler>(
    handler: &H,
    peer: SocketAddr,
    transport: Transport,
    result: Result<SyslogMessage, ReceiveError>,
) {
    count_received(transport);
    if let Err(e) = &result {
        count_rejected(transport, e.reason());
        tracing::debug!(%peer, transport = transport.as_str(), error = %e, "syslog frame rejected");
    }
    handler
        .handle(Received {
            peer,
            transport,
            result,
        })
        .await;
}

/// Receives syslog datagrams on `socket` until `shutdown`, one message per datagram
/// (a trailing line feed is dropped).
///
/// # Errors
/// An I/O error of the socket other than the ICMP-caused ones a UDP socket reports.
pub async fn serve_udp<H: SyslogHandler>(
    socket: UdpSocket,
    config: ListenerConfig,
    handler: Arc<H>,
    shutdown: ShutdownSignal,
) -> io::Result<()> {
    let limit = config.max_frame_len.min(MAX_DATAGRAM);
    let mut buf = vec![0u8; limit + 1];
    loop {
        let (len, peer) = tokio::select! {
            () = shutdown.triggered() => return Ok(()),
            received = socket.recv_from(&mut buf) => match received {
                Ok(received) => received,
                Err(e) if is_transient_udp_error(&e) => continue,
                Err(e) => return Err(e),
            },
        };
        let result = match buf.get(..len) {
            Some(datagram) if len <= limit => parse(datagram).map_err(ReceiveError::Parse),
            _ => Err(ReceiveError::Frame(FrameError::Oversize {
                framing: Framing::Datagram,
                max: limit,
            })),
        };
        deliver(handler.as_ref(), peer, Transport::Udp, result).await;
    }
}

fn is_transient_udp_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

/// Receives syslog over plain TCP on `listener` until `shutdown`, then waits for
/// the open connections to finish. Each connection is cut into frames by a
/// [`Deframer`]; a fatal framing error closes it.
///
/// # Errors
/// None at present; the result leaves room for listener failures.
pub async fn serve_tcp<H: SyslogHandler>(
    listener: TcpListener,
    config: ListenerConfig,
    handler: Arc<H>,
    shutdown: ShutdownSignal,
) -> io::Result<()> {
    serve_stream(listener, None, config, handler, shutdown).await
}

/// Receives syslog over TLS (RFC 5425) on `listener` until `shutdown`, with `tls`
/// (which decides on client certificates); otherwise as [`serve_tcp`]. Failed
/// handshakes are counted (`reason="handshake"`) and logged at debug level.
///
/// # Errors
/// None at present; the result leaves room for listener failures.
pub async fn serve_tls<H: SyslogHandler>(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    config: ListenerConfig,
    handler: Arc<H>,
    shutdown: ShutdownSignal,
) -> io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    serve_stream(listener, Some(acceptor), config, handler, shutdown).await
}

async fn serve_stream<H: SyslogHandler>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    config: ListenerConfig,
    handler: Arc<H>,
    shutdown: ShutdownSignal,
) -> io::Result<()> {
    let transport = if tls.is_some() {
        Transport::Tls
    } else {
        Transport::Tcp
    };
    let permits = Arc::new(Semaphore::new(
        config.max_connections.min(Semaphore::MAX_PERMITS),
    ));
    let config = Arc::new(config);
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            () = shutdown.triggered() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::debug!(error = %e, "syslog accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            count_rejected(transport, "connection_limit");
            tracing::debug!(%peer, "syslog connection refused: connection limit reached");
            continue;
        };
        let connection = Connection {
            peer,
            transport,
            config: config.clone(),
            handler: handler.clone(),
            shutdown: shutdown.clone(),
        };
        let tls = tls.clone();
        connections.spawn(async move {
            connection.run(stream, tls).await;
            drop(permit);
        });
    }
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// One TCP or TLS connection.
struct Connection<H> {
    peer: SocketAddr,
    transport: Transport,
    config: Arc<ListenerConfig>,
    handler: Arc<H>,
    shutdown: ShutdownSignal,
}

impl<H: SyslogHandler> Connection<H> {
    async fn run(self, stream: TcpStream, tls: Option<TlsAcceptor>) {
        let Some(acceptor) = tls else {
            return self.read_frames(stream).await;
        };
        let handshake =
            tokio::time::timeout(self.config.handshake_timeout, acceptor.accept(stream));
        let stream = tokio::select! {
            () = self.shutdown.triggered() => return,
            result = handshake => result,
        };
        match stream {
            Ok(Ok(stream)) => self.read_frames(stream).await,
            Ok(Err(e)) => self.handshake_failed(&e.to_string()),
            Err(_elapsed) => self.handshake_failed("timed out"),
        }
    }

    fn handshake_failed(&self, why: &str) {
        count_rejected(self.transport, "handshake");
        tracing::debug!(peer = %self.peer, why, "syslog TLS handshake failed");
    }

    /// Reads and hands over frames until the peer closes, goes idle, breaks the
    /// framing or shutdown is asked for; a frame left unfinished is reported.
    async fn read_frames<S: AsyncRead + Unpin>(&self, mut stream: S) {
        let mut deframer = Deframer::new(self.config.max_frame_len);
        let mut buf = vec![0u8; READ_CHUNK];
        let mut frame_started: Option<tokio::time::Instant> = None;
        loop {
            let wait = match frame_started {
                Some(at) => self
                    .config
                    .idle_timeout
                    .min(self.config.frame_timeout.saturating_sub(at.elapsed())),
                None => self.config.idle_timeout,
            };
            let read = tokio::select! {
                () = self.shutdown.triggered() => break,
                read = tokio::time::timeout(wait, stream.read(&mut buf)) => read,
            };
            let len = match read {
                Ok(Ok(0)) => break,
                Ok(Ok(len)) => len,
                Ok(Err(e)) => {
                    tracing::debug!(peer = %self.peer, error = %e, "syslog connection read failed");
                    break;
                }
                Err(_elapsed) if frame_started.is_some() => {
                    count_rejected(self.transport, "frame_timeout");
                    tracing::debug!(peer = %self.peer, "syslog frame not finished in time, closing");
                    break;
                }
                Err(_elapsed) => {
                    tracing::debug!(peer = %self.peer, "syslog connection idle, closing");
                    break;
                }
            };
            deframer.push(buf.get(..len).unwrap_or_default());
            if !self.drain(&mut deframer).await {
                return;
            }
            frame_started = match (deframer.has_partial(), frame_started) {
                (false, _) => None,
                (true, Some(at)) => Some(at),
                (true, None) => Some(tokio::time::Instant::now()),
            };
        }
        if let Err(e) = deframer.finish() {
            self.deliver(Err(ReceiveError::Frame(e))).await;
        }
    }

    /// Hands over the complete frames; `false` after a fatal framing error.
    async fn drain(&self, deframer: &mut Deframer) -> bool {
        loop {
            match deframer.next_frame() {
                Ok(Some(frame)) => {
                    self.deliver(parse(&frame).map_err(ReceiveError::Parse))
                        .await;
                }
                Ok(None) => return true,
                Err(e) => {
                    let fatal = e.is_fatal();
                    self.deliver(Err(ReceiveError::Frame(e))).await;
                    if fatal {
                        return false;
                    }
                }
            }
        }
    }

    async fn deliver(&self, result: Result<SyslogMessage, ReceiveError>) {
        deliver(self.handler.as_ref(), self.peer, self.transport, result).await;
    }
}
