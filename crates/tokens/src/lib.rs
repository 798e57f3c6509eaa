//! API tokens: who may call the service, and what they may do.
//!
//! A token is `wqxt.<id>.<secret>`. The id is public (it names the token in audit
//! records and lists); the secret is 256 random bits, stored only as its SHA-256 and
//! compared in constant time. The admin token made at initialization may do
//! everything; scoped tokens carry a [`Policy`]: which operations, on which keys
//! (names or `prefix*` patterns), until when.
//!
//! OAuth 2.0 JWT access tokens (crate `webqx-oauth`) map their `webqx:keys/...` scopes
//! onto the same policies: such a [`Principal`] carries one narrow policy per scope in
//! [`Principal::grants`], and [`Principal::allows`] checks them.

#![forbid(unsafe_code)]

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use utoipa::ToSchema;
use webqx_audit::{AuditError, AuditLog, Outcome, RequestContext};
use webqx_crypto::SecretBytes;
use webqx_store::time::{parse_duration, rfc3339};
use webqx_store::{Row, Store, StoreError, WriteTx, now_ms, query};

const PREFIX: &str = "wqxt";
/// Longest token accepted, to bound work on garbage.
const MAX_TOKEN_LEN: usize = 200;

/// Something a token may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    /// Encrypt with a key.
    Encrypt,
    /// Decrypt with a key.
    Decrypt,
    /// Rewrap ciphertexts to a key's newest version.
    Rewrap,
    /// Generate data keys.
    Datakey,
    /// Sign.
    Sign,
    /// Verify signatures and HMACs.
    Verify,
    /// Compute HMACs.
    Hmac,
    /// Export material of exportable keys.
    Export,
    /// List keys and read their metadata.
    KeyRead,
    /// Create, rotate, configure, enable, disable, delete keys.
    KeyAdmin,
    /// Protect FHIR resources (with the policy's keys).
    FhirProtect,
    /// Unprotect FHIR resources (with the policy's keys).
    FhirUnprotect,
    /// Read, verify and export the audit trail.
    AuditRead,
    /// Send audit events (FHIR AuditEvent) from the EHR into the trail.
    AuditWrite,
    /// Read `/metrics`.
    Metrics,
    /// Seal the service and manage tokens.
    Sys,
    /// Receive raw key material through the Vault-KV-compatible mount that MariaDB's
    /// data-at-rest encryption reads (the only way raw keys leave the service).
    TdeRead,
    /// Issue certificates and sign CSRs with the CA.
    PkiIssue,
    /// List and show issued certificates and the CA hierarchy.
    PkiRead,
    /// Revoke certificates.
    PkiRevoke,
    /// Create intermediate CAs.
    PkiAdmin,
    /// Check OAuth access tokens: `POST /oauth/introspect` and `POST /v1/tokens/verify`
    /// (for API gateways and EHR services that are not registered OAuth clients).
    OauthIntrospect,
    /// Register, list, disable, enable and delete OAuth clients.
    OauthAdmin,
    /// Send logs and events into security monitoring (`POST /v1/events`).
    EventsWrite,
    /// List, show and follow alerts; list suppressions; read monitoring context.
    AlertsRead,
    /// Acknowledge and close alerts, manage suppressions and monitoring context.
    AlertsWrite,
    /// List vulnerability scan targets, their results, the current findings and the
    /// advisory database's status.
    VulnRead,
    /// Add, remove and run vulnerability scan targets.
    VulnWrite,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 28] = [
        Operation::Encrypt,
        Operation::Decrypt,
        Operation::Rewrap,
        Operation::Datakey,
        Operation::Sign,
        Operation::Verify,
        Operation::Hmac,
        Operation::Export,
        Operation::KeyRead,
        Operation::KeyAdmin,
        Operation::FhirProtect,
        Operation::FhirUnprotect,
        Operation::AuditRead,
        Operation::AuditWrite,
        Operation::Metrics,
        Operation::Sys,
        Operation::TdeRead,
        Operation::PkiIssue,
        Operation::PkiRead,
        Operation::PkiRevoke,
        Operation::PkiAdmin,
        Operation::OauthIntrospect,
        Operation::OauthAdmin,
        Operation::EventsWrite,
        Operation::AlertsRead,
        Operation::AlertsWrite,
        Operation::VulnRead,
        Operation::VulnWrite,
    ];

    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Encrypt => "encrypt",
            Operation::Decrypt => "decrypt",
            Operation::Rewrap => "rewrap",
            Operation::Datakey => "datakey",
            Operation::Sign => "sign",
            Operation::Verify => "verify",
            Operation::Hmac => "hmac",
            Operation::Export => "export",
            Operation::KeyRead => "key-read",
            Operation::KeyAdmin => "key-admin",
            Operation::FhirProtect => "fhir-protect",
            Operation::FhirUnprotect => "fhir-unprotect",
            Operation::AuditRead => "audit-read",
            Operation::AuditWrite => "audit-write",
            Operation::Metrics => "metrics",
            Operation::Sys => "sys",
            Operation::TdeRead => "tde-read",
            Operation::PkiIssue => "pki-issue",
            Operation::PkiRead => "pki-read",
            Operation::PkiRevoke => "pki-revoke",
            Operation::PkiAdmin => "pki-admin",
            Operation::OauthIntrospect => "oauth-introspect",
            Operation::OauthAdmin => "oauth-admin",
            Operation::EventsWrite => "events-write",
            Operation::AlertsRead => "alerts-read",
            Operation::AlertsWrite => "alerts-write",
            Operation::VulnRead => "vuln-read",
            Operation::VulnWrite => "vuln-write",
        }
    }

    /// Parses the API name.
    pub fn parse(text: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|o| o.as_str() == text)
    }
}

/// What a token may do.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Everything, including making other tokens. Only the initial admin token has it.
    #[serde(default)]
    pub admin: bool,
    /// Allowed operations.
    #[serde(default)]
    pub operations: Vec<Operation>,
    /// Key names or `prefix*` patterns (`*` for all) the operations apply to.
    #[serde(default)]
    pub keys: Vec<String>,
}

impl Policy {
    /// The policy of the admin token.
    pub fn admin() -> Policy {
        Policy {
            admin: true,
            operations: Operation::ALL.to_vec(),
            keys: vec!["*".into()],
        }
    }

    /// Whether `op` is allowed, on `key` when the operation concerns a key.
    pub fn allows(&self, op: Operation, key: Option<&str>) -> bool {
        if self.admin {
            return true;
        }
        if !self.operations.contains(&op) {
            return false;
        }
        match key {
            None => true,
            Some(key) => self.keys.iter().any(|pattern| matches_key(pattern, key)),
        }
    }

    fn validate(&self) -> Result<(), TokenError> {
        if self.operations.is_empty() {
            return Err(TokenError::Invalid(
                "give the token at least one operation".into(),
            ));
        }
        for pattern in &self.keys {
            let name = pattern.strip_suffix('*').unwrap_or(pattern);
            if pattern != "*" && !webqx_crypto::envelope::valid_key_name(name) {
                return Err(TokenError::Invalid(format!(
                    "'{pattern}' is neither a key name nor a 'prefix*' pattern"
                )));
            }
        }
        Ok(())
    }
}

impl Policy {
    /// Whether everything `other` allows is allowed by `self`: what a token may hand on
    /// to a token it creates.
    pub fn covers(&self, other: &Policy) -> bool {
        if self.admin {
            return true;
        }
        !other.admin
            && other
                .operations
                .iter()
                .all(|op| self.operations.contains(op))
            && other
                .keys
                .iter()
                .all(|k| self.keys.iter().any(|mine| pattern_covers(mine, k)))
    }
}

/// Whether pattern `outer` matches every name `inner` (a name or pattern) matches.
fn pattern_covers(outer: &str, inner: &str) -> bool {
    match outer.strip_suffix('*') {
        Some(prefix) => inner.starts_with(prefix),
        None => outer == inner,
    }
}

/// Longest token lifetime.
const MAX_TTL: std::time::Duration = std::time::Duration::from_secs(3650 * 86_400);

fn matches_key(pattern: &str, key: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => key.starts_with(prefix),
        None => pattern == key,
    }
}

/// Why a token was refused, or a token request failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum TokenError {
    /// No token was presented.
    Missing,
    /// The token is malformed, unknown, or revoked (one answer, on purpose).
    Invalid401,
    /// The token was valid but has expired.
    Expired(String),
    /// A request to make or change tokens is malformed.
    Invalid(String),
    /// No such token.
    NotFound(String),
    /// The caller may not do this to tokens; the text says why.
    Forbidden(String),
    /// The audit record could not be written.
    Audit(AuditError),
    /// Storage failed.
    Store(StoreError),
}

impl TokenError {
    /// Stable error type.
    pub fn kind(&self) -> &'static str {
        match self {
            TokenError::Missing => "token-missing",
            TokenError::Invalid401 => "token-invalid",
            TokenError::Expired(_) => "token-expired",
            TokenError::Invalid(_) => "invalid-request",
            TokenError::NotFound(_) => "token-not-found",
            TokenError::Forbidden(_) => "forbidden",
            TokenError::Audit(_) => "audit-unavailable",
            TokenError::Store(_) => "storage-unavailable",
        }
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::Missing => f.write_str(
                "no token: send 'Authorization: Bearer <token>' (the CLI reads --token, \
                 WEBQX_TOKEN, or the data folder's admin.token)",
            ),
            TokenError::Invalid401 => f.write_str(
                "the token is not valid (malformed, unknown or revoked); ask an \
                 administrator for a new one",
            ),
            TokenError::Expired(at) => {
                write!(
                    f,
                    "the token expired at {at}; ask an administrator for a new one"
                )
            }
            TokenError::Invalid(why) => f.write_str(why),
            TokenError::NotFound(id) => write!(f, "no token with id '{id}'"),
            TokenError::Forbidden(why) => f.write_str(why),
            TokenError::Audit(e) => write!(f, "request refused because {e}"),
            TokenError::Store(e) => write!(f, "storage failed: {e}"),
        }
    }
}

impl std::error::Error for TokenError {}

impl From<StoreError> for TokenError {
    fn from(e: StoreError) -> Self {
        TokenError::Store(e)
    }
}

impl From<sqlx::Error> for TokenError {
    fn from(e: sqlx::Error) -> Self {
        TokenError::Store(StoreError::from_sqlx(e))
    }
}

impl From<AuditError> for TokenError {
    fn from(e: AuditError) -> Self {
        TokenError::Audit(e)
    }
}

impl webqx_audit::Audited for TokenError {
    fn audit_reason(&self) -> &'static str {
        self.kind()
    }

    fn audit_outcome(&self) -> Outcome {
        match self {
            TokenError::Missing
            | TokenError::Invalid401
            | TokenError::Expired(_)
            | TokenError::Forbidden(_) => Outcome::Denied,
            _ => Outcome::Failure,
        }
    }
}

/// The caller, once authenticated.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Token id.
    pub token_id: String,
    /// Token's display name.
    pub name: String,
    /// What it may do.
    pub policy: Policy,
    /// For OAuth access tokens: one policy per granted scope. When present, an
    /// operation is allowed only if one of them allows it (`policy` is then their
    /// union, for display and for the covers-checks of things it creates).
    pub grants: Option<Vec<Policy>>,
}

impl Principal {
    /// The actor string for audit records: `token:<id>`, or for an OAuth access token
    /// `oauth:<client id>`.
    pub fn actor(&self) -> String {
        if self.grants.is_some() {
            format!("oauth:{}", self.token_id)
        } else {
            format!("token:{}", self.token_id)
        }
    }

    /// Whether `op` is allowed (on `key` when it concerns a key).
    pub fn allows(&self, op: Operation, key: Option<&str>) -> bool {
        match &self.grants {
            Some(grants) => grants.iter().any(|g| g.allows(op, key)),
            None => self.policy.allows(op, key),
        }
    }

    /// The principal of an OAuth client holding `grants` (see
    /// `webqx_oauth::scope::key_grants`); `client_id` names it in audit records.
    pub fn oauth(client_id: &str, grants: Vec<Policy>) -> Principal {
        let mut union = Policy::default();
        for grant in &grants {
            for op in &grant.operations {
                if !union.operations.contains(op) {
                    union.operations.push(*op);
                }
            }
            for key in &grant.keys {
                if !union.keys.contains(key) {
                    union.keys.push(key.clone());
                }
            }
        }
        Principal {
            token_id: client_id.to_owned(),
            name: format!("oauth client {client_id}"),
            policy: union,
            grants: Some(grants),
        }
    }
}

/// A request for a new token.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// A name for people (`billing-service`).
    pub name: String,
    /// Allowed operations.
    pub operations: Vec<Operation>,
    /// Key names or `prefix*` patterns (`*` for all).
    #[serde(default)]
    pub keys: Vec<String>,
    /// Lifetime (`30d`, `12h`); none for no expiry.
    #[serde(default)]
    pub ttl: Option<String>,
}

/// A token's metadata. The secret is shown only once, at creation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenInfo {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// What it may do.
    pub policy: Policy,
    /// Who made it.
    pub created_by: String,
    /// When (RFC 3339).
    pub created: String,
    /// Expiry (RFC 3339), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Revocation time (RFC 3339), if revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked: Option<String>,
    /// `active`, `expired` or `revoked`.
    pub state: String,
}

/// A token row as authentication needs it, cached briefly.
#[derive(Clone)]
struct Known {
    hash: Vec<u8>,
    name: String,
    policy: Policy,
    expires_ms: Option<i64>,
    revoked: bool,
    at: Instant,
}

/// Most tokens cached; beyond it the cache starts over.
const MAX_CACHED: usize = 10_000;

/// Token storage and authentication.
///
/// Known tokens are cached for `cache_ttl` (default 1 s) so that a request does not
/// read the store: a revocation through this node takes effect at once, one made on
/// another node sharing the database within `cache_ttl`. Unknown ids are never cached.
pub struct Tokens {
    store: Store,
    audit: Arc<AuditLog>,
    cache_ttl: Duration,
    cache: Mutex<HashMap<String, Known>>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens").finish_non_exhaustive()
    }
}

fn secret_hash(secret: &[u8]) -> [u8; 32] {
    webqx_crypto::sha256(secret)
}

fn split_token(presented: &str) -> Option<(&str, &str)> {
    if presented.len() > MAX_TOKEN_LEN {
        return None;
    }
    let mut parts = presented.trim().splitn(3, '.');
    let (prefix, id, secret) = (parts.next()?, parts.next()?, parts.next()?);
    let hex_id = id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());
    (prefix == PREFIX && hex_id && !secret.is_empty()).then_some((id, secret))
}

impl Tokens {
    /// Token storage over `store`, auditing to `audit`.
    pub fn new(store: Store, audit: Arc<AuditLog>) -> Tokens {
        Tokens::with_cache_ttl(store, audit, Duration::from_secs(1))
    }

    /// Token storage with a given cache lifetime (zero: no caching).
    pub fn with_cache_ttl(store: Store, audit: Arc<AuditLog>, cache_ttl: Duration) -> Tokens {
        Tokens {
            store,
            audit,
            cache_ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    async fn known(&self, id: &str) -> Result<Option<Known>, TokenError> {
        if let Some(k) = self.cache.lock().ok().and_then(|c| c.get(id).cloned())
            && k.at.elapsed() < self.cache_ttl
        {
            return Ok(Some(k));
        }
        let row = query(
            "SELECT secret_hash, name, policy, expires_ms, revoked_ms FROM tokens WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.store.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let policy: String = row.try_get(2)?;
        let known = Known {
            hash: row.try_get(0)?,
            name: row.try_get(1)?,
            policy: serde_json::from_str(&policy).map_err(|_| TokenError::Invalid401)?,
            expires_ms: row.try_get(3)?,
            revoked: row.try_get::<Option<i64>, _>(4)?.is_some(),
            at: Instant::now(),
        };
        if !self.cache_ttl.is_zero()
            && let Ok(mut c) = self.cache.lock()
        {
            if c.len() >= MAX_CACHED {
                c.clear();
            }
            c.insert(id.to_owned(), known.clone());
        }
        Ok(Some(known))
    }

    async fn insert(
        &self,
        tx: &mut WriteTx,
        name: &str,
        policy: &Policy,
        created_by: &str,
        expires_ms: Option<i64>,
    ) -> Result<(String, SecretBytes), TokenError> {
        let id = uuid::Uuid::now_v7().simple().to_string();
        let raw = webqx_crypto::rand::bytes(32).map_err(|e| TokenError::Invalid(e.to_string()))?;
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw);
        let policy_text =
            serde_json::to_string(policy).map_err(|e| TokenError::Invalid(e.to_string()))?;
        query(
            "INSERT INTO tokens (id, secret_hash, name, policy, created_by, created_ms, expires_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(&secret_hash(secret.as_bytes())[..])
        .bind(name)
        .bind(&policy_text)
        .bind(created_by)
        .bind(now_ms())
        .bind(expires_ms)
        .execute(tx.conn())
        .await?;
        let token = SecretBytes::new(format!("{PREFIX}.{id}.{secret}").into_bytes());
        Ok((id, token))
    }

    /// Makes the admin token inside the caller's transaction (at initialization).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn create_admin_in(&self, tx: &mut WriteTx) -> Result<SecretBytes, TokenError> {
        let (_, token) = self
            .insert(tx, "admin", &Policy::admin(), "init", None)
            .await?;
        Ok(token)
    }

    /// Makes a scoped token. The returned secret is shown once and never stored.
    ///
    /// # Errors
    /// [`TokenError::Invalid`] for an empty or admin policy, a bad pattern or lifetime.
    pub async fn create(
        &self,
        ctx: &RequestContext,
        creator: &Principal,
        req: &NewToken,
    ) -> Result<(TokenInfo, SecretBytes), TokenError> {
        let mut rec = ctx.record("token.create", None);
        rec.detail("name", req.name.clone());
        self.audit
            .transact(rec, async |tx, rec| {
                let policy = Policy {
                    admin: false,
                    operations: req.operations.clone(),
                    keys: req.keys.clone(),
                };
                policy.validate()?;
                if !creator.policy.covers(&policy) {
                    return Err(TokenError::Forbidden(
                        "a token can only create tokens with operations and keys it has itself"
                            .into(),
                    ));
                }
                let bad_name = req.name.trim().is_empty()
                    || req.name.len() > 200
                    || req.name.chars().any(char::is_control);
                if bad_name {
                    return Err(TokenError::Invalid(
                        "give the token a name of 1 to 200 characters, without control characters"
                            .into(),
                    ));
                }
                let expires = match &req.ttl {
                    None => None,
                    Some(ttl) => {
                        let d = parse_duration(ttl)
                            .map_err(|e| TokenError::Invalid(format!("ttl: {e}")))?;
                        if d.is_zero() || d > MAX_TTL {
                            return Err(TokenError::Invalid(
                                "ttl must be longer than 0 and at most 3650d".into(),
                            ));
                        }
                        Some(
                            now_ms()
                                .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
                        )
                    }
                };
                let created_by = creator.actor();
                let (id, token) = self
                    .insert(tx, &req.name, &policy, &created_by, expires)
                    .await?;
                rec.target = Some(format!("token:{id}"));
                let info = TokenInfo {
                    id,
                    name: req.name.clone(),
                    policy,
                    created_by,
                    created: rfc3339(now_ms()),
                    expires: expires.map(rfc3339),
                    revoked: None,
                    state: "active".into(),
                };
                Ok((info, token))
            })
            .await
    }

    /// Checks a presented token. Unknown, malformed and revoked tokens get one answer.
    ///
    /// # Errors
    /// [`TokenError::Missing`], [`TokenError::Invalid401`], [`TokenError::Expired`], or
    /// storage failures.
    pub async fn authenticate(&self, presented: Option<&str>) -> Result<Principal, TokenError> {
        let presented = presented.ok_or(TokenError::Missing)?;
        let (id, secret) = split_token(presented).ok_or(TokenError::Invalid401)?;
        // Hash before looking up, so timing says nothing about which ids exist.
        let presented_hash = secret_hash(secret.as_bytes());
        let Some(known) = self.known(id).await? else {
            return Err(TokenError::Invalid401);
        };
        if !webqx_crypto::ct_eq(&known.hash, &presented_hash) || known.revoked {
            return Err(TokenError::Invalid401);
        }
        if let Some(at) = known.expires_ms.filter(|&at| at <= now_ms()) {
            return Err(TokenError::Expired(rfc3339(at)));
        }
        Ok(Principal {
            token_id: id.to_owned(),
            name: known.name,
            policy: known.policy,
            grants: None,
        })
    }

    /// Replaces the admin token: revokes every admin token and makes a new one. For the
    /// operator on the server (`webqx-sec token reset-admin`), e.g. after a leak.
    ///
    /// # Errors
    /// Storage and audit failures.
    pub async fn reset_admin(&self, ctx: &RequestContext) -> Result<SecretBytes, TokenError> {
        let rec = ctx.record("token.reset_admin", None);
        let token = self
            .audit
            .transact(rec, async |tx, rec| {
                let rows = query("SELECT id, policy FROM tokens WHERE revoked_ms IS NULL")
                    .fetch_all(tx.conn())
                    .await?;
                let mut revoked = Vec::new();
                for row in &rows {
                    let policy: String = row.try_get(1)?;
                    if serde_json::from_str::<Policy>(&policy).is_ok_and(|p| p.admin) {
                        let id: String = row.try_get(0)?;
                        query("UPDATE tokens SET revoked_ms = $1 WHERE id = $2")
                            .bind(now_ms())
                            .bind(&id)
                            .execute(tx.conn())
                            .await?;
                        revoked.push(id);
                    }
                }
                rec.detail("revoked", revoked);
                let (_, token) = self
                    .insert(tx, "admin", &Policy::admin(), &ctx.actor, None)
                    .await?;
                Ok::<_, TokenError>(token)
            })
            .await?;
        if let Ok(mut c) = self.cache.lock() {
            c.clear();
        }
        Ok(token)
    }

    /// Lists tokens (never their secrets).
    ///
    /// # Errors
    /// Storage and audit failures.
    pub async fn list(
        &self,
        ctx: &RequestContext,
        viewer: &Principal,
    ) -> Result<Vec<TokenInfo>, TokenError> {
        self.audit
            .audited(ctx.record("token.list", None), async |_| {
                let rows = query(
                    "SELECT id, name, policy, created_by, created_ms, expires_ms, revoked_ms \
                     FROM tokens ORDER BY id",
                )
                .fetch_all(self.store.pool())
                .await?;
                let all = rows.iter().map(info_of).collect::<Result<Vec<_>, _>>()?;
                let mine = viewer.actor();
                Ok(all
                    .into_iter()
                    .filter(|t| {
                        viewer.policy.admin || t.created_by == mine || t.id == viewer.token_id
                    })
                    .collect())
            })
            .await
    }

    /// Revokes a token at once.
    ///
    /// # Errors
    /// [`TokenError::NotFound`], storage and audit failures.
    pub async fn revoke(
        &self,
        ctx: &RequestContext,
        revoker: &Principal,
        id: &str,
    ) -> Result<(), TokenError> {
        let rec = ctx.record("token.revoke", Some(format!("token:{id}")));
        self.audit
            .transact(rec, async |tx, _| {
                let row = query("SELECT policy, created_by FROM tokens WHERE id = $1")
                    .bind(id)
                    .fetch_optional(tx.conn())
                    .await?
                    .ok_or_else(|| TokenError::NotFound(id.chars().take(64).collect()))?;
                let policy: String = row.try_get(0)?;
                let created_by: String = row.try_get(1)?;
                if serde_json::from_str::<Policy>(&policy).is_ok_and(|p| p.admin) {
                    return Err(TokenError::Forbidden(
                        "the admin token cannot be revoked through the API; on the server run \
                         `webqx-sec token reset-admin`, which replaces it"
                            .into(),
                    ));
                }
                if !revoker.policy.admin && created_by != revoker.actor() {
                    return Err(TokenError::Forbidden(
                        "a token can only revoke tokens it created".into(),
                    ));
                }
                let done =
                    query("UPDATE tokens SET revoked_ms = $1 WHERE id = $2 AND revoked_ms IS NULL")
                        .bind(now_ms())
                        .bind(id)
                        .execute(tx.conn())
                        .await?;
                if done.rows_affected() == 0 {
                    return Err(TokenError::NotFound(id.chars().take(64).collect()));
                }
                Ok(())
            })
            .await?;
        if let Ok(mut c) = self.cache.lock() {
            c.remove(id);
        }
        Ok(())
    }
}

fn info_of(row: &webqx_store::AnyRow) -> Result<TokenInfo, TokenError> {
    let policy: String = row.try_get(2)?;
    let expires: Option<i64> = row.try_get(5)?;
    let revoked: Option<i64> = row.try_get(6)?;
    Ok(TokenInfo {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        policy: serde_json::from_str(&policy).unwrap_or_default(),
        created_by: row.try_get(3)?,
        created: rfc3339(row.try_get(4)?),
        expires: expires.map(rfc3339),
        revoked: revoked.map(rfc3339),
        state: match (revoked, expires) {
            (Some(_), _) => "revoked",
            (None, Some(at)) if at <= now_ms() => "expired",
            _ => "active",
        }
        .into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let p = Policy {
            admin: false,
            operations: vec![Operation::Encrypt],
            keys: vec!["phi-*".into(), "billing".into()],
        };
        assert!(p.allows(Operation::Encrypt, Some("phi-notes")));
        assert!(p.allows(Operation::Encrypt, Some("billing")));
        assert!(!p.allows(Operation::Encrypt, Some("billing2")));
        assert!(!p.allows(Operation::Decrypt, Some("phi-notes")));
        assert!(Policy::admin().allows(Operation::Sys, None));
    }

    #[test]
    fn token_shapes() {
        assert!(split_token("wqxt.0123456789abcdef0123456789abcdef.s3cret").is_some());
        for bad in [
            "",
            "wqxt..x",
            "wqxt.zz.x",
            "abc.0123456789abcdef0123456789abcdef.x",
            "wqxt.0123456789abcdef0123456789abcdef.",
        ] {
            assert!(split_token(bad).is_none(), "{bad}");
        }
        assert!(split_token(&"x".repeat(10_000)).is_none());
    }
}
