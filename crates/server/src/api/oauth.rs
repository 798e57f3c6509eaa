//! OAuth 2.0 for the EHR's services: the token endpoint (client credentials, RFC 6749
//! §4.4, with `client_secret_basic`, `client_secret_post` and `private_key_jwt`),
//! discovery (RFC 8414) and our JWKS, introspection (RFC 7662), revocation (RFC 7009),
//! `POST /v1/tokens/verify` for gateways, and the client registry under
//! `/v1/oauth/clients`.
//!
//! The protocol endpoints answer RFC 6749 §5.2 JSON errors (`error`,
//! `error_description`), not problem documents, because OAuth clients expect them.
//! Every decision is audited; no record holds a token, a secret or an assertion.

use super::keys::{ApiResult, Done};
use crate::extract::{Body, Caller, JsonBody, Path};
use crate::middleware::ReqMeta;
use crate::oauth::OAuthService;
use crate::problem::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::ToSchema;
use webqx_audit::{Outcome, RequestContext};
use webqx_oauth::OAuthError;
use webqx_oauth::registry::{AuthMethod, Client, ClientInfo, NewClient};
use webqx_oauth::server::{AccessRefusal, Credentials, Introspection};
use webqx_tokens::Operation;

/// `client_assertion_type` of RFC 7523 §2.2.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The routes (registered whether or not `[oauth] enabled`; they answer 404 when off).
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/oauth/token", post(token))
        .route("/oauth/introspect", post(introspect))
        .route("/oauth/revoke", post(revoke))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/v1/tokens/verify", post(verify))
        .route("/v1/oauth/clients", post(create_client).get(list_clients))
        .route(
            "/v1/oauth/clients/{id}",
            get(show_client).delete(delete_client),
        )
        .route("/v1/oauth/clients/{id}/disable", post(disable_client))
        .route("/v1/oauth/clients/{id}/enable", post(enable_client))
}

/// An OAuth protocol answer: JSON, `no-store`, marked audited.
pub struct Reply {
    status: StatusCode,
    body: Value,
    headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        response
            .extensions_mut()
            .insert(crate::middleware::AuditDone);
        response
    }
}

fn ok(body: Value) -> Reply {
    Reply {
        status: StatusCode::OK,
        body,
        headers: Vec::new(),
    }
}

/// The RFC 6749 §5.2 answer for `e`.
fn error_reply(e: &OAuthError) -> Reply {
    let status = match e {
        OAuthError::InvalidClient(_) => StatusCode::UNAUTHORIZED,
        OAuthError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        OAuthError::Signing(_) | OAuthError::Audit(_) | OAuthError::Store(_) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        OAuthError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let description = match e {
        OAuthError::Audit(_) | OAuthError::Store(_) | OAuthError::Internal(_) => {
            tracing::error!(error = %e, "OAuth request failed inside the service");
            "the service cannot complete the request now; retry later".to_owned()
        }
        other => other.to_string(),
    };
    let mut headers = Vec::new();
    if status == StatusCode::UNAUTHORIZED {
        headers.push((
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"webqx-oauth\""),
        ));
    }
    if let OAuthError::RateLimited { retry_after_secs } = e {
        headers.push((header::RETRY_AFTER, HeaderValue::from(*retry_after_secs)));
    } else if status == StatusCode::SERVICE_UNAVAILABLE {
        headers.push((header::RETRY_AFTER, HeaderValue::from_static("5")));
    }
    Reply {
        status,
        body: json!({"error": e.oauth_code(), "error_description": description}),
        headers,
    }
}

fn service(s: &AppState) -> Result<&Arc<OAuthService>, ApiError> {
    s.oauth.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "the OAuth authorization server is off; set [oauth] enabled = true",
        )
    })
}

/// Writes the audit record of a refused protocol request and turns the error into its
/// answer.
async fn refused(s: &AppState, ctx: &RequestContext, action: &str, e: OAuthError) -> Reply {
    let mut rec = ctx.record(action, None);
    rec.fail(webqx_audit::Audited::audit_outcome(&e), e.kind());
    if s.audit.record(rec).await.is_err() {
        return error_reply(&OAuthError::Internal("audit trail unavailable".into()));
    }
    error_reply(&e)
}

/// A form body, checked for its content type.
fn form(body: &Body) -> Result<BTreeMap<String, String>, OAuthError> {
    let media = body.content_type.split(';').next().unwrap_or("").trim();
    if media != "application/x-www-form-urlencoded" {
        return Err(OAuthError::InvalidRequest(
            "send the parameters as application/x-www-form-urlencoded".into(),
        ));
    }
    webqx_oauth::form::parse(&body.bytes).map_err(|e| OAuthError::InvalidRequest(e.to_string()))
}

/// `client_id:secret` of HTTP Basic, each form-urlencoded first (RFC 6749 §2.3.1).
fn basic(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || OAuthError::InvalidClient("malformed_basic");
    let text = value.to_str().map_err(|_| bad())?.trim();
    let Some((scheme, encoded)) = text.split_once(' ') else {
        return Err(bad());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let id = webqx_oauth::form::decode(id.as_bytes()).map_err(|_| bad())?;
    let secret = webqx_oauth::form::decode(secret.as_bytes()).map_err(|_| bad())?;
    Ok(Some((id, secret)))
}

/// Owned client credentials, from the header or the form (exactly one method).
enum Presented {
    Secret(String, String, AuthMethod),
    Assertion(Option<String>, String),
}

impl Presented {
    fn read(
        headers: &HeaderMap,
        params: &BTreeMap<String, String>,
    ) -> Result<Presented, OAuthError> {
        let basic = basic(headers)?;
        let post = params.get("client_secret");
        let assertion = params.get("client_assertion");
        let methods = usize::from(basic.is_some())
            + usize::from(post.is_some())
            + usize::from(assertion.is_some());
        if methods > 1 {
            return Err(OAuthError::InvalidRequest(
                "use exactly one client authentication method".into(),
            ));
        }
        let id = params.get("client_id").cloned();
        if let Some((basic_id, secret)) = basic {
            if id.as_ref().is_some_and(|form_id| *form_id != basic_id) {
                return Err(OAuthError::InvalidRequest(
                    "client_id differs from the Basic user name".into(),
                ));
            }
            return Ok(Presented::Secret(
                basic_id,
                secret,
                AuthMethod::ClientSecretBasic,
            ));
        }
        if let Some(secret) = post {
            let id = id.ok_or_else(|| OAuthError::InvalidRequest("client_id is missing".into()))?;
            return Ok(Presented::Secret(
                id,
                secret.clone(),
                AuthMethod::ClientSecretPost,
            ));
        }
        match (assertion, params.get("client_assertion_type")) {
            (Some(assertion), Some(kind)) if kind == JWT_BEARER => {
                Ok(Presented::Assertion(id, assertion.clone()))
            }
            (Some(_), _) => Err(OAuthError::InvalidRequest(format!(
                "client_assertion_type must be {JWT_BEARER}"
            ))),
            (None, _) => Err(OAuthError::InvalidClient("no_client_authentication")),
        }
    }

    fn credentials(&self) -> Credentials<'_> {
        match self {
            Presented::Secret(id, secret, method) => Credentials::Secret {
                client_id: id,
                secret: secret.as_bytes(),
                method: *method,
            },
            Presented::Assertion(id, assertion) => Credentials::Assertion {
                client_id: id.as_deref(),
                assertion,
            },
        }
    }
}

/// Authenticates the client of a protocol request; counts failures toward the alert.
async fn authenticate_client(
    oauth: &OAuthService,
    meta: &ReqMeta,
    headers: &HeaderMap,
    params: &BTreeMap<String, String>,
) -> Result<Client, OAuthError> {
    let presented = Presented::read(headers, params)?;
    let credentials = presented.credentials();
    let claimed = credentials.claimed_id();
    oauth
        .server
        .limit(claimed.as_deref(), meta.source.as_deref())?;
    let result = oauth.server.authenticate(&credentials).await;
    if let Err(e) = &result
        && e.is_auth_failure()
    {
        metrics::counter!("webqx_oauth_client_auth_failures_total", "reason" => e.kind())
            .increment(1);
        let ctx = meta.context("anonymous");
        oauth
            .server
            .note_failure(&ctx, claimed.as_deref(), meta.source.as_deref())
            .await?;
    }
    result
}

fn actor_of(client: &Client) -> String {
    format!("oauth:{}", client.id)
}

#[utoipa::path(post, path = "/oauth/token", tag = "oauth", responses((status = 200, body = Object), (status = 400, body = Object), (status = 401, body = Object), (status = 429, body = Object)))]
/// The token endpoint: client credentials grant (form body).
pub async fn token(
    State(s): State<AppState>,
    axum::Extension(meta): axum::Extension<ReqMeta>,
    headers: HeaderMap,
    body: Body,
) -> Result<Reply, ApiError> {
    let oauth = service(&s)?.clone();
    let anonymous = meta.context("anonymous");
    let params = match form(&body) {
        Ok(params) => params,
        Err(e) => return Ok(refused(&s, &anonymous, "oauth.token", e).await),
    };
    if params.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return Ok(refused(
            &s,
            &anonymous,
            "oauth.token",
            OAuthError::UnsupportedGrantType,
        )
        .await);
    }
    let client = match authenticate_client(&oauth, &meta, &headers, &params).await {
        Ok(client) => client,
        Err(e) => return Ok(refused(&s, &anonymous, "oauth.token", e).await),
    };
    let ctx = meta.context(&actor_of(&client));
    let signer = match oauth.signer(&ctx).await {
        Ok(signer) => signer,
        Err(e) => {
            let e = OAuthError::Signing(e.to_string());
            return Ok(refused(&s, &ctx, "oauth.token", e).await);
        }
    };
    let scope = params.get("scope").map(String::as_str);
    match oauth.server.issue(&ctx, &client, scope, &signer).await {
        Ok(issued) => {
            metrics::counter!("webqx_oauth_tokens_issued_total").increment(1);
            Ok(ok(json!({
                "access_token": issued.access_token,
                "token_type": issued.token_type,
                "expires_in": issued.expires_in,
                "scope": issued.scope,
            })))
        }
        // `issue` audited the refusal itself.
        Err(e) => Ok(error_reply(&e)),
    }
}

/// Who may introspect: a static API token with `oauth-introspect`, or a registered
/// client authenticating as at the token endpoint.
async fn introspection_caller(
    s: &AppState,
    oauth: &OAuthService,
    meta: &ReqMeta,
    headers: &HeaderMap,
    params: &BTreeMap<String, String>,
) -> Result<String, OAuthError> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    if let Some(bearer) = bearer {
        let principal = s
            .tokens
            .authenticate(Some(bearer))
            .await
            .map_err(|_| OAuthError::InvalidClient("invalid_api_token"))?;
        if !principal.allows(Operation::OauthIntrospect, None) {
            return Err(OAuthError::UnauthorizedClient(
                "the API token lacks the oauth-introspect operation".into(),
            ));
        }
        return Ok(principal.actor());
    }
    let client = authenticate_client(oauth, meta, headers, params).await?;
    Ok(actor_of(&client))
}

#[utoipa::path(post, path = "/oauth/introspect", tag = "oauth", responses((status = 200, body = Introspection), (status = 401, body = Object)))]
/// RFC 7662 token introspection (form body `token`).
pub async fn introspect(
    State(s): State<AppState>,
    axum::Extension(meta): axum::Extension<ReqMeta>,
    headers: HeaderMap,
    body: Body,
) -> Result<Reply, ApiError> {
    let oauth = service(&s)?.clone();
    let anonymous = meta.context("anonymous");
    let params = match form(&body) {
        Ok(params) => params,
        Err(e) => return Ok(refused(&s, &anonymous, "oauth.introspect", e).await),
    };
    let actor = match introspection_caller(&s, &oauth, &meta, &headers, &params).await {
        Ok(actor) => actor,
        Err(e) => return Ok(refused(&s, &anonymous, "oauth.introspect", e).await),
    };
    let ctx = meta.context(&actor);
    let Some(token) = params.get("token") else {
        let e = OAuthError::InvalidRequest("token is missing".into());
        return Ok(refused(&s, &ctx, "oauth.introspect", e).await);
    };
    let answer = introspect_audited(&s, &oauth, &ctx, token, "oauth.introspect").await?;
    Ok(ok(serde_json::to_value(answer).unwrap_or_default()))
}

/// Introspects and audits the answer (active or not, the token's client), never the
/// token.
async fn introspect_audited(
    s: &AppState,
    oauth: &OAuthService,
    ctx: &RequestContext,
    token: &str,
    action: &str,
) -> Result<Introspection, ApiError> {
    let mut rec = ctx.record(action, None);
    let answer = match oauth.introspect(token).await {
        Ok(answer) => answer,
        Err(refusal) => {
            tracing::error!(error = %refusal, "introspection failed inside the service");
            rec.fail(Outcome::Failure, refusal.kind());
            let _ = s.audit.record(rec).await;
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage-unavailable",
                "revocation cannot be checked now; retry later",
            )
            .audited());
        }
    };
    rec.detail("active", answer.active);
    if let Some(client) = &answer.client_id {
        rec.target = Some(format!("oauth-client:{client}"));
    }
    s.audit
        .record(rec)
        .await
        .map_err(|_| crate::extract::audit_down())?;
    Ok(answer)
}

#[utoipa::path(post, path = "/oauth/revoke", tag = "oauth", responses((status = 200, body = Object), (status = 401, body = Object)))]
/// RFC 7009 revocation by the client the token was issued to (form body `token`).
pub async fn revoke(
    State(s): State<AppState>,
    axum::Extension(meta): axum::Extension<ReqMeta>,
    headers: HeaderMap,
    body: Body,
) -> Result<Reply, ApiError> {
    let oauth = service(&s)?.clone();
    let anonymous = meta.context("anonymous");
    let params = match form(&body) {
        Ok(params) => params,
        Err(e) => return Ok(refused(&s, &anonymous, "oauth.revoke", e).await),
    };
    let client = match authenticate_client(&oauth, &meta, &headers, &params).await {
        Ok(client) => client,
        Err(e) => return Ok(refused(&s, &anonymous, "oauth.revoke", e).await),
    };
    let ctx = meta.context(&actor_of(&client));
    let Some(token) = params.get("token") else {
        let e = OAuthError::InvalidRequest("token is missing".into());
        return Ok(refused(&s, &ctx, "oauth.revoke", e).await);
    };
    let keys = oauth.jwks().await?;
    match oauth.server.revoke(&ctx, &client, token, &keys).await {
        Ok(()) => Ok(ok(json!({}))),
        Err(e) => Ok(error_reply(&e)),
    }
}

#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "oauth", security(()), responses((status = 200, body = Object)))]
/// Our public signing keys (every version that may still have live tokens).
pub async fn jwks(State(s): State<AppState>) -> Result<Response, ApiError> {
    let oauth = service(&s)?;
    let keys = oauth.jwks().await?;
    let mut response = (
        [(header::CONTENT_TYPE, "application/jwk-set+json")],
        keys.to_json().to_string(),
    )
        .into_response();
    // Public and meant to be cached briefly by gateways.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    Ok(response)
}

#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "oauth", security(()), responses((status = 200, body = Object)))]
/// RFC 8414 authorization server metadata.
pub async fn metadata(State(s): State<AppState>) -> Result<Response, ApiError> {
    let oauth = service(&s)?;
    let issuer = oauth.issuer();
    let methods = [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ];
    let assertion_algs: Vec<&str> = webqx_oauth::Algorithm::ASYMMETRIC
        .iter()
        .map(|a| a.as_str())
        .collect();
    let mut scopes: Vec<String> = ["system/*.cruds", "system/*.rs"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    scopes.extend(
        webqx_oauth::scope::KEY_OPERATIONS
            .iter()
            .map(|op| format!("webqx:keys/*:{}", op.as_str())),
    );
    let body = json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/oauth/token"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": ["token"],
        "token_endpoint_auth_methods_supported": methods,
        "token_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "introspection_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_methods_supported": methods,
        "scopes_supported": scopes,
        "access_token_signing_alg_values_supported": [oauth.section.algorithm().as_str()],
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response())
}

/// A verification request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The access token.
    pub token: String,
    /// The audience the caller serves; the token must name it. Unset: any.
    #[serde(default)]
    pub audience: Option<String>,
    /// Answer 401 (not 200 with `active: false`) for an inactive token: what a gateway's
    /// `auth_request` needs.
    #[serde(default)]
    pub require_active: bool,
}

#[utoipa::path(post, path = "/v1/tokens/verify", tag = "oauth", request_body = VerifyRequest, responses((status = 200, body = Introspection)))]
/// Check an access token for a gateway or EHR service (`oauth-introspect`).
pub async fn verify(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<VerifyRequest>,
) -> ApiResult<Introspection> {
    let oauth = service(&s)?.clone();
    caller
        .require(&s, Operation::OauthIntrospect, None, "oauth.verify")
        .await?;
    let answer = match req.audience.as_deref() {
        None => introspect_audited(&s, &oauth, &caller.ctx, &req.token, "oauth.verify").await?,
        Some(audience) => verify_for(&s, &oauth, &caller.ctx, &req.token, audience).await?,
    };
    if req.require_active && !answer.active {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "token-inactive",
            "the access token is not active (expired, revoked, forged, or for another audience)",
        )
        .audited());
    }
    Ok(Done(StatusCode::OK, answer))
}

async fn verify_for(
    s: &AppState,
    oauth: &OAuthService,
    ctx: &RequestContext,
    token: &str,
    audience: &str,
) -> Result<Introspection, ApiError> {
    let mut rec = ctx.record("oauth.verify", None);
    let answer = match oauth.check(token, Some(audience)).await {
        Ok(verified) => Introspection::from_token(&verified),
        Err(refusal @ (AccessRefusal::Store(_) | AccessRefusal::KeysUnavailable(_))) => {
            tracing::error!(error = %refusal, "token verification failed inside the service");
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage-unavailable",
                "the token cannot be checked now; retry later",
            ));
        }
        Err(refusal) => {
            rec.detail("reason", refusal.kind());
            Introspection::default()
        }
    };
    rec.detail("active", answer.active);
    s.audit
        .record(rec)
        .await
        .map_err(|_| crate::extract::audit_down())?;
    Ok(answer)
}

/// A new client: the secret (for secret clients) is shown here once.
#[derive(Serialize, ToSchema)]
pub struct CreatedClient {
    /// The client.
    pub client: ClientInfo,
    /// Its secret, for `client_secret_basic`/`client_secret_post` clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

fn oauth_error(e: OAuthError) -> ApiError {
    let status = match &e {
        OAuthError::NotFound(_) => StatusCode::NOT_FOUND,
        OAuthError::Invalid(_) | OAuthError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
        OAuthError::Forbidden(_) => StatusCode::FORBIDDEN,
        OAuthError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    let kind = match &e {
        OAuthError::NotFound(_) => "oauth-client-not-found",
        OAuthError::Invalid(_) | OAuthError::InvalidRequest(_) => "invalid-request",
        OAuthError::Forbidden(_) => "forbidden",
        _ => "storage-unavailable",
    };
    let detail = match status {
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::INTERNAL_SERVER_ERROR => {
            tracing::error!(error = %e, "OAuth client registry failed");
            "the service cannot reach its store or audit trail; retry later".to_owned()
        }
        _ => e.to_string(),
    };
    ApiError::new(status, kind, detail).audited()
}

#[utoipa::path(post, path = "/v1/oauth/clients", tag = "oauth", request_body = NewClient, responses((status = 201, body = CreatedClient)))]
/// Register an OAuth client (`oauth-admin`; its `webqx:keys` scopes must be covered by
/// the caller's own token).
pub async fn create_client(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<NewClient>,
) -> ApiResult<CreatedClient> {
    let oauth = service(&s)?.clone();
    caller
        .require(&s, Operation::OauthAdmin, None, "oauth.client.create")
        .await?;
    if let Ok(scopes) = webqx_oauth::scope::parse_list(&req.scopes.join(" ")) {
        let grants = webqx_oauth::scope::key_grants(&scopes);
        if grants.iter().any(|g| !caller.principal.policy.covers(g)) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "a token can only register clients with webqx:keys scopes its own policy \
                 covers; ask an administrator",
            ));
        }
    }
    let (client, secret) = oauth
        .server
        .registry()
        .create(&caller.ctx, &req)
        .await
        .map_err(oauth_error)?;
    let client_secret = secret.map(|s| String::from_utf8_lossy(s.expose()).into_owned());
    Ok(Done(
        StatusCode::CREATED,
        CreatedClient {
            client,
            client_secret,
        },
    ))
}

#[utoipa::path(get, path = "/v1/oauth/clients", tag = "oauth", responses((status = 200, body = Object)))]
/// List OAuth clients (`oauth-admin`).
pub async fn list_clients(State(s): State<AppState>, caller: Caller) -> ApiResult<Value> {
    let oauth = service(&s)?.clone();
    caller
        .require(&s, Operation::OauthAdmin, None, "oauth.client.list")
        .await?;
    let clients = oauth
        .server
        .registry()
        .list(&caller.ctx)
        .await
        .map_err(oauth_error)?;
    Ok(Done(StatusCode::OK, json!({"clients": clients})))
}

#[utoipa::path(get, path = "/v1/oauth/clients/{id}", tag = "oauth", responses((status = 200, body = ClientInfo), (status = 404, body = crate::problem::Problem)))]
/// One OAuth client (`oauth-admin`).
pub async fn show_client(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<ClientInfo> {
    let oauth = service(&s)?.clone();
    caller
        .require(&s, Operation::OauthAdmin, None, "oauth.client.read")
        .await?;
    let client = oauth
        .server
        .registry()
        .get(&caller.ctx, &id)
        .await
        .map_err(oauth_error)?;
    Ok(Done(StatusCode::OK, client))
}

async fn set_enabled(
    s: AppState,
    caller: Caller,
    id: String,
    enabled: bool,
) -> ApiResult<ClientInfo> {
    let oauth = service(&s)?.clone();
    let action = if enabled {
        "oauth.client.enable"
    } else {
        "oauth.client.disable"
    };
    caller
        .require(&s, Operation::OauthAdmin, None, action)
        .await?;
    let client = oauth
        .server
        .registry()
        .set_enabled(&caller.ctx, &id, enabled)
        .await
        .map_err(oauth_error)?;
    Ok(Done(StatusCode::OK, client))
}

#[utoipa::path(post, path = "/v1/oauth/clients/{id}/disable", tag = "oauth", responses((status = 200, body = ClientInfo)))]
/// Disable a client: it gets no more tokens (`oauth-admin`).
pub async fn disable_client(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<ClientInfo> {
    set_enabled(s, caller, id, false).await
}

#[utoipa::path(post, path = "/v1/oauth/clients/{id}/enable", tag = "oauth", responses((status = 200, body = ClientInfo)))]
/// Enable a client again (`oauth-admin`).
pub async fn enable_client(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<ClientInfo> {
    set_enabled(s, caller, id, true).await
}

#[utoipa::path(delete, path = "/v1/oauth/clients/{id}", tag = "oauth", responses((status = 200, body = Object)))]
/// Delete a client (`oauth-admin`).
pub async fn delete_client(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Value> {
    let oauth = service(&s)?.clone();
    caller
        .require(&s, Operation::OauthAdmin, None, "oauth.client.delete")
        .await?;
    oauth
        .server
        .registry()
        .delete(&caller.ctx, &id)
        .await
        .map_err(oauth_error)?;
    Ok(Done(StatusCode::OK, json!({"deleted": id})))
}
