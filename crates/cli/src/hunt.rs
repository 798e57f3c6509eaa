//! `webqx-sec hunt`: offline hunting. Log files (or standard input) are normalized into
//! schema events (`webqx_events::normalize`) and run through the detection engine
//! (`webqx_detect`) with the built-in rule pack and site rules; the detections are
//! grouped into alerts and printed as a table, alert JSON or ECS documents. No server.
//!
//! Exit codes (docs/detection.md, "Hunting"): 0 no alert at or above `--fail-on`, 1 an
//! alert at or above it, 2 usage, 4 an input file, rule folder or context could not be
//! read.
//!
//! Reading is bounded: lines longer than the parser's limit are skipped while they are
//! read (never held whole), binary and too deeply nested lines are counted as rejected
//! and summarized on standard error. With `--threads 2` (the default) one thread reads
//! and normalizes while the other detects.

use crate::exit::Failure;
use chrono::{DateTime, SecondsFormat, Utc};
use clap::Args;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;
use webqx_detect::{
    Context, Detection, Engine, EventText, Level, Options as DetectOptions, RuleSet,
};
use webqx_events::normalize::{
    self, Event, Format, MAX_DOCUMENT_LEN, Options as NormalizeOptions, RejectCounts, SshSessions,
    Years,
};

/// Exit code when something fired at or above `--fail-on`.
const EXIT_FINDINGS: i32 = 1;
/// Exit code when an input, a rule folder or the context could not be read.
const EXIT_UNREADABLE: i32 = 4;
/// Read buffer: large reads, and room for the longest accepted line.
const READ_BUFFER: usize = 1 << 20;
/// Events handed from the reading thread to the detecting thread at once.
const BATCH: usize = 1024;
/// Events read before they are evaluated with `--threads 1`: few, so that each event is
/// freed soon after it was allocated (freeing a thousand at a time made glibc's
/// allocator spend a third of the run consolidating chunks).
const SINGLE_BATCH: usize = 16;
/// Batches in flight between the threads (bounds memory).
const BATCHES_IN_FLIGHT: usize = 8;
/// Findings of one rule and group within this many seconds of the alert's last one
/// join it (the alert store's default `group_window`, docs/alerts.md).
const GROUP_WINDOW_SECS: i64 = 15 * 60;
/// Triggering events kept per alert (docs/alerts.md).
const MAX_ALERT_EVENTS: usize = 20;
/// An event larger than this is replaced by a note in an alert (docs/alerts.md).
const MAX_ALERT_EVENT_BYTES: usize = 16 * 1024;
/// Triggering events kept across all alerts, as compact JSON text. Beyond it alerts are
/// still opened and counted but keep no more events: a gigabyte of attacks held 28,000
/// alerts with 20 events each, 1.7 GB of memory, before this bound.
const EVENT_BUDGET_BYTES: usize = 64 << 20;
/// Alerts kept in memory; findings that would open more are counted, not kept
/// (a log with millions of distinct attackers must not exhaust memory).
const MAX_ALERTS: usize = 100_000;

/// `hunt` arguments.
#[derive(Args, Debug)]
pub struct HuntArgs {
    /// Log files to read (`-` for standard input). The format of each is detected
    /// from its first lines (see --input-format): syslog/auth.log, Apache/nginx
    /// access logs, JSON lines (ModSecurity audit logs among them), FHIR AuditEvent
    /// documents.
    #[arg(required = true, value_name = "FILES")]
    pub files: Vec<PathBuf>,
    /// A folder of Sigma rules to add (repeatable).
    #[arg(long = "rules", value_name = "DIR")]
    pub rules: Vec<PathBuf>,
    /// A folder of Sigma filter documents (site false-positive filters).
    #[arg(long, value_name = "DIR")]
    pub filters: Option<PathBuf>,
    /// EHR context: a JSON file, or a folder with `context.json` or
    /// `users.csv`, `patients.csv` and `care.csv`.
    #[arg(long, value_name = "DIR")]
    pub context: Option<PathBuf>,
    /// Leave the built-in rule pack out (then --rules is required).
    #[arg(long)]
    pub no_builtin: bool,
    /// table, json (alert objects, one per line) or ecs (ECS documents, one per line).
    #[arg(long, default_value = "table", value_name = "FORMAT")]
    pub format: String,
    /// Lowest severity that makes the exit code 1: informational, low, medium, high,
    /// critical, or none.
    #[arg(long, default_value = "high", value_name = "SEVERITY")]
    pub fail_on: String,
    /// Lowest severity reported.
    #[arg(long, default_value = "informational", value_name = "LEVEL")]
    pub min_level: String,
    /// The year of each file's first BSD syslog timestamp, which has none (default: the
    /// year that does not put it in the future; 1970 to 9999). Later lines follow the
    /// file: December to January begins the next year.
    #[arg(long, value_name = "YYYY", value_parser = clap::value_parser!(i32).range(1970..=9999))]
    pub year: Option<i32>,
    /// Also write the normalized events as NDJSON to this file.
    #[arg(long, value_name = "FILE")]
    pub emit_events: Option<PathBuf>,
    /// Read every file in this format instead of detecting it: syslog, access_log,
    /// error_log, ndjson, json, fhir_json, raw, or auto (decide line by line).
    #[arg(long, value_name = "FORMAT")]
    pub input_format: Option<String>,
    /// 2: read and normalize on one thread, detect on another; 1: one thread.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub threads: u8,
}

/// Why the hunt could not run, with its exit code.
#[derive(Debug)]
#[non_exhaustive]
enum HuntError {
    /// Wrong arguments (exit 2).
    Usage(String),
    /// An input, rule folder or context could not be read (exit 4).
    Unreadable(String),
}

impl std::fmt::Display for HuntError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HuntError::Usage(m) | HuntError::Unreadable(m) => f.write_str(m),
        }
    }
}

/// Run `hunt`; the exit code follows the module's table.
pub fn run(json_out: bool, args: HuntArgs) -> Result<i32, Failure> {
    match hunt(json_out, &args) {
        Ok(code) => Ok(code),
        Err(HuntError::Usage(m)) => Err(Failure::usage(m)),
        Err(HuntError::Unreadable(m)) => {
            eprintln!("error: {m}");
            Ok(EXIT_UNREADABLE)
        }
    }
}

/// Output shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutputFormat {
    Table,
    Json,
    Ecs,
}

fn parse_level(name: &str) -> Option<Level> {
    match name.to_ascii_lowercase().as_str() {
        "informational" | "info" => Some(Level::Informational),
        "low" => Some(Level::Low),
        "medium" => Some(Level::Medium),
        "high" => Some(Level::High),
        "critical" => Some(Level::Critical),
        _ => None,
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Informational => "informational",
        Level::Low => "low",
        Level::Medium => "medium",
        Level::High => "high",
        _ => "critical",
    }
}

fn hunt(json_out: bool, args: &HuntArgs) -> Result<i32, HuntError> {
    let format = match (json_out, args.format.as_str()) {
        (true, _) | (_, "json") => OutputFormat::Json,
        (_, "table") => OutputFormat::Table,
        (_, "ecs") => OutputFormat::Ecs,
        (_, other) => {
            return Err(HuntError::Usage(format!(
                "unknown --format {other:?}; use table, json or ecs"
            )));
        }
    };
    let fail_on = match args.fail_on.to_ascii_lowercase().as_str() {
        "none" => None,
        name => Some(parse_level(name).ok_or_else(|| {
            HuntError::Usage(format!(
                "unknown --fail-on {name:?}; use none, informational, low, medium, high or \
                 critical"
            ))
        })?),
    };
    let min_level = parse_level(&args.min_level).ok_or_else(|| {
        HuntError::Usage(format!(
            "unknown --min-level {:?}; use informational, low, medium, high or critical",
            args.min_level
        ))
    })?;
    if args.threads == 0 || args.threads > 2 {
        return Err(HuntError::Usage("--threads must be 1 or 2".into()));
    }
    let input_format = match args.input_format.as_deref() {
        None => None,
        Some(name) => Some(Format::from_name(name).ok_or_else(|| {
            HuntError::Usage(format!(
                "unknown --input-format {name:?}; use syslog, access_log, error_log, ndjson, \
                 json, fhir_json, raw or auto"
            ))
        })?),
    };

    let engine = build_engine(args)?;
    let inputs = open_inputs(&args.files)?;
    let emit = match &args.emit_events {
        Some(path) => Some(BufWriter::with_capacity(
            READ_BUFFER,
            File::create(path).map_err(|e| {
                HuntError::Unreadable(format!(
                    "cannot create {}: {e}; check the folder exists and is writable",
                    path.display()
                ))
            })?,
        )),
        None => None,
    };
    let mut options = NormalizeOptions {
        input: Some("hunt".into()),
        ..NormalizeOptions::default()
    };
    if let Some(year) = args.year {
        options.year = year;
    }

    let started = Instant::now();
    let mut detector = Detector::new(engine, min_level);
    let report = if args.threads == 2 {
        run_threaded(
            inputs,
            &options,
            args.year,
            input_format,
            emit,
            &mut detector,
        )
    } else {
        let mut reader = Reader::new(options, args.year, input_format, emit, SINGLE_BATCH);
        reader.read_all(inputs, &mut |mut batch| detector.take(&mut batch));
        reader.finish()
    };
    let seconds = started.elapsed().as_secs_f64();

    let (alerts, dropped, dropped_level, not_kept) = detector.into_alerts();
    print_alerts(&alerts, format);
    summarize(&report, &alerts, seconds);
    if dropped > 0 {
        eprintln!(
            "hunt: {dropped} findings over the {MAX_ALERTS}-alert limit were counted but not \
             kept; narrow the input or raise --min-level"
        );
    }
    if not_kept > 0 {
        eprintln!(
            "hunt: {not_kept} findings keep no triggering events: the {} MiB kept for them \
             was full (alerts and counts are complete)",
            EVENT_BUDGET_BYTES >> 20
        );
    }
    if let Some(message) = report.failures.first() {
        eprintln!("error: {message}");
        return Ok(EXIT_UNREADABLE);
    }
    let failed = fail_on.is_some_and(|f| {
        alerts.iter().any(|a| a.level >= f) || dropped_level.is_some_and(|l| l >= f)
    });
    Ok(if failed { EXIT_FINDINGS } else { 0 })
}

fn build_engine(args: &HuntArgs) -> Result<Engine, HuntError> {
    let unreadable = |what: &Path, e: &dyn std::fmt::Display| {
        HuntError::Unreadable(format!("cannot load {}: {e}", what.display()))
    };
    let mut rules = if args.no_builtin {
        RuleSet::new()
    } else {
        RuleSet::builtin().map_err(|e| HuntError::Unreadable(e.to_string()))?
    };
    for dir in args.rules.iter().chain(args.filters.iter()) {
        rules.extend(RuleSet::load_dir(dir).map_err(|e| unreadable(dir, &e))?);
    }
    if rules.rule_count() == 0 {
        return Err(HuntError::Usage(
            "no rules: give --rules DIR or leave out --no-builtin".into(),
        ));
    }
    let context = match &args.context {
        Some(path) => load_context(path)?,
        None => Context::new(),
    };
    // hunt reads its files as one stream; a file read twice or out of order restarts
    // the clock, and windows from the "future" must not keep counting.
    let options = DetectOptions {
        reset_on_rewind: true,
        ..DetectOptions::default()
    };
    Engine::new(rules, context, options)
        .map_err(|e| HuntError::Unreadable(format!("the rules do not compile: {e}")))
}

/// The EHR context from a JSON file, or a folder with `context.json` or the three CSVs.
fn load_context(path: &Path) -> Result<Context, HuntError> {
    let read = |p: &Path| {
        std::fs::read_to_string(p)
            .map_err(|e| HuntError::Unreadable(format!("cannot read {}: {e}", p.display())))
    };
    let bad = |p: &Path, e: &dyn std::fmt::Display| {
        HuntError::Unreadable(format!("{}: {e}", p.display()))
    };
    let json_file = if path.is_dir() {
        path.join("context.json")
    } else {
        path.to_path_buf()
    };
    if json_file.is_file() {
        return Context::from_json(&read(&json_file)?).map_err(|e| bad(&json_file, &e));
    }
    let users = read(&path.join("users.csv"))?;
    let patients = read(&path.join("patients.csv"))?;
    let care = read(&path.join("care.csv"))?;
    Context::from_csv(&users, &patients, &care).map_err(|e| bad(path, &e))
}

/// One input: its name for messages and the opened source.
struct Input {
    name: String,
    source: Box<dyn Read + Send>,
}

fn open_inputs(files: &[PathBuf]) -> Result<Vec<Input>, HuntError> {
    let mut inputs = Vec::with_capacity(files.len());
    for path in files {
        if path.as_os_str() == "-" {
            inputs.push(Input {
                name: "-".into(),
                source: Box::new(io::stdin()),
            });
            continue;
        }
        let file = File::open(path)
            .map_err(|e| HuntError::Unreadable(format!("cannot open {}: {e}", path.display())))?;
        if file.metadata().is_ok_and(|m| m.is_dir()) {
            return Err(HuntError::Unreadable(format!(
                "{} is a folder; give the log files in it",
                path.display()
            )));
        }
        inputs.push(Input {
            name: path.display().to_string(),
            source: Box::new(file),
        });
    }
    Ok(inputs)
}

/// What reading produced, per file, and read errors (the hunt then exits 4).
#[derive(Debug, Default)]
struct ReadReport {
    files: Vec<FileReport>,
    failures: Vec<String>,
}

#[derive(Debug)]
struct FileReport {
    name: String,
    format: Format,
    lines: u64,
    events: u64,
    rejected: RejectCounts,
}

impl ReadReport {
    fn lines(&self) -> u64 {
        self.files.iter().map(|f| f.lines).sum()
    }

    fn events(&self) -> u64 {
        self.files.iter().map(|f| f.events).sum()
    }
}

fn run_threaded(
    inputs: Vec<Input>,
    options: &NormalizeOptions,
    first_year: Option<i32>,
    input_format: Option<Format>,
    emit: Option<BufWriter<File>>,
    detector: &mut Detector,
) -> ReadReport {
    let (tx, rx) = mpsc::sync_channel::<Vec<Event>>(BATCHES_IN_FLIGHT);
    // Evaluated batches go back to the reading thread, which allocated their events,
    // to be freed there. Freed on the detecting thread, they contended on glibc's
    // malloc arena locks (a fifth of a 300,000-line run in futex waits, and --threads 2
    // slower than 1); with mimalloc, frees from another thread go through its deferred
    // lists and still cost 30% of the rate (156k against 223k lines/s on 300,000
    // lines). The reader drains them before each send, so few wait.
    let (done_tx, done_rx) = mpsc::channel::<Vec<Event>>();
    let options = options.clone();
    std::thread::scope(|scope| {
        let reading = scope.spawn(move || {
            let mut reader = Reader::new(options, first_year, input_format, emit, BATCH);
            reader.read_all(inputs, &mut |batch| {
                done_rx.try_iter().for_each(drop);
                // The receiver only goes away when detection has ended; nothing to do.
                let _ = tx.send(batch);
            });
            drop(tx);
            done_rx.iter().for_each(drop);
            reader.finish()
        });
        for mut batch in rx {
            detector.take(&mut batch);
            // The reader is gone only once it has stopped reading: then drop here.
            let _ = done_tx.send(batch);
        }
        drop(done_tx);
        reading.join().unwrap_or_else(|_| ReadReport {
            failures: vec!["the reading thread failed".into()],
            ..ReadReport::default()
        })
    })
}

/// Reads inputs, normalizes lines into events and hands them on in batches.
struct Reader {
    options: NormalizeOptions,
    /// `--year`: the year of each file's first BSD timestamp (else placed by the
    /// clock); later lines follow the file across New Year ([`Years`]).
    first_year: Option<i32>,
    /// `--input-format`: every file in this format, not detected.
    input_format: Option<Format>,
    emit: Option<BufWriter<File>>,
    report: ReadReport,
    batch: Vec<Event>,
    /// Events handed on at once.
    batch_size: usize,
}

impl Reader {
    fn new(
        options: NormalizeOptions,
        first_year: Option<i32>,
        input_format: Option<Format>,
        emit: Option<BufWriter<File>>,
        batch_size: usize,
    ) -> Reader {
        Reader {
            options,
            first_year,
            input_format,
            emit,
            report: ReadReport::default(),
            batch: Vec::with_capacity(batch_size),
            batch_size,
        }
    }

    /// Reads every input; between two files, an empty batch tells the detector that
    /// the next file begins (its clock may start over: `Engine::restart_clock`).
    fn read_all(&mut self, inputs: Vec<Input>, sink: &mut dyn FnMut(Vec<Event>)) {
        for (i, input) in inputs.into_iter().enumerate() {
            if i > 0 {
                if !self.batch.is_empty() {
                    sink(std::mem::replace(
                        &mut self.batch,
                        Vec::with_capacity(self.batch_size),
                    ));
                }
                sink(Vec::new());
            }
            if let Err(e) = self.read_one(input, sink) {
                self.report.failures.push(e);
            }
        }
        if !self.batch.is_empty() {
            sink(std::mem::take(&mut self.batch));
        }
    }

    fn read_one(&mut self, input: Input, sink: &mut dyn FnMut(Vec<Event>)) -> Result<(), String> {
        let name = input.name;
        let mut lines = Lines::new(input.source, self.options.max_line_len);
        let head = lines
            .head(64 * 1024)
            .map_err(|e| format!("cannot read {name}: {e}"))?;
        let format = self.input_format.unwrap_or_else(|| Format::detect(head));
        let mut file = FileReport {
            name: name.clone(),
            format,
            lines: 0,
            events: 0,
            rejected: RejectCounts::default(),
        };
        let result = if matches!(format, Format::FhirJson | Format::Json) {
            self.read_document(&mut lines, &mut file, sink)
        } else {
            self.read_lines(&mut lines, format, &mut file, sink)
        };
        self.report.files.push(file);
        result.map_err(|e| format!("cannot read {name}: {e}"))
    }

    fn read_lines<R: Read>(
        &mut self,
        lines: &mut Lines<R>,
        format: Format,
        file: &mut FileReport,
        sink: &mut dyn FnMut(Vec<Event>),
    ) -> io::Result<()> {
        let mut sessions = SshSessions::new();
        let mut years = Years::archive(self.first_year);
        while let Some(line) = lines.next_line()? {
            file.lines += 1;
            let result = match line {
                Line::Text(text) => {
                    years.follow(text, &mut self.options);
                    normalize::normalize_line(text, format, &self.options)
                }
                Line::TooLong(len) => Err(normalize::Rejected::TooLong {
                    len,
                    max: self.options.max_line_len,
                }),
            };
            match result {
                Ok(mut event) => {
                    sessions.observe(&mut event);
                    file.events += 1;
                    self.push(event, sink)?;
                }
                Err(rejected) => file.rejected.add(&rejected),
            }
        }
        Ok(())
    }

    fn read_document<R: Read>(
        &mut self,
        lines: &mut Lines<R>,
        file: &mut FileReport,
        sink: &mut dyn FnMut(Vec<Event>),
    ) -> io::Result<()> {
        let document = lines.rest(MAX_DOCUMENT_LEN + 1)?;
        file.lines = 1;
        match normalize::normalize_document(&document, &self.options) {
            Ok(events) => {
                for event in events {
                    file.events += 1;
                    self.push(event, sink)?;
                }
            }
            Err(rejected) => file.rejected.add(&rejected),
        }
        Ok(())
    }

    fn push(&mut self, event: Event, sink: &mut dyn FnMut(Vec<Event>)) -> io::Result<()> {
        if let Some(out) = &mut self.emit {
            serde_json::to_writer(&mut *out, &event)?;
            out.write_all(b"\n")?;
        }
        self.batch.push(event);
        if self.batch.len() >= self.batch_size {
            sink(std::mem::replace(
                &mut self.batch,
                Vec::with_capacity(self.batch_size),
            ));
        }
        Ok(())
    }

    fn finish(mut self) -> ReadReport {
        if let Some(mut out) = self.emit.take()
            && let Err(e) = out.flush()
        {
            self.report
                .failures
                .push(format!("cannot write the events file: {e}"));
        }
        self.report
    }
}

/// One line as read: its bytes, or only the length of a line over the limit.
enum Line<'a> {
    Text(&'a [u8]),
    TooLong(usize),
}

/// Reads lines with one large buffer and a bound: a line longer than `max` is
/// skipped as it streams past and reported by its length.
struct Lines<R> {
    source: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    max: usize,
}

impl<R: Read> Lines<R> {
    fn new(source: R, max: usize) -> Lines<R> {
        Lines {
            source,
            buf: vec![0; READ_BUFFER.max(max.saturating_add(1))],
            start: 0,
            end: 0,
            eof: false,
            max,
        }
    }

    /// Fills the buffer until it holds `want` bytes or the input ends; the bytes stay
    /// unread.
    fn head(&mut self, want: usize) -> io::Result<&[u8]> {
        while self.end - self.start < want && !self.eof {
            self.fill()?;
        }
        let upto = self.end.min(self.start + want);
        Ok(self.buf.get(self.start..upto).unwrap_or_default())
    }

    /// Everything left, up to `limit` bytes (more is cut off; the document parser
    /// then refuses it as too long).
    fn rest(&mut self, limit: usize) -> io::Result<Vec<u8>> {
        let mut out = self
            .buf
            .get(self.start..self.end)
            .unwrap_or_default()
            .to_vec();
        self.start = self.end;
        let room = limit.saturating_sub(out.len()) as u64;
        (&mut self.source).take(room).read_to_end(&mut out)?;
        Ok(out)
    }

    /// Moves unread bytes to the front and reads more; sets `eof` at the end.
    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let Some(space) = self.buf.get_mut(self.end..) else {
            return Ok(());
        };
        if space.is_empty() {
            return Ok(());
        }
        loop {
            match self.source.read(space) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        let mut skipped = 0usize;
        loop {
            let pending = self.buf.get(self.start..self.end).unwrap_or_default();
            if let Some(pos) = memchr::memchr(b'\n', pending) {
                let (s, e) = (self.start, self.start + pos);
                self.start = e + 1;
                if skipped > 0 {
                    return Ok(Some(Line::TooLong(skipped + pos)));
                }
                return Ok(Some(Line::Text(self.buf.get(s..e).unwrap_or_default())));
            }
            if self.eof {
                let (s, e) = (self.start, self.end);
                self.start = self.end;
                return Ok(match (skipped, s == e) {
                    (0, true) => None,
                    (0, false) => Some(Line::Text(self.buf.get(s..e).unwrap_or_default())),
                    (n, _) => Some(Line::TooLong(n + (e - s))),
                });
            }
            if self.end - self.start > self.max {
                skipped += self.end - self.start;
                self.start = self.end;
            }
            self.fill()?;
        }
    }
}

/// An alert: findings of one rule for one group, grouped as the alert store does.
#[derive(Debug)]
struct Alert {
    rule_id: String,
    title: String,
    level: Level,
    tags: Vec<String>,
    mitre: Vec<String>,
    group_key: String,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    count: u64,
    /// Triggering events as compact JSON text (a third of the memory of `Value`s),
    /// shared with the engine's detections.
    events: Vec<EventText>,
}

/// Triggering events kept by all alerts together, within [`EVENT_BUDGET_BYTES`].
#[derive(Default)]
struct EventBudget {
    used: usize,
    /// The first event that did not fit has been met: no more are kept.
    spent: bool,
    /// Findings met once the budget was spent (their events, or some, not kept).
    not_kept: u64,
}

impl EventBudget {
    /// `events` as an alert keeps them: at most `room`, each replaced by a note when
    /// over 16 KiB, none once the budget is spent.
    fn keep(
        &mut self,
        events: Vec<EventText>,
        room: usize,
    ) -> impl Iterator<Item = EventText> + '_ {
        if self.spent {
            self.not_kept += 1;
        }
        events.into_iter().take(room).filter_map(move |event| {
            if self.spent {
                return None;
            }
            let mut text = event;
            if text.len() > MAX_ALERT_EVENT_BYTES {
                text = EventText::from_value(&json!({"note": format!(
                    "event of {} bytes left out (over 16 KiB)",
                    text.len()
                )}));
            }
            if self.used + text.len() > EVENT_BUDGET_BYTES {
                self.spent = true;
                self.not_kept += 1;
                return None;
            }
            self.used += text.len();
            Some(text)
        })
    }
}

/// Runs the engine and groups its detections into alerts.
struct Detector {
    engine: Engine,
    min_level: Level,
    now: DateTime<Utc>,
    alerts: Vec<Alert>,
    /// (rule id, group key) → index of the newest alert of that pair.
    open: HashMap<(String, String), usize>,
    /// Findings not kept because [`MAX_ALERTS`] was reached, and their highest level.
    dropped: u64,
    dropped_level: Option<Level>,
    budget: EventBudget,
}

impl Detector {
    fn new(engine: Engine, min_level: Level) -> Detector {
        Detector {
            engine,
            min_level,
            now: Utc::now(),
            alerts: Vec::new(),
            open: HashMap::new(),
            dropped: 0,
            dropped_level: None,
            budget: EventBudget::default(),
        }
    }

    /// Evaluates a batch; the events stay in it, for the caller to free (see
    /// [`run_threaded`]).
    ///
    /// An empty batch marks the start of the next file ([`Reader::read_all`]).
    fn take(&mut self, batch: &mut [Event]) {
        if batch.is_empty() {
            self.engine.restart_clock();
        }
        for event in batch {
            let outcome = self.engine.process_at(event, self.now);
            for detection in outcome.detections {
                if detection.level >= self.min_level {
                    self.add(detection);
                    if self.budget.spent {
                        // Nothing more can be kept: the engine stops copying events
                        // into its windows and detections.
                        self.engine.set_trigger_events(0);
                    }
                }
            }
        }
    }

    fn add(&mut self, d: Detection) {
        // Keyed and shown as the alert store does (docs/alerts.md): values, no names.
        let group_key = d.group_values();
        let key = (d.rule_id.clone(), group_key.clone());
        if let Some(alert) = self.open.get(&key).and_then(|&i| self.alerts.get_mut(i))
            && (d.timestamp - alert.last_seen).num_seconds().abs() <= GROUP_WINDOW_SECS
        {
            alert.count += 1;
            alert.first_seen = alert.first_seen.min(d.timestamp);
            alert.last_seen = alert.last_seen.max(d.timestamp);
            let room = MAX_ALERT_EVENTS.saturating_sub(alert.events.len());
            // Successive firings list overlapping windows: each event once.
            let new: Vec<EventText> = d
                .events
                .into_iter()
                .filter(|e| !alert.events.contains(e))
                .collect();
            alert.events.extend(self.budget.keep(new, room));
            return;
        }
        if self.alerts.len() >= MAX_ALERTS {
            self.dropped += 1;
            self.dropped_level = self.dropped_level.max(Some(d.level));
            return;
        }
        self.open.insert(key, self.alerts.len());
        self.alerts.push(Alert {
            rule_id: d.rule_id,
            title: d.title,
            level: d.level,
            tags: d.tags,
            mitre: d.mitre,
            group_key,
            first_seen: d.timestamp,
            last_seen: d.timestamp,
            count: 1,
            events: self.budget.keep(d.events, MAX_ALERT_EVENTS).collect(),
        });
    }

    /// The alerts in time order, with the count and highest level of findings dropped
    /// beyond [`MAX_ALERTS`], and the number of events not kept beyond the budget.
    fn into_alerts(self) -> (Vec<Alert>, u64, Option<Level>, u64) {
        let mut alerts = self.alerts;
        alerts.sort_by_key(|a| (a.first_seen, std::cmp::Reverse(a.level)));
        (
            alerts,
            self.dropped,
            self.dropped_level,
            self.budget.not_kept,
        )
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn print_alerts(alerts: &[Alert], format: OutputFormat) {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let result = match format {
        OutputFormat::Table => write_table(&mut out, alerts),
        OutputFormat::Json => alerts.iter().try_for_each(|a| {
            serde_json::to_writer(&mut out, &alert_json(a))?;
            out.write_all(b"\n")
        }),
        OutputFormat::Ecs => alerts.iter().try_for_each(|a| {
            serde_json::to_writer(&mut out, &alert_ecs(a))?;
            out.write_all(b"\n")
        }),
    };
    if let Err(e) = result.and_then(|()| out.flush()) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
        eprintln!("error: cannot write the report: {e}");
    }
}

fn write_table(out: &mut impl Write, alerts: &[Alert]) -> io::Result<()> {
    writeln!(
        out,
        "{:<13} {:<8} {:<44} {:<30} {:>6}  {:<24} LAST",
        "LEVEL", "RULE", "TITLE", "GROUP", "COUNT", "FIRST"
    )?;
    for a in alerts {
        let rule: String = a.rule_id.chars().take(8).collect();
        let title: String = a.title.chars().take(44).collect();
        writeln!(
            out,
            "{:<13} {:<8} {:<44} {:<30} {:>6}  {:<24} {}",
            level_name(a.level),
            rule,
            title,
            a.group_key,
            a.count,
            time(a.first_seen),
            time(a.last_seen)
        )?;
    }
    Ok(())
}

/// The alert object of docs/alerts.md, as far as an offline hunt knows it (no store:
/// no acknowledgement fields, no change number).
fn alert_json(a: &Alert) -> Value {
    json!({
        "id": uuid::Uuid::now_v7().to_string(),
        "rule_id": a.rule_id,
        "title": a.title,
        "severity": level_name(a.level),
        "tags": a.tags,
        "group_key": a.group_key,
        "status": "open",
        "first_seen": time(a.first_seen),
        "last_seen": time(a.last_seen),
        "count": a.count,
        "events": a
            .events
            .iter()
            .map(EventText::to_value)
            .collect::<Vec<_>>(),
    })
}

/// Elastic's default risk scores for the Sigma levels (`event.severity`).
fn ecs_severity(level: Level) -> u8 {
    match level {
        Level::Informational => 0,
        Level::Low => 21,
        Level::Medium => 47,
        Level::High => 73,
        _ => 99,
    }
}

/// One ECS 8 document for an alert: `event.kind: alert`, `rule.*`, `threat.*` from the
/// MITRE tags, and the group in `webqx.alert`.
fn alert_ecs(a: &Alert) -> Value {
    let mut doc = Map::new();
    doc.insert("@timestamp".into(), time(a.last_seen).into());
    doc.insert(
        "ecs".into(),
        json!({"version": webqx_siem::ecs::ECS_VERSION}),
    );
    doc.insert("message".into(), a.title.clone().into());
    doc.insert(
        "event".into(),
        json!({
            "kind": "alert",
            "category": ["intrusion_detection"],
            "type": ["info"],
            "severity": ecs_severity(a.level),
            "start": time(a.first_seen),
            "end": time(a.last_seen),
            "dataset": "webqx.hunt",
        }),
    );
    doc.insert(
        "rule".into(),
        json!({"id": a.rule_id, "uuid": a.rule_id, "name": a.title, "ruleset": "webqx"}),
    );
    if let Some(threat) = threat(&a.mitre) {
        doc.insert("threat".into(), threat);
    }
    if let Some(ip) = group_ip(&a.group_key) {
        doc.insert("source".into(), json!({"ip": ip}));
        doc.insert("related".into(), json!({"ip": [ip]}));
    }
    doc.insert(
        "webqx".into(),
        json!({"alert": {"group_key": a.group_key, "count": a.count,
                          "severity": level_name(a.level), "tags": a.tags}}),
    );
    Value::Object(doc)
}

/// `threat.*` from `attack.tNNNN[.NNN]` and tactic tags (`attack.credential-access`).
fn threat(mitre: &[String]) -> Option<Value> {
    let mut techniques: Vec<Value> = Vec::new();
    let mut tactics: Vec<String> = Vec::new();
    for tag in mitre {
        let Some(name) = tag.strip_prefix("attack.") else {
            continue;
        };
        let is_technique = name.starts_with(['t', 'T'])
            && name
                .get(1..5)
                .is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()));
        if !is_technique {
            tactics.push(name.replace(['-', '_'], " "));
            continue;
        }
        let id = name.to_ascii_uppercase();
        let base = id.split('.').next().unwrap_or(&id).to_owned();
        let mut technique = json!({"id": base,
            "reference": format!("https://attack.mitre.org/techniques/{base}/")});
        if id.contains('.') {
            let path = id.replace('.', "/");
            technique["subtechnique"] = json!([{"id": id,
                "reference": format!("https://attack.mitre.org/techniques/{path}/")}]);
        }
        techniques.push(technique);
    }
    if techniques.is_empty() && tactics.is_empty() {
        return None;
    }
    let mut threat = json!({"framework": "MITRE ATT&CK", "technique": techniques});
    if !tactics.is_empty() {
        threat["tactic"] = json!({ "name": tactics });
    }
    Some(threat)
}

/// The first address among a group key's values (`1.2.3.4`, `root,1.2.3.4`).
fn group_ip(group_key: &str) -> Option<String> {
    group_key
        .split(',')
        .find_map(|v| v.parse::<std::net::IpAddr>().ok())
        .map(|ip| ip.to_string())
}

fn summarize(report: &ReadReport, alerts: &[Alert], seconds: f64) {
    for f in &report.files {
        let r = &f.rejected;
        eprintln!(
            "hunt: {}: {}, {} lines, {} events, {} rejected (binary {}, too long {}, too \
             deep {}, empty {})",
            f.name,
            f.format.name(),
            f.lines,
            f.events,
            r.total(),
            r.binary,
            r.too_long,
            r.too_deep,
            r.empty
        );
    }
    let lines = report.lines();
    let findings: u64 = alerts.iter().map(|a| a.count).sum();
    let rate = if lines == 0 {
        0.0
    } else {
        findings as f64 * 100.0 / lines as f64
    };
    eprintln!(
        "hunt: {lines} lines, {} events in {seconds:.3} s ({:.0} lines/s); {} alerts from \
         {findings} findings ({rate:.3}% of lines)",
        report.events(),
        lines as f64 / seconds.max(1e-9),
        alerts.len()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    type Got = Vec<Result<Vec<u8>, usize>>;

    fn lines_of(input: &[u8], max: usize) -> Got {
        let mut lines = Lines::new(input, max);
        let mut out = Vec::new();
        while let Some(line) = lines.next_line().expect("read") {
            out.push(match line {
                Line::Text(t) => Ok(t.to_vec()),
                Line::TooLong(n) => Err(n),
            });
        }
        out
    }

    #[test]
    fn lines_split_on_newlines_and_keep_a_last_line_without_one() {
        let want: Got = vec![
            Ok(b"a".to_vec()),
            Ok(b"bb".to_vec()),
            Ok(vec![]),
            Ok(b"ccc".to_vec()),
        ];
        assert_eq!(lines_of(b"a\nbb\n\nccc", 16), want);
    }

    #[test]
    fn a_line_over_the_buffer_is_skipped_and_measured() {
        let mut input = b"first\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 3 * READ_BUFFER + 7));
        input.extend(b"\nlast\n");
        let want: Got = vec![
            Ok(b"first".to_vec()),
            Err(3 * READ_BUFFER + 7),
            Ok(b"last".to_vec()),
        ];
        assert_eq!(lines_of(&input, 100), want);
    }

    #[test]
    fn a_long_last_line_without_newline_is_measured() {
        let input = vec![b'y'; 2 * READ_BUFFER];
        assert_eq!(lines_of(&input, 100), vec![Err(2 * READ_BUFFER)]);
    }

    #[test]
    fn head_leaves_the_bytes_to_read() {
        let mut lines = Lines::new(&b"one\ntwo\n"[..], 100);
        assert_eq!(lines.head(3).expect("head"), b"one");
        assert!(matches!(
            lines.next_line().expect("line"),
            Some(Line::Text(b"one"))
        ));
    }

    #[test]
    fn threat_fields_from_mitre_tags() {
        let t = threat(&["attack.t1110.001".into(), "attack.credential-access".into()])
            .expect("threat");
        assert_eq!(t["technique"][0]["id"], "T1110");
        assert_eq!(t["technique"][0]["subtechnique"][0]["id"], "T1110.001");
        assert_eq!(t["tactic"]["name"][0], "credential access");
    }

    #[test]
    fn group_keys_give_their_address() {
        assert_eq!(group_ip("10.0.0.1").as_deref(), Some("10.0.0.1"));
        assert_eq!(group_ip("root,2001:db8::1").as_deref(), Some("2001:db8::1"));
        assert_eq!(group_ip("root"), None);
    }

    /// Once one event does not fit, the budget is spent: nothing more is kept, even an
    /// event that would fit, and each finding met from then on is counted.
    #[test]
    fn a_spent_event_budget_keeps_nothing_more() {
        let mut budget = EventBudget {
            used: EVENT_BUDGET_BYTES - 10,
            ..EventBudget::default()
        };
        let small = EventText::from_value(&json!({"a": 1})); // 7 bytes as text
        assert_eq!(budget.keep(vec![small.clone()], 20).count(), 1);
        assert!(!budget.spent);
        let big = EventText::from_value(&json!({"message": "longer than what is left"}));
        assert_eq!(budget.keep(vec![big, small.clone()], 20).count(), 0);
        assert!(budget.spent);
        assert_eq!(budget.keep(vec![small.clone()], 20).count(), 0);
        assert_eq!(budget.keep(Vec::new(), 20).count(), 0);
        assert_eq!(
            budget.not_kept, 3,
            "the finding that filled it and two after"
        );
        assert_eq!(budget.used, EVENT_BUDGET_BYTES - 3);
    }
}
