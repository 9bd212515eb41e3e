//! Traceability calls and records (§4.1, §4.6 Alg. 1–3, §4.8.3): organisations, department keys
//! and their roles, KYC attestations, record anchors and access grants.
//!
//! A record is one EPCIS event `M_i` signed by a department key (`Sig_i`). Its detail stays
//! private (encrypted, in the blob store); the chain holds `H(M_i, Sig_i)` ([`record_hash`]), the
//! blob's CID, the signer and the public fields, and per product the running anchor
//! `H(… H(H(0, h_1), h_2) …, h_n)` ([`anchor_step`]).

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::tx::hex_bytes;
use crate::{sha256d, Address, Hash32};

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

/// Domain tag of the digest a department signs over a record's bytes.
pub const RECORD_SIGNING_TAG: &[u8] = b"WANT-TRACE-RECORD-v1";
/// Domain tag of the record hash `H(M_i, Sig_i)`.
pub const RECORD_HASH_TAG: &[u8] = b"WANT-TRACE-RECORD-HASH-v1";
/// Domain tag of the per-product running anchor.
pub const ANCHOR_TAG: &[u8] = b"WANT-TRACE-ANCHOR-v1";

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
pub struct ProductLink {
    pub id: String,
    pub relation: Relation,
}

/// Fields of a record the owner publishes in clear. Products, event type and business step are
/// always public (they key the product anchors and decide the signer's role); time and place are
/// the owner's choice. Nothing personal belongs here.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
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
    pub owner_wrapped_key: Vec<u8>,
    pub public: PublicFields,
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
pub enum Permission {
    /// Fetch the sealed record and decrypt it with the wrapped key.
    Read,
}

/// Calls of the trace module. Append variants only (the borsh discriminant is signed).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TraceCall {
    /// Administrator only: registers an organisation with the public key its records' keys are
    /// wrapped to.
    RegisterOrg {
        org: String,
        name: String,
        kind: OrgKind,
        #[serde(with = "hex_bytes")]
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
        grantee_key: Vec<u8>,
        permission: Permission,
        expires_at_ms: u64,
        #[serde(with = "hex_bytes")]
        wrapped_key: Vec<u8>,
    },
    /// The owning organisation withdraws a grant.
    RevokeGrant {
        event_hash: Hash32,
        grantee: Address,
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

/// Domain tag of the digest a reader signs to fetch a sealed blob.
pub const BLOB_READ_TAG: &[u8] = b"WANT-BLOB-READ-v1";

/// The digest a reader signs (secp256k1, recoverable) to fetch the blob `cid` at `time_ms`: the
/// node recovers the reader's address from it and checks the reader's access.
pub fn blob_read_digest(cid: &str, time_ms: u64) -> Hash32 {
    let mut buf = Vec::with_capacity(BLOB_READ_TAG.len() + cid.len() + 8);
    buf.extend_from_slice(BLOB_READ_TAG);
    buf.extend_from_slice(&time_ms.to_be_bytes());
    buf.extend_from_slice(cid.as_bytes());
    sha256d(&buf)
}

/// The `ni:///sha-256;<hex>?ver=CBV2.0` form of an event hash.
pub fn event_hash_id(hash: &Hash32) -> String {
    format!("ni:///sha-256;{}?ver=CBV2.0", hash.to_hex())
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

    #[test]
    fn org_ids_are_short_lowercase_tokens() {
        assert!(is_valid_org_id("acme-foods.cn_1"));
        assert!(!is_valid_org_id(""));
        assert!(!is_valid_org_id("Acme"));
        assert!(!is_valid_org_id(&"a".repeat(ORG_ID_BYTES_MAX + 1)));
    }
}
