//! `/v1/fhir`: protecting PHI elements of FHIR R4 resources, Bundles and NDJSON.
//!
//! A body is one JSON resource (or Bundle), or NDJSON when the content type says
//! `ndjson`. The answer has the same form. Nothing is returned half-done: if any
//! resource or line fails, the answer is 422 listing each failure, and nothing else.

use super::keys::{ApiResult, Done};
use crate::extract::{Body, Caller};
use crate::problem::{ApiError, item_error};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use webqx_crypto::SecretBytes;
use webqx_kms::Plain;
use webqx_kms::fhir::{ItemError, Stats};
use webqx_tokens::Operation;

/// How the body was framed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Framing {
    Json,
    FhirJson,
    Ndjson,
}

fn framing(content_type: &str) -> Framing {
    if content_type.contains("ndjson") {
        Framing::Ndjson
    } else if content_type.contains("fhir+json") {
        Framing::FhirJson
    } else {
        Framing::Json
    }
}

/// Parses the body into items; per-line errors for NDJSON.
fn items(body: &Body, framing: Framing) -> Result<Vec<Value>, ApiError> {
    if framing != Framing::Ndjson {
        webqx_kms::fhir::check_unique_keys(&body.bytes)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed-json", e))?;
        return crate::extract::parse_json(&body.bytes)
            .map(|v| vec![v])
            .map_err(ndjson_hint);
    }
    let text = std::str::from_utf8(&body.bytes)
        .map_err(|_| ApiError::bad_request("the NDJSON body is not UTF-8"))?;
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if let Err(e) = webqx_kms::fhir::check_unique_keys(line.as_bytes()) {
            errors.push(json!({"line": i + 1, "detail": e}));
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(v) => out.push(v),
            Err(e) => errors.push(
                json!({"line": i + 1, "detail": format!("not valid JSON (column {})", e.column())}),
            ),
        }
    }
    if !errors.is_empty() {
        let mut err = ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed-json",
            format!(
                "{} NDJSON line(s) are not valid JSON; nothing was processed",
                errors.len()
            ),
        );
        err.errors = Some(Box::new(Value::Array(errors)));
        return Err(err);
    }
    if out.is_empty() {
        return Err(ApiError::bad_request("the NDJSON body has no resources"));
    }
    Ok(out)
}

/// A JSON body that is really NDJSON: say how to send it.
fn ndjson_hint(mut e: ApiError) -> ApiError {
    if e.detail.contains("trailing characters") {
        e.detail.push_str(
            "; if this is NDJSON (one resource per line), send it as application/fhir+ndjson \
             (the CLI: --ndjson, or a .ndjson file name)",
        );
    }
    e
}

fn failures(results: &[Result<Stats, ItemError>], framing: Framing) -> Option<ApiError> {
    let errors: Vec<Value> = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e)))
        .map(|(i, e)| {
            let mut v = item_error(&e.error);
            v["location"] = e.location.clone().into();
            if framing == Framing::Ndjson {
                v["item"] = (i + 1).into();
            }
            v
        })
        .collect();
    if errors.is_empty() {
        return None;
    }
    let mut err = ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "fhir-items-failed",
        format!(
            "{} resource(s) could not be processed; nothing was returned",
            errors.len()
        ),
    );
    err.errors = Some(Box::new(Value::Array(errors)));
    Some(err.audited())
}

fn render(items: &[Value], framing: Framing, elements: usize) -> Response {
    let (body, content_type) = match framing {
        Framing::Ndjson => {
            let mut text = String::new();
            for item in items {
                text.push_str(&serde_json::to_string(item).unwrap_or_default());
                text.push('\n');
            }
            (text, "application/fhir+ndjson")
        }
        Framing::FhirJson => (
            serde_json::to_string(&items[0]).unwrap_or_default(),
            "application/fhir+json",
        ),
        Framing::Json => (
            serde_json::to_string(&items[0]).unwrap_or_default(),
            "application/json",
        ),
    };
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&elements.to_string()) {
        r.headers_mut().insert("x-webqx-elements", v);
    }
    r.extensions_mut().insert(crate::middleware::AuditDone);
    r
}

#[derive(Clone, Copy)]
enum Direction {
    Protect,
    Unprotect,
    Rewrap,
}

async fn run(
    s: AppState,
    caller: Caller,
    body: Body,
    direction: Direction,
) -> Result<Response, ApiError> {
    let (op, action) = match direction {
        Direction::Protect => (Operation::FhirProtect, "fhir.protect"),
        Direction::Unprotect => (Operation::FhirUnprotect, "fhir.unprotect"),
        Direction::Rewrap => (Operation::FhirProtect, "fhir.rewrap"),
    };
    caller.require(&s, op, Some(&s.policy.key), action).await?;
    caller
        .require(&s, op, Some(&s.policy.search_key), action)
        .await?;
    if matches!(direction, Direction::Rewrap) {
        caller
            .require(&s, Operation::FhirUnprotect, Some(&s.policy.key), action)
            .await?;
    }
    let framing = framing(&body.content_type);
    let mut items = items(&body, framing)?;
    let results = match direction {
        Direction::Protect => {
            s.kms
                .fhir_protect(&caller.ctx, &s.policy, &mut items)
                .await?
        }
        Direction::Unprotect => {
            s.kms
                .fhir_unprotect(&caller.ctx, &s.policy, &mut items)
                .await?
        }
        Direction::Rewrap => {
            s.kms
                .fhir_rewrap(&caller.ctx, &s.policy, &mut items)
                .await?
        }
    };
    if let Some(err) = failures(&results, framing) {
        return Err(err);
    }
    let elements = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|s| s.elements)
        .sum();
    Ok(render(&items, framing, elements))
}

#[utoipa::path(post, path = "/v1/fhir/protect", tag = "fhir",
    request_body(content = Object, description = "A FHIR R4 resource or Bundle (application/fhir+json), or NDJSON (application/fhir+ndjson)"),
    responses((status = 200, description = "The same resources with PHI elements encrypted"), (status = 422, body = crate::problem::Problem)))]
/// Encrypt the PHI elements the policy names.
pub async fn protect(
    State(s): State<AppState>,
    caller: Caller,
    body: Body,
) -> Result<Response, ApiError> {
    run(s, caller, body, Direction::Protect).await
}

#[utoipa::path(post, path = "/v1/fhir/unprotect", tag = "fhir",
    request_body(content = Object, description = "Protected resources, as returned by protect"),
    responses((status = 200, description = "The original resources"), (status = 422, body = crate::problem::Problem)))]
/// Restore protected resources exactly.
pub async fn unprotect(
    State(s): State<AppState>,
    caller: Caller,
    body: Body,
) -> Result<Response, ApiError> {
    run(s, caller, body, Direction::Unprotect).await
}

#[utoipa::path(post, path = "/v1/fhir/rewrap", tag = "fhir",
    request_body(content = Object, description = "Protected resources"),
    responses((status = 200, description = "The resources protected under the keys' newest versions")))]
/// Re-protect under the newest key versions without returning plaintext.
pub async fn rewrap(
    State(s): State<AppState>,
    caller: Caller,
    body: Body,
) -> Result<Response, ApiError> {
    run(s, caller, body, Direction::Rewrap).await
}

/// An identifier to search for.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchTokenRequest {
    /// The identifier's system (`http://hl7.org/fhir/sid/us-ssn`).
    pub system: Option<String>,
    /// The identifier's value in clear.
    pub value: String,
}

#[utoipa::path(post, path = "/v1/fhir/search-token", tag = "fhir", request_body = SearchTokenRequest,
    responses((status = 200, description = "`{system, value}` to use in a FHIR token search: identifier=<system>|<value>")))]
/// The protected form of an identifier, for equality search on protected resources.
pub async fn search_token(
    State(s): State<AppState>,
    caller: Caller,
    crate::extract::JsonBody(req): crate::extract::JsonBody<SearchTokenRequest>,
) -> ApiResult<Value> {
    let key = s.policy.search_key.clone();
    caller
        .require(&s, Operation::FhirProtect, Some(&key), "fhir.search_token")
        .await?;
    let context = format!("fhir-search:{}", req.system.as_deref().unwrap_or("")).into_bytes();
    let plain = Plain {
        plaintext: SecretBytes::from_slice(req.value.as_bytes()),
        context,
    };
    let mut out = s.kms.encrypt(&caller.ctx, &key, &[plain], None).await?;
    let sealed = out
        .pop()
        .ok_or_else(|| ApiError::bad_request("no result"))??;
    Ok(Done(
        StatusCode::OK,
        json!({"system": req.system, "value": sealed.ciphertext}),
    ))
}
