//! Persistent storage of WANT chain: blocks, receipts, indexes, state and the mempool journal in one crash-safe redb database.
//!
//! Every block is written together with its receipts, its transaction index entries, its state
//! changes and the removal of its transactions from the mempool journal in **one** redb write
//! transaction with immediate durability: after a crash the database holds either the whole block
//! or none of it.

use std::path::{Path, PathBuf};

use borsh::{BorshDeserialize, BorshSerialize};
use redb::{
    Database, Durability, ReadOnlyTable, ReadableTable, ReadableTableMetadata, TableDefinition,
};
use want_state::{Entry, StateError, StateView, WriteSet};
use want_types::{
    Activations, Block, BlockHeader, Event, Hash32, Receipt, SignedTransaction, SignedVote,
};

mod migrate;

/// On-disk format version written by this build. A database of any other version is refused.
///
/// 2: trace state keyed by product identifier, record products stored apart (the state layout,
/// and so the state roots, differ from format 1: a chain is never mixed across formats).
///
/// 3: the id of an anchor transaction hashes its Merkle digest
/// (`want_types::trace::AnchorTxDigest`) instead of its bytes, so its ids, the blocks' tx roots
/// and the records' `tx` fields differ from format 2.
///
/// 4: receipt events carry their module's wire index (token events were encoded bare); the
/// blocks' end-of-block events and the chain's recorded activations are stored. A format-3
/// database is migrated on open ([`migrate`]).
pub const FORMAT_VERSION: u32 = 4;
/// The oldest format this build migrates from; older ones are refused.
pub const FORMAT_MIGRATABLE_FROM: u32 = 3;
/// Name of the database file inside a node's data directory.
pub const DB_FILE_NAME: &str = "chain.redb";

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
const BLOCK_INFO: TableDefinition<u64, &[u8]> = TableDefinition::new("block_info");
const RECEIPTS: TableDefinition<u64, &[u8]> = TableDefinition::new("receipts");
const TX_INDEX: TableDefinition<&[u8], (u64, u32)> = TableDefinition::new("tx_index");
const STATE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("state");
const MEMPOOL: TableDefinition<&[u8], &[u8]> = TableDefinition::new("mempool_journal");
/// Commit votes by height: the borsh `Vec<SignedVote>` collected for that height, at most one per
/// public key and at most [`VOTES_PER_HEIGHT_MAX`]. Created on open when missing (databases of
/// older builds gain it without a format change).
const VOTES: TableDefinition<u64, &[u8]> = TableDefinition::new("votes");
/// Events of a block's end-of-block work (the schedule's due entries and the modules' hooks):
/// borsh `Vec<Event>`, stored only for blocks that have some.
const HOOK_EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("hook_events");
/// A block's head by height: the borsh `(BlockHeader, signature)`, the first bytes of the
/// block's own encoding, so headers are served without reading or decoding the transactions.
/// Created on open when missing; a block stored by an older build has none and is read from
/// `blocks` instead.
const BLOCK_HEADS: TableDefinition<u64, &[u8]> = TableDefinition::new("block_heads");
/// A block's transaction ids by height, in order: 32 bytes each, concatenated (what a block's
/// view lists, without hashing every transaction again). Created on open when missing; a block
/// stored by an older build has none and its ids are computed from `blocks`.
const BLOCK_TX_IDS: TableDefinition<u64, &[u8]> = TableDefinition::new("block_tx_ids");
/// The membership history: by the Raft log index of each membership change, the first block
/// height it governs and its record (opaque here: the consensus layer's JSON). Created on open
/// when missing.
const MEMBERSHIP: TableDefinition<u64, (u64, &[u8])> = TableDefinition::new("membership_history");
/// Most membership records one read returns.
pub const MEMBERSHIP_RECORDS_PER_READ_MAX: usize = 1_000;

const META_FORMAT: &str = "format_version";
const META_CHAIN_ID: &str = "chain_id";
const META_GENESIS: &str = "genesis_hash";
const META_HEAD: &str = "head";
const META_CONSENSUS: &str = "consensus_applied";
const META_DIVERGENCE: &str = "divergence";
const META_ACTIVATIONS: &str = "activations";

/// Most commit votes kept for one height: one per cluster member.
pub const VOTES_PER_HEIGHT_MAX: usize = want_types::CLUSTER_MEMBERS_MAX;

/// The error enum of the storage crate.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database error in {path}: {source}")]
    Db {
        path: PathBuf,
        source: Box<redb::Error>,
    },
    #[error("the data directory {path} is already in use by another running node; stop it or choose another --data-dir")]
    InUse { path: PathBuf },
    #[error("the data directory {path} was written by a newer version of WANT chain (format {found}, this build understands up to {FORMAT_VERSION}); upgrade this binary rather than risk damaging it")]
    FormatTooNew { path: PathBuf, found: u32 },
    #[error("the data directory {path} was written by an older version of WANT chain (format {found}; this build uses format {FORMAT_VERSION} and migrates from format {FORMAT_MIGRATABLE_FROM}, but format {found}'s state layout and state roots differ); start this build on a new data directory (a dev chain's directory can simply be deleted), or keep running the older binary on it")]
    FormatTooOld { path: PathBuf, found: u32 },
    #[error("the data directory {path} belongs to another chain (chain id {found_chain_id}, genesis {found_genesis}); this node expects chain id {expected_chain_id}, genesis {expected_genesis}. Use another --data-dir")]
    WrongChain {
        path: PathBuf,
        found_chain_id: u64,
        found_genesis: Hash32,
        expected_chain_id: u64,
        expected_genesis: Hash32,
    },
    #[error("stored data is corrupt at {what}: {reason}")]
    Corrupt { what: String, reason: String },
    #[error("block {height} does not extend the head (expected height {expected}, parent {expected_parent})")]
    NotNext {
        height: u64,
        expected: u64,
        expected_parent: Hash32,
    },
}

/// Facts about a committed block kept beside it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct BlockInfo {
    pub height: u64,
    pub hash: Hash32,
    pub timestamp_ms: u64,
    pub tx_count: u32,
    /// State root after executing this block.
    pub state_root: Hash32,
}

/// Identity of the chain a database belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainIdentity {
    pub chain_id: u64,
    pub genesis_hash: Hash32,
}

/// Where a committed transaction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxLocation {
    pub height: u64,
    pub index: u32,
}

/// The chain database.
pub struct Store {
    db: Database,
    path: PathBuf,
}

impl Store {
    /// Opens (or creates) the database in `dir`, creating the directory if needed.
    pub fn open(dir: &Path) -> Result<Store, StorageError> {
        std::fs::create_dir_all(dir).map_err(|e| StorageError::Db {
            path: dir.to_path_buf(),
            source: Box::new(redb::Error::Io(e)),
        })?;
        let path = dir.join(DB_FILE_NAME);
        let db = match Database::create(&path) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(StorageError::InUse { path })
            }
            Err(e) => {
                return Err(StorageError::Db {
                    path,
                    source: Box::new(e.into()),
                })
            }
        };
        let store = Store { db, path };
        // Refuse another format before writing anything (even creating tables).
        let found = store.check_format()?;
        store.create_tables()?;
        if found == Some(FORMAT_MIGRATABLE_FROM) {
            store.migrate_from_3()?;
        }
        Ok(store)
    }

    fn err(&self, e: impl Into<redb::Error>) -> StorageError {
        StorageError::Db {
            path: self.path.clone(),
            source: Box::new(e.into()),
        }
    }

    /// The stored format, refusing one this build can neither read nor migrate.
    fn check_format(&self) -> Result<Option<u32>, StorageError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = match r.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(self.err(e)),
        };
        // A malformed value is reported by `init_genesis` as corrupt.
        let found = t
            .get(META_FORMAT)
            .map_err(|e| self.err(e))?
            .and_then(|v| <[u8; 4]>::try_from(v.value()).ok().map(u32::from_be_bytes));
        if let Some(found) = found {
            if found != FORMAT_MIGRATABLE_FROM {
                self.format_is_ours(found)?;
            }
        }
        Ok(found)
    }

    fn format_is_ours(&self, found: u32) -> Result<(), StorageError> {
        let path = self.path.clone();
        match found.cmp(&FORMAT_VERSION) {
            std::cmp::Ordering::Greater => Err(StorageError::FormatTooNew { path, found }),
            std::cmp::Ordering::Less => Err(StorageError::FormatTooOld { path, found }),
            std::cmp::Ordering::Equal => Ok(()),
        }
    }

    fn create_tables(&self) -> Result<(), StorageError> {
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            w.open_table(META).map_err(|e| self.err(e))?;
            w.open_table(BLOCKS).map_err(|e| self.err(e))?;
            w.open_table(BLOCK_INFO).map_err(|e| self.err(e))?;
            w.open_table(RECEIPTS).map_err(|e| self.err(e))?;
            w.open_table(TX_INDEX).map_err(|e| self.err(e))?;
            w.open_table(STATE).map_err(|e| self.err(e))?;
            w.open_table(MEMPOOL).map_err(|e| self.err(e))?;
            w.open_table(VOTES).map_err(|e| self.err(e))?;
            w.open_table(HOOK_EVENTS).map_err(|e| self.err(e))?;
            w.open_table(BLOCK_HEADS).map_err(|e| self.err(e))?;
            w.open_table(BLOCK_TX_IDS).map_err(|e| self.err(e))?;
            w.open_table(MEMBERSHIP).map_err(|e| self.err(e))?;
        }
        w.commit().map_err(|e| self.err(e))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks the stored chain identity, or writes the genesis block and state into an empty
    /// database. Refuses a database of another chain or a newer format, changing nothing.
    /// Returns true when the genesis was written now.
    pub fn init_genesis(
        &self,
        identity: ChainIdentity,
        genesis: &Block,
        genesis_state: &WriteSet,
        genesis_state_root: Hash32,
        activations: &Activations,
    ) -> Result<bool, StorageError> {
        if let Some(found) = self.meta_u32(META_FORMAT)? {
            self.format_is_ours(found)?;
            let found_chain_id = self.meta_u64(META_CHAIN_ID)?.unwrap_or_default();
            let found_genesis = self.meta_hash(META_GENESIS)?.unwrap_or_default();
            if found_chain_id != identity.chain_id || found_genesis != identity.genesis_hash {
                return Err(StorageError::WrongChain {
                    path: self.path.clone(),
                    found_chain_id,
                    found_genesis,
                    expected_chain_id: identity.chain_id,
                    expected_genesis: identity.genesis_hash,
                });
            }
            return Ok(false);
        }
        let info = BlockInfo {
            height: 0,
            hash: genesis.hash(),
            timestamp_ms: genesis.header.timestamp_ms,
            tx_count: 0,
            state_root: genesis_state_root,
        };
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut meta = w.open_table(META).map_err(|e| self.err(e))?;
            meta.insert(META_FORMAT, FORMAT_VERSION.to_be_bytes().as_slice())
                .map_err(|e| self.err(e))?;
            meta.insert(META_CHAIN_ID, identity.chain_id.to_be_bytes().as_slice())
                .map_err(|e| self.err(e))?;
            meta.insert(META_GENESIS, identity.genesis_hash.0.as_slice())
                .map_err(|e| self.err(e))?;
            meta.insert(META_HEAD, 0u64.to_be_bytes().as_slice())
                .map_err(|e| self.err(e))?;
            meta.insert(META_ACTIVATIONS, encode(activations).as_slice())
                .map_err(|e| self.err(e))?;
            w.open_table(BLOCKS)
                .map_err(|e| self.err(e))?
                .insert(0, genesis.to_bytes().as_slice())
                .map_err(|e| self.err(e))?;
            w.open_table(BLOCK_HEADS)
                .map_err(|e| self.err(e))?
                .insert(0, head_bytes(genesis).as_slice())
                .map_err(|e| self.err(e))?;
            let ids: Vec<u8> = genesis.txs.iter().flat_map(|t| t.id().0).collect();
            w.open_table(BLOCK_TX_IDS)
                .map_err(|e| self.err(e))?
                .insert(0, ids.as_slice())
                .map_err(|e| self.err(e))?;
            w.open_table(BLOCK_INFO)
                .map_err(|e| self.err(e))?
                .insert(0, encode(&info).as_slice())
                .map_err(|e| self.err(e))?;
            w.open_table(RECEIPTS)
                .map_err(|e| self.err(e))?
                .insert(0, encode(&Vec::<Receipt>::new()).as_slice())
                .map_err(|e| self.err(e))?;
            let mut state = w.open_table(STATE).map_err(|e| self.err(e))?;
            apply_writes(&mut state, genesis_state).map_err(|e| self.err(e))?;
        }
        w.commit().map_err(|e| self.err(e))?;
        Ok(true)
    }

    /// Commits one executed block atomically: block, info, receipts, tx index, state changes and
    /// the removal of its transactions from the mempool journal.
    pub fn commit_block(
        &self,
        block: &Block,
        receipts: &[Receipt],
        writes: &WriteSet,
        state_root: Hash32,
    ) -> Result<BlockInfo, StorageError> {
        self.commit_block_with_meta(block, receipts, &[], writes, state_root, None)
    }

    /// As [`Store::commit_block`], also recording consensus metadata (opaque here: e.g. Raft's
    /// last applied log id and membership) in the same atomic write.
    pub fn commit_block_with_meta(
        &self,
        block: &Block,
        receipts: &[Receipt],
        hook_events: &[Event],
        writes: &WriteSet,
        state_root: Hash32,
        consensus_meta: Option<&[u8]>,
    ) -> Result<BlockInfo, StorageError> {
        let head = self.head()?;
        let height = block.header.height;
        if height != head.height + 1 || block.header.prev_hash != head.hash {
            return Err(StorageError::NotNext {
                height,
                expected: head.height + 1,
                expected_parent: head.hash,
            });
        }
        let info = BlockInfo {
            height,
            hash: block.hash(),
            timestamp_ms: block.header.timestamp_ms,
            tx_count: block.txs.len() as u32,
            state_root,
        };
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            w.open_table(BLOCKS)
                .map_err(|e| self.err(e))?
                .insert(height, block.to_bytes().as_slice())
                .map_err(|e| self.err(e))?;
            w.open_table(BLOCK_INFO)
                .map_err(|e| self.err(e))?
                .insert(height, encode(&info).as_slice())
                .map_err(|e| self.err(e))?;
            w.open_table(RECEIPTS)
                .map_err(|e| self.err(e))?
                .insert(height, encode(&receipts.to_vec()).as_slice())
                .map_err(|e| self.err(e))?;
            if !hook_events.is_empty() {
                w.open_table(HOOK_EVENTS)
                    .map_err(|e| self.err(e))?
                    .insert(height, encode(&hook_events.to_vec()).as_slice())
                    .map_err(|e| self.err(e))?;
            }
            w.open_table(BLOCK_HEADS)
                .map_err(|e| self.err(e))?
                .insert(height, head_bytes(block).as_slice())
                .map_err(|e| self.err(e))?;
            let mut index = w.open_table(TX_INDEX).map_err(|e| self.err(e))?;
            let mut journal = w.open_table(MEMPOOL).map_err(|e| self.err(e))?;
            let mut ids = Vec::with_capacity(block.txs.len() * 32);
            for (i, stx) in block.txs.iter().enumerate() {
                // The receipts carry the ids the executor computed (hashing a large
                // transaction again here would cost the commit milliseconds).
                let receipt = receipts.get(i);
                let id = receipt.map_or_else(|| stx.id(), |r| r.tx_id);
                debug_assert_eq!(id, stx.id(), "invariant: receipt i is for transaction i");
                ids.extend_from_slice(&id.0);
                // A rejected transaction never took effect: it may be submitted again, so it is
                // not indexed as committed.
                let rejected = receipt
                    .is_some_and(|r| matches!(r.status, want_types::TxStatus::Rejected { .. }));
                if !rejected {
                    index
                        .insert(id.0.as_slice(), (height, i as u32))
                        .map_err(|e| self.err(e))?;
                }
                journal.remove(id.0.as_slice()).map_err(|e| self.err(e))?;
            }
            w.open_table(BLOCK_TX_IDS)
                .map_err(|e| self.err(e))?
                .insert(height, ids.as_slice())
                .map_err(|e| self.err(e))?;
            let mut state = w.open_table(STATE).map_err(|e| self.err(e))?;
            apply_writes(&mut state, writes).map_err(|e| self.err(e))?;
            let mut meta = w.open_table(META).map_err(|e| self.err(e))?;
            meta.insert(META_HEAD, height.to_be_bytes().as_slice())
                .map_err(|e| self.err(e))?;
            if let Some(m) = consensus_meta {
                meta.insert(META_CONSENSUS, m).map_err(|e| self.err(e))?;
            }
        }
        w.commit().map_err(|e| self.err(e))?;
        Ok(info)
    }

    /// Consensus metadata recorded with the last applied entry (None on a fresh database).
    pub fn consensus_meta(&self) -> Result<Option<Vec<u8>>, StorageError> {
        self.meta_raw(META_CONSENSUS)
    }

    /// Records consensus metadata for an entry that carries no block (membership, blank).
    pub fn set_consensus_meta(&self, meta: &[u8]) -> Result<(), StorageError> {
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        w.open_table(META)
            .map_err(|e| self.err(e))?
            .insert(META_CONSENSUS, meta)
            .map_err(|e| self.err(e))?;
        w.commit().map_err(|e| self.err(e))
    }

    /// Records a membership change (the consensus layer's `record`, made at Raft log index
    /// `log_index`, governing blocks from `first_height` on) with the consensus metadata after
    /// it, in one atomic write. The first record of an index is kept (applying the entry again
    /// after a crash, or a snapshot of the same membership, changes nothing).
    pub fn record_membership(
        &self,
        log_index: u64,
        first_height: u64,
        record: &[u8],
        consensus_meta: &[u8],
    ) -> Result<(), StorageError> {
        self.record_memberships(&[(log_index, first_height, record)], Some(consensus_meta))
    }

    /// Records membership changes, each as [`Self::record_membership`] does, with the consensus
    /// metadata after the last if given, in one atomic write.
    pub fn record_memberships(
        &self,
        records: &[(u64, u64, &[u8])],
        consensus_meta: Option<&[u8]>,
    ) -> Result<(), StorageError> {
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut t = w.open_table(MEMBERSHIP).map_err(|e| self.err(e))?;
            for (log_index, first_height, record) in records {
                if t.get(*log_index).map_err(|e| self.err(e))?.is_none() {
                    t.insert(*log_index, (*first_height, *record))
                        .map_err(|e| self.err(e))?;
                }
            }
            drop(t);
            if let Some(meta) = consensus_meta {
                w.open_table(META)
                    .map_err(|e| self.err(e))?
                    .insert(META_CONSENSUS, meta)
                    .map_err(|e| self.err(e))?;
            }
        }
        w.commit().map_err(|e| self.err(e))
    }

    /// Membership records after log index `after` (all with None), in log order, at most
    /// `limit` (and [`MEMBERSHIP_RECORDS_PER_READ_MAX`]): (log index, first height, record).
    pub fn membership_history(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, u64, Vec<u8>)>, StorageError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(MEMBERSHIP).map_err(|e| self.err(e))?;
        let start = match after {
            None => 0,
            Some(i) => match i.checked_add(1) {
                Some(s) => s,
                None => return Ok(Vec::new()),
            },
        };
        let mut out = Vec::new();
        for item in t.range(start..).map_err(|e| self.err(e))? {
            if out.len() >= limit.min(MEMBERSHIP_RECORDS_PER_READ_MAX) {
                break;
            }
            let (k, v) = item.map_err(|e| self.err(e))?;
            let (first_height, record) = v.value();
            out.push((k.value(), first_height, record.to_vec()));
        }
        Ok(out)
    }

    /// The membership record that governs block `height`: the last change (in log order) whose
    /// first height is at or below it, as (log index, record); None if no change governs it.
    pub fn membership_at_height(
        &self,
        height: u64,
    ) -> Result<Option<(u64, Vec<u8>)>, StorageError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(MEMBERSHIP).map_err(|e| self.err(e))?;
        for item in t.iter().map_err(|e| self.err(e))?.rev() {
            let (k, v) = item.map_err(|e| self.err(e))?;
            let (first_height, record) = v.value();
            if first_height <= height {
                return Ok(Some((k.value(), record.to_vec())));
            }
        }
        Ok(None)
    }

    /// Adds commit votes for `height` to those already kept: the first vote of each public key
    /// is kept (a later one, even a different one, is ignored), votes naming another height are
    /// ignored, and at most [`VOTES_PER_HEIGHT_MAX`] are kept. Returns how many were added.
    /// Idempotent. The caller verifies the votes; storage only keeps them.
    ///
    /// Written with `Durability::None`: the votes reach the disk with the next durable commit
    /// (the next block). A crash may lose the latest votes; they are never needed for safety —
    /// a node re-signs its own vote from the block info (Ed25519 is deterministic, so the same
    /// bytes) and fetches the others' votes again.
    pub fn add_votes(&self, height: u64, votes: &[SignedVote]) -> Result<usize, StorageError> {
        if votes.iter().all(|v| v.vote.height != height) {
            return Ok(0);
        }
        let mut w = self.db.begin_write().map_err(|e| self.err(e))?;
        w.set_durability(Durability::None);
        let added = {
            let mut t = w.open_table(VOTES).map_err(|e| self.err(e))?;
            let mut kept: Vec<SignedVote> = match t.get(height).map_err(|e| self.err(e))? {
                Some(v) => decode(v.value(), &format!("votes[{height}]"))?,
                None => Vec::new(),
            };
            let before = kept.len();
            for v in votes {
                if kept.len() >= VOTES_PER_HEIGHT_MAX {
                    break;
                }
                if v.vote.height == height
                    && !kept.iter().any(|k| k.node_public_key == v.node_public_key)
                {
                    kept.push(*v);
                }
            }
            let added = kept.len() - before;
            if added > 0 {
                t.insert(height, encode(&kept).as_slice())
                    .map_err(|e| self.err(e))?;
            }
            added
        };
        w.commit().map_err(|e| self.err(e))?;
        Ok(added)
    }

    /// The commit votes kept for `height`, in the order they were added.
    pub fn votes(&self, height: u64) -> Result<Vec<SignedVote>, StorageError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(VOTES).map_err(|e| self.err(e))?;
        let Some(v) = t.get(height).map_err(|e| self.err(e))? else {
            return Ok(Vec::new());
        };
        decode(v.value(), &format!("votes[{height}]"))
    }

    /// The divergence record (opaque here) written when this node found its state root differs
    /// from the cluster majority's; None when it never did.
    pub fn divergence(&self) -> Result<Option<Vec<u8>>, StorageError> {
        self.meta_raw(META_DIVERGENCE)
    }

    /// Durably records a divergence (kept across restarts: the node must not resume applying
    /// blocks on a forked state).
    pub fn record_divergence(&self, record: &[u8]) -> Result<(), StorageError> {
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        w.open_table(META)
            .map_err(|e| self.err(e))?
            .insert(META_DIVERGENCE, record)
            .map_err(|e| self.err(e))?;
        w.commit().map_err(|e| self.err(e))
    }

    /// The chain identity stored in the database, if any.
    pub fn identity(&self) -> Result<Option<ChainIdentity>, StorageError> {
        match (self.meta_u64(META_CHAIN_ID)?, self.meta_hash(META_GENESIS)?) {
            (Some(chain_id), Some(genesis_hash)) => Ok(Some(ChainIdentity {
                chain_id,
                genesis_hash,
            })),
            _ => Ok(None),
        }
    }

    /// The latest committed block's info.
    pub fn head(&self) -> Result<BlockInfo, StorageError> {
        let height = self
            .meta_u64(META_HEAD)?
            .ok_or_else(|| StorageError::Corrupt {
                what: "meta.head".into(),
                reason: "no head recorded; the genesis was never written".into(),
            })?;
        self.block_info(height)?
            .ok_or_else(|| StorageError::Corrupt {
                what: format!("block_info[{height}]"),
                reason: "head block info missing".into(),
            })
    }

    pub fn block(&self, height: u64) -> Result<Option<Block>, StorageError> {
        Ok(self.block_with_size(height)?.map(|(b, _)| b))
    }

    /// The block at `height` and the size of its encoding in bytes.
    pub fn block_with_size(&self, height: u64) -> Result<Option<(Block, usize)>, StorageError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(BLOCKS).map_err(|e| self.err(e))?;
        let Some(v) = t.get(height).map_err(|e| self.err(e))? else {
            return Ok(None);
        };
        let bytes = v.value();
        Block::from_bytes(bytes)
            .map(|b| Some((b, bytes.len())))
            .map_err(|e| StorageError::Corrupt {
                what: format!("blocks[{height}]"),
                reason: e.to_string(),
            })
    }

    /// The header and the proposer's signature of the block at `height`, without reading its
    /// transactions (a block stored by an older build is read whole, its transactions left
    /// undecoded).
    pub fn block_head(&self, height: u64) -> Result<Option<(BlockHeader, Vec<u8>)>, StorageError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let heads = r.open_table(BLOCK_HEADS).map_err(|e| self.err(e))?;
        self.head_in(&r, &heads, height)
    }

    /// The head of block `height` from `heads`, else from the block itself.
    fn head_in(
        &self,
        r: &redb::ReadTransaction,
        heads: &ReadOnlyTable<u64, &'static [u8]>,
        height: u64,
    ) -> Result<Option<(BlockHeader, Vec<u8>)>, StorageError> {
        let what = || format!("block_heads[{height}]");
        if let Some(v) = heads.get(height).map_err(|e| self.err(e))? {
            return decode(v.value(), &what()).map(Some);
        }
        let blocks = r.open_table(BLOCKS).map_err(|e| self.err(e))?;
        let Some(v) = blocks.get(height).map_err(|e| self.err(e))? else {
            return Ok(None);
        };
        // The head is the block encoding's first fields: decode them, leave the rest.
        let mut bytes = v.value();
        <(BlockHeader, Vec<u8>)>::deserialize(&mut bytes)
            .map(Some)
            .map_err(|e| StorageError::Corrupt {
                what: format!("blocks[{height}]"),
                reason: e.to_string(),
            })
    }

    /// The headers of up to `count` consecutive stored blocks from `from`, stopping before
    /// their encoding would exceed `bytes_max` (at least one header is returned if `from`
    /// exists); transactions are neither read nor decoded.
    pub fn headers(
        &self,
        from: u64,
        count: u64,
        bytes_max: usize,
    ) -> Result<Vec<BlockHeader>, StorageError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let heads = r.open_table(BLOCK_HEADS).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        let mut total = 0usize;
        for h in from..from.saturating_add(count) {
            let Some((header, _)) = self.head_in(&r, &heads, h)? else {
                break;
            };
            let size = borsh::object_length(&header).unwrap_or(usize::MAX);
            if !out.is_empty() && total.saturating_add(size) > bytes_max {
                break;
            }
            total = total.saturating_add(size);
            out.push(header);
        }
        Ok(out)
    }

    /// The ids of the transactions of block `height`, in order, as stored when it was
    /// committed (a block stored by an older build is decoded and its transactions hashed).
    pub fn block_tx_ids(&self, height: u64) -> Result<Option<Vec<Hash32>>, StorageError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(BLOCK_TX_IDS).map_err(|e| self.err(e))?;
        if let Some(v) = t.get(height).map_err(|e| self.err(e))? {
            let bytes = v.value();
            if bytes.len() % 32 != 0 {
                return Err(StorageError::Corrupt {
                    what: format!("block_tx_ids[{height}]"),
                    reason: format!("{} bytes, not a whole number of 32-byte ids", bytes.len()),
                });
            }
            return Ok(Some(
                bytes
                    .chunks_exact(32)
                    .map(|c| {
                        let mut id = [0u8; 32];
                        id.copy_from_slice(c);
                        Hash32(id)
                    })
                    .collect(),
            ));
        }
        drop(t);
        drop(r);
        Ok(self
            .block(height)?
            .map(|b| b.txs.iter().map(|t| t.id()).collect()))
    }

    /// The canonical bytes of up to `count` consecutive stored blocks from `from`, stopping
    /// before the total would exceed `bytes_max` (at least one block is returned if `from`
    /// exists).
    pub fn raw_blocks(
        &self,
        from: u64,
        count: u64,
        bytes_max: usize,
    ) -> Result<Vec<Vec<u8>>, StorageError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(BLOCKS).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        let mut total = 0usize;
        let end = from.saturating_add(count);
        for item in t.range(from..end).map_err(|e| self.err(e))? {
            let (_, v) = item.map_err(|e| self.err(e))?;
            let bytes = v.value();
            if !out.is_empty() && total + bytes.len() > bytes_max {
                break;
            }
            total += bytes.len();
            out.push(bytes.to_vec());
        }
        Ok(out)
    }

    pub fn block_info(&self, height: u64) -> Result<Option<BlockInfo>, StorageError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(BLOCK_INFO).map_err(|e| self.err(e))?;
        let Some(v) = t.get(height).map_err(|e| self.err(e))? else {
            return Ok(None);
        };
        decode(v.value(), &format!("block_info[{height}]")).map(Some)
    }

    pub fn receipts(&self, height: u64) -> Result<Option<Vec<Receipt>>, StorageError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(RECEIPTS).map_err(|e| self.err(e))?;
        let Some(v) = t.get(height).map_err(|e| self.err(e))? else {
            return Ok(None);
        };
        decode(v.value(), &format!("receipts[{height}]")).map(Some)
    }

    /// The events of block `height`'s end-of-block work (empty when it had none).
    pub fn hook_events(&self, height: u64) -> Result<Vec<Event>, StorageError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(HOOK_EVENTS).map_err(|e| self.err(e))?;
        let Some(v) = t.get(height).map_err(|e| self.err(e))? else {
            return Ok(Vec::new());
        };
        decode(v.value(), &format!("hook_events[{height}]"))
    }

    /// The activations recorded for this chain (`None`: a database migrated from format 3,
    /// which did not record them).
    pub fn activations(&self) -> Result<Option<Activations>, StorageError> {
        self.meta_raw(META_ACTIVATIONS)?
            .map(|v| decode(&v, "meta.activations"))
            .transpose()
    }

    /// Records the chain's activations (the node checks a genesis against them at each start).
    pub fn record_activations(&self, activations: &Activations) -> Result<(), StorageError> {
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        w.open_table(META)
            .map_err(|e| self.err(e))?
            .insert(META_ACTIVATIONS, encode(activations).as_slice())
            .map_err(|e| self.err(e))?;
        w.commit().map_err(|e| self.err(e))
    }

    pub fn tx_location(&self, id: &Hash32) -> Result<Option<TxLocation>, StorageError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(TX_INDEX).map_err(|e| self.err(e))?;
        let found = t.get(id.0.as_slice()).map_err(|e| self.err(e))?;
        Ok(found.map(|v| {
            let (height, index) = v.value();
            TxLocation { height, index }
        }))
    }

    /// A consistent read-only view of the committed state (one redb read transaction).
    pub fn snapshot(&self) -> Result<StateSnapshot, StorageError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let table = r.open_table(STATE).map_err(|e| self.err(e))?;
        let tx_index = r.open_table(TX_INDEX).map_err(|e| self.err(e))?;
        let meta = r.open_table(META).map_err(|e| self.err(e))?;
        let head = match meta.get(META_HEAD).map_err(|e| self.err(e))? {
            None => None,
            Some(v) => Some(u64::from_be_bytes(<[u8; 8]>::try_from(v.value()).map_err(
                |_| StorageError::Corrupt {
                    what: "meta.head".into(),
                    reason: format!("expected 8 bytes, found {}", v.value().len()),
                },
            )?)),
        };
        Ok(StateSnapshot {
            table,
            tx_index,
            head,
        })
    }

    /// Overwrites one state value outside of any block. Only for tests that simulate an attacker
    /// editing the database (tamper detection); never called by the node.
    pub fn tamper_state_for_test(&self, key: &[u8], value: &[u8]) -> Result<(), StorageError> {
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut t = w.open_table(STATE).map_err(|e| self.err(e))?;
            t.insert(key, value).map_err(|e| self.err(e))?;
        }
        w.commit().map_err(|e| self.err(e))
    }

    /// Adds admitted transactions to the durable mempool journal in one transaction.
    pub fn journal_add(&self, txs: &[(Hash32, Vec<u8>)]) -> Result<(), StorageError> {
        self.journal_update(txs, &[])
    }

    /// Adds admitted transactions to the journal and removes displaced ones (replaced or
    /// evicted), in one transaction; the removals come last, so a transaction added and
    /// displaced in the same batch is not left behind.
    pub fn journal_update(
        &self,
        add: &[(Hash32, Vec<u8>)],
        remove: &[Hash32],
    ) -> Result<(), StorageError> {
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut t = w.open_table(MEMPOOL).map_err(|e| self.err(e))?;
            for (id, bytes) in add {
                t.insert(id.0.as_slice(), bytes.as_slice())
                    .map_err(|e| self.err(e))?;
            }
            for id in remove {
                t.remove(id.0.as_slice()).map_err(|e| self.err(e))?;
            }
        }
        w.commit().map_err(|e| self.err(e))
    }

    /// Removes transactions from the journal (evicted or found invalid).
    pub fn journal_remove(&self, ids: &[Hash32]) -> Result<(), StorageError> {
        if ids.is_empty() {
            return Ok(());
        }
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut t = w.open_table(MEMPOOL).map_err(|e| self.err(e))?;
            for id in ids {
                t.remove(id.0.as_slice()).map_err(|e| self.err(e))?;
            }
        }
        w.commit().map_err(|e| self.err(e))
    }

    /// Every transaction in the journal; entries that no longer decode are returned as errors by id.
    pub fn journal_all(&self) -> Result<Vec<Result<SignedTransaction, Hash32>>, StorageError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(MEMPOOL).map_err(|e| self.err(e))?;
        let mut out = Vec::with_capacity(t.len().map_err(|e| self.err(e))? as usize);
        for entry in t.iter().map_err(|e| self.err(e))? {
            let (k, v) = entry.map_err(|e| self.err(e))?;
            let mut id = [0u8; 32];
            if k.value().len() == 32 {
                id.copy_from_slice(k.value());
            }
            out.push(SignedTransaction::from_bytes(v.value()).map_err(|_| Hash32(id)));
        }
        Ok(out)
    }

    fn meta_raw(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(META).map_err(|e| self.err(e))?;
        let v = t.get(key).map_err(|e| self.err(e))?;
        Ok(v.map(|v| v.value().to_vec()))
    }

    fn meta_fixed<const N: usize>(&self, key: &str) -> Result<Option<[u8; N]>, StorageError> {
        self.meta_raw(key)?
            .map(|v| {
                <[u8; N]>::try_from(v.as_slice()).map_err(|_| StorageError::Corrupt {
                    what: format!("meta.{key}"),
                    reason: format!("expected {N} bytes, found {}", v.len()),
                })
            })
            .transpose()
    }

    fn meta_u64(&self, key: &str) -> Result<Option<u64>, StorageError> {
        Ok(self.meta_fixed(key)?.map(u64::from_be_bytes))
    }

    fn meta_u32(&self, key: &str) -> Result<Option<u32>, StorageError> {
        Ok(self.meta_fixed(key)?.map(u32::from_be_bytes))
    }

    fn meta_hash(&self, key: &str) -> Result<Option<Hash32>, StorageError> {
        Ok(self.meta_fixed(key)?.map(Hash32))
    }

    /// Test hook: overwrite the stored receipts of a height with raw bytes (to build a database
    /// of an older format).
    #[doc(hidden)]
    pub fn put_raw_receipts_for_test(&self, height: u64, bytes: &[u8]) -> Result<(), StorageError> {
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        w.open_table(RECEIPTS)
            .map_err(|e| self.err(e))?
            .insert(height, bytes)
            .map_err(|e| self.err(e))?;
        w.commit().map_err(|e| self.err(e))
    }

    /// Test hook: forget the recorded activations (as a database migrated from format 3).
    #[doc(hidden)]
    pub fn forget_activations_for_test(&self) -> Result<(), StorageError> {
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        w.open_table(META)
            .map_err(|e| self.err(e))?
            .remove(META_ACTIVATIONS)
            .map_err(|e| self.err(e))?;
        w.commit().map_err(|e| self.err(e))
    }

    /// Test and tooling hook: overwrite the stored format version.
    #[doc(hidden)]
    pub fn set_format_version_for_test(&self, version: u32) -> Result<(), StorageError> {
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        w.open_table(META)
            .map_err(|e| self.err(e))?
            .insert(META_FORMAT, version.to_be_bytes().as_slice())
            .map_err(|e| self.err(e))?;
        w.commit().map_err(|e| self.err(e))
    }
}

/// A read-only view of committed state at one point in time.
pub struct StateSnapshot {
    table: ReadOnlyTable<&'static [u8], &'static [u8]>,
    tx_index: ReadOnlyTable<&'static [u8], (u64, u32)>,
    head: Option<u64>,
}

impl StateSnapshot {
    /// The height of the last block whose state this snapshot holds (0 before the genesis).
    pub fn head_height(&self) -> u64 {
        self.head.unwrap_or(0)
    }

    /// Where a transaction was committed, as of this snapshot.
    pub fn tx_location(&self, id: &Hash32) -> Result<Option<TxLocation>, StateError> {
        let found = self
            .tx_index
            .get(id.0.as_slice())
            .map_err(|e| StateError::Storage {
                reason: e.to_string(),
            })?;
        Ok(found.map(|v| {
            let (height, index) = v.value();
            TxLocation { height, index }
        }))
    }
}

impl StateView for StateSnapshot {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.table
            .get(key)
            .map(|v| v.map(|v| v.value().to_vec()))
            .map_err(|e| StateError::Storage {
                reason: e.to_string(),
            })
    }

    /// A page of the range, read in this snapshot's transaction (consistent with every other
    /// read of the snapshot).
    fn range(
        &self,
        prefix: &[u8],
        start: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StateError> {
        let storage = |e: redb::StorageError| StateError::Storage {
            reason: e.to_string(),
        };
        let from = want_state::range_from(prefix, start);
        let mut out = Vec::new();
        for entry in self.table.range::<&[u8]>(from..).map_err(storage)? {
            if out.len() >= limit {
                break;
            }
            let (k, v) = entry.map_err(storage)?;
            if !k.value().starts_with(prefix) {
                break;
            }
            out.push((k.value().to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }
}

fn apply_writes(
    table: &mut redb::Table<&[u8], &[u8]>,
    writes: &WriteSet,
) -> Result<(), redb::StorageError> {
    for (k, v) in writes.0.iter() {
        match v {
            Some(v) => {
                table.insert(k.as_slice(), v.as_slice())?;
            }
            None => {
                table.remove(k.as_slice())?;
            }
        }
    }
    Ok(())
}

/// What `block_heads` holds for a block: the borsh `(header, signature)`.
fn head_bytes(block: &Block) -> Vec<u8> {
    encode(&(&block.header, &block.signature))
}

fn encode<T: BorshSerialize>(v: &T) -> Vec<u8> {
    borsh::to_vec(v).expect("invariant: borsh encoding into a Vec cannot fail")
}

fn decode<T: BorshDeserialize>(bytes: &[u8], what: &str) -> Result<T, StorageError> {
    borsh::from_slice(bytes).map_err(|e| StorageError::Corrupt {
        what: what.to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use want_state::MemState;
    use want_types::{Address, BlockHeader, Call, Signature, TokenCall, Transaction};

    fn genesis_block(chain_id: u64) -> Block {
        Block {
            header: BlockHeader {
                chain_id,
                height: 0,
                prev_hash: Hash32([7; 32]),
                timestamp_ms: 1,
                tx_root: Hash32::ZERO,
                tx_count: 0,
                parent_state_root: Hash32([1; 32]),
                proposer: vec![],
            },
            signature: vec![],
            txs: vec![],
        }
    }

    fn identity(b: &Block) -> ChainIdentity {
        ChainIdentity {
            chain_id: b.header.chain_id,
            genesis_hash: b.hash(),
        }
    }

    fn one_write(key: &[u8], value: &[u8]) -> WriteSet {
        let mut ws = WriteSet::default();
        ws.0.insert(key.to_vec(), Some(value.to_vec()));
        ws
    }

    fn stx(nonce: u64) -> SignedTransaction {
        SignedTransaction {
            tx: Transaction {
                chain_id: 1,
                from: Address::from_account_id([9; 20]),
                nonce,
                fee: 1,
                expiry_ms: 10,
                pow_nonce: 0,
                call: Call::Token(TokenCall::Burn { amount: 1 }),
            },
            signature: Signature::Secp256k1(vec![0; 65]),
        }
    }

    fn child(parent: &BlockInfo, txs: Vec<SignedTransaction>) -> Block {
        let mut b = genesis_block(1);
        b.header.height = parent.height + 1;
        b.header.prev_hash = parent.hash;
        b.header.tx_count = txs.len() as u32;
        b.txs = txs;
        b
    }

    fn receipt_for(tx: &SignedTransaction) -> Receipt {
        Receipt {
            tx_id: tx.id(),
            sender: Address::from_account_id([9; 20]),
            status: want_types::TxStatus::Success,
            fee_paid: 1,
            events: vec![],
        }
    }

    #[test]
    fn membership_changes_are_recorded_and_found_by_the_height_they_govern() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.membership_at_height(5).unwrap(), None);
        // Log index → (first height, record): two changes before block 1, one from block 8.
        for (index, height, rec) in [(0, 1, b"genesis"), (4, 1, b"learner"), (9, 8, b"removed")] {
            store
                .record_membership(index, height, rec, &[index as u8])
                .unwrap();
        }
        assert_eq!(store.consensus_meta().unwrap(), Some(vec![9]));
        // Recorded again (an entry applied again after a crash): the first record stays.
        store.record_membership(4, 3, b"again", &[10]).unwrap();
        assert_eq!(store.consensus_meta().unwrap(), Some(vec![10]));
        assert_eq!(store.membership_at_height(0).unwrap(), None);
        assert_eq!(
            store.membership_at_height(7).unwrap(),
            Some((4, b"learner".to_vec()))
        );
        assert_eq!(
            store.membership_at_height(8).unwrap(),
            Some((9, b"removed".to_vec()))
        );
        let all = store.membership_history(None, 10).unwrap();
        assert_eq!(
            all.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(),
            vec![(0, 1), (4, 1), (9, 8)]
        );
        let page = store.membership_history(Some(0), 1).unwrap();
        assert_eq!(page, vec![(4, 1, b"learner".to_vec())]);
        assert!(store
            .membership_history(Some(u64::MAX), 10)
            .unwrap()
            .is_empty());
        // Durable: read back after reopening.
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.membership_history(None, 10).unwrap().len(), 3);
    }

    #[test]
    fn heads_and_tx_ids_are_served_without_the_transactions_and_headers_stop_at_their_byte_cap() {
        let dir = tempfile::tempdir().unwrap();
        let g = genesis_block(1);
        let store = Store::open(dir.path()).unwrap();
        store
            .init_genesis(
                identity(&g),
                &g,
                &WriteSet::default(),
                Hash32([2; 32]),
                &Activations::default(),
            )
            .unwrap();
        let mut blocks = vec![g.clone()];
        for n in 0..3 {
            let head = store.head().unwrap();
            let mut b = child(&head, vec![stx(2 * n), stx(2 * n + 1)]);
            b.signature = vec![n as u8; 64];
            let r: Vec<Receipt> = b.txs.iter().map(receipt_for).collect();
            store
                .commit_block(&b, &r, &WriteSet::default(), Hash32([3; 32]))
                .unwrap();
            blocks.push(b);
        }
        for b in &blocks {
            let h = b.header.height;
            assert_eq!(
                store.block_head(h).unwrap(),
                Some((b.header.clone(), b.signature.clone()))
            );
            let ids: Vec<Hash32> = b.txs.iter().map(|t| t.id()).collect();
            assert_eq!(store.block_tx_ids(h).unwrap(), Some(ids));
            // The stored head is the first bytes of the block's encoding.
            assert!(b.to_bytes().starts_with(&head_bytes(b)));
        }
        assert_eq!(store.block_head(9).unwrap(), None);
        assert_eq!(store.block_tx_ids(9).unwrap(), None);
        let all: Vec<BlockHeader> = blocks.iter().map(|b| b.header.clone()).collect();
        assert_eq!(store.headers(0, 100, usize::MAX).unwrap(), all);
        assert_eq!(store.headers(1, 2, usize::MAX).unwrap(), all[1..3].to_vec());
        // A byte cap below one header still serves one; two headers' worth serves two.
        assert_eq!(store.headers(1, 100, 1).unwrap(), all[1..2].to_vec());
        let two = borsh::object_length(&all[1]).unwrap() * 2;
        assert_eq!(store.headers(1, 100, two).unwrap(), all[1..3].to_vec());

        // A block stored before the heads and ids were kept is read from the block itself.
        let w = store.db.begin_write().unwrap();
        {
            w.open_table(BLOCK_HEADS).unwrap().remove(2).unwrap();
            w.open_table(BLOCK_TX_IDS).unwrap().remove(2).unwrap();
        }
        w.commit().unwrap();
        let b = &blocks[2];
        assert_eq!(
            store.block_head(2).unwrap(),
            Some((b.header.clone(), b.signature.clone()))
        );
        let ids: Vec<Hash32> = b.txs.iter().map(|t| t.id()).collect();
        assert_eq!(store.block_tx_ids(2).unwrap(), Some(ids));
        assert_eq!(store.headers(0, 100, usize::MAX).unwrap(), all);
    }

    #[test]
    fn genesis_is_written_once_and_the_chain_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let g = genesis_block(1);
        {
            let store = Store::open(dir.path()).unwrap();
            assert!(store
                .init_genesis(
                    identity(&g),
                    &g,
                    &one_write(b"k", b"v"),
                    Hash32([2; 32]),
                    &Activations::default()
                )
                .unwrap());
            let head = store.head().unwrap();
            let b1 = child(&head, vec![stx(0)]);
            let r = vec![receipt_for(&b1.txs[0])];
            store
                .commit_block(&b1, &r, &one_write(b"k", b"w"), Hash32([3; 32]))
                .unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert!(!store
            .init_genesis(
                identity(&g),
                &g,
                &WriteSet::default(),
                Hash32([2; 32]),
                &Activations::default()
            )
            .unwrap());
        let head = store.head().unwrap();
        assert_eq!(head.height, 1);
        assert_eq!(head.state_root, Hash32([3; 32]));
        assert_eq!(
            store.snapshot().unwrap().get(b"k").unwrap(),
            Some(b"w".to_vec())
        );
        let loc = store.tx_location(&stx(0).id()).unwrap().unwrap();
        assert_eq!(
            loc,
            TxLocation {
                height: 1,
                index: 0
            }
        );
        assert_eq!(store.receipts(1).unwrap().unwrap().len(), 1);
    }

    #[test]
    fn a_database_of_another_chain_is_refused_and_left_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let g = genesis_block(1);
        let store = Store::open(dir.path()).unwrap();
        store
            .init_genesis(
                identity(&g),
                &g,
                &WriteSet::default(),
                Hash32::ZERO,
                &Activations::default(),
            )
            .unwrap();
        let other = genesis_block(2);
        let err = store
            .init_genesis(
                identity(&other),
                &other,
                &one_write(b"x", b"y"),
                Hash32::ZERO,
                &Activations::default(),
            )
            .unwrap_err();
        assert!(
            matches!(
                err,
                StorageError::WrongChain {
                    found_chain_id: 1,
                    expected_chain_id: 2,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(store.snapshot().unwrap().get(b"x").unwrap(), None);
        assert_eq!(store.identity().unwrap(), Some(identity(&g)));
    }

    /// A database stamped with format `version`: the error of its genesis check while open,
    /// then the error of opening it again.
    fn refusals_of_format(version: u32) -> (StorageError, StorageError) {
        let dir = tempfile::tempdir().unwrap();
        let g = genesis_block(1);
        let at_genesis = {
            let store = Store::open(dir.path()).unwrap();
            store
                .init_genesis(
                    identity(&g),
                    &g,
                    &WriteSet::default(),
                    Hash32::ZERO,
                    &Activations::default(),
                )
                .unwrap();
            store.set_format_version_for_test(version).unwrap();
            store
                .init_genesis(
                    identity(&g),
                    &g,
                    &WriteSet::default(),
                    Hash32::ZERO,
                    &Activations::default(),
                )
                .unwrap_err()
        };
        let on_open = Store::open(dir.path())
            .err()
            .expect("another format must be refused on open");
        (at_genesis, on_open)
    }

    #[test]
    fn a_database_of_a_newer_format_is_refused() {
        let (at_genesis, on_open) = refusals_of_format(FORMAT_VERSION + 1);
        for err in [at_genesis, on_open] {
            assert!(matches!(err, StorageError::FormatTooNew { .. }), "{err}");
            assert!(err.to_string().contains("newer version"));
        }
    }

    #[test]
    fn a_database_older_than_the_migratable_format_is_refused_on_open_and_at_genesis() {
        let old = FORMAT_MIGRATABLE_FROM - 1;
        let (at_genesis, on_open) = refusals_of_format(old);
        assert!(
            matches!(at_genesis, StorageError::FormatTooOld { .. }),
            "{at_genesis}"
        );
        assert!(
            matches!(on_open, StorageError::FormatTooOld { found, .. } if found == old),
            "{on_open}"
        );
        assert!(on_open.to_string().contains("older version"), "{on_open}");
    }

    #[test]
    fn a_format_3_database_is_migrated_on_open_and_its_receipts_read_as_before() {
        let dir = tempfile::tempdir().unwrap();
        let g = genesis_block(1);
        let a = Address::from_account_id([1; 20]);
        // Format 3 encoded token events bare: variant index, then the fields.
        let legacy_event = |variant: u8, value: u128| {
            let mut e = vec![variant];
            e.extend(borsh::to_vec(&(a, a, value)).unwrap());
            e
        };
        let receipt = |h: u8| Receipt {
            tx_id: Hash32([h; 32]),
            sender: a,
            status: want_types::TxStatus::Success,
            fee_paid: 5,
            events: vec![
                Event::Token(want_types::TokenEvent::Transfer {
                    from: a,
                    to: a,
                    value: 7,
                }),
                Event::Token(want_types::TokenEvent::FeePaid {
                    from: a,
                    to: a,
                    value: 5,
                }),
            ],
        };
        let legacy_receipts = |h: u8| {
            let mut bytes = 1u32.to_le_bytes().to_vec(); // one receipt
            bytes.extend(borsh::to_vec(&(Hash32([h; 32]), a)).unwrap());
            bytes.extend(borsh::to_vec(&want_types::TxStatus::Success).unwrap());
            bytes.extend(5u128.to_le_bytes());
            bytes.extend(2u32.to_le_bytes());
            bytes.extend(legacy_event(0, 7));
            bytes.extend(legacy_event(2, 5));
            bytes
        };
        {
            let store = Store::open(dir.path()).unwrap();
            store
                .init_genesis(
                    identity(&g),
                    &g,
                    &WriteSet::default(),
                    Hash32::ZERO,
                    &Activations::default(),
                )
                .unwrap();
            for h in 0..3u8 {
                store
                    .put_raw_receipts_for_test(h as u64, &legacy_receipts(h))
                    .unwrap();
            }
            store.set_format_version_for_test(3).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        for h in 0..3u8 {
            assert_eq!(store.receipts(h as u64).unwrap(), Some(vec![receipt(h)]));
        }
        assert_eq!(store.meta_u32(META_FORMAT).unwrap(), Some(FORMAT_VERSION));
        drop(store);
        // Opening again changes nothing more.
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.receipts(2).unwrap(), Some(vec![receipt(2)]));
    }

    #[test]
    fn a_second_opener_of_the_same_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path()).unwrap();
        let err = Store::open(dir.path())
            .err()
            .expect("second open must fail");
        assert!(matches!(err, StorageError::InUse { .. }), "{err}");
    }

    #[test]
    fn a_block_that_does_not_extend_the_head_is_refused_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let g = genesis_block(1);
        let store = Store::open(dir.path()).unwrap();
        store
            .init_genesis(
                identity(&g),
                &g,
                &WriteSet::default(),
                Hash32::ZERO,
                &Activations::default(),
            )
            .unwrap();
        let head = store.head().unwrap();
        let mut b = child(&head, vec![]);
        b.header.height = 5;
        assert!(matches!(
            store.commit_block(&b, &[], &one_write(b"a", b"b"), Hash32::ZERO),
            Err(StorageError::NotNext { .. })
        ));
        assert_eq!(store.head().unwrap().height, 0);
        assert_eq!(store.snapshot().unwrap().get(b"a").unwrap(), None);
    }

    #[test]
    fn committing_a_block_removes_its_transactions_from_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let g = genesis_block(1);
        let store = Store::open(dir.path()).unwrap();
        store
            .init_genesis(
                identity(&g),
                &g,
                &WriteSet::default(),
                Hash32::ZERO,
                &Activations::default(),
            )
            .unwrap();
        let (a, b) = (stx(0), stx(1));
        store
            .journal_add(&[(a.id(), a.to_bytes()), (b.id(), b.to_bytes())])
            .unwrap();
        assert_eq!(store.journal_all().unwrap().len(), 2);
        let head = store.head().unwrap();
        let blk = child(&head, vec![a.clone()]);
        store
            .commit_block(&blk, &[receipt_for(&a)], &WriteSet::default(), Hash32::ZERO)
            .unwrap();
        let left: Vec<_> = store
            .journal_all()
            .unwrap()
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(left, vec![b.clone()]);
        store.journal_remove(&[b.id()]).unwrap();
        assert!(store.journal_all().unwrap().is_empty());
    }

    #[test]
    fn a_journal_update_adds_and_removes_in_one_write_removals_last() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (a, b, c) = (stx(0), stx(1), stx(2));
        store.journal_add(&[(a.id(), a.to_bytes())]).unwrap();
        // b displaces a; c is added and displaced in the same batch.
        store
            .journal_update(
                &[(b.id(), b.to_bytes()), (c.id(), c.to_bytes())],
                &[a.id(), c.id()],
            )
            .unwrap();
        let left: Vec<_> = store
            .journal_all()
            .unwrap()
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(left, vec![b]);
    }

    #[test]
    fn prefix_reads_return_exactly_the_keys_under_the_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let g = genesis_block(1);
        let store = Store::open(dir.path()).unwrap();
        let mut ws = WriteSet::default();
        for k in [&b"a/1"[..], b"b/1", b"b/2", b"b0", b"c"] {
            ws.0.insert(k.to_vec(), Some(k.to_vec()));
        }
        store
            .init_genesis(identity(&g), &g, &ws, Hash32::ZERO, &Activations::default())
            .unwrap();
        let snap = store.snapshot().unwrap();
        let keys: Vec<Vec<u8>> = snap
            .range(b"b/", None, 10)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, vec![b"b/1".to_vec(), b"b/2".to_vec()]);
        let page: Vec<Vec<u8>> = snap
            .range(b"b/", Some(b"b/1\0"), 10)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(page, vec![b"b/2".to_vec()]);
        assert_eq!(snap.range(b"b/", None, 1).unwrap().len(), 1);
    }

    #[test]
    fn snapshot_reads_what_genesis_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let g = genesis_block(1);
        let store = Store::open(dir.path()).unwrap();
        let mut mem = MemState::new();
        let ws = one_write(b"token/supply", &[1, 2, 3]);
        mem.apply(&ws);
        store
            .init_genesis(identity(&g), &g, &ws, Hash32::ZERO, &Activations::default())
            .unwrap();
        assert_eq!(
            store.snapshot().unwrap().get(b"token/supply").unwrap(),
            mem.get(b"token/supply").unwrap()
        );
    }

    fn signed_vote(key_byte: u8, height: u64, root: u8) -> SignedVote {
        SignedVote {
            vote: want_types::CommitVote {
                chain_id: 1,
                height,
                block_hash: Hash32([height as u8; 32]),
                state_root: Hash32([root; 32]),
            },
            node_public_key: [key_byte; 32],
            signature: [root; 64],
        }
    }

    #[test]
    fn votes_keep_the_first_per_key_and_adding_twice_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(store.votes(3).unwrap().is_empty());
        let (a, b) = (signed_vote(1, 3, 7), signed_vote(2, 3, 7));
        assert_eq!(store.add_votes(3, &[a, b, a]).unwrap(), 2);
        assert_eq!(store.add_votes(3, &[b, a]).unwrap(), 0);
        // A second, different vote by the same key does not replace the first.
        assert_eq!(store.add_votes(3, &[signed_vote(1, 3, 8)]).unwrap(), 0);
        assert_eq!(store.votes(3).unwrap(), vec![a, b]);
        assert!(store.votes(4).unwrap().is_empty());
    }

    #[test]
    fn votes_for_another_height_are_not_kept_under_this_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let v5 = signed_vote(1, 5, 7);
        assert_eq!(store.add_votes(4, &[v5]).unwrap(), 0);
        assert!(store.votes(4).unwrap().is_empty());
        assert!(store.votes(5).unwrap().is_empty());
    }

    #[test]
    fn at_most_votes_per_height_max_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let many: Vec<SignedVote> = (0..=VOTES_PER_HEIGHT_MAX as u8)
            .map(|k| signed_vote(k, 1, 7))
            .collect();
        assert_eq!(store.add_votes(1, &many).unwrap(), VOTES_PER_HEIGHT_MAX);
        assert_eq!(store.add_votes(1, &many).unwrap(), 0);
        assert_eq!(store.votes(1).unwrap().len(), VOTES_PER_HEIGHT_MAX);
    }

    #[test]
    fn votes_survive_reopening_once_a_block_was_committed_after_them() {
        let dir = tempfile::tempdir().unwrap();
        let g = genesis_block(1);
        let v = signed_vote(1, 1, 7);
        {
            let store = Store::open(dir.path()).unwrap();
            store
                .init_genesis(
                    identity(&g),
                    &g,
                    &WriteSet::default(),
                    Hash32::ZERO,
                    &Activations::default(),
                )
                .unwrap();
            store.add_votes(1, &[v]).unwrap();
            let head = store.head().unwrap();
            store
                .commit_block(
                    &child(&head, vec![]),
                    &[],
                    &WriteSet::default(),
                    Hash32::ZERO,
                )
                .unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.votes(1).unwrap(), vec![v]);
    }

    #[test]
    fn a_database_without_a_votes_table_opens_and_gains_one() {
        let dir = tempfile::tempdir().unwrap();
        {
            // What an older build left behind: no `votes` table.
            let db = Database::create(dir.path().join(DB_FILE_NAME)).unwrap();
            let w = db.begin_write().unwrap();
            w.open_table(META).unwrap();
            w.commit().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert!(store.votes(1).unwrap().is_empty());
        assert_eq!(store.add_votes(1, &[signed_vote(1, 1, 7)]).unwrap(), 1);
    }

    #[test]
    fn a_recorded_divergence_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            assert_eq!(store.divergence().unwrap(), None);
            store.record_divergence(b"height 7").unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.divergence().unwrap(), Some(b"height 7".to_vec()));
    }

    mod decoders {
        use super::*;
        use proptest::prelude::*;

        /// Bytes a damaged disk could hold: anything, or a valid encoding truncated, with a
        /// byte changed or with bytes inserted.
        fn damaged(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                prop::collection::vec(any::<u8>(), 0..200),
                (
                    Just(valid),
                    0u8..3,
                    any::<prop::sample::Index>(),
                    any::<u8>(),
                    prop::collection::vec(any::<u8>(), 1..12)
                )
                    .prop_map(|(mut b, op, i, x, extra)| {
                        match op {
                            0 => b.truncate(i.index(b.len() + 1)),
                            1 => {
                                let p = i.index(b.len());
                                b[p] ^= x.max(1);
                            }
                            _ => {
                                let p = i.index(b.len() + 1);
                                b.splice(p..p, extra);
                            }
                        }
                        b
                    }),
            ]
        }

        fn receipts() -> Vec<Receipt> {
            let mut r = receipt_for(&stx(1));
            r.events = vec![Event::Token(want_types::TokenEvent::Burn {
                from: r.sender,
                value: 5,
            })];
            vec![r.clone(), receipt_for(&stx(2))]
        }

        /// Decodes or refuses as corrupt naming `what`; what decodes is exactly the bytes.
        fn check<T: BorshSerialize + BorshDeserialize>(bytes: &[u8]) -> Result<(), TestCaseError> {
            match decode::<T>(bytes, "thing[7]") {
                Ok(v) => prop_assert_eq!(encode(&v), bytes),
                Err(e) => prop_assert!(
                    matches!(&e, StorageError::Corrupt { what, .. } if what == "thing[7]"),
                    "{}",
                    e
                ),
            }
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(128))]

            #[test]
            fn stored_receipts_decode_canonically_or_are_corrupt(b in damaged(encode(&receipts()))) {
                check::<Vec<Receipt>>(&b)?;
                check::<Vec<Event>>(&b)?;
            }

            #[test]
            fn stored_votes_decode_canonically_or_are_corrupt(b in damaged(encode(&vec![signed_vote(1, 2, 3), signed_vote(4, 2, 3)]))) {
                check::<Vec<SignedVote>>(&b)?;
            }

            #[test]
            fn stored_block_infos_and_activations_decode_canonically_or_are_corrupt(
                b in damaged(encode(&BlockInfo { height: 3, hash: Hash32([1; 32]), timestamp_ms: 9, tx_count: 2, state_root: Hash32([2; 32]) })),
                a in damaged(encode(&want_types::Activations::default())),
            ) {
                check::<BlockInfo>(&b)?;
                check::<want_types::Activations>(&a)?;
            }
        }

        #[test]
        fn damaged_receipts_on_disk_are_reported_corrupt_naming_the_height() {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path()).unwrap();
            let g = genesis_block(1);
            store
                .init_genesis(
                    identity(&g),
                    &g,
                    &WriteSet::default(),
                    Hash32::ZERO,
                    &Activations::default(),
                )
                .unwrap();
            let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(48));
            runner
                .run(&damaged(encode(&receipts())), |bytes| {
                    store.put_raw_receipts_for_test(0, &bytes).unwrap();
                    match store.receipts(0) {
                        Ok(r) => prop_assert_eq!(encode(&r.unwrap()), bytes),
                        Err(e) => prop_assert!(
                            matches!(&e, StorageError::Corrupt { what, .. } if what == "receipts[0]"),
                            "{}", e
                        ),
                    }
                    Ok(())
                })
                .unwrap();
        }
    }
}
