//! Keys for database data-at-rest encryption (MariaDB's `hashicorp_key_management`
//! plugin): the one place where raw key material leaves the service.
//!
//! A database key id `N` on a mount maps to the key ring `<prefix>N` (an `aes256-gcm`
//! ring, whose 32-byte versions are the database's key versions). Reading a key is
//! audited as `tde.read` with the ring and version, never the material. The parsers
//! of the request's id and `version` query live here so that they can be fuzzed
//! without HTTP.

use crate::types::{CreateKey, KeyType};
use crate::{Kms, KmsError};
use std::fmt;
use webqx_audit::RequestContext;
use webqx_crypto::SecretBytes;

/// Longest decimal text accepted for an id or a version (`u64::MAX` has 20 digits).
const MAX_DIGITS: usize = 20;

/// Which version of a key the database asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    /// No `version`: the newest.
    Latest,
    /// `version=N`, N ≥ 1.
    Version(u32),
    /// A version number larger than any ring can have (over 4294967295): not found.
    Beyond,
}

/// A malformed key id or `version` query.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TdeInputError {
    /// The id is not a decimal number from 1 to 4294967295.
    KeyId,
    /// `version` is not a decimal number of at least 1.
    Version,
    /// `version` was given more than once.
    DuplicateVersion,
}

impl fmt::Display for TdeInputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TdeInputError::KeyId => {
                "the key id must be a decimal number from 1 to 4294967295 (the database's \
                 key id, as in ENCRYPTION_KEY_ID)"
            }
            TdeInputError::Version => {
                "version must be a decimal number of at least 1 (key versions start at 1)"
            }
            TdeInputError::DuplicateVersion => "give version at most once",
        })
    }
}

impl std::error::Error for TdeInputError {}

/// The decimal digits of `text` as a number, `None` when it is not 1 to 20 ASCII
/// digits without a leading zero, or does not fit in a `u64`.
fn decimal(text: &str) -> Option<u64> {
    let digits_only = !text.is_empty()
        && text.len() <= MAX_DIGITS
        && text.bytes().all(|b| b.is_ascii_digit())
        && !(text.len() > 1 && text.starts_with('0'));
    if !digits_only {
        return None;
    }
    text.parse().ok()
}

/// Parses the key id of a request path (`/v1/<mount>/data/<id>`).
///
/// # Errors
/// [`TdeInputError::KeyId`] unless it is `1`…`4294967295` written plainly (no sign,
/// no leading zero), so that each ring has one spelling.
pub fn parse_key_id(text: &str) -> Result<u32, TdeInputError> {
    decimal(text)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|&n| n != 0)
        .ok_or(TdeInputError::KeyId)
}

/// Parses the query string of a key request: `version=N` or nothing. Other
/// parameters are ignored, as Vault does.
///
/// # Errors
/// [`TdeInputError::Version`] for version 0, an empty or non-numeric one;
/// [`TdeInputError::DuplicateVersion`] when given twice.
pub fn parse_version_query(query: Option<&str>) -> Result<Requested, TdeInputError> {
    let mut found = None;
    for pair in query.unwrap_or("").split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name != "version" {
            continue;
        }
        if found.is_some() {
            return Err(TdeInputError::DuplicateVersion);
        }
        found = Some(parse_version(value)?);
    }
    Ok(found.unwrap_or(Requested::Latest))
}

fn parse_version(value: &str) -> Result<Requested, TdeInputError> {
    let all_digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
    if !all_digits {
        return Err(TdeInputError::Version);
    }
    let significant = value.trim_start_matches('0');
    if significant.is_empty() {
        return Err(TdeInputError::Version);
    }
    Ok(decimal(significant)
        .and_then(|n| u32::try_from(n).ok())
        .map_or(Requested::Beyond, Requested::Version))
}

/// One version of a key, as released to the database.
pub struct TdeKey {
    /// The version (never 0).
    pub version: u32,
    /// The 32 bytes of key material.
    pub material: SecretBytes,
}

impl fmt::Debug for TdeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TdeKey")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl Kms {
    /// Releases one version of ring `name` to a database: audited as `tde.read` (ring,
    /// version; never the material). Only `aes256-gcm` rings created exportable are
    /// released. With `create`, a missing ring is first created as an exportable
    /// `aes256-gcm` ring (audited as `key.create`).
    ///
    /// # Errors
    /// [`KmsError::Sealed`], [`KmsError::KeyNotFound`], [`KmsError::KeyDisabled`],
    /// [`KmsError::KeyPendingDeletion`], [`KmsError::KeyDestroyed`],
    /// [`KmsError::WrongKeyType`] for a ring that is not `aes256-gcm`,
    /// [`KmsError::NotExportable`] for a ring not created exportable,
    /// [`KmsError::KeyVersion`] for a version the ring does not have (or no longer
    /// allows), storage and audit failures.
    pub async fn tde_key(
        &self,
        ctx: &RequestContext,
        name: &str,
        requested: Requested,
        create: bool,
    ) -> Result<TdeKey, KmsError> {
        if create && matches!(self.cached_row(name).await, Err(KmsError::KeyNotFound(_))) {
            self.create_tde_ring(ctx, name).await?;
        }
        let rec = ctx.record("tde.read", Some(format!("key:{name}")));
        self.audited(rec, async |rec| {
            let mut ring = self
                .ring(name, "database encryption", |t| t == KeyType::Aes256Gcm)
                .await?;
            // Raw material leaves only rings made to leave: an ordinary ring that
            // merely matches the mount's prefix keeps its material in the service.
            if !ring.key.exportable {
                return Err(KmsError::NotExportable(name.to_owned()));
            }
            let version = match requested {
                Requested::Latest => ring.key.latest_version,
                Requested::Version(v) => v,
                Requested::Beyond => return Err(no_version(name)),
            };
            ring.ensure_version(self, version).await?;
            if version > ring.key.latest_version {
                return Err(no_version(name));
            }
            ring.check_decryption_version(version)?;
            let material = ring.material(self, version).await?.clone();
            rec.detail("key_version", version);
            Ok(TdeKey { version, material })
        })
        .await
    }

    /// Creates a database key ring, tolerating another request having just made it.
    async fn create_tde_ring(&self, ctx: &RequestContext, name: &str) -> Result<(), KmsError> {
        let req = CreateKey {
            name: name.to_owned(),
            key_type: KeyType::Aes256Gcm,
            exportable: true,
            auto_rotate_period: None,
        };
        match self.create_key(ctx, &req).await {
            Ok(_) | Err(KmsError::KeyExists(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn no_version(name: &str) -> KmsError {
    KmsError::KeyVersion(format!("key '{name}' has no such version"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_are_plain_positive_u32() {
        assert_eq!(parse_key_id("1"), Ok(1));
        assert_eq!(parse_key_id("4294967295"), Ok(u32::MAX));
        for bad in [
            "",
            "0",
            "01",
            "+1",
            "-1",
            "1.0",
            " 1",
            "4294967296",
            "x",
            "1a",
            "٣",
        ] {
            assert_eq!(parse_key_id(bad), Err(TdeInputError::KeyId), "{bad:?}");
        }
        assert!(parse_key_id(&"9".repeat(500)).is_err());
    }

    #[test]
    fn version_query() {
        assert_eq!(parse_version_query(None), Ok(Requested::Latest));
        assert_eq!(parse_version_query(Some("")), Ok(Requested::Latest));
        assert_eq!(
            parse_version_query(Some("version=2")),
            Ok(Requested::Version(2))
        );
        assert_eq!(
            parse_version_query(Some("x=1&version=007")),
            Ok(Requested::Version(7))
        );
        assert_eq!(
            parse_version_query(Some("version=4294967296")),
            Ok(Requested::Beyond)
        );
        assert_eq!(
            parse_version_query(Some(&format!("version={}", "9".repeat(300)))),
            Ok(Requested::Beyond)
        );
        for bad in [
            "version=0",
            "version=",
            "version",
            "version=-1",
            "version=1e3",
        ] {
            assert_eq!(
                parse_version_query(Some(bad)),
                Err(TdeInputError::Version),
                "{bad}"
            );
        }
        assert_eq!(
            parse_version_query(Some("version=1&version=1")),
            Err(TdeInputError::DuplicateVersion)
        );
    }
}
