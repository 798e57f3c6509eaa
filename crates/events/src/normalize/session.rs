//! Linking the lines of one sshd connection: sshd names the remote address on some
//! lines only (`Disconnecting: Too many authentication failures`, `kex_exchange_
//! identification: …` have none), and the process id ties them together.

use std::collections::HashMap;

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
        let program = event.get_str("process.name").unwrap_or_default();
        if !program.starts_with("sshd") {
            return;
        }
        let Some(pid) = event.get("process.pid").and_then(|v| v.as_u64()) else {
            return;
        };
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

        link_address(session, event);
        track_users(session, event);
        let ended = event.get_str("event.action") == Some("ssh_disconnect")
            && event.get_str("source.address").is_some();
        if ended {
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

fn link_address(session: &mut Session, event: &mut Event) {
    match event.get_str("source.address") {
        Some(address) => {
            let address = address.to_owned();
            if session.unaddressed_failure {
                session.unaddressed_failure = false;
                event.set("ssh.after_unaddressed_failure", true);
            }
            session.address = Some(address);
        }
        None => match &session.address {
            Some(address) => {
                set_source(event, address);
                event.set("ssh.address_from_session", true);
            }
            None => {
                if event.get_str("event.outcome") == Some("failure") {
                    session.unaddressed_failure = true;
                }
            }
        },
    }
}

fn track_users(session: &mut Session, event: &mut Event) {
    let action = event.get_str("event.action").unwrap_or_default();
    let auth = matches!(
        action,
        "ssh_failed_password" | "ssh_failed_auth" | "ssh_login" | "pam_auth_failure"
    );
    let Some(user) = event.get_str("user.name").filter(|_| auth) else {
        return;
    };
    let user = user.to_owned();
    if !session.failed_users.is_empty() && !session.failed_users.contains(&user) {
        event.set("ssh.user_changed", true);
    }
    let failed = event.get_str("event.outcome") == Some("failure");
    if failed && !session.failed_users.contains(&user) && session.failed_users.len() < MAX_USERS {
        session.failed_users.push(user);
    }
}
