//! Reads of the trace module, for the node's API and services: every read goes through one
//! [`StateView`] (the node passes one storage snapshot, so a query sees one state), every list
//! is a page bounded by a named maximum with a cursor to the next, and an index entry that does
//! not decode is an error (`StateError::Corrupt`), never skipped.

use want_types::{Address, Hash32};

use super::state as st;
pub use crate::store::Page;
use crate::store::{key_after, page};
use crate::{StateError, StateView};

pub use super::state::{
    admin, error_declaration, event_records, grant, is_custodian, is_party, is_unendorsed, key, kyc, kyc_attestation, kyc_attestations, kyc_doc, latest_kyc,
    org, prefix, product, product_event, product_events, product_prefix, record, record_by_cid,
    record_header, record_id_of, seq, ErrorDeclarationInfo, GrantInfo, KeyInfo, KycDoc, KycInfo, OrgInfo, PrefixInfo, ProductInfo,
    RecordInfo, EVENT_RECORDS_MAX, KYC_ATTESTATIONS_MAX, PRODUCT_CHUNK_RECORDS,
};

/// Most records one page of [`events`] returns.
pub const EVENTS_PAGE_MAX: usize = 1_000;
/// Records returned when a query does not say.
pub const EVENTS_PAGE_DEFAULT: usize = 100;
/// Most index entries one [`events`] query examines before it returns a partial page with a
/// cursor.
pub const EVENTS_SCAN_MAX: usize = 20_000;
/// Most product entries one page of [`events`] carries, summed over its records: a page stops
/// before the record that would pass it, with a cursor to that record (one record alone always
/// fits: it names at most [`want_types::trace::RECORD_PRODUCTS_MAX`]). 1,000 records of 10,000
/// products would otherwise answer gigabytes.
pub const EVENTS_PRODUCTS_MAX: usize = want_types::trace::RECORD_PRODUCTS_MAX;
/// Most keys one page of [`org_keys`] returns.
pub const KEYS_PAGE_MAX: usize = 1_000;
/// Most grants one page of [`grants`] returns.
pub const GRANTS_PAGE_MAX: usize = 1_000;
/// Most CIDs one page of [`record_cids`] or [`kyc_doc_cids`] returns.
pub const CIDS_PAGE_MAX: usize = 10_000;
/// Most records of one product [`product_records`] reads.
pub const PRODUCT_RECORDS_MAX: u64 = 10_000;
/// Most unendorsed records of one product one page of [`unendorsed_records`] returns.
pub const UNENDORSED_PAGE_MAX: usize = 1_000;
/// Most parties of one prefix one page of [`parties`] returns.
pub const PARTIES_PAGE_MAX: usize = 1_000;
/// Index entries read per storage round trip while scanning.
const SCAN_BATCH: usize = 1_000;

/// Filters of an event query (all optional; combined with AND).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// A normalised product identifier.
    pub product: Option<String>,
    /// A business step as stored: the bare CBV term or a custom URI.
    pub biz_step: Option<String>,
    /// A disposition as stored: the bare CBV term or a custom URI.
    pub disposition: Option<String>,
    /// A normalised location identifier (read point or business location).
    pub location: Option<String>,
    pub org: Option<String>,
    /// Event time at or after, Unix ms.
    pub from_ms: Option<i64>,
    /// Event time before, Unix ms.
    pub to_ms: Option<i64>,
}

impl EventFilter {
    /// Whether a record read without its products (`record_header`) matches every filter but
    /// the product's (which the product's own record list answers).
    fn matches_header(&self, r: &RecordInfo) -> bool {
        let p = &r.public;
        self.org.as_ref().is_none_or(|o| *o == r.org)
            && self
                .biz_step
                .as_ref()
                .is_none_or(|s| p.biz_step.as_ref() == Some(s))
            && self
                .disposition
                .as_ref()
                .is_none_or(|d| p.disposition.as_ref() == Some(d))
            && self
                .location
                .as_ref()
                .is_none_or(|l| p.location.as_ref() == Some(l))
            && self
                .from_ms
                .is_none_or(|from| p.event_time_ms.is_some_and(|t| t >= from))
            && self
                .to_ms
                .is_none_or(|to| p.event_time_ms.is_some_and(|t| t < to))
    }
}

/// The record id an index entry holds.
fn index_hash(key: &[u8], v: &[u8]) -> Result<Hash32, StateError> {
    let raw: [u8; 32] = v.try_into().map_err(|_| {
        StateError::corrupt(
            key,
            format!("trace index entry is {} bytes, expected 32", v.len()),
        )
    })?;
    Ok(Hash32(raw))
}

/// The anchoring position an index key ends with.
fn position(key: &[u8]) -> Result<u64, StateError> {
    let raw = key
        .len()
        .checked_sub(8)
        .and_then(|at| <[u8; 8]>::try_from(&key[at..]).ok())
        .ok_or_else(|| StateError::corrupt(key, "trace index key without its position"))?;
    Ok(u64::from_be_bytes(raw))
}

/// A page of [`events`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventsPage {
    /// (record id, record).
    pub items: Vec<(Hash32, RecordInfo)>,
    /// The cursor of the next page; `None` on the last one.
    pub next: Option<u64>,
    /// The page stopped before `limit` records because their products reached
    /// [`EVENTS_PRODUCTS_MAX`]; `next` continues from the record that did not fit.
    pub truncated: bool,
}

/// Adds `rec` to a page unless its products would pass [`EVENTS_PRODUCTS_MAX`] (a first record
/// always fits); false when it did not fit.
fn fits(items: &mut Vec<(Hash32, RecordInfo)>, products: &mut usize, id: Hash32, rec: RecordInfo) -> bool {
    let n = rec.public.products.len();
    if !items.is_empty() && products.saturating_add(n) > EVENTS_PRODUCTS_MAX {
        return false;
    }
    *products = products.saturating_add(n);
    items.push((id, rec));
    true
}

/// Records matching `filter`, at most `limit` (clamped to [`EVENTS_PAGE_MAX`]) and
/// [`EVENTS_PRODUCTS_MAX`] products from `cursor` (the `next` of the previous page): walks the
/// narrowest index (the product's record list, the organisation's, the bizStep's, the
/// location's, else every record in anchoring order) and examines at most [`EVENTS_SCAN_MAX`]
/// entries per page, each without its products; only the records that match are read whole.
pub fn events(
    view: &dyn StateView,
    filter: &EventFilter,
    cursor: Option<u64>,
    limit: usize,
) -> Result<EventsPage, StateError> {
    let limit = limit.clamp(1, EVENTS_PAGE_MAX);
    if let Some(p) = &filter.product {
        return product_event_page(view, filter, p, cursor, limit);
    }
    let prefix = if let Some(o) = &filter.org {
        st::by_org_prefix(o)
    } else if let Some(s) = &filter.biz_step {
        st::by_step_prefix(s)
    } else if let Some(l) = &filter.location {
        st::by_location_prefix(l)
    } else {
        st::ALL_PREFIX.to_vec()
    };
    let mut start = cursor.map(|c| [prefix.clone(), c.to_be_bytes().to_vec()].concat());
    let mut items = Vec::new();
    let mut products = 0usize;
    let mut scanned = 0usize;
    loop {
        let batch = view.range(&prefix, start.as_deref(), SCAN_BATCH)?;
        for (k, v) in &batch {
            if items.len() >= limit || scanned >= EVENTS_SCAN_MAX {
                return Ok(EventsPage {
                    items,
                    next: Some(position(k)?),
                    truncated: false,
                });
            }
            scanned += 1;
            let eh = index_hash(k, v)?;
            let missing = || StateError::corrupt(k, "the index names a record not stored");
            let head = record_header(view, &eh)?.ok_or_else(missing)?;
            if !filter.matches_header(&head) {
                continue;
            }
            let rec = record(view, &eh)?.ok_or_else(missing)?;
            if !fits(&mut items, &mut products, eh, rec) {
                return Ok(EventsPage {
                    items,
                    next: Some(position(k)?),
                    truncated: true,
                });
            }
        }
        match batch.last() {
            Some((last, _)) if batch.len() == SCAN_BATCH => start = Some(key_after(last)),
            _ => {
                return Ok(EventsPage {
                    items,
                    next: None,
                    truncated: false,
                })
            }
        }
    }
}

/// [`events`] by product: walks the product's record list from the cursor (a position in it).
fn product_event_page(
    view: &dyn StateView,
    filter: &EventFilter,
    product: &str,
    cursor: Option<u64>,
    limit: usize,
) -> Result<EventsPage, StateError> {
    let Some(info) = st::product(view, product)? else {
        return Ok(EventsPage {
            items: Vec::new(),
            next: None,
            truncated: false,
        });
    };
    let from = cursor.unwrap_or(0);
    let hashes = st::product_events(view, product, &info, from, EVENTS_SCAN_MAX)?;
    let mut items = Vec::new();
    let mut products = 0usize;
    for (i, eh) in hashes.iter().enumerate() {
        let pos = from + i as u64;
        if items.len() >= limit {
            return Ok(EventsPage {
                items,
                next: Some(pos),
                truncated: false,
            });
        }
        let missing = || {
            StateError::corrupt(
                &st::product_info_key(product),
                format!("the product's record list names record {eh}, which is not stored"),
            )
        };
        // Every record of the product's list names it: the other filters decide.
        let head = record_header(view, eh)?.ok_or_else(missing)?;
        if !filter.matches_header(&head) {
            continue;
        }
        let rec = record(view, eh)?.ok_or_else(missing)?;
        if !fits(&mut items, &mut products, *eh, rec) {
            return Ok(EventsPage {
                items,
                next: Some(pos),
                truncated: true,
            });
        }
    }
    let end = from + hashes.len() as u64;
    Ok(EventsPage {
        items,
        next: (end < info.count).then_some(end),
        truncated: false,
    })
}

/// A product's anchor (if any record names it) and its records in anchoring order (at most
/// [`PRODUCT_RECORDS_MAX`]), each with its products (`with_products`) or without (one small
/// read each); `None` where the product's list names a record that is not stored.
pub type ProductRecords = (Option<ProductInfo>, Vec<(Hash32, Option<RecordInfo>)>);

/// See [`ProductRecords`].
pub fn product_records(
    view: &dyn StateView,
    product: &str,
    with_products: bool,
) -> Result<ProductRecords, StateError> {
    let info = st::product(view, product)?;
    let mut out = Vec::new();
    if let Some(info) = &info {
        let max = usize::try_from(PRODUCT_RECORDS_MAX).unwrap_or(usize::MAX);
        for eh in st::product_events(view, product, info, 0, max)? {
            let rec = if with_products {
                record(view, &eh)?
            } else {
                record_header(view, &eh)?
            };
            out.push((eh, rec));
        }
    }
    Ok((info, out))
}

/// The records naming `product` by organisations its company prefix's owner did not endorse
/// (kept apart from its history), in anchoring order: (anchoring sequence, record id), at most
/// `limit` (clamped to [`UNENDORSED_PAGE_MAX`]) after sequence `after`.
pub fn unendorsed_records(
    view: &dyn StateView,
    product: &str,
    after: Option<u64>,
    limit: usize,
) -> Result<Page<(u64, Hash32), u64>, StateError> {
    let after = after.map(u64::to_be_bytes);
    page(
        view,
        &st::unendorsed_prefix(product),
        after.as_ref().map(|a| &a[..]),
        limit.clamp(1, UNENDORSED_PAGE_MAX),
        |k, v| Ok((position(k)?, index_hash(k, v)?)),
        |(seq, _)| *seq,
    )
}

/// The organisations authorised for a registered company prefix, in order, at most `limit`
/// (clamped to [`PARTIES_PAGE_MAX`]) after `after`.
pub fn parties(
    view: &dyn StateView,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Page<String, String>, StateError> {
    let p = st::parties_prefix(prefix);
    page(
        view,
        &p,
        after.map(str::as_bytes),
        limit.clamp(1, PARTIES_PAGE_MAX),
        |k, _| {
            std::str::from_utf8(&k[p.len()..])
                .map(str::to_string)
                .map_err(|_| StateError::corrupt(k, "a party that is not UTF-8"))
        },
        String::clone,
    )
}

/// The address an index key ends with.
fn trailing_address(key: &[u8]) -> Result<Address, StateError> {
    let at = key
        .len()
        .checked_sub(want_types::address::ADDRESS_LEN)
        .ok_or_else(|| StateError::corrupt(key, "index key without its address"))?;
    let raw = <[u8; want_types::address::ADDRESS_LEN]>::try_from(&key[at..])
        .map_err(|_| StateError::corrupt(key, "index key without its address"))?;
    Ok(Address(raw))
}

/// The organisation's department keys in address order, at most `limit` (clamped to
/// [`KEYS_PAGE_MAX`]) after `after`.
pub fn org_keys(
    view: &dyn StateView,
    org: &str,
    after: Option<&Address>,
    limit: usize,
) -> Result<Page<(Address, KeyInfo), Address>, StateError> {
    page(
        view,
        &st::org_keys_prefix(org),
        after.map(|a| &a.0[..]),
        limit.clamp(1, KEYS_PAGE_MAX),
        |k, _| {
            let addr = trailing_address(k)?;
            let info = key(view, &addr)?
                .ok_or_else(|| StateError::corrupt(k, "the organisation lists a key not stored"))?;
            Ok((addr, info))
        },
        |(a, _)| *a,
    )
}

/// The live grants of a record in grantee order, at most `limit` (clamped to
/// [`GRANTS_PAGE_MAX`]) after `after`.
pub fn grants(
    view: &dyn StateView,
    record_id: &Hash32,
    after: Option<&Address>,
    limit: usize,
) -> Result<Page<GrantInfo, Address>, StateError> {
    page(
        view,
        &st::grants_prefix(record_id),
        after.map(|a| &a.0[..]),
        limit.clamp(1, GRANTS_PAGE_MAX),
        |k, v| borsh::from_slice(v).map_err(|e| StateError::corrupt(k, format!("grant: {e}"))),
        |g: &GrantInfo| g.grantee,
    )
}

/// CIDs under an index prefix, in order, at most `limit` after `after`.
fn cids(
    view: &dyn StateView,
    prefix: &[u8],
    after: Option<&str>,
    limit: usize,
) -> Result<Page<String, String>, StateError> {
    page(
        view,
        prefix,
        after.map(str::as_bytes),
        limit.clamp(1, CIDS_PAGE_MAX),
        |k, _| {
            std::str::from_utf8(&k[prefix.len()..])
                .map(str::to_string)
                .map_err(|_| StateError::corrupt(k, "a CID that is not UTF-8"))
        },
        String::clone,
    )
}

/// The CIDs of every anchored record's sealed blob, a page at a time.
pub fn record_cids(
    view: &dyn StateView,
    after: Option<&str>,
    limit: usize,
) -> Result<Page<String, String>, StateError> {
    cids(view, st::CID_PREFIX, after, limit)
}

/// The CIDs of every filed KYC document, a page at a time.
pub fn kyc_doc_cids(
    view: &dyn StateView,
    after: Option<&str>,
    limit: usize,
) -> Result<Page<String, String>, StateError> {
    cids(view, st::KYC_DOC_PREFIX, after, limit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_corrupt_index_entry_is_an_error_not_a_skipped_record() {
        let mut view = BTreeMap::new();
        view.insert(st::all_key(0), vec![1, 2, 3]);
        let e = events(&view, &EventFilter::default(), None, 10).unwrap_err();
        assert!(matches!(e, StateError::Corrupt { .. }), "{e}");
        let mut view = BTreeMap::new();
        view.insert(st::all_key(0), vec![7; 32]);
        let e = events(&view, &EventFilter::default(), None, 10).unwrap_err();
        assert!(e.to_string().contains("not stored"), "{e}");
    }

    #[test]
    fn org_keys_page_with_a_cursor_and_a_bounded_size() {
        let mut view = BTreeMap::new();
        let info = KeyInfo {
            org: "o".into(),
            department: "d".into(),
            roles: vec![],
            added_at: 0,
            revoked_at: None,
        };
        let addrs: Vec<Address> = (0..5u8).map(|i| Address::from_account_id([i; 20])).collect();
        for a in &addrs {
            view.insert(st::org_keys_key("o", a), vec![]);
            view.insert(st::key_key(a), borsh::to_vec(&info).unwrap());
        }
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = org_keys(&view, "o", after.as_ref(), 2).unwrap();
            assert!(page.items.len() <= 2);
            seen.extend(page.items.iter().map(|(a, _)| *a));
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        let mut expected = addrs.clone();
        expected.sort();
        assert_eq!(seen, expected);
        view.remove(&st::key_key(&addrs[3]));
        let e = org_keys(&view, "o", None, 10).unwrap_err();
        assert!(
            matches!(&e, StateError::Corrupt { key_hex, reason }
                if reason == "the organisation lists a key not stored"
                    && *key_hex == crate::store::to_hex(&st::org_keys_key("o", &addrs[3]))),
            "{e}"
        );
    }
}
