//! Runs the real `webqx-sec` binary as a server in a temporary data folder, and talks to
//! it over HTTPS the way a client would.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A running server (killed when dropped).
pub struct Server {
    /// The binary.
    pub bin: PathBuf,
    /// Data folder.
    pub data: PathBuf,
    /// `https://127.0.0.1:PORT`.
    pub addr: String,
    /// Extra environment for the server and CLI (PostgreSQL settings, config).
    pub env: Vec<(String, String)>,
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
}

/// Environment that points a server at a fresh PostgreSQL schema, when configured.
pub fn postgres_env() -> Option<Vec<(String, String)>> {
    let url = crate::postgres_url()?;
    let schema = format!("webqx_e2e_{}", uuid::Uuid::now_v7().simple());
    Some(vec![
        ("WEBQX_STORAGE_URL".into(), url),
        ("WEBQX_STORAGE_SCHEMA".into(), schema),
    ])
}

impl Server {
    /// Starts a server on a fresh data folder (first start: local initialization).
    pub fn start(bin: &str, env: &[(String, String)]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let mut s = Server {
            bin: bin.into(),
            data,
            addr: String::new(),
            env: env.to_vec(),
            child: None,
            _dir: Some(dir),
        };
        s.spawn();
        s
    }

    /// A server over an existing data folder, not yet started.
    pub fn over(bin: &str, data: &Path, env: &[(String, String)]) -> Server {
        Server {
            bin: bin.into(),
            data: data.into(),
            addr: String::new(),
            env: env.to_vec(),
            child: None,
            _dir: None,
        }
    }

    /// Starts a second node on the same store (PostgreSQL): its own data folder with this
    /// node's TLS material, key file and admin token, and the same environment.
    pub fn second_node(&self) -> Server {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let tls = data.join("tls");
        std::fs::create_dir_all(&tls).expect("data folder");
        for entry in std::fs::read_dir(self.data.join("tls")).expect("tls folder") {
            let entry = entry.expect("tls entry");
            std::fs::copy(entry.path(), tls.join(entry.file_name())).expect("tls copy");
        }
        for file in ["unseal.key", "admin.token"] {
            std::fs::copy(self.data.join(file), data.join(file)).expect("key file copy");
        }
        for d in [&data, &tls] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))
                .expect("permissions");
        }
        let mut s = Server {
            bin: self.bin.clone(),
            data,
            addr: String::new(),
            env: self.env.clone(),
            child: None,
            _dir: Some(dir),
        };
        s.spawn();
        s
    }

    /// Starts (or restarts) the process and waits until it listens.
    pub fn spawn(&mut self) {
        let _ = std::fs::remove_file(self.data.join("addr"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data.with_extension("log"))
            .expect("server log");
        let child = Command::new(&self.bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&self.data)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("WEBQX_SERVER_SCHEDULER_INTERVAL", "1s")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(addr) = std::fs::read_to_string(self.data.join("addr")) {
                self.addr = addr.trim().to_owned();
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("server exited at start ({status}); log:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "server did not start; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.with_extension("log")).unwrap_or_default()
    }

    /// SIGKILL: no shutdown, no flush.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        c.wait().expect("exit status")
    }

    /// The admin token.
    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.data.join("admin.token"))
            .expect("admin token")
            .trim()
            .to_owned()
    }

    /// Path of the CA certificate.
    pub fn ca(&self) -> PathBuf {
        self.data.join("tls").join("ca.pem")
    }

    /// Runs the CLI against this server (flags from the data folder).
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_with(args, None)
    }

    /// Runs the CLI with `stdin` fed.
    pub fn cli_with(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        use std::io::Write;
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--data-dir")
            .arg(&self.data)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd.env_remove("WEBQX_TOKEN")
            .env_remove("WEBQX_ADDR")
            .env_remove("WEBQX_CACERT");
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("cli runs");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input)
                .expect("write stdin");
        }
        drop(child.stdin.take());
        child.wait_with_output().expect("cli output")
    }

    /// An HTTPS client that trusts the server's CA.
    pub fn http(&self) -> Http {
        let pem = std::fs::read(self.ca()).expect("CA file");
        let tls = webqx_pki::client_config(&pem).expect("client config");
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .build()
            .expect("client");
        Http {
            client,
            addr: self.addr.clone(),
            token: Some(self.admin_token()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Text of a CLI run's standard output.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Text of a CLI run's standard error.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// An HTTPS client for one server.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    addr: String,
    /// Bearer token sent with every request (None: none).
    pub token: Option<String>,
}

/// A response: status, headers, JSON body (Null when empty or not JSON), raw text.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Parsed body.
    pub json: Value,
    /// Raw body.
    pub text: String,
}

impl Http {
    /// With another token (or none).
    pub fn with_token(&self, token: Option<&str>) -> Http {
        Http {
            token: token.map(str::to_owned),
            ..self.clone()
        }
    }

    /// Sends a request with an optional raw body and content type.
    pub async fn send(&self, method: &str, path: &str, body: Option<(Vec<u8>, &str)>) -> Reply {
        match body {
            Some((bytes, ct)) => {
                self.send_raw(method, path, Some(bytes), &[("content-type", ct)])
                    .await
            }
            None => self.send_raw(method, path, None, &[]).await,
        }
    }

    /// Sends a request with an optional raw body and exactly the headers given (and
    /// the bearer token): no content type unless one is given.
    pub async fn send_raw(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, format!("{}{path}", self.addr));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(bytes) = body {
            req = req.body(bytes);
        }
        let r = req.send().await.expect("request reaches the server");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            json,
            text,
        }
    }

    /// The alerts (`GET /v1/alerts?limit=1000`), asserting 200.
    pub async fn alerts(&self) -> Vec<Value> {
        let r = self.get("/v1/alerts?limit=1000").await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json["alerts"].as_array().cloned().unwrap_or_default()
    }

    /// Polls the alerts until `check` holds for them (60 s at most, then fails naming
    /// `what` and the alerts seen).
    pub async fn wait_alerts(&self, what: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let alerts = self.alerts().await;
            if check(&alerts) {
                return alerts;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; alerts: {:#?}",
                alerts
                    .iter()
                    .map(|a| (&a["rule_id"], &a["title"], &a["group_key"], &a["count"]))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// POST JSON.
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(
            "POST",
            path,
            Some((body.to_string().into_bytes(), "application/json")),
        )
        .await
    }

    /// POST JSON; `None` when the server cannot be reached (it was killed).
    pub async fn try_post(&self, path: &str, body: Value) -> Option<Reply> {
        let mut req = self.client.post(format!("{}{path}", self.addr)).json(&body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.ok()?;
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.ok()?;
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Some(Reply {
            status,
            headers,
            json,
            text,
        })
    }

    /// GET.
    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None).await
    }

    /// GET with extra headers and no bearer token (clients such as MariaDB's Vault
    /// plugin authenticate with their own header).
    pub async fn get_with_headers(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut req = self.client.get(format!("{}{path}", self.addr));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let r = req.send().await.expect("request reaches the server");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            json,
            text,
        }
    }
}
