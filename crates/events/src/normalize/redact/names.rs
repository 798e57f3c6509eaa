//! Which names (of members, parameters, headers, command-line options) hold secrets.

/// Parameter, member and header names whose values are secrets, as compared: lower
/// case without `_`, `-`, `.` or spaces. Sources: OAuth 2.0 (RFC 6749 §4, RFC 7521 §4.2,
/// RFC 7636's `code_verifier`, RFC 8628's `device_code`), OpenID Connect
/// (`id_token_hint`), AWS SigV4 and Google signed URLs, Azure SAS (`sig`), CloudFront
/// (`Signature`), CAS (`ticket`), HashiCorp Vault and Google API headers, AWS ALB's
/// OIDC headers, OpenEMR's login form (`clearPass`), and the session cookie names of
/// common servers. Names built on a secret word (`new_password`, `api_token`) need
/// not be listed: see [`is_secret_name`]. (`code` is left out: FHIR resources are full
/// of `code` members.)
pub const SECRET_NAMES: &[&str] = &[
    "accesstoken",
    "refreshtoken",
    "idtoken",
    "idtokenhint",
    "token",
    "authtoken",
    "bearer",
    "clientsecret",
    "clientassertion",
    "assertion",
    "codeverifier",
    "devicecode",
    "password",
    "passwd",
    "pwd",
    "pass",
    "clearpass",
    "passhash",
    "authkey",
    "jwt",
    "subscriptionkey",
    "ocpapimsubscriptionkey",
    "xregistryauth",
    "xauthkey",
    "xfunctionskey",
    "rememberme",
    "openemr",
    "secret",
    "secretkey",
    "awssecretaccesskey",
    "apikey",
    "privatekey",
    "authorization",
    "proxyauthorization",
    "xauthorization",
    "authentication",
    "xapikey",
    "xauthtoken",
    "xaccesstoken",
    "xvaulttoken",
    "xgoogapikey",
    "xgoogsignature",
    "xsessiontoken",
    "xcsrftoken",
    "xxsrftoken",
    "xamzsignature",
    "xamzsecuritytoken",
    "xamzcredential",
    "xamznoidcdata",
    "signature",
    "sig",
    "samlresponse",
    "ticket",
    "otp",
    "session",
    "sessionid",
    "jsessionid",
    "phpsessid",
    "aspnetsessionid",
    "sid",
];

/// Request headers that carry credentials: never copied into event fields, and
/// redacted whole in a kept ModSecurity record (compared as [`SECRET_NAMES`] are).
pub const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-authorization",
    "x-api-key",
    "x-auth-token",
    "x-access-token",
    "x-amz-security-token",
    "x-amzn-oidc-data",
    "x-amzn-oidc-accesstoken",
    "x-csrf-token",
    "x-xsrf-token",
    "x-vault-token",
    "x-goog-api-key",
    "x-session-token",
];

/// What may follow a secret word in the folded name of a secret (`password`,
/// `passwords`, `password_hash`, `secret_key`, `api_key_value`, `id_token_hint`).
/// After any other ending the name is of a fact about the secret, which is kept
/// (`password_last_set`, `failed_password_attempts`, `credential_type`, `api_key_id`,
/// `token_type`, `password_file`).
pub const SECRET_ENDINGS: &[&str] = &[
    "",
    "s",
    "value",
    "hash",
    "key",
    "accesskey",
    "confirmation",
    "confirm",
    "again",
    "repeat",
    "plain",
    "plaintext",
    "clear",
    "cleartext",
    "text",
    "string",
    "data",
    "b64",
    "base64",
    "enc",
    "encrypted",
    "jwt",
    "pem",
    "hint",
    "new",
    "old",
    "1",
    "2",
];

/// Whether a member, parameter, header or option name names a secret. Names compare
/// without case, `_`, `-`, `.` or spaces. A secret name is
///
/// - one of [`SECRET_NAMES`] or [`CREDENTIAL_HEADERS`];
/// - a name holding one of the words `password`, `passwd`, `passphrase`, `secret`,
///   `credential`, `privatekey`, `apikey`, `token` or `pwd` followed by nothing or by
///   one of [`SECRET_ENDINGS`] (`new_password`, `userPassword`, `PGPASSWORD`,
///   `credentials`, `api_token`, `aws_session_token`, `MYSQL_PWD`, `secret_key`), and
///   not right after `has`, `is`, `no`, `skip` or `without` (`has_password` is a flag,
///   `--no-password` an option);
/// - a name ending in `sessionid`, `sessionkey`, `session`, `assertion`, `accesskey`
///   or `authorization` (`laravel_session`, `saml_assertion`,
///   `X-Forwarded-Authorization`);
/// - a name of parts (`db.password`, `user[password]`) whose last part is a secret.
///
/// `code` is not a secret name: FHIR resources are full of `code` members.
pub fn is_secret_name(name: &str) -> bool {
    with_folded(name, is_secret_folded) || is_secret_by_parts(name)
}

/// Whether `name` is one of the schema's names that every event carries and none of
/// which is a secret (`docs/event-schema.md`): these skip the folding and the
/// searches of [`is_secret_name`], which were most of what redacting an event cost.
pub(super) fn is_plain_name(name: &str) -> bool {
    matches!(
        name,
        "@timestamp"
            | "event"
            | "dataset"
            | "action"
            | "category"
            | "type"
            | "outcome"
            | "original"
            | "kind"
            | "count"
            | "reason"
            | "message"
            | "host"
            | "name"
            | "hostname"
            | "process"
            | "pid"
            | "source"
            | "ip"
            | "address"
            | "port"
            | "destination"
            | "user"
            | "valid"
            | "labels"
            | "input"
            | "ssh"
            | "preauth"
            | "method"
            | "address_from_session"
            | "log"
            | "level"
            | "syslog"
            | "facility"
            | "severity"
            | "priority"
            | "code"
            | "http"
            | "request"
            | "response"
            | "status_code"
            | "body"
            | "bytes"
            | "referrer"
            | "version"
            | "url"
            | "path"
            | "query"
            | "decoded"
            | "domain"
            | "user_agent"
            | "ehr"
            | "patient"
            | "id"
            | "sudo"
            | "command"
            | "command_line"
            | "target"
            | "tty"
            | "pam"
            | "module"
            | "service"
    )
}

/// A name of parts (`a.b`, `user[password]`) whose last part is a secret
/// (`authorization.k8s.io/decision` is a decision, not a credential).
pub(super) fn is_secret_by_parts(name: &str) -> bool {
    name.contains(['.', '[', ']'])
        && name
            .split(['.', '[', ']'])
            .rfind(|part| !part.is_empty())
            .is_some_and(|part| with_folded(part, is_secret_folded))
}

/// Whether a folded name is a secret (see [`is_secret_name`]).
pub(super) fn is_secret_folded(folded_name: &str) -> bool {
    is_listed_secret(folded_name) || is_secret_family(folded_name)
}

/// Names built on a secret word (see [`is_secret_name`]).
fn is_secret_family(f: &str) -> bool {
    const WORDS: &[&[u8]] = &[
        b"password",
        b"passwd",
        b"passphrase",
        b"secret",
        b"credential",
        b"privatekey",
        b"apikey",
        b"token",
        b"pwd",
    ];
    const ENDINGS: &[&str] = &[
        "sessionid",
        "sessionkey",
        "session",
        "assertion",
        "accesskey",
        "authorization",
    ];
    // Bytes, not `str`: a folded name may hold other letters than ASCII.
    let bytes = f.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if !matches!(b, b'p' | b's' | b'c' | b'a' | b't') {
            continue;
        }
        let rest = &bytes[i..];
        let Some(word) = WORDS.iter().find(|w| rest.starts_with(w)) else {
            continue;
        };
        // `has_password`, `is_password_set`: flags; `no_password`, `skip_password`:
        // options that ask for none.
        let before = &bytes[..i];
        if [&b"has"[..], b"is", b"no", b"skip", b"without"]
            .iter()
            .any(|p| before.ends_with(p))
        {
            continue;
        }
        let after = &rest[word.len()..];
        // Vault's AppRole `secret_id` is a secret; other ids are not.
        let secret_id = *word == b"secret" && after == b"id";
        if secret_id || SECRET_ENDINGS.iter().any(|e| e.as_bytes() == after) {
            return true;
        }
    }
    ENDINGS.iter().any(|e| f.ends_with(e))
}

/// Whether a folded name is one of [`SECRET_NAMES`] or [`CREDENTIAL_HEADERS`].
fn is_listed_secret(folded_name: &str) -> bool {
    // Folded and sorted once: folding every header name on every call was a tenth of
    // `hunt`.
    static NAMES: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
        let mut names: Vec<String> = SECRET_NAMES
            .iter()
            .map(|n| (*n).to_owned())
            .chain(CREDENTIAL_HEADERS.iter().map(|h| folded(h)))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    });
    NAMES
        .binary_search_by(|n| n.as_str().cmp(folded_name))
        .is_ok()
}

/// Whether a secret-named value is kept all the same, because what it holds is not a
/// secret: a `PWD`-like name's working directory (sudo's `PWD=/home/bob`,
/// `C:\Users\bob`), and a Windows security identifier (`S-1-5-21-…`) or a number of up
/// to ten digits (Linux audit's session) under a `sid` or `sessionid` name.
pub(super) fn is_kept_value(name: &str, value: &str) -> bool {
    let b = value.as_bytes();
    let directory = matches!(b, [b'/', ..] | [_, b':', b'\\', ..]);
    let identifier = (b.len() > 4 && b[..4].eq_ignore_ascii_case(b"S-1-"))
        || (!value.is_empty() && value.len() <= 10 && b.iter().all(u8::is_ascii_digit));
    (directory || identifier)
        && name.len() <= 32
        && with_folded(name, |f| {
            (directory && f.ends_with("pwd"))
                || (identifier && matches!(f, "sid" | "sessionid" | "session"))
        })
}

/// A name as compared: lower case, without `_`, `-`, `.` and whitespace.
pub(super) fn folded(name: &str) -> String {
    if name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return name.to_owned();
    }
    name.chars()
        .filter(|c| !matches!(c, '_' | '-' | '.') && !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// `f(folded(name))`, folded on the stack when `name` is short ASCII (every member
/// name of every kept event is folded: a copy each, and a search of every secret name,
/// was most of what keeping an event cost).
pub(super) fn with_folded<T>(name: &str, f: impl FnOnce(&str) -> T) -> T {
    const ROOM: usize = 48;
    if name.len() > ROOM || !name.is_ascii() {
        return f(&folded(name));
    }
    let mut buf = [0u8; ROOM];
    let mut len = 0;
    for b in name.bytes() {
        // The ASCII characters `folded` drops: separators and `char::is_whitespace`.
        if matches!(
            b,
            b'_' | b'-' | b'.' | b' ' | b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r'
        ) {
            continue;
        }
        buf[len] = b.to_ascii_lowercase();
        len += 1;
    }
    f(std::str::from_utf8(&buf[..len]).unwrap_or_default())
}

/// `cookie`, `cookies`, `set-cookie`, `cookie2` (any case and separators): cookie lists.
#[cfg(test)]
pub(super) fn is_cookie_name(name: &str) -> bool {
    name.len() <= 16 && with_folded(name, is_cookie_folded)
}

pub(super) fn is_cookie_folded(folded: &str) -> bool {
    matches!(folded, "cookie" | "cookies" | "setcookie" | "cookie2")
}
