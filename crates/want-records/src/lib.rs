//! Sealed traceability records, the trace module's client side without I/O: EPCIS events signed, sealed and anchored (§4.8.3 Alg. 1), opened and checked by their readers, and verification reports checked without trusting the node (Alg. 2).
//!
//! A record is the canonical bytes `M_i` of one normalised EPCIS event. The department's key
//! signs `record_signing_digest(M_i)` (`Sig_i`); the envelope `(M_i, Sig_i)` is sealed
//! (AES-256-GCM) under a fresh record key, which is wrapped (ECIES) to the owning organisation;
//! the sealed bytes are content-addressed by their CIDv1. On chain go `H(M_i, Sig_i)`, the CID,
//! the wrapped key and the public fields ([`want_types::trace::AnchorRecord`]).

use borsh::{BorshDeserialize, BorshSerialize};
use rand::{CryptoRng, RngCore};
use serde_json::Value;
use std::collections::HashMap;
use want_crypto::{PrivateKey, RecordKey, SecpPublicKey};
use want_epcis::EpcisEvent;
use want_types::merkle::{verify_merkle_proof, MerkleProof};
use want_types::trace::{
    anchor_step, record_hash, record_signing_digest, verify_products_proof, AnchorRecord,
    AnchorRecordDigest, AnchorTxDigest, ProductLink, PublicFields, Relation, TraceCall,
    ANCHOR_RECORDS_MAX, TRACE_TX_BYTES_MAX,
};
use want_types::{Address, Hash32, Signature};

/// Version of the sealed record envelope.
pub const ENVELOPE_VERSION: u8 = 1;
/// Room left in a trace transaction for everything but its records, in bytes.
pub const ANCHOR_TX_OVERHEAD_BYTES: usize = 4 * 1024;

/// Everything that can go wrong building, opening or checking records.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("crypto: {0}")]
    Crypto(#[from] want_crypto::CryptoError),
    #[error("the sealed record does not decode: {0}")]
    BadEnvelope(String),
    #[error("the record's hash {found} is not the anchored {expected}: it was altered")]
    RecordHashMismatch { expected: Hash32, found: Hash32 },
    #[error("the record's signature is by {found}, not by the anchored signer {expected}")]
    WrongSigner { expected: Address, found: Address },
    #[error("the record is not a valid EPCIS event: {0}")]
    BadRecord(String),
    #[error("the record's event hash {found} is not the anchored {expected}")]
    EventHashMismatch { expected: String, found: String },
    #[error("one record alone is {0} bytes, over the transaction limit")]
    RecordTooLarge(usize),
    #[error("the verification report is malformed at {path}: {message}")]
    BadReport { path: String, message: String },
}

/// Which optional public fields the owner publishes (products, event type and business step are
/// always public).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Publish {
    pub time: bool,
    pub location: bool,
    /// Publish a place that is not a GS1 location (a `geo:` read point, a street address URI,
    /// any custom URI) too. Off by default: such a place may be a consumer's home or a
    /// delivery's route; GS1 locations (GLNs, `https://id.gs1.org/414/…`) are business sites.
    pub non_gs1_places: bool,
}

impl Default for Publish {
    fn default() -> Self {
        Publish {
            time: true,
            location: true,
            non_gs1_places: false,
        }
    }
}

/// True for a GS1 location as normalised: a GLN, with or without extension
/// (`https://id.gs1.org/414/…`).
pub fn is_gs1_location(location: &str) -> bool {
    location.starts_with("https://id.gs1.org/414/")
}

/// The plaintext inside a sealed blob: the record and its signature.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct RecordEnvelope {
    pub version: u8,
    pub record: Vec<u8>,
    pub signature: Vec<u8>,
}

/// A record ready to store and anchor.
pub struct SealedRecord {
    /// `ni:///sha-256;…?ver=CBV2.0`.
    pub event_hash_id: String,
    /// The sealed bytes to put in the blob store (their CID is `anchor.cid`).
    pub blob: Vec<u8>,
    /// The record key (kept by the capturer only as long as it needs it).
    pub key: RecordKey,
    pub anchor: AnchorRecord,
}

/// The SHA-256 inside an `ni:///sha-256;<hex>?ver=CBV2.0` event hash ID.
pub fn event_hash_of(event: &EpcisEvent) -> Hash32 {
    want_types::trace::parse_event_hash_id(&event.hash_id())
        .expect("invariant: hash_id() is an ni:///sha-256 URI with 64 hex digits")
}

fn relation(r: want_epcis::Relation) -> Relation {
    use want_epcis::Relation as R;
    match r {
        R::Epc => Relation::Epc,
        R::Parent => Relation::Parent,
        R::Child | R::ChildQuantity => Relation::Child,
        R::Input | R::InputQuantity => Relation::Input,
        R::Output | R::OutputQuantity => Relation::Output,
        R::Quantity => Relation::Quantity,
    }
}

/// The public fields of an event: products, type and business step always; time and location as
/// `publish` says. Nothing else of the event (extensions, sources, destinations, ilmd…) is public.
pub fn public_fields(event: &EpcisEvent, publish: Publish) -> PublicFields {
    let mut products: Vec<ProductLink> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for p in event.products() {
        let relation = relation(p.relation);
        if seen.insert((p.id.clone(), relation)) {
            products.push(ProductLink { id: p.id, relation });
        }
    }
    PublicFields {
        event_type: event.event_type().name().to_string(),
        biz_step: event.biz_step().map(str::to_string),
        disposition: event.disposition().map(str::to_string),
        event_time_ms: publish.time.then(|| event.event_time_ms()),
        location: if publish.location {
            event
                .biz_location()
                .or(event.read_point())
                .filter(|l| publish.non_gs1_places || is_gs1_location(l))
                .map(str::to_string)
        } else {
            None
        },
        products,
    }
}

/// Signs, seals and prepares one event for anchoring (Alg. 1 of §4.8.3): `Sig_i` by `signer`,
/// sealed under a fresh key wrapped to `owner_key`.
pub fn seal_event(
    event: &EpcisEvent,
    signer: &PrivateKey,
    owner_key: &SecpPublicKey,
    publish: Publish,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<SealedRecord, TraceError> {
    let record = event.canonical_bytes();
    let signature = signer.sign_digest(&record_signing_digest(&record)).to_vec();
    let rh = record_hash(&record, &signature);
    let envelope = RecordEnvelope {
        version: ENVELOPE_VERSION,
        record,
        signature,
    };
    let plaintext =
        borsh::to_vec(&envelope).expect("invariant: borsh encoding into a Vec cannot fail");
    let key = RecordKey::generate(rng);
    let blob = want_crypto::seal(&key, &plaintext, rng)?;
    let cid = want_crypto::cid_of(&blob);
    let owner_wrapped_key = want_crypto::wrap_key(owner_key, &key)?;
    let event_hash_id = event.hash_id();
    Ok(SealedRecord {
        anchor: AnchorRecord {
            event_hash: event_hash_of(event),
            record_hash: rh,
            cid,
            owner_wrapped_key,
            public: public_fields(event, publish),
        },
        event_hash_id,
        blob,
        key,
    })
}

/// Groups records into anchor calls that each fit a trace transaction, in order.
pub fn anchor_calls(org: &str, records: Vec<AnchorRecord>) -> Result<Vec<TraceCall>, TraceError> {
    let budget = TRACE_TX_BYTES_MAX - ANCHOR_TX_OVERHEAD_BYTES;
    let mut calls = Vec::new();
    let mut batch: Vec<AnchorRecord> = Vec::new();
    let mut size = 0usize;
    for r in records {
        let len = borsh::to_vec(&r)
            .expect("invariant: borsh encoding into a Vec cannot fail")
            .len();
        if len > budget {
            return Err(TraceError::RecordTooLarge(len));
        }
        if !batch.is_empty() && (size + len > budget || batch.len() >= ANCHOR_RECORDS_MAX) {
            calls.push(TraceCall::Anchor {
                org: org.to_string(),
                records: std::mem::take(&mut batch),
            });
            size = 0;
        }
        size += len;
        batch.push(r);
    }
    if !batch.is_empty() {
        calls.push(TraceCall::Anchor {
            org: org.to_string(),
            records: batch,
        });
    }
    Ok(calls)
}

/// A record opened by a reader holding its key.
pub struct OpenedRecord {
    pub event: EpcisEvent,
    pub record: Vec<u8>,
    pub signature: Vec<u8>,
    pub signer: Address,
}

/// Opens a sealed record with its key and checks it against what was anchored: `H(M, Sig)` equals
/// the anchored record hash, `Sig` is the anchored signer's, and the event hashes to the anchored
/// event hash. The caller checks the blob against its CID first.
pub fn open_record(
    blob: &[u8],
    key: &RecordKey,
    record_hash_expected: &Hash32,
    signer_expected: &Address,
    event_hash_expected: &Hash32,
) -> Result<OpenedRecord, TraceError> {
    let plaintext = want_crypto::open_sealed(key, blob)?;
    let env: RecordEnvelope =
        borsh::from_slice(&plaintext).map_err(|e| TraceError::BadEnvelope(e.to_string()))?;
    if env.version != ENVELOPE_VERSION {
        return Err(TraceError::BadEnvelope(format!(
            "envelope version {} (this build reads {ENVELOPE_VERSION})",
            env.version
        )));
    }
    let found = record_hash(&env.record, &env.signature);
    if found != *record_hash_expected {
        return Err(TraceError::RecordHashMismatch {
            expected: *record_hash_expected,
            found,
        });
    }
    let signer = want_crypto::tx_sign::recover_secp_signer(
        &record_signing_digest(&env.record),
        &env.signature,
    )?;
    if signer != *signer_expected {
        return Err(TraceError::WrongSigner {
            expected: *signer_expected,
            found: signer,
        });
    }
    let event = EpcisEvent::from_canonical_bytes(&env.record)
        .map_err(|e| TraceError::BadRecord(format!("{} at {}", e.message, e.path)))?;
    let eh = event_hash_of(&event);
    if eh != *event_hash_expected {
        return Err(TraceError::EventHashMismatch {
            expected: want_types::trace::event_hash_id(event_hash_expected),
            found: event.hash_id(),
        });
    }
    Ok(OpenedRecord {
        event,
        record: env.record,
        signature: env.signature,
        signer,
    })
}

/// What a client concluded from a verification report by checking its proofs itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportCheck {
    /// `authentic` when every proof holds and the anchor recomputes, `tampered` otherwise,
    /// `unknown` when the report names no record.
    pub verdict: &'static str,
    /// The first problem found (event index and reason), if any.
    pub problem: Option<(usize, String)>,
    /// The block hashes the report's proofs lead to (check them against certificates or a
    /// trusted header chain).
    pub blocks: Vec<(u64, Hash32)>,
    pub records: usize,
}

fn field<'a>(v: &'a Value, path: &str, name: &str) -> Result<&'a Value, TraceError> {
    v.get(name).ok_or_else(|| TraceError::BadReport {
        path: format!("{path}.{name}"),
        message: "missing".into(),
    })
}

fn parse<T: serde::de::DeserializeOwned>(
    v: &Value,
    path: &str,
    name: &str,
) -> Result<T, TraceError> {
    serde_json::from_value(field(v, path, name)?.clone()).map_err(|e| TraceError::BadReport {
        path: format!("{path}.{name}"),
        message: e.to_string(),
    })
}

/// Checks a `GET /v1/trace/verify/{product}` report without trusting the node: for every
/// anchoring transaction, its digest hashes to the claimed id, the signature over that id is by
/// the digest's sender, and the id is in its block by the Merkle path against the header, whose
/// hash is recomputed; for every event, the record's digest is at the event's index in that
/// transaction's records tree, matches the claimed record (event hash, record hash, CID, signer)
/// and names the product by a chunk of its product list proven against the record's products
/// root. Then the product anchor is recomputed from the anchored record hashes and compared with
/// the reported one. Signer roles and blob integrity are the node's findings (reported per event)
/// and are taken into the verdict as reported.
pub fn check_report(report: &Value, expected_product: &str) -> Result<ReportCheck, TraceError> {
    let product: String = parse(report, "$", "product")?;
    if product != expected_product {
        return Ok(ReportCheck {
            verdict: "tampered",
            problem: Some((
                0,
                format!("the report is about {product}, not {expected_product}"),
            )),
            blocks: vec![],
            records: 0,
        });
    }
    let events = field(report, "$", "events")?
        .as_array()
        .ok_or_else(|| TraceError::BadReport {
            path: "$.events".into(),
            message: "not an array".into(),
        })?;
    if report.get("verdict").and_then(Value::as_str) == Some("unknown") && events.is_empty() {
        return Ok(ReportCheck {
            verdict: "unknown",
            problem: None,
            blocks: vec![],
            records: 0,
        });
    }
    let mut problem: Option<(usize, String)> = None;
    let mut note = |i: usize, m: String| {
        if problem.is_none() {
            problem = Some((i, m));
        }
    };
    let mut anchor = Hash32::ZERO;
    let mut blocks = Vec::new();
    let proofs = report.get("proofs").and_then(Value::as_object);
    // Each anchoring transaction is checked once: its digest, or why it fails.
    let mut checked: HashMap<String, Result<(AnchorTxDigest, u64), String>> = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        let path = format!("$.events[{i}]");
        let tx_id: Hash32 = parse(e, &path, "tx")?;
        let key = tx_id.to_hex();
        if !checked.contains_key(&key) {
            let Some(proof) = proofs.and_then(|p| p.get(&key)) else {
                note(
                    i,
                    format!("the node gave no inclusion proof for transaction {tx_id}"),
                );
                continue;
            };
            let ppath = format!("$.proofs.{key}");
            let digest: AnchorTxDigest = parse(proof, &ppath, "anchorTx")?;
            let signature: Signature = parse(proof, &ppath, "signature")?;
            let header: want_types::BlockHeader = parse(proof, &ppath, "header")?;
            let merkle: MerkleProof = parse(proof, &ppath, "merkle")?;
            let block_hash: Hash32 = parse(proof, &ppath, "blockHash")?;
            let tx_index: u64 = parse(proof, &ppath, "txIndex")?;
            let id = digest.id();
            let outcome = if id != tx_id {
                Err(format!("the transaction hashes to {id}, not {tx_id}"))
            } else if digest.chain_id != header.chain_id {
                Err(format!(
                    "the transaction is for chain {}, its block for chain {}",
                    digest.chain_id, header.chain_id
                ))
            } else if merkle.tree_size != u64::from(header.tx_count) || merkle.index != tx_index {
                Err(format!(
                    "the inclusion proof is for {} transactions, the block has {}",
                    merkle.tree_size, header.tx_count
                ))
            } else if header.hash() != block_hash {
                Err("the header does not hash to the block hash".to_string())
            } else if !verify_merkle_proof(&id, &merkle, &header.tx_root) {
                Err(format!("the transaction is not in block {}", header.height))
            } else {
                match want_crypto::verify_signature(&id, &digest.from, &signature) {
                    Ok(()) => Ok((digest, header.height)),
                    Err(e) => Err(format!("the transaction's signature fails: {e}")),
                }
            };
            blocks.push((header.height, block_hash));
            checked.insert(key.clone(), outcome);
        }
        let (tx, tx_height) = match &checked[&key] {
            Ok((tx, height)) => (tx, *height),
            Err(m) => {
                note(i, m.clone());
                continue;
            }
        };
        let signer: Address = parse(e, &path, "signer")?;
        let index: u64 = parse(e, &path, "index")?;
        let event_hash_id: String = parse(e, &path, "eventHash")?;
        let record_hash_claimed: Hash32 = parse(e, &path, "recordHash")?;
        let cid: String = parse(e, &path, "cid")?;
        let org: String = parse(e, &path, "org")?;
        if tx.org != org {
            note(
                i,
                format!("the transaction anchors for {:?}, not {org:?}", tx.org),
            );
        }
        if tx.from != signer {
            note(
                i,
                format!("the transaction is signed by {}, not {signer}", tx.from),
            );
        }
        let Some(p) = e.get("proof") else {
            note(
                i,
                format!("the node gave no proof that record {index} names {product}"),
            );
            continue;
        };
        let ppath = format!("{path}.proof");
        let record: AnchorRecordDigest = parse(p, &ppath, "record")?;
        let record_path: MerkleProof = parse(p, &ppath, "recordPath")?;
        let chunk: Vec<ProductLink> = parse(p, &ppath, "products")?;
        let products_path: MerkleProof = parse(p, &ppath, "productsPath")?;
        if record_path.index != index
            || record_path.tree_size != tx.records
            || !verify_merkle_proof(&record.leaf(), &record_path, &tx.records_root)
        {
            note(
                i,
                format!("the transaction does not anchor this record at index {index}"),
            );
            continue;
        }
        if want_types::trace::event_hash_id(&record.event_hash) != event_hash_id
            || record.record_hash != record_hash_claimed
            || record.cid != cid
        {
            note(
                i,
                "the anchored record differs from the reported one".into(),
            );
        }
        // A record's id is its event hash (anchored before the `trace_record_ids` rule) or
        // `record_id(org, event hash)`; a node that names another misleads whoever looks it up.
        if let Some(claimed) = e.get("recordId") {
            let id = claimed.as_str().and_then(|s| s.parse::<Hash32>().ok());
            let own = want_types::trace::record_id(&org, &record.event_hash);
            if id != Some(record.event_hash) && id != Some(own) {
                note(
                    i,
                    format!("recordId {claimed} is neither the event hash nor the id of {org:?}'s record of it"),
                );
            }
        }
        if !chunk.iter().any(|p| p.id == product)
            || !verify_products_proof(&record.public.products, &chunk, &products_path)
        {
            note(i, format!("the anchored record does not name {product}"));
        }
        // What the node says of the record beside the proof must be what the proof shows.
        let shown = &record.public;
        let same = |key: &str, proven: Value| e.get(key).unwrap_or(&Value::Null) == &proven;
        if !same("eventType", Value::from(shown.event_type.clone()))
            || !same("bizStep", serde_json::json!(shown.biz_step))
            || !same("disposition", serde_json::json!(shown.disposition))
            || !same("eventTimeMs", serde_json::json!(shown.event_time_ms))
            || !same("location", serde_json::json!(shown.location))
        {
            note(
                i,
                "the reported public fields differ from the anchored record".into(),
            );
        }
        let height: u64 = parse(e, &path, "height")?;
        if height != tx_height {
            note(
                i,
                format!("the record is reported at block {height}, its proof leads elsewhere"),
            );
        }
        let relation: Relation = parse(e, &path, "relation")?;
        let product_count: u64 = parse(e, &path, "productCount")?;
        if !chunk
            .iter()
            .any(|p| p.id == product && p.relation == relation)
            || product_count != record.public.products.count
        {
            note(
                i,
                "the reported relation or product count differs from the anchored record".into(),
            );
        }
        anchor = anchor_step(&anchor, &record.record_hash);
        if e.get("blob").and_then(Value::as_str) == Some("tampered") {
            note(i, format!("the node reports blob {cid} tampered"));
        }
    }
    let counted: u64 = parse(report, "$", "records")?;
    if counted != events.len() as u64 {
        note(
            events.len(),
            format!(
                "the report counts {counted} records but lists {}",
                events.len()
            ),
        );
    }
    let reported: Hash32 = parse(report, "$", "anchor")?;
    if anchor != reported {
        note(
            events.len(),
            format!("the anchor recomputes to {anchor}, the node reports {reported}"),
        );
    }
    if let Some(f) = report.get("failure").filter(|f| !f.is_null()) {
        let idx = f.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
        let reason = f.get("reason").and_then(Value::as_str).unwrap_or("failure");
        note(idx, format!("the node reports {reason}"));
    }
    Ok(ReportCheck {
        verdict: if problem.is_some() {
            "tampered"
        } else {
            "authentic"
        },
        problem,
        blocks,
        records: events.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> EpcisEvent {
        let doc = serde_json::json!({"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"], "type": "ObjectEvent", "eventTime": "2024-01-01T00:00:00Z",
            "eventTimeZoneOffset": "+00:00", "action": "OBSERVE", "bizStep": "shipping",
            "epcList": ["urn:epc:id:sgtin:0614141.107346.2017", "urn:epc:id:sgtin:0614141.107346.2017"],
            "bizLocation": {"id": "urn:epc:id:sgln:0614141.00888.0"}});
        want_epcis::parse_capture(&serde_json::to_vec(&doc).unwrap())
            .unwrap()
            .events
            .remove(0)
    }

    fn sealed(signer: &PrivateKey, owner: &PrivateKey) -> SealedRecord {
        seal_event(
            &event(),
            signer,
            &owner.public_key(),
            Publish::default(),
            &mut rand::rngs::OsRng,
        )
        .unwrap()
    }

    #[test]
    fn the_owner_opens_what_was_sealed_and_it_matches_the_anchor() {
        let (signer, owner) = (PrivateKey::generate(), PrivateKey::generate());
        let s = sealed(&signer, &owner);
        assert!(want_crypto::cid_matches(&s.anchor.cid, &s.blob));
        let k = want_crypto::unwrap_key(&owner, &s.anchor.owner_wrapped_key).unwrap();
        let opened = open_record(
            &s.blob,
            &k,
            &s.anchor.record_hash,
            &signer.address(),
            &s.anchor.event_hash,
        )
        .unwrap();
        assert_eq!(opened.event, event());
        assert_eq!(opened.signer, signer.address());
        // The signer cannot unwrap the owner's key.
        assert!(matches!(
            want_crypto::unwrap_key(&signer, &s.anchor.owner_wrapped_key),
            Err(want_crypto::CryptoError::EciesDecrypt { .. })
        ));
    }

    #[test]
    fn public_fields_hold_products_once_and_only_what_is_published() {
        let f = public_fields(&event(), Publish::default());
        assert_eq!(f.products.len(), 1, "a repeated EPC is one product");
        assert_eq!(f.biz_step.as_deref(), Some("shipping"));
        assert!(f.event_time_ms.is_some() && f.location.is_some());
        let f = public_fields(
            &event(),
            Publish {
                time: false,
                location: false,
                non_gs1_places: true,
            },
        );
        assert!(f.event_time_ms.is_none() && f.location.is_none());
    }

    #[test]
    fn a_place_that_is_not_a_gs1_location_is_private_unless_the_owner_publishes_it() {
        let at = |read_point: &str| {
            let doc = serde_json::json!({
                "@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
                "type": "ObjectEvent", "eventTime": "2024-03-01T10:00:00Z",
                "eventTimeZoneOffset": "+08:00", "action": "OBSERVE", "bizStep": "departing",
                "epcList": ["urn:epc:id:sgtin:4012345.077889.77"],
                "readPoint": {"id": read_point}
            });
            want_epcis::parse_capture(&serde_json::to_vec(&doc).unwrap())
                .unwrap()
                .events
                .remove(0)
        };
        // A consumer's doorstep: private by default.
        let home = at("geo:22.5431,114.0579");
        assert_eq!(public_fields(&home, Publish::default()).location, None);
        let published = Publish {
            non_gs1_places: true,
            ..Publish::default()
        };
        assert_eq!(
            public_fields(&home, published).location.as_deref(),
            Some("geo:22.5431,114.0579")
        );
        // A GLN is a business site: public by default.
        let site = at("urn:epc:id:sgln:0614141.07346.1234");
        let shown = public_fields(&site, Publish::default()).location.unwrap();
        assert!(is_gs1_location(&shown), "{shown}");
    }

    #[test]
    fn a_record_with_a_forged_signature_or_altered_bytes_is_refused() {
        let (signer, owner) = (PrivateKey::generate(), PrivateKey::generate());
        let s = sealed(&signer, &owner);
        let k = want_crypto::unwrap_key(&owner, &s.anchor.owner_wrapped_key).unwrap();
        // Another key claims to have signed it.
        let other = PrivateKey::generate().address();
        assert!(matches!(
            open_record(
                &s.blob,
                &k,
                &s.anchor.record_hash,
                &other,
                &s.anchor.event_hash
            ),
            Err(TraceError::WrongSigner { .. })
        ));
        // A record re-signed by someone else hashes differently from the anchor.
        let forged = sealed(&PrivateKey::generate(), &owner);
        let fk = want_crypto::unwrap_key(&owner, &forged.anchor.owner_wrapped_key).unwrap();
        assert!(matches!(
            open_record(
                &forged.blob,
                &fk,
                &s.anchor.record_hash,
                &signer.address(),
                &s.anchor.event_hash
            ),
            Err(TraceError::RecordHashMismatch { .. })
        ));
        // Altered ciphertext fails authentication.
        let mut blob = s.blob.clone();
        let last = blob.len() - 1;
        blob[last] ^= 1;
        assert!(matches!(
            open_record(
                &blob,
                &k,
                &s.anchor.record_hash,
                &signer.address(),
                &s.anchor.event_hash
            ),
            Err(TraceError::Crypto(
                want_crypto::CryptoError::SealedAuthFailed
            ))
        ));
    }

    #[test]
    fn anchor_calls_split_by_size_and_keep_order() {
        let owner = PrivateKey::generate();
        let records: Vec<AnchorRecord> = (0..5)
            .map(|_| sealed(&PrivateKey::generate(), &owner).anchor)
            .collect();
        let calls = anchor_calls("acme", records.clone()).unwrap();
        assert_eq!(calls.len(), 1);
        let TraceCall::Anchor { records: got, .. } = &calls[0] else {
            panic!("not an anchor call");
        };
        assert_eq!(got, &records);
        let mut big = records[0].clone();
        big.public.products = (0..30_000)
            .map(|i| ProductLink {
                id: format!("https://id.gs1.org/01/00614141107346/21/{i}"),
                relation: Relation::Epc,
            })
            .collect();
        assert!(matches!(
            anchor_calls("acme", vec![big]),
            Err(TraceError::RecordTooLarge(_))
        ));
    }

    mod parsers {
        use super::*;
        use proptest::prelude::*;
        use serde_json::json;
        use std::sync::OnceLock;

        /// One sealed record, its key and its signer, made once.
        fn fixture() -> &'static (SealedRecord, RecordKey, PrivateKey) {
            static F: OnceLock<(SealedRecord, RecordKey, PrivateKey)> = OnceLock::new();
            F.get_or_init(|| {
                let (signer, owner) = (PrivateKey::generate(), PrivateKey::generate());
                let s = sealed(&signer, &owner);
                let k = want_crypto::unwrap_key(&owner, &s.anchor.owner_wrapped_key).unwrap();
                (s, k, signer)
            })
        }

        fn open(blob: &[u8]) -> Result<OpenedRecord, TraceError> {
            let (s, k, signer) = fixture();
            open_record(
                blob,
                k,
                &s.anchor.record_hash,
                &signer.address(),
                &s.anchor.event_hash,
            )
        }

        fn arb_json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<u64>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                "\\PC{0,20}".prop_map(Value::from),
                any::<[u8; 32]>().prop_map(|h| Value::from(hex::encode(h))),
            ];
            leaf.prop_recursive(4, 32, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                    prop::collection::btree_map(
                        prop::sample::select(vec![
                            "product",
                            "events",
                            "proofs",
                            "records",
                            "anchor",
                            "verdict",
                            "failure",
                            "tx",
                            "signer",
                            "index",
                            "eventHash",
                            "recordHash",
                            "cid",
                            "org",
                            "proof",
                            "record",
                            "recordPath",
                            "products",
                            "productsPath",
                            "height",
                            "relation",
                            "productCount",
                            "anchorTx",
                            "signature",
                            "header",
                            "merkle",
                            "blockHash",
                            "txIndex",
                            "reason",
                            "path",
                            "tree_size",
                        ])
                        .prop_map(str::to_string),
                        inner,
                        0..8,
                    )
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        /// A report of the right shape whose proofs are random (typed) values.
        fn shaped_report() -> impl Strategy<Value = Value> {
            (
                any::<[u8; 32]>(),
                (any::<u64>(), any::<u32>(), any::<u64>(), prop::collection::vec(any::<[u8; 32]>(), 0..70)),
                (any::<u64>(), any::<u64>(), 0u64..4),
                prop::collection::vec(any::<u8>(), 0..70),
                arb_json(),
                any::<bool>(),
            )
                .prop_map(|(tx, (tree_size, tx_count, index, path), (records, count, rel), sig, junk, with_proof)| {
                    let (s, _, signer) = fixture();
                    let tx_hex = hex::encode(tx);
                    let path: Vec<String> = path.iter().map(hex::encode).collect();
                    let merkle = json!({"index": index, "tree_size": tree_size, "path": path});
                    let digest = s.anchor.digest();
                    let header = want_types::BlockHeader {
                        chain_id: 1, height: 3, prev_hash: Hash32::ZERO, timestamp_ms: 0,
                        tx_root: Hash32(tx), tx_count, parent_state_root: Hash32::ZERO, proposer: vec![],
                    };
                    let relation = ["epc", "parent", "child", "input"][rel as usize];
                    let mut event = json!({
                        "tx": tx_hex, "signer": signer.address(), "index": index,
                        "eventHash": s.event_hash_id, "recordHash": s.anchor.record_hash,
                        "cid": s.anchor.cid, "org": "acme", "height": 3, "relation": relation,
                        "productCount": count, "junk": junk,
                    });
                    if with_proof {
                        event["proof"] = json!({"record": digest, "recordPath": merkle,
                            "products": s.anchor.public.products, "productsPath": merkle});
                    }
                    json!({
                        "product": "https://id.gs1.org/01/00614141107346/21/2017",
                        "events": [event],
                        "proofs": {tx_hex.clone(): {
                            "anchorTx": {"chain_id": 1, "from": signer.address(), "nonce": 0, "fee": "0",
                                "expiry_ms": 0, "pow_nonce": 0, "org": "acme", "records": records,
                                "records_root": Hash32(tx)},
                            "signature": {"secp256k1": hex::encode(&sig)},
                            "header": header, "merkle": merkle, "blockHash": Hash32(tx), "txIndex": index,
                        }},
                        "records": 1, "anchor": Hash32(tx), "failure": {"index": u64::MAX, "reason": "x"},
                    })
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(128))]

            #[test]
            fn arbitrary_blobs_are_refused(blob in prop::collection::vec(any::<u8>(), 0..300)) {
                prop_assert!(matches!(open(&blob), Err(TraceError::Crypto(_))), "unexpected result");
            }

            #[test]
            fn a_mutated_blob_is_refused(i in any::<prop::sample::Index>(), x in 1u8.., cut in any::<prop::sample::Index>()) {
                let mut blob = fixture().0.blob.clone();
                let at = i.index(blob.len());
                blob[at] ^= x;
                prop_assert!(matches!(open(&blob), Err(TraceError::Crypto(_))), "unexpected result");
                let whole = &fixture().0.blob;
                prop_assert!(matches!(open(&whole[..cut.index(whole.len())]), Err(TraceError::Crypto(_))), "unexpected result");
            }

            #[test]
            fn any_sealed_plaintext_is_refused_unless_it_is_the_record(
                plaintext in prop_oneof![
                    prop::collection::vec(any::<u8>(), 0..300),
                    (prop::collection::vec(any::<u8>(), 0..200), prop::collection::vec(any::<u8>(), 0..80), any::<u8>())
                        .prop_map(|(record, signature, version)| borsh::to_vec(&RecordEnvelope { version, record, signature }).unwrap()),
                ],
            ) {
                let (_, k, _) = fixture();
                let blob = want_crypto::seal(k, &plaintext, &mut rand::rngs::OsRng).unwrap();
                let e = open(&blob).err();
                prop_assert!(
                    matches!(e, Some(TraceError::BadEnvelope(_) | TraceError::RecordHashMismatch { .. })),
                    "{:?}", e
                );
            }

            #[test]
            fn any_json_is_a_report_or_refused(v in arb_json()) {
                if let Ok(c) = check_report(&v, "https://id.gs1.org/01/00614141107346/21/2017") {
                    prop_assert!(c.verdict != "authentic" || c.records == 0, "{:?}", c);
                }
            }

            #[test]
            fn a_report_with_random_proofs_is_never_authentic(v in shaped_report()) {
                match check_report(&v, "https://id.gs1.org/01/00614141107346/21/2017") {
                    Ok(c) => {
                        prop_assert_eq!(c.verdict, "tampered");
                        prop_assert!(c.problem.is_some());
                    }
                    Err(e) => prop_assert!(matches!(e, TraceError::BadReport { .. }), "{}", e),
                }
            }
        }
    }
}
