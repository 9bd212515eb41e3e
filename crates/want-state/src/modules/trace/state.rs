//! Stored trace state, every key under `trace/`:
//!
//! | key | value |
//! |---|---|
//! | `trace/admin` | administrator [`Address`] |
//! | `trace/org/ ‖ org` | [`OrgInfo`] |
//! | `trace/key/ ‖ address` | [`KeyInfo`] |
//! | `trace/orgkey/ ‖ org ‖ / ‖ address` | empty (the organisation's keys, for listing) |
//! | `trace/kyc/ ‖ subject` | [`KycInfo`] (before the `trace_writers` rule: the last attestation of any verifier) |
//! | `trace/kyca/ ‖ subject ‖ verifier` | [`KycInfo`] (each verifier's own attestation) |
//! | `trace/kycdoc/ ‖ cid` | [`KycDoc`] |
//! | `trace/rec/ ‖ record id` | [`RecordInfo`] without its products (`public.products` empty) |
//! | `trace/evh/ ‖ event hash ‖ org` | record id of the organisation's record of that event hash (records anchored under the `trace_record_ids` rule) |
//! | `trace/rprod/ ‖ seq (u64 BE)` | the record's `public.products` (apart, under an appended key: a 1,700-item read makes a large value, which would otherwise be rewritten with every B-tree leaf it shares with later records) |
//! | `trace/cid/ ‖ cid` | record id of the record whose sealed blob it is |
//! | `trace/prod/ ‖ product id` | [`ProductInfo`] (running anchor) |
//! | `trace/pev/ ‖ product id ‖ 0x00 ‖ c (u64 BE)` | record ids of the product's records `64c .. 64c+63` (a full chunk; later ones are in the anchor's `tail`) |
//! | `trace/seq` | number of records anchored (u64 BE) |
//! | `trace/all/ ‖ seq` | record id (every record, in anchoring order) |
//! | `trace/byorg/ ‖ org ‖ / ‖ seq`, `trace/bystep/ ‖ H(step) ‖ seq`, `trace/byloc/ ‖ H(loc) ‖ seq` | record id |
//! | `trace/grant/ ‖ record id ‖ grantee` | [`GrantInfo`] |
//! | `trace/err/ ‖ record id` | [`ErrorDeclarationInfo`] (the record was declared erroneous) |
//! | `trace/gcp/ ‖ prefix digits` | [`PrefixInfo`] (the GS1 Company Prefix's owner) |
//! | `trace/gcpparty/ ‖ prefix ‖ / ‖ org` | height authorised (parties of the prefix's owner) |
//! | `trace/custody/ ‖ product ‖ 0x00 ‖ org` | (height handed over, giving organisation): the product's custodians |
//! | `trace/punend/ ‖ product ‖ 0x00 ‖ seq (u64 BE)` | record id of a record naming the product by an organisation not endorsed for it (kept apart from the product's history) |
//!
//! **Record ids.** A record anchored under the `trace_record_ids` rule is identified by
//! `want_types::trace::record_id(org, event hash)` (`sha256d("WANT-TRACE-RECORD-ID-v1" ‖
//! borsh((org, event hash)))`): the chain cannot recompute a sealed event's hash, so the hash
//! alone would let anyone who sees an event take its ID first. A record anchored before the rule
//! keeps its event hash as its id (and has no `trace/evh/` entry), so its keys are unchanged.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::Serialize;
use want_types::hash::sha256;
use want_types::trace::{OrgKind, Permission, PublicFields, Role};
use want_types::{Address, Hash32};

use crate::store::Overlay;
use crate::{StateError, StateView};

pub const PREFIX: &[u8] = b"trace/";
pub const ADMIN_KEY: &[u8] = b"trace/admin";
pub const ORG_PREFIX: &[u8] = b"trace/org/";
pub const KEY_PREFIX: &[u8] = b"trace/key/";
pub const ORG_KEYS_PREFIX: &[u8] = b"trace/orgkey/";
pub const KYC_PREFIX: &[u8] = b"trace/kyc/";
pub const KYC_DOC_PREFIX: &[u8] = b"trace/kycdoc/";
pub const RECORD_PREFIX: &[u8] = b"trace/rec/";
pub const EVENT_RECORDS_PREFIX: &[u8] = b"trace/evh/";
pub const CID_PREFIX: &[u8] = b"trace/cid/";
pub const RECORD_PRODUCTS_PREFIX: &[u8] = b"trace/rprod/";
pub const PRODUCT_PREFIX: &[u8] = b"trace/prod/";
pub const PRODUCT_EVENTS_PREFIX: &[u8] = b"trace/pev/";
pub const SEQ_KEY: &[u8] = b"trace/seq";
pub const ALL_PREFIX: &[u8] = b"trace/all/";
pub const BY_ORG_PREFIX: &[u8] = b"trace/byorg/";
pub const BY_STEP_PREFIX: &[u8] = b"trace/bystep/";
pub const BY_LOCATION_PREFIX: &[u8] = b"trace/byloc/";
pub const GRANT_PREFIX: &[u8] = b"trace/grant/";
pub const KYC_ATTEST_PREFIX: &[u8] = b"trace/kyca/";
pub const GCP_PREFIX: &[u8] = b"trace/gcp/";
pub const ERROR_PREFIX: &[u8] = b"trace/err/";
pub const PARTY_PREFIX: &[u8] = b"trace/gcpparty/";
pub const CUSTODY_PREFIX: &[u8] = b"trace/custody/";
pub const UNENDORSED_PREFIX: &[u8] = b"trace/punend/";

/// A registered organisation.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrgInfo {
    pub name: String,
    pub kind: OrgKind,
    /// Compressed secp256k1 public key its records' keys are wrapped to (hex in JSON).
    #[serde(with = "hex_ser")]
    #[cfg_attr(feature = "openapi", schema(value_type = want_types::schema::HexBytes))]
    pub encryption_key: Vec<u8>,
    pub registered_at: u64,
}

/// A department key.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyInfo {
    pub org: String,
    pub department: String,
    pub roles: Vec<Role>,
    /// Height of the block that added the key.
    pub added_at: u64,
    /// Height of the block that revoked it; records in that block after the revocation and in
    /// every later block are refused.
    pub revoked_at: Option<u64>,
}

impl KeyInfo {
    /// True when the key could sign at `height` (after the block's earlier transactions).
    pub fn active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// A KYC attestation.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KycInfo {
    pub level: u8,
    pub attestation: Hash32,
    pub verifier: Address,
    pub attested_at: u64,
}

/// An EPCIS error declaration of a record: the record stays; this says it is erroneous, why,
/// and which events correct it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDeclarationInfo {
    pub declared_at_ms: i64,
    pub reason: Option<String>,
    pub corrective_event_ids: Vec<String>,
    pub signer: Address,
    /// Height of the block that recorded the declaration.
    pub height: u64,
}

/// A registered GS1 Company Prefix.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PrefixInfo {
    /// The organisation that licensed it.
    pub org: String,
    pub registered_at: u64,
}

/// A KYC document filed for a verifier (sealed to the verifier's key, in the blob store).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct KycDoc {
    pub subject: Address,
    pub verifier: Address,
    pub filed_at: u64,
}

/// An anchored record.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct RecordInfo {
    pub event_hash: Hash32,
    pub org: String,
    pub signer: Address,
    pub record_hash: Hash32,
    pub cid: String,
    #[serde(with = "hex_ser")]
    pub owner_wrapped_key: Vec<u8>,
    pub public: PublicFields,
    pub height: u64,
    pub tx_id: Hash32,
    /// Position of the record in its transaction's `records`.
    pub index: u32,
    /// Position in the chain's anchoring order (0-based).
    pub seq: u64,
}

/// Records of a product per stored chunk of its record list.
pub const PRODUCT_CHUNK_RECORDS: u64 = 64;

/// A product's anchor: how many records name it, the running hash over them, and the record
/// ids of its records since the last full chunk (so one record costs one state write per
/// product, plus one chunk write every [`PRODUCT_CHUNK_RECORDS`] records).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct ProductInfo {
    /// The product's identifier: the entry's key, so not stored in its value.
    #[borsh(skip)]
    pub id: String,
    pub count: u64,
    pub anchor: Hash32,
    pub tail: Vec<Hash32>,
}

/// A live access grant.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GrantInfo {
    pub grantee: Address,
    #[serde(with = "hex_ser")]
    #[cfg_attr(feature = "openapi", schema(value_type = want_types::schema::HexBytes))]
    pub grantee_key: Vec<u8>,
    pub permission: Permission,
    pub expires_at_ms: u64,
    #[serde(with = "hex_ser")]
    #[cfg_attr(feature = "openapi", schema(value_type = want_types::schema::HexBytes))]
    pub wrapped_key: Vec<u8>,
    pub granted_at: u64,
}

mod hex_ser {
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::store::to_hex(v))
    }
}

pub fn org_key(org: &str) -> Vec<u8> {
    [ORG_PREFIX, org.as_bytes()].concat()
}
pub fn key_key(addr: &Address) -> Vec<u8> {
    [KEY_PREFIX, &addr.0].concat()
}
pub fn org_keys_key(org: &str, addr: &Address) -> Vec<u8> {
    [ORG_KEYS_PREFIX, org.as_bytes(), b"/", &addr.0].concat()
}
/// Prefix of the keys of one organisation.
pub fn org_keys_prefix(org: &str) -> Vec<u8> {
    [ORG_KEYS_PREFIX, org.as_bytes(), b"/"].concat()
}
pub fn kyc_key(subject: &Address) -> Vec<u8> {
    [KYC_PREFIX, &subject.0].concat()
}
pub fn kyc_attest_key(subject: &Address, verifier: &Address) -> Vec<u8> {
    [KYC_ATTEST_PREFIX, &subject.0, &verifier.0].concat()
}
pub fn kyc_attest_prefix(subject: &Address) -> Vec<u8> {
    [KYC_ATTEST_PREFIX, &subject.0].concat()
}
pub fn error_key(record_id: &Hash32) -> Vec<u8> {
    [ERROR_PREFIX, &record_id.0[..]].concat()
}
pub fn gcp_key(prefix: &str) -> Vec<u8> {
    [GCP_PREFIX, prefix.as_bytes()].concat()
}
pub fn party_key(prefix: &str, org: &str) -> Vec<u8> {
    [PARTY_PREFIX, prefix.as_bytes(), b"/", org.as_bytes()].concat()
}
pub fn parties_prefix(prefix: &str) -> Vec<u8> {
    [PARTY_PREFIX, prefix.as_bytes(), b"/"].concat()
}
pub fn custody_key(product: &str, org: &str) -> Vec<u8> {
    [CUSTODY_PREFIX, product.as_bytes(), &[0], org.as_bytes()].concat()
}
pub fn custody_prefix(product: &str) -> Vec<u8> {
    [CUSTODY_PREFIX, product.as_bytes(), &[0]].concat()
}
pub fn unendorsed_key(product: &str, seq: u64) -> Vec<u8> {
    [UNENDORSED_PREFIX, product.as_bytes(), &[0], &seq.to_be_bytes()].concat()
}
pub fn unendorsed_prefix(product: &str) -> Vec<u8> {
    [UNENDORSED_PREFIX, product.as_bytes(), &[0]].concat()
}
pub fn kyc_doc_key(cid: &str) -> Vec<u8> {
    [KYC_DOC_PREFIX, cid.as_bytes()].concat()
}
pub fn record_key(record_id: &Hash32) -> Vec<u8> {
    [RECORD_PREFIX, &record_id.0[..]].concat()
}
/// Key of an organisation's record of an event hash (under the `trace_record_ids` rule).
pub fn event_record_key(event_hash: &Hash32, org: &str) -> Vec<u8> {
    [EVENT_RECORDS_PREFIX, &event_hash.0[..], org.as_bytes()].concat()
}
/// Prefix of every organisation's record of an event hash.
pub fn event_records_prefix(event_hash: &Hash32) -> Vec<u8> {
    [EVENT_RECORDS_PREFIX, &event_hash.0[..]].concat()
}
pub fn record_products_key(seq: u64) -> Vec<u8> {
    [RECORD_PRODUCTS_PREFIX, &seq.to_be_bytes()].concat()
}
pub fn cid_key(cid: &str) -> Vec<u8> {
    [CID_PREFIX, cid.as_bytes()].concat()
}
/// Key of a product's anchor entry: the normalised identifier itself, not a hash of it, so the
/// items of one read (one GTIN, serials close together) sit in neighbouring B-tree leaves and a
/// block of thousands of them rewrites a few hundred pages instead of one page per item.
pub fn product_info_key(product: &str) -> Vec<u8> {
    [PRODUCT_PREFIX, product.as_bytes()].concat()
}
/// Key of chunk `c` of a product's record list. Identifiers hold no control characters, so the
/// `0x00` separator keeps two products' chunks apart.
pub fn product_chunk_key(product: &str, c: u64) -> Vec<u8> {
    [
        PRODUCT_EVENTS_PREFIX,
        product.as_bytes(),
        &[0],
        &c.to_be_bytes(),
    ]
    .concat()
}
pub fn all_key(seq: u64) -> Vec<u8> {
    [ALL_PREFIX, &seq.to_be_bytes()].concat()
}
pub fn by_org_prefix(org: &str) -> Vec<u8> {
    [BY_ORG_PREFIX, org.as_bytes(), b"/"].concat()
}
pub fn by_step_prefix(step: &str) -> Vec<u8> {
    [BY_STEP_PREFIX, &sha256(step.as_bytes()).0[..]].concat()
}
pub fn by_location_prefix(location: &str) -> Vec<u8> {
    [BY_LOCATION_PREFIX, &sha256(location.as_bytes()).0[..]].concat()
}
pub fn grant_key(record_id: &Hash32, grantee: &Address) -> Vec<u8> {
    [GRANT_PREFIX, &record_id.0[..], &grantee.0].concat()
}
/// Prefix of a record's grants.
pub fn grants_prefix(record_id: &Hash32) -> Vec<u8> {
    [GRANT_PREFIX, &record_id.0[..]].concat()
}

/// Reads and decodes a borsh value.
pub fn get<T: BorshDeserialize>(
    view: &dyn StateView,
    key: &[u8],
    what: &'static str,
) -> Result<Option<T>, StateError> {
    match view.get(key)? {
        None => Ok(None),
        Some(bytes) => borsh::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StateError::corrupt(key, format!("{what}: {e}"))),
    }
}

pub(crate) fn put<T: BorshSerialize>(ov: &mut Overlay<'_>, key: Vec<u8>, value: &T) {
    ov.put(
        key,
        borsh::to_vec(value).expect("invariant: borsh encoding into a Vec cannot fail"),
    );
}

pub fn admin(view: &dyn StateView) -> Result<Option<Address>, StateError> {
    get(view, ADMIN_KEY, "trace admin")
}
pub fn org(view: &dyn StateView, org: &str) -> Result<Option<OrgInfo>, StateError> {
    get(view, &org_key(org), "organisation")
}
pub fn key(view: &dyn StateView, addr: &Address) -> Result<Option<KeyInfo>, StateError> {
    get(view, &key_key(addr), "trace key")
}
/// Most attestations of one subject [`kyc_attestations`] returns.
pub const KYC_ATTESTATIONS_MAX: usize = 64;

/// The subject's latest attestation by any verifier (the highest block; the highest level
/// within one block).
pub fn kyc(view: &dyn StateView, subject: &Address) -> Result<Option<KycInfo>, StateError> {
    Ok(latest_kyc(&kyc_attestations(view, subject)?))
}

/// The latest of a subject's attestations (the highest block; the highest level within one).
pub fn latest_kyc(attestations: &[KycInfo]) -> Option<KycInfo> {
    attestations
        .iter()
        .max_by_key(|k| (k.attested_at, k.level))
        .cloned()
}

/// Every verifier's attestation of the subject, in verifier order (at most
/// [`KYC_ATTESTATIONS_MAX`]), with the one kept before the `trace_writers` rule first.
pub fn kyc_attestations(
    view: &dyn StateView,
    subject: &Address,
) -> Result<Vec<KycInfo>, StateError> {
    let mut out: Vec<KycInfo> = get(view, &kyc_key(subject), "kyc attestation")?
        .into_iter()
        .collect();
    for (k, v) in view.range(&kyc_attest_prefix(subject), None, KYC_ATTESTATIONS_MAX)? {
        out.push(
            borsh::from_slice(&v)
                .map_err(|e| StateError::corrupt(&k, format!("kyc attestation: {e}")))?,
        );
    }
    Ok(out)
}
/// One verifier's attestation of a subject (under the `trace_writers` rule).
pub fn kyc_attestation(
    view: &dyn StateView,
    subject: &Address,
    verifier: &Address,
) -> Result<Option<KycInfo>, StateError> {
    get(view, &kyc_attest_key(subject, verifier), "kyc attestation")
}
/// The error declaration of a record (by record id), if it was declared erroneous.
pub fn error_declaration(
    view: &dyn StateView,
    record_id: &Hash32,
) -> Result<Option<ErrorDeclarationInfo>, StateError> {
    get(view, &error_key(record_id), "error declaration")
}
/// The registered GS1 Company Prefix (exact digits).
pub fn prefix(view: &dyn StateView, prefix: &str) -> Result<Option<PrefixInfo>, StateError> {
    get(view, &gcp_key(prefix), "company prefix")
}
/// The registered GS1 Company Prefix a product falls under, if any: the first registered
/// prefix among the product key's leading 4–12 digits (registered prefixes never nest).
pub fn product_prefix(
    view: &dyn StateView,
    product: &str,
) -> Result<Option<(String, PrefixInfo)>, StateError> {
    let Some(digits) = want_types::trace::gcp_digits(product) else {
        return Ok(None);
    };
    let longest = digits.len().min(want_types::trace::GCP_DIGITS_MAX);
    for n in want_types::trace::GCP_DIGITS_MIN..=longest {
        let candidate = &digits[..n];
        if let Some(info) = self::prefix(view, candidate)? {
            return Ok(Some((candidate.to_string(), info)));
        }
    }
    Ok(None)
}
pub fn is_party(view: &dyn StateView, prefix: &str, org: &str) -> Result<bool, StateError> {
    Ok(view.get(&party_key(prefix, org))?.is_some())
}
/// True when the record at anchoring position `seq` names `product` but was kept apart from its
/// history (its organisation was not endorsed for the product).
pub fn is_unendorsed(view: &dyn StateView, product: &str, seq: u64) -> Result<bool, StateError> {
    Ok(view.get(&unendorsed_key(product, seq))?.is_some())
}
pub fn is_custodian(view: &dyn StateView, product: &str, org: &str) -> Result<bool, StateError> {
    Ok(view.get(&custody_key(product, org))?.is_some())
}
pub fn kyc_doc(view: &dyn StateView, cid: &str) -> Result<Option<KycDoc>, StateError> {
    get(view, &kyc_doc_key(cid), "kyc document")
}
/// A record with its products, by record id (see the key table).
pub fn record(view: &dyn StateView, record_id: &Hash32) -> Result<Option<RecordInfo>, StateError> {
    let Some(mut rec) = record_header(view, record_id)? else {
        return Ok(None);
    };
    let key = record_products_key(rec.seq);
    rec.public.products = get(view, &key, "record products")?
        .ok_or_else(|| StateError::corrupt(&key, "record products missing"))?;
    Ok(Some(rec))
}
/// A record without its products (`public.products` is empty), by record id: one small read.
pub fn record_header(
    view: &dyn StateView,
    record_id: &Hash32,
) -> Result<Option<RecordInfo>, StateError> {
    get(view, &record_key(record_id), "trace record")
}
/// Stores a record under its id: its products apart from the rest (see the module's key table).
pub(crate) fn put_record(ov: &mut Overlay<'_>, record_id: &Hash32, mut rec: RecordInfo) {
    let products = std::mem::take(&mut rec.public.products);
    put(ov, record_products_key(rec.seq), &products);
    put(ov, record_key(record_id), &rec);
}
/// The record an organisation anchored of an event hash, if any: its `trace/evh/` entry, else a
/// record anchored before the `trace_record_ids` rule (id = event hash) by that organisation.
pub fn record_id_of(
    view: &dyn StateView,
    org: &str,
    event_hash: &Hash32,
) -> Result<Option<Hash32>, StateError> {
    let key = event_record_key(event_hash, org);
    if let Some(bytes) = view.get(&key)? {
        return stored_id(&key, &bytes).map(Some);
    }
    Ok(legacy_record(view, event_hash)?
        .filter(|rec| rec.org == org)
        .map(|_| *event_hash))
}
/// The record stored under an event hash as its id (anchored before the `trace_record_ids`
/// rule): a record stored there whose event hash differs is another's record id, not this.
fn legacy_record(
    view: &dyn StateView,
    event_hash: &Hash32,
) -> Result<Option<RecordInfo>, StateError> {
    Ok(record_header(view, event_hash)?.filter(|rec| rec.event_hash == *event_hash))
}
/// Most records of one event hash [`event_records`] returns.
pub const EVENT_RECORDS_MAX: usize = 1_000;
/// Every organisation's record of an event hash (without products), in anchoring order, at most
/// [`EVENT_RECORDS_MAX`]: (record id, record).
pub fn event_records(
    view: &dyn StateView,
    event_hash: &Hash32,
) -> Result<Vec<(Hash32, RecordInfo)>, StateError> {
    let mut out = Vec::new();
    if let Some(rec) = legacy_record(view, event_hash)? {
        out.push((*event_hash, rec));
    }
    for (k, v) in view.range(&event_records_prefix(event_hash), None, EVENT_RECORDS_MAX)? {
        let id = stored_id(&k, &v)?;
        let rec = record_header(view, &id)?
            .ok_or_else(|| StateError::corrupt(&k, "the event's index names a record not stored"))?;
        out.push((id, rec));
    }
    out.sort_by_key(|(_, rec)| rec.seq);
    out.truncate(EVENT_RECORDS_MAX);
    Ok(out)
}
/// A record id stored as an index value.
fn stored_id(key: &[u8], bytes: &[u8]) -> Result<Hash32, StateError> {
    <[u8; 32]>::try_from(bytes).map(Hash32).map_err(|_| {
        StateError::corrupt(
            key,
            format!("record id of {} bytes, expected 32", bytes.len()),
        )
    })
}
pub fn record_by_cid(view: &dyn StateView, cid: &str) -> Result<Option<Hash32>, StateError> {
    get(view, &cid_key(cid), "record cid")
}
pub fn product(view: &dyn StateView, product: &str) -> Result<Option<ProductInfo>, StateError> {
    let info: Option<ProductInfo> = get(view, &product_info_key(product), "product anchor")?;
    Ok(info.map(|info| ProductInfo {
        id: product.to_string(),
        ..info
    }))
}
/// The record ids of a product's records `from ..` in anchoring order, at most `max`.
pub fn product_events(
    view: &dyn StateView,
    product: &str,
    info: &ProductInfo,
    from: u64,
    max: usize,
) -> Result<Vec<Hash32>, StateError> {
    let full = info.count - info.tail.len() as u64;
    let mut out = Vec::new();
    let mut n = from;
    while n < info.count && out.len() < max {
        if n >= full {
            let i = usize::try_from(n - full).unwrap_or(usize::MAX);
            match info.tail.get(i) {
                Some(h) => out.push(*h),
                None => break,
            }
            n += 1;
            continue;
        }
        let c = n / PRODUCT_CHUNK_RECORDS;
        let key = product_chunk_key(product, c);
        let bytes = view
            .get(&key)?
            .ok_or_else(|| StateError::corrupt(&key, "product record chunk missing"))?;
        if bytes.len() as u64 != 32 * PRODUCT_CHUNK_RECORDS {
            return Err(StateError::corrupt(
                &key,
                format!("chunk of {} bytes", bytes.len()),
            ));
        }
        let mut i = n % PRODUCT_CHUNK_RECORDS;
        while i < PRODUCT_CHUNK_RECORDS && out.len() < max {
            let at = usize::try_from(i * 32).unwrap_or(0);
            let mut h = [0u8; 32];
            h.copy_from_slice(&bytes[at..at + 32]);
            out.push(Hash32(h));
            i += 1;
            n += 1;
        }
    }
    Ok(out)
}

/// The record id of a product's `n`-th record.
pub fn product_event(
    view: &dyn StateView,
    product: &str,
    n: u64,
) -> Result<Option<Hash32>, StateError> {
    let Some(info) = self::product(view, product)? else {
        return Ok(None);
    };
    Ok(product_events(view, product, &info, n, 1)?
        .into_iter()
        .next())
}
pub fn grant(
    view: &dyn StateView,
    record_id: &Hash32,
    grantee: &Address,
) -> Result<Option<GrantInfo>, StateError> {
    get(view, &grant_key(record_id, grantee), "grant")
}
pub fn seq(view: &dyn StateView) -> Result<u64, StateError> {
    crate::store::read_u64(view, SEQ_KEY)
}
