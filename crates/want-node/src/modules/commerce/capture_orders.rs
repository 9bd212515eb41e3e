//! Orders a capture confirms (issue 14 items 3 and 4): after a capture's events are anchored,
//! every `receiving` event (CBV short or URI form) whose `bizTransactionList` names an order
//! (`urn:want:commerce:order:<id>`, [`ORDER_URN_PREFIX`](want_types::modules::commerce::ORDER_URN_PREFIX)) confirms that order's delivery by a
//! [`CommerceCall::ConfirmByEvent`] signed by the capturing key. Both capture paths use this
//! plan: the node's `POST /v1/epcis/capture` and `want trace capture`. What became of each order
//! is answered in the capture's `orders` array; a refused confirmation never fails the capture
//! (its events are anchored).
//!
//! [`CommerceCall::ConfirmByEvent`]: want_types::modules::commerce::CommerceCall::ConfirmByEvent

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use want_epcis::EpcisEvent;
use want_state::modules::commerce::codes::ORDER_URN_INVALID;
use want_types::modules::commerce::{parse_order_urn, RECEIVING_BIZ_STEP};
use want_types::Hash32;

/// Most orders one capture confirms (one per event of the largest capture). Further order
/// references are answered `skipped`; confirm them with `want order receive`.
pub const CAPTURE_ORDER_CONFIRMATIONS_MAX: usize = want_epcis::CAPTURE_EVENTS_MAX;

/// What became of one order a captured `receiving` event names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConfirmationStatus {
    /// The event confirmed the order's delivery: the order completed.
    Confirmed,
    /// The chain (or the node's admission) refused the confirmation: `code` and `message` say
    /// why. The capture's events are anchored all the same.
    Refused,
    /// The confirmation was sent but its commit was not seen (`code` says why); look its `tx`
    /// up later.
    Pending,
    /// Not sent: another event of the capture named the order first, the event declares an
    /// error, the capture's bound was reached, or the anchors were not sent and waited for.
    Skipped,
    /// The business transaction starts with [`ORDER_URN_PREFIX`](want_types::modules::commerce::ORDER_URN_PREFIX) but names no valid order id
    /// (`order_urn_invalid`).
    Ignored,
}

/// One order a captured `receiving` event names, and what became of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderConfirmation {
    /// The order's id in decimal; null when the business transaction names no valid id.
    pub order: Option<String>,
    /// The naming event's hash ID (`ni:///sha-256;<64 hex>?ver=CBV2.0`).
    pub event: String,
    pub status: ConfirmationStatus,
    /// The stable error code of a refused, pending or ignored confirmation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Why the order was not confirmed (absent when it was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The confirmation's transaction, when one was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx: Option<Hash32>,
}

/// One confirmation to send: `ConfirmByEvent { order, event_hash }`, whose outcome goes to
/// entry `slot` of [`Plan::report`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToConfirm {
    pub slot: usize,
    pub order: u64,
    pub event_hash: Hash32,
}

/// The orders a capture names: the report (in document order of events and of their business
/// transactions) and the confirmations to send, at most [`CAPTURE_ORDER_CONFIRMATIONS_MAX`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub report: Vec<OrderConfirmation>,
    pub confirm: Vec<ToConfirm>,
}

/// Whether an event's business step is CBV `receiving` (bare, URN or URI form, normalised as
/// capture does).
pub fn is_receiving(event: &EpcisEvent) -> bool {
    event
        .biz_step()
        .and_then(|s| want_epcis::normalize_biz_step(s).ok())
        .is_some_and(|s| s == RECEIVING_BIZ_STEP)
}

/// Plans the confirmations of a capture's events, given in document order with their event
/// hashes. Only `receiving` events count; an event declaring an error never confirms; an order
/// named by several events is confirmed by the first (the others are `skipped`); a malformed
/// order URN is `ignored` with a note.
pub fn plan<'a>(events: impl IntoIterator<Item = (&'a EpcisEvent, Hash32)>) -> Plan {
    let mut out = Plan::default();
    // Order → the event hash ID that names it first.
    let mut first: HashMap<u64, String> = HashMap::new();
    for (event, event_hash) in events {
        if !is_receiving(event) {
            continue;
        }
        let id = event.hash_id();
        for value in event.biz_transactions() {
            let order = match parse_order_urn(value) {
                None => continue,
                Some(Err(why)) => {
                    out.report.push(note(
                        None,
                        &id,
                        ConfirmationStatus::Ignored,
                        Some(ORDER_URN_INVALID),
                        format!("{why}; the event is anchored and confirms no order"),
                    ));
                    continue;
                }
                Some(Ok(order)) => order,
            };
            let skipped = |why: String| {
                note(Some(order), &id, ConfirmationStatus::Skipped, None, why)
            };
            if event.error_declaration().is_some() {
                out.report.push(skipped(format!(
                    "the event declares an error (errorDeclaration): it never confirms order {order}"
                )));
                continue;
            }
            if let Some(by) = first.get(&order) {
                out.report.push(skipped(format!(
                    "event {by}, the first of this capture naming order {order}, is the one that confirms it (see its entry)"
                )));
                continue;
            }
            if out.confirm.len() >= CAPTURE_ORDER_CONFIRMATIONS_MAX {
                out.report.push(skipped(format!(
                    "a capture confirms at most {CAPTURE_ORDER_CONFIRMATIONS_MAX} orders; confirm order {order} with `want order receive {order} --event {id}`"
                )));
                continue;
            }
            first.insert(order, id.clone());
            out.confirm.push(ToConfirm {
                slot: out.report.len(),
                order,
                event_hash,
            });
            out.report.push(OrderConfirmation {
                order: Some(order.to_string()),
                event: id.clone(),
                status: ConfirmationStatus::Pending,
                code: None,
                message: Some("not sent yet".into()),
                tx: None,
            });
        }
    }
    out
}

fn note(
    order: Option<u64>,
    event: &str,
    status: ConfirmationStatus,
    code: Option<&str>,
    message: String,
) -> OrderConfirmation {
    OrderConfirmation {
        order: order.map(|o| o.to_string()),
        event: event.to_string(),
        status,
        code: code.map(str::to_string),
        message: Some(message),
        tx: None,
    }
}

impl OrderConfirmation {
    /// The confirmation committed and the order completed.
    pub fn confirmed(&mut self, tx: Hash32) {
        self.status = ConfirmationStatus::Confirmed;
        self.code = None;
        self.message = None;
        self.tx = Some(tx);
    }

    /// The chain (`tx` set: its failed receipt) or the node's admission refused the
    /// confirmation.
    pub fn refused(&mut self, tx: Option<Hash32>, code: &str, why: &str) {
        let order = self.order.clone().unwrap_or_default();
        self.status = ConfirmationStatus::Refused;
        self.code = Some(code.to_string());
        self.message = Some(format!(
            "the events are anchored, but order {order} was not confirmed: {why}"
        ));
        self.tx = tx;
    }

    /// The confirmation was sent but its commit not seen.
    pub fn pending(&mut self, tx: Hash32, code: Option<&str>, why: &str) {
        self.status = ConfirmationStatus::Pending;
        self.code = code.map(str::to_string);
        self.message = Some(format!(
            "the events are anchored; the confirmation of order {} was sent but its commit was not seen: {why}",
            self.order.clone().unwrap_or_default()
        ));
        self.tx = Some(tx);
    }

    /// Not sent, for the reason given.
    pub fn skipped(&mut self, why: &str) {
        self.status = ConfirmationStatus::Skipped;
        self.code = None;
        self.message = Some(why.to_string());
        self.tx = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn capture(events: Vec<serde_json::Value>) -> Vec<EpcisEvent> {
        let doc = json!({
            "@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": "2026-12-01T10:00:00.000Z",
            "epcisBody": {"eventList": events}
        });
        want_epcis::parse_capture(&serde_json::to_vec(&doc).unwrap())
            .unwrap()
            .events
    }

    fn event(step: &str, second: u32, orders: &[&str]) -> serde_json::Value {
        let list: Vec<_> = orders
            .iter()
            .map(|o| json!({"type": "po", "bizTransaction": o}))
            .collect();
        json!({
            "type": "ObjectEvent",
            "eventTime": format!("2026-12-01T10:00:{second:02}.000Z"),
            "eventTimeZoneOffset": "+00:00",
            "epcList": ["urn:epc:id:sgtin:4012345.011111.1"],
            "action": "OBSERVE",
            "bizStep": step,
            "bizLocation": {"id": "urn:epc:id:sgln:4012345.00001.0"},
            "bizTransactionList": list
        })
    }

    fn plan_of(events: &[EpcisEvent]) -> Plan {
        plan(
            events
                .iter()
                .map(|e| (e, want_records::event_hash_of(e))),
        )
    }

    #[test]
    fn a_receiving_event_in_any_cbv_form_naming_orders_confirms_each_once() {
        let events = capture(vec![
            event("receiving", 1, &["urn:want:commerce:order:7", "urn:epcglobal:cbv:bt:0614141073467:1"]),
            event("urn:epcglobal:cbv:bizstep:receiving", 2, &["urn:want:commerce:order:8", "urn:want:commerce:order:7"]),
            event("https://ref.gs1.org/cbv/BizStep-receiving", 3, &["urn:want:commerce:order:9"]),
            event("shipping", 4, &["urn:want:commerce:order:10"]),
        ]);
        let p = plan_of(&events);
        let orders: Vec<(u64, Hash32)> = p.confirm.iter().map(|c| (c.order, c.event_hash)).collect();
        let hash = |i: usize| want_records::event_hash_of(&events[i]);
        assert_eq!(orders, vec![(7, hash(0)), (8, hash(1)), (9, hash(2))]);
        let statuses: Vec<_> = p.report.iter().map(|r| (r.order.as_deref(), r.status)).collect();
        assert_eq!(
            statuses,
            vec![
                (Some("7"), ConfirmationStatus::Pending),
                (Some("8"), ConfirmationStatus::Pending),
                (Some("7"), ConfirmationStatus::Skipped),
                (Some("9"), ConfirmationStatus::Pending),
            ]
        );
        assert!(p.report[2].message.as_deref().unwrap().contains(&events[0].hash_id()));
        for c in &p.confirm {
            assert_eq!(p.report[c.slot].order, Some(c.order.to_string()));
        }
    }

    #[test]
    fn a_malformed_order_urn_is_ignored_with_its_code_and_an_error_declaration_never_confirms() {
        let mut declared = event("receiving", 2, &["urn:want:commerce:order:5"]);
        declared["errorDeclaration"] = json!({"declarationTime": "2026-12-01T11:00:00.000Z"});
        let events = capture(vec![
            event("receiving", 1, &["urn:want:commerce:order:07", "urn:want:commerce:order:x"]),
            declared,
        ]);
        let p = plan_of(&events);
        assert!(p.confirm.is_empty(), "{p:?}");
        let statuses: Vec<_> = p.report.iter().map(|r| (r.status, r.code.as_deref())).collect();
        assert_eq!(
            statuses,
            vec![
                (ConfirmationStatus::Ignored, Some(ORDER_URN_INVALID)),
                (ConfirmationStatus::Ignored, Some(ORDER_URN_INVALID)),
                (ConfirmationStatus::Skipped, None),
            ]
        );
        assert_eq!(p.report[0].order, None);
        assert!(p.report[2].message.as_deref().unwrap().contains("errorDeclaration"));
    }

    #[test]
    fn a_report_entry_serialises_with_the_order_as_a_decimal_string() {
        let mut e = note(Some(7), "ni:///x", ConfirmationStatus::Pending, None, String::new());
        e.refused(None, "order_party_not_allowed", "not the delivery organisation");
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["order"], "7");
        assert_eq!(v["status"], "refused");
        assert_eq!(v["code"], "order_party_not_allowed");
        assert!(v["message"].as_str().unwrap().contains("anchored"), "{v}");
        assert!(v.get("tx").is_none(), "{v}");
    }
}
