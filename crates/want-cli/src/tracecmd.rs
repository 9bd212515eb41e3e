//! `want trace …`: capture EPCIS events, verify products, manage organisations, keys, grants and
//! KYC, query records and lineage.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::{json, Value};
use want_crypto::PrivateKey;
use want_trace::{anchor_calls, seal_event, Publish};
use want_types::trace::{parse_event_hash_id, OrgKind, Permission, Role, TraceCall};
use want_types::{Address, Call, Hash32, Transaction};

use crate::client::Client;
use crate::output::{CliError, Out};
use crate::txcmd::now_ms;
use crate::{read_password, NodeArg};

/// Largest EPCIS file read, in bytes (the capture limit).
const EPCIS_FILE_BYTES_MAX: u64 = want_epcis::CAPTURE_BYTES_MAX as u64;
/// Largest KYC document sealed, in bytes.
const KYC_FILE_BYTES_MAX: u64 = 8 * 1024 * 1024;
/// Validity of the transactions these commands sign, in milliseconds.
const TX_EXPIRY_MS: u64 = 3_600_000;

/// The key a command signs with.
#[derive(Args, Clone)]
pub struct KeyArgs {
    /// Keystore file (Web3 Secret Storage v3) of the department key.
    #[arg(long)]
    keystore: PathBuf,
    #[arg(long)]
    password_file: PathBuf,
    #[command(flatten)]
    node: NodeArg,
}

#[derive(Subcommand)]
pub enum TraceCommand {
    /// Compute the GS1 EPCIS event hash IDs of a document's events (offline, no node).
    Hash { file: PathBuf },
    /// Capture an EPCIS 2.0 document or event: sign, seal, store and anchor each event.
    Capture {
        file: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
        /// Keep the event time off the public record.
        #[arg(long)]
        private_time: bool,
        /// Keep the business location off the public record.
        #[arg(long)]
        private_location: bool,
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
        /// Also check that every block the proofs lead to carries a commit certificate of the
        /// members of this genesis.json (without it, the headers are the node's word).
        #[arg(long)]
        genesis: Option<PathBuf>,
    },
    /// Records by product, business step, location, organisation and time, a page at a time.
    Events {
        #[arg(long)]
        product: Option<String>,
        #[arg(long)]
        biz_step: Option<String>,
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
        key: KeyArgs,
    },
    /// Grant a party read access to a record until a time.
    Grant {
        event: String,
        /// The grantee's compressed secp256k1 public key (66 hex digits; `want key show`).
        #[arg(long)]
        to_key: String,
        /// Seconds the grant lasts.
        #[arg(long, default_value_t = 86_400)]
        expires_in: u64,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Withdraw a grant.
    RevokeGrant {
        event: String,
        #[arg(long)]
        grantee: String,
        #[command(flatten)]
        key: KeyArgs,
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
}

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
        key: KeyArgs,
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
        key: KeyArgs,
    },
    /// Revoke a department key (records it signs from the next transaction on are refused).
    Revoke {
        #[arg(long)]
        address: String,
        #[command(flatten)]
        key: KeyArgs,
    },
}

#[derive(Subcommand)]
pub enum KycCommand {
    /// Seal an identity document to a verifier's key, store it and file it on chain (only its CID).
    Submit {
        file: PathBuf,
        /// The verifier's account address.
        #[arg(long)]
        verifier: String,
        /// The verifier's public key (66 hex digits).
        #[arg(long)]
        verifier_key: String,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// As a KYC verifier: open a filed document and attest the subject's level (hash and level
    /// go on chain).
    Attest {
        #[arg(long)]
        subject: String,
        #[arg(long)]
        cid: String,
        #[arg(long)]
        level: u8,
        #[command(flatten)]
        key: KeyArgs,
    },
}

/// Reads a keystore that must hold a secp256k1 key (records are sealed with ECIES on secp256k1).
fn read_secp_key(keystore: &Path, password_file: &PathBuf) -> anyhow::Result<PrivateKey> {
    let password = read_password(password_file)?;
    match want_crypto::read_keystore_file(keystore, &password)? {
        want_crypto::SigningKey::Secp256k1(k) => Ok(k),
        want_crypto::SigningKey::Rsa(_) => Err(err(
            "unsupported_key",
            format!(
                "{} holds an RSA key; trace records are signed and sealed with secp256k1 keys",
                keystore.display()
            ),
        )),
    }
}

fn err(code: &str, message: impl Into<String>) -> anyhow::Error {
    CliError::new(code, message).into()
}

/// A key loaded from its keystore, with the node it talks to.
struct Signer {
    key: PrivateKey,
    client: Client,
    chain_id: u64,
    min_fee: u128,
    next_nonce: u64,
}

impl Signer {
    fn open(a: &KeyArgs) -> anyhow::Result<Signer> {
        let key = read_secp_key(&a.keystore, &a.password_file)?;
        let client = Client::new(&a.node.url)?;
        let status = client.get("/v1/status")?;
        let chain_id = status["chain_id"]
            .as_u64()
            .ok_or_else(|| err("bad_response", "status lacks chain_id"))?;
        let min_fee = status["params"]["min_fee"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| err("bad_response", "status lacks params.min_fee"))?;
        let next_nonce = client.get(&format!("/v1/accounts/{}", key.address()))?["pending_nonce"]
            .as_u64()
            .ok_or_else(|| err("bad_response", "account lacks pending_nonce"))?;
        Ok(Signer {
            key,
            client,
            chain_id,
            min_fee,
            next_nonce,
        })
    }

    /// Signs a call with the next nonce and sends it, waiting for the commit; a failed receipt is
    /// an error carrying its code.
    fn send(&mut self, call: TraceCall) -> anyhow::Result<Value> {
        let tx = Transaction {
            chain_id: self.chain_id,
            from: self.key.address(),
            nonce: self.next_nonce,
            fee: self.min_fee,
            expiry_ms: now_ms().saturating_add(TX_EXPIRY_MS),
            pow_nonce: 0,
            call: Call::Trace(call),
        };
        let stx = want_crypto::SigningKey::Secp256k1(self.key.clone()).sign_transaction(tx);
        let body =
            serde_json::to_value(&stx).expect("invariant: a transaction always serialises to JSON");
        let v = self.client.post("/v1/transactions?wait=commit", &body)?;
        self.next_nonce += 1;
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
        Ok(v)
    }
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
    s.parse()
        .map_err(|e| err("invalid_address", format!("--{field}: {e}")))
}

fn public_key(s: &str, field: &str) -> anyhow::Result<want_crypto::SecpPublicKey> {
    want_crypto::parse_public_key_hex(s)
        .map_err(|e| err("invalid_public_key", format!("--{field}: {e}")))
}

fn product_path(node: &str, product: &str) -> anyhow::Result<String> {
    let id = want_epcis::normalize_identifier(product.trim())
        .map_err(|e| err("invalid_identifier", e.message))?;
    Ok(format!("{node}{}", want_node::api_trace::urlencode(&id)))
}

/// Checks the commit certificate of every block a verification report's proofs lead to (their
/// headers were checked against the block hashes by `check_report`): `{"blocks": n}` when all
/// are certified by the genesis members, with `"problem"` naming the first that is not.
fn certificates(
    client: &Client,
    genesis: &want_node::Genesis,
    report: &Value,
) -> anyhow::Result<Value> {
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
    let mut members = None;
    for header in &headers {
        let (problems, _, source, _) =
            crate::verify::check_certificate_of(client, genesis, header)?;
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

/// Fetches a blob with a signed read request.
fn fetch_blob(client: &Client, cid: &str, key: &PrivateKey) -> anyhow::Result<Vec<u8>> {
    let time_ms = now_ms();
    let sig = key.sign_digest(&want_types::trace::blob_read_digest(cid, time_ms));
    let bytes = client.get_bytes(
        &format!("/v1/blobs/{cid}"),
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
fn open_record(client: &Client, record: &Value, key: &PrivateKey) -> anyhow::Result<Value> {
    let cid = record["cid"].as_str().unwrap_or_default();
    let rk = record_key_for(record, key)?;
    let blob = fetch_blob(client, cid, key)?;
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
    let opened = want_trace::open_record(
        &blob,
        &rk,
        &parse_hash("recordHash")?,
        &signer,
        &parse_hash("eventHash")?,
    )
    .map_err(|e| err("record_tampered", e.to_string()))?;
    Ok(opened.event.to_json())
}

pub fn run(cmd: TraceCommand, out: &Out) -> anyhow::Result<()> {
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
            key,
            private_time,
            private_location,
        } => {
            let capture = read_epcis(&file)?;
            let mut signer = Signer::open(&key)?;
            let me = signer
                .client
                .get(&format!("/v1/trace/keys/{}", signer.key.address()))?;
            let org = me["key"]["org"].as_str().ok_or_else(|| {
                err(
                    want_state::codes::UNKNOWN_KEY,
                    format!(
                        "{} is not a registered department key; ask the administrator to add it (`want trace key add`)",
                        signer.key.address()
                    ),
                )
            })?;
            let org = org.to_string();
            if let Some(h) = me["key"]["revoked_at"].as_u64() {
                return Err(err(
                    want_state::codes::KEY_REVOKED,
                    format!("key {} was revoked at block {h}", signer.key.address()),
                ));
            }
            let roles: Vec<Role> = serde_json::from_value(me["key"]["roles"].clone())
                .map_err(|e| err("bad_response", format!("the node's key roles: {e}")))?;
            // Refuse what the chain would refuse before anything is stored.
            for (i, e) in capture.events.iter().enumerate() {
                if !want_types::trace::may_sign(&roles, e.biz_step()) {
                    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                    return Err(CliError::new(
                        want_state::codes::ROLE_NOT_ALLOWED,
                        format!(
                            "key {} holds roles [{}], which may not sign bizStep {:?}",
                            signer.key.address(),
                            names.join(", "),
                            e.biz_step().unwrap_or("(none)")
                        ),
                    )
                    .at(format!(
                        "{}.bizStep",
                        want_node::capture::event_path(capture.kind, i)
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
            };
            let mut sealed = Vec::with_capacity(capture.events.len());
            for (i, e) in capture.events.iter().enumerate() {
                let path = format!(
                    "/v1/trace/records/{}",
                    want_node::api_trace::urlencode(&e.hash_id())
                );
                if signer.client.get(&path).is_ok() {
                    return Err(CliError::new(
                        want_state::codes::DUPLICATE_EVENT,
                        format!("event {} is already captured", e.hash_id()),
                    )
                    .at(want_node::capture::event_path(capture.kind, i))
                    .into());
                }
                sealed.push(seal_event(
                    e,
                    &signer.key,
                    &owner_key,
                    publish,
                    &mut rand::rngs::OsRng,
                )?);
            }
            for s in &sealed {
                signer.client.put_bytes("/v1/blobs", s.blob.clone())?;
            }
            let ids: Vec<String> = sealed.iter().map(|s| s.event_hash_id.clone()).collect();
            let calls = anchor_calls(&org, sealed.into_iter().map(|s| s.anchor).collect())?;
            let mut events = Vec::with_capacity(ids.len());
            let mut next = 0usize;
            for call in calls {
                let n = match &call {
                    TraceCall::Anchor { records, .. } => records.len(),
                    _ => 0,
                };
                let v = signer.send(call)?;
                for id in &ids[next..next + n] {
                    events.push(json!({"eventHash": id, "tx": v["id"]}));
                }
                next += n;
            }
            let v = json!({"events": events});
            out.value(&v, |v| {
                let mut s = String::new();
                for e in v["events"].as_array().into_iter().flatten() {
                    s.push_str(&format!(
                        "{}  tx {}\n",
                        e["eventHash"].as_str().unwrap_or_default(),
                        e["tx"].as_str().unwrap_or_default()
                    ));
                }
                s.trim_end().to_string()
            });
            Ok(())
        }
        TraceCommand::Verify {
            product,
            node,
            keystore,
            password_file,
            genesis,
        } => {
            let client = Client::new(&node.url)?;
            let report = client.get(&product_path("/v1/trace/verify/", &product)?)?;
            let expected = want_node::trace::normalize_product(&product)
                .map_err(|m| err("invalid_identifier", m))?;
            let check = want_trace::check_report(&report, &expected)
                .map_err(|e| err("bad_response", e.to_string()))?;
            let mut opened = Vec::new();
            if let (Some(ks), Some(pw)) = (keystore, password_file) {
                let key = read_secp_key(&ks, &pw)?;
                for e in report["events"].as_array().into_iter().flatten() {
                    let id = e["eventHash"].as_str().unwrap_or_default();
                    let rec = client.get(&format!(
                        "/v1/trace/records/{}",
                        want_node::api_trace::urlencode(id)
                    ))?;
                    match open_record(&client, &rec, &key) {
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
                    certificates(&client, &genesis, &report)?
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
                    q.push(format!("{k}={}", want_node::api_trace::urlencode(&v)));
                }
            };
            add("product", product);
            add("bizStep", biz_step);
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
        TraceCommand::Fetch { event, key } => {
            event_id(&event)?;
            let k = read_secp_key(&key.keystore, &key.password_file)?;
            let client = Client::new(&key.node.url)?;
            let rec = client.get(&format!(
                "/v1/trace/records/{}",
                want_node::api_trace::urlencode(&event)
            ))?;
            let ev = open_record(&client, &rec, &k)?;
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
            key,
        } => {
            let eh = event_id(&event)?;
            let grantee_pk = public_key(&to_key, "to-key")?;
            let grantee = want_crypto::address_from_secp_pubkey(&grantee_pk);
            let mut signer = Signer::open(&key)?;
            let rec = signer.client.get(&format!(
                "/v1/trace/records/{}",
                want_node::api_trace::urlencode(&event)
            ))?;
            let rk = record_key_for(&rec, &signer.key)?;
            let wrapped_key = want_crypto::wrap_key(&grantee_pk, &rk)?;
            let expires_at_ms = now_ms().saturating_add(expires_in.saturating_mul(1000));
            let v = signer.send(TraceCall::Grant {
                event_hash: eh,
                grantee,
                grantee_key: grantee_pk.serialize().to_vec(),
                permission: Permission::Read,
                expires_at_ms,
                wrapped_key,
            })?;
            let v = json!({"tx": v["id"], "grantee": grantee, "expiresAtMs": expires_at_ms});
            out.value(&v, |v| {
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
            key,
        } => {
            let eh = event_id(&event)?;
            let grantee = address(&grantee, "grantee")?;
            let v = Signer::open(&key)?.send(TraceCall::RevokeGrant {
                event_hash: eh,
                grantee,
            })?;
            let v = json!({"tx": v["id"]});
            out.value(&v, |v| {
                format!("revoked (tx {})", v["tx"].as_str().unwrap_or_default())
            });
            Ok(())
        }
        TraceCommand::Org(c) => run_org(c, out),
        TraceCommand::Key(c) => run_key(c, out),
        TraceCommand::Kyc(c) => run_kyc(c, out),
    }
}

fn print_tx(out: &Out, v: &Value) {
    let v = json!({"tx": v["id"], "block_height": v["block_height"]});
    out.value(&v, |v| {
        format!(
            "committed {} in block {}",
            v["tx"].as_str().unwrap_or_default(),
            v["block_height"]
        )
    });
}

fn run_org(c: OrgCommand, out: &Out) -> anyhow::Result<()> {
    match c {
        OrgCommand::Register {
            org,
            name,
            kind,
            encryption_key,
            key,
        } => {
            let kind: OrgKind = serde_json::from_value(json!(kind)).map_err(|_| {
                err(
                    "invalid_arguments",
                    format!("--kind {kind:?} is not one of brand, factory, warehouse, logistics, distributor, retailer, inspector, customs, kyc_verifier"),
                )
            })?;
            let pk = public_key(&encryption_key, "encryption-key")?;
            let v = Signer::open(&key)?.send(TraceCall::RegisterOrg {
                org,
                name,
                kind,
                encryption_key: pk.serialize().to_vec(),
            })?;
            print_tx(out, &v);
            Ok(())
        }
        OrgCommand::Show { org, node } => {
            let v = Client::new(&node.url)?.get(&format!(
                "/v1/trace/orgs/{}",
                want_node::api_trace::urlencode(&org)
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
            key,
        } => {
            let roles = roles
                .iter()
                .map(|r| r.trim().parse::<Role>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| err("invalid_arguments", format!("--roles: {e}")))?;
            let v = Signer::open(&key)?.send(TraceCall::AddKey {
                org,
                key: address(&a, "address")?,
                department,
                roles,
            })?;
            print_tx(out, &v);
            Ok(())
        }
        KeyCommand::Revoke { address: a, key } => {
            let v = Signer::open(&key)?.send(TraceCall::RevokeKey {
                key: address(&a, "address")?,
            })?;
            print_tx(out, &v);
            Ok(())
        }
    }
}

fn run_kyc(c: KycCommand, out: &Out) -> anyhow::Result<()> {
    match c {
        KycCommand::Submit {
            file,
            verifier,
            verifier_key,
            key,
        } => {
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
            let vk = public_key(&verifier_key, "verifier-key")?;
            let sealed = want_crypto::ecies_encrypt(&vk, &doc)?;
            let mut signer = Signer::open(&key)?;
            let cid = signer.client.put_bytes("/v1/blobs", sealed)?["cid"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let v = signer.send(TraceCall::SubmitKyc {
                verifier: address(&verifier, "verifier")?,
                cid: cid.clone(),
            })?;
            let v = json!({"tx": v["id"], "cid": cid});
            out.value(&v, |v| {
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
            key,
        } => {
            let mut signer = Signer::open(&key)?;
            let sealed = fetch_blob(&signer.client, &cid, &signer.key)?;
            let doc = want_crypto::ecies_decrypt(&signer.key, &sealed)?;
            let attestation = want_types::sha256d(&doc);
            let v = signer.send(TraceCall::AttestKyc {
                subject: address(&subject, "subject")?,
                level,
                attestation,
            })?;
            let v = json!({"tx": v["id"], "attestation": attestation, "level": level});
            out.value(&v, |v| {
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
