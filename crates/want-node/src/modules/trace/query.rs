//! The trace module's reads as the API serves them: records and event pages, lineage. State is
//! read through `want_state::trace::query` over one snapshot, never by key. Each answer is a
//! typed view whose schema is the OpenAPI document's.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde::Serialize;
use utoipa::ToSchema;
use want_state::trace::query::{self, EventFilter, RecordInfo};
use want_state::StateView;
use want_types::trace::{event_hash_id, ProductLink, Relation};
use want_types::{Address, Hash32};

use crate::error::{codes, NodeError};

/// Deepest lineage walk, in hops.
pub const LINEAGE_DEPTH_MAX: u32 = 16;
/// Most products a lineage answer lists.
pub const LINEAGE_NODES_MAX: usize = 10_000;

/// The public view of an anchored record.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordView {
    /// The GS1 event hash ID, `ni:///sha-256;<64 hex>?ver=CBV2.0`.
    pub event_hash: String,
    /// The owning organisation.
    pub org: String,
    /// The department key that signed the anchoring transaction.
    pub signer: Address,
    /// `H(M, Sig)` of the sealed record.
    pub record_hash: Hash32,
    /// CIDv1 of the sealed record in the blob store.
    pub cid: String,
    pub event_type: String,
    pub biz_step: Option<String>,
    pub disposition: Option<String>,
    /// Unix ms, when published.
    pub event_time_ms: Option<i64>,
    /// When published.
    pub location: Option<String>,
    pub products: Vec<ProductLink>,
    /// Height of the anchoring block.
    pub height: u64,
    /// The anchoring transaction.
    pub tx: Hash32,
    /// Position of the record in its transaction.
    pub index: u32,
    /// Position in the chain's anchoring order.
    pub seq: u64,
}

/// The public view of an anchored record.
pub fn record_view(r: &RecordInfo) -> RecordView {
    RecordView {
        event_hash: event_hash_id(&r.event_hash),
        org: r.org.clone(),
        signer: r.signer,
        record_hash: r.record_hash,
        cid: r.cid.clone(),
        event_type: r.public.event_type.clone(),
        biz_step: r.public.biz_step.clone(),
        disposition: r.public.disposition.clone(),
        event_time_ms: r.public.event_time_ms,
        location: r.public.location.clone(),
        products: r.public.products.clone(),
        height: r.height,
        tx: r.tx_id,
        index: r.index,
        seq: r.seq,
    }
}

/// The query string of `GET /v1/trace/events`: filters (all optional; combined with AND), page
/// size and cursor.
#[derive(Clone, Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EventQuery {
    /// A product the record names (EPC URN or GS1 Digital Link).
    pub product: Option<String>,
    /// Business step: a CBV term in any form (`shipping`, `urn:epcglobal:cbv:bizstep:shipping`,
    /// `https://ref.gs1.org/cbv/BizStep-shipping`) or a custom absolute URI; an unknown bare
    /// name is refused (`invalid_query`).
    pub biz_step: Option<String>,
    /// Disposition: a CBV term in any form (`in_transit`, `urn:epcglobal:cbv:disp:in_transit`,
    /// `https://ref.gs1.org/cbv/Disp-in_transit`) or a custom absolute URI.
    pub disposition: Option<String>,
    /// The place (business location, else read point): an EPC URN (`urn:epc:id:sgln:…`), a GS1
    /// Digital Link or another absolute URI.
    pub location: Option<String>,
    /// The owning organisation.
    pub org: Option<String>,
    /// Event time at or after, Unix ms.
    pub from_ms: Option<i64>,
    /// Event time before, Unix ms.
    pub to_ms: Option<i64>,
    /// Most records (1 to 1,000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// The `next` of the previous page.
    pub cursor: Option<u64>,
}

/// A page of records and the cursor of the next one.
#[derive(Serialize, ToSchema)]
pub struct EventsPage {
    pub events: Vec<RecordView>,
    /// The `cursor` of the next page; null on the last one.
    pub next: Option<u64>,
}

/// One page of records matching `q` (see `want_state::trace::query::events`).
pub fn events(view: &dyn StateView, q: &EventQuery) -> Result<EventsPage, NodeError> {
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
        disposition: q.disposition.clone(),
        location: q.location.clone(),
        org: q.org.clone(),
        from_ms: q.from_ms,
        to_ms: q.to_ms,
    };
    let page = query::events(view, &filter, q.cursor, limit)?;
    let events = page.items.iter().map(record_view).collect();
    Ok(EventsPage {
        events,
        next: page.next,
    })
}

/// How a record links two products.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// Container → content.
    Aggregation,
    /// Input → output.
    Transformation,
}

/// One edge of a product's lineage.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
pub struct LineageEdge {
    pub from: String,
    pub to: String,
    pub kind: LinkKind,
    /// The event hash ID of the record that draws the edge.
    pub event: String,
}

/// A product reached by a lineage walk.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LineageNode {
    pub id: String,
    /// Hops from the product asked about.
    pub depth: u32,
    /// The kind of the edge it was reached by.
    pub via: LinkKind,
    /// The event hash ID of that edge's record.
    pub event: String,
}

/// A product's lineage.
#[derive(Serialize, ToSchema)]
pub struct LineageView {
    pub product: String,
    pub depth: u32,
    /// Containers it was packed in, ingredients it was made from, and theirs.
    pub upstream: Vec<LineageNode>,
    /// Its contents, what it was made into, and theirs.
    pub downstream: Vec<LineageNode>,
    pub edges: Vec<LineageEdge>,
    /// The walk stopped at the most products an answer lists.
    pub truncated: bool,
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
                kind: LinkKind::Aggregation,
                event: event.clone(),
            });
        }
    }
    for input in of(Relation::Input) {
        for output in of(Relation::Output) {
            edges.push(LineageEdge {
                from: input.id.clone(),
                to: output.id.clone(),
                kind: LinkKind::Transformation,
                event: event.clone(),
            });
        }
    }
    edges
}

/// A product's lineage: products upstream (containers it was packed in, ingredients it was made
/// from) and downstream (its contents, what it was made into), breadth first to `depth` hops.
pub fn lineage(
    view: &dyn StateView,
    product: &str,
    depth: u32,
) -> Result<LineageView, NodeError> {
    if depth == 0 || depth > LINEAGE_DEPTH_MAX {
        return Err(NodeError::rejected(
            codes::INVALID_QUERY,
            format!("depth must be 1 to {LINEAGE_DEPTH_MAX}, found {depth}"),
        ));
    }
    let mut edges_of: HashMap<String, Vec<LineageEdge>> = HashMap::new();
    let mut truncated = false;
    let mut all_edges = BTreeSet::new();
    let mut walk = |upstream: bool| -> Result<Vec<LineageNode>, NodeError> {
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
                let mut edges: Vec<LineageEdge> = Vec::new();
                for r in recs.iter().filter_map(|(_, r)| r.as_ref()) {
                    for e in record_edges(r) {
                        if e.from != id && e.to != id {
                            continue;
                        }
                        // A record kept apart from the other product's history (its
                        // organisation was not endorsed for it) links nothing to it: a
                        // counterfeit does not borrow a genuine product's past.
                        let other = if e.from == id { &e.to } else { &e.from };
                        if query::is_unendorsed(view, other, r.seq)? {
                            continue;
                        }
                        edges.push(e);
                    }
                }
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
                found.push(LineageNode {
                    id: other.clone(),
                    depth: d + 1,
                    via: e.kind,
                    event: e.event.clone(),
                });
                queue.push_back((other.clone(), d + 1));
            }
        }
        Ok(found)
    };
    let upstream = walk(true)?;
    let downstream = walk(false)?;
    Ok(LineageView {
        product: product.to_string(),
        depth,
        upstream,
        downstream,
        edges: all_edges.into_iter().collect(),
        truncated,
    })
}

/// Brings a product identifier given by a user (EPC URN, GS1 Digital Link URI on any host, or
/// another URI) to the one form records are indexed under.
pub fn normalize_product(s: &str) -> Result<String, String> {
    want_epcis::normalize_identifier(s.trim()).map_err(|e| e.message)
}

/// Brings the filters of an events query to the forms capture stores them in (as
/// [`normalize_product`] does for products): the product and the location to their canonical
/// identifier (EPC URN and GS1 Digital Link alike), the business step and the disposition to
/// the bare CBV term (bare, URN and URI forms alike). A value that is neither a standard term
/// nor an absolute URI is refused with the name of its parameter: it could match nothing.
pub fn normalize_event_query(q: &mut EventQuery) -> Result<(), String> {
    fn apply(
        field: &mut Option<String>,
        name: &str,
        f: impl Fn(&str) -> Result<String, String>,
    ) -> Result<(), String> {
        if let Some(v) = field.as_deref() {
            let normalised = f(v.trim()).map_err(|e| format!("{name}: {e}"))?;
            *field = Some(normalised);
        }
        Ok(())
    }
    apply(&mut q.product, "product", normalize_product)?;
    apply(&mut q.location, "location", normalize_product)?;
    apply(&mut q.biz_step, "bizStep", |s| {
        want_epcis::normalize_biz_step(s).map_err(|e| e.message)
    })?;
    apply(&mut q.disposition, "disposition", |s| {
        want_epcis::normalize_disposition(s).map_err(|e| e.message)
    })
}

