//! The access audit log: one record per exchange or read of personal data
//! through the public routes, chained by SHA-256 so that editing, deleting
//! or reordering a stored record is detected ([`verify_chain`],
//! [`verify_store`]).
//!
//! Record `n` (from 1) carries `prev_hash`, the `hash` of record `n - 1`
//! ([`GENESIS`] for record 1), and its own `hash` =
//! [`chain_hash`]`(prev_hash, n, record)`. The store assigns `seq` inside
//! the appending transaction, serialised against every other appender
//! (also those of other gateways on one PostgreSQL), so the stored chain
//! has no gaps and no forks.
//!
//! What the chain proves, and what it does not: any change to a stored
//! record, removal of one (but the newest), or a change of order breaks it
//! at a named record. Whoever can rewrite the table can also recompute
//! every hash after the point they changed, and can drop the newest
//! records; an operator who keeps the last `(seq, hash)` that
//! [`verify_store`] reported somewhere else (a ticket, another system)
//! detects both by checking that the old pair is still in the chain.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{Millis, Result, StoreError};

/// The `prev_hash` of record 1: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Version tag at the start of every hashed encoding (see [`chain_hash`]).
const HASH_DOMAIN: &str = "onestop.access_audit.v1";

/// A record to append: who (`consumer`) received which `fields` of which
/// `citizen`'s `item`, why (`purpose`, under `agreement`), in which request,
/// and how it ended (`outcome`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAccessRecord {
    pub at: Millis,
    /// The channel or department that received the data.
    pub consumer: String,
    pub citizen: String,
    /// The catalogue item (or route) read or exchanged.
    pub item: String,
    /// The personal-data fields returned, in the order given.
    pub fields: Vec<String>,
    pub purpose: String,
    /// The data-sharing agreement that allowed the exchange, if any.
    pub agreement: Option<String>,
    pub request_id: String,
    /// E.g. `ok`, `denied`, `error`: what the consumer got.
    pub outcome: String,
}

/// A stored record with its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRecord {
    /// 1, 2, …: the previous record's `seq` + 1.
    pub seq: i64,
    /// The previous record's `hash` ([`GENESIS`] for record 1).
    pub prev_hash: String,
    /// [`chain_hash`]`(prev_hash, seq, the fields below)`.
    pub hash: String,
    pub at: Millis,
    pub consumer: String,
    pub citizen: String,
    pub item: String,
    pub fields: Vec<String>,
    pub purpose: String,
    pub agreement: Option<String>,
    pub request_id: String,
    pub outcome: String,
}

impl AccessRecord {
    /// `record` stored as number `seq` after a record whose hash is
    /// `prev_hash`.
    pub fn chained(prev_hash: &str, seq: i64, record: &NewAccessRecord) -> AccessRecord {
        AccessRecord {
            seq,
            prev_hash: prev_hash.to_string(),
            hash: chain_hash(prev_hash, seq, record),
            at: record.at,
            consumer: record.consumer.clone(),
            citizen: record.citizen.clone(),
            item: record.item.clone(),
            fields: record.fields.clone(),
            purpose: record.purpose.clone(),
            agreement: record.agreement.clone(),
            request_id: record.request_id.clone(),
            outcome: record.outcome.clone(),
        }
    }

    /// The hash this record's contents call for after `prev_hash`.
    pub fn expected_hash(&self, prev_hash: &str) -> String {
        hash_parts(prev_hash, self.seq, &self.view())
    }

    fn view(&self) -> View<'_> {
        View {
            at: self.at,
            consumer: &self.consumer,
            citizen: &self.citizen,
            item: &self.item,
            fields: &self.fields,
            purpose: &self.purpose,
            agreement: self.agreement.as_deref(),
            request_id: &self.request_id,
            outcome: &self.outcome,
        }
    }
}

/// The hashed contents of a record, borrowed.
struct View<'a> {
    at: Millis,
    consumer: &'a str,
    citizen: &'a str,
    item: &'a str,
    fields: &'a [String],
    purpose: &'a str,
    agreement: Option<&'a str>,
    request_id: &'a str,
    outcome: &'a str,
}

/// The lower-case hex SHA-256 chaining `record`, stored as number `seq`,
/// to the record whose hash is `prev_hash`.
///
/// The hashed bytes are an unambiguous encoding (no two different inputs
/// encode alike), in this fixed order:
///
/// 1. the domain tag `onestop.access_audit.v1`, as a string;
/// 2. `prev_hash`, as a string;
/// 3. `seq`, then `at`: each 8 bytes, big-endian two's complement;
/// 4. `consumer`, `citizen`, `item`, as strings;
/// 5. `fields`: their count (8 bytes, big-endian), then each as a string;
/// 6. `purpose`, as a string;
/// 7. `agreement`: one byte `0` when absent, or `1` followed by it as a
///    string;
/// 8. `request_id`, `outcome`, as strings;
///
/// where "a string" is its UTF-8 length in bytes (8 bytes, big-endian),
/// then its UTF-8 bytes.
pub fn chain_hash(prev_hash: &str, seq: i64, record: &NewAccessRecord) -> String {
    hash_parts(
        prev_hash,
        seq,
        &View {
            at: record.at,
            consumer: &record.consumer,
            citizen: &record.citizen,
            item: &record.item,
            fields: &record.fields,
            purpose: &record.purpose,
            agreement: record.agreement.as_deref(),
            request_id: &record.request_id,
            outcome: &record.outcome,
        },
    )
}

fn hash_parts(prev_hash: &str, seq: i64, r: &View<'_>) -> String {
    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u64).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    let mut out = Vec::with_capacity(256);
    string(&mut out, HASH_DOMAIN);
    string(&mut out, prev_hash);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&r.at.to_be_bytes());
    string(&mut out, r.consumer);
    string(&mut out, r.citizen);
    string(&mut out, r.item);
    out.extend_from_slice(&(r.fields.len() as u64).to_be_bytes());
    for field in r.fields {
        string(&mut out, field);
    }
    string(&mut out, r.purpose);
    match r.agreement {
        None => out.push(0),
        Some(agreement) => {
            out.push(1);
            string(&mut out, agreement);
        }
    }
    string(&mut out, r.request_id);
    string(&mut out, r.outcome);
    onestop_core::digest::sha256_hex(&out)
}

/// The durable access audit log.
#[async_trait]
pub trait AccessAuditStore: Send + Sync + 'static {
    /// Appends `batch` in order, in one transaction: reads the newest
    /// record's `(seq, hash)` (`(0, GENESIS)` when empty), numbers the
    /// records from the next `seq` and chains them. Appenders (also on
    /// other gateways sharing a PostgreSQL) are serialised, so the chain
    /// never forks. Returns the stored records; nothing for an empty batch.
    async fn append_access(&self, batch: &[NewAccessRecord]) -> Result<Vec<AccessRecord>>;

    /// Records with a `seq` greater than `after_seq`, oldest first, at most
    /// `limit`.
    async fn access_records(&self, after_seq: i64, limit: u32) -> Result<Vec<AccessRecord>>;

    /// One citizen's records, newest first, at most `limit`; `before_seq`
    /// pages back (exclusive).
    async fn citizen_access(
        &self,
        citizen: &str,
        limit: u32,
        before_seq: Option<i64>,
    ) -> Result<Vec<AccessRecord>>;

    /// The newest record's `seq`, 0 when the log is empty.
    async fn last_access_seq(&self) -> Result<i64>;
}

/// Where a verification got to: the `seq` the next record must have, the
/// hash it must chain to, and how many records were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyState {
    pub next_seq: i64,
    pub prev_hash: String,
    pub records: u64,
}

impl VerifyState {
    /// Before record 1.
    pub fn genesis() -> VerifyState {
        VerifyState {
            next_seq: 1,
            prev_hash: GENESIS.to_string(),
            records: 0,
        }
    }
}

/// The first record that breaks the chain, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record {seq}: {reason}")]
pub struct Broken {
    pub seq: i64,
    pub reason: String,
}

/// Checks `records` (in the order stored) against the chain, starting at
/// `start` = (the `seq` the first record must have, the hash it must chain
/// to): `(1, GENESIS)` for a whole log. Each record must
///
/// - have the expected `seq` (the previous one's + 1): otherwise records
///   were deleted before it, or records were reordered, and it is named;
/// - carry the previous record's hash as `prev_hash`: otherwise a record
///   was replaced or swapped in (or the previous one's hash was forged);
/// - carry the [`chain_hash`] of its own contents: otherwise it was edited.
///
/// Returns where the chain got to (for the next page), or the first record
/// that breaks it.
pub fn verify_chain(
    records: impl IntoIterator<Item = AccessRecord>,
    start: (i64, String),
) -> Result<VerifyState, Broken> {
    let mut state = VerifyState {
        next_seq: start.0,
        prev_hash: start.1,
        records: 0,
    };
    for record in records {
        check_one(&state, &record)?;
        state.next_seq = record.seq.saturating_add(1);
        state.prev_hash = record.hash;
        state.records += 1;
    }
    Ok(state)
}

fn check_one(state: &VerifyState, record: &AccessRecord) -> Result<(), Broken> {
    let seq = record.seq;
    let broken = |reason: String| Err(Broken { seq, reason });
    let expected = state.next_seq;
    if seq > expected {
        let missing = if seq - expected == 1 {
            format!("record {expected} is missing")
        } else {
            format!("records {expected}..={} are missing", seq - 1)
        };
        return broken(format!(
            "expected record {expected} here: {missing} (deleted or moved)"
        ));
    }
    if seq < expected {
        return broken(format!(
            "out of order: expected record {expected} here (reordered or duplicated?)"
        ));
    }
    if record.prev_hash != state.prev_hash {
        let previous = if seq == 1 {
            "the genesis hash".to_string()
        } else {
            format!("the hash of record {}", seq - 1)
        };
        return broken(format!(
            "prev_hash {} is not {previous} ({}): a record was replaced, moved or re-hashed",
            short(&record.prev_hash),
            short(&state.prev_hash)
        ));
    }
    let computed = record.expected_hash(&state.prev_hash);
    if record.hash != computed {
        return broken(format!(
            "hash {} does not match its contents ({}): the record was edited",
            short(&record.hash),
            short(&computed)
        ));
    }
    Ok(())
}

/// The first 16 characters of a hash, for messages.
fn short(hash: &str) -> String {
    match hash.get(..16) {
        Some(prefix) if hash.len() > 16 => format!("{prefix}…"),
        _ => hash.to_string(),
    }
}

/// What [`verify_store`] found in an intact log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// How many records were checked.
    pub records: u64,
    /// The newest record's `seq`, 0 for an empty log.
    pub last_seq: i64,
    /// The newest record's hash, [`GENESIS`] for an empty log.
    pub last_hash: String,
}

/// Why [`verify_store`] could not vouch for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The chain is broken at a named record.
    #[error("audit chain broken at {0}")]
    Broken(#[from] Broken),
    /// The log could not be read (a row that cannot be decoded is
    /// [`StoreError::Corrupt`], naming it).
    #[error("reading the audit log: {0}")]
    Store(#[from] StoreError),
}

/// Verifies the whole log, `page` records per read (at least 1), from
/// record 1 to the newest.
pub async fn verify_store(
    store: &dyn AccessAuditStore,
    page: u32,
) -> Result<VerifyReport, VerifyError> {
    let page = page.max(1);
    let mut state = VerifyState::genesis();
    let mut last_seq = 0;
    loop {
        let records = store.access_records(last_seq, page).await?;
        let Some(last) = records.last() else { break };
        last_seq = last.seq;
        let full = records.len() >= page as usize;
        let checked = state.records;
        let next = verify_chain(records, (state.next_seq, state.prev_hash))?;
        state = VerifyState {
            records: checked + next.records,
            ..next
        };
        if !full {
            break;
        }
    }
    Ok(VerifyReport {
        records: state.records,
        last_seq: state.next_seq - 1,
        last_hash: state.prev_hash,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn new(n: i64) -> NewAccessRecord {
        NewAccessRecord {
            at: 1_000 + n,
            consumer: "channel:app".into(),
            citizen: format!("citizen-{}", n % 3),
            item: "hpf/balance".into(),
            fields: vec!["name".into(), "balance".into()],
            purpose: "loan-application".into(),
            agreement: (n % 2 == 0).then(|| "agr-7".to_string()),
            request_id: format!("req-{n}"),
            outcome: "ok".into(),
        }
    }

    fn chain(n: i64) -> Vec<AccessRecord> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let record = AccessRecord::chained(&prev, seq, &new(seq));
                prev = record.hash.clone();
                record
            })
            .collect()
    }

    fn start() -> (i64, String) {
        (1, GENESIS.to_string())
    }

    #[test]
    fn genesis_is_64_zeros() {
        assert_eq!(GENESIS.len(), 64);
        assert!(GENESIS.bytes().all(|b| b == b'0'));
    }

    #[test]
    fn the_encoding_is_unambiguous() {
        let a = new(1);
        let h = chain_hash(GENESIS, 1, &a);
        assert_eq!(h.len(), 64);
        assert_eq!(h, chain_hash(GENESIS, 1, &a.clone()));
        // Moving a character between neighbouring fields changes the hash.
        let mut b = a.clone();
        b.consumer = "channel:ap".into();
        b.citizen = format!("p{}", a.citizen);
        assert_ne!(h, chain_hash(GENESIS, 1, &b));
        // So do splitting a field in two and an empty agreement vs none.
        let mut c = a.clone();
        c.fields = vec!["namebalance".into()];
        let mut d = a.clone();
        d.fields = vec!["name".into(), "bal".into(), "ance".into()];
        assert_ne!(chain_hash(GENESIS, 1, &c), chain_hash(GENESIS, 1, &d));
        let mut e = a.clone();
        e.agreement = None;
        let mut f = a.clone();
        f.agreement = Some(String::new());
        assert_ne!(chain_hash(GENESIS, 1, &e), chain_hash(GENESIS, 1, &f));
        // And the position and the predecessor.
        assert_ne!(h, chain_hash(GENESIS, 2, &a));
        assert_ne!(h, chain_hash(&"1".repeat(64), 1, &a));
    }

    #[test]
    fn an_intact_chain_verifies_in_pages() {
        let records = chain(10);
        let all = verify_chain(records.clone(), start()).unwrap();
        assert_eq!(all.records, 10);
        assert_eq!(all.next_seq, 11);
        assert_eq!(all.prev_hash, records[9].hash);
        let first = verify_chain(records[..4].to_vec(), start()).unwrap();
        let rest = verify_chain(records[4..].to_vec(), (first.next_seq, first.prev_hash)).unwrap();
        assert_eq!(rest.prev_hash, all.prev_hash);
        assert_eq!(verify_chain(Vec::new(), start()).unwrap().records, 0);
    }

    #[test]
    fn an_edited_record_is_named() {
        let mut records = chain(6);
        records[3].purpose = "marketing".into();
        let broken = verify_chain(records, start()).unwrap_err();
        assert_eq!(broken.seq, 4, "{broken}");
        assert!(broken.reason.contains("edited"), "{broken}");
    }

    #[test]
    fn a_deleted_record_names_the_gap() {
        let mut records = chain(6);
        records.remove(2);
        let broken = verify_chain(records, start()).unwrap_err();
        assert_eq!(broken.seq, 4, "{broken}");
        assert!(broken.reason.contains("record 3 is missing"), "{broken}");
        // The first record deleted.
        let broken = verify_chain(chain(3).split_off(1), start()).unwrap_err();
        assert_eq!(broken.seq, 2, "{broken}");
    }

    #[test]
    fn reordered_records_are_named() {
        // Swapped positions (seq kept with the row).
        let mut records = chain(6);
        records.swap(1, 4);
        let broken = verify_chain(records, start()).unwrap_err();
        assert_eq!(broken.seq, 5, "{broken}");
        assert!(broken.reason.contains("expected record 2"), "{broken}");
        // Swapped contents (seq kept with the position).
        let mut records = chain(6);
        let (a, b) = (records[1].clone(), records[4].clone());
        records[1] = AccessRecord { seq: 2, ..b };
        records[4] = AccessRecord { seq: 5, ..a };
        let broken = verify_chain(records, start()).unwrap_err();
        assert_eq!(broken.seq, 2, "{broken}");
        assert!(broken.reason.contains("prev_hash"), "{broken}");
    }

    #[test]
    fn a_forged_hash_is_named_by_the_next_record() {
        let mut records = chain(6);
        records[2].citizen = "someone-else".into();
        records[2].hash = records[2].expected_hash(&records[1].hash);
        let broken = verify_chain(records, start()).unwrap_err();
        assert_eq!(broken.seq, 4, "{broken}");
        assert!(broken.reason.contains("hash of record 3"), "{broken}");
    }
}
