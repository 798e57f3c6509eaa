//! Probes: one TCP connection per ClientHello, bounded in number, each under a timeout.

use super::ScanError;
use super::hello::{self, ClientHello, Progress, ServerFlight, Version};
use super::suites::{self, GROUPS, Kx, Since};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// Where and how to probe.
#[derive(Clone)]
pub(crate) struct Prober {
    pub addr: SocketAddr,
    pub sni: Option<String>,
    pub timeout: Duration,
    pub permits: Arc<Semaphore>,
}

/// What the probes of one version found.
#[derive(Debug, Clone, Default)]
pub(crate) struct VersionResult {
    pub offered: bool,
    pub suites: Vec<u16>,
    /// The full first flight of the acceptance probe (TLS 1.2 and older).
    pub flight: Option<ServerFlight>,
    /// Size of the DH group (bits of p) each accepted DHE suite used.
    pub dh_bits: Vec<(u16, usize)>,
}

/// Bits of `p` in a DHE ServerKeyExchange (ServerDHParams, RFC 5246 7.4.3).
pub(crate) fn dh_prime_bits(ske: &[u8]) -> Option<usize> {
    let len = u16::from_be_bytes([*ske.first()?, *ske.get(1)?]) as usize;
    let p = ske.get(2..2 + len)?;
    let first = p.iter().position(|b| *b != 0)?;
    Some((p.len() - first) * 8 - p[first].leading_zeros() as usize)
}

fn random() -> [u8; 32] {
    // A probe's random only needs to differ between connections; it protects nothing.
    let mut r = [0u8; 32];
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    for (i, b) in r.iter_mut().enumerate() {
        *b = (nanos >> ((i % 16) * 8)) as u8 ^ (i as u8).wrapping_mul(37);
    }
    r
}

impl Prober {
    /// Send one ClientHello and read the answer; `None` when the server closed, reset or
    /// stayed silent (all mean "not accepted" to a probe).
    pub async fn exchange(
        &self,
        hello: &ClientHello<'_>,
        stop_after_hello: bool,
    ) -> Result<Option<ServerFlight>, ScanError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ScanError::Cancelled)?;
        let connect = tokio::time::timeout(self.timeout, TcpStream::connect(self.addr)).await;
        let mut stream = match connect {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(ScanError::Connect(self.addr, e.to_string())),
            Err(_) => return Err(ScanError::Connect(self.addr, "timed out".into())),
        };
        let _ = stream.set_nodelay(true);
        let record = hello::client_hello(hello, random());
        if stream.write_all(&record).await.is_err() {
            return Ok(None);
        }
        let read = tokio::time::timeout(self.timeout, read_flight(&mut stream, stop_after_hello));
        match read.await {
            Ok(result) => result,
            Err(_) => {
                tracing::debug!(addr = %self.addr, "probe timed out: counted as refused");
                Ok(None)
            }
        }
    }

    fn hello<'a>(
        &'a self,
        version: Version,
        suites: &'a [u16],
        groups: &'a [u16],
    ) -> ClientHello<'a> {
        ClientHello {
            version,
            suites,
            groups,
            sni: self.sni.as_deref(),
        }
    }

    /// Is `version` offered, and with which suites.
    pub async fn version(&self, version: Version) -> Result<VersionResult, ScanError> {
        let mut left: Vec<u16> = offerable(version);
        let groups: Vec<u16> = GROUPS.iter().map(|g| g.0).collect();
        let mut result = VersionResult::default();
        let full = version != Version::Tls13;
        while !left.is_empty() {
            let hello = self.hello(version, &left, &groups);
            let Some(flight) = self.exchange(&hello, !full).await? else {
                break;
            };
            let Some(sh) = flight.hello.as_ref() else {
                break;
            };
            if sh.version != version.wire() || !left.contains(&sh.cipher_suite) {
                break;
            }
            result.offered = true;
            result.suites.push(sh.cipher_suite);
            left.retain(|s| *s != sh.cipher_suite);
            let dhe = suites::suite(sh.cipher_suite)
                .is_some_and(|s| matches!(s.kx, Kx::Dhe | Kx::DheAnon));
            let ske = flight.server_key_exchange.as_deref().unwrap_or_default();
            if let Some(bits) = dh_prime_bits(ske).filter(|_| dhe) {
                result.dh_bits.push((sh.cipher_suite, bits));
            }
            if full && result.flight.is_none() {
                result.flight = Some(flight);
            }
        }
        Ok(result)
    }

    /// Groups the server accepts: through HelloRetryRequest in TLS 1.3, through the
    /// ServerKeyExchange curve in TLS 1.2.
    pub async fn group(&self, version: Version, group: u16) -> Result<bool, ScanError> {
        let suites: Vec<u16> = if version == Version::Tls13 {
            offerable(Version::Tls13)
        } else {
            suites::all()
                .filter(|s| s.kx == Kx::Ecdhe && s.since != Since::Tls13)
                .map(|s| s.id)
                .collect()
        };
        let hello = self.hello(version, &suites, std::slice::from_ref(&group));
        let Some(flight) = self.exchange(&hello, false).await? else {
            return Ok(false);
        };
        let Some(sh) = flight.hello else {
            return Ok(false);
        };
        if version == Version::Tls13 {
            return Ok(sh.version == 0x0304 && sh.group == Some(group));
        }
        let ske = flight.server_key_exchange.unwrap_or_default();
        // ServerECDHParams: curve_type 3 (named_curve), then the curve (RFC 8422 5.4).
        Ok(ske.len() >= 3 && ske[0] == 3 && u16::from_be_bytes([ske[1], ske[2]]) == group)
    }
}

/// Suites worth offering in `version`.
pub(crate) fn offerable(version: Version) -> Vec<u16> {
    let ok = |since: Since| match version {
        Version::Tls13 => since == Since::Tls13,
        Version::Tls12 => since != Since::Tls13,
        _ => since == Since::Ssl3,
    };
    let set: BTreeSet<u16> = suites::all()
        .filter(|s| ok(s.since))
        .map(|s| s.id)
        .collect();
    set.into_iter().collect()
}

async fn read_flight(
    stream: &mut TcpStream,
    stop_after_hello: bool,
) -> Result<Option<ServerFlight>, ScanError> {
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        match hello::parse_server_flight(&buf, stop_after_hello) {
            Ok(Progress::NeedMore) => {}
            Ok(Progress::Done(flight)) => return Ok(Some(flight)),
            Err(e) => {
                // One odd answer (an SSL 2.0 error to an SSL 3.0 hello, say) must not end
                // the scan: the probe counts as refused, and the reason goes to the log.
                tracing::debug!(error = %e, "probe answer unreadable: counted as refused");
                return Ok(None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::dh_prime_bits;

    #[test]
    fn dh_prime_size_ignores_leading_zeros() {
        let mut ske = vec![0, 3, 0x00, 0x7F, 0xFF];
        ske.extend_from_slice(&[0, 1, 2]);
        assert_eq!(dh_prime_bits(&ske), Some(15));
        assert_eq!(dh_prime_bits(&[0, 9, 1]), None, "truncated");
        assert_eq!(dh_prime_bits(&[]), None);
    }
}
