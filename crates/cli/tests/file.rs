//! `webqx-sec file encrypt|decrypt|inspect` through the real binary and server: round
//! trips over files and stdin/stdout, refusals with clear messages and exit codes, and
//! no partial output on any failure.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use webqx_testkit::server::{Server, stderr, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_webqx-sec");
const SEG: usize = 128 * 1024;

fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn data(len: usize) -> Vec<u8> {
    let line = b"MRN 004217; Jane Q. Doe; dx: chest pain; ";
    line.iter().copied().cycle().take(len).collect()
}

struct Env {
    server: Server,
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let server = Server::start(BIN, &[]);
        let env = Env {
            server,
            dir: tempfile::tempdir().unwrap(),
        };
        env.ok(&["key", "create", "files", "--type", "aes256-gcm"]);
        env
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        self.server.cli(args)
    }

    /// The CLI against this server with arguments that need not be UTF-8, not started.
    fn command(&self, args: &[&OsStr]) -> Command {
        let mut cmd = Command::new(&self.server.bin);
        cmd.arg("--data-dir")
            .arg(&self.server.data)
            .args(args)
            .envs(self.server.env.iter().map(|(k, v)| (k, v)))
            .env_remove("WEBQX_TOKEN")
            .env_remove("WEBQX_ADDR")
            .env_remove("WEBQX_CACERT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
        stdout(&o)
    }

    fn encrypt(&self, plain: &[u8], name: &str) -> PathBuf {
        let input = self.path(&format!("{name}.plain"));
        std::fs::write(&input, plain).unwrap();
        let out = self.path(&format!("{name}.wqx"));
        self.ok(&["file", "encrypt", s(&input), s(&out), "--key", "files"]);
        out
    }

    /// Files in the folder whose names say they are partial output.
    fn leftovers(&self) -> Vec<String> {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".webqx-partial"))
            .collect()
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn files_of_every_boundary_size_round_trip_and_inspect_names_the_key() {
    let env = Env::new();
    for len in [0, 1, SEG - 1, SEG, SEG + 1, 3 * SEG + 17] {
        let plain = data(len);
        let enc = env.encrypt(&plain, &format!("f{len}"));
        let sealed = std::fs::read(&enc).unwrap();
        if len > 100 {
            assert!(
                !sealed.windows(20).any(|w| w == &plain[..20]),
                "plaintext visible"
            );
        }
        let out = env.path(&format!("f{len}.out"));
        env.ok(&["file", "decrypt", s(&enc), s(&out)]);
        assert_eq!(std::fs::read(&out).unwrap(), plain, "len {len}");
    }
    let enc = env.path("f1.wqx");
    let shown = env.ok(&["file", "inspect", s(&enc)]);
    assert!(
        shown.contains("key ring:      files (version 1)"),
        "{shown}"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&env.ok(&["--json", "file", "inspect", s(&enc)])).unwrap();
    assert_eq!(doc["key"], "files");
    assert_eq!(doc["segment_size"], SEG);
    assert!(env.leftovers().is_empty());
}

#[test]
fn stdin_to_stdout_round_trips() {
    let env = Env::new();
    let plain = data(20_000);
    let enc = env.server.cli_with(
        &["file", "encrypt", "-", "-", "--key", "files"],
        Some(&plain),
    );
    assert_eq!(code(&enc), 0, "{}", stderr(&enc));
    assert!(enc.stdout.starts_with(b"WQXF"));
    let dec = env
        .server
        .cli_with(&["file", "decrypt", "-", "-"], Some(&enc.stdout));
    assert_eq!(code(&dec), 0, "{}", stderr(&dec));
    assert_eq!(dec.stdout, plain);
}

#[test]
fn an_existing_output_is_kept_unless_forced() {
    let env = Env::new();
    let enc = env.encrypt(b"first", "a");
    let out = env.path("a.out");
    std::fs::write(&out, b"precious").unwrap();
    let o = env.run(&["file", "decrypt", s(&enc), s(&out)]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    env.ok(&["file", "decrypt", s(&enc), s(&out), "--force"]);
    assert_eq!(std::fs::read(&out).unwrap(), b"first");
}

#[test]
fn damaged_files_are_refused_with_clear_errors_and_no_partial_output() {
    let env = Env::new();
    let plain = data(3 * SEG + 5);
    let enc = env.encrypt(&plain, "big");
    let sealed = std::fs::read(&enc).unwrap();

    let mut late_flip = sealed.clone();
    let at = late_flip.len() - 3;
    late_flip[at] ^= 1;
    let truncated = sealed[..sealed.len() - (5 + 16)].to_vec();
    let mut appended = sealed.clone();
    appended.extend_from_slice(b"garbage");
    let cases: [(&str, Vec<u8>, i32, &str); 5] = [
        ("tampered", late_flip, 1, "modified"),
        ("truncated", truncated, 1, "truncated"),
        ("appended", appended, 1, "modified"),
        (
            "age",
            b"age-encryption.org/v1\n-> X25519 abc\n".to_vec(),
            6,
            "not a WebQx encrypted file",
        ),
        ("empty", Vec::new(), 6, "the input is empty"),
    ];
    for (name, bytes, want, says) in cases {
        let input = env.path(&format!("{name}.wqx"));
        std::fs::write(&input, bytes).unwrap();
        let out = env.path(&format!("{name}.out"));
        let o = env.run(&["file", "decrypt", s(&input), s(&out)]);
        assert_eq!(code(&o), want, "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{name}: {}", stderr(&o));
        assert!(!out.exists(), "{name}: partial plaintext left behind");
        assert!(env.leftovers().is_empty(), "{name}: {:?}", env.leftovers());
    }
}

#[test]
fn a_file_is_refused_when_its_key_ring_cannot_unwrap_it() {
    let env = Env::new();
    env.ok(&["key", "create", "other", "--type", "aes256-gcm"]);
    let enc = env.encrypt(b"for files only", "k");
    let mut moved = std::fs::read(&enc).unwrap();
    // The key ring's name is in the header: point it at another ring of the same length.
    let at = moved.windows(5).position(|w| w == b"files").unwrap();
    moved[at..at + 5].copy_from_slice(b"other");
    let input = env.path("moved.wqx");
    std::fs::write(&input, moved).unwrap();
    let out = env.path("moved.out");
    let o = env.run(&["file", "decrypt", s(&input), s(&out)]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert!(!out.exists());

    env.ok(&["key", "disable", "files"]);
    let o = env.run(&["file", "decrypt", s(&enc), s(&out)]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert!(stderr(&o).contains("disabled"), "{}", stderr(&o));
    assert!(!out.exists());
    let o = env.run(&[
        "file",
        "encrypt",
        s(&env.path("k.plain")),
        s(&out),
        "--key",
        "nope",
    ]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert!(!out.exists());
    assert!(env.leftovers().is_empty());
}

/// Encrypts `len` zero bytes fed through standard input (as `head -c LEN /dev/zero |
/// webqx-sec file encrypt - OUT` would) without holding them in memory.
fn encrypt_zeros(env: &Env, len: u64, out: &Path) {
    use std::io::Write as _;
    let args: [&OsStr; 6] = [
        "file".as_ref(),
        "encrypt".as_ref(),
        "-".as_ref(),
        out.as_os_str(),
        "--key".as_ref(),
        "files".as_ref(),
    ];
    let mut child = env.command(&args).stdin(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let chunk = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        stdin.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

fn names_in(dir: &Path) -> Vec<OsString> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    names
}

/// Starts decrypting `enc` into `dir/big.out`; returns once it has run for half a
/// second, asserting it is still running (else the test would prove nothing).
fn start_decrypt(env: &Env, enc: &Path, dir: &Path, no_tmpfile: bool) -> Child {
    use std::io::{Read as _, Write as _};
    let out = dir.join("big.out");
    // The ciphertext comes through a pipe that this test feeds only half of and keeps
    // open, so the decrypt is always mid-way when the signal arrives, however fast the
    // machine (a file input could finish between the check and the signal).
    let args: [&OsStr; 6] = [
        "file".as_ref(),
        "decrypt".as_ref(),
        "-".as_ref(),
        out.as_os_str(),
        "--threads".as_ref(),
        "1".as_ref(),
    ];
    let mut cmd = env.command(&args);
    cmd.stdin(Stdio::piped());
    if no_tmpfile {
        cmd.env("WEBQX_TEST_NO_O_TMPFILE", "1");
    }
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut input = std::fs::File::open(enc).unwrap();
    let half = std::fs::metadata(enc).unwrap().len() / 2;
    let mut chunk = vec![0u8; 1 << 20];
    let mut sent = 0u64;
    while sent < half {
        let n = input.read(&mut chunk).unwrap();
        assert!(n > 0, "the ciphertext ended early");
        stdin.write_all(&chunk[..n]).unwrap();
        sent += n as u64;
    }
    stdin.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "decrypt ended with half of its input"
    );
    child.stdin = Some(stdin);
    child
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([name, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_decrypt_killed_midway_leaves_no_file_even_with_sigkill() {
    let env = Env::new();
    let enc = env.path("big.wqx");
    // Several seconds to decrypt in a debug build.
    encrypt_zeros(&env, 64_000_000, &enc);
    for sig in ["-KILL", "-TERM", "-INT"] {
        let dir = env.path(&format!("out{sig}"));
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("kept.txt"), b"was here").unwrap();
        let before = names_in(&dir);
        let mut child = start_decrypt(&env, &enc, &dir, false);
        // O_TMPFILE: the plaintext written so far has no name in the folder at all.
        assert_eq!(names_in(&dir), before, "{sig}: a named file while running");
        signal(&child, sig);
        let status = child.wait().unwrap();
        assert!(!status.success(), "{sig}: {status:?}");
        assert_eq!(names_in(&dir), before, "{sig}: plaintext left behind");
    }
}

#[test]
fn without_o_tmpfile_sigterm_and_sigint_remove_the_named_partial_file() {
    let env = Env::new();
    let enc = env.path("big.wqx");
    encrypt_zeros(&env, 64_000_000, &enc);
    for (sig, exit) in [("-TERM", 143), ("-INT", 130)] {
        let dir = env.path(&format!("out{sig}"));
        std::fs::create_dir(&dir).unwrap();
        let mut child = start_decrypt(&env, &enc, &dir, true);
        let partial = names_in(&dir);
        assert_eq!(partial.len(), 1, "{sig}: the named fallback is in use");
        assert!(partial[0].to_string_lossy().starts_with(".webqx-partial-"));
        signal(&child, sig);
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(exit), "{sig}: {status:?}");
        assert!(names_in(&dir).is_empty(), "{sig}: {:?}", names_in(&dir));
    }
    // The fallback still gives a complete file on success.
    let small = env.encrypt(b"fallback", "small");
    let out = env.path("small.out");
    let args: [&OsStr; 5] = [
        "file".as_ref(),
        "decrypt".as_ref(),
        small.as_os_str(),
        out.as_os_str(),
        "--force".as_ref(),
    ];
    let o = env
        .command(&args)
        .env("WEBQX_TEST_NO_O_TMPFILE", "1")
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(&out).unwrap(), b"fallback");
    assert!(env.leftovers().is_empty());
}

#[test]
fn force_never_replaces_a_fifo_or_a_device_and_replaces_a_regular_file() {
    use std::os::unix::fs::FileTypeExt as _;
    let env = Env::new();
    let enc = env.encrypt(b"secret", "d");
    let fifo = env.path("pipe");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    // A symlink in our own folder to the null device: the device itself is only looked at.
    let link = env.path("null-link");
    std::os::unix::fs::symlink("/dev/null", &link).unwrap();
    for out in [&fifo, &link] {
        let o = env.run(&["file", "decrypt", s(&enc), s(out), "--force"]);
        assert_eq!(code(&o), 2, "{}", stderr(&o));
        assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));
        assert!(stderr(&o).contains("`-`"), "{}", stderr(&o));
        let o = env.run(&[
            "file",
            "encrypt",
            s(&enc),
            s(out),
            "--key",
            "files",
            "--force",
        ]);
        assert_eq!(code(&o), 2, "{}", stderr(&o));
    }
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert!(
        std::fs::metadata(&link)
            .unwrap()
            .file_type()
            .is_char_device()
    );
    assert!(env.leftovers().is_empty());
    // A regular OUT is still replaced with --force (linked then renamed over it).
    let out = env.path("d.out");
    std::fs::write(&out, b"old").unwrap();
    env.ok(&["file", "decrypt", s(&enc), s(&out), "--force"]);
    assert_eq!(std::fs::read(&out).unwrap(), b"secret");
    assert!(env.leftovers().is_empty());
}

#[test]
fn an_output_path_that_is_not_utf8_works_with_and_without_json() {
    let env = Env::new();
    let input = env.path("a.bin");
    std::fs::write(&input, b"bytes").unwrap();
    let out = env.dir.path().join(OsStr::from_bytes(b"n\xffu.wqx"));
    let back = env.dir.path().join(OsStr::from_bytes(b"n\xffu.out"));
    for json in [false, true] {
        let mut args: Vec<&OsStr> = Vec::new();
        if json {
            args.push("--json".as_ref());
        }
        args.extend::<[&OsStr; 6]>([
            "file".as_ref(),
            "encrypt".as_ref(),
            input.as_os_str(),
            out.as_os_str(),
            "--key".as_ref(),
            "files".as_ref(),
        ]);
        args.push("--force".as_ref());
        let o = env.command(&args).output().unwrap();
        assert_eq!(code(&o), 0, "json {json}: {}", stderr(&o));
        if json {
            let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            assert!(doc["output"].as_str().unwrap().ends_with("n\u{fffd}u.wqx"));
        }
        args.clear();
        if json {
            args.push("--json".as_ref());
        }
        args.extend::<[&OsStr; 5]>([
            "file".as_ref(),
            "decrypt".as_ref(),
            out.as_os_str(),
            back.as_os_str(),
            "--force".as_ref(),
        ]);
        let o = env.command(&args).output().unwrap();
        assert_eq!(code(&o), 0, "json {json}: {}", stderr(&o));
        assert_eq!(std::fs::read(&back).unwrap(), b"bytes");
    }
}

#[test]
fn bad_thread_counts_and_ring_names_are_usage_errors_and_siv_rings_work() {
    let env = Env::new();
    let enc = env.encrypt(b"t", "t");
    let plain = env.path("t.plain");
    let out = env.path("t.out");
    let o = env.run(&["file", "decrypt", s(&enc), s(&out), "--threads", "5000"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--threads 5000"), "{}", stderr(&o));
    let o = env.run(&[
        "file",
        "encrypt",
        s(&plain),
        s(&out),
        "--key",
        "files",
        "--threads",
        "257",
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    env.ok(&["file", "decrypt", s(&enc), s(&out), "--threads", "256"]);
    assert_eq!(std::fs::read(&out).unwrap(), b"t");

    for bad in ["..", "a/b", "-x", ""] {
        let bad_arg = format!("--key={bad}");
        let o = env.run(&["file", "encrypt", s(&plain), s(&out), &bad_arg, "--force"]);
        assert_eq!(code(&o), 2, "{bad:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("not a key ring name"), "{}", stderr(&o));
    }

    // A SIV ring wraps the random data key deterministically, which reveals nothing
    // (no two data keys are equal): allowed, as the help says.
    env.ok(&["key", "create", "siv", "--type", "aes256-siv"]);
    let sealed = env.path("siv.wqx");
    env.ok(&["file", "encrypt", s(&plain), s(&sealed), "--key", "siv"]);
    let back = env.path("siv.out");
    env.ok(&["file", "decrypt", s(&sealed), s(&back)]);
    assert_eq!(std::fs::read(&back).unwrap(), b"t");
}
