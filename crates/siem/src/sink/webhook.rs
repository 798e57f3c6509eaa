//! Webhook delivery: each batch is one signed `POST` of `{"events": [...]}`.
//!
//! Each event is the record rendered in the sink's format when that is JSON (`jsonl`,
//! `fhir`, `ecs`, `ocsf`), or `{"id", "seq", "text"}` with the rendered line for text
//! formats (`cef`, `atna`). Headers:
//!
//! - `X-WebQx-Timestamp`: Unix seconds when the batch was sent;
//! - `X-WebQx-Signature`: `v1=` and the lowercase hex HMAC-SHA-256, keyed with the
//!   shared secret (the bytes of `secret_file` or `secret_env`, surrounding whitespace
//!   removed), of the timestamp, a `.`, and the raw body bytes;
//! - `Idempotency-Key`: `<first record id>..<last record id>`.
//!
//! # How a receiver verifies a delivery
//! 1. Read the raw body bytes before parsing them.
//! 2. Compute `HMAC-SHA-256(secret, timestamp + "." + body)`, hex-encode it, and compare
//!    it with the value after `v1=` **in constant time**; refuse (401) on mismatch. A
//!    later version adds `v2=` beside `v1=`, comma-separated: check the one you know.
//! 3. Refuse a timestamp more than five minutes from your clock (replay).
//! 4. Answer 2xx only once the events are stored. Any other answer, or none within 10 s,
//!    and the same records come again (with a new timestamp and signature).
//! 5. De-duplicate on each event's `id` (or the `Idempotency-Key` of a whole batch):
//!    delivery is at least once.

use super::{DeliveryError, SinkConfig, SinkError, WebhookConfig};
use crate::Format;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use webqx_audit::TrailRecord;
use webqx_crypto::SecretBytes;
use webqx_crypto::mac::{Algorithm, tag};

pub(crate) struct WebhookSink {
    format: Format,
    url: reqwest::Url,
    client: reqwest::Client,
    secret: SecretBytes,
}

impl std::fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSink")
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

/// The `X-WebQx-Signature` value for `body` sent at `timestamp`.
pub fn signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut signed = Vec::with_capacity(timestamp.len() + 1 + body.len());
    signed.extend_from_slice(timestamp.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(body);
    format!(
        "v1={}",
        hex::encode(tag(Algorithm::Sha256, secret, &signed))
    )
}

impl WebhookSink {
    pub(crate) fn new(sink: &SinkConfig, w: &WebhookConfig) -> Result<WebhookSink, SinkError> {
        let url = reqwest::Url::parse(&w.url)
            .map_err(|e| SinkError::Config(format!("audit.sinks '{}': url: {e}", sink.name)))?;
        let secret = super::read_secret(
            &sink.name,
            "secret",
            w.secret_file.as_deref(),
            w.secret_env.as_deref(),
        )?;
        Ok(WebhookSink {
            format: sink.format,
            client: super::http_client(&sink.name, &url, w.ca_file.as_deref())?,
            url,
            secret,
        })
    }

    fn event(&self, rec: &TrailRecord) -> Value {
        super::json_event(self.format, rec).unwrap_or_else(
            || json!({"id": rec.entry.id, "seq": rec.entry.seq, "text": self.format.render(rec)}),
        )
    }

    pub(crate) async fn send(&mut self, batch: &[TrailRecord]) -> Result<(), DeliveryError> {
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
            return Ok(());
        };
        let events: Vec<Value> = batch.iter().map(|r| self.event(r)).collect();
        let body = json!({ "events": events }).to_string().into_bytes();
        let timestamp = (webqx_store::now_ms() / 1000).to_string();
        let sig = signature(self.secret.expose(), &timestamp, &body);
        let response = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header("X-WebQx-Timestamp", &timestamp)
            .header("X-WebQx-Signature", sig)
            .header(
                "Idempotency-Key",
                format!("{}..{}", first.entry.id, last.entry.id),
            )
            .body(body)
            .send()
            .await
            .map_err(|e| {
                DeliveryError::retry(format!("webhook request failed: {}", super::hec::plain(&e)))
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let message = format!("the webhook answered {status}");
        if status.is_client_error() && !matches!(status.as_u16(), 408 | 425 | 429) {
            Err(DeliveryError::config(format!(
                "{message}; check the url and that the receiver has the same secret"
            )))
        } else {
            Err(DeliveryError::retry(message))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_covers_timestamp_and_body() {
        let a = signature(b"k", "1700000000", b"{}");
        assert!(a.starts_with("v1="));
        assert_eq!(a.len(), 3 + 64);
        assert_ne!(a, signature(b"k", "1700000001", b"{}"));
        assert_ne!(a, signature(b"k", "1700000000", b"{ }"));
        assert_ne!(a, signature(b"j", "1700000000", b"{}"));
    }
}
