//! [`Authority`]: the CA hierarchy and every operation on it.

use super::db::{self, NewCa, NewCert};
use super::error::internal;
use super::keys::{self, LeafSpec};
use super::names::{self, Name};
use super::rootkey::{CaSigningKey, HsmCaKey, KeyLocation};
use super::{
    CaError, CertStatus, IssueRequest, Issued, KeyAlgorithm, PkiSettings, Profile,
    RevocationReason, SignRequest,
};
use rcgen::{Issuer, KeyPair, SubjectPublicKeyInfo};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use webqx_audit::{AuditLog, RequestContext};
use webqx_kms::Kms;
use webqx_store::{Row, Store, query};

pub use super::db::{CaInfo, CertRecord};

/// The secret name of the root key (the local CA of earlier versions).
pub const ROOT_KEY_SECRET: &str = "ca.key";
/// The root's name in the hierarchy.
pub const ROOT: &str = "root";
/// Most subject alternative names in one certificate (public CAs allow about as many);
/// more only make certificates that clients choke on and requests that cost the CA.
pub const MAX_NAMES: usize = 100;

/// A CA key unwrapped for signing, with what is needed to name the issuer.
pub(crate) struct Signer {
    pub(crate) name: String,
    pub(crate) issuer: Issuer<'static, KeyPair>,
    /// The CA's certificate and its parents below the root, PEM.
    pub(crate) chain_pem: String,
    /// End of the CA's validity: nothing it signs outlives it.
    pub(crate) not_after_ms: i64,
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) kms: Arc<Kms>,
    pub(crate) audit: Arc<AuditLog>,
    pub(crate) settings: PkiSettings,
    /// Unwrapped issuing keys, by CA name; emptied when the service is sealed.
    signers: Mutex<HashMap<String, Arc<Signer>>>,
    /// The hierarchy as last read from the store.
    cas: RwLock<Vec<CaInfo>>,
    /// Serialises creation of the hierarchy on this node.
    setup: tokio::sync::Mutex<()>,
    /// Current CRLs, by CA name.
    pub(crate) crls: Mutex<HashMap<String, Arc<super::crl::Crl>>>,
}

/// The certificate authority. Cheap to clone.
#[derive(Clone)]
pub struct Authority {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").finish_non_exhaustive()
    }
}

/// Which certificates to list.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Most items (1..=1000; default 100).
    pub limit: Option<u32>,
    /// The `next` cursor of the previous page.
    pub cursor: Option<String>,
    /// Only these issued by this CA.
    pub issuer: Option<String>,
    /// Only revoked (true) or only not revoked (false).
    pub revoked: Option<bool>,
}

/// One page of certificates.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CertPage {
    /// The certificates, oldest first.
    pub items: Vec<CertRecord>,
    /// Cursor of the next page, when there is one.
    pub next: Option<String>,
}

pub(crate) fn now_ms() -> i64 {
    webqx_store::now_ms()
}

pub(crate) fn ttl_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

impl Signer {
    pub(crate) fn issuer_key(&self) -> &KeyPair {
        self.issuer.key()
    }
}

impl Authority {
    /// An authority over the service's store, key service and audit trail.
    pub fn new(store: Store, kms: Arc<Kms>, audit: Arc<AuditLog>, settings: PkiSettings) -> Self {
        Authority {
            inner: Arc::new(Inner {
                store,
                kms,
                audit,
                settings,
                signers: Mutex::new(HashMap::new()),
                cas: RwLock::new(Vec::new()),
                setup: tokio::sync::Mutex::new(()),
                crls: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &PkiSettings {
        &self.inner.settings
    }

    /// Records the service's existing local CA (`cert_pem`, key in the secret
    /// `ca.key`) as the root of the hierarchy, once; then loads the hierarchy. Works
    /// sealed.
    ///
    /// # Errors
    /// Storage or audit failures.
    pub async fn adopt_root(&self, cert_pem: &str) -> Result<(), CaError> {
        let location = KeyLocation::Secret(ROOT_KEY_SECRET.into());
        self.adopt_root_at(cert_pem, &location).await
    }

    /// Like [`Authority::adopt_root`], for a root whose key is at `location` (in the
    /// HSM after `init --hsm`).
    ///
    /// # Errors
    /// Storage or audit failures.
    pub async fn adopt_root_at(
        &self,
        cert_pem: &str,
        location: &KeyLocation,
    ) -> Result<(), CaError> {
        let key_secret = location.stored();
        let _turn = self.inner.setup.lock().await;
        self.reload().await?;
        if self.ca_info(ROOT).is_some() {
            return Ok(());
        }
        let (serial, not_after_ms) = cert_facts(cert_pem)?;
        let ctx = RequestContext::internal("system");
        let mut rec = ctx.record("pki.ca.adopt", Some(format!("ca:{ROOT}")));
        rec.detail("serial", serial.clone())
            .detail("key", key_secret.clone());
        self.inner
            .audit
            .transact(rec, async |tx, _| {
                let ca = NewCa {
                    name: ROOT,
                    kind: "root",
                    parent: None,
                    serial: &serial,
                    cert_pem,
                    key_secret: &key_secret,
                    is_default: false,
                    not_after_ms,
                };
                db::insert_ca(tx, &ca).await
            })
            .await?;
        self.reload().await
    }

    /// Makes the hierarchy ready to issue: the root may sign intermediates (a root made
    /// by earlier versions with pathLenConstraint 0 is re-issued with the same key and
    /// name), and a default intermediate exists. Needs the service unsealed. Returns the
    /// root certificate when it was re-issued (the caller replaces its copies).
    ///
    /// # Errors
    /// [`CaError::Sealed`], storage, audit or signing failures.
    pub async fn ensure_ready(&self) -> Result<Option<String>, CaError> {
        if self.default_name().is_some() && !self.root_needs_reissue()? {
            return Ok(None);
        }
        let _turn = self.inner.setup.lock().await;
        self.reload().await?;
        let root = self
            .ca_info(ROOT)
            .ok_or_else(|| CaError::Internal("the root CA has not been adopted yet".into()))?;
        let mut reissued = None;
        if path_len_zero(&root.cert_pem)? {
            reissued = Some(self.reissue_root(&root).await?);
        }
        if self.default_name().is_none() {
            let name = self.inner.settings.default_intermediate.clone();
            let ctx = RequestContext::internal("system");
            if let Err(e) = self.create_intermediate_locked(&ctx, &name, true).await {
                // Another node sharing the store may have made it first.
                self.reload().await?;
                if self.default_name().is_none() {
                    return Err(e);
                }
            }
        }
        Ok(reissued)
    }

    fn root_needs_reissue(&self) -> Result<bool, CaError> {
        match self.ca_info(ROOT) {
            Some(root) => path_len_zero(&root.cert_pem),
            None => Ok(true),
        }
    }

    async fn reissue_root(&self, root: &CaInfo) -> Result<String, CaError> {
        let key = self.root_key(root).await?;
        let old = x509_of(&root.cert_pem)?;
        let (_, parsed) = x509_parser::parse_x509_certificate(&old).map_err(internal)?;
        let cn = parsed
            .subject()
            .iter_common_name()
            .next()
            .and_then(|c| c.as_str().ok())
            .ok_or_else(|| CaError::Internal("the root certificate has no common name".into()))?
            .to_owned();
        let (serial, serial_hex) = keys::new_serial()?;
        let mut params = keys::root_params(&cn, serial)?;
        params.not_before = keys::at_ms(now_ms() - 300_000)?;
        params.not_after = keys::at_ms(parsed.validity().not_after.timestamp() * 1000)?;
        let not_after_ms = params.not_after.unix_timestamp() * 1000;
        let pem = tokio::task::spawn_blocking(move || {
            params
                .self_signed(&key)
                .map(|c| c.pem())
                .map_err(|e| key.explain(e))
        })
        .await
        .map_err(internal)??;
        let ctx = RequestContext::internal("system");
        let mut rec = ctx.record("pki.ca.reissue_root", Some(format!("ca:{ROOT}")));
        rec.detail("serial", serial_hex.clone())
            .detail("why", "pathLenConstraint 0 forbids intermediates");
        self.inner
            .audit
            .transact(rec, async |tx, _| {
                db::update_ca_cert(tx, ROOT, &pem, &serial_hex, not_after_ms).await
            })
            .await?;
        self.reload().await?;
        tracing::debug!("root CA certificate re-issued to allow intermediates");
        Ok(pem)
    }

    /// Creates an intermediate CA signed by the root.
    ///
    /// # Errors
    /// [`CaError::CaExists`], [`CaError::Invalid`] for a bad name, [`CaError::Sealed`].
    pub async fn create_intermediate(
        &self,
        ctx: &RequestContext,
        name: &str,
        make_default: bool,
    ) -> Result<CaInfo, CaError> {
        let rec = ctx.record("pki.ca.create", Some(format!("ca:{name}")));
        if let Err(e) = check_ca_name(name) {
            return self.refused(rec, e).await;
        }
        if let Err(e) = self.ensure_ready().await {
            return self.refused(rec, e).await;
        }
        let _turn = self.inner.setup.lock().await;
        self.reload().await?;
        if self.ca_info(name).is_some() {
            return self.refused(rec, CaError::CaExists(name.to_owned())).await;
        }
        self.create_intermediate_locked(ctx, name, make_default)
            .await
    }

    async fn create_intermediate_locked(
        &self,
        ctx: &RequestContext,
        name: &str,
        make_default: bool,
    ) -> Result<CaInfo, CaError> {
        check_ca_name(name)?;
        if self.ca_info(name).is_some() {
            return Err(CaError::CaExists(name.to_owned()));
        }
        let root = self
            .ca_info(ROOT)
            .ok_or_else(|| CaError::CaNotFound(ROOT.into()))?;
        let issuer = self.root_issuer(&root).await?;
        let key = keys::generate(KeyAlgorithm::EcdsaP256)?;
        let (serial, serial_hex) = keys::new_serial()?;
        let suffix = &serial_hex[..6];
        let cn = format!("WebQx Security Issuing CA {name} {suffix}");
        let not_before = now_ms() - 300_000;
        let not_after = (now_ms() + ttl_ms(self.inner.settings.intermediate_ttl))
            .min(root.not_after.timestamp_millis())
            / 1000
            * 1000;
        let params = keys::intermediate_params(&cn, serial, not_before, not_after)?;
        let (pem, key) = tokio::task::spawn_blocking(move || {
            let signed = params.signed_by(&key, &issuer);
            signed
                .map(|c| (c.pem(), key))
                .map_err(|e| issuer.key().explain(e))
        })
        .await
        .map_err(internal)??;
        let secret = format!("pki.ca.{name}.key");
        let key_der = webqx_crypto::SecretBytes::new(key.serialize_der());
        let mut rec = ctx.record("pki.ca.create", Some(format!("ca:{name}")));
        rec.detail("serial", serial_hex.clone())
            .detail("default", make_default);
        let kms = self.inner.kms.clone();
        self.inner
            .audit
            .transact(rec, async |tx, _| {
                kms.put_secret(tx, &secret, &key_der).await?;
                let ca = NewCa {
                    name,
                    kind: "intermediate",
                    parent: Some(ROOT),
                    serial: &serial_hex,
                    cert_pem: &pem,
                    key_secret: &secret,
                    is_default: make_default,
                    not_after_ms: not_after,
                };
                db::insert_ca(tx, &ca).await
            })
            .await?;
        self.reload().await?;
        self.ca_info(name)
            .ok_or_else(|| CaError::CaNotFound(name.into()))
    }

    /// The root's key, unwrapped or found in the HSM, ready to sign.
    pub(crate) async fn root_key(&self, root: &CaInfo) -> Result<CaSigningKey, CaError> {
        match KeyLocation::parse(&root.key_secret) {
            KeyLocation::Secret(name) => Ok(CaSigningKey::Software(keys::load(
                &self.inner.kms.get_secret(&name).await?,
            )?)),
            KeyLocation::Pkcs11(key) => Ok(CaSigningKey::Hsm(HsmCaKey::new(
                self.inner.kms.hsm_signing_key(key).await?,
            ))),
        }
    }

    /// The root as the issuer of what it signs (intermediates, its CRL).
    pub(crate) async fn root_issuer(
        &self,
        root: &CaInfo,
    ) -> Result<Issuer<'static, CaSigningKey>, CaError> {
        let key = self.root_key(root).await?;
        Issuer::from_ca_cert_pem(&root.cert_pem, key).map_err(internal)
    }

    /// Re-reads the hierarchy from the store (another node may have changed it).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn reload(&self) -> Result<(), CaError> {
        let cas = db::load_cas(self.inner.store.pool()).await?;
        if let Ok(mut slot) = self.inner.cas.write() {
            *slot = cas;
        }
        Ok(())
    }

    /// The hierarchy: root first.
    pub fn cas(&self) -> Vec<CaInfo> {
        self.inner.cas.read().map(|c| c.clone()).unwrap_or_default()
    }

    pub(crate) fn ca_info(&self, name: &str) -> Option<CaInfo> {
        self.cas().into_iter().find(|c| c.name == name)
    }

    pub(crate) fn default_name(&self) -> Option<String> {
        self.cas()
            .into_iter()
            .find(|c| c.is_default)
            .map(|c| c.name)
    }

    /// Name of the default issuing CA, once the hierarchy is ready.
    pub fn default_issuer(&self) -> Option<String> {
        self.default_name()
    }

    /// The root certificate, PEM (empty before [`Authority::adopt_root`]).
    pub fn root_pem(&self) -> String {
        self.ca_info(ROOT).map(|c| c.cert_pem).unwrap_or_default()
    }

    /// The chain of `issuer` (default: the default issuing CA) without the root, PEM.
    ///
    /// # Errors
    /// [`CaError::CaNotFound`].
    pub fn issuing_chain_pem(&self, issuer: Option<&str>) -> Result<String, CaError> {
        let name = match issuer {
            Some(n) => n.to_owned(),
            None => self
                .default_name()
                .ok_or_else(|| CaError::CaNotFound("(default issuing CA)".into()))?,
        };
        let mut chain = String::new();
        let mut at = self.ca_info(&name).ok_or(CaError::CaNotFound(name))?;
        while at.kind != "root" {
            chain.push_str(&at.cert_pem);
            let parent = at.parent.clone().unwrap_or_else(|| ROOT.into());
            at = self.ca_info(&parent).ok_or(CaError::CaNotFound(parent))?;
        }
        Ok(chain)
    }

    /// Drops every unwrapped CA key from memory (call when sealing).
    pub fn forget_keys(&self) {
        if let Ok(mut s) = self.inner.signers.lock() {
            s.clear();
        }
    }

    /// The signer of `issuer` for a new certificate: refused when that CA is revoked
    /// (asked of the store, so a revocation on another node counts at once).
    pub(crate) async fn issuing_signer(
        &self,
        issuer: Option<&str>,
    ) -> Result<Arc<Signer>, CaError> {
        let signer = self.signer(issuer).await?;
        let revoked = query("SELECT revoked_ms FROM pki_cas WHERE name = $1")
            .bind(&signer.name)
            .fetch_optional(self.inner.store.pool())
            .await?
            .map(|r| r.try_get::<Option<i64>, _>(0))
            .transpose()?
            .flatten();
        if revoked.is_some() {
            return Err(CaError::Invalid(format!(
                "the CA '{}' is revoked and issues nothing more; name another \
                 (webqx-sec ca list) or leave the issuer out for the default",
                signer.name
            )));
        }
        Ok(signer)
    }

    pub(crate) async fn signer(&self, issuer: Option<&str>) -> Result<Arc<Signer>, CaError> {
        if self.inner.kms.is_sealed() {
            self.forget_keys();
            return Err(CaError::Sealed);
        }
        self.ensure_ready().await?;
        let name = match issuer {
            Some(n) => n.to_owned(),
            None => self
                .default_name()
                .ok_or_else(|| CaError::CaNotFound("(default issuing CA)".into()))?,
        };
        if let Some(s) = self
            .inner
            .signers
            .lock()
            .ok()
            .and_then(|m| m.get(&name).cloned())
        {
            return Ok(s);
        }
        let info = match self.ca_info(&name) {
            Some(i) => i,
            None => {
                self.reload().await?;
                self.ca_info(&name)
                    .ok_or_else(|| CaError::CaNotFound(name.clone()))?
            }
        };
        if info.kind == ROOT {
            return Err(CaError::Invalid(format!(
                "'{name}' is the root: it signs only intermediates and its own CRL; name an \
                 intermediate (webqx-sec ca list) or leave the issuer out for the default"
            )));
        }

        let key = keys::load(&self.inner.kms.get_secret(&info.key_secret).await?)?;
        let issuer = Issuer::from_ca_cert_pem(&info.cert_pem, key).map_err(internal)?;
        let signer = Arc::new(Signer {
            name: name.clone(),
            issuer,
            chain_pem: self.issuing_chain_pem(Some(&name))?,
            not_after_ms: info.not_after.timestamp_millis(),
        });
        if let Ok(mut m) = self.inner.signers.lock() {
            m.insert(name, signer.clone());
        }
        Ok(signer)
    }

    pub(crate) fn check_request(
        &self,
        names: &[String],
        profile: Profile,
        ttl: Option<Duration>,
    ) -> Result<(Vec<String>, Duration), CaError> {
        if names.is_empty() {
            return Err(CaError::NoNames);
        }
        if names.len() > MAX_NAMES {
            return Err(CaError::Invalid(format!(
                "{} names in one certificate; at most {MAX_NAMES}: split them over several \
                 certificates",
                names.len()
            )));
        }
        let rules = self.inner.settings.profile(profile);
        let mut out = Vec::with_capacity(names.len());
        let mut seen = std::collections::HashSet::with_capacity(names.len());
        for n in names {
            let name = Name::parse(n)?;
            if !names::allowed(&name, &rules.allowed_domains) {
                return Err(CaError::NameNotAllowed {
                    name: name.text(),
                    profile: profile.as_str(),
                });
            }
            let text = name.text();
            if seen.insert(text.clone()) {
                out.push(text);
            }
        }
        let ttl = ttl.unwrap_or(rules.default_ttl);
        if ttl > rules.max_ttl {
            return Err(CaError::TtlTooLong {
                requested: ttl.as_secs(),
                max: rules.max_ttl.as_secs(),
            });
        }
        if ttl < Duration::from_secs(60) {
            return Err(CaError::Invalid(
                "a lifetime under 60 seconds is too short".into(),
            ));
        }
        Ok((out, ttl))
    }

    /// Signs a CSR (PEM or DER) under a profile.
    ///
    /// # Errors
    /// The CSR checks ([`super::check_csr`]), names not allowed, lifetime too long,
    /// [`CaError::Sealed`], storage and audit failures.
    pub async fn sign_csr(
        &self,
        ctx: &RequestContext,
        req: SignRequest,
    ) -> Result<Issued, CaError> {
        let mut rec = ctx.record("pki.sign", None);
        rec.detail("profile", req.profile.as_str())
            .detail("source", req.source.clone())
            .detail("requester", req.requester.clone());
        let csr = match super::check_csr(&req.csr) {
            Ok(c) => c,
            Err(e) => return self.refused(rec, e).await,
        };
        // Names as asked (capped), so a refusal for a name says which in the trail.
        let asked: Vec<String> = csr.names.iter().take(20).cloned().collect();
        rec.detail("names", asked);
        let checked = match self.check_request(&csr.names, req.profile, req.ttl) {
            Ok(v) => (v, csr),
            Err(e) => return self.refused(rec, e).await,
        };
        let ((names, ttl), csr) = checked;
        let Ok(spki) = SubjectPublicKeyInfo::from_der(&csr.spki_der) else {
            let e = CaError::BadCsr("unsupported public key algorithm".into());
            return self.refused(rec, e).await;
        };
        let rsa_key = spki_is_rsa(&csr.spki_der);
        let job = Job {
            names: &names,
            profile: req.profile,
            ttl,
            issuer: req.issuer.as_deref(),
            requester: &req.requester,
            source: &req.source,
            rsa_key,
        };
        self.sign_and_store(rec, job, &spki, None).await
    }

    /// Issues this service's own TLS server certificate (names from `[tls]`, lifetime
    /// from `tls.cert_days`): the profile's allowed domains and maximum lifetime do not
    /// apply, the names must still be DNS names or IP addresses. Recorded like any other
    /// certificate, with source `system`.
    ///
    /// # Errors
    /// As for [`Authority::issue`].
    pub async fn issue_service_cert(
        &self,
        ctx: &RequestContext,
        names: &[String],
        ttl: Duration,
    ) -> Result<Issued, CaError> {
        let mut rec = ctx.record("pki.issue", None);
        rec.detail("profile", Profile::TlsServer.as_str())
            .detail("source", "system")
            .detail("purpose", "service TLS certificate");
        let mut checked = Vec::with_capacity(names.len());
        for n in names {
            match Name::parse(n) {
                Ok(name) if !checked.contains(&name.text()) => checked.push(name.text()),
                Ok(_) => {}
                Err(e) => return self.refused(rec, e).await,
            }
        }
        let key = keys::generate(KeyAlgorithm::EcdsaP256)?;
        let job = Job {
            names: &checked,
            profile: Profile::TlsServer,
            ttl,
            issuer: None,
            requester: &ctx.actor,
            source: "system",
            rsa_key: false,
        };
        let key_pem = keys::private_pem(&key);
        let mut issued = self.sign_and_store(rec, job, &key, None).await?;
        issued.key_pem = Some(key_pem);
        Ok(issued)
    }

    /// Issues a certificate with a new key; the key is returned once and kept (wrapped)
    /// only with `store_key`.
    ///
    /// # Errors
    /// Names not allowed, lifetime too long, [`CaError::Sealed`], storage and audit
    /// failures.
    pub async fn issue(&self, ctx: &RequestContext, req: IssueRequest) -> Result<Issued, CaError> {
        let mut rec = ctx.record("pki.issue", None);
        rec.detail("profile", req.profile.as_str())
            .detail("key", req.key.as_str())
            .detail("source", req.source.clone())
            .detail("requester", req.requester.clone());
        let (names, ttl) = match self.check_request(&req.names, req.profile, req.ttl) {
            Ok(v) => v,
            Err(e) => return self.refused(rec, e).await,
        };
        let alg = req.key;
        let key = if matches!(alg, KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072) {
            tokio::task::spawn_blocking(move || keys::generate(alg))
                .await
                .map_err(internal)??
        } else {
            keys::generate(alg)?
        };
        let job = Job {
            names: &names,
            profile: req.profile,
            ttl,
            issuer: req.issuer.as_deref(),
            requester: &req.requester,
            source: &req.source,
            rsa_key: matches!(alg, KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072),
        };
        let key_pem = keys::private_pem(&key);
        let stored = req
            .store_key
            .then(|| webqx_crypto::SecretBytes::new(key.serialize_der()));
        let mut issued = self.sign_and_store(rec, job, &key, stored).await?;
        issued.key_pem = Some(key_pem);
        Ok(issued)
    }

    /// The private key kept for `serial` (issued with `store_key`), as PKCS#8 PEM. Every
    /// read is audited as `pki.key.export`, refusals too.
    ///
    /// # Errors
    /// [`CaError::Invalid`] when no key was kept for it, [`CaError::CertNotFound`],
    /// [`CaError::Sealed`], storage and audit failures.
    pub async fn stored_key(
        &self,
        ctx: &RequestContext,
        serial: &str,
    ) -> Result<webqx_crypto::SecretBytes, CaError> {
        let rec = ctx.record("pki.key.export", Some(format!("cert:{serial}")));
        let serial = match normalize_serial(serial) {
            Ok(s) => s,
            Err(e) => return self.refused(rec, e).await,
        };
        if self.inner.kms.is_sealed() {
            return self.refused(rec, CaError::Sealed).await;
        }
        match self.get(&serial).await? {
            None => return self.refused(rec, CaError::CertNotFound(serial)).await,
            Some(r) if !r.key_stored => {
                let e = CaError::Invalid(format!(
                    "no private key was kept for {serial}: it was issued without store_key \
                     (its key was returned once, at issue)"
                ));
                return self.refused(rec, e).await;
            }
            Some(_) => {}
        }
        let der = self
            .inner
            .kms
            .get_secret(&format!("pki.cert.{serial}.key"))
            .await?;
        let pem = keys::private_pem(&keys::load(&der)?);
        self.inner.audit.record(rec).await?;
        Ok(pem)
    }

    pub(crate) async fn refused<T>(
        &self,
        mut rec: webqx_audit::AuditRecord,
        e: CaError,
    ) -> Result<T, CaError> {
        use webqx_audit::Audited;
        rec.fail(e.audit_outcome(), e.audit_reason());
        self.inner.audit.record(rec).await?;
        Err(e)
    }

    async fn sign_and_store(
        &self,
        mut rec: webqx_audit::AuditRecord,
        job: Job<'_>,
        public_key: &impl rcgen::PublicKeyData,
        stored_key: Option<webqx_crypto::SecretBytes>,
    ) -> Result<Issued, CaError> {
        let signer = match self.issuing_signer(job.issuer).await {
            Ok(s) => s,
            Err(e) => return self.refused(rec, e).await,
        };
        let (serial, serial_hex) = keys::new_serial()?;
        let not_before_ms = now_ms() - 60_000;
        let not_after_ms = (now_ms() + ttl_ms(job.ttl)).min(signer.not_after_ms);
        let params = keys::leaf_params(LeafSpec {
            names: job.names,
            profile: job.profile,
            serial,
            not_before_ms,
            not_after_ms,
            base_url: self.inner.settings.base_url.as_deref(),
            rsa_key: job.rsa_key,
        })?;
        let cert = params
            .signed_by(public_key, &signer.issuer)
            .map_err(internal)?;
        let cert_pem = cert.pem();
        let cert_der = cert.der().to_vec();
        rec.target = Some(format!("cert:{serial_hex}"));
        rec.detail("issuer", signer.name.clone())
            .detail("names", job.names.to_vec())
            .detail("not_after", db::time_of(not_after_ms).to_rfc3339())
            .detail("key_stored", stored_key.is_some());
        let secret_name = format!("pki.cert.{serial_hex}.key");
        let kms = self.inner.kms.clone();
        let row = NewCert {
            serial: &serial_hex,
            issuer: &signer.name,
            profile: job.profile,
            names: job.names,
            requester: job.requester,
            source: job.source,
            not_before_ms: params.not_before.unix_timestamp() * 1000,
            not_after_ms: params.not_after.unix_timestamp() * 1000,
            cert_der: &cert_der,
            key_stored: stored_key.is_some(),
        };
        self.inner
            .audit
            .transact(rec, async |tx, _| {
                db::insert_cert(tx, &row).await?;
                if let Some(k) = &stored_key {
                    kms.put_secret(tx, &secret_name, k).await?;
                }
                Ok::<_, CaError>(())
            })
            .await?;
        metrics_issued(job.profile);
        let mut chain_pem = cert_pem.clone();
        chain_pem.push_str(&signer.chain_pem);
        let (not_before_ms, not_after_ms) = (row.not_before_ms, row.not_after_ms);
        Ok(Issued {
            serial: serial_hex,
            cert_pem,
            chain_pem,
            not_before: db::time_of(not_before_ms),
            not_after: db::time_of(not_after_ms),
            key_pem: None,
        })
    }

    /// Revokes a certificate for `reason`.
    ///
    /// # Errors
    /// [`CaError::CertNotFound`], [`CaError::AlreadyRevoked`], storage and audit
    /// failures.
    pub async fn revoke(
        &self,
        ctx: &RequestContext,
        serial: &str,
        reason: RevocationReason,
    ) -> Result<(), CaError> {
        let serial = normalize_serial(serial)?;
        check_revocation_reason(reason)?;
        let mut rec = ctx.record("pki.revoke", Some(format!("cert:{serial}")));
        rec.detail("reason", reason.as_str());
        let issuer = self
            .inner
            .audit
            .transact(rec, async |tx, _| {
                let row = query("SELECT revoked_ms, issuer FROM pki_certs WHERE serial = $1")
                    .bind(&serial)
                    .fetch_optional(tx.conn())
                    .await?
                    .ok_or_else(|| CaError::CertNotFound(serial.clone()))?;
                if row.try_get::<Option<i64>, _>(0)?.is_some() {
                    return Err(CaError::AlreadyRevoked(format!("certificate {serial}")));
                }
                query("UPDATE pki_certs SET revoked_ms = $1, revoke_reason = $2 WHERE serial = $3")
                    .bind(now_ms())
                    .bind(i64::from(reason.code()))
                    .bind(&serial)
                    .execute(tx.conn())
                    .await?;
                let issuer: String = row.try_get(1)?;
                db::crl_due_now(tx, &issuer).await?;
                Ok(issuer)
            })
            .await?;
        self.crl_after_revocation(&issuer).await;
        Ok(())
    }

    /// Rebuilds `issuer`'s CRL after a revocation; when that fails the stored CRL is
    /// already marked due, so the next read or scheduler tick rebuilds it.
    async fn crl_after_revocation(&self, issuer: &str) {
        if let Ok(mut m) = self.inner.crls.lock() {
            m.remove(issuer);
        }
        if let Err(e) = self.rebuild_crl(issuer).await {
            tracing::warn!(error = %e, issuer, "CRL not rebuilt after a revocation; it is due");
        }
    }

    /// Revokes the intermediate CA `name`: it issues nothing more, the root's CRL lists
    /// it, and every certificate it issued reports revoked (reason cACompromise unless
    /// `reason` is superseded or cessationOfOperation). The root cannot be revoked, nor
    /// the default issuing CA (make another the default first).
    ///
    /// # Errors
    /// [`CaError::CaNotFound`], [`CaError::Invalid`] for the root, the default or a
    /// reason not allowed, [`CaError::AlreadyRevoked`].
    pub async fn revoke_ca(
        &self,
        ctx: &RequestContext,
        name: &str,
        reason: RevocationReason,
    ) -> Result<CaInfo, CaError> {
        let mut rec = ctx.record("pki.ca.revoke", Some(format!("ca:{name}")));
        rec.detail("reason", reason.as_str());
        let _turn = self.inner.setup.lock().await;
        self.reload().await?;
        let checked = check_revocation_reason(reason).and_then(|()| self.revocable(name));
        if let Err(e) = checked {
            return self.refused(rec, e).await;
        }
        self.inner
            .audit
            .transact(rec, async |tx, _| {
                let done = query(
                    "UPDATE pki_cas SET revoked_ms = $1, revoke_reason = $2 \
                     WHERE name = $3 AND revoked_ms IS NULL AND is_default = 0",
                )
                .bind(now_ms())
                .bind(i64::from(reason.code()))
                .bind(name)
                .execute(tx.conn())
                .await?;
                if done.rows_affected() != 1 {
                    return Err(CaError::AlreadyRevoked(format!("CA '{name}'")));
                }
                db::crl_due_now(tx, ROOT).await
            })
            .await?;
        if let Ok(mut m) = self.inner.signers.lock() {
            m.remove(name);
        }
        self.reload().await?;
        self.crl_after_revocation(ROOT).await;
        self.ca_info(name)
            .ok_or_else(|| CaError::CaNotFound(name.into()))
    }

    fn revocable(&self, name: &str) -> Result<(), CaError> {
        let info = self
            .ca_info(name)
            .ok_or_else(|| CaError::CaNotFound(name.to_owned()))?;
        if info.kind == ROOT {
            return Err(CaError::Invalid(
                "the root cannot be revoked: relying parties must remove it from their trust \
                 stores; build a new hierarchy instead"
                    .into(),
            ));
        }
        if info.is_default {
            return Err(CaError::Invalid(format!(
                "'{name}' is the default issuing CA; make another the default first \
                 (webqx-sec ca intermediate create NEW --default), then revoke it"
            )));
        }
        if info.revoked.is_some() {
            return Err(CaError::AlreadyRevoked(format!("CA '{name}'")));
        }
        Ok(())
    }

    /// The revocation status of `serial` (any case, colons allowed).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn status(&self, serial: &str) -> Result<CertStatus, CaError> {
        let Ok(serial) = normalize_serial(serial) else {
            return Ok(CertStatus::Unknown);
        };
        let sql = format!("{} WHERE c.serial = $1", db::STATUS_SQL);
        let row = query(sqlx::AssertSqlSafe(sql))
            .bind(&serial)
            .fetch_optional(self.inner.store.pool())
            .await?;
        match row {
            None => Ok(CertStatus::Unknown),
            Some(r) => db::status_row(&r),
        }
    }

    /// The record of `serial`.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn get(&self, serial: &str) -> Result<Option<CertRecord>, CaError> {
        let Ok(serial) = normalize_serial(serial) else {
            return Ok(None);
        };
        let sql = format!(
            "SELECT {} FROM pki_certs WHERE serial = $1",
            db::CERT_COLUMNS
        );
        let row = query(sqlx::AssertSqlSafe(sql))
            .bind(&serial)
            .fetch_optional(self.inner.store.pool())
            .await?;
        let Some(mut record) = row.as_ref().map(db::cert_of).transpose()? else {
            return Ok(None);
        };
        self.with_issuer_status(std::slice::from_mut(&mut record))
            .await?;
        Ok(Some(record))
    }

    /// Certificates of a revoked intermediate report revoked (as OCSP and mTLS do).
    async fn with_issuer_status(&self, records: &mut [CertRecord]) -> Result<(), CaError> {
        let rows = query(
            "SELECT name, revoked_ms, revoke_reason FROM pki_cas WHERE revoked_ms IS NOT NULL",
        )
        .fetch_all(self.inner.store.pool())
        .await?;
        let mut revoked = HashMap::new();
        for r in &rows {
            let name: String = r.try_get(0)?;
            revoked.insert(
                name,
                (
                    r.try_get::<Option<i64>, _>(1)?,
                    r.try_get::<Option<i64>, _>(2)?,
                ),
            );
        }
        for record in records.iter_mut() {
            if let (CertStatus::Good, Some(ca)) = (&record.status, revoked.get(&record.issuer)) {
                record.status = db::status_with_issuer((None, None), *ca);
            }
        }
        Ok(())
    }

    /// A page of issued certificates, oldest first.
    ///
    /// # Errors
    /// [`CaError::Invalid`] for a bad cursor; storage failures.
    pub async fn list(&self, q: &ListQuery) -> Result<CertPage, CaError> {
        let limit = i64::from(q.limit.unwrap_or(100).clamp(1, 1000));
        let (after_ms, after_serial) = match &q.cursor {
            None => (i64::MIN, String::new()),
            Some(c) => parse_cursor(c)?,
        };
        let mut sql = format!(
            "SELECT {} FROM pki_certs WHERE (created_ms > $1 OR (created_ms = $1 AND serial > $2))",
            db::CERT_COLUMNS
        );
        if q.issuer.is_some() {
            sql.push_str(" AND issuer = $4");
        }
        // A certificate of a revoked intermediate counts as revoked.
        const CA_REVOKED: &str =
            "issuer IN (SELECT name FROM pki_cas WHERE revoked_ms IS NOT NULL)";
        match q.revoked {
            Some(true) => {
                sql.push_str(&format!(" AND (revoked_ms IS NOT NULL OR {CA_REVOKED})"));
            }
            Some(false) => sql.push_str(&format!(" AND revoked_ms IS NULL AND NOT {CA_REVOKED}")),
            None => {}
        }
        sql.push_str(" ORDER BY created_ms, serial LIMIT $3");
        let mut query = query(sqlx::AssertSqlSafe(sql))
            .bind(after_ms)
            .bind(after_serial)
            .bind(limit + 1);
        if let Some(i) = &q.issuer {
            query = query.bind(i.clone());
        }
        let rows = query.fetch_all(self.inner.store.pool()).await?;
        let mut items = rows
            .iter()
            .map(db::cert_of)
            .collect::<Result<Vec<_>, _>>()?;
        self.with_issuer_status(&mut items).await?;
        let next = if items.len() > usize::try_from(limit).unwrap_or(100) {
            items.pop();
            items
                .last()
                .map(|c| format!("{}.{}", c.created.timestamp_millis(), c.serial))
        } else {
            None
        };
        Ok(CertPage { items, next })
    }
}

struct Job<'a> {
    names: &'a [String],
    profile: Profile,
    ttl: Duration,
    issuer: Option<&'a str>,
    requester: &'a str,
    source: &'a str,
    rsa_key: bool,
}

pub(crate) fn metrics_issued(profile: Profile) {
    metrics::counter!("webqx_pki_issued_total", "profile" => profile.as_str()).increment(1);
}

fn parse_cursor(c: &str) -> Result<(i64, String), CaError> {
    let bad = || CaError::Invalid("bad cursor; pass the `next` value of the previous page".into());
    let (ms, serial) = c.split_once('.').ok_or_else(bad)?;
    let ms = ms.parse().map_err(|_| bad())?;
    Ok((ms, normalize_serial(serial).map_err(|_| bad())?))
}

/// The serial as the CA stores it: lowercase hex of its bytes, no colons, no leading zero
/// byte. Tools disagree on leading zeros (`0b9a…`, `B9A…`, `00:0B:9A…`), so any number of
/// them is accepted and the result always has an even number of digits.
///
/// # Errors
/// [`CaError::Invalid`] when it is not hex.
pub fn normalize_serial(serial: &str) -> Result<String, CaError> {
    let s: String = serial
        .chars()
        .filter(|c| *c != ':')
        .flat_map(char::to_lowercase)
        .collect();
    if s.is_empty() || s.len() > 64 || !s.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(CaError::Invalid(
            "a serial number is hex digits (colons allowed)".into(),
        ));
    }
    let digits = s.trim_start_matches('0');
    Ok(match digits.len() {
        0 => "00".to_owned(),
        n if n % 2 == 1 => format!("0{digits}"),
        _ => digits.to_owned(),
    })
}

pub(crate) fn check_ca_name(name: &str) -> Result<(), CaError> {
    let ok = name.len() <= 64
        && !name.eq_ignore_ascii_case(ROOT)
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(CaError::Invalid(
            "a CA name is 1-64 letters, digits, '-' or '_', starting with a letter or digit \
             (and not 'root' in any case)"
                .into(),
        ))
    }
}

/// Whether the public key is RSA: only RSA keys get keyUsage keyEncipherment (RFC 5480
/// §3 and RFC 8410 §5 forbid it for ECDSA and Ed25519 keys).
fn spki_is_rsa(spki_der: &[u8]) -> bool {
    use x509_parser::prelude::FromDer;
    x509_parser::x509::SubjectPublicKeyInfo::from_der(spki_der)
        .map(|(_, spki)| {
            spki.algorithm.algorithm == x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION
        })
        .unwrap_or(false)
}

/// Only permanent reasons: `removeFromCRL` belongs to delta CRLs (RFC 5280 §5.3.1) and
/// would leave the certificate valid in our full CRL, and holds cannot be released here.
fn check_revocation_reason(reason: RevocationReason) -> Result<(), CaError> {
    match reason {
        RevocationReason::RemoveFromCrl | RevocationReason::CertificateHold => {
            Err(CaError::Invalid(format!(
                "revocation reason {reason} is not supported: revocation here is permanent; \
                 use keyCompromise, superseded, cessationOfOperation, affiliationChanged, \
                 privilegeWithdrawn or unspecified"
            )))
        }
        _ => Ok(()),
    }
}

pub(crate) fn x509_of(pem: &str) -> Result<Vec<u8>, CaError> {
    let certs = crate::certs_from_pem(pem.as_bytes()).map_err(internal)?;
    certs
        .into_iter()
        .next()
        .map(|c| c.as_ref().to_vec())
        .ok_or_else(|| CaError::Internal("no certificate in PEM".into()))
}

fn cert_facts(pem: &str) -> Result<(String, i64), CaError> {
    let facts = super::inspect_certificate(pem.as_bytes())?;
    Ok((facts.serial, facts.not_after.timestamp_millis()))
}

fn path_len_zero(pem: &str) -> Result<bool, CaError> {
    Ok(super::inspect_certificate(pem.as_bytes())?.path_len == Some(0))
}
