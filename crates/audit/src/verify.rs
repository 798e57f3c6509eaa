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
}

struct Walk {
    expected_seq: i64,
    prev_hash: Vec<u8>,
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
        if prev != self.prev_hash.as_slice() {
            return at(
                "record does not follow the previous one (inserted, reordered or the \
                       previous record was edited)"
                    .into(),
            );
        }
        if chain_hash(prev, body.as_bytes()).as_slice() != hash {
            return at("record content does not match its hash (edited)".into());
        }
        self.expected_seq += 1;
        self.prev_hash = hash.to_vec();
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
        .and_then(|rest| rest.strip_prefix(seq.to_string().as_str()))
        .is_some_and(|rest| rest.starts_with(','));
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
    let mut walk = Walk {
        expected_seq: 1,
        prev_hash: vec![0u8; 32],
        records: 0,
    };
    let mut checks = Checks::new(keys.keys, opts.anchor.clone());
    let mut after = 0i64;

    loop {
        let rows = query(
            "SELECT seq, body, prev_hash, hash FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(PAGE)
        .fetch_all(store.pool())
        .await?;
        let Some(last) = rows.last() else { break };
        let last_seq: i64 = last.try_get(0)?;
        checks.load(store, after + 1, last_seq).await?;
        for row in &rows {
            let seq: i64 = row.try_get(0)?;
            let body: &str = row.try_get(1)?;
            let prev: &[u8] = row.try_get(2)?;
            let hash: &[u8] = row.try_get(3)?;
            let found = walk
                .check(seq, body, prev, hash)
                .or_else(|| checks.at(seq, hash));
            if let Some(b) = found {
                report.records = walk.records;
                report.first_break = Some(b);
                return Ok(checks.finish(report));
            }
            after = seq;
        }
    }

    report.records = walk.records;
    report.first_break = tail_break(&walk, head_seq, &head_hash);
    if report.first_break.is_none() {
        report.first_break = checks.beyond(store, walk.expected_seq - 1).await?;
    }
    Ok(checks.finish(report))
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
        let hex_hash = hex::encode(hash);
        while self.pending.front().is_some_and(|c| c.seq <= seq) {
            let cp = self.pending.pop_front()?;
            if let Some(b) = self.check_stored(&cp, seq, &hex_hash) {
                return Some(b);
            }
        }
        let anchor = self.anchor.as_ref().filter(|a| a.seq == seq)?;
        if anchor.hash != hex_hash {
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
            *self.unverifiable.entry(cp.key_version).or_default() += 1;
            return None;
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
    if head_seq < last || head_hash != walk.prev_hash.as_slice() {
        return Some(Break {
            seq: last,
            problem: "the chain head does not match the newest record (head rewritten)".into(),
        });
    }
    None
}
