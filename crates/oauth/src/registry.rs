//! The client registry: OAuth clients with their authentication method, allowed scopes,
//! audience and token lifetime. Every change commits with its audit record.
//!
//! Secrets are 256 random bits, shown once at registration and stored only as an
//! Argon2id hash (PHC string form, so the cost can be raised later). A client that
//! authenticates with `private_key_jwt` registers its public keys as a JWKS (checked
//! with the strict [`JwkSet::parse_public`]) or a `jwks_uri` that is fetched later
//! (see [`crate::remote`]).

use crate::jwk::JwkSet;
use crate::scope::{self, Scope};
use crate::server_error::OAuthError;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;
use webqx_audit::{AuditLog, RequestContext};
use webqx_crypto::SecretBytes;
use webqx_crypto::kdf::Argon2Params;
use webqx_store::time::{format_duration, parse_duration, rfc3339};
use webqx_store::{AnyRow, Row, Store, now_ms, query};

/// Argon2id cost for client secrets: 19 MiB, 2 passes, 1 lane (the OWASP password
/// storage recommendation; the secret itself is random, so this guards a stolen
/// database, not a weak secret).
const SECRET_COST: Argon2Params = Argon2Params {
    memory_kib: 19 * 1024,
    iterations: 2,
    parallelism: 1,
};
/// Longest client name.
const MAX_NAME: usize = 200;
/// Longest audience.
const MAX_AUDIENCE: usize = 512;
/// Longest jwks_uri.
const MAX_URI: usize = 2048;

/// How a client proves who it is at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// Secret in HTTP Basic authentication (RFC 6749 §2.3.1). `client_secret_post` is
    /// accepted from these clients too: it is the same secret.
    #[default]
    ClientSecretBasic,
    /// Secret in the form body.
    ClientSecretPost,
    /// A JWT signed with the client's private key (RFC 7523, SMART Backend Services).
    PrivateKeyJwt,
}

impl AuthMethod {
    /// The RFC 8414 name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            Self::ClientSecretBasic,
            Self::ClientSecretPost,
            Self::PrivateKeyJwt,
        ]
        .into_iter()
        .find(|m| m.as_str() == text)
    }

    /// True for the two secret methods.
    #[must_use]
    pub fn uses_secret(self) -> bool {
        self != Self::PrivateKeyJwt
    }
}

/// A registration request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    /// A name for people (`lab-results-service`).
    pub name: String,
    /// Authentication method; `client_secret_basic` when absent.
    #[serde(default)]
    pub auth_method: AuthMethod,
    /// Allowed scopes (SMART or `webqx:keys/<name>:<operation>`).
    pub scopes: Vec<String>,
    /// The `aud` of its access tokens (the resource server, e.g. `webqx-sec` for our
    /// own API, or the FHIR server's URL).
    pub audience: String,
    /// Token lifetime (`5m`); the server's default when absent, at most its maximum.
    #[serde(default)]
    pub token_ttl: Option<String>,
    /// For `private_key_jwt`: the client's public keys as a JWKS object.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    /// For `private_key_jwt`: where to fetch the client's JWKS (HTTPS).
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Allow an `http://` jwks_uri (laboratories only: anyone on the path can then
    /// substitute the client's keys).
    #[serde(default)]
    pub insecure_http: bool,
}

/// A client as the admin API shows it (never a secret or its hash).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientInfo {
    /// Client id (`client_id`).
    pub id: String,
    /// Name.
    pub name: String,
    /// Authentication method.
    pub auth_method: AuthMethod,
    /// Allowed scopes.
    pub scopes: Vec<String>,
    /// Audience of its tokens.
    pub audience: String,
    /// Token lifetime (`5m`).
    pub token_ttl: String,
    /// Registered JWKS, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    /// JWKS URL, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// Whether an `http://` jwks_uri is allowed.
    pub insecure_http: bool,
    /// Whether it may get tokens.
    pub enabled: bool,
    /// Who registered it.
    pub created_by: String,
    /// When (RFC 3339).
    pub created: String,
    /// Who changed it last.
    pub updated_by: String,
    /// When (RFC 3339).
    pub updated: String,
}

/// A registered client as the token endpoint needs it.
#[derive(Clone)]
pub struct Client {
    /// Client id.
    pub id: String,
    /// Authentication method.
    pub auth_method: AuthMethod,
    /// Argon2id hash of the secret (PHC string), for secret clients.
    secret_hash: Option<String>,
    /// Registered keys, for `private_key_jwt` clients without a jwks_uri.
    pub jwks: Option<Arc<JwkSet>>,
    /// JWKS URL, for `private_key_jwt` clients.
    pub jwks_uri: Option<String>,
    /// Whether the jwks_uri may be `http://`.
    pub insecure_http: bool,
    /// Allowed scopes.
    pub scopes: Vec<Scope>,
    /// Audience of its tokens.
    pub audience: String,
    /// Token lifetime, seconds.
    pub token_ttl_secs: u64,
    /// Whether it may get tokens.
    pub enabled: bool,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("auth_method", &self.auth_method)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Checks a presented secret in constant time (Argon2id). A client without a secret
    /// never matches.
    #[must_use]
    pub fn secret_matches(&self, presented: &[u8]) -> bool {
        self.secret_hash
            .as_deref()
            .is_some_and(|hash| verify_secret(hash, presented))
    }
}

/// Hashes a secret as a PHC string `$argon2id$v=19$m=..,t=..,p=..$salt$hash`.
fn hash_secret(secret: &[u8]) -> Result<String, OAuthError> {
    let salt = webqx_crypto::rand::bytes(16).map_err(|e| OAuthError::Invalid(e.to_string()))?;
    let hash = webqx_crypto::kdf::argon2id(secret, &salt, SECRET_COST)
        .map_err(|e| OAuthError::Invalid(e.to_string()))?;
    let p = SECRET_COST;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        p.memory_kib,
        p.iterations,
        p.parallelism,
        STANDARD_NO_PAD.encode(&salt),
        STANDARD_NO_PAD.encode(hash.expose())
    ))
}

/// Checks `presented` against a PHC string made by [`hash_secret`].
fn verify_secret(phc: &str, presented: &[u8]) -> bool {
    let Some((params, salt, hash)) = parse_phc(phc) else {
        return false;
    };
    webqx_crypto::kdf::argon2id(presented, &salt, params)
        .is_ok_and(|derived| webqx_crypto::ct_eq(derived.expose(), &hash))
}

fn parse_phc(phc: &str) -> Option<(Argon2Params, Vec<u8>, Vec<u8>)> {
    let mut parts = phc.split('$');
    let ("", "argon2id", "v=19", costs, salt, hash, None) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next(),
    ) else {
        return None;
    };
    let mut numbers = costs
        .split(',')
        .map(|kv| kv.split_once('=')?.1.parse().ok());
    let params = Argon2Params {
        memory_kib: numbers.next()??,
        iterations: numbers.next()??,
        parallelism: numbers.next()??,
    };
    Some((
        params,
        STANDARD_NO_PAD.decode(salt).ok()?,
        STANDARD_NO_PAD.decode(hash).ok()?,
    ))
}

/// A hash nobody's secret matches, checked for unknown client ids so that the answer
/// takes as long as for known ones.
static DUMMY_HASH: std::sync::LazyLock<Option<String>> =
    std::sync::LazyLock::new(|| hash_secret(b"no client has this secret").ok());

/// Spends the time of one secret check, for an unknown client id.
pub fn burn_secret_check(presented: &[u8]) {
    if let Some(hash) = DUMMY_HASH.as_deref() {
        let _ = verify_secret(hash, presented);
    }
}

const COLUMNS: &str = "id, name, auth_method, secret_hash, jwks, jwks_uri, insecure_http, \
    scopes, audience, token_ttl_s, enabled, created_by, created_ms, updated_by, updated_ms";

/// Lifetime limits the registry applies.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// When a registration names none.
    pub default: Duration,
    /// The most a registration may ask for.
    pub max: Duration,
}

/// The client registry over the store.
pub struct Registry {
    store: Store,
    audit: Arc<AuditLog>,
    lifetimes: Lifetimes,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

impl Registry {
    /// A registry over `store`, auditing to `audit`.
    #[must_use]
    pub fn new(store: Store, audit: Arc<AuditLog>, lifetimes: Lifetimes) -> Self {
        Self {
            store,
            audit,
            lifetimes,
        }
    }

    /// Registers a client. For secret clients the secret is returned once; it is not
    /// stored.
    ///
    /// # Errors
    /// [`OAuthError::Invalid`] naming what to change; storage and audit failures.
    pub async fn create(
        &self,
        ctx: &RequestContext,
        req: &NewClient,
    ) -> Result<(ClientInfo, Option<SecretBytes>), OAuthError> {
        let mut rec = ctx.record("oauth.client.create", None);
        rec.detail("name", req.name.clone())
            .detail("auth_method", req.auth_method.as_str())
            .detail("scopes", req.scopes.clone())
            .detail("audience", req.audience.clone());
        self.audit
            .transact(rec, async |tx, rec| {
                let checked = self.check(req)?;
                let id = uuid::Uuid::now_v7().simple().to_string();
                let secret = match req.auth_method.uses_secret() {
                    true => Some(new_secret()?),
                    false => None,
                };
                let hash = secret
                    .as_ref()
                    .map(|s| hash_secret(s.expose()))
                    .transpose()?;
                let now = now_ms();
                query(
                    "INSERT INTO oauth_clients (id, name, auth_method, secret_hash, jwks, \
                     jwks_uri, insecure_http, scopes, audience, token_ttl_s, enabled, \
                     created_by, created_ms, updated_by, updated_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $12, $11, $12)",
                )
                .bind(&id)
                .bind(req.name.trim())
                .bind(req.auth_method.as_str())
                .bind(hash)
                .bind(checked.jwks_text)
                .bind(req.jwks_uri.clone())
                .bind(i64::from(req.insecure_http))
                .bind(scope::join(&checked.scopes))
                .bind(&req.audience)
                .bind(i64::try_from(checked.ttl.as_secs()).unwrap_or(i64::MAX))
                .bind(&ctx.actor)
                .bind(now)
                .execute(tx.conn())
                .await?;
                rec.target = Some(format!("oauth-client:{id}"));
                let row = fetch(tx.conn(), &id).await?;
                Ok((info_of(&row)?, secret))
            })
            .await
    }

    fn check(&self, req: &NewClient) -> Result<Checked, OAuthError> {
        let name = req.name.trim();
        if name.is_empty() || name.len() > MAX_NAME || name.chars().any(char::is_control) {
            return Err(OAuthError::Invalid(
                "give the client a name of 1 to 200 characters, without control characters".into(),
            ));
        }
        let audience_ok = !req.audience.is_empty()
            && req.audience.len() <= MAX_AUDIENCE
            && !req.audience.chars().any(|c| c.is_control() || c == ' ');
        if !audience_ok {
            return Err(OAuthError::Invalid(
                "give the client an audience (the resource server's identifier, e.g. \
                 webqx-sec or the FHIR base URL) of 1 to 512 characters without spaces"
                    .into(),
            ));
        }
        let scopes = scope::parse_list(&req.scopes.join(" "))
            .map_err(|e| OAuthError::Invalid(format!("scopes: {e}")))?;
        if scopes.is_empty() {
            return Err(OAuthError::Invalid(
                "give the client at least one allowed scope".into(),
            ));
        }
        let ttl = self.ttl(req.token_ttl.as_deref())?;
        let jwks_text = self.check_keys(req)?;
        Ok(Checked {
            scopes,
            ttl,
            jwks_text,
        })
    }

    fn ttl(&self, asked: Option<&str>) -> Result<Duration, OAuthError> {
        let Some(text) = asked else {
            return Ok(self.lifetimes.default);
        };
        let ttl =
            parse_duration(text).map_err(|e| OAuthError::Invalid(format!("token_ttl: {e}")))?;
        if ttl.as_secs() < 1 || ttl > self.lifetimes.max {
            return Err(OAuthError::Invalid(format!(
                "token_ttl must be at least 1s and at most {} ([oauth] max_token_lifetime)",
                format_duration(self.lifetimes.max)
            )));
        }
        Ok(ttl)
    }

    /// The JWKS text to store, after checking the method's key material.
    fn check_keys(&self, req: &NewClient) -> Result<Option<String>, OAuthError> {
        if req.auth_method.uses_secret() {
            if req.jwks.is_some() || req.jwks_uri.is_some() || req.insecure_http {
                return Err(OAuthError::Invalid(
                    "jwks, jwks_uri and insecure_http are for private_key_jwt clients".into(),
                ));
            }
            return Ok(None);
        }
        match (&req.jwks, &req.jwks_uri) {
            (Some(jwks), None) => {
                let text = serde_json::to_string(jwks)
                    .map_err(|_| OAuthError::Invalid("jwks is not JSON".into()))?;
                JwkSet::parse_public(text.as_bytes())
                    .map_err(|e| OAuthError::Invalid(format!("jwks: {e}")))?;
                Ok(Some(text))
            }
            (None, Some(uri)) => {
                check_jwks_uri(uri, req.insecure_http)?;
                Ok(None)
            }
            _ => Err(OAuthError::Invalid(
                "a private_key_jwt client needs exactly one of jwks (its public keys) and \
                 jwks_uri"
                    .into(),
            )),
        }
    }

    /// Every client, oldest first.
    ///
    /// # Errors
    /// Storage and audit failures.
    pub async fn list(&self, ctx: &RequestContext) -> Result<Vec<ClientInfo>, OAuthError> {
        self.audit
            .audited(ctx.record("oauth.client.list", None), async |_| {
                let sql = format!("SELECT {COLUMNS} FROM oauth_clients ORDER BY id");
                let rows = query(sqlx::AssertSqlSafe(sql))
                    .fetch_all(self.store.pool())
                    .await?;
                rows.iter().map(info_of).collect()
            })
            .await
    }

    /// One client.
    ///
    /// # Errors
    /// [`OAuthError::NotFound`], storage and audit failures.
    pub async fn get(&self, ctx: &RequestContext, id: &str) -> Result<ClientInfo, OAuthError> {
        let rec = ctx.record("oauth.client.read", Some(target(id)));
        self.audit
            .audited(rec, async |_| {
                let mut conn = self.store.pool().acquire().await?;
                info_of(&fetch(&mut conn, id).await?)
            })
            .await
    }

    /// Enables or disables a client; a disabled client gets no tokens (tokens it
    /// already has stay valid until they expire or are revoked).
    ///
    /// # Errors
    /// [`OAuthError::NotFound`], storage and audit failures.
    pub async fn set_enabled(
        &self,
        ctx: &RequestContext,
        id: &str,
        enabled: bool,
    ) -> Result<ClientInfo, OAuthError> {
        let action = if enabled {
            "oauth.client.enable"
        } else {
            "oauth.client.disable"
        };
        self.audit
            .transact(ctx.record(action, Some(target(id))), async |tx, _| {
                let done = query(
                    "UPDATE oauth_clients SET enabled = $1, updated_by = $2, updated_ms = $3 \
                     WHERE id = $4",
                )
                .bind(i64::from(enabled))
                .bind(&ctx.actor)
                .bind(now_ms())
                .bind(id)
                .execute(tx.conn())
                .await?;
                if done.rows_affected() == 0 {
                    return Err(not_found(id));
                }
                info_of(&fetch(tx.conn(), id).await?)
            })
            .await
    }

    /// Deletes a client and forgets its assertion ids. Tokens it holds stay valid until
    /// they expire unless revoked first.
    ///
    /// # Errors
    /// [`OAuthError::NotFound`], storage and audit failures.
    pub async fn delete(&self, ctx: &RequestContext, id: &str) -> Result<(), OAuthError> {
        let rec = ctx.record("oauth.client.delete", Some(target(id)));
        self.audit
            .transact(rec, async |tx, _| {
                let done = query("DELETE FROM oauth_clients WHERE id = $1")
                    .bind(id)
                    .execute(tx.conn())
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(not_found(id));
                }
                query("DELETE FROM oauth_assertion_jtis WHERE client_id = $1")
                    .bind(id)
                    .execute(tx.conn())
                    .await?;
                Ok(())
            })
            .await
    }

    /// The client as the token endpoint needs it, or `None` (not audited: the token
    /// endpoint audits its decision).
    ///
    /// # Errors
    /// Storage failures; a stored row that no longer parses.
    pub async fn load(&self, id: &str) -> Result<Option<Client>, OAuthError> {
        if id.is_empty() || id.len() > 256 {
            return Ok(None);
        }
        let sql = format!("SELECT {COLUMNS} FROM oauth_clients WHERE id = $1");
        let row = query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.store.pool())
            .await?;
        row.as_ref().map(client_of).transpose()
    }
}

struct Checked {
    scopes: Vec<Scope>,
    ttl: Duration,
    jwks_text: Option<String>,
}

fn target(id: &str) -> String {
    format!("oauth-client:{}", id.chars().take(64).collect::<String>())
}

fn not_found(id: &str) -> OAuthError {
    OAuthError::NotFound(id.chars().take(64).collect())
}

fn new_secret() -> Result<SecretBytes, OAuthError> {
    let raw = webqx_crypto::rand::bytes(32).map_err(|e| OAuthError::Invalid(e.to_string()))?;
    Ok(SecretBytes::new(URL_SAFE_NO_PAD.encode(raw).into_bytes()))
}

/// Checks a jwks_uri: an absolute `https://` URL (or `http://` with `insecure_http`),
/// without user information or fragment.
///
/// # Errors
/// [`OAuthError::Invalid`] saying what is wrong.
pub fn check_jwks_uri(uri: &str, insecure_http: bool) -> Result<(), OAuthError> {
    let bad = |why: &str| OAuthError::Invalid(format!("jwks_uri: {why}"));
    if uri.len() > MAX_URI {
        return Err(bad("longer than 2048 bytes"));
    }
    let url = reqwest::Url::parse(uri).map_err(|_| bad("not an absolute URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if insecure_http => {}
        "http" => {
            return Err(bad(
                "must be https (register with insecure_http only in a laboratory)",
            ));
        }
        _ => return Err(bad("must be https")),
    }
    if url.host_str().is_none() || !url.username().is_empty() || url.password().is_some() {
        return Err(bad("needs a host and no user information"));
    }
    if url.fragment().is_some() {
        return Err(bad("must not have a fragment"));
    }
    Ok(())
}

async fn fetch(conn: &mut sqlx::AnyConnection, id: &str) -> Result<AnyRow, OAuthError> {
    let sql = format!("SELECT {COLUMNS} FROM oauth_clients WHERE id = $1");
    query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| not_found(id))
}

fn corrupt(what: &str) -> OAuthError {
    OAuthError::Internal(format!("stored OAuth client has a bad {what}"))
}

fn info_of(row: &AnyRow) -> Result<ClientInfo, OAuthError> {
    let method: String = row.try_get("auth_method")?;
    let jwks: Option<String> = row.try_get("jwks")?;
    let scopes: String = row.try_get("scopes")?;
    let ttl: i64 = row.try_get("token_ttl_s")?;
    Ok(ClientInfo {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        auth_method: AuthMethod::parse(&method).ok_or_else(|| corrupt("auth_method"))?,
        scopes: scopes
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        audience: row.try_get("audience")?,
        token_ttl: format_duration(Duration::from_secs(u64::try_from(ttl).unwrap_or(0))),
        jwks: jwks.and_then(|text| serde_json::from_str(&text).ok()),
        jwks_uri: row.try_get("jwks_uri")?,
        insecure_http: row.try_get::<i64, _>("insecure_http")? != 0,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        created_by: row.try_get("created_by")?,
        created: rfc3339(row.try_get("created_ms")?),
        updated_by: row.try_get("updated_by")?,
        updated: rfc3339(row.try_get("updated_ms")?),
    })
}

fn client_of(row: &AnyRow) -> Result<Client, OAuthError> {
    let method: String = row.try_get("auth_method")?;
    let jwks: Option<String> = row.try_get("jwks")?;
    let jwks = jwks
        .map(|text| JwkSet::parse_public(text.as_bytes()).map_err(|_| corrupt("jwks")))
        .transpose()?;
    let scopes: String = row.try_get("scopes")?;
    let ttl: i64 = row.try_get("token_ttl_s")?;
    Ok(Client {
        id: row.try_get("id")?,
        auth_method: AuthMethod::parse(&method).ok_or_else(|| corrupt("auth_method"))?,
        secret_hash: row.try_get("secret_hash")?,
        jwks: jwks.map(Arc::new),
        jwks_uri: row.try_get("jwks_uri")?,
        insecure_http: row.try_get::<i64, _>("insecure_http")? != 0,
        scopes: scope::parse_list(&scopes).map_err(|_| corrupt("scope list"))?,
        audience: row.try_get("audience")?,
        token_ttl_secs: u64::try_from(ttl).map_err(|_| corrupt("token lifetime"))?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_hashes_verify_and_differ() {
        let a = hash_secret(b"s3cret").unwrap();
        let b = hash_secret(b"s3cret").unwrap();
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_secret(&a, b"s3cret"));
        assert!(!verify_secret(&a, b"s3cret "));
        assert!(!verify_secret("$argon2id$v=19$garbage", b"s3cret"));
        assert!(!verify_secret("", b""));
    }

    #[test]
    fn jwks_uris() {
        assert!(check_jwks_uri("https://ehr.example/jwks.json", false).is_ok());
        assert!(check_jwks_uri("http://lab.example/jwks.json", false).is_err());
        assert!(check_jwks_uri("http://lab.example/jwks.json", true).is_ok());
        assert!(check_jwks_uri("file:///etc/passwd", true).is_err());
        assert!(check_jwks_uri("https://user:pw@ehr.example/", false).is_err());
        assert!(check_jwks_uri("https://ehr.example/#x", false).is_err());
        assert!(check_jwks_uri("/relative", false).is_err());
    }
}
