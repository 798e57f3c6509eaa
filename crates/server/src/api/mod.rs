//! The HTTP API: routes, the OpenAPI document generated from the handlers, and the
//! fallbacks that keep every error in problem+json.

pub mod acme;
pub mod audit;
pub mod backup;
pub mod fhir;
pub mod keys;
pub mod lifecycle;
pub mod monitor;
pub mod mtls;
pub mod oauth;
pub mod pins;
pub mod pki;
pub mod scans;
pub mod sys;
pub mod tang;
pub mod tde;
pub mod tokens;
pub mod vuln;

use crate::problem::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use utoipa::OpenApi;

/// The OpenAPI description, generated from the handlers' annotations.
#[derive(OpenApi)]
#[openapi(
    info(title = "WebQx Security API", description = "Key management and PHI encryption for the WebQx EHR."),
    paths(
        keys::create, keys::list, keys::show, keys::rotate, keys::configure, keys::enable, keys::disable,
        keys::schedule_deletion, keys::cancel_deletion, keys::destroy, keys::export,
        keys::encrypt, keys::decrypt, keys::rewrap, keys::datakey, keys::sign, keys::verify, keys::hmac,
        fhir::protect, fhir::unprotect, fhir::rewrap, fhir::search_token,
        sys::health, sys::ready, sys::seal_status, sys::unseal, sys::seal, sys::metrics,
        sys::rewrap_hsm,
        tokens::create, tokens::list, tokens::revoke,
        audit::verify, audit::verify_against, audit::checkpoint_now, audit::latest_checkpoint,
        audit::records, audit::events, audit::hmac, audit::sinks,
        backup::create, backup::list,
        mtls::create, mtls::list, mtls::remove, pins::set, pins::show, pins::remove,
        lifecycle::inventory, lifecycle::add, lifecycle::list, lifecycle::remove,
        tang::adv, tang::adv_thp, tang::rec,
        pki::issue, pki::issue_batch, pki::sign, pki::list, pki::show, pki::stored_key, pki::revoke, pki::cas, pki::create_ca, pki::revoke_ca,
        pki::root_pem, pki::crl_der, pki::crl_pem, pki::ocsp_post, pki::ocsp_get,
        acme::directory, acme::new_nonce,
        scans::create, scans::list, scans::delete, scans::results, scans::run,
        oauth::token, oauth::introspect, oauth::revoke, oauth::jwks, oauth::metadata, oauth::verify,
        oauth::create_client, oauth::list_clients, oauth::show_client, oauth::disable_client,
        oauth::enable_client, oauth::delete_client,
        monitor::events, monitor::list, monitor::show, monitor::ack, monitor::close, monitor::stream,
        monitor::rules, monitor::suppressions, monitor::suppress, monitor::unsuppress,
        monitor::put_context, monitor::get_context,
        vuln::create, vuln::list, vuln::remove, vuln::run, vuln::results, vuln::findings,
        vuln::db_status, vuln::db_import, vuln::scan,
    ),
    components(schemas(crate::problem::Problem)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

async fn openapi() -> axum::response::Response {
    use axum::response::IntoResponse;
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let doc = DOC.get_or_init(|| ApiDoc::openapi().to_json().unwrap_or_default());
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        doc.clone(),
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "no such endpoint; the API is described at /v1/openapi.json",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "this endpoint does not take that method; see /v1/openapi.json",
    )
}

/// All routes.
pub fn router(state: AppState) -> Router {
    let metrics = if state.config.metrics.public {
        get(sys::metrics_public)
    } else {
        get(sys::metrics)
    };
    tde::mount(Router::new(), &state.config)
        .route("/v1/keys", post(keys::create).get(keys::list))
        .route("/v1/keys/{name}", get(keys::show))
        .route("/v1/keys/{name}/rotate", post(keys::rotate))
        .route("/v1/keys/{name}/config", post(keys::configure))
        .route("/v1/keys/{name}/enable", post(keys::enable))
        .route("/v1/keys/{name}/disable", post(keys::disable))
        .route(
            "/v1/keys/{name}/schedule-deletion",
            post(keys::schedule_deletion),
        )
        .route(
            "/v1/keys/{name}/cancel-deletion",
            post(keys::cancel_deletion),
        )
        .route("/v1/keys/{name}/destroy", post(keys::destroy))
        .route("/v1/keys/{name}/export", get(keys::export))
        .route("/v1/keys/{name}/encrypt", post(keys::encrypt))
        .route("/v1/keys/{name}/decrypt", post(keys::decrypt))
        .route("/v1/keys/{name}/rewrap", post(keys::rewrap))
        .route("/v1/keys/{name}/datakey", post(keys::datakey))
        .route("/v1/keys/{name}/sign", post(keys::sign))
        .route("/v1/keys/{name}/verify", post(keys::verify))
        .route("/v1/keys/{name}/hmac", post(keys::hmac))
        .route("/v1/fhir/protect", post(fhir::protect))
        .route("/v1/fhir/unprotect", post(fhir::unprotect))
        .route("/v1/fhir/rewrap", post(fhir::rewrap))
        .route("/v1/fhir/search-token", post(fhir::search_token))
        .route("/v1/sys/health", get(sys::health))
        .route("/v1/sys/ready", get(sys::ready))
        .route("/v1/sys/seal-status", get(sys::seal_status))
        .route("/v1/sys/unseal", post(sys::unseal))
        .route("/v1/sys/seal", post(sys::seal))
        .route("/v1/sys/backup", post(backup::create))
        .route("/v1/sys/backups", get(backup::list))
        .route("/v1/sys/seal/rewrap", post(sys::rewrap_hsm))
        .route("/v1/tokens", post(tokens::create).get(tokens::list))
        .route("/v1/tokens/{id}", delete(tokens::revoke))
        .route(
            "/v1/audit/verify",
            get(audit::verify).post(audit::verify_against),
        )
        .route("/v1/audit/checkpoints", post(audit::checkpoint_now))
        .route(
            "/v1/audit/checkpoints/latest",
            get(audit::latest_checkpoint),
        )
        .route("/v1/audit/records", get(audit::records))
        .route("/v1/audit/events", post(audit::events))
        .route("/v1/audit/hmac", post(audit::hmac))
        .route("/v1/audit/sinks", get(audit::sinks))
        .route("/v1/pki/scans", post(scans::create).get(scans::list))
        .route("/v1/pki/scans/{id}", delete(scans::delete))
        .route("/v1/pki/scans/{id}/results", get(scans::results))
        .route("/v1/pki/scans/{id}/run", post(scans::run))
        .route("/v1/openapi.json", get(openapi))
        .route("/metrics", metrics)
        .merge(tang::routes("/tang"))
        .merge(mtls::routes())
        .merge(pins::routes())
        .merge(lifecycle::routes())
        .merge(pki::routes())
        .merge(acme::routes())
        .merge(oauth::routes())
        .merge(monitor::routes())
        .merge(vuln::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::middleware::track,
        ))
        .with_state(state)
}
