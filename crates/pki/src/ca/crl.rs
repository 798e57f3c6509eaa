//! Certificate revocation lists (RFC 5280 section 5), one per CA: rebuilt on every
//! revocation and on a schedule, stored so every node serves the same, and cached.

use super::authority::{Authority, ROOT};
use super::db::{pem_encode, time_of};
use super::error::internal;
use super::keys;
use super::{CaError, RevocationReason};
use rcgen::{CertificateRevocationListParams, RevokedCertParams, SerialNumber};
use std::sync::Arc;
use webqx_store::{Row, now_ms, query};

/// How long a cached CRL is served before the store is asked again (another node may
/// have rebuilt it).
const RECHECK_MS: i64 = 5_000;

/// A signed CRL.
#[derive(Debug, Clone)]
pub struct Crl {
    /// CA that signed it.
    pub issuer: String,
    /// CRL number.
    pub number: i64,
    /// DER.
    pub der: Vec<u8>,
    /// thisUpdate, ms.
    pub this_update_ms: i64,
    /// nextUpdate, ms.
    pub next_update_ms: i64,
    loaded_ms: i64,
}

impl Crl {
    /// When it was issued.
    pub fn this_update(&self) -> chrono::DateTime<chrono::Utc> {
        time_of(self.this_update_ms)
    }

    /// PEM (`X509 CRL`).
    pub fn pem(&self) -> String {
        pem_encode("X509 CRL", &self.der)
    }
}

impl Authority {
    /// The current CRL of `issuer` (default: the default issuing CA), rebuilding it when
    /// there is none or it is past its nextUpdate (which needs the service unsealed).
    ///
    /// # Errors
    /// [`CaError::CaNotFound`], [`CaError::Sealed`] when it must be rebuilt, storage.
    pub async fn crl(&self, issuer: Option<&str>) -> Result<Arc<Crl>, CaError> {
        let name = self.issuer_name(issuer)?;
        let now = now_ms();
        let cached = self
            .inner
            .crls
            .lock()
            .ok()
            .and_then(|m| m.get(&name).cloned());
        if let Some(c) = cached
            && now - c.loaded_ms < RECHECK_MS
            && now < c.next_update_ms
        {
            return Ok(c);
        }
        if let Some(c) = self.load_crl(&name).await?
            && now < c.next_update_ms
        {
            return Ok(self.cache_crl(c));
        }
        self.rebuild_crl(&name).await
    }

    fn issuer_name(&self, issuer: Option<&str>) -> Result<String, CaError> {
        let name = match issuer {
            Some(n) => n.to_owned(),
            None => self
                .default_name()
                .ok_or_else(|| CaError::CaNotFound("(default issuing CA)".into()))?,
        };
        if self.ca_info(&name).is_none() {
            return Err(CaError::CaNotFound(name));
        }
        Ok(name)
    }

    fn cache_crl(&self, c: Crl) -> Arc<Crl> {
        let c = Arc::new(c);
        if let Ok(mut m) = self.inner.crls.lock() {
            m.insert(c.issuer.clone(), c.clone());
        }
        c
    }

    async fn load_crl(&self, name: &str) -> Result<Option<Crl>, CaError> {
        let row = query(
            "SELECT number, this_update_ms, next_update_ms, der FROM pki_crls WHERE issuer = $1",
        )
        .bind(name)
        .fetch_optional(self.inner.store.pool())
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(Crl {
            issuer: name.to_owned(),
            number: r.try_get(0)?,
            this_update_ms: r.try_get(1)?,
            next_update_ms: r.try_get(2)?,
            der: r.try_get(3)?,
            loaded_ms: now_ms(),
        }))
    }

    /// Signs a new CRL for CA `name` with every revoked, unexpired certificate it
    /// issued (for the root: its revoked intermediates), stores it and returns it.
    ///
    /// # Errors
    /// [`CaError::Sealed`], [`CaError::CaNotFound`], storage, audit, signing.
    pub async fn rebuild_crl(&self, name: &str) -> Result<Arc<Crl>, CaError> {
        let now = now_ms();
        let revoked = self.revoked_of(name, now).await?;
        let count = revoked.len();
        let every = i64::try_from(self.inner.settings.crl_every.as_millis()).unwrap_or(3_600_000);
        let prev = self.load_crl(name).await?.map(|c| c.number).unwrap_or(0);
        let number = prev + 1;
        let params = CertificateRevocationListParams {
            this_update: keys::at_ms(now)?,
            // Relying parties may fetch just before a rebuild; give them slack.
            next_update: keys::at_ms(now + every + every / 2)?,
            crl_number: SerialNumber::from(u64::try_from(number).unwrap_or(1)),
            issuing_distribution_point: None,
            revoked_certs: revoked,
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        let der = if name == ROOT {
            let root = self
                .ca_info(ROOT)
                .ok_or_else(|| CaError::CaNotFound(ROOT.into()))?;
            let issuer = self.root_issuer(&root).await?;
            tokio::task::spawn_blocking(move || {
                params
                    .signed_by(&issuer)
                    .map(|c| c.der().to_vec())
                    .map_err(|e| issuer.key().explain(e))
            })
            .await
            .map_err(internal)??
        } else {
            let signer = self.signer(Some(name)).await?;
            // A long list takes a while to encode: off the async workers.
            tokio::task::spawn_blocking(move || {
                params.signed_by(&signer.issuer).map(|c| c.der().to_vec())
            })
            .await
            .map_err(internal)?
            .map_err(internal)?
        };
        let crl = Crl {
            issuer: name.to_owned(),
            number,
            der,
            this_update_ms: now,
            next_update_ms: now + every + every / 2,
            loaded_ms: now,
        };
        let ctx = webqx_audit::RequestContext::internal("system");
        let mut rec = ctx.record("pki.crl", Some(format!("ca:{name}")));
        rec.detail("number", number).detail("revoked", count);
        self.inner
            .audit
            .transact(rec, async |tx, _| {
                query(
                    "INSERT INTO pki_crls (issuer, number, this_update_ms, next_update_ms, der) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (issuer) DO UPDATE SET \
                     number = excluded.number, this_update_ms = excluded.this_update_ms, \
                     next_update_ms = excluded.next_update_ms, der = excluded.der",
                )
                .bind(name)
                .bind(crl.number)
                .bind(crl.this_update_ms)
                .bind(crl.next_update_ms)
                .bind(&crl.der)
                .execute(tx.conn())
                .await?;
                Ok::<_, CaError>(())
            })
            .await?;
        tracing::debug!(issuer = name, number, revoked = count, "CRL rebuilt");
        Ok(self.cache_crl(crl))
    }

    async fn revoked_of(&self, name: &str, now: i64) -> Result<Vec<RevokedCertParams>, CaError> {
        let sql = if name == ROOT {
            "SELECT serial, revoked_ms, revoke_reason FROM pki_cas \
             WHERE parent = $1 AND revoked_ms IS NOT NULL AND not_after_ms > $2"
        } else {
            "SELECT serial, revoked_ms, revoke_reason FROM pki_certs \
             WHERE issuer = $1 AND revoked_ms IS NOT NULL AND not_after_ms > $2"
        };
        let rows = query(sql)
            .bind(name)
            .bind(now)
            .fetch_all(self.inner.store.pool())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let serial: String = r.try_get(0)?;
            let at: i64 = r.try_get(1)?;
            let reason: Option<i64> = r.try_get(2)?;
            out.push(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&hex::decode(&serial).map_err(internal)?),
                revocation_time: keys::at_ms(at)?,
                reason_code: reason
                    .and_then(RevocationReason::from_code)
                    .map(RevocationReason::rcgen),
                invalidity_date: None,
            });
        }
        Ok(out)
    }

    /// Rebuilds every CA's CRL that is due within the next `crl_every` / 2 (for the
    /// scheduler): the intermediates' first, then the root's (which may need the HSM; it
    /// failing does not hold the others back). Returns how many were rebuilt.
    ///
    /// # Errors
    /// The first failure, after trying every CA.
    pub async fn rebuild_due_crls(&self) -> Result<usize, CaError> {
        let mut cas = self.cas();
        cas.sort_by_key(|c| c.kind == ROOT);
        let (mut n, mut first_error) = (0, None);
        for ca in cas {
            let done = match self.crl_due(&ca.name).await {
                Ok(true) => self.rebuild_crl(&ca.name).await.map(|_| 1),
                Ok(false) => Ok(0),
                Err(e) => Err(e),
            };
            match done {
                Ok(k) => n += k,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(n),
        }
    }

    async fn crl_due(&self, name: &str) -> Result<bool, CaError> {
        let half = i64::try_from(self.inner.settings.crl_every.as_millis() / 2).unwrap_or(0);
        Ok(match self.load_crl(name).await? {
            None => true,
            Some(c) => {
                c.this_update_ms + 2 * half <= now_ms() || c.next_update_ms - half <= now_ms()
            }
        })
    }
}
