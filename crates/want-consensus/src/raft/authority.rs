//! Which membership changes the log may carry, decided from the log alone.
//!
//! The leader writes the [`AdminRequest`] it accepted (with its approvals) as a log entry of its
//! own ([`super::Proposal::admin`]) right before the membership entries that carry it out. Every
//! member walks the log with a [`MembershipState`]: an admin entry whose approvals are a majority
//! of every voter set in force (see [`approval::authorize`]) becomes the *pending* request; a
//! membership entry must then be one of the steps openraft takes to carry that request out:
//!
//! - `AddMember`: the node added as a learner (voters unchanged), then the joint voter sets
//!   `[V, V ∪ {id}]`;
//! - `RemoveMember`: the joint voter sets `[V, V ∖ {id}]`;
//! - `SetMemberKey`: the node's key and URL replaced, voters unchanged.
//!
//! Two steps need no request: an entry that changes nothing, and the entry that completes a
//! joint membership `[A, B]` with `[B]` (the joint one was authorised; only the voters that leave
//! may be dropped from the nodes, none added or altered). Adding a learner is a step of an authorised `AddMember` like the
//! others: a learner receives the log and may later become a voter, so it needs the majority too.
//!
//! The same walk verifies a node's membership history offline ([`verify_history`]), so
//! `want block verify` checks each change from the genesis on.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::approval::{self, AdminRequest};
use super::guard::VoterView;
use super::{AdminCommand, MemberNode};

/// The membership in force at a point of the log, with the authorised request not yet carried
/// out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipState {
    /// Log index of the membership entry in force (None: the genesis, before the log's first).
    pub index: Option<u64>,
    /// The voter sets (two while a change is joint).
    pub configs: Vec<BTreeSet<u64>>,
    /// Every member (voters and learners).
    pub nodes: BTreeMap<u64, MemberNode>,
    /// The authorised request whose steps may follow.
    pub pending: Option<AdminRequest>,
}

/// What a membership entry is, for the walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The first membership a member learns (the genesis members, written when the log starts).
    Initial,
    /// The same voters and nodes as before.
    Unchanged,
    /// `[A, B]` → `[B]`.
    CompletesJoint,
    /// A step of the pending authorised request.
    Authorized,
}

impl MembershipState {
    /// The state of an openraft membership at log index `index`.
    pub fn of(index: Option<u64>, m: &openraft::Membership<u64, MemberNode>) -> MembershipState {
        MembershipState {
            index,
            configs: m.get_joint_config().clone(),
            nodes: m.nodes().map(|(id, n)| (*id, n.clone())).collect(),
            pending: None,
        }
    }

    /// The membership before the log's first entry: the genesis members, all voters.
    pub fn genesis(nodes: BTreeMap<u64, MemberNode>) -> MembershipState {
        MembershipState {
            index: None,
            configs: vec![nodes.keys().copied().collect()],
            nodes,
            pending: None,
        }
    }

    /// Whether any membership is known (a node added later knows none before the leader's
    /// first entries).
    pub fn is_known(&self) -> bool {
        self.configs.iter().any(|c| !c.is_empty())
    }

    /// Every voter (of every voter set).
    pub fn voter_ids(&self) -> BTreeSet<u64> {
        self.configs.iter().flatten().copied().collect()
    }

    /// The voters' Ed25519 keys (a voter whose key does not parse has none).
    pub fn voter_keys(&self) -> Vec<[u8; 32]> {
        self.voter_ids()
            .iter()
            .filter_map(|id| self.nodes.get(id)?.key_bytes())
            .collect()
    }

    /// The voters with their keys, as approvals are counted.
    pub fn voter_view(&self) -> VoterView {
        VoterView {
            configs: self.configs.clone(),
            keys: self
                .nodes
                .iter()
                .filter_map(|(id, n)| Some((*id, n.key_bytes()?)))
                .collect(),
        }
    }

    /// Whether voter sets `configs` with members `nodes` are the genesis shape of this state:
    /// the same voters with the same keys and URLs, and no other node. (The first membership is
    /// written from the genesis file every member holds, so its URLs are the genesis's; a leader
    /// that wrote another member's URL as an address of its choosing would cut that member off
    /// for every later leader, who reach members at the membership's URLs.)
    pub fn same_members(
        &self,
        configs: &[BTreeSet<u64>],
        nodes: &BTreeMap<u64, MemberNode>,
    ) -> bool {
        let voters: BTreeSet<u64> = configs.iter().flatten().copied().collect();
        self.same_voters(configs, nodes)
            && nodes.keys().all(|id| voters.contains(id))
            && nodes
                .iter()
                .all(|(id, n)| self.nodes.get(id).is_some_and(|g| g.addr == n.addr))
    }

    /// Whether voter sets `configs` with members `nodes` name the same voters with the same keys
    /// as this state (URLs aside).
    pub fn same_voters(
        &self,
        configs: &[BTreeSet<u64>],
        nodes: &BTreeMap<u64, MemberNode>,
    ) -> bool {
        let keys = |configs: &[BTreeSet<u64>], nodes: &BTreeMap<u64, MemberNode>| {
            configs
                .iter()
                .map(|c| {
                    c.iter()
                        .map(|id| (*id, nodes.get(id).map(|n| n.public_key.to_lowercase())))
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        };
        keys(configs, nodes) == keys(&self.configs, &self.nodes)
    }

    /// An admin entry: `req` becomes the pending request if a majority of every voter set
    /// approved it for the membership in force.
    pub fn admit(&mut self, chain_id: u64, req: &AdminRequest) -> Result<(), String> {
        approval::authorize(chain_id, req, self.index, &self.voter_view())?;
        key_not_taken(&req.cmd, &self.nodes)?;
        self.pending = Some(req.clone());
        Ok(())
    }

    /// Checks that a membership entry with voter sets `configs` and members `nodes` may follow
    /// (see the module documentation).
    pub fn check(
        &self,
        configs: &[BTreeSet<u64>],
        nodes: &BTreeMap<u64, MemberNode>,
    ) -> Result<Step, String> {
        if !self.is_known() {
            return Ok(Step::Initial);
        }
        if configs == self.configs.as_slice() && *nodes == self.nodes {
            return Ok(Step::Unchanged);
        }
        if let [_, to] = self.configs.as_slice() {
            let kept = nodes.iter().all(|(id, n)| self.nodes.get(id) == Some(n));
            let voters_known = to.iter().all(|id| nodes.contains_key(id));
            // Only the voters that leave may leave the nodes (a learner stays).
            let leaving = self.voter_ids();
            let only_leaving = self
                .nodes
                .keys()
                .filter(|id| !nodes.contains_key(id))
                .all(|id| leaving.contains(id) && !to.contains(id));
            if configs == std::slice::from_ref(to) && kept && voters_known && only_leaving {
                return Ok(Step::CompletesJoint);
            }
        }
        let Some(req) = &self.pending else {
            return Err(format!(
                "it changes the voters {:?} to {configs:?} (or their keys or URLs) without a request approved by a majority of the voters before it",
                self.configs
            ));
        };
        let last = self.configs.last().cloned().unwrap_or_default();
        let with = |id: u64, n: &MemberNode| {
            let mut all = self.nodes.clone();
            all.insert(id, n.clone());
            all
        };
        let ok = match &req.cmd {
            AdminCommand::AddMember {
                id,
                public_key,
                url,
            } => {
                let n = member(public_key, url);
                let as_learner = !self.nodes.contains_key(id)
                    && configs == self.configs.as_slice()
                    && *nodes == with(*id, &n);
                let mut grown = last.clone();
                grown.insert(*id);
                let as_voter = self.nodes.get(id) == Some(&n)
                    && configs == [last.clone(), grown].as_slice()
                    && *nodes == self.nodes;
                as_learner || as_voter
            }
            AdminCommand::RemoveMember { id } => {
                let mut shrunk = last.clone();
                shrunk.remove(id);
                configs == [last.clone(), shrunk].as_slice() && *nodes == self.nodes
            }
            AdminCommand::SetMemberKey {
                id,
                public_key,
                url,
            } => {
                self.nodes.contains_key(id)
                    && configs == self.configs.as_slice()
                    && *nodes == with(*id, &member(public_key, url))
            }
        };
        if ok {
            Ok(Step::Authorized)
        } else {
            Err(format!(
                "it changes the voters {:?} to {configs:?}, which is not a step of the approved request {:?}",
                self.configs, req.cmd
            ))
        }
    }

    /// Moves to the membership entry at `index` (checked or not: a committed entry is applied
    /// whatever it is). A step that finishes the pending request clears it.
    pub fn enter(
        &mut self,
        index: u64,
        configs: Vec<BTreeSet<u64>>,
        nodes: BTreeMap<u64, MemberNode>,
        step: Option<Step>,
    ) {
        let learner_added = matches!(
            (&self.pending, step),
            (
                Some(AdminRequest {
                    cmd: AdminCommand::AddMember { .. },
                    ..
                }),
                Some(Step::Authorized)
            )
        ) && configs == self.configs;
        if step != Some(Step::Unchanged) && !learner_added {
            self.pending = None;
        }
        self.index = Some(index);
        self.configs = configs;
        self.nodes = nodes;
    }
}

/// Refuses a change that gives a member a node key another member already holds: one key must
/// name one member, or its signatures (envelopes, votes, approvals) would count for two.
pub fn key_not_taken(cmd: &AdminCommand, nodes: &BTreeMap<u64, MemberNode>) -> Result<(), String> {
    let (id, public_key) = match cmd {
        AdminCommand::AddMember { id, public_key, .. }
        | AdminCommand::SetMemberKey { id, public_key, .. } => (id, public_key),
        AdminCommand::RemoveMember { .. } => return Ok(()),
    };
    match nodes
        .iter()
        .find(|(other, n)| *other != id && n.public_key.eq_ignore_ascii_case(public_key.trim()))
    {
        Some((other, _)) => Err(format!(
            "node {other} already holds the key {public_key}: every member needs a node key of its own"
        )),
        None => Ok(()),
    }
}

/// A member as the membership records it.
fn member(public_key: &str, url: &str) -> MemberNode {
    MemberNode {
        public_key: public_key.to_string(),
        addr: url.to_string(),
    }
}

/// One membership change as a member recorded it when it applied it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipRecord {
    /// Log index of the membership entry.
    pub log_index: u64,
    /// The first block height this membership governs (blocks from here on were applied under
    /// it, until the next record).
    pub first_height: u64,
    /// The voter sets (two while a change is joint).
    pub configs: Vec<BTreeSet<u64>>,
    /// Every member, voters and learners, with its node key and URL.
    pub members: Vec<RecordedMember>,
    /// The approved request this entry carries out (None for a step that needs none).
    pub authorization: Option<AdminRequest>,
    /// How the entry followed from the one before; None when it followed from none allowed
    /// (`problem` says why; only a faulty majority commits such an entry).
    pub step: Option<Step>,
    pub problem: Option<String>,
}

/// One member in a [`MembershipRecord`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedMember {
    pub id: u64,
    pub public_key: String,
    pub url: String,
    pub voter: bool,
}

impl MembershipRecord {
    /// The record of entering `next` from `before` (whose pending request authorised it).
    pub fn new(
        log_index: u64,
        first_height: u64,
        before: &MembershipState,
        next: &MembershipState,
        verdict: &Result<Step, String>,
    ) -> MembershipRecord {
        let voters = next.voter_ids();
        MembershipRecord {
            log_index,
            first_height,
            configs: next.configs.clone(),
            members: next
                .nodes
                .iter()
                .map(|(id, n)| RecordedMember {
                    id: *id,
                    public_key: n.public_key.clone(),
                    url: n.addr.clone(),
                    voter: voters.contains(id),
                })
                .collect(),
            authorization: match verdict {
                Ok(Step::Authorized) => before.pending.clone(),
                _ => None,
            },
            step: verdict.as_ref().ok().copied(),
            problem: verdict.as_ref().err().cloned(),
        }
    }

    /// The members as the membership holds them.
    pub fn nodes(&self) -> BTreeMap<u64, MemberNode> {
        self.members
            .iter()
            .map(|m| (m.id, member(&m.public_key, &m.url)))
            .collect()
    }
}

/// The voters in force from a block height on, as [`verify_history`] found them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VotersFrom {
    pub first_height: u64,
    /// Log index of the membership entry (None: the genesis).
    pub log_index: Option<u64>,
    pub keys: Vec<[u8; 32]>,
}

/// Most records a history may hold for [`verify_history`] (a chain changes its membership a
/// few times a year).
pub const HISTORY_RECORDS_MAX: usize = 100_000;

/// Checks a membership history from the genesis (`genesis`: its voters and nodes, index None):
/// each record must follow from the one before as the log walk allows — a change carries
/// approvals of a majority of the voters before it (the same digest as [`approval`]). The
/// first record (the log's initial membership) must name the genesis voters with their keys.
/// Returns the voters in force from each height on, the genesis first.
pub fn verify_history(
    chain_id: u64,
    genesis: &MembershipState,
    records: &[MembershipRecord],
) -> Result<Vec<VotersFrom>, String> {
    if records.len() > HISTORY_RECORDS_MAX {
        return Err(format!(
            "the history has {} records; at most {HISTORY_RECORDS_MAX} are checked",
            records.len()
        ));
    }
    let mut state = genesis.clone();
    let mut out = vec![VotersFrom {
        first_height: 0,
        log_index: None,
        keys: state.voter_keys(),
    }];
    let mut last: Option<(u64, u64)> = None;
    for r in records {
        walk_record(chain_id, &mut state, &mut last, r)?;
        out.push(VotersFrom {
            first_height: r.first_height,
            log_index: Some(r.log_index),
            keys: state.voter_keys(),
        });
    }
    Ok(out)
}

/// The membership a history arrives at, checked from the genesis as [`verify_history`] checks
/// it (so that its voters, keys and URLs can be trusted however the history was fetched: every
/// change carries the approvals of a majority of the voters before it).
pub fn membership_after(
    chain_id: u64,
    genesis: &MembershipState,
    records: &[MembershipRecord],
) -> Result<MembershipState, String> {
    if records.len() > HISTORY_RECORDS_MAX {
        return Err(format!(
            "the history has {} records; at most {HISTORY_RECORDS_MAX} are checked",
            records.len()
        ));
    }
    let mut state = genesis.clone();
    let mut last = None;
    for r in records {
        walk_record(chain_id, &mut state, &mut last, r)?;
    }
    Ok(state)
}

/// One step of a history walk: `r` must come after `last` (log index, first height) and follow
/// from `state` as the log walk allows; `state` then moves to it.
fn walk_record(
    chain_id: u64,
    state: &mut MembershipState,
    last: &mut Option<(u64, u64)>,
    r: &MembershipRecord,
) -> Result<(), String> {
    let at = |e: String| format!("membership change at log index {}: {e}", r.log_index);
    if let Some((index, height)) = *last {
        if r.log_index <= index || r.first_height < height {
            return Err(at(format!(
                "records must be in log order (after log index {index}, height {height})"
            )));
        }
    }
    *last = Some((r.log_index, r.first_height));
    let nodes = r.nodes();
    let step = if state.index.is_none() && state.is_known() {
        // The log's first membership: the genesis voters, with their keys, and no learner.
        if !state.same_members(&r.configs, &nodes) {
            return Err(at(format!(
                "the log's first membership {:?} is not the genesis voters {:?} with their keys and URLs",
                r.configs, state.configs
            )));
        }
        Step::Initial
    } else {
        // What the member that recorded it found, if it found a problem.
        let noted = |e: String| match &r.problem {
            Some(p) => at(format!("{e} (recorded: {p})")),
            None => at(e),
        };
        if let Some(req) = &r.authorization {
            if r.step != Some(Step::Authorized) {
                return Err(at(format!(
                    "it carries approvals, but is recorded as {:?}, a step that needs none",
                    r.step
                )));
            }
            if state.pending.as_ref() != Some(req) {
                state.admit(chain_id, req).map_err(noted)?;
            }
        }
        state.check(&r.configs, &nodes).map_err(noted)?
    };
    state.enter(r.log_index, r.configs.clone(), nodes, Some(step));
    Ok(())
}

/// Most membership records a snapshot carries: the history up to the snapshot's membership
/// (the newest ones when there are more; a member whose own membership is older than the
/// oldest carried cannot install that snapshot and is refused).
pub const SNAPSHOT_HISTORY_RECORDS_MAX: usize = 1_024;

/// The membership a snapshot says is in force after it.
pub struct SnapshotMembership<'a> {
    /// Log index of its membership entry.
    pub index: Option<u64>,
    pub configs: &'a [BTreeSet<u64>],
    pub nodes: &'a BTreeMap<u64, MemberNode>,
    /// The approved request not yet carried out at the snapshot's point.
    pub pending: Option<&'a AdminRequest>,
    /// Log index of the snapshot's last entry (its membership cannot come after it).
    pub last_log_index: Option<u64>,
}

/// Checks that a snapshot's membership follows from this member's own: starting at `base` (its
/// applied membership walk state, or the genesis members when it has applied none), the
/// snapshot's `history` records after `base` must each follow as the log walk allows (a change
/// approved by a majority of the voters before it) and end exactly at the snapshot's
/// membership — voters, learners, keys and URLs — and the pending request must be approved by
/// that membership's voters. So a leader, even an elected one, cannot hand a member a membership
/// of its own making by snapshot. Returns the records walked (this member's history from
/// `base` on) and the membership walk's state after them.
pub fn verify_snapshot_membership(
    chain_id: u64,
    base: &MembershipState,
    history: &[MembershipRecord],
    target: &SnapshotMembership<'_>,
) -> Result<(Vec<MembershipRecord>, MembershipState), String> {
    if history.len() > SNAPSHOT_HISTORY_RECORDS_MAX {
        return Err(format!(
            "the snapshot carries {} membership records; at most {SNAPSHOT_HISTORY_RECORDS_MAX} are checked",
            history.len()
        ));
    }
    let Some(target_index) = target.index else {
        return Err("the snapshot's membership has no log index".into());
    };
    if !base.is_known() {
        return Err(
            "this member knows neither a membership nor the genesis members to check the snapshot's against"
                .into(),
        );
    }
    if let Some(last) = target.last_log_index {
        if target_index > last {
            return Err(format!(
                "the snapshot's membership (log index {target_index}) comes after the snapshot's last entry (log index {last})"
            ));
        }
    }
    if base.index.is_some_and(|i| i > target_index) {
        // Raft never sends this to a member that applied the later membership honestly; let it
        // through only if it changes nothing (a member moved ahead by a faulty leader can then
        // still take an honest leader's snapshot).
        if base.configs.as_slice() == target.configs && base.nodes == *target.nodes {
            // The member's membership is the snapshot's, at the snapshot's index.
            let mut state = MembershipState {
                index: Some(target_index),
                pending: None,
                ..base.clone()
            };
            if let Some(req) = target.pending {
                state
                    .admit(chain_id, req)
                    .map_err(|e| format!("the snapshot's pending membership request: {e}"))?;
            }
            return Ok((Vec::new(), state));
        }
        return Err(format!(
            "the snapshot's membership (log index {target_index}) is older than this member's (log index {}) and differs from it",
            base.index.unwrap_or_default()
        ));
    }
    let mut state = base.clone();
    let mut last = None;
    let mut walked = Vec::new();
    for r in history {
        if base.index.is_some_and(|i| r.log_index <= i) {
            continue;
        }
        if r.log_index > target_index {
            return Err(format!(
                "the snapshot's history goes past its membership (log index {} after {target_index})",
                r.log_index
            ));
        }
        walk_record(chain_id, &mut state, &mut last, r)?;
        walked.push(r.clone());
    }
    if state.index != Some(target_index) {
        return Err(match state.index {
            Some(i) => format!(
                "the snapshot's history ends at the membership of log index {i}, not at the snapshot's (log index {target_index}): the changes between are not proven"
            ),
            None => format!(
                "the snapshot's history does not reach its membership (log index {target_index}) from the genesis: the changes are not proven"
            ),
        });
    }
    if state.configs.as_slice() != target.configs || state.nodes != *target.nodes {
        return Err(format!(
            "the snapshot's membership {:?} is not the one its history arrives at ({:?}, with its members' keys and URLs)",
            target.configs, state.configs
        ));
    }
    match target.pending {
        Some(req) if state.pending.as_ref() != Some(req) => state
            .admit(chain_id, req)
            .map_err(|e| format!("the snapshot's pending membership request: {e}"))?,
        Some(_) => {}
        None => state.pending = None,
    }
    Ok((walked, state))
}

/// The voters in force at block `height` in a verified history (the last entry that begins at
/// or before it).
pub fn voters_at(history: &[VotersFrom], height: u64) -> Option<&VotersFrom> {
    history.iter().rev().find(|v| v.first_height <= height)
}

#[cfg(test)]
mod tests {
    use want_crypto::NodeKey;

    use super::*;
    use crate::raft::approval::approve;

    const CHAIN: u64 = 5;

    fn node(key: &NodeKey, id: u64) -> MemberNode {
        member(
            &hex::encode(key.public_key()),
            &format!("http://10.0.0.{id}:7000"),
        )
    }

    /// Three voters (ids 1..=3) at log index 0, and keys for ids 1..=4.
    fn three() -> (Vec<NodeKey>, MembershipState) {
        let keys: Vec<NodeKey> = (0..4).map(|_| NodeKey::generate()).collect();
        let state = MembershipState {
            index: Some(0),
            configs: vec![[1, 2, 3].into()],
            nodes: (1..=3)
                .map(|i| (i, node(&keys[i as usize - 1], i)))
                .collect(),
            pending: None,
        };
        (keys, state)
    }

    fn request(
        keys: &[NodeKey],
        signers: &[u64],
        at: Option<u64>,
        cmd: AdminCommand,
    ) -> AdminRequest {
        AdminRequest {
            approvals: signers
                .iter()
                .map(|i| approve(CHAIN, at, &cmd, *i, &keys[*i as usize - 1]))
                .collect(),
            cmd,
            membership_index: at,
        }
    }

    fn add_4(keys: &[NodeKey]) -> AdminCommand {
        let n = node(&keys[3], 4);
        AdminCommand::AddMember {
            id: 4,
            public_key: n.public_key,
            url: n.addr,
        }
    }

    #[test]
    fn a_change_may_not_give_a_member_a_key_another_member_holds() {
        let nodes: BTreeMap<u64, MemberNode> = [
            (1, member("aa11", "http://a")),
            (2, member("bb22", "http://b")),
        ]
        .into();
        let set = |id: u64, key: &str| AdminCommand::SetMemberKey {
            id,
            public_key: key.into(),
            url: "http://x".into(),
        };
        assert!(key_not_taken(&set(2, "AA11"), &nodes).is_err());
        assert!(
            key_not_taken(&set(1, "aa11"), &nodes).is_ok(),
            "its own key"
        );
        assert!(key_not_taken(&set(2, "cc33"), &nodes).is_ok());
        let add = AdminCommand::AddMember {
            id: 3,
            public_key: "bb22".into(),
            url: "http://c".into(),
        };
        assert!(key_not_taken(&add, &nodes).is_err());
        assert!(key_not_taken(&AdminCommand::RemoveMember { id: 2 }, &nodes).is_ok());
    }

    #[test]
    fn a_membership_entry_without_an_approved_request_is_refused() {
        let (keys, state) = three();
        // A leader re-keys node 2 to a key it holds, with no request at all.
        let mut nodes = state.nodes.clone();
        nodes.insert(2, node(&keys[3], 2));
        let err = state.check(&state.configs, &nodes).unwrap_err();
        assert!(err.contains("without a request approved"), "{err}");
        // Or drops node 3 from the voters.
        let joint = vec![[1, 2, 3].into(), [1, 2].into()];
        assert!(state.check(&joint, &state.nodes).is_err());
    }

    #[test]
    fn a_request_signed_by_one_voter_of_three_does_not_authorise() {
        let (keys, mut state) = three();
        let req = request(&keys, &[1], Some(0), AdminCommand::RemoveMember { id: 3 });
        let err = state.admit(CHAIN, &req).unwrap_err();
        assert!(err.contains("majority"), "{err}");
        assert_eq!(state.pending, None);
    }

    #[test]
    fn an_approved_removal_allows_its_joint_step_then_the_completion_only() {
        let (keys, mut state) = three();
        let req = request(
            &keys,
            &[1, 2],
            Some(0),
            AdminCommand::RemoveMember { id: 3 },
        );
        state.admit(CHAIN, &req).unwrap();
        // Not another change.
        let other = vec![[1, 2, 3].into(), [1, 3].into()];
        assert!(state.check(&other, &state.nodes).is_err());
        let joint: Vec<BTreeSet<u64>> = vec![[1, 2, 3].into(), [1, 2].into()];
        assert_eq!(state.check(&joint, &state.nodes), Ok(Step::Authorized));
        let nodes = state.nodes.clone();
        state.enter(5, joint, nodes, Some(Step::Authorized));
        assert_eq!(state.pending, None);
        let mut fewer = state.nodes.clone();
        fewer.remove(&3);
        assert_eq!(
            state.check(&[[1, 2].into()], &fewer),
            Ok(Step::CompletesJoint)
        );
        // The completion cannot slip in a new key.
        fewer.insert(2, node(&keys[3], 2));
        assert!(state.check(&[[1, 2].into()], &fewer).is_err());
    }

    #[test]
    fn completing_a_joint_change_drops_only_the_voters_that_leave() {
        let (keys, mut state) = three();
        // Node 4 is a learner while node 3 is removed.
        state.nodes.insert(4, node(&keys[3], 4));
        state.configs = vec![[1, 2, 3].into(), [1, 2].into()];
        let mut without_3 = state.nodes.clone();
        without_3.remove(&3);
        assert_eq!(
            state.check(&[[1, 2].into()], &without_3),
            Ok(Step::CompletesJoint)
        );
        let mut without_learner = without_3.clone();
        without_learner.remove(&4);
        assert!(state.check(&[[1, 2].into()], &without_learner).is_err());
    }

    #[test]
    fn an_approved_addition_allows_the_learner_then_the_voter_step() {
        let (keys, mut state) = three();
        state
            .admit(CHAIN, &request(&keys, &[2, 3], Some(0), add_4(&keys)))
            .unwrap();
        let mut with_4 = state.nodes.clone();
        with_4.insert(4, node(&keys[3], 4));
        let configs = state.configs.clone();
        assert_eq!(state.check(&configs, &with_4), Ok(Step::Authorized));
        state.enter(3, configs, with_4.clone(), Some(Step::Authorized));
        assert!(state.pending.is_some(), "the voter step is still to come");
        let joint: Vec<BTreeSet<u64>> = vec![[1, 2, 3].into(), [1, 2, 3, 4].into()];
        assert_eq!(state.check(&joint, &with_4), Ok(Step::Authorized));
        state.enter(4, joint, with_4.clone(), Some(Step::Authorized));
        assert_eq!(state.pending, None);
        assert_eq!(
            state.check(&[[1, 2, 3, 4].into()], &with_4),
            Ok(Step::CompletesJoint)
        );
    }

    #[test]
    fn approvals_signed_for_an_older_membership_do_not_authorise() {
        let (keys, mut state) = three();
        state.index = Some(9);
        let req = request(
            &keys,
            &[1, 2, 3],
            Some(0),
            AdminCommand::RemoveMember { id: 3 },
        );
        let err = state.admit(CHAIN, &req).unwrap_err();
        assert!(err.contains("sign the change again"), "{err}");
    }

    fn record(state: &MembershipState, index: u64, height: u64) -> MembershipRecord {
        MembershipRecord::new(index, height, state, state, &Ok(Step::Unchanged))
    }

    /// The genesis (three voters), and a history that removes node 3 with the approvals of
    /// nodes 1 and 2: the initial membership (log index 0), the joint step (7), its completion
    /// (8). Returns the state after it too.
    fn removal_history() -> (
        Vec<NodeKey>,
        MembershipState,
        Vec<MembershipRecord>,
        MembershipState,
    ) {
        let (keys, genesis) = three();
        let genesis = MembershipState {
            index: None,
            ..genesis
        };
        let mut state = genesis.clone();
        let initial = record(&state, 0, 1);
        state.enter(
            0,
            state.configs.clone(),
            state.nodes.clone(),
            Some(Step::Initial),
        );
        let req = request(
            &keys,
            &[1, 2],
            Some(0),
            AdminCommand::RemoveMember { id: 3 },
        );
        state.admit(CHAIN, &req).unwrap();
        let before = state.clone();
        let joint: Vec<BTreeSet<u64>> = vec![[1, 2, 3].into(), [1, 2].into()];
        state.enter(7, joint, state.nodes.clone(), Some(Step::Authorized));
        let joint_rec = MembershipRecord::new(7, 10, &before, &state, &Ok(Step::Authorized));
        let mut fewer = state.nodes.clone();
        fewer.remove(&3);
        let before = state.clone();
        state.enter(8, vec![[1, 2].into()], fewer, Some(Step::CompletesJoint));
        let done = MembershipRecord::new(8, 10, &before, &state, &Ok(Step::CompletesJoint));
        (keys, genesis, vec![initial, joint_rec, done], state)
    }

    #[test]
    fn a_history_with_an_approved_change_verifies_and_gives_the_voters_by_height() {
        let (keys, genesis, history, _) = removal_history();
        let voters = verify_history(CHAIN, &genesis, &history).unwrap();
        assert_eq!(voters_at(&voters, 9).unwrap().keys.len(), 3);
        let at_10 = voters_at(&voters, 10).unwrap();
        assert_eq!(at_10.log_index, Some(8));
        assert_eq!(at_10.keys.len(), 2);
        assert!(!at_10.keys.contains(&keys[2].public_key()));

        // The same change approved by node 1 alone (a leader's key) is refused.
        let mut forged = history.clone();
        forged[1].authorization = Some(request(
            &keys,
            &[1],
            Some(0),
            AdminCommand::RemoveMember { id: 3 },
        ));
        let err = verify_history(CHAIN, &genesis, &forged).unwrap_err();
        assert!(
            err.contains("log index 7") && err.contains("majority"),
            "{err}"
        );
        // Without any approval.
        forged[1].authorization = None;
        assert!(verify_history(CHAIN, &genesis, &forged).is_err());
        // Or a first membership with a learner the genesis does not name.
        let mut with_learner = history.clone();
        with_learner[0].members.push(RecordedMember {
            id: 4,
            public_key: hex::encode(keys[3].public_key()),
            url: "http://10.0.0.4:7000".into(),
            voter: false,
        });
        let err = verify_history(CHAIN, &genesis, &with_learner).unwrap_err();
        assert!(err.contains("first membership"), "{err}");
        // Or a first membership that is not the genesis.
        let mut other_start = history.clone();
        other_start[0].members[0].public_key = hex::encode(keys[3].public_key());
        assert!(verify_history(CHAIN, &genesis, &other_start).is_err());
        // Or one that sends another member's traffic to an address the leader chose.
        let mut moved = history.clone();
        moved[0].members[1].url = "http://203.0.113.9:7000".into();
        let err = verify_history(CHAIN, &genesis, &moved).unwrap_err();
        assert!(err.contains("first membership"), "{err}");
    }

    fn target_of(state: &MembershipState) -> SnapshotMembership<'_> {
        SnapshotMembership {
            index: state.index,
            configs: &state.configs,
            nodes: &state.nodes,
            pending: None,
            last_log_index: None,
        }
    }

    #[test]
    fn a_snapshot_membership_proven_by_its_history_is_taken_from_any_earlier_membership() {
        let (_, genesis, history, end) = removal_history();
        // A member that applied the initial membership walks the two changes after it.
        let mut initial = genesis.clone();
        initial.enter(
            0,
            genesis.configs.clone(),
            genesis.nodes.clone(),
            Some(Step::Initial),
        );
        let (walked, state) =
            verify_snapshot_membership(CHAIN, &initial, &history, &target_of(&end)).unwrap();
        assert_eq!(
            walked.iter().map(|r| r.log_index).collect::<Vec<_>>(),
            [7, 8]
        );
        assert_eq!(state, end);
        // A member that applied nothing walks from the genesis.
        let (walked, _) =
            verify_snapshot_membership(CHAIN, &genesis, &history, &target_of(&end)).unwrap();
        assert_eq!(walked.len(), 3);
        // One already at the snapshot's membership needs no record.
        let (walked, _) = verify_snapshot_membership(CHAIN, &end, &[], &target_of(&end)).unwrap();
        assert!(walked.is_empty());
    }

    #[test]
    fn a_snapshot_membership_its_history_does_not_prove_is_refused() {
        let (keys, genesis, history, end) = removal_history();
        let mut initial = genesis.clone();
        initial.enter(
            0,
            genesis.configs.clone(),
            genesis.nodes.clone(),
            Some(Step::Initial),
        );
        // The attacker's membership (node 2 re-keyed to a key it holds) with no history.
        let mut stolen = initial.nodes.clone();
        stolen.insert(2, node(&keys[3], 2));
        let forged = SnapshotMembership {
            index: Some(9),
            configs: &initial.configs,
            nodes: &stolen,
            pending: None,
            last_log_index: Some(12),
        };
        let err = verify_snapshot_membership(CHAIN, &initial, &[], &forged).unwrap_err();
        assert!(err.contains("not proven"), "{err}");
        // The honest history, but a snapshot membership other than where it leads.
        let mut other_nodes = end.nodes.clone();
        other_nodes.insert(2, node(&keys[3], 2));
        let other = SnapshotMembership {
            nodes: &other_nodes,
            ..target_of(&end)
        };
        let err = verify_snapshot_membership(CHAIN, &initial, &history, &other).unwrap_err();
        assert!(err.contains("not the one its history arrives at"), "{err}");
        // A history whose change one voter approved alone.
        let mut one_signer = history.clone();
        one_signer[1].authorization = Some(request(
            &keys,
            &[1],
            Some(0),
            AdminCommand::RemoveMember { id: 3 },
        ));
        let err =
            verify_snapshot_membership(CHAIN, &initial, &one_signer, &target_of(&end)).unwrap_err();
        assert!(err.contains("majority"), "{err}");
        // A snapshot whose membership is older than the member's own, and other.
        let err =
            verify_snapshot_membership(CHAIN, &end, &history, &target_of(&initial)).unwrap_err();
        assert!(err.contains("older"), "{err}");
        // Older but the same (a member a faulty leader moved ahead): taken, nothing walked.
        let same_older = MembershipState {
            index: Some(5),
            ..end.clone()
        };
        let (walked, state) =
            verify_snapshot_membership(CHAIN, &end, &history, &target_of(&same_older)).unwrap();
        assert!(walked.is_empty());
        assert_eq!(
            state.index,
            Some(5),
            "the snapshot's index, as the cluster has it"
        );
        // A membership said to come after the snapshot's last entry.
        let beyond = SnapshotMembership {
            last_log_index: Some(7),
            ..target_of(&end)
        };
        let err = verify_snapshot_membership(CHAIN, &initial, &history, &beyond).unwrap_err();
        assert!(err.contains("after the snapshot's last entry"), "{err}");
        // Approvals on a record of a step that needs none.
        let mut on_unchanged = history.clone();
        on_unchanged[2].authorization = history[1].authorization.clone();
        let err = verify_snapshot_membership(CHAIN, &initial, &on_unchanged, &target_of(&end))
            .unwrap_err();
        assert!(err.contains("needs none"), "{err}");
        // A history that runs past the snapshot's membership.
        let joint_target = MembershipState {
            index: Some(7),
            ..end.clone()
        };
        let err = verify_snapshot_membership(CHAIN, &initial, &history, &target_of(&joint_target))
            .unwrap_err();
        assert!(err.contains("goes past"), "{err}");
        // A member that knows no membership at all cannot check.
        assert!(verify_snapshot_membership(
            CHAIN,
            &MembershipState::default(),
            &history,
            &target_of(&end)
        )
        .is_err());
    }

    #[test]
    fn a_snapshot_carries_its_pending_request_only_when_the_voters_approved_it() {
        let (keys, genesis, history, end) = removal_history();
        let add = AdminCommand::AddMember {
            id: 3,
            public_key: hex::encode(keys[2].public_key()),
            url: "http://10.0.0.3:7000".into(),
        };
        let approved = request(&keys, &[1, 2], Some(8), add.clone());
        let target = SnapshotMembership {
            pending: Some(&approved),
            ..target_of(&end)
        };
        let (_, state) = verify_snapshot_membership(CHAIN, &genesis, &history, &target).unwrap();
        assert_eq!(state.pending, Some(approved));
        let alone = request(&keys, &[1], Some(8), add);
        let target = SnapshotMembership {
            pending: Some(&alone),
            ..target_of(&end)
        };
        let err = verify_snapshot_membership(CHAIN, &genesis, &history, &target).unwrap_err();
        assert!(err.contains("pending") && err.contains("majority"), "{err}");
    }
}
