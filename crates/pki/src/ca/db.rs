//! The CA's tables (migration 0003): `pki_cas`, `pki_certs`, `pki_crls`.

use super::{CaError, CertStatus, Profile, RevocationReason};
use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use webqx_store::{AnyRow, Row, WriteTx, query};

/// A CA of the hierarchy.
#[derive(Debug, Clone, Serialize)]
pub struct CaInfo {
    /// Name: `root`, or the intermediate's name.
    pub name: String,
    /// `root` or `intermediate`.
    pub kind: String,
    /// The CA that signed it (none for the root).
    pub parent: Option<String>,
    /// Serial number, lowercase hex.
    pub serial: String,
    /// Certificate, PEM.
    pub cert_pem: String,
    /// Whether it is the default issuing CA.
    pub is_default: bool,
    /// End of validity.
    pub not_after: DateTime<Utc>,
    /// Where its private key is: `hsm` (generated in the PKCS#11 token, never leaves
    /// it) or `kms` (wrapped by the key service's root key).
    pub key_storage: String,
    /// When it was revoked (intermediates only), and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked: Option<DateTime<Utc>>,
    /// The RFC 5280 reason name, when revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_reason: Option<String>,
    /// Service secret holding its wrapped key.
    #[serde(skip)]
    pub(crate) key_secret: String,
}

/// An issued certificate as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct CertRecord {
    /// Serial number, lowercase hex.
    pub serial: String,
    /// Name of the CA that issued it.
    pub issuer: String,
    /// Profile.
    pub profile: Profile,
    /// Names certified.
    pub names: Vec<String>,
    /// Subject, as text.
    pub subject: String,
    /// Who asked.
    pub requester: String,
    /// Through what (`api`, `acme`, `cli`).
    pub source: String,
    /// Start of validity.
    pub not_before: DateTime<Utc>,
    /// End of validity.
    pub not_after: DateTime<Utc>,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Whether its private key is kept (wrapped).
    pub key_stored: bool,
    /// When it was issued.
    pub created: DateTime<Utc>,
    /// Revocation status.
    pub status: CertStatus,
}

pub(crate) fn time_of(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

pub(crate) fn pem_of(der: &[u8]) -> String {
    pem_encode("CERTIFICATE", der)
}

/// PEM text (RFC 7468) of `der` with `label`.
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

pub(crate) const CA_COLUMNS: &str = "name, kind, parent, serial, cert_pem, key_secret, is_default, not_after_ms, revoked_ms, \
     revoke_reason";

pub(crate) fn ca_of(row: &AnyRow) -> Result<CaInfo, CaError> {
    let key_secret: String = row.try_get(5)?;
    let in_hsm = matches!(
        super::KeyLocation::parse(&key_secret),
        super::KeyLocation::Pkcs11(_)
    );
    Ok(CaInfo {
        key_storage: if in_hsm { "hsm" } else { "kms" }.into(),
        name: row.try_get(0)?,
        kind: row.try_get(1)?,
        parent: row.try_get(2)?,
        serial: row.try_get(3)?,
        cert_pem: row.try_get(4)?,
        key_secret,
        is_default: row.try_get::<i64, _>(6)? != 0,
        not_after: time_of(row.try_get(7)?),
        revoked: row.try_get::<Option<i64>, _>(8)?.map(time_of),
        revocation_reason: row
            .try_get::<Option<i64>, _>(9)?
            .and_then(RevocationReason::from_code)
            .map(|r| r.as_str().to_owned()),
    })
}

pub(crate) async fn load_cas(pool: &webqx_store::AnyPool) -> Result<Vec<CaInfo>, CaError> {
    let sql = format!("SELECT {CA_COLUMNS} FROM pki_cas ORDER BY created_ms, name");
    let rows = query(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await?;
    rows.iter().map(ca_of).collect()
}

pub(crate) struct NewCa<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub parent: Option<&'a str>,
    pub serial: &'a str,
    pub cert_pem: &'a str,
    pub key_secret: &'a str,
    pub is_default: bool,
    pub not_after_ms: i64,
}

pub(crate) async fn insert_ca(tx: &mut WriteTx, ca: &NewCa<'_>) -> Result<(), CaError> {
    if ca.is_default {
        query("UPDATE pki_cas SET is_default = 0")
            .execute(tx.conn())
            .await?;
    }
    query(
        "INSERT INTO pki_cas (name, kind, parent, serial, cert_pem, key_secret, is_default, \
         not_after_ms, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(ca.name)
    .bind(ca.kind)
    .bind(ca.parent)
    .bind(ca.serial)
    .bind(ca.cert_pem)
    .bind(ca.key_secret)
    .bind(i64::from(ca.is_default))
    .bind(ca.not_after_ms)
    .bind(webqx_store::now_ms())
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub(crate) async fn update_ca_cert(
    tx: &mut WriteTx,
    name: &str,
    cert_pem: &str,
    serial: &str,
    not_after_ms: i64,
) -> Result<(), CaError> {
    query("UPDATE pki_cas SET cert_pem = $1, serial = $2, not_after_ms = $3 WHERE name = $4")
        .bind(cert_pem)
        .bind(serial)
        .bind(not_after_ms)
        .bind(name)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub(crate) struct NewCert<'a> {
    pub serial: &'a str,
    pub issuer: &'a str,
    pub profile: Profile,
    pub names: &'a [String],
    pub requester: &'a str,
    pub source: &'a str,
    pub not_before_ms: i64,
    pub not_after_ms: i64,
    pub cert_der: &'a [u8],
    pub key_stored: bool,
}

pub(crate) async fn insert_cert(tx: &mut WriteTx, c: &NewCert<'_>) -> Result<(), CaError> {
    let names = serde_json::to_string(c.names).map_err(super::error::internal)?;
    let subject = format!("CN={}", c.names.first().map(String::as_str).unwrap_or(""));
    query(
        "INSERT INTO pki_certs (serial, issuer, profile, names, subject, requester, source, \
         not_before_ms, not_after_ms, cert_der, key_stored, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(c.serial)
    .bind(c.issuer)
    .bind(c.profile.as_str())
    .bind(names)
    .bind(subject)
    .bind(c.requester)
    .bind(c.source)
    .bind(c.not_before_ms)
    .bind(c.not_after_ms)
    .bind(c.cert_der)
    .bind(i64::from(c.key_stored))
    .bind(webqx_store::now_ms())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Inserts many certificates with multi-row statements (12 parameters per row).
pub(crate) async fn insert_certs(tx: &mut WriteTx, certs: &[NewCert<'_>]) -> Result<(), CaError> {
    const ROWS: usize = 50;
    let now = webqx_store::now_ms();
    for chunk in certs.chunks(ROWS) {
        let mut sql = String::from(
            "INSERT INTO pki_certs (serial, issuer, profile, names, subject, requester, source, \
             not_before_ms, not_after_ms, cert_der, key_stored, created_ms) VALUES ",
        );
        for i in 0..chunk.len() {
            let p = i * 12;
            if i > 0 {
                sql.push_str(", ");
            }
            let marks: Vec<String> = (1..=12).map(|k| format!("${}", p + k)).collect();
            sql.push_str(&format!("({})", marks.join(", ")));
        }
        // The statement holds only placeholders; every value is bound.
        let mut q = query(sqlx::AssertSqlSafe(sql));
        for c in chunk {
            let names = serde_json::to_string(c.names).map_err(super::error::internal)?;
            let subject = format!("CN={}", c.names.first().map(String::as_str).unwrap_or(""));
            q = q
                .bind(c.serial.to_owned())
                .bind(c.issuer.to_owned())
                .bind(c.profile.as_str())
                .bind(names)
                .bind(subject)
                .bind(c.requester.to_owned())
                .bind(c.source.to_owned())
                .bind(c.not_before_ms)
                .bind(c.not_after_ms)
                .bind(c.cert_der.to_vec())
                .bind(i64::from(c.key_stored))
                .bind(now);
        }
        q.execute(tx.conn()).await?;
    }
    Ok(())
}

pub(crate) const CERT_COLUMNS: &str = "serial, issuer, profile, names, subject, requester, \
     source, not_before_ms, not_after_ms, cert_der, key_stored, created_ms, revoked_ms, \
     revoke_reason";

/// The status of a certificate from its own revocation and its issuer's: a certificate
/// whose intermediate was revoked is revoked from then on (reason cACompromise unless
/// the CA's reason says otherwise), unless it was revoked earlier on its own.
pub(crate) fn status_with_issuer(
    own: (Option<i64>, Option<i64>),
    issuer: (Option<i64>, Option<i64>),
) -> CertStatus {
    match (own.0, issuer.0) {
        (Some(_), _) | (None, None) => status_of(own.0, own.1),
        (None, Some(at)) => {
            let reason = match issuer.1.and_then(RevocationReason::from_code) {
                Some(
                    r @ (RevocationReason::Superseded | RevocationReason::CessationOfOperation),
                ) => r,
                _ => RevocationReason::CaCompromise,
            };
            CertStatus::Revoked {
                at: time_of(at),
                reason,
            }
        }
    }
}

/// SQL selecting a certificate's revocation and its issuer's (for
/// [`status_with_issuer`]); the caller adds the WHERE clause on `c.`.
pub(crate) const STATUS_SQL: &str = "SELECT c.revoked_ms, c.revoke_reason, a.revoked_ms, \
     a.revoke_reason FROM pki_certs c LEFT JOIN pki_cas a ON a.name = c.issuer";

/// Reads a row of [`STATUS_SQL`].
pub(crate) fn status_row(r: &AnyRow) -> Result<CertStatus, CaError> {
    Ok(status_with_issuer(
        (r.try_get(0)?, r.try_get(1)?),
        (r.try_get(2)?, r.try_get(3)?),
    ))
}

/// Marks the stored CRL of `issuer` as due, so that the next read rebuilds it even if
/// the rebuild right after a revocation fails (sealed, HSM away): a relying party then
/// gets an error rather than a CRL missing the revocation.
pub(crate) async fn crl_due_now(tx: &mut WriteTx, issuer: &str) -> Result<(), CaError> {
    query("UPDATE pki_crls SET next_update_ms = 0 WHERE issuer = $1")
        .bind(issuer)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub(crate) fn status_of(revoked_ms: Option<i64>, reason: Option<i64>) -> CertStatus {
    match revoked_ms {
        None => CertStatus::Good,
        Some(ms) => CertStatus::Revoked {
            at: time_of(ms),
            reason: reason
                .and_then(RevocationReason::from_code)
                .unwrap_or_default(),
        },
    }
}

pub(crate) fn cert_of(row: &AnyRow) -> Result<CertRecord, CaError> {
    let profile: String = row.try_get(2)?;
    let names: String = row.try_get(3)?;
    let der: Vec<u8> = row.try_get(9)?;
    Ok(CertRecord {
        serial: row.try_get(0)?,
        issuer: row.try_get(1)?,
        profile: profile.parse()?,
        names: serde_json::from_str(&names).map_err(super::error::internal)?,
        subject: row.try_get(4)?,
        requester: row.try_get(5)?,
        source: row.try_get(6)?,
        not_before: time_of(row.try_get(7)?),
        not_after: time_of(row.try_get(8)?),
        cert_pem: pem_of(&der),
        key_stored: row.try_get::<i64, _>(10)? != 0,
        created: time_of(row.try_get(11)?),
        status: status_of(row.try_get(12)?, row.try_get(13)?),
    })
}
