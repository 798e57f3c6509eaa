//! The authorization server's decisions: client authentication (secret or
//! `private_key_jwt` with replay refusal), the client credentials grant, token
//! revocation and introspection, and the checks our own API applies to a bearer JWT.
//!
//! HTTP is not done here: the server crate parses requests into [`Credentials`] and
//! maps [`OAuthError`] onto RFC 6749 §5.2 answers. Signing is not done here either: the
//! caller passes a [`JwsSigner`] (the key service's) and the JWKS of our signing keys.

use crate::TokenError;
use crate::alg::Algorithm;
use crate::jwk::JwkSet;
use crate::jws::{JwsSigner, UnverifiedJws};
use crate::jwt::{
    self, AccessToken, AccessTokenClaims, AccessTokenVerifier, ClientAssertionVerifier,
};
use crate::ratelimit::{FailureWatch, RateLimiter};
use crate::registry::{self, AuthMethod, Client, Lifetimes, Registry};
use crate::remote::JwksFetcher;
use crate::scope;
use crate::server_error::OAuthError;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;
use webqx_audit::{AuditLog, Outcome, RequestContext};
use webqx_store::{Store, now_ms, query};

/// How the authorization server behaves.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Our issuer identifier (`iss`), an HTTPS URL without trailing slash.
    pub issuer: String,
    /// The `aud` client assertions must name: our token endpoint URL.
    pub token_endpoint: String,
    /// The algorithm our tokens are signed with (and the only one we accept on them).
    pub algorithm: Algorithm,
    /// Clock-skew allowance.
    pub leeway: Duration,
    /// Longest client assertion lifetime (`exp - now`).
    pub max_assertion_lifetime: Duration,
    /// Default and longest access-token lifetimes.
    pub lifetimes: Lifetimes,
    /// Token requests per second per client id and per address, and the burst.
    pub rate_per_client: (u32, u32),
    /// As `rate_per_client`, per peer address.
    pub rate_per_address: (u32, u32),
    /// Failures per client or address within `failure_window` that raise an alert.
    pub failure_threshold: u32,
    /// See `failure_threshold`.
    pub failure_window: Duration,
}

/// How a client authenticated at the token, introspection or revocation endpoint.
pub enum Credentials<'a> {
    /// `client_secret_basic` or `client_secret_post`.
    Secret {
        /// `client_id`.
        client_id: &'a str,
        /// The secret as sent.
        secret: &'a [u8],
        /// Which of the two transports carried it.
        method: AuthMethod,
    },
    /// `private_key_jwt`: `client_assertion` (and `client_id` if sent).
    Assertion {
        /// The `client_id` parameter, when sent (must equal the assertion's `iss`).
        client_id: Option<&'a str>,
        /// The assertion.
        assertion: &'a str,
    },
}

impl Credentials<'_> {
    /// The client id claimed (unverified, at most 128 characters, no control
    /// characters), for rate limiting and failure counting.
    #[must_use]
    pub fn claimed_id(&self) -> Option<String> {
        match self {
            Self::Secret { client_id, .. } => Some((*client_id).to_owned()),
            Self::Assertion {
                client_id: Some(id),
                ..
            } => Some((*id).to_owned()),
            Self::Assertion { assertion, .. } => {
                ClientAssertionVerifier::unverified_issuer(assertion).ok()
            }
        }
        // Client input: it names rate-limit buckets and audit targets, so it is
        // bounded and stripped of control characters.
        .map(|id| id.chars().filter(|c| !c.is_control()).take(128).collect())
    }
}

/// A token response (RFC 6749 §5.1).
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// The access token (a JWT, RFC 9068).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// The granted scopes.
    pub scope: String,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// An introspection answer (RFC 7662 §2.2). Inactive answers carry nothing else.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Introspection {
    /// Whether the token is valid now (signature, issuer, time, not revoked).
    pub active: bool,
    /// Granted scopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The client it was issued to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `Bearer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    /// Expiry, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// Issue time, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Subject (the client id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Audiences.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<Vec<String>>,
    /// Issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Token id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

impl Introspection {
    /// The answer for a token that passed every check.
    #[must_use]
    pub fn from_token(token: &AccessToken) -> Self {
        let c = &token.claims;
        Self {
            active: true,
            scope: Some(c.scopes.join(" ")),
            client_id: Some(c.client_id.clone()),
            token_type: Some("Bearer"),
            exp: Some(c.expires_at),
            iat: Some(c.issued_at),
            sub: Some(c.subject.clone()),
            aud: Some(c.audience.clone()),
            iss: Some(c.issuer.clone()),
            jti: Some(c.jti.clone()),
        }
    }
}

/// Why an access token was refused (for logs and metrics; clients get one answer).
#[derive(Debug)]
#[non_exhaustive]
pub enum AccessRefusal {
    /// The token itself is not valid.
    Token(TokenError),
    /// It was revoked.
    Revoked,
    /// Storage failed while checking revocation.
    Store(webqx_store::StoreError),
    /// Our own signing keys could not be read; the text is for the log.
    KeysUnavailable(String),
}

impl AccessRefusal {
    /// A stable code.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Token(e) => e.kind(),
            Self::Revoked => "revoked",
            Self::Store(_) => "storage_unavailable",
            Self::KeysUnavailable(_) => "keys_unavailable",
        }
    }
}

impl std::fmt::Display for AccessRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Token(e) => e.fmt(f),
            Self::Revoked => f.write_str("the access token was revoked"),
            Self::Store(e) => write!(f, "revocation could not be checked: {e}"),
            Self::KeysUnavailable(why) => write!(f, "our signing keys cannot be read: {why}"),
        }
    }
}

impl std::error::Error for AccessRefusal {}

/// The authorization server.
pub struct AuthorizationServer {
    store: Store,
    audit: Arc<AuditLog>,
    registry: Registry,
    fetcher: JwksFetcher,
    settings: Settings,
    per_client: RateLimiter,
    per_address: RateLimiter,
    failures: FailureWatch,
}

impl std::fmt::Debug for AuthorizationServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationServer")
            .field("issuer", &self.settings.issuer)
            .finish_non_exhaustive()
    }
}

impl AuthorizationServer {
    /// A server over `store`, auditing to `audit`, fetching client JWKS with `fetcher`.
    #[must_use]
    pub fn new(
        store: Store,
        audit: Arc<AuditLog>,
        fetcher: JwksFetcher,
        settings: Settings,
    ) -> Self {
        let registry = Registry::new(store.clone(), audit.clone(), settings.lifetimes);
        let (rate, burst) = settings.rate_per_client;
        let per_client = RateLimiter::new(rate, burst);
        let (rate, burst) = settings.rate_per_address;
        let per_address = RateLimiter::new(rate, burst);
        let failures = FailureWatch::new(settings.failure_threshold, settings.failure_window);
        Self {
            store,
            audit,
            registry,
            fetcher,
            settings,
            per_client,
            per_address,
            failures,
        }
    }

    /// The client registry.
    #[must_use]
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The settings in force.
    #[must_use]
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Applies the rate limits to a token request from `address` claiming `client_id`.
    ///
    /// # Errors
    /// [`OAuthError::RateLimited`] with the seconds to wait.
    pub fn limit(&self, client_id: Option<&str>, address: Option<&str>) -> Result<(), OAuthError> {
        let by_address = address.map_or(Ok(()), |a| self.per_address.check(a));
        let by_client = client_id.map_or(Ok(()), |c| self.per_client.check(c));
        match (by_address, by_client) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(a), Err(b)) => Err(OAuthError::RateLimited {
                retry_after_secs: a.max(b),
            }),
            (Err(s), _) | (_, Err(s)) => Err(OAuthError::RateLimited {
                retry_after_secs: s,
            }),
        }
    }

    /// Counts an authentication failure; at the threshold, raises alert
    /// `oauth-auth-failures`: stored in the server's alert store (listed, streamed,
    /// suppressible per `source.ip` or `oauth.client.id`) with its `alert.raised` audit
    /// record, which reaches the SIEM sinks.
    ///
    /// # Errors
    /// Only an audit failure while raising the alert.
    pub async fn note_failure(
        &self,
        ctx: &RequestContext,
        client_id: Option<&str>,
        address: Option<&str>,
    ) -> Result<(), OAuthError> {
        let keyed = [
            client_id.map(|c| ("client", format!("oauth-client:{c}"))),
            address.map(|a| ("address", format!("address:{a}"))),
        ];
        for (by, key) in keyed.into_iter().flatten() {
            if let Some(count) = self.failures.failure(&key) {
                let window_s = self.settings.failure_window.as_secs();
                let mut rec = ctx.record("alert.raised", Some(key.clone()));
                rec.detail("rule", FAILURES_RULE)
                    .detail("severity", "high")
                    .detail("by", by)
                    .detail("failures", count)
                    .detail("window_s", window_s);
                let alert = failures_alert(by, client_id, address, count, window_s);
                let id = self.audit.raise_alert(&alert, rec).await?;
                match id {
                    Some(alert_id) => {
                        tracing::warn!(%key, count, %alert_id, "repeated OAuth client authentication failures: alert raised")
                    }
                    None => {
                        tracing::info!(%key, count, "repeated OAuth client authentication failures: alert suppressed")
                    }
                }
            }
        }
        Ok(())
    }

    /// Authenticates a client. Every failure is [`OAuthError::InvalidClient`] with a
    /// reason code; the client learns nothing about which check failed.
    ///
    /// # Errors
    /// [`OAuthError::InvalidClient`], or storage failures.
    pub async fn authenticate(&self, credentials: &Credentials<'_>) -> Result<Client, OAuthError> {
        match credentials {
            Credentials::Secret {
                client_id, secret, ..
            } => self.authenticate_secret(client_id, secret).await,
            Credentials::Assertion {
                client_id,
                assertion,
            } => self.authenticate_assertion(*client_id, assertion).await,
        }
    }

    async fn authenticate_secret(&self, id: &str, secret: &[u8]) -> Result<Client, OAuthError> {
        let secret = webqx_crypto::SecretBytes::from_slice(secret);
        let Some(client) = self.registry.load(id).await? else {
            let _ =
                tokio::task::spawn_blocking(move || registry::burn_secret_check(secret.expose()))
                    .await;
            return Err(OAuthError::InvalidClient("unknown_client"));
        };
        let checked = client.clone();
        let matches = tokio::task::spawn_blocking(move || checked.secret_matches(secret.expose()))
            .await
            .unwrap_or(false);
        if !matches {
            return Err(OAuthError::InvalidClient("wrong_secret"));
        }
        if !client.enabled {
            return Err(OAuthError::InvalidClient("client_disabled"));
        }
        Ok(client)
    }

    async fn authenticate_assertion(
        &self,
        claimed: Option<&str>,
        assertion: &str,
    ) -> Result<Client, OAuthError> {
        let issuer = ClientAssertionVerifier::unverified_issuer(assertion)
            .map_err(|e| OAuthError::InvalidClient(e.kind()))?;
        if claimed.is_some_and(|id| id != issuer) {
            return Err(OAuthError::InvalidClient("client_id_mismatch"));
        }
        let Some(client) = self.registry.load(&issuer).await? else {
            return Err(OAuthError::InvalidClient("unknown_client"));
        };
        if client.auth_method != AuthMethod::PrivateKeyJwt {
            return Err(OAuthError::InvalidClient("wrong_auth_method"));
        }
        let verified = self.verify_assertion(&client, assertion).await?;
        if !client.enabled {
            return Err(OAuthError::InvalidClient("client_disabled"));
        }
        self.remember_jti(&client.id, &verified.jti, verified.expires_at)
            .await?;
        Ok(client)
    }

    async fn verify_assertion(
        &self,
        client: &Client,
        assertion: &str,
    ) -> Result<jwt::ClientAssertion, OAuthError> {
        let verifier = ClientAssertionVerifier::new(&self.settings.token_endpoint)
            .with_leeway(self.settings.leeway.as_secs())
            .with_max_lifetime(self.settings.max_assertion_lifetime.as_secs());
        let now = jwt::now_secs();
        let refused = |e: TokenError| OAuthError::InvalidClient(e.kind());
        if let Some(keys) = &client.jwks {
            return verifier
                .verify_at(assertion, &client.id, keys, now)
                .map_err(refused);
        }
        let Some(uri) = &client.jwks_uri else {
            return Err(OAuthError::InvalidClient("no_client_keys"));
        };
        let fetch = async |unknown_kid| {
            self.fetcher
                .get(uri, client.insecure_http, unknown_kid)
                .await
                .map_err(|e| {
                    tracing::debug!(client = %client.id, error = %e, "client JWKS unavailable");
                    OAuthError::InvalidClient("jwks_uri_unavailable")
                })
        };
        let keys = fetch(false).await?;
        match verifier.verify_at(assertion, &client.id, &keys, now) {
            Err(TokenError::UnknownKey) => {
                let keys = fetch(true).await?;
                verifier
                    .verify_at(assertion, &client.id, &keys, now)
                    .map_err(refused)
            }
            other => other.map_err(refused),
        }
    }

    /// Records an assertion `jti`; a second use (on any node) fails the insert.
    async fn remember_jti(&self, client: &str, jti: &str, exp: u64) -> Result<(), OAuthError> {
        let keep_until = exp.saturating_add(self.settings.leeway.as_secs());
        let mut tx = self.store.write().await?;
        let inserted =
            query("INSERT INTO oauth_assertion_jtis (client_id, jti, exp_ms) VALUES ($1, $2, $3)")
                .bind(client)
                .bind(jti)
                .bind(secs_to_ms(keep_until))
                .execute(tx.conn())
                .await;
        match inserted {
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                tx.rollback().await?;
                Err(OAuthError::InvalidClient("assertion_replayed"))
            }
            Err(e) => Err(e.into()),
            Ok(_) => Ok(tx.commit().await?),
        }
    }

    /// The client credentials grant: grants the requested scopes (all allowed ones when
    /// none are asked for) and signs the token. Audited as `oauth.token` naming the
    /// client, scopes, key id and token id, never the token.
    ///
    /// # Errors
    /// [`OAuthError::InvalidScope`], [`OAuthError::Signing`], audit failures.
    pub async fn issue(
        &self,
        ctx: &RequestContext,
        client: &Client,
        requested: Option<&str>,
        signer: &(dyn JwsSigner + Sync),
    ) -> Result<TokenResponse, OAuthError> {
        let rec = ctx.record("oauth.token", Some(format!("oauth-client:{}", client.id)));
        self.audit
            .audited(rec, async |rec| {
                let granted = grant(client, requested.unwrap_or_default())?;
                let now = jwt::now_secs();
                let claims = AccessTokenClaims {
                    issuer: self.settings.issuer.clone(),
                    subject: client.id.clone(),
                    audience: vec![client.audience.clone()],
                    client_id: client.id.clone(),
                    scopes: granted.iter().map(ToString::to_string).collect(),
                    issued_at: now,
                    expires_at: now.saturating_add(client.token_ttl_secs),
                    jti: jwt::new_jti().map_err(|e| OAuthError::Signing(e.to_string()))?,
                };
                let token = claims
                    .issue(signer)
                    .map_err(|e| OAuthError::Signing(e.to_string()))?;
                rec.detail("client_id", client.id.clone())
                    .detail("scope", claims.scopes.join(" "))
                    .detail("audience", client.audience.clone())
                    .detail("kid", signer.kid())
                    .detail("jti", claims.jti.clone())
                    .detail("expires_in", client.token_ttl_secs);
                Ok(TokenResponse {
                    access_token: token,
                    token_type: "Bearer",
                    expires_in: client.token_ttl_secs,
                    scope: claims.scopes.join(" "),
                })
            })
            .await
    }

    /// Verifies one of our access tokens against `keys` (our JWKS) for `audience` (or,
    /// when `None`, for whatever audience it names), then checks it is not revoked.
    ///
    /// # Errors
    /// [`AccessRefusal`].
    pub async fn check(
        &self,
        token: &str,
        keys: &JwkSet,
        audience: Option<&str>,
    ) -> Result<AccessToken, AccessRefusal> {
        let verified = self.verify_only(token, keys, audience)?;
        if self
            .is_revoked(&verified.claims.jti)
            .await
            .map_err(AccessRefusal::Store)?
        {
            return Err(AccessRefusal::Revoked);
        }
        Ok(verified)
    }

    fn verify_only(
        &self,
        token: &str,
        keys: &JwkSet,
        audience: Option<&str>,
    ) -> Result<AccessToken, AccessRefusal> {
        let audience = match audience {
            Some(aud) => aud.to_owned(),
            None => first_audience(token).map_err(AccessRefusal::Token)?,
        };
        AccessTokenVerifier::new(keys, &self.settings.issuer, &audience)
            .with_algorithms(&[self.settings.algorithm])
            .with_leeway(self.settings.leeway.as_secs())
            .verify(token)
            .map_err(AccessRefusal::Token)
    }

    /// RFC 7662 introspection: active or not, nothing about why.
    ///
    /// # Errors
    /// Storage failures while checking revocation (the endpoint answers 503 rather than
    /// call a revoked token active).
    pub async fn introspect(
        &self,
        token: &str,
        keys: &JwkSet,
    ) -> Result<Introspection, webqx_store::StoreError> {
        match self.check(token, keys, None).await {
            Ok(verified) => Ok(Introspection::from_token(&verified)),
            Err(AccessRefusal::Store(e)) => Err(e),
            Err(refusal) => {
                tracing::debug!(reason = refusal.kind(), "introspection: token inactive");
                Ok(Introspection::default())
            }
        }
    }

    /// Whether the token id `jti` was revoked.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn is_revoked(&self, jti: &str) -> Result<bool, webqx_store::StoreError> {
        let row = query("SELECT 1 FROM oauth_revoked WHERE jti = $1")
            .bind(jti)
            .fetch_optional(self.store.pool())
            .await
            .map_err(webqx_store::StoreError::from_sqlx)?;
        Ok(row.is_some())
    }

    /// RFC 7009 revocation by `client` of `token`. Tokens that are not ours, malformed
    /// or already expired need nothing done (`Ok`, as the RFC asks); a token of another
    /// client is refused. Audited as `oauth.revoke`.
    ///
    /// # Errors
    /// [`OAuthError::UnauthorizedClient`]; storage and audit failures.
    pub async fn revoke(
        &self,
        ctx: &RequestContext,
        client: &Client,
        token: &str,
        keys: &JwkSet,
    ) -> Result<(), OAuthError> {
        let Ok(verified) = self.verify_only(token, keys, None) else {
            return Ok(());
        };
        let claims = verified.claims;
        let mut rec = ctx.record("oauth.revoke", Some(format!("oauth-client:{}", client.id)));
        rec.detail("jti", claims.jti.clone());
        if claims.client_id != client.id {
            rec.fail(Outcome::Denied, "not_token_owner");
            self.audit.record(rec).await?;
            return Err(OAuthError::UnauthorizedClient(
                "a client may revoke only tokens issued to it".into(),
            ));
        }
        self.audit
            .transact(rec, async |tx, _| {
                query(
                    "INSERT INTO oauth_revoked (jti, client_id, exp_ms, revoked_ms) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                )
                .bind(&claims.jti)
                .bind(&claims.client_id)
                .bind(secs_to_ms(claims.expires_at))
                .bind(now_ms())
                .execute(tx.conn())
                .await?;
                Ok::<_, OAuthError>(())
            })
            .await
    }

    /// Forgets assertion ids and revocations whose tokens have expired (with leeway).
    /// The scheduler calls this.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn purge_expired(&self) -> Result<u64, OAuthError> {
        let leeway_ms = i64::try_from(self.settings.leeway.as_millis()).unwrap_or(i64::MAX);
        let cutoff = now_ms().saturating_sub(leeway_ms);
        let mut tx = self.store.write().await?;
        let jtis = query("DELETE FROM oauth_assertion_jtis WHERE exp_ms < $1")
            .bind(cutoff)
            .execute(tx.conn())
            .await?;
        let revoked = query("DELETE FROM oauth_revoked WHERE exp_ms < $1")
            .bind(cutoff)
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(jtis.rows_affected() + revoked.rows_affected())
    }
}

/// The scopes `client` gets for the `scope` parameter `requested`.
fn grant(client: &Client, requested: &str) -> Result<Vec<scope::Scope>, OAuthError> {
    let requested =
        scope::parse_list(requested).map_err(|e| OAuthError::InvalidScope(e.to_string()))?;
    scope::grant(&client.scopes, &requested).map_err(|refused| {
        OAuthError::InvalidScope(format!(
            "scope '{refused}' is not allowed for this client; ask an administrator to add \
             it to the client's scopes"
        ))
    })
}

/// The first `aud` of a token, unverified: only to pick the audience the verifier then
/// checks (introspection and revocation take any of our audiences).
fn first_audience(token: &str) -> Result<String, TokenError> {
    let jws = UnverifiedJws::parse_compact(token)?;
    let claims: serde_json::Value = serde_json::from_slice(jws.payload_unverified())
        .map_err(|_| TokenError::Malformed("claims are not JSON"))?;
    match claims.get("aud") {
        Some(serde_json::Value::String(aud)) => Ok(aud.clone()),
        Some(serde_json::Value::Array(list)) => list
            .first()
            .and_then(|a| a.as_str())
            .map(str::to_owned)
            .ok_or(TokenError::InvalidClaim("aud")),
        Some(_) => Err(TokenError::InvalidClaim("aud")),
        None => Err(TokenError::MissingClaim("aud")),
    }
}

fn secs_to_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// Whether `bearer` looks like a compact JWS (three base64url segments) rather than
/// one of our static `wqxt.` tokens.
#[must_use]
pub fn looks_like_jwt(bearer: &str) -> bool {
    !bearer.starts_with("wqxt.")
        && bearer.split('.').count() == 3
        && bearer
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Rule id of the alert [`AuthorizationServer::note_failure`] raises.
pub const FAILURES_RULE: &str = "oauth-auth-failures";

/// The stored alert for `count` failed client authentications within `window_s`,
/// grouped by client id or by address (`by`). Its one event is in the event schema
/// (`webqx.oauth`), so suppressions on `source.ip` or `oauth.client.id` apply.
fn failures_alert(
    by: &str,
    client_id: Option<&str>,
    address: Option<&str>,
    count: u32,
    window_s: u64,
) -> webqx_audit::RaisedAlert {
    let at = now_ms();
    let (group_key, who) = match (by, client_id, address) {
        ("client", Some(c), _) => (format!("oauth.client.id={c}"), format!("client {c}")),
        (_, _, Some(a)) => (format!("source.ip={a}"), a.to_owned()),
        _ => (String::new(), "an unnamed caller".to_owned()),
    };
    let mut event = serde_json::json!({
        "@timestamp": webqx_store::time::rfc3339(at),
        "event": {
            "kind": "alert",
            "category": ["authentication"],
            "type": ["start"],
            "dataset": "webqx.oauth",
            "action": "oauth.client_authentication",
            "outcome": "failure",
        },
        "webqx": {"failures": count, "window_s": window_s, "by": by},
    });
    if let Some(a) = address {
        event["source"] = serde_json::json!({ "ip": a, "address": a });
    }
    if let Some(c) = client_id {
        event["oauth"] = serde_json::json!({ "client": { "id": c } });
    }
    webqx_audit::RaisedAlert {
        rule_id: FAILURES_RULE.into(),
        title: format!("{count} failed OAuth client authentications by {who} within {window_s} s"),
        severity: "high",
        // Brute force of client credentials (ATT&CK T1110); HIPAA person or entity
        // authentication, 164.312(d).
        tags: vec![
            "attack.credential_access".into(),
            "attack.t1110".into(),
            "hipaa.164.312.d".into(),
        ],
        group_key,
        timestamp_ms: at,
        events: vec![event],
    }
}
