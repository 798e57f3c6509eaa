//! The delivery engine: one task per sink, reading the trail from the sink's cursor.

use super::file::FileSink;
use super::hec::HecSink;
use super::syslog::SyslogSink;
use super::webhook::WebhookSink;
use super::{DeliveryError, OnFull, SinkConfig, SinkError, SinkKind, validate};
use crate::Format;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use webqx_audit::{AuditLog, Outcome, RequestContext, TrailQuery, TrailRecord, trail};
use webqx_store::{Row, Store, StoreError, now_ms, query};

/// How long a lease lasts without renewal.
const LEASE_MS: i64 = 15_000;
/// The holder renews its lease when less than this is left.
const RENEW_WHEN_LEFT_MS: i64 = 10_000;
/// How often a caught-up sink looks at the chain head.
const POLL: Duration = Duration::from_millis(200);
/// How often a node without the lease tries to take it.
const STANDBY_POLL: Duration = Duration::from_secs(1);
/// How often the spool bound is checked while waiting to retry.
const BOUND_CHECK: Duration = Duration::from_secs(1);
/// Time given to tasks beyond the grace period to release their lease and close.
const FINISH_MARGIN: Duration = Duration::from_secs(3);

/// What a sink is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SinkState {
    /// Sending records.
    Delivering,
    /// Caught up with the trail.
    #[default]
    Idle,
    /// The last attempt failed; waiting to try again (see `last_error`).
    Retrying,
    /// The spool reached `max_spool_records` (refusing state changes, or dropping).
    Full,
    /// Another node holds the lease and delivers (see `owner`).
    Standby,
    /// The delivery task has ended (after shutdown, or unexpectedly: see `last_error`).
    Stopped,
}

/// One sink's state, for the API, the dashboard and the CLI.
#[derive(Debug, Clone, Serialize)]
pub struct SinkStatus {
    /// The sink's name.
    pub name: String,
    /// `syslog`, `splunk_hec`, `webhook` or `file`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The rendering.
    pub format: Format,
    /// Every record up to this seq has been delivered.
    pub delivered_seq: i64,
    /// The newest record.
    pub head_seq: i64,
    /// Records waiting (the lag).
    pub spooled: i64,
    /// Age of the oldest waiting record, in seconds (0 when caught up).
    pub lag_seconds: f64,
    /// Records skipped by `on_full = "drop_oldest"`, ever.
    pub dropped: i64,
    /// What the sink is doing.
    pub state: SinkState,
    /// Why the last attempt failed (never holds a secret or a record).
    pub last_error: Option<String>,
    /// The node holding the lease, if any.
    pub owner: Option<String>,
}

/// The running sinks.
pub struct Sinks {
    store: Store,
    workers: Vec<Handle>,
    stop: watch::Sender<Option<Instant>>,
}

impl std::fmt::Debug for Sinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.workers.iter().map(|w| w.name.as_str()).collect();
        f.debug_struct("Sinks").field("sinks", &names).finish()
    }
}

struct Handle {
    name: String,
    kind: &'static str,
    format: Format,
    shared: Arc<Mutex<Shared>>,
    task: JoinHandle<()>,
}

/// What the task knows, for status when the database cannot be read.
#[derive(Debug, Clone, Default)]
struct Shared {
    state: SinkState,
    last_error: Option<String>,
    delivered: i64,
    head: i64,
    dropped: i64,
    owner: Option<String>,
}

impl Sinks {
    /// Validates the configuration, reads every secret, certificate and key (so that a
    /// misconfiguration stops start-up with a clear error), creates the cursor of each
    /// new sink, and starts one delivery task per sink.
    ///
    /// A new sink's cursor starts at 0, so it receives the whole trail; if the trail is
    /// longer than its `max_spool_records`, it starts that many records before the head.
    ///
    /// # Errors
    /// [`SinkError`] naming the sink and key at fault, or the database failure.
    pub async fn start(
        store: Store,
        audit: Arc<AuditLog>,
        configs: Vec<SinkConfig>,
        node_id: String,
    ) -> Result<Sinks, SinkError> {
        validate(&configs).map_err(SinkError::Config)?;
        let mut deliveries = Vec::with_capacity(configs.len());
        for config in &configs {
            deliveries.push(Delivery::new(config)?);
        }
        let (head, _) = trail::head(&store).await?;
        for config in &configs {
            let bound = i64::try_from(config.max_spool_records).unwrap_or(i64::MAX);
            create_cursor(&store, &config.name, head.saturating_sub(bound).max(0)).await?;
        }

        let (stop, stop_rx) = watch::channel(None);
        let mut workers = Vec::with_capacity(configs.len());
        for (config, delivery) in configs.into_iter().zip(deliveries) {
            let shared = Arc::new(Mutex::new(Shared::default()));
            let (initial, max) = config.retry().map_err(SinkError::Config)?;
            let handle = Handle {
                name: config.name.clone(),
                kind: config.kind.name(),
                format: config.format,
                shared: shared.clone(),
                task: tokio::spawn(Worker::run(Worker {
                    node: node_id.clone(),
                    store: store.clone(),
                    audit: audit.clone(),
                    delivery,
                    shared,
                    stop: stop_rx.clone(),
                    closed: false,
                    backoff: Backoff::new(initial, max),
                    lease_until: 0,
                    rewind: None,
                    full: false,
                    reported: None,
                    config,
                })),
            };
            workers.push(handle);
        }
        tracing::debug!(sinks = workers.len(), node = %node_id, "SIEM sinks started");
        Ok(Sinks {
            store,
            workers,
            stop,
        })
    }

    /// Each sink's cursor, lag, state and last error, read from the database (so that
    /// every node reports the same cursor), or from the task's memory if it cannot be.
    pub async fn status(&self) -> Vec<SinkStatus> {
        let head = trail::head(&self.store).await.ok().map(|(seq, _)| seq);
        let mut out = Vec::with_capacity(self.workers.len());
        for worker in &self.workers {
            let mut shared = worker.shared.lock().map(|s| s.clone()).unwrap_or_default();
            if worker.task.is_finished() {
                shared.state = SinkState::Stopped;
                shared.last_error.get_or_insert_with(|| {
                    "the delivery task stopped unexpectedly; see the service log".into()
                });
            }
            let cursor = read_cursor(&self.store, &worker.name).await.ok();
            let delivered = cursor.as_ref().map_or(shared.delivered, |c| c.delivered);
            let head = head.unwrap_or(shared.head).max(delivered);
            let spooled = head - delivered;
            let lag_seconds = if spooled > 0 {
                oldest_age(&self.store, delivered).await.unwrap_or(0.0)
            } else {
                0.0
            };
            out.push(SinkStatus {
                name: worker.name.clone(),
                kind: worker.kind,
                format: worker.format,
                delivered_seq: delivered,
                head_seq: head,
                spooled,
                lag_seconds,
                dropped: cursor.as_ref().map_or(shared.dropped, |c| c.dropped),
                state: shared.state,
                last_error: shared.last_error,
                owner: cursor.map_or(shared.owner, |c| c.owner),
            });
        }
        out
    }

    /// Delivers what is spooled within `grace`, then stops every task, releasing the
    /// leases (so another node takes over at once) and any refusal of state changes.
    pub async fn shutdown(self, grace: Duration) {
        let deadline = Instant::now() + grace;
        let _ = self.stop.send(Some(deadline));
        for worker in self.workers {
            let abort = worker.task.abort_handle();
            if tokio::time::timeout_at(deadline + FINISH_MARGIN, worker.task)
                .await
                .is_err()
            {
                tracing::debug!(sink = %worker.name, "sink task did not stop in time; aborted");
                abort.abort();
            }
        }
    }
}

/// The sink kinds behind one interface.
enum Delivery {
    Syslog(Box<SyslogSink>),
    Hec(Box<HecSink>),
    Webhook(Box<WebhookSink>),
    File(Box<FileSink>),
}

impl Delivery {
    fn new(config: &SinkConfig) -> Result<Delivery, SinkError> {
        Ok(match &config.kind {
            SinkKind::Syslog(s) => Delivery::Syslog(Box::new(SyslogSink::new(config, s)?)),
            SinkKind::SplunkHec(h) => Delivery::Hec(Box::new(HecSink::new(config, h)?)),
            SinkKind::Webhook(w) => Delivery::Webhook(Box::new(WebhookSink::new(config, w)?)),
            SinkKind::File(f) => Delivery::File(Box::new(FileSink::new(config, f)?)),
        })
    }

    async fn send(&mut self, batch: &[TrailRecord]) -> Result<(), DeliveryError> {
        match self {
            Delivery::Syslog(s) => s.send(batch).await,
            Delivery::Hec(h) => h.send(batch).await,
            Delivery::Webhook(w) => w.send(batch).await,
            Delivery::File(f) => f.send(batch).await,
        }
    }

    async fn close(&mut self) {
        if let Delivery::Syslog(s) = self {
            s.close().await;
        }
    }
}

enum Step {
    Sent,
    Idle,
    Standby,
}

struct Worker {
    config: SinkConfig,
    node: String,
    store: Store,
    audit: Arc<AuditLog>,
    delivery: Delivery,
    shared: Arc<Mutex<Shared>>,
    stop: watch::Receiver<Option<Instant>>,
    /// The `Sinks` was dropped without `shutdown`.
    closed: bool,
    backoff: Backoff,
    /// When our lease ends (ms), as we last wrote it; 0 when we do not hold it.
    lease_until: i64,
    /// Send again the records after this seq (already delivered once).
    rewind: Option<i64>,
    /// The spool is at its bound.
    full: bool,
    /// The configuration-type failure last logged at warn.
    reported: Option<String>,
}

impl Worker {
    async fn run(mut self) {
        loop {
            let stopping = *self.stop.borrow();
            if self.closed || stopping.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            let step = match stopping {
                Some(deadline) => match tokio::time::timeout_at(deadline, self.step()).await {
                    Ok(step) => step,
                    Err(_) => break,
                },
                None => self.step().await,
            };
            match step {
                Ok(Step::Sent) => {
                    self.backoff.reset();
                    self.reported = None;
                    self.set_state(SinkState::Delivering, None);
                }
                Ok(Step::Idle) => {
                    self.backoff.reset();
                    self.set_state(SinkState::Idle, None);
                    if stopping.is_some() {
                        break;
                    }
                    self.pause(POLL).await;
                }
                Ok(Step::Standby) => {
                    self.set_state(SinkState::Standby, None);
                    if stopping.is_some() {
                        break;
                    }
                    self.pause(STANDBY_POLL).await;
                }
                Err(e) => {
                    self.failed(&e);
                    let wait = self.backoff.next();
                    self.wait_retry(wait).await;
                }
            }
        }
        self.finish().await;
    }

    /// One round: lease, cursor, spool bound, then at most one batch.
    async fn step(&mut self) -> Result<Step, DeliveryError> {
        let now = now_ms();
        self.renew_lease(now).await?;
        let cursor = read_cursor(&self.store, &self.config.name)
            .await
            .map_err(db_err)?;
        let (head, _) = trail::head(&self.store).await.map_err(audit_err)?;
        let owned = self.lease_until > now;
        let delivered = self.enforce_bound(cursor.delivered, head, owned).await?;
        self.observe(delivered, head, &cursor);
        if !owned {
            self.lag_gauge(oldest_age(&self.store, delivered).await.unwrap_or(0.0));
            return Ok(Step::Standby);
        }

        self.check_delivery().await;
        let from = match self.rewind {
            Some(r) if r < delivered => r,
            _ => {
                self.rewind = None;
                delivered
            }
        };
        if from >= head {
            self.lag_gauge(0.0);
            return Ok(Step::Idle);
        }
        let query = TrailQuery {
            after_seq: from,
            limit: i64::from(self.config.batch_size),
            ..TrailQuery::default()
        };
        let batch = trail::read(&self.store, &query).await.map_err(audit_err)?;
        let Some(last) = batch.last().map(|r| r.entry.seq) else {
            return Ok(Step::Idle);
        };
        if let Some(oldest) = batch.iter().find(|r| r.entry.seq > delivered) {
            let age = super::record_time_ms(oldest).map_or(0, |t| (now_ms() - t).max(0));
            self.lag_gauge(age as f64 / 1000.0);
        }

        self.delivery.send(&batch).await?;
        let new = batch.iter().filter(|r| r.entry.seq > delivered).count();
        if last > delivered {
            self.advance(delivered, last, new).await?;
        }
        self.rewind = (last < delivered).then_some(last);
        Ok(Step::Sent)
    }

    /// Takes the lease if it is free or expired, or renews ours when it runs low.
    async fn renew_lease(&mut self, now: i64) -> Result<(), DeliveryError> {
        if self.lease_until - now >= RENEW_WHEN_LEFT_MS {
            return Ok(());
        }
        let until = now + LEASE_MS;
        let done = query(
            "UPDATE audit_sinks SET owner = $1, lease_ms = $2 \
             WHERE name = $3 AND (owner IS NULL OR owner = $4 OR lease_ms < $5)",
        )
        .bind(&self.node)
        .bind(until)
        .bind(&self.config.name)
        .bind(&self.node)
        .bind(now)
        .execute(self.store.pool())
        .await
        .map_err(|e| db_err(StoreError::from_sqlx(e)))?;
        let was_owner = self.lease_until > now;
        self.lease_until = if done.rows_affected() == 1 { until } else { 0 };
        if was_owner != (self.lease_until > now) {
            tracing::debug!(sink = %self.config.name, node = %self.node,
                owner = self.lease_until > now, "sink lease changed hands");
        }
        Ok(())
    }

    /// Moves the cursor from `from` to `to`, only if we still hold the lease and nobody
    /// moved it meanwhile.
    async fn advance(&mut self, from: i64, to: i64, new: usize) -> Result<(), DeliveryError> {
        let done = query(
            "UPDATE audit_sinks SET delivered_seq = $1, updated_ms = $2 \
             WHERE name = $3 AND owner = $4 AND delivered_seq = $5",
        )
        .bind(to)
        .bind(now_ms())
        .bind(&self.config.name)
        .bind(&self.node)
        .bind(from)
        .execute(self.store.pool())
        .await
        .map_err(|e| db_err(StoreError::from_sqlx(e)))?;
        if done.rows_affected() == 1 {
            metrics::counter!("webqx_siem_delivered_total", "sink" => self.config.name.clone())
                .increment(new as u64);
        } else {
            tracing::debug!(sink = %self.config.name, "lease lost during delivery; cursor left");
            self.lease_until = 0;
        }
        Ok(())
    }

    /// Applies the spool bound; returns the cursor afterwards.
    async fn enforce_bound(
        &mut self,
        delivered: i64,
        head: i64,
        owned: bool,
    ) -> Result<i64, DeliveryError> {
        let bound = i64::try_from(self.config.max_spool_records).unwrap_or(i64::MAX);
        let lag = (head - delivered).max(0);
        let full = lag >= bound;
        metrics::gauge!("webqx_siem_spool_full", "sink" => self.config.name.clone()).set(if full {
            1.0
        } else {
            0.0
        });
        let name = self.config.name.clone();
        match self.config.on_full {
            OnFull::Refuse if full != self.full => {
                let message = full.then(|| refusal_message(&name, bound));
                if full {
                    tracing::warn!(sink = %name, lag, bound, "SIEM spool full: refusing state changes");
                } else {
                    tracing::info!(sink = %name, lag, "SIEM spool below its bound again");
                }
                self.audit.set_refusal(&name, message);
            }
            OnFull::DropOldest if lag > bound && owned => {
                // Down to 90% of the bound: drops come in chunks, and the audit record
                // of a drop cannot itself push the lag over the bound again.
                let keep = bound - (bound / 10).max(1);
                self.full = full;
                return self.drop_oldest(delivered, head - keep).await;
            }
            _ => {}
        }
        self.full = full;
        Ok(delivered)
    }

    async fn drop_oldest(&mut self, from: i64, to: i64) -> Result<i64, DeliveryError> {
        let count = to - from;
        let done = query(
            "UPDATE audit_sinks SET delivered_seq = $1, dropped = dropped + $2, updated_ms = $3 \
             WHERE name = $4 AND owner = $5 AND delivered_seq = $6",
        )
        .bind(to)
        .bind(count)
        .bind(now_ms())
        .bind(&self.config.name)
        .bind(&self.node)
        .bind(from)
        .execute(self.store.pool())
        .await
        .map_err(|e| db_err(StoreError::from_sqlx(e)))?;
        if done.rows_affected() != 1 {
            self.lease_until = 0;
            return Ok(from);
        }
        self.rewind = None;
        let name = &self.config.name;
        metrics::counter!("webqx_siem_dropped_total", "sink" => name.clone())
            .increment(count as u64);
        tracing::warn!(sink = %name, count, from_seq = from + 1, to_seq = to,
            "SIEM spool full: oldest undelivered records dropped for this sink");
        let mut rec =
            RequestContext::internal("system").record("siem.sink.dropped", Some(target(name)));
        rec.detail("count", count)
            .detail("from_seq", from + 1)
            .detail("to_seq", to)
            .fail(Outcome::Failure, "spool_full");
        if let Err(e) = self.audit.record(rec).await {
            tracing::error!(sink = %name, error = %e, "could not audit dropped SIEM records");
        }
        Ok(to)
    }

    /// Lets the delivery notice a lost connection or file, and rewinds accordingly.
    async fn check_delivery(&mut self) {
        let after = match &mut self.delivery {
            Delivery::Syslog(s) => s.check().await,
            Delivery::File(f) => {
                let replaced = f.check();
                if let Some(replaced) = &replaced {
                    self.file_replaced(replaced.rewind_after).await;
                }
                replaced.and_then(|r| r.rewind_after)
            }
            Delivery::Hec(_) | Delivery::Webhook(_) => None,
        };
        if let Some(after) = after {
            self.rewind = Some(self.rewind.map_or(after, |r| r.min(after)));
        }
    }

    async fn file_replaced(&self, rewind_after: Option<i64>) {
        let name = &self.config.name;
        let Delivery::File(f) = &self.delivery else {
            return;
        };
        let path = f.path().display().to_string();
        tracing::warn!(sink = %name, %path,
            "SIEM output file was deleted or replaced; writing its records again");
        metrics::counter!("webqx_siem_file_replaced_total", "sink" => name.clone()).increment(1);
        let mut rec = RequestContext::internal("system")
            .record("siem.sink.file_replaced", Some(target(name)));
        rec.detail("path", path)
            .fail(Outcome::Failure, "file_replaced");
        if let Some(after) = rewind_after {
            rec.detail("rewritten_from_seq", after + 1);
        }
        if let Err(e) = self.audit.record(rec).await {
            tracing::error!(sink = %name, error = %e, "could not audit the replaced file");
        }
    }

    fn failed(&mut self, e: &DeliveryError) {
        let name = &self.config.name;
        metrics::counter!("webqx_siem_failed_total", "sink" => name.clone()).increment(1);
        if e.config && self.reported.as_deref() != Some(e.message.as_str()) {
            tracing::warn!(sink = %name, error = %e.message,
                "SIEM receiver refuses delivery; retrying until its configuration is fixed");
            self.reported = Some(e.message.clone());
        } else {
            tracing::debug!(sink = %name, error = %e.message, "SIEM delivery failed; will retry");
        }
        self.set_state(SinkState::Retrying, Some(e.message.clone()));
    }

    fn set_state(&self, state: SinkState, error: Option<String>) {
        if let Ok(mut shared) = self.shared.lock() {
            shared.state = if self.full && state != SinkState::Standby {
                SinkState::Full
            } else {
                state
            };
            if error.is_some() || state != SinkState::Retrying {
                shared.last_error = error;
            }
        }
    }

    fn observe(&self, delivered: i64, head: i64, cursor: &Cursor) {
        let spooled = (head - delivered).max(0);
        metrics::gauge!("webqx_siem_spooled_records", "sink" => self.config.name.clone())
            .set(spooled as f64);
        if let Ok(mut shared) = self.shared.lock() {
            shared.delivered = delivered;
            shared.head = head;
            shared.dropped = cursor.dropped;
            shared.owner = cursor.owner.clone();
        }
    }

    fn lag_gauge(&self, seconds: f64) {
        metrics::gauge!("webqx_siem_lag_seconds", "sink" => self.config.name.clone()).set(seconds);
    }

    /// Waits before a retry, keeping the spool bound current meanwhile: with
    /// `on_full = "refuse"`, state changes are refused within about a second of the
    /// lag reaching the bound, however long the backoff.
    async fn wait_retry(&mut self, wait: Duration) {
        let until = Instant::now() + wait;
        loop {
            let now = Instant::now();
            let deadline = *self.stop.borrow();
            if now >= until || self.closed || deadline.is_some_and(|d| now >= d) {
                return;
            }
            let left = until - now;
            self.pause(left.min(BOUND_CHECK)).await;
            if self.config.on_full == OnFull::Refuse
                && let (Ok(cursor), Ok((head, _))) = (
                    read_cursor(&self.store, &self.config.name).await,
                    trail::head(&self.store).await,
                )
            {
                let _ = self.enforce_bound(cursor.delivered, head, false).await;
                self.observe(cursor.delivered, head, &cursor);
                self.set_state(SinkState::Retrying, None);
            }
        }
    }

    /// Waits `wait`, or less if shutdown starts or its deadline comes.
    async fn pause(&mut self, wait: Duration) {
        let mut until = Instant::now() + wait;
        if let Some(deadline) = *self.stop.borrow() {
            until = until.min(deadline);
        }
        tokio::select! {
            () = tokio::time::sleep_until(until) => {}
            changed = self.stop.changed() => {
                if changed.is_err() {
                    self.closed = true;
                }
            }
        }
    }

    async fn finish(&mut self) {
        self.audit.set_refusal(&self.config.name, None);
        metrics::gauge!("webqx_siem_spool_full", "sink" => self.config.name.clone()).set(0.0);
        self.delivery.close().await;
        let released = query(
            "UPDATE audit_sinks SET owner = NULL, lease_ms = 0 WHERE name = $1 AND owner = $2",
        )
        .bind(&self.config.name)
        .bind(&self.node)
        .execute(self.store.pool())
        .await;
        if let Err(e) = released {
            tracing::debug!(sink = %self.config.name, error = %e, "lease not released; it expires");
        }
    }
}

fn refusal_message(name: &str, bound: i64) -> String {
    format!(
        "state changes are refused: the SIEM sink '{name}' has {bound} or more undelivered \
         audit records (its max_spool_records). They are safe in the audit trail; restore \
         the connection to the SIEM (see the sink's last_error in the status), or raise \
         max_spool_records, or set on_full = \"drop_oldest\""
    )
}

fn target(name: &str) -> String {
    format!("sink:{name}")
}

fn db_err(e: StoreError) -> DeliveryError {
    DeliveryError::retry(format!("database: {e}"))
}

fn audit_err(e: webqx_audit::AuditError) -> DeliveryError {
    DeliveryError::retry(format!("reading the trail: {e}"))
}

#[derive(Debug, Clone)]
struct Cursor {
    delivered: i64,
    owner: Option<String>,
    dropped: i64,
}

async fn create_cursor(store: &Store, name: &str, start: i64) -> Result<(), SinkError> {
    query(
        "INSERT INTO audit_sinks (name, delivered_seq, owner, lease_ms, dropped, updated_ms) \
         VALUES ($1, $2, NULL, 0, 0, $3) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(start)
    .bind(now_ms())
    .execute(store.pool())
    .await
    .map_err(StoreError::from_sqlx)?;
    Ok(())
}

async fn read_cursor(store: &Store, name: &str) -> Result<Cursor, StoreError> {
    let row = query("SELECT delivered_seq, owner, dropped FROM audit_sinks WHERE name = $1")
        .bind(name)
        .fetch_one(store.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
    Ok(Cursor {
        delivered: row.try_get(0).map_err(StoreError::from_sqlx)?,
        owner: row.try_get(1).map_err(StoreError::from_sqlx)?,
        dropped: row.try_get(2).map_err(StoreError::from_sqlx)?,
    })
}

/// Age in seconds of the first record after `delivered`.
async fn oldest_age(store: &Store, delivered: i64) -> Option<f64> {
    let query = TrailQuery {
        after_seq: delivered,
        limit: 1,
        ..TrailQuery::default()
    };
    let first = trail::read(store, &query).await.ok()?.into_iter().next()?;
    let time = super::record_time_ms(&first)?;
    Some((now_ms() - time).max(0) as f64 / 1000.0)
}

/// Exponential backoff with jitter: each wait is drawn from the upper half of a window
/// that doubles from `initial` up to `max`.
struct Backoff {
    initial: Duration,
    max: Duration,
    window: Duration,
}

impl Backoff {
    fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max,
            window: initial,
        }
    }

    fn reset(&mut self) {
        self.window = self.initial;
    }

    fn next(&mut self) -> Duration {
        let window = self.window;
        self.window = (self.window * 2).min(self.max);
        let half = window / 2;
        let random = webqx_crypto::rand::bytes(8)
            .ok()
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_le_bytes);
        let span = u64::try_from(half.as_millis()).unwrap_or(u64::MAX).max(1);
        half + Duration::from_millis(random % span)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_bounds_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(8));
        let waits: Vec<Duration> = (0..6).map(|_| b.next()).collect();
        for (i, w) in waits.iter().enumerate() {
            let window = Duration::from_secs(1 << i.min(3));
            assert!(*w >= window / 2 && *w <= window, "{i}: {w:?}");
        }
        b.reset();
        assert!(b.next() <= Duration::from_secs(1));
    }
}
