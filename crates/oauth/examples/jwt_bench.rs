//! Access-token benchmark (figures for docs/benchmarks.md; not a test), one thread:
//!
//! - verifications per second of an RFC 9068 access token through the full
//!   [`AccessTokenVerifier`] (size check, strict base64url, header and claims JSON with
//!   duplicate checks, key lookup, signature, claims) beside raw aws-lc-rs verification
//!   of the same signing input and signature with an already-parsed key;
//! - tokens issued per second ([`AccessTokenClaims::issue`]: claims JSON, base64url,
//!   signature) beside raw aws-lc-rs signing of the same signing input.
//!
//! cargo run --release -p webqx-oauth --example jwt_bench -- [SECONDS_PER_FIGURE]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, ParsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use std::hint::black_box;
use std::time::{Duration, Instant};
use webqx_oauth::jwt::{AccessTokenClaims, AccessTokenVerifier, now_secs};
use webqx_oauth::{InMemorySigner, JwkSet};

const ISS: &str = "https://sec.example.test";
const AUD: &str = "https://ehr.example.test/fhir";

/// Runs `op` repeatedly for `budget` and returns operations per second.
fn rate(budget: Duration, mut op: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut count = 0u64;
    while start.elapsed() < budget {
        for _ in 0..64 {
            op();
        }
        count += 64;
    }
    count as f64 / start.elapsed().as_secs_f64()
}

fn claims(now: u64) -> AccessTokenClaims {
    AccessTokenClaims {
        issuer: ISS.into(),
        subject: "bulk-export-client".into(),
        audience: vec![AUD.into()],
        client_id: "bulk-export-client".into(),
        scopes: vec!["system/Patient.rs".into(), "system/Observation.rs".into()],
        issued_at: now,
        expires_at: now + 300,
        jti: "3q2-7wE9QmWcS0sMqfW5Xw".into(),
    }
}

/// The public key bytes aws-lc-rs takes (Ed25519 `x`, or the SEC1 point `04||x||y`).
fn raw_public_key(signer: &InMemorySigner) -> Vec<u8> {
    let jwk = signer
        .public_jwk()
        .expect("jwk")
        .to_public_json()
        .expect("public");
    let member = |name: &str| {
        B64.decode(jwk[name].as_str().unwrap_or_default())
            .expect("b64")
    };
    match jwk["kty"].as_str() {
        Some("OKP") => member("x"),
        _ => [vec![4], member("x"), member("y")].concat(),
    }
}

fn bench(
    name: &str,
    signer: &InMemorySigner,
    raw_sign: &dyn Fn(&[u8]) -> Vec<u8>,
    budget: Duration,
) {
    let keys = JwkSet::from_keys(vec![signer.public_jwk().expect("jwk")]).expect("set");
    let now = now_secs();
    let claims = claims(now);
    let token = claims.issue(signer).expect("issue");
    let (input, signature) = token.rsplit_once('.').expect("compact");
    let signature = B64.decode(signature).expect("signature");
    let algorithm: &'static dyn signature::VerificationAlgorithm = match name {
        "EdDSA" => &signature::ED25519,
        _ => &signature::ECDSA_P256_SHA256_FIXED,
    };
    let parsed = ParsedPublicKey::new(algorithm, raw_public_key(signer)).expect("key");
    let verifier = AccessTokenVerifier::new(&keys, ISS, AUD);
    verifier.verify_at(&token, now).expect("token verifies");
    emit(name, &token, signer);

    let full_verify = rate(budget, || {
        black_box(verifier.verify_at(black_box(&token), now).is_ok());
    });
    let raw_verify = rate(budget, || {
        black_box(
            parsed
                .verify_sig(black_box(input.as_bytes()), &signature)
                .is_ok(),
        );
    });
    let full_sign = rate(budget, || {
        black_box(claims.issue(signer).is_ok());
    });
    let raw_sign_rate = rate(budget, || {
        black_box(raw_sign(black_box(input.as_bytes())));
    });
    println!(
        "{name:<6} verify {full_verify:>9.0}/s  raw {raw_verify:>9.0}/s  ratio {:.2}   \
         issue {full_sign:>9.0}/s  raw sign {raw_sign_rate:>9.0}/s  ratio {:.2}   ({} B token)",
        full_verify / raw_verify,
        full_sign / raw_sign_rate,
        token.len()
    );
}

/// With `JWT_BENCH_OUT=DIR`, writes the token and its public JWK (`<alg>.jwt`,
/// `<alg>.jwk.json`) so that bench/oauth_jwt.sh can time PyJWT on the same input.
fn emit(name: &str, token: &str, signer: &InMemorySigner) {
    let Some(dir) = std::env::var_os("JWT_BENCH_OUT") else {
        return;
    };
    let dir = std::path::Path::new(&dir);
    let jwk = signer
        .public_jwk()
        .expect("jwk")
        .to_public_json()
        .expect("public");
    std::fs::write(dir.join(format!("{name}.jwt")), token).expect("write token");
    std::fs::write(dir.join(format!("{name}.jwk.json")), jwk.to_string()).expect("write jwk");
}

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(3.0);
    let budget = Duration::from_secs_f64(seconds);
    println!("one thread, {seconds} s per figure; raw = aws-lc-rs alone on the same signing input");

    let ed = InMemorySigner::generate_ed25519("bench-ed").expect("Ed25519 key");
    let ed_raw = Ed25519KeyPair::generate().expect("Ed25519 key");
    bench(
        "EdDSA",
        &ed,
        &|input| ed_raw.sign(input).as_ref().to_vec(),
        budget,
    );

    let es = InMemorySigner::generate_es256("bench-es").expect("P-256 key");
    let es_raw =
        EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key");
    let rng = SystemRandom::new();
    bench(
        "ES256",
        &es,
        &|input| {
            es_raw
                .sign(&rng, input)
                .map(|s| s.as_ref().to_vec())
                .unwrap_or_default()
        },
        budget,
    );
}
