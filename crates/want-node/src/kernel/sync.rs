//! Catching up by blocks: a member installing a snapshot (it was down for many blocks, restored
//! from an old backup, or is new) fetches the headers after its head from the other members,
//! checks that they link from its head to the snapshot's block hash, then fetches the blocks
//! and executes each one — so it verifies every transaction and recomputes every state root
//! itself, trusting no member's state.
//!
//! No source is trusted either: every answer is read up to a bound, and an answer that is too
//! large, does not decode, does not link, does not match its checked header or carries a
//! transaction whose signature fails is that source's fault — the range is fetched again from
//! the next member, and catch-up gives up only after every member failed
//! [`SYNC_SOURCE_ROUNDS`] times in a row. Member traffic is plain HTTP, and a block's hash
//! commits to its transactions' ids, not to their signatures: a source (or anything on the
//! path) can swap a signature, which execution refuses before it writes anything.

use std::io::Read;
use std::time::Duration;

use tracing::{info, warn};
use want_consensus::ChainPoint;
use want_types::{Block, BlockHeader, Hash32, SignedVote};

use crate::error::{codes, NodeError};
use crate::kernel::node::Shared;

/// Most headers in one `GET /v1/sync/headers`.
pub const SYNC_HEADERS_MAX: u64 = 2_000;
/// Most bytes of headers in one `GET /v1/sync/headers` (2,000 headers of 32-byte proposer keys
/// take about 320 KiB; the cap bounds an answer whatever the headers hold).
pub const SYNC_HEADERS_BYTES_MAX: usize = 1024 * 1024;
/// Most blocks in one `GET /v1/sync/blocks`.
pub const SYNC_BLOCKS_MAX: u64 = 256;
/// Most bytes of blocks in one `GET /v1/sync/blocks` (at least one block is always sent).
pub const SYNC_BYTES_MAX: usize = 32 * 1024 * 1024;
/// Most bytes one block takes: every committed block crossed the members' network inside one
/// Raft envelope.
pub const BLOCK_BYTES_MAX: usize = want_consensus::net::ENVELOPE_BYTES_MAX;
/// Bytes a sync answer may carry beyond its payload cap: borsh length prefixes (4 bytes per
/// item), and the one header a member sends even when it alone passes the cap (a header is a
/// few fixed fields and a 32-byte proposer key).
pub const SYNC_FRAMING_BYTES: usize = 64 * 1024;
/// Most bytes read of one `GET /v1/sync/headers` answer.
pub const SYNC_HEADERS_BODY_BYTES_MAX: usize = SYNC_HEADERS_BYTES_MAX + SYNC_FRAMING_BYTES;
/// Most bytes read of one `GET /v1/sync/blocks` answer: the cap, plus the block that passes it
/// (a member always sends the first block, however large), plus framing.
pub const SYNC_BLOCKS_BODY_BYTES_MAX: usize = SYNC_BYTES_MAX + BLOCK_BYTES_MAX + SYNC_FRAMING_BYTES;
/// Bytes of one borsh `SignedVote`: chain id, height, block hash, state root, public key and
/// signature.
const SIGNED_VOTE_BYTES: usize = 8 + 8 + 32 + 32 + 32 + 64;
/// Most bytes read of one `GET /v1/sync/votes` answer: [`SYNC_HEADERS_MAX`] heights, each with
/// its height, a length prefix and at most one vote per member plus the answering node's own.
pub const SYNC_VOTES_BODY_BYTES_MAX: usize = 4 + SYNC_HEADERS_MAX as usize
    * (8 + 4 + (want_storage::VOTES_PER_HEIGHT_MAX + 1) * SIGNED_VOTE_BYTES);
/// Most header hashes reserved up front: the number of blocks to fetch comes from the network
/// (a snapshot's target), so larger ranges grow as headers actually arrive.
const SYNC_HASHES_PREALLOC_MAX: usize = 4_096;
const _: () = assert!(SYNC_HEADERS_BODY_BYTES_MAX > SYNC_HEADERS_BYTES_MAX);
const _: () = assert!(SYNC_BLOCKS_BODY_BYTES_MAX > SYNC_BYTES_MAX + BLOCK_BYTES_MAX);
/// How long one sync request may take.
const SYNC_REQUEST_TIMEOUT_MS: u64 = 60_000;
/// Rounds over all sources before giving up: catch-up fails once every source failed this many
/// times in a row (an answer that passes its checks starts the count again).
pub const SYNC_SOURCE_ROUNDS: usize = 5;
/// Pause before asking the next source after a failure, in milliseconds.
const SYNC_RETRY_PAUSE_MS: u64 = 200;

/// Fetches from the members' sync endpoints, moving to the next member on failure.
struct Fetcher {
    client: reqwest::blocking::Client,
    sources: Vec<String>,
    current: usize,
    /// Failures since the last answer that passed its checks.
    failures: usize,
}

impl Fetcher {
    /// The source asked now.
    fn source(&self) -> &str {
        self.sources[self.current % self.sources.len()].trim_end_matches('/')
    }

    /// The body of `GET {source}{path}`, at most `limit` bytes, from the current source; moves
    /// on to the next source (counting a failure) while a request fails.
    fn get(&mut self, path: &str, limit: usize) -> Result<Vec<u8>, String> {
        loop {
            let url = format!("{}{path}", self.source());
            match self.try_get(&url, limit) {
                Ok(body) => return Ok(body),
                Err(e) => self.failed(&e)?,
            }
        }
    }

    fn try_get(&self, url: &str, limit: usize) -> Result<Vec<u8>, String> {
        let r = self
            .client
            .get(url)
            .send()
            .map_err(|e| format!("{url}: {e}"))?;
        if !r.status().is_success() {
            return Err(format!("{url}: HTTP {}", r.status()));
        }
        if r.content_length().is_some_and(|n| n > limit as u64) {
            return Err(format!(
                "{url}: announced {} bytes, more than the {limit} a sync answer may take",
                r.content_length().unwrap_or_default()
            ));
        }
        let mut body = Vec::new();
        r.take(limit as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|e| format!("{url}: reading the answer: {e}"))?;
        if body.len() > limit {
            return Err(format!(
                "{url}: answered more than the {limit} bytes a sync answer may take"
            ));
        }
        Ok(body)
    }

    /// Counts a failure of the current source and moves on to the next one; an error once
    /// every source failed [`SYNC_SOURCE_ROUNDS`] times in a row.
    fn failed(&mut self, why: &str) -> Result<(), String> {
        self.failures += 1;
        if self.failures >= self.sources.len() * SYNC_SOURCE_ROUNDS {
            return Err(format!(
                "every member failed {SYNC_SOURCE_ROUNDS} times in a row; the last: {why}"
            ));
        }
        warn!(target: "sync", "{why}; trying the next member");
        self.current += 1;
        std::thread::sleep(Duration::from_millis(SYNC_RETRY_PAUSE_MS));
        Ok(())
    }

    /// An answer passed its checks: the failure count starts again.
    fn succeeded(&mut self) {
        self.failures = 0;
    }
}

/// Why a step of catch-up failed: the source's answer, or this node.
enum Fault {
    /// The source answered something wrong: ask the next one.
    Source(String),
    /// This node cannot go on (storage, divergence): stop.
    Local(String),
}

/// Whether executing a block that matched its checked header failed because of what the
/// source sent (a transaction's signature, which the header does not commit to, or content
/// execution refuses) rather than this node: then nothing was written, and another source's
/// copy may execute.
fn source_at_fault(e: &NodeError) -> bool {
    match e {
        NodeError::Rejected { code, .. } => {
            *code == codes::INVALID_BLOCK || *code == codes::INVALID_TRANSACTION
        }
        NodeError::State(want_state::StateError::BlockOverweight { .. }) => true,
        _ => false,
    }
}

impl Shared {
    /// See [`want_consensus::BlockApplier::catch_up`].
    pub fn catch_up(
        &self,
        target: &ChainPoint,
        sources: &[String],
        consensus_meta: &[u8],
    ) -> Result<(), String> {
        let head = self.store.head().map_err(|e| e.to_string())?;
        if head.height >= target.height {
            let ours = self
                .store
                .block_info(target.height)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("block {} is missing locally", target.height))?;
            if ours.hash != target.hash {
                return Err(format!(
                    "DIVERGED: this node's block {} is {}, the cluster's is {}; this data directory holds another history: restore it from a member's backup or start it empty",
                    target.height, ours.hash, target.hash
                ));
            }
            return self
                .store
                .set_consensus_meta(consensus_meta)
                .map_err(|e| e.to_string());
        }
        let own = self.cfg.cluster.as_ref().map(|c| c.advertise_url.clone());
        let sources: Vec<String> = sources
            .iter()
            .filter(|s| Some(*s) != own.as_ref())
            .cloned()
            .collect();
        if sources.is_empty() {
            return Err("no other member to fetch blocks from".into());
        }
        let client = self
            .member_client_blocking()
            .pool_idle_timeout(Duration::from_millis(
                want_consensus::net::transport::POOL_IDLE_TIMEOUT_MS,
            ))
            .timeout(Duration::from_millis(SYNC_REQUEST_TIMEOUT_MS))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let mut fetch = Fetcher {
            client,
            sources,
            current: 0,
            failures: 0,
        };
        info!(target: "sync", "catching up from block {} to {} ({})", head.height, target.height, target.hash);

        // 1. Headers, checked to link from our head to the target (whose hash the leader
        //    signed). A chain that links but ends elsewhere is fetched again from the start.
        let hashes = loop {
            let hashes = self.fetch_headers(&mut fetch, head.height, head.hash, target)?;
            match hashes.last() {
                Some(last) if *last == target.hash => break hashes,
                last => fetch.failed(&format!(
                    "the members' block {} is {}, not the snapshot's {}: refusing this history",
                    target.height,
                    last.map(|h| h.to_string()).unwrap_or_default(),
                    target.hash
                ))?,
            }
        };

        // 2. Blocks, each matching its checked header, executed in order.
        let mut height = head.height + 1;
        loop {
            let count = (target.height - height)
                .saturating_add(1)
                .min(SYNC_BLOCKS_MAX);
            let path = format!("/v1/sync/blocks?from={height}&count={count}");
            let bytes = fetch.get(&path, SYNC_BLOCKS_BODY_BYTES_MAX)?;
            let source = fetch.source().to_string();
            match self.execute_blocks(
                &bytes,
                &mut height,
                head.height,
                &hashes,
                target,
                consensus_meta,
            ) {
                Ok(reached) => {
                    fetch.succeeded();
                    if reached {
                        break;
                    }
                }
                Err(Fault::Source(why)) => fetch.failed(&format!("{source}: {why}"))?,
                Err(Fault::Local(why)) => return Err(why),
            }
        }

        // 3. The members' commit votes of those blocks, so that this node serves their
        //    certificates too (each vote is checked; a missing one is backfilled later).
        let mut from = head.height + 1;
        while from <= target.height {
            let count = (target.height - from)
                .saturating_add(1)
                .min(SYNC_HEADERS_MAX);
            match fetch
                .get(
                    &format!("/v1/sync/votes?from={from}&count={count}"),
                    SYNC_VOTES_BODY_BYTES_MAX,
                )
                .and_then(|b| {
                    borsh::from_slice::<Vec<(u64, Vec<SignedVote>)>>(&b)
                        .map_err(|e| format!("votes from {from} do not decode: {e}"))
                }) {
                Ok(heights) => {
                    let votes: Vec<SignedVote> = heights.into_iter().flat_map(|(_, v)| v).collect();
                    let good: Vec<SignedVote> = votes
                        .iter()
                        .zip(self.check_votes(&votes))
                        .filter(|(_, r)| r.is_ok())
                        .map(|(v, _)| *v)
                        .collect();
                    if let Err(e) = self.store_votes(&good) {
                        warn!(target: "sync", "could not store commit votes from {from}: {e}");
                    }
                }
                Err(e) => {
                    warn!(target: "sync", "could not fetch commit votes from {from} (backfill will retry): {e}");
                    break;
                }
            }
            from = from.saturating_add(count);
        }
        let now = self.store.head().map_err(|e| e.to_string())?;
        if now.state_root != target.state_root {
            return Err(format!(
                "DIVERGED: after block {} this node's state root is {}, the snapshot's is {}",
                target.height, now.state_root, target.state_root
            ));
        }
        info!(target: "sync", "caught up to block {} ({})", target.height, target.hash);
        Ok(())
    }

    /// The hashes of the headers after `(head_height, head_hash)` up to the target's height,
    /// each checked to link to the one before; a source whose answer does not decode, is empty
    /// or does not link is passed over and its range asked of the next.
    fn fetch_headers(
        &self,
        fetch: &mut Fetcher,
        head_height: u64,
        head_hash: Hash32,
        target: &ChainPoint,
    ) -> Result<Vec<Hash32>, String> {
        let wanted = target.height - head_height;
        let mut hashes: Vec<Hash32> = Vec::with_capacity(
            usize::try_from(wanted)
                .unwrap_or(usize::MAX)
                .min(SYNC_HASHES_PREALLOC_MAX),
        );
        let mut prev = head_hash;
        let mut next = head_height + 1;
        while next <= target.height {
            let count = (target.height - next)
                .saturating_add(1)
                .min(SYNC_HEADERS_MAX);
            let path = format!("/v1/sync/headers?from={next}&count={count}");
            let bytes = fetch.get(&path, SYNC_HEADERS_BODY_BYTES_MAX)?;
            let source = fetch.source().to_string();
            let headers: Vec<BlockHeader> = match borsh::from_slice(&bytes) {
                Ok(h) => h,
                Err(e) => {
                    fetch.failed(&format!("{source}: headers from {next} do not decode: {e}"))?;
                    continue;
                }
            };
            if headers.is_empty() {
                fetch.failed(&format!("{source}: has no block {next} yet"))?;
                continue;
            }
            let mut linked = true;
            for h in headers.into_iter().take(count as usize) {
                if h.height != next || h.prev_hash != prev {
                    fetch.failed(&format!(
                        "{source}: header {} does not link to block {} ({prev})",
                        h.height,
                        next - 1
                    ))?;
                    linked = false;
                    break;
                }
                prev = h.hash();
                hashes.push(prev);
                if next == target.height {
                    return Ok(hashes);
                }
                next += 1;
            }
            if linked {
                fetch.succeeded();
            }
        }
        Ok(hashes)
    }

    /// Decodes a `GET /v1/sync/blocks` answer and executes its blocks from `*height` on, each
    /// checked against its header hash; `*height` moves past every block executed, so a
    /// failure part way keeps the blocks before it. True once the target's block is executed.
    fn execute_blocks(
        &self,
        bytes: &[u8],
        height: &mut u64,
        head_height: u64,
        hashes: &[Hash32],
        target: &ChainPoint,
        consensus_meta: &[u8],
    ) -> Result<bool, Fault> {
        let raw: Vec<Vec<u8>> = borsh::from_slice(bytes)
            .map_err(|e| Fault::Source(format!("blocks from {height} do not decode: {e}")))?;
        if raw.is_empty() {
            return Err(Fault::Source(format!("sent no block {height}")));
        }
        for b in raw {
            let at = *height;
            let block = Block::from_bytes(&b)
                .map_err(|e| Fault::Source(format!("block {at} does not decode: {e}")))?;
            let expected = usize::try_from(at - head_height - 1)
                .ok()
                .and_then(|i| hashes.get(i))
                .ok_or_else(|| Fault::Local(format!("block {at} has no checked header")))?;
            if block.header.height != at || block.hash() != *expected {
                return Err(Fault::Source(format!(
                    "block {at} does not match its checked header"
                )));
            }
            // The header chain is checked up to the snapshot, which the leader signed:
            // the proposer needs no membership check of its own here.
            let proposer: Vec<[u8; 32]> = block
                .header
                .proposer
                .as_slice()
                .try_into()
                .ok()
                .into_iter()
                .collect();
            let meta = (at == target.height).then_some(consensus_meta);
            match self.execute(&block, &proposer, meta) {
                Ok(Some(_)) => {}
                Ok(None) => {
                    return Err(Fault::Local(format!("block {at} did not extend the head")))
                }
                Err(e) if source_at_fault(&e) => {
                    return Err(Fault::Source(format!("block {at} does not execute: {e}")))
                }
                Err(e) => return Err(Fault::Local(format!("executing block {at}: {e}"))),
            }
            if at % 1_000 == 0 {
                info!(target: "sync", "caught up to block {at} of {}", target.height);
            }
            if at == target.height {
                return Ok(true);
            }
            *height = at + 1;
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_block_content_is_the_sources_fault_and_local_trouble_is_not() {
        let refused = NodeError::rejected(codes::INVALID_BLOCK, "bad signature");
        assert!(source_at_fault(&refused));
        let heavy = NodeError::State(want_state::StateError::BlockOverweight {
            height: 1,
            weight: 2,
            max: 1,
        });
        assert!(source_at_fault(&heavy));
        let diverged = NodeError::rejected(codes::STATE_DIVERGED, "diverged");
        assert!(!source_at_fault(&diverged));
        assert!(!source_at_fault(&NodeError::Io("disk full".into())));
        let unreadable = NodeError::State(want_state::StateError::Storage {
            reason: "read failed".into(),
        });
        assert!(!source_at_fault(&unreadable));
    }

    #[test]
    fn the_votes_bound_counts_a_vote_at_its_encoded_size() {
        let vote = borsh::object_length(&SignedVote {
            vote: want_types::CommitVote {
                chain_id: 1,
                height: 1,
                block_hash: Hash32([0; 32]),
                state_root: Hash32([0; 32]),
            },
            node_public_key: [0; 32],
            signature: [0; 64],
        })
        .expect("a vote has a length");
        assert_eq!(vote, SIGNED_VOTE_BYTES);
    }
}
