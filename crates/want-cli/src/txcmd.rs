//! `want tx …`: the kernel's transaction commands — broadcast signed transaction files (`send`,
//! e.g. signed offline on a cold machine) and look transactions up (`show`). Business modules
//! add the commands that build and sign their calls (`want tx transfer` comes from the token
//! module); see `crate::modules`.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{json, Value};
use want_types::SignedTransaction;

use crate::client::Client;
use crate::output::{CliError, Out};
use crate::signer::{answer_text, post, print_answer, receipt_failed};
use crate::NodeArg;

/// Largest signed-transaction file `want tx send` reads, in bytes: room for the anchors of a
/// large capture (`want trace capture --out`), each up to `TRACE_TX_BYTES_MAX` encoded and
/// several times that as JSON.
const TX_FILE_BYTES_MAX: u64 = 64 * 1024 * 1024;
/// Most transactions one file may hold.
const TX_FILE_TXS_MAX: usize = 1024;

// Parsed once per run: the size of a command line's variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum TxCommand {
    // The modules' signing commands (transfer, approve, transfer-from, burn), listed first.
    #[command(flatten)]
    Module(crate::modules::TxCommand),
    /// Broadcast a signed transaction file (e.g. signed offline on a cold machine).
    Send {
        /// One signed transaction (as `want tx … --out` writes it) or a JSON array of them (as
        /// commands that sign several write it), sent in order; with --wait, sending stops at
        /// the first failed receipt.
        file: PathBuf,
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        node: NodeArg,
    },
    /// Look up a transaction: receipt, block and Merkle inclusion proof.
    Show {
        id: String,
        #[command(flatten)]
        node: NodeArg,
    },
}

pub fn run(cmd: TxCommand, out: &Out) -> anyhow::Result<()> {
    match cmd {
        TxCommand::Module(c) => c.run(out),
        TxCommand::Send { file, wait, node } => {
            let client = Client::new(&node.url)?;
            let f = read_tx_file(&file)?;
            match (f.array, f.stxs.as_slice()) {
                (false, [stx]) => print_answer(out, &post(&client, stx, wait)?, wait),
                (_, stxs) => send_all(&client, stxs, wait, out),
            }
        }
        TxCommand::Show { id, node } => {
            id.parse::<want_types::Hash32>()
                .map_err(|e| CliError::new("invalid_hash", e.to_string()))?;
            let v = Client::new(&node.url)?.get(&format!("/v1/transactions/{id}"))?;
            out.value(&v, |v| {
                let mut s = format!(
                    "id          {}\nstatus      {}\nsender      {}",
                    v["id"].as_str().unwrap_or_default(),
                    v["status"].as_str().unwrap_or_default(),
                    v["sender"].as_str().unwrap_or_default()
                );
                if v["status"] == "committed" {
                    s.push_str(&format!(
                        "\nblock       {} (index {})\nresult      {}",
                        v["block_height"],
                        v["index"],
                        v["receipt"]["status"].as_str().unwrap_or_default()
                    ));
                    s.push_str(&inclusion_text(v));
                }
                s
            });
            Ok(())
        }
    }
}

/// The Merkle inclusion proof of a committed transaction, for people: the block hash, the tx
/// root, whether the proof leads from the id to that root (checked here), and its sibling hashes
/// from the leaf up.
fn inclusion_text(v: &Value) -> String {
    let hash = |key: &str| serde_json::from_value::<want_types::Hash32>(v[key].clone()).ok();
    let proof = serde_json::from_value::<want_types::merkle::MerkleProof>(v["proof"].clone()).ok();
    let mut s = format!(
        "\nblock hash  {}\ntx root     {}",
        v["block_hash"].as_str().unwrap_or_default(),
        v["tx_root"].as_str().unwrap_or_default()
    );
    let (Some(id), Some(root), Some(proof)) = (hash("id"), hash("tx_root"), proof) else {
        s.push_str("\nproof       none in the node's answer");
        return s;
    };
    let holds = want_types::merkle::verify_merkle_proof(&id, &proof, &root);
    s.push_str(&format!(
        "\nproof       leaf {} of {}, {} sibling hash(es): {}",
        proof.index,
        proof.tree_size,
        proof.path.len(),
        if holds {
            "leads from the id to the tx root (checked)"
        } else {
            "does NOT lead from the id to the tx root"
        }
    ));
    for sibling in &proof.path {
        s.push_str(&format!("\n            {sibling}"));
    }
    s
}

/// Sends the transactions of an array file in order: `{"transactions": [answer, …]}`; with
/// `wait`, stops at the first failed receipt (printed as the last answer) and exits 1.
fn send_all(
    client: &Client,
    stxs: &[SignedTransaction],
    wait: bool,
    out: &Out,
) -> anyhow::Result<()> {
    let mut answers = Vec::with_capacity(stxs.len());
    let mut failed = false;
    for stx in stxs {
        let v = post(client, stx, wait)?;
        failed = wait && receipt_failed(&v);
        answers.push(v);
        if failed {
            break;
        }
    }
    let v = json!({ "transactions": answers });
    out.value(&v, |v| {
        v["transactions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| answer_text(a, wait))
            .collect::<Vec<_>>()
            .join("\n")
    });
    if failed {
        return Err(CliError::new(crate::output::ALREADY_REPORTED, "").into());
    }
    Ok(())
}

/// A signed-transaction file: one transaction, or an array of them.
struct TxFile {
    stxs: Vec<SignedTransaction>,
    array: bool,
}

fn read_tx_file(path: &std::path::Path) -> anyhow::Result<TxFile> {
    let text = crate::read_text_file(path, TX_FILE_BYTES_MAX)?;
    let invalid = |at: String, e: &dyn std::fmt::Display| {
        CliError::new(
            "invalid_transaction",
            format!(
                "{} is not a signed transaction: at `{at}`: {e}",
                path.display()
            ),
        )
    };
    let array = text.trim_start().starts_with('[');
    if !array {
        let de = &mut serde_json::Deserializer::from_str(&text);
        let stx = serde_path_to_error::deserialize(de)
            .map_err(|e| invalid(e.path().to_string(), e.inner()))?;
        return Ok(TxFile {
            stxs: vec![stx],
            array: false,
        });
    }
    let items: Vec<Value> = serde_json::from_str(&text).map_err(|e| invalid("$".into(), &e))?;
    if items.is_empty() || items.len() > TX_FILE_TXS_MAX {
        return Err(CliError::new(
            "invalid_transaction",
            format!(
                "{} holds {} transactions; an array file holds 1 to {TX_FILE_TXS_MAX}",
                path.display(),
                items.len()
            ),
        )
        .into());
    }
    let mut stxs = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let stx = serde_path_to_error::deserialize(item)
            .map_err(|e| invalid(format!("[{i}].{}", e.path()), e.inner()))?;
        stxs.push(stx);
    }
    Ok(TxFile { stxs, array: true })
}
