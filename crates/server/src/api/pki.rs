//! `/v1/pki`: the certificate authority. Issuing, signing CSRs, listing, showing and
//! revoking certificates, the CA hierarchy (token operations `pki-issue`, `pki-read`,
//! `pki-revoke`, `pki-admin`), and, without a token, the root certificate, the CRL and
//! the OCSP responder.
//!
//! Changes are audited by the CA itself (`pki.issue`, `pki.sign`, `pki.revoke`,
//! `pki.ca.create`). The public revocation answers (CRL, OCSP, CA certificate) change
//! nothing and are not audited one by one: relying parties poll them; they are counted
//! in `webqx_server_requests_total`.

use crate::api::keys::{ApiResult, Done};
use crate::extract::{Caller, JsonBody, Path, Query};
use crate::middleware::AuditDone;
use crate::problem::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use webqx_pki::ca::{
    CaError, CaInfo, CertPage, CertRecord, IssueRequest, Issued, KeyAlgorithm, ListQuery, Profile,
    RevocationReason, SignRequest,
};
use webqx_tokens::Operation;

/// Largest OCSP request accepted.
const MAX_OCSP_BYTES: usize = 16 * 1024;

impl From<CaError> for ApiError {
    fn from(e: CaError) -> ApiError {
        let status = match &e {
            CaError::Sealed => StatusCode::SERVICE_UNAVAILABLE,
            CaError::CertNotFound(_) | CaError::CaNotFound(_) => StatusCode::NOT_FOUND,
            CaError::CaExists(_) | CaError::AlreadyRevoked(_) => StatusCode::CONFLICT,
            CaError::NameNotAllowed { .. } => StatusCode::FORBIDDEN,
            CaError::Kms(k) => crate::problem::kms_status(k),
            CaError::Audit(webqx_audit::AuditError::SpoolFull(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            e if e.is_client_error() => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let detail = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %e, "certificate authority failure");
            "the certificate authority failed; the service log has the details".to_owned()
        } else {
            e.to_string()
        };
        ApiError::new(status, e.kind(), detail).audited()
    }
}

fn duration(text: Option<&str>) -> Result<Option<std::time::Duration>, ApiError> {
    text.map(|t| {
        webqx_store::time::parse_duration(t).map_err(|e| ApiError::bad_request(format!("ttl: {e}")))
    })
    .transpose()
}

/// Issue a certificate with a new key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueBody {
    /// DNS names and IP addresses; the first is also the subject common name.
    pub names: Vec<String>,
    /// `tls-server` (default), `tls-client` or `secure-node`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub profile: Profile,
    /// `p256` (default), `p384`, `ed25519`, `rsa2048`, `rsa3072`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub key: KeyAlgorithm,
    /// Lifetime such as `30d` (default: the profile's).
    pub ttl: Option<String>,
    /// Intermediate that signs (default: the default issuing CA).
    pub issuer: Option<String>,
    /// Keep the private key, wrapped by the key service.
    #[serde(default)]
    pub store_key: bool,
}

/// Sign a CSR.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignBody {
    /// PKCS#10 request, PEM.
    pub csr: String,
    /// `tls-server` (default), `tls-client` or `secure-node`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub profile: Profile,
    /// Lifetime such as `30d` (default: the profile's).
    pub ttl: Option<String>,
    /// Intermediate that signs (default: the default issuing CA).
    pub issuer: Option<String>,
}

/// A certificate just issued.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedBody {
    /// Serial number, lowercase hex.
    pub serial: String,
    /// The certificate, PEM.
    pub certificate: String,
    /// The certificate and its intermediate(s), PEM (not the root).
    pub chain: String,
    /// The root certificate, PEM.
    pub root: String,
    /// Start of validity, RFC 3339.
    #[schema(value_type = String)]
    pub not_before: DateTime<Utc>,
    /// End of validity, RFC 3339.
    #[schema(value_type = String)]
    pub not_after: DateTime<Utc>,
    /// The private key, PKCS#8 PEM (only when the service generated it). Shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
}

fn issued_body(s: &AppState, i: Issued) -> IssuedBody {
    IssuedBody {
        serial: i.serial,
        certificate: i.cert_pem,
        chain: i.chain_pem,
        root: s.pki.root_pem(),
        not_before: i.not_before,
        not_after: i.not_after,
        private_key: i
            .key_pem
            .map(|k| String::from_utf8_lossy(k.expose()).into_owned()),
    }
}

/// A client-capable certificate for a name bound to an mTLS policy acts with that policy:
/// only a caller whose own policy covers the binding's may obtain one (else a `pki-issue`
/// token could mint its way into any bound service's rights).
///
/// # Errors
/// 403 `binding-not-covered` (audited); 503 when the bindings cannot be read.
async fn check_bound_names(
    s: &AppState,
    caller: &Caller,
    profile: Profile,
    names: &[String],
    action: &str,
) -> Result<(), ApiError> {
    if profile == Profile::TlsServer {
        return Ok(());
    }
    let bindings = crate::mtls::bindings(s);
    for asked in names {
        // The name as the certificate will carry it (case, trailing dot): a binding for
        // `svc.example` must not be reached by asking for `SVC.example.`.
        let name = &webqx_pki::ca::names::canonical(asked).unwrap_or_else(|| asked.clone());
        let policy = match bindings.resolve(std::slice::from_ref(name)).await {
            Ok(Some(resolved)) => resolved.policy,
            // No binding, or one whose token is gone: the certificate gains nothing.
            Ok(None) | Err(webqx_pki::stored::RecordError::Forbidden(_)) => continue,
            Err(e) => {
                tracing::error!(error = %e, "certificate binding lookup failed");
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage-unavailable",
                    "the service cannot reach its store; retry later",
                ));
            }
        };
        if caller.principal.policy.covers(&policy) {
            continue;
        }
        let mut rec = caller.ctx.record(action, None);
        rec.detail("name", name.clone())
            .fail(webqx_audit::Outcome::Denied, "binding-not-covered");
        s.audit
            .record(rec)
            .await
            .map_err(|_| crate::extract::audit_down())?;
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "binding-not-covered",
            format!(
                "'{name}' is bound to an mTLS policy that token '{}' does not hold, so it may \
                 not obtain a client certificate for it; ask an administrator, or use the \
                 tls-server profile",
                caller.principal.name
            ),
        )
        .audited());
    }
    Ok(())
}

fn requester(caller: &Caller) -> String {
    caller.ctx.actor.clone()
}

#[utoipa::path(post, path = "/v1/pki/issue", tag = "pki", request_body = IssueBody,
    responses((status = 201, body = IssuedBody), (status = 403, body = crate::problem::Problem),
        (status = 422, body = crate::problem::Problem)))]
/// Issue a certificate with a key generated here (operation `pki-issue`).
pub async fn issue(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<IssueBody>,
) -> ApiResult<IssuedBody> {
    caller
        .require(&s, Operation::PkiIssue, None, "pki.issue")
        .await?;
    check_bound_names(&s, &caller, b.profile, &b.names, "pki.issue").await?;
    let req = IssueRequest {
        names: b.names,
        profile: b.profile,
        key: b.key,
        ttl: duration(b.ttl.as_deref())?,
        issuer: b.issuer,
        store_key: b.store_key,
        requester: requester(&caller),
        source: "api".into(),
    };
    let issued = s.pki.issue(&caller.ctx, req).await?;
    Ok(Done(StatusCode::CREATED, issued_body(&s, issued)))
}

/// Issue several certificates with new keys.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueBatchBody {
    /// The requests, each as for `POST /v1/pki/issue`; 1 to 10,000.
    pub items: Vec<IssueBody>,
}

/// A certificate issued in a batch: as for `POST /v1/pki/issue`, without `root`. No
/// `Debug`: it holds the private key.
#[derive(Serialize, ToSchema)]
pub struct BatchIssued {
    /// Serial number, lowercase hex.
    pub serial: String,
    /// The certificate, PEM.
    pub certificate: String,
    /// The certificate and its intermediate(s), PEM (not the root).
    pub chain: String,
    /// Start of validity, RFC 3339.
    #[schema(value_type = String)]
    pub not_before: DateTime<Utc>,
    /// End of validity, RFC 3339.
    #[schema(value_type = String)]
    pub not_after: DateTime<Utc>,
    /// The private key, PKCS#8 PEM. Shown once.
    pub private_key: String,
}

/// What became of one request of a batch: the certificate, or `error`.
#[derive(Serialize, ToSchema)]
pub struct BatchItem {
    /// Position of the request in `items`.
    pub index: usize,
    /// The certificate, when issued.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub issued: Option<BatchIssued>,
    /// Problem object (`type`, `status`, `detail`), when this request was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub error: Option<serde_json::Value>,
}

/// The outcome of a batch, one result per request in request order.
#[derive(Serialize, ToSchema)]
pub struct BatchBody {
    /// How many were issued.
    pub issued: usize,
    /// How many were refused.
    pub refused: usize,
    /// The root certificate, PEM (the same for every item).
    pub root: String,
    /// One per request, in order.
    pub results: Vec<BatchItem>,
}

/// One batch item's HTTP-side checks (lifetime syntax, mTLS-bound names); the CA checks
/// the rest. A refusal here is audited here.
async fn batch_request(
    s: &AppState,
    caller: &Caller,
    index: usize,
    b: IssueBody,
) -> Result<IssueRequest, ApiError> {
    let ttl = match duration(b.ttl.as_deref()) {
        Ok(ttl) => ttl,
        Err(e) => {
            let mut rec = caller.ctx.record("pki.issue", None);
            rec.detail("index", index)
                .fail(webqx_audit::Outcome::Failure, e.kind);
            s.audit
                .record(rec)
                .await
                .map_err(|_| crate::extract::audit_down())?;
            return Err(e);
        }
    };
    check_bound_names(s, caller, b.profile, &b.names, "pki.issue").await?;
    Ok(IssueRequest {
        names: b.names,
        profile: b.profile,
        key: b.key,
        ttl,
        issuer: b.issuer,
        store_key: b.store_key,
        requester: requester(caller),
        source: "api".into(),
    })
}

fn batch_issued(i: Issued) -> BatchIssued {
    BatchIssued {
        serial: i.serial,
        certificate: i.cert_pem,
        chain: i.chain_pem,
        not_before: i.not_before,
        not_after: i.not_after,
        private_key: i
            .key_pem
            .map(|k| String::from_utf8_lossy(k.expose()).into_owned())
            .unwrap_or_default(),
    }
}

fn refused_item(index: usize, e: ApiError) -> BatchItem {
    BatchItem {
        index,
        issued: None,
        error: Some(crate::problem::item_problem(&e)),
    }
}

#[utoipa::path(post, path = "/v1/pki/issue/batch", tag = "pki", request_body = IssueBatchBody,
    responses((status = 200, body = BatchBody, description = "one result per request, each \
        the certificate or its own problem object"),
        (status = 403, body = crate::problem::Problem),
        (status = 422, body = crate::problem::Problem, description = "empty or over 10,000")))]
/// Issue up to 10,000 certificates with keys generated here (operation `pki-issue`).
/// Each request gets the checks of `POST /v1/pki/issue` and is refused alone; the
/// accepted ones are issued together and committed in one transaction.
pub async fn issue_batch(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<IssueBatchBody>,
) -> ApiResult<BatchBody> {
    caller
        .require(&s, Operation::PkiIssue, None, "pki.issue_batch")
        .await?;
    webqx_pki::ca::check_batch_size(b.items.len()).map_err(public_err)?;

    let mut results: Vec<Option<BatchItem>> = Vec::with_capacity(b.items.len());
    let mut accepted = Vec::new();
    for (index, item) in b.items.into_iter().enumerate() {
        match batch_request(&s, &caller, index, item).await {
            Ok(req) => {
                accepted.push((index, req));
                results.push(None);
            }
            Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => return Err(e),
            Err(e) => results.push(Some(refused_item(index, e))),
        }
    }

    let indices: Vec<usize> = accepted.iter().map(|(i, _)| *i).collect();
    if !accepted.is_empty() {
        let outcomes = s.pki.issue_each(&caller.ctx, accepted).await?;
        for (index, outcome) in indices.into_iter().zip(outcomes) {
            let item = match outcome {
                Ok(i) => BatchItem {
                    index,
                    issued: Some(batch_issued(i)),
                    error: None,
                },
                Err(e) => refused_item(index, ApiError::from(e)),
            };
            if let Some(slot) = results.get_mut(index) {
                *slot = Some(item);
            }
        }
    }
    let results: Vec<BatchItem> = results.into_iter().flatten().collect();
    let refused = results.iter().filter(|r| r.error.is_some()).count();
    Ok(Done(
        StatusCode::OK,
        BatchBody {
            issued: results.len() - refused,
            refused,
            root: s.pki.root_pem(),
            results,
        },
    ))
}

#[utoipa::path(post, path = "/v1/pki/sign", tag = "pki", request_body = SignBody,
    responses((status = 201, body = IssuedBody), (status = 403, body = crate::problem::Problem),
        (status = 422, body = crate::problem::Problem)))]
/// Sign a PKCS#10 CSR (operation `pki-issue`).
pub async fn sign(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<SignBody>,
) -> ApiResult<IssuedBody> {
    caller
        .require(&s, Operation::PkiIssue, None, "pki.sign")
        .await?;
    // The CA checks the CSR itself; its names are needed first for the binding check.
    if let Ok(csr) = webqx_pki::ca::check_csr(b.csr.as_bytes()) {
        check_bound_names(&s, &caller, b.profile, &csr.names, "pki.sign").await?;
    }
    let req = SignRequest {
        csr: b.csr.into_bytes(),
        profile: b.profile,
        ttl: duration(b.ttl.as_deref())?,
        issuer: b.issuer,
        requester: requester(&caller),
        source: "api".into(),
    };
    let issued = s.pki.sign_csr(&caller.ctx, req).await?;
    Ok(Done(StatusCode::CREATED, issued_body(&s, issued)))
}

/// Which certificates to list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListParams {
    /// `next` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1-1000 (default 100).
    pub limit: Option<u32>,
    /// Only those issued by this CA.
    pub issuer: Option<String>,
    /// Only revoked (`true`) or not revoked (`false`).
    pub revoked: Option<bool>,
}

#[utoipa::path(get, path = "/v1/pki/certs", tag = "pki", params(ListParams),
    responses((status = 200, description = "{items: [certificate], next}")))]
/// List issued certificates, oldest first (operation `pki-read`).
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<ListParams>,
) -> Result<axum::Json<CertPage>, ApiError> {
    caller
        .require(&s, Operation::PkiRead, None, "pki.list")
        .await?;
    let page = s
        .pki
        .list(&ListQuery {
            limit: q.limit,
            cursor: q.cursor,
            issuer: q.issuer,
            revoked: q.revoked,
        })
        .await
        .map_err(public_err)?;
    Ok(axum::Json(page))
}

#[utoipa::path(get, path = "/v1/pki/certs/{serial}", tag = "pki",
    params(("serial" = String, Path, description = "serial number, hex")),
    responses((status = 200, description = "the certificate's record"), (status = 404, body = crate::problem::Problem)))]
/// Show one certificate (operation `pki-read`).
pub async fn show(
    State(s): State<AppState>,
    caller: Caller,
    Path(serial): Path<String>,
) -> Result<axum::Json<CertRecord>, ApiError> {
    caller
        .require(&s, Operation::PkiRead, None, "pki.show")
        .await?;
    let rec = s.pki.get(&serial).await.map_err(public_err)?;
    rec.map(axum::Json)
        .ok_or_else(|| public_err(CaError::CertNotFound(serial)))
}

/// A kept private key.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyBody {
    /// Serial number, hex.
    pub serial: String,
    /// PKCS#8 PEM.
    pub private_key: String,
}

#[utoipa::path(get, path = "/v1/pki/certs/{serial}/key", tag = "pki",
    params(("serial" = String, Path, description = "serial number, hex")),
    responses((status = 200, body = KeyBody), (status = 404, body = crate::problem::Problem),
        (status = 422, body = crate::problem::Problem)))]
/// The private key kept for a certificate issued with `store_key` (operation `pki-admin`;
/// every read is audited).
pub async fn stored_key(
    State(s): State<AppState>,
    caller: Caller,
    Path(serial): Path<String>,
) -> Result<axum::Json<KeyBody>, ApiError> {
    caller
        .require(&s, Operation::PkiAdmin, None, "pki.key.export")
        .await?;
    let key = s.pki.stored_key(&caller.ctx, &serial).await?;
    let private_key = String::from_utf8_lossy(key.expose()).into_owned();
    Ok(axum::Json(KeyBody {
        serial: serial.to_ascii_lowercase().replace(':', ""),
        private_key,
    }))
}

/// Revoke a certificate.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    /// RFC 5280 reason: `unspecified` (default), `keyCompromise`, `cACompromise`,
    /// `affiliationChanged`, `superseded`, `cessationOfOperation`, `certificateHold`,
    /// `privilegeWithdrawn`, `aACompromise` (or the numeric code).
    pub reason: Option<String>,
}

/// Revocation done.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    /// Serial number.
    pub serial: String,
    /// Reason.
    pub reason: String,
}

#[utoipa::path(post, path = "/v1/pki/certs/{serial}/revoke", tag = "pki", request_body = RevokeBody,
    params(("serial" = String, Path, description = "serial number, hex")),
    responses((status = 200, body = Revoked), (status = 404, body = crate::problem::Problem),
        (status = 409, body = crate::problem::Problem)))]
/// Revoke a certificate (operation `pki-revoke`); the CRL is rebuilt at once.
pub async fn revoke(
    State(s): State<AppState>,
    caller: Caller,
    Path(serial): Path<String>,
    JsonBody(b): JsonBody<RevokeBody>,
) -> ApiResult<Revoked> {
    caller
        .require(&s, Operation::PkiRevoke, None, "pki.revoke")
        .await?;
    let reason: RevocationReason = match b.reason.as_deref() {
        None => RevocationReason::Unspecified,
        Some(r) => r.parse().map_err(public_err)?,
    };
    s.pki.revoke(&caller.ctx, &serial, reason).await?;
    Ok(Done(
        StatusCode::OK,
        Revoked {
            serial: webqx_pki::ca::normalize_serial(&serial).unwrap_or(serial),
            reason: reason.as_str().into(),
        },
    ))
}

/// The CA hierarchy.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaList {
    /// Root first.
    #[schema(value_type = Vec<Object>)]
    pub cas: Vec<CaInfo>,
}

#[utoipa::path(get, path = "/v1/pki/cas", tag = "pki", responses((status = 200, body = CaList)))]
/// The CA hierarchy (operation `pki-read`).
pub async fn cas(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<CaList>, ApiError> {
    caller
        .require(&s, Operation::PkiRead, None, "pki.cas")
        .await?;
    s.pki.reload().await.map_err(public_err)?;
    Ok(axum::Json(CaList { cas: s.pki.cas() }))
}

/// A new intermediate CA.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCa {
    /// Name: letters, digits, `-`, `_`.
    pub name: String,
    /// Make it the default issuing CA.
    #[serde(default)]
    pub default: bool,
}

#[utoipa::path(post, path = "/v1/pki/cas", tag = "pki", request_body = NewCa,
    responses((status = 201, description = "the new CA"), (status = 409, body = crate::problem::Problem)))]
/// Create an intermediate CA signed by the root (operation `pki-admin`).
pub async fn create_ca(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<NewCa>,
) -> ApiResult<CaInfo> {
    caller
        .require(&s, Operation::PkiAdmin, None, "pki.ca.create")
        .await?;
    let ca = s
        .pki
        .create_intermediate(&caller.ctx, &b.name, b.default)
        .await?;
    Ok(Done(StatusCode::CREATED, ca))
}

#[utoipa::path(post, path = "/v1/pki/cas/{name}/revoke", tag = "pki", request_body = RevokeBody,
    params(("name" = String, Path, description = "the intermediate's name")),
    responses((status = 200, description = "the revoked CA"), (status = 404, body = crate::problem::Problem),
        (status = 409, body = crate::problem::Problem), (status = 422, body = crate::problem::Problem)))]
/// Revoke an intermediate CA (operation `pki-admin`): it issues nothing more, the root's
/// CRL lists it, and the certificates it issued report revoked.
pub async fn revoke_ca(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(b): JsonBody<RevokeBody>,
) -> ApiResult<CaInfo> {
    caller
        .require(&s, Operation::PkiAdmin, None, "pki.ca.revoke")
        .await?;
    let reason: RevocationReason = match b.reason.as_deref() {
        None => RevocationReason::Unspecified,
        Some(r) => r.parse().map_err(public_err)?,
    };
    let ca = s.pki.revoke_ca(&caller.ctx, &name, reason).await?;
    Ok(Done(StatusCode::OK, ca))
}

fn public(content_type: &'static str, body: impl Into<axum::body::Body>) -> Response {
    let mut r = (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=60"),
            ),
        ],
        body.into(),
    )
        .into_response();
    r.extensions_mut().insert(AuditDone);
    r
}

#[utoipa::path(get, path = "/v1/pki/ca.pem", tag = "pki", security(()),
    responses((status = 200, description = "the root certificate, PEM")))]
/// The root certificate (no token).
pub async fn root_pem(State(s): State<AppState>) -> Response {
    public("application/x-pem-file", s.pki.root_pem())
}

/// Which CRL.
#[derive(Debug, Deserialize, IntoParams)]
pub struct CrlParams {
    /// CA name (default: the default issuing CA).
    pub issuer: Option<String>,
}

#[utoipa::path(get, path = "/v1/pki/crl", tag = "pki", security(()), params(CrlParams),
    responses((status = 200, description = "the CRL, DER (application/pkix-crl)")))]
/// The current CRL, DER (no token).
pub async fn crl_der(
    State(s): State<AppState>,
    Query(q): Query<CrlParams>,
) -> Result<Response, ApiError> {
    let crl = s.pki.crl(q.issuer.as_deref()).await.map_err(public_err)?;
    Ok(public("application/pkix-crl", crl.der.clone()))
}

#[utoipa::path(get, path = "/v1/pki/crl.pem", tag = "pki", security(()), params(CrlParams),
    responses((status = 200, description = "the CRL, PEM")))]
/// The current CRL, PEM (no token).
pub async fn crl_pem(
    State(s): State<AppState>,
    Query(q): Query<CrlParams>,
) -> Result<Response, ApiError> {
    let crl = s.pki.crl(q.issuer.as_deref()).await.map_err(public_err)?;
    Ok(public("application/x-pem-file", crl.pem()))
}

/// An error the CA did not audit (reads, and checks before it was called): the
/// middleware records the failed request.
fn public_err(e: CaError) -> ApiError {
    let mut e = ApiError::from(e);
    e.audited = false;
    e
}

#[utoipa::path(post, path = "/v1/pki/ocsp", tag = "pki", security(()),
    request_body(content = Vec<u8>, content_type = "application/ocsp-request"),
    responses((status = 200, description = "OCSP response, DER (application/ocsp-response)")))]
/// OCSP (RFC 6960) over POST (no token). A request sent with a content coding is
/// answered `malformedRequest`: OCSP requests are sent as they are.
pub async fn ocsp_post(
    State(s): State<AppState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Response {
    if crate::extract::has_content_coding(&headers) {
        return ocsp_reply(webqx_pki::ca::ocsp::error_response(
            webqx_pki::ca::ocsp::OcspStatus::MalformedRequest,
        ));
    }
    match axum::body::to_bytes(body, MAX_OCSP_BYTES).await {
        Ok(bytes) => ocsp_reply(s.pki.ocsp(&bytes).await),
        Err(_) => ocsp_reply(webqx_pki::ca::ocsp::error_response(
            webqx_pki::ca::ocsp::OcspStatus::MalformedRequest,
        )),
    }
}

#[utoipa::path(get, path = "/v1/pki/ocsp/{request}", tag = "pki", security(()),
    params(("request" = String, Path, description = "the DER request, base64 (URL-encoded)")),
    responses((status = 200, description = "OCSP response, DER (application/ocsp-response)")))]
/// OCSP (RFC 6960 appendix A.1) over GET (no token).
pub async fn ocsp_get(State(s): State<AppState>, Path(request): Path<String>) -> Response {
    let engines = [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::URL_SAFE,
    ];
    let der = engines
        .iter()
        .find_map(|e| e.decode(request.trim_end_matches('\n')).ok());
    match der {
        Some(der) if der.len() <= MAX_OCSP_BYTES => ocsp_reply(s.pki.ocsp(&der).await),
        _ => ocsp_reply(webqx_pki::ca::ocsp::error_response(
            webqx_pki::ca::ocsp::OcspStatus::MalformedRequest,
        )),
    }
}

fn ocsp_reply(der: Vec<u8>) -> Response {
    let mut r = public("application/ocsp-response", der);
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// The routes.
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/v1/pki/issue", post(issue))
        .route("/v1/pki/issue/batch", post(issue_batch))
        .route("/v1/pki/sign", post(sign))
        .route("/v1/pki/certs", get(list))
        .route("/v1/pki/certs/{serial}", get(show))
        .route("/v1/pki/certs/{serial}/key", get(stored_key))
        .route("/v1/pki/certs/{serial}/revoke", post(revoke))
        .route("/v1/pki/cas", get(cas).post(create_ca))
        .route("/v1/pki/cas/{name}/revoke", post(revoke_ca))
        .route("/v1/pki/ca.pem", get(root_pem))
        .route("/v1/pki/crl", get(crl_der))
        .route("/v1/pki/crl.pem", get(crl_pem))
        .route("/v1/pki/ocsp", post(ocsp_post))
        .route("/v1/pki/ocsp/{request}", get(ocsp_get))
}
