//! Migrations of older data directories to [`crate::FORMAT_VERSION`].
//!
//! **3 → 4.** Receipts name the module of each event: an event is encoded as its module's wire
//! index, then the event (format 3 encoded the four token events bare). Every stored receipt is
//! decoded with the format-3 types below and written again, a batch of heights per write
//! transaction; `meta.migrate_next` records the next height to convert, so a migration cut short
//! (a crash, a full disk) resumes where it stopped. The format is bumped in the same write as
//! the last batch. Nothing else changed on disk between 3 and 4: blocks, ids, state and roots
//! are the same. The chain's activations (genesis `activations`) were not recorded in format 3;
//! the node records them on its next start (see the node's start-up).

use borsh::{BorshDeserialize, BorshSerialize};
use redb::ReadableTable;
use want_types::{Address, Amount, Event, Hash32, Receipt, TokenEvent, TxStatus};

use crate::{StorageError, Store, FORMAT_VERSION, META, META_FORMAT, RECEIPTS};

/// Heights converted per write transaction.
const MIGRATE_BATCH_HEIGHTS: u64 = 1_000;
/// Meta key: the next height whose receipts still have the format-3 encoding.
const META_MIGRATE_NEXT: &str = "migrate_next";

/// A token event as format 3 encoded it (no module index).
#[derive(BorshSerialize, BorshDeserialize)]
enum EventV3 {
    Transfer {
        from: Address,
        to: Address,
        value: Amount,
    },
    Approval {
        owner: Address,
        spender: Address,
        value: Amount,
    },
    FeePaid {
        from: Address,
        to: Address,
        value: Amount,
    },
    Burn {
        from: Address,
        value: Amount,
    },
}

#[derive(BorshSerialize, BorshDeserialize)]
struct ReceiptV3 {
    tx_id: Hash32,
    sender: Address,
    status: TxStatus,
    fee_paid: Amount,
    events: Vec<EventV3>,
}

impl From<EventV3> for Event {
    fn from(e: EventV3) -> Event {
        Event::Token(match e {
            EventV3::Transfer { from, to, value } => TokenEvent::Transfer { from, to, value },
            EventV3::Approval {
                owner,
                spender,
                value,
            } => TokenEvent::Approval {
                owner,
                spender,
                value,
            },
            EventV3::FeePaid { from, to, value } => TokenEvent::FeePaid { from, to, value },
            EventV3::Burn { from, value } => TokenEvent::Burn { from, value },
        })
    }
}

impl From<ReceiptV3> for Receipt {
    fn from(r: ReceiptV3) -> Receipt {
        Receipt {
            tx_id: r.tx_id,
            sender: r.sender,
            status: r.status,
            fee_paid: r.fee_paid,
            events: r.events.into_iter().map(Event::from).collect(),
        }
    }
}

impl Store {
    /// Brings a format-3 database to format 4 (see the module documentation).
    pub(crate) fn migrate_from_3(&self) -> Result<(), StorageError> {
        let last = {
            let r = self.db.begin_read().map_err(|e| self.err(e))?;
            let t = r.open_table(RECEIPTS).map_err(|e| self.err(e))?;
            let last = t.last().map_err(|e| self.err(e))?;
            last.map(|(k, _)| k.value())
        };
        let mut next = self.meta_u64(META_MIGRATE_NEXT)?.unwrap_or(0);
        tracing::info!(target: "storage", "migrating {} from format 3 to {FORMAT_VERSION}: re-encoding receipts from height {next}", self.path.display());
        loop {
            let end = next.saturating_add(MIGRATE_BATCH_HEIGHTS);
            let done = last.is_none_or(|l| end > l);
            let w = self.db.begin_write().map_err(|e| self.err(e))?;
            {
                let mut t = w.open_table(RECEIPTS).map_err(|e| self.err(e))?;
                let mut converted = Vec::new();
                for item in t.range(next..end).map_err(|e| self.err(e))? {
                    let (k, v) = item.map_err(|e| self.err(e))?;
                    let height = k.value();
                    let old: Vec<ReceiptV3> =
                        borsh::from_slice(v.value()).map_err(|e| StorageError::Corrupt {
                            what: format!("receipts[{height}] (format 3)"),
                            reason: e.to_string(),
                        })?;
                    let new: Vec<Receipt> = old.into_iter().map(Receipt::from).collect();
                    converted.push((height, crate::encode(&new)));
                }
                for (height, bytes) in converted {
                    t.insert(height, bytes.as_slice())
                        .map_err(|e| self.err(e))?;
                }
                let mut meta = w.open_table(META).map_err(|e| self.err(e))?;
                if done {
                    meta.insert(META_FORMAT, FORMAT_VERSION.to_be_bytes().as_slice())
                        .map_err(|e| self.err(e))?;
                    meta.remove(META_MIGRATE_NEXT).map_err(|e| self.err(e))?;
                } else {
                    meta.insert(META_MIGRATE_NEXT, end.to_be_bytes().as_slice())
                        .map_err(|e| self.err(e))?;
                }
            }
            w.commit().map_err(|e| self.err(e))?;
            if done {
                tracing::info!(target: "storage", "{} is now format {FORMAT_VERSION}", self.path.display());
                return Ok(());
            }
            next = end;
        }
    }
}
