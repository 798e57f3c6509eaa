//! One test per refusal of the JOSE/JWT core: each forges or bends a token the way a
//! real attack does and checks the specific refusal (RFC 8725, issue 6 "Hardening").

use aws_lc_rs::hmac;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::json;
use webqx_oauth::jws::{self, MAX_TOKEN_BYTES};
use webqx_oauth::jwt::{AccessTokenClaims, AccessTokenVerifier, ClientAssertionVerifier};
use webqx_oauth::{Algorithm, InMemorySigner, Jwk, JwkSet, JwsSigner, TokenError};

const ISS: &str = "https://sec.example.test";
const AUD: &str = "https://ehr.example.test/fhir";
const TOKEN_URL: &str = "https://sec.example.test/v1/oauth/token";
const CLIENT: &str = "bulk-export-client";
const NOW: u64 = 1_800_000_000;

fn signer() -> (InMemorySigner, JwkSet) {
    let signer = InMemorySigner::generate_ed25519("sig-1").unwrap();
    let keys = JwkSet::from_keys(vec![signer.public_jwk().unwrap()]).unwrap();
    (signer, keys)
}

/// Signs any header and claims text with `signer` (the attacker controls the bytes).
fn forge(signer: &dyn JwsSigner, header: &str, claims: &str) -> String {
    let input = format!("{}.{}", B64.encode(header), B64.encode(claims));
    let signature = signer.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", B64.encode(signature))
}

fn hs256(secret: &[u8], header: &str, claims: &str) -> String {
    let input = format!("{}.{}", B64.encode(header), B64.encode(claims));
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), input.as_bytes());
    format!("{input}.{}", B64.encode(tag.as_ref()))
}

fn access_claims() -> AccessTokenClaims {
    AccessTokenClaims {
        issuer: ISS.into(),
        subject: CLIENT.into(),
        audience: vec![AUD.into()],
        client_id: CLIENT.into(),
        scopes: vec!["system/Patient.rs".into()],
        issued_at: NOW,
        expires_at: NOW + 300,
        jti: "jti-1".into(),
    }
}

fn access_json(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut claims = access_claims().to_json();
    edit(&mut claims);
    claims.to_string()
}

fn verify_access(keys: &JwkSet, token: &str) -> Result<(), TokenError> {
    AccessTokenVerifier::new(keys, ISS, AUD)
        .verify_at(token, NOW)
        .map(|_| ())
}

const AT_HEADER: &str = r#"{"alg":"EdDSA","kid":"sig-1","typ":"at+jwt"}"#;

#[test]
fn a_well_formed_access_token_passes() {
    let (signer, keys) = signer();
    let token = access_claims().issue(&signer).unwrap();
    let verified = AccessTokenVerifier::new(&keys, ISS, AUD)
        .verify_at(&token, NOW)
        .unwrap();
    assert_eq!(verified.claims, access_claims());
    assert_eq!(verified.kid.as_deref(), Some("sig-1"));
}

#[test]
fn alg_none_is_refused_in_every_casing() {
    let (_, keys) = signer();
    for none in ["none", "None", "NONE", "nOnE"] {
        let header = B64.encode(format!(
            r#"{{"alg":"{none}","kid":"sig-1","typ":"at+jwt"}}"#
        ));
        let claims = B64.encode(access_json(|_| {}));
        for token in [
            format!("{header}.{claims}."),
            format!("{header}.{claims}.AAAA"),
        ] {
            assert_eq!(
                verify_access(&keys, &token),
                Err(TokenError::AlgNone),
                "{none}"
            );
        }
    }
}

#[test]
fn hs256_signed_with_an_ec_public_key_is_refused() {
    let ec = InMemorySigner::generate_es256("ec-1").unwrap();
    let jwk = ec.public_jwk().unwrap();
    let keys = JwkSet::from_keys(vec![ec.public_jwk().unwrap()]).unwrap();
    let secrets = [
        jwk.to_public_json().unwrap().to_string().into_bytes(),
        jwk.thumbprint().into_bytes(),
    ];
    for secret in secrets {
        let header = r#"{"alg":"HS256","kid":"ec-1","typ":"at+jwt"}"#;
        let token = hs256(&secret, header, &access_json(|_| {}));
        let verifier = AccessTokenVerifier::new(&keys, ISS, AUD).with_algorithms(&Algorithm::ALL);
        assert!(matches!(
            verifier.verify_at(&token, NOW),
            Err(TokenError::KeyMismatch(_))
        ));
        // Without a kid there is no key that may check an HMAC tag at all.
        let token = hs256(
            &secret,
            r#"{"alg":"HS256","typ":"at+jwt"}"#,
            &access_json(|_| {}),
        );
        assert_eq!(
            verifier.verify_at(&token, NOW).unwrap_err(),
            TokenError::UnknownKey
        );
    }
}

#[test]
fn hs256_signed_with_an_rsa_public_key_is_refused() {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let public = pair.public_key();
    let n = B64.encode(public.modulus().big_endian_without_leading_zero());
    let e = B64.encode(public.exponent().big_endian_without_leading_zero());
    let set = json!({"keys": [{"kty": "RSA", "kid": "rsa-1", "n": n, "e": e}]}).to_string();
    let keys = JwkSet::parse_public(set.as_bytes()).unwrap();
    // The classic confusion: the public key's bytes (DER, or the JWK text) as the secret.
    for secret in [public.as_ref().to_vec(), set.clone().into_bytes()] {
        let token = hs256(&secret, r#"{"alg":"HS256","kid":"rsa-1"}"#, "{}");
        let refused = jws::verify_compact(&token, &keys, &Algorithm::ALL).unwrap_err();
        assert!(matches!(refused, TokenError::KeyMismatch(_)), "{refused:?}");
    }
}

#[test]
fn an_hmac_key_never_verifies_an_asymmetric_alg() {
    let mac = JwkSet::from_keys(vec![Jwk::symmetric(&[9; 32], Some("mac")).unwrap()]).unwrap();
    let ed = InMemorySigner::generate_ed25519("mac").unwrap();
    let token = forge(&ed, r#"{"alg":"EdDSA","kid":"mac"}"#, "{}");
    let refused = jws::verify_compact(&token, &mac, &Algorithm::ALL).unwrap_err();
    assert!(matches!(refused, TokenError::KeyMismatch(_)));
}

#[test]
fn kid_paths_and_sql_are_just_unknown_keys() {
    let (signer, keys) = signer();
    for kid in [
        "../../etc/passwd",
        "' OR 1=1 --",
        "/dev/zero",
        "sig-1\u{0}",
        "sig-1/../sig-1",
    ] {
        let header = json!({"alg": "EdDSA", "kid": kid, "typ": "at+jwt"}).to_string();
        let token = forge(&signer, &header, &access_json(|_| {}));
        assert_eq!(
            verify_access(&keys, &token),
            Err(TokenError::UnknownKey),
            "{kid:?}"
        );
    }
    let long = "a".repeat(129);
    let header = json!({"alg": "EdDSA", "kid": long, "typ": "at+jwt"}).to_string();
    let token = forge(&signer, &header, &access_json(|_| {}));
    assert_eq!(verify_access(&keys, &token), Err(TokenError::UnknownKey));
}

#[test]
fn key_choosing_headers_and_crit_are_refused() {
    let (signer, keys) = signer();
    let jwk = signer.public_jwk().unwrap().to_public_json().unwrap();
    let cases = [
        ("jku", json!("https://attacker.example/jwks.json")),
        ("x5u", json!("https://attacker.example/cert.pem")),
        ("jwk", jwk),
        ("x5c", json!(["MIIB"])),
        ("crit", json!(["exp"])),
        ("crit", json!([])),
        ("b64", json!(false)),
    ];
    for (name, value) in cases {
        let mut header = json!({"alg": "EdDSA", "kid": "sig-1", "typ": "at+jwt"});
        header[name] = value;
        let token = forge(&signer, &header.to_string(), &access_json(|_| {}));
        assert_eq!(
            verify_access(&keys, &token),
            Err(TokenError::ForbiddenHeader(name)),
            "{name}"
        );
    }
}

#[test]
fn duplicate_header_or_claim_members_are_refused() {
    let (signer, keys) = signer();
    let header = r#"{"alg":"EdDSA","kid":"sig-1","typ":"at+jwt","alg":"none"}"#;
    let token = forge(&signer, header, &access_json(|_| {}));
    assert_eq!(
        verify_access(&keys, &token),
        Err(TokenError::Malformed("header repeats a member"))
    );
    let claims = access_json(|_| {}).replacen('{', r#"{"aud":"https://other.example","#, 1);
    let token = forge(&signer, AT_HEADER, &claims);
    assert_eq!(
        verify_access(&keys, &token),
        Err(TokenError::Malformed("claims repeat a member"))
    );
}

#[test]
fn padding_and_foreign_characters_are_refused() {
    let (signer, keys) = signer();
    let token = access_claims().issue(&signer).unwrap();
    let (input, signature) = token.rsplit_once('.').unwrap();
    let (header, claims) = input.split_once('.').unwrap();
    let bent = [
        format!("{token}="),
        format!("{header}=.{claims}.{signature}"),
        format!("{header}.{claims} .{signature}"),
        // A '+' for the first character: replacing only '-'/'_' left the token
        // unchanged (and valid) whenever the random signature had neither.
        format!("{header}.{claims}.+{}", &signature[1..]),
        format!("{header}.{claims}.{signature}\n"),
        format!("{header}.{claims}.{signature}.x"),
        format!("{header}.{claims}"),
    ];
    for token in bent {
        let refused = verify_access(&keys, &token).unwrap_err();
        assert!(
            matches!(refused, TokenError::Malformed(_) | TokenError::BadSignature),
            "{refused:?}"
        );
    }
}

#[test]
fn oversize_tokens_are_refused_before_decoding() {
    let (_, keys) = signer();
    // Not even base64url: only the length can have refused it.
    let huge = "!".repeat(MAX_TOKEN_BYTES + 1);
    let refused = verify_access(&keys, &huge).unwrap_err();
    assert_eq!(
        refused,
        TokenError::TooLarge {
            len: MAX_TOKEN_BYTES + 1,
            max: MAX_TOKEN_BYTES
        }
    );
}

#[test]
fn wrong_audience_and_issuer_are_refused() {
    let (signer, keys) = signer();
    let cases = [
        (
            access_json(|c| c["aud"] = json!("https://other.example")),
            TokenError::WrongAudience,
        ),
        (
            access_json(|c| c["aud"] = json!(["a", "b"])),
            TokenError::WrongAudience,
        ),
        (
            access_json(|c| c["iss"] = json!("https://evil.example")),
            TokenError::WrongIssuer,
        ),
        (
            access_json(|c| c["iss"] = json!(ISS.to_uppercase())),
            TokenError::WrongIssuer,
        ),
    ];
    for (claims, expected) in cases {
        assert_eq!(
            verify_access(&keys, &forge(&signer, AT_HEADER, &claims)),
            Err(expected)
        );
    }
}

#[test]
fn times_are_checked_with_the_leeway_edge_inclusive() {
    let (signer, keys) = signer();
    let check = |edit: &dyn Fn(&mut serde_json::Value)| {
        let claims = access_json(|c| edit(c));
        verify_access(&keys, &forge(&signer, AT_HEADER, &claims))
    };
    // exp: 60 s past is within the default leeway, 61 s is not.
    assert_eq!(check(&|c| c["exp"] = json!(NOW - 60)), Ok(()));
    assert_eq!(
        check(&|c| c["exp"] = json!(NOW - 61)),
        Err(TokenError::Expired)
    );
    // nbf and iat: 60 s ahead is accepted, 61 s is not.
    assert_eq!(check(&|c| c["nbf"] = json!(NOW + 60)), Ok(()));
    assert_eq!(
        check(&|c| c["nbf"] = json!(NOW + 61)),
        Err(TokenError::NotYetValid)
    );
    assert_eq!(check(&|c| c["iat"] = json!(NOW + 60)), Ok(()));
    assert_eq!(
        check(&|c| c["iat"] = json!(NOW + 61)),
        Err(TokenError::IssuedInFuture)
    );
    // Dates must be numbers.
    assert_eq!(
        check(&|c| c["exp"] = json!(NOW.to_string())),
        Err(TokenError::InvalidClaim("exp"))
    );
    assert_eq!(
        check(&|c| c["exp"] = json!(1e300)),
        Err(TokenError::InvalidClaim("exp"))
    );
    assert_eq!(
        check(&|c| drop(c.as_object_mut().unwrap().remove("exp"))),
        Err(TokenError::MissingClaim("exp"))
    );
}

#[test]
fn a_configured_leeway_moves_the_edge() {
    let (signer, keys) = signer();
    let token = forge(
        &signer,
        AT_HEADER,
        &access_json(|c| c["exp"] = json!(NOW - 5)),
    );
    let strict = AccessTokenVerifier::new(&keys, ISS, AUD).with_leeway(5);
    assert!(strict.verify_at(&token, NOW).is_ok());
    assert_eq!(
        strict.verify_at(&token, NOW + 1).unwrap_err(),
        TokenError::Expired
    );
}

#[test]
fn access_tokens_need_the_at_jwt_typ() {
    let (signer, keys) = signer();
    let claims = access_json(|_| {});
    for header in [
        r#"{"alg":"EdDSA","kid":"sig-1"}"#,
        r#"{"alg":"EdDSA","kid":"sig-1","typ":"JWT"}"#,
        r#"{"alg":"EdDSA","kid":"sig-1","typ":"at+jwt+x"}"#,
        r#"{"alg":"EdDSA","kid":"sig-1","typ":7}"#,
    ] {
        let refused = verify_access(&keys, &forge(&signer, header, &claims)).unwrap_err();
        assert!(
            matches!(
                refused,
                TokenError::WrongType | TokenError::Malformed("typ")
            ),
            "{header}"
        );
    }
    let upper = r#"{"alg":"EdDSA","kid":"sig-1","typ":"application/AT+JWT"}"#;
    assert_eq!(
        verify_access(&keys, &forge(&signer, upper, &claims)),
        Ok(())
    );
}

#[test]
fn ecdsa_signatures_in_der_form_are_refused() {
    let signer = InMemorySigner::generate_es256("es").unwrap();
    let keys = JwkSet::from_keys(vec![signer.public_jwk().unwrap()]).unwrap();
    let token = jws::sign_compact(&signer, None, b"{}").unwrap();
    let (input, signature) = token.rsplit_once('.').unwrap();
    let raw = B64.decode(signature).unwrap();
    let mut der = vec![0x30, 0x44, 0x02, 0x20];
    der.extend_from_slice(&raw[..32]);
    der.extend_from_slice(&[0x02, 0x20]);
    der.extend_from_slice(&raw[32..]);
    let bent = format!("{input}.{}", B64.encode(&der));
    let refused = jws::verify_compact(&bent, &keys, &[Algorithm::ES256]).unwrap_err();
    assert_eq!(refused, TokenError::BadSignature);
}

fn assertion(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut claims = json!({
        "iss": CLIENT, "sub": CLIENT, "aud": TOKEN_URL,
        "exp": NOW + 300, "iat": NOW, "jti": "a-1",
    });
    edit(&mut claims);
    claims.to_string()
}

fn client_keys() -> (InMemorySigner, JwkSet) {
    let signer = InMemorySigner::generate_es256("client-key").unwrap();
    let public = json!({"keys": [signer.public_jwk().unwrap().to_public_json().unwrap()]});
    let keys = JwkSet::parse_public(public.to_string().as_bytes()).unwrap();
    (signer, keys)
}

fn check_assertion(claims: &str) -> Result<webqx_oauth::jwt::ClientAssertion, TokenError> {
    let (signer, keys) = client_keys();
    let token = forge(&signer, r#"{"alg":"ES256","kid":"client-key"}"#, claims);
    ClientAssertionVerifier::new(TOKEN_URL).verify_at(&token, CLIENT, &keys, NOW)
}

#[test]
fn a_well_formed_client_assertion_passes_and_exposes_jti_and_exp() {
    let verified = check_assertion(&assertion(|_| {})).unwrap();
    assert_eq!(
        (verified.jti.as_str(), verified.expires_at),
        ("a-1", NOW + 300)
    );
    let array_aud = assertion(|c| c["aud"] = json!(["https://x.example", TOKEN_URL]));
    assert!(check_assertion(&array_aud).is_ok());
    let (signer, _) = client_keys();
    let token = forge(&signer, r#"{"alg":"ES256"}"#, &assertion(|_| {}));
    assert_eq!(
        ClientAssertionVerifier::unverified_issuer(&token).unwrap(),
        CLIENT
    );
}

#[test]
fn client_assertion_lifetime_is_bounded() {
    // 5 minutes plus the 60 s leeway is the furthest exp accepted.
    assert!(check_assertion(&assertion(|c| c["exp"] = json!(NOW + 360))).is_ok());
    let far = check_assertion(&assertion(|c| c["exp"] = json!(NOW + 361)));
    assert_eq!(far.unwrap_err(), TokenError::LifetimeTooLong);
    let year = check_assertion(&assertion(|c| c["exp"] = json!(NOW + 365 * 86_400)));
    assert_eq!(year.unwrap_err(), TokenError::LifetimeTooLong);
}

#[test]
fn client_assertion_identity_and_audience_are_checked() {
    let cases = [
        (
            assertion(|c| c["sub"] = json!("someone-else")),
            TokenError::SubjectMismatch,
        ),
        (
            assertion(|c| {
                c["iss"] = json!("other-client");
                c["sub"] = json!("other-client");
            }),
            TokenError::WrongIssuer,
        ),
        (
            assertion(|c| c["aud"] = json!("https://sec.example.test/")),
            TokenError::WrongAudience,
        ),
        (
            assertion(|c| drop(c.as_object_mut().unwrap().remove("jti"))),
            TokenError::MissingClaim("jti"),
        ),
        (
            assertion(|c| c["jti"] = json!("")),
            TokenError::InvalidClaim("jti"),
        ),
        (
            assertion(|c| drop(c.as_object_mut().unwrap().remove("exp"))),
            TokenError::MissingClaim("exp"),
        ),
        (
            assertion(|c| c["exp"] = json!(NOW - 61)),
            TokenError::Expired,
        ),
    ];
    for (claims, expected) in cases {
        assert_eq!(check_assertion(&claims).unwrap_err(), expected, "{claims}");
    }
}

#[test]
fn client_assertions_signed_with_hmac_are_refused() {
    let (_, keys) = client_keys();
    let token = hs256(
        b"client_secret_used_as_hmac_key_0123",
        r#"{"alg":"HS256","kid":"client-key"}"#,
        &assertion(|_| {}),
    );
    let refused = ClientAssertionVerifier::new(TOKEN_URL).verify_at(&token, CLIENT, &keys, NOW);
    assert_eq!(refused.unwrap_err(), TokenError::AlgNotAllowed);
}

#[test]
fn errors_are_opaque_to_clients_and_hold_no_token() {
    let (signer, keys) = signer();
    let token = forge(
        &signer,
        AT_HEADER,
        &access_json(|c| c["exp"] = json!(NOW - 3600)),
    );
    let refused = verify_access(&keys, &token).unwrap_err();
    assert_eq!(refused.kind(), "expired");
    assert_eq!(
        refused.public_text(),
        TokenError::BadSignature.public_text()
    );
    let detail = format!("{refused} {refused:?}");
    assert!(
        !detail.contains(&token[..20]) && !detail.contains(CLIENT),
        "{detail}"
    );
}
