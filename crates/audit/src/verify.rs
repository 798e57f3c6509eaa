use crate::AuditError;
use crate::chain::chain_hash;
use crate::checkpoint::{self, Checkpoint};
use crate::record::Entry;
use serde::Serialize;
use std::collections::BTreeMap;
use webqx_store::{Row, Store, query};

const PAGE: i64 = 5000;

/// Where the chain first breaks, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    /// Sequence number of the first record that does not check out.
    pub seq: i64,
    /// What is wrong there.
    pub problem: String,
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Records read.
    pub records: u64,
    /// Sequence number the chain head claims.
    pub head_seq: i64,
    /// The first break, if any.
    pub first_break: Option<Break>,
    /// Signed checkpoints found in the trail whose signature and hash were checked.
    pub checkpoints_checked: u64,
    /// The newest signed checkpoint's sequence number, if there is one.
    pub latest_checkpoint: Option<i64>,
    /// The exported checkpoint the trail was checked against, if one was given.
    pub anchor_seq: Option<i64>,
    /// What could not be checked (never a sign of tampering on its own).
    pub warnings: Vec<String>,
}

impl VerifyReport {
    /// True when the whole chain checks out.
    pub fn ok(&self) -> bool {
        self.first_break.is_none()
    }
}

/// What to check besides the chain itself.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// A checkpoint exported earlier and kept off the box: its public key is trusted
    /// over the database's, and the trail must still contain the record it signed,
    /// with the same hash.
    pub anchor: Option<Checkpoint>,
    /// Walk the trail in chunks of at least this many records in parallel (default
    /// 50,000; tests set it low to exercise the stitching).
    pub chunk_records: Option<i64>,
}

struct Walk {
    expected_seq: i64,
    /// The previous record's hash; `None` at the start of a chunk other than the
    /// first, where the link is checked when the chunks are stitched together.
    prev_hash: Option<Vec<u8>>,
    /// The `prev_hash` the first record of the chunk carried.
    first_prev: Option<Vec<u8>>,
    records: u64,
}

impl Walk {
    fn check(&mut self, seq: i64, body: &str, prev: &[u8], hash: &[u8]) -> Option<Break> {
        let at = |problem: String| Some(Break { seq, problem });
        if seq > self.expected_seq {
            let missing = self.expected_seq;
            return Some(Break {
                seq: missing,
                problem: format!("record {missing} is missing (deleted)"),
            });
        }
        if seq < self.expected_seq {
            return at(format!("record {seq} appears out of order"));
        }
        if let Some(problem) = body_problem(seq, body) {
            return at(problem);
        }
        match &self.prev_hash {
            Some(expected) if prev != expected.as_slice() => {
                return at(
                    "record does not follow the previous one (inserted, reordered or the \
                           previous record was edited)"
                        .into(),
                );
            }
            Some(_) => {}
            None => self.first_prev = Some(prev.to_vec()),
        }
        if chain_hash(prev, body.as_bytes()).as_slice() != hash {
            return at("record content does not match its hash (edited)".into());
        }
        self.expected_seq += 1;
        let slot = self.prev_hash.get_or_insert_with(Vec::new);
        slot.clear();
        slot.extend_from_slice(hash);
        self.records += 1;
        None
    }
}

/// Checks that a body is the record it is stored as. The writer always starts a body
/// with `{"v":1,"seq":<seq>,`, so the common case needs no JSON parse; anything else is
/// parsed to say what is wrong. (Content edits are caught by the hash either way.)
fn body_problem(seq: i64, body: &str) -> Option<String> {
    let fast = body
        .strip_prefix("{\"v\":1,\"seq\":")
        .and_then(|rest| rest.split_once(','))
        .is_some_and(|(digits, _)| digits.parse::<i64>() == Ok(seq));
    if fast {
        return None;
    }
    match serde_json::from_str::<Entry>(body) {
        Err(_) => Some("record body is not a valid audit record (edited)".into()),
        Ok(b) if b.seq != seq => Some(format!(
            "record holds the body of record {} (reordered or moved)",
            b.seq
        )),
        Ok(_) => None,
    }
}

/// Walks the whole chain from the first record and reports the first break, with the
/// default options (stored checkpoints checked against the database's public keys).
///
/// # Errors
/// [`AuditError::Store`] if the trail cannot be read.
pub async fn verify(store: &Store) -> Result<VerifyReport, AuditError> {
    verify_with(store, &VerifyOptions::default()).await
}

/// Walks the whole chain and checks every stored signed checkpoint against it.
///
/// Detects edited, deleted, inserted and reordered records; newest records removed
/// while the head was left in place; a chain rebuilt from some point on (it no longer
/// matches the signed checkpoints); and, with an exported checkpoint as `anchor`,
/// newest records removed together with the head and the stored checkpoints.
///
/// # Errors
/// [`AuditError::Store`] if the trail cannot be read; [`AuditError::Checkpoint`] if the
/// anchor's own signature does not verify with its public key.
pub async fn verify_with(store: &Store, opts: &VerifyOptions) -> Result<VerifyReport, AuditError> {
    let anchor_key = match &opts.anchor {
        Some(a) => {
            let key = a.public_key()?;
            a.check_signature(&key)?;
            Some((a.key_version, key))
        }
        None => None,
    };
    let keys = trusted_keys(store, anchor_key.as_ref()).await?;
    let (head_seq, head_hash) = crate::trail::head(store).await?;
    let mut report = VerifyReport {
        records: 0,
        head_seq,
        first_break: None,
        checkpoints_checked: 0,
        latest_checkpoint: None,
        anchor_seq: opts.anchor.as_ref().map(|a| a.seq),
        warnings: keys.warnings,
    };
    let ranges = chunk_ranges(head_seq, opts.chunk_records.unwrap_or(MIN_CHUNK));
    let mut tasks = Vec::with_capacity(ranges.len());
    for (i, &(lo, hi)) in ranges.iter().enumerate() {
        let store = store.clone();
        let checks = Checks::new(keys.keys.clone(), opts.anchor.clone());
        let walk = Walk {
            expected_seq: lo + 1,
            prev_hash: (i == 0).then(|| vec![0u8; 32]),
            first_prev: None,
            records: 0,
        };
        tasks.push(tokio::spawn(walk_chunk(store, lo, hi, walk, checks)));
    }
    let mut chunks = Vec::with_capacity(tasks.len());
    for task in tasks {
        let chunk = task
            .await
            .map_err(|e| AuditError::Read(format!("a verification task failed: {e}")))??;
        chunks.push(chunk);
    }
    let mut total = Checks::new(BTreeMap::new(), opts.anchor.clone());
    let mut previous: Option<&Walk> = None;
    for chunk in &chunks {
        total.absorb(&chunk.checks);
        if let Some(prev) = previous
            && let Some(b) = stitch(prev, &chunk.walk)
        {
            report.first_break = Some(b);
            break;
        }
        report.records += chunk.walk.records;
        if let Some(b) = &chunk.found {
            report.first_break = Some(b.clone());
            break;
        }
        if previous.is_none() || chunk.walk.records > 0 {
            previous = Some(&chunk.walk);
        }
    }
    if report.first_break.is_some() {
        return Ok(total.finish(report));
    }

    let Some(last) = previous else {
        return Ok(total.finish(report));
    };
    report.first_break = tail_break(last, head_seq, &head_hash);
    if report.first_break.is_none() {
        report.first_break = total.beyond(store, last.expected_seq - 1).await?;
    }
    Ok(total.finish(report))
}

/// Trails shorter than this are walked by one task; longer ones are split into
/// chunks walked in parallel (one per core) and stitched together.
const MIN_CHUNK: i64 = 50_000;

/// `(after, up to)` sequence ranges covering everything: the last one is open-ended so
/// that records beyond the head are read too.
fn chunk_ranges(head_seq: i64, min_chunk: i64) -> Vec<(i64, i64)> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
    let chunks = (head_seq / min_chunk.max(1)).clamp(1, cores.clamp(1, 8));
    let mut out = Vec::with_capacity(chunks as usize);
    for k in 0..chunks {
        let lo = head_seq * k / chunks;
        let hi = if k + 1 == chunks {
            i64::MAX
        } else {
            head_seq * (k + 1) / chunks
        };
        out.push((lo, hi));
    }
    out
}

struct Chunk {
    walk: Walk,
    checks: Checks,
    found: Option<Break>,
}

async fn walk_chunk(
    store: Store,
    lo: i64,
    hi: i64,
    mut walk: Walk,
    mut checks: Checks,
) -> Result<Chunk, AuditError> {
    let mut after = lo;
    loop {
        let page = read_page(&store, after, hi).await?;
        let rows = parse_page(&page)?;
        let Some(last) = rows.last() else { break };
        checks.load(&store, after + 1, last.seq).await?;
        for row in &rows {
            let (seq, body, prev, hash) = (row.seq, row.body, &row.prev[..], &row.hash[..]);
            let found = walk
                .check(seq, body, prev, hash)
                .or_else(|| time_problem(seq, row.time_ms, body))
                .or_else(|| checks.at(seq, hash));
            if found.is_some() {
                return Ok(Chunk {
                    walk,
                    checks,
                    found,
                });
            }
            after = seq;
        }
    }
    Ok(Chunk {
        walk,
        checks,
        found: None,
    })
}

/// One page of records as a single text, `seq,prevhex,hashhex,bodylen,body` each:
/// one row per page instead of one per record keeps the database driver's per-row
/// cost out of verification (it dominated: about 3 µs a row).
async fn read_page(store: &Store, after: i64, hi: i64) -> Result<String, AuditError> {
    let sql = match store.backend() {
        webqx_store::Backend::Sqlite => {
            "SELECT coalesce(group_concat(seq || ',' || time_ms || ',' || hex(prev_hash) || ',' \
             || hex(hash) || ',' || length(CAST(body AS BLOB)) || ',' || body, '' ORDER BY seq), '') \
             FROM (SELECT seq, time_ms, prev_hash, hash, body FROM audit_log \
                   WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3)"
        }
        webqx_store::Backend::Postgres => {
            "SELECT coalesce(string_agg(seq::text || ',' || time_ms::text || ',' \
             || encode(prev_hash, 'hex') || ',' || encode(hash, 'hex') || ',' \
             || octet_length(body)::text || ',' || body, '' ORDER BY seq), '') \
             FROM (SELECT seq, time_ms, prev_hash, hash, body FROM audit_log \
                   WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3) AS page"
        }
    };
    let row = query(sql)
        .bind(after)
        .bind(hi)
        .bind(PAGE)
        .fetch_one(store.pool())
        .await?;
    Ok(row.try_get(0)?)
}

struct PageRow<'a> {
    seq: i64,
    time_ms: i64,
    prev: Vec<u8>,
    hash: Vec<u8>,
    body: &'a str,
}

fn parse_page(page: &str) -> Result<Vec<PageRow<'_>>, AuditError> {
    let corrupt = || {
        AuditError::Read(
            "a page of records did not come back in the shape it was asked for; the \
             audit_log table's columns were altered outside the service"
                .into(),
        )
    };
    let mut rows = Vec::with_capacity(PAGE as usize);
    let mut rest = page;
    while !rest.is_empty() {
        let mut field = || -> Result<&str, AuditError> {
            let (value, tail) = rest.split_once(',').ok_or_else(corrupt)?;
            rest = tail;
            Ok(value)
        };
        let seq: i64 = field()?.parse().map_err(|_| corrupt())?;
        let time_ms: i64 = field()?.parse().map_err(|_| corrupt())?;
        let prev = hex::decode(field()?).map_err(|_| corrupt())?;
        let hash = hex::decode(field()?).map_err(|_| corrupt())?;
        let len: usize = field()?.parse().map_err(|_| corrupt())?;
        let body = rest.get(..len).ok_or_else(corrupt)?;
        rest = &rest[len..];
        rows.push(PageRow {
            seq,
            time_ms,
            prev,
            hash,
            body,
        });
    }
    Ok(rows)
}

/// The indexed `time_ms` column (what exports filter on) must be the hashed `time`.
fn time_problem(seq: i64, time_ms: i64, body: &str) -> Option<Break> {
    let hashed = body
        .split_once(",\"time\":\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .and_then(|(t, _)| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp_millis());
    if hashed == Some(time_ms) {
        return None;
    }
    Some(Break {
        seq,
        problem: format!(
            "record {seq}'s indexed time differs from its signed time (edited to hide it \
             from time-bounded exports)"
        ),
    })
}

/// Checks that `next` (a chunk) continues exactly where `prev` ended.
fn stitch(prev: &Walk, next: &Walk) -> Option<Break> {
    if next.records == 0 && next.first_prev.is_none() {
        // Nothing in the next chunk: a gap shows as missing records at the tail.
        return None;
    }
    let start = prev.expected_seq;
    let next_first = next.expected_seq - next.records as i64;
    if next_first != start {
        return Some(Break {
            seq: start,
            problem: format!("record {start} is missing (deleted)"),
        });
    }
    if next.first_prev != prev.prev_hash {
        return Some(Break {
            seq: start,
            problem: "record does not follow the previous one (inserted, reordered or the \
                      previous record was edited)"
                .into(),
        });
    }
    None
}

struct Keys {
    keys: BTreeMap<u32, Vec<u8>>,
    warnings: Vec<String>,
}

/// The checkpoint key's public keys: the database's, with the anchor's version pinned
/// to the anchor's key (a replaced key in the database is reported).
async fn trusted_keys(store: &Store, anchor: Option<&(u32, Vec<u8>)>) -> Result<Keys, AuditError> {
    let mut keys = checkpoint::stored_public_keys(store).await?;
    let mut warnings = Vec::new();
    if let Some((version, key)) = anchor {
        if keys.get(version).is_some_and(|k| k != key) {
            warnings.push(format!(
                "the database holds a different public key for {} version {version} than \
                 the exported checkpoint: the exported one is trusted",
                checkpoint::CHECKPOINT_KEY
            ));
        }
        keys.insert(*version, key.clone());
    }
    Ok(Keys { keys, warnings })
}

/// Checkpoint checks that run alongside the chain walk.
struct Checks {
    keys: BTreeMap<u32, Vec<u8>>,
    anchor: Option<Checkpoint>,
    pending: std::collections::VecDeque<Checkpoint>,
    checked: u64,
    latest: Option<i64>,
    unverifiable: BTreeMap<u32, u64>,
}

impl Checks {
    fn new(keys: BTreeMap<u32, Vec<u8>>, anchor: Option<Checkpoint>) -> Checks {
        Checks {
            keys,
            anchor,
            pending: Default::default(),
            checked: 0,
            latest: None,
            unverifiable: BTreeMap::new(),
        }
    }

    async fn load(&mut self, store: &Store, from: i64, to: i64) -> Result<(), AuditError> {
        self.pending
            .extend(checkpoint::stored_between(store, from, to).await?);
        Ok(())
    }

    /// Checks the stored checkpoints and the anchor that sign record `seq`.
    fn at(&mut self, seq: i64, hash: &[u8]) -> Option<Break> {
        while self.pending.front().is_some_and(|c| c.seq <= seq) {
            let cp = self.pending.pop_front()?;
            if let Some(b) = self.check_stored(&cp, seq, &hex::encode(hash)) {
                return Some(b);
            }
        }
        let anchor = self.anchor.as_ref().filter(|a| a.seq == seq)?;
        if anchor.hash != hex::encode(hash) {
            return Some(Break {
                seq,
                problem: format!(
                    "record {seq} differs from the exported checkpoint signed at {} \
                     (the trail was rewritten)",
                    anchor.time
                ),
            });
        }
        None
    }

    fn check_stored(&mut self, cp: &Checkpoint, seq: i64, hex_hash: &str) -> Option<Break> {
        self.latest = Some(cp.seq);
        let Some(key) = self.keys.get(&cp.key_version) else {
            // The API cannot delete the checkpoint key or its versions: a checkpoint
            // whose public key is gone means the key rows were tampered with.
            *self.unverifiable.entry(cp.key_version).or_default() += 1;
            return Some(Break {
                seq: cp.seq,
                problem: format!(
                    "the signed checkpoint at record {} cannot be checked: the database holds \
                     no public key for {} version {} (the key was deleted, renamed or \
                     replaced)",
                    cp.seq,
                    checkpoint::CHECKPOINT_KEY,
                    cp.key_version
                ),
            });
        };
        if cp.check_signature(key).is_err() {
            return Some(Break {
                seq: cp.seq,
                problem: format!(
                    "the signed checkpoint at record {} does not verify (forged, or the \
                     checkpoint key was replaced)",
                    cp.seq
                ),
            });
        }
        self.checked += 1;
        if cp.seq == seq && cp.hash != hex_hash {
            return Some(Break {
                seq,
                problem: format!(
                    "record {seq} differs from the checkpoint signed at {} (the trail \
                     was rewritten)",
                    cp.time
                ),
            });
        }
        None
    }

    /// Checkpoints (stored or the anchor) that sign records past the end of the trail:
    /// the newest records were removed.
    async fn beyond(&mut self, store: &Store, last: i64) -> Result<Option<Break>, AuditError> {
        let stored = checkpoint::stored_between(store, last + 1, i64::MAX).await?;
        let newest = stored
            .iter()
            .map(|c| (c.seq, c.time.clone()))
            .chain(self.anchor.iter().map(|a| (a.seq, a.time.clone())))
            .filter(|(seq, _)| *seq > last)
            .max_by_key(|(seq, _)| *seq);
        if let Some(c) = stored.last() {
            self.latest = Some(c.seq);
        }
        Ok(newest.map(|(seq, time)| Break {
            seq: last + 1,
            problem: format!(
                "the trail ends at record {last} but a checkpoint signed at {time} covers \
                 record {seq}: the newest records were removed"
            ),
        }))
    }

    /// Adds what a chunk's checks counted.
    fn absorb(&mut self, other: &Checks) {
        self.checked += other.checked;
        self.latest = self.latest.max(other.latest);
        for (version, count) in &other.unverifiable {
            *self.unverifiable.entry(*version).or_default() += count;
        }
    }

    fn finish(self, mut report: VerifyReport) -> VerifyReport {
        report.checkpoints_checked = self.checked;
        report.latest_checkpoint = report.latest_checkpoint.max(self.latest);
        for (version, count) in self.unverifiable {
            report.warnings.push(format!(
                "{count} checkpoint(s) signed with {} version {version} could not be checked: \
                 the database holds no public key for it",
                checkpoint::CHECKPOINT_KEY
            ));
        }
        report
    }
}

fn tail_break(walk: &Walk, head_seq: i64, head_hash: &[u8]) -> Option<Break> {
    let last_hash = walk.prev_hash.as_deref().unwrap_or_default();
    let last = walk.expected_seq - 1;
    if head_seq > last {
        return Some(Break {
            seq: last + 1,
            problem: format!(
                "records {} to {head_seq} are missing: the newest records were removed",
                last + 1
            ),
        });
    }
    if head_seq < last || head_hash != last_hash {
        return Some(Break {
            seq: last,
            problem: "the chain head does not match the newest record (head rewritten)".into(),
        });
    }
    None
}
