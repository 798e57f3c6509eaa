//! Data keys for the streaming file format ([`webqx_crypto::stream`]), for crates that
//! encrypt files in-process. The key service never sees file contents: it makes and
//! unwraps the 256-bit data key; the caller runs the stream engine with it.

use crate::{Kms, KmsError};
use webqx_audit::RequestContext;
use webqx_crypto::SecretBytes;
use webqx_crypto::stream::{DATA_KEY_LEN, FileHeader};

/// Context bound to every file data key as associated data, so a key wrapped for a
/// file does not unwrap as anything else (and the reverse). The CLI sends the same.
pub const FILE_KEY_CONTEXT: &[u8] = b"webqx-file:v1";

impl Kms {
    /// A fresh 256-bit data key for one file under key ring `ring`, and the header that
    /// carries it wrapped. Audited as `key.datakey` with the file context.
    ///
    /// # Errors
    /// As for [`Kms::datakey`].
    pub async fn file_key(
        &self,
        ctx: &RequestContext,
        ring: &str,
    ) -> Result<(FileHeader, SecretBytes), KmsError> {
        let dk = self.datakey(ctx, ring, 256, FILE_KEY_CONTEXT, true).await?;
        let key = dk
            .plaintext
            .ok_or_else(|| KmsError::Internal("data key returned without plaintext".into()))?;
        let header = FileHeader::new(ring, dk.key_version, dk.ciphertext.into_bytes());
        Ok((header, key))
    }

    /// Unwraps the data key of a file from its header. Audited as `key.decrypt`.
    /// The header is not authenticated yet: `stream::decrypt` checks it with this key.
    ///
    /// # Errors
    /// [`KmsError::Decrypt`] when the wrapped key is damaged or was not made for a file;
    /// request-wide failures as for [`Kms::decrypt`].
    pub async fn open_file_key(
        &self,
        ctx: &RequestContext,
        header: &FileHeader,
    ) -> Result<SecretBytes, KmsError> {
        let wrapped =
            String::from_utf8(header.wrapped_key.clone()).map_err(|_| KmsError::Decrypt)?;
        let items = [(wrapped, FILE_KEY_CONTEXT.to_vec())];
        let opened = self.decrypt(ctx, &header.key_name, &items).await?;
        let key = opened
            .into_iter()
            .next()
            .ok_or(KmsError::Decrypt)??
            .plaintext;
        if key.len() != DATA_KEY_LEN {
            return Err(KmsError::Decrypt);
        }
        Ok(key)
    }
}
