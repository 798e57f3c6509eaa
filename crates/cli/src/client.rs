//! Talking to the server: where it is, which token and CA to use (flags, then
//! `WEBQX_*` variables, then the local data folder, as Vault's CLI does), and turning
//! problem documents into messages and exit codes.

use crate::exit::{Exit, Failure};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How to reach the server.
pub struct Target {
    /// Base URL, `https://host:port`.
    pub addr: String,
    /// Bearer token, if any.
    pub token: Option<String>,
    /// CA certificate file.
    pub ca: PathBuf,
    /// SPKI pins the server's chain must match (none: no pinning).
    pub pins: Vec<webqx_pki::pin::Pin>,
}

impl Target {
    /// Pins the server to `texts` (from `--pin` / `WEBQX_PINS`).
    ///
    /// # Errors
    /// A usage failure naming a malformed pin.
    pub fn with_pins(mut self, texts: &[String]) -> Result<Target, Failure> {
        let joined = texts.join(";");
        self.pins = webqx_pki::pin::parse_pin_list(&joined)
            .map_err(|e| Failure::usage(format!("--pin / WEBQX_PINS: {e}")))?;
        Ok(self)
    }
}

/// Resolves the target from flags (already merged with the environment by clap) and the
/// data folder.
///
/// # Errors
/// A local failure when no address or CA can be found.
pub fn target(
    addr: Option<&str>,
    token: Option<&str>,
    ca: Option<&Path>,
    data_dir: &Path,
) -> Result<Target, Failure> {
    let addr = match addr {
        Some(a) => a.trim().to_owned(),
        None => match std::fs::read_to_string(data_dir.join("addr")) {
            Ok(text) => text.trim().to_owned(),
            Err(_) => "https://127.0.0.1:8443".to_owned(),
        },
    };
    if !addr.starts_with("https://") {
        return Err(Failure::new(
            Exit::Usage,
            format!(
                "the address '{addr}' must start with https:// (the service speaks HTTPS only)"
            ),
        ));
    }
    let token = match token {
        Some(t) => Some(t.trim().to_owned()),
        None => std::fs::read_to_string(data_dir.join("admin.token"))
            .ok()
            .map(|t| t.trim().to_owned()),
    };
    let ca = ca
        .map(Path::to_path_buf)
        .unwrap_or_else(|| data_dir.join("tls").join("ca.pem"));
    Ok(Target {
        addr: addr.trim_end_matches('/').to_owned(),
        token,
        ca,
        pins: Vec::new(),
    })
}

/// An HTTPS client bound to one target.
pub struct Client {
    http: reqwest::Client,
    target: Target,
}

impl Client {
    /// Builds the client; it trusts only the target's CA.
    ///
    /// # Errors
    /// A local failure when the CA file cannot be read.
    pub fn new(target: Target) -> Result<Client, Failure> {
        let pem = std::fs::read(&target.ca).map_err(|e| {
            Failure::new(
                Exit::Local,
                format!(
                    "cannot read the CA certificate {}: {e}; pass --ca-cert or set WEBQX_CACERT",
                    target.ca.display()
                ),
            )
        })?;
        let tls = if target.pins.is_empty() {
            webqx_pki::client_config(&pem).map_err(|e| e.to_string())
        } else {
            webqx_pki::pin::client_config_pinned(&pem, target.pins.clone())
                .map_err(|e| e.to_string())
        }
        .map_err(|e| Failure::new(Exit::Local, format!("{}: {e}", target.ca.display())))?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .https_only(true)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .user_agent(concat!("webqx-sec/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                Failure::new(Exit::Local, format!("cannot build the HTTPS client: {e}"))
            })?;
        Ok(Client { http, target })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.target.addr));
        if let Some(token) = &self.target.token {
            req = req.bearer_auth(token);
        }
        req
    }

    /// Sends JSON (or nothing) and returns the JSON answer.
    ///
    /// # Errors
    /// A failure carrying the server's problem detail and the matching exit code.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Failure> {
        let mut req = self.request(method, path);
        if let Some(body) = body {
            req = req.json(body);
        }
        let response = req.send().await.map_err(|e| self.unreachable(e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.unreachable(e))?;
        if !status.is_success() {
            return Err(problem(status, &bytes));
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            Failure::new(
                Exit::Server,
                format!("the server's answer is not JSON: {e}"),
            )
        })
    }

    /// GETs `path` the way a Vault client does (token in `X-Vault-Token`) and returns
    /// the status, whatever it is.
    ///
    /// # Errors
    /// Only when the server cannot be reached.
    pub async fn vault_status(&self, path: &str) -> Result<u16, Failure> {
        let mut req = self.http.get(format!("{}{path}", self.target.addr));
        if let Some(token) = &self.target.token {
            req = req.header("x-vault-token", token);
        }
        let response = req.send().await.map_err(|e| self.unreachable(e))?;
        Ok(response.status().as_u16())
    }

    /// Sends raw bytes with a content type and returns the raw answer.
    ///
    /// # Errors
    /// As for [`Client::call`].
    pub async fn raw(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, Failure> {
        let response = self
            .request(reqwest::Method::POST, path)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.unreachable(e))?;
        if !status.is_success() {
            return Err(problem(status, &bytes));
        }
        Ok(bytes.to_vec())
    }

    /// Opens a long-lived GET (a server-sent-events stream): no overall time limit.
    ///
    /// # Errors
    /// As for [`Client::call`].
    pub async fn open_stream(
        &self,
        path: &str,
        last_event_id: Option<&str>,
    ) -> Result<reqwest::Response, Failure> {
        let mut req = self
            .request(reqwest::Method::GET, path)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .timeout(Duration::from_secs(10 * 365 * 86_400));
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let response = req.send().await.map_err(|e| self.unreachable(e))?;
        let status = response.status();
        if !status.is_success() {
            let bytes = response.bytes().await.map_err(|e| self.unreachable(e))?;
            return Err(problem(status, &bytes));
        }
        Ok(response)
    }

    /// GETs a text answer, with the response headers.
    ///
    /// # Errors
    /// As for [`Client::call`].
    pub async fn get_text(
        &self,
        path: &str,
    ) -> Result<(Vec<u8>, reqwest::header::HeaderMap), Failure> {
        let response = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(|e| self.unreachable(e))?;
        if !status.is_success() {
            return Err(problem(status, &bytes));
        }
        Ok((bytes.to_vec(), headers))
    }

    /// POSTs with no body and streams the (binary) answer into `out`, chunk by chunk.
    ///
    /// # Errors
    /// As for [`Client::call`]; a local failure when `out` cannot be written; a server
    /// failure when the answer is cut off.
    pub async fn download(
        &self,
        path: &str,
        out: &mut impl std::io::Write,
    ) -> Result<u64, Failure> {
        let mut response = self
            .request(reqwest::Method::POST, path)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = response.status();
        if !status.is_success() {
            let bytes = response.bytes().await.map_err(|e| self.unreachable(e))?;
            return Err(problem(status, &bytes));
        }
        let mut total = 0u64;
        loop {
            let chunk = response.chunk().await.map_err(|e| {
                Failure::new(
                    Exit::Server,
                    format!("the server stopped sending midway ({e}); see its log"),
                )
            })?;
            let Some(chunk) = chunk else { break };
            out.write_all(&chunk)
                .map_err(|e| Failure::local(format!("cannot write the output: {e}")))?;
            total += chunk.len() as u64;
        }
        Ok(total)
    }

    fn unreachable(&self, e: reqwest::Error) -> Failure {
        let mut why = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            why = format!("{why}: {s}");
            source = s.source();
        }
        let tls = [
            "UnknownIssuer",
            "invalid peer certificate",
            "NotValidForName",
            "certificate",
        ]
        .iter()
        .any(|s| why.contains(s));
        let message = if why.contains("certificate pinning failed") {
            let detail = why
                .split("certificate pinning failed")
                .nth(1)
                .unwrap_or_default();
            format!(
                "refused the server at {}: certificate pinning failed{detail}",
                self.target.addr
            )
        } else if tls {
            format!(
                "the server at {} presented a certificate that {} does not vouch for ({why}); \
                 pass the right --ca-cert (or WEBQX_CACERT)",
                self.target.addr,
                self.target.ca.display()
            )
        } else {
            format!(
                "cannot reach the server at {} ({why}); is `webqx-sec serve` running? (set \
                 --addr/WEBQX_ADDR and --ca-cert/WEBQX_CACERT for a remote one)",
                self.target.addr
            )
        };
        Failure::new(Exit::Connect, message)
    }
}

/// Turns an error answer into a failure with the problem's detail.
fn problem(status: reqwest::StatusCode, bytes: &[u8]) -> Failure {
    let exit = if status.is_client_error() {
        Exit::Refused
    } else {
        Exit::Server
    };
    let doc: Option<Value> = serde_json::from_slice(bytes).ok();
    // Problem documents carry `detail`; OAuth endpoints answer RFC 6749 errors.
    let detail = doc
        .as_ref()
        .and_then(|d| d.get("detail").or_else(|| d.get("error_description")))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("the server answered {status}"));
    let mut failure = Failure::new(exit, detail);
    failure.problem = doc;
    failure
}
