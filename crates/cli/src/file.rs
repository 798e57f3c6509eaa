//! `file encrypt|decrypt|inspect`: the streaming file format ([`webqx_crypto::stream`])
//! with a data key from the server. The server makes and unwraps the data key; file
//! contents never leave this process.
//!
//! Output files are written to a temporary file beside OUT and renamed over it only
//! when the whole input has been processed (and, when decrypting, authenticated), so a
//! failure never leaves a partial file behind. With OUT `-` (stdout) that guarantee
//! cannot hold: plaintext is written as segments authenticate and a failure exits
//! non-zero, which the consumer must honour.

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
use std::sync::Arc;
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
        /// Key ring (type aes256-gcm or chacha20-poly1305) that wraps the data key.
        #[arg(long, value_name = "RING")]
        key: String,
        /// Replace OUT if it exists.
        #[arg(long)]
        force: bool,
        /// Worker threads (0: one per core).
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
        /// Worker threads (0: one per core).
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
            let source = Source::open(&input)?;
            let sink = Sink::prepare(&output, force)?;
            let (header, data_key) = new_data_key(&client()?, &key).await?;
            let opts = options(threads, source.len);
            let (sink, n) = run_blocking(move || {
                let mut sink = sink;
                let n = stream::encrypt(
                    &header,
                    data_key.expose(),
                    source.reader,
                    &mut sink.writer,
                    &opts,
                );
                (sink, n)
            })
            .await?;
            let n = n.map_err(|e| stream_failure(&input, e))?;
            sink.commit()?;
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
            let mut source = Source::open(&input)?;
            let header =
                stream::read_header(&mut source.reader).map_err(|e| stream_failure(&input, e))?;
            let sink = Sink::prepare(&output, force)?;
            let data_key = open_data_key(&client()?, &header).await?;
            let opts = options(threads, source.len);
            let (sink, n) = run_blocking(move || {
                let mut sink = sink;
                let n = stream::decrypt(
                    &header,
                    data_key.expose(),
                    source.reader,
                    &mut sink.writer,
                    &opts,
                );
                (sink, n)
            })
            .await?;
            let n = n.map_err(|e| stream_failure(&input, e))?;
            sink.commit()?;
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

fn report(g: &Global, doc: &Value) {
    if g.json {
        print_json(doc);
    }
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

fn options(threads: usize, total: Option<u64>) -> StreamOptions {
    let mut opts = StreamOptions {
        threads,
        progress: None,
    };
    if std::io::stderr().is_terminal() {
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
        opts.progress = Some(Arc::new(move |done| bar.set_position(done)));
    }
    opts
}

/// Where the input comes from, and its size when known (for the progress bar).
struct Source {
    reader: Box<dyn Read + Send>,
    len: Option<u64>,
}

impl Source {
    fn open(path: &Path) -> Result<Source, Failure> {
        if is_dash(path) {
            return Ok(Source {
                reader: Box::new(std::io::stdin()),
                len: None,
            });
        }
        let file = File::open(path)
            .map_err(|e| Failure::local(format!("cannot open {}: {e}", path.display())))?;
        let len = file.metadata().ok().map(|m| m.len());
        Ok(Source {
            reader: Box::new(file),
            len,
        })
    }
}

/// Where output goes: a temporary file beside OUT, renamed over it by [`Sink::commit`]
/// (dropped without commit, it is deleted), or standard output.
struct Sink {
    writer: Box<dyn Write + Send>,
    temp: Option<(tempfile::TempPath, PathBuf, bool)>,
}

impl Sink {
    fn prepare(path: &Path, force: bool) -> Result<Sink, Failure> {
        if is_dash(path) {
            return Ok(Sink {
                writer: Box::new(std::io::stdout()),
                temp: None,
            });
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
        let temp = tempfile::Builder::new()
            .prefix(".webqx-partial-")
            .tempfile_in(dir)
            .map_err(|e| Failure::local(format!("cannot write in {}: {e}", dir.display())))?;
        let (file, temp_path) = temp.into_parts();
        Ok(Sink {
            writer: Box::new(BackgroundWriter::new(file)),
            temp: Some((temp_path, path.to_path_buf(), force)),
        })
    }

    fn commit(self) -> Result<(), Failure> {
        let Sink { writer, temp } = self;
        drop(writer);
        let Some((temp_path, target, force)) = temp else {
            return Ok(());
        };
        let fail =
            |e: std::io::Error| Failure::local(format!("cannot create {}: {e}", target.display()));
        if force {
            temp_path.persist(&target).map_err(|e| fail(e.error))
        } else {
            temp_path
                .persist_noclobber(&target)
                .map_err(|e| fail(e.error))
        }
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
    fn new(mut file: File) -> BackgroundWriter {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(8);
        let thread = std::thread::spawn(move || {
            for buf in rx {
                file.write_all(&buf)?;
            }
            file.sync_all()
        });
        BackgroundWriter {
            tx: Some(tx),
            thread: Some(thread),
        }
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
