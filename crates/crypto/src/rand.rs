//! Randomness from the provider's DRBG.

use crate::Error;

/// Fills `out` with cryptographically secure random bytes.
///
/// # Errors
/// [`Error::Rng`] if the provider's generator fails (it does not in practice).
pub fn fill(out: &mut [u8]) -> Result<(), Error> {
    aws_lc_rs::rand::fill(out).map_err(|_| Error::Rng)
}

/// `n` random bytes.
///
/// # Errors
/// [`Error::Rng`] as for [`fill`].
pub fn bytes(n: usize) -> Result<Vec<u8>, Error> {
    let mut out = vec![0u8; n];
    fill(&mut out)?;
    Ok(out)
}

/// Adapter that lets `rand_core` 0.10 users (such as `vsss-rs`) draw from the provider.
pub(crate) struct ProviderRng;

impl rand_core::TryRng for ProviderRng {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.fill_or_abort(&mut b);
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.fill_or_abort(&mut b);
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.fill_or_abort(dst);
        Ok(())
    }
}

impl rand_core::TryCryptoRng for ProviderRng {}

impl ProviderRng {
    fn fill_or_abort(&mut self, dst: &mut [u8]) {
        // The rand_core traits used by vsss-rs are infallible; a DRBG failure leaves no
        // safe way to continue, so this is the one place that stops the process.
        if fill(dst).is_err() {
            std::process::abort();
        }
    }
}
