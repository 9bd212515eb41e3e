//! Who may read a sealed blob: a signed read request's reader, and the rule — a live key of
//! the owning organisation, a grantee whose grant has not expired, or a KYC document's subject
//! and verifier.
//!
//! A read request is signed for one chain, one node (its Ed25519 identity) and one request
//! (method, path, blob, time): see `want_types::trace::blob_read_digest`. Within its window it is
//! served once ([`SeenReads`]): whoever sees its headers cannot replay it, here or elsewhere.

use std::collections::BTreeSet;

use parking_lot::Mutex;
use want_state::trace::query;
use want_state::StateView;
use want_types::trace::event_hash_id;
use want_types::Address;

use crate::error::NodeError;
use want_state::trace::codes;

/// How far a blob read request's time may be from the node's clock, in milliseconds.
pub const BLOB_READ_WINDOW_MS: u64 = 5 * 60 * 1000;
/// Most signed blob reads a node remembers to refuse their replay (about 100 bytes each: some
/// 10 MB). Reads are remembered while their time is within [`BLOB_READ_WINDOW_MS`] of the
/// clock; when this many are, further reads are refused with `blob_unavailable` until the
/// oldest leave the window (at most 333 authorised reads per second, sustained, per node).
pub const BLOB_READS_SEEN_MAX: usize = 100_000;
/// Most signed blob reads one reader may have remembered within the window (about 3 reads per
/// second, sustained): one reader cannot fill [`BLOB_READS_SEEN_MAX`] and stop everyone's reads.
pub const BLOB_READS_PER_READER_MAX: usize = 1_000;

/// The signed blob reads this node served within the window: (time, reader, CID), and how many
/// each reader has there.
#[derive(Debug, Default)]
pub struct SeenReads {
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    reads: BTreeSet<(u64, Address, String)>,
    per_reader: std::collections::HashMap<Address, usize>,
}

impl SeenReads {
    /// Remembers the read of `cid` signed by `reader` at `time_ms`, refusing one already served
    /// (`blob_read_replayed`) or, when [`BLOB_READS_SEEN_MAX`] reads within the window are
    /// remembered, any new one (`blob_unavailable`). Reads whose time has left the window are
    /// forgotten first: the window check refuses them anyway.
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
        while seen.reads.first().is_some_and(|(t, _, _)| *t < oldest) {
            if let Some((_, gone, _)) = seen.reads.pop_first() {
                if let Some(n) = seen.per_reader.get_mut(&gone) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        seen.per_reader.remove(&gone);
                    }
                }
            }
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
        let mine = seen.per_reader.get(reader).copied().unwrap_or(0);
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
            return Err(NodeError::rejected(
                codes::BLOB_UNAVAILABLE,
                format!(
                    "this node served {BLOB_READS_SEEN_MAX} signed blob reads in the last {} s; retry later",
                    BLOB_READ_WINDOW_MS / 1000
                ),
            ));
        }
        seen.reads.insert(key);
        seen.per_reader.insert(*reader, mine + 1);
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
    fn reads_that_left_the_window_are_forgotten_and_a_full_set_refuses_new_reads() {
        let seen = SeenReads::default();
        let reader = Address::system("reader");
        seen.admit(&reader, CID, NOW_MS, NOW_MS).unwrap();
        // Fill the set with reads of other blobs at the same time.
        {
            let mut s = seen.seen.lock();
            let mut n = 0u64;
            while s.reads.len() < BLOB_READS_SEEN_MAX {
                s.reads.insert((NOW_MS, reader, format!("cid{n}")));
                n += 1;
            }
        }
        let full = seen.admit(&reader, "new", NOW_MS, NOW_MS).unwrap_err();
        assert_eq!(full.code(), codes::BLOB_UNAVAILABLE);
        // Once their time is out of the window, they are forgotten and reads go on.
        let later = NOW_MS + 1_000 + BLOB_READ_WINDOW_MS;
        seen.admit(&reader, "new", later, later).unwrap();
        assert_eq!(seen.len(), 1);
    }
}
