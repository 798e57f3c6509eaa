//! The WebQx Security server: the HTTPS API over the capability crates.
//!
//! This crate maps HTTP onto the capabilities and owns what is about HTTP and the
//! process: authentication of callers, authorization of each operation, the problem
//! document for every error, the audit record for every request, metrics, the OpenAPI
//! description, the data folder, start-up and shutdown, and the scheduler. It holds no
//! cryptography and no business rules of its own.

#![forbid(unsafe_code)]

mod acme_setup;
pub mod api;
pub mod backups;
pub mod bootstrap;
pub mod config;
pub mod config_monitor;
pub mod config_oauth;
pub mod config_pki;
pub mod config_vuln;
pub mod datadir;
pub mod extract;
pub mod hsm;
pub mod intake;
pub mod lifecycle;
mod listener;
pub mod middleware;
pub mod monitor;
pub mod mtls;
pub mod oauth;
pub mod problem;
pub mod scans;
pub mod state;
pub mod vulnscans;

use bootstrap::{InitKind, Services};
use config::Config;
use state::AppState;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use webqx_audit::RequestContext;
use webqx_crypto::SecretBytes;

const LOCAL_USE_WARNING: &str = "\
*** LOCAL USE ONLY *** This service unseals itself with the key file in its data folder.
Anyone who can read that folder can decrypt every key. In production initialize with
`webqx-sec init --shares N --threshold K` (Shamir shares held by different people) or
`webqx-sec init --passphrase`, and keep no unseal.key on the server.";

fn prometheus() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: OnceLock<metrics_exporter_prometheus::PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ];
            let builder = metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets(&buckets)
                .unwrap_or_else(|_| metrics_exporter_prometheus::PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(handle) => handle,
                // Another recorder is installed (embedded use): render an empty registry.
                Err(_) => metrics_exporter_prometheus::PrometheusBuilder::new()
                    .build_recorder()
                    .handle(),
            }
        })
        .clone()
}

/// Initializes a data folder for production (`webqx-sec init`): the service then starts
/// sealed. Returns the Shamir shares to print (none for a passphrase).
///
/// # Errors
/// A message for the operator.
pub async fn init(config: &Config, kind: InitKind) -> Result<Vec<SecretBytes>, String> {
    let data = datadir::DataDir::new(&config.server.data_dir);
    data.ensure()?;
    datadir::write_private(&data.init_marker(), b"webqx-sec init\n")?;
    let s = bootstrap::open(config).await?;
    if s.kms.is_initialized().await.map_err(|e| e.to_string())? {
        return Err(format!(
            "{} is already initialized; nothing was changed (a new service needs a new data folder or database)",
            s.data.root().display()
        ));
    }
    let out = bootstrap::initialize(config, &s, kind)
        .await
        .map_err(|e| e.to_string())?;
    s.store.close().await;
    let _ = std::fs::remove_file(s.data.init_marker());
    Ok(out.shares)
}

/// The OAuth authorization server when `[oauth] enabled`, its issuer being
/// `[oauth] issuer`, else `[pki] base_url`, else `https://<listening address>`.
fn oauth_service(
    config: &Config,
    s: &bootstrap::Services,
    local: &str,
) -> Result<Option<Arc<oauth::OAuthService>>, String> {
    if !config.oauth.enabled {
        return Ok(None);
    }
    let issuer = config
        .oauth
        .issuer
        .clone()
        .or_else(|| config.pki.base_url.clone())
        .unwrap_or_else(|| format!("https://{local}"));
    let issuer = issuer.trim_end_matches('/').to_owned();
    let service = oauth::OAuthService::new(
        &config.oauth,
        &issuer,
        s.store.clone(),
        s.audit.clone(),
        s.kms.clone(),
    )?;
    tracing::info!(%issuer, "OAuth authorization server on");
    Ok(Some(Arc::new(service)))
}

/// Runs the server until SIGINT or SIGTERM.
///
/// On an empty data folder it first initializes itself for local use (a key file seal,
/// with a loud warning). A key-file seal is opened at start; other seals wait for
/// `webqx-sec unseal`.
///
/// # Errors
/// A message for the operator when the service cannot start.
pub async fn serve(config: Config) -> Result<(), String> {
    let s = bootstrap::open(&config).await?;
    if !s.kms.is_initialized().await.map_err(|e| e.to_string())? {
        if s.data.init_marker().exists() {
            return Err(format!(
                "{} holds an unfinished `webqx-sec init`; run it again (or remove the folder to \
                 start over). The server will not initialize it for local use instead.",
                s.data.root().display()
            ));
        }
        tracing::warn!(data_dir = %s.data.root().display(), "first start: initializing for local use");
        bootstrap::initialize(&config, &s, InitKind::Dev)
            .await
            .map_err(|e| format!("initialization failed: {e}"))?;
        s.kms
            .seal(&RequestContext::internal("system"))
            .await
            .map_err(|e| e.to_string())?;
    }
    unseal_from_key_file(&s).await?;
    let _ = hsm::try_unseal(&config, &s.kms, &RequestContext::internal("system"), false).await;
    if let Err(e) = bootstrap::prepare_pki(&s).await {
        tracing::warn!(error = %e, "the certificate authority is not ready; it will be retried");
    }
    if let Err(e) = bootstrap::renew_server_cert_if_needed(&config, &s).await {
        tracing::warn!(error = %e, "server certificate renewal failed; serving the current one");
    }

    let cert = webqx_pki::certified_key(&read(&s.data.server_pem())?, &read(&s.data.server_key())?)
        .map_err(|e| format!("cannot load the server certificate: {e}"))?;
    let cert = webqx_pki::ReloadableCert::new(cert);
    let versions = if config.tls.min_version == "1.2" {
        webqx_pki::TlsVersions::Tls12And13
    } else {
        webqx_pki::TlsVersions::Tls13
    };
    let tls = api_tls_config(&config, &s, cert.clone(), versions)?;
    let intake = start_syslog_intake(&config, &s, cert.clone(), versions).await?;
    let monitoring = start_monitor(&config, &s, cert.clone(), versions).await?;

    let config = Arc::new(config);
    let sinks = start_sinks(&config, &s).await?;
    // Bound before the state is built: the OAuth issuer defaults to this address.
    let listener = tokio::net::TcpListener::bind(config.listen_addr())
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.server.listen))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let local = if bound.ip().is_unspecified() {
        format!("127.0.0.1:{}", bound.port())
    } else {
        bound.to_string()
    };
    let oauth = oauth_service(&config, &s, &local)?;
    let state = AppState {
        store: s.store.clone(),
        audit: s.audit.clone(),
        kms: s.kms.clone(),
        tokens: s.tokens.clone(),
        policy: Arc::new(config.fhir.policy()),
        config: config.clone(),
        metrics: prometheus(),
        sinks: sinks.clone(),
        pki: s.pki.clone(),
        acme: acme_setup::build(&config.acme, &s.store, &s.pki)?,
        oauth: oauth.clone(),
        monitor: monitoring.as_ref().map(|m| m.monitor.clone()),
    };
    let tang = start_tang_listener(&config, state.clone()).await?;
    let app = api::router(state);
    datadir::write_private(&s.data.addr(), format!("https://{local}\n").as_bytes())?;
    tracing::info!(address = %bound, tls = %config.tls.min_version, sealed = s.kms.is_sealed(), "listening (HTTPS)");

    let s = Arc::new(s);
    let scheduler = tokio::spawn(scheduler(config.clone(), s.clone(), cert, oauth));
    let cert_watch = tokio::spawn(lifecycle::run(config.clone(), s.clone()));
    let checkpoints = tokio::spawn(checkpointer(config.clone(), s.clone()));
    let backups = tokio::spawn(backups::scheduler(config.clone(), s.clone()));
    let tls_scans = tokio::spawn(scans::scheduler(
        config.clone(),
        s.store.clone(),
        s.audit.clone(),
    ));
    let vuln_scans = tokio::spawn(vulnscans::scheduler(
        config.clone(),
        s.store.clone(),
        s.audit.clone(),
    ));
    let grace = Config::duration(&config.server.shutdown_grace);
    let max_connections = config.server.max_connections;
    listener::serve(
        listener,
        tls,
        app,
        shutdown_signal(),
        grace,
        max_connections,
    )
    .await;
    scheduler.abort();
    cert_watch.abort();
    checkpoints.abort();
    backups.abort();
    tls_scans.abort();
    vuln_scans.abort();
    if let Some(tang) = tang {
        tang.abort();
    }
    intake.shutdown();
    if let Some(m) = monitoring {
        m.shutdown();
    }
    if !s.kms.is_sealed() {
        let _ = s
            .kms
            .checkpoint_audit(&RequestContext::internal("system"))
            .await;
    }
    if let Some(sinks) = sinks {
        match Arc::try_unwrap(sinks) {
            Ok(sinks) => sinks.shutdown(grace).await,
            Err(_) => tracing::warn!("SIEM sinks still in use at shutdown; not flushed"),
        }
    }
    let _ = std::fs::remove_file(s.data.addr());
    s.store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// The API's TLS configuration: with `[tls] client_auth = "optional"`, clients may
/// present a certificate from our CA (see [`mtls`]).
fn api_tls_config(
    config: &Config,
    s: &Services,
    cert: Arc<webqx_pki::ReloadableCert>,
    versions: webqx_pki::TlsVersions,
) -> Result<Arc<rustls::ServerConfig>, String> {
    if config.tls.client_auth == "off" {
        return webqx_pki::server_config_reloadable(cert, versions).map_err(|e| e.to_string());
    }
    // Trust the root; also the default issuing chain, for clients that send only
    // their leaf.
    let mut client_cas = read(&s.data.ca_pem())?;
    if let Ok(chain) = s.pki.issuing_chain_pem(None) {
        client_cas.extend_from_slice(chain.as_bytes());
    }
    webqx_pki::mtls::server_config_optional_client_auth(cert, versions, &client_cas)
        .map_err(|e| format!("cannot set up client certificate authentication: {e}"))
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

async fn unseal_from_key_file(s: &Services) -> Result<(), String> {
    let path = s.data.unseal_key();
    let status = s.kms.seal_status().await.map_err(|e| e.to_string())?;
    if status.seal_type.as_deref() != Some("key-file") {
        if path.exists() {
            tracing::warn!(file = %path.display(), "unseal.key present but the seal is not a key file; ignoring it");
        }
        if status.seal_type.as_deref() != Some("pkcs11") {
            tracing::info!("sealed: unseal with `webqx-sec unseal`");
        }
        return Ok(());
    }
    let key = std::fs::read(&path).map_err(|e| {
        format!(
            "this service unseals with {}, which cannot be read: {e}",
            path.display()
        )
    })?;
    eprintln!("{LOCAL_USE_WARNING}");
    tracing::warn!("unsealing with a key file: local use only");
    s.kms
        .unseal_with_key(&RequestContext::internal("system"), &SecretBytes::new(key))
        .await
        .map_err(|e| e.to_string())
}

async fn scheduler(
    config: Arc<Config>,
    s: Arc<Services>,
    cert: Arc<webqx_pki::ReloadableCert>,
    oauth: Option<Arc<oauth::OAuthService>>,
) {
    let every = Config::duration(&config.server.scheduler_interval).max(Duration::from_secs(1));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stapled: Option<std::time::Instant> = None;
    loop {
        tick.tick().await;
        if s.kms.is_sealed() {
            let ctx = RequestContext::internal("scheduler");
            let _ = hsm::try_unseal(&config, &s.kms, &ctx, false).await;
        }
        let ctx = RequestContext::internal("scheduler");
        match s.kms.run_due_work(&ctx).await {
            Ok((0, 0)) => {}
            Ok((rotated, destroyed)) => {
                tracing::info!(rotated, destroyed, "scheduled key work done")
            }
            Err(e) => tracing::warn!(error = %e, "scheduled key work failed"),
        }
        if let Some(oauth) = &oauth
            && let Err(e) = oauth.server.purge_expired().await
        {
            tracing::warn!(error = %e, "purging expired OAuth assertion ids and revocations failed");
        }
        if let Err(e) = bootstrap::prepare_pki(&s).await {
            tracing::warn!(error = %e, "the certificate authority is not ready");
        }
        if !s.kms.is_sealed() {
            // CRLs on schedule (every crl_every, and at once when marked due after a
            // revocation), not only when a relying party asks for an expired one.
            match s.pki.rebuild_due_crls().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(rebuilt = n, "CRLs rebuilt"),
                Err(e) => tracing::warn!(error = %e, "a CRL could not be rebuilt; it stays due"),
            }
        }
        match bootstrap::renew_server_cert_if_needed(&config, &s).await {
            Ok(true) => match (read(&s.data.server_pem()), read(&s.data.server_key())) {
                (Ok(chain), Ok(key)) => match webqx_pki::certified_key(&chain, &key) {
                    Ok(next) => {
                        cert.replace(next);
                        stapled = None;
                        tracing::info!("server certificate renewed and reloaded");
                    }
                    Err(e) => tracing::warn!(error = %e, "renewed certificate does not load"),
                },
                _ => tracing::warn!("renewed certificate files cannot be read"),
            },
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "server certificate renewal failed"),
        }
        let half = s.pki.settings().crl_every / 2;
        if stapled.is_none_or(|at| at.elapsed() >= half) && staple(&s, &cert).await {
            stapled = Some(std::time::Instant::now());
        }
    }
}

/// Staples a fresh OCSP response from our own responder to the server certificate, so
/// that clients asking for status (RFC 6066) get it in the handshake. Returns whether it
/// did; a sealed service, or a certificate that is not from our CA, is skipped.
async fn staple(s: &Services, cert: &webqx_pki::ReloadableCert) -> bool {
    if s.kms.is_sealed() {
        return false;
    }
    let chain = cert.chain();
    let (Some(leaf), Some(issuer)) = (chain.first(), chain.get(1)) else {
        return false;
    };
    match s.pki.ocsp_staple(leaf.as_ref(), issuer.as_ref()).await {
        Ok(der) => {
            cert.staple(leaf.as_ref(), der);
            tracing::debug!("OCSP response stapled to the server certificate");
            true
        }
        Err(e) => {
            tracing::debug!(error = %e, "no OCSP response to staple");
            false
        }
    }
}

/// This machine's host name, for syslog headers and exports.
pub fn hostname() -> String {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|n| n.trim().to_owned())
            .ok()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "localhost".into())
    })
    .clone()
}

async fn start_sinks(
    config: &Config,
    s: &Services,
) -> Result<Option<Arc<webqx_siem::sink::Sinks>>, String> {
    if config.audit.sinks.is_empty() {
        return Ok(None);
    }
    let node = uuid::Uuid::now_v7().to_string();
    let sinks = webqx_siem::sink::Sinks::start(
        s.store.clone(),
        s.audit.clone(),
        config.audit.sinks.clone(),
        node,
    )
    .await
    .map_err(|e| format!("SIEM sinks cannot start: {e}"))?;
    tracing::info!(sinks = config.audit.sinks.len(), "SIEM sinks started");
    Ok(Some(Arc::new(sinks)))
}

/// The running syslog intake listeners.
struct IntakeListeners {
    stop: Option<webqx_events::syslog::Shutdown>,
}

impl IntakeListeners {
    fn shutdown(self) {
        if let Some(stop) = self.stop {
            stop.trigger();
        }
    }
}

/// Starts the ATNA-over-syslog listeners that `[audit]` configures.
async fn start_syslog_intake(
    config: &Config,
    s: &Services,
    cert: Arc<webqx_pki::ReloadableCert>,
    versions: webqx_pki::TlsVersions,
) -> Result<IntakeListeners, String> {
    use webqx_events::syslog::{Received, Transport};
    let a = &config.audit;
    if a.syslog_tls_listen.is_none()
        && a.syslog_tcp_listen.is_none()
        && a.syslog_udp_listen.is_none()
    {
        return Ok(IntakeListeners { stop: None });
    }
    let intake = Arc::new(intake::SyslogIntake::new(s.audit.clone()));
    let handler = Arc::new(move |r: Received| {
        let intake = intake.clone();
        async move {
            let transport = match r.transport {
                Transport::Udp => "udp",
                Transport::Tcp => "tcp",
                _ => "tls",
            };
            let msg = match &r.result {
                Ok(m) => m.msg().map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            intake.accept(transport, r.peer.to_string(), msg).await;
        }
    });
    let stop = serve_syslog(
        SyslogListen {
            section: "audit",
            purpose: "ATNA intake",
            tls: a.syslog_tls_listen.as_deref(),
            tcp: a.syslog_tcp_listen.as_deref(),
            udp: a.syslog_udp_listen.as_deref(),
            client_ca_file: a.syslog_client_ca_file.as_deref(),
            max_message_bytes: a.syslog_max_message_bytes,
        },
        handler,
        cert,
        versions,
    )
    .await?;
    Ok(IntakeListeners { stop: Some(stop) })
}

/// The running monitoring pipeline and its inputs.
struct Monitoring {
    monitor: monitor::Monitor,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    stop: Option<webqx_events::syslog::Shutdown>,
}

impl Monitoring {
    fn shutdown(self) {
        if let Some(stop) = self.stop {
            stop.trigger();
        }
        for t in self.tasks {
            t.abort();
        }
    }
}

/// Starts the monitoring pipeline and the inputs `[monitor]` configures (the HTTP input
/// is a route).
async fn start_monitor(
    config: &Config,
    s: &Services,
    cert: Arc<webqx_pki::ReloadableCert>,
    versions: webqx_pki::TlsVersions,
) -> Result<Option<Monitoring>, String> {
    let m = &config.monitor;
    if !m.enabled {
        return Ok(None);
    }
    if m.detector == "test-double" {
        tracing::warn!("[monitor] detector = \"test-double\": a stand-in for tests, not detection");
    }
    let settings = monitor::Settings {
        capacity: m.queue_capacity,
        group_window_ms: i64::try_from(config_monitor::duration(&m.group_window).as_millis())
            .unwrap_or(i64::MAX),
        record_explained: m.record_explained,
        state_every: config_monitor::duration(&m.state_save_interval),
    };
    let detector = monitor::detector(m).map_err(|e| format!("[monitor] detection rules: {e}"))?;
    let mon = monitor::start(&settings, detector, s.store.clone(), s.audit.clone());
    for kind in monitor::alerts::CONTEXT_KINDS
        .iter()
        .chain(&[monitor::STATE_KIND])
    {
        if let Ok(Some(doc)) = monitor::alerts::get_context(&s.store, kind).await {
            mon.set_context(kind, doc["document"].clone());
        }
    }
    let every = config_monitor::duration(&m.poll_interval);
    let mut tasks = Vec::new();
    for path in &m.files {
        tasks.push(tokio::spawn(monitor::tail::follow(
            mon.clone(),
            s.store.clone(),
            path.clone(),
            every,
            m.max_event_bytes,
        )));
        tracing::info!(file = %path.display(), "monitoring a log file");
    }
    if m.follow_audit {
        tasks.push(tokio::spawn(monitor::follow::follow(
            mon.clone(),
            s.store.clone(),
            m.audit_actions.clone(),
            every,
        )));
    }
    let stop = start_monitor_syslog(m, &mon, cert, versions).await?;
    Ok(Some(Monitoring {
        monitor: mon,
        tasks,
        stop,
    }))
}

/// The monitoring syslog listeners: each message's text becomes an event.
async fn start_monitor_syslog(
    m: &config_monitor::MonitorSection,
    mon: &monitor::Monitor,
    cert: Arc<webqx_pki::ReloadableCert>,
    versions: webqx_pki::TlsVersions,
) -> Result<Option<webqx_events::syslog::Shutdown>, String> {
    use webqx_events::syslog::Received;
    if m.syslog_tls_listen.is_none()
        && m.syslog_tcp_listen.is_none()
        && m.syslog_udp_listen.is_none()
    {
        return Ok(None);
    }
    let feed = mon.clone();
    // One reader per transport: sshd connection tracking needs each input in order.
    let readers = Arc::new(SyslogReaders {
        udp: std::sync::Mutex::new(monitor::event::LineReader::new("syslog-udp")),
        tcp: std::sync::Mutex::new(monitor::event::LineReader::new("syslog-tcp")),
        tls: std::sync::Mutex::new(monitor::event::LineReader::new("syslog-tls")),
    });
    let handler = Arc::new(move |r: Received| {
        let feed = feed.clone();
        let readers = readers.clone();
        async move { monitor_syslog_message(&feed, &readers, r) }
    });
    let stop = serve_syslog(
        SyslogListen {
            section: "monitor",
            purpose: "log monitoring",
            tls: m.syslog_tls_listen.as_deref(),
            tcp: m.syslog_tcp_listen.as_deref(),
            udp: m.syslog_udp_listen.as_deref(),
            client_ca_file: m.syslog_client_ca_file.as_deref(),
            max_message_bytes: m.syslog_max_message_bytes,
        },
        handler,
        cert,
        versions,
    )
    .await?;
    Ok(Some(stop))
}

/// Where one configuration section's syslog listeners go.
struct SyslogListen<'a> {
    /// The section, for error messages (`audit`, `monitor`).
    section: &'static str,
    /// What the listeners are for, for the log.
    purpose: &'static str,
    tls: Option<&'a str>,
    tcp: Option<&'a str>,
    udp: Option<&'a str>,
    client_ca_file: Option<&'a std::path::Path>,
    max_message_bytes: usize,
}

/// Starts the syslog listeners `l` names, all feeding `handler`; the returned switch
/// stops them.
async fn serve_syslog<H: webqx_events::syslog::SyslogHandler>(
    l: SyslogListen<'_>,
    handler: Arc<H>,
    cert: Arc<webqx_pki::ReloadableCert>,
    versions: webqx_pki::TlsVersions,
) -> Result<webqx_events::syslog::Shutdown, String> {
    use webqx_events::syslog;
    let (stop, signal) = syslog::shutdown_channel();
    let limits = syslog::ListenerConfig {
        max_frame_len: l.max_message_bytes,
        ..syslog::ListenerConfig::default()
    };
    let (section, purpose) = (l.section, l.purpose);
    if let Some(addr) = l.tls {
        let client_ca = match l.client_ca_file {
            Some(path) => Some(read(path)?),
            None => None,
        };
        let tls = webqx_pki::stream_server_config(cert, versions, client_ca.as_deref())
            .map_err(|e| format!("{section}.syslog_client_ca_file: {e}"))?;
        let listener = bind_tcp_for(addr, &format!("{section}.syslog_tls_listen")).await?;
        tokio::spawn(syslog::serve_tls(
            listener,
            tls,
            limits.clone(),
            handler.clone(),
            signal.clone(),
        ));
        tracing::info!(address = %addr, "{purpose} listening (syslog over TLS)");
    }
    if let Some(addr) = l.tcp {
        let listener = bind_tcp_for(addr, &format!("{section}.syslog_tcp_listen")).await?;
        tokio::spawn(syslog::serve_tcp(
            listener,
            limits.clone(),
            handler.clone(),
            signal.clone(),
        ));
        tracing::warn!(address = %addr, "{purpose} listening on plain TCP (clear text: labs only)");
    }
    if let Some(addr) = l.udp {
        let socket = tokio::net::UdpSocket::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr} ({section}.syslog_udp_listen): {e}"))?;
        tokio::spawn(syslog::serve_udp(socket, limits, handler, signal));
        tracing::warn!(address = %addr, "{purpose} listening on UDP (clear text, lossy: labs only)");
    }
    Ok(stop)
}

/// The line readers of the syslog transports.
struct SyslogReaders {
    udp: std::sync::Mutex<monitor::event::LineReader>,
    tcp: std::sync::Mutex<monitor::event::LineReader>,
    tls: std::sync::Mutex<monitor::event::LineReader>,
}

/// One syslog message into the pipeline (dropped and counted when the queue is full),
/// normalized as the syslog-file line it would be.
fn monitor_syslog_message(
    mon: &monitor::Monitor,
    readers: &SyslogReaders,
    r: webqx_events::syslog::Received,
) {
    use webqx_events::syslog::Transport;
    let (input, reader) = match r.transport {
        Transport::Udp => ("syslog-udp", &readers.udp),
        Transport::Tcp => ("syslog-tcp", &readers.tcp),
        _ => ("syslog-tls", &readers.tls),
    };
    let msg = match &r.result {
        Ok(m) => m,
        Err(e) => {
            metrics::counter!("webqx_monitor_rejected_total", "input" => input, "reason" => e.reason())
                .increment(1);
            return;
        }
    };
    let text = String::from_utf8_lossy(msg.msg_bytes());
    let event = match reader.lock() {
        Ok(mut reader) => reader.syslog_message(
            msg.timestamp(),
            msg.hostname(),
            msg.app_name(),
            msg.procid(),
            &text,
        ),
        Err(_) => None,
    };
    let Some(mut event) = event else {
        return;
    };
    monitor::event::add_syslog_fields(&mut event, msg);
    let _ = mon.offer(
        input,
        monitor::Item {
            event: Some(event),
            mark: None,
        },
    );
}

/// Starts the plain-HTTP Tang listener when `[tang] listen` is set.
async fn start_tang_listener(
    config: &Config,
    state: AppState,
) -> Result<Option<tokio::task::JoinHandle<()>>, String> {
    let Some(addr) = config
        .tang
        .listen
        .as_deref()
        .filter(|_| config.tang.enabled)
    else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} (tang.listen): {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(address = %bound, ring = %config.tang.ring, "Tang listening (plain HTTP, Tang only)");
    let app = api::tang::plain_router(state);
    let max = config.server.max_connections;
    Ok(Some(tokio::spawn(listener::serve_plain(
        listener, app, max,
    ))))
}

async fn bind_tcp_for(addr: &str, key: &str) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} ({key}): {e}"))
}

/// Signs the chain head every `audit.checkpoint_interval` while unsealed.
async fn checkpointer(config: Arc<Config>, s: Arc<Services>) {
    let every = Config::duration(&config.audit.checkpoint_interval);
    if every.is_zero() {
        tracing::warn!(
            "audit.checkpoint_interval is 0: the chain head is signed only on request and at \
             shutdown; rebuilt or truncated trails go unnoticed in between"
        );
        return;
    }
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if s.kms.is_sealed() {
            continue;
        }
        match s
            .kms
            .checkpoint_audit(&RequestContext::internal("scheduler"))
            .await
        {
            Ok(Some(cp)) => tracing::debug!(seq = cp.seq, "audit checkpoint signed"),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "audit checkpoint failed"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received");
}
