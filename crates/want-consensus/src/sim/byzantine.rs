//! The Byzantine member: it runs no Raft, holds its own member key, and sends crafted messages
//! through the network to honest members (each answered by their real checks).

use std::time::Duration;

use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, SnapshotMeta, Vote};
use rand::seq::SliceRandom;
use rand::Rng;
use want_crypto::NodeKey;
use want_types::BlockHeader;

use super::{next_block, url, Sim, CHAIN_ID};
use crate::net::{Envelope, EnvelopeHeader, MsgKind};
use crate::raft::approval::AdminRequest;
use crate::raft::guard::LeaderClaim;
use crate::raft::{Proposal, SnapshotData, TypeConfig};
use crate::AdminCommand;

/// How long the Byzantine member waits for an answer (simulated ms).
const BYZANTINE_TIMEOUT_MS: u64 = 5_000;
/// How far above the victim's term the Byzantine member's modelled election wins.
const ELECTED_TERM_LEAP: u64 = 1_000;
/// How far past the victim's log a forged snapshot claims to reach.
const SNAPSHOT_LEAP_ENTRIES: u64 = 50;

/// What the Byzantine member does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An envelope naming another member as its sender, signed with its own key.
    ImpersonateMember,
    /// An envelope signed with a key no member has.
    ForgedEnvelope,
    /// A copy of a message captured on the network, sent again.
    ReplayedEnvelope,
    /// AppendEntries naming another member as the leader of a new term.
    ClaimOthersLeadership,
    /// AppendEntries from itself as leader of a term it did not win, with a valid block of its
    /// own that extends the victim's head (a fork).
    ForkBlock,
    /// AppendEntries from itself as leader with an entry that is not a block.
    GarbageBlock,
    /// AppendEntries from itself as leader with a block whose signature is not its proposer's.
    BadSignatureBlock,
    /// A vote request naming another member as the candidate.
    VoteForOther,
    /// `Admin RemoveMember` of another member, sent to the leader.
    AdminRemoveMember,
    /// `Admin SetMemberKey` of another member (to a key it holds), sent to the leader.
    AdminSetKey,
    /// InstallSnapshot from itself as leader, whose target is the victim's own head, claiming a
    /// log id far ahead.
    SnapshotOwnHead,
    /// As an *elected* leader (the honest voters' genuine grants of a new term), AppendEntries
    /// with a membership entry that gives another member a key the Byzantine member holds.
    ElectedMembershipRewrite,
    /// As an elected leader, InstallSnapshot at the victim's own head whose membership gives
    /// another member a key the Byzantine member holds (no history of approvals leads to it).
    ElectedSnapshotMembership,
}

impl Kind {
    pub const ALL: [Kind; 13] = [
        Kind::ImpersonateMember,
        Kind::ForgedEnvelope,
        Kind::ReplayedEnvelope,
        Kind::ClaimOthersLeadership,
        Kind::ForkBlock,
        Kind::GarbageBlock,
        Kind::BadSignatureBlock,
        Kind::VoteForOther,
        Kind::AdminRemoveMember,
        Kind::AdminSetKey,
        Kind::SnapshotOwnHead,
        Kind::ElectedMembershipRewrite,
        Kind::ElectedSnapshotMembership,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::ImpersonateMember => "impersonate_member",
            Kind::ForgedEnvelope => "forged_envelope",
            Kind::ReplayedEnvelope => "replayed_envelope",
            Kind::ClaimOthersLeadership => "claim_others_leadership",
            Kind::ForkBlock => "fork_block",
            Kind::GarbageBlock => "garbage_block",
            Kind::BadSignatureBlock => "bad_signature_block",
            Kind::VoteForOther => "vote_for_other",
            Kind::AdminRemoveMember => "admin_remove_member",
            Kind::AdminSetKey => "admin_set_key",
            Kind::SnapshotOwnHead => "snapshot_own_head",
            Kind::ElectedMembershipRewrite => "elected_membership_rewrite",
            Kind::ElectedSnapshotMembership => "elected_snapshot_membership",
        }
    }
}

fn encode<T: serde::Serialize>(v: &T) -> Vec<u8> {
    postcard::to_allocvec(v).expect("invariant: postcard encoding into a Vec cannot fail")
}

/// An InstallSnapshot from the leader of `claimed`'s term (with `proof` of its election)
/// whose last entry is `claimed`, standing for chain point `point` with `membership` and no
/// membership history.
fn snapshot_claim(
    proof: Vec<Vec<u8>>,
    claimed: LogId<u64>,
    membership: openraft::StoredMembership<u64, crate::MemberNode>,
    point: crate::ChainPoint,
) -> Vec<u8> {
    let leader = claimed.leader_id;
    encode(&LeaderClaim {
        proof,
        req: InstallSnapshotRequest::<TypeConfig> {
            vote: Vote::new_committed(leader.term, leader.node_id),
            meta: SnapshotMeta {
                last_log_id: Some(claimed),
                last_membership: membership,
                snapshot_id: format!("byzantine-{}-{}", leader.term, claimed.index),
            },
            offset: 0,
            data: encode(&SnapshotData {
                point,
                pending: None,
                history: Vec::new(),
            }),
            done: true,
        },
    })
}

impl Sim {
    /// Seals `payload` as `from` with `key` (the Byzantine member's, or another).
    fn seal(
        &mut self,
        from: u64,
        to: u64,
        kind: MsgKind,
        payload: Vec<u8>,
        key: &NodeKey,
    ) -> (String, Vec<u8>) {
        let byz = self.plan.byzantine.unwrap_or(from);
        self.byzantine_seq += 1;
        let header = EnvelopeHeader {
            chain_id: CHAIN_ID,
            from,
            to,
            kind,
            boot: self.plan.seed,
            seq: self.byzantine_seq,
            sent_at_ms: (self.clock(byz))(),
            in_reply_to: [0; 32],
            payload_hash: [0; 32],
        };
        let env = Envelope::seal(header, payload, key);
        (env.sealed_header().to_field(), env.payload)
    }

    /// The proof that `leader` won `term`: every honest voter's grant, signed with its key, as
    /// it answers a candidate whose log is up to date. (A model of a won election: the honest
    /// members' Raft state does not record these votes.)
    fn won_election(&mut self, term: u64, leader: u64) -> Vec<Vec<u8>> {
        let answer: crate::raft::guard::VoteAnswer = Ok(openraft::raft::VoteResponse::new(
            Vote::new(term, leader),
            None,
            true,
        ));
        let at = (self.clock(leader))();
        let mut proof = Vec::new();
        for voter in self.honest() {
            self.byzantine_seq += 1;
            let header = EnvelopeHeader {
                chain_id: CHAIN_ID,
                from: voter,
                to: leader,
                kind: MsgKind::Response,
                boot: self.plan.seed,
                seq: self.byzantine_seq,
                sent_at_ms: at,
                in_reply_to: [0; 32],
                payload_hash: [0; 32],
            };
            proof.push(Envelope::seal(header, encode(&answer), &self.keys[&voter]).to_bytes());
        }
        proof
    }

    /// A key no member has, drawn from the seed.
    fn stranger_key(&mut self) -> NodeKey {
        super::node_key(self.rng.gen(), u64::MAX)
    }

    /// Sends one crafted message and records its fate under `kind`.
    fn send(&self, kind: Kind, from: u64, to: u64, field: String, body: Vec<u8>) {
        self.send_as(kind.name(), from, to, field, body)
    }

    /// [`Self::send`], its outcome counted under `label`.
    fn send_as(&self, label: &'static str, from: u64, to: u64, field: String, body: Vec<u8>) {
        let net = self.net.clone();
        let outcomes = self.byzantine_outcomes.clone();
        tokio::spawn(async move {
            let r = tokio::time::timeout(
                Duration::from_millis(BYZANTINE_TIMEOUT_MS),
                net.handle(from, to, field, body),
            )
            .await;
            let outcome = match r {
                Err(_) => "no answer in time".to_string(),
                Ok(Ok(_)) => "accepted".to_string(),
                Ok(Err(crate::net::NetError::Refused { body, .. })) => format!("refused:{body}"),
                Ok(Err(e)) => format!("not delivered: {e}"),
            };
            net.state.lock().event(("byzantine", label, &outcome));
            *outcomes
                .lock()
                .entry(format!("{label} -> {outcome}"))
                .or_default() += 1;
        });
    }

    pub(super) async fn byzantine(&mut self, kind: Kind) {
        let Some(byz) = self.plan.byzantine else {
            return;
        };
        let live = self.live();
        let victims: Vec<u64> = live.keys().copied().collect();
        let Some(&victim) = victims.choose(&mut self.rng) else {
            return;
        };
        let others: Vec<u64> = self.honest().into_iter().filter(|&i| i != victim).collect();
        let other = others.choose(&mut self.rng).copied().unwrap_or(victim);
        let node = live[&victim].clone();
        let m = node.metrics();
        let term = m.current_term + 1;
        let last = m.last_applied;
        let next_index = last.map_or(0, |l| l.index + 1);
        let own_key = self.keys[&byz].clone();
        self.net.state.lock().fault(kind.name());
        let as_leader = |leader: u64| CommittedLeaderId::new(term, leader);
        let append = |leader: u64, block: Option<Vec<u8>>| {
            let entries: Vec<Entry<TypeConfig>> = block
                .map(|b| Entry {
                    log_id: LogId::new(as_leader(leader), next_index),
                    payload: EntryPayload::Normal(Proposal { block: b }),
                })
                .into_iter()
                .collect();
            let commit = entries.last().map(|e| e.log_id).or(last);
            encode(&LeaderClaim {
                proof: Vec::new(),
                req: AppendEntriesRequest::<TypeConfig> {
                    vote: Vote::new_committed(term, leader),
                    prev_log_id: last,
                    entries,
                    leader_commit: commit,
                },
            })
        };
        let (from, to, msg, payload, key) = match kind {
            Kind::ImpersonateMember => (
                other,
                victim,
                MsgKind::AppendEntries,
                append(other, None),
                own_key,
            ),
            Kind::ForgedEnvelope => (
                byz,
                victim,
                MsgKind::Vote,
                encode(&VoteRequest {
                    vote: Vote::new(term, byz),
                    last_log_id: last,
                }),
                self.stranger_key(),
            ),
            Kind::ReplayedEnvelope => {
                let captured = {
                    let s = self.net.state.lock();
                    let n = s.captured.len();
                    (n > 0).then(|| {
                        let c = s.captured[self.rng.gen_range(0..n)].clone();
                        let restarted =
                            s.starts.get(&c.to).copied().unwrap_or_default() != c.receiver_starts;
                        (c, restarted)
                    })
                };
                if let Some((c, restarted)) = captured {
                    // A receiver restarted since it took the message has forgotten it: its
                    // guard refuses only what was sent before it started, by the sender's
                    // (skewed) clock.
                    let label = if restarted {
                        "replayed_envelope_after_restart"
                    } else {
                        kind.name()
                    };
                    self.send_as(label, byz, c.to, c.field, c.body);
                }
                return;
            }
            Kind::ClaimOthersLeadership => (
                byz,
                victim,
                MsgKind::AppendEntries,
                append(other, None),
                own_key,
            ),
            Kind::ForkBlock => {
                let block = next_block(&self.appliers[&victim], &own_key, (self.clock(byz))());
                (
                    byz,
                    victim,
                    MsgKind::AppendEntries,
                    append(byz, Some(block.to_bytes())),
                    own_key,
                )
            }
            Kind::GarbageBlock => {
                let garbage: Vec<u8> = (0..self.rng.gen_range(1..64))
                    .map(|_| self.rng.gen())
                    .collect();
                (
                    byz,
                    victim,
                    MsgKind::AppendEntries,
                    append(byz, Some(garbage)),
                    own_key,
                )
            }
            Kind::BadSignatureBlock => {
                let mut block = next_block(&self.appliers[&victim], &own_key, (self.clock(byz))());
                block.header = BlockHeader {
                    proposer: self.keys[&other].public_key().to_vec(),
                    ..block.header
                };
                (
                    byz,
                    victim,
                    MsgKind::AppendEntries,
                    append(byz, Some(block.to_bytes())),
                    own_key,
                )
            }
            Kind::VoteForOther => (
                byz,
                victim,
                MsgKind::Vote,
                encode(&VoteRequest {
                    vote: Vote::new(term, other),
                    last_log_id: Some(LogId::new(as_leader(other), next_index + 1_000)),
                }),
                own_key,
            ),
            Kind::AdminRemoveMember | Kind::AdminSetKey => {
                let leader = live
                    .iter()
                    .find(|(_, c)| c.can_propose())
                    .map_or(victim, |(&i, _)| i);
                let cmd = if kind == Kind::AdminRemoveMember {
                    AdminCommand::RemoveMember { id: other }
                } else {
                    AdminCommand::SetMemberKey {
                        id: other,
                        public_key: hex::encode(self.stranger_key().public_key()),
                        url: url(other),
                    }
                };
                let req = AdminRequest {
                    cmd,
                    membership_index: m.membership_config.log_id().as_ref().map(|l| l.index),
                    approvals: Vec::new(),
                };
                (byz, leader, MsgKind::Admin, encode(&req), own_key)
            }
            Kind::ElectedMembershipRewrite | Kind::ElectedSnapshotMembership => {
                // A term far above the cluster's: the grants model a won election the honest
                // members' Raft never saw, so no other Byzantine message (which claims the
                // victim's term + 1) may ride on it — a really elected leader could fork the
                // followers by calling its own entries committed (see ARCHITECTURE.md).
                let term = term + ELECTED_TERM_LEAP;
                let as_leader = |leader: u64| CommittedLeaderId::new(term, leader);
                let proof = self.won_election(term, byz);
                let membership = m.membership_config.membership();
                let mut nodes: std::collections::BTreeMap<u64, crate::MemberNode> =
                    membership.nodes().map(|(id, n)| (*id, n.clone())).collect();
                if let Some(n) = nodes.get_mut(&other) {
                    n.public_key = hex::encode(own_key.public_key());
                }
                let rewritten =
                    openraft::Membership::new(membership.get_joint_config().clone(), nodes);
                let payload = if kind == Kind::ElectedMembershipRewrite {
                    encode(&LeaderClaim {
                        proof,
                        req: AppendEntriesRequest::<TypeConfig> {
                            vote: Vote::new_committed(term, byz),
                            prev_log_id: last,
                            entries: vec![Entry {
                                log_id: LogId::new(as_leader(byz), next_index),
                                payload: EntryPayload::Membership(rewritten),
                            }],
                            leader_commit: last,
                        },
                    })
                } else {
                    let Ok(point) = crate::BlockApplier::head(&*self.appliers[&victim]) else {
                        return;
                    };
                    let claimed = LogId::new(as_leader(byz), next_index + SNAPSHOT_LEAP_ENTRIES);
                    snapshot_claim(
                        proof,
                        claimed,
                        openraft::StoredMembership::new(Some(claimed), rewritten),
                        point,
                    )
                };
                (
                    byz,
                    victim,
                    if kind == Kind::ElectedMembershipRewrite {
                        MsgKind::AppendEntries
                    } else {
                        MsgKind::InstallSnapshot
                    },
                    payload,
                    own_key,
                )
            }
            Kind::SnapshotOwnHead => {
                let Ok(point) = crate::BlockApplier::head(&*self.appliers[&victim]) else {
                    return;
                };
                let claimed = LogId::new(as_leader(byz), next_index + SNAPSHOT_LEAP_ENTRIES);
                (
                    byz,
                    victim,
                    MsgKind::InstallSnapshot,
                    snapshot_claim(
                        Vec::new(),
                        claimed,
                        m.membership_config.as_ref().clone(),
                        point,
                    ),
                    own_key,
                )
            }
        };
        let (field, body) = self.seal(from, to, msg, payload, &key);
        self.send(kind, byz, to, field, body);
    }
}
