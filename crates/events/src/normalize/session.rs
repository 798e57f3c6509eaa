//! Linking the lines of one sshd connection: sshd names the remote address on some
//! lines only (`Disconnecting: Too many authentication failures`, `kex_exchange_
//! identification: …` have none), and the process id ties them together.

use std::collections::HashMap;

use serde_json::Value;

use super::event::Event;
use super::text::set_source;

/// Connections remembered at most; when full, the oldest half is forgotten.
const MAX_SESSIONS: usize = 65_536;
/// User names remembered per connection.
const MAX_USERS: usize = 8;

/// What one connection (host, sshd pid) has shown so far.
#[derive(Debug, Default, Clone)]
struct Session {
    address: Option<String>,
    failed_users: Vec<String>,
    unaddressed_failure: bool,
    seen: u64,
}

/// Remembers, per sshd connection (host name and pid), the remote address, the users
/// that failed, and whether a failure came before any address. Feed it every event of
/// one stream in order ([`observe`](Self::observe)); it fills in and marks:
///
/// - `source.address`/`source.ip` on lines without one, from the connection (also
///   `ssh.address_from_session: true`);
/// - `ssh.user_changed: true` on an authentication line for a user other than one that
///   already failed in the same connection (a client trying names in turn);
/// - `ssh.after_unaddressed_failure: true` on the first line with an address after a
///   failure that had none.
///
/// Memory is bounded (65,536 connections); a connection is forgotten when it
/// ends.
#[derive(Debug, Default)]
pub struct SshSessions {
    sessions: HashMap<(String, u64), Session>,
    clock: u64,
    /// The key of the line being observed, reused so that looking a connection up
    /// copies no host name (only a new connection stores one).
    key: (String, u64),
}

impl SshSessions {
    /// An empty tracker.
    pub fn new() -> SshSessions {
        SshSessions::default()
    }

    /// Links `event` with the earlier lines of its connection (sshd and PAM events
    /// with a process id only; others pass unchanged).
    pub fn observe(&mut self, event: &mut Event) {
        // Each field is read once: this runs on every line of a hunt.
        if !event
            .get_str("process.name")
            .is_some_and(|p| p.starts_with("sshd"))
        {
            return;
        }
        let Some(pid) = event.get("process.pid").and_then(Value::as_u64) else {
            return;
        };
        let line = Line::of(event);
        self.key.0.clear();
        self.key
            .0
            .push_str(event.get_str("host.name").unwrap_or_default());
        self.key.1 = pid;
        self.make_room();
        self.clock += 1;
        let clock = self.clock;
        if !self.sessions.contains_key(&self.key) {
            self.sessions.insert(self.key.clone(), Session::default());
        }
        let Some(session) = self.sessions.get_mut(&self.key) else {
            return;
        };
        session.seen = clock;

        let addressed = link_address(session, event, &line);
        track_users(session, event, &line);
        if line.disconnect && addressed {
            self.sessions.remove(&self.key);
        }
    }

    fn make_room(&mut self) {
        if self.sessions.len() < MAX_SESSIONS {
            return;
        }
        let mut ages: Vec<u64> = self.sessions.values().map(|s| s.seen).collect();
        ages.sort_unstable();
        let cut = ages.get(ages.len() / 2).copied().unwrap_or(u64::MAX);
        self.sessions.retain(|_, s| s.seen > cut);
    }
}

/// What [`SshSessions`] needs of one line, read once.
struct Line {
    address: Option<String>,
    /// The user of an authentication attempt (password, other method, login, PAM
    /// failure); none on other lines.
    user: Option<String>,
    failed: bool,
    disconnect: bool,
}

impl Line {
    fn of(event: &Event) -> Line {
        let action = event.get_str("event.action").unwrap_or_default();
        let outcome = event.get_str("event.outcome");
        let auth = matches!(
            action,
            "ssh_failed_password" | "ssh_failed_auth" | "ssh_login" | "pam_auth_failure"
        );
        Line {
            address: event.get_str("source.address").map(str::to_owned),
            user: auth
                .then(|| event.get_str("user.name").map(str::to_owned))
                .flatten(),
            failed: outcome == Some("failure"),
            disconnect: action == "ssh_disconnect",
        }
    }
}

/// Fills in or remembers the connection's address; whether the line has one now.
fn link_address(session: &mut Session, event: &mut Event, line: &Line) -> bool {
    match &line.address {
        Some(address) => {
            if session.unaddressed_failure {
                session.unaddressed_failure = false;
                event.set("ssh.after_unaddressed_failure", true);
            }
            if session.address.as_ref() != Some(address) {
                session.address = Some(address.clone());
            }
            true
        }
        None => match &session.address {
            Some(address) => {
                set_source(event, address);
                event.set("ssh.address_from_session", true);
                true
            }
            None => {
                if line.failed {
                    session.unaddressed_failure = true;
                }
                false
            }
        },
    }
}

fn track_users(session: &mut Session, event: &mut Event, line: &Line) {
    let Some(user) = &line.user else {
        return;
    };
    if !session.failed_users.is_empty() && !session.failed_users.contains(user) {
        event.set("ssh.user_changed", true);
    }
    if line.failed && !session.failed_users.contains(user) && session.failed_users.len() < MAX_USERS
    {
        session.failed_users.push(user.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::{Format, Options, normalize_line};

    fn feed(sessions: &mut SshSessions, line: &str) -> Event {
        let options = Options {
            year: 2026,
            ..Options::default()
        };
        let mut event = normalize_line(line.as_bytes(), Format::Syslog, &options).expect("event");
        sessions.observe(&mut event);
        event
    }

    #[test]
    fn lines_of_one_connection_are_linked() {
        let mut s = SshSessions::new();
        let early = feed(
            &mut s,
            "Dec 10 06:55:46 h sshd[7]: Disconnecting: Too many authentication failures",
        );
        assert_eq!(
            early.get_str("source.address"),
            None,
            "no address known yet"
        );
        let first = feed(
            &mut s,
            "Dec 10 06:55:47 h sshd[7]: Failed password for root from 192.0.2.5 port 22 ssh2",
        );
        assert_eq!(first.get("ssh.user_changed"), None);
        let other = feed(
            &mut s,
            "Dec 10 06:55:48 h sshd[7]: Failed password for admin from 192.0.2.5 port 22 ssh2",
        );
        assert_eq!(other.get("ssh.user_changed"), Some(&Value::Bool(true)));
        let closing = feed(
            &mut s,
            "Dec 10 06:55:49 h sshd[7]: Disconnecting: Too many authentication failures",
        );
        assert_eq!(closing.get_str("source.ip"), Some("192.0.2.5"));
        assert_eq!(
            closing.get("ssh.address_from_session"),
            Some(&Value::Bool(true))
        );
        let elsewhere = feed(
            &mut s,
            "Dec 10 06:55:49 h sshd[8]: Disconnecting: Too many authentication failures",
        );
        assert_eq!(elsewhere.get_str("source.address"), None, "another pid");
        let not_sshd = feed(&mut s, "Dec 10 06:55:50 h cron[7]: session opened");
        assert_eq!(not_sshd.get("ssh.address_from_session"), None);
    }
}
