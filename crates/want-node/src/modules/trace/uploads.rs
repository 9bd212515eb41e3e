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
//!
//! An account's pending allowance lasts only while it may still upload: when the node's quota
//! is reached, the sweep also re-checks every account holding pending blobs, and the pending
//! uploads of an account that is no longer an active organisation key and now holds less than
//! [`BLOB_UPLOADER_MIN_BALANCE`] are forfeited, oldest first: forgotten by the ledger and their
//! files deleted (unless anchored meanwhile or pending for another account too). Moving 1 WANT
//! from account to account therefore keeps at most one account's quota pending, not the node's:
//! filling the node takes `node_pending_mib / account_pending_mib` WANT held at once.

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;
use want_state::trace::query;
use want_state::StateView;
use want_types::{Address, Amount};

use tracing::{info, warn};

use super::blob_repair::ORPHAN_BLOB_AGE_MS;
use super::blobs::BlobStore;
pub use crate::config::BlobLimits;
use crate::error::NodeError;
use want_state::trace::codes;

/// Least balance of an uploader that is not an organisation's key: 1 WANT, in base units.
pub const BLOB_UPLOADER_MIN_BALANCE: Amount = 1_000_000;
use crate::kernel::disk::MIB as BYTES_PER_MIB;

/// Whether `account` may upload now: an active key of an organisation, or an account holding
/// at least [`BLOB_UPLOADER_MIN_BALANCE`]. Also what keeps its pending uploads counted.
fn entitled(view: &dyn StateView, account: &Address) -> Result<bool, NodeError> {
    if query::key(view, account)?.is_some_and(|k| k.active()) {
        return Ok(true);
    }
    Ok(want_state::token::state::balance(view, account)? >= BLOB_UPLOADER_MIN_BALANCE)
}

/// Checks that `uploader` may upload at all: an active key of an organisation, or an account
/// holding at least [`BLOB_UPLOADER_MIN_BALANCE`].
pub fn authorize_uploader(view: &dyn StateView, uploader: &Address) -> Result<(), NodeError> {
    if entitled(view, uploader)? {
        return Ok(());
    }
    let balance = want_state::token::state::balance(view, uploader)?;
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

    /// Forfeits the pending uploads of every account that may no longer upload
    /// ([`entitled`]), oldest first: forgets them and deletes their files from `blobs`, unless
    /// a record references the blob by now or another account has it pending too. Returns how
    /// many blobs were forfeited.
    fn forfeit_unentitled(
        &mut self,
        view: &dyn StateView,
        blobs: &BlobStore,
        now_ms: u64,
    ) -> Result<usize, NodeError> {
        let mut gone: Vec<(Address, Pending)> = Vec::new();
        let accounts: Vec<Address> = self.accounts.keys().copied().collect();
        for a in accounts {
            if entitled(view, &a)? {
                continue;
            }
            if let Some(list) = self.accounts.remove(&a) {
                gone.extend(list.into_iter().map(|p| (a, p)));
            }
        }
        gone.sort_by_key(|(_, p)| p.at_ms);
        let forfeited = gone.len();
        for (account, p) in gone {
            self.bytes = self.bytes.saturating_sub(p.bytes);
            self.blobs = self.blobs.saturating_sub(1);
            let shared = self
                .accounts
                .values()
                .any(|l| l.iter().any(|q| q.cid == p.cid));
            if shared {
                continue;
            }
            // Age 0: any stored copy may go, unless referenced (checked under the store's lock).
            if let Err(e) = blobs.remove_if_orphan(&p.cid, 0, now_ms, || referenced(view, &p.cid))
            {
                warn!(target: "trace::blobs", "cannot delete blob {} forfeited by {account}: {e}; the orphan collector deletes it later", p.cid);
            }
        }
        if forfeited > 0 {
            info!(target: "trace::blobs", "forfeited {forfeited} pending blobs of accounts that may no longer upload (less than {BLOB_UPLOADER_MIN_BALANCE} base units, no organisation key)");
        }
        Ok(forfeited)
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
    /// with `blob_quota_exceeded` naming the quota. When the node's quota is reached, the sweep
    /// deletes from `blobs` the pending blobs of accounts that may no longer upload.
    pub fn count(
        &self,
        view: &dyn StateView,
        blobs: &BlobStore,
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
            // Other accounts' entries may be anchored or expired by now, or their accounts may
            // have spent the balance that let them upload: sweep them all.
            l.swept_at_ms = Some(now_ms);
            let accounts: Vec<Address> = l.accounts.keys().copied().collect();
            for a in accounts {
                l.prune(view, &a, now_ms)?;
            }
            l.forfeit_unentitled(view, blobs, now_ms)?;
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

    /// An empty blob store in a temporary directory (kept alive by the returned guard).
    fn blob_store() -> (tempfile::TempDir, BlobStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        (dir, store)
    }

    /// A state in which the accounts "a", "b" and "c" hold the uploaders' least balance.
    fn funded_view() -> MemState {
        let mut view = MemState::default();
        for name in ["a", "b", "c"] {
            view.0.insert(
                want_state::token::state::balance_key(&Address::system(name)),
                BLOB_UPLOADER_MIN_BALANCE.to_be_bytes().to_vec(),
            );
        }
        view
    }

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
        let view = funded_view();
        let (_dir, store) = blob_store();
        let l = ledger(1, 2);
        let a = Address::system("a");
        let half = BYTES_PER_MIB / 2;
        assert_eq!(l.count(&view, &store, &a, "c1", half, 0).unwrap(), Counted::New);
        assert_eq!(l.count(&view, &store, &a, "c2", half, 0).unwrap(), Counted::New);
        let e = l.count(&view, &store, &a, "c3", 1, 0).unwrap_err();
        assert_eq!(e.code(), codes::BLOB_QUOTA_EXCEEDED);
        assert!(e.to_string().contains("blobs.account_pending_mib"), "{e}");
        // The same blob again is not counted twice.
        assert_eq!(l.count(&view, &store, &a, "c1", half, 0).unwrap(), Counted::Free);
        // Another account has its own quota, until the node's is used up.
        let b = Address::system("b");
        l.count(&view, &store, &b, "d1", BYTES_PER_MIB, 0).unwrap();
        let c = Address::system("c");
        let e = l.count(&view, &store, &c, "e1", 1, 0).unwrap_err();
        assert!(e.to_string().contains("blobs.node_pending_mib"), "{e}");
        assert_eq!(l.usage(), (2 * BYTES_PER_MIB, 3));
    }

    #[test]
    fn pending_blobs_expire_with_the_orphan_collectors_age() {
        let view = funded_view();
        let (_dir, store) = blob_store();
        let l = ledger(1, 10);
        let a = Address::system("a");
        l.count(&view, &store, &a, "c1", BYTES_PER_MIB, 0).unwrap();
        let e = l.count(&view, &store, &a, "c2", 1, 1).unwrap_err();
        assert_eq!(e.code(), codes::BLOB_QUOTA_EXCEEDED);
        assert!(e.to_string().contains("blobs.account_pending_mib"), "{e}");
        l.count(&view, &store, &a, "c2", 1, ORPHAN_BLOB_AGE_MS).unwrap();
        assert_eq!(l.usage(), (1, 1));
    }

    #[test]
    fn a_full_node_sweeps_other_accounts_at_most_once_per_interval() {
        let view = funded_view();
        let (_dir, store) = blob_store();
        let l = ledger(1, 1);
        let (a, b) = (Address::system("a"), Address::system("b"));
        l.count(&view, &store, &a, "c1", BYTES_PER_MIB, 0).unwrap();
        // Full: the first refusal sweeps (nothing is anchored or old), the next ones do not.
        let e = l.count(&view, &store, &b, "d1", 1, 0).unwrap_err();
        assert_eq!(e.code(), codes::BLOB_QUOTA_EXCEEDED);
        assert!(e.to_string().contains("blobs.node_pending_mib"), "{e}");
        // a's blob is old enough for the collector now, but the last sweep was just now.
        let old = ORPHAN_BLOB_AGE_MS;
        l.inner.lock().swept_at_ms = Some(old);
        let e = l.count(&view, &store, &b, "d1", 1, old).unwrap_err();
        assert_eq!(e.code(), codes::BLOB_QUOTA_EXCEEDED);
        assert!(e.to_string().contains("blobs.node_pending_mib"), "{e}");
        // After the interval the sweep drops it and b gets in.
        l.count(&view, &store, &b, "d1", 1, old + LEDGER_SWEEP_INTERVAL_MS)
            .unwrap();
        assert_eq!(l.usage(), (1, 1));
    }

    #[test]
    fn the_blob_count_is_capped_per_account() {
        let view = funded_view();
        let (_dir, store) = blob_store();
        let l = ledger(10, 10);
        let a = Address::system("a");
        for cid in ["c1", "c2", "c3"] {
            l.count(&view, &store, &a, cid, 1, 0).unwrap();
        }
        assert_eq!(
            l.count(&view, &store, &a, "c4", 1, 0).unwrap_err().code(),
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

#[cfg(test)]
mod forfeit_tests {
    use super::*;
    use want_state::MemState;

    fn fund(view: &mut MemState, a: &Address, amount: Amount) {
        view.0.insert(
            want_state::token::state::balance_key(a),
            amount.to_be_bytes().to_vec(),
        );
    }

    #[test]
    fn moving_one_want_from_account_to_account_does_not_fill_the_node() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let l = UploadLedger::new(BlobLimits {
            account_pending_mib: 1,
            account_pending_blobs: 16,
            node_pending_mib: 2,
            node_pending_blobs: 100,
        });
        let mut view = MemState::default();
        let half = usize::try_from(BYTES_PER_MIB / 2).unwrap();
        // The attacker's 1 WANT hops a1 -> a2: each fills its own quota, never anchoring.
        let (a1, a2) = (Address::system("a1"), Address::system("a2"));
        let mut uploaded = Vec::new();
        let mut now = 1_000;
        for (account, tags) in [(a1, [1u8, 2]), (a2, [3, 4])] {
            fund(&mut view, &account, BLOB_UPLOADER_MIN_BALANCE);
            for tag in tags {
                let blob = vec![tag; half];
                let cid = store.put(&blob).unwrap();
                let n = blob.len() as u64;
                assert_eq!(l.count(&view, &store, &account, &cid, n, now).unwrap(), Counted::New);
                uploaded.push((account, cid));
                now += 1;
            }
            fund(&mut view, &account, BLOB_UPLOADER_MIN_BALANCE - 1);
        }
        // a2 still holds the WANT: its uploads stay.
        fund(&mut view, &a2, BLOB_UPLOADER_MIN_BALANCE);
        assert_eq!(l.usage(), (2 * BYTES_PER_MIB, 4));
        // An honest funded uploader gets in: a1's pending uploads are forfeited and deleted.
        let honest = Address::system("honest");
        fund(&mut view, &honest, BLOB_UPLOADER_MIN_BALANCE);
        let blob = vec![9u8; half];
        let cid = want_crypto::cid_of(&blob);
        assert_eq!(
            l.count(&view, &store, &honest, &cid, blob.len() as u64, now).unwrap(),
            Counted::New
        );
        for (account, cid) in &uploaded {
            assert_eq!(store.contains(cid).unwrap(), *account == a2, "{account} {cid}");
        }
        assert_eq!(l.usage(), (BYTES_PER_MIB + BYTES_PER_MIB / 2, 3));
    }

    #[test]
    fn a_forfeited_blob_another_account_has_pending_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let l = UploadLedger::new(BlobLimits {
            account_pending_mib: 1,
            account_pending_blobs: 16,
            node_pending_mib: 1,
            node_pending_blobs: 100,
        });
        let mut view = MemState::default();
        let (a, b, c) = (Address::system("a"), Address::system("b"), Address::system("c"));
        for x in [&a, &b, &c] {
            fund(&mut view, x, BLOB_UPLOADER_MIN_BALANCE);
        }
        let quarter = usize::try_from(BYTES_PER_MIB / 4).unwrap();
        let blob = vec![7u8; quarter];
        let cid = store.put(&blob).unwrap();
        let n = blob.len() as u64;
        l.count(&view, &store, &a, &cid, n, 0).unwrap();
        l.count(&view, &store, &b, &cid, n, 0).unwrap();
        let big = vec![8u8; 2 * quarter];
        let big_cid = store.put(&big).unwrap();
        l.count(&view, &store, &a, &big_cid, big.len() as u64, 0).unwrap();
        // a spends its balance; the node is full for c's upload.
        fund(&mut view, &a, 0);
        l.count(&view, &store, &c, "c-cid", n, 1).unwrap();
        // a's own blob is gone; the one b has pending too stays.
        assert!(!store.contains(&big_cid).unwrap());
        assert!(store.contains(&cid).unwrap());
    }
}
