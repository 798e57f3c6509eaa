//! `webqx-sec alerts …`: working the alerts of security monitoring from the command
//! line (`events send` is in `events.rs`).
//!
//! Exit codes: 0 ok; 4 with the server's message for a refused request (a cursor that
//! is not a `next` value, a `--after` the stream never sent); `alerts watch` runs until
//! interrupted or the server ends the stream (exit 5 then).

use crate::Global;
use crate::commands::{connect, path_segment};
use crate::exit::{Exit, Failure};
use crate::output::{print_json, visible};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

/// Alerts raised by security monitoring.
#[derive(Subcommand, Debug)]
pub enum AlertsCommand {
    /// List alerts, oldest first (filters combine).
    List {
        /// open, acknowledged or closed.
        #[arg(long)]
        status: Option<String>,
        /// At least this severity: informational, low, medium, high, critical.
        #[arg(long)]
        severity: Option<String>,
        /// Only this rule id.
        #[arg(long)]
        rule: Option<String>,
        /// Last seen at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// The cursor a previous page printed.
        #[arg(long)]
        cursor: Option<String>,
        /// Most alerts (1 to 1000).
        #[arg(long, default_value_t = 100,
              value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
    },
    /// Show one alert with its triggering events.
    Show {
        /// Alert id.
        id: String,
    },
    /// Acknowledge an alert (someone is on it).
    Ack {
        /// Alert id.
        id: String,
        /// Note kept on the alert.
        #[arg(long)]
        note: Option<String>,
    },
    /// Close an alert.
    Close {
        /// Alert id.
        id: String,
        /// Note kept on the alert (what was found, what was done).
        #[arg(long)]
        note: Option<String>,
    },
    /// Follow new and updated alerts live (server-sent events) until interrupted.
    Watch {
        /// Resume after this change number (the `id` of the last event seen).
        #[arg(long)]
        after: Option<u64>,
    },
    /// The rules alerts can come from (id, kind, level, title): the loaded Sigma
    /// rules and the components' alerts.
    Rules,
    /// Suppressions of known false positives.
    #[command(subcommand)]
    Suppress(SuppressCommand),
}

/// `alerts suppress …`.
#[derive(Subcommand, Debug)]
pub enum SuppressCommand {
    /// Suppress a rule (or `*`) for one value of one event field.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["rule", "alert"])))]
    Add {
        /// The rule: its id, Sigma name, title or rule file name (`alerts rules` lists
        /// them), or `*` for every rule.
        #[arg(long)]
        rule: Option<String>,
        /// Take the rule from this alert (and, without --value, the field's value from
        /// its triggering events).
        #[arg(long)]
        alert: Option<String>,
        /// Event field, dotted (source.ip, user.name).
        #[arg(long)]
        field: String,
        /// The value to suppress (required with --rule).
        #[arg(long)]
        value: Option<String>,
        /// Why (required).
        #[arg(long)]
        reason: String,
        /// When it ends: an RFC 3339 time or a duration from now such as 30d or 12h
        /// (required; at most a year ahead).
        #[arg(long)]
        expires: String,
    },
    /// List suppressions in force.
    List,
    /// Remove a suppression.
    Remove {
        /// Suppression id.
        id: String,
    },
}

fn query_string(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", path_segment(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

fn print_alert_row(a: &Value) {
    println!(
        "{:<36}  {:<13}  {:<8}  {:>5}  {:<24}  {}",
        a["id"].as_str().unwrap_or_default(),
        a["status"].as_str().unwrap_or_default(),
        a["severity"].as_str().unwrap_or_default(),
        a["count"],
        visible(a["last_seen"].as_str().unwrap_or_default()),
        visible(&format!(
            "{} [{}] {}",
            a["rule_id"].as_str().unwrap_or_default(),
            a["group_key"].as_str().unwrap_or_default(),
            a["title"].as_str().unwrap_or_default()
        )),
    );
}

fn print_alert(a: &Value) {
    for key in [
        "id",
        "rule_id",
        "title",
        "severity",
        "status",
        "group_key",
        "count",
        "first_seen",
        "last_seen",
        "tags",
        "note",
        "acked_by",
        "acked_at",
        "closed_by",
        "closed_at",
    ] {
        let v = &a[key];
        if v.is_null() {
            continue;
        }
        let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
        println!("{key:<11} {}", visible(&text));
    }
    for (i, e) in a["events"].as_array().into_iter().flatten().enumerate() {
        println!("event {i:<5} {}", visible(&e.to_string()));
    }
}

/// Runs an `alerts` command.
pub async fn alerts(g: &Global, cmd: AlertsCommand) -> Result<i32, Failure> {
    let client = connect(g)?;
    match cmd {
        AlertsCommand::List {
            status,
            severity,
            rule,
            since,
            cursor,
            limit,
        } => {
            let q = query_string(&[
                ("status", status),
                ("severity", severity),
                ("rule", rule),
                ("since", since),
                ("cursor", cursor),
                ("limit", Some(limit.to_string())),
            ]);
            let v = client
                .call(Method::GET, &format!("/v1/alerts{q}"), None)
                .await?;
            if g.json {
                print_json(&v);
            } else {
                println!(
                    "{:<36}  {:<13}  {:<8}  {:>5}  {:<24}  RULE [GROUP] TITLE",
                    "ID", "STATUS", "SEVERITY", "COUNT", "LAST SEEN"
                );
                for a in v["alerts"].as_array().into_iter().flatten() {
                    print_alert_row(a);
                }
                if let Some(next) = v["next"].as_str() {
                    println!("more: --cursor {next}");
                }
            }
        }
        AlertsCommand::Show { id } => {
            let v = client
                .call(
                    Method::GET,
                    &format!("/v1/alerts/{}", path_segment(&id)),
                    None,
                )
                .await?;
            if g.json {
                print_json(&v)
            } else {
                print_alert(&v)
            }
        }
        AlertsCommand::Ack { id, note } => transition(g, &client, &id, "ack", note).await?,
        AlertsCommand::Close { id, note } => transition(g, &client, &id, "close", note).await?,
        AlertsCommand::Watch { after } => return watch(g, &client, after).await,
        AlertsCommand::Rules => {
            let v = client.call(Method::GET, "/v1/alerts/rules", None).await?;
            if g.json {
                print_json(&v);
            } else {
                print_rules(&v);
            }
        }
        AlertsCommand::Suppress(s) => suppress(g, &client, s).await?,
    }
    Ok(0)
}

fn print_rules(v: &Value) {
    println!(
        "{:<36}  {:<11}  {:<13}  {:<6}  TITLE",
        "ID", "KIND", "LEVEL", "ALERTS"
    );
    for r in v["rules"].as_array().into_iter().flatten() {
        let text = |k: &str| visible(r[k].as_str().unwrap_or_default());
        println!(
            "{:<36}  {:<11}  {:<13}  {:<6}  {}",
            text("id"),
            text("kind"),
            text("level"),
            if r["alerts"] == true { "yes" } else { "no" },
            text("title"),
        );
    }
}

/// `--expires`: an RFC 3339 time as given, or a duration from now.
fn expiry(text: &str) -> Result<String, Failure> {
    if chrono::DateTime::parse_from_rfc3339(text).is_ok() {
        return Ok(text.to_owned());
    }
    let d = webqx_store::time::parse_duration(text).map_err(|_| {
        Failure::usage(format!(
            "--expires '{}' is neither an RFC 3339 time (2027-01-31T00:00:00Z) nor a \
             duration from now (30d, 12h)",
            visible(text)
        ))
    })?;
    let ms = i64::try_from(d.as_millis())
        .ok()
        .and_then(|d| webqx_store::now_ms().checked_add(d))
        .ok_or_else(|| Failure::usage("--expires is too far ahead; at most a year"))?;
    Ok(webqx_store::time::rfc3339(ms))
}

/// The text of dotted `field` in the first of `events` that has it.
fn field_in_events(events: &Value, field: &str) -> Option<String> {
    events.as_array()?.iter().find_map(|e| {
        let v = e
            .get(field)
            .or_else(|| field.split('.').try_fold(e, |v, part| v.get(part)))?;
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
            _ => None,
        }
    })
}

async fn transition(
    g: &Global,
    client: &crate::client::Client,
    id: &str,
    verb: &str,
    note: Option<String>,
) -> Result<(), Failure> {
    let body = json!({ "note": note });
    let path = format!("/v1/alerts/{}/{verb}", path_segment(id));
    let v = client.call(Method::POST, &path, Some(&body)).await?;
    if g.json {
        print_json(&v);
    } else {
        print_alert_row(&v);
    }
    Ok(())
}

async fn suppress(
    g: &Global,
    client: &crate::client::Client,
    cmd: SuppressCommand,
) -> Result<(), Failure> {
    match cmd {
        SuppressCommand::Add {
            rule,
            alert,
            field,
            value,
            reason,
            expires,
        } => {
            let expires = expiry(&expires)?;
            let (rule, value) = match (rule, alert) {
                (Some(rule), _) => {
                    let value = value.ok_or_else(|| {
                        Failure::usage("--value is required with --rule (or give --alert ID)")
                    })?;
                    (rule, value)
                }
                (None, Some(id)) => {
                    let path = format!("/v1/alerts/{}", path_segment(&id));
                    let a = client.call(Method::GET, &path, None).await?;
                    let rule = a["rule_id"].as_str().unwrap_or_default().to_owned();
                    let value = match value {
                        Some(v) => v,
                        None => field_in_events(&a["events"], &field).ok_or_else(|| {
                            Failure::usage(format!(
                                "alert {}'s triggering events have no {}; give --value",
                                visible(&id),
                                visible(&field)
                            ))
                        })?,
                    };
                    (rule, value)
                }
                (None, None) => return Err(Failure::usage("give --rule or --alert")),
            };
            let body = json!({"rule_id": rule, "field": field, "value": value,
                              "reason": reason, "expires_at": expires});
            let v = client
                .call(Method::POST, "/v1/alerts/suppressions", Some(&body))
                .await?;
            if g.json {
                print_json(&v);
            } else {
                println!("{}", v["id"].as_str().unwrap_or_default());
                eprintln!(
                    "suppressed {} for {}={} until {}",
                    visible(
                        v["rule_title"]
                            .as_str()
                            .or(v["rule_id"].as_str())
                            .unwrap_or("*")
                    ),
                    visible(v["field"].as_str().unwrap_or_default()),
                    visible(v["value"].as_str().unwrap_or_default()),
                    v["expires_at"].as_str().unwrap_or_default()
                );
            }
        }
        SuppressCommand::List => {
            let v = client
                .call(Method::GET, "/v1/alerts/suppressions", None)
                .await?;
            if g.json {
                print_json(&v);
            } else {
                println!(
                    "{:<36}  {:<24}  {:<20}  {:<24}  REASON",
                    "ID", "RULE", "FIELD=VALUE", "EXPIRES"
                );
                for s in v["suppressions"].as_array().into_iter().flatten() {
                    println!(
                        "{:<36}  {:<24}  {:<20}  {:<24}  {}",
                        s["id"].as_str().unwrap_or_default(),
                        visible(s["rule_id"].as_str().unwrap_or_default()),
                        visible(&format!(
                            "{}={}",
                            s["field"].as_str().unwrap_or_default(),
                            s["value"].as_str().unwrap_or_default()
                        )),
                        s["expires_at"].as_str().unwrap_or_default(),
                        visible(s["reason"].as_str().unwrap_or_default()),
                    );
                }
            }
        }
        SuppressCommand::Remove { id } => {
            let path = format!("/v1/alerts/suppressions/{}", path_segment(&id));
            let v = client.call(Method::DELETE, &path, None).await?;
            if g.json {
                print_json(&v);
            }
        }
    }
    Ok(())
}

/// One server-sent event being assembled.
#[derive(Default)]
struct SseEvent {
    id: Option<String>,
    kind: Option<String>,
    data: String,
}

/// Follows the stream; each event is a line (table) or the alert JSON (one line).
async fn watch(
    g: &Global,
    client: &crate::client::Client,
    after: Option<u64>,
) -> Result<i32, Failure> {
    let after = after.map(|a| a.to_string());
    let mut response = client
        .open_stream("/v1/alerts/stream", after.as_deref())
        .await?;
    let mut buf: Vec<u8> = Vec::new();
    let mut current = SseEvent::default();
    loop {
        let chunk = response
            .chunk()
            .await
            .map_err(|e| Failure::new(Exit::Connect, format!("the alert stream broke: {e}")))?;
        let Some(chunk) = chunk else {
            return Err(Failure::new(
                Exit::Server,
                "the server ended the alert stream",
            ));
        };
        buf.extend_from_slice(&chunk);
        if buf.len() > 16 * 1024 * 1024 {
            return Err(Failure::new(
                Exit::Server,
                "the alert stream sent an over-long line",
            ));
        }
        while let Some(i) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=i).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                emit(g, std::mem::take(&mut current));
            } else if let Some(v) = line.strip_prefix("data:") {
                if !current.data.is_empty() {
                    current.data.push('\n');
                }
                current.data.push_str(v.trim_start());
            } else if let Some(v) = line.strip_prefix("id:") {
                current.id = Some(v.trim().to_owned());
            } else if let Some(v) = line.strip_prefix("event:") {
                current.kind = Some(v.trim().to_owned());
            }
        }
    }
}

fn emit(g: &Global, e: SseEvent) {
    if e.data.is_empty() {
        return;
    }
    let alert: Value = serde_json::from_str(&e.data).unwrap_or(Value::Null);
    if g.json {
        let line = json!({"id": e.id, "event": e.kind, "alert": alert});
        println!("{line}");
    } else {
        print!("{:<14} ", e.kind.as_deref().unwrap_or("alert"));
        print_alert_row(&alert);
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
}
