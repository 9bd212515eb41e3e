//! The executor consensus drives: applying committed blocks (`execution.rs`), catching up from
//! a snapshot point (`sync.rs`), and the consensus metadata stored with the chain.

use tracing::error;
use want_consensus::{AppliedBlock, ApplyOutcome, BlockApplier, ChainPoint};
use want_types::Block;

use crate::error::codes;
use crate::kernel::node::Executor;

impl BlockApplier for Executor {
    fn check_proposal(
        &self,
        block: &Block,
        members: &[[u8; 32]],
        now_ms: Option<u64>,
    ) -> Result<(), String> {
        self.shared
            .check_proposal(block, members, now_ms)
            .map_err(|e| e.to_string())
    }

    /// Executes a committed block. A block whose content is invalid (members refuse to append
    /// such a block, so only a faulty majority or an older build could have committed it) is
    /// skipped, as every member finds the same: it never stops the chain.
    fn apply(
        &self,
        block: &Block,
        members: &[[u8; 32]],
        consensus_meta: Option<&[u8]>,
    ) -> Result<ApplyOutcome, String> {
        let head = self.shared.store.head().map_err(|e| e.to_string())?;
        let info = match self.shared.execute(block, members, consensus_meta) {
            Ok(info) => info,
            Err(e) if e.code() == codes::INVALID_BLOCK => {
                error!(target: "consensus::apply", "skipping committed block {} ({}): {e}", block.header.height, block.hash());
                return Ok(ApplyOutcome::Stale(format!("it is invalid: {e}")));
            }
            Err(e) => return Err(e.to_string()),
        };
        Ok(match info {
            Some(info) => ApplyOutcome::Applied(AppliedBlock {
                height: info.height,
                hash: info.hash,
                state_root: info.state_root,
                tx_count: info.tx_count,
            }),
            None => ApplyOutcome::Stale(format!(
                "it does not extend head {} ({})",
                head.height, head.hash
            )),
        })
    }

    fn head(&self) -> Result<ChainPoint, String> {
        let head = self.shared.store.head().map_err(|e| e.to_string())?;
        Ok(ChainPoint {
            height: head.height,
            hash: head.hash,
            state_root: head.state_root,
        })
    }

    fn hash_at(&self, height: u64) -> Result<Option<want_types::Hash32>, String> {
        self.shared
            .store
            .block_info(height)
            .map(|info| info.map(|i| i.hash))
            .map_err(|e| e.to_string())
    }

    fn catch_up(
        &self,
        target: &ChainPoint,
        sources: &[String],
        consensus_meta: &[u8],
    ) -> Result<(), String> {
        self.shared.catch_up(target, sources, consensus_meta)
    }

    fn record_consensus_meta(&self, meta: &[u8]) -> Result<(), String> {
        self.shared
            .store
            .set_consensus_meta(meta)
            .map_err(|e| e.to_string())
    }

    fn record_membership(
        &self,
        record: &want_consensus::raft::authority::MembershipRecord,
        meta: &[u8],
    ) -> Result<(), String> {
        self.record_memberships(std::slice::from_ref(record), Some(meta))
    }

    fn record_memberships(
        &self,
        records: &[want_consensus::raft::authority::MembershipRecord],
        meta: Option<&[u8]>,
    ) -> Result<(), String> {
        let encoded = records
            .iter()
            .map(|r| {
                serde_json::to_vec(r)
                    .map(|bytes| (r.log_index, r.first_height, bytes))
                    .map_err(|e| format!("the membership record does not encode: {e}"))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let rows: Vec<(u64, u64, &[u8])> = encoded
            .iter()
            .map(|(index, height, bytes)| (*index, *height, bytes.as_slice()))
            .collect();
        self.shared
            .store
            .record_memberships(&rows, meta)
            .map_err(|e| e.to_string())
    }

    fn membership_records(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<want_consensus::raft::authority::MembershipRecord>, String> {
        self.shared
            .membership_history(after, limit)
            .map_err(|e| e.to_string())
    }

    fn consensus_meta(&self) -> Result<Option<Vec<u8>>, String> {
        self.shared
            .store
            .consensus_meta()
            .map_err(|e| e.to_string())
    }
}
