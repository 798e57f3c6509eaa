//! Signing the audit trail's checkpoints with a key the key service holds.

use crate::{CreateKey, KeyType, Kms, KmsError};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use webqx_audit::RequestContext;
use webqx_audit::checkpoint::{self, CHECKPOINT_KEY, Checkpoint, FORMAT};
use webqx_crypto::sign::{self, Algorithm, SignatureFormat};

impl Kms {
    /// Signs the chain head if it moved since the newest checkpoint, and stores the
    /// checkpoint. Creates the checkpoint key (Ed25519, not exportable) the first time.
    ///
    /// Signing itself writes no audit record (it would move the head it signs); the
    /// checkpoint table is its record. Creating or rotating the key is audited.
    ///
    /// # Errors
    /// [`KmsError::Sealed`] while sealed; storage and key errors.
    pub async fn checkpoint_audit(
        &self,
        ctx: &RequestContext,
    ) -> Result<Option<Checkpoint>, KmsError> {
        self.root()?;
        if !self.checkpoint_key_exists().await? {
            let req = CreateKey {
                name: CHECKPOINT_KEY.into(),
                key_type: KeyType::Ed25519,
                exportable: false,
                auto_rotate_period: None,
            };
            match self.create_key(ctx, &req).await {
                Ok(_) | Err(KmsError::KeyExists(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let (seq, hash) = webqx_audit::trail::head(&self.store).await?;
        let latest = checkpoint::latest(&self.store).await?;
        if seq == 0 || latest.is_some_and(|c| c.seq >= seq) {
            return Ok(None);
        }

        let mut ring = self.ring(CHECKPOINT_KEY, "signing", KeyType::signs).await?;
        let version = ring.key.latest_version;
        let time = webqx_store::time::rfc3339(webqx_store::now_ms());
        let hash = hex::encode(hash);
        let statement = Checkpoint::statement_for(seq, &hash, &time, CHECKPOINT_KEY, version);
        let material = ring.material(self, version).await?;
        let signature = sign::sign(
            Algorithm::Ed25519,
            material.expose(),
            statement.as_bytes(),
            SignatureFormat::Der,
        )
        .map_err(crate::error::internal)?;
        let cp = Checkpoint {
            format: FORMAT.into(),
            seq,
            hash,
            time,
            key: CHECKPOINT_KEY.into(),
            key_version: version,
            signature: B64.encode(signature),
            public_key_pem: None,
        };

        let mut tx = self.store.write().await?;
        checkpoint::store(&mut tx, &cp, webqx_store::now_ms()).await?;
        tx.commit().await?;
        metrics::counter!("webqx_audit_checkpoints_total").increment(1);
        Ok(Some(cp))
    }

    async fn checkpoint_key_exists(&self) -> Result<bool, KmsError> {
        match self.cached_row(CHECKPOINT_KEY).await {
            Ok(_) => Ok(true),
            Err(KmsError::KeyNotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// The newest stored checkpoint with its signing key's public key attached: what
/// `audit checkpoint export` writes. `None` before the first checkpoint.
///
/// # Errors
/// Storage errors.
pub async fn export_latest(store: &webqx_store::Store) -> Result<Option<Checkpoint>, KmsError> {
    let Some(mut cp) = checkpoint::latest(store).await? else {
        return Ok(None);
    };
    let keys = checkpoint::stored_public_keys(store).await?;
    let raw = keys.get(&cp.key_version).ok_or_else(|| {
        KmsError::Internal(format!(
            "no public key is stored for {CHECKPOINT_KEY} version {}",
            cp.key_version
        ))
    })?;
    cp.public_key_pem = Some(checkpoint::ed25519_pem(raw));
    Ok(Some(cp))
}
