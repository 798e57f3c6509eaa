//! The OAuth authorization server as the HTTP layer uses it: the library's
//! [`AuthorizationServer`] plus our signing key in the key service and a short-lived
//! cache of our JWKS (refreshed at once when a token names a `kid` it lacks, so a key
//! rotation on another node is seen by the next request).

use crate::config_oauth::OauthSection;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use webqx_audit::{AuditLog, RequestContext};
use webqx_kms::{Kms, KmsError, OAuthSigner};
use webqx_oauth::jwt::AccessToken;
use webqx_oauth::server::{AccessRefusal, AuthorizationServer, Introspection};
use webqx_oauth::{JwkSet, TokenError};
use webqx_store::Store;
use webqx_tokens::Principal;

/// How long our JWKS is reused before it is read again.
const JWKS_CACHE: Duration = Duration::from_secs(5);

/// The authorization server and its keys.
pub struct OAuthService {
    /// The library's server.
    pub server: AuthorizationServer,
    /// `[oauth]`.
    pub section: OauthSection,
    kms: Arc<Kms>,
    jwks: Mutex<Option<(Arc<JwkSet>, Instant)>>,
}

impl std::fmt::Debug for OAuthService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthService")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl OAuthService {
    /// Builds the service for issuer URL `issuer`.
    ///
    /// # Errors
    /// A message for the operator (the jwks CA file cannot be read or used).
    pub fn new(
        section: &OauthSection,
        issuer: &str,
        store: Store,
        audit: Arc<AuditLog>,
        kms: Arc<Kms>,
    ) -> Result<Self, String> {
        let ca = match &section.jwks_ca_file {
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|e| format!("[oauth] jwks_ca_file {}: {e}", path.display()))?,
            ),
            None => None,
        };
        let fetcher = webqx_oauth::remote::JwksFetcher::new(ca.as_deref())
            .map_err(|e| format!("[oauth] {e}"))?;
        let server = AuthorizationServer::new(store, audit, fetcher, section.settings(issuer));
        Ok(Self {
            server,
            section: section.clone(),
            kms,
            jwks: Mutex::new(None),
        })
    }

    /// Our issuer URL.
    pub fn issuer(&self) -> &str {
        &self.server.settings().issuer
    }

    /// The signer for a new token (creates the key on first use).
    ///
    /// # Errors
    /// [`KmsError`] (sealed, storage).
    pub async fn signer(&self, ctx: &RequestContext) -> Result<OAuthSigner, KmsError> {
        let rotate = webqx_store::time::parse_duration(&self.section.rotate_every)
            .unwrap_or(Duration::from_secs(30 * 86_400));
        let signer = self
            .kms
            .oauth_signer(ctx, self.section.key_type(), rotate)
            .await?;
        if self.cached_lacks(webqx_oauth::JwsSigner::kid(&signer)) {
            self.forget_jwks();
        }
        Ok(signer)
    }

    fn cached_lacks(&self, kid: &str) -> bool {
        self.jwks.lock().ok().is_some_and(|slot| {
            slot.as_ref()
                .is_some_and(|(keys, _)| !keys.keys().iter().any(|k| k.kid() == Some(kid)))
        })
    }

    fn forget_jwks(&self) {
        if let Ok(mut slot) = self.jwks.lock() {
            *slot = None;
        }
    }

    /// Our JWKS: every signing key version that may still have live tokens.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn jwks(&self) -> Result<Arc<JwkSet>, KmsError> {
        if let Some((keys, at)) = self.jwks.lock().ok().and_then(|slot| slot.clone())
            && at.elapsed() < JWKS_CACHE
        {
            return Ok(keys);
        }
        let keys = Arc::new(self.kms.oauth_jwks(self.section.keep_retired()).await?);
        if let Ok(mut slot) = self.jwks.lock() {
            *slot = Some((keys.clone(), Instant::now()));
        }
        Ok(keys)
    }

    /// Verifies one of our access tokens for `audience` (any of ours when `None`) and
    /// checks revocation; an unknown `kid` makes it read the JWKS again once.
    ///
    /// # Errors
    /// [`AccessRefusal`].
    pub async fn check(
        &self,
        token: &str,
        audience: Option<&str>,
    ) -> Result<AccessToken, AccessRefusal> {
        let keys = self.jwks().await.map_err(kms_refusal)?;
        match self.server.check(token, &keys, audience).await {
            Err(AccessRefusal::Token(TokenError::UnknownKey)) => {
                self.forget_jwks();
                let keys = self.jwks().await.map_err(kms_refusal)?;
                self.server.check(token, &keys, audience).await
            }
            other => other,
        }
    }

    /// RFC 7662 introspection.
    ///
    /// # Errors
    /// Storage failures (answered 503, never "active").
    pub async fn introspect(&self, token: &str) -> Result<Introspection, AccessRefusal> {
        match self.check(token, None).await {
            Ok(verified) => Ok(Introspection::from_token(&verified)),
            Err(refusal @ (AccessRefusal::Store(_) | AccessRefusal::KeysUnavailable(_))) => {
                Err(refusal)
            }
            Err(refusal) => {
                tracing::debug!(reason = refusal.kind(), "introspection: inactive token");
                Ok(Introspection::default())
            }
        }
    }

    /// The principal of a bearer access token on our own API: its `webqx:keys/...`
    /// scopes as policies; SMART scopes grant nothing here.
    ///
    /// # Errors
    /// [`AccessRefusal`].
    pub async fn principal(&self, token: &str) -> Result<Principal, AccessRefusal> {
        let verified = self.check(token, Some(&self.section.api_audience)).await?;
        let scopes: Vec<_> = verified
            .claims
            .scopes
            .iter()
            .filter_map(|s| webqx_oauth::scope::Scope::parse(s).ok())
            .collect();
        let grants = webqx_oauth::scope::key_grants(&scopes);
        Ok(Principal::oauth(&verified.claims.client_id, grants))
    }
}

fn kms_refusal(e: KmsError) -> AccessRefusal {
    AccessRefusal::KeysUnavailable(e.to_string())
}
