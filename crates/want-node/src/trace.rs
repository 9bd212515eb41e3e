//! Traceability on the node: admission checks of trace calls, and (with the blob store) the
//! capture, query, lineage and verification services behind the `/v1/trace` and `/v1/epcis` API.

use want_state::{BlockContext, StateView};
use want_types::{Address, ChainParams, Hash32, TraceCall};

use crate::error::NodeError;

/// Refuses at admission a trace call that would fail if executed now (wrong role, revoked key,
/// other organisation, event already captured…), so its sender pays no fee for it. Execution
/// checks again: state may change before the block.
pub fn precheck_call(
    view: &dyn StateView,
    params: &ChainParams,
    now_ms: u64,
    id: &Hash32,
    sender: &Address,
    call: &TraceCall,
) -> Result<(), NodeError> {
    let ctx = BlockContext {
        height: u64::MAX,
        timestamp_ms: now_ms,
        params: params.clone(),
    };
    if let TraceCall::Grant {
        grantee,
        grantee_key,
        ..
    } = call
    {
        let derived = want_crypto::SecpPublicKey::from_slice(grantee_key)
            .map(|pk| want_crypto::address_from_secp_pubkey(&pk))
            .map_err(|e| {
                NodeError::rejected(
                    want_state::codes::INVALID_TRACE_CALL,
                    format!("grantee_key is not a secp256k1 public key: {e}"),
                )
            })?;
        if derived != *grantee {
            return Err(NodeError::rejected(
                want_state::codes::INVALID_TRACE_CALL,
                format!("grantee {grantee} is not the address of grantee_key ({derived})"),
            ));
        }
    }
    // An anchor's per-product updates cannot fail once its records pass their checks, and can
    // be thousands: the dry run leaves them out (execution checks everything again).
    let call = match call {
        TraceCall::Anchor { org, records } => want_types::Call::Trace(TraceCall::Anchor {
            org: org.clone(),
            records: records
                .iter()
                .map(|r| want_types::trace::AnchorRecord {
                    event_hash: r.event_hash,
                    record_hash: r.record_hash,
                    cid: r.cid.clone(),
                    owner_wrapped_key: r.owner_wrapped_key.clone(),
                    public: want_types::trace::PublicFields {
                        event_type: r.public.event_type.clone(),
                        biz_step: r.public.biz_step.clone(),
                        disposition: r.public.disposition.clone(),
                        event_time_ms: r.public.event_time_ms,
                        location: r.public.location.clone(),
                        products: Vec::new(),
                    },
                })
                .collect(),
        }),
        other => want_types::Call::Trace(other.clone()),
    };
    match want_state::dry_run_call(view, &ctx, id, sender, &call)? {
        Ok(()) => Ok(()),
        Err((code, message)) => Err(NodeError::rejected(code, message)),
    }
}

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};
use want_state::trace::state::{self as st, RecordInfo};
use want_storage::Store;
use want_types::trace::{
    anchor_step, event_hash_id, may_sign, products_proof, AnchorRecord, AnchorTree, Relation,
    TraceCall as Tc,
};
use want_types::{Block, Call};

use crate::error::codes;

/// Most records one page of an event query returns.
pub const QUERY_PAGE_MAX: usize = 1_000;
/// Records returned when a query does not say.
pub const QUERY_PAGE_DEFAULT: usize = 100;
/// Most index entries one query examines before it returns a partial page with a cursor.
pub const QUERY_SCAN_MAX: usize = 20_000;
/// Deepest lineage walk, in hops.
pub const LINEAGE_DEPTH_MAX: u32 = 16;
/// Most products a lineage answer lists.
pub const LINEAGE_NODES_MAX: usize = 10_000;
/// Most records of one product `verify` checks.
pub const VERIFY_RECORDS_MAX: u64 = 10_000;

/// The public view of an anchored record.
pub fn record_view(r: &RecordInfo) -> Value {
    json!({
        "eventHash": event_hash_id(&r.event_hash),
        "org": r.org,
        "signer": r.signer,
        "recordHash": r.record_hash,
        "cid": r.cid,
        "eventType": r.public.event_type,
        "bizStep": r.public.biz_step,
        "disposition": r.public.disposition,
        "eventTimeMs": r.public.event_time_ms,
        "location": r.public.location,
        "products": r.public.products,
        "height": r.height,
        "tx": r.tx_id,
        "index": r.index,
        "seq": r.seq,
    })
}

/// Filters of an event query (all optional; combined with AND).
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EventQuery {
    pub product: Option<String>,
    pub biz_step: Option<String>,
    pub location: Option<String>,
    pub org: Option<String>,
    /// Event time at or after, Unix ms.
    pub from_ms: Option<i64>,
    /// Event time before, Unix ms.
    pub to_ms: Option<i64>,
    pub limit: Option<usize>,
    /// The `next` of the previous page.
    pub cursor: Option<u64>,
}

/// Reads one index entry's event hash.
fn index_hash(v: &[u8]) -> Result<Hash32, NodeError> {
    let raw: [u8; 32] = v.try_into().map_err(|_| {
        NodeError::Io(format!(
            "trace index entry is {} bytes, expected 32",
            v.len()
        ))
    })?;
    Ok(Hash32(raw))
}

fn position(key: &[u8]) -> u64 {
    let mut raw = [0u8; 8];
    if key.len() >= 8 {
        raw.copy_from_slice(&key[key.len() - 8..]);
    }
    u64::from_be_bytes(raw)
}

/// Runs an event query: picks the narrowest index (product, organisation, business step,
/// location, else all records in anchoring order), filters, and pages with a cursor.
pub fn query_events(store: &Store, q: &EventQuery) -> Result<Value, NodeError> {
    let limit = q.limit.unwrap_or(QUERY_PAGE_DEFAULT);
    if limit == 0 || limit > QUERY_PAGE_MAX {
        return Err(NodeError::rejected(
            codes::INVALID_QUERY,
            format!("limit must be 1 to {QUERY_PAGE_MAX}, found {limit}"),
        ));
    }
    if let Some(p) = &q.product {
        return query_product_events(store, q, p, limit);
    }
    let prefix = if let Some(o) = &q.org {
        st::by_org_prefix(o)
    } else if let Some(s) = &q.biz_step {
        st::by_step_prefix(s)
    } else if let Some(l) = &q.location {
        st::by_location_prefix(l)
    } else {
        st::ALL_PREFIX.to_vec()
    };
    let snap = store.snapshot()?;
    let mut start = q
        .cursor
        .map(|c| [prefix.clone(), c.to_be_bytes().to_vec()].concat());
    let mut events = Vec::new();
    let mut scanned = 0usize;
    let mut next = None;
    'scan: loop {
        let page = store.state_range(&prefix, start.as_deref(), 1_000)?;
        if page.is_empty() {
            break;
        }
        for (k, v) in &page {
            let pos = position(k);
            if events.len() >= limit || scanned >= QUERY_SCAN_MAX {
                next = Some(pos);
                break 'scan;
            }
            scanned += 1;
            let Some(rec) = st::record(&snap, &index_hash(v)?)? else {
                continue;
            };
            if matches_query(&rec, q) {
                events.push(record_view(&rec));
            }
        }
        let last = &page[page.len() - 1].0;
        start = Some(next_key(last));
    }
    Ok(json!({"events": events, "next": next}))
}

/// An event query by product: walks the product's record list from the cursor (a record
/// position in it).
fn query_product_events(
    store: &Store,
    q: &EventQuery,
    product: &str,
    limit: usize,
) -> Result<Value, NodeError> {
    let snap = store.snapshot()?;
    let Some(info) = st::product(&snap, product)? else {
        return Ok(json!({"events": [], "next": null}));
    };
    let from = q.cursor.unwrap_or(0);
    let hashes = st::product_events(&snap, product, &info, from, QUERY_SCAN_MAX)?;
    let mut events = Vec::new();
    let mut next = None;
    for (i, eh) in hashes.iter().enumerate() {
        let pos = from + i as u64;
        if events.len() >= limit {
            next = Some(pos);
            break;
        }
        if let Some(rec) = st::record(&snap, eh)? {
            if matches_query(&rec, q) {
                events.push(record_view(&rec));
            }
        }
    }
    if next.is_none() && from + (hashes.len() as u64) < info.count {
        next = Some(from + hashes.len() as u64);
    }
    Ok(json!({"events": events, "next": next}))
}

/// The smallest key after `key`.
fn next_key(key: &[u8]) -> Vec<u8> {
    let mut k = key.to_vec();
    k.push(0);
    k
}

fn matches_query(r: &RecordInfo, q: &EventQuery) -> bool {
    let p = &r.public;
    q.org.as_ref().is_none_or(|o| *o == r.org)
        && q.biz_step
            .as_ref()
            .is_none_or(|s| p.biz_step.as_ref() == Some(s))
        && q.location
            .as_ref()
            .is_none_or(|l| p.location.as_ref() == Some(l))
        && q.product
            .as_ref()
            .is_none_or(|id| p.products.iter().any(|x| x.id == *id))
        && q.from_ms
            .is_none_or(|from| p.event_time_ms.is_some_and(|t| t >= from))
        && q.to_ms
            .is_none_or(|to| p.event_time_ms.is_some_and(|t| t < to))
}

/// A product's anchor (if any record names it) and its records (`None` where the index names a
/// record that is not stored).
type ProductRecords = (Option<st::ProductInfo>, Vec<(Hash32, Option<RecordInfo>)>);

/// Reads one record: [`st::record`] (with its products) or [`st::record_header`] (without).
type RecordReader =
    fn(&dyn StateView, &Hash32) -> Result<Option<RecordInfo>, want_state::StateError>;

/// All records of a product, in anchoring order (at most [`VERIFY_RECORDS_MAX`]), each read by
/// `read`.
fn product_records(
    view: &dyn StateView,
    product: &str,
    read: RecordReader,
) -> Result<ProductRecords, NodeError> {
    let info = st::product(view, product)?;
    let mut out = Vec::new();
    if let Some(info) = &info {
        let max = usize::try_from(VERIFY_RECORDS_MAX).unwrap_or(usize::MAX);
        for eh in st::product_events(view, product, info, 0, max)? {
            out.push((eh, read(view, &eh)?));
        }
    }
    Ok((info, out))
}

/// One edge of a product's lineage.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct LineageEdge {
    pub from: String,
    pub to: String,
    /// `aggregation` (container → content) or `transformation` (input → output).
    pub kind: &'static str,
    pub event: String,
}

/// The edges a record draws between its products.
fn record_edges(r: &RecordInfo) -> Vec<LineageEdge> {
    let mut edges = Vec::new();
    let of = |rel: Relation| r.public.products.iter().filter(move |p| p.relation == rel);
    let event = event_hash_id(&r.event_hash);
    for parent in of(Relation::Parent) {
        for child in of(Relation::Child)
            .chain(of(Relation::Epc))
            .chain(of(Relation::Quantity))
        {
            edges.push(LineageEdge {
                from: parent.id.clone(),
                to: child.id.clone(),
                kind: "aggregation",
                event: event.clone(),
            });
        }
    }
    for input in of(Relation::Input) {
        for output in of(Relation::Output) {
            edges.push(LineageEdge {
                from: input.id.clone(),
                to: output.id.clone(),
                kind: "transformation",
                event: event.clone(),
            });
        }
    }
    edges
}

/// A product's lineage: products upstream (containers it was packed in, ingredients it was made
/// from) and downstream (its contents, what it was made into), breadth first to `depth` hops.
pub fn lineage(store: &Store, product: &str, depth: u32) -> Result<Value, NodeError> {
    if depth == 0 || depth > LINEAGE_DEPTH_MAX {
        return Err(NodeError::rejected(
            codes::INVALID_QUERY,
            format!("depth must be 1 to {LINEAGE_DEPTH_MAX}, found {depth}"),
        ));
    }
    let snap = store.snapshot()?;
    let mut edges_of: HashMap<String, Vec<LineageEdge>> = HashMap::new();
    let mut truncated = false;
    let mut all_edges = BTreeSet::new();
    let mut walk = |upstream: bool| -> Result<Vec<Value>, NodeError> {
        let mut seen: BTreeMap<String, u32> = BTreeMap::new();
        seen.insert(product.to_string(), 0);
        let mut queue = VecDeque::from([(product.to_string(), 0u32)]);
        let mut found = Vec::new();
        while let Some((id, d)) = queue.pop_front() {
            if d >= depth {
                continue;
            }
            if !edges_of.contains_key(&id) {
                let (_, recs) = product_records(&snap, &id, st::record)?;
                let edges: Vec<LineageEdge> = recs
                    .iter()
                    .filter_map(|(_, r)| r.as_ref())
                    .flat_map(record_edges)
                    .filter(|e| e.from == id || e.to == id)
                    .collect();
                edges_of.insert(id.clone(), edges);
            }
            let edges = edges_of.get(&id).cloned().unwrap_or_default();
            for e in edges {
                let other = if upstream && e.to == id {
                    &e.from
                } else if !upstream && e.from == id {
                    &e.to
                } else {
                    continue;
                };
                all_edges.insert(e.clone());
                if seen.contains_key(other) {
                    continue;
                }
                if seen.len() >= LINEAGE_NODES_MAX {
                    truncated = true;
                    break;
                }
                seen.insert(other.clone(), d + 1);
                found.push(json!({"id": other, "depth": d + 1, "via": e.kind, "event": e.event}));
                queue.push_back((other.clone(), d + 1));
            }
        }
        Ok(found)
    };
    let upstream = walk(true)?;
    let downstream = walk(false)?;
    Ok(json!({
        "product": product,
        "depth": depth,
        "upstream": upstream,
        "downstream": downstream,
        "edges": all_edges.into_iter().collect::<Vec<_>>(),
        "truncated": truncated,
    }))
}

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

pub use crate::blobs::BlobCheck;

impl BlobCheck {
    fn as_str(self) -> &'static str {
        match self {
            BlobCheck::Intact => "intact",
            BlobCheck::Missing => "missing",
            BlobCheck::Tampered => "tampered",
        }
    }
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
) -> Option<Value> {
    let products = &records.get(index)?.public.products;
    let position = products.iter().position(|p| p.id == product)?;
    let (chunk, products_path) =
        products_proof(products, tree.product_leaves.get(index)?, position)?;
    let record_path = want_crypto::merkle_proof(&tree.record_leaves, index)?;
    Some(json!({
        "productCount": products.len(),
        "relation": products[position].relation,
        "proof": {
            "record": tree.record_digest(records, index)?,
            "recordPath": record_path,
            "products": chunk,
            "productsPath": products_path,
        },
    }))
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
/// ([`want_trace::check_report`]): per anchoring transaction its digest (what the id hashes and
/// the sender signed), signature, header and Merkle path; per record its digest, its path in the
/// transaction and the chunk of its products naming the product with that chunk's path. Their
/// size does not grow with the number of products a record names.
pub fn verify(
    store: &Store,
    signers_cache: &SignerCache,
    blocks_cache: &BlockCache,
    product: &str,
    blob: &(dyn Fn(&str) -> BlobCheck + Sync),
) -> Result<Value, NodeError> {
    use rayon::prelude::*;
    let snap = store.snapshot()?;
    let (info, records) = product_records(&snap, product, st::record_header)?;
    let Some(info) = info else {
        return Ok(json!({
            "product": product,
            "verdict": "unknown",
            "message": "no record on this chain names this product",
            "records": 0,
            "events": [],
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
    let present: Vec<&RecordInfo> = records.iter().filter_map(|(_, r)| r.as_ref()).collect();
    let heights: BTreeSet<u64> = present.iter().map(|r| r.height).collect();
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
    for r in &present {
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
        .map(|r| (r.cid.as_str(), blob(&r.cid)))
        .collect();
    let record_proofs: HashMap<Hash32, Value> = present
        .par_iter()
        .filter_map(|r| {
            let (b, i) = anchoring(r)?;
            let tree = b.anchors[i].as_ref()?;
            let records = anchored_records(&b.block.txs[i], r)?;
            let proof = record_proof(records, tree, usize::try_from(r.index).ok()?, product)?;
            Some((r.event_hash, proof))
        })
        .collect();
    let mut events = Vec::with_capacity(records.len());
    // One inclusion proof per anchoring transaction.
    let mut proofs = serde_json::Map::new();
    for (i, (eh, rec)) in records.iter().enumerate() {
        let Some(rec) = rec else {
            fail(Failure {
                index: i,
                event: Some(*eh),
                reason: "record_missing",
                message: format!("record {} is indexed but not stored", event_hash_id(eh)),
            });
            continue;
        };
        let Some(loaded) = blocks.get(&rec.height) else {
            fail(Failure {
                index: i,
                event: Some(*eh),
                reason: "block_missing",
                message: format!("block {} holding the record is not stored", rec.height),
            });
            continue;
        };
        let mut event = record_view(rec);
        if let Some(obj) = event.as_object_mut() {
            // A record may name thousands of products; the verdict is about one of them.
            obj.remove("products");
        }
        let Some((_, tx_index)) = anchoring(rec) else {
            fail(Failure {
                index: i,
                event: Some(*eh),
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
                event: Some(*eh),
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
                event: Some(*eh),
                reason: "record_mismatch",
                message: format!(
                    "the stored record {} differs from what transaction {} anchored",
                    event_hash_id(eh),
                    rec.tx_id
                ),
            });
        }
        match record_proofs.get(&rec.event_hash) {
            Some(Value::Object(parts)) => {
                for (k, v) in parts {
                    event[k.as_str()] = v.clone();
                }
            }
            _ => fail(Failure {
                index: i,
                event: Some(*eh),
                reason: "record_mismatch",
                message: format!(
                    "the record {} that transaction {} anchored does not name {product}",
                    event_hash_id(eh),
                    rec.tx_id
                ),
            }),
        }
        match signers.get(&rec.tx_id).copied().flatten() {
            Some(signer) if signer == rec.signer => {}
            _ => fail(Failure {
                index: i,
                event: Some(*eh),
                reason: "bad_signature",
                message: format!(
                    "transaction {} is not validly signed by {}",
                    rec.tx_id, rec.signer
                ),
            }),
        }
        match st::key(&snap, &rec.signer)? {
            Some(k)
                if k.org == rec.org
                    && k.added_at <= rec.height
                    && k.revoked_at.is_none_or(|h| h >= rec.height)
                    && may_sign(&k.roles, anchored.public.biz_step.as_deref()) => {}
            _ => fail(Failure {
                index: i,
                event: Some(*eh),
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
                event: Some(*eh),
                reason: "blob_tampered",
                message: format!("the sealed record's bytes do not match its CID {}", rec.cid),
            });
        }
        event["blob"] = json!(blob_state.as_str());
        let key = rec.tx_id.to_hex();
        if let (false, Some(tree)) = (proofs.contains_key(&key), &loaded.anchors[tx_index]) {
            let proof = want_crypto::merkle_proof(&loaded.ids, tx_index)
                .expect("invariant: tx_index is a position in ids");
            proofs.insert(
                key,
                json!({
                    "txIndex": tx_index,
                    "merkle": proof,
                    "header": loaded.block.header,
                    "blockHash": loaded.block.hash(),
                    "anchorTx": tree.digest,
                    "signature": stx.signature,
                }),
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
        None => ("authentic", Value::Null),
        Some(f) => (
            "tampered",
            json!({
                "index": f.index,
                "eventHash": f.event.as_ref().map(event_hash_id),
                "reason": f.reason,
                "message": f.message,
            }),
        ),
    };
    Ok(json!({
        "product": product,
        "verdict": verdict,
        "failure": failure,
        "anchor": info.anchor,
        "recomputedAnchor": anchor,
        "records": info.count,
        "events": events,
        "proofs": proofs,
    }))
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

/// How far a blob read request's time may be from the node's clock, in milliseconds.
pub const BLOB_READ_WINDOW_MS: u64 = 5 * 60 * 1000;

/// Checks that `reader` may fetch the blob `cid` now: a live key of the organisation owning the
/// record, a grantee whose grant has not expired by the last block's time, or the subject or
/// verifier of a KYC document. Everyone else is refused, whatever the blob holds.
pub fn authorize_blob(
    view: &dyn StateView,
    head_time_ms: u64,
    cid: &str,
    reader: &Address,
) -> Result<(), NodeError> {
    if let Some(eh) = st::record_by_cid(view, cid)? {
        let rec = st::record(view, &eh)?.ok_or_else(|| {
            NodeError::Io(format!("record {eh} is indexed by its CID but not stored"))
        })?;
        if let Some(k) = st::key(view, reader)? {
            if k.org == rec.org && k.active() {
                return Ok(());
            }
        }
        if let Some(g) = st::grant(view, &eh, reader)? {
            if g.expires_at_ms > head_time_ms {
                return Ok(());
            }
            return Err(NodeError::rejected(
                codes::BLOB_ACCESS_DENIED,
                format!(
                    "the grant of {reader} on record {} expired at {} ms (last block at {head_time_ms} ms)",
                    event_hash_id(&eh),
                    g.expires_at_ms
                ),
            ));
        }
        return Err(NodeError::rejected(
            codes::BLOB_ACCESS_DENIED,
            format!(
                "{reader} is not a key of {:?} and holds no live grant on record {}",
                rec.org,
                event_hash_id(&eh)
            ),
        ));
    }
    if let Some(doc) = st::kyc_doc(view, cid)? {
        if doc.verifier == *reader || doc.subject == *reader {
            return Ok(());
        }
        return Err(NodeError::rejected(
            codes::BLOB_ACCESS_DENIED,
            format!("only the subject and the verifier may read KYC document {cid}"),
        ));
    }
    Err(NodeError::rejected(
        codes::BLOB_ACCESS_DENIED,
        format!("blob {cid} is not anchored by any record or KYC filing; nobody may read it yet"),
    ))
}

/// Recovers the reader of a signed blob read request and checks its time window.
pub fn blob_reader(
    cid: &str,
    time_ms: u64,
    signature: &[u8],
    now_ms: u64,
) -> Result<Address, NodeError> {
    if time_ms.abs_diff(now_ms) > BLOB_READ_WINDOW_MS {
        return Err(NodeError::rejected(
            codes::BLOB_ACCESS_DENIED,
            format!(
                "X-Want-Time {time_ms} is more than {} s from the node's clock {now_ms}; sign the request again",
                BLOB_READ_WINDOW_MS / 1000
            ),
        ));
    }
    let digest = want_types::trace::blob_read_digest(cid, time_ms);
    want_crypto::tx_sign::recover_secp_signer(&digest, signature).map_err(|e| {
        NodeError::rejected(
            codes::BLOB_ACCESS_DENIED,
            format!("X-Want-Signature does not verify: {e}"),
        )
    })
}

/// Brings a product identifier given by a user (EPC URN, GS1 Digital Link URI on any host, or
/// another URI) to the one form records are indexed under.
pub fn normalize_product(s: &str) -> Result<String, String> {
    want_epcis::normalize_identifier(s.trim()).map_err(|e| e.message)
}

/// Header marking a blob PUT as a copy from another member (not copied on again).
pub const REPLICA_HEADER: &str = "X-Want-Replica";
/// How long one copy of a blob to a member may take, in milliseconds.
pub const BLOB_REPLICATION_TIMEOUT_MS: u64 = 10_000;

impl crate::node::Shared {
    /// Copies blobs this node accepted to the other members (best effort, in the background):
    /// a record captured through one member can then be verified and read on any. Blobs are
    /// content-addressed, so a member stores exactly the bytes named by their CID or nothing.
    pub fn replicate_blobs(&self, blobs: Vec<Vec<u8>>) {
        let peers = self.vote_peers();
        if peers.is_empty() || blobs.is_empty() {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        handle.spawn(async move {
            let client = match reqwest::Client::builder()
                .timeout(std::time::Duration::from_millis(BLOB_REPLICATION_TIMEOUT_MS))
                .build()
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(target: "trace::blobs", "cannot build the replication client: {e}");
                    return;
                }
            };
            for peer in peers {
                for blob in &blobs {
                    let sent = client
                        .put(format!("{peer}/v1/blobs"))
                        .header(REPLICA_HEADER, "1")
                        .header("content-type", "application/octet-stream")
                        .body(blob.clone())
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status().is_success() => {}
                        Ok(r) => tracing::warn!(target: "trace::blobs", "{peer} refused a blob copy: {}", r.status()),
                        Err(e) => {
                            tracing::warn!(target: "trace::blobs", "cannot copy blobs to {peer}: {e}");
                            break;
                        }
                    }
                }
            }
        });
    }
}
