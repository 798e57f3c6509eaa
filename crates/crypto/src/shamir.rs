//! Shamir secret sharing of the unseal key over GF(256), by `vsss-rs`.
//!
//! A share is printed as `wqxs1-<hex>`, where the hex holds an 8-byte set id (random,
//! the same for every share of one split), the share's index byte, the share bytes, and
//! a 4-byte SHA-256 check so that a mistyped share is reported as mistyped instead of
//! silently producing a wrong key. The set id lets the service refuse shares of another
//! split, and makes a well-formed share hard to forge for anyone who holds none.

use crate::{Error, SecretBytes};
use vsss_rs::Gf256;
use zeroize::Zeroizing;

const PREFIX: &str = "wqxs1-";
const CHECK_LEN: usize = 4;
/// Length of the set id that starts every share.
pub const SET_ID_LEN: usize = 8;

/// Largest number of shares.
pub const MAX_SHARES: usize = 255;

/// Splits `secret` into `shares` shares of which any `threshold` recover it.
///
/// `threshold` must be at least 2 and at most `shares`; a single share (1 of 1) is the
/// secret itself, encoded like a share.
///
/// # Errors
/// [`Error::InvalidParameter`] for impossible counts.
pub fn split(
    secret: &[u8],
    threshold: usize,
    shares: usize,
    set_id: [u8; SET_ID_LEN],
) -> Result<Vec<SecretBytes>, Error> {
    check_counts(threshold, shares)?;
    if secret.is_empty() {
        return Err(Error::InvalidParameter("cannot split an empty secret"));
    }
    let raw = if shares == 1 {
        let mut only = vec![1u8];
        only.extend_from_slice(secret);
        vec![only]
    } else {
        Gf256::split_array(threshold, shares, secret, crate::rand::ProviderRng)
            .map_err(|_| Error::InvalidParameter("share counts rejected by the splitter"))?
    };
    Ok(raw
        .into_iter()
        .map(|share| SecretBytes::from(encode(&set_id, Zeroizing::new(share))))
        .collect())
}

/// Checks share counts before anything is split.
///
/// # Errors
/// [`Error::InvalidParameter`] saying what is allowed.
pub fn check_counts(threshold: usize, shares: usize) -> Result<(), Error> {
    if shares == 0 || shares > MAX_SHARES {
        return Err(Error::InvalidParameter(
            "the number of shares must be 1 to 255",
        ));
    }
    if shares == 1 && threshold == 1 {
        return Ok(());
    }
    if threshold < 2 || threshold > shares {
        return Err(Error::InvalidParameter(
            "the threshold must be at least 2 and no more than the number of shares \
             (or 1 of 1)",
        ));
    }
    Ok(())
}

fn encode(set_id: &[u8; SET_ID_LEN], share: Zeroizing<Vec<u8>>) -> Vec<u8> {
    let mut body = Zeroizing::new(set_id.to_vec());
    body.extend_from_slice(&share);
    let check = crate::sha256(&body);
    body.extend_from_slice(&check[..CHECK_LEN]);
    let mut out = PREFIX.as_bytes().to_vec();
    out.extend_from_slice(hex::encode(&*body).as_bytes());
    out
}

/// A decoded share: its index (1-255) and bytes.
pub struct Share {
    /// Which split it belongs to.
    pub set_id: [u8; SET_ID_LEN],
    /// The share's x-coordinate.
    pub index: u8,
    bytes: SecretBytes,
}

impl std::fmt::Debug for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Share {{ index: {}, .. }}", self.index)
    }
}

/// Decodes and checks one printed share.
///
/// # Errors
/// [`Error::Share`] saying what is wrong with it (prefix, hex, length, check digits).
pub fn decode(text: &str) -> Result<Share, Error> {
    let text = text.trim();
    let hex_part = text
        .strip_prefix(PREFIX)
        .ok_or_else(|| Error::Share(format!("a share starts with '{PREFIX}'")))?;
    let body = Zeroizing::new(
        hex::decode(hex_part)
            .map_err(|_| Error::Share("the share is not valid hex after its prefix".into()))?,
    );
    if body.len() < SET_ID_LEN + 2 + CHECK_LEN {
        return Err(Error::Share(
            "the share is too short; was it cut off?".into(),
        ));
    }
    let (signed, check) = body.split_at(body.len() - CHECK_LEN);
    if !crate::ct_eq(&crate::sha256(signed)[..CHECK_LEN], check) {
        return Err(Error::Share(
            "the share's check digits do not match; is it mistyped?".into(),
        ));
    }
    let (set, share) = signed.split_at(SET_ID_LEN);
    let mut set_id = [0u8; SET_ID_LEN];
    set_id.copy_from_slice(set);
    if share[0] == 0 {
        return Err(Error::Share(
            "the share has index 0, which no valid share has".into(),
        ));
    }
    Ok(Share {
        set_id,
        index: share[0],
        bytes: SecretBytes::from_slice(share),
    })
}

/// Combines decoded shares into the secret.
///
/// With fewer shares than the threshold this returns *a* value, not the secret;
/// callers authenticate the result (the unseal key opens an AEAD-sealed root key).
///
/// # Errors
/// [`Error::Share`] for duplicate indices or shares of different lengths.
pub fn combine(shares: &[Share]) -> Result<SecretBytes, Error> {
    match shares {
        [] => Err(Error::Share("no shares given".into())),
        [one] => Ok(SecretBytes::from_slice(&one.bytes.expose()[1..])),
        _ => {
            let mut seen = std::collections::HashSet::new();
            if !shares.iter().all(|s| seen.insert(s.index)) {
                return Err(Error::Share("the same share was given twice".into()));
            }
            let raw: Vec<Vec<u8>> = shares.iter().map(|s| s.bytes.expose().to_vec()).collect();
            let raw = Zeroizing::new(raw);
            Gf256::combine_array(&*raw)
                .map(SecretBytes::new)
                .map_err(|_| Error::Share("the shares do not belong together".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &SecretBytes) -> String {
        String::from_utf8(s.expose().to_vec()).unwrap()
    }

    #[test]
    fn any_threshold_subset_recovers() {
        let secret = [42u8; 32];
        let shares = split(&secret, 3, 5, [1; 8]).unwrap();
        let decoded: Vec<Share> = shares.iter().map(|s| decode(&text(s)).unwrap()).collect();
        let picks = [[0, 1, 2], [4, 2, 0], [1, 3, 4]];
        for pick in picks {
            let subset: Vec<Share> = pick
                .iter()
                .map(|&i| decode(&text(&shares[i])).unwrap())
                .collect();
            assert_eq!(combine(&subset).unwrap().expose(), &secret);
        }
        assert_ne!(combine(&decoded[..2]).unwrap().expose(), &secret);
    }

    #[test]
    fn one_of_one() {
        let shares = split(b"k", 1, 1, [1; 8]).unwrap();
        assert_eq!(
            combine(&[decode(&text(&shares[0])).unwrap()])
                .unwrap()
                .expose(),
            b"k"
        );
    }

    #[test]
    fn typos_and_bad_counts_are_reported() {
        let shares = split(&[9u8; 32], 2, 3, [1; 8]).unwrap();
        let mut t = text(&shares[0]);
        let last = t.pop().unwrap();
        t.push(if last == '0' { '1' } else { '0' });
        assert!(matches!(decode(&t), Err(Error::Share(m)) if m.contains("mistyped")));
        assert!(decode("nope").is_err());
        assert!(decode("wqxs1-zz").is_err());
        assert!(split(b"k", 1, 3, [1; 8]).is_err());
        assert!(split(b"k", 4, 3, [1; 8]).is_err());
        assert!(split(b"k", 2, 256, [1; 8]).is_err());
        let a = decode(&text(&shares[0])).unwrap();
        let b = decode(&text(&shares[0])).unwrap();
        assert!(combine(&[a, b]).is_err());
    }
}
