//! `want block verify HEIGHT`: checks a block's commit certificate offline — the block hash is
//! recomputed from the header and the signatures are verified against the genesis membership,
//! so a node can only prove what a majority of the members signed.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::{json, Value};
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

#[derive(Subcommand)]
pub enum BlockAction {
    /// Check a block's commit certificate offline against the genesis membership.
    Verify {
        /// Height of the block.
        height: String,
        /// The chain's genesis.json (default: the development genesis).
        #[arg(long)]
        genesis: Option<PathBuf>,
        #[command(flatten)]
        node: NodeArg,
    },
}

pub fn run(action: BlockAction, out: &Out) -> anyhow::Result<()> {
    match action {
        BlockAction::Verify {
            height,
            genesis,
            node,
        } => {
            let height: u64 = height.parse().map_err(|_| {
                CliError::new(
                    "invalid_height",
                    format!("{height:?} is not a block height; use a non-negative integer"),
                )
            })?;
            verify(height, genesis.as_deref(), &Client::new(&node.url)?, out)
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

/// The members whose signatures count, and where that list came from.
fn membership(genesis: &Genesis, header: &BlockHeader) -> (Vec<NodePublicKey>, &'static str) {
    if genesis.members.is_empty() {
        // A single-member chain: its only member is the node that proposes its blocks.
        let proposer = <NodePublicKey>::try_from(header.proposer.as_slice()).ok();
        return (proposer.into_iter().collect(), "block proposer");
    }
    let keys = genesis
        .members
        .iter()
        .filter_map(|m| {
            let mut k = [0u8; 32];
            hex::decode_to_slice(&m.public_key, &mut k).ok().map(|()| k)
        })
        .collect();
    (keys, "genesis")
}

fn verify(
    height: u64,
    genesis_path: Option<&Path>,
    client: &Client,
    out: &Out,
) -> anyhow::Result<()> {
    let genesis = read_genesis(genesis_path)?;
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

    let (cert_problems, check, members_source, state_root) =
        check_certificate_of(client, &genesis, &header)?;
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
/// the genesis membership: what is wrong (nothing when it proves the block committed), the
/// signature count, where the members came from, and the certified state root.
pub fn check_certificate_of(
    client: &Client,
    genesis: &Genesis,
    header: &BlockHeader,
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
    let (members, members_source) = membership(genesis, header);
    let check = want_crypto::check_certificate(&cert, &members);
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
