//! `/v1/sys/backup`: take an encrypted backup now (streamed to the caller) and list
//! the scheduled ones.

use super::keys::{ApiResult, Done};
use crate::backups::ChannelWriter;
use crate::extract::Caller;
use crate::problem::ApiError;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;
use tokio::sync::mpsc;
use utoipa::ToSchema;
use webqx_tokens::Operation;

#[utoipa::path(post, path = "/v1/sys/backup", tag = "sys", responses(
    (status = 200, description = "The encrypted backup (WebQx streaming file format), streamed", content_type = "application/octet-stream"),
    (status = 503, body = crate::problem::Problem)))]
/// Takes a consistent snapshot of the store now and streams it encrypted (needs `sys`).
/// The data key is wrapped by a key derived from the root key, and the header carries
/// the seal block, so the file opens with the unseal credentials alone. Audited as
/// `backup.create`. If the snapshot fails midway the response is cut off (never a
/// complete-looking file).
pub async fn create(State(s): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller
        .require(&s, Operation::Sys, None, "backup.create")
        .await?;
    if s.kms.is_sealed() {
        return Err(webqx_kms::KmsError::Sealed.into());
    }
    let (tx, rx) = mpsc::channel::<Result<Vec<u8>, std::io::Error>>(8);
    let failed = tx.clone();
    let ctx = caller.ctx.clone();
    tokio::spawn(async move {
        let data_dir = s.config.server.data_dir.clone();
        let out = ChannelWriter(tx);
        let result = webqx_backup::create(&s.store, &s.kms, &s.audit, &ctx, &data_dir, out).await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "backup on request failed");
            let _ = failed
                .send(Err(std::io::Error::other("the backup failed")))
                .await;
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    response
        .extensions_mut()
        .insert(crate::middleware::AuditDone);
    Ok(response)
}

/// The scheduled backups in `[backup] folder`.
#[derive(Serialize, ToSchema)]
pub struct BackupList {
    /// The folder, if scheduled backups are configured.
    pub folder: Option<String>,
    /// Backups, oldest first.
    pub backups: Vec<BackupItem>,
    /// Outcome of the scheduled backups.
    pub status: Option<crate::backups::BackupStatus>,
    /// What to do when the folder cannot be listed (e.g. it does not exist).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advice: Option<String>,
}

/// One scheduled backup.
#[derive(Serialize, ToSchema)]
pub struct BackupItem {
    /// File name.
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// When it was taken (RFC 3339).
    pub created: String,
}

#[utoipa::path(get, path = "/v1/sys/backups", tag = "sys", responses((status = 200, body = BackupList)))]
/// Lists the scheduled backups and their status (needs `sys`).
pub async fn list(State(s): State<AppState>, caller: Caller) -> ApiResult<BackupList> {
    caller
        .require(&s, Operation::Sys, None, "backup.list")
        .await?;
    let folder = s.config.backup.folder.clone();
    let mut backups = Vec::new();
    let mut advice = None;
    if let Some(folder) = &folder
        && !folder.is_dir()
    {
        advice = Some(format!(
            "[backup] folder {} does not exist or is not a folder: create it (owner-only, \
             writable by the server's user) or fix [backup] folder",
            folder.display()
        ));
    } else if let Some(folder) = &folder {
        let files = webqx_backup::retention::list(folder).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "backup-io",
                e.to_string(),
            )
        })?;
        for f in files {
            let created = chrono::DateTime::from_timestamp_millis(f.created_ms)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            backups.push(BackupItem {
                name: f.name,
                bytes: f.bytes,
                created,
            });
        }
    }
    Ok(Done(
        StatusCode::OK,
        BackupList {
            folder: folder.map(|f| f.display().to_string()),
            backups,
            status: crate::backups::status(&s.store).await,
            advice,
        },
    ))
}
