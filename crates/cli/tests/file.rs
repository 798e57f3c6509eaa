//! `webqx-sec file encrypt|decrypt|inspect` through the real binary and server: round
//! trips over files and stdin/stdout, refusals with clear messages and exit codes, and
//! no partial output on any failure.

use std::path::{Path, PathBuf};
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
        ("empty", Vec::new(), 1, "truncated"),
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
