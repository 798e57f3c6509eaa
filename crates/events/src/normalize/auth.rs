//! Local authentication programs: PAM module lines (`pam_unix(sshd:auth): …`), `sudo`,
//! `su` and `login`.

use super::event::Event;
use super::sshd::mark;
use super::text::{parse_u64, set_source};

/// A PAM module line, `pam_NAME(SERVICE:TYPE): MESSAGE`: authentication failures,
/// unknown users, sessions opened and closed. `false` when it is not one.
pub(crate) fn pam_module(msg: &str, event: &mut Event) -> bool {
    let Some((module, rest)) = msg.split_once('(') else {
        return false;
    };
    let Some((service, text)) = rest.split_once("): ") else {
        return false;
    };
    if !module.starts_with("pam_") || module.contains(' ') {
        return false;
    }
    event.set("event.dataset", "pam");
    event.set("pam.module", module);
    let (service, kind) = service.split_once(':').unwrap_or((service, ""));
    event.set("pam.service", service);
    event.set_nonempty("pam.type", kind);

    if let Some(fields) = text.strip_prefix("authentication failure;") {
        pam_fields(fields, event);
        mark(
            event,
            "pam_auth_failure",
            "authentication",
            "denied",
            "failure",
        );
    } else if let Some(rest) = text.strip_prefix("check pass; user ") {
        event.set("event.reason", rest);
        mark(
            event,
            "pam_user_unknown",
            "authentication",
            "info",
            "unknown",
        );
    } else if let Some(rest) = text.strip_prefix("session opened for user ") {
        let user = rest.split([' ', '(']).next().unwrap_or_default();
        event.set_nonempty("user.name", user);
        mark(event, "pam_session_open", "session", "start", "success");
    } else if let Some(rest) = text.strip_prefix("session closed for user ") {
        event.set_nonempty("user.name", rest.trim());
        mark(event, "pam_session_close", "session", "end", "success");
    } else {
        mark(event, "pam_message", "authentication", "info", "unknown");
    }
    true
}

/// PAM's `key=value` list (`logname= uid=0 euid=0 tty=ssh ruser= rhost=HOST user=U`):
/// `rhost` is the source, `user` (else `ruser`) the user.
pub(crate) fn pam_fields(fields: &str, event: &mut Event) {
    let mut user = None;
    let mut ruser = None;
    for item in fields.split_whitespace() {
        let Some((key, value)) = item.split_once('=') else {
            continue;
        };
        if value.is_empty() {
            continue;
        }
        match key {
            "rhost" => set_source(event, value),
            "user" => user = Some(value),
            "ruser" => ruser = Some(value),
            "tty" => {
                event.set("pam.tty", value);
            }
            _ => {}
        }
    }
    if let Some(name) = user.or(ruser) {
        event.set("user.name", name);
    }
}

/// `sudo`: `USER : [VERDICT ; ]TTY=… ; PWD=… ; USER=… ; COMMAND=…`, or a PAM line.
pub(crate) fn sudo(msg: &str, event: &mut Event) {
    event.set("event.dataset", "sudo");
    let msg = msg.trim();
    if msg.starts_with("pam_") && pam_module(msg, event) {
        return;
    }
    let Some((user, rest)) = msg.split_once(" : ") else {
        mark(event, "sudo_message", "process", "info", "unknown");
        return;
    };
    event.set_nonempty("user.name", user.trim());
    let (fields, command) = match rest.split_once("COMMAND=") {
        Some((fields, command)) => (fields, Some(command)),
        None => (rest, None),
    };
    if let Some(command) = command {
        event.set("process.command_line", command);
    }
    let mut verdict = None;
    for item in fields.split(" ; ").map(str::trim).filter(|i| !i.is_empty()) {
        match item.split_once('=') {
            Some(("PWD", v)) => {
                event.set("process.working_directory", v);
            }
            Some(("USER", v)) => {
                event.set("user.target.name", v);
            }
            Some(("TTY", v)) => {
                event.set("process.tty.name", v);
            }
            Some(_) => {}
            None => verdict = verdict.or(Some(item)),
        }
    }
    match verdict {
        None => mark(event, "sudo_command", "process", "start", "success"),
        Some(text) => {
            event.set("event.reason", text.trim_end_matches(" ;"));
            if let Some(count) = text
                .split_once(" incorrect password attempt")
                .and_then(|(n, _)| parse_u64(n))
            {
                event.set("event.count", count);
            }
            mark(
                event,
                "sudo_auth_failure",
                "authentication",
                "denied",
                "failure",
            );
        }
    }
}

/// `su`: `FAILED SU (to T) U on TTY`, `FAILED su for T by U`, `Successful su for T by
/// U`, `(to T) U on TTY`, or a PAM line.
pub(crate) fn su(msg: &str, event: &mut Event) {
    event.set("event.dataset", "su");
    let msg = msg.trim();
    if msg.starts_with("pam_") && pam_module(msg, event) {
        return;
    }
    let (failed, rest) = match msg
        .strip_prefix("FAILED SU ")
        .or_else(|| msg.strip_prefix("FAILED su "))
    {
        Some(rest) => (true, rest),
        None => (false, msg.strip_prefix("Successful su ").unwrap_or(msg)),
    };
    let parties = if let Some(rest) = rest.strip_prefix("(to ") {
        rest.split_once(") ").map(|(target, tail)| {
            let user = tail.split_once(" on ").map_or(tail, |(u, _)| u);
            (target, user)
        })
    } else if let Some(rest) = rest.strip_prefix("for ") {
        rest.split_once(" by ")
    } else {
        None
    };
    let Some((target, user)) = parties else {
        mark(event, "su_message", "authentication", "info", "unknown");
        return;
    };
    event.set_nonempty("user.target.name", target);
    event.set_nonempty("user.name", user.trim());
    if failed {
        mark(
            event,
            "su_auth_failure",
            "authentication",
            "denied",
            "failure",
        );
    } else {
        mark(event, "su_login", "authentication", "allowed", "success");
    }
}

/// `login`: `FAILED LOGIN (N) on 'TTY' [FROM 'HOST'] FOR 'USER', REASON` and
/// `ROOT LOGIN on 'TTY'`, or a PAM line.
pub(crate) fn login(msg: &str, event: &mut Event) {
    event.set("event.dataset", "login");
    let msg = msg.trim();
    if msg.starts_with("pam_") && pam_module(msg, event) {
        return;
    }
    if let Some(rest) = msg.strip_prefix("FAILED LOGIN") {
        if let Some((_, tail)) = rest.split_once(" FROM ") {
            let host = tail.split([' ', ',']).next().unwrap_or_default();
            let host = host.trim_matches('\'');
            if !host.is_empty() {
                set_source(event, host);
            }
        }
        if let Some((_, tail)) = rest.split_once(" FOR ") {
            let (user, reason) = tail.split_once(", ").unwrap_or((tail, ""));
            event.set_nonempty("user.name", user.trim_matches('\''));
            event.set_nonempty("event.reason", reason);
        }
        mark(
            event,
            "login_failure",
            "authentication",
            "denied",
            "failure",
        );
    } else if msg.starts_with("ROOT LOGIN") {
        event.set("user.name", "root");
        mark(
            event,
            "login_success",
            "authentication",
            "allowed",
            "success",
        );
    } else {
        mark(event, "login_message", "authentication", "info", "unknown");
    }
}
