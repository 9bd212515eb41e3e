//! The node's commit votes (see `certs.rs` for what they certify): its own vote signed after
//! each block, the members' votes checked and stored, the divergence recorded, and the gossip
//! that sends own votes to the other members and backfills missing ones.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, warn};
use want_crypto::majority_of;
use want_storage::BlockInfo;
use want_types::{Certificate, CommitVote, NodePublicKey, SignedVote};

use want_consensus::raft::authority::MembershipRecord;

use crate::error::{codes, NodeError};
use crate::kernel::certs::*;
use crate::kernel::node::Shared;

/// A stored membership record (JSON, written by the applier).
fn decode_record(index: u64, bytes: &[u8]) -> Result<MembershipRecord, NodeError> {
    serde_json::from_slice(bytes).map_err(|e| {
        NodeError::Io(format!(
            "the membership record of log index {index} does not decode ({e}): the database is damaged or of another build"
        ))
    })
}

impl Shared {
    /// The members whose votes count: the genesis members plus the configured cluster peers; a
    /// chain without any (a single-member chain) has this node as its only member.
    ///
    /// The one place membership is decided for votes; it will follow the live Raft membership.
    pub fn member_keys(&self) -> Vec<NodePublicKey> {
        let live = self.voters.read();
        if !live.is_empty() {
            return parse_keys(live.iter().map(|m| m.public_key.as_str()));
        }
        let peers = self.cfg.cluster.iter().flat_map(|c| c.peers.iter());
        let keys = parse_keys(
            self.genesis
                .members
                .iter()
                .chain(peers)
                .map(|m| m.public_key.as_str()),
        );
        if keys.is_empty() {
            vec![self.node_key.public_key()]
        } else {
            keys
        }
    }

    /// The voters whose votes count for block `height`: those of the membership change that
    /// governs it in this node's membership history (see `want_consensus::raft::authority`);
    /// without one (a single-member chain, heights before the first recorded change, or a
    /// history that does not decode) the members of [`Shared::member_keys`].
    pub fn member_keys_at(&self, height: u64) -> Vec<NodePublicKey> {
        match self.membership_record_at(height) {
            Ok(Some(record)) => {
                let keys = parse_keys(
                    record
                        .members
                        .iter()
                        .filter(|m| m.voter)
                        .map(|m| m.public_key.as_str()),
                );
                if !keys.is_empty() {
                    return keys;
                }
                self.member_keys()
            }
            Ok(None) => self.member_keys(),
            Err(e) => {
                warn!(target: "consensus::vote", "membership history at height {height}: {e}; counting the current members");
                self.member_keys()
            }
        }
    }

    /// The membership change that governs block `height` (None before the first recorded).
    pub fn membership_record_at(&self, height: u64) -> Result<Option<MembershipRecord>, NodeError> {
        let Some((index, bytes)) = self.store.membership_at_height(height)? else {
            return Ok(None);
        };
        decode_record(index, &bytes).map(Some)
    }

    /// The membership history after log index `after`, at most `limit` records, in log order.
    pub fn membership_history(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<MembershipRecord>, NodeError> {
        self.store
            .membership_history(after, limit)?
            .into_iter()
            .map(|(index, _, bytes)| decode_record(index, &bytes))
            .collect()
    }

    /// The other members' API URLs, where this node's votes go.
    pub fn vote_peers(&self) -> Vec<String> {
        self.vote_peer_members()
            .into_iter()
            .map(|(url, _)| url)
            .collect()
    }

    /// The other members' API URLs with their node keys (`None`: a member whose configured
    /// key is not 64 hex digits), in the order of [`Shared::vote_peers`].
    pub fn vote_peer_members(&self) -> Vec<(String, Option<NodePublicKey>)> {
        let own = self.node_key.public_key();
        let live = self.voters.read().clone();
        let peers = self.cfg.cluster.iter().flat_map(|c| c.peers.iter());
        let members: Vec<crate::config::GenesisMember> = if live.is_empty() {
            self.genesis.members.iter().chain(peers).cloned().collect()
        } else {
            live
        };
        let mut seen = BTreeSet::new();
        members
            .iter()
            .filter(|m| parse_keys(std::iter::once(m.public_key.as_str())) != vec![own])
            .filter(|m| !m.url.is_empty())
            .filter(|m| seen.insert(m.url.trim_end_matches('/').to_string()))
            .map(|m| {
                let key = parse_keys(std::iter::once(m.public_key.as_str()))
                    .into_iter()
                    .next();
                (m.url.trim_end_matches('/').to_string(), key)
            })
            .collect()
    }

    /// The divergence this node found, if any.
    pub fn divergence(&self) -> Option<Divergence> {
        self.certs.diverged.lock().clone()
    }

    /// Refuses to go on when this node's state diverged from the majority's (`Shared::execute`
    /// calls it before applying a block).
    pub fn refuse_if_diverged(&self) -> Result<(), NodeError> {
        match &*self.certs.diverged.lock() {
            None => Ok(()),
            Some(d) => Err(NodeError::rejected(
                codes::STATE_DIVERGED,
                format!(
                    "this node's state diverged from the cluster majority at height {} (ours: block {} state root {}; majority: block {} state root {}); it applies no more blocks. Rebuild its data directory from a healthy member",
                    d.height, d.ours.block_hash, d.ours.state_root, d.majority.block_hash, d.majority.state_root
                ),
            )),
        }
    }

    /// This node's vote for an applied height, signed now (Ed25519 is deterministic: the same
    /// bytes as the vote it stored when it applied the block).
    pub fn own_vote(&self, height: u64) -> Result<Option<SignedVote>, NodeError> {
        if height == 0 {
            return Ok(None);
        }
        Ok(self
            .store
            .block_info(height)?
            .map(|info| self.sign_own(&info)))
    }

    fn sign_own(&self, info: &BlockInfo) -> SignedVote {
        want_crypto::sign_vote(
            &self.node_key,
            CommitVote {
                chain_id: self.params.chain_id,
                height: info.height,
                block_hash: info.hash,
                state_root: info.state_root,
            },
        )
    }

    /// Hook called by `Shared::execute` right after a block's durable commit: signs and stores
    /// this node's vote (a separate, non-durable write — see `Store::add_votes`; a lost own vote
    /// is re-signed on demand), queues it for the other members and checks the votes already
    /// received for this height. Never fails the block: problems are logged.
    pub fn on_block_applied(&self, info: &BlockInfo) {
        let vote = self.sign_own(info);
        if let Err(e) = self.store.add_votes(info.height, &[vote]) {
            warn!(target: "consensus::vote", "could not store this node's vote for block {}: {e}", info.height);
        }
        if !self.vote_peers().is_empty() && self.certs.outbox.try_send(vote).is_err() {
            debug!(target: "consensus::vote", "vote queue full; peers will backfill block {}", info.height);
        }
        if let Err(e) = self.check_height(info.height) {
            warn!(target: "consensus::vote", "could not check the votes for block {}: {e}", info.height);
        }
    }

    /// Checks one received vote (chain, height window, membership, signature).
    pub fn check_vote(&self, vote: &SignedVote) -> Result<(), NodeError> {
        self.check_votes(std::slice::from_ref(vote))
            .pop()
            .unwrap_or(Ok(()))
    }

    /// Checks received votes one by one against the same head and membership.
    pub fn check_votes(&self, votes: &[SignedVote]) -> Vec<Result<(), NodeError>> {
        let head = match self.store.head() {
            Ok(h) => h.height,
            Err(e) => {
                let e = NodeError::from(e).to_string();
                return votes
                    .iter()
                    .map(|_| Err(NodeError::Io(e.clone())))
                    .collect();
            }
        };
        let mut members: HashMap<u64, Vec<NodePublicKey>> = HashMap::new();
        votes
            .iter()
            .map(|v| {
                let h = v.vote.height;
                let members = members.entry(h).or_insert_with(|| self.member_keys_at(h));
                validate_vote(v, self.params.chain_id, head, members)
            })
            .collect()
    }

    /// Stores votes that passed [`Shared::check_vote`] and checks every height they touch for a
    /// certificate or a divergence.
    pub fn store_votes(&self, votes: &[SignedVote]) -> Result<VotesStored, NodeError> {
        let mut heights: Vec<u64> = votes.iter().map(|v| v.vote.height).collect();
        heights.sort_unstable();
        heights.dedup();
        let mut stored = VotesStored::default();
        for h in heights {
            let at: Vec<SignedVote> = votes
                .iter()
                .filter(|v| v.vote.height == h)
                .copied()
                .collect();
            let stored_before = self.store.votes(h)?;
            for (member, earlier, theirs) in find_equivocations(&stored_before, &at) {
                self.record_conflict(VoteConflict {
                    height: h,
                    kind: ConflictKind::Equivocates,
                    member: hex::encode(member),
                    theirs,
                    other: earlier,
                });
            }
            let added = self.store.add_votes(h, &at)?;
            stored.accepted += added;
            stored.already_known += at.len() - added;
            if added > 0 {
                self.check_height(h)?;
            }
        }
        self.metrics
            .commit_votes_accepted
            .inc_by(stored.accepted as u64);
        Ok(stored)
    }

    /// Every vote this node holds for a height, its own included.
    pub fn votes_for(&self, height: u64) -> Result<Vec<SignedVote>, NodeError> {
        let mut votes = self.store.votes(height)?;
        let own = self.node_key.public_key();
        if !votes.iter().any(|v| v.node_public_key == own) {
            if let Some(v) = self.own_vote(height)? {
                votes.push(v);
            }
        }
        Ok(votes)
    }

    /// The certificate of a height: the vote a strict majority of the members signed, with
    /// their signatures; None while there is no majority.
    pub fn certificate(&self, height: u64) -> Result<Option<CertificateView>, NodeError> {
        let members = self.member_keys_at(height);
        let votes = self.votes_for(height)?;
        Ok(
            majority_vote(&votes, &members).map(|(vote, signatures)| CertificateView {
                complete: signatures.len() == members.len(),
                members: members.len(),
                required: majority_of(members.len()),
                certificate: Certificate { vote, signatures },
            }),
        )
    }

    /// After new votes for an applied height: records a certificate's height, or a divergence.
    fn check_height(&self, height: u64) -> Result<(), NodeError> {
        let Some(info) = self.store.block_info(height)? else {
            return Ok(()); // not applied yet: the votes wait
        };
        let ours = VotedState {
            block_hash: info.hash,
            state_root: info.state_root,
        };
        let members = self.member_keys_at(height);
        let votes = self.votes_for(height)?;
        match find_divergence(height, ours, &votes, &members) {
            Some(d) => self.record_divergence(d),
            None => {
                for (member, theirs) in find_disagreements(ours, &votes, &members) {
                    self.record_conflict(VoteConflict {
                        height,
                        kind: ConflictKind::Disagrees,
                        member: hex::encode(member),
                        theirs,
                        other: ours,
                    });
                }
                if majority_vote(&votes, &members).is_some() {
                    let h = i64::try_from(height).unwrap_or(i64::MAX);
                    if self.metrics.certified_height.get() < h {
                        self.metrics.certified_height.set(h);
                    }
                }
            }
        }
        Ok(())
    }

    /// The latest vote conflicts, oldest first (see [`VoteConflict`]).
    pub fn vote_conflicts(&self) -> Vec<VoteConflict> {
        self.certs.conflicts.lock().iter().cloned().collect()
    }

    /// Logs, counts and keeps a conflict once: a disagreement once per (height, member) (a
    /// height is checked again whenever new votes for it arrive); an equivocation once per
    /// member — one signed proof is enough, and a member sending many cannot flood the log or
    /// push the others' conflicts out of the list.
    fn record_conflict(&self, c: VoteConflict) {
        let mut kept = self.certs.conflicts.lock();
        if kept.iter().any(|k| {
            k.member == c.member
                && k.kind == c.kind
                && (k.height == c.height || c.kind == ConflictKind::Equivocates)
        }) {
            return;
        }
        match c.kind {
            ConflictKind::Disagrees => {
                error!(target: "consensus::vote", "VOTE CONFLICT at height {}: member {} signed block {} with state root {}, but this node applied block {} with state root {} (no majority signed theirs). Either that member diverged or a leader told the two of you different blocks; compare the members' blocks at this height", c.height, c.member, c.theirs.block_hash, c.theirs.state_root, c.other.block_hash, c.other.state_root)
            }
            ConflictKind::Equivocates => {
                error!(target: "consensus::vote", "EQUIVOCATION at height {}: member {} signed two different votes (block {} state {}, and block {} state {}); an honest member never does — treat its key as compromised", c.height, c.member, c.other.block_hash, c.other.state_root, c.theirs.block_hash, c.theirs.state_root)
            }
        }
        self.metrics.vote_conflicts.inc();
        if kept.len() >= VOTE_CONFLICTS_KEPT {
            kept.pop_front();
        }
        kept.push_back(c);
    }

    fn record_divergence(&self, d: Divergence) {
        let mut flag = self.certs.diverged.lock();
        if flag.is_some() {
            return; // the first divergence is the one that matters
        }
        error!(target: "consensus::vote", "STATE DIVERGED at height {}: this node applied block {} with state root {}, but a majority of the members ({}) signed block {} with state root {}; this node stops applying blocks", d.height, d.ours.block_hash, d.ours.state_root, d.majority_signers.join(", "), d.majority.block_hash, d.majority.state_root);
        let record = borsh::to_vec(&d).expect("invariant: borsh encoding into a Vec cannot fail");
        if let Err(e) = self.store.record_divergence(&record) {
            error!(target: "consensus::vote", "could not record the divergence durably: {e}");
        }
        self.metrics.state_diverged.set(1);
        self.metrics
            .diverged_height
            .set(i64::try_from(d.height).unwrap_or(i64::MAX));
        *flag = Some(d);
    }
}

/// Starts the tasks that send this node's votes to the other members (one sender per peer)
/// and backfill missing votes from them. They hold the node only weakly and end at shutdown.
pub fn spawn_vote_gossip(shared: &Arc<Shared>, shutdown: watch::Receiver<bool>) {
    let Some(rx) = shared.certs.outbox_rx.lock().take() else {
        return; // already running
    };
    if let Some(d) = shared.divergence() {
        shared.metrics.state_diverged.set(1);
        shared
            .metrics
            .diverged_height
            .set(i64::try_from(d.height).unwrap_or(i64::MAX));
    }
    let http = match shared
        .member_client()
        .pool_idle_timeout(Duration::from_millis(
            want_consensus::net::transport::POOL_IDLE_TIMEOUT_MS,
        ))
        .timeout(Duration::from_millis(VOTE_HTTP_TIMEOUT_MS))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            error!(target: "consensus::vote", "cannot build the HTTP client for votes: {e}; votes are not gossiped");
            return;
        }
    };
    tokio::spawn(backfill_loop(
        Arc::downgrade(shared),
        shutdown.clone(),
        http.clone(),
    ));
    tokio::spawn(gossip_loop(Arc::downgrade(shared), rx, shutdown, http));
}

/// Hands each batch of own votes to the peers' senders as it comes.
async fn gossip_loop(
    node: Weak<Shared>,
    mut rx: mpsc::Receiver<SignedVote>,
    mut shutdown: watch::Receiver<bool>,
    http: reqwest::Client,
) {
    let mut senders = PeerSenders::new(http);
    loop {
        let batch = tokio::select! {
            _ = shutdown.changed() => break,
            v = rx.recv() => match v {
                None => break,
                Some(first) => {
                    let mut batch = vec![first];
                    while batch.len() < VOTES_POST_MAX {
                        match rx.try_recv() {
                            Ok(v) => batch.push(v),
                            Err(_) => break,
                        }
                    }
                    batch
                }
            },
        };
        let Some(peers) = node.upgrade().map(|s| s.vote_peers()) else {
            break;
        };
        senders.dispatch(&peers, batch);
        if *shutdown.borrow() {
            break;
        }
    }
    debug!(target: "consensus::vote", "vote gossip stopped");
}

/// Looks for heights that lack a certificate every [`BACKFILL_INTERVAL_MS`] and fetches their
/// votes from the peers (its own task: a slow peer here never holds up sending).
async fn backfill_loop(
    node: Weak<Shared>,
    mut shutdown: watch::Receiver<bool>,
    http: reqwest::Client,
) {
    let mut backfill = Backfill::default();
    let mut ticker = tokio::time::interval(Duration::from_millis(BACKFILL_INTERVAL_MS));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = ticker.tick() => {}
        }
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = backfill.round(&node, &http) => {}
        }
        if *shutdown.borrow() || node.strong_count() == 0 {
            break;
        }
    }
    debug!(target: "consensus::vote", "vote backfill stopped");
}

/// One sending task per peer, each with its own bounded queue of batches: a peer that is down
/// retries and backs off on its own while the others get their votes at once.
struct PeerSenders {
    http: reqwest::Client,
    queues: HashMap<String, mpsc::Sender<Arc<Vec<SignedVote>>>>,
}

impl PeerSenders {
    fn new(http: reqwest::Client) -> PeerSenders {
        PeerSenders {
            http,
            queues: HashMap::new(),
        }
    }

    /// Queues `batch` for every peer in `peers` without waiting for any of them. A peer no
    /// longer listed has its queue dropped (its sender ends once it finished the batch in hand);
    /// a peer whose queue is full does not get this batch (it backfills it).
    fn dispatch(&mut self, peers: &[String], batch: Vec<SignedVote>) {
        self.queues.retain(|url, _| peers.contains(url));
        let batch = Arc::new(batch);
        for url in peers {
            let queue = self.queues.entry(url.clone()).or_insert_with(|| {
                let (tx, rx) = mpsc::channel(VOTE_PEER_QUEUE_MAX);
                tokio::spawn(peer_sender(self.http.clone(), url.clone(), rx));
                tx
            });
            if queue.try_send(batch.clone()).is_err() {
                debug!(target: "consensus::vote", "{url}: its vote queue is full; it will backfill {} vote(s)", batch.len());
            }
        }
    }
}

/// Sends the batches queued for one peer in order, joining those that wait into posts of at
/// most [`VOTES_POST_MAX`] votes; ends when its queue is dropped.
async fn peer_sender(
    http: reqwest::Client,
    url: String,
    mut rx: mpsc::Receiver<Arc<Vec<SignedVote>>>,
) {
    let mut held: Option<Arc<Vec<SignedVote>>> = None;
    loop {
        let first = match held.take() {
            Some(b) => b,
            None => match rx.recv().await {
                Some(b) => b,
                None => break,
            },
        };
        let mut votes: Vec<SignedVote> = first.to_vec();
        while let Ok(next) = rx.try_recv() {
            if votes.len() + next.len() > VOTES_POST_MAX {
                held = Some(next);
                break;
            }
            votes.extend(next.iter().copied());
        }
        send_to_peer(&http, &url, &votes).await;
    }
}

async fn send_to_peer(http: &reqwest::Client, url: &str, batch: &[SignedVote]) {
    let target = format!("{url}/v1/cluster/votes");
    let mut backoff = Duration::from_millis(VOTE_RETRY_BASE_MS);
    for attempt in 1..=VOTE_SEND_ATTEMPTS {
        let outcome = http.post(&target).json(batch).send().await;
        let retry = match outcome {
            Ok(r) if r.status().is_success() => return,
            Ok(r) if r.status().is_client_error() && r.status().as_u16() != 429 => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                warn!(target: "consensus::vote", "{target} refused {} vote(s): {status} {}", batch.len(), body.chars().take(300).collect::<String>());
                return;
            }
            Ok(r) => format!("answered {}", r.status()),
            Err(e) => e.to_string(),
        };
        if attempt == VOTE_SEND_ATTEMPTS {
            debug!(target: "consensus::vote", "giving up sending {} vote(s) to {target} after {attempt} attempts ({retry}); it will backfill them", batch.len());
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff *= 2;
    }
}

/// Which heights still lack a certificate, remembered between backfill rounds.
#[derive(Default)]
struct Backfill {
    /// Every height up to this one has a certificate (or was given up on at start).
    certified_upto: Option<u64>,
    /// The head at the previous round: only heights applied at least one round ago are fetched.
    previous_head: Option<u64>,
}

impl Backfill {
    async fn round(&mut self, node: &Weak<Shared>, http: &reqwest::Client) {
        let Some(shared) = node.upgrade() else {
            return;
        };
        let peers = shared.vote_peers();
        let head = match shared.store.head() {
            Ok(h) => h.height,
            Err(e) => {
                warn!(target: "consensus::vote", "backfill: cannot read the head: {e}");
                return;
            }
        };
        let upto = self.previous_head.replace(head).unwrap_or(0).min(head);
        let from = *self
            .certified_upto
            .get_or_insert(head.saturating_sub(BACKFILL_LOOKBACK_HEIGHTS));
        if peers.is_empty() || upto <= from {
            return;
        }
        let mut missing = Vec::new();
        let mut contiguous = true;
        let last = upto.min(from.saturating_add(BACKFILL_SCAN_MAX));
        for h in from + 1..=last {
            match shared.certificate(h) {
                Ok(Some(_)) => {
                    if contiguous {
                        self.certified_upto = Some(h);
                    }
                }
                Ok(None) => {
                    contiguous = false;
                    missing.push(h);
                    if missing.len() >= BACKFILL_HEIGHTS_PER_ROUND {
                        break;
                    }
                }
                Err(e) => {
                    warn!(target: "consensus::vote", "backfill: cannot read the votes of block {h}: {e}");
                    return;
                }
            }
        }
        drop(shared);
        for h in missing {
            for url in &peers {
                let Some(votes) = fetch_votes(http, url, h).await else {
                    continue;
                };
                let Some(shared) = node.upgrade() else {
                    return;
                };
                let merged =
                    tokio::task::spawn_blocking(move || merge_votes(&shared, h, votes)).await;
                if let Ok(true) = merged {
                    break; // this height has its certificate now
                }
            }
        }
    }
}

/// Keeps the valid votes for `height` among those a peer returned; returns whether the height
/// has a certificate now.
fn merge_votes(shared: &Shared, height: u64, votes: Vec<SignedVote>) -> bool {
    let votes: Vec<SignedVote> = votes
        .into_iter()
        .filter(|v| v.vote.height == height)
        .collect();
    let checks = shared.check_votes(&votes);
    let valid: Vec<SignedVote> = votes
        .into_iter()
        .zip(checks)
        .filter_map(|(v, check)| match check {
            Ok(()) => Some(v),
            Err(e) => {
                debug!(target: "consensus::vote", "backfill: ignoring a vote for block {height}: {e}");
                None
            }
        })
        .collect();
    if let Err(e) = shared.store_votes(&valid) {
        warn!(target: "consensus::vote", "backfill: could not store votes for block {height}: {e}");
    }
    matches!(shared.certificate(height), Ok(Some(_)))
}

/// A peer's votes for a height (`GET {url}/v1/cluster/votes/{height}`), read up to
/// [`VOTES_BODY_BYTES_MAX`]; None when the peer cannot be reached or answers nonsense.
async fn fetch_votes(http: &reqwest::Client, url: &str, height: u64) -> Option<Vec<SignedVote>> {
    #[derive(Deserialize)]
    struct Answer {
        votes: Vec<SignedVote>,
    }
    let target = format!("{url}/v1/cluster/votes/{height}");
    let mut resp = match http.get(&target).send().await {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => {
            debug!(target: "consensus::vote", "backfill: {target} answered {}", r.status());
            return None;
        }
        Err(e) => {
            debug!(target: "consensus::vote", "backfill: {target}: {e}");
            return None;
        }
    };
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > VOTES_BODY_BYTES_MAX {
                    warn!(target: "consensus::vote", "backfill: {target} answered more than {VOTES_BODY_BYTES_MAX} bytes; ignored");
                    return None;
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => {
                debug!(target: "consensus::vote", "backfill: reading {target}: {e}");
                return None;
            }
        }
    }
    match serde_json::from_slice::<Answer>(&body) {
        Ok(a) if a.votes.len() <= VOTES_POST_MAX => Some(a.votes),
        Ok(_) => None,
        Err(e) => {
            warn!(target: "consensus::vote", "backfill: {target} answered malformed votes: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use super::*;

    /// A peer that answers every vote post at once, counting the votes.
    async fn live_peer(votes: Arc<AtomicUsize>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let addr = listener.local_addr().expect("local address");
        let app = axum::Router::new().route(
            "/v1/cluster/votes",
            axum::routing::post(move |axum::Json(got): axum::Json<Vec<SignedVote>>| {
                let votes = votes.clone();
                async move {
                    votes.fetch_add(got.len(), Ordering::SeqCst);
                    "{}"
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    /// A URL where nothing listens (connections are refused).
    async fn dead_peer() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let addr = listener.local_addr().expect("local address");
        drop(listener);
        format!("http://{addr}")
    }

    fn vote(height: u64) -> SignedVote {
        want_crypto::sign_vote(
            &want_crypto::NodeKey::generate(),
            CommitVote {
                chain_id: 1,
                height,
                block_hash: want_types::Hash32([1; 32]),
                state_root: want_types::Hash32([2; 32]),
            },
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dead_peer_does_not_delay_votes_to_a_live_one() {
        let received = Arc::new(AtomicUsize::new(0));
        let live = live_peer(received.clone()).await;
        let peers = vec![dead_peer().await, live];
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(VOTE_HTTP_TIMEOUT_MS))
            .build()
            .expect("http client");
        let mut senders = PeerSenders::new(http);
        let started = Instant::now();
        // Three batches, as three blocks' votes arrive one after another: the dead peer's
        // retries (100 + 200 + 400 + 800 ms of backoff per batch) must not hold them up.
        for height in 1..=3 {
            senders.dispatch(&peers, vec![vote(height)]);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        while received.load(Ordering::SeqCst) < 3 && started.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            received.load(Ordering::SeqCst),
            3,
            "the live peer got every vote"
        );
        assert!(
            started.elapsed() < Duration::from_millis(VOTE_RETRY_BASE_MS * 5),
            "the live peer waited {:?} for its votes",
            started.elapsed()
        );
    }
}
