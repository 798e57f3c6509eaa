use crate::AuditError;
use crate::chain::chain_hash;
use crate::record::Entry;
use serde::Serialize;
use webqx_store::{Row, Store, query};

const PAGE: i64 = 2000;

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
}

impl VerifyReport {
    /// True when the whole chain checks out.
    pub fn ok(&self) -> bool {
        self.first_break.is_none()
    }
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
        let parsed: Result<Entry, _> = serde_json::from_str(body);
        match parsed {
            Err(_) => return at("record body is not a valid audit record (edited)".into()),
            Ok(b) if b.seq != seq => {
                return at(format!(
                    "record holds the body of record {} (reordered or moved)",
                    b.seq
                ));
            }
            Ok(_) => {}
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

/// Walks the whole chain from the first record and reports the first break.
///
/// Detects edited, deleted, inserted and reordered records, and newest records removed
/// while the chain head was left in place. (Removing newest records *and* rewinding the
/// head needs a checkpoint kept elsewhere to detect; signed checkpoints do that.)
///
/// # Errors
/// [`AuditError::Store`] if the trail cannot be read.
pub async fn verify(store: &Store) -> Result<VerifyReport, AuditError> {
    let head = query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(store.pool())
        .await?;
    let head_seq: i64 = head.try_get(0)?;
    let head_hash: Vec<u8> = head.try_get(1)?;
    let mut walk = Walk {
        expected_seq: 1,
        prev_hash: vec![0u8; 32],
        records: 0,
    };
    let mut after = 0i64;

    loop {
        let rows = query(
            "SELECT seq, body, prev_hash, hash FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(PAGE)
        .fetch_all(store.pool())
        .await?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let seq: i64 = row.try_get(0)?;
            let body: String = row.try_get(1)?;
            let prev: Vec<u8> = row.try_get(2)?;
            let hash: Vec<u8> = row.try_get(3)?;
            if let Some(b) = walk.check(seq, &body, &prev, &hash) {
                return Ok(VerifyReport {
                    records: walk.records,
                    head_seq,
                    first_break: Some(b),
                });
            }
            after = seq;
        }
    }

    let first_break = tail_break(&walk, head_seq, &head_hash);
    Ok(VerifyReport {
        records: walk.records,
        head_seq,
        first_break,
    })
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
