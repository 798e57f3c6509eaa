//! JOSE and JWT core of the OAuth 2.0 authorization server (issue 6).
//!
//! This crate owns the token formats and nothing else: it parses JWKs and JWK Sets
//! ([`jwk`]), parses, verifies and signs JWS objects ([`jws`]), and validates the two
//! JWT profiles the server speaks ([`jwt`]): RFC 9068 access tokens (which we issue and
//! EHR services verify) and RFC 7523 client assertions (`private_key_jwt`, which clients
//! send us). It does no HTTP, no storage and no replay bookkeeping: the caller stores
//! client keys, remembers assertion `jti`s, and maps [`TokenError::kind`] onto metrics.
//!
//! # Threat model
//! Every token and every client-supplied JWKS is hostile. The defences follow RFC 8725:
//! sizes are bounded before any decoding (8 KiB per token, 64 KiB and 100 keys per JWKS);
//! base64url is decoded strictly; headers with duplicate members are refused; `alg: none`
//! and algorithm/key-type confusion are refused (an RSA or EC key can never check an
//! HMAC tag, an HMAC key never comes from a client's JWKS); headers that would let the
//! token choose its own key (`jku`, `x5u`, `jwk`, `x5c`) or extensions (`crit`) are
//! refused; `kid` is only compared with the `kid`s of keys already held; `iss`, `aud`,
//! `exp`, `nbf` and `iat` are always checked. Failures are typed for logs and metrics
//! but opaque to the client ([`TokenError::public_text`]); no error, log line or
//! `Debug` output holds a token, a signature or key material.
//!
//! All cryptography is aws-lc-rs, the workspace's only crypto provider.
//!
//! # The authorization server
//! On top of the formats sit the server's decisions, still without HTTP: [`scope`]
//! (SMART and `webqx:keys/...` scopes, coverage, mapping onto API token policies),
//! [`registry`] (clients, secrets as Argon2id hashes, JWKS or `jwks_uri`), [`remote`]
//! (fetching a client's `jwks_uri` with limits), [`ratelimit`] (token buckets and the
//! failure watch that raises `alert.raised`), and [`server`] (client authentication
//! with replay refusal, issuance, introspection, revocation). Signing keys are not
//! here: the key service implements [`JwsSigner`] over a key it never exports.

#![forbid(unsafe_code)]

mod alg;
mod b64;
mod error;
pub mod form;
mod json;
pub mod jwk;
pub mod jws;
pub mod jwt;
pub mod ratelimit;
pub mod registry;
pub mod remote;
pub mod scope;
pub mod server;
mod server_error;

pub use alg::Algorithm;
pub use error::{JwkError, SignError, TokenError};
pub use jwk::{Jwk, JwkSet};
pub use jws::{InMemorySigner, JwsSigner};
pub use server_error::OAuthError;
