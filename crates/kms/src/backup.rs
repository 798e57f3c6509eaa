//! Keys for backups of the service's own store.
//!
//! A backup must open when the data folder, the database and the server are gone, so
//! its data key cannot live in a key ring inside the backup. Instead:
//! - a fresh random 256-bit data key encrypts the backup;
//! - it is wrapped (AES-256-GCM) by a key derived from the root key with HKDF-SHA256
//!   (info `webqx-backup-v1`), so only whoever holds the root key can open it;
//! - the backup carries a *seal block*: the seal's kind, its non-secret configuration
//!   (Shamir set id, Argon2 salt and costs) and the sealed root key, exactly as the store
//!   holds them. With the usual unseal credentials (key file, shares, passphrase) and
//!   nothing else, [`open_backup_key`] recovers the root key and then the data key.
//!
//! The seal block adds nothing an attacker holding the backup lacks anyway: the same
//! sealed root key is a row inside the backup's own store.

use crate::seal::{ROOT_AAD, SealConfig};
use crate::{Kms, KmsError};
use serde::{Deserialize, Serialize};
use webqx_audit::RequestContext;
use webqx_crypto::kdf::Argon2Params;
use webqx_crypto::{SecretBytes, aead, shamir};

/// Key name written in a backup's file header.
pub const BACKUP_KEY_NAME: &str = "webqx-root";
const WRAP_INFO: &[u8] = b"webqx-backup-v1";
const WRAP_AAD: &[u8] = b"webqx-backup-v1\0data-key";
/// Largest seal block accepted from a file.
const MAX_SEAL_BLOCK: usize = 64 * 1024;

/// A new backup data key, its wrapped form and the seal block for the file header.
pub struct BackupKey {
    /// The data key (256 bits).
    pub data_key: SecretBytes,
    /// The data key wrapped by the root-derived backup key.
    pub wrapped: Vec<u8>,
    /// The seal block (JSON) for the header's extensions.
    pub seal_block: Vec<u8>,
}

impl std::fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BackupKey { .. }")
    }
}

/// Unseal credentials given offline (no server), to open a backup.
pub enum Credentials {
    /// The key file's content (hex).
    KeyFile(SecretBytes),
    /// At least `threshold` Shamir shares.
    Shares(Vec<SecretBytes>),
    /// The passphrase.
    Passphrase(SecretBytes),
    /// The HSM of a PKCS#11 seal: the PIN, and optionally another module path or token
    /// label than the ones recorded at initialization.
    Hsm(crate::Pkcs11Access),
}

#[derive(Serialize, Deserialize)]
struct SealBlock {
    format: u32,
    seal: SealConfig,
    sealed_root: String,
}

impl Kms {
    /// Draws a backup data key and wraps it with the live root key. Audited as
    /// `backup.key` (never with the key).
    ///
    /// # Errors
    /// [`KmsError::Sealed`], [`KmsError::NotInitialized`], storage or audit failures.
    pub async fn new_backup_key(&self, ctx: &RequestContext) -> Result<BackupKey, KmsError> {
        let rec = ctx.record("backup.key", Some(BACKUP_KEY_NAME.into()));
        self.audited(rec, async |_| {
            let root = self.root()?;
            let (config, sealed_root) = self.seal_row().await?.ok_or(KmsError::NotInitialized)?;
            let block = SealBlock {
                format: 1,
                seal: config,
                sealed_root: hex::encode(sealed_root),
            };
            let seal_block =
                serde_json::to_vec(&block).map_err(|e| KmsError::Internal(e.to_string()))?;
            let data_key =
                SecretBytes::new(webqx_crypto::rand::bytes(32).map_err(crate::error::internal)?);
            let wrapped = wrap(&root, &data_key)?;
            Ok(BackupKey {
                data_key,
                wrapped,
                seal_block,
            })
        })
        .await
    }
}

fn wrapping_key(root: &SecretBytes) -> Result<SecretBytes, KmsError> {
    webqx_crypto::kdf::hkdf_sha256(root.expose(), b"webqx", WRAP_INFO, 32)
        .map_err(crate::error::internal)
}

fn wrap(root: &SecretBytes, data_key: &SecretBytes) -> Result<Vec<u8>, KmsError> {
    let kek = wrapping_key(root)?;
    aead::seal(
        aead::Algorithm::AesGcm,
        kek.expose(),
        WRAP_AAD,
        data_key.expose(),
    )
    .map_err(crate::error::internal)
}

/// The seal kind a backup's seal block names (`key-file`, `shamir`, `passphrase`), to
/// tell the operator which credentials to bring.
///
/// # Errors
/// [`KmsError::Invalid`] when the block is not one this version reads.
pub fn seal_kind_of(seal_block: &[u8]) -> Result<String, KmsError> {
    let block = parse_block(seal_block)?;
    Ok(crate::seal::seal_kind(&block.seal).to_owned())
}

fn parse_block(seal_block: &[u8]) -> Result<SealBlock, KmsError> {
    if seal_block.len() > MAX_SEAL_BLOCK {
        return Err(KmsError::Invalid(
            "the backup's seal block is too large; this is not a WebQx backup".into(),
        ));
    }
    let block: SealBlock = serde_json::from_slice(seal_block).map_err(|_| {
        KmsError::Invalid(
            "the backup's seal block is unreadable: not a WebQx backup, damaged, or from a \
             newer version"
                .into(),
        )
    })?;
    if block.format != 1 {
        return Err(KmsError::Invalid(format!(
            "seal block format {} is newer than this program; use a newer webqx-sec",
            block.format
        )));
    }
    Ok(block)
}

/// Opens a backup's data key offline: recovers the unseal key from `credentials` and
/// the seal block, opens the sealed root key, derives the backup key and unwraps.
/// Slow for a passphrase (Argon2id, about a second). Not audited here (there is no
/// store); the restore audits into the restored trail.
///
/// # Errors
/// [`KmsError::WrongUnsealMethod`] when the credentials are of another kind than the
/// seal; [`KmsError::UnsealFailed`] when they do not open the root key;
/// [`KmsError::Invalid`] for an unreadable seal block; [`KmsError::Decrypt`] when the
/// wrapped key does not open (the header was altered).
pub fn open_backup_key(
    seal_block: &[u8],
    wrapped: &[u8],
    credentials: &Credentials,
) -> Result<SecretBytes, KmsError> {
    let block = parse_block(seal_block)?;
    let sealed_root = hex::decode(&block.sealed_root)
        .map_err(|_| KmsError::Invalid("the backup's sealed root key is not hex".into()))?;
    if let (SealConfig::Pkcs11 { .. }, Credentials::Hsm(access)) = (&block.seal, credentials) {
        let root = crate::seal::open_root_offline(block.seal.clone(), access, &sealed_root)?;
        return unwrap_data_key(&root, wrapped);
    }
    let unseal_key = unseal_key(&block.seal, credentials)?;
    let root = aead::open(
        aead::Algorithm::AesGcm,
        unseal_key.expose(),
        ROOT_AAD,
        &sealed_root,
    )
    .map_err(|_| {
        KmsError::UnsealFailed(
            "these credentials do not open this backup's root key (wrong key file, \
             passphrase or shares, or a backup of another service)"
                .into(),
        )
    })?;
    unwrap_data_key(&root, wrapped)
}

fn unwrap_data_key(root: &SecretBytes, wrapped: &[u8]) -> Result<SecretBytes, KmsError> {
    let kek = wrapping_key(root)?;
    aead::open(aead::Algorithm::AesGcm, kek.expose(), WRAP_AAD, wrapped)
        .map_err(|_| KmsError::Decrypt)
}

fn unseal_key(config: &SealConfig, credentials: &Credentials) -> Result<SecretBytes, KmsError> {
    match (config, credentials) {
        (SealConfig::KeyFile, Credentials::KeyFile(text)) => {
            let text = std::str::from_utf8(text.expose()).unwrap_or("").trim();
            hex::decode(text).map(SecretBytes::new).map_err(|_| {
                KmsError::UnsealFailed(
                    "the key file does not hold a hex key; was it edited?".into(),
                )
            })
        }
        (
            SealConfig::Shamir {
                set_id,
                shares,
                threshold,
            },
            Credentials::Shares(given),
        ) => combine_shares(set_id, *shares, *threshold, given),
        (
            SealConfig::Passphrase {
                salt,
                memory_kib,
                iterations,
                parallelism,
            },
            Credentials::Passphrase(phrase),
        ) => {
            let salt = hex::decode(salt)
                .map_err(|_| KmsError::Invalid("the backup's seal salt is not hex".into()))?;
            let params = Argon2Params {
                memory_kib: *memory_kib,
                iterations: *iterations,
                parallelism: *parallelism,
            };
            webqx_crypto::kdf::argon2id(phrase.expose(), &salt, params)
                .map_err(|e| KmsError::Invalid(format!("the backup's seal parameters: {e}")))
        }
        (config, _) => Err(KmsError::WrongUnsealMethod(match config {
            SealConfig::KeyFile => "with its key file (--key-file)",
            SealConfig::Shamir { .. } => "with Shamir shares (--share, repeated)",
            SealConfig::Passphrase { .. } => "with its passphrase (--passphrase-file)",
            SealConfig::Pkcs11 { .. } => {
                "with its HSM (--hsm-pin-file, and --hsm-module or --hsm-token if they moved)"
            }
        })),
    }
}

fn combine_shares(
    set_id: &str,
    printed: usize,
    threshold: usize,
    given: &[SecretBytes],
) -> Result<SecretBytes, KmsError> {
    let mut shares = Vec::with_capacity(given.len());
    for text in given {
        let text = std::str::from_utf8(text.expose()).unwrap_or("").trim();
        let share = shamir::decode(text).map_err(|e| KmsError::UnsealFailed(e.to_string()))?;
        if hex::encode(share.set_id) != set_id {
            return Err(KmsError::UnsealFailed(
                "a share belongs to another initialization of the service".into(),
            ));
        }
        shares.push(share);
    }
    let distinct = shares
        .iter()
        .map(|s| s.index)
        .collect::<std::collections::HashSet<_>>()
        .len();
    if distinct < threshold {
        return Err(KmsError::UnsealFailed(format!(
            "this backup needs {threshold} of the {printed} Shamir shares and {distinct} \
             different share(s) were given; add more shares to the file, one per line"
        )));
    }
    shamir::combine(&shares)
        .map_err(|e| KmsError::UnsealFailed(format!("{e} (give at least the threshold of shares)")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_for(unseal: &[u8], root: &SecretBytes, seal: SealConfig) -> Vec<u8> {
        let sealed = aead::seal(aead::Algorithm::AesGcm, unseal, ROOT_AAD, root.expose()).unwrap();
        serde_json::to_vec(&SealBlock {
            format: 1,
            seal,
            sealed_root: hex::encode(sealed),
        })
        .unwrap()
    }

    #[test]
    fn key_file_round_trip_and_refusals() {
        let unseal = [7u8; 32];
        let root = SecretBytes::new(vec![9u8; 32]);
        let block = block_for(&unseal, &root, SealConfig::KeyFile);
        let data = SecretBytes::new(vec![1u8; 32]);
        let wrapped = wrap(&root, &data).unwrap();
        let good = Credentials::KeyFile(SecretBytes::new(hex::encode(unseal).into_bytes()));
        assert_eq!(
            open_backup_key(&block, &wrapped, &good).unwrap().expose(),
            data.expose()
        );
        let wrong = Credentials::KeyFile(SecretBytes::new(hex::encode([8u8; 32]).into_bytes()));
        assert!(matches!(
            open_backup_key(&block, &wrapped, &wrong),
            Err(KmsError::UnsealFailed(_))
        ));
        let kind = Credentials::Passphrase(SecretBytes::new(b"twelve chars long".to_vec()));
        assert!(matches!(
            open_backup_key(&block, &wrapped, &kind),
            Err(KmsError::WrongUnsealMethod(_))
        ));
        let mut bad = wrapped.clone();
        bad[0] ^= 1;
        assert!(matches!(
            open_backup_key(&block, &bad, &good),
            Err(KmsError::Decrypt)
        ));
        assert!(open_backup_key(b"{not json", &wrapped, &good).is_err());
        assert_eq!(seal_kind_of(&block).unwrap(), "key-file");
    }

    #[test]
    fn shares_below_the_threshold_say_how_many_are_needed() {
        let unseal = [7u8; 32];
        let root = SecretBytes::new(vec![9u8; 32]);
        let set_id = [3u8; shamir::SET_ID_LEN];
        let shares = shamir::split(&unseal, 3, 5, set_id).unwrap();
        let seal = SealConfig::Shamir {
            shares: 5,
            threshold: 3,
            set_id: hex::encode(set_id),
        };
        let block = block_for(&unseal, &root, seal);
        let data = SecretBytes::new(vec![1u8; 32]);
        let wrapped = wrap(&root, &data).unwrap();
        let two = Credentials::Shares(shares[..2].to_vec());
        let e = open_backup_key(&block, &wrapped, &two).unwrap_err();
        assert!(
            e.to_string().contains("needs 3 of the 5 Shamir shares"),
            "{e}"
        );
        let repeated = Credentials::Shares(vec![
            shares[0].clone(),
            shares[0].clone(),
            shares[1].clone(),
        ]);
        let e = open_backup_key(&block, &wrapped, &repeated).unwrap_err();
        assert!(e.to_string().contains("2 different share"), "{e}");
        let three = Credentials::Shares(shares[1..4].to_vec());
        assert_eq!(
            open_backup_key(&block, &wrapped, &three).unwrap().expose(),
            data.expose()
        );
    }
}
