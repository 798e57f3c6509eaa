//! `webqx-sec`: the WebQx Security server and its command-line client.
//!
//! `webqx-sec serve` runs the service; every other command talks to it over HTTPS (or,
//! for `init`, `audit verify` and `config check`, works on the data folder directly).

#![forbid(unsafe_code)]

mod alerts;
mod backup;
mod cert_batch;
mod certs;
mod client;
mod commands;
mod events;
mod exit;
mod file;
mod hunt;
mod oauth;
mod output;
mod pki;
mod scan;
mod tde;
mod vuln;
mod vuln_server;

use clap::{Args, CommandFactory, Parser, Subcommand};
use exit::{Exit, Failure};
use std::path::PathBuf;

/// mimalloc in place of glibc's malloc: building and freeing events (JSON maps, their
/// keys and strings) is most of what `hunt` and the event intake allocate, and glibc's
/// malloc and free took over a third of a hunt (docs/benchmarks.md, detection). Built
/// without transparent huge pages (`no_thp`): with them the idle server held 87 MiB
/// instead of glibc's 60 MiB, and hunt ran no faster.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EXIT_CODES: &str = "\
Exit codes: 0 ok, 1 a check failed (audit chain broken, signature not valid, TLS scan
verdict failed, vuln scan found vulnerabilities),
2 usage, 3 cannot reach the server, 4 request refused (4xx), 5 server error or
unavailable, sealed included (5xx), 6 local problem (configuration, files).
vuln: 3 advisory database missing or stale, 4 a lockfile could not be read.
hunt: 1 an alert at or above --fail-on, 4 an input, rule folder or context unreadable.
events send: 1 an item rejected (by the server, or a line no event can be made of).";

/// WebQx Security: key management, PHI encryption, audit for the WebQx EHR.
#[derive(Parser, Debug)]
#[command(name = "webqx-sec", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Data folder (SQLite store, TLS material, admin token).
    #[arg(long, global = true, env = "WEBQX_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Configuration file (default: ./webqx-sec.toml when present).
    #[arg(long, global = true, env = "WEBQX_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Server address (default: the local data folder's server).
    #[arg(long, global = true, env = "WEBQX_ADDR", value_name = "URL")]
    pub addr: Option<String>,
    /// API token (default: the local data folder's admin token).
    #[arg(
        long,
        global = true,
        env = "WEBQX_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// CA certificate to trust (default: the local data folder's CA).
    #[arg(
        long = "ca-cert",
        global = true,
        env = "WEBQX_CACERT",
        value_name = "FILE"
    )]
    pub ca_cert: Option<PathBuf>,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    pub json: bool,
    /// Pin the server's key: refuse it unless its chain matches one of these SPKI pins
    /// (`pin-sha256="…"`; repeat, or `;`-separated in WEBQX_PINS).
    #[arg(
        long = "pin",
        global = true,
        env = "WEBQX_PINS",
        value_name = "PIN",
        value_delimiter = ';'
    )]
    pub pins: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (HTTPS, TLS 1.3). On an empty data folder it initializes itself
    /// for local use first.
    Serve {
        /// Address to listen on (overrides server.listen).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Initialize for production: the server then starts sealed.
    Init(commands::InitArgs),
    /// Give the sealed server an unseal share (or its passphrase).
    Unseal(commands::UnsealArgs),
    /// Seal the server: every key operation is refused until unsealed.
    Seal,
    /// Rotate the HSM key (PKCS#11 seal): re-wrap the root key under a new key generated
    /// in the token named by the server's `[seal]` section.
    Rewrap {
        /// Label for the new key (default: the server's seal.key_label).
        #[arg(long)]
        key_label: Option<String>,
    },
    /// Show health and seal state.
    Status,
    /// Key rings: lifecycle and operations.
    #[command(subcommand)]
    Key(commands::KeyCommand),
    /// Protect or restore PHI elements of FHIR resources.
    #[command(subcommand)]
    Fhir(commands::FhirCommand),
    /// Encrypt and decrypt files with a data key from the server (contents stay local).
    #[command(subcommand)]
    File(file::FileCommand),
    /// API tokens.
    #[command(subcommand)]
    Token(commands::TokenCommand),
    /// The audit trail.
    #[command(subcommand)]
    Audit(commands::AuditCommand),
    /// Encrypted backups of the store: create, verify, restore, list.
    #[command(subcommand)]
    Backup(backup::BackupCommand),
    /// The configuration file.
    #[command(subcommand)]
    Config(commands::ConfigCommand),
    /// Database data-at-rest encryption keys (MariaDB).
    #[command(subcommand)]
    Tde(tde::TdeCommand),
    /// Certificates from the service's CA: issue, sign CSRs, list, show, revoke, CRL.
    #[command(subcommand)]
    Cert(pki::CertCommand),
    /// The CA hierarchy: root and intermediates.
    #[command(subcommand)]
    Ca(pki::CaCommand),
    /// The OAuth 2.0 authorization server: clients, tokens, verification.
    #[command(subcommand)]
    Oauth(oauth::OauthCommand),
    /// Alerts from security monitoring: list, show, acknowledge, close, watch live,
    /// suppressions.
    #[command(subcommand)]
    Alerts(alerts::AlertsCommand),
    /// Send events (JSON, or log lines normalized first) into security monitoring.
    #[command(subcommand)]
    Events(events::EventsCommand),
    /// Scanners (local: no server needed). `scan tls` exits 1 when the verdict fails.
    #[command(subcommand)]
    Scan(scan::ScanCommand),
    /// Vulnerability scanning: the local advisory database and lockfile scans (no server
    /// needed), and the server's scheduled scans (`vuln target`, `vuln results`).
    /// `vuln scan` exits 1 on findings at or above --fail-on, 3 when the database is
    /// missing, 4 when an input file cannot be read.
    #[command(subcommand)]
    Vuln(vuln::VulnCommand),
    /// Hunt through log files offline with the detection rules (no server needed).
    /// Exit 0 when nothing fired at or above --fail-on, 1 when something did, 2 usage,
    /// 4 an input, rule folder or context could not be read.
    Hunt(hunt::HuntArgs),
    /// Print shell completions.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Write man pages into a folder.
    Man {
        /// Folder to write into.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
}

/// A reader that went away (`webqx-sec key list | head`) ends the program quietly, as
/// SIGPIPE would, instead of a panic from `println!`: exit 141 (128 + SIGPIPE), which a
/// shell reports for a pipe closed early.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn main() {
    quiet_on_broken_pipe();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::exit(Exit::Local as i32);
        }
    };
    let json = cli.global.json;
    let code = match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(failure) => {
            if json {
                let doc = failure
                    .problem
                    .clone()
                    .unwrap_or_else(|| serde_json::json!({"detail": failure.message}));
                println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            }
            // Server messages may quote what a site or an attacker wrote (rule titles,
            // names): escaped line by line, so no terminal control sequence gets through.
            let shown: Vec<String> = failure.message.lines().map(output::visible).collect();
            eprintln!("error: {}", shown.join("\n"));
            if let Some(errors) = failure
                .problem
                .as_ref()
                .and_then(|p| p.get("errors"))
                .and_then(|e| e.as_array())
            {
                for e in errors.iter().take(50) {
                    eprintln!("  - {}", output::item_line(e));
                }
            }
            failure.exit as i32
        }
    };
    std::process::exit(code);
}

async fn run(cli: Cli) -> Result<i32, Failure> {
    match cli.command {
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "webqx-sec", &mut script);
            // A closed pipe (`| head`) is not an error worth a message.
            let _ = std::io::Write::write_all(&mut std::io::stdout(), &script);
            Ok(0)
        }
        Command::Man { out } => commands::man(&out).map(|()| 0),
        Command::Serve { listen } => commands::serve(&cli.global, listen).await.map(|()| 0),
        Command::Init(args) => commands::init(&cli.global, args).await.map(|()| 0),
        Command::Config(c) => commands::config(&cli.global, c),
        Command::Audit(a) => commands::audit(&cli.global, a).await,
        Command::Unseal(args) => commands::unseal(&cli.global, args).await.map(|()| 0),
        Command::Seal => commands::seal(&cli.global).await.map(|()| 0),
        Command::Rewrap { key_label } => commands::rewrap(&cli.global, key_label).await.map(|()| 0),
        Command::Status => commands::status(&cli.global).await,
        Command::Key(k) => commands::key(&cli.global, k).await,
        Command::Fhir(f) => commands::fhir(&cli.global, f).await.map(|()| 0),
        Command::File(f) => file::file(&cli.global, f).await,
        Command::Token(t) => commands::token(&cli.global, t).await.map(|()| 0),
        Command::Backup(b) => backup::run(&cli.global, b).await,
        Command::Tde(t) => tde::run(&cli.global, t).await.map(|()| 0),
        Command::Cert(pki::CertCommand::Trust(t)) => certs::run(&cli.global, t).await,
        Command::Cert(pki::CertCommand::Issue(a)) if a.batch.is_some() => {
            cert_batch::run(&cli.global, a).await
        }
        Command::Cert(c) => pki::cert(&cli.global, c).await.map(|()| 0),
        Command::Ca(c) => pki::ca(&cli.global, c).await.map(|()| 0),
        Command::Scan(s) => scan::run(cli.global.json, s).await,
        Command::Oauth(o) => oauth::run(&cli.global, o).await,
        Command::Vuln(v) => vuln::run(&cli.global, v).await,
        Command::Hunt(h) => hunt::run(cli.global.json, h),
        Command::Alerts(a) => alerts::alerts(&cli.global, a).await,
        Command::Events(e) => events::run(&cli.global, e).await,
    }
}
