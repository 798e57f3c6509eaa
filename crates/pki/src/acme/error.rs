//! ACME errors (RFC 8555 §6.7): each maps to one `urn:ietf:params:acme:error:*` type
//! and an HTTP status; the server writes them as `application/problem+json`.

use std::fmt;

/// Why an ACME request failed. The text is meant for the client's operator.
#[derive(Debug)]
#[non_exhaustive]
pub enum AcmeError {
    /// The request is not well-formed.
    Malformed(String),
    /// The nonce is unknown, expired or used already; the client retries with a new one.
    BadNonce,
    /// The JWS algorithm is not accepted.
    BadSignatureAlgorithm(String),
    /// The account key is of a kind we do not accept.
    BadPublicKey(String),
    /// The account named does not exist (or `onlyReturnExisting` found none).
    AccountDoesNotExist,
    /// The signer may not do this.
    Unauthorized(String),
    /// An identifier we will not issue for.
    RejectedIdentifier(String),
    /// An identifier type other than `dns`.
    UnsupportedIdentifier(String),
    /// The CSR is unacceptable.
    BadCsr(String),
    /// The order is not in a state that allows this.
    OrderNotReady(String),
    /// The challenge response could not be fetched.
    Connection(String),
    /// The challenge response was wrong.
    IncorrectResponse(String),
    /// Revocation of a certificate that is revoked already.
    AlreadyRevoked,
    /// Revocation reason code we do not accept.
    BadRevocationReason(String),
    /// No such object.
    NotFound,
    /// ACME is not enabled on this server.
    Disabled,
    /// Our side failed (storage, the CA); details went to the log.
    ServerInternal(String),
}

impl AcmeError {
    /// The ACME error type, without the `urn:ietf:params:acme:error:` prefix.
    pub fn acme_type(&self) -> &'static str {
        match self {
            AcmeError::Malformed(_) | AcmeError::NotFound | AcmeError::Disabled => "malformed",
            AcmeError::BadNonce => "badNonce",
            AcmeError::BadSignatureAlgorithm(_) => "badSignatureAlgorithm",
            AcmeError::BadPublicKey(_) => "badPublicKey",
            AcmeError::AccountDoesNotExist => "accountDoesNotExist",
            AcmeError::Unauthorized(_) => "unauthorized",
            AcmeError::RejectedIdentifier(_) => "rejectedIdentifier",
            AcmeError::UnsupportedIdentifier(_) => "unsupportedIdentifier",
            AcmeError::BadCsr(_) => "badCSR",
            AcmeError::OrderNotReady(_) => "orderNotReady",
            AcmeError::Connection(_) => "connection",
            AcmeError::IncorrectResponse(_) => "incorrectResponse",
            AcmeError::AlreadyRevoked => "alreadyRevoked",
            AcmeError::BadRevocationReason(_) => "badRevocationReason",
            AcmeError::ServerInternal(_) => "serverInternal",
        }
    }

    /// The full `type` URN.
    pub fn type_urn(&self) -> String {
        format!("urn:ietf:params:acme:error:{}", self.acme_type())
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            AcmeError::Unauthorized(_) => 403,
            AcmeError::NotFound | AcmeError::Disabled => 404,
            AcmeError::OrderNotReady(_) => 403,
            AcmeError::ServerInternal(_) => 500,
            _ => 400,
        }
    }
}

impl fmt::Display for AcmeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcmeError::Malformed(why)
            | AcmeError::BadSignatureAlgorithm(why)
            | AcmeError::BadPublicKey(why)
            | AcmeError::Unauthorized(why)
            | AcmeError::RejectedIdentifier(why)
            | AcmeError::UnsupportedIdentifier(why)
            | AcmeError::BadCsr(why)
            | AcmeError::OrderNotReady(why)
            | AcmeError::Connection(why)
            | AcmeError::IncorrectResponse(why)
            | AcmeError::BadRevocationReason(why) => f.write_str(why),
            AcmeError::BadNonce => {
                f.write_str("the nonce is unknown, expired or used; retry with a fresh nonce")
            }
            AcmeError::AccountDoesNotExist => {
                f.write_str("no account exists for this key; create one with newAccount")
            }
            AcmeError::AlreadyRevoked => f.write_str("the certificate is revoked already"),
            AcmeError::NotFound => f.write_str("no such ACME resource"),
            AcmeError::Disabled => {
                f.write_str("ACME is not enabled on this server ([acme] enabled = true)")
            }
            AcmeError::ServerInternal(_) => {
                f.write_str("the server failed to complete the request; retry later")
            }
        }
    }
}

impl std::error::Error for AcmeError {}

impl From<webqx_store::StoreError> for AcmeError {
    fn from(e: webqx_store::StoreError) -> Self {
        AcmeError::ServerInternal(format!("storage: {e}"))
    }
}

impl From<sqlx::Error> for AcmeError {
    fn from(e: sqlx::Error) -> Self {
        AcmeError::from(webqx_store::StoreError::from_sqlx(e))
    }
}
