//! Membership changes need a majority: an [`AdminCommand`] takes effect only when the voters who
//! signed it — the approvals it carries, the sending member's own among them ([`send_admin`]
//! adds it) — are a majority of every voter set of the current membership. The one exception: a
//! member replacing its own key and URL (`SetMemberKey` for its own id, approved by its current
//! key).
//!
//! Only signatures count, never who sent the request: the leader writes the request into the
//! log, and every member checks the approvals again from the log alone before it appends the
//! membership entries (see [`super::authority`]).
//!
//! [`send_admin`]: super::send_admin
//!
//! An approval is an Ed25519 signature of a voter's node key over the chain, the command and the
//! log index of the membership it changes, so it cannot be reused for another change nor after
//! the membership moved on. Operators collect them off-line (`want cluster … --approve-only` on
//! each voter's machine prints one; `--approval ID:HEX` passes them).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use want_crypto::NodeKey;
use want_types::hash::sha256;

use super::guard::VoterView;
use super::AdminCommand;

/// Domain separator of an approval signature.
const APPROVAL_DOMAIN: &[u8] = b"WANT-membership-change-v2";
/// Most approvals one request may carry.
pub const APPROVALS_MAX: usize = 64;

/// A membership change as a member sends it to the leader.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminRequest {
    pub cmd: AdminCommand,
    /// Log index of the membership the change applies to (None before any).
    pub membership_index: Option<u64>,
    /// Other voters' approvals.
    pub approvals: Vec<Approval>,
}

/// One voter's approval of a change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub member: u64,
    /// Ed25519 signature over [`approval_digest`].
    pub signature: Vec<u8>,
}

impl Approval {
    /// `ID:HEX`, as operators pass it around.
    pub fn to_text(&self) -> String {
        format!("{}:{}", self.member, hex::encode(&self.signature))
    }

    /// Reads `ID:HEX`.
    pub fn from_text(text: &str) -> Result<Approval, String> {
        let (id, sig) = text
            .trim()
            .split_once(':')
            .ok_or_else(|| format!("approval {text:?} is not ID:HEX"))?;
        let member = id
            .parse()
            .map_err(|_| format!("approval {text:?}: {id:?} is not a member id"))?;
        let signature = hex::decode(sig)
            .ok()
            .filter(|s| s.len() == 64)
            .ok_or_else(|| format!("approval {text:?}: the signature must be 128 hex digits"))?;
        Ok(Approval { member, signature })
    }
}

/// What voter `member` signs to approve `cmd` on chain `chain_id` at membership
/// `membership_index`: the approver's id is signed too, so one key's signature counts for the
/// one member that signed it (not for another member holding the same key).
pub fn approval_digest(
    chain_id: u64,
    membership_index: Option<u64>,
    cmd: &AdminCommand,
    member: u64,
) -> [u8; 32] {
    let mut bytes = APPROVAL_DOMAIN.to_vec();
    bytes.extend(chain_id.to_le_bytes());
    bytes.extend(member.to_le_bytes());
    bytes.extend(
        postcard::to_allocvec(&(membership_index, cmd))
            .expect("invariant: postcard encoding into a Vec cannot fail"),
    );
    sha256(&bytes).0
}

/// Member `member`'s approval of `cmd`, signed with its node key.
pub fn approve(
    chain_id: u64,
    membership_index: Option<u64>,
    cmd: &AdminCommand,
    member: u64,
    key: &NodeKey,
) -> Approval {
    Approval {
        member,
        signature: key
            .sign(&approval_digest(chain_id, membership_index, cmd, member))
            .to_vec(),
    }
}

/// Checks that the approvals of `req` authorise it to change the membership `voters` (at log
/// index `membership_index`): a majority of every voter set signed it, or, for `SetMemberKey`,
/// the member re-keyed itself.
pub fn authorize(
    chain_id: u64,
    req: &AdminRequest,
    membership_index: Option<u64>,
    voters: &VoterView,
) -> Result<(), String> {
    if req.membership_index != membership_index {
        return Err(format!(
            "the approvals were signed for the membership at log index {}, but it is now at {}: sign the change again",
            show(req.membership_index),
            show(membership_index)
        ));
    }
    if req.approvals.len() > APPROVALS_MAX {
        return Err(format!(
            "{} approvals; at most {APPROVALS_MAX}",
            req.approvals.len()
        ));
    }
    let mut signers = BTreeSet::new();
    let mut refused = Vec::new();
    for a in &req.approvals {
        if signers.contains(&a.member) {
            // One voter counts once: a second approval of it is not checked again.
            continue;
        }
        match voters
            .keys
            .get(&a.member)
            .filter(|_| voters.is_voter(a.member))
        {
            None => refused.push(format!("node {} is not a voter", a.member)),
            Some(key) => match want_crypto::verify_ed25519(
                key,
                &approval_digest(chain_id, membership_index, &req.cmd, a.member),
                &a.signature,
            ) {
                Ok(()) => {
                    signers.insert(a.member);
                }
                Err(_) => refused.push(format!(
                    "the approval of node {} does not verify against its key",
                    a.member
                )),
            },
        }
    }
    if voters.is_quorum(&signers) {
        return Ok(());
    }
    if let AdminCommand::SetMemberKey { id, .. } = &req.cmd {
        if signers.contains(id) {
            return Ok(());
        }
    }
    let mut msg = format!(
        "a membership change needs the approval of a majority of the voters {:?}; it has {signers:?}. Collect approvals on other voters' machines (`want cluster <same command> --approve-only`) and pass each with --approval ID:HEX",
        voters.configs
    );
    if !refused.is_empty() {
        msg.push_str(&format!(" (refused: {})", refused.join("; ")));
    }
    Err(msg)
}

fn show(index: Option<u64>) -> String {
    index.map_or_else(|| "none".into(), |i| i.to_string())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    const CHAIN: u64 = 3;

    fn setup(n: u64) -> (Vec<NodeKey>, VoterView) {
        let keys: Vec<NodeKey> = (0..n).map(|_| NodeKey::generate()).collect();
        let view = VoterView {
            configs: vec![(1..=n).collect()],
            keys: (1..=n)
                .map(|i| (i, keys[i as usize - 1].public_key()))
                .collect::<BTreeMap<_, _>>(),
        };
        (keys, view)
    }

    fn remove(id: u64) -> AdminCommand {
        AdminCommand::RemoveMember { id }
    }

    fn request(cmd: AdminCommand, at: Option<u64>, approvals: Vec<Approval>) -> AdminRequest {
        AdminRequest {
            cmd,
            membership_index: at,
            approvals,
        }
    }

    #[test]
    fn one_voter_alone_cannot_change_a_three_member_membership() {
        let (keys, view) = setup(3);
        let own = approve(CHAIN, Some(7), &remove(2), 1, &keys[0]);
        let err = authorize(
            CHAIN,
            &request(remove(2), Some(7), vec![own]),
            Some(7),
            &view,
        )
        .unwrap_err();
        assert!(err.contains("majority"), "{err}");
    }

    #[test]
    fn a_second_voters_approval_makes_a_majority_of_three() {
        let (keys, view) = setup(3);
        let own = approve(CHAIN, Some(7), &remove(2), 1, &keys[0]);
        let a = approve(CHAIN, Some(7), &remove(2), 3, &keys[2]);
        let req = request(remove(2), Some(7), vec![own, a.clone()]);
        assert_eq!(authorize(CHAIN, &req, Some(7), &view), Ok(()));
        // Who sends it does not count: only signatures do.
        let req = request(remove(2), Some(7), vec![a]);
        assert!(authorize(CHAIN, &req, Some(7), &view).is_err());
    }

    #[test]
    fn approvals_for_another_change_index_chain_or_key_do_not_count() {
        let (keys, view) = setup(3);
        let own = approve(CHAIN, Some(7), &remove(2), 1, &keys[0]);
        let cases = [
            approve(CHAIN, Some(7), &remove(3), 3, &keys[2]),
            approve(CHAIN, Some(6), &remove(2), 3, &keys[2]),
            approve(CHAIN + 1, Some(7), &remove(2), 3, &keys[2]),
            approve(CHAIN, Some(7), &remove(2), 3, &keys[0]),
        ];
        for a in cases {
            let req = request(remove(2), Some(7), vec![own.clone(), a.clone(), a]);
            assert!(authorize(CHAIN, &req, Some(7), &view).is_err());
        }
        // Signed for index 7, sent when the membership moved to 9.
        let a = approve(CHAIN, Some(7), &remove(2), 3, &keys[2]);
        let err = authorize(
            CHAIN,
            &request(remove(2), Some(7), vec![own, a]),
            Some(9),
            &view,
        )
        .unwrap_err();
        assert!(err.contains("sign the change again"), "{err}");
    }

    #[test]
    fn an_approval_counts_only_for_the_member_that_signed_it_even_with_a_shared_key() {
        let (keys, mut view) = setup(3);
        // Voter 3 holds voter 2's key (e.g. it re-keyed itself to it): voter 2's approval,
        // relabelled as voter 3's, must not count twice.
        view.keys.insert(3, keys[1].public_key());
        let two = approve(CHAIN, Some(7), &remove(1), 2, &keys[1]);
        let relabelled = Approval {
            member: 3,
            ..two.clone()
        };
        let req = request(remove(1), Some(7), vec![two, relabelled]);
        assert!(authorize(CHAIN, &req, Some(7), &view).is_err());
        // Signed as voter 3, it counts.
        let three = approve(CHAIN, Some(7), &remove(1), 3, &keys[1]);
        let two = approve(CHAIN, Some(7), &remove(1), 2, &keys[1]);
        let req = request(remove(1), Some(7), vec![two, three]);
        assert_eq!(authorize(CHAIN, &req, Some(7), &view), Ok(()));
    }

    #[test]
    fn a_member_replaces_its_own_key_alone_but_not_anothers() {
        let (keys, view) = setup(3);
        let own = AdminCommand::SetMemberKey {
            id: 2,
            public_key: "ab".repeat(32),
            url: "http://x".into(),
        };
        let by_2 = approve(CHAIN, Some(4), &own, 2, &keys[1]);
        let by_1 = approve(CHAIN, Some(4), &own, 1, &keys[0]);
        assert_eq!(
            authorize(
                CHAIN,
                &request(own.clone(), Some(4), vec![by_2]),
                Some(4),
                &view
            ),
            Ok(())
        );
        assert!(authorize(CHAIN, &request(own, Some(4), vec![by_1]), Some(4), &view).is_err());
    }

    #[test]
    fn approvals_read_back_from_text_and_bad_text_is_refused() {
        let (keys, _) = setup(1);
        let a = approve(CHAIN, None, &remove(1), 1, &keys[0]);
        assert_eq!(Approval::from_text(&a.to_text()), Ok(a));
        for bad in ["", "1", "x:00", "1:zz", "1:00"] {
            assert!(Approval::from_text(bad).is_err(), "{bad}");
        }
    }
}
