//! Who may read a sealed blob: a signed read request's reader, and the rule — a live key of
//! the owning organisation, a grantee whose grant has not expired, or a KYC document's subject
//! and verifier.
//!
//! A read request is signed for one chain, one node (its Ed25519 identity) and one request
//! (method, path, blob, time): see `want_types::trace::blob_read_digest`. Within its window it is
//! served once ([`SeenReads`]): whoever sees its headers cannot replay it, here or elsewhere.

use std::collections::{BTreeSet, HashMap};

use parking_lot::Mutex;
use want_state::trace::query;
use want_state::StateView;
use want_types::trace::event_hash_id;
use want_types::Address;

use crate::error::NodeError;
use want_state::trace::codes;

/// How far a blob read request's time may be from the node's clock, in milliseconds.
pub const BLOB_READ_WINDOW_MS: u64 = 5 * 60 * 1000;
/// Most signed blob reads a node remembers to refuse their replay (about 250 bytes each, with
/// their per-reader index: some 25 MB). Reads are remembered while their time is within
/// [`BLOB_READ_WINDOW_MS`] of the clock. When this many are, a new read is still served: the
/// oldest remembered read of the reader with the most is forgotten to make room (its replay,
/// which only returns that reader's ciphertext again, is no longer refused), unless the new
/// read's reader is itself among those with the most, which is refused with
/// `blob_reads_exceeded`. Readers who sign few reads are never refused because of others.
pub const BLOB_READS_SEEN_MAX: usize = 100_000;
/// Most signed blob reads one reader may have remembered within the window (about 3 reads per
/// second, sustained); more are refused with `blob_reads_exceeded`.
pub const BLOB_READS_PER_READER_MAX: usize = 1_000;

/// The signed blob reads this node served within the window: (time, reader, CID), the same
/// reads by reader, and the readers by how many they have there.
#[derive(Debug, Default)]
pub struct SeenReads {
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    /// Every remembered read, oldest first.
    reads: BTreeSet<(u64, Address, String)>,
    /// Each reader's remembered reads (time, CID), oldest first.
    per_reader: HashMap<Address, BTreeSet<(u64, String)>>,
    /// (how many reads, reader) of every reader in `per_reader`: the last has the most.
    by_count: BTreeSet<(usize, Address)>,
}

impl Seen {
    fn count_of(&self, reader: &Address) -> usize {
        self.per_reader.get(reader).map_or(0, BTreeSet::len)
    }

    fn insert(&mut self, time_ms: u64, reader: Address, cid: String) {
        let before = self.count_of(&reader);
        self.by_count.remove(&(before, reader));
        let mine = self.per_reader.entry(reader).or_default();
        mine.insert((time_ms, cid.clone()));
        let after = mine.len();
        self.by_count.insert((after, reader));
        self.reads.insert((time_ms, reader, cid));
    }

    /// Forgets one read (its three entries).
    fn forget(&mut self, time_ms: u64, reader: Address, cid: String) {
        let before = self.count_of(&reader);
        self.by_count.remove(&(before, reader));
        let key = (time_ms, cid);
        let mut after = 0;
        if let Some(mine) = self.per_reader.get_mut(&reader) {
            mine.remove(&key);
            after = mine.len();
        }
        if after == 0 {
            self.per_reader.remove(&reader);
        } else {
            self.by_count.insert((after, reader));
        }
        let (time_ms, cid) = key;
        self.reads.remove(&(time_ms, reader, cid));
    }

    /// Forgets the oldest read of `reader`.
    fn forget_oldest_of(&mut self, reader: Address) {
        let oldest = self
            .per_reader
            .get(&reader)
            .and_then(|mine| mine.first().cloned());
        if let Some((time_ms, cid)) = oldest {
            self.forget(time_ms, reader, cid);
        }
    }
}

impl SeenReads {
    /// Remembers the read of `cid` signed by `reader` at `time_ms`, refusing one already served
    /// (`blob_read_replayed`), or one by a reader that has [`BLOB_READS_PER_READER_MAX`] reads
    /// remembered, or as many as any other reader while [`BLOB_READS_SEEN_MAX`] are
    /// (`blob_reads_exceeded`). Reads whose time has left the window are forgotten first (the
    /// window check refuses them anyway); then, when the set is full, the oldest read of the
    /// reader with the most.
    pub fn admit(
        &self,
        reader: &Address,
        cid: &str,
        time_ms: u64,
        now_ms: u64,
    ) -> Result<(), NodeError> {
        let mut guard = self.seen.lock();
        let seen = &mut *guard;
        let oldest = now_ms.saturating_sub(BLOB_READ_WINDOW_MS);
        while let Some((t, gone, gone_cid)) = seen.reads.first().cloned() {
            if t >= oldest {
                break;
            }
            seen.forget(t, gone, gone_cid);
        }
        let key = (time_ms, *reader, cid.to_string());
        if seen.reads.contains(&key) {
            return Err(NodeError::rejected(
                codes::BLOB_READ_REPLAYED,
                format!(
                    "this signed read of {cid} by {reader} at {time_ms} ms was already served; sign each read anew (a fresh X-Want-Time)"
                ),
            ));
        }
        let mine = seen.count_of(reader);
        if mine >= BLOB_READS_PER_READER_MAX {
            return Err(NodeError::rejected(
                codes::BLOB_READS_EXCEEDED,
                format!(
                    "{reader} signed {BLOB_READS_PER_READER_MAX} blob reads in the last {} s, the most one reader may; retry later",
                    BLOB_READ_WINDOW_MS / 1000
                ),
            ));
        }
        if seen.reads.len() >= BLOB_READS_SEEN_MAX {
            match seen.by_count.last().copied() {
                Some((most, heaviest)) if most > mine && heaviest != *reader => {
                    seen.forget_oldest_of(heaviest);
                }
                _ => {
                    return Err(NodeError::rejected(
                        codes::BLOB_READS_EXCEEDED,
                        format!(
                            "this node remembers {BLOB_READS_SEEN_MAX} signed blob reads of the last {} s and {reader} has {mine} of them, as many as any reader; retry later",
                            BLOB_READ_WINDOW_MS / 1000
                        ),
                    ));
                }
            }
        }
        let (time_ms, reader, cid) = key;
        seen.insert(time_ms, reader, cid);
        Ok(())
    }

    /// How many reads are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.seen.lock().reads.len()
    }
}

/// Checks that `reader` may fetch the blob `cid` now: a live key of the organisation owning the
/// record, a grantee whose grant has not expired by the last block's time, or the subject or
/// verifier of a KYC document. Everyone else is refused, whatever the blob holds.
pub fn authorize_blob(
    view: &dyn StateView,
    head_time_ms: u64,
    cid: &str,
    reader: &Address,
) -> Result<(), NodeError> {
    if let Some(id) = query::record_by_cid(view, cid)? {
        let rec = query::record_header(view, &id)?.ok_or_else(|| {
            NodeError::Io(format!("record {id} is indexed by its CID but not stored"))
        })?;
        if let Some(k) = query::key(view, reader)? {
            if k.org == rec.org && k.active() {
                return Ok(());
            }
        }
        if let Some(g) = query::grant(view, &id, reader)? {
            if g.expires_at_ms > head_time_ms {
                return Ok(());
            }
            return Err(NodeError::rejected(
                codes::BLOB_ACCESS_DENIED,
                format!(
                    "the grant of {reader} on record {} expired at {} ms (last block at {head_time_ms} ms)",
                    event_hash_id(&rec.event_hash),
                    g.expires_at_ms
                ),
            ));
        }
        return Err(NodeError::rejected(
            codes::BLOB_ACCESS_DENIED,
            format!(
                "{reader} is not a key of {:?} and holds no live grant on record {}",
                rec.org,
                event_hash_id(&rec.event_hash)
            ),
        ));
    }
    if let Some(doc) = query::kyc_doc(view, cid)? {
        if doc.verifier == *reader || doc.subject == *reader {
            return Ok(());
        }
        return Err(NodeError::rejected(
            codes::BLOB_ACCESS_DENIED,
            format!("only the subject and the verifier may read KYC document {cid}"),
        ));
    }
    Err(NodeError::rejected(
        codes::BLOB_ACCESS_DENIED,
        format!("blob {cid} is not anchored by any record or KYC filing; nobody may read it yet"),
    ))
}

/// Recovers the reader of a signed read of blob `cid` (`GET /v1/blobs/{cid}`) made for this
/// node (`node_id`, its Ed25519 public key) on chain `chain_id`, and checks its time window. A
/// signature made for another node, chain or request recovers some other account, which the
/// access rule then refuses.
pub fn blob_reader(
    chain_id: u64,
    node_id: &[u8],
    cid: &str,
    time_ms: u64,
    signature: &[u8],
    now_ms: u64,
) -> Result<Address, NodeError> {
    let digest = want_types::trace::blob_read_digest(
        chain_id,
        node_id,
        want_types::trace::BLOB_READ_METHOD,
        &want_types::trace::blob_read_path(cid),
        cid,
        time_ms,
    );
    signer_in_window(&digest, time_ms, signature, now_ms, codes::BLOB_ACCESS_DENIED)
}

/// The uploader of a signed blob upload (`PUT /v1/blobs`): recovered from its signature of
/// [`want_types::trace::blob_put_digest`], whose time must be within [`BLOB_READ_WINDOW_MS`]
/// of `now_ms`; `blob_upload_denied` otherwise.
pub fn blob_uploader(
    chain_id: u64,
    cid: &str,
    time_ms: u64,
    signature: &[u8],
    now_ms: u64,
) -> Result<Address, NodeError> {
    let digest = want_types::trace::blob_put_digest(chain_id, cid, time_ms);
    signer_in_window(&digest, time_ms, signature, now_ms, codes::BLOB_UPLOAD_DENIED)
}

/// The account that signed `digest` (secp256k1, recoverable) at `time_ms`, which must be within
/// [`BLOB_READ_WINDOW_MS`] of `now_ms`; refused with `code` otherwise.
fn signer_in_window(
    digest: &want_types::Hash32,
    time_ms: u64,
    signature: &[u8],
    now_ms: u64,
    code: &'static str,
) -> Result<Address, NodeError> {
    if time_ms.abs_diff(now_ms) > BLOB_READ_WINDOW_MS {
        return Err(NodeError::rejected(
            code,
            format!(
                "X-Want-Time {time_ms} is more than {} s from the node's clock {now_ms}; sign the request again",
                BLOB_READ_WINDOW_MS / 1000
            ),
        ));
    }
    want_crypto::tx_sign::recover_secp_signer(digest, signature).map_err(|e| {
        NodeError::rejected(code, format!("X-Want-Signature does not verify: {e}"))
    })
}


#[cfg(test)]
mod tests {
    use super::*;

    const CID: &str = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e";
    const NOW_MS: u64 = 1_800_000_000_000;

    #[test]
    fn the_same_signed_read_is_served_once_within_its_window() {
        let seen = SeenReads::default();
        let reader = Address::system("reader");
        seen.admit(&reader, CID, NOW_MS, NOW_MS).unwrap();
        let again = seen.admit(&reader, CID, NOW_MS, NOW_MS + 1_000).unwrap_err();
        assert_eq!(again.code(), codes::BLOB_READ_REPLAYED);
        assert_eq!(again.http_status(), 403);
        // Another time, another reader or another blob is another read.
        seen.admit(&reader, CID, NOW_MS + 1, NOW_MS).unwrap();
        seen.admit(&Address::system("other"), CID, NOW_MS, NOW_MS).unwrap();
        seen.admit(&reader, "bafkreib", NOW_MS, NOW_MS).unwrap();
        assert_eq!(seen.len(), 4);
    }

    #[test]
    fn one_reader_cannot_fill_the_set_and_stop_the_others() {
        let seen = SeenReads::default();
        let greedy = Address::system("greedy");
        for n in 0..BLOB_READS_PER_READER_MAX as u64 {
            seen.admit(&greedy, CID, NOW_MS - n, NOW_MS).unwrap();
        }
        let over = seen.admit(&greedy, CID, NOW_MS + 1, NOW_MS).unwrap_err();
        assert_eq!(over.code(), codes::BLOB_READS_EXCEEDED);
        assert_eq!(over.http_status(), 429);
        // Everyone else still reads.
        seen.admit(&Address::system("honest"), CID, NOW_MS, NOW_MS).unwrap();
        // Once the greedy reader's reads leave the window, it reads again.
        let later = NOW_MS + BLOB_READ_WINDOW_MS + 1;
        seen.admit(&greedy, CID, later, later).unwrap();
    }

    #[test]
    fn reads_that_left_the_window_are_forgotten() {
        let seen = SeenReads::default();
        let reader = Address::system("reader");
        for n in 0..10 {
            seen.admit(&reader, &format!("cid{n}"), NOW_MS, NOW_MS).unwrap();
        }
        let later = NOW_MS + 1_000 + BLOB_READ_WINDOW_MS;
        seen.admit(&reader, "new", later, later).unwrap();
        assert_eq!(seen.len(), 1);
        let s = seen.seen.lock();
        assert_eq!(s.per_reader.len(), 1);
        assert_eq!(s.by_count.iter().collect::<Vec<_>>(), vec![&(1, reader)]);
    }

    /// Issue 12, B3: an organisation grants read to many throwaway addresses and each signs
    /// as many reads as one reader may; the node's set is full, yet an honest reader is served,
    /// the set stays bounded and the honest read is still not replayable.
    #[test]
    fn many_throwaway_readers_filling_the_set_do_not_lock_an_honest_reader_out() {
        let seen = SeenReads::default();
        let readers = BLOB_READS_SEEN_MAX / BLOB_READS_PER_READER_MAX;
        let sybils: Vec<Address> = (0..readers)
            .map(|i| Address::system(&format!("sybil{i}")))
            .collect();
        for (i, sybil) in sybils.iter().enumerate() {
            for n in 0..BLOB_READS_PER_READER_MAX as u64 {
                let t = NOW_MS - n;
                let cid = if i % 2 == 0 { CID } else { "bafkreib" };
                seen.admit(sybil, cid, t, NOW_MS).unwrap();
            }
        }
        assert_eq!(seen.len(), BLOB_READS_SEEN_MAX);
        let honest = Address::system("honest");
        for n in 0..3 {
            seen.admit(&honest, CID, NOW_MS + n, NOW_MS).unwrap();
        }
        assert_eq!(seen.len(), BLOB_READS_SEEN_MAX, "the set stays bounded");
        let replay = seen.admit(&honest, CID, NOW_MS, NOW_MS).unwrap_err();
        assert_eq!(replay.code(), codes::BLOB_READ_REPLAYED);
        // A sybil, at the per-reader cap or as heavy as the heaviest, is refused.
        let full = sybils
            .iter()
            .copied()
            .find(|a| seen.seen.lock().count_of(a) == BLOB_READS_PER_READER_MAX)
            .unwrap();
        let s0 = seen.admit(&full, CID, NOW_MS + 1, NOW_MS).unwrap_err();
        assert_eq!(s0.code(), codes::BLOB_READS_EXCEEDED);
        // The honest reads made room by forgetting the oldest reads of three heaviest sybils;
        // one of them, lighter now than the heaviest, is served again (at another's expense).
        let lighter = sybils
            .iter()
            .copied()
            .find(|a| seen.seen.lock().count_of(a) < BLOB_READS_PER_READER_MAX)
            .unwrap();
        seen.admit(&lighter, CID, NOW_MS + 7, NOW_MS).unwrap();
        assert_eq!(seen.len(), BLOB_READS_SEEN_MAX);
    }
}
