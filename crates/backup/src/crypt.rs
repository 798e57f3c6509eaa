//! The encrypted file around the archive: `webqx_crypto::stream` with the backup key.

use crate::BackupError;
use std::io::{Read, Write};
use std::path::Path;
use tokio::sync::mpsc;
use webqx_crypto::SecretBytes;
use webqx_crypto::stream::{self, FileHeader, StreamOptions};
use webqx_kms::backup::{BACKUP_KEY_NAME, BackupKey, Credentials};

/// Encrypts the chunks arriving on `rx` into `output`, on a blocking thread. An empty
/// chunk ends the input; a channel closed before it makes the encryption fail, so an
/// interrupted snapshot never ends in a valid final segment.
pub(crate) fn spawn_encrypt(
    key: BackupKey,
    rx: mpsc::Receiver<Vec<u8>>,
    output: impl Write + Send + 'static,
) -> tokio::task::JoinHandle<Result<u64, BackupError>> {
    tokio::task::spawn_blocking(move || {
        let header = FileHeader::new(BACKUP_KEY_NAME, 1, key.wrapped.clone())
            .with_extensions(key.seal_block.clone());
        let input = ChannelReader {
            rx,
            chunk: Vec::new(),
            pos: 0,
            ended: false,
        };
        stream::encrypt(
            &header,
            key.data_key.expose(),
            input,
            output,
            &StreamOptions::default(),
        )
        .map_err(|e| BackupError::Io(format!("writing the encrypted backup failed: {e}")))
    })
}

struct ChannelReader {
    rx: mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
    ended: bool,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.chunk.len() {
            if self.ended {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(next) if next.is_empty() => self.ended = true,
                Some(next) => {
                    self.chunk = next;
                    self.pos = 0;
                }
                None => {
                    return Err(std::io::Error::other(
                        "the snapshot stopped before it was complete",
                    ));
                }
            }
        }
        let rest = self.chunk.get(self.pos..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

/// What a backup's header says, readable without credentials.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HeaderInfo {
    /// Key name in the header (`webqx-root` for backups).
    pub key_name: String,
    /// Seal kind whose credentials open it.
    pub seal_kind: String,
}

fn read_header(file: &Path) -> Result<(FileHeader, std::fs::File), BackupError> {
    let mut input = std::fs::File::open(file)
        .map_err(|e| BackupError::Io(format!("cannot open {}: {e}", file.display())))?;
    let header =
        stream::read_header(&mut input).map_err(|e| BackupError::Stream(format!("header: {e}")))?;
    if header.key_name != BACKUP_KEY_NAME {
        return Err(BackupError::Refused(format!(
            "{} is an encrypted file under key '{}', not a WebQx backup; decrypt it with \
             `webqx-sec file decrypt`",
            file.display(),
            header.key_name
        )));
    }
    Ok((header, input))
}

/// Reads a backup's header: which seal's credentials it needs.
///
/// # Errors
/// [`BackupError`] when the file is not a backup or its header is damaged.
pub fn read_header_info(file: &Path) -> Result<HeaderInfo, BackupError> {
    let (header, _) = read_header(file)?;
    Ok(HeaderInfo {
        key_name: header.key_name.clone(),
        seal_kind: webqx_kms::backup::seal_kind_of(&header.extensions)?,
    })
}

/// Opens a backup file: its header, its data key (from the credentials) and the input
/// positioned after the header.
pub(crate) fn open_file(
    file: &Path,
    credentials: &Credentials,
) -> Result<(FileHeader, SecretBytes, std::fs::File), BackupError> {
    let (header, input) = read_header(file)?;
    let key =
        webqx_kms::backup::open_backup_key(&header.extensions, &header.wrapped_key, credentials)?;
    Ok((header, key, input))
}

/// Decrypts the body into `output`, checking every segment.
pub(crate) fn decrypt(
    header: &FileHeader,
    key: &SecretBytes,
    input: impl Read,
    output: impl Write,
) -> Result<u64, BackupError> {
    stream::decrypt(
        header,
        key.expose(),
        input,
        output,
        &StreamOptions::default(),
    )
    .map_err(|e| BackupError::Stream(e.to_string()))
}
