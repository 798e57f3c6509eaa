//! Bringing the service up: opening the store, first-start initialization, unsealing
//! with a key file, TLS material and its renewal.

use crate::config::Config;
use crate::datadir::{DataDir, write_private};
use std::sync::Arc;
use webqx_audit::{AuditLog, RequestContext};
use webqx_crypto::SecretBytes;
use webqx_kms::{CreateKey, InitMethod, InitOutput, KeyType, Kms, KmsError};
use webqx_store::{Store, StoreConfig, meta, now_ms};
use webqx_tokens::Tokens;

/// The capabilities, opened over one store.
pub struct Services {
    /// Data folder.
    pub data: DataDir,
    /// Store.
    pub store: Store,
    /// Audit trail.
    pub audit: Arc<AuditLog>,
    /// Key service (sealed until unsealed).
    pub kms: Arc<Kms>,
    /// Tokens.
    pub tokens: Arc<Tokens>,
    /// The certificate authority.
    pub pki: webqx_pki::ca::Authority,
}

/// How `init` protects the unseal key.
pub enum InitKind {
    /// Local use: a key file in the data folder, unsealed automatically at start.
    Dev,
    /// Shamir shares printed once.
    Shamir {
        /// Shares.
        shares: usize,
        /// Threshold.
        threshold: usize,
    },
    /// An Argon2id passphrase.
    Passphrase(SecretBytes),
    /// A key generated in the PKCS#11 HSM named by `[seal]`; unsealed automatically.
    Pkcs11(webqx_kms::pkcs11::Pkcs11Login),
}

/// Where the store is, from the configuration.
pub fn store_config(config: &Config, data: &DataDir) -> StoreConfig {
    let url = if config.storage.url.is_empty() {
        data.store().display().to_string()
    } else {
        config.storage.url.clone()
    };
    StoreConfig {
        url,
        schema: config.storage.schema.clone(),
        max_connections: config.storage.max_connections,
    }
}

/// Opens the data folder, the store and the capabilities (sealed).
///
/// # Errors
/// A message saying what is wrong (permissions, store unreachable).
pub async fn open(config: &Config) -> Result<Services, String> {
    let data = DataDir::new(&config.server.data_dir);
    data.ensure()?;
    let store = Store::open(&store_config(config, &data))
        .await
        .map_err(|e| format!("cannot open the store: {e}"))?;
    let audit = AuditLog::start(store.clone());
    let kms = Arc::new(Kms::new(
        store.clone(),
        audit.clone(),
        config.kms_settings(),
    ));
    let ttl = Config::duration(&config.server.cache_ttl);
    let tokens = Arc::new(Tokens::with_cache_ttl(store.clone(), audit.clone(), ttl));
    let pki_settings = config
        .pki
        .settings()
        .map_err(|(k, e)| format!("[pki] {k}: {e}"))?;
    let pki =
        webqx_pki::ca::Authority::new(store.clone(), kms.clone(), audit.clone(), pki_settings);
    Ok(Services {
        data,
        store,
        audit,
        kms,
        tokens,
        pki,
    })
}

fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'))
    .then(|| name.to_owned())
}

/// Names the server certificate covers.
pub fn server_names(config: &Config) -> Vec<String> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    names.extend(host_name());
    let ip = config.listen_addr().ip();
    if !ip.is_unspecified() {
        names.push(ip.to_string());
    }
    names.extend(config.tls.names.iter().cloned());
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}

fn internal(e: impl std::fmt::Display) -> KmsError {
    KmsError::Internal(e.to_string())
}

/// Initializes the service: root key and seal, local CA and server certificate, admin
/// token, the FHIR policy's keys. Everything commits together, and the files the
/// operator needs are written before the commit (a crash in between leaves an
/// uninitialized store that the next start initializes again).
///
/// # Errors
/// [`KmsError::AlreadyInitialized`] and the like.
pub async fn initialize(
    config: &Config,
    s: &Services,
    kind: InitKind,
) -> Result<InitOutput, KmsError> {
    let ctx = RequestContext::internal("init");
    let method = match kind {
        InitKind::Dev => InitMethod::KeyFile,
        InitKind::Shamir { shares, threshold } => InitMethod::Shamir { shares, threshold },
        InitKind::Passphrase(p) => InitMethod::Passphrase(p),
        InitKind::Pkcs11(login) => InitMethod::Pkcs11 {
            login,
            key_label: config.seal.key_label.clone(),
        },
    };
    let policy = config.fhir.policy();
    let names = server_names(config);
    let (kms, tokens, data) = (&s.kms, &s.tokens, &s.data);
    kms.initialize_with(&ctx, method, async |tx, output| {
        let ca_name = format!(
            "WebQx Security Local CA {}",
            &uuid::Uuid::now_v7().simple().to_string()[20..]
        );
        let ca = webqx_pki::new_local_ca(&ca_name).map_err(internal)?;
        kms.put_secret(tx, "ca.key", &ca.key_pkcs8).await?;
        meta::set(tx, "ca.name", &ca_name).await?;
        let admin = tokens.create_admin_in(tx).await.map_err(internal)?;
        for (name, key_type) in [
            (&policy.key, KeyType::Aes256Gcm),
            (&policy.search_key, KeyType::Aes256Siv),
        ] {
            let req = CreateKey {
                name: name.clone(),
                key_type,
                ..CreateKey::default()
            };
            kms.create_key_in(tx, &req).await?;
        }
        write_private(&data.ca_pem(), ca.cert_pem.as_bytes()).map_err(internal)?;
        issue_server_cert(config, data, &ca, &names, tx).await?;
        let mut token_line = admin.expose().to_vec();
        token_line.push(b'\n');
        write_private(&data.admin_token(), &token_line).map_err(internal)?;
        if let Some(key) = &output.key_file {
            write_private(&data.unseal_key(), key.expose()).map_err(internal)?;
        }
        Ok(())
    })
    .await
}

async fn issue_server_cert(
    config: &Config,
    data: &DataDir,
    ca: &webqx_pki::Ca,
    names: &[String],
    tx: &mut webqx_store::WriteTx,
) -> Result<(), KmsError> {
    let days = config.tls.cert_days;
    let leaf = webqx_pki::issue_server(ca, names, days).map_err(internal)?;
    let mut chain = leaf.cert_pem.clone();
    chain.push_str(&ca.cert_pem);
    write_private(&data.server_key(), leaf.key_pem.expose()).map_err(internal)?;
    write_private(&data.server_pem(), chain.as_bytes()).map_err(internal)?;
    let not_after = now_ms() + i64::from(days) * 86_400_000;
    meta::set(tx, "tls.server.not_after_ms", &not_after.to_string()).await?;
    meta::set(tx, "tls.server.names", &names.join(",")).await?;
    Ok(())
}

/// Re-issues the server certificate when it expires within 30 days, the configured
/// names changed, or it was not yet issued by the issuing intermediate (data folders
/// of earlier versions, and the first start, have one signed by the root). Needs the
/// service unsealed (the CA keys are wrapped by the root key). Returns whether it did.
///
/// # Errors
/// Storage, audit or certificate failures.
pub async fn renew_server_cert_if_needed(config: &Config, s: &Services) -> Result<bool, KmsError> {
    if s.kms.is_sealed() {
        return Ok(false);
    }
    let pool = s.store.pool();
    let names = server_names(config);
    let stored_names = meta::get(pool, "tls.server.names")
        .await?
        .unwrap_or_default();
    let not_after: i64 = meta::get(pool, "tls.server.not_after_ms")
        .await?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let issuer = meta::get(pool, "tls.server.issuer").await?;
    let expiring = not_after - now_ms() < 30 * 86_400_000;
    let ca_ready = s.pki.default_issuer().is_some();
    let moves = ca_ready && issuer.is_none();
    if stored_names == names.join(",") && !expiring && !moves {
        return Ok(false);
    }
    if !ca_ready {
        return renew_with_root(config, s, &names, expiring).await;
    }
    let ctx = RequestContext::internal("system");
    let ttl = std::time::Duration::from_secs(u64::from(config.tls.cert_days) * 86_400);
    let issued = s
        .pki
        .issue_service_cert(&ctx, &names, ttl)
        .await
        .map_err(|e| internal(format!("the CA cannot issue the server certificate: {e}")))?;
    let key = issued
        .key_pem
        .as_ref()
        .ok_or_else(|| internal("the CA returned no key"))?;
    let mut rec = ctx.record("tls.renew", Some("tls:server".into()));
    rec.detail("names", names.clone())
        .detail("expiring", expiring)
        .detail("serial", issued.serial.clone());
    let issuer_name = s.pki.default_issuer().unwrap_or_default();
    s.audit
        .transact(rec, async |tx, _| {
            write_private(&s.data.server_key(), key.expose()).map_err(internal)?;
            write_private(&s.data.server_pem(), issued.chain_pem.as_bytes()).map_err(internal)?;
            let not_after = issued.not_after.timestamp_millis();
            meta::set(tx, "tls.server.not_after_ms", &not_after.to_string()).await?;
            meta::set(tx, "tls.server.names", &names.join(",")).await?;
            meta::set(tx, "tls.server.issuer", &issuer_name).await?;
            Ok::<_, KmsError>(())
        })
        .await?;
    Ok(true)
}

/// The way of earlier versions, while the CA hierarchy is not ready: signed by the
/// root (the local CA).
async fn renew_with_root(
    config: &Config,
    s: &Services,
    names: &[String],
    expiring: bool,
) -> Result<bool, KmsError> {
    let pool = s.store.pool();
    let ca_name = meta::get(pool, "ca.name")
        .await?
        .ok_or_else(|| internal("the CA's name is missing from the store"))?;
    let ca_pem = std::fs::read_to_string(s.data.ca_pem())
        .map_err(|e| internal(format!("cannot read the CA certificate: {e}")))?;
    let ca = webqx_pki::Ca {
        name: ca_name,
        cert_pem: ca_pem,
        key_pkcs8: s.kms.get_secret("ca.key").await?,
    };
    let mut rec = RequestContext::internal("system").record("tls.renew", Some("tls:server".into()));
    rec.detail("names", names.to_vec())
        .detail("expiring", expiring);
    s.audit
        .transact(rec, async |tx, _| {
            issue_server_cert(config, &s.data, &ca, names, tx).await
        })
        .await?;
    Ok(true)
}

/// Brings the CA hierarchy up to date: the local CA of the data folder becomes the
/// root (once), and, while unsealed, the root may sign intermediates and the default
/// issuing intermediate exists. A re-issued root replaces `tls/ca.pem`.
///
/// # Errors
/// A message saying what failed.
pub async fn prepare_pki(s: &Services) -> Result<(), String> {
    if s.pki.root_pem().is_empty() {
        let root = std::fs::read_to_string(s.data.ca_pem())
            .map_err(|e| format!("cannot read the CA certificate: {e}"))?;
        s.pki.adopt_root(&root).await.map_err(|e| e.to_string())?;
    }
    if s.kms.is_sealed() {
        s.pki.forget_keys();
        return Ok(());
    }
    if let Some(root) = s.pki.ensure_ready().await.map_err(|e| e.to_string())? {
        write_private(&s.data.ca_pem(), root.as_bytes())?;
        tracing::info!(
            "root CA certificate re-issued (same key and name) so it can sign intermediates"
        );
    }
    Ok(())
}
