//! Tang (`[tang]`): the advertisement and key recovery that clevis uses for
//! network-bound disk encryption. Served under `/tang/` on the HTTPS API and, when
//! `tang.listen` is set, at the root of a plain-HTTP listener that serves nothing else.
//!
//! No token: a Tang client has none. The exchange is blinded and the advertisement
//! signed, so neither needs TLS for its security (see `docs/threat-model.md`). Every
//! answer is audited by the key service (`tang.advertise`, `tang.recover`).

use crate::middleware::{AuditDone, ReqMeta};
use crate::problem::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use webqx_kms::KmsError;
use webqx_kms::tang::{MAX_JWK_BYTES, TangError};

impl From<TangError> for ApiError {
    fn from(e: TangError) -> ApiError {
        let status = match &e {
            TangError::UnknownKey => StatusCode::NOT_FOUND,
            TangError::NotExchangeKey => StatusCode::FORBIDDEN,
            TangError::BadJwk(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        match e {
            TangError::Kms(k @ (KmsError::KeyNotFound(_) | KmsError::WrongKeyType { .. })) => {
                // The server's own configuration is wrong, not the client's request.
                tracing::error!(
                    problem = %k,
                    "Tang cannot serve: [tang] ring must name a key made with `webqx-sec key \
                     create NAME --type tang-p521`"
                );
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "tang-unavailable",
                    "the Tang service is not ready; its operator must configure its key ring",
                )
                .audited()
            }
            TangError::Kms(k) => ApiError::from(k),
            other => ApiError::new(status, other.kind(), other.to_string()).audited(),
        }
    }
}

fn reply(content_type: &'static str, body: String) -> Response {
    let mut r = (
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response();
    r.extensions_mut().insert(AuditDone);
    r
}

fn enabled(s: &AppState) -> Result<(), ApiError> {
    if s.config.tang.enabled {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "Tang is not enabled on this server ([tang] enabled = true)",
    ))
}

async fn advertise(s: &AppState, meta: &ReqMeta, thp: Option<&str>) -> Result<Response, ApiError> {
    enabled(s)?;
    let ctx = meta.context("anonymous");
    let jws = s
        .kms
        .tang_advertisement(&ctx, &s.config.tang.ring, thp)
        .await?;
    Ok(reply("application/jose+json", jws))
}

#[utoipa::path(get, path = "/tang/adv/", tag = "tang", security(()),
    responses((status = 200, description = "JWS (general JSON serialization) over the JWK set; application/jose+json"),
        (status = 404, body = crate::problem::Problem), (status = 503, body = crate::problem::Problem)))]
/// The Tang advertisement: the newest verify and exchange keys, signed. No token.
pub async fn adv(
    State(s): State<AppState>,
    Extension(meta): Extension<ReqMeta>,
) -> Result<Response, ApiError> {
    advertise(&s, &meta, None).await
}

#[utoipa::path(get, path = "/tang/adv/{thp}", tag = "tang", security(()),
    params(("thp" = String, Path, description = "JWK thumbprint of a signing key in use")),
    responses((status = 200, description = "the advertisement, also signed by the key named"),
        (status = 404, body = crate::problem::Problem), (status = 503, body = crate::problem::Problem)))]
/// The advertisement, signed also by the signing key with thumbprint `thp`. No token.
pub async fn adv_thp(
    State(s): State<AppState>,
    Extension(meta): Extension<ReqMeta>,
    crate::extract::Path(thp): crate::extract::Path<String>,
) -> Result<Response, ApiError> {
    advertise(&s, &meta, Some(&thp)).await
}

#[utoipa::path(post, path = "/tang/rec/{kid}", tag = "tang", security(()),
    params(("kid" = String, Path, description = "JWK thumbprint of the exchange key")),
    request_body(content = Object, content_type = "application/jwk+json", description = "the client's blinded public P-521 JWK"),
    responses((status = 200, description = "the point times the exchange key, as a public JWK (application/jwk+json)"),
        (status = 400, body = crate::problem::Problem), (status = 403, body = crate::problem::Problem),
        (status = 404, body = crate::problem::Problem), (status = 503, body = crate::problem::Problem)))]
/// Tang key recovery (McCallum-Relyea exchange). No token.
pub async fn rec(
    State(s): State<AppState>,
    Extension(meta): Extension<ReqMeta>,
    crate::extract::Path(kid): crate::extract::Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    enabled(&s)?;
    crate::extract::identity_only(&headers)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/jwk+json")
        && !media.eq_ignore_ascii_case("application/json")
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send the public JWK as Content-Type: application/jwk+json",
        ));
    }
    let bytes = axum::body::to_bytes(body, MAX_JWK_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body-too-large",
                format!("a Tang recovery request is a JWK of at most {MAX_JWK_BYTES} bytes"),
            )
        })?;
    let ctx = meta.context("anonymous");
    let jwk = s
        .kms
        .tang_recover(&ctx, &s.config.tang.ring, &kid, &bytes)
        .await?;
    Ok(reply("application/jwk+json", jwk))
}

/// The Tang routes under `prefix` (`""` for the plain listener, `/tang` on the API).
pub fn routes(prefix: &str) -> Router<AppState> {
    Router::new()
        .route(&format!("{prefix}/adv"), get(adv))
        .route(&format!("{prefix}/adv/"), get(adv))
        .route(&format!("{prefix}/adv/{{thp}}"), get(adv_thp))
        .route(&format!("{prefix}/rec/{{kid}}"), post(rec))
}

/// The whole router of the plain-HTTP Tang listener: the Tang routes and nothing else.
pub fn plain_router(state: AppState) -> Router {
    routes("")
        .fallback(super::not_found)
        .method_not_allowed_fallback(super::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::middleware::track,
        ))
        .with_state(state)
}
