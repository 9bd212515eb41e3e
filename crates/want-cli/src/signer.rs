//! The one signer of every command that signs transactions (`want tx transfer …` and every
//! signing `want trace …` command): where the key comes from, the chain it signs for, the fee or
//! proof-of-work stamp, nonces, expiry, and what becomes of the signed transactions — sent (and
//! waited for), written to a file, or printed.
//!
//! - Key: exactly one of `--keystore FILE --password-file FILE` (Web3 Secret Storage v3,
//!   secp256k1 or RSA) or `--key-file FILE` (a raw secp256k1 key, 64 hex digits, read as
//!   `want key import --private-key-file` reads it). A command that needs the secp256k1 key for
//!   more than signing (sealing, unwrapping record keys, signed blob reads) says so in its
//!   [`Profile`] and refuses an RSA key with `unsupported_key`.
//! - Chain: online, the chain id, minimum fee and PoW difficulty come from `GET /v1/status` and
//!   the first nonce from the account's `pending_nonce`; `--offline` contacts no node, needs
//!   `--nonce` and signs for `--chain-id` / `--pow-bits` (default: the development chain's).
//! - Fee: `--fee`, `--pow` (a stamp instead of a fee), or else [`required_fee`].
//! - Several transactions of one command take consecutive nonces from the first.
//! - Delivery: `--out FILE` writes them (one object, or a JSON array for commands that may sign
//!   several; see [`FileShape`]); `--offline` without `--out` leaves them to the caller to print;
//!   otherwise they are sent in nonce order, waiting for each commit with `--wait` (the default
//!   of commands whose [`Profile`] says so, turned off by `--no-wait`).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Args;
use serde_json::{json, Value};
use want_crypto::{KeyMaterial, PrivateKey, SigningKey};
use want_node::config::{DEV_CHAIN_ID, DEV_POW_DIFFICULTY_BITS};
use want_types::amount::{format_want, parse_want};
use want_types::{Activations, ChainParams};
use want_types::{Call, SignedTransaction, Transaction};

use crate::client::Client;
use crate::output::{CliError, Out};
use crate::{read_password, NodeArg};

/// Default validity of a transaction signed online, in seconds.
const EXPIRES_IN_ONLINE_S: u64 = 3_600;
/// Default validity of a transaction signed offline (it must travel to another machine), in seconds.
const EXPIRES_IN_OFFLINE_S: u64 = 23 * 3_600;

/// Milliseconds since the Unix epoch by this machine's clock.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn err(code: &str, message: impl Into<String>) -> anyhow::Error {
    CliError::new(code, message).into()
}

/// Where the signing key comes from: a keystore with its password, or a raw key file.
#[derive(Args, Clone, Default)]
pub struct KeySource {
    /// Keystore file (Web3 Secret Storage v3; secp256k1 or RSA) of the signing key.
    #[arg(long)]
    pub keystore: Option<PathBuf>,
    /// File holding the keystore's password (with --keystore).
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// Instead of a keystore: a file holding a raw secp256k1 private key as 64 hex digits (as
    /// `want key import --private-key-file` reads it). It is not encrypted: protect the file.
    #[arg(long)]
    pub key_file: Option<PathBuf>,
}

impl KeySource {
    /// Loads the key from exactly one source.
    pub fn load(&self) -> anyhow::Result<KeyMaterial> {
        match (&self.keystore, &self.password_file, &self.key_file) {
            (Some(_), _, Some(_)) => Err(err(
                "conflicting_arguments",
                "--keystore and --key-file are two sources of the signing key; pass only one",
            )),
            (None, Some(_), Some(_)) => Err(err(
                "conflicting_arguments",
                "--password-file unlocks a --keystore; a --key-file is not encrypted: drop --password-file",
            )),
            (Some(keystore), Some(password_file), None) => {
                let password = read_password(password_file)?;
                Ok(want_crypto::read_keystore_file(keystore, &password)?)
            }
            (Some(_), None, None) => Err(err(
                "missing_argument",
                "--keystore needs --password-file FILE (the file holding the keystore's password)",
            )),
            (None, None, Some(key_file)) => Ok(SigningKey::Secp256k1(
                crate::keys::read_private_key_file(key_file)?,
            )),
            (None, Some(_), None) => Err(err(
                "missing_argument",
                "--password-file unlocks a keystore: pass --keystore FILE too (or --key-file FILE instead of both)",
            )),
            (None, None, None) => Err(err(
                "missing_argument",
                "no signing key: pass --keystore FILE --password-file FILE, or --key-file FILE",
            )),
        }
    }

    /// Loads a key that must be secp256k1; `because` says what the command needs it for.
    pub fn load_secp(&self, because: &str) -> anyhow::Result<PrivateKey> {
        match self.load()? {
            SigningKey::Secp256k1(k) => Ok(k),
            SigningKey::Rsa(_) => Err(self.rsa_refused(because)),
        }
    }

    fn rsa_refused(&self, because: &str) -> anyhow::Error {
        let source = self
            .keystore
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "the key".into());
        err(
            "unsupported_key",
            format!("{source} holds an RSA key, but {because}: use a secp256k1 key"),
        )
    }
}

/// A flag that sets the validity of the signed transactions, in seconds.
pub trait ExpiryArg: Args {
    fn seconds(&self) -> Option<u64>;
}

/// `--expires-in SECONDS`: the validity of the signed transactions.
#[derive(Args, Clone, Default)]
pub struct ExpiresIn {
    /// Seconds until the transaction expires (default 1 h online, 23 h offline; at most 24 h).
    #[arg(long)]
    expires_in: Option<u64>,
}

impl ExpiryArg for ExpiresIn {
    fn seconds(&self) -> Option<u64> {
        self.expires_in
    }
}

/// `--tx-expires-in SECONDS`: the same, for a command whose own `--expires-in` means something
/// else (`want trace grant --expires-in` is how long the grant lasts).
#[derive(Args, Clone, Default)]
pub struct TxExpiresIn {
    /// Seconds until the transaction expires (default 1 h online, 23 h offline; at most 24 h).
    #[arg(long)]
    tx_expires_in: Option<u64>,
}

impl ExpiryArg for TxExpiresIn {
    fn seconds(&self) -> Option<u64> {
        self.tx_expires_in
    }
}

/// The flags of every signing command.
#[derive(Args, Clone)]
pub struct SignArgs<E: ExpiryArg = ExpiresIn> {
    #[command(flatten)]
    pub key: KeySource,
    /// Fee in WANT (default: the chain's minimum fee).
    #[arg(long)]
    fee: Option<String>,
    /// Pay no fee; attach a proof-of-work stamp instead (lets an empty wallet act).
    #[arg(long)]
    pow: bool,
    /// Nonce (default: the account's next nonce, asked from the node). Required with --offline.
    /// A command that signs several transactions uses consecutive nonces from this one.
    #[arg(long)]
    nonce: Option<u64>,
    #[command(flatten)]
    expiry: E,
    /// Sign without contacting a node (cold wallet). Needs --nonce.
    #[arg(long)]
    offline: bool,
    /// With --offline: chain id to sign for (default: the development chain).
    #[arg(long)]
    chain_id: Option<u64>,
    /// With --offline and --pow: stamp difficulty in bits (default: the development chain's).
    #[arg(long)]
    pow_bits: Option<u32>,
    /// Write the signed transaction to this file instead of sending it (broadcast it later with
    /// `want tx send FILE`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Wait until the transaction is committed and print its receipt (`want trace` commands
    /// wait by default).
    #[arg(long)]
    wait: bool,
    /// Do not wait for the commit: return once the node accepted the transaction.
    #[arg(long)]
    no_wait: bool,
    #[command(flatten)]
    pub node: NodeArg,
}

impl<E: ExpiryArg> SignArgs<E> {
    /// Whether `--offline` was given (a command that reads the node before signing refuses it
    /// before trying to).
    pub fn offline(&self) -> bool {
        self.offline
    }
}

/// What a command needs of the signer beyond signing a transaction.
#[derive(Clone, Copy)]
pub struct Profile {
    /// Whether the command waits for the commit unless `--no-wait` is given.
    wait_by_default: bool,
    /// What the command needs a secp256k1 key for, if it does (an RSA key is then refused): a
    /// clause naming the command, e.g. "trace grant unwraps the record key with it".
    secp_because: Option<&'static str>,
    /// What the command needs the node for besides sending, if it does (`--offline` is then
    /// refused): a clause naming the command, e.g. "trace grant reads the record from the node".
    node_because: Option<&'static str>,
}

impl Profile {
    /// Sends and returns once the node accepted (unless `--wait`); any key.
    pub const fn send() -> Profile {
        Profile {
            wait_by_default: false,
            secp_because: None,
            node_because: None,
        }
    }

    /// Sends and waits for the commit (unless `--no-wait`); any key.
    pub const fn commit() -> Profile {
        Profile {
            wait_by_default: true,
            secp_because: None,
            node_because: None,
        }
    }

    /// The command also needs the key to be secp256k1, for the reason given.
    pub const fn secp(mut self, because: &'static str) -> Profile {
        self.secp_because = Some(because);
        self
    }

    /// The command also needs the node, for the reason given (it cannot run `--offline`).
    pub const fn node(mut self, because: &'static str) -> Profile {
        self.node_because = Some(because);
        self
    }
}

/// What the signer knows of the chain it signs for.
#[derive(Clone, Debug)]
pub struct ChainFacts {
    pub chain_id: u64,
    /// The chain's parameters (minimum fee, stamp difficulty, weight pricing).
    pub params: ChainParams,
    /// From which heights its modules and rules apply.
    pub activations: Activations,
    /// The height the transactions are expected in (the node's next block; offline: any).
    pub height: u64,
}

impl ChainFacts {
    /// From a node's `GET /v1/status`.
    fn from_status(status: &Value) -> anyhow::Result<ChainFacts> {
        let chain_id = status["chain_id"]
            .as_u64()
            .ok_or_else(|| err("bad_response", "status lacks chain_id"))?;
        let params: ChainParams = serde_json::from_value(status["params"].clone())
            .map_err(|e| err("bad_response", format!("status.params: {e}")))?;
        // A node of an older version names no activations: everything applies from genesis
        // (the fee is then at least what it needs).
        let activations: Activations = match status.get("activations") {
            None | Some(Value::Null) => Activations::default(),
            Some(a) => serde_json::from_value(a.clone())
                .map_err(|e| err("bad_response", format!("status.activations: {e}")))?,
        };
        let height = status["height"]
            .as_u64()
            .ok_or_else(|| err("bad_response", "status lacks height"))?
            .saturating_add(1);
        Ok(ChainFacts {
            chain_id,
            params,
            activations,
            height,
        })
    }
}

/// The fee `tx`, signed with `signature` (or one of its kind and length), must pay on `chain`
/// when it pays one (no `--fee`, no `--pow`): the fee of its weight, computed by the state
/// machine's own rule (`want_state::fee_for_transaction`), so the wallet and every node agree.
pub fn required_fee(
    chain: &ChainFacts,
    tx: &Transaction,
    signature: &want_types::Signature,
) -> anyhow::Result<u128> {
    want_state::fee_for_transaction(
        &chain.params,
        &chain.activations,
        chain.height,
        tx,
        signature,
    )
    .ok_or_else(|| {
        err(
            want_state::codes::TX_TOO_HEAVY,
            "no fee can pay for this transaction's weight; split it",
        )
    })
}

/// Whether a proof-of-work stamp pays for `stx` on `chain`: the node's rule (a weight of at
/// most the base weight; before the rule `fee_weights`, at most `POW_TX_BYTES_MAX` bytes).
fn stamp_pays_for(chain: &ChainFacts, stx: &SignedTransaction) -> Result<(), String> {
    let size = stx.to_bytes().len();
    if chain
        .activations
        .active(want_types::params::RULE_FEE_WEIGHTS, chain.height)
    {
        let weight = want_state::tx_weight(&stx.tx.call, size);
        if weight > chain.params.base_weight {
            return Err(format!(
                "the transaction weighs {weight}; a proof-of-work stamp pays for at most {}: drop --pow and pay the fee",
                chain.params.base_weight
            ));
        }
    } else if size > want_types::POW_TX_BYTES_MAX {
        return Err(format!(
            "the transaction is {size} bytes; a proof-of-work stamp pays for at most {} bytes: drop --pow and pay the fee",
            want_types::POW_TX_BYTES_MAX
        ));
    }
    Ok(())
}

/// How the fee is paid.
enum Fee {
    /// `--fee`.
    Given(u128),
    /// `--pow`: no fee, a stamp.
    Stamp,
    /// [`required_fee`].
    Required,
}

/// How several signed transactions are written to an `--out` file.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum FileShape {
    /// One signed transaction object (commands that sign exactly one).
    Object,
    /// A JSON array of signed transactions in nonce order, even of one (commands that may sign
    /// several); `want tx send` reads both.
    Array,
}

/// What [`Signer::deliver`] did with the signed transactions.
pub enum Delivered {
    /// Written to the `--out` file.
    Written(PathBuf),
    /// Signed `--offline` without `--out`: nothing sent; the caller prints them.
    Kept,
    /// Sent to the node in nonce order: its answer to each (with the receipt when `waited`). When
    /// waiting, sending stops at the first transaction whose receipt is not a success, which is
    /// then the last answer.
    Sent { answers: Vec<Value>, waited: bool },
}

/// A key ready to sign for a chain, and what to do with what it signs.
pub struct Signer {
    key: KeyMaterial,
    client: Option<Client>,
    chain: ChainFacts,
    fee: Fee,
    next_nonce: u64,
    expires_in_s: u64,
    out: Option<PathBuf>,
    wait: bool,
}

impl Signer {
    /// Checks the flags, loads the key and (online) asks the node for the chain's facts and the
    /// account's next nonce.
    pub fn open<E: ExpiryArg>(a: SignArgs<E>, profile: Profile) -> anyhow::Result<Signer> {
        if a.wait && a.no_wait {
            return Err(err(
                "conflicting_arguments",
                "--wait and --no-wait exclude each other",
            ));
        }
        let fee = match (&a.fee, a.pow) {
            (Some(_), true) => {
                return Err(err(
                    "conflicting_arguments",
                    "--fee and --pow exclude each other",
                ))
            }
            (Some(f), false) => Fee::Given(parse_want(f).map_err(|e| {
                err(
                    "invalid_amount",
                    format!("--fee: {e}; give WANT with up to 6 decimals, e.g. 12.5"),
                )
            })?),
            (None, true) => Fee::Stamp,
            (None, false) => Fee::Required,
        };
        if a.offline {
            if let Some(why) = profile.node_because {
                return Err(err(
                    "offline_unsupported",
                    format!(
                        "{why}, so it cannot run --offline; sign online with --out FILE (and --nonce N to choose the nonce) and broadcast the file later with `want tx send FILE`"
                    ),
                ));
            }
        }
        let key = a.key.load()?;
        if let (SigningKey::Rsa(_), Some(because)) = (&key, profile.secp_because) {
            return Err(a.key.rsa_refused(because));
        }
        let (client, chain, next_nonce) = if a.offline {
            let nonce = a.nonce.ok_or_else(|| {
                err("missing_argument", "offline signing needs --nonce N (the account's next nonce, as `want account` shows it)")
            })?;
            // Offline: the development chain's parameters, with the chain id and stamp
            // difficulty given (pass --fee for another chain's pricing).
            let mut params = want_node::Genesis::dev().params;
            params.chain_id = a.chain_id.unwrap_or(DEV_CHAIN_ID);
            params.pow_difficulty_bits = a.pow_bits.unwrap_or(DEV_POW_DIFFICULTY_BITS);
            let chain = ChainFacts {
                chain_id: params.chain_id,
                params,
                activations: Activations::default(),
                height: u64::MAX,
            };
            (None, chain, nonce)
        } else {
            let client = Client::new(&a.node.url)?;
            let chain = ChainFacts::from_status(&client.get("/v1/status")?)?;
            let nonce = match a.nonce {
                Some(n) => n,
                None => client.get(&format!("/v1/accounts/{}", key.address()))?["pending_nonce"]
                    .as_u64()
                    .ok_or_else(|| err("bad_response", "account lacks pending_nonce"))?,
            };
            (Some(client), chain, nonce)
        };
        let expires_in_s = a.expiry.seconds().unwrap_or(if a.offline {
            EXPIRES_IN_OFFLINE_S
        } else {
            EXPIRES_IN_ONLINE_S
        });
        Ok(Signer {
            key,
            client,
            chain,
            fee,
            next_nonce,
            expires_in_s,
            out: a.out,
            wait: a.wait || (profile.wait_by_default && !a.no_wait),
        })
    }

    /// The secp256k1 key; an RSA key is `unsupported_key` (opened with [`Profile::secp`], the
    /// signer never holds one here).
    /// The id of the chain the signer signs for.
    pub fn chain_id(&self) -> u64 {
        self.chain.chain_id
    }

    pub fn secp_key(&self) -> anyhow::Result<&PrivateKey> {
        match &self.key {
            SigningKey::Secp256k1(k) => Ok(k),
            SigningKey::Rsa(_) => Err(err(
                "unsupported_key",
                "this command needs a secp256k1 key, not an RSA key",
            )),
        }
    }

    /// The node; `offline_unsupported` when signing `--offline` (opened with [`Profile::node`],
    /// the signer always has one here).
    pub fn node(&self) -> anyhow::Result<&Client> {
        self.client.as_ref().ok_or_else(|| {
            err(
                "offline_unsupported",
                "this command needs the node and cannot run --offline",
            )
        })
    }

    /// Signs one call with the next nonce (consecutive calls take consecutive nonces).
    pub fn sign(&mut self, call: Call) -> anyhow::Result<SignedTransaction> {
        let mut tx = Transaction {
            chain_id: self.chain.chain_id,
            from: self.key.address(),
            nonce: self.next_nonce,
            fee: 0,
            expiry_ms: now_ms().saturating_add(self.expires_in_s.saturating_mul(1000)),
            pow_nonce: 0,
            call,
        };
        tx.fee = match self.fee {
            Fee::Given(f) => f,
            Fee::Stamp => 0,
            Fee::Required => {
                // The fee depends on the signed size: sign once to learn it (the fee's own bytes
                // do not change the size), then sign with the fee.
                let probe = self.key.sign_transaction(tx.clone());
                required_fee(&self.chain, &tx, &probe.signature)?
            }
        };
        if matches!(self.fee, Fee::Stamp) {
            tx.solve_pow(self.chain.params.pow_difficulty_bits);
        }
        let stx = self.key.sign_transaction(tx);
        if matches!(self.fee, Fee::Stamp) {
            stamp_pays_for(&self.chain, &stx)
                .map_err(|m| err(want_state::codes::FEE_TOO_LOW, m))?;
        }
        self.next_nonce += 1;
        Ok(stx)
    }

    /// Writes, keeps or sends signed transactions (see [`Delivered`]).
    pub fn deliver(
        &self,
        stxs: &[SignedTransaction],
        shape: FileShape,
    ) -> anyhow::Result<Delivered> {
        if let Some(path) = &self.out {
            write_tx_file(path, stxs, shape)?;
            return Ok(Delivered::Written(path.clone()));
        }
        let Some(client) = &self.client else {
            return Ok(Delivered::Kept);
        };
        let mut answers = Vec::with_capacity(stxs.len());
        for stx in stxs {
            let v = post(client, stx, self.wait)?;
            let failed = self.wait && v["receipt"]["status"] != "success";
            answers.push(v);
            if failed {
                break;
            }
        }
        Ok(Delivered::Sent {
            answers,
            waited: self.wait,
        })
    }
}

/// Writes signed transactions as pretty JSON: one object, or an array (see [`FileShape`]).
fn write_tx_file(path: &Path, stxs: &[SignedTransaction], shape: FileShape) -> anyhow::Result<()> {
    let value = match (shape, stxs) {
        (FileShape::Object, [one]) => serde_json::to_value(one),
        _ => serde_json::to_value(stxs),
    }
    .map_err(|e| {
        err(
            "error",
            format!("cannot encode the signed transaction: {e}"),
        )
    })?;
    let text = serde_json::to_string_pretty(&value).map_err(|e| {
        err(
            "error",
            format!("cannot encode the signed transaction: {e}"),
        )
    })?;
    std::fs::write(path, text + "\n").map_err(|e| {
        err(
            "file_unwritable",
            format!("cannot write {}: {e}", path.display()),
        )
    })
}

/// Sends one signed transaction; with `wait`, the answer carries its receipt, and a transaction
/// that cannot commit yet (see [`gap_notice`]) is announced on stderr first.
pub fn post(client: &Client, stx: &SignedTransaction, wait: bool) -> anyhow::Result<Value> {
    let path = if wait {
        if let Some(notice) = gap_notice(client, stx) {
            eprintln!("{notice}");
        }
        "/v1/transactions?wait=commit"
    } else {
        "/v1/transactions"
    };
    let body = serde_json::to_value(stx)
        .map_err(|e| err("error", format!("cannot encode the transaction: {e}")))?;
    client.post(path, &body)
}

/// What waiting for `stx` waits for, when its nonce is ahead of its account's next nonce as the
/// node knows it (counting its pending transactions): it commits only after the missing nonces
/// are sent, and the node drops it if they do not come in time. `None` when it can commit next
/// (or the node cannot say).
pub fn gap_notice(client: &Client, stx: &SignedTransaction) -> Option<String> {
    let account = client.get(&format!("/v1/accounts/{}", stx.tx.from)).ok()?;
    let next = account["pending_nonce"].as_u64()?;
    let nonce = stx.tx.nonce;
    let missing = match nonce.checked_sub(next)? {
        0 => return None,
        1 => format!("nonce {next} is"),
        _ => format!("nonces {next} to {} are", nonce - 1),
    };
    Some(format!(
        "waiting for transaction {}: its nonce {nonce} is ahead of account {}'s next nonce {next}, so it commits only once {missing} sent too (from another terminal or wallet); unless they arrive, the node drops it {} s after admitting it",
        stx.id(),
        stx.tx.from,
        want_node::kernel::mempool::GAPPED_TX_TTL_MS / 1_000
    ))
}

/// Whether a node's answer to a waited send carries a failed receipt.
pub fn receipt_failed(answer: &Value) -> bool {
    answer["receipt"]["status"] != "success"
}

/// The human rendering of a node's answer to a send (its receipt when waited).
pub fn answer_text(v: &Value, waited: bool) -> String {
    if waited {
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
}

/// Prints a node's answer to one send as the command's result (`want tx …`); a failed receipt
/// (printed, with its code) exits 1.
/// Signs one call and sends it (waiting with `--wait`), writes it (`--out`) or prints it
/// (`--offline`): what a module's command that signs a single call does.
pub fn sign_and_send(
    call: Call,
    sign: SignArgs,
    profile: Profile,
    out: &Out,
) -> anyhow::Result<()> {
    let mut signer = Signer::open(sign, profile)?;
    let stx = signer.sign(call)?;
    match signer.deliver(std::slice::from_ref(&stx), FileShape::Object)? {
        Delivered::Written(path) => {
            print_unsent(out, &stx, Some(&path));
            Ok(())
        }
        Delivered::Kept => {
            print_unsent(out, &stx, None);
            Ok(())
        }
        Delivered::Sent { answers, waited } => match answers.first() {
            Some(v) => print_answer(out, v, waited),
            None => Err(err("error", "nothing was sent")),
        },
    }
}

pub fn print_answer(out: &Out, v: &Value, waited: bool) -> anyhow::Result<()> {
    out.value(v, |v| answer_text(v, waited));
    if waited && receipt_failed(v) {
        // The receipt (with its failure code) was printed as the result; exit non-zero.
        return Err(CliError::new(crate::output::ALREADY_REPORTED, "").into());
    }
    Ok(())
}

/// The result of `want tx …` for a transaction that was written or kept instead of sent:
/// `{"id", "sender", "nonce", "file"}` or `{"id", "sender", "signed_transaction"}`.
pub fn print_unsent(out: &Out, stx: &SignedTransaction, file: Option<&Path>) {
    let sender = stx.tx.from;
    match file {
        Some(path) => {
            let v = json!({"id": stx.id(), "sender": sender, "nonce": stx.tx.nonce, "file": path});
            out.value(&v, |v| {
                format!(
                    "signed   {}\nsender   {}\nwritten  {}\nBroadcast it from any machine with: want tx send {}",
                    v["id"].as_str().unwrap_or_default(),
                    v["sender"].as_str().unwrap_or_default(),
                    path.display(),
                    path.display()
                )
            });
        }
        None => {
            let v = json!({"id": stx.id(), "sender": sender, "signed_transaction": stx});
            out.value(&v, |v| {
                serde_json::to_string_pretty(&v["signed_transaction"]).unwrap_or_default()
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use want_types::{TokenCall, TraceCall};

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sign: SignArgs,
    }

    fn args(extra: &[&str]) -> SignArgs {
        let mut argv = vec!["t"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv) {
            Ok(c) => c.sign,
            Err(e) => panic!("{e}"),
        }
    }

    fn code(e: anyhow::Error) -> String {
        CliError::from_anyhow(e).code
    }

    fn burn() -> Call {
        Call::Token(TokenCall::Burn { amount: 1 })
    }

    #[test]
    fn exactly_one_key_source_is_taken() {
        let cases: [(&[&str], &str); 5] = [
            (&[], "missing_argument"),
            (&["--keystore", "k"], "missing_argument"),
            (&["--password-file", "p"], "missing_argument"),
            (
                &["--keystore", "k", "--password-file", "p", "--key-file", "f"],
                "conflicting_arguments",
            ),
            (
                &["--password-file", "p", "--key-file", "f"],
                "conflicting_arguments",
            ),
        ];
        for (flags, expected) in cases {
            let a = args(flags);
            let e = a.key.load().err().map(code);
            assert_eq!(e.as_deref(), Some(expected), "{flags:?}");
        }
    }

    #[test]
    fn offline_signing_takes_consecutive_nonces_fee_and_stamp_as_told() {
        let dir = tempfile::tempdir().unwrap();
        let key = PrivateKey::generate();
        let kf = dir.path().join("key.hex");
        std::fs::write(&kf, key.to_hex()).unwrap();
        let kf = kf.to_str().unwrap();
        let base = ["--key-file", kf, "--offline", "--nonce", "5"];

        // Default: the dev chain's minimum fee, via required_fee.
        let mut signer = Signer::open(args(&base), Profile::send()).unwrap();
        let a = signer.sign(burn()).unwrap();
        let b = signer.sign(burn()).unwrap();
        assert_eq!((a.tx.nonce, b.tx.nonce), (5, 6));
        assert_eq!(a.tx.chain_id, DEV_CHAIN_ID);
        assert_eq!(a.tx.fee, want_node::config::DEV_MIN_FEE);
        assert_eq!(a.tx.from, key.address());
        assert_eq!(
            want_crypto::verify_transaction(&b).unwrap().1,
            key.address()
        );

        // --fee, and a stamp of --pow-bits for --chain-id.
        let given = [&base[..], &["--fee", "0.5"]].concat();
        let mut signer = Signer::open(args(&given), Profile::send()).unwrap();
        assert_eq!(signer.sign(burn()).unwrap().tx.fee, 500_000);
        let stamped = [&base[..], &["--pow", "--pow-bits", "8", "--chain-id", "7"]].concat();
        let mut signer = Signer::open(args(&stamped), Profile::send()).unwrap();
        let s = signer.sign(burn()).unwrap();
        assert_eq!((s.tx.fee, s.tx.chain_id), (0, 7));
        assert!(s.id().leading_zero_bits() >= 8);

        // What needs the node refuses --offline; what needs secp256k1 takes this key.
        let needs_node = Profile::commit().node("x reads the node");
        let e = Signer::open(args(&base), needs_node).err().map(code);
        assert_eq!(e.as_deref(), Some("offline_unsupported"));
        let needs_secp = Profile::commit().secp("x seals");
        assert!(Signer::open(args(&base), needs_secp).is_ok());
    }

    #[test]
    fn out_files_hold_an_object_or_an_array() {
        let dir = tempfile::tempdir().unwrap();
        let kf = dir.path().join("key.hex");
        std::fs::write(&kf, PrivateKey::generate().to_hex()).unwrap();
        let one = dir.path().join("one.json");
        let many = dir.path().join("many.json");
        let open = |out: &Path| {
            let flags = [
                "--key-file",
                kf.to_str().unwrap(),
                "--offline",
                "--nonce",
                "0",
                "--out",
                out.to_str().unwrap(),
            ];
            Signer::open(args(&flags), Profile::commit()).unwrap()
        };
        let mut signer = open(&one);
        let stx = signer.sign(burn()).unwrap();
        let written = signer.deliver(std::slice::from_ref(&stx), FileShape::Object);
        assert!(matches!(written, Ok(Delivered::Written(_))));
        let back: SignedTransaction =
            serde_json::from_str(&std::fs::read_to_string(&one).unwrap()).unwrap();
        assert_eq!(back.id(), stx.id());

        let mut signer = open(&many);
        let revoke = || {
            Call::Trace(TraceCall::RevokeKey {
                key: PrivateKey::generate().address(),
            })
        };
        let stxs = vec![
            signer.sign(revoke()).unwrap(),
            signer.sign(revoke()).unwrap(),
        ];
        assert!(signer.deliver(&stxs, FileShape::Array).is_ok());
        let back: Vec<SignedTransaction> =
            serde_json::from_str(&std::fs::read_to_string(&many).unwrap()).unwrap();
        let nonces: Vec<u64> = back.iter().map(|s| s.tx.nonce).collect();
        assert_eq!(nonces, [0, 1]);
    }

    #[test]
    fn the_required_fee_is_the_weights_fee_as_the_state_machine_computes_it() {
        let mut params = want_node::Genesis::dev().params;
        params.min_fee = 1_234;
        let chain = ChainFacts {
            chain_id: params.chain_id,
            params: params.clone(),
            activations: Activations::default(),
            height: 1,
        };
        let tx = Transaction {
            chain_id: 1,
            from: PrivateKey::generate().address(),
            nonce: 0,
            fee: 0,
            expiry_ms: 0,
            pow_nonce: 0,
            call: burn(),
        };
        let sig = want_types::Signature::Secp256k1(vec![0; 65]);
        // A burn weighs less than the base weight: the minimum fee.
        assert_eq!(required_fee(&chain, &tx, &sig).unwrap(), 1_234);
        // A heavy call pays for its weight beyond the base.
        let mut heavy = tx.clone();
        heavy.call = Call::Trace(want_types::trace::TraceCall::RegisterOrg {
            org: "o".into(),
            name: "n".repeat(100_000),
            kind: want_types::trace::OrgKind::Brand,
            encryption_key: vec![],
        });
        let size = borsh::object_length(&heavy).unwrap() + 66;
        let weight = want_state::tx_weight(&heavy.call, size);
        assert!(weight > params.base_weight);
        assert_eq!(
            required_fee(&chain, &heavy, &sig).unwrap(),
            params.fee_for_weight(weight).unwrap()
        );
    }
}
