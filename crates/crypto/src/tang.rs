//! P-521 primitives for the Tang protocol (McCallum-Relyea exchange, as clevis uses it):
//! validated curve points, private scalars, point multiplication, and ES512 signatures.
//!
//! Signing (ECDSA P-521 with SHA-512, fixed-width `r || s` as JWS ES512 wants) and key
//! generation use `aws-lc-rs`. The exchange needs a raw multiplication of a peer's
//! point by our private scalar, which `aws-lc-rs` does not offer (its ECDH hashes
//! nothing but returns only the x coordinate, and Tang needs the whole point): that one
//! operation uses RustCrypto's `p521` arithmetic, which is constant-time in the scalar.
//!
//! Private scalars travel as 66-byte big-endian integers inside [`SecretBytes`].

use crate::{Error, SecretBytes};
use aws_lc_rs::encoding::AsBigEndian;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P521_SHA512_FIXED, ECDSA_P521_SHA512_FIXED_SIGNING, EcdsaKeyPair, UnparsedPublicKey,
};
use p521::elliptic_curve::sec1::ToSec1Point;

/// Bytes of a P-521 coordinate or scalar.
pub const COORD_LEN: usize = 66;

/// A point on P-521, checked to lie on the curve and not to be the identity.
#[derive(Clone, PartialEq, Eq)]
pub struct Point {
    x: [u8; COORD_LEN],
    y: [u8; COORD_LEN],
}

impl std::fmt::Debug for Point {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Point(x={})", hex::encode(&self.x[..8]))
    }
}

impl Point {
    /// A point from its affine coordinates (66 bytes each, big-endian).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless both are 66 bytes and name a point on the curve
    /// other than the identity.
    pub fn from_coordinates(x: &[u8], y: &[u8]) -> Result<Point, Error> {
        if x.len() != COORD_LEN || y.len() != COORD_LEN {
            return Err(Error::InvalidParameter(
                "a P-521 coordinate is 66 bytes (88 base64url characters)",
            ));
        }
        let mut sec1 = Vec::with_capacity(1 + 2 * COORD_LEN);
        sec1.push(4);
        sec1.extend_from_slice(x);
        sec1.extend_from_slice(y);
        Point::from_uncompressed(&sec1)
    }

    /// A point from its SEC1 uncompressed encoding (`04 || x || y`).
    ///
    /// # Errors
    /// As for [`Point::from_coordinates`].
    pub fn from_uncompressed(sec1: &[u8]) -> Result<Point, Error> {
        let key = p521::PublicKey::from_sec1_bytes(sec1)
            .map_err(|_| Error::InvalidParameter("the point is not on the P-521 curve"))?;
        Point::from_affine(key.as_affine())
    }

    fn from_affine(p: &p521::AffinePoint) -> Result<Point, Error> {
        let enc = p.to_sec1_point(false);
        let (Some(x), Some(y)) = (enc.x(), enc.y()) else {
            return Err(Error::InvalidParameter("the point is the identity"));
        };
        let mut out = Point {
            x: [0; COORD_LEN],
            y: [0; COORD_LEN],
        };
        out.x.copy_from_slice(x);
        out.y.copy_from_slice(y);
        Ok(out)
    }

    /// The x coordinate, 66 bytes big-endian.
    pub fn x(&self) -> &[u8; COORD_LEN] {
        &self.x
    }

    /// The y coordinate, 66 bytes big-endian.
    pub fn y(&self) -> &[u8; COORD_LEN] {
        &self.y
    }

    /// SEC1 uncompressed encoding, `04 || x || y`.
    pub fn uncompressed(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + 2 * COORD_LEN);
        out.push(4);
        out.extend_from_slice(&self.x);
        out.extend_from_slice(&self.y);
        out
    }

    /// The RFC 7638 thumbprint input: the required members of the EC public JWK
    /// (`crv`, `kty`, `x`, `y`), in that order, without white space.
    pub fn thumbprint_input(&self) -> String {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            r#"{{"crv":"P-521","kty":"EC","x":"{}","y":"{}"}}"#,
            b64.encode(self.x),
            b64.encode(self.y)
        )
    }

    /// The JWK thumbprint (RFC 7638) with `hash`, base64url without padding.
    pub fn thumbprint(&self, hash: ThumbprintHash) -> String {
        use base64::Engine as _;
        let digest =
            aws_lc_rs::digest::digest(hash.algorithm(), self.thumbprint_input().as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
    }

    /// True if `thp` is this key's thumbprint under any hash `jose` knows (clevis pins
    /// with SHA-256 today and SHA-1 in older bindings). Thumbprints are public.
    pub fn has_thumbprint(&self, thp: &str) -> bool {
        ThumbprintHash::ALL
            .iter()
            .any(|h| self.thumbprint(*h) == thp)
    }

    fn to_p521(&self) -> Result<p521::ProjectivePoint, Error> {
        let key = p521::PublicKey::from_sec1_bytes(&self.uncompressed())
            .map_err(|_| Error::InvalidParameter("the point is not on the P-521 curve"))?;
        Ok(key.to_projective())
    }
}

/// The hashes a JWK thumbprint may use (the names are `jose`'s: S1, S224, S256, S384,
/// S512).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThumbprintHash {
    /// SHA-1 (old Tang bindings).
    S1,
    /// SHA-224.
    S224,
    /// SHA-256 (clevis's default).
    S256,
    /// SHA-384.
    S384,
    /// SHA-512.
    S512,
}

impl ThumbprintHash {
    /// Every hash, SHA-256 first.
    pub const ALL: [ThumbprintHash; 5] = [
        ThumbprintHash::S256,
        ThumbprintHash::S1,
        ThumbprintHash::S224,
        ThumbprintHash::S384,
        ThumbprintHash::S512,
    ];

    fn algorithm(self) -> &'static aws_lc_rs::digest::Algorithm {
        use aws_lc_rs::digest;
        match self {
            ThumbprintHash::S1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            ThumbprintHash::S224 => &digest::SHA224,
            ThumbprintHash::S256 => &digest::SHA256,
            ThumbprintHash::S384 => &digest::SHA384,
            ThumbprintHash::S512 => &digest::SHA512,
        }
    }
}

fn scalar(private: &[u8]) -> Result<p521::NonZeroScalar, Error> {
    if private.len() != COORD_LEN {
        return Err(Error::KeyLength {
            expected: "66 bytes (a P-521 scalar)",
            got: private.len(),
        });
    }
    let key = p521::SecretKey::from_slice(private).map_err(|_| Error::InvalidKey)?;
    Ok(key.to_nonzero_scalar())
}

/// A new private scalar (from the provider's generator), 66 bytes big-endian.
///
/// # Errors
/// [`Error::Rng`] if generation fails.
pub fn generate() -> Result<SecretBytes, Error> {
    let pair = EcdsaKeyPair::generate(&ECDSA_P521_SHA512_FIXED_SIGNING).map_err(|_| Error::Rng)?;
    let bin = pair.private_key().as_be_bytes().map_err(|_| Error::Rng)?;
    let bytes = SecretBytes::from_slice(bin.as_ref());
    if bytes.len() != COORD_LEN {
        return Err(Error::InvalidKey);
    }
    Ok(bytes)
}

/// The public point of a private scalar (`d·G`).
///
/// # Errors
/// [`Error::KeyLength`] or [`Error::InvalidKey`] for a malformed scalar.
pub fn public_point(private: &[u8]) -> Result<Point, Error> {
    let d = scalar(private)?;
    let p = (p521::ProjectivePoint::GENERATOR * *d).to_affine();
    Point::from_affine(&p)
}

/// `d·P`: the peer's point multiplied by our private scalar (the server's half of the
/// McCallum-Relyea exchange).
///
/// # Errors
/// [`Error::KeyLength`] or [`Error::InvalidKey`] for a malformed scalar.
pub fn multiply(private: &[u8], point: &Point) -> Result<Point, Error> {
    let d = scalar(private)?;
    let p = (point.to_p521()? * *d).to_affine();
    Point::from_affine(&p)
}

/// ES512 signature of `message` (ECDSA P-521, SHA-512, `r || s`, 132 bytes).
///
/// # Errors
/// [`Error::InvalidKey`] for a malformed scalar; [`Error::Rng`] if signing fails.
pub fn sign_es512(private: &[u8], message: &[u8]) -> Result<Vec<u8>, Error> {
    let public = public_point(private)?.uncompressed();
    let pair = EcdsaKeyPair::from_private_key_and_public_key(
        &ECDSA_P521_SHA512_FIXED_SIGNING,
        private,
        &public,
    )
    .map_err(|_| Error::InvalidKey)?;
    let sig = pair
        .sign(&SystemRandom::new(), message)
        .map_err(|_| Error::Rng)?;
    Ok(sig.as_ref().to_vec())
}

/// Checks an ES512 signature.
pub fn verify_es512(public: &Point, message: &[u8], signature: &[u8]) -> bool {
    UnparsedPublicKey::new(&ECDSA_P521_SHA512_FIXED, public.uncompressed())
        .verify(message, signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar_of(k: u64) -> Vec<u8> {
        let mut s = vec![0u8; COORD_LEN];
        s[COORD_LEN - 8..].copy_from_slice(&k.to_be_bytes());
        s
    }

    /// P-521 base point G, from SEC 2 v2 §2.6.1 / FIPS 186-4 D.1.2.5.
    const GX: &str = "00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66";
    const GY: &str = "011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650";

    #[test]
    fn one_times_g_is_the_published_base_point() {
        let g = public_point(&scalar_of(1)).unwrap();
        assert_eq!(hex::encode(g.x()), GX);
        assert_eq!(hex::encode(g.y()), GY);
    }

    /// k·G for k = 2 and 3: the "NIST P-521" point-multiplication test vectors published
    /// at http://point-at-infinity.org/ecc/nisttv (k = 1..20 and large k), checked here
    /// against OpenSSL 3 as well.
    #[test]
    fn small_multiples_of_g_match_published_vectors() {
        let two_x = "00433c219024277e7e682fcb288148c282747403279b1ccc06352c6e5505d769be97b3b204da6ef55507aa104a3a35c5af41cf2fa364d60fd967f43e3933ba6d783d";
        let two_y = "00f4bb8cc7f86db26700a7f3eceeeed3f0b5c6b5107c4da97740ab21a29906c42dbbb3e377de9f251f6b93937fa99a3248f4eafcbe95edc0f4f71be356d661f41b02";
        let g =
            Point::from_coordinates(&hex::decode(GX).unwrap(), &hex::decode(GY).unwrap()).unwrap();
        let two_g = multiply(&scalar_of(2), &g).unwrap();
        assert_eq!(hex::encode(two_g.x()), two_x);
        assert_eq!(hex::encode(two_g.y()), two_y);
        assert_eq!(public_point(&scalar_of(2)).unwrap(), two_g);
        let three_g = multiply(&scalar_of(3), &g).unwrap();
        assert_eq!(
            hex::encode(three_g.x()),
            "01a73d352443de29195dd91d6a64b5959479b52a6e5b123d9ab9e5ad7a112d7a8dd1ad3f164a3a4832051da6bd16b59fe21baeb490862c32ea05a5919d2ede37ad7d"
        );
        assert_eq!(
            hex::encode(three_g.y()),
            "013e9b03b97dfa62ddd9979f86c6cab814f2f1557fa82a9d0317d2f8ab1fa355ceec2e2dd4cf8dc575b02d5aced1dec3c70cf105c9bc93a590425f588ca1ee86c0e5"
        );
    }

    #[test]
    fn exchange_commutes() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        let pa = public_point(a.expose()).unwrap();
        let pb = public_point(b.expose()).unwrap();
        let ab = multiply(a.expose(), &pb).unwrap();
        let ba = multiply(b.expose(), &pa).unwrap();
        assert_eq!(ab, ba);
        assert_ne!(ab, pa);
    }

    #[test]
    fn points_off_the_curve_or_of_wrong_length_are_refused() {
        let x = hex::decode(GX).unwrap();
        let mut y = hex::decode(GY).unwrap();
        assert!(Point::from_coordinates(&x, &y).is_ok());
        assert!(Point::from_coordinates(&x[1..], &y).is_err());
        assert!(Point::from_coordinates(&x, &[0u8; 67]).is_err());
        y[65] ^= 1;
        assert!(Point::from_coordinates(&x, &y).is_err());
        assert!(Point::from_coordinates(&[0u8; 66], &[0u8; 66]).is_err());
        assert!(Point::from_uncompressed(&[0]).is_err(), "identity");
    }

    #[test]
    fn scalars_out_of_range_are_refused() {
        assert!(public_point(&[0u8; 66]).is_err(), "zero");
        assert!(public_point(&[0xffu8; 66]).is_err(), "above the order");
        assert!(public_point(&[1u8; 65]).is_err(), "short");
    }

    #[test]
    fn es512_signatures_verify_and_tampering_fails() {
        let d = generate().unwrap();
        let p = public_point(d.expose()).unwrap();
        let sig = sign_es512(d.expose(), b"advertisement").unwrap();
        assert_eq!(sig.len(), 132);
        assert!(verify_es512(&p, b"advertisement", &sig));
        assert!(!verify_es512(&p, b"advertisemenT", &sig));
    }
}
