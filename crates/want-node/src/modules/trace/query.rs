//! The trace module's reads as the API serves them: records and event pages, lineage. State is
//! read through `want_state::trace::query` over one snapshot, never by key.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde::Serialize;
use serde_json::{json, Value};
use want_state::trace::query::{self, EventFilter, RecordInfo};
use want_state::StateView;
use want_types::trace::{event_hash_id, Relation};

use crate::error::{codes, NodeError};

/// Deepest lineage walk, in hops.
pub const LINEAGE_DEPTH_MAX: u32 = 16;
/// Most products a lineage answer lists.
pub const LINEAGE_NODES_MAX: usize = 10_000;

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

/// The query string of `GET /v1/trace/events`: filters (all optional; combined with AND), page
/// size and cursor.
#[derive(Clone, Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
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

/// One page of records matching `q` (see `want_state::trace::query::events`).
pub fn events(view: &dyn StateView, q: &EventQuery) -> Result<Value, NodeError> {
    let limit = q.limit.unwrap_or(query::EVENTS_PAGE_DEFAULT);
    if limit == 0 || limit > query::EVENTS_PAGE_MAX {
        return Err(NodeError::rejected(
            codes::INVALID_QUERY,
            format!("limit must be 1 to {}, found {limit}", query::EVENTS_PAGE_MAX),
        ));
    }
    let filter = EventFilter {
        product: q.product.clone(),
        biz_step: q.biz_step.clone(),
        location: q.location.clone(),
        org: q.org.clone(),
        from_ms: q.from_ms,
        to_ms: q.to_ms,
    };
    let page = query::events(view, &filter, q.cursor, limit)?;
    let events: Vec<Value> = page.items.iter().map(record_view).collect();
    Ok(json!({"events": events, "next": page.next}))
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
pub fn lineage(view: &dyn StateView, product: &str, depth: u32) -> Result<Value, NodeError> {
    if depth == 0 || depth > LINEAGE_DEPTH_MAX {
        return Err(NodeError::rejected(
            codes::INVALID_QUERY,
            format!("depth must be 1 to {LINEAGE_DEPTH_MAX}, found {depth}"),
        ));
    }
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
                let (_, recs) = query::product_records(view, &id, true)?;
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

/// Brings a product identifier given by a user (EPC URN, GS1 Digital Link URI on any host, or
/// another URI) to the one form records are indexed under.
pub fn normalize_product(s: &str) -> Result<String, String> {
    want_epcis::normalize_identifier(s.trim()).map_err(|e| e.message)
}

