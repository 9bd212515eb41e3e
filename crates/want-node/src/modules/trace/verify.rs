//! Verification of a product (Alg. 2 of §4.8.3) against this node's chain and blob store, with
//! the proofs a client checks without trusting the node; and the caches that keep it fast
//! (decoded blocks with their anchor trees, verified signers).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde::Serialize;
use utoipa::ToSchema;
use want_state::trace::query::{self, RecordInfo};
use want_storage::Store;
use want_types::merkle::MerkleProof;
use want_types::trace::{
    anchor_step, event_hash_id, may_sign, products_proof, AnchorRecord, AnchorRecordDigest,
    AnchorTree, AnchorTxDigest, ProductLink, Relation, TraceCall as Tc,
};
use want_types::{Address, Block, BlockHeader, Call, Hash32, Signature};

use crate::error::NodeError;

/// Most entries the verified-signer cache keeps before it starts over.
pub const SIGNER_CACHE_ENTRIES_MAX: usize = 100_000;

/// Signers of anchoring transactions already verified, keyed by the digest of the transaction
/// id and its signature bytes (an edited signature is a new key, so it is verified afresh).
#[derive(Default)]
pub struct SignerCache(parking_lot::Mutex<HashMap<Hash32, Address>>);

impl SignerCache {
    fn key(id: &Hash32, stx: &want_types::SignedTransaction) -> Hash32 {
        let mut buf = id.0.to_vec();
        buf.extend(
            borsh::to_vec(&stx.signature)
                .expect("invariant: borsh encoding into a Vec cannot fail"),
        );
        want_types::sha256d(&buf)
    }

    /// The verified signer of transaction `stx` whose id is `id` (as computed from its bytes),
    /// or `None` when its signature does not verify.
    pub fn signer(&self, id: &Hash32, stx: &want_types::SignedTransaction) -> Option<Address> {
        let key = Self::key(id, stx);
        if let Some(a) = self.0.lock().get(&key) {
            return Some(*a);
        }
        want_crypto::verify_signature(id, &stx.tx.from, &stx.signature).ok()?;
        let signer = stx.tx.from;
        let mut map = self.0.lock();
        if map.len() >= SIGNER_CACHE_ENTRIES_MAX {
            map.clear();
        }
        map.insert(key, signer);
        Some(signer)
    }
}

pub use super::blobs::BlobCheck;

/// A verification report (`GET /v1/trace/verify/{product}`): about a product no record names,
/// or the verdict on the records that do, with their proofs.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum VerifyReport {
    Unknown(UnknownProduct),
    Checked(Box<ProductVerdict>),
}

impl VerifyReport {
    /// Sets how long the node took (not part of the verdict; for operators).
    pub fn set_took_ms(&mut self, ms: f64) {
        match self {
            VerifyReport::Unknown(r) => r.took_ms = ms,
            VerifyReport::Checked(r) => r.took_ms = ms,
        }
    }
}

/// `unknown`: the verdict when no record names the product.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnknownVerdict {
    Unknown,
}

/// The verdict on a product some records name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every record checks out.
    Authentic,
    /// A record fails a check (`failure` names the first).
    Tampered,
}

/// The report on a product no record on this chain names.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnknownProduct {
    pub product: String,
    pub verdict: UnknownVerdict,
    pub message: &'static str,
    /// Always 0.
    pub records: u64,
    /// Always empty.
    pub events: Vec<VerifiedEvent>,
    /// Who may extend the product's history (null when no registered company prefix covers it).
    pub endorsers: Option<Endorsers>,
    /// Records naming the product by organisations not endorsed for it (see [`Endorsers`]):
    /// shown apart, never part of the history the verdict is on; the first
    /// [`UNENDORSED_SHOWN_MAX`].
    pub unendorsed: Vec<VerifiedEvent>,
    /// More unendorsed records follow those listed.
    pub unendorsed_more: bool,
    /// How long the node took, in ms (not part of the verdict).
    pub took_ms: f64,
}

/// The report on a product some records name: the verdict, and the proofs a client checks
/// without trusting the node (`want_records::check_report`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductVerdict {
    pub product: String,
    pub verdict: Verdict,
    /// The first check that failed (null when authentic).
    pub failure: Option<VerifyFailure>,
    /// The product's stored anchor.
    pub anchor: Hash32,
    /// The running hash recomputed from the anchored records.
    pub recomputed_anchor: Hash32,
    /// How many records name the product.
    pub records: u64,
    /// Per record, in anchoring order: the record and what was found.
    pub events: Vec<VerifiedEvent>,
    /// Per anchoring transaction (by id): its inclusion proof.
    pub proofs: BTreeMap<String, TxProof>,
    /// Who may extend the product's history (null when no registered company prefix covers it).
    pub endorsers: Option<Endorsers>,
    /// Records naming the product by organisations not endorsed for it: shown apart, never part
    /// of the history the verdict is on; the first [`UNENDORSED_SHOWN_MAX`].
    pub unendorsed: Vec<VerifiedEvent>,
    /// More unendorsed records follow those listed.
    pub unendorsed_more: bool,
    /// How long the node took, in ms (not part of the verdict).
    pub took_ms: f64,
}

/// Most unendorsed records a verification report lists.
pub const UNENDORSED_SHOWN_MAX: usize = 100;
/// Most authorised parties a verification report lists.
pub const PARTIES_SHOWN_MAX: usize = 100;

/// Who may extend a product's history: the owner of its GS1 Company Prefix (registered by the
/// administrator), the parties the owner authorised, and the organisations an endorsed one
/// handed the product's custody to (they appear in the history itself). Like the `unendorsed`
/// list, this is the node's word: no proof in the report covers it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Endorsers {
    pub prefix: String,
    pub owner: String,
    /// The first [`PARTIES_SHOWN_MAX`] authorised parties.
    pub parties: Vec<String>,
    /// More parties follow those listed.
    pub parties_more: bool,
}

/// Who may extend `product`'s history, its unendorsed records (at most
/// [`UNENDORSED_SHOWN_MAX`]) and whether more follow.
fn endorsement(
    view: &dyn want_state::StateView,
    product: &str,
) -> Result<(Option<Endorsers>, Vec<VerifiedEvent>, bool), NodeError> {
    let endorsers = match query::product_prefix(view, product)? {
        None => None,
        Some((prefix, info)) => {
            let parties = query::parties(view, &prefix, None, PARTIES_SHOWN_MAX)?;
            Some(Endorsers {
                prefix,
                owner: info.org,
                parties: parties.items,
                parties_more: parties.next.is_some(),
            })
        }
    };
    let page = query::unendorsed_records(view, product, None, UNENDORSED_SHOWN_MAX)?;
    let mut unendorsed = Vec::with_capacity(page.items.len());
    for (_, id) in &page.items {
        let rec = query::record_header(view, id)?.ok_or_else(|| {
            NodeError::Io(format!(
                "record {id} is listed as unendorsed for {product} but not stored"
            ))
        })?;
        unendorsed.push(VerifiedEvent::of(id, &rec));
    }
    Ok((endorsers, unendorsed, page.next.is_some()))
}

/// The first check of `verify` that failed.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyFailure {
    /// The index of the record in `events` (the record count for product-wide checks).
    pub index: usize,
    /// The record's event hash ID (null for product-wide checks).
    pub event_hash: Option<String>,
    /// `index_mismatch`, `record_missing`, `block_missing`, `tx_missing`, `record_mismatch`,
    /// `bad_signature`, `signer_not_authorised`, `blob_tampered` or `anchor_mismatch`.
    pub reason: &'static str,
    pub message: String,
}

/// What the node found of a record's sealed blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlobState {
    Intact,
    Missing,
    Tampered,
}

impl From<BlobCheck> for BlobState {
    fn from(c: BlobCheck) -> BlobState {
        match c {
            BlobCheck::Intact => BlobState::Intact,
            BlobCheck::Missing => BlobState::Missing,
            BlobCheck::Tampered => BlobState::Tampered,
            // Not in a report: `verify` refuses to conclude while a blob cannot be read.
            BlobCheck::Unavailable => BlobState::Missing,
        }
    }
}

/// One record of a verification report: the record as anchored (without its product list),
/// and, as far as the checks got, the proof that it names the product and its blob's state.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedEvent {
    /// The GS1 event hash ID, `ni:///sha-256;<64 hex>?ver=CBV2.0`.
    pub event_hash: String,
    /// The record's id on chain: its event hash for a record anchored before the
    /// `trace_record_ids` rule, else `record_id(org, event hash)` (each organisation's record of
    /// an event hash is its own, so one taking another's event hash ID first holds nothing).
    pub record_id: Hash32,
    pub org: String,
    pub signer: Address,
    pub record_hash: Hash32,
    pub cid: String,
    pub event_type: String,
    pub biz_step: Option<String>,
    pub disposition: Option<String>,
    pub event_time_ms: Option<i64>,
    pub location: Option<String>,
    pub height: u64,
    /// The anchoring transaction (its proof is under `proofs`).
    pub tx: Hash32,
    /// Position of the record in its transaction.
    pub index: u32,
    pub seq: u64,
    /// How many products the record names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_count: Option<usize>,
    /// How the record touches the product.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation: Option<Relation>,
    /// The proof that the record names the product.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proof: Option<RecordProof>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blob: Option<BlobState>,
    /// Set when the owner declared the event erroneous (EPCIS `errorDeclaration`): the record
    /// stays in the history; this says why and which events correct it (the node's word).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_declaration: Option<query::ErrorDeclarationInfo>,
}

impl VerifiedEvent {
    fn of(record_id: &Hash32, r: &RecordInfo) -> VerifiedEvent {
        VerifiedEvent {
            event_hash: event_hash_id(&r.event_hash),
            record_id: *record_id,
            org: r.org.clone(),
            signer: r.signer,
            record_hash: r.record_hash,
            cid: r.cid.clone(),
            event_type: r.public.event_type.clone(),
            biz_step: r.public.biz_step.clone(),
            disposition: r.public.disposition.clone(),
            event_time_ms: r.public.event_time_ms,
            location: r.public.location.clone(),
            height: r.height,
            tx: r.tx_id,
            index: r.index,
            seq: r.seq,
            product_count: None,
            relation: None,
            proof: None,
            blob: None,
            error_declaration: None,
        }
    }
}

/// The proof that a record of an anchor transaction names a product: the record's digest and
/// its path in the transaction's records tree, the chunk of the record's products holding the
/// product and its path to the record's products root.
#[derive(Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordProof {
    pub record: AnchorRecordDigest,
    pub record_path: MerkleProof,
    pub products: Vec<ProductLink>,
    pub products_path: MerkleProof,
}

/// The inclusion proof of an anchoring transaction: what its id hashes (and its sender
/// signed), the signature, and the Merkle path to its block header's `tx_root`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TxProof {
    pub tx_index: usize,
    pub merkle: MerkleProof,
    pub header: BlockHeader,
    pub block_hash: Hash32,
    pub anchor_tx: AnchorTxDigest,
    pub signature: Signature,
}

/// The parts of a verified event that prove it names the product.
#[derive(Clone)]
struct NamesProduct {
    product_count: usize,
    relation: Relation,
    proof: RecordProof,
}

/// A failed check of `verify`.
struct Failure {
    index: usize,
    event: Option<Hash32>,
    reason: &'static str,
    message: String,
}

/// A block loaded for `verify`: its transactions' ids and, for anchor transactions, the trees
/// under their ids.
struct LoadedBlock {
    block: Block,
    ids: Vec<Hash32>,
    anchors: Vec<Option<AnchorTree>>,
}

impl LoadedBlock {
    fn new(block: Block) -> LoadedBlock {
        let (ids, anchors) = block
            .txs
            .iter()
            .map(|t| match t.tx.anchor_tree() {
                Some(tree) => (tree.digest.id(), Some(tree)),
                None => (t.id(), None),
            })
            .unzip();
        LoadedBlock {
            block,
            ids,
            anchors,
        }
    }
}

/// Most memory, in bytes, the blocks `verify` keeps decoded (with their transactions' ids and
/// anchor trees) may take, least recently used out first. Decoding a block and hashing its
/// anchor transactions' products is most of a cold `verify` of records that name thousands of
/// items.
pub const VERIFY_BLOCK_CACHE_BYTES: usize = 64 * 1024 * 1024;
/// Estimated memory of a decoded block per byte of its encoding (each product identifier
/// becomes a `String`, ~2× its encoded size with its header and allocation).
const DECODED_BYTES_PER_ENCODED_BYTE: usize = 2;

/// Committed blocks decoded for `verify`. A committed block never changes, so an entry stays
/// valid until it is evicted.
pub struct BlockCache(parking_lot::Mutex<BlockCacheInner>);

struct BlockCacheInner {
    blocks: lru::LruCache<u64, (Arc<LoadedBlock>, usize)>,
    bytes: usize,
}

impl Default for BlockCache {
    fn default() -> Self {
        BlockCache(parking_lot::Mutex::new(BlockCacheInner {
            blocks: lru::LruCache::unbounded(),
            bytes: 0,
        }))
    }
}

impl BlockCache {
    /// The block at `height` decoded, from the cache or the store.
    fn load(&self, store: &Store, height: u64) -> Result<Option<Arc<LoadedBlock>>, NodeError> {
        if let Some((b, _)) = self.0.lock().blocks.get(&height) {
            return Ok(Some(b.clone()));
        }
        let Some((block, encoded)) = store.block_with_size(height)? else {
            return Ok(None);
        };
        let size = encoded.saturating_mul(DECODED_BYTES_PER_ENCODED_BYTE);
        let loaded = Arc::new(LoadedBlock::new(block));
        let mut inner = self.0.lock();
        // `bytes` is the sum of the entries' sizes, so the subtractions cannot go below zero.
        if let Some((_, old)) = inner.blocks.put(height, (loaded.clone(), size)) {
            inner.bytes = inner.bytes.saturating_sub(old);
        }
        inner.bytes = inner.bytes.saturating_add(size);
        while inner.bytes > VERIFY_BLOCK_CACHE_BYTES && inner.blocks.len() > 1 {
            match inner.blocks.pop_lru() {
                Some((_, (_, evicted))) => inner.bytes = inner.bytes.saturating_sub(evicted),
                None => break,
            }
        }
        Ok(Some(loaded))
    }
}

/// The proof that record `index` of an anchor transaction (`records`, with the trees under its
/// id) names a product: the record's digest and its path in the records tree, the chunk of the
/// record's products holding the product and its path to the record's products root.
fn record_proof(
    records: &[AnchorRecord],
    tree: &AnchorTree,
    index: usize,
    product: &str,
) -> Option<NamesProduct> {
    let products = &records.get(index)?.public.products;
    let position = products.iter().position(|p| p.id == product)?;
    let (chunk, products_path) =
        products_proof(products, tree.product_leaves.get(index)?, position)?;
    let record_path = want_crypto::merkle_proof(&tree.record_leaves, index)?;
    Some(NamesProduct {
        product_count: products.len(),
        relation: products[position].relation,
        proof: RecordProof {
            record: tree.record_digest(records, index)?,
            record_path,
            products: chunk.to_vec(),
            products_path,
        },
    })
}

/// Refuses to conclude (`blob_unavailable`, 503) when a record's blob could not be read: an I/O
/// error such as too many open files says nothing of its content, so the product must not be
/// called tampered for it. The client asks again later.
fn refuse_unreadable(checks: &HashMap<&str, BlobCheck>) -> Result<(), NodeError> {
    match checks
        .iter()
        .filter(|(_, c)| **c == BlobCheck::Unavailable)
        .map(|(cid, _)| *cid)
        .min()
    {
        None => Ok(()),
        Some(cid) => Err(NodeError::rejected(
            want_state::trace::codes::BLOB_UNAVAILABLE,
            format!(
                "the sealed record {cid} cannot be read on this node now (an I/O error, not a mismatch); nothing was concluded about the product: retry later"
            ),
        )),
    }
}

/// Verifies a product (Alg. 2 of §4.8.3): for every record, the anchoring transaction is in its
/// block (Merkle proof to the header's `tx_root`), is signed by the record's signer, carries the
/// record's hash and CID and names the product; the signer was a key of the owning organisation
/// allowed to sign the record's business step and not revoked before it; the sealed blob matches
/// its CID; and the running anchor recomputed from the anchored record hashes equals the
/// product's stored anchor.
///
/// The verdict is `authentic`, `tampered` (with the first record that fails) or `unknown` (no
/// record names the product). With it go the proofs a client checks without trusting the node
/// ([`want_records::check_report`]): per anchoring transaction its digest (what the id hashes and
/// the sender signed), signature, header and Merkle path; per record its digest, its path in the
/// transaction and the chunk of its products naming the product with that chunk's path. Their
/// size does not grow with the number of products a record names.
pub fn verify(
    store: &Store,
    signers_cache: &SignerCache,
    blocks_cache: &BlockCache,
    product: &str,
    blob: &(dyn Fn(&str) -> BlobCheck + Sync),
) -> Result<VerifyReport, NodeError> {
    use rayon::prelude::*;
    let snap = store.snapshot()?;
    let (info, records) = query::product_records(&snap, product, false)?;
    let (endorsers, unendorsed, unendorsed_more) = endorsement(&snap, product)?;
    let Some(info) = info else {
        return Ok(VerifyReport::Unknown(UnknownProduct {
            product: product.to_string(),
            verdict: UnknownVerdict::Unknown,
            message: if unendorsed.is_empty() {
                "no record on this chain names this product"
            } else {
                "no endorsed record names this product; records by organisations its brand did not endorse are listed apart"
            },
            records: 0,
            events: vec![],
            endorsers,
            unendorsed,
            unendorsed_more,
            took_ms: 0.0,
        }));
    };
    let mut failure: Option<Failure> = None;
    let mut fail = |f: Failure| {
        if failure.is_none() {
            failure = Some(f);
        }
    };
    if records.len() as u64 != info.count {
        fail(Failure {
            index: records.len(),
            event: None,
            reason: "index_mismatch",
            message: format!(
                "the product's anchor counts {} records but its index lists {}",
                info.count,
                records.len()
            ),
        });
    }
    let mut anchor = Hash32::ZERO;
    // Blocks, signatures, blobs and record proofs are fetched and computed in parallel first.
    let present: Vec<(&Hash32, &RecordInfo)> = records
        .iter()
        .filter_map(|(id, r)| Some((id, r.as_ref()?)))
        .collect();
    let heights: BTreeSet<u64> = present.iter().map(|(_, r)| r.height).collect();
    let loaded = heights
        .into_par_iter()
        .map(|h| Ok(blocks_cache.load(store, h)?.map(|b| (h, b))))
        .collect::<Result<Vec<_>, NodeError>>()?;
    let blocks: HashMap<u64, Arc<LoadedBlock>> = loaded.into_iter().flatten().collect();
    // The anchoring transaction of a record, as its block holds it, and its position there.
    let anchoring = |r: &RecordInfo| {
        let b = blocks.get(&r.height)?;
        let i = b.ids.iter().position(|id| *id == r.tx_id)?;
        Some((b, i))
    };
    let mut wanted: BTreeMap<Hash32, &want_types::SignedTransaction> = BTreeMap::new();
    for (_, r) in &present {
        if let Some((b, i)) = anchoring(r) {
            wanted.insert(r.tx_id, &b.block.txs[i]);
        }
    }
    let signers: HashMap<Hash32, Option<Address>> = wanted
        .into_par_iter()
        .map(|(id, stx)| (id, signers_cache.signer(&id, stx)))
        .collect();
    let blob_checks: HashMap<&str, BlobCheck> = present
        .par_iter()
        .map(|(_, r)| (r.cid.as_str(), blob(&r.cid)))
        .collect();
    refuse_unreadable(&blob_checks)?;
    let record_proofs: HashMap<Hash32, NamesProduct> = present
        .par_iter()
        .filter_map(|(id, r)| {
            let (b, i) = anchoring(r)?;
            let tree = b.anchors[i].as_ref()?;
            let records = anchored_records(&b.block.txs[i], r)?;
            let proof = record_proof(records, tree, usize::try_from(r.index).ok()?, product)?;
            Some((**id, proof))
        })
        .collect();
    let mut events = Vec::with_capacity(records.len());
    // One inclusion proof per anchoring transaction.
    let mut proofs: BTreeMap<String, TxProof> = BTreeMap::new();
    for (i, (eh, rec)) in records.iter().enumerate() {
        let Some(rec) = rec else {
            fail(Failure {
                index: i,
                event: Some(*eh),
                reason: "record_missing",
                message: format!("record {eh} is indexed but not stored"),
            });
            continue;
        };
        let Some(loaded) = blocks.get(&rec.height) else {
            fail(Failure {
                index: i,
                event: Some(rec.event_hash),
                reason: "block_missing",
                message: format!("block {} holding the record is not stored", rec.height),
            });
            continue;
        };
        // A record may name thousands of products; the verdict is about one of them, so the
        // event carries no product list.
        let mut event = VerifiedEvent::of(eh, rec);
        event.error_declaration = query::error_declaration(&snap, eh)?;
        let Some((_, tx_index)) = anchoring(rec) else {
            fail(Failure {
                index: i,
                event: Some(rec.event_hash),
                reason: "tx_missing",
                message: format!("transaction {} is not in block {}", rec.tx_id, rec.height),
            });
            events.push(event);
            continue;
        };
        let stx = &loaded.block.txs[tx_index];
        let Some(anchored) = anchored_record(stx, rec) else {
            fail(Failure {
                index: i,
                event: Some(rec.event_hash),
                reason: "record_mismatch",
                message: format!(
                    "transaction {} does not anchor record {} of {:?}",
                    rec.tx_id, rec.index, rec.org
                ),
            });
            events.push(event);
            continue;
        };
        anchor = anchor_step(&anchor, &anchored.record_hash);
        let (a, r) = (&anchored.public, &rec.public);
        if anchored.event_hash != rec.event_hash
            || anchored.record_hash != rec.record_hash
            || anchored.cid != rec.cid
            || (
                &a.event_type,
                &a.biz_step,
                &a.disposition,
                a.event_time_ms,
                &a.location,
            ) != (
                &r.event_type,
                &r.biz_step,
                &r.disposition,
                r.event_time_ms,
                &r.location,
            )
        {
            fail(Failure {
                index: i,
                event: Some(rec.event_hash),
                reason: "record_mismatch",
                message: format!(
                    "the stored record {} differs from what transaction {} anchored",
                    event_hash_id(&rec.event_hash),
                    rec.tx_id
                ),
            });
        }
        match record_proofs.get(eh) {
            Some(names) => {
                event.product_count = Some(names.product_count);
                event.relation = Some(names.relation);
                event.proof = Some(names.proof.clone());
            }
            None => fail(Failure {
                index: i,
                event: Some(rec.event_hash),
                reason: "record_mismatch",
                message: format!(
                    "the record {} that transaction {} anchored does not name {product}",
                    event_hash_id(&rec.event_hash),
                    rec.tx_id
                ),
            }),
        }
        match signers.get(&rec.tx_id).copied().flatten() {
            Some(signer) if signer == rec.signer => {}
            _ => fail(Failure {
                index: i,
                event: Some(rec.event_hash),
                reason: "bad_signature",
                message: format!(
                    "transaction {} is not validly signed by {}",
                    rec.tx_id, rec.signer
                ),
            }),
        }
        match query::key(&snap, &rec.signer)? {
            Some(k)
                if k.org == rec.org
                    && k.added_at <= rec.height
                    && k.revoked_at.is_none_or(|h| h >= rec.height)
                    && may_sign(&k.roles, anchored.public.biz_step.as_deref()) => {}
            _ => fail(Failure {
                index: i,
                event: Some(rec.event_hash),
                reason: "signer_not_authorised",
                message: format!(
                    "{} was not a key of {:?} allowed to sign bizStep {:?} at block {}",
                    rec.signer,
                    rec.org,
                    anchored.public.biz_step.as_deref().unwrap_or("(none)"),
                    rec.height
                ),
            }),
        }
        let blob_state = blob_checks
            .get(rec.cid.as_str())
            .copied()
            .unwrap_or(BlobCheck::Missing);
        if blob_state == BlobCheck::Tampered {
            fail(Failure {
                index: i,
                event: Some(rec.event_hash),
                reason: "blob_tampered",
                message: format!("the sealed record's bytes do not match its CID {}", rec.cid),
            });
        }
        event.blob = Some(blob_state.into());
        let key = rec.tx_id.to_hex();
        if let (false, Some(tree)) = (proofs.contains_key(&key), &loaded.anchors[tx_index]) {
            let proof = want_crypto::merkle_proof(&loaded.ids, tx_index)
                .expect("invariant: tx_index is a position in ids");
            proofs.insert(
                key,
                TxProof {
                    tx_index,
                    merkle: proof,
                    header: loaded.block.header.clone(),
                    block_hash: loaded.block.hash(),
                    anchor_tx: tree.digest.clone(),
                    signature: stx.signature.clone(),
                },
            );
        }
        events.push(event);
    }
    if anchor != info.anchor {
        fail(Failure {
            index: records.len(),
            event: None,
            reason: "anchor_mismatch",
            message: format!(
                "the product's stored anchor {} is not the running hash {} of its anchored records",
                info.anchor, anchor
            ),
        });
    }
    let (verdict, failure) = match failure {
        None => (Verdict::Authentic, None),
        Some(f) => (
            Verdict::Tampered,
            Some(VerifyFailure {
                index: f.index,
                event_hash: f.event.as_ref().map(event_hash_id),
                reason: f.reason,
                message: f.message,
            }),
        ),
    };
    Ok(VerifyReport::Checked(Box::new(ProductVerdict {
        product: product.to_string(),
        verdict,
        failure,
        anchor: info.anchor,
        recomputed_anchor: anchor,
        records: info.count,
        events,
        proofs,
        endorsers,
        unendorsed,
        unendorsed_more,
        took_ms: 0.0,
    })))
}

/// The records of transaction `stx` if it is an anchor call of `rec`'s organisation.
fn anchored_records<'a>(
    stx: &'a want_types::SignedTransaction,
    rec: &RecordInfo,
) -> Option<&'a [AnchorRecord]> {
    match &stx.tx.call {
        Call::Trace(Tc::Anchor { org, records }) if *org == rec.org => Some(records),
        _ => None,
    }
}

/// The record `rec` says transaction `stx` anchored, if `stx` is an anchor call of `rec`'s
/// organisation with a record at that index.
fn anchored_record<'a>(
    stx: &'a want_types::SignedTransaction,
    rec: &RecordInfo,
) -> Option<&'a AnchorRecord> {
    anchored_records(stx, rec)?.get(usize::try_from(rec.index).ok()?)
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_that_cannot_be_read_stops_the_verdict_instead_of_making_it_tampered() {
        let mut checks = HashMap::new();
        checks.insert("bafkreia", BlobCheck::Intact);
        checks.insert("bafkreib", BlobCheck::Tampered);
        checks.insert("bafkreic", BlobCheck::Missing);
        assert!(refuse_unreadable(&checks).is_ok(), "content is judged by the verdict");
        checks.insert("bafkreid", BlobCheck::Unavailable);
        let err = refuse_unreadable(&checks).unwrap_err();
        assert_eq!(err.code(), want_state::trace::codes::BLOB_UNAVAILABLE);
        assert_eq!(err.http_status(), 503);
        assert!(err.to_string().contains("bafkreid"), "{err}");
    }
}
