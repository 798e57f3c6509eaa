//! The PKCS#11 seal from the server's side: reading the PIN by reference, and the
//! automatic unseal at start-up, on every scheduler tick while sealed, and on
//! `POST /v1/sys/unseal`.

use crate::config::Config;
use std::path::{Path, PathBuf};
use webqx_audit::RequestContext;
use webqx_crypto::SecretBytes;
use webqx_kms::pkcs11::Pkcs11Login;
use webqx_kms::{Kms, KmsError, Pkcs11Access};

/// The environment variable that may hold the HSM PIN (when `seal.pin_file` is empty).
pub const PIN_ENV: &str = "WEBQX_HSM_PIN";

/// Reads the PIN from `seal.pin_file` or `WEBQX_HSM_PIN`. The message says what to fix
/// and never holds the PIN.
///
/// # Errors
/// A message when neither is set, the file cannot be read, is open to other users, or
/// is empty.
pub fn read_pin(config: &Config) -> Result<SecretBytes, String> {
    let file = &config.seal.pin_file;
    if file.is_empty() {
        return match std::env::var(PIN_ENV) {
            Ok(pin) if !pin.is_empty() => Ok(SecretBytes::from_slice(pin.as_bytes())),
            _ => Err(format!(
                "no HSM PIN: set seal.pin_file to a 0600 file holding it, or the \
                 environment variable {PIN_ENV}"
            )),
        };
    }
    read_pin_file(Path::new(file))
}

/// Reads a PIN file: one line, mode 0600 (refused when others may read it), the line
/// ending dropped.
///
/// # Errors
/// A message naming the file and what to fix; never the PIN.
pub fn read_pin_file(path: &Path) -> Result<SecretBytes, String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| format!("seal.pin_file {} cannot be read: {e}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "seal.pin_file {} is readable by other users (mode {:o}); run `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            ));
        }
    }
    let bytes = std::fs::read(path)
        .map_err(|e| format!("seal.pin_file {} cannot be read: {e}", path.display()))?;
    let pin = SecretBytes::new(bytes);
    let text = pin.expose();
    let end = text
        .iter()
        .rposition(|b| !matches!(b, b'\n' | b'\r'))
        .map_or(0, |i| i + 1);
    if end == 0 {
        return Err(format!("seal.pin_file {} is empty", path.display()));
    }
    Ok(SecretBytes::from_slice(text.get(..end).unwrap_or_default()))
}

/// What `init --hsm` needs: module, token and PIN, all from the configuration.
///
/// # Errors
/// A message naming the missing setting.
pub fn init_login(config: &Config) -> Result<Pkcs11Login, String> {
    let seal = &config.seal;
    if seal.module.is_empty() || seal.token_label.is_empty() {
        return Err(
            "init --hsm needs seal.module (the PKCS#11 library) and seal.token_label in the \
             configuration (or WEBQX_SEAL_MODULE and WEBQX_SEAL_TOKEN_LABEL)"
                .into(),
        );
    }
    Ok(Pkcs11Login {
        module: PathBuf::from(&seal.module),
        token_label: seal.token_label.clone(),
        pin: read_pin(config)?,
    })
}

fn access(config: &Config) -> Pkcs11Access {
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    Pkcs11Access {
        module: non_empty(&config.seal.module).map(PathBuf::from),
        token_label: non_empty(&config.seal.token_label),
        pin: read_pin(config),
    }
}

/// One attempt to unseal through the HSM, when the service is initialized with a
/// PKCS#11 seal and sealed. `explicit` attempts (an operator's `POST /v1/sys/unseal`)
/// also lift a deliberate `sys seal`. Returns whether the service is unsealed; a failure
/// is logged once per distinct error and kept for `/v1/sys/seal-status`.
///
/// # Errors
/// What the key service says (module, token, PIN or key missing).
pub async fn try_unseal(
    config: &Config,
    kms: &Kms,
    ctx: &RequestContext,
    explicit: bool,
) -> Result<bool, KmsError> {
    if !kms.is_sealed() {
        return Ok(true);
    }
    if !kms.is_pkcs11_sealed().await? {
        return Ok(false);
    }
    let before = kms.last_hsm_error();
    let result = kms.unseal_with_pkcs11(ctx, access(config), explicit).await;
    let outcome = match &result {
        Ok(true) => "unsealed",
        Ok(false) => "held",
        Err(_) => "failed",
    };
    metrics::counter!("webqx_kms_hsm_unseal_attempts_total", "outcome" => outcome).increment(1);
    match &result {
        Ok(true) => tracing::info!("unsealed by the HSM (PKCS#11)"),
        Ok(false) => {}
        Err(e) if before.as_deref() != Some(&e.to_string()) => {
            tracing::error!(error = %e, "still sealed: the HSM did not unseal the service; retrying on every scheduler tick");
        }
        Err(e) => tracing::debug!(error = %e, "HSM unseal retry failed"),
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn pin_file(dir: &Path, text: &[u8], mode: u32) -> PathBuf {
        let path = dir.join("pin");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn pin_file_is_one_line_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = pin_file(dir.path(), b"12 34\r\n", 0o600);
        assert_eq!(read_pin_file(&path).unwrap().expose(), b"12 34");

        let path = pin_file(dir.path(), b"1234\n", 0o644);
        let e = read_pin_file(&path).unwrap_err();
        assert!(e.contains("chmod 600") && !e.contains("1234"), "{e}");

        let path = pin_file(dir.path(), b"\n", 0o600);
        assert!(read_pin_file(&path).unwrap_err().contains("empty"));
        let e = read_pin_file(&dir.path().join("absent")).unwrap_err();
        assert!(e.contains("cannot be read"), "{e}");
    }
}
