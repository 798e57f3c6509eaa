//! Bringing the service up: opening the store, first-start initialization, unsealing
//! with a key file, TLS material and its renewal.

use crate::config::Config;
use crate::datadir::{DataDir, write_private};
use std::sync::Arc;
use webqx_audit::{AuditLog, RequestContext};
use webqx_crypto::SecretBytes;
use webqx_kms::{CreateKey, InitMethod, InitOutput, KeyType, Kms, KmsError};
use webqx_pki::ca::{CaSigningKey, HsmCaKey, KeyLocation};
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
    audit.set_alert_sink(Arc::new(crate::monitor::alerts::StoredAlerts));
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

/// The service secret holding the root CA's key when the key service wraps it.
const ROOT_KEY_SECRET: &str = "ca.key";
/// Metadata naming where the root CA's key is, when it is not `ca.key` (the HSM).
const ROOT_KEY_LOCATION: &str = "ca.key.location";

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
    let root_in_hsm = matches!(kind, InitKind::Pkcs11(_)) && config.seal.ca_key_in_hsm;
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
        let (ca_pem, ca_key) = if root_in_hsm {
            hsm_root(kms, &config.seal.ca_key_label, &ca_name, tx).await?
        } else {
            let ca = webqx_pki::new_local_ca(&ca_name).map_err(internal)?;
            kms.put_secret(tx, ROOT_KEY_SECRET, &ca.key_pkcs8).await?;
            (ca.cert_pem, software_key(&ca.key_pkcs8)?)
        };
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
        write_private(&data.ca_pem(), ca_pem.as_bytes()).map_err(internal)?;
        let root = RootCa {
            name: &ca_name,
            cert_pem: &ca_pem,
            key: ca_key,
        };
        issue_server_cert(config, data, root, &names, tx).await?;
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

/// Generates the root CA's key inside the seal's HSM and self-signs the root with it;
/// the store records where the key is (`ca.key.location`).
async fn hsm_root(
    kms: &Kms,
    label: &str,
    ca_name: &str,
    tx: &mut webqx_store::WriteTx,
) -> Result<(String, CaSigningKey), KmsError> {
    let key = HsmCaKey::new(kms.hsm_generate_signing_key(label).await?);
    meta::set(tx, ROOT_KEY_LOCATION, &key.location().stored()).await?;
    let key = CaSigningKey::Hsm(key);
    let name = ca_name.to_owned();
    let (pem, key) = tokio::task::spawn_blocking(move || {
        let pem = webqx_pki::local_ca_cert(&name, &key);
        (pem, key)
    })
    .await
    .map_err(internal)?;
    let pem = pem.map_err(|e| match &key {
        CaSigningKey::Hsm(_) => KmsError::Hsm(format!("the HSM could not sign the root: {e}")),
        CaSigningKey::Software(_) => internal(e),
    })?;
    tracing::info!("root CA key generated in the HSM");
    Ok((pem, key))
}

fn software_key(pkcs8: &SecretBytes) -> Result<CaSigningKey, KmsError> {
    CaSigningKey::from_pkcs8(pkcs8).map_err(internal)
}

/// Where the root CA's key is: the service secret `ca.key`, or the HSM.
pub async fn root_key_location(s: &Services) -> Result<KeyLocation, KmsError> {
    Ok(match meta::get(s.store.pool(), ROOT_KEY_LOCATION).await? {
        Some(stored) => KeyLocation::parse(&stored),
        None => KeyLocation::Secret(ROOT_KEY_SECRET.into()),
    })
}

/// The root CA as the local CA of earlier versions uses it, to sign the server
/// certificate before the hierarchy exists.
struct RootCa<'a> {
    name: &'a str,
    cert_pem: &'a str,
    key: CaSigningKey,
}

async fn issue_server_cert(
    config: &Config,
    data: &DataDir,
    ca: RootCa<'_>,
    names: &[String],
    tx: &mut webqx_store::WriteTx,
) -> Result<(), KmsError> {
    let days = config.tls.cert_days;
    let (ca_name, leaf_names) = (ca.name.to_owned(), names.to_vec());
    let key = ca.key;
    let leaf = tokio::task::spawn_blocking(move || {
        webqx_pki::issue_server_with(&ca_name, key, &leaf_names, days)
    })
    .await
    .map_err(internal)?
    .map_err(internal)?;
    let mut chain = leaf.cert_pem.clone();
    chain.push_str(ca.cert_pem);
    write_private(&data.server_key(), leaf.key_pem.expose()).map_err(internal)?;
    write_private(&data.server_pem(), chain.as_bytes()).map_err(internal)?;
    let not_after = now_ms() + i64::from(days) * 86_400_000;
    meta::set(tx, "tls.server.not_after_ms", &not_after.to_string()).await?;
    meta::set(tx, "tls.server.names", &names.join(",")).await?;
    Ok(())
}

/// Re-issues the server certificate when it expires within `[tls] renew_before` (30 days
/// by default), the configured names changed, or it was not yet issued by the issuing
/// intermediate (data folders of earlier versions, and the first start, have one signed
/// by the root). Needs the service unsealed (the CA keys are wrapped by the root key).
/// Returns whether it did.
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
    let window = Config::duration(&config.tls.renew_before).as_millis();
    let expiring = i128::from(not_after - now_ms()) < i128::try_from(window).unwrap_or(i128::MAX);
    let ca_ready = s.pki.default_issuer().is_some();
    let moves = ca_ready && issuer.is_none();
    let revoked = ca_ready && own_cert_revoked(s).await;
    if stored_names == names.join(",") && !expiring && !moves && !revoked {
        return Ok(false);
    }
    if revoked {
        tracing::warn!("the server certificate was revoked; issuing a new one");
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

/// Whether the certificate the server presents was revoked (by an operator, or with its
/// intermediate): then it is replaced at once rather than served until it expires.
async fn own_cert_revoked(s: &Services) -> bool {
    let Ok(pem) = std::fs::read(s.data.server_pem()) else {
        return false;
    };
    let Ok(facts) = webqx_pki::ca::inspect_certificate(&pem) else {
        return false;
    };
    matches!(
        s.pki.status(&facts.serial).await,
        Ok(webqx_pki::ca::CertStatus::Revoked { .. })
    )
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
    let key = match root_key_location(s).await? {
        KeyLocation::Secret(name) => software_key(&s.kms.get_secret(&name).await?)?,
        KeyLocation::Pkcs11(key) => {
            CaSigningKey::Hsm(HsmCaKey::new(s.kms.hsm_signing_key(key).await?))
        }
    };
    let mut rec = RequestContext::internal("system").record("tls.renew", Some("tls:server".into()));
    rec.detail("names", names.to_vec())
        .detail("expiring", expiring);
    s.audit
        .transact(rec, async |tx, _| {
            let ca = RootCa {
                name: &ca_name,
                cert_pem: &ca_pem,
                key,
            };
            issue_server_cert(config, &s.data, ca, names, tx).await
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
        let location = root_key_location(s).await.map_err(|e| e.to_string())?;
        s.pki
            .adopt_root_at(&root, &location)
            .await
            .map_err(|e| e.to_string())?;
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
