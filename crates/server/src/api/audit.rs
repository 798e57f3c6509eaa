//! `/v1/audit`: checking the trail.

use super::keys::{ApiResult, Done};
use crate::extract::Caller;
use crate::problem::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use webqx_audit::VerifyReport;
use webqx_tokens::Operation;

#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit", responses((status = 200, body = Object)))]
/// Walk the hash chain and report the first broken record, if any.
pub async fn verify(State(s): State<AppState>, caller: Caller) -> ApiResult<VerifyReport> {
    caller
        .require(&s, Operation::AuditRead, None, "audit.verify")
        .await?;
    let rec = caller.ctx.record("audit.verify", None);
    let report = s
        .audit
        .audited(rec, async |rec| {
            let report = webqx_audit::verify(&s.store).await?;
            rec.detail("records", report.records)
                .detail("ok", report.ok());
            Ok::<_, webqx_kms::KmsError>(report)
        })
        .await
        .map_err(ApiError::from)?;
    Ok(Done(StatusCode::OK, report))
}
