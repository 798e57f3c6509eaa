//! `webqx-sec events send FILE`: events, or log lines, into security monitoring through
//! `POST /v1/events`, in batches the server takes, answered per line of the file.
//!
//! What the file may hold:
//! - one JSON document: an object (one event) or an array of them;
//! - otherwise lines, each on its own: a line that starts with `{` or `[` is sent as it
//!   is (the server takes a JSON object as a schema event and refuses anything else);
//!   any other line (syslog/auth.log, Apache/nginx access or error logs, plain text) is
//!   normalized here into a schema event by the events crate, as the server normalizes
//!   the files it follows. Blank lines are skipped.
//!
//! Batches hold at most `--batch` items and [`BATCH_BYTES`] bytes. A 413 answer names the
//! server's limit (`limit`: `[monitor] max_items` or `server.max_body_bytes`); the
//! refused batch, of which the server took nothing, is split to fit and sent again.
//!
//! Items the server refused only for now (`"retry": true`: its queue is full) are sent
//! again after a pause, round after round while the server takes some of them; after
//! `--retries` rounds in a row in which it took none (the pause doubling from
//! [`FIRST_PAUSE`] up to [`LONGEST_PAUSE`]), they are reported rejected.
//!
//! Exit codes: 0 every item accepted; 1 some item rejected (by the server, or here as a
//! line no event can be made of); 4/5/3 when a batch as a whole is refused, fails or
//! cannot be sent: what was sent before it is reported, and the message names the first
//! line not sent.

use crate::Global;
use crate::client::Client;
use crate::commands::connect;
use crate::exit::{Exit, Failure};
use crate::output::{print_json, visible};
use clap::Subcommand;
use serde_json::{Value, json};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use webqx_events::normalize::{self, Format, Options, SshSessions, Years};

/// Most bytes in one request body (the server's default `server.max_body_bytes` is
/// 32 MiB; smaller requests keep each answer quick).
pub const BATCH_BYTES: usize = 4 * 1024 * 1024;

/// The pause before items refused for now are sent again; it doubles after each round
/// in which the server took none of them.
pub const FIRST_PAUSE: Duration = Duration::from_millis(200);
/// The longest pause between two rounds.
pub const LONGEST_PAUSE: Duration = Duration::from_secs(5);

/// `events …`.
#[derive(Subcommand, Debug)]
pub enum EventsCommand {
    /// Send events from a file (`-` for standard input): a JSON object, a JSON array,
    /// NDJSON, or log lines (syslog/auth.log, web server logs), which are normalized
    /// into events first. Sent in batches; results name the line of the file. Exits 1
    /// when an item was rejected.
    Send {
        /// The file.
        file: PathBuf,
        /// Most items in one request (lowered to the server's `[monitor] max_items`
        /// when it answers 413 with it).
        #[arg(long, default_value_t = 1000,
              value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        batch: u32,
        /// Rounds in a row in which the server takes none of the items it refused for
        /// now (its queue is full) before they are reported rejected; 0 sends each item
        /// once.
        #[arg(long, default_value_t = 5,
              value_parser = clap::value_parser!(u32).range(0..=100))]
        retries: u32,
    },
}

/// Where an item is in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// A 1-based line.
    Line(usize),
    /// The 0-based position in the file's JSON array.
    Element(usize),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Line(n) => write!(f, "line {n}"),
            Origin::Element(n) => write!(f, "item {n}"),
        }
    }
}

/// One item of the file.
#[derive(Debug)]
struct Entry {
    at: Origin,
    payload: Payload,
}

/// What an item sends, kept only while it may still be sent.
#[derive(Debug)]
enum Payload {
    /// These bytes of the file, sent as they are (a JSON line).
    Raw(Range<usize>),
    /// These bytes of the file: a log line, normalized into an event when first sent.
    Line(Range<usize>),
    /// The NDJSON line to send.
    Ready(Vec<u8>),
    /// Answered for good, or no event could be made of it: nothing to send.
    Done,
}

/// The file and its items. A log line becomes an event only when its batch is built,
/// and an item's text is dropped once the server has answered it for good, so a large
/// file costs little more than its own size (normalized events are several times the
/// size of their lines).
struct Items {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
    options: Options,
    /// Links the lines of one sshd connection; fed in file order, since items are
    /// first sent in file order.
    sessions: SshSessions,
    /// The year of BSD timestamps: the first line's from the clock, then following
    /// the file across New Year (lines are normalized in file order).
    years: Years,
    /// One past the last item the server has answered (in any round).
    answered_to: usize,
}

impl Items {
    /// The file's items, in order: a JSON document's, or its lines (blank ones skipped).
    fn new(mut bytes: Vec<u8>) -> Items {
        // A byte-order mark (as some Windows tools write) is not part of the first item.
        if bytes.starts_with(b"\xef\xbb\xbf") {
            bytes.drain(..3);
        }
        let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
        let opens_json = start.is_some_and(|i| matches!(bytes.get(i), Some(b'{' | b'[')));
        let document = opens_json
            .then(|| serde_json::from_slice::<Value>(&bytes).ok())
            .flatten();
        let entries = match document {
            Some(document) => from_document(document, &bytes, start.unwrap_or(0)),
            None => from_lines(&bytes),
        };
        Items {
            bytes,
            entries,
            options: Options::default(),
            sessions: SshSessions::new(),
            years: Years::archive(None),
            answered_to: 0,
        }
    }

    /// The NDJSON line entry `i` sends (`Ok(None)`: nothing left to send), normalizing a
    /// log line the first time; `Err` says why no event could be made of it.
    fn payload(&mut self, i: usize) -> Result<Option<&[u8]>, String> {
        let Some(entry) = self.entries.get_mut(i) else {
            return Ok(None);
        };
        if let Payload::Line(range) = &entry.payload {
            let line = self.bytes.get(range.clone()).unwrap_or_default();
            self.years.follow(line, &mut self.options);
            let made = normalize::normalize_line(line, Format::Auto, &self.options)
                .map_err(|rejected| rejected.to_string())
                .and_then(|mut event| {
                    self.sessions.observe(&mut event);
                    // Written from the event itself: the same text as its JSON value,
                    // without building one.
                    serde_json::to_vec(&event)
                        .map_err(|e| format!("the event could not be written as JSON: {e}"))
                });
            match made {
                Ok(text) => entry.payload = Payload::Ready(text),
                Err(why) => {
                    entry.payload = Payload::Done;
                    return Err(why);
                }
            }
        }
        Ok(match &entry.payload {
            Payload::Raw(range) => self.bytes.get(range.clone()),
            Payload::Ready(text) => Some(text.as_slice()),
            Payload::Line(_) | Payload::Done => None,
        })
    }

    /// Entry `i` will not be sent again.
    fn forget(&mut self, i: usize) {
        if let Some(entry) = self.entries.get_mut(i) {
            entry.payload = Payload::Done;
        }
    }
}

/// A whole JSON document: its array's elements, or the one value.
fn from_document(document: Value, bytes: &[u8], start: usize) -> Vec<Entry> {
    match document {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| Entry {
                at: Origin::Element(i),
                payload: Payload::Ready(item.to_string().into_bytes()),
            })
            .collect(),
        one => {
            let line = 1 + bytes
                .get(..start)
                .unwrap_or_default()
                .iter()
                .filter(|b| **b == b'\n')
                .count();
            vec![Entry {
                at: Origin::Line(line),
                payload: Payload::Ready(one.to_string().into_bytes()),
            }]
        }
    }
}

/// Lines: JSON ones as they are, others to be normalized into events.
fn from_lines(bytes: &[u8]) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut offset = 0;
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let begin = offset;
        offset += line.len() + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        let payload = if normalize::is_json_text(text) {
            let lead = line.len() - line.trim_ascii_start().len();
            Payload::Raw(begin + lead..begin + lead + text.len())
        } else {
            Payload::Line(begin..begin + line.len())
        };
        out.push(Entry {
            at: Origin::Line(i + 1),
            payload,
        });
    }
    out
}

/// How much one request may hold; lowered by the server's 413 answers.
#[derive(Debug, Clone, Copy)]
struct Batch {
    items: usize,
    bytes: usize,
}

impl Batch {
    /// The entries (indexes into `items`, from `from`) of the next request and its
    /// NDJSON body: at least one entry still to send, whatever its size. An entry no
    /// event can be made of is answered here, rejected, and not sent.
    fn take(
        &self,
        items: &mut Items,
        outcomes: &mut Outcomes,
        from: usize,
    ) -> (Vec<usize>, Vec<u8>) {
        let mut picked = Vec::new();
        let mut body = Vec::new();
        for i in from..items.entries.len() {
            if outcomes.0.get(i).is_some_and(Option::is_some) {
                continue;
            }
            let line = match items.payload(i) {
                Ok(Some(line)) => line,
                Ok(None) => continue,
                Err(why) => {
                    if let Some(slot) = outcomes.0.get_mut(i) {
                        *slot = Some(Outcome::Rejected(why));
                    }
                    continue;
                }
            };
            let full = picked.len() == self.items || body.len() + line.len() + 1 > self.bytes;
            if full && !picked.is_empty() {
                break;
            }
            body.extend_from_slice(line);
            body.push(b'\n');
            picked.push(i);
        }
        (picked, body)
    }

    /// Fits the batch under what a 413 `problem` names (or halves it); false when a
    /// single item is what the server refuses.
    fn shrink(&mut self, problem: &Value, sent: usize, sent_bytes: usize) -> bool {
        if sent <= 1 {
            return false;
        }
        let limit = problem["limit"]
            .as_u64()
            .and_then(|l| usize::try_from(l).ok());
        let kind = problem["type"].as_str().unwrap_or_default();
        if kind.ends_with("/body-too-large") {
            self.bytes = limit
                .filter(|l| *l < sent_bytes)
                .unwrap_or(sent_bytes / 2)
                .max(1);
        } else {
            self.items = limit.filter(|l| *l < sent).unwrap_or(sent / 2).max(1);
        }
        true
    }
}

/// Why one item the server refused as too large on its own cannot be sent: the
/// server's message tells a batch to split, which one item cannot.
fn too_large_alone(problem: &Value, sent_bytes: usize, message: String) -> String {
    let kind = problem["type"].as_str().unwrap_or_default();
    match problem["limit"].as_u64() {
        Some(limit) if kind.ends_with("/body-too-large") => format!(
            "this item alone is {} bytes, over the server's limit of {limit} bytes \
             (server.max_body_bytes): it cannot be sent",
            sent_bytes.saturating_sub(1)
        ),
        _ => message,
    }
}

/// What the server (or this command) made of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Accepted,
    Rejected(String),
    /// Refused for now (`"retry": true`); sent again in the next round.
    Busy(String),
}

/// What became of every entry so far (None: not sent yet).
struct Outcomes(Vec<Option<Outcome>>);

impl Outcomes {
    fn counts(&self) -> (usize, usize) {
        let accepted = self
            .0
            .iter()
            .filter(|o| matches!(o, Some(Outcome::Accepted)))
            .count();
        let rejected = self
            .0
            .iter()
            .filter(|o| matches!(o, Some(Outcome::Rejected(_) | Outcome::Busy(_))))
            .count();
        (accepted, rejected)
    }

    /// Entries not sent (after a failure).
    fn not_sent(&self) -> usize {
        self.0.iter().filter(|o| o.is_none()).count()
    }

    /// Entries refused for now become unsent again; how many.
    fn resend_busy(&mut self) -> usize {
        let mut n = 0;
        for slot in &mut self.0 {
            if matches!(slot, Some(Outcome::Busy(_))) {
                *slot = None;
                n += 1;
            }
        }
        n
    }

    /// Records the server's per-item `results` for the entries `picked` (the body's
    /// line `index` is the position in `picked`: one item a line, no blank lines).
    fn record(&mut self, picked: &[usize], answer: &Value) {
        for r in answer["results"].as_array().into_iter().flatten() {
            let Some(&entry) = r["index"]
                .as_u64()
                .and_then(|i| picked.get(usize::try_from(i).ok()?))
            else {
                continue;
            };
            if let Some(slot) = self.0.get_mut(entry) {
                let reason = || r["reason"].as_str().unwrap_or("rejected").to_owned();
                *slot = Some(if r["status"] == "accepted" {
                    Outcome::Accepted
                } else if r["retry"] == true {
                    Outcome::Busy(reason())
                } else {
                    Outcome::Rejected(reason())
                });
            }
        }
        for &entry in picked {
            // An item the answer does not mention was not taken.
            if let Some(slot) = self.0.get_mut(entry) {
                slot.get_or_insert_with(|| {
                    Outcome::Rejected("the server's answer omits it".into())
                });
            }
        }
    }
}

/// Sends every sendable entry; stops at the first batch refused or failed as a whole,
/// returning that failure (what was not sent is what has no outcome).
///
/// When the server refuses some items of a batch for now (its queue is full), the next
/// batches hold only as many items as it took, growing back (doubling) while batches are
/// taken whole; when it takes none, a pause follows, doubling from [`FIRST_PAUSE`] to
/// [`LONGEST_PAUSE`]. So the server drains its queue instead of refusing the rest of
/// the file, and this command holds few items to send again.
async fn send_all(
    client: &Client,
    items: &mut Items,
    outcomes: &mut Outcomes,
    batch: &mut Batch,
) -> Result<(), Failure> {
    let mut from = 0;
    let mut pause = FIRST_PAUSE;
    // Items the server's queue took at once lately.
    let mut fits = batch.items;
    loop {
        let now = Batch {
            items: fits.clamp(1, batch.items.max(1)),
            bytes: batch.bytes,
        };
        let (picked, body) = now.take(items, outcomes, from);
        let Some(&first) = picked.first() else {
            return Ok(());
        };
        let last = picked.last().copied().unwrap_or(first);
        let sent_bytes = body.len();
        match client.raw("/v1/events", "application/x-ndjson", body).await {
            Ok(answer) => {
                let answer: Value = serde_json::from_slice(&answer).unwrap_or_default();
                outcomes.record(&picked, &answer);
                let mut busy = 0;
                for &i in &picked {
                    if matches!(outcomes.0.get(i), Some(Some(Outcome::Busy(_)))) {
                        busy += 1;
                    } else {
                        items.forget(i);
                    }
                }
                from = last + 1;
                items.answered_to = items.answered_to.max(from);
                let taken = picked.len() - busy;
                if busy == 0 {
                    fits = fits.saturating_mul(2).min(batch.items);
                    pause = FIRST_PAUSE;
                } else if taken > 0 {
                    fits = taken;
                } else if from < items.entries.len() {
                    fits = 1;
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(LONGEST_PAUSE);
                }
            }
            Err(f) if f.problem.as_ref().is_some_and(|p| p["status"] == 413) => {
                let problem = f.problem.clone().unwrap_or_default();
                if !batch.shrink(&problem, picked.len(), sent_bytes) {
                    if let Some(slot) = outcomes.0.get_mut(first) {
                        *slot = Some(Outcome::Rejected(too_large_alone(
                            &problem, sent_bytes, f.message,
                        )));
                    }
                    items.forget(first);
                    from = first + 1;
                    items.answered_to = items.answered_to.max(from);
                }
            }
            Err(f) => return Err(f),
        }
    }
}

/// Sends everything, then what the server refused for now, round after round while it
/// takes some, and up to `retries` rounds in a row in which it takes none.
async fn send_rounds(
    client: &Client,
    items: &mut Items,
    outcomes: &mut Outcomes,
    mut batch: Batch,
    retries: u32,
) -> Result<(), Failure> {
    let mut idle = 0;
    let mut pause = FIRST_PAUSE;
    loop {
        let (accepted_before, _) = outcomes.counts();
        send_all(client, items, outcomes, &mut batch).await?;
        let busy = outcomes
            .0
            .iter()
            .filter(|o| matches!(o, Some(Outcome::Busy(_))))
            .count();
        if busy == 0 || retries == 0 {
            return Ok(());
        }
        let progress = outcomes.counts().0 > accepted_before;
        if progress {
            idle = 0;
            pause = FIRST_PAUSE;
        } else {
            idle += 1;
            if idle > retries {
                return Ok(());
            }
        }
        eprintln!(
            "{busy} items refused for now (the server's queue is full); sending them again \
             in {} ms",
            pause.as_millis()
        );
        tokio::time::sleep(pause).await;
        if !progress {
            pause = (pause * 2).min(LONGEST_PAUSE);
        }
        outcomes.resend_busy();
    }
}

fn read(file: &Path) -> Result<Vec<u8>, Failure> {
    if file.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
            .map_err(|e| Failure::local(format!("cannot read standard input: {e}")))?;
        return Ok(buf);
    }
    std::fs::read(file).map_err(|e| Failure::local(format!("cannot read {}: {e}", file.display())))
}

/// The results as one JSON document: every item answered, and after a failure the
/// items not sent.
fn report_json(entries: &[Entry], outcomes: &Outcomes) -> Value {
    let (accepted, rejected) = outcomes.counts();
    let not_sent = outcomes.not_sent();
    let results: Vec<Value> = entries
        .iter()
        .zip(&outcomes.0)
        .map(|(entry, outcome)| {
            let mut r = match entry.at {
                Origin::Line(n) => json!({"line": n}),
                Origin::Element(n) => json!({"item": n}),
            };
            match outcome {
                Some(Outcome::Accepted) => r["status"] = json!("accepted"),
                Some(Outcome::Rejected(reason) | Outcome::Busy(reason)) => {
                    r["status"] = json!("rejected");
                    r["reason"] = json!(reason);
                }
                None => r["status"] = json!("not_sent"),
            }
            r
        })
        .collect();
    let mut doc = json!({"accepted": accepted, "rejected": rejected, "results": results});
    if not_sent > 0 {
        doc["not_sent"] = json!(not_sent);
    }
    doc
}

/// With `--json`, a send that failed part-way prints one document: the results so far
/// (`report`) with the failure as `error` (the server's problem document, or the
/// message) and the whole message as `detail`. It becomes the failure's problem
/// document, which is what `--json` prints for a failure.
fn with_report(failure: &mut Failure, mut report: Value) {
    report["error"] = failure
        .problem
        .take()
        .unwrap_or_else(|| json!({"detail": failure.message}));
    report["detail"] = json!(failure.message);
    failure.problem = Some(report);
}

/// The results: every item answered, and after a failure the items not sent.
fn report(g: &Global, entries: &[Entry], outcomes: &Outcomes) {
    if g.json {
        print_json(&report_json(entries, outcomes));
        return;
    }
    let (accepted, rejected) = outcomes.counts();
    let not_sent = outcomes.not_sent();
    if not_sent > 0 {
        println!("{accepted} accepted, {rejected} rejected, {not_sent} not sent");
    } else {
        println!("{accepted} accepted, {rejected} rejected");
    }
    for (entry, outcome) in entries.iter().zip(&outcomes.0) {
        if let Some(Outcome::Rejected(reason) | Outcome::Busy(reason)) = outcome {
            println!("  {}: {}", entry.at, visible(reason));
        }
    }
}

/// Runs an `events` command.
///
/// # Errors
/// An unreadable file; a batch refused or failed as a whole (after reporting what was
/// sent before it).
pub async fn run(g: &Global, cmd: EventsCommand) -> Result<i32, Failure> {
    let EventsCommand::Send {
        file,
        batch,
        retries,
    } = cmd;
    let mut items = Items::new(read(&file)?);
    let mut outcomes = Outcomes(vec![None; items.entries.len()]);
    if items.entries.is_empty() {
        eprintln!("{} holds no events: nothing sent", file.display());
        return Ok(0);
    }
    let client = connect(g)?;
    let batch = Batch {
        items: usize::try_from(batch).unwrap_or(1000),
        bytes: BATCH_BYTES,
    };
    if let Err(mut failure) = send_rounds(&client, &mut items, &mut outcomes, batch, retries).await
    {
        // Items the server refused for now were not taken either.
        outcomes.resend_busy();
        let unsent: Vec<usize> = (0..outcomes.0.len())
            .filter(|&i| outcomes.0[i].is_none())
            .collect();
        let first = unsent.first().copied().unwrap_or(0);
        let at = items.entries.get(first).map_or(Origin::Line(0), |e| e.at);
        if items.answered_to > 0 && !g.json {
            report(g, &items.entries, &outcomes);
        }
        let the_rest = first >= items.answered_to;
        failure.message = if the_rest {
            format!(
                "{}; nothing from {at} on was sent: send the rest again",
                failure.message
            )
        } else {
            format!(
                "{}; {} items were not sent, the first at {at} (listed as not sent): send \
                 those again",
                failure.message,
                unsent.len()
            )
        };
        if g.json && items.answered_to > 0 {
            with_report(&mut failure, report_json(&items.entries, &outcomes));
        }
        return Err(failure);
    }
    report(g, &items.entries, &outcomes);
    let (_, rejected) = outcomes.counts();
    Ok(if rejected > 0 {
        Exit::CheckFailed as i32
    } else {
        0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(bytes: &[u8]) -> Items {
        Items::new(bytes.to_vec())
    }

    fn text(items: &mut Items, i: usize) -> Vec<u8> {
        items.payload(i).unwrap().unwrap().to_vec()
    }

    fn payload(items: &mut Items, i: usize) -> Value {
        serde_json::from_slice(&text(items, i)).unwrap()
    }

    fn origins(items: &Items) -> Vec<Origin> {
        items.entries.iter().map(|e| e.at).collect()
    }

    #[test]
    fn one_item_over_the_body_limit_is_not_told_to_split() {
        let problem = json!({
            "type": "https://webqx.dev/problems/body-too-large",
            "status": 413,
            "limit": 1024,
        });
        let why = too_large_alone(&problem, 2049, "split it into smaller batches".into());
        assert_eq!(
            why,
            "this item alone is 2048 bytes, over the server's limit of 1024 bytes \
             (server.max_body_bytes): it cannot be sent"
        );
        let other = json!({"type": "https://webqx.dev/problems/too-many-items", "limit": 1});
        assert_eq!(too_large_alone(&other, 10, "as given".into()), "as given");
    }

    #[test]
    fn a_failed_send_reports_in_one_json_document() {
        let items = items(b"{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n");
        let outcomes = Outcomes(vec![
            Some(Outcome::Accepted),
            Some(Outcome::Rejected("not an event".into())),
            None,
        ]);
        let mut failure = Failure::new(crate::exit::Exit::Server, "the server failed");
        failure.problem = Some(json!({"status": 503, "title": "Service Unavailable"}));
        with_report(&mut failure, report_json(&items.entries, &outcomes));
        let doc = failure.problem.expect("one document");
        assert_eq!(doc["accepted"], 1);
        assert_eq!(doc["rejected"], 1);
        assert_eq!(doc["not_sent"], 1);
        assert_eq!(doc["results"][2], json!({"line": 3, "status": "not_sent"}));
        assert_eq!(doc["error"]["status"], 503);
        assert_eq!(doc["detail"], "the server failed");

        let mut local = Failure::new(crate::exit::Exit::Connect, "cannot connect");
        with_report(&mut local, report_json(&items.entries, &outcomes));
        assert_eq!(
            local.problem.expect("one document")["error"],
            json!({"detail": "cannot connect"})
        );
    }

    #[test]
    fn a_json_document_is_its_items() {
        let mut arr = items(b"[{\"a\":1},\n 2,\n {\"b\":2}]\n");
        assert_eq!(
            origins(&arr),
            [Origin::Element(0), Origin::Element(1), Origin::Element(2)]
        );
        assert_eq!(payload(&mut arr, 2), json!({"b": 2}));
        let mut one = items(b"\n\n{\n  \"a\": 1\n}\n");
        assert_eq!(origins(&one), [Origin::Line(3)]);
        assert_eq!(payload(&mut one, 0), json!({"a": 1}));
    }

    #[test]
    fn lines_are_numbered_from_1_and_plain_ones_normalized() {
        let text_in = "{\"user\":{\"name\":\"a\"}}\n\n  []\r\n\
            Dec 10 10:00:00 gw sshd[7]: Failed password for root from 203.0.113.5 port 4 ssh2\n\
            {not json\n";
        let mut e = items(text_in.as_bytes());
        assert_eq!(origins(&e), [1, 3, 4, 5].map(Origin::Line));
        assert_eq!(text(&mut e, 0), br#"{"user":{"name":"a"}}"#);
        assert_eq!(text(&mut e, 1), b"[]", "the server judges it");
        assert!(
            matches!(e.entries[2].payload, Payload::Line(_)),
            "a log line is normalized only when sent"
        );
        let ssh = payload(&mut e, 2);
        assert_eq!(ssh["event"]["action"], "ssh_failed_password");
        assert_eq!(ssh["source"]["ip"], "203.0.113.5");
        assert_eq!(
            text(&mut e, 3),
            b"{not json",
            "sent as is: the server says why it is not JSON"
        );
        e.forget(2);
        assert_eq!(e.payload(2), Ok(None), "an answered item keeps nothing");
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_item() {
        let mut lines = items(b"\xef\xbb\xbf{\"a\":1}\n{\"b\":2}\n");
        assert_eq!(origins(&lines), [Origin::Line(1), Origin::Line(2)]);
        assert_eq!(text(&mut lines, 0), br#"{"a":1}"#);
        let mut array = items(b"\xef\xbb\xbf[\n{\"a\":1},\n{\"b\":2}\n]\n");
        assert_eq!(origins(&array), [Origin::Element(0), Origin::Element(1)]);
        assert_eq!(payload(&mut array, 1), json!({"b": 2}));
    }

    #[test]
    fn a_line_no_event_can_be_made_of_is_rejected_here() {
        let mut e = items(b"ok line\nbinary \x00\x01\x02\x03\x04\x05 data\n");
        assert!(e.payload(0).is_ok());
        assert!(e.payload(1).unwrap_err().contains("binary"));
        assert_eq!(e.payload(1), Ok(None), "and not made again");
        assert!(items(b" \n\n").entries.is_empty());
    }

    /// Items `{"n":0}` … as NDJSON lines.
    fn lines(n: usize) -> Items {
        let text: String = (0..n).map(|i| format!("{{\"n\":{i}}}\n")).collect();
        items(text.as_bytes())
    }

    #[test]
    fn batches_hold_at_most_their_items_and_bytes() {
        let mut e = lines(10);
        e.entries[1].payload = Payload::Line(0..0);
        let mut o = Outcomes(vec![None; 10]);
        let b = Batch {
            items: 3,
            bytes: 1000,
        };
        let (picked, body) = b.take(&mut e, &mut o, 0);
        assert_eq!(
            picked,
            [0, 2, 3],
            "an entry no event can be made of is not sent"
        );
        assert!(matches!(o.0[1], Some(Outcome::Rejected(_))), "but answered");
        assert_eq!(body, b"{\"n\":0}\n{\"n\":2}\n{\"n\":3}\n");
        let (picked, _) = b.take(&mut e, &mut o, 9);
        assert_eq!(picked, [9]);
        assert!(b.take(&mut e, &mut o, 10).0.is_empty());
        o.0[2] = Some(Outcome::Accepted);
        assert_eq!(
            b.take(&mut e, &mut o, 0).0,
            [0, 3, 4],
            "nor is one already answered"
        );
        o.0[2] = None;
        let small = Batch {
            items: 100,
            bytes: 17,
        };
        assert_eq!(
            small.take(&mut e, &mut o, 0).0,
            [0, 2],
            "two 8-byte lines fit in 17 bytes"
        );
        let tiny = Batch {
            items: 100,
            bytes: 1,
        };
        assert_eq!(
            tiny.take(&mut e, &mut o, 0).0,
            [0],
            "an item larger than the batch goes alone"
        );
    }

    #[test]
    fn a_413_fits_the_batch_to_the_servers_limit() {
        let mut b = Batch {
            items: 1000,
            bytes: BATCH_BYTES,
        };
        let items = json!({"type": "https://webqx.health/problems/too-many-items", "status": 413, "limit": 50});
        assert!(b.shrink(&items, 1000, 9000));
        assert_eq!(b.items, 50);
        let bytes = json!({"type": "https://webqx.health/problems/body-too-large", "status": 413, "limit": 4096});
        assert!(b.shrink(&bytes, 50, 9000));
        assert_eq!(b.bytes, 4096);
        // Without a limit (an older server), halve.
        let bare = json!({"type": "https://webqx.health/problems/too-many-items", "status": 413});
        assert!(b.shrink(&bare, 50, 100));
        assert_eq!(b.items, 25);
        assert!(!b.shrink(&bare, 1, 100), "one item cannot be split");
    }

    #[test]
    fn results_map_back_to_the_entries_sent() {
        let mut o = Outcomes(vec![None; 5]);
        let answer = json!({"results": [
            {"index": 0, "status": "accepted"},
            {"index": 1, "status": "rejected", "reason": "not a JSON object"},
            {"index": 2, "status": "rejected", "reason": "queue is full", "retry": true}]});
        o.record(&[1, 3, 4, 2], &answer);
        assert_eq!(o.0[1], Some(Outcome::Accepted));
        assert_eq!(o.0[3], Some(Outcome::Rejected("not a JSON object".into())));
        assert_eq!(o.0[4], Some(Outcome::Busy("queue is full".into())));
        assert!(
            matches!(o.0[2], Some(Outcome::Rejected(_))),
            "not in the answer"
        );
        assert_eq!(o.0[0], None);
        assert_eq!(o.counts(), (1, 3), "refused for now counts as rejected");
        assert_eq!(o.resend_busy(), 1);
        assert_eq!(o.0[4], None, "sent again in the next round");
    }
}
