//! Who may say what in Raft: the signed envelope proves which member sent a message; this
//! module checks that the member may say it.
//!
//! - A Vote names its candidate, an AppendEntries or InstallSnapshot its leader: the named node
//!   must be the envelope's signer, and a voting member (learners never lead, campaign or send
//!   snapshots).
//! - A leader proves its term: Raft would let any voter claim "I lead term T" without an
//!   election, so a leader attaches the vote answers that elected it — each a [`Response`]
//!   envelope signed by the voter who granted it ([`LeaderClaim::proof`]). A receiver accepts a
//!   leader for a term only when the grants (with the leader's own vote) form a quorum of every
//!   voter set of its membership, and remembers the leaders it found proven ([`ProvenLeaders`]).
//!
//! [`Response`]: crate::net::MsgKind::Response

use std::collections::{BTreeMap, BTreeSet};

use openraft::error::RaftError;
use openraft::raft::VoteResponse;
use openraft::Vote;
use serde::{Deserialize, Serialize};

use crate::net::{Envelope, MsgKind};

/// Most signed vote grants a leader attaches (more voters than this cannot be proven; the
/// cluster's voter count is far below it).
pub const LEADER_PROOF_GRANTS_MAX: usize = 64;
/// Terms whose grants a candidate keeps (older terms are dropped).
pub const LEADER_PROOF_TERMS_KEPT: usize = 4;
/// Proven (term, leader) pairs a receiver remembers.
pub const PROVEN_TERMS_KEPT: usize = 64;

/// A Raft request that names a leader, with the leader's proof that it was elected.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LeaderClaim<R> {
    /// Borsh bytes of the signed answers that granted the leader its term.
    pub proof: Vec<Vec<u8>>,
    pub req: R,
}

/// The vote a candidate asks for in `term`: the one a granting voter answers with.
pub fn candidate_vote(term: u64, candidate: u64) -> Vote<u64> {
    Vote::new(term, candidate)
}

/// What a voter answers to a Vote request, as the transport carries it.
pub type VoteAnswer = Result<VoteResponse<u64>, RaftError<u64>>;

/// The grants a candidate received, kept to prove its leadership (sender side).
#[derive(Debug, Default)]
pub struct LeaderProofs {
    /// term → voter → its signed answer.
    grants: BTreeMap<u64, BTreeMap<u64, Vec<u8>>>,
}

impl LeaderProofs {
    /// Records the signed answer `answer` from `voter`, if it grants `me` the term it names.
    pub fn record(&mut self, me: u64, voter: u64, answer: &Envelope) {
        let Ok(VoteAnswer::Ok(resp)) = postcard::from_bytes::<VoteAnswer>(&answer.payload) else {
            return;
        };
        let term = resp.vote.leader_id().term;
        if !resp.vote_granted || resp.vote != candidate_vote(term, me) {
            return;
        }
        let grants = self.grants.entry(term).or_default();
        if grants.len() < LEADER_PROOF_GRANTS_MAX {
            grants.insert(voter, answer.to_bytes());
        }
        while self.grants.len() > LEADER_PROOF_TERMS_KEPT {
            self.grants.pop_first();
        }
    }

    /// The grants of `term` (empty if none were kept).
    pub fn proof(&self, term: u64) -> Vec<Vec<u8>> {
        self.grants
            .get(&term)
            .map(|g| g.values().cloned().collect())
            .unwrap_or_default()
    }
}

/// The voters as a receiver knows them: each voter set of its (possibly joint) membership, with
/// the voters' keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VoterView {
    pub configs: Vec<BTreeSet<u64>>,
    pub keys: BTreeMap<u64, [u8; 32]>,
}

impl VoterView {
    /// Whether the receiver knows a membership at all (a node added later knows none until the
    /// leader's first entries reach it).
    pub fn is_known(&self) -> bool {
        self.configs.iter().any(|c| !c.is_empty())
    }

    pub fn is_voter(&self, id: u64) -> bool {
        self.configs.iter().any(|c| c.contains(&id))
    }

    /// Whether `ids` hold a majority of every voter set.
    pub fn is_quorum(&self, ids: &BTreeSet<u64>) -> bool {
        self.is_known()
            && self
                .configs
                .iter()
                .all(|c| c.intersection(ids).count() * 2 > c.len())
    }
}

/// Checks that `proof` (with `leader`'s own vote) holds a quorum of `voters` granting `leader`
/// the term `term` on chain `chain_id`.
pub fn verify_leader_proof(
    chain_id: u64,
    term: u64,
    leader: u64,
    proof: &[Vec<u8>],
    voters: &VoterView,
) -> Result<(), String> {
    if proof.len() > LEADER_PROOF_GRANTS_MAX {
        return Err(format!(
            "{} grants attached; at most {LEADER_PROOF_GRANTS_MAX}",
            proof.len()
        ));
    }
    let wanted = candidate_vote(term, leader);
    let mut granted = BTreeSet::from([leader]);
    let mut refused = Vec::new();
    for bytes in proof {
        let env = match Envelope::from_bytes(bytes) {
            Ok(e) => e,
            Err(e) => {
                refused.push(format!("a grant does not decode ({e})"));
                continue;
            }
        };
        let h = &env.header;
        let voter = h.from;
        let why = if h.kind != MsgKind::Response || h.to != leader || h.chain_id != chain_id {
            Some("is not a vote answer to this leader on this chain".to_string())
        } else if let Some(key) = voters.keys.get(&voter).filter(|_| voters.is_voter(voter)) {
            match env.verify_signature(key) {
                Err(e) => Some(e.to_string()),
                Ok(()) => match postcard::from_bytes::<VoteAnswer>(&env.payload) {
                    Ok(Ok(resp)) if resp.vote_granted && resp.vote == wanted => None,
                    Ok(_) => Some(format!("does not grant term {term} to node {leader}")),
                    Err(e) => Some(format!("does not decode as a vote answer: {e}")),
                },
            }
        } else {
            Some("is not from a voter known here".to_string())
        };
        match why {
            None => {
                granted.insert(voter);
            }
            Some(why) => refused.push(format!("the grant of node {voter} {why}")),
        }
    }
    if voters.is_quorum(&granted) {
        return Ok(());
    }
    let mut reason = format!(
        "grants from nodes {granted:?} are not a majority of the voters {:?}",
        voters.configs
    );
    if !refused.is_empty() {
        reason.push_str(&format!(" ({})", refused.join("; ")));
    }
    Err(reason)
}

/// The leaders proven recently, as (term, node) (receiver side). openraft orders leaders by
/// (term, node id), so two candidates may each win "term T" in turn (the higher id later); each
/// needs its own quorum of grants.
#[derive(Debug, Default)]
pub struct ProvenLeaders {
    proven: BTreeSet<(u64, u64)>,
}

impl ProvenLeaders {
    pub fn contains(&self, term: u64, leader: u64) -> bool {
        self.proven.contains(&(term, leader))
    }

    pub fn insert(&mut self, term: u64, leader: u64) {
        self.proven.insert((term, leader));
        while self.proven.len() > PROVEN_TERMS_KEPT {
            self.proven.pop_first();
        }
    }
}

#[cfg(test)]
mod tests {
    use want_crypto::NodeKey;

    use super::*;
    use crate::net::EnvelopeHeader;

    const CHAIN: u64 = 7;

    fn keys(n: u64) -> Vec<NodeKey> {
        (0..n).map(|_| NodeKey::generate()).collect()
    }

    fn view(keys: &[NodeKey]) -> VoterView {
        let ids: BTreeSet<u64> = (1..=keys.len() as u64).collect();
        VoterView {
            configs: vec![ids.clone()],
            keys: ids
                .iter()
                .map(|id| (*id, keys[*id as usize - 1].public_key()))
                .collect(),
        }
    }

    fn grant(keys: &[NodeKey], voter: u64, leader: u64, term: u64, granted: bool) -> Vec<u8> {
        let answer: VoteAnswer = Ok(VoteResponse::new(
            candidate_vote(term, leader),
            None,
            granted,
        ));
        let header = EnvelopeHeader {
            chain_id: CHAIN,
            from: voter,
            to: leader,
            kind: MsgKind::Response,
            boot: 1,
            seq: 1,
            sent_at_ms: 1,
            in_reply_to: [1; 32],
            payload_hash: [0; 32],
        };
        Envelope::seal(
            header,
            postcard::to_allocvec(&answer).unwrap(),
            &keys[voter as usize - 1],
        )
        .to_bytes()
    }

    #[test]
    fn a_leader_with_one_signed_grant_of_three_voters_is_proven() {
        let k = keys(3);
        let proof = vec![grant(&k, 2, 1, 5, true)];
        assert_eq!(verify_leader_proof(CHAIN, 5, 1, &proof, &view(&k)), Ok(()));
    }

    #[test]
    fn a_leader_without_grants_or_with_grants_of_another_term_or_leader_is_refused() {
        let k = keys(3);
        let v = view(&k);
        let no_grants = verify_leader_proof(CHAIN, 5, 1, &[], &v).unwrap_err();
        assert!(no_grants.contains("not a majority"), "{no_grants}");
        let other_term = verify_leader_proof(CHAIN, 6, 1, &[grant(&k, 2, 1, 5, true)], &v);
        assert!(other_term.unwrap_err().contains("does not grant term 6"));
        let other_leader = verify_leader_proof(CHAIN, 5, 3, &[grant(&k, 2, 1, 5, true)], &v);
        assert!(other_leader
            .unwrap_err()
            .contains("is not a vote answer to this leader"));
        let denied = verify_leader_proof(CHAIN, 5, 1, &[grant(&k, 2, 1, 5, false)], &v);
        assert!(denied.unwrap_err().contains("does not grant"));
    }

    #[test]
    fn a_grant_signed_by_another_key_or_repeated_does_not_count() {
        let k = keys(5);
        let v = view(&k);
        // Node 3's grant signed with node 2's key.
        let mut forged = Envelope::from_bytes(&grant(&k, 2, 1, 5, true)).unwrap();
        forged.header.from = 3;
        let forged = Envelope::seal(forged.header, forged.payload, &k[1]).to_bytes();
        let twice = grant(&k, 2, 1, 5, true);
        let err =
            verify_leader_proof(CHAIN, 5, 1, &[twice.clone(), twice, forged], &v).unwrap_err();
        assert!(err.contains("not a majority"), "{err}");
        assert!(err.contains("the grant of node 3"), "{err}");
        let ok = [grant(&k, 2, 1, 5, true), grant(&k, 4, 1, 5, true)];
        assert_eq!(verify_leader_proof(CHAIN, 5, 1, &ok, &v), Ok(()));
    }

    #[test]
    fn a_joint_membership_needs_a_majority_of_each_voter_set() {
        let k = keys(5);
        let mut v = view(&k);
        v.configs = vec![[1, 2, 3].into(), [3, 4, 5].into()];
        let one_side = [grant(&k, 2, 1, 9, true)];
        assert!(verify_leader_proof(CHAIN, 9, 1, &one_side, &v).is_err());
        let both = [
            grant(&k, 2, 1, 9, true),
            grant(&k, 4, 1, 9, true),
            grant(&k, 5, 1, 9, true),
        ];
        assert_eq!(verify_leader_proof(CHAIN, 9, 1, &both, &v), Ok(()));
    }

    #[test]
    fn a_candidate_keeps_only_grants_of_its_own_vote() {
        let k = keys(3);
        let mut proofs = LeaderProofs::default();
        for (voter, leader, granted) in [(2, 1, true), (3, 2, true), (3, 1, false)] {
            let env = Envelope::from_bytes(&grant(&k, voter, leader, 4, granted)).unwrap();
            proofs.record(1, voter, &env);
        }
        assert_eq!(proofs.proof(4).len(), 1);
        for term in 10..20 {
            let env = Envelope::from_bytes(&grant(&k, 2, 1, term, true)).unwrap();
            proofs.record(1, 2, &env);
        }
        assert!(proofs.proof(4).is_empty());
        assert_eq!(proofs.proof(19).len(), 1);
    }
}
