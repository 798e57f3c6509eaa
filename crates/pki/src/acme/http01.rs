//! The http-01 check (RFC 8555 §8.3): fetch
//! `http://NAME:PORT/.well-known/acme-challenge/TOKEN` and compare the body with the
//! key authorization. Plain HTTP/1.0 over TCP with a deadline and a size limit;
//! redirects are not followed.

use super::error::AcmeError;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Most bytes read from the client's challenge server (headers and body).
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024;

/// Where and how long to look.
#[derive(Debug, Clone)]
pub struct Http01 {
    /// Port to connect to (80 in production).
    pub port: u16,
    /// Names answered from here instead of DNS.
    pub resolve: BTreeMap<String, IpAddr>,
    /// Whole fetch deadline.
    pub timeout: Duration,
}

impl Http01 {
    async fn address(&self, name: &str) -> Result<SocketAddr, AcmeError> {
        if let Some(ip) = self.resolve.get(name) {
            return Ok(SocketAddr::new(*ip, self.port));
        }
        let mut found = tokio::net::lookup_host((name, self.port))
            .await
            .map_err(|e| AcmeError::Connection(format!("cannot resolve {name}: {e}")))?;
        found
            .next()
            .ok_or_else(|| AcmeError::Connection(format!("{name} has no address")))
    }

    /// Fetches the token's resource from `name` and checks it equals `expected`.
    ///
    /// # Errors
    /// [`AcmeError::Connection`] when nothing answers in time,
    /// [`AcmeError::IncorrectResponse`] when the answer is not the key authorization.
    pub async fn validate(&self, name: &str, token: &str, expected: &str) -> Result<(), AcmeError> {
        let fetch = self.fetch(name, token);
        let body = tokio::time::timeout(self.timeout, fetch)
            .await
            .map_err(|_| {
                AcmeError::Connection(format!(
                    "http://{name}:{}/ did not answer within {:?}",
                    self.port, self.timeout
                ))
            })??;
        if body.trim_ascii() == expected.as_bytes() {
            Ok(())
        } else {
            Err(AcmeError::IncorrectResponse(format!(
                "http://{name}:{}/.well-known/acme-challenge/{token} does not hold the key \
                 authorization for this account",
                self.port
            )))
        }
    }

    async fn fetch(&self, name: &str, token: &str) -> Result<Vec<u8>, AcmeError> {
        let addr = self.address(name).await?;
        let conn = |e: std::io::Error| AcmeError::Connection(format!("http://{name}: {e}"));
        let mut stream = tokio::net::TcpStream::connect(addr).await.map_err(conn)?;
        let request = format!(
            "GET /.well-known/acme-challenge/{token} HTTP/1.0\r\nHost: {name}\r\n\
             User-Agent: webqx-acme\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.map_err(conn)?;
        let mut response = Vec::new();
        (&mut stream)
            .take(MAX_RESPONSE_BYTES as u64 + 1)
            .read_to_end(&mut response)
            .await
            .map_err(conn)?;
        if response.len() > MAX_RESPONSE_BYTES {
            return Err(AcmeError::IncorrectResponse(format!(
                "the challenge response from {name} is larger than {MAX_RESPONSE_BYTES} bytes"
            )));
        }
        body_of(name, &response).map(<[u8]>::to_vec)
    }
}

/// The body of a complete HTTP/1.x response with status 200.
fn body_of<'a>(name: &str, response: &'a [u8]) -> Result<&'a [u8], AcmeError> {
    let bad = |why: &str| AcmeError::IncorrectResponse(format!("{name} answered {why}"));
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no complete HTTP response"))?;
    let head = std::str::from_utf8(&response[..end]).map_err(|_| bad("a non-text header"))?;
    let status = head.lines().next().unwrap_or("");
    let mut parts = status.split(' ');
    let version = parts.next().unwrap_or("");
    let code = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(bad("something that is not HTTP/1"));
    }
    if code != "200" {
        return Err(bad(&format!("HTTP status {code}, not 200")));
    }
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if chunked {
        return Err(bad("a chunked body to an HTTP/1.0 request"));
    }
    Ok(&response[end + 4..])
}

#[cfg(test)]
mod tests {
    use super::body_of;

    #[test]
    fn responses_are_read_strictly() {
        assert_eq!(
            body_of("h", b"HTTP/1.0 200 OK\r\nA: b\r\n\r\nabc").unwrap(),
            b"abc"
        );
        assert!(body_of("h", b"HTTP/1.1 404 Not Found\r\n\r\nabc").is_err());
        assert!(body_of("h", b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(body_of("h", b"SSH-2.0\r\n\r\n").is_err());
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        assert!(body_of("h", chunked).is_err());
    }
}
