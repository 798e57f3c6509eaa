//! `webqx-sec oauth …`: OAuth clients of the authorization server (operation
//! `oauth-admin`), a convenience client for the token endpoint, and token checks
//! (operation `oauth-introspect`).

use crate::Global;
use crate::client::{self, Client};
use crate::exit::{Exit, Failure};
use crate::output::{print_json, visible};
use clap::{Args, Subcommand, ValueEnum};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// `webqx-sec oauth …`.
#[derive(Subcommand, Debug)]
pub enum OauthCommand {
    /// OAuth clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Get an access token as a secret client (client credentials grant) and print it.
    Token(TokenArgs),
    /// Check an access token (active or not, and its claims); exit 1 when inactive.
    Verify {
        /// The token (`-` reads it from standard input). (Not named `token`: that is
        /// the global API token flag's id.)
        #[arg(value_name = "TOKEN")]
        access_token: String,
        /// The audience the token must name.
        #[arg(long)]
        audience: Option<String>,
    },
}

/// `webqx-sec oauth client …`.
#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Register a client; a secret client's secret is printed once.
    Create(CreateArgs),
    /// List clients.
    List,
    /// Show one client.
    Show {
        /// Client id.
        id: String,
    },
    /// Disable a client: it gets no more tokens.
    Disable {
        /// Client id.
        id: String,
    },
    /// Enable a client again.
    Enable {
        /// Client id.
        id: String,
    },
    /// Delete a client.
    Delete {
        /// Client id.
        id: String,
    },
}

/// How the client authenticates.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Auth {
    /// A secret (client_secret_basic or client_secret_post).
    Secret,
    /// A JWT signed with the client's key (RFC 7523, SMART Backend Services).
    PrivateKeyJwt,
}

/// `webqx-sec oauth client create`.
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// A name for people.
    #[arg(long)]
    name: String,
    /// An allowed scope (repeat): `system/Patient.rs`, `webqx:keys/phi-*:encrypt`, …
    #[arg(long = "scope", required = true)]
    scopes: Vec<String>,
    /// The audience of its tokens (`webqx-sec` for our API, or the FHIR server's URL).
    #[arg(long)]
    audience: String,
    /// Authentication method.
    #[arg(long, value_enum, default_value = "secret")]
    auth: Auth,
    /// For private-key-jwt: a file with the client's public JWKS.
    #[arg(long, value_name = "FILE")]
    jwks: Option<PathBuf>,
    /// For private-key-jwt: the URL of the client's JWKS (https).
    #[arg(long, value_name = "URL")]
    jwks_uri: Option<String>,
    /// Allow an http:// jwks_uri (laboratories only).
    #[arg(long)]
    insecure_http: bool,
    /// Token lifetime (`5m`; default the server's).
    #[arg(long)]
    ttl: Option<String>,
}

/// `webqx-sec oauth token`.
#[derive(Args, Debug)]
pub struct TokenArgs {
    /// Client id.
    #[arg(long)]
    client_id: String,
    /// File holding the client secret.
    #[arg(long, value_name = "FILE")]
    secret_file: PathBuf,
    /// Scopes to ask for (repeat; default: all the client may have).
    #[arg(long = "scope")]
    scopes: Vec<String>,
}

fn connect(g: &Global) -> Result<Client, Failure> {
    let target = client::target(
        g.addr.as_deref(),
        g.token.as_deref(),
        g.ca_cert.as_deref(),
        &crate::commands::data_dir(g),
    )?
    .with_pins(&g.pins)?;
    Client::new(target)
}

/// Runs an `oauth` command; the exit code (1 for an inactive token).
///
/// # Errors
/// A failure with its exit code.
pub async fn run(g: &Global, cmd: OauthCommand) -> Result<i32, Failure> {
    let client = connect(g)?;
    match cmd {
        OauthCommand::Client(c) => clients(g, &client, c).await.map(|()| 0),
        OauthCommand::Token(a) => token(g, &client, &a).await.map(|()| 0),
        OauthCommand::Verify {
            access_token,
            audience,
        } => verify(g, &client, &access_token, audience).await,
    }
}

async fn clients(g: &Global, client: &Client, cmd: ClientCommand) -> Result<(), Failure> {
    let (method, path, body) = match cmd {
        ClientCommand::Create(a) => (
            Method::POST,
            "/v1/oauth/clients".to_owned(),
            Some(create_body(&a)?),
        ),
        ClientCommand::List => (Method::GET, "/v1/oauth/clients".to_owned(), None),
        ClientCommand::Show { id } => (
            Method::GET,
            format!("/v1/oauth/clients/{}", segment(&id)),
            None,
        ),
        ClientCommand::Disable { id } => (
            Method::POST,
            format!("/v1/oauth/clients/{}/disable", segment(&id)),
            Some(json!({})),
        ),
        ClientCommand::Enable { id } => (
            Method::POST,
            format!("/v1/oauth/clients/{}/enable", segment(&id)),
            Some(json!({})),
        ),
        ClientCommand::Delete { id } => (
            Method::DELETE,
            format!("/v1/oauth/clients/{}", segment(&id)),
            None,
        ),
    };
    let answer = client.call(method, &path, body.as_ref()).await?;
    if g.json {
        print_json(&answer);
    } else {
        print_human(&answer);
    }
    Ok(())
}

/// A client id as one path segment (ids are hex; anything else is escaped).
fn segment(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn create_body(a: &CreateArgs) -> Result<Value, Failure> {
    let method = match a.auth {
        Auth::Secret => "client_secret_basic",
        Auth::PrivateKeyJwt => "private_key_jwt",
    };
    let jwks = match &a.jwks {
        Some(path) => Some(read_json(path)?),
        None => None,
    };
    if matches!(a.auth, Auth::PrivateKeyJwt) && jwks.is_none() == a.jwks_uri.is_none() {
        return Err(Failure::usage(
            "--auth private-key-jwt needs exactly one of --jwks FILE and --jwks-uri URL",
        ));
    }
    let mut body = json!({
        "name": a.name, "auth_method": method, "scopes": a.scopes, "audience": a.audience,
    });
    let optional = [
        ("jwks", jwks),
        ("jwks_uri", a.jwks_uri.clone().map(Value::from)),
        ("token_ttl", a.ttl.clone().map(Value::from)),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            body[key] = value;
        }
    }
    if a.insecure_http {
        body["insecure_http"] = Value::Bool(true);
    }
    Ok(body)
}

fn read_json(path: &Path) -> Result<Value, Failure> {
    let bytes = webqx_pki::read_file_capped(path)
        .map_err(|e| Failure::local(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Failure::usage(format!("{} is not JSON: {e}", path.display())))
}

fn print_human(answer: &Value) {
    if let Some(list) = answer["clients"].as_array() {
        for c in list {
            println!(
                "{}  {:<19}  {:<8}  {}  {}",
                c["id"].as_str().unwrap_or(""),
                c["auth_method"].as_str().unwrap_or(""),
                if c["enabled"] == true {
                    "enabled"
                } else {
                    "disabled"
                },
                visible(c["name"].as_str().unwrap_or("")),
                visible(&scopes_of(c)),
            );
        }
        return;
    }
    if let Some(secret) = answer["client_secret"].as_str() {
        println!(
            "client_id:     {}",
            answer["client"]["id"].as_str().unwrap_or("")
        );
        println!("client_secret: {secret}");
        eprintln!("The secret is shown only now; store it in the client's secret store.");
        return;
    }
    print_json(&crate::output::visible_value(answer));
}

fn scopes_of(c: &Value) -> String {
    c["scopes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

async fn token(g: &Global, client: &Client, a: &TokenArgs) -> Result<(), Failure> {
    let secret = webqx_pki::read_file_capped(&a.secret_file)
        .map_err(|e| Failure::local(format!("cannot read {}: {e}", a.secret_file.display())))?;
    let secret = webqx_crypto::SecretBytes::new(secret);
    let secret = std::str::from_utf8(secret.expose())
        .map_err(|_| Failure::usage("the secret file is not text"))?
        .trim();
    let mut form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        encode(&a.client_id),
        encode(secret)
    );
    if !a.scopes.is_empty() {
        form.push_str(&format!("&scope={}", encode(&a.scopes.join(" "))));
    }
    let answer = client
        .raw(
            "/oauth/token",
            "application/x-www-form-urlencoded",
            form.into_bytes(),
        )
        .await?;
    let answer: Value = serde_json::from_slice(&answer)
        .map_err(|e| Failure::new(Exit::Server, format!("the answer is not JSON: {e}")))?;
    if g.json {
        print_json(&answer);
    } else {
        println!("{}", answer["access_token"].as_str().unwrap_or(""));
    }
    Ok(())
}

async fn verify(
    g: &Global,
    client: &Client,
    token: &str,
    audience: Option<String>,
) -> Result<i32, Failure> {
    let token = if token == "-" {
        let bytes = webqx_pki::read_capped(std::io::stdin())
            .map_err(|e| Failure::local(format!("cannot read standard input: {e}")))?;
        String::from_utf8_lossy(&bytes).trim().to_owned()
    } else {
        token.to_owned()
    };
    let mut body = json!({"token": token});
    if let Some(audience) = audience {
        body["audience"] = Value::from(audience);
    }
    let answer = client
        .call(Method::POST, "/v1/tokens/verify", Some(&body))
        .await?;
    let active = answer["active"] == true;
    if g.json {
        print_json(&answer);
    } else if active {
        println!(
            "active: client {} scope \"{}\" until {}",
            visible(answer["client_id"].as_str().unwrap_or("")),
            visible(answer["scope"].as_str().unwrap_or("")),
            answer["exp"]
        );
    } else {
        println!("inactive");
    }
    Ok(if active { 0 } else { 1 })
}
