//! Splunk HTTP Event Collector: a batch is one POST of concatenated event objects.
//!
//! A 2xx answer whose body is empty or says `"code": 0` means delivered. 429, 5xx and
//! network failures are retried. Other 4xx answers (bad token, disabled token, wrong
//! index or URL) will not fix themselves: they are logged once at warn and shown in the
//! sink's status, and retried with backoff so that delivery resumes as soon as the
//! Splunk side is fixed.

use super::{DeliveryError, HecConfig, SinkConfig, SinkError};
use crate::Format;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::{Map, Value, json};
use webqx_audit::TrailRecord;

pub(crate) struct HecSink {
    format: Format,
    url: reqwest::Url,
    client: reqwest::Client,
    /// `Splunk <token>`, marked sensitive (never logged by the HTTP stack).
    auth: HeaderValue,
    host: String,
    source: String,
    sourcetype: String,
    index: Option<String>,
}

impl std::fmt::Debug for HecSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HecSink")
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

impl HecSink {
    pub(crate) fn new(sink: &SinkConfig, h: &HecConfig) -> Result<HecSink, SinkError> {
        let url = reqwest::Url::parse(&h.url)
            .map_err(|e| SinkError::Config(format!("audit.sinks '{}': url: {e}", sink.name)))?;
        let token = super::read_secret(
            &sink.name,
            "token",
            h.token_file.as_deref(),
            h.token_env.as_deref(),
        )?;
        let mut value = b"Splunk ".to_vec();
        value.extend_from_slice(token.expose());
        let value = webqx_crypto::SecretBytes::new(value);
        let mut auth = HeaderValue::from_bytes(value.expose()).map_err(|_| {
            SinkError::Config(format!(
                "audit.sinks '{}': the HEC token holds characters a header cannot carry",
                sink.name
            ))
        })?;
        auth.set_sensitive(true);
        Ok(HecSink {
            format: sink.format,
            client: super::http_client(&sink.name, &url, h.ca_file.as_deref())?,
            url,
            auth,
            host: super::machine_hostname(),
            source: h.source.clone(),
            sourcetype: h.sourcetype.clone(),
            index: h.index.clone(),
        })
    }

    /// One HEC event object for a record.
    pub(crate) fn event(&self, rec: &TrailRecord) -> Value {
        let time = super::record_time_ms(rec).unwrap_or_else(webqx_store::now_ms);
        let event = super::json_event(self.format, rec)
            .unwrap_or_else(|| Value::String(self.format.render(rec)));
        let mut obj = Map::new();
        obj.insert("time".into(), json!(time as f64 / 1000.0));
        obj.insert("host".into(), json!(self.host));
        obj.insert("source".into(), json!(self.source));
        obj.insert("sourcetype".into(), json!(self.sourcetype));
        if let Some(index) = &self.index {
            obj.insert("index".into(), json!(index));
        }
        obj.insert("event".into(), event);
        obj.insert(
            "fields".into(),
            json!({"webqx_id": rec.entry.id, "webqx_seq": rec.entry.seq}),
        );
        Value::Object(obj)
    }

    pub(crate) async fn send(&mut self, batch: &[TrailRecord]) -> Result<(), DeliveryError> {
        let mut body = String::new();
        for rec in batch {
            body.push_str(&self.event(rec).to_string());
        }
        let response = self
            .client
            .post(self.url.clone())
            .header(AUTHORIZATION, self.auth.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| DeliveryError::retry(format!("HEC request failed: {}", plain(&e))))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let answer: Option<Value> = serde_json::from_str(&text).ok();
        let code = answer
            .as_ref()
            .and_then(|a| a.get("code"))
            .and_then(Value::as_i64);
        let said = answer
            .as_ref()
            .and_then(|a| a.get("text"))
            .and_then(Value::as_str)
            .map(|t| t.chars().take(200).collect::<String>())
            .unwrap_or_default();
        if status.is_success() && (text.trim().is_empty() || code == Some(0)) {
            return Ok(());
        }
        let message = format!(
            "Splunk HEC answered {status}{}{}",
            code.map(|c| format!(" code {c}")).unwrap_or_default(),
            if said.is_empty() {
                String::new()
            } else {
                format!(": {said}")
            }
        );
        if status.is_client_error() && status.as_u16() != 429 {
            Err(DeliveryError::config(format!(
                "{message}; check the token, the index and the url"
            )))
        } else {
            Err(DeliveryError::retry(message))
        }
    }
}

/// A reqwest error with its causes. (Its URL carries no credentials: validation refuses
/// them.)
pub(crate) fn plain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
