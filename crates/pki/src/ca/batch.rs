//! Issuing many certificates at once: keys are generated and certificates signed on
//! every core, then all are stored, each with its own audit record, in one transaction.
//! This is what makes thousands per second durable.
//!
//! Two forms: [`Authority::issue_batch`] is all or nothing (one refused request refuses
//! the batch); [`Authority::issue_each`] refuses a bad request alone and issues the
//! others, which is what the HTTP batch route (`POST /v1/pki/issue/batch`) uses.

use super::authority::{Authority, Signer, metrics_issued, now_ms, ttl_ms};
use super::db::{self, NewCert};
use super::error::internal;
use super::keys::{self, LeafSpec};
use super::{CaError, IssueRequest, Issued, KeyAlgorithm};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use webqx_audit::{AuditRecord, Audited, RequestContext};
use webqx_crypto::SecretBytes;

/// Most requests in one batch.
pub const MAX_BATCH: usize = 10_000;

/// What became of one request of [`Authority::issue_each`].
pub type IssueOutcome = Result<Issued, CaError>;

/// Refuses an empty batch or one of more than [`MAX_BATCH`] requests.
///
/// # Errors
/// [`CaError::Invalid`] saying how many are accepted.
pub fn check_batch_size(n: usize) -> Result<(), CaError> {
    if n == 0 {
        return Err(CaError::Invalid(
            "the batch is empty; send at least one request".into(),
        ));
    }
    if n > MAX_BATCH {
        return Err(CaError::Invalid(format!(
            "the batch has {n} requests; at most {MAX_BATCH} are accepted at once, so split it"
        )));
    }
    Ok(())
}

/// One request after its checks, with the CA that signs it.
struct Checked {
    req: IssueRequest,
    names: Vec<String>,
    ttl: Duration,
    signer: Arc<Signer>,
}

/// One certificate made, not yet stored.
struct Made {
    serial: String,
    cert_der: Vec<u8>,
    cert_pem: String,
    key_pem: SecretBytes,
    stored_key: Option<SecretBytes>,
    not_before_ms: i64,
    not_after_ms: i64,
}

impl Authority {
    /// Issues every request of `reqs` (as [`Authority::issue`] does one), all or none:
    /// a request that fails its checks refuses the whole batch (its audit record says
    /// which). Results are in request order.
    ///
    /// # Errors
    /// As for [`Authority::issue`]; [`CaError::Invalid`] for more than 10,000 requests.
    pub async fn issue_batch(
        &self,
        ctx: &RequestContext,
        reqs: Vec<IssueRequest>,
    ) -> Result<Vec<Issued>, CaError> {
        if reqs.len() > MAX_BATCH {
            return Err(CaError::Invalid(format!(
                "at most {MAX_BATCH} certificates per batch"
            )));
        }
        let checked = self.check_batch(ctx, reqs).await?;
        let made = make_all(&checked, self.inner.settings.base_url.clone()).await?;
        self.store_batch(ctx, &checked, &made, Vec::new()).await?;
        Ok(checked.iter().zip(made).map(finished).collect())
    }

    /// Issues every request of `reqs` that passes its checks (as [`Authority::issue`]
    /// checks one) and refuses the others one by one. Each request comes with the index
    /// the caller knows it by; a refused one gets its own failed `pki.issue` audit
    /// record naming that index. The issued certificates, their audit records and the
    /// refusals' records are committed in one transaction. Outcomes are in request
    /// order.
    ///
    /// # Errors
    /// [`check_batch_size`]'s; a sealed service, or a key service, storage or audit
    /// failure refuses the whole batch (then nothing is issued).
    pub async fn issue_each(
        &self,
        ctx: &RequestContext,
        reqs: Vec<(usize, IssueRequest)>,
    ) -> Result<Vec<IssueOutcome>, CaError> {
        check_batch_size(reqs.len())?;
        let (checked, verdicts, refusals) = self.check_each(ctx, reqs).await?;
        let made = make_all(&checked, self.inner.settings.base_url.clone()).await?;
        self.store_batch(ctx, &checked, &made, refusals).await?;

        let mut issued = checked.iter().zip(made).map(finished);
        let mut out = Vec::with_capacity(verdicts.len());
        for verdict in verdicts {
            out.push(match verdict {
                Ok(()) => Ok(issued
                    .next()
                    .ok_or_else(|| internal("fewer certificates than accepted requests"))?),
                Err(e) => Err(e),
            });
        }
        Ok(out)
    }

    /// Checks each request alone: the accepted ones (in order), a verdict per request
    /// (`Ok` for the next accepted one), and an audit record per refused one.
    async fn check_each(
        &self,
        ctx: &RequestContext,
        reqs: Vec<(usize, IssueRequest)>,
    ) -> Result<(Vec<Checked>, Vec<Result<(), CaError>>, Vec<AuditRecord>), CaError> {
        let mut signers: HashMap<Option<String>, Arc<Signer>> = HashMap::new();
        let mut checked = Vec::with_capacity(reqs.len());
        let mut verdicts = Vec::with_capacity(reqs.len());
        let mut refusals = Vec::new();
        for (index, req) in reqs {
            match self.check_one(&mut signers, req).await {
                Ok(c) => {
                    checked.push(c);
                    verdicts.push(Ok(()));
                }
                Err((e, _)) if !e.is_client_error() => return Err(e),
                Err((e, req)) => {
                    let mut rec = ctx.record("pki.issue", None);
                    rec.detail("index", index)
                        .detail("profile", req.profile.as_str())
                        .detail("key", req.key.as_str())
                        .detail("source", req.source.clone())
                        .detail("requester", req.requester.clone())
                        .fail(e.audit_outcome(), e.audit_reason());
                    refusals.push(rec);
                    verdicts.push(Err(e));
                }
            }
        }
        Ok((checked, verdicts, refusals))
    }

    /// One request's checks and its signer (looked up once per issuer). A refusal
    /// hands the request back for its audit record.
    async fn check_one(
        &self,
        signers: &mut HashMap<Option<String>, Arc<Signer>>,
        req: IssueRequest,
    ) -> Result<Checked, (CaError, Box<IssueRequest>)> {
        let (names, ttl) = match self.check_request(&req.names, req.profile, req.ttl) {
            Ok(v) => v,
            Err(e) => return Err((e, Box::new(req))),
        };
        let signer = match signers.get(&req.issuer) {
            Some(s) => s.clone(),
            None => match self.issuing_signer(req.issuer.as_deref()).await {
                Ok(s) => {
                    signers.insert(req.issuer.clone(), s.clone());
                    s
                }
                Err(e) => return Err((e, Box::new(req))),
            },
        };
        Ok(Checked {
            req,
            names,
            ttl,
            signer,
        })
    }

    async fn check_batch(
        &self,
        ctx: &RequestContext,
        reqs: Vec<IssueRequest>,
    ) -> Result<Vec<Checked>, CaError> {
        let mut signers: HashMap<Option<String>, Arc<Signer>> = HashMap::new();
        let mut out = Vec::with_capacity(reqs.len());
        for (i, req) in reqs.into_iter().enumerate() {
            let (names, ttl) = match self.check_request(&req.names, req.profile, req.ttl) {
                Ok(v) => v,
                Err(e) => {
                    let mut rec = ctx.record("pki.issue_batch", None);
                    rec.detail("index", i)
                        .detail("profile", req.profile.as_str());
                    return self.refused(rec, e).await;
                }
            };
            let signer = match signers.get(&req.issuer) {
                Some(s) => s.clone(),
                None => {
                    let s = self.issuing_signer(req.issuer.as_deref()).await?;
                    signers.insert(req.issuer.clone(), s.clone());
                    s
                }
            };
            out.push(Checked {
                req,
                names,
                ttl,
                signer,
            });
        }
        Ok(out)
    }

    async fn store_batch(
        &self,
        ctx: &RequestContext,
        checked: &[Checked],
        made: &[Made],
        refusals: Vec<AuditRecord>,
    ) -> Result<(), CaError> {
        let mut summary = ctx.record("pki.issue_batch", None);
        summary.detail("count", checked.len());
        if !refusals.is_empty() {
            summary.detail("refused", refusals.len());
        }
        let audit = self.inner.audit.clone();
        let kms = self.inner.kms.clone();
        let rows: Vec<NewCert<'_>> = checked
            .iter()
            .zip(made)
            .map(|(c, m)| NewCert {
                serial: &m.serial,
                issuer: &c.signer.name,
                profile: c.req.profile,
                names: &c.names,
                requester: &c.req.requester,
                source: &c.req.source,
                not_before_ms: m.not_before_ms,
                not_after_ms: m.not_after_ms,
                cert_der: &m.cert_der,
                key_stored: m.stored_key.is_some(),
            })
            .collect();
        self.inner
            .audit
            .transact(summary, async |tx, _| {
                for rec in &refusals {
                    audit.append(tx, rec).await?;
                }
                if !rows.is_empty() {
                    db::insert_certs(tx, &rows).await?;
                }
                for (c, m) in checked.iter().zip(made) {
                    if let Some(k) = &m.stored_key {
                        kms.put_secret(tx, &format!("pki.cert.{}.key", m.serial), k)
                            .await?;
                    }
                    let mut rec = ctx.record("pki.issue", Some(format!("cert:{}", m.serial)));
                    rec.detail("profile", c.req.profile.as_str())
                        .detail("key", c.req.key.as_str())
                        .detail("source", c.req.source.clone())
                        .detail("requester", c.req.requester.clone())
                        .detail("issuer", c.signer.name.clone())
                        .detail("names", c.names.clone())
                        .detail("not_after", db::time_of(m.not_after_ms).to_rfc3339())
                        .detail("key_stored", m.stored_key.is_some());
                    audit.append(tx, &rec).await?;
                }
                Ok::<_, CaError>(())
            })
            .await
    }
}

/// The caller's view of a certificate made and stored.
fn finished((c, m): (&Checked, Made)) -> Issued {
    metrics_issued(c.req.profile);
    let mut chain_pem = m.cert_pem.clone();
    chain_pem.push_str(&c.signer.chain_pem);
    Issued {
        serial: m.serial,
        cert_pem: m.cert_pem,
        chain_pem,
        not_before: db::time_of(m.not_before_ms),
        not_after: db::time_of(m.not_after_ms),
        key_pem: Some(m.key_pem),
    }
}

/// What one blocking worker needs for one certificate.
type Work = (IssueRequest, Vec<String>, Duration, Arc<Signer>);

/// Generates keys and signs on every core.
async fn make_all(checked: &[Checked], base_url: Option<String>) -> Result<Vec<Made>, CaError> {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let per = checked.len().div_ceil(cores).max(1);
    let jobs: Vec<Vec<Work>> = checked
        .chunks(per)
        .map(|chunk| {
            chunk
                .iter()
                .map(|c| (c.req.clone(), c.names.clone(), c.ttl, c.signer.clone()))
                .collect()
        })
        .collect();
    let mut handles = Vec::with_capacity(jobs.len());
    for job in jobs {
        let base = base_url.clone();
        handles.push(tokio::task::spawn_blocking(move || {
            job.iter()
                .map(|(req, names, ttl, signer)| {
                    make_one(req, names, *ttl, signer, base.as_deref())
                })
                .collect::<Result<Vec<Made>, CaError>>()
        }));
    }
    let mut out = Vec::with_capacity(checked.len());
    for h in handles {
        out.extend(h.await.map_err(internal)??);
    }
    Ok(out)
}

fn make_one(
    req: &IssueRequest,
    names: &[String],
    ttl: Duration,
    signer: &Signer,
    base_url: Option<&str>,
) -> Result<Made, CaError> {
    let key = keys::generate(req.key)?;
    let (serial, serial_hex) = keys::new_serial()?;
    let now = now_ms();
    let params = keys::leaf_params(LeafSpec {
        names,
        profile: req.profile,
        serial,
        not_before_ms: now - 60_000,
        not_after_ms: (now + ttl_ms(ttl)).min(signer.not_after_ms),
        base_url,
        rsa_key: matches!(req.key, KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072),
    })?;
    let cert = params.signed_by(&key, &signer.issuer).map_err(internal)?;
    Ok(Made {
        serial: serial_hex,
        cert_der: cert.der().to_vec(),
        cert_pem: cert.pem(),
        key_pem: keys::private_pem(&key),
        stored_key: req.store_key.then(|| SecretBytes::new(key.serialize_der())),
        not_before_ms: params.not_before.unix_timestamp() * 1000,
        not_after_ms: params.not_after.unix_timestamp() * 1000,
    })
}
