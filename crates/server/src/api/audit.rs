//! `/v1/audit`: verifying, checkpointing, exporting and searching the trail, and
//! receiving the EHR's audit events.

use super::keys::{ApiResult, Done};
use crate::extract::{Body, Caller, JsonBody, Query};
use crate::intake::{Via, ehr_record, rejected_record};
use crate::problem::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use webqx_audit::{AuditRecord, Checkpoint, TrailQuery, VerifyOptions, VerifyReport};
use webqx_kms::KmsError;
use webqx_siem::Format;
use webqx_tokens::Operation;

#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit", responses((status = 200, body = Object)))]
/// Walk the hash chain, check every signed checkpoint, and report the first break.
pub async fn verify(State(s): State<AppState>, caller: Caller) -> ApiResult<VerifyReport> {
    run_verify(s, caller, VerifyOptions::default()).await
}

/// A checkpoint exported earlier, to check the live trail against.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyAgainst {
    /// The exported checkpoint (as `audit checkpoint export` wrote it).
    #[schema(value_type = Object)]
    pub checkpoint: Checkpoint,
}

#[utoipa::path(post, path = "/v1/audit/verify", tag = "audit", request_body = VerifyAgainst, responses((status = 200, body = Object)))]
/// Verify the trail against a checkpoint exported earlier (detects removal of the
/// newest records together with the head and the stored checkpoints).
pub async fn verify_against(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<VerifyAgainst>,
) -> ApiResult<VerifyReport> {
    req.checkpoint
        .check_shape()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    run_verify(
        s,
        caller,
        VerifyOptions {
            anchor: Some(req.checkpoint),
            ..VerifyOptions::default()
        },
    )
    .await
}

async fn run_verify(s: AppState, caller: Caller, opts: VerifyOptions) -> ApiResult<VerifyReport> {
    caller
        .require(&s, Operation::AuditRead, None, "audit.verify")
        .await?;
    let rec = caller.ctx.record("audit.verify", None);
    let report = s
        .audit
        .audited(rec, async |rec| {
            let report = webqx_audit::verify_with(&s.store, &opts).await?;
            rec.detail("records", report.records)
                .detail("ok", report.ok());
            Ok::<_, KmsError>(report)
        })
        .await
        .map_err(|e| match e {
            KmsError::Audit(webqx_audit::AuditError::Checkpoint(m)) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-checkpoint",
                format!("audit checkpoint: {m}"),
            ),
            other => ApiError::from(other),
        })?;
    Ok(Done(StatusCode::OK, report))
}

/// A checkpoint request's answer.
#[derive(Serialize, ToSchema)]
pub struct CheckpointResult {
    /// False when the head has not moved since the newest checkpoint.
    pub created: bool,
    /// The newest checkpoint, with its public key.
    #[schema(value_type = Object)]
    pub checkpoint: Option<Checkpoint>,
}

#[utoipa::path(post, path = "/v1/audit/checkpoints", tag = "audit", responses((status = 200, body = CheckpointResult)))]
/// Sign the chain head now (the scheduler does it every `audit.checkpoint_interval`).
pub async fn checkpoint_now(
    State(s): State<AppState>,
    caller: Caller,
) -> ApiResult<CheckpointResult> {
    caller
        .require(&s, Operation::Sys, None, "audit.checkpoint")
        .await?;
    let rec = caller.ctx.record("audit.checkpoint", None);
    let result = s
        .audit
        .audited(rec, async |rec| {
            let made = s.kms.checkpoint_audit(&caller.ctx).await?;
            if let Some(cp) = &made {
                rec.detail("seq", cp.seq);
            }
            let latest = webqx_kms::export_latest_checkpoint(&s.store).await?;
            Ok::<_, KmsError>(CheckpointResult {
                created: made.is_some(),
                checkpoint: latest,
            })
        })
        .await?;
    Ok(Done(StatusCode::OK, result))
}

#[utoipa::path(get, path = "/v1/audit/checkpoints/latest", tag = "audit", responses((status = 200, body = Object), (status = 404)))]
/// The newest signed checkpoint with its public key: keep it off the box, and check the
/// trail against it later.
pub async fn latest_checkpoint(State(s): State<AppState>, caller: Caller) -> ApiResult<Checkpoint> {
    caller
        .require(&s, Operation::AuditRead, None, "audit.checkpoint.export")
        .await?;
    let rec = caller.ctx.record("audit.checkpoint.export", None);
    let cp = s
        .audit
        .audited(rec, async |rec| {
            let cp = webqx_kms::export_latest_checkpoint(&s.store).await?;
            rec.detail("seq", cp.as_ref().map(|c| c.seq));
            Ok::<_, KmsError>(cp)
        })
        .await?;
    match cp {
        Some(cp) => Ok(Done(StatusCode::OK, cp)),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no-checkpoint",
            "no checkpoint has been signed yet; unseal the service and run \
             `webqx-sec audit checkpoint create`",
        )
        .audited()),
    }
}

/// Which records to export.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// `jsonl` (default), `fhir`, `atna`, `cef`, `ecs` or `ocsf`.
    pub format: Option<String>,
    /// Records after this sequence number (for paging).
    pub after: Option<i64>,
    /// Written at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Written before this time (RFC 3339).
    pub until: Option<String>,
    /// Most records (default and maximum 10,000).
    pub limit: Option<i64>,
    /// Records up to this sequence number (inclusive): pass the `x-webqx-head-seq` of
    /// the first page so that paging ends (each page request is itself audited).
    pub to: Option<i64>,
}

/// Most records in one export page.
const EXPORT_PAGE: i64 = 10_000;

#[utoipa::path(get, path = "/v1/audit/records", tag = "audit", params(ExportQuery), responses((status = 200, description = "One record per line; header x-webqx-last-seq gives the paging cursor")))]
/// Export records, one per line, in the chosen format. Page with `after` = the
/// `x-webqx-last-seq` of the previous page and `to` = the first page's
/// `x-webqx-head-seq`.
pub async fn records(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    caller
        .require(&s, Operation::AuditRead, None, "audit.export")
        .await?;
    let format = match q.format.as_deref() {
        None => Format::Jsonl,
        Some(name) => Format::parse(name).ok_or_else(|| {
            ApiError::bad_request(format!(
                "unknown format '{name}'; use one of jsonl, fhir, atna, cef, ecs, ocsf"
            ))
        })?,
    };
    if q.limit.is_some_and(|l| l < 1) || q.after.is_some_and(|a| a < 0) {
        return Err(ApiError::bad_request(
            "limit must be 1 or more and after 0 or more",
        ));
    }
    let query = TrailQuery {
        after_seq: q.after.unwrap_or(0),
        since_ms: q
            .since
            .as_deref()
            .map(|t| time_ms("since", t))
            .transpose()?,
        until_ms: q
            .until
            .as_deref()
            .map(|t| time_ms("until", t))
            .transpose()?,
        limit: q.limit.unwrap_or(EXPORT_PAGE).clamp(1, EXPORT_PAGE),
    };
    let mut rec = caller.ctx.record("audit.export", None);
    rec.detail("format", format.name());
    let (page, head) = s
        .audit
        .audited(rec, async |rec| {
            let (head, _) = webqx_audit::trail::head(&s.store).await?;
            let mut page = webqx_audit::trail::read(&s.store, &query).await?;
            // The page ends at the head read above: a record written between the two
            // reads belongs to the next page, so that a client paging up to this head
            // sees exactly this page's records.
            let end = q.to.map_or(head, |to| to.min(head));
            page.retain(|r| r.entry.seq <= end);
            rec.detail("records", page.len());
            Ok::<_, KmsError>((page, head))
        })
        .await?;
    let last = page.last().map(|r| r.entry.seq).unwrap_or(query.after_seq);
    let host = crate::hostname();
    let mut body = String::new();
    for r in &page {
        body.push_str(&webqx_siem::export_line(format, r, &host));
        body.push('\n');
    }
    let content_type = if format.is_json() {
        "application/x-ndjson"
    } else {
        "text/plain; charset=utf-8"
    };
    let mut response = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::HeaderName::from_static("x-webqx-last-seq"),
                last.to_string(),
            ),
            (
                header::HeaderName::from_static("x-webqx-head-seq"),
                head.to_string(),
            ),
        ],
        body,
    )
        .into_response();
    response
        .extensions_mut()
        .insert(crate::middleware::AuditDone);
    Ok(response)
}

fn time_ms(field: &str, text: &str) -> Result<i64, ApiError> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            ApiError::bad_request(format!(
                "{field} must be an RFC 3339 time such as 2026-12-04T00:00:00Z"
            ))
        })
}

/// The answer to an intake request: one result per item, in order.
#[derive(Serialize, ToSchema)]
pub struct IntakeResult {
    /// Items accepted into the trail.
    pub accepted: usize,
    /// Items refused.
    pub rejected: usize,
    /// Per item: `{"index", "status": "accepted", "id", "seq"}` or
    /// `{"index", "status": "rejected", "reason"}`.
    #[schema(value_type = Vec<Object>)]
    pub results: Vec<Value>,
}

#[utoipa::path(post, path = "/v1/audit/events", tag = "audit",
    request_body(content = Object, description = "A FHIR R4 AuditEvent or a Bundle of them (application/fhir+json), or NDJSON (application/fhir+ndjson)"),
    responses((status = 200, body = IntakeResult), (status = 415), (status = 422)))]
/// Receive FHIR R4 AuditEvents from the EHR into the tamper-evident trail, answering
/// per item. Each accepted item is durable when the answer arrives.
pub async fn events(
    State(s): State<AppState>,
    caller: Caller,
    body: Body,
) -> Result<Done<IntakeResult>, ApiError> {
    caller
        .require(&s, Operation::AuditWrite, None, "audit.intake")
        .await?;
    let items = match webqx_events::auditevent::split(&body.content_type, &body.bytes) {
        Ok(items) => items,
        Err(e) => {
            let status = if e.message.contains("content type") {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            let rec = rejected_record(&caller.ctx, "invalid-body", Via::Api);
            s.audit.record(rec).await.map_err(|_| audit_down())?;
            return Err(ApiError::new(status, "invalid-audit-events", e.message).audited());
        }
    };

    let mut results: Vec<Value> = Vec::with_capacity(items.len());
    let mut records: Vec<AuditRecord> = Vec::new();
    let mut slots: Vec<(usize, String)> = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let checked = item.and_then(|event| {
            let summary = webqx_events::auditevent::validate(&event)?;
            if let Some(why) = crate::intake::impersonation(&event) {
                return Err(webqx_events::auditevent::Invalid {
                    problems: vec![why.to_owned()],
                });
            }
            Ok((event, summary))
        });
        match checked {
            Ok((event, summary)) => {
                let rec = ehr_record(&s.audit, &caller.ctx, summary, event, Via::Api);
                slots.push((index, rec.request_id.clone()));
                records.push(rec);
                results.push(Value::Null);
            }
            Err(invalid) => {
                results.push(
                    json!({"index": index, "status": "rejected", "reason": invalid.to_string()}),
                );
            }
        }
    }
    let rejected = results.iter().filter(|r| !r.is_null()).count();
    if rejected > 0 {
        let mut rec = rejected_record(&caller.ctx, "invalid-audit-event", Via::Api);
        rec.detail("rejected", rejected);
        s.audit.record(rec).await.map_err(|_| audit_down())?;
    }
    let written = s.audit.record_all(records).await;
    let mut accepted = 0;
    for ((index, _), outcome) in slots.into_iter().zip(written) {
        results[index] = match outcome {
            Ok(seq) => {
                accepted += 1;
                json!({"index": index, "status": "accepted", "seq": seq})
            }
            Err(e) => {
                tracing::error!(error = %e, "an EHR audit event could not be written");
                json!({"index": index, "status": "rejected",
                       "reason": "the trail could not be written; send this item again"})
            }
        };
    }
    metrics::counter!("webqx_audit_intake_total", "via" => "api", "result" => "accepted")
        .increment(accepted as u64);
    metrics::counter!("webqx_audit_intake_total", "via" => "api", "result" => "rejected")
        .increment((results.len() - accepted) as u64);
    let status = if accepted == 0 && !results.is_empty() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(Done(
        status,
        IntakeResult {
            accepted,
            rejected: results.len() - accepted,
            results,
        },
    ))
}

fn audit_down() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "audit-unavailable",
        "the audit trail cannot be written, so the request was refused; retry later",
    )
}

/// An investigator's question about a sensitive value.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HmacQuestion {
    /// The value (a patient reference such as `Patient/123`, an encryption context).
    pub value: String,
    /// An HMAC from a record: answer whether it is the HMAC of `value`.
    pub hmac: Option<String>,
    /// Also list the records that hold the value's HMAC (newest last, at most 1,000).
    #[serde(default)]
    pub search: bool,
}

/// The answer.
#[derive(Serialize, ToSchema)]
pub struct HmacAnswer {
    /// Whether `hmac` is the HMAC of the value (when `hmac` was given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matches: Option<bool>,
    /// Records holding the value's HMAC, with the field it is in (when `search`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub records: Option<Vec<Value>>,
}

/// Most records a search lists.
const SEARCH_LIMIT: usize = 1000;

#[utoipa::path(post, path = "/v1/audit/hmac", tag = "audit", request_body = HmacQuestion, responses((status = 200, body = HmacAnswer)))]
/// Answer "is this the HMAC of value X" and find the records about X, so an
/// investigator can search the trail without it holding PHI. Admin only; the question
/// is itself audited (as an HMAC).
pub async fn hmac(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(q): JsonBody<HmacQuestion>,
) -> ApiResult<HmacAnswer> {
    caller
        .require(&s, Operation::Sys, None, "audit.hmac")
        .await?;
    if !caller.principal.policy.admin {
        let mut rec = caller.ctx.record("audit.hmac", None);
        rec.fail(webqx_audit::Outcome::Denied, "forbidden");
        s.audit.record(rec).await.map_err(|_| audit_down())?;
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only the admin token may match values against the trail's HMACs",
        )
        .audited());
    }
    if let Some(h) = &q.hmac
        && (h.len() != 64 || hex::decode(h).is_err())
    {
        return Err(ApiError::bad_request(
            "hmac must be 64 hex digits, as records hold them",
        ));
    }
    let mut rec = caller.ctx.record("audit.hmac", None);
    let tag = s.audit.hmac(q.value.as_bytes());
    rec.hmac.insert("value".into(), tag.clone());
    let answer = s
        .audit
        .audited(rec, async |rec| {
            let Some(tag) = tag.as_str() else {
                return Err(KmsError::Sealed);
            };
            let matches = q.hmac.as_deref().map(|given| {
                webqx_crypto::ct_eq(given.to_ascii_lowercase().as_bytes(), tag.as_bytes())
            });
            let records = if q.search {
                Some(search(&s, tag).await?)
            } else {
                None
            };
            rec.detail("matches", matches)
                .detail("found", records.as_ref().map(Vec::len));
            Ok(HmacAnswer { matches, records })
        })
        .await?;
    Ok(Done(StatusCode::OK, answer))
}

async fn search(s: &AppState, tag: &str) -> Result<Vec<Value>, KmsError> {
    let mut found = std::collections::VecDeque::new();
    let mut after = 0;
    loop {
        let page = webqx_audit::trail::read(
            &s.store,
            &TrailQuery {
                after_seq: after,
                limit: 5000,
                ..TrailQuery::default()
            },
        )
        .await?;
        let Some(last) = page.last() else { break };
        after = last.entry.seq;
        for r in &page {
            for (field, value) in &r.entry.hmac {
                if value.as_str() == Some(tag) {
                    found.push_back(
                        json!({"seq": r.entry.seq, "id": r.entry.id, "time": r.entry.time,
                        "action": r.entry.action, "actor": r.entry.actor, "field": field}),
                    );
                    if found.len() > SEARCH_LIMIT {
                        found.pop_front();
                    }
                }
            }
        }
    }
    Ok(found.into())
}

#[utoipa::path(get, path = "/v1/audit/sinks", tag = "audit", responses((status = 200, body = Object)))]
/// Each SIEM sink's delivery state: cursor, spooled records, lag, drops, last error.
pub async fn sinks(State(s): State<AppState>, caller: Caller) -> ApiResult<Value> {
    caller
        .require(&s, Operation::AuditRead, None, "audit.sinks")
        .await?;
    let rec = caller.ctx.record("audit.sinks", None);
    let status = match &s.sinks {
        Some(sinks) => serde_json::to_value(sinks.status().await).unwrap_or_default(),
        None => json!([]),
    };
    s.audit.record(rec).await.map_err(|_| audit_down())?;
    Ok(Done(StatusCode::OK, json!({ "sinks": status })))
}
