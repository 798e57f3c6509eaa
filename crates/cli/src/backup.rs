//! `webqx-sec backup …`: create (the running server snapshots and encrypts; the CLI
//! only stores the bytes), verify and restore (offline, with the unseal credentials),
//! list (the server's scheduled backups).

use crate::Global;
use crate::commands::{connect, load_config, read_secret_line};
use crate::exit::{Exit, Failure};
use crate::output::print_json;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use webqx_backup::{BackupError, Credentials, RestoreTarget};
use webqx_crypto::SecretBytes;

#[derive(Subcommand, Debug)]
pub enum BackupCommand {
    /// Ask the running server for a backup now and save it (a new private temp file
    /// in the same folder, renamed when complete).
    Create {
        /// Output file (default: webqx-backup-<time>.wqxb in the current folder).
        #[arg(short = 'o', long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Replace an existing regular file at the output path.
        #[arg(long)]
        force: bool,
    },
    /// Decrypt every segment and check the content, without restoring (offline).
    Verify {
        /// The backup file.
        file: PathBuf,
        #[command(flatten)]
        creds: CredentialArgs,
    },
    /// Rebuild a data folder (given with --data-dir) and its store from a backup
    /// (offline; stop any server on that folder first).
    Restore {
        /// The backup file.
        file: PathBuf,
        #[command(flatten)]
        creds: CredentialArgs,
        /// PostgreSQL URL to restore the store into (default: storage.url of the
        /// configuration; empty: SQLite in the data folder).
        #[arg(long, value_name = "URL")]
        storage_url: Option<String>,
        /// PostgreSQL schema to restore into (default: storage.schema).
        #[arg(long, value_name = "NAME")]
        schema: Option<String>,
        /// Replace a non-empty data folder (it is moved aside) or schema.
        #[arg(long)]
        force: bool,
    },
    /// List the server's scheduled backups and their status.
    List,
}

/// The unseal credentials that open a backup (the same as for `unseal`).
#[derive(Args, Debug)]
pub struct CredentialArgs {
    /// Key-file seal: the unseal key file.
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Shamir seal: a file with one share per line (at least the threshold).
    #[arg(long, value_name = "FILE")]
    pub shares_file: Option<PathBuf>,
    /// Passphrase seal: read the passphrase from this file (default: ask).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// HSM (PKCS#11) seal: the user PIN, one line in this file (or `WEBQX_HSM_PIN`).
    #[arg(long, value_name = "FILE")]
    pub hsm_pin_file: Option<PathBuf>,
    /// HSM seal: the PKCS#11 module, when not where it was at initialization.
    #[arg(long, value_name = "PATH")]
    pub hsm_module: Option<PathBuf>,
    /// HSM seal: the token label, when not the one used at initialization.
    #[arg(long, value_name = "LABEL")]
    pub hsm_token: Option<String>,
}

/// Runs a `backup` command.
pub async fn run(g: &Global, cmd: BackupCommand) -> Result<i32, Failure> {
    match cmd {
        BackupCommand::Create { output, force } => create(g, output, force).await,
        BackupCommand::Verify { file, creds } => verify(g, &file, &creds).await,
        BackupCommand::Restore {
            file,
            creds,
            storage_url,
            schema,
            force,
        } => restore(g, &file, &creds, storage_url, schema, force).await,
        BackupCommand::List => list(g).await,
    }
}

async fn create(g: &Global, output: Option<PathBuf>, force: bool) -> Result<i32, Failure> {
    let path = output.unwrap_or_else(|| {
        PathBuf::from(webqx_backup::retention::file_name(
            chrono::Utc::now().timestamp_millis(),
        ))
    });
    check_output(&path, force)?;
    let client = connect(g)?;
    // A fresh, randomly named file created exclusively (O_EXCL, mode 0600) in the target
    // folder: nothing planted there can redirect the write. Dropping it removes it, so
    // every error path below leaves nothing behind.
    let mut temp = temp_beside(&path)?;
    let bytes = client
        .download("/v1/sys/backup", temp.as_file_mut())
        .await?;
    temp.as_file().sync_all()?;
    temp.persist(&path).map_err(|e| {
        Failure::local(format!(
            "cannot rename the finished backup to {}: {}",
            path.display(),
            e.error
        ))
    })?;
    if g.json {
        print_json(&json!({"file": path.display().to_string(), "bytes": bytes}));
    } else {
        println!("Backup written to {} ({bytes} bytes).", path.display());
        println!("Keep it apart from the unseal credentials; `webqx-sec backup verify` checks it.");
    }
    Ok(0)
}

/// Refuses an output that is not a regular file (folder, device, link, socket...) and
/// an existing file without `--force`, before anything is downloaded.
fn check_output(path: &Path, force: bool) -> Result<(), Failure> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(Failure::local(format!(
                "cannot check {}: {e}; name a file in a folder you may write",
                path.display()
            )));
        }
    };
    let kind = meta.file_type();
    if kind.is_dir() {
        return Err(usage(format!(
            "{} is a folder; name a file inside it, e.g. -o {}",
            path.display(),
            path.join(webqx_backup::retention::file_name(
                chrono::Utc::now().timestamp_millis()
            ))
            .display()
        )));
    }
    if !kind.is_file() {
        return Err(usage(format!(
            "{} exists and is not a regular file (a link, device, pipe or socket); name a \
             new file",
            path.display()
        )));
    }
    if !force {
        return Err(usage(format!(
            "{} exists; name a new file, or pass --force to replace it",
            path.display()
        )));
    }
    Ok(())
}

fn temp_beside(path: &Path) -> Result<tempfile::NamedTempFile, Failure> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "backup".into());
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    webqx_backup::retention::private_temp(folder, &name).map_err(|e| {
        Failure::local(format!(
            "cannot create a file in {}: {e}; check the folder exists and you may write there",
            folder.display()
        ))
    })
}

/// Reads the credentials the backup's seal needs.
fn credentials(file: &Path, args: &CredentialArgs) -> Result<Arc<Credentials>, Failure> {
    let info = webqx_backup::read_header_info(file).map_err(backup_failure)?;
    let creds = match info.seal_kind.as_str() {
        "key-file" => {
            let path = args.key_file.as_ref().ok_or_else(|| {
                usage("this backup opens with the service's key file: pass --key-file FILE")
            })?;
            Credentials::KeyFile(read_file(path)?)
        }
        "shamir" => {
            let path = args.shares_file.as_ref().ok_or_else(|| {
                usage(
                    "this backup opens with Shamir shares: pass --shares-file FILE (one share \
                     per line, at least the threshold)",
                )
            })?;
            let text = read_file(path)?;
            let text = String::from_utf8_lossy(text.expose()).into_owned();
            let shares = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| SecretBytes::from_slice(l.as_bytes()))
                .collect();
            Credentials::Shares(shares)
        }
        "passphrase" => Credentials::Passphrase(read_secret_line(
            "Passphrase: ",
            args.passphrase_file.as_deref(),
        )?),
        "pkcs11" => Credentials::Hsm(webqx_kms::Pkcs11Access {
            module: args.hsm_module.clone(),
            token_label: args.hsm_token.clone(),
            pin: Ok(hsm_pin(args)?),
        }),
        other => {
            return Err(usage(format!(
                "this backup's seal is '{other}', which this command cannot open"
            )));
        }
    };
    Ok(Arc::new(creds))
}

/// The HSM PIN from `--hsm-pin-file` or `WEBQX_HSM_PIN`, never from the command line.
fn hsm_pin(args: &CredentialArgs) -> Result<SecretBytes, Failure> {
    use webqx_server::hsm::{PIN_ENV, read_pin_file};
    match &args.hsm_pin_file {
        Some(path) => read_pin_file(path).map_err(Failure::local),
        None => match std::env::var(PIN_ENV) {
            Ok(pin) if !pin.is_empty() => Ok(SecretBytes::new(pin.into_bytes())),
            _ => Err(usage(format!(
                "this backup opens with its HSM: pass --hsm-pin-file FILE (the user PIN, one \
                 line, mode 0600) or set {PIN_ENV}"
            ))),
        },
    }
}

fn read_file(path: &Path) -> Result<SecretBytes, Failure> {
    std::fs::read(path)
        .map(SecretBytes::new)
        .map_err(|e| Failure::local(format!("cannot read {}: {e}", path.display())))
}

fn usage(message: impl Into<String>) -> Failure {
    Failure::new(Exit::Usage, message)
}

/// Exit codes: 1 for a backup that fails its checks (tampered, truncated, wrong
/// credentials), 6 for local problems.
fn backup_failure(e: BackupError) -> Failure {
    let exit = match &e {
        BackupError::Archive(_) | BackupError::Stream(_) | BackupError::Kms(_) => Exit::CheckFailed,
        _ => Exit::Local,
    };
    Failure::new(exit, e.to_string())
}

async fn verify(g: &Global, file: &Path, args: &CredentialArgs) -> Result<i32, Failure> {
    let creds = credentials(file, args)?;
    let verified = webqx_backup::verify(file, creds)
        .await
        .map_err(backup_failure)?;
    if g.json {
        print_json(&serde_json::to_value(&verified).unwrap_or_default());
        return Ok(0);
    }
    if let Some(m) = &verified.summary.manifest {
        let when = chrono::DateTime::from_timestamp_millis(m.created_ms).unwrap_or_default();
        println!(
            "Backup OK: taken {} from {} (schema {}, webqx-sec {}).",
            when.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            m.backend,
            m.schema_version,
            m.server_version
        );
    }
    for (table, rows) in &verified.summary.tables {
        println!("  {table:<24} {rows} rows");
    }
    for f in &verified.summary.files {
        println!("  file {f}");
    }
    Ok(0)
}

async fn restore(
    g: &Global,
    file: &Path,
    args: &CredentialArgs,
    storage_url: Option<String>,
    schema: Option<String>,
    force: bool,
) -> Result<i32, Failure> {
    let Some(dir) = g.data_dir.clone() else {
        return Err(usage(
            "name the data folder to rebuild with --data-dir DIR (a new or empty folder)",
        ));
    };
    let config = load_config(g)?;
    let url = storage_url.unwrap_or(config.storage.url.clone());
    let postgres = (!url.is_empty()).then(|| webqx_store::StoreConfig {
        url,
        schema: schema.or(config.storage.schema.clone()),
        max_connections: 4,
    });
    let target = RestoreTarget {
        data_dir: dir.clone(),
        postgres,
        force,
    };
    // Refuse a bad target before asking for credentials or decrypting anything.
    webqx_backup::check_target(&target).map_err(backup_failure)?;
    let creds = credentials(file, args)?;
    let report = webqx_backup::restore(file, creds, &target)
        .await
        .map_err(backup_failure)?;
    if g.json {
        print_json(&serde_json::to_value(&report).unwrap_or_default());
        return Ok(0);
    }
    let rows: u64 = report.tables.iter().map(|(_, n)| n).sum();
    println!(
        "Restored {} tables ({rows} rows) and {} files into {}.",
        report.tables.len(),
        report.files.len(),
        dir.display()
    );
    if let Some(aside) = &report.moved_aside {
        println!("The previous folder was moved to {}.", aside.display());
    }
    println!(
        "Start the server on it and unseal with the usual credentials; then run \
         `webqx-sec audit verify`."
    );
    let _ = std::io::stdout().flush();
    Ok(0)
}

async fn list(g: &Global) -> Result<i32, Failure> {
    let client = connect(g)?;
    let answer = client.call(Method::GET, "/v1/sys/backups", None).await?;
    if g.json {
        print_json(&answer);
        return Ok(0);
    }
    match answer["folder"].as_str() {
        Some(folder) => println!("Scheduled backups in {folder}:"),
        None => println!("No scheduled backups ([backup] folder is not set)."),
    }
    for b in answer["backups"].as_array().into_iter().flatten() {
        println!(
            "  {}  {:>12} bytes  {}",
            b["created"].as_str().unwrap_or(""),
            b["bytes"],
            b["name"].as_str().unwrap_or("")
        );
    }
    let status = &answer["status"];
    if let Some(err) = status["last_error"].as_str() {
        println!("Last failure: {err}");
    }
    if let Some(advice) = answer["advice"].as_str() {
        println!("{advice}");
    }
    Ok(0)
}
