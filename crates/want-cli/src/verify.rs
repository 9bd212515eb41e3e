//! `want block verify HEIGHT`: checks a block's commit certificate offline — the block hash is
//! recomputed from the header and the signatures are verified against the voters in force at the
//! block's height, so a node can only prove what a majority of the members signed.
//!
//! The voters at a height come from the membership history (the node's
//! `GET /v1/cluster/membership/history`, or `--membership FILE` for fully offline use), checked
//! from the genesis on: each change must carry the approvals of a majority of the voters before
//! it (`want_consensus::raft::authority::verify_history`). A node that serves no history (an older
//! build) leaves the genesis members.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::{json, Value};
use want_consensus::raft::authority::{
    self, MembershipRecord, MembershipState, VotersFrom, HISTORY_RECORDS_MAX,
};
use want_crypto::CertificateCheck;
use want_node::Genesis;
use want_types::{
    Block, BlockHeader, Certificate, CommitVote, Hash32, NodePublicKey, SignedTransaction,
    VoteSignature,
};

use crate::client::Client;
use crate::output::{CliError, Out, ALREADY_REPORTED};
use crate::NodeArg;

/// Largest genesis file read, in bytes.
const GENESIS_FILE_BYTES_MAX: u64 = 16 * 1024 * 1024;
/// Largest membership history file read, in bytes.
const MEMBERSHIP_FILE_BYTES_MAX: u64 = 64 * 1024 * 1024;

#[derive(Subcommand)]
pub enum BlockAction {
    /// Check a block's commit certificate offline against the voters in force at its height.
    Verify {
        /// Height of the block.
        height: String,
        /// The chain's genesis.json (default: the development genesis).
        #[arg(long)]
        genesis: Option<PathBuf>,
        /// The membership history (the JSON of GET /v1/cluster/membership/history, or its
        /// `records` list) instead of asking the node for it.
        #[arg(long)]
        membership: Option<PathBuf>,
        #[command(flatten)]
        node: NodeArg,
    },
}

pub fn run(action: BlockAction, out: &Out) -> anyhow::Result<()> {
    match action {
        BlockAction::Verify {
            height,
            genesis,
            membership,
            node,
        } => {
            let height: u64 = height.parse().map_err(|_| {
                CliError::new(
                    "invalid_height",
                    format!("{height:?} is not a block height; use a non-negative integer"),
                )
            })?;
            verify(
                height,
                genesis.as_deref(),
                membership.as_deref(),
                &Client::new(&node.url)?,
                out,
            )
        }
    }
}

pub fn read_genesis(path: Option<&Path>) -> anyhow::Result<Genesis> {
    let Some(path) = path else {
        return Ok(Genesis::dev());
    };
    let text = crate::read_text_file(path, GENESIS_FILE_BYTES_MAX)?;
    let de = &mut serde_json::Deserializer::from_str(&text);
    let genesis: Genesis = serde_path_to_error::deserialize(de).map_err(|e| {
        CliError::new(
            "invalid_genesis",
            format!("{} at `{}`: {}", path.display(), e.path(), e.inner()),
        )
    })?;
    genesis
        .validate_members()
        .map_err(|e| CliError::new("invalid_genesis", format!("{}: {e}", path.display())))?;
    Ok(genesis)
}

fn bad_response(what: &str, e: impl std::fmt::Display) -> anyhow::Error {
    CliError::new(
        "bad_response",
        format!("the node's {what} is malformed: {e}"),
    )
    .into()
}

fn field<T: serde::de::DeserializeOwned>(v: &Value, key: &str, what: &str) -> anyhow::Result<T> {
    serde_json::from_value(v[key].clone()).map_err(|e| bad_response(&format!("{what}.{key}"), e))
}

/// The voters whose signatures count for a block, and where they came from.
pub struct Voters {
    pub keys: Vec<NodePublicKey>,
    /// `genesis`, `membership history` or `block proposer`.
    pub source: &'static str,
    /// Log index of the membership change in force (None: the genesis).
    pub log_index: Option<u64>,
    /// Membership changes checked from the genesis.
    pub changes_checked: usize,
    /// Why the history could not be trusted (the certificate is then not valid).
    pub problem: Option<String>,
}

/// The membership history to check: `file` if given, else the node's (None if it serves none).
pub fn load_history(
    client: &Client,
    file: Option<&Path>,
) -> anyhow::Result<Option<Vec<MembershipRecord>>> {
    if let Some(path) = file {
        let text = crate::read_text_file(path, MEMBERSHIP_FILE_BYTES_MAX)?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| CliError::new("invalid_membership", format!("{}: {e}", path.display())))?;
        let list = if v.is_array() {
            v
        } else {
            v["records"].clone()
        };
        let records: Vec<MembershipRecord> = serde_json::from_value(list).map_err(|e| {
            CliError::new(
                "invalid_membership",
                format!(
                    "{}: not a membership history (a `records` list as GET /v1/cluster/membership/history answers): {e}",
                    path.display()
                ),
            )
        })?;
        return Ok(Some(records));
    }
    let mut records: Vec<MembershipRecord> = Vec::new();
    let mut after: Option<u64> = None;
    loop {
        let path = match after {
            None => "/v1/cluster/membership/history".to_string(),
            Some(a) => format!("/v1/cluster/membership/history?after={a}"),
        };
        let page = match client.get(&path) {
            Ok(page) => page,
            Err(e)
                if e.downcast_ref::<CliError>()
                    .is_some_and(|c| c.code == "not_found") =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        records.extend(field::<Vec<MembershipRecord>>(
            &page,
            "records",
            "membership history",
        )?);
        if records.len() > HISTORY_RECORDS_MAX {
            return Err(bad_response(
                "membership history",
                format!("more than {HISTORY_RECORDS_MAX} records"),
            ));
        }
        match page["next_after"].as_u64() {
            Some(next) if after.is_none_or(|a| next > a) => after = Some(next),
            _ => return Ok(Some(records)),
        }
    }
}

/// The genesis members as the membership walk starts from them.
fn genesis_state(genesis: &Genesis) -> MembershipState {
    MembershipState::genesis(genesis.member_nodes())
}

/// The voters whose signatures count for the block of `header`: from the membership history
/// checked from the genesis (`history`: None when the node serves none), else the genesis.
pub fn voters_for(
    genesis: &Genesis,
    header: &BlockHeader,
    history: Option<&[MembershipRecord]>,
) -> Voters {
    if genesis.members.is_empty() {
        // A single-member chain: its only member is the node that proposes its blocks.
        let proposer = <NodePublicKey>::try_from(header.proposer.as_slice()).ok();
        return Voters {
            keys: proposer.into_iter().collect(),
            source: "block proposer",
            log_index: None,
            changes_checked: 0,
            problem: None,
        };
    }
    let start = genesis_state(genesis);
    let genesis_voters = Voters {
        keys: start.voter_keys(),
        source: "genesis",
        log_index: None,
        changes_checked: 0,
        problem: None,
    };
    let Some(records) = history else {
        return genesis_voters;
    };
    match authority::verify_history(genesis.params.chain_id, &start, records) {
        Err(e) => Voters {
            problem: Some(format!("the membership history does not verify: {e}")),
            ..genesis_voters
        },
        Ok(verified) => match authority::voters_at(&verified, header.height) {
            Some(VotersFrom {
                log_index: Some(index),
                keys,
                ..
            }) => Voters {
                keys: keys.clone(),
                source: "membership history",
                log_index: Some(*index),
                changes_checked: records.len(),
                problem: None,
            },
            _ => Voters {
                changes_checked: records.len(),
                ..genesis_voters
            },
        },
    }
}

fn verify(
    height: u64,
    genesis_path: Option<&Path>,
    membership_path: Option<&Path>,
    client: &Client,
    out: &Out,
) -> anyhow::Result<()> {
    let genesis = read_genesis(genesis_path)?;
    let history = load_history(client, membership_path)?;
    let chain_id = genesis.params.chain_id;
    let b = client.get(&format!("/v1/blocks/{height}?full=true"))?;
    let header: BlockHeader = field(&b, "header", "block")?;
    let txs: Vec<SignedTransaction> = field(&b, "transactions", "block")?;
    let signature = hex::decode(b["signature"].as_str().unwrap_or_default())
        .map_err(|e| bad_response("block.signature", e))?;
    let block_hash = header.hash();
    let mut problems: Vec<String> = Vec::new();
    if header.height != height {
        problems.push(format!(
            "the node returned block {} for height {height}",
            header.height
        ));
    }
    if header.chain_id != chain_id {
        problems.push(format!(
            "the block belongs to chain {}; the genesis is chain {chain_id}",
            header.chain_id
        ));
    }
    if b["hash"].as_str() != Some(block_hash.to_hex().as_str()) {
        problems.push(format!(
            "the node says the block hash is {}, but the header hashes to {block_hash}",
            b["hash"]
        ));
    }
    let ids: Vec<Hash32> = txs.iter().map(SignedTransaction::id).collect();
    if ids.len() != header.tx_count as usize || want_crypto::merkle_root(&ids) != header.tx_root {
        problems.push("the transactions do not match the header's tx_root and tx_count".into());
    }
    if height > 0 {
        let block = Block {
            header: header.clone(),
            signature,
            txs,
        };
        if let Err(e) = want_crypto::verify_block_signature(&block) {
            problems.push(format!("the proposer's signature: {e}"));
        }
    }

    let voters = voters_for(&genesis, &header, history.as_deref());
    let (membership_log_index, changes_checked) = (voters.log_index, voters.changes_checked);
    let (cert_problems, check, members_source, state_root) =
        check_certificate_with(client, &genesis, &header, voters)?;
    problems.extend(cert_problems);
    let valid = problems.is_empty();
    let mut v = json!({
        "height": height,
        "block_hash": block_hash,
        "state_root": state_root,
        "valid": valid,
        "signers": check.signers.iter().map(hex::encode).collect::<Vec<_>>(),
        "required": check.required,
        "members": check.members,
        "members_source": members_source,
        "membership_log_index": membership_log_index,
        "membership_changes_checked": changes_checked,
    });
    if members_source == "block proposer" {
        v["note"] = json!("the genesis names no members (a single-member chain): the block's proposer key is taken as the only member, so the certificate proves only that the node that made the block vouches for its state");
    }
    if !check.not_counted.is_empty() {
        v["not_counted"] = json!(check.describe_not_counted());
    }
    if !valid {
        v["error"] = json!({"code": "certificate_invalid", "message": problems.join("; ")});
    }
    out.value(&v, |v| {
        let mut s = format!(
            "block    {}\nhash     {}\nstate    {}\nvalid    {}\nsigners  {} of {} members ({} required, members from {})",
            v["height"],
            v["block_hash"].as_str().unwrap_or_default(),
            v["state_root"].as_str().unwrap_or_default(),
            v["valid"],
            check.signers.len(),
            check.members,
            check.required,
            members_source,
        );
        if let Some(note) = v["note"].as_str() {
            s.push_str(&format!("\nnote     {note}"));
        }
        if let Some(e) = v["error"]["message"].as_str() {
            s.push_str(&format!("\nproblem  {e}"));
        }
        s
    });
    if valid {
        Ok(())
    } else {
        // The report (with its error) was printed as the result; exit non-zero.
        Err(CliError::new(ALREADY_REPORTED, "").into())
    }
}

/// Fetches the commit certificate of the block whose header is `header` and checks it against
/// `voters` (those in force at its height: [`voters_for`]): what is wrong (nothing when it
/// proves the block committed), the signature count, where the members came from, and the
/// certified state root.
pub fn check_certificate_with(
    client: &Client,
    genesis: &Genesis,
    header: &BlockHeader,
    voters: Voters,
) -> anyhow::Result<(Vec<String>, CertificateCheck, &'static str, Hash32)> {
    let height = header.height;
    let block_hash = header.hash();
    let mut problems = Vec::new();
    let c = client.get(&format!("/v1/blocks/{height}/certificate"))?;
    let cert_hash: Hash32 = field(&c, "block_hash", "certificate")?;
    let cert = Certificate {
        vote: CommitVote {
            chain_id: genesis.params.chain_id,
            height: field(&c, "height", "certificate")?,
            block_hash: cert_hash,
            state_root: field(&c, "state_root", "certificate")?,
        },
        signatures: field::<Vec<VoteSignature>>(&c, "signatures", "certificate")?,
    };
    if cert.vote.height != height {
        problems.push(format!(
            "the certificate is for height {}, not {height}",
            cert.vote.height
        ));
    }
    if cert_hash != block_hash {
        problems.push(format!(
            "the certificate signs block {cert_hash}, but the block's header hashes to {block_hash}"
        ));
    }
    if let Some(p) = voters.problem {
        problems.push(p);
    }
    let check = want_crypto::check_certificate(&cert, &voters.keys);
    let members_source = voters.source;
    if !check.is_valid() {
        problems.push(signature_problem(&check));
    }
    Ok((problems, check, members_source, cert.vote.state_root))
}

fn signature_problem(check: &CertificateCheck) -> String {
    let mut s = format!(
        "{} valid signature(s) of distinct members; {} of {} are required",
        check.signers.len(),
        check.required,
        check.members
    );
    if !check.not_counted.is_empty() {
        s.push_str(&format!("; not counted: {}", check.describe_not_counted()));
    }
    s
}

#[cfg(test)]
mod tests {
    use want_consensus::raft::approval::{approve, AdminRequest};
    use want_consensus::raft::authority::Step;
    use want_consensus::AdminCommand;
    use want_crypto::NodeKey;
    use want_node::config::GenesisMember;

    use super::*;

    fn header(height: u64) -> BlockHeader {
        BlockHeader {
            chain_id: 0,
            height,
            prev_hash: Hash32([0; 32]),
            timestamp_ms: 0,
            tx_root: Hash32([0; 32]),
            tx_count: 0,
            parent_state_root: Hash32([0; 32]),
            proposer: vec![],
        }
    }

    /// A three-member genesis, and the history of removing member 3 from block 20 on, approved
    /// by `signers`.
    fn chain(signers: &[u64]) -> (Vec<NodeKey>, Genesis, Vec<MembershipRecord>) {
        let keys: Vec<NodeKey> = (0..3).map(|_| NodeKey::generate()).collect();
        let mut genesis = Genesis::dev();
        genesis.members = (1..=3u64)
            .map(|id| GenesisMember {
                id,
                public_key: hex::encode(keys[id as usize - 1].public_key()),
                url: format!("http://10.0.0.{id}:7000"),
            })
            .collect();
        let chain_id = genesis.params.chain_id;
        let mut state = genesis_state(&genesis);
        let initial = MembershipRecord::new(0, 1, &state, &state, &Ok(Step::Initial));
        state.enter(
            0,
            state.configs.clone(),
            state.nodes.clone(),
            Some(Step::Initial),
        );
        let cmd = AdminCommand::RemoveMember { id: 3 };
        let req = AdminRequest {
            approvals: signers
                .iter()
                .map(|i| approve(chain_id, Some(0), &cmd, *i, &keys[*i as usize - 1]))
                .collect(),
            cmd,
            membership_index: Some(0),
        };
        // Forged or not, the record carries the request as a leader would write it.
        let before = MembershipState {
            pending: Some(req),
            ..state.clone()
        };
        let joint = vec![[1, 2, 3].into(), [1, 2].into()];
        let mut after = before.clone();
        after.enter(9, joint, before.nodes.clone(), Some(Step::Authorized));
        let removal = MembershipRecord::new(9, 20, &before, &after, &Ok(Step::Authorized));
        let mut done = after.clone();
        done.nodes.remove(&3);
        done.enter(
            10,
            vec![[1, 2].into()],
            done.nodes.clone(),
            Some(Step::CompletesJoint),
        );
        let completion = MembershipRecord::new(10, 20, &after, &done, &Ok(Step::CompletesJoint));
        (keys, genesis, vec![initial, removal, completion])
    }

    #[test]
    fn a_history_approved_by_a_majority_gives_the_voters_at_each_height() {
        let (keys, genesis, history) = chain(&[1, 2]);
        let before = voters_for(&genesis, &header(19), Some(&history));
        assert_eq!(before.problem, None);
        assert_eq!(before.keys.len(), 3);
        let after = voters_for(&genesis, &header(20), Some(&history));
        assert_eq!(after.problem, None);
        assert_eq!(after.source, "membership history");
        assert_eq!(after.log_index, Some(10));
        assert_eq!(after.changes_checked, 3);
        assert!(!after.keys.contains(&keys[2].public_key()));
        assert_eq!(after.keys.len(), 2);
        // Without a history (an older node): the genesis members.
        let old = voters_for(&genesis, &header(20), None);
        assert_eq!((old.source, old.keys.len()), ("genesis", 3));
    }

    #[test]
    fn a_history_whose_change_one_member_signed_alone_is_refused() {
        let (_, genesis, history) = chain(&[1]);
        let v = voters_for(&genesis, &header(20), Some(&history));
        let problem = v.problem.unwrap();
        assert!(
            problem.contains("log index 9") && problem.contains("majority"),
            "{problem}"
        );
    }
}
