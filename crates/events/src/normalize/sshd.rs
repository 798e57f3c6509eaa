//! OpenSSH server messages (`sshd`, `sshd-session`): logins, failures, invalid users,
//! disconnects, protocol errors, break-in warnings and the PAM lines sshd writes.
//!
//! Every message sshd writes is parsed by position, not by regular expression: the
//! remote address is the last `from ADDR` whose tail is a valid `port N sshN…` end, so a
//! user name like `x from 10.0.0.1` cannot inject an address (fail2ban's test cases
//! `Injecting on username` check this).

use super::auth;
use super::event::Event;
use super::text::{looks_like_address, parse_u64, set_source};

/// Fills `event` from one sshd message (the part after `sshd[pid]: `).
pub(crate) fn parse(msg: &str, event: &mut Event) {
    event.set("event.dataset", "sshd");
    let msg = strip_solaris_id(msg.trim());
    if let Some((count, inner)) = repeated(msg) {
        event.set("event.count", count);
        body(inner, event);
        return;
    }
    body(msg, event);
}

/// Solaris prefixes messages with `[ID 800047 auth.info] `.
fn strip_solaris_id(msg: &str) -> &str {
    if let Some(rest) = msg.strip_prefix("[ID ")
        && let Some((_, after)) = rest.split_once("] ")
    {
        return after;
    }
    msg
}

/// `message repeated N times: [ inner]` (rsyslog's repeat reduction).
fn repeated(msg: &str) -> Option<(u64, &str)> {
    let rest = msg.strip_prefix("message repeated ")?;
    let (count, rest) = rest.split_once(" times: [")?;
    let count = parse_u64(count)?;
    let inner = rest.strip_suffix(']').unwrap_or(rest);
    Some((count, inner.trim()))
}

/// Sets the classification fields.
pub(crate) fn mark(event: &mut Event, action: &str, category: &str, kind: &str, outcome: &str) {
    event.set("event.action", action);
    event.set("event.category", category);
    event.set("event.type", kind);
    event.set("event.outcome", outcome);
}

fn body(msg: &str, event: &mut Event) {
    let (msg, preauth) = match msg.strip_suffix("[preauth]") {
        Some(rest) => (rest.trim_end(), true),
        None => (msg, false),
    };
    if preauth {
        event.set("ssh.preauth", true);
    }
    let msg = msg
        .strip_prefix("error: ")
        .or_else(|| msg.strip_prefix("fatal: "))
        .unwrap_or(msg);

    let handled = auth_result(msg, event)
        || invalid_user(msg, event)
        || refused(msg, event)
        || break_in(msg, event)
        || pam(msg, event)
        || too_many(msg, event)
        || disconnect(msg, preauth, event)
        || connection(msg, event)
        || protocol_error(msg, preauth, event);
    if !handled {
        mark(event, "ssh_message", "authentication", "info", "unknown");
    }
}

/// `Failed|Accepted|Postponed METHOD for [invalid user ]USER from ADDR port N sshN…`.
fn auth_result(msg: &str, event: &mut Event) -> bool {
    let (verdict, rest) = msg.split_once(' ').unwrap_or((msg, ""));
    if !matches!(verdict, "Failed" | "Accepted" | "Postponed") {
        return false;
    }
    let Some((method, rest)) = rest.split_once(" for ") else {
        return false;
    };
    if method.contains(' ') {
        return false;
    }
    let Some((user, addr, port)) = split_from(rest) else {
        return false;
    };
    event.set("ssh.method", method);
    set_user(event, user);
    set_source(event, addr);
    if let Some(port) = port {
        event.set("source.port", port);
    }
    match verdict {
        "Failed" if method == "password" => {
            mark(
                event,
                "ssh_failed_password",
                "authentication",
                "denied",
                "failure",
            );
        }
        "Failed" => mark(
            event,
            "ssh_failed_auth",
            "authentication",
            "denied",
            "failure",
        ),
        "Accepted" => mark(event, "ssh_login", "authentication", "allowed", "success"),
        _ => mark(
            event,
            "ssh_auth_postponed",
            "authentication",
            "info",
            "unknown",
        ),
    }
    true
}

/// `[invalid user |illegal user ]NAME`: sets `user.name` and `user.valid`.
fn set_user(event: &mut Event, user: &str) {
    let (name, valid) = match user
        .strip_prefix("invalid user ")
        .or_else(|| user.strip_prefix("illegal user "))
    {
        Some(name) => (name, false),
        None if user == "invalid user" || user == "illegal user" => ("", false),
        None => (user, user != "<invalid username>"),
    };
    event.set_nonempty("user.name", name);
    event.set("user.valid", valid);
}

/// The first ` from ADDR` in `text` whose tail is a valid line end; returns what is
/// before it (the user), the address and the port.
fn split_from(text: &str) -> Option<(&str, &str, Option<u64>)> {
    let mut found = None;
    for (at, _) in text.match_indices(" from ") {
        let before = text.get(..at)?;
        let after = text.get(at + 6..)?;
        let (addr, tail) = after.split_once(' ').unwrap_or((after, ""));
        if !looks_like_address(addr) {
            continue;
        }
        if let Some(port) = valid_tail(tail) {
            found = Some((before, addr, port));
            break;
        }
    }
    if found.is_none() {
        // The user name may be empty: `Invalid user  from …` leaves `from` first.
        if let Some(after) = text.strip_prefix("from ") {
            let (addr, tail) = after.split_once(' ').unwrap_or((after, ""));
            if looks_like_address(addr)
                && let Some(port) = valid_tail(tail)
            {
                found = Some(("", addr, port));
            }
        }
    }
    found
}

/// After an address: nothing, `via HOST`, or `port N` then nothing, `sshN`, or
/// `sshN: details`. Returns the port.
fn valid_tail(tail: &str) -> Option<Option<u64>> {
    if tail.is_empty() || tail.starts_with("via ") {
        return Some(None);
    }
    let rest = tail.strip_prefix("port ")?;
    let (digits, after) = rest.split_once(' ').unwrap_or((rest, ""));
    let port = parse_u64(digits)?;
    if after.is_empty() {
        return Some(Some(port));
    }
    let proto = after.strip_prefix("ssh")?;
    let (version, details) = proto.split_once(':').unwrap_or((proto, ""));
    let version_ok = version.len() == 1 && version.bytes().all(|b| b.is_ascii_digit());
    // After `sshN` only `: details` may follow (auth info, key fingerprints).
    (version_ok && (details.is_empty() || proto.contains(':'))).then_some(Some(port))
}

/// `ADDR[ port N]` at the start of `text` (the address ends at a space, or at a colon
/// that ends the word); returns the address, port and what follows.
fn addr_port(text: &str) -> Option<(&str, Option<u64>, &str)> {
    let (word, mut rest) = text.split_once(' ').unwrap_or((text, ""));
    let addr = word.strip_suffix(':').unwrap_or(word);
    if !looks_like_address(addr) || addr == "UNKNOWN" {
        return None;
    }
    if word.ends_with(':') {
        return Some((addr, None, rest));
    }
    let mut port = None;
    if let Some(after) = rest.strip_prefix("port ") {
        let end = after
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after.len());
        port = parse_u64(after.get(..end)?);
        rest = after.get(end..)?;
    }
    Some((addr, port, rest))
}

/// `USER ADDR[ port N]`, the address being the last word (user names may hold spaces).
fn user_addr_port(text: &str) -> Option<(&str, &str, Option<u64>)> {
    let (head, port) = match text.rsplit_once(" port ") {
        Some((head, digits)) if parse_u64(digits).is_some() => (head, parse_u64(digits)),
        _ => (text, None),
    };
    let (user, addr) = head.rsplit_once(' ').unwrap_or(("", head));
    if !looks_like_address(addr) || addr == "UNKNOWN" {
        return None;
    }
    Some((user, addr, port))
}

fn set_addr(event: &mut Event, addr: &str, port: Option<u64>) {
    set_source(event, addr);
    if let Some(port) = port {
        event.set("source.port", port);
    }
}

/// `Invalid user NAME from ADDR[ port N]`, `Illegal user …`, and
/// `input_userauth_request: invalid user NAME`.
fn invalid_user(msg: &str, event: &mut Event) -> bool {
    if let Some(name) = msg.strip_prefix("input_userauth_request: invalid user ") {
        event.set_nonempty("user.name", name);
        event.set("user.valid", false);
        mark(
            event,
            "ssh_userauth_request",
            "authentication",
            "info",
            "unknown",
        );
        return true;
    }
    let Some(rest) = msg
        .strip_prefix("Invalid user ")
        .or_else(|| msg.strip_prefix("Illegal user "))
    else {
        return false;
    };
    let parsed = split_from(rest);
    let Some((user, addr, port)) = parsed else {
        return false;
    };
    event.set_nonempty("user.name", user);
    event.set("user.valid", false);
    set_addr(event, addr, port);
    mark(
        event,
        "ssh_invalid_user",
        "authentication",
        "denied",
        "failure",
    );
    true
}

/// `User U from ADDR not allowed because …`, `ROOT LOGIN REFUSED FROM ADDR`, and
/// TCP wrappers' `refused connect from NAME (ADDR)`.
fn refused(msg: &str, event: &mut Event) -> bool {
    if let Some(rest) = msg.strip_prefix("User ")
        && let Some((who, reason)) = rest.rsplit_once(" not allowed because ")
    {
        event.set("event.reason", reason);
        match who.rsplit_once(" from ") {
            Some((user, addr)) if looks_like_address(addr) => {
                event.set_nonempty("user.name", user);
                set_source(event, addr);
            }
            _ => event.set_nonempty("user.name", who),
        }
        mark(
            event,
            "ssh_user_not_allowed",
            "authentication",
            "denied",
            "failure",
        );
        return true;
    }
    if let Some(rest) = msg.strip_prefix("ROOT LOGIN REFUSED FROM ") {
        let Some((addr, port, _)) = addr_port(rest) else {
            return false;
        };
        event.set("user.name", "root");
        set_addr(event, addr, port);
        mark(
            event,
            "ssh_login_refused",
            "authentication",
            "denied",
            "failure",
        );
        return true;
    }
    if let Some(rest) = msg.strip_prefix("refused connect from ") {
        let addr = rest
            .rsplit_once('(')
            .and_then(|(_, a)| a.strip_suffix(')'))
            .filter(|a| looks_like_address(a));
        if let Some(addr) = addr {
            set_source(event, addr);
        }
        mark(
            event,
            "ssh_connection_refused",
            "network",
            "denied",
            "failure",
        );
        return true;
    }
    false
}

/// sshd's reverse-DNS warnings, ending `POSSIBLE BREAK-IN ATTEMPT[!]`.
fn break_in(msg: &str, event: &mut Event) -> bool {
    if !msg.contains("POSSIBLE BREAK-IN ATTEMPT") {
        return false;
    }
    let addr = if let Some(rest) = msg.strip_prefix("reverse mapping checking getaddrinfo for ") {
        rest.split_once(" [")
            .and_then(|(_, a)| a.split_once(']'))
            .map(|(a, _)| a)
    } else if let Some(rest) = msg.strip_prefix("Address ") {
        rest.split_once(' ').map(|(a, _)| a)
    } else {
        None
    };
    if let Some(addr) = addr.filter(|a| looks_like_address(a)) {
        set_source(event, addr);
    }
    mark(event, "ssh_break_in_attempt", "network", "info", "unknown");
    true
}

/// `PAM: Authentication failure for [illegal user ]U from HOST[ via …]`, PAM module
/// lines (`pam_unix(sshd:auth): …`), `PAM N more authentication failures; …`.
fn pam(msg: &str, event: &mut Event) -> bool {
    if let Some(rest) = msg.strip_prefix("PAM: ") {
        let Some((_, rest)) = rest.split_once(" for ") else {
            return false;
        };
        let Some((user, addr, _)) = split_from(rest) else {
            return false;
        };
        set_user(event, user);
        set_source(event, addr);
        mark(
            event,
            "pam_auth_failure",
            "authentication",
            "denied",
            "failure",
        );
        return true;
    }
    if msg.starts_with("pam_") {
        return auth::pam_module(msg, event);
    }
    if let Some(rest) = msg.strip_prefix("PAM ")
        && let Some((count, rest)) = rest.split_once(" more authentication failure")
        && let Some(count) = parse_u64(count)
    {
        event.set("event.dataset", "pam");
        event.set("event.count", count);
        if let Some((_, fields)) = rest.split_once("; ") {
            auth::pam_fields(fields, event);
        }
        mark(
            event,
            "pam_more_failures",
            "authentication",
            "info",
            "unknown",
        );
        return true;
    }
    false
}

/// `maximum authentication attempts exceeded for U from ADDR port N sshN` and
/// `Disconnecting: Too many authentication failures[ for U]`.
fn too_many(msg: &str, event: &mut Event) -> bool {
    if let Some(rest) = msg.strip_prefix("maximum authentication attempts exceeded for ") {
        let Some((user, addr, port)) = split_from(rest) else {
            return false;
        };
        set_user(event, user);
        set_addr(event, addr, port);
        mark(
            event,
            "ssh_max_auth_attempts",
            "authentication",
            "denied",
            "failure",
        );
        return true;
    }
    if let Some(rest) = msg.strip_prefix("Disconnecting: Too many authentication failures") {
        if let Some(user) = rest.strip_prefix(" for ") {
            set_user(event, user);
        }
        mark(
            event,
            "ssh_max_auth_attempts",
            "authentication",
            "denied",
            "failure",
        );
        return true;
    }
    false
}

/// The ends of a connection: `Received disconnect from …`, `Disconnected from …`,
/// `Disconnecting (invalid|authenticating) user …: REASON`, `Connection closed by …`,
/// `Connection reset by …`. A disconnect before authentication (`[preauth]`) or for an
/// authentication failure is a failure; any other is the normal end of a session.
fn disconnect(msg: &str, preauth: bool, event: &mut Event) -> bool {
    if let Some(rest) = msg.strip_prefix("Received disconnect from ") {
        let Some((addr, port, rest)) = addr_port(rest) else {
            return false;
        };
        set_addr(event, addr, port);
        let reason = rest.trim_start_matches([':', ' ']);
        let (code, text) = reason.split_once(':').unwrap_or(("", reason));
        if let Some(code) = parse_u64(code.trim()) {
            event.set("ssh.disconnect_code", code);
        }
        let text = text.trim();
        event.set_nonempty("event.reason", text);
        let failed = preauth || text.contains("Auth fail");
        disconnect_mark(event, failed);
        return true;
    }
    if let Some(rest) = msg.strip_prefix("Disconnecting ")
        && let Some((who, reason)) = rest.split_once(": ")
    {
        let who = who
            .strip_prefix("invalid user ")
            .map(|w| (w, false))
            .or_else(|| who.strip_prefix("authenticating user ").map(|w| (w, true)));
        let Some((who, valid)) = who else {
            return false;
        };
        let Some((user, addr, port)) = user_addr_port(who) else {
            return false;
        };
        event.set_nonempty("user.name", user);
        event.set("user.valid", valid);
        set_addr(event, addr, port);
        event.set("event.reason", reason);
        // `Too many authentication failures` follows the `maximum authentication
        // attempts exceeded` line that already reported the failure.
        disconnect_mark(
            event,
            !reason.starts_with("Too many authentication failures"),
        );
        return true;
    }
    let rest = msg
        .strip_prefix("Disconnected from ")
        .or_else(|| msg.strip_prefix("Connection closed by "))
        .or_else(|| msg.strip_prefix("Connection reset by "));
    let Some(rest) = rest else {
        return false;
    };
    let (rest, valid) = if let Some(r) = rest.strip_prefix("invalid user ") {
        (r, Some(false))
    } else if let Some(r) = rest
        .strip_prefix("authenticating user ")
        .or_else(|| rest.strip_prefix("user "))
    {
        (r, Some(true))
    } else {
        (rest, None)
    };
    let parsed = match valid {
        Some(_) => user_addr_port(rest),
        None => addr_port(rest)
            .filter(|(_, _, tail)| tail.trim().is_empty())
            .map(|(a, p, _)| ("", a, p)),
    };
    let Some((user, addr, port)) = parsed else {
        return false;
    };
    event.set_nonempty("user.name", user);
    if let Some(valid) = valid {
        event.set("user.valid", valid);
    }
    set_addr(event, addr, port);
    disconnect_mark(event, preauth);
    true
}

fn disconnect_mark(event: &mut Event, failed: bool) {
    let outcome = if failed { "failure" } else { "unknown" };
    mark(event, "ssh_disconnect", "authentication", "end", outcome);
}

/// `Connection from ADDR port N on …` and the `SSH: Server;Ltype: …;Remote: ADDR-PORT`
/// lines some builds write: the start of a connection, not a failure.
fn connection(msg: &str, event: &mut Event) -> bool {
    if let Some(rest) = msg.strip_prefix("Connection from ") {
        let Some((addr, port, _)) = addr_port(rest) else {
            return false;
        };
        set_addr(event, addr, port);
        mark(event, "ssh_connection", "network", "start", "unknown");
        return true;
    }
    if msg.starts_with("SSH: Server;") {
        let remote = msg
            .split(';')
            .find_map(|part| part.strip_prefix("Remote: "))
            .and_then(|r| r.rsplit_once('-'));
        if let Some((addr, port)) = remote
            && looks_like_address(addr)
        {
            set_addr(event, addr, parse_u64(port));
        }
        mark(event, "ssh_connection", "network", "info", "unknown");
        return true;
    }
    false
}

/// Connections that never got to authentication: no identification, bad protocol,
/// failed negotiation, time-outs, corrupted packets.
fn protocol_error(msg: &str, preauth: bool, event: &mut Event) -> bool {
    const WITH_ADDRESS: [&str; 6] = [
        "Did not receive identification string from ",
        "banner exchange: Connection from ",
        "ssh_dispatch_run_fatal: Connection from ",
        "Timeout before authentication for connection from ",
        "Timeout before authentication for ",
        "Unable to negotiate with ",
    ];
    for prefix in WITH_ADDRESS {
        if let Some(rest) = msg.strip_prefix(prefix) {
            if let Some((addr, port, tail)) = addr_port(rest) {
                set_addr(event, addr, port);
                event.set_nonempty("event.reason", tail.trim_start_matches([':', ' ', ',']));
            }
            mark(event, "ssh_protocol_error", "network", "denied", "failure");
            return true;
        }
    }
    if let Some(rest) = msg.strip_prefix("Bad protocol version identification ") {
        if let Some((_, addr, port)) = split_from(rest) {
            set_addr(event, addr, port);
        }
        mark(event, "ssh_protocol_error", "network", "denied", "failure");
        return true;
    }
    let unaddressed = msg.starts_with("kex_exchange_identification: ")
        || msg.starts_with("Unable to negotiate")
        || msg.starts_with("no matching ")
        || msg.starts_with("no hostkey alg")
        || (preauth
            && (msg.starts_with("Read from socket failed") || msg.starts_with("Write failed")));
    if unaddressed {
        event.set("event.reason", msg);
        mark(event, "ssh_protocol_error", "network", "denied", "failure");
        return true;
    }
    false
}

/// Whether an sshd event counts as a failed login attempt from its source — the
/// verdict compared with fail2ban's (`sshd` filter, `aggressive` mode) in
/// `tests/normalize_fail2ban.rs`:
///
/// - it has a remote address (`source.address`, possibly filled in from earlier lines
///   of the same connection by [`super::SshSessions`]), and
/// - either it reports a failure (`event.outcome` `failure`: failed or refused
///   authentication, invalid or disallowed user, too many attempts, a disconnect before
///   authentication, a protocol error before authentication), except a failed public
///   key for a valid user (clients offer several keys; fail2ban gh-1263) and PAM
///   module lines (sshd writes its own failure line after them);
/// - or [`super::SshSessions`] marked it: the user name changed within one connection
///   after a failure (`ssh.user_changed`), or an earlier failure of the connection had
///   no address yet (`ssh.after_unaddressed_failure`).
///
/// `POSSIBLE BREAK-IN ATTEMPT` warnings do not count (reverse DNS mismatches are
/// common and say nothing about authentication; fail2ban stopped counting them too).
pub fn counts_as_ssh_failure(event: &Event) -> bool {
    let has_address = event
        .get_str("source.address")
        .is_some_and(|a| !a.is_empty());
    if !has_address {
        return false;
    }
    let flagged = |path: &str| event.get(path).and_then(|v| v.as_bool()) == Some(true);
    if flagged("ssh.user_changed") || flagged("ssh.after_unaddressed_failure") {
        return true;
    }
    if event.get_str("event.outcome") != Some("failure") {
        return false;
    }
    if event.get_str("event.dataset") == Some("pam") {
        return false;
    }
    let valid_user_key = event.get_str("ssh.method") == Some("publickey")
        && event.get("user.valid").and_then(|v| v.as_bool()) != Some(false);
    !valid_user_key
}
