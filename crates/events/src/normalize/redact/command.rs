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
    ("psexec", &[("-p", Form::Next)]),
    ("paexec", &[("-p", Form::Next)]),
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
    if !text.contains(['-', '/', '\\']) && !text.contains("chpasswd") {
        return Cow::Borrowed(text);
    }
    // `echo X | passwd --stdin`, `echo bob:X | chpasswd`: what is echoed is a secret.
    let piped_secret = if text.contains("chpasswd") {
        Some(Form::AfterColon)
    } else if text.contains("--stdin") || text.contains("-stdin") {
        Some(Form::Next)
    } else {
        None
    };
    let mut rewrite = Rewrite::new(text);
    let mut state = State {
        command_position: true,
        ..State::default()
    };
    let mut previous = "";
    for span in shell_words(text) {
        let word = &text[span.clone()];
        let inner = unquoted(text, span.clone());
        state.word(
            &mut rewrite,
            text,
            word,
            span,
            inner,
            previous,
            piped_secret,
        );
        previous = word;
    }
    state.end(&mut rewrite, text);
    rewrite.finish()
}

/// What the words read so far say about the next.
#[derive(Default)]
struct State<'t> {
    /// The program named last (its file name).
    program: &'t str,
    /// The next word names a program.
    command_position: bool,
    /// How the next word carries a secret.
    pending: Option<Form>,
    /// `docker login` (and other registry clients').
    login: bool,
    /// `htpasswd -b`: its last argument is the password.
    htpasswd_batch: bool,
    /// The last argument that is not an option.
    last_positional: Option<Range<usize>>,
    /// Arguments after `net user`.
    net_user_args: Option<usize>,
}

impl<'t> State<'t> {
    #[allow(clippy::too_many_arguments)]
    fn word(
        &mut self,
        rewrite: &mut Rewrite<'t>,
        text: &'t str,
        word: &'t str,
        span: Range<usize>,
        inner: Range<usize>,
        previous: &str,
        piped_secret: Option<Form>,
    ) {
        if let Some(form) = self.pending.take()
            && !word.starts_with('-')
        {
            redact_value(rewrite, text, inner, form);
            return;
        }
        // `sh -c "mysql -pX"`: the quoted command is read as a command line too.
        if previous == "-c" && inner != span {
            if let Cow::Owned(new) = redact_command_args(&text[inner.clone()]) {
                rewrite.replace(inner, &new);
            }
            return;
        }
        // `NAME=value` before a command (an environment setting, sudo's `COMMAND=`).
        let assignment = word.split_once('=').filter(|(name, _)| {
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        });
        let path = assignment.map_or(word, |(_, value)| value);
        let base = path
            .trim_end_matches(';')
            .trim_matches(['"', '\''])
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or(word);
        // A word elsewhere names a program when it is a bare name or a file in a
        // `bin` folder (`sudo -u root /usr/bin/mysql`), not a data path
        // (`rsync /var/lib/mysql`).
        let program_like = !path.contains('/') || path.contains("bin/");
        let known = program_like
            && (PROGRAMS.iter().any(|(p, _)| base.starts_with(p))
                || LOGIN_CLIENTS.contains(&base)
                || matches!(base, "htpasswd" | "sqlplus" | "net" | "net.exe"));
        let option = word.starts_with('-');
        if known || (self.command_position && assignment.is_none() && !option) {
            self.end(rewrite, text);
            *self = State {
                program: base,
                command_position: LAUNCHERS.contains(&base) || word.ends_with(';'),
                ..State::default()
            };
            if base.eq_ignore_ascii_case("convertto-securestring") {
                self.pending = Some(Form::Next);
            }
            return;
        }
        if self.command_position && !option {
            // An environment setting: the command is still to come.
            return;
        }
        if LAUNCHERS.contains(&word) || word.ends_with(';') {
            self.end(rewrite, text);
            self.command_position = true;
            return;
        }
        if let Some(form) = piped_secret
            && matches!(self.program, "echo" | "printf")
            && !word.starts_with('-')
        {
            redact_value(rewrite, text, inner, form);
            return;
        }
        if word == "login" && LOGIN_CLIENTS.contains(&self.program) {
            self.login = true;
        }
        if matches!(self.program, "net" | "net.exe") {
            self.net_user(rewrite, text, word, inner);
            return;
        }
        if let Some((form, rest)) = option_form(self.program, word, self.login) {
            match (form, rest) {
                (Form::Attached | Form::NextOrAttached | Form::AfterColon, Some(rest))
                    if !rest.is_empty() =>
                {
                    // The rest of the word, without the quotes around it.
                    let quoted = is_quoted(rest);
                    let from = span.start + word.len() - rest.len() + usize::from(quoted);
                    let value = from..span.end - usize::from(quoted);
                    let form = if form == Form::AfterColon {
                        Form::AfterColon
                    } else {
                        Form::Next
                    };
                    redact_value(rewrite, text, value, form);
                }
                (Form::Attached, _) => {}
                (form, _) => self.pending = Some(form),
            }
        } else if let Some(name) = word.strip_prefix("--").or_else(|| word.strip_prefix('-'))
            && name.len() >= 3
            && !name.contains('=')
            && is_secret_name(name)
        {
            self.pending = Some(Form::Next);
        } else if word.eq_ignore_ascii_case("convertto-securestring")
            || (self.program.eq_ignore_ascii_case("convertto-securestring")
                && word.eq_ignore_ascii_case("-string"))
        {
            // PowerShell: `ConvertTo-SecureString [-String] 'X' -AsPlainText`.
            self.pending = Some(Form::Next);
        } else if let Some(option) = word.strip_prefix('/')
            && let Some((name, _)) = option.split_once(':')
            && (is_secret_name(name) || (name == "p" && self.program.contains("freerdp")))
        {
            // Windows: `cmdkey /pass:X`, `wmic /password:X`, `xfreerdp /p:X`.
            redact_value(rewrite, text, inner, Form::AfterColon);
        } else if self.program == "htpasswd" && word.starts_with('-') && word.contains('b') {
            self.htpasswd_batch = true;
        } else if !word.starts_with('-') {
            if self.program == "sqlplus" && self.last_positional.is_none() {
                // `user/password@db`: the password goes.
                if let Some(slash) = inner_text(text, &inner).find('/').filter(|s| *s > 0) {
                    let after = inner.start + slash + 1;
                    let end = text[after..inner.end]
                        .find('@')
                        .map_or(inner.end, |p| after + p);
                    redact_part(rewrite, text, after..end);
                }
            }
            self.last_positional = Some(inner);
        }
    }

    /// `net user NAME PASSWORD`: the second argument after `user` (not `*`, which
    /// asks, nor a `/option`).
    fn net_user(&mut self, rewrite: &mut Rewrite<'_>, text: &str, word: &str, inner: Range<usize>) {
        match self.net_user_args {
            None if word.eq_ignore_ascii_case("user") => self.net_user_args = Some(0),
            Some(n) if !word.starts_with('/') => {
                if n == 1 && word != "*" {
                    redact_part(rewrite, text, inner);
                }
                self.net_user_args = Some(n + 1);
            }
            _ => {}
        }
    }

    /// The command ends: `htpasswd -b`'s last argument goes.
    fn end(&mut self, rewrite: &mut Rewrite<'_>, text: &str) {
        if self.program == "htpasswd"
            && self.htpasswd_batch
            && let Some(last) = self.last_positional.take()
        {
            redact_part(rewrite, text, last);
        }
    }
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
        redact_part(rewrite, text, value.start + from..value.end);
    }
}

/// `part` of a word redacted up to the first quote in it: quotes stay where they
/// are, so that the words of the redacted line are the words of the line (and
/// redacting it again finds the same ones).
fn redact_part(rewrite: &mut Rewrite<'_>, text: &str, part: Range<usize>) {
    let held = inner_text(text, &part);
    let end = held.find(['"', '\'']).map_or(part.end, |q| part.start + q);
    rewrite.redact(part.start..end);
}

fn inner_text<'t>(text: &'t str, range: &Range<usize>) -> &'t str {
    text.get(range.clone()).unwrap_or_default()
}

/// A word's span without the quotes that open and close it (the same quote at both
/// ends).
fn unquoted(text: &str, span: Range<usize>) -> Range<usize> {
    if is_quoted(&text[span.clone()]) {
        span.start + 1..span.end - 1
    } else {
        span
    }
}

fn is_quoted(word: &str) -> bool {
    word.len() >= 2
        && ((word.starts_with('"') && word.ends_with('"'))
            || (word.starts_with('\'') && word.ends_with('\'')))
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
        if quote.is_some() {
            // A quote never closed: the word ends at the next whitespace.
            i = bytes[start..]
                .iter()
                .position(u8::is_ascii_whitespace)
                .map_or(bytes.len(), |p| start + p);
        }
        words.push(start..i);
    }
    words
}
