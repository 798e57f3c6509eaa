//! Client certificates as API credentials (mutual TLS).
//!
//! The listener asks every client for a certificate from our CA (optional: bearer
//! tokens keep working) and hands the verified one to each request of the connection.
//! Here a request that carries a certificate and no bearer token is authenticated:
//! the CA's status of the serial is checked on every request (a revoked certificate is
//! refused at once, 401), then its names (SAN URIs, SAN DNS names, CN) are looked up in
//! the bindings (`/v1/pki/mtls/bindings`); a valid but unbound certificate gets 403.
//! The audit actor is `cert:<serial>:<name>`.

use crate::extract::audit_down;
use crate::middleware::ReqMeta;
use crate::problem::ApiError;
use crate::state::AppState;
use axum::http::StatusCode;
use std::sync::Arc;
use webqx_audit::Outcome;
use webqx_pki::mtls::{Bindings, ClientIdentity};
use webqx_pki::stored::RecordError;
use webqx_tokens::Principal;

/// The verified client certificate of the connection a request came on.
#[derive(Debug, Clone)]
pub struct ClientCert(pub Arc<ClientIdentity>);

/// The client certificate rustls verified for `conn`, if one was presented.
pub(crate) fn client_cert(conn: &rustls::ServerConnection) -> Option<ClientCert> {
    let der = conn.peer_certificates()?.first()?;
    match ClientIdentity::from_der(der) {
        Ok(id) => Some(ClientCert(Arc::new(id))),
        Err(e) => {
            tracing::debug!(error = %e, "verified client certificate does not parse; ignored");
            None
        }
    }
}

/// The bindings store of `state`.
pub fn bindings(state: &AppState) -> Bindings {
    Bindings::new(state.store.clone(), state.audit.clone())
}

fn refused(status: StatusCode, kind: &'static str, detail: String) -> ApiError {
    ApiError::new(status, kind, detail).audited()
}

/// Authenticates a request by its client certificate: the principal and the audit
/// actor. Refusals are audited here.
///
/// # Errors
/// 401 for a revoked or unknown certificate, 403 for an unbound one, 503 when the
/// store or the audit trail fails.
pub(crate) async fn authenticate(
    state: &AppState,
    meta: &ReqMeta,
    route: Option<String>,
    cert: &ClientCert,
) -> Result<(Principal, String), ApiError> {
    let id = &cert.0;
    let actor = format!("cert:{}", id.serial);
    let outcome = check(state, id).await;
    let (principal, actor) = match outcome {
        Ok((principal, name)) => (principal, format!("{actor}:{name}")),
        Err(error) => {
            let mut rec = meta.context(&actor).record("auth.certificate", route);
            rec.detail("subject", id.subject.clone())
                .detail("serial", id.serial.clone())
                .fail(Outcome::Denied, error.kind);
            state.audit.record(rec).await.map_err(|_| audit_down())?;
            metrics::counter!("webqx_server_auth_failures_total", "kind" => error.kind)
                .increment(1);
            return Err(error);
        }
    };
    metrics::counter!("webqx_server_mtls_authentications_total").increment(1);
    Ok((principal, actor))
}

async fn check(state: &AppState, id: &ClientIdentity) -> Result<(Principal, String), ApiError> {
    check_status(state, id).await?;
    let resolved = match bindings(state).resolve(&id.names).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return Err(refused(
                StatusCode::FORBIDDEN,
                "certificate-not-bound",
                format!(
                    "the client certificate '{}' (serial {}) is valid, but none of its names [{}] \
                     is bound to a policy; an administrator binds one with `webqx-sec cert bind \
                     NAME --policy-of TOKEN_ID`",
                    id.subject,
                    id.serial,
                    id.names.join(", ")
                ),
            ));
        }
        Err(RecordError::Forbidden(why)) => {
            return Err(refused(
                StatusCode::FORBIDDEN,
                "certificate-binding-inactive",
                why,
            ));
        }
        Err(e) => {
            tracing::error!(error = %e, "certificate binding lookup failed");
            return Err(refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage-unavailable",
                "the service cannot reach its store; retry later".into(),
            ));
        }
    };
    let principal = Principal {
        token_id: format!("mtls-{}", resolved.binding_id),
        name: format!("certificate {}", resolved.name),
        policy: resolved.policy,
        grants: None,
    };
    Ok((principal, resolved.name))
}

/// Refuses a certificate the CA reports revoked or does not know (asked on every
/// request, so a revocation takes effect at once).
async fn check_status(state: &AppState, id: &ClientIdentity) -> Result<(), ApiError> {
    use webqx_pki::ca::CertStatus;
    match state.pki.status(&id.serial).await {
        Ok(CertStatus::Good) => Ok(()),
        Ok(CertStatus::Revoked { at, reason }) => Err(refused(
            StatusCode::UNAUTHORIZED,
            "certificate-revoked",
            format!(
                "the client certificate '{}' (serial {}) was revoked at {} ({reason}); ask \
                 for a new certificate",
                id.subject,
                id.serial,
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        )),
        Ok(_) => Err(refused(
            StatusCode::UNAUTHORIZED,
            "certificate-unknown",
            format!(
                "the client certificate '{}' (serial {}) chains to this service's CA but is not \
                 in its records; ask for a certificate issued by `webqx-sec cert issue`",
                id.subject, id.serial
            ),
        )),
        Err(e) => {
            tracing::error!(error = %e, "certificate status lookup failed");
            Err(refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage-unavailable",
                "the service cannot check the certificate's status; retry later".into(),
            ))
        }
    }
}
