//! Properties: any access token we sign (EdDSA or ES256, arbitrary claims) verifies to
//! the same claims, and flipping any single bit of it makes verification fail.

use proptest::prelude::*;
use webqx_oauth::jwt::{AccessTokenClaims, AccessTokenVerifier};
use webqx_oauth::{InMemorySigner, JwkSet};

const NOW: u64 = 1_800_000_000;

fn claims() -> impl Strategy<Value = AccessTokenClaims> {
    (
        ".{0,40}",
        ".{0,40}",
        prop::collection::vec(".{0,30}", 1..4),
        prop::collection::vec("[a-zA-Z0-9/.*:_-]{1,30}", 0..6),
        0..NOW,
        "[A-Za-z0-9_-]{1,64}",
    )
        .prop_map(
            |(issuer, client_id, audience, scopes, issued_at, jti)| AccessTokenClaims {
                issuer,
                subject: client_id.clone(),
                audience,
                client_id,
                scopes,
                issued_at,
                expires_at: NOW + 600,
                jti,
            },
        )
}

fn signer(ed25519: bool) -> InMemorySigner {
    if ed25519 {
        InMemorySigner::generate_ed25519("k").unwrap()
    } else {
        InMemorySigner::generate_es256("k").unwrap()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn signed_tokens_verify_to_the_same_claims(claims in claims(), ed25519 in any::<bool>()) {
        let signer = signer(ed25519);
        let keys = JwkSet::from_keys(vec![signer.public_jwk().unwrap()]).unwrap();
        let token = claims.issue(&signer).unwrap();
        let audience = claims.audience[0].clone();
        let verified = AccessTokenVerifier::new(&keys, &claims.issuer, &audience)
            .verify_at(&token, NOW)
            .unwrap();
        prop_assert_eq!(verified.claims, claims);
    }

    #[test]
    fn any_single_bit_flip_is_refused(
        claims in claims(),
        ed25519 in any::<bool>(),
        position in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let signer = signer(ed25519);
        let keys = JwkSet::from_keys(vec![signer.public_jwk().unwrap()]).unwrap();
        let token = claims.issue(&signer).unwrap();
        let mut bytes = token.into_bytes();
        let at = position.index(bytes.len());
        bytes[at] ^= 1 << bit;
        // A flip that leaves UTF-8 cannot even be offered as a token string.
        if let Ok(bent) = String::from_utf8(bytes) {
            let verifier = AccessTokenVerifier::new(&keys, &claims.issuer, &claims.audience[0]);
            prop_assert!(verifier.verify_at(&bent, NOW).is_err(), "flip at {} bit {}", at, bit);
        }
    }
}
