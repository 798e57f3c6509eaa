//! The commands. Each resolves its inputs, makes one or a few calls, and prints a human
//! answer (or the JSON with `--json`).

use crate::Global;
use crate::client::{self, Client};
use crate::exit::{Exit, Failure};
use crate::output::{print_json, print_key, print_keys, print_tokens};
use base64::Engine as _;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use webqx_crypto::SecretBytes;
use webqx_server::bootstrap::InitKind;
use webqx_server::config::Config;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(field: &str, text: &str) -> Result<Vec<u8>, Failure> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| Failure::new(Exit::Server, format!("the server's {field} is not base64")))
}

/// The configuration, with `--data-dir` applied.
pub(crate) fn load_config(g: &Global) -> Result<Config, Failure> {
    let mut config =
        Config::load(g.config.as_deref()).map_err(|e| Failure::local(e.to_string()))?;
    if let Some(dir) = &g.data_dir {
        config.server.data_dir = dir.clone();
    }
    Ok(config)
}

pub(crate) fn data_dir(g: &Global) -> PathBuf {
    g.data_dir.clone().unwrap_or_else(|| {
        Config::load(g.config.as_deref())
            .map(|c| c.server.data_dir)
            .unwrap_or_else(|_| PathBuf::from("webqx-data"))
    })
}

pub(crate) fn connect(g: &Global) -> Result<Client, Failure> {
    let target = client::target(
        g.addr.as_deref(),
        g.token.as_deref(),
        g.ca_cert.as_deref(),
        &data_dir(g),
    )?
    .with_pins(&g.pins)?;
    Client::new(target)
}

pub(crate) fn path_segment(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&config.log.level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if config.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// `serve`.
pub async fn serve(g: &Global, listen: Option<String>) -> Result<(), Failure> {
    let mut config = load_config(g)?;
    if let Some(listen) = listen {
        config.server.listen = listen;
        config = Config::from_text("--listen", &toml_of(&config)?, &[])
            .map_err(|e| Failure::new(Exit::Usage, e.to_string()))?;
    }
    init_tracing(&config);
    webqx_server::serve(config).await.map_err(Failure::local)
}

fn toml_of(config: &Config) -> Result<String, Failure> {
    toml::to_string(config).map_err(|e| Failure::local(e.to_string()))
}

/// `init` options.
#[derive(Args, Debug)]
pub struct InitArgs {
    /// Split the unseal key into this many Shamir shares.
    #[arg(long, requires = "threshold", conflicts_with_all = ["passphrase", "passphrase_file", "dev"])]
    pub shares: Option<usize>,
    /// Shares needed to unseal.
    #[arg(long, requires = "shares")]
    pub threshold: Option<usize>,
    /// Protect the unseal key with a passphrase (Argon2id), asked on the terminal.
    #[arg(long, conflicts_with = "dev")]
    pub passphrase: bool,
    /// Read the passphrase from this file instead.
    #[arg(long, value_name = "FILE", conflicts_with = "dev")]
    pub passphrase_file: Option<PathBuf>,
    /// Local use only: a key file in the data folder (what `serve` does on first start).
    #[arg(long)]
    pub dev: bool,
    /// Wrap the root key with a key generated in the PKCS#11 HSM named in `[seal]`
    /// (module, token_label, pin_file or WEBQX_HSM_PIN); the server then unseals itself.
    #[arg(long, conflicts_with_all = ["dev", "passphrase", "passphrase_file", "shares"])]
    pub hsm: bool,
}

pub(crate) fn read_secret_line(prompt: &str, file: Option<&Path>) -> Result<SecretBytes, Failure> {
    let text = match file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| Failure::local(format!("cannot read {}: {e}", path.display())))?,
        None if std::io::stdin().is_terminal() => rpassword::prompt_password(prompt)
            .map_err(|e| Failure::local(format!("cannot read from the terminal: {e}")))?,
        None => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line
        }
    };
    let trimmed = text.trim_end_matches(['\n', '\r']);
    Ok(SecretBytes::from_slice(trimmed.as_bytes()))
}

/// `init`.
pub async fn init(g: &Global, args: InitArgs) -> Result<(), Failure> {
    let config = load_config(g)?;
    let kind = if let (Some(shares), Some(threshold)) = (args.shares, args.threshold) {
        webqx_crypto::shamir::check_counts(threshold, shares)
            .map_err(|e| Failure::new(Exit::Usage, e.to_string()))?;
        InitKind::Shamir { shares, threshold }
    } else if args.passphrase || args.passphrase_file.is_some() {
        let first = read_secret_line(
            "Passphrase (12 characters or more): ",
            args.passphrase_file.as_deref(),
        )?;
        if args.passphrase_file.is_none() && std::io::stdin().is_terminal() {
            let again = read_secret_line("Same passphrase again: ", None)?;
            if again != first {
                return Err(Failure::new(
                    Exit::Usage,
                    "the two passphrases differ; nothing was changed",
                ));
            }
        }
        if first.len() < 12 {
            return Err(Failure::new(
                Exit::Usage,
                "the passphrase must be at least 12 characters; a few unrelated words work well",
            ));
        }
        InitKind::Passphrase(first)
    } else if args.dev {
        InitKind::Dev
    } else if args.hsm {
        let login =
            webqx_server::hsm::init_login(&config).map_err(|e| Failure::new(Exit::Usage, e))?;
        InitKind::Pkcs11(login)
    } else {
        return Err(Failure::new(
            Exit::Usage,
            "choose how to protect the unseal key: --shares N --threshold K, --passphrase, --hsm, or --dev (local use only)",
        ));
    };
    let shamir = matches!(kind, InitKind::Shamir { .. });
    let hsm = matches!(kind, InitKind::Pkcs11(_));
    let shares = webqx_server::init(&config, kind)
        .await
        .map_err(Failure::local)?;
    let dir = config.server.data_dir.display().to_string();
    let texts: Vec<String> = shares
        .iter()
        .map(|s| String::from_utf8_lossy(s.expose()).into_owned())
        .collect();
    if g.json {
        print_json(&json!({"initialized": true, "data_dir": dir, "shares": texts}));
        return Ok(());
    }
    println!("Initialized {dir}.");
    println!("  CA certificate: {dir}/tls/ca.pem");
    println!("  admin token:    {dir}/admin.token (keep it safe; make scoped tokens for services)");
    if shamir {
        println!(
            "\nUnseal shares: shown ONCE. Give each to a different person; any {} open the service.\n",
            args.threshold.unwrap_or(0)
        );
        for (i, s) in texts.iter().enumerate() {
            println!("  share {}: {s}", i + 1);
        }
        println!();
    }
    if hsm {
        println!(
            "The root key is wrapped by a key in the HSM. Start the server with `webqx-sec serve`: \
             it unseals itself while the HSM is reachable."
        );
        return Ok(());
    }
    println!("Start the server with `webqx-sec serve`, then unseal it with `webqx-sec unseal`.");
    Ok(())
}

/// `unseal` options.
#[derive(Args, Debug)]
pub struct UnsealArgs {
    /// One share (asked on the terminal when absent).
    pub share: Option<String>,
    /// Read the share or passphrase from this file.
    #[arg(long, value_name = "FILE")]
    pub from_file: Option<PathBuf>,
    /// Forget the shares given so far.
    #[arg(long)]
    pub reset: bool,
}

/// `unseal`.
pub async fn unseal(g: &Global, args: UnsealArgs) -> Result<(), Failure> {
    let client = connect(g)?;
    let status = client
        .call(Method::GET, "/v1/sys/seal-status", None)
        .await?;
    let mut body = json!({"reset": args.reset});
    if status["sealed"] == false {
        println!("The server is already unsealed.");
        return Ok(());
    }
    match status["seal_type"].as_str() {
        Some("passphrase") => {
            let phrase = read_secret_line("Passphrase: ", args.from_file.as_deref())?;
            body["passphrase"] = String::from_utf8_lossy(phrase.expose()).into_owned().into();
        }
        Some("key-file") => {
            let path = data_dir(g).join("unseal.key");
            let key = std::fs::read_to_string(&path)
                .map_err(|e| Failure::local(format!("cannot read {}: {e}", path.display())))?;
            body["key"] = key.trim().into();
        }
        Some("pkcs11") => {
            // An empty request: the server tries its HSM now.
            body = json!({});
        }
        Some("shamir") => {
            let share = match args.share {
                Some(s) => s,
                None if args.reset
                    && args.from_file.is_none()
                    && !std::io::stdin().is_terminal() =>
                {
                    String::new()
                }
                None => String::from_utf8_lossy(
                    read_secret_line("Unseal share: ", args.from_file.as_deref())?.expose(),
                )
                .into_owned(),
            };
            if !share.is_empty() {
                body["share"] = share.into();
            }
        }
        _ => {
            return Err(Failure::new(
                Exit::Server,
                "the server is not initialized; run `webqx-sec init`",
            ));
        }
    }
    let after = client
        .call(Method::POST, "/v1/sys/unseal", Some(&body))
        .await?;
    if g.json {
        print_json(&after);
    } else if after["sealed"] == false {
        println!("Unsealed.");
    } else {
        println!(
            "Share accepted: {} of {} given.",
            after["progress"], after["threshold"]
        );
    }
    Ok(())
}

/// `seal`.
pub async fn seal(g: &Global) -> Result<(), Failure> {
    let out = connect(g)?.call(Method::POST, "/v1/sys/seal", None).await?;
    if g.json {
        print_json(&out);
    } else {
        println!("Sealed: key operations are refused until `webqx-sec unseal`.");
    }
    Ok(())
}

/// `rewrap`: rotate the HSM key.
pub async fn rewrap(g: &Global, key_label: Option<String>) -> Result<(), Failure> {
    let body = match key_label {
        Some(label) => json!({"key_label": label}),
        None => json!({}),
    };
    let out = connect(g)?
        .call(Method::POST, "/v1/sys/seal/rewrap", Some(&body))
        .await?;
    if g.json {
        print_json(&out);
    } else {
        println!(
            "The root key is now wrapped by a new key in the HSM. Delete the old key from the \
             token once backups made before now are no longer needed."
        );
    }
    Ok(())
}

/// `status`: exits 5 while sealed.
pub async fn status(g: &Global) -> Result<i32, Failure> {
    let client = connect(g)?;
    let health = client.call(Method::GET, "/v1/sys/health", None).await?;
    let seal = client
        .call(Method::GET, "/v1/sys/seal-status", None)
        .await?;
    if g.json {
        print_json(&json!({"health": health, "seal": seal}));
    } else {
        println!("status:      {}", health["status"].as_str().unwrap_or("?"));
        println!("sealed:      {}", seal["sealed"]);
        println!("seal type:   {}", seal["seal_type"].as_str().unwrap_or("-"));
        if let Some(t) = seal["threshold"].as_u64() {
            println!("unseal:      {} of {} shares given", seal["progress"], t);
        }
        if let Some(e) = seal["last_error"].as_str() {
            println!("seal error:  {e}");
        }
        println!("storage:     {}", health["storage"].as_str().unwrap_or("?"));
        println!("version:     {}", health["version"].as_str().unwrap_or("?"));
    }
    Ok(if seal["sealed"] == true {
        Exit::Server as i32
    } else {
        0
    })
}

/// `key …`.
#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Create a key ring.
    Create {
        /// Name: letters, digits, '.', '_', '-'.
        name: String,
        /// aes256-gcm (default), chacha20-poly1305, aes256-siv, ed25519, ecdsa-p256, hmac,
        /// tang-p521 (Tang server keys for clevis).
        #[arg(long = "type", default_value = "aes256-gcm",
              value_parser = ["aes256-gcm", "chacha20-poly1305", "aes256-siv", "ed25519", "ecdsa-p256", "hmac", "tang-p521"])]
        key_type: String,
        /// Allow export of material (cannot be turned on later).
        #[arg(long)]
        exportable: bool,
        /// Rotate automatically this often (30d, 12h; at least 1h).
        #[arg(long, value_name = "PERIOD")]
        auto_rotate: Option<String>,
    },
    /// List key rings.
    List {
        /// Start after this name.
        #[arg(long)]
        cursor: Option<String>,
        /// Page size (1-1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Show a key ring's metadata.
    Show { name: String },
    /// Add a new version.
    Rotate { name: String },
    /// Change minimum versions or the rotation period.
    Config {
        name: String,
        #[arg(long)]
        min_decryption_version: Option<u32>,
        #[arg(long)]
        min_encryption_version: Option<u32>,
        /// Rotation period, or 0 to turn it off.
        #[arg(long, value_name = "PERIOD")]
        auto_rotate: Option<String>,
    },
    /// Enable a disabled key.
    Enable { name: String },
    /// Disable a key (every operation refused).
    Disable { name: String },
    /// Schedule destruction after a waiting period.
    ScheduleDeletion {
        name: String,
        /// Waiting period (default: kms.default_deletion_wait).
        #[arg(long, value_name = "PERIOD")]
        wait: Option<String>,
    },
    /// Cancel a scheduled deletion (the key comes back disabled).
    CancelDeletion { name: String },
    /// Destroy the material now, once the deletion is due.
    Destroy { name: String },
    /// Export material of an exportable key.
    Export {
        name: String,
        #[arg(long)]
        version: Option<u32>,
    },
    /// Encrypt DATA (text), --in FILE, or standard input.
    Encrypt(DataArgs),
    /// Decrypt a ciphertext (argument or standard input).
    Decrypt(CiphertextArgs),
    /// Re-encrypt a ciphertext under the newest version.
    Rewrap(CiphertextArgs),
    /// Generate a data key.
    Datakey {
        name: String,
        /// Return only the wrapped key.
        #[arg(long)]
        wrapped: bool,
        /// 128, 256 or 512.
        #[arg(long, default_value_t = 256)]
        bits: u32,
        /// Context bound to the wrapped key.
        #[arg(long)]
        context: Option<String>,
    },
    /// Sign DATA, --in FILE, or standard input.
    Sign {
        #[command(flatten)]
        data: DataArgs,
        /// der (default) or p1363 (JWS) for ECDSA.
        #[arg(long, default_value = "der")]
        format: String,
    },
    /// Verify a signature or HMAC (exit 1 when not valid).
    Verify {
        /// The wqx1: signature or HMAC.
        #[arg(long)]
        signature: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// HMAC of DATA, --in FILE, or standard input.
    Hmac {
        #[command(flatten)]
        data: DataArgs,
        /// HMAC-SHA-512 instead of SHA-256.
        #[arg(long)]
        sha512: bool,
    },
}

/// Input for encrypt, sign, verify, hmac.
#[derive(Args, Debug)]
pub struct DataArgs {
    /// Key name.
    pub name: String,
    /// The data, as text.
    pub data: Option<String>,
    /// Read the data from a file ('-' for standard input).
    #[arg(long = "in", value_name = "FILE", conflicts_with = "data")]
    pub input: Option<PathBuf>,
    /// Context bound to the result (text).
    #[arg(long)]
    pub context: Option<String>,
    /// Key version to encrypt with (encrypt only).
    #[arg(long)]
    pub key_version: Option<u32>,
}

/// Input for decrypt and rewrap.
#[derive(Args, Debug)]
pub struct CiphertextArgs {
    /// Key name.
    pub name: String,
    /// The wqx1: ciphertext (standard input when absent).
    pub ciphertext: Option<String>,
    /// Context given at encryption (text).
    #[arg(long)]
    pub context: Option<String>,
    /// Write the plaintext to this file instead of standard output (decrypt).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

fn read_input(data: &Option<String>, input: &Option<PathBuf>) -> Result<Vec<u8>, Failure> {
    match (data, input) {
        (Some(text), _) => Ok(text.as_bytes().to_vec()),
        (None, Some(p)) if p.as_os_str() != "-" => std::fs::read(p)
            .map_err(|e| Failure::local(format!("cannot read {}: {e}", p.display()))),
        _ => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf)?;
            Ok(buf)
        }
    }
}

fn with_context(mut body: Value, context: &Option<String>) -> Value {
    if let Some(c) = context {
        body["context"] = b64(c.as_bytes()).into();
    }
    body
}

/// `key …`. Returns the exit code (verify exits 1 when not valid).
pub async fn key(g: &Global, cmd: KeyCommand) -> Result<i32, Failure> {
    let client = connect(g)?;
    let k = |name: &str, rest: &str| format!("/v1/keys/{}{rest}", path_segment(name));
    let info = |v: Value| {
        if g.json {
            print_json(&v)
        } else {
            print_key(&v)
        }
        Ok(0)
    };
    match cmd {
        KeyCommand::Create {
            name,
            key_type,
            exportable,
            auto_rotate,
        } => {
            let mut body = json!({"name": name, "type": key_type, "exportable": exportable});
            if let Some(p) = auto_rotate {
                body["auto_rotate_period"] = p.into();
            }
            info(client.call(Method::POST, "/v1/keys", Some(&body)).await?)
        }
        KeyCommand::List { cursor, limit } => {
            let mut path = format!("/v1/keys?limit={limit}");
            if let Some(c) = cursor {
                path.push_str(&format!("&cursor={}", path_segment(&c)));
            }
            let out = client.call(Method::GET, &path, None).await?;
            if g.json {
                print_json(&out)
            } else {
                print_keys(&out)
            }
            Ok(0)
        }
        KeyCommand::Show { name } => info(client.call(Method::GET, &k(&name, ""), None).await?),
        KeyCommand::Rotate { name } => info(
            client
                .call(Method::POST, &k(&name, "/rotate"), None)
                .await?,
        ),
        KeyCommand::Config {
            name,
            min_decryption_version,
            min_encryption_version,
            auto_rotate,
        } => {
            let body = json!({
                "min_decryption_version": min_decryption_version,
                "min_encryption_version": min_encryption_version,
                "auto_rotate_period": auto_rotate,
            });
            info(
                client
                    .call(Method::POST, &k(&name, "/config"), Some(&body))
                    .await?,
            )
        }
        KeyCommand::Enable { name } => info(
            client
                .call(Method::POST, &k(&name, "/enable"), None)
                .await?,
        ),
        KeyCommand::Disable { name } => info(
            client
                .call(Method::POST, &k(&name, "/disable"), None)
                .await?,
        ),
        KeyCommand::ScheduleDeletion { name, wait } => {
            let body = json!({"waiting_period": wait});
            info(
                client
                    .call(Method::POST, &k(&name, "/schedule-deletion"), Some(&body))
                    .await?,
            )
        }
        KeyCommand::CancelDeletion { name } => info(
            client
                .call(Method::POST, &k(&name, "/cancel-deletion"), None)
                .await?,
        ),
        KeyCommand::Destroy { name } => info(
            client
                .call(Method::POST, &k(&name, "/destroy"), None)
                .await?,
        ),
        KeyCommand::Export { name, version } => {
            let path = match version {
                Some(v) => k(&name, &format!("/export?version={v}")),
                None => k(&name, "/export"),
            };
            print_json(&client.call(Method::GET, &path, None).await?);
            Ok(0)
        }
        KeyCommand::Encrypt(a) => {
            let data = read_input(&a.data, &a.input)?;
            let mut body = with_context(json!({"plaintext": b64(&data)}), &a.context);
            if let Some(v) = a.key_version {
                body["key_version"] = v.into();
            }
            let out = client
                .call(Method::POST, &k(&a.name, "/encrypt"), Some(&body))
                .await?;
            print_field(g, &out, "ciphertext");
            Ok(0)
        }
        KeyCommand::Decrypt(a) => {
            let ct = ciphertext_input(&a.ciphertext)?;
            let body = with_context(json!({"ciphertext": ct}), &a.context);
            let out = client
                .call(Method::POST, &k(&a.name, "/decrypt"), Some(&body))
                .await?;
            if g.json {
                print_json(&out);
                return Ok(0);
            }
            let mut plain = unb64("plaintext", out["plaintext"].as_str().unwrap_or(""))?;
            if a.out.is_none() && std::io::stdout().is_terminal() && !plain.ends_with(b"\n") {
                plain.push(b'\n');
            }
            write_output(a.out.as_deref(), &plain)?;
            Ok(0)
        }
        KeyCommand::Rewrap(a) => {
            let ct = ciphertext_input(&a.ciphertext)?;
            let body = with_context(json!({"ciphertext": ct}), &a.context);
            let out = client
                .call(Method::POST, &k(&a.name, "/rewrap"), Some(&body))
                .await?;
            print_field(g, &out, "ciphertext");
            Ok(0)
        }
        KeyCommand::Datakey {
            name,
            wrapped,
            bits,
            context,
        } => {
            let kind = if wrapped { "wrapped" } else { "plaintext" };
            let body = with_context(json!({"type": kind, "bits": bits}), &context);
            print_json(
                &client
                    .call(Method::POST, &k(&name, "/datakey"), Some(&body))
                    .await?,
            );
            Ok(0)
        }
        KeyCommand::Sign { data, format } => {
            let input = read_input(&data.data, &data.input)?;
            let body = with_context(
                json!({"input": b64(&input), "signature_format": format}),
                &data.context,
            );
            let out = client
                .call(Method::POST, &k(&data.name, "/sign"), Some(&body))
                .await?;
            print_field(g, &out, "signature");
            Ok(0)
        }
        KeyCommand::Verify { signature, data } => {
            let input = read_input(&data.data, &data.input)?;
            let body = with_context(
                json!({"input": b64(&input), "signature": signature}),
                &data.context,
            );
            let out = client
                .call(Method::POST, &k(&data.name, "/verify"), Some(&body))
                .await?;
            let valid = out["valid"] == true;
            if g.json {
                print_json(&out)
            } else {
                println!("{}", if valid { "valid" } else { "NOT valid" })
            }
            Ok(if valid { 0 } else { Exit::CheckFailed as i32 })
        }
        KeyCommand::Hmac { data, sha512 } => {
            let input = read_input(&data.data, &data.input)?;
            let alg = if sha512 { "sha512" } else { "sha256" };
            let body = with_context(
                json!({"input": b64(&input), "algorithm": alg}),
                &data.context,
            );
            let out = client
                .call(Method::POST, &k(&data.name, "/hmac"), Some(&body))
                .await?;
            print_field(g, &out, "hmac");
            Ok(0)
        }
    }
}

fn ciphertext_input(arg: &Option<String>) -> Result<String, Failure> {
    match arg {
        Some(c) => Ok(c.trim().to_owned()),
        None => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            Ok(text.trim().to_owned())
        }
    }
}

fn print_field(g: &Global, out: &Value, field: &str) {
    if g.json {
        print_json(out);
    } else {
        println!("{}", out[field].as_str().unwrap_or(""));
    }
}

/// Writes to a file atomically (never a partial file), or to standard output.
fn write_output(path: Option<&Path>, bytes: &[u8]) -> Result<(), Failure> {
    match path {
        None => {
            let mut stdout = std::io::stdout();
            stdout.write_all(bytes)?;
            stdout.flush()?;
            Ok(())
        }
        Some(p) => webqx_server::datadir::write_private(p, bytes).map_err(Failure::local),
    }
}

/// `fhir …`.
#[derive(Subcommand, Debug)]
pub enum FhirCommand {
    /// Encrypt the PHI elements of a resource, Bundle or NDJSON file.
    Protect(FhirArgs),
    /// Restore protected resources.
    Unprotect(FhirArgs),
    /// Re-protect under the keys' newest versions.
    Rewrap(FhirArgs),
    /// The protected form of an identifier, to search protected resources by it.
    SearchToken {
        /// The identifier's system.
        #[arg(long)]
        system: Option<String>,
        /// The identifier's value.
        value: String,
    },
}

/// A FHIR file in, a FHIR file out.
#[derive(Args, Debug)]
pub struct FhirArgs {
    /// Input file ('-' for standard input).
    pub file: PathBuf,
    /// Output file (standard output when absent).
    #[arg(short, long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Treat the input as NDJSON (default: by the .ndjson extension).
    #[arg(long)]
    pub ndjson: bool,
}

/// `fhir …`.
pub async fn fhir(g: &Global, cmd: FhirCommand) -> Result<(), Failure> {
    let client = connect(g)?;
    let (path, args) = match cmd {
        FhirCommand::Protect(a) => ("/v1/fhir/protect", a),
        FhirCommand::Unprotect(a) => ("/v1/fhir/unprotect", a),
        FhirCommand::Rewrap(a) => ("/v1/fhir/rewrap", a),
        FhirCommand::SearchToken { system, value } => {
            let out = client
                .call(
                    Method::POST,
                    "/v1/fhir/search-token",
                    Some(&json!({"system": system, "value": value})),
                )
                .await?;
            if g.json {
                print_json(&out);
            } else {
                let system = out["system"].as_str().unwrap_or("");
                println!(
                    "identifier={system}|{}",
                    out["value"].as_str().unwrap_or("")
                );
            }
            return Ok(());
        }
    };
    let input = read_input(&None, &Some(args.file.clone()))?;
    let ndjson = args.ndjson || args.file.extension().is_some_and(|e| e == "ndjson");
    let content_type = if ndjson {
        "application/fhir+ndjson"
    } else {
        "application/fhir+json"
    };
    let out = client.raw(path, content_type, input).await?;
    write_output(args.out.as_deref(), &out)
}

/// `token …`.
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a scoped token (printed once).
    Create {
        /// A name for people.
        #[arg(long)]
        name: String,
        /// Allowed operation (repeat): encrypt, decrypt, rewrap, datakey, sign, verify,
        /// hmac, export, key-read, key-admin, fhir-protect, fhir-unprotect, audit-read,
        /// audit-write, metrics, sys, tde-read (MariaDB data-at-rest keys), pki-issue,
        /// pki-read, pki-revoke, pki-admin (the certificate authority), oauth-introspect,
        /// oauth-admin (OAuth token checks and clients), vuln-read, vuln-write (scheduled
        /// vulnerability scans).
        #[arg(long = "op", required = true)]
        operations: Vec<String>,
        /// Key name or 'prefix*' pattern (repeat).
        #[arg(long = "key")]
        keys: Vec<String>,
        /// Lifetime (24h, 30d); none for no expiry.
        #[arg(long)]
        ttl: Option<String>,
    },
    /// List tokens.
    List,
    /// Revoke a token at once.
    Revoke { id: String },
    /// On the server: replace the admin token (revokes every admin token, writes a new
    /// admin.token). Works on the store directly, with the server running or not.
    ResetAdmin,
}

/// `token …`.
pub async fn token(g: &Global, cmd: TokenCommand) -> Result<(), Failure> {
    if matches!(cmd, TokenCommand::ResetAdmin) {
        return reset_admin(g).await;
    }
    let client = connect(g)?;
    match cmd {
        TokenCommand::ResetAdmin => {}
        TokenCommand::Create {
            name,
            operations,
            keys,
            ttl,
        } => {
            let body = json!({"name": name, "operations": operations, "keys": keys, "ttl": ttl});
            let out = client.call(Method::POST, "/v1/tokens", Some(&body)).await?;
            if g.json {
                print_json(&out);
            } else {
                println!("{}", out["token"].as_str().unwrap_or(""));
                eprintln!(
                    "token {} created; the secret above is shown only once",
                    out["info"]["id"].as_str().unwrap_or("")
                );
            }
        }
        TokenCommand::List => {
            let out = client.call(Method::GET, "/v1/tokens", None).await?;
            if g.json {
                print_json(&out)
            } else {
                print_tokens(&out)
            }
        }
        TokenCommand::Revoke { id } => {
            let out = client
                .call(
                    Method::DELETE,
                    &format!("/v1/tokens/{}", path_segment(&id)),
                    None,
                )
                .await?;
            if g.json {
                print_json(&out)
            } else {
                println!("revoked {id}")
            }
        }
    }
    Ok(())
}

async fn reset_admin(g: &Global) -> Result<(), Failure> {
    let config = load_config(g)?;
    let s = webqx_server::bootstrap::open(&config)
        .await
        .map_err(Failure::local)?;
    let ctx = webqx_audit::RequestContext::internal("cli");
    let token = s
        .tokens
        .reset_admin(&ctx)
        .await
        .map_err(|e| Failure::local(e.to_string()))?;
    let mut line = token.expose().to_vec();
    line.push(b'\n');
    webqx_server::datadir::write_private(&s.data.admin_token(), &line).map_err(Failure::local)?;
    s.store.close().await;
    if g.json {
        print_json(&json!({"admin_token_file": s.data.admin_token()}));
    } else {
        println!(
            "New admin token written to {}; every earlier admin token is revoked.",
            s.data.admin_token().display()
        );
    }
    Ok(())
}

/// `audit …`.
#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Walk the hash chain, check the signed checkpoints, and name the first broken
    /// record (exit 1 if any).
    Verify {
        /// Ask the server instead of reading the store directly.
        #[arg(long)]
        remote: bool,
        /// Also check against a checkpoint exported earlier (`audit checkpoint export`):
        /// detects the newest records being removed together with the chain head.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
    },
    /// Write records in a SIEM or standard format, one per line.
    Export {
        /// jsonl, fhir (R4 AuditEvent), atna (RFC 5424 + DICOM XML), cef, ecs or ocsf.
        #[arg(long, default_value = "jsonl")]
        format: String,
        /// Records written at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Records written before this time (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        /// Write to this file (0600) instead of standard output.
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Ask the server instead of reading the store directly.
        #[arg(long)]
        remote: bool,
    },
    /// Signed checkpoints over the chain head.
    #[command(subcommand)]
    Checkpoint(CheckpointCommand),
    /// Send FHIR AuditEvents (one resource, a Bundle, or NDJSON) to the trail.
    Send {
        /// The file (`-` for standard input).
        file: PathBuf,
        /// Its content type (default: by extension, .ndjson → application/fhir+ndjson).
        #[arg(long)]
        content_type: Option<String>,
    },
    /// Is HASH the HMAC of VALUE, and which records are about VALUE? (admin)
    Hmac {
        /// The value (a patient reference such as Patient/123).
        value: String,
        /// An HMAC from a record, to compare.
        #[arg(long)]
        hmac: Option<String>,
        /// List the records holding the value's HMAC.
        #[arg(long)]
        search: bool,
    },
    /// Delivery state of each SIEM sink.
    Sinks,
}

/// `audit checkpoint …`.
#[derive(Subcommand, Debug)]
pub enum CheckpointCommand {
    /// Sign the chain head now (the server also does it every audit.checkpoint_interval).
    Create,
    /// Write the newest checkpoint with its public key; keep the file off this machine.
    Export {
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Ask the server instead of reading the store directly.
        #[arg(long)]
        remote: bool,
    },
}

async fn open_store_readonly(g: &Global) -> Result<webqx_store::Store, Failure> {
    let config = load_config(g)?;
    let data = webqx_server::datadir::DataDir::new(&config.server.data_dir);
    if config.storage.url.is_empty() && !data.store().exists() {
        return Err(Failure::local(format!(
            "no store at {}; pass --data-dir or --config",
            data.store().display()
        )));
    }
    webqx_store::Store::open(&webqx_server::bootstrap::store_config(&config, &data))
        .await
        .map_err(|e| Failure::local(format!("cannot open the store: {e}")))
}

/// `audit …`.
pub async fn audit(g: &Global, cmd: AuditCommand) -> Result<i32, Failure> {
    match cmd {
        AuditCommand::Verify { remote, checkpoint } => verify(g, remote, checkpoint).await,
        AuditCommand::Export {
            format,
            since,
            until,
            out,
            remote,
        } => {
            export(g, &format, since, until, out.as_deref(), remote).await?;
            Ok(0)
        }
        AuditCommand::Checkpoint(c) => {
            checkpoint(g, c).await?;
            Ok(0)
        }
        AuditCommand::Send { file, content_type } => send(g, &file, content_type).await,
        AuditCommand::Hmac {
            value,
            hmac,
            search,
        } => {
            if hmac.is_none() && !search {
                return Err(Failure::usage(
                    "say what to ask: --hmac HASH (is it the HMAC of VALUE?) and/or --search \
                     (which records are about VALUE?)",
                ));
            }
            let answer = connect(g)?
                .call(
                    Method::POST,
                    "/v1/audit/hmac",
                    Some(&json!({"value": value, "hmac": hmac, "search": search})),
                )
                .await?;
            print_json(&answer);
            Ok(match answer["matches"].as_bool() {
                Some(false) => Exit::CheckFailed as i32,
                _ => 0,
            })
        }
        AuditCommand::Sinks => {
            let answer = connect(g)?
                .call(Method::GET, "/v1/audit/sinks", None)
                .await?;
            print_json(&answer);
            Ok(0)
        }
    }
}

async fn verify(g: &Global, remote: bool, checkpoint: Option<PathBuf>) -> Result<i32, Failure> {
    let anchor = match &checkpoint {
        Some(path) => Some(
            webqx_audit::checkpoint::read_file(path)
                .map_err(|e| Failure::new(Exit::CheckFailed, format!("{}: {e}", path.display())))?,
        ),
        None => None,
    };
    let report = if remote {
        let client = connect(g)?;
        match &anchor {
            Some(cp) => {
                client
                    .call(
                        Method::POST,
                        "/v1/audit/verify",
                        Some(&json!({ "checkpoint": cp })),
                    )
                    .await?
            }
            None => client.call(Method::GET, "/v1/audit/verify", None).await?,
        }
    } else {
        let store = open_store_readonly(g).await?;
        let opts = webqx_audit::VerifyOptions {
            anchor,
            ..Default::default()
        };
        let report = webqx_audit::verify_with(&store, &opts)
            .await
            .map_err(|e| match e {
                webqx_audit::AuditError::Store(ref s)
                    if s.kind() == webqx_store::StoreErrorKind::Unavailable =>
                {
                    Failure::local(e.to_string())
                }
                webqx_audit::AuditError::Store(_) => Failure::new(
                    Exit::CheckFailed,
                    format!(
                        "audit trail BROKEN: its tables cannot be read as written ({e}); \
                         they were altered outside the service"
                    ),
                ),
                other => Failure::new(Exit::CheckFailed, other.to_string()),
            })?;
        store.close().await;
        serde_json::to_value(report).map_err(|e| Failure::local(e.to_string()))?
    };
    let broken = !report["first_break"].is_null();
    if g.json {
        print_json(&report);
    } else if broken {
        println!(
            "audit trail BROKEN at record {}: {} ({} records verified before it)",
            report["first_break"]["seq"],
            report["first_break"]["problem"].as_str().unwrap_or(""),
            report["records"]
        );
    } else {
        println!(
            "audit trail intact: {} records, chain head at {}, {} signed checkpoint(s) checked{}",
            report["records"],
            report["head_seq"],
            report["checkpoints_checked"],
            if report["anchor_seq"].is_null() {
                String::new()
            } else {
                format!(
                    ", exported checkpoint at record {} matches",
                    report["anchor_seq"]
                )
            }
        );
    }
    if let Some(warnings) = report["warnings"].as_array() {
        for w in warnings {
            eprintln!("warning: {}", w.as_str().unwrap_or_default());
        }
    }
    Ok(if broken { Exit::CheckFailed as i32 } else { 0 })
}

async fn export(
    g: &Global,
    format_name: &str,
    since: Option<String>,
    until: Option<String>,
    out: Option<&Path>,
    remote: bool,
) -> Result<(), Failure> {
    let format = webqx_siem::Format::parse(format_name).ok_or_else(|| {
        Failure::usage(format!(
            "unknown format '{format_name}'; use one of jsonl, fhir, atna, cef, ecs, ocsf"
        ))
    })?;
    let time = |field: &str, t: &Option<String>| -> Result<Option<i64>, Failure> {
        t.as_deref()
            .map(|text| {
                chrono::DateTime::parse_from_rfc3339(text)
                    .map(|d| d.timestamp_millis())
                    .map_err(|_| {
                        Failure::usage(format!(
                            "--{field} must be an RFC 3339 time such as 2026-12-04T00:00:00Z"
                        ))
                    })
            })
            .transpose()
    };
    let since_ms = time("since", &since)?;
    let until_ms = time("until", &until)?;
    let mut text = Vec::new();
    if remote {
        let client = connect(g)?;
        let mut after = 0i64;
        let mut to: Option<i64> = None;
        loop {
            let mut path = format!("/v1/audit/records?format={}&after={after}", format.name());
            if let Some(to) = to {
                path.push_str(&format!("&to={to}"));
            }
            for (name, value) in [("since", &since), ("until", &until)] {
                if let Some(v) = value {
                    path.push_str(&format!("&{name}={}", url_escape(v)));
                }
            }
            let (page, headers) = client.get_text(&path).await?;
            let header =
                |name: &str| -> Option<i64> { headers.get(name)?.to_str().ok()?.parse().ok() };
            let last = header("x-webqx-last-seq").unwrap_or(after);
            let head = *to.get_or_insert(header("x-webqx-head-seq").unwrap_or(last));
            if page.is_empty() || last <= after {
                break;
            }
            text.extend_from_slice(&page);
            after = last;
            if after >= head {
                break;
            }
        }
    } else {
        let store = open_store_readonly(g).await?;
        let host = webqx_server::hostname();
        let mut after = 0i64;
        loop {
            let page = webqx_audit::trail::read(
                &store,
                &webqx_audit::TrailQuery {
                    after_seq: after,
                    since_ms,
                    until_ms,
                    limit: 5000,
                },
            )
            .await
            .map_err(|e| Failure::local(e.to_string()))?;
            let Some(last) = page.last() else { break };
            after = last.entry.seq;
            for r in &page {
                text.extend_from_slice(webqx_siem::export_line(format, r, &host).as_bytes());
                text.push(b'\n');
            }
        }
        store.close().await;
    }
    write_output(out, &text)
}

fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

async fn checkpoint(g: &Global, cmd: CheckpointCommand) -> Result<(), Failure> {
    match cmd {
        CheckpointCommand::Create => {
            let answer = connect(g)?
                .call(Method::POST, "/v1/audit/checkpoints", None)
                .await?;
            if g.json {
                print_json(&answer);
            } else if answer["created"].as_bool() == Some(true) {
                println!(
                    "checkpoint signed at record {}",
                    answer["checkpoint"]["seq"]
                );
            } else {
                println!(
                    "the chain head has not moved since the checkpoint at record {}",
                    answer["checkpoint"]["seq"]
                );
            }
            Ok(())
        }
        CheckpointCommand::Export { out, remote } => {
            let cp = if remote {
                connect(g)?
                    .call(Method::GET, "/v1/audit/checkpoints/latest", None)
                    .await?
            } else {
                let store = open_store_readonly(g).await?;
                let cp = webqx_kms::export_latest_checkpoint(&store)
                    .await
                    .map_err(|e| Failure::local(e.to_string()))?;
                store.close().await;
                let cp = cp.ok_or_else(|| {
                    Failure::local(
                        "no checkpoint has been signed yet; unseal the service and run \
                         `webqx-sec audit checkpoint create`",
                    )
                })?;
                serde_json::to_value(cp).map_err(|e| Failure::local(e.to_string()))?
            };
            let mut text = serde_json::to_vec_pretty(&cp).unwrap_or_default();
            text.push(b'\n');
            write_output(out.as_deref(), &text)?;
            if let Some(path) = out {
                eprintln!(
                    "checkpoint at record {} written to {}; keep a copy off this machine",
                    cp["seq"],
                    path.display()
                );
            }
            Ok(())
        }
    }
}

async fn send(g: &Global, file: &Path, content_type: Option<String>) -> Result<i32, Failure> {
    let body = read_input(&None, &Some(file.to_path_buf()))?;
    let content_type = content_type.unwrap_or_else(|| {
        let ndjson = file
            .extension()
            .is_some_and(|e| e == "ndjson" || e == "jsonl");
        if ndjson {
            "application/fhir+ndjson".into()
        } else {
            "application/fhir+json".into()
        }
    });
    let answer = match connect(g)?
        .raw("/v1/audit/events", &content_type, body)
        .await
    {
        Ok(bytes) => serde_json::from_slice::<Value>(&bytes).unwrap_or_default(),
        Err(f) if f.problem.as_ref().is_some_and(|p| p["results"].is_array()) => {
            f.problem.clone().unwrap_or_default()
        }
        Err(f) => return Err(f),
    };
    if g.json {
        print_json(&answer);
    } else {
        println!(
            "{} accepted, {} rejected",
            answer["accepted"], answer["rejected"]
        );
        for r in answer["results"].as_array().into_iter().flatten() {
            if r["status"] == "rejected" {
                println!(
                    "  item {}: {}",
                    r["index"],
                    r["reason"].as_str().unwrap_or_default()
                );
            }
        }
    }
    Ok(if answer["rejected"].as_u64().unwrap_or(0) > 0 {
        Exit::CheckFailed as i32
    } else {
        0
    })
}

/// `config …`.
#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Check a configuration file and the WEBQX_* variables (exit 1 with the file and
    /// line of the first problem).
    Check {
        /// The file (default: --config, or ./webqx-sec.toml).
        file: Option<PathBuf>,
    },
}

/// `config check`.
pub fn config(g: &Global, cmd: ConfigCommand) -> Result<i32, Failure> {
    let ConfigCommand::Check { file } = cmd;
    let path = file.or_else(|| g.config.clone());
    match Config::load(path.as_deref()) {
        Ok(c) => {
            if g.json {
                print_json(&json!({"ok": true, "config": c}));
            } else {
                println!(
                    "configuration ok: {}",
                    path.map(|p| p.display().to_string())
                        .unwrap_or_else(|| "(defaults)".into())
                );
            }
            Ok(0)
        }
        Err(e) => {
            if g.json {
                print_json(&json!({"ok": false, "location": e.location, "message": e.message}));
            } else {
                println!("{e}");
            }
            Ok(Exit::CheckFailed as i32)
        }
    }
}

/// `man`.
pub fn man(out: &Path) -> Result<(), Failure> {
    use clap::CommandFactory;
    std::fs::create_dir_all(out)?;
    let root = crate::Cli::command();
    let mut pages = vec![(String::from("webqx-sec"), root.clone())];
    for sub in root.get_subcommands() {
        let name = format!("webqx-sec-{}", sub.get_name());
        pages.push((name, sub.clone()));
    }
    for (name, cmd) in pages {
        let mut buf = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut buf)?;
        std::fs::write(out.join(format!("{name}.1")), buf)?;
    }
    println!("man pages written to {}", out.display());
    Ok(())
}
