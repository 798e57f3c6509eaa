//! `file encrypt|decrypt|inspect`: the streaming file format ([`webqx_crypto::stream`])
//! with a data key from the server. The server makes and unwraps the data key; file
//! contents never leave this process.
//!
//! Output files are written to a temporary file in OUT's folder and given OUT's name
//! only when the whole input has been processed (and, when decrypting, authenticated),
//! so a failure never leaves a partial file behind. On Linux the temporary file is
//! unnamed (`O_TMPFILE`): until it is linked as OUT it has no name at all, so even a
//! process killed with SIGKILL leaves nothing behind (the kernel frees it). Where the
//! filesystem has no `O_TMPFILE`, a named `.webqx-partial-*` file is used instead and
//! removed on failure, SIGINT and SIGTERM; SIGKILL cannot be caught, so that fallback
//! can leave it behind. With OUT `-` (stdout) none of this can hold: plaintext is
//! written as segments authenticate and a failure exits non-zero, which the consumer
//! must honour.

use crate::Global;
use crate::client::Client;
use crate::exit::{Exit, Failure};
use crate::output::print_json;
use base64::Engine as _;
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};
use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use webqx_crypto::SecretBytes;
use webqx_crypto::stream::{self, FileHeader, StreamError, StreamOptions};
use webqx_kms::FILE_KEY_CONTEXT;

/// `file …`.
#[derive(Subcommand, Debug)]
pub enum FileCommand {
    /// Encrypt IN to OUT with a fresh data key from key ring --key.
    Encrypt {
        /// File to encrypt (`-`: standard input).
        input: PathBuf,
        /// Encrypted file to write (`-`: standard output).
        output: PathBuf,
        /// Key ring that wraps the data key (an encryption ring: aes256-gcm,
        /// chacha20-poly1305 or aes256-siv).
        #[arg(long, value_name = "RING")]
        key: String,
        /// Replace OUT if it exists.
        #[arg(long)]
        force: bool,
        /// Worker threads (0: one per core; at most 256).
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
    /// Decrypt IN to OUT; the key ring is named in the file.
    Decrypt {
        /// Encrypted file (`-`: standard input).
        input: PathBuf,
        /// Plaintext to write (`-`: standard output, written as it authenticates).
        output: PathBuf,
        /// Replace OUT if it exists.
        #[arg(long)]
        force: bool,
        /// Worker threads (0: one per core; at most 256).
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
    /// Show an encrypted file's header (no secrets; nothing is decrypted).
    Inspect {
        /// Encrypted file (`-`: standard input).
        input: PathBuf,
    },
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn is_dash(p: &Path) -> bool {
    p.as_os_str() == "-"
}

/// The failure for a stream error: authentication problems are a failed check (exit 1).
fn stream_failure(what: &Path, e: StreamError) -> Failure {
    let exit = match e {
        StreamError::WrongKeyOrTampered | StreamError::Truncated | StreamError::TrailingData => {
            Exit::CheckFailed
        }
        _ => Exit::Local,
    };
    Failure::new(exit, format!("{}: {e}", what.display()))
}

/// `file …`. Returns the exit code.
pub async fn file(g: &Global, cmd: FileCommand) -> Result<i32, Failure> {
    let client = || crate::commands::connect(g);
    match cmd {
        FileCommand::Encrypt {
            input,
            output,
            key,
            force,
            threads,
        } => {
            check_threads(threads)?;
            if !webqx_crypto::envelope::valid_key_name(&key) {
                return Err(Failure::usage(format!(
                    "--key {key:?} is not a key ring name: give 1 to 128 characters from \
                     A-Z a-z 0-9 . _ - not starting with . or -"
                )));
            }
            let source = Source::open(&input)?;
            let sink = Sink::prepare(&output, force)?;
            let (header, data_key) = new_data_key(&client()?, &key).await?;
            let opts = options(threads, &source);
            let n = pump(sink, &input, move |out| {
                stream::encrypt(&header, data_key.expose(), source.reader, out, &opts)
            })
            .await?;
            // display(): a path need not be UTF-8, and JSON strings must be.
            let output = output.display().to_string();
            report(
                g,
                &json!({"encrypted_bytes": n, "key": key, "output": output}),
            );
            Ok(0)
        }
        FileCommand::Decrypt {
            input,
            output,
            force,
            threads,
        } => {
            check_threads(threads)?;
            let mut source = Source::open(&input)?;
            let header =
                stream::read_header(&mut source.reader).map_err(|e| stream_failure(&input, e))?;
            let sink = Sink::prepare(&output, force)?;
            let data_key = open_data_key(&client()?, &header).await?;
            let opts = options(threads, &source);
            let n = pump(sink, &input, move |out| {
                stream::decrypt(&header, data_key.expose(), source.reader, out, &opts)
            })
            .await?;
            let output = output.display().to_string();
            report(g, &json!({"decrypted_bytes": n, "output": output}));
            Ok(0)
        }
        FileCommand::Inspect { input } => {
            let mut source = Source::open(&input)?;
            let h =
                stream::read_header(&mut source.reader).map_err(|e| stream_failure(&input, e))?;
            let doc = json!({
                "format": "WQXF",
                "version": stream::VERSION,
                "key": h.key_name,
                "key_version": h.key_version,
                "segment_size": h.segment_size(),
                "wrapped_key_bytes": h.wrapped_key.len(),
                "extensions_bytes": h.extensions.len(),
                "authenticated": false,
            });
            if g.json {
                print_json(&doc);
            } else {
                println!("format:        WQXF version {}", stream::VERSION);
                println!("key ring:      {} (version {})", h.key_name, h.key_version);
                println!("segment size:  {} bytes", h.segment_size());
                println!("extensions:    {} bytes", h.extensions.len());
                println!("(header not authenticated: decrypting checks it)");
            }
            Ok(0)
        }
    }
}

fn check_threads(threads: usize) -> Result<(), Failure> {
    if threads > stream::MAX_THREADS {
        return Err(Failure::usage(format!(
            "--threads {threads} is more than {}; give 0 (one per core) or fewer",
            stream::MAX_THREADS
        )));
    }
    Ok(())
}

fn report(g: &Global, doc: &Value) {
    if g.json {
        print_json(doc);
    }
}

/// Runs one stream operation into `sink` on a blocking thread, then gives the output its
/// name: only after the whole input was processed (and, decrypting, authenticated).
async fn pump(
    sink: Sink,
    input: &Path,
    work: impl FnOnce(&mut Box<dyn Write + Send>) -> Result<u64, StreamError> + Send + 'static,
) -> Result<u64, Failure> {
    let (sink, n) = run_blocking(move || {
        let mut sink = sink;
        let n = work(&mut sink.writer);
        (sink, n)
    })
    .await?;
    let n = n.map_err(|e| stream_failure(input, e))?;
    sink.commit()?;
    Ok(n)
}

async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Failure::local(format!("the file worker stopped: {e}")))
}

/// Asks the server for a 256-bit data key bound to the file context.
async fn new_data_key(client: &Client, ring: &str) -> Result<(FileHeader, SecretBytes), Failure> {
    let body = json!({"bits": 256, "context": b64(FILE_KEY_CONTEXT)});
    let path = format!("/v1/keys/{}/datakey", crate::commands::path_segment(ring));
    let out = client.call(Method::POST, &path, Some(&body)).await?;
    let key = secret_field(&out, "plaintext")?;
    let wrapped = out["ciphertext"].as_str().unwrap_or_default();
    let version = out["key_version"]
        .as_u64()
        .and_then(|v| u32::try_from(v).ok());
    let (Some(version), false) = (version, wrapped.is_empty()) else {
        return Err(Failure::new(
            Exit::Server,
            "the server's data key answer is incomplete",
        ));
    };
    Ok((
        FileHeader::new(ring, version, wrapped.as_bytes().to_vec()),
        key,
    ))
}

/// Asks the server to unwrap the data key named in `header`.
async fn open_data_key(client: &Client, header: &FileHeader) -> Result<SecretBytes, Failure> {
    let wrapped = String::from_utf8(header.wrapped_key.clone())
        .map_err(|_| Failure::new(Exit::CheckFailed, "the file's wrapped key is damaged"))?;
    let body = json!({"ciphertext": wrapped, "context": b64(FILE_KEY_CONTEXT)});
    let path = format!(
        "/v1/keys/{}/decrypt",
        crate::commands::path_segment(&header.key_name)
    );
    let out = client.call(Method::POST, &path, Some(&body)).await?;
    secret_field(&out, "plaintext")
}

fn secret_field(out: &Value, field: &str) -> Result<SecretBytes, Failure> {
    let text = out[field].as_str().unwrap_or_default();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| Failure::new(Exit::Server, format!("the server's {field} is not base64")))?;
    let key = SecretBytes::new(bytes);
    if key.len() != stream::DATA_KEY_LEN {
        return Err(Failure::new(
            Exit::Server,
            "the server's data key is not 32 bytes",
        ));
    }
    Ok(key)
}

/// The progress bar counts input bytes consumed against the input's size, so it ends
/// at 100% whichever way the data goes (ciphertext is longer than plaintext).
fn options(threads: usize, source: &Source) -> StreamOptions {
    let mut opts = StreamOptions {
        threads,
        progress: None,
    };
    if std::io::stderr().is_terminal() {
        let total = source.len;
        let consumed = source.consumed.clone();
        let bar = match total {
            Some(n) => indicatif::ProgressBar::new(n),
            None => indicatif::ProgressBar::new_spinner(),
        };
        let style = indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} {eta}",
        );
        if let (Ok(style), Some(_)) = (style, total) {
            bar.set_style(style);
        }
        opts.progress = Some(Arc::new(move |_| {
            bar.set_position(consumed.load(Ordering::Relaxed));
        }));
    }
    opts
}

/// Where the input comes from, its size when known and how much was read (for the
/// progress bar).
struct Source {
    reader: Box<dyn Read + Send>,
    len: Option<u64>,
    consumed: Arc<AtomicU64>,
}

/// Counts the bytes read through it.
struct Counted {
    inner: Box<dyn Read + Send>,
    consumed: Arc<AtomicU64>,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl Source {
    fn open(path: &Path) -> Result<Source, Failure> {
        let consumed = Arc::new(AtomicU64::new(0));
        let counted = |inner: Box<dyn Read + Send>| -> Box<dyn Read + Send> {
            Box::new(Counted {
                inner,
                consumed: consumed.clone(),
            })
        };
        if is_dash(path) {
            return Ok(Source {
                reader: counted(Box::new(std::io::stdin())),
                len: None,
                consumed,
            });
        }
        let file = File::open(path)
            .map_err(|e| Failure::local(format!("cannot open {}: {e}", path.display())))?;
        let len = file
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len());
        Ok(Source {
            reader: counted(Box::new(file)),
            len,
            consumed,
        })
    }
}

/// Where output goes: a temporary file in OUT's folder, given OUT's name by
/// [`Sink::commit`] (dropped without commit, it disappears), or standard output.
struct Sink {
    writer: Box<dyn Write + Send>,
    temp: Option<Temp>,
}

/// The temporary file behind a [`Sink`] and where it goes.
struct Temp {
    kind: TempKind,
    target: PathBuf,
    force: bool,
}

enum TempKind {
    /// An `O_TMPFILE` file with no name yet (a second descriptor of it, for linking).
    #[cfg(target_os = "linux")]
    Unnamed(File),
    /// A named file, deleted on drop and on SIGINT/SIGTERM (see [`cleanup_on_signal`]).
    Named(tempfile::TempPath),
}

impl Sink {
    fn prepare(path: &Path, force: bool) -> Result<Sink, Failure> {
        if is_dash(path) {
            return Ok(Sink {
                writer: Box::new(std::io::stdout()),
                temp: None,
            });
        }
        // Follows symlinks: a link to a device is refused like the device.
        if let Ok(meta) = std::fs::metadata(path)
            && !meta.is_file()
        {
            return Err(Failure::usage(format!(
                "{} exists and is not a regular file (a device, FIFO, socket or folder); \
                 it is never replaced: give `-` to write to standard output",
                path.display()
            )));
        }
        if !force && path.exists() {
            return Err(Failure::usage(format!(
                "{} exists; give --force to replace it",
                path.display()
            )));
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let cannot =
            |e: std::io::Error| Failure::local(format!("cannot write in {}: {e}", dir.display()));
        let (file, kind) = match unnamed_file(dir).map_err(cannot)? {
            Some(pair) => pair,
            None => named_file(dir).map_err(cannot)?,
        };
        Ok(Sink {
            writer: Box::new(BackgroundWriter::new(file).map_err(cannot)?),
            temp: Some(Temp {
                kind,
                target: path.to_path_buf(),
                force,
            }),
        })
    }

    fn commit(self) -> Result<(), Failure> {
        let Sink { writer, temp } = self;
        drop(writer);
        let Some(Temp {
            kind,
            target,
            force,
        }) = temp
        else {
            return Ok(());
        };
        let fail =
            |e: std::io::Error| Failure::local(format!("cannot create {}: {e}", target.display()));
        match kind {
            #[cfg(target_os = "linux")]
            TempKind::Unnamed(file) => link_unnamed(&file, &target, force).map_err(fail),
            TempKind::Named(temp_path) => {
                let named = temp_path.to_path_buf();
                let done = if force {
                    temp_path.persist(&target).map_err(|e| fail(e.error))
                } else {
                    temp_path
                        .persist_noclobber(&target)
                        .map_err(|e| fail(e.error))
                };
                forget_on_signal(&named);
                done
            }
        }
    }
}

/// Set in tests to exercise the named fallback on filesystems that have `O_TMPFILE`.
const NO_TMPFILE_ENV: &str = "WEBQX_TEST_NO_O_TMPFILE";

/// An unnamed file in `dir` (Linux `O_TMPFILE`), or `None` where the filesystem or
/// kernel has none or `/proc` is not mounted.
#[cfg(target_os = "linux")]
fn unnamed_file(dir: &Path) -> std::io::Result<Option<(File, TempKind)>> {
    use rustix::fs::{Mode, OFlags};
    use rustix::io::Errno;
    // Linking it later goes through /proc/self/fd; without /proc it could not be named.
    if std::env::var_os(NO_TMPFILE_ENV).is_some() || !Path::new("/proc/self/fd").is_dir() {
        return Ok(None);
    }
    let flags = OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC;
    match rustix::fs::open(dir, flags, Mode::from_raw_mode(0o600)) {
        Ok(fd) => {
            let file = File::from(fd);
            let link = file.try_clone()?;
            Ok(Some((file, TempKind::Unnamed(link))))
        }
        Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(target_os = "linux"))]
fn unnamed_file(_dir: &Path) -> std::io::Result<Option<(File, TempKind)>> {
    let _ = NO_TMPFILE_ENV;
    Ok(None)
}

/// A named `.webqx-partial-*` file in `dir`, removed on SIGINT and SIGTERM.
fn named_file(dir: &Path) -> std::io::Result<(File, TempKind)> {
    let temp = tempfile::Builder::new()
        .prefix(".webqx-partial-")
        .tempfile_in(dir)?;
    let (file, temp_path) = temp.into_parts();
    cleanup_on_signal(temp_path.to_path_buf());
    Ok((file, TempKind::Named(temp_path)))
}

/// Gives the unnamed `file` the name `target`: without `force` the link fails if
/// `target` exists; with it, the file is linked under a fresh temporary name and
/// renamed over `target`.
#[cfg(target_os = "linux")]
fn link_unnamed(file: &File, target: &Path, force: bool) -> std::io::Result<()> {
    use rustix::fs::{AtFlags, CWD};
    use std::os::fd::AsRawFd as _;
    let proc_path = format!("/proc/self/fd/{}", file.as_raw_fd());
    let link = |dest: &Path| {
        rustix::fs::linkat(CWD, proc_path.as_str(), CWD, dest, AtFlags::SYMLINK_FOLLOW)
            .map_err(std::io::Error::from)
    };
    if !force {
        return link(target);
    }
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let named = tempfile::Builder::new()
        .prefix(".webqx-partial-")
        .make_in(dir, |p| link(p))?;
    named.persist(target).map(drop).map_err(|e| e.error)
}

/// Named temporary files to delete if SIGINT or SIGTERM arrives.
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Registers `path` for deletion on SIGINT/SIGTERM, and starts the task that waits for
/// them (once). The process then exits 130 (SIGINT) or 143 (SIGTERM).
fn cleanup_on_signal(path: PathBuf) {
    static STARTED: std::sync::Once = std::sync::Once::new();
    if let Ok(mut pending) = PENDING.lock() {
        pending.push(path);
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    STARTED.call_once(|| {
        runtime.spawn(async {
            let code = wait_for_signal().await;
            if let Ok(pending) = PENDING.lock() {
                for path in pending.iter() {
                    let _ = std::fs::remove_file(path);
                }
            }
            std::process::exit(code);
        });
    });
}

#[cfg(unix)]
async fn wait_for_signal() -> i32 {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return 130;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => 130,
        _ = term.recv() => 143,
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> i32 {
    let _ = tokio::signal::ctrl_c().await;
    130
}

fn forget_on_signal(path: &Path) {
    if let Ok(mut pending) = PENDING.lock() {
        pending.retain(|p| p != path);
    }
}

/// Writes a file on its own thread, so writing overlaps with reading and sealing (the
/// stream engine does both of those on the calling thread). At most 8 segments wait.
/// `flush` waits for every write and syncs the file to disk, so the rename in
/// [`Sink::commit`] never publishes a file whose data is not yet durable.
struct BackgroundWriter {
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl BackgroundWriter {
    fn new(mut file: File) -> std::io::Result<BackgroundWriter> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(8);
        let thread = std::thread::Builder::new()
            .name("file-writer".into())
            .spawn(move || {
                for buf in rx {
                    file.write_all(&buf)?;
                }
                file.sync_all()
            })?;
        Ok(BackgroundWriter {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Closes the queue and waits for the thread: its first error, or success.
    fn finish(&mut self) -> std::io::Result<()> {
        drop(self.tx.take());
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| std::io::Error::other("the file writer thread failed"))?,
            None => Ok(()),
        }
    }
}

impl Write for BackgroundWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let sent = match &self.tx {
            Some(tx) => tx.send(buf.to_vec()).is_ok(),
            None => false,
        };
        if !sent {
            // The thread stopped: report its error.
            let err = self.finish().err();
            return Err(err.unwrap_or_else(|| std::io::Error::other("output already closed")));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.finish()
    }
}

impl Drop for BackgroundWriter {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}
