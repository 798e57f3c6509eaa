//! `/v1/keys`: key ring lifecycle and operations.

use crate::extract::{Caller, JsonBody, b64, to_b64};
use crate::extract::{Path, Query};
use crate::problem::{ApiError, item_error};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use webqx_crypto::SecretBytes;
use webqx_kms::{CreateKey, KeyConfig, KeyInfo, KmsError, Plain, SignatureFormat, VerifyItem};
use webqx_tokens::Operation;

/// A successful response whose audit record the key service already wrote.
pub struct Done<T>(pub StatusCode, pub T);

impl<T: Serialize> IntoResponse for Done<T> {
    fn into_response(self) -> Response {
        let mut r = (self.0, Json(self.1)).into_response();
        r.extensions_mut().insert(crate::middleware::AuditDone);
        r
    }
}

/// Result of handlers that call a capability.
pub type ApiResult<T> = Result<Done<T>, ApiError>;

fn ok<T>(value: T) -> ApiResult<T> {
    Ok(Done(StatusCode::OK, value))
}

/// A key-admin change on one named key: authorize, run, answer with the metadata.
async fn key_admin(
    s: &AppState,
    caller: &Caller,
    name: &str,
    action: &str,
    change: impl AsyncFnOnce(&webqx_kms::Kms) -> Result<KeyInfo, KmsError>,
) -> ApiResult<KeyInfo> {
    caller
        .require(s, Operation::KeyAdmin, Some(name), action)
        .await?;
    ok(change(&s.kms).await?)
}

/// A page of keys.
#[derive(Serialize, ToSchema)]
pub struct KeyList {
    /// Keys, by name.
    pub keys: Vec<KeyInfo>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Paging.
#[derive(Deserialize, IntoParams)]
pub struct Page {
    /// Names after this one.
    pub cursor: Option<String>,
    /// Page size, 1-1000 (default 100).
    pub limit: Option<u32>,
}

#[utoipa::path(post, path = "/v1/keys", tag = "keys", request_body = CreateKey,
    responses((status = 201, body = KeyInfo), (status = 409, body = crate::problem::Problem)))]
/// Create a key ring.
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<CreateKey>,
) -> ApiResult<KeyInfo> {
    caller
        .require(&s, Operation::KeyAdmin, Some(&req.name), "key.create")
        .await?;
    let info = s.kms.create_key(&caller.ctx, &req).await?;
    Ok(Done(StatusCode::CREATED, info))
}

#[utoipa::path(get, path = "/v1/keys", tag = "keys", params(Page), responses((status = 200, body = KeyList)))]
/// List key rings.
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    Query(page): Query<Page>,
) -> ApiResult<KeyList> {
    caller
        .require(&s, Operation::KeyRead, None, "key.list")
        .await?;
    let (keys, next_cursor) = s
        .kms
        .list_keys(
            &caller.ctx,
            page.cursor.as_deref(),
            page.limit.unwrap_or(100),
        )
        .await?;
    let principal = &caller.principal;
    let keys = keys
        .into_iter()
        .filter(|k| principal.allows(Operation::KeyRead, Some(&k.name)))
        .collect();
    ok(KeyList { keys, next_cursor })
}

#[utoipa::path(get, path = "/v1/keys/{name}", tag = "keys", responses((status = 200, body = KeyInfo), (status = 404, body = crate::problem::Problem)))]
/// Show a key ring's metadata (never its material).
pub async fn show(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<KeyInfo> {
    caller
        .require(&s, Operation::KeyRead, Some(&name), "key.read")
        .await?;
    ok(s.kms.key_info(&caller.ctx, &name).await?)
}

#[utoipa::path(post, path = "/v1/keys/{name}/rotate", tag = "keys", responses((status = 200, body = KeyInfo)))]
/// Add a new version; encryption uses it from now on.
pub async fn rotate(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<KeyInfo> {
    key_admin(&s, &caller, &name, "key.rotate", async |k| {
        k.rotate_key(&caller.ctx, &name).await
    })
    .await
}

#[utoipa::path(post, path = "/v1/keys/{name}/config", tag = "keys", request_body = KeyConfig, responses((status = 200, body = KeyInfo)))]
/// Change minimum versions or the rotation period.
pub async fn configure(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<KeyConfig>,
) -> ApiResult<KeyInfo> {
    caller
        .require(&s, Operation::KeyAdmin, Some(&name), "key.configure")
        .await?;
    ok(s.kms.configure_key(&caller.ctx, &name, &req).await?)
}

#[utoipa::path(post, path = "/v1/keys/{name}/enable", tag = "keys", responses((status = 200, body = KeyInfo)))]
/// Enable a disabled key.
pub async fn enable(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<KeyInfo> {
    key_admin(&s, &caller, &name, "key.enable", async |k| {
        k.enable_key(&caller.ctx, &name).await
    })
    .await
}

#[utoipa::path(post, path = "/v1/keys/{name}/disable", tag = "keys", responses((status = 200, body = KeyInfo)))]
/// Disable a key: every operation is refused until it is enabled.
pub async fn disable(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<KeyInfo> {
    key_admin(&s, &caller, &name, "key.disable", async |k| {
        k.disable_key(&caller.ctx, &name).await
    })
    .await
}

/// Scheduling a deletion.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ScheduleDeletion {
    /// Waiting period (`7d`); the configured default when absent.
    pub waiting_period: Option<String>,
}

#[utoipa::path(post, path = "/v1/keys/{name}/schedule-deletion", tag = "keys", request_body = ScheduleDeletion, responses((status = 200, body = KeyInfo)))]
/// Schedule destruction after a waiting period; the key is refused from now on.
pub async fn schedule_deletion(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<ScheduleDeletion>,
) -> ApiResult<KeyInfo> {
    caller
        .require(
            &s,
            Operation::KeyAdmin,
            Some(&name),
            "key.schedule_deletion",
        )
        .await?;
    ok(s.kms
        .schedule_deletion(&caller.ctx, &name, req.waiting_period.as_deref())
        .await?)
}

#[utoipa::path(post, path = "/v1/keys/{name}/cancel-deletion", tag = "keys", responses((status = 200, body = KeyInfo)))]
/// Cancel a scheduled deletion; the key comes back disabled.
pub async fn cancel_deletion(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<KeyInfo> {
    key_admin(&s, &caller, &name, "key.cancel_deletion", async |k| {
        k.cancel_deletion(&caller.ctx, &name).await
    })
    .await
}

#[utoipa::path(post, path = "/v1/keys/{name}/destroy", tag = "keys", responses((status = 200, body = KeyInfo)))]
/// Destroy the material now, if the deletion is due (crypto-shredding).
pub async fn destroy(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<KeyInfo> {
    key_admin(&s, &caller, &name, "key.destroy", async |k| {
        k.destroy_key(&caller.ctx, &name).await
    })
    .await
}

/// Which version to export.
#[derive(Deserialize, IntoParams)]
pub struct ExportQuery {
    /// One version; all allowed versions when absent.
    pub version: Option<u32>,
}

#[utoipa::path(get, path = "/v1/keys/{name}/export", tag = "keys", params(ExportQuery), responses((status = 200, body = Object), (status = 403, body = crate::problem::Problem)))]
/// Export material of a key created exportable.
pub async fn export(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<ExportQuery>,
) -> ApiResult<Value> {
    caller
        .require(&s, Operation::Export, Some(&name), "key.export")
        .await?;
    let versions = s.kms.export(&caller.ctx, &name, q.version).await?;
    let out: Vec<Value> = versions
        .iter()
        .map(|(v, material)| json!({"version": v, "material": to_b64(material.expose())}))
        .collect();
    ok(json!({"name": name, "versions": out}))
}

// ---- operations ----

/// One plaintext with its optional context.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EncryptItem {
    /// Base64 plaintext.
    pub plaintext: String,
    /// Base64 context, bound as associated data.
    pub context: Option<String>,
}

/// Encrypt one item (`plaintext`) or a batch (`batch_input`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EncryptRequest {
    /// Base64 plaintext.
    pub plaintext: Option<String>,
    /// Base64 context.
    pub context: Option<String>,
    /// Version to use (default: newest).
    pub key_version: Option<u32>,
    /// Several items; results come back in order.
    pub batch_input: Option<Vec<EncryptItem>>,
}

/// One ciphertext with its optional context.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CiphertextItem {
    /// `wqx1:…`.
    pub ciphertext: String,
    /// Base64 context given at encryption.
    pub context: Option<String>,
}

/// Decrypt or rewrap one item (`ciphertext`) or a batch (`batch_input`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CiphertextRequest {
    /// `wqx1:…`.
    pub ciphertext: Option<String>,
    /// Base64 context given at encryption.
    pub context: Option<String>,
    /// Several items.
    pub batch_input: Option<Vec<CiphertextItem>>,
}

/// A result item: the output fields, or `error`.
#[derive(Serialize, ToSchema)]
pub struct ItemResult {
    /// `wqx1:…` (encrypt, rewrap).
    pub ciphertext: Option<String>,
    /// Base64 plaintext (decrypt).
    pub plaintext: Option<String>,
    /// Key version used.
    pub key_version: Option<u32>,
    /// Problem object, when this item failed.
    #[schema(value_type = Option<Object>)]
    pub error: Option<Value>,
}

/// Decoded items (each with its context) and whether the request was a batch.
type Items<T> = (Vec<(T, Vec<u8>)>, bool);

fn one_or_many<I, T>(
    single: Option<T>,
    batch: Option<Vec<I>>,
    to_item: impl Fn(T) -> I,
) -> Result<(Vec<I>, bool), ApiError> {
    match (single, batch) {
        (Some(one), None) => Ok((vec![to_item(one)], false)),
        (None, Some(many)) => Ok((many, true)),
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "send either a single item or batch_input, not both",
        )),
        (None, None) => Err(ApiError::bad_request(
            "the request has no input; see /v1/openapi.json for the fields",
        )),
    }
}

fn context(field: &str, text: &Option<String>) -> Result<Vec<u8>, ApiError> {
    text.as_deref()
        .map(|t| b64(field, t))
        .transpose()
        .map(Option::unwrap_or_default)
}

/// Answers a single item directly (its error becomes the response) or a batch as
/// `batch_results` (errors per item, status 200).
fn respond<T>(
    results: Vec<Result<T, KmsError>>,
    batch: bool,
    render: impl Fn(T) -> Value,
) -> ApiResult<Value> {
    if !batch {
        let one = results
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::bad_request("no result"))?;
        return ok(render(one?));
    }
    let items: Vec<Value> = results
        .into_iter()
        .map(|r| match r {
            Ok(v) => render(v),
            Err(e) => json!({"error": item_error(&e)}),
        })
        .collect();
    ok(json!({"batch_results": items}))
}

#[utoipa::path(post, path = "/v1/keys/{name}/encrypt", tag = "operations", request_body = EncryptRequest,
    responses((status = 200, body = ItemResult), (status = 503, description = "sealed", body = crate::problem::Problem)))]
/// Encrypt.
pub async fn encrypt(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<EncryptRequest>,
) -> ApiResult<Value> {
    caller
        .require(&s, Operation::Encrypt, Some(&name), "key.encrypt")
        .await?;
    let single = req.plaintext.map(|p| EncryptItem {
        plaintext: p,
        context: req.context,
    });
    let (items, batch) = one_or_many(single, req.batch_input, |i| i)?;
    let mut plains = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let prefix = if batch {
            format!("batch_input[{i}].")
        } else {
            String::new()
        };
        plains.push(Plain {
            plaintext: SecretBytes::new(b64(&format!("{prefix}plaintext"), &item.plaintext)?),
            context: context(&format!("{prefix}context"), &item.context)?,
        });
    }
    let out = s
        .kms
        .encrypt(&caller.ctx, &name, &plains, req.key_version)
        .await?;
    respond(
        out,
        batch,
        |sealed| json!({"ciphertext": sealed.ciphertext, "key_version": sealed.key_version}),
    )
}

fn ciphertext_items(req: CiphertextRequest) -> Result<Items<String>, ApiError> {
    let single = req.ciphertext.map(|c| CiphertextItem {
        ciphertext: c,
        context: req.context,
    });
    let (items, batch) = one_or_many(single, req.batch_input, |i| i)?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let field = if batch {
            format!("batch_input[{i}].context")
        } else {
            "context".into()
        };
        out.push((item.ciphertext, context(&field, &item.context)?));
    }
    Ok((out, batch))
}

#[utoipa::path(post, path = "/v1/keys/{name}/decrypt", tag = "operations", request_body = CiphertextRequest, responses((status = 200, body = ItemResult)))]
/// Decrypt.
pub async fn decrypt(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<CiphertextRequest>,
) -> ApiResult<Value> {
    caller
        .require(&s, Operation::Decrypt, Some(&name), "key.decrypt")
        .await?;
    let (items, batch) = ciphertext_items(req)?;
    let out = s.kms.decrypt(&caller.ctx, &name, &items).await?;
    respond(
        out,
        batch,
        |o| json!({"plaintext": to_b64(o.plaintext.expose()), "key_version": o.key_version}),
    )
}

#[utoipa::path(post, path = "/v1/keys/{name}/rewrap", tag = "operations", request_body = CiphertextRequest, responses((status = 200, body = ItemResult)))]
/// Re-encrypt under the newest version without returning plaintext.
pub async fn rewrap(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<CiphertextRequest>,
) -> ApiResult<Value> {
    caller
        .require(&s, Operation::Rewrap, Some(&name), "key.rewrap")
        .await?;
    let (items, batch) = ciphertext_items(req)?;
    let out = s.kms.rewrap(&caller.ctx, &name, &items).await?;
    respond(
        out,
        batch,
        |sealed| json!({"ciphertext": sealed.ciphertext, "key_version": sealed.key_version}),
    )
}

/// Generate a data key.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DatakeyRequest {
    /// `plaintext` (key and wrapped key, the default) or `wrapped` (wrapped only).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// 128, 256 (default) or 512.
    pub bits: Option<u32>,
    /// Base64 context.
    pub context: Option<String>,
}

#[utoipa::path(post, path = "/v1/keys/{name}/datakey", tag = "operations", request_body = DatakeyRequest, responses((status = 200, body = Object)))]
/// Generate a data key, wrapped by the key ring (and in plaintext unless `type` is `wrapped`).
pub async fn datakey(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<DatakeyRequest>,
) -> ApiResult<Value> {
    caller
        .require(&s, Operation::Datakey, Some(&name), "key.datakey")
        .await?;
    let with_plaintext = match req.kind.as_deref() {
        None | Some("plaintext") => true,
        Some("wrapped") => false,
        Some(_) => {
            return Err(ApiError::bad_request(
                "type must be 'plaintext' or 'wrapped'",
            ));
        }
    };
    let ctx_bytes = context("context", &req.context)?;
    let dk = s
        .kms
        .datakey(
            &caller.ctx,
            &name,
            req.bits.unwrap_or(256),
            &ctx_bytes,
            with_plaintext,
        )
        .await?;
    let mut out = json!({"ciphertext": dk.ciphertext, "key_version": dk.key_version});
    if let Some(p) = dk.plaintext {
        out["plaintext"] = to_b64(p.expose()).into();
    }
    ok(out)
}

/// One input to sign or MAC.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InputItem {
    /// Base64 input.
    pub input: String,
    /// Base64 context (signatures only).
    pub context: Option<String>,
}

/// Sign or HMAC one input or a batch.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignRequest {
    /// Base64 input.
    pub input: Option<String>,
    /// Base64 context (signatures only): signs a domain-separated encoding of both.
    pub context: Option<String>,
    /// ECDSA encoding: `der` (default) or `p1363` (JWS).
    pub signature_format: Option<String>,
    /// HMAC: `sha256` (default) or `sha512`.
    pub algorithm: Option<String>,
    /// Several items.
    pub batch_input: Option<Vec<InputItem>>,
}

fn inputs(req: &mut SignRequest) -> Result<Items<Vec<u8>>, ApiError> {
    let single = req.input.take().map(|i| InputItem {
        input: i,
        context: req.context.take(),
    });
    let (items, batch) = one_or_many(single, req.batch_input.take(), |i| i)?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let prefix = if batch {
            format!("batch_input[{i}].")
        } else {
            String::new()
        };
        out.push((
            b64(&format!("{prefix}input"), &item.input)?,
            context(&format!("{prefix}context"), &item.context)?,
        ));
    }
    Ok((out, batch))
}

#[utoipa::path(post, path = "/v1/keys/{name}/sign", tag = "operations", request_body = SignRequest, responses((status = 200, body = Object)))]
/// Sign.
pub async fn sign(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(mut req): JsonBody<SignRequest>,
) -> ApiResult<Value> {
    caller
        .require(&s, Operation::Sign, Some(&name), "key.sign")
        .await?;
    let format = match req.signature_format.as_deref() {
        None | Some("der") => SignatureFormat::Der,
        Some("p1363") | Some("jws") => SignatureFormat::P1363,
        Some(_) => {
            return Err(ApiError::bad_request(
                "signature_format must be 'der' or 'p1363'",
            ));
        }
    };
    let (items, batch) = inputs(&mut req)?;
    let out = s.kms.sign(&caller.ctx, &name, &items, format).await?;
    respond(
        out,
        batch,
        |sig| json!({"signature": sig.signature, "raw_signature": to_b64(&sig.raw), "key_version": sig.key_version}),
    )
}

#[utoipa::path(post, path = "/v1/keys/{name}/hmac", tag = "operations", request_body = SignRequest, responses((status = 200, body = Object)))]
/// Compute an HMAC.
pub async fn hmac(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(mut req): JsonBody<SignRequest>,
) -> ApiResult<Value> {
    caller
        .require(&s, Operation::Hmac, Some(&name), "key.hmac")
        .await?;
    let sha512 = match req.algorithm.as_deref() {
        None | Some("sha256") => false,
        Some("sha512") => true,
        Some(_) => {
            return Err(ApiError::bad_request(
                "algorithm must be 'sha256' or 'sha512'",
            ));
        }
    };
    let (items, batch) = inputs(&mut req)?;
    let out = s.kms.hmac(&caller.ctx, &name, &items, sha512).await?;
    respond(
        out,
        batch,
        |tag| json!({"hmac": tag.ciphertext, "key_version": tag.key_version}),
    )
}

/// One signature or HMAC to check.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequestItem {
    /// Base64 input.
    pub input: String,
    /// Base64 context given when signing.
    pub context: Option<String>,
    /// `wqx1:…` signature.
    pub signature: Option<String>,
    /// `wqx1:…` HMAC.
    pub hmac: Option<String>,
}

/// Verify one item or a batch.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// Base64 input.
    pub input: Option<String>,
    /// Base64 context.
    pub context: Option<String>,
    /// `wqx1:…` signature.
    pub signature: Option<String>,
    /// `wqx1:…` HMAC.
    pub hmac: Option<String>,
    /// Several items.
    pub batch_input: Option<Vec<VerifyRequestItem>>,
}

#[utoipa::path(post, path = "/v1/keys/{name}/verify", tag = "operations", request_body = VerifyRequest, responses((status = 200, body = Object)))]
/// Verify a signature or HMAC: `valid` is true or false.
pub async fn verify(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<VerifyRequest>,
) -> ApiResult<Value> {
    caller
        .require(&s, Operation::Verify, Some(&name), "key.verify")
        .await?;
    let single = req.input.map(|input| VerifyRequestItem {
        input,
        context: req.context,
        signature: req.signature,
        hmac: req.hmac,
    });
    let (items, batch) = one_or_many(single, req.batch_input, |i| i)?;
    let mut checks = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let prefix = if batch {
            format!("batch_input[{i}].")
        } else {
            String::new()
        };
        let signature = item.signature.or(item.hmac).ok_or_else(|| {
            ApiError::bad_request(format!("{prefix}signature (or {prefix}hmac) is missing"))
        })?;
        checks.push(VerifyItem {
            input: b64(&format!("{prefix}input"), &item.input)?,
            context: context(&format!("{prefix}context"), &item.context)?,
            signature,
        });
    }
    let out = s.kms.verify(&caller.ctx, &name, &checks).await?;
    respond(out, batch, |valid| json!({"valid": valid}))
}
