//! An OCSP responder (RFC 6960): parses requests, answers good / revoked / unknown for
//! each certificate asked about, echoes the nonce, and signs with the issuing CA's key.
//!
//! Structures are transcribed from RFC 6960 section 4 (ASN.1 in appendix B.1); object
//! identifiers from RFC 6960 and RFC 5280.

use super::authority::{Authority, ROOT};
use super::error::internal;
use super::{CaError, CertStatus, RevocationReason};
use rcgen::SigningKey;
use yasna::models::{GeneralizedTime, ObjectIdentifier};
use yasna::{ASN1Error, ASN1ErrorKind, BERReader, DERWriter, Tag};

/// id-pkix-ocsp-basic, 1.3.6.1.5.5.7.48.1.1.
const OCSP_BASIC: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 48, 1, 1];
/// id-pkix-ocsp-nonce, 1.3.6.1.5.5.7.48.1.2.
const OCSP_NONCE: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 48, 1, 2];
/// id-sha1 1.3.14.3.2.26 and id-sha256 2.16.840.1.101.3.4.2.1.
const SHA1: &[u64] = &[1, 3, 14, 3, 2, 26];
const SHA256: &[u64] = &[2, 16, 840, 1, 101, 3, 4, 2, 1];
/// ecdsa-with-SHA256, 1.2.840.10045.4.3.2 (the CA keys are P-256).
const ECDSA_SHA256: &[u64] = &[1, 2, 840, 10045, 4, 3, 2];
/// Most certificates asked about in one request.
const MAX_REQUESTS: usize = 64;

/// One certificate asked about (CertID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertId {
    /// Hash algorithm OID components.
    pub hash_alg: Vec<u64>,
    /// Hash of the issuer's name (DER).
    pub issuer_name_hash: Vec<u8>,
    /// Hash of the issuer's public key (the BIT STRING value).
    pub issuer_key_hash: Vec<u8>,
    /// Serial number, big-endian, as sent.
    pub serial: Vec<u8>,
    /// The CertID exactly as received (echoed in the response).
    raw: Vec<u8>,
}

/// A parsed OCSP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspRequest {
    /// Certificates asked about.
    pub ids: Vec<CertId>,
    /// The nonce extension's extnValue, when sent.
    pub nonce: Option<Vec<u8>>,
}

/// Why a request could not be parsed; answered as malformedRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspParseError(pub String);

impl std::fmt::Display for OcspParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed OCSP request: {}", self.0)
    }
}

impl std::error::Error for OcspParseError {}

fn too_many() -> ASN1Error {
    ASN1Error::new(ASN1ErrorKind::Invalid)
}

/// Parses a DER OCSPRequest.
///
/// # Errors
/// [`OcspParseError`] for anything that is not a well-formed request with 1 to 64
/// certificates.
pub fn parse_request(der: &[u8]) -> Result<OcspRequest, OcspParseError> {
    if !der_lengths_fit(der, 0) {
        return Err(OcspParseError(
            "malformed DER: an element's length runs past the end of its container".into(),
        ));
    }
    let req = yasna::parse_der(der, |r| {
        r.read_sequence(|r| {
            let tbs = r.next().read_sequence(read_tbs)?;
            // optionalSignature [0]: accepted and ignored (we do not require signed requests).
            r.read_optional(|r| r.read_tagged(Tag::context(0), |r| r.read_der().map(drop)))?;
            Ok(tbs)
        })
    })
    .map_err(|e| OcspParseError(e.to_string()))?;
    if req.ids.is_empty() {
        return Err(OcspParseError("it asks about no certificate".into()));
    }
    Ok(req)
}

/// Deepest nesting walked; a real OCSP request nests about 8 deep.
const MAX_DER_DEPTH: u32 = 32;

/// Whether every DER element (recursing into constructed ones) has a definite length
/// that fits inside its container. yasna 0.6 adds a length to its position unchecked: a
/// length near `usize::MAX` overflows (a panic with overflow checks, a wrapped position
/// without), which the `ocsp_request` fuzz target found; such input stops here.
fn der_lengths_fit(mut data: &[u8], depth: u32) -> bool {
    if depth > MAX_DER_DEPTH {
        return false;
    }
    while !data.is_empty() {
        let Some((constructed, header, len)) = der_header(data) else {
            return false;
        };
        let Some(end) = header.checked_add(len).filter(|e| *e <= data.len()) else {
            return false;
        };
        if constructed && !der_lengths_fit(&data[header..end], depth + 1) {
            return false;
        }
        data = &data[end..];
    }
    true
}

/// The constructed bit, header size and content length of the element at the start of
/// `data`; `None` for an indefinite (BER) or over-long length, or a truncated header.
fn der_header(data: &[u8]) -> Option<(bool, usize, usize)> {
    let first = *data.first()?;
    let mut at = 1;
    if first & 0x1f == 0x1f {
        // High tag number: base-128 digits, the last without the top bit.
        loop {
            let b = *data.get(at)?;
            at += 1;
            if b & 0x80 == 0 {
                break;
            }
            if at > 5 {
                return None;
            }
        }
    }
    let l = *data.get(at)?;
    at += 1;
    let len = if l & 0x80 == 0 {
        usize::from(l)
    } else {
        let n = usize::from(l & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for _ in 0..n {
            len = (len << 8) | usize::from(*data.get(at)?);
            at += 1;
        }
        len
    };
    Some((first & 0x20 != 0, at, len))
}

fn read_tbs(r: &mut yasna::BERReaderSeq<'_, '_>) -> Result<OcspRequest, ASN1Error> {
    r.read_optional(|r| r.read_tagged(Tag::context(0), |r| r.read_i64()))?;
    r.read_optional(|r| r.read_tagged(Tag::context(1), |r| r.read_der()))?;
    let mut ids = Vec::new();
    r.next().read_sequence_of(|r| {
        if ids.len() >= MAX_REQUESTS {
            return Err(too_many());
        }
        ids.push(r.read_sequence(|r| {
            let id = read_cert_id(r.next())?;
            r.read_optional(|r| r.read_tagged(Tag::context(0), |r| r.read_der()))?;
            Ok(id)
        })?);
        Ok(())
    })?;
    let nonce = r
        .read_optional(|r| r.read_tagged(Tag::context(2), read_nonce))?
        .flatten();
    Ok(OcspRequest { ids, nonce })
}

fn read_cert_id(r: BERReader<'_, '_>) -> Result<CertId, ASN1Error> {
    let (mut id, der) = r.read_with_buffer(|r| {
        r.read_sequence(|r| {
            let hash_alg = r.next().read_sequence(|r| {
                let oid = r.next().read_oid()?;
                r.read_optional(|r| r.read_null())?;
                Ok(oid.components().to_vec())
            })?;
            let issuer_name_hash = r.next().read_bytes()?;
            let issuer_key_hash = r.next().read_bytes()?;
            let (serial, _) = r.next().read_bigint_bytes()?;
            Ok(CertId {
                hash_alg,
                issuer_name_hash,
                issuer_key_hash,
                serial,
                raw: Vec::new(),
            })
        })
    })?;
    id.raw = der.to_vec();
    Ok(id)
}

fn read_nonce(r: BERReader<'_, '_>) -> Result<Option<Vec<u8>>, ASN1Error> {
    let mut nonce = None;
    r.read_sequence_of(|r| {
        r.read_sequence(|r| {
            let oid = r.next().read_oid()?;
            r.read_optional(|r| r.read_bool())?;
            let value = r.next().read_bytes()?;
            if oid.components().as_slice() == OCSP_NONCE {
                nonce = Some(value);
            }
            Ok(())
        })
    })?;
    Ok(nonce)
}

/// OCSPResponseStatus values (RFC 6960 section 4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OcspStatus {
    /// 1.
    MalformedRequest = 1,
    /// 2.
    InternalError = 2,
    /// 3.
    TryLater = 3,
    /// 6.
    Unauthorized = 6,
}

/// An unsigned error response (no responseBytes).
pub fn error_response(status: OcspStatus) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| w.next().write_enum(status as i64));
    })
}

struct Answer {
    raw_id: Vec<u8>,
    status: CertStatus,
}

fn digest(alg: &[u64], data: &[u8]) -> Option<Vec<u8>> {
    use aws_lc_rs::digest;
    let algorithm = if alg == SHA1 {
        &digest::SHA1_FOR_LEGACY_USE_ONLY
    } else if alg == SHA256 {
        &digest::SHA256
    } else {
        return None;
    };
    Some(digest::digest(algorithm, data).as_ref().to_vec())
}

/// The issuer's name (DER) and public key bits, for matching CertIDs.
fn issuer_facts(cert_der: &[u8]) -> Result<(Vec<u8>, Vec<u8>), CaError> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).map_err(internal)?;
    Ok((
        cert.subject().as_raw().to_vec(),
        cert.public_key().subject_public_key.data.to_vec(),
    ))
}

fn time(ms: i64) -> Result<GeneralizedTime, CaError> {
    Ok(GeneralizedTime::from_datetime(super::keys::at_ms(ms)?))
}

/// An OCSP request (RFC 6960 section 4.1.1) for one certificate, shaped as `openssl ocsp
/// -reqout` writes it: a SHA-1 CertID of the issuer's name and key hashes and the
/// certificate's serial (its DER INTEGER content), with a nonce extension value when
/// given.
pub fn build_request(
    name_hash: &[u8],
    key_hash: &[u8],
    serial: &[u8],
    nonce: Option<&[u8]>,
) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_sequence(|w| {
                w.next().write_sequence_of(|w| {
                    w.next().write_sequence(|w| {
                        w.next().write_sequence(|w| {
                            w.next().write_sequence(|w| {
                                w.next().write_oid(&ObjectIdentifier::from_slice(SHA1));
                                w.next().write_null();
                            });
                            w.next().write_bytes(name_hash);
                            w.next().write_bytes(key_hash);
                            w.next().write_bigint_bytes(serial, true);
                        });
                    });
                });
                if let Some(n) = nonce {
                    w.next().write_tagged(Tag::context(2), |w| {
                        w.write_sequence_of(|w| {
                            w.next().write_sequence(|w| {
                                w.next()
                                    .write_oid(&ObjectIdentifier::from_slice(OCSP_NONCE));
                                w.next().write_bytes(n);
                            });
                        });
                    });
                }
            });
        });
    })
}

impl Authority {
    /// Answers a DER OCSP request with a DER OCSP response. Never fails: problems are
    /// answered with the matching OCSP error status.
    pub async fn ocsp(&self, request: &[u8]) -> Vec<u8> {
        let (der, outcome) = self.ocsp_inner(request).await;
        metrics::counter!("webqx_pki_ocsp_responses_total", "outcome" => outcome).increment(1);
        der
    }

    async fn ocsp_inner(&self, request: &[u8]) -> (Vec<u8>, &'static str) {
        let req = match parse_request(request) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "OCSP request refused");
                return (error_response(OcspStatus::MalformedRequest), "malformed");
            }
        };
        match self.ocsp_answer(&req).await {
            Ok(der) => (der, "successful"),
            Err(CaError::Sealed) => (error_response(OcspStatus::TryLater), "try_later"),
            Err(CaError::CaNotFound(_)) => {
                (error_response(OcspStatus::Unauthorized), "unauthorized")
            }
            Err(e) => {
                tracing::debug!(error = %e, "OCSP response failed");
                (error_response(OcspStatus::InternalError), "internal_error")
            }
        }
    }

    /// A signed OCSP response for `leaf_der`, issued by `issuer_der` (one of our CAs), for
    /// a TLS server to staple (RFC 6066 status_request): what the responder would answer
    /// to `openssl ocsp` for that certificate, without a nonce.
    ///
    /// # Errors
    /// [`CaError::Sealed`], [`CaError::CaNotFound`] when `issuer_der` is not one of our
    /// intermediates, [`CaError::Invalid`] for certificates that do not parse.
    pub async fn ocsp_staple(
        &self,
        leaf_der: &[u8],
        issuer_der: &[u8],
    ) -> Result<Vec<u8>, CaError> {
        let (_, leaf) = x509_parser::parse_x509_certificate(leaf_der)
            .map_err(|_| CaError::Invalid("the certificate to staple does not parse".into()))?;
        let (name, key) = issuer_facts(issuer_der)?;
        let hash = |data: &[u8]| digest(SHA1, data).unwrap_or_default();
        let request = build_request(&hash(&name), &hash(&key), leaf.raw_serial(), None);
        let req = parse_request(&request).map_err(internal)?;
        self.ocsp_answer(&req).await
    }

    /// Which CA a CertID names, by hashes of its name and key.
    fn ocsp_issuer(&self, id: &CertId) -> Result<Option<String>, CaError> {
        for ca in self.cas() {
            let der = super::authority::x509_of(&ca.cert_pem)?;
            let (name, key) = issuer_facts(&der)?;
            if digest(&id.hash_alg, &name).as_deref() == Some(&id.issuer_name_hash[..])
                && digest(&id.hash_alg, &key).as_deref() == Some(&id.issuer_key_hash[..])
            {
                return Ok(Some(ca.name));
            }
        }
        Ok(None)
    }

    async fn ocsp_answer(&self, req: &OcspRequest) -> Result<Vec<u8>, CaError> {
        let mut answers = Vec::with_capacity(req.ids.len());
        let mut signer_name = None;
        for id in &req.ids {
            let issuer = self.ocsp_issuer(id)?;
            let status = match &issuer {
                Some(n) if n != ROOT => {
                    signer_name.get_or_insert_with(|| n.clone());
                    self.status_from(n, &hex::encode(&id.serial)).await?
                }
                _ => CertStatus::Unknown,
            };
            answers.push(Answer {
                raw_id: id.raw.clone(),
                status,
            });
        }
        let Some(name) = signer_name else {
            return Err(CaError::CaNotFound("(no CA of this responder)".into()));
        };
        let signer = self.signer(Some(&name)).await?;
        let now = webqx_store::now_ms();
        let next =
            now + i64::try_from(self.inner.settings.crl_every.as_millis()).unwrap_or(3_600_000);
        let ca_der = super::authority::x509_of(
            &self.ca_info(&name).map(|c| c.cert_pem).unwrap_or_default(),
        )?;
        let (_, key_bits) = issuer_facts(&ca_der)?;
        let key_hash = digest(SHA1, &key_bits).unwrap_or_default();
        let (this_t, next_t) = (time(now)?, time(next)?);
        let tbs = yasna::construct_der(|w| {
            w.write_sequence(|w| {
                // responderID byKey [2] EXPLICIT KeyHash.
                w.next()
                    .write_tagged(Tag::context(2), |w| w.write_bytes(&key_hash));
                w.next().write_generalized_time(&this_t);
                w.next().write_sequence_of(|w| {
                    for a in &answers {
                        write_single(w.next(), a, &this_t, &next_t);
                    }
                });
                if let Some(nonce) = &req.nonce {
                    w.next().write_tagged(Tag::context(1), |w| {
                        w.write_sequence_of(|w| {
                            w.next().write_sequence(|w| {
                                w.next()
                                    .write_oid(&ObjectIdentifier::from_slice(OCSP_NONCE));
                                w.next().write_bytes(nonce);
                            });
                        });
                    });
                }
            });
        });
        let signature = signer.issuer_key().sign(&tbs).map_err(internal)?;
        let basic = yasna::construct_der(|w| {
            w.write_sequence(|w| {
                w.next().write_der(&tbs);
                w.next().write_sequence(|w| {
                    w.next()
                        .write_oid(&ObjectIdentifier::from_slice(ECDSA_SHA256));
                });
                w.next().write_bitvec_bytes(&signature, signature.len() * 8);
                w.next().write_tagged(Tag::context(0), |w| {
                    w.write_sequence(|w| w.next().write_der(&ca_der));
                });
            });
        });
        Ok(yasna::construct_der(|w| {
            w.write_sequence(|w| {
                w.next().write_enum(0);
                w.next().write_tagged(Tag::context(0), |w| {
                    w.write_sequence(|w| {
                        w.next()
                            .write_oid(&ObjectIdentifier::from_slice(OCSP_BASIC));
                        w.next().write_bytes(&basic);
                    });
                });
            });
        }))
    }

    async fn status_from(&self, issuer: &str, serial: &str) -> Result<CertStatus, CaError> {
        let sql = format!(
            "{} WHERE c.serial = $1 AND c.issuer = $2",
            super::db::STATUS_SQL
        );
        let row = webqx_store::query(sqlx::AssertSqlSafe(sql))
            .bind(serial)
            .bind(issuer)
            .fetch_optional(self.inner.store.pool())
            .await?;
        match row {
            None => Ok(CertStatus::Unknown),
            Some(r) => super::db::status_row(&r),
        }
    }
}

fn write_single(w: DERWriter<'_>, a: &Answer, this: &GeneralizedTime, next: &GeneralizedTime) {
    w.write_sequence(|w| {
        w.next().write_der(&a.raw_id);
        match a.status {
            CertStatus::Good => w
                .next()
                .write_tagged_implicit(Tag::context(0), |w| w.write_null()),
            CertStatus::Unknown => w
                .next()
                .write_tagged_implicit(Tag::context(2), |w| w.write_null()),
            CertStatus::Revoked { at, reason } => {
                let at = GeneralizedTime::from_datetime(
                    time::OffsetDateTime::from_unix_timestamp(at.timestamp())
                        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
                );
                w.next().write_tagged_implicit(Tag::context(1), |w| {
                    w.write_sequence(|w| {
                        w.next().write_generalized_time(&at);
                        if reason != RevocationReason::Unspecified {
                            w.next().write_tagged(Tag::context(0), |w| {
                                w.write_enum(i64::from(reason.code()));
                            });
                        }
                    });
                });
            }
        }
        w.next().write_generalized_time(this);
        w.next()
            .write_tagged(Tag::context(0), |w| w.write_generalized_time(next));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `ocsp_request` fuzz target: a length near usize::MAX inside a
    /// tagged element overflowed yasna's position. Now a clear error.
    #[test]
    fn a_huge_inner_length_is_refused_not_a_panic() {
        let input = hex::decode("30763074a14d7fff1488ffffffffffffffff3b000000000000000000001200300906052b0e03021a0500ffffffff2fb93b3ed040c27e83263db59dc3d5e82d22040c6c3962b59dc3d5e82d2204ad0c6c1400faeef602ffff05ff04f00432323233000000000000000000000000000000003232323232120410061f71a3ec7968").unwrap();
        let err = parse_request(&input).unwrap_err();
        assert!(err.to_string().contains("length"), "{err}");
        // And the pre-check itself, on small cases.
        assert!(der_lengths_fit(&[0x30, 0x03, 0x02, 0x01, 0x05], 0));
        assert!(!der_lengths_fit(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff], 0));
        assert!(
            !der_lengths_fit(&[0x30, 0x80, 0x00, 0x00], 0),
            "indefinite is BER"
        );
        assert!(!der_lengths_fit(&[0x30, 0x05, 0x02, 0x09, 0x05], 0));
    }

    /// A request for one certificate, optionally with a nonce, shaped as `openssl ocsp
    /// -reqout` writes it (SHA-1 CertID; RFC 6960 section 4.1.1).
    fn request(nonce: Option<&[u8]>) -> Vec<u8> {
        build_request(&[1; 20], &[2; 20], &[0x42, 0x01], nonce)
    }

    #[test]
    fn parses_cert_ids_and_the_nonce() {
        let req = parse_request(&request(Some(b"\x04\x02hi"))).unwrap();
        assert_eq!(req.ids.len(), 1);
        assert_eq!(req.ids[0].serial, vec![0x42, 0x01]);
        assert_eq!(req.ids[0].hash_alg, SHA1.to_vec());
        assert_eq!(req.nonce.as_deref(), Some(&b"\x04\x02hi"[..]));
        assert!(parse_request(&request(None)).unwrap().nonce.is_none());
    }

    #[test]
    fn malformed_requests_are_errors_not_panics() {
        assert!(parse_request(b"").is_err());
        assert!(parse_request(b"\x30\x00").is_err());
        let mut r = request(None);
        r.truncate(r.len() - 3);
        assert!(parse_request(&r).is_err());
        let malformed = error_response(OcspStatus::MalformedRequest);
        assert_eq!(malformed, vec![0x30, 0x03, 0x0a, 0x01, 0x01]);
    }
}
