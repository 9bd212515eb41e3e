//! Catching up by blocks: a member installing a snapshot (it was down for many blocks, restored
//! from an old backup, or is new) fetches the headers after its head from the other members,
//! checks that they link from its head to the snapshot's block hash, then fetches the blocks
//! and executes each one — so it verifies every transaction and recomputes every state root
//! itself, trusting no member's state.

use std::time::Duration;

use tracing::{info, warn};
use want_consensus::ChainPoint;
use want_types::{Block, BlockHeader, Hash32};

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
/// How long one sync request may take.
const SYNC_REQUEST_TIMEOUT_MS: u64 = 60_000;
/// Rounds over all sources before giving up (each failure moves on to the next source).
const SYNC_SOURCE_ROUNDS: usize = 5;

/// Fetches from the members' sync endpoints, moving to the next member on failure.
struct Fetcher {
    client: reqwest::blocking::Client,
    sources: Vec<String>,
    current: usize,
}

impl Fetcher {
    fn get(&mut self, path: &str) -> Result<Vec<u8>, String> {
        let mut last = String::from("no member to fetch from");
        for _ in 0..self.sources.len() * SYNC_SOURCE_ROUNDS {
            let base = self.sources[self.current % self.sources.len()].trim_end_matches('/');
            let url = format!("{base}{path}");
            match self.client.get(&url).send() {
                Ok(r) if r.status().is_success() => match r.bytes() {
                    Ok(b) => return Ok(b.to_vec()),
                    Err(e) => last = format!("{url}: {e}"),
                },
                Ok(r) => last = format!("{url}: HTTP {}", r.status()),
                Err(e) => last = format!("{url}: {e}"),
            }
            warn!(target: "sync", "fetch failed, trying the next member: {last}");
            self.current += 1;
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(last)
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
        let client = reqwest::blocking::Client::builder()
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
        };
        info!(target: "sync", "catching up from block {} to {} ({})", head.height, target.height, target.hash);

        // 1. Headers, checked to link from our head to the target.
        let mut hashes: Vec<Hash32> = Vec::with_capacity((target.height - head.height) as usize);
        let mut prev = head.hash;
        let mut next = head.height + 1;
        while next <= target.height {
            let count = (target.height - next + 1).min(SYNC_HEADERS_MAX);
            let bytes = fetch.get(&format!("/v1/sync/headers?from={next}&count={count}"))?;
            let headers: Vec<BlockHeader> = borsh::from_slice(&bytes)
                .map_err(|e| format!("headers from {next} do not decode: {e}"))?;
            if headers.is_empty() {
                return Err(format!("no member has block {next} yet"));
            }
            for h in headers {
                if h.height != next || h.prev_hash != prev {
                    return Err(format!(
                        "header {} does not link to block {} ({prev}): refusing this history",
                        h.height,
                        next - 1
                    ));
                }
                prev = h.hash();
                hashes.push(prev);
                next += 1;
                if next > target.height {
                    break;
                }
            }
        }
        if prev != target.hash {
            return Err(format!(
                "the members' block {} is {prev}, not the snapshot's {}",
                target.height, target.hash
            ));
        }

        // 2. Blocks, each matching its checked header, executed in order.
        let mut height = head.height + 1;
        while height <= target.height {
            let count = (target.height - height + 1).min(SYNC_BLOCKS_MAX);
            let bytes = fetch.get(&format!("/v1/sync/blocks?from={height}&count={count}"))?;
            let raw: Vec<Vec<u8>> = borsh::from_slice(&bytes)
                .map_err(|e| format!("blocks from {height} do not decode: {e}"))?;
            if raw.is_empty() {
                return Err(format!("no member sent block {height}"));
            }
            for b in raw {
                let block = Block::from_bytes(&b)
                    .map_err(|e| format!("block {height} does not decode: {e}"))?;
                let expected = hashes[(height - head.height - 1) as usize];
                if block.header.height != height || block.hash() != expected {
                    return Err(format!("block {height} does not match its checked header"));
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
                let meta = (height == target.height).then_some(consensus_meta);
                self.execute(&block, &proposer, meta)
                    .map_err(|e| format!("executing block {height}: {e}"))?
                    .ok_or_else(|| format!("block {height} did not extend the head"))?;
                if height % 1_000 == 0 {
                    info!(target: "sync", "caught up to block {height} of {}", target.height);
                }
                height += 1;
                if height > target.height {
                    break;
                }
            }
        }
        // 3. The members' commit votes of those blocks, so that this node serves their
        //    certificates too (each vote is checked; a missing one is backfilled later).
        let mut from = head.height + 1;
        while from <= target.height {
            let count = (target.height - from + 1).min(SYNC_HEADERS_MAX);
            match fetch
                .get(&format!("/v1/sync/votes?from={from}&count={count}"))
                .and_then(|b| {
                    borsh::from_slice::<Vec<(u64, Vec<want_types::SignedVote>)>>(&b)
                        .map_err(|e| format!("votes from {from} do not decode: {e}"))
                }) {
                Ok(heights) => {
                    let votes: Vec<want_types::SignedVote> =
                        heights.into_iter().flat_map(|(_, v)| v).collect();
                    let good: Vec<want_types::SignedVote> = votes
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
            from += count;
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
}
