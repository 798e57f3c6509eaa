//! Secrets given as command-line arguments: a sudo `COMMAND=`, `process.command_line`,
//! a shell line in a message.

use std::borrow::Cow;
use std::ops::Range;

use super::names::is_secret_name;
use super::text::Rewrite;

/// How an option of a known program carries a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// The next word (`sshpass -p X`, `redis-cli -a X`).
    Next,
    /// The rest of the word (`mysql -pX`).
    Attached,
    /// The next word or the rest of this one (`sqlcmd -P X`, `-PX`).
    NextOrAttached,
    /// What follows `:` in the next word or the rest of this one
    /// (`curl -u user:X`, `-uuser:X`).
    AfterColon,
    /// What follows `%` in the next word (`smbclient -U bob%X`).
    AfterPercent,
    /// What follows `pass:` in the next word (`openssl … -passout pass:X`).
    AfterPassPrefix,
}

/// Programs (by the start of their file name) and the options that carry their
/// secrets, from each program's manual.
const PROGRAMS: &[(&str, &[(&str, Form)])] = &[
    ("mysql", &[("-p", Form::Attached)]),
    ("mariadb", &[("-p", Form::Attached)]),
    ("sshpass", &[("-p", Form::NextOrAttached)]),
    ("sqlcmd", &[("-P", Form::NextOrAttached)]),
    ("bcp", &[("-P", Form::NextOrAttached)]),
    ("ldap", &[("-w", Form::Next)]),
    ("redis-cli", &[("-a", Form::Next)]),
    ("mongo", &[("-p", Form::Next)]),
    (
        "keytool",
        &[
            ("-storepass", Form::Next),
            ("-keypass", Form::Next),
            ("-srcstorepass", Form::Next),
            ("-deststorepass", Form::Next),
            ("-srckeypass", Form::Next),
            ("-destkeypass", Form::Next),
        ],
    ),
    (
        "openssl",
        &[
            ("-passin", Form::AfterPassPrefix),
            ("-passout", Form::AfterPassPrefix),
            ("-pass", Form::AfterPassPrefix),
        ],
    ),
    (
        "smbclient",
        &[("-U", Form::AfterPercent), ("--user", Form::AfterPercent)],
    ),
    (
        "rpcclient",
        &[("-U", Form::AfterPercent), ("--user", Form::AfterPercent)],
    ),
    (
        "curl",
        &[
            ("-u", Form::AfterColon),
            ("--user", Form::AfterColon),
            ("-U", Form::AfterColon),
            ("--proxy-user", Form::AfterColon),
        ],
    ),
];

/// Registry clients whose `login -p X` is a password (elsewhere their `-p` publishes a
/// port).
const LOGIN_CLIENTS: &[&str] = &["docker", "podman", "nerdctl", "helm", "buildah", "skopeo"];

/// Words after which the next word names a program.
const LAUNCHERS: &[&str] = &[
    "|", "||", "&&", ";", "sudo", "doas", "env", "exec", "nohup", "time", "xargs", "-c",
];

/// Secrets passed as command-line arguments:
///
/// - the value of any `--NAME X` or `-NAME X` whose NAME is a secret name (`--token X`,
///   `vault login -token X`; `--NAME=X` is a pair, found by the text rules);
/// - the options of [`PROGRAMS`] (`mysql -pX`, `sshpass -p X`, `sqlcmd -P X`,
///   `ldapsearch -w X`, `redis-cli -a X`, `mongo -p X`, `keytool -storepass X`,
///   `openssl -passout pass:X`, `smbclient -U bob%X`, `curl -u bob:X`), and
///   `docker login -p X` (and other registry clients');
/// - `sqlplus user/X@db`, `htpasswd -b FILE USER X`, `echo bob:X | chpasswd`.
///
/// The program is the last one named: at the start, after `|`, `;`, `&&`, `sudo`,
/// `env` …, or any word naming one of [`PROGRAMS`] (`sudo -u root /usr/bin/mysql`).
/// Quoted words are one word (`-p'a b'`); their quotes are kept.
pub(super) fn redact_command_args(text: &str) -> Cow<'_, str> {
    if !text.contains(" -") && !text.contains("chpasswd") && !text.contains("sqlplus") {
        return Cow::Borrowed(text);
    }
    let words = shell_words(text);
    let mut rewrite = Rewrite::new(text);
    let chpasswd = text.contains("chpasswd");
    let mut program = "";
    let mut command_position = true;
    let mut pending: Option<Form> = None;
    let mut login = false;
    let mut htpasswd_batch = false;
    let mut last_positional: Option<Range<usize>> = None;
    let mut previous = "";
    for span in words {
        let word = &text[span.clone()];
        let inner = unquoted(text, span.clone());
        if let Some(form) = pending.take()
            && !word.starts_with('-')
        {
            redact_value(&mut rewrite, text, inner.clone(), form);
            previous = word;
            continue;
        }
        // `NAME=value` before a command (an environment setting, sudo's `COMMAND=`).
        let assignment = word.split_once('=').filter(|(name, _)| {
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        });
        let base = assignment
            .map_or(word, |(_, value)| value)
            .trim_end_matches(';')
            .trim_matches(['"', '\''])
            .rsplit('/')
            .next()
            .unwrap_or(word);
        let known = PROGRAMS.iter().any(|(p, _)| base.starts_with(p))
            || LOGIN_CLIENTS.contains(&base)
            || matches!(base, "htpasswd" | "sqlplus");
        if known || (command_position && assignment.is_none()) {
            if program == "htpasswd"
                && htpasswd_batch
                && let Some(last) = last_positional.take()
            {
                rewrite.redact(last);
            }
            program = base;
            login = false;
            htpasswd_batch = false;
            last_positional = None;
            command_position = LAUNCHERS.contains(&base) || word.ends_with(';');
            previous = word;
            continue;
        }
        if command_position {
            // An environment setting: the command is still to come.
            previous = word;
            continue;
        }
        if LAUNCHERS.contains(&word) || word.ends_with(';') {
            if program == "htpasswd"
                && htpasswd_batch
                && let Some(last) = last_positional.take()
            {
                rewrite.redact(last);
            }
            command_position = true;
            previous = word;
            continue;
        }
        if word == "login" && LOGIN_CLIENTS.contains(&program) {
            login = true;
        }
        if let Some(form) = option_form(program, word, login) {
            match form {
                (Form::Attached | Form::NextOrAttached | Form::AfterColon, Some(rest))
                    if !rest.is_empty() =>
                {
                    // The rest of the word, without the quote that may open it.
                    let from = span.start + word.len() - rest.len()
                        + usize::from(rest.starts_with(['"', '\'']));
                    let value = from..inner.end.max(from);
                    redact_value(
                        &mut rewrite,
                        text,
                        value,
                        if form.0 == Form::AfterColon {
                            Form::AfterColon
                        } else {
                            Form::Next
                        },
                    );
                }
                (Form::Attached, _) => {}
                (form, _) => pending = Some(form),
            }
        } else if let Some(name) = word.strip_prefix("--").or_else(|| word.strip_prefix('-'))
            && name.len() >= 3
            && !name.contains('=')
            && is_secret_name(name)
        {
            pending = Some(Form::Next);
        } else if program == "htpasswd" && word.starts_with('-') && word.contains('b') {
            htpasswd_batch = true;
        } else if !word.starts_with('-') {
            if program == "sqlplus" && last_positional.is_none() {
                // `user/password@db`: the password goes.
                if let Some(slash) = inner_text(text, &inner).find('/') {
                    let after = inner.start + slash + 1;
                    let end = text[after..inner.end]
                        .find('@')
                        .map_or(inner.end, |p| after + p);
                    rewrite.redact(after..end);
                }
            }
            if chpasswd && previous == "echo" {
                redact_value(&mut rewrite, text, inner.clone(), Form::AfterColon);
            }
            last_positional = Some(inner.clone());
        }
        previous = word;
    }
    if program == "htpasswd"
        && htpasswd_batch
        && let Some(last) = last_positional
    {
        rewrite.redact(last);
    }
    rewrite.finish()
}

/// How `word` carries a secret for `program`: the form, and for a word that starts
/// with the option, what follows the option in the same word.
fn option_form<'w>(program: &str, word: &'w str, login: bool) -> Option<(Form, Option<&'w str>)> {
    if login && word == "-p" {
        return Some((Form::Next, None));
    }
    let (_, options) = PROGRAMS.iter().find(|(p, _)| program.starts_with(p))?;
    options.iter().find_map(|(option, form)| {
        if word == *option {
            Some((*form, None))
        } else if option.len() == 2
            && matches!(
                form,
                Form::Attached | Form::NextOrAttached | Form::AfterColon
            )
        {
            word.strip_prefix(option).map(|rest| (*form, Some(rest)))
        } else {
            None
        }
    })
}

/// The secret part of `value` replaced, as `form` says.
fn redact_value(rewrite: &mut Rewrite<'_>, text: &str, value: Range<usize>, form: Form) {
    let held = inner_text(text, &value);
    let from = match form {
        Form::Next | Form::Attached | Form::NextOrAttached => Some(0),
        Form::AfterColon => held.find(':').map(|p| p + 1),
        Form::AfterPercent => held.find('%').map(|p| p + 1),
        Form::AfterPassPrefix => held.starts_with("pass:").then_some(5),
    };
    if let Some(from) = from {
        rewrite.redact(value.start + from..value.end);
    }
}

fn inner_text<'t>(text: &'t str, range: &Range<usize>) -> &'t str {
    text.get(range.clone()).unwrap_or_default()
}

/// A word's span without the quotes that open and close it.
fn unquoted(text: &str, span: Range<usize>) -> Range<usize> {
    let word = &text[span.clone()];
    let lead = usize::from(word.starts_with(['"', '\'']));
    let trail = usize::from(word.len() > lead && word.ends_with(['"', '\'']));
    span.start + lead..span.end - trail
}

/// The words of a shell line: split at whitespace outside quotes.
fn shell_words(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut words = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let mut quote: Option<u8> = None;
        while i < bytes.len() {
            match (quote, bytes[i]) {
                (None, b) if b.is_ascii_whitespace() => break,
                (None, q @ (b'"' | b'\'')) => quote = Some(q),
                (Some(q), b) if b == q => quote = None,
                _ => {}
            }
            i += 1;
        }
        words.push(start..i);
    }
    words
}
