//! `want trace capture` confirms the orders its `receiving` events name
//! (`urn:want:commerce:order:<id>`): once the anchors are committed, one `ConfirmByEvent` per
//! order, signed by the capturing key and waited for (the plan is the node's,
//! `want_node::modules::commerce::capture_orders`). A refused confirmation never fails the
//! capture: its events are anchored.

use serde_json::Value;
use want_node::modules::commerce::capture_orders::{OrderConfirmation, Plan};
use want_types::modules::commerce::CommerceCall;
use want_types::Call;

use crate::output::CliError;
use crate::signer::{Delivered, FileShape, Signer};

/// Sends the planned confirmations one by one and waits for each; `committed` says whether the
/// anchors were sent and committed (otherwise nothing is sent and each order says how to confirm
/// it later). Returns the plan's report with each outcome.
pub(super) fn confirm(signer: &mut Signer, committed: bool, plan: Plan) -> Vec<OrderConfirmation> {
    let Plan {
        mut report,
        confirm,
    } = plan;
    // Set once a confirmation is refused before the chain saw it: its nonce is unused, so a
    // later one would wait for it in vain.
    let mut stop: Option<String> = None;
    for c in confirm {
        let Some(r) = report.get_mut(c.slot) else {
            continue;
        };
        if !committed {
            r.skipped(&format!(
                "not sent: the anchors were not sent and waited for (--out, --offline or --no-wait); once they are committed, confirm with `want order receive {} --event {}` signed by this key",
                c.order, r.event
            ));
            continue;
        }
        if let Some(why) = &stop {
            r.skipped(why);
            continue;
        }
        let call = Call::Commerce(CommerceCall::ConfirmByEvent {
            order: c.order,
            event_hash: c.event_hash,
        });
        let stx = match signer.sign(call) {
            Ok(stx) => stx,
            Err(e) => {
                let (code, message) = code_of(&e);
                r.refused(None, &code, &message);
                stop = Some(format!("not sent: the confirmation of order {} could not be signed", c.order));
                continue;
            }
        };
        let id = stx.id();
        match signer.deliver(std::slice::from_ref(&stx), FileShape::Object) {
            Ok(Delivered::Sent {
                answers,
                waited: true,
            }) => {
                let receipt = answers.first().map(|v| &v["receipt"]).unwrap_or(&Value::Null);
                if receipt["status"] == "success" {
                    r.confirmed(id);
                } else {
                    r.refused(
                        Some(id),
                        receipt["code"].as_str().unwrap_or("tx_failed"),
                        receipt["message"].as_str().unwrap_or_default(),
                    );
                }
            }
            Ok(_) => r.pending(id, None, "sent without waiting for its commit"),
            Err(e) => {
                let (code, message) = code_of(&e);
                r.refused(None, &code, &message);
                stop = Some(format!(
                    "not sent: the confirmation of order {} was refused before the chain saw it; confirm later with `want order receive`",
                    c.order
                ));
            }
        }
    }
    report
}

/// The stable code and message of a command error.
fn code_of(e: &anyhow::Error) -> (String, String) {
    match e.downcast_ref::<CliError>() {
        Some(c) => (c.code.clone(), c.message.clone()),
        None => ("error".to_string(), e.to_string()),
    }
}

/// The human lines of a capture's `orders`: one per order, what became of it.
pub(super) fn lines(orders: &Value) -> String {
    let mut s = String::new();
    for o in orders.as_array().into_iter().flatten() {
        let order = o["order"].as_str().unwrap_or("?");
        let status = o["status"].as_str().unwrap_or_default();
        s.push_str(&format!("order {order}: {status}"));
        if let Some(tx) = o["tx"].as_str() {
            s.push_str(&format!(" (tx {tx})"));
        }
        if let Some(code) = o["code"].as_str() {
            s.push_str(&format!(" [{code}]"));
        }
        if let Some(m) = o["message"].as_str() {
            s.push_str(&format!(": {m}"));
        }
        s.push('\n');
    }
    s
}
