//! Execution of commerce calls and of the order deadlines that fall due.
//!
//! Every amount is checked (`amount_overflow`, never a wrap); WANT moves only through the token
//! module's `debit`/`credit`, between the parties and the escrow account.
//!
//! **Deadlines.** Each open state with a deadline (placed → accept by, accepted → ship by,
//! shipped → confirmation window end) has one entry on the kernel's schedule, whose id the order
//! keeps. A transition that leaves the state cancels the entry; and `on_due` also checks that
//! the order is still in the entry's state with a deadline reached, so an entry that outlived
//! its state is a no-op either way. A call at or after a deadline is refused
//! (`order_deadline_passed`): the trigger of that block ends the order.
//!
//! **Retirement.** Closing an order puts a `Retire` entry on the schedule,
//! [`want_types::modules::commerce::ORDER_RETENTION_MS`] later; it replaces the order's record
//! by a [`RetiredOrder`] (summary and final state hash).

use want_types::modules::commerce::{
    delivery_location_hash, CommerceCall, CommerceEvent, Deadline, OfferTerms, BPS_WHOLE, BUYER_WINDOW_MS_MIN,
    CID_BYTES_MAX, DISPUTE_LAPSE_MS, EPCIS_EVENT_BYTES_MAX, EVIDENCE_CIDS_MAX,
    HANDLE_BYTES_MAX, HANDLE_BYTES_MIN, ORDER_QUANTITY_MAX, PRODUCT_BYTES_MAX,
    RECEIVING_BIZ_STEP, RECEIVING_EVENT_AHEAD_MS_MAX, SELLER_WINDOW_MS_MIN, SHOP_NAME_BYTES_MAX, STOCK_MAX, TITLE_BYTES_MAX, TRACE_ORG_BYTES_MAX,
    WINDOW_MS_MAX,
};
use borsh::{BorshDeserialize, BorshSerialize};
use want_types::modules::trace::may_sign;
use want_types::{Address, Amount, Hash32, ModuleId};

use super::codes::*;
use super::fees::{bps_of, completion_fee};
use super::price;
use super::state::{
    self, escrow, fold_handle, handle_key, next_id, offer_key, order_key, purchase_key,
    retire_at, retired_key, shop_key, write, Delivery, Offer, Order, OrderStatus, OrderTerms,
    PurchaseRecord, PurchaseSource, RetiredOrder, Shop,
};
use crate::failure::{fail, overflow, ExecError};
use crate::kernel::context::BlockContext;
use crate::kernel::module::{CallCtx, HookCtx};
use crate::kernel::schedule;
use crate::modules::token::codes::INSUFFICIENT_BALANCE;
use crate::modules::trace::state as trace_state;
use crate::modules::token::exec::{credit, debit};
use crate::store::Overlay;
use crate::StateError;

/// What the rules work on: the state layer, the block and the events to emit.
struct Env<'a, 'v> {
    ov: &'a mut Overlay<'v>,
    block: &'a BlockContext,
    events: Vec<CommerceEvent>,
}

/// Runs `f` on the rules' environment over `ov` at `block` and returns the events it emitted
/// (the caller emits them on its context).
fn in_env<'v>(
    ov: &mut Overlay<'v>,
    block: &BlockContext,
    f: impl FnOnce(&mut Env<'_, 'v>) -> Result<(), ExecError>,
) -> Result<Vec<CommerceEvent>, ExecError> {
    let mut env = Env {
        ov,
        block,
        events: Vec::new(),
    };
    f(&mut env)?;
    Ok(env.events)
}

/// Applies one commerce call from `ctx.sender`.
pub(crate) fn execute(ctx: &mut CallCtx<'_, '_>, call: &CommerceCall) -> Result<(), ExecError> {
    let sender = ctx.sender;
    let events = in_env(ctx.state, ctx.block, |env| env.call(sender, call))?;
    events.into_iter().for_each(|e| ctx.emit(e));
    Ok(())
}

/// An entry of the module on the kernel's schedule (its payload, borsh).
#[derive(BorshSerialize, BorshDeserialize)]
pub(crate) enum Due {
    /// The order's deadline of that kind.
    Deadline(u64, Deadline),
    /// The final order's retention is over.
    Retire(u64),
}

impl Due {
    fn payload(&self) -> Vec<u8> {
        borsh::to_vec(self).expect("invariant: borsh encoding into a Vec cannot fail")
    }
}

/// Runs an entry that fell due (payload: borsh [`Due`]).
pub(crate) fn on_due(ctx: &mut HookCtx<'_, '_>, payload: &[u8]) -> Result<(), ExecError> {
    let due: Due = borsh::from_slice(payload)
        .map_err(|e| StateError::corrupt(payload, format!("commerce schedule entry: {e}")))?;
    let events = in_env(ctx.state, ctx.block, |env| match due {
        Due::Deadline(id, deadline) => env.due(id, deadline),
        Due::Retire(id) => env.retire(id),
    })?;
    events.into_iter().for_each(|e| ctx.emit(e));
    Ok(())
}

/// Ends a disputed order with `buyer_share` of its escrow to the buyer and the rest to the
/// seller's payout account: the one function the arbitration module calls to rule. The caller
/// decides who may rule; this checks only the order (disputed, share within its escrow).
pub fn rule(ctx: &mut CallCtx<'_, '_>, order: u64, buyer_share: Amount) -> Result<(), ExecError> {
    let events = in_env(ctx.state, ctx.block, |env| {
        let mut o = env.order(order)?;
        if o.status != OrderStatus::Disputed {
            return Err(not_allowed(&o, "be ruled on", "only a disputed order is ruled on"));
        }
        env.settle(&mut o, buyer_share, true)
    })?;
    events.into_iter().for_each(|e| ctx.emit(e));
    Ok(())
}

fn not_allowed(o: &Order, what: &str, hint: &str) -> ExecError {
    fail(
        ORDER_TRANSITION_NOT_ALLOWED,
        format!(
            "order {} is {:?}, which cannot {what}; {hint}",
            o.id, o.status
        ),
    )
}

fn check_len(field: &str, value: &str, min: usize, max: usize, code: &'static str) -> Result<(), ExecError> {
    if value.len() < min || value.len() > max {
        return Err(fail(
            code,
            format!(
                "tx.call.{field} is {} bytes; it must be {min} to {max}",
                value.len()
            ),
        ));
    }
    Ok(())
}

/// A handle is 3..=32 of `a-z`, `0-9` and `-`, not starting or ending with `-`.
fn check_handle(handle: &str) -> Result<(), ExecError> {
    let ok_chars = handle
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !(HANDLE_BYTES_MIN..=HANDLE_BYTES_MAX).contains(&handle.len())
        || !ok_chars
        || handle.starts_with('-')
        || handle.ends_with('-')
    {
        return Err(fail(
            SHOP_HANDLE_INVALID,
            format!(
                "tx.call.handle {handle:?} is not a shop handle: use {HANDLE_BYTES_MIN} to {HANDLE_BYTES_MAX} lowercase ASCII letters, digits and '-' (not first or last)"
            ),
        ));
    }
    Ok(())
}

fn check_shop_fields(
    name: &str,
    payout: &Address,
    trace_org: &Option<String>,
) -> Result<(), ExecError> {
    check_len("name", name, 1, SHOP_NAME_BYTES_MAX, SHOP_FIELD_INVALID)?;
    // Sales paid "to" the escrow would stay there, owned by no order.
    if *payout == escrow() {
        return Err(fail(
            SHOP_FIELD_INVALID,
            "tx.call.payout is the commerce escrow account; name an account of the shop's",
        ));
    }
    if let Some(org) = trace_org {
        check_len("trace_org", org, 1, TRACE_ORG_BYTES_MAX, SHOP_FIELD_INVALID)?;
    }
    Ok(())
}

fn check_terms(t: &OfferTerms, stock: u64) -> Result<(), ExecError> {
    check_len("terms.product", &t.product, 1, PRODUCT_BYTES_MAX, OFFER_INVALID)?;
    check_len("terms.title", &t.title, 1, TITLE_BYTES_MAX, OFFER_INVALID)?;
    check_len("terms.terms_cid", &t.terms_cid, 1, CID_BYTES_MAX, OFFER_INVALID)?;
    if t.price == 0 {
        return Err(fail(
            OFFER_INVALID,
            "tx.call.terms.price is 0; an offer's price is at least 1 base unit",
        ));
    }
    for (field, ms, min) in [
        ("accept_within_ms", t.accept_within_ms, SELLER_WINDOW_MS_MIN),
        ("ship_within_ms", t.ship_within_ms, SELLER_WINDOW_MS_MIN),
        ("confirm_window_ms", t.confirm_window_ms, BUYER_WINDOW_MS_MIN),
        ("dispute_window_ms", t.dispute_window_ms, BUYER_WINDOW_MS_MIN),
    ] {
        if ms < min || ms > WINDOW_MS_MAX {
            return Err(fail(
                OFFER_INVALID,
                format!("tx.call.terms.{field} is {ms}; it must be {min} to {WINDOW_MS_MAX} ms"),
            ));
        }
    }
    if t.no_ship_deposit_share_bps > BPS_WHOLE {
        return Err(fail(
            OFFER_INVALID,
            format!(
                "tx.call.terms.no_ship_deposit_share_bps is {}; it must be 0 to {BPS_WHOLE}",
                t.no_ship_deposit_share_bps
            ),
        ));
    }
    price::check_offer_currency(&t.currency)?;
    if stock > STOCK_MAX {
        return Err(fail(
            OFFER_INVALID,
            format!("tx.call.stock is {stock}; an offer holds at most {STOCK_MAX} items"),
        ));
    }
    // The amounts of the largest order must fit, so placement and acceptance cannot overflow.
    let q = Amount::from(ORDER_QUANTITY_MAX);
    if t.price.checked_mul(q).is_none() || t.deposit_per_order.checked_mul(q).is_none() {
        return Err(fail(
            OFFER_INVALID,
            format!("tx.call.terms.price or deposit_per_order times {ORDER_QUANTITY_MAX} items exceeds 128 bits; lower it"),
        ));
    }
    Ok(())
}

fn due_at(now: u64, window: u64) -> Result<u64, ExecError> {
    now.checked_add(window)
        .ok_or_else(|| overflow("a deadline"))
}

impl Env<'_, '_> {
    fn now(&self) -> u64 {
        self.block.timestamp_ms
    }

    fn call(&mut self, sender: Address, call: &CommerceCall) -> Result<(), ExecError> {
        match call {
            CommerceCall::OpenShop {
                handle,
                name,
                payout,
                trace_org,
            } => self.open_shop(sender, handle, name, *payout, trace_org),
            CommerceCall::EditShop {
                handle,
                name,
                payout,
                trace_org,
            } => {
                let mut shop = self.own_open_shop(sender, handle)?;
                check_shop_fields(name, payout, trace_org)?;
                if *trace_org != shop.trace_org {
                    self.check_trace_org(sender, trace_org)?;
                }
                shop.name = name.clone();
                shop.payout = *payout;
                shop.trace_org = trace_org.clone();
                write(self.ov, shop_key(handle), &shop);
                self.events.push(CommerceEvent::ShopEdited {
                    handle: handle.clone(),
                });
                Ok(())
            }
            CommerceCall::CloseShop { handle } => {
                let mut shop = self.own_open_shop(sender, handle)?;
                shop.closed = true;
                write(self.ov, shop_key(handle), &shop);
                self.events.push(CommerceEvent::ShopClosed {
                    handle: handle.clone(),
                });
                Ok(())
            }
            CommerceCall::AddOffer { shop, terms, stock } => {
                self.own_open_shop(sender, shop)?;
                check_terms(terms, *stock)?;
                let id = next_id(self.ov, state::OFFER_SEQ_KEY)?;
                let offer = Offer {
                    id,
                    shop: shop.clone(),
                    version: 1,
                    terms_hash: terms.hash(),
                    terms: terms.clone(),
                    stock: *stock,
                    updated_ms: self.now(),
                };
                write(self.ov, offer_key(id), &offer);
                self.ov.put(
                    [state::shop_offers_prefix(shop), id.to_be_bytes().to_vec()].concat(),
                    Vec::new(),
                );
                self.events.push(CommerceEvent::OfferAdded {
                    offer: id,
                    shop: shop.clone(),
                });
                Ok(())
            }
            CommerceCall::UpdateOffer {
                offer,
                terms,
                stock,
            } => {
                let mut o = self.offer(*offer)?;
                self.own_open_shop(sender, &o.shop)?;
                check_terms(terms, *stock)?;
                if *terms != o.terms {
                    o.version = o
                        .version
                        .checked_add(1)
                        .ok_or_else(|| overflow("the offer version"))?;
                    o.terms = terms.clone();
                    o.terms_hash = terms.hash();
                }
                o.stock = *stock;
                o.updated_ms = self.now();
                write(self.ov, offer_key(o.id), &o);
                self.events.push(CommerceEvent::OfferUpdated {
                    offer: o.id,
                    version: o.version,
                    stock: o.stock,
                });
                Ok(())
            }
            CommerceCall::PlaceOrder {
                offer,
                version,
                terms_hash,
                quantity,
                max_total,
            } => self.place(sender, *offer, *version, terms_hash, *quantity, *max_total),
            CommerceCall::AcceptOrder { order, max_deposit } => {
                self.accept(sender, *order, *max_deposit)
            }
            CommerceCall::DeclineOrder { order } => self.decline(sender, *order),
            CommerceCall::ShipOrder { order, epcis_event } => {
                self.ship(sender, *order, epcis_event)
            }
            CommerceCall::ConfirmDelivery { order } => {
                let mut o = self.order(*order)?;
                if sender != o.buyer {
                    return Err(fail(
                        ORDER_NOT_BUYER,
                        format!(
                            "{sender} is not the buyer of order {}; only {} may confirm its delivery",
                            o.id, o.buyer
                        ),
                    ));
                }
                if o.status != OrderStatus::Shipped {
                    return Err(not_allowed(
                        &o,
                        "be confirmed",
                        "delivery is confirmed once the order is shipped",
                    ));
                }
                self.complete(&mut o)
            }
            CommerceCall::RefundPart { order, amount } => self.refund_part(sender, *order, *amount),
            CommerceCall::ProposeCancel { order } => {
                let mut o = self.order(*order)?;
                self.party(&o, sender, "propose its cancellation")?;
                self.cancellable(&o)?;
                o.cancel_proposed_by = Some(sender);
                write(self.ov, order_key(o.id), &o);
                self.events.push(CommerceEvent::OrderCancelProposed {
                    order: o.id,
                    by: sender,
                });
                Ok(())
            }
            CommerceCall::AgreeCancel { order } => self.agree_cancel(sender, *order),
            CommerceCall::OpenDispute { order, evidence } => {
                self.open_dispute(sender, *order, evidence)
            }
            CommerceCall::ProposeSettlement { order, buyer_share } => {
                let mut o = self.order(*order)?;
                self.party(&o, sender, "propose a settlement")?;
                if o.status != OrderStatus::Disputed {
                    return Err(not_allowed(
                        &o,
                        "be settled",
                        "only a disputed order is settled",
                    ));
                }
                // At its lapse the standing proposals decide; none may change them then.
                self.before_deadline(&o, "take a settlement proposal")?;
                let escrowed = o.escrowed()?;
                if *buyer_share > escrowed {
                    return Err(fail(
                        ORDER_SHARE_ABOVE_ESCROW,
                        format!(
                            "tx.call.buyer_share is {buyer_share}; order {} holds {escrowed} base units in escrow",
                            o.id
                        ),
                    ));
                }
                o.settlement = Some((sender, *buyer_share));
                if sender == o.buyer {
                    o.buyer_proposal = Some(*buyer_share);
                } else {
                    o.seller_proposal = Some(*buyer_share);
                }
                write(self.ov, order_key(o.id), &o);
                self.events.push(CommerceEvent::OrderSettlementProposed {
                    order: o.id,
                    by: sender,
                    buyer_share: *buyer_share,
                });
                Ok(())
            }
            CommerceCall::AcceptSettlement { order, buyer_share } => {
                let mut o = self.order(*order)?;
                self.party(&o, sender, "accept a settlement")?;
                if o.status != OrderStatus::Disputed {
                    return Err(not_allowed(
                        &o,
                        "be settled",
                        "only a disputed order is settled",
                    ));
                }
                self.before_deadline(&o, "be settled")?;
                let Some((proposer, share)) = o.settlement else {
                    return Err(fail(
                        ORDER_SETTLEMENT_NOT_PROPOSED,
                        format!(
                            "order {} has no settlement proposal; propose one with propose_settlement",
                            o.id
                        ),
                    ));
                };
                if proposer == sender {
                    return Err(fail(
                        ORDER_PARTY_NOT_ALLOWED,
                        format!(
                            "{sender} proposed the settlement of order {}; the other party must accept it",
                            o.id
                        ),
                    ));
                }
                if share != *buyer_share {
                    return Err(fail(
                        ORDER_SETTLEMENT_MISMATCH,
                        format!(
                            "tx.call.buyer_share is {buyer_share}; the proposal of order {} gives the buyer {share}: accept that split or propose another",
                            o.id
                        ),
                    ));
                }
                self.settle(&mut o, share, false)
            }
            CommerceCall::RunDeadline { order } => self.run_deadline(*order),
            CommerceCall::SetDelivery {
                order,
                org,
                location_hash,
            } => self.set_delivery(sender, *order, org, *location_hash),
            CommerceCall::ConfirmByEvent { order, event_hash } => {
                self.confirm_by_event(sender, *order, event_hash)
            }
            CommerceCall::AddTillKey { .. }
            | CommerceCall::RemoveTillKey { .. }
            | CommerceCall::PayRequest { .. } => {
                super::till::execute(self.ov, self.block, &mut self.events, sender, call)
            }
            CommerceCall::AddReview { .. }
            | CommerceCall::EditReview { .. }
            | CommerceCall::ReplyReview { .. }
            | CommerceCall::LikeReview { .. }
            | CommerceCall::ShareReview { .. } => {
                let now = self.now();
                self.events
                    .extend(super::review::execute(self.ov, now, sender, call)?);
                Ok(())
            }
            CommerceCall::RegisterReporter { reporter } => {
                let e = price::register(self.ov, &sender, reporter)?;
                self.events.push(e);
                Ok(())
            }
            CommerceCall::RemoveReporter { reporter } => {
                let e = price::remove(self.ov, &sender, reporter)?;
                self.events.push(e);
                Ok(())
            }
            CommerceCall::PostPrices { rates } => {
                let e = price::post(self.ov, &sender, rates, self.now())?;
                self.events.push(e);
                Ok(())
            }
        }
    }

    /// The buyer names the organisation that receives the goods, and the location's hash.
    fn set_delivery(
        &mut self,
        sender: Address,
        id: u64,
        org: &str,
        location_hash: Hash32,
    ) -> Result<(), ExecError> {
        let mut o = self.order(id)?;
        if sender != o.buyer {
            return Err(fail(
                ORDER_NOT_BUYER,
                format!("{sender} is not the buyer of order {id}; only {} names its delivery", o.buyer),
            ));
        }
        if !matches!(
            o.status,
            OrderStatus::Placed | OrderStatus::Accepted | OrderStatus::Shipped
        ) {
            return Err(not_allowed(
                &o,
                "take a delivery place",
                "a delivery place is named before the order completes",
            ));
        }
        check_len("org", org, 1, TRACE_ORG_BYTES_MAX, ORDER_DELIVERY_INVALID)?;
        if trace_state::org(self.ov, org)?.is_none() {
            return Err(fail(
                ORDER_DELIVERY_INVALID,
                format!("tx.call.org {org:?} is not a registered trace organisation; name the organisation that receives the goods"),
            ));
        }
        o.delivery = Some(Delivery {
            org: org.to_string(),
            location_hash,
        });
        write(self.ov, order_key(id), &o);
        self.events.push(CommerceEvent::OrderDeliverySet {
            order: id,
            org: org.to_string(),
        });
        Ok(())
    }

    /// A key of the delivery organisation confirms delivery by its `receiving` record.
    fn confirm_by_event(
        &mut self,
        sender: Address,
        id: u64,
        event_hash: &Hash32,
    ) -> Result<(), ExecError> {
        let mut o = self.order(id)?;
        let Some(delivery) = o.delivery.clone() else {
            return Err(fail(
                ORDER_DELIVERY_INVALID,
                format!("order {id} has no delivery place; its buyer names one with set_delivery"),
            ));
        };
        let key = trace_state::key(self.ov, &sender)?;
        let allowed = key.as_ref().is_some_and(|k| {
            k.org == delivery.org && k.active() && may_sign(&k.roles, Some(RECEIVING_BIZ_STEP))
        });
        if !allowed {
            return Err(fail(
                ORDER_PARTY_NOT_ALLOWED,
                format!(
                    "{sender} is not an active key of {:?} with a role that may sign {RECEIVING_BIZ_STEP}; only such a key confirms order {id}'s delivery",
                    delivery.org
                ),
            ));
        }
        if o.status != OrderStatus::Shipped {
            return Err(not_allowed(
                &o,
                "be received",
                "a receiving event confirms a shipped order",
            ));
        }
        let bad = |why: String| {
            fail(
                ORDER_DELIVERY_INVALID,
                format!("event {} cannot confirm order {id}: {why}", event_hash.to_hex()),
            )
        };
        let Some(record_id) = trace_state::record_id_of(self.ov, &delivery.org, event_hash)? else {
            return Err(bad(format!("{:?} anchored no record of it; capture it first", delivery.org)));
        };
        let rec = trace_state::record_header(self.ov, &record_id)?.ok_or_else(|| {
            StateError::corrupt(&trace_state::record_key(&record_id), "an indexed record is missing")
        })?;
        if rec.public.biz_step.as_deref() != Some(RECEIVING_BIZ_STEP) {
            return Err(bad(format!(
                "its bizStep is {:?}, not {RECEIVING_BIZ_STEP}",
                rec.public.biz_step
            )));
        }
        let at_place = rec
            .public
            .location
            .as_deref()
            .is_some_and(|l| delivery_location_hash(l) == delivery.location_hash);
        if !at_place {
            return Err(bad("it does not publish the delivery location the buyer named".into()));
        }
        let shipped = o.shipped_ms.unwrap_or(o.placed_ms);
        let latest = self.now().saturating_add(RECEIVING_EVENT_AHEAD_MS_MAX);
        match rec.public.event_time_ms {
            Some(t) if u64::try_from(t).is_ok_and(|t| (shipped..=latest).contains(&t)) => {}
            t => {
                return Err(bad(format!(
                    "its published event time {t:?} is not between the shipment ({shipped} ms) and the block time plus {RECEIVING_EVENT_AHEAD_MS_MAX} ms ({latest} ms); publish its time"
                )))
            }
        }
        if trace_state::error_declaration(self.ov, &record_id)?.is_some() {
            return Err(bad("its organisation declared it erroneous".into()));
        }
        self.events.push(CommerceEvent::OrderReceived {
            order: id,
            org: delivery.org,
            event_hash: *event_hash,
        });
        self.complete(&mut o)
    }

    /// Runs the order's passed deadline now, as its trigger would (anyone may ask).
    fn run_deadline(&mut self, id: u64) -> Result<(), ExecError> {
        let o = self.order(id)?;
        let deadline = match o.status {
            OrderStatus::Placed => Deadline::Accept,
            OrderStatus::Accepted => Deadline::Ship,
            OrderStatus::Shipped => Deadline::Confirm,
            OrderStatus::Disputed => Deadline::Dispute,
            _ => return Err(not_allowed(&o, "run a deadline", "a final order has none")),
        };
        match o.deadline_ms {
            Some(d) if d <= self.now() => {}
            d => {
                return Err(fail(
                    ORDER_DEADLINE_NOT_REACHED,
                    format!(
                        "order {id}'s {deadline:?} deadline is {}; it is {} ms: wait for it",
                        d.map_or("not set".to_string(), |d| format!("at {d} ms")),
                        self.now()
                    ),
                ))
            }
        }
        // The trigger must not run again once the order moved on.
        if let Some(t) = o.trigger {
            schedule::cancel(self.ov, t);
        }
        self.due(id, deadline)
    }

    fn open_shop(
        &mut self,
        sender: Address,
        handle: &str,
        name: &str,
        payout: Address,
        trace_org: &Option<String>,
    ) -> Result<(), ExecError> {
        check_handle(handle)?;
        check_shop_fields(name, &payout, trace_org)?;
        self.check_trace_org(sender, trace_org)?;
        if let Some(holder) = state::handle_holder(self.ov, handle)? {
            return Err(fail(
                SHOP_HANDLE_TAKEN,
                format!(
                    "tx.call.handle {handle:?} is taken or looks like the shop {holder:?}; choose another handle"
                ),
            ));
        }
        self.ov
            .put(handle_key(&fold_handle(handle)), handle.as_bytes().to_vec());
        let shop = Shop {
            handle: handle.to_string(),
            name: name.to_string(),
            owner: sender,
            payout,
            trace_org: trace_org.clone(),
            closed: false,
            opened_ms: self.now(),
        };
        write(self.ov, shop_key(handle), &shop);
        self.events.push(CommerceEvent::ShopOpened {
            handle: handle.to_string(),
            owner: sender,
        });
        Ok(())
    }

    /// A shop's link to a trace organisation is a claim about who it is: the signer must hold an
    /// active key of that organisation (checked when the link is made or changed; a key revoked
    /// later leaves the link).
    fn check_trace_org(&self, sender: Address, trace_org: &Option<String>) -> Result<(), ExecError> {
        let Some(org) = trace_org else {
            return Ok(());
        };
        let key = trace_state::key(self.ov, &sender)?;
        if key.is_some_and(|k| k.org == *org && k.active()) {
            return Ok(());
        }
        let why = if trace_state::org(self.ov, org)?.is_none() {
            format!("no trace organisation is registered as {org:?}")
        } else {
            format!("{sender} holds no active key of the trace organisation {org:?}")
        };
        Err(fail(
            SHOP_TRACE_ORG_NOT_SIGNERS,
            format!("tx.call.trace_org: {why}; sign with a key of that organisation, or leave trace_org out"),
        ))
    }

    /// The open shop `handle`, which `sender` must own.
    fn own_open_shop(&self, sender: Address, handle: &str) -> Result<Shop, ExecError> {
        let Some(shop) = state::shop(self.ov, handle)? else {
            return Err(fail(
                SHOP_UNKNOWN,
                format!("no shop has the handle {handle:?}; check the handle"),
            ));
        };
        if shop.owner != sender {
            return Err(fail(
                SHOP_OWNER_ONLY,
                format!(
                    "{sender} does not own the shop {handle:?}; sign with its owner {}",
                    shop.owner
                ),
            ));
        }
        if shop.closed {
            return Err(fail(
                SHOP_CLOSED,
                format!("the shop {handle:?} is closed"),
            ));
        }
        Ok(shop)
    }

    fn offer(&self, id: u64) -> Result<Offer, ExecError> {
        state::offer(self.ov, id)?.ok_or_else(|| {
            fail(
                OFFER_UNKNOWN,
                format!("no offer has the id {id}; check tx.call.offer"),
            )
        })
    }

    fn order(&self, id: u64) -> Result<Order, ExecError> {
        if let Some(o) = state::order(self.ov, id)? {
            return Ok(o);
        }
        if let Some(r) = state::retired_order(self.ov, id)? {
            return Err(fail(
                ORDER_TRANSITION_NOT_ALLOWED,
                format!(
                    "order {id} ended {:?} and was retired at {} ms; nothing more happens to it",
                    r.status, r.retired_ms
                ),
            ));
        }
        Err(fail(
            ORDER_UNKNOWN,
            format!("no order has the id {id}; check tx.call.order"),
        ))
    }

    /// `sender` must be the seller of `o`.
    fn seller(&self, o: &Order, sender: Address, what: &str) -> Result<(), ExecError> {
        if sender != o.seller {
            return Err(fail(
                ORDER_PARTY_NOT_ALLOWED,
                format!(
                    "{sender} is not the seller of order {}; only {} may {what}",
                    o.id, o.seller
                ),
            ));
        }
        Ok(())
    }

    /// `sender` must be the buyer or the seller of `o`.
    fn party(&self, o: &Order, sender: Address, what: &str) -> Result<(), ExecError> {
        if !o.is_party(&sender) {
            return Err(fail(
                ORDER_PARTY_NOT_ALLOWED,
                format!(
                    "{sender} is neither buyer nor seller of order {}; only they may {what}",
                    o.id
                ),
            ));
        }
        Ok(())
    }

    /// The order's current deadline must not have been reached.
    fn before_deadline(&self, o: &Order, step: &str) -> Result<(), ExecError> {
        if let Some(d) = o.deadline_ms {
            if self.now() >= d {
                return Err(fail(
                    ORDER_DEADLINE_PASSED,
                    format!(
                        "order {} had to {step} before {d} ms; it is {} ms and the order's deadline trigger ends it (anyone may run it now with run_deadline)",
                        o.id,
                        self.now()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Moves `amount` out of escrow to `to`.
    fn release(&mut self, to: &Address, amount: Amount) -> Result<(), ExecError> {
        if amount == 0 {
            return Ok(());
        }
        debit(self.ov, &escrow(), amount, ESCROW_SHORT)?;
        credit(self.ov, to, amount)
    }

    /// Moves `amount` from `from` into escrow.
    fn lock(&mut self, from: &Address, amount: Amount) -> Result<(), ExecError> {
        if amount == 0 {
            return Ok(());
        }
        debit(self.ov, from, amount, INSUFFICIENT_BALANCE)?;
        credit(self.ov, &escrow(), amount)
    }

    /// Puts the order's `deadline` (its window from now) on the schedule, replacing any earlier.
    fn arm(&mut self, o: &mut Order, deadline: Deadline) -> Result<(), ExecError> {
        self.disarm(o);
        let window = match deadline {
            Deadline::Accept => o.terms.accept_within_ms,
            Deadline::Ship => o.terms.ship_within_ms,
            Deadline::Confirm => o.terms.confirm_window_ms,
            Deadline::Dispute => DISPUTE_LAPSE_MS,
        };
        let due = due_at(self.now(), window)?;
        let payload = Due::Deadline(o.id, deadline).payload();
        o.trigger = Some(schedule::schedule(self.ov, ModuleId::Commerce, due, payload)?);
        o.deadline_ms = Some(due);
        Ok(())
    }

    /// Cancels the order's pending deadline, if any.
    fn disarm(&mut self, o: &mut Order) {
        if let Some(id) = o.trigger.take() {
            schedule::cancel(self.ov, id);
        }
        o.deadline_ms = None;
    }

    /// Puts back the items of an order that never shipped.
    fn restock(&mut self, o: &Order) -> Result<(), ExecError> {
        if o.shipped_ms.is_some() {
            return Ok(());
        }
        if let Some(mut offer) = state::offer(self.ov, o.offer)? {
            offer.stock = offer.stock.saturating_add(u64::from(o.quantity));
            write(self.ov, offer_key(offer.id), &offer);
        }
        Ok(())
    }

    /// Marks the order final, stores it, and schedules its retirement.
    fn close(&mut self, o: &mut Order, status: OrderStatus) -> Result<(), ExecError> {
        self.disarm(o);
        o.status = status;
        o.closed_ms = Some(self.now());
        o.cancel_proposed_by = None;
        o.settlement = None;
        write(self.ov, order_key(o.id), o);
        let at = retire_at(self.now());
        schedule::schedule(self.ov, ModuleId::Commerce, at, Due::Retire(o.id).payload())?;
        Ok(())
    }

    /// The final order's retention is over: its record gives way to a summary and the hash of
    /// its final state.
    fn retire(&mut self, id: u64) -> Result<(), ExecError> {
        let Some(o) = state::order(self.ov, id)? else {
            return Ok(()); // retired already
        };
        if !o.status.is_final() {
            return Err(StateError::corrupt(
                &order_key(id),
                "a retirement fell due for an order that is not final",
            )
            .into());
        }
        let retired = RetiredOrder::of(&o, self.now());
        self.ov.delete(order_key(id));
        state::unindex_order(self.ov, &o);
        write(self.ov, retired_key(id), &retired);
        self.events.push(CommerceEvent::OrderRetired {
            order: id,
            final_state_hash: retired.final_state_hash,
        });
        Ok(())
    }

    fn place(
        &mut self,
        buyer: Address,
        offer_id: u64,
        version: u32,
        terms_hash: &Hash32,
        quantity: u32,
        max_total: Amount,
    ) -> Result<(), ExecError> {
        let mut offer = self.offer(offer_id)?;
        let shop = state::shop(self.ov, &offer.shop)?.ok_or_else(|| {
            StateError::corrupt(&offer_key(offer_id), "offer of a shop that does not exist")
        })?;
        if shop.closed {
            return Err(fail(
                OFFER_CLOSED,
                format!("offer {offer_id} belongs to the closed shop {:?}", shop.handle),
            ));
        }
        if version != offer.version {
            return Err(fail(
                OFFER_VERSION_STALE,
                format!(
                    "tx.call.version is {version}; offer {offer_id} is at version {}: read its terms again and order that version",
                    offer.version
                ),
            ));
        }
        if *terms_hash != offer.terms_hash {
            return Err(fail(
                OFFER_TERMS_MISMATCH,
                format!(
                    "tx.call.terms_hash {} is not the hash of version {version} of offer {offer_id} ({}); read the offer again",
                    terms_hash.to_hex(),
                    offer.terms_hash.to_hex()
                ),
            ));
        }
        if quantity == 0 || quantity > ORDER_QUANTITY_MAX {
            return Err(fail(
                ORDER_QUANTITY_INVALID,
                format!("tx.call.quantity is {quantity}; order 1 to {ORDER_QUANTITY_MAX} items"),
            ));
        }
        if u64::from(quantity) > offer.stock {
            return Err(fail(
                OFFER_SOLD_OUT,
                format!(
                    "offer {offer_id} has {} items in stock; tx.call.quantity is {quantity}",
                    offer.stock
                ),
            ));
        }
        if buyer == shop.owner {
            return Err(fail(
                ORDER_PARTY_NOT_ALLOWED,
                format!(
                    "{buyer} owns the shop {:?} and cannot buy from it",
                    shop.handle
                ),
            ));
        }
        let price_total = offer
            .terms
            .price
            .checked_mul(Amount::from(quantity))
            .ok_or_else(|| overflow("price times quantity"))?;
        let deposit_total = offer
            .terms
            .deposit_per_order
            .checked_mul(Amount::from(quantity))
            .ok_or_else(|| overflow("deposit times quantity"))?;
        // An offer in another currency converts both at the current median rate (rounded up).
        let (total, deposit_due, rate) = price::convert(
            self.ov,
            &offer.terms.currency,
            price_total,
            deposit_total,
            self.now(),
        )?;
        if total > max_total {
            return Err(fail(
                ORDER_TOTAL_ABOVE_MAX,
                format!(
                    "{quantity} items of offer {offer_id} cost {total} base units{}; tx.call.max_total is {max_total}: raise it or order fewer",
                    rate.map(|r| format!(" ({} {} at {r} base units per unit)", want_types::amount::format_want(price_total), offer.terms.currency)).unwrap_or_default()
                ),
            ));
        }
        self.lock(&buyer, total)?;
        offer.stock -= u64::from(quantity); // checked above: quantity <= stock
        write(self.ov, offer_key(offer_id), &offer);
        let id = next_id(self.ov, state::ORDER_SEQ_KEY)?;
        let mut o = Order {
            id,
            offer: offer_id,
            version,
            shop: shop.handle.clone(),
            terms: OrderTerms::of(&offer.terms),
            terms_hash: offer.terms_hash,
            buyer,
            seller: shop.owner,
            payout: shop.payout,
            quantity,
            paid: total,
            refunded: 0,
            deposit: 0,
            status: OrderStatus::Placed,
            placed_ms: self.now(),
            accepted_ms: None,
            shipped_ms: None,
            closed_ms: None,
            deadline_ms: None,
            trigger: None,
            epcis_event: None,
            cancel_proposed_by: None,
            disputed_by: None,
            evidence: Vec::new(),
            settlement: None,
            buyer_proposal: None,
            seller_proposal: None,
            delivery: None,
            currency: offer.terms.currency.clone(),
            rate,
            deposit_due,
        };
        self.arm(&mut o, Deadline::Accept)?;
        write(self.ov, order_key(id), &o);
        state::index_order(self.ov, &o);
        // The version's whole terms, once, at its first order: a version nobody ordered leaves
        // nothing behind.
        state::keep_offer_terms(self.ov, offer_id, version, &offer.terms)?;
        self.events.push(CommerceEvent::OrderPlaced {
            order: id,
            offer: offer_id,
            version,
            buyer,
            quantity,
            total,
        });
        Ok(())
    }

    fn accept(&mut self, sender: Address, id: u64, max_deposit: Amount) -> Result<(), ExecError> {
        let mut o = self.order(id)?;
        self.seller(&o, sender, "accept it")?;
        match o.status {
            OrderStatus::Placed => {}
            OrderStatus::Accepted => {
                return Err(fail(
                    ORDER_ALREADY_ACCEPTED,
                    format!("order {id} was already accepted; ship it next"),
                ))
            }
            _ => return Err(not_allowed(&o, "be accepted", "only a placed order is accepted")),
        }
        self.before_deadline(&o, "be accepted")?;
        // Set at placement (converted then for an offer in another currency).
        let deposit = o.deposit_due;
        if deposit > max_deposit {
            return Err(fail(
                ORDER_DEPOSIT_ABOVE_MAX,
                format!(
                    "order {id} needs a deposit of {deposit} base units; tx.call.max_deposit is {max_deposit}: raise it"
                ),
            ));
        }
        self.lock(&sender, deposit)?;
        o.deposit = deposit;
        o.status = OrderStatus::Accepted;
        // A cancellation proposed before lapses: the other party may not agree to it once the
        // order moved on (after shipping, a buyer would get the payment back and keep the goods).
        o.cancel_proposed_by = None;
        o.accepted_ms = Some(self.now());
        self.arm(&mut o, Deadline::Ship)?;
        write(self.ov, order_key(id), &o);
        self.events.push(CommerceEvent::OrderAccepted { order: id, deposit });
        Ok(())
    }

    fn decline(&mut self, sender: Address, id: u64) -> Result<(), ExecError> {
        let mut o = self.order(id)?;
        self.seller(&o, sender, "decline it")?;
        if o.status != OrderStatus::Placed {
            return Err(not_allowed(
                &o,
                "be declined",
                "only a placed order is declined; propose a cancellation instead",
            ));
        }
        self.release(&o.buyer, o.net_paid())?;
        self.restock(&o)?;
        self.close(&mut o, OrderStatus::Declined)?;
        self.events.push(CommerceEvent::OrderDeclined { order: id });
        Ok(())
    }

    fn ship(&mut self, sender: Address, id: u64, epcis: &Option<String>) -> Result<(), ExecError> {
        let mut o = self.order(id)?;
        self.seller(&o, sender, "ship it")?;
        match o.status {
            OrderStatus::Accepted => {}
            OrderStatus::Placed => {
                return Err(fail(
                    ORDER_NOT_ACCEPTED,
                    format!("order {id} is not accepted yet; accept it before shipping"),
                ))
            }
            _ => return Err(not_allowed(&o, "be shipped", "only an accepted order ships")),
        }
        if let Some(e) = epcis {
            check_len("epcis_event", e, 1, EPCIS_EVENT_BYTES_MAX, ORDER_EVIDENCE_INVALID)?;
        }
        self.before_deadline(&o, "be shipped")?;
        o.status = OrderStatus::Shipped;
        o.cancel_proposed_by = None;
        o.shipped_ms = Some(self.now());
        o.epcis_event = epcis.clone();
        self.arm(&mut o, Deadline::Confirm)?;
        write(self.ov, order_key(id), &o);
        self.events.push(CommerceEvent::OrderShipped {
            order: id,
            epcis_event: epcis.clone(),
        });
        Ok(())
    }

    fn refund_part(&mut self, sender: Address, id: u64, amount: Amount) -> Result<(), ExecError> {
        let mut o = self.order(id)?;
        self.seller(&o, sender, "refund it")?;
        if !matches!(
            o.status,
            OrderStatus::Placed | OrderStatus::Accepted | OrderStatus::Shipped
        ) {
            return Err(not_allowed(
                &o,
                "be refunded",
                "refunds are made before completion or dispute",
            ));
        }
        let left = o.net_paid();
        if amount == 0 || amount > left {
            return Err(fail(
                ORDER_REFUND_ABOVE_PAID,
                format!(
                    "tx.call.amount is {amount}; order {id} can refund 1 to {left} base units (paid {} less refunds {})",
                    o.paid, o.refunded
                ),
            ));
        }
        self.release(&o.buyer, amount)?;
        o.refunded = o
            .refunded
            .checked_add(amount)
            .ok_or_else(|| overflow("refunds"))?;
        write(self.ov, order_key(id), &o);
        self.events.push(CommerceEvent::OrderPartRefunded { order: id, amount });
        Ok(())
    }

    fn cancellable(&self, o: &Order) -> Result<(), ExecError> {
        if !matches!(
            o.status,
            OrderStatus::Placed | OrderStatus::Accepted | OrderStatus::Shipped
        ) {
            return Err(not_allowed(
                o,
                "be cancelled",
                "a disputed order ends by settlement; a final one stays as it is",
            ));
        }
        // At the deadline its trigger decides (a missed ship deadline costs the seller its
        // deposit's share; a cancellation agreed then would spare it).
        self.before_deadline(o, "be cancelled")?;
        Ok(())
    }

    fn agree_cancel(&mut self, sender: Address, id: u64) -> Result<(), ExecError> {
        let mut o = self.order(id)?;
        self.party(&o, sender, "agree to its cancellation")?;
        self.cancellable(&o)?;
        let Some(proposer) = o.cancel_proposed_by else {
            return Err(fail(
                ORDER_CANCEL_NOT_PROPOSED,
                format!("order {id} has no cancellation proposal; propose one with propose_cancel"),
            ));
        };
        if proposer == sender {
            return Err(fail(
                ORDER_PARTY_NOT_ALLOWED,
                format!("{sender} proposed the cancellation of order {id}; the other party must agree"),
            ));
        }
        self.release(&o.buyer, o.net_paid())?;
        self.release(&o.seller, o.deposit)?;
        self.restock(&o)?;
        self.close(&mut o, OrderStatus::Cancelled)?;
        self.events.push(CommerceEvent::OrderCancelled { order: id });
        Ok(())
    }

    fn open_dispute(&mut self, sender: Address, id: u64, evidence: &[String]) -> Result<(), ExecError> {
        let mut o = self.order(id)?;
        self.party(&o, sender, "dispute it")?;
        if o.status != OrderStatus::Shipped {
            return Err(not_allowed(
                &o,
                "be disputed",
                "a dispute is opened on a shipped order while its escrow is held",
            ));
        }
        let shipped = o.shipped_ms.unwrap_or(o.placed_ms);
        let window = o.terms.dispute_window_ms.min(o.terms.confirm_window_ms);
        let closes = due_at(shipped, window)?;
        if self.now() >= closes {
            return Err(fail(
                ORDER_DISPUTE_WINDOW_CLOSED,
                format!(
                    "order {id} could be disputed until {closes} ms (shipping plus its dispute and confirmation windows); it is {} ms",
                    self.now()
                ),
            ));
        }
        if evidence.is_empty() || evidence.len() > EVIDENCE_CIDS_MAX {
            return Err(fail(
                ORDER_EVIDENCE_INVALID,
                format!(
                    "tx.call.evidence has {} CIDs; give 1 to {EVIDENCE_CIDS_MAX}",
                    evidence.len()
                ),
            ));
        }
        for cid in evidence {
            check_len("evidence[]", cid, 1, CID_BYTES_MAX, ORDER_EVIDENCE_INVALID)?;
        }
        o.status = OrderStatus::Disputed;
        o.disputed_by = Some(sender);
        o.evidence = evidence.to_vec();
        o.cancel_proposed_by = None;
        // The confirmation trigger gives way to the dispute's lapse.
        self.arm(&mut o, Deadline::Dispute)?;
        write(self.ov, order_key(id), &o);
        self.events.push(CommerceEvent::OrderDisputed { order: id, by: sender });
        Ok(())
    }

    /// Completion: the payout account gets the net payment less the fee, the pool the fee, the
    /// seller its deposit; a purchase record is written (if anything was paid net of refunds).
    fn complete(&mut self, o: &mut Order) -> Result<(), ExecError> {
        let net = o.net_paid();
        let fee = completion_fee(net);
        let seller_amount = net - fee; // fee <= net: 1 % rounded up of a whole number
        let pool = self.block.params.incentive_pool;
        self.release(&o.payout, seller_amount)?;
        self.release(&pool, fee)?;
        self.release(&o.seller, o.deposit)?;
        self.close(o, OrderStatus::Completed)?;
        // An order refunded in full bought nothing: no purchase record (reviews, credit and
        // mining count purchases, which would otherwise cost only transaction fees).
        self.record_purchase(o, net);
        self.events.push(CommerceEvent::OrderCompleted {
            order: o.id,
            seller_amount,
            fee,
        });
        Ok(())
    }

    /// Ends a disputed order: `buyer_share` of its escrow to the buyer; of the rest, the deposit
    /// (what the buyer's share left of it) back to the seller, and the payment to the payout
    /// account less the 1 % fee to the pool — a settlement is a sale of what the seller keeps,
    /// so it is no way around the fee.
    fn settle(&mut self, o: &mut Order, buyer_share: Amount, ruled: bool) -> Result<(), ExecError> {
        let (seller_amount, fee) = self.split(o, buyer_share)?;
        self.close(o, OrderStatus::Settled)?;
        self.events.push(CommerceEvent::OrderSettled {
            order: o.id,
            buyer_amount: buyer_share,
            seller_amount,
            ruled,
            fee,
        });
        Ok(())
    }

    /// Pays out a disputed order's escrow: `buyer_share` to the buyer, the deposit left to the
    /// seller, the payment left less its fee to the payout account. Returns what the seller's
    /// side got and the fee.
    fn split(&mut self, o: &Order, buyer_share: Amount) -> Result<(Amount, Amount), ExecError> {
        let escrowed = o.escrowed()?;
        let Some(rest) = escrowed.checked_sub(buyer_share) else {
            return Err(fail(
                ORDER_SHARE_ABOVE_ESCROW,
                format!(
                    "the buyer's share {buyer_share} is more than the {escrowed} base units order {} holds in escrow",
                    o.id
                ),
            ));
        };
        // The buyer's share takes the payment first, then the deposit.
        let deposit_back = rest.min(o.deposit);
        let sale = rest - deposit_back; // deposit_back <= rest
        let fee = completion_fee(sale);
        let pool = self.block.params.incentive_pool;
        self.release(&o.buyer, buyer_share)?;
        self.release(&o.seller, deposit_back)?;
        self.release(&o.payout, sale - fee)?; // fee <= sale: 1 % rounded up of a whole number
        self.release(&pool, fee)?;
        // What the seller kept of the payment was a sale: the buyer may review it.
        self.record_purchase(o, sale);
        Ok((rest - fee, fee))
    }

    /// Writes the purchase record of order `o` for `amount` paid, if anything was paid.
    fn record_purchase(&mut self, o: &Order, amount: Amount) {
        if amount == 0 {
            return;
        }
        let record = PurchaseRecord {
            order: o.id,
            buyer: o.buyer,
            shop: o.shop.clone(),
            product: o.terms.product.clone(),
            amount,
            time_ms: self.now(),
            source: PurchaseSource::Order,
        };
        write(self.ov, purchase_key(&o.buyer, o.id), &record);
    }

    /// The dispute lapsed unsettled: the buyer's share is the one standing proposal, the
    /// midpoint of the two (rounded down), or, with none, the payment back to the buyer (and
    /// the deposit to the seller).
    fn lapse(&mut self, o: &mut Order) -> Result<Amount, ExecError> {
        let buyer_share = match (o.buyer_proposal, o.seller_proposal) {
            (Some(b), Some(s)) => b / 2 + s / 2 + (b % 2 + s % 2) / 2,
            (Some(one), None) | (None, Some(one)) => one,
            (None, None) => o.net_paid(),
        };
        self.split(o, buyer_share)?;
        self.close(o, OrderStatus::Settled)?;
        Ok(buyer_share)
    }

    /// A deadline fell due: ends the order if it is still in the deadline's state and the
    /// deadline is reached; otherwise nothing.
    fn due(&mut self, id: u64, deadline: Deadline) -> Result<(), ExecError> {
        let mut o = self.order(id)?;
        let state = match deadline {
            Deadline::Accept => OrderStatus::Placed,
            Deadline::Ship => OrderStatus::Accepted,
            Deadline::Confirm => OrderStatus::Shipped,
            Deadline::Dispute => OrderStatus::Disputed,
        };
        let reached = o.deadline_ms.is_some_and(|d| d <= self.now());
        if o.status != state || !reached {
            return Ok(());
        }
        // The entry that called us ran already: forget it rather than cancel it.
        o.trigger = None;
        match deadline {
            Deadline::Accept => {
                let buyer_amount = o.net_paid();
                self.release(&o.buyer, buyer_amount)?;
                self.restock(&o)?;
                self.close(&mut o, OrderStatus::Expired)?;
                self.events.push(CommerceEvent::OrderExpired {
                    order: id,
                    deadline,
                    buyer_amount,
                });
            }
            Deadline::Ship => {
                let share = bps_of(o.deposit, o.terms.no_ship_deposit_share_bps, false);
                let buyer_amount = o
                    .net_paid()
                    .checked_add(share)
                    .ok_or_else(|| overflow("refund plus deposit share"))?;
                let seller_back = o.deposit - share; // share <= deposit: bps <= 10,000
                self.release(&o.buyer, buyer_amount)?;
                self.release(&o.seller, seller_back)?;
                self.restock(&o)?;
                self.close(&mut o, OrderStatus::Expired)?;
                self.events.push(CommerceEvent::OrderExpired {
                    order: id,
                    deadline,
                    buyer_amount,
                });
            }
            Deadline::Confirm => self.complete(&mut o)?,
            Deadline::Dispute => {
                let buyer_amount = self.lapse(&mut o)?;
                self.events.push(CommerceEvent::OrderExpired {
                    order: id,
                    deadline,
                    buyer_amount,
                });
            }
        }
        Ok(())
    }
}
