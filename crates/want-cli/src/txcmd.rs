//! `want tx …`: build, sign (online or on a cold machine), send and look up transactions.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};
use serde_json::{json, Value};
use want_node::config::{DEV_CHAIN_ID, DEV_MIN_FEE, DEV_POW_DIFFICULTY_BITS};
use want_types::amount::{format_want, parse_want};
use want_types::{Address, Call, SignedTransaction, TokenCall, Transaction};

use crate::client::Client;
use crate::output::{CliError, Out};
use crate::{read_password, NodeArg};

/// Largest signed-transaction file `want tx send` reads, in bytes.
const TX_FILE_BYTES_MAX: u64 = 1024 * 1024;
/// Default validity of a transaction signed online, in seconds.
const EXPIRES_IN_ONLINE_S: u64 = 3_600;
/// Default validity of a transaction signed offline (it must travel to another machine), in seconds.
const EXPIRES_IN_OFFLINE_S: u64 = 23 * 3_600;

#[derive(Args)]
pub struct SignArgs {
    /// Keystore file of the sender.
    #[arg(long)]
    keystore: PathBuf,
    #[arg(long)]
    password_file: PathBuf,
    /// Fee in WANT (default: the chain's minimum fee).
    #[arg(long)]
    fee: Option<String>,
    /// Pay no fee; attach a proof-of-work stamp instead (lets an empty wallet act).
    #[arg(long)]
    pow: bool,
    /// Nonce (default: the account's next nonce, asked from the node). Required with --offline.
    #[arg(long)]
    nonce: Option<u64>,
    /// Seconds until the transaction expires (default 1 h online, 23 h offline; at most 24 h).
    #[arg(long)]
    expires_in: Option<u64>,
    /// Sign without contacting a node (cold wallet). Needs --nonce.
    #[arg(long)]
    offline: bool,
    /// With --offline: chain id to sign for (default: the development chain).
    #[arg(long)]
    chain_id: Option<u64>,
    /// With --offline and --pow: stamp difficulty in bits (default: the development chain's).
    #[arg(long)]
    pow_bits: Option<u32>,
    /// Write the signed transaction to this file instead of sending it.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Wait until the transaction is committed and print its receipt.
    #[arg(long)]
    wait: bool,
    #[command(flatten)]
    node: NodeArg,
}

#[derive(Subcommand)]
pub enum TxCommand {
    /// Send WANT (amount in WANT, up to 6 decimals; 1 % transfer fee goes to the incentive pool).
    Transfer {
        #[arg(long)]
        to: String,
        #[arg(long)]
        amount: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Allow a spender to move up to an amount of your WANT (TRC20 approve).
    Approve {
        #[arg(long)]
        spender: String,
        #[arg(long)]
        amount: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Move WANT from an account that approved you (TRC20 transferFrom).
    TransferFrom {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[arg(long)]
        amount: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Destroy WANT for good.
    Burn {
        #[arg(long)]
        amount: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Broadcast a signed transaction file (e.g. signed offline on a cold machine).
    Send {
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

fn address(s: &str, field: &str) -> anyhow::Result<Address> {
    s.parse()
        .map_err(|e| CliError::new("invalid_address", format!("--{field}: {e}")).into())
}

fn amount(s: &str, field: &str) -> anyhow::Result<u128> {
    parse_want(s).map_err(|e| {
        CliError::new(
            "invalid_amount",
            format!("--{field}: {e}; give WANT with up to 6 decimals, e.g. 12.5"),
        )
        .into()
    })
}

pub fn run(cmd: TxCommand, out: &Out) -> anyhow::Result<()> {
    match cmd {
        TxCommand::Transfer {
            to,
            amount: a,
            sign,
        } => {
            let call = TokenCall::Transfer {
                to: address(&to, "to")?,
                amount: amount(&a, "amount")?,
            };
            sign_and_send(Call::Token(call), sign, out)
        }
        TxCommand::Approve {
            spender,
            amount: a,
            sign,
        } => {
            let call = TokenCall::Approve {
                spender: address(&spender, "spender")?,
                amount: amount(&a, "amount")?,
            };
            sign_and_send(Call::Token(call), sign, out)
        }
        TxCommand::TransferFrom {
            from,
            to,
            amount: a,
            sign,
        } => {
            let call = TokenCall::TransferFrom {
                from: address(&from, "from")?,
                to: address(&to, "to")?,
                amount: amount(&a, "amount")?,
            };
            sign_and_send(Call::Token(call), sign, out)
        }
        TxCommand::Burn { amount: a, sign } => sign_and_send(
            Call::Token(TokenCall::Burn {
                amount: amount(&a, "amount")?,
            }),
            sign,
            out,
        ),
        TxCommand::Send { file, wait, node } => {
            let stx = read_tx_file(&file)?;
            send(&Client::new(&node.url)?, &stx, wait, out)
        }
        TxCommand::Show { id, node } => {
            id.parse::<want_types::Hash32>()
                .map_err(|e| CliError::new("invalid_hash", e.to_string()))?;
            let v = Client::new(&node.url)?.get(&format!("/v1/transactions/{id}"))?;
            out.value(&v, |v| {
                let mut s = format!(
                    "id      {}\nstatus  {}\nsender  {}",
                    v["id"].as_str().unwrap_or_default(),
                    v["status"].as_str().unwrap_or_default(),
                    v["sender"].as_str().unwrap_or_default()
                );
                if v["status"] == "committed" {
                    s.push_str(&format!(
                        "\nblock   {} (index {})\nresult  {}",
                        v["block_height"],
                        v["index"],
                        v["receipt"]["status"].as_str().unwrap_or_default()
                    ));
                }
                s
            });
            Ok(())
        }
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn sign_and_send(call: Call, a: SignArgs, out: &Out) -> anyhow::Result<()> {
    let password = read_password(&a.password_file)?;
    let key = want_crypto::read_keystore_file(&a.keystore, &password)?;
    let sender = key.address();
    let client = if a.offline {
        None
    } else {
        Some(Client::new(&a.node.url)?)
    };
    let (chain_id, min_fee, pow_bits, nonce) = match &client {
        None => {
            let nonce = a.nonce.ok_or_else(|| {
                CliError::new("missing_argument", "offline signing needs --nonce N (the account's next nonce, as `want account` shows it)")
            })?;
            (
                a.chain_id.unwrap_or(DEV_CHAIN_ID),
                DEV_MIN_FEE,
                a.pow_bits.unwrap_or(DEV_POW_DIFFICULTY_BITS),
                nonce,
            )
        }
        Some(c) => {
            let status = c.get("/v1/status")?;
            let chain_id = status["chain_id"]
                .as_u64()
                .ok_or_else(|| CliError::new("bad_response", "status lacks chain_id"))?;
            let min_fee = status["params"]["min_fee"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(DEV_MIN_FEE);
            let bits = status["params"]["pow_difficulty_bits"]
                .as_u64()
                .unwrap_or(DEV_POW_DIFFICULTY_BITS as u64) as u32;
            let nonce = match a.nonce {
                Some(n) => n,
                None => c.get(&format!("/v1/accounts/{sender}"))?["pending_nonce"]
                    .as_u64()
                    .ok_or_else(|| CliError::new("bad_response", "account lacks pending_nonce"))?,
            };
            (chain_id, min_fee, bits, nonce)
        }
    };
    let fee = match (&a.fee, a.pow) {
        (Some(_), true) => {
            return Err(CliError::new(
                "conflicting_arguments",
                "--fee and --pow exclude each other",
            )
            .into())
        }
        (Some(f), false) => amount(f, "fee")?,
        (None, true) => 0,
        (None, false) => min_fee,
    };
    let expires_in = a.expires_in.unwrap_or(if a.offline {
        EXPIRES_IN_OFFLINE_S
    } else {
        EXPIRES_IN_ONLINE_S
    });
    let mut tx = Transaction {
        chain_id,
        from: sender,
        nonce,
        fee,
        expiry_ms: now_ms().saturating_add(expires_in.saturating_mul(1000)),
        pow_nonce: 0,
        call,
    };
    if a.pow {
        tx.solve_pow(pow_bits);
    }
    let stx = key.sign_transaction(tx);
    let id = stx.id();
    if let Some(path) = &a.out {
        let text = serde_json::to_string_pretty(&stx)
            .expect("invariant: a transaction always serialises to JSON");
        std::fs::write(path, text + "\n").map_err(|e| {
            CliError::new(
                "file_unwritable",
                format!("cannot write {}: {e}", path.display()),
            )
        })?;
        let v = json!({"id": id, "sender": sender, "nonce": nonce, "file": path});
        out.value(&v, |v| {
            format!(
                "signed   {}\nsender   {}\nwritten  {}\nBroadcast it from any machine with: want tx send {}",
                v["id"].as_str().unwrap_or_default(),
                v["sender"].as_str().unwrap_or_default(),
                path.display(),
                path.display()
            )
        });
        return Ok(());
    }
    match client {
        Some(c) => send(&c, &stx, a.wait, out),
        None => {
            let v = json!({"id": id, "sender": sender, "signed_transaction": stx});
            out.value(&v, |v| {
                serde_json::to_string_pretty(&v["signed_transaction"]).unwrap_or_default()
            });
            Ok(())
        }
    }
}

fn read_tx_file(path: &std::path::Path) -> anyhow::Result<SignedTransaction> {
    let text = crate::read_text_file(path, TX_FILE_BYTES_MAX)?;
    let de = &mut serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        CliError::new(
            "invalid_transaction",
            format!(
                "{} is not a signed transaction: at `{}`: {}",
                path.display(),
                e.path(),
                e.inner()
            ),
        )
        .into()
    })
}

fn send(client: &Client, stx: &SignedTransaction, wait: bool, out: &Out) -> anyhow::Result<()> {
    let path = if wait {
        "/v1/transactions?wait=commit"
    } else {
        "/v1/transactions"
    };
    let body =
        serde_json::to_value(stx).expect("invariant: a transaction always serialises to JSON");
    let v: Value = client.post(path, &body)?;
    out.value(&v, |v| {
        if wait {
            let r = &v["receipt"];
            let mut s = format!(
                "committed {} in block {}\nresult    {}\nfee       {} WANT",
                v["id"].as_str().unwrap_or_default(),
                v["block_height"],
                r["status"].as_str().unwrap_or_default(),
                r["fee_paid"]
                    .as_str()
                    .and_then(|f| f.parse().ok())
                    .map(format_want)
                    .unwrap_or_default()
            );
            if let Some(m) = r["message"].as_str() {
                s.push_str(&format!(
                    "\nreason    {m} ({})",
                    r["code"].as_str().unwrap_or_default()
                ));
            }
            s
        } else {
            format!("accepted {}", v["id"].as_str().unwrap_or_default())
        }
    });
    if wait && v["receipt"]["status"] != "success" {
        // The receipt (with its failure code) was printed as the result; exit non-zero.
        return Err(CliError::new(crate::output::ALREADY_REPORTED, "").into());
    }
    Ok(())
}
