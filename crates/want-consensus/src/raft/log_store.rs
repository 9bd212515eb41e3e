//! The Raft log in its own redb database (`raft-log.redb` in the node's data directory): entries
//! by index, the vote, the committed log id and the last purged log id.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    AnyError, LogId, LogState, RaftLogReader, RaftTypeConfig, StorageError, StorageIOError, Vote,
};
use redb::{Database, Durability, ReadableTable, TableDefinition, WriteTransaction};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::TypeConfig;
use crate::ConsensusError;

/// File name of the Raft log database inside the node's data directory.
pub const LOG_FILE_NAME: &str = "raft-log.redb";

/// Log entries: index → postcard-encoded `Entry<TypeConfig>`.
const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");
/// Vote, committed log id and last purged log id, postcard-encoded, under the keys below.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const KEY_VOTE: &str = "vote";
const KEY_COMMITTED: &str = "committed";
const KEY_LAST_PURGED: &str = "last_purged";

type NodeId = <TypeConfig as RaftTypeConfig>::NodeId;
type Entry = <TypeConfig as RaftTypeConfig>::Entry;
type StoreResult<T> = Result<T, StorageError<NodeId>>;

/// The Raft log store. Cloning shares the database (the clone is the log reader).
#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
    path: Arc<PathBuf>,
}

fn any(e: impl Into<redb::Error>) -> AnyError {
    AnyError::new(&e.into())
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, AnyError> {
    postcard::to_allocvec(v).map_err(|e| AnyError::new(&e))
}

/// Decodes a stored value; bytes after it mean the record is damaged.
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AnyError> {
    match postcard::take_from_bytes(bytes) {
        Ok((v, [])) => Ok(v),
        Ok((_, extra)) => Err(AnyError::error(format!(
            "{} trailing byte(s) after the stored value",
            extra.len()
        ))),
        Err(e) => Err(AnyError::new(&e)),
    }
}

impl LogStore {
    /// Opens (or creates) `raft-log.redb` in `dir`.
    pub fn open(dir: &Path) -> Result<LogStore, ConsensusError> {
        let path = dir.join(LOG_FILE_NAME);
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            ConsensusError::Storage(format!("{what} {}: {e}", path.display()))
        };
        std::fs::create_dir_all(dir).map_err(|e| fail("cannot create the directory of", &e))?;
        let db = match Database::create(&path) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(ConsensusError::Storage(format!(
                    "the Raft log {} is already open (is another node running on this data directory?)",
                    path.display()
                )))
            }
            Err(e) => return Err(fail("cannot open the Raft log", &e)),
        };
        let w = db
            .begin_write()
            .map_err(|e| fail("cannot write the Raft log", &e))?;
        w.open_table(ENTRIES)
            .map_err(|e| fail("cannot create the entries table in", &e))?;
        w.open_table(META)
            .map_err(|e| fail("cannot create the meta table in", &e))?;
        w.commit()
            .map_err(|e| fail("cannot write the Raft log", &e))?;
        Ok(LogStore {
            db: Arc::new(db),
            path: Arc::new(path),
        })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read_meta<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, AnyError> {
        let r = self.db.begin_read().map_err(any)?;
        let t = r.open_table(META).map_err(any)?;
        match t.get(key).map_err(any)? {
            Some(v) => decode(v.value()).map(Some),
            None => Ok(None),
        }
    }

    /// Runs one write transaction on a blocking thread and commits it with `durability`.
    async fn write<F>(&self, durability: Durability, f: F) -> Result<(), AnyError>
    where
        F: FnOnce(&WriteTransaction) -> Result<(), AnyError> + Send + 'static,
    {
        let db = self.db.clone();
        super::runtime::blocking(move || {
            let mut w = db.begin_write().map_err(any)?;
            w.set_durability(durability);
            f(&w)?;
            w.commit().map_err(any)
        })
        .await
        .map_err(|e| AnyError::error(format!("the Raft log writer thread failed: {e}")))?
    }

    fn last_entry_log_id(&self) -> Result<Option<LogId<NodeId>>, AnyError> {
        let r = self.db.begin_read().map_err(any)?;
        let t = r.open_table(ENTRIES).map_err(any)?;
        let last = match t.last().map_err(any)? {
            Some((_, v)) => Some(decode::<Entry>(v.value())?.log_id),
            None => None,
        };
        Ok(last)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> StoreResult<Vec<Entry>> {
        let read = || -> Result<Vec<Entry>, AnyError> {
            let r = self.db.begin_read().map_err(any)?;
            let t = r.open_table(ENTRIES).map_err(any)?;
            let start = match range.start_bound() {
                Bound::Included(i) => Bound::Included(*i),
                Bound::Excluded(i) => Bound::Excluded(*i),
                Bound::Unbounded => Bound::Unbounded,
            };
            let end = match range.end_bound() {
                Bound::Included(i) => Bound::Included(*i),
                Bound::Excluded(i) => Bound::Excluded(*i),
                Bound::Unbounded => Bound::Unbounded,
            };
            let mut out = Vec::new();
            for item in t.range::<u64>((start, end)).map_err(any)? {
                let (_, v) = item.map_err(any)?;
                out.push(decode(v.value())?);
            }
            Ok(out)
        };
        read().map_err(|e| StorageIOError::read_logs(e).into())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> StoreResult<LogState<TypeConfig>> {
        let state = || -> Result<LogState<TypeConfig>, AnyError> {
            let last_purged_log_id: Option<LogId<NodeId>> = self.read_meta(KEY_LAST_PURGED)?;
            let last_log_id = self.last_entry_log_id()?.or(last_purged_log_id);
            Ok(LogState {
                last_purged_log_id,
                last_log_id,
            })
        };
        state().map_err(|e| StorageIOError::read_logs(e).into())
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> StoreResult<()> {
        let bytes = encode(vote).map_err(StorageIOError::write_vote)?;
        self.write(Durability::Immediate, move |w| {
            w.open_table(META)
                .map_err(any)?
                .insert(KEY_VOTE, bytes.as_slice())
                .map_err(any)?;
            Ok(())
        })
        .await
        .map_err(|e| StorageIOError::write_vote(e).into())
    }

    async fn read_vote(&mut self) -> StoreResult<Option<Vote<NodeId>>> {
        self.read_meta(KEY_VOTE)
            .map_err(|e| StorageIOError::read_vote(e).into())
    }

    /// Written without waiting for the disk: a committed log id lost in a crash only means
    /// openraft re-learns it (on a single member, by committing the new leader's blank entry).
    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> StoreResult<()> {
        let bytes = encode(&committed).map_err(StorageIOError::write)?;
        self.write(Durability::None, move |w| {
            w.open_table(META)
                .map_err(any)?
                .insert(KEY_COMMITTED, bytes.as_slice())
                .map_err(any)?;
            Ok(())
        })
        .await
        .map_err(|e| StorageIOError::write(e).into())
    }

    async fn read_committed(&mut self) -> StoreResult<Option<LogId<NodeId>>> {
        self.read_meta::<Option<LogId<NodeId>>>(KEY_COMMITTED)
            .map(Option::flatten)
            .map_err(|e| StorageIOError::read(e).into())
    }

    /// Entries are durable (redb commit with immediate durability: fsync) before `callback` runs.
    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StoreResult<()>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let encoded = entries
            .into_iter()
            .map(|e| encode(&e).map(|b| (e.log_id.index, b)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(StorageIOError::write_logs)?;
        let result = self
            .write(Durability::Immediate, move |w| {
                let mut t = w.open_table(ENTRIES).map_err(any)?;
                for (index, bytes) in &encoded {
                    t.insert(*index, bytes.as_slice()).map_err(any)?;
                }
                Ok(())
            })
            .await;
        match result {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(StorageIOError::write_logs(e).into())
            }
        }
    }

    /// Deletes the entries at `log_id.index` and after (a conflicting suffix).
    async fn truncate(&mut self, log_id: LogId<NodeId>) -> StoreResult<()> {
        self.write(Durability::Immediate, move |w| {
            w.open_table(ENTRIES)
                .map_err(any)?
                .retain_in(log_id.index.., |_, _| false)
                .map_err(any)
        })
        .await
        .map_err(|e| StorageIOError::write_logs(e).into())
    }

    /// Deletes the entries up to and including `log_id.index` and records `log_id` as the last
    /// purged one, in one transaction.
    async fn purge(&mut self, log_id: LogId<NodeId>) -> StoreResult<()> {
        let bytes = encode(&log_id).map_err(StorageIOError::write_logs)?;
        self.write(Durability::Immediate, move |w| {
            w.open_table(META)
                .map_err(any)?
                .insert(KEY_LAST_PURGED, bytes.as_slice())
                .map_err(any)?;
            w.open_table(ENTRIES)
                .map_err(any)?
                .retain_in(..=log_id.index, |_, _| false)
                .map_err(any)
        })
        .await
        .map_err(|e| StorageIOError::write_logs(e).into())
    }
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, EntryPayload, Membership};
    use proptest::prelude::*;
    // The store's own `any` (redb errors) would shadow proptest's.
    use proptest::prelude::any;

    use super::*;
    use crate::fuzz_inputs::mutated_bytes;
    use crate::raft::{MemberNode, Proposal};

    fn log_id() -> impl Strategy<Value = LogId<NodeId>> {
        (any::<u64>(), any::<u64>(), any::<u64>())
            .prop_map(|(term, node, index)| LogId::new(CommittedLeaderId::new(term, node), index))
    }

    fn entry() -> impl Strategy<Value = Entry> {
        let payload = prop_oneof![
            Just(EntryPayload::Blank),
            prop::collection::vec(any::<u8>(), 0..64)
                .prop_map(|block| EntryPayload::Normal(Proposal { block })),
            prop::collection::btree_map(any::<u64>(), ".{0,20}", 1..3).prop_map(|nodes| {
                let voters = nodes.keys().copied().collect();
                let nodes: std::collections::BTreeMap<u64, MemberNode> = nodes
                    .into_iter()
                    .map(|(id, addr)| {
                        (
                            id,
                            MemberNode {
                                public_key: "ab".repeat(32),
                                addr,
                            },
                        )
                    })
                    .collect();
                EntryPayload::Membership(Membership::new(vec![voters], nodes))
            }),
        ];
        (log_id(), payload)
            .prop_map(|(log_id, payload)| openraft::Entry::<TypeConfig> { log_id, payload })
    }

    /// Decoded values encode to bytes that decode to the same value again.
    fn check<T: Serialize + DeserializeOwned + Debug>(bytes: &[u8]) -> Result<(), TestCaseError> {
        if let Ok(v) = decode::<T>(bytes) {
            let again = encode(&v).unwrap();
            prop_assert!(again.len() <= bytes.len());
            let back: T = decode(&again).unwrap();
            prop_assert_eq!(encode(&back).unwrap(), again);
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_bytes_are_a_stored_value_or_refused(
            bytes in prop::collection::vec(any::<u8>(), 0..120),
        ) {
            check::<Entry>(&bytes)?;
            check::<Vote<NodeId>>(&bytes)?;
            check::<LogId<NodeId>>(&bytes)?;
        }

        #[test]
        fn mutated_entries_decode_stably_or_are_refused(
            bytes in mutated_bytes(entry().prop_map(|e| encode(&e).unwrap())),
        ) {
            check::<Entry>(&bytes)?;
        }

        #[test]
        fn mutated_votes_and_log_ids_decode_stably_or_are_refused(
            vote in mutated_bytes((any::<u64>(), any::<u64>(), any::<bool>()).prop_map(|(t, n, c)| {
                let v = if c { Vote::new_committed(t, n) } else { Vote::new(t, n) };
                encode(&v).unwrap()
            })),
            id in mutated_bytes(log_id().prop_map(|l| encode(&l).unwrap())),
        ) {
            check::<Vote<NodeId>>(&vote)?;
            check::<LogId<NodeId>>(&id)?;
        }

        #[test]
        fn stored_values_read_back(e in entry(), l in log_id(), t in any::<u64>(), n in any::<u64>()) {
            let bytes = encode(&e).unwrap();
            let back: Entry = decode(&bytes).unwrap();
            prop_assert_eq!(encode(&back).unwrap(), bytes);
            prop_assert_eq!(back.log_id, e.log_id);
            prop_assert_eq!(decode::<LogId<NodeId>>(&encode(&l).unwrap()).unwrap(), l);
            let v = Vote::new(t, n);
            prop_assert_eq!(decode::<Vote<NodeId>>(&encode(&v).unwrap()).unwrap(), v);
        }
    }

    #[test]
    fn trailing_bytes_after_a_stored_value_are_refused() {
        let mut bytes = encode(&LogId::new(CommittedLeaderId::new(1, 2), 3)).unwrap();
        bytes.push(0);
        let e = decode::<LogId<NodeId>>(&bytes).unwrap_err();
        assert!(e.to_string().contains("1 trailing byte(s)"), "{e}");
    }
}
