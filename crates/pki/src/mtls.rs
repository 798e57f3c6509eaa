//! Mutual TLS for the API: the server configuration that asks for (but does not
//! require) a client certificate from our CA, the identity read from a verified client
//! certificate, and the bindings that map a certificate name to a token policy.
//!
//! The TLS layer checks the chain, validity and the clientAuth extended key usage; it
//! does not know about revocation. The server checks the certificate's status with the
//! CA on every request (so a revocation takes effect at once) and then looks the
//! certificate up here: a binding names either a token, whose live policy applies (a
//! revoked or expired token disables the binding), or an explicit policy.

use crate::stored::{RecordError, check_name};
use crate::{PkiError, ReloadableCert, TlsVersions};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use webqx_audit::{AuditLog, RequestContext};
use webqx_store::time::rfc3339;
use webqx_store::{Row, Store, now_ms, query};
use webqx_tokens::Policy;

/// Most names of one certificate looked up against the bindings.
const MAX_NAMES: usize = 16;

/// A server configuration taking its certificate from `cert` that asks clients for a
/// certificate issued by one of the CAs in `client_ca_pem` and accepts clients without
/// one (they authenticate with a bearer token instead). A presented certificate that
/// does not verify (unknown CA, expired, no clientAuth usage) fails the handshake.
///
/// # Errors
/// [`PkiError::Pem`] or [`PkiError::Tls`] for unusable CA certificates.
pub fn server_config_optional_client_auth(
    cert: Arc<ReloadableCert>,
    v: TlsVersions,
    client_ca_pem: &[u8],
) -> Result<Arc<rustls::ServerConfig>, PkiError> {
    let mut roots = rustls::RootCertStore::empty();
    for c in crate::certs_from_pem(client_ca_pem)? {
        roots.add(c).map_err(|e| PkiError::Tls(e.to_string()))?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        crate::provider(),
    )
    .allow_unauthenticated()
    .build()
    .map_err(|e| PkiError::Tls(e.to_string()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(crate::provider())
        .with_protocol_versions(crate::versions(v))
        .map_err(|e| PkiError::Tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Who a verified client certificate names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientIdentity {
    /// Serial number, lowercase hex without colons or leading zero bytes.
    pub serial: String,
    /// Subject distinguished name (RFC 4514 text).
    pub subject: String,
    /// Names to look up, most specific first: SAN URIs, SAN DNS names, then the CN.
    pub names: Vec<String>,
    /// Expiry (Unix milliseconds).
    pub not_after_ms: i64,
}

/// A certificate serial as the CA writes it: lowercase hex, no leading zero bytes.
pub fn serial_hex(raw: &[u8]) -> String {
    let start = raw
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(raw.len().saturating_sub(1));
    hex::encode(&raw[start..])
}

impl ClientIdentity {
    /// Reads the identity of a DER certificate.
    ///
    /// # Errors
    /// [`PkiError::Pem`] if it does not parse.
    pub fn from_der(der: &[u8]) -> Result<ClientIdentity, PkiError> {
        use x509_parser::extensions::GeneralName;
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| PkiError::Pem(format!("client certificate: {e}")))?;
        let mut uris = Vec::new();
        let mut dns = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::URI(u) => uris.push((*u).to_owned()),
                    GeneralName::DNSName(d) => dns.push((*d).to_owned()),
                    _ => {}
                }
            }
        }
        let cn = cert
            .subject()
            .iter_common_name()
            .filter_map(|a| a.as_str().ok().map(str::to_owned));
        let mut names: Vec<String> = uris.into_iter().chain(dns).chain(cn).collect();
        let mut seen = std::collections::HashSet::new();
        names.retain(|n| seen.insert(n.clone()));
        names.truncate(MAX_NAMES);
        Ok(ClientIdentity {
            serial: serial_hex(cert.raw_serial()),
            subject: cert.subject().to_string(),
            names,
            not_after_ms: cert.validity().not_after.timestamp().saturating_mul(1000),
        })
    }
}

/// A name-to-policy binding.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Binding {
    /// Id (UUIDv7).
    pub id: String,
    /// The certificate name bound: a CN, SAN DNS name or SAN URI, matched exactly.
    pub subject: String,
    /// The token whose live policy applies, when bound with `policy_of`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_of: Option<String>,
    /// The explicit policy, when bound with one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
    /// Who made it.
    pub created_by: String,
    /// When (RFC 3339).
    pub created: String,
}

/// A request for a binding: exactly one of `policy_of` and `policy`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBinding {
    /// The certificate name to bind (CN, SAN DNS name or SAN URI).
    pub subject: String,
    /// Use the live policy of this token (its id).
    #[serde(default)]
    pub policy_of: Option<String>,
    /// Use this policy.
    #[serde(default)]
    pub policy: Option<Policy>,
}

/// What a certificate authenticates as.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The binding used.
    pub binding_id: String,
    /// The name that matched.
    pub name: String,
    /// The policy that applies now.
    pub policy: Policy,
}

/// Bindings kept in the store, changes audited.
#[derive(Clone)]
pub struct Bindings {
    store: Store,
    audit: Arc<AuditLog>,
}

impl std::fmt::Debug for Bindings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bindings").finish_non_exhaustive()
    }
}

fn check_policy(policy: &Policy) -> Result<(), RecordError> {
    if policy.admin {
        return Err(RecordError::Invalid(
            "a certificate cannot be bound to the admin policy; list the operations it needs"
                .into(),
        ));
    }
    if policy.operations.is_empty() {
        return Err(RecordError::Invalid(
            "give the binding's policy at least one operation".into(),
        ));
    }
    Ok(())
}

/// The stored policy of token `id`, if it is active.
async fn token_policy(
    conn: &mut sqlx::AnyConnection,
    id: &str,
) -> Result<Option<Policy>, RecordError> {
    let row = query("SELECT policy, expires_ms, revoked_ms FROM tokens WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let expires: Option<i64> = row.try_get(1)?;
    let revoked: Option<i64> = row.try_get(2)?;
    if revoked.is_some() || expires.is_some_and(|at| at <= now_ms()) {
        return Ok(None);
    }
    let text: String = row.try_get(0)?;
    Ok(serde_json::from_str(&text).ok())
}

fn binding_of(row: &webqx_store::AnyRow) -> Result<Binding, RecordError> {
    let policy: Option<String> = row.try_get(3)?;
    Ok(Binding {
        id: row.try_get(0)?,
        subject: row.try_get(1)?,
        policy_of: row.try_get(2)?,
        policy: policy.and_then(|p| serde_json::from_str(&p).ok()),
        created_by: row.try_get(4)?,
        created: rfc3339(row.try_get(5)?),
    })
}

impl Bindings {
    /// Bindings over `store`, auditing to `audit`.
    pub fn new(store: Store, audit: Arc<AuditLog>) -> Bindings {
        Bindings { store, audit }
    }

    /// Binds a certificate name. `creator` is the policy of the caller, which must
    /// cover the policy bound (no one hands on more than they have).
    ///
    /// # Errors
    /// [`RecordError::Invalid`], [`RecordError::Forbidden`], [`RecordError::Conflict`].
    pub async fn create(
        &self,
        ctx: &RequestContext,
        creator: &Policy,
        req: &NewBinding,
    ) -> Result<Binding, RecordError> {
        // A DNS name or address is stored as certificates carry it (lowercase, no
        // trailing dot), so `SVC.example.` binds what a certificate for svc.example says.
        let mut req = req.clone();
        if !req.subject.contains("://")
            && let Some(name) = crate::ca::names::canonical(&req.subject)
        {
            req.subject = name;
        }
        let req = &req;
        let mut rec = ctx.record("pki.mtls.bind", Some(format!("subject:{}", req.subject)));
        rec.detail("policy_of", req.policy_of.clone());
        self.audit
            .transact(rec, async |tx, rec| {
                check_name("subject", &req.subject)?;
                let policy = match (&req.policy_of, &req.policy) {
                    (Some(token), None) => {
                        token_policy(tx.conn(), token).await?.ok_or_else(|| {
                            RecordError::Invalid(format!(
                                "token '{token}' does not exist or is not active"
                            ))
                        })?
                    }
                    (None, Some(p)) => p.clone(),
                    _ => {
                        return Err(RecordError::Invalid(
                            "give exactly one of policy_of (a token id) and policy".into(),
                        ));
                    }
                };
                check_policy(&policy)?;
                if !creator.covers(&policy) {
                    return Err(RecordError::Forbidden(
                        "a caller can only bind certificates to operations and keys it has itself"
                            .into(),
                    ));
                }
                let id = uuid::Uuid::now_v7().to_string();
                let stored_policy = match &req.policy {
                    Some(p) => Some(
                        serde_json::to_string(p)
                            .map_err(|e| RecordError::Invalid(e.to_string()))?,
                    ),
                    None => None,
                };
                let created_by = rec.actor.clone();
                let done = query(
                    "INSERT INTO pki_mtls_bindings (id, subject, token_id, policy, created_by, \
                     created_ms) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&id)
                .bind(&req.subject)
                .bind(req.policy_of.clone())
                .bind(stored_policy)
                .bind(&created_by)
                .bind(now_ms())
                .execute(tx.conn())
                .await;
                if let Err(e) = done {
                    let e = webqx_store::StoreError::from_sqlx(e);
                    if e.kind() == webqx_store::StoreErrorKind::Conflict {
                        return Err(RecordError::Conflict(format!(
                            "'{}' is already bound; delete that binding first",
                            req.subject
                        )));
                    }
                    return Err(e.into());
                }
                rec.detail("binding", id.clone());
                Ok(Binding {
                    id,
                    subject: req.subject.clone(),
                    policy_of: req.policy_of.clone(),
                    policy: req.policy.clone(),
                    created_by,
                    created: rfc3339(now_ms()),
                })
            })
            .await
    }

    /// Lists the bindings.
    ///
    /// # Errors
    /// Storage and audit failures.
    pub async fn list(&self, ctx: &RequestContext) -> Result<Vec<Binding>, RecordError> {
        let rec = ctx.record("pki.mtls.list", None);
        self.audit
            .audited(rec, async |_| {
                let rows = query(
                    "SELECT id, subject, token_id, policy, created_by, created_ms \
                     FROM pki_mtls_bindings ORDER BY subject",
                )
                .fetch_all(self.store.pool())
                .await?;
                rows.iter().map(binding_of).collect()
            })
            .await
    }

    /// Deletes a binding by id or by subject.
    ///
    /// # Errors
    /// [`RecordError::NotFound`], storage and audit failures.
    pub async fn delete(
        &self,
        ctx: &RequestContext,
        id_or_subject: &str,
    ) -> Result<(), RecordError> {
        let rec = ctx.record("pki.mtls.unbind", Some(format!("binding:{id_or_subject}")));
        self.audit
            .transact(rec, async |tx, _| {
                let done = query("DELETE FROM pki_mtls_bindings WHERE id = $1 OR subject = $1")
                    .bind(id_or_subject)
                    .execute(tx.conn())
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(RecordError::NotFound(format!(
                        "no binding with id or subject '{}'",
                        id_or_subject.chars().take(255).collect::<String>()
                    )));
                }
                Ok(())
            })
            .await
    }

    /// The policy a certificate with `names` (most specific first) authenticates with.
    /// `Ok(None)`: no binding. Not audited: the caller audits the authentication.
    ///
    /// # Errors
    /// [`RecordError::Forbidden`] when the binding's token is no longer active; storage
    /// failures.
    pub async fn resolve(&self, names: &[String]) -> Result<Option<Resolved>, RecordError> {
        let mut conn = self.store.pool().acquire().await?;
        for name in names.iter().take(MAX_NAMES) {
            let row = query(
                "SELECT id, subject, token_id, policy, created_by, created_ms \
                 FROM pki_mtls_bindings WHERE subject = $1",
            )
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?;
            let Some(row) = row else { continue };
            let binding = binding_of(&row)?;
            let policy = match (&binding.policy, &binding.policy_of) {
                (Some(p), _) => p.clone(),
                (None, Some(token)) => token_policy(&mut conn, token).await?.ok_or_else(|| {
                    RecordError::Forbidden(format!(
                        "the certificate name '{name}' is bound to token '{token}', which is \
                         revoked or expired; bind it again"
                    ))
                })?,
                (None, None) => continue,
            };
            return Ok(Some(Resolved {
                binding_id: binding.id,
                name: name.clone(),
                policy,
            }));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use webqx_tokens::Operation;

    fn client_cert(names: &[&str]) -> Vec<u8> {
        let ca = crate::new_local_ca("mtls test CA").unwrap();
        let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
        let leaf = crate::issue_server(&ca, &names, 30).unwrap();
        crate::certs_from_pem(leaf.cert_pem.as_bytes())
            .unwrap()
            .remove(0)
            .to_vec()
    }

    #[test]
    fn identity_lists_sans_then_cn_without_duplicates() {
        let id =
            ClientIdentity::from_der(&client_cert(&["billing.ehr.test", "b2.ehr.test"])).unwrap();
        assert_eq!(id.names, vec!["billing.ehr.test", "b2.ehr.test"]);
        assert!(id.subject.contains("billing.ehr.test"));
        assert!(!id.serial.is_empty() && !id.serial.starts_with("00"));
        assert!(ClientIdentity::from_der(b"junk").is_err());
    }

    #[test]
    fn serials_drop_leading_zero_bytes() {
        assert_eq!(serial_hex(&[0, 0x8f, 1]), "8f01");
        assert_eq!(serial_hex(&[0]), "00");
        assert_eq!(serial_hex(&[]), "");
    }

    #[tokio::test]
    async fn bindings_resolve_explicit_and_token_policies_on_every_store() {
        for ts in webqx_testkit::test_stores() {
            let store = Store::open(&ts.config).await.unwrap();
            let audit = AuditLog::start(store.clone());
            let b = Bindings::new(store.clone(), audit);
            let ctx = RequestContext::internal("test");
            let policy = Policy {
                admin: false,
                operations: vec![Operation::Encrypt],
                keys: vec!["phi".into()],
            };
            let req = NewBinding {
                subject: "billing.ehr.test".into(),
                policy_of: None,
                policy: Some(policy.clone()),
            };
            let made = b.create(&ctx, &Policy::admin(), &req).await.unwrap();
            assert!(
                matches!(
                    b.create(&ctx, &Policy::admin(), &req).await,
                    Err(RecordError::Conflict(_))
                ),
                "{}",
                ts.label
            );
            let narrow = Policy {
                operations: vec![Operation::Decrypt],
                ..policy.clone()
            };
            let other = NewBinding {
                subject: "x".into(),
                ..req.clone()
            };
            assert!(matches!(
                b.create(&ctx, &narrow, &other).await,
                Err(RecordError::Forbidden(_))
            ));
            let bad = NewBinding {
                policy_of: Some("nope".into()),
                policy: None,
                ..other
            };
            assert!(matches!(
                b.create(&ctx, &Policy::admin(), &bad).await,
                Err(RecordError::Invalid(_))
            ));

            let names = vec!["spiffe://x".to_owned(), "billing.ehr.test".to_owned()];
            let r = b.resolve(&names).await.unwrap().unwrap();
            assert_eq!((r.name.as_str(), r.policy), ("billing.ehr.test", policy));
            assert!(b.resolve(&["other".into()]).await.unwrap().is_none());
            assert_eq!(b.list(&ctx).await.unwrap().len(), 1);
            b.delete(&ctx, &made.id).await.unwrap();
            assert!(b.resolve(&names).await.unwrap().is_none(), "{}", ts.label);
            assert!(matches!(
                b.delete(&ctx, &made.id).await,
                Err(RecordError::NotFound(_))
            ));
        }
    }
}
