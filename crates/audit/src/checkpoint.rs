//! Signed checkpoints over the chain head.
//!
//! The chain alone proves that records fit together, not who wrote them: someone who
//! can write to the database could rebuild the whole chain. A checkpoint is an Ed25519
//! signature, by a key the key service holds (sealed with the root key), over the
//! chain head at some moment. A rebuilt chain no longer matches the signed hashes, and
//! a checkpoint exported off the box also shows the newest records being removed
//! together with the head (tail truncation), which no in-database check can.
//!
//! The signed statement is plain text, so that any Ed25519 tool can check it
//! (`openssl pkeyutl -verify -rawin`):
//!
//! ```text
//! webqx-audit-checkpoint-v1
//! seq=<n>
//! hash=<hex chain hash of record n>
//! time=<RFC 3339>
//! key=<key name>
//! version=<key version>
//! ```

use crate::AuditError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use webqx_crypto::sign::{self, Algorithm, SignatureFormat};
use webqx_store::{Row, Store, WriteTx, query};

/// Name of the key service key that signs checkpoints. Reserved: the API refuses to
/// sign with it, export it or destroy it; it can be rotated like any key.
pub const CHECKPOINT_KEY: &str = "webqx-audit-checkpoint";
/// First line of every statement, and the export file's `format`.
pub const FORMAT: &str = "webqx-audit-checkpoint-v1";
/// Largest checkpoint file read (they are a few hundred bytes).
pub const MAX_FILE_BYTES: usize = 64 * 1024;

/// A signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Always [`FORMAT`].
    pub format: String,
    /// Sequence number of the newest record covered.
    pub seq: i64,
    /// That record's chain hash, lowercase hex.
    pub hash: String,
    /// When it was signed, RFC 3339 UTC.
    pub time: String,
    /// Signing key name.
    pub key: String,
    /// Signing key version.
    pub key_version: u32,
    /// Ed25519 signature over [`Checkpoint::statement`], base64.
    pub signature: String,
    /// The public key of that version, PEM (SubjectPublicKeyInfo). In an exported file
    /// it is the trust anchor; keep the file off the box.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_pem: Option<String>,
}

impl Checkpoint {
    /// The exact text that is signed.
    pub fn statement_for(seq: i64, hash: &str, time: &str, key: &str, version: u32) -> String {
        format!("{FORMAT}\nseq={seq}\nhash={hash}\ntime={time}\nkey={key}\nversion={version}\n")
    }

    /// This checkpoint's statement.
    pub fn statement(&self) -> String {
        Checkpoint::statement_for(
            self.seq,
            &self.hash,
            &self.time,
            &self.key,
            self.key_version,
        )
    }

    /// Reads an exported checkpoint file.
    ///
    /// # Errors
    /// [`AuditError::Checkpoint`] saying what is wrong with it.
    pub fn from_json(text: &[u8]) -> Result<Checkpoint, AuditError> {
        if text.len() > MAX_FILE_BYTES {
            return Err(bad("the file is larger than a checkpoint can be (64 KiB)"));
        }
        let cp: Checkpoint = serde_json::from_slice(text)
            .map_err(|e| bad(&format!("not a checkpoint file: {e}")))?;
        cp.check_shape()?;
        Ok(cp)
    }

    /// Checks the fields a signature does not vouch for by itself: the format name, a
    /// positive sequence number, a 64-digit hash.
    ///
    /// # Errors
    /// [`AuditError::Checkpoint`] naming the field.
    pub fn check_shape(&self) -> Result<(), AuditError> {
        if self.format != FORMAT {
            return Err(bad(&format!("format must be \"{FORMAT}\"")));
        }
        if self.seq < 1 {
            return Err(bad("seq must be 1 or more"));
        }
        if self.hash.len() != 64 || hex::decode(&self.hash).is_err() {
            return Err(bad("hash must be 64 hex digits"));
        }
        Ok(())
    }

    /// The raw Ed25519 public key from `public_key_pem`.
    ///
    /// # Errors
    /// [`AuditError::Checkpoint`] if there is none or it is not an Ed25519 key.
    pub fn public_key(&self) -> Result<Vec<u8>, AuditError> {
        let pem = self
            .public_key_pem
            .as_deref()
            .ok_or_else(|| bad("the checkpoint carries no public key"))?;
        ed25519_raw_from_pem(pem)
    }

    /// Checks the signature with `public_key` (raw Ed25519, 32 bytes).
    ///
    /// # Errors
    /// [`AuditError::Checkpoint`] if it does not verify.
    pub fn check_signature(&self, public_key: &[u8]) -> Result<(), AuditError> {
        let signature = B64
            .decode(&self.signature)
            .map_err(|_| bad("signature is not base64"))?;
        let ok = sign::verify(
            Algorithm::Ed25519,
            public_key,
            self.statement().as_bytes(),
            &signature,
            SignatureFormat::Der,
        );
        if ok {
            Ok(())
        } else {
            Err(bad(&format!(
                "the signature over checkpoint {} does not verify with {} version {}",
                self.seq, self.key, self.key_version
            )))
        }
    }
}

fn bad(message: &str) -> AuditError {
    AuditError::Checkpoint(message.to_owned())
}

/// Ed25519 SubjectPublicKeyInfo DER is a fixed 12-byte prefix and the 32-byte key
/// (RFC 8410 §4).
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The raw key inside an Ed25519 SPKI DER.
///
/// # Errors
/// [`AuditError::Checkpoint`] if it is not one.
pub fn ed25519_raw_from_spki(der: &[u8]) -> Result<Vec<u8>, AuditError> {
    match der.strip_prefix(&ED25519_SPKI_PREFIX[..]) {
        Some(raw) if raw.len() == 32 => Ok(raw.to_vec()),
        _ => Err(bad("the public key is not an Ed25519 SubjectPublicKeyInfo")),
    }
}

/// A raw Ed25519 public key as SubjectPublicKeyInfo PEM.
pub fn ed25519_pem(raw: &[u8]) -> String {
    let mut der = ED25519_SPKI_PREFIX.to_vec();
    der.extend_from_slice(raw);
    sign::pem("PUBLIC KEY", &der)
}

fn ed25519_raw_from_pem(pem: &str) -> Result<Vec<u8>, AuditError> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    let der = B64
        .decode(body.trim())
        .map_err(|_| bad("public_key_pem is not PEM"))?;
    ed25519_raw_from_spki(&der)
}

/// Reads a checkpoint file, refusing anything but a regular file of at most
/// [`MAX_FILE_BYTES`] (a FIFO or `/dev/zero` must not hang or exhaust memory).
///
/// # Errors
/// [`AuditError::Checkpoint`] saying what is wrong.
pub fn read_file(path: &std::path::Path) -> Result<Checkpoint, AuditError> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)
        .map_err(|e| bad(&format!("cannot read {}: {e}", path.display())))?;
    let meta = file
        .metadata()
        .map_err(|e| bad(&format!("cannot read {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(bad(&format!("{} is not a regular file", path.display())));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| bad(&format!("cannot read {}: {e}", path.display())))?;
    Checkpoint::from_json(&bytes)
}

/// Stores a checkpoint (a second one for the same sequence number is ignored: another
/// node signed the same head).
///
/// # Errors
/// [`AuditError::Store`].
pub async fn store(tx: &mut WriteTx, cp: &Checkpoint, time_ms: i64) -> Result<(), AuditError> {
    let hash = hex::decode(&cp.hash).map_err(|_| bad("hash must be hex"))?;
    let signature = B64
        .decode(&cp.signature)
        .map_err(|_| bad("signature is not base64"))?;
    query(
        "INSERT INTO audit_checkpoints (seq, time_ms, hash, key_name, key_version, statement, \
         signature) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (seq) DO NOTHING",
    )
    .bind(cp.seq)
    .bind(time_ms)
    .bind(hash)
    .bind(&cp.key)
    .bind(i64::from(cp.key_version))
    .bind(cp.statement())
    .bind(signature)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Stored checkpoints with `from <= seq <= to`, oldest first, without public keys.
///
/// # Errors
/// [`AuditError::Store`]; [`AuditError::Corrupt`] for a row that cannot be a checkpoint.
pub async fn stored_between(
    store: &Store,
    from: i64,
    to: i64,
) -> Result<Vec<Checkpoint>, AuditError> {
    let rows = query(
        "SELECT seq, hash, key_name, key_version, statement, signature \
         FROM audit_checkpoints WHERE seq >= $1 AND seq <= $2 ORDER BY seq",
    )
    .bind(from)
    .bind(to)
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// The newest stored checkpoint, without public key.
///
/// # Errors
/// As [`stored_between`].
pub async fn latest(store: &Store) -> Result<Option<Checkpoint>, AuditError> {
    let row = query(
        "SELECT seq, hash, key_name, key_version, statement, signature \
         FROM audit_checkpoints ORDER BY seq DESC LIMIT 1",
    )
    .fetch_optional(store.pool())
    .await?;
    row.as_ref().map(from_row).transpose()
}

fn from_row(row: &webqx_store::AnyRow) -> Result<Checkpoint, AuditError> {
    let seq: i64 = row.try_get(0)?;
    let hash: Vec<u8> = row.try_get(1)?;
    let key: String = row.try_get(2)?;
    let version: i64 = row.try_get(3)?;
    let statement: String = row.try_get(4)?;
    let signature: Vec<u8> = row.try_get(5)?;
    let time = statement
        .lines()
        .find_map(|l| l.strip_prefix("time="))
        .ok_or(AuditError::Corrupt(seq))?
        .to_owned();
    let cp = Checkpoint {
        format: FORMAT.into(),
        seq,
        hash: hex::encode(hash),
        time,
        key,
        key_version: u32::try_from(version).map_err(|_| AuditError::Corrupt(seq))?,
        signature: B64.encode(signature),
        public_key_pem: None,
    };
    if cp.statement() != statement {
        return Err(AuditError::Corrupt(seq));
    }
    Ok(cp)
}

/// Public keys (raw Ed25519) of the checkpoint key's versions, as the database holds
/// them. Only as trustworthy as the database: an exported checkpoint pins the key.
///
/// # Errors
/// [`AuditError::Store`].
pub async fn stored_public_keys(
    store: &Store,
) -> Result<std::collections::BTreeMap<u32, Vec<u8>>, AuditError> {
    let rows = query(
        "SELECT v.version, v.public_key FROM key_versions v JOIN keys k ON k.id = v.key_id \
         WHERE k.name = $1",
    )
    .bind(CHECKPOINT_KEY)
    .fetch_all(store.pool())
    .await?;
    let mut out = std::collections::BTreeMap::new();
    for row in &rows {
        let version: i64 = row.try_get(0)?;
        let public: Option<Vec<u8>> = row.try_get(1)?;
        if let (Ok(v), Some(der)) = (u32::try_from(version), public)
            && let Ok(raw) = ed25519_raw_from_spki(&der)
        {
            out.insert(v, raw);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_is_the_documented_text() {
        assert_eq!(
            Checkpoint::statement_for(7, "ab", "2026-12-04T00:00:00Z", CHECKPOINT_KEY, 2),
            "webqx-audit-checkpoint-v1\nseq=7\nhash=ab\ntime=2026-12-04T00:00:00Z\n\
             key=webqx-audit-checkpoint\nversion=2\n"
        );
    }

    #[test]
    fn files_are_checked_before_use() {
        for bad_file in [
            &b"{}"[..],
            b"not json",
            br#"{"format":"other","seq":1,"hash":"00","time":"t","key":"k","key_version":1,"signature":""}"#,
        ] {
            assert!(matches!(
                Checkpoint::from_json(bad_file),
                Err(AuditError::Checkpoint(_))
            ));
        }
        let huge = vec![b' '; MAX_FILE_BYTES + 1];
        assert!(Checkpoint::from_json(&huge).is_err());
    }
}
