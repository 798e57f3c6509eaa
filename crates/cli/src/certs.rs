//! `webqx-sec cert …` for pinning, mutual-TLS bindings and the certificate lifecycle:
//! `cert pin`, `cert pins set|get|delete`, `cert bind|bindings|unbind`,
//! `cert inventory`, `cert watch add|list|delete`.

use crate::Global;
use crate::commands::{connect, path_segment};
use crate::exit::Failure;
use crate::output::print_json;
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use webqx_pki::pin::{self, ChainPin, Pin};

/// The pinning, binding and lifecycle verbs of `webqx-sec cert`.
#[derive(Subcommand, Debug)]
pub enum TrustCommand {
    /// Print the SPKI SHA-256 pins (RFC 7469) of every certificate in a chain: a PEM
    /// chain or DER file, or a live server HOST:PORT (read without checking trust).
    Pin {
        /// A certificate file (PEM chain or DER) or HOST:PORT.
        source: String,
    },
    /// Pin sets stored per service.
    #[command(subcommand)]
    Pins(PinsCommand),
    /// Let client certificates with this name (CN, SAN DNS or SAN URI) authenticate
    /// with a token's policy (`--policy-of`) or an explicit one (`--operation`, `--key`).
    Bind {
        /// The certificate name, matched exactly.
        subject: String,
        /// Use the live policy of this token id.
        #[arg(long, value_name = "TOKEN_ID", conflicts_with = "operations")]
        policy_of: Option<String>,
        /// An allowed operation (repeat).
        #[arg(long = "operation", value_name = "OP")]
        operations: Vec<String>,
        /// A key name or `prefix*` pattern the operations apply to (repeat).
        #[arg(long = "key", value_name = "KEY")]
        keys: Vec<String>,
    },
    /// List the certificate bindings.
    Bindings,
    /// Delete a certificate binding (by id or subject).
    Unbind {
        /// Binding id or subject.
        id: String,
    },
    /// List every certificate known to the lifecycle watch, with days left.
    Inventory,
    /// Certificate files and TLS endpoints watched for expiry.
    #[command(subcommand)]
    Watch(WatchCommand),
}

/// `webqx-sec cert pins …`.
#[derive(Subcommand, Debug)]
pub enum PinsCommand {
    /// Set a service's pin set: two or more pins, at least one a backup pin not in the
    /// service's current chain (RFC 7469 §4.3).
    Set {
        /// Service name.
        service: String,
        /// The pins (`pin-sha256="…"`, `sha256/…` or bare base64). Its own argument id:
        /// the global `--pin` (which pins the connection to this server) is `pins`.
        #[arg(id = "set_pins", value_name = "PIN", required = true, num_args = 1..)]
        pins: Vec<String>,
        /// The service's current chain (file or HOST:PORT): the set must match it and
        /// hold a backup pin outside it.
        #[arg(long, value_name = "FILE|HOST:PORT")]
        chain: Option<String>,
    },
    /// Show a service's pin set.
    Get {
        /// Service name.
        service: String,
    },
    /// Delete a service's pin set.
    Delete {
        /// Service name.
        service: String,
    },
}

/// `webqx-sec cert watch …`.
#[derive(Subcommand, Debug)]
pub enum WatchCommand {
    /// Watch a PEM file on the server's host (`file`) or a TLS endpoint HOST:PORT.
    Add {
        /// `file` or `endpoint`.
        kind: String,
        /// The path or HOST:PORT.
        target: String,
    },
    /// List the watches.
    List,
    /// Stop watching (by id).
    Delete {
        /// Watch id.
        id: String,
    },
}

/// Reads a chain from a file, or from a live server when `source` is HOST:PORT and no
/// such file exists. Returns the pins and whether trust was left unchecked.
fn read_chain(source: &str) -> Result<(Vec<ChainPin>, bool), Failure> {
    let path = std::path::Path::new(source);
    if path.exists() {
        let bytes = webqx_pki::read_file_capped(path)
            .map_err(|e| Failure::local(format!("cannot read {source}: {e}")))?;
        let certs =
            pin::read_certs(&bytes).map_err(|e| Failure::local(format!("{source}: {e}")))?;
        let pins = pin::chain_pins(&certs).map_err(|e| Failure::local(format!("{source}: {e}")))?;
        return Ok((pins, false));
    }
    let (host, port) = source
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.trim_matches(['[', ']']), p.parse::<u16>().ok()?)))
        .ok_or_else(|| {
            Failure::usage(format!(
                "'{source}' is neither a readable file nor HOST:PORT"
            ))
        })?;
    let certs = pin::fetch_chain_unverified(host, port, Duration::from_secs(10))
        .map_err(|e| Failure::new(crate::exit::Exit::Connect, e.to_string()))?;
    let pins = pin::chain_pins(&certs).map_err(|e| Failure::local(format!("{source}: {e}")))?;
    Ok((pins, true))
}

fn print_pins(g: &Global, pins: &[ChainPin], unverified: bool, source: &str) {
    if unverified {
        eprintln!(
            "note: the chain of {source} was read WITHOUT checking trust, names or validity; \
             compare these pins with ones obtained over a channel you trust"
        );
    }
    if g.json {
        print_json(&json!({ "source": source, "trust_checked": false, "chain": pins }));
        return;
    }
    for p in pins {
        println!("# {} {}", p.index, p.subject);
        println!("{}", p.pin);
    }
}

fn parse_pins(texts: &[String]) -> Result<Vec<Pin>, Failure> {
    texts
        .iter()
        .map(|t| Pin::parse(t).map_err(|e| Failure::usage(format!("'{t}': {e}"))))
        .collect()
}

/// Runs the pinning, binding and lifecycle verbs.
///
/// # Errors
/// Local failures (unreadable files, unreachable endpoints) and server refusals.
pub async fn run(g: &Global, cmd: TrustCommand) -> Result<i32, Failure> {
    match cmd {
        TrustCommand::Pin { source } => {
            let (pins, unverified) = read_chain(&source)?;
            print_pins(g, &pins, unverified, &source);
        }
        TrustCommand::Pins(p) => pins(g, p).await?,
        TrustCommand::Bind {
            subject,
            policy_of,
            operations,
            keys,
        } => {
            let body = match policy_of {
                Some(token) => json!({ "subject": subject, "policy_of": token }),
                None if operations.is_empty() => {
                    return Err(Failure::usage(
                        "give --policy-of TOKEN_ID, or --operation (and --key) for an explicit policy",
                    ));
                }
                None => json!({ "subject": subject,
                    "policy": { "operations": operations, "keys": keys } }),
            };
            let out = connect(g)?
                .call(Method::POST, "/v1/pki/mtls/bindings", Some(&body))
                .await?;
            show(g, &out, |v| {
                format!(
                    "bound '{}' (binding {})",
                    v["subject"].as_str().unwrap_or(""),
                    v["id"].as_str().unwrap_or("")
                )
            });
        }
        TrustCommand::Bindings => {
            let out = connect(g)?
                .call(Method::GET, "/v1/pki/mtls/bindings", None)
                .await?;
            show(g, &out, bindings_table);
        }
        TrustCommand::Unbind { id } => {
            let path = format!("/v1/pki/mtls/bindings/{}", path_segment(&id));
            let out = connect(g)?.call(Method::DELETE, &path, None).await?;
            show(g, &out, |_| format!("binding '{id}' deleted"));
        }
        TrustCommand::Inventory => {
            let out = connect(g)?
                .call(Method::GET, "/v1/pki/inventory", None)
                .await?;
            show(g, &out, inventory_table);
        }
        TrustCommand::Watch(w) => watch(g, w).await?,
    }
    Ok(0)
}

fn show(g: &Global, out: &Value, human: impl Fn(&Value) -> String) {
    if g.json {
        print_json(out);
    } else {
        println!("{}", human(&crate::output::visible_value(out)));
    }
}

async fn pins(g: &Global, cmd: PinsCommand) -> Result<(), Failure> {
    let client = connect(g)?;
    match cmd {
        PinsCommand::Set {
            service,
            pins,
            chain,
        } => {
            let pins = parse_pins(&pins)?;
            let current = match chain {
                Some(source) => Some(read_chain(&source)?.0.into_iter().map(|c| c.pin).collect()),
                None => None::<Vec<Pin>>,
            };
            let body = json!({ "pins": pins, "current": current });
            let path = format!("/v1/pki/pins/{}", path_segment(&service));
            let out = client.call(Method::PUT, &path, Some(&body)).await?;
            show(g, &out, pins_text);
        }
        PinsCommand::Get { service } => {
            let path = format!("/v1/pki/pins/{}", path_segment(&service));
            let out = client.call(Method::GET, &path, None).await?;
            show(g, &out, pins_text);
        }
        PinsCommand::Delete { service } => {
            let path = format!("/v1/pki/pins/{}", path_segment(&service));
            let out = client.call(Method::DELETE, &path, None).await?;
            show(g, &out, |_| format!("pin set of '{service}' deleted"));
        }
    }
    Ok(())
}

async fn watch(g: &Global, cmd: WatchCommand) -> Result<(), Failure> {
    let client = connect(g)?;
    match cmd {
        WatchCommand::Add { kind, target } => {
            let body = json!({ "kind": kind, "target": target });
            let out = client
                .call(Method::POST, "/v1/pki/watch", Some(&body))
                .await?;
            show(g, &out, |v| {
                format!(
                    "watching {} {} (id {})",
                    kind,
                    target,
                    v["id"].as_str().unwrap_or("")
                )
            });
        }
        WatchCommand::List => {
            let out = client.call(Method::GET, "/v1/pki/watch", None).await?;
            show(g, &out, |v| {
                let rows = v["watches"].as_array().cloned().unwrap_or_default();
                rows.iter()
                    .map(|w| {
                        format!(
                            "{}  {:<8} {}  ({})",
                            w["id"].as_str().unwrap_or(""),
                            w["kind"].as_str().unwrap_or(""),
                            w["target"].as_str().unwrap_or(""),
                            w["origin"].as_str().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        WatchCommand::Delete { id } => {
            let path = format!("/v1/pki/watch/{}", path_segment(&id));
            let out = client.call(Method::DELETE, &path, None).await?;
            show(g, &out, |_| format!("watch '{id}' deleted"));
        }
    }
    Ok(())
}

fn pins_text(v: &Value) -> String {
    let mut lines = vec![format!("# {}", v["service"].as_str().unwrap_or(""))];
    for p in v["pins"].as_array().into_iter().flatten() {
        lines.push(p.as_str().unwrap_or("").to_owned());
    }
    lines.join("\n")
}

fn bindings_table(v: &Value) -> String {
    let rows = v["bindings"].as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        return "no certificate bindings".into();
    }
    rows.iter()
        .map(|b| {
            let to = match b["policy_of"].as_str() {
                Some(t) => format!("policy of token {t}"),
                None => format!("policy {}", b["policy"]),
            };
            format!(
                "{}  {}  -> {to}",
                b["id"].as_str().unwrap_or(""),
                b["subject"].as_str().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn inventory_table(v: &Value) -> String {
    let rows = v["certificates"].as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        return "no certificates in the inventory".into();
    }
    let mut out = vec![format!(
        "{:>9}  {:<20}  {:<24}  {}",
        "DAYS LEFT", "NOT AFTER", "SOURCE", "SUBJECT"
    )];
    for c in rows {
        out.push(format!(
            "{:>9}  {:<20}  {:<24}  {} (serial {})",
            c["days_left"],
            c["not_after"].as_str().unwrap_or(""),
            c["source"].as_str().unwrap_or(""),
            c["subject"].as_str().unwrap_or(""),
            c["serial"].as_str().unwrap_or("")
        ));
    }
    out.join("\n")
}
