//! ACME (`[acme]`, RFC 8555): the directory, nonces and the JWS-signed protocol under
//! `/acme/`, mapped onto [`webqx_pki::acme::Acme`].
//!
//! No bearer token: an ACME client authenticates every POST with its account key (JWS),
//! which the protocol module checks. Every response carries a fresh `Replay-Nonce` and a
//! `Link` to the directory; errors are `application/problem+json` with
//! `urn:ietf:params:acme:error:*` types. The request's audit record names the ACME
//! account (`acme:account/<id>`) as the actor; issuance and revocation are audited by
//! the CA with the same actor.

use crate::middleware::{ProblemKind, ReqMeta};
use crate::state::AppState;
use axum::body::Body as HttpBody;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde_json::json;
use webqx_pki::acme::jws::MAX_JWS_BYTES;
use webqx_pki::acme::{Acme, AcmeError, Body, Endpoint, Reply};

/// The ACME routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/acme/directory", get(directory))
        .route("/acme/new-nonce", get(new_nonce).head(new_nonce))
        .route("/acme/{*rest}", post(signed))
}

fn service(s: &AppState) -> Result<&Acme, AcmeError> {
    s.acme.as_ref().ok_or(AcmeError::Disabled)
}

/// `https://host:port` as the client addressed us (the JWS `url` must match it): the
/// `Host` header (HTTP/1.1) or the request's authority (HTTP/2).
fn base(headers: &HeaderMap, uri: &Uri) -> Result<String, AcmeError> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                })
        })
        .ok_or_else(|| AcmeError::Malformed("the request has no valid Host header".into()))?;
    Ok(format!("https://{host}"))
}

async fn decorate(s: &AppState, base: Option<&str>, mut response: Response) -> Response {
    let headers = response.headers_mut();
    if let Ok(acme) = service(s) {
        match acme.new_nonce().await {
            Ok(nonce) => {
                if let Ok(v) = HeaderValue::from_str(&nonce) {
                    headers.insert("replay-nonce", v);
                }
            }
            Err(e) => tracing::error!(error = ?e, "ACME nonce could not be stored"),
        }
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(base) = base
        && let Ok(v) = HeaderValue::from_str(&format!("<{base}/acme/directory>;rel=\"index\""))
    {
        headers.append(header::LINK, v);
    }
    response
}

fn problem(e: &AcmeError) -> Response {
    if let AcmeError::ServerInternal(why) = e {
        tracing::error!(problem = %why, "ACME request failed on our side");
    }
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let body = json!({"type": e.type_urn(), "detail": e.to_string(), "status": status.as_u16()});
    let mut r = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        )],
        body.to_string(),
    )
        .into_response();
    r.extensions_mut().insert(ProblemKind(e.acme_type()));
    r
}

fn reply(r: Reply) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK);
    let mut response = match r.body {
        Body::Json(v) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            v.to_string(),
        )
            .into_response(),
        Body::PemChain(pem) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/pem-certificate-chain"),
            )],
            pem,
        )
            .into_response(),
        Body::Empty => status.into_response(),
    };
    let headers = response.headers_mut();
    if let Some(v) = r.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        headers.insert(header::LOCATION, v);
    }
    for link in r.links {
        if let Ok(v) = HeaderValue::from_str(&link) {
            headers.append(header::LINK, v);
        }
    }
    response
}

#[utoipa::path(get, path = "/acme/directory", tag = "acme", security(()),
    responses((status = 200, description = "the ACME directory (RFC 8555 §7.1.1)"),
        (status = 404, description = "ACME is not enabled")))]
/// The ACME directory. No token.
pub async fn directory(State(s): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let base = base(&headers, &uri).ok();
    let result = service(&s).and_then(|acme| {
        let base = base
            .as_deref()
            .ok_or_else(|| AcmeError::Malformed("the request has no valid Host header".into()))?;
        Ok(acme.directory(base))
    });
    let response = match result {
        Ok(dir) => reply(Reply {
            status: 200,
            body: Body::Json(dir),
            location: None,
            links: Vec::new(),
            actor: None,
        }),
        Err(e) => problem(&e),
    };
    decorate(&s, base.as_deref(), response).await
}

#[utoipa::path(head, path = "/acme/new-nonce", tag = "acme", security(()),
    responses((status = 200, description = "a fresh nonce in Replay-Nonce (204 for GET)")))]
/// A fresh nonce (HEAD 200, GET 204). No token.
pub async fn new_nonce(
    State(s): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let response = match service(&s) {
        Ok(_) if method == Method::HEAD => StatusCode::OK.into_response(),
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => problem(&e),
    };
    decorate(&s, base(&headers, &uri).ok().as_deref(), response).await
}

fn endpoint(rest: &str) -> Option<Endpoint> {
    let parts: Vec<&str> = rest.split('/').collect();
    let id = |s: &str| {
        (!s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| s.to_owned())
    };
    Some(match parts.as_slice() {
        ["new-account"] => Endpoint::NewAccount,
        ["new-order"] => Endpoint::NewOrder,
        ["revoke-cert"] => Endpoint::RevokeCert,
        ["key-change"] => Endpoint::KeyChange,
        ["acct", a] => Endpoint::Account(id(a)?),
        ["acct", a, "orders"] => Endpoint::AccountOrders(id(a)?),
        ["order", o] => Endpoint::Order(id(o)?),
        ["order", o, "finalize"] => Endpoint::Finalize(id(o)?),
        ["authz", a] => Endpoint::Authz(id(a)?),
        ["chall", c] => Endpoint::Challenge(id(c)?),
        ["cert", c] => Endpoint::Cert(id(c)?),
        _ => return None,
    })
}

async fn handle(s: &AppState, meta: &ReqMeta, req: Request) -> Result<Response, AcmeError> {
    let acme = service(s)?;
    let base = base(req.headers(), req.uri())?;
    let rest = req.uri().path().strip_prefix("/acme/").unwrap_or("");
    let endpoint = endpoint(rest).ok_or(AcmeError::NotFound)?;
    let media = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !media
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/jose+json")
    {
        return Err(AcmeError::Malformed(
            "ACME requests are JWS with Content-Type: application/jose+json".into(),
        ));
    }
    // The JWS is read as sent: a compressed body would only fail later as "not JSON".
    if crate::extract::has_content_coding(req.headers()) {
        return Err(AcmeError::Malformed(
            "ACME requests are read as sent; send the JWS without Content-Encoding".into(),
        ));
    }
    let body = axum::body::to_bytes(req.into_body(), MAX_JWS_BYTES)
        .await
        .map_err(|_| AcmeError::Malformed(format!("the body is over {MAX_JWS_BYTES} bytes")))?;
    let ctx = meta.context("anonymous");
    let outcome = acme.post(&base, &endpoint, &body, &ctx).await;
    let result = outcome.as_ref().map_or_else(AcmeError::acme_type, |_| "ok");
    metrics::counter!("webqx_acme_requests_total", "endpoint" => endpoint.name(), "result" => result)
        .increment(1);
    if let Ok(Reply {
        actor: Some(actor), ..
    }) = &outcome
        && let Ok(mut slot) = meta.actor.lock()
    {
        *slot = Some(actor.clone());
    }
    outcome.map(reply)
}

/// Every signed ACME request (`POST /acme/...`). No token: the JWS authenticates.
pub async fn signed(
    State(s): State<AppState>,
    Extension(meta): Extension<ReqMeta>,
    req: Request<HttpBody>,
) -> Response {
    let base = base(req.headers(), req.uri()).ok();
    let response = match handle(&s, &meta, req).await {
        Ok(r) => r,
        Err(e) => problem(&e),
    };
    decorate(&s, base.as_deref(), response).await
}
