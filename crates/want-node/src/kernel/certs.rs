//! Commit certificates: after applying a block every member signs (chain id, height, block hash,
//! state root) with its Ed25519 node key; a strict majority of the members' signatures over the
//! same vote is the block's certificate, stored and served with the block.
//!
//! * **Own vote** — [`Shared::on_block_applied`] (called by `Shared::execute` right after the
//!   durable commit) signs and stores this node's vote and queues it for the other members.
//! * **Others' votes** — [`Shared::check_votes`] / [`Shared::store_votes`]: the signature must
//!   verify, the signer must be a member ([`Shared::member_keys`]), the chain id ours, and the
//!   height at most [`VOTES_AHEAD_MAX`] beyond our head (votes for blocks not applied yet wait in
//!   storage, bounded by that window and by one vote per member and height).
//! * **Divergence** — when a majority of members signed a (block hash, state root) for a height
//!   that is not ours, this node's state is forked: it records a [`Divergence`] (durably), logs
//!   it at error level, refuses every further block (`state_diverged`) and shows it in
//!   `GET /v1/status` and `/metrics`.
//! * **Conflicts** — a member's vote for an applied height that attests another block or state
//!   root than ours, without a majority behind it (`disagrees`), or a second, different vote
//!   signed by one member for one height (`equivocates`: proof that the member signed two
//!   blocks at one height — an honest member never does). Neither stops this node (it cannot
//!   tell which side is right, and a majority of the members stands behind its own state), but
//!   each is logged at error level, counted (`want_cluster_vote_conflicts_total`) and listed in
//!   `GET /v1/status` (`vote_conflicts`, the latest [`VOTE_CONFLICTS_KEPT`]), so a leader that
//!   tells different members different blocks cannot fork them unnoticed.
//! * **Gossip** — [`spawn_vote_gossip`]: own votes are POSTed to every other member
//!   (`/v1/cluster/votes`) from a bounded queue, by one sender per peer with its own bounded
//!   queue, retries and backoff (a dead peer delays only itself); heights that still
//!   lack a certificate a few seconds after they were applied are backfilled by
//!   `GET /v1/cluster/votes/{height}` from the peers.
//!
//! Votes are self-authenticating — each is signed by a member's node key over a
//! domain-separated digest — so they travel as they are, without an authenticated envelope: a
//! relayed, replayed or stored vote proves exactly what its signer attested, nothing more.

use std::collections::BTreeSet;

use borsh::{BorshDeserialize, BorshSerialize};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tracing::error;
use want_crypto::majority_of;
use want_storage::Store;
use want_types::{
    Certificate, CommitVote, Hash32, NodePublicKey, SignedVote, VoteSignature, CLUSTER_MEMBERS_MAX,
};

use crate::error::{codes, NodeError};

/// Votes are accepted for heights at most this far beyond this node's head (the pending window).
pub const VOTES_AHEAD_MAX: u64 = 1_024;
/// Most votes in one `POST /v1/cluster/votes`.
pub const VOTES_POST_MAX: usize = 4 * CLUSTER_MEMBERS_MAX;
/// Largest body of `POST /v1/cluster/votes` and of a peer's `GET /v1/cluster/votes/{height}`
/// answer, in bytes (a JSON vote is about 400 bytes).
pub const VOTES_BODY_BYTES_MAX: usize = 256 * 1024;
/// Own votes waiting to be sent to the other members; when full, new votes are not queued (the
/// peers backfill them).
pub const VOTE_QUEUE_MAX: usize = 1_024;
/// Batches of own votes waiting for one peer; when full (the peer is down or slow), new batches
/// are not queued for it (it backfills them). Each peer has its own queue and sender, so one
/// dead peer never delays the others.
pub const VOTE_PEER_QUEUE_MAX: usize = 64;
/// Attempts to deliver one batch of votes to one peer.
pub const VOTE_SEND_ATTEMPTS: u32 = 5;
/// Backoff before the first retry; doubled after each failed attempt.
pub const VOTE_RETRY_BASE_MS: u64 = 100;
/// Timeout of one vote request to a peer.
pub const VOTE_HTTP_TIMEOUT_MS: u64 = 2_000;
/// How often the gossip task looks for heights that lack a certificate. A height is backfilled
/// only once it was applied at least one interval ago.
pub const BACKFILL_INTERVAL_MS: u64 = 2_000;
/// Most heights fetched from peers per backfill round: a member back from a long absence lacks
/// the votes of up to [`BACKFILL_LOOKBACK_HEIGHTS`] heights (the others' queues for it were
/// full), and gets them within about 8 rounds.
pub const BACKFILL_HEIGHTS_PER_ROUND: usize = 128;
/// Most heights examined per backfill round (bounds the storage reads when peers stay silent).
pub const BACKFILL_SCAN_MAX: u64 = 1_024;
/// After a start, backfill looks back at most this many heights below the head.
pub const BACKFILL_LOOKBACK_HEIGHTS: u64 = 1_024;

/// A block hash with the state root after it: what a vote attests.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    BorshSerialize,
    BorshDeserialize,
    utoipa::ToSchema,
)]
pub struct VotedState {
    pub block_hash: Hash32,
    pub state_root: Hash32,
}

impl VotedState {
    pub(crate) fn of(vote: &CommitVote) -> VotedState {
        VotedState {
            block_hash: vote.block_hash,
            state_root: vote.state_root,
        }
    }
}

/// This node applied a block (or reached a state) that a majority of the members did not.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    BorshSerialize,
    BorshDeserialize,
    utoipa::ToSchema,
)]
pub struct Divergence {
    pub height: u64,
    /// What this node applied at `height`.
    pub ours: VotedState,
    /// What a majority of the members signed for `height`.
    pub majority: VotedState,
    /// The members who signed the majority's vote (hex public keys).
    pub majority_signers: Vec<String>,
}

/// Vote conflicts kept for `GET /v1/status` (the latest ones).
pub const VOTE_CONFLICTS_KEPT: usize = 16;

/// What a conflicting vote shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    /// The member attests another block or state root than this node applied, without a
    /// majority behind it: the member diverged, or this node and that member were told
    /// different blocks (a forking leader).
    Disagrees,
    /// The member signed two different votes for one height: proof that it misbehaves.
    Equivocates,
}

/// A member's vote that contradicts this node's or the member's own earlier vote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VoteConflict {
    pub height: u64,
    pub kind: ConflictKind,
    /// The member's node key (hex).
    pub member: String,
    /// What its (latest) vote attests.
    pub theirs: VotedState,
    /// What it contradicts: this node's applied state (`disagrees`), or the member's earlier
    /// vote for the height (`equivocates`).
    pub other: VotedState,
}

/// The members' votes at one height that attest something other than `ours`, one per member
/// (a divergence — a majority against `ours` — is [`find_divergence`]'s).
pub fn find_disagreements(
    ours: VotedState,
    votes: &[SignedVote],
    members: &[NodePublicKey],
) -> Vec<(NodePublicKey, VotedState)> {
    let members: BTreeSet<&NodePublicKey> = members.iter().collect();
    let mut seen = BTreeSet::new();
    votes
        .iter()
        .filter(|v| members.contains(&v.node_public_key) && seen.insert(v.node_public_key))
        .map(|v| (v.node_public_key, VotedState::of(&v.vote)))
        .filter(|(_, theirs)| *theirs != ours)
        .collect()
}

/// Incoming votes that contradict a vote the same member signed for the same height — one
/// already stored, or an earlier one in the same batch: (member, the earlier vote's state, the
/// new vote's state).
pub fn find_equivocations(
    stored: &[SignedVote],
    incoming: &[SignedVote],
) -> Vec<(NodePublicKey, VotedState, VotedState)> {
    let mut seen: Vec<SignedVote> = stored.to_vec();
    let mut found = Vec::new();
    for v in incoming {
        let earlier = seen
            .iter()
            .find(|s| s.node_public_key == v.node_public_key && s.vote.height == v.vote.height);
        match earlier {
            Some(e) if e.vote != v.vote => found.push((
                v.node_public_key,
                VotedState::of(&e.vote),
                VotedState::of(&v.vote),
            )),
            Some(_) => {}
            None => seen.push(*v),
        }
    }
    found
}

/// The certificate of a height as this node holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateView {
    pub certificate: Certificate,
    /// Members in the membership the certificate was counted against.
    pub members: usize,
    /// Signatures needed: a strict majority of `members`.
    pub required: usize,
    /// Every member signed (not just a majority).
    pub complete: bool,
}

/// What [`Shared::store_votes`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct VotesStored {
    /// Votes kept now.
    pub accepted: usize,
    /// Votes already held (the same member had voted for that height).
    pub already_known: usize,
}

/// The certificate state of a node: the divergence flag and the queue of own votes to send.
pub struct CertState {
    pub(crate) diverged: Mutex<Option<Divergence>>,
    /// The latest [`VOTE_CONFLICTS_KEPT`] vote conflicts (in memory; the log keeps them all).
    pub(crate) conflicts: Mutex<std::collections::VecDeque<VoteConflict>>,
    pub(crate) outbox: mpsc::Sender<SignedVote>,
    pub(crate) outbox_rx: Mutex<Option<mpsc::Receiver<SignedVote>>>,
}

impl CertState {
    /// Loads the divergence recorded before a restart, if any (a diverged node stays stopped).
    pub fn open(store: &Store) -> Result<CertState, NodeError> {
        let diverged = match store.divergence()? {
            None => None,
            Some(bytes) => Some(Divergence::try_from_slice(&bytes).map_err(|e| {
                NodeError::Io(format!(
                    "the recorded divergence of {} does not decode: {e}",
                    store.path().display()
                ))
            })?),
        };
        if let Some(d) = &diverged {
            error!(target: "consensus::vote", "this node's state diverged from the cluster at height {} (recorded before this start): ours block {} state {}, majority block {} state {}; it will not apply blocks. Rebuild its data directory from a healthy member", d.height, d.ours.block_hash, d.ours.state_root, d.majority.block_hash, d.majority.state_root);
        }
        let (outbox, rx) = mpsc::channel(VOTE_QUEUE_MAX);
        Ok(CertState {
            diverged: Mutex::new(diverged),
            conflicts: Mutex::new(std::collections::VecDeque::new()),
            outbox,
            outbox_rx: Mutex::new(Some(rx)),
        })
    }
}

/// Parses member keys given as hex; malformed ones are skipped (the genesis and the
/// configuration are validated where they are loaded).
pub(crate) fn parse_keys<'a>(hex_keys: impl Iterator<Item = &'a str>) -> Vec<NodePublicKey> {
    let mut seen = BTreeSet::new();
    hex_keys
        .filter_map(|k| {
            let mut key = [0u8; 32];
            hex::decode_to_slice(k.trim(), &mut key).ok().map(|()| key)
        })
        .filter(|k| seen.insert(*k))
        .collect()
}

/// Votes grouped by what they attest, counting only distinct members; the group with the most
/// signers first.
pub fn tally(
    votes: &[SignedVote],
    members: &[NodePublicKey],
) -> Vec<(CommitVote, Vec<VoteSignature>)> {
    let members: BTreeSet<&NodePublicKey> = members.iter().collect();
    let mut seen = BTreeSet::new();
    let mut groups: Vec<(CommitVote, Vec<VoteSignature>)> = Vec::new();
    for v in votes {
        if !members.contains(&v.node_public_key) || !seen.insert(v.node_public_key) {
            continue;
        }
        match groups.iter_mut().find(|(vote, _)| *vote == v.vote) {
            Some((_, sigs)) => sigs.push(v.vote_signature()),
            None => groups.push((v.vote, vec![v.vote_signature()])),
        }
    }
    groups.sort_by_key(|g| std::cmp::Reverse(g.1.len()));
    groups
}

/// The vote a strict majority of the members signed, with their signatures (at most one vote
/// can have a majority: each member counts once).
pub fn majority_vote(
    votes: &[SignedVote],
    members: &[NodePublicKey],
) -> Option<(CommitVote, Vec<VoteSignature>)> {
    let required = majority_of(members.len());
    tally(votes, members)
        .into_iter()
        .next()
        .filter(|(_, sigs)| !members.is_empty() && sigs.len() >= required)
}

/// A divergence at `height` when a majority signed something other than `ours`.
pub fn find_divergence(
    height: u64,
    ours: VotedState,
    votes: &[SignedVote],
    members: &[NodePublicKey],
) -> Option<Divergence> {
    let (vote, sigs) = majority_vote(votes, members)?;
    let majority = VotedState::of(&vote);
    (majority != ours).then(|| Divergence {
        height,
        ours,
        majority,
        majority_signers: sigs.iter().map(|s| hex::encode(s.public_key)).collect(),
    })
}

/// Checks one received vote against this chain, this node's head and the membership (cheap
/// checks first, the signature last).
pub fn validate_vote(
    vote: &SignedVote,
    chain_id: u64,
    head: u64,
    members: &[NodePublicKey],
) -> Result<(), NodeError> {
    let v = &vote.vote;
    if v.chain_id != chain_id {
        return Err(NodeError::rejected(
            codes::WRONG_CHAIN_ID,
            format!(
                "the vote is for chain id {}; this chain's id is {chain_id}",
                v.chain_id
            ),
        ));
    }
    if v.height == 0 {
        return Err(NodeError::rejected(
            codes::INVALID_HEIGHT,
            "the genesis block (height 0) is not voted on",
        ));
    }
    if v.height > head.saturating_add(VOTES_AHEAD_MAX) {
        return Err(NodeError::rejected(
            codes::VOTE_TOO_FAR_AHEAD,
            format!(
                "the vote is for height {}, more than {VOTES_AHEAD_MAX} beyond this node's head {head}; send it again once the node caught up",
                v.height
            ),
        ));
    }
    if !members.contains(&vote.node_public_key) {
        return Err(NodeError::rejected(
            codes::NOT_A_MEMBER,
            format!(
                "{} is not a member of this cluster; only members' votes count",
                hex::encode(vote.node_public_key)
            ),
        ));
    }
    want_crypto::verify_vote(vote).map_err(|e| {
        NodeError::rejected(
            codes::BAD_VOTE_SIGNATURE,
            format!(
                "the vote of {} for height {}: {e}",
                hex::encode(vote.node_public_key),
                v.height
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use want_crypto::{sign_vote, NodeKey};

    fn vote(height: u64, root: u8) -> CommitVote {
        CommitVote {
            chain_id: 7,
            height,
            block_hash: Hash32([height as u8; 32]),
            state_root: Hash32([root; 32]),
        }
    }

    fn keys(n: usize) -> (Vec<NodeKey>, Vec<NodePublicKey>) {
        let ks: Vec<NodeKey> = (0..n).map(|_| NodeKey::generate()).collect();
        let pks = ks.iter().map(NodeKey::public_key).collect();
        (ks, pks)
    }

    fn ours(v: CommitVote) -> VotedState {
        VotedState::of(&v)
    }

    #[test]
    fn a_minority_vote_for_another_state_is_a_disagreement_and_outsiders_are_ignored() {
        let (ks, members) = keys(3);
        let outsider = NodeKey::generate();
        let votes = vec![
            sign_vote(&ks[0], vote(5, 1)),
            sign_vote(&ks[1], vote(5, 2)),
            sign_vote(&ks[1], vote(5, 3)), // its second vote counts once (the first)
            sign_vote(&ks[2], vote(5, 1)),
            sign_vote(&outsider, vote(5, 4)),
        ];
        let found = find_disagreements(ours(vote(5, 1)), &votes, &members);
        assert_eq!(found, vec![(members[1], ours(vote(5, 2)))]);
        assert!(find_disagreements(ours(vote(5, 1)), &votes[..1], &members).is_empty());
    }

    #[test]
    fn a_member_signing_two_votes_for_one_height_is_an_equivocation() {
        let (ks, _) = keys(2);
        let stored = vec![sign_vote(&ks[0], vote(5, 1)), sign_vote(&ks[1], vote(5, 1))];
        let incoming = vec![
            sign_vote(&ks[0], vote(5, 1)), // the same vote again: fine
            sign_vote(&ks[1], vote(5, 9)), // another state for height 5
            sign_vote(&ks[1], vote(6, 9)), // another height: not compared
        ];
        let found = find_equivocations(&stored, &incoming);
        assert_eq!(
            found,
            vec![(ks[1].public_key(), ours(vote(5, 1)), ours(vote(5, 9)))]
        );
        // Two different votes of one member in one batch, nothing stored.
        let batch = vec![sign_vote(&ks[0], vote(7, 1)), sign_vote(&ks[0], vote(7, 2))];
        assert_eq!(
            find_equivocations(&[], &batch),
            vec![(ks[0].public_key(), ours(vote(7, 1)), ours(vote(7, 2)))]
        );
    }

    #[test]
    fn a_majority_for_another_state_root_is_a_divergence() {
        let (ks, members) = keys(3);
        let votes = vec![
            sign_vote(&ks[0], vote(5, 1)),
            sign_vote(&ks[1], vote(5, 2)),
            sign_vote(&ks[2], vote(5, 2)),
        ];
        let d = find_divergence(5, ours(vote(5, 1)), &votes, &members).expect("diverged");
        assert_eq!(d.height, 5);
        assert_eq!(d.ours.state_root, Hash32([1; 32]));
        assert_eq!(d.majority.state_root, Hash32([2; 32]));
        assert_eq!(
            d.majority_signers,
            vec![hex::encode(members[1]), hex::encode(members[2])]
        );
    }

    #[test]
    fn agreement_or_no_majority_is_no_divergence() {
        let (ks, members) = keys(4);
        let agree = vec![
            sign_vote(&ks[0], vote(5, 1)),
            sign_vote(&ks[1], vote(5, 1)),
            sign_vote(&ks[2], vote(5, 1)),
        ];
        assert_eq!(find_divergence(5, ours(vote(5, 1)), &agree, &members), None);
        // 2 of 4 is not a strict majority: wait for more votes.
        let split = vec![
            sign_vote(&ks[0], vote(5, 1)),
            sign_vote(&ks[1], vote(5, 1)),
            sign_vote(&ks[2], vote(5, 2)),
            sign_vote(&ks[3], vote(5, 2)),
        ];
        assert_eq!(majority_vote(&split, &members), None);
        assert_eq!(find_divergence(5, ours(vote(5, 1)), &split, &members), None);
    }

    #[test]
    fn a_member_voting_twice_or_an_outsider_does_not_make_a_majority() {
        let (ks, members) = keys(3);
        let outsider = NodeKey::generate();
        let votes = vec![
            sign_vote(&ks[1], vote(5, 2)),
            sign_vote(&ks[1], vote(5, 2)),
            sign_vote(&outsider, vote(5, 2)),
        ];
        assert_eq!(majority_vote(&votes, &members), None);
        assert_eq!(find_divergence(5, ours(vote(5, 1)), &votes, &members), None);
    }

    #[test]
    fn a_single_member_is_its_own_majority() {
        let (ks, members) = keys(1);
        let own = sign_vote(&ks[0], vote(1, 1));
        let (v, sigs) = majority_vote(&[own], &members).expect("certificate");
        assert_eq!(v, vote(1, 1));
        assert_eq!(sigs, vec![own.vote_signature()]);
    }

    #[test]
    fn received_votes_are_checked_for_chain_height_membership_and_signature() {
        let (ks, members) = keys(2);
        let ok = sign_vote(&ks[0], vote(5, 1));
        validate_vote(&ok, 7, 4, &members).unwrap();
        let code =
            |v: &SignedVote, head: u64| validate_vote(v, 7, head, &members).unwrap_err().code();
        assert_eq!(
            validate_vote(&ok, 8, 4, &members).unwrap_err().code(),
            codes::WRONG_CHAIN_ID
        );
        assert_eq!(
            code(&sign_vote(&ks[0], vote(0, 1)), 4),
            codes::INVALID_HEIGHT
        );
        assert_eq!(
            code(&sign_vote(&ks[0], vote(4 + VOTES_AHEAD_MAX + 1, 1)), 4),
            codes::VOTE_TOO_FAR_AHEAD
        );
        validate_vote(
            &sign_vote(&ks[0], vote(4 + VOTES_AHEAD_MAX, 1)),
            7,
            4,
            &members,
        )
        .unwrap();
        assert_eq!(
            code(&sign_vote(&NodeKey::generate(), vote(5, 1)), 4),
            codes::NOT_A_MEMBER
        );
        let mut forged = ok;
        forged.vote.state_root = Hash32([9; 32]);
        assert_eq!(code(&forged, 4), codes::BAD_VOTE_SIGNATURE);
    }

    #[test]
    fn member_keys_parse_hex_and_drop_duplicates_and_garbage() {
        let a = "ab".repeat(32);
        let keys = parse_keys([a.as_str(), "zz", a.as_str(), " "].into_iter());
        assert_eq!(keys, vec![[0xab; 32]]);
    }

    #[test]
    fn a_divergence_round_trips_through_its_durable_record() {
        let d = Divergence {
            height: 3,
            ours: ours(vote(3, 1)),
            majority: ours(vote(3, 2)),
            majority_signers: vec!["ab".repeat(32)],
        };
        let bytes = borsh::to_vec(&d).unwrap();
        assert_eq!(Divergence::try_from_slice(&bytes).unwrap(), d);
    }

    mod parse_keys_props {
        use super::*;
        use crate::fuzz_inputs::{mutated, nasty_char};
        use proptest::prelude::*;

        /// Each key once, in first-seen order, from the entries that are 64 hex digits.
        fn expected(keys: &[String]) -> Vec<NodePublicKey> {
            let mut out: Vec<NodePublicKey> = Vec::new();
            for k in keys {
                let t = k.trim();
                if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
                    let mut key = [0u8; 32];
                    hex::decode_to_slice(t, &mut key).unwrap();
                    if !out.contains(&key) {
                        out.push(key);
                    }
                }
            }
            out
        }

        fn key_text() -> impl Strategy<Value = String> {
            (any::<[u8; 32]>(), any::<bool>(), "[ \t\n]{0,2}").prop_map(|(k, upper, pad)| {
                let h = hex::encode(k);
                let h = if upper { h.to_uppercase() } else { h };
                format!("{pad}{h}{pad}")
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn parse_keys_keeps_each_well_formed_key_once_in_order(
                keys in prop::collection::vec(
                    prop_oneof![
                        any::<String>(),
                        prop::collection::vec(nasty_char(), 0..70)
                            .prop_map(|v| v.into_iter().collect()),
                        key_text(),
                        mutated(key_text()),
                    ],
                    0..6,
                ),
                repeat in any::<prop::sample::Index>(),
            ) {
                let mut keys = keys;
                if !keys.is_empty() {
                    let again = keys[repeat.index(keys.len())].clone();
                    keys.push(again);
                }
                let got = parse_keys(keys.iter().map(String::as_str));
                prop_assert_eq!(got, expected(&keys));
            }
        }
    }
}
