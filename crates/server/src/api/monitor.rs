//! `/v1/events`, `/v1/alerts` and `/v1/monitor`: sending events into security
//! monitoring, working the alerts it raises (list, show, acknowledge, close, follow live),
//! suppressions, and the context detection reads.

use super::keys::{ApiResult, Done};
use crate::extract::{Body, Caller, JsonBody, Path, Query};
use crate::monitor::alerts::{self, AlertError, ListQuery, NewSuppression};
use crate::monitor::{Item, Refused, Severity, body, event};
use crate::problem::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};
use webqx_tokens::Operation;

impl From<AlertError> for ApiError {
    fn from(e: AlertError) -> ApiError {
        match e {
            // Refused before any transaction: the middleware audits the request.
            AlertError::Invalid(m) => ApiError::bad_request(m),
            // Found out inside an audited transaction, which recorded the failure.
            AlertError::NotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not-found", e.to_string()).audited()
            }
            AlertError::Closed(_) => {
                ApiError::new(StatusCode::CONFLICT, "alert-closed", e.to_string()).audited()
            }
            other => {
                tracing::error!(error = %other, "alert request failed inside the service");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the service cannot reach its store or audit trail; retry later",
                )
            }
        }
    }
}

fn audit_down() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "audit-unavailable",
        "the audit trail cannot be written, so the request was refused; retry later",
    )
    .audited()
}

fn monitoring_off() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "monitoring-off",
        "security monitoring is off on this server; set [monitor] enabled = true",
    )
}

/// The answer to `POST /v1/events`.
#[derive(Serialize, ToSchema)]
pub struct EventsResult {
    /// Items queued for detection.
    pub accepted: usize,
    /// Items refused.
    pub rejected: usize,
    /// Per item, in order: `{"index", "status": "accepted"}` or
    /// `{"index", "status": "rejected", "reason"}`, with `"retry": true` when the item
    /// itself is fine and was refused for now (the queue is full, monitoring is
    /// stopping): send it again later. `index` is the item's position in a JSON array,
    /// or the 0-based line it starts on (NDJSON, or one object); blank lines count as
    /// lines and have no result.
    #[schema(value_type = Vec<Object>)]
    pub results: Vec<Value>,
}

/// The problem answer for a body refused as a whole.
fn body_refused(e: &body::BodyError) -> ApiError {
    use body::BodyError as B;
    let (status, kind, limit) = match e {
        B::TooManyItems(max) => (StatusCode::PAYLOAD_TOO_LARGE, "too-many-items", Some(*max)),
        B::TooLarge(max) => (StatusCode::PAYLOAD_TOO_LARGE, "body-too-large", Some(*max)),
        B::ContentType(_) | B::Charset(_) | B::SeveralContentTypes => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            None,
        ),
        // Content codings were undone (or refused) by the body extractor.
        _ => (StatusCode::BAD_REQUEST, "invalid-events", None),
    };
    let error = ApiError::new(status, kind, e.to_string());
    match limit {
        Some(limit) => error.with_limit(limit),
        None => error,
    }
}

#[utoipa::path(post, path = "/v1/events", tag = "monitor",
    request_body(content = Object, description = "An event object, a JSON array of them, or NDJSON (application/json, sniffed), or NDJSON (application/x-ndjson, application/ndjson, application/jsonl); charset utf-8 or none; Content-Encoding gzip or none"),
    responses((status = 202, body = EventsResult), (status = 400, body = crate::problem::Problem),
              (status = 413, body = crate::problem::Problem), (status = 415, body = crate::problem::Problem)))]
/// Send events (in the event schema, or any JSON object) into security monitoring,
/// answered per item. Accepted items are queued; an item refused because the queue is
/// full is counted and may be sent again. A gzip body (`Content-Encoding: gzip`) is
/// decompressed up to `server.max_body_bytes`.
pub async fn events(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Done<EventsResult>, ApiError> {
    caller
        .require(&s, Operation::EventsWrite, None, "events.submit")
        .await?;
    let Some(monitor) = &s.monitor else {
        return Err(monitoring_off());
    };
    let limits = body::Limits {
        max_items: s.config.monitor.max_items,
        max_item_bytes: s.config.monitor.max_event_bytes,
    };
    // The extractor has undone the content coding (gzip) within server.max_body_bytes.
    let parts = body::check_single_content_type(&headers)
        .and_then(|()| body::check_content_type(&body.content_type))
        .and_then(|()| body::split(&body.content_type, &body.bytes, limits))
        .map_err(|e| body_refused(&e))?;
    let mut results = Vec::with_capacity(parts.len());
    let mut accepted = 0;
    for body::Part { index, item } in parts {
        let mut retry = false;
        let outcome = item.and_then(|value| {
            let Value::Object(map) = value else {
                return Err("not a JSON object".to_owned());
            };
            retry = true;
            let event = event::from_object(map, "http");
            match monitor.offer_or_refuse(
                "http",
                Item {
                    event: Some(event),
                    mark: None,
                },
            ) {
                Ok(()) => Ok(()),
                Err(Refused::Full(_)) => {
                    Err("the monitoring queue is full; send this item again later".into())
                }
                Err(_) => Err("monitoring is stopping; send this item again later".into()),
            }
        });
        results.push(match outcome {
            Ok(()) => {
                accepted += 1;
                json!({"index": index, "status": "accepted"})
            }
            Err(reason) if retry => {
                json!({"index": index, "status": "rejected", "reason": reason, "retry": true})
            }
            Err(reason) => json!({"index": index, "status": "rejected", "reason": reason}),
        });
    }
    let rejected = results.len() - accepted;
    let mut rec = caller.ctx.record("events.submit", None);
    rec.detail("accepted", accepted)
        .detail("rejected", rejected);
    s.audit.record(rec).await.map_err(|_| audit_down())?;
    Ok(Done(
        StatusCode::ACCEPTED,
        EventsResult {
            accepted,
            rejected,
            results,
        },
    ))
}

/// Filters and paging of `GET /v1/alerts`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AlertsQuery {
    /// `open`, `acknowledged` or `closed`.
    pub status: Option<String>,
    /// At least this severity: informational, low, medium, high, critical.
    pub severity: Option<String>,
    /// Only this rule id.
    pub rule: Option<String>,
    /// Last seen at or after this time (RFC 3339).
    pub since: Option<String>,
    /// The `next` cursor of the previous page (an alert id).
    #[param(value_type = Option<String>, format = Uuid)]
    pub cursor: Option<String>,
    /// Most alerts: 1 to 1000 (default 100).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

/// Alerts a page holds when `limit` is not given, and at most.
const PAGE_DEFAULT: i64 = 100;
const PAGE_MAX: i64 = 1000;

/// `limit`: a whole number from 1 to [`PAGE_MAX`] (taken as text, so that `abc`, `0`,
/// `-1` and `99999999999999999999` all get the same answer naming the range).
fn page_limit(text: Option<&str>) -> Result<i64, ApiError> {
    let Some(text) = text else {
        return Ok(PAGE_DEFAULT);
    };
    text.parse::<i64>()
        .ok()
        .filter(|n| (1..=PAGE_MAX).contains(n))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "limit must be a whole number from 1 to {PAGE_MAX} (default {PAGE_DEFAULT})"
            ))
        })
}

/// `cursor`: the `next` of a previous page, an alert id (a UUID). Any UUID is a
/// position (alerts after it in id order); it is compared in its canonical form.
fn page_cursor(text: Option<&str>) -> Result<Option<String>, ApiError> {
    text.map(|c| {
        uuid::Uuid::try_parse(c)
            .map(|id| id.hyphenated().to_string())
            .map_err(|_| {
                ApiError::bad_request(
                    "cursor must be the `next` value of a previous page (an alert id); \
                     leave it out for the first page",
                )
            })
    })
    .transpose()
}

fn list_query(q: AlertsQuery) -> Result<ListQuery, ApiError> {
    if let Some(st) = &q.status
        && !matches!(st.as_str(), "open" | "acknowledged" | "closed")
    {
        return Err(ApiError::bad_request(
            "status must be open, acknowledged or closed",
        ));
    }
    let min_severity = match q.severity.as_deref() {
        None => None,
        Some(t) => Some(Severity::parse(t).ok_or_else(|| {
            ApiError::bad_request("severity must be informational, low, medium, high or critical")
        })?),
    };
    let since_ms = match q.since.as_deref() {
        None => None,
        Some(t) => Some(
            chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|_| {
                    ApiError::bad_request(
                        "since must be an RFC 3339 time such as 2026-12-04T00:00:00Z",
                    )
                })?
                .timestamp_millis(),
        ),
    };
    Ok(ListQuery {
        after: page_cursor(q.cursor.as_deref())?,
        limit: page_limit(q.limit.as_deref())?,
        status: q.status,
        min_severity,
        rule: q.rule,
        since_ms,
    })
}

#[utoipa::path(get, path = "/v1/alerts", tag = "monitor", params(AlertsQuery),
    responses((status = 200, body = Object), (status = 400, body = crate::problem::Problem)))]
/// Alerts, oldest first: `{"alerts": [...], "next": cursor or null}` (docs/alerts.md).
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<AlertsQuery>,
) -> ApiResult<Value> {
    caller
        .require(&s, Operation::AlertsRead, None, "alert.list")
        .await?;
    let q = list_query(q)?;
    caller.audit_read(&s, "alert.list", None).await?;
    let (alerts, next) = alerts::list(&s.store, &q).await?;
    Ok(Done(
        StatusCode::OK,
        json!({"alerts": alerts, "next": next}),
    ))
}

#[utoipa::path(get, path = "/v1/alerts/{id}", tag = "monitor",
    responses((status = 200, body = Object), (status = 404, body = crate::problem::Problem)))]
/// One alert with its triggering events.
pub async fn show(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Value> {
    caller
        .require(&s, Operation::AlertsRead, None, "alert.read")
        .await?;
    let alert = match alerts::get(&s.store, &id).await {
        Ok(a) => a,
        Err(e @ AlertError::NotFound(_)) => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not-found",
                e.to_string(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    caller
        .audit_read(&s, "alert.read", Some(format!("alert:{id}")))
        .await?;
    Ok(Done(StatusCode::OK, alert))
}

/// A note for acknowledging or closing.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    /// Why (kept on the alert; at most 2000 characters).
    pub note: Option<String>,
}

async fn transition(
    s: AppState,
    caller: Caller,
    id: String,
    close: bool,
    body: Body,
) -> ApiResult<Value> {
    let action = if close {
        "alert.close"
    } else {
        "alert.acknowledge"
    };
    caller
        .require(&s, Operation::AlertsWrite, None, action)
        .await?;
    let req: NoteRequest = if body.bytes.iter().all(u8::is_ascii_whitespace) {
        NoteRequest::default()
    } else {
        serde_json::from_slice(&body.bytes).map_err(|e| {
            ApiError::bad_request(format!(
                "the body must be {{\"note\": \"…\"}} or empty: {e}"
            ))
        })?
    };
    alerts::transition(&s.audit, &caller.ctx, &id, close, req.note.as_deref()).await?;
    if let Some(m) = &s.monitor {
        m.changed().notify_waiters();
    }
    Ok(Done(StatusCode::OK, alerts::get(&s.store, &id).await?))
}

#[utoipa::path(post, path = "/v1/alerts/{id}/ack", tag = "monitor", request_body = NoteRequest,
    responses((status = 200, body = Object), (status = 404, body = crate::problem::Problem), (status = 409, body = crate::problem::Problem)))]
/// Acknowledge an alert (someone is on it); later findings still group into it.
pub async fn ack(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Value> {
    transition(s, caller, id, false, body).await
}

#[utoipa::path(post, path = "/v1/alerts/{id}/close", tag = "monitor", request_body = NoteRequest,
    responses((status = 200, body = Object), (status = 404, body = crate::problem::Problem), (status = 409, body = crate::problem::Problem)))]
/// Close an alert, with a note; a later finding opens a new alert.
pub async fn close(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Value> {
    transition(s, caller, id, true, body).await
}

#[utoipa::path(get, path = "/v1/alerts/stream", tag = "monitor",
    responses((status = 200, description = "text/event-stream: events `alert.new` and `alert.updated`, each with id = the change number and data = the alert object"),
              (status = 400, body = crate::problem::Problem)))]
/// Follow alerts live (server-sent events). Send `Last-Event-ID` to resume after a
/// change (0 replays every alert); without it the stream starts with changes made from
/// now on. An id this server never sent (not a change number, or after the newest) is
/// refused with 400.
pub async fn stream(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    caller
        .require(&s, Operation::AlertsRead, None, "alert.stream")
        .await?;
    let Some(monitor) = s.monitor.clone() else {
        return Err(monitoring_off());
    };
    let newest = alerts::last_change(&s.store).await?;
    let start = resume_after(&headers, newest)?;
    let mut rec = caller.ctx.record("alert.stream", None);
    rec.detail("after_change", start);
    s.audit.record(rec).await.map_err(|_| audit_down())?;

    let keepalive = crate::config_monitor::duration(&s.config.monitor.stream_keepalive);
    let state = (s.store.clone(), monitor, start, VecDeque::<Value>::new());
    let events = futures_util::stream::unfold(
        state,
        |(store, monitor, mut last, mut pending)| async move {
            loop {
                if let Some(alert) = pending.pop_front() {
                    let event = sse_event(&alert);
                    return Some((
                        Ok::<Event, Infallible>(event),
                        (store, monitor, last, pending),
                    ));
                }
                let woken = monitor.changed().notified();
                match alerts::changes_after(&store, last, 100).await {
                    Ok(changes) if !changes.is_empty() => {
                        last = changes
                            .last()
                            .and_then(|a| a["change"].as_i64())
                            .unwrap_or(last);
                        pending.extend(changes);
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "alert stream cannot read the store; retrying")
                    }
                }
                // Other nodes' changes are seen by polling; this node's wake us at once.
                let _ = tokio::time::timeout(Duration::from_secs(1), woken).await;
            }
        },
    );
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(keepalive).text("keep-alive"))
        .into_response();
    response
        .extensions_mut()
        .insert(crate::middleware::AuditDone);
    Ok(response)
}

/// Where a stream starts: after the change `Last-Event-ID` names, or after `newest`
/// without one (an empty header, as an `EventSource` never sends, counts as none).
///
/// Only an id this server could have sent is taken: a change number, written as we write
/// it (digits, no sign or leading zero), from 0 (replay everything) to `newest`. Anything
/// else is refused rather than read as "from now": a client that sent it would otherwise
/// silently miss the changes since its real position.
fn resume_after(headers: &HeaderMap, newest: i64) -> Result<i64, ApiError> {
    let mut values = headers.get_all("last-event-id").iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return if headers.contains_key("last-event-id") {
            Err(ApiError::bad_request(
                "send Last-Event-ID once: the id of the last event seen",
            ))
        } else {
            Ok(newest)
        };
    };
    let text = value.to_str().unwrap_or("?").trim();
    if text.is_empty() {
        return Ok(newest);
    }
    let canonical =
        text.bytes().all(|b| b.is_ascii_digit()) && (text == "0" || !text.starts_with('0'));
    let Some(after) = text.parse::<i64>().ok().filter(|_| canonical) else {
        return Err(ApiError::bad_request(format!(
            "Last-Event-ID must be the id of an event of this stream: a change number from 0 \
             to {newest}; leave it out to follow changes from now"
        )));
    };
    if after > newest {
        return Err(ApiError::bad_request(format!(
            "Last-Event-ID {after} is after the newest change ({newest}): this server never \
             sent it (was the store restored from a backup?); leave it out to follow changes \
             from now, or send 0 to replay every alert"
        )));
    }
    Ok(after)
}

fn sse_event(alert: &Value) -> Event {
    let kind = if alert["created_at"] == alert["updated_at"] {
        "alert.new"
    } else {
        "alert.updated"
    };
    let id = alert["change"].as_i64().unwrap_or_default().to_string();
    Event::default().id(id).event(kind).data(alert.to_string())
}

#[utoipa::path(get, path = "/v1/alerts/suppressions", tag = "monitor", responses((status = 200, body = Object)))]
/// Suppressions in force: `{"suppressions": [...]}`.
pub async fn suppressions(State(s): State<AppState>, caller: Caller) -> ApiResult<Value> {
    caller
        .require(&s, Operation::AlertsRead, None, "alert.suppression.list")
        .await?;
    caller
        .audit_read(&s, "alert.suppression.list", None)
        .await?;
    Ok(Done(
        StatusCode::OK,
        json!({"suppressions": alerts::suppressions(&s.store).await?}),
    ))
}

/// The rules alerts can come from: the detector's (when monitoring is on) and the
/// components' (scans, OAuth, certificates).
fn rule_catalog(s: &AppState) -> Vec<webqx_detect::RuleInfo> {
    let mut rules = s
        .monitor
        .as_ref()
        .map(|m| m.rules().to_vec())
        .unwrap_or_default();
    rules.extend(crate::monitor::component_rules());
    rules
}

#[utoipa::path(get, path = "/v1/alerts/rules", tag = "monitor",
    responses((status = 200, body = Object)))]
/// The rules alerts can come from: id (what alerts and suppressions carry), name,
/// title, level, kind (`detection`, `correlation`, `component`), whether it alerts on
/// its own, and where it was loaded from.
pub async fn rules(State(s): State<AppState>, caller: Caller) -> ApiResult<Value> {
    caller
        .require(&s, Operation::AlertsRead, None, "alert.rules")
        .await?;
    caller.audit_read(&s, "alert.rules", None).await?;
    Ok(Done(StatusCode::OK, json!({"rules": rule_catalog(&s)})))
}

#[utoipa::path(post, path = "/v1/alerts/suppressions", tag = "monitor", request_body = NewSuppression,
    responses((status = 201, body = Object), (status = 400, body = crate::problem::Problem)))]
/// Suppress a rule (or `*`) for one value of one event field, with a reason and an
/// expiry (both required). The rule may be given by id, Sigma name, title or rule file
/// name (`GET /v1/alerts/rules`); it is stored by id. Audited.
pub async fn suppress(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(mut req): JsonBody<NewSuppression>,
) -> ApiResult<Value> {
    caller
        .require(&s, Operation::AlertsWrite, None, "alert.suppression.create")
        .await?;
    let mut title = None;
    if req.rule_id != "*" {
        let catalog = rule_catalog(&s);
        let rule = webqx_detect::resolve(&catalog, &req.rule_id).map_err(AlertError::Invalid)?;
        req.rule_id.clone_from(&rule.id);
        title = Some(rule.title.clone());
    }
    let mut made = alerts::add_suppression(&s.audit, &caller.ctx, &req).await?;
    if let Some(title) = title {
        made["rule_title"] = Value::String(title);
    }
    Ok(Done(StatusCode::CREATED, made))
}

#[utoipa::path(delete, path = "/v1/alerts/suppressions/{id}", tag = "monitor",
    responses((status = 200, body = Object), (status = 404, body = crate::problem::Problem)))]
/// Remove a suppression. Audited.
pub async fn unsuppress(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Value> {
    caller
        .require(&s, Operation::AlertsWrite, None, "alert.suppression.delete")
        .await?;
    alerts::remove_suppression(&s.audit, &caller.ctx, &id).await?;
    Ok(Done(StatusCode::OK, json!({"deleted": id})))
}

#[utoipa::path(put, path = "/v1/monitor/context/{kind}", tag = "monitor",
    request_body(content = Object, description = "The whole document for users, patients or care (see docs/alerts.md)"),
    responses((status = 200, body = Object), (status = 400, body = crate::problem::Problem)))]
/// Replace a context document detection reads: `users` (directory), `patients`
/// (flags), `care` (care relationships). Audited without its content.
pub async fn put_context(
    State(s): State<AppState>,
    caller: Caller,
    Path(kind): Path<String>,
    JsonBody(doc): JsonBody<Value>,
) -> ApiResult<Value> {
    caller
        .require(&s, Operation::AlertsWrite, None, "monitor.context.update")
        .await?;
    if !doc.is_object() && !doc.is_array() {
        return Err(ApiError::bad_request(
            "the context document must be a JSON object or array",
        ));
    }
    if alerts::CONTEXT_KINDS.contains(&kind.as_str()) {
        crate::monitor::sigma::check_context(&kind, &doc)
            .map_err(|e| ApiError::bad_request(format!("the {kind} document is refused: {e}")))?;
    }
    alerts::put_context(&s.audit, &caller.ctx, &kind, &doc).await?;
    if let Some(m) = &s.monitor {
        m.set_context(&kind, doc);
    }
    let stored = alerts::get_context(&s.store, &kind).await?;
    Ok(Done(StatusCode::OK, stored.unwrap_or(Value::Null)))
}

#[utoipa::path(get, path = "/v1/monitor/context/{kind}", tag = "monitor",
    responses((status = 200, body = Object), (status = 404, body = crate::problem::Problem)))]
/// A context document with who stored it and when.
pub async fn get_context(
    State(s): State<AppState>,
    caller: Caller,
    Path(kind): Path<String>,
) -> ApiResult<Value> {
    caller
        .require(&s, Operation::AlertsRead, None, "monitor.context.read")
        .await?;
    if !alerts::CONTEXT_KINDS.contains(&kind.as_str()) {
        return Err(ApiError::bad_request(
            "the context kind must be users, patients or care",
        ));
    }
    caller
        .audit_read(&s, "monitor.context.read", Some(format!("context:{kind}")))
        .await?;
    match alerts::get_context(&s.store, &kind).await? {
        Some(doc) => Ok(Done(StatusCode::OK, doc)),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no {kind} context stored yet; PUT one first"),
        )
        .audited()),
    }
}

/// The routes of this module.
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::{delete, get, post, put};
    axum::Router::new()
        .route("/v1/events", post(events))
        .route("/v1/alerts", get(list))
        .route("/v1/alerts/stream", get(stream))
        .route("/v1/alerts/rules", get(rules))
        .route("/v1/alerts/suppressions", get(suppressions).post(suppress))
        .route("/v1/alerts/suppressions/{id}", delete(unsuppress))
        .route("/v1/alerts/{id}", get(show))
        .route("/v1/alerts/{id}/ack", post(ack))
        .route("/v1/alerts/{id}/close", post(close))
        .route(
            "/v1/monitor/context/{kind}",
            put(put_context).get(get_context),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_limit_is_1_to_1000() {
        assert_eq!(page_limit(None).unwrap(), 100);
        assert_eq!(page_limit(Some("1")).unwrap(), 1);
        assert_eq!(page_limit(Some("1000")).unwrap(), 1000);
        for bad in [
            "0",
            "-1",
            "1001",
            "99999999999999999999",
            "abc",
            "",
            " 5",
            "5.0",
        ] {
            let e = page_limit(Some(bad)).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad}");
            assert!(e.detail.contains("from 1 to 1000"), "{bad}: {}", e.detail);
        }
    }

    #[test]
    fn a_cursor_is_an_alert_id() {
        let id = uuid::Uuid::now_v7().to_string();
        assert_eq!(page_cursor(Some(&id)).unwrap(), Some(id.clone()));
        assert_eq!(
            page_cursor(Some(&id.to_uppercase())).unwrap(),
            Some(id),
            "compared in the form the store keeps"
        );
        assert_eq!(page_cursor(None).unwrap(), None);
        for bad in ["zzz", "", "1", "0193a4c2-not-a-uuid"] {
            let e = page_cursor(Some(bad)).unwrap_err();
            assert!(e.detail.contains("`next` value"), "{bad}: {}", e.detail);
        }
    }

    fn last_event_id(values: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(
                "last-event-id",
                axum::http::HeaderValue::from_bytes(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn only_ids_the_stream_could_have_sent_resume_it() {
        assert_eq!(resume_after(&HeaderMap::new(), 57).unwrap(), 57);
        assert_eq!(resume_after(&last_event_id(&[b""]), 57).unwrap(), 57);
        for (id, after) in [(&b"0"[..], 0), (b"12", 12), (b"57", 57), (b" 3 ", 3)] {
            assert_eq!(resume_after(&last_event_id(&[id]), 57).unwrap(), after);
        }
        for bad in [
            &b"abc"[..],
            b"-1",
            b"+5",
            b"05",
            b"1e3",
            b"5.0",
            b"99999999999999999999",
            b"\xff",
        ] {
            let e = resume_after(&last_event_id(&[bad]), 57).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
            assert!(e.detail.contains("from 0 to 57"), "{bad:?}: {}", e.detail);
        }
        let ahead = resume_after(&last_event_id(&[b"58"]), 57).unwrap_err();
        assert!(
            ahead.detail.contains("after the newest change (57)"),
            "{}",
            ahead.detail
        );
        assert!(resume_after(&last_event_id(&[b"1", b"2"]), 57).is_err());
    }

    #[test]
    fn a_body_refused_whole_names_its_limit() {
        let e = body_refused(&body::BodyError::TooManyItems(50));
        assert_eq!(
            (e.status, e.kind, e.limit),
            (StatusCode::PAYLOAD_TOO_LARGE, "too-many-items", Some(50))
        );
        let e = body_refused(&body::BodyError::TooLarge(4096));
        assert_eq!(
            (e.status, e.kind, e.limit),
            (StatusCode::PAYLOAD_TOO_LARGE, "body-too-large", Some(4096))
        );
        let e = body_refused(&body::BodyError::ContentType("text/plain".into()));
        assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(
            body_refused(&body::BodyError::Empty).status,
            StatusCode::BAD_REQUEST
        );
    }
}
