//! The traceability module, `want trace …`: capture EPCIS events, verify products, manage
//! organisations, keys, grants and KYC, query records and lineage.
//!
//! Every command that signs a transaction takes the signer's flags (`crate::signer::SignArgs`:
//! keystore or key file, fee or `--pow`, nonce, expiry, `--offline`, `--out`) and, unlike
//! `want tx …`, waits for the commit unless `--no-wait`. Commands that use the key for more than
//! signing (capture, grant, kyc attest, fetch, verify with a key) need a secp256k1 key; those
//! that read from or store on the node besides sending (capture, grant, kyc submit, kyc attest)
//! cannot run `--offline`.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::{json, Value};
use want_crypto::PrivateKey;
use want_records::{anchor_calls, event_hash_of, seal_event, Publish};
use want_types::trace::{parse_event_hash_id, OrgKind, Permission, Role, TraceCall};
use want_types::{Address, Call, Hash32, SignedTransaction};

mod capture_orders;

use crate::client::Client;
use crate::output::{CliError, Out};
use crate::signer::{
    now_ms, Delivered, FileShape, KeySource, Profile, SignArgs, Signer, TxExpiresIn,
};
use crate::NodeArg;

/// Largest EPCIS file read, in bytes (the capture limit).
const EPCIS_FILE_BYTES_MAX: u64 = want_epcis::CAPTURE_BYTES_MAX as u64;
/// Largest KYC document sealed, in bytes.
const KYC_FILE_BYTES_MAX: u64 = 8 * 1024 * 1024;

/// Why a command needs a secp256k1 key (an RSA key is refused with `unsupported_key`).
const CAPTURE_SECP: &str = "trace capture signs each record with secp256k1 and seals it with ECIES (secp256k1) to the organisation";
const GRANT_SECP: &str = "trace grant unwraps the record key with the key's secp256k1 private key (ECIES)";
const ATTEST_SECP: &str = "trace kyc attest signs the document read and decrypts the document sealed to the verifier's secp256k1 key (ECIES)";
const READ_SECP: &str = "records are opened with the reader's secp256k1 key (signed blob read, ECIES-wrapped record key)";

/// Why a command needs the node besides sending (it cannot run `--offline`).
const CAPTURE_NODE: &str = "trace capture reads the key's organisation and roles from the node and stores the sealed records there";
const GRANT_NODE: &str = "trace grant reads the record's wrapped key from the node";
const KYC_SUBMIT_NODE: &str = "trace kyc submit stores the sealed document on the node";
const KYC_ATTEST_NODE: &str = "trace kyc attest reads the sealed document from the node";

/// The module's top-level commands.
#[derive(Subcommand)]
pub enum Command {
    /// Traceability: capture EPCIS events, verify products, organisations, keys, grants, KYC.
    #[command(subcommand)]
    Trace(TraceCommand),
}

/// The module adds nothing to `want tx`.
#[derive(Subcommand)]
pub enum TxCommand {}

pub fn run_tx(cmd: TxCommand, _out: &Out) -> anyhow::Result<()> {
    match cmd {}
}

#[derive(Subcommand)]
pub enum TraceCommand {
    /// Compute the GS1 EPCIS event hash IDs of a document's events (offline, no node).
    Hash { file: PathBuf },
    /// Capture an EPCIS 2.0 document or event: sign, seal, store and anchor each event.
    #[command(after_help = "The records are signed with the key (secp256k1 only), sealed to the \
        organisation, stored on the node and anchored by as many transactions as they need, with \
        consecutive nonces. With --out FILE the anchor transactions are written to FILE as a JSON \
        array (in nonce order, even when there is only one) instead of being sent; broadcast it \
        with `want tx send FILE`. The sealed records are stored on the node either way, so \
        capture cannot run --offline.")]
    Capture {
        file: PathBuf,
        #[command(flatten)]
        sign: SignArgs,
        /// Keep the event time off the public record.
        #[arg(long)]
        private_time: bool,
        /// Keep the business location off the public record.
        #[arg(long)]
        private_location: bool,
        /// Publish a place that is not a GS1 location (a `geo:` read point, an address URI):
        /// private by default, since it may be a consumer's home.
        #[arg(long)]
        publish_any_place: bool,
        /// Do not confirm the orders the captured `receiving` events name
        /// (`urn:want:commerce:order:<id>` in their bizTransactionList). By default each such
        /// order's delivery is confirmed, signed by this key, once the anchors are committed.
        #[arg(long)]
        no_confirm_orders: bool,
    },
    /// Verify a product: recompute its anchor and check every proof (without trusting the node).
    Verify {
        product: String,
        #[command(flatten)]
        node: NodeArg,
        /// Also open every record this key may read and check it against its anchor.
        #[arg(long, requires = "password_file")]
        keystore: Option<PathBuf>,
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// Or open them with a raw secp256k1 key file (64 hex digits) instead of a keystore.
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// Also check that every block the proofs lead to carries a commit certificate of the
        /// members of this genesis.json (without it, the headers are the node's word).
        #[arg(long)]
        genesis: Option<PathBuf>,
    },
    /// Records by product, business step, location, organisation and time, a page at a time.
    Events {
        #[arg(long)]
        product: Option<String>,
        /// A CBV business step (`shipping`, its URN or URI) or a custom URI.
        #[arg(long)]
        biz_step: Option<String>,
        /// A CBV disposition (`in_transit`, its URN or URI) or a custom URI.
        #[arg(long)]
        disposition: Option<String>,
        /// A place: an SGLN EPC URN, a GS1 Digital Link or another URI.
        #[arg(long)]
        location: Option<String>,
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        from_ms: Option<i64>,
        #[arg(long)]
        to_ms: Option<i64>,
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long)]
        cursor: Option<u64>,
        #[command(flatten)]
        node: NodeArg,
    },
    /// A product's lineage through aggregation and transformation.
    Lineage {
        product: String,
        #[arg(long, default_value_t = 8)]
        depth: u32,
        #[command(flatten)]
        node: NodeArg,
    },
    /// The product's printable tag: its URL and QR code (SVG).
    Tag {
        product: String,
        /// Write the QR code to this SVG file.
        #[arg(long)]
        qr_out: Option<PathBuf>,
        #[command(flatten)]
        node: NodeArg,
    },
    /// Fetch and decrypt a record you own or were granted.
    Fetch {
        /// Event hash ID (`ni:///sha-256;…?ver=CBV2.0`).
        event: String,
        #[command(flatten)]
        key: KeySource,
        #[command(flatten)]
        node: NodeArg,
    },
    /// Grant a party read access to a record until a time.
    #[command(after_help = "Needs a secp256k1 key (it unwraps the record key) and the node (it \
        reads the record), so it cannot run --offline. --expires-in is how long the grant lasts; \
        the transaction's own validity is --tx-expires-in.")]
    Grant {
        event: String,
        /// The grantee's compressed secp256k1 public key (66 hex digits; `want key show`).
        #[arg(long)]
        to_key: String,
        /// Seconds the grant lasts.
        #[arg(long, default_value_t = 86_400)]
        expires_in: u64,
        #[command(flatten)]
        sign: SignArgs<TxExpiresIn>,
    },
    /// Withdraw a grant.
    RevokeGrant {
        event: String,
        #[arg(long)]
        grantee: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Organisations (administrator).
    #[command(subcommand)]
    Org(OrgCommand),
    /// Department keys and their roles (administrator or the organisation's manager).
    #[command(subcommand)]
    Key(KeyCommand),
    /// KYC: file sealed identity documents, attest levels.
    #[command(subcommand)]
    Kyc(KycCommand),
    /// GS1 Company Prefixes: who may extend the history of the products under them.
    #[command(subcommand)]
    Prefix(PrefixCommand),
    /// Hand the custody of products to another organisation, which may then extend their
    /// history (a key of an organisation endorsed for every product).
    Handover {
        /// The organisation receiving custody.
        #[arg(long)]
        to_org: String,
        /// The products: EPC URNs or GS1 Digital Link URIs (repeat, or comma-separated).
        #[arg(long = "product", value_delimiter = ',', required = true)]
        products: Vec<String>,
        #[command(flatten)]
        sign: SignArgs,
    },
}

#[derive(Subcommand)]
pub enum PrefixCommand {
    /// Register a GS1 Company Prefix to the organisation that licensed it (administrator).
    Register {
        /// 4 to 12 digits.
        prefix: String,
        #[arg(long)]
        org: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Authorise an organisation to extend the history of every product under the prefix
    /// (administrator or a manager key of the prefix's owner).
    Authorize {
        prefix: String,
        #[arg(long)]
        party: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Withdraw an authorisation (the party's later records are kept apart as unendorsed).
    Withdraw {
        prefix: String,
        #[arg(long)]
        party: String,
        #[command(flatten)]
        sign: SignArgs,
    },
}

// Parsed once per run: the size of a command line's variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum OrgCommand {
    /// Register an organisation.
    Register {
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
        /// brand, factory, warehouse, logistics, distributor, retailer, inspector, customs, kyc_verifier
        #[arg(long)]
        kind: String,
        /// Public key its records are sealed to (66 hex digits).
        #[arg(long)]
        encryption_key: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Show an organisation and its keys.
    Show {
        org: String,
        #[command(flatten)]
        node: NodeArg,
    },
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Register a department key with roles.
    Add {
        #[arg(long)]
        org: String,
        /// The key's account address.
        #[arg(long)]
        address: String,
        #[arg(long)]
        department: String,
        /// Comma-separated roles: producer, warehouse, logistics, distributor, retailer, inspector, customs, kyc_verifier, manager, any
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Revoke a department key (records it signs from the next transaction on are refused).
    Revoke {
        #[arg(long)]
        address: String,
        #[command(flatten)]
        sign: SignArgs,
    },
}

#[derive(Subcommand)]
pub enum KycCommand {
    /// Seal an identity document to a verifier's key, store it and file it on chain (only its CID).
    #[command(after_help = "The sealed document is stored on the node, so this cannot run --offline.")]
    Submit {
        file: PathBuf,
        /// The verifier's account address.
        #[arg(long)]
        verifier: String,
        /// The verifier's public key (66 hex digits).
        #[arg(long)]
        verifier_key: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// As a KYC verifier: open a filed document and attest the subject's level (hash and level
    /// go on chain).
    #[command(after_help = "Needs the verifier's secp256k1 key (the document is sealed to it) and \
        the node (it holds the document), so it cannot run --offline.")]
    Attest {
        #[arg(long)]
        subject: String,
        #[arg(long)]
        cid: String,
        #[arg(long)]
        level: u8,
        #[command(flatten)]
        sign: SignArgs,
    },
}

fn err(code: &str, message: impl Into<String>) -> anyhow::Error {
    CliError::new(code, message).into()
}

/// What became of the transactions a command signed, for its result.
struct Outcome {
    /// The signed transactions, in nonce order.
    stxs: Vec<SignedTransaction>,
    /// Per transaction, the block it was committed in (`None` unless waited for).
    heights: Vec<Option<u64>>,
    delivered: Delivered,
}

impl Outcome {
    /// The id of the `i`-th transaction.
    fn tx(&self, i: usize) -> Value {
        self.stxs.get(i).map(|s| json!(s.id())).unwrap_or(Value::Null)
    }

    /// The block of the first transaction (null unless committed).
    fn block_height(&self) -> Value {
        json!(self.heights.first().copied().flatten())
    }

    fn committed(&self) -> bool {
        matches!(self.delivered, Delivered::Sent { waited: true, .. })
    }

    /// Adds what the command's result needs when its transactions were not sent and waited for:
    /// the file written (`"file"`, with the `"sender"` and the first `"nonce"`), or the signed
    /// transactions themselves (`"signed_transaction"`, `"signed_transactions"` for several).
    fn annotate(&self, v: &mut Value) {
        let first = self.stxs.first();
        match &self.delivered {
            Delivered::Written(path) => {
                v["file"] = json!(path);
                v["sender"] = json!(first.map(|s| s.tx.from));
                v["nonce"] = json!(first.map(|s| s.tx.nonce));
            }
            Delivered::Kept => {
                v["sender"] = json!(first.map(|s| s.tx.from));
                v["nonce"] = json!(first.map(|s| s.tx.nonce));
                match self.stxs.as_slice() {
                    [one] => v["signed_transaction"] = json!(one),
                    many => v["signed_transactions"] = json!(many),
                }
            }
            Delivered::Sent { .. } => {}
        }
    }

    /// Prints a command's result: `committed` renders it for people once its transactions are
    /// committed; otherwise it is shown under a line saying what happened to them.
    fn print(&self, out: &Out, mut v: Value, committed: impl FnOnce(&Value) -> String) {
        self.annotate(&mut v);
        out.value(&v, |v| {
            if self.committed() {
                return committed(v);
            }
            let head = match &self.delivered {
                Delivered::Written(path) => format!(
                    "signed, not sent; written to {}: broadcast it from any machine with `want tx send {}`",
                    path.display(),
                    path.display()
                ),
                Delivered::Kept => "signed offline, not sent:".to_string(),
                Delivered::Sent { .. } => "accepted by the node (not waiting for the commit):".to_string(),
            };
            format!(
                "{head}\n{}",
                serde_json::to_string_pretty(v).unwrap_or_default()
            )
        });
    }
}

/// Signs the calls with consecutive nonces.
fn sign_all(signer: &mut Signer, calls: Vec<TraceCall>) -> anyhow::Result<Vec<SignedTransaction>> {
    calls
        .into_iter()
        .map(|c| signer.sign(Call::Trace(c)))
        .collect()
}

/// Delivers signed transactions (sent, waited for, written or kept); with waiting, a failed
/// receipt is an error carrying its code.
fn deliver(
    signer: &Signer,
    stxs: Vec<SignedTransaction>,
    shape: FileShape,
) -> anyhow::Result<Outcome> {
    let delivered = signer.deliver(&stxs, shape)?;
    let mut heights = vec![None; stxs.len()];
    if let Delivered::Sent {
        answers,
        waited: true,
    } = &delivered
    {
        for (i, v) in answers.iter().enumerate() {
            let r = &v["receipt"];
            if r["status"] != "success" {
                return Err(err(
                    r["code"].as_str().unwrap_or("tx_failed"),
                    format!(
                        "transaction {} failed: {}",
                        v["id"].as_str().unwrap_or_default(),
                        r["message"].as_str().unwrap_or_default()
                    ),
                ));
            }
            if let Some(h) = heights.get_mut(i) {
                *h = v["block_height"].as_u64();
            }
        }
    }
    Ok(Outcome {
        stxs,
        heights,
        delivered,
    })
}

/// Signs one call and delivers it.
fn sign_one(signer: &mut Signer, call: TraceCall) -> anyhow::Result<Outcome> {
    let stxs = sign_all(signer, vec![call])?;
    deliver(signer, stxs, FileShape::Object)
}

fn read_epcis(file: &Path) -> anyhow::Result<want_epcis::Capture> {
    let bytes = std::fs::read(file).map_err(|e| {
        err(
            "file_unreadable",
            format!("cannot read {}: {e}", file.display()),
        )
    })?;
    if bytes.len() as u64 > EPCIS_FILE_BYTES_MAX {
        return Err(CliError::new(
            "too_large",
            format!(
                "{} is {} bytes; at most {EPCIS_FILE_BYTES_MAX} are accepted",
                file.display(),
                bytes.len()
            ),
        )
        .at("$")
        .into());
    }
    want_epcis::parse_capture(&bytes)
        .map_err(|e| CliError::new(e.code, e.message).at(e.path).into())
}

fn event_id(s: &str) -> anyhow::Result<Hash32> {
    parse_event_hash_id(s).ok_or_else(|| {
        err(
            "invalid_hash",
            format!("{s:?} is not an event hash ID (ni:///sha-256;<64 hex>?ver=CBV2.0)"),
        )
    })
}

fn address(s: &str, field: &str) -> anyhow::Result<Address> {
    crate::output::parse_address(s, &format!("--{field}"))
}

fn public_key(s: &str, field: &str) -> anyhow::Result<want_crypto::SecpPublicKey> {
    want_crypto::parse_public_key_hex(s)
        .map_err(|e| err("invalid_public_key", format!("--{field}: {e}")))
}

fn product_path(node: &str, product: &str) -> anyhow::Result<String> {
    let id = want_epcis::normalize_identifier(product.trim())
        .map_err(|e| err("invalid_identifier", e.message))?;
    Ok(format!("{node}{}", want_node::trace::urlencode(&id)))
}

/// The headers of the blocks a verification report's proofs lead to, once each, by height.
fn proof_headers(report: &Value) -> anyhow::Result<Vec<want_types::BlockHeader>> {
    let mut headers: Vec<want_types::BlockHeader> = Vec::new();
    for proof in report["proofs"]
        .as_object()
        .into_iter()
        .flat_map(|p| p.values())
    {
        let header: want_types::BlockHeader = serde_json::from_value(proof["header"].clone())
            .map_err(|e| err("bad_response", format!("a proof's header: {e}")))?;
        if !headers.iter().any(|h| h.height == header.height) {
            headers.push(header);
        }
    }
    headers.sort_by_key(|h| h.height);
    Ok(headers)
}

/// `wrong_genesis`: `--genesis FILE` is another chain's, so its members cannot certify this
/// chain's blocks — a mistake of the caller's, not evidence of tampering.
fn wrong_genesis(path: &std::path::Path, why: String) -> anyhow::Error {
    err(
        "wrong_genesis",
        format!(
            "{} is not this chain's genesis: {why}; its members cannot certify this chain's blocks, so nothing was concluded about the product. Pass the genesis.json of the chain the node serves (`want status` shows its chain_id and genesis_hash)",
            path.display()
        ),
    )
}

/// Before any certificate: the blocks the proofs lead to must be of the genesis' chain id (their
/// headers hash to the block hashes the proofs were checked against, so this is certain).
fn check_chain_id(
    genesis: &want_node::Genesis,
    path: &std::path::Path,
    headers: &[want_types::BlockHeader],
) -> anyhow::Result<()> {
    let ours = genesis.params.chain_id;
    match headers.iter().find(|h| h.chain_id != ours) {
        Some(h) => Err(wrong_genesis(
            path,
            format!(
                "it is chain {ours}'s, and the product's blocks (block {} first) belong to chain {}",
                h.height, h.chain_id
            ),
        )),
        None => Ok(()),
    }
}

/// Once the certificates fail: a genesis that hashes differently from the one the node's chain
/// began with is another chain's (asked only now, because a copy naming the members after a
/// membership change hashes differently and still certifies). The node's word, but it can only
/// turn one failure into another, never into "authentic".
fn check_genesis_hash(
    client: &Client,
    genesis: &want_node::Genesis,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    let (block, _, _) = genesis
        .build()
        .map_err(|e| err("invalid_genesis", format!("{}: {e}", path.display())))?;
    let status = client.get("/v1/status")?;
    let theirs = status["genesis_hash"].as_str().unwrap_or_default();
    let hash = block.hash().to_hex();
    if !theirs.is_empty() && theirs != hash {
        return Err(wrong_genesis(
            path,
            format!(
                "it hashes to {hash}, and the node's chain {} began with genesis {theirs}",
                genesis.params.chain_id
            ),
        ));
    }
    Ok(())
}

/// Checks the commit certificate of every block a verification report's proofs lead to (their
/// headers were checked against the block hashes by `check_report`): `{"blocks": n}` when all
/// are certified by the voters at their heights (the node's membership history checked from the
/// genesis), with `"problem"` naming the first that is not.
fn certificates(
    client: &Client,
    genesis: &want_node::Genesis,
    headers: &[want_types::BlockHeader],
) -> anyhow::Result<Value> {
    let mut members = None;
    let history = crate::verify::load_history(client, None)?;
    for header in headers {
        let voters = crate::verify::voters_for(genesis, header, history.as_deref());
        let (problems, _, source, _) =
            crate::verify::check_certificate_with(client, genesis, header, voters)?;
        members = Some(source);
        if !problems.is_empty() {
            return Ok(json!({
                "blocks": headers.len(),
                "members": source,
                "problem": format!("block {}: {}", header.height, problems.join("; ")),
            }));
        }
    }
    Ok(json!({"blocks": headers.len(), "members": members}))
}

/// The record key a reader holds for a record: the owner's wrapped key if the reader's key is
/// the organisation's encryption key, else the reader's grant.
fn record_key_for(record: &Value, key: &PrivateKey) -> anyhow::Result<want_crypto::RecordKey> {
    if let Some(w) = record["ownerWrappedKey"].as_str() {
        if let Ok(k) = want_crypto::unwrap_key(key, &hex::decode(w).unwrap_or_default()) {
            return Ok(k);
        }
    }
    let me = key.address().to_string();
    for g in record["grants"].as_array().into_iter().flatten() {
        if g["grantee"].as_str() == Some(me.as_str()) {
            let wrapped = hex::decode(g["wrapped_key"].as_str().unwrap_or_default())
                .map_err(|_| err("bad_response", "grant wrapped_key is not hex"))?;
            return Ok(want_crypto::unwrap_key(key, &wrapped)?);
        }
    }
    Err(err(
        "no_access",
        format!(
            "key {me} can open neither the owner's wrapped key nor a grant of this record; ask the owner for a grant"
        ),
    ))
}

/// Stores a sealed blob on the node with a signed upload (`X-Want-Time`, `X-Want-Signature`
/// over `blob_put_digest`): the node holds the uploader to its upload quota.
fn upload_blob(
    client: &Client,
    chain_id: u64,
    key: &PrivateKey,
    blob: Vec<u8>,
) -> anyhow::Result<serde_json::Value> {
    let time_ms = now_ms();
    let cid = want_crypto::cid_of(&blob);
    let sig = key.sign_digest(&want_types::trace::blob_put_digest(chain_id, &cid, time_ms));
    client.put_bytes_with(
        "/v1/blobs",
        blob,
        &[
            ("X-Want-Time", time_ms.to_string()),
            ("X-Want-Signature", hex::encode(sig)),
        ],
    )
}

/// What a signed blob read is bound to: the chain and the node that serves it, as the node's
/// `GET /v1/status` names them (a read signed for one node is refused by every other).
struct ReadTarget {
    chain_id: u64,
    /// The node's Ed25519 public key (`node_id`).
    node_id: Vec<u8>,
}

/// The chain and node identity a node's blob reads are signed for.
fn read_target(client: &Client) -> anyhow::Result<ReadTarget> {
    let status = client.get("/v1/status")?;
    let chain_id = status["chain_id"]
        .as_u64()
        .ok_or_else(|| err("bad_response", "the node's status lacks chain_id"))?;
    let node_id = status["node_id"]
        .as_str()
        .and_then(|h| hex::decode(h).ok())
        .ok_or_else(|| err("bad_response", "the node's status lacks a hex node_id"))?;
    Ok(ReadTarget { chain_id, node_id })
}

/// Fetches a blob with a read request signed for `target` (each signed read is served once).
fn fetch_blob(
    client: &Client,
    target: &ReadTarget,
    cid: &str,
    key: &PrivateKey,
) -> anyhow::Result<Vec<u8>> {
    let time_ms = now_ms();
    let path = want_types::trace::blob_read_path(cid);
    let sig = key.sign_digest(&want_types::trace::blob_read_digest(
        target.chain_id,
        &target.node_id,
        want_types::trace::BLOB_READ_METHOD,
        &path,
        cid,
        time_ms,
    ));
    let bytes = client.get_bytes(
        &path,
        &[
            ("X-Want-Time", time_ms.to_string()),
            ("X-Want-Signature", hex::encode(sig)),
        ],
    )?;
    if !want_crypto::cid_matches(cid, &bytes) {
        return Err(err(
            "blob_tampered",
            format!("the node served bytes that do not match CID {cid}"),
        ));
    }
    Ok(bytes)
}

/// Fetches, opens and checks one record (by its record view) with a reader's key.
fn open_record(
    client: &Client,
    target: &ReadTarget,
    record: &Value,
    key: &PrivateKey,
) -> anyhow::Result<Value> {
    let cid = record["cid"].as_str().unwrap_or_default();
    let rk = record_key_for(record, key)?;
    let blob = fetch_blob(client, target, cid, key)?;
    let parse_hash = |name: &str| -> anyhow::Result<Hash32> {
        record[name]
            .as_str()
            .and_then(|s| parse_event_hash_id(s).or_else(|| s.parse().ok()))
            .ok_or_else(|| err("bad_response", format!("record lacks {name}")))
    };
    let signer: Address = record["signer"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| err("bad_response", "record lacks signer"))?;
    let opened = want_records::open_record(
        &blob,
        &rk,
        &parse_hash("recordHash")?,
        &signer,
        &parse_hash("eventHash")?,
    )
    .map_err(|e| err("record_tampered", e.to_string()))?;
    Ok(opened.event.to_json())
}

pub fn run(cmd: Command, out: &Out) -> anyhow::Result<()> {
    match cmd {
        Command::Trace(c) => run_trace(c, out),
    }
}

fn run_trace(cmd: TraceCommand, out: &Out) -> anyhow::Result<()> {
    match cmd {
        TraceCommand::Hash { file } => {
            let capture = read_epcis(&file)?;
            let events: Vec<Value> = capture
                .events
                .iter()
                .map(|e| json!({"eventHash": e.hash_id()}))
                .collect();
            let v = json!({"events": events});
            out.value(&v, |v| {
                v["events"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| e["eventHash"].as_str().unwrap_or_default().to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        TraceCommand::Capture {
            file,
            sign,
            private_time,
            private_location,
            publish_any_place,
            no_confirm_orders,
        } => {
            let capture = read_epcis(&file)?;
            let profile = Profile::commit().secp(CAPTURE_SECP).node(CAPTURE_NODE);
            let mut signer = Signer::open(sign, profile)?;
            let key = signer.secp_key()?.clone();
            let client = signer.node()?;
            let me = client.get(&format!("/v1/trace/keys/{}", key.address()))?;
            let org = me["key"]["org"].as_str().ok_or_else(|| {
                err(
                    want_state::trace::codes::UNKNOWN_KEY,
                    format!(
                        "{} is not a registered department key; ask the administrator to add it (`want trace key add`)",
                        key.address()
                    ),
                )
            })?;
            let org = org.to_string();
            if let Some(h) = me["key"]["revoked_at"].as_u64() {
                return Err(err(
                    want_state::trace::codes::KEY_REVOKED,
                    format!("key {} was revoked at block {h}", key.address()),
                ));
            }
            let roles: Vec<Role> = serde_json::from_value(me["key"]["roles"].clone())
                .map_err(|e| err("bad_response", format!("the node's key roles: {e}")))?;
            // Refuse what the chain would refuse before anything is stored.
            for (i, e) in capture.events.iter().enumerate() {
                if !want_types::trace::may_sign(&roles, e.biz_step()) {
                    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                    return Err(CliError::new(
                        want_state::trace::codes::ROLE_NOT_ALLOWED,
                        format!(
                            "key {} holds roles [{}], which may not sign bizStep {:?}",
                            key.address(),
                            names.join(", "),
                            e.biz_step().unwrap_or("(none)")
                        ),
                    )
                    .at(format!(
                        "{}.bizStep",
                        want_node::trace::capture::event_path(capture.kind, i)
                    ))
                    .into());
                }
            }
            let enc = me["orgInfo"]["encryption_key"].as_str().ok_or_else(|| {
                err(
                    "bad_response",
                    "the key's organisation has no encryption key",
                )
            })?;
            let owner_key = public_key(enc, "organisation encryption key")?;
            let publish = Publish {
                time: !private_time,
                location: !private_location,
                non_gs1_places: publish_any_place,
            };
            let mut sealed = Vec::with_capacity(capture.events.len());
            // Events carrying an errorDeclaration of an event already on chain: declared
            // erroneous (the record stays), not anchored again.
            let mut declarations = Vec::new();
            for (i, e) in capture.events.iter().enumerate() {
                // This organisation's own record of the event: another organisation's record of
                // the same event hash is its own (rule `trace_record_ids`) and blocks nothing.
                let path = format!(
                    "/v1/trace/records/{}?org={}",
                    want_node::trace::urlencode(&e.hash_id()),
                    want_node::trace::urlencode(&org)
                );
                if client.get(&path).is_ok() {
                    if let Some(d) = e.error_declaration() {
                        declarations.push((
                            e.hash_id(),
                            TraceCall::DeclareError {
                                event_hash: event_hash_of(e),
                                declared_at_ms: d.declaration_time_ms,
                                reason: d.reason.clone(),
                                corrective_event_ids: d.corrective_event_ids.clone(),
                            },
                        ));
                        continue;
                    }
                    return Err(CliError::new(
                        want_state::trace::codes::DUPLICATE_EVENT,
                        format!("event {} is already captured", e.hash_id()),
                    )
                    .at(want_node::trace::capture::event_path(capture.kind, i))
                    .into());
                }
                sealed.push(seal_event(
                    e,
                    &key,
                    &owner_key,
                    publish,
                    &mut rand::rngs::OsRng,
                )?);
            }
            let ids: Vec<String> = sealed.iter().map(|s| s.event_hash_id.clone()).collect();
            let mut blobs = Vec::with_capacity(sealed.len());
            let mut anchors = Vec::with_capacity(sealed.len());
            for s in sealed {
                blobs.push(s.blob);
                anchors.push(s.anchor);
            }
            let mut calls = if anchors.is_empty() {
                Vec::new()
            } else {
                anchor_calls(&org, anchors)?
            };
            let mut counts: Vec<usize> = calls
                .iter()
                .map(|call| match call {
                    TraceCall::Anchor { records, .. } => records.len(),
                    _ => 0,
                })
                .collect();
            let mut ids = ids;
            let anchored = ids.len();
            for (id, call) in declarations {
                ids.push(id);
                calls.push(call);
                counts.push(1);
            }
            // Sign every anchor before storing anything: a refusal (e.g. an anchor too large
            // for a --pow stamp) leaves nothing behind.
            let stxs = sign_all(&mut signer, calls)?;
            let client = signer.node()?;
            for blob in blobs {
                upload_blob(client, signer.chain_id(), &key, blob)?;
            }
            let outcome = deliver(&signer, stxs, FileShape::Array)?;
            let mut events = Vec::with_capacity(ids.len());
            let mut next = 0usize;
            for (t, n) in counts.into_iter().enumerate() {
                for id in ids.iter().skip(next).take(n) {
                    let mut e = json!({"eventHash": id, "tx": outcome.tx(t)});
                    if next >= anchored {
                        e["declaredErroneous"] = json!(true);
                    }
                    events.push(e);
                }
                next += n;
            }
            let orders = if no_confirm_orders {
                Vec::new()
            } else {
                let plan = want_node::modules::commerce::capture_orders::plan(
                    capture.events.iter().map(|e| (e, event_hash_of(e))),
                );
                capture_orders::confirm(&mut signer, outcome.committed(), plan)
            };
            let result = json!({"events": events, "orders": orders});
            outcome.print(out, result, |v| {
                let mut s = String::new();
                for e in v["events"].as_array().into_iter().flatten() {
                    s.push_str(&format!(
                        "{}  tx {}\n",
                        e["eventHash"].as_str().unwrap_or_default(),
                        e["tx"].as_str().unwrap_or_default()
                    ));
                }
                s.push_str(&capture_orders::lines(&v["orders"]));
                s.trim_end().to_string()
            });
            Ok(())
        }
        TraceCommand::Verify {
            product,
            node,
            keystore,
            password_file,
            key_file,
            genesis,
        } => {
            let client = Client::new(&node.url)?;
            let report = client.get(&product_path("/v1/trace/verify/", &product)?)?;
            let expected = want_node::trace::normalize_product(&product)
                .map_err(|m| err("invalid_identifier", m))?;
            let check = want_records::check_report(&report, &expected)
                .map_err(|e| err("bad_response", e.to_string()))?;
            let mut opened = Vec::new();
            // A key opens the records (a lone --password-file opens nothing, as before).
            if keystore.is_some() || key_file.is_some() {
                let source = KeySource {
                    keystore,
                    password_file,
                    key_file,
                };
                let key = source.load_secp(READ_SECP)?;
                let target = read_target(&client)?;
                for e in report["events"].as_array().into_iter().flatten() {
                    let id = e["eventHash"].as_str().unwrap_or_default();
                    // Several organisations may each hold a record of one event hash: open the
                    // one the report names.
                    let org = e["org"].as_str().unwrap_or_default();
                    let rec = client.get(&format!(
                        "/v1/trace/records/{}?org={}",
                        want_node::trace::urlencode(id),
                        want_node::trace::urlencode(org)
                    ))?;
                    match open_record(&client, &target, &rec, &key) {
                        Ok(_) => opened.push(json!({"eventHash": id, "opened": "authentic"})),
                        Err(e) => {
                            let e = CliError::from_anyhow(e);
                            opened.push(
                                json!({"eventHash": id, "opened": e.code, "message": e.message}),
                            )
                        }
                    }
                }
            }
            let record_tampered = opened
                .iter()
                .any(|o| o["opened"] == "record_tampered" || o["opened"] == "blob_tampered");
            let certified = match &genesis {
                None => json!("not checked (pass --genesis)"),
                Some(path) if check.verdict == "authentic" => {
                    let genesis = crate::verify::read_genesis(Some(path))?;
                    let headers = proof_headers(&report)?;
                    check_chain_id(&genesis, path, &headers)?;
                    let certified = certificates(&client, &genesis, &headers)?;
                    if certified.get("problem").is_some() {
                        check_genesis_hash(&client, &genesis, path)?;
                    }
                    certified
                }
                Some(_) => json!("not checked (the proofs fail)"),
            };
            let uncertified = certified.get("problem").is_some();
            let verdict = if record_tampered || uncertified {
                "tampered"
            } else {
                check.verdict
            };
            let v = json!({
                "product": report["product"],
                "verdict": verdict,
                "nodeVerdict": report["verdict"],
                "problem": check.problem.as_ref().map(|(i, m)| json!({"index": i, "message": m})),
                "failure": report["failure"],
                "records": check.records,
                "anchor": report["anchor"],
                "blocks": check.blocks.iter().map(|(h, b)| json!({"height": h, "hash": b})).collect::<Vec<_>>(),
                "opened": opened,
                "certified": certified,
            });
            out.value(&v, |v| {
                let mut s = format!(
                    "{}  {}  ({} records)",
                    v["verdict"].as_str().unwrap_or_default(),
                    v["product"].as_str().unwrap_or_default(),
                    v["records"]
                );
                if let Some(m) = v["problem"]["message"].as_str() {
                    s.push_str(&format!("\nproblem: {m}"));
                }
                if let Some(m) = v["certified"]["problem"].as_str() {
                    s.push_str(&format!("\nnot certified: {m}"));
                }
                // With a key: which records it opened, and how each fared.
                for o in v["opened"].as_array().into_iter().flatten() {
                    s.push_str(&format!(
                        "\nopened  {}  {}",
                        o["eventHash"].as_str().unwrap_or_default(),
                        o["opened"].as_str().unwrap_or_default()
                    ));
                    if let Some(m) = o["message"].as_str() {
                        s.push_str(&format!(": {m}"));
                    }
                }
                s
            });
            if verdict == "tampered" {
                return Err(err(crate::output::ALREADY_REPORTED, ""));
            }
            Ok(())
        }
        TraceCommand::Events {
            product,
            biz_step,
            disposition,
            location,
            org,
            from_ms,
            to_ms,
            limit,
            cursor,
            node,
        } => {
            let mut q = Vec::new();
            let mut add = |k: &str, v: Option<String>| {
                if let Some(v) = v {
                    q.push(format!("{k}={}", want_node::trace::urlencode(&v)));
                }
            };
            add("product", product);
            add("bizStep", biz_step);
            add("disposition", disposition);
            add("location", location);
            add("org", org);
            add("fromMs", from_ms.map(|x| x.to_string()));
            add("toMs", to_ms.map(|x| x.to_string()));
            add("limit", limit.map(|x| x.to_string()));
            add("cursor", cursor.map(|x| x.to_string()));
            let v = Client::new(&node.url)?.get(&format!("/v1/trace/events?{}", q.join("&")))?;
            out.value(&v, |v| serde_json::to_string_pretty(v).unwrap_or_default());
            Ok(())
        }
        TraceCommand::Lineage {
            product,
            depth,
            node,
        } => {
            let path = format!(
                "{}?depth={depth}",
                product_path("/v1/trace/lineage/", &product)?
            );
            let v = Client::new(&node.url)?.get(&path)?;
            out.value(&v, |v| serde_json::to_string_pretty(v).unwrap_or_default());
            Ok(())
        }
        TraceCommand::Tag {
            product,
            qr_out,
            node,
        } => {
            let v = Client::new(&node.url)?.get(&product_path("/v1/trace/tag/", &product)?)?;
            if let Some(path) = &qr_out {
                std::fs::write(path, v["qrSvg"].as_str().unwrap_or_default()).map_err(|e| {
                    err(
                        "file_unwritable",
                        format!("cannot write {}: {e}", path.display()),
                    )
                })?;
            }
            let v = json!({"product": v["product"], "url": v["url"], "qrFile": qr_out});
            out.value(&v, |v| v["url"].as_str().unwrap_or_default().to_string());
            Ok(())
        }
        TraceCommand::Fetch { event, key, node } => {
            event_id(&event)?;
            let k = key.load_secp(READ_SECP)?;
            let client = Client::new(&node.url)?;
            let rec = client.get(&format!(
                "/v1/trace/records/{}",
                want_node::trace::urlencode(&event)
            ))?;
            let ev = open_record(&client, &read_target(&client)?, &rec, &k)?;
            let v = json!({"eventHash": rec["eventHash"], "event": ev});
            out.value(&v, |v| {
                serde_json::to_string_pretty(&v["event"]).unwrap_or_default()
            });
            Ok(())
        }
        TraceCommand::Grant {
            event,
            to_key,
            expires_in,
            sign,
        } => {
            let eh = event_id(&event)?;
            let grantee_pk = public_key(&to_key, "to-key")?;
            let grantee = want_crypto::address_from_secp_pubkey(&grantee_pk);
            let profile = Profile::commit().secp(GRANT_SECP).node(GRANT_NODE);
            let mut signer = Signer::open(sign, profile)?;
            let rec = signer.node()?.get(&format!(
                "/v1/trace/records/{}",
                want_node::trace::urlencode(&event)
            ))?;
            let rk = record_key_for(&rec, signer.secp_key()?)?;
            let wrapped_key = want_crypto::wrap_key(&grantee_pk, &rk)?;
            let expires_at_ms = now_ms().saturating_add(expires_in.saturating_mul(1000));
            let outcome = sign_one(
                &mut signer,
                TraceCall::Grant {
                    event_hash: eh,
                    grantee,
                    grantee_key: grantee_pk.serialize().to_vec(),
                    permission: Permission::Read,
                    expires_at_ms,
                    wrapped_key,
                },
            )?;
            let v = json!({"tx": outcome.tx(0), "grantee": grantee, "expiresAtMs": expires_at_ms});
            outcome.print(out, v, |v| {
                format!(
                    "granted {} until {} ms (tx {})",
                    v["grantee"].as_str().unwrap_or_default(),
                    v["expiresAtMs"],
                    v["tx"].as_str().unwrap_or_default()
                )
            });
            Ok(())
        }
        TraceCommand::RevokeGrant {
            event,
            grantee,
            sign,
        } => {
            let eh = event_id(&event)?;
            let grantee = address(&grantee, "grantee")?;
            let mut signer = Signer::open(sign, Profile::commit())?;
            let outcome = sign_one(
                &mut signer,
                TraceCall::RevokeGrant {
                    event_hash: eh,
                    grantee,
                },
            )?;
            outcome.print(out, json!({"tx": outcome.tx(0)}), |v| {
                format!("revoked (tx {})", v["tx"].as_str().unwrap_or_default())
            });
            Ok(())
        }
        TraceCommand::Org(c) => run_org(c, out),
        TraceCommand::Key(c) => run_key(c, out),
        TraceCommand::Kyc(c) => run_kyc(c, out),
        TraceCommand::Prefix(c) => {
            let (sign, call) = match c {
                PrefixCommand::Register { prefix, org, sign } => {
                    (sign, TraceCall::RegisterPrefix { prefix, org })
                }
                PrefixCommand::Authorize {
                    prefix,
                    party,
                    sign,
                } => (sign, TraceCall::AuthorizeParty { prefix, party }),
                PrefixCommand::Withdraw {
                    prefix,
                    party,
                    sign,
                } => (sign, TraceCall::WithdrawParty { prefix, party }),
            };
            sign_and_print_tx(sign, call, out)
        }
        TraceCommand::Handover {
            to_org,
            products,
            sign,
        } => {
            let products = products
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    want_epcis::normalize_identifier(p.trim()).map_err(|e| {
                        err("invalid_arguments", format!("--product #{}: {p:?}: {e}", i + 1))
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            sign_and_print_tx(sign, TraceCall::HandOver { to_org, products }, out)
        }
    }
}

/// Signs a call that only needs signing (any key; `--offline` works) and prints
/// `{"tx", "block_height"}` (the height is null unless the transaction was waited for).
fn sign_and_print_tx(sign: SignArgs, call: TraceCall, out: &Out) -> anyhow::Result<()> {
    let mut signer = Signer::open(sign, Profile::commit())?;
    let outcome = sign_one(&mut signer, call)?;
    let v = json!({"tx": outcome.tx(0), "block_height": outcome.block_height()});
    outcome.print(out, v, |v| {
        format!(
            "committed {} in block {}",
            v["tx"].as_str().unwrap_or_default(),
            v["block_height"]
        )
    });
    Ok(())
}

fn run_org(c: OrgCommand, out: &Out) -> anyhow::Result<()> {
    match c {
        OrgCommand::Register {
            org,
            name,
            kind,
            encryption_key,
            sign,
        } => {
            let kind: OrgKind = serde_json::from_value(json!(kind)).map_err(|_| {
                err(
                    "invalid_arguments",
                    format!("--kind {kind:?} is not one of brand, factory, warehouse, logistics, distributor, retailer, inspector, customs, kyc_verifier"),
                )
            })?;
            let pk = public_key(&encryption_key, "encryption-key")?;
            let call = TraceCall::RegisterOrg {
                org,
                name,
                kind,
                encryption_key: pk.serialize().to_vec(),
            };
            sign_and_print_tx(sign, call, out)
        }
        OrgCommand::Show { org, node } => {
            let v = Client::new(&node.url)?.get(&format!(
                "/v1/trace/orgs/{}",
                want_node::trace::urlencode(&org)
            ))?;
            out.value(&v, |v| serde_json::to_string_pretty(v).unwrap_or_default());
            Ok(())
        }
    }
}

fn run_key(c: KeyCommand, out: &Out) -> anyhow::Result<()> {
    match c {
        KeyCommand::Add {
            org,
            address: a,
            department,
            roles,
            sign,
        } => {
            let roles = roles
                .iter()
                .map(|r| r.trim().parse::<Role>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| err("invalid_arguments", format!("--roles: {e}")))?;
            let call = TraceCall::AddKey {
                org,
                key: address(&a, "address")?,
                department,
                roles,
            };
            sign_and_print_tx(sign, call, out)
        }
        KeyCommand::Revoke { address: a, sign } => {
            let call = TraceCall::RevokeKey {
                key: address(&a, "address")?,
            };
            sign_and_print_tx(sign, call, out)
        }
    }
}

fn run_kyc(c: KycCommand, out: &Out) -> anyhow::Result<()> {
    match c {
        KycCommand::Submit {
            file,
            verifier,
            verifier_key,
            sign,
        } => {
            let verifier = address(&verifier, "verifier")?;
            let vk = public_key(&verifier_key, "verifier-key")?;
            let doc = std::fs::read(&file).map_err(|e| {
                err(
                    "file_unreadable",
                    format!("cannot read {}: {e}", file.display()),
                )
            })?;
            if doc.len() as u64 > KYC_FILE_BYTES_MAX {
                return Err(err(
                    "too_large",
                    format!("{} is over {KYC_FILE_BYTES_MAX} bytes", file.display()),
                ));
            }
            let sealed = want_crypto::ecies_encrypt(&vk, &doc)?;
            let mut signer = Signer::open(sign, Profile::commit().node(KYC_SUBMIT_NODE))?;
            let uploader = signer.secp_key()?.clone();
            let cid = upload_blob(signer.node()?, signer.chain_id(), &uploader, sealed)?["cid"]
                .as_str()
                .ok_or_else(|| err("bad_response", "the blob store's answer lacks cid"))?
                .to_string();
            let outcome = sign_one(
                &mut signer,
                TraceCall::SubmitKyc {
                    verifier,
                    cid: cid.clone(),
                },
            )?;
            outcome.print(out, json!({"tx": outcome.tx(0), "cid": cid}), |v| {
                format!(
                    "filed {} (tx {})",
                    v["cid"].as_str().unwrap_or_default(),
                    v["tx"].as_str().unwrap_or_default()
                )
            });
            Ok(())
        }
        KycCommand::Attest {
            subject,
            cid,
            level,
            sign,
        } => {
            let subject = address(&subject, "subject")?;
            let profile = Profile::commit().secp(ATTEST_SECP).node(KYC_ATTEST_NODE);
            let mut signer = Signer::open(sign, profile)?;
            let key = signer.secp_key()?;
            let node = signer.node()?;
            let sealed = fetch_blob(node, &read_target(node)?, &cid, key)?;
            let doc = want_crypto::ecies_decrypt(key, &sealed)?;
            let attestation = want_types::sha256d(&doc);
            let outcome = sign_one(
                &mut signer,
                TraceCall::AttestKyc {
                    subject,
                    level,
                    attestation,
                },
            )?;
            let v = json!({"tx": outcome.tx(0), "attestation": attestation, "level": level});
            outcome.print(out, v, |v| {
                format!(
                    "attested level {} (hash {}, tx {})",
                    v["level"],
                    v["attestation"].as_str().unwrap_or_default(),
                    v["tx"].as_str().unwrap_or_default()
                )
            });
            Ok(())
        }
    }
}
