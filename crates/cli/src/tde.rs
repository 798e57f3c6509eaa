//! `webqx-sec tde`: putting a MariaDB server's data-at-rest encryption on this service
//! (its key rings, a token that may read only them, and the option-file lines).

use crate::Global;
use crate::client::{self, Client};
use crate::exit::{Exit, Failure};
use crate::output::print_json;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

/// `webqx-sec tde …`.
#[derive(Subcommand, Debug)]
pub enum TdeCommand {
    /// Create the key rings and a `tde-read` token for one MariaDB server, and print
    /// the lines for its option file (my.cnf). Rings that exist are kept.
    Mariadb(MariadbArgs),
}

/// `webqx-sec tde mariadb`.
#[derive(Args, Debug)]
pub struct MariadbArgs {
    /// Name of the database server (the token is named `mariadb-<NAME>`).
    #[arg(long)]
    pub name: String,
    /// Mount path, as configured under [[tde.mounts]].
    #[arg(long, default_value = "mariadb")]
    pub mount: String,
    /// Key ring prefix of the mount (default: `<MOUNT>-`).
    #[arg(long)]
    pub key_prefix: Option<String>,
    /// Database key id to create a ring for (repeat; 1 is the default key, 2 is for
    /// temporary files).
    #[arg(long = "id", default_values_t = [1u32, 2])]
    pub ids: Vec<u32>,
    /// Rotate the new rings automatically this often (90d).
    #[arg(long)]
    pub auto_rotate: Option<String>,
    /// Address MariaDB reaches this service at (default: the one this command uses).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Where our CA certificate will be on the database host.
    #[arg(long, default_value = "/etc/mysql/webqx-ca.pem", value_name = "FILE")]
    pub ca_path: String,
}

/// Runs `webqx-sec tde …`.
///
/// # Errors
/// The server's refusal (for example a token that may not create keys or tokens).
pub async fn run(g: &Global, cmd: TdeCommand) -> Result<(), Failure> {
    let TdeCommand::Mariadb(args) = cmd;
    let target = client::target(
        g.addr.as_deref(),
        g.token.as_deref(),
        g.ca_cert.as_deref(),
        &crate::commands::data_dir(g),
    )?
    .with_pins(&g.pins)?;
    let url = args.url.clone().unwrap_or_else(|| target.addr.clone());
    let client = Client::new(target)?;
    let prefix = args
        .key_prefix
        .clone()
        .unwrap_or_else(|| format!("{}-", args.mount));

    let tune = format!("/v1/sys/mounts/{}/tune", args.mount);
    match client.vault_status(&tune).await? {
        200 => {}
        404 => {
            return Err(Failure::local(format!(
                "the server has no mount '{m}': add [[tde.mounts]] path = \"{m}\" to its \
                 configuration and restart it, then run this again",
                m = args.mount
            )));
        }
        403 => {
            return Err(Failure::new(
                Exit::Refused,
                "this token may not use database-key mounts (it needs tde-read); use the admin \
                 token",
            ));
        }
        other => {
            return Err(Failure::local(format!(
                "the server answered {other} for mount '{}'; is it sealed?",
                args.mount
            )));
        }
    }
    let mut rings = Vec::new();
    for id in &args.ids {
        rings.push(make_ring(&client, &format!("{prefix}{id}"), &args).await?);
    }
    let body = json!({
        "name": format!("mariadb-{}", args.name),
        "operations": ["tde-read"],
        "keys": [format!("{prefix}*")],
    });
    let made = client.call(Method::POST, "/v1/tokens", Some(&body)).await?;
    let token = made["token"].as_str().unwrap_or_default();
    let mycnf = option_lines(url.trim_end_matches('/'), &args, token);

    if g.json {
        print_json(&json!({"rings": rings, "token": made, "mycnf": mycnf}));
    } else {
        print!("{mycnf}");
        for ring in &rings {
            eprintln!("key ring {}: {}", ring["name"], ring["state"]);
        }
        eprintln!(
            "copy our CA certificate (DATA/tls/ca.pem) to {} on the database host; the \
             token above is shown only once: keep the option file 0640, group mysql",
            args.ca_path
        );
    }
    Ok(())
}

/// Creates ring `name` (exportable `aes256-gcm`: its material goes to the database)
/// unless it exists; an existing ring must be one the mount can serve.
async fn make_ring(client: &Client, name: &str, args: &MariadbArgs) -> Result<Value, Failure> {
    let body = json!({
        "name": name,
        "type": "aes256-gcm",
        "exportable": true,
        "auto_rotate_period": args.auto_rotate,
    });
    match client.call(Method::POST, "/v1/keys", Some(&body)).await {
        Ok(_) => Ok(json!({"name": name, "state": "created"})),
        Err(f) if is_kind(&f, "key-exists") => {
            let info = client
                .call(Method::GET, &format!("/v1/keys/{name}"), None)
                .await?;
            servable(name, &info)?;
            Ok(json!({"name": name, "state": "exists"}))
        }
        Err(f) => Err(f),
    }
}

/// Refuses an existing ring the mount would answer 404 for.
fn servable(name: &str, info: &Value) -> Result<(), Failure> {
    let problem = if info["type"] != "aes256-gcm" {
        Some(format!(
            "is a {} key; database keys must be aes256-gcm",
            info["type"]
        ))
    } else if info["exportable"] != true {
        Some("was not created exportable; database keys must be".to_owned())
    } else if info["state"] != "enabled" {
        Some(format!(
            "is {}; enable it or choose other ids",
            info["state"]
        ))
    } else {
        None
    };
    match problem {
        Some(p) => Err(Failure::local(format!(
            "key ring {name} exists but {p} (use --key-prefix for new rings)"
        ))),
        None => Ok(()),
    }
}

fn is_kind(f: &Failure, kind: &str) -> bool {
    f.problem
        .as_ref()
        .and_then(|p| p["type"].as_str())
        .is_some_and(|t| t.rsplit('/').next() == Some(kind))
}

/// The option-file section the operator guide documents.
fn option_lines(url: &str, args: &MariadbArgs, token: &str) -> String {
    format!(
        "[mariadbd]
plugin-load-add = hashicorp_key_management
hashicorp-key-management-vault-url = {url}/v1/{mount}
hashicorp-key-management-token = {token}
hashicorp-key-management-vault-ca = {ca}
hashicorp-key-management-timeout = 15
hashicorp-key-management-max-retries = 3
hashicorp-key-management-caching-enabled = ON
hashicorp-key-management-use-cache-on-timeout = ON
hashicorp-key-management-cache-timeout = 60000
hashicorp-key-management-cache-version-timeout = 60000
innodb_encrypt_tables = ON
innodb_encrypt_log = ON
innodb_encrypt_temporary_tables = ON
encrypt-tmp-files = ON
encrypt-binlog = ON
aria-encrypt-tables = ON
innodb_encryption_threads = 4
innodb_encryption_rotate_key_age = 1
",
        mount = args.mount,
        ca = args.ca_path,
    )
}
