//! Traceability calls and records (§4.1, §4.6 Alg. 1–3, §4.8.3): organisations, department keys
//! and their roles, KYC attestations, record anchors and access grants.
//!
//! A record is one EPCIS event `M_i` signed by a department key (`Sig_i`). Its detail stays
//! private (encrypted, in the blob store); the chain holds `H(M_i, Sig_i)` ([`record_hash`]), the
//! blob's CID, the signer and the public fields, and per product the running anchor
//! `H(… H(H(0, h_1), h_2) …, h_n)` ([`anchor_step`]).

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::hash::sha256d_tagged;
use crate::head::TxHead;
use crate::merkle::{merkle_proof, merkle_root, verify_merkle_proof, MerkleProof};
use crate::modules::{ModuleCall, TxDigest};
use crate::serde_hex as hex_bytes;
use crate::{sha256d, Address, Amount, Hash32};

/// Longest organisation id, in bytes (`[a-z0-9._-]`).
pub const ORG_ID_BYTES_MAX: usize = 64;
/// Longest organisation or department name, in bytes.
pub const NAME_BYTES_MAX: usize = 128;
/// Longest identifier (product, location, bizStep, CID) kept on chain, in bytes.
pub const TRACE_ID_BYTES_MAX: usize = 256;
/// Most records one anchor transaction may carry.
pub const ANCHOR_RECORDS_MAX: usize = 1_000;
/// Most products (identifiers) one record may name publicly.
pub const RECORD_PRODUCTS_MAX: usize = 10_000;
/// Largest wrapped (ECIES-encrypted) record key, in bytes.
pub const WRAPPED_KEY_BYTES_MAX: usize = 256;
/// Largest encoded trace transaction, in bytes (an RFID read of thousands of items is one record).
pub const TRACE_TX_BYTES_MAX: usize = 1024 * 1024;
/// Length of a compressed secp256k1 public key, in bytes.
pub const PUBLIC_KEY_BYTES: usize = 33;
/// Highest KYC level an attestation may state.
pub const KYC_LEVEL_MAX: u8 = 3;
/// Shortest GS1 Company Prefix, digits.
pub const GCP_DIGITS_MIN: usize = 4;
/// Longest GS1 Company Prefix, digits.
pub const GCP_DIGITS_MAX: usize = 12;
/// Most products one custody hand-over names.
pub const HANDOVER_PRODUCTS_MAX: usize = 1_000;
/// Most corrective event IDs one error declaration names.
pub const CORRECTIVE_EVENTS_MAX: usize = 100;

/// Domain tag of the digest a department signs over a record's bytes.
pub const RECORD_SIGNING_TAG: &[u8] = b"WANT-TRACE-RECORD-v1";
/// Domain tag of the record hash `H(M_i, Sig_i)`.
pub const RECORD_HASH_TAG: &[u8] = b"WANT-TRACE-RECORD-HASH-v1";
/// Domain tag of the per-product running anchor.
pub const ANCHOR_TAG: &[u8] = b"WANT-TRACE-ANCHOR-v1";
/// Domain tag of the hash of one chunk of a record's public products (a Merkle leaf).
pub const PRODUCTS_CHUNK_TAG: &[u8] = b"WANT-TRACE-PRODUCTS-v1";
/// Domain tag of the hash of one anchored record's digest (a Merkle leaf).
pub const ANCHORED_RECORD_TAG: &[u8] = b"WANT-TRACE-ANCHORED-RECORD-v1";
/// Domain tag of the id of an anchor transaction (see [`AnchorTxDigest`]).
pub const ANCHOR_TX_TAG: &[u8] = b"WANT-TRACE-ANCHOR-TX-v1";
/// Domain of a record's identity under the `trace_record_ids` rule ([`record_id`]).
pub const RECORD_ID_TAG: &[u8] = b"WANT-TRACE-RECORD-ID-v1";
/// Products per leaf of a record's products Merkle tree: a proof that a record names a product
/// carries the product's chunk (at most this many identifiers) and a path of
/// ⌈log2(products / chunk)⌉ hashes.
pub const PRODUCTS_CHUNK_LEN: usize = 16;

/// The kinds of organisation the whitepaper names (§4.1.1).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum OrgKind {
    Brand,
    Factory,
    Warehouse,
    Logistics,
    Distributor,
    Retailer,
    Inspector,
    Customs,
    KycVerifier,
}

impl OrgKind {
    pub const ALL: [OrgKind; 9] = [
        OrgKind::Brand,
        OrgKind::Factory,
        OrgKind::Warehouse,
        OrgKind::Logistics,
        OrgKind::Distributor,
        OrgKind::Retailer,
        OrgKind::Inspector,
        OrgKind::Customs,
        OrgKind::KycVerifier,
    ];
}

impl OrgKind {
    /// The roles an organisation of this kind may give its keys (the administrator approved the
    /// kind when registering it; a key's roles never exceed it). Every kind may have managers;
    /// only KYC verifiers attest identities, and only they; only brands and factories may hold
    /// `any` (custom business steps of their own production).
    pub fn allowed_roles(self) -> &'static [Role] {
        use Role::*;
        match self {
            OrgKind::Brand => &[
                Producer,
                Warehouse,
                Logistics,
                Distributor,
                Retailer,
                Inspector,
                Manager,
                Any,
            ],
            OrgKind::Factory => &[Producer, Warehouse, Logistics, Inspector, Manager, Any],
            OrgKind::Warehouse => &[Warehouse, Logistics, Manager],
            OrgKind::Logistics => &[Logistics, Warehouse, Manager],
            OrgKind::Distributor => &[Distributor, Warehouse, Logistics, Manager],
            OrgKind::Retailer => &[Retailer, Warehouse, Manager],
            OrgKind::Inspector => &[Inspector, Manager],
            OrgKind::Customs => &[Customs, Inspector, Manager],
            OrgKind::KycVerifier => &[KycVerifier, Manager],
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::Brand => "brand",
            OrgKind::Factory => "factory",
            OrgKind::Warehouse => "warehouse",
            OrgKind::Logistics => "logistics",
            OrgKind::Distributor => "distributor",
            OrgKind::Retailer => "retailer",
            OrgKind::Inspector => "inspector",
            OrgKind::Customs => "customs",
            OrgKind::KycVerifier => "kyc_verifier",
        }
    }
}

/// The first role of `roles` that an organisation of `kind` may not give, if any.
pub fn role_beyond_kind(kind: OrgKind, roles: &[Role]) -> Option<Role> {
    roles
        .iter()
        .copied()
        .find(|r| !kind.allowed_roles().contains(r))
}

/// What a department key may sign. Each CBV business step needs one of the roles
/// [`roles_for_biz_step`] lists; an event with no, `other` or a non-CBV business step needs
/// [`Role::Any`].
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Role {
    /// Commissioning, encoding, assembling, packing, repairing, destroying… (factory, origin).
    Producer,
    /// Receiving, storing, picking, loading, stock-taking, shipping… (warehouse).
    Warehouse,
    /// Departing, transporting, arriving, loading, unloading… (carrier).
    Logistics,
    /// Receiving, storing, picking, shipping (wholesale).
    Distributor,
    /// Receiving, stocking, selling, dispensing (shop).
    Retailer,
    /// Inspecting, sampling, sensor reporting (quality).
    Inspector,
    /// Entering/exiting, inspecting, holding (border).
    Customs,
    /// May attest KYC levels.
    KycVerifier,
    /// May add and revoke keys of its own organisation.
    Manager,
    /// May sign any record, including custom business steps.
    Any,
}

impl Role {
    pub const ALL: [Role; 10] = [
        Role::Producer,
        Role::Warehouse,
        Role::Logistics,
        Role::Distributor,
        Role::Retailer,
        Role::Inspector,
        Role::Customs,
        Role::KycVerifier,
        Role::Manager,
        Role::Any,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Producer => "producer",
            Role::Warehouse => "warehouse",
            Role::Logistics => "logistics",
            Role::Distributor => "distributor",
            Role::Retailer => "retailer",
            Role::Inspector => "inspector",
            Role::Customs => "customs",
            Role::KycVerifier => "kyc_verifier",
            Role::Manager => "manager",
            Role::Any => "any",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
                format!("unknown role {s:?}; roles are {}", names.join(", "))
            })
    }
}

/// The roles (besides [`Role::Any`]) allowed to sign a record with the given CBV business step
/// (bare CBV name). Empty for no, `other` or non-CBV business steps: only `any` may sign those.
pub fn roles_for_biz_step(biz_step: Option<&str>) -> &'static [Role] {
    use Role::*;
    match biz_step.unwrap_or("") {
        "commissioning"
        | "encoding"
        | "creating_class_instance"
        | "assembling"
        | "disassembling"
        | "repackaging"
        | "repairing"
        | "decommissioning"
        | "destroying"
        | "killing"
        | "installing"
        | "removing"
        | "replacing" => &[Producer],
        "packing" | "unpacking" => &[Producer, Warehouse, Distributor],
        "receiving" | "accepting" => &[Warehouse, Distributor, Retailer, Logistics],
        "storing" | "picking" | "staging_outbound" | "reserving" | "consigning" => {
            &[Warehouse, Distributor, Retailer]
        }
        "stock_taking" | "cycle_counting" => &[Warehouse, Distributor, Retailer],
        "shipping" | "void_shipping" | "collecting" => &[Warehouse, Distributor, Logistics],
        "loading" | "unloading" => &[Warehouse, Distributor, Logistics],
        "departing" | "arriving" | "transporting" => &[Logistics],
        "stocking" | "retail_selling" | "dispensing" => &[Retailer],
        "inspecting" | "sampling" => &[Inspector, Customs, Producer],
        "sensor_reporting" => &[Inspector, Logistics, Warehouse],
        "entering_exiting" => &[Customs, Logistics],
        "holding" => &[Inspector, Customs, Warehouse, Retailer],
        _ => &[],
    }
}

/// True when a key with `roles` may sign a record with `biz_step`.
pub fn may_sign(roles: &[Role], biz_step: Option<&str>) -> bool {
    roles.contains(&Role::Any)
        || roles_for_biz_step(biz_step)
            .iter()
            .any(|r| roles.contains(r))
}

/// How a record touches a product.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Relation {
    /// Named in `epcList` (observed).
    Epc,
    /// The container (`parentID`) of an aggregation or association.
    Parent,
    /// Aggregated into the parent (`childEPCs`, `childQuantityList`).
    Child,
    /// Consumed by a transformation (`inputEPCList`, `inputQuantityList`).
    Input,
    /// Produced by a transformation (`outputEPCList`, `outputQuantityList`).
    Output,
    /// A product class counted in `quantityList`.
    Quantity,
}

/// A product named publicly by a record: its normalised identifier (GS1 Digital Link URI or other
/// URI) and how the record touches it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProductLink {
    pub id: String,
    pub relation: Relation,
}

/// Fields of a record the owner publishes in clear. Products, event type and business step are
/// always public (they key the product anchors and decide the signer's role); time and place are
/// the owner's choice. Nothing personal belongs here.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublicFields {
    /// `ObjectEvent`, `AggregationEvent`, `TransactionEvent`, `TransformationEvent` or
    /// `AssociationEvent`.
    pub event_type: String,
    /// CBV business step, bare name for CBV values (`shipping`), the URI otherwise.
    pub biz_step: Option<String>,
    pub disposition: Option<String>,
    /// Event time, Unix milliseconds UTC (when published).
    pub event_time_ms: Option<i64>,
    /// Business location (or read point when there is none), when published.
    pub location: Option<String>,
    pub products: Vec<ProductLink>,
}

/// One record as anchored on chain.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnchorRecord {
    /// The SHA-256 of the GS1 EPCIS event hash ID (`ni:///sha-256;<this>?ver=CBV2.0`); the
    /// record's identity, so a captured event is recognised when submitted again.
    pub event_hash: Hash32,
    /// `H(M_i, Sig_i)`, see [`record_hash`].
    pub record_hash: Hash32,
    /// CIDv1 of the sealed (encrypted) record in the blob store.
    pub cid: String,
    /// The record key wrapped (ECIES) to the owning organisation's encryption key.
    #[serde(with = "hex_bytes")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::HexBytes))]
    pub owner_wrapped_key: Vec<u8>,
    pub public: PublicFields,
}

/// What a record's public product list commits to: how many products and the Merkle root over
/// the hashes of its chunks of [`PRODUCTS_CHUNK_LEN`] ([`products_digest`]).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProductsDigest {
    pub count: u64,
    pub root: Hash32,
}

/// [`PublicFields`] with the product list replaced by its [`ProductsDigest`].
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublicFieldsDigest {
    pub event_type: String,
    pub biz_step: Option<String>,
    pub disposition: Option<String>,
    pub event_time_ms: Option<i64>,
    pub location: Option<String>,
    pub products: ProductsDigest,
}

/// An [`AnchorRecord`] with its product list replaced by its digest: what an anchor
/// transaction's id commits to per record, and what a proof of one record carries.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnchorRecordDigest {
    pub event_hash: Hash32,
    pub record_hash: Hash32,
    pub cid: String,
    #[serde(with = "hex_bytes")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::HexBytes))]
    pub owner_wrapped_key: Vec<u8>,
    pub public: PublicFieldsDigest,
}

impl AnchorRecordDigest {
    /// The record's leaf in its transaction's records tree:
    /// `sha256d(ANCHORED_RECORD_TAG ‖ borsh(digest))`.
    pub fn leaf(&self) -> Hash32 {
        sha256d_tagged(ANCHORED_RECORD_TAG, self)
    }
}

/// What the id of an anchor transaction commits to (and so what its sender signs): the
/// transaction's fields with the records replaced by their count and the Merkle root over their
/// [`AnchorRecordDigest::leaf`]s. The id is `sha256d(ANCHOR_TX_TAG ‖ borsh(digest))`.
///
/// Why not the plain transaction bytes as for other calls: one RFID read names thousands of
/// products, and one transaction carries up to [`ANCHOR_RECORDS_MAX`] records. With this form a
/// proof that a product's record was anchored carries this digest, the record's digest, the
/// product's chunk and two Merkle paths — a few kilobytes — instead of the whole transaction.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnchorTxDigest {
    pub chain_id: u64,
    pub from: Address,
    pub nonce: u64,
    #[serde(with = "crate::amount::dec")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
    pub fee: Amount,
    pub expiry_ms: u64,
    pub pow_nonce: u64,
    pub org: String,
    /// Number of records.
    pub records: u64,
    pub records_root: Hash32,
}

impl AnchorTxDigest {
    /// The transaction id.
    pub fn id(&self) -> Hash32 {
        sha256d_tagged(ANCHOR_TX_TAG, self)
    }
}

impl AnchorRecord {
    /// The record with its product list replaced by [`products_digest`].
    pub fn digest(&self) -> AnchorRecordDigest {
        self.digest_with(products_digest(&self.public.products))
    }

    /// The record's digest, given its products' digest (computed elsewhere).
    pub fn digest_with(&self, products: ProductsDigest) -> AnchorRecordDigest {
        let p = &self.public;
        AnchorRecordDigest {
            event_hash: self.event_hash,
            record_hash: self.record_hash,
            cid: self.cid.clone(),
            owner_wrapped_key: self.owner_wrapped_key.clone(),
            public: PublicFieldsDigest {
                event_type: p.event_type.clone(),
                biz_step: p.biz_step.clone(),
                disposition: p.disposition.clone(),
                event_time_ms: p.event_time_ms,
                location: p.location.clone(),
                products,
            },
        }
    }
}

/// The hash of one chunk of products: `sha256d(PRODUCTS_CHUNK_TAG ‖ borsh(chunk))`.
pub fn products_chunk_hash(chunk: &[ProductLink]) -> Hash32 {
    sha256d_tagged(PRODUCTS_CHUNK_TAG, chunk)
}

/// The leaves of a product list's tree: the hashes of its chunks of [`PRODUCTS_CHUNK_LEN`], in
/// order.
pub fn products_leaves(products: &[ProductLink]) -> Vec<Hash32> {
    products
        .chunks(PRODUCTS_CHUNK_LEN)
        .map(products_chunk_hash)
        .collect()
}

/// The count and Merkle root of a product list, chunked by [`PRODUCTS_CHUNK_LEN`] in order.
pub fn products_digest(products: &[ProductLink]) -> ProductsDigest {
    ProductsDigest::from_leaves(products.len(), &products_leaves(products))
}

impl ProductsDigest {
    /// The digest of a list of `count` products whose tree has `leaves` ([`products_leaves`]).
    pub fn from_leaves(count: usize, leaves: &[Hash32]) -> ProductsDigest {
        ProductsDigest {
            count: count as u64,
            root: merkle_root(leaves),
        }
    }
}

/// The chunk holding the product at `position` and its Merkle path to the list's root, given
/// the list's [`products_leaves`]; `None` when there is no such position or the leaves are not
/// the list's.
pub fn products_proof<'a>(
    products: &'a [ProductLink],
    leaves: &[Hash32],
    position: usize,
) -> Option<(&'a [ProductLink], MerkleProof)> {
    if position >= products.len() || leaves.len() != products.len().div_ceil(PRODUCTS_CHUNK_LEN) {
        return None;
    }
    let chunk = position / PRODUCTS_CHUNK_LEN;
    let proof = merkle_proof(leaves, chunk)?;
    let start = chunk * PRODUCTS_CHUNK_LEN;
    let end = (start + PRODUCTS_CHUNK_LEN).min(products.len());
    Some((&products[start..end], proof))
}

/// True when `chunk` is, by `proof`, a chunk of the product list `digest` commits to: the path
/// leads to the root, the tree has one leaf per chunk of the counted products, and the chunk is
/// as long as its position requires.
pub fn verify_products_proof(
    digest: &ProductsDigest,
    chunk: &[ProductLink],
    proof: &MerkleProof,
) -> bool {
    let per_chunk = PRODUCTS_CHUNK_LEN as u64;
    let chunks = digest.count.div_ceil(per_chunk);
    let expected_len = digest
        .count
        .saturating_sub(proof.index.saturating_mul(per_chunk))
        .min(per_chunk);
    proof.tree_size == chunks
        && chunk.len() as u64 == expected_len
        && verify_merkle_proof(&products_chunk_hash(chunk), proof, &digest.root)
}

/// The records tree's root of an anchor transaction's records (see [`AnchorTxDigest`]).
pub fn anchor_records_root(records: &[AnchorRecord]) -> Hash32 {
    merkle_root(&anchor_record_leaves(records))
}

/// The leaves of an anchor transaction's records tree, in order.
pub fn anchor_record_leaves(records: &[AnchorRecord]) -> Vec<Hash32> {
    records.iter().map(|r| r.digest().leaf()).collect()
}

/// The trees under an anchor transaction's id, kept to prove single records and products.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnchorTree {
    pub digest: AnchorTxDigest,
    /// The leaves of the records tree ([`AnchorRecordDigest::leaf`]).
    pub record_leaves: Vec<Hash32>,
    /// Per record, the leaves of its products tree ([`products_leaves`]).
    pub product_leaves: Vec<Vec<Hash32>>,
    /// Per record, the digest of its products.
    pub product_digests: Vec<ProductsDigest>,
}

impl AnchorTree {
    /// The digest of record `index` of `records` (the transaction's records this tree is of).
    pub fn record_digest(
        &self,
        records: &[AnchorRecord],
        index: usize,
    ) -> Option<AnchorRecordDigest> {
        Some(
            records
                .get(index)?
                .digest_with(*self.product_digests.get(index)?),
        )
    }
}

/// The digest an anchor transaction's id is the hash of (see [`AnchorTxDigest`]).
pub fn anchor_digest(head: &TxHead, org: &str, records: &[AnchorRecord]) -> AnchorTxDigest {
    anchor_digest_with_root(head, org, records.len(), anchor_records_root(records))
}

/// The digest of an anchor transaction with the trees under it (for proofs of single records
/// and products).
pub fn anchor_tree(head: &TxHead, org: &str, records: &[AnchorRecord]) -> AnchorTree {
    let product_leaves: Vec<Vec<Hash32>> = records
        .iter()
        .map(|r| products_leaves(&r.public.products))
        .collect();
    let product_digests: Vec<ProductsDigest> = records
        .iter()
        .zip(&product_leaves)
        .map(|(r, leaves)| ProductsDigest::from_leaves(r.public.products.len(), leaves))
        .collect();
    let record_leaves: Vec<Hash32> = records
        .iter()
        .zip(&product_digests)
        .map(|(r, products)| r.digest_with(*products).leaf())
        .collect();
    let digest = anchor_digest_with_root(head, org, records.len(), merkle_root(&record_leaves));
    AnchorTree {
        digest,
        record_leaves,
        product_leaves,
        product_digests,
    }
}

fn anchor_digest_with_root(
    head: &TxHead,
    org: &str,
    records: usize,
    records_root: Hash32,
) -> AnchorTxDigest {
    AnchorTxDigest {
        chain_id: head.chain_id,
        from: head.from,
        nonce: head.nonce,
        fee: head.fee,
        expiry_ms: head.expiry_ms,
        pow_nonce: head.pow_nonce,
        org: org.to_string(),
        records: records as u64,
        records_root,
    }
}

impl TxDigest for AnchorTxDigest {
    fn id(&self) -> Hash32 {
        AnchorTxDigest::id(self)
    }

    fn set_pow_nonce(&mut self, pow_nonce: u64) {
        self.pow_nonce = pow_nonce;
    }
}

impl ModuleCall for TraceCall {
    const TX_BYTES_MAX: usize = TRACE_TX_BYTES_MAX;

    /// An anchor's id hashes its [`AnchorTxDigest`]; other trace calls have the plain id.
    fn id_digest(&self, head: &TxHead) -> Option<Box<dyn TxDigest>> {
        match self {
            TraceCall::Anchor { org, records } => Some(Box::new(anchor_digest(head, org, records))),
            _ => None,
        }
    }
}

/// What a grant allows.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Permission {
    /// Fetch the sealed record and decrypt it with the wrapped key.
    Read,
}

/// Calls of the trace module. Append variants only (the borsh discriminant is signed).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TraceCall {
    /// Administrator only: registers an organisation with the public key its records' keys are
    /// wrapped to.
    RegisterOrg {
        org: String,
        name: String,
        kind: OrgKind,
        #[serde(with = "hex_bytes")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::HexBytes))]
        encryption_key: Vec<u8>,
    },
    /// Administrator, or a `manager` key of the organisation: registers a department key
    /// (an account address) with the roles it may sign.
    AddKey {
        org: String,
        key: Address,
        department: String,
        roles: Vec<Role>,
    },
    /// Administrator, or a `manager` key of the same organisation: records signed with the key in
    /// later transactions are refused.
    RevokeKey { key: Address },
    /// A KYC subject files its identity documents, sealed to the verifier's key, in the blob
    /// store; only the CID goes on chain, and only the verifier may fetch it.
    SubmitKyc { verifier: Address, cid: String },
    /// A `kyc_verifier` key attests a subject's KYC level; only the attestation hash and the level
    /// go on chain.
    AttestKyc {
        subject: Address,
        level: u8,
        attestation: Hash32,
    },
    /// A department key anchors records of its organisation.
    Anchor {
        org: String,
        records: Vec<AnchorRecord>,
    },
    /// The owning organisation grants a party access to one record until `expires_at_ms`.
    Grant {
        event_hash: Hash32,
        grantee: Address,
        #[serde(with = "hex_bytes")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::HexBytes))]
        grantee_key: Vec<u8>,
        permission: Permission,
        expires_at_ms: u64,
        #[serde(with = "hex_bytes")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::HexBytes))]
        wrapped_key: Vec<u8>,
    },
    /// The owning organisation withdraws a grant.
    RevokeGrant {
        event_hash: Hash32,
        grantee: Address,
    },
    /// Administrator only: registers a GS1 Company Prefix (4–12 digits) to the organisation
    /// that licensed it. From then on only that organisation, the parties it authorises and
    /// those it hands custody to extend the authentic history of products under the prefix.
    RegisterPrefix { prefix: String, org: String },
    /// The administrator or a `manager` key of the prefix's owner authorises an organisation to
    /// extend the history of every product under the prefix (a contract manufacturer, a
    /// distributor).
    AuthorizeParty { prefix: String, party: String },
    /// Withdraws an authorisation: the party's later records are unendorsed (its earlier ones
    /// stay in the history).
    WithdrawParty { prefix: String, party: String },
    /// A key of an organisation endorsed for every named product (normalised identifiers)
    /// hands their custody to another organisation, which may then extend their history.
    HandOver { to_org: String, products: Vec<String> },
    /// A key of the owning organisation declares a captured event erroneous (an EPCIS 2.0
    /// `errorDeclaration`): the record stays, and is shown with the declaration's reason and the
    /// corrective events' IDs.
    DeclareError {
        event_hash: Hash32,
        /// `errorDeclaration.declarationTime`, Unix milliseconds UTC.
        declared_at_ms: i64,
        /// CBV error reason (bare name, e.g. `incorrect_data`) or a URI.
        reason: Option<String>,
        /// `errorDeclaration.correctiveEventIDs`.
        corrective_event_ids: Vec<String>,
    },
}

/// Events of the trace module, one per change a call makes (a consumer of `/v1/events` sees
/// every record anchored without reading state). Append variants only.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TraceEvent {
    OrgRegistered {
        org: String,
    },
    KeyAdded {
        org: String,
        key: Address,
    },
    KeyRevoked {
        org: String,
        key: Address,
    },
    /// A KYC subject filed sealed documents for a verifier (their CID; the detail is sealed).
    KycFiled {
        subject: Address,
        verifier: Address,
        cid: String,
    },
    KycAttested {
        subject: Address,
        verifier: Address,
        level: u8,
    },
    /// A record was anchored: its event hash, organisation, signer, bizStep and how many
    /// products it names (the products themselves are in the record).
    RecordAnchored {
        event_hash: Hash32,
        org: String,
        signer: Address,
        biz_step: Option<String>,
        products: u64,
    },
    GrantAdded {
        event_hash: Hash32,
        grantee: Address,
        expires_at_ms: u64,
    },
    GrantRevoked {
        event_hash: Hash32,
        grantee: Address,
    },
    PrefixRegistered {
        prefix: String,
        org: String,
    },
    PartyAuthorized {
        prefix: String,
        party: String,
    },
    PartyWithdrawn {
        prefix: String,
        party: String,
    },
    CustodyHandedOver {
        from_org: String,
        to_org: String,
        products: u64,
    },
    ErrorDeclared {
        event_hash: Hash32,
        org: String,
    },
}

/// The digest a department signs over a record's canonical bytes `M_i`.
pub fn record_signing_digest(record: &[u8]) -> Hash32 {
    let mut buf = Vec::with_capacity(RECORD_SIGNING_TAG.len() + record.len());
    buf.extend_from_slice(RECORD_SIGNING_TAG);
    buf.extend_from_slice(record);
    sha256d(&buf)
}

/// `H(M_i, Sig_i)`: double SHA-256 over the tag, the record's length (u64 BE), the record and the
/// signature, so no two (record, signature) pairs share an encoding.
pub fn record_hash(record: &[u8], signature: &[u8]) -> Hash32 {
    let mut buf = Vec::with_capacity(RECORD_HASH_TAG.len() + 8 + record.len() + signature.len());
    buf.extend_from_slice(RECORD_HASH_TAG);
    buf.extend_from_slice(&(record.len() as u64).to_be_bytes());
    buf.extend_from_slice(record);
    buf.extend_from_slice(signature);
    sha256d(&buf)
}

/// One step of a product's running anchor: `H(tag ‖ previous ‖ record_hash)`; the anchor of a
/// product with no records is [`Hash32::ZERO`].
pub fn anchor_step(previous: &Hash32, record_hash: &Hash32) -> Hash32 {
    let mut buf = [0u8; ANCHOR_TAG.len() + 64];
    buf[..ANCHOR_TAG.len()].copy_from_slice(ANCHOR_TAG);
    buf[ANCHOR_TAG.len()..ANCHOR_TAG.len() + 32].copy_from_slice(&previous.0);
    buf[ANCHOR_TAG.len() + 32..].copy_from_slice(&record_hash.0);
    sha256d(&buf)
}

/// A record's identity under the `trace_record_ids` rule: `sha256d(tag ‖ borsh((org, event
/// hash)))`, so two organisations' records of one event hash are two records and nobody can
/// take another organisation's event hash ID in advance. (Records anchored before the rule are
/// identified by their event hash.)
pub fn record_id(org: &str, event_hash: &Hash32) -> Hash32 {
    sha256d_tagged(RECORD_ID_TAG, &(org, event_hash))
}

/// The running anchor over record hashes in order.
pub fn anchor_of<'a>(record_hashes: impl IntoIterator<Item = &'a Hash32>) -> Hash32 {
    record_hashes
        .into_iter()
        .fold(Hash32::ZERO, |acc, h| anchor_step(&acc, h))
}

/// Parses the `ni:///sha-256;<hex>?ver=CBV2.0` form of an event hash ID (also bare hex).
pub fn parse_event_hash_id(s: &str) -> Option<Hash32> {
    let hex_part = s
        .strip_prefix("ni:///sha-256;")
        .map(|rest| rest.split('?').next().unwrap_or(rest))
        .unwrap_or(s);
    hex_part.parse().ok()
}

/// Domain tag of the digest a reader signs to fetch a sealed blob. Version 2 binds the chain,
/// the node and the request (version 1 bound only the blob and the time, so anyone who saw a
/// request's headers could replay it on any node for minutes).
pub const BLOB_READ_TAG: &[u8] = b"WANT-BLOB-READ-v2";
/// The HTTP method of a blob read.
pub const BLOB_READ_METHOD: &str = "GET";

/// The path of the blob `cid` on a node (`GET /v1/blobs/{cid}`).
pub fn blob_read_path(cid: &str) -> String {
    format!("/v1/blobs/{cid}")
}

/// The digest a reader signs (secp256k1, recoverable) to fetch the blob `cid` at `time_ms` from
/// the node whose Ed25519 public key is `node_id` (`GET /v1/status` shows it as `node_id`) on
/// chain `chain_id`, with the request `method` and `path` ([`BLOB_READ_METHOD`],
/// [`blob_read_path`]): the node recovers the reader's address from it, checks the reader's
/// access and refuses the same signed request twice. Variable-length fields are prefixed by
/// their length (u32 BE), so no two requests share an encoding.
pub fn blob_read_digest(
    chain_id: u64,
    node_id: &[u8],
    method: &str,
    path: &str,
    cid: &str,
    time_ms: u64,
) -> Hash32 {
    let mut buf = Vec::with_capacity(
        BLOB_READ_TAG.len() + 16 + 16 + node_id.len() + method.len() + path.len() + cid.len(),
    );
    buf.extend_from_slice(BLOB_READ_TAG);
    buf.extend_from_slice(&chain_id.to_be_bytes());
    for field in [node_id, method.as_bytes(), path.as_bytes(), cid.as_bytes()] {
        let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
        buf.extend_from_slice(&len.to_be_bytes());
        buf.extend_from_slice(field);
    }
    buf.extend_from_slice(&time_ms.to_be_bytes());
    sha256d(&buf)
}

/// Domain tag of the digest an uploader signs to store a sealed blob.
pub const BLOB_PUT_TAG: &[u8] = b"WANT-BLOB-PUT-v1";

/// The digest an uploader signs (secp256k1, recoverable) to store the blob `cid` on chain
/// `chain_id` at `time_ms` (`PUT /v1/blobs` with `X-Want-Time` and `X-Want-Signature`): the
/// node recovers the uploader's address and holds it to its upload quota.
pub fn blob_put_digest(chain_id: u64, cid: &str, time_ms: u64) -> Hash32 {
    let mut buf = Vec::with_capacity(BLOB_PUT_TAG.len() + 16 + cid.len());
    buf.extend_from_slice(BLOB_PUT_TAG);
    buf.extend_from_slice(&chain_id.to_be_bytes());
    buf.extend_from_slice(&time_ms.to_be_bytes());
    buf.extend_from_slice(cid.as_bytes());
    sha256d(&buf)
}

/// The `ni:///sha-256;<hex>?ver=CBV2.0` form of an event hash.
pub fn event_hash_id(hash: &Hash32) -> String {
    format!("ni:///sha-256;{}?ver=CBV2.0", hash.to_hex())
}

/// True for a GS1 Company Prefix: [`GCP_DIGITS_MIN`]–[`GCP_DIGITS_MAX`] ASCII digits.
pub fn is_valid_gcp(s: &str) -> bool {
    (GCP_DIGITS_MIN..=GCP_DIGITS_MAX).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// The digits of a normalised product identifier (a GS1 Digital Link URI on
/// `https://id.gs1.org/`) from which its GS1 Company Prefix starts: the primary key's digits
/// without a leading indicator or extension digit (GTIN, SSCC, GRAI, ITIP). `None` for an
/// identifier that is not a GS1 key, or whose key has no company prefix in it.
pub fn gcp_digits(product: &str) -> Option<&str> {
    // EPC URNs kept as they are (class-level patterns with wildcards): the company prefix is
    // exactly the digits before the first dot.
    for scheme in ["urn:epc:idpat:", "urn:epc:class:", "urn:epc:id:"] {
        if let Some(rest) = product.strip_prefix(scheme) {
            let (_, body) = rest.split_once(':')?;
            let prefix = body.split('.').next()?;
            return (is_valid_gcp(prefix)).then_some(prefix);
        }
    }
    let path = product.strip_prefix("https://id.gs1.org/")?;
    let mut parts = path.split('/');
    let ai = parts.next()?;
    let key = parts.next()?;
    let skip = match ai {
        // GTIN (also a lot's class), SSCC (extension digit), GRAI (leading zero), ITIP.
        "01" | "02" | "00" | "8003" | "8006" => 1,
        // GLN, party GLN, GIAI, GDTI, GCN, GSRN(P), CPI, GINC, GSIN, GMN, GIAI of a component.
        "414" | "417" | "8004" | "253" | "255" | "8017" | "8018" | "8010" | "401" | "402"
        | "8013" => 0,
        _ => return None,
    };
    let digits = key.get(skip..)?;
    let n = digits.bytes().take_while(u8::is_ascii_digit).count();
    (n >= GCP_DIGITS_MIN).then(|| &digits[..n])
}

/// True for an organisation id: 1–[`ORG_ID_BYTES_MAX`] bytes of `[a-z0-9._-]`.
pub fn is_valid_org_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= ORG_ID_BYTES_MAX
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_' || b == b'-'
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_read_digests_bind_the_chain_the_node_the_request_the_blob_and_the_time() {
        let cid = "bafkreia";
        let path = blob_read_path(cid);
        let node = [7u8; 32];
        let d = |chain: u64, node: &[u8], method: &str, path: &str, cid: &str, t: u64| {
            blob_read_digest(chain, node, method, path, cid, t)
        };
        let a = d(1, &node, BLOB_READ_METHOD, &path, cid, 5);
        assert_eq!(a, d(1, &node, BLOB_READ_METHOD, &path, cid, 5));
        assert_ne!(a, d(2, &node, BLOB_READ_METHOD, &path, cid, 5));
        assert_ne!(a, d(1, &[8u8; 32], BLOB_READ_METHOD, &path, cid, 5));
        assert_ne!(a, d(1, &node, "HEAD", &path, cid, 5));
        assert_ne!(a, d(1, &node, BLOB_READ_METHOD, "/v1/blobs/x", cid, 5));
        assert_ne!(a, d(1, &node, BLOB_READ_METHOD, &path, "bafkreib", 5));
        assert_ne!(a, d(1, &node, BLOB_READ_METHOD, &path, cid, 6));
        assert_ne!(a, blob_put_digest(1, cid, 5));
        assert_eq!(path, "/v1/blobs/bafkreia");
    }

    #[test]
    fn any_role_signs_everything_and_others_only_their_steps() {
        assert!(may_sign(&[Role::Any], Some("urn:example:custom")));
        assert!(may_sign(&[Role::Any], None));
        assert!(may_sign(&[Role::Producer], Some("commissioning")));
        assert!(!may_sign(&[Role::Producer], Some("retail_selling")));
        assert!(may_sign(&[Role::Retailer], Some("retail_selling")));
        assert!(!may_sign(&[Role::Retailer, Role::Producer], None));
        assert!(!may_sign(&[Role::KycVerifier], Some("shipping")));
    }

    #[test]
    fn only_kyc_verifiers_hold_the_kyc_verifier_role_and_every_kind_has_managers() {
        for kind in OrgKind::ALL {
            assert!(kind.allowed_roles().contains(&Role::Manager), "{kind:?}");
            assert_eq!(
                kind.allowed_roles().contains(&Role::KycVerifier),
                kind == OrgKind::KycVerifier,
                "{kind:?}"
            );
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                kind.as_str(),
                "{kind:?}"
            );
        }
        assert_eq!(
            role_beyond_kind(OrgKind::Retailer, &[Role::Retailer, Role::KycVerifier]),
            Some(Role::KycVerifier)
        );
        assert_eq!(
            role_beyond_kind(OrgKind::Brand, &[Role::Warehouse, Role::Logistics]),
            None
        );
        assert_eq!(role_beyond_kind(OrgKind::Warehouse, &[Role::Any]), Some(Role::Any));
    }

    #[test]
    fn company_prefix_digits_skip_indicator_and_extension_digits() {
        assert_eq!(
            gcp_digits("https://id.gs1.org/01/10614141073467/21/2017"),
            Some("0614141073467")
        );
        assert_eq!(
            gcp_digits("https://id.gs1.org/00/106141412345678908"),
            Some("06141412345678908")
        );
        assert_eq!(
            gcp_digits("https://id.gs1.org/414/0614141000005"),
            Some("0614141000005")
        );
        assert_eq!(gcp_digits("https://id.gs1.org/8004/0614141ABC12"), Some("0614141"));
        assert_eq!(gcp_digits("urn:example:thing:1"), None);
        assert_eq!(
            gcp_digits("urn:epc:idpat:sgtin:0614141.107346.*"),
            Some("0614141")
        );
        assert_eq!(gcp_digits("urn:epc:idpat:sgtin:*.*.*"), None);
        assert_eq!(gcp_digits("https://id.gs1.org/99/1234567"), None);
        assert_eq!(gcp_digits("https://id.gs1.org/01/1é"), None);
        assert!(is_valid_gcp("0614141"));
        assert!(!is_valid_gcp("061"));
        assert!(!is_valid_gcp("0614141000005"));
        assert!(!is_valid_gcp("06141x1"));
    }

    #[test]
    fn role_names_round_trip_and_unknown_ones_are_listed() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        let e = "boss".parse::<Role>().unwrap_err();
        assert!(e.contains("producer"), "{e}");
    }

    #[test]
    fn anchor_depends_on_every_record_and_their_order() {
        let a = Hash32([1; 32]);
        let b = Hash32([2; 32]);
        assert_eq!(anchor_of([]), Hash32::ZERO);
        assert_ne!(anchor_of([&a, &b]), anchor_of([&b, &a]));
        assert_ne!(anchor_of([&a]), anchor_of([&a, &b]));
        assert_eq!(
            anchor_of([&a, &b]),
            anchor_step(&anchor_step(&Hash32::ZERO, &a), &b)
        );
    }

    #[test]
    fn record_hash_separates_record_from_signature() {
        assert_ne!(record_hash(b"ab", b"c"), record_hash(b"a", b"bc"));
    }

    #[test]
    fn event_hash_ids_parse_in_both_forms() {
        let h = Hash32([0xab; 32]);
        let id = event_hash_id(&h);
        assert!(id.starts_with("ni:///sha-256;abab"));
        assert_eq!(parse_event_hash_id(&id), Some(h));
        assert_eq!(parse_event_hash_id(&h.to_hex()), Some(h));
        assert_eq!(parse_event_hash_id("ni:///sha-256;zz?ver=CBV2.0"), None);
    }

    fn links(n: usize) -> Vec<ProductLink> {
        (0..n)
            .map(|i| ProductLink {
                id: format!("https://id.gs1.org/01/09521234543213/21/{i}"),
                relation: Relation::Epc,
            })
            .collect()
    }

    fn record(products: usize) -> AnchorRecord {
        AnchorRecord {
            event_hash: Hash32([1; 32]),
            record_hash: Hash32([2; 32]),
            cid: "bafkreiexample".into(),
            owner_wrapped_key: vec![3; 97],
            public: PublicFields {
                event_type: "ObjectEvent".into(),
                biz_step: Some("shipping".into()),
                disposition: None,
                event_time_ms: Some(1_700_000_000_000),
                location: None,
                products: links(products),
            },
        }
    }

    fn anchor_tx(records: Vec<AnchorRecord>) -> crate::Transaction {
        crate::Transaction {
            chain_id: 7,
            from: Address::from_account_id([9; 20]),
            nonce: 1,
            fee: 0,
            expiry_ms: 99,
            pow_nonce: 0,
            call: crate::Call::Trace(TraceCall::Anchor {
                org: "acme".into(),
                records,
            }),
        }
    }

    #[test]
    fn every_product_of_a_record_has_a_proof_to_its_digest() {
        for n in [0, 1, 15, 16, 17, 1_700] {
            let products = links(n);
            let digest = products_digest(&products);
            let leaves = products_leaves(&products);
            assert_eq!(digest.count, n as u64);
            for position in 0..n {
                let (chunk, proof) = products_proof(&products, &leaves, position).unwrap();
                assert!(chunk.contains(&products[position]));
                assert!(
                    verify_products_proof(&digest, chunk, &proof),
                    "{position} of {n}"
                );
            }
            assert!(products_proof(&products, &leaves, n).is_none());
        }
    }

    #[test]
    fn a_products_proof_fails_for_a_changed_shortened_or_miscounted_chunk() {
        let products = links(40);
        let digest = products_digest(&products);
        let leaves = products_leaves(&products);
        assert!(products_proof(&products, &leaves[1..], 33).is_none());
        let (chunk, proof) = products_proof(&products, &leaves, 33).unwrap();
        assert_eq!(chunk.len(), 8);
        let mut changed = chunk.to_vec();
        changed[0].relation = Relation::Parent;
        assert!(!verify_products_proof(&digest, &changed, &proof));
        assert!(!verify_products_proof(&digest, &chunk[1..], &proof));
        let miscounted = ProductsDigest {
            count: 48,
            ..digest
        };
        assert!(!verify_products_proof(&miscounted, chunk, &proof));
        // A full chunk claimed at the last position of a shorter list.
        let (full, full_proof) = products_proof(&products, &leaves, 0).unwrap();
        let moved = MerkleProof {
            index: 2,
            ..full_proof
        };
        assert!(!verify_products_proof(&digest, full, &moved));
    }

    #[test]
    fn an_anchor_id_commits_to_every_record_and_product_and_field() {
        let tx = anchor_tx(vec![record(3), record(40)]);
        let id = tx.id();
        assert_eq!(tx.anchor_tree().unwrap().digest.id(), id);
        let mut other = tx.clone();
        if let crate::Call::Trace(TraceCall::Anchor { records, .. }) = &mut other.call {
            records[1].public.products[39].id.push('0');
        }
        assert_ne!(other.id(), id, "a product");
        let mut other = tx.clone();
        if let crate::Call::Trace(TraceCall::Anchor { records, .. }) = &mut other.call {
            records.swap(0, 1);
        }
        assert_ne!(other.id(), id, "record order");
        let mut other = tx.clone();
        if let crate::Call::Trace(TraceCall::Anchor { records, .. }) = &mut other.call {
            records[0].cid.push('x');
        }
        assert_ne!(other.id(), id, "a record field");
        let mut other = tx.clone();
        other.fee = 1;
        assert_ne!(other.id(), id, "the fee");
        let mut other = tx;
        other.call = crate::Call::Trace(TraceCall::Anchor {
            org: "acmf".into(),
            records: vec![record(3), record(40)],
        });
        assert_ne!(other.id(), id, "the organisation");
    }

    #[test]
    fn a_record_id_is_pinned_and_depends_on_the_organisation() {
        // The id is consensus: a change of this value is a new chain.
        let eh = Hash32([7; 32]);
        assert_ne!(record_id("brand", &eh), record_id("other", &eh));
        assert_ne!(record_id("brand", &eh), eh);
        // The organisation is length-prefixed: ("ab", …) and ("a", "b…") never meet.
        assert_ne!(record_id("ab", &eh), record_id("a", &eh));
        assert_eq!(record_id("brand", &eh).to_hex(), "0da04945f8340296e40db157689967da7aa2e1004ce16b40ac30ad8ca012ee0f");
    }

    #[test]
    fn an_anchor_id_is_pinned() {
        // The id is consensus: a change of this value is a new chain (bump the storage format).
        assert_eq!(
            anchor_tx(vec![record(3), record(40)]).id().to_hex(),
            "c94709b9af6b3fdc757a2eda910e12b7c6a8f8e45e3d56dd7505cbaa7e59df42"
        );
    }

    #[test]
    fn a_record_digest_leaf_proves_the_record_in_its_transaction() {
        let records = vec![record(1), record(2), record(3)];
        let tx = anchor_tx(records.clone());
        let digest = tx.anchor_tree().unwrap().digest;
        let leaves = anchor_record_leaves(&records);
        let tree = tx.anchor_tree().unwrap();
        assert_eq!(tree.digest, digest);
        assert_eq!(tree.record_leaves, leaves);
        assert_eq!(tree.record_digest(&records, 2), Some(records[2].digest()));
        assert_eq!(
            tree.product_leaves[2],
            products_leaves(&records[2].public.products)
        );
        let proof = merkle_proof(&leaves, 2).unwrap();
        assert!(verify_merkle_proof(
            &records[2].digest().leaf(),
            &proof,
            &digest.records_root
        ));
        assert!(!verify_merkle_proof(
            &records[1].digest().leaf(),
            &proof,
            &digest.records_root
        ));
    }

    #[test]
    fn solving_pow_for_an_anchor_reaches_the_difficulty() {
        let mut tx = anchor_tx(vec![record(20)]);
        tx.solve_pow(8);
        assert!(tx.id().leading_zero_bits() >= 8);
    }

    #[test]
    fn org_ids_are_short_lowercase_tokens() {
        assert!(is_valid_org_id("acme-foods.cn_1"));
        assert!(!is_valid_org_id(""));
        assert!(!is_valid_org_id("Acme"));
        assert!(!is_valid_org_id(&"a".repeat(ORG_ID_BYTES_MAX + 1)));
    }

    mod parsers {
        use super::super::*;
        use crate::fuzz_inputs::mutated;
        use proptest::prelude::*;

        fn gs1_product() -> impl Strategy<Value = String> {
            (
                prop::sample::select(vec![
                    "https://id.gs1.org/01/", "https://id.gs1.org/00/", "https://id.gs1.org/414/",
                    "https://id.gs1.org/8003/", "https://id.gs1.org/8004/", "https://id.gs1.org/99/",
                    "urn:epc:id:sgtin:", "urn:epc:class:lgtin:", "urn:epc:idpat:sgtin:",
                ]),
                "[0-9]{0,20}",
                "(\\.[0-9*]{0,8}){0,3}(/[0-9A-Za-z]{0,6}){0,2}",
            )
                .prop_map(|(p, d, t)| format!("{p}{d}{t}"))
        }

        proptest! {
            #[test]
            fn any_text_is_an_event_hash_id_or_refused(s in "\\PC{0,100}") {
                if let Some(h) = parse_event_hash_id(&s) {
                    prop_assert_eq!(parse_event_hash_id(&event_hash_id(&h)), Some(h));
                }
            }

            #[test]
            fn mutated_event_hash_ids_parse_or_are_refused(
                s in mutated(any::<[u8; 32]>().prop_map(|r| event_hash_id(&Hash32(r)))),
            ) {
                if let Some(h) = parse_event_hash_id(&s) {
                    prop_assert!(s.to_lowercase().contains(&h.to_hex()), "{:?} -> {}", s, h);
                }
            }

            #[test]
            fn event_hash_ids_round_trip(raw in any::<[u8; 32]>()) {
                let h = Hash32(raw);
                prop_assert_eq!(parse_event_hash_id(&event_hash_id(&h)), Some(h));
                prop_assert_eq!(parse_event_hash_id(&h.to_hex()), Some(h));
            }

            #[test]
            fn any_text_is_a_role_or_refused(s in prop_oneof!["\\PC{0,20}", mutated(prop::sample::select(Role::ALL.to_vec()).prop_map(|r| r.as_str().to_string()))]) {
                match s.parse::<Role>() {
                    Ok(r) => prop_assert_eq!(r.as_str(), s.as_str()),
                    Err(e) => prop_assert!(e.starts_with("unknown role"), "{}", e),
                }
            }

            #[test]
            fn company_prefix_digits_of_any_text_are_ascii_digits_from_it(
                s in prop_oneof!["\\PC{0,60}", gs1_product(), mutated(gs1_product())],
            ) {
                if let Some(d) = gcp_digits(&s) {
                    prop_assert!(d.len() >= GCP_DIGITS_MIN && d.bytes().all(|b| b.is_ascii_digit()), "{:?}", d);
                    prop_assert!(s.contains(d));
                }
                let _ = is_valid_gcp(&s);
                if is_valid_org_id(&s) {
                    prop_assert!(s.len() <= ORG_ID_BYTES_MAX && s.is_ascii());
                }
            }
        }
    }
}
