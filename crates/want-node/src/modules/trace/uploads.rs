//! Who may upload a sealed blob, and how much may wait unanchored.
//!
//! `PUT /v1/blobs` is signed by an account (secp256k1, recoverable, over
//! [`want_types::trace::blob_put_digest`]: chain id, time and the blob's CID). The account must
//! be an active key of a registered organisation (capture departments, which may hold no WANT)
//! or hold at least [`BLOB_UPLOADER_MIN_BALANCE`] (KYC subjects and other users: each of an
//! attacker's accounts must be funded). A blob is *pending* from its upload until a record or
//! KYC document references it (then its transaction paid for it) or it is old enough for the
//! orphan collector. Pending bytes and blobs are capped per account and for the whole node
//! (`[blobs]` in the node's configuration): what one account, or many, can make every member
//! store without paying a fee is bounded. The ledger is in memory; after a restart only the
//! orphan collector bounds what was pending before it.

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;
use want_state::trace::query;
use want_state::StateView;
use want_types::{Address, Amount};

use super::blob_repair::ORPHAN_BLOB_AGE_MS;
pub use crate::config::BlobLimits;
use crate::error::NodeError;
use want_state::trace::codes;

/// Least balance of an uploader that is not an organisation's key: 1 WANT, in base units.
pub const BLOB_UPLOADER_MIN_BALANCE: Amount = 1_000_000;
use crate::kernel::disk::MIB as BYTES_PER_MIB;

/// Checks that `uploader` may upload at all: an active key of an organisation, or an account
/// holding at least [`BLOB_UPLOADER_MIN_BALANCE`].
pub fn authorize_uploader(view: &dyn StateView, uploader: &Address) -> Result<(), NodeError> {
    if query::key(view, uploader)?.is_some_and(|k| k.active()) {
        return Ok(());
    }
    let balance = want_state::token::state::balance(view, uploader)?;
    if balance >= BLOB_UPLOADER_MIN_BALANCE {
        return Ok(());
    }
    Err(NodeError::rejected(
        codes::BLOB_UPLOAD_DENIED,
        format!(
            "{uploader} may not upload blobs: it is not an active key of an organisation and holds {balance} base units, less than {BLOB_UPLOADER_MIN_BALANCE} (1 WANT); fund the account or upload with an organisation's key"
        ),
    ))
}

/// Whether a record or KYC document references `cid` (its transaction paid for it).
fn referenced(view: &dyn StateView, cid: &str) -> Result<bool, NodeError> {
    Ok(query::record_by_cid(view, cid)?.is_some() || query::kyc_doc(view, cid)?.is_some())
}

struct Pending {
    cid: String,
    bytes: u64,
    at_ms: u64,
}

/// Least time between two sweeps of every account's entries, in milliseconds: a node kept full
/// by an attacker sweeps (two state reads per pending blob) at most this often, not on every
/// refused upload.
pub const LEDGER_SWEEP_INTERVAL_MS: u64 = 10_000;

#[derive(Default)]
struct Ledger {
    accounts: HashMap<Address, VecDeque<Pending>>,
    bytes: u64,
    blobs: usize,
    /// When every account was last swept (`None`: never).
    swept_at_ms: Option<u64>,
}

impl Ledger {
    /// Drops the account's entries that are anchored or old enough for the orphan collector.
    fn prune(
        &mut self,
        view: &dyn StateView,
        account: &Address,
        now_ms: u64,
    ) -> Result<(), NodeError> {
        let Some(list) = self.accounts.get_mut(account) else {
            return Ok(());
        };
        let mut kept = VecDeque::with_capacity(list.len());
        for p in list.drain(..) {
            let expired = now_ms.saturating_sub(p.at_ms) >= ORPHAN_BLOB_AGE_MS;
            if expired || referenced(view, &p.cid)? {
                self.bytes = self.bytes.saturating_sub(p.bytes);
                self.blobs = self.blobs.saturating_sub(1);
            } else {
                kept.push_back(p);
            }
        }
        if kept.is_empty() {
            self.accounts.remove(account);
        } else {
            self.accounts.insert(*account, kept);
        }
        Ok(())
    }

    fn account_usage(&self, account: &Address) -> (u64, usize) {
        self.accounts.get(account).map_or((0, 0), |l| {
            (l.iter().map(|p| p.bytes).sum(), l.len())
        })
    }
}

/// The pending uploads of every account (see the module documentation).
pub struct UploadLedger {
    limits: BlobLimits,
    inner: Mutex<Ledger>,
}

/// What an upload counted against its quotas.
#[derive(Debug, PartialEq, Eq)]
pub enum Counted {
    /// A new pending blob.
    New,
    /// Already referenced on chain, or already pending for this account: nothing new counted.
    Free,
}

impl UploadLedger {
    pub fn new(limits: BlobLimits) -> UploadLedger {
        UploadLedger {
            limits,
            inner: Mutex::new(Ledger::default()),
        }
    }

    /// Counts an upload of `bytes` bytes with CID `cid` by `account` at `now_ms`, or refuses it
    /// with `blob_quota_exceeded` naming the quota.
    pub fn count(
        &self,
        view: &dyn StateView,
        account: &Address,
        cid: &str,
        bytes: u64,
        now_ms: u64,
    ) -> Result<Counted, NodeError> {
        if referenced(view, cid)? {
            // Restoring a blob the chain already references costs nobody anything new.
            return Ok(Counted::Free);
        }
        let mut l = self.inner.lock();
        if l.accounts
            .get(account)
            .is_some_and(|list| list.iter().any(|p| p.cid == cid))
        {
            return Ok(Counted::Free);
        }
        l.prune(view, account, now_ms)?;
        let (used_bytes, used_blobs) = l.account_usage(account);
        let account_bytes_max = self.limits.account_pending_mib.saturating_mul(BYTES_PER_MIB);
        if used_bytes.saturating_add(bytes) > account_bytes_max
            || used_blobs >= self.limits.account_pending_blobs
        {
            return Err(NodeError::rejected(
                codes::BLOB_QUOTA_EXCEEDED,
                format!(
                    "{account} has {used_bytes} bytes in {used_blobs} blobs uploaded and not yet anchored; a further {bytes} bytes would pass its quota of {account_bytes_max} bytes or {} blobs (blobs.account_pending_mib, blobs.account_pending_blobs): anchor what was uploaded, or wait for it to expire",
                    self.limits.account_pending_blobs
                ),
            ));
        }
        let node_bytes_max = self.limits.node_pending_mib.saturating_mul(BYTES_PER_MIB);
        let over = |l: &Ledger| {
            l.bytes.saturating_add(bytes) > node_bytes_max
                || l.blobs >= self.limits.node_pending_blobs
        };
        let may_sweep = l
            .swept_at_ms
            .is_none_or(|t| now_ms.saturating_sub(t) >= LEDGER_SWEEP_INTERVAL_MS);
        if over(&l) && may_sweep {
            // Other accounts' entries may be anchored or expired by now: sweep them all.
            l.swept_at_ms = Some(now_ms);
            let accounts: Vec<Address> = l.accounts.keys().copied().collect();
            for a in accounts {
                l.prune(view, &a, now_ms)?;
            }
        }
        if over(&l) {
            return Err(NodeError::rejected(
                codes::BLOB_QUOTA_EXCEEDED,
                format!(
                    "this node holds {} bytes in {} blobs uploaded and not yet anchored, its limit is {node_bytes_max} bytes or {} blobs (blobs.node_pending_mib, blobs.node_pending_blobs); retry later",
                    l.bytes, l.blobs, self.limits.node_pending_blobs
                ),
            ));
        }
        l.bytes = l.bytes.saturating_add(bytes);
        l.blobs = l.blobs.saturating_add(1);
        l.accounts.entry(*account).or_default().push_back(Pending {
            cid: cid.to_string(),
            bytes,
            at_ms: now_ms,
        });
        Ok(Counted::New)
    }

    /// Pending bytes and blobs on the node.
    pub fn usage(&self) -> (u64, usize) {
        let l = self.inner.lock();
        (l.bytes, l.blobs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use want_state::MemState;

    fn ledger(account_mib: u64, node_mib: u64) -> UploadLedger {
        UploadLedger::new(BlobLimits {
            account_pending_mib: account_mib,
            account_pending_blobs: 3,
            node_pending_mib: node_mib,
            node_pending_blobs: 100,
        })
    }

    #[test]
    fn an_account_is_held_to_its_pending_quota_and_many_accounts_to_the_nodes() {
        let view = MemState::default();
        let l = ledger(1, 2);
        let a = Address::system("a");
        let half = BYTES_PER_MIB / 2;
        assert_eq!(l.count(&view, &a, "c1", half, 0).unwrap(), Counted::New);
        assert_eq!(l.count(&view, &a, "c2", half, 0).unwrap(), Counted::New);
        let e = l.count(&view, &a, "c3", 1, 0).unwrap_err();
        assert_eq!(e.code(), codes::BLOB_QUOTA_EXCEEDED);
        assert!(e.to_string().contains("blobs.account_pending_mib"), "{e}");
        // The same blob again is not counted twice.
        assert_eq!(l.count(&view, &a, "c1", half, 0).unwrap(), Counted::Free);
        // Another account has its own quota, until the node's is used up.
        let b = Address::system("b");
        l.count(&view, &b, "d1", BYTES_PER_MIB, 0).unwrap();
        let c = Address::system("c");
        let e = l.count(&view, &c, "e1", 1, 0).unwrap_err();
        assert!(e.to_string().contains("blobs.node_pending_mib"), "{e}");
        assert_eq!(l.usage(), (2 * BYTES_PER_MIB, 3));
    }

    #[test]
    fn pending_blobs_expire_with_the_orphan_collectors_age() {
        let view = MemState::default();
        let l = ledger(1, 10);
        let a = Address::system("a");
        l.count(&view, &a, "c1", BYTES_PER_MIB, 0).unwrap();
        let e = l.count(&view, &a, "c2", 1, 1).unwrap_err();
        assert_eq!(e.code(), codes::BLOB_QUOTA_EXCEEDED);
        assert!(e.to_string().contains("blobs.account_pending_mib"), "{e}");
        l.count(&view, &a, "c2", 1, ORPHAN_BLOB_AGE_MS).unwrap();
        assert_eq!(l.usage(), (1, 1));
    }

    #[test]
    fn a_full_node_sweeps_other_accounts_at_most_once_per_interval() {
        let view = MemState::default();
        let l = ledger(1, 1);
        let (a, b) = (Address::system("a"), Address::system("b"));
        l.count(&view, &a, "c1", BYTES_PER_MIB, 0).unwrap();
        // Full: the first refusal sweeps (nothing is anchored or old), the next ones do not.
        let e = l.count(&view, &b, "d1", 1, 0).unwrap_err();
        assert_eq!(e.code(), codes::BLOB_QUOTA_EXCEEDED);
        assert!(e.to_string().contains("blobs.node_pending_mib"), "{e}");
        // a's blob is old enough for the collector now, but the last sweep was just now.
        let old = ORPHAN_BLOB_AGE_MS;
        l.inner.lock().swept_at_ms = Some(old);
        let e = l.count(&view, &b, "d1", 1, old).unwrap_err();
        assert_eq!(e.code(), codes::BLOB_QUOTA_EXCEEDED);
        assert!(e.to_string().contains("blobs.node_pending_mib"), "{e}");
        // After the interval the sweep drops it and b gets in.
        l.count(&view, &b, "d1", 1, old + LEDGER_SWEEP_INTERVAL_MS)
            .unwrap();
        assert_eq!(l.usage(), (1, 1));
    }

    #[test]
    fn the_blob_count_is_capped_per_account() {
        let view = MemState::default();
        let l = ledger(10, 10);
        let a = Address::system("a");
        for cid in ["c1", "c2", "c3"] {
            l.count(&view, &a, cid, 1, 0).unwrap();
        }
        assert_eq!(
            l.count(&view, &a, "c4", 1, 0).unwrap_err().code(),
            codes::BLOB_QUOTA_EXCEEDED
        );
    }

    #[test]
    fn an_unfunded_stranger_may_not_upload_and_a_funded_account_may() {
        let mut view = MemState::default();
        let a = Address::system("a");
        let e = authorize_uploader(&view, &a).unwrap_err();
        assert_eq!(e.code(), codes::BLOB_UPLOAD_DENIED);
        view.0.insert(
            want_state::token::state::balance_key(&a),
            BLOB_UPLOADER_MIN_BALANCE.to_be_bytes().to_vec(),
        );
        authorize_uploader(&view, &a).unwrap();
    }
}
