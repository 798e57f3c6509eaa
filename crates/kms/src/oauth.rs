//! The OAuth authorization server's signing key: a service-internal key ring
//! [`OAUTH_SIGNING_KEY`] (Ed25519, or ECDSA P-256 for ES256), created on first use,
//! rotated by the key service's automatic rotation, never exportable. The server's API
//! refuses to sign, export, disable or delete it (as for the audit checkpoint key).
//!
//! The `kid` of version `n` is `webqx-oauth-signing-v<n>`. The JWKS lists the newest
//! version and every older one that may still have live tokens: a version retires when
//! the next is made, and stays listed for the longest token lifetime plus the leeway.

use crate::{CreateKey, KeyConfig, KeyType, Kms, KmsError};
use std::time::Duration;
use webqx_audit::RequestContext;
use webqx_crypto::SecretBytes;
use webqx_crypto::sign::{self, SignatureFormat};
use webqx_oauth::{Algorithm, Jwk, JwkSet, JwsSigner, SignError};
use webqx_store::time::format_duration;
use webqx_store::{Row, now_ms, query};

/// Name of the key ring that signs access tokens.
pub const OAUTH_SIGNING_KEY: &str = "webqx-oauth-signing";

/// SubjectPublicKeyInfo DER lengths and raw key lengths of the two key types: the raw
/// key is the SPKI's tail.
const ED25519_SPKI: (usize, usize) = (44, 32);
const P256_SPKI: (usize, usize) = (91, 65);

/// The `kid` of a version of the signing key.
#[must_use]
pub fn oauth_kid(version: u32) -> String {
    format!("{OAUTH_SIGNING_KEY}-v{version}")
}

/// Signs access tokens with the newest version of the signing key. Holds the
/// unwrapped key for as long as it lives (one request); zeroized on drop.
pub struct OAuthSigner {
    kid: String,
    algorithm: sign::Algorithm,
    material: SecretBytes,
}

impl std::fmt::Debug for OAuthSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl JwsSigner for OAuthSigner {
    fn algorithm(&self) -> Algorithm {
        match self.algorithm {
            sign::Algorithm::Ed25519 => Algorithm::EdDSA,
            sign::Algorithm::EcdsaP256 => Algorithm::ES256,
        }
    }

    fn kid(&self) -> &str {
        &self.kid
    }

    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, SignError> {
        // JWS ES256 signatures are the fixed-width r || s form (RFC 7518 §3.4).
        sign::sign(
            self.algorithm,
            self.material.expose(),
            signing_input,
            SignatureFormat::P1363,
        )
        .map_err(|_| SignError::Signer("the signing key did not sign"))
    }
}

fn sign_algorithm(key_type: KeyType) -> Result<sign::Algorithm, KmsError> {
    match key_type {
        KeyType::Ed25519 => Ok(sign::Algorithm::Ed25519),
        KeyType::EcdsaP256 => Ok(sign::Algorithm::EcdsaP256),
        other => Err(KmsError::Internal(format!(
            "{OAUTH_SIGNING_KEY} has type {other}, which does not sign"
        ))),
    }
}

impl Kms {
    /// The signer for access tokens: the newest version of [`OAUTH_SIGNING_KEY`],
    /// creating the key (of `key_type`, rotating every `rotate_every`) the first time.
    /// An existing key keeps its type: the algorithm is chosen at first use.
    ///
    /// # Errors
    /// [`KmsError::Sealed`] while sealed; storage, audit and key errors.
    pub async fn oauth_signer(
        &self,
        ctx: &RequestContext,
        key_type: KeyType,
        rotate_every: Duration,
    ) -> Result<OAuthSigner, KmsError> {
        self.root()?;
        if !self.oauth_key_exists().await? {
            let req = CreateKey {
                name: OAUTH_SIGNING_KEY.into(),
                key_type,
                exportable: false,
                auto_rotate_period: Some(format_duration(rotate_every)),
            };
            match self.create_key(ctx, &req).await {
                Ok(_) | Err(KmsError::KeyExists(_)) => {}
                Err(e) => return Err(e),
            }
        }
        self.follow_rotation_period(ctx, rotate_every).await?;
        let mut ring = self
            .ring(OAUTH_SIGNING_KEY, "signing", KeyType::signs)
            .await?;
        if ring.key.key_type != key_type {
            tracing::debug!(
                stored = %ring.key.key_type,
                configured = %key_type,
                "the OAuth signing key keeps the type it was created with"
            );
        }
        let algorithm = sign_algorithm(ring.key.key_type)?;
        let version = ring.key.latest_version;
        let material = ring.material(self, version).await?.clone();
        Ok(OAuthSigner {
            kid: oauth_kid(version),
            algorithm,
            material,
        })
    }

    /// Sets the key's automatic rotation period to `rotate_every` when the
    /// configuration changed it (audited as `key.configure`; rare).
    async fn follow_rotation_period(
        &self,
        ctx: &RequestContext,
        rotate_every: Duration,
    ) -> Result<(), KmsError> {
        let wanted = i64::try_from(rotate_every.as_secs()).unwrap_or(i64::MAX);
        let row = self.cached_row(OAUTH_SIGNING_KEY).await?;
        if row.auto_rotate_secs == Some(wanted) {
            return Ok(());
        }
        let change = KeyConfig {
            auto_rotate_period: Some(format_duration(rotate_every)),
            ..KeyConfig::default()
        };
        self.configure_key(ctx, OAUTH_SIGNING_KEY, &change).await?;
        Ok(())
    }

    async fn oauth_key_exists(&self) -> Result<bool, KmsError> {
        match self.cached_row(OAUTH_SIGNING_KEY).await {
            Ok(_) => Ok(true),
            Err(KmsError::KeyNotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The public keys that may verify live access tokens: the newest version, and
    /// every older one retired less than `keep_retired` ago. Empty before the first
    /// token. Works while sealed (public keys are stored in clear).
    ///
    /// # Errors
    /// Storage errors; a stored public key of an unexpected form.
    pub async fn oauth_jwks(&self, keep_retired: Duration) -> Result<JwkSet, KmsError> {
        let key = match self.key_row(self.store.pool(), OAUTH_SIGNING_KEY).await {
            Ok(key) => key,
            Err(KmsError::KeyNotFound(_)) => return Ok(JwkSet::default()),
            Err(e) => return Err(e),
        };
        let rows = query(
            "SELECT version, public_key, created_ms FROM key_versions \
             WHERE key_id = $1 ORDER BY version DESC",
        )
        .bind(&key.id)
        .fetch_all(self.store.pool())
        .await?;
        let keep_ms = i64::try_from(keep_retired.as_millis()).unwrap_or(i64::MAX);
        let now = now_ms();
        let mut keys = Vec::new();
        // Newest first: each version retired when the one after it was made.
        let mut retired_at: Option<i64> = None;
        for row in &rows {
            let version: i64 = row.try_get(0)?;
            let public: Option<Vec<u8>> = row.try_get(1)?;
            let created: i64 = row.try_get(2)?;
            let live = retired_at.is_none_or(|at| at.saturating_add(keep_ms) > now);
            let allowed = u32::try_from(version).is_ok_and(|v| v >= key.min_decryption_version);
            if live && allowed && keys.len() < webqx_oauth::jwk::MAX_KEYS {
                let version = u32::try_from(version).unwrap_or(0);
                keys.push(public_jwk(key.key_type, public.as_deref(), version)?);
            }
            retired_at = Some(created);
        }
        JwkSet::from_keys(keys).map_err(|e| KmsError::Internal(format!("OAuth JWKS: {e}")))
    }
}

fn public_jwk(key_type: KeyType, spki: Option<&[u8]>, version: u32) -> Result<Jwk, KmsError> {
    let bad = || {
        KmsError::Internal(format!(
            "{OAUTH_SIGNING_KEY} v{version} has no usable public key"
        ))
    };
    let spki = spki.ok_or_else(bad)?;
    let kid = oauth_kid(version);
    let (spki_len, raw_len) = match key_type {
        KeyType::Ed25519 => ED25519_SPKI,
        KeyType::EcdsaP256 => P256_SPKI,
        _ => return Err(bad()),
    };
    if spki.len() != spki_len {
        return Err(bad());
    }
    let raw = &spki[spki_len - raw_len..];
    let jwk = match key_type {
        KeyType::Ed25519 => Jwk::ed25519_public(raw, &kid),
        _ => Jwk::p256_public(raw, &kid),
    };
    jwk.map_err(|_| bad())
}
